//! The "needs replay" state: stream records the read model may never have seen.
//!
//! DynamoDB Streams keeps records 24 hours. A projector down or lagging longer, a parent
//! shard dropped from the stream before it was finished, or a first start on a stream
//! older than its retention all mean some votes may never reach the counts. The projector
//! cannot know which elections they were (the records are gone), so every election it
//! serves is marked, and stays marked until a `votechain replay` rebuilt it from Kafka
//! after the last loss.
//!
//! One item in the lease table (`leaseKey = "votechain#needs-replay"`): `elections` (SS),
//! `since_ms` (first loss), `last_ms`, `reason` and `shard` (last loss), `events` (N).
//! Shown by `/v1/scaling`, the status page and `recount`; exported as
//! `votechain_projection_needs_replay`; each loss counts in
//! `votechain_projector_records_lost_total{reason}`.

use crate::dynamo::describe;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use std::collections::HashMap;

pub const NEEDS_REPLAY_KEY: &str = "votechain#needs-replay";

/// Why records were lost (the `reason` label; bounded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// `TrimmedDataAccessException` after a checkpoint: records expired unread.
    Trimmed,
    /// The shard left the stream (`ResourceNotFoundException`) before it was read to its end.
    ShardGone,
    /// A child appeared whose parent the stream had already dropped, unread.
    LineageGap,
    /// First start on a stream older than its retention: its oldest records may be gone.
    OldStream,
}

impl LossReason {
    pub const ALL: [LossReason; 4] = [
        LossReason::Trimmed,
        LossReason::ShardGone,
        LossReason::LineageGap,
        LossReason::OldStream,
    ];

    pub fn label(self) -> &'static str {
        match self {
            LossReason::Trimmed => "trimmed",
            LossReason::ShardGone => "shard_gone",
            LossReason::LineageGap => "lineage_gap",
            LossReason::OldStream => "old_stream",
        }
    }
}

/// What `/v1/scaling`, the status page and `recount` show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeedsReplay {
    pub elections: Vec<String>,
    pub since_ms: i64,
    pub last_ms: i64,
    pub reason: String,
    pub shard: String,
    pub events: i64,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("needs-replay state {op}: {detail}")]
pub struct LossError {
    pub op: &'static str,
    pub detail: String,
}

fn key() -> HashMap<String, AttributeValue> {
    HashMap::from([(
        "leaseKey".to_string(),
        AttributeValue::S(NEEDS_REPLAY_KEY.into()),
    )])
}

/// Counts a loss and marks `elections` as needing a replay (durably, before the caller
/// reads past the loss).
pub async fn mark(
    db: &Client,
    lease_table: &str,
    elections: &[String],
    reason: LossReason,
    shard: &str,
) -> Result<(), LossError> {
    if !elections.is_empty() {
        write_mark(db, lease_table, elections, reason, shard).await?;
    }
    // Counted once marked (a failed mark is retried by the caller and must not count twice).
    metrics::counter!(crate::metrics::PROJECTOR_RECORDS_LOST, "reason" => reason.label())
        .increment(1);
    tracing::error!(reason = reason.label(), %shard, ?elections,
        "STREAM RECORDS LOST: the read model may miss votes; marked \"needs replay\". Run `votechain replay --election E` for each.");
    Ok(())
}

async fn write_mark(
    db: &Client,
    lease_table: &str,
    elections: &[String],
    reason: LossReason,
    shard: &str,
) -> Result<(), LossError> {
    let now = crate::now_ms();
    db.update_item()
        .table_name(lease_table)
        .set_key(Some(key()))
        .update_expression(
            "ADD #el :e, #ev :one SET #last = :now, #since = if_not_exists(#since, :now), #why = :r, #sh = :s",
        )
        .expression_attribute_names("#el", "elections")
        .expression_attribute_names("#ev", "events")
        .expression_attribute_names("#last", "last_ms")
        .expression_attribute_names("#since", "since_ms")
        .expression_attribute_names("#why", "reason")
        .expression_attribute_names("#sh", "shard")
        .expression_attribute_values(":e", AttributeValue::Ss(elections.to_vec()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(":r", AttributeValue::S(reason.label().into()))
        .expression_attribute_values(":s", AttributeValue::S(shard.into()))
        .send()
        .await
        .map_err(|e| LossError {
            op: "UpdateItem(mark)",
            detail: describe(&e),
        })?;
    Ok(())
}

/// The current state (consistent read); `None` when no election needs a replay.
pub async fn read(db: &Client, lease_table: &str) -> Result<Option<NeedsReplay>, LossError> {
    let item = crate::dynamo::get_consistent(db, lease_table, key())
        .await
        .map_err(|e| LossError {
            op: "GetItem",
            detail: describe(&e),
        })?;
    Ok(item.as_ref().and_then(parse))
}

fn parse(it: &HashMap<String, AttributeValue>) -> Option<NeedsReplay> {
    let mut elections = it.get("elections")?.as_ss().ok()?.clone();
    if elections.is_empty() {
        return None;
    }
    elections.sort();
    let n = |k: &str| {
        it.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let s = |k: &str| {
        it.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    Some(NeedsReplay {
        elections,
        since_ms: n("since_ms"),
        last_ms: n("last_ms"),
        reason: s("reason"),
        shard: s("shard"),
        events: n("events"),
    })
}

/// After a replay of `election` that began reading at `started_ms` switched in: clears the
/// election, unless a loss was marked after the replay began (that one it may not cover).
/// Returns whether it was cleared.
pub async fn clear(
    db: &Client,
    lease_table: &str,
    election: &str,
    started_ms: i64,
) -> Result<bool, LossError> {
    let r = db
        .update_item()
        .table_name(lease_table)
        .set_key(Some(key()))
        .update_expression("DELETE #el :e")
        .condition_expression("attribute_not_exists(#last) OR #last < :started")
        .expression_attribute_names("#el", "elections")
        .expression_attribute_names("#last", "last_ms")
        .expression_attribute_values(":e", AttributeValue::Ss(vec![election.into()]))
        .expression_attribute_values(":started", AttributeValue::N(started_ms.to_string()))
        .send()
        .await;
    match r {
        Ok(_) => Ok(true),
        Err(e) if crate::dynamo::classify(&e) == crate::dynamo::ErrorClass::Conditional => {
            Ok(false)
        }
        Err(e) => Err(LossError {
            op: "UpdateItem(clear)",
            detail: describe(&e),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_missing_set_needs_nothing() {
        assert_eq!(parse(&HashMap::new()), None);
        let it = HashMap::from([
            (
                "elections".to_string(),
                AttributeValue::Ss(vec!["b".into(), "a".into()]),
            ),
            ("since_ms".to_string(), AttributeValue::N("5".into())),
            ("reason".to_string(), AttributeValue::S("trimmed".into())),
        ]);
        let got = parse(&it).unwrap();
        assert_eq!(got.elections, vec!["a", "b"]);
        assert_eq!(got.since_ms, 5);
        assert_eq!(got.reason, "trimmed");
    }

    #[test]
    fn reasons_are_bounded_labels() {
        let labels: Vec<_> = LossReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(
            labels,
            ["trimmed", "shard_gone", "lineage_gap", "old_stream"]
        );
    }
}
