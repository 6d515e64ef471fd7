//! The record serin keeps on the candidate (`serin.io/status`) is decided in `serin-core`
//! (`lifecycle::record`); this module names it where the Kubernetes code expects it.

pub use serin_core::lifecycle::record::*;
