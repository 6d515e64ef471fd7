//! What serin remembers of a candidate where GitOps tools do not write (README,
//! "Lifecycle"). `kubectl replace`, Argo CD's `Replace=true` or `helm --force` rewrite the
//! candidate from its manifest and strip `serin.io/status`; without a memory elsewhere a
//! rolled-back revision would then get traffic again, and a candidate serin scaled to 0
//! would restart at one replica. The daemon keeps this per candidate in a ConfigMap of its
//! own (`serin-memory`), which no manifest names.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::rollout::{Phase, RolloutState};

use super::record::Record;

/// Rolled-back revisions kept per candidate (older ones have long been replaced).
const KEPT: usize = 10;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// Revisions rolled back, oldest first.
    #[serde(default)]
    pub rolled_back: Vec<RolledBack>,
    /// The candidate's replicas before serin last scaled it to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas_before: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RolledBack {
    pub revision: String,
    /// `serin.io/retry` of the run: a new value retries the revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    pub reason: String,
}

/// `memory` updated with what `record` says (unchanged when there is nothing new).
pub fn remember(memory: &Memory, record: &Record) -> Memory {
    let mut next = memory.clone();
    let state = &record.state;
    let known = next.rolled_back.iter().any(|r| r.revision == state.revision && r.retry == record.retry);
    if state.phase == Phase::RolledBack && !record.dry_run && !known {
        next.rolled_back.retain(|r| r.revision != state.revision);
        next.rolled_back.push(RolledBack {
            revision: state.revision.clone(),
            retry: record.retry.clone(),
            trigger: state.trigger.clone(),
            reason: state.reason.clone(),
        });
        let excess = next.rolled_back.len().saturating_sub(KEPT);
        next.rolled_back.drain(..excess);
    }
    if record.replicas_before.is_some() {
        next.replicas_before = record.replicas_before;
    }
    next
}

/// The record of `revision` as memory has it, when the candidate lost its own: a settled
/// rollback (so the planner does not start a run of a revision that was rolled back) or
/// just the remembered replicas.
pub fn recall(memory: &Memory, revision: &str, now: SystemTime) -> Option<Record> {
    let rolled_back = memory.rolled_back.iter().rev().find(|r| r.revision == revision)?;
    let mut state = RolloutState::new(revision, now);
    state.phase = Phase::RolledBack;
    state.trigger = rolled_back.trigger.clone();
    state.reason =
        format!("{} (recalled from ConfigMap serin-memory: serin.io/status had been removed)", rolled_back.reason);
    let mut record = Record::new(state);
    record.retry = rolled_back.retry.clone();
    record.replicas_before = memory.replicas_before;
    record.settled = true;
    Some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rolled_back(revision: &str) -> Record {
        let mut record = Record::new(RolloutState::new(revision, SystemTime::UNIX_EPOCH));
        record.state.phase = Phase::RolledBack;
        record.state.trigger = Some("error-rate-critical".into());
        record.state.reason = "error rate 8% > 5% for 5m".into();
        record.replicas_before = Some(3);
        record
    }

    #[test]
    fn a_rollback_is_remembered_and_recalled_for_its_revision_only() {
        let memory = remember(&Memory::default(), &rolled_back("abc"));
        assert_eq!(memory.replicas_before, Some(3));
        let recalled = recall(&memory, "abc", SystemTime::UNIX_EPOCH).unwrap();
        assert_eq!(recalled.state.phase, Phase::RolledBack);
        assert_eq!(recalled.state.trigger.as_deref(), Some("error-rate-critical"));
        assert!(recalled.settled);
        assert!(recall(&memory, "def", SystemTime::UNIX_EPOCH).is_none());
        assert_eq!(remember(&memory, &rolled_back("abc")), memory, "nothing new: unchanged");
    }

    #[test]
    fn memory_stays_bounded() {
        let mut memory = Memory::default();
        for i in 0..25 {
            memory = remember(&memory, &rolled_back(&format!("r{i}")));
        }
        assert_eq!(memory.rolled_back.len(), KEPT);
        assert_eq!(memory.rolled_back.last().unwrap().revision, "r24");
    }
}
