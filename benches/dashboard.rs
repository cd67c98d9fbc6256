//! What a live dashboard costs the server: calm `GET /chats` throughput with
//! one live feed viewer reading vs none, and resident memory over many
//! requests with a viewer that stops reading vs none.
//!
//! ```text
//! cargo bench --bench dashboard                  # 8 alternating rounds, 100,000-request RSS runs
//! ROUNDS=4 REQUESTS=20000 RSS_REQUESTS=100000 cargo bench --bench dashboard
//! ```
//!
//! Throughput: two servers with the admin API on, one with a viewer on
//! `/__admin/live` that reads everything, one without; the same batch of
//! keep-alive requests is timed on each in turn, round after round, so
//! drift on a shared machine falls on both. Targets: at least 0.9x with the
//! viewer.
//!
//! Memory: the bench reruns itself in a child process per case (so the
//! allocator's reuse does not blur them) and compares the children's RSS
//! after the same requests. Target: the stalled viewer at most 5 MB above.

use std::time::{Duration, Instant};

use futures::future::join_all;
use mock_chat_server::{FaultPlan, MockChatServer};
use mock_chat_server_perf::http1::{self, env_or, Conn};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Concurrent keep-alive connections.
const CLIENTS: usize = 4;
/// The child's environment variable: `none` or `stalled`.
const CHILD: &str = "DASHBOARD_RSS_CHILD";

async fn admin_server() -> MockChatServer {
    MockChatServer::builder()
        .seed(1)
        .faults(FaultPlan::none())
        .admin_api(true)
        .start()
        .await
}

/// Opens the live feed; `reading`: a task reads it to the end.
async fn viewer(server: &MockChatServer, reading: bool) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(server.address()).await.expect("connect");
    let req = "GET /__admin/live HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(req.as_bytes()).await.expect("write");
    if !reading {
        return Some(stream);
    }
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    None
}

/// `count` `GET /chats` over [`CLIENTS`] keep-alive connections.
async fn requests(server: &MockChatServer, count: usize) -> Duration {
    let started = Instant::now();
    let tasks = (0..CLIENTS).map(|client| async move {
        let mut conn = Conn::connect(server.address()).await.expect("connect");
        for _ in (client..count).step_by(CLIENTS) {
            let answer = conn.get("/chats").await.expect("get");
            assert_eq!(answer.status, 200);
        }
    });
    join_all(tasks).await;
    started.elapsed()
}

fn throughput(rounds: usize, count: usize) {
    let rt = http1::bench_runtime();
    rt.block_on(async {
        let (calm, watched) = (admin_server().await, admin_server().await);
        viewer(&watched, true).await;
        // Warm both up (and let the viewer's snapshot go).
        requests(&calm, count / 4).await;
        requests(&watched, count / 4).await;
        let (mut none, mut one) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which goes first.
            let (a, b) = if round % 2 == 0 {
                (
                    requests(&calm, count).await,
                    requests(&watched, count).await,
                )
            } else {
                let b = requests(&watched, count).await;
                (requests(&calm, count).await, b)
            };
            none.push(count as f64 / a.as_secs_f64());
            one.push(count as f64 / b.as_secs_f64());
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (none, one) = (median(&mut none), median(&mut one));
        println!(
            "dashboard: GET /chats, {rounds} alternating rounds of {count}: no viewer {none:.0}/s, \
             one live viewer {one:.0}/s: {:.3}x",
            one / none
        );
    });
}

/// In a child: `count` requests with no viewer or a stalled one; prints
/// the RSS in KiB.
fn child(mode: &str, count: usize) {
    let rt = http1::bench_runtime();
    rt.block_on(async {
        let server = admin_server().await;
        let _stalled = match mode {
            "stalled" => viewer(&server, false).await,
            _ => None,
        };
        requests(&server, count).await;
        println!("{}", http1::rss_kib(std::process::id()).unwrap_or(0));
    });
}

fn rss_of(mode: &str, count: usize) -> f64 {
    let exe = std::env::current_exe().expect("the bench's path");
    let out = std::process::Command::new(exe)
        .env(CHILD, mode)
        .env("RSS_REQUESTS", count.to_string())
        .output()
        .expect("the child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let kib: f64 = text.trim().parse().expect("the child's RSS");
    kib / 1024.0
}

fn main() {
    let bench = http1::bench_mode();
    let rss_requests = env_or("RSS_REQUESTS", if bench { 100_000 } else { 500 });
    if let Ok(mode) = std::env::var(CHILD) {
        return child(&mode, rss_requests);
    }
    let rounds = env_or("ROUNDS", if bench { 8 } else { 2 });
    let count = env_or("REQUESTS", if bench { 20_000 } else { 200 });
    throughput(rounds, count);
    let none = rss_of("none", rss_requests);
    let stalled = rss_of("stalled", rss_requests);
    println!(
        "dashboard: RSS after {rss_requests} GET /chats: no viewer {none:.1} MiB, a viewer that \
         stopped reading {stalled:.1} MiB (+{:.1} MiB)",
        stalled - none
    );
}
