//! Canonical decimals in the contract's text formats (checkpoint sizes, proof indexes,
//! receipt fields, the witness's `old`): ASCII digits only, no sign, no leading zero
//! except for `0` itself. Rust's `str::parse` also takes `+7` and `007`; two spellings of
//! one number in a signed or hashed text would let two different texts mean the same
//! thing, so every parser of input goes through here.

/// A canonical unsigned decimal.
pub fn parse_u64(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// A canonical signed decimal: a canonical unsigned one, or `-` before a nonzero one.
pub fn parse_i64(s: &str) -> Option<i64> {
    match s.strip_prefix('-') {
        Some(abs) if abs != "0" => {
            parse_u64(abs)?;
            s.parse().ok()
        }
        Some(_) => None,
        None => i64::try_from(parse_u64(s)?).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_spelling_of_each_number_is_read() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("1795000000137"), Some(1_795_000_000_137));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "+7",
            "007",
            "0x1",
            " 7",
            "7 ",
            "-1",
            "1_000",
            "18446744073709551616",
        ] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
        assert_eq!(parse_i64("-5"), Some(-5));
        assert_eq!(parse_i64("42"), Some(42));
        assert_eq!(parse_i64("-9223372036854775808"), Some(i64::MIN));
        for bad in ["-0", "+5", "-05", "--5", "9223372036854775808", ""] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }
}
