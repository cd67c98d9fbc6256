//! The seeded fault plan, proven over real HTTP (SPEC section 3):
//! determinism, rates, each fault's client-visible effect, forced faults,
//! reset, time scaling, the paused clock and the panic report.
//!
//! Every test uses a fixed seed; waits are synchronised on events or on the
//! responses themselves, and timeouts only turn a hang into a failure.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::TimeZone;
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use mock_chat_server::{
    Author, BotBehavior, Clock, Delay, EntryKind, Fault, FaultPlan, JournalEntry, Message,
    MockChatServer, MockChatServerBuilder, Route, RouteFaults,
};
use serde_json::Value;

use common::PATIENCE;

// ---------------------------------------------------------------- helpers

/// A server whose only moving parts are the fault plan: silent bots (so no
/// bot answer can interleave with the script) and reproducible `sent_at`.
fn quiet(seed: u64, plan: FaultPlan, time_scale: f64) -> MockChatServerBuilder {
    MockChatServer::builder()
        .seed(seed)
        .faults(plan)
        .time_scale(time_scale)
        .bot(BotBehavior::Silent)
        .clock(Clock::fixed(
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
            Duration::from_secs(1),
        ))
}

/// What a client saw for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// A complete answer whose body (if any) is valid JSON.
    Status(u16),
    /// A complete 200 whose body is not valid JSON (a truncated body).
    Truncated(u16),
    /// No answer: the connection was closed (a dropped connection).
    Dropped,
}

async fn seen(res: reqwest::Result<reqwest::Response>) -> Seen {
    let res = match res {
        Ok(res) => res,
        Err(_) => return Seen::Dropped,
    };
    let status = res.status().as_u16();
    match res.bytes().await {
        Ok(body) if serde_json::from_slice::<Value>(&body).is_ok() => Seen::Status(status),
        Ok(_) => Seen::Truncated(status),
        Err(_) => Seen::Dropped,
    }
}

async fn get(client: &reqwest::Client, server: &MockChatServer, path: &str) -> Seen {
    seen(client.get(server.url(path)).send().await).await
}

async fn post(
    client: &reqwest::Client,
    server: &MockChatServer,
    chat: u64,
    key: &str,
    text: &str,
) -> Seen {
    let res = client
        .post(server.url(&format!("/chats/{chat}/messages")))
        .header("idempotency-key", key)
        .json(&serde_json::json!({ "text": text }))
        .send()
        .await;
    seen(res).await
}

/// POSTs with the same key until a clean 200 (at most 10 attempts).
async fn post_until_ok(
    client: &reqwest::Client,
    server: &MockChatServer,
    chat: u64,
    key: &str,
    text: &str,
    log: &mut Vec<Seen>,
) {
    for _ in 0..10 {
        let s = post(client, server, chat, key, text).await;
        log.push(s.clone());
        if s == Seen::Status(200) {
            return;
        }
    }
    panic!("{key}: no clean 200 in 10 attempts: {log:?}");
}

fn faults_on(journal: &[JournalEntry], route: Route) -> Vec<Option<Fault>> {
    journal
        .iter()
        .filter(|e| e.kind == EntryKind::Request && e.route == route)
        .map(|e| e.fault)
        .collect()
}

/// An SSE connection parsed into events; `Err` items are transport errors.
async fn open_sse(
    server: &MockChatServer,
    last_event_id: Option<&str>,
) -> impl Stream<Item = Result<Event, String>> + Unpin {
    let mut req = common::client().get(server.url("/events?stream=messages"));
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let res = req.send().await.expect("SSE request");
    assert_eq!(res.status(), 200);
    Box::pin(
        res.bytes_stream()
            .eventsource()
            .map(|e| e.map_err(|e| e.to_string())),
    )
}

/// Reads message events until the stream ends: the events, and whether it
/// ended with a transport error (a cut) rather than cleanly.
async fn read_to_end(
    stream: &mut (impl Stream<Item = Result<Event, String>> + Unpin),
) -> (Vec<Event>, bool) {
    let mut events = Vec::new();
    loop {
        let item = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("the SSE stream neither ended nor sent anything");
        match item {
            None => return (events, false),
            Some(Err(_)) => return (events, true),
            Some(Ok(e)) if e.data.is_empty() => {}
            Some(Ok(e)) => events.push(e),
        }
    }
}

/// The next `n` message events; panics on a cut, an end or a hang.
async fn take_events(
    stream: &mut (impl Stream<Item = Result<Event, String>> + Unpin),
    n: usize,
) -> Vec<Event> {
    let mut events = Vec::new();
    while events.len() < n {
        let item = tokio::time::timeout(PATIENCE, stream.next())
            .await
            .expect("timed out waiting for an SSE event")
            .expect("the SSE stream ended early")
            .expect("the SSE stream was cut");
        if !item.data.is_empty() {
            events.push(item);
        }
    }
    events
}

fn msg(e: &Event) -> Message {
    common::message_of(e)
}

fn texts(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| msg(e).text).collect()
}

