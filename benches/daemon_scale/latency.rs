//! Reconcile latency after a change: the benchmark gives candidates a new image, one
//! every `spacing`, and times each until the daemon's first write of `serin.io/status`
//! naming the new revision. Both ends are taken on the fake server's side: just before
//! the change is committed, and when the daemon's PATCH was answered (the server stamps
//! every request it records), so polling adds nothing to the figures.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;
use serin::k8s::objects::revision;

use crate::fake_apiserver::FakeApiServer;
use crate::fixtures::{Kind, Rollout};
use crate::requests;

/// How long the daemon may take to record all the changes before the benchmark gives up.
const DEADLINE: Duration = Duration::from_secs(60);
/// Sampling goes on this long after the last status write, to include the work that
/// follows it (the candidate becomes Available 300 ms later; weight 10 is then set).
const TAIL: Duration = Duration::from_secs(5);

pub struct Burst {
    pub changes: usize,
    pub spacing: Duration,
    /// One per change the daemon recorded, sorted.
    pub latencies: Vec<Duration>,
}

impl Burst {
    /// Nearest-rank percentile.
    pub fn percentile(&self, q: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.latencies[rank - 1]
    }
}

struct Change {
    path: String,
    revision: String,
    at: Instant,
}

/// Changes `count` steady rollouts (fresh and promoted ones, spread over the namespaces)
/// and waits until the daemon has recorded them all (or the deadline), and `TAIL` more.
pub fn burst(api: &FakeApiServer, rollouts: &[Rollout], count: usize, spacing: Duration) -> Burst {
    let steady: Vec<&Rollout> = rollouts.iter().filter(|r| matches!(r.kind, Kind::Fresh | Kind::Succeeded)).collect();
    let stride = (steady.len() / count.max(1)).max(1);
    let targets: Vec<&Rollout> = steady.into_iter().step_by(stride).take(count).collect();
    let from = api.request_count();
    let mut changes = Vec::new();
    for (i, rollout) in targets.iter().enumerate() {
        changes.push(change(api, rollout, i));
        std::thread::sleep(spacing);
    }
    let deadline = Instant::now() + DEADLINE;
    let mut latencies = recorded(&changes, &api.requests_since(from));
    while latencies.len() < changes.len() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        latencies = recorded(&changes, &api.requests_since(from));
    }
    std::thread::sleep(TAIL);
    if latencies.len() < changes.len() {
        eprintln!("daemon_scale: {} of {} changes were never recorded", changes.len() - latencies.len(), changes.len());
    }
    latencies.sort();
    Burst { changes: changes.len(), spacing, latencies }
}

/// A new image for the candidate's container (the rest of the container kept: a merge
/// patch replaces the whole list).
fn change(api: &FakeApiServer, rollout: &Rollout, i: usize) -> Change {
    let (ns, name) = (rollout.namespace.as_str(), rollout.candidate());
    let current = api.get("apps/v1", "Deployment", ns, &name).expect("the candidate exists");
    let mut container = current["spec"]["template"]["spec"]["containers"][0].clone();
    container["image"] = json!(format!("registry.example.com/{}:2.{i}", rollout.app));
    let patch = json!({"spec": {"template": {"spec": {"containers": [container]}}}});
    let at = Instant::now();
    let updated = api.patch_merge("apps/v1", "Deployment", ns, &name, patch);
    let typed: Deployment = serde_json::from_value(updated).expect("a stored Deployment decodes");
    Change { path: format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}"), revision: revision(&typed), at }
}

/// For each change already recorded: from the change to the first status write naming it.
fn recorded(changes: &[Change], requests: &[crate::fake_apiserver::RecordedRequest]) -> Vec<Duration> {
    let writes = requests::status_writes(requests);
    changes
        .iter()
        .filter_map(|c| {
            let write = writes.iter().find(|(path, rev, at)| *path == c.path && *rev == c.revision && *at >= c.at)?;
            Some(write.2.duration_since(c.at))
        })
        .collect()
}
