//! Chain verification, the pure part of `votechain verify` (and of `votechain-verify
//! chain`): recompute every hash per the contract and report what does not hold: a hash
//! that does not match its data, a `prev_hash` that does not match the previous vote, a
//! gap in `seq`, an item that cannot be read or is stored under the wrong key, a vote_id
//! chained twice.
//!
//! Feed a [`ChainChecker`] the stored items of one chain in seq order, then add it to the
//! election's [`Report`]. Where the items come from (DynamoDB pages, an export file) is
//! the caller's business.

use crate::chain::{self, Hash, Rule, Tip};
use crate::model::{VoteItem, chain_pk, vote_sk};
use serde::Serialize;
use std::collections::HashSet;

/// Most problems kept in a report; the count of all is kept separately.
pub const MAX_PROBLEMS: usize = 1_000;

/// One vote item as read back from storage: its key and fields, or why it is unreadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Vote {
        pk: String,
        sk: String,
        vote: Box<VoteItem>,
    },
    Unreadable {
        sk: String,
        detail: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The stored `hash` is not SHA256(vote_data || prev_hash): the vote's data or hash was changed.
    HashMismatch {
        chain: u32,
        seq: u64,
        expected: String,
        stored: String,
    },
    /// The stored `prev_hash` is not the previous vote's hash: the link was cut or rewritten.
    PrevHashMismatch {
        chain: u32,
        seq: u64,
        expected: String,
        stored: String,
    },
    /// `seq` does not follow the previous one.
    Gap {
        chain: u32,
        expected_seq: u64,
        found_seq: u64,
    },
    /// The item is unreadable or does not belong where it is stored.
    Corrupt {
        chain: u32,
        sk: String,
        detail: String,
    },
    /// The same vote_id appears twice in the election.
    DuplicateVoteId {
        chain: u32,
        seq: u64,
        vote_id: String,
    },
}

