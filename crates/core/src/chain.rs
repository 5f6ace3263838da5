//! The hash chain of the binding contract (`docs/contract.md`, "Hash chain").
//!
//! Everything here is pure and synchronous: the ChainWriter links votes with
//! [`link`], `verify` and `recount` recompute with the same functions, and the
//! contract's test vectors (`tests/data/hash-chain-vectors.txt`) pin the bytes.
//!
//! ```text
//! genesis(e, c) = SHA256( field("votechain/genesis/v1") || field(e) || u32(c) )
//! vote_data     = field("votechain/vote/v1") || field(e) || u32(c) || u64(seq)
//!              || field(vote_id) || field(candidate_id) || field(region_id) || i64(cast_at_ms)
//! hash(seq)     = SHA256( vote_data(seq) || prev_hash )
//! ```
//!
//! The v2 chain (`contract-v2.md`, "Vote item and hash chain") sits next to v1, which stays
//! verifiable: its genesis binds the election's manifest digest ([`crate::manifest`]) and
//! every vote carries a secret 32-byte salt, so a receipt no longer reveals the choice.
//! Vectors: `tests/data/v2-vectors.txt`.
//!
//! ```text
//! genesis_v2(e, c) = SHA256( field("votechain/genesis/v2") || field(e) || u32(c) || manifest_digest )
//! vote_data_v2     = field("votechain/vote/v2") || field(e) || u32(c) || u64(seq)
//!                 || field(vote_id) || field(candidate_id) || field(region_id) || i64(cast_at_ms)
//!                 || salt                                      -- the 32 raw bytes
//! hash(seq)        = SHA256( vote_data_v2(seq) || prev_hash )
//! ```

use sha2::{Digest, Sha256};

/// A SHA-256 digest as raw bytes.
pub type Hash = [u8; 32];

const GENESIS_TAG: &[u8] = b"votechain/genesis/v1";
const VOTE_TAG: &[u8] = b"votechain/vote/v1";
const GENESIS_V2_TAG: &[u8] = b"votechain/genesis/v2";
const VOTE_V2_TAG: &[u8] = b"votechain/vote/v2";

/// A v2 vote's salt: 32 secret bytes, chosen by the voter or drawn by ingest.
pub type Salt = [u8; 32];

/// Which hash rule a chain follows: v1 (contract v1, unsalted, for chains cast before
/// manifests) or v2 (salted, its genesis bound to the election's manifest digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rule {
    #[default]
    V1,
    V2 {
        manifest_digest: Hash,
    },
}

impl Rule {
    /// The `prev_hash` of `seq` 1.
    pub fn genesis(&self, election_id: &str, chain: u32) -> Hash {
        match self {
            Rule::V1 => genesis(election_id, chain),
            Rule::V2 { manifest_digest } => genesis_v2(election_id, chain, manifest_digest),
        }
    }
    /// The tip of an empty chain under this rule.
    pub fn tip0(&self, election_id: &str, chain: u32) -> Tip {
        Tip {
            seq: 0,
            hash: self.genesis(election_id, chain),
        }
    }
    /// The `hash_v` attribute of the rule's vote items (1 is also "absent").
    pub fn hash_v(&self) -> u8 {
        match self {
            Rule::V1 => 1,
            Rule::V2 { .. } => 2,
        }
    }
    /// True when the rule's votes carry a salt.
    pub fn salted(&self) -> bool {
        matches!(self, Rule::V2 { .. })
    }
}

/// `hash(seq)` of either rule: v2 when the vote has a salt, v1 otherwise.
pub fn hash_of(v: &VoteFields<'_>, salt: Option<&Salt>, prev_hash: &Hash) -> Hash {
    match salt {
        Some(s) => vote_hash_v2(v, s, prev_hash),
        None => vote_hash(v, prev_hash),
    }
}

/// The fields of one vote that enter its hash, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VoteFields<'a> {
    pub election_id: &'a str,
    pub chain: u32,
    pub seq: u64,
    pub vote_id: &'a str,
    pub candidate_id: &'a str,
    pub region_id: &'a str,
    pub cast_at_ms: i64,
}

