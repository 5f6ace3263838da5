//! C2SP `tlog-tiles`: the static layout a log is served and stored in.
//!
//! A tile at level `l`, index `n`, holds up to 256 hashes: hash `i` is the Merkle Tree
//! Hash of leaves `[(n*256 + i) * 256^l, (n*256 + i + 1) * 256^l)`. Level-0 tiles hold
//! leaf hashes; entry bundles (`tile/entries/<n>`) hold the entries themselves, each
//! prefixed by its length as a big-endian u16. Full tiles (256 wide) never change;
//! partial ones (`.p/<w>`) are as of one tree size.
//!
//! [`Edge`] is a log's right edge: the partial tile of every level. Appending entries to
//! it yields every tile that changed (full ones once, partial ones as of the new size)
//! and the new root, with no other state, which is what a publisher needs.
//! [`TileNodes`] answers [`merkle::Nodes`] from stored tiles, which is what proofs need.

use crate::merkle::{self, Hash, Nodes, ProofError};

/// Hashes per full tile (`2^8`).
pub const TILE_WIDTH: u64 = 256;
const HEIGHT: u32 = 8;
/// Bytes of one entry: a chain's raw vote hash.
pub const ENTRY_LEN: usize = 32;

/// Which resource a tile is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `tile/<level>/...`: Merkle Tree Hashes.
    Hashes(u8),
    /// `tile/entries/...`: the entries under the level-0 tile of the same index.
    Entries,
}

/// One tile: kind, index within its level, width (1 to 256; 256 is a full tile).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    pub kind: Kind,
    pub index: u64,
    pub width: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("not a tile path: {0}")]
    BadPath(String),
    #[error("tile data of {got} bytes, expected {want}")]
    BadLength { got: usize, want: usize },
    #[error("malformed entry bundle: {0}")]
    BadBundle(&'static str),
}

impl Tile {
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The tile's path under a log's prefix, e.g. `tile/0/x001/234.p/5`.
    pub fn path(&self) -> String {
        let level = match self.kind {
            Kind::Hashes(l) => l.to_string(),
            Kind::Entries => "entries".into(),
        };
        let mut n = self.index;
        let mut index = format!("{:03}", n % 1000);
        while n >= 1000 {
            n /= 1000;
            index = format!("x{:03}/{index}", n % 1000);
        }
        let partial = if self.is_full() {
            String::new()
        } else {
            format!(".p/{}", self.width)
        };
        format!("tile/{level}/{index}{partial}")
    }

    /// Parses a path [`Tile::path`] writes; anything else is an error (never a panic).
    pub fn parse(path: &str) -> Result<Tile, TileError> {
        let bad = || TileError::BadPath(path.chars().take(120).collect());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (level, rest) = rest.split_once('/').ok_or_else(bad)?;
        let kind = match level {
            "entries" => Kind::Entries,
            l => match crate::decimal::parse_u64(l) {
                Some(v) if v <= 63 => Kind::Hashes(v as u8),
                _ => return Err(bad()),
            },
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((i, w)) => match crate::decimal::parse_u64(w) {
                Some(w) if (1..TILE_WIDTH).contains(&w) => (i, w as u16),
                _ => return Err(bad()),
            },
            None => (rest, TILE_WIDTH as u16),
        };
        let parts: Vec<&str> = index_part.split('/').collect();
        let mut index: u64 = 0;
        for (i, p) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let digits = if last { Some(*p) } else { p.strip_prefix('x') };
            let Some(d) = digits.filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()))
            else {
                return Err(bad());
            };
            let v: u64 = d.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|x| x.checked_add(v))
                .ok_or_else(bad)?;
        }
        // One canonical path per tile: no leading "x000/" elements.
        if parts.len() > 1 && parts[0] == "x000" {
            return Err(bad());
        }
        Ok(Tile { kind, index, width })
    }

    /// The number of bytes of a hash tile of this width.
    pub fn hash_bytes(&self) -> usize {
        usize::from(self.width) * 32
    }
}

/// The width of tile `index` at hash level `level` in a tree of `size` leaves, if the
/// tree has it (full: 256; partial: the width as of `size`).
pub fn width_in(level: u8, index: u64, size: u64) -> Option<u16> {
    let nodes = size.checked_shr(HEIGHT * u32::from(level)).unwrap_or(0);
    let full = nodes / TILE_WIDTH;
    if index < full {
        return Some(TILE_WIDTH as u16);
    }
    let w = nodes % TILE_WIDTH;
    (index == full && w > 0).then_some(w as u16)
}

