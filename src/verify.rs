//! `votechain verify`: walks every chain of an election, recomputes every hash per the
//! contract, and reports what does not hold: a hash that does not match its data, a
//! `prev_hash` that does not match the previous vote, a gap in `seq`, an item that
//! cannot be read, a vote_id chained twice.
//!
//! [`ChainChecker`] is the pure part (feed it items in seq order); [`verify_election`]
//! pages through DynamoDB with consistent reads and feeds it.

use crate::chain::{self, Hash, Tip};
use crate::dynamo::items::{self, Item};
use crate::dynamo::ledger::{Ledger, LedgerError};
use serde::Serialize;
use std::collections::HashSet;

/// Most problems kept in a report; the count of all is kept separately.
const MAX_PROBLEMS: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The stored `hash` is not SHA256(vote_data || prev_hash): the vote's data or hash was changed.
    HashMismatch { chain: u32, seq: u64, expected: String, stored: String },
    /// The stored `prev_hash` is not the previous vote's hash: the link was cut or rewritten.
    PrevHashMismatch { chain: u32, seq: u64, expected: String, stored: String },
    /// `seq` does not follow the previous one.
    Gap { chain: u32, expected_seq: u64, found_seq: u64 },
    /// The item is unreadable or does not belong where it is stored.
    Corrupt { chain: u32, sk: String, detail: String },
    /// The same vote_id appears twice in the election.
    DuplicateVoteId { chain: u32, seq: u64, vote_id: String },
}

impl Problem {
    pub fn seq(&self) -> Option<u64> {
        match self {
            Problem::HashMismatch { seq, .. } | Problem::PrevHashMismatch { seq, .. } | Problem::DuplicateVoteId { seq, .. } => Some(*seq),
            Problem::Gap { found_seq, .. } => Some(*found_seq),
            Problem::Corrupt { .. } => None,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::HashMismatch { chain, seq, expected, stored } => {
                write!(f, "chain {chain} seq {seq}: hash mismatch: expected {expected}, stored {stored}")
            }
            Problem::PrevHashMismatch { chain, seq, expected, stored } => {
                write!(f, "chain {chain} seq {seq}: prev_hash mismatch: expected {expected}, stored {stored}")
            }
            Problem::Gap { chain, expected_seq, found_seq } => {
                write!(f, "chain {chain}: gap: expected seq {expected_seq}, found seq {found_seq}")
            }
            Problem::Corrupt { chain, sk, detail } => write!(f, "chain {chain} {sk}: corrupt item: {detail}"),
            Problem::DuplicateVoteId { chain, seq, vote_id } => {
                write!(f, "chain {chain} seq {seq}: vote_id {vote_id} is chained more than once")
            }
        }
    }
}

/// One chain's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainSummary {
    pub chain: u32,
    pub votes: u64,
    pub last_seq: u64,
    pub tip_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub election_id: String,
    pub intact: bool,
    pub votes: u64,
    pub chains: Vec<ChainSummary>,
    pub problem_count: u64,
    pub problems: Vec<Problem>,
}

/// Checks one chain, item by item, in seq order. After a mismatch it resynchronizes on
/// the stored hash, so one altered vote is reported once, at its own seq (or at the next
/// seq when its stored hash was altered to match), not as a cascade.
pub struct ChainChecker<'a> {
    election_id: &'a str,
    chain: u32,
    chains: u32,
    tip: Tip,
    votes: u64,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
}

impl<'a> ChainChecker<'a> {
    pub fn new(election_id: &'a str, chain: u32, chains: u32) -> Self {
        ChainChecker { election_id, chain, chains, tip: Tip::genesis(election_id, chain), votes: 0, problems: vec![], problem_count: 0 }
    }

