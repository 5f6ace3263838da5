//! votechain-core: the pure heart of votechain. Domain, hash chain, linking, verification,
//! replay, recount, and the scaling, restart and lease policies, as plain data and
//! functions. No I/O crate: no tokio, rdkafka, AWS SDK, ractor or axum (a test in the
//! tools crate fails the suite if one ever arrives), so the offline auditor
//! (`votechain-verify`) builds on this crate alone and every rule here is unit-tested
//! without spawning anything.
//!
//! - [`chain`]: the contract's hash chain (v1 and v2); [`model`]: identifiers, events, the
//!   election registry, the vote item and `accept_event`, the one acceptance rule;
//! - [`manifest`]: the v2 election manifest, its validation and its digest;
//! - [`linking`]: `plan_batch`, the one linking rule (writer, replay and recount share it);
//! - [`verify`]: `ChainChecker`; [`export`]: the offline chain export format;
//! - [`replay`], [`counts`], [`recount`]: deterministic replay and the three-way recount;
//! - [`scaling`], [`restart`], [`lease`], [`balance`], [`shards`]: the policies the node's
//!   actors decide with; [`millis`]: durations in config files.

pub mod balance;
pub mod chain;
pub mod checkpoint;
pub mod counts;
pub mod decimal;
pub mod export;
pub mod lease;
pub mod linking;
pub mod manifest;
pub mod merkle;
pub mod millis;
pub mod model;
pub mod note;
pub mod provenance;
pub mod receipt;
pub mod recount;
pub mod replay;
pub mod restart;
pub mod scaling;
pub mod shards;
pub mod tally;
pub mod tiles;
pub mod verify;
pub mod witness;
