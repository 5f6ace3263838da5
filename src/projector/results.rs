//! The read model (default table `votechain-results`), fully derived from the ledger's
//! stream and safe to drop and rebuild. One partition per election:
//!
//! | pk | sk | attribute |
//! | --- | --- | --- |
//! | `RESULTS#{e}` | `TOTAL` | `n` |
//! | `RESULTS#{e}` | `CANDIDATE#{c}` | `n` |
//! | `RESULTS#{e}` | `REGION#{r}#{c}` | `n` (votes for `c` in region `r`) |
//! | `RESULTS#{e}` | `CHAIN#{chain:010}` | `seq`: the highest seq applied (freshness) |
//!
//! One Query on `RESULTS#{e}` answers the results endpoint. [`plan`] turns applied votes
//! into count deltas (pure); [`updates`] turns deltas into `ADD` updates for the same
//! transaction that moves the shard checkpoint.

use crate::dynamo::items::VoteItem;
use crate::model::Registry;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

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
    fn sk(&self) -> String {
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
            *self.counts.entry((table.to_string(), e.clone(), c)).or_default() += 1;
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
        self.counts.iter().filter(|((_, e, _), _)| e == election).map(|((_, _, c), n)| (c.clone(), *n)).collect()
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

pub fn results_pk(election_id: &str) -> String {
    format!("RESULTS#{election_id}")
}

/// The `ADD` updates applying `d`, each to its table.
pub fn updates(d: &Deltas) -> Vec<Update> {
    let key = |e: &str, sk: String| HashMap::from([("pk".to_string(), AttributeValue::S(results_pk(e))), ("sk".to_string(), AttributeValue::S(sk))]);
    d.counts
        .iter()
        .map(|((table, e, c), n)| {
            Update::builder()
                .table_name(table)
                .set_key(Some(key(e, c.sk())))
                .update_expression("ADD n :d")
                .expression_attribute_values(":d", AttributeValue::N(n.to_string()))
                .build()
                .expect("complete")
        })
        .collect()
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

/// Reads an election's results; every configured candidate and region appears, zero or not.
pub async fn read(db: &Client, table: &str, registry: &Registry, election_id: &str, consistent: bool) -> Result<Results, crate::dynamo::ledger::LedgerError> {
    let mut r = Results { election_id: election_id.into(), total: 0, candidates: BTreeMap::new(), regions: BTreeMap::new(), chains: BTreeMap::new() };
    if let Some(e) = registry.get(election_id) {
        for c in &e.candidates {
            r.candidates.insert(c.clone(), 0);
        }
        for reg in &e.regions {
            r.regions.insert(reg.clone(), e.candidates.iter().map(|c| (c.clone(), 0)).collect());
        }
    }
    let mut start = None;
    loop {
        let out = db
            .query()
            .table_name(table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(results_pk(election_id)))
            .consistent_read(consistent)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| crate::dynamo::ledger::LedgerError { op: "Query(results)", class: crate::dynamo::classify(&e), detail: crate::dynamo::describe(&e) })?;
        for it in out.items() {
            let sk = it.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str).unwrap_or_default();
            let num = |a: &str| it.get(a).and_then(|v| v.as_n().ok()).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if sk == "TOTAL" {
                r.total = num("n");
            } else if let Some(c) = sk.strip_prefix("CANDIDATE#") {
                r.candidates.insert(c.into(), num("n"));
            } else if let Some(rest) = sk.strip_prefix("REGION#") {
                // Identifiers never contain '#', so the split is unambiguous.
                if let Some((reg, c)) = rest.split_once('#') {
                    r.regions.entry(reg.into()).or_default().insert(c.into(), num("n"));
                }
            } else if let Some(ch) = sk.strip_prefix("CHAIN#") {
                r.chains.insert(ch.parse::<u64>().unwrap_or(0).to_string(), num("n"));
            }
        }
        match out.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Ok(r),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vote(seq: u64, cand: &str, region: &str) -> VoteItem {
        VoteItem {
            election_id: "e".into(), chain: 0, seq, vote_id: format!("v{seq}"), candidate_id: cand.into(), region_id: region.into(),
            cast_at_ms: 0, prev_hash: [0; 32], hash: [0; 32], kafka_topic: "votes".into(), kafka_partition: 0, kafka_offset: 0,
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
        assert_eq!(updates(&d).len(), d.items());
    }

    #[test]
    fn split_fits_a_transaction_and_keeps_every_vote_in_order() {
        let votes: Vec<VoteItem> = (0..40).map(|i| vote(i as u64 + 1, &format!("c{i}"), &format!("r{i}"))).collect();
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
