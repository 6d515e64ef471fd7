use super::*;

/// A route as a user writes it: the stable Service behind `/` (no weight, a header filter
/// and a per-backend filter), an unrelated `/admin` rule with its own filter, a second
/// stable rule with an explicit weight, and annotations of the user's own.
fn original() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "sark", "namespace": "production", "resourceVersion": "7", "generation": 3,
                     "annotations": {"team": "payments"}},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
            "hostnames": ["api.example.com"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "X-Env", "value": "prod"}]}}],
                 "backendRefs": [{"name": "sark", "port": 80,
                                  "filters": [{"type": "ResponseHeaderModifier", "responseHeaderModifier": {"set": [{"name": "X-Served-By", "value": "sark"}]}}]}],
                 "timeouts": {"request": "10s"}},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                 "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}],
                 "backendRefs": [{"name": "admin", "port": 8080}]},
                {"matches": [{"path": {"type": "Exact", "value": "/healthz"}}],
                 "backendRefs": [{"name": "sark", "port": 80, "weight": 1}]}
            ]
        }
    })
}

fn canary(routing: Routing) -> RouteCanary {
    RouteCanary { stable_services: BTreeSet::from(["sark".into()]), canary_service: "sark-canary".into(), routing }
}

/// What the API server does with serin's patch: the route after it.
fn applied(read: &Value, desired: &Value) -> Value {
    let Some(ops) = patch(read, desired) else { return read.clone() };
    let ops: json_patch::Patch = serde_json::from_value(ops).unwrap();
    let mut out = read.clone();
    json_patch::patch(&mut out, &ops).expect("serin's patch applies to the route it read");
    out
}

fn walk(route: &Value, c: &RouteCanary, weights: &[u8]) -> Value {
    weights.iter().fold(route.clone(), |r, w| applied(&r, &desired(&r, c, *w)))
}

