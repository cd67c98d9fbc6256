//! The embedded server's life: reset, drop, shutdown, `start_blocking`,
//! start errors, bots, the fixed clock, and the handle's accessors.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use common::{all_messages, ends_within, get_json, next_events, next_within, post, PATIENCE};
use futures::StreamExt;
use mock_chat_server::bot::DEFAULT_LINES;
use mock_chat_server::{
    Author, BotBehavior, Chat, ChatFixture, Clock, Delay, EntryKind, Error, FaultPlan, Message,
    MockChatServer, MockChatServerBuilder,
};

fn quiet() -> MockChatServerBuilder {
    MockChatServer::builder().seed(31).bot(BotBehavior::Silent)
}

fn is_uuid_v4(key: &str) -> bool {
    uuid::Uuid::parse_str(key).is_ok_and(|u| u.get_version_num() == 4)
}

/// Binds `addr` again, retrying while the old listener is still closing.
async fn rebind(addr: SocketAddr) -> MockChatServer {
    for _ in 0..200 {
        match MockChatServer::builder().bind(addr).try_start().await {
            Ok(server) => return server,
            Err(Error::Bind { .. }) => {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("{addr} was never freed");
}

// -------------------------------------------------------------------- reset

#[tokio::test]
async fn reset_restores_the_fixtures_on_the_same_port() {
    let server = MockChatServer::builder()
        .seed(3)
        .bot(BotBehavior::Echo)
        .bot_delay(Delay::Fixed(300))
        .start()
        .await;
    let addr = server.address();
    let fixtures = all_messages(&server);
    let mut old_stream = common::sse(&server, None).await;

    server.add_chat("Extra");
    let before: Message = post(&server, 1, "same-key", "before reset")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(before.id, 5);
    assert_eq!(next_events(&mut old_stream, 1).await[0].id, "1");
    server.inject_message(2, Author::User, "injected").unwrap();
    assert!(!server.journal().is_empty());
    assert!(!server.received_requests().is_empty());

    // The bot's answer to "before reset" is pending (300 ms) when we reset.
    server.reset();

    assert_eq!(server.address(), addr, "same port");
    // The same fixtures (dated afresh from the reset, as at start).
    let undated = |v: Vec<Message>| -> Vec<(u64, u64, Author, String, String)> {
        v.into_iter()
            .map(|m| (m.id, m.chat_id, m.author, m.text, m.idempotency_key))
            .collect()
    };
    assert_eq!(
        undated(all_messages(&server)),
        undated(fixtures),
        "fixtures back"
    );
    assert_eq!(server.chats().len(), 4, "added chats are gone");
    assert!(server.journal().is_empty());
    assert!(server.received_requests().is_empty());
    assert!(
        ends_within(&mut old_stream).await,
        "SSE subscribers are disconnected"
    );

    let mut sub = server.subscribe();
    let mut events = common::sse(&server, None).await;
    let (status, chats) = get_json(&server, "/chats").await;
    assert_eq!((status, chats.as_array().unwrap().len()), (200, 4));
    let res = client_get(&server, "/chats/5/messages").await;
    common::assert_error(res, 404, "chat_not_found").await;
    assert_eq!(
        server.received_requests()[0].seq,
        1,
        "request log restarted"
    );

    // The key is forgotten (another text is no 422), ids and event ids restart.
    let res = post(&server, 1, "same-key", "after reset").await.unwrap();
    assert!(res.headers().get("idempotent-replayed").is_none());
    let after: Message = res.json().await.unwrap();
    assert_eq!(after.id, 5);
    let e = next_events(&mut events, 1).await;
    assert_eq!(
        (e[0].id.as_str(), common::message_of(&e[0])),
        ("1", after.clone())
    );

    // The only bot answer after the reset is the one to "after reset": the
    // pending answer to "before reset" was cancelled (it would have come
    // first, both delays being equal).
    assert_eq!(next_within(&mut sub).await, after);
    let answer = next_within(&mut sub).await;
    assert_eq!(
        (answer.author, answer.text.as_str()),
        (Author::Bot, "after reset")
    );
    let texts: Vec<String> = server.messages(1).into_iter().map(|m| m.text).collect();
    assert_eq!(texts, ["Welcome! Say hi.", "after reset", "after reset"]);
    assert_eq!(common::bot_answer_count(&server), 1);
}

async fn client_get(server: &MockChatServer, path: &str) -> reqwest::Response {
    common::client().get(server.url(path)).send().await.unwrap()
}

// ------------------------------------------------------- drop and shutdown

#[tokio::test]
async fn dropping_the_handle_frees_the_port() {
    let server = quiet().start().await;
    let addr = server.address();
    let (status, _) = get_json(&server, "/chats").await;
    assert_eq!(status, 200);
    let mut stream = common::sse(&server, None).await;

    drop(server);
    assert!(ends_within(&mut stream).await, "open streams end");
    let again = rebind(addr).await;
    assert_eq!(again.address(), addr);
    let (status, chats) = get_json(&again, "/chats").await;
    assert_eq!((status, chats[0]["name"].as_str()), (200, Some("General")));
}

#[tokio::test]
async fn shutdown_with_open_streams_returns_promptly_and_ends_them() {
    // Keep-alive comments every 15 s (the default): shutdown must not wait
    // for the next one.
    let server = quiet().start().await;
    let addr = server.address();
    let mut a = common::sse(&server, None).await;
    let mut b = common::sse(&server, Some("0")).await;
    let mut sub = server.subscribe();
    server
        .inject_message(1, Author::Bot, "before shutdown")
        .unwrap();
    assert_eq!(next_events(&mut a, 1).await[0].id, "1");
    assert_eq!(next_events(&mut b, 1).await[0].id, "1");
    assert_eq!(next_within(&mut sub).await.text, "before shutdown");

    let started = Instant::now();
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("shutdown returns");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert!(ends_within(&mut a).await);
    assert!(ends_within(&mut b).await);
    assert!(
        ends_within(&mut sub).await,
        "in-process subscribers end too"
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the port is closed once shutdown returns"
    );
}

// ----------------------------------------------------------- start_blocking

/// A blocking HTTP/1.1 exchange over std's `TcpStream`.
fn blocking_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    extra: &str,
    body: &str,
) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

#[test]
fn start_blocking_serves_a_plain_test() {
    let server = MockChatServer::builder()
        .seed(5)
        .bot(BotBehavior::Silent)
        .start_blocking();
    let addr = server.address();
    let (status, body) = blocking_request(addr, "GET", "/chats", "", "");
    assert_eq!(status, 200);
    assert!(body.starts_with(r#"[{"id":1,"name":"General"}"#), "{body}");

    let (status, body) = blocking_request(
        addr,
        "POST",
        "/chats/2/messages",
        "idempotency-key: sync-1\r\ncontent-type: application/json\r\n",
        r#"{"text":"from a plain test"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let m: Message = serde_json::from_str(&body).unwrap();
    assert_eq!(server.messages(2).last(), Some(&m));
    let injected = server
        .inject_message(2, Author::Bot, "sync inject")
        .unwrap();
    assert_eq!(injected.id, m.id + 1);
    server.reset();
    assert_eq!(server.messages(2).len(), 1);

    // Dropping it (no runtime here) frees the port.
    drop(server);
    let mut freed = false;
    for _ in 0..200 {
        if std::net::TcpListener::bind(addr).is_ok() {
            freed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(freed, "{addr} was never freed");
}

#[test]
fn try_start_blocking_reports_a_busy_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    match MockChatServer::builder().bind(addr).try_start_blocking() {
        Err(Error::Bind { addr: a, .. }) => assert_eq!(a, addr),
        other => panic!("expected a bind error, got {other:?}"),
    }
}

// ------------------------------------------------------------- start errors

#[tokio::test]
async fn try_start_reports_why_it_cannot_start() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = MockChatServer::builder()
        .bind(addr)
        .try_start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Bind { addr: a, .. } if *a == addr),
        "{err:?}"
    );
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = MockChatServer::builder()
            .time_scale(scale)
            .try_start()
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidTimeScale(_)),
            "{scale}: {err:?}"
        );
        assert!(err.to_string().contains("time_scale"), "{err}");
    }

    let mut plan = FaultPlan::none();
    plan.post_message.unavailable = 2.0;
    let err = MockChatServer::builder()
        .faults(plan)
        .try_start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidPlan(_)), "{err:?}");

    // A tiny but valid time scale is fine.
    let server = MockChatServer::builder().time_scale(1e-6).try_start().await;
    assert!(server.is_ok());
}

