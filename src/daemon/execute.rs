//! Does the work a transition decided, against the cluster. Every item is idempotent (the
//! daemon may die between doing it and recording that it did), and in a dry run nothing
//! is written: only the smoke checks, which are reads, still run.

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;

use crate::k8s::events::Notice;
use crate::k8s::objects::{pod_labels, replicas};
use crate::k8s::record::{Record, Work};
use crate::k8s::router::{self, Router};
use crate::k8s::{K8sError, selector, smoke, workload};
use crate::rollout::{Action, Slot};
use crate::spec::{RolloutSpec, Strategy};

use super::context::{Apis, Context};
use super::resolve::{CanaryWorld, World};

pub struct Executor<'a> {
    pub ctx: &'a Context,
    pub apis: &'a Apis,
    pub candidate: &'a Deployment,
    pub spec: &'a RolloutSpec,
    pub world: &'a World,
}

impl Executor<'_> {
    /// Does one item of work. Results that later decisions need (the smoke checks, the
    /// replicas to restore) go into `record`; what a human should know into `notices`.
    pub async fn run(&self, work: &Work, record: &mut Record, notices: &mut Vec<Notice>) -> Result<(), K8sError> {
        if record.dry_run && !matches!(work, Work::Act(Action::SmokeTest)) {
            return Ok(());
        }
        // Past the renew deadline another replica may be leading: no write of ours may
        // land after its (the work stays pending for whoever leads).
        if !self.ctx.leadership.may_act() {
            return Err(K8sError::Refused("leadership ended (renew deadline passed): not writing".into()));
        }
        match (work, self.world) {
            (Work::Act(action), World::Canary(canary)) => self.canary_action(action, canary).await,
            (Work::Act(action), World::BlueGreen(_)) => self.blue_green_action(action, record, notices).await,
            (Work::ScaleCandidate { replicas }, _) => {
                workload::scale(&self.apis.deployments, &self.candidate.name_any(), *replicas).await
            }
            (Work::RemoveCanary, World::Canary(canary)) => self.remove_canary(canary, record).await,
            (Work::RemoveCanary, World::BlueGreen(_)) => Ok(()),
            (work, World::Unresolved) => self.guarded(work, record).await,
        }
    }

    /// Work for a run whose objects are gone: only taking traffic off the candidate is
    /// possible, from what the record kept; anything else waits for the objects.
    async fn guarded(&self, work: &Work, record: &mut Record) -> Result<(), K8sError> {
        match work {
            Work::Act(Action::Rollback { .. }) | Work::RemoveCanary => {
                let namespace = self.candidate.namespace().unwrap_or_default();
                if let Some(done) = router::restore(&self.apis.client, &namespace, record, self.candidate).await? {
                    tracing::warn!("{done}");
                }
                if record.canary_ingress.is_some() {
                    self.scale_candidate_down(record).await?;
                }
                Ok(())
            }
            Work::Act(Action::Hold { .. } | Action::Pause { .. }) => Ok(()),
            _ => Err(K8sError::Waiting("the rollout's objects cannot be resolved: only a rollback can act".into())),
        }
    }

    fn router(&self, canary: &CanaryWorld) -> Router {
        canary.route.router(&self.apis.client, &self.candidate.namespace().unwrap_or_default())
    }

    async fn canary_action(&self, action: &Action, canary: &CanaryWorld) -> Result<(), K8sError> {
        let Strategy::Canary(spec) = &self.spec.strategy else { return Ok(()) };
        match action {
            Action::SetWeight { weight } => {
                if *weight > 0 {
                    let service = workload::desired_canary_service(
                        &spec.canary_service,
                        &canary.stable_service,
                        selector_labels(self.candidate),
                        crate::k8s::owner_reference(self.candidate),
                    );
                    workload::ensure_service(&self.apis.services, &service).await?;
                }
                self.router(canary).set_weight(*weight).await?;
                if spec.scale_with_weight && *weight > 0 {
                    let wanted = workload::replicas_for_weight(replicas(&canary.stable), *weight);
                    workload::scale(&self.apis.deployments, &self.candidate.name_any(), wanted).await?;
                }
                Ok(())
            }
            // Weight 0 at once, in one write; the canary's removal follows as its own work.
            // A refused weight write (an admission webhook down: it checks updates, not
            // deletes) must not keep the removal from running: it takes the traffic off too.
            Action::Rollback { .. } => {
                if let Err(e) = self.router(canary).set_weight(0).await {
                    tracing::warn!(error = %e, "rollback: weight 0 not written; removing the canary route instead");
                }
                Ok(())
            }
            Action::Promote { .. } => {
                workload::promote(&self.apis.deployments, &canary.stable.name_any(), self.candidate).await
            }
            Action::Flip { .. } | Action::SmokeTest | Action::ScaleDownPrevious => Ok(()),
            Action::Pause { .. } | Action::Hold { .. } => Ok(()),
        }
    }

    /// Weight 0, delete the canary Ingress, then scale the candidate to 0 (remembering its
    /// replicas for the next run). Stable is never scaled: it serves all traffic.
    async fn remove_canary(&self, canary: &CanaryWorld, record: &mut Record) -> Result<(), K8sError> {
        let router = self.router(canary);
        let zero = router.set_weight(0).await;
        // The removal alone also takes the traffic off: a failed weight write only matters
        // when the removal fails too.
        router.remove().await?;
        if let Err(e) = zero {
            tracing::warn!(error = %e, "weight 0 was refused; the canary route was removed all the same");
        }
        self.scale_candidate_down(record).await
    }

    /// Scales the candidate to 0, remembering its replicas for the next run.
    async fn scale_candidate_down(&self, record: &mut Record) -> Result<(), K8sError> {
        let current = replicas(self.candidate);
        if current > 0 {
            record.replicas_before = Some(current);
        }
        workload::scale(&self.apis.deployments, &self.candidate.name_any(), 0).await
    }

    async fn blue_green_action(
        &self,
        action: &Action,
        record: &mut Record,
        notices: &mut Vec<Notice>,
    ) -> Result<(), K8sError> {
        let (World::BlueGreen(world), Strategy::BlueGreen(bg)) = (self.world, &self.spec.strategy) else {
            return Ok(());
        };
        let flip =
            |slot: String| async move { selector::flip(&self.apis.services, &bg.service, &bg.slot_label, &slot).await };
        match action {
            Action::Flip { to: Slot::Candidate, .. } => flip(world.candidate_slot.clone()).await.map(drop),
            Action::Flip { to: Slot::Previous, .. } | Action::Rollback { .. } => match &record.previous_slot {
                // Before the flip the Service still selects the previous slot: nothing to undo.
                Some(previous) => {
                    self.previous_slot_ready(record, notices).await?;
                    flip(previous.clone()).await.map(drop)
                }
                None => Ok(()),
            },
            Action::SmokeTest => {
                let selector = label_selector(self.candidate);
                let result =
                    smoke::check(&self.apis.pods, &selector, &world.service, &bg.smoke, &self.ctx.http).await?;
                notices.push(if result.passed {
                    Notice::normal("SmokeChecksPassed", result.detail.clone())
                } else {
                    Notice::warning("SmokeChecksFailed", result.detail.clone())
                });
                record.smoke = Some(result);
                Ok(())
            }
            Action::ScaleDownPrevious => match &record.previous_deployment {
                Some(previous) => workload::scale(&self.apis.deployments, previous, 0).await,
                None => {
                    notices.push(Notice::warning(
                        "PreviousSlotUnknown",
                        "no Deployment served the previous slot when the run started: nothing scaled down",
                    ));
                    Ok(())
                }
            },
            Action::SetWeight { .. } | Action::Promote { .. } | Action::Pause { .. } | Action::Hold { .. } => Ok(()),
        }
    }
}

