//! Reads and checks the objects a rollout names (stable Deployment, its route through
//! `k8s::router`, Services) before anything moves. A missing or unusable object is a problem reported on the
//! candidate (phase `Invalid`), never a reason to touch traffic.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use crate::k8s::objects::{pod_labels, selects};
use crate::k8s::router::{self, Route};
use crate::k8s::selector::{current_slot, selector};
use crate::k8s::{K8sError, api_error};
use crate::spec::{BlueGreenSpec, CanarySpec, RolloutSpec, Strategy};

use super::context::Apis;

pub struct CanaryWorld {
    pub stable: Deployment,
    /// The Service the stable route sends traffic to that selects the stable pods.
    pub stable_service: Service,
    pub route: Route,
}

pub struct BlueGreenWorld {
    pub service: Service,
    pub candidate_slot: String,
    /// The slot the Service selects now.
    pub live_slot: String,
}

pub enum World {
    // Boxed: Kubernetes objects are large, and worlds move around.
    Canary(Box<CanaryWorld>),
    BlueGreen(Box<BlueGreenWorld>),
    /// A run in flight whose objects can no longer be resolved (the stable Deployment or
    /// Ingress deleted, a Service gone): it stays guarded by its record: a rollback removes
    /// the canary route recorded at run start; nothing else moves (README, "Lifecycle").
    Unresolved,
}

/// The world, or every problem that keeps the rollout from starting.
pub type Resolution = Result<World, Vec<String>>;

pub async fn resolve(apis: &Apis, candidate: &Deployment, spec: &RolloutSpec) -> Result<Resolution, K8sError> {
    match &spec.strategy {
        Strategy::Canary(canary) => canary_world(apis, candidate, canary).await,
        Strategy::BlueGreen(bg) => {
            Ok(blue_green_world(apis, candidate, bg).await?.map(|w| World::BlueGreen(Box::new(w))))
        }
    }
}

async fn canary_world(apis: &Apis, candidate: &Deployment, canary: &CanarySpec) -> Result<Resolution, K8sError> {
    let stable = apis.deployments.get_opt(&canary.stable).await.map_err(api_error("reading the stable Deployment"))?;
    let Some(stable) = stable else {
        return Ok(Err(vec![format!("stable Deployment {:?} (serin.io/stable) not found", canary.stable)]));
    };
    if canary.stable == candidate.name_any() {
        return Ok(Err(vec![format!("serin.io/stable names the candidate itself ({:?})", canary.stable)]));
    }
    let namespace = candidate.namespace().unwrap_or_default();
    Ok(router::resolve(&apis.client, &namespace, candidate, &stable, canary).await?.map(|resolved| {
        World::Canary(Box::new(CanaryWorld { stable, stable_service: resolved.stable_service, route: resolved.route }))
    }))
}

async fn blue_green_world(
    apis: &Apis,
    candidate: &Deployment,
    bg: &BlueGreenSpec,
) -> Result<Result<BlueGreenWorld, Vec<String>>, K8sError> {
    let service = apis.services.get_opt(&bg.service).await.map_err(api_error("reading the blue-green Service"))?;
    let Some(service) = service else {
        return Ok(Err(vec![format!("Service {:?} (serin.io/service) not found", bg.service)]));
    };
    let mut problems = Vec::new();
    let candidate_slot = pod_labels(candidate).get(&bg.slot_label).cloned();
    if candidate_slot.is_none() {
        problems.push(format!("the candidate's pod template has no {:?} label (serin.io/slot-label)", bg.slot_label));
    }
    let live_slot = current_slot(&service, &bg.slot_label);
    if live_slot.is_none() {
        problems.push(format!("Service {:?} has no {:?} key in its selector to flip", bg.service, bg.slot_label));
    }
    let (Some(candidate_slot), Some(live_slot)) = (candidate_slot, live_slot) else { return Ok(Err(problems)) };
    Ok(Ok(BlueGreenWorld { service, candidate_slot, live_slot }))
}

/// The Deployment (other than the candidate) serving the Service's current slot.
pub async fn serving_deployment(
    apis: &Apis,
    candidate: &Deployment,
    service: &Service,
) -> Result<Option<String>, K8sError> {
    let wanted = selector(service);
    let all = apis.deployments.list(&Default::default()).await.map_err(api_error("listing Deployments"))?;
    Ok(all
        .items
        .iter()
        .filter(|d| d.name_any() != candidate.name_any())
        .find(|d| selects(&wanted, &pod_labels(d)))
        .map(|d| d.name_any()))
}
