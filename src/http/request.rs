//! A request as the handlers see it: method, decoded path, raw query,
//! headers, and a body read up to the size limit.

use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use hyper::body::Incoming;
use warp::http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use warp::http::{HeaderMap, Method, Version};

use crate::records::{clip, RECORDED_BODY_BYTES};

/// The body of a request, read up to the limit.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// The whole body.
    Read(Bytes),
    /// Longer than the limit: not kept.
    TooLarge,
    /// Not read (yet): the client waits for `100 Continue`, which goes out
    /// only when the body is read, as in Go.
    Unread,
}

impl Body {
    /// The body as a record shows it.
    pub(crate) fn recorded(&self) -> String {
        match self {
            Body::Read(b) => {
                String::from_utf8_lossy(&b[..b.len().min(RECORDED_BODY_BYTES)]).into_owned()
            }
            Body::TooLarge => "<body too large>".to_string(),
            Body::Unread => String::new(),
        }
    }
}

/// A body left unread until the handler needs it.
pub(crate) struct Pending {
    body: Incoming,
    limit: usize,
}

impl Pending {
    pub(crate) fn new(body: Incoming, limit: usize) -> Self {
        Pending { body, limit }
    }

    /// Reads it (hyper sends `100 Continue` if the client waits for one).
    pub(crate) async fn read(self, headers: &HeaderMap) -> Body {
        read_body(headers, self.body, self.limit).await
    }
}

/// A request, as the handlers see it.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) version: Version,
    /// The path, percent-decoded as Go's `URL.Path` is (what chi routes on).
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    /// The authority of an absolute-form target (`GET http://host/path`),
    /// which Go takes as the request's host in place of `Host`.
    pub(crate) authority: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

/// The `Idempotency-Key`, as the handler reads it: the first one's raw
/// bytes, UTF-8 or not, as Go's `Header.Get` returns them. The one place
/// the key is read.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get("idempotency-key").map(|v| v.as_bytes())
}

impl Request {
    /// Its `Idempotency-Key` (see [`idempotency_key`]).
    pub(crate) fn key(&self) -> Option<&[u8]> {
        idempotency_key(&self.headers)
    }

    /// Whether Go closes the connection after answering: the client asked
    /// for it (`Connection: close`), or speaks HTTP/1.0 without asking to
    /// keep it alive.
    pub(crate) fn closes_after(&self) -> bool {
        let has = |token: &str| {
            self.headers.get_all(CONNECTION).iter().any(|v| {
                v.to_str()
                    .unwrap_or("")
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case(token))
            })
        };
        if self.version == Version::HTTP_10 {
            !has("keep-alive")
        } else {
            has("close")
        }
    }

    /// Whether the client waits for `100 Continue` before it sends its body
    /// (Go's rule: HTTP/1.1, `Expect: 100-continue`, a body announced).
    pub(crate) fn awaits_continue(&self) -> bool {
        let expects = self
            .headers
            .get(EXPECT)
            .is_some_and(|v| has_token(v.as_bytes(), b"100-continue"));
        let announced = match self.headers.get(CONTENT_LENGTH) {
            Some(length) => length.as_bytes() != b"0",
            None => self.headers.contains_key(TRANSFER_ENCODING),
        };
        expects && announced && self.version == Version::HTTP_11
    }

    /// `key=value` pairs of the query, undecoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(k, _)| percent_decode(k).as_deref() == Some(name))
            .map(|(_, v)| percent_decode(&v.replace('+', " ")).unwrap_or_default())
    }

    /// Path and query, clipped, for the journal and logs.
    pub(crate) fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => clip(&format!("{}?{q}", self.path)),
            None => clip(&self.path),
        }
    }
}

/// Go's `hasToken`: `token` (ASCII) occurs in `value`, ignoring case,
/// between token boundaries (start, end, space, comma or tab).
pub(crate) fn has_token(value: &[u8], token: &[u8]) -> bool {
    let boundary = |b: u8| matches!(b, b' ' | b',' | b'\t');
    if token.is_empty() || token.len() > value.len() {
        return false;
    }
    (0..=value.len() - token.len()).any(|start| {
        let end = start + token.len();
        (start == 0 || boundary(value[start - 1]))
            && (end == value.len() || boundary(value[end]))
            && value[start..end].eq_ignore_ascii_case(token)
    })
}

/// The path chi routes on, as Go's `URL.setPath` and chi decide it: the
/// decoded path, unless re-escaping it does not give back the raw path (an
/// escaped `/`, lowercase hex, …), in which case chi uses the raw path.
/// `None` for an invalid escape (Go answers those 400 before routing).
pub(crate) fn routing_path(raw: &str) -> Option<String> {
    if raw.bytes().all(go_keeps) {
        // Nothing escaped, nothing Go would escape: the path as it came.
        return Some(raw.to_string());
    }
    let decoded = percent_decode(raw)?;
    if go_escape_path(&decoded) == raw {
        Some(decoded)
    } else {
        Some(raw.to_string())
    }
}

/// Percent-decodes a path as Go does: `None` for a `%` not followed by two
/// hex digits; the result is lossy UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
            let (h, l) = (hex(bytes.get(i + 1))?, hex(bytes.get(i + 2))?);
            out.push((h * 16 + l) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

/// Whether Go's path escaping leaves byte `b` as it is.
fn go_keeps(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.~$&+,/:;=@".contains(&b)
}

/// Go's `escape(s, encodePath)`: unreserved characters and `$&+,/:;=@`
/// stay, every other byte becomes `%XX` (upper-case hex).
fn go_escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if go_keeps(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reads a body up to `limit` bytes. A body cut off midway (the client went
/// away) reads as what arrived: the handler then answers a connection that
/// is gone.
pub(crate) async fn read_body<B>(headers: &HeaderMap, mut body: B, limit: usize) -> Body
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Body::TooLarge;
    }
    let mut out = BytesMut::new();
    while let Some(frame) = futures::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
    {
        let Ok(frame) = frame else {
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        if out.len() + data.len() > limit {
            return Body::TooLarge;
        }
        out.extend_from_slice(&data);
    }
    Body::Read(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_as_gos_has_token_finds_them() {
        let yes: [&[u8]; 5] = [
            b"100-continue",
            b" 100-Continue ,foo",
            b"foo 100-continue",
            b"foo\t100-CONTINUE,bar",
            b"x,100-continue",
        ];
        for value in yes {
            assert!(has_token(value, b"100-continue"), "{value:?}");
        }
        let no: [&[u8]; 5] = [
            b"foo",
            b"100-continues",
            b"x100-continue",
            b"100-continue;q",
            b"",
        ];
        for value in no {
            assert!(!has_token(value, b"100-continue"), "{value:?}");
        }
    }

    #[test]
    fn the_routing_path_is_chis() {
        // Checked against the reference server.
        assert_eq!(routing_path("/chats/%7Babc%7D").unwrap(), "/chats/{abc}");
        assert_eq!(routing_path("/chats/a%20b").unwrap(), "/chats/a b");
        assert_eq!(routing_path("/chats/a%2Fb").unwrap(), "/chats/a%2Fb");
        assert_eq!(
            routing_path("/chats/%7babc%7d").unwrap(),
            "/chats/%7babc%7d"
        );
        assert_eq!(routing_path("/chats/%C3%A9").unwrap(), "/chats/é");
        assert_eq!(routing_path("/chats/%zz"), None);
        assert_eq!(routing_path("/100%"), None);
    }
}
