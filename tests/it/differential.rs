//! The differential test: the same requests to the real server and to a
//! mock, compared. It runs only when `MOCK_CHAT_REFERENCE_URL` names a
//! running reference server:
//!
//! ```sh
//! PORT=3900 ../shared/reference-server/run.sh &
//! MOCK_CHAT_REFERENCE_URL=http://127.0.0.1:3900 cargo test --test it differential -- --nocapture
//! ```
//!
//! Each probe's status line, header order (names as written, repeated
//! lines such as `Allow` counted once), header set (values without `Date`)
//! and body are compared after normalisation: UUIDs become `<uuid>`, RFC 3339 times
//! `<time>`, SSE ids `<n>`, bot texts (the crate writes its own) `<text>`,
//! and `GET /chats` is sorted (both servers change the order per call).
//! The reference's chaos is always on: a probe is retried while the
//! reference answers 503 or 504, and the first 503 and 504 it gives are
//! compared with the mock's forced ones. Every observation is printed; the
//! test fails on any difference outside the spec's §2.9 bounds.

use std::net::SocketAddr;
use std::time::Duration;

use mock_chat_server::{Fault, MockChatServer, Route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{parse, request_bytes, Reply};

/// One request, with `{john}` and `{zero}` in the path filled per server.
struct Probe {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
}

const fn probe(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> Probe {
    Probe {
        name,
        method,
        path,
        headers,
        body,
    }
}

const KEY: &[(&str, &str)] = &[("Idempotency-Key", "{key}")];

const PROBES: &[Probe] = &[
    probe("GET /chats", "GET", "/chats", &[], ""),
    probe("GET /chats?x=1", "GET", "/chats?x=1", &[], ""),
    probe("history", "GET", "/chats/{sarah}/messages", &[], ""),
    probe(
        "history with a query",
        "GET",
        "/chats/{sarah}/messages?limit=1",
        &[],
        "",
    ),
    probe(
        "history, braces",
        "GET",
        "/chats/{{sarah}}/messages",
        &[],
        "",
    ),
    probe(
        "history, upper case",
        "GET",
        "/chats/{SARAH}/messages",
        &[],
        "",
    ),
    probe(
        "history, unknown chat",
        "GET",
        "/chats/{zero}/messages",
        &[],
        "",
    ),
    probe("history, invalid id", "GET", "/chats/abc/messages", &[], ""),
    probe("history, empty id", "GET", "/chats//messages", &[], ""),
    probe(
        "history, %2F in the id",
        "GET",
        "/chats/a%2Fb/messages",
        &[],
        "",
    ),
    probe(
        "history, %20 in the id",
        "GET",
        "/chats/a%20b/messages",
        &[],
        "",
    ),
    probe("invalid escape", "GET", "/chats/%zz/messages", &[], ""),
    probe(
        "POST stores",
        "POST",
        "/chats/{john}/messages",
        KEY,
        r#"{"text":"a <b> & ü"}"#,
    ),
    probe(
        "POST, known key",
        "POST",
        "/chats/{john}/messages",
        KEY,
        r#"{"text":"other"}"#,
    ),
    probe(
        "POST, no key",
        "POST",
        "/chats/{john}/messages",
        &[],
        r#"{"text":"x"}"#,
    ),
    probe(
        "POST, empty body",
        "POST",
        "/chats/{john}/messages",
        &[("Idempotency-Key", "{key}-e")],
        "",
    ),
    probe(
        "POST, array body",
        "POST",
        "/chats/{john}/messages",
        &[("Idempotency-Key", "{key}-a")],
        "[]",
    ),
    probe(
        "POST, number text",
        "POST",
        "/chats/{john}/messages",
        &[("Idempotency-Key", "{key}-n")],
        r#"{"text":5}"#,
    ),
    probe(
        "POST, bad JSON",
        "POST",
        "/chats/{john}/messages",
        &[("Idempotency-Key", "{key}-j")],
        r#"{"text" 1}"#,
    ),
    probe(
        "POST, bad id field",
        "POST",
        "/chats/{john}/messages",
        &[("Idempotency-Key", "{key}-i")],
        r#"{"id":"x"}"#,
    ),
    probe(
        "POST, bad time field",
        "POST",
        "/chats/{john}/messages",
        &[("Idempotency-Key", "{key}-t")],
        r#"{"sent_at":"yesterday"}"#,
    ),
    probe(
        "POST, unknown chat",
        "POST",
        "/chats/{zero}/messages",
        &[("Idempotency-Key", "{key}-u")],
        "{}",
    ),
    probe(
        "POST, bad body and chat",
        "POST",
        "/chats/abc/messages",
        &[("Idempotency-Key", "{key}-b")],
        "nope",
    ),
    probe(
        "POST, no text",
        "POST",
        "/chats/{john}/messages",
        &[("Idempotency-Key", "{key}-x")],
        r#"{"author":"bot"}"#,
    ),
    probe(
        "POST, form content type",
        "POST",
        "/chats/{john}/messages",
        &[
            ("Idempotency-Key", "{key}-f"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        r#"{"text":"f"}"#,
    ),
    probe(
        "POST, large answer",
        "POST",
        "/chats/{john}/messages",
        &[("Idempotency-Key", "{key}-l")],
        "LARGE",
    ),
    probe("404", "GET", "/nope", &[], ""),
    probe("404, trailing slash", "GET", "/chats/", &[], ""),
    probe("405 PUT /chats", "PUT", "/chats", &[], ""),
    probe(
        "405 DELETE messages",
        "DELETE",
        "/chats/{john}/messages",
        &[],
        "",
    ),
    probe("405 OPTIONS /chats", "OPTIONS", "/chats", &[], ""),
    probe("HEAD, 404", "HEAD", "/nope", &[], ""),
    probe("HEAD, 405", "HEAD", "/chats", &[], ""),
    probe("two Host headers", "GET", "/chats", &[("Host", "y")], ""),
    probe("unknown Expect", "GET", "/nope", &[("Expect", "foo")], ""),
    probe(
        "POST, awaited body never asked for (no key)",
        "POST",
        "/chats/{john}/messages",
        &[("Expect", "100-continue")],
        "{\"text\":\"x\"}",
    ),
    probe("405 unknown method", "FOO", "/chats", &[], ""),
    probe("events without stream", "GET", "/events", &[], ""),
    probe(
        "events, other stream",
        "GET",
        "/events?stream=chats",
        &[],
        "",
    ),
    probe(
        "events, bad Last-Event-ID",
        "GET",
        "/events?stream=messages",
        &[("Last-Event-ID", "abc")],
        "",
    ),
    probe("events, unknown method", "FOO", "/events", &[], ""),
    probe(
        "preflight, granted",
        "OPTIONS",
        "/chats/{john}/messages",
        &[
            ORIGIN,
            ("Access-Control-Request-Method", "post"),
            (
                "Access-Control-Request-Headers",
                "content-type,idempotency-key",
            ),
        ],
        "",
    ),
    probe(
        "preflight, unknown path",
        "OPTIONS",
        "/nope",
        &[ORIGIN, ("Access-Control-Request-Method", "DELETE")],
        "",
    ),
    probe(
        "preflight, Last-Event-ID refused",
        "OPTIONS",
        "/events?stream=messages",
        &[
            ORIGIN,
            ("Access-Control-Request-Method", "GET"),
            ("Access-Control-Request-Headers", "last-event-id"),
        ],
        "",
    ),
    probe(
        "preflight, method refused",
        "OPTIONS",
        "/chats",
        &[ORIGIN, ("Access-Control-Request-Method", "PATCH")],
        "",
    ),
    probe(
        "preflight, no origin",
        "OPTIONS",
        "/chats",
        &[("Access-Control-Request-Method", "GET")],
        "",
    ),
    probe(
        "preflight, empty method",
        "OPTIONS",
        "/chats",
        &[ORIGIN, ("Access-Control-Request-Method", "")],
        "",
    ),
    probe(
        "preflight, OPTIONS *",
        "OPTIONS",
        "*",
        &[ORIGIN, ("Access-Control-Request-Method", "GET")],
        "",
    ),
    probe("CORS, GET /chats", "GET", "/chats", &[ORIGIN], ""),
    probe(
        "CORS, history",
        "GET",
        "/chats/{sarah}/messages",
        &[ORIGIN],
        "",
    ),
    probe(
        "CORS, POST stores",
        "POST",
        "/chats/{john}/messages",
        &[ORIGIN, ("Idempotency-Key", "{key}-o")],
        r#"{"text":"from a browser"}"#,
    ),
    probe(
        "CORS, known key",
        "POST",
        "/chats/{john}/messages",
        &[ORIGIN, ("Idempotency-Key", "{key}-o")],
        r#"{"text":"from a browser"}"#,
    ),
    probe(
        "CORS, 404 null origin",
        "GET",
        "/nope",
        &[("Origin", "null")],
        "",
    ),
    probe("CORS, OPTIONS /chats", "OPTIONS", "/chats", &[ORIGIN], ""),
    probe("CORS, HEAD /chats", "HEAD", "/chats", &[ORIGIN], ""),
    probe("CORS, PATCH /chats", "PATCH", "/chats", &[ORIGIN], ""),
    probe("CORS, lower-case get", "get", "/chats", &[ORIGIN], ""),
    probe(
        "CORS, events refused",
        "GET",
        "/events?stream=messages",
        &[ORIGIN, ("Last-Event-ID", "x")],
        "",
    ),
];

/// A browser app's origin.
const ORIGIN: (&str, &str) = ("Origin", "http://app.example:5173");

/// Differences the README's "Differences from the reference server" lists:
/// an answer Go's server writes before any handler runs (a request it
/// cannot read) has the reference's status and body and hyper's headers
/// (hyper adds `Content-Length`), as for the missing `Host` of §2.9.
const ALLOWED: &[&str] = &["invalid escape", "two Host headers"];

async fn send(addr: SocketAddr, bytes: &[u8]) -> Option<Reply> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(bytes).await.ok()?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut out))
        .await
        .ok()?
        .ok()?;
    parse(&out)
}

/// Replaces UUIDs, times and SSE ids.
fn normalise(text: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let rest: String = chars[i..chars.len().min(i + 40)].iter().collect();
        if rest.get(..36).is_some_and(is_uuid) {
            out.push_str("<uuid>");
            i += 36;
            continue;
        }
        if let Some(n) = time_len(&rest) {
            out.push_str("<time>");
            i += n;
            let tail: String = chars[i..].iter().take(40).collect();
            i += tail.find('"').unwrap_or(0);
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn is_uuid(s: &str) -> bool {
    s.chars().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => c == '-',
        _ => c.is_ascii_hexdigit(),
    })
}

/// `YYYY-MM-DDTHH:MM:SS` at the start of `s`.
fn time_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let shape = b"0000-00-00T00:00:00";
    (b.len() >= shape.len()
        && shape.iter().zip(b).all(|(p, c)| {
            if *p == b'0' {
                c.is_ascii_digit()
            } else {
                p == c
            }
        }))
    .then_some(shape.len())
}

