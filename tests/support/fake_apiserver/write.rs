//! The write verbs with the API server's rules: create (names, stamping, 409 on an
//! existing name), update (optimistic concurrency, system fields kept, status as a
//! subresource, generation, no-op writes that change nothing), patch (a resourceVersion
//! in the patched result is a precondition) and delete (preconditions, finalizers).

use serde_json::{Value, json};

use super::defaults;
use super::object::{being_deleted, finalizers, meta_str, new_uid, now_rfc3339, random_suffix, set_meta};
use super::patch::{self, PatchKind};
use super::resources::Resource;
use super::status::{ApiError, FieldError};
use super::store::{Store, key};
use super::validate::validate;

/// Which part of the object a write may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The main resource: everything but `status` (for types with a status subresource).
    Main,
    /// The `status` subresource: only `status`.
    Status,
}

/// Metadata the server owns: an update or patch cannot change these.
const SYSTEM_FIELDS: &[&str] =
    &["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "resourceVersion"];

impl Store {
    pub fn create(
        &mut self,
        res: &'static Resource,
        ns: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        check_body(res, &mut obj, ns)?;
        if !meta_str(&obj, "resourceVersion").is_empty() {
            return Err(ApiError::internal("resourceVersion should not be set on objects to be created"));
        }
        if meta_str(&obj, "name").is_empty() {
            let prefix = meta_str(&obj, "generateName").to_string();
            if prefix.is_empty() {
                let error = FieldError::required("metadata.name", "name or generateName is required");
                return Err(ApiError::invalid(res, "", &[error]));
            }
            // Like the real server, a clash of generated names is a 409 the client may
            // retry; a few draws make one practically impossible here.
            let mut name = format!("{prefix}{}", random_suffix());
            for _ in 0..8 {
                if self.get(res, ns, &name).is_none() {
                    break;
                }
                name = format!("{prefix}{}", random_suffix());
            }
            set_meta(&mut obj, "name", json!(name));
        }
        let name = meta_str(&obj, "name").to_string();
        if self.get(res, ns, &name).is_some() {
            return Err(ApiError::already_exists(res, &name));
        }
        for field in ["deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
            set_meta(&mut obj, field, Value::Null);
        }
        set_meta(&mut obj, "uid", json!(new_uid()));
        set_meta(&mut obj, "creationTimestamp", json!(now_rfc3339()));
        set_meta(&mut obj, "generation", json!(1));
        if res.has_status {
            // Status is the controllers' to write: whatever the client sent is dropped.
            obj.as_object_mut().expect("checked to be an object").remove("status");
            if res.is("", "pods") {
                obj["status"] = json!({ "phase": "Pending" });
            }
        }
        defaults::apply(res, &mut obj);
        validate(res, &obj, None)?;
        Ok(if dry_run { obj } else { self.commit(res, obj) })
    }

    /// PUT: the whole object, conditional on `metadata.resourceVersion` when it is set.
    pub fn update(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        mut obj: Value,
        part: Part,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let old = self.get(res, ns, name).cloned().ok_or_else(|| ApiError::not_found(res, name))?;
        check_body(res, &mut obj, ns)?;
        let body_name = meta_str(&obj, "name");
        if body_name != name {
            let message = format!("the name of the object ({body_name}) does not match the name on the URL ({name})");
            return Err(ApiError::bad_request(message));
        }
        let wanted = meta_str(&obj, "resourceVersion");
        if !wanted.is_empty() && wanted != meta_str(&old, "resourceVersion") {
            return Err(ApiError::stale(res, name));
        }
        for field in SYSTEM_FIELDS {
            let kept = old.pointer(&format!("/metadata/{field}")).cloned().unwrap_or(Value::Null);
            set_meta(&mut obj, field, kept);
        }
        if part == Part::Status {
            let status = obj.get("status").cloned();
            obj = old.clone();
            set_status(&mut obj, status);
        } else if res.has_status {
            set_status(&mut obj, old.get("status").cloned());
        }
        defaults::apply(res, &mut obj);
        validate(res, &obj, Some(&old))?;
        if generation_changes(res, &old, &obj) {
            let generation = old.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
            set_meta(&mut obj, "generation", json!(generation + 1));
        }
        if obj == old || dry_run {
            // A write that changes nothing is not a write: same resourceVersion, no event.
            return Ok(obj);
        }
        Ok(self.commit(res, obj))
    }

    /// PATCH. Returns the object and whether it was created (server-side apply creates).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        kind: PatchKind,
        body: &[u8],
        field_manager: Option<&str>,
        part: Part,
        dry_run: bool,
    ) -> Result<(Value, bool), ApiError> {
        if kind == PatchKind::Apply && field_manager.unwrap_or("").is_empty() {
            return Err(ApiError::bad_request("PATCH requests with apply must have a fieldManager"));
        }
        let Some(current) = self.get(res, ns, name).cloned() else {
            if kind == PatchKind::Apply && part == Part::Main {
                let mut obj = patch::applied_object(body)?;
                set_meta(&mut obj, "name", json!(name));
                return self.create(res, ns, obj, dry_run).map(|created| (created, true));
            }
            return Err(ApiError::not_found(res, name));
        };
        let mut patched = patch::apply(kind, &current, body)?;
        if kind == PatchKind::Apply {
            patch::replace_atomic(res, &mut patched, &patch::applied_object(body)?);
        }
        // The stored object carries its resourceVersion, so a different one in the
        // result was put there by the patch: a precondition, as on the real server.
        let wanted = meta_str(&patched, "resourceVersion");
        if !wanted.is_empty() && wanted != meta_str(&current, "resourceVersion") {
            return Err(ApiError::stale(res, name));
        }
        self.update(res, ns, name, patched, part, dry_run).map(|obj| (obj, false))
    }

    /// DELETE: at once, or with finalizers, marked (`deletionTimestamp`) until an
    /// update removes the last of them.
    pub fn delete(
        &mut self,
        res: &'static Resource,
        ns: &str,
        name: &str,
        options: &Value,
        dry_run: bool,
    ) -> Result<Value, ApiError> {
        let mut obj = self.get(res, ns, name).cloned().ok_or_else(|| ApiError::not_found(res, name))?;
        for (field, label) in [("uid", "UID"), ("resourceVersion", "ResourceVersion")] {
            let wanted = options.pointer(&format!("/preconditions/{field}")).and_then(Value::as_str);
            let actual = meta_str(&obj, field);
            if let Some(wanted) = wanted.filter(|w| *w != actual) {
                let why =
                    format!("Precondition failed: {label} in precondition: {wanted}, {label} in object meta: {actual}");
                return Err(ApiError::conflict(res, name, &why));
            }
        }
        if dry_run || being_deleted(&obj) {
            return Ok(obj);
        }
        if finalizers(&obj).is_empty() {
            return Ok(self.remove(res, &key(res, ns, name)).expect("the object was just read"));
        }
        let generation = obj.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        set_meta(&mut obj, "deletionTimestamp", json!(now_rfc3339()));
        set_meta(&mut obj, "deletionGracePeriodSeconds", json!(0));
        set_meta(&mut obj, "generation", json!(generation + 1));
        Ok(self.commit(res, obj))
    }

    /// A controller's write (the simulated Deployment controller): no validation and
    /// status included, but stamped, versioned and watched like any other write.
    pub fn write_internal(&mut self, res: &'static Resource, mut obj: Value) -> Value {
        obj["apiVersion"] = json!(res.api_version());
        obj["kind"] = json!(res.kind);
        match self.get(res, meta_str(&obj, "namespace"), meta_str(&obj, "name")).cloned() {
            Some(old) => {
                for field in SYSTEM_FIELDS {
                    set_meta(&mut obj, field, old.pointer(&format!("/metadata/{field}")).cloned().unwrap_or_default());
                }
                if obj == old {
                    return old;
                }
            }
            None => {
                set_meta(&mut obj, "uid", json!(new_uid()));
                set_meta(&mut obj, "creationTimestamp", json!(now_rfc3339()));
                set_meta(&mut obj, "generation", json!(1));
            }
        }
        self.commit(res, obj)
    }
}

