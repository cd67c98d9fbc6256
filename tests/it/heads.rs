//! Answers' heads, byte for byte as the reference's Go stack lays them out:
//! the handler's headers sorted by name, then `Date`, `Content-Length`, a
//! sniffed `Content-Type`, `Connection`, `Transfer-Encoding`; and Go's own
//! refusals (no `Date`). Every expected head below was read off the
//! reference server (`Date` values masked).

use std::net::SocketAddr;

use mock_chat_server::MockChatServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// The heads a connection receives until the server closes it (or, with
/// `heads` answers read, stops there), `Date` values masked.
pub(crate) async fn heads(addr: SocketAddr, request: &[u8], heads: usize) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("write");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            let n = s.read(&mut buf).await.expect("read");
            out.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&out);
            if n == 0 || text.matches("\r\n\r\n").count() >= heads {
                return;
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_all)
        .await
        .expect("answer in time");
    let text = String::from_utf8_lossy(&out).into_owned();
    let mut masked = String::new();
    for (i, part) in text.split("\r\n\r\n").enumerate().take(heads) {
        if i > 0 {
            masked.push('|');
        }
        // A head may follow a body on the same connection.
        let head = part.find("HTTP/1.").map_or(part, |at| &part[at..]);
        let lines: Vec<String> = head
            .split("\r\n")
            .map(|l| match l.strip_prefix("Date: ") {
                Some(_) => "Date: D".to_string(),
                None => l.to_string(),
            })
            .collect();
        masked.push_str(&lines.join("\n"));
    }
    masked
}

async fn server() -> MockChatServer {
    MockChatServer::builder().seed(3).start().await
}

pub(crate) const CLOSE: &str = "Host: x\r\nConnection: close\r\n";

#[tokio::test]
async fn errors_carry_the_handlers_headers_then_date_then_length() {
    let server = server().await;
    let at = server.address();
    let req = format!("GET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\n{CLOSE}\r\n");
    let expected_404 = "HTTP/1.1 404 Not Found\nContent-Type: text/plain; charset=utf-8\n\
        Vary: Origin\nX-Content-Type-Options: nosniff\nDate: D\nContent-Length: 19";
    assert_eq!(
        heads(at, req.as_bytes(), 2).await,
        format!("{expected_404}|{expected_404}\nConnection: close")
    );
    let req = format!("HEAD /nope HTTP/1.1\r\n{CLOSE}\r\n");
    assert_eq!(
        heads(at, req.as_bytes(), 1).await,
        format!("{expected_404}\nConnection: close")
    );
}

#[tokio::test]
async fn method_not_allowed_has_no_length_for_head() {
    let server = server().await;
    let at = server.address();
    let put = format!("PUT /chats HTTP/1.1\r\n{CLOSE}\r\n");
    assert_eq!(
        heads(at, put.as_bytes(), 1).await,
        "HTTP/1.1 405 Method Not Allowed\nAllow: GET\nVary: Origin\nDate: D\nContent-Length: 0\n\
         Connection: close"
    );
    let head = format!("HEAD /chats HTTP/1.1\r\n{CLOSE}\r\n");
    assert_eq!(
        heads(at, head.as_bytes(), 1).await,
        "HTTP/1.1 405 Method Not Allowed\nAllow: GET\nVary: Origin\nDate: D\nConnection: close"
    );
    let foo = format!("FOO /nope HTTP/1.1\r\n{CLOSE}\r\n");
    assert_eq!(
        heads(at, foo.as_bytes(), 1).await,
        "HTTP/1.1 405 Method Not Allowed\nVary: Origin\nDate: D\nContent-Length: 0\nConnection: close"
    );
}

