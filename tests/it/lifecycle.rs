//! Starting, resetting, stopping, reporting.

use mock_chat_server::{Author, FaultPlan, MockChatServer, StartError};

use crate::common::*;

#[tokio::test]
async fn dropping_the_handle_frees_the_port() {
    let server = MockChatServer::builder().seed(1).start().await;
    let addr = server.address();
    let mut sse = Sse::open(&server, &[]).await;
    drop(server);
    assert!(sse.drain().await.is_empty());
    // The listener closes: connecting fails (eventually, without a sleep).
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the port stayed open");
}

#[tokio::test]
async fn shutdown_waits_for_the_port_to_close() {
    let server = MockChatServer::builder().seed(1).start().await;
    let addr = server.address();
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn reset_brings_the_fixtures_back_with_new_ids_and_forgets_keys() {
    let server = MockChatServer::builder().seed(1).start().await;
    let john = chat(&server, "John");
    send(&server, &john, "k", "before").await;
    server.add_chat("Extra");
    server.reset();
    assert_eq!(server.chats().len(), 4);
    let john2 = chat(&server, "John");
    assert_ne!(john.id, john2.id, "a reset is a restart: new ids");
    assert_eq!(server.messages(&john2.id).len(), 1);
    assert!(server.journal().is_empty());
    assert!(server.received_requests().is_empty());
    let again = send(&server, &john2, "k", "after").await;
    assert_eq!(again.text, "after", "keys were forgotten");
}

#[tokio::test]
async fn bad_settings_refuse_to_start_with_a_reason() {
    let e = MockChatServer::builder()
        .time_scale(0.0)
        .try_start()
        .await
        .unwrap_err();
    assert!(matches!(e, StartError::InvalidTimeScale(_)));
    let mut plan = FaultPlan::none();
    plan.events.copies = vec![];
    let e = MockChatServer::builder()
        .faults(plan)
        .try_start()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("events.copies"), "{e}");
    let taken = MockChatServer::builder().seed(1).start().await;
    let e = MockChatServer::builder()
        .bind(taken.address())
        .try_start()
        .await
        .unwrap_err();
    assert!(matches!(e, StartError::Bind { .. }));
}

#[test]
fn start_blocking_serves_synchronous_tests() {
    let server = MockChatServer::builder().seed(1).start_blocking();
    let john = server.chats()[0].clone();
    let m = server
        .inject_message(&john.id, Author::Bot, "sync")
        .unwrap();
    assert_eq!(server.messages(&john.id).last(), Some(&m));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(get(&server, "/chats"));
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn the_report_names_the_seed_and_the_rerun() {
    let server = MockChatServer::builder().seed(99).start().await;
    get(&server, "/chats").await;
    let report = server.reproduction_report();
    assert!(report.contains("seed was 99"), "{report}");
    assert!(report.contains("MOCK_CHAT_SEED=99 cargo test"), "{report}");
    assert!(report.contains("GET /chats"), "{report}");
}

#[tokio::test]
async fn requests_are_recorded_with_route_status_and_fault() {
    let server = MockChatServer::builder()
        .seed(1)
        .request_log_capacity(3)
        .start()
        .await;
    let john = chat(&server, "John");
    send(&server, &john, "r1", "one").await;
    get(&server, "/nope").await;
    let all = server.received_requests();
    assert_eq!(all.len(), 2);
    let post = &server.requests(mock_chat_server::Route::PostMessage)[0];
    assert_eq!(post.status, Some(200));
    assert_eq!(post.headers.idempotency_key.as_deref(), Some("r1"));
    assert!(post.body.contains("one"));
    assert!(post.journal_seq.is_some());
    assert_eq!(all[1].route, None);
    assert_eq!(all[1].status, Some(404));
    for _ in 0..5 {
        get(&server, "/chats").await;
    }
    assert_eq!(server.received_requests().len(), 3, "bounded");
}

#[tokio::test]
async fn bots_answer_after_their_delay() {
    let server = MockChatServer::builder()
        .seed(1)
        .time_scale(0.001)
        .start()
        .await;
    let john = chat(&server, "John");
    let mut live = server.subscribe();
    let mine = send(&server, &john, "b1", "ping").await;
    use futures::StreamExt;
    assert_eq!(live.next().await.unwrap(), mine);
    let answer = tokio::time::timeout(PATIENCE, live.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.author, Author::Bot);
    assert_eq!(answer.chat_id, john.id);
    assert!(mock_chat_server::config::DEFAULT_LINES.contains(&answer.text.as_str()));
    assert!(is_uuid(&answer.idempotency_key));
}
