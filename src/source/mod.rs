//! Where metrics come from. The trait and the recording source are in `serin-core`
//! (`source`); the live Prometheus source and `serin record` are here, with the network.

pub mod budget;
pub mod prometheus;
pub mod record;

pub use prometheus::PrometheusSource;
pub use record::record;
pub use serin_core::source::*;
