//! A shard lease as KCL defines it, the unit the projector's workers take, renew,
//! checkpoint and hand over. The table operations are the node's
//! (`projector::lease::LeaseTable`); the rules over a snapshot are [`crate::balance`] and
//! [`crate::shards`].

/// Checkpoint of a shard nothing was read from yet: start at the oldest record kept.
pub const TRIM_HORIZON: &str = "TRIM_HORIZON";
/// Checkpoint of a shard read to its end (closed, every record applied).
pub const SHARD_END: &str = "SHARD_END";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub key: String,
    pub owner: Option<String>,
    pub counter: i64,
    /// `TRIM_HORIZON`, `SHARD_END`, or the sequence number of the last applied record.
    pub checkpoint: String,
    pub owner_switches: i64,
    pub parents: Vec<String>,
    /// What the worker reading the shard last reported with its renewal (0 before any).
    pub figures: Figures,
}

/// A worker's own view of its shard, written with each lease renewal so the LagMonitor
/// never reads the stream itself (DynamoDB Streams throttles a shard's third reader).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Figures {
    /// Age of the oldest record of the worker's last non-empty page when it read it; 0
    /// once a read came back empty (caught up).
    pub lag_ms: i64,
    /// Records its last read returned (at least this many were waiting; a full page means
    /// more).
    pub pending: i64,
    /// When the owner reported these (its clock, ms); 0 if never.
    pub at_ms: i64,
}

impl Lease {
    /// A new, unowned lease that starts at the shard's oldest record.
    pub fn new_for_shard(shard_id: &str, parents: Vec<String>) -> Lease {
        Lease {
            key: shard_id.into(),
            owner: None,
            counter: 0,
            checkpoint: TRIM_HORIZON.into(),
            owner_switches: 0,
            parents,
            figures: Figures::default(),
        }
    }
}
