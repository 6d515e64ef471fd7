//! Answering rendered queries without a PromQL engine.
//!
//! The simulation never parses PromQL: each rendered query of a template is mapped to
//! the role it plays (canary errors, baseline requests, canary buckets, ...) and the form it
//! counts in (`increase()` or the exact edge difference, `scrape.rs`), and the world answers
//! with what Prometheus would return: including the empty vectors of missing series, which
//! the judge must tell from zeros.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::source::Sample;
use crate::template::{MetricKind, Template};

use super::latency::{LE_BOUNDS, LE_LABELS};
use super::scrape::{Form, Quantity, Series};
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
    /// How the query turns counters into counts (read from its text).
    pub form: Form,
}

/// Maps every rendered query of the ratio and histogram metrics of `templates` to its
/// role. Value metrics have no simulated counterpart and are skipped. When two roles
/// share one query text the first keeps it (the simulation cannot tell them apart).
pub fn roles_of(templates: &[Template]) -> BTreeMap<String, QueryRole> {
    let mut roles = BTreeMap::new();
    let mut add = |query: &str, arm: Arm, measure: Measure| {
        roles.entry(query.to_string()).or_insert(QueryRole { arm, measure, form: Form::of_query(query) });
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

/// The 5xx series (`status="500"`) and the non-5xx one (`status="200"`).
const ERRORS: Series = Series::counter(Quantity::Errors);
const OK: Series = Series::counter(Quantity::Ok);

impl World {
    /// The instant vector the role's query returns at `at` over `window` (see
    /// [`super::scrape`] for how each form reads the scraped counters), generating the
    /// ticks up to `at` first.
    ///
    /// Empty, as Prometheus would be, when no series has a sample to answer with (a gap,
    /// or nothing scraped yet) and when the counted series does not exist yet: a version
    /// that never had a 5xx has no `status="500"` series, a canary that never had a request
    /// has no series at all. Once a series exists a quiet window gives an explicit 0.
    pub fn answer(&mut self, role: QueryRole, at: SystemTime, window: Duration) -> Vec<Sample> {
        self.advance_to(at);
        self.answer_generated(role, at, window)
    }

    /// [`World::answer`] from the ticks generated so far, without generating more: for a
    /// driver that owns the world's clock and lends it out read-only.
    pub fn answer_generated(&self, role: QueryRole, at: SystemTime, window: Duration) -> Vec<Sample> {
        let count = |series: Series| self.windowed(role.arm, series, role.form, at, window);
        match role.measure {
            Measure::Bad => count(ERRORS).map(unlabelled).into_iter().collect(),
            Measure::Total => {
                let (ok, errors) = (count(OK), count(ERRORS));
                if ok.is_none() && errors.is_none() {
                    return Vec::new();
                }
                vec![unlabelled(ok.unwrap_or(0.0) + errors.unwrap_or(0.0))]
            }
            Measure::Buckets if role.form == Form::Delta => {
                let buckets: Vec<Quantity> = (0..LE_BOUNDS.len()).map(Quantity::Bucket).collect();
                let Some(values) = self.windowed_histogram(role.arm, &buckets, at, window) else { return Vec::new() };
                LE_LABELS.iter().zip(values).map(|(le, value)| bucket(le, value)).collect()
            }
            Measure::Buckets => {
                let mut out = Vec::with_capacity(LE_BOUNDS.len());
                for (k, le) in LE_LABELS.iter().enumerate() {
                    let series = Series::histogram(Quantity::Bucket(k));
                    let Some(value) = count(series) else { return Vec::new() };
                    out.push(bucket(le, value));
                }
                out
            }
        }
    }
}

fn bucket(le: &str, value: f64) -> Sample {
    Sample { labels: BTreeMap::from([("le".to_string(), le.to_string())]), value }
}

fn unlabelled(value: f64) -> Sample {
    Sample { labels: BTreeMap::new(), value }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::world::tests::scenario;

    const MINUTE: Duration = Duration::from_secs(60);
    const BAD: QueryRole = QueryRole { arm: Arm::Canary, measure: Measure::Bad, form: Form::Delta };
    const TOTAL: QueryRole = QueryRole { arm: Arm::Canary, measure: Measure::Total, form: Form::Delta };
    const BUCKETS: QueryRole = QueryRole { arm: Arm::Canary, measure: Measure::Buckets, form: Form::Delta };

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
        let baseline = w.answer(QueryRole { arm: Arm::Baseline, measure: Measure::Bad, form: Form::Delta }, at, MINUTE);
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
        let baseline = QueryRole { arm: Arm::Baseline, measure: Measure::Total, form: Form::Delta };
        assert!(!w.answer(baseline, w.start() + 7 * MINUTE, MINUTE).is_empty());
        // Prometheus' 5-minute lookback still answers (with 0) just after the gap begins.
        for m in [14, 15, 24] {
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
        let hist =
            HistogramMetric { canary: "ch".into(), baseline: Some("bh".into()), max: vec![], le_per_second: 1.0 };
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
        assert_eq!(roles["bt"], QueryRole { arm: Arm::Baseline, measure: Measure::Total, form: Form::Delta });
        assert_eq!(roles["ch"], BUCKETS);
        assert!(!roles.contains_key("v"));
    }
}
