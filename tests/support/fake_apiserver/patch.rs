//! PATCH bodies by Content-Type: JSON Patch (RFC 6902), JSON merge patch (RFC 7386),
//! strategic merge patch and server-side apply. The last two are approximations:
//! - strategic merge patch is a merge patch, except that lists of objects that all
//!   carry a `name` (containers, env, volumes, ...) are merged element by element by
//!   name, with `$patch: delete` on an element removing it. Other merge keys
//!   (`containerPort`, `port`, ...) and the primitive-list directives
//!   (`$deleteFromPrimitiveList`, `$setElementOrder`) are not supported: those lists
//!   are replaced.
//! - server-side apply merges the applied object in the same way, except that the
//!   fields the real server declares atomic (a Service's `spec.selector`, a Deployment's
//!   label selector) are replaced whole when applied: an apply that lists
//!   `selector: {app: sark}` leaves exactly that selector, as on a real cluster. No managed
//!   fields are tracked: every apply acts as a forced one (as Argo CD's and Flux's do;
//!   there are no conflicts between managers), and fields a manager stops applying are
//!   not removed.
//!
//! Also the three-way merge of `kubectl apply` (client-side), used by the test handle.

use serde_json::{Map, Value};

use super::resources::Resource;
use super::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Json,
    Merge,
    Strategic,
    Apply,
}

impl PatchKind {
    pub fn from_content_type(content_type: Option<&str>) -> Result<PatchKind, ApiError> {
        let media = content_type.unwrap_or("").split(';').next().unwrap_or("").trim();
        match media {
            "application/json-patch+json" => Ok(PatchKind::Json),
            "application/merge-patch+json" => Ok(PatchKind::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchKind::Strategic),
            "application/apply-patch+yaml" => Ok(PatchKind::Apply),
            other => Err(ApiError::unsupported_media_type(other)),
        }
    }
}

/// The patched object, or the error the real server gives for this patch.
pub fn apply(kind: PatchKind, current: &Value, body: &[u8]) -> Result<Value, ApiError> {
    let mut doc = current.clone();
    match kind {
        PatchKind::Json => {
            let ops: json_patch::Patch =
                serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            // The real server does not say which operation failed either.
            json_patch::patch(&mut doc, &ops).map_err(|_| ApiError::patch_failed())?;
        }
        PatchKind::Merge | PatchKind::Strategic => {
            let patch: Value =
                serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid patch: {e}")))?;
            if !patch.is_object() {
                return Err(ApiError::bad_request("Invalid JSON Patch"));
            }
            if kind == PatchKind::Merge {
                json_patch::merge(&mut doc, &patch);
            } else {
                merge_by_name(&mut doc, &patch);
            }
        }
        PatchKind::Apply => merge_by_name(&mut doc, &applied_object(body)?),
    }
    Ok(doc)
}

/// Server-side apply puts the atomic fields it lists in whole: what the merge kept of the
/// object's previous keys there is dropped.
pub fn replace_atomic(res: &Resource, doc: &mut Value, applied: &Value) {
    let atomic: &[&str] = match (res.group, res.plural) {
        ("", "services") | ("apps", "deployments") => &["/spec/selector"],
        _ => &[],
    };
    for path in atomic {
        if let (Some(value), Some(slot)) = (applied.pointer(path), doc.pointer_mut(path)) {
            *slot = strip_nulls(value);
        }
    }
}

/// The body of a server-side apply: YAML (JSON is YAML too) with apiVersion and kind.
pub fn applied_object(body: &[u8]) -> Result<Value, ApiError> {
    let obj: Value =
        serde_yaml_ng::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?;
    if !obj.is_object() {
        return Err(ApiError::bad_request("the applied configuration is not an object"));
    }
    for field in ["apiVersion", "kind"] {
        if obj.get(field).and_then(Value::as_str).unwrap_or("").is_empty() {
            return Err(ApiError::bad_request(format!("{field} must be set")));
        }
    }
    Ok(obj)
}

/// A merge patch whose lists of named objects merge element by element (see above).
pub fn merge_by_name(doc: &mut Value, patch: &Value) {
    match (doc, patch) {
        (Value::Object(doc), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    doc.remove(key);
                } else {
                    merge_by_name(doc.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (doc @ Value::Array(_), Value::Array(patch)) if named(patch) && doc.as_array().is_some_and(|d| named(d)) => {
            let list = doc.as_array_mut().expect("matched an array");
            for element in patch {
                let name = &element["name"];
                let at = list.iter().position(|e| &e["name"] == name);
                let delete = element.get("$patch").and_then(Value::as_str) == Some("delete");
                match (at, delete) {
                    (Some(i), true) => {
                        list.remove(i);
                    }
                    (Some(i), false) => merge_by_name(&mut list[i], element),
                    (None, false) => list.push(element.clone()),
                    (None, true) => {}
                }
            }
        }
        (doc, patch) => *doc = strip_nulls(patch),
    }
}

fn named(list: &[Value]) -> bool {
    !list.is_empty() && list.iter().all(|e| e.get("name").is_some_and(Value::is_string))
}

/// A value put in whole by a merge: nulls inside it mean "absent", as in RFC 7386.
fn strip_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip_nulls(v))).collect())
        }
        other => other.clone(),
    }
}

/// The merge patch `kubectl apply` sends: the new configuration, plus a null for every
/// field the previously applied configuration had and the new one dropped. Fields
/// nobody applied (a controller's annotations, status) are left alone.
pub fn three_way(previous: &Value, new: &Value) -> Value {
    let (Value::Object(previous), Value::Object(new)) = (previous, new) else { return new.clone() };
    let mut patch = Map::new();
    for (key, value) in new {
        let before = previous.get(key).unwrap_or(&Value::Null);
        let merged = if value.is_object() && before.is_object() { three_way(before, value) } else { value.clone() };
        patch.insert(key.clone(), merged);
    }
    for key in previous.keys().filter(|k| !new.contains_key(*k)) {
        patch.insert(key.clone(), Value::Null);
    }
    Value::Object(patch)
}
