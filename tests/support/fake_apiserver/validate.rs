//! Validation, as strict as the real server where a client could get it wrong: object
//! names, finalizers of objects being deleted, apps/v1 Deployments (selector, template
//! labels, replicas, containers, selector immutability), Services (ports), Ingresses
//! (paths and backends) and events.k8s.io Events (required fields, lengths). Problems
//! are 422 Invalid with every field error listed; then the object must decode into its
//! typed form (a wrong field type is a 400, as the real server's decoding makes it).

use serde_json::Value;

use super::object::{being_deleted, finalizers, labels, meta_str};
use super::resources::Resource;
use super::selector::{is_qualified_name, label_selector_matches};
use super::status::{ApiError, FieldError};

type Errors = Vec<FieldError>;

pub fn validate(res: &Resource, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let mut errors = Errors::new();
    name(res, obj, &mut errors);
    if let Some(old) = old.filter(|o| being_deleted(o)) {
        let added: Vec<String> = finalizers(obj).into_iter().filter(|f| !finalizers(old).contains(f)).collect();
        if !added.is_empty() {
            let detail = format!(
                "no new finalizers can be added if the object is being deleted, found new finalizers {added:?}"
            );
            errors.push(FieldError::forbidden("metadata.finalizers", &detail));
        }
    }
    match (res.group, res.plural) {
        ("apps", "deployments") => deployment(obj, old, &mut errors),
        ("", "services") => service(obj, &mut errors),
        ("networking.k8s.io", "ingresses") => ingress(obj, &mut errors),
        ("events.k8s.io", "events") => event(obj, &mut errors),
        ("gateway.networking.k8s.io", "httproutes") => super::httproute::validate(obj, &mut errors),
        _ => {}
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(res, meta_str(obj, "name"), &errors));
    }
    (res.decode)(obj).map_err(|why| ApiError::undecodable(res, &why))
}

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn items<'a>(obj: &'a Value, pointer: &str) -> &'a [Value] {
    obj.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// Names are DNS subdomains (RFC 1123); a Service's name must be a DNS label (RFC 1035)
/// since it becomes a host name.
fn name(res: &Resource, obj: &Value, errors: &mut Errors) {
    let name = meta_str(obj, "name");
    let label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    let (ok, what) = if res.is("", "services") {
        (label(name) && name.starts_with(|c: char| c.is_ascii_lowercase()), "a DNS-1035 label")
    } else {
        (name.len() <= 253 && name.split('.').all(label), "a lowercase RFC 1123 subdomain")
    };
    if !ok {
        let detail = format!("{what} must consist of lower case alphanumeric characters, '-' or '.'");
        errors.push(FieldError::invalid("metadata.name", &Value::from(name), &detail));
    }
}

fn deployment(obj: &Value, old: Option<&Value>, errors: &mut Errors) {
    if let Some(replicas) = obj.pointer("/spec/replicas").and_then(Value::as_i64).filter(|r| *r < 0) {
        errors.push(FieldError::invalid("spec.replicas", &replicas.into(), "must be greater than or equal to 0"));
    }
    match obj.pointer("/spec/selector") {
        None | Some(Value::Null) => errors.push(FieldError::required("spec.selector", "")),
        Some(selector) => {
            let empty = |field: &str| selector.get(field).is_none_or(|v| v.as_object().is_some_and(|m| m.is_empty()));
            let no_expressions = items(selector, "/matchExpressions").is_empty();
            if empty("matchLabels") && no_expressions {
                errors.push(FieldError::invalid("spec.selector", selector, "empty selector is invalid for deployment"));
            } else if !label_selector_matches(selector, &labels(obj.pointer("/spec/template").unwrap_or(&Value::Null)))
            {
                let template_labels = obj.pointer("/spec/template/metadata/labels").cloned().unwrap_or_default();
                let detail = "`selector` does not match template `labels`";
                errors.push(FieldError::invalid("spec.template.metadata.labels", &template_labels, detail));
            }
            if old.and_then(|o| o.pointer("/spec/selector")).is_some_and(|s| s != selector) {
                errors.push(FieldError::invalid("spec.selector", selector, "field is immutable"));
            }
        }
    }
    let strategy = obj.pointer("/spec/strategy/type").cloned().unwrap_or_default();
    if !["RollingUpdate", "Recreate"].iter().any(|s| strategy == *s) {
        errors.push(FieldError::not_supported("spec.strategy.type", &strategy, &["Recreate", "RollingUpdate"]));
    }
    let restart = obj.pointer("/spec/template/spec/restartPolicy").cloned().unwrap_or_default();
    if restart != "Always" {
        errors.push(FieldError::not_supported("spec.template.spec.restartPolicy", &restart, &["Always"]));
    }
    let containers = items(obj, "/spec/template/spec/containers");
    if containers.is_empty() {
        errors.push(FieldError::required("spec.template.spec.containers", ""));
    }
    for (i, container) in containers.iter().enumerate() {
        for field in ["name", "image"] {
            if str_at(container, &format!("/{field}")).is_empty() {
                errors.push(FieldError::required(&format!("spec.template.spec.containers[{i}].{field}"), ""));
            }
        }
    }
}

