//! Workloads: promotion (the stable Deployment takes the candidate's pod spec), scaling,
//! and the canary Service serin creates when the user has none.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use super::objects::{foreign_annotations, revision};
use super::{K8sError, MANAGED_BY, api_error};
use crate::spec::PREFIX;

/// The stable Deployment after promotion: the candidate's pod spec and template
/// annotations (serin's own excepted), with the stable's template labels and selector
/// kept, or the API server would reject it (README, "Annotations"; as `kubectl set image` does).
pub fn promoted(stable: &Deployment, candidate: &Deployment) -> Deployment {
    let mut promoted = stable.clone();
    let (Some(target), Some(source)) = (promoted.spec.as_mut(), candidate.spec.as_ref()) else { return promoted };
    target.template.spec = source.template.spec.clone();
    let metadata = target.template.metadata.get_or_insert_with(Default::default);
    let mut annotations = foreign_annotations(source.template.metadata.as_ref().and_then(|m| m.annotations.as_ref()));
    let stable_own = metadata.annotations.iter().flatten().filter(|(k, _)| k.starts_with(PREFIX));
    annotations.extend(stable_own.map(|(k, v)| (k.clone(), v.clone())));
    metadata.annotations = (!annotations.is_empty()).then_some(annotations);
    promoted
}

/// True once the stable Deployment's template is the promoted one.
pub fn is_promoted(stable: &Deployment, candidate: &Deployment) -> bool {
    revision(stable) == revision(candidate)
}

/// Replaces the stable Deployment's template by the candidate's (no-op when done already).
pub async fn promote(deployments: &Api<Deployment>, stable: &str, candidate: &Deployment) -> Result<(), K8sError> {
    let what = format!("promoting {} into Deployment {stable}", candidate.name_any());
    let current = deployments.get(stable).await.map_err(api_error(what.clone()))?;
    let wanted = promoted(&current, candidate);
    if wanted == current {
        return Ok(());
    }
    // `wanted` carries the resourceVersion read above: a concurrent change gives 409.
    deployments.replace(stable, &PostParams::default(), &wanted).await.map_err(api_error(what))?;
    Ok(())
}

/// Sets `spec.replicas` (a patch that changes nothing writes nothing).
pub async fn scale(deployments: &Api<Deployment>, name: &str, replicas: i32) -> Result<(), K8sError> {
    let patch = json!({"spec": {"replicas": replicas}});
    deployments
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(api_error(format!("scaling Deployment {name} to {replicas}")))?;
    Ok(())
}

pub use serin_core::lifecycle::replicas_for_weight;

/// The canary Service: the stable Service's ports, selecting the candidate's pods.
pub fn desired_canary_service(
    name: &str,
    stable: &Service,
    selector: BTreeMap<String, String>,
    owner: OwnerReference,
) -> Service {
    let ports: Vec<ServicePort> = stable
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .map(|p| ServicePort { node_port: None, ..p.clone() })
        .collect();
    Service {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: stable.namespace(),
            labels: Some(BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(ServiceSpec { selector: Some(selector), ports: Some(ports), ..Default::default() }),
        status: None,
    }
}

/// Creates the canary Service unless a Service of that name exists (the user's wins).
pub async fn ensure_service(services: &Api<Service>, desired: &Service) -> Result<(), K8sError> {
    let name = desired.name_any();
    let what = format!("creating canary Service {name}");
    if services.get_opt(&name).await.map_err(api_error(what.clone()))?.is_some() {
        return Ok(());
    }
    match services.create(&PostParams::default(), desired).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(api_error(what)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(name: &str, image: &str, labels: serde_json::Value, annotations: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": name, "resourceVersion": "7"},
            "spec": {"replicas": 4, "selector": {"matchLabels": labels.clone()},
                     "template": {"metadata": {"labels": labels, "annotations": annotations},
                                  "spec": {"containers": [{"name": "sark", "image": image, "env": [{"name": "MODE", "value": "new"}]}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn promotion_copies_the_pod_spec_and_keeps_the_stable_identity() {
        let stable = deployment("sark", "sark:1.0", json!({"app": "sark"}), json!({"old": "x"}));
        let candidate = deployment(
            "sark-canary",
            "sark:1.1",
            json!({"app": "sark", "version": "canary"}),
            json!({"prometheus.io/scrape": "true", "serin.io/strategy": "canary"}),
        );
        let promoted = promoted(&stable, &candidate);
        let spec = promoted.spec.as_ref().unwrap();
        assert_eq!(spec.template.spec, candidate.spec.as_ref().unwrap().template.spec);
        let metadata = spec.template.metadata.as_ref().unwrap();
        assert_eq!(metadata.labels.as_ref().unwrap().get("version"), None, "the stable keeps its labels");
        let annotations = metadata.annotations.as_ref().unwrap();
        assert_eq!(annotations.get("prometheus.io/scrape").map(String::as_str), Some("true"));
        assert!(!annotations.contains_key("serin.io/strategy"));
        assert!(!annotations.contains_key("old"));
        assert_eq!(promoted.metadata.resource_version.as_deref(), Some("7"), "the replace is guarded");
        assert_eq!(spec.replicas, Some(4));
        assert!(is_promoted(&promoted, &candidate));
        assert!(!is_promoted(&stable, &candidate));
    }

    #[test]
    fn canary_replicas_follow_the_weight() {
        assert_eq!(replicas_for_weight(10, 10), 1);
        assert_eq!(replicas_for_weight(10, 25), 3);
        assert_eq!(replicas_for_weight(4, 10), 1);
        assert_eq!(replicas_for_weight(10, 100), 10);
        assert_eq!(replicas_for_weight(0, 50), 1);
    }

    #[test]
    fn the_canary_service_copies_ports_without_node_ports() {
        let stable: Service = serde_json::from_value(json!({
            "metadata": {"name": "sark", "namespace": "production", "labels": {"app.kubernetes.io/instance": "sark"},
                         "annotations": {"argocd.argoproj.io/tracking-id": "sark:/Service:production/sark"}},
            "spec": {"type": "NodePort", "selector": {"app": "sark"},
                     "ports": [{"name": "http", "port": 80, "targetPort": 8000, "nodePort": 30080}]}
        }))
        .unwrap();
        let selector = BTreeMap::from([("app".into(), "sark".into()), ("version".into(), "canary".into())]);
        let owner = OwnerReference { name: "sark-canary".into(), ..Default::default() };
        let service = desired_canary_service("sark-canary", &stable, selector.clone(), owner);
        // No GitOps tracking metadata (README, "GitOps"): the tool would prune it.
        assert_eq!(service.labels(), &BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]));
        assert!(service.annotations().is_empty());
        let spec = service.spec.unwrap();
        assert_eq!(spec.selector, Some(selector));
        let port = &spec.ports.unwrap()[0];
        assert_eq!((port.port, port.node_port), (80, None));
        assert_eq!(spec.type_, None, "ClusterIP");
    }
}
