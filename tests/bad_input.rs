//! The bad-input corpus: malformed, oversized, truncated and hostile
//! requests, sent over raw TCP (and a few over a real HTTP client). For every
//! case: the exact answer (our JSON error, or hyper's own bare status for
//! transport-level garbage, or a closed connection), nothing stored, the key
//! not burnt, and the server still answering the next request.
//!
//! Then the security defaults: loopback bind, admin API off, and every
//! buffer bounded.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::PATIENCE;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use mock_chat_server::{Author, MockChatServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------- raw HTTP

/// One parsed HTTP/1.x answer.
#[derive(Debug)]
struct Answer {
    version: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `error.code` of a JSON error answer.
    fn code(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v["error"]["code"].as_str().map(str::to_string)
    }
}

/// Parses every complete answer in `raw` (several when pipelined). Bodies
/// are delimited by `Content-Length`, which is all this server sends on
/// non-streaming answers.
fn parse_answers(mut raw: &[u8]) -> Vec<Answer> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&raw[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let Some(status) = parts.next().and_then(|s| s.parse().ok()) else {
            break;
        };
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body_start = end + 4;
        let body_end = (body_start + len).min(raw.len());
        out.push(Answer {
            version,
            status,
            headers,
            body: raw[body_start..body_end].to_vec(),
        });
        raw = &raw[body_end..];
    }
    out
}

/// How the request bytes are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivery {
    /// Write everything, read until the server closes.
    Whole,
    /// Write, then close our sending side (the request is cut there), and
    /// read whatever the server still says until it closes.
    CutThenRead,
    /// Write, then drop the connection at once without reading.
    CutAndVanish,
}

async fn exchange(addr: SocketAddr, bytes: &[u8], delivery: Delivery) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before reading everything.
    let _ = s.write_all(bytes).await;
    match delivery {
        Delivery::Whole => {}
        Delivery::CutThenRead => {
            let _ = s.shutdown().await;
        }
        Delivery::CutAndVanish => return Vec::new(),
    }
    let mut out = Vec::new();
    // Read errors (a reset after the answer) keep what was read.
    let read = tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await;
    assert!(read.is_ok(), "the server neither answered nor closed");
    out
}

/// Appends `connection: close` so the server closes after answering.
fn get(target: &str, headers: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nhost: test\r\n{headers}connection: close\r\n\r\n")
        .into_bytes()
}

fn req(method: &str, target: &str, headers: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nhost: test\r\n{headers}connection: close\r\n\r\n")
        .into_bytes()
}

