//! A voter's check of their receipt: does the receipt (`GET .../votes/{vote_id}`) hold
//! the ballot the voter cast? The receipt alone reveals nothing of the choice of a v2
//! vote; with the choice and the salt from their 202 answer, the voter recomputes the
//! vote's hash on the receipt's `prev_hash` and compares it with the receipt's `hash`.
//!
//! This shows the chain holds that ballot at that position. That the chain itself is the
//! one everybody sees is the transparency log's part (an inclusion proof in a signed
//! checkpoint), not this check's.

use crate::chain::{self, VoteFields, from_hex, salt_from_hex};
use serde::Deserialize;

/// The receipt as the query role serves it (extra fields are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Receipt {
    pub vote_id: String,
    pub election_id: String,
    pub chain: u32,
    pub seq: u64,
    pub prev_hash: String,
    pub hash: String,
    pub cast_at_ms: i64,
    /// 2 for a salted (v2) vote; absent or 1 for v1.
    #[serde(default)]
    pub hash_v: Option<u8>,
}

/// What the voter knows: their choice and (v2) the salt of the 202 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ballot<'a> {
    pub candidate_id: &'a str,
    pub region_id: &'a str,
    pub salt: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("the receipt's {0} is not 64 lowercase hex characters")]
    BadHash(&'static str),
    #[error("the salt is not 64 lowercase hex characters")]
    BadSalt,
    #[error("a v2 receipt needs the salt of the 202 answer")]
    SaltNeeded,
    #[error("a v1 receipt takes no salt")]
    NoSaltInV1,
    #[error("this ballot hashes to {expected}, the receipt holds {stored}")]
    Mismatch { expected: String, stored: String },
}

/// Checks that `receipt` is the chained vote of `ballot`.
pub fn check(receipt: &Receipt, ballot: &Ballot<'_>) -> Result<(), ReceiptError> {
    let prev = from_hex(&receipt.prev_hash).ok_or(ReceiptError::BadHash("prev_hash"))?;
    let stored = from_hex(&receipt.hash).ok_or(ReceiptError::BadHash("hash"))?;
    let salt = match (receipt.hash_v.unwrap_or(1), ballot.salt) {
        (2, Some(s)) => Some(salt_from_hex(s).ok_or(ReceiptError::BadSalt)?),
        (2, None) => return Err(ReceiptError::SaltNeeded),
        (_, Some(_)) => return Err(ReceiptError::NoSaltInV1),
        (_, None) => None,
    };
    let fields = VoteFields {
        election_id: &receipt.election_id,
        chain: receipt.chain,
        seq: receipt.seq,
        vote_id: &receipt.vote_id,
        candidate_id: ballot.candidate_id,
        region_id: ballot.region_id,
        cast_at_ms: receipt.cast_at_ms,
    };
    let expected = chain::hash_of(&fields, salt.as_ref(), &prev);
    if expected != stored {
        return Err(ReceiptError::Mismatch {
            expected: chain::to_hex(&expected),
            stored: receipt.hash.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn receipt(salted: bool) -> Receipt {
        let prev = [4u8; 32];
        let fields = VoteFields {
            election_id: "e",
            chain: 1,
            seq: 9,
            vote_id: "6f1c2a4e-0000-4000-8000-000000000001",
            candidate_id: "alice",
            region_id: "north",
            cast_at_ms: 1_795_000_000_123,
        };
        let salt = salted.then(|| salt_from_hex(SALT).unwrap());
        Receipt {
            vote_id: fields.vote_id.into(),
            election_id: "e".into(),
            chain: 1,
            seq: 9,
            prev_hash: chain::to_hex(&prev),
            hash: chain::to_hex(&chain::hash_of(&fields, salt.as_ref(), &prev)),
            cast_at_ms: fields.cast_at_ms,
            hash_v: salted.then_some(2),
        }
    }

    fn ballot<'a>(c: &'a str, r: &'a str, salt: Option<&'a str>) -> Ballot<'a> {
        Ballot {
            candidate_id: c,
            region_id: r,
            salt,
        }
    }

    #[test]
    fn the_voters_ballot_matches_and_no_other_does() {
        let r = receipt(true);
        assert_eq!(check(&r, &ballot("alice", "north", Some(SALT))), Ok(()));
        for b in [
            ballot("bob", "north", Some(SALT)),
            ballot("alice", "south", Some(SALT)),
            ballot("alice", "north", Some(&SALT.replace('0', "1"))),
        ] {
            assert!(
                matches!(check(&r, &b), Err(ReceiptError::Mismatch { .. })),
                "{b:?}"
            );
        }
        assert_eq!(
            check(&r, &ballot("alice", "north", None)),
            Err(ReceiptError::SaltNeeded)
        );
        assert_eq!(
            check(&r, &ballot("alice", "north", Some("zz"))),
            Err(ReceiptError::BadSalt)
        );
    }

    #[test]
    fn v1_receipts_check_without_a_salt() {
        let r = receipt(false);
        assert_eq!(check(&r, &ballot("alice", "north", None)), Ok(()));
        assert_eq!(
            check(&r, &ballot("alice", "north", Some(SALT))),
            Err(ReceiptError::NoSaltInV1)
        );
        let mut bad = r;
        bad.hash = "ZZ".into();
        assert_eq!(
            check(&bad, &ballot("alice", "north", None)),
            Err(ReceiptError::BadHash("hash"))
        );
    }
}

/// The first line of a C2SP `tlog-proof` v1.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
const EXTRA_TAG: &str = "votechain/receipt/v2";

/// A C2SP `tlog-proof` v1: extra data, the entry's index, its inclusion proof, and the
/// checkpoint (a signed note, verbatim) the proof leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub path: Vec<crate::merkle::Hash>,
    pub checkpoint: String,
}

