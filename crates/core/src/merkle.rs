//! RFC 6962 Merkle trees (RFC 9162, section 2.1): the tree hash of a log, inclusion
//! and consistency proofs, and their verification.
//!
//! A log's entry `i` is a chain's raw `hash(seq = i + 1)` (contract v2); its leaf hash is
//! `SHA256(0x00 || entry)` and an interior node `SHA256(0x01 || left || right)`.
//!
//! Proofs are generated from [`Nodes`]: any source of the hashes of *complete, aligned*
//! subtrees (`2^level` leaves starting at leaf `index * 2^level`). Tiles are one such
//! source (`tiles::TileNodes`); a slice of leaf hashes is another (tests, small trees).
//! Every other hash a proof or a root needs is computed from those, following RFC 6962's
//! split rule (the left subtree holds the largest power of two strictly below the size).
//!
//! Verification is RFC 9162's iterative algorithms, step for step (sections 2.1.3.2 and
//! 2.1.4.2), so it needs nothing but the proof. Pinned by the contract's vectors and
//! cross-checked against Go's `sumdb/tlog` algorithms (ported by the `tlog_tiles` crate)
//! in property tests.

use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Why a proof could not be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a tree of size {old} cannot be a prefix of a tree of size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof does not lead to the root")]
    RootMismatch,
    #[error("the proof does not lead to the old root")]
    OldRootMismatch,
    #[error("node at level {level} index {index} is not available: {why}")]
    Unavailable { level: u8, index: u64, why: String },
}

/// `SHA256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

/// `SHA256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A source of complete subtree hashes: `node(level, index)` is the Merkle Tree Hash of
/// leaves `[index * 2^level, (index + 1) * 2^level)`.
pub trait Nodes {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError>;
}

/// Leaf hashes in memory are a [`Nodes`] (each node computed from its leaves).
impl Nodes for [Hash] {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let width = 1u64.checked_shl(level.into()).unwrap_or(0);
        let lo = index.saturating_mul(width);
        let hi = lo.saturating_add(width);
        if width == 0 || hi > self.len() as u64 {
            return Err(ProofError::Unavailable {
                level,
                index,
                why: format!("only {} leaves", self.len()),
            });
        }
        Ok(fold_complete(&self[lo as usize..hi as usize]))
    }
}

