//! Tile paths and entry bundles as the audit and the record check read them: never a
//! panic, a path that parses is the tile's own path, a bundle that parses re-encodes to
//! its bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use votechain_core::tiles::{Tile, bundle, parse_bundle, parse_hashes};

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(2));
    let width = head.iter().fold(0u16, |a, b| (a << 8) | u16::from(*b));
    if let Ok(entries) = parse_bundle(width, rest) {
        assert_eq!(bundle(&entries), rest, "a bundle has one encoding");
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Tile::parse(s) {
        assert_eq!(t.path(), s, "a tile path has one spelling");
        let _ = parse_hashes(&t, rest);
    }
});
