//! Idempotency keys as the reference compares them: the raw bytes of the
//! `Idempotency-Key` header (Go's `Header.Get` hands the handler those
//! bytes as a Go string, and its key map is keyed by them). Two keys are
//! the same key only if their bytes are equal; what is *shown* of a key
//! that is not UTF-8 is lossy (one U+FFFD per invalid byte, as Go's JSON
//! encoder writes it).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::wire;

/// An idempotency key: the bytes a client sent in `Idempotency-Key`.
///
/// Most keys are text, and convert from `&str` and `String`; a key that
/// is not valid UTF-8 is a key of its own all the same (the real server
/// stores a message for each distinct byte string).
///
/// In a [`FaultScript`](crate::chaos::FaultScript) a UTF-8 key is written as a
/// plain JSON string; any other key as `{"hex": "…"}`, its bytes in
/// hexadecimal. Both forms read back to the same bytes:
///
/// ```
/// use mock_chat_server::chaos::IdempotencyKey;
///
/// let text = IdempotencyKey::from("msg-7");
/// assert_eq!(serde_json::to_string(&text).unwrap(), r#""msg-7""#);
///
/// let bytes = IdempotencyKey::from(&b"ab\xe9\xe9cd"[..]);
/// let json = serde_json::to_string(&bytes).unwrap();
/// assert_eq!(json, r#"{"hex":"6162e9e96364"}"#);
/// assert_eq!(serde_json::from_str::<IdempotencyKey>(&json).unwrap(), bytes);
/// // As the real server shows it: one U+FFFD per invalid byte.
/// assert_eq!(bytes.to_lossy(), "ab\u{fffd}\u{fffd}cd");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct IdempotencyKey(Box<[u8]>);

impl IdempotencyKey {
    /// The key's bytes, as the client sent them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key as text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// The key as the real server shows it (in `idempotency_key` of its
    /// JSON): the text itself, with one U+FFFD for each byte that is not
    /// part of valid UTF-8.
    pub fn to_lossy(&self) -> Cow<'_, str> {
        wire::go_lossy(&self.0)
    }
}

impl From<&[u8]> for IdempotencyKey {
    fn from(bytes: &[u8]) -> Self {
        IdempotencyKey(bytes.into())
    }
}

impl From<Vec<u8>> for IdempotencyKey {
    fn from(bytes: Vec<u8>) -> Self {
        IdempotencyKey(bytes.into_boxed_slice())
    }
}

impl From<&str> for IdempotencyKey {
    fn from(text: &str) -> Self {
        text.as_bytes().into()
    }
}

impl From<String> for IdempotencyKey {
    fn from(text: String) -> Self {
        text.into_bytes().into()
    }
}

impl PartialEq<str> for IdempotencyKey {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other.as_bytes()
    }
}

impl PartialEq<&str> for IdempotencyKey {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Debug for IdempotencyKey {
    /// A quoted string: a UTF-8 key as `str`'s `Debug` writes it, any other
    /// with its invalid bytes as `\xNN`, so that two keys that show the
    /// same are told apart.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quoted(&self.0))
    }
}

/// `key` quoted for a message: `"k-1"` for a UTF-8 key (as `{:?}` writes
/// a `str`), `"ab\xe9cd"` for another (each invalid byte as `\xNN`).
pub(crate) fn quoted(key: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(key) {
        return format!("{text:?}");
    }
    let mut out = String::with_capacity(key.len() * 2 + 2);
    out.push('"');
    for chunk in key.utf8_chunks() {
        out.extend(chunk.valid().chars().flat_map(char::escape_debug));
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// The script form: a string, or `{"hex": "…"}`.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Form<'a> {
    Text(Cow<'a, str>),
    Bytes { hex: Cow<'a, str> },
}

impl Serialize for IdempotencyKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_str() {
            Some(text) => Form::Text(Cow::Borrowed(text)),
            None => Form::Bytes {
                hex: Cow::Owned(self.0.iter().map(|b| format!("{b:02x}")).collect()),
            },
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for IdempotencyKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Form::deserialize(d)? {
            Form::Text(text) => Ok(IdempotencyKey::from(text.as_ref())),
            Form::Bytes { hex } => from_hex(&hex).map(IdempotencyKey::from).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "key {hex:?}: \"hex\" must be pairs of hexadecimal digits"
                ))
            }),
        }
    }
}

fn from_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |d: u8| char::from(d).to_digit(16);
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    digits
        .chunks_exact(2)
        .map(|pair| match pair {
            [high, low] => u8::try_from(digit(*high)? << 4 | digit(*low)?).ok(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_quoted_so_that_bytes_that_show_alike_differ() {
        assert_eq!(quoted(b"k-1"), r#""k-1""#);
        assert_eq!(quoted("é\"".as_bytes()), r#""é\"""#);
        assert_eq!(quoted(b"ab\xe9cd"), r#""ab\xe9cd""#);
        assert_eq!(quoted(b"ab\xeacd"), r#""ab\xeacd""#);
        let (a, b) = (
            IdempotencyKey::from(&b"\xe9"[..]),
            IdempotencyKey::from(&b"\xea"[..]),
        );
        assert_eq!(a.to_lossy(), b.to_lossy());
        assert_ne!(a, b);
        assert_ne!(format!("{a:?}"), format!("{b:?}"));
    }

    #[test]
    fn the_script_form_reads_back_as_the_same_bytes() {
        for key in [
            &b"msg-7"[..],
            b"",
            b"ab\xe9\xe9cd",
            b"x\xe2\x82",
            "é".as_bytes(),
        ] {
            let key = IdempotencyKey::from(key);
            let json = serde_json::to_string(&key).unwrap();
            assert_eq!(serde_json::from_str::<IdempotencyKey>(&json).unwrap(), key);
        }
        let upper: IdempotencyKey = serde_json::from_str(r#"{"hex":"E9"}"#).unwrap();
        assert_eq!(upper.as_bytes(), b"\xe9");
        for bad in [r#"{"hex":"e"}"#, r#"{"hex":"zz"}"#, r#"{"hex":"+1"}"#, "3"] {
            assert!(
                serde_json::from_str::<IdempotencyKey>(bad).is_err(),
                "{bad}"
            );
        }
    }
}
