//! gateway.networking.k8s.io/v1 HTTPRoutes: the CRD's schema checks that matter to a
//! client editing rules (as the API server's OpenAPI validation of the installed CRD makes
//! them, standard channel v1.2), and a simulated gateway controller that answers each
//! generation in `status.parents`.
//!
//! The controller, like a real one, reports per parentRef: `Accepted` (True, or False with
//! the reason the test configured, e.g. `UnsupportedValue`) and `ResolvedRefs` (False,
//! `BackendNotFound`, while a Service backend does not exist), each with the
//! observedGeneration it answers, after the configured delay from the route's change.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::object::meta_str;
use super::resources::Resource;
use super::status::FieldError;
use super::{GatewayBehaviour, Shared, lock};

pub const CONTROLLER_NAME: &str = "example.com/fake-gateway";
const DEFAULT_DELAY: Duration = Duration::from_millis(200);
const TICK: Duration = Duration::from_millis(20);
const MAX_RULES: usize = 16;
const MAX_BACKENDS: usize = 16;
const MAX_WEIGHT: u64 = 1_000_000;

/// The typed decoding the real server does through the CRD's structural schema: the
/// fields serin writes have the types the schema gives them.
pub fn decode(obj: &Value) -> Result<(), String> {
    let Some(rules) = obj.pointer("/spec/rules") else { return Ok(()) };
    let rules = rules.as_array().ok_or("spec.rules: expected an array")?;
    for (i, rule) in rules.iter().enumerate() {
        for key in ["matches", "filters", "backendRefs"] {
            if rule.get(key).is_some_and(|v| !v.is_array()) {
                return Err(format!("spec.rules[{i}].{key}: expected an array"));
            }
        }
        for (j, backend) in rule.get("backendRefs").and_then(Value::as_array).into_iter().flatten().enumerate() {
            if backend.get("weight").is_some_and(|w| !w.is_i64()) {
                return Err(format!("spec.rules[{i}].backendRefs[{j}].weight: expected an integer"));
            }
            if !backend.get("name").is_some_and(Value::is_string) {
                return Err(format!("spec.rules[{i}].backendRefs[{j}].name: expected a string"));
            }
        }
    }
    Ok(())
}

/// The schema's bounds: list sizes, weights, header matches.
pub fn validate(obj: &Value, errors: &mut Vec<FieldError>) {
    let rules = obj.pointer("/spec/rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if rules.len() > MAX_RULES {
        errors.push(FieldError::too_many("spec.rules", rules.len(), MAX_RULES));
    }
    for (i, rule) in rules.iter().enumerate() {
        let backends = rule.get("backendRefs").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        if backends.len() > MAX_BACKENDS {
            errors.push(FieldError::too_many(&format!("spec.rules[{i}].backendRefs"), backends.len(), MAX_BACKENDS));
        }
        for (j, backend) in backends.iter().enumerate() {
            if let Some(weight) = backend.get("weight").and_then(Value::as_i64)
                && !(0..=MAX_WEIGHT as i64).contains(&weight)
            {
                let field = format!("spec.rules[{i}].backendRefs[{j}].weight");
                errors.push(FieldError::invalid(&field, &weight.into(), "should be in the range 0 to 1000000"));
            }
        }
        let matches = rule.get("matches").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for (j, m) in matches.iter().enumerate() {
            for (k, header) in m.get("headers").and_then(Value::as_array).into_iter().flatten().enumerate() {
                let field = format!("spec.rules[{i}].matches[{j}].headers[{k}]");
                for required in ["name", "value"] {
                    if header.get(required).and_then(Value::as_str).is_none_or(str::is_empty) {
                        errors.push(FieldError::required(&format!("{field}.{required}"), ""));
                    }
                }
                let kind = header.get("type").and_then(Value::as_str).unwrap_or("Exact");
                if !matches!(kind, "Exact" | "RegularExpression") {
                    let supported = ["Exact", "RegularExpression"];
                    errors.push(FieldError::not_supported(&format!("{field}.type"), &kind.into(), &supported));
                }
            }
        }
    }
}

