//! The statistical judge (pure): per-interval observations in, per-metric verdicts and
//! trigger states out, with the evidence behind each. See `README.md` beside this file for
//! the method and its error guarantees.
//!
//! [`update`] is the one entry point. Its state ([`JudgeState`]) is serialisable so the
//! daemon can persist it on the Deployment and resume after a restart.

mod bursts;
mod channel;
mod counts;
mod dispersion;
pub mod evidence;
pub mod forecast;
pub mod format;
mod metric;
pub mod observation;
#[cfg(test)]
mod properties;
pub mod sequential;
#[cfg(test)]
mod tests;
mod triggers;
mod value;
mod window;

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

pub use evidence::Evidence;
pub use observation::{Bucket, IntervalObservation, MetricObservation, Reading};

use crate::template::{MetricKind, Template, TriggerAction};

/// Error-rate knobs of the judge; the defaults give ≤ 1% false rollbacks overall in the
/// decision-quality benchmark (`simulations/results.md`), at every traffic level.
///
/// `beta` is 0.025 rather than 0.01: at 5 canary req/s and a 1% limit over a 0.5%
/// baseline, even the oracle SPRT at level 0.01 passes a healthy canary within 20 minutes
/// only ~94% of the time (see `README.md`, "Pass speed").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct JudgeConfig {
    /// Type-I error of each rollback test (canary worse / limit exceeded), over the whole run.
    pub alpha: f64,
    /// Type-I error of each pass test (canary within limits / not worse than baseline).
    pub beta: f64,
    /// The weaker pass level that lets an intermediate canary step advance (never
    /// promote): e_pass ≥ 1/`advance_beta`. See `README.md`, "Liveness".
    #[serde(default = "default_advance_beta")]
    pub advance_beta: f64,
}

fn default_advance_beta() -> f64 {
    0.3
}

impl Default for JudgeConfig {
    fn default() -> Self {
        JudgeConfig { alpha: 0.01, beta: 0.025, advance_beta: default_advance_beta() }
    }
}

/// Where the rollout is, as far as the judge needs to know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Context {
    pub now: SystemTime,
    /// Changes whenever the traffic split changes (a new canary step, a blue-green flip):
    /// per-step evidence ("fresh requests at this weight") restarts then.
    pub step: u32,
    /// The analysis interval (what one observation covers).
    pub interval: Duration,
    /// Blue-green after the flip: the baseline is no longer served, so the comparison uses
    /// the baseline's evidence from before the flip.
    pub baseline_frozen: bool,
}

/// Everything the judge carries from one interval to the next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeState {
    /// The baseline's history before the run has been folded in (see [`prime`]).
    #[serde(default)]
    pub primed: bool,
    #[serde(default)]
    pub metrics: Vec<evidence::MetricState>,
    #[serde(default)]
    pub triggers: Vec<evidence::TriggerState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The canary is shown to meet the metric's limits (or to be no worse than the baseline).
    Pass,
    /// The canary is shown to be significantly worse than the baseline.
    Fail,
    /// Not enough evidence either way (too few requests, no data, NaN).
    Inconclusive,
    /// A query failed: nothing is known.
    Error,
}

impl Verdict {
    /// The verdict's name, as serialised (`pass`, `fail`, `inconclusive`, `error`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    pub metric: String,
    pub verdict: Verdict,
    /// One line a human reads: what was measured against what.
    pub reason: String,
    pub evidence: Evidence,
    /// The evidence is enough for an intermediate step to advance (a `Pass`, or pass
    /// evidence at the weaker `advance_beta`), though perhaps not to promote.
    #[serde(default)]
    pub advance: bool,
    /// While inconclusive: what it still needs at the current traffic (also in `reason`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forecast: Option<forecast::Forecast>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerStatus {
    /// The condition is not shown to hold.
    Clear,
    /// The condition holds, but not yet for the trigger's `for` duration.
    Breached,
    /// The condition has held for `for`: act.
    Fired,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerVerdict {
    pub trigger: String,
    pub metric: String,
    pub action: TriggerAction,
    pub status: TriggerStatus,
    /// For `RollbackIfWorse`: the metric's comparison shows the canary significantly worse.
    pub canary_worse: bool,
    pub reason: String,
}

/// The judge's findings at one instant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    #[serde(with = "crate::time::rfc3339")]
    pub at: SystemTime,
    pub metrics: Vec<MetricVerdict>,
    pub triggers: Vec<TriggerVerdict>,
}

