//! What the report plots, taken from a replay's judgements and timeline (pure): per metric
//! series with their counts, each test's e-value over time, the weight and the observed
//! canary share of requests, and where each trigger fired.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::judge::evidence::Events;
use crate::judge::{Judgement, TriggerStatus};
use crate::time::unix_seconds;

use super::super::Replay;

/// One instant of one plotted series, with the interval's counts behind a ratio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value {
    /// Minutes since the rollout started (hours once [`MetricTrace::rescale`]d).
    pub minute: f64,
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
    pub limit: Option<f64>,
    /// Ratio series: the canary's and baseline's (bad, total) this interval.
    pub canary_counts: Option<Events>,
    pub baseline_counts: Option<Events>,
}

/// One plotted series of a metric: `error-rate (ratio)`, `p95 (seconds)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub unit: String,
    pub points: Vec<Value>,
}

/// One sequential test over time.
#[derive(Debug, Clone, PartialEq)]
pub struct TestTrace {
    pub name: String,
    pub threshold: f64,
    /// (minute, e-value).
    pub points: Vec<(f64, f64)>,
    /// Toward rollback (`worse than baseline`, `worse than frozen baseline bound`) rather
    /// than toward pass.
    pub rollback: bool,
}

impl TestTrace {
    /// The largest e-value the test reached, and when.
    pub fn peak(&self) -> Option<(f64, f64)> {
        self.points.iter().copied().max_by(|a, b| a.1.total_cmp(&b.1))
    }

    pub fn last(&self) -> Option<f64> {
        self.points.last().map(|p| p.1)
    }
}

/// Everything the report shows about one metric.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricTrace {
    pub metric: String,
    pub series: Vec<Series>,
    pub tests: Vec<TestTrace>,
}

impl MetricTrace {
    /// Divides every time by `unit` (60: hours).
    pub fn rescale(&mut self, unit: f64) {
        self.series.iter_mut().flat_map(|s| s.points.iter_mut()).for_each(|p| p.minute /= unit);
        self.tests.iter_mut().flat_map(|t| t.points.iter_mut()).for_each(|p| p.0 /= unit);
    }
}

/// Where a trigger was first breached and where it fired (minutes).
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerMark {
    pub trigger: String,
    pub metric: String,
    pub breached: Option<f64>,
    pub fired: Option<f64>,
    pub reason: String,
}

/// Most points a plotted series keeps: a day of 1-minute analyses becomes 12-minute bins,
/// each a point with its interval, instead of 1,440 jagged ones.
pub const MAX_POINTS: usize = 120;

/// `points` merged into at most [`MAX_POINTS`] bins of consecutive analyses: counts are
/// summed (a ratio is recomputed from them), other values averaged; a bin sits at its last
/// analysis.
pub fn thin(points: &[Value]) -> Vec<Value> {
    let size = points.len().div_ceil(MAX_POINTS).max(1);
    if size == 1 {
        return points.to_vec();
    }
    points.chunks(size).map(merge).collect()
}

fn merge(bin: &[Value]) -> Value {
    let mean = |f: fn(&Value) -> Option<f64>| {
        let values: Vec<f64> = bin.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    };
    let sum = |f: fn(&Value) -> Option<Events>| {
        bin.iter().filter_map(f).reduce(|mut a, b| {
            a.add(&b);
            a
        })
    };
    let rate = |counts: Option<Events>| counts.filter(|c| c.total > 0.0).map(|c| c.bad_hi / c.total);
    let (canary_counts, baseline_counts) = (sum(|p| p.canary_counts), sum(|p| p.baseline_counts));
    Value {
        minute: bin.last().map(|p| p.minute).unwrap_or_default(),
        canary: rate(canary_counts).or_else(|| mean(|p| p.canary)),
        baseline: rate(baseline_counts).or_else(|| mean(|p| p.baseline)),
        limit: bin.iter().rev().find_map(|p| p.limit),
        canary_counts,
        baseline_counts,
    }
}

/// (minute, value) pairs averaged into at most [`MAX_POINTS`] bins.
pub fn thin_pairs(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let size = points.len().div_ceil(MAX_POINTS).max(1);
    points
        .chunks(size)
        .map(|bin| (bin[bin.len() - 1].0, bin.iter().map(|p| p.1).sum::<f64>() / bin.len() as f64))
        .collect()
}

/// Minutes from `start` to `at`.
pub fn minute(start: SystemTime, at: SystemTime) -> f64 {
    (unix_seconds(at) - unix_seconds(start)) / 60.0
}

/// The rollout's start, when the replay has anything to show.
pub fn start_of(replay: &Replay) -> Option<SystemTime> {
    (!replay.timeline.is_empty()).then_some(replay.start)
}

