//! The interval study: does deciding more often than once a minute pay, now that counts are
//! exact? serin at `serin.io/interval` 60, 30 and 15 s on the same worlds and seeds, with
//! the oracle (which decides once a minute) as the yardstick. Shorter intervals can only
//! cut exposure where a decision waits for the next tick rather than for evidence, and
//! they cost Prometheus queries (4× at 15 s) and thinner per-interval counts (lumpier
//! where scrapes are 30 s apart). `serin-sim intervals` writes `simulations/intervals.md`.

use std::fmt::Write as _;

use super::figures::{Figures, of_cell, rate_text};
use super::grid::{Case, Cell, CellRuns, Contender, Plan};

/// serin's intervals compared, in seconds (60: the default).
pub const INTERVALS: [u32; 3] = [60, 30, 15];

/// Healthy canaries (false rollbacks, time to promotion) on independent, bursty and
/// 30 s-scraped counts; regressions (exposure).
pub const CASES: [&str; 5] = ["healthy", "healthy-clusters-5", "healthy-exact-30s", "errors-1pct", "errors-3pct"];

pub const RATES: [f64; 4] = [10.0, 30.0, 100.0, 1000.0];

/// The study's contenders: serin at each interval, then the oracle.
pub fn contenders() -> Vec<Contender> {
    let serin = INTERVALS.iter().map(|&s| if s == 60 { Contender::Serin } else { Contender::SerinEvery(s) });
    serin.chain([Contender::Oracle]).collect()
}

/// Every study cell, seeds `1..=runs`.
pub fn plan(runs: u64, threads: usize) -> Plan {
    let cases = CASES.iter().map(|name| Case::by_name(name).expect("the study's cases exist"));
    let cells = cases.flat_map(|case| RATES.iter().map(move |&rate| Cell { case, rate })).collect();
    Plan { cells, contenders: contenders(), seeds: 1..runs + 1, threads }
}

/// The study as markdown: one table per case, a row per rate, a column per interval.
pub fn report(cells: &[CellRuns], contenders: &[Contender], header: &str) -> String {
    let mut out = format!("# serin's analysis interval: 60, 30 and 15 seconds\n\n{header}\n\n");
    out.push_str(HOW_TO_READ);
    for name in CASES {
        let rows: Vec<&CellRuns> = cells.iter().filter(|c| c.cell.case.name == name).collect();
        let Some(first) = rows.first() else { continue };
        let _ = writeln!(out, "\n## {}\n", first.cell.case.title);
        let regression = first.cell.case.regression;
        let columns: Vec<String> = contenders.iter().map(Contender::label).collect();
        let _ = writeln!(out, "| traffic | {} |", columns.join(" | "));
        let _ = writeln!(out, "|---:|{}", "---|".repeat(columns.len()));
        for cell in rows {
            let oracle = of_cell(cell, contenders, Contender::Oracle);
            let entries: Vec<String> = contenders
                .iter()
                .map(|c| of_cell(cell, contenders, *c).map_or("–".into(), |f| entry(&f, oracle.as_ref(), regression)))
                .collect();
            let _ = writeln!(out, "| {} | {} |", rate_text(cell.cell.rate), entries.join(" | "));
        }
    }
    out
}

/// A regression: rolled back · mean canary requests (÷ oracle) · median minutes. A healthy
/// canary: rolled back · promoted · median minutes.
fn entry(f: &Figures, oracle: Option<&Figures>, regression: bool) -> String {
    let minutes = f.median_minutes.map_or("–".into(), |m| format!("{m:.0} min"));
    let percent = |p: f64| format!("{:.1}%", 100.0 * p);
    if regression {
        let ratio = oracle
            .filter(|o| o.canary_requests > 0.0)
            .map_or(String::new(), |o| format!(" ({:.2}×)", f.canary_requests / o.canary_requests));
        format!("{} · {:.0}{ratio} · {minutes}", percent(f.p_rollback()), f.canary_requests)
    } else {
        format!("{} · {} · {minutes}", percent(f.p_rollback()), percent(f.p_promote()))
    }
}

const HOW_TO_READ: &str = "\
The worlds, seeds and cases are those of `results.md` (same definitions); only serin's
`serin.io/interval` changes. serin decides every interval (its step-min, step-max and
trigger windows stay in minutes); the oracle decides once a minute, so below it the ratio
can fall under 1.

- **regressions**: rolled back · mean canary requests before the decision (÷ the oracle's)
  · median minutes to the decision;
- **healthy canaries**: rolled back (false rollbacks) · promoted within 40 minutes · median
  minutes to the decision.
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_study_runs_serin_at_each_interval_on_the_same_seeds() {
        let mut plan = plan(2, 1);
        plan.cells.retain(|c| c.case.name == "errors-3pct" && c.rate == 1000.0);
        let cells = super::super::grid::run(&plan, &|| {}).unwrap();
        let contenders = contenders();
        let minutes = |c| of_cell(&cells[0], &contenders, c).unwrap();
        let (every_minute, every_15s) = (minutes(Contender::Serin), minutes(Contender::SerinEvery(15)));
        assert_eq!(every_minute.rolled_back, 2);
        assert_eq!(every_15s.rolled_back, 2);
        // At 1000 req/s the first interval at 10% already carries the evidence: a quarter
        // of the interval, a quarter of the exposure, about.
        assert!(every_15s.canary_requests < every_minute.canary_requests / 2.0, "{every_15s:?} vs {every_minute:?}");
        let text = report(&cells, &contenders, "header");
        assert!(text.contains("| 1000 req/s | 100.0% ·"), "{text}");
    }
}
