//! The typed rollout configuration read from a candidate Deployment's `serin.io/*`
//! annotations (README, "Annotations"). [`annotations::parse`] is the one entry point; every value has
//! a default from the deployment guides, and every bad value is reported at once.

pub mod annotations;
pub mod keys;
pub mod values;
pub mod window;

use std::collections::BTreeMap;
use std::time::Duration;

pub use annotations::{BUILTIN_VARIABLES, SpecError, SpecErrors, is_opted_in, parse};
pub use window::Windows;

/// Annotation prefix of everything serin reads and writes.
pub const PREFIX: &str = "serin.io/";

/// Everything serin needs to drive one rollout, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutSpec {
    pub strategy: Strategy,
    /// Template names, in the order given (`serin.io/analysis`).
    pub analysis: Vec<String>,
    /// `serin.io/arg.<name>` values.
    pub args: BTreeMap<String, String>,
    pub interval: Duration,
    pub progress_deadline: Duration,
    /// Progress (weight up, flip, promote) happens only inside these; rollbacks always.
    pub windows: Windows,
    pub dry_run: bool,
    pub paused: bool,
    /// `serin.io/retry`: a changed value retries a rolled-back revision.
    pub retry: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    Canary(CanarySpec),
    BlueGreen(BlueGreenSpec),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CanarySpec {
    pub stable: String,
    /// `serin.io/ingress`: the stable Ingress (ingress-nginx routing); unused with `route`.
    pub ingress: String,
    /// `serin.io/route`: the HTTPRoute to split (Gateway API routing) instead of an Ingress.
    pub route: Option<String>,
    pub canary_service: String,
    /// Weights in percent, strictly increasing, each in 1..=100.
    pub steps: Vec<u8>,
    pub step_min: Duration,
    pub step_max: Duration,
    pub on_inconclusive: OnInconclusive,
    pub scale_with_weight: bool,
    pub routing: Routing,
}

/// How requests reach the canary.
#[derive(Debug, Clone, PartialEq)]
pub enum Routing {
    /// `canary-weight` percent of requests at random.
    Weight,
    /// `canary-by-header` (+ `canary-by-header-value` when a value is given).
    Header { name: String, value: Option<String> },
    /// `canary-by-cookie`.
    Cookie { name: String },
}

/// What a step does when it reaches `step-max` without enough evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnInconclusive {
    Hold,
    Advance,
    Rollback,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlueGreenSpec {
    pub service: String,
    pub slot_label: String,
    pub smoke: Vec<String>,
    pub observe: Duration,
    /// `None` = keep the previous slot forever (`keep-previous: 0`).
    pub keep_previous: Option<Duration>,
}

/// The Ingress serin creates beside the stable Ingress `stable_ingress` for an
/// ingress-nginx canary (README, "What serin changes, on which object").
pub fn canary_ingress_name(stable_ingress: &str) -> String {
    format!("{stable_ingress}-canary")
}

impl RolloutSpec {
    pub fn strategy_name(&self) -> &'static str {
        match self.strategy {
            Strategy::Canary(_) => "canary",
            Strategy::BlueGreen(_) => "blue-green",
        }
    }
}
