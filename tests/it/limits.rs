//! Bounded resources: header time and memory in bytes (keys, event log,
//! stored messages, the recorded script); connections: `connections.rs`.

use std::time::Duration;

use mock_chat_server::chaos::StreamFaults;
use mock_chat_server::config::BotBehavior;
use mock_chat_server::{Author, Fault, FaultPlan, Message, MockChatServer, Route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut() {
    let server = MockChatServer::builder()
        .seed(1)
        .header_timeout(Duration::from_millis(200))
        .start()
        .await;
    let mut slow = TcpStream::connect(server.address()).await.unwrap();
    slow.write_all(b"GET /chats HT").await.unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut out)).await;
    assert!(closed.is_ok(), "the server closed the connection");
    assert_eq!(
        get(&server, "/chats").await.status,
        200,
        "the server keeps serving"
    );
}

/// A message JSON's size on the wire, as the server renders it.
fn wire_len(m: &Message) -> usize {
    serde_json::to_vec(m).map_or(0, |v| v.len())
}

#[tokio::test]
async fn past_the_key_budget_an_old_large_key_is_new_again() {
    let server = MockChatServer::builder()
        .seed(1)
        .bot(BotBehavior::Silent)
        .key_bytes(1024 * 1024)
        .start()
        .await;
    let john = chat(&server, "John");
    // Keys of 200 KB: each counts twice its length, so two fit in 1 MiB.
    let key = |i: usize| format!("{i:02}{}", "k".repeat(200_000));
    for i in 0..5 {
        send(&server, &john, &key(i), "hello").await;
    }
    let again = |i| {
        let (server, john, key) = (&server, &john, key(i));
        async move {
            post(
                server,
                &john.id.to_string(),
                Some(&key),
                r#"{"text":"hello"}"#,
            )
            .await
        }
    };
    let newest = again(4).await;
    assert_eq!((newest.status, newest.body.len()), (200, 0), "still known");
    let oldest = again(0).await;
    assert_eq!(oldest.status, 200);
    assert_eq!(
        oldest.json::<Message>().idempotency_key,
        key(0),
        "stored anew"
    );
    assert_eq!(server.messages(&john.id).len(), 1 + 6);
}

#[tokio::test]
async fn past_the_event_log_budget_a_resume_from_a_dropped_id_gets_the_oldest_held() {
    let text = "x".repeat(20_000);
    let server = MockChatServer::builder()
        .seed(1)
        .bot(BotBehavior::Silent)
        .event_log_bytes(100_000)
        .stream_lifetime(None)
        .start()
        .await;
    let john = chat(&server, "John");
    let sent: Vec<Message> = (0..10)
        .map(|_| {
            server
                .inject_message(&john.id, Author::User, text.clone())
                .expect("the chat exists")
        })
        .collect();
    // 100 KB hold four frames of ~20 KB: ids 6 to 9.
    let mut sse = Sse::open(&server, &[("Last-Event-ID", "0")]).await;
    let frames = sse.take(4).await;
    let ids: Vec<u64> = frames.iter().map(|f| f.id()).collect();
    assert_eq!(ids, vec![6, 7, 8, 9]);
    // Large frames (sent in two chunks) arrive whole and exact.
    assert_eq!(frames[0].message(), sent[6]);
    assert_eq!(
        frames[3].data.as_deref().map(str::len),
        Some(wire_len(&sent[9]))
    );
    let live = server
        .inject_message(&john.id, Author::Bot, "live")
        .expect("the chat exists");
    let f = sse.next().await.expect("a live event");
    assert_eq!((f.id(), f.message()), (10, live));
}

#[tokio::test]
async fn a_large_frame_is_sent_whole_before_an_injected_cut() {
    let server = MockChatServer::builder()
        .seed(1)
        .bot(BotBehavior::Silent)
        .start()
        .await;
    let john = chat(&server, "John");
    let big = server
        .inject_message(&john.id, Author::User, "y".repeat(100_000))
        .expect("the chat exists");
    server.force(Route::Events, Fault::StreamDisconnect);
    let mut sse = Sse::open(&server, &[]).await;
    let frames = sse.drain().await;
    assert_eq!(sse.ended, Some(End::Cut));
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].message(), big);
}

#[tokio::test]
async fn the_message_cap_keeps_history_answers_and_forgets_beyond_the_newest_100() {
    let capped = MockChatServer::builder()
        .seed(3)
        .bot(BotBehavior::Silent)
        .max_message_bytes(128 * 1024)
        .start()
        .await;
    let john = chat(&capped, "John");
    // 400 messages of ~700 bytes: about twice the cap.
    let pad = "z".repeat(500);
    let mut sent = Vec::new();
    for i in 0..400 {
        let text = format!("message {i} {pad}");
        sent.push(send(&capped, &john, &format!("k{i}"), &text).await);
    }
    let history: Vec<Message> = get(&capped, &format!("/chats/{}/messages", john.id))
        .await
        .json();
    assert_eq!(history, sent[300..], "the newest 100, as without a cap");
    let held = capped.messages(&john.id);
    assert!(
        held.len() > 100,
        "only beyond the newest 100: {}",
        held.len()
    );
    assert_eq!(held[held.len() - 100..], sent[300..]);
    let bytes: usize = held.iter().map(wire_len).sum();
    assert!(bytes <= 128 * 1024, "{bytes} bytes held");
    // The keys are still remembered: forgotten messages are not new again.
    let r = post(
        &capped,
        &john.id.to_string(),
        Some("k0"),
        r#"{"text":"again"}"#,
    )
    .await;
    assert_eq!((r.status, r.body.len()), (200, 0));
}

#[tokio::test]
async fn the_recorded_scripts_duplicate_counts_keep_at_most_16_mib_of_keys() {
    let always_twice = FaultPlan {
        events: StreamFaults {
            copies: vec![0.0, 1.0],
            ..StreamFaults::default()
        },
        ..FaultPlan::none()
    };
    let server = MockChatServer::builder()
        .seed(1)
        .bot(BotBehavior::Silent)
        .faults(always_twice)
        .start()
        .await;
    let john = chat(&server, "John");
    for i in 0..60 {
        send(
            &server,
            &john,
            &format!("{i:02}{}", "k".repeat(300_000)),
            "hi",
        )
        .await;
    }
    let copies = server.fault_script().copies;
    let bytes: usize = copies.iter().map(|c| c.key.as_bytes().len()).sum();
    assert!(bytes <= 16 * 1024 * 1024, "{bytes} bytes of keys recorded");
    assert!((50..60).contains(&copies.len()), "{}", copies.len());
    // A reset starts a new script, with room again.
    server.reset();
    let john = chat(&server, "John");
    send(&server, &john, &"k".repeat(300_000), "hi").await;
    assert_eq!(server.fault_script().copies.len(), 1);
}
