//! Lifecycle under stress: many start/drop cycles leak neither file
//! descriptors nor threads; `reset` in the middle of traffic keeps serving
//! and leaves a consistent state; `shutdown` with open streams and requests
//! stuck in injected timeouts returns promptly.
//!
//! The tests here count the process's fds and threads, so they run one at a
//! time (a lock taken before any runtime is built) on runtimes they build
//! themselves.

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::TimeZone;
use futures::StreamExt;
use mock_chat_server::{
    Author, BotBehavior, Clock, Delay, Fault, FaultPlan, Message, MockChatServer, Route,
    RouteFaults,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0)
}

fn fds() -> usize {
    count("/proc/self/fd")
}

fn threads() -> usize {
    count("/proc/self/task")
}

/// Polls (bounded) until fds and threads are back within `slack` of the
/// baseline; returns the last counts.
fn settle(base: (usize, usize), slack: (usize, usize)) -> (usize, usize) {
    let mut now = (fds(), threads());
    for _ in 0..1_000 {
        if now.0 <= base.0 + slack.0 && now.1 <= base.1 + slack.1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        now = (fds(), threads());
    }
    now
}

/// One request over a fresh connection; the status code.
async fn get_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(common::PATIENCE, s.read_to_end(&mut out))
        .await
        .expect("no answer")
        .unwrap();
    common::raw_status(&out).expect("an HTTP answer")
}

/// Starts a server, serves a request (and, every tenth time, holds an SSE
/// stream open across the drop), drops it.
async fn async_cycle(i: usize) {
    let server = MockChatServer::builder().seed(i as u64).start().await;
    let addr = server.address();
    assert_eq!(get_status(addr, "/chats").await, 200);
    if i % 10 == 0 {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /events?stream=messages HTTP/1.1\r\nhost: t\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200");
        drop(server);
        // The stream ends on its own once the server is gone.
        let mut rest = Vec::new();
        tokio::time::timeout(common::PATIENCE, s.read_to_end(&mut rest))
            .await
            .expect("an SSE stream outlived its server")
            .ok();
    }
}

