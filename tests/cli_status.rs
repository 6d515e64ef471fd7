//! `serin status` end to end (README "serin in CI"): the real binary, reading the strict
//! fake API server through a kubeconfig. The test writes the candidate's
//! `serin.io/phase|weight|status` as serin's daemon would, and checks what is printed and
//! every exit code: 0 Succeeded, 1 RolledBack, 3 still Paused at `--timeout`, 2 for bad
//! input and an unreachable cluster.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;

use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use cli::{describe, serin, stderr, stdout, write_status};
use fake_apiserver::{FakeApiServer, deployment_manifest};
use serde_json::{Value, json};
use serin::rollout::Phase;

const NS: &str = "production";
const ROLLOUT: &str = "production/sark-canary";

struct Cluster {
    api: FakeApiServer,
    dir: tempfile::TempDir,
}

impl Cluster {
    /// The fake API server holding the candidate `sark-canary` (opted in) and `web` (not).
    fn start() -> Cluster {
        let api = FakeApiServer::start();
        api.create(manifest("sark-canary", NS, json!({"serin.io/strategy": "canary"})));
        api.create(manifest("web", NS, json!({})));
        let dir = tempfile::tempdir().expect("temp dir");
        api.write_kubeconfig(&dir.path().join("kubeconfig"));
        Cluster { api, dir }
    }

    fn kubeconfig(&self) -> std::path::PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn status(&self, args: &[&str]) -> std::process::Output {
        serin(&self.kubeconfig(), &[&["status"], args].concat())
    }

    fn write(&self, phase: Phase, weight: u8) {
        write_status(&self.api, NS, "sark-canary", phase, weight);
    }