/// What a vote's `extra` line carries: everything of the vote's hash but the choice and
/// the salt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptExtra {
    pub election_id: String,
    pub chain: u32,
    pub seq: u64,
    pub vote_id: String,
    pub cast_at_ms: i64,
    pub prev_hash: crate::chain::Hash,
}

/// Why a full receipt (a `.../proof`) does not check, naming the step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofCheckError {
    #[error("step 1 (read the proof): {0}")]
    Format(String),
    #[error("step 2 (the vote): {0}")]
    Vote(String),
    #[error("step 3 (the log's signature): {0}")]
    Signature(String),
    #[error("step 4 (the witnesses): {0}")]
    Witnesses(String),
    #[error("step 5 (inclusion in the checkpoint): {0}")]
    Inclusion(String),
}

impl ReceiptExtra {
    pub fn text(&self) -> String {
        format!(
            "{EXTRA_TAG} {} {} {} {} {} {}",
            self.election_id,
            self.chain,
            self.seq,
            self.vote_id,
            self.cast_at_ms,
            chain::to_hex(&self.prev_hash)
        )
    }

    pub fn parse(text: &str) -> Result<ReceiptExtra, String> {
        let w: Vec<&str> = text.split(' ').collect();
        let [tag, election_id, c, seq, vote_id, at, prev] = w[..] else {
            return Err("the extra line is not a votechain receipt".into());
        };
        let num = crate::decimal::parse_u64;
        let (Some(c), Some(seq)) = (num(c), num(seq)) else {
            return Err("chain or seq is not a decimal".into());
        };
        let parsed = (
            u32::try_from(c).ok(),
            crate::decimal::parse_i64(at),
            from_hex(prev),
        );
        match (tag == EXTRA_TAG, parsed) {
            (true, (Some(chain), Some(cast_at_ms), Some(prev_hash))) => Ok(ReceiptExtra {
                election_id: election_id.into(),
                chain,
                seq,
                vote_id: vote_id.into(),
                cast_at_ms,
                prev_hash,
            }),
            _ => Err("malformed receipt fields".into()),
        }
    }
}

/// The most hashes an inclusion proof has (a tree of at most 2^64 leaves).
pub const MAX_PROOF_LINES: usize = 63;

