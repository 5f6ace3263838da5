//! A C2SP `tlog-witness`'s decision, pure: given what it last cosigned for each log, may
//! it cosign this `add-checkpoint` request, and what does it record if so?
//!
//! The request body is an `old <size>` line, up to 63 base64 consistency-proof lines, an
//! empty line, and a signed checkpoint. The answers follow the protocol: 404 for an
//! unknown origin, 403 without a valid signature of the log's key, 400 for an old size
//! above the checkpoint's, 409 (with the size it knows) when the old size is not the one
//! it last cosigned, 422 for a bad proof (or another root at the same size, or a size-0
//! checkpoint that is not the empty tree). Only then does it cosign, and it must record
//! the new checkpoint before answering (the caller persists [`Decision::record`] first).
//! A witness never cosigns two inconsistent checkpoints of one log: every cosigned one is
//! proven to extend the one before.

use crate::checkpoint::Checkpoint;
use crate::merkle::{self, Hash};
use crate::note::{self, NoteVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use std::collections::BTreeMap;

/// What a witness last cosigned, per log origin.
pub type Cosigned = BTreeMap<String, (u64, Hash)>;

/// Why a request is refused, as the protocol's HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("400: {0}")]
    BadRequest(String),
    #[error("403: {0}")]
    Forbidden(String),
    #[error("404: unknown log origin '{0}'")]
    UnknownLog(String),
    #[error("409: the last checkpoint cosigned for this log has size {0}")]
    Conflict(u64),
    #[error("422: {0}")]
    Unprocessable(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden(_) => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::Unprocessable(_) => 422,
        }
    }
}

/// A request the witness may cosign: its checkpoint text, and what to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The checkpoint's note text (what the cosignature signs).
    pub text: String,
    pub checkpoint: Checkpoint,
    /// `(origin, (size, root))` to persist before answering.
    pub record: (String, (u64, Hash)),
}

/// The parts of an `add-checkpoint` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub note: String,
}

impl AddCheckpoint {
    pub fn body(&self) -> String {
        let mut out = format!("old {}\n", self.old);
        for h in &self.proof {
            out.push_str(&format!("{}\n", B64.encode(h)));
        }
        out.push('\n');
        out.push_str(&self.note);
        out
    }

