//! The Gateway API rig: `deploy/examples/gateway-api.yaml`'s shapes on the fake API server
//! (stable `sark`, Services `sark` and `sark-admin`, HTTPRoute `sark` with an unrelated
//! `/admin` rule and filters), its simulated gateway controller answering the route, and
//! application traffic by pod name whose split follows the route as the gateway last
//! accepted it (a refused or not yet answered generation moves no traffic).
//! Include after `e2e.rs` as `mod e2e_gateway;`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::e2e::{NS, Rig, annotations, deployment, service};
use crate::fake_apiserver::{FakeApiServer, GatewayBehaviour};
use crate::traffic::{Profile, TrafficConfig, WeightFn};

pub const ROUTE: &str = "sark";
/// Share of requests carrying `X-Canary: always` (A/B by header).
pub const HEADER_SHARE: u8 = 20;

/// The HTTPRoute as the user wrote it.
pub fn original_route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": ROUTE, "namespace": NS, "annotations": {"team": "payments"}},
        "spec": {
            "parentRefs": [{"name": "public", "namespace": "gateways", "sectionName": "https"}],
            "hostnames": ["api.example.com"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "filters": [{"type": "RequestHeaderModifier", "requestHeaderModifier": {"add": [{"name": "X-Env", "value": "production"}]}}],
                 "backendRefs": [{"name": "sark", "port": 80}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                 "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}],
                 "backendRefs": [{"name": "sark-admin", "port": 80}]}
            ]
        }
    })
}

/// The route's user-owned part (what must come back byte for byte): spec and annotations.
pub fn as_written(route: &Value) -> String {
    json!({"spec": route["spec"], "annotations": route["metadata"]["annotations"]}).to_string()
}

impl Rig {
    /// Guide 001's canary on an HTTPRoute (`serin.io/route: sark`, default `app-canary`),
    /// the gateway answering the route as `gateway` says.
    pub fn gateway(candidate: Profile, extra: &[(&str, &str)], gateway: GatewayBehaviour) -> Rig {
        let api = Arc::new(FakeApiServer::start());
        api.set_gateway_behaviour(NS, ROUTE, gateway);
        api.create(deployment("sark", json!({"app": "sark", "version": "stable"}), "sark:0.9", 4, json!({})));
        api.create(service("sark", json!({"app": "sark", "version": "stable"}), 8000));
        api.create(service("sark-admin", json!({"app": "sark-admin"}), 8000));
        api.create(original_route());
        let mut all = vec![
            ("serin.io/strategy", "canary"),
            ("serin.io/route", ROUTE),
            ("serin.io/step-min", "3s"),
            ("serin.io/arg.selector", "job=\"sark\""),
        ];
        all.extend_from_slice(extra);
        let candidate_labels = json!({"app": "sark", "version": "canary"});
        api.create(deployment("sark-canary", candidate_labels, "sark:1.0", 1, annotations(&all)));
        let (reader, programmed) = (api.clone(), Arc::new(Mutex::new(0u8)));
        let weight: WeightFn = Arc::new(move || programmed_weight(&reader, &programmed));
        let config =
            TrafficConfig::app(NS, "sark", "sark-7d4b9c8f6-x2x9z", "sark-canary-5f6b7c8d9-abcde").weight(weight);
        Rig::start(api, TrafficConfig { candidate, rate_per_second: 400.0, ..config })
    }

    pub fn route(&self) -> Value {
        self.api.get("gateway.networking.k8s.io/v1", "HTTPRoute", NS, ROUTE).unwrap_or(Value::Null)
    }

    /// The canary's share of `/` as the route says now (0 without serin's part).
    pub fn route_weight(&self) -> u8 {
        split_of(&self.route())
    }

    /// serin's writes to the route: (method, the JSON patch).
    pub fn route_writes(&self) -> Vec<(String, Value)> {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path.contains("/httproutes/") && r.method != "GET" && r.status < 300)
            .map(|r| (r.method.clone(), r.body.clone().unwrap_or_default()))
            .collect()
    }

    /// The canary weights serin wrote into the route, in order.
    pub fn route_weights_written(&self) -> Vec<u8> {
        self.route_writes()
            .iter()
            .filter_map(|(_, ops)| {
                let rules = ops.as_array()?.iter().find(|op| op["path"] == "/spec/rules")?;
                let refs = rules["value"][0]["backendRefs"].as_array()?;
                // The last write takes serin's backendRef out: not a weight.
                let canary = refs.iter().find(|b| b["name"] == "sark-canary")?;
                Some(canary["weight"].as_u64()? as u8)
            })
            .collect()
    }
}

/// The canary's share of the `/` rule: its backendRef's weight over the rule's total, or
/// the header share when a canary-only rule sits in front of it.
pub fn split_of(route: &Value) -> u8 {
    let Some(rules) = route.pointer("/spec/rules").and_then(Value::as_array) else { return 0 };
    let canary_only =
        |r: &Value| r["backendRefs"].as_array().is_some_and(|b| b.iter().all(|b| b["name"] == "sark-canary"));
    if rules.iter().any(canary_only) {
        return HEADER_SHARE;
    }
    let Some(rule) =
        rules.iter().find(|r| r["backendRefs"].as_array().is_some_and(|b| b.iter().any(|b| b["name"] == "sark")))
    else {
        return 0;
    };
    let refs = rule["backendRefs"].as_array().cloned().unwrap_or_default();
    let weight = |b: &Value| b["weight"].as_u64().unwrap_or(1);
    let total: u64 = refs.iter().map(weight).sum();
    let canary: u64 = refs.iter().filter(|b| b["name"] == "sark-canary").map(weight).sum();
    (canary * 100).checked_div(total).map_or(0, |share| share as u8)
}

/// What the data plane does: the route as the gateway last accepted it.
fn programmed_weight(api: &FakeApiServer, programmed: &Mutex<u8>) -> u8 {
    let mut last = programmed.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(route) = api.get("gateway.networking.k8s.io/v1", "HTTPRoute", NS, ROUTE) {
        let generation = route["metadata"]["generation"].as_i64().unwrap_or(0);
        let parents = route.pointer("/status/parents").and_then(Value::as_array).cloned().unwrap_or_default();
        let accepted = !parents.is_empty()
            && parents.iter().all(|p| {
                p["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|c| c["status"] == "True" && c["observedGeneration"].as_i64().unwrap_or(0) >= generation)
            });
        if accepted {
            *last = split_of(&route);
        }
    }
    *last
}
