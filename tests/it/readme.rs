//! The README's first example, verbatim.

use mock_chat_server::{Fault, MockChatServer, Route};

#[tokio::test]
async fn a_lost_answer_is_retried_without_a_duplicate() {
    let server = MockChatServer::builder().seed(7).start().await;
    server.force(Route::PostMessage, Fault::DropAfterCommit); // stored, answer lost
    let chat = &server.chats()[0];
    let url = server.url(&format!("/chats/{}/messages", chat.id));
    let send = || {
        reqwest::Client::new()
            .post(&url)
            .header("Idempotency-Key", "k-1")
            .body(r#"{"text":"hi"}"#)
            .send()
    };
    assert!(send().await.is_err()); // the connection dropped…
    assert_eq!(send().await.unwrap().status(), 200); // …the retry gets the reference's empty 200
    assert_eq!(server.messages(&chat.id).len(), 2); // the fixture and "hi", once
}
