//! Go's `strconv.Atoi` on a 64-bit platform.

/// Parses `s` as `strconv.Atoi` does: an optional `+` or `-`, then ASCII
/// digits only (no spaces, no underscores); `None` when Go returns an error
/// (empty, bad syntax, out of range).
pub(crate) fn atoi(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_strconv_atoi() {
        for (s, want) in [
            ("0", Some(0)),
            ("42", Some(42)),
            ("+3", Some(3)),
            ("-4", Some(-4)),
            ("007", Some(7)),
            ("9223372036854775807", Some(i64::MAX)),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
            ("", None),
            ("+", None),
            ("-", None),
            (" 1", None),
            ("1 ", None),
            ("1_000", None),
            ("0x10", None),
            ("1.5", None),
            ("++1", None),
            ("١", None),
        ] {
            assert_eq!(atoi(s), want, "{s:?}");
        }
    }
}
