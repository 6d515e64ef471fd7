//! serin's shipped RBAC as data, and Kubernetes API requests as RBAC sees them.
//!
//! [`from_rendered`] reads the ClusterRoles and Roles bound to the ServiceAccount
//! `serin-system/serin` out of rendered manifests (`kubectl kustomize deploy/base`);
//! [`verb_of`] maps an HTTP request to the API server to its RBAC attributes the way the
//! API server's RequestInfo does; [`Rules::allows`] answers whether the bindings grant
//! it. With them a test can assert that every request the real daemon makes (e.g. as
//! recorded by the fake API server) is allowed by what we ship:
//!
//! ```ignore
//! let rules = rbac::from_rendered(&rendered_base);
//! for (method, path, query) in recorded {
//!     if let Some(request) = rbac::request_of(method, path, query) {
//!         assert!(rules.allows_request(&request), "{method} {path}?{query} is forbidden");
//!     }
//! }
//! ```
#![allow(dead_code)] // each test binary that includes this module uses part of it

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::Value;

/// The ServiceAccount serin runs as, and the namespace its Role rules apply in.
pub const NAMESPACE: &str = "serin-system";
pub const SERVICE_ACCOUNT: &str = "serin";

/// One RBAC PolicyRule (resource rules only: serin has no nonResourceURLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub verbs: Vec<String>,
    pub resource_names: Vec<String>,
}

/// What serin's ServiceAccount is granted: ClusterRole rules bound cluster-wide, and
/// rules bound by RoleBindings, which apply only in the binding's namespace.
#[derive(Debug, Default, Clone)]
pub struct Rules {
    pub cluster: Vec<Rule>,
    /// (namespace of the RoleBinding, rule)
    pub namespaced: Vec<(String, Rule)>,
}

/// One request as the API server's authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub verb: String,
    /// "" for the core group.
    pub group: String,
    /// Plural, with "/subresource" when there is one (e.g. "deployments/status").
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

/// The ClusterRole and Role rules bound to `serin-system/serin` in `yaml_docs`.
pub fn from_rendered(yaml_docs: &str) -> Rules {
    let docs: Vec<Value> = serde_yaml_ng::Deserializer::from_str(yaml_docs)
        .map(|doc| Value::deserialize(doc).expect("rendered manifests are YAML"))
        .filter(|doc| !doc.is_null())
        .collect();
    let find = |kind: &str, name: &str, namespace: Option<&str>| -> Vec<Rule> {
        let role = docs
            .iter()
            .find(|d| {
                d["kind"] == kind && d["metadata"]["name"] == name && namespace.is_none_or(|ns| namespace_of(d) == ns)
            })
            .unwrap_or_else(|| panic!("a binding names {kind} {name}, which is not in the manifests"));
        role["rules"].as_array().into_iter().flatten().map(rule).collect()
    };
    let mut rules = Rules::default();
    for binding in docs.iter().filter(|d| binds_serin(d)) {
        let (kind, name) = (str_of(&binding["roleRef"]["kind"]), str_of(&binding["roleRef"]["name"]));
        match str_of(&binding["kind"]) {
            "ClusterRoleBinding" => rules.cluster.extend(find(kind, name, None)),
            _ => {
                let ns = namespace_of(binding).to_string();
                let role_ns = if kind == "Role" { Some(ns.as_str()) } else { None };
                rules.namespaced.extend(find(kind, name, role_ns).into_iter().map(|r| (ns.clone(), r)));
            }
        }
    }
    rules
}

fn binds_serin(doc: &Value) -> bool {
    matches!(doc["kind"].as_str(), Some("ClusterRoleBinding" | "RoleBinding"))
        && doc["subjects"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["kind"] == "ServiceAccount" && s["name"] == SERVICE_ACCOUNT && s["namespace"] == NAMESPACE)
}

fn namespace_of(doc: &Value) -> &str {
    doc["metadata"]["namespace"].as_str().unwrap_or("default")
}

fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

fn rule(value: &Value) -> Rule {
    let list = |key: &str| -> Vec<String> {
        value[key].as_array().into_iter().flatten().map(|v| str_of(v).to_string()).collect()
    };
    Rule {
        api_groups: list("apiGroups"),
        resources: list("resources"),
        verbs: list("verbs"),
        resource_names: list("resourceNames"),
    }
}

impl Rule {
    /// RBAC's rule match (rbac/v1 RuleAllows), with the name when the request has one.
    fn allows(&self, request: &Request, check_names: bool) -> bool {
        let has = |list: &[String], wanted: &str| list.iter().any(|x| x == "*" || x == wanted);
        let resource_matches = self.resources.iter().any(|r| {
            r == "*"
                || *r == request.resource
                || r.strip_prefix("*/")
                    .is_some_and(|sub| request.resource.split_once('/').is_some_and(|(_, s)| s == sub))
        });
        let name_matches = !check_names
            || self.resource_names.is_empty()
            || request.name.as_ref().is_some_and(|n| self.resource_names.contains(n));
        has(&self.verbs, &request.verb) && has(&self.api_groups, &request.group) && resource_matches && name_matches
    }
}

impl Rules {
    /// Whether `verb` on `group`/`resource` in `namespace` (None: cluster-scoped) is
    /// granted. The request's object name is not known here, so resourceNames are not
    /// checked: [`Rules::allows_request`] checks them.
    pub fn allows(&self, verb: &str, group: &str, resource: &str, namespace: Option<&str>) -> bool {
        let request = Request {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            namespace: namespace.map(Into::into),
            name: None,
        };
        self.grants(&request, false)
    }

