//! DynamoDB Streams calls for the projector: the ledger's stream ARN, shard discovery
//! with paging, iterators from a checkpoint, records, and turning a stream record back
//! into a ledger vote item.

use crate::dynamo::items::{self, VoteItem};
use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::error::ProvideErrorMetadata;
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as SAttr, OperationType, Record, ShardIteratorType,
};
use std::collections::HashMap;
use votechain_core::lease::TRIM_HORIZON;
use votechain_core::shards::Shard;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StreamError {
    /// The iterator is older than 15 minutes: get a new one from the last sequence number.
    #[error("shard iterator expired")]
    IteratorExpired,
    /// The records at the iterator were trimmed (older than 24 h): data the projection never saw.
    #[error("trimmed data: {0}")]
    Trimmed(String),
    /// The shard (or stream) is no longer listed (`ResourceNotFoundException`): its records
    /// expired. Whatever was not applied from it is lost (KCL's adapter treats the shard
    /// as ended; we also count the loss and mark the projection "needs replay").
    #[error("shard gone from the stream: {0}")]
    Gone(String),
    #[error("streams {op} throttled or unavailable: {detail}")]
    Retry { op: &'static str, detail: String },
    #[error("streams {op} failed: {detail}")]
    Fatal { op: &'static str, detail: String },
}

fn err<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    op: &'static str,
    e: &aws_sdk_dynamodbstreams::error::SdkError<E, R>,
) -> StreamError {
    use aws_sdk_dynamodbstreams::error::SdkError;
    let detail = match e {
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("?"),
            se.err().message().unwrap_or("")
        ),
        other => format!("{other:?}"),
    };
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StreamError::Retry { op, detail }
        }
        SdkError::ServiceError(se) => match se.err().code().unwrap_or_default() {
            "ExpiredIteratorException" => StreamError::IteratorExpired,
            "TrimmedDataAccessException" => StreamError::Trimmed(detail),
            "ResourceNotFoundException" if op != "DescribeStream" => StreamError::Gone(detail),
            "LimitExceededException"
            | "ThrottlingException"
            | "InternalServerError"
            | "ServiceUnavailable" => StreamError::Retry { op, detail },
            _ => StreamError::Fatal { op, detail },
        },
        _ => StreamError::Fatal { op, detail },
    }
}

/// The ledger table's current stream.
pub async fn stream_arn(db: &aws_sdk_dynamodb::Client, table: &str) -> Result<String, StreamError> {
    let out = db
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| StreamError::Fatal {
            op: "DescribeTable",
            detail: crate::dynamo::describe(&e),
        })?;
    out.table()
        .and_then(|t| t.latest_stream_arn())
        .map(String::from)
        .ok_or_else(|| StreamError::Fatal {
            op: "DescribeTable",
            detail: format!("table {table} has no stream; run setup-tables"),
        })
}

/// Every shard of the stream, following `LastEvaluatedShardId` pages.
pub async fn list_shards(c: &Client, arn: &str) -> Result<Vec<Shard>, StreamError> {
    Ok(describe(c, arn).await?.shards)
}

/// What DescribeStream says of the stream: its shards and when it was created.
#[derive(Debug, Clone, Default)]
pub struct StreamView {
    pub shards: Vec<Shard>,
    /// `CreationRequestDateTime` in ms (0 when not reported).
    pub created_ms: i64,
}

/// Every shard of the stream, following `LastEvaluatedShardId` pages, and its age.
pub async fn describe(c: &Client, arn: &str) -> Result<StreamView, StreamError> {
    let mut view = StreamView::default();
    let out = &mut view.shards;
    let mut start: Option<String> = None;
    loop {
        let r = c
            .describe_stream()
            .stream_arn(arn)
            .set_exclusive_start_shard_id(start.clone())
            .send()
            .await
            .map_err(|e| err("DescribeStream", &e))?;
        let Some(desc) = r.stream_description() else {
            break;
        };
        if let Some(t) = desc.creation_request_date_time() {
            view.created_ms = t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000);
        }
        for s in desc.shards() {
            out.push(Shard {
                id: s.shard_id().unwrap_or_default().to_string(),
                parent: s.parent_shard_id().map(String::from),
                closed: s
                    .sequence_number_range()
                    .and_then(|r| r.ending_sequence_number())
                    .is_some(),
            });
        }
        match desc.last_evaluated_shard_id() {
            Some(last) if Some(last) != start.as_deref() => start = Some(last.to_string()),
            _ => break,
        }
    }
    Ok(view)
}

