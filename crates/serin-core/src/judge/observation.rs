//! What one interval's queries returned, per metric and arm, before any judging.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// One arm's result for one metric over one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// Ratio metric: bad events and all events (increases; may be fractional).
    Counts { bad: f64, total: f64 },
    /// Histogram metric: cumulative bucket counts ascending by `le`, ending with `+Inf`.
    Buckets(Vec<Bucket>),
    /// Value metric.
    Value(f64),
    /// The query returned an empty vector (no series: no traffic, not scraped, wrong labels).
    NoData,
    /// The query returned NaN or ±Inf (e.g. 0/0 with no requests in the window).
    NotANumber,
    /// The query failed.
    Error(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound in seconds; `f64::INFINITY` for `+Inf`.
    #[serde(with = "le_format")]
    pub le: f64,
    pub count: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricObservation {
    pub canary: Reading,
    /// `None` when the metric has no baseline query.
    pub baseline: Option<Reading>,
}

/// All metrics of one interval ending at `at`, keyed by metric name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalObservation {
    #[serde(with = "crate::time::rfc3339")]
    pub at: SystemTime,
    pub metrics: BTreeMap<String, MetricObservation>,
}

/// `le` as Prometheus writes it (`"+Inf"`, `"0.5"`), so JSON never sees an infinity.
mod le_format {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(le: &f64, s: S) -> Result<S::Ok, S::Error> {
        if le.is_infinite() { s.serialize_str("+Inf") } else { s.serialize_str(&le.to_string()) }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        parse_le(&text).ok_or_else(|| serde::de::Error::custom(format!("bad le {text:?}")))
    }

    pub fn parse_le(text: &str) -> Option<f64> {
        match text {
            "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
            _ => text.parse().ok(),
        }
    }
}

/// Parses a Prometheus `le` label value.
pub fn parse_le(text: &str) -> Option<f64> {
    le_format::parse_le(text)
}
