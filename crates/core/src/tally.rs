//! The tally statement (contract v2): when an election is certified, the log key signs,
//! under key name = `log_origin`, one note naming the manifest, every chain's published
//! tree (size and root), and the counts exactly those trees hold:
//!
//! ```text
//! <log_origin>
//! votechain/tally/v1
//! manifest <digest hex>
//! chain <c> <size> <root base64>        every chain, in order
//! total <n>
//! candidate <id> <n>                    in manifest order
//! region <id> <candidate> <n>           regions outer, candidates inner, manifest order
//! ```
//!
//! [`Tally::derive`] computes it from the votes; anyone holding the chains' entries and
//! their votes (an auditor with the ledger, or the certifier) derives the same text.

use crate::chain::{self, Hash};
use crate::manifest::Manifest;
use crate::note::{self, NoteError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;
use std::collections::HashMap;

const TAG: &str = "votechain/tally/v1";

/// A tally statement's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tally {
    pub log_origin: String,
    pub manifest_digest: Hash,
    /// `(size, root)` of each chain's published checkpoint, by chain.
    pub chains: Vec<(u64, Hash)>,
    pub total: u64,
    /// In manifest order.
    pub candidates: Vec<(String, u64)>,
    /// `(region, candidate, n)`, regions outer, candidates inner, in manifest order.
    pub regions: Vec<(String, String, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TallyError {
    #[error("a vote for ({0}, {1}) is not a choice of the manifest")]
    UnknownChoice(String, String),
    #[error("{got} chain trees given, the manifest has {want} chains")]
    ChainCount { got: usize, want: u32 },
    #[error("malformed tally statement: {0}")]
    Malformed(String),
    #[error("{0}")]
    Note(#[from] NoteError),
    #[error("the statement differs from the one derived: {0}")]
    Differs(String),
}

impl Tally {
    /// Counts `votes` (candidate, region) of the chains whose published trees are `chains`.
    pub fn derive<'a>(
        m: &Manifest,
        chains: Vec<(u64, Hash)>,
        votes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Tally, TallyError> {
        if chains.len() != m.chains as usize {
            return Err(TallyError::ChainCount {
                got: chains.len(),
                want: m.chains,
            });
        }
        let mut by: HashMap<(&str, &str), u64> = HashMap::new();
        let mut total = 0;
        for (c, r) in votes {
            if !m.candidates.iter().any(|x| x == c) || !m.regions.iter().any(|x| x == r) {
                return Err(TallyError::UnknownChoice(c.into(), r.into()));
            }
            *by.entry((c, r)).or_default() += 1;
            total += 1;
        }
        let candidates = m
            .candidates
            .iter()
            .map(|c| {
                let n = m
                    .regions
                    .iter()
                    .map(|r| by.get(&(c, r)).copied().unwrap_or(0))
                    .sum();
                (c.clone(), n)
            })
            .collect();
        let regions = m
            .regions
            .iter()
            .flat_map(|r| {
                let by = &by;
                m.candidates.iter().map(move |c| {
                    let n = by.get(&(c.as_str(), r.as_str())).copied().unwrap_or(0);
                    (r.clone(), c.clone(), n)
                })
            })
            .collect();
        Ok(Tally {
            log_origin: m.log_origin.clone(),
            manifest_digest: m.digest(),
            chains,
            total,
            candidates,
            regions,
        })
    }

    /// The statement's note text.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{}\n{TAG}\nmanifest {}\n",
            self.log_origin,
            chain::to_hex(&self.manifest_digest)
        );
        for (c, (size, root)) in self.chains.iter().enumerate() {
            out.push_str(&format!("chain {c} {size} {}\n", B64.encode(root)));
        }
        out.push_str(&format!("total {}\n", self.total));
        for (c, n) in &self.candidates {
            out.push_str(&format!("candidate {c} {n}\n"));
        }
        for (r, c, n) in &self.regions {
            out.push_str(&format!("region {r} {c} {n}\n"));
        }
        out
    }

    /// The signed statement (key name = `log_origin`).
    pub fn sign(&self, key: &SigningKey) -> String {
        let text = self.text();
        let sig = note::sign(&text, &self.log_origin, key);
        format!("{text}\n{sig}")
    }

    /// Parses a statement's text (checked for shape; [`verify_statement`] checks content).
    pub fn parse(text: &str) -> Result<Tally, TallyError> {
        let bad = |m: &str| TallyError::Malformed(m.into());
        let mut lines = text.lines();
        let log_origin = lines.next().ok_or_else(|| bad("empty"))?.to_string();
        if lines.next() != Some(TAG) {
            return Err(bad("second line is not votechain/tally/v1"));
        }
        let digest = lines
            .next()
            .and_then(|l| l.strip_prefix("manifest "))
            .and_then(chain::from_hex)
            .ok_or_else(|| bad("no manifest line"))?;
        let mut t = Tally {
            log_origin,
            manifest_digest: digest,
            chains: vec![],
            total: 0,
            candidates: vec![],
            regions: vec![],
        };
        let num = |s: &str| {
            crate::decimal::parse_u64(s).ok_or_else(|| bad("a count is not a canonical decimal"))
        };
        for line in lines {
            let w: Vec<&str> = line.split(' ').collect();
            match w[..] {
                ["chain", c, size, root] => {
                    let root = B64
                        .decode(root)
                        .ok()
                        .and_then(|r| <Hash>::try_from(r).ok())
                        .ok_or_else(|| bad("a chain root is not base64 of 32 bytes"))?;
                    if num(c)? != t.chains.len() as u64 {
                        return Err(bad("chains out of order"));
                    }
                    t.chains.push((num(size)?, root));
                }
                ["total", n] => t.total = num(n)?,
                ["candidate", c, n] => t.candidates.push((c.into(), num(n)?)),
                ["region", r, c, n] => t.regions.push((r.into(), c.into(), num(n)?)),
                _ => return Err(bad("an unknown line")),
            }
        }
        // One spelling per statement: every line, the total, the final newline, nothing
        // more (found by fuzzing: a text without its total line parsed, as total 0).
        if t.text() != text {
            return Err(bad("not the canonical text of a tally statement"));
        }
        Ok(t)
    }
}

/// Checks a signed statement against the manifest's key and digest; returns its content.
/// Whether its counts are those of the chains is [`Tally::derive`]'s to re-derive.
pub fn verify_statement(signed: &str, m: &Manifest) -> Result<Tally, TallyError> {
    let (text, _) = note::split(signed)?;
    let t = Tally::parse(text)?;
    if t.log_origin != m.log_origin || t.manifest_digest != m.digest() {
        return Err(TallyError::Differs(
            "not a statement of this manifest".into(),
        ));
    }
    let key = m
        .public_key_bytes()
        .ok_or_else(|| TallyError::Malformed("the manifest's key is malformed".into()))?;
    note::verify(
        signed,
        &crate::checkpoint::log_verifier(&m.log_origin, &key),
    )?;
    if t.text() != text {
        return Err(TallyError::Malformed("not in canonical form".into()));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::{V, block, key, value};

    fn manifest() -> Manifest {
        Manifest {
            election_id: "demo-2026".into(),
            candidates: ["alice", "bob", "carol"].map(String::from).to_vec(),
            regions: ["north", "south", "east", "west"]
                .map(String::from)
                .to_vec(),
            chains: 2,
            opens_at_ms: 1795000000000,
            closes_at_ms: 1795086400000,
            log_origin: "votes.example.org/demo-2026".into(),
            log_public_key: value("log_public_key_b64").into(),
            witnesses: None,
            witness_quorum: None,
        }
    }

    /// The vectors' chain 1 votes (chain 0 is empty) and its tree.
    fn votes() -> Vec<(String, String)> {
        V.lines()
            .filter(|l| l.starts_with("seq="))
            .map(|l| {
                let get = |k: &str| {
                    l.split(' ')
                        .find_map(|w| w.strip_prefix(k))
                        .unwrap()
                        .to_string()
                };
                (get("candidate_id="), get("region_id="))
            })
            .collect()
    }

    #[test]
    fn the_vectors_tally_reproduces_and_verifies() {
        let root7 =
            chain::from_hex("e84ff8d3355ec9d70677871ad984c3e5c6ff24d31d0a32404eea33bbc2c07bc3")
                .unwrap();
        let v = votes();
        let t = Tally::derive(
            &manifest(),
            vec![(0, crate::merkle::empty_root()), (7, root7)],
            v.iter().map(|(c, r)| (c.as_str(), r.as_str())),
        )
        .unwrap();
        let signed = t.sign(&key(value("log_key_seed_label")));
        assert_eq!(signed, block("tally statement"));
        assert_eq!(verify_statement(&signed, &manifest()), Ok(t.clone()));
        assert_eq!(Tally::parse(&t.text()), Ok(t));
    }

    /// Found by `scripts/fuzz` (target `tally`): a text without its `total` line parsed,
    /// with total 0. Every statement now has one spelling.
    #[test]
    fn only_the_canonical_text_of_a_statement_parses() {
        let crash = "\u{3}\u{3}\u{3}\nvotechain/tally/v1\nmanifest cd1a01a0cd1a01a0a01a0cd1a01ad11a0cd1a01a0a01a0cd1a01ad1a01a0a01a";
        assert!(Tally::parse(crash).is_err());
        let good = block("tally statement");
        let (text, _) = note::split(&good).unwrap();
        let t = Tally::parse(text).unwrap();
        for bad in [
            text.replacen("total 7\n", "", 1),
            text.replacen("total 7", "total +7", 1),
            text.replacen("total 7", "total 07", 1),
            text.trim_end().to_string(),
            text.replace('\n', "\r\n"),
            format!("{text}total 7\n"),
        ] {
            assert!(Tally::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(t.text(), text);
    }

    #[test]
    fn a_changed_count_or_key_or_manifest_fails() {
        let signed = block("tally statement");
        let changed = signed.replace("candidate bob 3", "candidate bob 4");
        assert!(verify_statement(&changed, &manifest()).is_err());
        let mut other = manifest();
        other.candidates.swap(0, 1);
        assert!(verify_statement(&signed, &other).is_err());
        other = manifest();
        other.log_public_key = value("witness_public_key_b64").into();
        assert!(verify_statement(&signed, &other).is_err());
        let bad_vote = Tally::derive(&manifest(), vec![(0, [0; 32]); 2], [("mallory", "north")]);
        assert!(matches!(bad_vote, Err(TallyError::UnknownChoice(..))));
        assert!(Tally::derive(&manifest(), vec![], []).is_err());
        for bad in ["", "o\nx\n", "o\nvotechain/tally/v1\nmanifest zz\n"] {
            assert!(Tally::parse(bad).is_err(), "{bad:?}");
        }
    }
}
