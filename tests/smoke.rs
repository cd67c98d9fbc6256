//! The README's first example, verbatim, so the first thing a newcomer
//! copies is known to work.

use mock_chat_server::{Fault, MockChatServer, Route};

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_original_answer() {
    let server = MockChatServer::builder().seed(7).start().await; // 127.0.0.1:<ephemeral port>
    server.force(Route::PostMessage, Fault::DropAfterCommit); // stored, but the answer is lost
    let post = || {
        reqwest::Client::new()
            .post(server.url("/chats/1/messages"))
            .header("Idempotency-Key", "msg-1")
            .json(&serde_json::json!({"text": "hello"}))
            .send()
    };
    assert!(post().await.is_err()); // the connection was closed with no response
    let replay = post().await.unwrap(); // same key: the original answer, replayed
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(
        server
            .messages(1)
            .iter()
            .filter(|m| m.text == "hello")
            .count(),
        1
    );
}
