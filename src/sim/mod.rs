//! Scenario generator: simulated traffic written as recordings.
