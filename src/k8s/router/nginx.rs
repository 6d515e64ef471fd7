//! The ingress-nginx canary router: a second Ingress `<stable-ingress>-canary` carrying
//! `nginx.ingress.kubernetes.io/canary: "true"` and the weight (or header/cookie rules).
//!
//! ingress-nginx rules this follows:
//! the canary's host and each path must equal a main-Ingress location exactly, or the
//! controller silently drops the canary (IN#9830), so only the stable Ingress's rules that
//! route to the stable Service are cloned, with `pathType`, `ingressClassName` and `tls`;
//! annotation values are strings; only one canary Ingress per rule works (IN#5848); a
//! leftover canary Ingress blocks edits of the main one, so when a run ends it is deleted,
//! never left at weight 0 (F#787).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::networking::v1::{HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule, IngressSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::spec::Routing;

use super::super::{K8sError, MANAGED_BY, api_error, is_managed, is_not_found};

const PREFIX: &str = "nginx.ingress.kubernetes.io/";
pub const CANARY: &str = "nginx.ingress.kubernetes.io/canary";
pub const WEIGHT: &str = "nginx.ingress.kubernetes.io/canary-weight";
const BY_HEADER: &str = "nginx.ingress.kubernetes.io/canary-by-header";
const BY_HEADER_VALUE: &str = "nginx.ingress.kubernetes.io/canary-by-header-value";
const BY_COOKIE: &str = "nginx.ingress.kubernetes.io/canary-by-cookie";

/// What the canary Ingress is made from; resolved and checked before any traffic moves.
#[derive(Debug, Clone)]
pub struct CanaryRoute {
    pub stable_ingress: Ingress,
    /// The stable Ingress's backend Services that select the stable pods.
    pub stable_services: BTreeSet<String>,
    pub canary_service: String,
    pub routing: Routing,
    /// The candidate Deployment: the canary Ingress goes with it.
    pub owner: OwnerReference,
}

pub use crate::spec::canary_ingress_name;

