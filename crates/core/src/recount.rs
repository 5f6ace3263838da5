//! The recount's comparison: counts of one election from Kafka (replayed with the
//! ChainWriter's own rules), from the verified chain, and from the read model, side by
//! side, each pair compared at a consistent cut. The node's `recount` gathers the counts;
//! this module lines them up and says where they differ. Pure.

use crate::counts::{Counts, diff, label};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub counter: String,
    pub kafka: i64,
    pub chain: i64,
    pub read_model: i64,
    /// The chain at the read model's cut (equal to `chain` when the cuts coincide).
    pub chain_at_read_model: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecountReport {
    pub election_id: String,
    pub agree: bool,
    pub chain_intact: bool,
    pub kafka_cut: BTreeMap<i32, i64>,
    pub read_model_table: String,
    pub rows: Vec<Row>,
    /// Counters where the three counts disagree, by name.
    pub mismatches: Vec<String>,
    pub problems: Vec<String>,
    /// Why the read model cannot be trusted to hold every vote (stream records were lost
    /// before the projector applied them), until `votechain replay` rebuilds it.
    pub needs_replay: Option<String>,
}

/// The four count sets, lined up: every counter any of them has, and the mismatches
/// (Kafka vs chain at the log cut; read model vs the chain at the read model's cut).
pub fn compare(
    kafka: &Counts,
    chain: &Counts,
    read_model: &Counts,
    chain_at_rm: &Counts,
) -> (Vec<Row>, Vec<String>) {
    let keys: BTreeSet<_> = kafka
        .keys()
        .chain(chain.keys())
        .chain(read_model.keys())
        .chain(chain_at_rm.keys())
        .cloned()
        .collect();
    let get = |m: &Counts, k| m.get(k).copied().unwrap_or(0);
    let rows: Vec<Row> = keys
        .iter()
        .map(|k| Row {
            counter: label(k),
            kafka: get(kafka, k),
            chain: get(chain, k),
            read_model: get(read_model, k),
            chain_at_read_model: get(chain_at_rm, k),
        })
        .collect();
    let mut mismatches: Vec<String> = diff(kafka, chain)
        .into_iter()
        .map(|(l, a, b)| format!("{l}: kafka {a} vs chain {b}"))
        .collect();
    mismatches.extend(
        diff(read_model, chain_at_rm)
            .into_iter()
            .map(|(l, a, b)| format!("{l}: read model {a} vs chain {b}")),
    );
    (rows, mismatches)
}

impl std::fmt::Display for RecountReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "recount of {} (Kafka cut {:?}; read model {})",
            self.election_id, self.kafka_cut, self.read_model_table
        )?;
        writeln!(
            f,
            "{:<32} {:>10} {:>10} {:>12}",
            "counter", "kafka", "chain", "read model"
        )?;
        for r in &self.rows {
            let note = if r.chain_at_read_model != r.chain {
                format!(
                    "   (chain at the read model's cut: {})",
                    r.chain_at_read_model
                )
            } else {
                String::new()
            };
            let flag = if r.kafka != r.chain || r.read_model != r.chain_at_read_model {
                "  <-- MISMATCH"
            } else {
                ""
            };
            writeln!(
                f,
                "{:<32} {:>10} {:>10} {:>12}{note}{flag}",
                r.counter, r.kafka, r.chain, r.read_model
            )?;
        }
        writeln!(
            f,
            "chain hashes: {}",
            if self.chain_intact {
                "intact"
            } else {
                "BROKEN"
            }
        )?;
        for p in self.problems.iter().take(20) {
            writeln!(f, "  {p}")?;
        }
        if let Some(why) = &self.needs_replay {
            writeln!(
                f,
                "read model: NEEDS REPLAY ({why}); run `votechain replay --election {}`",
                self.election_id
            )?;
        }
        write!(
            f,
            "{}",
            if self.agree {
                "ALL THREE AGREE"
            } else {
                "DISAGREEMENT"
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counts::Counter;

    #[test]
    fn each_pair_is_compared_at_its_own_cut() {
        let c = |n| Counts::from([(Counter::Total, n)]);
        let (rows, m) = compare(&c(5), &c(5), &c(3), &c(3));
        assert!(m.is_empty(), "{m:?}");
        assert_eq!(
            (
                rows[0].kafka,
                rows[0].chain,
                rows[0].read_model,
                rows[0].chain_at_read_model
            ),
            (5, 5, 3, 3)
        );
        let (_, m) = compare(&c(5), &c(4), &c(3), &c(2));
        assert_eq!(
            m,
            vec![
                "total: kafka 5 vs chain 4".to_string(),
                "total: read model 3 vs chain 2".to_string()
            ]
        );
    }
}