    /// `serin status ROLLOUT --watch --timeout T`, its stdout lines sent as they come.
    fn watch(&self, timeout: &str) -> (Child, Receiver<String>) {
        let args = ["status", ROLLOUT, "--watch", "--timeout", timeout];
        let mut child = cli::command(std::path::Path::new(env!("CARGO_BIN_EXE_serin")), &self.kubeconfig(), &args)
            .spawn()
            .expect("start serin status --watch");
        let out = child.stdout.take().expect("piped stdout");
        let (send, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        (child, lines)
    }
}

fn manifest(name: &str, namespace: &str, annotations: Value) -> Value {
    let mut manifest = deployment_manifest(name, name, 1);
    manifest["metadata"]["namespace"] = json!(namespace);
    manifest["metadata"]["annotations"] = annotations;
    manifest
}

fn next_line(lines: &Receiver<String>) -> String {
    lines.recv_timeout(Duration::from_secs(20)).expect("serin status --watch printed a line within 20 s")
}

/// Waits for the child's exit (killing it after 60 s); its code, stderr and how long it took.
fn finish(mut child: Child, started: Instant) -> (Option<i32>, String, Duration) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("serin status --watch did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().expect("the exited child");
    (output.status.code(), stderr(&output), started.elapsed())
}

#[test]
fn watch_prints_one_line_per_change_and_exits_0_when_the_rollout_succeeds() {
    let cluster = Cluster::start();
    cluster.write(Phase::Progressing, 10);
    let started = Instant::now();
    let (child, lines) = cluster.watch("60s");
    let first = next_line(&lines);
    assert!(
        first.contains("production/sark-canary Progressing weight 10% [error-rate=pass]: test: Progressing"),
        "{first}"
    );
    // Writes nothing serin shows (the Deployment controller's status updates) print nothing.
    cluster.api.patch_merge("apps/v1", "Deployment", NS, "sark-canary", json!({"metadata": {"labels": {"x": "y"}}}));
    cluster.write(Phase::Progressing, 50);
    assert!(next_line(&lines).contains("Progressing weight 50%"));
    cluster.write(Phase::Succeeded, 0);
    let last = next_line(&lines);
    assert!(last.contains("production/sark-canary Succeeded weight 0%"), "{last}");
    let (code, err, _) = finish(child, started);
    assert_eq!(code, Some(0), "{err}");
    assert!(lines.try_recv().is_err(), "nothing after the end");
    assert!(!first.contains('\x1b') && !last.contains('\x1b'), "plain lines when stdout is not a terminal");
    let watched =
        cluster.api.requests().iter().any(|r| r.path.ends_with("/deployments") && r.query.contains("watch=true"));
    assert!(watched, "a watch, not a poll");
}

#[test]
fn watch_exits_1_when_the_rollout_is_rolled_back() {
    let cluster = Cluster::start();
    cluster.write(Phase::Progressing, 25);
    let started = Instant::now();
    let (child, lines) = cluster.watch("60s");
    assert!(next_line(&lines).contains("Progressing weight 25%"));
    cluster.write(Phase::RolledBack, 0);
    assert!(next_line(&lines).contains("RolledBack weight 0%"));
    let (code, err, _) = finish(child, started);
    assert_eq!(code, Some(1), "{err}");
}

#[test]
fn watch_exits_3_when_the_rollout_is_still_paused_at_the_timeout() {
    let cluster = Cluster::start();
    cluster.write(Phase::Paused, 10);
    let started = Instant::now();
    let (child, lines) = cluster.watch("2s");
    assert!(next_line(&lines).contains("Paused weight 10%"));
    let (code, err, took) = finish(child, started);
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("timed out after 2s: production/sark-canary is still Paused"), "{err}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(20), "{took:?}");
}

#[test]
fn bad_input_and_an_unreachable_cluster_exit_2() {
    let cluster = Cluster::start();
    for (name, expected) in [
        ("production/Sark-canary", "name contains 'S'"),
        ("production/sark/canary", "more than one '/'"),
        ("/sark-canary", "namespace is empty"),
    ] {
        let output = cluster.status(&[name, "--watch", "--timeout", "30s"]);
        assert_eq!(output.status.code(), Some(2), "{name}: {}", describe(&output));
        assert!(stderr(&output).starts_with("error: ") && stderr(&output).contains(expected), "{}", describe(&output));
    }
    assert_eq!(cluster.api.request_count(), 0, "a malformed name is refused before asking the cluster");
    for (name, expected) in [
        ("production/nope", "no Deployment production/nope"),
        ("production/web", "has no serin.io/strategy annotation"),
    ] {
        let output = cluster.status(&[name, "--watch", "--timeout", "30s"]);
        assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
        assert!(stderr(&output).contains(expected), "{}", describe(&output));
    }
    assert_eq!(cluster.status(&["--timeout", "soon"]).status.code(), Some(2), "a bad duration");

    // A kubeconfig naming a port nobody listens on: exit 2 at once, not 3 at the timeout.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let kubeconfig = cluster.dir.path().join("unreachable");
    let text =
        std::fs::read_to_string(cluster.kubeconfig()).unwrap().replace(&cluster.api.url(), &format!("http://{closed}"));
    std::fs::write(&kubeconfig, text).unwrap();
    let started = Instant::now();
    let output = serin(&kubeconfig, &["status", ROLLOUT, "--watch", "--timeout", "30s"]);
    assert_eq!(output.status.code(), Some(2), "{}", describe(&output));
    assert!(stderr(&output).contains("error: cannot reach the Kubernetes API"), "{}", describe(&output));
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn without_watch_rollouts_are_read_once_and_rollbacks_exit_1() {
    let cluster = Cluster::start();
    cluster.write(Phase::Paused, 10);
    let one = cluster.status(&[ROLLOUT]);
    assert_eq!(one.status.code(), Some(0), "paused is neither RolledBack nor Invalid: {}", describe(&one));
    let text = stdout(&one);
    assert!(text.starts_with("production/sark-canary  canary  Paused  weight 10%  revision "), "{text}");
    assert!(text.contains("  reason:  test: Paused at 10%") && text.contains("  error-rate  pass  "), "{text}");

    cluster.api.create(manifest("api-canary", NS, json!({"serin.io/strategy": "canary"})));
    write_status(&cluster.api, NS, "api-canary", Phase::RolledBack, 0);
    cluster.api.create(manifest("other-canary", "staging", json!({"serin.io/strategy": "blue-green"})));
    let listed = cluster.status(&["-n", NS, "-o", "json"]);
    assert_eq!(listed.status.code(), Some(1), "one rollout of the namespace is RolledBack: {}", describe(&listed));
    let json: Value = serde_json::from_str(&stdout(&listed)).expect("JSON");
    let names: Vec<&str> = json["items"].as_array().unwrap().iter().filter_map(|i| i["name"].as_str()).collect();
    assert_eq!(names, ["api-canary", "sark-canary"], "opted-in Deployments only, sorted: {json}");
    assert_eq!(json["items"][1]["phase"], "Paused");
    assert_eq!(json["items"][1]["verdicts"][0]["reason"], "error-rate: canary 0.4% (2/500)");

    let staging = cluster.status(&["-n", "staging", "-o", "json"]);
    let json: Value = serde_json::from_str(&stdout(&staging)).expect("JSON");
    assert_eq!(json["items"][0]["strategy"], "blue-green", "a list of one is a list: {json}");
    let one: Value = serde_json::from_str(&stdout(&cluster.status(&[ROLLOUT, "-o", "json"]))).expect("JSON");
    assert_eq!(one["name"], "sark-canary", "one rollout named: the object itself: {one}");

    let all = cluster.status(&["-A"]);
    assert!(stdout(&all).contains("staging/other-canary  blue-green  not started"), "{}", describe(&all));
    let default_namespace = cluster.status(&[]);
    assert_eq!(default_namespace.status.code(), Some(0));
    assert!(stdout(&default_namespace).contains("no rollouts"), "the context's namespace is 'default'");
}
