//! Reads what the lifecycle planner decides from (`serin_core::lifecycle::Snapshot`): the
//! candidate's revision and readiness, and the state of the objects its strategy moves.

use k8s_openapi::api::apps::v1::Deployment;

use crate::k8s::K8sError;
use crate::k8s::objects::{self, replicas, revision};
use crate::k8s::workload;
use crate::lifecycle::{Record, Snapshot, SnapshotWorld};
use crate::rollout::Phase;

use super::context::Apis;
use super::resolve::{World, serving_deployment};

/// `stored`: the run on record. The Deployment serving a blue-green Service's live slot is
/// only looked up (a list of Deployments) when a run may start.
pub async fn read(
    apis: &Apis,
    candidate: &Deployment,
    world: &World,
    stored: Option<&Record>,
) -> Result<Snapshot, K8sError> {
    let world = match world {
        World::Unresolved => None,
        World::Canary(c) => Some(SnapshotWorld::Canary {
            stable_revision: revision(&c.stable),
            stable_replicas: replicas(&c.stable),
            promotion_complete: workload::is_promoted(&c.stable, candidate) && objects::is_rolled_out(&c.stable),
            canary_route: c.route.managed_name(),
            http_route: c.route.http_route(),
        }),
        World::BlueGreen(bg) => {
            // A run that succeeded never restarts, so its keep-previous ticks need no list.
            let previous = match may_start(candidate, stored) {
                true => serving_deployment(apis, candidate, &bg.service).await?,
                false => stored.and_then(|r| r.previous_deployment.clone()),
            };
            let previous_replicas = match &previous {
                Some(name) => apis.deployments.get_opt(name).await.ok().flatten().map(|d| replicas(&d)),
                None => None,
            };
            Some(SnapshotWorld::BlueGreen {
                live_slot: bg.live_slot.clone(),
                candidate_slot: bg.candidate_slot.clone(),
                previous_deployment: previous,
                previous_replicas,
            })
        }
    };
    let world = match (world, stored) {
        (Some(world), _) => world,
        // Unresolved: only a run in flight gets here; what it knew at its start stands in.
        (None, record) => unresolved(record),
    };
    Ok(Snapshot {
        revision: revision(candidate),
        candidate_ready: objects::is_rolled_out(candidate),
        candidate_replicas: replicas(candidate),
        world,
    })
}

/// Whether a run may start now, as `lifecycle::start` decides it or more often: a new
/// revision, a retry of a rolled-back one, or a configuration that was invalid. What only a
/// start needs is read only then.
pub fn may_start(candidate: &Deployment, stored: Option<&Record>) -> bool {
    stored.is_none_or(|r| {
        r.state.revision != revision(candidate) || matches!(r.state.phase, Phase::RolledBack | Phase::Invalid)
    })
}

/// The world of a run whose objects are gone, from its record (a run in flight always has
/// one; without, an empty canary world that matches nothing).
fn unresolved(record: Option<&Record>) -> SnapshotWorld {
    if let Some(record) = record
        && let (Some(candidate), Some(previous)) = (&record.candidate_slot, &record.previous_slot)
    {
        return SnapshotWorld::BlueGreen {
            live_slot: previous.clone(),
            candidate_slot: candidate.clone(),
            previous_deployment: record.previous_deployment.clone(),
            previous_replicas: record.previous_replicas,
        };
    }
    SnapshotWorld::Canary {
        // Unknown: the run's own revision keeps it from looking like a new one.
        stable_revision: String::new(),
        stable_replicas: 0,
        promotion_complete: false,
        canary_route: record.and_then(|r| r.canary_ingress.clone()).unwrap_or_default(),
        http_route: record.and_then(|r| r.canary_route.clone()),
    }
}
