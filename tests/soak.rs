//! Exactly-once under hostile chaos, with the reference client of
//! `examples/resilient_client` (the same source file, included below).
//!
//! The big soak is ignored by default:
//! `cargo test --release --test soak -- --ignored --nocapture`

// The very client the README walks through; not a copy.
#[path = "../examples/resilient_client/client.rs"]
mod client;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use client::{follow_events, Attempt, ChatClient, Config, Trouble};
use futures::StreamExt;
use mock_chat_server::{
    Author, BotBehavior, Delay, EntryKind, FaultPlan, MockChatServer, RouteFaults,
};
use tokio::sync::{mpsc, watch};

/// Server time compression: injected 5 s timeouts last 100 ms, latencies
/// 0-40 ms each side, bot answers 60-100 ms.
const TIME_SCALE: f64 = 0.02;

fn client_config(server: &MockChatServer, seed: u64) -> Config {
    Config {
        // Below the injected timeout (100 ms), so client-side timeouts
        // happen; above the injected latencies (at most 2 x 40 ms), so
        // that on a calm machine only injected timeouts trip it.
        request_timeout: Duration::from_millis(80),
        backoff_base: Duration::from_millis(4),
        backoff_max: Duration::from_millis(100),
        // A run that needs this many attempts for one message is broken.
        max_attempts: 60,
        sse_idle_timeout: Duration::from_secs(10),
        seed,
        ..Config::new(server.uri())
    }
}

struct SoakReport {
    elapsed: Duration,
    attempts: u64,
    most_attempts: u32,
    replayed: u64,
    troubles: BTreeMap<String, u64>,
    stats: client::FollowStats,
}