/// Every tile a tree of `size` is served as: hash tiles of every level and entry
/// bundles, full and partial.
pub fn tiles_of(size: u64) -> Vec<Tile> {
    let mut out = Vec::new();
    for level in 0u8..=63 {
        let nodes = size.checked_shr(HEIGHT * u32::from(level)).unwrap_or(0);
        if nodes == 0 {
            break;
        }
        for index in 0..nodes.div_ceil(TILE_WIDTH) {
            let width = width_in(level, index, size).expect("in range");
            out.push(Tile {
                kind: Kind::Hashes(level),
                index,
                width,
            });
            if level == 0 {
                out.push(Tile {
                    kind: Kind::Entries,
                    index,
                    width,
                });
            }
        }
    }
    out
}

/// Parses a hash tile's bytes into its hashes.
pub fn parse_hashes(t: &Tile, data: &[u8]) -> Result<Vec<Hash>, TileError> {
    if data.len() != t.hash_bytes() {
        return Err(TileError::BadLength {
            got: data.len(),
            want: t.hash_bytes(),
        });
    }
    Ok(data
        .chunks(32)
        .map(|c| c.try_into().expect("32 bytes"))
        .collect())
}

/// An entry bundle's bytes: each entry as a big-endian u16 length and the entry.
pub fn bundle(entries: &[Hash]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * (2 + ENTRY_LEN));
    for e in entries {
        out.extend_from_slice(&(ENTRY_LEN as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// Parses an entry bundle of `width` entries of 32 bytes each.
pub fn parse_bundle(width: u16, data: &[u8]) -> Result<Vec<Hash>, TileError> {
    let mut out = Vec::with_capacity(usize::from(width));
    let mut rest = data;
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or(TileError::BadBundle("truncated length"))?;
        if usize::from(u16::from_be_bytes(*len)) != ENTRY_LEN || tail.len() < ENTRY_LEN {
            return Err(TileError::BadBundle("an entry is not 32 bytes"));
        }
        out.push(tail[..ENTRY_LEN].try_into().expect("32 bytes"));
        rest = &tail[ENTRY_LEN..];
    }
    if out.len() != usize::from(width) {
        return Err(TileError::BadBundle("wrong number of entries"));
    }
    Ok(out)
}

/// A log's right edge: its size, the entries of its partial entry bundle, and the
/// hashes of its partial tile at every level. Enough to append and to compute the root.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Edge {
    size: u64,
    entries: Vec<Hash>,
    levels: Vec<Vec<Hash>>,
}

/// A tile written by an append, with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub tile: Tile,
    pub data: Vec<u8>,
}

