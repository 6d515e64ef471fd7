//! Objects shared between rollouts, end to end (README, "Lifecycle"): a second candidate on
//! the stable of a run in flight is refused with a Warning naming that run and writes
//! nothing, the first run's canary Ingress is never replaced, and the second starts once
//! the first has ended; a stable Service selecting the candidate's pods refuses the start.
//! Same rig as `daemon_canary.rs`.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/e2e_gateway.rs"]
mod e2e_gateway;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/manifests.rs"]
mod manifests;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/rbac.rs"]
mod rbac;
#[path = "support/traffic.rs"]
mod traffic;

use std::time::Duration;

use e2e::{NS, ROLLOUT_TIMEOUT, Rig, annotations, canary_weight, deployment, tail};
use fake_apiserver::GatewayBehaviour;
use serde_json::{Value, json};
use traffic::Profile;

fn canary_ingress(rig: &Rig) -> Option<Value> {
    rig.api.get("networking.k8s.io/v1", "Ingress", NS, "sark-canary")
}

fn owner(ingress: &Value) -> String {
    ingress["metadata"]["ownerReferences"][0]["name"].as_str().unwrap_or_default().to_string()
}

/// Writes to Ingresses and Services naming `name` (in their path or body), with their time.
fn writes_naming(rig: &Rig, name: &str) -> Vec<(std::time::Instant, String)> {
    let quoted = format!("\"{name}\"");
    rig.api
        .requests()
        .into_iter()
        .filter(|r| (r.path.contains("/ingresses") || r.path.contains("/services")) && r.method != "GET")
        .filter(|r| {
            r.path.ends_with(&format!("/{name}")) || r.body.as_ref().is_some_and(|b| b.to_string().contains(&quoted))
        })
        .map(|r| (r.at, format!("{} {}", r.method, r.path)))
        .collect()
}

/// `sark-canary-2`: another candidate on the stable `sark` and its Ingress.
fn second_candidate() -> Value {
    let second = [
        ("serin.io/strategy", "canary"),
        ("serin.io/stable", "sark"),
        ("serin.io/ingress", "sark"),
        ("serin.io/step-min", "3s"),
    ];
    deployment("sark-canary-2", json!({"app": "sark", "version": "canary-2"}), "sark:2.0", 1, annotations(&second))
}

#[test]
fn a_second_candidate_on_one_stable_waits_for_the_first_and_writes_nothing_meanwhile() {
    let rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "6s")]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the first run at weight 10", |api| canary_weight(api) == Some(10));
    rig.api.create(second_candidate());

    let (kind, _, note) = rig.wait_for_event("sark-canary-2", "RolloutRefused");
    assert_eq!(kind, "Warning");
    assert!(
        note.contains(
            "Deployment production/sark is the stable Deployment of both production/sark-canary and \
             production/sark-canary-2"
        ) && note.contains("this run waits until the run of production/sark-canary ends"),
        "{note}"
    );
    assert_eq!(rig.phase("sark-canary-2").as_deref(), Some("Invalid"));
    let first = rig.deployment("sark-canary")["metadata"]["uid"].clone();

    // The first run goes on undisturbed to its promotion; the second writes nothing.
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    let log = tail(&rig.log(), 60);
    let weights = rig.weights_written();
    assert_eq!(&weights[..5], [10, 25, 50, 100, 0], "the first run's steps, one writer: {weights:?}\n{log}");
    assert!(!rig.event_reasons("sark-canary").iter().any(|r| r == "ObjectsShared"), "the first run is not held");
    let canary_ingress_writes: Vec<_> = rig
        .api
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/ingresses") && r.method == "POST")
        .filter_map(|r| r.body.map(|b| b["metadata"]["ownerReferences"][0]["uid"].clone()))
        .collect();
    assert_eq!(canary_ingress_writes.first(), Some(&first), "the first run created its canary Ingress");

    // Once the first run has ended (canary Ingress deleted), the second starts on its own.
    let (_, _, started) = rig.wait_for_event("sark-canary-2", "RolloutStarted");
    assert!(started.contains("canary"), "{started}");
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the second run's canary Ingress", |_| {
        canary_ingress(&rig).is_some_and(|i| owner(&i) == "sark-canary-2")
    });
    let first_removed = rig
        .api
        .requests()
        .into_iter()
        .find(|r| r.method == "DELETE" && r.path.ends_with("/ingresses/sark-canary"))
        .map(|r| r.at)
        .expect("the first run deleted its canary Ingress");
    let early: Vec<String> = writes_naming(&rig, "sark-canary-2")
        .into_iter()
        .filter(|(at, _)| *at < first_removed)
        .map(|(_, w)| w)
        .collect();
    assert_eq!(early, Vec::<String>::new(), "nothing written for the second before the first run ended");
    let requests = rig.api.requests();
    rbac::assert_both_installs_allow(requests.iter().map(|r| (r.method.as_str(), r.path.as_str(), r.query.as_str())));
}

