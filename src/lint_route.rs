//! `serin lint` for Gateway API routing: a candidate naming an HTTPRoute with
//! `serin.io/route`, checked against that route when the same file holds it, the way the
//! daemon checks it before any traffic moves (`k8s::router::gateway::problems`). The
//! stable Services are the file's Services selecting the stable Deployment's pods; when
//! the stable Deployment or its Service is elsewhere, the route's backend named like the
//! stable Deployment stands in (the usual shape, and the daemon checks the real one).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::k8s::router::gateway::{self, RouteCanary};
use crate::spec::{self, Strategy};

/// Problems of every candidate in `documents` routed by an HTTPRoute found among them, as
/// (object, message).
pub fn problems(documents: &[serde_yaml_ng::Value]) -> Vec<(String, String)> {
    let docs: Vec<Value> = documents.iter().filter_map(|d| serde_json::to_value(d).ok()).collect();
    let mut found = Vec::new();
    for doc in docs.iter().filter(|d| kind(d) == "Deployment") {
        let annotations: BTreeMap<String, String> = doc
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string()))).collect())
            .unwrap_or_default();
        let name = text(doc, "/metadata/name");
        // The spec's own problems are reported by the Deployment check.
        let Ok(rollout) = spec::parse(name, &annotations) else { continue };
        let Strategy::Canary(canary) = &rollout.strategy else { continue };
        let Some(route_name) = &canary.route else { continue };
        let ns = namespace(doc);
        let in_namespace =
            |d: &&Value, k: &str, n: &str| kind(d) == k && namespace(d) == ns && text(d, "/metadata/name") == n;
        let Some(route) = docs.iter().find(|d| in_namespace(d, "HTTPRoute", route_name)) else { continue };
        let stable_labels = docs
            .iter()
            .find(|d| in_namespace(d, "Deployment", &canary.stable))
            .and_then(|d| d.pointer("/spec/template/metadata/labels"))
            .and_then(Value::as_object);
        let mut stable_services: BTreeSet<String> = match stable_labels {
            Some(labels) => docs
                .iter()
                .filter(|d| kind(d) == "Service" && namespace(d) == ns)
                .filter(|d| selects(d, labels))
                .map(|d| text(d, "/metadata/name").to_string())
                .filter(|s| gateway::backend_services(route).contains(s))
                .collect(),
            None => BTreeSet::new(),
        };
        if stable_services.is_empty() {
            stable_services.insert(canary.stable.clone());
        }
        let route_canary = RouteCanary {
            stable_services,
            canary_service: canary.canary_service.clone(),
            routing: canary.routing.clone(),
        };
        let object = format!("Deployment/{name}");
        for message in gateway::problems(route, &route_canary, route_name) {
            found.push((object.clone(), format!("serin.io/route: {message}")));
        }
    }
    found
}

fn kind(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn text<'a>(doc: &'a Value, pointer: &str) -> &'a str {
    doc.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn namespace(doc: &Value) -> &str {
    Some(text(doc, "/metadata/namespace")).filter(|n| !n.is_empty()).unwrap_or("default")
}

/// A Service whose (non-empty) selector the pod labels satisfy.
fn selects(service: &Value, labels: &serde_json::Map<String, Value>) -> bool {
    let selector = service.pointer("/spec/selector").and_then(Value::as_object);
    selector.is_some_and(|s| !s.is_empty() && s.iter().all(|(k, v)| labels.get(k) == Some(v)))
}
