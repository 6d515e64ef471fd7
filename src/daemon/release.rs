//! Giving traffic back when serin lets go of a candidate: its `serin.io/strategy` was
//! removed mid-rollout (`Reconciler::release`), or it is being deleted
//! (`Reconciler::finalize`). Works from the record alone (the spec may be gone): the canary
//! route is removed; a blue-green Service that selects the candidate goes back to the
//! previous slot, if that slot still has ready pods and the run had not succeeded.

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::runtime::controller;

use crate::k8s::events::Notice;
use crate::k8s::objects::has_available_pods;
use crate::k8s::record;
use crate::k8s::record::Record;
use crate::k8s::{FINALIZER, router};
use crate::k8s::{K8sError, api_error, selector};
use crate::rollout::Phase;

use super::context::Apis;
use super::reconcile::{Reconciler, finalizers};

/// Restores traffic to the stable version; returns what was done, in words.
pub async fn restore_traffic(apis: &Apis, candidate: &Deployment, record: &Record) -> Result<String, K8sError> {
    let mut done = Vec::new();
    let namespace = apis.deployments.namespace().unwrap_or_default();
    if let Some(restored) = router::restore(&apis.client, namespace, record, candidate).await? {
        done.push(restored);
    }
    if let (Some(service), Some(label), Some(candidate), Some(previous)) =
        (&record.service, &record.slot_label, &record.candidate_slot, &record.previous_slot)
    {
        let current = apis.services.get_opt(service).await.map_err(api_error(format!("reading Service {service}")))?;
        let live = current.as_ref().and_then(|s| selector::current_slot(s, label));
        // After success the candidate is the release: letting go of it never flips back.
        let succeeded = record.state.phase == Phase::Succeeded;
        if live.as_deref() == Some(candidate.as_str()) && !succeeded {
            if previous_slot_ready(apis, record).await? {
                selector::flip(&apis.services, service, label, previous).await?;
                done.push(format!("Service {service} flipped back to {label}={previous}"));
            } else {
                done.push(format!(
                    "Service {service} left on {label}={candidate}: the previous slot {previous} has no ready pods"
                ));
            }
        }
    }
    Ok(if done.is_empty() { "no traffic to restore".into() } else { done.join("; ") })
}

async fn previous_slot_ready(apis: &Apis, record: &Record) -> Result<bool, K8sError> {
    let Some(name) = &record.previous_deployment else { return Ok(false) };
    let previous: Option<Deployment> =
        apis.deployments.get_opt(name).await.map_err(api_error(format!("reading Deployment {name}")))?;
    Ok(previous.as_ref().is_some_and(has_available_pods))
}

impl Reconciler<'_> {
    /// `serin.io/strategy` was removed: restore traffic, then forget the run.
    pub(super) async fn release(
        &self,
        candidate: &mut Deployment,
        stored: Option<Record>,
    ) -> Result<controller::Action, K8sError> {
        let restored = match &stored {
            Some(record) if !record.settled && !record.dry_run => {
                restore_traffic(&self.apis, candidate, record).await?
            }
            _ => "no run in flight".into(),
        };
        let mut body = record::clear_body(&candidate.resource_version().unwrap_or_default());
        if candidate.finalizers().iter().any(|f| f == FINALIZER) {
            body["metadata"]["finalizers"] = finalizers(candidate, false).into();
        }
        *candidate = self.patch_candidate(&body, "clearing serin's annotations").await?;
        if stored.is_some() {
            let note = format!("serin.io/strategy removed: {restored}; serin's annotations cleared");
            self.publish(candidate, &[Notice::normal("Released", note)]).await;
        }
        Ok(controller::Action::await_change())
    }

    /// The candidate is being deleted: restore traffic, then let it go.
    pub(super) async fn finalize(
        &self,
        candidate: &mut Deployment,
        stored: Option<Record>,
    ) -> Result<controller::Action, K8sError> {
        if !candidate.finalizers().iter().any(|f| f == FINALIZER) {
            return Ok(controller::Action::await_change());
        }
        if let Some(record) = stored.as_ref().filter(|r| !r.settled && !r.dry_run) {
            let restored = restore_traffic(&self.apis, candidate, record).await?;
            self.publish(candidate, &[Notice::warning("CandidateDeleted", format!("candidate deleted: {restored}"))])
                .await;
        }
        let body = serde_json::json!({"metadata": {
            "resourceVersion": candidate.resource_version(),
            "finalizers": finalizers(candidate, false)}});
        self.patch_candidate(&body, "releasing serin's finalizer").await?;
        Ok(controller::Action::await_change())
    }
}
