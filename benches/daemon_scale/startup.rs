//! Waiting until the daemon has synced: it has listed and watched what it watches,
//! reconciled every candidate once (each reconcile begins with a fresh GET of its
//! candidate), and started the runs of the in-flight rollouts (their phase is
//! `Progressing`); then until its requests have stopped for a moment.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::daemon::Daemon;
use crate::fake_apiserver::FakeApiServer;
use crate::fixtures::{Kind, Rollout};
use crate::procstat;
use crate::requests;

const DEADLINE: Duration = Duration::from_secs(120);
/// Synced once no request came for this long (the in-flight runs' next ticks are a minute
/// away), or at most `SETTLE_MAX` after every candidate was reconciled.
const QUIET: Duration = Duration::from_secs(3);
const SETTLE_MAX: Duration = Duration::from_secs(30);

pub struct Startup {
    /// From the daemon's start until every candidate was reconciled once.
    pub reconciled_all: Duration,
    /// Until its requests quietened.
    pub settled: Duration,
    /// CPU time used until settled, in seconds.
    pub cpu_seconds: f64,
    pub peak_rss_kib: u64,
    pub requests: Vec<(String, usize)>,
}

/// `from`: the first request of the daemon; `started`: when it started.
pub fn wait_synced(
    api: &FakeApiServer,
    daemon: &mut Daemon,
    rollouts: &[Rollout],
    from: usize,
    started: Instant,
) -> Startup {
    let wanted: HashSet<String> = rollouts
        .iter()
        .map(|r| format!("/apis/apps/v1/namespaces/{}/deployments/{}", r.namespace, r.candidate()))
        .collect();
    let in_flight: Vec<&Rollout> = rollouts.iter().filter(|r| r.kind == Kind::InFlight).collect();
    let mut seen = HashSet::new();
    let mut cursor = from;
    loop {
        let fresh = api.requests_since(cursor);
        cursor += fresh.len();
        seen.extend(fresh.iter().filter(|r| r.method == "GET" && wanted.contains(&r.path)).map(|r| r.path.clone()));
        let progressing = in_flight.iter().all(|r| phase(api, r).as_deref() == Some("Progressing"));
        if seen.len() == wanted.len() && progressing {
            break;
        }
        check(daemon, started, &format!("{} of {} candidates reconciled", seen.len(), wanted.len()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let reconciled_all = started.elapsed();
    let settle_until = Instant::now() + SETTLE_MAX;
    let mut last = (api.request_count(), Instant::now());
    while last.1.elapsed() < QUIET && Instant::now() < settle_until {
        std::thread::sleep(Duration::from_millis(200));
        let count = api.request_count();
        if count != last.0 {
            last = (count, Instant::now());
        }
        check(daemon, started, "the daemon's requests to stop");
    }
    let reading = procstat::read(daemon.pid());
    Startup {
        reconciled_all,
        settled: started.elapsed(),
        cpu_seconds: reading.cpu_ticks as f64 / procstat::clock_ticks() as f64,
        peak_rss_kib: reading.hwm_kib,
        requests: requests::counts(&api.requests_since(from)),
    }
}

pub fn phase(api: &FakeApiServer, rollout: &Rollout) -> Option<String> {
    let candidate = api.get("apps/v1", "Deployment", &rollout.namespace, &rollout.candidate())?;
    candidate["metadata"]["annotations"]["serin.io/phase"].as_str().map(str::to_string)
}

/// Panics with the end of the daemon's log when it died or the deadline passed.
fn check(daemon: &mut Daemon, started: Instant, waiting_for: &str) {
    ensure_running(daemon, waiting_for);
    if started.elapsed() > DEADLINE {
        panic!("gave up after {DEADLINE:?} waiting for {waiting_for}:\n{}", tail(&daemon.log()));
    }
}

/// Panics with the end of the daemon's log when it is no longer running.
pub fn ensure_running(daemon: &mut Daemon, during: &str) {
    if !daemon.is_running() {
        panic!("the daemon exited during {during}:\n{}", tail(&daemon.log()));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
