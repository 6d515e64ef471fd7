//! The lifecycle planner: every decision the daemon makes around the judge and the state
//! machines, as one pure function (README, "Lifecycle").
//!
//! ```text
//!  the daemon reads ─► Snapshot + stored Record + command + observation ─► plan(…, now)
//!        ▲                                                                     │
//!        └──── next reconcile ◄── apply Plan.record.pending (the only writes) ◄┘
//! ```
//!
//! [`plan`] decides when a run starts, which configuration it follows, whether a tick may
//! progress (never on a missed tick, never while earlier traffic work is not done, never on
//! a broken configuration), how a command applies, what becomes of a run that can no longer
//! be judged (`unjudged.rs`), and which work and Events follow. The
//! daemon only reads the cluster into a [`Snapshot`], asks [`due_tick`] whether to observe,
//! calls [`plan`], writes the record ahead, applies the work and marks it done
//! ([`work_done`]).

pub mod command;
pub mod config;
pub mod memory;
pub mod notice;
pub mod record;
mod refused;
mod start;
mod ticks;
mod unjudged;
mod work;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::engine::{self, Analysis};
use crate::judge::{IntervalObservation, JudgeConfig, Judgement};
use crate::rollout::{Action, Blocked, Inputs, Transition};
use crate::spec::RolloutSpec;

pub use command::Requested;
pub use notice::{Notice, notices};
pub use record::{Record, SmokeResult, Work};
pub use refused::holds_objects;
pub use start::replicas_for_weight;
pub use ticks::{MAX_CATCH_UP, due_tick, is_catch_up, next_tick, requeue_after, steps_between_ticks};
pub use unjudged::CONFIGURATION;
pub use work::{enqueue, holds_finalizer, is_settled, traffic_pending, work_for};

/// What the daemon read of the cluster for one reconcile, reduced to what decisions need.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// The candidate's pod-spec hash.
    pub revision: String,
    /// The candidate Deployment is Available.
    pub candidate_ready: bool,
    pub candidate_replicas: i32,
    pub world: SnapshotWorld,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SnapshotWorld {
    Canary {
        stable_revision: String,
        stable_replicas: i32,
        /// The stable Deployment runs the candidate's pod spec and has rolled it out.
        promotion_complete: bool,
        /// The canary route object serin manages for this run (the canary Ingress).
        canary_route: String,
        /// Gateway API routing instead: the HTTPRoute serin splits (`canary_route` unused).
        http_route: Option<record::RouteRef>,
    },
    BlueGreen {
        /// The slot the Service selects now, and the candidate's.
        live_slot: String,
        candidate_slot: String,
        /// The Deployment serving the live slot, and its replicas.
        previous_deployment: Option<String>,
        previous_replicas: Option<i32>,
    },
}

/// One analysis tick's measurements, taken at `at`.
#[derive(Debug, Clone, Copy)]
pub struct Tick<'a> {
    pub at: SystemTime,
    pub observation: &'a IntervalObservation,
}

/// Everything [`plan`] decides from.
pub struct Input<'a> {
    pub stored: Option<&'a Record>,
    pub spec: &'a RolloutSpec,
    /// The configuration annotations now (kept by a run that starts).
    pub config: &'a BTreeMap<String, String>,
    pub analysis: &'a Analysis,
    pub snapshot: &'a Snapshot,
    /// `serin.io/command`, as written.
    pub command: Option<&'a Requested>,
    /// The due tick's measurements ([`due_tick`]), when one was due.
    pub tick: Option<Tick<'a>>,
    /// Problems of the current annotations; the run follows its kept configuration.
    pub broken: &'a [String],
    /// Why the rollout may not write its objects: another rollout's run holds them
    /// (`target::refusal`). A run does not start; a run in flight makes no progress.
    pub refused: &'a [String],
    /// Keys changed mid-run that apply to the next run.
    pub deferred: &'a [String],
    /// Why the run's analysis cannot be prepared (a template not in the catalog, one that
    /// no longer renders); `analysis` is empty then (`unjudged.rs`).
    pub analysis_problems: &'a [String],
    /// The candidate's replicas before serin last scaled it to 0, from serin's memory
    /// (`memory`), for a candidate that lost its record.
    pub remembered_replicas: Option<i32>,
    pub dry_run: bool,
    pub judge: &'a JudgeConfig,
    pub now: SystemTime,
}

