//! The benchmark's cases: what the canary does, and how the world around it behaves.
//!
//! Every case is a canary rollout against a stable at 0.5% 5xx and an 80 ms median
//! (σ = 0.5 log-normal), Poisson traffic at one total rate. The first eight are the ideal
//! world the judge's model assumes (independent errors, every request counted once); the
//! others put in what production adds: errors in bursts, counts extrapolated by Prometheus'
//! `increase()` from scrapes at their own phase, a regression that appears only at full load
//! or only after hours of healthy data, a latency limit between two histogram buckets.

use std::time::Duration;

use crate::sim::scenario::{DEFAULT_START, Latency, Scrape, Tail, TrafficPhase, VersionPhase};
use crate::sim::{Expectation, ExpectedOutcome, Scenario};

use super::oracle::Truth;

/// Total request rates of the grid, both versions together (requests/s).
pub const RATES: [f64; 6] = [0.1, 1.0, 10.0, 30.0, 100.0, 1000.0];
/// Length of a run, unless the case says otherwise.
pub const DURATION: Duration = Duration::from_secs(40 * 60);
/// Traffic serin reads before the run (the stable's history, `engine::HISTORY_INTERVALS`).
pub const HISTORY: Duration = Duration::from_secs(3 * 60 * 60);

const STABLE_ERROR_RATE: f64 = 0.005;
const BASE_LATENCY: Latency = Latency { median: Duration::from_millis(80), sigma: 0.5, tail: None };

/// How Prometheus scrapes the simulated ingress-nginx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scraping {
    /// One pod, every 15 s, on the minute: `increase()` over a minute is then exact.
    Aligned,
    /// Three pods every 15 s at 5 s, 10 s and 15 s past the minute's quarters.
    Every15s,
    /// Three pods every 30 s at 10 s, 20 s and 30 s phases.
    Every30s,
}

/// Which template serin judges with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counting {
    /// The shipped `nginx-canary`: exact counts (edge differences).
    Exact,
    /// The same template with `increase()` everywhere, as most users write them.
    Increase,
}

/// What the canary does, and the world it does it in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Case {
    /// File-name friendly (`errors-3pct`): plot names and `Case::by_name`.
    pub name: &'static str,
    pub title: &'static str,
    /// A regression an algorithm should roll back (else: one it must not roll back).
    pub regression: bool,
    pub stable_error_rate: f64,
    pub canary_error_rate: f64,
    pub stable_latency: Latency,
    pub canary_latency: Latency,
    /// Mean error-cluster sizes (1 = independent errors).
    pub stable_cluster: f64,
    pub canary_cluster: f64,
    pub scraping: Scraping,
    pub counting: Counting,
    /// The canary behaves like the stable until then (a late regression).
    pub regression_from: Duration,
    /// The canary's behaviour applies only at this weight or above (a regression under load).
    pub regression_min_weight: u8,
    /// serin holds the first step for hours (`step-min: 4h`): a long hold.
    pub hold: bool,
    pub duration: Duration,
    /// Rates this case runs at (`None`: [`RATES`]).
    pub rates: Option<&'static [f64]>,
}

const BASE: Case = Case {
    name: "",
    title: "",
    regression: false,
    stable_error_rate: STABLE_ERROR_RATE,
    canary_error_rate: STABLE_ERROR_RATE,
    stable_latency: BASE_LATENCY,
    canary_latency: BASE_LATENCY,
    stable_cluster: 1.0,
    canary_cluster: 1.0,
    scraping: Scraping::Aligned,
    counting: Counting::Exact,
    regression_from: Duration::ZERO,
    regression_min_weight: 0,
    hold: false,
    duration: DURATION,
    rates: None,
};

const fn errors(name: &'static str, title: &'static str, regression: bool, canary: f64) -> Case {
    Case { name, title, regression, canary_error_rate: canary, ..BASE }
}

const fn clustered(name: &'static str, title: &'static str, canary: f64, stable_m: f64, canary_m: f64) -> Case {
    Case {
        name,
        title,
        regression: canary > STABLE_ERROR_RATE,
        canary_error_rate: canary,
        stable_cluster: stable_m,
        canary_cluster: canary_m,
        ..BASE
    }
}

