//! `serin.io/status` stays under 32 KiB however long a run lasts: a day at a 1-minute
//! interval, held (paused, so the analysis and the triggers go on), with the shipped
//! template and one whose triggers have the longest windows serin keeps. Pure: the engine
//! is driven with synthetic observations, the record encoded as the daemon writes it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serin::engine::{self, Analysis};
use serin::judge::{Bucket, IntervalObservation, JudgeConfig, MetricObservation, Reading};
use serin::k8s::record::{Record, patch_body};
use serin::rollout::{Inputs, RolloutState};
use serin::target::Target;
use serin::template::{Catalog, MetricKind, schema};

const LIMIT: usize = 32 * 1024;

/// The shipped nginx-canary's shape (a ratio, a histogram with p95 and p99, five
/// triggers) with every trigger's window as long as serin keeps (12 h; a day is kept as 12 h).
const LONG_WINDOWS: &str = r#"
name: long-windows
metrics:
  - name: errors-long
    ratio:
      canary: {bad: 'sum(e{side="canary"})', total: 'sum(t{side="canary"})'}
      baseline: {bad: 'sum(e{side="base"})', total: 'sum(t{side="base"})'}
      max: 1%
  - name: latency-long
    histogram:
      canary: 'sum by (le) (b{side="canary"})'
      baseline: 'sum by (le) (b{side="base"})'
      max: {p95: 500ms, p99: 2s}
triggers:
  - {name: errors-12h, metric: errors-long, above: 5%, for: 12h, action: rollback}
  - {name: p99-12h, metric: latency-long, above: {p99: 2s}, for: 12h, action: rollback}
  - {name: outage-12h, metric: errors-long, outage: true, for: 12h, action: rollback}
  - {name: errors-24h, metric: errors-long, above: 1%, for: 24h, action: rollback-if-worse}
  - {name: p95-12h, metric: latency-long, above: {p95: 500ms}, for: 12h, action: rollback-if-worse}
"#;

/// Varying, fractional counts (what `increase()` gives), so no two intervals encode alike.
fn observation(analysis: &Analysis, at: SystemTime, i: u32) -> IntervalObservation {
    let wobble = f64::from(i % 17) * 1.37 + f64::from(i % 5) * 0.113;
    let counts = |scale: f64| Reading::Counts { bad: (1.0 + wobble) * scale, total: (1000.0 + 7.0 * wobble) * scale };
    let buckets = |scale: f64| {
        // Healthy: p99 well under every limit.
        let bounds = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, f64::INFINITY];
        let per_bucket = [900.0, 80.0, 15.0, 4.0, 0.8, 0.2, 0.01];
        let mut cumulative = 0.0;
        Reading::Buckets(
            bounds
                .iter()
                .zip(per_bucket)
                .map(|(le, n)| {
                    cumulative += (n + wobble / 10.0) * scale;
                    Bucket { le: *le, count: cumulative }
                })
                .collect(),
        )
    };
    let mut metrics = BTreeMap::new();
    for metric in analysis.templates.iter().flat_map(|t| &t.metrics) {
        let observation = match &metric.kind {
            MetricKind::Ratio(_) => MetricObservation { canary: counts(0.1), baseline: Some(counts(0.9)) },
            MetricKind::Histogram(_) => MetricObservation { canary: buckets(0.1), baseline: Some(buckets(0.9)) },
            MetricKind::Value(_) => unreachable!("no value metric"),
        };
        metrics.insert(metric.name.clone(), observation);
    }
    IntervalObservation { at, metrics }
}

#[test]
fn a_day_held_with_the_longest_trigger_windows_keeps_the_status_under_32_kib() {
    held_for_a_day("long-windows");
}

#[test]
fn a_day_held_with_the_shipped_template_keeps_the_status_under_32_kib() {
    held_for_a_day("nginx-canary");
}

fn held_for_a_day(template: &str) {
    let mut catalog = Catalog::builtin();
    catalog.insert(schema::parse(LONG_WINDOWS, "long-windows.yaml").unwrap());
    let annotations: BTreeMap<String, String> = [
        ("serin.io/strategy", "canary"),
        ("serin.io/analysis", template),
        ("serin.io/interval", "1m"),
        ("serin.io/paused", "true"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let spec = serin::spec::parse("sark-canary", &annotations).unwrap();
    let target = Target {
        namespace: "production".into(),
        name: "sark-canary".into(),
        annotations: annotations.clone(),
        pod_labels: BTreeMap::new(),
    };
    let analysis = engine::prepare(&spec, &catalog, &target).unwrap();
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut record = Record::new(RolloutState::new("rev-1", start));
    let config = JudgeConfig::default();
    let mut largest = 0;
    for i in 1..=24 * 60 {
        let at = start + Duration::from_secs(60 * u64::from(i));
        let decision = engine::decide(
            &record.state,
            &spec,
            &analysis,
            Some(&observation(&analysis, at, i)),
            &Inputs::offline(at),
            &config,
        );
        assert!(!decision.transition.next.phase.is_terminal(), "tick {i}: {}", decision.transition.next.reason);
        record.state = decision.transition.next;
        record.analysed_at = Some(at);
        let size =
            patch_body(&record, "123456")["metadata"]["annotations"]["serin.io/status"].as_str().map_or(0, str::len);
        largest = largest.max(size);
        assert!(size < LIMIT, "tick {i}: serin.io/status is {size} bytes");
    }
    eprintln!("{template}: largest serin.io/status over a day: {largest} bytes");
}
