//! Where metrics come from: one trait, [`MetricSource`], with a live Prometheus
//! (`prometheus.rs`) and a recording file (`recording.rs`) behind it.
//!
//! A source only fetches: it returns what the query returned at an instant, and keeps
//! "nothing came back" (empty vector), NaN, and failures distinct. Judging is elsewhere.

pub mod budget;
pub mod prometheus;
pub mod record;
pub mod recording;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::SystemTime;

pub use prometheus::PrometheusSource;
pub use record::record;
pub use recording::{RangeSeries, Recording, RecordingError, RecordingSource};

/// One element of an instant vector. `value` may be NaN or ±Inf: callers decide.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Why a query gave no vector at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// The source could not be reached or answered with a server error.
    #[error("metric source unavailable: {0}")]
    Unavailable(String),
    /// The source rejected the query (PromQL syntax, bad label matcher, ...).
    #[error("query rejected: {0}")]
    BadQuery(String),
}

/// Evaluates PromQL at past or present instants.
pub trait MetricSource {
    /// The instant vector of `promql` evaluated at `at`. An empty vector is `Ok(vec![])`.
    fn query(&self, promql: &str, at: SystemTime) -> impl Future<Output = Result<Vec<Sample>, SourceError>> + Send;
}