    fn report(&mut self, p: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// Feeds the next stored item; `seen` collects vote_ids across the election's chains.
    pub fn feed(&mut self, raw: &Item, seen: &mut HashSet<String>) {
        let chain = self.chain;
        let sk = raw.get("sk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        let v = match items::parse_vote(raw) {
            Ok(v) => v,
            Err(e) => return self.report(Problem::Corrupt { chain, sk, detail: e.to_string() }),
        };
        let pk = raw.get("pk").and_then(|v| v.as_s().ok()).cloned().unwrap_or_default();
        if v.election_id != self.election_id || v.chain != chain || pk != items::chain_pk(&v.election_id, v.chain, self.chains) || sk != items::vote_sk(v.seq) {
            return self.report(Problem::Corrupt { chain, sk, detail: "election_id, chain or seq do not match the item's key".into() });
        }
        if v.seq != self.tip.seq + 1 {
            self.report(Problem::Gap { chain, expected_seq: self.tip.seq + 1, found_seq: v.seq });
        }
        if v.prev_hash != self.tip.hash {
            self.report(Problem::PrevHashMismatch { chain, seq: v.seq, expected: hex(&self.tip.hash), stored: hex(&v.prev_hash) });
        }
        let want = chain::vote_hash(&v.fields(), &v.prev_hash);
        if want != v.hash {
            self.report(Problem::HashMismatch { chain, seq: v.seq, expected: hex(&want), stored: hex(&v.hash) });
        }
        if !seen.insert(v.vote_id.clone()) {
            self.report(Problem::DuplicateVoteId { chain, seq: v.seq, vote_id: v.vote_id.clone() });
        }
        self.votes += 1;
        self.tip = Tip { seq: v.seq, hash: v.hash };
    }

    pub fn summary(&self) -> ChainSummary {
        ChainSummary { chain: self.chain, votes: self.votes, last_seq: self.tip.seq, tip_hash: hex(&self.tip.hash) }
    }
}

fn hex(h: &Hash) -> String {
    chain::to_hex(h)
}

/// Walks all `chains` chains of the election with consistent reads.
pub async fn verify_election(ledger: &Ledger, election_id: &str, chains: u32) -> Result<Report, LedgerError> {
    let mut seen = HashSet::new();
    let mut report = Report { election_id: election_id.into(), intact: true, votes: 0, chains: vec![], problem_count: 0, problems: vec![] };
    for chain in 0..chains {
        let mut checker = ChainChecker::new(election_id, chain, chains);
        let mut start = None;
        loop {
            let (page, next) = ledger.chain_page(election_id, chain, chains, start, true).await?;
            for it in &page {
                checker.feed(it, &mut seen);
            }
            match next {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        let s = checker.summary();
        report.votes += s.votes;
        report.chains.push(s);
        report.problem_count += checker.problem_count;
        let room = MAX_PROBLEMS.saturating_sub(report.problems.len());
        report.problems.extend(checker.problems.into_iter().take(room));
    }
    report.intact = report.problem_count == 0;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamo::items::{VoteItem, vote_item};
    use aws_sdk_dynamodb::types::AttributeValue;

    fn build(n: u64) -> Vec<Item> {
        let mut tip = Tip::genesis("e1", 0);
        (1..=n)
            .map(|seq| {
                let mut v = VoteItem {
                    election_id: "e1".into(), chain: 0, seq, vote_id: format!("00000000-0000-4000-8000-{seq:012}"),
                    candidate_id: "alice".into(), region_id: "north".into(), cast_at_ms: seq as i64,
                    prev_hash: tip.hash, hash: [0; 32], kafka_topic: "votes".into(), kafka_partition: 0, kafka_offset: seq as i64,
                };
                tip = chain::link(&tip, &v.fields()).unwrap();
                v.hash = tip.hash;
                vote_item(&v, 1)
            })
            .collect()
    }

    fn check(items: &[Item]) -> Vec<Problem> {
        let mut c = ChainChecker::new("e1", 0, 1);
        let mut seen = HashSet::new();
        items.iter().for_each(|i| c.feed(i, &mut seen));
        c.problems
    }

    #[test]
    fn an_intact_chain_has_no_problems() {
        assert!(check(&build(20)).is_empty());
    }

    #[test]
    fn an_altered_attribute_is_named_at_its_seq_only() {
        let mut items = build(10);
        items[4].insert("candidate_id".into(), AttributeValue::S("bob".into()));
        let p = check(&items);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(matches!(p[0], Problem::HashMismatch { seq: 5, .. }));
    }

    #[test]
    fn a_rewritten_hash_is_caught_at_the_next_link() {
        let mut items = build(10);
        let mut v = items::parse_vote(&items[4]).unwrap();
        v.candidate_id = "bob".into();
        v.hash = chain::vote_hash(&v.fields(), &v.prev_hash);
        items[4] = vote_item(&v, 1);
        let p = check(&items);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(matches!(p[0], Problem::PrevHashMismatch { seq: 6, .. }));
    }

    #[test]
    fn a_deleted_vote_is_a_gap_and_a_broken_link() {
        let mut items = build(10);
        items.remove(3);
        let p = check(&items);
        assert!(p.contains(&Problem::Gap { chain: 0, expected_seq: 4, found_seq: 5 }), "{p:?}");
        assert!(p.iter().any(|x| matches!(x, Problem::PrevHashMismatch { seq: 5, .. })));
    }

    #[test]
    fn a_duplicate_vote_id_is_reported() {
        let mut items = build(3);
        let dup = items[0]["vote_id"].clone();
        items[2].insert("vote_id".into(), dup);
        assert!(check(&items).iter().any(|x| matches!(x, Problem::DuplicateVoteId { seq: 3, .. })));
    }
}
