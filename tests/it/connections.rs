//! The connection cap never locks a new client out: the idle go first,
//! then a half-sent head, then the oldest stream; a request in progress is
//! never cut. And a new connection's first head has a shorter deadline.

use std::time::Duration;

use mock_chat_server::{Author, MockChatServer, Route};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// A `GET` that keeps its connection open after the answer.
fn keep_alive_get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").into_bytes()
}

/// Reads one answer of known length (a `GET /chats`) off a kept-alive
/// connection.
async fn read_answer(s: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    loop {
        if let Some(reply) = parse(&buf).filter(|r| r.complete) {
            return reply;
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(PATIENCE, s.read(&mut chunk))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before the answer");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether the server closes `s` within `PATIENCE` (whatever it sent first).
async fn closes(s: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    matches!(
        tokio::time::timeout(PATIENCE, s.read_to_end(&mut rest)).await,
        Ok(Ok(_)) | Ok(Err(_))
    )
}

/// Whether `s` is still open and silent: nothing to read for a moment.
async fn stays_open(s: &mut TcpStream) -> bool {
    let mut one = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(200), s.read(&mut one))
        .await
        .is_err()
}

/// A `GET /chats` held at the gate, once the server has it.
async fn held_get(server: &MockChatServer) -> (mock_chat_server::Hold, TcpStream) {
    let gate = server.hold(Route::GetChats);
    let mut held = TcpStream::connect(server.address()).await.unwrap();
    held.write_all(&request_bytes("GET", "/chats", &[], b""))
        .await
        .unwrap();
    server.wait_for_requests(Route::GetChats, 1).await.unwrap();
    (gate, held)
}

// Under tokio's paused clock: "at once" is measured in virtual time, which
// only the server's own timers move, so a loaded machine cannot fail it.
#[tokio::test(start_paused = true)]
async fn a_server_full_of_silent_sockets_answers_a_new_client_at_once() {
    let server = MockChatServer::builder()
        .seed(1)
        .max_connections(16)
        .start()
        .await;
    let mut silent = Vec::new();
    for _ in 0..16 {
        silent.push(TcpStream::connect(server.address()).await.unwrap());
    }
    server.wait_for_connections(16).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_millis(100), get(&server, "/chats")).await;
    assert_eq!(answer.expect("answered within 100 ms").status, 200);
    assert!(
        closes(&mut silent[0]).await,
        "the one silent the longest made room"
    );
    let others = futures::future::join_all(silent[1..].iter_mut().map(stays_open)).await;
    assert!(others.iter().all(|open| *open), "only as many go as come");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_goes_before_one_in_the_middle_of_a_head() {
    let server = MockChatServer::builder()
        .seed(1)
        .max_connections(2)
        .start()
        .await;
    // The older connection has sent half a request head…
    let mut halfway = TcpStream::connect(server.address()).await.unwrap();
    halfway.write_all(b"GET /chats HT").await.unwrap();
    server.wait_for_connections(1).await.unwrap();
    // …the younger one had its answer and idles, kept alive.
    let mut kept = TcpStream::connect(server.address()).await.unwrap();
    kept.write_all(&keep_alive_get("/chats")).await.unwrap();
    assert_eq!(read_answer(&mut kept).await.status, 200);

    assert_eq!(
        get(&server, "/chats").await.status,
        200,
        "a third is served"
    );
    assert!(closes(&mut kept).await, "the idle one made room");
    halfway
        .write_all(b"TP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, halfway.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(parse(&out).expect("an answer").status, 200, "kept");
}

// Under tokio's paused clock: "at once" is measured in virtual time, which
// only the server's own timers move, so a loaded machine cannot fail it.
#[tokio::test(start_paused = true)]
async fn a_held_request_is_not_cut_to_make_room() {
    let server = MockChatServer::builder()
        .seed(1)
        .max_connections(2)
        .start()
        .await;
    let john = chat(&server, "John");
    let (gate, mut held) = held_get(&server).await;
    let mut silent = TcpStream::connect(server.address()).await.unwrap();
    server.wait_for_connections(2).await.unwrap();

    // The silent one is the only one that may go, whatever its age: it
    // goes at once (an evicted request would first be answered).
    let path = format!("/chats/{}/messages", john.id);
    let answer = tokio::time::timeout(Duration::from_millis(500), get(&server, &path)).await;
    assert_eq!(answer.expect("answered at once").status, 200);
    assert!(closes(&mut silent).await);
    assert_eq!(gate.waiting(), 1);
    gate.release();
    let mut out = Vec::new();
    tokio::time::timeout(PATIENCE, held.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let reply = parse(&out).expect("the held answer");
    assert_eq!((reply.status, reply.complete), (200, true));
}

#[tokio::test]
async fn only_while_every_connection_has_a_request_in_progress_does_a_new_one_wait() {
    let server = MockChatServer::builder()
        .seed(1)
        .max_connections(1)
        .start()
        .await;
    let john = chat(&server, "John");
    let (gate, mut held) = held_get(&server).await;

    let path = format!("/chats/{}/messages", john.id);
    let mut waiting = TcpStream::connect(server.address()).await.unwrap();
    waiting
        .write_all(&request_bytes("GET", &path, &[], b""))
        .await
        .unwrap();
    let mut head = [0u8; 12];
    let early =
        tokio::time::timeout(Duration::from_millis(300), waiting.read_exact(&mut head)).await;
    assert!(early.is_err(), "served while the only slot had a request");
    gate.release();
    tokio::time::timeout(PATIENCE, waiting.read_exact(&mut head))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let mut out = Vec::new();
    held.read_to_end(&mut out).await.unwrap();
    assert_eq!(parse(&out).expect("the held answer").status, 200);
}

#[tokio::test]
async fn at_the_cap_with_only_streams_open_the_oldest_ends_cleanly() {
    let server = MockChatServer::builder()
        .seed(1)
        .max_connections(2)
        .start()
        .await;
    let mut oldest = Sse::open(&server, &[]).await;
    server.wait_for_subscribers(1).await.unwrap();
    let mut younger = Sse::open(&server, &[]).await;
    server.wait_for_subscribers(2).await.unwrap();

    assert_eq!(get(&server, "/chats").await.status, 200);
    oldest.drain().await;
    assert_eq!(oldest.ended, Some(End::Clean));
    assert_eq!(younger.ended, None);
    let john = chat(&server, "John");
    let sent = server
        .inject_message(&john.id, Author::Bot, "still streaming")
        .unwrap();
    loop {
        let frame = younger.next().await.expect("the younger stream goes on");
        if frame.data.is_some_and(|d| d.contains(&sent.id.to_string())) {
            break;
        }
    }
}

#[tokio::test]
async fn a_silent_new_connection_is_cut_sooner_than_a_kept_alive_idle_one() {
    let server = MockChatServer::builder()
        .seed(1)
        .first_header_timeout(Duration::from_millis(200))
        .header_timeout(PATIENCE * 2)
        .start()
        .await;
    let mut kept = TcpStream::connect(server.address()).await.unwrap();
    kept.write_all(&keep_alive_get("/chats")).await.unwrap();
    assert_eq!(read_answer(&mut kept).await.status, 200);
    let mut silent = TcpStream::connect(server.address()).await.unwrap();

    assert!(
        closes(&mut silent).await,
        "cut by the first-head deadline, long before the idle timeout"
    );
    assert!(
        stays_open(&mut kept).await,
        "the kept-alive one waits longer"
    );
    kept.write_all(&keep_alive_get("/chats")).await.unwrap();
    assert_eq!(read_answer(&mut kept).await.status, 200);
}
