//! votechain-tools: what tests, measures and drives votechain from outside, built on the
//! node (`votechain`) and the core. None of it is in the production binary.
//!
//! - [`client`]: the polling-station client with its fsync'd outbox;
//! - [`loadgen`]: polling stations at a given rate (`votechain loadgen`);
//! - [`bench`]: ours against the raw backends, as ratios (`votechain bench`);
//! - [`capacity`]: the capacity model of docs/capacity.md, from measured work per vote;
//! - [`chaos`]: scenarios, the DynamoDB fault proxy, the runner and the checker
//!   (`votechain chaos`);
//! - [`fixture`]: configs for one machine; [`node_binary`]: where the `votechain` binary is;
//! - [`mock_kafka`]: librdkafka's mock cluster, only for injected protocol errors.
//!
//! The integration tests (`tests/it/`) are this crate's, one module per scenario.

pub mod bench;
pub mod capacity;
pub mod chaos;
pub mod client;
pub mod fixture;
pub mod loadgen;
pub mod mock_kafka;

use std::path::PathBuf;

/// The `votechain` binary, for child processes: `$VOTECHAIN_BIN`, else beside this
/// executable or one directory up (tests run from `target/<profile>/deps/`).
pub fn node_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("VOTECHAIN_BIN") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let dirs = exe
        .parent()
        .into_iter()
        .flat_map(|d| [d.to_path_buf(), d.join("..")]);
    let found = dirs.map(|d| d.join("votechain")).find(|p| p.is_file());
    found.ok_or_else(|| format!("the votechain binary is not beside {}: run `cargo build --bins` (or set VOTECHAIN_BIN)", exe.display()))
}
