//! votechain: counts votes exactly once, proves the ledger untampered, serves live results.
//!
//! Data flow (see ARCHITECTURE.md): HTTP `ingest` → one Kafka transaction (vote + audit)
//! → `ChainWriter` per partition → DynamoDB hash chain (conditional transactions) →
//! Streams → projections → `query`.

pub mod actors;
pub mod bench;
pub mod chain;
pub mod chaos;
pub mod client;
pub mod config;
pub mod dev;
pub mod dynamo;
pub mod http;
pub mod kafka;
pub mod loadgen;
pub mod metrics;
pub mod model;
pub mod projector;
pub mod recount;
pub mod replay;
pub mod runtime;
pub mod scaling;
pub mod supervision;
pub mod verify;

pub use runtime::now_ms;
