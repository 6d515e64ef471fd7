//! Answering rendered queries without a PromQL engine.
//!
//! The simulation never parses PromQL: each rendered query of a template is mapped to
//! the role it plays (canary errors, baseline requests, canary buckets, ...) and the world
//! answers the role with what Prometheus would return for an `increase(...[window])`:
//! including the empty vectors of missing series, which the judge must tell from zeros.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::source::Sample;
use crate::template::{MetricKind, Template};

use super::latency::{LE_BOUNDS, LE_LABELS};
use super::world::{Arm, World};

/// What a query counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measure {
    /// Ratio `bad`: 5xx answers.
    Bad,
    /// Ratio `total`: all requests.
    Total,
    /// Histogram: `sum by (le)` bucket counts.
    Buckets,
}

/// The meaning of one rendered query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueryRole {
    pub arm: Arm,
    pub measure: Measure,
}

/// Maps every rendered query of the ratio and histogram metrics of `templates` to its
/// role. Value metrics have no simulated counterpart and are skipped. When two roles
/// share one query text the first keeps it (the simulation cannot tell them apart).
pub fn roles_of(templates: &[Template]) -> BTreeMap<String, QueryRole> {
    let mut roles = BTreeMap::new();
    let mut add = |query: &str, arm: Arm, measure: Measure| {
        roles.entry(query.to_string()).or_insert(QueryRole { arm, measure });
    };
    for template in templates {
        for metric in &template.metrics {
            match &metric.kind {
                MetricKind::Ratio(r) => {
                    add(&r.canary.bad, Arm::Canary, Measure::Bad);
                    add(&r.canary.total, Arm::Canary, Measure::Total);
                    if let Some(b) = &r.baseline {
                        add(&b.bad, Arm::Baseline, Measure::Bad);
                        add(&b.total, Arm::Baseline, Measure::Total);
                    }
                }
                MetricKind::Histogram(h) => {
                    add(&h.canary, Arm::Canary, Measure::Buckets);
                    if let Some(b) = &h.baseline {
                        add(b, Arm::Baseline, Measure::Buckets);
                    }
                }
                MetricKind::Value(_) => {}
            }
        }
    }
    roles
}

impl World {
    /// The instant vector of `increase(<role's counter>[window])` at `at`: the sum of the
    /// ticks ending in `(at − window, at]` (generating them first if needed).
    ///
    /// Empty, as Prometheus would be, when every tick in the window is a gap (or there is
    /// none), and when the counted series does not exist yet: a version that never had a
    /// 5xx has no `status="5xx"` series, a canary that never had a request has no series
    /// at all. Once a series exists a quiet window gives an explicit 0. Gap ticks inside a
    /// partly covered window are left out: their samples are missing (Prometheus would
    /// extrapolate from the samples it has, so answers right at a gap's edges differ a little).
    pub fn answer(&mut self, role: QueryRole, at: SystemTime, window: Duration) -> Vec<Sample> {
        self.advance_to(at);
        self.answer_generated(role, at, window)
    }

