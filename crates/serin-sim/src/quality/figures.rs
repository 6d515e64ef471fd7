//! Per-cell figures of one algorithm, and the targets checked against them.

use std::time::Duration;

use super::closed_loop::{Outcome, RunResult};
use super::grid::{CellRuns, Contender};

/// What the runs of one algorithm in one cell add up to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub runs: usize,
    pub rolled_back: usize,
    pub promoted: usize,
    pub undecided: usize,
    /// Undecided runs that ended paused for a human.
    pub paused: usize,
    /// Mean canary requests served before the decision (to the end when undecided).
    pub canary_requests: f64,
    /// Mean 5xx the canary served in the same span.
    pub canary_errors: f64,
    /// Median minutes to the decision, over the decided runs.
    pub median_minutes: Option<f64>,
}

impl Figures {
    pub fn of(runs: &[RunResult]) -> Figures {
        let count = |o: Outcome| runs.iter().filter(|r| r.outcome == o).count();
        let n = runs.len().max(1) as f64;
        let mut minutes: Vec<u32> = runs.iter().filter_map(|r| r.minutes).collect();
        minutes.sort_unstable();
        let median_minutes = match minutes.len() {
            0 => None,
            len if len % 2 == 1 => Some(f64::from(minutes[len / 2])),
            len => Some(f64::from(minutes[len / 2 - 1] + minutes[len / 2]) / 2.0),
        };
        Figures {
            runs: runs.len(),
            rolled_back: count(Outcome::RolledBack),
            promoted: count(Outcome::Promoted),
            undecided: count(Outcome::Undecided),
            paused: runs.iter().filter(|r| r.paused).count(),
            canary_requests: runs.iter().map(|r| r.canary_requests as f64).sum::<f64>() / n,
            canary_errors: runs.iter().map(|r| r.canary_errors as f64).sum::<f64>() / n,
            median_minutes,
        }
    }

    pub fn p_rollback(&self) -> f64 {
        self.share(self.rolled_back)
    }

    pub fn p_promote(&self) -> f64 {
        self.share(self.promoted)
    }

    pub fn p_undecided(&self) -> f64 {
        self.share(self.undecided)
    }

    fn share(&self, n: usize) -> f64 {
        if self.runs == 0 { 0.0 } else { n as f64 / self.runs as f64 }
    }
}

/// A cell's figures for every contender of the plan.
pub fn of_cell(cell: &CellRuns, contenders: &[Contender], contender: Contender) -> Option<Figures> {
    cell.of(contenders, contender).map(Figures::of)
}

/// One target of the issue, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub statement: String,
    /// The measured numbers, one line a reader checks the verdict against.
    pub measured: String,
    pub pass: bool,
}

/// Largest serin / oracle exposure ratio on the 3% regression at ≥ 10 req/s.
pub const MAX_EXPOSURE_RATIO: f64 = 1.2;
/// Least detection rate of the 3%, 8% and outage regressions.
pub const MIN_DETECTION: f64 = 0.99;
/// Largest false-rollback rate (healthy canary, shared incident).
pub const MAX_FALSE_ROLLBACK: f64 = 0.01;
/// The full grid's time budget.
pub const MAX_WALL_TIME: Duration = Duration::from_secs(600);

/// A traffic level carries enough requests for a case when the oracle — the best any
/// test can do — rolls back at least [`MIN_DETECTION`] of its runs there.
pub fn carries_enough(oracle: &Figures) -> bool {
    oracle.p_rollback() >= MIN_DETECTION
}

/// One cell of a detection target, `what` naming it: serin rolls back ≥ [`MIN_DETECTION`]
/// where the run carries enough (of `evidence`: requests, bursts) for the oracle to, and
/// elsewhere never promotes. Whether it passes, and the measured line.
pub fn detection_row(what: &str, serin: &Figures, oracle: &Figures, evidence: &str) -> (bool, String) {
    let pct = |p: f64| format!("{:.1}%", 100.0 * p);
    if carries_enough(oracle) {
        return (serin.p_rollback() >= MIN_DETECTION, format!("{what}: {}", pct(serin.p_rollback())));
    }
    let text = format!(
        "{what}: too few {evidence} (oracle {}), serin rolled back {}, promoted {}",
        pct(oracle.p_rollback()),
        pct(serin.p_rollback()),
        pct(serin.p_promote())
    );
    (serin.promoted == 0, text)
}

