//! `POST /api/v1/rollouts/{ns}/{name}/{operation}`: what each operation writes.
//!
//! Every operation is an annotation on the candidate, written with its resourceVersion:
//! `pause`/`resume` set `serin.io/paused`, `retry` gives `serin.io/retry` a new value (spec
//! §1), and `promote`/`abort` write `serin.io/command`, which the leader applies and
//! removes (daemon `command`). Any replica can take the request; only the leader acts.

use std::time::SystemTime;

use axum::http::StatusCode;
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

/// Why an operation was not accepted: the HTTP status and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub StatusCode, pub String);

fn conflict(why: impl Into<String>) -> Refused {
    Refused(StatusCode::CONFLICT, why.into())
}

/// The annotations `operation` writes on `candidate` (a `null` removes one), or why it
/// does not apply to the rollout as it is now.
pub fn annotations_for(
    operation: Operation,
    candidate: &Deployment,
    now: SystemTime,
) -> Result<Map<String, Value>, Refused> {
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
                return Err(conflict(format!(
                    "only a rolled-back rollout can be retried; this one is {}",
                    shown(phase)
                )));
            }
            patch.insert(serin_key("retry"), crate::time::format_instant(now).into());
        }
        Operation::Promote | Operation::Abort => {
            let command = if operation == Operation::Promote { Command::Promote } else { Command::Abort };
            let Some(record) = record.filter(|r| r.invalid.is_empty()) else {
                return Err(conflict(format!("no rollout in flight to {command}: the rollout is {}", shown(phase))));
            };
            let spec = spec::parse(&candidate.name_any(), annotations)
                .map_err(|e| conflict(format!("the rollout's configuration is invalid: {e}")))?;
            if let Some(why) = refusal(command, &record.state, &spec, objects::is_rolled_out(candidate)) {
                return Err(conflict(why));
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
) -> Result<Map<String, Value>, Refused> {
    let unavailable = |e: kube::Error| Refused(StatusCode::SERVICE_UNAVAILABLE, format!("Kubernetes API: {e}"));
    let candidate = deployments.get_opt(name).await.map_err(unavailable)?;
    let Some(candidate) = candidate.filter(|c| spec::is_opted_in(c.annotations())) else {
        return Err(Refused(StatusCode::NOT_FOUND, "no such rollout (a Deployment with serin.io/strategy)".into()));
    };
    let annotations = annotations_for(operation, &candidate, SystemTime::now())?;
    let body = json!({"metadata": {"resourceVersion": candidate.resource_version(), "annotations": annotations}});
    match deployments.patch(name, &PatchParams::default(), &Patch::Merge(&body)).await {
        Ok(_) => Ok(annotations),
        Err(e) if crate::k8s::is_conflict_error(&e) => {
            Err(conflict("the rollout changed while the request was checked; look at it again and retry"))
        }
        Err(e) => Err(unavailable(e)),
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

    #[test]
    fn abort_writes_a_command_naming_the_revision() {
        let patch = annotations_for(Operation::Abort, &candidate(Some(Phase::Progressing)), SystemTime::now()).unwrap();
        assert_eq!(patch["serin.io/command"], "abort@abc");
    }

    #[test]
    fn operations_that_do_not_apply_are_refused_with_409() {
        let now = SystemTime::now();
        let refused = annotations_for(Operation::Retry, &candidate(Some(Phase::Progressing)), now).unwrap_err();
        assert_eq!(refused.0, StatusCode::CONFLICT);
        assert!(refused.1.contains("Progressing"), "{}", refused.1);
        let nothing = annotations_for(Operation::Promote, &candidate(None), now).unwrap_err();
        assert!(nothing.1.contains("not started"), "{}", nothing.1);
        let done = annotations_for(Operation::Abort, &candidate(Some(Phase::Succeeded)), now).unwrap_err();
        assert_eq!(done.0, StatusCode::CONFLICT);
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
