//! Local backends for `votechain dev`, the integration tests, chaos and the bench: the real
//! engines, run as child processes of this one.
//!
//! - [`DynamoDbLocal`]: AWS's DynamoDB Local (installed by `scripts/setup` into
//!   `.local/dynamodb-local/`).
//! - [`KafkaLocal`]: Apache Kafka in KRaft mode, one node or three (installed by
//!   `scripts/setup` from Maven Central into `.local/kafka/libs/`).
//!
//! Both die with us: they are killed on drop, and the kernel kills them if this process
//! dies first (`PR_SET_PDEATHSIG`). Both run in a process group of their own, so a
//! Ctrl-C in the terminal reaches votechain alone, which then stops its roles before it
//! stops the backends (an orderly stop, in that order).

mod dynamodb;
mod kafka;

pub use dynamodb::{DevError, DynamoDbLocal};
pub use kafka::{
    KafkaLocal, KafkaLocalError, KafkaLocalOptions, TXN_STATE_PARTITIONS, java_string_hash,
    kafka_dir, kafka_version, transaction_state_partition,
};

use std::path::PathBuf;

/// The install folder `sub` of `.local/` that holds `marker` (a file or folder name):
/// `$env` when set, else `.local/<sub>` in the working directory or one of its ancestors,
/// or in an ancestor of the executable (a test binary runs from its crate's folder).
/// `Err` lists the first places looked in.
fn installed_dir(env: &str, sub: &str, marker: &str) -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Ok(d) = std::env::var(env) {
        candidates.push(PathBuf::from(d));
    }
    let roots = [std::env::current_dir().ok(), std::env::current_exe().ok()];
    for root in roots.into_iter().flatten() {
        for anc in root.ancestors() {
            candidates.push(anc.join(".local").join(sub));
        }
    }
    let mut tried = Vec::new();
    for c in candidates {
        if c.join(marker).exists() {
            return Ok(c);
        }
        tried.push(c.display().to_string());
    }
    Err(tried.into_iter().take(3).collect::<Vec<_>>().join(", "))
}

/// A Java heap size from `$var` (like `512m` or `8g`), else `default`. Anything but digits
/// and one unit letter is ignored, with a warning.
fn heap_from_env(var: &str, default: &str) -> String {
    let valid = |h: &str| {
        let (n, unit) = h.split_at(h.len().saturating_sub(1));
        !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && matches!(unit, "m" | "g")
    };
    match std::env::var(var) {
        Ok(h) if valid(&h) => h,
        Ok(h) => {
            tracing::warn!(value = %h, variable = var, default, "not a heap size like 512m or 8g; using the default");
            default.into()
        }
        Err(_) => default.into(),
    }
}

/// A port of 127.0.0.1 that was free a moment ago (another process may take it before
/// the child binds it: callers retry).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
