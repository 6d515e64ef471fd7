//! The targets of the judge on real traffic (issue 11): bursts, extrapolated counts, low
//! traffic, a limit between buckets, regressions under full load or after a long hold.

use super::closed_loop::{Outcome, RunResult};
use super::figures::{
    Figures, MAX_EXPOSURE_RATIO, MAX_FALSE_ROLLBACK, MIN_DETECTION, Target, detection_row, of_cell, rate_text,
};
use super::grid::{Case, CellRuns, Contender};

/// Healthy canaries promoted within a run: at 10 req/s, and from 30 req/s up.
pub const MIN_PROMOTED_AT_10: f64 = 0.80;
pub const MIN_PROMOTED_FROM_30: f64 = 0.98;
/// A late regression is caught within this many minutes of its start…
pub const LATE_MINUTES: u32 = 5;
/// …in at least this share of runs.
pub const MIN_LATE_DETECTION: f64 = 0.95;

/// Forecasts that came true within twice the time they said.
pub const MIN_HONEST_FORECASTS: f64 = 0.90;

/// 3% canaries with independent errors and with errors in bursts.
const CLUSTERED_REGRESSIONS: [&str; 3] = ["errors-3pct", "errors-3pct-clusters-2", "errors-3pct-clusters-5"];

/// Healthy worlds a healthy canary must survive (≤ 1% rolled back from 1 req/s up).
const HEALTHY_WORLDS: [&str; 6] = [
    "healthy",
    "healthy-clusters-2",
    "healthy-clusters-5",
    "healthy-increase-15s",
    "healthy-increase-30s",
    "healthy-exact-30s",
];

