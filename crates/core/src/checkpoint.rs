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
use std::collections::BTreeSet;

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
        let size = crate::decimal::parse_u64(size).ok_or(bad("size is not a canonical decimal"))?;
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
/// [`WitnessPolicy::default`] is no policy: no witness required (quorum 0), which a
/// verifier must say in its output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WitnessPolicy {
    /// `tlog-cosignature` v1 verifier keys: distinct names, distinct public keys.
    pub witnesses: Vec<NoteVerifier>,
    pub quorum: usize,
}

impl WitnessPolicy {
    /// Parses verifier keys (`name+id+key`, cosignature type) and the quorum. Refused: a
    /// key of another type, one name or one public key listed twice (one witness would
    /// then count twice toward the quorum), and a quorum outside 1..=#witnesses.
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
        let names: BTreeSet<&str> = witnesses.iter().map(|w| w.name.as_str()).collect();
        let keys: BTreeSet<&[u8; 32]> = witnesses.iter().map(|w| &w.public_key).collect();
        if names.len() != witnesses.len() {
            return Err(CheckpointError::Malformed("a witness name is listed twice"));
        }
        if keys.len() != witnesses.len() {
            return Err(CheckpointError::Malformed(
                "a witness public key is listed twice",
            ));
        }
        if !(1..=witnesses.len()).contains(&quorum) {
            return Err(CheckpointError::Malformed(
                "the quorum must be 1 to the number of witnesses",
            ));
        }
        Ok(WitnessPolicy { witnesses, quorum })
    }

    /// True for the empty policy: no witness is required.
    pub fn is_none(&self) -> bool {
        self.witnesses.is_empty()
    }

    /// How many of the policy's witnesses validly cosigned `note_text`: each witness
    /// counts once however many of its cosignatures the note carries, a cosignature by a
    /// key outside the policy counts zero.
    pub fn cosigners(&self, note_text: &str) -> usize {
        self.witnesses
            .iter()
            .filter(|w| note::verify(note_text, w).is_ok())
            .count()
    }

    /// One line for a verifier's output: who must witness, or that no one must.
    pub fn describe(&self) -> String {
        if self.is_none() {
            return "no witness policy: the manifest requires no witness cosignature".into();
        }
        let names: Vec<&str> = self.witnesses.iter().map(|w| w.name.as_str()).collect();
        format!(
            "witness policy: {} of {} ({})",
            self.quorum,
            names.len(),
            names.join(", ")
        )
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

    /// One witness counts once however often it cosigned; a cosignature by a key outside
    /// the policy counts zero; a policy cannot list one witness twice to meet a quorum.
    #[test]
    fn a_repeated_or_foreign_cosignature_does_not_make_a_quorum() {
        let log = note::parse_verifier_key(value("log_vkey")).unwrap();
        let cosigned = block("cosigned checkpoint");
        let (text, sigs) = note::split(&cosigned).unwrap();
        let note_of = |lines: &[&str]| format!("{text}\n{}\n", lines.join("\n"));
        let (log_line, witness_line) = (sigs[0], *sigs.last().unwrap());
        let twice = note_of(&[log_line, witness_line, witness_line]);
        assert_eq!(policy().cosigners(&twice), 1);
        let stranger_key = key("stranger");
        let stranger_pk = stranger_key.verifying_key().to_bytes();
        let stranger = note::verifier_key("stranger.example", note::COSIGNATURE_V1, &stranger_pk);
        let two = WitnessPolicy::new(&[value("witness_vkey").to_string(), stranger], 2).unwrap();
        assert_eq!(
            verify_published(&twice, ORIGIN, &log, &two),
            Err(CheckpointError::NoQuorum { got: 1, need: 2 })
        );
        // Cosigned by a key no policy lists, under the policy witness's own name.
        let w = &policy().witnesses[0];
        let forged = note::cosign(text, &w.name, &key("impostor"), 1_795_000_000);
        let foreign = note_of(&[log_line, forged.trim_end()]);
        assert_eq!(policy().cosigners(&foreign), 0, "{foreign}");
        assert!(verify_published(&foreign, ORIGIN, &log, &policy()).is_err());
        let vkey = value("witness_vkey").to_string();
        assert!(WitnessPolicy::new(&[vkey.clone(), vkey.clone()], 2).is_err());
        assert!(WitnessPolicy::new(&[vkey], 0).is_err());
        assert!(WitnessPolicy::new(&[], 0).is_err());
        assert!(WitnessPolicy::default().is_none());
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
