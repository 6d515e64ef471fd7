//! `serin record`: turns a live Prometheus into a recording (README, "Commands") that replays the
//! same answers offline.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::recording::{RECORDING_VERSION, Recording};
use super::{PrometheusSource, SourceError};

/// One `query_range` per distinct query over `[start, end]` at `step`. The caller fills
/// in `deployment` (it knows which manifest the queries were rendered from).
///
/// Stops at the first failure: a recording with a query silently missing would make
/// replay answer "query not in recording" much later, far from the cause.
pub async fn record(
    source: &PrometheusSource,
    queries: &[String],
    start: SystemTime,
    end: SystemTime,
    step: Duration,
) -> Result<Recording, SourceError> {
    if start >= end {
        return Err(SourceError::BadQuery("recording start must be before its end".into()));
    }
    if step.is_zero() {
        return Err(SourceError::BadQuery("recording step must be greater than 0".into()));
    }
    let mut recorded = BTreeMap::new();
    for query in queries {
        if recorded.contains_key(query) {
            continue;
        }
        let series = source.query_range(query, start, end, step).await?;
        recorded.insert(query.clone(), series);
    }
    Ok(Recording {
        serin_recording: RECORDING_VERSION,
        start,
        end,
        step,
        queries: recorded,
        deployment: None,
        rollout_start: None,
    })
}
