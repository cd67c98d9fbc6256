//! Reproducing a flaky run from its seed.
//!
//! A small resilient client posts a few messages to a server running the
//! reference chaos plan (slow answers, 503s, timeouts, events delivered up to
//! three times), with time compressed 100×. It retries each message with the
//! message's own idempotency key until it gets a 200, and prints the seed and
//! every fault it met. Then it runs the same client against a fresh server
//! with the same seed and checks that it met exactly the same faults.
//!
//! ```text
//! cargo run --example reproduce_flaky                    # random seed, printed
//! cargo run --example reproduce_flaky -- --seed 42       # replay seed 42
//! MOCK_CHAT_SEED=42 cargo run --example reproduce_flaky  # the same
//! ```

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use mock_chat_server::{EntryKind, FaultPlan, MockChatServer};

#[derive(Parser)]
#[command(about = "Shows how a seed replays the faults of a flaky run")]
struct Args {
    /// The seed (default: a random one, printed).
    #[arg(long, env = "MOCK_CHAT_SEED")]
    seed: Option<u64>,
    /// How many messages to post.
    #[arg(long, default_value_t = 12)]
    messages: usize,
}

/// One run: the seed used, what the client saw, and the server's journal of
/// the faults it injected.
struct Run {
    seed: u64,
    client_saw: Vec<String>,
    faults: Vec<String>,
}

async fn run(seed: Option<u64>, messages: usize) -> Run {
    let mut builder = MockChatServer::builder()
        .faults(FaultPlan::reference())
        .time_scale(0.01);
    if let Some(seed) = seed {
        builder = builder.seed(seed);
    }
    let server = builder.start().await;

    // The slowest reference answer is (1.5 s + 5 s + 1.5 s) × 0.01 = 80 ms,
    // so this timeout only guards against hangs. A client timeout shorter
    // than the server's delays would make *which* requests get sent depend
    // on the machine's speed, and a seed replays the same faults for the
    // same sequence of requests.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("HTTP client");
    let mut client_saw = Vec::new();
    for i in 1..=messages {
        let key = format!("reproduce-flaky-{i}"); // one key per message, kept across retries
        let mut attempt = 1;
        loop {
            let res = client
                .post(server.url("/chats/1/messages"))
                .header("Idempotency-Key", &key)
                .json(&serde_json::json!({ "text": format!("message {i}") }))
                .send()
                .await;
            let outcome = match res {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => r.status().to_string(), // 503, 504, or 409 if still in flight
                Err(e) if e.is_timeout() => "client timeout".to_string(),
                Err(_) => "connection error".to_string(),
            };
            client_saw.push(format!(
                "message {i}, attempt {attempt}: {outcome}, retrying"
            ));
            assert!(attempt < 10, "message {i}: giving up after 10 attempts");
            tokio::time::sleep(Duration::from_millis(5 * attempt)).await;
            attempt += 1;
        }
    }

    // The server's side: every fault it injected on a request, and how many
    // times each message went out on SSE (a function of the seed and the key).
    let faults = server
        .journal()
        .into_iter()
        .filter(|e| e.kind == EntryKind::Request)
        .filter_map(|e| {
            let key = e.idempotency_key.unwrap_or_default();
            match (e.fault, e.event_ids.len()) {
                (Some(fault), _) => Some(format!("{key} (k={}): {fault}", e.k)),
                (None, copies) if copies > 1 => {
                    Some(format!("{key} (k={}): delivered {copies}× on SSE", e.k))
                }
                _ => None,
            }
        })
        .collect();
    Run {
        seed: server.seed(),
        client_saw,
        faults,
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let first = run(args.seed, args.messages).await;
    println!("seed {} (reference plan, time scale 0.01)", first.seed);
    println!("the client saw:");
    for line in &first.client_saw {
        println!("  {line}");
    }
    if first.client_saw.is_empty() {
        println!("  a 200 at the first attempt, every time (try another seed)");
    }
    println!("the server injected:");
    for line in &first.faults {
        println!("  {line}");
    }

    // Same seed, same requests: same faults, however the machine's timing
    // (or the bots answering meanwhile) interleaves with them.
    let again = run(Some(first.seed), args.messages).await;
    if again.client_saw == first.client_saw && again.faults == first.faults {
        println!("replayed with seed {}: the very same faults", first.seed);
        println!(
            "rerun it: MOCK_CHAT_SEED={} cargo run --example reproduce_flaky",
            first.seed
        );
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "the replay differed: {:?} / {:?}",
            again.client_saw, again.faults
        );
        ExitCode::FAILURE
    }
}
