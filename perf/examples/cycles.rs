//! Start + drop, 1,000 times: is the port closed after each drop, and are
//! threads and file descriptors back where they started?
//!
//! ```text
//! cargo run --release -p mock-chat-server-perf --example cycles
//! cargo run --release -p mock-chat-server-perf --example cycles -- 5000
//! ```
//!
//! For each contender, on a current-thread runtime: N times start a server,
//! drop it, then yield to the runtime until a connection to its port is
//! refused (counting the yields; gives up after 100 and counts the port as
//! still open). Then it reports the thread and fd counts of this process
//! before and after.

use std::net::SocketAddr;
use std::time::Instant;

use mock_chat_server::MockChatServer;
use mock_chat_server_perf::{fds, threads, BareWarp, Bodies};

/// Yields until `addr` refuses connections; `None` if it is still open
/// after 100 yields.
async fn yields_until_closed(addr: SocketAddr) -> Option<u32> {
    for n in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return Some(n);
        }
        tokio::task::yield_now().await;
    }
    None
}

struct Tally {
    open_after_drop: u32,
    max_yields: u32,
}

impl Tally {
    fn new() -> Self {
        Tally {
            open_after_drop: 0,
            max_yields: 0,
        }
    }

    fn add(&mut self, closed: Option<u32>) {
        match closed {
            Some(n) => self.max_yields = self.max_yields.max(n),
            None => self.open_after_drop += 1,
        }
    }
}

fn report(name: &str, n: u32, t: &Tally, before: (u64, usize), started: Instant) {
    let pid = std::process::id();
    let after = (threads(pid).unwrap_or(0), fds(pid).unwrap_or(0));
    println!(
        "{name:<18} {n} cycles in {:>8.1?}: port still open after drop: {:>4}; yields to close: max {:>2}; threads {} -> {}; fds {} -> {}",
        started.elapsed(),
        t.open_after_drop,
        t.max_yields,
        before.0,
        after.0,
        before.1,
        after.1,
    );
}

fn counts() -> (u64, usize) {
    let pid = std::process::id();
    (threads(pid).unwrap_or(0), fds(pid).unwrap_or(0))
}

fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let bodies = Bodies::like_mock_chat_server(1).await;
        let loopback = SocketAddr::from(([127, 0, 0, 1], 0));

        let (before, started, mut t) = (counts(), Instant::now(), Tally::new());
        for _ in 0..n {
            let s = MockChatServer::builder().start().await;
            let addr = s.address();
            drop(s);
            t.add(yields_until_closed(addr).await);
        }
        report("mock_chat_server", n, &t, before, started);

        let (before, started, mut t) = (counts(), Instant::now(), Tally::new());
        for _ in 0..n {
            let s = BareWarp::start(loopback, bodies.clone()).await;
            let addr = s.address();
            drop(s);
            t.add(yields_until_closed(addr).await);
        }
        report("bare_warp", n, &t, before, started);

        let (before, started, mut t) = (counts(), Instant::now(), Tally::new());
        for _ in 0..n {
            let s = wiremock::MockServer::builder().start().await;
            let addr = *s.address();
            drop(s);
            t.add(yields_until_closed(addr).await);
        }
        report("wiremock_builder", n, &t, before, started);

        let (before, started, mut t) = (counts(), Instant::now(), Tally::new());
        for _ in 0..n {
            let s = wiremock::MockServer::start().await;
            let addr = *s.address();
            drop(s);
            t.add(yields_until_closed(addr).await);
        }
        report("wiremock_pooled", n, &t, before, started);
    });
    // The same for `start_blocking()` (its own runtime on a thread).
    let (before, started, mut t) = (counts(), Instant::now(), Tally::new());
    for _ in 0..n {
        let s = MockChatServer::builder().start_blocking();
        let addr = s.address();
        drop(s);
        let mut closed = None;
        for i in 0..1000 {
            if std::net::TcpStream::connect(addr).is_err() {
                closed = Some(i);
                break;
            }
            std::thread::yield_now();
        }
        t.add(closed);
    }
    // The background threads end on their own once the server is gone.
    std::thread::sleep(std::time::Duration::from_millis(200));
    report("start_blocking", n, &t, before, started);
}