fn blocking_cycle(i: usize) {
    let server = MockChatServer::builder().seed(i as u64).start_blocking();
    let mut s = std::net::TcpStream::connect(server.address()).unwrap();
    s.set_read_timeout(Some(common::PATIENCE)).unwrap();
    s.write_all(b"GET /chats HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(common::raw_status(&out), Some(200));
}

#[test]
fn a_thousand_start_drop_cycles_leak_no_fds_or_threads() {
    let _serial = serial();
    const CYCLES: usize = 1_000;
    // Slack for what the test harness itself may do meanwhile; a leak of
    // one fd or thread per cycle would be ~1,000 over.
    const SLACK: (usize, usize) = (8, 4);
    let started = Instant::now();

    // On the caller's runtime: start(), a request, drop.
    let rt = runtime();
    rt.block_on(async {
        for i in 0..10 {
            async_cycle(i).await; // warm-up: lazily created state
        }
    });
    let base = settle((fds(), threads()), (0, 0));
    rt.block_on(async {
        for i in 0..CYCLES {
            async_cycle(i).await;
        }
    });
    let after = settle(base, SLACK);
    assert!(
        after.0 <= base.0 + SLACK.0 && after.1 <= base.1 + SLACK.1,
        "start()/drop x{CYCLES}: (fds, threads) went from {base:?} to {after:?}"
    );
    drop(rt);

    // On their own runtime thread: start_blocking(), a request, drop.
    for i in 0..10 {
        blocking_cycle(i);
    }
    let base = settle((fds(), threads()), (0, 0));
    for i in 0..CYCLES {
        blocking_cycle(i);
    }
    let after = settle(base, SLACK);
    assert!(
        after.0 <= base.0 + SLACK.0 && after.1 <= base.1 + SLACK.1,
        "start_blocking()/drop x{CYCLES}: (fds, threads) went from {base:?} to {after:?}"
    );
    eprintln!(
        "2 x {CYCLES} start/drop cycles in {:.1?}",
        started.elapsed()
    );
}

fn fixed_clock() -> Clock {
    Clock::fixed(
        chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        Duration::from_millis(10),
    )
}

#[test]
fn reset_during_traffic_keeps_serving_and_leaves_a_consistent_state() {
    let _serial = serial();
    const POSTERS: usize = 8;
    const POSTS_EACH: usize = 50;
    const RESETS: usize = 20;
    runtime().block_on(async {
        // Small latencies keep requests in flight while resets land; echo
        // bots answer after 20 ms, so answers are pending at every reset.
        let mut plan = FaultPlan::none();
        let slow = RouteFaults {
            latency_before: Delay::Uniform(0, 2),
            latency_after: Delay::Uniform(0, 2),
            ..RouteFaults::default()
        };
        *plan.route_mut(Route::PostMessage) = slow.clone();
        *plan.route_mut(Route::GetMessages) = slow;
        let server = MockChatServer::builder()
            .seed(5)
            .faults(plan)
            .bot(BotBehavior::Echo)
            .bot_delay(Delay::Fixed(20))
            .clock(fixed_clock())
            .start()
            .await;
        let fixtures: Vec<Vec<Message>> = (1..=4).map(|c| server.messages(c)).collect();
        let (done_tx, done_rx) = tokio::sync::watch::channel(0usize);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);

        // SSE readers: reconnect whenever a reset ends their stream; event
        // ids must increase on every connection.
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let url = server.url("/events?stream=messages");
                let mut stop = stop_rx.clone();
                tokio::spawn(async move {
                    let client = common::client();
                    let mut ended = 0u32;
                    while !*stop.borrow() {
                        let res = client.get(&url).send().await.expect("SSE connect");
                        assert_eq!(res.status(), 200);
                        let mut events =
                            eventsource_stream::Eventsource::eventsource(res.bytes_stream());
                        let mut last = 0u64;
                        loop {
                            tokio::select! {
                                _ = stop.changed() => return ended,
                                e = events.next() => match e {
                                    Some(Ok(e)) => {
                                        let id: u64 = e.id.parse().unwrap();
                                        assert!(id > last, "event ids {last} then {id}");
                                        last = id;
                                        let _: Message = serde_json::from_str(&e.data).unwrap();
                                    }
                                    _ => { ended += 1; break; }
                                },
                            }
                        }
                    }
                    ended
                })
            })
            .collect();

        // History readers: always 200, always ordered, at most 100.
        let pagers: Vec<_> = (1..=2u64)
            .map(|chat| {
                let url = server.url(&format!("/chats/{chat}/messages"));
                let stop = stop_rx.clone();
                tokio::spawn(async move {
                    let client = common::client();
                    let mut pages = 0u32;
                    while !*stop.borrow() {
                        let res = client.get(&url).send().await.expect("GET");
                        assert_eq!(res.status(), 200);
                        let page: Vec<Message> = res.json().await.unwrap();
                        assert!(page.len() <= 100);
                        assert!(page.windows(2).all(|w| w[0].id < w[1].id));
                        pages += 1;
                    }
                    pages
                })
            })
            .collect();

        // Posters: every POST is answered 200 with its own message.
        let posters: Vec<_> = (0..POSTERS)
            .map(|p| {
                let url = server.uri();
                let done = done_tx.clone();
                tokio::spawn(async move {
                    let client = common::client();
                    for i in 0..POSTS_EACH {
                        let chat = 1 + (p + i) % 4;
                        let key = format!("p{p}-{i}");
                        let text = format!("poster {p} message {i}");
                        let res = client
                            .post(format!("{url}/chats/{chat}/messages"))
                            .header("idempotency-key", &key)
                            .json(&serde_json::json!({ "text": text }))
                            .send()
                            .await
                            .expect("POST");
                        assert_eq!(res.status(), 200, "{key}");
                        let m: Message = res.json().await.unwrap();
                        assert_eq!((m.text, m.idempotency_key), (text, key));
                        done.send_modify(|n| *n += 1);
                    }
                })
            })
            .collect();

        // Reset every 20 completed POSTs (synchronised on the posters).
        let mut done = done_rx.clone();
        for r in 1..=RESETS {
            done.wait_for(|n| *n >= r * POSTERS * POSTS_EACH / (RESETS + 1))
                .await
                .unwrap();
            server.reset();
        }
        for p in posters {
            p.await.expect("a poster failed");
        }

        // Mid-flight state: consistent whatever the resets cut.
        let mut keys = HashSet::new();
        for chat in 1..=4 {
            let history = server.messages(chat);
            assert!(history.windows(2).all(|w| w[0].id < w[1].id));
            let user_texts: HashSet<&str> = history
                .iter()
                .filter(|m| m.author == Author::User)
                .map(|m| m.text.as_str())
                .collect();
            for m in &history {
                match m.author {
                    Author::User => assert!(keys.insert(m.idempotency_key.clone())),
                    // An echo belongs to a message of this same epoch.
                    Author::Bot if m.text.starts_with("poster ") => assert!(
                        user_texts.contains(m.text.as_str()),
                        "a bot answered a message from before a reset: {m:?}"
                    ),
                    Author::Bot => {}
                }
            }
        }

        let _ = stop_tx.send(true);
        let mut ends = Vec::new();
        for r in readers {
            ends.push(r.await.expect("an SSE reader failed"));
        }
        for p in pagers {
            assert!(p.await.expect("a pager failed") > 0);
        }
        assert!(
            ends.iter().all(|n| *n >= 1),
            "every SSE reader had its stream ended by a reset: {ends:?}"
        );

        // A reset with nothing in flight: exactly the fixtures again...
        server.reset();
        let now: Vec<Vec<Message>> = (1..=4).map(|c| server.messages(c)).collect();
        assert_eq!(now, fixtures);
        // ...event ids start over, and no answer from before the reset
        // arrives: the fresh message's echo (same 20 ms delay, scheduled
        // last) comes after any stale one would have.
        let mut sse = common::sse(&server, None).await;
        let mut stream = server.subscribe();
        let res = common::post(&server, 1, "after-reset", "fresh")
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let first = common::next_events(&mut sse, 1).await;
        assert_eq!(first[0].id, "1");
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let m = tokio::time::timeout(common::PATIENCE, stream.next())
                .await
                .expect("no echo")
                .expect("stream ended");
            seen.push((m.author, m.text));
        }
        assert_eq!(
            seen,
            vec![
                (Author::User, "fresh".into()),
                (Author::Bot, "fresh".into())
            ]
        );
        let total: usize = (1..=4).map(|c| server.messages(c).len()).sum();
        let fixture_total: usize = fixtures.iter().map(Vec::len).sum();
        assert_eq!(total, fixture_total + 2);
    });
}

