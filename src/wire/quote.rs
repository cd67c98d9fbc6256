//! Go's ways of quoting text inside error messages.

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

/// An approximation of Go's `unicode.IsPrint` good for error messages:
/// graphic characters and the ASCII space, not controls, formats,
/// separators other than space, private use or unassigned surrogates.
fn is_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x20 || u == 0x7f || (0x80..0xa0).contains(&u) {
        return false;
    }
    !matches!(u,
        0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x180e | 0x200b..=0x200f
        | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb
        | 0xe000..=0xf8ff | 0xa0 | 0x1680 | 0x2000..=0x200a | 0x205f | 0x3000
        | 0xf0000..=0x10ffff)
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
}
