//! What a verdict short of evidence still needs, at the canary's current traffic: "needs
//! ~14 more minutes at 1.1 canary req/s to advance".
//!
//! The pass evidence (ln e of the pass rule, `channel::pass_log_e`) grows about linearly in
//! the canary's requests while the canary behaves as it has so far, so its average gain per
//! request over the run, extrapolated to the threshold, says how many more requests it
//! takes; the canary's request rate in this interval turns that into minutes. The average
//! gain follows lucky stretches (a run of requests without an error lifts it), so the
//! extrapolation is stretched by [`MARGIN`], the factor at which the benchmark found the
//! evidence there within twice the forecast at 10–100 req/s (`simulations/results.md`).
//! When the evidence has not grown (a canary near or over its limits), no time is promised.
//!
//! Nor while the evidence is too thin to extrapolate: the gain so far is measured over the
//! requests seen, and until those requests could have shown a few bad events at the
//! metric's limit ([`MIN_EXPECTED_BAD`]), a stretch without errors is all it has seen, and
//! its gain says nothing of the errors still to come. At 1 req/s a 10% canary sees 6
//! requests a minute, a 1% limit expects one error in 17 minutes, and the forecasts made
//! earlier came true within twice their time in only 71% of runs. The verdict then says how
//! many more canary requests it needs before it can say how long ([`Forecast::thin`]).

use serde::{Deserialize, Serialize};

use super::format;

/// How much longer than the plain extrapolation the forecast says.
pub const MARGIN: f64 = 1.5;
/// Bad events the canary's requests so far would hold at the metric's limit before their
/// gain is extrapolated into minutes.
pub const MIN_EXPECTED_BAD: f64 = 3.0;

/// What the evidence is still short of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// The metric's minimum of canary requests this step.
    MinRequests,
    /// Pass evidence at `advance_beta`: an intermediate step may advance.
    Advance,
    /// Pass evidence at `beta`: the last step may promote.
    Promote,
}

impl Goal {
    fn as_str(self) -> &'static str {
        match self {
            Goal::MinRequests => "reach the minimum of requests",
            Goal::Advance => "advance",
            Goal::Promote => "promote",
        }
    }
}

/// The estimate, kept in the verdict for status, the API and the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    pub goal: Goal,
    /// Canary requests still needed; `None` when the evidence is not moving toward it.
    pub requests: Option<f64>,
    /// Minutes at `rate`; `None` without requests or traffic.
    pub minutes: Option<f64>,
    /// Canary requests per second in the interval just judged.
    pub rate: f64,
    /// Too few canary requests so far to extrapolate: `requests` is then how many more it
    /// takes before a time can be said, not how many the goal takes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub thin: bool,
}

impl Forecast {
    /// For a shortfall of `requests` canary requests at `rate` req/s.
    pub fn requests(goal: Goal, requests: f64, rate: f64) -> Forecast {
        let requests = requests.max(0.0);
        let minutes = (rate > 0.0).then(|| requests / rate / 60.0);
        Forecast { goal, requests: Some(requests), minutes, rate, thin: false }
    }

    /// Too thin to extrapolate: `more` canary requests before a time can be said. No
    /// minutes, so nothing numeric is promised about the goal.
    pub fn thin(goal: Goal, more: f64, rate: f64) -> Forecast {
        Forecast { goal, requests: Some(more.max(1.0).ceil()), minutes: None, rate, thin: true }
    }

    /// For pass evidence at `log_e` after `seen` canary requests, short of `threshold`, on
    /// a channel whose largest acceptable bad fraction is `limit`.
    pub fn evidence(goal: Goal, log_e: f64, threshold: f64, seen: f64, limit: f64, rate: f64) -> Forecast {
        let needed = MIN_EXPECTED_BAD / limit;
        if limit > 0.0 && seen < needed {
            return Forecast::thin(goal, needed - seen, rate);
        }
        let gain = log_e / seen;
        if !(log_e > 0.0 && seen > 0.0 && gain.is_finite() && gain > 0.0) {
            return Forecast { goal, requests: None, minutes: None, rate, thin: false };
        }
        Forecast::requests(goal, MARGIN * (threshold - log_e) / gain, rate)
    }

