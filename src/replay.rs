//! Deterministic replay of the `votes` log: the same acceptance rule (`model::accept_event`)
//! and the same linking function (`actors::chain_writer::plan_batch`) as the ChainWriter,
//! so a replay reproduces every chained vote's seq AND hash, not just the counts.
//!
//! [`ReplayEngine`] is pure (feed it records per partition in offset order). [`read_log`]
//! drives it from Kafka with a consumer of its own (no group, nothing committed) up to
//! given end offsets or until given chain tips are reached. `votechain replay` (through the
//! `Replay` actor) and `votechain recount` are built on these.

use crate::actors::chain_writer::{ChainKey, Record, plan_batch};
use crate::chain::Tip;
use crate::dynamo::items::VoteItem;
use crate::model::{Registry, accept_event};
use crate::projector::results::Deltas;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

/// Folds the log into chained votes, exactly as the ChainWriters did.
pub struct ReplayEngine {
    registry: Registry,
    topic: String,
    tips: HashMap<ChainKey, Tip>,
    seen: HashSet<(String, String)>,
    pub records: u64,
    pub invalid: u64,
    pub duplicates: u64,
}

impl ReplayEngine {
    pub fn new(registry: Registry, topic: &str) -> ReplayEngine {
        ReplayEngine { registry, topic: topic.into(), tips: HashMap::new(), seen: HashSet::new(), records: 0, invalid: 0, duplicates: 0 }
    }

    /// Feeds one partition's consecutive records; returns the votes they chain, in order.
    pub fn feed(&mut self, partition: i32, records: &[Record]) -> Vec<VoteItem> {
        let Some(last) = records.last() else { return vec![] };
        self.records += records.len() as u64;
        let accepted: Vec<_> = records
            .iter()
            .filter_map(|r| match accept_event(&self.registry, &r.payload) {
                Ok(ev) => Some((r.offset, ev)),
                Err(_) => {
                    self.invalid += 1;
                    None
                }
            })
            .collect();
        let plan = plan_batch(&self.tips, &accepted, &self.seen, &self.registry, &self.topic, partition, last.offset);
        self.duplicates += plan.duplicates;
        self.tips.extend(plan.tips);
        plan.votes
            .into_iter()
            .map(|(v, _)| {
                self.seen.insert((v.election_id.clone(), v.vote_id.clone()));
                v
            })
            .collect()
    }

    /// The replayed tip of a chain (genesis if none).
    pub fn tip(&self, election: &str, chain: u32) -> Tip {
        self.tips.get(&(election.to_string(), chain)).copied().unwrap_or_else(|| Tip::genesis(election, chain))
    }
}

/// Counts of one election as the read model stores them: `counter -> n`.
pub type Counts = BTreeMap<crate::projector::results::Counter, i64>;

/// Counts `votes` of `election` (only those with seq <= `limit[chain]` when given).
pub fn count(votes: &[VoteItem], election: &str, limit: Option<&BTreeMap<u32, u64>>) -> Counts {
    let mut d = Deltas::default();
    for v in votes.iter().filter(|v| v.election_id == election) {
        if limit.is_none_or(|l| v.seq <= l.get(&v.chain).copied().unwrap_or(0)) {
            d.add("", v);
        }
    }
    d.of(election)
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("the log did not reach {what} within {secs} s (is the writer running?)")]
    Stalled { what: String, secs: u64 },
}

/// Where to stop reading.
pub enum Until<'a> {
    /// Every partition read up to (excluding) these offsets.
    Offsets(&'a BTreeMap<i32, i64>),
    /// Every chain of `election` replayed up to these seqs.
    Tips { election: &'a str, tips: &'a BTreeMap<u32, u64> },
}

/// A consumer of its own: no group membership, nothing committed, `read_committed`.
pub fn consumer(base: &ClientConfig) -> Result<StreamConsumer, rdkafka::error::KafkaError> {
    let mut c = base.clone();
    c.set("group.id", format!("votechain-replay-{}", uuid::Uuid::new_v4()))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    c.create()
}

