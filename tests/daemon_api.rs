//! serin's HTTP API end to end (README, "The HTTP API"): the real binary's server, reading the rollouts it
//! drives against the fake API server and a real Prometheus, and the bearer-token-guarded
//! operations, each followed to what it does to the rollout. Needs prometheus.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/traffic.rs"]
mod traffic;

use std::net::SocketAddr;
use std::time::Duration;

use e2e::{ROLLOUT_TIMEOUT, Rig, canary_weight};
use http::{Answer, call, get};
use traffic::Profile;

const TOKEN: &str = "s3rin-test-token";
const BEARER: &str = "Bearer s3rin-test-token";
const ROLLOUT: &str = "/api/v1/rollouts/production/sark-canary";

fn post(addr: SocketAddr, operation: &str, authorization: Option<&str>) -> Answer {
    call(addr, "POST", &format!("{ROLLOUT}/{operation}"), authorization)
}

fn wait_ready(addr: SocketAddr) {
    for _ in 0..300 {
        if get(addr, "/readyz").status == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("/readyz never answered 200");
}

#[test]
fn the_api_reads_rollouts_and_guards_operations_with_the_token() {
    let mut rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "5m")]);
    rig.restart_daemon_env(&[], &[("SERIN_API_TOKEN", TOKEN)]);
    let addr = rig.http_addr();
    assert_eq!(get(addr, "/healthz").status, 200);
    wait_ready(addr);
    rig.wait_for_phase("sark-canary", "Progressing", ROLLOUT_TIMEOUT);

    let list = get(addr, "/api/v1/rollouts").json();
    let item = list["items"].as_array().and_then(|items| items.iter().find(|i| i["name"] == "sark-canary")).cloned();
    let item = item.unwrap_or_else(|| panic!("sark-canary missing from {list}"));
    assert_eq!((item["namespace"].as_str(), item["strategy"].as_str()), (Some("production"), Some("canary")));
    let detail = get(addr, ROLLOUT).json();
    assert_eq!(detail["status"]["revision"], rig.status("sark-canary")["revision"], "{detail}");
    assert_eq!(detail["config"]["serin.io/step-min"], "5m");
    assert_eq!(get(addr, "/api/v1/rollouts/production/nope").status, 404);

    // Authentication before anything else; nothing is written on a refusal.
    let missing = post(addr, "pause", None);
    assert_eq!(missing.status, 401, "{}", missing.body);
    assert!(missing.www_authenticate.is_some_and(|v| v.starts_with("Bearer")));
    assert_eq!(post(addr, "pause", Some("Bearer wrong")).status, 401);
    assert_eq!(post(addr, "pause", Some(TOKEN)).status, 401, "the scheme is required");
    assert_eq!(rig.annotation("sark-canary", "serin.io/paused"), None);
    assert_eq!(post(addr, "restart", Some(BEARER)).status, 404);
    let retry = post(addr, "retry", Some(BEARER));
    assert_eq!(retry.status, 409, "only a rolled-back rollout can be retried: {}", retry.body);

    // pause → Paused, resume → Progressing.
    assert_eq!(post(addr, "pause", Some(BEARER)).status, 202);
    assert_eq!(rig.annotation("sark-canary", "serin.io/paused").as_deref(), Some("true"));
    rig.wait_for_phase("sark-canary", "Paused", ROLLOUT_TIMEOUT);
    assert_eq!(post(addr, "resume", Some(BEARER)).status, 202);
    assert_eq!(rig.annotation("sark-canary", "serin.io/paused"), None);
    rig.wait_for_phase("sark-canary", "Progressing", ROLLOUT_TIMEOUT);

    // abort → RolledBack by the manual trigger, weight 0; a second abort has nothing to do.
    let weight_before = canary_weight(&rig.api).unwrap_or(0);
    assert!(weight_before > 0, "the canary takes traffic before the abort");
    let abort = post(addr, "abort", Some(BEARER));
    assert_eq!(abort.status, 202, "{}", abort.body);
    assert!(abort.json()["written"]["serin.io/command"].as_str().is_some_and(|c| c.starts_with("abort@")));
    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    assert_eq!(rig.status("sark-canary")["trigger"], "manual");
    assert_eq!(rig.annotation("sark-canary", "serin.io/command"), None, "the command is consumed");
    // The record is written ahead of the work it decided: weight 0 follows the phase.
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 0 after the abort", |_| rig.weights_written().last() == Some(&0));
    rig.wait_for_event("sark-canary", "CommandAccepted");
    assert_eq!(post(addr, "abort", Some(BEARER)).status, 409);

    // retry → a new run of the same revision; promote → Succeeded without the remaining steps.
    assert_eq!(post(addr, "retry", Some(BEARER)).status, 202);
    rig.wait_for_phase("sark-canary", "Progressing", ROLLOUT_TIMEOUT);
    let promote = post(addr, "promote", Some(BEARER));
    assert_eq!(promote.status, 202, "{}", promote.body);
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    let image = &rig.deployment("sark")["spec"]["template"]["spec"]["containers"][0]["image"];
    assert_eq!(image, "sark:1.0", "the stable runs the candidate's pod spec");
    assert!(!rig.weights_written().contains(&100), "promoted before the last step: {:?}", rig.weights_written());

    let metrics = get(addr, "/metrics");
    assert!(metrics.content_type.starts_with("application/openmetrics-text"), "{}", metrics.content_type);
    for expected in [
        "serin_rollouts{phase=\"Succeeded\"} 1",
        "serin_decisions_total{action=\"rollback\",trigger=\"manual\"} 1",
        "serin_decisions_total{action=\"promote\",trigger=\"\"} 1",
        "serin_leader 1",
        "serin_verdicts_total{metric=\"error-rate\",verdict=",
        "serin_prometheus_query_duration_seconds_count",
        "serin_reconcile_duration_seconds_count",
    ] {
        assert!(metrics.body.contains(expected), "{expected} missing from /metrics:\n{}", metrics.body);
    }
}

#[test]
fn without_a_configured_token_every_operation_is_forbidden() {
    let mut rig = Rig::canary(Profile::healthy(), &[]);
    let addr = rig.http_addr();
    wait_ready(addr);
    rig.wait_for_phase("sark-canary", "Progressing", ROLLOUT_TIMEOUT);
    for operation in ["promote", "abort", "pause", "resume", "retry"] {
        for authorization in [None, Some(BEARER), Some("Bearer ")] {
            let answer = post(addr, operation, authorization);
            assert_eq!(answer.status, 403, "{operation} {authorization:?}: {}", answer.body);
            assert!(answer.json()["error"].as_str().is_some_and(|e| e.contains("SERIN_API_TOKEN")));
        }
    }
    assert_eq!(rig.annotation("sark-canary", "serin.io/paused"), None);
    assert_eq!(rig.annotation("sark-canary", "serin.io/command"), None);
    let page = get(addr, "/");
    assert!(page.content_type.starts_with("text/html"));
    assert!(page.body.contains("data-rollout=\"production/sark-canary\""), "{}", page.body);
}