/// Bot texts are the crate's own: mask them.
fn mask_bot_texts(body: &str) -> String {
    let mut masked = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("\"author\":\"bot\",\"text\":\"") {
        let start = at + "\"author\":\"bot\",\"text\":\"".len();
        masked.push_str(&rest[..start]);
        let after = &rest[start..];
        let end = after.find("\",\"sent_at\"").unwrap_or(0);
        masked.push_str("<text>");
        rest = &after[end..];
    }
    masked.push_str(rest);
    masked
}

/// What is compared of an answer.
fn observe(reply: &Reply, sort_array: bool) -> String {
    let text = String::from_utf8_lossy(&reply.body).into_owned();
    let mut body = mask_bot_texts(&normalise(&text));
    if sort_array {
        if let Ok(serde_json::Value::Array(items)) = serde_json::from_str(&body) {
            let mut items: Vec<String> = items.iter().map(|v| v.to_string()).collect();
            items.sort();
            body = format!("sorted [{}]", items.join(","));
        }
    }
    let timed = body.contains("<time>");
    let mut headers: Vec<String> = reply
        .headers
        .iter()
        .filter(|(n, _)| !n.eq_ignore_ascii_case("date"))
        .filter(|(n, _)| !(timed && n.eq_ignore_ascii_case("content-length")))
        .map(|(n, v)| format!("{}: {v}", n.to_ascii_lowercase()))
        .collect();
    headers.sort();
    format!(
        "{} | {} | {} | chunked={} | {:?}",
        reply.status_line,
        header_order(reply.headers.iter().map(|(n, _)| n.as_str())),
        headers.join("; "),
        reply.chunked,
        body
    )
}

