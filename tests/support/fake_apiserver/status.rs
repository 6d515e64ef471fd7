//! Errors as the API server reports them: `Status` objects with the same code, reason,
//! message wording and details, so `kube::Error::Api` and its helpers (`is_not_found`,
//! ...) behave as against a real cluster, and so messages in test failures read like
//! the ones operators will see.

use serde_json::{Value, json};

use super::resources::Resource;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Value,
}

/// One problem found by validation, formatted like apimachinery's `field.Error`.
#[derive(Debug, Clone)]
pub struct FieldError {
    pub field: String,
    /// The cause type (`FieldValueInvalid`, ...) and the words that open its message.
    pub kind: (&'static str, &'static str),
    /// The offending value, already rendered; None for "Required value" and the like.
    pub value: Option<String>,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: &str, detail: &str) -> Self {
        Self::new(field, ("FieldValueRequired", "Required value"), None, detail)
    }

    pub fn invalid(field: &str, value: &Value, detail: &str) -> Self {
        Self::new(field, ("FieldValueInvalid", "Invalid value"), Some(value.to_string()), detail)
    }

    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self::new(field, ("FieldValueForbidden", "Forbidden"), None, detail)
    }

    pub fn not_supported(field: &str, value: &Value, supported: &[&str]) -> Self {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        let detail = format!("supported values: {}", list.join(", "));
        Self::new(field, ("FieldValueNotSupported", "Unsupported value"), Some(value.to_string()), &detail)
    }

    pub fn too_many(field: &str, actual: usize, max: usize) -> Self {
        let detail = format!("must have at most {max} items");
        Self::new(field, ("FieldValueTooMany", "Too many"), Some(actual.to_string()), &detail)
    }

    pub fn too_long(field: &str, max: usize) -> Self {
        let detail = format!("may not be more than {max} bytes");
        Self::new(field, ("FieldValueTooLong", "Too long"), None, &detail)
    }

    fn new(field: &str, kind: (&'static str, &'static str), value: Option<String>, detail: &str) -> Self {
        FieldError { field: field.to_string(), kind, value, detail: detail.to_string() }
    }

    /// `spec.replicas: Invalid value: -1: must be greater than or equal to 0`
    fn message(&self) -> String {
        format!("{}: {}", self.field, self.body())
    }

    /// The message without the field, as a `Status` cause carries it.
    fn body(&self) -> String {
        let mut text = self.kind.1.to_string();
        if let Some(value) = &self.value {
            text += &format!(": {value}");
        }
        if !self.detail.is_empty() {
            text += &format!(": {}", self.detail);
        }
        text
    }
}

/// The answer to a DELETE that removed the object at once, for most resources.
pub fn deleted(res: &Resource, obj: &Value) -> Value {
    let name = obj.pointer("/metadata/name").cloned().unwrap_or_default();
    let mut details = ApiError::details(res, name.as_str().unwrap_or(""), res.plural);
    details["uid"] = obj.pointer("/metadata/uid").cloned().unwrap_or_default();
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details })
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String, details: Value) -> Self {
        ApiError { code, reason, message, details }
    }

    fn details(res: &Resource, name: &str, kind: &str) -> Value {
        let mut details = json!({ "name": name, "kind": kind });
        if !res.group.is_empty() {
            details["group"] = json!(res.group);
        }
        details
    }

    pub fn not_found(res: &Resource, name: &str) -> Self {
        let message = format!("{} {name:?} not found", res.qualified());
        Self::new(404, "NotFound", message, Self::details(res, name, res.plural))
    }

    pub fn already_exists(res: &Resource, name: &str) -> Self {
        let message = format!("{} {name:?} already exists", res.qualified());
        Self::new(409, "AlreadyExists", message, Self::details(res, name, res.plural))
    }

    /// The optimistic-concurrency failure, worded as the real server words it.
    pub fn conflict(res: &Resource, name: &str, why: &str) -> Self {
        let message = format!("Operation cannot be fulfilled on {} {name:?}: {why}", res.qualified());
        Self::new(409, "Conflict", message, Self::details(res, name, res.plural))
    }

    pub fn stale(res: &Resource, name: &str) -> Self {
        let why = "the object has been modified; please apply your changes to the latest version and try again";
        Self::conflict(res, name, why)
    }

    pub fn invalid(res: &Resource, name: &str, errors: &[FieldError]) -> Self {
        Self::invalid_kind(&res.qualified_kind(), res.group, res.kind, name, errors)
    }

    /// 422 for a kind outside the resource table (`ListOptions.meta.k8s.io`).
    pub fn invalid_kind(qualified: &str, group: &str, kind: &str, name: &str, errors: &[FieldError]) -> Self {
        let messages: Vec<String> = errors.iter().map(FieldError::message).collect();
        let listed = if messages.len() == 1 { messages[0].clone() } else { format!("[{}]", messages.join(", ")) };
        let message = format!("{qualified} {name:?} is invalid: {listed}");
        let causes: Vec<Value> =
            errors.iter().map(|e| json!({ "reason": e.kind.0, "message": e.body(), "field": e.field })).collect();
        let mut details = json!({ "name": name, "kind": kind, "causes": causes });
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(422, "Invalid", message, details)
    }

    /// What the real server answers when a JSON patch cannot be applied (a failed
    /// `test`, a missing path): a generic 422 that does not say which operation failed.
    pub fn patch_failed() -> Self {
        let message = "the server rejected our request due to an error in our request".to_string();
        Self::new(422, "Invalid", message, json!({}))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), Value::Null)
    }

    /// A body that does not decode into the resource's type (wrong field types).
    pub fn undecodable(res: &Resource, why: &str) -> Self {
        let kind = res.kind;
        Self::bad_request(format!("{kind} in version {:?} cannot be handled as a {kind}: {why}", res.version))
    }

    /// A watch or list from a resourceVersion older than the retained history.
    pub fn expired(asked: u64, oldest: u64) -> Self {
        Self::new(410, "Expired", format!("too old resource version: {asked} ({oldest})"), Value::Null)
    }

    pub fn method_not_allowed() -> Self {
        let message = "the server does not allow this method on the requested resource".to_string();
        Self::new(405, "MethodNotAllowed", message, Value::Null)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        let message = format!(
            "the body of the request was in an unknown format ({content_type:?}) - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
        );
        Self::new(415, "UnsupportedMediaType", message, Value::Null)
    }

    pub fn path_not_found() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource".to_string(), json!({}))
    }

    pub fn internal(why: &str) -> Self {
        Self::new(500, "InternalError", format!("Internal error occurred: {why}"), Value::Null)
    }

    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }
}
