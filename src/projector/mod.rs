//! The read side: DynamoDB Streams of the ledger → count projections, KCL style.
//!
//! - [`lease`]: the lease table (KCL attribute names) and its conditional operations;
//! - `votechain_core::balance` and `votechain_core::shards`: the pure rules (expiry on the
//!   observer's clock, which leases to take or steal; lineage, parents before children);
//! - [`results`]: the read-model items and the count deltas of a batch;
//! - [`stream`]: DynamoDB Streams calls (discovery with paging, iterators, records).
//!
//! The actors are `actors::lease_coordinator` (one per projector process) and
//! `actors::shard_worker` (one per held shard).

pub mod lease;
pub mod projection;
pub mod results;
pub mod stream;
