//! The benchmark grid: cases (what the canary does) × total traffic × algorithms × seeds,
//! run in parallel.
//!
//! The cases are in `cases.rs`. Seeds are shared: run `s` of every algorithm in every cell
//! uses world seed `s`, so at equal weights two algorithms see the very same requests
//! (paired comparisons, less noise between rows); serin's world also has the stable's
//! history before the start, which only serin reads.

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::Algorithm;
use super::argo::Argo;
use super::closed_loop::{self, RunResult};
use super::flagger::Flagger;
use super::kayenta::Kayenta;
use super::oracle::Oracle;
use super::serin::{Serin, SerinSetup};
use crate::sim::Scenario;

pub use super::cases::{CASES, Case, DURATION, RATES};

/// One case at one total traffic rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    pub case: &'static Case,
    pub rate: f64,
}

impl Cell {
    /// The simulated world of this cell, as the baselines see it.
    pub fn scenario(&self) -> Scenario {
        self.case.scenario(self.rate, Duration::ZERO)
    }

    /// The same world with the stable's history before the start, which serin reads
    /// (`engine::history`); from the start on, the very same traffic as [`Cell::scenario`].
    pub fn scenario_with_history(&self) -> Scenario {
        self.case.scenario(self.rate, super::cases::HISTORY)
    }
}

/// An algorithm of the benchmark, with its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contender {
    Serin,
    /// serin with `serin.io/interval` at this many seconds (the interval study).
    SerinEvery(u32),
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
            Contender::SerinEvery(seconds) => format!("serin every {seconds} s"),
            Contender::Oracle => "oracle (SPRT bound)".into(),
            Contender::Flagger(t) => format!("Flagger threshold {t}"),
            Contender::Argo(l) => format!("Argo failureLimit {l}"),
            Contender::Kayenta => "Kayenta".into(),
        }
    }

    /// serin's interval, for serin.
    fn serin_interval(&self) -> Option<Duration> {
        match *self {
            Contender::Serin => Some(super::INTERVAL),
            Contender::SerinEvery(seconds) => Some(Duration::from_secs(seconds.into())),
            _ => None,
        }
    }

    /// A fresh rollout of this contender in `cell`; `serin` holds a setup per interval.
    fn start<'a>(&self, cell: &Cell, scenario: &Scenario, serin: &'a [SerinSetup]) -> Box<dyn Algorithm + 'a> {
        match *self {
            Contender::Serin | Contender::SerinEvery(_) => {
                let interval = self.serin_interval();
                let setup = serin.iter().find(|s| Some(s.interval()) == interval);
                Box::new(Serin::new(setup.expect("run() makes a setup for every serin interval"), scenario.start))
            }
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
        let cells = CASES.iter().flat_map(|case| case.rates().iter().map(move |&rate| Cell { case, rate })).collect();
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
    let scenarios: Vec<(Scenario, Scenario)> =
        plan.cells.iter().map(|c| (c.scenario(), c.scenario_with_history())).collect();
    let intervals: Vec<Duration> = plan.contenders.iter().filter_map(Contender::serin_interval).collect();
    let serin: Vec<Vec<SerinSetup>> = scenarios
        .iter()
        .map(|(s, _)| intervals.iter().map(|i| SerinSetup::every(s, *i)).collect::<Result<_, _>>())
        .collect::<Result<_, _>>()?;
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
                    let (cell, (scenario, with_history)) = (&plan.cells[c], &scenarios[c]);
                    let results = plan
                        .contenders
                        .iter()
                        .map(|contender| {
                            let world = if contender.serin_interval().is_some() { with_history } else { scenario };
                            closed_loop::run(world, seed, &mut *contender.start(cell, scenario, &serin[c]))
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
        assert_eq!(plan.cells.len(), CASES.iter().map(|c| c.rates().len()).sum::<usize>());
        for cell in &plan.cells {
            cell.scenario().validate().unwrap();
            cell.scenario_with_history().validate().unwrap();
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
