//! The election manifest of the binding contract v2 (`contract-v2.md`, "Election manifest").
//!
//! One JSON document defines an election once and for all: its candidates and regions (in
//! order), its chains, its voting window, the origin of its transparency logs and the
//! Ed25519 key that signs them. Its digest enters every v2 genesis hash
//! ([`crate::chain::genesis_v2`]), so a chain is bound to the definition it was cast
//! under. The contract's test vectors (`tests/data/v2-vectors.txt`) pin the digest.
//!
//! ```text
//! manifest_digest = SHA256( field("votechain/manifest/v1") || field(election_id)
//!     || u32(#candidates) || field(candidate_1) || ... || u32(#regions) || field(region_1) || ...
//!     || u32(chains) || i64(opens_at_ms) || i64(closes_at_ms) || field(log_origin)
//!     || field(log_public_key as its 32 raw bytes) )
//! ```
//!
//! Pure: parsing, validation and the digest. Storing and serving the manifest is the node's.

use crate::chain::{Hash, field};
use crate::model::{Election, is_valid_ident};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

const MANIFEST_TAG: &[u8] = b"votechain/manifest/v1";

/// Bounds of the contract, inclusive.
pub const MAX_CANDIDATES: usize = 256;
pub const MAX_REGIONS: usize = 4096;
pub const MAX_CHAINS: u32 = 1024;
pub const MAX_LOG_ORIGIN_LEN: usize = 200;

/// An election's manifest, exactly the contract's keys. Unknown keys are refused: a
/// manifest is signed off as a whole, and a key we do not read would be a silent surprise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub election_id: String,
    /// In manifest order: the order is part of the manifest (and of its digest).
    pub candidates: Vec<String>,
    /// In manifest order, as `candidates`.
    pub regions: Vec<String>,
    pub chains: u32,
    /// The voting window `[opens_at_ms, closes_at_ms)`, ms since the Unix epoch.
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
    /// The log origin; chain `c`'s log is `{log_origin}/{c}`.
    pub log_origin: String,
    /// Standard base64 (with padding) of the 32-byte Ed25519 key that signs checkpoints
    /// and the tally.
    pub log_public_key: String,
}

/// Why a manifest is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not the contract's shape (a missing, unknown or mistyped key).
    #[error("manifest is not valid JSON of the contract's shape: {0}")]
    Parse(String),
    /// Well-formed, but breaks the contract's rules: every problem, in key order.
    #[error("invalid manifest ({} problem(s)): {}", .0.len(), .0.join("; "))]
    Invalid(Vec<String>),
}

impl Manifest {
    /// Parses the JSON text of a manifest and validates it.
    pub fn parse_json(text: &str) -> Result<Manifest, ManifestError> {
        let m: Manifest =
            serde_json::from_str(text).map_err(|e| ManifestError::Parse(e.to_string()))?;
        m.validate().map_err(ManifestError::Invalid)?;
        Ok(m)
    }