    /// [`World::answer`] from the ticks generated so far, without generating more: for a
    /// driver that owns the world's clock and lends it out read-only.
    pub fn answer_generated(&self, role: QueryRole, at: SystemTime, window: Duration) -> Vec<Sample> {
        let from = at.checked_sub(window).unwrap_or(std::time::UNIX_EPOCH);
        let ticks = self.ticks();
        // Ticks are in time order: the window is a contiguous slice.
        let lo = ticks.partition_point(|t| t.end <= from);
        let hi = ticks.partition_point(|t| t.end <= at);
        let window_ticks = ticks.get(lo..hi).unwrap_or(&[]);
        if window_ticks.iter().all(|t| t.gap) {
            return Vec::new();
        }
        let seen = window_ticks.iter().filter(|t| !t.gap).map(|t| t.arm(role.arm));
        let so_far = ticks.get(..hi).unwrap_or(&[]).iter().map(|t| t.arm(role.arm));
        match role.measure {
            Measure::Bad | Measure::Total => {
                let count = |v: &super::world::VersionTick| match role.measure {
                    Measure::Bad => v.errors,
                    _ => v.requests,
                };
                let value: u64 = seen.map(count).sum();
                if value == 0 && so_far.map(count).sum::<u64>() == 0 {
                    return Vec::new();
                }
                vec![Sample { labels: BTreeMap::new(), value: value as f64 }]
            }
            Measure::Buckets => {
                if so_far.map(|v| v.requests).sum::<u64>() == 0 {
                    return Vec::new();
                }
                let mut sums = vec![0.0; LE_BOUNDS.len()];
                for v in seen {
                    for (s, b) in sums.iter_mut().zip(&v.buckets) {
                        *s += b;
                    }
                }
                LE_LABELS
                    .iter()
                    .zip(sums)
                    .map(|(le, value)| Sample { labels: BTreeMap::from([("le".to_string(), le.to_string())]), value })
                    .collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::world::tests::scenario;

    const MINUTE: Duration = Duration::from_secs(60);
    const BAD: QueryRole = QueryRole { arm: Arm::Canary, measure: Measure::Bad };
    const TOTAL: QueryRole = QueryRole { arm: Arm::Canary, measure: Measure::Total };
    const BUCKETS: QueryRole = QueryRole { arm: Arm::Canary, measure: Measure::Buckets };

    #[test]
    fn a_minute_window_sums_four_ticks() {
        let mut w = World::new(&scenario(""), None);
        w.set_weight(50);
        let at = w.start() + 10 * MINUTE;
        let total = w.answer(TOTAL, at, MINUTE);
        let ticks = w.ticks()[36..40].to_vec();
        assert_eq!(w.ticks()[39].end, at);
        let want: u64 = ticks.iter().map(|t| t.canary.requests).sum();
        assert_eq!(total, vec![Sample { labels: BTreeMap::new(), value: want as f64 }]);
        let baseline = w.answer(QueryRole { arm: Arm::Baseline, measure: Measure::Bad }, at, MINUTE);
        let want: u64 = ticks.iter().map(|t| t.baseline.errors).sum();
        if want > 0 {
            assert_eq!(baseline[0].value, want as f64);
        }
        let buckets = w.answer(BUCKETS, at, MINUTE);
        assert_eq!(buckets.len(), 12);
        assert_eq!(buckets[11].labels["le"], "+Inf");
        assert_eq!(buckets[11].value, total[0].value);
        assert!(buckets.windows(2).all(|p| p[0].value <= p[1].value));
    }

    #[test]
    fn missing_series_are_empty_and_existing_ones_zero() {
        let mut w = World::new(&scenario(""), None);
        let at = w.start() + 5 * MINUTE;
        // Weight 0 since the start: no canary series at all.
        assert!(w.answer(TOTAL, at, MINUTE).is_empty());
        assert!(w.answer(BAD, at, MINUTE).is_empty());
        assert!(w.answer(BUCKETS, at, MINUTE).is_empty());
        w.set_weight(100);
        let at = at + 10 * MINUTE;
        assert!(w.answer(TOTAL, at, MINUTE)[0].value > 0.0);
        // Back to 0: the series exists, the increase is an explicit 0.
        w.set_weight(0);
        let at = at + 5 * MINUTE;
        assert_eq!(w.answer(TOTAL, at, MINUTE)[0].value, 0.0);
        assert_eq!(w.answer(BAD, at, MINUTE)[0].value, 0.0);
        assert!(w.answer(BUCKETS, at, MINUTE).iter().all(|s| s.value == 0.0));
        // Before the start there is nothing.
        assert!(w.answer(TOTAL, w.start(), MINUTE).is_empty());
    }

    #[test]
    fn gaps_give_empty_answers() {
        let mut w = World::new(&scenario("gaps: [{from: 8m, to: 25m}]\n"), None);
        w.set_weight(10);
        let baseline = QueryRole { arm: Arm::Baseline, measure: Measure::Total };
        assert!(!w.answer(baseline, w.start() + 7 * MINUTE, MINUTE).is_empty());
        for m in [10, 15, 24] {
            let at = w.start() + m * MINUTE;
            for role in [TOTAL, BAD, BUCKETS, baseline] {
                assert!(w.answer(role, at, MINUTE).is_empty(), "{role:?} at {m}m");
            }
        }
        assert!(!w.answer(baseline, w.start() + 26 * MINUTE, MINUTE).is_empty());
    }

    #[test]
    fn roles_cover_ratio_and_histogram_queries_only() {
        use crate::template::{HistogramMetric, Metric, RatioMetric, RatioQueries, ValueMetric};
        let metric = |name: &str, kind| Metric { name: name.into(), kind, min_requests: 0 };
        let ratio = RatioMetric {
            canary: RatioQueries { bad: "cb".into(), total: "ct".into() },
            baseline: Some(RatioQueries { bad: "bb".into(), total: "bt".into() }),
            max: 0.01,
        };
        let hist = HistogramMetric { canary: "ch".into(), baseline: Some("bh".into()), max: vec![] };
        let value = ValueMetric { query: "v".into(), min: None, max: None };
        let t = Template {
            name: "t".into(),
            description: String::new(),
            args: vec![],
            metrics: vec![
                metric("errors", MetricKind::Ratio(ratio)),
                metric("latency", MetricKind::Histogram(hist)),
                metric("value", MetricKind::Value(value)),
            ],
            triggers: vec![],
        };
        let roles = roles_of(&[t]);
        assert_eq!(roles.len(), 6);
        assert_eq!(roles["cb"], BAD);
        assert_eq!(roles["bt"], QueryRole { arm: Arm::Baseline, measure: Measure::Total });
        assert_eq!(roles["ch"], BUCKETS);
        assert!(!roles.contains_key("v"));
    }
}
