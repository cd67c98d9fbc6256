//! Idempotency keys are bytes (SPEC §2.2): two keys are one key only if
//! their raw header bytes are equal, as in Go; what is shown of a key that
//! is not UTF-8 is Go's encoder's (one U+FFFD per invalid byte). Raw
//! sockets throughout: HTTP clients will not send such header bytes.

use mock_chat_server::chaos::{FaultScript, IdempotencyKey};
use mock_chat_server::diagnostics::DiagnosticKind;
use mock_chat_server::{Chat, FaultPlan, Message, MockChatServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// The head of a POST to `chat` with `key` as raw bytes, announcing a body
/// of `len` bytes; `extra` header lines end in `\r\n`.
fn post_head(chat: &Chat, key: &[u8], len: usize, extra: &str) -> Vec<u8> {
    let mut out = format!("POST /chats/{}/messages HTTP/1.1\r\nHost: x\r\n", chat.id).into_bytes();
    out.extend_from_slice(b"Idempotency-Key: ");
    out.extend_from_slice(key);
    out.extend_from_slice(format!("\r\n{extra}Content-Length: {len}\r\n\r\n").as_bytes());
    out
}

/// POSTs `{"text": text}` with `key` as raw bytes.
async fn post_key(server: &MockChatServer, chat: &Chat, key: &[u8], text: &str) -> Reply {
    let body = serde_json::json!({ "text": text }).to_string();
    let mut request = post_head(chat, key, body.len(), "Connection: close\r\n");
    request.extend_from_slice(body.as_bytes());
    let bytes = raw(server.address(), &request).await;
    parse(&bytes).unwrap_or_else(|| panic!("no answer: {:?}", String::from_utf8_lossy(&bytes)))
}

fn user_messages(server: &MockChatServer, chat: &Chat) -> Vec<Message> {
    let all = server.messages(&chat.id);
    all.into_iter()
        .filter(|m| m.author == mock_chat_server::Author::User)
        .collect()
}

async fn calm() -> MockChatServer {
    MockChatServer::builder().seed(19).start().await
}

#[tokio::test]
async fn three_keys_that_are_not_utf8_store_three_messages_and_a_repeat_stores_none() {
    let server = calm().await;
    let john = chat(&server, "John");
    let keys: [&[u8]; 3] = [b"k\xe9", b"k\xea", b"k\xe9\xe9"];
    for (i, key) in keys.iter().enumerate() {
        let reply = post_key(&server, &john, key, &format!("m{i}")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        assert_eq!(reply.json::<Message>().text, format!("m{i}"));
    }
    let texts: Vec<String> = user_messages(&server, &john)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["m0", "m1", "m2"]);

    // The second key again: the reference's empty 200, nothing stored.
    let again = post_key(&server, &john, b"k\xea", "m1").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("Content-Length"), Some("0"));
    assert_eq!(again.header("Content-Type"), None);
    assert!(again.body.is_empty());
    assert_eq!(user_messages(&server, &john).len(), 3);
    assert!(
        server.diagnostics().is_empty(),
        "{:?}",
        server.diagnostics()
    );
}

/// The `idempotency_key` member as Go writes it for these shown keys.
fn member(shown: &str) -> String {
    format!("\"idempotency_key\":\"{shown}\"}}")
}

#[tokio::test]
async fn keys_show_one_replacement_per_invalid_byte_everywhere_go_writes_them() {
    let server = calm().await;
    let john = chat(&server, "John");
    let mut sse = Sse::open(&server, &[]).await;
    // Read off the reference server (U+FFFD raw, not `\ufffd`): a cut
    // three-byte character is two errors for Go, one for `from_utf8_lossy`.
    let cases: [(&[u8], &str); 2] = [
        (b"ab\xe9\xe9cd", "ab\u{fffd}\u{fffd}cd"),
        (b"cut\xe2\x82", "cut\u{fffd}\u{fffd}"),
    ];
    for (key, shown) in cases {
        let reply = post_key(&server, &john, key, "hi").await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let want = format!("{}\n", member(shown));
        assert!(reply.body.ends_with(want.as_bytes()), "{:?}", reply.text());
        assert_eq!(reply.json::<Message>().idempotency_key, shown);
        let frame = sse.next().await.expect("the message's event");
        let data = frame.data.as_deref().unwrap_or_default();
        assert!(data.ends_with(&member(shown)), "{data:?}");
    }
    let history = get(&server, &format!("/chats/{}/messages", john.id)).await;
    let body = history.text();
    for (_, shown) in cases {
        assert!(body.contains(&member(shown)), "{body}");
    }
    assert!(!body.contains("\\ufffd"), "{body}");
    // Request records show the key as the message does.
    let recorded: Vec<String> = server
        .requests(mock_chat_server::Route::PostMessage)
        .iter()
        .filter_map(|r| r.headers.idempotency_key.clone())
        .collect();
    assert_eq!(recorded, cases.map(|(_, shown)| shown.to_string()));
}

