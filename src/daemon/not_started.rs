//! A rollout that cannot run, reported without touching traffic: bad configuration
//! (`Invalid`, README "Lifecycle") or a Prometheus that cannot answer the run's preflight
//! (`preflight.rs`). Each is said once per set of problems (an Event and the status) and
//! looked at again later.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::controller;

use crate::k8s::K8sError;
use crate::k8s::events::Notice;
use crate::k8s::objects::revision;
use crate::k8s::record::Record;
use crate::rollout::Phase;

use super::reconcile::Reconciler;

/// How often an invalid rollout is looked at again (its objects may appear meanwhile).
pub(super) const INVALID_RECHECK: Duration = Duration::from_secs(60);
/// How soon a run held by an unreachable Prometheus asks it again.
const UNREACHABLE_RECHECK: Duration = Duration::from_secs(10);

impl Reconciler<'_> {
    /// Reports bad configuration once (Event + status) and changes no traffic.
    pub(super) async fn invalid(
        &self,
        candidate: &mut Deployment,
        stored: Option<Record>,
        problems: Vec<String>,
        now: SystemTime,
    ) -> Result<controller::Action, K8sError> {
        let note = format!("invalid configuration, no traffic changed: {}", problems.join("; "));
        self.not_started(candidate, stored, problems, Notice::warning("InvalidConfiguration", note), now).await?;
        Ok(controller::Action::requeue(INVALID_RECHECK))
    }

    /// A run that cannot start until Prometheus answers: the message goes into
    /// `serin.io/status` (shown as `Invalid`, nothing moves) with a `PrometheusUnreachable`
    /// Warning, once per message; the check is tried again soon.
    pub(super) async fn prometheus_unreachable(
        &self,
        candidate: &mut Deployment,
        stored: Option<Record>,
        message: String,
        now: SystemTime,
    ) -> Result<controller::Action, K8sError> {
        tracing::warn!("{message}");
        let notice = Notice::warning("PrometheusUnreachable", message.clone());
        self.not_started(candidate, stored, vec![message], notice, now).await?;
        Ok(controller::Action::requeue(UNREACHABLE_RECHECK))
    }

    /// Records why no run can start (`invalid`: the phase shows `Invalid`) with `notice`,
    /// once per set of problems.
    pub(super) async fn not_started(
        &self,
        candidate: &mut Deployment,
        stored: Option<Record>,
        problems: Vec<String>,
        notice: Notice,
        now: SystemTime,
    ) -> Result<(), K8sError> {
        let mut record = stored.clone().unwrap_or_else(|| {
            let mut fresh = Record::new(crate::rollout::RolloutState::new(&revision(candidate), now));
            fresh.state.phase = Phase::Invalid;
            fresh.settled = true;
            fresh
        });
        if record.invalid != problems {
            record.invalid = problems;
            self.save(candidate, stored.as_ref(), &record).await?;
            self.publish(candidate, &[notice]).await;
        }
        Ok(())
    }
}