    /// Whether `request` is granted, resourceNames included: a rule restricted to names
    /// never grants a request without a name (list, watch of a collection, create).
    pub fn allows_request(&self, request: &Request) -> bool {
        self.grants(request, true)
    }

    fn grants(&self, request: &Request, check_names: bool) -> bool {
        self.cluster.iter().any(|r| r.allows(request, check_names))
            || self
                .namespaced
                .iter()
                .any(|(ns, r)| request.namespace.as_deref() == Some(ns) && r.allows(request, check_names))
    }

    /// Every grant flattened to (scope, group, resource, verb, resourceName or "*"), scope
    /// being "cluster" or the RoleBinding's namespace: easy to compare with a table.
    pub fn flattened(&self) -> BTreeSet<(String, String, String, String, String)> {
        let scoped = self.cluster.iter().map(|r| ("cluster".to_string(), r));
        let scoped = scoped.chain(self.namespaced.iter().map(|(ns, r)| (ns.clone(), r)));
        let mut out = BTreeSet::new();
        for (scope, rule) in scoped {
            let names =
                if rule.resource_names.is_empty() { vec!["*".to_string()] } else { rule.resource_names.clone() };
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    for verb in &rule.verbs {
                        for name in &names {
                            out.insert((scope.clone(), group.clone(), resource.clone(), verb.clone(), name.clone()));
                        }
                    }
                }
            }
        }
        out
    }
}

/// (verb, API group — "" for core —, resource plural, namespace) of an API request, or
/// None for discovery and other non-resource paths (`/api`, `/apis/apps/v1`, `/version`,
/// `/openapi/v3`, `/healthz`). `path` may carry its query after a `?`; `query` is the rest.
pub fn verb_of(method: &str, path: &str, query: &str) -> Option<(String, String, String, Option<String>)> {
    request_of(method, path, query).map(|r| (r.verb, r.group, r.resource, r.namespace))
}

/// The full request, object name included (the API server's RequestInfo).
pub fn request_of(method: &str, path: &str, query: &str) -> Option<Request> {
    let (path, inline_query) = path.split_once('?').unwrap_or((path, ""));
    let params: Vec<(String, String)> = [inline_query, query.trim_start_matches('?')]
        .iter()
        .flat_map(|q| q.split('&'))
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let param = |key: &str| params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());

    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return None, // not a resource path
    };
    let mut verb = match method.to_ascii_uppercase().as_str() {
        "GET" | "HEAD" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => return None,
    };
    // The deprecated /api/v1/watch/... form.
    let rest = match rest {
        ["watch", rest @ ..] => {
            verb = "watch";
            rest
        }
        other => other,
    };
    if rest.is_empty() {
        return None; // /api/v1, /apis/apps/v1: discovery
    }
    let mut namespace = None;
    let mut rest = rest;
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = Some(rest[1].to_string());
        // /namespaces/{ns}/status and /finalize are the Namespace's own subresources.
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    let resource = match rest {
        [resource, _name, sub, ..] => format!("{resource}/{sub}"),
        [resource, ..] => resource.to_string(),
        [] => return None,
    };
    let mut name = rest.get(1).map(|n| n.to_string());
    if name.is_none() && verb == "get" {
        let watch = param("watch").is_some_and(|w| w.eq_ignore_ascii_case("true") || w == "1");
        verb = if watch { "watch" } else { "list" };
    }
    if name.is_none() && verb == "delete" {
        verb = "deletecollection";
    }
    // A list or watch narrowed to one name by fieldSelector is authorized with that name.
    if name.is_none() && matches!(verb, "list" | "watch") {
        name = param("fieldSelector")
            .and_then(|s| s.strip_prefix("metadata.name==").or_else(|| s.strip_prefix("metadata.name=")))
            .filter(|n| !n.contains(','))
            .map(str::to_string);
    }
    Some(Request { verb: verb.into(), group: group.into(), resource, namespace, name })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (b, _) => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Panics listing every request of `recorded` (method, path, query) that `rules` do not
/// grant. The daemon under test ran in `own_namespace` (its kubeconfig's), which stands
/// for `serin-system` where the shipped Role grants the Lease.
pub fn assert_all_allowed<'a>(
    rules: &Rules,
    recorded: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    own_namespace: &str,
) {
    let mut forbidden = BTreeSet::new();
    let mut checked = 0;
    for (method, path, query) in recorded {
        let Some(mut request) = request_of(method, path, query) else { continue };
        if request.namespace.as_deref() == Some(own_namespace) && request.resource == "leases" {
            request.namespace = Some("serin-system".into());
        }
        checked += 1;
        if !rules.allows_request(&request) {
            forbidden.insert(format!("{method} {path}?{query}"));
        }
    }
    assert!(checked > 0, "no requests to check");
    assert!(
        forbidden.is_empty(),
        "the shipped RBAC forbids requests serin made:\n{}",
        forbidden.into_iter().collect::<Vec<_>>().join("\n")
    );
}

/// [`assert_all_allowed`] against both shipped installs, cluster-wide (`deploy/base`) and
/// namespaced (`deploy/overlays/namespaced`, which lists the rigs' namespace `production`),
/// for a daemon that ran in the namespace `default`. Needs `mod manifests;` beside it.
pub fn assert_both_installs_allow<'a>(recorded: impl IntoIterator<Item = (&'a str, &'a str, &'a str)> + Clone) {
    for install in ["deploy/base", "deploy/overlays/namespaced"] {
        assert_all_allowed(&from_rendered(&crate::manifests::render(install)), recorded.clone(), "default");
    }
}