impl TlogProof {
    pub fn text(&self) -> String {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = format!("{PROOF_HEADER}\n");
        if let Some(e) = &self.extra {
            out.push_str(&format!("extra {}\n", b64.encode(e)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.path {
            out.push_str(&format!("{}\n", b64.encode(h)));
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    pub fn parse(text: &str) -> Result<TlogProof, String> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or("no blank line before the checkpoint")?;
        let mut lines = head.split('\n');
        if lines.next() != Some(PROOF_HEADER) {
            return Err(format!("the first line is not {PROOF_HEADER}"));
        }
        let mut next = lines.next().ok_or("no index line")?;
        let mut extra = None;
        if let Some(e) = next.strip_prefix("extra ") {
            extra = Some(b64.decode(e).map_err(|_| "extra is not base64")?);
            next = lines.next().ok_or("no index line")?;
        }
        let index = next
            .strip_prefix("index ")
            .and_then(crate::decimal::parse_u64)
            .ok_or("no canonical index line")?;
        // A tree of at most 2^64 leaves has at most 63 proof hashes: read no more.
        let lines: Vec<&str> = lines.by_ref().take(MAX_PROOF_LINES + 1).collect();
        if lines.len() > MAX_PROOF_LINES {
            return Err(format!("more than {MAX_PROOF_LINES} proof lines"));
        }
        let path = lines
            .into_iter()
            .map(|l| {
                b64.decode(l)
                    .ok()
                    .and_then(|h| <crate::merkle::Hash>::try_from(h).ok())
                    .ok_or_else(|| "a proof line is not base64 of 32 bytes".to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TlogProof {
            extra,
            index,
            path,
            checkpoint: checkpoint.into(),
        })
    }
}

/// What a checked receipt proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub extra: ReceiptExtra,
    pub checkpoint: crate::checkpoint::Checkpoint,
}

/// The voter's offline check of a receipt (`GET .../votes/{vote_id}/proof`): the vote
/// with their choice and salt hashes to the entry at `index`, which is included in a
/// checkpoint of its chain's log signed by the manifest's key and cosigned by a quorum of
/// the witness policy. No network.
pub fn check_proof(
    proof_text: &str,
    manifest: &crate::manifest::Manifest,
    policy: &crate::checkpoint::WitnessPolicy,
    ballot: &Ballot<'_>,
) -> Result<Verified, ProofCheckError> {
    use crate::checkpoint::{self, Checkpoint};
    use crate::merkle;
    let proof = TlogProof::parse(proof_text).map_err(ProofCheckError::Format)?;
    let extra_bytes = proof
        .extra
        .as_deref()
        .ok_or_else(|| ProofCheckError::Format("no extra line".into()))?;
    let extra = std::str::from_utf8(extra_bytes)
        .map_err(|_| ProofCheckError::Format("extra is not UTF-8".into()))
        .and_then(|t| ReceiptExtra::parse(t).map_err(ProofCheckError::Format))?;
    // 2. The vote: this election, a chain it has, index = seq - 1, the ballot's hash.
    let vote = |m: &str| ProofCheckError::Vote(m.into());
    if extra.election_id != manifest.election_id || extra.chain >= manifest.chains {
        return Err(vote("the receipt is not of this election or chain"));
    }
    if extra.seq == 0 || proof.index != extra.seq - 1 {
        return Err(vote("index is not seq - 1"));
    }
    let salt = ballot.salt.ok_or_else(|| vote("the salt is needed"))?;
    let salt = salt_from_hex(salt).ok_or_else(|| vote("the salt is not 64 lowercase hex"))?;
    let fields = VoteFields {
        election_id: &extra.election_id,
        chain: extra.chain,
        seq: extra.seq,
        vote_id: &extra.vote_id,
        candidate_id: ballot.candidate_id,
        region_id: ballot.region_id,
        cast_at_ms: extra.cast_at_ms,
    };
    let entry = chain::vote_hash_v2(&fields, &salt, &extra.prev_hash);
    // 3. The log's signature, under the chain's origin and the manifest's key.
    let origin = manifest.log_origin_of_chain(extra.chain);
    let key = manifest
        .public_key_bytes()
        .ok_or_else(|| ProofCheckError::Signature("the manifest's key is malformed".into()))?;
    let log = checkpoint::log_verifier(&origin, &key);
    let (text, _) = crate::note::split(&proof.checkpoint)
        .map_err(|e| ProofCheckError::Format(e.to_string()))?;
    let cp = Checkpoint::parse(text).map_err(|e| ProofCheckError::Format(e.to_string()))?;
    if cp.origin != origin {
        return Err(ProofCheckError::Signature(format!(
            "the checkpoint is of '{}', not '{origin}'",
            cp.origin
        )));
    }
    crate::note::verify(&proof.checkpoint, &log)
        .map_err(|e| ProofCheckError::Signature(e.to_string()))?;
    // 4. The witnesses.
    let got = policy.cosigners(&proof.checkpoint);
    if got < policy.quorum {
        return Err(ProofCheckError::Witnesses(format!(
            "{got} of the {} cosignatures the policy requires",
            policy.quorum
        )));
    }
    // 5. Inclusion.
    merkle::verify_inclusion(
        &merkle::leaf_hash(&entry),
        proof.index,
        cp.size,
        &proof.path,
        &cp.root,
    )
    .map_err(|e| {
        ProofCheckError::Inclusion(format!("{e} (a wrong choice or salt ends here too)"))
    })?;
    Ok(Verified {
        extra,
        checkpoint: cp,
    })
}

#[cfg(test)]
mod proof_tests {
    use super::*;
    use crate::checkpoint::WitnessPolicy;
    use crate::checkpoint::tests::{block, policy, value};
    use crate::manifest::Manifest;

    fn manifest() -> Manifest {
        let v = crate::checkpoint::tests::V;
        let get = |k: &str| {
            let line = v
                .lines()
                .find(|l| l.starts_with(&format!("{k} = ")))
                .unwrap();
            line.split_once(" = ").unwrap().1.to_string()
        };
        let list = |k: &str| {
            get(k)
                .trim_matches(|c| c == '[' || c == ']')
                .split(", ")
                .map(|s| s.trim_matches('\'').to_string())
                .collect::<Vec<_>>()
        };
        Manifest {
            election_id: get("election_id"),
            candidates: list("candidates"),
            regions: list("regions"),
            chains: get("chains").parse().unwrap(),
            opens_at_ms: get("opens_at_ms").parse().unwrap(),
            closes_at_ms: get("closes_at_ms").parse().unwrap(),
            log_origin: get("log_origin"),
            log_public_key: get("log_public_key"),
            witnesses: None,
            witness_quorum: None,
        }
    }

    const SALT: &str = "f94f0ad45023b3d51a4be3f093d1e4a168e72d8830bd57f99bc98e65925727ed";

    fn ballot<'a>(c: &'a str, r: &'a str, s: &'a str) -> Ballot<'a> {
        Ballot {
            candidate_id: c,
            region_id: r,
            salt: Some(s),
        }
    }

    /// One spelling of each number, and no more proof hashes than a tree can have.
    #[test]
    fn non_canonical_numbers_and_overlong_proofs_are_refused() {
        let good = ReceiptExtra {
            election_id: "e".into(),
            chain: 1,
            seq: 4,
            vote_id: "v".into(),
            cast_at_ms: 1_795_000_000_548,
            prev_hash: [7; 32],
        };
        let text = good.text();
        assert_eq!(ReceiptExtra::parse(&text), Ok(good));
        for (from, to) in [
            (" 1 4 ", " +1 4 "),
            (" 1 4 ", " 1 04 "),
            (" 1795", " +1795"),
        ] {
            let bad = text.replacen(from, to, 1);
            assert_ne!(bad, text);
            assert!(ReceiptExtra::parse(&bad).is_err(), "{bad}");
        }
        let proof = block("tlog-proof");
        assert!(TlogProof::parse(&proof).is_ok());
        let plus = proof.replacen("\nindex 3\n", "\nindex +3\n", 1);
        assert_ne!(plus, proof);
        assert!(TlogProof::parse(&plus).is_err());
        let (head, cp) = proof.split_once("\n\n").unwrap();
        let hash = head.lines().last().unwrap();
        let long = format!(
            "{head}{}\n\n{cp}",
            format!("\n{hash}").repeat(MAX_PROOF_LINES)
        );
        let err = TlogProof::parse(&long).unwrap_err();
        assert!(err.contains("more than 63"), "{err}");
    }

    #[test]
    fn the_vectors_receipt_reproduces_and_checks() {
        let text = block("tlog-proof");
        let proof = TlogProof::parse(&text).unwrap();
        assert_eq!(proof.text(), text, "parse and print are inverse");
        let extra =
            ReceiptExtra::parse(std::str::from_utf8(proof.extra.as_ref().unwrap()).unwrap())
                .unwrap();
        assert_eq!(extra.text().as_bytes(), &proof.extra.clone().unwrap()[..]);
        assert_eq!((extra.chain, extra.seq, proof.index), (1, 4, 3));
        // Rebuilt from the chain's entries and the cosigned checkpoint: byte for byte.
        let leaves: Vec<_> = crate::checkpoint::tests::V
            .lines()
            .filter_map(|l| l.trim().strip_prefix("hash "))
            .map(|h| crate::merkle::leaf_hash(&from_hex(h.trim()).unwrap()))
            .collect();
        let rebuilt = TlogProof {
            extra: Some(extra.text().into_bytes()),
            index: 3,
            path: crate::merkle::inclusion_proof(&leaves[..], 3, 7).unwrap(),
            checkpoint: block("cosigned checkpoint"),
        };
        assert_eq!(rebuilt.text(), text);
        let m = manifest();
        let ok = check_proof(&text, &m, &policy(), &ballot("bob", "north", SALT)).unwrap();
        assert_eq!((ok.checkpoint.size, ok.extra.seq), (7, 4));
        let _ = value("witness_vkey");
    }

    #[test]
    fn each_failure_names_its_step() {
        let text = block("tlog-proof");
        let m = manifest();
        let step = |t: &str, p: &WitnessPolicy, b: Ballot<'_>| {
            check_proof(t, &m, p, &b).unwrap_err().to_string()[..6].to_string()
        };
        let good = ballot("bob", "north", SALT);
        // A wrong choice or salt: the entry is not in the tree.
        assert_eq!(
            step(&text, &policy(), ballot("alice", "north", SALT)),
            "step 5"
        );
        let other_salt = SALT.replace('f', "e");
        assert_eq!(
            step(&text, &policy(), ballot("bob", "north", &other_salt)),
            "step 5"
        );
        // Quorum not met: a policy of two witnesses, one of them unknown.
        let stranger = crate::note::verifier_key(
            "w2.example",
            crate::note::COSIGNATURE_V1,
            &crate::checkpoint::tests::key("w2")
                .verifying_key()
                .to_bytes(),
        );
        let two = WitnessPolicy::new(&[value("witness_vkey").into(), stranger], 2).unwrap();
        assert_eq!(step(&text, &two, good.clone()), "step 4");
        // Another log key in the manifest.
        let mut forged = m.clone();
        forged.log_public_key = value("witness_public_key_b64").into();
        assert!(
            check_proof(&text, &forged, &policy(), &good)
                .unwrap_err()
                .to_string()
                .starts_with("step 3")
        );
        // Any altered byte fails somewhere, and never panics.
        for i in 0..text.len() {
            let mut b = text.clone().into_bytes();
            b[i] ^= 0x01;
            if let Ok(s) = String::from_utf8(b) {
                assert!(check_proof(&s, &m, &policy(), &good).is_err(), "byte {i}");
            }
        }
        assert_eq!(step("", &policy(), good), "step 1");
    }
}
