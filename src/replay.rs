//! Reading the `votes` log from Kafka for `votechain replay` and `recount`: a consumer of
//! its own (no group membership, nothing committed, `read_committed`), the high watermarks
//! that make a consistent cut, and [`read_log`], which feeds the core's `ReplayEngine`
//! partition by partition up to given end offsets or until given chain tips are reached.

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::time::Duration;
use votechain_core::linking::Record;
use votechain_core::model::VoteItem;
pub use votechain_core::replay::{ReplayEngine, count};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the log did not reach {what} within {secs} s (is the writer running?)")]
    Stalled { what: String, secs: u64 },
    /// Records before `low` are gone from partition `partition` (retention): a replay from
    /// the start cannot reproduce the chain, and says so rather than count a part of it.
    #[error(
        "{topic}/{partition} starts at offset {low}: earlier records were deleted (retention.ms must be -1); the log cannot reproduce the chain"
    )]
    Trimmed {
        topic: String,
        partition: i32,
        low: i64,
    },
}

/// Fails when any partition of `topic` no longer starts where reading `from` it would
/// (offset 0 for a partition `from` does not name): the log was trimmed under it.
pub async fn assert_complete(
    c: &std::sync::Arc<StreamConsumer>,
    topic: &str,
    partitions: impl Iterator<Item = i32>,
    from: &BTreeMap<i32, i64>,
) -> Result<(), ReplayError> {
    for p in partitions {
        let (c2, t2) = (c.clone(), topic.to_string());
        let (low, _) = tokio::task::spawn_blocking(move || {
            c2.fetch_watermarks(&t2, p, Duration::from_secs(10))
        })
        .await
        .expect("watermark task")?;
        if low > from.get(&p).copied().unwrap_or(0) {
            return Err(ReplayError::Trimmed {
                topic: topic.into(),
                partition: p,
                low,
            });
        }
    }
    Ok(())
}

/// Where to stop reading.
pub enum Until<'a> {
    /// Every partition read up to (excluding) these offsets, and nothing beyond them: a
    /// record past its partition's cut is read and left out (recount's consistent cut).
    Offsets(&'a BTreeMap<i32, i64>),
    /// Every partition read at least up to these offsets, and every record read fed: for a
    /// reader that goes on reading after (replay's bulk before its freeze). A cut's last
    /// offset may be a transaction marker, never delivered, so the first record seen past
    /// it can come before the reader knows it has reached the cut: dropping it would lose
    /// it for the next stage.
    AtLeast(&'a BTreeMap<i32, i64>),
    /// Every chain of `election` replayed up to these seqs.
    Tips {
        election: &'a str,
        tips: &'a BTreeMap<u32, u64>,
    },
}

/// A consumer of its own: no group membership, nothing committed, `read_committed`.
pub fn consumer(base: &ClientConfig) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
    let mut c = base.clone();
    c.set(
        "group.id",
        format!("votechain-replay-{}", uuid::Uuid::new_v4()),
    )
    .set("enable.auto.commit", "false")
    .set("enable.auto.offset.store", "false")
    .set("isolation.level", "read_committed")
    .set("auto.offset.reset", "earliest")
    .set("enable.partition.eof", "false");
    c.create()
}

/// Partitions of the topic and their high watermarks now.
pub async fn high_watermarks(
    c: &std::sync::Arc<StreamConsumer>,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, rdkafka::error::KafkaError> {
    let (c, topic) = (c.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let md = c.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        let mut out = BTreeMap::new();
        for t in md.topics() {
            for p in t.partitions() {
                out.insert(
                    p.id(),
                    c.fetch_watermarks(&topic, p.id(), Duration::from_secs(10))?
                        .1,
                );
            }
        }
        Ok(out)
    })
    .await
    .expect("metadata task")
}