#[tokio::test]
#[should_panic(expected = "failed to start")]
async fn start_panics_with_the_reason() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _server = MockChatServer::builder()
        .bind(taken.local_addr().unwrap())
        .start()
        .await;
}

#[test]
fn try_start_outside_a_runtime_says_so() {
    use std::future::Future;
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    let waker = std::task::Waker::from(Arc::new(Noop));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut fut = Box::pin(MockChatServer::builder().try_start());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(Err(Error::NoRuntime)) => {}
        std::task::Poll::Ready(other) => panic!("expected NoRuntime, got {other:?}"),
        std::task::Poll::Pending => panic!("expected an immediate NoRuntime"),
    }
}

// --------------------------------------------------------------------- bots

#[tokio::test]
async fn the_default_bot_answers_with_a_seeded_line() {
    async fn first_answer(seed: u64) -> (Message, Message) {
        // 3 to 5 s scaled down to 3 to 5 ms.
        let server = MockChatServer::builder()
            .seed(seed)
            .time_scale(0.001)
            .start()
            .await;
        let mut sub = server.subscribe();
        let mut events = common::sse(&server, None).await;
        let user: Message = post(&server, 2, "hello-key", "hello")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(next_within(&mut sub).await, user);
        let answer = next_within(&mut sub).await;
        // Stored and published like any message.
        let e = next_events(&mut events, 2).await;
        assert_eq!(common::message_of(&e[1]), answer);
        assert_eq!(server.messages(2).last(), Some(&answer));
        let entry = server
            .journal()
            .into_iter()
            .find(|e| e.kind == EntryKind::BotAnswer)
            .expect("the answer is journaled");
        assert_eq!(entry.message_id, Some(answer.id));
        (user, answer)
    }
    let (user, answer) = first_answer(9).await;
    assert_eq!(answer.author, Author::Bot);
    assert_eq!(answer.chat_id, 2);
    assert_eq!(answer.id, user.id + 1);
    assert!(answer.sent_at >= user.sent_at);
    assert!(
        DEFAULT_LINES.contains(&answer.text.as_str()),
        "{}",
        answer.text
    );
    assert!(
        is_uuid_v4(&answer.idempotency_key),
        "{}",
        answer.idempotency_key
    );

    // The same seed gives the same answer; another seed another key.
    let (_, same) = first_answer(9).await;
    assert_eq!(
        (same.text.as_str(), same.idempotency_key.as_str()),
        (answer.text.as_str(), answer.idempotency_key.as_str())
    );
    let (_, other) = first_answer(10).await;
    assert_ne!(other.idempotency_key, answer.idempotency_key);
}

