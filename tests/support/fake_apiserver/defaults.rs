//! Defaulting, as the real server applies it on every create and update: the fields a
//! client may leave out come back filled in. It matters beyond looks: a client that
//! writes back a spec without them must not see a spec change (and a new generation).
//! Only the commonly visible defaults of apps/v1 Deployments, Pod specs and Services.

use serde_json::{Value, json};

use super::resources::Resource;

pub fn apply(res: &Resource, obj: &mut Value) {
    if res.is("apps", "deployments") {
        deployment(obj);
    } else if res.is("", "pods") {
        if let Some(spec) = obj.get_mut("spec") {
            pod_spec(spec);
        }
    } else if res.is("", "services") {
        service(obj);
    }
}

/// Sets `obj[path]` unless present, creating intermediate objects; leaves alone any
/// path that runs through a non-object (validation or decoding will report it).
fn default_at(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut here = obj;
    for part in parents {
        let Some(map) = here.as_object_mut() else { return };
        here = map.entry(part.to_string()).or_insert_with(|| json!({}));
    }
    if let Some(map) = here.as_object_mut() {
        map.entry(last.to_string()).or_insert(value);
    }
}

fn deployment(obj: &mut Value) {
    default_at(obj, &["spec", "replicas"], json!(1));
    default_at(obj, &["spec", "revisionHistoryLimit"], json!(10));
    default_at(obj, &["spec", "progressDeadlineSeconds"], json!(600));
    default_at(obj, &["spec", "strategy", "type"], json!("RollingUpdate"));
    if obj.pointer("/spec/strategy/type") == Some(&json!("RollingUpdate")) {
        default_at(obj, &["spec", "strategy", "rollingUpdate", "maxUnavailable"], json!("25%"));
        default_at(obj, &["spec", "strategy", "rollingUpdate", "maxSurge"], json!("25%"));
    }
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        pod_spec(spec);
    }
}

fn pod_spec(spec: &mut Value) {
    default_at(spec, &["restartPolicy"], json!("Always"));
    default_at(spec, &["terminationGracePeriodSeconds"], json!(30));
    default_at(spec, &["dnsPolicy"], json!("ClusterFirst"));
    default_at(spec, &["schedulerName"], json!("default-scheduler"));
    default_at(spec, &["securityContext"], json!({}));
    let Some(containers) = spec.get_mut("containers").and_then(Value::as_array_mut) else { return };
    for container in containers {
        default_at(container, &["terminationMessagePath"], json!("/dev/termination-log"));
        default_at(container, &["terminationMessagePolicy"], json!("File"));
        let image = container.get("image").and_then(Value::as_str).unwrap_or("");
        // The image's tag decides the pull policy: `:latest` (or none) is always pulled.
        let tag = image.rsplit('/').next().unwrap_or("").split_once(':').map(|(_, tag)| tag);
        let policy = if tag.is_none_or(|t| t == "latest") { "Always" } else { "IfNotPresent" };
        default_at(container, &["imagePullPolicy"], json!(policy));
        for port in container.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
            default_at(port, &["protocol"], json!("TCP"));
        }
    }
}

fn service(obj: &mut Value) {
    default_at(obj, &["spec", "type"], json!("ClusterIP"));
    default_at(obj, &["spec", "sessionAffinity"], json!("None"));
    if obj.pointer("/spec/type") != Some(&json!("ExternalName")) {
        default_at(obj, &["spec", "internalTrafficPolicy"], json!("Cluster"));
    }
    for port in obj.pointer_mut("/spec/ports").and_then(Value::as_array_mut).into_iter().flatten() {
        default_at(port, &["protocol"], json!("TCP"));
        if let Some(number) = port.get("port").cloned() {
            default_at(port, &["targetPort"], number);
        }
    }
}
