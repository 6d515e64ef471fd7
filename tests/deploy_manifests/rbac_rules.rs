//! The shipped RBAC (deploy/base/rbac.yaml) is exactly what serin uses: pinned as a table,
//! checked against the requests serin's code makes (and some it must not be able to make)
//! through `support/rbac.rs`, whose request mapping is tested here on real paths.

use std::collections::BTreeSet;

use crate::NAMESPACE;
use crate::manifests::render;
use crate::rbac;

#[test]
fn rbac_is_exactly_what_serin_uses() {
    let rules = rbac::from_rendered(&render("deploy/base"));
    type Grant = (String, String, String, String, String);
    let cluster = |group: &str, resource: &str, verbs: &[&str]| -> Vec<Grant> {
        verbs.iter().map(|v| ("cluster".into(), group.into(), resource.into(), v.to_string(), "*".into())).collect()
    };
    let mut expected: BTreeSet<Grant> = BTreeSet::new();
    expected.extend(cluster("apps", "deployments", &["get", "list", "watch", "patch", "update"]));
    expected.extend(cluster("apps", "deployments/finalizers", &["update"]));
    expected.extend(cluster("", "services", &["get", "list", "watch", "create", "patch"]));
    expected.extend(cluster(
        "networking.k8s.io",
        "ingresses",
        &["get", "list", "watch", "create", "patch", "update", "delete"],
    ));
    expected.extend(cluster("gateway.networking.k8s.io", "httproutes", &["get", "list", "watch", "patch"]));
    expected.extend(cluster("", "pods", &["list"]));
    expected.extend(cluster("events.k8s.io", "events", &["create"]));
    expected.extend(cluster("", "configmaps", &["create"]));
    expected.extend(
        ["get", "patch"].map(|v| ("cluster".into(), "".into(), "configmaps".into(), v.into(), "serin-memory".into())),
    );
    let lease = |verb: &str, name: &str| {
        (NAMESPACE.into(), "coordination.k8s.io".into(), "leases".into(), verb.into(), name.into())
    };
    expected.insert(lease("create", "*"));
    expected.extend(["get", "update"].map(|v| lease(v, "serin-leader")));
    assert_eq!(rules.flattened(), expected);
    for dir in ["deploy/overlays/dev", "deploy/overlays/prod"] {
        assert_eq!(rbac::from_rendered(&render(dir)).flattened(), expected, "{dir} keeps the base's RBAC");
    }
}

#[test]
fn rbac_allows_every_request_serin_makes_and_nothing_else() {
    let rules = rbac::from_rendered(&render("deploy/base"));
    let allowed = [
        ("GET", "/apis/apps/v1/deployments?watch=true&resourceVersion=1&allowWatchBookmarks=true"),
        ("GET", "/apis/apps/v1/namespaces/production/deployments"),
        ("GET", "/apis/apps/v1/namespaces/production/deployments/sark"),
        ("PATCH", "/apis/apps/v1/namespaces/production/deployments/sark-canary"),
        ("PUT", "/apis/apps/v1/namespaces/production/deployments/sark"),
        ("GET", "/api/v1/services?limit=500"),
        ("POST", "/api/v1/namespaces/production/services"),
        ("PATCH", "/api/v1/namespaces/production/services/sark"),
        ("GET", "/apis/networking.k8s.io/v1/ingresses?watch=1"),
        ("POST", "/apis/networking.k8s.io/v1/namespaces/production/ingresses"),
        ("PUT", "/apis/networking.k8s.io/v1/namespaces/production/ingresses/sark-canary"),
        ("DELETE", "/apis/networking.k8s.io/v1/namespaces/production/ingresses/sark-canary"),
        ("GET", "/apis/gateway.networking.k8s.io/v1/httproutes?watch=true&resourceVersion=7"),
        ("GET", "/apis/gateway.networking.k8s.io/v1/namespaces/production/httproutes/sark"),
        ("PATCH", "/apis/gateway.networking.k8s.io/v1/namespaces/production/httproutes/sark"),
        ("GET", "/api/v1/namespaces/production/pods?labelSelector=app%3Dsark%2Cversion%3Dgreen"),
        ("POST", "/apis/events.k8s.io/v1/namespaces/production/events"),
        ("GET", "/api/v1/namespaces/production/configmaps/serin-memory"),
        ("PATCH", "/api/v1/namespaces/production/configmaps/serin-memory"),
        ("POST", "/api/v1/namespaces/production/configmaps"),
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases"),
        ("GET", "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases/serin-leader"),
        ("PUT", "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases/serin-leader"),
    ];
    for (method, path) in allowed {
        let request = rbac::request_of(method, path, "").unwrap();
        assert!(rules.allows_request(&request), "{method} {path} must be allowed: {request:?}");
    }
    let forbidden = [
        ("GET", "/api/v1/namespaces/production/secrets/sark-tls"),
        ("GET", "/api/v1/namespaces/production/configmaps/other"),
        ("PATCH", "/api/v1/namespaces/production/configmaps/serin-templates"),
        ("GET", "/api/v1/namespaces/production/pods/sark-1"),
        ("POST", "/api/v1/namespaces/production/pods/sark-1/exec"),
        ("DELETE", "/apis/apps/v1/namespaces/production/deployments/sark"),
        ("POST", "/apis/apps/v1/namespaces/production/deployments"),
        ("PUT", "/apis/apps/v1/namespaces/production/deployments/sark/scale"),
        ("DELETE", "/api/v1/namespaces/production/services/sark"),
        ("DELETE", "/apis/networking.k8s.io/v1/namespaces/production/ingresses"),
        ("POST", "/api/v1/namespaces/production/events"),
        ("PUT", "/apis/gateway.networking.k8s.io/v1/namespaces/production/httproutes/sark"),
        ("DELETE", "/apis/gateway.networking.k8s.io/v1/namespaces/production/httproutes/sark"),
        ("POST", "/apis/gateway.networking.k8s.io/v1/namespaces/production/httproutes"),
        ("PATCH", "/apis/gateway.networking.k8s.io/v1/namespaces/production/httproutes/sark/status"),
        ("PATCH", "/apis/gateway.networking.k8s.io/v1/namespaces/production/gateways/public"),
        ("GET", "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases/other"),
        ("GET", "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases"),
        ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases"),
        ("PATCH", "/apis/coordination.k8s.io/v1/namespaces/production/leases/serin-leader"),
        ("PATCH", "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases/serin-leader"),
        ("PATCH", "/apis/events.k8s.io/v1/namespaces/production/events/sark-canary.1"),
    ];
    for (method, path) in forbidden {
        let request = rbac::request_of(method, path, "").unwrap();
        assert!(!rules.allows_request(&request), "{method} {path} must be forbidden: {request:?}");
    }
    // Without a name, resourceNames are not checked; the namespace still is.
    assert!(rules.allows("get", "coordination.k8s.io", "leases", Some(NAMESPACE)));
    assert!(!rules.allows("get", "coordination.k8s.io", "leases", Some("default")));
    assert!(!rules.allows("list", "", "secrets", None));
}

