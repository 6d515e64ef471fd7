//! Value metrics (Flagger's thresholdRange): one number per interval checked against
//! `min`/`max`. No sequential test: the query itself already aggregates.

use super::counts::Clean;
use super::evidence::{Evidence, MetricState, SeriesPoint};
use super::format;
use super::metric::{Readings, missing};
use super::{Context, MetricVerdict, Verdict};
use crate::template::{Metric, ValueMetric};

/// Whether `v` lies in `[min, max]` (bounds inclusive, absent bounds open).
pub fn in_range(v: f64, limits: &ValueMetric) -> bool {
    limits.min.is_none_or(|min| v >= min) && limits.max.is_none_or(|max| v <= max)
}

/// `[0.9, 1]`, `[—, 500]`.
pub fn range_text(limits: &ValueMetric) -> String {
    let b = |x: Option<f64>| x.map_or("—".to_string(), format::number);
    format!("[{}, {}]", b(limits.min), b(limits.max))
}

pub fn judge(
    metric: &Metric,
    limits: &ValueMetric,
    readings: &Readings,
    context: &Context,
) -> (MetricState, MetricVerdict) {
    let state = MetricState { metric: metric.name.clone(), step: context.step, channels: vec![] };
    let value = match readings.canary {
        Clean::Value(v) => Some(v),
        _ => None,
    };
    let (verdict, detail) = match (&readings.canary, value) {
        (Clean::Error(msg), _) => (Verdict::Error, format!("canary query failed: {msg}")),
        (_, Some(v)) if in_range(v, limits) => {
            (Verdict::Pass, format!("canary {} within {}", format::number(v), range_text(limits)))
        }
        (_, Some(v)) => (Verdict::Fail, format!("canary {} outside {}", format::number(v), range_text(limits))),
        (other, None) => (Verdict::Inconclusive, missing(other, metric)),
    };
    let evidence = Evidence {
        value,
        series: vec![SeriesPoint {
            name: metric.name.clone(),
            unit: "value".to_string(),
            canary: value,
            baseline: None,
            limit: limits.max.or(limits.min),
        }],
        ..Evidence::default()
    };
    let reason = format!("{}: {detail}", metric.name);
    let advance = verdict == Verdict::Pass;
    (state, MetricVerdict { metric: metric.name.clone(), verdict, reason, evidence, advance, forecast: None })
}
