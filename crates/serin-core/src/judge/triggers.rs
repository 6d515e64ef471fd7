//! Rollback triggers: "canary error rate > 5% for 5m" and friends, judged with tests that
//! stay valid although they are evaluated every interval.
//!
//! A rate trigger pools the canary's events over its trailing window and tests
//! H0 "rate ≤ limit" with a mixture likelihood ratio, on effective counts (÷ the metric's
//! dispersion φ, see `dispersion.rs`). Windows overlap from one look to the next, so the
//! looks are not one e-process; instead look k spends α/2·(1/(k(k+1)) + 1/K), K = looks
//! per day: the first term sums to α/2 over the run and front-loads sensitivity, the second
//! spends α/2 per day evenly, so the threshold never grows past ln(2K/α) however long a
//! step is held (a union bound: ≤ α over the first day, ≤ α/2 per further day).
//! Escalation: a `rollback` / `rollback-if-worse` trigger also fires at once when the
//! metric's comparison already shows the canary significantly worse than the baseline and
//! the canary's rate this step is above the trigger's limit: waiting out the window would
//! only expose more users to a regression that is already proven.

use std::time::Duration;

use super::counts::{Clean, Events, slow_events};
use super::dispersion::temper;
use super::evidence::{MAX_WINDOW, MetricState, TriggerState};
use super::format;
use super::metric::{Readings, missing};
use super::sequential::{MixtureTest, scaled_alternatives};
use super::value::{in_range, range_text};
use super::window;
use super::{Context, JudgeConfig, TriggerStatus, TriggerVerdict};
use crate::template::{Condition, Metric, MetricKind, Template, Trigger, TriggerAction};

/// Alternatives of the window test, as multiples of the limit (capped below 1).
const TRIGGER_FACTORS: [f64; 6] = [1.25, 1.5, 2.0, 3.0, 5.0, 10.0];
/// An outage needs this many requests at most (fewer if the metric's minimum is lower).
const OUTAGE_MIN_REQUESTS: u64 = 10;

/// Intervals a trigger's window spans: ⌈for / interval⌉, at least one.
pub fn window_len(for_duration: Duration, interval: Duration) -> usize {
    if interval.is_zero() {
        return 1;
    }
    let n = (for_duration.as_secs_f64() / interval.as_secs_f64()).ceil();
    if n.is_finite() { (n as usize).clamp(1, MAX_WINDOW) } else { 1 }
}

/// Judges one trigger of `template` for this interval.
pub fn judge(
    prev: Option<&TriggerState>,
    trigger: &Trigger,
    template: &Template,
    metric_state: Option<&MetricState>,
    readings: &Readings,
    context: &Context,
    config: &JudgeConfig,
) -> (TriggerState, TriggerVerdict) {
    let mut st = prev.cloned().unwrap_or_default();
    st.trigger = trigger.name.clone();
    st.metric = trigger.metric.clone();
    if st.step != context.step {
        st.step_events = Events::default();
        st.step = context.step;
    }
    let worse = metric_state.and_then(worst);
    let phi = metric_state.map_or(1.0, |m| m.channels.iter().map(|c| c.phi).fold(1.0, f64::max));
    let canary_worse = worse.is_some();
    let need = window_len(trigger.for_duration, context.interval);
    let (status, detail) = match template.metric(&trigger.metric) {
        None => (TriggerStatus::Clear, format!("metric {} is not in template {}", trigger.metric, template.name)),
        Some(metric) => match (&trigger.condition, &metric.kind) {
            (Condition::ValueOutOfRange, MetricKind::Value(limits)) => {
                let v = match readings.canary {
                    Clean::Value(v) => Some(v),
                    _ => None,
                };
                st.out_of_range = match v {
                    Some(v) if !in_range(v, limits) => st.out_of_range.saturating_add(1),
                    _ => 0,
                };
                value_status(&st, need, v, &range_text(limits), metric, readings, context)
            }
            (condition, kind) => match events_of(condition, kind, &readings.canary) {
                Err(msg) => (TriggerStatus::Clear, msg),
                Ok(ev) => {
                    window::push(&mut st, ev.unwrap_or_default(), need);
                    if let Some(e) = ev {
                        st.observed = st.observed.saturating_add(1);
                        st.step_events.add(&e);
                    }
                    let ctx = Look { trigger, metric, need, context, config, worse, phi };
                    match condition {
                        Condition::Outage => outage_status(&st, &ctx),
                        Condition::RateAbove(limit) => rate_status(&mut st, &ctx, *limit),
                        Condition::QuantileAbove(q) => rate_status(&mut st, &ctx, 1.0 - q.quantile),
                        Condition::ValueOutOfRange => (TriggerStatus::Clear, String::new()),
                    }
                }
            },
        },
    };
    let verdict = TriggerVerdict {
        trigger: trigger.name.clone(),
        metric: trigger.metric.clone(),
        action: trigger.action,
        status,
        canary_worse,
        reason: format!("{}: {detail}", trigger.name),
    };
    (st, verdict)
}

