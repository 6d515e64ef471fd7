//! The Gateway API router, pure part: what serin changes in a user's HTTPRoute
//! (gateway.networking.k8s.io/v1) and how it reads the gateway's answer. The thin apply
//! layer is `gateway_apply.rs`.
//!
//! serin owns exactly this much of the route (README, "Gateway API routing"):
//! - in each rule that sends traffic to the stable Service (a `Service` backendRef with a
//!   weight other than 0, and no backend of another Service), one more backendRef to the
//!   canary Service, a copy of the stable one (port, namespace, per-backend filters) with
//!   its own name and weight, and the stable backendRef's `weight` (100 − w, canary w);
//! - for header or cookie routing instead, one rule in front of each such rule, a copy of
//!   it whose matches also require the header (Gateway API has no cookie match, so a
//!   `Cookie` header regular expression) and whose only backend is the canary;
//! - while it has changed weights, the annotation [`ORIGINAL_WEIGHTS`] with the weights
//!   the user wrote, so that removing the canary gives the route back exactly as written.
//!
//! Everything else (other rules, backends, matches, filters, annotations, the order of
//! rules and backends) is left as read: the route is edited in place as a JSON value,
//! and written as a JSON patch of `spec.rules` and that one annotation, guarded by the
//! resourceVersion it was read at. A weight of 0 for every backend of a rule is never
//! written (implementations disagree on what it means): the stable keeps at least the
//! weight the canary does not take.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::spec::Routing;

pub const GROUP: &str = "gateway.networking.k8s.io";
pub const VERSION: &str = "v1";
pub const KIND: &str = "HTTPRoute";
pub const PLURAL: &str = "httproutes";

pub use super::gateway_status::{Acceptance, acceptance};

/// The annotation holding the stable backendRefs' weights as the user wrote them, keyed
/// by rule (see [`rule_key`]); `null` for a weight left out.
pub const ORIGINAL_WEIGHTS: &str = "serin.io/original-weights";

/// The header value that sends a request to the canary when `serin.io/header` names no
/// value, and the cookie value for `serin.io/cookie` (as ingress-nginx's `always`).
pub const ALWAYS: &str = "always";

/// What serin splits: the route's stable Service(s), the canary Service, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteCanary {
    pub stable_services: BTreeSet<String>,
    pub canary_service: String,
    pub routing: Routing,
}

/// The Service a backendRef points to (core group, kind Service: the defaults).
pub fn service_name(backend: &Value) -> Option<&str> {
    let group = backend.get("group").and_then(Value::as_str).unwrap_or("");
    let kind = backend.get("kind").and_then(Value::as_str).unwrap_or("Service");
    (group.is_empty() && kind == "Service").then(|| backend.get("name").and_then(Value::as_str)).flatten()
}

