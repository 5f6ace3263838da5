//! A signed checkpoint as a verifier reads it: never a panic, and a checkpoint text that
//! parses has exactly one spelling (it is what `text()` gives back).
#![no_main]
use libfuzzer_sys::fuzz_target;
use votechain_core::{checkpoint::Checkpoint, note};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(cp) = Checkpoint::parse(s) {
        assert_eq!(cp.text(), s, "a checkpoint text has one spelling");
    }
    if let Ok((text, _sigs)) = note::split(s) {
        let _ = Checkpoint::parse(text);
        let log = votechain_core::checkpoint::log_verifier("o", &[7; 32]);
        let _ = note::verify(s, &log);
    }
});
