//! One analysis tick, shared by the daemon, replay and the simulations.
