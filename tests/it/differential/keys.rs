//! The differential test's byte-key probes (SPEC §2.2): idempotency keys
//! that are not UTF-8, sent as raw header bytes. Two keys are one key only
//! if their bytes are equal; Go's encoder shows one U+FFFD per invalid
//! byte, in the POST answer, the history and on the stream.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{normalise, observe, reference_answer, send, Side};
use crate::common::Reply;

/// Each POST: its name, its key after the run's prefix, its text.
const POSTS: &[(&str, &[u8], &str)] = &[
    ("POST, key not UTF-8", b"-b1ab\xe9\xe9cd", "first"),
    (
        "POST, another key that shows alike",
        b"-b1ab\xea\xe9cd",
        "second",
    ),
    (
        "POST, the first byte key again",
        b"-b1ab\xe9\xe9cd",
        "again",
    ),
    ("POST, key with a cut character", b"-b2cut\xe2\x82", "cut"),
];

/// A POST of `text` to John with `key` as raw bytes.
fn post_bytes(side: &Side, key: &[u8], text: &str) -> Vec<u8> {
    let body = format!(r#"{{"text":"{text}"}}"#);
    let mut out = format!(
        "POST /chats/{}/messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
         Content-Length: {}\r\nIdempotency-Key: ",
        side.john,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(key);
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

fn shown(reply: Option<Reply>) -> String {
    reply.map_or("no answer".into(), |r| observe(&r, false))
}

/// Every `"idempotency_key":"…"` member in `text` whose key starts with
/// `prefix`, in order, normalised; with `distinct`, each once (the
/// reference's chaos delivers an event one to three times).
fn members(text: &str, prefix: &str, distinct: bool) -> String {
    let start = format!("\"idempotency_key\":\"{prefix}");
    let mut found: Vec<String> = text
        .match_indices(&start)
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest.find("\"}").map_or(rest.len(), |e| e + 2);
            normalise(&rest[..end])
        })
        .collect();
    if distinct {
        found.dedup();
    }
    format!("{} keys: {}", found.len(), found.join(" "))
}

/// The byte-key members of John's history.
async fn history(side: &Side, run: &str, chaos: &mut Vec<Reply>) -> String {
    let get = format!(
        "GET /chats/{}/messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        side.john
    );
    match reference_answer(side, get.as_bytes(), chaos).await {
        Some(r) => members(
            &String::from_utf8_lossy(&r.body),
            &format!("{run}-b"),
            false,
        ),
        None => "no answer".into(),
    }
}

/// The key of the first frame on a fresh stream after a POST with `key`.
async fn on_the_stream(addr: SocketAddr, post: Vec<u8>, prefix: &str) -> String {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return "no connection".into();
    };
    // Live events only: the replay holds ids from this one on.
    let head = b"GET /events?stream=messages HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: 999999999\r\n\r\n";
    if s.write_all(head).await.is_err() {
        return "write failed".into();
    }
    tokio::spawn(async move {
        for _ in 0..12 {
            if send(addr, &post).await.is_some_and(|r| r.status == 200) {
                return;
            }
        }
    });
    let (mut raw, mut buf) = (Vec::new(), [0u8; 4096]);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    let done = |raw: &[u8]| {
        let text = String::from_utf8_lossy(raw);
        text.find(prefix)
            .is_some_and(|at| text[at..].contains("\"}"))
    };
    while !done(&raw) {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => raw.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    members(&String::from_utf8_lossy(&raw), prefix, true)
}

/// Every byte-key observation: `(name, reference, mock)`.
pub(super) async fn observations(
    reference: &Side,
    ours: &Side,
    run: &str,
    chaos: &mut Vec<Reply>,
) -> Vec<(String, String, String)> {
    let mut report = Vec::new();
    for (name, suffix, text) in POSTS {
        let key = [run.as_bytes(), suffix].concat();
        let theirs = reference_answer(reference, &post_bytes(reference, &key, text), chaos).await;
        let mine = send(ours.addr, &post_bytes(ours, &key, text)).await;
        report.push((name.to_string(), shown(theirs), shown(mine)));
    }
    report.push((
        "history, byte keys".into(),
        history(reference, run, chaos).await,
        history(ours, run, &mut Vec::new()).await,
    ));
    let key = [run.as_bytes(), b"-s\xe9\xe2\x82"].concat();
    let prefix = format!("{run}-s");
    report.push((
        "SSE frame, byte key".into(),
        on_the_stream(reference.addr, post_bytes(reference, &key, "s"), &prefix).await,
        on_the_stream(ours.addr, post_bytes(ours, &key, "s"), &prefix).await,
    ));
    report
}
