//! The simulated exporter (`support/traffic.rs`) scraped by a real Prometheus
//! (`support/prometheus.rs`, scraping mode): the shipped templates' own queries, rendered
//! by `serin::template` and sent through `serin::source::PrometheusSource`, see the traffic
//! split the weight sets, the profiles' error rates and the slow share's latency.
//! Needs `prometheus`: scripts/install-test-deps.sh.

#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/traffic.rs"]
mod traffic;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant, SystemTime};

use prometheus::TestPrometheus;
use serin::source::{MetricSource, PrometheusSource};
use serin::template::{Catalog, MetricKind, Template, render};
use traffic::{BUCKETS, Profile, TrafficConfig, TrafficExporter, weight_from};

const NS: &str = "prod";
const INGRESS: &str = "web";
const RATE: f64 = 200.0;
/// Bound on every wait for Prometheus to have scraped enough.
const WAIT: Duration = Duration::from_secs(20);
/// Counts over a window against rate × window: a busy machine delays ticks and scrapes by
/// some 100 ms, and increase() scales that error up to the whole window. (Shares compare
/// series of one scrape, so they need no such slack.)
const RATE_TOLERANCE: f64 = 0.2;

fn nginx_exporter(weight: &Arc<AtomicU8>, candidate: Profile) -> TrafficExporter {
    let config = TrafficConfig::nginx(NS, INGRESS, "web", "web-canary", 80);
    TrafficExporter::start(TrafficConfig { candidate, ..config.weight(weight_from(weight.clone())) })
}

/// Blue-green: `previous` (blue) is live until the weight says 100, then `green` is.
fn slo_exporter(weight: &Arc<AtomicU8>, candidate: Profile) -> TrafficExporter {
    let config = TrafficConfig::http_slo(NS, "sark", "version", "green", "blue");
    TrafficExporter::start(TrafficConfig { candidate, ..config.weight(weight_from(weight.clone())) })
}

/// `name`'s queries from the built-in catalog, rendered as the daemon would.
fn template(name: &str, vars: &[(&str, &str)]) -> Template {
    let vars: BTreeMap<String, String> = vars.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
    render(Catalog::builtin().get(name).unwrap(), &vars).unwrap()
}

/// One evaluation of a template: `(bad, total)` of canary and baseline, and `le` → increase.
struct Reading {
    canary: (f64, f64),
    baseline: (f64, f64),
    canary_buckets: BTreeMap<String, f64>,
    baseline_buckets: BTreeMap<String, f64>,
}

async fn read(source: &PrometheusSource, t: &Template, at: SystemTime) -> Reading {
    let (MetricKind::Ratio(ratio), MetricKind::Histogram(hist)) =
        (&t.metric("error-rate").unwrap().kind, &t.metric("latency").unwrap().kind)
    else {
        panic!("{} has no error-rate ratio and latency histogram", t.name)
    };
    let baseline = ratio.baseline.as_ref().unwrap();
    Reading {
        canary: (scalar(source, &ratio.canary.bad, at).await, scalar(source, &ratio.canary.total, at).await),
        baseline: (scalar(source, &baseline.bad, at).await, scalar(source, &baseline.total, at).await),
        canary_buckets: buckets(source, &hist.canary, at).await,
        baseline_buckets: buckets(source, hist.baseline.as_ref().unwrap(), at).await,
    }
}

/// The one value of a `sum(...)`: a missing series would make it an empty vector.
async fn scalar(source: &PrometheusSource, query: &str, at: SystemTime) -> f64 {
    let samples = source.query(query, at).await.unwrap();
    assert_eq!(samples.len(), 1, "{query}: {samples:?}");
    samples[0].value
}

/// `le` → increase; every bucket must be there.
async fn buckets(source: &PrometheusSource, query: &str, at: SystemTime) -> BTreeMap<String, f64> {
    let samples = source.query(query, at).await.unwrap();
    let by_le: BTreeMap<String, f64> = samples.iter().map(|s| (s.labels["le"].clone(), s.value)).collect();
    assert_eq!(by_le.len(), BUCKETS.len() + 1, "{query}: {samples:?}");
    by_le
}