/// Checks the issue-11 targets on whatever cells `cells` holds.
pub fn targets(cells: &[CellRuns], contenders: &[Contender]) -> Vec<Target> {
    let serin = |case: &str| -> Vec<(f64, Figures)> {
        cells
            .iter()
            .filter(|c| c.cell.case.name == case)
            .filter_map(|c| of_cell(c, contenders, Contender::Serin).map(|f| (c.cell.rate, f)))
            .collect()
    };
    let pct = |p: f64| format!("{:.1}%", 100.0 * p);
    let mut out = Vec::new();

    let mut rows = Vec::new();
    let mut ok = true;
    for case in HEALTHY_WORLDS {
        for (rate, f) in serin(case).into_iter().filter(|(r, _)| *r >= 1.0) {
            let pass = f.p_rollback() <= MAX_FALSE_ROLLBACK;
            ok &= pass;
            rows.push(mark(pass, format!("{case} {}: {}", rate_text(rate), pct(f.p_rollback()))));
        }
    }
    push(
        &mut out,
        "≤ 1.0% healthy canaries rolled back from 1 req/s up, with bursts of mean size up to 5 and with counts extrapolated by increase() over 15 s / 30 s scrapes",
        rows,
        ok,
    );

    let mut rows = Vec::new();
    let mut ok = true;
    for (rate, f) in serin("healthy").into_iter().filter(|(r, _)| *r >= 10.0) {
        let need = if rate < 30.0 { MIN_PROMOTED_AT_10 } else { MIN_PROMOTED_FROM_30 };
        let pass = f.p_promote() >= need;
        ok &= pass;
        rows.push(mark(pass, format!("{}: {}", rate_text(rate), pct(f.p_promote()))));
    }
    push(&mut out, "healthy canaries promoted within 40 minutes: ≥ 80% at 10 req/s, ≥ 98% from 30 req/s up", rows, ok);

    let mut rows = Vec::new();
    let mut ok = true;
    for cell in cells.iter().filter(|c| CLUSTERED_REGRESSIONS.contains(&c.cell.case.name) && c.cell.rate >= 10.0) {
        let (Some(s), Some(o)) =
            (of_cell(cell, contenders, Contender::Serin), of_cell(cell, contenders, Contender::Oracle))
        else {
            continue;
        };
        let what = format!("{} {}", cell.cell.case.name, rate_text(cell.cell.rate));
        let (pass, text) = detection_row(&what, &s, &o, "bursts");
        ok &= pass;
        rows.push(mark(pass, text));
    }
    push(
        &mut out,
        "3% canaries rolled back ≥ 99% from 10 req/s up, with independent errors and with bursts of mean size 2 and 5, where the run carries enough bursts (the oracle, which knows them, rolls back ≥ 99%); elsewhere never promoted",
        rows,
        ok,
    );

    let mut rows = Vec::new();
    for cell in cells.iter().filter(|c| c.cell.case.name == "errors-3pct-clusters-5") {
        if let (Some(s), Some(o)) =
            (of_cell(cell, contenders, Contender::Serin), of_cell(cell, contenders, Contender::Oracle))
        {
            let ratio = s.canary_requests / o.canary_requests.max(1.0);
            rows.push(format!("{}: {ratio:.2}×", rate_text(cell.cell.rate)));
        }
    }
    if !rows.is_empty() {
        out.push(Target {
            statement: format!(
                "reported: exposure to a 3% canary with bursts of 5, ÷ the oracle's (which knows the bursts; the {MAX_EXPOSURE_RATIO}× target is for independent errors)"
            ),
            measured: rows.join("; "),
            pass: true,
        });
    }

    let mut rows = Vec::new();
    let mut ok = true;
    for (case, min_rate) in [("errors-1pct", 100.0), ("errors-3pct-at-100", 100.0)] {
        for (rate, f) in serin(case).into_iter().filter(|(r, _)| *r >= min_rate) {
            let pass = f.p_rollback() >= MIN_DETECTION;
            ok &= pass;
            rows.push(mark(pass, format!("{case} {}: {}", rate_text(rate), pct(f.p_rollback()))));
        }
    }
    for (rate, f) in serin("p99-between-buckets") {
        let pass = f.promoted == 0;
        ok &= pass;
        rows.push(mark(pass, format!("p99-between-buckets {}: promoted {}", rate_text(rate), pct(f.p_promote()))));
    }
    push(
        &mut out,
        "≥ 99% rolled back: a 1% canary and a regression only at 100% weight, at 100 req/s and up; a p99 regression between two buckets never promoted",
        rows,
        ok,
    );

    let mut rows = Vec::new();
    let mut ok = true;
    for cell in cells.iter().filter(|c| c.cell.case.name.starts_with("late-")) {
        let Some(runs) = cell.of(contenders, Contender::Serin) else { continue };
        let share = caught_within(cell.cell.case, runs, LATE_MINUTES);
        let pass = share >= MIN_LATE_DETECTION;
        ok &= pass;
        rows.push(mark(pass, format!("{} {}: {}", cell.cell.case.name, rate_text(cell.cell.rate), pct(share))));
    }
    push(
        &mut out,
        "a 3% regression starting after 30 min / 2 h of healthy data (a long hold) rolled back within 5 minutes of its start in ≥ 95% of runs",
        rows,
        ok,
    );

    let mut rows = Vec::new();
    let mut ok = true;
    for cell in cells.iter().filter(|c| c.cell.case.name == "healthy" && c.cell.rate >= 1.0) {
        let Some(runs) = cell.of(contenders, Contender::Serin) else { continue };
        let checked: u64 = runs.iter().map(|r| u64::from(r.forecasts_checked)).sum();
        let honest: u64 = runs.iter().map(|r| u64::from(r.forecasts_honest)).sum();
        if checked == 0 {
            continue;
        }
        let share = honest as f64 / checked as f64;
        let pass = share >= MIN_HONEST_FORECASTS;
        ok &= pass;
        rows.push(mark(pass, format!("{}: {} of {checked}", rate_text(cell.cell.rate), pct(share))));
    }
    push(
        &mut out,
        "the forecast is honest: where a healthy run said \"needs ~N more minutes\", the evidence got there within 2N in ≥ 90% of forecasts",
        rows,
        ok,
    );

    let mut rows = Vec::new();
    for case in ["healthy-clusters-10", "healthy-canary-clusters-5"] {
        for (rate, f) in serin(case).into_iter().filter(|(r, _)| *r >= 1.0) {
            rows.push(format!("{case} {}: {}", rate_text(rate), pct(f.p_rollback())));
        }
    }
    if !rows.is_empty() {
        out.push(Target {
            statement:
                "reported: healthy canaries rolled back with bursts of mean size 10, and with bursts on the canary only"
                    .into(),
            measured: rows.join("; "),
            pass: true,
        });
    }
    out
}

/// Share of `runs` rolled back no later than `minutes` after the case's regression began.
pub fn caught_within(case: &Case, runs: &[RunResult], minutes: u32) -> f64 {
    let from = (case.regression_from.as_secs() / 60) as u32;
    let caught = runs
        .iter()
        .filter(|r| r.outcome == Outcome::RolledBack && r.minutes.is_some_and(|m| m > from && m <= from + minutes))
        .count();
    caught as f64 / runs.len().max(1) as f64
}

fn mark(pass: bool, text: String) -> String {
    if pass { text } else { format!("**{text}**") }
}

fn push(out: &mut Vec<Target>, statement: &str, rows: Vec<String>, pass: bool) {
    if !rows.is_empty() {
        out.push(Target { statement: statement.to_string(), measured: rows.join("; "), pass });
    }
}
