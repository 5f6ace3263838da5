//! An election manifest as a verifier reads it: never a panic; a valid one has a digest
//! and, with a witness policy, a policy that parses.
#![no_main]
use libfuzzer_sys::fuzz_target;
use votechain_core::manifest::Manifest;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(m) = Manifest::parse_json(s) {
        let _ = m.digest();
        assert_eq!(m.witness_policy().is_some(), m.witnesses.is_some());
        let _ = m.policy_for_verifier(&[], None);
    }
});
