//! Bounded resources: connections, header time, CORS only when asked.

use std::time::Duration;

use mock_chat_server::MockChatServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

#[tokio::test]
async fn past_the_connection_cap_a_request_waits_for_a_free_slot() {
    let server = MockChatServer::builder()
        .seed(1)
        .max_connections(16)
        .start()
        .await;
    let mut idle = Vec::new();
    for _ in 0..16 {
        idle.push(TcpStream::connect(server.address()).await.unwrap());
    }
    // The 16 connections are being served (a request on the last one is
    // answered); the 17th waits in the accept queue.
    let mut last = idle.pop().unwrap();
    last.write_all(&request_bytes("GET", "/chats", &[], b""))
        .await
        .unwrap();
    let mut head = [0u8; 12];
    last.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    drop(last);
    idle.push(TcpStream::connect(server.address()).await.unwrap());
    let mut waiting = TcpStream::connect(server.address()).await.unwrap();
    waiting
        .write_all(&request_bytes("GET", "/chats", &[], b""))
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    let early =
        tokio::time::timeout(Duration::from_millis(300), waiting.read_exact(&mut buf)).await;
    assert!(early.is_err(), "served while 16 connections were open");
    // A slot frees: the waiting request is served.
    drop(idle.pop());
    tokio::time::timeout(PATIENCE, waiting.read_exact(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut() {
    let server = MockChatServer::builder()
        .seed(1)
        .header_timeout(Duration::from_millis(200))
        .start()
        .await;
    let mut slow = TcpStream::connect(server.address()).await.unwrap();
    slow.write_all(b"GET /chats HT").await.unwrap();
    let mut out = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, slow.read_to_end(&mut out)).await;
    assert!(closed.is_ok(), "the server closed the connection");
    assert_eq!(
        get(&server, "/chats").await.status,
        200,
        "the server keeps serving"
    );
}

#[tokio::test]
async fn cors_answers_preflights_and_allows_any_origin_only_when_asked() {
    let plain = MockChatServer::builder().seed(1).start().await;
    let preflight = [
        ("Origin", "http://app.example"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let r = request(&plain, "OPTIONS", "/chats", &preflight, b"").await;
    assert_eq!(r.status, 405, "off by default: the reference's wire");
    assert_eq!(
        get(&plain, "/chats")
            .await
            .header("Access-Control-Allow-Origin"),
        None
    );

    let server = MockChatServer::builder()
        .seed(1)
        .cors(true)
        .admin_api(true)
        .faults(mock_chat_server::FaultPlan::none().with_all_routes(
            mock_chat_server::RouteFaults {
                unavailable: 1.0,
                ..Default::default()
            },
        ))
        .start()
        .await;
    let john = chat(&server, "John");
    let r = request(
        &server,
        "OPTIONS",
        &format!("/chats/{}/messages", john.id),
        &preflight,
        b"",
    )
    .await;
    assert_eq!(r.status, 204, "no chaos on a preflight");
    assert_eq!(r.header("Access-Control-Allow-Origin"), Some("*"));
    assert_eq!(r.header("Access-Control-Allow-Methods"), Some("GET, POST"));
    assert_eq!(
        r.header("Access-Control-Allow-Headers"),
        Some("Content-Type, Idempotency-Key, Last-Event-ID")
    );
    assert!(server.journal().is_empty());
    let r = get(&server, "/chats").await;
    assert_eq!(
        (r.status, r.header("Access-Control-Allow-Origin")),
        (503, Some("*"))
    );
    let r = get(&server, "/__admin/seed").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Access-Control-Allow-Origin"),
        None,
        "never on the admin API"
    );
}
