//! Request cost per route, over real HTTP on loopback, chaos off.
//!
//! ```text
//! cargo bench --bench requests                 # everything (about 2 minutes)
//! cargo bench --bench requests -- history_get  # one group
//! ```
//!
//! Client and server share one current-thread runtime, so a figure is the
//! whole CPU cost of one keep-alive round trip (client + server + loopback
//! syscalls) without cross-thread wake-up noise. The client is a minimal
//! HTTP/1.1 writer/reader (`perf/src/http1.rs`) so the server's part
//! dominates.
//!
//! Groups:
//! - `route_cost`: `GET /chats`, `GET /chats/1/messages` (100 stored),
//!   `POST /chats/1/messages` (a new key each time), a POST with a key
//!   already stored (the empty 200), and a 404 for reference.
//! - `history_get`: `GET /chats/1/messages` (a 100-message page) with 100
//!   vs 1,000,000 messages stored in that chat.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mock_chat_server::config::{BotBehavior, ChatFixture};
use mock_chat_server::{Author, MockChatServer};

use mock_chat_server_perf::http1;

use http1::Conn;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A calm server whose first chat holds `messages` messages (plus its
/// fixture), with silent bots so no answer timers pile up during the
/// measurement.
async fn server_with(messages: usize) -> MockChatServer {
    let server = MockChatServer::builder()
        .seed(1)
        .bot(BotBehavior::Silent)
        .chats(ChatFixture::defaults())
        .start()
        .await;
    let first = server.chats()[0].id;
    for i in 0..messages {
        server
            .inject_message(&first, Author::User, format!("stored message number {i}"))
            .unwrap();
    }
    server
}

/// `/chats/{id}/messages` of the `i`-th chat, as a path the benches can
/// keep for their whole run.
fn messages_path(server: &MockChatServer, i: usize) -> &'static str {
    let id = server.chats()[i].id;
    Box::leak(format!("/chats/{id}/messages").into_boxed_str())
}

/// Times `iters` sequential requests made by `request` on one connection.
fn timed<F>(rt: &tokio::runtime::Runtime, conn: &mut Conn, iters: u64, mut request: F) -> Duration
where
    F: for<'c> FnMut(&'c mut Conn, u64) -> BoxFuture<'c>,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            request(conn, i).await;
        }
        start.elapsed()
    })
}

type BoxFuture<'c> = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + 'c>>;

fn get<'c>(conn: &'c mut Conn, path: &'static str, status: u16) -> BoxFuture<'c> {
    Box::pin(async move {
        let a = conn.get(path).await.unwrap();
        assert_eq!(a.status, status);
    })
}

fn route_cost(c: &mut Criterion) {
    let rt = runtime();
    let (server, mut conn) = rt.block_on(async {
        let server = server_with(100).await;
        let conn = Conn::connect(server.address()).await.unwrap();
        (server, conn)
    });
    let (first, second, third) = (
        messages_path(&server, 0),
        messages_path(&server, 1),
        messages_path(&server, 2),
    );
    let mut g = c.benchmark_group("route_cost");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("get_chats", |b| {
        b.iter_custom(|iters| timed(&rt, &mut conn, iters, |c, _| get(c, "/chats", 200)))
    });
    g.bench_function("get_messages_100", |b| {
        b.iter_custom(|iters| timed(&rt, &mut conn, iters, |c, _| get(c, first, 200)))
    });
    let mut round = 0u64;
    g.bench_function("post_message", |b| {
        b.iter_custom(|iters| {
            round += 1;
            timed(&rt, &mut conn, iters, |c, i| {
                let key = format!("bench-post-{round}-{i}");
                Box::pin(async move {
                    let a = c
                        .post(second, &key, r#"{"text":"hello from the bench"}"#)
                        .await
                        .unwrap();
                    assert_eq!(a.status, 200);
                    assert!(!a.empty);
                })
            })
        })
    });
    g.bench_function("post_known_key", |b| {
        b.iter_custom(|iters| {
            timed(&rt, &mut conn, iters, |c, _| {
                Box::pin(async move {
                    let a = c
                        .post(third, "known-key", r#"{"text":"once"}"#)
                        .await
                        .unwrap();
                    assert_eq!(a.status, 200);
                })
            })
        })
    });
    g.bench_function("not_found", |b| {
        b.iter_custom(|iters| timed(&rt, &mut conn, iters, |c, _| get(c, "/nope", 404)))
    });
    g.finish();
    drop(conn);
    drop(server);
}

fn history_get(c: &mut Criterion) {
    let rt = runtime();
    let mut g = c.benchmark_group("history_get");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    // `cargo test --benches` runs this once without `--bench`: keep it small.
    let big = if std::env::args().any(|a| a == "--bench") {
        1_000_000
    } else {
        1_000
    };
    for stored in [100usize, big] {
        let (server, mut conn) = rt.block_on(async {
            let started = Instant::now();
            let server = server_with(stored).await;
            eprintln!(
                "history_get: stored {stored} messages in {:.1?}",
                started.elapsed()
            );
            let conn = Conn::connect(server.address()).await.unwrap();
            (server, conn)
        });
        let path = messages_path(&server, 0);
        g.bench_function(format!("stored_{stored}"), |b| {
            b.iter_custom(|iters| timed(&rt, &mut conn, iters, |c, _| get(c, path, 200)))
        });
        drop(conn);
        drop(server);
    }
    g.finish();
}

criterion_group!(benches, route_cost, history_get);
criterion_main!(benches);