fn ids(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.id.parse().unwrap()).collect()
}

/// Binomial band: `count` within `sds` standard deviations of `n * p`.
fn assert_rate(what: &str, count: usize, n: usize, p: f64, sds: f64) {
    let mean = n as f64 * p;
    let sd = (n as f64 * p * (1.0 - p)).sqrt();
    let (lo, hi) = (mean - sds * sd, mean + sds * sd);
    assert!(
        (lo..=hi).contains(&(count as f64)),
        "{what}: {count} of {n}, expected {mean:.0} ± {:.0}",
        sds * sd
    );
}

async fn error_code(res: reqwest::Response) -> String {
    let body: Value = res.json().await.expect("error body is JSON");
    body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

// ------------------------------------------------------------ determinism

/// A sequential client script touching every JSON route, retrying POSTs
/// with their key until they succeed.
async fn script(server: &MockChatServer, extra_gets: bool) -> Vec<Seen> {
    let client = common::client();
    let mut log = Vec::new();
    for i in 0..30u64 {
        let chat = 1 + i % 4;
        if extra_gets || i % 3 == 0 {
            log.push(get(&client, server, "/chats").await);
        }
        log.push(get(&client, server, &format!("/chats/{chat}/messages?limit=5")).await);
        post_until_ok(
            &client,
            server,
            chat,
            &format!("key-{i}"),
            &format!("message {i}"),
            &mut log,
        )
        .await;
    }
    log
}

#[tokio::test]
async fn same_seed_same_script_gives_identical_journals_and_statuses() {
    let run = |seed: u64| async move {
        let server = quiet(seed, FaultPlan::hostile(), 0.001).start().await;
        let seen = script(&server, false).await;
        (server.journal(), seen, common::all_messages(&server))
    };
    let (journal_a, seen_a, messages_a) = run(11).await;
    let (journal_b, seen_b, messages_b) = run(11).await;

    // The plan really did bite: faults of several kinds, and clients saw them.
    let faults: Vec<&'static str> = journal_a
        .iter()
        .filter_map(|e| e.fault.map(|f| f.name()))
        .collect();
    for kind in ["unavailable", "timeout", "drop_after_commit"] {
        assert!(faults.contains(&kind), "no {kind} in {faults:?}");
    }
    assert!(seen_a.contains(&Seen::Dropped), "{seen_a:?}");

    assert_eq!(journal_a.len(), journal_b.len());
    for (a, b) in journal_a.iter().zip(&journal_b) {
        assert_eq!(a, b, "journals diverge at #{}", a.seq);
    }
    assert_eq!(seen_a, seen_b);
    assert_eq!(messages_a, messages_b, "stored messages differ");

    // Another seed: another fate.
    let (journal_c, seen_c, _) = run(12).await;
    let project = |j: &[JournalEntry]| -> Vec<(Option<Fault>, u64, u64)> {
        j.iter()
            .map(|e| (e.fault, e.latency_before_ms, e.latency_after_ms))
            .collect()
    };
    assert_ne!(project(&journal_a), project(&journal_c));
    assert_ne!(seen_a, seen_c);
}

#[tokio::test]
async fn requests_on_one_route_do_not_shift_another_routes_faults() {
    let post_decisions = |j: Vec<JournalEntry>| -> Vec<_> {
        j.into_iter()
            .filter(|e| e.route == Route::PostMessage)
            .map(|e| {
                (
                    e.k,
                    e.idempotency_key,
                    e.fault,
                    e.latency_before_ms,
                    e.latency_after_ms,
                    e.status,
                    e.committed,
                    e.replayed,
                    e.message_id,
                )
            })
            .collect()
    };
    let plain = quiet(21, FaultPlan::hostile(), 0.001).start().await;
    let seen_plain = script(&plain, false).await;
    let busy = quiet(21, FaultPlan::hostile(), 0.001).start().await;
    let seen_busy = script(&busy, true).await;

    assert!(
        faults_on(&busy.journal(), Route::GetChats).len()
            > faults_on(&plain.journal(), Route::GetChats).len() + 15,
        "the busy run must add GET /chats requests"
    );
    let (a, b) = (
        post_decisions(plain.journal()),
        post_decisions(busy.journal()),
    );
    assert!(a.iter().any(|d| d.2.is_some()), "no POST fault at all");
    assert_eq!(a, b, "extra GET /chats changed the POST decisions");
    assert_eq!(common::all_messages(&plain), common::all_messages(&busy));
    // The client-visible POST outcomes are the same too (GETs differ in number).
    let posts = |s: &[Seen], j: &[JournalEntry]| -> Vec<Seen> {
        s.iter()
            .zip(j.iter().filter(|e| e.kind == EntryKind::Request))
            .filter(|(_, e)| e.route == Route::PostMessage)
            .map(|(s, _)| s.clone())
            .collect()
    };
    assert_eq!(
        posts(&seen_plain, &plain.journal()),
        posts(&seen_busy, &busy.journal())
    );
}

// ------------------------------------------------------------------ rates

#[tokio::test]
async fn fault_rates_match_the_plan() {
    const N: usize = 3000;
    let route = RouteFaults {
        unavailable: 0.10,
        timeout: 0.05,
        timeout_after_ms: 1,
        drop_before_commit: 0.05,
        drop_after_commit: 0.05,
        truncated_body: 0.05,
        ..RouteFaults::default()
    };
    let plan = FaultPlan {
        get_chats: route,
        ..FaultPlan::none()
    };
    let server = quiet(31, plan, 0.001).start().await;
    let client = reqwest::Client::new(); // keep-alive: fast
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..N {
        let s = get(&client, &server, "/chats").await;
        *seen.entry(format!("{s:?}")).or_default() += 1;
    }
    let journal = server.journal();
    assert_eq!(journal.len(), N);
    let mut drawn: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &journal {
        *drawn
            .entry(e.fault.map_or("none", |f| f.name()))
            .or_default() += 1;
    }
    let n = |m: &BTreeMap<&str, usize>, k: &str| m.get(k).copied().unwrap_or(0);
    let s = |k: &str| seen.get(k).copied().unwrap_or(0);

    assert_rate("unavailable", n(&drawn, "unavailable"), N, 0.10, 4.5);
    assert_rate("timeout", n(&drawn, "timeout"), N, 0.05, 4.5);
    assert_rate(
        "drop_before_commit",
        n(&drawn, "drop_before_commit"),
        N,
        0.05,
        4.5,
    );
    assert_rate(
        "drop_after_commit",
        n(&drawn, "drop_after_commit"),
        N,
        0.05,
        4.5,
    );
    assert_rate("truncated_body", n(&drawn, "truncated_body"), N, 0.05, 4.5);
    assert_rate("no fault", n(&drawn, "none"), N, 0.70, 4.5);

    // What the client saw is exactly what the journal says was drawn.
    assert_eq!(s("Status(503)"), n(&drawn, "unavailable"), "{seen:?}");
    assert_eq!(s("Status(504)"), n(&drawn, "timeout"), "{seen:?}");
    assert_eq!(
        s("Dropped"),
        n(&drawn, "drop_before_commit") + n(&drawn, "drop_after_commit"),
        "{seen:?}"
    );
    assert_eq!(s("Truncated(200)"), n(&drawn, "truncated_body"), "{seen:?}");
    assert_eq!(s("Status(200)"), n(&drawn, "none"), "{seen:?}");
}

#[tokio::test]
async fn reference_plan_delivers_one_two_or_three_copies_uniformly() {
    const MESSAGES: usize = 1200;
    const WORKERS: usize = 12;
    let server = quiet(41, FaultPlan::reference(), 0.001).start().await;
    let server = std::sync::Arc::new(server);
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let server = std::sync::Arc::clone(&server);
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut log = Vec::new();
            for i in (w..MESSAGES).step_by(WORKERS) {
                let chat = 1 + (i % 4) as u64;
                post_until_ok(&client, &server, chat, &format!("dup-{i}"), "hi", &mut log).await;
            }
            log
        }));
    }
    let mut retried = 0;
    for t in tasks {
        retried += t.await.unwrap().len() - MESSAGES / WORKERS;
    }
    assert!(retried > 0, "the reference plan made no POST fail");

    // Copies per message, from the journal...
    let journal = server.journal();
    let committed: Vec<&JournalEntry> = journal
        .iter()
        .filter(|e| e.route == Route::PostMessage && e.committed)
        .collect();
    assert_eq!(committed.len(), MESSAGES);
    let mut by_copies = [0usize; 4];
    for e in &committed {
        by_copies[e.event_ids.len()] += 1;
    }
    assert_eq!(by_copies[0], 0);
    for (copies, &count) in by_copies.iter().enumerate().skip(1) {
        assert_rate(&format!("{copies} copies"), count, MESSAGES, 1.0 / 3.0, 4.5);
    }

    // ...and as SSE deliveries: `Replay::All` (part of the reference plan)
    // hands a new subscriber the whole log.
    let total: usize = committed.iter().map(|e| e.event_ids.len()).sum();
    let mut sse = open_sse(&server, None).await;
    let events = take_events(&mut sse, total).await;
    let mut deliveries: BTreeMap<u64, usize> = BTreeMap::new();
    for e in &events {
        *deliveries.entry(msg(e).id).or_default() += 1;
    }
    assert_eq!(deliveries.len(), MESSAGES);
    for e in &committed {
        assert_eq!(deliveries[&e.message_id.unwrap()], e.event_ids.len(), "{e}");
    }
    // Every copy has its own event id (DuplicateIds::New).
    let mut event_ids = ids(&events);
    event_ids.dedup();
    assert_eq!(event_ids.len(), total);
}

