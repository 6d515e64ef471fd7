//! The daemon at scale: RSS and CPU of the real `serin run` with 1,000 annotated
//! Deployments at steady state in the fake API server (targets: < 64 MiB RSS, < 5% of a
//! core), and its reconcile latency after a change (p50 … p99, max).
//!
//! ```sh
//! cargo bench --bench daemon_scale                       # 1,000 rollouts, 60 s window, 100 changes
//! cargo bench --bench daemon_scale -- --deployments 200 --window 20 --changes 30
//! cargo bench --bench daemon_scale -- --ramp 100         # the daemon first, then 100 rollouts/s
//! cargo bench --bench daemon_scale -- --cluster 10000    # 10,000 Deployments in all, realistic metadata
//! ```
//!
//! `--cluster N`: the rollouts' Deployments and other teams' Deployments (not opted in)
//! make N in all, each with the metadata `kubectl apply` and the controllers leave (a
//! ~3 KiB last-applied-configuration annotation, labels, managedFields): what a
//! cluster-wide watch of Deployments brings in (`simulations/daemon-scale-cluster.md`).
//!
//! 1. The fake API server gets `--deployments` rollouts (fixtures.rs says which mix)
//!    and waits until its simulated Deployment controller has made them all Available.
//! 2. The release `serin run` starts against it (all namespaces; `--prometheus` a stub
//!    answering at once with no data, prometheus_stub.rs); the benchmark waits until every candidate was reconciled once and
//!    the daemon's requests have quietened (startup.rs). With `--ramp R` the daemon
//!    starts first and the rollouts come R a second: no startup storm of concurrent
//!    reconciles, so far fewer connections (the report's file descriptors).
//! 3. Steady state: the daemon's RSS and CPU time are sampled from /proc over `--window`
//!    seconds, and its API requests counted (procstat.rs, requests.rs); then again while
//!    `--churn` stable Deployments a second are scaled, for `--churn-window` seconds
//!    (churn.rs): no rollout moves, but the objects the daemon watches do.
//! 4. `--changes` candidates get a new image, one every 200 ms; each is timed until the
//!    daemon writes `serin.io/status` with the new revision (latency.rs).
//! 5. The report (report.rs) is printed and written to `simulations/daemon-scale.md`
//!    (`simulations/daemon-scale-ramp.md` with `--ramp`).
//!
//! A `harness = false` target: `cargo nextest run --all-targets` builds it and runs it to
//! list its tests (`--list --format terse`), and `cargo test --all-targets` runs it with
//! no arguments. Only `cargo bench` passes `--bench`; without it this does nothing.

#[path = "daemon_scale/churn.rs"]
mod churn;
#[path = "../tests/support/daemon.rs"]
mod daemon;
#[path = "../tests/support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "daemon_scale/fixtures.rs"]
mod fixtures;
#[path = "daemon_scale/latency.rs"]
mod latency;
#[path = "daemon_scale/procstat.rs"]
mod procstat;
#[path = "daemon_scale/prometheus_stub.rs"]
mod prometheus_stub;
#[path = "daemon_scale/report.rs"]
mod report;
#[path = "daemon_scale/requests.rs"]
mod requests;
#[path = "daemon_scale/startup.rs"]
mod startup;

use std::path::Path;
use std::time::{Duration, Instant};

use daemon::Daemon;
use fake_apiserver::FakeApiServer;
use fixtures::Kind;
use procstat::Sampler;

/// Between two changes of the burst.
const SPACING: Duration = Duration::from_millis(200);

struct Options {
    deployments: usize,
    namespaces: usize,
    window: Duration,
    changes: usize,
    /// Rollouts a second to create after the daemon started on an empty cluster; None:
    /// all exist before it starts (a daemon (re)starting in a busy cluster).
    ramp: Option<f64>,
    /// Deployments in all (`--cluster`): the rollouts' and others', with realistic metadata.
    cluster: Option<usize>,
    /// Stable Deployments scaled a second in the churn window, and how long it lasts.
    churn: f64,
    churn_window: Duration,
}

impl Options {
    fn parse(args: &[String]) -> Options {
        let mut options = Options {
            deployments: 1000,
            namespaces: 10,
            window: Duration::from_secs(60),
            changes: 100,
            ramp: None,
            cluster: None,
            churn: 5.0,
            churn_window: Duration::from_secs(30),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| -> u64 {
                let text = args.next().unwrap_or_else(|| panic!("{name} needs a value"));
                text.parse().unwrap_or_else(|_| panic!("{name}: not a number: {text:?}"))
            };
            match arg.as_str() {
                "--deployments" => options.deployments = value(arg) as usize,
                "--namespaces" => options.namespaces = (value(arg) as usize).max(1),
                "--window" => options.window = Duration::from_secs(value(arg)),
                "--changes" => options.changes = value(arg) as usize,
                "--ramp" => options.ramp = Some(value(arg).max(1) as f64),
                "--cluster" => options.cluster = Some(value(arg) as usize),
                "--churn" => options.churn = value(arg) as f64,
                "--churn-window" => options.churn_window = Duration::from_secs(value(arg)),
                // `--bench`, and whatever else cargo passes.
                _ => {}
            }
        }
        options
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return;
    }
    let options = Options::parse(&args);
    let began = Instant::now();
    let progress = |what: &str| eprintln!("daemon_scale [{:>5.1} s] {what}", began.elapsed().as_secs_f64());