/// What a command came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandOutcome {
    /// No command.
    None,
    /// Applied or refused with a Warning: remove the annotation with this plan's write.
    Consumed,
    /// Waits for pending traffic work (a promotion); stays on the candidate.
    Waiting,
    /// No run to apply it to: remove it, with a Warning.
    NoRun,
}

/// What to write and say.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The record to write ahead (`None`: no run, nothing to write).
    pub record: Option<Record>,
    pub notices: Vec<Notice>,
    pub command: CommandOutcome,
    /// The judge's findings at this tick (for logs and metrics).
    pub judgement: Option<Judgement>,
    /// The state machine's actions decided now (for metrics).
    pub decided: Vec<Action>,
    /// Why nothing can run (the analysis cannot be prepared and no run needs guarding):
    /// the daemon reports the rollout Invalid and changes no traffic; `record` is `None`.
    pub invalid: Vec<String>,
}

impl Plan {
    /// No run, nothing to write or say.
    fn nothing() -> Plan {
        Plan {
            record: None,
            notices: Vec::new(),
            command: CommandOutcome::None,
            judgement: None,
            decided: Vec::new(),
            invalid: Vec::new(),
        }
    }
}

/// Plans one reconcile. Pure.
pub fn plan(input: &Input) -> Plan {
    let mut notices = Vec::new();
    let started = start::next_run(input, input.stored);
    if !input.analysis_problems.is_empty() {
        if let Some(plan) = unjudged::plan(input, started.is_some()) {
            return plan;
        }
    }
    let holding = input.stored.is_some_and(holds_objects);
    // A start that ends at once (nothing to roll out, already live) writes nothing shared.
    let runs = started.as_ref().is_some_and(|(record, _)| !record.state.phase.is_terminal());
    if runs && !holding && !input.refused.is_empty() {
        return refused::refuse_start(input);
    }
    // A tick measured for the run on record says nothing about a run starting now.
    let mut tick = input.tick;
    let mut record = match (started, input.stored) {
        (Some((record, notice)), _) => {
            notices.push(notice);
            tick = None;
            record
        }
        (None, Some(record)) if record.state.phase != crate::rollout::Phase::Invalid => record.clone(),
        (None, _) => {
            let command = if input.command.is_some() { CommandOutcome::NoRun } else { CommandOutcome::None };
            return Plan { notices, command, ..Plan::nothing() };
        }
    };
    report_configuration(&mut record, input, &mut notices);
    // Only a run still deciding is held by another's; an idle rollout is told nothing, and a
    // run that ended only cleans up what is its own.
    let deciding = holds_objects(&record) && !engine::finished(&record.state);
    let refused = if deciding { input.refused } else { &[] };
    refused::report(&mut record, refused, &mut notices);
    let mut plan = Plan { notices, ..Plan::nothing() };
    let commanded = match input.command {
        Some(requested) if command::can_apply_now(requested, &record) => {
            let before = record.pending.clone();
            let inputs = inputs(input, &record, None, input.now);
            plan.notices.extend(command::apply(requested, &mut record, input.spec, &inputs));
            // What the command added; a rollback may have replaced pending work, so this is
            // not a suffix of the list.
            let added = record.pending.iter().filter(|w| !before.contains(w));
            plan.decided = added.filter_map(Work::action).cloned().collect();
            plan.command = CommandOutcome::Consumed;
            true
        }
        Some(_) => {
            plan.command = CommandOutcome::Waiting;
            false
        }
        None => false,
    };
    if !commanded {
        step(&mut record, input, tick, &mut plan);
    }
    plan.record = Some(record);
    plan
}

