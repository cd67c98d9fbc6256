//! The HTTP API over real HTTP: every endpoint, every row of the SPEC's
//! bad-input table, every idempotency rule.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use common::{
    all_messages, assert_error, client, get_json, next_events, next_within, post, PATIENCE,
};
use futures::StreamExt;
use mock_chat_server::{
    Author, BotBehavior, Chat, ChatFixture, Delay, EntryKind, Fault, FaultPlan, Message,
    MockChatServer, MockChatServerBuilder, Route,
};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::Method;
use serde_json::{json, Value};

/// A calm server whose bots never answer, so only the test adds messages.
fn quiet() -> MockChatServerBuilder {
    MockChatServer::builder().seed(11).bot(BotBehavior::Silent)
}

/// One request, described as data so that tables of cases stay readable.
#[derive(Clone)]
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<Vec<u8>>,
}

impl Req {
    fn get(path: impl Into<String>) -> Self {
        Req {
            method: "GET",
            path: path.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    fn method(method: &'static str, path: impl Into<String>) -> Self {
        Req {
            method,
            ..Req::get(path)
        }
    }

    /// A POST with a key and a JSON content type; `body` is sent verbatim.
    fn post(path: impl Into<String>, key: &str, body: impl Into<Vec<u8>>) -> Self {
        Req {
            method: "POST",
            path: path.into(),
            headers: vec![
                ("idempotency-key", key.as_bytes().to_vec()),
                ("content-type", b"application/json".to_vec()),
            ],
            body: Some(body.into()),
        }
    }

    fn text(path: impl Into<String>, key: &str, text: &str) -> Self {
        Req::post(path, key, json!({ "text": text }).to_string())
    }

    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    fn without_header(mut self, name: &'static str) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self
    }

    async fn send(&self, server: &MockChatServer) -> reqwest::Response {
        let method = Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut req = client().request(method, server.url(&self.path));
        for (name, value) in &self.headers {
            req = req.header(
                HeaderName::from_static(name),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        if let Some(body) = &self.body {
            req = req.body(body.clone());
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("{} {}: {e}", self.method, self.path))
    }
}

/// Status, `Idempotent-Replayed` header and raw body of an answer.
async fn parts(res: reqwest::Response) -> (u16, Option<String>, Bytes) {
    let status = res.status().as_u16();
    let replayed = res
        .headers()
        .get("idempotent-replayed")
        .map(|v| v.to_str().unwrap().to_string());
    (status, replayed, res.bytes().await.unwrap())
}

/// Asserts the server still answers an ordinary request.
async fn assert_still_serving(server: &MockChatServer) {
    let (status, chats) = get_json(server, "/chats").await;
    assert_eq!(status, 200);
    assert!(chats.as_array().is_some_and(|a| !a.is_empty()), "{chats}");
}

/// Asserts nothing was stored or published since `before` was taken.
fn assert_nothing_stored(server: &MockChatServer, before: &[Message], what: &str) {
    assert_eq!(all_messages(server), before, "{what}: a message was stored");
    for entry in server.journal() {
        assert!(
            !entry.committed && entry.event_ids.is_empty() && entry.message_id.is_none(),
            "{what}: the journal records a commit: {entry}"
        );
    }
}

fn assert_timestamp(sent_at: &str) -> DateTime<Utc> {
    // 2026-11-24T18:12:08.123Z: RFC 3339, UTC, milliseconds.
    assert_eq!(sent_at.len(), 24, "{sent_at}");
    assert!(sent_at.ends_with('Z'), "{sent_at}");
    assert_eq!(&sent_at[19..20], ".", "{sent_at}");
    assert!(
        sent_at[20..23].bytes().all(|b| b.is_ascii_digit()),
        "{sent_at}"
    );
    DateTime::parse_from_rfc3339(sent_at)
        .unwrap_or_else(|e| panic!("{sent_at}: {e}"))
        .with_timezone(&Utc)
}

// ---------------------------------------------------------------- GET /chats

#[tokio::test]
async fn get_chats_lists_every_chat_ordered_by_id() {
    let server = quiet().start().await;
    let res = client().get(server.url("/chats")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.text().await.unwrap(),
        r#"[{"id":1,"name":"General"},{"id":2,"name":"Support"},{"id":3,"name":"Random"},{"id":4,"name":"Weekend plans"}]"#
    );

    // New chats come after, by id, whatever their names.
    assert_eq!(
        server.add_chat("Zulu"),
        Chat {
            id: 5,
            name: "Zulu".into()
        }
    );
    server.add_chat("Alpha");
    let (status, body) = get_json(&server, "/chats").await;
    assert_eq!(status, 200);
    let chats: Vec<Chat> = serde_json::from_value(body).unwrap();
    let ids: Vec<u64> = chats.iter().map(|c| c.id).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(chats[5].name, "Alpha");
    assert_eq!(chats, server.chats());
}

#[tokio::test]
async fn get_chats_serves_custom_fixtures() {
    let server = quiet()
        .chats(vec![ChatFixture::new("One"), ChatFixture::new("Two")])
        .start()
        .await;
    let (status, body) = get_json(&server, "/chats").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!([{"id": 1, "name": "One"}, {"id": 2, "name": "Two"}])
    );
}

// ------------------------------------------------------ GET /chats/{id}/messages

#[tokio::test]
async fn get_messages_serves_the_fixture_history() {
    let server = quiet().start().await;
    let mut when = Vec::new();
    for chat in 1..=4u64 {
        let res = client()
            .get(server.url(&format!("/chats/{chat}/messages")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-type"], "application/json");
        let body: Value = res.json().await.unwrap();
        let list = body.as_array().unwrap();
        assert_eq!(list.len(), 1, "{body}");
        let m = &list[0];
        assert_eq!(m["chat_id"], chat);
        assert_eq!(m["author"], "bot");
        assert!(!m["text"].as_str().unwrap().is_empty());
        let key = m["idempotency_key"].as_str().unwrap();
        assert_eq!(uuid::Uuid::parse_str(key).unwrap().get_version_num(), 4);
        when.push((
            m["id"].as_u64().unwrap(),
            assert_timestamp(m["sent_at"].as_str().unwrap()),
        ));
        let typed: Vec<Message> = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(typed, server.messages(chat));
    }
    // Staggered: now, -1 min, -32 min, -1 day; ids follow time order.
    let (now, ago) = (when[0].1, |i: usize| when[0].1 - when[i].1);
    assert!((Utc::now() - now).num_seconds().abs() < 60);
    assert_eq!(ago(1).num_seconds(), 60);
    assert_eq!(ago(2).num_seconds(), 32 * 60);
    assert_eq!(ago(3).num_seconds(), 24 * 60 * 60);
    let ids: Vec<u64> = when.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, vec![4, 3, 2, 1]);
}

#[tokio::test]
async fn get_messages_serves_the_100_most_recent_oldest_first_and_pages_back() {
    let server = quiet()
        .chats(vec![ChatFixture::new("Busy"), ChatFixture::new("Other")])
        .start()
        .await;
    // 150 messages in chat 1 over HTTP, interleaved with noise in chat 2.
    let http = reqwest::Client::new();
    for i in 0..150 {
        let res = http
            .post(server.url("/chats/1/messages"))
            .header("idempotency-key", format!("k{i}"))
            .json(&json!({ "text": format!("m{i}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        if i % 10 == 0 {
            server
                .inject_message(2, Author::Bot, format!("noise {i}"))
                .unwrap();
        }
    }
    let all = server.messages(1);
    assert_eq!(all.len(), 150);
    let texts = common::texts_of;
    let expect =
        |range: std::ops::Range<usize>| -> Vec<String> { range.map(|i| format!("m{i}")).collect() };

    let (status, page) = get_json(&server, "/chats/1/messages").await;
    assert_eq!(status, 200);
    assert_eq!(
        texts(&page),
        expect(50..150),
        "the 100 most recent, oldest first"
    );
    let ids: Vec<u64> = page
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(page.as_array().unwrap().iter().all(|m| m["chat_id"] == 1));

    let (_, page) = get_json(&server, "/chats/1/messages?limit=10").await;
    assert_eq!(texts(&page), expect(140..150));
    let (_, page) = get_json(&server, "/chats/1/messages?limit=1").await;
    assert_eq!(texts(&page), expect(149..150));
    let (_, page) = get_json(&server, "/chats/1/messages?limit=100").await;
    assert_eq!(texts(&page), expect(50..150));

    let m50 = all[50].id;
    let (_, page) = get_json(&server, &format!("/chats/1/messages?before={m50}")).await;
    assert_eq!(texts(&page), expect(0..50));
    let (_, page) = get_json(&server, &format!("/chats/1/messages?before={m50}&limit=20")).await;
    assert_eq!(texts(&page), expect(30..50));
    let (_, page) = get_json(&server, &format!("/chats/1/messages?limit=20&before={m50}")).await;
    assert_eq!(
        texts(&page),
        expect(30..50),
        "parameter order does not matter"
    );
    let first = all[0].id;
    let (status, page) = get_json(&server, &format!("/chats/1/messages?before={first}")).await;
    assert_eq!((status, page), (200, json!([])));

    // Walking back page by page visits every message exactly once.
    let mut seen: Vec<Message> = Vec::new();
    let mut path = "/chats/1/messages?limit=33".to_string();
    loop {
        let (status, page) = get_json(&server, &path).await;
        assert_eq!(status, 200);
        let page: Vec<Message> = serde_json::from_value(page).unwrap();
        let Some(oldest) = page.first() else { break };
        path = format!("/chats/1/messages?limit=33&before={}", oldest.id);
        seen.splice(0..0, page);
    }
    assert_eq!(seen, all);
}

#[tokio::test]
async fn get_messages_rejects_bad_limit_and_before() {
    let server = quiet().start().await;
    let before = all_messages(&server);
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=abc",
        "limit=",
        "limit=1.5",
        "limit=99999999999999999999999",
        "before=0",
        "before=-3",
        "before=abc",
        "before=",
        "limit=10&before=x",
    ] {
        let res = client()
            .get(server.url(&format!("/chats/1/messages?{query}")))
            .send()
            .await
            .unwrap();
        assert_error(res, 400, "invalid_query").await;
        assert_nothing_stored(&server, &before, query);
        assert_still_serving(&server).await;
    }
}

// ----------------------------------------------------- POST /chats/{id}/messages

#[tokio::test]
async fn post_creates_a_user_message() {
    let server = quiet().start().await;
    let started = Utc::now();
    let res = post(&server, 2, "key-abc", "Hello there ✓").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert!(res.headers().get("idempotent-replayed").is_none());
    let raw = res.bytes().await.unwrap();
    let body: Value = serde_json::from_slice(&raw).unwrap();
    let fields: BTreeSet<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "id",
            "chat_id",
            "author",
            "text",
            "sent_at",
            "idempotency_key"
        ])
    );
    assert_eq!(body["id"], 5, "fixtures hold ids 1 to 4");
    assert_eq!(body["chat_id"], 2);
    assert_eq!(body["author"], "user");
    assert_eq!(body["text"], "Hello there ✓");
    assert_eq!(body["idempotency_key"], "key-abc");
    let sent_at = assert_timestamp(body["sent_at"].as_str().unwrap());
    assert!(sent_at >= started - chrono::Duration::milliseconds(1));
    assert!(sent_at <= Utc::now());

    // Stored, and served by the history with the very same bytes.
    let msg: Message = serde_json::from_slice(&raw).unwrap();
    assert_eq!(server.messages(2).last(), Some(&msg));
    let history = client()
        .get(server.url("/chats/2/messages"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        history.ends_with(&format!("{}]", std::str::from_utf8(&raw).unwrap())),
        "{history}"
    );
    let entry = server
        .journal()
        .into_iter()
        .find(|e| e.route == Route::PostMessage)
        .unwrap();
    assert_eq!(entry.route, Route::PostMessage);
    assert_eq!(entry.status, Some(200));
    assert!(entry.committed && !entry.replayed);
    assert_eq!(entry.message_id, Some(5));
    assert_eq!(entry.event_ids, vec![1]);

    // Ids keep increasing; the text is kept as sent.
    let res = post(&server, 1, "key-2", "  spaced out  ").await.unwrap();
    let m: Message = res.json().await.unwrap();
    assert_eq!((m.id, m.chat_id, m.author), (6, 1, Author::User));
    assert_eq!(m.text, "  spaced out  ");
}

#[tokio::test]
async fn post_accepts_json_content_types_extra_fields_and_no_content_type() {
    let server = quiet().start().await;
    let cases = [
        Req::text("/chats/1/messages", "a", "plain"),
        Req::text("/chats/1/messages", "b", "charset")
            .header("content-type", "application/json; charset=utf-8"),
        Req::text("/chats/1/messages", "c", "case").header("content-type", "Application/JSON"),
        Req::text("/chats/1/messages", "d", "suffix")
            .header("content-type", "application/vnd.chat+json"),
        Req::text("/chats/1/messages", "e", "none").without_header("content-type"),
        Req::post(
            "/chats/1/messages",
            "f",
            r#"{"text": "extra", "mood": "happy"}"#,
        ),
        Req::post(
            "/chats/1/messages",
            "g",
            " \n {\"text\":\"spaces around\"} \n",
        ),
    ];
    for (i, req) in cases.iter().enumerate() {
        let (status, _, body) = parts(req.send(&server).await).await;
        assert_eq!(status, 200, "case {i}: {}", String::from_utf8_lossy(&body));
    }
    let texts: Vec<String> = server
        .messages(1)
        .into_iter()
        .skip(1)
        .map(|m| m.text)
        .collect();
    assert_eq!(
        texts,
        [
            "plain",
            "charset",
            "case",
            "suffix",
            "none",
            "extra",
            "spaces around"
        ]
    );
}

#[tokio::test]
async fn text_length_is_counted_in_characters() {
    let server = quiet().start().await;
    for (i, (text, ok)) in [
        ("a".repeat(10_000), true),
        ("é".repeat(10_000), true),
        ("🦀".repeat(10_000), true),
        ("a".repeat(10_001), false),
        ("é".repeat(10_001), false),
    ]
    .into_iter()
    .enumerate()
    {
        let before = all_messages(&server);
        let res = post(&server, 1, &format!("len-{i}"), &text).await.unwrap();
        if ok {
            assert_eq!(res.status(), 200, "case {i}");
            let m: Message = res.json().await.unwrap();
            assert_eq!(m.text, text);
        } else {
            assert_error(res, 413, "text_too_long").await;
            assert_eq!(all_messages(&server), before, "case {i} stored something");
        }
        assert_still_serving(&server).await;
    }
    assert_eq!(server.messages(1).len(), 4);
}

#[tokio::test]
async fn body_size_limit_is_64_kib() {
    let server = quiet().start().await;
    // Valid JSON padded with whitespace to an exact size.
    let padded = |len: usize| {
        let mut body = br#"{"text":"padded"}"#.to_vec();
        body.resize(len, b' ');
        body
    };
    let before = all_messages(&server);
    let res = Req::post("/chats/1/messages", "big", padded(64 * 1024 + 1))
        .send(&server)
        .await;
    assert_error(res, 413, "body_too_large").await;
    assert_nothing_stored(&server, &before, "content-length over the limit");
    assert_still_serving(&server).await;

    // The same without Content-Length (chunked): counted while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(padded(40 * 1024)), Ok(vec![b' '; 40 * 1024])];
    let res = client()
        .post(server.url("/chats/1/messages"))
        .header("idempotency-key", "big")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_error(res, 413, "body_too_large").await;
    assert_nothing_stored(&server, &before, "chunked body over the limit");
    assert_still_serving(&server).await;

    // Exactly 64 KiB is fine, and the key was never used by the rejections.
    let res = Req::post("/chats/1/messages", "big", padded(64 * 1024))
        .send(&server)
        .await;
    let (status, replayed, _) = parts(res).await;
    assert_eq!((status, replayed), (200, None));
    assert_eq!(server.messages(1).last().unwrap().text, "padded");
}

// ------------------------------------------------------------ bad input table

/// Every row of the SPEC's bad-input table, on one server: exact status and
/// code, a JSON body, nothing stored or published, the server keeps serving.
#[tokio::test]
async fn every_bad_input_gets_its_json_error_and_stores_nothing() {
    let server = quiet().start().await;
    let mut events = common::sse(&server, None).await;
    let before = all_messages(&server);
    let msgs = |id: &str| format!("/chats/{id}/messages");
    let ok = |id: &str| Req::text(msgs(id), "table-key", "hello");
    let body = |b: &[u8]| Req::post(msgs("1"), "table-key", b.to_vec());

    let mut cases: Vec<(String, Req, u16, &str)> = Vec::new();
    let mut case = |name: &str, req: Req, status: u16, code: &'static str| {
        cases.push((name.to_string(), req, status, code));
    };
    for id in [
        "abc",
        "-1",
        "0",
        "+1",
        "1.5",
        "1e3",
        "99999999999999999999",
        "",
    ] {
        case(
            &format!("GET chat id {id:?}"),
            Req::get(msgs(id)),
            400,
            "invalid_chat_id",
        );
        case(
            &format!("POST chat id {id:?}"),
            ok(id),
            400,
            "invalid_chat_id",
        );
    }
    for id in ["5", "99", "18446744073709551615"] {
        case(
            &format!("GET chat {id}"),
            Req::get(msgs(id)),
            404,
            "chat_not_found",
        );
        case(&format!("POST chat {id}"), ok(id), 404, "chat_not_found");
    }
    for b in [
        &b"not json"[..],
        b"",
        b"{",
        b"[1, 2]",
        b"\"text\"",
        b"null",
        b"42",
        br#"{"txt": "hello"}"#,
        br#"{"text": 5}"#,
        br#"{"text": null}"#,
        br#"{"text": ["hello"]}"#,
        br#"{"text": {"text": "hello"}}"#,
        br#"{"text": "hello"} trailing"#,
        b"\xff\xfe{}",
    ] {
        let name = format!("body {:?}", String::from_utf8_lossy(b));
        case(&name, body(b), 400, "invalid_body");
    }
    for t in ["", " ", "\n\t ", "\u{a0}\u{3000}"] {
        case(
            &format!("text {t:?}"),
            Req::text(msgs("1"), "table-key", t),
            400,
            "empty_text",
        );
    }
    case(
        "text of 10,001 characters",
        Req::text(msgs("1"), "table-key", &"x".repeat(10_001)),
        413,
        "text_too_long",
    );
    let mut big = br#"{"text":"hi"}"#.to_vec();
    big.resize(70_000, b' ');
    case("body over 64 KiB", body(&big), 413, "body_too_large");
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/jsonp",
        "application/xml",
    ] {
        case(
            &format!("content type {ct}"),
            ok("1").header("content-type", ct),
            415,
            "unsupported_media_type",
        );
    }
    case(
        "no idempotency key",
        ok("1").without_header("idempotency-key"),
        400,
        "missing_idempotency_key",
    );
    for key in ["", "   "] {
        case(
            &format!("idempotency key {key:?}"),
            ok("1").header("idempotency-key", key),
            400,
            "missing_idempotency_key",
        );
    }
    case(
        "idempotency key of 256 characters",
        ok("1").header("idempotency-key", "k".repeat(256)),
        400,
        "invalid_idempotency_key",
    );
    for path in ["/events", "/events?foo=bar", "/events?streams=messages"] {
        case(path, Req::get(path), 400, "missing_stream");
    }
    for path in ["/events?stream=chats", "/events?stream=messages2"] {
        case(path, Req::get(path), 404, "stream_not_found");
    }
    for path in [
        "/",
        "/nope",
        "/chat",
        "/chats/1",
        "/chats/",
        "/chats/1/messages/",
        "/chats/1/messages/extra",
        "/events/messages",
        "/__admin/seed",
    ] {
        case(&format!("GET {path}"), Req::get(path), 404, "not_found");
    }
    case(
        "POST /nope",
        Req::text("/nope", "table-key", "hi"),
        404,
        "not_found",
    );
    for (method, path) in [
        ("POST", "/chats"),
        ("DELETE", "/chats"),
        ("PUT", "/chats/1/messages"),
        ("DELETE", "/chats/1/messages"),
        ("PATCH", "/chats/1/messages"),
        ("POST", "/events?stream=messages"),
        ("DELETE", "/events"),
    ] {
        case(
            &format!("{method} {path}"),
            Req::method(method, path),
            405,
            "method_not_allowed",
        );
    }
    for query in ["limit=0", "limit=101", "limit=x", "before=0", "before=x"] {
        let path = format!("/chats/1/messages?{query}");
        case(&path.clone(), Req::get(path), 400, "invalid_query");
    }

    for (name, req, status, code) in &cases {
        let res = req.send(&server).await;
        if *status == 405 {
            let allow = res
                .headers()
                .get("allow")
                .unwrap_or_else(|| panic!("{name}: no Allow header"))
                .to_str()
                .unwrap()
                .to_string();
            let expected = if req.path.starts_with("/chats/") {
                "GET, POST"
            } else {
                "GET"
            };
            assert_eq!(allow, expected, "{name}");
        }
        assert_error(res, *status, code).await;
        assert_nothing_stored(&server, &before, name);
        assert_still_serving(&server).await;
    }
    assert!(cases.len() > 70, "{}", cases.len());
    assert_eq!(server.subscriber_count(), 1, "no SSE stream was left open");

    // Nothing was published either: the first event is the one after.
    let res = post(&server, 1, "table-key", "finally").await.unwrap();
    assert_eq!(res.status(), 200, "the key was never taken by a rejection");
    let e = next_events(&mut events, 1).await;
    assert_eq!(e[0].id, "1");
    assert_eq!(common::message_of(&e[0]).text, "finally");
}

// ---------------------------------------------------------------- idempotency

#[tokio::test]
async fn a_replay_is_byte_identical_and_changes_nothing() {
    let server = MockChatServer::builder()
        .seed(5)
        .bot(BotBehavior::Echo)
        .bot_delay(Delay::Fixed(20))
        .start()
        .await;
    let mut sub = server.subscribe();
    let mut events = common::sse(&server, None).await;

    let (status, replayed, first) = parts(post(&server, 1, "k1", "hi").await.unwrap()).await;
    assert_eq!((status, replayed), (200, None));
    let original: Message = serde_json::from_slice(&first).unwrap();
    assert_eq!(next_within(&mut sub).await, original);
    let answer = next_within(&mut sub).await;
    assert_eq!((answer.author, answer.text.as_str()), (Author::Bot, "hi"));

    let replays = [
        Req::text("/chats/1/messages", "k1", "hi"),
        // Same chat and text in another JSON spelling is the same request.
        Req::post(
            "/chats/1/messages",
            "k1",
            r#"{ "text" : "hi", "extra": true }"#,
        ),
        Req::text("/chats/1/messages", "k1", "hi").without_header("content-type"),
    ];
    for req in &replays {
        let res = req.send(&server).await;
        assert_eq!(res.headers()["content-type"], "application/json");
        let (status, replayed, body) = parts(res).await;
        assert_eq!(status, 200);
        assert_eq!(replayed.as_deref(), Some("true"));
        assert_eq!(body, first, "the replay is byte-identical");
    }

    // A sentinel: had a replay stored, published or scheduled anything, it
    // would come first (bot answers have a fixed delay, so they keep order).
    let (status, _, body) = parts(post(&server, 1, "k2", "sentinel").await.unwrap()).await;
    assert_eq!(status, 200);
    let sentinel: Message = serde_json::from_slice(&body).unwrap();
    assert_eq!(next_within(&mut sub).await, sentinel);
    let echo = next_within(&mut sub).await;
    assert_eq!((echo.author, echo.text.as_str()), (Author::Bot, "sentinel"));
    let texts: Vec<String> = server.messages(1).into_iter().map(|m| m.text).collect();
    assert_eq!(
        texts,
        ["Welcome! Say hi.", "hi", "hi", "sentinel", "sentinel"]
    );

    let ids: Vec<String> = next_events(&mut events, 4)
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4"], "one event per stored message");

    let replayed: Vec<_> = server
        .journal()
        .into_iter()
        .filter(|e| e.replayed)
        .collect();
    assert_eq!(replayed.len(), 3);
    for e in replayed {
        assert!(!e.committed && e.event_ids.is_empty());
        assert_eq!(e.message_id, Some(original.id));
    }
    assert_eq!(common::bot_answer_count(&server), 2);
}

#[tokio::test]
async fn reusing_a_key_with_another_text_or_chat_is_422() {
    let server = quiet().start().await;
    let (status, _, first) = parts(post(&server, 1, "k", "a").await.unwrap()).await;
    assert_eq!(status, 200);
    let before = all_messages(&server);
    for (chat, text) in [(1, "b"), (2, "a"), (2, "b"), (1, "a ")] {
        let res = post(&server, chat, "k", text).await.unwrap();
        assert_error(res, 422, "idempotency_key_reused").await;
        assert_eq!(all_messages(&server), before, "chat {chat} text {text:?}");
    }
    // The original is still replayed.
    let (status, replayed, body) = parts(post(&server, 1, "k", "a").await.unwrap()).await;
    assert_eq!((status, replayed.as_deref()), (200, Some("true")));
    assert_eq!(body, first);
}

#[tokio::test]
async fn idempotency_keys_must_be_present_and_at_most_255_characters() {
    let server = quiet().start().await;
    let before = all_messages(&server);
    for req in [
        Req::text("/chats/1/messages", "x", "hi").without_header("idempotency-key"),
        Req::text("/chats/1/messages", "", "hi"),
        Req::text("/chats/1/messages", " \t ", "hi"),
    ] {
        assert_error(req.send(&server).await, 400, "missing_idempotency_key").await;
    }
    let long = "k".repeat(256);
    assert_error(
        Req::text("/chats/1/messages", &long, "hi")
            .send(&server)
            .await,
        400,
        "invalid_idempotency_key",
    )
    .await;
    // Header bytes that are not visible ASCII cannot be compared reliably.
    assert_error(
        Req::text("/chats/1/messages", "x", "hi")
            .header("idempotency-key", b"caf\xc3\xa9".to_vec())
            .send(&server)
            .await,
        400,
        "invalid_idempotency_key",
    )
    .await;
    assert_nothing_stored(&server, &before, "rejected keys");

    let max = "k".repeat(255);
    let res = post(&server, 1, &max, "hi").await.unwrap();
    assert_eq!(res.status(), 200);
    let m: Message = res.json().await.unwrap();
    assert_eq!(m.idempotency_key, max, "the key is echoed as sent");
    let res = post(&server, 1, "Key-With.Symbols_~!@#$%^&*()", "hi")
        .await
        .unwrap();
    let m: Message = res.json().await.unwrap();
    assert_eq!(m.idempotency_key, "Key-With.Symbols_~!@#$%^&*()");
}

#[tokio::test]
async fn rejected_requests_store_nothing_so_the_key_can_be_retried() {
    let server = quiet().time_scale(0.01).start().await;
    let before = all_messages(&server);
    let path = "/chats/1/messages";
    let rejections = [
        (Req::text(path, "K", " "), 400, "empty_text"),
        (Req::post(path, "K", "oops"), 400, "invalid_body"),
        (
            Req::text(path, "K", "hi").header("content-type", "text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            Req::text(path, "K", &"x".repeat(10_001)),
            413,
            "text_too_long",
        ),
        (
            Req::text("/chats/77/messages", "K", "other chat"),
            404,
            "chat_not_found",
        ),
    ];
    for (req, status, code) in &rejections {
        assert_error(req.send(&server).await, *status, code).await;
    }
    // Faults injected before commit store nothing either.
    server.force(Route::PostMessage, Fault::Unavailable);
    assert_error(
        post(&server, 1, "K", "x").await.unwrap(),
        503,
        "unavailable",
    )
    .await;
    server.force(Route::PostMessage, Fault::timeout()); // 5 s scaled to 50 ms
    assert_error(post(&server, 1, "K", "y").await.unwrap(), 504, "timeout").await;
    server.force(Route::PostMessage, Fault::DropBeforeCommit);
    assert!(
        post(&server, 1, "K", "z").await.is_err(),
        "connection dropped"
    );
    assert_nothing_stored(&server, &before, "rejections");

    // Each rejection used the key with another text or chat: none of them
    // was remembered, so this is a fresh request, not a 422.
    let (status, replayed, body) = parts(post(&server, 1, "K", "at last").await.unwrap()).await;
    assert_eq!((status, replayed), (200, None));
    let (status, replayed, again) = parts(post(&server, 1, "K", "at last").await.unwrap()).await;
    assert_eq!((status, replayed.as_deref()), (200, Some("true")));
    assert_eq!(body, again);
    assert_eq!(server.messages(1).len(), 2);
}

fn spawn_post(
    url: String,
    key: &'static str,
    text: &'static str,
) -> tokio::task::JoinHandle<(u16, Option<String>, Bytes)> {
    tokio::spawn(async move {
        let res = client()
            .post(url)
            .header("idempotency-key", key)
            .json(&json!({ "text": text }))
            .send()
            .await
            .expect("POST");
        parts(res).await
    })
}

#[tokio::test]
async fn a_key_in_flight_is_409_for_the_same_request_and_422_for_another() {
    // Every POST is held after commit for an hour (scaled to 36 s): the
    // first request stays in flight until the server shuts down.
    let mut plan = FaultPlan::none();
    plan.post_message.latency_after = Delay::Fixed(3_600_000);
    let server = quiet().faults(plan).time_scale(0.01).start().await;
    let mut sub = server.subscribe();
    let first = spawn_post(server.url("/chats/1/messages"), "busy", "hello");

    // Synchronise on the commit, not on time.
    let committed = next_within(&mut sub).await;
    assert_eq!(committed.text, "hello");
    assert_eq!(server.messages(1).last(), Some(&committed));
    assert!(!first.is_finished());

    server.set_faults(FaultPlan::none()).unwrap();
    let res = post(&server, 1, "busy", "hello").await.unwrap();
    assert_error(res, 409, "idempotency_key_in_use").await;
    let res = post(&server, 1, "busy", "hello").await.unwrap();
    assert_error(res, 409, "idempotency_key_in_use").await;
    let res = post(&server, 1, "busy", "another text").await.unwrap();
    assert_error(res, 422, "idempotency_key_reused").await;
    let res = post(&server, 2, "busy", "hello").await.unwrap();
    assert_error(res, 422, "idempotency_key_reused").await;
    // Other keys are not blocked.
    let res = post(&server, 1, "free", "meanwhile").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(server.messages(1).len(), 3, "fixture, hello, meanwhile");
    let in_use: Vec<_> = server
        .journal()
        .into_iter()
        .filter(|e| e.status == Some(409))
        .collect();
    assert_eq!(in_use.len(), 2);
    assert!(in_use
        .iter()
        .all(|e| !e.committed && e.message_id.is_none()));
    assert!(!first.is_finished());

    // Shutting down cuts the held delay short; the first request gets its 200.
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("shutdown");
    let (status, replayed, body) = tokio::time::timeout(PATIENCE, first)
        .await
        .expect("first request")
        .unwrap();
    assert_eq!((status, replayed), (200, None));
    assert_eq!(serde_json::from_slice::<Message>(&body).unwrap(), committed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_posts_with_one_key_make_one_message() {
    // A short hold after commit, so that some requests find the key in
    // flight (409) and others find it done (replay).
    let mut plan = FaultPlan::none();
    plan.post_message.latency_after = Delay::Fixed(50);
    let server = MockChatServer::builder()
        .seed(32)
        .faults(plan)
        .bot(BotBehavior::Echo)
        .bot_delay(Delay::Fixed(30))
        .start()
        .await;
    let mut events = common::sse(&server, None).await;
    let url = server.url("/chats/3/messages");
    let tasks: Vec<_> = (0..32)
        .map(|_| spawn_post(url.clone(), "the-one-key", "only once"))
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(tokio::time::timeout(PATIENCE, t).await.unwrap().unwrap());
    }

    let ok: Vec<_> = answers.iter().filter(|(s, _, _)| *s == 200).collect();
    let fresh = ok.iter().filter(|(_, r, _)| r.is_none()).count();
    assert_eq!(fresh, 1, "exactly one request committed");
    let body = &ok[0].2;
    for (status, replayed, b) in &answers {
        match status {
            200 => {
                assert_eq!(b, body, "every 200 is byte-identical");
                assert!(replayed.is_none() || replayed.as_deref() == Some("true"));
            }
            409 => {
                let v: Value = serde_json::from_slice(b).unwrap();
                assert_eq!(v["error"]["code"], "idempotency_key_in_use");
            }
            other => panic!("unexpected status {other}: {}", String::from_utf8_lossy(b)),
        }
    }
    // A second wave, after the first is done: 32 concurrent replays.
    let tasks: Vec<_> = (0..32)
        .map(|_| spawn_post(url.clone(), "the-one-key", "only once"))
        .collect();
    for t in tasks {
        let (status, replayed, b) = tokio::time::timeout(PATIENCE, t).await.unwrap().unwrap();
        assert_eq!((status, replayed.as_deref()), (200, Some("true")));
        assert_eq!(&b, body);
    }

    let msg: Message = serde_json::from_slice(body).unwrap();
    let stored: Vec<Message> = server
        .messages(3)
        .into_iter()
        .filter(|m| m.author == Author::User)
        .collect();
    assert_eq!(stored, vec![msg.clone()]);
    let committed = server
        .journal()
        .iter()
        .filter(|e| e.kind == EntryKind::Request && e.committed)
        .count();
    assert_eq!(committed, 1);

    // The SSE stream: the message once, its bot answer once, then a sentinel
    // injected after the answer arrived.
    let e = next_events(&mut events, 2).await;
    assert_eq!(common::message_of(&e[0]), msg);
    let answer = common::message_of(&e[1]);
    assert_eq!(
        (answer.author, answer.text.as_str()),
        (Author::Bot, "only once")
    );
    let sentinel = server.inject_message(3, Author::Bot, "sentinel").unwrap();
    let e = next_events(&mut events, 1).await;
    assert_eq!(common::message_of(&e[0]), sentinel);
    assert_eq!(e[0].id, "3", "exactly two events came before the sentinel");
    let bot_answers = server
        .messages(3)
        .iter()
        .filter(|m| m.author == Author::Bot && m.text == "only once")
        .count();
    assert_eq!(bot_answers, 1);
}

#[tokio::test]
async fn the_key_table_keeps_at_most_key_capacity_keys() {
    let server = quiet().key_capacity(3).start().await;
    let mut bodies = Vec::new();
    for i in 0..5 {
        let (status, _, body) = parts(
            post(&server, 1, &format!("k{i}"), &format!("t{i}"))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        bodies.push(body);
    }
    // The three most recent keys are remembered...
    for i in [4, 3, 2] {
        let (status, replayed, body) = parts(
            post(&server, 1, &format!("k{i}"), &format!("t{i}"))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (status, replayed.as_deref()),
            (200, Some("true")),
            "k{i} should still be remembered"
        );
        assert_eq!(body, bodies[i]);
    }
    assert_eq!(server.messages(1).len(), 6, "no replay stored anything");
    // ...and the oldest were forgotten: the key is free for another text.
    let (status, replayed, body) = parts(post(&server, 1, "k0", "new text").await.unwrap()).await;
    assert_eq!((status, replayed), (200, None));
    assert_eq!(
        serde_json::from_slice::<Message>(&body).unwrap().text,
        "new text"
    );
    assert_eq!(server.messages(1).len(), 7);
}

#[tokio::test]
async fn keys_are_forgotten_after_the_retention() {
    let server = quiet().key_retention(Duration::ZERO).start().await;
    let a: Message = post(&server, 1, "k", "same")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let res = post(&server, 1, "k", "same").await.unwrap();
    assert!(res.headers().get("idempotent-replayed").is_none());
    let b: Message = res.json().await.unwrap();
    assert_ne!(a.id, b.id, "an expired key starts a new request");
    assert_eq!(server.messages(1).len(), 3);

    // With the default retention the same requests are replayed.
    let server = quiet().start().await;
    let a: Message = post(&server, 1, "k", "same")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b: Message = post(&server, 1, "k", "same")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(a, b);
}

#[tokio::test]
async fn subscribe_yields_each_stored_message_once() {
    let server = quiet().start().await;
    let mut sub = server.subscribe();
    server.force_duplicates(3);
    let a: Message = post(&server, 1, "a", "one")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = server.inject_message(2, Author::User, "two").unwrap();
    assert_eq!(next_within(&mut sub).await, a);
    assert_eq!(
        next_within(&mut sub).await,
        b,
        "chaos copies are not repeated"
    );
    drop(server);
    assert!(
        tokio::time::timeout(PATIENCE, sub.next())
            .await
            .unwrap()
            .is_none(),
        "the stream ends with the server"
    );
}
