//! Resolving a Gateway API canary before any traffic moves (README, "Gateway API routing"):
//! the HTTPRoute named by `serin.io/route`, its backend Services that select the stable
//! pods, and whether serin can split it (`gateway::problems`). Problems are reported on the
//! candidate (phase `Invalid`), never a reason to touch traffic.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use kube::Api;

use crate::k8s::K8sError;
use crate::spec::CanarySpec;

use super::gateway::{self, RouteCanary};
use super::gateway_apply::{http_routes, read_route};
use super::{Resolution, Resolved, Route, selecting_stable};

pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    stable: &Deployment,
    canary: &CanarySpec,
    name: &str,
) -> Result<Resolution, K8sError> {
    let Some(route) = read_route(&http_routes(client.clone(), namespace), name).await? else {
        return Ok(Err(vec![format!("HTTPRoute {name:?} (serin.io/route) not found")]));
    };
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    // serin's own backendRef (a run in flight) is not a stable backend.
    let mut backends = gateway::backend_services(&route);
    backends.remove(&canary.canary_service);
    let (stable_services, stable_service) = selecting_stable(&services, backends, stable).await?;
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
    Ok(Ok(Resolved { route: Route::Gateway { name: name.to_string(), canary: route_canary }, stable_service }))
}