/// (namespace, name)
type Id = (String, String);

/// Runs until the server shuts down: every tick, each route whose status does not answer
/// its generation (as the behaviour wants it) gets that status once it has waited the delay.
pub async fn run(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut lagging: HashMap<Id, (Value, Instant)> = HashMap::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = ticks.tick() => tick(&shared, &mut lagging),
        }
    }
}

fn tick(shared: &Shared, lagging: &mut HashMap<Id, (Value, Instant)>) {
    let behaviours = lock(&shared.gateway).clone();
    let mut store = lock(&shared.store);
    let res = Resource::by_kind("gateway.networking.k8s.io/v1", "HTTPRoute").expect("HTTPRoutes are served");
    let services = Resource::by_kind("v1", "Service").expect("Services are served");
    let routes: Vec<Value> = store.iter(res, None).cloned().collect();
    let now = Instant::now();
    lagging.retain(|id, _| routes.iter().any(|r| (meta_str(r, "namespace"), meta_str(r, "name")) == (&id.0, &id.1)));
    for route in routes {
        let id = (meta_str(&route, "namespace").to_string(), meta_str(&route, "name").to_string());
        let behaviour = behaviours.get(&id).cloned().unwrap_or_default();
        let missing: Vec<String> =
            backend_services(&route).into_iter().filter(|s| store.get(services, &id.0, s).is_none()).collect();
        let status = status(&route, &behaviour, &missing);
        if route.get("status") == Some(&status) {
            lagging.remove(&id);
            continue;
        }
        let since = match lagging.get(&id) {
            Some((wanted, since)) if *wanted == status => *since,
            _ => {
                lagging.insert(id.clone(), (status.clone(), now));
                now
            }
        };
        if now.duration_since(since) >= behaviour.delay.unwrap_or(DEFAULT_DELAY) {
            let mut updated = route.clone();
            updated["status"] = status;
            store.write_internal(res, updated);
            lagging.remove(&id);
        }
    }
}

fn backend_services(route: &Value) -> Vec<String> {
    let rules = route.pointer("/spec/rules").and_then(Value::as_array).into_iter().flatten();
    let backends = rules.flat_map(|r| r.get("backendRefs").and_then(Value::as_array).into_iter().flatten());
    let services = backends.filter(|b| b.get("kind").and_then(Value::as_str).unwrap_or("Service") == "Service");
    let mut names: Vec<String> = services.filter_map(|b| b.get("name")?.as_str().map(str::to_string)).collect();
    names.sort();
    names.dedup();
    names
}

/// The status the controller writes for the route's current generation.
fn status(route: &Value, behaviour: &GatewayBehaviour, missing: &[String]) -> Value {
    let generation = route.pointer("/metadata/generation").cloned().unwrap_or(json!(1));
    let condition = |kind: &str, ok: bool, reason: &str, message: &str| {
        json!({"type": kind, "status": if ok { "True" } else { "False" }, "reason": reason, "message": message,
               "observedGeneration": generation, "lastTransitionTime": "2026-01-01T00:00:00Z"})
    };
    let accepted = match &behaviour.refuse {
        Some((reason, message)) => condition("Accepted", false, reason, message),
        None => condition("Accepted", true, "Accepted", "Route is accepted"),
    };
    let resolved = match missing {
        [] => condition("ResolvedRefs", true, "ResolvedRefs", "Resolved all the Object references for the Route"),
        names => {
            condition("ResolvedRefs", false, "BackendNotFound", &format!("Service(s) not found: {}", names.join(", ")))
        }
    };
    let parents = route.pointer("/spec/parentRefs").and_then(Value::as_array).cloned().unwrap_or_default();
    let parents: Vec<Value> = parents
        .into_iter()
        .map(|parent| json!({"parentRef": parent, "controllerName": CONTROLLER_NAME, "conditions": [accepted, resolved]}))
        .collect();
    json!({"parents": parents})
}
