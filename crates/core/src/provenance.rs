//! Event provenance: ingest signs every vote event it produces to `votes` with
//! HMAC-SHA-256 under a key that only ingest and the writers hold, in a Kafka header with
//! the key's id (so keys rotate: ingest signs with one, writers accept every listed one). A
//! writer chains only events whose signature checks: whoever can write to Kafka but is not
//! ingest cannot stuff the ballot box; their records are dead-lettered `unauthenticated`.
//!
//! Header `votechain-mac`, value `<key id>:<64 lowercase hex>`, over the record's payload
//! exactly as produced.

use crate::model::Invalid;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::BTreeMap;

/// The Kafka header carrying the signature.
pub const HEADER: &str = "votechain-mac";

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], payload: &[u8]) -> HmacSha256 {
    let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes a key of any length");
    m.update(payload);
    m
}

/// The header value for `payload` under key `key_id`.
pub fn sign(key_id: &str, key: &[u8], payload: &[u8]) -> String {
    format!(
        "{key_id}:{}",
        hex::encode(mac(key, payload).finalize().into_bytes())
    )
}

/// Checks a record's header (`None`: it has none) against the accepted `keys` (id -> key);
/// the comparison is constant-time (`hmac`'s `verify_slice`).
pub fn verify(
    header: Option<&[u8]>,
    keys: &BTreeMap<String, Vec<u8>>,
    payload: &[u8],
) -> Result<(), Invalid> {
    let no = |why: &str| Invalid::Unauthenticated(why.into());
    let value = header.ok_or_else(|| no("no votechain-mac header"))?;
    let value = std::str::from_utf8(value).map_err(|_| no("a header that is not text"))?;
    let (id, hex_mac) = value
        .split_once(':')
        .ok_or_else(|| no("a malformed header"))?;
    let key = keys
        .get(id)
        .ok_or_else(|| Invalid::Unauthenticated(format!("unknown key id '{id}'")))?;
    let tag = hex::decode(hex_mac).map_err(|_| no("a malformed header"))?;
    mac(key, payload)
        .verify_slice(&tag)
        .map_err(|_| no("the signature does not match"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            (
                "k1".to_string(),
                b"0123456789abcdef0123456789abcdef".to_vec(),
            ),
            (
                "k2".to_string(),
                b"another key of thirty-two bytes!".to_vec(),
            ),
        ])
    }

    #[test]
    fn a_signed_payload_verifies_under_its_key_id_only() {
        let ks = keys();
        let p = br#"{"v":2,"vote_id":"x"}"#;
        let h = sign("k2", &ks["k2"], p);
        assert!(h.starts_with("k2:") && h.len() == 3 + 64, "{h}");
        verify(Some(h.as_bytes()), &ks, p).unwrap();
        // RFC 4231 test case 2 pins the construction.
        assert_eq!(
            sign("t", b"Jefe", b"what do ya want for nothing?"),
            "t:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn anything_else_is_unauthenticated_with_its_reason() {
        let ks = keys();
        let p = b"payload";
        let good = sign("k1", &ks["k1"], p);
        let why = |h: Option<&[u8]>, payload: &[u8]| match verify(h, &ks, payload) {
            Err(Invalid::Unauthenticated(w)) => w,
            other => panic!("{other:?}"),
        };
        assert!(why(None, p).contains("no votechain-mac"));
        assert!(why(Some(good.as_bytes()), b"payloaD").contains("does not match"));
        let wrong_id = good.replacen("k1", "k3", 1);
        assert!(why(Some(wrong_id.as_bytes()), p).contains("unknown key id 'k3'"));
        let other_key = good.replacen("k1", "k2", 1);
        assert!(why(Some(other_key.as_bytes()), p).contains("does not match"));
        assert!(why(Some(b"k1"), p).contains("malformed"));
        assert!(why(Some(b"k1:zz"), p).contains("malformed"));
        assert!(why(Some(&[0xff, 0xfe]), p).contains("not text"));
        let mut flipped = good.into_bytes();
        let last = flipped.len() - 1;
        flipped[last] = if flipped[last] == b'0' { b'1' } else { b'0' };
        assert!(why(Some(&flipped), p).contains("does not match"));
    }
}
