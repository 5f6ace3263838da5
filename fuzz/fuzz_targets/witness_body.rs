//! The body of a witness's `POST /add-checkpoint`: never a panic, one spelling.
#![no_main]
use libfuzzer_sys::fuzz_target;
use votechain_core::witness::AddCheckpoint;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = AddCheckpoint::parse(s) {
        assert_eq!(a.body(), s, "an add-checkpoint body has one spelling");
    }
});