    /// Checks every rule of the contract and reports every problem at once, so whoever
    /// writes a manifest fixes it in one round.
    pub fn validate(&self) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if !is_valid_ident(&self.election_id) {
            problems.push(format!(
                "election_id '{}' is not an identifier (1-64 characters of [A-Za-z0-9._-])",
                self.election_id
            ));
        }
        check_list(&mut problems, "candidate", &self.candidates, MAX_CANDIDATES);
        check_list(&mut problems, "region", &self.regions, MAX_REGIONS);
        if !(1..=MAX_CHAINS).contains(&self.chains) {
            problems.push(format!(
                "chains is {}, must be 1 to {MAX_CHAINS}",
                self.chains
            ));
        }
        if self.opens_at_ms >= self.closes_at_ms {
            problems.push(format!(
                "opens_at_ms ({}) must be before closes_at_ms ({})",
                self.opens_at_ms, self.closes_at_ms
            ));
        }
        if !is_valid_log_origin(&self.log_origin) {
            problems.push(format!(
                "log_origin '{}' must be 1 to {MAX_LOG_ORIGIN_LEN} printable ASCII characters \
                 with no space and no '+'",
                self.log_origin
            ));
        }
        if self.public_key_bytes().is_none() {
            problems.push(format!(
                "log_public_key '{}' is not standard base64 (with padding) of 32 bytes",
                self.log_public_key
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The 32 raw bytes of `log_public_key`; `None` unless it is canonical standard base64
    /// with padding of exactly 32 bytes.
    pub fn public_key_bytes(&self) -> Option<[u8; 32]> {
        STANDARD.decode(&self.log_public_key).ok()?.try_into().ok()
    }

    /// `manifest_digest`, as in the module doc. Defined for a valid manifest: an invalid
    /// one is refused by [`Manifest::validate`] before its digest can matter (an
    /// undecodable key enters here as zero bytes, and counts are truncated to u32).
    pub fn digest(&self) -> Hash {
        let mut buf = Vec::with_capacity(256);
        field(&mut buf, MANIFEST_TAG);
        field(&mut buf, self.election_id.as_bytes());
        for list in [&self.candidates, &self.regions] {
            buf.extend_from_slice(&(list.len() as u32).to_be_bytes());
            for item in list {
                field(&mut buf, item.as_bytes());
            }
        }
        buf.extend_from_slice(&self.chains.to_be_bytes());
        buf.extend_from_slice(&self.opens_at_ms.to_be_bytes());
        buf.extend_from_slice(&self.closes_at_ms.to_be_bytes());
        field(&mut buf, self.log_origin.as_bytes());
        let key = self.public_key_bytes();
        field(&mut buf, key.as_ref().map_or(&[][..], |k| &k[..]));
        Sha256::digest(&buf).into()
    }

    /// The origin of chain `chain`'s transparency log: `{log_origin}/{chain}` (decimal, also
    /// when there is one chain).
    pub fn log_origin_of_chain(&self, chain: u32) -> String {
        format!("{}/{chain}", self.log_origin)
    }

    /// The election as the registry knows it (the order of candidates and regions is not
    /// kept there: it matters to the digest and the tally, not to acceptance). Open: the
    /// voting window is checked against `opens_at_ms`/`closes_at_ms`, not this flag.
    pub fn registry_election(&self) -> Election {
        Election {
            id: self.election_id.clone(),
            candidates: self.candidates.iter().cloned().collect(),
            regions: self.regions.iter().cloned().collect(),
            chains: self.chains,
            open: true,
            rule: crate::chain::Rule::V2 {
                manifest_digest: self.digest(),
            },
            window: Some((self.opens_at_ms, self.closes_at_ms)),
            log: self
                .public_key_bytes()
                .map(|public_key| crate::model::LogKey {
                    origin: self.log_origin.clone(),
                    public_key,
                }),
        }
    }
}

/// Identifiers, unique, `1..=max` of them; one problem per bad or repeated item.
fn check_list(problems: &mut Vec<String>, what: &str, items: &[String], max: usize) {
    if !(1..=max).contains(&items.len()) {
        problems.push(format!(
            "{what}s has {} entries, must have 1 to {max}",
            items.len()
        ));
    }
    let mut seen = BTreeSet::new();
    let mut repeated = BTreeSet::new();
    for item in items {
        if !is_valid_ident(item) {
            problems.push(format!(
                "{what} '{item}' is not an identifier (1-64 characters of [A-Za-z0-9._-])"
            ));
        }
        if !seen.insert(item.as_str()) && repeated.insert(item.as_str()) {
            problems.push(format!("{what} '{item}' appears more than once"));
        }
    }
}

/// 1 to 200 printable ASCII characters (`!` to `~`), no space and no `+` (the signed-note
/// key name rule: `+` separates a verifier key's fields).
fn is_valid_log_origin(s: &str) -> bool {
    (1..=MAX_LOG_ORIGIN_LEN).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_graphic() && b != b'+')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::{from_hex, genesis_v2, to_hex};
    use proptest::prelude::*;

    const V2_VECTORS: &str = include_str!("../tests/data/v2-vectors.txt");

    /// The header line (after `[name]`) and the body lines of one section of the vectors.
    fn section(name: &str) -> (&'static str, Vec<&'static str>) {
        let tag = format!("[{name}]");
        let mut lines = V2_VECTORS.lines().skip_while(|l| !l.starts_with(&tag));
        let header = lines.next().expect("section present")[tag.len()..].trim();
        (header, lines.take_while(|l| !l.starts_with('[')).collect())
    }

    /// `['a', 'b']` as the vectors write lists.
    fn list(v: &str) -> Vec<String> {
        v.trim_start_matches('[')
            .trim_end_matches(']')
            .split(',')
            .map(|s| s.trim().trim_matches('\'').to_string())
            .collect()
    }

    /// The manifest of the vectors' `[manifest]` section, and the digest they give for it.
    fn vector_manifest() -> (Manifest, &'static str) {
        let (_, body) = section("manifest");
        let kv: std::collections::HashMap<&str, &str> = body
            .iter()
            .filter_map(|l| l.split_once(" = "))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let digest = body
            .iter()
            .find_map(|l| l.strip_prefix("manifest_digest "))
            .expect("manifest_digest line")
            .trim();
        let m = Manifest {
            election_id: kv["election_id"].into(),
            candidates: list(kv["candidates"]),
            regions: list(kv["regions"]),
            chains: kv["chains"].parse().unwrap(),
            opens_at_ms: kv["opens_at_ms"].parse().unwrap(),
            closes_at_ms: kv["closes_at_ms"].parse().unwrap(),
            log_origin: kv["log_origin"].into(),
            log_public_key: kv["log_public_key"].into(),
        };
        (m, digest)
    }

    /// Reproduces the vectors' manifest digest byte for byte, and the genesis of their
    /// chain from it (manifest -> digest -> genesis_v2, end to end).
    #[test]
    fn contract_v2_manifest_vectors_reproduce() {
        let (m, want_digest) = vector_manifest();
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(m.candidates, ["alice", "bob", "carol"]);
        assert_eq!(m.regions, ["north", "south", "east", "west"]);
        assert_eq!(to_hex(&m.digest()), want_digest, "manifest_digest");

        let (header, body) = section("chain");
        let h: std::collections::HashMap<&str, &str> = header
            .split_whitespace()
            .filter_map(|p| p.split_once('='))
            .collect();
        assert_eq!(h["election_id"], m.election_id);
        let chain: u32 = h["chain"].parse().unwrap();
        assert_eq!(m.log_origin_of_chain(chain), h["origin"]);
        let want_genesis = body
            .iter()
            .find_map(|l| l.strip_prefix("genesis_v2 "))
            .unwrap()
            .trim();
        let g = genesis_v2(&m.election_id, chain, &m.digest());
        assert_eq!(to_hex(&g), want_genesis, "genesis_v2 chain {chain}");
        assert_eq!(from_hex(want_genesis), Some(g));
    }

    /// JSON round trip: what `parse_json` reads is what serde writes, and the digest holds.
    #[test]
    fn parse_json_reads_the_vector_manifest() {
        let (m, want_digest) = vector_manifest();
        let text = serde_json::to_string_pretty(&m).unwrap();
        let back = Manifest::parse_json(&text).unwrap();
        assert_eq!(back, m);
        assert_eq!(to_hex(&back.digest()), want_digest);
        let key = back.public_key_bytes().unwrap();
        assert_eq!(key[..2], [0x6a, 0x0e]);
        let e = back.registry_election();
        assert_eq!((e.id.as_str(), e.chains, e.open), ("demo-2026", 2, true));
        assert!(e.candidates.contains("carol") && e.regions.contains("west"));
        assert_eq!(e.candidates.len(), 3);
        assert_eq!(e.regions.len(), 4);
    }

    #[test]
    fn parse_json_refuses_unknown_missing_and_mistyped_keys() {
        let (m, _) = vector_manifest();
        let mut v = serde_json::to_value(&m).unwrap();
        v["extra"] = serde_json::json!(1);
        assert!(matches!(
            Manifest::parse_json(&v.to_string()),
            Err(ManifestError::Parse(_))
        ));
        let mut v = serde_json::to_value(&m).unwrap();
        v.as_object_mut().unwrap().remove("log_origin");
        assert!(matches!(
            Manifest::parse_json(&v.to_string()),
            Err(ManifestError::Parse(_))
        ));
        let mut v = serde_json::to_value(&m).unwrap();
        v["chains"] = serde_json::json!(-1);
        assert!(matches!(
            Manifest::parse_json(&v.to_string()),
            Err(ManifestError::Parse(_))
        ));
        assert!(matches!(
            Manifest::parse_json("{not json"),
            Err(ManifestError::Parse(_))
        ));
    }

    #[test]
    fn validate_reports_every_problem_at_once() {
        let (good, _) = vector_manifest();
        let bad = Manifest {
            candidates: vec!["alice".into(), "bob".into(), "alice".into()],
            chains: 0,
            opens_at_ms: good.closes_at_ms,
            log_public_key: STANDARD.encode([7u8; 31]),
            ..good.clone()
        };
        let problems = bad.validate().unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].contains("candidate 'alice' appears more than once"));
        assert!(problems[1].contains("chains is 0"));
        assert!(problems[2].contains("opens_at_ms"));
        assert!(problems[3].contains("log_public_key"));

        let text = serde_json::to_string(&bad).unwrap();
        let err = Manifest::parse_json(&text).unwrap_err();
        assert_eq!(err, ManifestError::Invalid(problems.clone()));
        let msg = err.to_string();
        assert!(
            msg.starts_with("invalid manifest (4 problem(s)): "),
            "{msg}"
        );
        assert!(problems.iter().all(|p| msg.contains(p.as_str())));
    }

