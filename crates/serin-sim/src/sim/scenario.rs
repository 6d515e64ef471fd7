//! Scenario files (`simulations/scenarios/<name>.yaml`): what the simulated world looks like.
//!
//! A scenario describes traffic and the behaviour of both versions as piecewise-constant
//! phases, plus Prometheus gaps and the outcome a replay must reach. It says nothing about
//! canary weights: those come from the rollout being simulated, from outside the world.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize};

/// Where the simulated rollout starts when the file names no `start`: a fixed instant, so
/// that recordings made from the same scenario and seed are byte-identical.
pub const DEFAULT_START: &str = "2026-11-20T02:00:00Z";

/// Most ticks a scenario may have: every tick is kept in memory (about 300 bytes each).
pub const MAX_TICKS: u64 = 1_000_000;

/// A parsed and validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Simulated length; the world generates no traffic past `start + duration`.
    #[serde(with = "crate::time::human_duration")]
    pub duration: Duration,
    /// Tick length: one Prometheus scrape of the ingress controller.
    #[serde(default = "default_step", with = "crate::time::human_duration")]
    pub step: Duration,
    #[serde(default)]
    pub seed: u64,
    /// Simulated wall-clock start (RFC 3339).
    #[serde(default = "default_start", with = "crate::time::rfc3339")]
    pub start: SystemTime,
    #[serde(default)]
    pub target: ScenarioTarget,
    /// Annotations of the candidate for the driver, e.g. `interval: 1m`; keys without a
    /// `/` get the `serin.io/` prefix. Absent keys take the product defaults.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Traffic simulated before `start` at weight 0 (the stable's history, which serin reads
    /// before a run to learn how bursty the baseline is).
    #[serde(default, with = "crate::time::human_duration")]
    pub history: Duration,
    /// How Prometheus scrapes the ingress controller (default: one pod, every `step`, on
    /// the tick boundaries).
    #[serde(default)]
    pub scrape: Scrape,
    pub traffic: Vec<TrafficPhase>,
    pub stable: Vec<VersionPhase>,
    pub canary: Vec<VersionPhase>,
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// The canary's actual share of requests while its weight is above 0, whatever the
    /// weight (`2%`): sticky sessions, an ingress controller that did not apply the weight.
    /// Absent: the share follows the weight.
    #[serde(default, deserialize_with = "optional_fraction", skip_serializing_if = "Option::is_none")]
    pub canary_share: Option<f64>,
    pub expect: Expectation,
}

/// Kubernetes names the simulated ingress-nginx reports in its labels (the `deploy/examples/` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScenarioTarget {
    pub namespace: String,
    pub ingress: String,
    pub stable: String,
    /// The canary Deployment (the candidate carrying the annotations).
    pub deployment: String,
    pub canary_service: String,
    pub port: u16,
}

impl Default for ScenarioTarget {
    fn default() -> ScenarioTarget {
        ScenarioTarget {
            namespace: "production".into(),
            ingress: "sark".into(),
            stable: "sark".into(),
            deployment: "sark-canary".into(),
            canary_service: "sark-canary".into(),
            port: 80,
        }
    }
}

/// Prometheus' view of the ingress controller: `pods` controller pods share the traffic
/// evenly, each scraped every `interval` at its own phase (`phase + p·interval/pods` after the
/// world's origin), so an evaluation on serin's minute sees a sample set that is not aligned
/// with it, as in a real cluster.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scrape {
    /// Scrape interval; `None`: the scenario's `step`.
    #[serde(with = "optional_duration")]
    pub interval: Option<Duration>,
    pub pods: u32,
    #[serde(with = "crate::time::human_duration")]
    pub phase: Duration,
}

impl Default for Scrape {
    fn default() -> Scrape {
        Scrape { interval: None, pods: 1, phase: Duration::ZERO }
    }
}

/// Total request rate from `at` (offset from start) until the next phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficPhase {
    #[serde(with = "crate::time::human_duration")]
    pub at: Duration,
    /// Requests per second, both versions together.
    pub rate: f64,
}

/// How one version behaves from `at` until its next phase.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionPhase {
    #[serde(with = "crate::time::human_duration")]
    pub at: Duration,
    /// Fraction of requests answered 5xx (`0.5%` or `0.005`).
    #[serde(deserialize_with = "fraction")]
    pub error_rate: f64,
    pub latency: Latency,
    /// Mean size of error clusters (retry storms, a restarting pod): errors come in bursts
    /// of geometric size with this mean; 1 = independent errors.
    #[serde(default = "one")]
    pub cluster: f64,
    /// The phase applies only while the canary weight is at least this (a regression that
    /// appears under load); phases with a weight condition override those without.
    #[serde(default)]
    pub min_weight: u8,
}

fn one() -> f64 {
    1.0
}

/// Log-normal body plus an optional point-mass tail.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    #[serde(with = "crate::time::human_duration")]
    pub median: Duration,
    /// Standard deviation of ln(latency); 0 puts every request at the median.
    pub sigma: f64,
    #[serde(default)]
    pub tail: Option<Tail>,
}

