//! The replay loop's body: the daemon's planner over an offline cluster, one analysis tick
//! at a time, for drivers that own the clock. `replay::run` ticks it from a recording or a
//! Prometheus; the decision-quality benchmark interleaves its ticks with a simulated world
//! and with other algorithms, and still runs exactly this code.
//!
//! The offline cluster does at once whatever it is told: the candidate is Available, a
//! promotion rolls out instantly, smoke checks pass, every write succeeds. So the run's
//! timing is the daemon's on a healthy cluster (README, "Lifecycle"): it starts at `start`
//! with its first weight, and is analysed at every interval boundary after it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::engine::{self, Analysis};
use crate::judge::JudgeConfig;
use crate::lifecycle::{self, Input, Record, SmokeResult, Snapshot, SnapshotWorld, Tick, Work};
use crate::rollout::{Action, RolloutState};
use crate::source::MetricSource;
use crate::spec::{RolloutSpec, Strategy};

use super::{Entry, Replay, action_entry, summarise};

/// Plans at one instant without a tick, for the phases that react to the cluster between
/// ticks (a smoke result, a promotion rolled out): each reacts within a few plans.
const SETTLE_PLANS: usize = 4;

pub struct Replayer<'a> {
    spec: &'a RolloutSpec,
    analysis: &'a Analysis,
    config: &'a JudgeConfig,
    snapshot: Snapshot,
    record: Record,
    timeline: Vec<Entry>,
    judgements: Vec<crate::judge::Judgement>,
}

impl<'a> Replayer<'a> {
    /// A run that starts at `start`: the planner starts it, and its first actions (the
    /// canary's first weight, the blue-green smoke checks) go to `on_action` now.
    pub fn start(
        spec: &'a RolloutSpec,
        analysis: &'a Analysis,
        config: &'a JudgeConfig,
        start: SystemTime,
        on_action: impl FnMut(&Action),
    ) -> Self {
        let mut replayer = Replayer {
            spec,
            analysis,
            config,
            snapshot: offline_snapshot(spec),
            // Replaced by the planner's own record of the run it starts.
            record: Record::new(RolloutState::new(CANDIDATE, start)),
            timeline: Vec::new(),
            judgements: Vec::new(),
        };
        replayer.settle(None, start, on_action);
        replayer
    }

    /// The rollout needs no more ticks.
    pub fn finished(&self) -> bool {
        engine::finished(&self.record.state)
    }

    pub fn state(&self) -> &RolloutState {
        &self.record.state
    }

    /// When the next analysis is due (`None` once finished).
    pub fn next_tick(&self) -> Option<SystemTime> {
        (!self.finished()).then(|| lifecycle::next_tick(&self.record, self.spec))
    }

    /// Observes `source` at `at`, plans, and hands every resulting action to `on_action`.
    pub async fn tick<S: MetricSource>(&mut self, source: &S, at: SystemTime, mut on_action: impl FnMut(&Action)) {
        if self.finished() {
            return;
        }
        engine::prime(&mut self.record.state, source, self.spec, self.analysis).await;
        let observation = engine::observe(source, self.analysis, at).await;
        let stored = self.record.clone();
        self.plan(Some(&stored), Some(Tick { at, observation: &observation }), at, &mut on_action);
        self.settle(Some(self.record.clone()), at, on_action);
    }

    /// The replay so far.
    pub fn finish(self) -> Replay {
        summarise(self.record.state, self.timeline, self.judgements)
    }

    /// Plans without a tick until the phases that wait on the cluster have reacted to it.
    /// `stored: None` starts the run (nothing on record yet).
    fn settle(&mut self, mut stored: Option<Record>, at: SystemTime, mut on_action: impl FnMut(&Action)) {
        for _ in 0..SETTLE_PLANS {
            let before = self.record.state.clone();
            let decided = self.plan(stored.as_ref(), None, at, &mut on_action);
            stored = Some(self.record.clone());
            let waits = lifecycle::steps_between_ticks(&self.record.state) && !self.finished();
            if !waits || (decided == 0 && self.record.state == before) {
                break;
            }
        }
    }

    /// One plan at `at`, its actions timed and handed on, its work done at once. Returns how
    /// many actions it decided.
    fn plan(
        &mut self,
        stored: Option<&Record>,
        tick: Option<Tick>,
        at: SystemTime,
        on_action: &mut impl FnMut(&Action),
    ) -> usize {
        let config = BTreeMap::new();
        let plan = lifecycle::plan(&Input {
            stored,
            spec: self.spec,
            config: &config,
            analysis: self.analysis,
            snapshot: &self.snapshot,
            command: None,
            tick,
            broken: &[],
            deferred: &[],
            analysis_problems: &[],
            refused: &[],
            remembered_replicas: None,
            dry_run: false,
            judge: self.config,
            now: at,
        });
        let Some(record) = plan.record else { return 0 };
        self.record = record;
        let weight = self.record.state.weight;
        if let Some(judgement) = plan.judgement {
            self.timeline.push(Entry { at, action: "analysis".into(), weight, detail: serde_json::Value::Null });
            self.judgements.push(judgement);
        }
        for action in &plan.decided {
            on_action(action);
            self.timeline.push(action_entry(at, action, weight));
        }
        self.apply(at);
        plan.decided.len()
    }

    /// The offline cluster does the pending work at once; the smoke checks pass.
    fn apply(&mut self, at: SystemTime) {
        if self.record.pending.contains(&Work::Act(Action::SmokeTest)) {
            self.record.smoke =
                Some(SmokeResult { passed: true, detail: "smoke checks are not run offline: taken as passed".into() });
        }
        lifecycle::work_done(&mut self.record, self.spec, at);
    }
}

/// The candidate's revision in the offline cluster (any name other than the stable's).
const CANDIDATE: &str = "replay";

/// A cluster where a run may start and nothing waits: the candidate is Available and
/// scaled, the stable runs another revision and rolls a promotion out at once.
fn offline_snapshot(spec: &RolloutSpec) -> Snapshot {
    let world = match &spec.strategy {
        Strategy::Canary(_) => SnapshotWorld::Canary {
            stable_revision: "stable".into(),
            stable_replicas: 1,
            promotion_complete: true,
            canary_route: "replay-canary".into(),
            http_route: None,
        },
        Strategy::BlueGreen(_) => SnapshotWorld::BlueGreen {
            live_slot: "blue".into(),
            candidate_slot: "green".into(),
            previous_deployment: Some("previous".into()),
            previous_replicas: Some(1),
        },
    };
    Snapshot { revision: CANDIDATE.into(), candidate_ready: true, candidate_replicas: 1, world }
}
