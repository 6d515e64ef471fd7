//! Templates checked against the Prometheus they query: `serin lint --prometheus` and, in
//! the daemon, before a run moves any traffic. A real Prometheus scrapes simulated
//! ingress-nginx and application metrics (`support/traffic.rs`); the shipped templates
//! pass against it, and templates that would read 0 errors forever do not.
//! Needs prometheus (scripts/install-test-deps.sh).

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/traffic.rs"]
mod traffic;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use e2e::{NS, ROLLOUT_TIMEOUT, Rig};
use prometheus::TestPrometheus;
use traffic::{Profile, TrafficConfig, TrafficExporter};

/// An nginx-canary template whose error query filters on promhttp's `code` where
/// ingress-nginx says `status`, and whose latency reads a counter instead of buckets.
const WRONG_LABELS: &str = r#"
name: wrong-labels
metrics:
  - name: error-rate
    ratio:
      canary:
        bad: sum(nginx_ingress_controller_requests{namespace="{{namespace}}",ingress="{{ingress}}",canary!="",code=~"5.."})
        total: sum(nginx_ingress_controller_requests{namespace="{{namespace}}",ingress="{{ingress}}",canary!=""})
      baseline:
        bad: sum(nginx_ingress_controller_requests{namespace="{{namespace}}",ingress="{{ingress}}",canary="",code=~"5.."})
        total: sum(nginx_ingress_controller_requests{namespace="{{namespace}}",ingress="{{ingress}}",canary=""})
      max: 1%
  - name: latency
    histogram:
      canary: sum by (le) (nginx_ingress_controller_requests{namespace="{{namespace}}",ingress="{{ingress}}",canary!=""})
      max: {p95: 500ms}
  - name: typo
    value:
      query: sum(rate(nginx_ingress_controller_requests{namespace="{{namespace}}"}[1m])
      max: 1
"#;

fn canary_manifest(extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sark-canary\n  namespace: {NS}\n  \
         annotations:\n    serin.io/strategy: canary\n{extra}spec:\n  selector: {{matchLabels: {{app: sark}}}}\n  \
         template:\n    metadata: {{labels: {{app: sark, version: canary}}}}\n    spec:\n      containers: [{{name: sark, image: sark:1}}]\n"
    )
}

fn green_manifest() -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sark-green\n  namespace: {NS}\n  \
         annotations:\n    serin.io/strategy: blue-green\n    serin.io/service: sark\n    serin.io/arg.previous_slot: blue\n\
         spec:\n  selector: {{matchLabels: {{app: sark}}}}\n  \
         template:\n    metadata: {{labels: {{app: sark, version: green}}}}\n    spec:\n      containers: [{{name: sark, image: sark:1}}]\n"
    )
}

fn lint(prometheus: &str, files: &[&Path]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_serin"));
    command.arg("lint").arg("--prometheus").arg(prometheus).args(files);
    command.output().expect("run serin lint")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Both flavours of simulated traffic, scraped by one Prometheus.
fn world() -> (TrafficExporter, TrafficExporter, TestPrometheus) {
    let nginx = TrafficExporter::start(TrafficConfig::nginx(NS, "sark", "sark", "sark-canary", 80));
    let slo = TrafficExporter::start(TrafficConfig::http_slo(NS, "sark", "version", "green", "blue"));
    let prometheus = TestPrometheus::start_scraping(&[nginx.address(), slo.address()], Duration::from_secs(1));
    prometheus.wait_until_targets_up(Duration::from_secs(30));
    (nginx, slo, prometheus)
}

#[test]
fn lint_against_prometheus_passes_the_shipped_templates_and_names_wrong_labels() {
    let (_nginx, _slo, prometheus) = world();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let canary = write("canary.yaml", &canary_manifest(""));
    let green = write("green.yaml", &green_manifest());
    let output = lint(prometheus.url(), &[&canary, &green]);
    assert_eq!(output.status.code(), Some(0), "the shipped templates pass: {}", describe(&output));

    let template = write("wrong-labels.yaml", WRONG_LABELS);
    let wrong = write("wrong.yaml", &canary_manifest("    serin.io/analysis: wrong-labels\n"));
    let output = lint(prometheus.url(), &[&template, &wrong]);
    let text = describe(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    for needle in [
        "Deployment/sark-canary: template wrong-labels, metric error-rate: `code` is not a label of \
         nginx_ingress_controller_requests{namespace=\"production\",ingress=\"sark\",canary!=\"\"}: errors would read as 0",
        "metric latency: `le` is not a label of nginx_ingress_controller_requests{",
        "metric typo: Prometheus rejects sum(rate(",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in {text}");
    }

    let elsewhere = write("elsewhere.yaml", &canary_manifest("    serin.io/ingress: no-such-ingress\n"));
    let text = describe(&lint(prometheus.url(), &[&elsewhere]));
    assert!(text.contains("metric error-rate: no series match nginx_ingress_controller_requests{"), "{text}");
    assert!(text.contains("metric latency: no series match"), "{text}");

    let unreachable = lint("http://127.0.0.1:9", &[&canary]);
    assert_eq!(unreachable.status.code(), Some(2), "{}", describe(&unreachable));
}

#[test]
fn the_daemon_holds_a_run_whose_template_reads_a_label_the_metric_lacks() {
    let mut rig = Rig::canary(Profile::bad(), &[("serin.io/analysis", "wrong-labels")]);
    let templates = rig.dir.path().join("templates");
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::write(templates.join("wrong-labels.yaml"), WRONG_LABELS).unwrap();
    let templates = templates.display().to_string();
    rig.restart_daemon_env(&["--templates", &templates], &[]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the preflight problems in serin.io/status", |_| {
        rig.status("sark-canary")["invalid"].to_string().contains("is not a label")
    });
    assert_eq!(rig.phase("sark-canary").as_deref(), Some("Invalid"));
    let (kind, _, note) = rig.wait_for_event("sark-canary", "InvalidConfiguration");
    assert_eq!(kind, "Warning");
    let invalid = rig.status("sark-canary")["invalid"].to_string();
    assert!(invalid.contains("`code` is not a label of nginx_ingress_controller_requests{"), "{invalid}");
    assert!(note.contains("no traffic changed"), "{note}");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(rig.traffic_writes(), Vec::<String>::new(), "no traffic moved");
}