impl Executor<'_> {
    /// A flip back only goes to a slot with ready pods: one scaled to 0 meanwhile (a GitOps
    /// tool, a person) is scaled back to its replicas from the run's start, and the flip
    /// waits until it is Available. Flipping to nothing would be a full outage.
    async fn previous_slot_ready(&self, record: &Record, notices: &mut Vec<Notice>) -> Result<(), K8sError> {
        let Some(name) = &record.previous_deployment else { return Ok(()) };
        let Some(previous) = self
            .apis
            .deployments
            .get_opt(name)
            .await
            .map_err(crate::k8s::api_error(format!("reading Deployment {name}")))?
        else {
            return Ok(());
        };
        if crate::k8s::objects::has_available_pods(&previous) {
            return Ok(());
        }
        if replicas(&previous) == 0 {
            let wanted = record.previous_replicas.unwrap_or(1).max(1);
            workload::scale(&self.apis.deployments, name, wanted).await?;
            notices.push(Notice::warning(
                "PreviousSlotScaledUp",
                format!(
                    "Deployment {name} (the previous slot) had 0 replicas: scaled back to {wanted} before flipping back"
                ),
            ));
        }
        Err(K8sError::Waiting(format!("the flip back waits for Deployment {name} (the previous slot) to be Available")))
    }
}

/// The candidate's `spec.selector.matchLabels` (its pods), falling back to its pod labels.
pub fn selector_labels(candidate: &Deployment) -> std::collections::BTreeMap<String, String> {
    candidate
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| pod_labels(candidate))
}

/// The same as a label selector string (`app=sark,version=green`).
pub fn label_selector(candidate: &Deployment) -> String {
    selector_labels(candidate).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}