/// The metric's comparison verdict, as the trigger needs it.
#[derive(Debug, Clone, Copy)]
struct Worse {
    log_e: f64,
    baseline: Events,
}

fn worst(m: &MetricState) -> Option<Worse> {
    m.channels
        .iter()
        .filter_map(|c| c.worse_log_e.map(|log_e| Worse { log_e, baseline: c.baseline_run }))
        .max_by(|a, b| a.log_e.total_cmp(&b.log_e))
}

/// This interval's canary events for a counting condition; `Ok(None)` if the reading is
/// unusable (counted as an interval without data), `Err` if the trigger is misconfigured.
fn events_of(condition: &Condition, kind: &MetricKind, canary: &Clean) -> Result<Option<Events>, String> {
    match (condition, kind) {
        (Condition::RateAbove(_) | Condition::Outage, MetricKind::Ratio(_)) => Ok(match canary {
            Clean::Counts { bad, total } => Some(Events::exact(*bad, *total)),
            _ => None,
        }),
        (Condition::QuantileAbove(q), MetricKind::Histogram(_)) => Ok(match canary {
            // Rollback side: only requests certainly slower than the limit count.
            Clean::Buckets(b) => {
                let e = slow_events(b, q.seconds);
                Some(Events::exact(e.bad_hi, e.total))
            }
            _ => None,
        }),
        _ => Err("the condition does not apply to this kind of metric (misconfigured template)".to_string()),
    }
}

struct Look<'a> {
    trigger: &'a Trigger,
    metric: &'a Metric,
    need: usize,
    context: &'a Context,
    config: &'a JudgeConfig,
    worse: Option<Worse>,
    /// The metric's dispersion: the window test divides its counts by it.
    phi: f64,
}

impl Look<'_> {
    fn span(&self, intervals: usize) -> String {
        format::duration(self.context.interval.saturating_mul(intervals as u32))
    }
}

fn pooled(st: &TriggerState) -> Events {
    let mut p = Events::default();
    for e in &st.window {
        p.add(e);
    }
    p
}

fn rate_status(st: &mut TriggerState, look: &Look, limit: f64) -> (TriggerStatus, String) {
    let p = pooled(st);
    let over = format!(
        "canary {} ({} over the last {})",
        format::pct_of(p.bad_hi, p.total),
        format::ratio(p.bad_hi, p.total),
        look.span(window::covered(st))
    );
    if !(limit > 0.0 && limit < 1.0) {
        return (TriggerStatus::Clear, format!("{over}; limit {} cannot be tested", format::pct(limit)));
    }
    if let Some(line) = escalation(st, look, limit) {
        return (TriggerStatus::Fired, line);
    }
    if p.total <= 0.0 {
        return (TriggerStatus::Clear, format!("no canary requests over the last {}", look.span(window::covered(st))));
    }
    st.looks = st.looks.saturating_add(1);
    let level = look_level(look.config.alpha, st.looks, look.context.interval);
    let mut test = MixtureTest::new(TRIGGER_FACTORS.len());
    let t = temper(&p, look.phi);
    test.update(t.bad_hi, t.total - t.bad_hi, limit, &scaled_alternatives(limit, &TRIGGER_FACTORS));
    let e = format::e_value(test.log_e());
    let thr = format::threshold(level);
    let min = look.metric.min_requests as f64;
    let full = st.observed as usize >= look.need;
    let lim = format::pct(limit);
    if !test.rejects(level) {
        return (TriggerStatus::Clear, format!("{over}, not shown > {lim}: e={e} < {thr} (look {})", st.looks));
    }
    let shown = format!("{over} > {lim}: e={e} ≥ {thr} (look {})", st.looks);
    if !full {
        let have = (st.observed as usize).min(look.need);
        let msg = format!("{shown}, but only {have} of {} intervals observed yet", look.need);
        (TriggerStatus::Breached, msg)
    } else if p.total < min {
        (
            TriggerStatus::Breached,
            format!("{shown}, but only {} < {} requests", format::count(p.total), look.metric.min_requests),
        )
    } else {
        (
            TriggerStatus::Fired,
            format!("{shown} for {} → fired{}", format::duration(look.trigger.for_duration), worse_note(look)),
        )
    }
}