impl Judgement {
    pub fn all_pass(&self) -> bool {
        !self.metrics.is_empty() && self.metrics.iter().all(|m| m.verdict == Verdict::Pass)
    }

    /// Every metric allows an intermediate step to advance.
    pub fn all_advance(&self) -> bool {
        !self.metrics.is_empty() && self.metrics.iter().all(|m| m.verdict == Verdict::Pass || m.advance)
    }

    pub fn any(&self, verdict: Verdict) -> bool {
        self.metrics.iter().any(|m| m.verdict == verdict)
    }

    pub fn fired(&self) -> impl Iterator<Item = &TriggerVerdict> {
        self.triggers.iter().filter(|t| t.status == TriggerStatus::Fired)
    }
}

/// Folds the baseline's readings of intervals before the run (oldest first) into each
/// channel's dispersion estimate, and marks the state primed. Nothing is judged: only the
/// baseline's spread is learned, from data no test of the run uses. Canary readings and
/// unusable baseline readings are ignored.
pub fn prime(state: &JudgeState, templates: &[Template], history: &[IntervalObservation]) -> JudgeState {
    let mut next = state.clone();
    next.primed = true;
    for m in templates.iter().flat_map(|t| &t.metrics) {
        let specs = channel::specs(m);
        if specs.is_empty() {
            continue;
        }
        let index = match next.metrics.iter().position(|s| s.metric == m.name) {
            Some(i) => i,
            None => {
                next.metrics.push(evidence::MetricState { metric: m.name.clone(), ..Default::default() });
                next.metrics.len() - 1
            }
        };
        let ms = &mut next.metrics[index];
        for spec in &specs {
            let title = spec.title();
            if !ms.channels.iter().any(|c| c.name == title) {
                ms.channels.push(evidence::ChannelState { name: title.clone(), ..Default::default() });
            }
            let Some(ch) = ms.channels.iter_mut().find(|c| c.name == title) else { continue };
            for obs in history {
                let readings = metric::Readings::of(obs.metrics.get(&m.name), false);
                if let Some(b) = readings.baseline.as_ref().and_then(|r| channel::events(spec, r)) {
                    channel::learn_baseline(ch, &b);
                }
            }
        }
    }
    next
}

/// Folds one interval's observation into the state and judges every metric and trigger
/// of `templates` (already rendered).
pub fn update(
    state: &JudgeState,
    templates: &[Template],
    observation: &IntervalObservation,
    context: &Context,
    config: &JudgeConfig,
) -> (JudgeState, Judgement) {
    let mut next = JudgeState { primed: state.primed, ..JudgeState::default() };
    let mut metrics = Vec::new();
    let mut triggers = Vec::new();
    for template in templates {
        for m in &template.metrics {
            let prev = state.metrics.iter().find(|s| s.metric == m.name);
            let readings = metric::Readings::of(observation.metrics.get(&m.name), context.baseline_frozen);
            let (st, verdict) = match &m.kind {
                MetricKind::Value(limits) => value::judge(m, limits, &readings, context),
                _ => metric::judge(prev, m, &readings, context, config),
            };
            next.metrics.push(st);
            metrics.push(verdict);
        }
        for t in &template.triggers {
            let prev = state.triggers.iter().find(|s| s.trigger == t.name && s.metric == t.metric);
            let metric_state = next.metrics.iter().find(|s| s.metric == t.metric);
            let readings = metric::Readings::of(observation.metrics.get(&t.metric), context.baseline_frozen);
            let (st, verdict) = triggers::judge(prev, t, template, metric_state, &readings, context, config);
            next.triggers.push(st);
            triggers.push(verdict);
        }
    }
    (next, Judgement { at: observation.at, metrics, triggers })
}
