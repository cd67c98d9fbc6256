//! CORS as the reference sends it (go-chi/cors v1.2.1 with its `main.go`
//! options). Every expected head below was read off the reference server
//! (`Date` values masked); the request headers are the ones a browser sends.

use mock_chat_server::diagnostics::DiagnosticKind;
use mock_chat_server::{Fault, FaultPlan, MockChatServer, Route};

use crate::common::*;
use crate::heads::{heads, CLOSE};

const ORIGIN: &str = "Origin: http://app.example\r\n";
const VARY3: &str = "Vary: Origin\nVary: Access-Control-Request-Method\n\
                     Vary: Access-Control-Request-Headers";

async fn server() -> MockChatServer {
    MockChatServer::builder()
        .seed(5)
        .admin_api(true)
        .start()
        .await
}

fn preflight(path: &str, extra: &str) -> String {
    format!("OPTIONS {path} HTTP/1.1\r\n{CLOSE}{extra}\r\n")
}

#[tokio::test]
async fn a_preflight_the_options_allow_is_granted_on_any_path() {
    let server = server().await;
    let at = server.address();
    let asked = format!(
        "{ORIGIN}Access-Control-Request-Method: post\r\n\
         Access-Control-Request-Headers: content-type, idempotency-key\r\n"
    );
    let granted = format!(
        "HTTP/1.1 200 OK\nAccess-Control-Allow-Credentials: true\n\
         Access-Control-Allow-Headers: Content-Type, Idempotency-Key\n\
         Access-Control-Allow-Methods: POST\nAccess-Control-Allow-Origin: http://app.example\n\
         Access-Control-Max-Age: 300\n{VARY3}\nDate: D\nContent-Length: 0\nConnection: close"
    );
    for path in ["/chats/x/messages", "/nowhere", "/events?stream=messages"] {
        assert_eq!(
            heads(at, preflight(path, &asked).as_bytes(), 1).await,
            granted
        );
    }
    // The method comes back upper-cased; no requested headers, no
    // `Allow-Headers`; `Origin: null` is an origin like any other.
    let get = "Origin: null\r\nAccess-Control-Request-Method: get\r\n";
    assert_eq!(
        heads(at, preflight("/chats", get).as_bytes(), 1).await,
        format!(
            "HTTP/1.1 200 OK\nAccess-Control-Allow-Credentials: true\n\
             Access-Control-Allow-Methods: GET\nAccess-Control-Allow-Origin: null\n\
             Access-Control-Max-Age: 300\n{VARY3}\nDate: D\nContent-Length: 0\nConnection: close"
        )
    );
}

#[tokio::test]
async fn a_refused_preflight_gets_only_the_vary_lines() {
    let server = server().await;
    let at = server.address();
    let refused =
        format!("HTTP/1.1 200 OK\n{VARY3}\nDate: D\nContent-Length: 0\nConnection: close");
    for extra in [
        // A method the options do not allow.
        format!("{ORIGIN}Access-Control-Request-Method: PATCH\r\n"),
        // A header they do not allow (`_` and `.` survive the parse).
        format!(
            "{ORIGIN}Access-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: content-type, X_y.z\r\n"
        ),
        // `Last-Event-ID`: a fetch-based stream reader that sets it is
        // blocked by the browser on the real server.
        format!(
            "{ORIGIN}Access-Control-Request-Method: GET\r\n\
             Access-Control-Request-Headers: last-event-id\r\n"
        ),
        // No origin, or an empty one.
        "Access-Control-Request-Method: GET\r\n".to_string(),
        "Origin: \r\nAccess-Control-Request-Method: GET\r\n".to_string(),
    ] {
        let head = heads(at, preflight("/chats", &extra).as_bytes(), 1).await;
        assert_eq!(head, refused, "{extra:?}");
    }
}

#[tokio::test]
async fn preflights_are_never_held_delayed_or_faulted_and_never_count_for_a_route() {
    let server = MockChatServer::builder()
        .seed(5)
        .faults(
            FaultPlan::none().with_all_routes(mock_chat_server::chaos::RouteFaults {
                unavailable: 1.0,
                ..Default::default()
            }),
        )
        .start()
        .await;
    let _gate = server.hold(Route::GetChats);
    let _stream_gate = server.hold(Route::Events);
    let asked = format!("{ORIGIN}Access-Control-Request-Method: GET\r\n");
    for path in ["/chats", "/events?stream=messages"] {
        let head = heads(server.address(), preflight(path, &asked).as_bytes(), 1).await;
        assert!(head.starts_with("HTTP/1.1 200 OK\n"), "{head}");
    }
    assert!(server.journal().is_empty(), "no chaos decision drawn");
    assert!(server.requests(Route::GetChats).is_empty());
    assert!(server.requests(Route::Events).is_empty());
    let all = server.received_requests();
    assert_eq!(all.len(), 2, "recorded, with no route");
    assert_eq!(
        (all[0].method.as_str(), all[0].route, all[0].status),
        ("OPTIONS", None, Some(200))
    );
}