#[test]
fn splits_every_stable_rule_and_nothing_else() {
    let c = canary(Routing::Weight);
    let route = walk(&original(), &c, &[10]);
    let rules = route["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules[0]["backendRefs"][0]["weight"], 90);
    let added = &rules[0]["backendRefs"][1];
    assert_eq!(
        (added["name"].as_str(), added["port"].as_u64(), added["weight"].as_u64()),
        (Some("sark-canary"), Some(80), Some(10))
    );
    assert_eq!(
        added["filters"],
        original()["spec"]["rules"][0]["backendRefs"][0]["filters"],
        "the canary gets the stable's per-backend filters"
    );
    assert_eq!(rules[1], original()["spec"]["rules"][1], "the /admin rule is untouched");
    assert_eq!(rules[2]["backendRefs"][0]["weight"], 90);
    assert_eq!(rules[2]["backendRefs"][1]["weight"], 10);
    assert_eq!(route["spec"]["parentRefs"], original()["spec"]["parentRefs"]);
    assert_eq!(route["metadata"]["annotations"]["team"], "payments");
    assert_eq!(split(&route, &c), Split::Weight(10));
    assert_eq!(split(&original(), &c), Split::Absent);
}

#[test]
fn restores_the_route_byte_for_byte() {
    let c = canary(Routing::Weight);
    let walked = walk(&original(), &c, &[10, 25, 50, 100, 0]);
    assert_eq!(split(&walked, &c), Split::Weight(0));
    let back = applied(&walked, &restored(&walked, &c));
    assert_eq!(back.to_string(), original().to_string());
    // A route without annotations gets none left behind either.
    let mut bare = original();
    bare["metadata"].as_object_mut().unwrap().remove("annotations");
    let walked = walk(&bare, &c, &[10, 50]);
    assert!(walked["metadata"]["annotations"][ORIGINAL_WEIGHTS].is_string());
    assert_eq!(applied(&walked, &restored(&walked, &c)).to_string(), bare.to_string());
}

#[test]
fn never_sets_every_weight_of_a_rule_to_zero() {
    let c = canary(Routing::Weight);
    for w in 0..=100u8 {
        let route = desired(&original(), &c, w);
        for rule in route["spec"]["rules"].as_array().unwrap() {
            let refs = rule["backendRefs"].as_array().unwrap();
            assert!(refs.iter().any(|b| b.get("weight").is_none_or(|w| w != 0)), "weight {w}: {rule}");
        }
        let weights = stable_weights(&route, &c);
        assert!(weights.values().all(|s| *s == Some(100 - u64::from(w))), "weight {w}: {weights:?}");
    }
}

#[test]
fn foreign_edits_are_kept_and_a_removed_backend_is_noticed() {
    let c = canary(Routing::Weight);
    let mut route = walk(&original(), &c, &[10]);
    // Another writer adds a filter to the unrelated rule and an annotation.
    route["spec"]["rules"][1]["filters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "shadow", "port": 80}}}));
    route["metadata"]["annotations"]["owner"] = json!("gitops");
    route["metadata"]["resourceVersion"] = json!("9");
    let moved = walk(&route, &c, &[25]);
    assert_eq!(moved["spec"]["rules"][1], route["spec"]["rules"][1]);
    assert_eq!(moved["metadata"]["annotations"]["owner"], "gitops");
    // GitOps re-applies the route as written: serin's backendRef and weights are gone.
    let mut reapplied = original();
    reapplied["metadata"]["annotations"] = moved["metadata"]["annotations"].clone();
    assert_eq!(split(&reapplied, &c), Split::Absent);
    let mut half = moved.clone();
    half["spec"]["rules"][2] = original()["spec"]["rules"][2].clone();
    assert_eq!(split(&half, &c), Split::Partial);
    // Splitting again keeps the weights the user wrote, so the end is still exact.
    let again = walk(&reapplied, &c, &[25, 0]);
    assert_eq!(split(&again, &c), Split::Weight(0));
    let mut expected = original();
    expected["metadata"]["annotations"]["owner"] = json!("gitops");
    assert_eq!(applied(&again, &restored(&again, &c)), expected);
}

#[test]
fn the_patch_is_guarded_and_minimal() {
    let c = canary(Routing::Weight);
    let read = original();
    let ops = patch(&read, &desired(&read, &c, 10)).unwrap();
    let ops = ops.as_array().unwrap();
    assert_eq!(ops[0], json!({"op": "test", "path": "/metadata/resourceVersion", "value": "7"}));
    let paths: Vec<&str> = ops.iter().map(|o| o["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/metadata/resourceVersion", "/spec/rules", "/metadata/annotations/serin.io~1original-weights"]);
    let at_10 = applied(&read, &desired(&read, &c, 10));
    assert_eq!(patch(&at_10, &desired(&at_10, &c, 10)), None, "nothing to write at the same weight");
    // A stale read does not apply: the server answers the failed test.
    let ops: json_patch::Patch = serde_json::from_value(patch(&read, &desired(&read, &c, 25)).unwrap()).unwrap();
    let mut newer = at_10.clone();
    newer["metadata"]["resourceVersion"] = json!("8");
    assert!(json_patch::patch(&mut newer, &ops).is_err());
}

#[test]
fn header_routing_adds_one_rule_in_front_of_each_stable_rule() {
    let c = canary(Routing::Header { name: "X-Canary".into(), value: None });
    let route = walk(&original(), &c, &[10]);
    let rules = route["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 5);
    assert_eq!(rules[0]["matches"][0]["headers"], json!([{"type": "Exact", "name": "X-Canary", "value": "always"}]));
    assert_eq!(rules[0]["matches"][0]["path"], json!({"type": "PathPrefix", "value": "/"}));
    assert_eq!(rules[0]["backendRefs"].as_array().unwrap().len(), 1);
    assert_eq!(rules[0]["backendRefs"][0]["name"], "sark-canary");
    assert_eq!(rules[0]["filters"], original()["spec"]["rules"][0]["filters"]);
    assert_eq!(rules[1], original()["spec"]["rules"][0]);
    assert_eq!(rules[2], original()["spec"]["rules"][1]);
    assert_eq!(rules[4]["backendRefs"][0]["weight"], 1, "stable rules keep their weights");
    assert_eq!(split(&route, &c), Split::Weight(100));
    assert_eq!(walk(&route, &c, &[25]), route, "idempotent");
    let back = walk(&route, &c, &[0]);
    assert_eq!(back.to_string(), original().to_string());
}

#[test]
fn cookie_routing_matches_the_cookie_header() {
    let c = canary(Routing::Cookie { name: "canary.v2".into() });
    let mut read = original();
    read["spec"]["rules"][0].as_object_mut().unwrap().remove("matches");
    let route = desired(&read, &c, 10);
    let header = &route["spec"]["rules"][0]["matches"][0]["headers"][0];
    assert_eq!(header["name"], "Cookie");
    assert_eq!(header["type"], "RegularExpression");
    assert_eq!(header["value"], r"(^|.*; ?)canary\.v2=always(;.*|$)");
    assert_eq!(route["spec"]["rules"][0]["matches"][0]["path"]["value"], "/", "no matches is every request");
    assert_eq!(restored(&route, &c), read);
}

#[test]
fn problems_before_any_traffic_moves() {
    let c = canary(Routing::Weight);
    assert!(problems(&original(), &c, "sark").is_empty());
    let mut mixed = original();
    mixed["spec"]["rules"][0]["backendRefs"].as_array_mut().unwrap().push(json!({"name": "legacy", "port": 80}));
    let found = problems(&mixed, &c, "sark");
    assert!(found[0].contains("rule 0 also sends traffic to legacy"), "{found:?}");
    let other = RouteCanary { stable_services: BTreeSet::from(["nope".into()]), ..c };
    assert!(problems(&original(), &other, "sark")[0].contains("nothing to split"));
    assert_eq!(backend_services(&original()), BTreeSet::from(["admin".into(), "sark".into()]));
}

fn with_status(generation: i64, parents: Value) -> Value {
    let mut route = original();
    route["metadata"]["generation"] = json!(generation);
    route["status"] = json!({"parents": parents});
    route
}

fn parent(observed: i64, accepted: (&str, &str, &str)) -> Value {
    json!({"parentRef": {"name": "public", "namespace": "gateways", "sectionName": "https"},
           "controllerName": "example.com/gateway",
           "conditions": [
             {"type": "Accepted", "status": accepted.0, "reason": accepted.1, "message": accepted.2, "observedGeneration": observed},
             {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs", "message": "", "observedGeneration": observed}]})
}

#[test]
fn acceptance_needs_every_parent_at_the_current_generation() {
    let ok = ("True", "Accepted", "");
    assert_eq!(acceptance(&with_status(4, json!([parent(4, ok), parent(5, ok)]))), Acceptance::Accepted);
    assert!(
        matches!(acceptance(&with_status(4, json!([parent(4, ok), parent(3, ok)]))), Acceptance::Pending(why) if why.contains("generation 4"))
    );
    assert!(matches!(acceptance(&original()), Acceptance::Pending(_)));
    let refused =
        acceptance(&with_status(4, json!([parent(4, ("False", "UnsupportedValue", "weights are not supported"))])));
    assert_eq!(
        refused,
        Acceptance::Refused {
            parent: "Gateway gateways/public (section https)".into(),
            condition: "Accepted=False".into(),
            reason: "UnsupportedValue".into(),
            message: "weights are not supported".into(),
        }
    );
    // A refusal of an older generation is not the answer to this one.
    let stale = with_status(5, json!([parent(4, ("False", "UnsupportedValue", "old"))]));
    assert!(matches!(acceptance(&stale), Acceptance::Pending(_)));
    let mut unresolved = parent(4, ok);
    unresolved["conditions"][1] = json!({"type": "ResolvedRefs", "status": "False", "reason": "BackendNotFound", "message": "service sark-canary not found", "observedGeneration": 4});
    assert!(
        matches!(acceptance(&with_status(4, json!([unresolved]))), Acceptance::Refused { reason, .. } if reason == "BackendNotFound")
    );
}
