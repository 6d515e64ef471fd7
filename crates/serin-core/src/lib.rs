//! serin-core — every decision serin makes, as pure functions of their inputs and a clock.
//!
//! ```text
//!  annotations ──► spec::parse ──► RolloutSpec ─────────────────────────────┐
//!  templates/*.yaml ──► template::render(vars) ──► rendered Template        │
//!                                │                                          ▼
//!  source::MetricSource ──► engine::observe ──► IntervalObservation ──► judge::update
//!  (Prometheus | recording | simulation)                                   │ Judgement
//!                                                                          ▼
//!                               rollout::step(state, spec, judgement, inputs) ──► Transition
//!                                                                     { next state, actions }
//!                                                                          │
//!  lifecycle::plan(record, Snapshot, spec, command, tick, now) ──► Plan { record + work, Events }
//! ```
//!
//! Nothing here reads a clock or the network: time is always an argument, and metrics come
//! through the [`source::MetricSource`] trait. This crate has no Kubernetes client, no
//! async runtime and no HTTP client among its dependencies, so Cargo keeps it that way.
//! The `serin` crate reads the cluster and applies what was decided; `serin-sim` drives the
//! same engine through simulated worlds (README, "Architecture").
#![forbid(unsafe_code)]

pub mod engine;
pub mod judge;
pub mod lifecycle;
pub mod replay;
pub mod rollout;
pub mod source;
pub mod spec;
pub mod target;
pub mod template;
pub mod time;