fn set_status(obj: &mut Value, status: Option<Value>) {
    let map = obj.as_object_mut().expect("checked to be an object");
    match status {
        Some(status) => map.insert("status".to_string(), status),
        None => map.remove("status"),
    };
}

/// `metadata.generation` counts changes of the desired state: `spec`, and for
/// Deployments also annotations (they are copied to ReplicaSets, so the real
/// Deployment strategy bumps the generation for them too).
fn generation_changes(res: &Resource, old: &Value, new: &Value) -> bool {
    let annotations = |o: &Value| o.pointer("/metadata/annotations").cloned().unwrap_or_default();
    old.get("spec") != new.get("spec") || (res.is("apps", "deployments") && annotations(old) != annotations(new))
}

/// The checks the real server makes while decoding a body: an object of the expected
/// apiVersion and kind, in the namespace of the URL. Fills in what was left out.
fn check_body(res: &Resource, obj: &mut Value, ns: &str) -> Result<(), ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::undecodable(res, "the body is not a JSON object"));
    };
    let api_version = res.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if !v.is_empty() && v != api_version => {
            let message =
                format!("the API version in the data ({v}) does not match the expected API version ({api_version})");
            return Err(ApiError::bad_request(message));
        }
        _ => map.insert("apiVersion".to_string(), json!(api_version)),
    };
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != res.kind => {
            return Err(ApiError::undecodable(res, &format!("the kind in the data ({k}) is not {}", res.kind)));
        }
        _ => map.insert("kind".to_string(), json!(res.kind)),
    };
    let body_ns = meta_str(obj, "namespace");
    if !body_ns.is_empty() && body_ns != ns {
        let message = "the namespace of the provided object does not match the namespace sent on the request";
        return Err(ApiError::bad_request(message));
    }
    set_meta(obj, "namespace", json!(ns));
    Ok(())
}
