//! Judging one ratio or histogram metric: fold the interval into each channel, then turn
//! the tests into a verdict and a one-line reason with the numbers behind it.
//!
//! Order of verdicts: `Error` (a query failed this interval) before `Fail` (the comparison
//! rejected at some point: once significantly worse, always worse) before `Inconclusive`
//! (missing data, too few requests this step, or evidence still short) before `Pass`.
//! Missing data is never turned into zero or a pass.

use super::channel::{self, ChannelSpec};
use super::counts::{self, Clean, Events};
use super::evidence::{
    ArmEvidence, ChannelEvidence, ChannelState, Evidence, MetricState, QuantileEstimate, SeriesPoint,
};
use super::forecast::{Forecast, Goal};
use super::format;
use super::observation::MetricObservation;
use super::sequential::threshold_log;
use super::{Context, JudgeConfig, MetricVerdict, Verdict};
use crate::template::{Metric, MetricKind};

/// Validated readings of both arms for one interval.
pub struct Readings {
    pub canary: Clean,
    /// `None` when the metric has no baseline query, or the baseline is frozen.
    pub baseline: Option<Clean>,
}

impl Readings {
    /// A metric missing from the observation reads as `NoData`. A frozen baseline is not
    /// served, so whatever its query returned is ignored.
    pub fn of(obs: Option<&MetricObservation>, frozen: bool) -> Self {
        let canary = obs.map_or(Clean::NoData, |o| counts::clean(&o.canary));
        let baseline = if frozen { None } else { obs.and_then(|o| o.baseline.as_ref()).map(counts::clean) };
        Readings { canary, baseline }
    }

    fn error(&self) -> Option<String> {
        match (&self.canary, &self.baseline) {
            (Clean::Error(msg), _) => Some(format!("canary query failed: {msg}")),
            (_, Some(Clean::Error(msg))) => Some(format!("baseline query failed: {msg}")),
            _ => None,
        }
    }
}

/// Folds the interval into the metric's state and judges it.
pub fn judge(
    prev: Option<&MetricState>,
    metric: &Metric,
    readings: &Readings,
    context: &Context,
    config: &JudgeConfig,
) -> (MetricState, MetricVerdict) {
    let mut state = prev.cloned().unwrap_or_default();
    state.metric = metric.name.clone();
    if state.step != context.step {
        for ch in &mut state.channels {
            ch.canary_step = Events::default();
            ch.baseline_step = Events::default();
        }
        state.step = context.step;
    }
    let specs = channel::specs(metric);
    let mut channels = Vec::with_capacity(specs.len());
    let mut interval = Vec::with_capacity(specs.len());
    for spec in &specs {
        let title = spec.title();
        let mut st = state
            .channels
            .iter()
            .find(|c| c.name == title)
            .cloned()
            .unwrap_or_else(|| ChannelState { name: title, ..ChannelState::default() });
        let c = channel::events(spec, &readings.canary);
        let b = readings.baseline.as_ref().and_then(|r| channel::events(spec, r));
        channel::fold(&mut st, spec, c, b, context.baseline_frozen, config);
        channels.push(st);
        interval.push((c, b));
    }
    state.channels = channels;

    let folded = Folded { state: &state, specs: &specs, interval: &interval, metric, readings, context, config };
    let evidence = folded.evidence();
    let (verdict, detail, advance) = folded.verdict();
    let forecast = folded.forecast(verdict, advance);
    let detail = match &forecast {
        Some(f) => format!("{detail}; {}{}", f.text(), folded.promote_note(f)),
        None => detail,
    };
    let reason = format!("{}: {detail}", metric.name);
    (state, MetricVerdict { metric: metric.name.clone(), verdict, reason, evidence, advance, forecast })
}

/// One interval folded into a metric's state: what the verdict and the evidence are read from.
struct Folded<'a> {
    state: &'a MetricState,
    specs: &'a [ChannelSpec],
    /// Per channel (aligned with `specs`), this interval's canary and baseline events.
    interval: &'a [(Option<Events>, Option<Events>)],
    metric: &'a Metric,
    readings: &'a Readings,
    context: &'a Context,
    config: &'a JudgeConfig,
}

