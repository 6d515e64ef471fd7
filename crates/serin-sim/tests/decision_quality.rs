//! The CI subset of the decision-quality benchmark (issue 6): a few cells of the grid with
//! few seeds, asserting the orderings that must hold and guards on serin's targets, so a
//! change to the judge that worsens a target fails here. The full grid is a benchmark
//! (`cargo run --release --bin serin-sim -- benchmark`, `simulations/results.md`), not a
//! timed test. Everything is seeded: these runs are the same on every machine.

use serin_sim::quality::figures::{Figures, MAX_EXPOSURE_RATIO, MIN_DETECTION, carries_enough, of_cell};
use serin_sim::quality::grid::{self, Case, Cell, CellRuns, Contender, Plan};
use serin_sim::quality::realism::{LATE_MINUTES, MIN_LATE_DETECTION, caught_within};

/// Seeds per cell: enough for the rates asserted, few enough for a debug build.
const SEEDS: u64 = 100;
/// Seeds of the exposure comparison: its runs are short, and the mean needs them.
const EXPOSURE_SEEDS: u64 = 400;

/// Runs `cells` (case name, total req/s) for `contenders`, seeds `1..=seeds`.
fn run(cells: &[(&str, f64)], contenders: &[Contender], seeds: u64) -> Vec<CellRuns> {
    let cells = cells
        .iter()
        .map(|(name, rate)| Cell { case: Case::by_name(name).unwrap_or_else(|| panic!("no case {name}")), rate: *rate })
        .collect();
    let plan = Plan { cells, contenders: contenders.to_vec(), seeds: 1..seeds + 1, threads: 2 };
    grid::run(&plan, &|| {}).expect("the grid runs")
}

fn figures(cell: &CellRuns, contenders: &[Contender], who: Contender) -> Figures {
    of_cell(cell, contenders, who).expect("contender in the plan")
}

#[test]
fn serin_exposes_fewer_canary_requests_than_flagger_and_stays_near_the_oracle_on_a_3pct_regression() {
    let who = [Contender::Serin, Contender::Oracle, Contender::Flagger(5), Contender::Flagger(1)];
    for cell in run(&[("errors-3pct", 10.0), ("errors-3pct", 100.0)], &who, EXPOSURE_SEEDS) {
        let [serin, oracle, flagger5, flagger1] = who.map(|c| figures(&cell, &who, c));
        let rate = cell.cell.rate;
        assert_eq!(serin.rolled_back, serin.runs, "{rate} req/s: every 3% canary rolled back: {serin:?}");
        assert!(
            serin.canary_requests < flagger5.canary_requests,
            "{rate} req/s: serin {} vs Flagger threshold 5 {}",
            serin.canary_requests,
            flagger5.canary_requests
        );
        let ratio = serin.canary_requests / oracle.canary_requests;
        // The full grid measures 1.10× at 10 req/s and 1.01× at 100 req/s (1000 seeds); the
        // target is the guard, so a slower judge fails here (a judge at alpha 0.005
        // instead of 0.01 measures 1.22×, at 0.002 1.5×).
        assert!(
            ratio <= MAX_EXPOSURE_RATIO,
            "{rate} req/s: serin exposes {ratio:.2}× the oracle (target {MAX_EXPOSURE_RATIO})"
        );
        if rate >= 100.0 {
            assert!(serin.canary_requests < flagger1.canary_requests, "{rate} req/s: serin vs Flagger threshold 1");
        }
    }
}

#[test]
fn serin_never_rolls_back_a_healthy_canary_in_the_reduced_seeds() {
    let who = [Contender::Serin, Contender::Flagger(1)];
    let cells: Vec<(&str, f64)> = grid::RATES.iter().map(|&r| ("healthy", r)).collect();
    let results = run(&cells, &who, SEEDS);
    for cell in &results {
        let serin = figures(cell, &who, Contender::Serin);
        assert_eq!(serin.rolled_back, 0, "{} req/s: serin rolled back a healthy canary: {serin:?}", cell.cell.rate);
    }
    // What serin replaces: Flagger's default threshold rolls back healthy canaries when
    // traffic is low (a quiet minute is a failed check).
    let flagger_low = figures(&results[1], &who, Contender::Flagger(1));
    assert!(flagger_low.p_rollback() > 0.2, "Flagger threshold 1 at 1 req/s: {flagger_low:?}");
    // Enough traffic for serin to prove a healthy canary and promote it: the intermediate
    // steps advance on weaker evidence, so even 10 req/s mostly promotes within 40 minutes.
    for (rate, least) in [(10.0, 0.75), (30.0, 0.95), (100.0, 0.98)] {
        let cell = results.iter().find(|c| c.cell.rate == rate).expect("rate in the grid");
        let serin = figures(cell, &who, Contender::Serin);
        assert!(serin.p_promote() >= least, "serin at {rate} req/s: {serin:?}");
    }
}

/// The worlds the judge's model does not assume: errors in bursts (both versions), counts
/// extrapolated by `increase()` from scrapes at their own phase. Before the dispersion
/// estimate these rolled back 11–38% of healthy canaries.
#[test]
fn bursts_and_extrapolated_counts_do_not_roll_back_healthy_canaries() {
    let who = [Contender::Serin];
    let cells = [
        // At 1–10 req/s the stable's history holds few bursts: the dispersion bound must
        // widen, not fall back to independence (4.8–7.5% were rolled back when it did).
        ("healthy-clusters-2", 1.0),
        ("healthy-clusters-5", 1.0),
        ("healthy-clusters-5", 10.0),
        ("healthy-clusters-2", 30.0),
        ("healthy-clusters-5", 30.0),
        ("healthy-clusters-5", 100.0),
        ("healthy-increase-15s", 100.0),
        ("healthy-increase-30s", 30.0),
    ];
    for cell in run(&cells, &who, SEEDS) {
        let serin = figures(&cell, &who, Contender::Serin);
        // 1% of 100 runs is 1; the full grid measures the rate on 1000.
        assert!(serin.rolled_back <= 2, "{} at {} req/s: {serin:?}", cell.cell.case.name, cell.cell.rate);
    }
}

