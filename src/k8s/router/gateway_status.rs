//! The gateway's answer to an HTTPRoute, read from `status.parents[]`: a step counts only
//! once every parent accepted the route's current generation with its references resolved
//! (README, "Gateway API routing"). Pure.

use serde_json::Value;

/// Whether the gateway took the route as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// Every parent accepted this generation with its references resolved.
    Accepted,
    /// No parent has answered for this generation yet.
    Pending(String),
    /// A parent said no: which one, which condition, the reason and message.
    Refused { parent: String, condition: String, reason: String, message: String },
}

/// Reads `status.parents[]` against `metadata.generation`.
pub fn acceptance(route: &Value) -> Acceptance {
    let generation = route.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
    let parents = route.pointer("/status/parents").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    if parents.is_empty() {
        return Acceptance::Pending("no gateway has reported on the route yet (status.parents is empty)".into());
    }
    let mut pending = None;
    for parent in parents {
        let name = parent_name(parent);
        let conditions = parent.get("conditions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
        for wanted in ["Accepted", "ResolvedRefs"] {
            let found = conditions.iter().find(|c| c.get("type").and_then(Value::as_str) == Some(wanted));
            let text = |c: &Value, k: &str| c.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            let Some(condition) = found else {
                pending.get_or_insert(format!("parent {name} has no {wanted} condition yet"));
                continue;
            };
            let observed = condition.get("observedGeneration").and_then(Value::as_i64).unwrap_or(0);
            if observed < generation {
                pending.get_or_insert(format!(
                    "parent {name} has not observed generation {generation} yet ({wanted} is for {observed})"
                ));
                continue;
            }
            if text(condition, "status") != "True" {
                return Acceptance::Refused {
                    parent: name,
                    condition: format!("{wanted}={}", text(condition, "status")),
                    reason: text(condition, "reason"),
                    message: text(condition, "message"),
                };
            }
        }
    }
    pending.map_or(Acceptance::Accepted, Acceptance::Pending)
}

/// `Gateway default/public (section http)`, from a parent status's `parentRef`.
fn parent_name(parent: &Value) -> String {
    let r = parent.get("parentRef").cloned().unwrap_or_default();
    let text = |k: &str| r.get(k).and_then(Value::as_str).map(str::to_string);
    let kind = text("kind").unwrap_or_else(|| "Gateway".into());
    let name = text("name").unwrap_or_default();
    let mut out = match text("namespace") {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    };
    if let Some(section) = text("sectionName") {
        out += &format!(" (section {section})");
    }
    out
}