#[tokio::test]
async fn the_echo_bot_repeats_the_user() {
    let server = MockChatServer::builder()
        .seed(1)
        .bot(BotBehavior::Echo)
        .bot_delay(Delay::Fixed(1))
        .start()
        .await;
    let mut sub = server.subscribe();
    for (i, text) in ["ping", "pong ✓"].into_iter().enumerate() {
        let res = post(&server, 4, &format!("e{i}"), text).await.unwrap();
        assert_eq!(res.status(), 200);
        let user = next_within(&mut sub).await;
        let answer = next_within(&mut sub).await;
        assert_eq!((user.author, user.text.as_str()), (Author::User, text));
        assert_eq!(
            (answer.author, answer.text.as_str(), answer.chat_id),
            (Author::Bot, text, 4)
        );
    }
}

#[tokio::test]
async fn a_custom_bot_sees_the_chat_and_the_message_and_may_stay_quiet() {
    let bot = BotBehavior::custom(|chat: &Chat, msg: &Message| {
        (msg.text != "quiet").then(|| format!("{} heard: {}", chat.name, msg.text))
    });
    let server = MockChatServer::builder()
        .seed(2)
        .bot(bot)
        .bot_delay(Delay::Fixed(5))
        .start()
        .await;
    let mut sub = server.subscribe();
    post(&server, 2, "q", "quiet").await.unwrap();
    post(&server, 2, "h", "hi").await.unwrap();
    // Equal delays keep answers in order: no answer to "quiet" came first.
    let got: Vec<(Author, String)> = [
        next_within(&mut sub).await,
        next_within(&mut sub).await,
        next_within(&mut sub).await,
    ]
    .into_iter()
    .map(|m| (m.author, m.text))
    .collect();
    assert_eq!(
        got,
        [
            (Author::User, "quiet".to_string()),
            (Author::User, "hi".to_string()),
            (Author::Bot, "Support heard: hi".to_string()),
        ]
    );
}

#[tokio::test]
async fn the_silent_bot_never_answers() {
    let server = quiet().bot_delay(Delay::Fixed(1)).start().await;
    let mut sub = server.subscribe();
    post(&server, 1, "s", "anyone?").await.unwrap();
    assert_eq!(next_within(&mut sub).await.text, "anyone?");
    // An answer would come within 1 ms; give it far longer.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), sub.next())
            .await
            .is_err(),
        "the silent bot answered"
    );
    assert_eq!(server.messages(1).len(), 2);
}