/// Partitions of the topic and their high watermarks now.
pub async fn high_watermarks(c: &std::sync::Arc<StreamConsumer>, topic: &str) -> Result<BTreeMap<i32, i64>, rdkafka::error::KafkaError> {
    let (c, topic) = (c.clone(), topic.to_string());
    tokio::task::spawn_blocking(move || {
        let md = c.fetch_metadata(Some(&topic), Duration::from_secs(10))?;
        let mut out = BTreeMap::new();
        for t in md.topics() {
            for p in t.partitions() {
                out.insert(p.id(), c.fetch_watermarks(&topic, p.id(), Duration::from_secs(10))?.1);
            }
        }
        Ok(out)
    })
    .await
    .expect("metadata task")
}

/// Assigns every partition at `from` (default: the beginning).
pub fn assign(c: &StreamConsumer, topic: &str, partitions: impl Iterator<Item = i32>, from: &BTreeMap<i32, i64>) -> Result<(), rdkafka::error::KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for p in partitions {
        let off = from.get(&p).map(|o| Offset::Offset(*o)).unwrap_or(Offset::Beginning);
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
            Until::Offsets(ends) => ends.iter().all(|(p, end)| positions.get(p).copied().unwrap_or(0) >= *end || *end == 0),
            Until::Tips { election, tips } => tips.iter().all(|(ch, seq)| engine.tip(election, *ch).seq >= *seq),
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
                if let Until::Offsets(ends) = &until {
                    if off >= ends.get(&p).copied().unwrap_or(i64::MAX) {
                        positions.insert(p, off);
                        continue; // beyond the cut: not ours to count this time
                    }
                }
                pending.entry(p).or_default().push(Record { offset: off, payload: m.payload().unwrap_or_default().to_vec() });
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
                    tracing::debug!(?pos, ?positions, records = engine.records, "replay position after idle");
                    for e in pos.elements() {
                        if let Offset::Offset(o) = e.offset() {
                            let cur = positions.entry(e.partition()).or_default();
                            *cur = (*cur).max(o);
                        }
                    }
                }
                if last_progress.elapsed() > idle_limit {
                    let what = match &until {
                        Until::Offsets(e) => format!("offsets {e:?}"),
                        Until::Tips { tips, .. } => format!("chain tips {tips:?}"),
                    };
                    return Err(ReplayError::Stalled { what, secs: idle_limit.as_secs() });
                }
            }
        }
    }
}

fn flush(engine: &mut ReplayEngine, pending: &mut BTreeMap<i32, Vec<Record>>, on_votes: &mut impl FnMut(&[VoteItem])) {
    for (p, recs) in std::mem::take(pending) {
        let votes = engine.feed(p, &recs);
        on_votes(&votes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Election, VoteEvent};

    fn reg() -> Registry {
        Registry::new([Election {
            id: "e".into(),
            candidates: ["a".to_string(), "b".to_string()].into(),
            regions: ["r".to_string()].into(),
            chains: 1,
            open: true,
        }])
    }
    fn rec(off: i64, n: u32, cand: &str) -> Record {
        let ev = VoteEvent {
            v: 1, election_id: "e".into(), chain: 0, vote_id: format!("00000000-0000-4000-8000-{n:012}"),
            candidate_id: cand.into(), region_id: "r".into(), cast_at_ms: n as i64,
        };
        Record { offset: off, payload: ev.to_bytes() }
    }

    #[test]
    fn two_replays_of_the_same_log_are_identical_with_duplicates_and_garbage() {
        let log = [rec(0, 1, "a"), rec(1, 2, "b"), rec(2, 1, "b"), Record { offset: 3, payload: b"junk".to_vec() }, rec(4, 3, "a")];
        let run = |chunk: usize| {
            let mut e = ReplayEngine::new(reg(), "votes");
            let mut votes = vec![];
            for c in log.chunks(chunk) {
                votes.extend(e.feed(0, c));
            }
            (votes, e.duplicates, e.invalid)
        };
        let (a, dups, bad) = run(5);
        let (b, _, _) = run(2); // different batching, same result
        assert_eq!(a, b);
        assert_eq!((dups, bad), (1, 1));
        assert_eq!(a.iter().map(|v| v.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(a[0].candidate_id, "a", "the first submission of a vote_id wins");
        let c = count(&a, "e", None);
        assert_eq!(c[&crate::projector::results::Counter::Total], 3);
        let limited = count(&a, "e", Some(&BTreeMap::from([(0, 2)])));
        assert_eq!(limited[&crate::projector::results::Counter::Total], 2);
    }
}
