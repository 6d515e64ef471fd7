//! Two `serin run --leader-election` replicas against one fake API server: only the Lease
//! holder acts, and when it dies mid-rollout the other takes over within the lease time and
//! finishes the rollout with no weight written twice or skipped. Also checks the JSON logs:
//! every line of a rollout carries its namespace, name and revision, and that the shipped
//! RBAC grants every request made. Needs prometheus, kubectl.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
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

use std::time::{Duration, Instant};

use daemon::Daemon;
use e2e::{ROLLOUT_TIMEOUT, Rig, canary_weight};
use serde_json::Value;
use traffic::Profile;

const LEASE_SECONDS: u64 = 6;
const HA: &[&str] = &["--leader-election", "--lease-duration", "6s", "--log-format", "json"];

fn holder(rig: &Rig) -> Option<String> {
    let lease = rig.api.get("coordination.k8s.io/v1", "Lease", "default", "serin-leader")?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_string)
}

/// The Lease identity of a daemon started outside a pod: `<hostname>-<pid>`.
fn identity(daemon: &Daemon) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}-{}", host.trim(), daemon.pid())
}

/// A healthy canary driven by two `--leader-election` replicas: (rig, leader, follower).
fn two_replicas() -> (Rig, Daemon, Daemon) {
    let mut rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "6s")]);
    rig.kill_daemon();
    let url = rig.prometheus.url().to_string();
    let first = rig.spawn_daemon_logging(&url, HA, &[], "first.log");
    rig.api.wait_until(Duration::from_secs(20), "a leader", |_| holder(&rig).is_some());
    let second = rig.spawn_daemon_logging(&url, HA, &[], "second.log");
    if holder(&rig) == Some(identity(&first)) { (rig, first, second) } else { (rig, second, first) }
}

#[test]
fn the_follower_takes_over_a_rollout_when_the_leader_dies() {
    let (rig, mut leader, mut follower) = two_replicas();
    let (leader, follower) = (&mut leader, &mut follower);
    let follower_identity = identity(follower);

    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 25", |api| canary_weight(api) == Some(25));
    assert!(follower.is_running(), "the follower waits: {}", follower.log());
    assert!(!follower.log().contains("became the leader"), "only one leader");
    leader.kill();
    let killed = Instant::now();
    rig.api.wait_until(Duration::from_secs(LEASE_SECONDS * 3), "the follower to lead", |_| {
        holder(&rig).as_deref() == Some(follower_identity.as_str())
    });
    let takeover = killed.elapsed();
    // Within the lease time plus one retry period (and a little for a loaded CI machine).
    assert!(takeover < Duration::from_secs(LEASE_SECONDS + 4), "takeover took {takeover:?}");

    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    let log = e2e::tail(&follower.log(), 30);
    assert_eq!(rig.weights_written_by_the_end(), vec![10, 25, 50, 100, 0], "no weight twice, none skipped:\n{log}");
    assert_eq!(rig.deployment("sark")["spec"]["template"]["spec"]["containers"][0]["image"], "sark:1.0");
    let puts_of_the_stable = rig
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.ends_with("/deployments/sark") && r.status < 300)
        .count();
    assert_eq!(puts_of_the_stable, 1, "promoted once");

    // Every request both replicas made (the Lease included) is granted by deploy/'s RBAC.
    let rules = rbac::from_rendered(&manifests::render("deploy/base"));
    let requests = rig.api.requests();
    let recorded = requests.iter().map(|r| (r.method.as_str(), r.path.as_str(), r.query.as_str()));
    rbac::assert_all_allowed(&rules, recorded, "default");

    let rollout_lines = check_json_logs(&follower.log()) + check_json_logs(&leader.log());
    assert!(rollout_lines > 5, "rollout lines were logged");
    println!("takeover after {takeover:?}; {rollout_lines} rollout log lines checked");
}

/// issue 12: a leader cut off from the API server (its Lease PUT hangs) steps down within
/// the renew deadline, before the follower may take the Lease, and writes nothing after.
#[test]
fn a_leader_whose_lease_write_hangs_steps_down_before_the_follower_leads() {
    let (rig, mut leader, mut follower) = two_replicas();
    let (leader, follower) = (&mut leader, &mut follower);
    let follower_identity = identity(follower);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10", |api| canary_weight(api) == Some(10));

    rig.api.hang_lease_writes_of(&identity(leader));
    let cut = Instant::now();
    rig.api.wait_until(Duration::from_secs(LEASE_SECONDS * 3), "the follower to lead", |_| {
        holder(&rig).as_deref() == Some(follower_identity.as_str())
    });
    let takeover = cut.elapsed();
    let log = leader.log();
    assert!(log.contains("stepping down"), "stepped down before the takeover: {}", e2e::tail(&log, 20));
    rig.api.wait_until(Duration::from_secs(15), "the cut-off leader to exit", |_| !leader.is_running());
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    assert_eq!(rig.weights_written_by_the_end(), vec![10, 25, 50, 100, 0], "no weight twice, none skipped");
    println!("takeover {takeover:?} after the leader was cut off");
}

/// Every line is JSON; every line inside a rollout's span names it fully. Returns how many
/// rollout lines there were.
fn check_json_logs(log: &str) -> usize {
    let mut rollout_lines = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(entry["timestamp"].is_string() && entry["level"].is_string(), "{line}");
        if entry["span"]["name"] == "rollout" {
            rollout_lines += 1;
            for field in ["namespace", "name", "revision"] {
                assert!(entry["span"][field].is_string(), "{field} missing: {line}");
            }
        }
    }
    rollout_lines
}