/// The header names in the order they came, as written; repeated lines
/// (`Allow`, whose order Go draws per request) counted once.
fn header_order<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let mut order: Vec<&str> = Vec::new();
    for name in names {
        if order.last() != Some(&name) {
            order.push(name);
        }
    }
    format!("order {}", order.join(","))
}

struct Side {
    addr: SocketAddr,
    john: String,
    sarah: String,
}

async fn learn(addr: SocketAddr) -> Side {
    loop {
        let bytes = request_bytes("GET", "/chats", &[], b"");
        if let Some(r) = send(addr, &bytes).await {
            if r.status == 200 {
                let chats: Vec<serde_json::Value> = serde_json::from_slice(&r.body).expect("chats");
                let id = |name: &str| {
                    chats
                        .iter()
                        .find(|c| c["name"] == name)
                        .and_then(|c| c["id"].as_str())
                        .expect("the reference's fixture chats")
                        .to_string()
                };
                return Side {
                    addr,
                    john: id("John"),
                    sarah: id("Sarah"),
                };
            }
        }
    }
}

fn fill(s: &str, side: &Side, key: &str) -> String {
    s.replace("{john}", &side.john)
        .replace("{sarah}", &side.sarah)
        .replace("{SARAH}", &side.sarah.to_uppercase())
        .replace("{zero}", "00000000-0000-0000-0000-000000000000")
        .replace("{key}", key)
}

