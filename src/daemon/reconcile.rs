//! One reconcile of one candidate Deployment:
//!
//! ```text
//! fresh read ─► deleting? finalize │ opted out? release │ invalid? report, touch nothing
//!            ─► resolve related objects ─► snapshot ─► due tick? observe
//!            ─► lifecycle::plan (pure) ─► write the record (state + pending work)
//!            ─► do the work ─► write again ─► Events
//! ```
//!
//! The record is written *before* the work is done (write-ahead): a daemon killed between
//! the two finds the work still pending and does it again (every item is idempotent), so
//! a restart never loses a decision, flips twice or jumps a weight.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller;
use kube::{Resource, ResourceExt};
use tracing::Instrument;

use crate::engine::{self, Analysis};
use crate::judge::IntervalObservation;
use crate::k8s::events::Notice;
use crate::k8s::objects::{self, revision, target_of};
use crate::k8s::record::{self, Record};
use crate::k8s::{FINALIZER, K8sError, api_error};
use crate::lifecycle::{self, CommandOutcome, config};
use crate::rollout::Phase;
use crate::spec::{self, RolloutSpec, Strategy};

use super::context::{Apis, Context, Error};
use super::controller::Candidate;
use super::execute::Executor;
use super::not_started::INVALID_RECHECK;
use super::remember::Recalled;
use super::resolve::{World, resolve};
use super::{claims, command, contain, drift, preflight, route_gate, snapshot};

/// Conflicting writes are retried on a fresh read this many times within one reconcile.
const CONFLICT_ATTEMPTS: u32 = 3;

/// The controller's entry point.
pub async fn reconcile(object: Arc<Candidate>, ctx: Arc<Context>) -> Result<controller::Action, Error> {
    if !concerns_serin(&object) {
        return Ok(controller::Action::await_change());
    }
    let (namespace, name) = (object.namespace().unwrap_or_default(), object.name_any());
    // Every line of this rollout carries these; `revision` is filled in once read.
    let span = tracing::info_span!("rollout", namespace = %namespace, name = %name, revision = tracing::field::Empty);
    let started = Instant::now();
    let attempts = async {
        let mut attempt = 1;
        loop {
            let reconciler = Reconciler { ctx: &ctx, apis: ctx.apis(&namespace), name: &name };
            match reconciler.run().await {
                Err(e) if e.is_conflict() && attempt < CONFLICT_ATTEMPTS => {
                    tracing::debug!(error = %e, attempt, "conflict: retrying on a fresh read");
                    attempt += 1;
                }
                Err(e) => {
                    // Here, in the rollout's span: the line names namespace, name and revision.
                    tracing::warn!(error = %e, kind = e.label(), "reconcile failed; retrying");
                    return Err(Error::Cluster { namespace: namespace.clone(), name: name.clone(), source: e });
                }
                Ok(action) => return Ok(action),
            }
        }
    };
    let result = contain::contained(&namespace, &name, attempts).instrument(span).await;
    ctx.metrics.reconciled(started.elapsed(), result.as_ref().err().map(Error::label));
    result
}

/// Deployments serin has anything to do with: opted in, or carrying its state or finalizer.
fn concerns_serin(deployment: &Candidate) -> bool {
    spec::is_opted_in(deployment.annotations())
        || deployment.annotations().contains_key(&objects::serin_key("status"))
        || deployment.finalizers().iter().any(|f| f == FINALIZER)
}

pub(super) struct Reconciler<'a> {
    pub ctx: &'a Context,
    pub apis: Apis,
    pub name: &'a str,
}

