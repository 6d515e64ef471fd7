//! The operator's operations on a rollout (`promote`, `abort`, `pause`, `resume`,
//! `retry`): what each writes on the candidate, and the write itself.
//!
//! One implementation for both callers: the HTTP API (`POST /api/v1/rollouts/…`, on any
//! replica, with serin's service account) and the command line (`serin abort NS/NAME`,
//! `kubectl serin abort …`, with the caller's own credentials). Every operation is an
//! annotation on the candidate, written with the resourceVersion it was checked at:
//! `pause`/`resume` set or remove `serin.io/paused`, `retry` gives `serin.io/retry` a new
//! value, and `promote`/`abort` write `serin.io/command`, which the leader applies and
//! removes (daemon `command`).

use std::time::SystemTime;

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Map, Value, json};

use crate::daemon::command;
use crate::k8s::objects::{self, serin_key};
use crate::k8s::record::Record;
use crate::rollout::Phase;
use crate::rollout::command::{Command, refusal};
use crate::spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Promote,
    Abort,
    Pause,
    Resume,
    Retry,
}

impl Operation {
    pub const ALL: [Operation; 5] =
        [Operation::Promote, Operation::Abort, Operation::Pause, Operation::Resume, Operation::Retry];

    pub fn parse(text: &str) -> Option<Operation> {
        Operation::ALL.into_iter().find(|op| op.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Promote => "promote",
            Operation::Abort => "abort",
            Operation::Pause => "pause",
            Operation::Resume => "resume",
            Operation::Retry => "retry",
        }
    }
}

/// Why an operation was not written.
#[derive(Debug)]
pub enum Refusal {
    /// No Deployment of that name, or one without `serin.io/strategy`.
    NotFound,
    /// The operation does not apply to the rollout as it is (the sentence says why).
    NotApplicable(String),
    /// The candidate changed between the check and the write (its resourceVersion moved
    /// on): nothing was written; checking again on a fresh read may give another answer.
    Changed,
    /// The Kubernetes API could not be asked, or refused the request.
    Api(kube::Error),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotFound => f.write_str("no such rollout (a Deployment with serin.io/strategy)"),
            Refusal::NotApplicable(why) => f.write_str(why),
            Refusal::Changed => {
                f.write_str("the rollout changed while the request was checked; look at it again and retry")
            }
            Refusal::Api(e) => write!(f, "Kubernetes API: {e}"),
        }
    }
}

fn not_applicable(why: impl Into<String>) -> Refusal {
    Refusal::NotApplicable(why.into())
}

/// The annotations `operation` writes on `candidate` (a `null` removes one), or why it
/// does not apply to the rollout as it is now. Pure: `now` is the `retry` value.
pub fn annotations_for(
    operation: Operation,
    candidate: &Deployment,
    now: SystemTime,
) -> Result<Map<String, Value>, Refusal> {
    let annotations = candidate.annotations();
    let record = Record::read(annotations).ok().flatten();
    let phase = record.as_ref().map(Record::phase);
    let mut patch = Map::new();
    match operation {
        Operation::Pause => {
            patch.insert(serin_key("paused"), "true".into());
        }
        Operation::Resume => {
            patch.insert(serin_key("paused"), Value::Null);
        }
        Operation::Retry => {
            if phase != Some(Phase::RolledBack) {
                return Err(not_applicable(format!(
                    "only a rolled-back rollout can be retried; this one is {}",
                    shown(phase)
                )));
            }
            patch.insert(serin_key("retry"), crate::time::format_instant(now).into());
        }
        Operation::Promote | Operation::Abort => {
            let command = if operation == Operation::Promote { Command::Promote } else { Command::Abort };
            let Some(record) = record.filter(|r| r.invalid.is_empty()) else {
                return Err(not_applicable(format!(
                    "no rollout in flight to {command}: the rollout is {}",
                    shown(phase)
                )));
            };
            let spec = spec::parse(&candidate.name_any(), annotations)
                .map_err(|e| not_applicable(format!("the rollout's configuration is invalid: {e}")))?;
            if let Some(why) = refusal(command, &record.state, &spec, objects::is_rolled_out(candidate)) {
                return Err(not_applicable(why));
            }
            patch.insert(command::key(), command::encode(command, &record.state.revision).into());
        }
    }
    Ok(patch)
}

fn shown(phase: Option<Phase>) -> &'static str {
    phase.map_or("not started", Phase::as_str)
}

/// Reads the candidate, checks the operation applies, and writes its annotations guarded
/// by the resourceVersion it was checked at. Returns what was written.
pub async fn perform(
    deployments: &Api<Deployment>,
    name: &str,
    operation: Operation,
) -> Result<Map<String, Value>, Refusal> {
    let candidate = deployments.get_opt(name).await.map_err(Refusal::Api)?;
    let Some(candidate) = candidate.filter(|c| spec::is_opted_in(c.annotations())) else {
        return Err(Refusal::NotFound);
    };
    let annotations = annotations_for(operation, &candidate, SystemTime::now())?;
    let body = json!({"metadata": {"resourceVersion": candidate.resource_version(), "annotations": annotations}});
    match deployments.patch(name, &PatchParams::default(), &Patch::Merge(&body)).await {
        Ok(_) => Ok(annotations),
        Err(e) if crate::k8s::is_conflict_error(&e) => Err(Refusal::Changed),
        Err(e) => Err(Refusal::Api(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::RolloutState;

    fn candidate(phase: Option<Phase>) -> Deployment {
        let mut annotations = std::collections::BTreeMap::from([("serin.io/strategy".into(), "canary".into())]);
        if let Some(phase) = phase {
            let mut record = Record::new(RolloutState::new("abc", SystemTime::now()));
            record.state.phase = phase;
            annotations.extend(record.annotations());
        }
        let mut deployment = Deployment::default();
        deployment.metadata.name = Some("sark-canary".into());
        deployment.metadata.annotations = Some(annotations);
        deployment
    }

    fn refused(operation: Operation, phase: Option<Phase>) -> String {
        match annotations_for(operation, &candidate(phase), SystemTime::now()) {
            Err(Refusal::NotApplicable(why)) => why,
            other => panic!("{operation:?} on {phase:?} was not refused as not applicable: {other:?}"),
        }
    }

    #[test]
    fn abort_writes_a_command_naming_the_revision() {
        let patch = annotations_for(Operation::Abort, &candidate(Some(Phase::Progressing)), SystemTime::now()).unwrap();
        assert_eq!(patch["serin.io/command"], "abort@abc");
    }

    #[test]
    fn operations_that_do_not_apply_are_refused_with_the_reason() {
        assert!(refused(Operation::Retry, Some(Phase::Progressing)).contains("Progressing"));
        assert!(refused(Operation::Promote, None).contains("not started"));
        assert!(refused(Operation::Abort, Some(Phase::Succeeded)).contains("nothing to abort"));
    }

    #[test]
    fn pause_resume_and_retry_set_the_spec_annotations() {
        let now = SystemTime::now();
        let pause = annotations_for(Operation::Pause, &candidate(None), now).unwrap();
        assert_eq!(pause["serin.io/paused"], "true");
        let resume = annotations_for(Operation::Resume, &candidate(None), now).unwrap();
        assert!(resume["serin.io/paused"].is_null());
        let retry = annotations_for(Operation::Retry, &candidate(Some(Phase::RolledBack)), now).unwrap();
        assert_eq!(retry["serin.io/retry"], crate::time::format_instant(now));
        assert_eq!(Operation::parse("resume"), Some(Operation::Resume));
        assert_eq!(Operation::parse("restart"), None);
    }
}
