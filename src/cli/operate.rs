//! `serin promote|abort|pause|resume|retry NAMESPACE/NAME` (also `kubectl serin …`): the
//! HTTP API's operations (`crate::k8s::operation`, the same rules and the same
//! annotations), written to the candidate with the caller's own Kubernetes credentials.
//! Exit codes: 0 written, 1 the operation does not apply to the rollout as it is (the
//! API's 409), 2 bad input, no such rollout, or the cluster unreachable or refusing.

use std::process::ExitCode;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use serde_json::{Map, Value};

use super::cluster::{ClusterArgs, RolloutRef, parse_rollout};
use super::{CliError, emit, runtime};
use crate::k8s::operation::{self, Operation, Refusal};

/// Checks and writes after a conflict (the daemon writes the candidate's status at every
/// analysis, so the resourceVersion read may be overtaken) before giving up.
const ATTEMPTS: usize = 3;

#[derive(Debug, clap::Args)]
pub struct OperateArgs {
    /// The rollout: NAMESPACE/NAME (or NAME, in -n's namespace or the context's).
    rollout: String,
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

pub fn run(operation: Operation, args: OperateArgs) -> Result<ExitCode, CliError> {
    runtime()?.block_on(async {
        let cluster = args.cluster.connect().await?;
        let target = parse_rollout(&args.rollout, args.namespace.as_deref(), cluster.default_namespace())?;
        let api: Api<Deployment> = Api::namespaced(cluster.client.clone(), &target.namespace);
        let mut attempt = 1;
        loop {
            match operation::perform(&api, &target.name, operation).await {
                Ok(written) => {
                    emit(&[written_line(operation, &target, &written)]);
                    return Ok(ExitCode::SUCCESS);
                }
                Err(Refusal::Changed) if attempt < ATTEMPTS => attempt += 1,
                Err(refusal @ (Refusal::NotApplicable(_) | Refusal::Changed)) => {
                    eprintln!("error: cannot {} {target}: {refusal}", operation.as_str());
                    return Ok(ExitCode::from(1));
                }
                Err(Refusal::NotFound) => {
                    return Err(CliError(format!("no rollout {target} (a Deployment with serin.io/strategy)")));
                }
                Err(Refusal::Api(e)) => return Err(cluster.error(&e)),
            }
        }
    })
}

/// What was written, as one line: `abort production/sark-canary: serin.io/command=abort@…`.
pub fn written_line(operation: Operation, target: &RolloutRef, written: &Map<String, Value>) -> String {
    let changes: Vec<String> = written
        .iter()
        .map(|(key, value)| match value {
            Value::Null => format!("{key} removed"),
            Value::String(text) => format!("{key}={text}"),
            other => format!("{key}={other}"),
        })
        .collect();
    format!("{} {target}: {}", operation.as_str(), changes.join(", "))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_line_says_what_was_written_or_removed() {
        let target = RolloutRef { namespace: "production".into(), name: "sark-canary".into() };
        let abort = json!({"serin.io/command": "abort@68e3ad9bfdef78dc"});
        assert_eq!(
            written_line(Operation::Abort, &target, abort.as_object().unwrap()),
            "abort production/sark-canary: serin.io/command=abort@68e3ad9bfdef78dc"
        );
        let resume = json!({"serin.io/paused": null});
        assert_eq!(
            written_line(Operation::Resume, &target, resume.as_object().unwrap()),
            "resume production/sark-canary: serin.io/paused removed"
        );
    }
}
