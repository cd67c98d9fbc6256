//! `Expect: 100-continue`, as Go's server answers it: the `100 Continue`
//! goes out only when the handler reads the body, and a body Go never asks
//! for closes the connection.

use mock_chat_server::{Message, MockChatServer};

use crate::common::*;

async fn server() -> MockChatServer {
    MockChatServer::builder().seed(11).start().await
}

/// Reads from `s` until `want` bytes have come (or the connection closes).
async fn read_exactly(s: &mut tokio::net::TcpStream, want: usize) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut out = vec![0u8; want];
    tokio::time::timeout(PATIENCE, s.read_exact(&mut out))
        .await
        .expect("bytes in time")
        .expect("read");
    out
}

#[tokio::test]
async fn continue_is_sent_only_when_the_handler_reads_the_body() {
    use mock_chat_server::Route;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = server().await;
    let john = chat(&server, "John");
    let body = br#"{"text":"after the continue"}"#;
    let head = format!(
        "POST /chats/{}/messages HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Idempotency-Key: k-continue\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        john.id,
        body.len()
    );

    // Held before the handler (where the reference's first delay is): the
    // request is recorded, its body not asked for.
    let gate = server.hold(Route::PostMessage);
    let mut s = tokio::net::TcpStream::connect(server.address())
        .await
        .unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    let held = server
        .wait_for_requests(Route::PostMessage, 1)
        .await
        .unwrap();
    assert_eq!(held[0].body, "");
    let mut peek = [0u8; 64];
    assert!(
        matches!(s.try_read(&mut peek), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "something was sent before the handler ran"
    );

    gate.release();
    let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(read_exactly(&mut s, cont.len()).await, cont);
    s.write_all(body).await.unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    let reply = parse(&rest).expect("an answer");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json::<Message>().text, "after the continue");
    let recorded = server.requests(Route::PostMessage);
    assert_eq!(recorded[0].body, String::from_utf8_lossy(body));
}

#[tokio::test]
async fn a_body_go_never_asks_for_closes_the_connection() {
    let server = server().await;
    let john = chat(&server, "John");
    let path = format!("/chats/{}/messages", john.id);
    let post = |key: &str| {
        let key = if key.is_empty() {
            String::new()
        } else {
            format!("Idempotency-Key: {key}\r\n")
        };
        // Keep-alive asked for, the body never sent: the client waits.
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{key}Expect: 100-continue\r\n\
             Content-Length: 13\r\n\r\n"
        )
    };
    // The key is stored first, by a request that sends its body.
    let first = request(
        &server,
        "POST",
        &path,
        &[("Idempotency-Key", "k-known")],
        br#"{"text":"a"}"#,
    )
    .await;
    assert_eq!(first.status, 200);
    for (key, status) in [("", 400), ("k-known", 200)] {
        let bytes = raw(server.address(), post(key).as_bytes()).await;
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains("100 Continue"), "{text}");
        let reply = parse(&bytes).expect("an answer");
        assert_eq!(reply.status, status, "{text}");
        assert_eq!(reply.header("Connection"), Some("close"), "{text}");
    }
}
