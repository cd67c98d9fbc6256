//! The `/__admin/` API end to end over HTTP: every endpoint, its bad input,
//! off by default, and the promise that admin requests never change what a
//! seed reproduces.

mod common;

use std::time::Duration;

use chrono::TimeZone;
use common::{assert_error, client, get_json, message_of, next_events, sse};
use mock_chat_server::{
    BotBehavior, Chat, Clock, EntryKind, Fault, FaultPlan, JournalEntry, Message, MockChatServer,
    MockChatServerBuilder, RecordedRequest, Route,
};
use reqwest::Method;
use serde_json::{json, Value};

fn admin_builder() -> MockChatServerBuilder {
    MockChatServer::builder()
        .seed(11)
        .admin_api(true)
        .bot(BotBehavior::Silent)
        .time_scale(0.01)
}

async fn admin_server() -> MockChatServer {
    admin_builder().start().await
}

/// Sends `method path` with `body` as JSON text (not re-encoded, so invalid
/// JSON can be sent too).
async fn send(
    server: &MockChatServer,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> reqwest::Response {
    let mut req = client().request(method, server.url(path));
    if let Some(body) = body {
        req = req
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    req.send().await.expect("admin request")
}

async fn ok_json(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200, "{:?}", res.url().path());
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.expect("JSON answer")
}

/// Everything an admin request could change, as the handle sees it.
fn snapshot(server: &MockChatServer) -> (Vec<Chat>, Vec<Vec<Message>>, FaultPlan) {
    let chats = server.chats();
    let messages = chats.iter().map(|c| server.messages(c.id)).collect();
    (chats, messages, server.faults())
}

#[tokio::test]
async fn admin_api_is_off_by_default_and_looks_like_any_unknown_path() {
    for server in [
        MockChatServer::builder().seed(1).start().await,
        MockChatServer::builder()
            .seed(1)
            .admin_api(false)
            .start()
            .await,
    ] {
        let before = snapshot(&server);
        for (method, path, body) in [
            (Method::POST, "/__admin/reset", None),
            (Method::POST, "/__admin/chats", Some(r#"{"name":"x"}"#)),
            (
                Method::POST,
                "/__admin/chats/1/messages",
                Some(r#"{"text":"x"}"#),
            ),
            (
                Method::POST,
                "/__admin/faults",
                Some(r#"{"route":"get_chats","fault":"unavailable"}"#),
            ),
            (
                Method::PUT,
                "/__admin/faults",
                Some(r#"{"preset":"hostile"}"#),
            ),
            (Method::GET, "/__admin/faults", None),
            (Method::GET, "/__admin/journal", None),
            (Method::GET, "/__admin/requests", None),
            (Method::GET, "/__admin/seed", None),
            // Wrong methods too: 404, not 405, so nothing reveals the API.
            (Method::DELETE, "/__admin/seed", None),
        ] {
            let res = send(&server, method.clone(), path, body).await;
            assert_error(res, 404, "not_found").await;
        }
        assert_eq!(snapshot(&server), before);
        let res = client().get(server.url("/chats")).send().await.unwrap();
        assert_eq!(res.status(), 200, "no fault was forced");
    }
}

#[tokio::test]
async fn unknown_admin_paths_are_404_and_wrong_methods_405() {
    let server = admin_server().await;
    for path in [
        "/__admin",
        "/__admin/",
        "/__admin/nope",
        "/__admin/seed/",
        "/__admin/chats/1",
        "/__admin/chats/1/messages/2",
    ] {
        let res = send(&server, Method::GET, path, None).await;
        assert_error(res, 404, "not_found").await;
    }
    for (method, path, allow) in [
        (Method::GET, "/__admin/reset", "POST"),
        (Method::GET, "/__admin/chats", "POST"),
        (Method::DELETE, "/__admin/chats", "POST"),
        (Method::GET, "/__admin/chats/1/messages", "POST"),
        (Method::DELETE, "/__admin/faults", "GET, POST, PUT"),
        (Method::PATCH, "/__admin/faults", "GET, POST, PUT"),
        (Method::POST, "/__admin/journal", "GET"),
        (Method::DELETE, "/__admin/requests", "GET"),
        (Method::PUT, "/__admin/seed", "GET"),
    ] {
        let res = send(&server, method.clone(), path, None).await;
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        assert_error(res, 405, "method_not_allowed").await;
    }
}

#[tokio::test]
async fn reset_restores_fixtures_and_clears_everything() {
    let server = admin_server().await;
    let pristine = snapshot(&server);
    let res = common::post(&server, 1, "r-1", "before reset")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    server.add_chat("Temporary");
    server.force(Route::GetChats, Fault::Unavailable);
    let mut events = sse(&server, None).await;

    let body = ok_json(send(&server, Method::POST, "/__admin/reset", None).await).await;
    assert_eq!(body, json!({"reset": true}));

    // Fixtures back (the fixed-clock-free parts), forced faults gone, SSE
    // subscribers disconnected, the journal and the request log cleared.
    let (chats, messages, plan) = snapshot(&server);
    assert_eq!(chats, pristine.0);
    let texts = |m: &Vec<Vec<Message>>| -> Vec<Vec<String>> {
        m.iter()
            .map(|c| c.iter().map(|m| m.text.clone()).collect())
            .collect()
    };
    assert_eq!(texts(&messages), texts(&pristine.1));
    assert_eq!(plan, pristine.2);
    let end = tokio::time::timeout(common::PATIENCE, futures::StreamExt::next(&mut events)).await;
    assert!(
        matches!(end, Ok(None)),
        "SSE stream not closed by the reset"
    );
    assert!(server.journal().is_empty());
    assert!(server.received_requests().is_empty());
    let (status, _) = get_json(&server, "/chats").await;
    assert_eq!(status, 200, "the forced fault was cleared");
    // The idempotency key is forgotten: the same key stores a new message.
    let res = common::post(&server, 1, "r-1", "before reset")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn create_chat_and_its_bad_input() {
    let server = admin_server().await;
    let body = ok_json(
        send(
            &server,
            Method::POST,
            "/__admin/chats",
            Some(r#"{"name":"Team"}"#),
        )
        .await,
    )
    .await;
    assert_eq!(body, json!({"id": 5, "name": "Team"}));
    let (_, chats) = get_json(&server, "/chats").await;
    assert_eq!(chats[4], json!({"id": 5, "name": "Team"}));
    // The new chat is usable like any other.
    let res = common::post(&server, 5, "c-1", "hi team").await.unwrap();
    assert_eq!(res.status(), 200);

    let before = snapshot(&server);
    let long = format!(r#"{{"name":"{}"}}"#, "n".repeat(201));
    for (body, status, code) in [
        ("{", 400, "invalid_body"),
        ("", 400, "invalid_body"),
        ("[]", 400, "invalid_body"),
        (r#""Team""#, 400, "invalid_body"),
        ("{}", 400, "invalid_body"),
        (r#"{"name": 7}"#, 400, "invalid_body"),
        (r#"{"name":"A","colour":"red"}"#, 400, "invalid_body"),
        (r#"{"name":""}"#, 400, "invalid_name"),
        (r#"{"name":"   "}"#, 400, "invalid_name"),
        (long.as_str(), 400, "invalid_name"),
    ] {
        let res = send(&server, Method::POST, "/__admin/chats", Some(body)).await;
        assert_error(res, status, code).await;
    }
    // A form body (what `curl -d` sends without a Content-Type header).
    let res = client()
        .post(server.url("/__admin/chats"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(r#"{"name":"Team"}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "unsupported_media_type").await;
    assert_eq!(snapshot(&server), before);
    // No Content-Type at all is accepted, like on the public API.
    let res = client()
        .post(server.url("/__admin/chats"))
        .body(r#"{"name":"No header"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(ok_json(res).await["id"], 6);
}

#[tokio::test]
async fn inject_message_is_stored_and_published() {
    let server = admin_server().await;
    let mut events = sse(&server, None).await;
    let bot = ok_json(
        send(
            &server,
            Method::POST,
            "/__admin/chats/2/messages",
            Some(r#"{"author":"bot","text":"Injected by the UI test"}"#),
        )
        .await,
    )
    .await;
    assert_eq!(bot["author"], "bot");
    assert_eq!(bot["chat_id"], 2);
    assert_eq!(bot["text"], "Injected by the UI test");
    let key = bot["idempotency_key"].as_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(key).unwrap().get_version_num(), 4);
    // author defaults to bot; user is allowed too.
    let default = ok_json(
        send(
            &server,
            Method::POST,
            "/__admin/chats/2/messages",
            Some(r#"{"text":"who am I"}"#),
        )
        .await,
    )
    .await;
    assert_eq!(default["author"], "bot");
    let user = ok_json(
        send(
            &server,
            Method::POST,
            "/__admin/chats/3/messages",
            Some(r#"{"author":"user","text":"as if typed"}"#),
        )
        .await,
    )
    .await;
    assert_eq!(user["author"], "user");

    // Published on SSE, byte for byte what the answer said, in order.
    let got = next_events(&mut events, 3).await;
    let data: Vec<Value> = got
        .iter()
        .map(|e| serde_json::from_str(&e.data).unwrap())
        .collect();
    assert_eq!(data, vec![bot.clone(), default.clone(), user.clone()]);
    // Journalled as injections, not as requests on a route.
    let injected: Vec<JournalEntry> = server
        .journal()
        .into_iter()
        .filter(|e| e.kind == EntryKind::Injected)
        .collect();
    assert_eq!(injected.len(), 3);
    assert!(server
        .journal()
        .iter()
        .all(|e| e.kind != EntryKind::Request));
    // Stored: history ends with them.
    let (_, history) = get_json(&server, "/chats/2/messages").await;
    let history = history.as_array().unwrap();
    assert_eq!(history[history.len() - 2..], [bot, default]);

    // Bad input: nothing stored, nothing published.
    let before = snapshot(&server);
    let long = format!(r#"{{"text":"{}"}}"#, "x".repeat(10_001));
    for (path, body, status, code) in [
        (
            "/__admin/chats/99/messages",
            r#"{"text":"x"}"#,
            404,
            "chat_not_found",
        ),
        (
            "/__admin/chats/0/messages",
            r#"{"text":"x"}"#,
            400,
            "invalid_chat_id",
        ),
        (
            "/__admin/chats/abc/messages",
            r#"{"text":"x"}"#,
            400,
            "invalid_chat_id",
        ),
        ("/__admin/chats/1/messages", "{", 400, "invalid_body"),
        ("/__admin/chats/1/messages", "{}", 400, "invalid_body"),
        (
            "/__admin/chats/1/messages",
            r#"{"text":1}"#,
            400,
            "invalid_body",
        ),
        (
            "/__admin/chats/1/messages",
            r#"{"text":"x","at":1}"#,
            400,
            "invalid_body",
        ),
        (
            "/__admin/chats/1/messages",
            r#"{"author":"alien","text":"x"}"#,
            400,
            "invalid_body",
        ),
        (
            "/__admin/chats/1/messages",
            r#"{"text":""}"#,
            400,
            "empty_text",
        ),
        (
            "/__admin/chats/1/messages",
            r#"{"text":" \n\t"}"#,
            400,
            "empty_text",
        ),
        (
            "/__admin/chats/1/messages",
            long.as_str(),
            413,
            "text_too_long",
        ),
    ] {
        let res = send(&server, Method::POST, path, Some(body)).await;
        assert_error(res, status, code).await;
    }
    assert_eq!(snapshot(&server), before);
    // The next event on the stream is the next real message: nothing was
    // published by the refused requests.
    let marker = ok_json(
        send(
            &server,
            Method::POST,
            "/__admin/chats/1/messages",
            Some(r#"{"text":"marker"}"#),
        )
        .await,
    )
    .await;
    let next = next_events(&mut events, 1).await;
    assert_eq!(message_of(&next[0]).text, "marker");
    assert_eq!(marker["text"], "marker");
}

#[tokio::test]
async fn forced_json_faults_apply_to_the_next_requests_only() {
    let server = admin_server().await;
    let force = |body: &'static str| {
        let server = &server;
        async move { ok_json(send(server, Method::POST, "/__admin/faults", Some(body)).await).await }
    };
    // A string name, with a count.
    let answer = force(r#"{"route":"get_chats","fault":"unavailable","count":2}"#).await;
    assert_eq!(
        answer,
        json!({"route":"get_chats","fault":{"kind":"unavailable"},"queued":2})
    );
    for _ in 0..2 {
        let res = client().get(server.url("/chats")).send().await.unwrap();
        assert_error(res, 503, "unavailable").await;
    }
    assert_eq!(get_json(&server, "/chats").await.0, 200);

    // An object with parameters; the default count is 1. time_scale 0.01
    // turns 5000 ms into 50 ms.
    let answer =
        force(r#"{"route":"get_messages","fault":{"kind":"timeout","after_ms":5000}}"#).await;
    assert_eq!(answer["fault"], json!({"kind":"timeout","after_ms":5000}));
    assert_eq!(answer["queued"], 1);
    let res = client()
        .get(server.url("/chats/1/messages"))
        .send()
        .await
        .unwrap();
    assert_error(res, 504, "timeout").await;
    // "timeout" alone is the 5 s timeout.
    let answer = force(r#"{"route":"get_messages","fault":"timeout"}"#).await;
    assert_eq!(answer["fault"], json!({"kind":"timeout","after_ms":5000}));
    let res = client()
        .get(server.url("/chats/1/messages"))
        .send()
        .await
        .unwrap();
    assert_error(res, 504, "timeout").await;
    assert_eq!(get_json(&server, "/chats/1/messages").await.0, 200);

    // Dropped before commit: nothing stored, the retry is fresh.
    force(r#"{"route":"post_message","fault":"drop_before_commit"}"#).await;
    assert!(common::post(&server, 1, "f-1", "one").await.is_err());
    let res = common::post(&server, 1, "f-1", "one").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("idempotent-replayed").is_none());
    // Dropped after commit: stored, the retry is the replay.
    force(r#"{"route":"post_message","fault":{"kind":"drop_after_commit"}}"#).await;
    assert!(common::post(&server, 1, "f-2", "two").await.is_err());
    let res = common::post(&server, 1, "f-2", "two").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    // Truncated body: a 200 whose JSON is cut.
    force(r#"{"route":"get_chats","fault":"truncated_body"}"#).await;
    let res = client().get(server.url("/chats")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    assert!(text.starts_with('['), "{text}");

    // All of them are in the journal, marked forced.
    let forced: Vec<(Route, &'static str)> = server
        .journal()
        .iter()
        .filter(|e| e.forced)
        .map(|e| (e.route, e.fault.unwrap().name()))
        .collect();
    assert_eq!(
        forced,
        vec![
            (Route::GetChats, "unavailable"),
            (Route::GetChats, "unavailable"),
            (Route::GetMessages, "timeout"),
            (Route::GetMessages, "timeout"),
            (Route::PostMessage, "drop_before_commit"),
            (Route::PostMessage, "drop_after_commit"),
            (Route::GetChats, "truncated_body"),
        ]
    );
}

#[tokio::test]
async fn forced_stream_faults_and_duplicates() {
    let server = admin_server().await;
    let force = |body: &'static str| {
        let server = &server;
        async move { ok_json(send(server, Method::POST, "/__admin/faults", Some(body)).await).await }
    };
    let inject = |text: &'static str| {
        let server = &server;
        async move {
            let body = json!({ "text": text }).to_string();
            ok_json(
                send(
                    server,
                    Method::POST,
                    "/__admin/chats/1/messages",
                    Some(body.as_str()),
                )
                .await,
            )
            .await
        }
    };
    let mut events = sse(&server, None).await;

    // duplicate_event: a string means 2 copies; an object says how many.
    let answer = force(r#"{"route":"events","fault":"duplicate_event"}"#).await;
    assert_eq!(
        answer["fault"],
        json!({"kind":"duplicate_event","copies":2})
    );
    force(r#"{"route":"events","fault":{"kind":"duplicate_event","copies":3},"count":2}"#).await;
    let a = inject("a").await;
    let b = inject("b").await;
    let c = inject("c").await;
    let d = inject("d").await;
    let got = next_events(&mut events, 2 + 3 + 3 + 1).await;
    let ids: Vec<Value> = got
        .iter()
        .map(|e| serde_json::from_str::<Value>(&e.data).unwrap()["id"].clone())
        .collect();
    let expected: Vec<Value> = [(&a, 2), (&b, 3), (&c, 3), (&d, 1)]
        .iter()
        .flat_map(|(m, n)| std::iter::repeat(m["id"].clone()).take(*n))
        .collect();
    assert_eq!(ids, expected);
    // Each copy has its own event id (DuplicateIds::New).
    let event_ids: Vec<u64> = got.iter().map(|e| e.id.parse().unwrap()).collect();
    assert!(event_ids.windows(2).all(|w| w[0] < w[1]), "{event_ids:?}");
    let last_event_id = got.last().unwrap().id.clone();

    // stream_disconnect: the next connection is cut after one event.
    force(r#"{"route":"events","fault":"stream_disconnect"}"#).await;
    let mut cut = sse(&server, None).await;
    let e = inject("e").await;
    let first = next_events(&mut cut, 1).await;
    assert_eq!(serde_json::from_str::<Value>(&first[0].data).unwrap(), e);
    let end = tokio::time::timeout(common::PATIENCE, futures::StreamExt::next(&mut cut)).await;
    assert!(matches!(end, Ok(None)), "the stream was not cut");

    // resume_overlap: the resumed stream starts with the event it named.
    force(r#"{"route":"events","fault":"resume_overlap"}"#).await;
    let mut resumed = sse(&server, Some(&last_event_id)).await;
    let got = next_events(&mut resumed, 2).await;
    assert_eq!(got[0].id, last_event_id);
    assert_eq!(serde_json::from_str::<Value>(&got[0].data).unwrap(), d);
    assert_eq!(serde_json::from_str::<Value>(&got[1].data).unwrap(), e);
    // Without the force, a resume starts strictly after the id.
    let mut resumed = sse(&server, Some(&last_event_id)).await;
    let got = next_events(&mut resumed, 1).await;
    assert_eq!(serde_json::from_str::<Value>(&got[0].data).unwrap(), e);
}

#[tokio::test]
async fn bad_force_requests_are_refused_and_queue_nothing() {
    let server = admin_server().await;
    for (body, code) in [
        ("{", "invalid_body"),
        ("[]", "invalid_body"),
        (r#"{"fault":"unavailable"}"#, "invalid_body"),
        (r#"{"route":"get_chats"}"#, "invalid_body"),
        (
            r#"{"route":"put_chats","fault":"unavailable"}"#,
            "invalid_body",
        ),
        (
            r#"{"route":"get_chats","fault":"unavailable","when":"now"}"#,
            "invalid_body",
        ),
        (
            r#"{"route":"get_chats","fault":"unavailable","count":-1}"#,
            "invalid_body",
        ),
        (
            r#"{"route":"get_chats","fault":"unavailable","count":1e20}"#,
            "invalid_body",
        ),
        (
            r#"{"route":"get_chats","fault":"unavailable","count":5000000000}"#,
            "invalid_body",
        ),
        (
            r#"{"route":"get_chats","fault":"unavailable","count":0}"#,
            "invalid_count",
        ),
        (
            r#"{"route":"get_chats","fault":"unavailable","count":1001}"#,
            "invalid_count",
        ),
        (
            r#"{"route":"get_chats","fault":"explode"}"#,
            "invalid_fault",
        ),
        (
            r#"{"route":"get_chats","fault":"Unavailable"}"#,
            "invalid_fault",
        ),
        (r#"{"route":"get_chats","fault":7}"#, "invalid_fault"),
        (
            r#"{"route":"get_chats","fault":{"after_ms":5}}"#,
            "invalid_fault",
        ),
        (
            r#"{"route":"get_chats","fault":{"kind":"timeout","after_ms":-5}}"#,
            "invalid_fault",
        ),
        (
            r#"{"route":"get_chats","fault":{"kind":"timeout","after":5}}"#,
            "invalid_fault",
        ),
        (
            r#"{"route":"get_chats","fault":{"kind":"unavailable","extra":1}}"#,
            "invalid_fault",
        ),
        // Faults that cannot happen on the route.
        (
            r#"{"route":"get_chats","fault":"stream_disconnect"}"#,
            "invalid_fault",
        ),
        (
            r#"{"route":"post_message","fault":"resume_overlap"}"#,
            "invalid_fault",
        ),
        (
            r#"{"route":"events","fault":"unavailable"}"#,
            "invalid_fault",
        ),
        (r#"{"route":"events","fault":"timeout"}"#, "invalid_fault"),
        (
            r#"{"route":"events","fault":"drop_after_commit"}"#,
            "invalid_fault",
        ),
        // Absurd duplicate counts.
        (
            r#"{"route":"events","fault":{"kind":"duplicate_event","copies":0}}"#,
            "invalid_fault",
        ),
        (
            r#"{"route":"events","fault":{"kind":"duplicate_event","copies":101}}"#,
            "invalid_fault",
        ),
    ] {
        let res = send(&server, Method::POST, "/__admin/faults", Some(body)).await;
        assert_error(res, 400, code).await;
    }
    // The message names the problem.
    let res = send(
        &server,
        Method::POST,
        "/__admin/faults",
        Some(r#"{"route":"events","fault":"unavailable"}"#),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("unavailable") && message.contains("events"),
        "{message}"
    );

    // Nothing was queued: every route behaves, SSE delivers one copy.
    let mut events = sse(&server, None).await;
    assert_eq!(get_json(&server, "/chats").await.0, 200);
    assert_eq!(get_json(&server, "/chats/1/messages").await.0, 200);
    let res = common::post(&server, 1, "q-1", "first").await.unwrap();
    assert_eq!(res.status(), 200);
    let res = common::post(&server, 1, "q-2", "second").await.unwrap();
    assert_eq!(res.status(), 200);
    let got = next_events(&mut events, 2).await;
    assert_eq!(message_of(&got[0]).text, "first");
    assert_eq!(message_of(&got[1]).text, "second");
    assert!(server
        .journal()
        .iter()
        .all(|e| !e.forced && e.fault.is_none()));
}

#[tokio::test]
async fn replace_and_read_the_plan() {
    let server = admin_server().await;
    let plan0 = ok_json(send(&server, Method::GET, "/__admin/faults", None).await).await;
    assert_eq!(plan0, serde_json::to_value(FaultPlan::none()).unwrap());

    // A full plan; missing fields are calm.
    let answer = ok_json(
        send(
            &server,
            Method::PUT,
            "/__admin/faults",
            Some(r#"{"get_chats": {"unavailable": 1.0}}"#),
        )
        .await,
    )
    .await;
    let mut expected = FaultPlan::none();
    expected.get_chats.unavailable = 1.0;
    assert_eq!(answer, serde_json::to_value(&expected).unwrap());
    assert_eq!(server.faults(), expected);
    let read = ok_json(send(&server, Method::GET, "/__admin/faults", None).await).await;
    assert_eq!(read, answer);
    let res = client().get(server.url("/chats")).send().await.unwrap();
    assert_error(res, 503, "unavailable").await;
    // The plan's JSON round-trips through PUT.
    let hostile = FaultPlan::hostile().to_json();
    ok_json(send(&server, Method::PUT, "/__admin/faults", Some(&hostile)).await).await;
    assert_eq!(server.faults(), FaultPlan::hostile());
    // A preset by name.
    let answer = ok_json(
        send(
            &server,
            Method::PUT,
            "/__admin/faults",
            Some(r#"{"preset":"reference"}"#),
        )
        .await,
    )
    .await;
    assert_eq!(
        answer,
        serde_json::to_value(FaultPlan::reference()).unwrap()
    );
    assert_eq!(server.faults(), FaultPlan::reference());

    // Invalid plans change nothing.
    for (body, code) in [
        ("{", "invalid_body"),
        ("", "invalid_body"),
        ("[]", "invalid_plan"),
        (r#"{"preset":"wild"}"#, "invalid_plan"),
        (r#"{"preset":"none","get_chats":{}}"#, "invalid_plan"),
        (r#"{"preset":7}"#, "invalid_plan"),
        (r#"{"get_chats":{"unavailable":2}}"#, "invalid_plan"),
        (r#"{"get_chats":{"unavailable":-0.5}}"#, "invalid_plan"),
        (
            r#"{"get_chats":{"unavailable":0.6,"timeout":0.6}}"#,
            "invalid_plan",
        ),
        (r#"{"get_chats":{"nope":1}}"#, "invalid_plan"),
        (r#"{"post_chats":{}}"#, "invalid_plan"),
        (r#"{"events":{"copies_min":0}}"#, "invalid_plan"),
        (
            r#"{"events":{"copies_min":3,"copies_max":2}}"#,
            "invalid_plan",
        ),
        (r#"{"events":{"replay":"some"}}"#, "invalid_plan"),
    ] {
        let res = send(&server, Method::PUT, "/__admin/faults", Some(body)).await;
        assert_error(res, 400, code).await;
        assert_eq!(server.faults(), FaultPlan::reference(), "after {body}");
    }
    let res = send(
        &server,
        Method::PUT,
        "/__admin/faults",
        Some(r#"{"get_chats":{"unavailable":2}}"#),
    )
    .await;
    let body: Value = res.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("get_chats.unavailable"),
        "{body}"
    );

    // {"preset":"none"} calms everything.
    let answer = ok_json(
        send(
            &server,
            Method::PUT,
            "/__admin/faults",
            Some(r#"{"preset":"none"}"#),
        )
        .await,
    )
    .await;
    assert_eq!(answer, plan0);
    assert_eq!(server.faults(), FaultPlan::none());
    for _ in 0..20 {
        assert_eq!(get_json(&server, "/chats").await.0, 200);
    }
}

#[tokio::test]
async fn journal_requests_and_seed() {
    let server = admin_builder().seed(u64::MAX).start().await;
    let seed = ok_json(send(&server, Method::GET, "/__admin/seed", None).await).await;
    // JSON numbers lose precision in JavaScript above 2^53: the string is exact.
    assert_eq!(seed["seed_string"], "18446744073709551615");
    assert_eq!(seed["seed"].as_u64(), Some(u64::MAX));

    server.force(Route::PostMessage, Fault::Unavailable);
    let res = common::post(&server, 2, "j-1", "hello").await.unwrap();
    assert_eq!(res.status(), 503);
    let res = common::post(&server, 2, "j-1", "hello").await.unwrap();
    assert_eq!(res.status(), 200);
    let res = client()
        .get(server.url("/chats/2/messages?limit=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let journal = ok_json(send(&server, Method::GET, "/__admin/journal", None).await).await;
    let parsed: Vec<JournalEntry> = serde_json::from_value(journal.clone()).unwrap();
    assert_eq!(parsed, server.journal());
    assert_eq!(parsed.len(), 3);
    assert_eq!(journal[0]["seq"], 1);
    assert_eq!(journal[0]["kind"], "request");
    assert_eq!(journal[0]["route"], "post_message");
    assert_eq!(journal[0]["method"], "POST");
    assert_eq!(journal[0]["path"], "/chats/2/messages");
    assert_eq!(journal[0]["idempotency_key"], "j-1");
    assert_eq!(journal[0]["fault"], json!({"kind":"unavailable"}));
    assert_eq!(journal[0]["forced"], true);
    assert_eq!(journal[0]["status"], 503);
    assert_eq!(journal[0]["committed"], false);
    assert_eq!(journal[1]["k"], 1);
    assert_eq!(journal[1]["committed"], true);
    assert_eq!(journal[1]["fault"], Value::Null);
    assert!(journal[1]["message_id"].is_u64());
    assert_eq!(journal[1]["event_ids"], json!([1]));
    assert_eq!(journal[2]["route"], "get_messages");
    assert_eq!(journal[2]["path"], "/chats/2/messages?limit=1");

    let requests = ok_json(send(&server, Method::GET, "/__admin/requests", None).await).await;
    let requests: Vec<RecordedRequest> = serde_json::from_value(requests).unwrap();
    // Only the public requests, in order, with what the client sent: the
    // test's own admin calls are not recorded.
    assert!(requests.iter().all(|r| !r.path.starts_with("/__admin")));
    let public: Vec<&RecordedRequest> = requests.iter().collect();
    assert_eq!(public.len(), 3);
    assert_eq!(public[0].method, "POST");
    assert_eq!(public[0].path, "/chats/2/messages");
    assert_eq!(public[0].idempotency_key.as_deref(), Some("j-1"));
    assert_eq!(public[0].body, r#"{"text":"hello"}"#);
    assert_eq!(public[2].query.as_deref(), Some("limit=1"));
    assert!(requests.windows(2).all(|w| w[0].seq < w[1].seq));
    // The handle sees the same log.
    assert_eq!(requests, server.received_requests()[..requests.len()]);
}

#[tokio::test]
async fn admin_requests_never_draw_faults() {
    let server = admin_server().await;
    // Every JSON route always fails and is slow before failing.
    let mut plan = FaultPlan::none();
    for route in [Route::GetChats, Route::GetMessages, Route::PostMessage] {
        plan.route_mut(route).unavailable = 1.0;
    }
    server.set_faults(plan).unwrap();
    for (method, path, body) in [
        (Method::GET, "/__admin/seed", None),
        (Method::GET, "/__admin/journal", None),
        (Method::GET, "/__admin/requests", None),
        (Method::GET, "/__admin/faults", None),
        (Method::POST, "/__admin/chats", Some(r#"{"name":"Admin"}"#)),
        (
            Method::POST,
            "/__admin/chats/5/messages",
            Some(r#"{"text":"hi"}"#),
        ),
        (
            Method::POST,
            "/__admin/faults",
            Some(r#"{"route":"get_chats","fault":"truncated_body"}"#),
        ),
    ] {
        let res = send(&server, method, path, body).await;
        assert_eq!(res.status(), 200, "{path}");
    }
    assert!(server
        .journal()
        .iter()
        .all(|e| e.kind != EntryKind::Request));
    // The forced fault goes to the next *public* request, which the plan
    // would otherwise have failed with 503.
    let res = client().get(server.url("/chats")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let j = server.journal();
    let req = j.iter().find(|e| e.kind == EntryKind::Request).unwrap();
    assert_eq!(req.k, 0);
    assert_eq!(req.fault, Some(Fault::TruncatedBody));
    let res = client().get(server.url("/chats")).send().await.unwrap();
    assert_eq!(res.status(), 503);
}

/// What a client saw for one request: the status and body, or a dropped
/// connection.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Answer(u16, String),
    Dropped,
}

/// The same script of public requests under the hostile plan, with or
/// without admin reads between the requests.
async fn scripted_run(with_admin: bool) -> (Vec<Seen>, Vec<JournalEntry>) {
    let start = chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let server = admin_builder()
        .seed(2024)
        .faults(FaultPlan::hostile())
        .time_scale(0.001)
        .clock(Clock::fixed(start, Duration::from_secs(1)))
        .start()
        .await;
    let mut seen = Vec::new();
    for i in 0..36 {
        let req = match i % 4 {
            0 => client().get(server.url("/chats")),
            1 => client().get(server.url(&format!("/chats/{}/messages", 1 + i % 3))),
            // A POST, then the same POST again (a retry).
            _ => client()
                .post(server.url("/chats/1/messages"))
                .header("idempotency-key", format!("script-{}", i / 4))
                .json(&json!({ "text": format!("message {}", i / 4) })),
        };
        seen.push(match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                match res.text().await {
                    Ok(body) => Seen::Answer(status, body),
                    Err(_) => Seen::Dropped,
                }
            }
            Err(_) => Seen::Dropped,
        });
        if with_admin {
            for path in [
                "/__admin/journal",
                "/__admin/requests",
                "/__admin/seed",
                "/__admin/faults",
            ] {
                let res = client().get(server.url(path)).send().await.unwrap();
                assert_eq!(res.status(), 200);
                let _ = res.bytes().await.unwrap();
            }
        }
    }
    (seen, server.journal())
}

#[tokio::test]
async fn admin_requests_do_not_change_what_a_seed_reproduces() {
    let (seen_plain, journal_plain) = scripted_run(false).await;
    let (seen_admin, journal_admin) = scripted_run(true).await;
    // The plan really did something: several kinds of faults happened.
    let mut kinds: Vec<&str> = journal_plain
        .iter()
        .filter_map(|e| e.fault.as_ref().map(|f| f.name()))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert!(
        kinds.len() >= 3,
        "too calm a run to prove anything: {kinds:?}"
    );
    assert!(seen_plain.contains(&Seen::Dropped));
    // Same answers, byte for byte, and the same journal, entry for entry.
    assert_eq!(seen_admin, seen_plain);
    let requests = |j: &[JournalEntry]| -> Vec<JournalEntry> {
        j.iter()
            .filter(|e| e.kind == EntryKind::Request)
            .cloned()
            .collect()
    };
    assert_eq!(requests(&journal_admin), requests(&journal_plain));
    assert_eq!(requests(&journal_plain).len(), 36);
    assert_eq!(journal_admin, journal_plain);
}
