//! Deterministic replay of the `votes` log: the same acceptance rule (`model::accept_event`)
//! and the same linking function (`linking::plan_batch`) as the ChainWriter, so a replay
//! reproduces every chained vote's seq AND hash, not just the counts.
//!
//! [`ReplayEngine`] is pure: feed it records per partition in offset order. The node's
//! `replay::read_log` drives it from Kafka; `votechain replay` and `votechain recount` are
//! built on both.

use crate::chain::Tip;
use crate::counts::{Counts, Deltas};
use crate::linking::{ChainKey, Chained, Record, choice_of_item, plan_batch};
use crate::model::{Invalid, Registry, VoteItem, accept_event};
use std::collections::{BTreeMap, HashMap};

/// Folds the log into chained votes, exactly as the ChainWriters did.
pub struct ReplayEngine {
    registry: Registry,
    topic: String,
    tips: HashMap<ChainKey, Tip>,
    seen: Chained,
    pub records: u64,
    pub invalid: u64,
    pub duplicates: u64,
    /// Records the writer dead-lettered as conflicts (another ballot under a chained vote_id).
    pub conflicts: u64,
    /// The writers' provenance keys, when they require ingest's signature: the records they
    /// dead-lettered as `unauthenticated` are skipped here too.
    provenance: Option<BTreeMap<String, Vec<u8>>>,
    /// The partitions the config names: a record off its chain's partition is refused,
    /// as the writer refuses it (`None`: not checked).
    partitions: Option<u32>,
}

impl ReplayEngine {
    pub fn new(registry: Registry, topic: &str) -> ReplayEngine {
        ReplayEngine {
            registry,
            topic: topic.into(),
            tips: HashMap::new(),
            seen: Chained::new(),
            records: 0,
            invalid: 0,
            duplicates: 0,
            conflicts: 0,
            provenance: None,
            partitions: None,
        }
    }

    /// Refuses records off their chain's partition (`model::partition_of`), as the writers do.
    pub fn with_partitions(mut self, partitions: u32) -> ReplayEngine {
        self.partitions = Some(partitions);
        self
    }

    /// Requires ingest's signature under one of `keys`, as the writers do.
    pub fn with_provenance(mut self, keys: Option<BTreeMap<String, Vec<u8>>>) -> ReplayEngine {
        self.provenance = keys;
        self
    }

    /// The writer's acceptance rule: provenance (when required), then `accept_event`.
    fn accept(&self, partition: i32, r: &Record) -> Result<crate::model::VoteEvent, Invalid> {
        if let Some(keys) = &self.provenance {
            crate::provenance::verify(r.mac.as_deref(), keys, &r.payload)?;
        }
        let ev = accept_event(&self.registry, &r.payload)?;
        if let Some(n) = self.partitions {
            let want = crate::model::partition_of(&ev.election_id, ev.chain, n);
            if want != partition {
                return Err(Invalid::WrongPartition {
                    got: partition,
                    want,
                });
            }
        }
        Ok(ev)
    }

    /// Feeds one partition's consecutive records; returns the votes they chain, in order.
    pub fn feed(&mut self, partition: i32, records: &[Record]) -> Vec<VoteItem> {
        let Some(last) = records.last() else {
            return vec![];
        };
        self.records += records.len() as u64;
        let accepted: Vec<_> = records
            .iter()
            .filter_map(|r| match self.accept(partition, r) {
                Ok(ev) => Some((r.offset, ev)),
                Err(_) => {
                    self.invalid += 1;
                    None
                }
            })
            .collect();
        let plan = plan_batch(
            &self.tips,
            &accepted,
            &self.seen,
            &self.registry,
            &self.topic,
            partition,
            last.offset,
        );
        self.duplicates += plan.duplicates;
        self.conflicts += plan.conflicts.len() as u64;
        self.tips.extend(plan.tips);
        plan.votes
            .into_iter()
            .map(|(v, _)| {
                let choice = choice_of_item(&v);
                self.seen
                    .insert((v.election_id.clone(), v.vote_id.clone()), Some(choice));
                v
            })
            .collect()
    }

    /// The replayed tip of a chain (genesis if none).
    pub fn tip(&self, election: &str, chain: u32) -> Tip {
        self.tips
            .get(&(election.to_string(), chain))
            .copied()
            .or_else(|| self.registry.get(election).map(|e| e.tip0(chain)))
            .unwrap_or_else(|| Tip::genesis(election, chain))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Election, VoteEvent};

    fn reg() -> Registry {
        Registry::new([Election::v1("e", &["a", "b"], &["r"], 1)])
    }
    fn rec(off: i64, n: u32, cand: &str) -> Record {
        let ev = VoteEvent {
            v: 1,
            election_id: "e".into(),
            chain: 0,
            vote_id: format!("00000000-0000-4000-8000-{n:012}"),
            candidate_id: cand.into(),
            region_id: "r".into(),
            cast_at_ms: n as i64,
            salt: None,
        };
        Record {
            offset: off,
            payload: ev.to_bytes(),
            mac: None,
        }
    }

    #[test]
    fn two_replays_of_the_same_log_are_identical_with_duplicates_conflicts_and_garbage() {
        let log = [
            rec(0, 1, "a"),
            rec(1, 2, "b"),
            rec(2, 1, "b"),
            Record {
                offset: 3,
                payload: b"junk".to_vec(),
                mac: None,
            },
            rec(4, 3, "a"),
            rec(5, 2, "b"),
        ];
        let run = |chunk: usize| {
            let mut e = ReplayEngine::new(reg(), "votes");
            let mut votes = vec![];
            for c in log.chunks(chunk) {
                votes.extend(e.feed(0, c));
            }
            (votes, e.duplicates, e.conflicts, e.invalid)
        };
        let (a, dups, conflicts, bad) = run(6);
        let (b, ..) = run(2); // different batching, same result
        assert_eq!(a, b);
        assert_eq!(
            (dups, conflicts, bad),
            (1, 1, 1),
            "offset 5 a retry, offset 2 a conflict"
        );
        assert_eq!(a.iter().map(|v| v.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(
            a[0].candidate_id, "a",
            "the first submission of a vote_id wins"
        );
        let c = count(&a, "e", None);
        assert_eq!(c[&crate::counts::Counter::Total], 3);
        let limited = count(&a, "e", Some(&BTreeMap::from([(0, 2)])));
        assert_eq!(limited[&crate::counts::Counter::Total], 2);
    }
}
