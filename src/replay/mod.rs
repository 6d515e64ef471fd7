//! `serin replay`: the engine over recorded or historical metrics, with simulated time.
