//! Analysis templates (`analysis-templates/README.md`): named metrics (PromQL with `{{var}}` placeholders),
//! the limits a canary must meet to advance, and rollback triggers.
//!
//! The YAML schema lives in `schema.rs` and is documented in `analysis-templates/README.md`;
//! it is parsed and validated into the domain types below, which the judge consumes.
//! [`render`] fills the placeholders and returns the same types with final PromQL.

pub mod catalog;
pub mod quote;
pub mod render;
pub mod schema;
pub mod selectors;
pub mod validate;

use std::time::Duration;

pub use catalog::{Catalog, TemplateError};
pub use render::{RenderError, referenced_variables, render, required_variables};

/// A validated analysis template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: String,
    pub description: String,
    /// Declared arguments, with optional defaults (`serin.io/arg.<name>` overrides).
    pub args: Vec<ArgDef>,
    pub metrics: Vec<Metric>,
    pub triggers: Vec<Trigger>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ArgDef {
    pub name: String,
    pub default: Option<String>,
    pub description: String,
    /// The value is PromQL, pasted as written (`raw: true`); otherwise it is data, see
    /// [`quote`].
    pub raw: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub name: String,
    pub kind: MetricKind,
    /// Canary requests the current step must have seen before this metric can pass.
    pub min_requests: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetricKind {
    Ratio(RatioMetric),
    Histogram(HistogramMetric),
    Value(ValueMetric),
}

/// `bad / total` counts over the interval (e.g. 5xx / all requests).
#[derive(Debug, Clone, PartialEq)]
pub struct RatioMetric {
    pub canary: RatioQueries,
    /// Absent: no canary-vs-baseline comparison for this metric.
    pub baseline: Option<RatioQueries>,
    /// The canary passes when its bad fraction is confidently at most this (0..1).
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RatioQueries {
    pub bad: String,
    pub total: String,
}

/// `sum by (le)` of bucket-count increases over the interval.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramMetric {
    pub canary: String,
    pub baseline: Option<String>,
    /// e.g. `p95 <= 0.5 s`: confidently met for the canary to pass.
    pub max: Vec<QuantileLimit>,
    /// Units of the buckets' `le` per second (`le-unit`): 1, or 1000 for histograms in
    /// milliseconds (Istio's `istio_request_duration_milliseconds`).
    pub le_per_second: f64,
}

/// `p<quantile> <= seconds`; equivalently at most `1 - quantile` of requests slower than `seconds`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantileLimit {
    /// 0..1, e.g. 0.95.
    pub quantile: f64,
    pub seconds: f64,
}

impl QuantileLimit {
    /// `p95`, `p99.9`.
    pub fn label(&self) -> String {
        let pct = self.quantile * 100.0;
        if (pct - pct.round()).abs() < 1e-9 { format!("p{}", pct.round() as i64) } else { format!("p{pct}") }
    }
}

/// One instant value, checked each interval against `min`/`max` (Flagger's thresholdRange).
#[derive(Debug, Clone, PartialEq)]
pub struct ValueMetric {
    pub query: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub name: String,
    /// Name of a metric of the same template.
    pub metric: String,
    pub condition: Condition,
    /// How long the condition must hold (the evidence window); zero = at once.
    pub for_duration: Duration,
    pub action: TriggerAction,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Ratio metric: canary bad fraction above this (0..1).
    RateAbove(f64),
    /// Histogram metric: canary quantile above the limit.
    QuantileAbove(QuantileLimit),
    /// Ratio metric: the canary serves nothing but errors.
    Outage,
    /// Value metric: outside its `min`/`max`.
    ValueOutOfRange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerAction {
    Rollback,
    /// Roll back if the canary is significantly worse than the baseline, else pause.
    RollbackIfWorse,
    Pause,
}

impl TriggerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerAction::Rollback => "rollback",
            TriggerAction::RollbackIfWorse => "rollback-if-worse",
            TriggerAction::Pause => "pause",
        }
    }
}

impl Template {
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }

    /// Every PromQL string of the template, in a stable order (what `serin record` fetches).
    pub fn queries(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for m in &self.metrics {
            match &m.kind {
                MetricKind::Ratio(r) => {
                    out.extend([r.canary.bad.as_str(), r.canary.total.as_str()]);
                    if let Some(b) = &r.baseline {
                        out.extend([b.bad.as_str(), b.total.as_str()]);
                    }
                }
                MetricKind::Histogram(h) => {
                    out.push(h.canary.as_str());
                    out.extend(h.baseline.as_deref());
                }
                MetricKind::Value(v) => out.push(v.query.as_str()),
            }
        }
        out
    }
}
