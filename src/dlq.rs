//! Reading the dead-letter topic (`votes-dlq`) for `votechain dlq list`: every record the
//! ChainWriter refused, with the reason it gave (`votechain-reason` header), where it came
//! from on `votes` (`votechain-source`: `partition/offset`) and when it was dead-lettered.
//! The vote's choice is in the record's payload; [`DeadLetter`] keeps it apart, so that
//! the command shows it only when asked.

use crate::replay;
use rdkafka::consumer::StreamConsumer;
use rdkafka::message::{Headers, Message};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use votechain_core::model::VoteEvent;

/// One dead-lettered record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// Its place on the dead-letter topic.
    pub dlq_partition: i32,
    pub dlq_offset: i64,
    /// Why the writer refused it: a bounded reason (`unknown_candidate`, `conflict`, ...).
    pub reason: String,
    /// `partition/offset` of the refused record on `votes`.
    pub source: String,
    /// When it was dead-lettered, ms since the Unix epoch (the record's timestamp).
    pub at_ms: Option<i64>,
    pub election_id: Option<String>,
    pub vote_id: Option<String>,
    /// The choice, `(candidate_id, region_id)`: kept out of every output unless asked for.
    #[serde(skip)]
    pub choice: Option<(String, String)>,
}

impl DeadLetter {
    /// Reads one record of the dead-letter topic (headers and payload as the writer wrote them).
    pub fn from_message(m: &impl Message) -> DeadLetter {
        let header = |k: &str| {
            let h = m.headers()?;
            let v = h.iter().find(|h| h.key == k)?.value?;
            Some(String::from_utf8_lossy(v).into_owned())
        };
        let event: Option<VoteEvent> = m.payload().and_then(|p| serde_json::from_slice(p).ok());
        DeadLetter {
            dlq_partition: m.partition(),
            dlq_offset: m.offset(),
            reason: header("votechain-reason").unwrap_or_else(|| "unknown".into()),
            source: header("votechain-source").unwrap_or_default(),
            at_ms: m.timestamp().to_millis(),
            election_id: event.as_ref().map(|e| e.election_id.clone()),
            vote_id: event.as_ref().map(|e| e.vote_id.clone()),
            choice: event.map(|e| (e.candidate_id, e.region_id)),
        }
    }
}

/// Every record on `topic` up to its high watermarks now, in partition and offset order.
pub async fn read_all(
    base: &rdkafka::ClientConfig,
    topic: &str,
    idle: Duration,
) -> Result<Vec<DeadLetter>, rdkafka::error::KafkaError> {
    let consumer: Arc<StreamConsumer> = Arc::new(replay::consumer(base)?);
    let ends = replay::high_watermarks(&consumer, topic).await?;
    replay::assign(&consumer, topic, ends.keys().copied(), &BTreeMap::new())?;
    let mut out = Vec::new();
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let done = |next: &BTreeMap<i32, i64>| {
        ends.iter()
            .all(|(p, end)| next.get(p).copied().unwrap_or(0) >= *end)
    };
    while !done(&next) {
        match tokio::time::timeout(idle, consumer.recv()).await {
            Ok(Ok(m)) => {
                next.insert(m.partition(), m.offset() + 1);
                out.push(DeadLetter::from_message(&m));
            }
            Ok(Err(e)) => return Err(e),
            // Transaction markers are never delivered: nothing more within `idle` is the end.
            Err(_) => break,
        }
    }
    out.sort_by_key(|d| (d.dlq_partition, d.dlq_offset));
    Ok(out)
}

/// Records per reason.
pub fn count_by_reason(letters: &[DeadLetter]) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for d in letters {
        *out.entry(d.reason.clone()).or_default() += 1;
    }
    out
}
