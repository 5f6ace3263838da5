//! C2SP `tlog-checkpoint`: a log's signed tree head, and the witness policy a published
//! checkpoint must meet.
//!
//! A checkpoint's text is three lines: the origin, the tree size in decimal, the root in
//! base64 (contract v2: no extension lines). It is a signed note: the log key signs it
//! under key name = origin, witnesses add `tlog-cosignature` v1 lines. A checkpoint is
//! **published** once it carries a valid log signature and a quorum of the election's
//! witnesses' cosignatures ([`WitnessPolicy`]).

use crate::merkle::Hash;
use crate::note::{self, NoteError, NoteVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::SigningKey;

/// A tree head: origin, size, root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    #[error("checkpoint origin is '{got}', expected '{want}'")]
    WrongOrigin { got: String, want: String },
    #[error("{0}")]
    Note(#[from] NoteError),
    #[error("{got} of the {need} witness cosignatures the policy requires")]
    NoQuorum { got: usize, need: usize },
}

impl Checkpoint {
    /// The note text: `origin\nsize\nbase64(root)\n`.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        )
    }

    /// Parses a checkpoint's note text (exactly three lines, each ending in a newline).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let bad = CheckpointError::Malformed;
        let body = text.strip_suffix('\n').ok_or(bad("no final newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(bad("not three lines (origin, size, root)"));
        };
        if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c == '+') {
            return Err(bad("bad origin"));
        }
        let canonical = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size: u64 = match size.parse() {
            Ok(v) if canonical => v,
            _ => return Err(bad("size is not a canonical decimal")),
        };
        let root = B64
            .decode(root)
            .ok()
            .and_then(|r| <Hash>::try_from(r).ok())
            .filter(|r| B64.encode(r) == root)
            .ok_or(bad("root is not base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.into(),
            size,
            root,
        })
    }

    /// The checkpoint signed by the log key (key name = origin): a complete note.
    pub fn sign(&self, key: &SigningKey) -> String {
        let text = self.text();
        let sig = note::sign(&text, &self.origin, key);
        format!("{text}\n{sig}")
    }
}

/// The log's verifier key for `origin`, from the manifest's 32-byte public key.
pub fn log_verifier(origin: &str, public_key: &[u8; 32]) -> NoteVerifier {
    NoteVerifier {
        name: origin.into(),
        sig_type: note::ED25519,
        key_id: note::key_id(origin, note::ED25519, public_key),
        public_key: *public_key,
    }
}

/// Which witnesses count, and how many of them a published checkpoint needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WitnessPolicy {
    /// `tlog-cosignature` v1 verifier keys.
    pub witnesses: Vec<NoteVerifier>,
    pub quorum: usize,
}

impl WitnessPolicy {
    /// Parses verifier keys (`name+id+key`, cosignature type) and the quorum.
    pub fn new(vkeys: &[String], quorum: usize) -> Result<WitnessPolicy, CheckpointError> {
        let witnesses = vkeys
            .iter()
            .map(|k| note::parse_verifier_key(k))
            .collect::<Result<Vec<_>, _>>()?;
        if witnesses.iter().any(|w| w.sig_type != note::COSIGNATURE_V1) {
            return Err(CheckpointError::Malformed(
                "a witness key is not a tlog-cosignature/v1 key",
            ));
        }
        if quorum > witnesses.len() {
            return Err(CheckpointError::Malformed(
                "the quorum is larger than the number of witnesses",
            ));
        }
        Ok(WitnessPolicy { witnesses, quorum })
    }

    /// How many of the policy's witnesses validly cosigned `note_text`.
    pub fn cosigners(&self, note_text: &str) -> usize {
        self.witnesses
            .iter()
            .filter(|w| note::verify(note_text, w).is_ok())
            .count()
    }
}

/// Verifies a signed checkpoint of `origin`: the log's signature and the policy's quorum.
pub fn verify_published(
    signed: &str,
    origin: &str,
    log: &NoteVerifier,
    policy: &WitnessPolicy,
) -> Result<Checkpoint, CheckpointError> {
    let (text, _) = note::split(signed)?;
    let cp = Checkpoint::parse(text)?;
    if cp.origin != origin {
        return Err(CheckpointError::WrongOrigin {
            got: cp.origin,
            want: origin.into(),
        });
    }
    note::verify(signed, log)?;
    let got = policy.cosigners(signed);
    if got < policy.quorum {
        return Err(CheckpointError::NoQuorum {
            got,
            need: policy.quorum,
        });
    }
    Ok(cp)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    pub const V: &str = include_str!("../tests/data/v2-vectors.txt");

    pub fn value(key: &str) -> &'static str {
        V.lines()
            .find_map(|l| l.strip_prefix(key).map(str::trim))
            .expect(key)
    }

    /// The text between `---8<--- {title}` and `--->8---`.
    pub fn block(title: &str) -> String {
        let start = V.find(&format!("---8<--- {title}\n")).expect(title) + title.len() + 10;
        let end = start + V[start..].find("--->8---").expect("block end");
        V[start..end].to_string()
    }

    pub fn key(label: &str) -> SigningKey {
        note::signing_key(&Sha256::digest(label.as_bytes()).into())
    }

    pub fn policy() -> WitnessPolicy {
        WitnessPolicy::new(&[value("witness_vkey").to_string()], 1).unwrap()
    }

    const ORIGIN: &str = "votes.example.org/demo-2026/1";

    #[test]
    fn the_vectors_checkpoint_reproduces_and_verifies_with_its_quorum() {
        let cp = Checkpoint {
            origin: ORIGIN.into(),
            size: 7,
            root: crate::chain::from_hex(
                "e84ff8d3355ec9d70677871ad984c3e5c6ff24d31d0a32404eea33bbc2c07bc3",
            )
            .unwrap(),
        };
        let signed = block("signed checkpoint");
        assert_eq!(cp.sign(&key(value("log_key_seed_label"))), signed);
        let log = note::parse_verifier_key(value("log_vkey")).unwrap();
        let pk = log.public_key;
        assert_eq!(log_verifier(ORIGIN, &pk), log);
        let none = WitnessPolicy::default();
        assert_eq!(
            verify_published(&signed, ORIGIN, &log, &none),
            Ok(cp.clone())
        );
        assert_eq!(
            verify_published(&signed, ORIGIN, &log, &policy()),
            Err(CheckpointError::NoQuorum { got: 0, need: 1 })
        );
        let cosigned = block("cosigned checkpoint");
        assert_eq!(verify_published(&cosigned, ORIGIN, &log, &policy()), Ok(cp));
        assert!(matches!(
            verify_published(&cosigned, "votes.example.org/demo-2026/0", &log, &policy()),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        let other = log_verifier(ORIGIN, &key("another").verifying_key().to_bytes());
        assert!(verify_published(&cosigned, ORIGIN, &other, &policy()).is_err());
    }

    #[test]
    fn malformed_checkpoints_are_refused() {
        let root = B64.encode([0u8; 32]);
        for bad in [
            String::new(),
            format!("o\n7\n{root}"),
            format!("o\n07\n{root}\n"),
            format!("o\n-1\n{root}\n"),
            "o\n7\nAAAA\n".to_string(),
            format!("o\n7\n{root}\next\n"),
            format!("o o\n7\n{root}\n"),
            format!("o\n18446744073709551616\n{root}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert!(WitnessPolicy::new(&[value("log_vkey").to_string()], 1).is_err());
        assert!(WitnessPolicy::new(&[value("witness_vkey").to_string()], 2).is_err());
    }
}
