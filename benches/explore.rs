//! The explorer's cost: 200 seeds of a 20-message scenario under
//! `hostile()` at `time_scale(0.001)`, run by `Explore` (one at a time, and
//! four at a time) and run one by one with no explorer, in one process.
//!
//! ```text
//! cargo bench -p mock-chat-server-perf --bench explore
//! SEEDS=50 cargo bench -p mock-chat-server-perf --bench explore
//! ```

use std::time::{Duration, Instant};

use mock_chat_server::explore::Explore;
use mock_chat_server::{FaultPlan, MockChatServer, MockChatServerBuilder};
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
            if let Ok(a) = answer {
                if a.status() == 200 {
                    break;
                }
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

fn builder() -> MockChatServerBuilder {
    MockChatServer::builder()
        .faults(FaultPlan::hostile())
        .time_scale(0.001)
}

fn main() {
    let bench = http1::bench_mode();
    let seeds: u64 = std::env::var("SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if bench { 200 } else { 4 });
    let rt = http1::bench_runtime();
    rt.block_on(async move {
        let started = Instant::now();
        for seed in 0..seeds {
            let server = builder().seed(seed).start().await;
            scenario(server).await.expect("a correct client");
        }
        let plain = started.elapsed();
        let mut figures = Vec::new();
        for concurrency in [1, 4] {
            let started = Instant::now();
            let report = Explore::new(scenario)
                .builder(builder())
                .seeds(0..seeds)
                .concurrency(concurrency)
                .run()
                .await;
            report.assert_passed();
            figures.push((concurrency, started.elapsed()));
        }
        println!("explore: {seeds} seeds of a 20-message scenario, hostile, time_scale 0.001");
        println!(
            "  one by one, no explorer: {plain:.2?} ({:.1} runs/s)",
            seeds as f64 / plain.as_secs_f64()
        );
        for (concurrency, took) in figures {
            println!(
                "  explorer, concurrency {concurrency}: {took:.2?} ({:.1} runs/s, {:.2}× the plain loop)",
                seeds as f64 / took.as_secs_f64(),
                took.as_secs_f64() / plain.as_secs_f64()
            );
        }
    });
}