/// A POST to `/chats/{chat}/messages` with a `Content-Length` body.
fn post_to(chat: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "POST /chats/{chat}/messages HTTP/1.1\r\nhost: test\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// A POST to chat 1 with a JSON content type and idempotency key `key`.
fn post(key: &str, body: &[u8]) -> Vec<u8> {
    post_to(
        "1",
        &format!("content-type: application/json\r\nidempotency-key: {key}\r\n"),
        body,
    )
}

fn chunked(head: &str, chunks: &[&[u8]], finish: bool) -> Vec<u8> {
    let mut out = head.as_bytes().to_vec();
    for c in chunks {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    if finish {
        out.extend_from_slice(b"0\r\n\r\n");
    }
    out
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

// ---------------------------------------------------------------- the table

/// What the server must do.
#[derive(Debug, Clone)]
enum Expect {
    /// Our JSON error: this status and `error.code`.
    Error(u16, &'static str),
    /// A plain success (the input is odd but valid: nothing to store).
    Ok200,
    /// hyper refuses the bytes itself: this bare status, no body, then it
    /// closes the connection.
    Bare(u16),
    /// The connection is closed without a word.
    Closed,
    /// Pipelined: these answers, in order.
    Seq(Vec<(u16, Option<&'static str>)>),
    /// `Error(..)` in `HTTP/1.0` (the answer's version follows the request's).
    Http10Error(u16, &'static str),
    /// A request that vanished mid-body: no answer can be read; the server
    /// must have refused it (synchronised on the journal).
    VanishedPost,
    /// HTTP/2 prior knowledge: the server speaks HTTP/2 (its SETTINGS frame).
    Http2,
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    delivery: Delivery,
    expect: Expect,
    /// The idempotency key the request carried, if valid: after the case, a
    /// proper POST with it must be accepted as new (the key was not burnt).
    key: Option<&'static str>,
}

fn case(name: &'static str, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        name,
        bytes,
        delivery: Delivery::Whole,
        expect,
        key: None,
    }
}

fn keyed(name: &'static str, key: &'static str, bytes: Vec<u8>, expect: Expect) -> Case {
    Case {
        key: Some(key),
        ..case(name, bytes, expect)
    }
}

fn corpus() -> Vec<Case> {
    use Expect::*;
    let big = vec![b'a'; 70 * 1024];
    let big_json = format!(r#"{{"text": "{}"}}"#, "x".repeat(70 * 1024));
    let long_text = format!(r#"{{"text": "{}"}}"#, "y".repeat(10_001));
    let json_ct = "content-type: application/json\r\n";
    let huge_key = "k".repeat(100 * 1024);
    let key_256 = "k".repeat(256);
    vec![
        // --- the body: malformed JSON and wrong types
        keyed("malformed JSON", "b01", post("b01", br#"{"text": "#), Error(400, "invalid_body")),
        keyed("JSON array", "b02", post("b02", b"[1, 2]"), Error(400, "invalid_body")),
        keyed("JSON string", "b03", post("b03", br#""hello""#), Error(400, "invalid_body")),
        keyed("JSON null", "b04", post("b04", b"null"), Error(400, "invalid_body")),
        keyed("empty object", "b05", post("b05", b"{}"), Error(400, "invalid_body")),
        keyed("text is a number", "b06", post("b06", br#"{"text": 5}"#), Error(400, "invalid_body")),
        keyed("text is null", "b07", post("b07", br#"{"text": null}"#), Error(400, "invalid_body")),
        keyed("text is an array", "b08", post("b08", br#"{"text": ["hi"]}"#), Error(400, "invalid_body")),
        keyed("text is an object", "b09", post("b09", br#"{"text": {"a": 1}}"#), Error(400, "invalid_body")),
        keyed("wrong field name", "b10", post("b10", br#"{"message": "hi"}"#), Error(400, "invalid_body")),
        keyed("empty body", "b11", post("b11", b""), Error(400, "invalid_body")),
        keyed("empty text", "b12", post("b12", br#"{"text": ""}"#), Error(400, "empty_text")),
        keyed("whitespace text", "b13", post("b13", b"{\"text\": \" \\n\\t \"}"), Error(400, "empty_text")),
        keyed("invalid UTF-8 in the body", "b14", post("b14", b"{\"text\": \"\xff\xfe\"}"), Error(400, "invalid_body")),
        keyed("lone surrogate escape", "b15", post("b15", br#"{"text": "\ud800"}"#), Error(400, "invalid_body")),
        keyed("trailing garbage", "b16", post("b16", br#"{"text": "hi"} x"#), Error(400, "invalid_body")),
        keyed("nesting 300 deep", "b17", post("b17", "[".repeat(300).as_bytes()), Error(400, "invalid_body")),
        keyed("UTF-8 BOM before JSON", "b18", post("b18", b"\xef\xbb\xbf{\"text\": \"hi\"}"), Error(400, "invalid_body")),
        keyed("text of 10,001 characters", "b19", post("b19", long_text.as_bytes()), Error(413, "text_too_long")),
        // --- huge bodies
        keyed("70 KiB body with Content-Length", "b20", post("b20", big_json.as_bytes()), Error(413, "body_too_large")),
        keyed(
            "70 KiB body, chunked",
            "b21",
            chunked(
                &format!("POST /chats/1/messages HTTP/1.1\r\nhost: test\r\n{json_ct}idempotency-key: b21\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"),
                &[&big[..32 * 1024], &big[32 * 1024..]],
                true,
            ),
            Error(413, "body_too_large"),
        ),
        // Without Content-Length or chunking an HTTP/1.1 request has no
        // body: the POST is empty, the 70 KiB are never read as a body.
        keyed(
            "70 KiB body without Content-Length",
            "b22",
            cat(&[
                format!("POST /chats/1/messages HTTP/1.1\r\nhost: test\r\n{json_ct}idempotency-key: b22\r\nconnection: close\r\n\r\n").as_bytes(),
                big_json.as_bytes(),
            ]),
            Error(400, "invalid_body"),
        ),
        keyed(
            "Content-Length of 100 GB, small body",
            "b23",
            cat(&[
                format!("POST /chats/1/messages HTTP/1.1\r\nhost: test\r\n{json_ct}idempotency-key: b23\r\ncontent-length: 99999999999\r\nconnection: close\r\n\r\n").as_bytes(),
                br#"{"text": "hi"}"#,
            ]),
            Error(413, "body_too_large"),
        ),
        case(
            "Content-Length not a number",
            b"POST /chats/1/messages HTTP/1.1\r\nhost: test\r\nidempotency-key: b24\r\ncontent-length: abc\r\nconnection: close\r\n\r\n".to_vec(),
            Bare(400),
        ),
        keyed(
            "invalid chunk size",
            "b25",
            b"POST /chats/1/messages HTTP/1.1\r\nhost: test\r\nidempotency-key: b25\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\nzz\r\n{\"text\": \"hi\"}\r\n0\r\n\r\n".to_vec(),
            Error(400, "invalid_body"),
        ),
        keyed(
            "Content-Type text/plain",
            "b26",
            post_to("1", "content-type: text/plain\r\nidempotency-key: b26\r\n", br#"{"text": "hi"}"#),
            Error(415, "unsupported_media_type"),
        ),
        keyed(
            "form-encoded body",
            "b27",
            post_to("1", "content-type: application/x-www-form-urlencoded\r\nidempotency-key: b27\r\n", b"text=hi"),
            Error(415, "unsupported_media_type"),
        ),
        // --- idempotency keys
        case("no Idempotency-Key", post_to("1", json_ct, br#"{"text": "hi"}"#), Error(400, "missing_idempotency_key")),
        case("empty Idempotency-Key", post("", br#"{"text": "hi"}"#), Error(400, "missing_idempotency_key")),
        case("blank Idempotency-Key", post("   ", br#"{"text": "hi"}"#), Error(400, "missing_idempotency_key")),
        case("256-character key", post(&key_256, br#"{"text": "hi"}"#), Error(400, "invalid_idempotency_key")),
        case("100 KiB key", post(&huge_key, br#"{"text": "hi"}"#), Error(400, "invalid_idempotency_key")),
        case(
            "non-ASCII key bytes",
            cat(&[
                b"POST /chats/1/messages HTTP/1.1\r\nhost: t\r\nidempotency-key: \xff\xfe-key\r\ncontent-length: 14\r\nconnection: close\r\n\r\n",
                br#"{"text": "hi"}"#,
            ]),
            Error(400, "invalid_idempotency_key"),
        ),
        // --- odd chat ids
        keyed("chat id 0", "c01", post_to("0", "idempotency-key: c01\r\n", br#"{"text": "hi"}"#), Error(400, "invalid_chat_id")),
        keyed("chat id -1", "c02", post_to("-1", "idempotency-key: c02\r\n", br#"{"text": "hi"}"#), Error(400, "invalid_chat_id")),
        keyed("chat id 1e3", "c03", post_to("1e3", "idempotency-key: c03\r\n", br#"{"text": "hi"}"#), Error(400, "invalid_chat_id")),
        keyed(
            "chat id of 20 digits (over u64)",
            "c04",
            post_to("99999999999999999999", "idempotency-key: c04\r\n", br#"{"text": "hi"}"#),
            Error(400, "invalid_chat_id"),
        ),
        keyed(
            "chat id u64::MAX (20 digits, no such chat)",
            "c05",
            post_to("18446744073709551615", "idempotency-key: c05\r\n", br#"{"text": "hi"}"#),
            Error(404, "chat_not_found"),
        ),
        keyed("chat id %2e%2e", "c06", post_to("%2e%2e", "idempotency-key: c06\r\n", br#"{"text": "hi"}"#), Error(400, "invalid_chat_id")),
        keyed("chat id ..", "c07", post_to("..", "idempotency-key: c07\r\n", br#"{"text": "hi"}"#), Error(400, "invalid_chat_id")),
        keyed("empty chat id segment", "c08", post_to("", "idempotency-key: c08\r\n", br#"{"text": "hi"}"#), Error(400, "invalid_chat_id")),
        keyed("chat id +1", "c09", post_to("+1", "idempotency-key: c09\r\n", br#"{"text": "hi"}"#), Error(400, "invalid_chat_id")),
        keyed("unknown chat 5", "c10", post_to("5", "idempotency-key: c10\r\n", br#"{"text": "hi"}"#), Error(404, "chat_not_found")),
        case("GET chat id abc", get("/chats/abc/messages", ""), Error(400, "invalid_chat_id")),
        case("GET chat id 1.0", get("/chats/1.0/messages", ""), Error(400, "invalid_chat_id")),
        case("GET trailing slash", get("/chats/1/messages/", ""), Error(404, "not_found")),
        // --- query values
        case("limit=0", get("/chats/1/messages?limit=0", ""), Error(400, "invalid_query")),
        case("limit=101", get("/chats/1/messages?limit=101", ""), Error(400, "invalid_query")),
        case("limit=abc", get("/chats/1/messages?limit=abc", ""), Error(400, "invalid_query")),
        case("limit=-5", get("/chats/1/messages?limit=-5", ""), Error(400, "invalid_query")),
        case("limit empty", get("/chats/1/messages?limit=", ""), Error(400, "invalid_query")),
        case("limit of 23 digits", get("/chats/1/messages?limit=99999999999999999999999", ""), Error(400, "invalid_query")),
        case("before=0", get("/chats/1/messages?before=0", ""), Error(400, "invalid_query")),
        case("before=xyz", get("/chats/1/messages?before=xyz", ""), Error(400, "invalid_query")),
        // --- the event stream
        case("/events without stream", get("/events", ""), Error(400, "missing_stream")),
        case("/events?stream=other", get("/events?stream=other", ""), Error(404, "stream_not_found")),
        case("Last-Event-ID abc", get("/events?stream=messages", "last-event-id: abc\r\n"), Error(400, "invalid_last_event_id")),
        case("Last-Event-ID -1", get("/events?stream=messages", "last-event-id: -1\r\n"), Error(400, "invalid_last_event_id")),
        case(
            "Last-Event-ID of 23 digits",
            get("/events?stream=messages", "last-event-id: 99999999999999999999999\r\n"),
            Error(400, "invalid_last_event_id"),
        ),
        case("last_event_id=1.5 query", get("/events?stream=messages&last_event_id=1.5", ""), Error(400, "invalid_last_event_id")),
        case(
            "Last-Event-ID non-ASCII",
            b"GET /events?stream=messages HTTP/1.1\r\nhost: t\r\nlast-event-id: \xff\r\nconnection: close\r\n\r\n".to_vec(),
            Error(400, "invalid_last_event_id"),
        ),
        // --- methods and paths
        case("BREW /chats", req("BREW", "/chats", ""), Error(405, "method_not_allowed")),
        case("DELETE a chat's messages", req("DELETE", "/chats/1/messages", ""), Error(405, "method_not_allowed")),
        case("PATCH a chat's messages", req("PATCH", "/chats/1/messages", ""), Error(405, "method_not_allowed")),
        case("PUT /events", req("PUT", "/events?stream=messages", "content-length: 0\r\n"), Error(405, "method_not_allowed")),
        case("BREW /teapot", req("BREW", "/teapot", ""), Error(404, "not_found")),
        case("admin API, off by default", req("POST", "/__admin/reset", "content-length: 0\r\n"), Error(404, "not_found")),
        case("OPTIONS *", req("OPTIONS", "*", ""), Error(404, "not_found")),
        case("CONNECT (no path in the target)", req("CONNECT", "example.com:443", ""), Error(404, "not_found")),
        case("GET with an authority target", req("GET", "example.com", ""), Error(404, "not_found")),
        // --- garbage and transport-level breakage (hyper answers itself)
        case("binary garbage", b"\x00\x01\x02\xff\xfe\x80garbage\r\n\r\n".to_vec(), Bare(400)),
        case("text that is not HTTP", b"hello there, server\r\n\r\n".to_vec(), Bare(400)),
        case("HTTP/0.9 style request line", b"GET /chats\r\n\r\n".to_vec(), Bare(400)),
        case("HTTP/2.0 in an HTTP/1 request line", b"GET /chats HTTP/2.0\r\n\r\n".to_vec(), Bare(400)),
        case("header line without a colon", b"GET /chats HTTP/1.1\r\nhost test\r\n\r\n".to_vec(), Bare(400)),
        case("space inside the path", b"GET /chats/1 2/messages HTTP/1.1\r\nhost: t\r\n\r\n".to_vec(), Bare(400)),
        case("NUL byte in the path", b"GET /chats\x00 HTTP/1.1\r\nhost: t\r\n\r\n".to_vec(), Bare(400)),
        case("100 KiB URI", get(&format!("/chats?{}", "q".repeat(100 * 1024)), ""), Bare(414)),
        case("500 KiB header", get("/chats", &format!("x-junk: {}\r\n", "j".repeat(500 * 1024))), Bare(431)),
        case(
            "200 header lines",
            get("/chats", &(0..200).map(|i| format!("x-h{i}: v\r\n")).collect::<String>()),
            Bare(431),
        ),
        // --- requests cut off midway
        Case {
            delivery: Delivery::CutThenRead,
            ..case("cut in the request line", b"POST /chats/1/mess".to_vec(), Closed)
        },
        Case {
            delivery: Delivery::CutThenRead,
            ..case("cut in the headers", b"POST /chats/1/messages HTTP/1.1\r\nhost: t\r\nidempotency-k".to_vec(), Closed)
        },
        // The bytes that did arrive are valid JSON: they must not be stored.
        Case {
            delivery: Delivery::CutThenRead,
            ..keyed(
                "cut in the body (Content-Length 100, 14 bytes sent)",
                "x01",
                cat(&[
                    b"POST /chats/1/messages HTTP/1.1\r\nhost: t\r\nidempotency-key: x01\r\ncontent-length: 100\r\n\r\n",
                    br#"{"text": "hi"}"#,
                ]),
                Error(400, "invalid_body"),
            )
        },
        Case {
            delivery: Delivery::CutThenRead,
            ..keyed(
                "cut in a chunked body (no last chunk)",
                "x02",
                chunked(
                    "POST /chats/1/messages HTTP/1.1\r\nhost: t\r\nidempotency-key: x02\r\ntransfer-encoding: chunked\r\n\r\n",
                    &[br#"{"text": "hi"}"#],
                    false,
                ),
                Error(400, "invalid_body"),
            )
        },
        Case {
            delivery: Delivery::CutAndVanish,
            ..keyed(
                "client vanishes mid-body",
                "x03",
                cat(&[
                    b"POST /chats/1/messages HTTP/1.1\r\nhost: t\r\nidempotency-key: x03\r\ncontent-length: 100\r\n\r\n",
                    br#"{"text": "hi"}"#,
                ]),
                VanishedPost,
            )
        },
        Case {
            delivery: Delivery::CutThenRead,
            ..case("connect and close, zero bytes", Vec::new(), Closed)
        },
        // --- protocol versions and pipelining
        case("HTTP/1.0 GET", b"GET /chats HTTP/1.0\r\n\r\n".to_vec(), Ok200),
        keyed(
            "HTTP/1.0 POST with a bad body",
            "v01",
            b"POST /chats/1/messages HTTP/1.0\r\nidempotency-key: v01\r\ncontent-length: 3\r\n\r\n{x}".to_vec(),
            Http10Error(400, "invalid_body"),
        ),
        keyed(
            "pipelined: bad POST then GET",
            "p01",
            cat(&[
                b"POST /chats/1/messages HTTP/1.1\r\nhost: t\r\nidempotency-key: p01\r\ncontent-length: 2\r\n\r\n{}",
                &get("/chats", ""),
            ]),
            Seq(vec![(400, Some("invalid_body")), (200, None)]),
        ),
        case(
            "pipelined: 404, missing key, 200",
            cat(&[
                b"GET /nope HTTP/1.1\r\nhost: t\r\n\r\n",
                b"POST /chats/1/messages HTTP/1.1\r\nhost: t\r\ncontent-length: 14\r\n\r\n{\"text\": \"hi\"}",
                &get("/chats", ""),
            ]),
            Seq(vec![(404, Some("not_found")), (400, Some("missing_idempotency_key")), (200, None)]),
        ),
        Case {
            delivery: Delivery::CutThenRead,
            ..case("HTTP/2 prior-knowledge preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), Http2)
        },
    ]
}

fn stored(server: &MockChatServer) -> usize {
    server
        .chats()
        .iter()
        .map(|c| server.messages(c.id).len())
        .sum()
}

fn check_answer(name: &str, raw: &[u8], expect: &Expect) {
    let answers = parse_answers(raw);
    let shown = String::from_utf8_lossy(&raw[..raw.len().min(400)]);
    match expect {
        Expect::Error(status, code) | Expect::Http10Error(status, code) => {
            assert_eq!(
                answers.len(),
                1,
                "{name}: one answer expected, got {shown:?}"
            );
            let a = &answers[0];
            let version = match expect {
                Expect::Http10Error(..) => "HTTP/1.0",
                _ => "HTTP/1.1",
            };
            assert_eq!(a.version, version, "{name}: {shown:?}");
            assert_eq!(a.status, *status, "{name}: {shown:?}");
            assert_eq!(a.header("content-type"), Some("application/json"), "{name}");
            assert_eq!(a.code().as_deref(), Some(*code), "{name}: {shown:?}");
            let v: Value = serde_json::from_slice(&a.body).unwrap();
            assert!(
                v["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "{name}: no message"
            );
        }
        Expect::Ok200 => {
            assert_eq!(answers.len(), 1, "{name}: {shown:?}");
            assert_eq!(answers[0].status, 200, "{name}: {shown:?}");
        }
        Expect::Bare(status) => {
            assert_eq!(answers.len(), 1, "{name}: {shown:?}");
            assert_eq!(answers[0].status, *status, "{name}: {shown:?}");
            assert!(answers[0].body.is_empty(), "{name}: {shown:?}");
            assert_eq!(answers[0].header("connection"), Some("close"), "{name}");
        }
        Expect::Closed => assert!(raw.is_empty(), "{name}: expected silence, got {shown:?}"),
        Expect::Seq(expected) => {
            let got: Vec<(u16, Option<String>)> =
                answers.iter().map(|a| (a.status, a.code())).collect();
            let want: Vec<(u16, Option<String>)> = expected
                .iter()
                .map(|(s, c)| (*s, c.map(str::to_string)))
                .collect();
            assert_eq!(got, want, "{name}: {shown:?}");
        }
        Expect::Http2 => {
            // An HTTP/2 frame header: 3 bytes length, type 4 = SETTINGS.
            assert!(raw.len() >= 9 && raw[3] == 4, "{name}: {shown:?}");
        }
        Expect::VanishedPost => assert!(raw.is_empty()),
    }
}

/// Waits (bounded) until the journal shows the request with `key` handled.
async fn handled_status(server: &MockChatServer, key: &str) -> Option<u16> {
    for _ in 0..2_000 {
        let status = server
            .journal()
            .iter()
            .find(|e| e.idempotency_key.as_deref() == Some(key))
            .and_then(|e| e.status);
        if status.is_some() {
            return status;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_corpus_over_raw_tcp() {
    let server = MockChatServer::builder().seed(11).start().await;
    let addr = server.address();
    let cases = corpus();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut expected_count = stored(&server);
    for c in &cases {
        let raw = exchange(addr, &c.bytes, c.delivery).await;
        check_answer(c.name, &raw, &c.expect);
        if matches!(c.expect, Expect::VanishedPost) {
            let key = c.key.unwrap();
            let status = handled_status(&server, key).await;
            assert_eq!(
                status,
                Some(400),
                "{}: the cut-off POST was not refused",
                c.name
            );
        }
        // Nothing stored, nothing committed.
        assert_eq!(
            stored(&server),
            expected_count,
            "{}: something was stored",
            c.name
        );
        assert!(
            server.journal().iter().all(|e| !e.committed),
            "{}: the journal shows a commit",
            c.name
        );
        // The server still answers.
        let next = parse_answers(&exchange(addr, &get("/chats", ""), Delivery::Whole).await);
        assert_eq!(
            next.first().map(|a| a.status),
            Some(200),
            "{}: no answer after",
            c.name
        );
        // The key was not burnt: a proper request with it is a fresh commit.
        if let Some(key) = c.key {
            let res = common::post(&server, 1, key, "a proper message")
                .await
                .unwrap();
            assert_eq!(
                res.status(),
                200,
                "{}: key {key} refused afterwards",
                c.name
            );
            assert!(
                res.headers().get("idempotent-replayed").is_none(),
                "{}",
                c.name
            );
            expected_count += 1;
            assert_eq!(stored(&server), expected_count);
            // Forget the commit for the journal check of the next case.
            server.reset();
            expected_count = stored(&server);
        }
    }
}

/// The same kinds of input through a real HTTP client.
#[tokio::test]
async fn bad_input_over_http() {
    let server = MockChatServer::builder().seed(12).start().await;
    let client = common::client();
    let before = stored(&server);
    let url = server.url("/chats/1/messages");
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    let huge = futures::stream::iter(
        (0..9).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a'; 8 * 1024]))),
    );
    let cases: Vec<(&str, reqwest::RequestBuilder, u16, &str)> = vec![
        (
            "BREW",
            client.request(brew, &url),
            405,
            "method_not_allowed",
        ),
        ("DELETE", client.delete(&url), 405, "method_not_allowed"),
        (
            "PATCH",
            client.patch(server.url("/chats")),
            405,
            "method_not_allowed",
        ),
        (
            "streamed 72 KiB body",
            client
                .post(&url)
                .header("idempotency-key", "h1")
                .body(reqwest::Body::wrap_stream(huge)),
            413,
            "body_too_large",
        ),
        (
            "text/plain",
            client
                .post(&url)
                .header("idempotency-key", "h2")
                .header("content-type", "text/plain")
                .body(r#"{"text": "hi"}"#),
            415,
            "unsupported_media_type",
        ),
        (
            "not JSON",
            client
                .post(&url)
                .header("idempotency-key", "h3")
                .header("content-type", "application/json")
                .body("{text: hi}"),
            400,
            "invalid_body",
        ),
        (
            "over-long key",
            client
                .post(&url)
                .header("idempotency-key", "k".repeat(300))
                .json(&serde_json::json!({"text": "hi"})),
            400,
            "invalid_idempotency_key",
        ),
        (
            "bad Last-Event-ID",
            client
                .get(server.url("/events?stream=messages"))
                .header("last-event-id", "x1"),
            400,
            "invalid_last_event_id",
        ),
        (
            "20-digit chat id",
            client.get(server.url("/chats/12345678901234567890123/messages")),
            400,
            "invalid_chat_id",
        ),
    ];
    for (name, builder, status, code) in cases {
        let res = builder
            .send()
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        common::assert_error(res, status, code).await;
        assert_eq!(stored(&server), before, "{name}: stored");
        let (s, _) = common::get_json(&server, "/chats").await;
        assert_eq!(s, 200, "{name}: no answer after");
    }
}

// ---------------------------------------------------- security defaults

#[tokio::test]
async fn binds_loopback_on_an_ephemeral_port_by_default() {
    let server = MockChatServer::start().await;
    let addr = server.address();
    assert!(addr.ip().is_loopback(), "{addr}");
    assert!(addr.is_ipv4());
    assert_ne!(addr.port(), 0);
    assert_eq!(server.uri(), format!("http://127.0.0.1:{}", addr.port()));
}

#[tokio::test]
async fn admin_api_is_off_by_default() {
    let server = MockChatServer::builder().seed(3).start().await;
    server.inject_message(1, Author::User, "kept").unwrap();
    let count = stored(&server);
    let client = common::client();
    for (method, path) in [
        ("POST", "/__admin/reset"),
        ("GET", "/__admin/journal"),
        ("GET", "/__admin/requests"),
        ("GET", "/__admin/seed"),
        ("POST", "/__admin/chats"),
        ("PUT", "/__admin/faults"),
    ] {
        let res = client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                server.url(path),
            )
            .header("content-type", "application/json")
            .body(r#"{"preset": "hostile", "name": "x"}"#)
            .send()
            .await
            .unwrap();
        common::assert_error(res, 404, "not_found").await;
    }
    // Nothing was reset, added or changed.
    assert_eq!(stored(&server), count);
    assert_eq!(server.chats().len(), 4);
    assert!(server.faults().post_message.is_calm());
}

#[tokio::test]
async fn replay_log_is_bounded() {
    let server = MockChatServer::builder()
        .seed(4)
        .replay_log_capacity(5)
        .start()
        .await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            server
                .inject_message(1, Author::User, format!("m{i}"))
                .unwrap()
                .id,
        );
    }
    // Resuming from before the log's start gives only what the log holds.
    let mut events = common::sse(&server, Some("1")).await;
    let got = common::next_events(&mut events, 5).await;
    let got_ids: Vec<u64> = got.iter().map(|e| common::message_of(e).id).collect();
    assert_eq!(got_ids, ids[15..].to_vec());
    assert_eq!(got[0].id, "16");
    // And nothing more than those five: the next event is a live one.
    let live = server.inject_message(1, Author::User, "live").unwrap();
    let next = common::next_events(&mut events, 1).await;
    assert_eq!(common::message_of(&next[0]).id, live.id);
}

#[tokio::test]
async fn journal_and_request_log_are_bounded() {
    let server = MockChatServer::builder()
        .seed(5)
        .journal_capacity(10)
        .request_log_capacity(7)
        .start()
        .await;
    for _ in 0..30 {
        let (s, _) = common::get_json(&server, "/chats").await;
        assert_eq!(s, 200);
    }
    let journal = server.journal();
    assert_eq!(journal.len(), 10);
    assert_eq!(
        journal.last().unwrap().seq,
        30,
        "the newest entries are kept"
    );
    let requests = server.received_requests();
    assert_eq!(requests.len(), 7);
    assert_eq!(requests.last().unwrap().seq, 30);

    // A request log of 0 keeps nothing.
    let quiet = MockChatServer::builder()
        .seed(5)
        .request_log_capacity(0)
        .start()
        .await;
    assert_eq!(common::get_json(&quiet, "/chats").await.0, 200);
    assert!(quiet.received_requests().is_empty());
}

/// hyper accepts ~400 KB of request line and headers; the journal and the
/// request log keep thousands of entries, so they must keep only a bounded
/// part of each.
#[tokio::test]
async fn recorded_requests_and_journal_entries_are_bounded_in_size() {
    let server = MockChatServer::builder().seed(6).start().await;
    let key = "k".repeat(300 * 1024);
    let query = "q".repeat(60 * 1024);
    let body = format!(r#"{{"text": "{}"}}"#, "t".repeat(9_000));
    let raw = format!(
        "POST /chats/1/messages?{query} HTTP/1.1\r\nhost: t\r\nidempotency-key: {key}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let answer = parse_answers(&exchange(server.address(), raw.as_bytes(), Delivery::Whole).await);
    assert_eq!(answer[0].code().as_deref(), Some("invalid_idempotency_key"));
    let method = "M".repeat(60 * 1024);
    let answer = parse_answers(
        &exchange(
            server.address(),
            &req(&method, "/chats", ""),
            Delivery::Whole,
        )
        .await,
    );
    assert_eq!(answer[0].status, 405);

    const BOUND: usize = 4 * 1024 + 16;
    for r in server.received_requests() {
        let sizes = [
            r.method.len(),
            r.path.len(),
            r.query.as_ref().map_or(0, String::len),
            r.idempotency_key.as_ref().map_or(0, String::len),
            r.body.len(),
        ];
        assert!(
            sizes.iter().all(|n| *n <= BOUND),
            "request log entry sizes {sizes:?}"
        );
    }
    let journal = server.journal();
    assert!(!journal.is_empty());
    for e in journal {
        let sizes = [
            e.method.len(),
            e.path.len(),
            e.idempotency_key.as_ref().map_or(0, String::len),
        ];
        assert!(
            sizes.iter().all(|n| *n <= BOUND),
            "journal entry sizes {sizes:?}"
        );
    }
}

#[tokio::test]
async fn key_table_is_bounded() {
    let server = MockChatServer::builder()
        .seed(7)
        .key_capacity(10)
        .bot(mock_chat_server::BotBehavior::Silent)
        .start()
        .await;
    for i in 0..30 {
        let res = common::post(&server, 1, &format!("key-{i}"), &format!("text {i}"))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // The 10 most recent keys are remembered...
    let res = common::post(&server, 1, "key-29", "another text")
        .await
        .unwrap();
    common::assert_error(res, 422, "idempotency_key_reused").await;
    let res = common::post(&server, 1, "key-20", "text 20").await.unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    // ...the oldest are forgotten: the key is free again.
    let res = common::post(&server, 1, "key-0", "another text")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("idempotent-replayed").is_none());
}

/// The bound never forgets a key whose first request is still being
/// processed: that would let a retry commit the message a second time.
#[tokio::test]
async fn key_table_bound_never_evicts_a_key_in_flight() {
    let slow_commit = {
        let mut plan = mock_chat_server::FaultPlan::none();
        plan.route_mut(mock_chat_server::Route::PostMessage)
            .latency_after = mock_chat_server::Delay::Fixed(300);
        plan
    };
    let server = MockChatServer::builder()
        .seed(9)
        .key_capacity(1)
        .faults(slow_commit)
        .bot(mock_chat_server::BotBehavior::Silent)
        .start()
        .await;
    // A: stored at once, answered 300 ms later; "a" is in flight meanwhile.
    let url = server.url("/chats/1/messages");
    let a = tokio::spawn(async move {
        common::client()
            .post(url)
            .header("idempotency-key", "a")
            .json(&serde_json::json!({"text": "once"}))
            .send()
            .await
            .unwrap()
            .status()
    });
    for _ in 0..2_000 {
        if server.journal().iter().any(|e| e.committed) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(
        server.journal().iter().any(|e| e.committed),
        "A never committed"
    );
    server
        .set_faults(mock_chat_server::FaultPlan::none())
        .unwrap();
    // Another key, over the capacity of one.
    let res = common::post(&server, 1, "b", "other").await.unwrap();
    assert_eq!(res.status(), 200);
    // A retry of A while A is still in flight must wait, not commit again.
    let res = common::post(&server, 1, "a", "once").await.unwrap();
    common::assert_error(res, 409, "idempotency_key_in_use").await;
    assert_eq!(a.await.unwrap(), 200);
    let copies = server
        .messages(1)
        .iter()
        .filter(|m| m.idempotency_key == "a")
        .count();
    assert_eq!(
        copies, 1,
        "the message with key a was stored {copies} times"
    );
}

#[tokio::test]
async fn a_subscriber_that_falls_behind_is_cut_and_publishers_never_wait() {
    let server = MockChatServer::builder()
        .seed(8)
        .subscriber_queue(4)
        .start()
        .await;
    // In-process: a stream that is not polled while 10 messages go out.
    let mut lagging = server.subscribe();
    for i in 0..10 {
        server
            .inject_message(1, Author::User, format!("m{i}"))
            .unwrap();
    }
    let next = tokio::time::timeout(PATIENCE, lagging.next())
        .await
        .unwrap();
    assert_eq!(
        next, None,
        "a subscriber 10 behind a queue of 4 must be ended"
    );

    // Over SSE: a client that stops reading. 2,000 messages of 10,000
    // characters (20 MB) overflow every socket buffer on the way, so the
    // server's writer stalls, the subscriber lags past its queue of 4 and
    // is disconnected, while the publisher goes on unblocked.
    let res = common::client()
        .get(server.url("/events?stream=messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = "z".repeat(10_000);
    for _ in 0..2_000 {
        server
            .inject_message(2, Author::User, text.clone())
            .unwrap();
    }
    // Now read: the stream ends early instead of delivering all 2,000.
    let mut events = res.bytes_stream().eventsource();
    let mut delivered = 0;
    let ended = tokio::time::timeout(PATIENCE, async {
        while let Some(e) = events.next().await {
            match e {
                Ok(e) if !e.data.is_empty() => delivered += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the lagging SSE stream was never cut");
    assert!(
        delivered < 2_000,
        "all {delivered} events delivered: nobody lagged?"
    );
    // The server goes on serving others.
    let (s, _) = common::get_json(&server, "/chats").await;
    assert_eq!(s, 200);
}
