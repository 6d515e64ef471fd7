//! Operator commands on the candidate: `serin.io/command: promote@<revision>` (or `abort`).
//!
//! The API (on any replica) only writes the annotation; the leader's reconcile applies it
//! through the state machine and removes it in the same resourceVersion-guarded write that
//! records the decision. So a command is applied once, by the one replica that acts, and
//! never outlives the run it was meant for: one naming another revision is refused.

use std::collections::BTreeMap;

use crate::rollout::command::{self, Command};
use crate::rollout::{Inputs, Phase};
use crate::spec::{PREFIX, RolloutSpec};

use super::notice::Notice;
use super::record::Record;
use super::work;

/// The annotation a command travels in.
pub fn key() -> String {
    format!("{PREFIX}command")
}

/// The annotation's value for `command` on the run of `revision`.
pub fn encode(command: Command, revision: &str) -> String {
    format!("{command}@{revision}")
}

/// A command found on the candidate, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested(pub String);

impl Requested {
    pub fn find(annotations: &BTreeMap<String, String>) -> Option<Requested> {
        annotations.get(&key()).map(|text| Requested(text.clone()))
    }

    /// The command and the revision it names (`None`: whatever run is in flight).
    fn parse(&self) -> Result<(Command, Option<&str>), String> {
        let (verb, revision) = match self.0.split_once('@') {
            Some((verb, revision)) => (verb, Some(revision.trim())),
            None => (self.0.as_str(), None),
        };
        let command = Command::parse(verb).ok_or_else(|| format!("{:?} is not promote or abort", self.0))?;
        Ok((command, revision))
    }
}

/// Whether a command can be applied now. An abort always can: it pre-empts pending work.
/// A promotion waits until the traffic work already decided is done.
pub fn can_apply_now(requested: &Requested, record: &Record) -> bool {
    let abort = matches!(requested.parse(), Ok((Command::Abort, _)));
    abort || !work::traffic_pending(record)
}

/// Applies `requested` to `record` (state and pending work), or explains why not. Either
/// way the command is used up: the caller removes the annotation in its next write.
pub fn apply(requested: &Requested, record: &mut Record, spec: &RolloutSpec, inputs: &Inputs) -> Vec<Notice> {
    let rejected = |why: String| vec![Notice::warning("CommandRejected", format!("serin.io/command ignored: {why}"))];
    let (command, revision) = match requested.parse() {
        Ok(parsed) => parsed,
        Err(why) => return rejected(why),
    };
    if record.state.phase == Phase::Invalid {
        return rejected("the rollout is Invalid".into());
    }
    if let Some(revision) = revision.filter(|r| *r != record.state.revision) {
        return rejected(format!("{command} was for revision {revision}; the run is now {}", record.state.revision));
    }
    match command::apply(command, &record.state, spec, inputs) {
        Err(why) => rejected(format!("{command}: {why}")),
        Ok(transition) => {
            let mut notices = vec![Notice::normal("CommandAccepted", format!("operator command: {command}"))];
            notices.extend(super::take(record, spec, &transition));
            notices
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::lifecycle::record::Work;
    use crate::rollout::{Action, RolloutState};

    fn canary() -> RolloutSpec {
        let annotations = BTreeMap::from([("serin.io/strategy".to_string(), "canary".to_string())]);
        crate::spec::parse("sark-canary", &annotations).unwrap()
    }

    fn running() -> Record {
        let mut state = RolloutState::new("abc", SystemTime::now());
        state.phase = Phase::Progressing;
        state.weight = 25;
        Record::new(state)
    }

    #[test]
    fn an_abort_for_this_revision_becomes_pending_rollback_work() {
        let mut record = running();
        let notices = apply(
            &Requested(encode(Command::Abort, "abc")),
            &mut record,
            &canary(),
            &Inputs::offline(SystemTime::now()),
        );
        assert_eq!(record.state.phase, Phase::RolledBack);
        assert!(matches!(&record.pending[..], [Work::Act(Action::Rollback { .. }), Work::RemoveCanary]));
        let reasons: Vec<_> = notices.iter().map(|n| n.reason).collect();
        assert_eq!(reasons, ["CommandAccepted", "RolledBack"]);
    }

    #[test]
    fn a_command_for_another_revision_or_garbage_changes_nothing() {
        for text in ["abort@old", "restart", "promote@"] {
            let mut record = running();
            let notices = apply(&Requested(text.into()), &mut record, &canary(), &Inputs::offline(SystemTime::now()));
            assert_eq!(record, running_like(&record), "{text}");
            assert_eq!(notices.len(), 1, "{text}");
            assert!(notices[0].warning && notices[0].reason == "CommandRejected", "{text}: {notices:?}");
        }
    }

    /// `running()` with the same `started` as `record` (the clock moved on).
    fn running_like(record: &Record) -> Record {
        let mut fresh = running();
        fresh.state.started = record.state.started;
        fresh.state.step_started = record.state.step_started;
        fresh.state.updated = record.state.updated;
        fresh
    }
}
