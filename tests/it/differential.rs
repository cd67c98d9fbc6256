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

mod keys;
mod probes;

use probes::{Probe, PROBES};

/// Differences the wire page lists (src/docs/wire.md, "Differences from…"):
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
    match stream_until_posted(side, key).await {
        Ok(text) => describe_stream(&text),
        Err(failure) => failure.into(),
    }
}

/// Opens the message stream, posts a message (retried past chaos) and
/// reads the stream until the message shows or 25 s pass.
async fn stream_until_posted(side: &Side, key: &str) -> Result<String, &'static str> {
    let Ok(mut s) = TcpStream::connect(side.addr).await else {
        return Err("no connection");
    };
    let head = b"GET /events?stream=messages HTTP/1.1\r\nHost: localhost\r\nLast-Event-ID: 999999999\r\n\r\n";
    if s.write_all(head).await.is_err() {
        return Err("write failed");
    }
    post_in_the_background(side, key);
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    while !String::from_utf8_lossy(&raw).contains("on the stream") {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => raw.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    Ok(String::from_utf8_lossy(&raw).into_owned())
}

/// Posts "on the stream" to John's chat, retrying until a 200 (at most 12
/// tries).
fn post_in_the_background(side: &Side, key: &str) {
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
}

/// The stream's status line, header order and set (without `Date`), the
/// first frame's id shape and its data, normalised.
fn describe_stream(text: &str) -> String {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
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

/// One compared observation: its name, the reference's and the mock's.
type Observation = (String, String, String);

/// The reference's socket address, from its URL.
async fn reference_address(url: &str) -> SocketAddr {
    tokio::net::lookup_host(url.trim_start_matches("http://").trim_end_matches('/'))
        .await
        .expect("the reference's address")
        .next()
        .expect("an address")
}

/// Every probe sent to both sides; the reference's chaos answers kept.
async fn probe_observations(
    reference: &Side,
    ours: &Side,
    run: &str,
    chaos: &mut Vec<Reply>,
) -> Vec<Observation> {
    let mut report = Vec::new();
    for p in PROBES {
        let key = format!("{run}-key");
        let theirs = reference_answer(reference, &probe_bytes(p, reference, &key), chaos).await;
        let mine = send(ours.addr, &probe_bytes(p, ours, &key)).await;
        let sort = p.path.starts_with("/chats?") || p.path == "/chats";
        let (t, m) = (
            theirs.map_or("no answer".into(), |r| observe(&r, sort)),
            mine.map_or("no answer".into(), |r| observe(&r, sort)),
        );
        report.push((p.name.to_string(), t, m));
    }
    report
}

/// The reference's own chaos answers, against the mock's forced ones.
async fn chaos_observations(
    mock: &MockChatServer,
    ours: &Side,
    chaos: &[Reply],
) -> Vec<Observation> {
    let mut report = Vec::new();
    for r in chaos {
        let fault = if r.status == 503 {
            Fault::Unavailable
        } else {
            Fault::timeout()
        };
        mock.force(Route::GetChats, fault);
        // A fault that fell on a probe with an `Origin` carries the grant:
        // ask the mock with the same origin.
        let origin = r.header("Access-Control-Allow-Origin");
        let headers: Vec<(&str, &str)> = origin.map(|o| ("Origin", o)).into_iter().collect();
        let mine = send(ours.addr, &request_bytes("GET", "/chats", &headers, b"")).await;
        report.push((
            format!("chaos {}", r.status),
            observe(r, false),
            mine.map_or("no answer".into(), |m| observe(&m, false)),
        ));
    }
    report
}

/// Prints every observation; the names of those that differ outside
/// [`ALLOWED`].
fn differences(report: &[Observation]) -> Vec<String> {
    let mut different = Vec::new();
    for (name, t, m) in report {
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
    different
}

#[tokio::test]
async fn the_mock_answers_as_the_reference_server() {
    let Ok(url) = std::env::var("MOCK_CHAT_REFERENCE_URL") else {
        eprintln!(
            "differential: skipped (set MOCK_CHAT_REFERENCE_URL to a running reference server)"
        );
        return;
    };
    let addr = reference_address(&url).await;
    let mock = MockChatServer::builder().seed(1).start().await;
    let reference = learn(addr).await;
    let ours = learn(mock.address()).await;
    let run = format!("diff-{}", uuid::Uuid::new_v4());
    let mut chaos = Vec::new();
    let mut report = probe_observations(&reference, &ours, &run, &mut chaos).await;
    report.extend(keys::observations(&reference, &ours, &run, &mut chaos).await);
    report.extend(chaos_observations(&mock, &ours, &chaos).await);
    let t = stream_observation(&reference, &format!("{run}-sse")).await;
    let m = stream_observation(&ours, &format!("{run}-sse")).await;
    report.push(("SSE head and first frame".into(), t, m));
    let different = differences(&report);
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
