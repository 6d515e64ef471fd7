//! Small helpers over untyped Kubernetes objects (`serde_json::Value`): metadata access,
//! timestamps, uids and generated names, so the rest of the server reads like the API
//! conventions rather than like JSON plumbing.

use serde_json::{Map, Value};

/// A string field of `metadata`, "" when absent (the API server treats both alike).
pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.pointer(&format!("/metadata/{field}")).and_then(Value::as_str).unwrap_or("")
}

/// Sets (or with `Value::Null`, removes) a `metadata` field, creating `metadata` if needed.
pub fn set_meta(obj: &mut Value, field: &str, value: Value) {
    let Some(root) = obj.as_object_mut() else { return };
    let meta = root.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let meta = meta.as_object_mut().expect("metadata was just made an object");
    if value.is_null() {
        meta.remove(field);
    } else {
        meta.insert(field.to_string(), value);
    }
}

/// `metadata.labels` as pairs; non-string values are rejected earlier by validation.
pub fn labels(obj: &Value) -> Map<String, Value> {
    obj.pointer("/metadata/labels").and_then(Value::as_object).cloned().unwrap_or_default()
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    let list = obj.pointer("/metadata/finalizers").and_then(Value::as_array);
    list.map(|l| l.iter().filter_map(|f| f.as_str().map(str::to_string)).collect()).unwrap_or_default()
}

pub fn being_deleted(obj: &Value) -> bool {
    !meta_str(obj, "deletionTimestamp").is_empty()
}

/// The uids this object names in `metadata.ownerReferences`.
pub fn owner_uids(obj: &Value) -> Vec<String> {
    let refs = obj.pointer("/metadata/ownerReferences").and_then(Value::as_array);
    let uid = |r: &Value| r.get("uid").and_then(Value::as_str).map(str::to_string);
    refs.map(|l| l.iter().filter_map(uid).collect()).unwrap_or_default()
}

/// RFC 3339 at second precision, the format of `metav1.Time`.
pub fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A random version-4 UUID, the shape real uids have.
pub fn new_uid() -> String {
    let bits = (rand::random::<u128>() & !(0xf000_u128 << 64)) | (0x4000_u128 << 64);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The alphabet the API server uses for generated names and hashes: no vowels (no
/// accidental words) and no look-alike characters.
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A `generateName` suffix: five safe characters, as the real server appends.
pub fn random_suffix() -> String {
    (0..5).map(|_| SAFE[rand::random_range(0..SAFE.len())] as char).collect()
}

/// A stable short hash of a JSON value in the safe alphabet, like `pod-template-hash`.
/// `serde_json` maps are sorted, so equal values always hash alike.
pub fn safe_hash(value: &Value) -> String {
    // FNV-1a: tiny, stable across runs and platforms (std's hasher is neither guaranteed).
    let mut h: u32 = 0x811c_9dc5;
    for byte in value.to_string().bytes() {
        h = (h ^ u32::from(byte)).wrapping_mul(0x0100_0193);
    }
    let mut out = String::new();
    while h > 0 || out.is_empty() {
        out.push(SAFE[(h % SAFE.len() as u32) as usize] as char);
        h /= SAFE.len() as u32;
    }
    out
}

/// `a.b.c` lookup of a string-ish field, "" when absent, as field selectors see objects.
pub fn field_value(obj: &Value, path: &str) -> String {
    let pointer = format!("/{}", path.replace('.', "/"));
    match obj.pointer(&pointer) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}
