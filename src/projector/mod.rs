//! The read side: DynamoDB Streams of the ledger → count projections, KCL style.
//!
//! - [`lease`]: the lease table (KCL attribute names), the worker registry, and their
//!   conditional operations;
//! - `votechain_core::balance` and `votechain_core::shards`: the pure rules (expiry on the
//!   observer's clock, rendezvous assignment and handoff; lineage, parents before
//!   children, which finished leases to delete, lineage gaps);
//! - [`loss`]: the "needs replay" state when stream records were lost;
//! - [`projection`]: the active-projection pointer (which read table serves an election);
//! - [`results`]: the read-model items and the count deltas of a batch;
//! - [`stream`]: DynamoDB Streams calls (discovery with paging, iterators, records).
//!
//! The actors are `actors::lease_coordinator` (one per projector process) and
//! `actors::shard_worker` (one per held shard).

pub mod lease;
pub mod loss;
pub mod projection;
pub mod results;
pub mod stream;
