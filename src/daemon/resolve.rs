//! Reads and checks the objects a rollout names (stable Deployment, Ingress, Services)
//! before anything moves. A missing or unusable object is a problem reported on the
//! candidate (phase `Invalid`), never a reason to touch traffic.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;

use crate::k8s::objects::{pod_labels, selects};
use crate::k8s::router::Router;
use crate::k8s::router::gateway::{self, RouteCanary};
use crate::k8s::router::gateway_apply::{GatewayRouter, read_route};
use crate::k8s::router::nginx::{CanaryRoute, NginxRouter, backend_services, canary_ingress_name};
use crate::k8s::selector::{current_slot, selector};
use crate::k8s::{K8sError, api_error, owner_reference};
use crate::spec::{BlueGreenSpec, CanarySpec, RolloutSpec, Strategy};

use super::context::Apis;

pub struct CanaryWorld {
    pub stable: Deployment,
    /// The Service the stable Ingress (or HTTPRoute) routes to that selects the stable pods.
    pub stable_service: Service,
    pub traffic: CanaryTraffic,
}

/// How the canary gets its traffic: a canary Ingress, or serin's part of an HTTPRoute.
#[derive(Clone)]
pub enum CanaryTraffic {
    // Boxed: an Ingress is large.
    Ingress(Box<CanaryRoute>),
    HttpRoute { name: String, canary: RouteCanary },
}

impl CanaryWorld {
    /// The router that applies this rollout's weights.
    pub fn router(&self, apis: &Apis) -> Router {
        match &self.traffic {
            CanaryTraffic::Ingress(route) => {
                Router::Nginx(Box::new(NginxRouter::new(apis.ingresses.clone(), (**route).clone())))
            }
            CanaryTraffic::HttpRoute { name, canary } => {
                Router::Gateway(Box::new(GatewayRouter::new(apis.routes.clone(), name.clone(), canary.clone())))
            }
        }
    }
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
    if let Some(route) = &canary.route {
        return route_world(apis, candidate, canary, route).await;
    }
    let stable = apis.deployments.get_opt(&canary.stable).await.map_err(api_error("reading the stable Deployment"))?;
    let ingress = apis.ingresses.get_opt(&canary.ingress).await.map_err(api_error("reading the stable Ingress"))?;
    let mut problems = Vec::new();
    if stable.is_none() {
        problems.push(format!("stable Deployment {:?} (serin.io/stable) not found", canary.stable));
    }
    if ingress.is_none() {
        problems.push(format!("Ingress {:?} (serin.io/ingress) not found", canary.ingress));
    }
    let (Some(stable), Some(ingress)) = (stable, ingress) else { return Ok(Err(problems)) };
    if canary.stable == candidate.name_any() {
        return Ok(Err(vec![format!("serin.io/stable names the candidate itself ({:?})", canary.stable)]));
    }
    let (stable_services, stable_service) = selecting_stable(apis, backend_services(&ingress), &stable).await?;
    let Some(stable_service) = stable_service else {
        return Ok(Err(vec![format!(
            "Ingress {:?} routes to no Service selecting the pods of Deployment {:?}",
            canary.ingress, canary.stable
        )]));
    };
    if stable_services.contains(&canary.canary_service) {
        // ingress-nginx breaks a canary whose Service is also a main backend (IN#9458).
        return Ok(Err(vec![format!(
            "serin.io/canary-service {:?} is a backend of Ingress {:?}: the canary needs its own Service",
            canary.canary_service, canary.ingress
        )]));
    }
    let route = CanaryRoute {
        stable_ingress: ingress,
        stable_services,
        canary_service: canary.canary_service.clone(),
        routing: canary.routing.clone(),
        owner: owner_reference(candidate),
    };
    if let Some(existing) = apis
        .ingresses
        .get_opt(&canary_ingress_name(&canary.ingress))
        .await
        .map_err(api_error("reading the canary Ingress"))?
    {
        if !crate::k8s::is_managed(&existing) {
            return Ok(Err(vec![format!(
                "Ingress {:?} exists and was not created by serin: remove it or rename the stable Ingress",
                existing.name_any()
            )]));
        }
    }
    let traffic = CanaryTraffic::Ingress(Box::new(route));
    Ok(Ok(World::Canary(Box::new(CanaryWorld { stable, stable_service, traffic }))))
}

/// Gateway API routing: the stable Deployment, the HTTPRoute, and the route's backend
/// Services that select the stable pods; then whether serin can split the route.
async fn route_world(
    apis: &Apis,
    candidate: &Deployment,
    canary: &CanarySpec,
    name: &str,
) -> Result<Resolution, K8sError> {
    let stable = apis.deployments.get_opt(&canary.stable).await.map_err(api_error("reading the stable Deployment"))?;
    let route = read_route(&apis.routes, name).await?;
    let mut problems = Vec::new();
    if stable.is_none() {
        problems.push(format!("stable Deployment {:?} (serin.io/stable) not found", canary.stable));
    }
    if route.is_none() {
        problems.push(format!("HTTPRoute {name:?} (serin.io/route) not found"));
    }
    let (Some(stable), Some(route)) = (stable, route) else { return Ok(Err(problems)) };
    if canary.stable == candidate.name_any() {
        return Ok(Err(vec![format!("serin.io/stable names the candidate itself ({:?})", canary.stable)]));
    }
    // serin's own backendRef (a run in flight) is not a stable backend.
    let mut backends = gateway::backend_services(&route);
    backends.remove(&canary.canary_service);
    let (stable_services, stable_service) = selecting_stable(apis, backends, &stable).await?;
    let Some(stable_service) = stable_service else {
        return Ok(Err(vec![format!(
            "HTTPRoute {name:?} routes to no Service selecting the pods of Deployment {:?}",
            canary.stable
        )]));
    };
    let route_canary =
        RouteCanary { stable_services, canary_service: canary.canary_service.clone(), routing: canary.routing.clone() };
    let problems = gateway::problems(&route, &route_canary, name);
    if !problems.is_empty() {
        return Ok(Err(problems));
    }
    let traffic = CanaryTraffic::HttpRoute { name: name.to_string(), canary: route_canary };
    Ok(Ok(World::Canary(Box::new(CanaryWorld { stable, stable_service, traffic }))))
}

/// The backend Services that select the stable Deployment's pods, and the first of them.
async fn selecting_stable(
    apis: &Apis,
    backends: BTreeSet<String>,
    stable: &Deployment,
) -> Result<(BTreeSet<String>, Option<Service>), K8sError> {
    let stable_labels = pod_labels(stable);
    let (mut names, mut first) = (BTreeSet::new(), None);
    for name in backends {
        let Some(service) = apis.services.get_opt(&name).await.map_err(api_error("reading a backend Service"))? else {
            continue;
        };
        if selects(&selector(&service), &stable_labels) {
            names.insert(name);
            first.get_or_insert(service);
        }
    }
    Ok((names, first))
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
