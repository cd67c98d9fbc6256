//! SSE fan-out: 1,000 subscribers on real HTTP connections.
//!
//! ```text
//! cargo bench -p mock-chat-server-perf --bench sse_fanout                    # scenario + criterion group
//! cargo bench -p mock-chat-server-perf --bench sse_fanout -- --scenario-only # the 5 s scenario only
//! FANOUT_SUBSCRIBERS=1000 FANOUT_SECS=5 FANOUT_RATE=1000 cargo bench -p mock-chat-server-perf --bench sse_fanout -- --scenario-only
//! ```
//!
//! 1. The scenario of the performance issue: 1,000 subscribers (plus one
//!    that never reads), one `POST` per millisecond for 5 s over a
//!    keep-alive connection. It prints how many events every subscriber
//!    got, publish→receive latency percentiles (publish = just before the
//!    POST is written), and the POST round-trip percentiles, which show
//!    whether a slow subscriber ever blocks the publisher.
//! 2. Criterion group `sse_fanout`: the time from publishing one message
//!    (in-process, `inject_message`) until all 1,000 subscribers have
//!    received it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use mock_chat_server::config::BotBehavior;
use mock_chat_server::{Author, MockChatServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use mock_chat_server_perf::http1;

use http1::env_or;

/// Opens `/events?stream=messages` and returns the stream once the 200 head
/// has arrived (so the subscription exists on the server).
async fn open_stream(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(b"GET /events?stream=messages HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "stream closed before its head");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = http1::find(&buf, b"\r\n\r\n") {
            assert!(buf.starts_with(b"HTTP/1.1 200"), "not a 200 stream");
            buf.drain(..end + 4);
            return (s, buf);
        }
    }
}

/// The number after `"text":"<prefix>` in a `data:` line.
fn seq_of(line: &[u8], prefix: &[u8]) -> Option<usize> {
    let at = http1::find(line, prefix)? + prefix.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

/// Reads a stream, calling `on_event(seq)` for every `data:` line carrying
/// our marker. Ends when the connection closes.
async fn read_events(mut s: TcpStream, mut buf: Vec<u8>, mut on_event: impl FnMut(usize)) {
    const MARK: &[u8] = b"\"text\":\"fanout-";
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let mut from = 0;
        while let Some(nl) = buf[from..].iter().position(|b| *b == b'\n') {
            let line = &buf[from..from + nl];
            if line.starts_with(b"data:") {
                if let Some(seq) = seq_of(line, MARK) {
                    on_event(seq);
                }
            }
            from += nl + 1;
        }
        buf.drain(..from);
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn fmt_us(us: u64) -> String {
    if us >= 10_000 {
        format!("{:.1} ms", us as f64 / 1000.0)
    } else {
        format!("{us} µs")
    }
}

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces): utime is
    // the 14th field of the line, stime the 15th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    let ticks = f.iter().sum::<u64>();
    Duration::from_millis(ticks * 10) // USER_HZ = 100 on Linux
}

/// When each event was published, in nanoseconds since `base`.
#[derive(Clone)]
struct Published {
    base: Instant,
    at: Arc<Vec<AtomicU64>>,
}

/// What one subscriber got: its event count and latencies (µs).
type Received = (usize, Vec<u64>);

/// A multi-thread runtime with two workers.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A calm server (silent bot) whose streams never end.
async fn start_server() -> MockChatServer {
    MockChatServer::builder()
        .seed(1)
        .bot(BotBehavior::Silent)
        .stream_lifetime(None)
        .start()
        .await
}

/// The issue's scenario. Returns true if every subscriber got every event.
fn scenario() -> bool {
    let subscribers = env_or("FANOUT_SUBSCRIBERS", 1000) as usize;
    let secs = env_or("FANOUT_SECS", 5);
    let rate = env_or("FANOUT_RATE", 1000).max(1);
    let events = (secs * rate) as usize;
    runtime().block_on(async move {
        let server = start_server().await;
        let addr = server.address();
        let chats: Vec<String> = server.chats().iter().map(|c| c.id.to_string()).collect();
        let published = Published {
            base: Instant::now(),
            at: Arc::new((0..events).map(|_| AtomicU64::new(0)).collect()),
        };
        let mut readers = Vec::new();
        for _ in 0..subscribers {
            readers.push(subscribe(addr, events, published.clone()).await);
        }
        // One subscriber that never reads: it must not slow anyone down.
        let (stalled, _) = open_stream(addr).await;
        assert!(server.subscriber_count() > subscribers);
        eprintln!(
            "scenario: {subscribers} subscribers (+1 that never reads), {events} POSTs at {rate}/s"
        );
        let mut conn = http1::Conn::connect(addr).await.unwrap();
        let started = Instant::now();
        let cpu_before = cpu_time();
        let mut post_us = publish(&mut conn, &chats, rate, &published).await;
        let publish_time = started.elapsed();
        let cpu = cpu_time().saturating_sub(cpu_before);
        // Let the last events arrive, then end every stream.
        tokio::time::sleep(Duration::from_millis(500)).await;
        server.shutdown().await;
        drop(stalled);
        let (mut all, complete, min_got) = gather(readers, events).await;
        all.sort_unstable();
        post_us.sort_unstable();
        eprintln!(
            "scenario: published {events} in {publish_time:.2?}; {complete}/{subscribers} subscribers got all {events} events (fewest: {min_got}); {} deliveries",
            all.len()
        );
        print_figures(&all, &post_us, cpu);
        complete == subscribers
    })
}

