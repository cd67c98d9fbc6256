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

use std::future::Future;
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

/// `n` times: `start()` a server and drop it (it returns the address, the
/// server dropped on return), then count the yields until the port closes.
async fn cycles<F, Fut>(name: &str, n: u32, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = SocketAddr>,
{
    let (before, started, mut t) = (counts(), Instant::now(), Tally::new());
    for _ in 0..n {
        let addr = start().await;
        t.add(yields_until_closed(addr).await);
    }
    report(name, n, &t, before, started);
}

/// The same for `start_blocking()` (its own runtime on a thread).
fn blocking_cycles(n: u32) {
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
        cycles("mock_chat_server", n, || async {
            let s = MockChatServer::builder().start().await;
            s.address()
        })
        .await;
        cycles("bare_warp", n, || {
            let bodies = bodies.clone();
            async move {
                let s = BareWarp::start(loopback, bodies).await;
                s.address()
            }
        })
        .await;
        cycles("wiremock_builder", n, || async {
            let s = wiremock::MockServer::builder().start().await;
            *s.address()
        })
        .await;
        cycles("wiremock_pooled", n, || async {
            let s = wiremock::MockServer::start().await;
            *s.address()
        })
        .await;
    });
    blocking_cycles(n);
}