/// A fraction of requests that take a fixed time (a timeout, a slow dependency).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tail {
    #[serde(deserialize_with = "fraction")]
    pub fraction: f64,
    #[serde(with = "crate::time::human_duration")]
    pub at: Duration,
}

/// Prometheus has no samples with timestamps in `[from, to)` (offsets from start).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gap {
    #[serde(with = "crate::time::human_duration")]
    pub from: Duration,
    #[serde(with = "crate::time::human_duration")]
    pub to: Duration,
}

/// What a replay of the scenario must reach; asserted by tests, never read by the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub outcome: ExpectedOutcome,
    /// The trigger named in the decision, when the outcome is a rollback or a pause.
    #[serde(default)]
    pub trigger: Option<String>,
    /// The decision is reached no later than this offset from start.
    #[serde(default, with = "optional_duration")]
    pub by: Option<Duration>,
    /// No timeline action that moves the rollout forward (a `set_weight` to a higher
    /// weight, `flip`, `promote`) is timestamped inside a gap: serin must not progress
    /// while it cannot see.
    #[serde(default)]
    pub no_progress_during_gaps: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedOutcome {
    Promoted,
    RolledBack,
    Paused,
    InProgress,
    /// Anything but a rollback (promoted, paused or still in progress).
    NotRolledBack,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scenario {source_name}: {message}")]
pub struct ScenarioError {
    /// The file path, or `<inline>`.
    pub source_name: String,
    pub message: String,
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Scenario, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            source_name: path.display().to_string(),
            message: format!("cannot read: {e}"),
        })?;
        Scenario::parse(&text).map_err(|e| ScenarioError { source_name: path.display().to_string(), ..e })
    }

    /// Parses and validates scenario YAML.
    pub fn parse(yaml: &str) -> Result<Scenario, ScenarioError> {
        let error = |message: String| ScenarioError { source_name: "<inline>".into(), message };
        let scenario: Scenario = serde_yaml_ng::from_str(yaml).map_err(|e| error(e.to_string()))?;
        scenario.validate().map_err(error)?;
        Ok(scenario)
    }

    /// The shipped scenario directory of this source tree.
    pub fn shipped_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../simulations").join("scenarios")
    }

    /// `start + duration`.
    pub fn end(&self) -> SystemTime {
        self.start.checked_add(self.duration).unwrap_or(self.start)
    }

    /// The canary Deployment as a replay sees it: the target's names as `serin.io/`
    /// annotations (strategy `canary`), then the scenario's `annotations` on top.
    pub fn candidate(&self) -> crate::target::Target {
        let t = &self.target;
        let mut annotations: BTreeMap<String, String> = [
            ("strategy", "canary".to_string()),
            ("stable", t.stable.clone()),
            ("ingress", t.ingress.clone()),
            ("canary-service", t.canary_service.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        annotations.extend(self.annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
        crate::target::Target {
            namespace: t.namespace.clone(),
            name: t.deployment.clone(),
            annotations: annotations
                .into_iter()
                .map(|(k, v)| if k.contains('/') { (k, v) } else { (format!("{}{k}", crate::spec::PREFIX), v) })
                .collect(),
            pod_labels: BTreeMap::from([
                ("app".to_string(), t.stable.clone()),
                ("version".to_string(), "canary".to_string()),
            ]),
        }
    }

    /// Checks what serde cannot: ordering, ranges, and that every phase list starts at 0s,
    /// so the model is defined at every instant and never has to guess.
    pub fn validate(&self) -> Result<(), String> {
        if self.step.is_zero() {
            return Err("step must be positive".into());
        }
        if self.duration < self.step {
            return Err("duration must be at least one step".into());
        }
        if (self.duration + self.history).as_secs_f64() / self.step.as_secs_f64() > MAX_TICKS as f64 {
            return Err(format!("duration / step must be at most {MAX_TICKS} ticks"));
        }
        if self.start.checked_add(self.duration).is_none() {
            return Err("start + duration is out of range".into());
        }
        check_phases("traffic", self.traffic.iter().map(|p| p.at))?;
        for (i, p) in self.traffic.iter().enumerate() {
            if !(p.rate.is_finite() && (0.0..=1e9).contains(&p.rate)) {
                return Err(format!("traffic[{i}].rate must be between 0 and 1e9 requests/s"));
            }
        }
        self.check_scrape()?;
        for (version, phases) in [("stable", &self.stable), ("canary", &self.canary)] {
            check_phases(version, phases.iter().filter(|p| p.min_weight == 0).map(|p| p.at))?;
            for (i, p) in phases.iter().enumerate() {
                let at = format!("{version}[{i}]");
                if !(p.cluster.is_finite() && (1.0..=1000.0).contains(&p.cluster)) {
                    return Err(format!("{at}.cluster must be between 1 and 1000"));
                }
                if p.min_weight > 100 {
                    return Err(format!("{at}.min_weight must be at most 100"));
                }
                check_fraction(&format!("{at}.error_rate"), p.error_rate)?;
                if p.latency.median.is_zero() {
                    return Err(format!("{at}.latency.median must be positive"));
                }
                if !(p.latency.sigma.is_finite() && (0.0..=10.0).contains(&p.latency.sigma)) {
                    return Err(format!("{at}.latency.sigma must be between 0 and 10"));
                }
                if let Some(tail) = p.latency.tail {
                    check_fraction(&format!("{at}.latency.tail.fraction"), tail.fraction)?;
                }
            }
        }
        if let Some(share) = self.canary_share {
            check_fraction("canary_share", share)?;
        }
        for (i, g) in self.gaps.iter().enumerate() {
            if g.from >= g.to {
                return Err(format!("gaps[{i}]: from must be before to"));
            }
        }
        if self.expect.no_progress_during_gaps && self.gaps.is_empty() {
            return Err("expect.no_progress_during_gaps needs at least one gap".into());
        }
        Ok(())
    }
}

impl Scenario {
    /// The scrape interval in force.
    pub fn scrape_interval(&self) -> Duration {
        self.scrape.interval.unwrap_or(self.step)
    }

    /// When the world begins: `start − history`.
    pub fn origin(&self) -> SystemTime {
        self.start.checked_sub(self.history).unwrap_or(self.start)
    }

    fn check_scrape(&self) -> Result<(), String> {
        let interval = self.scrape_interval();
        let multiple = |d: Duration| d.as_nanos() % self.step.as_nanos() == 0;
        if interval.is_zero() || !multiple(interval) {
            return Err("scrape.interval must be a positive multiple of step".into());
        }
        if !(1..=16).contains(&self.scrape.pods) {
            return Err("scrape.pods must be between 1 and 16".into());
        }
        let pods = self.scrape.pods;
        if (0..pods).any(|p| !multiple(self.scrape.phase + interval * p / pods)) || self.scrape.phase >= interval {
            return Err("scrape.phase and interval / pods must be multiples of step; phase < interval".into());
        }
        if !multiple(self.history) || self.start.checked_sub(self.history).is_none() {
            return Err("history must be a multiple of step".into());
        }
        Ok(())
    }
}

fn check_phases(what: &str, ats: impl Iterator<Item = Duration>) -> Result<(), String> {
    let ats: Vec<Duration> = ats.collect();
    match ats.first() {
        None => return Err(format!("{what} needs at least one phase")),
        Some(first) if !first.is_zero() => return Err(format!("{what}: the first phase must be at 0s")),
        Some(_) => {}
    }
    if ats.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("{what}: phases must be in strictly increasing `at` order"));
    }
    Ok(())
}

