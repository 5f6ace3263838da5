//! Signed notes, C2SP `signed-note` with Ed25519 keys, and the cosignatures of C2SP
//! `tlog-cosignature` v1: what a transparency log's checkpoints and a tally statement are
//! made of (`contract-v2.md`, "One transparency log per chain").
//!
//! A note is a UTF-8 text ending in a newline, then a blank line, then one line per
//! signature: `— <key name> <base64(key ID || signature)>`. A key ID is
//! `SHA-256(key name || 0x0A || type || public key)[0..4]`, with type `0x01` for a plain
//! Ed25519 signature of the text, and `0x04` for a cosignature, which signs
//! `cosignature/v1\ntime <t>\n` followed by the text and carries the time: `key ID ||
//! u64(t) || signature`. A verifier key is written `<name>+<key ID hex>+<base64(type ||
//! public key)>`. Ed25519 signatures are deterministic, so the contract's vectors pin the
//! exact bytes of every signature line.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// Signature type of a plain Ed25519 note signature.
pub const ED25519: u8 = 0x01;
/// Signature type of a `tlog-cosignature` v1 (Ed25519, with a timestamp).
pub const COSIGNATURE_V1: u8 = 0x04;
/// The em dash and space that open every signature line.
const SIG_PREFIX: &str = "\u{2014} ";

/// `SHA-256(name || 0x0A || sig_type || public_key)[0..4]`.
pub fn key_id(name: &str, sig_type: u8, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sig_type]);
    h.update(public_key);
    h.finalize()[..4].try_into().expect("4 of 32 bytes")
}

/// `<name>+<key ID hex>+<base64(sig_type || public_key)>`.
pub fn verifier_key(name: &str, sig_type: u8, public_key: &[u8; 32]) -> String {
    let mut typed = vec![sig_type];
    typed.extend_from_slice(public_key);
    format!(
        "{name}+{}+{}",
        hex::encode(key_id(name, sig_type, public_key)),
        B64.encode(typed)
    )
}

/// An Ed25519 key from a 32-byte seed (tests derive theirs from public labels).
pub fn signing_key(seed: &[u8; 32]) -> SigningKey {
    SigningKey::from_bytes(seed)
}

/// Why a note or a verifier key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed verifier key: {0}")]
    VerifierKey(&'static str),
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("no signature by {0} verifies")]
    NotSigned(String),
}

/// A parsed verifier key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteVerifier {
    pub name: String,
    pub sig_type: u8,
    pub key_id: [u8; 4],
    pub public_key: [u8; 32],
}

/// Parses `<name>+<hex key ID>+<base64(type || key)>`, checking the key ID.
pub fn parse_verifier_key(vkey: &str) -> Result<NoteVerifier, NoteError> {
    // A name never contains '+'; a base64 key may.
    let mut parts = vkey.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(NoteError::VerifierKey("not name+id+key"));
    };
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::VerifierKey("bad key name"));
    }
    let typed = B64
        .decode(key)
        .map_err(|_| NoteError::VerifierKey("key is not base64"))?;
    let (Some(&sig_type), Ok(public_key)) = (
        typed.first(),
        <[u8; 32]>::try_from(&typed[1.min(typed.len())..]),
    ) else {
        return Err(NoteError::VerifierKey(
            "key is not a type byte and 32 bytes",
        ));
    };
    let key_id = key_id(name, sig_type, &public_key);
    if hex::encode(key_id) != id {
        return Err(NoteError::VerifierKey("key ID does not match the key"));
    }
    Ok(NoteVerifier {
        name: name.into(),
        sig_type,
        key_id,
        public_key,
    })
}

/// The signature line of `key` (named `name`) over the note text `text`.
pub fn sign(text: &str, name: &str, key: &SigningKey) -> String {
    let id = key_id(name, ED25519, key.verifying_key().as_bytes());
    let sig = key.sign(text.as_bytes());
    let mut raw = id.to_vec();
    raw.extend_from_slice(&sig.to_bytes());
    format!("{SIG_PREFIX}{name} {}\n", B64.encode(raw))
}

/// The message a `tlog-cosignature` v1 signs: `cosignature/v1\ntime <t>\n` then the text.
fn cosigned_message(text: &str, time: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {time}\n{text}").into_bytes()
}

/// A witness's cosignature line over the checkpoint text `text` at `time` (seconds).
pub fn cosign(text: &str, name: &str, key: &SigningKey, time: u64) -> String {
    let id = key_id(name, COSIGNATURE_V1, key.verifying_key().as_bytes());
    let sig = key.sign(&cosigned_message(text, time));
    let mut raw = id.to_vec();
    raw.extend_from_slice(&time.to_be_bytes());
    raw.extend_from_slice(&sig.to_bytes());
    format!("{SIG_PREFIX}{name} {}\n", B64.encode(raw))
}

/// A note split into its text (ending in a newline) and its signature lines.
pub fn split(note: &str) -> Result<(&str, Vec<&str>), NoteError> {
    let at = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    let (text, sigs) = (&note[..at + 1], &note[at + 2..]);
    if text.contains("\n\n") || !sigs.ends_with('\n') {
        return Err(NoteError::Malformed(
            "a blank line in the text, or signatures not ending in a newline",
        ));
    }
    let lines: Vec<&str> = sigs.lines().collect();
    if lines.is_empty() || lines.iter().any(|l| !l.starts_with(SIG_PREFIX)) {
        return Err(NoteError::Malformed(
            "a signature line does not start with an em dash",
        ));
    }
    Ok((text, lines))
}