/// Assigns every partition at `from` (default: the beginning).
pub fn assign(
    c: &StreamConsumer,
    topic: &str,
    partitions: impl Iterator<Item = i32>,
    from: &BTreeMap<i32, i64>,
) -> Result<(), rdkafka::error::KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        let off = from
            .get(&p)
            .map(|o| Offset::Offset(*o))
            .unwrap_or(Offset::Beginning);
        tpl.add_partition_offset(topic, p, off)?;
    }
    c.assign(&tpl)
}

/// Reads until `until` holds, feeding the engine partition by partition; calls `on_votes`
/// with every chained vote and `progress` with the records read so far.
pub async fn read_log(
    c: &std::sync::Arc<StreamConsumer>,
    engine: &mut ReplayEngine,
    until: Until<'_>,
    idle_limit: Duration,
    mut on_votes: impl FnMut(&[VoteItem]),
    mut progress: impl FnMut(u64),
) -> Result<(), ReplayError> {
    let mut pending: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    let mut positions: BTreeMap<i32, i64> = BTreeMap::new();
    let mut last_progress = tokio::time::Instant::now();
    loop {
        // Tips are checked on the votes fed so far: flush first so a pending vote counts.
        if matches!(until, Until::Tips { .. }) {
            flush(engine, &mut pending, &mut on_votes);
        }
        let done = match &until {
            Until::Offsets(ends) | Until::AtLeast(ends) => ends
                .iter()
                .all(|(p, end)| positions.get(p).copied().unwrap_or(0) >= *end || *end == 0),
            Until::Tips { election, tips } => tips
                .iter()
                .all(|(ch, seq)| engine.tip(election, *ch).seq >= *seq),
        };
        if done {
            flush(engine, &mut pending, &mut on_votes);
            progress(engine.records);
            return Ok(());
        }
        match tokio::time::timeout(Duration::from_millis(200), c.recv()).await {
            Ok(Ok(m)) => {
                let (p, off) = (m.partition(), m.offset());
                tracing::trace!(p, off, "replay record");
                if let Until::Offsets(ends) = &until
                    && off >= ends.get(&p).copied().unwrap_or(i64::MAX)
                {
                    positions.insert(p, off);
                    continue; // beyond the cut: not ours to count this time
                }
                pending
                    .entry(p)
                    .or_default()
                    .push(crate::kafka::record_of(&m));
                positions.insert(p, off + 1);
                last_progress = tokio::time::Instant::now();
                if pending.values().map(Vec::len).sum::<usize>() >= 500 {
                    flush(engine, &mut pending, &mut on_votes);
                    progress(engine.records);
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "replay consumer error; continuing"),
            Err(_) => {
                flush(engine, &mut pending, &mut on_votes);
                progress(engine.records);
                // Transaction markers at the end of a partition are never delivered: ask the
                // consumer where it stands.
                if let Ok(pos) = c.position() {
                    tracing::debug!(
                        ?pos,
                        ?positions,
                        records = engine.records,
                        "replay position after idle"
                    );
                    for e in pos.elements() {
                        if let Offset::Offset(o) = e.offset() {
                            let cur = positions.entry(e.partition()).or_default();
                            *cur = (*cur).max(o);
                        }
                    }
                }
                if last_progress.elapsed() > idle_limit {
                    let what = match &until {
                        Until::Offsets(e) | Until::AtLeast(e) => format!("offsets {e:?}"),
                        Until::Tips { tips, .. } => format!("chain tips {tips:?}"),
                    };
                    return Err(ReplayError::Stalled {
                        what,
                        secs: idle_limit.as_secs(),
                    });
                }
            }
        }
    }
}

fn flush(
    engine: &mut ReplayEngine,
    pending: &mut BTreeMap<i32, Vec<Record>>,
    on_votes: &mut impl FnMut(&[VoteItem]),
) {
    for (p, recs) in std::mem::take(pending) {
        let votes = engine.feed(p, &recs);
        on_votes(&votes);
    }
}
