//! `IdStyle::Uuid` (`serve --ids uuid`) end to end: UUID strings on the
//! wire (lists, histories, POST answers, SSE data), drawn from the seed,
//! accepted in paths and in `before=`; numeric ids are then malformed.

mod common;

use std::collections::HashSet;

use common::{assert_error, client, get_json, next_events, sse};
use mock_chat_server::{BotBehavior, IdStyle, MockChatServer};
use reqwest::Method;
use serde_json::{json, Value};
use uuid::Uuid;

async fn uuid_server(seed: u64) -> MockChatServer {
    MockChatServer::builder()
        .seed(seed)
        .id_style(IdStyle::Uuid)
        .bot(BotBehavior::Silent)
        .admin_api(true)
        .start()
        .await
}

/// The id as a string, asserting it is a version-4 UUID in canonical
/// (lowercase, hyphenated) form.
fn uuid_of(v: &Value) -> String {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("id is not a string: {v}"));
    let u = Uuid::parse_str(s).unwrap_or_else(|e| panic!("{s} is not a UUID: {e}"));
    assert_eq!(u.get_version_num(), 4, "{s}");
    assert_eq!(u.hyphenated().to_string(), s, "not canonical");
    s.to_string()
}

async fn chat_ids(server: &MockChatServer) -> Vec<String> {
    let (status, chats) = get_json(server, "/chats").await;
    assert_eq!(status, 200);
    chats
        .as_array()
        .unwrap()
        .iter()
        .map(|c| uuid_of(&c["id"]))
        .collect()
}