impl Edge {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Rebuilds the edge of a tree of `size` from its partial tiles (as [`Edge::partials`]
    /// wrote them). `read` returns a tile's bytes.
    pub fn load<E>(
        size: u64,
        mut read: impl FnMut(&Tile) -> Result<Vec<u8>, E>,
    ) -> Result<Edge, EdgeError<E>> {
        let mut edge = Edge {
            size,
            entries: vec![],
            levels: vec![],
        };
        for level in 0u8..=63 {
            let nodes = size.checked_shr(HEIGHT * u32::from(level)).unwrap_or(0);
            if nodes == 0 {
                break;
            }
            let index = nodes / TILE_WIDTH;
            let hashes = match width_in(level, index, size) {
                Some(width) => {
                    let t = Tile {
                        kind: Kind::Hashes(level),
                        index,
                        width,
                    };
                    let data = read(&t).map_err(EdgeError::Read)?;
                    parse_hashes(&t, &data).map_err(EdgeError::Tile)?
                }
                None => vec![],
            };
            if level == 0 && !hashes.is_empty() {
                let t = Tile {
                    kind: Kind::Entries,
                    index,
                    width: hashes.len() as u16,
                };
                let data = read(&t).map_err(EdgeError::Read)?;
                edge.entries = parse_bundle(t.width, &data).map_err(EdgeError::Tile)?;
                let leaves: Vec<Hash> = edge.entries.iter().map(|e| merkle::leaf_hash(e)).collect();
                if leaves != hashes {
                    return Err(EdgeError::Tile(TileError::BadBundle(
                        "entries do not hash to the level-0 tile",
                    )));
                }
            }
            edge.levels.push(hashes);
        }
        Ok(edge)
    }

    /// Appends `entries`; returns every full tile and bundle completed on the way.
    /// [`Edge::partials`] gives the partial ones as of the new size.
    pub fn append(&mut self, entries: &[Hash]) -> Vec<Written> {
        let mut out = Vec::new();
        for e in entries {
            self.entries.push(*e);
            self.push(0, merkle::leaf_hash(e), &mut out);
            self.size += 1;
            if self.entries.len() as u64 == TILE_WIDTH {
                out.push(Written {
                    tile: Tile {
                        kind: Kind::Entries,
                        index: (self.size - 1) / TILE_WIDTH,
                        width: TILE_WIDTH as u16,
                    },
                    data: bundle(&self.entries),
                });
                self.entries.clear();
            }
        }
        out
    }

    fn push(&mut self, level: usize, h: Hash, out: &mut Vec<Written>) {
        if self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        self.levels[level].push(h);
        if self.levels[level].len() as u64 == TILE_WIDTH {
            let full = std::mem::take(&mut self.levels[level]);
            // `self.size` is the index of the leaf being appended; the node just pushed at
            // this level is the one covering it, and it is the tile's last.
            let node = self.size >> (HEIGHT * level as u32);
            out.push(Written {
                tile: Tile {
                    kind: Kind::Hashes(level as u8),
                    index: node / TILE_WIDTH,
                    width: TILE_WIDTH as u16,
                },
                data: full.concat(),
            });
            self.push(level + 1, merkle::fold_complete(&full), out);
        }
    }

    /// The partial tiles (and bundle) of the current size, as they must be served.
    pub fn partials(&self) -> Vec<Written> {
        let mut out = Vec::new();
        for (level, hashes) in self.levels.iter().enumerate() {
            if hashes.is_empty() {
                continue;
            }
            let index = self.size >> (HEIGHT * (level as u32 + 1));
            out.push(Written {
                tile: Tile {
                    kind: Kind::Hashes(level as u8),
                    index,
                    width: hashes.len() as u16,
                },
                data: hashes.concat(),
            });
        }
        if !self.entries.is_empty() {
            out.push(Written {
                tile: Tile {
                    kind: Kind::Entries,
                    index: self.size / TILE_WIDTH,
                    width: self.entries.len() as u16,
                },
                data: bundle(&self.entries),
            });
        }
        out
    }

    /// The last entry, when the partial bundle holds it (the size is not a multiple of 256).
    pub fn last_entry(&self) -> Option<Hash> {
        self.entries.last().copied()
    }

    /// The root of the tree of the current size.
    pub fn root(&self) -> Hash {
        merkle::tree_hash(self, self.size).expect("the edge holds every node of its root")
    }
}

/// Nodes of the root's decomposition all lie in the partial tiles.
impl Nodes for Edge {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let (l, r) = ((level / 8) as usize, u32::from(level % 8));
        let first = index << r;
        let tile_index = first / TILE_WIDTH;
        let want_tile = self.size >> (HEIGHT * (l as u32 + 1));
        let (start, count) = ((first % TILE_WIDTH) as usize, 1usize << r);
        match self.levels.get(l) {
            Some(h) if tile_index == want_tile && start + count <= h.len() => {
                Ok(merkle::fold_complete(&h[start..start + count]))
            }
            _ => Err(ProofError::Unavailable {
                level,
                index,
                why: "not on the right edge".into(),
            }),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EdgeError<E> {
    #[error("reading a partial tile: {0}")]
    Read(E),
    #[error(transparent)]
    Tile(TileError),
}

/// [`Nodes`] read from the tiles of a tree of `size`: `read` returns a tile's hashes
/// (full tiles, and the partial tiles of that size).
pub struct TileNodes<F> {
    pub size: u64,
    pub read: F,
}

/// The tile holding node `(level, index)` of a tree of `size`, and where in it the node's
/// `count` hashes start.
fn tile_of_node(level: u8, index: u64, size: u64) -> Result<(Tile, usize, usize), String> {
    let (l, r) = (level / 8, u32::from(level % 8));
    let first = index.checked_shl(r).ok_or("out of range")?;
    let tile_index = first / TILE_WIDTH;
    let width =
        width_in(l, tile_index, size).ok_or_else(|| format!("no such tile in a tree of {size}"))?;
    let tile = Tile {
        kind: Kind::Hashes(l),
        index: tile_index,
        width,
    };
    Ok((tile, (first % TILE_WIDTH) as usize, 1usize << r))
}

impl<F> Nodes for TileNodes<F>
where
    F: Fn(&Tile) -> Result<Vec<Hash>, String>,
{
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let unavailable = |why: String| ProofError::Unavailable { level, index, why };
        let (tile, start, count) = tile_of_node(level, index, self.size).map_err(unavailable)?;
        let hashes = (self.read)(&tile).map_err(unavailable)?;
        if hashes.len() != usize::from(tile.width) || start + count > hashes.len() {
            return Err(unavailable(format!("tile {} is short", tile.path())));
        }
        Ok(merkle::fold_complete(&hashes[start..start + count]))
    }
}

/// A [`Nodes`] that only notes which tiles are read: run a proof through it to learn the
/// tiles to fetch (the shape of a proof does not depend on the hashes), then fetch them
/// all at once and run it again on [`TileNodes`].
pub struct TileRecorder {
    pub size: u64,
    pub tiles: std::cell::RefCell<std::collections::BTreeSet<Tile>>,
}

impl TileRecorder {
    pub fn new(size: u64) -> TileRecorder {
        TileRecorder {
            size,
            tiles: Default::default(),
        }
    }
    pub fn into_tiles(self) -> Vec<Tile> {
        self.tiles.into_inner().into_iter().collect()
    }
}

impl Nodes for TileRecorder {
    fn node(&self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let (tile, _, _) = tile_of_node(level, index, self.size)
            .map_err(|why| ProofError::Unavailable { level, index, why })?;
        self.tiles.borrow_mut().insert(tile);
        Ok([0; 32])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn paths_follow_c2sp() {
        let t = |kind, index, width| Tile { kind, index, width };
        let cases = [
            (t(Kind::Hashes(0), 0, 256), "tile/0/000"),
            (t(Kind::Hashes(4), 1_234_067, 1), "tile/4/x001/x234/067.p/1"),
            (t(Kind::Hashes(4), 1_234_067, 256), "tile/4/x001/x234/067"),
            (t(Kind::Entries, 5, 112), "tile/entries/005.p/112"),
            (t(Kind::Hashes(1), 1000, 256), "tile/1/x001/000"),
        ];
        for (tile, path) in cases {
            assert_eq!(tile.path(), path);
            assert_eq!(Tile::parse(path), Ok(tile), "{path}");
        }
        for bad in [
            "tile/0/1",
            "tile/00/000",
            "tile/64/000",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/0/000.p/07",
            "tile/0/x000/001",
            "tile/0/001/002",
            "tile/x/000",
            "tiles/0/000",
            "tile/0/x001",
            "tile/0/000.p/",
            "tile/entries/99999999999999999999999",
            "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
        ] {
            assert!(Tile::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_tiles_of_a_tree_of_70000_are_the_specs_example() {
        let hash_tiles: Vec<Tile> = tiles_of(70_000)
            .into_iter()
            .filter(|t| t.kind != Kind::Entries)
            .collect();
        let count = |l: u8, full: bool| {
            hash_tiles
                .iter()
                .filter(|t| t.kind == Kind::Hashes(l) && t.is_full() == full)
                .count()
        };
        assert_eq!((count(0, true), count(0, false)), (273, 1));
        assert_eq!((count(1, true), count(1, false)), (1, 1));
        assert_eq!((count(2, true), count(2, false)), (0, 1));
        assert_eq!(width_in(0, 273, 70_000), Some(112));
        assert_eq!(width_in(1, 1, 70_000), Some(17));
        assert_eq!(width_in(2, 0, 70_000), Some(1));
        assert_eq!(width_in(0, 274, 70_000), None);
        assert_eq!(
            width_in(1, 0, 256),
            Some(1),
            "size 256: a partial level-1 tile"
        );
    }

    fn entry(i: u64) -> Hash {
        merkle::leaf_hash(&i.to_le_bytes())
    }

    /// Appends `sizes` batches, storing every tile written; checks roots and proofs.
    fn grow(batches: &[u64]) -> (Edge, HashMap<Tile, Vec<u8>>, Vec<Hash>) {
        let mut edge = Edge::default();
        let mut store = HashMap::new();
        let mut all = Vec::new();
        for &n in batches {
            let entries: Vec<Hash> = (all.len() as u64..all.len() as u64 + n)
                .map(entry)
                .collect();
            all.extend(entries.iter().copied());
            for w in edge.append(&entries).into_iter().chain(edge.partials()) {
                if w.tile.is_full() {
                    assert!(!store.contains_key(&w.tile), "a full tile is written once");
                }
                store.insert(w.tile, w.data);
            }
            let leaves: Vec<Hash> = all.iter().map(|e| merkle::leaf_hash(e)).collect();
            assert_eq!(edge.root(), merkle::root_of(&leaves), "size {}", all.len());
        }
        (edge, store, all)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn appending_in_any_batches_gives_the_same_tiles_and_roots(
            batches in proptest::collection::vec(0u64..400, 1..8)
        ) {
            let (edge, store, all) = grow(&batches);
            let (_, once, _) = grow(&[all.len() as u64]);
            // Full tiles do not depend on how the entries were batched.
            for (t, data) in once.iter().filter(|(t, _)| t.is_full()) {
                prop_assert_eq!(store.get(t), Some(data));
            }
            // Every tile of the final size is stored, and the edge reloads from them.
            let size = edge.size();
            for t in tiles_of(size) {
                prop_assert!(store.contains_key(&t), "{}", t.path());
            }
            let reloaded = Edge::load(size, |t| store.get(t).cloned().ok_or("missing")).unwrap();
            prop_assert_eq!(&reloaded, &edge);
            // Proofs from tiles equal proofs from the leaves.
            let leaves: Vec<Hash> = all.iter().map(|e| merkle::leaf_hash(e)).collect();
            let nodes = TileNodes {
                size,
                read: |t: &Tile| {
                    let data = store.get(t).ok_or_else(|| format!("no {}", t.path()))?;
                    parse_hashes(t, data).map_err(|e| e.to_string())
                },
            };
            if size > 0 {
                for index in [0, size / 3, size - 1] {
                    prop_assert_eq!(
                        merkle::inclusion_proof(&nodes, index, size).unwrap(),
                        merkle::inclusion_proof(&leaves[..], index, size).unwrap()
                    );
                }
                let old = size / 2;
                prop_assert_eq!(
                    merkle::consistency_proof(&nodes, old, size).unwrap(),
                    merkle::consistency_proof(&leaves[..], old, size).unwrap()
                );
            }
            prop_assert_eq!(merkle::tree_hash(&nodes, size).unwrap(), edge.root());
            // The recorder names exactly the tiles a proof reads.
            if size > 0 {
                let rec = TileRecorder::new(size);
                merkle::inclusion_proof(&rec, size / 2, size).unwrap();
                let needed = rec.into_tiles();
                let only: HashMap<Tile, Vec<u8>> = needed.iter().map(|t| (*t, store[t].clone())).collect();
                let limited = TileNodes {
                    size,
                    read: |t: &Tile| {
                        let data = only.get(t).ok_or_else(|| format!("not fetched: {}", t.path()))?;
                        parse_hashes(t, data).map_err(|e| e.to_string())
                    },
                };
                prop_assert_eq!(
                    merkle::inclusion_proof(&limited, size / 2, size).unwrap(),
                    merkle::inclusion_proof(&leaves[..], size / 2, size).unwrap()
                );
            }
        }
    }

    #[test]
    fn a_tree_past_two_full_levels_reloads_and_proves() {
        let (edge, store, all) = grow(&[65_000, 536, 300]);
        assert_eq!(edge.size(), 65_836);
        assert!(store.contains_key(&Tile {
            kind: Kind::Hashes(1),
            index: 0,
            width: 256
        }));
        let reloaded = Edge::load(edge.size(), |t| store.get(t).cloned().ok_or("missing"));
        assert_eq!(reloaded.unwrap(), edge);
        let leaves: Vec<Hash> = all.iter().map(|e| merkle::leaf_hash(e)).collect();
        let nodes = TileNodes {
            size: edge.size(),
            read: |t: &Tile| parse_hashes(t, &store[t]).map_err(|e| e.to_string()),
        };
        for index in [0, 255, 256, 65_535, 65_536, 65_835] {
            assert_eq!(
                merkle::inclusion_proof(&nodes, index, edge.size()),
                merkle::inclusion_proof(&leaves[..], index, edge.size())
            );
        }
    }

    #[test]
    fn bad_tile_bytes_are_errors() {
        let t = Tile {
            kind: Kind::Hashes(0),
            index: 0,
            width: 2,
        };
        assert!(parse_hashes(&t, &[0; 63]).is_err());
        assert!(parse_bundle(2, &bundle(&[[1; 32]])).is_err());
        assert!(parse_bundle(1, &[0, 31, 1]).is_err());
        assert!(parse_bundle(1, &[0]).is_err());
        assert_eq!(parse_bundle(1, &bundle(&[[7; 32]])), Ok(vec![[7; 32]]));
        let store: HashMap<Tile, Vec<u8>> = HashMap::new();
        assert!(Edge::load(5, |t| store.get(t).cloned().ok_or("missing")).is_err());
    }
}