#[tokio::test]
async fn json_answers_put_the_sniffed_type_after_date_and_length() {
    let server = server().await;
    let at = server.address();
    let req = format!("GET /chats HTTP/1.1\r\n{CLOSE}\r\n");
    let head = heads(at, req.as_bytes(), 1).await;
    let lines: Vec<&str> = head.lines().collect();
    assert_eq!(lines[..3], ["HTTP/1.1 200 OK", "Vary: Origin", "Date: D"]);
    assert!(lines[3].starts_with("Content-Length: "), "{head}");
    assert_eq!(
        lines[4..],
        [
            "Content-Type: text/plain; charset=utf-8",
            "Connection: close"
        ]
    );

    // A known key's empty 200, and a chunked answer (over 2 KiB).
    let john = chat(&server, "John");
    let path = format!("/chats/{}/messages", john.id);
    let key = [("Idempotency-Key", "k-heads")];
    let first = request_bytes("POST", &path, &key, b"{\"text\":\"hi\"}");
    heads(at, &first, 1).await;
    assert_eq!(
        heads(at, &first, 1).await,
        "HTTP/1.1 200 OK\nVary: Origin\nDate: D\nContent-Length: 0\nConnection: close"
    );
    let long = format!("{{\"text\":\"{}\"}}", "y".repeat(3000));
    let chunked = request_bytes(
        "POST",
        &path,
        &[("Idempotency-Key", "k-long")],
        long.as_bytes(),
    );
    assert_eq!(
        heads(at, &chunked, 1).await,
        "HTTP/1.1 200 OK\nVary: Origin\nDate: D\nContent-Type: text/plain; charset=utf-8\n\
         Connection: close\nTransfer-Encoding: chunked"
    );
}

#[tokio::test]
async fn the_stream_head_follows_the_clients_connection() {
    let server = server().await;
    let at = server.address();
    let path = "/events?stream=messages";
    let keep = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        heads(at, keep.as_bytes(), 1).await,
        "HTTP/1.1 200 OK\nCache-Control: no-cache\nConnection: keep-alive\n\
         Content-Type: text/event-stream\nVary: Origin\nDate: D\nTransfer-Encoding: chunked"
    );
    let close = format!("GET {path} HTTP/1.1\r\n{CLOSE}\r\n");
    assert_eq!(
        heads(at, close.as_bytes(), 1).await,
        "HTTP/1.1 200 OK\nCache-Control: no-cache\nContent-Type: text/event-stream\n\
         Vary: Origin\nDate: D\nConnection: close\nTransfer-Encoding: chunked"
    );
    let old = format!("GET {path} HTTP/1.0\r\n\r\n");
    assert_eq!(
        heads(at, old.as_bytes(), 1).await,
        "HTTP/1.0 200 OK\nCache-Control: no-cache\nContent-Type: text/event-stream\n\
         Vary: Origin\nDate: D"
    );
    let refused = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(
        heads(at, refused.as_bytes(), 1).await,
        "HTTP/1.1 500 Internal Server Error\nCache-Control: no-cache\nConnection: keep-alive\n\
         Content-Type: text/plain; charset=utf-8\nVary: Origin\n\
         X-Content-Type-Options: nosniff\nDate: D\nContent-Length: 25"
    );
}

#[tokio::test]
async fn gos_own_refusals_come_before_any_handler_without_a_date() {
    let server = server().await;
    let at = server.address();
    // The status line and body are Go's; hyper adds the Content-Length
    // (Go sends the body until the close).
    for (request, reason) in [
        (
            "GET /chats HTTP/1.1\r\n\r\n",
            "400 Bad Request: missing required Host header",
        ),
        (
            "GET /chats HTTP/1.1\r\nHost: a b\r\n\r\n",
            "400 Bad Request: malformed Host header",
        ),
        (
            "GET /chats HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            "400 Bad Request",
        ),
        (
            "GET /chats/%zz HTTP/1.1\r\nHost: x\r\n\r\n",
            "400 Bad Request",
        ),
    ] {
        let bytes = raw(at, request.as_bytes()).await;
        let expected = format!(
            "HTTP/1.1 {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Connection: close\r\nContent-Length: {}\r\n\r\n{reason}",
            reason.len()
        );
        assert_eq!(String::from_utf8_lossy(&bytes), expected, "{request:?}");
    }
    let expect = format!("GET /chats HTTP/1.1\r\n{CLOSE}Expect: foo\r\n\r\n");
    assert_eq!(
        heads(at, expect.as_bytes(), 1).await,
        "HTTP/1.1 417 Expectation Failed\nConnection: close\nDate: D\nContent-Length: 0"
    );
    // `100-continue` is the one expectation Go meets; HTTP/1.0 needs no Host.
    let cont = format!("GET /nope HTTP/1.1\r\n{CLOSE}Expect: 100-Continue\r\n\r\n");
    assert!(heads(at, cont.as_bytes(), 1)
        .await
        .starts_with("HTTP/1.1 404 "));
    let old = "GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    assert_eq!(
        heads(at, old.as_bytes(), 1).await,
        "HTTP/1.0 404 Not Found\nContent-Type: text/plain; charset=utf-8\nVary: Origin\n\
         X-Content-Type-Options: nosniff\nDate: D\nContent-Length: 19\nConnection: keep-alive"
    );
}