    pub fn parse(body: &str) -> Result<AddCheckpoint, Refusal> {
        let bad = |m: &str| Refusal::BadRequest(m.into());
        let (head, note) = body
            .split_once("\n\n")
            .ok_or_else(|| bad("no empty line before the checkpoint"))?;
        let mut lines = head.split('\n');
        let old = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(crate::decimal::parse_u64)
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        // At most 63 proof lines (a tree of at most 2^64 leaves): read no more.
        let lines: Vec<&str> = lines.by_ref().take(64).collect();
        let proof = lines
            .into_iter()
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .and_then(|h| <Hash>::try_from(h).ok())
                    .ok_or_else(|| bad("a proof line is not base64 of 32 bytes"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if proof.len() > 63 {
            return Err(bad("more than 63 proof lines"));
        }
        Ok(AddCheckpoint {
            old,
            proof,
            note: note.into(),
        })
    }
}

/// Decides an `add-checkpoint` request against the logs the witness knows (`origin` ->
/// the log's verifier key) and what it cosigned so far.
pub fn add_checkpoint(
    body: &str,
    logs: &BTreeMap<String, NoteVerifier>,
    cosigned: &Cosigned,
) -> Result<Decision, Refusal> {
    let req = AddCheckpoint::parse(body)?;
    let (text, _) = note::split(&req.note).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let cp = Checkpoint::parse(text).map_err(|e| Refusal::BadRequest(e.to_string()))?;
    let log = logs
        .get(&cp.origin)
        .ok_or_else(|| Refusal::UnknownLog(cp.origin.clone()))?;
    note::verify(&req.note, log).map_err(|e| Refusal::Forbidden(e.to_string()))?;
    if req.old > cp.size {
        return Err(Refusal::BadRequest(format!(
            "old size {} is above the checkpoint's size {}",
            req.old, cp.size
        )));
    }
    let (known_size, known_root) = cosigned
        .get(&cp.origin)
        .copied()
        .unwrap_or((0, merkle::empty_root()));
    if req.old != known_size {
        return Err(Refusal::Conflict(known_size));
    }
    if cp.size == 0 && cp.root != merkle::empty_root() {
        return Err(Refusal::Unprocessable(
            "a checkpoint of size 0 must have the empty tree's root".into(),
        ));
    }
    if req.old == 0 && !req.proof.is_empty() {
        return Err(Refusal::Unprocessable(
            "a proof from size 0 must be empty".into(),
        ));
    }
    if req.old > 0 {
        merkle::verify_consistency(req.old, cp.size, &known_root, &cp.root, &req.proof)
            .map_err(|e| Refusal::Unprocessable(format!("the consistency proof fails: {e}")))?;
    }
    Ok(Decision {
        text: text.into(),
        record: (cp.origin.clone(), (cp.size, cp.root)),
        checkpoint: cp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::tests::key;

    const ORIGIN: &str = "votes.example.org/e/0";

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect()
    }

    fn signed(size: u64, leaves: &[Hash]) -> String {
        Checkpoint {
            origin: ORIGIN.into(),
            size,
            root: merkle::tree_hash(leaves, size).unwrap(),
        }
        .sign(&key("log"))
    }

    fn logs() -> BTreeMap<String, NoteVerifier> {
        let pk = key("log").verifying_key().to_bytes();
        BTreeMap::from([(
            ORIGIN.to_string(),
            crate::checkpoint::log_verifier(ORIGIN, &pk),
        )])
    }

    fn request(old: u64, new: u64, l: &[Hash]) -> String {
        AddCheckpoint {
            old,
            proof: merkle::consistency_proof(l, old, new).unwrap(),
            note: signed(new, l),
        }
        .body()
    }

    #[test]
    fn a_growing_log_is_cosigned_step_by_step() {
        let l = leaves(40);
        let mut state = Cosigned::new();
        for (old, new) in [(0, 0), (0, 5), (5, 5), (5, 17), (17, 40)] {
            let d = add_checkpoint(&request(old, new, &l), &logs(), &state).unwrap();
            assert_eq!(d.checkpoint.size, new);
            state.insert(d.record.0, d.record.1);
        }
        assert_eq!(state[ORIGIN].0, 40);
        let body = request(17, 40, &l);
        assert_eq!(AddCheckpoint::parse(&body).unwrap().body(), body);
    }

    #[test]
    fn every_refusal_has_its_status() {
        let l = leaves(20);
        let state = Cosigned::from([(
            ORIGIN.to_string(),
            (10, merkle::tree_hash(&l[..], 10).unwrap()),
        )]);
        let status = |body: &str| add_checkpoint(body, &logs(), &state).unwrap_err().status();
        // Stale old size: 409 with the size known.
        assert_eq!(
            add_checkpoint(&request(5, 20, &l), &logs(), &state),
            Err(Refusal::Conflict(10))
        );
        // A rolled-back checkpoint (smaller than known): old 10 > size 8 is 400.
        let rolled = AddCheckpoint {
            old: 10,
            proof: vec![],
            note: signed(8, &l),
        };
        assert_eq!(status(&rolled.body()), 400);
        // A fork: a tree of size 20 whose first 10 leaves differ.
        let mut forked = l.clone();
        forked[3][0] ^= 1;
        assert_eq!(status(&request(10, 20, &forked)), 422);
        // Same size, other root.
        let same = AddCheckpoint {
            old: 10,
            proof: vec![],
            note: signed(10, &forked),
        };
        assert_eq!(status(&same.body()), 422);
        // Another key: 403; an unknown origin: 404.
        let other_key = AddCheckpoint {
            old: 10,
            proof: merkle::consistency_proof(&l[..], 10, 20).unwrap(),
            note: Checkpoint {
                origin: ORIGIN.into(),
                size: 20,
                root: merkle::root_of(&l),
            }
            .sign(&key("mallory")),
        };
        assert_eq!(status(&other_key.body()), 403);
        let stranger = Checkpoint {
            origin: "elsewhere/0".into(),
            size: 1,
            root: [0; 32],
        }
        .sign(&key("log"));
        assert_eq!(status(&format!("old 0\n\n{stranger}")), 404);
        // Malformed bodies: 400, never a panic.
        for bad in [
            "",
            "old 01\n\nx",
            "old x\n\n",
            "old 0\nzz\n\nx",
            "old 0\n\nnot a note",
        ] {
            assert_eq!(status(bad), 400, "{bad:?}");
        }
        // Size 0 with a non-empty root; a proof from 0.
        let fresh = Cosigned::new();
        let zero = Checkpoint {
            origin: ORIGIN.into(),
            size: 0,
            root: [1; 32],
        }
        .sign(&key("log"));
        assert_eq!(
            add_checkpoint(&format!("old 0\n\n{zero}"), &logs(), &fresh)
                .unwrap_err()
                .status(),
            422
        );
        let with_proof = format!("old 0\n{}\n\n{}", B64.encode([0u8; 32]), signed(20, &l));
        assert_eq!(
            add_checkpoint(&with_proof, &logs(), &fresh)
                .unwrap_err()
                .status(),
            422
        );
    }
}
