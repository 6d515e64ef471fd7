//! What `serin status` prints, as pure functions of the rollouts read (no IO, no clock):
//! the block per rollout, the one-line form `--watch` prints when stdout is not a
//! terminal, the JSON, and the exit code.

use std::time::SystemTime;

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use serde::Serialize;

use crate::k8s::objects;
use crate::rollout::Phase;
use crate::server::rollouts::{RolloutView, VerdictLine};

/// One rollout as `serin status` shows it.
#[derive(Debug, Clone)]
pub struct RolloutStatus {
    pub view: RolloutView,
    /// The candidate's pod spec revision now.
    pub candidate_revision: String,
}

impl RolloutStatus {
    /// `None` for a Deployment that is not opted in (no `serin.io/strategy`).
    pub fn of(deployment: &Deployment) -> Option<RolloutStatus> {
        let namespace = deployment.namespace().unwrap_or_default();
        let view = RolloutView::from_annotations(&namespace, &deployment.name_any(), deployment.annotations())?;
        Some(RolloutStatus { view, candidate_revision: objects::revision(deployment) })
    }

    /// The status is the end of a run serin is about to replace: of an earlier pod spec
    /// (right after `kubectl apply`, the previous `Succeeded` must not pass for the new
    /// revision's), or a rollback since retried (`serin.io/retry` has a new value).
    fn is_stale(&self) -> bool {
        let Some(phase @ (Phase::Succeeded | Phase::RolledBack)) = self.view.phase else { return false };
        let other_revision = self.view.revision.as_deref() != Some(self.candidate_revision.as_str());
        let retry = self.view.config.get(&crate::k8s::objects::serin_key("retry"));
        let retried = phase == Phase::RolledBack && retry != self.view.record.as_ref().and_then(|r| r.retry.as_ref());
        other_revision || retried
    }

    /// The phase, `Pending` while the status is stale; `None` before serin wrote one.
    pub fn phase(&self) -> Option<Phase> {
        if self.is_stale() { Some(Phase::Pending) } else { self.view.phase }
    }

    pub fn reason(&self) -> Option<String> {
        if self.is_stale() {
            let previous = self.view.phase.map_or("", Phase::as_str);
            let old = self.view.revision.as_deref().unwrap_or("none");
            return Some(format!(
                "serin has not started the run of revision {} yet (the last run, of revision {old}, {previous})",
                self.candidate_revision
            ));
        }
        self.view.reason.clone()
    }

    pub fn key(&self) -> String {
        format!("{}/{}", self.view.namespace, self.view.name)
    }
}

fn phase_text(status: &RolloutStatus) -> &'static str {
    status.phase().map_or("not started", Phase::as_str)
}

fn weight_text(status: &RolloutStatus) -> String {
    status.view.weight.map_or_else(|| "-".into(), |w| format!("{w}%"))
}

/// The lines of one rollout: a heading, then its reason, trigger, pending command and one
/// line per metric (verdict and the evidence in words), aligned.
pub fn block(status: &RolloutStatus) -> Vec<String> {
    let view = &status.view;
    let revision = view.revision.as_deref().unwrap_or("-");
    let mut lines = vec![format!(
        "{}  {}  {}  weight {}  revision {revision}",
        status.key(),
        view.strategy,
        phase_text(status),
        weight_text(status)
    )];
    match status.reason() {
        Some(reason) if !reason.is_empty() => lines.push(format!("  reason:  {reason}")),
        Some(_) => {}
        None => lines.push("  reason:  serin has not written a status yet".into()),
    }
    if let Some(trigger) = &view.trigger {
        lines.push(format!("  trigger: {trigger}"));
    }
    if let Some(command) = &view.pending_command {
        lines.push(format!("  command: {command} (not applied by serin yet)"));
    }
    let verdicts = view.verdicts();
    let width = verdicts.iter().map(|m| m.metric.len()).max().unwrap_or(0);
    for m in verdicts {
        lines.push(format!("  {:width$}  {:12}  {}", m.metric, m.verdict.as_str(), m.reason));
    }
    lines
}

/// Every rollout's block, a blank line between two.
pub fn table(rollouts: &[RolloutStatus]) -> Vec<String> {
    let mut lines = Vec::new();
    for (i, status) in rollouts.iter().enumerate() {
        if i > 0 {
            lines.push(String::new());
        }
        lines.extend(block(status));
    }
    lines
}

/// One line per change for `--watch` into a log (CI): time, phase, weight, each metric's
/// verdict, the reason.
pub fn watch_line(status: &RolloutStatus, at: SystemTime) -> String {
    let verdicts: Vec<String> =
        status.view.verdicts().iter().map(|m| format!("{}={}", m.metric, m.verdict.as_str())).collect();
    let verdicts = if verdicts.is_empty() { String::new() } else { format!(" [{}]", verdicts.join(" ")) };
    let reason = status.reason().filter(|r| !r.is_empty()).map(|r| format!(": {r}")).unwrap_or_default();
    format!(
        "{} {} {} weight {}{verdicts}{reason}",
        crate::time::format_instant(at),
        status.key(),
        phase_text(status),
        weight_text(status)
    )
}

/// The JSON of one rollout: the API's list entry (phase, weight, revision, reason,
/// verdicts with their evidence in words) plus the trigger, a pending command and the
/// candidate's current revision.
#[derive(Debug, Serialize)]
pub struct StatusJson<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub strategy: &'a str,
    pub phase: Option<Phase>,
    pub weight: Option<u8>,
    pub revision: Option<&'a str>,
    pub candidate_revision: &'a str,
    pub reason: Option<String>,
    pub trigger: Option<&'a str>,
    pub pending_command: Option<&'a str>,
    pub verdicts: Vec<VerdictLine<'a>>,
}

pub fn json(status: &RolloutStatus) -> StatusJson<'_> {
    let view = &status.view;
    StatusJson {
        namespace: &view.namespace,
        name: &view.name,
        strategy: &view.strategy,
        phase: status.phase(),
        weight: view.weight,
        revision: view.revision.as_deref(),
        candidate_revision: &status.candidate_revision,
        reason: status.reason(),
        trigger: view.trigger.as_deref(),
        pending_command: view.pending_command.as_deref(),
        verdicts: view
            .verdicts()
            .iter()
            .map(|m| VerdictLine { metric: &m.metric, verdict: m.verdict, reason: &m.reason })
            .collect(),
    }
}

/// The JSON of a list of rollouts: `{"items": […]}`, as the API's list.
pub fn json_list(rollouts: &[RolloutStatus]) -> serde_json::Value {
    let items: Vec<StatusJson<'_>> = rollouts.iter().map(json).collect();
    serde_json::json!({ "items": items })
}

/// A failed rollout: what makes `serin status` exit 1.
pub fn has_failed(status: &RolloutStatus) -> bool {
    matches!(status.phase(), Some(Phase::RolledBack | Phase::Invalid))
}

/// The exit code once `--watch` sees `status`: `Some(0)` Succeeded, `Some(1)` failed,
/// `None` while it is still under way (or paused).
pub fn watch_outcome(status: &RolloutStatus) -> Option<u8> {
    match status.phase() {
        Some(Phase::Succeeded) => Some(0),
        _ if has_failed(status) => Some(1),
        _ => None,
    }
}

#[cfg(test)]
#[path = "status_view_tests.rs"]
mod tests;