/// The hash of a complete subtree from its `2^k` leaf (or node) hashes, bottom up.
pub fn fold_complete(hashes: &[Hash]) -> Hash {
    debug_assert!(hashes.len().is_power_of_two());
    let mut level: Vec<Hash> = hashes.to_vec();
    while level.len() > 1 {
        level = level.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    level[0]
}

/// The largest power of two strictly below `n` (`n >= 2`): RFC 6962's split point.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[lo:hi])` for a range RFC 6962's recursion produces (`lo` a multiple of the
/// largest power of two not above `hi - lo`), from complete subtrees.
pub fn subtree_hash(r: &(impl Nodes + ?Sized), lo: u64, hi: u64) -> Result<Hash, ProofError> {
    let n = hi - lo;
    if n == 0 {
        return Ok(empty_root());
    }
    if n.is_power_of_two() {
        let level = n.trailing_zeros() as u8;
        return r.node(level, lo >> level);
    }
    let k = split(n);
    let left = subtree_hash(r, lo, lo + k)?;
    let right = subtree_hash(r, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of the first `size` leaves.
pub fn tree_hash(r: &(impl Nodes + ?Sized), size: u64) -> Result<Hash, ProofError> {
    subtree_hash(r, 0, size)
}

/// The root of a tree given all its leaf hashes.
pub fn root_of(leaves: &[Hash]) -> Hash {
    tree_hash(leaves, leaves.len() as u64).expect("every node is in memory")
}

/// RFC 9162 `PATH(index, D[0:size])`: the inclusion proof of leaf `index`, from the
/// leaf's sibling up to the root's child.
pub fn inclusion_proof(
    r: &(impl Nodes + ?Sized),
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path(r, index, 0, size, &mut out)?;
    Ok(out)
}

fn path(
    r: &(impl Nodes + ?Sized),
    m: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(r, m, lo, lo + k, out)?;
        out.push(subtree_hash(r, lo + k, hi)?);
    } else {
        path(r, m - k, lo + k, hi, out)?;
        out.push(subtree_hash(r, lo, lo + k)?);
    }
    Ok(())
}

/// RFC 9162 `PROOF(old, D[0:new])`: the consistency proof of the tree of size `old` with
/// the tree of size `new`. Empty when `old` is 0 or equals `new`.
pub fn consistency_proof(
    r: &(impl Nodes + ?Sized),
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(r, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

fn subproof(
    r: &(impl Nodes + ?Sized),
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(subtree_hash(r, lo, hi)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(r, m, lo, lo + k, whole, out)?;
        out.push(subtree_hash(r, lo + k, hi)?);
    } else {
        subproof(r, m - k, lo + k, hi, false, out)?;
        out.push(subtree_hash(r, lo, lo + k)?);
    }
    Ok(())
}

/// Shifts `fn_` and `sn` right together until `fn_`'s lowest bit is set or it is 0.
fn shift_to_set_bit(fn_: &mut u64, sn: &mut u64) {
    while *fn_ & 1 == 0 && *fn_ != 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// RFC 9162 section 2.1.3.2: `proof` shows that `leaf` (a leaf hash) is at `index` in
/// the tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fn_, mut sn, mut r) = (index, size - 1, *leaf);
    for p in proof {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_to_set_bit(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// RFC 9162 section 2.1.4.2: `proof` shows that the tree of size `old` with root
/// `old_root` is a prefix of the tree of size `new` with root `new_root`. Equal sizes
/// need an empty proof and equal roots; any tree extends the empty one.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if old == 0 {
        return if proof.is_empty() {
            Ok(())
        } else {
            Err(ProofError::WrongLength)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength);
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fn_, mut sn) = (old - 1, new - 1);
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if sn == 0 {
            return Err(ProofError::WrongLength);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_to_set_bit(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const V2_VECTORS: &str = include_str!("../tests/data/v2-vectors.txt");

    /// The chain entries of the vectors' `[chain]` section (its `hash` lines), in order.
    fn vector_entries() -> Vec<Hash> {
        V2_VECTORS
            .lines()
            .filter_map(|l| l.trim().strip_prefix("hash "))
            .map(|h| crate::chain::from_hex(h.trim()).unwrap())
            .collect()
    }

    fn hexes(words: &[&str]) -> Vec<Hash> {
        words
            .iter()
            .map(|h| crate::chain::from_hex(h).unwrap())
            .collect()
    }

    fn kv(words: &[&str], key: &str) -> u64 {
        words
            .iter()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn the_contracts_roots_and_proofs_reproduce() {
        let entries = vector_entries();
        assert_eq!(entries.len(), 7);
        let leaves: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let (mut roots, mut proofs) = (0, 0);
        let mut root_at = std::collections::HashMap::new();
        for line in V2_VECTORS.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.first().copied() {
                Some("root") => {
                    let size = kv(&w, "size");
                    let want = crate::chain::from_hex(w[2]).unwrap();
                    assert_eq!(tree_hash(&leaves[..], size).unwrap(), want, "size {size}");
                    root_at.insert(size, want);
                    roots += 1;
                }
                Some("inclusion") => {
                    let (index, size) = (kv(&w, "index"), kv(&w, "size"));
                    let want = hexes(&w[3..]);
                    assert_eq!(inclusion_proof(&leaves[..], index, size).unwrap(), want);
                    let root = root_at[&size];
                    verify_inclusion(&leaves[index as usize], index, size, &want, &root).unwrap();
                    proofs += 1;
                }
                Some("consistency") => {
                    let (old, new) = (kv(&w, "from"), kv(&w, "to"));
                    let want = hexes(&w[3..]);
                    assert_eq!(consistency_proof(&leaves[..], old, new).unwrap(), want);
                    verify_consistency(old, new, &root_at[&old], &root_at[&new], &want).unwrap();
                    proofs += 1;
                }
                _ => {}
            }
        }
        assert_eq!((roots, proofs), (8, 10), "every vector line was checked");
        assert_eq!(tree_hash(&leaves[..], 0).unwrap(), empty_root());
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// Go's `sumdb/tlog` (as ported by `tlog_tiles`) over the same leaves.
    struct GoTree(Vec<tlog_tiles::tlog::Hash>);
    impl GoTree {
        fn new(leaves: &[Hash]) -> GoTree {
            let mut stored: Vec<tlog_tiles::tlog::Hash> = Vec::new();
            for (i, l) in leaves.iter().enumerate() {
                let add = tlog_tiles::tlog::stored_hashes_for_record_hash(
                    i as u64,
                    tlog_tiles::tlog::Hash(*l),
                    &GoReader(&stored),
                )
                .unwrap();
                stored.extend(add);
            }
            GoTree(stored)
        }
    }
    struct GoReader<'a>(&'a [tlog_tiles::tlog::Hash]);
    impl tlog_tiles::tlog::HashReader for GoReader<'_> {
        fn read_hashes(
            &self,
            indexes: &[u64],
        ) -> Result<Vec<tlog_tiles::tlog::Hash>, tlog_tiles::tlog::Error> {
            Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn every_inclusion_proof_verifies_and_go_agrees(size in 1u64..700, pick in any::<u64>()) {
            let l = leaves(size);
            let index = pick % size;
            let root = root_of(&l);
            let proof = inclusion_proof(&l[..], index, size).unwrap();
            prop_assert_eq!(verify_inclusion(&l[index as usize], index, size, &proof, &root), Ok(()));
            let go = GoTree::new(&l);
            let go_root = tlog_tiles::tlog::tree_hash(size, &GoReader(&go.0)).unwrap();
            prop_assert_eq!(go_root.0, root);
            let go_proof: Vec<tlog_tiles::tlog::Hash> = proof.iter().map(|h| tlog_tiles::tlog::Hash(*h)).collect();
            prop_assert!(tlog_tiles::tlog::check_record(&go_proof, size, go_root, index, tlog_tiles::tlog::Hash(l[index as usize])).is_ok());
        }

        #[test]
        fn any_flipped_bit_or_wrong_position_fails(size in 2u64..300, pick in any::<u64>(), bit in 0usize..256) {
            let l = leaves(size);
            let index = pick % size;
            let root = root_of(&l);
            let proof = inclusion_proof(&l[..], index, size).unwrap();
            let mut leaf = l[index as usize];
            leaf[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                let at = (pick as usize) % bad.len();
                bad[at][bit / 8] ^= 1 << (bit % 8);
                prop_assert!(verify_inclusion(&l[index as usize], index, size, &bad, &root).is_err());
            }
            let other = (index + 1) % size;
            prop_assert!(verify_inclusion(&l[index as usize], other, size, &proof, &root).is_err());
            // The proof of another tree size, checked against that tree's root.
            let bigger = leaves(size + 1);
            prop_assert!(verify_inclusion(&l[index as usize], index, size + 1, &proof, &root_of(&bigger)).is_err());
        }

        #[test]
        fn every_consistency_proof_verifies_and_go_agrees(new in 1u64..700, pick in any::<u64>()) {
            let l = leaves(new);
            let old = pick % (new + 1);
            let (old_root, new_root) = (tree_hash(&l[..], old).unwrap(), root_of(&l));
            let proof = consistency_proof(&l[..], old, new).unwrap();
            prop_assert_eq!(verify_consistency(old, new, &old_root, &new_root, &proof), Ok(()));
            if old > 0 {
                let go = GoTree::new(&l);
                let go_proof = tlog_tiles::tlog::prove_tree(new, old, &GoReader(&go.0)).unwrap();
                let ours: Vec<tlog_tiles::tlog::Hash> = proof.iter().map(|h| tlog_tiles::tlog::Hash(*h)).collect();
                prop_assert_eq!(go_proof, ours);
            }
        }

        #[test]
        fn a_forked_or_tampered_consistency_proof_fails(new in 3u64..300, pick in any::<u64>(), bit in 0usize..256) {
            let l = leaves(new);
            let old = 1 + pick % (new - 1);
            let (old_root, new_root) = (tree_hash(&l[..], old).unwrap(), root_of(&l));
            let proof = consistency_proof(&l[..], old, new).unwrap();
            let mut bad = proof.clone();
            let at = (pick as usize) % bad.len();
            bad[at][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(old, new, &old_root, &new_root, &bad).is_err());
            // A fork: the same old size, one leaf of the old tree changed.
            let mut forked = l.clone();
            forked[(pick as usize) % old as usize][0] ^= 1;
            let forked_old = tree_hash(&forked[..], old).unwrap();
            prop_assert!(verify_consistency(old, new, &forked_old, &new_root, &proof).is_err());
            let bigger = root_of(&leaves(new + 1));
            prop_assert!(verify_consistency(old, new + 1, &old_root, &bigger, &proof).is_err());
            prop_assert!(verify_consistency(new, old, &new_root, &old_root, &proof).is_err());
        }
    }

    #[test]
    fn edge_cases_are_errors_not_panics() {
        let l = leaves(5);
        let root = root_of(&l);
        assert!(inclusion_proof(&l[..], 5, 5).is_err());
        assert!(verify_inclusion(&l[0], 0, 0, &[], &root).is_err());
        assert!(consistency_proof(&l[..], 6, 5).is_err());
        assert!(tree_hash(&l[..], 6).is_err(), "more leaves than there are");
        assert_eq!(verify_consistency(0, 5, &empty_root(), &root, &[]), Ok(()));
        assert!(verify_consistency(3, 5, &root, &root, &[]).is_err());
        assert_eq!(verify_inclusion(&l[0], 0, 1, &[], &l[0]), Ok(()));
    }
}
