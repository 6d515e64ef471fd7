//! Background churn, as a busy cluster has it while no rollout moves: stable Deployments
//! scaled up and back down by one replica (an HPA at work), `rate` a second. Each scale
//! is a spec change, then a status change by the Deployment controller: watch events of
//! an object every candidate's rollout names, which the daemon maps back to candidates.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::fake_apiserver::FakeApiServer;
use crate::fixtures::Rollout;

/// Scales stables round-robin for `duration`; returns how many scales were made.
pub fn run(api: &FakeApiServer, rollouts: &[Rollout], rate: f64, duration: Duration) -> usize {
    if rate <= 0.0 || rollouts.is_empty() {
        std::thread::sleep(duration);
        return 0;
    }
    let period = Duration::from_secs_f64(1.0 / rate);
    let started = Instant::now();
    let mut scales = 0;
    while started.elapsed() < duration {
        // Each stable goes 2 → 3 on its first turn and 3 → 2 on the next.
        let rollout = &rollouts[scales % rollouts.len()];
        let replicas = if (scales / rollouts.len()) % 2 == 0 { 3 } else { 2 };
        let patch = json!({"spec": {"replicas": replicas}});
        api.patch_merge("apps/v1", "Deployment", &rollout.namespace, &rollout.app, patch);
        scales += 1;
        // On schedule, not merely `period` after the last one: the rate holds under load.
        let next = period * scales as u32;
        std::thread::sleep(next.saturating_sub(started.elapsed()));
    }
    scales
}
