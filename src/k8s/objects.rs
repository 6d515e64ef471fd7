//! Pure readings of Kubernetes objects: a Deployment's revision, whether it is rolled out,
//! the [`Target`] the engine analyses, label matching. No IO.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::PodSpec;
use kube::ResourceExt;

use crate::spec::PREFIX;
use crate::target::Target;

/// Identifies a run: a hash of the candidate's pod spec.
///
/// The template's labels are left out on purpose: the candidate's differ from the stable's
/// by design (`version: canary`). The hash is FNV-1a over the canonical JSON of the pod
/// spec (k8s-openapi serialises fields in a fixed order and maps sorted), so it is the same
/// across restarts and machines; `revision_is_stable_across_runs` pins it.
pub fn revision(deployment: &Deployment) -> String {
    pod_spec(deployment).map(revision_of_pod_spec).unwrap_or_else(|| "none".into())
}

pub fn revision_of_pod_spec(spec: &PodSpec) -> String {
    let json = serde_json::to_vec(spec).unwrap_or_default();
    let hash = json.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3));
    format!("{hash:016x}")
}

pub fn pod_spec(deployment: &Deployment) -> Option<&PodSpec> {
    deployment.spec.as_ref()?.template.spec.as_ref()
}

pub fn pod_labels(deployment: &Deployment) -> BTreeMap<String, String> {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// `spec.replicas` (the API server defaults it to 1).
pub fn replicas(deployment: &Deployment) -> i32 {
    deployment.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// The Deployment controller has acted on the current spec: every replica runs the
/// current template and is available, and there is at least one.
pub fn is_rolled_out(deployment: &Deployment) -> bool {
    let want = replicas(deployment);
    let Some(status) = deployment.status.as_ref() else { return false };
    let generation = deployment.metadata.generation.unwrap_or(0);
    want > 0
        && status.observed_generation.unwrap_or(0) >= generation
        && status.updated_replicas.unwrap_or(0) >= want
        && status.available_replicas.unwrap_or(0) >= want
        && status.replicas.unwrap_or(0) <= want
}

/// At least one pod of the Deployment is available (a blue-green slot can take traffic).
pub fn has_available_pods(deployment: &Deployment) -> bool {
    deployment.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0) > 0
}

/// The candidate as the engine sees it.
pub fn target_of(deployment: &Deployment) -> Target {
    Target {
        namespace: deployment.namespace().unwrap_or_else(|| "default".into()),
        name: deployment.name_any(),
        annotations: deployment.annotations().clone(),
        pod_labels: pod_labels(deployment),
    }
}

/// Every label of `selector` is on `labels` with the same value.
pub fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// What serin's caches keep of a watched object's metadata: its identity (name,
/// namespace, uid, resourceVersion, deletion), serin's finalizer and its `serin.io/`
/// annotations. Dropped before the object is stored: managedFields, labels, owners,
/// timestamps and every other annotation, above all
/// `kubectl.kubernetes.io/last-applied-configuration` (a copy of the whole manifest),
/// which on a cluster of thousands of Deployments is most of a cache's memory.
/// Reconciles read the object fresh when they need more.
pub fn keep_serin_metadata(meta: &mut kube::api::ObjectMeta) {
    meta.managed_fields = None;
    meta.labels = None;
    meta.owner_references = None;
    meta.creation_timestamp = None;
    meta.generate_name = None;
    meta.generation = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key.starts_with(PREFIX));
    }
    if let Some(finalizers) = meta.finalizers.as_mut() {
        finalizers.retain(|f| f.starts_with(PREFIX));
    }
}

/// Annotation key `serin.io/<name>`.
pub fn serin_key(name: &str) -> String {
    format!("{PREFIX}{name}")
}

/// Template annotations promotion copies: everything but serin's own.
pub fn foreign_annotations(annotations: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    annotations
        .into_iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with(PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentStatus;
    use serde_json::json;

    #[test]
    fn caches_keep_only_serins_metadata() {
        let mut meta: kube::api::ObjectMeta = serde_json::from_value(json!({
            "name": "sark-canary", "namespace": "production", "uid": "u-1", "resourceVersion": "7",
            "generation": 3, "creationTimestamp": "2026-11-01T10:00:00Z",
            "labels": {"app": "sark"},
            "annotations": {"serin.io/strategy": "canary", "serin.io/status": "{}",
                            "kubectl.kubernetes.io/last-applied-configuration": "{\"kind\":\"Deployment\"}"},
            "finalizers": ["serin.io/traffic", "example.com/other"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "X", "name": "x", "uid": "o"}],
            "managedFields": [{"manager": "kubectl-client-side-apply", "operation": "Update"}],
        }))
        .unwrap();
        keep_serin_metadata(&mut meta);
        assert_eq!(
            serde_json::to_value(&meta).unwrap(),
            json!({"name": "sark-canary", "namespace": "production", "uid": "u-1", "resourceVersion": "7",
                   "annotations": {"serin.io/strategy": "canary", "serin.io/status": "{}"},
                   "finalizers": ["serin.io/traffic"]})
        );
    }

    fn deployment(image: &str, labels: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "sark-canary", "namespace": "production", "generation": 2},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels.clone()},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "sark", "image": image}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn revision_ignores_template_labels_and_follows_the_pod_spec() {
        let canary = deployment("sark:1.1", json!({"app": "sark", "version": "canary"}));
        let stable = deployment("sark:1.1", json!({"app": "sark"}));
        let newer = deployment("sark:1.2", json!({"app": "sark", "version": "canary"}));
        assert_eq!(revision(&canary), revision(&stable));
        assert_ne!(revision(&canary), revision(&newer));
    }

    #[test]
    fn revision_is_stable_across_runs() {
        // A changed hash would restart every in-flight rollout after an upgrade (Flagger #1673).
        let canary = deployment("sark:1.1", json!({"app": "sark", "version": "canary"}));
        assert_eq!(revision(&canary), "0049d01c82fa6571", "the revision hash changed: in-flight runs would restart");
    }

    #[test]
    fn rolled_out_needs_the_current_generation_and_every_replica_available() {
        let mut d = deployment("sark:1.1", json!({"app": "sark"}));
        assert!(!is_rolled_out(&d));
        d.status = Some(DeploymentStatus {
            observed_generation: Some(2),
            replicas: Some(2),
            updated_replicas: Some(2),
            available_replicas: Some(2),
            ..Default::default()
        });
        assert!(is_rolled_out(&d));
        d.metadata.generation = Some(3);
        assert!(!is_rolled_out(&d), "status of an older generation");
        d.metadata.generation = Some(2);
        d.status.as_mut().unwrap().available_replicas = Some(1);
        assert!(!is_rolled_out(&d));
        assert!(has_available_pods(&d));
    }

    #[test]
    fn target_and_selectors() {
        let d = deployment("sark:1.1", json!({"app": "sark", "version": "canary"}));
        let target = target_of(&d);
        assert_eq!((target.namespace.as_str(), target.name.as_str()), ("production", "sark-canary"));
        let selector = BTreeMap::from([("app".to_string(), "sark".to_string())]);
        assert!(selects(&selector, &target.pod_labels));
        assert!(!selects(&BTreeMap::new(), &target.pod_labels), "an empty selector selects nothing here");
    }
}
