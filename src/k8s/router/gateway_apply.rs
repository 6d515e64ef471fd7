//! The Gateway API router, thin apply part: reads the HTTPRoute, asks `gateway.rs` what
//! it should be, and writes the difference as a JSON patch guarded by the resourceVersion
//! it read. When another writer got there first (409, or the 422 of a failed `test`), it
//! reads again and applies serin's part to what the other writer left: their edits are
//! never reverted.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::Value;

use super::super::{K8sError, api_error};
use super::gateway::{self, Acceptance, RouteCanary, Split};
use crate::lifecycle::record::RouteRef;
use crate::spec::Routing;

/// Writes of one change attempted on fresh reads before giving up (the reconcile retries).
const ATTEMPTS: u32 = 5;

/// The API resource of gateway.networking.k8s.io/v1 HTTPRoute.
pub fn http_route_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(gateway::GROUP, gateway::VERSION, gateway::KIND);
    ApiResource::from_gvk_with_plural(&gvk, gateway::PLURAL)
}

/// Whether the cluster serves gateway.networking.k8s.io/v1 HTTPRoutes (discovery).
pub async fn serves_http_routes(client: &kube::Client) -> bool {
    let group_version = format!("{}/{}", gateway::GROUP, gateway::VERSION);
    match client.list_api_group_resources(&group_version).await {
        Ok(list) => list.resources.iter().any(|r| r.name == gateway::PLURAL),
        Err(e) => {
            tracing::debug!(error = %e, "no {group_version} discovery");
            false
        }
    }
}

/// HTTPRoutes in one namespace.
pub fn http_routes(client: kube::Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client, namespace, &http_route_resource())
}

/// Reads an HTTPRoute as JSON; `None` when it does not exist.
pub async fn read_route(routes: &Api<DynamicObject>, name: &str) -> Result<Option<Value>, K8sError> {
    let found = routes.get_opt(name).await.map_err(api_error(format!("reading HTTPRoute {name}")))?;
    found.map(|o| serde_json::to_value(o).map_err(|e| K8sError::Refused(format!("HTTPRoute {name}: {e}")))).transpose()
}

pub struct GatewayRouter {
    routes: Api<DynamicObject>,
    name: String,
    canary: RouteCanary,
}

impl GatewayRouter {
    pub fn new(routes: Api<DynamicObject>, name: impl Into<String>, canary: RouteCanary) -> GatewayRouter {
        GatewayRouter { routes, name: name.into(), canary }
    }

    async fn read(&self) -> Result<Value, K8sError> {
        read_route(&self.routes, &self.name)
            .await?
            .ok_or_else(|| K8sError::Refused(format!("HTTPRoute {:?} not found", self.name)))
    }

    /// Brings the route to `want(route)` on the freshest read, re-reading on a conflict.
    async fn converge(&self, what: &str, want: impl Fn(&Value) -> Value) -> Result<(), K8sError> {
        let mut attempt = 1;
        loop {
            let read = match read_route(&self.routes, &self.name).await? {
                Some(read) => read,
                // Nothing left to take serin's part out of.
                None => return Ok(()),
            };
            let Some(ops) = gateway::patch(&read, &want(&read)) else { return Ok(()) };
            let ops: json_patch::Patch =
                serde_json::from_value(ops).expect("gateway::patch builds well-formed operations");
            let result = self.routes.patch(&self.name, &PatchParams::default(), &Patch::Json::<()>(ops)).await;
            match result {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(status)) if matches!(status.code, 409 | 422) && attempt < ATTEMPTS => {
                    tracing::debug!(route = %self.name, attempt, "HTTPRoute changed under serin: re-reading");
                    attempt += 1;
                }
                Err(e) => return Err(api_error(format!("{what} HTTPRoute {}", self.name))(e)),
            }
        }
    }

    /// Whether the gateway took the route as it is now.
    pub async fn acceptance(&self) -> Result<Acceptance, K8sError> {
        Ok(gateway::acceptance(&self.read().await?))
    }

    /// serin's part of the route now (another writer may have removed it).
    pub async fn split(&self) -> Result<Split, K8sError> {
        Ok(gateway::split(&self.read().await?, &self.canary))
    }
}

impl GatewayRouter {
    /// Sends `weight` percent to the canary (header/cookie routing: the canary rules, for
    /// any weight above 0); weight 0 of header/cookie routing takes them out.
    pub async fn set_weight(&self, weight: u8) -> Result<(), K8sError> {
        if weight == 0 && self.split().await? == Split::Absent {
            // No split and no traffic wanted: adding one at weight 0 would only add risk.
            return Ok(());
        }
        let canary = &self.canary;
        self.converge(&format!("setting weight {weight} on"), |route| gateway::desired(route, canary, weight)).await
    }

    pub async fn current_weight(&self) -> Result<Option<u8>, K8sError> {
        Ok(match self.split().await? {
            Split::Absent => None,
            Split::Weight(w) => Some(w),
            // Part of the traffic may still reach the canary: report what serin last knew
            // cannot be trusted as 0.
            Split::Partial => Some(1),
        })
    }

    /// Takes serin's part out: the route as the user wrote it.
    pub async fn remove(&self) -> Result<(), K8sError> {
        let canary = &self.canary;
        self.converge("restoring", |route| gateway::restored(route, canary)).await
    }
}

/// Takes serin's part out of the HTTPRoute a run recorded, from the record alone (the spec
/// may be gone). The stable Services are then the route's other backends: serin splits only
/// rules whose one other backend is the stable Service.
pub async fn restore(client: &kube::Client, namespace: &str, recorded: &RouteRef) -> Result<Option<String>, K8sError> {
    let routes = http_routes(client.clone(), namespace);
    let Some(route) = read_route(&routes, &recorded.name).await? else { return Ok(None) };
    let mut stable_services = gateway::backend_services(&route);
    stable_services.remove(&recorded.canary_service);
    let canary =
        RouteCanary { stable_services, canary_service: recorded.canary_service.clone(), routing: Routing::Weight };
    if gateway::split(&route, &canary) == Split::Absent {
        return Ok(None);
    }
    GatewayRouter::new(routes, recorded.name.clone(), canary).remove().await?;
    Ok(Some(format!("serin's backendRef taken out of HTTPRoute {}", recorded.name)))
}
