//! Go's ways of quoting text inside error messages.

mod is_print;

use is_print::is_print;

/// A character as Go's JSON syntax errors quote it: `'x'`, `'\n'`,
/// `'\x01'`, `'é'`, `'\ufeff'`, `'\''`; a byte that starts no valid UTF-8
/// sequence as `'\xc3'`.
pub(crate) fn quote_char(rest: &[u8]) -> String {
    let Some(&first) = rest.first() else {
        return "''".to_string();
    };
    let c = match std::str::from_utf8(&rest[..utf8_len(first).min(rest.len())]) {
        Ok(s) => s.chars().next(),
        Err(_) => None,
    };
    let Some(c) = c else {
        return format!("'\\x{first:02x}'");
    };
    let inner = match c {
        '\'' => "\\'".to_string(),
        '"' => "\"".to_string(),
        c => escape_rune(c, '\''),
    };
    format!("'{inner}'")
}

/// How many bytes a UTF-8 sequence starting with `b` claims.
fn utf8_len(b: u8) -> usize {
    match b {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// One rune as `strconv.Quote` writes it (without the quotes).
fn escape_rune(c: char, quote: char) -> String {
    match c {
        '\x07' => "\\a".into(),
        '\x08' => "\\b".into(),
        '\x0c' => "\\f".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        '\x0b' => "\\v".into(),
        '\\' => "\\\\".into(),
        c if c == quote => format!("\\{c}"),
        c if is_print(c) => c.to_string(),
        c if (c as u32) < 0x80 => format!("\\x{:02x}", c as u32),
        c if (c as u32) < 0x10000 => format!("\\u{:04x}", c as u32),
        c => format!("\\U{:08x}", c as u32),
    }
}

/// Go's `strconv.Quote` of bytes that may not be UTF-8 (invalid bytes as
/// `\x..`).
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            out.push_str(&escape_rune(c, '"'));
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// The `time` package's quoting in parse errors: `"`, `\` escaped; bytes
/// of non-ASCII and control characters as `\x..`.
pub(crate) fn time_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if (c as u32) < 0x20 || (c as u32) >= 0x80 {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        } else {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn characters_are_quoted_as_go_quotes_them() {
        // Each checked against Go 1.27 (the reference's toolchain).
        assert_eq!(quote_char(b"x"), "'x'");
        assert_eq!(quote_char(b"'"), "'\\''");
        assert_eq!(quote_char(b"\x7f"), "'\\x7f'");
        assert_eq!(quote_char(b"\x01"), "'\\x01'");
        assert_eq!(quote_char(b"\t"), "'\\t'");
        assert_eq!(quote_char("é".as_bytes()), "'é'");
        assert_eq!(quote_char("€x".as_bytes()), "'€'");
        assert_eq!(quote_char(b"\xc3"), "'\\xc3'");
        assert_eq!(quote_char("\u{feff}{".as_bytes()), "'\\ufeff'");
        assert_eq!(go_quote(b"urn:uuid;"), "\"urn:uuid;\"");
        assert_eq!(go_quote(b"a\xffb"), "\"a\\xffb\"");
        assert_eq!(time_quote("a\"é"), "\"a\\\"\\xc3\\xa9\"");
    }

    /// `strconv.Quote` of one code point, recorded from go1.27.3:
    /// unassigned, private-use and format code points are escaped, new
    /// Unicode 17 characters are not.
    const QUOTED: &[(char, &str)] = &[
        ('\u{38d}', r#""\u038d""#),
        ('\u{378}', r#""\u0378""#),
        ('\u{37e}', "\"\u{37e}\""),
        ('\u{2b74}', r#""\u2b74""#),
        ('\u{20c1}', "\"\u{20c1}\""),
        ('\u{20c2}', r#""\u20c2""#),
        ('\u{a7dc}', "\"\u{a7dc}\""),
        ('\u{a7dd}', r#""\ua7dd""#),
        ('\u{fffe}', r#""\ufffe""#),
        ('\u{fffd}', "\"\u{fffd}\""),
        ('\u{e000}', r#""\ue000""#),
        ('\u{ad}', r#""\u00ad""#),
        ('\u{3000}', r#""\u3000""#),
        ('\u{2028}', r#""\u2028""#),
        ('\u{600}', r#""\u0600""#),
        ('\u{1d173}', r#""\U0001d173""#),
        ('\u{e0001}', r#""\U000e0001""#),
        ('\u{e0100}', "\"\u{e0100}\""),
        ('\u{e01f0}', r#""\U000e01f0""#),
        ('\u{1f600}', "\"\u{1f600}\""),
        ('\u{1fadf}', "\"\u{1fadf}\""),
        ('\u{31350}', "\"\u{31350}\""),
        ('\u{3134b}', r#""\U0003134b""#),
        ('\u{40000}', r#""\U00040000""#),
        ('\u{f0000}', r#""\U000f0000""#),
        ('\u{10ffff}', r#""\U0010ffff""#),
    ];

    #[test]
    fn code_points_are_printable_exactly_when_go_says_so() {
        for &(c, want) in QUOTED {
            let mut buf = [0u8; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            assert_eq!(go_quote(bytes), want, "U+{:04X}", u32::from(c));
            let inner = &want[1..want.len() - 1];
            assert_eq!(quote_char(bytes), format!("'{inner}'"));
        }
    }

    #[test]
    fn printable_ranges_are_sorted_and_disjoint() {
        let table = is_print::PRINTABLE;
        assert!(table.iter().all(|&(lo, hi)| lo <= hi));
        assert!(table.windows(2).all(|w| w[0].1 + 1 < w[1].0));
        assert_eq!(table.first(), Some(&(0x20, 0x7e)));
    }
}
