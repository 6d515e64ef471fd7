//! `serin lint` across files: each rollout's claims (`crate::target::claims`) built from
//! every document of the run, so two rollouts on one stable, or a Service selecting the
//! other side's pods, are found however the manifests are split into files.
//!
//! What a rollout claims, as the daemon would act on it:
//! - canary: the objects of `Claims::spec_objects` (stable Deployment, stable Ingress and
//!   canary Ingress or HTTPRoute, canary Service); the stable pods (the stable
//!   Deployment's template labels, when in the files) and the canary pods (the candidate's); the Services the stable Ingress routes
//!   to that select the stable pods (stable side), and the canary Service (canary side:
//!   its selector as written, or the candidate's `matchLabels`, which serin gives the
//!   Service it creates);
//! - blue-green: its Service (whose selector serin flips), from `Claims::spec_objects`.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::LintProblem;
use crate::spec::{self, Strategy};
use crate::target::claims::{Claims, Side, conflicts};

/// One problem per conflict, reported on the first rollout involved.
pub fn problems(documents: &[(String, Value)]) -> Vec<LintProblem> {
    let docs = Documents(documents);
    let mut claims = Vec::new();
    let mut origin = BTreeMap::new();
    for (file, doc) in documents {
        if kind(doc) != Some("Deployment") {
            continue;
        }
        let Some(c) = claims_of(doc, &docs) else { continue };
        // The same manifest given twice (a file and its directory) is one rollout.
        let key = format!("{}/{}", c.namespace, c.rollout);
        if origin.contains_key(&key) {
            continue;
        }
        origin.insert(key, (file.clone(), c.rollout.clone()));
        claims.push(c);
    }
    conflicts(&claims)
        .into_iter()
        .filter_map(|conflict| {
            let (file, name) = origin.get(conflict.rollouts.first()?)?;
            Some(LintProblem { file: file.clone(), object: format!("Deployment/{name}"), message: conflict.message })
        })
        .collect()
}

struct Documents<'a>(&'a [(String, Value)]);

impl Documents<'_> {
    fn find(&self, kind_: &str, namespace: &str, name: &str) -> Option<&Value> {
        self.0.iter().map(|(_, d)| d).find(|d| kind(d) == Some(kind_) && identity(d) == Some((namespace, name)))
    }
}

fn kind(doc: &Value) -> Option<&str> {
    doc.get("kind").and_then(Value::as_str)
}

/// (namespace, name); namespace `default` when absent.
fn identity(doc: &Value) -> Option<(&str, &str)> {
    let metadata = doc.get("metadata")?;
    let name = metadata.get("name").and_then(Value::as_str)?;
    Some((metadata.get("namespace").and_then(Value::as_str).unwrap_or("default"), name))
}

fn strings(value: Option<&Value>) -> BTreeMap<String, String> {
    let Some(Value::Mapping(map)) = value else { return BTreeMap::new() };
    map.iter().filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string()))).collect()
}

fn at<'a>(doc: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, key| v.get(*key))
}

fn pod_labels(deployment: &Value) -> BTreeMap<String, String> {
    strings(at(deployment, &["spec", "template", "metadata", "labels"]))
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The Services an Ingress routes to (default backend and every path).
fn backends(ingress: &Value) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |backend: Option<&Value>| {
        if let Some(name) = backend.and_then(|b| at(b, &["service", "name"])).and_then(Value::as_str) {
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    };
    add(at(ingress, &["spec", "defaultBackend"]));
    for rule in at(ingress, &["spec", "rules"]).and_then(Value::as_sequence).into_iter().flatten() {
        for path in at(rule, &["http", "paths"]).and_then(Value::as_sequence).into_iter().flatten() {
            add(path.get("backend"));
        }
    }
    out
}

/// A rollout's claims; `None` for a Deployment that is not a valid rollout (its own
/// problems are reported by the per-file lint).
fn claims_of(candidate: &Value, docs: &Documents) -> Option<Claims> {
    let (namespace, name) = identity(candidate)?;
    let annotations = strings(at(candidate, &["metadata", "annotations"]));
    if !spec::is_opted_in(&annotations) {
        return None;
    }
    let spec = spec::parse(name, &annotations).ok()?;
    let mut claims = Claims::new(namespace, name);
    claims.spec_objects(&spec);
    if let Strategy::Canary(c) = &spec.strategy {
        claims.pods(name, Side::Canary, pod_labels(candidate));
        let stable_pods = docs.find("Deployment", namespace, &c.stable).map(pod_labels);
        if let Some(labels) = &stable_pods {
            claims.pods(&c.stable, Side::Stable, labels.clone());
        }
        let canary_selector = match docs.find("Service", namespace, &c.canary_service) {
            Some(service) => strings(at(service, &["spec", "selector"])),
            None => strings(at(candidate, &["spec", "selector", "matchLabels"])),
        };
        claims.service(&c.canary_service, Side::Canary, canary_selector);
        let ingress = docs.find("Ingress", namespace, &c.ingress);
        for backend in ingress.map(backends).unwrap_or_default() {
            let Some(service) = docs.find("Service", namespace, &backend) else { continue };
            let selector = strings(at(service, &["spec", "selector"]));
            // Read, never written, by the canary: not an object it claims, but the
            // traffic it carries must stay the stable's.
            if backend != c.canary_service && stable_pods.as_ref().is_some_and(|pods| selects(&selector, pods)) {
                claims.service(&backend, Side::Stable, selector);
            }
        }
    }
    Some(claims)
}