fn probe_bytes(p: &Probe, side: &Side, key: &str) -> Vec<u8> {
    let headers: Vec<(String, String)> = p
        .headers
        .iter()
        .map(|(n, v)| (n.to_string(), fill(v, side, key)))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let body = if p.body == "LARGE" {
        format!(r#"{{"text":"{}"}}"#, "y".repeat(6000))
    } else {
        p.body.to_string()
    };
    request_bytes(
        p.method,
        &fill(p.path, side, key),
        &headers,
        body.as_bytes(),
    )
}

/// Sends a probe to the reference until it answers without chaos; keeps
/// the first chaos answers seen.
async fn reference_answer(side: &Side, bytes: &[u8], chaos: &mut Vec<Reply>) -> Option<Reply> {
    for _ in 0..12 {
        let r = send(side.addr, bytes).await?;
        if matches!(r.status, 503 | 504) {
            if !chaos.iter().any(|c| c.status == r.status) {
                chaos.push(r);
            }
            continue;
        }
        return Some(r);
    }
    None
}

/// The first SSE frame after a POST, normalised, and the stream's head.
async fn stream_observation(side: &Side, key: &str) -> String {
    let Ok(mut s) = TcpStream::connect(side.addr).await else {
        return "no connection".into();
    };
    let head = b"GET /events?stream=messages HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: 999999999\r\n\r\n";
    if s.write_all(head).await.is_err() {
        return "write failed".into();
    }
    let post = request_bytes(
        "POST",
        &format!("/chats/{}/messages", side.john),
        &[("Idempotency-Key", key)],
        br#"{"text":"on the stream"}"#,
    );
    let addr = side.addr;
    tokio::spawn(async move {
        for _ in 0..12 {
            if let Some(r) = send(addr, &post).await {
                if r.status == 200 {
                    return;
                }
            }
        }
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    while !String::from_utf8_lossy(&raw).contains("on the stream") {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => raw.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut headers: Vec<String> = head
        .lines()
        .skip(1)
        .filter(|l| !l.to_ascii_lowercase().starts_with("date:"))
        .map(|l| l.to_ascii_lowercase())
        .collect();
    headers.sort();
    let frame = body
        .split("\r\n")
        .find(|l| l.starts_with("id: "))
        .map(|l| l.to_string())
        .unwrap_or_default();
    let data = body
        .split("\r\n")
        .flat_map(|l| l.split('\n'))
        .find(|l| l.starts_with("data: "))
        .unwrap_or_default();
    let id_line = frame.split('\n').next().unwrap_or_default();
    let id_shape =
        if id_line.starts_with("id: ") && id_line[4..].bytes().all(|b| b.is_ascii_digit()) {
            "id: <n>"
        } else {
            id_line
        };
    let names = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n));
    format!(
        "{} | {} | {} | {} | {}",
        head.lines().next().unwrap_or_default(),
        header_order(names),
        headers.join("; "),
        id_shape,
        normalise(data)
    )
}

/// Long bodies, cut for the report.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 400 {
        return s.to_string();
    }
    let head: String = s.chars().take(300).collect();
    let tail: String = s
        .chars()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head} … {tail}")
}