async fn post_json(server: &MockChatServer, chat: &str, key: &str, text: &str) -> Value {
    let res = common::post(server, chat, key, text).await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn admin(server: &MockChatServer, path: &str, body: Value) -> reqwest::Response {
    client()
        .request(Method::POST, server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ids_are_uuid_strings_everywhere_on_the_wire() {
    let server = uuid_server(42).await;
    let chats = chat_ids(&server).await;
    assert_eq!(chats.len(), 4);
    let mut all_ids: HashSet<String> = chats.iter().cloned().collect();
    assert_eq!(all_ids.len(), 4);

    for chat in &chats {
        let (status, messages) = get_json(&server, &format!("/chats/{chat}/messages")).await;
        assert_eq!(status, 200);
        for m in messages.as_array().unwrap() {
            assert_eq!(m["chat_id"], json!(chat));
            assert!(all_ids.insert(uuid_of(&m["id"])), "duplicate id");
        }
    }

    let mut events = sse(&server, None).await;
    let posted = post_json(&server, &chats[1], "u-1", "hello uuid").await;
    assert_eq!(posted["chat_id"], json!(chats[1]));
    assert!(all_ids.insert(uuid_of(&posted["id"])), "duplicate id");
    assert_eq!(posted["author"], "user");
    assert_eq!(posted["idempotency_key"], "u-1");
    // SSE data is the same JSON; the SSE event id stays a counter.
    let e = next_events(&mut events, 1).await;
    assert_eq!(serde_json::from_str::<Value>(&e[0].data).unwrap(), posted);
    assert_eq!(e[0].id, "1");
    // The idempotent replay carries the same UUID.
    let res = common::post(&server, &chats[1], "u-1", "hello uuid")
        .await
        .unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    assert_eq!(res.json::<Value>().await.unwrap(), posted);
    // History ends with it; an uppercase UUID names the same chat.
    let (_, history) = get_json(&server, &format!("/chats/{}/messages", chats[1])).await;
    assert_eq!(history.as_array().unwrap().last(), Some(&posted));
    let upper = chats[1].to_uppercase();
    let (status, same) = get_json(&server, &format!("/chats/{upper}/messages")).await;
    assert_eq!(status, 200);
    assert_eq!(same, history);
    // In-process accessors keep numeric ids (the Rust API is unchanged).
    assert_eq!(server.chats()[1].id, 2);
    assert_eq!(server.messages(2).last().unwrap().text, "hello uuid");
}

/// Chat ids, the first history's message ids and a POST answer's id.
async fn ids_for_seed(seed: u64) -> (Vec<String>, Vec<String>, String) {
    let server = uuid_server(seed).await;
    let chats = chat_ids(&server).await;
    let (_, messages) = get_json(&server, &format!("/chats/{}/messages", chats[0])).await;
    let messages = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|m| uuid_of(&m["id"]))
        .collect();
    let posted = post_json(&server, &chats[0], "r-1", "same script").await;
    (chats, messages, uuid_of(&posted["id"]))
}

#[tokio::test]
async fn uuids_are_reproducible_for_a_seed_and_differ_across_seeds() {
    let a = ids_for_seed(42).await;
    let b = ids_for_seed(42).await;
    let c = ids_for_seed(43).await;
    assert_eq!(a, b);
    assert!(a.0.iter().all(|id| !c.0.contains(id)), "{a:?} {c:?}");
    assert_ne!(a.1, c.1);
    assert_ne!(a.2, c.2);
}

#[tokio::test]
async fn paging_back_with_before_uuid() {
    let server = uuid_server(7).await;
    let chat = chat_ids(&server).await.remove(2);
    let mut posted = Vec::new();
    for i in 0..5 {
        posted.push(post_json(&server, &chat, &format!("p-{i}"), &format!("m{i}")).await);
    }
    let texts = common::texts_of;
    let page = |q: String| {
        let server = &server;
        let chat = &chat;
        async move { get_json(server, &format!("/chats/{chat}/messages?{q}")).await }
    };
    let (status, last_two) = page("limit=2".into()).await;
    assert_eq!(status, 200);
    assert_eq!(texts(&last_two), ["m3", "m4"]);
    let m3 = uuid_of(&posted[3]["id"]);
    let (status, older) = page(format!("limit=2&before={m3}")).await;
    assert_eq!(status, 200);
    assert_eq!(texts(&older), ["m1", "m2"]);
    let (_, older_upper) = page(format!("before={}&limit=2", m3.to_uppercase())).await;
    assert_eq!(older_upper, older);
    // Everything before m1: m0 and the fixture message.
    let m1 = uuid_of(&posted[1]["id"]);
    let (_, oldest) = page(format!("before={m1}")).await;
    assert_eq!(oldest.as_array().unwrap().len(), 2);
    assert_eq!(texts(&oldest)[1], "m0");

    for bad in [
        format!("before={}", Uuid::from_u128(0x1234)),
        "before=3".to_string(),
        "before=".to_string(),
        "before=not-a-uuid".to_string(),
        // A chat id is not a message id.
        format!("before={chat}"),
    ] {
        let res = client()
            .get(server.url(&format!("/chats/{chat}/messages?{bad}")))
            .send()
            .await
            .unwrap();
        assert_error(res, 400, "invalid_query").await;
    }
}

#[tokio::test]
async fn numeric_ids_are_malformed_and_unknown_uuids_not_found() {
    let server = uuid_server(9).await;
    let chats = chat_ids(&server).await;
    let (_, history) = get_json(&server, &format!("/chats/{}/messages", chats[0])).await;
    let message_id = uuid_of(&history[0]["id"]);
    let before: Vec<_> = (1..=4).map(|c| server.messages(c)).collect();

    for (path, status, code) in [
        ("/chats/1/messages".to_string(), 400, "invalid_chat_id"),
        ("/chats/0/messages".to_string(), 400, "invalid_chat_id"),
        ("/chats/abc/messages".to_string(), 400, "invalid_chat_id"),
        (
            format!("/chats/{}/messages", &chats[0][..35]),
            400,
            "invalid_chat_id",
        ),
        (
            format!("/chats/{}/messages", Uuid::from_u128(42)),
            404,
            "chat_not_found",
        ),
        (
            format!("/chats/{message_id}/messages"),
            404,
            "chat_not_found",
        ),
    ] {
        let res = client().get(server.url(&path)).send().await.unwrap();
        assert_error(res, status, code).await;
        let res = common::post(&server, &path[7..path.len() - 9], "k", "x")
            .await
            .unwrap();
        assert_error(res, status, code).await;
    }
    let after: Vec<_> = (1..=4).map(|c| server.messages(c)).collect();
    assert_eq!(after, before, "a refused POST stored something");
}

#[tokio::test]
async fn admin_api_speaks_uuids_too() {
    let server = uuid_server(5).await;
    let original = chat_ids(&server).await;
    let res = admin(&server, "/__admin/chats", json!({"name": "UUID chat"})).await;
    assert_eq!(res.status(), 200);
    let created: Value = res.json().await.unwrap();
    let new_id = uuid_of(&created["id"]);
    assert_eq!(created["name"], "UUID chat");
    let chats = chat_ids(&server).await;
    assert_eq!(chats[..4], original[..]);
    assert_eq!(chats[4], new_id);

    let mut events = sse(&server, None).await;
    let res = admin(
        &server,
        &format!("/__admin/chats/{new_id}/messages"),
        json!({"text": "injected"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let injected: Value = res.json().await.unwrap();
    assert_eq!(injected["chat_id"], json!(new_id));
    uuid_of(&injected["id"]);
    let e = next_events(&mut events, 1).await;
    assert_eq!(serde_json::from_str::<Value>(&e[0].data).unwrap(), injected);
    let (_, history) = get_json(&server, &format!("/chats/{new_id}/messages")).await;
    assert_eq!(history, json!([injected]));

    let res = admin(&server, "/__admin/chats/5/messages", json!({"text": "x"})).await;
    assert_error(res, 400, "invalid_chat_id").await;
    let unknown = format!("/__admin/chats/{}/messages", Uuid::from_u128(7));
    let res = admin(&server, &unknown, json!({"text": "x"})).await;
    assert_error(res, 404, "chat_not_found").await;

    // After a reset the fixtures have the same ids, the new chat is gone,
    // and creating it again gives it the same id: ids follow the seed.
    let res = admin(&server, "/__admin/reset", json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(chat_ids(&server).await, original);
    let res = client()
        .get(server.url(&format!("/chats/{new_id}/messages")))
        .send()
        .await
        .unwrap();
    assert_error(res, 404, "chat_not_found").await;
    let res = admin(&server, "/__admin/chats", json!({"name": "again"})).await;
    assert_eq!(res.json::<Value>().await.unwrap()["id"], json!(new_id));
}
