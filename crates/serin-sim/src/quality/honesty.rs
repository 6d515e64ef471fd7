//! Is serin's forecast honest? Every minute, an inconclusive metric says how long its
//! evidence still needs ("needs ~N more minutes … to advance"); the forecast counts as
//! honest when the metric reached that goal within 2N minutes. Forecasts whose 2N window
//! outlasts the run are not counted.

use crate::judge::forecast::Goal;
use crate::judge::{MetricVerdict, Verdict};

/// Forecasts made and kept so far in one run.
#[derive(Debug, Clone, Default)]
pub struct Honesty {
    /// (metric, goal, deadline minute) of forecasts not yet settled.
    pending: Vec<(String, Goal, f64)>,
    pub checked: u32,
    pub honest: u32,
}

impl Honesty {
    /// Settles what `verdicts` show `now` (minutes since the start), then records their new
    /// forecasts.
    pub fn observe(&mut self, now: f64, verdicts: &[MetricVerdict]) {
        let reached = |metric: &str, goal: Goal| {
            verdicts.iter().find(|v| v.metric == metric).is_some_and(|v| match goal {
                Goal::Promote => v.verdict == Verdict::Pass,
                Goal::Advance => v.verdict == Verdict::Pass || v.advance,
                Goal::MinRequests => v.verdict != Verdict::Inconclusive || v.forecast.is_none_or(|f| f.goal != goal),
            })
        };
        let (mut checked, mut honest) = (0, 0);
        self.pending.retain(|(metric, goal, deadline)| {
            if reached(metric, *goal) {
                checked += 1;
                honest += u32::from(now <= *deadline);
                false
            } else if now > *deadline {
                checked += 1;
                false
            } else {
                true
            }
        });
        self.checked += checked;
        self.honest += honest;
        for v in verdicts {
            if let Some(minutes) = v.forecast.and_then(|f| f.minutes) {
                let goal = v.forecast.map_or(Goal::Advance, |f| f.goal);
                self.pending.push((v.metric.clone(), goal, now + 2.0 * minutes.ceil().max(1.0)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::judge::Evidence;
    use crate::judge::forecast::Forecast;

    fn verdict(advance: bool, minutes: Option<f64>) -> MetricVerdict {
        MetricVerdict {
            metric: "error-rate".into(),
            verdict: Verdict::Inconclusive,
            reason: String::new(),
            evidence: Evidence::default(),
            advance,
            forecast: minutes.map(|m| Forecast::requests(Goal::Advance, m * 60.0, 1.0)),
        }
    }

    #[test]
    fn a_goal_reached_in_time_is_honest_and_a_missed_deadline_is_not() {
        let mut h = Honesty::default();
        h.observe(1.0, &[verdict(false, Some(3.0))]);
        h.observe(5.0, &[verdict(true, None)]);
        assert_eq!((h.checked, h.honest), (1, 1));
        h.observe(6.0, &[verdict(false, Some(1.0))]);
        h.observe(9.0, &[verdict(false, None)]);
        assert_eq!((h.checked, h.honest), (2, 1));
    }
}