/// Tempering by the dispersion must not cost the power to see a 3% canary whose errors come
/// in bursts of 5. Counting bursts (quiet intervals, `judge/bursts.rs`) beside the counts
/// rolls it back at 30 req/s (99.8% in the full grid, 97.6% on counts alone) and in most
/// runs at 10 req/s, where the oracle that knows the bursts reaches 92.5% (these 100 seeds:
/// 64%, 41% on counts alone); never promoted.
#[test]
fn a_bursty_regression_is_rolled_back_when_its_bursts_are_counted() {
    let who = [Contender::Serin];
    for cell in run(&[("errors-3pct-clusters-5", 10.0), ("errors-3pct-clusters-5", 30.0)], &who, SEEDS) {
        let serin = figures(&cell, &who, Contender::Serin);
        let least = if cell.cell.rate < 30.0 { 0.55 } else { MIN_DETECTION };
        assert!(serin.p_rollback() >= least, "{} req/s: {serin:?}", cell.cell.rate);
        assert_eq!(serin.promoted, 0, "{serin:?}");
    }
}

/// A p99 limit between two buckets is never passed on the baseline's possibly-slow
/// requests, a regression that appears only at 100% is judged against the baseline measured
/// before, and a late regression in a long hold is caught within minutes.
#[test]
fn bucket_gaps_full_load_and_late_regressions_are_caught() {
    let who = [Contender::Serin];
    for cell in run(&[("p99-between-buckets", 10.0), ("p99-between-buckets", 100.0)], &who, SEEDS) {
        let serin = figures(&cell, &who, Contender::Serin);
        assert_eq!(serin.promoted, 0, "{} req/s: {serin:?}", cell.cell.rate);
    }
    for cell in run(&[("errors-3pct-at-100", 100.0)], &who, SEEDS) {
        let serin = figures(&cell, &who, Contender::Serin);
        assert!(serin.p_rollback() >= MIN_DETECTION, "{serin:?}");
    }
    for cell in run(&[("late-3pct-after-30m", 100.0)], &who, SEEDS) {
        let runs = cell.of(&who, Contender::Serin).expect("serin ran");
        let share = caught_within(cell.cell.case, runs, LATE_MINUTES);
        assert!(share >= MIN_LATE_DETECTION, "caught within {LATE_MINUTES} min in {share}");
    }
}

#[test]
fn serin_rolls_back_outages_and_big_regressions_and_holds_when_traffic_is_too_low() {
    let who = [Contender::Serin, Contender::Oracle];
    let cells = [("outage", 0.1), ("outage", 10.0), ("errors-8pct", 1.0), ("errors-8pct", 10.0), ("errors-3pct", 0.1)];
    for cell in run(&cells, &who, SEEDS) {
        let (serin, oracle) = (figures(&cell, &who, Contender::Serin), figures(&cell, &who, Contender::Oracle));
        let name = format!("{} at {} req/s", cell.cell.case.name, cell.cell.rate);
        if carries_enough(&oracle) {
            assert!(serin.p_rollback() >= MIN_DETECTION, "{name}: {serin:?}");
        } else {
            assert_eq!(serin.promoted, 0, "{name}: too few requests to decide, but never promote: {serin:?}");
        }
    }
}

#[test]
fn a_shared_incident_pauses_serin_and_is_never_rolled_back() {
    let who = [Contender::Serin, Contender::Flagger(5)];
    for cell in run(&[("shared-incident", 10.0), ("shared-incident", 100.0)], &who, SEEDS) {
        let serin = figures(&cell, &who, Contender::Serin);
        let flagger = figures(&cell, &who, Contender::Flagger(5));
        assert_eq!((serin.rolled_back, serin.promoted), (0, 0), "{} req/s: {serin:?}", cell.cell.rate);
        assert!(serin.paused >= serin.runs * 9 / 10, "{} req/s: paused {serin:?}", cell.cell.rate);
        // Absolute thresholds cannot tell a shared incident from a bad canary.
        assert_eq!(flagger.rolled_back, flagger.runs, "{} req/s: {flagger:?}", cell.cell.rate);
    }
}

/// "needs ~N more minutes" comes true within 2N in ≥ 90% of forecasts, also at 1 req/s
/// (71% there when a forecast extrapolated from a stretch too short to have shown an error).
#[test]
fn forecasts_are_honest_at_low_traffic() {
    use serin_sim::quality::realism::MIN_HONEST_FORECASTS;
    let who = [Contender::Serin];
    for cell in run(&[("healthy", 1.0), ("healthy", 10.0)], &who, SEEDS) {
        let runs = cell.of(&who, Contender::Serin).expect("serin ran");
        let checked: u64 = runs.iter().map(|r| u64::from(r.forecasts_checked)).sum();
        let honest: u64 = runs.iter().map(|r| u64::from(r.forecasts_honest)).sum();
        assert!(checked > 0, "{} req/s: no forecast checked", cell.cell.rate);
        let share = honest as f64 / checked as f64;
        assert!(share >= MIN_HONEST_FORECASTS, "{} req/s: {honest} of {checked} forecasts honest", cell.cell.rate);
    }
}
