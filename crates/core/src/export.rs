//! The chain export: an election's vote items as JSON Lines, for auditors who verify
//! offline (`votechain export` writes it, `votechain-verify chain` checks it).
//!
//! ```text
//! {"format":"votechain-chain-export/v1","election_id":"demo-2026","chains":2}
//! {"pk":"ELECTION#demo-2026#0","sk":"VOTE#00000000000000000001","election_id":"demo-2026","chain":0,"seq":1,...}
//! ```
//!
//! Line 1 is the [`Header`]; every further line is one vote item with the contract's
//! attribute names and values (hashes as lowercase hex), chain by chain in ascending
//! order and, within a chain, in seq order, exactly as stored. [`verify_export`] streams
//! it through the same [`ChainChecker`] that `votechain verify` uses on DynamoDB.

use crate::chain::{self, Rule};
use crate::model::VoteItem;
use crate::verify::{ChainChecker, Report, Stored};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::BufRead;

/// What line 1 of every export says first.
pub const CONFIDENTIAL: &str = "CONFIDENTIAL: this export pairs every vote_id with its choice and salt; whoever holds a voter's receipt and this file learns that voter's choice. Never publish it (the public artifact is the election record); keep it as the ledger is kept.";

/// The `format` of line 1.
pub const FORMAT: &str = "votechain-chain-export/v1";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// First in line 1: the export pairs every vote_id with its choice and salt, so whoever
    /// holds a voter's receipt and this file learns that voter's choice. Never published
    /// (the public artifact is the election record). Absent in exports before it was added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential: Option<String>,
    pub format: String,
    pub election_id: String,
    pub chains: u32,
    /// v2 elections: the manifest digest (64 hex) the chains' genesis binds. An auditor
    /// compares it with the digest of the manifest they hold. Absent: v1 chains.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
}

impl Header {
    pub fn new(election_id: &str, chains: u32, rule: Rule) -> Header {
        Header {
            confidential: Some(CONFIDENTIAL.into()),
            format: FORMAT.into(),
            election_id: election_id.into(),
            chains,
            manifest_digest: match rule {
                Rule::V1 => None,
                Rule::V2 { manifest_digest } => Some(chain::to_hex(&manifest_digest)),
            },
        }
    }

    /// The chains' hash rule; `Err` when the digest is not 64 lowercase hex.
    pub fn rule(&self) -> Result<Rule, String> {
        match &self.manifest_digest {
            None => Ok(Rule::V1),
            Some(d) => chain::from_hex(d)
                .map(|manifest_digest| Rule::V2 { manifest_digest })
                .ok_or_else(|| "manifest_digest is not 64 lowercase hex".into()),
        }
    }
}

/// One vote item line, attribute for attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub pk: String,
    pub sk: String,
    pub election_id: String,
    pub chain: u32,
    pub seq: u64,
    pub vote_id: String,
    pub candidate_id: String,
    pub region_id: String,
    pub cast_at_ms: i64,
    /// v2 votes: the salt (64 hex) and `hash_v` 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_v: Option<u8>,
    pub prev_hash: String,
    pub hash: String,
    pub kafka_topic: String,
    pub kafka_partition: i32,
    pub kafka_offset: i64,
}

impl Line {
    pub fn new(pk: &str, sk: &str, v: &VoteItem) -> Line {
        Line {
            pk: pk.into(),
            sk: sk.into(),
            election_id: v.election_id.clone(),
            chain: v.chain,
            seq: v.seq,
            vote_id: v.vote_id.clone(),
            candidate_id: v.candidate_id.clone(),
            region_id: v.region_id.clone(),
            cast_at_ms: v.cast_at_ms,
            salt: v.salt.as_ref().map(hex::encode),
            hash_v: v.salt.is_some().then_some(2),
            prev_hash: chain::to_hex(&v.prev_hash),
            hash: chain::to_hex(&v.hash),
            kafka_topic: v.kafka_topic.clone(),
            kafka_partition: v.kafka_partition,
            kafka_offset: v.kafka_offset,
        }
    }

