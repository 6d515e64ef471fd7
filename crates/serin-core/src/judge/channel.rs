//! One event definition of a metric (the ratio, or "slower than L" for one histogram
//! limit) and its three tests, all built on [`MixtureTest`]:
//!
//! 1. comparison (rollback, level alpha): given the interval's bad events, each is a canary
//!    one with probability θ0 = canary share of requests under "canary no worse"; the
//!    alternatives multiply the canary's rate by r. After a blue-green flip, a one-sample
//!    test against the frozen baseline's Clopper–Pearson upper bound replaces it.
//! 2. non-inferiority (pass path A, level beta): null "canary rate ≥ R_MAX × baseline".
//! 3. within limit (pass path B, level beta): null "canary bad fraction ≥ limit".

use super::JudgeConfig;
use super::counts::{Clean, Events, slow_events};
use super::dispersion::{CANARY_TERM_CAP, UNCAPPED, temper};
use super::evidence::{ChannelState, TestOutcome, TestRun};
use super::format;
use super::sequential::{
    MixtureTest, clopper_pearson_upper, log_mean_exp, scaled_alternatives, theta_of_ratio, threshold_log,
};
use crate::template::{Metric, MetricKind};

/// Rate ratios canary/baseline the comparison looks for (from "50% worse" to "20×").
const COMPARISON_RATIOS: [f64; 7] = [1.5, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0];
/// Non-inferiority margin: "not worse" means "provably less than twice the baseline".
pub const R_MAX: f64 = 2.0;
const NON_INFERIORITY_RATIOS: [f64; 5] = [0.5, 0.75, 1.0, 1.25, 1.5];
/// Within-limit alternatives as fractions of the limit.
const WITHIN_FACTORS: [f64; 4] = [0.1, 0.25, 0.5, 0.75];
/// Frozen-baseline alternatives as multiples of the baseline's upper bound.
const FROZEN_FACTORS: [f64; 5] = [1.5, 2.0, 3.0, 5.0, 8.0];
/// Confidence of the frozen baseline's upper bound.
const FROZEN_CONFIDENCE: f64 = 0.99;
/// How many intervals of the baseline's dispersion the canary's own estimate starts from
/// (`DispersionStats::phi_toward`).
const CANARY_PRIOR_INTERVALS: f64 = 5.0;
/// The comparison restarts a fresh test every this many intervals (with data on both
/// arms), so a late regression is judged on recent data (`sequential::RestartedTest`).
pub const RESTART_EVERY: u32 = 10;

/// What a channel counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSpec {
    /// The ratio metric's name, or the limit's label (`p95`).
    pub name: String,
    /// Largest acceptable bad fraction.
    pub limit: f64,
    /// Histograms: the latency limit in seconds.
    pub seconds: Option<f64>,
    /// The metric has a baseline query (tests 1 and 2 exist).
    pub has_baseline: bool,
}

impl ChannelSpec {
    /// `error-rate`, `p95 <= 500ms`.
    pub fn title(&self) -> String {
        match self.seconds {
            Some(s) => format!("{} <= {}", self.name, format::seconds(s)),
            None => self.name.clone(),
        }
    }
}

/// The channels of a metric; none for value metrics.
pub fn specs(metric: &Metric) -> Vec<ChannelSpec> {
    match &metric.kind {
        MetricKind::Ratio(r) => vec![ChannelSpec {
            name: metric.name.clone(),
            limit: r.max,
            seconds: None,
            has_baseline: r.baseline.is_some(),
        }],
        MetricKind::Histogram(h) => h
            .max
            .iter()
            .map(|q| ChannelSpec {
                name: q.label(),
                limit: 1.0 - q.quantile,
                seconds: Some(q.seconds),
                has_baseline: h.baseline.is_some(),
            })
            .collect(),
        MetricKind::Value(_) => vec![],
    }
}

/// The channel's events in a validated reading; `None` if the reading is not usable for
/// it (missing, NaN, or the wrong kind for the metric).
pub fn events(spec: &ChannelSpec, reading: &Clean) -> Option<Events> {
    match (reading, spec.seconds) {
        (Clean::Counts { bad, total }, None) => Some(Events::exact(*bad, *total)),
        (Clean::Buckets(b), Some(limit)) => Some(slow_events(b, limit)),
        _ => None,
    }
}