fn service(obj: &Value, errors: &mut Errors) {
    let kind = obj.pointer("/spec/type").cloned().unwrap_or_default();
    if !["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"].iter().any(|t| kind == *t) {
        let supported = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
        errors.push(FieldError::not_supported("spec.type", &kind, &supported));
    }
    let ports = items(obj, "/spec/ports");
    let headless = str_at(obj, "/spec/clusterIP") == "None";
    if ports.is_empty() && kind != "ExternalName" && !headless {
        errors.push(FieldError::required("spec.ports", ""));
    }
    for (i, port) in ports.iter().enumerate() {
        let number = port.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !(1..=65535).contains(&number) {
            let value = port.get("port").cloned().unwrap_or_default();
            errors.push(FieldError::invalid(
                &format!("spec.ports[{i}].port"),
                &value,
                "must be between 1 and 65535, inclusive",
            ));
        }
        if ports.len() > 1 && str_at(port, "/name").is_empty() {
            errors.push(FieldError::required(&format!("spec.ports[{i}].name"), ""));
        }
    }
}

fn ingress(obj: &Value, errors: &mut Errors) {
    let rules = items(obj, "/spec/rules");
    if rules.is_empty() && obj.pointer("/spec/defaultBackend").is_none() {
        let spec = obj.get("spec").cloned().unwrap_or_default();
        errors.push(FieldError::invalid("spec", &spec, "either `defaultBackend` or `rules` must be specified"));
    }
    for (i, rule) in rules.iter().enumerate() {
        for (j, path) in items(rule, "/http/paths").iter().enumerate() {
            let at = format!("spec.rules[{i}].http.paths[{j}]");
            let path_type = path.get("pathType").cloned().unwrap_or_default();
            match path_type.as_str() {
                None => errors.push(FieldError::required(&format!("{at}.pathType"), "pathType must be specified")),
                Some("Exact" | "Prefix") if !str_at(path, "/path").starts_with('/') => {
                    let value = path.get("path").cloned().unwrap_or_default();
                    errors.push(FieldError::invalid(&format!("{at}.path"), &value, "must be an absolute path"));
                }
                Some("Exact" | "Prefix" | "ImplementationSpecific") => {}
                Some(_) => {
                    let supported = ["Exact", "ImplementationSpecific", "Prefix"];
                    errors.push(FieldError::not_supported(&format!("{at}.pathType"), &path_type, &supported));
                }
            }
            let service = path.pointer("/backend/service");
            if service.is_none() && path.pointer("/backend/resource").is_none() {
                errors.push(FieldError::invalid(
                    &format!("{at}.backend"),
                    &Value::Null,
                    "one backend must be specified",
                ));
            }
            if let Some(service) = service {
                if str_at(service, "/name").is_empty() {
                    errors.push(FieldError::required(&format!("{at}.backend.service.name"), ""));
                }
                if service.pointer("/port/number").is_none() && str_at(service, "/port/name").is_empty() {
                    let port = service.get("port").cloned().unwrap_or_default();
                    let detail = "port name or number is required";
                    errors.push(FieldError::invalid(&format!("{at}.backend.service.port"), &port, detail));
                }
            }
        }
    }
}

/// events.k8s.io/v1 rules for new-style events, as `kube::runtime::events` writes them.
fn event(obj: &Value, errors: &mut Errors) {
    if str_at(obj, "/eventTime").is_empty() {
        errors.push(FieldError::required("eventTime", ""));
    }
    let kind = obj.get("type").cloned().unwrap_or_default();
    if kind != "Normal" && kind != "Warning" {
        errors.push(FieldError::invalid("type", &kind, "has invalid value, must be Normal or Warning"));
    }
    let controller = str_at(obj, "/reportingController");
    if controller.is_empty() {
        errors.push(FieldError::required("reportingController", ""));
    } else if !is_qualified_name(controller) {
        let detail = "must be a qualified name: alphanumerics, '-', '_' or '.', with an optional DNS prefix and '/'";
        errors.push(FieldError::invalid("reportingController", &controller.into(), detail));
    }
    for (field, max) in [("reportingInstance", 128), ("action", 128), ("reason", 128)] {
        let value = str_at(obj, &format!("/{field}"));
        if value.is_empty() {
            errors.push(FieldError::required(field, ""));
        } else if value.len() > max {
            errors.push(FieldError::too_long(field, max));
        }
    }
    if str_at(obj, "/note").len() > 1024 {
        errors.push(FieldError::too_long("note", 1024));
    }
}