#[tokio::test]
async fn answers_beyond_the_references_wire_carry_a_date_too() {
    let server = MockChatServer::builder()
        .seed(3)
        .admin_api(true)
        .start()
        .await;
    let at = server.address();
    let admin = format!("GET /__admin/seed HTTP/1.1\r\n{CLOSE}\r\n");
    assert!(heads(at, admin.as_bytes(), 1).await.contains("\nDate: D\n"));
    let preflight = format!(
        "OPTIONS /chats HTTP/1.1\r\n{CLOSE}Origin: http://app.example\r\n\
         Access-Control-Request-Method: GET\r\n\r\n"
    );
    let head = heads(at, preflight.as_bytes(), 1).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.contains("\nDate: D\n"), "{head}");
}

#[tokio::test]
async fn admin_errors_carry_one_date() {
    let server = MockChatServer::builder()
        .seed(3)
        .admin_api(true)
        .start()
        .await;
    let req = format!("GET /__admin/nope HTTP/1.1\r\n{CLOSE}\r\n");
    let head = heads(server.address(), req.as_bytes(), 1).await;
    assert_eq!(head.matches("\nDate: D").count(), 1, "{head}");
}

#[tokio::test]
async fn expectations_are_read_as_go_reads_them() {
    let server = server().await;
    let at = server.address();
    // An awaited body no route asks for: the connection is not reused.
    let unread =
        "POST /chats HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(
        heads(at, unread.as_bytes(), 1).await,
        "HTTP/1.1 405 Method Not Allowed\nAllow: GET\nVary: Origin\nDate: D\nContent-Length: 0\n\
         Connection: close"
    );
    // `100-continue` among other tokens is still `100-continue`.
    let among = format!("GET /nope HTTP/1.1\r\n{CLOSE}Expect: foo 100-continue\r\n\r\n");
    assert!(heads(at, among.as_bytes(), 1)
        .await
        .starts_with("HTTP/1.1 404 "));
    // A refused expectation on HEAD: nothing written, no length.
    let head = format!("HEAD /nope HTTP/1.1\r\n{CLOSE}Expect: foo\r\n\r\n");
    assert_eq!(
        heads(at, head.as_bytes(), 1).await,
        "HTTP/1.1 417 Expectation Failed\nConnection: close\nDate: D"
    );
}

#[tokio::test]
async fn a_body_refused_for_its_size_closes_the_connection() {
    let server = MockChatServer::builder().seed(3).max_body(16).start().await;
    let john = crate::common::chat(&server, "John");
    let body = format!("{{\"text\":\"{}\"}}", "z".repeat(64));
    // Keep-alive asked for; the rest of the body is never read.
    let req = format!(
        "POST /chats/{}/messages HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k-413\r\n\
         Content-Length: {}\r\n\r\n{body}",
        john.id,
        body.len()
    );
    let bytes = raw(server.address(), req.as_bytes()).await;
    let reply = parse(&bytes).expect("an answer");
    assert_eq!(reply.status, 413);
    assert_eq!(reply.header("Connection"), Some("close"));
}
