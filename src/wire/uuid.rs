//! `github.com/google/uuid` v1.6.0 `Parse`, with its error texts.

use super::quote::go_quote;

/// The value of one hex digit.
fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Parses `s` as google/uuid's `Parse` (and `ParseBytes`) do: 36 bytes
/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, 45 with a case-insensitive
/// `urn:uuid:` prefix, 38 with any first and last byte (braces, usually),
/// or 32 hex digits; upper or lower case. Errors: `invalid UUID length: N`
/// (N in bytes), `invalid urn prefix: "…"`, `invalid UUID format`.
pub(crate) fn parse_uuid(s: &str) -> Result<uuid::Uuid, String> {
    parse_uuid_bytes(s.as_bytes())
}

/// [`parse_uuid`] on bytes (a JSON string's content may not be UTF-8).
pub(crate) fn parse_uuid_bytes(b: &[u8]) -> Result<uuid::Uuid, String> {
    let format = || "invalid UUID format".to_string();
    let mut out = [0u8; 16];
    let b = match b.len() {
        36 => b,
        45 => {
            if !b[..9].eq_ignore_ascii_case(b"urn:uuid:") {
                return Err(format!("invalid urn prefix: {}", go_quote(&b[..9])));
            }
            &b[9..]
        }
        38 => &b[1..],
        32 => {
            for (i, pair) in b.chunks(2).enumerate() {
                out[i] = hex(pair[0])
                    .zip(hex(pair[1]))
                    .map(|(h, l)| h << 4 | l)
                    .ok_or_else(format)?;
            }
            return Ok(uuid::Uuid::from_bytes(out));
        }
        n => return Err(format!("invalid UUID length: {n}")),
    };
    if b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return Err(format());
    }
    const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
    for (i, x) in AT.into_iter().enumerate() {
        out[i] = hex(b[x])
            .zip(hex(b[x + 1]))
            .map(|(h, l)| h << 4 | l)
            .ok_or_else(format)?;
    }
    Ok(uuid::Uuid::from_bytes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_and_error_of_google_uuid() {
        // Checked against google/uuid v1.6.0 through the reference server.
        let id = "0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e";
        let want = uuid::Uuid::parse_str(id).unwrap();
        for form in [
            id.to_string(),
            id.to_uppercase(),
            format!("{{{id}}}"),
            format!("({id})"),
            format!("urn:uuid:{id}"),
            format!("URN:UUID:{id}"),
            id.replace('-', ""),
        ] {
            assert_eq!(parse_uuid(&form), Ok(want), "{form}");
        }
        assert_eq!(parse_uuid("xyz"), Err("invalid UUID length: 3".into()));
        assert_eq!(parse_uuid(""), Err("invalid UUID length: 0".into()));
        assert_eq!(parse_uuid("é"), Err("invalid UUID length: 2".into()));
        assert_eq!(
            parse_uuid(&format!("urn:uuix:{id}")),
            Err("invalid urn prefix: \"urn:uuix:\"".into())
        );
        assert_eq!(
            parse_uuid(&id.replace('-', "_")),
            Err("invalid UUID format".into())
        );
        assert_eq!(
            parse_uuid(&"g".repeat(32)),
            Err("invalid UUID format".into())
        );
        assert_eq!(
            parse_uuid_bytes(&[0xff; 36]),
            Err("invalid UUID format".into())
        );
    }
}
