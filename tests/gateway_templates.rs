//! The Gateway-era templates (`app-canary`, `istio-canary`, `kgateway-canary`) against a
//! real Prometheus backfilled with series in each implementation's exact metric names and
//! labels (cited in analysis-templates/README.md), through the daemon's own path: the
//! annotations parsed, the templates rendered and observed. Every reading must be the exact
//! count of the last interval, canary and baseline apart, and series of look-alike pods,
//! workloads, clusters or namespaces must not leak in.
//! Needs `prometheus` and `promtool`: scripts/install-test-deps.sh.

#[path = "support/prometheus.rs"]
mod prometheus;

use std::collections::BTreeMap;

use prometheus::TestPrometheus;
use serin::engine;
use serin::judge::{Bucket, Reading};
use serin::source::PrometheusSource;
use serin::target::Target;
use serin::template::Catalog;
use serin::time::from_unix_seconds;

const T0: u64 = 1_700_000_000;
const EVERY: u64 = 15;
const SAMPLES: u64 = 41; // 10 minutes

/// One counter series: labels, and how much it grows per sample.
struct Series {
    metric: &'static str,
    labels: String,
    per_sample: u64,
}

fn openmetrics(series: &[Series]) -> String {
    let mut families: BTreeMap<&str, Vec<&Series>> = BTreeMap::new();
    for s in series {
        families.entry(s.metric.strip_suffix("_bucket").unwrap_or(s.metric)).or_default().push(s);
    }
    let mut text = String::new();
    for (family, members) in families {
        let kind = if members[0].metric.ends_with("_bucket") { "histogram" } else { "counter" };
        let family = family.strip_suffix("_total").unwrap_or(family);
        text += &format!("# TYPE {family} {kind}\n");
        for s in members {
            for i in 0..SAMPLES {
                // Counters started before the window (the 11 is a count from before it).
                text += &format!("{}{{{}}} {} {}\n", s.metric, s.labels, 11 + s.per_sample * i, T0 + EVERY * i);
            }
        }
    }
    text + "# EOF\n"
}

/// Buckets (le label value, increase per sample), cumulative as Prometheus keeps them.
fn histogram(metric: &'static str, labels: &str, buckets: &[(&str, u64)]) -> Vec<Series> {
    buckets
        .iter()
        .map(|(le, per)| Series { metric, labels: format!("{labels},le=\"{le}\""), per_sample: *per })
        .collect()
}

fn counter(metric: &'static str, labels: &str, per_sample: u64) -> Series {
    Series { metric, labels: labels.to_string(), per_sample }
}

/// Observes the rollout of `sark-canary` (stable `sark`, HTTPRoute `sark`) in `production`
/// with one template, at the last sample, one-minute interval.
async fn observe(series: &[Series], template: &str, extra: &[(&str, &str)]) -> BTreeMap<String, (Reading, Reading)> {
    let server = TestPrometheus::start_with_openmetrics(&openmetrics(series));
    let mut annotations: BTreeMap<String, String> = [
        ("serin.io/strategy", "canary"),
        ("serin.io/route", "sark"),
        ("serin.io/analysis", template),
        ("serin.io/interval", "1m"),
    ]
    .iter()
    .chain(extra)
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    annotations.retain(|_, v| !v.is_empty());
    let spec = serin::spec::parse("sark-canary", &annotations).expect("valid annotations");
    let target = Target {
        namespace: "production".into(),
        name: "sark-canary".into(),
        annotations: annotations.clone(),
        pod_labels: BTreeMap::new(),
    };
    let analysis = engine::prepare(&spec, &Catalog::builtin(), &target).expect("the template renders");
    let source = PrometheusSource::new(server.url()).unwrap();
    let at = from_unix_seconds((T0 + EVERY * (SAMPLES - 1)) as f64);
    let observation = engine::observe(&source, &analysis, at).await;
    observation
        .metrics
        .into_iter()
        .map(|(name, m)| {
            let baseline = m.baseline.unwrap_or_else(|| panic!("{name} has a baseline"));
            (name, (m.canary, baseline))
        })
        .collect()
}

