//! Recordings (spec §3): the `query_range` answers of every rendered query over a time range.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{MetricSource, Sample, SourceError};

/// A recording file, as written by `serin record` and the simulations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub serin_recording: u32,
    #[serde(with = "crate::time::rfc3339")]
    pub start: SystemTime,
    #[serde(with = "crate::time::rfc3339")]
    pub end: SystemTime,
    #[serde(with = "crate::time::human_duration")]
    pub step: Duration,
    /// Rendered query → the `data.result` of a `query_range` answer.
    pub queries: BTreeMap<String, Vec<RangeSeries>>,
}

/// One series of a `query_range` matrix: `values` are `[unix_seconds, "value"]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RangeSeries {
    pub metric: BTreeMap<String, String>,
    pub values: Vec<(f64, String)>,
}

/// Answers instant queries from a recording.
#[derive(Debug, Clone)]
pub struct RecordingSource {
    recording: Recording,
}

impl RecordingSource {
    pub fn new(recording: Recording) -> RecordingSource {
        RecordingSource { recording }
    }

    pub fn recording(&self) -> &Recording {
        &self.recording
    }
}

impl MetricSource for RecordingSource {
    async fn query(&self, promql: &str, at: SystemTime) -> Result<Vec<Sample>, SourceError> {
        let _ = (promql, at);
        Err(SourceError::Unavailable("recording lookup not implemented yet".into()))
    }
}
