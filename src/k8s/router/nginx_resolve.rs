//! Resolving an ingress-nginx canary before any traffic moves (README, "What serin changes,
//! on which object"): the stable Ingress named by `serin.io/ingress`, the backend Service of
//! it that selects the stable pods, and no foreign Ingress where the canary Ingress goes.
//! Problems are reported on the candidate (phase `Invalid`), never a reason to touch traffic.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::Ingress;
use kube::{Api, ResourceExt};

use crate::k8s::{K8sError, api_error, is_managed, owner_reference};
use crate::spec::CanarySpec;

use super::nginx::{CanaryRoute, backend_services, canary_ingress_name};
use super::{Resolution, Resolved, Route, selecting_stable};

pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    candidate: &Deployment,
    stable: &Deployment,
    canary: &CanarySpec,
) -> Result<Resolution, K8sError> {
    let ingresses: Api<Ingress> = Api::namespaced(client.clone(), namespace);
    let services: Api<Service> = Api::namespaced(client.clone(), namespace);
    let ingress = ingresses.get_opt(&canary.ingress).await.map_err(api_error("reading the stable Ingress"))?;
    let Some(ingress) = ingress else {
        return Ok(Err(vec![format!("Ingress {:?} (serin.io/ingress) not found", canary.ingress)]));
    };
    let (stable_services, stable_service) = selecting_stable(&services, backend_services(&ingress), stable).await?;
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
    let name = canary_ingress_name(&canary.ingress);
    if let Some(existing) = ingresses.get_opt(&name).await.map_err(api_error("reading the canary Ingress"))? {
        if !is_managed(&existing) {
            return Ok(Err(vec![format!(
                "Ingress {:?} exists and was not created by serin: remove it or rename the stable Ingress",
                existing.name_any()
            )]));
        }
    }
    let route = CanaryRoute {
        stable_ingress: ingress,
        stable_services,
        canary_service: canary.canary_service.clone(),
        routing: canary.routing.clone(),
        owner: owner_reference(candidate),
    };
    Ok(Ok(Resolved { route: Route::Nginx(route), stable_service }))
}
