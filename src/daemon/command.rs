//! Operator commands (`serin.io/command`) are decided in `serin-core`
//! (`lifecycle::command`); the API writes them, the reconciler applies them.

pub use serin_core::lifecycle::command::*;
