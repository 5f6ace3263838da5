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
//! v2.1: a manifest that names its witness policy (`witnesses` and `witness_quorum`, both
//! or neither) is digested under the tag `votechain/manifest/v2`, the policy last:
//! `... || u32(#witnesses) || field(witness_1) || ... || u32(witness_quorum)`. One without
//! them keeps the v1 tag and digest.
//!
//! Pure: parsing, validation and the digest. Storing and serving the manifest is the node's.

use crate::chain::{Hash, field};
use crate::checkpoint::WitnessPolicy;
use crate::model::{Election, is_valid_ident};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

const MANIFEST_TAG: &[u8] = b"votechain/manifest/v1";
/// The tag of a v2.1 manifest, one that names its witness policy.
const MANIFEST_TAG_V2: &[u8] = b"votechain/manifest/v2";

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
    /// v2.1: C2SP verifier keys (`name+id+key`, cosignature type 0x04) of the witnesses
    /// whose cosignatures count. With `witness_quorum`, or neither (no witness requirement).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub witnesses: Option<Vec<String>>,
    /// v2.1: how many of `witnesses` a published checkpoint needs, 1 to #witnesses.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub witness_quorum: Option<u32>,
}

/// An optional key that, when present, must hold a value: `null` is refused, as any other
/// value not of the key's type (the contract has no null).
fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
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
        match (&self.witnesses, self.witness_quorum) {
            (None, None) => {}
            (Some(w), Some(q)) => {
                let q = usize::try_from(q).unwrap_or(usize::MAX);
                if let Err(e) = WitnessPolicy::new(w, q) {
                    problems.push(format!("witness policy: {e}"));
                }
            }
            _ => problems
                .push("witnesses and witness_quorum go together: give both, or neither".into()),
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
        let policy = self.witnesses.as_ref().zip(self.witness_quorum);
        field(
            &mut buf,
            if policy.is_some() {
                MANIFEST_TAG_V2
            } else {
                MANIFEST_TAG
            },
        );
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
        if let Some((witnesses, quorum)) = policy {
            buf.extend_from_slice(&(witnesses.len() as u32).to_be_bytes());
            for w in witnesses {
                field(&mut buf, w.as_bytes());
            }
            buf.extend_from_slice(&quorum.to_be_bytes());
        }
        Sha256::digest(&buf).into()
    }

    /// The election's witness policy (v2.1); `None`: the manifest names none, so no
    /// witness is required, which every verifier says in its output. Defined for a valid
    /// manifest ([`Manifest::validate`] refuses a policy that does not parse).
    pub fn witness_policy(&self) -> Option<WitnessPolicy> {
        let (w, q) = self.witnesses.as_ref().zip(self.witness_quorum)?;
        WitnessPolicy::new(w, q as usize).ok()
    }

    /// The policy a verifier applies, and one line for its output saying whose it is: the
    /// manifest's own (v2.1; `vkeys`/`quorum` given beside it are refused: the election's
    /// policy is bound by its digest, no one loosens or tightens it); for a manifest
    /// without one, the verifier's own requirement (`vkeys`, `quorum` default all of
    /// them), or none at all, which the line says.
    pub fn policy_for_verifier(
        &self,
        vkeys: &[String],
        quorum: Option<usize>,
    ) -> Result<(WitnessPolicy, String), String> {
        let given = !vkeys.is_empty() || quorum.is_some();
        match (self.witness_policy(), given) {
            (Some(_), true) => Err("the manifest names its witness policy (witnesses, \
                 witness_quorum): --witness and --quorum apply only to a manifest without one"
                .into()),
            (Some(p), false) => {
                let line = format!("{} (the manifest's)", p.describe());
                Ok((p, line))
            }
            (None, true) => {
                let p = WitnessPolicy::new(vkeys, quorum.unwrap_or(vkeys.len()))
                    .map_err(|e| format!("--witness / --quorum: {e}"))?;
                let line = format!("{} (yours: the manifest names none)", p.describe());
                Ok((p, line))
            }
            (None, false) => Ok((
                WitnessPolicy::default(),
                WitnessPolicy::default().describe(),
            )),
        }
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
                    witnesses: self.witness_policy().unwrap_or_default(),
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
            witnesses: None,
            witness_quorum: None,
        };
        (m, digest)
    }

    /// The vectors' `[manifest, v2.1]` section: the `[manifest]` plus its witness policy,
    /// with the digest and chain 0's genesis they give.
    fn vector_manifest_v2_1() -> (Manifest, &'static str, &'static str) {
        let (base, _) = vector_manifest();
        let mut lines = V2_VECTORS
            .lines()
            .skip_while(|l| !l.starts_with("[manifest, v2.1"));
        lines.next().expect("the [manifest, v2.1] section");
        let body: Vec<&str> = lines.take_while(|l| !l.starts_with('[')).collect();
        let get = |prefix: &str| {
            body.iter()
                .find_map(|l| l.strip_prefix(prefix))
                .unwrap_or_else(|| panic!("{prefix} line"))
                .trim()
        };
        let m = Manifest {
            witnesses: Some(list(get("witnesses = "))),
            witness_quorum: Some(get("witness_quorum = ").parse().unwrap()),
            ..base
        };
        (m, get("manifest_digest "), get("genesis_v2 chain 0 "))
    }

    /// Contract v2.1: the manifest with its witness policy digests under the v2 tag, the
    /// policy last, and chain 0's genesis follows from that digest; the manifest without
    /// the policy keeps its v1 digest.
    #[test]
    fn contract_v2_1_manifest_vector_reproduces() {
        let (m, want_digest, want_genesis) = vector_manifest_v2_1();
        assert_eq!(m.validate(), Ok(()));
        assert_eq!(to_hex(&m.digest()), want_digest, "v2.1 manifest_digest");
        let genesis = genesis_v2(&m.election_id, 0, &m.digest());
        assert_eq!(to_hex(&genesis), want_genesis, "v2.1 genesis of chain 0");
        let (v1, v1_digest) = vector_manifest();
        assert_eq!(to_hex(&v1.digest()), v1_digest, "v1 digest unchanged");
        assert!(v1.witness_policy().is_none());
        let policy = m.witness_policy().expect("a policy");
        assert_eq!(policy.quorum, 1);
        assert_eq!(policy.witnesses[0].name, "witness.example.org/w1");
        // The keys are written only when present, and read back as written.
        assert!(!serde_json::to_string(&v1).unwrap().contains("witness"));
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(Manifest::parse_json(&text), Ok(m));
    }

    /// A verifier key of cosignature type for `name` and `public_key`.
    fn cosigner_vkey(name: &str, public_key: &[u8; 32]) -> String {
        let id = crate::note::key_id(name, crate::note::COSIGNATURE_V1, public_key);
        let mut typed = vec![crate::note::COSIGNATURE_V1];
        typed.extend_from_slice(public_key);
        format!("{name}+{}+{}", hex::encode(id), STANDARD.encode(typed))
    }

    #[test]
    fn a_witness_policy_is_refused_unless_whole_distinct_and_reachable() {
        let (good, _, _) = vector_manifest_v2_1();
        let w1 = good.witnesses.clone().unwrap()[0].clone();
        let with = |w: Vec<String>, q: Option<u32>| Manifest {
            witnesses: Some(w),
            witness_quorum: q,
            ..good.clone()
        };
        let refused = |m: Manifest| {
            let p = m.validate().expect_err("refused");
            assert_eq!(p.len(), 1, "{p:?}");
            p[0].clone()
        };
        assert!(refused(with(vec![w1.clone()], None)).contains("both, or neither"));
        let no_witnesses = Manifest {
            witness_quorum: Some(1),
            ..good.clone()
        };
        let no_witnesses = Manifest {
            witnesses: None,
            ..no_witnesses
        };
        assert!(refused(no_witnesses).contains("both, or neither"));
        assert!(refused(with(vec![w1.clone()], Some(0))).contains("quorum"));
        assert!(refused(with(vec![w1.clone()], Some(2))).contains("quorum"));
        assert!(refused(with(vec![], Some(0))).contains("quorum"));
        let twice = refused(with(vec![w1.clone(), w1.clone()], Some(2)));
        assert!(twice.contains("name is listed twice"), "{twice}");
        // One witness's key under a second name would count twice toward a quorum of 2.
        let key = crate::note::parse_verifier_key(&w1).unwrap().public_key;
        let alias = cosigner_vkey("witness.example.org/alias", &key);
        let aliased = refused(with(vec![w1.clone(), alias], Some(2)));
        assert!(aliased.contains("public key is listed twice"), "{aliased}");
        let other = cosigner_vkey("witness.example.org/w2", &[9u8; 32]);
        assert_eq!(with(vec![w1.clone(), other], Some(2)).validate(), Ok(()));
        // A log (Ed25519 note) key is not a cosignature key; a garbled key does not parse.
        let log_key = crate::checkpoint::log_verifier("witness.example.org/w1", &key);
        let log_vkey = format!(
            "{}+{}+{}",
            log_key.name,
            hex::encode(log_key.key_id),
            STANDARD.encode([&[crate::note::ED25519][..], &key[..]].concat())
        );
        assert!(refused(with(vec![log_vkey], Some(1))).contains("cosignature"));
        assert!(refused(with(vec!["w+00+AA==".into()], Some(1))).contains("witness policy"));
    }

    #[test]
    fn a_null_witness_key_is_refused_not_read_as_absent() {
        let (good, _) = vector_manifest();
        let mut v = serde_json::to_value(&good).unwrap();
        v["witnesses"] = serde_json::Value::Null;
        v["witness_quorum"] = serde_json::Value::Null;
        let err = Manifest::parse_json(&v.to_string()).unwrap_err();
        assert!(matches!(err, ManifestError::Parse(_)), "{err}");
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
            witnesses: None,
            witness_quorum: None,
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
