//! A run's templates checked against the Prometheus they query before the run moves any
//! traffic ([`crate::engine::preflight`]): a template filtering its errors on a label the
//! metric does not have would read 0% errors forever. A failed check makes the rollout
//! `Invalid` with the reasons; it is checked again at the next look (every minute), so a
//! metric that starts being scraped lets the run start. A Prometheus that cannot answer
//! the check holds the run too, with a status message and a Warning that say so, and is
//! asked again every few seconds.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::controller;

use crate::engine::{Analysis, preflight};
use crate::k8s::K8sError;
use crate::k8s::events::Notice;
use crate::k8s::objects::revision;
use crate::k8s::record::{Record, Work};
use crate::rollout::{Action, Phase};

use super::context::Context;
use super::reconcile::Reconciler;

/// How soon a run held by an unreachable Prometheus asks it again.
const UNREACHABLE_RECHECK: Duration = Duration::from_secs(10);

/// The problems that keep the run `started` from starting; empty when it may start (or
/// when no run starts, or the run starts already over).
///
/// A run that restarts in flight is not held: its first work takes the canary back to
/// weight 0 (its templates were checked when it first started), and holding it would leave
/// the new, unanalysed revision serving the old run's weight. `Err`: Prometheus cannot
/// answer, with the message that says so (no run starts unchecked).
pub async fn problems(
    ctx: &Context,
    analysis: &Analysis,
    started: Option<&Record>,
    now: SystemTime,
) -> Result<Vec<String>, String> {
    let Some(record) = started else { return Ok(Vec::new()) };
    let restarts_in_flight = record.pending.iter().any(|w| matches!(w, Work::Act(Action::SetWeight { weight: 0 })));
    if record.state.phase.is_terminal() || restarts_in_flight {
        return Ok(Vec::new());
    }
    preflight::check(&ctx.source, &analysis.templates, now)
        .await
        .map_err(|e| unreachable_message(ctx.source.inner.url(), &e.to_string()))
}

/// The status message (and Event note) of a run held by an unreachable Prometheus.
pub fn unreachable_message(url: &str, error: &str) -> String {
    format!(
        "Prometheus at {url} unreachable: {error}; the run waits (its templates are checked against \
         Prometheus before any traffic moves)"
    )
}

impl Reconciler<'_> {
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
