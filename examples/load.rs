//! A load generator for a running server (normally `examples/serve`):
//! many keep-alive connections on loopback, bounded in request count and
//! time; reports requests per second, latency percentiles and the server's
//! resident memory (read from `/proc/<pid>/status`, Linux only).
//!
//! ```text
//! cargo build --release --example serve --example load
//! RUST_LOG=warn target/release/examples/serve --chaos none --port 3000 &
//! target/release/examples/load --pid $! --mode get-chats --requests 200000
//! target/release/examples/load --pid $! --mode post --seconds 5
//! target/release/examples/load --pid $! --mode sse-idle --subscribers 1000
//! kill %1
//! ```
//!
//! Modes: `get-chats` (`GET /chats`), `get-messages` (`GET
//! /chats/1/messages`), `post` (`POST /chats/1/messages`, a new
//! `Idempotency-Key` each time), `sse-idle` (opens `--subscribers` SSE
//! streams, then measures the server's memory per idle subscriber).
//!
//! The client runs on one thread (like `wrk -t1`), so on a small machine it
//! leaves the other cores to the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "../benches/support/http1.rs"]
mod http1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    GetChats,
    GetMessages,
    Post,
    SseIdle,
}

/// Loopback load generator for mock-chat-server.
#[derive(Debug, Parser)]
struct Cli {
    /// The server's address (loopback only).
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: SocketAddr,
    /// The server's process id, to report its memory (RSS).
    #[arg(long)]
    pid: Option<u32>,
    /// What to send.
    #[arg(long, value_enum, default_value_t = Mode::GetChats)]
    mode: Mode,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Stop after this many requests in total.
    #[arg(long, default_value_t = 200_000)]
    requests: u64,
    /// Stop after this many seconds (whichever comes first); for
    /// `sse-idle`, how long the subscribers stay connected.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// SSE subscribers (`sse-idle`).
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
}

fn rss(pid: Option<u32>) -> Option<u64> {
    pid.and_then(http1::rss_kib)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

async fn http_load(cli: &Cli) {
    let deadline = Instant::now() + Duration::from_secs(cli.seconds);
    let issued = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    );
    let before = rss(cli.pid);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..cli.connections {
        let (issued, stop, run) = (Arc::clone(&issued), Arc::clone(&stop), run.clone());
        let (addr, mode, limit) = (cli.addr, cli.mode, cli.requests);
        tasks.push(tokio::spawn(async move {
            let mut conn = http1::Conn::connect(addr).await.expect("cannot connect");
            let mut lat = Vec::new();
            let mut errors = 0u64;
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= limit || stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
                    break;
                }
                let t0 = Instant::now();
                let answer = match mode {
                    Mode::GetChats => conn.get("/chats").await,
                    Mode::GetMessages => conn.get("/chats/1/messages").await,
                    _ => {
                        let key = format!("load-{run}-{c}-{n}");
                        conn.post("/chats/1/messages", &key, r#"{"text":"hello from load"}"#)
                            .await
                    }
                };
                match answer {
                    Ok(a) if a.status == 200 => lat.push(t0.elapsed().as_micros() as u64),
                    Ok(_) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            (lat, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    // Let the server settle (freed buffers, finished tasks) before reading.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss(cli.pid);
    lat.sort_unstable();
    let pct = |p: f64| lat.get(((lat.len() as f64 - 1.0) * p) as usize).copied();
    println!(
        "{:?}: {} ok, {errors} errors in {elapsed:.2?} over {} connections: {:.0} req/s; latency p50 {} µs, p99 {} µs",
        cli.mode,
        lat.len(),
        cli.connections,
        lat.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5).unwrap_or(0),
        pct(0.99).unwrap_or(0),
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "server RSS: {} before, {} after, growth {:+.1} MiB",
            mib(b),
            mib(a),
            (a as f64 - b as f64) / 1024.0
        );
    }
}

async fn sse_idle(cli: &Cli) {
    let before = rss(cli.pid);
    let mut streams = Vec::with_capacity(cli.subscribers);
    for _ in 0..cli.subscribers {
        let mut s = tokio::net::TcpStream::connect(cli.addr)
            .await
            .expect("cannot connect");
        s.write_all(b"GET /events?stream=messages HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while http1::find(&head, b"\r\n\r\n").is_none() {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "stream closed before its head");
            head.extend_from_slice(&buf[..n]);
        }
        assert!(head.starts_with(b"HTTP/1.1 200"), "not a 200 stream");
        streams.push(s);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss(cli.pid);
    println!("{} idle SSE subscribers open", streams.len());
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "server RSS: {} before, {} with the subscribers: {:.1} KiB per subscriber",
            mib(b),
            mib(a),
            (a as f64 - b as f64) / streams.len().max(1) as f64
        );
    }
    let hold = Duration::from_secs(cli.seconds.min(5));
    tokio::time::sleep(hold).await;
    drop(streams);
}

fn main() {
    let cli = Cli::parse();
    assert!(
        cli.addr.ip().is_loopback(),
        "load only targets loopback addresses"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        match cli.mode {
            Mode::SseIdle => sse_idle(&cli).await,
            _ => http_load(&cli).await,
        }
    });
}