// --------------------------------------------------------------------- clock

#[tokio::test]
async fn a_fixed_clock_makes_sent_at_reproducible() {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let clock = Clock::fixed(start, Duration::from_millis(1500));
    async fn run(clock: Clock) -> (MockChatServer, Vec<String>) {
        let server = quiet().clock(clock).start().await;
        let mut bodies = Vec::new();
        for (i, chat) in [1, 3].into_iter().enumerate() {
            let res = post(&server, chat, &format!("k{i}"), "tick").await.unwrap();
            bodies.push(res.text().await.unwrap());
        }
        (server, bodies)
    }
    let (server, bodies) = run(clock.clone()).await;
    let (_, again) = run(clock).await;
    assert_eq!(bodies, again, "same clock, same requests: same bytes");

    let sent_at = |chat: u64| -> Vec<String> {
        server
            .messages(chat)
            .iter()
            .map(|m| {
                m.sent_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            })
            .collect()
    };
    // Fixtures are dated from the first reading (the start).
    assert_eq!(
        sent_at(1),
        ["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.500Z"]
    );
    assert_eq!(sent_at(2), ["2025-12-31T23:59:00.000Z"]);
    assert_eq!(
        sent_at(3),
        ["2025-12-31T23:28:00.000Z", "2026-01-01T00:00:03.000Z"]
    );
    assert_eq!(sent_at(4), ["2025-12-31T00:00:00.000Z"]);
    assert!(
        bodies[0].contains(r#""sent_at":"2026-01-01T00:00:01.500Z""#),
        "{}",
        bodies[0]
    );
    let m = server.inject_message(2, Author::Bot, "later").unwrap();
    assert_eq!(m.sent_at, start + chrono::Duration::milliseconds(4500));

    // A reset restarts the clock.
    server.reset();
    let res = post(&server, 1, "k0", "tick").await.unwrap();
    assert_eq!(res.text().await.unwrap(), bodies[0]);
}

// ------------------------------------------------------------ the handle

#[tokio::test]
async fn add_chat_creates_a_chat_until_the_next_reset() {
    let server = quiet().start().await;
    let chat = server.add_chat("Team");
    assert_eq!(
        chat,
        Chat {
            id: 5,
            name: "Team".into()
        }
    );
    assert_eq!(server.chats().last(), Some(&chat));
    let (status, chats) = get_json(&server, "/chats").await;
    assert_eq!(
        (status, &chats[4]),
        (200, &serde_json::json!({"id": 5, "name": "Team"}))
    );
    let (status, messages) = get_json(&server, "/chats/5/messages").await;
    assert_eq!((status, messages), (200, serde_json::json!([])));
    let res = post(&server, 5, "t", "first in Team").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(server.messages(5).len(), 1);
    assert_eq!(server.add_chat("Second").id, 6);

    server.reset();
    assert_eq!(server.chats().len(), 4);
    assert!(server.messages(5).is_empty());
    common::assert_error(
        client_get(&server, "/chats/5/messages").await,
        404,
        "chat_not_found",
    )
    .await;
    assert_eq!(server.add_chat("Again").id, 5, "chat ids restart too");
}

#[tokio::test]
async fn inject_message_stores_and_publishes_without_a_bot_answer() {
    let server = MockChatServer::builder()
        .seed(8)
        .bot(BotBehavior::Echo)
        .bot_delay(Delay::Fixed(5))
        .start()
        .await;
    let mut events = common::sse(&server, None).await;
    let mut sub = server.subscribe();

    let user = server
        .inject_message(1, Author::User, "as the user")
        .unwrap();
    let bot = server.inject_message(2, Author::Bot, "as the bot").unwrap();
    assert_eq!((user.id, user.chat_id, user.author), (5, 1, Author::User));
    assert_eq!((bot.id, bot.chat_id, bot.author), (6, 2, Author::Bot));
    assert!(is_uuid_v4(&user.idempotency_key));
    assert_ne!(user.idempotency_key, bot.idempotency_key);
    let e = next_events(&mut events, 2).await;
    assert_eq!(common::message_of(&e[0]), user);
    assert_eq!(common::message_of(&e[1]), bot);
    let (_, history) = get_json(&server, "/chats/1/messages").await;
    assert_eq!(history[1]["text"], "as the user");
    let max = server
        .inject_message(3, Author::Bot, "x".repeat(10_000))
        .unwrap();
    assert_eq!(max.text.len(), 10_000);

    // No bot answer: a later user message's echo is the next bot message.
    post(&server, 1, "real", "real user").await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..5 {
        let m = next_within(&mut sub).await;
        seen.push((m.author, m.text));
    }
    assert_eq!(seen[3], (Author::User, "real user".to_string()));
    assert_eq!(seen[4], (Author::Bot, "real user".to_string()));

    // Errors, and nothing stored for them.
    let before = all_messages(&server);
    assert!(matches!(
        server.inject_message(99, Author::Bot, "nowhere"),
        Err(Error::ChatNotFound(99))
    ));
    for bad in [String::new(), "  \n".to_string(), "x".repeat(10_001)] {
        assert!(matches!(
            server.inject_message(1, Author::Bot, bad),
            Err(Error::InvalidText(_))
        ));
    }
    assert_eq!(all_messages(&server), before);

    // Injected keys come from the seed.
    let twin = MockChatServer::builder().seed(8).start().await;
    let twin_user = twin.inject_message(1, Author::User, "as the user").unwrap();
    assert_eq!(twin_user.idempotency_key, user.idempotency_key);
}

#[tokio::test]
async fn received_requests_are_recorded_and_bounded() {
    let server = quiet().request_log_capacity(3).start().await;
    get_json(&server, "/chats").await;
    get_json(&server, "/chats/1/messages?limit=5").await;
    post(&server, 2, "rec-key", "recorded").await.unwrap();
    client_get(&server, "/nope").await;
    let log = server.received_requests();
    let seqs: Vec<u64> = log.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![2, 3, 4], "the oldest fell off");
    assert_eq!(
        (
            log[0].method.as_str(),
            log[0].path.as_str(),
            log[0].query.as_deref()
        ),
        ("GET", "/chats/1/messages", Some("limit=5"))
    );
    assert_eq!(log[1].method, "POST");
    assert_eq!(log[1].idempotency_key.as_deref(), Some("rec-key"));
    assert_eq!(log[1].body, r#"{"text":"recorded"}"#);
    assert_eq!(
        (log[2].path.as_str(), log[2].query.as_deref()),
        ("/nope", None)
    );

    let server = quiet().request_log_capacity(0).start().await;
    get_json(&server, "/chats").await;
    assert!(server.received_requests().is_empty());

    let server = quiet().start().await;
    for _ in 0..20 {
        get_json(&server, "/chats").await;
    }
    assert_eq!(server.received_requests().len(), 20);
}

#[tokio::test]
async fn the_seed_is_recoverable_and_drives_every_random_choice() {
    let a = quiet().seed(123_456_789).start().await;
    assert_eq!(a.seed(), 123_456_789);
    assert!(format!("{a:?}").contains("123456789"));
    let b = quiet().seed(123_456_789).start().await;
    let c = quiet().seed(987_654_321).start().await;
    assert_eq!(c.seed(), 987_654_321);
    let key = |s: &MockChatServer| {
        s.inject_message(1, Author::Bot, "x")
            .unwrap()
            .idempotency_key
    };
    let fixture_keys = |s: &MockChatServer| -> Vec<String> {
        all_messages(s)
            .into_iter()
            .map(|m| m.idempotency_key)
            .collect()
    };
    assert_eq!(fixture_keys(&a), fixture_keys(&b));
    assert_ne!(fixture_keys(&a), fixture_keys(&c));
    assert_eq!(key(&a), key(&b));
    assert_ne!(key(&a), key(&c));
}

#[tokio::test]
async fn custom_fixtures_come_back_after_reset() {
    let fixtures = vec![
        ChatFixture::new("Alpha")
            .message(Author::User, "old question", 120)
            .message(Author::Bot, "old answer", 60),
        ChatFixture::new("Empty"),
    ];
    let server = quiet().chats(fixtures).start().await;
    let first = all_messages(&server);
    let texts: Vec<&str> = first.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["old question", "old answer"]);
    assert_eq!((first[0].id, first[0].author), (1, Author::User));
    assert!(server.messages(2).is_empty());
    server
        .inject_message(2, Author::Bot, "gone after reset")
        .unwrap();
    server.reset();
    let again = all_messages(&server);
    assert_eq!(again.len(), 2);
    assert_eq!(
        again.iter().map(|m| (m.id, &m.text)).collect::<Vec<_>>(),
        first.iter().map(|m| (m.id, &m.text)).collect::<Vec<_>>()
    );
}