fn rules(route: &Value) -> &[Value] {
    route.pointer("/spec/rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn backends(rule: &Value) -> &[Value] {
    rule.get("backendRefs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn weight(backend: &Value) -> Option<u64> {
    backend.get("weight").and_then(Value::as_u64)
}

/// Every Service the route sends traffic to (candidates for "the stable Service").
pub fn backend_services(route: &Value) -> BTreeSet<String> {
    rules(route).iter().flat_map(backends).filter_map(service_name).map(str::to_string).collect()
}

impl RouteCanary {
    fn is_stable(&self, backend: &Value) -> bool {
        service_name(backend).is_some_and(|s| self.stable_services.contains(s))
    }

    fn is_canary(&self, backend: &Value) -> bool {
        service_name(backend) == Some(self.canary_service.as_str())
    }

    /// A rule serin added for header/cookie routing: every backend is the canary.
    fn is_ab_rule(&self, rule: &Value) -> bool {
        let refs = backends(rule);
        !refs.is_empty() && refs.iter().all(|b| self.is_canary(b))
    }

    /// A rule that sends traffic to the stable Service: serin splits it. A rule the canary
    /// already shares counts even at stable weight 0 (serin's own weight-100 step).
    fn is_stable_rule(&self, rule: &Value) -> bool {
        if self.is_ab_rule(rule) {
            return false;
        }
        let refs = backends(rule);
        let shared = refs.iter().any(|b| self.is_canary(b));
        refs.iter().any(|b| self.is_stable(b) && (shared || weight(b) != Some(0)))
    }
}

/// Why serin cannot split this route; empty when it can. Read before any traffic moves.
pub fn problems(route: &Value, canary: &RouteCanary, name: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let stable_rules: Vec<(usize, &Value)> =
        rules(route).iter().enumerate().filter(|(_, r)| canary.is_stable_rule(r)).collect();
    if stable_rules.is_empty() {
        problems
            .push(format!("HTTPRoute {name:?} has no rule sending traffic to the stable Service: nothing to split"));
    }
    for (index, rule) in stable_rules {
        let others: BTreeSet<&str> = backends(rule)
            .iter()
            .filter(|b| !canary.is_stable(b) && !canary.is_canary(b))
            .map(|b| service_name(b).unwrap_or("a non-Service backend"))
            .collect();
        if !others.is_empty() {
            problems.push(format!(
                "HTTPRoute {name:?} rule {index} also sends traffic to {}: serin splits only rules whose backend is \
                 the stable Service",
                others.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        if backends(rule).iter().filter(|b| canary.is_stable(b)).count() > 1 {
            problems.push(format!("HTTPRoute {name:?} rule {index} names the stable Service twice"));
        }
    }
    problems
}

/// How the route splits traffic now, as far as serin's part of it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// No canary backendRef and no canary rule anywhere.
    Absent,
    /// Every stable rule carries the canary backendRef at this weight (header/cookie
    /// routing: every stable rule has its canary rule in front, reported as weight 100).
    Weight(u8),
    /// Some stable rules carry serin's part and others do not, or weights differ: another
    /// writer changed the route.
    Partial,
}

/// Reads serin's part of the route.
pub fn split(route: &Value, canary: &RouteCanary) -> Split {
    let all = rules(route);
    let mut seen: Vec<Option<u8>> = Vec::new();
    for (index, rule) in all.iter().enumerate() {
        if !canary.is_stable_rule(rule) {
            continue;
        }
        let entry = match &canary.routing {
            Routing::Weight => {
                backends(rule).iter().find(|b| canary.is_canary(b)).map(|b| weight(b).unwrap_or(1).min(100) as u8)
            }
            _ => (index > 0 && canary.is_ab_rule(&all[index - 1])).then_some(100),
        };
        seen.push(entry);
    }
    let any_ab = all.iter().any(|r| canary.is_ab_rule(r));
    match seen.split_first() {
        _ if seen.iter().all(Option::is_none) && !any_ab => Split::Absent,
        Some((Some(first), rest)) if rest.iter().all(|w| *w == Some(*first)) => Split::Weight(*first),
        _ => Split::Partial,
    }
}

/// The key of a rule in [`ORIGINAL_WEIGHTS`]: its matches, and which of the rules with
/// the same matches it is. Stable under serin's own edits (which never touch matches).
fn rule_key(all: &[Value], index: usize) -> String {
    let matches = |r: &Value| r.get("matches").map(Value::to_string).unwrap_or_else(|| "[]".into());
    let mine = matches(&all[index]);
    let twin = all[..index].iter().filter(|r| matches(r) == mine).count();
    format!("{mine}#{twin}")
}

fn originals(route: &Value) -> Map<String, Value> {
    let text = route.pointer("/metadata/annotations").and_then(|a| a.get(ORIGINAL_WEIGHTS)).and_then(Value::as_str);
    text.and_then(|t| serde_json::from_str::<Map<String, Value>>(t).ok()).unwrap_or_default()
}

/// The route as it should be with the canary at `weight` percent (header/cookie routing:
/// the canary rules present for any weight above 0); the route as the user wrote it at
/// weight 0 for header/cookie routing. Edits a copy of what was read in place.
pub fn desired(route: &Value, canary: &RouteCanary, weight: u8) -> Value {
    match &canary.routing {
        Routing::Weight => with_weight(route, canary, weight.min(100)),
        _ if weight == 0 => restored(route, canary),
        routing => with_ab_rules(route, canary, routing),
    }
}

fn with_weight(route: &Value, canary: &RouteCanary, w: u8) -> Value {
    let mut out = route.clone();
    let mut kept = originals(route);
    let all = rules(route).to_vec();
    let Some(rules_out) = out.pointer_mut("/spec/rules").and_then(Value::as_array_mut) else { return out };
    for (index, rule) in rules_out.iter_mut().enumerate() {
        if !canary.is_stable_rule(rule) {
            continue;
        }
        let refs = rule["backendRefs"].as_array_mut().expect("a stable rule has backendRefs");
        let stable = refs.iter().position(|b| canary.is_stable(b)).expect("a stable rule has a stable backendRef");
        let key = rule_key(&all, index);
        if !kept.contains_key(&key) && !refs.iter().any(|b| canary.is_canary(b)) {
            // First split of this rule: remember what the user wrote.
            kept.insert(key, refs[stable].get("weight").cloned().unwrap_or(Value::Null));
        }
        refs[stable]["weight"] = json!(100 - u64::from(w));
        match refs.iter().position(|b| canary.is_canary(b)) {
            Some(at) => refs[at]["weight"] = json!(w),
            None => {
                let mut copy = refs[stable].clone();
                copy["name"] = json!(canary.canary_service);
                copy["weight"] = json!(w);
                refs.push(copy);
            }
        }
    }
    set_originals(&mut out, &kept);
    out
}

fn with_ab_rules(route: &Value, canary: &RouteCanary, routing: &Routing) -> Value {
    let mut out = route.clone();
    let all = rules(route);
    let mut edited = Vec::with_capacity(all.len() + 1);
    for (index, rule) in all.iter().enumerate() {
        let has_ab = index > 0 && canary.is_ab_rule(&all[index - 1]);
        if canary.is_stable_rule(rule) && !has_ab {
            edited.push(ab_rule(rule, canary, routing));
        }
        edited.push(rule.clone());
    }
    if let Some(spec) = out.get_mut("spec") {
        spec["rules"] = Value::Array(edited);
    }
    out
}

/// The canary's copy of a stable rule: each match also requires the header.
fn ab_rule(rule: &Value, canary: &RouteCanary, routing: &Routing) -> Value {
    let header = match routing {
        Routing::Header { name, value } => {
            json!({"type": "Exact", "name": name, "value": value.as_deref().unwrap_or(ALWAYS)})
        }
        Routing::Cookie { name } => json!({
            "type": "RegularExpression",
            "name": "Cookie",
            "value": format!("(^|.*; ?){}={ALWAYS}(;.*|$)", regex_escape(name)),
        }),
        Routing::Weight => unreachable!("weight routing adds no rule"),
    };
    let mut copy = rule.clone();
    let matches = match rule.get("matches").and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.clone(),
        // No matches means every request: the Gateway API default is a `/` prefix.
        _ => vec![json!({"path": {"type": "PathPrefix", "value": "/"}})],
    };
    let matches: Vec<Value> = matches
        .into_iter()
        .map(|mut m| {
            let headers = m.as_object_mut().map(|o| o.entry("headers").or_insert_with(|| json!([])));
            if let Some(Value::Array(list)) = headers {
                list.push(header.clone());
            }
            m
        })
        .collect();
    copy["matches"] = Value::Array(matches);
    let stable = backends(rule).iter().find(|b| canary.is_stable(b)).cloned().unwrap_or_else(|| json!({}));
    let mut backend = stable;
    backend["name"] = json!(canary.canary_service);
    if let Some(b) = backend.as_object_mut() {
        b.remove("weight");
    }
    copy["backendRefs"] = json!([backend]);
    if let Some(c) = copy.as_object_mut() {
        // A rule name must be unique within the route.
        c.remove("name");
    }
    copy
}

/// Cookie names are tokens, but a `.` or `+` must still match itself.
fn regex_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// The route with serin's part removed: canary backendRefs and canary rules gone, the
/// stable weights as the user wrote them, [`ORIGINAL_WEIGHTS`] gone.
pub fn restored(route: &Value, canary: &RouteCanary) -> Value {
    let mut out = route.clone();
    let kept = originals(route);
    let all = rules(route);
    let edited: Vec<Value> = all
        .iter()
        .enumerate()
        .filter(|(_, rule)| !canary.is_ab_rule(rule))
        .map(|(index, rule)| {
            let mut rule = rule.clone();
            let Some(refs) = rule.get_mut("backendRefs").and_then(Value::as_array_mut) else { return rule };
            let before = refs.len();
            refs.retain(|b| !canary.is_canary(b));
            // Only a rule serin split has its stable weight restored.
            let was_split = refs.len() != before;
            let stable = refs.iter_mut().find(|b| canary.is_stable(b));
            if let Some(stable) = stable.filter(|_| was_split) {
                match kept.get(&rule_key(all, index)) {
                    Some(Value::Null) | None => {
                        stable.as_object_mut().map(|b| b.remove("weight"));
                    }
                    Some(original) => stable["weight"] = original.clone(),
                }
            }
            rule
        })
        .collect();
    if let Some(spec) = out.get_mut("spec").filter(|s| s.get("rules").is_some()) {
        spec["rules"] = Value::Array(edited);
    }
    set_originals(&mut out, &Map::new());
    out
}

/// Sets [`ORIGINAL_WEIGHTS`] (an empty map removes it, and the annotations map with it
/// when it held nothing else).
fn set_originals(route: &mut Value, kept: &Map<String, Value>) {
    let Some(metadata) = route.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    if kept.is_empty() {
        if let Some(Value::Object(annotations)) = metadata.get_mut("annotations") {
            annotations.remove(ORIGINAL_WEIGHTS);
            if annotations.is_empty() {
                metadata.remove("annotations");
            }
        }
        return;
    }
    let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
    annotations[ORIGINAL_WEIGHTS] = json!(Value::Object(kept.clone()).to_string());
}

/// The JSON patch from the route as read to `desired`: a `test` of the resourceVersion it
/// was read at, then only what differs of `spec.rules` and serin's annotation. `None` when
/// nothing differs.
pub fn patch(read: &Value, desired: &Value) -> Option<Value> {
    let mut ops = Vec::new();
    if read.pointer("/spec/rules") != desired.pointer("/spec/rules") {
        ops.push(json!({"op": "replace", "path": "/spec/rules", "value": desired.pointer("/spec/rules")}));
    }
    let annotations = |v: &Value| v.pointer("/metadata/annotations").cloned();
    let (before, after) = (annotations(read), annotations(desired));
    if before != after {
        let path = format!("/metadata/annotations/{}", ORIGINAL_WEIGHTS.replace('~', "~0").replace('/', "~1"));
        match (&before, &after) {
            (Some(_), None) => ops.push(json!({"op": "remove", "path": "/metadata/annotations"})),
            (None, Some(a)) => ops.push(json!({"op": "add", "path": "/metadata/annotations", "value": a})),
            (_, Some(a)) => match a.get(ORIGINAL_WEIGHTS) {
                Some(v) => ops.push(json!({"op": "add", "path": path, "value": v})),
                None => ops.push(json!({"op": "remove", "path": path})),
            },
            (None, None) => {}
        }
    }
    if ops.is_empty() {
        return None;
    }
    let version = read.pointer("/metadata/resourceVersion").cloned().unwrap_or(Value::Null);
    ops.insert(0, json!({"op": "test", "path": "/metadata/resourceVersion", "value": version}));
    Some(Value::Array(ops))
}

/// The weights of every stable rule's stable backend, for tests and messages.
pub fn stable_weights(route: &Value, canary: &RouteCanary) -> BTreeMap<usize, Option<u64>> {
    let all = rules(route);
    (0..all.len())
        .filter(|i| canary.is_stable_rule(&all[*i]))
        .map(|i| (i, backends(&all[i]).iter().find(|b| canary.is_stable(b)).and_then(weight)))
        .collect()
}

#[cfg(test)]
#[path = "gateway_tests.rs"]
mod tests;
