//! `GET /events?stream=messages` over real HTTP: framing (parsed by the
//! `eventsource-stream` crate, and checked on the raw bytes), event ids,
//! keep-alive, `retry:`, resuming, replay, slow subscribers, duplicates.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{client, message_of, next_events, next_within, PATIENCE};
use eventsource_stream::{Event, Eventsource};
use futures::{Stream, StreamExt};
use mock_chat_server::{
    Author, BotBehavior, Delay, DuplicateIds, Message, MockChatServer, MockChatServerBuilder,
    Replay,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn quiet() -> MockChatServerBuilder {
    MockChatServer::builder().seed(21).bot(BotBehavior::Silent)
}

/// Opens an SSE request; asserts the 200 and the content type.
async fn open(server: &MockChatServer, query: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = client().get(server.url(&format!("/events?{query}")));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let res = req.send().await.expect("SSE request");
    assert_eq!(res.status(), 200, "GET /events?{query} {headers:?}");
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    res
}

/// The events of an open SSE answer, parsed by `eventsource-stream`.
fn parsed(res: reqwest::Response) -> impl Stream<Item = Event> + Unpin {
    Box::pin(
        res.bytes_stream()
            .eventsource()
            .take_while(|e| futures::future::ready(e.is_ok()))
            .filter_map(|e| async move { e.ok() }),
    )
}

async fn stream(
    server: &MockChatServer,
    query: &str,
    headers: &[(&str, &str)],
) -> impl Stream<Item = Event> + Unpin {
    parsed(open(server, query, headers).await)
}

/// Reads the raw body of an SSE answer until `needle` appears in it.
async fn read_until(res: &mut reqwest::Response, buf: &mut String, needle: &str) {
    tokio::time::timeout(PATIENCE, async {
        while !buf.contains(needle) {
            let chunk = res
                .chunk()
                .await
                .expect("reading the stream")
                .unwrap_or_else(|| panic!("the stream ended before {needle:?}: {buf:?}"));
            buf.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {needle:?} in {buf:?}"));
}

fn ids(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .map(|e| {
            e.id.parse()
                .unwrap_or_else(|_| panic!("event id {:?}", e.id))
        })
        .collect()
}

fn texts(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| message_of(e).text).collect()
}

fn inject(server: &MockChatServer, texts: &[&str]) -> Vec<Message> {
    texts
        .iter()
        .map(|t| server.inject_message(1, Author::Bot, *t).unwrap())
        .collect()
}

// ------------------------------------------------------------------ framing

#[tokio::test]
async fn events_carry_an_id_and_a_message_and_no_event_name() {
    let server = quiet().start().await;
    let mut raw = open(&server, "stream=messages", &[]).await;
    let mut events = stream(&server, "stream=messages", &[]).await;
    let posted: Message = common::post(&server, 2, "k-1", "first line")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let injected = server
        .inject_message(3, Author::User, "multi\nline")
        .unwrap();

    // Parsed by a real SSE client: the default `message` type, an id, a
    // Message as data.
    let got = next_events(&mut events, 2).await;
    for (e, expected) in got.iter().zip([&posted, &injected]) {
        assert_eq!(e.event, "message", "no `event:` field");
        assert_eq!(&message_of(e), expected);
        assert_eq!(e.retry, None);
    }
    assert_eq!(ids(&got), vec![1, 2]);

    // The raw framing: one `id:` and one `data:` line per event, no
    // `event:` line, a blank line after each event.
    let mut buf = String::new();
    read_until(&mut raw, &mut buf, "multi\\nline").await;
    read_until(&mut raw, &mut buf, "\n\n").await;
    let blocks: Vec<&str> = buf.split_terminator("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{buf:?}");
    for (i, (block, expected)) in blocks.iter().zip([&posted, &injected]).enumerate() {
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines.len(), 2, "{block:?}");
        let field = |name: &str| {
            let found: Vec<&str> = lines
                .iter()
                .filter_map(|l| l.strip_prefix(name))
                .map(|v| v.strip_prefix(' ').unwrap_or(v))
                .collect();
            assert_eq!(found.len(), 1, "one {name} line in {block:?}");
            found[0]
        };
        assert_eq!(field("id:"), (i + 1).to_string());
        let data: Message = serde_json::from_str(field("data:")).unwrap();
        assert_eq!(&data, expected);
        assert!(!block.contains("event:"), "{block:?}");
    }
}

#[tokio::test]
async fn event_ids_are_increasing_integers_across_every_kind_of_message() {
    let server = MockChatServer::builder()
        .seed(22)
        .bot(BotBehavior::Echo)
        .bot_delay(Delay::Fixed(5))
        .start()
        .await;
    let mut events = stream(&server, "stream=messages", &[]).await;
    let mut expected = Vec::new();
    for i in 0..3 {
        let text = format!("user {i}");
        let res = common::post(&server, 1, &format!("k{i}"), &text)
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        // The user's message, then the bot's answer, then an injection.
        let got = next_events(&mut events, 2).await;
        assert_eq!(message_of(&got[0]).author, Author::User);
        assert_eq!(message_of(&got[1]).author, Author::Bot);
        assert_eq!(message_of(&got[1]).text, text);
        expected.extend(got);
        server
            .inject_message(2, Author::Bot, format!("injected {i}"))
            .unwrap();
        expected.extend(next_events(&mut events, 1).await);
    }
    assert_eq!(ids(&expected), (1..=9).collect::<Vec<u64>>());
    let message_ids: Vec<u64> = expected.iter().map(|e| message_of(e).id).collect();
    assert!(
        message_ids.windows(2).all(|w| w[0] < w[1]),
        "{message_ids:?}"
    );
    // The journal names the same event ids.
    let journaled: Vec<u64> = server
        .journal()
        .iter()
        .flat_map(|e| e.event_ids.clone())
        .collect();
    assert_eq!(journaled, (1..=9).collect::<Vec<u64>>());
}

#[tokio::test]
async fn idle_streams_get_keep_alive_comments() {
    let server = quiet().keep_alive(Duration::from_millis(20)).start().await;
    let mut raw = open(&server, "stream=messages", &[]).await;
    let mut buf = String::new();
    read_until(&mut raw, &mut buf, ": keep-alive\n\n: keep-alive\n\n").await;
    assert!(
        buf.lines().all(|l| l == ": keep-alive" || l.is_empty()),
        "{buf:?}"
    );

    // A client never sees comments as events.
    let mut events = stream(&server, "stream=messages", &[]).await;
    let mut raw_again = open(&server, "stream=messages", &[]).await;
    let mut buf = String::new();
    read_until(&mut raw_again, &mut buf, ": keep-alive").await;
    let m = server
        .inject_message(1, Author::Bot, "after the comments")
        .unwrap();
    assert_eq!(message_of(&next_within(&mut events).await), m);
}

#[tokio::test]
async fn sse_retry_opens_the_stream_scaled_by_time_scale() {
    let server = quiet()
        .sse_retry(Duration::from_secs(2))
        .time_scale(0.25)
        .start()
        .await;
    let mut raw = open(&server, "stream=messages", &[]).await;
    let mut buf = String::new();
    read_until(&mut raw, &mut buf, "\n\n").await;
    assert_eq!(buf, "retry:500\n\n", "2 s scaled by 0.25");
    let m = server
        .inject_message(1, Author::Bot, "then events")
        .unwrap();
    read_until(&mut raw, &mut buf, "then events").await;
    assert_eq!(buf.matches("retry:").count(), 1);

    // Without the option there is no retry field.
    let server = quiet().time_scale(0.25).start().await;
    let mut raw = open(&server, "stream=messages", &[]).await;
    let m2 = server
        .inject_message(1, Author::Bot, "then events")
        .unwrap();
    let mut buf = String::new();
    read_until(&mut raw, &mut buf, "then events").await;
    assert!(!buf.contains("retry:"), "{buf:?}");
    assert_eq!(m.text, m2.text);
}

// ----------------------------------------------------------------- resuming

#[tokio::test]
async fn last_event_id_header_resumes_strictly_after_it() {
    let server = quiet().start().await;
    inject(&server, &["a", "b", "c", "d", "e"]);
    for (last, expected) in [
        ("2", vec!["c", "d", "e"]),
        ("4", vec!["e"]),
        (" 3 ", vec!["d", "e"]),
    ] {
        let mut events = stream(&server, "stream=messages", &[("last-event-id", last)]).await;
        let got = next_events(&mut events, expected.len()).await;
        assert_eq!(texts(&got), expected, "after {last:?}");
    }
    // Caught up: only live events follow.
    let mut events = stream(&server, "stream=messages", &[("last-event-id", "5")]).await;
    inject(&server, &["live"]);
    let got = next_events(&mut events, 1).await;
    assert_eq!(
        (ids(&got), texts(&got)),
        (vec![6], vec!["live".to_string()])
    );
}

#[tokio::test]
async fn last_event_id_query_parameter_resumes_too() {
    let server = quiet().start().await;
    inject(&server, &["a", "b", "c"]);
    for query in [
        "stream=messages&last_event_id=1",
        "last_event_id=1&stream=messages",
    ] {
        let mut events = stream(&server, query, &[]).await;
        let got = next_events(&mut events, 2).await;
        assert_eq!(ids(&got), vec![2, 3], "{query}");
    }
    // The header, when present, wins over the query.
    let mut events = stream(
        &server,
        "stream=messages&last_event_id=1",
        &[("last-event-id", "2")],
    )
    .await;
    assert_eq!(ids(&next_events(&mut events, 1).await), vec![3]);
    // Live events follow the replayed ones.
    let mut events = stream(&server, "stream=messages&last_event_id=2", &[]).await;
    inject(&server, &["d"]);
    let got = next_events(&mut events, 2).await;
    assert_eq!(texts(&got), ["c", "d"]);
}

#[tokio::test]
async fn an_empty_last_event_id_counts_as_absent() {
    // Replay::None: absent means live only, while "0" would replay all.
    let server = quiet().start().await;
    inject(&server, &["old 1", "old 2"]);
    let mut streams = Vec::new();
    for (query, headers) in [
        ("stream=messages", vec![("last-event-id", "")]),
        ("stream=messages", vec![("last-event-id", "  ")]),
        ("stream=messages&last_event_id=", vec![]),
        (
            "stream=messages&last_event_id=",
            vec![("last-event-id", "")],
        ),
    ] {
        streams.push(stream(&server, query, &headers).await);
    }
    inject(&server, &["live"]);
    for s in &mut streams {
        let got = next_events(s, 1).await;
        assert_eq!(
            (ids(&got), texts(&got)),
            (vec![3], vec!["live".to_string()])
        );
    }
    let mut from_zero = stream(&server, "stream=messages", &[("last-event-id", "0")]).await;
    assert_eq!(ids(&next_events(&mut from_zero, 3).await), vec![1, 2, 3]);

    // Replay::All: absent means the whole log.
    let server = quiet().replay(Replay::All).start().await;
    inject(&server, &["x", "y"]);
    let mut s = stream(&server, "stream=messages", &[("last-event-id", "")]).await;
    assert_eq!(ids(&next_events(&mut s, 2).await), vec![1, 2]);
}

#[tokio::test]
async fn a_non_numeric_last_event_id_is_400() {
    let server = quiet().start().await;
    inject(&server, &["a"]);
    let cases: [(&str, &[(&str, &str)]); 8] = [
        ("stream=messages", &[("last-event-id", "abc")]),
        ("stream=messages", &[("last-event-id", "-1")]),
        ("stream=messages", &[("last-event-id", "1.5")]),
        ("stream=messages", &[("last-event-id", "0x10")]),
        ("stream=messages", &[("last-event-id", "1 2")]),
        (
            "stream=messages",
            &[("last-event-id", "99999999999999999999999")],
        ),
        ("stream=messages&last_event_id=abc", &[]),
        ("stream=messages&last_event_id=-5", &[]),
    ];
    for (query, headers) in cases {
        let mut req = client().get(server.url(&format!("/events?{query}")));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = req.send().await.unwrap();
        common::assert_error(res, 400, "invalid_last_event_id").await;
    }
    assert_eq!(server.subscriber_count(), 0, "no stream was opened");
    assert_eq!(server.messages(1).len(), 2);
    // Still serving streams.
    let mut s = stream(&server, "stream=messages", &[("last-event-id", "0")]).await;
    assert_eq!(texts(&next_events(&mut s, 1).await), ["a"]);
}

#[tokio::test]
async fn an_id_older_than_the_log_starts_at_the_oldest_event_held() {
    let server = quiet().replay_log_capacity(3).start().await;
    inject(&server, &["1", "2", "3", "4", "5", "6"]);
    let mut streams = Vec::new();
    for (last, expected) in [
        ("1", vec![4, 5, 6]),
        ("0", vec![4, 5, 6]),
        ("3", vec![4, 5, 6]),
        ("4", vec![5, 6]),
    ] {
        let mut s = stream(&server, "stream=messages", &[("last-event-id", last)]).await;
        let got = next_events(&mut s, expected.len()).await;
        assert_eq!(ids(&got), expected, "after {last}");
        streams.push(s);
    }
    // Nothing else was replayed: the next event is live.
    inject(&server, &["probe"]);
    for s in &mut streams {
        let next = next_events(s, 1).await;
        assert_eq!(
            (ids(&next), texts(&next)),
            (vec![7], vec!["probe".to_string()])
        );
    }
}

// ------------------------------------------------------------------- replay

#[tokio::test]
async fn replay_all_gives_new_subscribers_the_whole_log() {
    let server = quiet().replay(Replay::All).start().await;
    inject(&server, &["a", "b", "c"]);
    let mut s = stream(&server, "stream=messages", &[]).await;
    inject(&server, &["d"]);
    let got = next_events(&mut s, 4).await;
    assert_eq!(ids(&got), vec![1, 2, 3, 4]);
    assert_eq!(texts(&got), ["a", "b", "c", "d"]);

    // The whole log is what the bounded log still holds.
    let server = quiet()
        .replay(Replay::All)
        .replay_log_capacity(2)
        .start()
        .await;
    inject(&server, &["a", "b", "c"]);
    let mut s = stream(&server, "stream=messages", &[]).await;
    assert_eq!(texts(&next_events(&mut s, 2).await), ["b", "c"]);
}

#[tokio::test]
async fn replay_none_is_the_default_and_gives_live_events_only() {
    let server = quiet().start().await;
    inject(&server, &["a", "b"]);
    let mut s = stream(&server, "stream=messages", &[]).await;
    let explicit = quiet().replay(Replay::None).start().await;
    inject(&explicit, &["a", "b"]);
    let mut s2 = stream(&explicit, "stream=messages", &[]).await;
    inject(&server, &["live"]);
    inject(&explicit, &["live"]);
    for s in [&mut s, &mut s2] {
        let got = next_events(s, 1).await;
        assert_eq!(
            (ids(&got), texts(&got)),
            (vec![3], vec!["live".to_string()])
        );
    }
}

// -------------------------------------------------------- slow subscribers

/// An SSE request on a raw socket with a small receive buffer, that the test
/// then does not read: the server's writes back up quickly.
async fn stalled_subscriber(server: &MockChatServer) -> (tokio::net::TcpStream, Vec<u8>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(server.address()).await.unwrap();
    s.write_all(b"GET /events?stream=messages HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut chunk))
            .await
            .expect("response head")
            .unwrap();
        assert!(n > 0, "closed before the head");
        buf.extend_from_slice(&chunk[..n]);
    }
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&buf[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    (s, buf[split..].to_vec())
}

/// Decodes as much of a chunked body as is complete.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..eol]).unwrap_or("");
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        let start = eol + 2;
        if size == 0 || raw.len() < start + size {
            out.extend_from_slice(&raw[start..raw.len().min(start + size)]);
            break;
        }
        out.extend_from_slice(&raw[start..start + size]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}

#[tokio::test]
async fn a_lagging_subscriber_is_cut_without_blocking_anyone_and_can_resume() {
    const QUEUE: usize = 16;
    const BATCH: usize = 8;
    // Enough 10 kB events to overflow what the kernel and hyper can buffer
    // for a client that does not read (about 3 MB here), with a margin.
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().last()?.parse::<usize>().ok())
        .unwrap_or(4 << 20);
    let total = ((wmem_max + (2 << 20)) * 13 / 10 / 10_000)
        .next_multiple_of(BATCH)
        .max(800);
    let server = quiet().subscriber_queue(QUEUE).start().await;
    let (mut slow, mut slow_body) = stalled_subscriber(&server).await;
    let mut fast = stream(&server, "stream=messages", &[]).await;
    assert_eq!(server.subscriber_count(), 2);

    // Big messages, so the stalled socket fills quickly. The publisher never
    // waits; the fast subscriber reads every batch and sees every event.
    let text = "x".repeat(10_000);
    let mut published = 0usize;
    while published < total {
        for _ in 0..BATCH {
            server
                .inject_message(1, Author::Bot, text.as_str())
                .unwrap();
            published += 1;
        }
        let got = next_events(&mut fast, BATCH).await;
        let expect: Vec<u64> = ((published - BATCH + 1) as u64..=published as u64).collect();
        assert_eq!(ids(&got), expect);
    }
    // HTTP requests are served meanwhile.
    let res = common::post(&server, 2, "during", "still here")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let got = next_events(&mut fast, 1).await;
    assert_eq!(message_of(&got[0]).text, "still here");
    let last_published = (total + 1) as u64;

    // Now read the slow one: what was buffered, then the cut.
    tokio::time::timeout(PATIENCE, async {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match slow.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => slow_body.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .expect("the lagging subscriber's connection ends");
    let body = dechunk(&slow_body);
    let received: Vec<Event> = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from(body))])
        .eventsource()
        .filter_map(|e| async move { e.ok() })
        .collect()
        .await;
    let got = ids(&received);
    eprintln!(
        "PROBE slow got {} events, raw {} bytes",
        got.len(),
        slow_body.len()
    );
    let last_seen = *got.last().expect("the slow subscriber got some events");
    assert_eq!(
        got,
        (1..=last_seen).collect::<Vec<u64>>(),
        "a prefix, in order"
    );
    assert!(
        last_seen < last_published,
        "it was cut before the end (saw {last_seen} of {last_published})"
    );
    assert_eq!(server.subscriber_count(), 1, "only the fast one is left");

    // It resumes from the replay log where it was cut.
    let last = last_seen.to_string();
    let mut resumed = stream(
        &server,
        "stream=messages",
        &[("last-event-id", last.as_str())],
    )
    .await;
    let rest = next_events(&mut resumed, (last_published - last_seen) as usize).await;
    assert_eq!(
        ids(&rest),
        ((last_seen + 1)..=last_published).collect::<Vec<u64>>()
    );
}

// --------------------------------------------------------------- duplicates

#[tokio::test]
async fn duplicate_deliveries_get_new_event_ids_by_default() {
    let server = quiet().start().await;
    let mut s = stream(&server, "stream=messages", &[]).await;
    let mut sub = server.subscribe();
    server.force_duplicates(3);
    let dup = server.inject_message(1, Author::Bot, "thrice").unwrap();
    let next = server.inject_message(1, Author::Bot, "once").unwrap();
    let got = next_events(&mut s, 4).await;
    assert_eq!(ids(&got), vec![1, 2, 3, 4]);
    let messages: Vec<Message> = got.iter().map(message_of).collect();
    assert_eq!(
        messages,
        vec![dup.clone(), dup.clone(), dup.clone(), next.clone()]
    );
    // In process, each message comes once.
    assert_eq!(next_within(&mut sub).await, dup);
    assert_eq!(next_within(&mut sub).await, next);
    // Resuming after the second copy gives the third copy, then the rest.
    let mut r = stream(&server, "stream=messages", &[("last-event-id", "2")]).await;
    let got = next_events(&mut r, 2).await;
    assert_eq!(ids(&got), vec![3, 4]);
    assert_eq!(message_of(&got[0]), dup);
}

#[tokio::test]
async fn duplicate_ids_same_repeats_the_event_id() {
    let server = quiet().duplicate_ids(DuplicateIds::Same).start().await;
    let mut s = stream(&server, "stream=messages", &[]).await;
    server.force_duplicates(3);
    let dup = server.inject_message(1, Author::Bot, "thrice").unwrap();
    let next = server.inject_message(1, Author::Bot, "once").unwrap();
    let got = next_events(&mut s, 4).await;
    assert_eq!(ids(&got), vec![1, 1, 1, 2]);
    let messages: Vec<Message> = got.iter().map(message_of).collect();
    assert_eq!(messages, vec![dup.clone(), dup.clone(), dup, next.clone()]);
    // Resuming after id 1 skips every copy of it.
    let mut r = stream(&server, "stream=messages", &[("last-event-id", "1")]).await;
    let got = next_events(&mut r, 1).await;
    assert_eq!((ids(&got), message_of(&got[0])), (vec![2], next));
}
