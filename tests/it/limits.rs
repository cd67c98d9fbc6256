//! Bounded resources: header time (connections: `connections.rs`).

use std::time::Duration;

use mock_chat_server::MockChatServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

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