impl Folded<'_> {
    /// The verdict, its reason, and whether it allows an intermediate step to advance.
    fn verdict(&self) -> (Verdict, String, bool) {
        let (verdict, reason) = self.verdict_and_reason();
        let advance = verdict == Verdict::Pass
            || (verdict == Verdict::Inconclusive
                && self.evidence_short()
                && !self.baseline_missing()
                && self.pass_level(self.config.advance_beta));
        let reason = if advance && verdict != Verdict::Pass {
            format!("{reason}; enough to advance a step (e ≥ {})", format::threshold(self.config.advance_beta))
        } else {
            reason
        };
        (verdict, reason, advance)
    }

    /// What an inconclusive verdict still needs at the canary's current traffic: the
    /// step's minimum of requests, else pass evidence to advance, else to promote.
    fn forecast(&self, verdict: Verdict, advance: bool) -> Option<Forecast> {
        if verdict != Verdict::Inconclusive {
            return None;
        }
        let interval = self.interval.first().and_then(|(c, _)| *c)?;
        let rate = interval.total / self.context.interval.as_secs_f64().max(1.0);
        let step_requests = self.state.channels.first().map_or(0.0, |c| c.canary_step.total);
        let min = self.metric.min_requests as f64;
        if interval.total <= 0.0 {
            return None;
        }
        if step_requests < min {
            return Some(Forecast::requests(Goal::MinRequests, min - step_requests, rate));
        }
        if self.baseline_missing() {
            return None;
        }
        let (goal, level) =
            if advance { (Goal::Promote, self.config.beta) } else { (Goal::Advance, self.config.advance_beta) };
        self.evidence_forecast(goal, level, rate)
    }

    fn evidence_forecast(&self, goal: Goal, level: f64, rate: f64) -> Option<Forecast> {
        let threshold = threshold_log(level);
        self.specs
            .iter()
            .zip(&self.state.channels)
            .filter(|(spec, st)| spec.limit < 1.0 && channel::pass_log_e(st, spec) < threshold)
            .map(|(spec, st)| {
                let log_e = channel::pass_log_e(st, spec);
                Forecast::evidence(goal, log_e, threshold, st.canary_run.total, spec.limit, rate)
            })
            .reduce(Forecast::worse)
    }

    /// ` (~40 to promote)` after a forecast to advance, since the judge does not know
    /// whether this is the last step.
    fn promote_note(&self, f: &Forecast) -> String {
        if f.goal != Goal::Advance {
            return String::new();
        }
        match self.evidence_forecast(Goal::Promote, self.config.beta, f.rate).and_then(|p| p.minutes) {
            Some(m) => format!(" (~{} to promote)", m.ceil().max(1.0)),
            None => String::new(),
        }
    }

    /// The template compares with a baseline, but the baseline has never answered with
    /// requests this run (wrong stable labels, or a stable that serves nothing): the canary
    /// must not pass on its own evidence alone.
    fn baseline_missing(&self) -> bool {
        self.specs.iter().any(|s| s.has_baseline)
            && self.state.channels.first().is_none_or(|c| c.baseline_run.total <= 0.0)
    }

    /// Inconclusive only because the pass evidence is short (not missing data or requests).
    fn evidence_short(&self) -> bool {
        let has_data = matches!(self.interval.first(), Some((Some(e), _)) if e.total > 0.0);
        let step_requests = self.state.channels.first().map_or(0.0, |c| c.canary_step.total);
        has_data && step_requests >= self.metric.min_requests as f64
    }

    /// Every channel's pass evidence has reached 1/`level`.
    fn pass_level(&self, level: f64) -> bool {
        let threshold = threshold_log(level);
        !self.specs.is_empty()
            && self.specs.iter().zip(&self.state.channels).all(|(spec, st)| {
                spec.limit >= 1.0 || (!channel::worse(st) && channel::pass_log_e(st, spec) >= threshold)
            })
    }

    fn verdict_and_reason(&self) -> (Verdict, String) {
        let Folded { state, specs, metric, readings, context, config, .. } = *self;
        if let Some(msg) = readings.error() {
            return (Verdict::Error, msg);
        }
        let pairs = || specs.iter().zip(&state.channels);
        let worse: Vec<String> = pairs()
            .filter(|(_, st)| channel::worse(st))
            .map(|(spec, st)| channel_line(spec, st, context, config))
            .collect();
        if !worse.is_empty() {
            return (Verdict::Fail, worse.join("; "));
        }
        match self.interval.first().and_then(|(canary, _)| *canary) {
            None => return (Verdict::Inconclusive, missing(&readings.canary, metric)),
            Some(e) if e.total <= 0.0 => {
                let msg = "no data: the canary served no requests this interval (no traffic?)";
                return (Verdict::Inconclusive, msg.to_string());
            }
            Some(_) => {}
        }
        let step_requests = state.channels.first().map_or(0.0, |c| c.canary_step.total);
        if step_requests < metric.min_requests as f64 {
            let msg = format!(
                "too few canary requests this step ({} < {})",
                format::count(step_requests),
                metric.min_requests
            );
            return (Verdict::Inconclusive, msg);
        }
        let lines: Vec<String> = pairs().map(|(spec, st)| channel_line(spec, st, context, config)).collect();
        if self.baseline_missing() {
            let msg = format!(
                "no baseline data: the baseline queries returned no requests this run (wrong stable labels, or \
                 the stable serves nothing?), so the canary cannot be compared and is not passed on its own \
                 evidence: {}",
                lines.join("; ")
            );
            return (Verdict::Inconclusive, msg);
        }
        let all_proven = pairs().all(|(spec, st)| channel::pass_proven(st, spec, config));
        if all_proven && !specs.is_empty() {
            (Verdict::Pass, lines.join("; "))
        } else {
            (Verdict::Inconclusive, format!("not enough evidence yet: {}", lines.join("; ")))
        }
    }

    fn evidence(&self) -> Evidence {
        let Folded { state, specs, metric, readings, context, config, .. } = *self;
        let canary_buckets = buckets(Some(&readings.canary));
        let baseline_buckets = buckets(readings.baseline.as_ref());
        let mut ev = Evidence::default();
        for ((spec, st), &(c, b)) in specs.iter().zip(&state.channels).zip(self.interval) {
            let (le_pass, le_rollback) = match (spec.seconds, canary_buckets.or(baseline_buckets)) {
                (Some(s), Some(bk)) => counts::bracket(bk, s),
                _ => (None, None),
            };
            let baseline = spec
                .has_baseline
                .then(|| arm(if context.baseline_frozen { None } else { b }, &st.baseline_step, &st.baseline_run));
            ev.channels.push(ChannelEvidence {
                name: spec.title(),
                limit: spec.limit,
                le_pass,
                le_rollback,
                canary: arm(c, &st.canary_step, &st.canary_run),
                baseline,
                dispersion: st.phi.max(1.0),
            });
            ev.tests.extend(channel::test_runs(st, spec, config));
            ev.series.push(match spec.seconds {
                None => SeriesPoint {
                    name: spec.name.clone(),
                    unit: "ratio".to_string(),
                    canary: c.as_ref().and_then(rate),
                    baseline: b.as_ref().and_then(rate),
                    limit: Some(spec.limit),
                },
                Some(s) => {
                    let q = 1.0 - spec.limit;
                    SeriesPoint {
                        name: spec.name.clone(),
                        unit: "seconds".to_string(),
                        canary: canary_buckets.and_then(|bk| counts::quantile(bk, q)),
                        baseline: baseline_buckets.and_then(|bk| counts::quantile(bk, q)),
                        limit: Some(s),
                    }
                }
            });
        }
        if let MetricKind::Histogram(h) = &metric.kind {
            for limit in &h.max {
                if ev.quantiles.iter().any(|q| q.quantile == limit.quantile) {
                    continue;
                }
                ev.quantiles.push(QuantileEstimate {
                    quantile: limit.quantile,
                    canary: canary_buckets.and_then(|bk| counts::quantile(bk, limit.quantile)),
                    baseline: baseline_buckets.and_then(|bk| counts::quantile(bk, limit.quantile)),
                });
            }
        }
        ev
    }
}

