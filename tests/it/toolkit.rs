//! The test author's toolkit: waits, holds, the paused clock, diagnostics.

use std::time::Duration;

use mock_chat_server::diagnostics::DiagnosticKind;
use mock_chat_server::{Author, FaultPlan, Message, MockChatServer, Route};

use crate::common::*;

#[tokio::test]
async fn waiting_for_the_bot_instead_of_sleeping() {
    let server = MockChatServer::builder()
        .seed(1)
        .time_scale(0.001)
        .start()
        .await;
    let john = chat(&server, "John");
    send(&server, &john, "k", "hello").await;
    let answer = server
        .wait_for_message(&john.id, |m| {
            m.author == Author::Bot && m.text != "See you at the station 🚉"
        })
        .await
        .unwrap();
    assert_eq!(answer.chat_id, john.id);
    server.settle().await.unwrap();
    assert_eq!(
        server.wait_for_messages(&john.id, 3).await.unwrap().len(),
        3
    );
}

#[tokio::test]
async fn a_wait_that_times_out_says_what_it_saw() {
    let server = MockChatServer::builder().seed(1).start().await;
    server.wait_timeout(Duration::from_millis(50));
    let john = chat(&server, "John");
    let e = server.wait_for_messages(&john.id, 5).await.unwrap_err();
    assert!(e.to_string().contains("for 5 messages"), "{e}");
    assert!(e.to_string().contains("saw 1 messages"), "{e}");
    let e = server.wait_for_subscribers(1).await.unwrap_err();
    assert!(e.seen.contains("0 open"), "{e}");
}

#[tokio::test]
async fn waiting_for_requests_and_subscribers() {
    let server = MockChatServer::builder().seed(1).start().await;
    let john = chat(&server, "John");
    let addr = server.address();
    let path = format!("/chats/{}/messages", john.id);
    let client = tokio::spawn(async move {
        for i in 0..3 {
            let bytes = request_bytes(
                "POST",
                &path,
                &[("Idempotency-Key", &format!("r{i}"))],
                b"{}",
            );
            raw(addr, &bytes).await;
        }
    });
    let posts = server
        .wait_for_requests(Route::PostMessage, 3)
        .await
        .unwrap();
    assert_eq!(posts.len(), 3);
    client.await.unwrap();
    let _sse = Sse::open(&server, &[]).await;
    server.wait_for_subscribers(1).await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn under_a_paused_clock_a_bot_answer_takes_no_real_time() {
    let started = std::time::Instant::now();
    let server = MockChatServer::builder().seed(1).start().await;
    let john = chat(&server, "John");
    let mine = server
        .inject_message(&john.id, Author::User, "not answered: injected")
        .unwrap();
    let sent = send(&server, &john, "k", "answer me").await;
    let answer = server
        .wait_for_message(&john.id, |m| {
            m.author == Author::Bot && m.sent_at > sent.sent_at
        })
        .await
        .unwrap();
    let gap = answer.sent_at - sent.sent_at;
    assert!(
        (3..=5).contains(&gap.num_seconds()),
        "3–5 s of virtual time: {gap}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no real sleeping"
    );
    let _ = mine;
}

#[tokio::test(start_paused = true)]
async fn a_five_second_timeout_runs_in_virtual_time() {
    let started = std::time::Instant::now();
    let server = MockChatServer::builder().seed(1).start().await;
    server.force(Route::GetChats, mock_chat_server::Fault::timeout());
    let r = get(&server, "/chats").await;
    assert_eq!(r.status, 504);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn answer_bots_now_skips_their_delay() {
    let server = MockChatServer::builder().seed(1).start().await;
    let john = chat(&server, "John");
    send(&server, &john, "k", "quick").await;
    server.answer_bots_now();
    server.wait_timeout(Duration::from_secs(2));
    assert_eq!(
        server.wait_for_messages(&john.id, 3).await.unwrap()[2].author,
        Author::Bot
    );
}

#[tokio::test]
async fn a_hold_keeps_a_post_pending_until_released() {
    let server = MockChatServer::builder().seed(1).start().await;
    let john = chat(&server, "John");
    let gate = server.hold(Route::PostMessage);
    let addr = server.address();
    let bytes = request_bytes(
        "POST",
        &format!("/chats/{}/messages", john.id),
        &[("Idempotency-Key", "h")],
        br#"{"text":"held"}"#,
    );
    let pending = tokio::spawn(async move { parse(&raw(addr, &bytes).await).unwrap() });
    server
        .wait_for_requests(Route::PostMessage, 1)
        .await
        .unwrap();
    assert_eq!(gate.waiting(), 1);
    assert_eq!(server.messages(&john.id).len(), 1, "not stored while held");
    gate.release();
    let reply = pending.await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json::<Message>().text, "held");
    assert_eq!(get(&server, "/chats").await.status, 200);
}

#[tokio::test]
async fn a_key_reused_for_another_text_is_diagnosed() {
    let server = MockChatServer::builder().seed(1).start().await;
    let john = chat(&server, "John");
    send(&server, &john, "same-key", "first").await;
    let r = post(
        &server,
        &john.id.to_string(),
        Some("same-key"),
        r#"{"text":"second"}"#,
    )
    .await;
    assert!(r.body.is_empty());
    post(
        &server,
        &john.id.to_string(),
        Some("same-key"),
        r#"{"text":"first"}"#,
    )
    .await;
    let found = server.diagnostics();
    assert_eq!(found.len(), 1, "a plain retry is fine: {found:?}");
    assert_eq!(found[0].kind, DiagnosticKind::KeyReusedForDifferentMessage);
    assert_eq!(found[0].request_seq, 2);
    assert!(server.reproduction_report().contains("key reused"));
}

#[tokio::test]
async fn a_reconnect_without_last_event_id_after_a_server_end_is_diagnosed() {
    let server = MockChatServer::builder()
        .seed(1)
        .time_scale(0.005)
        .start()
        .await;
    let john = chat(&server, "John");
    server.inject_message(&john.id, Author::Bot, "one").unwrap();
    let mut sse = Sse::open(&server, &[]).await;
    assert_eq!(sse.drain().await.len(), 1, "ends after 150 ms");
    let mut sse = Sse::open(&server, &[("Last-Event-ID", "0")]).await;
    assert_eq!(sse.drain().await.len(), 1);
    assert!(server.diagnostics().is_empty(), "a resume is correct");
    let _again = Sse::open(&server, &[]).await;
    let kinds: Vec<_> = server.diagnostics().iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [DiagnosticKind::ReconnectWithoutLastEventId]);
}