/// Per minute: four samples of `per_sample` each.
fn minute(per_sample: u64) -> f64 {
    (4 * per_sample) as f64
}

fn buckets(bounds: &[(f64, u64)]) -> Reading {
    Reading::Buckets(bounds.iter().map(|(le, per)| Bucket { le: *le, count: minute(*per) }).collect())
}

#[tokio::test]
async fn app_canary_tells_canary_from_stable_pods_by_name() {
    const REQ: &str = "http_requests_total";
    const DUR: &str = "http_request_duration_seconds_bucket";
    let pod = |ns: &str, pod: &str, status: &str| {
        format!("namespace=\"{ns}\",job=\"sark\",pod=\"{pod}\",status=\"{status}\"")
    };
    let pod_le = |ns: &str, pod: &str| format!("namespace=\"{ns}\",job=\"sark\",pod=\"{pod}\"");
    let bounds = |fast: u64, all: u64| [("0.1", fast), ("0.5", all - 1), ("2.5", all), ("+Inf", all)];
    let mut series = vec![
        counter(REQ, &pod("production", "sark-7d4b9c8f6-x2x9z", "200"), 20),
        counter(REQ, &pod("production", "sark-7d4b9c8f6-q8w7e", "200"), 20),
        counter(REQ, &pod("production", "sark-7d4b9c8f6-q8w7e", "500"), 1),
        counter(REQ, &pod("production", "sark-canary-5f6b7c8d9-abcde", "200"), 8),
        counter(REQ, &pod("production", "sark-canary-5f6b7c8d9-abcde", "503"), 2),
        // Not this rollout's: another namespace, and another Deployment sharing a prefix.
        counter(REQ, &pod("staging", "sark-canary-5f6b7c8d9-abcde", "500"), 50),
        counter(REQ, &pod("production", "sark-admin-6c7d8e9f0-zzzzz", "500"), 50),
    ];
    series.extend(histogram(DUR, &pod_le("production", "sark-7d4b9c8f6-x2x9z"), &bounds(30, 41)));
    series.extend(histogram(DUR, &pod_le("production", "sark-canary-5f6b7c8d9-abcde"), &bounds(4, 10)));
    series.extend(histogram(DUR, &pod_le("production", "sark-admin-6c7d8e9f0-zzzzz"), &bounds(1, 90)));
    let seen = observe(&series, "app-canary", &[]).await;
    assert_eq!(seen["error-rate"].0, Reading::Counts { bad: minute(2), total: minute(10) });
    assert_eq!(seen["error-rate"].1, Reading::Counts { bad: minute(1), total: minute(41) });
    assert_eq!(seen["latency"].0, buckets(&[(0.1, 4), (0.5, 9), (2.5, 10), (f64::INFINITY, 10)]));
    assert_eq!(seen["latency"].1, buckets(&[(0.1, 30), (0.5, 40), (2.5, 41), (f64::INFINITY, 41)]));
}

#[tokio::test]
async fn app_canary_reads_promhttp_code_labels() {
    let series = [
        counter(
            "http_requests_total",
            "namespace=\"production\",job=\"sark\",pod=\"sark-canary-5f6b7c8d9-abcde\",code=\"500\"",
            3,
        ),
        counter(
            "http_requests_total",
            "namespace=\"production\",job=\"sark\",pod=\"sark-canary-5f6b7c8d9-abcde\",code=\"200\"",
            7,
        ),
    ];
    let seen = observe(&series, "app-canary", &[("serin.io/arg.status_label", "code")]).await;
    assert_eq!(seen["error-rate"].0, Reading::Counts { bad: minute(3), total: minute(10) });
}