/// Why the canary reading cannot be used, naming the likely causes.
pub fn missing(reading: &Clean, metric: &Metric) -> String {
    match reading {
        Clean::NoData => "no data: the canary query returned no series (no traffic to the canary, \
                          metric not scraped, or wrong labels)"
            .to_string(),
        Clean::NotANumber(why) => format!("no data: {why}"),
        Clean::Error(msg) => format!("canary query failed: {msg}"),
        Clean::Counts { .. } | Clean::Buckets(_) | Clean::Value(_) => {
            let kind = match metric.kind {
                MetricKind::Ratio(_) => "ratio",
                MetricKind::Histogram(_) => "histogram",
                MetricKind::Value(_) => "value",
            };
            format!("no data: the canary query returned the wrong kind of reading for a {kind} metric")
        }
    }
}

/// `canary 0.52% (12/2301 this step) vs baseline 0.49% (101/20455); not worse than
/// baseline: e=512 ≥ 100 → pass`.
fn channel_line(spec: &ChannelSpec, st: &ChannelState, context: &Context, config: &JudgeConfig) -> String {
    let (prefix, what) = match spec.seconds {
        Some(s) => (format!("{}: ", spec.title()), format!(" slower than {}", format::seconds(s))),
        None => (String::new(), String::new()),
    };
    let c = &st.canary_step;
    let mut line = format!("{prefix}canary {}{what} ({} this step)", rate_range(c), format::ratio(c.bad_hi, c.total));
    if spec.has_baseline {
        let b = &st.baseline_run;
        let frozen = if context.baseline_frozen { "frozen " } else { "" };
        line += &format!(" vs {frozen}baseline {} ({})", rate_range(b), format::ratio(b.bad_hi, b.total));
    }
    if st.phi > 1.0 {
        line += &format!(", dispersion {:.1}", st.phi);
    }
    if let Some(bursts) = st.bursts.describe() {
        line += &format!("; in bursts: {bursts}");
    }
    let a_thr = format::threshold(config.alpha);
    let b_thr = format::threshold(config.beta);
    let conclusion = if let Some(log_e) = st.worse_log_e {
        format!("significantly worse than baseline: e={} ≥ {a_thr} → fail", format::e_value(log_e))
    } else if channel::not_worse_proven(st, spec, config) {
        format!("not worse than baseline: e={} ≥ {b_thr} → pass", format::e_value(st.non_inferiority.log_e()))
    } else if channel::within_proven(st, spec, config) {
        format!("within {}: e={} ≥ {b_thr} → pass", format::pct(spec.limit), format::e_value(st.within.log_e()))
    } else {
        let within = format!("within {} (e={})", format::pct(spec.limit), format::e_value(st.within.log_e()));
        let (parts, sum) = if spec.has_baseline {
            let a = format!("not worse than baseline (e={})", format::e_value(st.non_inferiority.log_e()));
            (format!("{a} + {within} = "), format::e_value(channel::pass_log_e(st, spec)))
        } else {
            (String::new(), format::e_value(st.within.log_e()))
        };
        if channel::pass_proven(st, spec, config) {
            format!("{parts}{sum} ≥ {b_thr} → pass")
        } else if spec.has_baseline {
            format!("{parts}{sum} < {b_thr}")
        } else {
            format!("{within} < {b_thr}")
        }
    };
    format!("{line}; {conclusion}")
}

/// `0.52%`, or `2.1–3.4%` when a histogram brackets the limit.
fn rate_range(e: &Events) -> String {
    if e.total <= 0.0 {
        return "n/a".to_string();
    }
    if (e.bad_lo - e.bad_hi).abs() < 1e-9 {
        format::pct(e.bad_hi / e.total)
    } else {
        format!("{}–{}", format::pct(e.bad_hi / e.total), format::pct(e.bad_lo / e.total))
    }
}

fn rate(e: &Events) -> Option<f64> {
    (e.total > 0.0).then(|| e.bad_hi / e.total)
}

fn arm(interval: Option<Events>, step: &Events, run: &Events) -> ArmEvidence {
    ArmEvidence {
        interval_rate: interval.as_ref().and_then(rate),
        interval,
        step: *step,
        run: *run,
        step_rate: rate(step),
        run_rate: rate(run),
    }
}

fn buckets(reading: Option<&Clean>) -> Option<&[super::observation::Bucket]> {
    match reading {
        Some(Clean::Buckets(b)) => Some(b),
        _ => None,
    }
}