#[test]
fn shutdown_with_open_streams_and_stuck_requests_returns_promptly() {
    let _serial = serial();
    runtime().block_on(async {
        // Injected timeouts of 60 s: if shutdown waited for them, the 20 s
        // hang guard below would fire first.
        let server = MockChatServer::builder().seed(9).start().await;
        let addr = server.address();
        let mut streams = Vec::new();
        for _ in 0..3 {
            streams.push(common::sse(&server, None).await);
        }
        let stuck = Fault::Timeout {
            after: Duration::from_secs(60),
        };
        for _ in 0..3 {
            server.force(Route::GetChats, stuck);
        }
        server.force(Route::PostMessage, stuck);
        let mut requests = Vec::new();
        for _ in 0..3 {
            let url = server.url("/chats");
            requests.push(tokio::spawn(async move {
                common::client()
                    .get(url)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            }));
        }
        let url = server.url("/chats/1/messages");
        requests.push(tokio::spawn(async move {
            common::client()
                .post(url)
                .header("idempotency-key", "stuck")
                .json(&serde_json::json!({"text": "never"}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        }));
        // Wait until all four are inside their injected timeout.
        let mut in_timeout = 0;
        for _ in 0..2_000 {
            in_timeout = server
                .journal()
                .iter()
                .filter(|e| matches!(e.fault, Some(Fault::Timeout { .. })))
                .count();
            if in_timeout == 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(in_timeout, 4);
        assert_eq!(server.subscriber_count(), 3);

        let started = Instant::now();
        tokio::time::timeout(common::PATIENCE, server.shutdown())
            .await
            .expect("shutdown() hung on open streams or stuck requests");
        let took = started.elapsed();
        for mut s in streams {
            let end = tokio::time::timeout(common::PATIENCE, s.next())
                .await
                .expect("an SSE stream outlived shutdown()");
            assert!(end.is_none(), "{end:?}");
        }
        let mut statuses = HashMap::new();
        for r in requests {
            let status = tokio::time::timeout(common::PATIENCE, r)
                .await
                .expect("a request outlived shutdown()")
                .unwrap();
            *statuses.entry(status.ok()).or_insert(0) += 1;
        }
        // Each stuck request ends with its 504 or a closed connection, never 2xx.
        assert!(
            statuses.keys().all(|s| matches!(s, None | Some(504))),
            "{statuses:?}"
        );
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "the port is still open after shutdown()"
        );
        eprintln!("shutdown took {took:.1?}; stuck requests ended with {statuses:?}");

        // The same with a server on its own runtime thread.
        let server = MockChatServer::builder().seed(10).start_blocking();
        let mut stream = common::sse(&server, None).await;
        server.force(Route::GetChats, stuck);
        let url = server.url("/chats");
        let request = tokio::spawn(async move { common::client().get(url).send().await.is_ok() });
        for _ in 0..2_000 {
            if !server.journal().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(server.journal().len(), 1);
        tokio::time::timeout(common::PATIENCE, server.shutdown())
            .await
            .expect("shutdown() of a start_blocking server hung");
        let end = tokio::time::timeout(common::PATIENCE, stream.next())
            .await
            .expect("an SSE stream outlived shutdown()");
        assert!(end.is_none());
        tokio::time::timeout(common::PATIENCE, request)
            .await
            .expect("a request outlived shutdown()")
            .unwrap();
    });
}

/// A request still holding its key when `reset` lands must not touch the
/// key table of the new epoch, even when a new request reuses its key.
#[test]
fn a_request_in_flight_across_a_reset_does_not_touch_the_new_key_table() {
    let _serial = serial();
    runtime().block_on(async {
        let slow_commit = |ms| {
            let mut plan = FaultPlan::none();
            plan.route_mut(Route::PostMessage).latency_after = Delay::Fixed(ms);
            plan
        };
        let server = MockChatServer::builder()
            .seed(21)
            .bot(BotBehavior::Silent)
            .faults(slow_commit(300))
            .start()
            .await;
        let committed =
            |server: &MockChatServer| server.journal().iter().filter(|e| e.committed).count();
        // A: stored, then answered 300 ms later; the key is in flight meanwhile.
        let url = server.url("/chats/1/messages");
        let send = |url: String| async move {
            common::client()
                .post(url)
                .header("idempotency-key", "k")
                .json(&serde_json::json!({"text": "same"}))
                .send()
                .await
                .unwrap()
        };
        let a = tokio::spawn(send(url.clone()));
        for _ in 0..2_000 {
            if committed(&server) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(committed(&server), 1, "A was never committed");
        // Reset while A holds the key; B reuses the key and stays in flight
        // (for as long as the server lives).
        server.reset();
        server.set_faults(slow_commit(5_000)).unwrap();
        let b = tokio::spawn(send(url.clone()));
        for _ in 0..2_000 {
            if committed(&server) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(committed(&server), 1, "B was never committed");
        server.set_faults(FaultPlan::none()).unwrap(); // C answers at once
                                                       // A's answer goes out (its key is released then)...
        let a = tokio::time::timeout(common::PATIENCE, a)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(a.status(), 200);
        // ...and B still holds the key: a third request must wait (409),
        // not get A's message (erased by the reset) replayed.
        let c = send(url).await;
        common::assert_error(c, 409, "idempotency_key_in_use").await;
        // Shutdown does not wait out B's 5 s either.
        let started = Instant::now();
        tokio::time::timeout(common::PATIENCE, server.shutdown())
            .await
            .unwrap();
        let _ = b.await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "{:?}",
            started.elapsed()
        );
    });
}