/// The tick (or the between-ticks step of a phase that waits on the cluster).
fn step(record: &mut Record, input: &Input, tick: Option<Tick>, plan: &mut Plan) {
    if engine::finished(&record.state) {
        return;
    }
    if tick.is_none() && !steps_between_ticks(&record.state) {
        return;
    }
    let at = tick.map_or(input.now, |t| t.at);
    let blocked = if !input.broken.is_empty() {
        Some(Blocked::ConfigurationBroken)
    } else if !record.refused.is_empty() {
        Some(Blocked::ObjectsShared)
    } else if traffic_pending(record) {
        Some(Blocked::WorkPending)
    } else if tick.is_some_and(|t| is_catch_up(t.at, input.spec, input.now)) {
        Some(Blocked::CatchingUp)
    } else {
        None
    };
    let inputs = inputs(input, record, blocked, at);
    let observation = tick.map(|t| t.observation);
    let decision = engine::decide(&record.state, input.spec, input.analysis, observation, &inputs, input.judge);
    let transition = decision.transition;
    plan.notices.extend(take(record, input.spec, &transition));
    plan.decided = transition.actions;
    plan.judgement = decision.judgement;
    if tick.is_some() {
        record.analysed_at = Some(at);
    }
}

/// Takes `transition` on `record`: its work is enqueued ahead and its state becomes the
/// record's. Returns its Events (in a dry run, what would have been done).
fn take(record: &mut Record, spec: &RolloutSpec, transition: &Transition) -> Vec<Notice> {
    let said = notices(&record.state, &transition.next, &transition.actions, record.dry_run);
    enqueue(&mut record.pending, work_for(spec, &record.state, &transition.next, &transition.actions));
    record.state = transition.next.clone();
    said
}

/// What the state machine needs to know about the cluster.
fn inputs(input: &Input, record: &Record, blocked: Option<Blocked>, now: SystemTime) -> Inputs {
    let promotion_complete = match &input.snapshot.world {
        // A dry run promotes nothing, so there is nothing to wait for.
        SnapshotWorld::Canary { promotion_complete, .. } => record.dry_run || *promotion_complete,
        SnapshotWorld::BlueGreen { .. } => false,
    };
    Inputs {
        now,
        candidate_ready: input.snapshot.candidate_ready,
        smoke_passed: record.smoke.as_ref().map(|s| s.passed),
        promotion_complete,
        blocked,
    }
}

/// A broken configuration is reported once per set of problems, and so is a change that
/// waits for the next run; a fixed one is reported when it is fixed.
fn report_configuration(record: &mut Record, input: &Input, notices: &mut Vec<Notice>) {
    // A run that completes unjudged keeps its analysis' problems on record (`unjudged.rs`).
    let problems: Vec<String> = input.broken.iter().chain(input.analysis_problems).cloned().collect();
    if record.invalid != problems {
        if problems.is_empty() {
            // A run that ended while the configuration was broken has nothing to resume.
            let message = match record.state.phase {
                phase if phase.is_terminal() => {
                    format!(
                        "the configuration is valid again; this run has ended ({}): nothing resumes",
                        phase.as_str()
                    )
                }
                _ => "the configuration is valid again: resuming".to_string(),
            };
            notices.push(Notice::normal("ConfigurationValid", message));
        } else if input.broken.is_empty() {
            notices.push(unjudged::completing(input.analysis_problems));
        } else {
            notices.push(Notice::warning(
                "ConfigurationBroken",
                format!(
                    "{}; the run goes on under the configuration it started with: rollbacks and aborts still \
                     act, nothing progresses until the annotations are fixed (README, \"Lifecycle\")",
                    input.broken.join("; ")
                ),
            ));
        }
        record.invalid = problems;
    }
    if record.deferred != input.deferred {
        if !input.deferred.is_empty() {
            notices.push(Notice::warning(
                "ConfigurationDeferred",
                format!(
                    "{} changed during the run: the run keeps the configuration it started with, the change \
                     applies to the next run",
                    input.deferred.join(", ")
                ),
            ));
        }
        record.deferred = input.deferred.to_vec();
    }
}

/// Marks the pending work done. A traffic change written later than its step's clock says
/// (its write kept failing, or the reconcile ran late) starts the clock now: a step is only
/// as old as its weight. Within a quarter interval the clock stays on the tick boundary,
/// so query time does not push every step to the next tick.
pub fn work_done(record: &mut Record, spec: &RolloutSpec, now: SystemTime) {
    let late = now.duration_since(record.state.step_started).is_ok_and(|late| late >= spec.interval / 4);
    if late && record.pending.iter().any(work::moves_traffic_forward) {
        record.state.step_started = now;
    }
    record.pending.clear();
    record.settled |= is_settled(record, spec);
}
