//! serin — a progressive delivery analysis engine.
//!
//! One engine, three drivers (the daemon, `serin replay`, the simulations):
//!
//! ```text
//!  annotations ──► spec::parse ──► RolloutSpec ─────────────────────────────┐
//!  templates/*.yaml ──► template::render(vars) ──► rendered Template        │
//!                                │                                          ▼
//!  source::MetricSource ──► engine::observe ──► IntervalObservation ──► judge::update
//!  (Prometheus | recording | simulation)                                   │ Judgement
//!                                                                          ▼
//!                                 rollout::step(state, spec, judgement, now) ──► Transition
//!                                                                  { next state, actions, requeue_after }
//!                                                                          │
//!             daemon: execute actions on Kubernetes │ replay/sim: append to a timeline
//! ```
//!
//! The modules `spec`, `template`, `judge`, `rollout` and `engine` are pure: they read no
//! clock and no network; time is always an argument.
#![forbid(unsafe_code)]

pub mod cli;
pub mod daemon;
pub mod engine;
pub mod judge;
pub mod k8s;
pub mod lint;
pub mod notify;
pub mod quality;
pub mod replay;
pub mod rollout;
pub mod server;
pub mod sim;
pub mod simulate;
pub mod source;
pub mod spec;
pub mod target;
pub mod telemetry;
pub mod template;
pub mod time;