    /// The larger need of two (both about the same goal's metric): no progress first, then
    /// too thin to say, then the longer time.
    pub fn worse(self, other: Forecast) -> Forecast {
        match (self.requests, other.requests) {
            (None, _) => self,
            (_, None) => other,
            _ if self.thin != other.thin => {
                if self.thin {
                    self
                } else {
                    other
                }
            }
            (Some(a), Some(b)) if b > a => other,
            _ => self,
        }
    }

    /// `needs ~14 more minutes at 1.1 canary req/s to advance`.
    pub fn text(&self) -> String {
        let rate = if self.rate >= 10.0 {
            format!("{:.0}", self.rate)
        } else {
            format::number((self.rate * 10.0).round() / 10.0)
        };
        match (self.requests, self.minutes) {
            (Some(r), _) if self.thin => format!(
                "too few canary requests yet to say how long it needs to {}: ~{} more first",
                self.goal.as_str(),
                r.ceil()
            ),
            (Some(_), Some(m)) => {
                let minutes = m.ceil().max(1.0);
                let unit = if minutes == 1.0 { "minute" } else { "minutes" };
                format!("needs ~{minutes} more {unit} at {rate} canary req/s to {}", self.goal.as_str())
            }
            (Some(r), None) => {
                format!("needs ~{} more canary requests to {} (no canary traffic now)", r.ceil(), self.goal.as_str())
            }
            (None, _) => format!(
                "no progress toward a pass at the current rates: cannot say when it could {}",
                self.goal.as_str()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extrapolates_the_gain_per_request() {
        // ln e = 2 after 1000 requests, threshold ln 40 ≈ 3.69: ~845 more, × 1.5 ≈ 1268 at
        // 1 req/s ≈ 21 min.
        let f = Forecast::evidence(Goal::Promote, 2.0, 40f64.ln(), 1000.0, 0.01, 1.0);
        let minutes = f.minutes.unwrap();
        assert!((21.0..21.2).contains(&minutes), "{minutes}");
        assert_eq!(f.text(), "needs ~22 more minutes at 1 canary req/s to promote");
    }

    #[test]
    fn no_gain_no_promise_and_no_traffic_no_minutes() {
        let f = Forecast::evidence(Goal::Advance, -0.5, 1.6, 300.0, 0.01, 2.0);
        assert_eq!((f.requests, f.minutes), (None, None));
        assert!(f.text().starts_with("no progress"));
        let f = Forecast::requests(Goal::MinRequests, 12.0, 0.0);
        assert_eq!(f.minutes, None);
        assert!(f.text().contains("12 more canary requests"), "{}", f.text());
        let a = Forecast::requests(Goal::Advance, 10.0, 1.0);
        let b = Forecast::requests(Goal::Advance, 50.0, 1.0);
        assert_eq!(a.worse(b), b);
        assert_eq!(Forecast::evidence(Goal::Advance, 0.0, 1.0, 300.0, 0.05, 1.0).worse(a).requests, None);
    }

    #[test]
    fn too_few_requests_to_extrapolate_promise_no_time() {
        // 120 requests without an error at a 1% limit: ln e already 1, but 300 requests are
        // needed before 3 errors would be expected at the limit.
        let f = Forecast::evidence(Goal::Advance, 1.0, 1.2, 120.0, 0.01, 0.1);
        assert!(f.thin && f.minutes.is_none(), "{f:?}");
        assert_eq!(f.requests, Some(180.0));
        assert_eq!(f.text(), "too few canary requests yet to say how long it needs to advance: ~180 more first");
        // A thin channel outweighs a numeric one; no progress outweighs both.
        let numeric = Forecast::requests(Goal::Advance, 1e6, 1.0);
        assert!(numeric.worse(f).thin && f.worse(numeric).thin);
        let stuck = Forecast::evidence(Goal::Advance, -1.0, 1.2, 400.0, 0.01, 1.0);
        assert_eq!(f.worse(stuck).requests, None);
    }
}