#[tokio::test]
async fn deny_client_misuse_fails_the_test_naming_the_request_and_rule() {
    let result = tokio::spawn(async {
        let server = MockChatServer::builder()
            .seed(1)
            .deny_client_misuse()
            .start()
            .await;
        let john = chat(&server, "John");
        post(&server, &john.id.to_string(), None, r#"{"text":"x"}"#).await;
        drop(server);
    })
    .await;
    let panic = result.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("request #1: missing Idempotency-Key"),
        "{message}"
    );
}

/// A deliberately buggy client: it reuses a key for another text, then
/// reconnects to the stream without `Last-Event-ID` after the server ended
/// it. `deny_client_misuse` fails the test, naming each request and rule.
#[tokio::test]
async fn deny_client_misuse_catches_a_buggy_client() {
    let result = tokio::spawn(async {
        let server = MockChatServer::builder()
            .seed(1)
            .time_scale(0.005)
            .deny_client_misuse()
            .start()
            .await;
        let john = chat(&server, "John");
        send(&server, &john, "reused", "first").await;
        post(
            &server,
            &john.id.to_string(),
            Some("reused"),
            r#"{"text":"second"}"#,
        )
        .await;
        let mut sse = Sse::open(&server, &[]).await;
        sse.drain().await; // the server ends it after 150 ms
        let _again = Sse::open(&server, &[]).await;
        drop(server);
    })
    .await;
    let panic = result.unwrap_err().into_panic();
    let message = panic.downcast_ref::<String>().unwrap();
    assert!(
        message.contains("request #2: key reused for a different message"),
        "{message}"
    );
    assert!(
        message.contains("request #4: reconnect without Last-Event-ID"),
        "{message}"
    );
}

#[tokio::test]
async fn a_correct_client_produces_no_diagnostic_under_hostile_chaos() {
    let server = MockChatServer::builder()
        .seed(5)
        .faults(FaultPlan::hostile())
        .time_scale(0.001)
        .deny_client_misuse()
        .start()
        .await;
    let john = chat(&server, "John");
    let path = format!("/chats/{}/messages", john.id);
    for i in 0..15 {
        let key = format!("msg-{i}");
        let body = format!(r#"{{"text":"m{i}"}}"#);
        let mut backoff = Duration::from_millis(20);
        loop {
            let bytes = request_bytes("POST", &path, &[("Idempotency-Key", &key)], body.as_bytes());
            let reply = parse(&raw(server.address(), &bytes).await);
            match reply {
                Some(r) if r.status == 200 => break,
                _ => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
    server.settle().await.unwrap();
    assert!(
        server.diagnostics().is_empty(),
        "{:?}",
        server.diagnostics()
    );
}