/// Per metric, in the order the judge reported them.
pub fn metrics(replay: &Replay, start: SystemTime) -> Vec<MetricTrace> {
    let mut out: Vec<MetricTrace> = Vec::new();
    for judgement in &replay.judgements {
        let t = minute(start, judgement.at);
        for m in &judgement.metrics {
            let index = match out.iter().position(|x| x.metric == m.metric) {
                Some(i) => i,
                None => {
                    out.push(MetricTrace { metric: m.metric.clone(), ..MetricTrace::default() });
                    out.len() - 1
                }
            };
            let trace = &mut out[index];
            for p in &m.evidence.series {
                let channel = m.evidence.channels.iter().find(|c| c.name == p.name && p.unit == "ratio");
                let value = Value {
                    minute: t,
                    canary: p.canary.filter(|v| v.is_finite()),
                    baseline: p.baseline.filter(|v| v.is_finite()),
                    limit: p.limit.filter(|v| v.is_finite()),
                    canary_counts: channel.and_then(|c| c.canary.interval),
                    baseline_counts: channel.and_then(|c| c.baseline.as_ref()?.interval),
                };
                match trace.series.iter_mut().find(|s| s.name == p.name && s.unit == p.unit) {
                    Some(s) => s.points.push(value),
                    None => {
                        trace.series.push(Series { name: p.name.clone(), unit: p.unit.clone(), points: vec![value] })
                    }
                }
            }
            for test in &m.evidence.tests {
                let e = test.e_value.max(f64::MIN_POSITIVE);
                match trace.tests.iter_mut().find(|x| x.name == test.name) {
                    Some(x) => x.points.push((t, e)),
                    None => trace.tests.push(TestTrace {
                        name: test.name.clone(),
                        threshold: test.threshold,
                        points: vec![(t, e)],
                        rollback: test.name.contains("worse than") && !test.name.contains("not worse"),
                    }),
                }
            }
        }
    }
    for series in out.iter_mut().flat_map(|m| m.series.iter_mut()) {
        series.points = thin(&series.points);
    }
    out
}

/// The weight set at each entry, as steps: (minute, weight), starting at 0%.
pub fn weights(replay: &Replay, start: SystemTime) -> Vec<(f64, f64)> {
    let mut out = vec![(0.0, 0.0)];
    for e in &replay.timeline {
        let t = minute(start, e.at);
        let last = out.last().map(|p| p.1).unwrap_or(0.0);
        if f64::from(e.weight) != last {
            out.push((t, last));
            out.push((t, f64::from(e.weight)));
        }
    }
    if let Some(end) = replay.timeline.last() {
        let last = out.last().map(|p| p.1).unwrap_or(0.0);
        out.push((minute(start, end.at), last));
    }
    out
}

/// The canary's observed share of requests at each analysis, in percent (from the first
/// metric with counts for both arms).
pub fn canary_share(replay: &Replay, start: SystemTime) -> Vec<(f64, f64)> {
    let all: Vec<(f64, f64)> =
        replay.judgements.iter().filter_map(|j| Some((minute(start, j.at), share(j)?))).collect();
    thin_pairs(&all)
}

fn share(judgement: &Judgement) -> Option<f64> {
    let (canary, baseline) = requests(judgement)?;
    (canary + baseline > 0.0).then(|| 100.0 * canary / (canary + baseline))
}

/// Canary and baseline requests of the interval judged (the first channel with both).
pub fn requests(judgement: &Judgement) -> Option<(f64, f64)> {
    judgement.metrics.iter().flat_map(|m| &m.evidence.channels).find_map(|c| {
        let baseline = c.baseline.as_ref().and_then(|b| b.interval).map(|e| e.total).unwrap_or(0.0);
        Some((c.canary.interval.map(|e| e.total).unwrap_or(0.0), baseline)).filter(|_| c.baseline.is_some())
    })
}

/// Each trigger that was ever breached or fired.
pub fn triggers(replay: &Replay, start: SystemTime) -> Vec<TriggerMark> {
    let mut out: BTreeMap<String, TriggerMark> = BTreeMap::new();
    for j in &replay.judgements {
        for t in j.triggers.iter().filter(|t| t.status != TriggerStatus::Clear) {
            let mark = out.entry(t.trigger.clone()).or_insert_with(|| TriggerMark {
                trigger: t.trigger.clone(),
                metric: t.metric.clone(),
                breached: None,
                fired: None,
                reason: t.reason.clone(),
            });
            let at = minute(start, j.at);
            mark.breached.get_or_insert(at);
            if t.status == TriggerStatus::Fired && mark.fired.is_none() {
                mark.fired = Some(at);
                mark.reason = t.reason.clone();
            }
        }
    }
    out.into_values().collect()
}

/// A 95% Wilson interval of `bad / total`, or `None` without requests.
pub fn wilson(counts: Events) -> Option<(f64, f64)> {
    let n = counts.total;
    if n.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return None;
    }
    let (p, z) = ((counts.bad_hi / n).clamp(0.0, 1.0), 1.96_f64);
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    Some(((centre - half).max(0.0), (centre + half).min(1.0)))
}