/// An iterator positioned after the checkpoint (or at the trim horizon).
pub async fn iterator(
    c: &Client,
    arn: &str,
    shard: &str,
    checkpoint: &str,
) -> Result<Option<String>, StreamError> {
    let req = c.get_shard_iterator().stream_arn(arn).shard_id(shard);
    let req = if checkpoint == TRIM_HORIZON {
        req.shard_iterator_type(ShardIteratorType::TrimHorizon)
    } else {
        req.shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
            .sequence_number(checkpoint)
    };
    let r = req.send().await.map_err(|e| err("GetShardIterator", &e))?;
    Ok(r.shard_iterator().map(String::from))
}

/// One GetRecords call: the records and the next iterator (`None`: the shard is closed and read to its end).
/// One GetRecords answer: the records and the next iterator (`None`: the shard is closed
/// and read to its end).
pub type Batch = (Vec<Record>, Option<String>);

pub async fn records(c: &Client, iterator: &str, limit: i32) -> Result<Batch, StreamError> {
    let r = c
        .get_records()
        .shard_iterator(iterator)
        .limit(limit)
        .send()
        .await
        .map_err(|e| err("GetRecords", &e))?;
    Ok((
        r.records().to_vec(),
        r.next_shard_iterator().map(String::from),
    ))
}

fn convert(v: &SAttr) -> Option<aws_sdk_dynamodb::types::AttributeValue> {
    use aws_sdk_dynamodb::types::AttributeValue as D;
    Some(match v {
        SAttr::S(s) => D::S(s.clone()),
        SAttr::N(n) => D::N(n.clone()),
        _ => return None,
    })
}

/// A change to a vote item that the append-only ledger never makes: `modify` or `remove`
/// (the writer only creates vote items). `None` for inserts and for other items (markers,
/// checkpoints and log items are updated legitimately).
pub fn mutation_of(r: &Record) -> Option<&'static str> {
    let kind = match r.event_name()? {
        OperationType::Modify => "modify",
        OperationType::Remove => "remove",
        _ => return None,
    };
    let keys = r.dynamodb()?.keys()?;
    let pk = keys.get("pk").and_then(|v| v.as_s().ok())?;
    let sk = keys.get("sk").and_then(|v| v.as_s().ok())?;
    (pk.starts_with("ELECTION#") && sk.starts_with("VOTE#")).then_some(kind)
}

/// Why an inserted vote item is outside its election's manifest (never counted), or
/// `None` when the manifest admits it: a known election, one of its chains, one of its
/// candidates and regions.
pub fn outside_manifest(
    registry: &votechain_core::model::Registry,
    v: &VoteItem,
) -> Option<&'static str> {
    let Some(e) = registry.get(&v.election_id) else {
        return Some("unknown election");
    };
    if v.chain >= e.chains {
        Some("no such chain")
    } else if !e.candidates.contains(&v.candidate_id) {
        Some("unknown candidate")
    } else if !e.regions.contains(&v.region_id) {
        Some("unknown region")
    } else {
        None
    }
}

/// The vote item a stream record inserted; `None` for anything else (markers, checkpoints).
pub fn vote_of(r: &Record) -> Option<Result<VoteItem, items::ItemError>> {
    if r.event_name() != Some(&OperationType::Insert) {
        return None;
    }
    let img = r.dynamodb()?.new_image()?;
    let pk = img.get("pk").and_then(|v| v.as_s().ok())?;
    if !pk.starts_with("ELECTION#") {
        return None;
    }
    let item: HashMap<String, _> = img
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), convert(v)?)))
        .collect();
    Some(items::parse_vote(&item))
}

/// Sequence number of a record.
pub fn seq_of(r: &Record) -> Option<&str> {
    r.dynamodb()?.sequence_number()
}

/// `ApproximateCreationDateTime` in milliseconds (DynamoDB rounds it down; DynamoDB Local to
/// the minute).
pub fn created_ms(r: &Record) -> Option<i64> {
    r.dynamodb()?
        .approximate_creation_date_time()
        .map(|t| t.secs() * 1000 + i64::from(t.subsec_nanos() / 1_000_000))
}

/// When the writer's transaction that made this record was sent, to the millisecond: the
/// `updated_at_ms` of a partition checkpoint record (every append moves one). `None` for
/// other records.
pub fn checkpoint_written_ms(r: &Record) -> Option<i64> {
    let img = r.dynamodb()?.new_image()?;
    img.get("pk")
        .and_then(|v| v.as_s().ok())
        .filter(|pk| pk.starts_with("CHECKPOINT#"))?;
    img.get("updated_at_ms")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
}

/// The best estimate of when the newest of these records was written: the latest of their
/// creation times and of the checkpoint records' own clocks (precise where the creation
/// time is rounded down). Stream lag is `now` minus this.
pub fn newest_written_ms(recs: &[Record]) -> Option<i64> {
    recs.iter()
        .filter_map(|r| created_ms(r).max(checkpoint_written_ms(r)))
        .max()
}

