//! serin — a progressive delivery analysis engine for Kubernetes.
//!
//! This crate reads the cluster and applies what `serin-core` decided: the daemon
//! (`daemon`, `k8s`, `server`), the command line (`cli`, `lint`), the live Prometheus
//! source (`source`) and serin's own metrics (`telemetry`). The core modules are
//! re-exported under their usual names (`serin::judge`, `serin::rollout`, ...).
//! README, "Architecture", draws the data path through the crates.
#![forbid(unsafe_code)]

pub mod cli;
pub mod daemon;
pub mod k8s;
pub mod lint;
pub mod notify;
pub mod server;
pub mod source;
pub mod telemetry;

pub use serin_core::{engine, judge, lifecycle, replay, rollout, spec, target, template, time};
