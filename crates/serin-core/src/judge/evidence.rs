//! Evidence attached to verdicts, and the per-metric / per-trigger state carried between
//! intervals.
//!
//! The state is persisted as JSON on a Kubernetes object, so it is small and bounded: a few
//! counters and log likelihood ratios per metric limit, and per trigger a window of at most
//! `window::SLOTS` entries (a window of up to [`MAX_WINDOW`] intervals). Every stored number is finite (log space, clamped), so
//! the JSON never needs an infinity.

use serde::{Deserialize, Serialize};

use super::bursts::{BurstTest, QuietIntervals};
pub use super::counts::Events;
use super::dispersion::DispersionStats;
use super::sequential::{MixtureTest, RestartedTest};

/// Longest trigger window kept, in intervals (12 h at 1-minute intervals).
pub const MAX_WINDOW: usize = 720;

/// What was measured and tested for one metric, this interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// One entry per event definition: the ratio itself, or one per histogram limit.
    #[serde(default)]
    pub channels: Vec<ChannelEvidence>,
    /// Histogram quantile estimates of this interval (Prometheus interpolation).
    #[serde(default)]
    pub quantiles: Vec<QuantileEstimate>,
    /// Value metrics: the value read this interval.
    #[serde(default)]
    pub value: Option<f64>,
    /// Every sequential test of the metric, with its e-value and threshold.
    #[serde(default)]
    pub tests: Vec<TestRun>,
    /// This interval's values, for plots.
    #[serde(default)]
    pub series: Vec<SeriesPoint>,
}

/// Counts of one event definition ("5xx", "slower than 0.5 s") for both arms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelEvidence {
    /// `error-rate`, `p95 <= 500ms`.
    pub name: String,
    /// Largest acceptable bad fraction (ratio `max`, or 1 − quantile).
    pub limit: f64,
    /// Histograms: the bucket bounds around the latency limit (pass side, rollback side).
    #[serde(default)]
    pub le_pass: Option<f64>,
    #[serde(default)]
    pub le_rollback: Option<f64>,
    pub canary: ArmEvidence,
    #[serde(default)]
    pub baseline: Option<ArmEvidence>,
    /// How much more the counts vary than independent requests would (φ, 1 = not at all);
    /// every test's counts were divided by it.
    #[serde(default = "one")]
    pub dispersion: f64,
}

/// One arm's counts over the interval, the current step and the whole run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmEvidence {
    /// `None` when the arm had no usable reading this interval.
    pub interval: Option<Events>,
    pub step: Events,
    pub run: Events,
    /// Bad fractions (rollback side, i.e. `bad_hi / total`); `None` without requests.
    pub interval_rate: Option<f64>,
    pub step_rate: Option<f64>,
    pub run_rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuantileEstimate {
    pub quantile: f64,
    /// Seconds.
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
}

/// One sequential test as it stands after this interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TestRun {
    /// e.g. `error-rate: worse than baseline`.
    pub name: String,
    /// The mixture e-value (capped at e^700 to stay finite).
    pub e_value: f64,
    /// Its natural log (exact).
    pub log_e: f64,
    /// `1/level`: the e-value at which the test concludes.
    pub threshold: f64,
    pub outcome: TestOutcome,
}

/// `Concluded` means the null was rejected: for a rollback test, the canary is worse; for a
/// pass test, the canary is shown good enough.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestOutcome {
    Concluded,
    #[default]
    Open,
}

/// One plotted value of this interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// `error-rate`, `p95`, or the value metric's name.
    pub name: String,
    /// `ratio` | `seconds` | `value`.
    pub unit: String,
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
    pub limit: Option<f64>,
}

/// Sequential statistics of one metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricState {
    pub metric: String,
    /// The step the per-step counters belong to.
    #[serde(default)]
    pub step: u32,
    #[serde(default)]
    pub channels: Vec<ChannelState>,
}

