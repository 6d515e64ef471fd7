//! Giving traffic back when serin lets go of a candidate: its `serin.io/strategy` was
//! removed mid-rollout, or it is being deleted. Works from the record alone (the spec may
//! be gone): the canary Ingress is deleted; a blue-green Service that selects the
//! candidate goes back to the previous slot, if that slot still has ready pods.

use k8s_openapi::api::apps::v1::Deployment;

use crate::k8s::objects::has_available_pods;
use crate::k8s::record::Record;
use crate::k8s::router;
use crate::k8s::{K8sError, api_error, selector};

use super::context::Apis;

/// Restores traffic to the stable version; returns what was done, in words.
pub async fn restore_traffic(apis: &Apis, record: &Record) -> Result<String, K8sError> {
    let mut done = Vec::new();
    let namespace = apis.deployments.namespace().unwrap_or_default();
    if let Some(restored) = router::restore(&apis.client, namespace, record).await? {
        done.push(restored);
    }
    if let (Some(service), Some(label), Some(candidate), Some(previous)) =
        (&record.service, &record.slot_label, &record.candidate_slot, &record.previous_slot)
    {
        let current = apis.services.get_opt(service).await.map_err(api_error(format!("reading Service {service}")))?;
        let live = current.as_ref().and_then(|s| selector::current_slot(s, label));
        if live.as_deref() == Some(candidate.as_str()) {
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