#[tokio::test]
async fn the_mock_answers_as_the_reference_server() {
    let Ok(url) = std::env::var("MOCK_CHAT_REFERENCE_URL") else {
        eprintln!(
            "differential: skipped (set MOCK_CHAT_REFERENCE_URL to a running reference server)"
        );
        return;
    };
    let addr: SocketAddr =
        tokio::net::lookup_host(url.trim_start_matches("http://").trim_end_matches('/'))
            .await
            .expect("the reference's address")
            .next()
            .expect("an address");
    let mock = MockChatServer::builder().seed(1).start().await;
    let reference = learn(addr).await;
    let ours = learn(mock.address()).await;
    let run = format!("diff-{}", uuid::Uuid::new_v4());
    let mut report = Vec::new();
    let mut chaos = Vec::new();
    for p in PROBES {
        let key = format!("{run}-key");
        let theirs =
            reference_answer(&reference, &probe_bytes(p, &reference, &key), &mut chaos).await;
        let mine = send(ours.addr, &probe_bytes(p, &ours, &key)).await;
        let sort = p.path.starts_with("/chats?") || p.path == "/chats";
        let (t, m) = (
            theirs.map_or("no answer".into(), |r| observe(&r, sort)),
            mine.map_or("no answer".into(), |r| observe(&r, sort)),
        );
        report.push((p.name.to_string(), t, m));
    }
    // The reference's own chaos answers, against the mock's forced ones.
    for r in &chaos {
        let fault = if r.status == 503 {
            Fault::Unavailable
        } else {
            Fault::timeout()
        };
        mock.force(Route::GetChats, fault);
        let mine = send(ours.addr, &request_bytes("GET", "/chats", &[], b"")).await;
        report.push((
            format!("chaos {}", r.status),
            observe(r, false),
            mine.map_or("no answer".into(), |m| observe(&m, false)),
        ));
    }
    let t = stream_observation(&reference, &format!("{run}-sse")).await;
    let m = stream_observation(&ours, &format!("{run}-sse")).await;
    report.push(("SSE head and first frame".into(), t, m));
    let mut different = Vec::new();
    for (name, t, m) in &report {
        if t == m {
            println!("same       {name}: {}", shorten(t));
        } else {
            println!(
                "DIFFERENT  {name}\n  reference: {}\n  mock:      {}",
                shorten(t),
                shorten(m)
            );
            if !ALLOWED.contains(&name.as_str()) {
                different.push(name.clone());
            }
        }
    }
    println!(
        "differential: {} observations, {} different",
        report.len(),
        different.len()
    );
    assert!(
        different.is_empty(),
        "different from the reference: {different:?}"
    );
}
