//! Chaos on the JSON routes, acted out as the reference's middleware does
//! (SPEC §2.6, §3, §4).

use std::time::Duration;

use mock_chat_server::chaos::{Delay, RouteFaults};
use mock_chat_server::{Fault, FaultPlan, Message, MockChatServer, Route};

use crate::common::*;

async fn calm() -> MockChatServer {
    MockChatServer::builder().seed(31).start().await
}

#[tokio::test]
async fn unavailable_is_the_references_plain_503() {
    let server = calm().await;
    server.force(Route::GetChats, Fault::Unavailable);
    let r = get(&server, "/chats").await;
    assert_eq!((r.status, r.text().as_str()), (503, "unavailable\n"));
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(get(&server, "/chats").await.status, 200, "forced once");
}

#[tokio::test]
async fn a_timeout_is_silence_then_a_504_and_nothing_stored() {
    let server = MockChatServer::builder()
        .seed(1)
        .time_scale(0.01)
        .start()
        .await;
    let john = chat(&server, "John");
    server.force(Route::PostMessage, Fault::timeout());
    let started = std::time::Instant::now();
    let r = post(&server, &john.id.to_string(), Some("t"), r#"{"text":"x"}"#).await;
    assert_eq!((r.status, r.text().as_str()), (504, "timeout\n"));
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "5 s × 0.01 of silence"
    );
    assert_eq!(server.messages(&john.id).len(), 1);
}

#[tokio::test]
async fn drop_before_commit_closes_without_storing() {
    let server = calm().await;
    let john = chat(&server, "John");
    server.force(Route::PostMessage, Fault::DropBeforeCommit);
    let bytes = request_bytes(
        "POST",
        &format!("/chats/{}/messages", john.id),
        &[("Idempotency-Key", "d")],
        br#"{"text":"x"}"#,
    );
    assert!(
        raw(server.address(), &bytes).await.is_empty(),
        "no response at all"
    );
    assert_eq!(server.messages(&john.id).len(), 1);
    // Not stored, so the key is new: the retry stores it.
    assert!(
        !post(&server, &john.id.to_string(), Some("d"), r#"{"text":"x"}"#)
            .await
            .body
            .is_empty()
    );
}

#[tokio::test]
async fn drop_after_commit_stores_and_the_retry_gets_the_empty_200() {
    let server = calm().await;
    let john = chat(&server, "John");
    server.force(Route::PostMessage, Fault::DropAfterCommit);
    let bytes = request_bytes(
        "POST",
        &format!("/chats/{}/messages", john.id),
        &[("Idempotency-Key", "k")],
        br#"{"text":"kept"}"#,
    );
    assert!(raw(server.address(), &bytes).await.is_empty());
    assert_eq!(server.messages(&john.id).last().unwrap().text, "kept");
    let retry = post(
        &server,
        &john.id.to_string(),
        Some("k"),
        r#"{"text":"kept"}"#,
    )
    .await;
    assert_eq!((retry.status, retry.body.len()), (200, 0));
    let entry = server
        .journal()
        .into_iter()
        .find(|e| e.fault == Some(Fault::DropAfterCommit))
        .unwrap();
    assert!(entry.committed && entry.forced);
}

#[tokio::test]
async fn a_truncated_body_is_half_the_json_and_stored() {
    let server = calm().await;
    let john = chat(&server, "John");
    server.force(Route::PostMessage, Fault::TruncatedBody);
    let r = post(
        &server,
        &john.id.to_string(),
        Some("tr"),
        r#"{"text":"half"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Message>(&r.body).is_err());
    let full = crate::common::get(&server, &format!("/chats/{}/messages", john.id)).await;
    let stored: Vec<Message> = full.json();
    assert_eq!(stored.last().unwrap().text, "half");
    let json = serde_json::to_string(stored.last().unwrap()).unwrap() + "\n";
    assert_eq!(r.body, json.as_bytes()[..json.len() / 2]);
}

#[tokio::test]
async fn stream_faults_cannot_be_forced_on_json_routes() {
    let server = calm().await;
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.force(Route::GetChats, Fault::StreamEnd)
    }));
    assert!(refused.is_err());
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        server.force(Route::Events, Fault::Unavailable)
    }));
    assert!(refused.is_err());
}