const fn scraped(name: &'static str, title: &'static str, scraping: Scraping, counting: Counting) -> Case {
    Case { name, title, scraping, counting, ..BASE }
}

const LATE: &[f64] = &[100.0];
const FROM_10: &[f64] = &[10.0, 30.0, 100.0, 1000.0];

/// Every case, in table order.
pub const CASES: [Case; 21] = [
    errors("healthy", "healthy canary (0.5% 5xx, like the stable)", false, 0.005),
    errors("errors-1pct", "canary at 1% 5xx (2× the stable)", true, 0.01),
    errors("errors-3pct", "canary at 3% 5xx (6× the stable)", true, 0.03),
    errors("errors-8pct", "canary at 8% 5xx (16× the stable)", true, 0.08),
    errors("outage", "outage: the canary answers only 5xx", true, 1.0),
    Case {
        name: "latency-tail",
        title: "latency regression: 3% of canary requests take 4 s",
        regression: true,
        canary_latency: Latency { tail: Some(Tail { fraction: 0.03, at: Duration::from_secs(4) }), ..BASE_LATENCY },
        ..BASE
    },
    Case {
        name: "latency-median-x3",
        title: "latency regression: canary median ×3 (240 ms)",
        regression: true,
        canary_latency: Latency { median: Duration::from_millis(240), ..BASE_LATENCY },
        ..BASE
    },
    Case {
        name: "shared-incident",
        title: "shared incident: both versions at 3% 5xx",
        stable_error_rate: 0.03,
        canary_error_rate: 0.03,
        ..BASE
    },
    clustered("healthy-clusters-2", "healthy, errors in bursts of mean size 2 on both versions", 0.005, 2.0, 2.0),
    clustered("healthy-clusters-5", "healthy, errors in bursts of mean size 5 on both versions", 0.005, 5.0, 5.0),
    clustered("healthy-clusters-10", "healthy, errors in bursts of mean size 10 on both versions", 0.005, 10.0, 10.0),
    clustered(
        "healthy-canary-clusters-5",
        "healthy rate, but only the canary's errors in bursts of 5",
        0.005,
        1.0,
        5.0,
    ),
    Case {
        // Below 10 req/s 40 minutes carry too few bursts to tell (as with bursts of 5).
        rates: Some(FROM_10),
        ..clustered(
            "errors-3pct-clusters-2",
            "canary at 3% 5xx, errors in bursts of mean size 2 on both",
            0.03,
            2.0,
            2.0,
        )
    },
    clustered("errors-3pct-clusters-5", "canary at 3% 5xx, errors in bursts of mean size 5 on both", 0.03, 5.0, 5.0),
    scraped(
        "healthy-increase-15s",
        "healthy, increase() over 15 s scrapes of 3 pods",
        Scraping::Every15s,
        Counting::Increase,
    ),
    scraped(
        "healthy-increase-30s",
        "healthy, increase() over 30 s scrapes of 3 pods",
        Scraping::Every30s,
        Counting::Increase,
    ),
    scraped(
        "healthy-exact-30s",
        "healthy, exact counts over 30 s scrapes of 3 pods",
        Scraping::Every30s,
        Counting::Exact,
    ),
    Case {
        name: "p99-between-buckets",
        title: "p99 > 2 s between buckets: 1.6% of canary requests at 2.2 s (stable: 1% at 1.5 s)",
        regression: true,
        stable_latency: Latency {
            tail: Some(Tail { fraction: 0.01, at: Duration::from_millis(1500) }),
            ..BASE_LATENCY
        },
        canary_latency: Latency {
            tail: Some(Tail { fraction: 0.016, at: Duration::from_millis(2200) }),
            ..BASE_LATENCY
        },
        ..BASE
    },
    Case {
        name: "errors-3pct-at-100",
        title: "canary at 3% 5xx only at 100% weight (a regression under full load)",
        regression: true,
        canary_error_rate: 0.03,
        regression_min_weight: 100,
        ..BASE
    },
    Case {
        name: "late-3pct-after-30m",
        title: "3% regression 30 minutes into a long hold at 10%",
        regression: true,
        canary_error_rate: 0.03,
        regression_from: Duration::from_secs(30 * 60),
        hold: true,
        duration: Duration::from_secs(70 * 60),
        rates: Some(LATE),
        ..BASE
    },
    Case {
        name: "late-3pct-after-120m",
        title: "3% regression 2 hours into a long hold at 10%",
        regression: true,
        canary_error_rate: 0.03,
        regression_from: Duration::from_secs(120 * 60),
        hold: true,
        duration: Duration::from_secs(160 * 60),
        rates: Some(LATE),
        ..BASE
    },
];

