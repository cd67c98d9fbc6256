//! Bounded resources: connections and header time.

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
