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

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Update};
use std::collections::{BTreeMap, HashMap};
pub use votechain_core::counts::{Counter, Deltas, Results, split};
use votechain_core::model::Registry;

pub fn results_pk(election_id: &str) -> String {
    format!("RESULTS#{election_id}")
}

/// The `ADD` updates applying `d`, each to its table.
pub fn updates(d: &Deltas) -> Vec<Update> {
    let key = |e: &str, sk: String| {
        HashMap::from([
            ("pk".to_string(), AttributeValue::S(results_pk(e))),
            ("sk".to_string(), AttributeValue::S(sk)),
        ])
    };
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

/// Reads an election's results; every configured candidate and region appears, zero or not.
pub async fn read(
    db: &Client,
    table: &str,
    registry: &Registry,
    election_id: &str,
    consistent: bool,
) -> Result<Results, crate::dynamo::ledger::LedgerError> {
    let mut r = Results {
        election_id: election_id.into(),
        total: 0,
        candidates: BTreeMap::new(),
        regions: BTreeMap::new(),
        chains: BTreeMap::new(),
    };
    if let Some(e) = registry.get(election_id) {
        for c in &e.candidates {
            r.candidates.insert(c.clone(), 0);
        }
        for reg in &e.regions {
            r.regions.insert(
                reg.clone(),
                e.candidates.iter().map(|c| (c.clone(), 0)).collect(),
            );
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
            .map_err(|e| crate::dynamo::ledger::LedgerError {
                op: "Query(results)",
                class: crate::dynamo::classify(&e),
                detail: crate::dynamo::describe(&e),
            })?;
        for it in out.items() {
            let sk = it
                .get("sk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                .unwrap_or_default();
            let num = |a: &str| {
                it.get(a)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            if sk == "TOTAL" {
                r.total = num("n");
            } else if let Some(c) = sk.strip_prefix("CANDIDATE#") {
                r.candidates.insert(c.into(), num("n"));
            } else if let Some(rest) = sk.strip_prefix("REGION#") {
                // Identifiers never contain '#', so the split is unambiguous.
                if let Some((reg, c)) = rest.split_once('#') {
                    r.regions
                        .entry(reg.into())
                        .or_default()
                        .insert(c.into(), num("n"));
                }
            } else if let Some(ch) = sk.strip_prefix("CHAIN#") {
                r.chains
                    .insert(ch.parse::<u64>().unwrap_or(0).to_string(), num("n"));
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

    #[test]
    fn one_update_per_counter_each_to_its_table() {
        let mut d = Deltas::default();
        let v = votechain_core::model::VoteItem {
            election_id: "e".into(),
            chain: 0,
            seq: 1,
            vote_id: "v".into(),
            candidate_id: "a".into(),
            region_id: "n".into(),
            cast_at_ms: 0,
            salt: None,
            prev_hash: [0; 32],
            hash: [0; 32],
            kafka_topic: "votes".into(),
            kafka_partition: 0,
            kafka_offset: 0,
        };
        d.add("t1", &v);
        d.add("t2", &v);
        let u = updates(&d);
        assert_eq!(u.len(), d.items());
        assert_eq!(u.iter().filter(|u| u.table_name() == "t1").count(), 4);
    }
}
