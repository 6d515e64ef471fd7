//! The state persisted on the candidate (`serin.io/phase`, `serin.io/weight`, `serin.io/status`):
//! everything needed to resume after a restart, and to explain the last decision.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::judge::{JudgeState, MetricVerdict};

/// `serin.io/phase` (README, "Annotations").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    Pending,
    Progressing,
    Paused,
    Promoting,
    Succeeded,
    RolledBack,
    Invalid,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::RolledBack | Phase::Invalid)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Progressing => "Progressing",
            Phase::Paused => "Paused",
            Phase::Promoting => "Promoting",
            Phase::Succeeded => "Succeeded",
            Phase::RolledBack => "RolledBack",
            Phase::Invalid => "Invalid",
        }
    }
}

/// Blue-green progress within the `Progressing` phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlueGreenStage {
    /// Waiting for the candidate to be Available.
    WaitingReady,
    /// Smoke checks requested; waiting for their result.
    Smoke,
    /// Live on the candidate; analysing for `observe`.
    Observing,
    /// Succeeded; the previous slot keeps its replicas until `keep-previous` ends.
    KeepingPrevious,
}

/// The rollout's persisted state (`serin.io/status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolloutState {
    pub phase: Phase,
    /// Hash of the candidate's pod spec this run is about.
    pub revision: String,
    /// Canary weight currently set, in percent (0 = no canary traffic).
    pub weight: u8,
    /// Canary: index of the current step in `steps`, or `None` before the first.
    pub step: Option<usize>,
    /// Blue-green stage (`None` for canary).
    pub stage: Option<BlueGreenStage>,
    #[serde(with = "crate::time::rfc3339")]
    pub started: SystemTime,
    /// When the current step (or blue-green stage) began.
    #[serde(with = "crate::time::rfc3339")]
    pub step_started: SystemTime,
    #[serde(with = "crate::time::rfc3339")]
    pub updated: SystemTime,
    /// Increments on every traffic change; the judge restarts per-step evidence then.
    pub traffic_epoch: u32,
    pub judge: JudgeState,
    /// Consecutive analysis ticks with a query error.
    pub consecutive_errors: u32,
    /// Last verdict of each metric, for status and explanations.
    #[serde(default)]
    pub last_verdicts: Vec<MetricVerdict>,
    /// Why the rollout is where it is (the last decision, in words).
    pub reason: String,
    /// The trigger behind a rollback or pause.
    pub trigger: Option<String>,
    #[serde(with = "crate::time::rfc3339_option", default)]
    pub decided_at: Option<SystemTime>,
    /// Why progress is held (step-max reached, outside a window), so a hold is reported once.
    #[serde(default)]
    pub holding: Option<String>,
    /// Since when the candidate has had no ready pods during the run (`outage` once that
    /// lasts progress-deadline).
    #[serde(with = "crate::time::rfc3339_option", default, skip_serializing_if = "Option::is_none")]
    pub unready_since: Option<SystemTime>,
}

impl RolloutState {
    /// A fresh run of `revision` starting at `now`.
    pub fn new(revision: &str, now: SystemTime) -> RolloutState {
        RolloutState {
            phase: Phase::Pending,
            revision: revision.to_string(),
            weight: 0,
            step: None,
            stage: None,
            started: now,
            step_started: now,
            updated: now,
            traffic_epoch: 0,
            judge: JudgeState::default(),
            consecutive_errors: 0,
            last_verdicts: Vec::new(),
            reason: "waiting for the candidate to be ready".into(),
            trigger: None,
            decided_at: None,
            holding: None,
            unready_since: None,
        }
    }
}
