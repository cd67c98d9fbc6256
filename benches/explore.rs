//! The explorer's cost per run (criterion, figures per run):
//!
//! - `command_true`: `mock-chat-server explore --seeds 0..N -- true`, in
//!   process: the per-run overhead of a command exploration (a server
//!   started, `true` spawned in its own process group and waited for, its
//!   output file written and read, the server torn down);
//! - `closure_calm`: `Explore` over a scenario that returns at once (the
//!   engine's and the server's own overhead);
//! - `closure_20_messages`: `Explore` over a correct client sending 20
//!   messages under `hostile()` at `time_scale(0.001)`.
//!
//! ```text
//! cargo bench -p mock-chat-server-perf --bench explore
//! cargo bench -p mock-chat-server-perf --bench explore -- command_true
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use criterion::{criterion_group, criterion_main, Criterion};
use mock_chat_server::cli::Cli;
use mock_chat_server::explore::Explore;
use mock_chat_server::{FaultPlan, MockChatServer};
use mock_chat_server_perf::http1;

/// A correct client: 20 messages, each retried under its key until stored
/// (an empty 200 means stored), then a history check.
async fn scenario(server: MockChatServer) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let chat = server.chats()[0].clone();
    let url = server.url(&format!("/chats/{}/messages", chat.id));
    for i in 0..20 {
        let body = format!(r#"{{"text":"message {i}"}}"#);
        let mut backoff = Duration::from_millis(1);
        loop {
            let answer = http
                .post(&url)
                .header("Idempotency-Key", format!("key-{i}"))
                .body(body.clone())
                .send()
                .await;
            if matches!(answer, Ok(a) if a.status() == 200) {
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(16));
        }
    }
    let stored = server.messages(&chat.id);
    for i in 0..20 {
        let text = format!("message {i}");
        if stored.iter().filter(|m| m.text == text).count() != 1 {
            return Err(format!("{text:?} not stored once"));
        }
    }
    Ok(())
}

/// `mock-chat-server explore --seeds 0..n --out DIR -- true`, timed.
fn explore_true(rt: &tokio::runtime::Runtime, out: &std::path::Path, n: u64) -> Duration {
    let seeds = format!("0..{}", n.max(1));
    let out = out.display().to_string();
    let args = [
        "mock-chat-server",
        "explore",
        "--seeds",
        &seeds,
        "--out",
        &out,
        "--",
        "true",
    ];
    let cli = Cli::try_parse_from(args).expect("valid flags");
    let started = Instant::now();
    let code = rt.block_on(mock_chat_server::cli::run(cli));
    let took = started.elapsed();
    assert_eq!(format!("{code:?}"), format!("{:?}", ExitCode::SUCCESS));
    took
}

fn per_run(c: &mut Criterion) {
    let rt = http1::bench_runtime();
    let out: PathBuf = std::env::temp_dir().join(format!("mcs-bench-{}", std::process::id()));
    let mut g = c.benchmark_group("explore");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(if http1::bench_mode() {
        10
    } else {
        1
    }));
    g.bench_function("command_true", |b| {
        b.iter_custom(|runs| explore_true(&rt, &out, runs))
    });
    g.bench_function("closure_calm", |b| {
        b.iter_custom(|runs| {
            let explore = Explore::new(|_server: MockChatServer| async { Ok::<(), String>(()) })
                .seeds(0..runs.max(1))
                .concurrency(1);
            let started = Instant::now();
            rt.block_on(explore.run()).assert_passed();
            started.elapsed()
        })
    });
    g.bench_function("closure_20_messages", |b| {
        b.iter_custom(|runs| {
            let explore = Explore::new(scenario)
                .builder(
                    MockChatServer::builder()
                        .faults(FaultPlan::hostile())
                        .time_scale(0.001),
                )
                .seeds(0..runs.max(1))
                .concurrency(4);
            let started = Instant::now();
            rt.block_on(explore.run()).assert_passed();
            started.elapsed()
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&out);
}

criterion_group!(benches, per_run);
criterion_main!(benches);
