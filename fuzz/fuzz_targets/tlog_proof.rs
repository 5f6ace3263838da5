//! A voter's receipt (C2SP tlog-proof with votechain's extra line): never a panic, and
//! what parses has one spelling.
#![no_main]
use libfuzzer_sys::fuzz_target;
use votechain_core::receipt::{ReceiptExtra, TlogProof};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = TlogProof::parse(s) {
        assert_eq!(p.text(), s, "a tlog-proof has one spelling");
        if let Some(extra) = p.extra.as_deref().and_then(|e| std::str::from_utf8(e).ok())
            && let Ok(e) = ReceiptExtra::parse(extra)
        {
            assert_eq!(e.text(), extra, "an extra line has one spelling");
        }
    }
    if let Ok(e) = ReceiptExtra::parse(s) {
        assert_eq!(e.text(), s, "an extra line has one spelling");
    }
});
