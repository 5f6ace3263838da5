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