    /// The stored item this line says was read (unreadable when a hash is not hex).
    pub fn stored(self) -> Stored {
        let hashes = (
            chain::from_hex(&self.prev_hash),
            chain::from_hex(&self.hash),
        );
        let (Some(prev_hash), Some(hash)) = hashes else {
            return Stored::Unreadable {
                sk: self.sk,
                detail: "prev_hash or hash is not 64 lowercase hex characters".into(),
            };
        };
        let salt = match (&self.salt, self.hash_v.unwrap_or(1)) {
            (None, 1) => None,
            (Some(s), 2) if chain::salt_from_hex(s).is_some() => chain::salt_from_hex(s),
            _ => {
                return Stored::Unreadable {
                    sk: self.sk,
                    detail: "salt and hash_v disagree or the salt is not 64 hex".into(),
                };
            }
        };
        let vote = VoteItem {
            election_id: self.election_id,
            chain: self.chain,
            seq: self.seq,
            vote_id: self.vote_id,
            candidate_id: self.candidate_id,
            region_id: self.region_id,
            cast_at_ms: self.cast_at_ms,
            salt,
            prev_hash,
            hash,
            kafka_topic: self.kafka_topic,
            kafka_partition: self.kafka_partition,
            kafka_offset: self.kafka_offset,
        };
        Stored::Vote {
            pk: self.pk,
            sk: self.sk,
            vote: Box::new(vote),
        }
    }
}

/// Why an export could not be checked at all (as opposed to a chain that is broken,
/// which is a [`Report`] with problems).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("line 1 is not a {FORMAT} header: {0}")]
    Header(String),
    #[error(
        "line {line}: chain {chain} comes after chain {after}: the export must be in chain order"
    )]
    Order { line: usize, chain: u32, after: u32 },
    #[error("line {line}: chain {chain} is outside the header's {chains} chain(s)")]
    ChainOutOfRange {
        line: usize,
        chain: u32,
        chains: u32,
    },
}

