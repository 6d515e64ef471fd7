//! One analysis tick, shared by the daemon, replay and the simulations:
//!
//! ```text
//! prepare(spec, catalog, target) ─► Analysis (rendered templates)
//! observe(source, analysis, at)  ─► IntervalObservation      (the only async, IO part)
//! decide(state, spec, analysis, observation, inputs) ─► Decision { judgement, transition }  (pure)
//! ```

mod observe;
pub mod preflight;
mod variables;

pub use observe::{HISTORY_INTERVALS, history, observe, reading_of_histogram, reading_of_ratio, reading_of_value};
pub use variables::variables;

use crate::judge::{self, Context, IntervalObservation, JudgeConfig, Judgement};
use crate::rollout::{self, BlueGreenStage, Inputs, Phase, RolloutState, Transition};
use crate::spec::{RolloutSpec, Routing, Strategy};
use crate::target::Target;
use crate::template::{Catalog, RenderError, Template, TemplateError};

/// The rendered templates one rollout is analysed with.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    pub templates: Vec<Template>,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "metric {metric:?} is defined by both {first} and {second}: metric names must be unique across a rollout's templates"
    )]
    DuplicateMetric { metric: String, first: String, second: String },
}

impl Analysis {
    /// Every distinct rendered query, in template order (what `serin record` fetches).
    pub fn queries(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for q in self.templates.iter().flat_map(|t| t.queries()) {
            if !out.iter().any(|seen| seen == q) {
                out.push(q.to_string());
            }
        }
        out
    }
}

/// Renders the templates named by `serin.io/analysis` for this target.
pub fn prepare(spec: &RolloutSpec, catalog: &Catalog, target: &Target) -> Result<Analysis, EngineError> {
    let vars = variables(spec, target);
    let mut templates: Vec<Template> = Vec::new();
    for name in &spec.analysis {
        let rendered = crate::template::render(catalog.get(name)?, &vars)?;
        for metric in &rendered.metrics {
            if let Some(other) = templates.iter().find(|t| t.metric(&metric.name).is_some()) {
                return Err(EngineError::DuplicateMetric {
                    metric: metric.name.clone(),
                    first: other.name.clone(),
                    second: rendered.name.clone(),
                });
            }
        }
        templates.push(rendered);
    }
    Ok(Analysis { templates })
}

/// [`prepare`] for a rollout whose run may already be in flight: the analysis, or an empty
/// one and every problem (each template missing from the catalog or not rendering, not only
/// the first), which the lifecycle planner turns into a decision (README, "Lifecycle").
pub fn prepare_or_problems(spec: &RolloutSpec, catalog: &Catalog, target: &Target) -> (Analysis, Vec<String>) {
    let first = match prepare(spec, catalog, target) {
        Ok(analysis) => return (analysis, Vec::new()),
        Err(first) => first.to_string(),
    };
    let vars = variables(spec, target);
    let each = spec.analysis.iter().map(|name| match catalog.get(name) {
        Ok(template) => crate::template::render(template, &vars).err().map(|e| e.to_string()),
        Err(missing) => Some(missing.to_string()),
    });
    let mut problems: Vec<String> = each.flatten().collect();
    if problems.is_empty() {
        // Each renders alone: the templates clash with each other.
        problems.push(first);
    }
    (Analysis { templates: Vec::new() }, problems)
}

/// What one tick decided, and the findings it decided on.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub judgement: Option<Judgement>,
    pub transition: Transition,
}

/// Before a run's first analysis: reads the baseline's history before the run started and
/// folds it into the judge's dispersion estimates (`judge::prime`). Does nothing once done.
pub async fn prime<S: crate::source::MetricSource>(
    state: &mut RolloutState,
    source: &S,
    spec: &RolloutSpec,
    analysis: &Analysis,
) {
    if state.judge.primed {
        return;
    }
    let past = history(source, analysis, state.started, spec.interval).await;
    state.judge = judge::prime(&state.judge, &analysis.templates, &past);
}

/// Judges the observation (if any) and steps the state machine. Pure.
pub fn decide(
    state: &RolloutState,
    spec: &RolloutSpec,
    analysis: &Analysis,
    observation: Option<&IntervalObservation>,
    inputs: &Inputs,
    config: &JudgeConfig,
) -> Decision {
    let analysing = observation.filter(|_| !state.phase.is_terminal());
    let Some(observation) = analysing else {
        return Decision { judgement: None, transition: rollout::step(state, spec, None, inputs) };
    };
    let context = Context {
        now: inputs.now,
        step: state.traffic_epoch,
        interval: spec.interval,
        baseline_frozen: baseline_frozen(state, spec),
    };
    let (judge_state, judgement) = judge::update(&state.judge, &analysis.templates, observation, &context, config);
    let mut judged = state.clone();
    judged.judge = judge_state;
    let transition = rollout::step(&judged, spec, Some(&judgement), inputs);
    Decision { judgement: Some(judgement), transition }
}

/// When the baseline no longer serves, its evidence from before is the baseline: blue-green
/// after the flip, and a weighted canary at 100% (the stable serves nothing, so a
/// regression that appears only under full load is judged against the stable as it was
/// measured at the earlier steps).
fn baseline_frozen(state: &RolloutState, spec: &RolloutSpec) -> bool {
    let judging = matches!(state.phase, Phase::Progressing | Phase::Paused);
    match &spec.strategy {
        Strategy::BlueGreen(_) => judging && state.stage == Some(BlueGreenStage::Observing),
        Strategy::Canary(c) => judging && c.routing == Routing::Weight && state.weight >= 100,
    }
}

/// True once a rollout needs no more analysis ticks.
pub fn finished(state: &RolloutState) -> bool {
    match state.phase {
        Phase::RolledBack | Phase::Invalid => true,
        Phase::Succeeded => state.stage != Some(BlueGreenStage::KeepingPrevious),
        _ => false,
    }
}
