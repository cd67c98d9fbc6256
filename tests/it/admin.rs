//! `/__admin/`: control over HTTP, off by default, guarded against
//! cross-site requests and DNS rebinding.

use mock_chat_server::{Fault, FaultPlan, Message, MockChatServer};

use crate::common::*;

async fn admin() -> MockChatServer {
    MockChatServer::builder()
        .seed(1)
        .admin_api(true)
        .start()
        .await
}

#[tokio::test]
async fn the_admin_api_is_off_by_default() {
    let server = MockChatServer::builder().seed(1).start().await;
    let r = request(&server, "POST", "/__admin/reset", &[], b"").await;
    assert_eq!((r.status, r.text().as_str()), (404, "404 page not found\n"));
}

#[tokio::test]
async fn reset_inject_force_and_read_over_http() {
    let server = admin().await;
    let john = chat(&server, "John");
    let r = request(
        &server,
        "POST",
        &format!("/__admin/chats/{}/messages", john.id),
        &[],
        br#"{"text":"from admin"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m: Message = r.json();
    assert_eq!(server.messages(&john.id).last(), Some(&m));
    let r = request(
        &server,
        "POST",
        "/__admin/faults",
        &[],
        br#"{"route":"get_chats","fault":"unavailable","count":2}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&server, "/chats").await.status, 503);
    assert_eq!(get(&server, "/chats").await.status, 503);
    assert_eq!(get(&server, "/chats").await.status, 200);
    let r = request(
        &server,
        "POST",
        "/__admin/faults",
        &[],
        br#"{"route":"get_chats","fault":"stream_end"}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = request(
        &server,
        "PUT",
        "/__admin/faults",
        &[],
        br#"{"preset":"hostile"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(server.faults(), FaultPlan::hostile());
    let r = request(
        &server,
        "PUT",
        "/__admin/faults",
        &[],
        br#"{"get_chats":{"latency_before":{"uniform_ms":[500,1]}}}"#,
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(
        r.text().contains("get_chats.latency_before"),
        "{}",
        r.text()
    );
    let journal: Vec<serde_json::Value> = get(&server, "/__admin/journal").await.json();
    assert!(journal.iter().any(|e| e["fault"]["kind"] == "unavailable"));
    let seed: serde_json::Value = get(&server, "/__admin/seed").await.json();
    assert_eq!(seed["seed"], 1);
    let requests: Vec<serde_json::Value> = get(&server, "/__admin/requests").await.json();
    assert_eq!(requests.len(), 3, "admin calls are not recorded");
    let r = request(&server, "POST", "/__admin/reset", &[], b"").await;
    assert_eq!(r.status, 200);
    assert_eq!(server.messages(&chat(&server, "John").id).len(), 1);
    assert_eq!(
        request(&server, "GET", "/__admin/reset", &[], b"")
            .await
            .status,
        405
    );
    let d: Vec<serde_json::Value> = get(&server, "/__admin/diagnostics").await.json();
    assert!(d.is_empty());
    let _ = Fault::Unavailable;
}

#[tokio::test]
async fn cross_site_and_rebinding_requests_are_refused() {
    let server = admin().await;
    let host = server.address().to_string();
    let own_origin = format!("http://{host}");
    for (headers, status) in [
        (vec![("Origin", "http://evil.example")], 403),
        (vec![("Origin", own_origin.as_str())], 200),
    ] {
        let mut bytes = format!("POST /__admin/reset HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n").into_bytes();
        for (n, v) in &headers {
            bytes.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"\r\n");
        let r = parse(&raw(server.address(), &bytes).await).unwrap();
        assert_eq!(r.status, status, "{headers:?}: {}", r.text());
    }
    let rebinding =
        b"GET /__admin/seed HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n";
    let r = parse(&raw(server.address(), rebinding).await).unwrap();
    assert_eq!(r.status, 403);
    // A plain local curl: Host localhost, no Origin.
    assert_eq!(get(&server, "/__admin/seed").await.status, 200);
}

#[tokio::test]
async fn a_token_is_required_when_set() {
    let server = MockChatServer::builder()
        .seed(1)
        .admin_api(true)
        .admin_token("s3cret")
        .start()
        .await;
    assert_eq!(get(&server, "/__admin/seed").await.status, 401);
    let r = request(
        &server,
        "GET",
        "/__admin/seed",
        &[("Authorization", "Bearer s3cret")],
        b"",
    )
    .await;
    assert_eq!(r.status, 200);
}
