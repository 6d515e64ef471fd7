//! The real `serin` binary's cluster commands (`status`, `abort`, …) as child processes,
//! pointed at a fake API server through a kubeconfig, and the status annotations a test
//! writes to drive `serin status` without a daemon.
//! Include after the fake API server: `#[path = "support/cli.rs"] mod cli;`.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::SystemTime;

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::{Value, json};
use serin::judge::{Evidence, MetricVerdict, Verdict};
use serin::k8s::record::Record;
use serin::rollout::{Phase, RolloutState};

use crate::fake_apiserver::FakeApiServer;

/// `program args…` with `KUBECONFIG=kubeconfig` and no proxy (kube would route a
/// kubeconfig without one through `HTTPS_PROXY`).
pub fn command(program: &Path, kubeconfig: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(program);
    command.args(args).env("KUBECONFIG", kubeconfig).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for proxy in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"] {
        command.env_remove(proxy);
    }
    command
}

/// Runs `serin args…` to the end.
pub fn serin(kubeconfig: &Path, args: &[&str]) -> Output {
    command(Path::new(env!("CARGO_BIN_EXE_serin")), kubeconfig, args).output().expect("run serin")
}

/// Stdout, stderr and the exit code, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The candidate as serin reads it.
pub fn candidate(api: &FakeApiServer, namespace: &str, name: &str) -> Deployment {
    let object = api.get("apps/v1", "Deployment", namespace, name).expect("the candidate exists");
    serde_json::from_value(object).expect("a Deployment")
}

/// Writes `serin.io/phase|weight|status` as serin would for the candidate's current pod
/// spec, with one verdict and a reason, and returns the revision.
pub fn write_status(api: &FakeApiServer, namespace: &str, name: &str, phase: Phase, weight: u8) -> String {
    let revision = serin::k8s::objects::revision(&candidate(api, namespace, name));
    let mut record = Record::new(RolloutState::new(&revision, SystemTime::now()));
    record.state.phase = phase;
    record.state.weight = weight;
    record.state.reason = format!("test: {} at {weight}%", phase.as_str());
    record.state.last_verdicts = vec![MetricVerdict {
        metric: "error-rate".into(),
        verdict: Verdict::Pass,
        reason: "error-rate: canary 0.4% (2/500)".into(),
        evidence: Evidence::default(),
        advance: true,
        forecast: None,
    }];
    let annotations: serde_json::Map<String, Value> =
        record.annotations().into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    api.patch_merge("apps/v1", "Deployment", namespace, name, json!({"metadata": {"annotations": annotations}}));
    revision
}