/// Checks the targets on whatever cells `cells` holds (a target with no cell to
/// judge it on is left out). `wall` is the grid's wall time, for the full grid only.
pub fn targets(cells: &[CellRuns], contenders: &[Contender], wall: Option<Duration>) -> Vec<Target> {
    let figures = |case: &str, rate: f64, who: Contender| {
        let cell = cells.iter().find(|c| c.cell.case.name == case && c.cell.rate == rate)?;
        of_cell(cell, contenders, who)
    };
    let rates: Vec<f64> = {
        let mut r: Vec<f64> = cells.iter().map(|c| c.cell.rate).collect();
        r.sort_by(f64::total_cmp);
        r.dedup();
        r
    };
    let pct = |p: f64| format!("{:.1}%", 100.0 * p);
    let mut out = Vec::new();

    let mut ratios = Vec::new();
    for &rate in rates.iter().filter(|r| **r >= 10.0) {
        if let (Some(s), Some(o)) =
            (figures("errors-3pct", rate, Contender::Serin), figures("errors-3pct", rate, Contender::Oracle))
        {
            ratios.push((rate, s.canary_requests / o.canary_requests.max(1.0), s.canary_requests, o.canary_requests));
        }
    }
    if !ratios.is_empty() {
        out.push(Target {
            statement: format!(
                "serin rolls back a 3% canary after ≤ {MAX_EXPOSURE_RATIO}× the oracle's canary requests at ≥ 10 req/s"
            ),
            measured: ratios
                .iter()
                .map(|(rate, ratio, s, o)| format!("{}: {ratio:.2}× ({s:.0} vs {o:.0})", rate_text(*rate)))
                .collect::<Vec<_>>()
                .join("; "),
            pass: ratios.iter().all(|r| r.1 <= MAX_EXPOSURE_RATIO),
        });
    }

    let mut detection = Vec::new();
    let mut detection_ok = true;
    for case in ["errors-3pct", "errors-8pct", "outage"] {
        for &rate in &rates {
            let (Some(s), Some(o)) = (figures(case, rate, Contender::Serin), figures(case, rate, Contender::Oracle))
            else {
                continue;
            };
            let (ok, text) = detection_row(&format!("{case} {}", rate_text(rate)), &s, &o, "requests");
            detection_ok &= ok;
            detection.push(if ok { text } else { format!("**{text}**") });
        }
    }
    if !detection.is_empty() {
        out.push(Target {
            statement: format!(
                "≥ {} of 3%, 8% and outage canaries rolled back where the run carries enough requests; elsewhere serin never promotes",
                pct(MIN_DETECTION)
            ),
            measured: detection.join("; "),
            pass: detection_ok,
        });
    }

    for (case, what) in [("healthy", "healthy canaries"), ("shared-incident", "shared incidents")] {
        let rows: Vec<(f64, Figures)> =
            rates.iter().filter_map(|&r| figures(case, r, Contender::Serin).map(|f| (r, f))).collect();
        if rows.is_empty() {
            continue;
        }
        out.push(Target {
            statement: format!("≤ {} {what} rolled back at every traffic level", pct(MAX_FALSE_ROLLBACK)),
            measured: rows
                .iter()
                .map(|(r, f)| format!("{}: {} ({}/{})", rate_text(*r), pct(f.p_rollback()), f.rolled_back, f.runs))
                .collect::<Vec<_>>()
                .join("; "),
            pass: rows.iter().all(|(_, f)| f.p_rollback() <= MAX_FALSE_ROLLBACK),
        });
    }

    out.extend(super::realism::targets(cells, contenders));
    if let Some(wall) = wall {
        out.push(Target {
            statement: format!("the full grid runs in under {} minutes", MAX_WALL_TIME.as_secs() / 60),
            measured: format!("{:.0} s", wall.as_secs_f64()),
            pass: wall < MAX_WALL_TIME,
        });
    }
    out
}

/// `0.1 req/s`, `1000 req/s`.
pub fn rate_text(rate: f64) -> String {
    format!("{rate} req/s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(outcome: Outcome, minutes: Option<u32>, requests: u64) -> RunResult {
        RunResult {
            outcome,
            minutes,
            canary_requests: requests,
            canary_errors: requests / 10,
            paused: false,
            forecasts_checked: 0,
            forecasts_honest: 0,
        }
    }

    #[test]
    fn figures_count_and_average() {
        let runs = [
            r(Outcome::RolledBack, Some(2), 100),
            r(Outcome::RolledBack, Some(4), 300),
            r(Outcome::Promoted, Some(21), 2000),
            r(Outcome::Undecided, None, 600),
        ];
        let f = Figures::of(&runs);
        assert_eq!((f.rolled_back, f.promoted, f.undecided), (2, 1, 1));
        assert_eq!(f.p_rollback(), 0.5);
        assert_eq!(f.canary_requests, 750.0);
        assert_eq!(f.median_minutes, Some(4.0));
        assert_eq!(Figures::of(&[]).median_minutes, None);
    }
}