fn check_fraction(what: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("{what} must be between 0% and 100%"))
    }
}

fn default_step() -> Duration {
    Duration::from_secs(15)
}

fn default_start() -> SystemTime {
    crate::time::parse_instant(DEFAULT_START).unwrap_or(std::time::UNIX_EPOCH)
}

/// Parses `0.5%` or `0.005` (README, "Annotations": percentages accept both forms).
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = match text.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|v| v / 100.0),
        None => text.parse::<f64>(),
    };
    value.map_err(|_| format!("{text:?} is not a percentage (`1%` or `0.01`)"))
}

fn optional_fraction<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    fraction(d).map(Some)
}

fn fraction<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(v) => Ok(v),
        Raw::Text(t) => parse_fraction(&t).map_err(serde::de::Error::custom),
    }
}

mod optional_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&crate::time::format_duration(*d)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| humantime::parse_duration(t.trim()).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_scenario_loads() {
        let dir = Scenario::shipped_dir();
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let s = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(Some(s.name.as_str()), path.file_stem().and_then(|n| n.to_str()));
                names.push(s.name);
            }
        }
        names.sort();
        let want =
            ["error-regression", "healthy", "latency-regression", "low-traffic", "prometheus-gap", "shared-incident"];
        for w in want {
            assert!(names.iter().any(|n| n == w), "missing scenario {w}");
        }
    }

    #[test]
    fn percentages_and_bad_input() {
        assert_eq!(parse_fraction("0.5%").unwrap(), 0.005);
        assert_eq!(parse_fraction("0.08").unwrap(), 0.08);
        assert!(parse_fraction("lots").is_err());
        let bad = "name: x\nduration: 1h\ntraffic: [{at: 0s, rate: 1}]\nstable: []\ncanary: []\nexpect: {outcome: promoted}\n";
        assert!(Scenario::parse(bad).unwrap_err().message.contains("stable"));
        let unknown =
            "name: x\nduration: 1h\nbogus: 1\ntraffic: []\nstable: []\ncanary: []\nexpect: {outcome: promoted}\n";
        assert!(Scenario::parse(unknown).unwrap_err().message.contains("bogus"));
    }
}