impl Problem {
    pub fn seq(&self) -> Option<u64> {
        match self {
            Problem::HashMismatch { seq, .. }
            | Problem::PrevHashMismatch { seq, .. }
            | Problem::DuplicateVoteId { seq, .. } => Some(*seq),
            Problem::Gap { found_seq, .. } => Some(*found_seq),
            Problem::Corrupt { .. } => None,
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::HashMismatch {
                chain,
                seq,
                expected,
                stored,
            } => {
                write!(
                    f,
                    "chain {chain} seq {seq}: hash mismatch: expected {expected}, stored {stored}"
                )
            }
            Problem::PrevHashMismatch {
                chain,
                seq,
                expected,
                stored,
            } => {
                write!(
                    f,
                    "chain {chain} seq {seq}: prev_hash mismatch: expected {expected}, stored {stored}"
                )
            }
            Problem::Gap {
                chain,
                expected_seq,
                found_seq,
            } => {
                write!(
                    f,
                    "chain {chain}: gap: expected seq {expected_seq}, found seq {found_seq}"
                )
            }
            Problem::Corrupt { chain, sk, detail } => {
                write!(f, "chain {chain} {sk}: corrupt item: {detail}")
            }
            Problem::DuplicateVoteId {
                chain,
                seq,
                vote_id,
            } => {
                write!(
                    f,
                    "chain {chain} seq {seq}: vote_id {vote_id} is chained more than once"
                )
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
    rule: Rule,
    tip: Tip,
    votes: u64,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
}

impl<'a> ChainChecker<'a> {
    /// A checker of chain `chain` of `chains`, whose votes follow `rule` (v2: salted, on
    /// the manifest's genesis).
    pub fn new(election_id: &'a str, chain: u32, chains: u32, rule: Rule) -> Self {
        ChainChecker {
            election_id,
            chain,
            chains,
            rule,
            tip: rule.tip0(election_id, chain),
            votes: 0,
            problems: vec![],
            problem_count: 0,
        }
    }

    fn report(&mut self, p: Problem) {
        self.problem_count += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(p);
        }
    }

    /// Feeds the next stored item; `seen` collects vote_ids across the election's chains.
    pub fn feed(&mut self, stored: &Stored, seen: &mut HashSet<String>) {
        let chain = self.chain;
        let (pk, sk, v) = match stored {
            Stored::Vote { pk, sk, vote } => (pk, sk, vote),
            Stored::Unreadable { sk, detail } => {
                return self.report(Problem::Corrupt {
                    chain,
                    sk: sk.clone(),
                    detail: detail.clone(),
                });
            }
        };
        if v.election_id != self.election_id
            || v.chain != chain
            || *pk != chain_pk(&v.election_id, v.chain, self.chains)
            || *sk != vote_sk(v.seq)
        {
            return self.report(Problem::Corrupt {
                chain,
                sk: sk.clone(),
                detail: "election_id, chain or seq do not match the item's key".into(),
            });
        }
        // A vote of the other hash rule is reported, then followed on its stored hash like
        // a mismatch, so one such item is one problem.
        let rule_ok = v.salt.is_some() == self.rule.salted();
        if !rule_ok {
            self.report(Problem::Corrupt {
                chain,
                sk: sk.clone(),
                detail: format!(
                    "hash_v {} in a chain of hash rule v{}",
                    v.hash_v(),
                    self.rule.hash_v()
                ),
            });
        }
        if v.seq != self.tip.seq + 1 {
            self.report(Problem::Gap {
                chain,
                expected_seq: self.tip.seq + 1,
                found_seq: v.seq,
            });
        }
        if v.prev_hash != self.tip.hash {
            self.report(Problem::PrevHashMismatch {
                chain,
                seq: v.seq,
                expected: hex(&self.tip.hash),
                stored: hex(&v.prev_hash),
            });
        }
        let want = v.hash_on(&v.prev_hash);
        if rule_ok && want != v.hash {
            self.report(Problem::HashMismatch {
                chain,
                seq: v.seq,
                expected: hex(&want),
                stored: hex(&v.hash),
            });
        }
        if !seen.insert(v.vote_id.clone()) {
            self.report(Problem::DuplicateVoteId {
                chain,
                seq: v.seq,
                vote_id: v.vote_id.clone(),
            });
        }
        self.votes += 1;
        self.tip = Tip {
            seq: v.seq,
            hash: v.hash,
        };
    }

    pub fn summary(&self) -> ChainSummary {
        ChainSummary {
            chain: self.chain,
            votes: self.votes,
            last_seq: self.tip.seq,
            tip_hash: hex(&self.tip.hash),
        }
    }
}

fn hex(h: &Hash) -> String {
    chain::to_hex(h)
}

impl Report {
    /// An empty report; add each chain's checker with [`Report::add`] in chain order.
    pub fn new(election_id: &str) -> Report {
        Report {
            election_id: election_id.into(),
            intact: true,
            votes: 0,
            chains: vec![],
            problem_count: 0,
            problems: vec![],
        }
    }

    /// Folds one fully fed chain into the report.
    pub fn add(&mut self, checker: ChainChecker<'_>) {
        let s = checker.summary();
        self.votes += s.votes;
        self.chains.push(s);
        self.problem_count += checker.problem_count;
        let room = MAX_PROBLEMS.saturating_sub(self.problems.len());
        self.problems
            .extend(checker.problems.into_iter().take(room));
        self.intact = self.problem_count == 0;
    }

    /// The human form: a line per chain, the verdict, the first broken link, up to 50 problems.
    pub fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        for c in &self.chains {
            let _ = writeln!(
                out,
                "chain {}: {} votes, last seq {}, tip {}",
                c.chain, c.votes, c.last_seq, c.tip_hash
            );
        }
        if self.intact {
            let _ = write!(
                out,
                "election {}: INTACT ({} votes in {} chain(s))",
                self.election_id,
                self.votes,
                self.chains.len()
            );
            return out;
        }
        let _ = write!(
            out,
            "election {}: BROKEN ({} problem(s))",
            self.election_id, self.problem_count
        );
        if let Some(first) = self.first_problem() {
            let _ = write!(out, "\nfirst broken link: {first}");
        }
        for p in self.problems.iter().take(50) {
            let _ = write!(out, "\n  {p}");
        }
        out
    }

    /// The problem to show first: a broken link or hash rather than a gap it caused.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems
            .iter()
            .find(|p| !matches!(p, Problem::Gap { .. }))
            .or(self.problems.first())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(n: u64) -> Vec<VoteItem> {
        build_with(n, Rule::V1)
    }

    fn build_with(n: u64, rule: Rule) -> Vec<VoteItem> {
        let mut tip = rule.tip0("e1", 0);
        (1..=n)
            .map(|seq| {
                let mut v = VoteItem {
                    election_id: "e1".into(),
                    chain: 0,
                    seq,
                    vote_id: format!("00000000-0000-4000-8000-{seq:012}"),
                    candidate_id: "alice".into(),
                    region_id: "north".into(),
                    cast_at_ms: seq as i64,
                    salt: rule.salted().then_some([seq as u8; 32]),
                    prev_hash: tip.hash,
                    hash: [0; 32],
                    kafka_topic: "votes".into(),
                    kafka_partition: 0,
                    kafka_offset: seq as i64,
                };
                v.hash = v.hash_on(&tip.hash);
                tip = Tip { seq, hash: v.hash };
                v
            })
            .collect()
    }

    fn stored(v: &VoteItem) -> Stored {
        Stored::Vote {
            pk: chain_pk(&v.election_id, v.chain, 1),
            sk: vote_sk(v.seq),
            vote: Box::new(v.clone()),
        }
    }

    fn check(items: &[VoteItem]) -> Vec<Problem> {
        check_with(items, Rule::V1)
    }

    fn check_with(items: &[VoteItem], rule: Rule) -> Vec<Problem> {
        let mut c = ChainChecker::new("e1", 0, 1, rule);
        let mut seen = HashSet::new();
        items.iter().for_each(|i| c.feed(&stored(i), &mut seen));
        c.problems
    }

    #[test]
    fn an_intact_chain_has_no_problems() {
        assert!(check(&build(20)).is_empty());
    }

    const V2: Rule = Rule::V2 {
        manifest_digest: [3; 32],
    };

    #[test]
    fn a_v2_chain_checks_under_its_own_rule_only() {
        let items = build_with(8, V2);
        assert!(check_with(&items, V2).is_empty());
        // Another manifest digest: another genesis, so the first link breaks.
        let other = Rule::V2 {
            manifest_digest: [4; 32],
        };
        let p = check_with(&items, other);
        assert!(
            matches!(p[..], [Problem::PrevHashMismatch { seq: 1, .. }]),
            "{p:?}"
        );
        // Checked as v1, every salted item is out of place.
        let p = check_with(&items, Rule::V1);
        let corrupt = p.iter().filter(|p| matches!(p, Problem::Corrupt { .. }));
        assert_eq!(corrupt.count(), 8, "{p:?}");
    }

    #[test]
    fn a_changed_or_stripped_salt_is_caught() {
        let mut items = build_with(6, V2);
        items[2].salt = Some([0xee; 32]);
        let p = check_with(&items, V2);
        assert!(
            matches!(p[..], [Problem::HashMismatch { seq: 3, .. }]),
            "{p:?}"
        );
        let mut items = build_with(6, V2);
        items[3].salt = None;
        let p = check_with(&items, V2);
        assert!(
            matches!(&p[..], [Problem::Corrupt { detail, .. }] if detail.contains("hash_v 1")),
            "{p:?}"
        );
    }

    #[test]
    fn an_altered_attribute_is_named_at_its_seq_only() {
        let mut items = build(10);
        items[4].candidate_id = "bob".into();
        let p = check(&items);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(matches!(p[0], Problem::HashMismatch { seq: 5, .. }));
    }

    #[test]
    fn a_rewritten_hash_is_caught_at_the_next_link() {
        let mut items = build(10);
        let v = &mut items[4];
        v.candidate_id = "bob".into();
        v.hash = chain::vote_hash(&v.fields(), &v.prev_hash);
        let p = check(&items);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(matches!(p[0], Problem::PrevHashMismatch { seq: 6, .. }));
    }

    #[test]
    fn a_deleted_vote_is_a_gap_and_a_broken_link() {
        let mut items = build(10);
        items.remove(3);
        let p = check(&items);
        assert!(
            p.contains(&Problem::Gap {
                chain: 0,
                expected_seq: 4,
                found_seq: 5
            }),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|x| matches!(x, Problem::PrevHashMismatch { seq: 5, .. }))
        );
    }

