//! Building a [`Transition`]: the bookkeeping every step does the same way.

use std::time::{Duration, SystemTime};

use super::{Action, Phase, RolloutState, Transition};

/// A transition under construction from the previous state.
pub struct Draft {
    pub next: RolloutState,
    pub actions: Vec<Action>,
    pub now: SystemTime,
}

impl Draft {
    pub fn new(state: &RolloutState, now: SystemTime) -> Draft {
        let mut next = state.clone();
        next.updated = now;
        Draft { next, actions: Vec::new(), now }
    }

    pub fn finish(self) -> Transition {
        Transition { next: self.next, actions: self.actions }
    }

    /// Time spent in the current step or stage.
    pub fn in_step(&self) -> Duration {
        self.now.duration_since(self.next.step_started).unwrap_or_default()
    }

    /// Time since the run started.
    pub fn in_run(&self) -> Duration {
        self.now.duration_since(self.next.started).unwrap_or_default()
    }

    /// A terminal rollback: traffic back to the stable version.
    pub fn roll_back(&mut self, trigger: &str, reason: &str) {
        self.next.phase = Phase::RolledBack;
        self.next.weight = 0;
        self.next.trigger = Some(trigger.to_string());
        self.next.reason = reason.to_string();
        self.next.decided_at = Some(self.now);
        self.next.holding = None;
        self.actions.push(Action::Rollback { trigger: trigger.to_string(), reason: reason.to_string() });
    }

    /// Pauses (once per cause): progress stops, analysis and rollbacks go on.
    pub fn pause(&mut self, trigger: Option<&str>, reason: &str) {
        let already = self.next.phase == Phase::Paused && self.next.trigger.as_deref() == trigger;
        self.next.phase = Phase::Paused;
        self.next.trigger = trigger.map(str::to_string);
        self.next.reason = reason.to_string();
        if !already {
            self.actions.push(Action::Pause { reason: reason.to_string() });
        }
    }

    /// Leaves a pause whose cause has cleared. The step clock restarts, so the candidate
    /// shows `step-min` of good behaviour again before anything moves.
    pub fn resume_if_paused(&mut self) {
        if self.next.phase == Phase::Paused {
            self.next.phase = Phase::Progressing;
            self.next.trigger = None;
            self.next.step_started = self.now;
            self.next.reason = "resumed: the cause of the pause has cleared".into();
        }
    }

    /// Holds progress; reports the hold once per distinct cause.
    pub fn hold(&mut self, cause: &str, reason: &str) {
        if self.next.holding.as_deref() != Some(cause) {
            self.actions.push(Action::Hold { reason: reason.to_string() });
            self.next.holding = Some(cause.to_string());
        }
        self.next.reason = reason.to_string();
    }

    /// Waits without reporting (evidence is still accumulating).
    pub fn wait(&mut self, reason: &str) {
        self.next.holding = None;
        self.next.reason = reason.to_string();
    }

    /// A traffic change: the judge's per-step evidence restarts.
    pub fn new_traffic_step(&mut self) {
        self.next.step_started = self.now;
        self.next.traffic_epoch += 1;
        self.next.holding = None;
    }
}
