//! Fresh start + drop, ours against the peers, in ONE criterion group so
//! the ratios come from one run.
//!
//! ```text
//! cargo bench -p mock-chat-server-perf --bench start_drop
//! ```
//!
//! Every iteration, on a current-thread runtime: start a server, read its
//! address, drop the handle, then `yield_now()` once so the spawned server
//! task gets its turn to see the stop signal and close its listener (the
//! same for every contender; without it, a current-thread runtime would
//! pile up never-polled server tasks and their sockets).
//!
//! - `mock_chat_server`: `MockChatServer::builder().start().await`
//! - `bare_warp`: `warp::serve(filter).incoming(listener).graceful(..)`
//!   spawned with `tokio::spawn`, stopped by dropping its handle (the limit)
//! - `wiremock_builder`: wiremock 0.6 `MockServer::builder().start().await`
//!   (a fresh server: a new thread with its own runtime)
//! - `wiremock_pooled`, `httpmock_pooled`, `mockito_pooled`: the peers' usual
//!   entry points, which hand out a server from a process-wide pool after
//!   the first call, so they measure a pool checkout, not a fresh server.
//!   (mockito's unpooled `Server::new_with_opts_async` leaks a thread per
//!   server, so it is not benched in a loop.)

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use mock_chat_server::MockChatServer;
use mock_chat_server_perf::{BareWarp, Bodies};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

type Group<'a> = BenchmarkGroup<'a, WallTime>;

fn start_drop(c: &mut Criterion) {
    let rt = runtime();
    let bodies = rt.block_on(Bodies::like_mock_chat_server(1));
    let mut g = c.benchmark_group("start_drop");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    bench_ours_and_warp(&mut g, &rt, bodies);
    bench_peers(&mut g, &rt);
    g.finish();
}

/// `mock_chat_server` and the `bare_warp` limit.
fn bench_ours_and_warp(g: &mut Group, rt: &tokio::runtime::Runtime, bodies: Bodies) {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    g.bench_function("mock_chat_server", |b| {
        b.to_async(rt).iter(|| async {
            let server = MockChatServer::builder().start().await;
            black_box(server.address());
            drop(server);
            tokio::task::yield_now().await;
        })
    });
    g.bench_function("bare_warp", |b| {
        b.to_async(rt).iter(|| {
            let bodies = bodies.clone();
            async move {
                let server = BareWarp::start(loopback, bodies).await;
                black_box(server.address());
                drop(server);
                tokio::task::yield_now().await;
            }
        })
    });
}

/// wiremock (fresh and pooled), httpmock and mockito (pooled).
fn bench_peers(g: &mut Group, rt: &tokio::runtime::Runtime) {
    g.bench_function("wiremock_builder", |b| {
        b.to_async(rt).iter(|| async {
            let server = wiremock::MockServer::builder().start().await;
            black_box(server.address());
            drop(server);
            tokio::task::yield_now().await;
        })
    });
    g.bench_function("wiremock_pooled", |b| {
        b.to_async(rt).iter(|| async {
            let server = wiremock::MockServer::start().await;
            black_box(server.address());
            drop(server);
            tokio::task::yield_now().await;
        })
    });
    g.bench_function("httpmock_pooled", |b| {
        b.to_async(rt).iter(|| async {
            let server = httpmock::MockServer::start_async().await;
            black_box(server.address());
            drop(server);
            tokio::task::yield_now().await;
        })
    });
    g.bench_function("mockito_pooled", |b| {
        b.to_async(rt).iter(|| async {
            let server = mockito::Server::new_async().await;
            black_box(server.socket_address());
            drop(server);
            tokio::task::yield_now().await;
        })
    });
}

criterion_group!(benches, start_drop);
criterion_main!(benches);