/// Opens one stream and spawns its reader, which records each event's
/// publish→receive latency.
async fn subscribe(
    addr: SocketAddr,
    events: usize,
    published: Published,
) -> tokio::task::JoinHandle<Received> {
    let (s, buf) = open_stream(addr).await;
    tokio::spawn(async move {
        let mut lat = Vec::with_capacity(events);
        let mut got = 0usize;
        read_events(s, buf, |seq| {
            let now = published.base.elapsed().as_nanos() as u64;
            let sent = published.at[seq].load(Ordering::Acquire);
            lat.push(now.saturating_sub(sent) / 1000);
            got += 1;
        })
        .await;
        (got, lat)
    })
}

/// POSTs every event at `rate` per second over the keep-alive `conn`,
/// noting when each was published; returns the round trips (µs).
async fn publish(
    conn: &mut http1::Conn,
    chats: &[String],
    rate: u64,
    published: &Published,
) -> Vec<u64> {
    let events = published.at.len();
    let mut post_us = Vec::with_capacity(events);
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for seq in 0..events {
        tick.tick().await;
        let body = format!(r#"{{"text":"fanout-{seq}"}}"#);
        let key = format!("fanout-key-{seq}");
        let t0 = Instant::now();
        let at = published.base.elapsed().as_nanos() as u64;
        published.at[seq].store(at, Ordering::Release);
        let a = conn
            .post(&format!("/chats/{}/messages", chats[seq % 4]), &key, &body)
            .await
            .unwrap();
        assert_eq!(a.status, 200);
        post_us.push(t0.elapsed().as_micros() as u64);
    }
    post_us
}

/// Every latency, how many subscribers got all `events`, and the fewest
/// any subscriber got.
async fn gather(
    readers: Vec<tokio::task::JoinHandle<Received>>,
    events: usize,
) -> (Vec<u64>, usize, usize) {
    let mut all = Vec::with_capacity(events * readers.len());
    let mut complete = 0usize;
    let mut min_got = usize::MAX;
    for r in readers {
        let (got, lat) = r.await.unwrap();
        if got == events {
            complete += 1;
        }
        min_got = min_got.min(got);
        all.extend(lat);
    }
    (all, complete, min_got)
}

/// Latency, CPU and POST round-trip figures (`all`, `post_us` sorted).
fn print_figures(all: &[u64], post_us: &[u64], cpu: Duration) {
    eprintln!(
        "scenario: publish->receive p50 {} p90 {} p99 {} max {}",
        fmt_us(percentile(all, 0.5)),
        fmt_us(percentile(all, 0.9)),
        fmt_us(percentile(all, 0.99)),
        fmt_us(*all.last().unwrap_or(&0)),
    );
    eprintln!(
        "scenario: CPU (server + subscribers + publisher, this process) {cpu:.2?} while publishing: {:.2} µs per delivery",
        cpu.as_secs_f64() * 1e6 / all.len().max(1) as f64
    );
    eprintln!(
        "scenario: POST round trip p50 {} p99 {} max {}",
        fmt_us(percentile(post_us, 0.5)),
        fmt_us(percentile(post_us, 0.99)),
        fmt_us(*post_us.last().unwrap_or(&0)),
    );
}

const SUBSCRIBERS: u64 = 1000;

/// Subscriber count and a wake-up for every event any subscriber receives.
#[derive(Clone, Default)]
struct Counter {
    received: Arc<AtomicU64>,
    notify: Arc<Notify>,
}

impl Counter {
    /// Waits until `target` events have been received in all.
    async fn wait_for(&self, target: u64) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.received.load(Ordering::Acquire) >= target {
                break;
            }
            notified.await;
        }
    }
}

/// A server with `SUBSCRIBERS` streams, each counting into `counter`.
async fn start_with_subscribers(counter: &Counter) -> MockChatServer {
    let server = start_server().await;
    for _ in 0..SUBSCRIBERS {
        let (s, buf) = open_stream(server.address()).await;
        let counter = counter.clone();
        tokio::spawn(read_events(s, buf, move |_| {
            counter.received.fetch_add(1, Ordering::AcqRel);
            counter.notify.notify_waiters();
        }));
    }
    server
}

/// Criterion: publish one message, wait until every subscriber has it.
fn fanout_group(c: &mut Criterion) {
    let rt = runtime();
    let counter = Counter::default();
    let server = rt.block_on(start_with_subscribers(&counter));
    let mut published = 0u64;
    let john = server.chats()[0].id;
    let mut g = c.benchmark_group("sse_fanout");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(30);
    g.bench_function("publish_until_all_1000_received", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    published += 1;
                    let target = published * SUBSCRIBERS;
                    let t0 = Instant::now();
                    server
                        .inject_message(&john, Author::User, format!("fanout-{published}"))
                        .unwrap();
                    counter.wait_for(target).await;
                    total += t0.elapsed();
                }
                total
            })
        })
    });
    g.finish();
    rt.block_on(server.shutdown());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test --benches` runs bench binaries with `--bench` absent; keep
    // that quick.
    let bench_mode = args.iter().any(|a| a == "--bench");
    if !bench_mode {
        return;
    }
    let scenario_only = args.iter().any(|a| a == "--scenario-only");
    let ok = scenario();
    if !ok {
        eprintln!("scenario: NOT every subscriber got every event");
    }
    if scenario_only {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    fanout_group(&mut c);
    c.final_summary();
}