impl Reconciler<'_> {
    async fn run(&self) -> Result<controller::Action, K8sError> {
        let found = self.apis.deployments.get_opt(self.name).await.map_err(api_error("reading the candidate"))?;
        let Some(mut candidate) = found else { return Ok(controller::Action::await_change()) };
        tracing::Span::current().record("revision", revision(&candidate));
        let now = SystemTime::now();
        let stored = Record::read(candidate.annotations()).unwrap_or_else(|problem| {
            tracing::warn!(%problem, "ignoring an unreadable status");
            None
        });
        if candidate.metadata.deletion_timestamp.is_some() {
            return self.finalize(&mut candidate, stored).await;
        }
        if !spec::is_opted_in(candidate.annotations()) {
            return self.release(&mut candidate, stored).await;
        }
        // Without its record, the candidate's past comes from serin's memory.
        let recalled = match &stored {
            Some(_) => Recalled::default(),
            None => self.recall(&candidate, now).await,
        };
        let written_before = stored.clone();
        let stored = stored.or_else(|| recalled.record.clone());
        // A run in flight follows the configuration it started with (README, "Lifecycle").
        let kept = stored.as_ref().filter(|r| in_flight(r)).map(|r| &r.config).filter(|c| !c.is_empty());
        let effective = match config::effective(self.name, candidate.annotations(), kept) {
            Ok(effective) => effective,
            Err(problems) => return self.invalid(&mut candidate, stored, problems, now).await,
        };
        let mut broken = effective.broken.clone();
        let world = match resolve(&self.apis, &candidate, &effective.spec).await? {
            Ok(world) => world,
            // A run in flight stays guarded by its record; anything else just reports.
            Err(problems) if kept.is_some() => {
                broken.extend(problems);
                World::Unresolved
            }
            Err(mut problems) => {
                // Often another rollout's run is what is in the way (its part of a shared
                // route): name it (claims.rs).
                let peers = &self.ctx.peers;
                let (unresolved, spec) = (&World::Unresolved, &effective.spec);
                problems
                    .extend(claims::refused(peers, &self.apis, &candidate, spec, unresolved, stored.as_ref()).await?);
                return self.invalid(&mut candidate, stored, problems, now).await;
            }
        };
        let spec = with_slots(effective.spec.clone(), &world, stored.as_ref());
        // An analysis that cannot be prepared any more: the planner decides (lifecycle/unjudged.rs).
        let target = target_of(&candidate);
        let (analysis, analysis_problems) = engine::prepare_or_problems(&spec, &self.ctx.catalog, &target);
        let snapshot = snapshot::read(&self.apis, &candidate, &world, stored.as_ref()).await?;
        // Objects another rollout's run holds: no start, or no progress (claims.rs). A start
        // is decided and written under the namespace's start lock.
        let starting = self.ctx.peers.may_start(&candidate.namespace().unwrap_or_default(), stored.as_ref()).await;
        let refused = claims::refused(&self.ctx.peers, &self.apis, &candidate, &spec, &world, stored.as_ref()).await?;
        let requested = command::Requested::find(candidate.annotations());
        // Gateway API: a step counts only once the gateway took its weight (route_gate.rs).
        let (mut gated, mut gate_notices) = (stored, Vec::new());
        let held = route_gate::check(&self.apis, &world, &spec, &mut gated, &mut gate_notices, now).await?;
        // A field serin set put back by another writer (a GitOps sync): said once, never re-fought.
        let reverted = drift::check(&world, &mut gated, &mut gate_notices, now);
        let held = held || reverted;
        let (stored, observation) = match held {
            true => (gated, None),
            false => self.observe(gated, &spec, &analysis, now).await,
        };
        let config = config::of(candidate.annotations());
        let plan = lifecycle::plan(&lifecycle::Input {
            stored: stored.as_ref(),
            spec: &spec,
            config: &config,
            analysis: &analysis,
            snapshot: &snapshot,
            command: requested.as_ref(),
            tick: observation.as_ref().map(|o| lifecycle::Tick { at: o.at, observation: o }),
            broken: &broken,
            refused: &refused,
            deferred: &effective.deferred,
            analysis_problems: &analysis_problems,
            remembered_replicas: recalled.replicas,
            dry_run: spec.dry_run || self.ctx.dry_run,
            judge: &self.ctx.judge,
            now,
        });
        if !plan.invalid.is_empty() {
            return self.invalid(&mut candidate, stored, plan.invalid, now).await;
        }
        // A run starting now is checked against the Prometheus it will query first.
        let starts = plan
            .record
            .as_ref()
            .filter(|r| r.refused.is_empty() && stored.as_ref().is_none_or(|s| s.state.started != r.state.started));
        let problems = match preflight::problems(self.ctx, &analysis, starts, now).await {
            Ok(problems) => problems,
            Err(unreachable) => return self.prometheus_unreachable(&mut candidate, stored, unreachable, now).await,
        };
        if !problems.is_empty() {
            return self.invalid(&mut candidate, stored, problems, now).await;
        }
        self.account(&plan);
        let Some(mut record) = plan.record else {
            if plan.command == CommandOutcome::NoRun {
                self.reject_command(&mut candidate).await?;
            }
            return Ok(controller::Action::await_change());
        };
        let consumed = plan.command == CommandOutcome::Consumed;
        // A recalled record is written back on the candidate (`written_before` is None).
        self.save_consuming(&mut candidate, written_before.as_ref(), &record, consumed).await?;
        // Written: another rollout deciding to start reads this record now.
        drop(starting);

        // The work, then the Events (best effort: a slow Events API never delays traffic).
        let written = record.clone();
        let mut notices: Vec<Notice> = recalled.notice.into_iter().chain(gate_notices).chain(plan.notices).collect();
        let executor = Executor { ctx: self.ctx, apis: &self.apis, candidate: &candidate, spec: &spec, world: &world };
        let mut outcome = Ok(());
        for work in written.pending.iter() {
            outcome = executor.run(work, &mut record, &mut notices).await;
            if outcome.is_err() {
                break;
            }
        }
        if outcome.is_ok() {
            lifecycle::work_done(&mut record, &spec, SystemTime::now());
            // Remembered once the work is done, whatever becomes of the record's save: a
            // GitOps replace that makes the save conflict is the very case memory is for.
            self.remember(&candidate, written_before.as_ref(), &record).await;
            outcome = self.save_after_work(&mut candidate, &written, &record).await;
        }
        self.publish(&candidate, &notices).await;
        outcome?;
        if !record.refused.is_empty() && !lifecycle::holds_objects(&record) {
            // A refused start: looked at again when the other run ends (controller.rs), or
            // at the latest like an invalid rollout.
            return Ok(controller::Action::requeue(INVALID_RECHECK));
        }
        // Held by a reverted field, the ticks it skips are not owed: look again at the next
        // one (or when the field changes), not at once.
        Ok(if reverted { controller::Action::requeue(spec.interval) } else { self.requeue(&record, &spec) })
    }

    /// The run on record, primed with the baseline's history, and the due tick's
    /// measurements, when a tick is due.
    async fn observe(
        &self,
        stored: Option<Record>,
        spec: &RolloutSpec,
        analysis: &Analysis,
        now: SystemTime,
    ) -> (Option<Record>, Option<IntervalObservation>) {
        let Some(mut record) = stored else { return (None, None) };
        let due = match record.state.phase {
            Phase::Invalid => None,
            _ if engine::finished(&record.state) => None,
            _ => lifecycle::due_tick(&record, spec, now),
        };
        let Some(at) = due else { return (Some(record), None) };
        engine::prime(&mut record.state, &self.ctx.source, spec, analysis).await;
        let observation = engine::observe(&self.ctx.source, analysis, at).await;
        (Some(record), Some(observation))
    }

    /// serin's own metrics and the log lines of a plan.
    fn account(&self, plan: &lifecycle::Plan) {
        if let Some(judgement) = &plan.judgement {
            self.ctx.metrics.judged(judgement);
            for m in &judgement.metrics {
                tracing::info!(metric = %m.metric, verdict = m.verdict.as_str(), "{}", m.reason);
            }
        }
        if !plan.record.as_ref().is_some_and(|r| r.dry_run) {
            self.ctx.metrics.decided(&plan.decided);
        }
    }

    /// Writes the record after the work. The work itself may have changed the candidate's
    /// resourceVersion (scaling it): when the fresh candidate still carries the record
    /// written before the work, the write is retried on it rather than lost.
    async fn save_after_work(
        &self,
        candidate: &mut Deployment,
        written: &Record,
        record: &Record,
    ) -> Result<(), K8sError> {
        match self.save(candidate, Some(written), record).await {
            Err(e) if e.is_conflict() => {
                let fresh =
                    self.apis.deployments.get(self.name).await.map_err(api_error("re-reading the candidate"))?;
                // Compared as written (times round-trip through RFC 3339 at a coarser grain).
                let status = objects::serin_key("status");
                if fresh.annotations().get(&status) != written.annotations().get(&status) {
                    return Err(e);
                }
                *candidate = fresh;
                self.save(candidate, Some(written), record).await
            }
            other => other,
        }
    }

    fn requeue(&self, record: &Record, spec: &RolloutSpec) -> controller::Action {
        if record.settled {
            return controller::Action::await_change();
        }
        let now = SystemTime::now();
        if lifecycle::due_tick(record, spec, now).is_some() {
            // Still behind (catching up after a restart): the next tick at once.
            return controller::Action::requeue(Duration::from_millis(100));
        }
        controller::Action::requeue(lifecycle::requeue_after(record, spec, now))
    }

    /// Writes the record (and serin's finalizer) when anything changed, guarded by the
    /// candidate's resourceVersion; `candidate` becomes the written object.
    pub(super) async fn save(
        &self,
        candidate: &mut Deployment,
        before: Option<&Record>,
        record: &Record,
    ) -> Result<(), K8sError> {
        self.save_consuming(candidate, before, record, false).await
    }

    /// [`Self::save`], also removing `serin.io/command` when `consume_command`: the command
    /// and the decision it made are written together, or not at all.
    async fn save_consuming(
        &self,
        candidate: &mut Deployment,
        before: Option<&Record>,
        record: &Record,
        consume_command: bool,
    ) -> Result<(), K8sError> {
        let hold = lifecycle::holds_finalizer(record);
        let has = candidate.finalizers().iter().any(|f| f == FINALIZER);
        let unchanged = before.is_some_and(|b| !record.differs_from(b));
        if unchanged && hold == has && !consume_command {
            return Ok(());
        }
        let mut body = record::patch_body(record, &candidate.resource_version().unwrap_or_default());
        if hold != has {
            body["metadata"]["finalizers"] = finalizers(candidate, hold).into();
        }
        if consume_command {
            body["metadata"]["annotations"][command::key()] = serde_json::Value::Null;
        }
        *candidate = self.patch_candidate(&body, "writing serin.io/status").await?;
        // The one place notifications start: what is announced is what was written.
        self.ctx.notifier.saved(&candidate.namespace().unwrap_or_default(), self.name, before, record);
        Ok(())
    }

    /// A merge patch of the candidate (its body carries the resourceVersion it was read at).
    pub(super) async fn patch_candidate(&self, body: &serde_json::Value, what: &str) -> Result<Deployment, K8sError> {
        self.apis
            .deployments
            .patch(self.name, &PatchParams::default(), &Patch::Merge(body))
            .await
            .map_err(api_error(what))
    }

    pub(super) async fn publish(&self, candidate: &Deployment, notices: &[Notice]) {
        let reference = candidate.object_ref(&());
        for notice in notices {
            if notice.warning {
                tracing::warn!(reason = notice.reason, "{}", notice.note);
            } else {
                tracing::info!(reason = notice.reason, "{}", notice.note);
            }
            self.ctx.events.publish(&reference, notice).await;
        }
    }

    /// A command with no run to apply to: removed, with a Warning saying so.
    async fn reject_command(&self, candidate: &mut Deployment) -> Result<(), K8sError> {
        let body = serde_json::json!({"metadata": {
            "resourceVersion": candidate.resource_version(),
            "annotations": {command::key(): null}}});
        *candidate = self.patch_candidate(&body, "removing serin.io/command").await?;
        let note = "serin.io/command ignored: no rollout in flight";
        self.publish(candidate, &[Notice::warning("CommandRejected", note)]).await;
        Ok(())
    }
}

/// The candidate's finalizers with serin's present or not.
pub(super) fn finalizers(candidate: &Deployment, hold: bool) -> Vec<String> {
    let mut list: Vec<String> = candidate.finalizers().iter().filter(|f| *f != FINALIZER).cloned().collect();
    if hold {
        list.push(FINALIZER.to_string());
    }
    list
}

/// Blue-green templates compare the candidate slot with the one live before the flip.
fn with_slots(mut spec: RolloutSpec, world: &World, stored: Option<&Record>) -> RolloutSpec {
    let previous = match (stored.and_then(|r| r.previous_slot.clone()), world) {
        (Some(previous), _) => Some(previous),
        (None, World::BlueGreen(bg)) => Some(bg.live_slot.clone()),
        (None, _) => None,
    };
    if let (Some(previous), Strategy::BlueGreen(_)) = (previous, &spec.strategy) {
        spec.args.entry("previous_slot".into()).or_insert(previous);
    }
    spec
}

/// A run that has not ended: it keeps its configuration.
fn in_flight(record: &Record) -> bool {
    !engine::finished(&record.state) && record.state.phase != Phase::Invalid
}