/// Folds one interval into the channel. `canary`/`baseline` are `None` when unusable.
///
/// The tests see effective counts (every count divided by the dispersion φ estimated from
/// the baseline's earlier intervals, see `dispersion.rs`); the counters shown to humans
/// keep the raw counts. The baseline's interval joins the estimate only after it was
/// judged, so each interval's tempering is fixed before its data.
pub fn fold(
    st: &mut ChannelState,
    spec: &ChannelSpec,
    canary: Option<Events>,
    baseline: Option<Events>,
    frozen: bool,
    config: &JudgeConfig,
) {
    let phi_b = st.dispersion.phi();
    // The same application: the canary is taken to be at least as bursty as the baseline,
    // and burstier when its own intervals show it.
    let phi = st.canary_dispersion.phi_toward(phi_b, CANARY_PRIOR_INTERVALS).max(phi_b);
    st.phi = phi;
    if let Some(c) = canary {
        st.canary_step.add(&c);
        st.canary_run.add(&c);
        if spec.limit > 0.0 && spec.limit < 1.0 {
            let alts = scaled_down(spec.limit, &WITHIN_FACTORS);
            let t = temper(&c, phi);
            st.within.update(t.bad_lo, t.total - t.bad_lo, spec.limit, &alts);
        }
    }
    if frozen {
        fold_frozen(st, canary, phi_b, phi);
    } else if let Some(b) = baseline {
        st.baseline_step.add(&b);
        st.baseline_run.add(&b);
        if let Some(c) = canary {
            fold_two_sample(st, &c, &b, phi, phi_b);
        }
        learn_baseline(st, &b);
    }
    if let Some(c) = canary {
        st.canary_dispersion.add(&c, CANARY_TERM_CAP);
    }
    if st.worse_log_e.is_none() {
        let comparison = comparison_log_e(st);
        if comparison >= threshold_log(config.alpha) {
            st.worse_log_e = Some(comparison);
        } else if st.frozen.rejects(config.alpha) {
            st.worse_log_e = Some(st.frozen.log_e());
        }
    }
}

/// Adds a baseline interval to what the channel knows of the baseline's spread: its
/// dispersion and its quiet intervals (after the interval was judged, or from its history).
pub fn learn_baseline(st: &mut ChannelState, b: &Events) {
    st.dispersion.add(b, UNCAPPED);
    st.quiet.add(b);
}

/// ln e of test 1: the counts' comparison (cumulative and restarted), averaged with the
/// comparison counted in bursts when that one runs (`bursts.rs`). Whether it runs is fixed
/// at the first comparison, when both are still at e ≤ 1, so the average is an e-process.
pub fn comparison_log_e(st: &ChannelState) -> f64 {
    let counts = st.comparison.log_e(RESTART_EVERY);
    match st.bursts.log_e() {
        Some(bursts) => log_mean_exp(&[counts, bursts]),
        None => counts,
    }
}

/// Tests 1 and 2 on the interval's bad events, conditioned on the request shares.
///
/// Bracketed histogram counts: test 1 (rollback) counts the canary's certainly-slow
/// requests against the baseline's; test 2 (pass) counts every possibly-slow canary request
/// against only the baseline's certainly-slow ones, the reading that makes the baseline
/// look fastest, so a canary between two buckets is never passed on the baseline's
/// possibly-slow requests.
///
/// Dispersion: the conditional count's variance is θ0(1−θ0)·M·((1−θ0)·φ_c + θ0·φ_b) for M
/// bad events, so the counts are tempered by that mix of the canary's and the baseline's φ.
fn fold_two_sample(st: &mut ChannelState, c: &Events, b: &Events, phi_c: f64, phi_b: f64) {
    if c.total <= 0.0 || b.total <= 0.0 {
        return;
    }
    let theta0 = c.total / (c.total + b.total);
    if !(theta0 > 0.0 && theta0 < 1.0) {
        return;
    }
    st.bursts.decide(&st.quiet, phi_b, st.comparison.cumulative.log_e());
    st.bursts.update(c);
    let phi = (1.0 - theta0) * phi_c + theta0 * phi_b;
    let (c, b) = (&temper(c, phi), &temper(b, phi));
    let alts: Vec<f64> = COMPARISON_RATIOS.iter().map(|&r| theta_of_ratio(theta0, r)).collect();
    st.comparison.update(c.bad_hi, b.bad_hi, theta0, &alts, RESTART_EVERY);
    let null = theta_of_ratio(theta0, R_MAX);
    let alts: Vec<f64> = NON_INFERIORITY_RATIOS.iter().map(|&r| theta_of_ratio(theta0, r)).collect();
    st.non_inferiority.update(c.bad_lo, b.bad_hi, null, &alts);
}