#[tokio::test]
async fn istio_canary_splits_by_destination_workload_in_milliseconds() {
    const REQ: &str = "istio_requests_total";
    const DUR: &str = "istio_request_duration_milliseconds_bucket";
    let labels = |reporter: &str, ns: &str, workload: &str| {
        format!(
            "reporter=\"{reporter}\",source_workload=\"istio-ingressgateway\",source_workload_namespace=\"istio-system\",\
             destination_workload=\"{workload}\",destination_workload_namespace=\"{ns}\",\
             destination_service=\"sark.{ns}.svc.cluster.local\",destination_service_name=\"sark\",request_protocol=\"http\""
        )
    };
    let code = |base: String, code: &str| format!("{base},response_code=\"{code}\",response_flags=\"-\"");
    let bounds = |fast: u64, all: u64| [("100", fast), ("500", all - 1), ("1000", all), ("+Inf", all)];
    let mut series = vec![
        counter(REQ, &code(labels("destination", "production", "sark"), "200"), 40),
        counter(REQ, &code(labels("destination", "production", "sark"), "503"), 1),
        counter(REQ, &code(labels("destination", "production", "sark-canary"), "200"), 6),
        counter(REQ, &code(labels("destination", "production", "sark-canary"), "500"), 4),
        // The client side reports the same requests again: counted once, as the destination saw them.
        counter(REQ, &code(labels("source", "production", "sark-canary"), "500"), 4),
        counter(REQ, &code(labels("destination", "staging", "sark-canary"), "500"), 9),
    ];
    series.extend(histogram(DUR, &labels("destination", "production", "sark"), &bounds(35, 41)));
    series.extend(histogram(DUR, &labels("destination", "production", "sark-canary"), &bounds(2, 10)));
    series.extend(histogram(DUR, &labels("source", "production", "sark-canary"), &bounds(0, 10)));
    let seen = observe(&series, "istio-canary", &[]).await;
    assert_eq!(seen["error-rate"].0, Reading::Counts { bad: minute(4), total: minute(10) });
    assert_eq!(seen["error-rate"].1, Reading::Counts { bad: minute(1), total: minute(41) });
    // le="500" (milliseconds) is judged as half a second.
    assert_eq!(seen["latency"].0, buckets(&[(0.1, 2), (0.5, 9), (1.0, 10), (f64::INFINITY, 10)]));
    assert_eq!(seen["latency"].1, buckets(&[(0.1, 35), (0.5, 40), (1.0, 41), (f64::INFINITY, 41)]));
}

#[tokio::test]
async fn kgateway_canary_reads_the_services_envoy_clusters() {
    const REQ: &str = "envoy_cluster_external_upstream_rq_xx";
    const DUR: &str = "envoy_cluster_external_upstream_rq_time_bucket";
    let cluster = |name: &str| format!("envoy_cluster_name=\"{name}\"");
    let class = |name: &str, c: &str| format!("{},envoy_response_code_class=\"{c}\"", cluster(name));
    let bounds = |fast: u64, all: u64| [("25", fast), ("500", all - 1), ("2500", all), ("+Inf", all)];
    let mut series = vec![
        counter(REQ, &class("kube_production_sark_8080", "2"), 40),
        counter(REQ, &class("kube_production_sark_8080", "5"), 1),
        counter(REQ, &class("kube_production_sark-canary_8080", "2"), 9),
        counter(REQ, &class("kube_production_sark-canary_8080", "4"), 1),
        counter(REQ, &class("kube_production_sark-canary_8080", "5"), 2),
        // The same Services on another port, and the same names in another namespace.
        counter(REQ, &class("kube_production_sark-canary_9090", "5"), 30),
        counter(REQ, &class("kube_staging_sark-canary_8080", "5"), 30),
    ];
    series.extend(histogram(DUR, &cluster("kube_production_sark_8080"), &bounds(20, 41)));
    series.extend(histogram(DUR, &cluster("kube_production_sark-canary_8080"), &bounds(3, 12)));
    let seen = observe(&series, "kgateway-canary", &[("serin.io/arg.port", "8080")]).await;
    assert_eq!(seen["error-rate"].0, Reading::Counts { bad: minute(2), total: minute(12) });
    assert_eq!(seen["error-rate"].1, Reading::Counts { bad: minute(1), total: minute(41) });
    assert_eq!(seen["latency"].0, buckets(&[(0.025, 3), (0.5, 11), (2.5, 12), (f64::INFINITY, 12)]));
    assert_eq!(seen["latency"].1, buckets(&[(0.025, 20), (0.5, 40), (2.5, 41), (f64::INFINITY, 41)]));
}
