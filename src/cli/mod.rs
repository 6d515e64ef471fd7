//! The `serin` command line.