/// Where a chain stands: the last linked `seq` (0 before the first vote) and its hash
/// (the genesis hash before the first vote).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tip {
    pub seq: u64,
    pub hash: Hash,
}

impl Tip {
    /// The tip of an empty chain.
    pub fn genesis(election_id: &str, chain: u32) -> Tip {
        Tip {
            seq: 0,
            hash: genesis(election_id, chain),
        }
    }
}

/// `field(b)` = u32 length of `b` (big-endian) followed by `b`.
pub(crate) fn field(buf: &mut Vec<u8>, bytes: &[u8]) {
    // Identifiers are at most 64 bytes (validated at the edge); a u32 length is the contract.
    buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    buf.extend_from_slice(bytes);
}

/// `genesis(election_id, chain)`: the `prev_hash` of `seq` 1.
pub fn genesis(election_id: &str, chain: u32) -> Hash {
    let mut buf = Vec::with_capacity(64);
    field(&mut buf, GENESIS_TAG);
    field(&mut buf, election_id.as_bytes());
    buf.extend_from_slice(&chain.to_be_bytes());
    Sha256::digest(&buf).into()
}

/// The vote's fields after a domain tag, as v1 and v2 both lay them out.
fn tagged_vote(tag: &[u8], v: &VoteFields<'_>, extra: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(160 + extra);
    field(&mut buf, tag);
    field(&mut buf, v.election_id.as_bytes());
    buf.extend_from_slice(&v.chain.to_be_bytes());
    buf.extend_from_slice(&v.seq.to_be_bytes());
    field(&mut buf, v.vote_id.as_bytes());
    field(&mut buf, v.candidate_id.as_bytes());
    field(&mut buf, v.region_id.as_bytes());
    buf.extend_from_slice(&v.cast_at_ms.to_be_bytes());
    buf
}

/// `vote_data(seq)`: the canonical bytes of one vote.
pub fn vote_data(v: &VoteFields<'_>) -> Vec<u8> {
    tagged_vote(VOTE_TAG, v, 0)
}

/// `hash(seq) = SHA256(vote_data(seq) || prev_hash)`.
pub fn vote_hash(v: &VoteFields<'_>, prev_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(vote_data(v));
    h.update(prev_hash);
    h.finalize().into()
}

/// `genesis_v2(election_id, chain)`: the `prev_hash` of `seq` 1 in a v2 chain. Binds the
/// manifest the chain was cast under.
pub fn genesis_v2(election_id: &str, chain: u32, manifest_digest: &Hash) -> Hash {
    let mut buf = Vec::with_capacity(96);
    field(&mut buf, GENESIS_V2_TAG);
    field(&mut buf, election_id.as_bytes());
    buf.extend_from_slice(&chain.to_be_bytes());
    buf.extend_from_slice(manifest_digest);
    Sha256::digest(&buf).into()
}

/// `vote_data_v2(seq)`: the canonical bytes of one v2 vote, the raw salt last.
pub fn vote_data_v2(v: &VoteFields<'_>, salt: &Salt) -> Vec<u8> {
    let mut buf = tagged_vote(VOTE_V2_TAG, v, salt.len());
    buf.extend_from_slice(salt);
    buf
}

/// v2 `hash(seq) = SHA256(vote_data_v2(seq) || prev_hash)`.
pub fn vote_hash_v2(v: &VoteFields<'_>, salt: &Salt, prev_hash: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update(vote_data_v2(v, salt));
    h.update(prev_hash);
    h.finalize().into()
}

/// Links the vote onto `tip`: checks the vote's `seq` follows the tip and returns the new tip.
/// Panics never; a wrong `seq` is a programming error reported as `None`.
pub fn link(tip: &Tip, v: &VoteFields<'_>) -> Option<Tip> {
    if v.seq != tip.seq + 1 {
        return None;
    }
    Some(Tip {
        seq: v.seq,
        hash: vote_hash(v, &tip.hash),
    })
}

/// Lowercase hex, as stored in DynamoDB and served in receipts.
pub fn to_hex(h: &Hash) -> String {
    hex::encode(h)
}

