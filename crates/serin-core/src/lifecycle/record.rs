//! What serin keeps on the candidate Deployment between reconciles: `serin.io/phase`,
//! `serin.io/weight` and `serin.io/status` (README, "Annotations").
//!
//! The status JSON is the rollout's [`RolloutState`] (revision, step, times, last verdicts
//! with evidence, the judge's trigger counters, reason) plus what the daemon needs to resume
//! after a restart: the last analysis tick, work decided but not yet confirmed done, and
//! what to restore later (replicas, the previous blue-green slot). Reading and encoding are
//! pure; [`patch_body`] is what the reconciler sends.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::rollout::{Action, Phase, RolloutState};

use crate::spec::PREFIX;

fn serin_key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// One item of work the daemon does to the cluster. Every item is idempotent: the daemon
/// may die after doing it and before recording that it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "work", rename_all = "snake_case")]
pub enum Work {
    /// An action of the state machine.
    Act(Action),
    /// Bring a scaled-down candidate back before a new run (no traffic until it is ready).
    ScaleCandidate { replicas: i32 },
    /// Canary run over: weight 0, delete the canary Ingress, scale the candidate to 0.
    RemoveCanary,
}

impl Work {
    /// The state machine's action, when the work is one.
    pub fn action(&self) -> Option<&Action> {
        match self {
            Work::Act(action) => Some(action),
            _ => None,
        }
    }
}

/// Result of the blue-green smoke checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmokeResult {
    pub passed: bool,
    pub detail: String,
}

/// The HTTPRoute a canary run splits, and the canary Service its backendRef names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteRef {
    pub name: String,
    pub canary_service: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(flatten)]
    pub state: RolloutState,
    /// The last analysis tick; the next is one interval later.
    #[serde(with = "crate::time::rfc3339_option", default)]
    pub analysed_at: Option<SystemTime>,
    /// Work decided and recorded but not yet confirmed done (write-ahead).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Work>,
    /// The candidate's replicas before serin scaled it to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas_before: Option<i32>,
    /// Canary: the canary Ingress serin manages (to remove it even without a spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_ingress: Option<String>,
    /// Canary by `serin.io/route`: the HTTPRoute and the canary Service serin's backendRef
    /// names (to take them out of the route even without a spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_route: Option<RouteRef>,
    /// Since when the gateway has not taken the route's current weight (a step counts only
    /// once it has; a refusal lasting past progress-deadline rolls back).
    #[serde(with = "crate::time::rfc3339_option", default, skip_serializing_if = "Option::is_none")]
    pub route_waiting_since: Option<SystemTime>,
    /// Blue-green: the Service, its slot label, the candidate's slot, the slot it selected
    /// before the flip, and the Deployment serving that slot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_slot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_slot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_deployment: Option<String>,
    /// Blue-green: the previous slot's replicas when the run started (to scale it back up
    /// before a flip back, if something scaled it to 0 meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoke: Option<SmokeResult>,
    /// The configuration annotations the run started with: it follows them until it ends
    /// (`lifecycle::config`). Empty in records written before serin kept them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Configuration keys changed mid-run that wait for the next run (reported once).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
    /// `serin.io/retry` when the run started: a new value retries a rolled-back revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
    /// Problems with the configuration; while any, the phase shows `Invalid` and nothing moves.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid: Vec<String>,
    /// Why the run may not write its objects (another rollout's run holds them,
    /// `target::refusal`); reported once. A refused start writes no run, only this.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
    /// The run's actions are only recorded ("would …"), never done.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Terminal clean-up is done and the finalizer released: nothing left to touch.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub settled: bool,
    /// A field serin set that another writer (a GitOps sync) put back, as reported: it is
    /// reported once while it lasts (the daemon's `drift`; README, "GitOps").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverted: Option<String>,
}

impl Record {
    pub fn new(state: RolloutState) -> Record {
        Record {
            state,
            analysed_at: None,
            pending: Vec::new(),
            replicas_before: None,
            canary_ingress: None,
            canary_route: None,
            route_waiting_since: None,
            service: None,
            slot_label: None,
            candidate_slot: None,
            previous_slot: None,
            previous_deployment: None,
            previous_replicas: None,
            smoke: None,
            config: BTreeMap::new(),
            deferred: Vec::new(),
            retry: None,
            invalid: Vec::new(),
            refused: Vec::new(),
            dry_run: false,
            settled: false,
            reverted: None,
        }
    }