// ------------------------------------------------- client-visible effects

#[tokio::test]
async fn unavailable_is_a_503_json_error_and_stores_nothing() {
    let server = quiet(51, FaultPlan::none(), 1.0).start().await;
    let before = common::all_messages(&server);
    server.force(Route::PostMessage, Fault::Unavailable);
    let res = common::post(&server, 1, "u-1", "hello").await.unwrap();
    common::assert_error(res, 503, "unavailable").await;
    assert_eq!(common::all_messages(&server), before);
    // Nothing was reserved: the retry with the same key is a fresh success.
    let res = common::post(&server, 1, "u-1", "hello").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("idempotent-replayed").is_none());
    assert_eq!(common::all_messages(&server).len(), before.len() + 1);
}

#[tokio::test]
async fn timeout_is_silence_for_the_scaled_delay_then_a_504() {
    let server = quiet(52, FaultPlan::none(), 0.01).start().await;
    let before = common::all_messages(&server);
    server.force(Route::PostMessage, Fault::timeout()); // 5 s × 0.01 = 50 ms
    let started = Instant::now();
    let res = common::post(&server, 2, "t-1", "hello").await.unwrap();
    let elapsed = started.elapsed();
    common::assert_error(res, 504, "timeout").await;
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "not scaled: {elapsed:?}");
    assert_eq!(common::all_messages(&server), before);
    let entry = server.journal().pop().unwrap();
    assert_eq!(
        entry.fault,
        Some(Fault::Timeout {
            after: Duration::from_millis(50)
        })
    );
    assert_eq!((entry.status, entry.committed), (Some(504), false));
    let res = common::post(&server, 2, "t-1", "hello").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("idempotent-replayed").is_none());
}