/// Counters and tests of one event definition (the ratio, or one histogram limit).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChannelState {
    pub name: String,
    #[serde(default)]
    pub canary_step: Events,
    #[serde(default)]
    pub canary_run: Events,
    #[serde(default)]
    pub baseline_step: Events,
    /// Baseline counts seen while the baseline was served.
    #[serde(default)]
    pub baseline_run: Events,
    /// Test 1, two-sample: canary worse than baseline (rollback), cumulative and restarted.
    #[serde(default)]
    pub comparison: RestartedTest,
    /// Test 1 after a blue-green flip: canary against the frozen baseline bound `frozen_ref`.
    #[serde(default)]
    pub frozen: MixtureTest,
    #[serde(default)]
    pub frozen_ref: Option<f64>,
    /// ln e when test 1 first rejected; once worse, always worse.
    #[serde(default)]
    pub worse_log_e: Option<f64>,
    /// Test 2: canary not worse than `R_MAX` × baseline (pass path A).
    #[serde(default)]
    pub non_inferiority: MixtureTest,
    /// Test 3: canary bad fraction below the limit (pass path B).
    #[serde(default)]
    pub within: MixtureTest,
    /// The baseline's per-interval counts, for its dispersion estimate.
    #[serde(default)]
    pub dispersion: DispersionStats,
    /// The canary's per-interval counts, for its own (shrunk toward the baseline's).
    #[serde(default)]
    pub canary_dispersion: DispersionStats,
    /// The baseline's quiet intervals, for the bound of the burst comparison.
    #[serde(default, skip_serializing_if = "QuietIntervals::is_empty")]
    pub quiet: QuietIntervals,
    /// Test 1 counted in bursts (`bursts.rs`), averaged into `comparison`'s e-value.
    #[serde(default, skip_serializing_if = "BurstTest::is_off")]
    pub bursts: BurstTest,
    /// The canary's dispersion φ this interval's one-sample tests were tempered with.
    #[serde(default = "one")]
    pub phi: f64,
}

fn one() -> f64 {
    1.0
}

pub(super) fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Window and timing state of one trigger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerState {
    pub trigger: String,
    pub metric: String,
    /// Canary events of the most recent intervals, oldest first: one entry per interval, or
    /// per block of `window_block` intervals for a long window (see `window.rs`). Written
    /// as `[bad, total]` (or `[bad_hi, bad_lo, total]`) arrays: a third of the objects' size.
    #[serde(default, with = "compact_events")]
    pub window: Vec<Events>,
    /// Intervals per entry of `window` (0 or absent: one).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub window_block: u32,
    /// Intervals in the newest entry, when entries are blocks.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub window_fill: u32,
    /// Intervals with a usable reading of the metric, over the run.
    #[serde(default)]
    pub observed: u32,
    /// Window tests run so far (for alpha spending: look k uses alpha/(k(k+1))).
    #[serde(default)]
    pub looks: u32,
    #[serde(default)]
    pub step: u32,
    /// Canary events of the current step (for escalation).
    #[serde(default)]
    pub step_events: Events,
    /// Value metrics: consecutive out-of-range evaluations.
    #[serde(default)]
    pub out_of_range: u32,
}

/// A window's entries as short arrays; objects (statuses written before) are read too.
mod compact_events {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Events;

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Entry {
        Exact([f64; 2]),
        Bracketed([f64; 3]),
        Object(Events),
    }

    pub fn serialize<S: Serializer>(window: &[Events], s: S) -> Result<S::Ok, S::Error> {
        let entries: Vec<Entry> = window
            .iter()
            .map(|e| {
                if e.bad_hi == e.bad_lo {
                    Entry::Exact([e.bad_hi, e.total])
                } else {
                    Entry::Bracketed([e.bad_hi, e.bad_lo, e.total])
                }
            })
            .collect();
        entries.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Events>, D::Error> {
        let entries = Vec::<Entry>::deserialize(d)?;
        Ok(entries
            .into_iter()
            .map(|entry| match entry {
                Entry::Exact([bad, total]) => Events::exact(bad, total),
                Entry::Bracketed([bad_hi, bad_lo, total]) => Events { bad_hi, bad_lo, total },
                Entry::Object(events) => events,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_written_as_arrays_and_read_in_both_forms() {
        let st = TriggerState {
            window: vec![Events::exact(1.0, 10.0), Events { bad_hi: 1.0, bad_lo: 2.5, total: 10.0 }],
            ..Default::default()
        };
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["window"], serde_json::json!([[1.0, 10.0], [1.0, 2.5, 10.0]]));
        assert_eq!(serde_json::from_value::<TriggerState>(json).unwrap(), st);
        let old = serde_json::json!({"trigger": "t", "metric": "m",
            "window": [{"bad_hi": 1.0, "bad_lo": 1.0, "total": 10.0}]});
        assert_eq!(serde_json::from_value::<TriggerState>(old).unwrap().window, vec![Events::exact(1.0, 10.0)]);
    }
}