/// Sends `messages` messages under `FaultPlan::hostile()`, `in_flight` at a
/// time, follows the stream, and checks exactly-once end to end.
async fn soak(messages: u64, in_flight: usize, seed: u64, patience: Duration) -> SoakReport {
    let started = Instant::now();
    let server = MockChatServer::builder()
        .seed(seed)
        .faults(FaultPlan::hostile())
        .time_scale(TIME_SCALE)
        // Keep the whole journal of the 2,000-message run for the cross-check.
        .journal_capacity(200_000)
        .start()
        .await;
    let chats = server.chats();
    let fixture_ids: HashSet<u64> = chats
        .iter()
        .flat_map(|c| server.messages(c.id))
        .map(|m| m.id)
        .collect();
    let config = client_config(&server, seed);

    let (tx, mut rx) = mpsc::unbounded_channel();
    let (stop, stop_rx) = watch::channel(false);
    let follower = tokio::spawn(follow_events(config.clone(), tx, stop_rx));

    // Send everything.
    let client = ChatClient::new(config);
    let results: Vec<_> = futures::stream::iter(0..messages)
        .map(|n| {
            let client = client.clone();
            let chat_id = chats[n as usize % chats.len()].id;
            async move {
                let text = format!("soak message {n}");
                let (key, sent) = client.send_nth(n, chat_id, &text).await;
                (n, chat_id, key, text, sent)
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;

    let mut report = SoakReport {
        elapsed: Duration::ZERO,
        attempts: 0,
        most_attempts: 0,
        replayed: 0,
        troubles: BTreeMap::new(),
        stats: Default::default(),
    };
    // key -> (chat, text, acknowledged message id)
    let mut acked: HashMap<String, (u64, String, u64)> = HashMap::new();
    for (n, chat_id, key, text, sent) in results {
        let sent = sent.unwrap_or_else(|e| panic!("message {n} ({key}): {e}"));
        assert_eq!(
            sent.message.text, text,
            "message {n}: answer for another message"
        );
        assert_eq!(sent.message.chat_id, chat_id);
        assert_eq!(sent.message.idempotency_key, key);
        report.attempts += u64::from(sent.attempts);
        report.most_attempts = report.most_attempts.max(sent.attempts);
        report.replayed += u64::from(sent.replayed);
        for t in &sent.troubles {
            let name = match t {
                Trouble::Status(s) => format!("status {s}"),
                other => other.to_string(),
            };
            *report.troubles.entry(name).or_default() += 1;
        }
        assert!(
            acked
                .insert(key, (chat_id, text, sent.message.id))
                .is_none(),
            "duplicate key generated"
        );
    }
    let acked_ids: HashSet<u64> = acked.values().map(|(_, _, id)| *id).collect();
    assert_eq!(
        acked_ids.len() as u64,
        messages,
        "two keys acknowledged as one message"
    );

    // Wait (on the stream itself, no sleeping) until every acknowledged
    // message and every bot answer has been delivered, then until a sentinel
    // published after all of them has arrived: by then every event before it
    // must have been received.
    let sentinel = "soak sentinel";
    let mut user_seen: HashSet<u64> = HashSet::new();
    let mut bot_seen: HashMap<u64, u64> = HashMap::new(); // chat -> answers
    let mut bots_total = 0u64;
    let mut sentinel_sent = false;
    let waited = tokio::time::timeout(patience, async {
        loop {
            if !sentinel_sent && acked_ids.is_subset(&user_seen) && bots_total >= messages {
                server
                    .inject_message(chats[0].id, Author::User, sentinel)
                    .unwrap();
                sentinel_sent = true;
            }
            let m = rx.recv().await.expect("the follower stopped early");
            if m.author == "bot" {
                bots_total += 1;
                *bot_seen.entry(m.chat_id).or_default() += 1;
            } else if m.text == sentinel {
                return;
            } else {
                assert!(user_seen.insert(m.id), "message {} handed out twice", m.id);
            }
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "timed out: {} of {messages} acknowledged messages and {bots_total} bot answers seen on SSE",
        user_seen.intersection(&acked_ids).count()
    );
    let _ = stop.send(true);
    let stats = follower.await.expect("follower task");

    // 1. Every message stored exactly once, under its key.
    let mut stored_by_key: HashMap<String, Vec<mock_chat_server::Message>> = HashMap::new();
    let mut bots_stored: HashMap<u64, u64> = HashMap::new();
    let mut bot_keys = HashSet::new();
    let mut users_stored: HashMap<u64, u64> = HashMap::new();
    for chat in &chats {
        let history = server.messages(chat.id);
        assert!(history.windows(2).all(|w| w[0].id < w[1].id));
        for m in history {
            if fixture_ids.contains(&m.id) || m.text == sentinel {
                continue;
            }
            match m.author {
                Author::User => {
                    *users_stored.entry(m.chat_id).or_default() += 1;
                    stored_by_key
                        .entry(m.idempotency_key.clone())
                        .or_default()
                        .push(m);
                }
                Author::Bot => {
                    *bots_stored.entry(m.chat_id).or_default() += 1;
                    assert!(bot_keys.insert(m.idempotency_key.clone()), "bot key reused");
                }
            }
        }
    }
    assert_eq!(stored_by_key.len() as u64, messages, "stored keys");
    for (key, (chat_id, text, id)) in &acked {
        let stored = stored_by_key
            .get(key)
            .unwrap_or_else(|| panic!("acknowledged message {key} is not stored"));
        assert_eq!(stored.len(), 1, "{key} stored {} times", stored.len());
        assert_eq!(
            (stored[0].chat_id, &stored[0].text, stored[0].id),
            (*chat_id, text, *id)
        );
    }

    // 2. Every acknowledged message seen on SSE (once: checked on receipt).
    assert!(acked_ids.is_subset(&user_seen));

    // 3. Exactly one bot answer per user message, chat by chat, on the
    //    server and on the stream.
    assert_eq!(bots_stored, users_stored, "bot answers per chat (stored)");
    assert_eq!(bot_seen, users_stored, "bot answers per chat (seen on SSE)");

    // 4. No event lost: the follower received every event id up to the
    //    sentinel's, across all its reconnects; the journal agrees on which
    //    ids were issued.
    let journal = server.journal();
    let sentinel_event = journal
        .iter()
        .rev()
        .find(|e| e.kind == EntryKind::Injected)
        .and_then(|e| e.event_ids.first().copied())
        .expect("sentinel in the journal");
    let received: HashSet<u64> = stats.event_ids.iter().copied().collect();
    let missing: Vec<u64> = (1..=sentinel_event)
        .filter(|id| !received.contains(id))
        .collect();
    assert!(missing.is_empty(), "events never received: {missing:?}");
    if journal.first().is_some_and(|e| e.seq == 1) {
        // The whole journal is still held: cross-check the issued ids.
        let issued: HashSet<u64> = journal
            .iter()
            .flat_map(|e| e.event_ids.iter().copied())
            .filter(|id| *id <= sentinel_event)
            .collect();
        assert_eq!(issued.len() as u64, sentinel_event, "event ids issued");
        let committed = journal
            .iter()
            .filter(|e| e.kind == EntryKind::Request && e.committed)
            .count() as u64;
        assert_eq!(committed, messages, "journal: commits");
    }
    assert_eq!(
        stats.out_of_order, 0,
        "event ids went backwards on a connection"
    );

    report.elapsed = started.elapsed();
    report.stats = stats;
    report
}

fn print(name: &str, r: &SoakReport, messages: u64) {
    eprintln!(
        "{name}: {messages} messages in {:.1?}: {} attempts (at most {} for one message, {} replays), \
         troubles {:?}; SSE: {} events, {} duplicates dropped, {} connections",
        r.elapsed,
        r.attempts,
        r.most_attempts,
        r.replayed,
        r.troubles,
        r.stats.events,
        r.stats.duplicates,
        r.stats.connections
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_messages_exactly_once_under_hostile_chaos() {
    let r = soak(2_000, 48, 2026, Duration::from_secs(60)).await;
    print("soak", &r, 2_000);
    // The chaos did happen, in every flavour the client must survive.
    for t in [
        "status 503",
        "client timeout",
        "dropped connection",
        "truncated body",
    ] {
        assert!(
            r.troubles.get(t).copied().unwrap_or(0) > 0,
            "no {t}: {:?}",
            r.troubles
        );
    }
    assert!(r.replayed > 0, "no answer was ever replayed");
    assert!(r.stats.duplicates > 0, "no duplicate event");
    assert!(r.stats.connections > 1, "the stream was never cut");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "big soak: run with --release -- --ignored"]
async fn big_soak_one_hundred_thousand_messages() {
    let r = soak(100_000, 128, 7, Duration::from_secs(600)).await;
    print("big soak", &r, 100_000);
}

/// Drops, 503s, short timeouts and a slow commit (so concurrent requests with
/// the key in flight get 409), on POST only.
fn concurrency_plan() -> FaultPlan {
    let mut plan = FaultPlan::none();
    *plan.route_mut(mock_chat_server::Route::PostMessage) = RouteFaults {
        latency_after: Delay::Uniform(0, 3),
        unavailable: 0.10,
        timeout: 0.05,
        timeout_after_ms: 5,
        drop_before_commit: 0.05,
        drop_after_commit: 0.10,
        ..RouteFaults::default()
    };
    plan
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_keys_times_sixteen_concurrent_retries() {
    const KEYS: u64 = 1_000;
    const SENDERS: usize = 16;
    let started = Instant::now();
    let server = MockChatServer::builder()
        .seed(99)
        .faults(concurrency_plan())
        .bot(BotBehavior::Silent)
        .start()
        .await;
    let config = Config {
        request_timeout: Duration::from_secs(5), // only a hang guard here
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(8),
        max_attempts: 200,
        seed: 99,
        ..Config::new(server.uri())
    };
    let client = ChatClient::new(config);
    let chats = server.chats();
    let troubles = Arc::new(std::sync::Mutex::new(BTreeMap::<String, u64>::new()));

    // For each key, 16 senders race with the same key and text, each
    // retrying until it has a complete 200 answer.
    let per_key: Vec<(String, Vec<Bytes>)> = futures::stream::iter(0..KEYS)
        .map(|k| {
            let client = client.clone();
            let troubles = Arc::clone(&troubles);
            let chat_id = chats[k as usize % chats.len()].id;
            async move {
                let key = format!("race-{k}");
                let text = format!("raced message {k}");
                let senders = (0..SENDERS).map(|s| {
                    let (client, key, text, troubles) = (
                        client.clone(),
                        key.clone(),
                        text.clone(),
                        Arc::clone(&troubles),
                    );
                    async move {
                        let mut rng = client.rng_for(k * SENDERS as u64 + s as u64);
                        for retry in 1.. {
                            match client.attempt(chat_id, &text, &key).await {
                                Attempt::Delivered { body, .. } => return body,
                                Attempt::Retry(t) => {
                                    *troubles.lock().unwrap().entry(t.to_string()).or_default() +=
                                        1;
                                    assert!(retry < 200, "{key}: no answer after 200 tries");
                                    tokio::time::sleep(client.backoff(retry, &mut rng)).await;
                                }
                                Attempt::Fatal(e) => panic!("{key}: {e}"),
                            }
                        }
                        unreachable!()
                    }
                });
                let bodies = futures::future::join_all(senders).await;
                (key, bodies)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;

    let mut stored: HashMap<String, Vec<mock_chat_server::Message>> = HashMap::new();
    for chat in &chats {
        for m in server.messages(chat.id) {
            if m.author == Author::User {
                stored.entry(m.idempotency_key.clone()).or_default().push(m);
            }
        }
    }
    assert_eq!(stored.len() as u64, KEYS);
    for (key, bodies) in &per_key {
        assert_eq!(bodies.len(), SENDERS);
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "{key}: answers differ: {:?}",
            bodies
                .iter()
                .map(|b| String::from_utf8_lossy(b))
                .collect::<HashSet<_>>()
        );
        let msgs = &stored[key];
        assert_eq!(msgs.len(), 1, "{key} stored {} times", msgs.len());
        let answered: mock_chat_server::Message = serde_json::from_slice(&bodies[0]).unwrap();
        assert_eq!(&answered, &msgs[0]);
    }
    let troubles = troubles.lock().unwrap().clone();
    eprintln!(
        "{KEYS} keys x {SENDERS} senders in {:.1?}; retried after {troubles:?}",
        started.elapsed()
    );
    // The race and the chaos did happen.
    for t in [
        "409 key in use",
        "HTTP 503",
        "HTTP 504",
        "dropped connection",
    ] {
        assert!(
            troubles.get(t).copied().unwrap_or(0) > 0,
            "no {t}: {troubles:?}"
        );
    }
}
