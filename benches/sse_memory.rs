//! Memory of subscribers that ask for a long log and never read: the
//! reference's whole-log replay, served from one shared log by cursors.
//!
//! ```text
//! cargo bench --bench sse_memory                       # 100 subscribers, 6,000 events
//! SUBSCRIBERS=1000 EVENTS=6000 cargo bench --bench sse_memory
//! ```
//!
//! It publishes the events, opens the subscribers on real connections
//! (each sends its request and never reads a byte), waits until the server
//! has stopped writing to them (the kernel buffers are full), and prints
//! the growth of this process's resident memory, which holds the server and
//! the idle clients' sockets (the clients' share is a few hundred bytes
//! each: no buffers are read).

use std::time::Duration;

use mock_chat_server::config::BotBehavior;
use mock_chat_server::{Author, MockChatServer};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use mock_chat_server_perf::http1;

use http1::env_or;

fn rss_kib() -> u64 {
    http1::rss_kib(std::process::id()).unwrap_or(0)
}

fn main() {
    // `cargo test --benches` runs this without `--bench`: keep that quick.
    let bench = http1::bench_mode();
    let subscribers = env_or("SUBSCRIBERS", if bench { 100 } else { 5 });
    let events = env_or("EVENTS", if bench { 6_000 } else { 100 });
    let rt = http1::bench_runtime();
    rt.block_on(async move {
        let server = MockChatServer::builder()
            .seed(1)
            .bot(BotBehavior::Silent)
            .stream_lifetime(None)
            .start()
            .await;
        let chat = server.chats()[0].id;
        for i in 0..events {
            server
                .inject_message(&chat, Author::User, format!("a message of ordinary length, number {i}"))
                .expect("the chat exists");
        }
        let before = rss_kib();
        let mut idle = Vec::new();
        for _ in 0..subscribers {
            let mut s = TcpStream::connect(server.address()).await.expect("connect");
            s.write_all(b"GET /events?stream=messages HTTP/1.1\r\nHost: localhost\r\n\r\n")
                .await
                .expect("write");
            idle.push(s);
        }
        server
            .wait_for_subscribers(subscribers)
            .await
            .expect("every subscriber connected");
        // Let the server write until every socket's buffers are full.
        let mut last = 0;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = rss_kib();
            if now == last {
                break;
            }
            last = now;
        }
        let after = rss_kib();
        let grown = after.saturating_sub(before);
        println!(
            "sse_memory: {subscribers} subscribers × {events} events never read: RSS {before} KiB -> {after} KiB (+{:.1} MiB, {:.1} KiB per subscriber)",
            grown as f64 / 1024.0,
            grown as f64 / subscribers.max(1) as f64
        );
        drop(idle);
    });
}
