//! The JSON routes, pinned to the reference server's wire (SPEC §2.1–2.2,
//! 2.4, 2.9).

use std::collections::HashSet;

use mock_chat_server::config::ChatFixture;
use mock_chat_server::{Author, Chat, IdStyle, Message, MockChatServer};

use crate::common::*;

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

async fn server() -> MockChatServer {
    MockChatServer::builder().seed(11).start().await
}

#[tokio::test]
async fn get_chats_lists_the_reference_fixtures_as_sniffed_text() {
    let server = server().await;
    let reply = get(&server, "/chats").await;
    assert_eq!(reply.status_line, "HTTP/1.1 200 OK");
    assert_eq!(reply.header("Content-Type"), Some(TEXT_PLAIN));
    // `Connection: close` answers the test client's own `Connection: close`, as Go does.
    assert_eq!(
        reply.header_names(),
        ["connection", "content-length", "content-type", "vary"]
    );
    assert!(reply.body.ends_with(b"]\n"));
    let chats: Vec<Chat> = reply.json();
    let names: HashSet<&str> = chats.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, HashSet::from(["John", "Jessica", "Matt", "Sarah"]));
    for c in &chats {
        assert!(is_uuid(&c.id.to_string()), "{}", c.id);
    }
    assert!(reply.text().starts_with(r#"[{"id":""#));
}

#[tokio::test]
async fn get_chats_comes_in_a_seeded_order_that_changes_per_call() {
    let a = MockChatServer::builder().seed(5).start().await;
    let b = MockChatServer::builder().seed(5).start().await;
    let mut orders = HashSet::new();
    for _ in 0..12 {
        let names = |r: Reply| {
            r.json::<Vec<Chat>>()
                .into_iter()
                .map(|c| c.name)
                .collect::<Vec<_>>()
        };
        let from_a = names(get(&a, "/chats").await);
        assert_eq!(
            from_a,
            names(get(&b, "/chats").await),
            "same seed, same order"
        );
        orders.insert(from_a);
    }
    assert!(orders.len() > 1, "the order never changed: {orders:?}");
}

#[tokio::test]
async fn ids_are_seeded_uuids_and_typed_in_the_api() {
    let a = MockChatServer::builder().seed(3).start().await;
    let b = MockChatServer::builder().seed(3).start().await;
    let c = MockChatServer::builder().seed(4).start().await;
    assert_eq!(a.chats(), b.chats());
    assert_ne!(a.chats(), c.chats());
    let john = chat(&a, "John");
    assert!(john.id.as_uuid().is_some());
    let wire: Vec<Message> = get(&a, &format!("/chats/{}/messages", john.id))
        .await
        .json();
    assert_eq!(wire, a.messages(&john.id), "the handle and the wire agree");
    let m = send(&a, &john, "k-1", "hello").await;
    let m2 = send(&b, &chat(&b, "John"), "k-1", "hello").await;
    assert_eq!(m.id, m2.id, "message ids follow the seed");
}

#[tokio::test]
async fn fixtures_have_the_reference_ages() {
    let server = server().await;
    let now = chrono::Utc::now();
    for (name, ago) in [
        ("John", 0),
        ("Jessica", 60),
        ("Matt", 32 * 60),
        ("Sarah", 86_400),
    ] {
        let c = chat(&server, name);
        let history: Vec<Message> = get(&server, &format!("/chats/{}/messages", c.id))
            .await
            .json();
        assert_eq!(history.len(), 1);
        let m = &history[0];
        assert_eq!(m.author, Author::Bot);
        assert_eq!(m.chat_id, c.id);
        assert!(!m.text.is_empty());
        let age = (now - m.sent_at.with_timezone(&chrono::Utc)).num_seconds();
        assert!(
            (age - ago).abs() <= 5,
            "{name}: {age} s old, expected {ago}"
        );
    }
}

#[tokio::test]
async fn a_post_stores_and_answers_the_message_in_gos_json() {
    let server = server().await;
    let john = chat(&server, "John");
    let reply = post(
        &server,
        &john.id.to_string(),
        Some("key-1"),
        r#"{"text":"a <b> & c"}"#,
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("Content-Type"), Some(TEXT_PLAIN));
    let text = reply.text();
    assert!(text.ends_with("}\n"), "{text:?}");
    assert!(
        text.contains(r#""text":"a \u003cb\u003e \u0026 c""#),
        "{text}"
    );
    let keys: Vec<&str> = [
        "\"id\"",
        "\"chat_id\"",
        "\"author\"",
        "\"text\"",
        "\"sent_at\"",
        "\"idempotency_key\"",
    ]
    .into_iter()
    .collect();
    let positions: Vec<usize> = keys.iter().map(|k| text.find(k).unwrap()).collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "keys in Go's field order: {text}"
    );
    let m: Message = reply.json();
    assert_eq!(
        (m.author, m.text.as_str(), m.idempotency_key.as_str()),
        (Author::User, "a <b> & c", "key-1")
    );
    assert_eq!(server.messages(&john.id).last(), Some(&m));
    let sent_at = text
        .split("\"sent_at\":\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(sent_at.ends_with('Z') || sent_at.contains('+') || sent_at.rfind('-') > Some(10));
    assert!(
        !sent_at.contains(".000"),
        "Go trims trailing zeros: {sent_at}"
    );
}

#[tokio::test]
async fn the_post_checks_run_in_the_references_order() {
    let server = server().await;
    let john = chat(&server, "John").id.to_string();
    // 1. The key first, whatever the chat and body.
    let r = post(&server, "not-a-chat", None, "garbage").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "missing idempotency key\n")
    );
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    assert_eq!(r.header("Content-Type"), Some(TEXT_PLAIN));
    let r = post(&server, &john, Some(""), r#"{"text":"x"}"#).await;
    assert_eq!(r.status, 400, "an empty key counts as missing");
    // 3. The body before the chat.
    let r = post(&server, "not-a-chat", Some("k-body"), "").await;
    assert_eq!((r.status, r.text().as_str()), (400, "EOF\n"));
    // 4. The chat.
    let r = post(&server, "not-a-chat", Some("k-chat"), "{}").await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().starts_with("invalid chat ID not-a-chat: "),
        "{}",
        r.text()
    );
    let unknown = "00000000-0000-4000-8000-000000000000";
    let r = post(&server, unknown, Some("k-unknown"), "{}").await;
    assert_eq!(
        (r.status, r.text()),
        (400, format!("chat not found with ID {unknown}\n"))
    );
    // Nothing was stored by any of them, so none of these keys is known.
    let r = post(&server, &john, Some("k-chat"), "{}").await;
    assert_eq!(r.status, 200);
    let m: Message = r.json();
    assert_eq!(m.text, "", "a missing text is stored as empty");
}

