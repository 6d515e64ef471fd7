//! `serin replay`: the engine over recorded or historical metrics, with simulated time.
//!
//! [`run`] drives the daemon's own planner ([`lifecycle::plan`](crate::lifecycle::plan)) over
//! an offline cluster that does at once whatever it is told: the run starts at `start` (its
//! first weight then, as in the daemon), is analysed at every interval boundary after it,
//! and its actions go into a [`Timeline`] instead of a cluster. An `on_action` hook lets the
//! simulations feed each action back into their simulated world (closed loop: a weight
//! change changes the canary's traffic).

pub mod output;
mod replayer;
pub mod report;

use std::time::SystemTime;

use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Serialize, Serializer};

use crate::engine::Analysis;
use crate::judge::{JudgeConfig, Judgement, TriggerStatus};
use crate::rollout::{Action, Phase, RolloutState};
use crate::source::MetricSource;
use crate::spec::RolloutSpec;

pub use replayer::Replayer;

/// How a replayed rollout ended (`outcome` in the replay JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Promoted,
    RolledBack,
    Paused,
    InProgress,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Paused => "paused",
            Outcome::InProgress => "in_progress",
        }
    }
}

/// One timeline entry (README, "Commands").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    #[serde(with = "crate::time::rfc3339")]
    pub at: SystemTime,
    /// `set_weight`, `flip`, `promote`, `rollback`, `pause`, `hold`, `analysis`, …
    pub action: String,
    /// Canary weight after this entry.
    pub weight: u8,
    pub detail: serde_json::Value,
}

/// The result of a replay: the replay JSON object (README, "Commands"), plus every judgement for reports.
///
/// `analysis` entries of the timeline carry their verdicts and evidence only when the
/// replay is serialised (from `judgements`, in order): building that JSON for every tick
/// would be most of the cost of a replay that nobody prints.
#[derive(Debug, Clone)]
pub struct Replay {
    /// When the run started (its first weight, as in the daemon).
    pub start: SystemTime,
    pub outcome: Outcome,
    pub decided_at: Option<SystemTime>,
    pub trigger: Option<String>,
    pub reason: String,
    pub timeline: Vec<Entry>,
    pub judgements: Vec<Judgement>,
}

impl Serialize for Replay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = serializer.serialize_struct("Replay", 5)?;
        object.serialize_field("outcome", &self.outcome)?;
        object.serialize_field("decided_at", &self.decided_at.map(crate::time::format_instant))?;
        object.serialize_field("trigger", &self.trigger)?;
        object.serialize_field("reason", &self.reason)?;
        object.serialize_field("timeline", &Timeline(self))?;
        object.end()
    }
}

/// The timeline with each `analysis` entry's detail filled from its judgement.
struct Timeline<'a>(&'a Replay);

impl Serialize for Timeline<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut judgements = self.0.judgements.iter();
        let mut seq = serializer.serialize_seq(Some(self.0.timeline.len()))?;
        for entry in &self.0.timeline {
            let judgement = if entry.action == "analysis" { judgements.next() } else { None };
            match judgement {
                Some(judgement) => {
                    seq.serialize_element(&Entry { detail: analysis_detail(judgement), ..entry.clone() })?
                }
                None => seq.serialize_element(entry)?,
            }
        }
        seq.end()
    }
}

/// Replays `analysis` over `source` from `start` to `end`.
pub async fn run<S: MetricSource>(
    source: &S,
    spec: &RolloutSpec,
    analysis: &Analysis,
    (start, end): (SystemTime, SystemTime),
    config: &JudgeConfig,
    mut on_action: impl FnMut(&Action),
) -> Replay {
    let mut replayer = Replayer::start(spec, analysis, config, start, &mut on_action);
    while let Some(at) = replayer.next_tick().filter(|at| *at <= end) {
        replayer.tick(source, at, &mut on_action).await;
    }
    replayer.finish()
}

fn summarise(state: RolloutState, timeline: Vec<Entry>, judgements: Vec<Judgement>) -> Replay {
    let start = state.started;
    let decisive = timeline.iter().find(|e| e.action == "promote" || e.action == "rollback");
    let (outcome, decided_at) = match decisive {
        Some(e) if e.action == "promote" => (Outcome::Promoted, Some(e.at)),
        Some(e) => (Outcome::RolledBack, Some(e.at)),
        None if state.phase == Phase::Paused => (Outcome::Paused, None),
        None => (Outcome::InProgress, None),
    };
    let trigger = match outcome {
        Outcome::RolledBack | Outcome::Paused => state.trigger.clone(),
        _ => None,
    };
    // The decision's own words carry its evidence; later bookkeeping does not.
    let decision_reason = decisive.and_then(|e| e.detail.get("reason")).and_then(|r| r.as_str()).map(str::to_string);
    let reason = decision_reason.unwrap_or_else(|| state.reason.clone());
    Replay { start, outcome, decided_at, trigger, reason, timeline, judgements }
}

fn action_entry(at: SystemTime, action: &Action, weight: u8) -> Entry {
    let mut detail = serde_json::to_value(action).unwrap_or_default();
    if let Some(map) = detail.as_object_mut() {
        map.remove("action");
    }
    Entry { at, action: action.name().to_string(), weight, detail }
}

/// An `analysis` entry's detail: every metric's verdict and evidence, and every trigger
/// not clear, with reasons.
fn analysis_detail(judgement: &Judgement) -> serde_json::Value {
    let metrics: Vec<serde_json::Value> = judgement
        .metrics
        .iter()
        .map(|m| serde_json::json!({"metric": m.metric, "verdict": m.verdict, "reason": m.reason, "evidence": m.evidence}))
        .collect();
    let triggers: Vec<serde_json::Value> = judgement
        .triggers
        .iter()
        .filter(|t| t.status != TriggerStatus::Clear)
        .map(|t| serde_json::json!({"trigger": t.trigger, "status": t.status, "reason": t.reason}))
        .collect();
    serde_json::json!({"metrics": metrics, "triggers": triggers})
}
