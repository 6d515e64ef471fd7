//! The benchmark grid: cases (what the canary does) × total traffic × algorithms × seeds,
//! run in parallel.
//!
//! Every case is a 40-minute scenario with a stable at 0.5% 5xx and an 80 ms median
//! (σ = 0.5 log-normal), Poisson traffic at one total rate, 15 s scrapes. Seeds are shared:
//! run `s` of every algorithm in every cell uses world seed `s`, so at equal weights two
//! algorithms see the very same requests (paired comparisons, less noise between rows).

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::Algorithm;
use super::argo::Argo;
use super::closed_loop::{self, RunResult};
use super::flagger::Flagger;
use super::kayenta::Kayenta;
use super::oracle::{Oracle, Truth};
use super::serin::{Serin, SerinSetup};
use crate::sim::scenario::{DEFAULT_START, Latency, Tail, TrafficPhase, VersionPhase};
use crate::sim::{Expectation, ExpectedOutcome, Scenario};

/// Total request rates of the grid, both versions together (requests/s).
pub const RATES: [f64; 5] = [0.1, 1.0, 10.0, 100.0, 1000.0];
/// Length of every run.
pub const DURATION: Duration = Duration::from_secs(40 * 60);
/// Scrape interval of the simulated Prometheus.
const SCRAPE: Duration = Duration::from_secs(15);

const STABLE_ERROR_RATE: f64 = 0.005;
const BASE_LATENCY: Latency = Latency { median: Duration::from_millis(80), sigma: 0.5, tail: None };

/// What the canary does, against a stable at 0.5% 5xx and 80 ms median.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Case {
    /// File-name friendly (`errors-3pct`): plot names and `Case::by_name`.
    pub name: &'static str,
    pub title: &'static str,
    /// A regression an algorithm should roll back (else: one it must not roll back).
    pub regression: bool,
    pub stable_error_rate: f64,
    pub canary_error_rate: f64,
    pub canary_latency: Latency,
}

/// The cases, in table order.
pub const CASES: [Case; 8] = [
    errors("healthy", "healthy canary (0.5% 5xx, like the stable)", false, 0.005),
    errors("errors-1pct", "canary at 1% 5xx (2× the stable)", true, 0.01),
    errors("errors-3pct", "canary at 3% 5xx (6× the stable)", true, 0.03),
    errors("errors-8pct", "canary at 8% 5xx (16× the stable)", true, 0.08),
    errors("outage", "outage: the canary answers only 5xx", true, 1.0),
    Case {
        name: "latency-tail",
        title: "latency regression: 3% of canary requests take 4 s",
        regression: true,
        stable_error_rate: STABLE_ERROR_RATE,
        canary_error_rate: STABLE_ERROR_RATE,
        canary_latency: Latency { tail: Some(Tail { fraction: 0.03, at: Duration::from_secs(4) }), ..BASE_LATENCY },
    },
    Case {
        name: "latency-median-x3",
        title: "latency regression: canary median ×3 (240 ms)",
        regression: true,
        stable_error_rate: STABLE_ERROR_RATE,
        canary_error_rate: STABLE_ERROR_RATE,
        canary_latency: Latency { median: Duration::from_millis(240), ..BASE_LATENCY },
    },
    Case {
        name: "shared-incident",
        title: "shared incident: both versions at 3% 5xx",
        regression: false,
        stable_error_rate: 0.03,
        canary_error_rate: 0.03,
        canary_latency: BASE_LATENCY,
    },
];

const fn errors(name: &'static str, title: &'static str, regression: bool, canary: f64) -> Case {
    Case {
        name,
        title,
        regression,
        stable_error_rate: STABLE_ERROR_RATE,
        canary_error_rate: canary,
        canary_latency: BASE_LATENCY,
    }
}

impl Case {
    pub fn by_name(name: &str) -> Option<&'static Case> {
        CASES.iter().find(|c| c.name == name)
    }

    /// What the oracle knows.
    pub fn truth(&self) -> Truth {
        Truth {
            stable_error_rate: self.stable_error_rate,
            canary_error_rate: self.canary_error_rate,
            stable_latency: BASE_LATENCY,
            canary_latency: self.canary_latency,
        }
    }
}

/// One case at one total traffic rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub case: &'static Case,
    pub rate: f64,
}

impl Cell {
    /// The simulated world of this cell.
    pub fn scenario(&self) -> Scenario {
        let phase = |error_rate, latency| {
            vec![VersionPhase { at: Duration::ZERO, error_rate, latency, cluster: 1.0, min_weight: 0 }]
        };
        let outcome = if self.case.regression { ExpectedOutcome::RolledBack } else { ExpectedOutcome::NotRolledBack };
        Scenario {
            name: format!("{}-{}rps", self.case.name, self.rate),
            description: self.case.title.to_string(),
            duration: DURATION,
            step: SCRAPE,
            seed: 0,
            start: crate::time::parse_instant(DEFAULT_START).unwrap_or(std::time::UNIX_EPOCH),
            target: Default::default(),
            annotations: Default::default(),
            history: Duration::ZERO,
            scrape: Default::default(),
            traffic: vec![TrafficPhase { at: Duration::ZERO, rate: self.rate }],
            stable: phase(self.case.stable_error_rate, BASE_LATENCY),
            canary: phase(self.case.canary_error_rate, self.case.canary_latency),
            gaps: vec![],
            expect: Expectation { outcome, trigger: None, by: None, no_progress_during_gaps: false },
        }
    }
}

/// An algorithm of the benchmark, with its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contender {
    Serin,
    Oracle,
    /// `threshold`
    Flagger(u32),
    /// `failureLimit`
    Argo(u32),
    Kayenta,
}