/// Test 1 after the flip (or at a canary's 100% step): the canary alone against the
/// baseline's pooled upper bound, fixed at the first frozen interval. Both the bound and
/// the test use effective counts (÷ φ), so bursts widen the bound rather than fake a
/// regression. Without baseline counts there is no test.
fn fold_frozen(st: &mut ChannelState, canary: Option<Events>, phi_b: f64, phi: f64) {
    if st.frozen_ref.is_none() && st.baseline_run.total > 0.0 {
        let b = temper(&st.baseline_run, phi_b);
        let p = clopper_pearson_upper(b.bad_hi, b.total, FROZEN_CONFIDENCE);
        if p > 0.0 && p < 1.0 {
            st.frozen_ref = Some(p);
        }
    }
    if let (Some(p), Some(c)) = (st.frozen_ref, canary) {
        let c = temper(&c, phi);
        st.frozen.update(c.bad_hi, c.total - c.bad_hi, p, &scaled_alternatives(p, &FROZEN_FACTORS));
    }
}

fn scaled_down(limit: f64, factors: &[f64]) -> Vec<f64> {
    factors.iter().map(|f| limit * f).collect()
}

/// Test 1 has rejected at some point of the run.
pub fn worse(st: &ChannelState) -> bool {
    st.worse_log_e.is_some()
}

/// Path A: not worse than `R_MAX` × baseline, proven now.
pub fn not_worse_proven(st: &ChannelState, spec: &ChannelSpec, config: &JudgeConfig) -> bool {
    spec.has_baseline && st.non_inferiority.rejects(config.beta)
}

/// Path B: within the limit, proven now. A limit of 1 (or more) allows anything.
pub fn within_proven(st: &ChannelState, spec: &ChannelSpec, config: &JudgeConfig) -> bool {
    spec.limit >= 1.0 || (spec.limit > 0.0 && st.within.rejects(config.beta))
}

/// ln(e_A + e_B), the pass evidence: the sum of the non-inferiority and within-limit
/// e-values (only e_B without a baseline). A pass is wrong only when the canary is both
/// above the limit and at least `R_MAX` times worse than the baseline; under that
/// intersection of the two nulls both are e-processes, so their average is one too and
/// P(ever e_A + e_B ≥ 1/β) ≤ 2β: the same bound as "A or B proven at β each", but the
/// sum also passes when both are halfway there.
pub fn pass_log_e(st: &ChannelState, spec: &ChannelSpec) -> f64 {
    let b = st.within.log_e();
    if !spec.has_baseline {
        return b;
    }
    let a = st.non_inferiority.log_e();
    let max = a.max(b);
    max + ((a - max).exp() + (b - max).exp()).ln()
}

/// The channel's pass rule (see [`pass_log_e`]); a limit of 1 allows anything.
pub fn pass_proven(st: &ChannelState, spec: &ChannelSpec, config: &JudgeConfig) -> bool {
    spec.limit >= 1.0 || pass_log_e(st, spec) >= threshold_log(config.beta)
}

/// Every test of the channel, for the evidence.
pub fn test_runs(st: &ChannelState, spec: &ChannelSpec, config: &JudgeConfig) -> Vec<TestRun> {
    let title = spec.title();
    let mut out = Vec::new();
    if spec.has_baseline {
        let comparison = MixtureTest { log_lr: vec![comparison_log_e(st)] };
        let concluded = comparison.rejects(config.alpha) || (worse(st) && st.frozen_ref.is_none());
        out.push(run(format!("{title}: worse than baseline"), &comparison, config.alpha, concluded));
    }
    if st.bursts.log_e().is_some() {
        // Averaged with the counts' comparison at equal weights: alone it rejects at α/2.
        let name = format!("{title}: worse than baseline, in bursts (quiet intervals)");
        out.push(run(name, &st.bursts.test, config.alpha / 2.0, false));
    }
    if let Some(p) = st.frozen_ref {
        let name = format!("{title}: worse than frozen baseline bound {}", format::pct(p));
        out.push(run(name, &st.frozen, config.alpha, st.frozen.rejects(config.alpha)));
    }
    if spec.has_baseline {
        let name = format!("{title}: not worse than {R_MAX}x baseline");
        let t = &st.non_inferiority;
        out.push(run(name, t, config.beta, t.rejects(config.beta)));
    }
    let name = format!("{title}: within limit {}", format::pct(spec.limit));
    out.push(run(name, &st.within, config.beta, within_proven(st, spec, config)));
    if spec.has_baseline {
        let sum = MixtureTest { log_lr: vec![pass_log_e(st, spec)] };
        let name = format!("{title}: pass (not-worse + within)");
        out.push(run(name, &sum, config.beta, pass_proven(st, spec, config)));
    }
    out
}

fn run(name: String, test: &MixtureTest, level: f64, concluded: bool) -> TestRun {
    let log_e = test.log_e();
    TestRun {
        name,
        e_value: log_e.min(700.0).exp(),
        log_e,
        threshold: threshold_log(level).min(700.0).exp(),
        outcome: if concluded { TestOutcome::Concluded } else { TestOutcome::Open },
    }
}