#[tokio::test]
async fn a_client_that_sends_preflights_gets_the_same_faults() {
    // Two servers of one seed under the reference's chaos (compressed):
    // one client sends a preflight before each request, the other none.
    let start = || {
        MockChatServer::builder()
            .seed(11)
            .faults(FaultPlan::reference())
            .time_scale(0.0005)
            .start()
    };
    let (plain, browser) = (start().await, start().await);
    let asked = format!("{ORIGIN}Access-Control-Request-Method: GET\r\n");
    for _ in 0..60 {
        get(&plain, "/chats").await;
        heads(browser.address(), preflight("/chats", &asked).as_bytes(), 1).await;
        get(&browser, "/chats").await;
    }
    let faults = |s: &MockChatServer| -> Vec<Option<Fault>> {
        s.journal().iter().map(|e| e.fault).collect()
    };
    assert_eq!(faults(&plain).len(), 60);
    assert!(
        faults(&plain).iter().any(Option::is_some),
        "seed 11 draws faults in 60 calls"
    );
    assert_eq!(faults(&plain), faults(&browser));
}

/// Requests that are not preflights, each with the head the reference
/// answers it with.
fn other_answers() -> [(String, String); 7] {
    let cors = "Access-Control-Allow-Credentials: true\n\
                Access-Control-Allow-Origin: http://app.example\n\
                Access-Control-Expose-Headers: Link";
    [
        // OPTIONS without a requested method is an ordinary request.
        (
            format!("OPTIONS /chats HTTP/1.1\r\n{CLOSE}{ORIGIN}\r\n"),
            format!("HTTP/1.1 405 Method Not Allowed\n{cors}\nAllow: GET\nVary: Origin\nDate: D\nContent-Length: 0\nConnection: close"),
        ),
        (
            format!("OPTIONS /x HTTP/1.1\r\n{CLOSE}{ORIGIN}Access-Control-Request-Method: \r\n\r\n"),
            format!("HTTP/1.1 404 Not Found\n{cors}\nContent-Type: text/plain; charset=utf-8\nVary: Origin\nX-Content-Type-Options: nosniff\nDate: D\nContent-Length: 19\nConnection: close"),
        ),
        // Methods the options do not allow get `Vary` only.
        (
            format!("HEAD /chats HTTP/1.1\r\n{CLOSE}{ORIGIN}\r\n"),
            "HTTP/1.1 405 Method Not Allowed\nAllow: GET\nVary: Origin\nDate: D\nConnection: close".to_string(),
        ),
        (
            format!("FOO /chats HTTP/1.1\r\n{CLOSE}{ORIGIN}\r\n"),
            "HTTP/1.1 405 Method Not Allowed\nVary: Origin\nDate: D\nContent-Length: 0\nConnection: close".to_string(),
        ),
        // The stream's refusals keep its headers, sorted among the grant.
        (
            format!("GET /events?stream=messages HTTP/1.1\r\nHost: x\r\n{ORIGIN}Last-Event-ID: x\r\n\r\n"),
            format!("HTTP/1.1 400 Bad Request\n{cors}\nCache-Control: no-cache\nConnection: keep-alive\nContent-Type: text/plain; charset=utf-8\nVary: Origin\nX-Content-Type-Options: nosniff\nDate: D\nContent-Length: 32"),
        ),
        (
            format!("GET /events?stream=messages HTTP/1.1\r\nHost: x\r\n{ORIGIN}\r\n"),
            format!("HTTP/1.1 200 OK\n{cors}\nCache-Control: no-cache\nConnection: keep-alive\nContent-Type: text/event-stream\nVary: Origin\nDate: D\nTransfer-Encoding: chunked"),
        ),
        // Go answers `OPTIONS *` itself, before the CORS handler.
        (
            format!("OPTIONS * HTTP/1.1\r\n{CLOSE}{ORIGIN}Access-Control-Request-Method: GET\r\n\r\n"),
            "HTTP/1.1 200 OK\nContent-Length: 0\nDate: D\nConnection: close".to_string(),
        ),
    ]
}

#[tokio::test]
async fn every_other_answer_carries_vary_and_with_an_origin_the_grant() {
    let server = server().await;
    let at = server.address();
    for (request, expected) in other_answers() {
        assert_eq!(
            heads(at, request.as_bytes(), 1).await,
            expected,
            "{request:?}"
        );
    }
    let r = request(
        &server,
        "GET",
        "/chats",
        &[("Origin", "http://app.example")],
        b"",
    )
    .await;
    assert_eq!(
        r.header_names(),
        [
            "access-control-allow-credentials",
            "access-control-allow-origin",
            "access-control-expose-headers",
            "connection",
            "content-length",
            "content-type",
            "vary"
        ]
    );
    assert_eq!(
        r.headers[0].0, "Access-Control-Allow-Credentials",
        "sorted, before Date"
    );
}