/// Checks a whole export: every chain of the header (an absent chain is an empty one),
/// every hash, every link, every vote_id once. A line that is not a vote item is reported
/// as a corrupt item of the chain being read, like an unreadable DynamoDB item.
pub fn verify_export(input: impl BufRead) -> Result<Report, ExportError> {
    let mut lines = input.lines();
    let first = lines.next().transpose()?.unwrap_or_default();
    let header: Header =
        serde_json::from_str(&first).map_err(|e| ExportError::Header(e.to_string()))?;
    if header.format != FORMAT {
        return Err(ExportError::Header(format!(
            "format is '{}'",
            header.format
        )));
    }
    let rule = header.rule().map_err(ExportError::Header)?;
    let (election, chains) = (header.election_id.as_str(), header.chains);
    let mut report = Report::new(election);
    let mut seen = HashSet::new();
    let mut current = ChainChecker::new(election, 0, chains, rule);
    let mut at = 0u32;
    for (i, text) in lines.enumerate() {
        let (line, text) = (i + 2, text?);
        if text.trim().is_empty() {
            continue;
        }
        let stored = match serde_json::from_str::<Line>(&text) {
            Ok(l) if l.chain >= chains => {
                return Err(ExportError::ChainOutOfRange {
                    line,
                    chain: l.chain,
                    chains,
                });
            }
            Ok(l) if l.chain < at => {
                return Err(ExportError::Order {
                    line,
                    chain: l.chain,
                    after: at,
                });
            }
            Ok(l) => {
                while at < l.chain {
                    report.add(std::mem::replace(
                        &mut current,
                        ChainChecker::new(election, at + 1, chains, rule),
                    ));
                    at += 1;
                }
                l.stored()
            }
            Err(e) => Stored::Unreadable {
                sk: format!("line {line}"),
                detail: e.to_string(),
            },
        };
        current.feed(&stored, &mut seen);
    }
    report.add(current);
    for c in at + 1..chains {
        report.add(ChainChecker::new(election, c, chains, rule));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Tip;
    use crate::model::{chain_pk, vote_sk};
    use crate::verify::Problem;

    const V2: Rule = Rule::V2 {
        manifest_digest: [5; 32],
    };

    fn export(chains: u32, per_chain: u64) -> Vec<String> {
        export_with(V2, chains, per_chain)
    }

    fn export_with(rule: Rule, chains: u32, per_chain: u64) -> Vec<String> {
        let mut out = vec![serde_json::to_string(&Header::new("e", chains, rule)).unwrap()];
        for c in 0..chains {
            let mut tip = rule.tip0("e", c);
            for seq in 1..=per_chain {
                let mut v = VoteItem {
                    election_id: "e".into(),
                    chain: c,
                    seq,
                    vote_id: format!("00000000-0000-4000-8000-{:06}{seq:06}", c),
                    candidate_id: "alice".into(),
                    region_id: "north".into(),
                    cast_at_ms: 1_700_000_000_000 + seq as i64,
                    salt: rule.salted().then_some([seq as u8; 32]),
                    prev_hash: tip.hash,
                    hash: [0; 32],
                    kafka_topic: "votes".into(),
                    kafka_partition: c as i32,
                    kafka_offset: seq as i64,
                };
                v.hash = v.hash_on(&tip.hash);
                tip = Tip { seq, hash: v.hash };
                out.push(
                    serde_json::to_string(&Line::new(&chain_pk("e", c, chains), &vote_sk(seq), &v))
                        .unwrap(),
                );
            }
        }
        out
    }

    fn check(lines: &[String]) -> Result<Report, ExportError> {
        verify_export(lines.join("\n").as_bytes())
    }

    #[test]
    fn an_intact_export_verifies_every_chain() {
        let r = check(&export(3, 4)).unwrap();
        assert!(r.intact, "{r:?}");
        assert_eq!((r.votes, r.chains.len()), (12, 3));
    }

    #[test]
    fn v1_exports_still_verify_and_the_header_names_the_rule() {
        let lines = export_with(Rule::V1, 2, 3);
        assert!(!lines[0].contains("manifest_digest") && !lines[1].contains("salt"));
        assert!(check(&lines).unwrap().intact);
        // A v2 export read with another digest breaks at each chain's first link.
        let mut lines = export(2, 3);
        assert!(lines[0].contains(&"05".repeat(32)) && lines[1].contains("\"hash_v\":2"));
        lines[0] = lines[0].replace(&"05".repeat(32), &"06".repeat(32));
        let r = check(&lines).unwrap();
        assert_eq!(r.problem_count, 2, "{r:?}");
    }

    #[test]
    fn a_changed_choice_is_found_at_its_seq() {
        let mut lines = export(2, 3);
        lines[5] = lines[5].replace("\"alice\"", "\"bob\"");
        let r = check(&lines).unwrap();
        assert!(!r.intact);
        assert!(
            matches!(
                r.first_problem(),
                Some(Problem::HashMismatch {
                    chain: 1,
                    seq: 2,
                    ..
                })
            ),
            "{r:?}"
        );
    }

    #[test]
    fn garbage_lines_and_bad_hex_are_corrupt_items_not_panics() {
        let mut lines = export(1, 2);
        lines.push("{not json".into());
        lines[1] = lines[1].replace("\"hash\":\"", "\"hash\":\"zz");
        let r = check(&lines).unwrap();
        assert_eq!(
            r.problems
                .iter()
                .filter(|p| matches!(p, Problem::Corrupt { .. }))
                .count(),
            2,
            "{r:?}"
        );
    }

    #[test]
    fn a_bad_header_or_order_is_an_error() {
        assert!(matches!(
            check(&["{}".to_string()]),
            Err(ExportError::Header(_))
        ));
        assert!(matches!(check(&[]), Err(ExportError::Header(_))));
        let mut lines = export(2, 1);
        lines.swap(1, 2);
        assert!(matches!(
            check(&lines),
            Err(ExportError::Order {
                line: 3,
                chain: 0,
                after: 1
            })
        ));
        let lines = export(2, 1);
        let one_chain = [
            serde_json::to_string(&Header::new("e", 1, V2)).unwrap(),
            lines[2].clone(),
        ];
        assert!(matches!(
            check(&one_chain),
            Err(ExportError::ChainOutOfRange { .. })
        ));
    }

    #[test]
    fn missing_chains_are_empty_and_a_truncated_chain_still_verifies_its_prefix() {
        let lines = export(3, 2);
        let r = check(&lines[..3]).unwrap();
        assert!(r.intact && r.chains.len() == 3 && r.votes == 2, "{r:?}");
    }
}
