//! The README's first test, verbatim (a `#[tokio::test]` cannot run as a
//! doctest), and the check that the README still shows exactly this text.

use mock_chat_server::{Fault, MockChatServer, Route};

#[tokio::test]
async fn a_lost_answer_is_retried_without_a_duplicate() {
    let server = MockChatServer::builder().seed(7).start().await;
    server.force(Route::PostMessage, Fault::DropAfterCommit); // stored, answer lost
    let chat = &server.chats()[0];
    let url = server.url(&format!("/chats/{}/messages", chat.id));
    let client = reqwest::Client::new();
    let post = || client.post(&url).header("Idempotency-Key", "k").body("{}");
    assert!(post().send().await.is_err()); // the connection dropped…
    assert_eq!(post().send().await.unwrap().status(), 200); // …the retry gets the empty 200
    assert_eq!(server.messages(&chat.id).len(), 2); // the fixture and ours, once
}

#[test]
fn the_readme_shows_the_first_test_verbatim() {
    let this = include_str!("readme.rs");
    let start = this
        .find("use mock_chat_server")
        .expect("the test's imports");
    let end = start + this[start..].find("\n}\n").expect("the test's end") + 2;
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(&this[start..end]),
        "README.md no longer shows tests/it/readme.rs's first test verbatim"
    );
}
