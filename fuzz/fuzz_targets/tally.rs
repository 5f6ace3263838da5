//! A tally statement's text: never a panic; what parses has one spelling.
#![no_main]
use libfuzzer_sys::fuzz_target;
use votechain_core::tally::Tally;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(t) = Tally::parse(s) {
        assert_eq!(t.text(), s, "a tally statement has one spelling");
    }
});