#[tokio::test]
async fn the_copy_count_of_a_text_key_is_drawn_as_it_was() {
    let mut plan = FaultPlan::none();
    plan.events.copies = FaultPlan::reference().events.copies;
    let server = MockChatServer::builder()
        .seed(42)
        .faults(plan)
        .start()
        .await;
    let john = chat(&server, "John");
    for i in 0..16 {
        send(&server, &john, &format!("pin-{i}"), "hi").await;
    }
    let drawn: Vec<(String, u32)> = server
        .fault_script()
        .copies
        .iter()
        .map(|c| (c.key.to_lossy().into_owned(), c.copies))
        .collect();
    // Computed before keys were bytes: seed 42's faults stay its faults.
    let pinned = [
        ("pin-0", 3),
        ("pin-1", 3),
        ("pin-2", 3),
        ("pin-3", 2),
        ("pin-4", 2),
        ("pin-5", 2),
        ("pin-6", 2),
        ("pin-7", 2),
        ("pin-8", 2),
        ("pin-11", 2),
        ("pin-12", 2),
        ("pin-13", 2),
        ("pin-14", 2),
        ("pin-15", 3),
    ];
    let pinned: Vec<(String, u32)> = pinned.iter().map(|(k, n)| (k.to_string(), *n)).collect();
    assert_eq!(drawn, pinned);
}

#[tokio::test]
async fn a_recorded_script_replays_the_copies_of_byte_keys() {
    let mut plan = FaultPlan::none();
    plan.events.copies = FaultPlan::reference().events.copies;
    let keys: Vec<Vec<u8>> = (0..6u8).map(|i| vec![b'b', 0xe9, b'0' + i]).collect();
    let run = |server: MockChatServer| {
        let keys = keys.clone();
        async move {
            let john = chat(&server, "John");
            for key in &keys {
                assert_eq!(post_key(&server, &john, key, "x").await.status, 200);
            }
            server.fault_script()
        }
    };
    let recorded = run(MockChatServer::builder().seed(5).faults(plan).start().await).await;
    let byte_keys = recorded.copies.iter().filter(|c| c.key.as_str().is_none());
    assert!(byte_keys.count() > 0, "{recorded}");
    let json = recorded.to_json();
    assert!(json.contains(r#""hex": "62e9"#), "{json}");
    let read = FaultScript::from_json(&json).unwrap();
    assert_eq!(read, recorded);
    // Another seed, calm otherwise: the copies come from the script alone.
    let replayed = run(MockChatServer::builder().seed(6).script(read).start().await).await;
    assert_eq!(replayed.copies, recorded.copies);
    let shown_alike = IdempotencyKey::from("b\u{fffd}0");
    assert!(replayed.copies.iter().all(|c| c.key != shown_alike));
}

#[tokio::test]
async fn key_reuse_is_told_apart_for_keys_that_show_alike() {
    let server = calm().await;
    let john = chat(&server, "John");
    // Both show as one U+FFFD; they are two keys.
    assert_eq!(post_key(&server, &john, b"\xe9", "a").await.status, 200);
    let other = post_key(&server, &john, b"\xea", "b").await;
    assert_eq!(other.json::<Message>().text, "b");
    assert!(
        server.diagnostics().is_empty(),
        "{:?}",
        server.diagnostics()
    );
    let reused = post_key(&server, &john, b"\xe9", "c").await;
    assert!(reused.body.is_empty());
    let found = server.diagnostics();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, DiagnosticKind::KeyReusedForDifferentMessage);
    assert!(
        found[0].message.contains(r#"key "\xe9" was"#),
        "{}",
        found[0]
    );
}

#[tokio::test]
async fn open_attempts_are_told_apart_for_keys_that_show_alike() {
    let server = calm().await;
    let john = chat(&server, "John");
    let body = br#"{"text":"late"}"#;
    // An attempt left open: its body waits for the `100 Continue`.
    let mut open = TcpStream::connect(server.address()).await.unwrap();
    let head = post_head(&john, b"\xeb", body.len(), "Expect: 100-continue\r\n");
    open.write_all(&head).await.unwrap();
    let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
    let mut got = vec![0u8; cont.len()];
    tokio::time::timeout(PATIENCE, open.read_exact(&mut got))
        .await
        .expect("100 Continue in time")
        .unwrap();
    assert_eq!(got, cont);

    // Another key that shows alike: not the same key.
    assert_eq!(post_key(&server, &john, b"\xec", "b").await.status, 200);
    assert!(
        server.diagnostics().is_empty(),
        "{:?}",
        server.diagnostics()
    );
    // The same bytes: the same key, sent while the first is open.
    assert_eq!(post_key(&server, &john, b"\xeb", "c").await.status, 200);
    let found = server.diagnostics();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, DiagnosticKind::ConcurrentSameKey);
    assert!(
        found[0].message.contains(r#"key "\xeb" sent"#),
        "{}",
        found[0]
    );

    // The open attempt ends with the reference's empty 200: stored already.
    open.write_all(body).await.unwrap();
    let mut rest = Vec::new();
    let mut buf = [0u8; 1024];
    while !rest.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, open.read(&mut buf))
            .await
            .expect("answer in time")
            .unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&rest));
        rest.extend_from_slice(&buf[..n]);
    }
    let reply = parse(&rest).expect("an answer");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Length"), Some("0"));
}