    #[test]
    fn validate_checks_each_rule() {
        let (good, _) = vector_manifest();
        assert_eq!(good.validate(), Ok(()));
        let problems = |m: Manifest| m.validate().unwrap_err();
        let with = |f: &dyn Fn(&mut Manifest)| {
            let mut m = good.clone();
            f(&mut m);
            m
        };
        assert_eq!(
            problems(with(&|m| m.election_id = "demo 2026".into())).len(),
            1
        );
        assert_eq!(problems(with(&|m| m.candidates.clear())).len(), 1);
        assert_eq!(
            problems(with(
                &|m| m.candidates = (0..257).map(|i| format!("c{i}")).collect()
            ))
            .len(),
            1
        );
        assert_eq!(
            problems(with(&|m| m.regions = vec!["north".into(), "no rth".into()])).len(),
            1
        );
        assert_eq!(problems(with(&|m| m.regions.clear())).len(), 1);
        assert_eq!(
            problems(with(
                &|m| m.regions = (0..4097).map(|i| format!("r{i}")).collect()
            ))
            .len(),
            1
        );
        // A name repeated three times is one problem.
        assert_eq!(
            problems(with(
                &|m| m.regions = vec!["n".into(), "n".into(), "n".into()]
            ))
            .len(),
            1
        );
        assert!(with(&|m| m.chains = 1024).validate().is_ok());
        assert_eq!(problems(with(&|m| m.chains = 1025)).len(), 1);
        assert_eq!(
            problems(with(&|m| m.opens_at_ms = m.closes_at_ms + 1)).len(),
            1
        );
        for origin in ["", "a b", "a+b", "caf\u{e9}", "a\tb"] {
            assert_eq!(
                problems(with(&|m| m.log_origin = origin.into())).len(),
                1,
                "{origin:?}"
            );
        }
        assert!(with(&|m| m.log_origin = "x".repeat(200)).validate().is_ok());
        assert_eq!(problems(with(&|m| m.log_origin = "x".repeat(201))).len(), 1);
        // Unpadded, URL-safe alphabet, 33 bytes, non-canonical trailing bits: all refused.
        let key = good.log_public_key.clone();
        for k in [
            key.trim_end_matches('=').to_string(),
            key.replace('+', "-"),
            STANDARD.encode([1u8; 33]),
            format!("{}x=", &key[..42]),
            String::new(),
        ] {
            assert_eq!(
                problems(with(&|m| m.log_public_key = k.clone())).len(),
                1,
                "{k}"
            );
        }
    }

