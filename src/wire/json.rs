//! Go's `encoding/json` string encoding, HTML-safe (what `json.Marshal`
//! and the reference's encoder write).

use std::borrow::Cow;

/// The text Go's encoder writes for a Go string holding these bytes: valid
/// UTF-8 as it is, and **one U+FFFD for each byte** that does not start a
/// valid sequence (Go walks the string with `utf8.DecodeRuneInString`, which
/// takes one byte per error). `String::from_utf8_lossy` differs on a cut
/// multi-byte character: it gives one U+FFFD for `"\xe2\x82"`, Go two.
/// Checked against the reference server's POST answers, histories and SSE
/// frames (it writes U+FFFD raw, not `\ufffd`).
pub(crate) fn go_lossy(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        // The bytes of an ill-formed sequence after its first are
        // continuation bytes, which never start a rune for Go either: each
        // is an error of its own.
        out.extend(chunk.invalid().iter().map(|_| char::REPLACEMENT_CHARACTER));
    }
    Cow::Owned(out)
}

/// Appends `s` as a quoted JSON string, escaped as Go escapes it: `"` and
/// `\` with a backslash; `\b`, `\f`, `\n`, `\r`, `\t` short; other control
/// characters as `\u00xx`; `<`, `>`, `&` as `\u003c`, `\u003e`, `\u0026`;
/// U+2028 and U+2029 as `\u2028`, `\u2029`; everything else (DEL and
/// non-ASCII included) raw.
pub(crate) fn push_json_string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            b'<' => Some(b"\\u003c"),
            b'>' => Some(b"\\u003e"),
            b'&' => Some(b"\\u0026"),
            _ => None,
        };
        // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
        let separator = b == 0xe2
            && bytes.get(i + 1) == Some(&0x80)
            && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9));
        if escape.is_none() && b >= 0x20 && !separator {
            i += 1;
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => {
                out.extend_from_slice(e);
                i += 1;
            }
            None if separator => {
                out.extend_from_slice(if bytes[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
            }
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                i += 1;
            }
        }
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(s: &str) -> String {
        let mut out = Vec::new();
        push_json_string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_go_escapes_them() {
        // Each checked against Go 1.27's encoder with SetEscapeHTML(true).
        assert_eq!(
            enc("\x08\x0c\x01\x7f<>&\u{2028} \"\\/\t"),
            r#""\b\f\u0001<DEL>\u003c\u003e\u0026\u2028 \"\\/\t""#.replace("<DEL>", "\x7f")
        );
        assert_eq!(enc("\u{2029}x\u{1f}"), r#""\u2029x\u001f""#);
        assert_eq!(enc("é 👍 ‘quotes’"), "\"é 👍 ‘quotes’\"");
        assert_eq!(enc(""), "\"\"");
        assert_eq!(enc("\n\r\0"), r#""\n\r\u0000""#);
    }

    #[test]
    fn invalid_bytes_are_one_replacement_each_as_go_writes_them() {
        // Each read off the reference server's POST answer.
        let cases: [(&[u8], &str); 7] = [
            (b"ab\xe9\xe9cd", "ab\u{fffd}\u{fffd}cd"),
            (b"x\xe2\x82", "x\u{fffd}\u{fffd}"),
            (b"x\xe2\x82y", "x\u{fffd}\u{fffd}y"),
            (b"y\xed\xa0\x80", "y\u{fffd}\u{fffd}\u{fffd}"),
            (b"z\xf4\x90", "z\u{fffd}\u{fffd}"),
            (b"w\xc0\x80", "w\u{fffd}\u{fffd}"),
            ("é👍".as_bytes(), "é👍"),
        ];
        for (bytes, shown) in cases {
            assert_eq!(go_lossy(bytes), shown, "{bytes:?}");
        }
        assert!(matches!(go_lossy(b"plain"), Cow::Borrowed("plain")));
        // Where Rust's own lossy decoding parts ways with Go's.
        assert_eq!(String::from_utf8_lossy(b"\xe2\x82"), "\u{fffd}");
    }
}