#[tokio::test]
async fn no_chaos_touches_404_405_or_the_stream() {
    let server = MockChatServer::builder()
        .seed(1)
        .faults(FaultPlan::none().with_all_routes(RouteFaults {
            unavailable: 1.0,
            ..RouteFaults::default()
        }))
        .start()
        .await;
    assert_eq!(get(&server, "/nope").await.status, 404);
    assert_eq!(
        request(&server, "PUT", "/chats", &[], b"").await.status,
        405
    );
    let sse = Sse::open(&server, &[]).await;
    assert_eq!(sse.head.status, 200);
    assert_eq!(get(&server, "/chats").await.status, 503);
    let requests: Vec<_> = server
        .journal()
        .into_iter()
        .filter(|e| e.fault.is_some())
        .collect();
    assert_eq!(requests.len(), 1, "only GET /chats drew a fault");
}

/// Over 2 KiB, answers are chunked; what Go's 4 KiB connection buffer
/// holds back goes out only after the delay that follows the handler.
#[tokio::test]
async fn a_large_body_is_framed_around_the_after_delay_as_go_does() {
    let mut plan = FaultPlan::none();
    plan.route_mut(Route::GetMessages).latency_after = Delay::Fixed(3_600_000);
    let server = MockChatServer::builder().seed(1).faults(plan).start().await;
    let (matt, sarah) = (chat(&server, "Matt"), chat(&server, "Sarah"));
    // Matt's history: ~3 KiB, held whole in Go's buffer until the end.
    for i in 0..12 {
        server
            .inject_message(&matt.id, mock_chat_server::Author::Bot, format!("line {i}"))
            .unwrap();
    }
    // Sarah's: ~20 KiB, written past the buffer at once; only the end waits.
    for i in 0..80 {
        server
            .inject_message(
                &sarah.id,
                mock_chat_server::Author::Bot,
                format!("line {i}"),
            )
            .unwrap();
    }
    let mut held = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    let req = request_bytes("GET", &format!("/chats/{}/messages", matt.id), &[], b"");
    tokio::io::AsyncWriteExt::write_all(&mut held, &req)
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let nothing = tokio::time::timeout(
        Duration::from_millis(300),
        tokio::io::AsyncReadExt::read(&mut held, &mut buf),
    )
    .await;
    assert!(nothing.is_err(), "a 3 KiB answer is sent whole at the end");
    let mut sse_like = Sse::open_path(&server, &format!("/chats/{}/messages", sarah.id), &[]).await;
    assert_eq!(sse_like.head.status, 200);
    assert_eq!(sse_like.head.header("Transfer-Encoding"), Some("chunked"));
    assert_eq!(
        sse_like.next_within(Duration::from_millis(300)).await,
        Err(()),
        "the body came, the end of the response (an hour away) did not"
    );
}

#[tokio::test]
async fn the_same_seed_draws_the_same_faults_for_the_same_requests() {
    async fn run(seed: u64) -> Vec<(u16, Option<Fault>)> {
        let server = MockChatServer::builder()
            .seed(seed)
            .faults(FaultPlan::hostile())
            .time_scale(0.0005)
            .start()
            .await;
        let john = chat(&server, "John").id.to_string();
        let mut out = Vec::new();
        for i in 0..30 {
            let bytes = request_bytes(
                "POST",
                &format!("/chats/{john}/messages"),
                &[("Idempotency-Key", &format!("k{i}"))],
                br#"{"text":"x"}"#,
            );
            let status = parse(&raw(server.address(), &bytes).await).map_or(0, |r| r.status);
            let fault = server
                .journal()
                .into_iter()
                .rev()
                .find(|e| e.kind == mock_chat_server::chaos::EntryKind::Request)
                .and_then(|e| e.fault);
            out.push((status, fault));
        }
        out
    }
    let a = run(77).await;
    assert_eq!(a, run(77).await);
    assert_ne!(a, run(78).await);
    assert!(a.iter().any(|(_, f)| f.is_some()), "hostile drew something");
}

#[tokio::test]
async fn the_reference_preset_answers_only_what_the_reference_answers() {
    let server = MockChatServer::builder()
        .seed(4)
        .faults(FaultPlan::reference())
        .time_scale(0.0002)
        .start()
        .await;
    let mut statuses = std::collections::BTreeMap::new();
    for _ in 0..300 {
        *statuses
            .entry(get(&server, "/chats").await.status)
            .or_insert(0) += 1;
    }
    assert!(
        statuses.keys().all(|s| [200, 503, 504].contains(s)),
        "{statuses:?}"
    );
    assert!(statuses[&200] > 240, "{statuses:?}");
    assert!(
        statuses.contains_key(&503) && statuses.contains_key(&504),
        "{statuses:?}"
    );
}
