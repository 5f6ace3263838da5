//! The actors, one per file. Each file opens with what the actor takes (messages), owns
//! (state), who supervises it, and which metrics it emits. Immutable configuration
//! lives in the actor struct; mutable data in its `State`; decisions that can be pure
//! (`plan_batch`, `Batch::push`) are plain functions unit-tested without spawning.

pub mod chain_writer;
pub mod ingest_batcher;
pub mod lag_monitor;
pub mod lease_coordinator;
pub mod log_publisher;
pub mod replay;
pub mod shard_worker;
pub mod writer_coordinator;