/// Level of look `k`: α/2·(1/(k(k+1)) + 1/K), K = looks per day (see the module doc).
pub fn look_level(alpha: f64, k: u32, interval: Duration) -> f64 {
    let k = f64::from(k.max(1));
    let per_day = (86_400.0 / interval.as_secs_f64().max(1.0)).ceil().max(1.0);
    alpha / 2.0 * (1.0 / (k * (k + 1.0)) + 1.0 / per_day)
}

/// For `rollback-if-worse`: say which way it goes.
fn worse_note(look: &Look) -> String {
    if look.trigger.action != TriggerAction::RollbackIfWorse {
        return String::new();
    }
    match look.worse {
        Some(w) => format!("; canary significantly worse than baseline (e={})", format::e_value(w.log_e)),
        None => "; canary not significantly worse than baseline".to_string(),
    }
}

/// Fires a rollback trigger before its window when the comparison is conclusive and the
/// step's rate is above the limit, with at least the metric's minimum of requests.
fn escalation(st: &TriggerState, look: &Look, limit: f64) -> Option<String> {
    let w = look.worse?;
    if look.trigger.action == TriggerAction::Pause {
        return None;
    }
    let s = &st.step_events;
    if s.total <= 0.0 || s.total < look.metric.min_requests as f64 || s.bad_hi / s.total <= limit {
        return None;
    }
    Some(format!(
        "canary {} ({}) > {} and significantly worse than baseline {} (e={} ≥ {}); fired before {} because the comparison is conclusive",
        format::pct_of(s.bad_hi, s.total),
        format::ratio(s.bad_hi, s.total),
        format::pct(limit),
        format::pct_of(w.baseline.bad_hi, w.baseline.total),
        format::e_value(w.log_e),
        format::threshold(look.config.alpha),
        format::duration(look.trigger.for_duration),
    ))
}

/// Every canary request failed, over at least the minimum of requests. Where errors come in
/// bursts (dispersion φ > 1) one burst can fail a short interval's every request, so the
/// minimum counts effective requests, n / φ (`judge/README.md`, "Overdispersion").
fn outage_status(st: &TriggerState, look: &Look) -> (TriggerStatus, String) {
    let p = pooled(st);
    let span = look.span(window::covered(st));
    let min = look.metric.min_requests.clamp(1, OUTAGE_MIN_REQUESTS) as f64;
    let counts = format!("{} over the last {span}", format::ratio(p.bad_hi, p.total));
    let phi = look.phi.max(1.0);
    if p.total <= 0.0 || p.bad_hi < p.total {
        let msg = format!("canary {} errors ({counts}): not an outage", format::pct_of(p.bad_hi, p.total));
        (TriggerStatus::Clear, msg)
    } else if p.total < min {
        let msg = format!("every canary request failed ({counts}), but {} < {} requests", format::count(p.total), min);
        (TriggerStatus::Breached, msg)
    } else if p.total / phi < min {
        let msg = format!(
            "every canary request failed ({counts}), but at dispersion {phi:.1} that is {:.1} effective requests < {min}",
            p.total / phi
        );
        (TriggerStatus::Breached, msg)
    } else {
        (TriggerStatus::Fired, format!("every canary request failed ({counts}) → fired"))
    }
}

fn value_status(
    st: &TriggerState,
    need: usize,
    value: Option<f64>,
    range: &str,
    metric: &Metric,
    readings: &Readings,
    context: &Context,
) -> (TriggerStatus, String) {
    let Some(v) = value else {
        return (TriggerStatus::Clear, missing(&readings.canary, metric));
    };
    let n = st.out_of_range as usize;
    let span = format::duration(context.interval.saturating_mul(st.out_of_range));
    let v = format::number(v);
    if n == 0 {
        (TriggerStatus::Clear, format!("canary {v} within {range}"))
    } else if n < need {
        (TriggerStatus::Breached, format!("canary {v} outside {range} for {span} ({n} of {need} evaluations)"))
    } else {
        (TriggerStatus::Fired, format!("canary {v} outside {range} for {span} ({n} evaluations) → fired"))
    }
}