#[tokio::test]
async fn chaos_answers_carry_the_grant_too() {
    let server = MockChatServer::builder()
        .seed(5)
        .time_scale(0.001)
        .start()
        .await;
    let timeout = Fault::Timeout {
        after: std::time::Duration::from_secs(5),
    };
    for (fault, status, len) in [
        (Fault::Unavailable, "503 Service Unavailable", 12),
        (timeout, "504 Gateway Timeout", 8),
    ] {
        server.force(Route::GetChats, fault);
        let req = format!("GET /chats HTTP/1.1\r\n{CLOSE}{ORIGIN}\r\n");
        assert_eq!(
            heads(server.address(), req.as_bytes(), 1).await,
            format!(
                "HTTP/1.1 {status}\nAccess-Control-Allow-Credentials: true\n\
                 Access-Control-Allow-Origin: http://app.example\n\
                 Access-Control-Expose-Headers: Link\n\
                 Content-Type: text/plain; charset=utf-8\nVary: Origin\n\
                 X-Content-Type-Options: nosniff\nDate: D\nContent-Length: {len}\nConnection: close"
            )
        );
    }
}

#[tokio::test]
async fn requested_headers_are_compared_in_canonical_case_and_echoed_as_parsed() {
    let server = server().await;
    // The parse drops a byte but not the case of the letter after it; Go
    // canonicalises before comparing (read off the reference).
    for (asked, echoed) in [
        (&b";accept"[..], "accept"),
        (b"idempotency-;key", "Idempotency-key"),
        (b"content-\xe9type", "Content-type"),
    ] {
        let mut req = format!(
            "OPTIONS /chats HTTP/1.1\r\n{CLOSE}{ORIGIN}Access-Control-Request-Method: POST\r\n\
             Access-Control-Request-Headers: "
        )
        .into_bytes();
        req.extend_from_slice(asked);
        req.extend_from_slice(b"\r\n\r\n");
        let head = heads(server.address(), &req, 1).await;
        let line = format!("\nAccess-Control-Allow-Headers: {echoed}\n");
        assert!(head.contains(&line), "{asked:?}: {head}");
    }
    assert!(
        server.diagnostics().is_empty(),
        "{:?}",
        server.diagnostics()
    );
}

#[tokio::test]
async fn options_asterisk_reads_up_to_4_kib_of_body_as_go_does() {
    let server = server().await;
    let at = server.address();
    // With `Expect`, Go asks for the body (100 Continue) and reads it; the
    // connection then serves the next request.
    let asked = "OPTIONS * HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
                 Content-Length: 5\r\n\r\nhelloGET /nope HTTP/1.1\r\nHost: x\r\n\
                 Connection: close\r\n\r\n";
    assert_eq!(
        heads(at, asked.as_bytes(), 3).await,
        "HTTP/1.1 100 Continue|HTTP/1.1 200 OK\nContent-Length: 0\nDate: D|\
         HTTP/1.1 404 Not Found\nContent-Type: text/plain; charset=utf-8\nVary: Origin\n\
         X-Content-Type-Options: nosniff\nDate: D\nContent-Length: 19\nConnection: close"
    );
    // Over 4 KiB: Go stops reading and closes.
    let mut large = b"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n".to_vec();
    large.extend_from_slice(&[b'x'; 10_000]);
    assert_eq!(
        heads(at, &large, 1).await,
        "HTTP/1.1 200 OK\nConnection: close\nContent-Length: 0\nDate: D"
    );
}

#[tokio::test]
async fn a_refused_preflight_is_named_in_the_diagnostics() {
    let server = server().await;
    let asked = format!(
        "{ORIGIN}Access-Control-Request-Method: GET\r\n\
         Access-Control-Request-Headers: last-event-id, accept\r\n"
    );
    heads(server.address(), preflight("/events", &asked).as_bytes(), 1).await;
    let method = format!("{ORIGIN}Access-Control-Request-Method: PATCH\r\n");
    heads(server.address(), preflight("/chats", &method).as_bytes(), 1).await;
    let fine = format!("{ORIGIN}Access-Control-Request-Method: POST\r\n");
    heads(server.address(), preflight("/chats", &fine).as_bytes(), 1).await;
    let found = server.diagnostics();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found
        .iter()
        .all(|d| d.kind == DiagnosticKind::PreflightRefused));
    assert!(
        found[0].message.contains("\"Last-Event-Id\""),
        "{}",
        found[0]
    );
    assert!(found[1].message.contains("\"PATCH\""), "{}", found[1]);
    let seqs: Vec<u64> = server.received_requests().iter().map(|r| r.seq).collect();
    assert_eq!(found[0].request_seq, seqs[0]);
}

#[tokio::test]
async fn the_admin_api_has_no_cors_and_refuses_other_origins() {
    let server = server().await;
    let at = server.address();
    let own = format!(
        "GET /__admin/seed HTTP/1.1\r\nHost: {at}\r\nOrigin: http://{at}\r\nConnection: close\r\n\r\n"
    );
    let head = heads(at, own.as_bytes(), 1).await;
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(
        !head.contains("Access-Control") && !head.contains("Vary"),
        "{head}"
    );
    let asked = format!("{ORIGIN}Access-Control-Request-Method: POST\r\n");
    let head = heads(at, preflight("/__admin/reset", &asked).as_bytes(), 1).await;
    assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
    assert!(
        !head.contains("Access-Control") && !head.contains("Vary"),
        "{head}"
    );
}