/// Parses 64 lowercase hex characters; anything else is `None` (a tampered or corrupt item).
pub fn from_hex(s: &str) -> Option<Hash> {
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Parses a salt: exactly 64 lowercase hex characters, as in the request body and the vote
/// item; anything else is `None`.
pub fn salt_from_hex(s: &str) -> Option<Salt> {
    from_hex(s)
}

/// The stable chain of a vote: the first 8 bytes of SHA-256(vote_id), big-endian, mod `chains`.
/// Stable across processes, versions and languages, so any auditor can recompute routing.
pub fn chain_of(vote_id: &str, chains: u32) -> u32 {
    debug_assert!(chains > 0);
    let d = Sha256::digest(vote_id.as_bytes());
    let n = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
    (n % u64::from(chains.max(1))) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = include_str!("../tests/data/hash-chain-vectors.txt");

    /// Reproduces every line of the contract's vectors byte for byte.
    #[test]
    fn contract_vectors_reproduce() {
        let mut lines = VECTORS.lines().filter(|l| !l.trim().is_empty());
        let g: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(g[0], "genesis");
        let (election, chain) = (g[1], g[2].parse::<u32>().unwrap());
        assert_eq!(to_hex(&genesis(election, chain)), g[3]);
        let mut tip = Tip::genesis(election, chain);
        let mut checked = 0;
        while let Some(head) = lines.next() {
            let kv: std::collections::HashMap<&str, &str> = head
                .split_whitespace()
                .filter_map(|p| p.split_once('='))
                .collect();
            let v = VoteFields {
                election_id: election,
                chain,
                seq: kv["seq"].parse().unwrap(),
                vote_id: kv["vote_id"],
                candidate_id: kv["candidate_id"],
                region_id: kv["region_id"],
                cast_at_ms: kv["cast_at_ms"].parse().unwrap(),
            };
            let want_data = lines.next().unwrap().split_whitespace().nth(1).unwrap();
            let want_prev = lines.next().unwrap().split_whitespace().nth(1).unwrap();
            let want_hash = lines.next().unwrap().split_whitespace().nth(1).unwrap();
            assert_eq!(
                hex::encode(vote_data(&v)),
                want_data,
                "vote_data seq {}",
                v.seq
            );
            assert_eq!(to_hex(&tip.hash), want_prev, "prev_hash seq {}", v.seq);
            tip = link(&tip, &v).expect("seq follows");
            assert_eq!(to_hex(&tip.hash), want_hash, "hash seq {}", v.seq);
            checked += 1;
        }
        assert_eq!(checked, 3, "all three vectors were checked");
    }

    const V2_VECTORS: &str = include_str!("../tests/data/v2-vectors.txt");

    /// The header line (after `[name]`) and the body lines of one section of the v2 vectors.
    fn v2_section(name: &str) -> (&'static str, Vec<&'static str>) {
        let tag = format!("[{name}]");
        let mut lines = V2_VECTORS.lines().skip_while(|l| !l.starts_with(&tag));
        let header = lines.next().expect("section present")[tag.len()..].trim();
        (header, lines.take_while(|l| !l.starts_with('[')).collect())
    }

    /// `key=value` pairs of one line.
    fn pairs(line: &str) -> std::collections::HashMap<&str, &str> {
        line.split_whitespace()
            .filter_map(|p| p.split_once('='))
            .collect()
    }

    /// Reproduces the v2 chain of the vectors byte for byte: genesis from the manifest digest,
    /// then every vote's data, prev_hash and hash, each prev_hash the previous hash.
    #[test]
    fn contract_v2_chain_vectors_reproduce() {
        let (_, manifest) = v2_section("manifest");
        let digest_hex = manifest
            .iter()
            .find_map(|l| l.strip_prefix("manifest_digest "))
            .unwrap()
            .trim();
        let digest = from_hex(digest_hex).unwrap();
        let (header, body) = v2_section("chain");
        let h = pairs(header);
        let (election, chain) = (h["election_id"], h["chain"].parse::<u32>().unwrap());
        let mut body = body.into_iter().filter(|l| !l.trim().is_empty());
        let want_genesis = body.next().unwrap().strip_prefix("genesis_v2 ").unwrap();
        let mut prev = genesis_v2(election, chain, &digest);
        assert_eq!(to_hex(&prev), want_genesis, "genesis_v2");
        let mut checked = 0u64;
        while let Some(head) = body.next() {
            let kv = pairs(head);
            let v = VoteFields {
                election_id: election,
                chain,
                seq: kv["seq"].parse().unwrap(),
                vote_id: kv["vote_id"],
                candidate_id: kv["candidate_id"],
                region_id: kv["region_id"],
                cast_at_ms: kv["cast_at_ms"].parse().unwrap(),
            };
            assert_eq!(v.seq, checked + 1, "seqs follow each other");
            let salt = salt_from_hex(kv["salt"]).expect("salt is 64 lowercase hex");
            let mut next = |key: &str| {
                let l: Vec<&str> = body.next().unwrap().split_whitespace().collect();
                assert_eq!(l[0], key);
                l[1]
            };
            let (want_data, want_prev, want_hash) =
                (next("vote_data"), next("prev_hash"), next("hash"));
            let data = vote_data_v2(&v, &salt);
            assert_eq!(hex::encode(&data), want_data, "vote_data seq {}", v.seq);
            assert_eq!(to_hex(&prev), want_prev, "prev_hash seq {}", v.seq);
            let hash = vote_hash_v2(&v, &salt, &prev);
            assert_eq!(to_hex(&hash), want_hash, "hash seq {}", v.seq);
            // The contract's definition, spelled out: SHA256(vote_data_v2 || prev_hash).
            let mut h = Sha256::new();
            h.update(&data);
            h.update(prev);
            assert_eq!(<Hash>::from(h.finalize()), hash);
            prev = hash;
            checked += 1;
        }
        assert_eq!(checked, 7, "all seven v2 votes were checked");
    }

    #[test]
    fn v2_hash_binds_the_salt_and_the_manifest() {
        let v = VoteFields {
            election_id: "e",
            chain: 0,
            seq: 1,
            vote_id: "x",
            candidate_id: "a",
            region_id: "r",
            cast_at_ms: 0,
        };
        let g = genesis_v2("e", 0, &[0; 32]);
        assert_ne!(g, genesis_v2("e", 0, &[1; 32]));
        assert_ne!(g, genesis("e", 0));
        assert_ne!(
            vote_hash_v2(&v, &[0; 32], &g),
            vote_hash_v2(&v, &[1; 32], &g)
        );
    }

    #[test]
    fn salt_from_hex_accepts_only_64_lowercase_hex() {
        let s = "3261b4a8fbe54b47c0109b1cc71a9cb5baa4c7bc53e6f8436a7bd757a73a8d59";
        assert_eq!(salt_from_hex(s).map(hex::encode), Some(s.to_string()));
        assert_eq!(salt_from_hex(&s.to_uppercase()), None);
        assert_eq!(salt_from_hex(&s.replacen('a', "A", 1)), None);
        assert_eq!(salt_from_hex(&s[..62]), None);
        assert_eq!(salt_from_hex(&format!("{s}00")), None);
        assert_eq!(salt_from_hex(&s.replacen('a', "g", 1)), None);
        assert_eq!(salt_from_hex(""), None);
    }

    #[test]
    fn link_refuses_a_gap() {
        let tip = Tip::genesis("e", 0);
        let v = VoteFields {
            election_id: "e",
            chain: 0,
            seq: 2,
            vote_id: "x",
            candidate_id: "a",
            region_id: "r",
            cast_at_ms: 0,
        };
        assert!(link(&tip, &v).is_none());
    }

    #[test]
    fn hex_round_trip_rejects_uppercase_and_length() {
        let h = genesis("e", 1);
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert_eq!(from_hex(&to_hex(&h).to_uppercase()), None);
        assert_eq!(from_hex("abcd"), None);
    }

    #[test]
    fn chain_of_is_stable_and_in_range() {
        // Pinned: changing the routing function would move votes between chains.
        assert_eq!(chain_of("6f1c2a4e-0000-4000-8000-000000000001", 1), 0);
        let spread: std::collections::HashSet<u32> =
            (0..200).map(|i| chain_of(&format!("id-{i}"), 4)).collect();
        assert_eq!(spread.len(), 4);
        assert!(spread.iter().all(|c| *c < 4));
    }
}