    let api = FakeApiServer::start();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig);
    let log = dir.path().join("serin.log");
    let (n, namespaces) = (options.deployments, options.namespaces);
    let (mut daemon, rollouts, first_request, daemon_started) = match options.ramp {
        None => {
            progress(&format!("creating {n} rollouts in {namespaces} namespaces"));
            let rollouts = fixtures::populate(&api, n, namespaces, None, options.cluster.is_some());
            if let Some(total) = options.cluster {
                let others = total.saturating_sub(2 * n);
                progress(&format!("creating {others} other Deployments (not opted in)"));
                fixtures::populate_others(&api, others, namespaces);
            }
            wait(Duration::from_secs(120), "every Deployment rolled out", || fixtures::all_rolled_out(&api));
            progress("starting serin run");
            let first_request = api.request_count();
            (Daemon::start(&kubeconfig, &prometheus_stub::start(), &[], &log), rollouts, first_request, Instant::now())
        }
        Some(rate) => {
            progress("starting serin run on an empty cluster");
            let (daemon, started) = (Daemon::start(&kubeconfig, &prometheus_stub::start(), &[], &log), Instant::now());
            // Its four lists and four watches (Deployments twice, Services, Ingresses).
            wait(Duration::from_secs(30), "the daemon watching", || api.request_count() >= 8);
            progress(&format!("creating {n} rollouts in {namespaces} namespaces, {rate} a second"));
            let pace = Some(Duration::from_secs_f64(1.0 / rate));
            let rollouts = fixtures::populate(&api, n, namespaces, pace, options.cluster.is_some());
            (daemon, rollouts, 0, started)
        }
    };
    let objects = count_objects(&api);
    let startup = startup::wait_synced(&api, &mut daemon, &rollouts, first_request, daemon_started);

    progress(&format!("synced; steady-state window of {} s", options.window.as_secs()));
    let steady = measure(&api, &daemon, &log, || std::thread::sleep(options.window));
    startup::ensure_running(&mut daemon, "the steady window");

    progress(&format!("churn: {} stable scales a second for {} s", options.churn, options.churn_window.as_secs()));
    let mut scales = 0;
    let churn =
        measure(&api, &daemon, &log, || scales = churn::run(&api, &rollouts, options.churn, options.churn_window));
    startup::ensure_running(&mut daemon, "the churn window");

    progress(&format!("{} changes, one every {} ms", options.changes, SPACING.as_millis()));
    let mut burst = None;
    let burst_window =
        measure(&api, &daemon, &log, || burst = Some(latency::burst(&api, &rollouts, options.changes, SPACING)));
    let burst = burst.expect("the burst ran");
    startup::ensure_running(&mut daemon, "the burst");
    drop(daemon);

    let mix = Kind::ALL.iter().map(|k| (*k, rollouts.iter().filter(|r| r.kind == *k).count())).collect();
    let report = report::Report {
        ramp: options.ramp,
        cluster: options.cluster,
        rollouts: options.deployments,
        namespaces: options.namespaces,
        mix,
        objects,
        startup,
        steady,
        churn,
        scales,
        burst,
        burst_window,
        wall: began.elapsed(),
    };
    let text = report.markdown();
    println!("{text}");
    // The ramp is a comparison run: it must not replace the default's report.
    let name = match (options.ramp, options.cluster) {
        (Some(_), _) => "daemon-scale-ramp.md",
        (None, Some(_)) => "daemon-scale-cluster.md",
        (None, None) => "daemon-scale.md",
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("simulations").join(name);
    std::fs::write(&path, &text).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    progress(&format!("report written to {}", path.display()));
}

/// Samples the daemon and counts its requests and log while `during` runs.
fn measure(api: &FakeApiServer, daemon: &Daemon, log: &Path, during: impl FnOnce()) -> report::Measured {
    let (from, log_before) = (api.request_count(), file_size(log));
    let sampler = Sampler::start(daemon.pid());
    during();
    let window = sampler.stop();
    let requests = requests::counts(&api.requests_since(from));
    report::Measured { window, requests, log_bytes: file_size(log).saturating_sub(log_before) }
}

/// Polls `check` every 200 ms; panics naming `what` after `timeout`.
fn wait(timeout: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn count_objects(api: &FakeApiServer) -> Vec<(&'static str, usize)> {
    [
        ("Deployments", "apps/v1", "Deployment"),
        ("Services", "v1", "Service"),
        ("Ingresses", "networking.k8s.io/v1", "Ingress"),
        ("Pods", "v1", "Pod"),
    ]
    .into_iter()
    .map(|(label, api_version, kind)| (label, api.list(api_version, kind, "").len()))
    .collect()
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}
