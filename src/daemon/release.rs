//! Giving traffic back when serin lets go of a candidate: its `serin.io/strategy` was
//! removed mid-rollout, or it is being deleted. Works from the record alone (the spec may
//! be gone): the canary Ingress is deleted, or serin's part of the HTTPRoute taken out; a blue-green Service that selects the
//! candidate goes back to the previous slot, if that slot still has ready pods.

use k8s_openapi::api::apps::v1::Deployment;

use crate::k8s::objects::has_available_pods;
use crate::k8s::record::Record;
use crate::k8s::router::TrafficRouter;
use crate::k8s::router::gateway::{self, RouteCanary};
use crate::k8s::router::gateway_apply::{GatewayRouter, read_route};
use crate::k8s::router::nginx::delete_ingress;
use crate::k8s::{K8sError, api_error, is_managed, selector};
use crate::spec::Routing;

use super::context::Apis;

/// Restores traffic to the stable version; returns what was done, in words.
pub async fn restore_traffic(apis: &Apis, record: &Record) -> Result<String, K8sError> {
    let mut done = Vec::new();
    if let Some(name) = &record.canary_ingress {
        let found = apis.ingresses.get_opt(name).await.map_err(api_error(format!("reading Ingress {name}")))?;
        if found.is_some_and(|ingress| is_managed(&ingress)) && delete_ingress(&apis.ingresses, name).await? {
            done.push(format!("canary Ingress {name} deleted"));
        }
    }
    if let Some(r) = &record.canary_route
        && let Some(route) = read_route(&apis.routes, &r.name).await?
    {
        // Without the spec, the stable Services are the route's other backends: serin only
        // splits rules whose one other backend is the stable Service.
        let mut stable_services = gateway::backend_services(&route);
        stable_services.remove(&r.canary_service);
        let canary =
            RouteCanary { stable_services, canary_service: r.canary_service.clone(), routing: Routing::Weight };
        if gateway::split(&route, &canary) != gateway::Split::Absent {
            GatewayRouter::new(apis.routes.clone(), r.name.clone(), canary).remove().await?;
            done.push(format!("serin's backendRef taken out of HTTPRoute {}", r.name));
        }
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