/// Polls `query` (one value) until `done(value)`, at most [`WAIT`].
async fn wait_for(source: &PrometheusSource, query: &str, done: impl Fn(f64) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = source.query(query, SystemTime::now()).await.unwrap().first().map_or(f64::NAN, |s| s.value);
        if done(value) {
            return;
        }
        assert!(Instant::now() < deadline, "{query} still {value} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// How many scrapes of the nginx exporter Prometheus holds in the last `window`.
fn scrapes(window: &str) -> String {
    format!(r#"count_over_time(nginx_ingress_controller_requests{{canary="",status="200"}}[{window}])"#)
}

fn close(value: f64, expected: f64, tolerance: f64, what: &str) {
    assert!((value - expected).abs() <= tolerance, "{what}: {value}, expected {expected} ± {tolerance}");
}

#[tokio::test]
async fn every_series_is_exposed_at_zero_before_any_traffic() {
    let weight = Arc::new(AtomicU8::new(0));
    let exporter = TrafficExporter::start(TrafficConfig {
        rate_per_second: 0.0,
        ..TrafficConfig::nginx(NS, INGRESS, "web", "web-canary", 80).weight(weight_from(weight))
    });
    let text = reqwest::get(format!("http://{}/metrics", exporter.address())).await.unwrap().text().await.unwrap();
    let series: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    // 2 versions × 2 statuses × (1 counter + 12 buckets + sum + count).
    assert_eq!(series.len(), 2 * 2 * 15, "{text}");
    assert!(series.iter().all(|l| l.ends_with(" 0")), "{text}");
    for needle in [
        r#"nginx_ingress_controller_requests{canary="",controller_class="k8s.io/ingress-nginx","#,
        r#"canary="prod-web-canary-80","#,
        r#"ingress="web",method="GET",namespace="prod",path="/",service="web-canary",status="500"}"#,
        r#"ingress="web",method="GET",namespace="prod",path="/",service="web",status="200",le="+Inf"} 0"#,
        r#"status="500",le="2.5"} 0"#,
    ] {
        assert!(text.contains(needle), "no {needle} in\n{text}");
    }
    let missing = reqwest::get(format!("http://{}/other", exporter.address())).await.unwrap();
    assert_eq!(missing.status(), 404);
}

#[test]
fn counts_follow_the_weight_and_the_profiles_exactly() {
    let weight = Arc::new(AtomicU8::new(25));
    let exporter = nginx_exporter(&weight, Profile { error_rate: 0.08, ..Profile::slow() });
    let deadline = Instant::now() + WAIT;
    while exporter.totals().stable.requests + exporter.totals().candidate.requests < 300 {
        assert!(Instant::now() < deadline, "no traffic: {:?}", exporter.totals());
        std::thread::sleep(Duration::from_millis(50));
    }
    let totals = exporter.totals();
    let all = (totals.stable.requests + totals.candidate.requests) as f64;
    assert_eq!(totals.weight, 25);
    // Fractional accumulators: every count within one request of its ideal.
    close(totals.candidate.requests as f64, all * 0.25, 1.0, "candidate requests");
    close(totals.candidate.errors as f64, totals.candidate.requests as f64 * 0.08, 1.0, "candidate 5xx");
    close(totals.stable.errors as f64, totals.stable.requests as f64 * 0.005, 1.0, "stable 5xx");

    // Profiles change at runtime: from the next tick on, a candidate without errors adds
    // none and a stable that fails everything fails every request.
    exporter.set_candidate(Profile { error_rate: 0.0, ..Profile::healthy() });
    exporter.set_stable(Profile { error_rate: 1.0, ..Profile::healthy() });
    let before = exporter.totals();
    while exporter.totals().stable.requests < before.stable.requests + 100 {
        assert!(Instant::now() < deadline, "no traffic: {:?}", exporter.totals());
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = exporter.totals();
    assert_eq!(after.candidate.errors, before.candidate.errors, "{before:?} {after:?}");
    assert!(after.candidate.requests > before.candidate.requests, "{before:?} {after:?}");
    let new_stable = after.stable.requests - before.stable.requests;
    assert_eq!(after.stable.errors - before.stable.errors, new_stable, "{before:?} {after:?}");
}

#[tokio::test]
async fn prometheus_sees_the_split_the_weight_sets() {
    let canary_weight = Arc::new(AtomicU8::new(0));
    let nginx = nginx_exporter(&canary_weight, Profile { error_rate: 0.08, ..Profile::slow() });
    let green_share = Arc::new(AtomicU8::new(0));
    let slo = slo_exporter(&green_share, Profile::bad());
    let server = TestPrometheus::start_scraping(&[nginx.address(), slo.address()], Duration::from_secs(1));
    server.wait_until_targets_up(WAIT);
    let source = PrometheusSource::new(server.url()).unwrap();

    // Weight 0 (blue live): 5 scrapes, so a 3 s window lies after the first sample.
    wait_for(&source, &scrapes("1m"), |n| n >= 5.0).await;
    let before = SystemTime::now();
    let nginx_vars = [("namespace", NS), ("ingress", INGRESS), ("interval", "3s")];
    let r = read(&source, &template("nginx-canary", &nginx_vars), before).await;
    assert_eq!((r.canary, r.canary_buckets.values().sum::<f64>()), ((0.0, 0.0), 0.0), "canary before weight");
    close(r.baseline.1, RATE * 3.0, RATE * 3.0 * RATE_TOLERANCE, "stable requests in 3s at weight 0");
    let canaries =
        r#"count by (canary, service) (nginx_ingress_controller_requests{namespace="prod",ingress="web",canary!=""})"#;
    let labels = source.query(canaries, before).await.unwrap();
    assert_eq!(labels.len(), 1, "{labels:?}");
    assert_eq!(
        (labels[0].labels["canary"].as_str(), labels[0].labels["service"].as_str()),
        ("prod-web-canary-80", "web-canary")
    );
    assert_eq!(labels[0].value, 2.0, "a 200 and a 500 series");
    let slo_before = [("namespace", NS), ("candidate_slot", "green"), ("previous_slot", "blue"), ("interval", "3s")];
    let r = read(&source, &template("http-slo", &slo_before), before).await;
    assert_eq!(r.canary, (0.0, 0.0), "green before the flip");
    close(r.baseline.1, RATE * 3.0, RATE * 3.0 * RATE_TOLERANCE, "blue requests in 3s");

    // Weight 25, and green goes live. The window starts 1.5 s after the switch (a tick, the
    // scrape-to-read delay and one 1 s scrape interval: the shipped templates count from the
    // last scrape at or before the window's start), so it holds only traffic split the new
    // way.
    canary_weight.store(25, Ordering::SeqCst);
    green_share.store(100, Ordering::SeqCst);
    let switched = Instant::now();
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let deadline = Instant::now() + WAIT;
    let (at, interval, seconds) = loop {
        // The window first, then its end: its first scrape cannot reach back before
        // switch + 500 ms.
        let window = switched.elapsed().saturating_sub(Duration::from_millis(1500));
        let (at, interval) = (SystemTime::now(), format!("{}ms", window.as_millis()));
        let n = source.query(&scrapes(&interval), at).await.unwrap().first().map_or(0.0, |s| s.value);
        if n >= 4.0 {
            break (at, interval, window.as_millis() as f64 / 1000.0);
        }
        assert!(Instant::now() < deadline, "only {n} scrapes in {interval} after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let nginx_vars = [("namespace", NS), ("ingress", INGRESS), ("interval", &interval)];
    let r = read(&source, &template("nginx-canary", &nginx_vars), at).await;
    let (canary, stable) = (r.canary.1, r.baseline.1);
    // Same target, same scrape times: exact counts between the same two scrapes, so the
    // shares are exact up to one request per version.
    close(canary / (canary + stable), 0.25, 0.01, "canary share at weight 25");
    close(canary, RATE * 0.25 * seconds, RATE * 0.25 * seconds * RATE_TOLERANCE, "canary requests");
    close(r.canary.0 / canary, 0.08, 0.015, "canary 5xx rate");
    assert!(r.baseline.0 / stable < 0.015, "stable 5xx rate {} / {stable}", r.baseline.0);
    // The raw counters over the whole run (no extrapolation): within a request of 0.5%.
    let raw = |status: &str| format!(r#"sum(nginx_ingress_controller_requests{{canary="",status=~"{status}"}})"#);
    let (failed, all) = (scalar(&source, &raw("5.."), at).await, scalar(&source, &raw(".*"), at).await);
    close(failed / all, 0.005, 1.0 / all, "stable 5xx rate over the run");
    let (c, b) = (&r.canary_buckets, &r.baseline_buckets);
    close(c["+Inf"], canary, 1e-6 * canary, "histogram count vs requests");
    // ±2 slow requests of ~200 (largest-deficit assignment, window edges).
    close((c["+Inf"] - c["2.5"]) / c["+Inf"], 0.03, 0.015, "canary share above 2.5s");
    assert_eq!((c["5"], b["0.1"]), (c["+Inf"], b["+Inf"]), "4s is within 5s; stable is within 100ms");
    assert!(b["0.01"] == 0.0 && b["0.025"] > 0.0, "stable latency starts at 20ms: {b:?}");

    let slo_after =
        [("namespace", NS), ("candidate_slot", "green"), ("previous_slot", "blue"), ("interval", &interval)];
    for selector in [None, Some(r#"job="sark""#)] {
        let mut vars = slo_after.to_vec();
        vars.extend(selector.map(|s| ("selector", s)));
        let r = read(&source, &template("http-slo", &vars), at).await;
        assert_eq!(r.baseline.1, 0.0, "blue serves nothing after the flip ({selector:?})");
        close(r.canary.1, RATE * seconds, RATE * seconds * RATE_TOLERANCE, "green requests");
        close(r.canary.0 / r.canary.1, 0.08, 0.01, "green 5xx rate");
        close(r.canary_buckets["+Inf"], r.canary.1, 1e-6 * r.canary.1, "green histogram count");
        assert_eq!(r.canary_buckets["0.1"], r.canary_buckets["+Inf"], "green latency within 100ms");
    }
    let wrong_job = template("http-slo", &[slo_after.as_slice(), &[("selector", r#"job="other""#)]].concat());
    let MetricKind::Ratio(ratio) = &wrong_job.metric("error-rate").unwrap().kind else { unreachable!() };
    assert_eq!(source.query(&ratio.canary.total, at).await.unwrap(), vec![], "selector narrows by job");

    let totals = nginx.totals();
    assert_eq!(totals.weight, 25);
    assert!(totals.candidate.requests > 0 && slo.totals().candidate.requests > 0, "{totals:?}");
}