#[tokio::test]
async fn a_known_key_gets_an_empty_200_whatever_else_the_request_says() {
    let server = server().await;
    let john = chat(&server, "John");
    let sarah = chat(&server, "Sarah");
    send(&server, &john, "dup", "first").await;
    let before = server.messages(&john.id).len();
    for (chat, body) in [
        (john.id.to_string(), r#"{"text":"first"}"#),
        (john.id.to_string(), r#"{"text":"another text"}"#),
        (sarah.id.to_string(), r#"{"text":"first"}"#),
        ("not-a-chat".to_string(), "not json"),
    ] {
        let r = post(&server, &chat, Some("dup"), body).await;
        assert_eq!(r.status_line, "HTTP/1.1 200 OK");
        assert!(r.body.is_empty());
        assert_eq!(r.header("Content-Length"), Some("0"));
        assert_eq!(r.header("Content-Type"), None);
    }
    assert_eq!(server.messages(&john.id).len(), before);
    assert_eq!(server.messages(&sarah.id).len(), 1);
}

#[tokio::test]
async fn concurrent_posts_with_one_key_store_one_message() {
    let server = server().await;
    let john = chat(&server, "John");
    let path = format!("/chats/{}/messages", john.id);
    let body = br#"{"text":"race"}"#;
    let bytes = request_bytes("POST", &path, &[("Idempotency-Key", "race-key")], body);
    let (a, b) = tokio::join!(raw(server.address(), &bytes), raw(server.address(), &bytes));
    let (a, b) = (parse(&a).unwrap(), parse(&b).unwrap());
    let mut lens = [a.body.len(), b.body.len()];
    lens.sort();
    assert_eq!(lens[0], 0, "one empty 200");
    assert!(lens[1] > 0, "one 200 with the message");
    assert_eq!((a.status, b.status), (200, 200));
    assert_eq!(
        server
            .messages(&john.id)
            .iter()
            .filter(|m| m.text == "race")
            .count(),
        1
    );
}

#[tokio::test]
async fn any_content_type_is_accepted_and_the_query_is_ignored() {
    let server = server().await;
    let john = chat(&server, "John");
    let path = format!("/chats/{}/messages", john.id);
    for (i, ct) in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "nonsense",
    ]
    .iter()
    .enumerate()
    {
        let key = format!("ct-{i}");
        let r = request(
            &server,
            "POST",
            &path,
            &[("Idempotency-Key", &key), ("Content-Type", ct)],
            br#"{"text":"t"}"#,
        )
        .await;
        assert_eq!(r.status, 200, "{ct}");
    }
    let all = get(&server, &path).await;
    let limited = get(&server, &format!("{path}?limit=1&before=whatever")).await;
    assert_eq!(all.json::<Vec<Message>>(), limited.json::<Vec<Message>>());
}

#[tokio::test]
async fn history_is_the_100_most_recent_oldest_first_and_chunked_when_large() {
    let server = server().await;
    let matt = chat(&server, "Matt");
    for i in 0..105 {
        server
            .inject_message(&matt.id, Author::User, format!("m{i}"))
            .unwrap();
    }
    let r = get(&server, &format!("/chats/{}/messages", matt.id)).await;
    let history: Vec<Message> = r.json();
    assert_eq!(history.len(), 100);
    assert_eq!(history[0].text, "m5");
    assert_eq!(history[99].text, "m104");
    assert!(
        r.chunked && r.complete,
        "an answer over 2 KiB is chunked, as Go does"
    );
    assert_eq!(r.header("Content-Length"), None);
    let small = get(
        &server,
        &format!("/chats/{}/messages", chat(&server, "John").id),
    )
    .await;
    assert!(!small.chunked);
    assert!(small.header("Content-Length").is_some());
}

#[tokio::test]
async fn a_chat_id_in_any_form_google_uuid_parses_is_found() {
    let server = server().await;
    let john = chat(&server, "John");
    let id = john.id.to_string();
    let simple = id.replace('-', "");
    for form in [
        id.clone(),
        id.to_uppercase(),
        format!("{{{id}}}"),
        format!("urn:uuid:{id}"),
        simple.clone(),
    ] {
        let r = get(&server, &format!("/chats/{form}/messages")).await;
        assert_eq!(r.status, 200, "{form}: {}", r.text());
    }
    let r = get(&server, "/chats/12345/messages").await;
    assert_eq!(
        (r.status, r.text().as_str()),
        (400, "invalid chat ID 12345: invalid UUID length: 5\n")
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_as_chi() {
    let server = server().await;
    let john = chat(&server, "John").id.to_string();
    let r = get(&server, "/nope").await;
    assert_eq!((r.status, r.text().as_str()), (404, "404 page not found\n"));
    assert_eq!(r.header("X-Content-Type-Options"), Some("nosniff"));
    for path in ["/chats/", "/", "/chats/x/messages/", "//chats", "/events/"] {
        assert_eq!(get(&server, path).await.status, 404, "{path}");
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let r = request(&server, method, "/chats", &[], b"").await;
        assert_eq!(r.status, 405, "{method} /chats");
        assert_eq!(r.headers_named("Allow"), ["GET"]);
        assert!(r.body.is_empty());
    }
    let r = request(
        &server,
        "DELETE",
        &format!("/chats/{john}/messages"),
        &[],
        b"",
    )
    .await;
    assert_eq!(r.status, 405);
    let mut allow = r.headers_named("Allow");
    allow.sort();
    assert_eq!(allow, ["GET", "POST"], "one Allow line per method");
    let r = request(&server, "FOO", "/chats", &[], b"").await;
    assert_eq!(r.status, 405);
    assert!(
        r.headers_named("Allow").is_empty(),
        "an unknown method gets no Allow"
    );
    let r = request(&server, "FOO", "/nope", &[], b"").await;
    assert_eq!(r.status, 405, "on any path");
}

#[tokio::test]
async fn a_request_without_host_gets_gos_400_and_a_closed_connection() {
    let server = server().await;
    let bytes = raw(server.address(), b"GET /chats HTTP/1.1\r\n\r\n").await;
    let r = parse(&bytes).unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.text(), "400 Bad Request: missing required Host header");
    assert_eq!(r.header("Connection"), Some("close"));
    // HTTP/1.0 needs no Host.
    let bytes = raw(server.address(), b"GET /chats HTTP/1.0\r\n\r\n").await;
    assert_eq!(parse(&bytes).unwrap().status, 200);
}

#[tokio::test]
async fn header_names_are_in_gos_canonical_case() {
    let server = server().await;
    let bytes = raw(server.address(), &request_bytes("GET", "/nope", &[], b"")).await;
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("\r\nContent-Type: text/plain; charset=utf-8\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nX-Content-Type-Options: nosniff\r\n"),
        "{text}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_after_the_key_checks() {
    let server = MockChatServer::builder().seed(1).max_body(64).start().await;
    let john = chat(&server, "John");
    send(&server, &john, "known", "x").await;
    let big = format!(r#"{{"text":"{}"}}"#, "a".repeat(100));
    let r = post(&server, &john.id.to_string(), Some("known"), &big).await;
    assert_eq!(
        (r.status, r.body.len()),
        (200, 0),
        "a known key still gets its empty 200"
    );
    let r = post(&server, &john.id.to_string(), Some("new"), &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("Content-Type"), Some(TEXT_PLAIN));
    let r = post(&server, &john.id.to_string(), None, &big).await;
    assert_eq!(r.status, 400, "the missing key comes first");
    assert_eq!(server.messages(&john.id).len(), 2);
}

#[tokio::test]
async fn keys_are_forgotten_oldest_first_past_the_capacity() {
    let server = MockChatServer::builder()
        .seed(1)
        .key_capacity(2)
        .start()
        .await;
    let john = chat(&server, "John");
    for k in ["a", "b", "c"] {
        send(&server, &john, k, k).await;
    }
    // "a" fell out: it stores again; "c" is still known.
    let again = post(&server, &john.id.to_string(), Some("a"), r#"{"text":"a2"}"#).await;
    assert!(!again.body.is_empty());
    assert!(
        post(&server, &john.id.to_string(), Some("c"), r#"{"text":"c"}"#)
            .await
            .body
            .is_empty()
    );
}

#[tokio::test]
async fn numeric_ids_are_an_opt_in() {
    let server = MockChatServer::builder()
        .seed(1)
        .id_style(IdStyle::Number)
        .chats(vec![ChatFixture::new("Only")])
        .start()
        .await;
    let r = get(&server, "/chats").await;
    assert_eq!(r.text(), "[{\"id\":1,\"name\":\"Only\"}]\n");
    let m: Message = post(&server, "1", Some("k"), r#"{"text":"n"}"#)
        .await
        .json();
    assert_eq!(m.id.as_number(), Some(1));
    assert_eq!(m.chat_id.to_string(), "1");
    assert_eq!(get(&server, "/chats/x/messages").await.status, 400);
}

#[tokio::test]
async fn the_chat_id_is_read_from_the_path_as_chi_reads_it() {
    let server = MockChatServer::builder().seed(1).start().await;
    let zero = "00000000-0000-0000-0000-000000000000";
    for (path, body) in [
        (
            "/chats//messages",
            "invalid chat ID : invalid UUID length: 0\n".to_string(),
        ),
        (
            &format!("/chats/%7B{zero}%7D/messages") as &str,
            format!("chat not found with ID {{{zero}}}\n"),
        ),
        (
            "/chats/a%20b/messages",
            "invalid chat ID a b: invalid UUID length: 3\n".to_string(),
        ),
        (
            "/chats/a%2Fb/messages",
            "invalid chat ID a%2Fb: invalid UUID length: 5\n".to_string(),
        ),
        (
            &format!("/chats/%7b{zero}%7d/messages"),
            format!("invalid chat ID %7b{zero}%7d: invalid UUID length: 42\n"),
        ),
    ] {
        let r = get(&server, path).await;
        assert_eq!((r.status, r.text()), (400, body), "{path}");
    }
    let r = get(&server, "/chats/%zz/messages").await;
    assert_eq!((r.status, r.text().as_str()), (400, "400 Bad Request"));
    assert_eq!(r.header("Connection"), Some("close"));
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

#[tokio::test]
async fn allow_lines_come_in_gos_map_order_drawn_from_the_seed() {
    let orders = |server: MockChatServer| async move {
        let john = chat(&server, "John");
        let path = format!("/chats/{}/messages", john.id);
        let mut orders = Vec::new();
        for _ in 0..48 {
            let r = request(&server, "DELETE", &path, &[], b"").await;
            orders.push(r.headers_named("Allow").join(","));
        }
        orders
    };
    let a = orders(MockChatServer::builder().seed(8).start().await).await;
    let b = orders(MockChatServer::builder().seed(8).start().await).await;
    assert_eq!(a, b, "same seed, same orders");
    let post_first = a.iter().filter(|o| *o == "POST,GET").count();
    let get_first = a.iter().filter(|o| *o == "GET,POST").count();
    assert_eq!(post_first + get_first, a.len(), "{a:?}");
    // The reference: POST first about one time in eight.
    assert!((1..=16).contains(&post_first), "{post_first} of 48: {a:?}");
}
