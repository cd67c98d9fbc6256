//! The SSE stream, pinned to the reference's (SPEC §2.3).

use std::time::Duration;

use mock_chat_server::chaos::EntryKind;
use mock_chat_server::config::{DuplicateIds, Replay};
use mock_chat_server::{Author, Fault, FaultPlan, Message, MockChatServer, Route};

use crate::common::*;

async fn server() -> MockChatServer {
    MockChatServer::builder().seed(21).start().await
}

fn inject(server: &MockChatServer, text: &str) -> Message {
    let john = chat(server, "John");
    server.inject_message(&john.id, Author::Bot, text).unwrap()
}

#[tokio::test]
async fn frames_are_id_then_data_with_ids_from_zero() {
    let server = server().await;
    let mut sse = Sse::open(&server, &[]).await;
    assert_eq!(sse.head.status_line, "HTTP/1.1 200 OK");
    assert_eq!(sse.head.header("Content-Type"), Some("text/event-stream"));
    assert_eq!(sse.head.header("Cache-Control"), Some("no-cache"));
    assert_eq!(sse.head.header("Connection"), Some("keep-alive"));
    assert_eq!(sse.head.header("Transfer-Encoding"), Some("chunked"));
    let m = inject(&server, "hello <you>");
    let f = sse.next().await.unwrap();
    assert!(f.raw.starts_with("id: 0\ndata: {\"id\":"), "{:?}", f.raw);
    assert!(f.raw.ends_with("}\n\n"));
    assert!(
        f.raw.contains("hello \\u003cyou\\u003e"),
        "Go's escapes: {:?}",
        f.raw
    );
    assert_eq!(f.message(), m);
    assert_eq!(
        f.raw.matches('\n').count(),
        3,
        "two lines and a blank one: no event: field"
    );
    inject(&server, "second");
    assert_eq!(sse.next().await.unwrap().id(), 1);
}

#[tokio::test]
async fn fixtures_are_history_not_events() {
    let server = server().await;
    let mut sse = Sse::open(&server, &[]).await;
    assert_eq!(
        sse.next_within(Duration::from_millis(200)).await,
        Err(()),
        "nothing to replay"
    );
}

