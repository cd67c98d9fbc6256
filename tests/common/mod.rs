//! Helpers shared by the integration tests: a real HTTP client, an SSE
//! client built on `eventsource-stream`, and a raw TCP exchange.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use mock_chat_server::{Message, MockChatServer};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Generous upper bound for anything a test waits on; tests synchronise on
/// events, this only turns a hang into a failure.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A client with no connection reuse surprises: a fresh pool per test.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("reqwest client")
}

/// `POST /chats/{chat}/messages` with a JSON body and an idempotency key.
pub async fn post(
    server: &MockChatServer,
    chat: impl std::fmt::Display,
    key: &str,
    text: &str,
) -> reqwest::Result<reqwest::Response> {
    client()
        .post(server.url(&format!("/chats/{chat}/messages")))
        .header("idempotency-key", key)
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await
}

/// Status and parsed JSON body of a GET.
pub async fn get_json(server: &MockChatServer, path: &str) -> (u16, Value) {
    let res = client().get(server.url(path)).send().await.expect("GET");
    let status = res.status().as_u16();
    let body = res.json().await.expect("JSON body");
    (status, body)
}

/// Asserts an error answer: status and `error.code`, with a message.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) {
    assert_eq!(res.status().as_u16(), status, "status for {code}");
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string());
    assert_eq!(
        ct.as_deref(),
        Some("application/json"),
        "content type for {code}"
    );
    let body: Value = res.json().await.expect("error body is JSON");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Opens `/events?stream=messages`, optionally resuming after `last_event_id`,
/// and returns the parsed SSE events.
pub async fn sse(
    server: &MockChatServer,
    last_event_id: Option<&str>,
) -> impl Stream<Item = Event> + Unpin {
    let mut req = client().get(server.url("/events?stream=messages"));
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let res = req.send().await.expect("SSE request");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    Box::pin(
        res.bytes_stream()
            .eventsource()
            .take_while(|e| futures::future::ready(e.is_ok()))
            .filter_map(|e| async move { e.ok() }),
    )
}

/// The next `n` message events (keep-alive comments are not events).
pub async fn next_events(stream: &mut (impl Stream<Item = Event> + Unpin), n: usize) -> Vec<Event> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let e = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("timed out waiting for an SSE event")
            .expect("SSE stream ended early");
        if !e.data.is_empty() {
            out.push(e);
        }
    }
    out
}

/// The message carried by an SSE event.
pub fn message_of(e: &Event) -> Message {
    serde_json::from_str(&e.data).expect("SSE data is a Message")
}

/// Writes raw bytes to the server and reads until it closes the connection
/// (or `PATIENCE` passes).
pub async fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // The server may answer (and close) before reading everything.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, s.read_to_end(&mut out)).await;
    out
}

/// The status code of a raw HTTP/1.1 answer, if any.
pub fn raw_status(answer: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(answer.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

// ---- Helpers added with tests/api.rs, tests/sse.rs and tests/lifecycle.rs ----

/// Every message of every chat of `server`, chat by chat, oldest first.
pub fn all_messages(server: &MockChatServer) -> Vec<Message> {
    server
        .chats()
        .iter()
        .flat_map(|c| server.messages(c.id))
        .collect()
}

/// The next item of a stream (`server.subscribe()`, an SSE stream, …);
/// panics if it ends or if nothing comes within `PATIENCE`.
pub async fn next_within<S: Stream + Unpin>(stream: &mut S) -> S::Item {
    tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("timed out waiting for the next item")
        .expect("the stream ended early")
}

/// Drains a stream until it ends; false if it is still open after `PATIENCE`.
pub async fn ends_within<S: Stream + Unpin>(stream: &mut S) -> bool {
    tokio::time::timeout(PATIENCE, async { while stream.next().await.is_some() {} })
        .await
        .is_ok()
}

/// The `text` of every message in a JSON array of messages (a history page).
pub fn texts_of(page: &Value) -> Vec<String> {
    page.as_array()
        .expect("a JSON array of messages")
        .iter()
        .map(|m| m["text"].as_str().expect("a message text").to_string())
        .collect()
}

/// How many bot answers the fault journal holds.
pub fn bot_answer_count(server: &MockChatServer) -> usize {
    server
        .journal()
        .iter()
        .filter(|e| e.kind == mock_chat_server::EntryKind::BotAnswer)
        .count()
}