    /// The phase users see. A canary shows `Succeeded` only once the canary is removed
    /// (README, "Annotations": the run ends when the canary Ingress is gone and the candidate at 0).
    pub fn phase(&self) -> Phase {
        // A run guarded by its kept configuration shows Invalid until it ends.
        if !self.invalid.is_empty() && !self.state.phase.is_terminal() {
            return Phase::Invalid;
        }
        let cleaning_up = self.pending.iter().any(|w| matches!(w, Work::RemoveCanary));
        if self.state.phase == Phase::Succeeded && cleaning_up { Phase::Promoting } else { self.state.phase }
    }

    /// Reads `serin.io/status`. `Ok(None)` when absent; an error when unreadable.
    pub fn read(annotations: &BTreeMap<String, String>) -> Result<Option<Record>, String> {
        let Some(text) = annotations.get(&serin_key("status")) else { return Ok(None) };
        serde_json::from_str(text).map(Some).map_err(|e| format!("serin.io/status is not a status serin wrote: {e}"))
    }

    /// The annotations that hold this record.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let status = serde_json::to_string(self).expect("a record always serialises");
        BTreeMap::from([
            (serin_key("phase"), self.phase().as_str().to_string()),
            (serin_key("weight"), self.state.weight.to_string()),
            (serin_key("status"), status),
        ])
    }

    /// True when `other` differs in anything but the `updated` time (whether to write).
    pub fn differs_from(&self, other: &Record) -> bool {
        let mut a = self.clone();
        a.state.updated = other.state.updated;
        a != *other
    }
}

/// A JSON merge patch writing the record, guarded by the resourceVersion it was computed
/// from: the API server answers 409 if the candidate changed meanwhile.
pub fn patch_body(record: &Record, resource_version: &str) -> serde_json::Value {
    json!({"metadata": {"resourceVersion": resource_version, "annotations": record.annotations()}})
}

/// A merge patch removing everything serin wrote.
pub fn clear_body(resource_version: &str) -> serde_json::Value {
    let annotations: serde_json::Map<String, serde_json::Value> =
        crate::spec::keys::WRITTEN.iter().map(|k| (serin_key(k), serde_json::Value::Null)).collect();
    json!({"metadata": {"resourceVersion": resource_version, "annotations": annotations}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_instant;

    fn record() -> Record {
        let now = parse_instant("2026-11-20T02:00:00Z").unwrap();
        let mut record = Record::new(RolloutState::new("c2c8d24f2e5a9f1b", now));
        record.state.phase = Phase::Progressing;
        record.state.weight = 25;
        record.pending = vec![Work::Act(Action::SetWeight { weight: 25 }), Work::RemoveCanary];
        record.replicas_before = Some(3);
        record
    }

    #[test]
    fn round_trips_through_annotations() {
        let record = record();
        let annotations = record.annotations();
        assert_eq!(annotations["serin.io/phase"], "Progressing");
        assert_eq!(annotations["serin.io/weight"], "25");
        let status: serde_json::Value = serde_json::from_str(&annotations["serin.io/status"]).unwrap();
        assert_eq!(status["revision"], "c2c8d24f2e5a9f1b", "the revision is at the top level of the status");
        assert_eq!(status["pending"][0], json!({"work": "act", "action": "set_weight", "weight": 25}));
        assert_eq!(Record::read(&annotations).unwrap(), Some(record));
    }

    #[test]
    fn invalid_configuration_shows_as_the_phase() {
        let mut record = record();
        record.invalid = vec!["serin.io/steps: expected increasing percentages".into()];
        assert_eq!(record.annotations()["serin.io/phase"], "Invalid");
    }

    #[test]
    fn unreadable_status_is_an_error_and_absent_is_none() {
        assert_eq!(Record::read(&BTreeMap::new()).unwrap(), None);
        let bad = BTreeMap::from([("serin.io/status".to_string(), "{not json".to_string())]);
        assert!(Record::read(&bad).unwrap_err().contains("serin.io/status"));
    }

    #[test]
    fn only_the_updated_time_is_not_a_difference() {
        let a = record();
        let mut b = a.clone();
        b.state.updated += std::time::Duration::from_secs(5);
        assert!(!a.differs_from(&b));
        b.state.reason = "something else".into();
        assert!(a.differs_from(&b));
    }

    #[test]
    fn patches_carry_the_resource_version() {
        let body = patch_body(&record(), "42");
        assert_eq!(body["metadata"]["resourceVersion"], "42");
        let clear = clear_body("43");
        assert!(clear["metadata"]["annotations"]["serin.io/status"].is_null());
    }
}