#[tokio::test]
async fn every_copy_gets_its_own_id() {
    let server = server().await;
    server.force_duplicates(3);
    let m = inject(&server, "thrice");
    let mut sse = Sse::open(&server, &[]).await;
    let frames = sse.take(3).await;
    assert_eq!(frames.iter().map(|f| f.id()).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(frames.iter().all(|f| f.message() == m));
    let injected = server
        .journal()
        .into_iter()
        .find(|e| e.kind == EntryKind::Injected)
        .unwrap();
    assert_eq!(injected.event_ids, [0, 1, 2]);
}

#[tokio::test]
async fn copies_can_share_an_id_as_an_opt_in() {
    let server = MockChatServer::builder()
        .seed(1)
        .duplicate_ids(DuplicateIds::Same)
        .start()
        .await;
    server.force_duplicates(2);
    inject(&server, "twice");
    inject(&server, "once");
    let mut sse = Sse::open(&server, &[]).await;
    let ids: Vec<u64> = sse.take(3).await.iter().map(|f| f.id()).collect();
    assert_eq!(ids, [0, 0, 1]);
}

#[tokio::test]
async fn a_new_subscriber_gets_the_whole_log_then_live_events() {
    let server = server().await;
    let sent: Vec<Message> = (0..5).map(|i| inject(&server, &format!("m{i}"))).collect();
    let mut sse = Sse::open(&server, &[]).await;
    let replay: Vec<Message> = sse.take(5).await.iter().map(Frame::message).collect();
    assert_eq!(replay, sent);
    let live = inject(&server, "live");
    assert_eq!(sse.next().await.unwrap().message(), live);
    // A second subscriber gets all six.
    let mut again = Sse::open(&server, &[]).await;
    assert_eq!(again.take(6).await.last().unwrap().message(), live);
}

#[tokio::test]
async fn live_only_replay_is_an_opt_in() {
    let server = MockChatServer::builder()
        .seed(1)
        .replay(Replay::None)
        .start()
        .await;
    inject(&server, "old");
    let mut sse = Sse::open(&server, &[]).await;
    let live = inject(&server, "new");
    assert_eq!(sse.next().await.unwrap().message(), live);
}

#[tokio::test]
async fn last_event_id_resumes_inclusively_parsed_as_atoi() {
    let server = server().await;
    for i in 0..5 {
        inject(&server, &format!("m{i}"));
    }
    for (header, first) in [("2", 2), ("+3", 3), ("-4", 0), ("0", 0)] {
        let mut sse = Sse::open(&server, &[("Last-Event-ID", header)]).await;
        assert_eq!(
            sse.next().await.unwrap().id(),
            first,
            "Last-Event-ID: {header}"
        );
    }
    // Empty counts as absent: the whole log.
    let mut sse = Sse::open(&server, &[("Last-Event-ID", "")]).await;
    assert_eq!(sse.next().await.unwrap().id(), 0);
    // Beyond the log: no replay, live events follow whatever the id was.
    let mut sse = Sse::open(&server, &[("Last-Event-ID", "99")]).await;
    inject(&server, "live");
    assert_eq!(sse.next().await.unwrap().id(), 5);
}

#[tokio::test]
async fn bad_requests_get_the_references_plain_text_answers() {
    let server = server().await;
    for (path, headers, status, body) in [
        ("/events", vec![], 500, "Please specify a stream!\n"),
        ("/events?stream=", vec![], 500, "Please specify a stream!\n"),
        ("/events?stream=chats", vec![], 500, "Stream not found!\n"),
        (
            "/events?stream=messages",
            vec![("Last-Event-ID", "abc")],
            400,
            "Last-Event-ID must be a number!\n",
        ),
        (
            "/events?stream=messages",
            vec![("Last-Event-ID", "1.5")],
            400,
            "Last-Event-ID must be a number!\n",
        ),
    ] {
        let r = request(&server, "GET", path, &headers, b"").await;
        assert_eq!(
            (r.status, r.text().as_str()),
            (status, body),
            "{path} {headers:?}"
        );
        assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
        assert_eq!(r.header("Cache-Control"), Some("no-cache"));
        // Go answers the test client's `Connection: close` with `close`.
        assert_eq!(r.header("Connection"), Some("close"));
        assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    }
}

#[tokio::test]
async fn the_stream_answers_every_method() {
    let server = server().await;
    inject(&server, "x");
    for method in ["POST", "DELETE", "PUT"] {
        let mut sse = Sse::open_path(&server, "/events?stream=messages", &[]).await;
        let _ = method;
        assert_eq!(sse.head.status, 200);
        assert_eq!(sse.next().await.unwrap().id(), 0);
    }
    let r = request(&server, "OPTIONS", "/events", &[], b"").await;
    assert_eq!(r.status, 500, "routed to the stream, which wants ?stream=");
}

#[tokio::test]
async fn each_stream_ends_cleanly_after_its_lifetime() {
    // 30 s × 0.01 = 300 ms.
    let server = MockChatServer::builder()
        .seed(1)
        .time_scale(0.01)
        .start()
        .await;
    inject(&server, "before");
    let mut sse = Sse::open(&server, &[]).await;
    assert_eq!(sse.drain().await.len(), 1);
    assert_eq!(sse.ended, Some(End::Clean));
}

#[tokio::test]
async fn a_stream_lifetime_of_none_never_ends_the_stream() {
    let server = MockChatServer::builder()
        .seed(1)
        .time_scale(0.001)
        .stream_lifetime(None)
        .start()
        .await;
    let mut sse = Sse::open(&server, &[]).await;
    assert_eq!(
        sse.next_within(Duration::from_millis(300)).await,
        Err(()),
        "still open"
    );
}

#[tokio::test]
async fn stream_end_ends_cleanly_and_stream_disconnect_cuts_after_an_event() {
    let server = server().await;
    inject(&server, "a");
    inject(&server, "b");
    server.force(Route::Events, Fault::StreamEnd);
    let mut sse = Sse::open(&server, &[]).await;
    assert_eq!(sse.drain().await.len(), 1);
    assert_eq!(sse.ended, Some(End::Clean));
    server.force(Route::Events, Fault::StreamDisconnect);
    let mut sse = Sse::open(&server, &[]).await;
    assert_eq!(sse.drain().await.len(), 1);
    assert_eq!(sse.ended, Some(End::Cut));
    let faults: Vec<_> = server.journal().iter().filter_map(|e| e.fault).collect();
    assert!(faults.contains(&Fault::StreamEnd) && faults.contains(&Fault::StreamDisconnect));
}

#[tokio::test]
async fn a_reset_restarts_ids_and_ends_open_streams() {
    let server = server().await;
    inject(&server, "old");
    let mut sse = Sse::open(&server, &[]).await;
    assert_eq!(sse.next().await.unwrap().id(), 0);
    server.reset();
    assert_eq!(sse.drain().await.len(), 0);
    assert!(sse.ended.is_some());
    let fresh = inject(&server, "new");
    let mut sse = Sse::open(&server, &[]).await;
    let f = sse.next().await.unwrap();
    assert_eq!((f.id(), f.message()), (0, fresh));
}

#[tokio::test]
async fn user_posts_and_bot_answers_are_events_with_the_plans_copies() {
    let server = MockChatServer::builder()
        .seed(8)
        .time_scale(0.001)
        .faults(FaultPlan::reference().with_all_routes(Default::default()))
        .start()
        .await;
    let mut sse = Sse::open(&server, &[]).await;
    let john = chat(&server, "John");
    let mine = send(&server, &john, "u-1", "hi bot").await;
    let mut seen_user = 0;
    let mut bot = None;
    while bot.is_none() {
        let m = sse.next().await.expect("events").message();
        if m.id == mine.id {
            seen_user += 1;
        } else {
            assert_eq!((m.author, m.chat_id), (Author::Bot, john.id));
            bot = Some(m);
        }
    }
    assert!((1..=3).contains(&seen_user));
    let copies = server
        .journal()
        .iter()
        .find(|e| e.message_id == Some(mine.id))
        .unwrap()
        .event_ids
        .len();
    assert_eq!(
        copies, seen_user,
        "the journal says how many copies went out"
    );
}

/// A real SSE client crate, reconnecting across the 30 s ends under a
/// compressed clock, sees every message (de-duplicated by id).
#[tokio::test]
async fn a_real_sse_client_reconnects_across_stream_ends_and_misses_nothing() {
    use futures::StreamExt;
    use reqwest_eventsource::{Event, EventSource};
    // Streams last 30 s × 0.005 = 150 ms; `retry:` tells the client to come
    // back after 1 s × 0.005 = 5 ms.
    let server = MockChatServer::builder()
        .seed(2)
        .time_scale(0.005)
        .sse_retry(Duration::from_secs(1))
        .start()
        .await;
    let mut es = EventSource::get(server.url("/events?stream=messages"));
    let john = chat(&server, "John");
    let mut want = std::collections::BTreeSet::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut opens = 0;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut next_send = 0;
    while seen.len() < 20 || want.len() < 20 {
        let ev = tokio::time::timeout_at(deadline, es.next())
            .await
            .expect("all messages in time")
            .expect("the client keeps going");
        match ev {
            Ok(Event::Open) => {
                opens += 1;
                // Send a few messages per connection.
                for _ in 0..5 {
                    if next_send < 20 {
                        let m = server
                            .inject_message(&john.id, Author::Bot, format!("m{next_send}"))
                            .unwrap();
                        want.insert(m.id);
                        next_send += 1;
                    }
                }
            }
            Ok(Event::Message(msg)) => {
                let m: Message = serde_json::from_str(&msg.data).unwrap();
                seen.insert(m.id);
            }
            Err(reqwest_eventsource::Error::StreamEnded) => {}
            Err(e) => panic!("{e}"),
        }
    }
    es.close();
    assert_eq!(seen, want);
    assert!(
        opens >= 4,
        "the stream ended and the client came back ({opens} opens)"
    );
}
