//! A request as the handlers see it: method, decoded path, raw query,
//! headers, and a body read up to the size limit.

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use warp::http::header::CONTENT_LENGTH;
use warp::http::{HeaderMap, Method};

use crate::records::clip;

/// The body of a request, read up to the limit.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// The whole body.
    Read(Bytes),
    /// Longer than the limit: not kept.
    TooLarge,
}

/// A request, as the handlers see it.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) method: Method,
    /// The path, percent-decoded as Go's `URL.Path` is (what chi routes on).
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Body,
}

impl Request {
    /// A header as text, if present and visible ASCII or UTF-8.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
    }

    /// A header as lossy text, clipped (for records and the journal).
    pub(crate) fn header_lossy(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| clip(&String::from_utf8_lossy(v.as_bytes())))
    }

    /// `key=value` pairs of the query, undecoded.
    pub(crate) fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(k, _)| percent_decode(k) == name)
            .map(|(_, v)| percent_decode(&v.replace('+', " ")))
    }

    /// Path and query, clipped, for the journal and logs.
    pub(crate) fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => clip(&format!("{}?{q}", self.path)),
            None => clip(&self.path),
        }
    }
}

/// Percent-decodes `s` as Go's URL parser does for paths (an invalid
/// escape is kept as is; the result is lossy UTF-8).
pub(crate) fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Reads a body up to `limit` bytes. A body cut off midway (the client went
/// away) reads as what arrived: the handler then answers a connection that
/// is gone.
pub(crate) async fn read_body<S, B>(headers: &HeaderMap, body: S, limit: usize) -> Body
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Body::TooLarge;
    }
    let mut out = BytesMut::new();
    futures::pin_mut!(body);
    while let Some(chunk) = body.next().await {
        let Ok(mut chunk) = chunk else {
            break;
        };
        if out.len() + chunk.remaining() > limit {
            return Body::TooLarge;
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Body::Read(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_is_lenient_like_gos_paths() {
        assert_eq!(percent_decode("/chats/%7Babc%7D"), "/chats/{abc}");
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
