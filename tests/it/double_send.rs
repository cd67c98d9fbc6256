//! The server catches the double send (SPEC §5): a message stored again
//! under a new key after its first answer was lost, or after a retry of its
//! key got the empty 200, is a `ResentUnderNewKey`; the same text sent
//! twice with nothing lost, and a proper retry under the same key, are not.

use mock_chat_server::chaos::{Delay, RouteFaults};
use mock_chat_server::config::BotBehavior;
use mock_chat_server::diagnostics::DiagnosticKind;
use mock_chat_server::{Chat, Fault, FaultPlan, MockChatServer, Route};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::*;

async fn calm() -> MockChatServer {
    MockChatServer::builder()
        .seed(22)
        .bot(BotBehavior::Silent)
        .start()
        .await
}

/// POSTs `{"text": text}` under `key`; the raw answer (empty when the
/// connection was dropped).
async fn post_text(server: &MockChatServer, chat: &Chat, key: &str, text: &str) -> Vec<u8> {
    let body = serde_json::json!({ "text": text }).to_string();
    let path = format!("/chats/{}/messages", chat.id);
    let request = request_bytes("POST", &path, &[("Idempotency-Key", key)], body.as_bytes());
    raw(server.address(), &request).await
}

fn kinds(server: &MockChatServer) -> Vec<DiagnosticKind> {
    server.diagnostics().iter().map(|d| d.kind).collect()
}

fn texts(server: &MockChatServer, chat: &Chat) -> Vec<String> {
    let all = server.messages(&chat.id).into_iter();
    let users = all.filter(|m| m.author == mock_chat_server::Author::User);
    users.map(|m| m.text).collect()
}

#[tokio::test]
async fn a_resend_under_a_new_key_after_a_dropped_answer_is_caught() {
    let server = calm().await;
    let (john, matt) = (chat(&server, "John"), chat(&server, "Matt"));
    // A cut body is lost too.
    server.force(Route::PostMessage, Fault::TruncatedBody);
    post_text(&server, &matt, "m1", "hey").await;
    post_text(&server, &matt, "m2", "hey").await;
    assert_eq!(kinds(&server), [DiagnosticKind::ResentUnderNewKey]);
    server.force(Route::PostMessage, Fault::DropAfterCommit);
    assert!(post_text(&server, &john, "k1", "hello").await.is_empty());
    // The client takes the lost answer for a failure and mints a new key.
    let again = parse(&post_text(&server, &john, "k2", "hello").await).expect("an answer");
    assert_eq!(again.status, 200);
    assert_eq!(texts(&server, &john), ["hello", "hello"], "stored twice");
    assert_eq!(kinds(&server), [DiagnosticKind::ResentUnderNewKey; 2]);
    let found = &server.diagnostics()[1];
    let posts = server.requests(Route::PostMessage);
    assert_eq!(found.request_seq, posts[3].seq, "the resend is named");
    assert!(found
        .message
        .contains(&format!("request #{}", posts[2].seq)));
    assert!(found.message.contains("\"k2\""), "{}", found.message);
    assert!(found.to_string().contains("resent under a new key"));
}

#[tokio::test]
async fn a_resend_under_a_new_key_after_the_empty_200_is_caught() {
    let server = calm().await;
    let john = chat(&server, "John");
    // Answered in full; a retry (a timer fired too early) ...
    post_text(&server, &john, "k1", "hello").await;
    // ... gets the empty 200 of its known key ...
    let retry = parse(&post_text(&server, &john, "k1", "hello").await).expect("an answer");
    assert_eq!((retry.status, retry.body.len()), (200, 0));
    assert!(kinds(&server).is_empty(), "{:?}", server.diagnostics());
    // ... which the client takes for a failure.
    post_text(&server, &john, "k2", "hello").await;
    assert_eq!(texts(&server, &john), ["hello", "hello"]);
    assert_eq!(kinds(&server), [DiagnosticKind::ResentUnderNewKey]);
    let found = &server.diagnostics()[0];
    assert!(found.message.contains("empty 200"), "{}", found.message);
}

#[tokio::test]
async fn the_same_text_sent_on_purpose_with_nothing_lost_is_not_a_resend() {
    let server = calm().await;
    let john = chat(&server, "John");
    for key in ["k1", "k2", "k3"] {
        let reply = parse(&post_text(&server, &john, key, "ok!").await).expect("an answer");
        assert_eq!(reply.status, 200);
    }
    assert_eq!(texts(&server, &john), ["ok!", "ok!", "ok!"]);
    assert!(kinds(&server).is_empty(), "{:?}", server.diagnostics());
}

#[tokio::test]
async fn a_proper_retry_under_the_same_key_is_not_a_resend() {
    let server = calm().await;
    let (john, matt) = (chat(&server, "John"), chat(&server, "Matt"));
    server.force(Route::PostMessage, Fault::DropAfterCommit);
    assert!(post_text(&server, &john, "k1", "hello").await.is_empty());
    let retry = parse(&post_text(&server, &john, "k1", "hello").await).expect("an answer");
    assert_eq!((retry.status, retry.body.len()), (200, 0));
    // Other messages, other keys: another text, the same text elsewhere.
    post_text(&server, &john, "k2", "hello again").await;
    post_text(&server, &matt, "k3", "hello").await;
    assert_eq!(texts(&server, &john), ["hello", "hello again"]);
    assert!(kinds(&server).is_empty(), "{:?}", server.diagnostics());
}

#[tokio::test]
async fn a_resend_after_the_client_abandoned_the_answer_is_caught() {
    let server = calm().await;
    let john = chat(&server, "John");
    // The answer waits a minute after the commit: the client gives up.
    let mut slow = FaultPlan::none();
    slow.post_message = RouteFaults {
        latency_after: Delay::Fixed(60_000),
        ..RouteFaults::default()
    };
    server.set_faults(slow).expect("a valid plan");
    let body = serde_json::json!({ "text": "hello" }).to_string();
    let path = format!("/chats/{}/messages", john.id);
    let head = request_bytes("POST", &path, &[("Idempotency-Key", "k1")], body.as_bytes());
    let mut conn = TcpStream::connect(server.address()).await.expect("connect");
    conn.write_all(&head).await.expect("write");
    server
        .wait_for_message(&john.id, |m| m.text == "hello")
        .await
        .expect("stored");
    drop(conn);
    // The server sees the connection close and drops the request.
    server.settle().await.expect("the abandoned POST ends");
    server.set_faults(FaultPlan::none()).expect("a valid plan");
    post_text(&server, &john, "k2", "hello").await;
    assert_eq!(texts(&server, &john), ["hello", "hello"]);
    assert_eq!(kinds(&server), [DiagnosticKind::ResentUnderNewKey]);
    let found = &server.diagnostics()[0];
    assert!(found.message.contains("abandoned"), "{}", found.message);
}
