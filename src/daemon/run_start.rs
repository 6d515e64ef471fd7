//! When a run starts, and how it begins (README, "Annotations"):
//! - a canary run starts when the candidate's pod spec differs from the stable's; a
//!   blue-green run when the candidate's pod spec changed;
//! - a revision that was rolled back is not retried until its pod spec changes or
//!   `serin.io/retry` changes value;
//! - a new revision during a run restarts it: weight 0 first, evidence discarded (F#30);
//! - a candidate serin scaled to 0 after the last run is scaled back up first, and gets no
//!   traffic until its pods are ready.

use std::time::SystemTime;

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use crate::k8s::K8sError;
use crate::k8s::events::Notice;
use crate::k8s::objects::{self, replicas, revision};
use crate::k8s::record::{Record, RouteRef, Work};
use crate::k8s::router::nginx::canary_ingress_name;
use crate::k8s::workload::replicas_for_weight;
use crate::rollout::{Action, Phase, RolloutState};
use crate::spec::{RolloutSpec, Strategy};

use super::context::Apis;
use super::resolve::{CanaryTraffic, World, serving_deployment};

/// The record of a run starting now, with its Event; `None` when no run starts.
pub async fn next_run(
    apis: &Apis,
    candidate: &Deployment,
    spec: &RolloutSpec,
    world: &World,
    stored: Option<&Record>,
    now: SystemTime,
    dry_run: bool,
) -> Result<Option<(Record, Notice)>, K8sError> {
    let revision = revision(candidate);
    let current = stored.filter(|r| r.state.phase != Phase::Invalid);
    let worth_a_run = match world {
        World::Canary(c) => objects::revision(&c.stable) != revision,
        World::BlueGreen(_) => true,
    };
    let in_flight = current.is_some_and(|r| !r.state.phase.is_terminal());
    let start = match current {
        None => worth_a_run,
        Some(r) if r.state.revision != revision => true,
        Some(r) => r.state.phase == Phase::RolledBack && spec.retry.is_some() && spec.retry != r.retry,
    };
    if !start {
        return Ok(None);
    }
    let mut record = Record::new(RolloutState::new(&revision, now));
    record.retry = spec.retry.clone();
    record.dry_run = dry_run;
    record.replicas_before = current.and_then(|r| r.replicas_before);
    let mut notice = Notice::normal(
        "RolloutStarted",
        format!("revision {revision}: {} analysed with {}", spec.strategy_name(), spec.analysis.join(", ")),
    );
    match world {
        World::Canary(canary) => {
            match &canary.traffic {
                CanaryTraffic::Ingress(route) => {
                    record.canary_ingress = Some(canary_ingress_name(&route.stable_ingress.name_any()));
                }
                CanaryTraffic::HttpRoute { name, canary } => {
                    let canary_service = canary.canary_service.clone();
                    record.canary_route = Some(RouteRef { name: name.clone(), canary_service });
                }
            }
            if in_flight {
                // No traffic on a revision nobody analysed.
                record.pending.push(Work::Act(Action::SetWeight { weight: 0 }));
                notice.reason = "RolloutRestarted";
                notice.note = format!("new revision {revision} during a run: canary weight 0, analysis restarts");
            }
            if !worth_a_run {
                record.state.phase = Phase::Succeeded;
                record.state.reason = "the candidate runs the stable's pod spec: nothing to roll out".into();
                record.pending.push(Work::RemoveCanary);
                notice.reason = "NothingToRollOut";
                notice.note = record.state.reason.clone();
                return Ok(Some((record, notice)));
            }
            if replicas(candidate) == 0 {
                let Strategy::Canary(c) = &spec.strategy else { unreachable!("a canary world has a canary spec") };
                let wanted = if c.scale_with_weight {
                    replicas_for_weight(replicas(&canary.stable), c.steps[0])
                } else {
                    record.replicas_before.unwrap_or(1)
                };
                record.pending.push(Work::ScaleCandidate { replicas: wanted });
            }
        }
        World::BlueGreen(bg) => {
            let Strategy::BlueGreen(bg_spec) = &spec.strategy else {
                unreachable!("a blue-green world has a blue-green spec")
            };
            record.service = Some(bg_spec.service.clone());
            record.slot_label = Some(bg_spec.slot_label.clone());
            record.candidate_slot = Some(bg.candidate_slot.clone());
            if bg.live_slot == bg.candidate_slot {
                // The Service already selects this slot: the change went live in place.
                record.state.phase = Phase::Succeeded;
                record.state.reason = format!(
                    "Service {} already selects {}={}: nothing to flip (update the idle slot to run blue-green)",
                    bg_spec.service, bg_spec.slot_label, bg.candidate_slot
                );
                let note = record.state.reason.clone();
                let notice = if current.is_some() {
                    Notice::warning("LiveSlotChanged", note)
                } else {
                    Notice::normal("AlreadyLive", note)
                };
                return Ok(Some((record, notice)));
            }
            record.previous_slot = Some(bg.live_slot.clone());
            let previous = serving_deployment(apis, candidate, &bg.service).await?;
            if replicas(candidate) == 0 {
                let previous_replicas = match &previous {
                    Some(name) => apis.deployments.get_opt(name).await.ok().flatten().map(|d| replicas(&d)),
                    None => None,
                };
                let wanted = record.replicas_before.or(previous_replicas).unwrap_or(1).max(1);
                record.pending.push(Work::ScaleCandidate { replicas: wanted });
            }
            record.previous_deployment = previous;
        }
    }
    Ok(Some((record, notice)))
}