impl Case {
    pub fn by_name(name: &str) -> Option<&'static Case> {
        CASES.iter().find(|c| c.name == name)
    }

    /// The rates this case runs at.
    pub fn rates(&self) -> &'static [f64] {
        self.rates.unwrap_or(&RATES)
    }

    /// What the oracle knows (the canary's behaviour once it regressed).
    pub fn truth(&self) -> Truth {
        Truth {
            stable_error_rate: self.stable_error_rate,
            canary_error_rate: self.canary_error_rate,
            stable_latency: self.stable_latency,
            canary_latency: self.canary_latency,
            canary_cluster: self.canary_cluster,
        }
    }

    /// The simulated world of this case at `rate`, with `history` of traffic before the
    /// start (only serin reads it; the tick RNG streams are keyed by offset from the start,
    /// so every algorithm sees the same traffic from the start on).
    pub fn scenario(&self, rate: f64, history: Duration) -> Scenario {
        let phase = |error_rate, latency, cluster| VersionPhase {
            at: Duration::ZERO,
            error_rate,
            latency,
            cluster,
            min_weight: 0,
        };
        let stable = vec![phase(self.stable_error_rate, self.stable_latency, self.stable_cluster)];
        let regressed = VersionPhase {
            at: self.regression_from,
            min_weight: self.regression_min_weight,
            ..phase(self.canary_error_rate, self.canary_latency, self.canary_cluster)
        };
        let canary = if self.regression_from.is_zero() && self.regression_min_weight == 0 {
            vec![regressed]
        } else {
            vec![phase(self.stable_error_rate, self.stable_latency, self.canary_cluster), regressed]
        };
        let (step, scrape) = match self.scraping {
            Scraping::Aligned => (Duration::from_secs(15), Scrape::default()),
            Scraping::Every15s => (
                Duration::from_secs(5),
                Scrape { interval: Some(Duration::from_secs(15)), pods: 3, phase: Duration::from_secs(5) },
            ),
            // 5 s ticks: a whole number of them in 15, 30 and 60 s intervals (intervals.rs).
            Scraping::Every30s => (
                Duration::from_secs(5),
                Scrape { interval: Some(Duration::from_secs(30)), pods: 3, phase: Duration::from_secs(10) },
            ),
        };
        let outcome = if self.regression { ExpectedOutcome::RolledBack } else { ExpectedOutcome::NotRolledBack };
        let mut annotations = std::collections::BTreeMap::new();
        if self.hold {
            annotations.insert("step-min".to_string(), "4h".to_string());
            annotations.insert("step-max".to_string(), "5h".to_string());
        }
        if self.counting == Counting::Increase {
            annotations.insert("analysis".to_string(), super::serin::INCREASE_TEMPLATE.to_string());
        }
        Scenario {
            name: format!("{}-{}rps", self.name, rate),
            description: self.title.to_string(),
            duration: self.duration,
            step,
            seed: 0,
            start: crate::time::parse_instant(DEFAULT_START).unwrap_or(std::time::UNIX_EPOCH),
            target: Default::default(),
            annotations,
            history,
            scrape,
            traffic: vec![TrafficPhase { at: Duration::ZERO, rate }],
            stable,
            canary,
            gaps: vec![],
            canary_share: None,
            expect: Expectation { outcome, trigger: None, by: None, no_progress_during_gaps: false },
        }
    }
}
