//! Resident memory of a server against the bytes it stores: many small
//! POSTs (each with its bot answer), a few POSTs of 1 MiB texts, and a
//! `reset` after each (memory must not grow across resets).
//!
//! ```text
//! cargo bench --bench memory                        # 200,000 small, 300 large
//! SMALL=50000 LARGE=100 cargo bench --bench memory
//! ```
//!
//! "stored" is the wire JSON of every message the server holds (what a
//! client could read back); "RSS" is this process's, which holds the server
//! and a few keep-alive clients (their buffers are a few hundred KiB). The
//! allocator keeps freed pages, so RSS after a reset shows reuse, not
//! release: the figure that matters is that the second round after a reset
//! ends where the first did.

use futures::future::join_all;
use mock_chat_server::chaos::Delay;
use mock_chat_server::{FaultPlan, MockChatServer};
use mock_chat_server_perf::http1::{self, env_or, Conn};

/// Concurrent keep-alive connections posting.
const CLIENTS: usize = 4;

fn rss_mib() -> f64 {
    http1::rss_kib(std::process::id()).unwrap_or(0) as f64 / 1024.0
}

/// Wire bytes of every message held, in MiB.
fn stored_mib(server: &MockChatServer) -> f64 {
    let bytes: usize = server
        .chats()
        .iter()
        .flat_map(|c| server.messages(&c.id))
        .map(|m| serde_json::to_vec(&m).map_or(0, |v| v.len()))
        .sum();
    bytes as f64 / (1024.0 * 1024.0)
}

/// `count` POSTs of `text_len`-byte texts, spread over the chats, then
/// every bot answer.
async fn post_all(server: &MockChatServer, round: usize, count: usize, text_len: usize) {
    let paths: Vec<String> = server
        .chats()
        .iter()
        .map(|c| format!("/chats/{}/messages", c.id))
        .collect();
    let body = format!("{{\"text\":\"{}\"}}", "x".repeat(text_len));
    let tasks = (0..CLIENTS).map(|client| {
        let (paths, body) = (&paths, &body);
        async move {
            let mut conn = Conn::connect(server.address()).await.expect("connect");
            for i in (client..count).step_by(CLIENTS) {
                let key = format!("r{round}-k{i}");
                let path = &paths[i % paths.len()];
                let answer = conn.post(path, &key, body).await.expect("post");
                assert_eq!(answer.status, 200, "POST {i}");
            }
        }
    });
    join_all(tasks).await;
    server.answer_bots_now();
    server.settle().await.expect("the bots answer");
}

/// One round: posts, then a reset; prints the figures.
async fn round(server: &MockChatServer, round: usize, label: &str, count: usize, len: usize) {
    let before = rss_mib();
    post_all(server, round, count, len).await;
    let after = rss_mib();
    let stored = stored_mib(server);
    server.reset();
    let reset = rss_mib();
    println!(
        "memory: {label} round {round}: {count} POSTs of {len} B texts: stored {stored:.1} MiB, \
         RSS {before:.1} -> {after:.1} MiB (+{:.1} MiB, {:.2}x stored, {:.0} B per POST), \
         after reset {reset:.1} MiB",
        after - before,
        (after - before) / stored.max(f64::MIN_POSITIVE),
        (after - before) * 1024.0 * 1024.0 / count.max(1) as f64,
    );
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: keep that quick.
    let bench = http1::bench_mode();
    let small = env_or("SMALL", if bench { 200_000 } else { 200 });
    let large = env_or("LARGE", if bench { 300 } else { 3 });
    let rt = http1::bench_runtime();
    rt.block_on(async move {
        let server = MockChatServer::builder()
            .seed(1)
            .bot_delay(Delay::Fixed(1))
            // The reference's duplicate deliveries (1 to 3 copies), none of
            // its delays or errors.
            .faults(FaultPlan {
                events: FaultPlan::reference().events,
                ..FaultPlan::none()
            })
            .start()
            .await;
        println!("memory: start RSS {:.1} MiB", rss_mib());
        let text = "a message of ordinary length, posted by a client";
        // Each size twice (more with ROUNDS=N), a reset after each round:
        // the rounds after the first show whether memory is reused.
        let rounds = env_or("ROUNDS", 2);
        for r in 0..rounds {
            round(&server, r, "small", small, text.len()).await;
        }
        // Just under the 1 MiB body limit with the JSON around it.
        let big = 1024 * 1024 - 64;
        for r in rounds..2 * rounds {
            round(&server, r, "large", large, big).await;
        }
    });
}
