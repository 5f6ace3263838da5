//! One module per tool command: its clap arguments, its run, its output.

pub mod bench;
pub mod chaos;
pub mod client;
pub mod loadgen;