    #[test]
    fn log_origin_of_chain_is_decimal_even_for_one_chain() {
        let (m, _) = vector_manifest();
        assert_eq!(m.log_origin_of_chain(0), "votes.example.org/demo-2026/0");
        assert_eq!(m.log_origin_of_chain(12), "votes.example.org/demo-2026/12");
    }

    /// Distinct identifiers, 2 to 8 of them.
    fn names() -> impl Strategy<Value = Vec<String>> {
        prop::collection::btree_set("[a-z0-9]{1,8}", 2..8).prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        /// Renaming any candidate, or swapping two, changes the digest: the names and their
        /// order are both part of the manifest.
        #[test]
        fn digest_binds_candidate_names_and_order(
            candidates in names(),
            i in any::<prop::sample::Index>(),
            j in any::<prop::sample::Index>(),
            suffix in "[A-Z]{1,4}",
        ) {
            let (base, _) = vector_manifest();
            let m = Manifest { candidates, ..base };
            prop_assert!(m.validate().is_ok());
            let d = m.digest();
            let n = m.candidates.len();
            let (i, j) = (i.index(n), j.index(n));

            let mut renamed = m.clone();
            renamed.candidates[i].push_str(&suffix);
            prop_assert_ne!(renamed.digest(), d);

            if i != j {
                let mut swapped = m.clone();
                swapped.candidates.swap(i, j);
                prop_assert_ne!(swapped.digest(), d);
            }
            // And moving a candidate to the regions is not the same manifest either.
            let mut moved = m.clone();
            let c = moved.candidates.pop().unwrap();
            moved.regions.insert(0, c);
            prop_assert_ne!(moved.digest(), d);
        }
    }
}
