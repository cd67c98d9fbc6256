//! Explore 200 seeds of hostile chaos with two small clients: a correct one
//! and one with a classic bug (it takes the reference's empty 200 for an
//! error and resends under a new key, storing the message twice). The
//! explorer finds the bug and shrinks it to the one fault that matters.
//!
//! ```text
//! cargo run --example explore
//! ```

use std::time::Duration;

use mock_chat_server::explore::Explore;
use mock_chat_server::{Chat, FaultPlan, Message, MockChatServer};

/// Sends `text` until it is stored. `buggy`: an empty 200 is an error and
/// the text is resent under a new key.
async fn send(http: &reqwest::Client, base: &str, chat: &Chat, text: &str, buggy: bool) {
    let url = format!("{base}/chats/{}/messages", chat.id);
    let mut key = format!("{text}-key");
    let mut backoff = Duration::from_millis(1);
    for attempt in 0.. {
        let answer = http
            .post(&url)
            .header("Idempotency-Key", &key)
            .body(serde_json::json!({ "text": text }).to_string())
            .send()
            .await;
        if let Ok(answer) = answer {
            let ok = answer.status().is_success();
            let body = answer.bytes().await.unwrap_or_default();
            match (ok, body.is_empty()) {
                // Stored: the message came back.
                (true, false) if serde_json::from_slice::<Message>(&body).is_ok() => return,
                // Stored earlier (an answer was lost): done, the key is known.
                (true, true) if !buggy => return,
                // The bug: "empty means failed", so send it again, new key.
                (true, true) => key = format!("{text}-key-{attempt}"),
                _ => {}
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(16));
    }
}

/// Sends three messages, then checks each is stored exactly once.
async fn scenario(server: MockChatServer, buggy: bool) -> Result<(), String> {
    let http = reqwest::Client::new();
    let chat = server.chats()[0].clone();
    for text in ["one", "two", "three"] {
        send(&http, &server.uri(), &chat, text, buggy).await;
    }
    server.settle().await.map_err(|e| e.to_string())?;
    for text in ["one", "two", "three"] {
        let n = server
            .messages(&chat.id)
            .iter()
            .filter(|m| m.text == text)
            .count();
        if n != 1 {
            return Err(format!("{text:?} was stored {n} times"));
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() {
    for (name, buggy) in [("correct client", false), ("buggy client", true)] {
        let report = Explore::new(move |server: MockChatServer| scenario(server, buggy))
            .builder(
                MockChatServer::builder()
                    .faults(FaultPlan::hostile())
                    .time_scale(0.001),
            )
            .seeds(0..200)
            .concurrency(4)
            .run()
            .await;
        println!("== {name}\n{report}");
    }
}