    #[test]
    fn a_duplicate_vote_id_is_reported() {
        let mut items = build(3);
        items[2].vote_id = items[0].vote_id.clone();
        assert!(
            check(&items)
                .iter()
                .any(|x| matches!(x, Problem::DuplicateVoteId { seq: 3, .. }))
        );
    }

    #[test]
    fn an_item_under_the_wrong_key_or_unreadable_is_corrupt() {
        let items = build(2);
        let mut c = ChainChecker::new("e1", 0, 1, Rule::V1);
        let mut seen = HashSet::new();
        c.feed(
            &Stored::Vote {
                pk: "ELECTION#e1#0".into(),
                sk: vote_sk(1),
                vote: Box::new(items[0].clone()),
            },
            &mut seen,
        );
        c.feed(
            &Stored::Unreadable {
                sk: vote_sk(2),
                detail: "hash is not hex".into(),
            },
            &mut seen,
        );
        assert_eq!(c.problems.len(), 2, "{:?}", c.problems);
        assert!(
            c.problems
                .iter()
                .all(|p| matches!(p, Problem::Corrupt { .. }))
        );
    }

    #[test]
    fn a_report_folds_chains_and_knows_its_first_real_problem() {
        let mut r = Report::new("e1");
        let mut items = build(5);
        items.remove(1);
        let mut c = ChainChecker::new("e1", 0, 1, Rule::V1);
        let mut seen = HashSet::new();
        items.iter().for_each(|i| c.feed(&stored(i), &mut seen));
        r.add(c);
        assert!(!r.intact);
        assert_eq!(r.votes, 4);
        assert!(
            matches!(
                r.first_problem(),
                Some(Problem::PrevHashMismatch { seq: 3, .. })
            ),
            "{r:?}"
        );
        let text = r.text();
        assert!(
            text.contains("BROKEN (2 problem(s))")
                && text.contains("first broken link: chain 0 seq 3: prev_hash"),
            "{text}"
        );
    }
}
