//! A reference client that survives the real server, run against an
//! in-process server under `FaultPlan::hostile()`:
//!
//! ```sh
//! cargo run --example resilient_client
//! ```
//!
//! The client itself lives in `resilient_client/client.rs` (shared with the
//! soak test); this file only sets the stage and prints a summary.

// The client proper; the soak test includes the same file. (This demo does
// not look at the raw answer bytes that the soak test compares.)
#[allow(dead_code)]
#[path = "resilient_client/client.rs"]
mod client;

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use client::{follow_events, ChatClient, Config, SendError};
use futures::StreamExt;
use mock_chat_server::{FaultPlan, MockChatServer};
use tokio::sync::{mpsc, watch};

/// Messages to send, and how many may be in flight at once.
const MESSAGES: u64 = 40;
const IN_FLIGHT: usize = 8;

#[tokio::main]
async fn main() {
    // 1. A server that drops, delays, truncates, duplicates and cuts, with
    //    time compressed 50x: its 5 s timeouts last 100 ms, its bots answer
    //    in 60-100 ms.
    let server = MockChatServer::builder()
        .seed(42)
        .faults(FaultPlan::hostile())
        .time_scale(0.02)
        .start()
        .await;
    println!("server {} (seed {})", server.uri(), server.seed());

    // 2. The client's clock is compressed the same way: give up on an
    //    attempt after 80 ms (so injected 100 ms timeouts are hit from our
    //    side too), back off from ~5 ms up to 200 ms.
    let config = Config {
        request_timeout: Duration::from_millis(80),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(200),
        max_attempts: 30,
        sse_idle_timeout: Duration::from_secs(5),
        seed: 42,
        ..Config::new(server.uri())
    };

    // 3. Follow the event stream before sending anything.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let follower = tokio::spawn(follow_events(config.clone(), tx, stop_rx));

    // 4. Send the messages, a few at a time, across the chats.
    let started = Instant::now();
    let client = ChatClient::new(config);
    let chats = server.chats();
    let results: Vec<_> = futures::stream::iter(0..MESSAGES)
        .map(|n| {
            let client = client.clone();
            let chat_id = chats[n as usize % chats.len()].id;
            async move {
                // One key per message, made once, reused by every retry.
                let (_key, sent) = client.send_nth(n, chat_id, &format!("message #{n}")).await;
                sent
            }
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;

    let mut acked = HashSet::new();
    let mut troubles = BTreeMap::new();
    let (mut attempts, mut replayed) = (0, 0);
    for r in &results {
        match r {
            Ok(sent) => {
                acked.insert(sent.message.id);
                attempts += sent.attempts;
                replayed += u32::from(sent.replayed);
                for t in &sent.troubles {
                    *troubles.entry(t.to_string()).or_insert(0u32) += 1;
                }
            }
            Err(e) => eprintln!("FAILED: {e}"),
        }
    }

    // 5. Every acknowledged message, and one bot answer per message, must
    //    show up on the stream, exactly once each.
    let (mut user_seen, mut bot_seen) = (HashSet::new(), 0u64);
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        while !(acked.is_subset(&user_seen) && bot_seen == acked.len() as u64) {
            let Some(m) = rx.recv().await else { break };
            if m.author == "bot" {
                bot_seen += 1;
            } else {
                user_seen.insert(m.id);
            }
        }
    })
    .await;
    let _ = stop.send(true);
    let stats = follower.await.expect("the follower task");

    // 6. Giving up loudly: the same key for a different text is a caller bug.
    let mut rng = client.rng_for(0);
    let key = ChatClient::new_key(&mut rng); // message #0's key again
    match client
        .send(chats[0].id, "something else", &key, &mut rng)
        .await
    {
        Err(e @ SendError::KeyReused { .. }) => println!("as expected, refused: {e}"),
        other => eprintln!("UNEXPECTED: reusing a key gave {other:?}"),
    }

    println!("--- summary ({:.1?}) ---", started.elapsed());
    println!(
        "sent {}/{MESSAGES} messages in {attempts} attempts ({replayed} answered by replay)",
        acked.len()
    );
    for (trouble, n) in &troubles {
        println!("  retried after {trouble}: {n}x");
    }
    println!(
        "events: {} received over {} connections, {} duplicates dropped; {} user messages and {} bot answers delivered",
        stats.events,
        stats.connections,
        stats.duplicates,
        user_seen.len(),
        bot_seen
    );
    let stored: usize = chats
        .iter()
        .map(|c| {
            server
                .messages(c.id)
                .iter()
                .filter(|m| m.text.starts_with("message #"))
                .count()
        })
        .sum();
    println!("stored on the server: {stored} (exactly once each)");
    if waited.is_err() || stored != MESSAGES as usize || acked.len() != MESSAGES as usize {
        eprintln!("something was lost or duplicated");
        std::process::exit(1);
    }
}
