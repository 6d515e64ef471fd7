//! The rollout state machines (pure, clock injected): canary and blue-green.
//!
//! [`step`] takes the persisted [`RolloutState`], the spec, the judge's findings and what
//! the world looks like now ([`Inputs`]), and returns a [`Transition`]: the next state, the
//! [`Action`]s to take, and when to look again. The daemon executes the actions against
//! Kubernetes; replay and the simulations write them into a timeline.

pub mod action;
pub mod state;

pub use action::{Action, Transition};
pub use state::{Phase, RolloutState};