#[tokio::test]
async fn drop_before_commit_closes_the_connection_and_stores_nothing() {
    let server = quiet(53, FaultPlan::none(), 1.0).start().await;
    let mut events = open_sse(&server, None).await;
    let before = common::all_messages(&server);
    server.force(Route::PostMessage, Fault::DropBeforeCommit);
    let err = common::post(&server, 1, "d-1", "lost").await.unwrap_err();
    assert!(err.is_request() && err.status().is_none(), "{err:?}");
    assert!(
        format!("{err:?}").contains("IncompleteMessage"),
        "expected a connection closed before any answer: {err:?}"
    );
    assert_eq!(common::all_messages(&server), before);
    // The key was never reserved: the retry stores the message, once.
    let res = common::post(&server, 1, "d-1", "lost").await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("idempotent-replayed").is_none());
    // The first event on the stream is the retry's: nothing was published before.
    assert_eq!(texts(&take_events(&mut events, 1).await), ["lost"]);
    let posts: Vec<_> = server
        .journal()
        .into_iter()
        .filter(|e| e.route == Route::PostMessage)
        .collect();
    assert_eq!(posts[0].fault, Some(Fault::DropBeforeCommit));
    assert!(posts[0].forced && !posts[0].committed && posts[0].status.is_none());
    assert!(posts[1].committed);
}

#[tokio::test]
async fn drop_after_commit_then_retry_replays_with_one_message_one_event_one_bot_answer() {
    let server = MockChatServer::builder()
        .seed(54)
        .time_scale(0.01)
        .bot(BotBehavior::Echo)
        .bot_delay(Delay::Fixed(1000)) // 10 ms
        .start()
        .await;
    let mut events = open_sse(&server, None).await;
    server.force_duplicates(2); // the user message goes out twice
    server.force(Route::PostMessage, Fault::DropAfterCommit);

    let err = common::post(&server, 3, "dac-1", "ping").await.unwrap_err();
    assert!(err.is_request() && err.status().is_none(), "{err:?}");
    // Stored and published although the client heard nothing.
    let stored: Vec<Message> = server
        .messages(3)
        .into_iter()
        .filter(|m| m.idempotency_key == "dac-1")
        .collect();
    assert_eq!(stored.len(), 1);
    let first = take_events(&mut events, 2).await;
    assert_eq!(texts(&first), ["ping", "ping"]);
    assert_eq!(msg(&first[0]).id, stored[0].id);
    assert_ne!(first[0].id, first[1].id, "copies get their own event ids");

    // The retry gets the original answer, byte for byte.
    let res = common::post(&server, 3, "dac-1", "ping").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let body = res.text().await.unwrap();
    assert_eq!(body, first[0].data, "the replay is the committed message");

    // Next on the stream: exactly one bot answer, then our marker. A second
    // commit would have published before the marker.
    let next = take_events(&mut events, 1).await;
    assert_eq!(msg(&next[0]).author, Author::Bot);
    assert_eq!(msg(&next[0]).text, "ping");
    server.inject_message(1, Author::Bot, "marker").unwrap();
    assert_eq!(texts(&take_events(&mut events, 1).await), ["marker"]);
    let chat3: Vec<Message> = server.messages(3);
    assert_eq!(chat3.iter().filter(|m| m.text == "ping").count(), 2);

    let journal = server.journal();
    let posts: Vec<&JournalEntry> = journal
        .iter()
        .filter(|e| e.route == Route::PostMessage)
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].fault, Some(Fault::DropAfterCommit));
    assert!(posts[0].committed && posts[0].event_ids.len() == 2);
    assert!(posts[1].replayed && !posts[1].committed && posts[1].event_ids.is_empty());
    assert_eq!(common::bot_answer_count(&server), 1);
}

