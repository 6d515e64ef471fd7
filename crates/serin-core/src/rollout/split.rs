//! The traffic-split check: does the canary get the share of requests serin set?
//!
//! Every test of the judge conditions on the request counts it observes, so a wrong split
//! does not make the tests wrong; it makes the rollout wrong. A canary that sticky sessions
//! keep at 2% while serin believes it serves 50% is promoted on a twentieth of the evidence
//! the steps were meant to gather, and the next step's "more traffic" never comes; a weight
//! the ingress controller did not apply, or a second canary Ingress on the same host,
//! shifts the share the other way. Such a step holds, with a Warning naming both numbers,
//! until the split agrees again. Rollbacks are unaffected.
//!
//! The observed share is the canary's requests over both arms' requests in the current
//! step, read from the judge's evidence (the metric channel with the most requests). A
//! **mismatch** is all three of:
//! - the step's share is outside the weight's band: its odds differ from the weight's by
//!   more than [`ODDS_TOLERANCE`]× (10% set: below 6.9% or above 14.3%; 50%: outside
//!   40–60%), so an ingress controller's rounding or a session-affine fraction of clients
//!   never holds a rollout;
//! - the deviation is far beyond chance for independent requests (|z| ≥ [`MIN_Z`] over the
//!   step, at least [`MIN_REQUESTS`] requests);
//! - the latest interval is outside the band on the same side: persistent, and a split
//!   that has been fixed clears at the next interval rather than when the step's pooled
//!   share has caught up.
//!
//! Only weighted canary steps strictly between 0% and 100% are checked: at 100% the stable
//! serves nothing, and header- or cookie-routed canaries have no weight to compare with.

use crate::judge::Judgement;
use crate::judge::evidence::ChannelEvidence;

/// Largest factor between the observed odds of a canary request and the weight's odds.
pub const ODDS_TOLERANCE: f64 = 1.5;
/// Standard deviations (binomial, independent requests) the step's count must be off by.
pub const MIN_Z: f64 = 4.0;
/// Requests of both arms in the step before the split is judged.
pub const MIN_REQUESTS: f64 = 100.0;
/// `RolloutState.holding` while a mismatch holds the step: its Event is a Warning.
pub const HOLD_CAUSE: &str = "traffic-split";

/// A split that disagrees with the weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mismatch {
    /// The weight serin set, in percent.
    pub weight: u8,
    /// The canary's share of the step's requests (0–1).
    pub observed: f64,
    /// Canary and stable requests of the step.
    pub canary: f64,
    pub stable: f64,
}

impl Mismatch {
    /// The hold's reason: both numbers, and what usually causes it.
    pub fn reason(&self) -> String {
        format!(
            "traffic split: the canary served {:.1}% of requests this step ({:.0} of {:.0}), but its weight is {}%; \
             holding until they agree (sticky sessions, a canary weight the ingress controller did not apply, \
             or a second canary on the same host?)",
            100.0 * self.observed,
            self.canary,
            self.canary + self.stable,
            self.weight
        )
    }
}

/// The step's split against `weight`, when it persistently disagrees (see the module doc).
pub fn mismatch(weight: u8, judgement: &Judgement) -> Option<Mismatch> {
    if weight == 0 || weight >= 100 {
        return None;
    }
    let w = f64::from(weight) / 100.0;
    let channel = busiest(judgement)?;
    let baseline = channel.baseline.as_ref()?;
    let (c, b) = (channel.canary.step.total, baseline.step.total);
    let n = c + b;
    if !(n.is_finite() && n >= MIN_REQUESTS && c >= 0.0 && b >= 0.0) {
        return None;
    }
    let side = side_of(c / n, w)?;
    let z = (c - w * n) / (n * w * (1.0 - w)).sqrt();
    if z.abs() < MIN_Z {
        return None;
    }
    let (ci, bi) = (channel.canary.interval?.total, baseline.interval?.total);
    let seen = ci + bi;
    if seen.is_nan() || seen <= 0.0 || side_of(ci / seen, w) != Some(side) {
        return None;
    }
    Some(Mismatch { weight, observed: c / n, canary: c, stable: b })
}

