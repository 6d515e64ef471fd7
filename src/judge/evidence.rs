//! Evidence attached to verdicts, and the per-metric / per-trigger state carried between intervals.

use serde::{Deserialize, Serialize};

/// What was measured and tested for one metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {}

/// Sequential statistics of one metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricState {}

/// Window and timing state of one trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerState {}