/// Every contender, in table order.
pub const CONTENDERS: [Contender; 7] = [
    Contender::Serin,
    Contender::Oracle,
    Contender::Flagger(1),
    Contender::Flagger(5),
    Contender::Argo(0),
    Contender::Argo(3),
    Contender::Kayenta,
];

impl Contender {
    pub fn label(&self) -> String {
        match self {
            Contender::Serin => "serin".into(),
            Contender::Oracle => "oracle (SPRT bound)".into(),
            Contender::Flagger(t) => format!("Flagger threshold {t}"),
            Contender::Argo(l) => format!("Argo failureLimit {l}"),
            Contender::Kayenta => "Kayenta".into(),
        }
    }

    /// A fresh rollout of this contender in `cell`.
    fn start<'a>(&self, cell: &Cell, scenario: &Scenario, serin: &'a SerinSetup) -> Box<dyn Algorithm + 'a> {
        match *self {
            Contender::Serin => Box::new(Serin::new(serin, scenario.start)),
            Contender::Oracle => Box::new(Oracle::new(&cell.case.truth())),
            Contender::Flagger(threshold) => Box::new(Flagger::new(threshold)),
            Contender::Argo(limit) => Box::new(Argo::new(limit)),
            Contender::Kayenta => Box::new(Kayenta::new()),
        }
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub cells: Vec<Cell>,
    pub contenders: Vec<Contender>,
    pub seeds: Range<u64>,
    pub threads: usize,
}

impl Plan {
    /// Every case at every rate, every contender, seeds `1..=runs`.
    pub fn full(runs: u64, threads: usize) -> Plan {
        let cells = CASES.iter().flat_map(|case| RATES.iter().map(move |&rate| Cell { case, rate })).collect();
        Plan { cells, contenders: CONTENDERS.to_vec(), seeds: 1..runs + 1, threads }
    }

    /// Number of (cell, seed) jobs.
    pub fn jobs(&self) -> usize {
        self.cells.len() * self.seeds.clone().count()
    }
}

/// Every run of one cell: `runs[i][s]` is contender `i` with the `s`-th seed.
#[derive(Debug, Clone)]
pub struct CellRuns {
    pub cell: Cell,
    pub runs: Vec<Vec<RunResult>>,
}

impl CellRuns {
    /// The runs of `contender`, if it was in the plan.
    pub fn of(&self, contenders: &[Contender], contender: Contender) -> Option<&[RunResult]> {
        contenders.iter().position(|c| *c == contender).map(|i| self.runs[i].as_slice())
    }
}

/// Runs the plan on `plan.threads` threads; `progress` is called after each (cell, seed).
/// The result does not depend on the number of threads.
pub fn run(plan: &Plan, progress: &(dyn Fn() + Sync)) -> Result<Vec<CellRuns>, String> {
    let scenarios: Vec<Scenario> = plan.cells.iter().map(Cell::scenario).collect();
    let Some(first) = scenarios.first() else { return Ok(Vec::new()) };
    let serin = SerinSetup::new(first)?;
    let seeds: Vec<u64> = plan.seeds.clone().collect();
    let jobs = plan.jobs();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Vec<RunResult>)>> = Mutex::new(Vec::with_capacity(jobs));
    std::thread::scope(|scope| {
        for _ in 0..plan.threads.max(1) {
            scope.spawn(|| {
                let mut mine = Vec::new();
                loop {
                    let job = next.fetch_add(1, Ordering::Relaxed);
                    if job >= jobs {
                        break;
                    }
                    let (c, seed) = (job / seeds.len(), seeds[job % seeds.len()]);
                    let (cell, scenario) = (&plan.cells[c], &scenarios[c]);
                    let results = plan
                        .contenders
                        .iter()
                        .map(|contender| {
                            closed_loop::run(scenario, seed, &mut *contender.start(cell, scenario, &serin))
                        })
                        .collect();
                    mine.push((job, results));
                    progress();
                }
                done.lock().unwrap_or_else(|p| p.into_inner()).extend(mine);
            });
        }
    });
    let mut done = done.into_inner().unwrap_or_else(|p| p.into_inner());
    done.sort_by_key(|(job, _)| *job);
    let mut cells: Vec<CellRuns> = plan
        .cells
        .iter()
        .map(|&cell| CellRuns { cell, runs: vec![Vec::with_capacity(seeds.len()); plan.contenders.len()] })
        .collect();
    for (job, results) in done {
        for (i, r) in results.into_iter().enumerate() {
            cells[job / seeds.len()].runs[i].push(r);
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_is_a_valid_scenario_and_names_are_unique() {
        let plan = Plan::full(1, 1);
        assert_eq!(plan.cells.len(), CASES.len() * RATES.len());
        for cell in &plan.cells {
            cell.scenario().validate().unwrap();
        }
        let mut names: Vec<&str> = CASES.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CASES.len());
    }

    #[test]
    fn results_do_not_depend_on_threads() {
        let cells = vec![Cell { case: Case::by_name("errors-8pct").unwrap(), rate: 10.0 }];
        let plan = |threads| Plan { cells: cells.clone(), contenders: CONTENDERS.to_vec(), seeds: 1..5, threads };
        let one = run(&plan(1), &|| {}).unwrap();
        let two = run(&plan(2), &|| {}).unwrap();
        assert_eq!(one[0].runs, two[0].runs);
        assert_eq!(one[0].runs.len(), CONTENDERS.len());
        assert!(one[0].runs.iter().all(|r| r.len() == 4));
    }
}