/// The same for the oldest record: its creation time, or the first checkpoint clock after
/// it when that is later (the creation time was rounded down).
pub fn oldest_written_ms(recs: &[Record]) -> Option<i64> {
    let first = created_ms(recs.first()?);
    let precise = recs.iter().find_map(checkpoint_written_ms);
    first.max(precise).or(precise)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::primitives::DateTime;
    use aws_sdk_dynamodbstreams::types::StreamRecord;

    fn rec(pk: &str, created_s: i64, updated_at_ms: Option<i64>) -> Record {
        let mut img = HashMap::from([("pk".to_string(), SAttr::S(pk.into()))]);
        if let Some(u) = updated_at_ms {
            img.insert("updated_at_ms".into(), SAttr::N(u.to_string()));
        }
        let sr = StreamRecord::builder()
            .approximate_creation_date_time(DateTime::from_secs(created_s))
            .set_new_image(Some(img))
            .build();
        Record::builder()
            .event_name(OperationType::Modify)
            .dynamodb(sr)
            .build()
    }

    fn keyed(event: OperationType, pk: &str, sk: &str) -> Record {
        let keys = HashMap::from([
            ("pk".to_string(), SAttr::S(pk.into())),
            ("sk".to_string(), SAttr::S(sk.into())),
        ]);
        Record::builder()
            .event_name(event)
            .dynamodb(StreamRecord::builder().set_keys(Some(keys)).build())
            .build()
    }

    #[test]
    fn only_changes_to_vote_items_are_mutations() {
        let vote = ("ELECTION#e#1", "VOTE#00000000000000000007");
        assert_eq!(
            mutation_of(&keyed(OperationType::Modify, vote.0, vote.1)),
            Some("modify")
        );
        assert_eq!(
            mutation_of(&keyed(OperationType::Remove, vote.0, vote.1)),
            Some("remove")
        );
        assert_eq!(
            mutation_of(&keyed(OperationType::Insert, vote.0, vote.1)),
            None
        );
        // The writer's checkpoints and the publisher's log items change legitimately.
        for (pk, sk) in [
            ("CHECKPOINT#votes#0", "CHECKPOINT"),
            ("LOG#e#0", "CHECKPOINT"),
            ("VOTEID#e#x", "VOTEID"),
        ] {
            assert_eq!(
                mutation_of(&keyed(OperationType::Modify, pk, sk)),
                None,
                "{pk}"
            );
        }
    }

    #[test]
    fn votes_outside_the_manifest_are_named() {
        use votechain_core::model::{Election, Registry};
        let reg = Registry::new([Election::v1("e", &["a", "b"], &["n"], 2)]);
        let v = |e: &str, chain: u32, c: &str, r: &str| VoteItem {
            election_id: e.into(),
            chain,
            seq: 1,
            vote_id: "v".into(),
            candidate_id: c.into(),
            region_id: r.into(),
            cast_at_ms: 0,
            salt: None,
            prev_hash: [0; 32],
            hash: [0; 32],
            kafka_topic: "votes".into(),
            kafka_partition: 0,
            kafka_offset: 0,
        };
        assert_eq!(outside_manifest(&reg, &v("e", 1, "b", "n")), None);
        assert_eq!(
            outside_manifest(&reg, &v("x", 0, "a", "n")),
            Some("unknown election")
        );
        assert_eq!(
            outside_manifest(&reg, &v("e", 2, "a", "n")),
            Some("no such chain")
        );
        assert_eq!(
            outside_manifest(&reg, &v("e", 0, "z", "n")),
            Some("unknown candidate")
        );
        assert_eq!(
            outside_manifest(&reg, &v("e", 0, "a", "s")),
            Some("unknown region")
        );
    }

    #[test]
    fn checkpoint_clocks_sharpen_rounded_creation_times() {
        // Creation times rounded down to the minute (DynamoDB Local): 60 s.
        let recs = [
            rec("ELECTION#e#0", 60, None),
            rec("CHECKPOINT#votes#0", 60, Some(105_250)),
            rec("ELECTION#e#0", 60, None),
        ];
        assert_eq!(checkpoint_written_ms(&recs[1]), Some(105_250));
        assert_eq!(checkpoint_written_ms(&recs[0]), None);
        assert_eq!(newest_written_ms(&recs), Some(105_250));
        assert_eq!(oldest_written_ms(&recs), Some(105_250));
        // Without a checkpoint record: the creation times as they are.
        assert_eq!(newest_written_ms(&recs[2..]), Some(60_000));
        assert_eq!(oldest_written_ms(&recs[..1]), Some(60_000));
        // A creation time later than the clock wins (the clock is only a lower bound).
        let late = [rec("CHECKPOINT#votes#0", 200, Some(105_250))];
        assert_eq!(newest_written_ms(&late), Some(200_000));
        assert_eq!(oldest_written_ms(&[]), None);
    }
}