#[test]
fn verb_of_maps_api_requests_like_the_api_server() {
    let some = |verb: &str, group: &str, resource: &str, ns: Option<&str>| {
        Some((verb.to_string(), group.to_string(), resource.to_string(), ns.map(str::to_string)))
    };
    let deployment = "/apis/apps/v1/namespaces/production/deployments/sark";
    assert_eq!(rbac::verb_of("GET", deployment, ""), some("get", "apps", "deployments", Some("production")));
    assert_eq!(rbac::verb_of("PUT", deployment, ""), some("update", "apps", "deployments", Some("production")));
    assert_eq!(rbac::verb_of("PATCH", deployment, ""), some("patch", "apps", "deployments", Some("production")));
    assert_eq!(rbac::verb_of("DELETE", deployment, ""), some("delete", "apps", "deployments", Some("production")));
    let scale = format!("{deployment}/scale");
    assert_eq!(rbac::verb_of("PATCH", &scale, ""), some("patch", "apps", "deployments/scale", Some("production")));
    assert_eq!(rbac::verb_of("GET", "/api/v1/pods?labelSelector=app%3Dsark", ""), some("list", "", "pods", None));
    assert_eq!(rbac::verb_of("GET", "/api/v1/pods", "labelSelector=app%3Dsark"), some("list", "", "pods", None));
    let ingresses = "/apis/networking.k8s.io/v1/ingresses?watch=true&resourceVersion=42&timeoutSeconds=290";
    assert_eq!(rbac::verb_of("GET", ingresses, ""), some("watch", "networking.k8s.io", "ingresses", None));
    assert_eq!(rbac::verb_of("GET", "/api/v1/services", "watch=1"), some("watch", "", "services", None));
    assert_eq!(rbac::verb_of("GET", "/api/v1/services", "watch=false"), some("list", "", "services", None));
    assert_eq!(
        rbac::verb_of("GET", "/api/v1/watch/namespaces/a/services", ""),
        some("watch", "", "services", Some("a"))
    );
    let events = "/apis/events.k8s.io/v1/namespaces/production/events";
    assert_eq!(rbac::verb_of("POST", events, ""), some("create", "events.k8s.io", "events", Some("production")));
    assert_eq!(
        rbac::verb_of("DELETE", events, ""),
        some("deletecollection", "events.k8s.io", "events", Some("production"))
    );
    let lease = "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases/serin-leader";
    assert_eq!(rbac::verb_of("PUT", lease, ""), some("update", "coordination.k8s.io", "leases", Some("serin-system")));
    let request = rbac::request_of("GET", lease, "").unwrap();
    assert_eq!(request.name.as_deref(), Some("serin-leader"));
    let by_field = rbac::request_of(
        "GET",
        "/apis/coordination.k8s.io/v1/namespaces/serin-system/leases",
        "fieldSelector=metadata.name%3Dserin-leader&watch=true",
    )
    .unwrap();
    assert_eq!((by_field.verb.as_str(), by_field.name.as_deref()), ("watch", Some("serin-leader")));
    assert_eq!(
        rbac::verb_of("GET", "/api/v1/namespaces/production", ""),
        some("get", "", "namespaces", Some("production"))
    );
    for discovery in [
        "/api",
        "/api/v1",
        "/apis",
        "/apis/apps",
        "/apis/apps/v1",
        "/version",
        "/openapi/v3",
        "/openapi/v2",
        "/healthz",
    ] {
        assert_eq!(rbac::verb_of("GET", discovery, ""), None, "{discovery}");
    }
}