#[tokio::test]
async fn truncated_body_is_a_200_with_a_prefix_of_the_json() {
    let server = quiet(55, FaultPlan::none(), 1.0).start().await;
    let full = common::client()
        .get(server.url("/chats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    server.force(Route::GetChats, Fault::TruncatedBody);
    let res = common::client()
        .get(server.url("/chats"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let err = res.json::<Value>().await.unwrap_err();
    assert!(err.is_decode(), "{err:?}");

    server.force(Route::GetChats, Fault::TruncatedBody);
    let res = common::client()
        .get(server.url("/chats"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let half = res.text().await.unwrap();
    assert!(!half.is_empty() && half.len() < full.len(), "{half}");
    assert!(
        full.starts_with(&half),
        "{half:?} is not a prefix of {full:?}"
    );

    // On a POST the message is committed: the retry gets the replay.
    server.force(Route::PostMessage, Fault::TruncatedBody);
    let res = common::post(&server, 1, "tb-1", "cut").await.unwrap();
    assert_eq!(res.status(), 200);
    let half = res.text().await.unwrap();
    let res = common::post(&server, 1, "tb-1", "cut").await.unwrap();
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let whole = res.text().await.unwrap();
    assert!(whole.starts_with(&half) && half.len() < whole.len());
    assert_eq!(server.messages(1).last().unwrap().text, "cut");
}

#[tokio::test]
async fn latency_before_and_after_are_visible_delays() {
    let mut plan = FaultPlan::none();
    plan.post_message.latency_before = Delay::Fixed(2000);
    plan.post_message.latency_after = Delay::Fixed(3000);
    let server = quiet(56, plan, 0.01).start().await; // 20 ms + 30 ms
    let started = Instant::now();
    let res = common::post(&server, 1, "lat-1", "slow").await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(res.status(), 200);
    assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "not scaled: {elapsed:?}");
    let e = server.journal().pop().unwrap();
    assert_eq!((e.latency_before_ms, e.latency_after_ms), (20, 30));
    // Other routes are calm.
    let started = Instant::now();
    assert_eq!(
        get(&common::client(), &server, "/chats").await,
        Seen::Status(200)
    );
    assert_eq!(server.journal().pop().unwrap().latency_before_ms, 0);
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test(start_paused = true)]
async fn latency_after_comes_after_the_commit() {
    let mut plan = FaultPlan::none();
    plan.post_message.latency_before = Delay::Fixed(2000);
    plan.post_message.latency_after = Delay::Fixed(3000);
    let server = quiet(57, plan, 1.0).start().await;
    let mut committed = server.subscribe();
    let url = server.url("/chats/1/messages");
    let started = tokio::time::Instant::now();
    let request = tokio::spawn(async move {
        common::client()
            .post(url)
            .header("idempotency-key", "order-1")
            .json(&serde_json::json!({"text": "slow"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    let m = common::next_within(&mut committed).await;
    assert_eq!(m.text, "slow");
    let at_commit = started.elapsed();
    assert!(at_commit >= Duration::from_secs(2), "{at_commit:?}");
    assert!(at_commit < Duration::from_secs(5), "{at_commit:?}");
    assert!(!request.is_finished(), "answered before latency_after");
    assert_eq!(request.await.unwrap().unwrap(), 200);
    assert!(started.elapsed() >= Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn paused_clock_skips_a_five_second_timeout_over_a_real_socket() {
    // time_scale 1.0: the full 5 s, on tokio's paused clock, through real TCP.
    let server = quiet(58, FaultPlan::none(), 1.0).start().await;
    server.force(Route::GetChats, Fault::timeout());
    let wall = Instant::now();
    let virtual_start = tokio::time::Instant::now();
    let res = common::client()
        .get(server.url("/chats"))
        .send()
        .await
        .unwrap();
    common::assert_error(res, 504, "timeout").await;
    assert!(virtual_start.elapsed() >= Duration::from_secs(5));
    assert!(
        wall.elapsed() < Duration::from_secs(4),
        "the paused clock did not skip the wait: {:?}",
        wall.elapsed()
    );
}

#[tokio::test]
async fn stream_disconnect_cuts_after_an_event_and_resume_loses_nothing() {
    let server = quiet(59, FaultPlan::none(), 1.0).start().await;
    server.force(Route::Events, Fault::StreamDisconnect);
    let mut first = open_sse(&server, None).await;
    for text in ["a", "b", "c"] {
        server.inject_message(1, Author::Bot, text).unwrap();
    }
    let (got, cut) = read_to_end(&mut first).await;
    assert_eq!(texts(&got), ["a"], "cut right after the first event");
    assert!(cut, "the connection must be cut, not ended politely");

    let mut resumed = open_sse(&server, Some(&got[0].id)).await;
    let rest = take_events(&mut resumed, 2).await;
    assert_eq!(texts(&rest), ["b", "c"]);
    assert_eq!(ids(&rest), [2, 3]);
    let streams: Vec<_> = server
        .journal()
        .into_iter()
        .filter(|e| e.kind == EntryKind::Stream)
        .map(|e| (e.k, e.fault, e.forced))
        .collect();
    assert_eq!(
        streams,
        [(0, Some(Fault::StreamDisconnect), true), (1, None, false)]
    );
}

#[tokio::test]
async fn a_reconnecting_client_gets_every_event_despite_constant_cuts() {
    let mut plan = FaultPlan::none();
    plan.events.stream_disconnect = 1.0; // every connection: one event, then cut
    let server = quiet(60, plan, 1.0).start().await;
    for i in 0..5 {
        server
            .inject_message(2, Author::Bot, format!("m{i}"))
            .unwrap();
    }
    let mut last: Option<String> = Some("0".into());
    let mut got = Vec::new();
    for _ in 0..5 {
        let mut sse = open_sse(&server, last.as_deref()).await;
        let (events, cut) = read_to_end(&mut sse).await;
        assert!(cut);
        assert_eq!(events.len(), 1);
        last = Some(events[0].id.clone());
        got.extend(events);
    }
    assert_eq!(texts(&got), ["m0", "m1", "m2", "m3", "m4"]);
    let cuts = server
        .journal()
        .iter()
        .filter(|e| e.fault == Some(Fault::StreamDisconnect))
        .count();
    assert_eq!(cuts, 5);
}

#[tokio::test]
async fn resume_overlap_resends_the_last_event_id_event() {
    let server = quiet(61, FaultPlan::none(), 1.0).start().await;
    // Forced before the first connection: a fresh stream does not use it up.
    server.force(Route::Events, Fault::ResumeOverlap);
    let mut fresh = open_sse(&server, None).await;
    server.inject_message(1, Author::Bot, "a").unwrap();
    server.inject_message(1, Author::Bot, "b").unwrap();
    let had = take_events(&mut fresh, 2).await;
    drop(fresh);

    let mut resumed = open_sse(&server, Some(&had[1].id)).await;
    server.inject_message(1, Author::Bot, "c").unwrap();
    let got = take_events(&mut resumed, 2).await;
    assert_eq!(got[0].id, had[1].id, "starts with the event already had");
    assert_eq!(texts(&got), ["b", "c"]);

    // Without the fault, a resume is strictly after Last-Event-ID.
    let mut plain = open_sse(&server, Some(&had[1].id)).await;
    assert_eq!(texts(&take_events(&mut plain, 1).await), ["c"]);
    let streams: Vec<_> = server
        .journal()
        .into_iter()
        .filter(|e| e.kind == EntryKind::Stream)
        .map(|e| e.fault)
        .collect();
    assert_eq!(streams, [None, Some(Fault::ResumeOverlap), None]);
}

#[tokio::test]
async fn reference_plan_overlaps_every_resume() {
    let server = quiet(62, FaultPlan::reference(), 0.001).start().await;
    server.force_duplicates(1);
    server.inject_message(1, Author::Bot, "only").unwrap();
    let mut sse = open_sse(&server, Some("1")).await;
    server.force_duplicates(1);
    server.inject_message(1, Author::Bot, "next").unwrap();
    let got = take_events(&mut sse, 2).await;
    assert_eq!(ids(&got), [1, 2]);
    assert_eq!(texts(&got), ["only", "next"]);
}

// ------------------------------------------- forced faults, reset, plans

#[tokio::test]
async fn forced_faults_apply_in_order_once_and_only_to_their_route() {
    let server = quiet(71, FaultPlan::none(), 0.01).start().await;
    let client = common::client();
    server.force(Route::PostMessage, Fault::Unavailable);
    server.force(Route::PostMessage, Fault::timeout());
    server.force(Route::PostMessage, Fault::DropBeforeCommit);
    server.force(Route::GetMessages, Fault::Unavailable);

    // Other routes: unaffected by the POST queue.
    assert_eq!(get(&client, &server, "/chats").await, Seen::Status(200));
    let mut seen = Vec::new();
    for i in 0..4 {
        seen.push(post(&client, &server, 1, &format!("f-{i}"), "x").await);
        assert_eq!(get(&client, &server, "/chats").await, Seen::Status(200));
    }
    assert_eq!(
        seen,
        [
            Seen::Status(503),
            Seen::Status(504),
            Seen::Dropped,
            Seen::Status(200)
        ]
    );
    // GET messages had its own queue, untouched by the POSTs.
    assert_eq!(
        get(&client, &server, "/chats/1/messages").await,
        Seen::Status(503)
    );
    assert_eq!(
        get(&client, &server, "/chats/1/messages").await,
        Seen::Status(200)
    );
    let forced: Vec<(Route, &'static str)> = server
        .journal()
        .iter()
        .filter(|e| e.forced)
        .map(|e| (e.route, e.fault.unwrap().name()))
        .collect();
    assert_eq!(
        forced,
        [
            (Route::PostMessage, "unavailable"),
            (Route::PostMessage, "timeout"),
            (Route::PostMessage, "drop_before_commit"),
            (Route::GetMessages, "unavailable"),
        ]
    );
}

#[tokio::test]
async fn reset_clears_forced_faults_counters_and_journal() {
    let mut plan = FaultPlan::none();
    plan.get_chats.unavailable = 0.3;
    let server = quiet(72, plan, 1.0).start().await;
    let client = common::client();
    let mut first = Vec::new();
    for _ in 0..30 {
        first.push(get(&client, &server, "/chats").await);
    }
    assert!(first.contains(&Seen::Status(503)) && first.contains(&Seen::Status(200)));
    server.force(Route::PostMessage, Fault::Unavailable);
    server.force(Route::Events, Fault::StreamDisconnect);
    server.force_duplicates(3);

    server.reset();
    assert!(server.journal().is_empty());

    // Counters restart at k = 0: the same fates again.
    let mut again = Vec::new();
    for _ in 0..30 {
        again.push(get(&client, &server, "/chats").await);
    }
    assert_eq!(first, again);
    let ks: Vec<u64> = server.journal().iter().map(|e| e.k).collect();
    assert_eq!(ks, (0..30).collect::<Vec<u64>>());
    assert_eq!(server.journal()[0].seq, 1);
    // The forced faults are gone.
    let mut sse = open_sse(&server, None).await;
    assert_eq!(
        post(&client, &server, 1, "r-1", "x").await,
        Seen::Status(200)
    );
    server.inject_message(1, Author::Bot, "after").unwrap();
    assert_eq!(texts(&take_events(&mut sse, 2).await), ["x", "after"]);
    let last_post = server
        .journal()
        .into_iter()
        .find(|e| e.route == Route::PostMessage)
        .unwrap();
    assert_eq!((last_post.fault, last_post.event_ids.len()), (None, 1));
}

#[tokio::test]
async fn set_faults_takes_effect_at_once() {
    let server = quiet(73, FaultPlan::none(), 1.0).start().await;
    let client = common::client();
    assert_eq!(get(&client, &server, "/chats").await, Seen::Status(200));
    let mut plan = FaultPlan::none();
    plan.get_chats.unavailable = 1.0;
    server.set_faults(plan.clone()).unwrap();
    assert_eq!(server.faults(), plan);
    assert_eq!(get(&client, &server, "/chats").await, Seen::Status(503));
    assert_eq!(
        get(&client, &server, "/chats/1/messages").await,
        Seen::Status(200)
    );
    // An invalid plan is refused and the old one stays.
    let mut bad = FaultPlan::none();
    bad.get_chats.timeout = 2.0;
    assert!(server.set_faults(bad).is_err());
    assert_eq!(get(&client, &server, "/chats").await, Seen::Status(503));
    server.set_faults(FaultPlan::none()).unwrap();
    assert_eq!(get(&client, &server, "/chats").await, Seen::Status(200));
}

#[tokio::test]
async fn force_duplicates_delivers_the_next_message_n_times() {
    let server = quiet(74, FaultPlan::none(), 1.0).start().await;
    let mut sse = open_sse(&server, None).await;
    server.force_duplicates(3);
    let res = common::post(&server, 2, "dup-1", "thrice").await.unwrap();
    let stored: Message = res.json().await.unwrap();
    common::post(&server, 2, "dup-2", "once").await.unwrap();
    let events = take_events(&mut sse, 4).await;
    assert_eq!(texts(&events), ["thrice", "thrice", "thrice", "once"]);
    assert!(events[..3].iter().all(|e| msg(e).id == stored.id));
    assert_eq!(ids(&events), [1, 2, 3, 4]);
    let posts: Vec<usize> = server
        .journal()
        .iter()
        .filter(|e| e.route == Route::PostMessage)
        .map(|e| e.event_ids.len())
        .collect();
    assert_eq!(posts, [3, 1]);
    // Via force() too.
    server.force(Route::PostMessage, Fault::DuplicateEvent { copies: 2 });
    common::post(&server, 2, "dup-3", "twice").await.unwrap();
    assert_eq!(texts(&take_events(&mut sse, 2).await), ["twice", "twice"]);
}

#[tokio::test]
async fn faults_apply_to_every_request_including_invalid_ones_and_retries() {
    let mut plan = FaultPlan::none();
    plan.post_message.unavailable = 1.0;
    let server = quiet(75, plan, 1.0).start().await;
    let client = common::client();
    // Retries meet the fault, and so does an invalid request (bad chat id,
    // no key): the fault is drawn before anything is looked at.
    for _ in 0..3 {
        assert_eq!(
            post(&client, &server, 1, "same", "x").await,
            Seen::Status(503)
        );
    }
    let res = client
        .post(server.url("/chats/abc/messages"))
        .json(&serde_json::json!({"text": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(res).await, "unavailable");
    assert_eq!(faults_on(&server.journal(), Route::PostMessage).len(), 4);
    assert_eq!(common::all_messages(&server).len(), 4, "fixtures only");
}

// ------------------------------------------------------- the panic report

#[tokio::test]
async fn reproduction_report_names_seed_journal_and_command() {
    let server = quiet(4242, FaultPlan::none(), 1.0).start().await;
    server.force(Route::GetChats, Fault::Unavailable);
    assert_eq!(
        get(&common::client(), &server, "/chats").await,
        Seen::Status(503)
    );
    let report = server.reproduction_report();
    assert!(report.contains("seed was 4242"), "{report}");
    assert!(
        report.contains("GET /chats (k=0) fault=unavailable (forced) status=503"),
        "{report}"
    );
    assert!(
        report.contains(
            "MOCK_CHAT_SEED=4242 cargo test reproduction_report_names_seed_journal_and_command -- --exact"
        ),
        "{report}"
    );
}

#[test]
fn dropping_a_server_while_panicking_neither_double_panics_nor_hangs() {
    for blocking in [false, true] {
        let thread = std::thread::Builder::new()
            .name("panicking_test".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let server = if blocking {
                        quiet(77, FaultPlan::hostile(), 0.001).start_blocking()
                    } else {
                        quiet(77, FaultPlan::hostile(), 0.001).start().await
                    };
                    let _ = get(&common::client(), &server, "/chats").await;
                    if server.seed() == 77 {
                        panic!("the test failed on purpose");
                    }
                })
            })
            .unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(thread.join()));
        let joined = rx
            .recv_timeout(PATIENCE)
            .expect("dropping the server during a panic hung");
        let payload = joined.expect_err("the thread should have panicked");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"the test failed on purpose"),
            "a second panic replaced the first"
        );
    }
}

/// Run by `panic_report_reaches_stderr` in a child process: panics with a
/// server alive, seeded through `MOCK_CHAT_SEED`.
#[tokio::test]
#[ignore = "helper run in a child process by panic_report_reaches_stderr"]
async fn panic_report_child() {
    if std::env::var("MOCK_CHAT_PANIC_CHILD").is_err() {
        return;
    }
    let server = MockChatServer::builder().start().await;
    server.force(Route::GetChats, Fault::Unavailable);
    let status = common::client()
        .get(server.url("/chats"))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "fails on purpose, with the server alive");
}

#[test]
fn panic_report_reaches_stderr() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["panic_report_child", "--exact", "--ignored", "--nocapture"])
        .env("MOCK_CHAT_PANIC_CHILD", "1")
        .env("MOCK_CHAT_SEED", "987654321")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the child test should fail");
    assert!(
        stderr.contains("fails on purpose"),
        "the child failed for another reason: {stderr}"
    );
    for needle in [
        "the test panicked",
        "seed was 987654321",
        "GET /chats (k=0) fault=unavailable (forced) status=503",
        "MOCK_CHAT_SEED=987654321 cargo test panic_report_child -- --exact",
    ] {
        assert!(
            stderr.contains(needle),
            "{needle:?} missing from:\n{stderr}"
        );
    }
}

// ------------------------------------------------------ plan files (README)

/// The plan file shown in the README's chaos section.
const README_PLAN: &str = r#"{
  "get_chats": {
    "latency_before": {"uniform_ms": [0, 300]},
    "unavailable": 0.05
  },
  "get_messages": {
    "latency_before": {"fixed_ms": 100},
    "timeout": 0.02,
    "timeout_after_ms": 3000
  },
  "post_message": {
    "latency_before": {"uniform_ms": [0, 1500]},
    "latency_after": {"one_of_ms": [0, 500, 2000]},
    "unavailable": 0.05,
    "timeout": 0.05,
    "drop_before_commit": 0.02,
    "drop_after_commit": 0.05,
    "truncated_body": 0.02
  },
  "events": {
    "copies_min": 1,
    "copies_max": 3,
    "stream_disconnect": 0.1,
    "resume_overlap": 1.0,
    "replay": "all"
  }
}"#;

#[test]
fn the_readme_plan_file_parses() {
    let plan = FaultPlan::from_json(README_PLAN).unwrap();
    assert_eq!(plan.get_chats.latency_before, Delay::Uniform(0, 300));
    assert_eq!(plan.get_chats.latency_after, Delay::None);
    assert_eq!(plan.get_messages.timeout_after_ms, 3000);
    assert_eq!(plan.get_chats.timeout_after_ms, 5000, "default");
    assert_eq!(
        plan.post_message.latency_after,
        Delay::OneOf(vec![0, 500, 2000])
    );
    assert_eq!(plan.post_message.drop_after_commit, 0.05);
    assert_eq!(plan.events.copies_max, 3);
    assert_eq!(plan.events.replay, Some(mock_chat_server::Replay::All));
    assert_eq!(FaultPlan::from_json(&plan.to_json()).unwrap(), plan);
    assert_eq!(
        FaultPlan::from_json(r#"{"preset": "hostile"}"#).unwrap(),
        FaultPlan::hostile()
    );
    // A typo is an error, not a silently calm plan.
    assert!(FaultPlan::from_json(r#"{"post_message": {"unavailble": 0.5}}"#).is_err());
}