/// The canary Ingress that sends `weight` percent to the canary Service. Pure.
pub fn desired_canary_ingress(route: &CanaryRoute, weight: u8) -> Result<Ingress, K8sError> {
    let stable = &route.stable_ingress;
    let stable_spec = stable.spec.clone().unwrap_or_default();
    let rules: Vec<IngressRule> =
        stable_spec.rules.iter().flatten().filter_map(|rule| canary_rule(rule, route)).collect();
    if rules.is_empty() {
        return Err(K8sError::Refused(format!(
            "Ingress {} has no host/path routing to {}: nothing to clone for the canary",
            stable.name_any(),
            route.stable_services.iter().cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let mut annotations = BTreeMap::from([(CANARY.to_string(), "true".to_string())]);
    match &route.routing {
        Routing::Weight => {
            annotations.insert(WEIGHT.into(), weight.to_string());
        }
        Routing::Header { name, value } => {
            annotations.insert(BY_HEADER.into(), name.clone());
            if let Some(value) = value {
                annotations.insert(BY_HEADER_VALUE.into(), value.clone());
            }
        }
        Routing::Cookie { name } => {
            annotations.insert(BY_COOKIE.into(), name.clone());
        }
    }
    Ok(Ingress {
        metadata: ObjectMeta {
            name: Some(canary_ingress_name(&stable.name_any())),
            namespace: stable.namespace(),
            labels: Some(BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())])),
            annotations: Some(annotations),
            owner_references: Some(vec![route.owner.clone()]),
            ..Default::default()
        },
        spec: Some(IngressSpec {
            ingress_class_name: stable_spec.ingress_class_name.clone(),
            tls: stable_spec.tls.clone(),
            rules: Some(rules),
            default_backend: None,
        }),
        status: None,
    })
}

/// The rule with only the paths that route to a stable Service, pointed at the canary.
fn canary_rule(rule: &IngressRule, route: &CanaryRoute) -> Option<IngressRule> {
    let paths: Vec<_> = rule
        .http
        .as_ref()?
        .paths
        .iter()
        .filter(|p| p.backend.service.as_ref().is_some_and(|s| route.stable_services.contains(&s.name)))
        .map(|p| {
            let mut path = p.clone();
            let service = p.backend.service.clone().map(|mut s| {
                s.name = route.canary_service.clone();
                s
            });
            path.backend = IngressBackend { service, resource: None };
            path
        })
        .collect();
    (!paths.is_empty()).then(|| IngressRule { host: rule.host.clone(), http: Some(HTTPIngressRuleValue { paths }) })
}

/// The Services the stable Ingress routes to (candidates for "the stable Service").
pub fn backend_services(ingress: &Ingress) -> BTreeSet<String> {
    let rules = ingress.spec.iter().flat_map(|s| s.rules.iter().flatten());
    rules
        .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
        .filter_map(|p| p.backend.service.as_ref().map(|s| s.name.clone()))
        .collect()
}

/// Everything but the weight is as desired, so a weight change is one small patch.
fn same_but_weight(existing: &Ingress, desired: &Ingress) -> bool {
    let canary_keys = |i: &Ingress| -> BTreeMap<String, String> {
        i.annotations()
            .iter()
            .filter(|(k, _)| k.starts_with(PREFIX) && *k != WEIGHT)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    existing.spec == desired.spec && canary_keys(existing) == canary_keys(desired)
}

pub struct NginxRouter {
    ingresses: Api<Ingress>,
    route: CanaryRoute,
    name: String,
}

impl NginxRouter {
    pub fn new(ingresses: Api<Ingress>, route: CanaryRoute) -> NginxRouter {
        let name = canary_ingress_name(&route.stable_ingress.name_any());
        NginxRouter { ingresses, route, name }
    }

    /// The canary Ingress if it exists; refuses one serin did not create.
    async fn existing(&self) -> Result<Option<Ingress>, K8sError> {
        let found =
            self.ingresses.get_opt(&self.name).await.map_err(api_error(format!("reading Ingress {}", self.name)))?;
        match found {
            Some(ingress) if !is_managed(&ingress) => Err(K8sError::Refused(format!(
                "Ingress {} exists and is not managed by serin (no {}={} label): refusing to touch it",
                self.name, MANAGED_BY.0, MANAGED_BY.1
            ))),
            other => Ok(other),
        }
    }

    fn other_owner(&self, ingress: &Ingress) -> Option<String> {
        other_owner(ingress, &self.route.owner.uid)
    }
}

impl NginxRouter {
    pub async fn set_weight(&self, weight: u8) -> Result<(), K8sError> {
        if weight == 0 && self.route.routing != Routing::Weight {
            // Header and cookie routes have no weight to lower: removing the route is the one write.
            return self.remove().await;
        }
        let desired = desired_canary_ingress(&self.route, weight)?;
        let what = format!("setting Ingress {} to weight {weight}", self.name);
        let existing = self.existing().await?;
        if let Some(owner) = existing.as_ref().and_then(|i| self.other_owner(i)) {
            // Weight 0 on another rollout's route: nothing of this run's carries traffic.
            if weight == 0 {
                return Ok(());
            }
            let what = format!("Ingress {} belongs to the rollout of {owner}: refusing to touch it", self.name);
            return Err(K8sError::Refused(what));
        }
        match existing {
            // No route and no traffic wanted: creating one at weight 0 would only add risk.
            None if weight == 0 => {}
            None => {
                self.ingresses.create(&PostParams::default(), &desired).await.map_err(api_error(what))?;
            }
            Some(existing) if same_but_weight(&existing, &desired) => {
                if existing.annotations().get(WEIGHT) != desired.annotations().get(WEIGHT) {
                    let patch = json!({"metadata": {"annotations": {WEIGHT: weight.to_string()}}});
                    self.ingresses
                        .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .map_err(api_error(what))?;
                }
            }
            Some(existing) => {
                let mut replacement = desired;
                replacement.metadata.resource_version = existing.resource_version();
                self.ingresses
                    .replace(&self.name, &PostParams::default(), &replacement)
                    .await
                    .map_err(api_error(what))?;
            }
        }
        Ok(())
    }

    pub async fn current_weight(&self) -> Result<Option<u8>, K8sError> {
        let ours = self.existing().await?.filter(|i| self.other_owner(i).is_none());
        Ok(ours.map(|i| i.annotations().get(WEIGHT).and_then(|w| w.parse().ok()).unwrap_or(0)))
    }

    pub async fn remove(&self) -> Result<(), K8sError> {
        // Another rollout's canary Ingress is not this run's to remove.
        if self.existing().await?.is_none_or(|i| self.other_owner(&i).is_some()) {
            return Ok(());
        }
        delete_ingress(&self.ingresses, &self.name).await.map(drop)
    }
}

/// The owners of `ingress` when none is the candidate `uid`: serin created it for another
/// rollout on the same stable Ingress, so it is never this run's to write or delete
/// (README, "Lifecycle"). One without owners (an older serin's) counts as this run's.
pub fn other_owner(ingress: &Ingress, uid: &str) -> Option<String> {
    let owners = ingress.owner_references();
    let ours = owners.is_empty() || owners.iter().any(|o| o.uid == uid);
    (!ours).then(|| owners.iter().map(|o| format!("{} {}", o.kind, o.name)).collect::<Vec<_>>().join(", "))
}

/// Deletes an Ingress; one already gone is success. `Ok(true)` when this call deleted it.
/// Callers check first that serin manages it.
pub async fn delete_ingress(ingresses: &Api<Ingress>, name: &str) -> Result<bool, K8sError> {
    match ingresses.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(api_error(format!("deleting Ingress {name}"))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(routing: Routing) -> CanaryRoute {
        let stable: Ingress = serde_json::from_value(json!({
            "metadata": {"name": "sark", "namespace": "production",
                         "labels": {"app.kubernetes.io/instance": "sark", "kustomize.toolkit.fluxcd.io/name": "apps"},
                         "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "8m",
                                         "argocd.argoproj.io/tracking-id": "sark:networking.k8s.io/Ingress:production/sark"}},
            "spec": {"ingressClassName": "nginx",
                     "tls": [{"hosts": ["api.example.com"], "secretName": "sark-tls"}],
                     "rules": [{"host": "api.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "sark", "port": {"number": 80}}}},
                        {"path": "/admin", "pathType": "Prefix", "backend": {"service": {"name": "admin", "port": {"number": 80}}}}]}},
                        {"host": "static.example.com", "http": {"paths": [
                        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "cdn", "port": {"number": 80}}}}]}}]}
        }))
        .unwrap();
        CanaryRoute {
            stable_ingress: stable,
            stable_services: BTreeSet::from(["sark".to_string()]),
            canary_service: "sark-canary".into(),
            routing,
            owner: OwnerReference {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: "sark-canary".into(),
                uid: "u-1".into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            },
        }
    }

    #[test]
    fn clones_exactly_the_stable_services_locations() {
        let ingress = desired_canary_ingress(&route(Routing::Weight), 10).unwrap();
        assert_eq!(ingress.name_any(), "sark-canary");
        assert_eq!(ingress.annotations()[CANARY], "true");
        assert_eq!(ingress.annotations()[WEIGHT], "10");
        assert!(
            !ingress.annotations().contains_key("nginx.ingress.kubernetes.io/proxy-body-size"),
            "inherited, not copied"
        );
        // A GitOps tool's tracking metadata would make the canary Ingress look like one of
        // its resources missing from Git: Argo CD prunes it or shows the app OutOfSync.
        assert_eq!(ingress.labels(), &BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]));
        assert!(!ingress.annotations().contains_key("argocd.argoproj.io/tracking-id"));
        assert_eq!(ingress.owner_references()[0].name, "sark-canary");
        let spec = ingress.spec.unwrap();
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        assert_eq!(spec.tls.unwrap()[0].secret_name.as_deref(), Some("sark-tls"));
        let rules = spec.rules.unwrap();
        assert_eq!(rules.len(), 1, "the host without a stable-Service path is left out");
        let paths = &rules[0].http.as_ref().unwrap().paths;
        assert_eq!(paths.len(), 1, "/admin routes elsewhere");
        assert_eq!((paths[0].path.as_deref(), paths[0].path_type.as_str()), (Some("/"), "Prefix"));
        let backend = paths[0].backend.service.as_ref().unwrap();
        assert_eq!((backend.name.as_str(), backend.port.as_ref().unwrap().number), ("sark-canary", Some(80)));
    }

    #[test]
    fn header_and_cookie_routing_carry_no_weight() {
        let header =
            desired_canary_ingress(&route(Routing::Header { name: "X-Canary".into(), value: Some("yes".into()) }), 25)
                .unwrap();
        assert_eq!(header.annotations()[BY_HEADER], "X-Canary");
        assert_eq!(header.annotations()[BY_HEADER_VALUE], "yes");
        assert!(!header.annotations().contains_key(WEIGHT));
        let cookie = desired_canary_ingress(&route(Routing::Cookie { name: "canary".into() }), 25).unwrap();
        assert_eq!(cookie.annotations()[BY_COOKIE], "canary");
    }

    #[test]
    fn a_weight_change_is_recognised_as_weight_only() {
        let at_10 = desired_canary_ingress(&route(Routing::Weight), 10).unwrap();
        let at_0 = desired_canary_ingress(&route(Routing::Weight), 0).unwrap();
        assert!(same_but_weight(&at_10, &at_0));
        let header = desired_canary_ingress(&route(Routing::Header { name: "X".into(), value: None }), 0).unwrap();
        assert!(!same_but_weight(&at_10, &header));
    }

    #[test]
    fn another_candidates_canary_ingress_is_not_this_runs() {
        let ingress = desired_canary_ingress(&route(Routing::Weight), 10).unwrap();
        assert_eq!(other_owner(&ingress, "u-1"), None);
        assert_eq!(other_owner(&ingress, "u-2").as_deref(), Some("Deployment sark-canary"));
        let mut unowned = ingress;
        unowned.metadata.owner_references = None;
        assert_eq!(other_owner(&unowned, "u-2"), None, "an older serin's Ingress counts as this run's");
    }

    #[test]
    fn refuses_an_ingress_with_nothing_to_clone() {
        let mut r = route(Routing::Weight);
        r.stable_services = BTreeSet::from(["other".to_string()]);
        assert!(desired_canary_ingress(&r, 10).unwrap_err().to_string().contains("nothing to clone"));
        assert_eq!(backend_services(&r.stable_ingress), BTreeSet::from(["admin".into(), "cdn".into(), "sark".into()]));
    }
}
