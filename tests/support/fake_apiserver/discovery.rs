//! The non-resource endpoints a client may touch first: `/version` (kube's
//! `Client::apiserver_version`), health checks, and legacy discovery (`/api`, `/apis`,
//! `/api/v1`, `/apis/{group}/{version}`), generated from the resource table.

use serde_json::{Value, json};

use super::resources::{RESOURCES, Resource};

/// The answer for a discovery path, or None when the path is not one.
pub fn answer(path: &str) -> Option<Value> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => Some(json!({
            "major": "1",
            "minor": "33",
            "gitVersion": "v1.33.0-fake",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24.0",
            "compiler": "gc",
            "platform": "linux/amd64",
        })),
        ["healthz" | "livez" | "readyz"] => Some(json!("ok")),
        ["api"] => Some(json!({ "kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [] })),
        ["apis"] => Some(groups()),
        ["api", version] => resource_list("", version),
        ["apis", group, version] => resource_list(group, version),
        _ => None,
    }
}

fn groups() -> Value {
    let mut names: Vec<&str> = RESOURCES.iter().map(|r| r.group).filter(|g| !g.is_empty()).collect();
    names.sort_unstable();
    names.dedup();
    let groups: Vec<Value> = names
        .iter()
        .map(|name| {
            let version = json!({ "groupVersion": format!("{name}/v1"), "version": "v1" });
            json!({ "name": name, "versions": [version], "preferredVersion": version })
        })
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

fn resource_list(group: &str, version: &str) -> Option<Value> {
    let of_group: Vec<&Resource> = RESOURCES.iter().filter(|r| r.group == group && r.version == version).collect();
    if of_group.is_empty() {
        return None;
    }
    let verbs = ["create", "delete", "get", "list", "patch", "update", "watch"];
    let mut resources = Vec::new();
    for res in &of_group {
        resources.push(json!({
            "name": res.plural,
            "singularName": res.kind.to_lowercase(),
            "namespaced": true,
            "kind": res.kind,
            "verbs": verbs,
        }));
        if res.has_status {
            let status = format!("{}/status", res.plural);
            resources.push(json!({ "name": status, "singularName": "", "namespaced": true, "kind": res.kind,
                "verbs": ["get", "patch", "update"] }));
        }
    }
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": of_group[0].api_version(),
        "resources": resources,
    }))
}
