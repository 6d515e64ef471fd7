//! Canary traffic routers, behind one seam. A router owns everything about the object that
//! sends part of the traffic to the candidate: resolving it before a run (`resolve`), the
//! weights (`Router`), removing it (`restore`, from the record alone), and which object
//! names re-trigger a rollout's reconcile (`watches`). The daemon only ever talks to this
//! module, so a new router is one file here and one arm in each `match` below.
//!
//! - ingress-nginx (`nginx.rs`, `nginx_resolve.rs`): a second Ingress `<ingress>-canary`.
//! - Gateway API (`gateway.rs` and `gateway_status.rs` decide, `gateway_apply.rs` writes,
//!   `gateway_resolve.rs` resolves):
//!   serin's part of the user's HTTPRoute (`serin.io/route`).

pub mod gateway;
pub mod gateway_apply;
mod gateway_resolve;
mod gateway_status;
pub mod nginx;
mod nginx_resolve;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::{Api, ResourceExt};

use crate::lifecycle::Record;
use crate::lifecycle::record::RouteRef;
use crate::spec::CanarySpec;

use super::{K8sError, api_error, is_managed};

pub use gateway_apply::GatewayRouter;
pub use nginx::NginxRouter;

/// The route of one run, resolved and checked before any traffic moves.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per reconcile: boxing would buy nothing
pub enum Route {
    Nginx(nginx::CanaryRoute),
    /// The HTTPRoute `name`, split as `canary` says.
    Gateway {
        name: String,
        canary: gateway::RouteCanary,
    },
}

/// A resolved route and the stable Service it sends the rest of the traffic to (the
/// canary Service copies its ports).
pub struct Resolved {
    pub route: Route,
    pub stable_service: Service,
}

/// The route, or every problem that keeps the rollout from starting.
pub type Resolution = Result<Resolved, Vec<String>>;

/// Resolves the route `canary` names, for `candidate` against `stable`.
pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    candidate: &Deployment,
    stable: &Deployment,
    canary: &CanarySpec,
) -> Result<Resolution, K8sError> {
    match &canary.route {
        Some(name) => gateway_resolve::resolve(client, namespace, stable, canary, name).await,
        None => nginx_resolve::resolve(client, namespace, candidate, stable, canary).await,
    }
}

impl Route {
    /// The object serin manages for this run (recorded at run start, so traffic can be
    /// restored without a spec).
    pub fn managed_name(&self) -> String {
        match self {
            Route::Nginx(route) => nginx::canary_ingress_name(&route.stable_ingress.name_any()),
            Route::Gateway { name, .. } => name.clone(),
        }
    }

    /// Gateway API: the HTTPRoute serin splits, recorded instead of a managed object.
    pub fn http_route(&self) -> Option<RouteRef> {
        match self {
            Route::Nginx(_) => None,
            Route::Gateway { name, canary } => {
                Some(RouteRef { name: name.clone(), canary_service: canary.canary_service.clone() })
            }
        }
    }

    pub fn router(&self, client: &kube::Client, namespace: &str) -> Router {
        match self {
            Route::Nginx(route) => {
                Router::Nginx(NginxRouter::new(Api::namespaced(client.clone(), namespace), route.clone()))
            }
            Route::Gateway { name, canary } => Router::Gateway(GatewayRouter::new(
                gateway_apply::http_routes(client.clone(), namespace),
                name.clone(),
                canary.clone(),
            )),
        }
    }
}

/// Sends part of the traffic to the canary.
#[allow(clippy::large_enum_variant)] // one per piece of work: boxing would buy nothing
pub enum Router {
    Nginx(NginxRouter),
    Gateway(GatewayRouter),
}

impl Router {
    /// Sends `weight` percent of the traffic to the canary, creating the route if needed.
    /// Idempotent, and a single write when only the weight changes (rollback).
    pub async fn set_weight(&self, weight: u8) -> Result<(), K8sError> {
        match self {
            Router::Nginx(router) => router.set_weight(weight).await,
            Router::Gateway(router) => router.set_weight(weight).await,
        }
    }

    /// The weight the route carries now (`None`: no canary route).
    pub async fn current_weight(&self) -> Result<Option<u8>, K8sError> {
        match self {
            Router::Nginx(router) => router.current_weight().await,
            Router::Gateway(router) => router.current_weight().await,
        }
    }

    /// Removes the canary route; a missing route is success.
    pub async fn remove(&self) -> Result<(), K8sError> {
        match self {
            Router::Nginx(router) => router.remove().await,
            Router::Gateway(router) => router.remove().await,
        }
    }
}

/// The backend Services (of an Ingress or an HTTPRoute) that select the stable
/// Deployment's pods, and the first of them (the canary Service copies its ports).
async fn selecting_stable(
    services: &Api<Service>,
    backends: std::collections::BTreeSet<String>,
    stable: &Deployment,
) -> Result<(std::collections::BTreeSet<String>, Option<Service>), K8sError> {
    let stable_labels = super::objects::pod_labels(stable);
    let (mut names, mut first) = (std::collections::BTreeSet::new(), None);
    for name in backends {
        let Some(service) = services.get_opt(&name).await.map_err(api_error("reading a backend Service"))? else {
            continue;
        };
        if super::objects::selects(&super::selector::selector(&service), &stable_labels) {
            names.insert(name);
            first.get_or_insert(service);
        }
    }
    Ok((names, first))
}

/// Removes the canary route a run recorded, from the record alone (the spec may be gone:
/// opt-out, deletion), when it is the candidate `owner`'s (a canary Ingress created for
/// another rollout on the same stable Ingress is left alone). Returns what was done, in words.
pub async fn restore(
    client: &kube::Client,
    namespace: &str,
    record: &Record,
    owner: &Deployment,
) -> Result<Option<String>, K8sError> {
    if let Some(route) = &record.canary_route {
        return gateway_apply::restore(client, namespace, route).await;
    }
    let Some(name) = &record.canary_ingress else { return Ok(None) };
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    let found = ingresses.get_opt(name).await.map_err(api_error(format!("reading Ingress {name}")))?;
    let uid = owner.uid().unwrap_or_default();
    let ours = found.is_some_and(|ingress| is_managed(&ingress) && nginx::other_owner(&ingress, &uid).is_none());
    if ours && nginx::delete_ingress(&ingresses, name).await? {
        return Ok(Some(format!("canary Ingress {name} deleted")));
    }
    Ok(None)
}

/// The kinds of objects whose changes re-trigger the reconcile of the rollouts naming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watched {
    Ingress,
    HttpRoute,
}

/// Whether the route object `name` of kind `watched` belongs to the rollout `canary`.
pub fn watches(canary: &CanarySpec, watched: Watched, name: &str) -> bool {
    match watched {
        Watched::Ingress => {
            canary.route.is_none() && (canary.ingress == name || nginx::canary_ingress_name(&canary.ingress) == name)
        }
        Watched::HttpRoute => canary.route.as_deref() == Some(name),
    }
}