#[test]
fn a_stable_service_selecting_the_canary_pods_refuses_the_start() {
    // `app: sark` alone also selects the candidate's pods (app: sark, version: canary).
    let rig = Rig::canary_selecting(json!({"app": "sark"}), &[], Profile::healthy(), &[], &[], &[]);
    let (kind, _, note) = rig.wait_for_event("sark-canary", "RolloutRefused");
    assert_eq!(kind, "Warning");
    assert!(
        note.contains(
            "Service production/sark (stable Service of production/sark-canary) selects the canary pods of \
             Deployment production/sark-canary"
        ),
        "{note}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.traffic_writes(), Vec::<String>::new(), "no Ingress or Service written");
    assert_eq!(rig.phase("sark-canary").as_deref(), Some("Invalid"));

    // Fixed, the run starts at the next look (here: the candidate is touched).
    rig.api.patch_merge("v1", "Service", NS, "sark", json!({"spec": {"selector": {"version": "stable"}}}));
    rig.api.patch_merge(
        "apps/v1",
        "Deployment",
        NS,
        "sark-canary",
        json!({"metadata": {"annotations": {"example.com/touched": "yes"}}}),
    );
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10 once the selectors are apart", |api| canary_weight(api) == Some(10));
}

#[test]
fn of_two_candidates_present_when_the_daemon_starts_exactly_one_runs() {
    let rig = Rig::canary_selecting(
        json!({"app": "sark", "version": "stable"}),
        &[second_candidate()],
        Profile::healthy(),
        &[("serin.io/step-min", "30s")],
        &[],
        &[],
    );
    rig.api.wait_until(ROLLOUT_TIMEOUT, "a canary Ingress at weight 10", |api| canary_weight(api) == Some(10));
    let winner = owner(&canary_ingress(&rig).expect("the canary Ingress"));
    let loser = if winner == "sark-canary" { "sark-canary-2" } else { "sark-canary" };
    let (kind, _, note) = rig.wait_for_event(loser, "RolloutRefused");
    assert_eq!(kind, "Warning");
    assert!(note.contains(&format!("this run waits until the run of production/{winner} ends")), "{note}");
    std::thread::sleep(Duration::from_secs(4));
    assert!(!rig.event_reasons(loser).iter().any(|r| r == "RolloutStarted"), "{:?}", rig.event_reasons(loser));
    assert_eq!(owner(&canary_ingress(&rig).unwrap()), winner, "one writer of the canary Ingress");
    assert!(!rig.log().contains("refusing to touch it"), "{}", tail(&rig.log(), 40));
}

#[test]
fn a_second_candidate_on_a_route_split_by_another_run_is_refused_naming_it() {
    let rig = Rig::gateway(Profile::healthy(), &[("serin.io/step-min", "30s")], GatewayBehaviour::default());
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the first run's split at 10%", |_| rig.route_weight() == 10);
    let second = [("serin.io/strategy", "canary"), ("serin.io/stable", "sark"), ("serin.io/route", "sark")];
    let labels = json!({"app": "sark", "version": "canary-2"});
    rig.api.create(deployment("sark-canary-2", labels, "sark:2.0", 1, annotations(&second)));
    let (kind, _, note) = rig.wait_for_event("sark-canary-2", "InvalidConfiguration");
    assert_eq!(kind, "Warning");
    let named = "Deployment production/sark is the stable Deployment of both production/sark-canary and \
                 production/sark-canary-2 (and HTTPRoute production/sark): this run waits until the run of \
                 production/sark-canary ends";
    assert!(note.contains(named), "{note}");
    std::thread::sleep(Duration::from_secs(3));
    let route_writes: Vec<_> =
        rig.api.requests().into_iter().filter(|r| r.path.contains("/httproutes") && r.method != "GET").collect();
    assert!(
        route_writes.iter().all(|r| r.body.as_ref().is_none_or(|b| !b.to_string().contains("sark-canary-2"))),
        "the second wrote nothing in the route"
    );
    assert_eq!(rig.route_weight(), 10, "the first run's split is as it set it");
}