/// Checks that `note` carries a valid signature by `v`; returns the cosignature time for
/// a `tlog-cosignature` key (0 for a plain signature).
pub fn verify(note: &str, v: &NoteVerifier) -> Result<u64, NoteError> {
    let (text, lines) = split(note)?;
    let key = VerifyingKey::from_bytes(&v.public_key)
        .map_err(|_| NoteError::VerifierKey("not an Ed25519 key"))?;
    for line in lines {
        let Some((name, b64)) = line[SIG_PREFIX.len()..].split_once(' ') else {
            continue;
        };
        let Ok(raw) = B64.decode(b64) else { continue };
        if name != v.name || raw.len() < 4 || raw[..4] != v.key_id {
            continue;
        }
        let (time, sig, msg) = match v.sig_type {
            ED25519 if raw.len() == 68 => (0, &raw[4..], text.as_bytes().to_vec()),
            COSIGNATURE_V1 if raw.len() == 76 => {
                let t = u64::from_be_bytes(raw[4..12].try_into().expect("8 bytes"));
                (t, &raw[12..], cosigned_message(text, t))
            }
            _ => continue,
        };
        let sig =
            Signature::from_slice(sig).map_err(|_| NoteError::Malformed("signature length"))?;
        if key.verify(&msg, &sig).is_ok() {
            return Ok(time);
        }
    }
    Err(NoteError::NotSigned(v.name.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = include_str!("../tests/data/v2-vectors.txt");

    fn value(key: &str) -> &'static str {
        V.lines()
            .find_map(|l| l.strip_prefix(key).map(str::trim))
            .expect(key)
    }

    /// The text between `---8<--- {title}` and `--->8---`.
    fn block(title: &str) -> String {
        let start = V.find(&format!("---8<--- {title}\n")).expect(title) + title.len() + 10;
        let end = start + V[start..].find("--->8---").expect("block end");
        V[start..end].to_string()
    }

    fn key(label: &str) -> SigningKey {
        signing_key(&Sha256::digest(label.as_bytes()).into())
    }

    #[test]
    fn test_keys_and_verifier_keys_reproduce() {
        let log = key(value("log_key_seed_label"));
        assert_eq!(
            B64.encode(log.verifying_key().as_bytes()),
            value("log_public_key_b64")
        );
        let witness = key(value("witness_key_seed_label"));
        assert_eq!(
            B64.encode(witness.verifying_key().as_bytes()),
            value("witness_public_key_b64")
        );
        let pk = log.verifying_key().to_bytes();
        assert_eq!(
            verifier_key("votes.example.org/demo-2026/1", ED25519, &pk),
            value("log_vkey")
        );
        let tally =
            "votes.example.org/demo-2026+8d1a8f89+AWoOOdHwZ4lQ1AAG/sbtdY66klpiDcbUAW3GdwZW16Z8";
        assert_eq!(
            verifier_key("votes.example.org/demo-2026", ED25519, &pk),
            tally
        );
        let wpk = witness.verifying_key().to_bytes();
        assert_eq!(
            verifier_key("witness.example.org/w1", COSIGNATURE_V1, &wpk),
            value("witness_vkey")
        );
    }

    #[test]
    fn the_signed_and_cosigned_checkpoints_reproduce_byte_for_byte() {
        let signed = block("signed checkpoint");
        let (text, _) = split(&signed).unwrap();
        let origin = "votes.example.org/demo-2026/1";
        let ours = format!(
            "{text}\n{}",
            sign(text, origin, &key(value("log_key_seed_label")))
        );
        assert_eq!(ours, signed);
        let cosigned = block("cosigned checkpoint");
        let witness = cosign(
            text,
            "witness.example.org/w1",
            &key(value("witness_key_seed_label")),
            1795000100,
        );
        assert_eq!(format!("{ours}{witness}"), cosigned);
        assert_eq!(
            verify(&cosigned, &parse_verifier_key(value("log_vkey")).unwrap()),
            Ok(0)
        );
        assert_eq!(
            verify(
                &cosigned,
                &parse_verifier_key(value("witness_vkey")).unwrap()
            ),
            Ok(1795000100)
        );
    }

    #[test]
    fn any_altered_byte_or_another_key_fails() {
        let signed = block("signed checkpoint");
        let v = parse_verifier_key(value("log_vkey")).unwrap();
        for i in 0..signed.len() {
            let mut b = signed.clone().into_bytes();
            b[i] ^= 0x01;
            let Ok(s) = String::from_utf8(b) else {
                continue;
            };
            assert!(verify(&s, &v).is_err(), "flipping byte {i} still verifies");
        }
        let other = key("another key");
        let forged = verifier_key(
            "votes.example.org/demo-2026/1",
            ED25519,
            &other.verifying_key().to_bytes(),
        );
        assert!(verify(&signed, &parse_verifier_key(&forged).unwrap()).is_err());
    }

    #[test]
    fn malformed_verifier_keys_and_notes_are_refused_not_panics() {
        for bad in [
            "",
            "a+b",
            "name+00000000+AAAA",
            "name+zz+AWoO",
            "na me+00+AA==",
            "+00+AA==",
        ] {
            assert!(parse_verifier_key(bad).is_err(), "{bad}");
        }
        let good = value("log_vkey");
        assert!(
            parse_verifier_key(&good.replace("+0d2b731c+", "+0d2b731d+")).is_err(),
            "wrong key ID"
        );
        let v = parse_verifier_key(good).unwrap();
        for bad in [
            "",
            "text\n",
            "text\n\n",
            "text\n\nno dash\n",
            "a\n\nb\n\n\u{2014} x y\n",
        ] {
            assert!(verify(bad, &v).is_err(), "{bad:?}");
        }
    }
}
