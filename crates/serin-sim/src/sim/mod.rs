//! Scenario generator: simulated traffic written as recordings.
//!
//! A simulated ingress-nginx in front of a stable and a canary version, driven by a
//! scenario file (`simulations/scenarios/*.yaml`) and by the canary weight the rollout
//! sets. The simulation answers the templates' rendered queries by role instead of
//! evaluating PromQL ([`SimSource`]), and exports what it generated as a recording or as
//! OpenMetrics text for a real Prometheus.
//!
//! - `scenario.rs`: the scenario file format and its validation;
//! - `latency.rs`: the latency model and the histogram buckets;
//! - `world.rs`: the tick-by-tick traffic generator;
//! - `scrape.rs`: controller pods scraped at their own phase, `increase()` and exact counts;
//! - `answer.rs`: query roles and their answers;
//! - `source.rs`: the [`crate::source::MetricSource`] implementations ([`SimSource`] owns its
//!   world; [`WorldSource`] borrows one whose clock a driver such as `crate::quality` owns);
//! - `export.rs`: recordings and OpenMetrics.

pub mod answer;
pub mod export;
pub mod latency;
pub mod scenario;
pub mod scrape;
pub mod source;
pub mod world;

pub use answer::{Measure, QueryRole, roles_of};
pub use latency::{LE_BOUNDS, LE_LABELS};
pub use scenario::{Expectation, ExpectedOutcome, Scenario, ScenarioError};
pub use scrape::Form;
pub use source::{SimSource, WorldSource};
pub use world::{Arm, Counters, Tick, VersionTick, World};
