//! serin-sim — simulated worlds for serin's engine, and the decision-quality benchmark.
//!
//! `sim` builds a world (traffic, errors in bursts, latencies, Prometheus' scrapes) and
//! answers the engine's queries from it; `simulate` runs a scenario through the same
//! engine `serin replay` uses; `quality` compares serin with Flagger, Argo Rollouts,
//! Kayenta and an oracle on the same seeds (`serin-sim benchmark`, simulations/README.md).
#![forbid(unsafe_code)]

// The core modules under their usual names, so simulation code reads like engine code.
pub use serin_core::{engine, judge, replay, rollout, source, spec, target, template, time};

pub mod quality;
pub mod sim;
pub mod simulate;
