//! Vote counts as the read model keeps them: one counter per election for the total, per
//! candidate, per (region, candidate), and per chain the highest seq reflected.
//!
//! [`Deltas`] are what a batch of chained votes adds; [`split`] cuts a batch so each part
//! fits one DynamoDB transaction; [`Counts`], [`diff`] and [`label`] compare counts from
//! different sources (replay, recount). Pure: the node's `projector::results` stores them.

use crate::model::VoteItem;
use serde::Serialize;
use std::collections::BTreeMap;

/// Counts of one election as the read model stores them: `counter -> n`.
pub type Counts = BTreeMap<Counter, i64>;

/// Sort key of one counter within an election's results partition.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counter {
    Total,
    Candidate(String),
    Region(String, String),
    /// Votes of this chain reflected: the seq up to which the chain is applied.
    Chain(u32),
}

impl Counter {
    /// Its sort key in the read-model table.
    pub fn sk(&self) -> String {
        match self {
            Counter::Total => "TOTAL".into(),
            Counter::Candidate(c) => format!("CANDIDATE#{c}"),
            Counter::Region(r, c) => format!("REGION#{r}#{c}"),
            Counter::Chain(c) => format!("CHAIN#{c:010}"),
        }
    }
}

/// Count deltas per (table, election, counter).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deltas {
    pub counts: BTreeMap<(String, String, Counter), i64>,
}

impl Deltas {
    /// Counts one vote into `table`.
    pub fn add(&mut self, table: &str, v: &VoteItem) {
        let e = &v.election_id;
        for c in [
            Counter::Total,
            Counter::Candidate(v.candidate_id.clone()),
            Counter::Region(v.region_id.clone(), v.candidate_id.clone()),
            Counter::Chain(v.chain),
        ] {
            *self
                .counts
                .entry((table.to_string(), e.clone(), c))
                .or_default() += 1;
        }
    }
    /// DynamoDB items this would touch.
    pub fn items(&self) -> usize {
        self.counts.len()
    }
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }
    /// `counter -> n` of one election (tests, recount).
    pub fn of(&self, election: &str) -> BTreeMap<Counter, i64> {
        self.counts
            .iter()
            .filter(|((_, e, _), _)| e == election)
            .map(|((_, _, c), n)| (c.clone(), *n))
            .collect()
    }
}

/// Splits votes (in stream order) into consecutive index ranges whose deltas touch at most
/// `max_items` items in any one table, so each range plus the guard and the checkpoint fits
/// one transaction.
pub fn split(votes: &[VoteItem], max_items: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut cur = Deltas::default();
    for (i, v) in votes.iter().enumerate() {
        let mut next = cur.clone();
        next.add("", v);
        if next.items() > max_items && i > start {
            out.push(start..i);
            start = i;
            cur = Deltas::default();
            cur.add("", v);
        } else {
            cur = next;
        }
    }
    if start < votes.len() {
        out.push(start..votes.len());
    }
    out
}

/// The contract's results document, plus `chains` (freshness: highest seq applied per chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Results {
    pub election_id: String,
    pub total: u64,
    pub candidates: BTreeMap<String, u64>,
    pub regions: BTreeMap<String, BTreeMap<String, u64>>,
    pub chains: BTreeMap<String, u64>,
}

/// Read-model results as counts.
pub fn counts_of(r: &Results) -> Counts {
    let mut out = Counts::new();
    out.insert(Counter::Total, r.total as i64);
    for (c, n) in &r.candidates {
        out.insert(Counter::Candidate(c.clone()), *n as i64);
    }
    for (reg, m) in &r.regions {
        for (c, n) in m {
            out.insert(Counter::Region(reg.clone(), c.clone()), *n as i64);
        }
    }
    for (ch, n) in &r.chains {
        if let Ok(ch) = ch.parse() {
            out.insert(Counter::Chain(ch), *n as i64);
        }
    }
    out.retain(|_, n| *n != 0);
    out
}

/// Counters that differ, as (label, left, right); zeros and absences are equal.
pub fn diff(a: &Counts, b: &Counts) -> Vec<(String, i64, i64)> {
    let keys: std::collections::BTreeSet<_> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let (x, y) = (
                a.get(k).copied().unwrap_or(0),
                b.get(k).copied().unwrap_or(0),
            );
            (x != y).then(|| (label(k), x, y))
        })
        .collect()
}

pub fn label(c: &Counter) -> String {
    match c {
        Counter::Total => "total".into(),
        Counter::Candidate(c) => format!("candidate {c}"),
        Counter::Region(r, c) => format!("region {r} / {c}"),
        Counter::Chain(c) => format!("chain {c} seq"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(seq: u64, cand: &str, region: &str) -> VoteItem {
        VoteItem {
            election_id: "e".into(),
            chain: 0,
            seq,
            vote_id: format!("v{seq}"),
            candidate_id: cand.into(),
            region_id: region.into(),
            cast_at_ms: 0,
            salt: None,
            prev_hash: [0; 32],
            hash: [0; 32],
            kafka_topic: "votes".into(),
            kafka_partition: 0,
            kafka_offset: 0,
        }
    }

    #[test]
    fn deltas_count_every_dimension_and_the_chain() {
        let mut d = Deltas::default();
        for (i, (c, r)) in [("a", "n"), ("b", "n"), ("a", "s")].iter().enumerate() {
            d.add("t", &vote(i as u64 + 1, c, r));
        }
        let e = d.of("e");
        assert_eq!(e[&Counter::Total], 3);
        assert_eq!(e[&Counter::Candidate("a".into())], 2);
        assert_eq!(e[&Counter::Region("n".into(), "b".into())], 1);
        assert_eq!(e[&Counter::Chain(0)], 3);
    }

    #[test]
    fn counts_compare_with_zero_equal_to_absent() {
        let a = Counts::from([(Counter::Total, 2), (Counter::Candidate("a".into()), 0)]);
        let b = Counts::from([(Counter::Total, 3)]);
        assert_eq!(diff(&a, &b), vec![("total".to_string(), 2, 3)]);
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn split_fits_a_transaction_and_keeps_every_vote_in_order() {
        let votes: Vec<VoteItem> = (0..40)
            .map(|i| vote(i as u64 + 1, &format!("c{i}"), &format!("r{i}")))
            .collect();
        let ranges = split(&votes, 20);
        assert!(ranges.len() > 1);
        assert_eq!(ranges.first().unwrap().start, 0);
        assert_eq!(ranges.last().unwrap().end, 40);
        assert!(ranges.windows(2).all(|w| w[0].end == w[1].start));
        for r in ranges {
            let mut d = Deltas::default();
            votes[r].iter().for_each(|v| d.add("t", v));
            assert!(d.items() <= 20);
        }
    }
}