/// `Some(true)` above the weight's band, `Some(false)` below it, `None` inside.
fn side_of(share: f64, w: f64) -> Option<bool> {
    let odds = |p: f64| p / (1.0 - p);
    let ratio = if share >= 1.0 { f64::INFINITY } else { odds(share) / odds(w) };
    if ratio > ODDS_TOLERANCE {
        Some(true)
    } else if ratio < 1.0 / ODDS_TOLERANCE {
        Some(false)
    } else {
        None
    }
}

/// The channel with both arms and the most requests this step.
fn busiest(judgement: &Judgement) -> Option<&ChannelEvidence> {
    judgement
        .metrics
        .iter()
        .flat_map(|m| &m.evidence.channels)
        .filter(|c| c.baseline.is_some())
        .max_by(|a, b| total(a).total_cmp(&total(b)))
}

fn total(c: &ChannelEvidence) -> f64 {
    c.canary.step.total + c.baseline.as_ref().map_or(0.0, |b| b.step.total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::evidence::{ArmEvidence, Events};
    use crate::judge::{Evidence, MetricVerdict, Verdict};

    /// A judgement whose one channel saw `step` (canary, stable) requests this step and
    /// `interval` in the last interval.
    fn judged(step: (f64, f64), interval: (f64, f64)) -> Judgement {
        let arm = |s: f64, i: f64| ArmEvidence {
            interval: Some(Events::exact(0.0, i)),
            step: Events::exact(0.0, s),
            ..Default::default()
        };
        let channel = ChannelEvidence {
            name: "error-rate".into(),
            limit: 0.01,
            canary: arm(step.0, interval.0),
            baseline: Some(arm(step.1, interval.1)),
            dispersion: 1.0,
            ..Default::default()
        };
        Judgement {
            at: std::time::UNIX_EPOCH,
            metrics: vec![MetricVerdict {
                metric: "error-rate".into(),
                verdict: Verdict::Inconclusive,
                reason: String::new(),
                evidence: Evidence { channels: vec![channel], ..Default::default() },
                advance: false,
                forecast: None,
            }],
            triggers: vec![],
        }
    }

    #[test]
    fn a_split_that_follows_the_weight_passes() {
        // 10% set, 9.6% seen over 5000 requests: within the band and within chance.
        assert_eq!(mismatch(10, &judged((480.0, 4520.0), (95.0, 905.0))), None);
        // 50% set, 53% seen: within the band though significant over 100,000 requests.
        assert_eq!(mismatch(50, &judged((53_000.0, 47_000.0), (530.0, 470.0))), None);
    }

    #[test]
    fn sticky_sessions_hold_with_both_numbers() {
        // 10% set, 2% seen: persistent (the last interval too) and far beyond chance.
        let m = mismatch(10, &judged((100.0, 4900.0), (20.0, 980.0))).expect("a mismatch");
        assert_eq!(m.weight, 10);
        assert!((m.observed - 0.02).abs() < 1e-9);
        assert!(
            m.reason().contains("2.0% of requests this step (100 of 5000), but its weight is 10%"),
            "{}",
            m.reason()
        );
        // A second canary doubles the share the other way.
        assert!(mismatch(25, &judged((2500.0, 2500.0), (500.0, 500.0))).is_some());
    }

    #[test]
    fn too_few_requests_a_fixed_split_and_the_ends_are_not_judged() {
        // 0 of 60 requests: outside the band but only 60 requests.
        assert_eq!(mismatch(10, &judged((0.0, 60.0), (0.0, 10.0))), None);
        // The step pooled 2%, but the last interval is back at 10%: fixed.
        assert_eq!(mismatch(10, &judged((100.0, 4900.0), (100.0, 900.0))), None);
        // 100% (the stable serves nothing) and 0% are not weights to compare with.
        assert_eq!(mismatch(100, &judged((100.0, 4900.0), (20.0, 980.0))), None);
        assert_eq!(mismatch(0, &judged((100.0, 4900.0), (20.0, 980.0))), None);
    }

    #[test]
    fn an_interval_without_requests_does_not_confirm() {
        assert_eq!(mismatch(10, &judged((100.0, 4900.0), (0.0, 0.0))), None);
    }
}
