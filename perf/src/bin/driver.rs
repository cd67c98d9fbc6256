//! A small, deterministic driver for profiling with callgrind: one
//! current-thread runtime, a fixed number of operations.
//!
//! ```text
//! cargo build --release -p mock-chat-server-perf --bin driver
//! valgrind --tool=callgrind --callgrind-out-file=cg.out \
//!     target/release/driver get-chats 20000
//! callgrind_annotate cg.out | head -60
//! ```
//!
//! Modes: `start-drop N`, `bare-start-drop N`, `get-chats N`,
//! `get-messages N`, `post N`, `replay N`, `sse N` (N events to 100
//! subscribers), `bare-get-chats N`, `bare-post N`.

use std::net::SocketAddr;

use mock_chat_server::config::BotBehavior;
use mock_chat_server::{Author, MockChatServer};
use mock_chat_server_perf::{BareWarp, Bodies};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use mock_chat_server_perf::http1;

async fn calm() -> MockChatServer {
    MockChatServer::builder()
        .seed(1)
        .bot(BotBehavior::Silent)
        .start()
        .await
}

async fn main_async(mode: &str, n: usize) {
    match mode {
        "start-drop" => start_drop(n).await,
        "bare-start-drop" => bare_start_drop(n).await,
        "get-chats" | "get-messages" => get(mode, n).await,
        "bare-get-chats" => bare_get_chats(n).await,
        "post" | "replay" | "bare-post" => post(mode, n).await,
        "sse" => sse(n).await,
        other => panic!("unknown mode {other}"),
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn start_drop(n: usize) {
    for _ in 0..n {
        let s = MockChatServer::builder().start().await;
        std::hint::black_box(s.address());
        drop(s);
        tokio::task::yield_now().await;
    }
}

async fn bare_start_drop(n: usize) {
    let bodies = Bodies::like_mock_chat_server(1).await;
    for _ in 0..n {
        let s = BareWarp::start(loopback(), bodies.clone()).await;
        std::hint::black_box(s.address());
        drop(s);
        tokio::task::yield_now().await;
    }
}

/// `get-chats` or `get-messages` (a chat with 100 messages).
async fn get(mode: &str, n: usize) {
    let s = calm().await;
    let first = s.chats()[0].id;
    for i in 0..99 {
        s.inject_message(&first, Author::User, format!("m{i}"))
            .unwrap();
    }
    let messages = format!("/chats/{first}/messages");
    let path = if mode == "get-chats" {
        "/chats"
    } else {
        messages.as_str()
    };
    let mut c = http1::Conn::connect(s.address()).await.unwrap();
    for _ in 0..n {
        assert_eq!(c.get(path).await.unwrap().status, 200);
    }
}

async fn bare_get_chats(n: usize) {
    let s = BareWarp::start(loopback(), Bodies::like_mock_chat_server(100).await).await;
    let mut c = http1::Conn::connect(s.address()).await.unwrap();
    for _ in 0..n {
        assert_eq!(c.get("/chats").await.unwrap().status, 200);
    }
}

/// `post` (a new key each time), `replay` (one key) or `bare-post`.
async fn post(mode: &str, n: usize) {
    let bare;
    let ours;
    let (addr, path) = if mode == "bare-post" {
        bare = BareWarp::start(loopback(), Bodies::default()).await;
        (bare.address(), "/chats/1/messages".to_string())
    } else {
        ours = calm().await;
        let first = ours.chats()[0].id;
        (ours.address(), format!("/chats/{first}/messages"))
    };
    let mut c = http1::Conn::connect(addr).await.unwrap();
    for i in 0..n {
        let key = if mode == "replay" {
            "same".to_string()
        } else {
            format!("key-{i}")
        };
        let a = c
            .post(&path, &key, r#"{"text":"hello there"}"#)
            .await
            .unwrap();
        assert_eq!(a.status, 200);
    }
}

/// `n` events to 100 subscribers.
async fn sse(n: usize) {
    let s = calm().await;
    let mut readers = Vec::new();
    for _ in 0..100 {
        readers.push(tokio::spawn(read_all(subscribe(s.address()).await)));
    }
    let first = s.chats()[0].id;
    for i in 0..n {
        s.inject_message(&first, Author::User, format!("event {i}"))
            .unwrap();
        tokio::task::yield_now().await;
    }
    s.shutdown().await;
    let mut total = 0;
    for r in readers {
        total += r.await.unwrap();
    }
    eprintln!("sse: {total} bytes received");
}

/// Opens the message stream and reads (the start of) its head.
async fn subscribe(addr: SocketAddr) -> TcpStream {
    let mut t = TcpStream::connect(addr).await.unwrap();
    t.write_all(b"GET /events?stream=messages HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let _ = t.read(&mut buf).await.unwrap();
    t
}

/// Reads until the stream ends; returns the bytes read.
async fn read_all(mut t: TcpStream) -> usize {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        match t.read(&mut buf).await {
            Ok(0) | Err(_) => return total,
            Ok(k) => total += k,
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("get-chats");
    let n = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(10_000);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(main_async(mode, n));
}
