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

/// `POST /__admin/chats/{id}/messages` adds a message as if sent.
async fn inject_a_message_over_http(server: &MockChatServer) {
    let john = chat(server, "John");
    let r = request(
        server,
        "POST",
        &format!("/__admin/chats/{}/messages", john.id),
        &[],
        br#"{"text":"from admin"}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let m: Message = r.json();
    assert_eq!(server.messages(&john.id).last(), Some(&m));
}

/// `POST /__admin/faults` forces a fault for a count of requests, and
/// refuses a fault the route cannot take.
async fn force_faults_over_http(server: &MockChatServer) {
    let r = request(
        server,
        "POST",
        "/__admin/faults",
        &[],
        br#"{"route":"get_chats","fault":"unavailable","count":2}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(server, "/chats").await.status, 503);
    assert_eq!(get(server, "/chats").await.status, 503);
    assert_eq!(get(server, "/chats").await.status, 200);
    let r = request(
        server,
        "POST",
        "/__admin/faults",
        &[],
        br#"{"route":"get_chats","fault":"stream_end"}"#,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
}

/// `PUT /__admin/faults` takes a preset and refuses an invalid plan,
/// naming the field.
async fn replace_the_plan_over_http(server: &MockChatServer) {
    let r = request(
        server,
        "PUT",
        "/__admin/faults",
        &[],
        br#"{"preset":"hostile"}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(server.faults(), FaultPlan::hostile());
    let r = request(
        server,
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
}

#[tokio::test]
async fn reset_inject_force_and_read_over_http() {
    let server = admin().await;
    inject_a_message_over_http(&server).await;
    force_faults_over_http(&server).await;
    replace_the_plan_over_http(&server).await;
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

/// A raw admin request with this `Host`, target and extra headers.
async fn admin_raw(server: &MockChatServer, target: &str, host: &str, extra: &str) -> Reply {
    let bytes =
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n");
    parse(&raw(server.address(), bytes.as_bytes()).await).expect("an answer")
}

#[tokio::test]
async fn hosts_and_origins_are_the_servers_own_names_in_any_case() {
    let server = admin().await;
    let port = server.address().port();
    let ok = |r: &Reply| (r.status, r.text());
    for host in [
        format!("LOCALHOST:{port}"),
        format!("LocalHost:{port}"),
        "localhost".to_string(),
        format!("[::1]:{port}"),
        // The Android emulator's name for the host, printed in the banner.
        format!("10.0.2.2:{port}"),
    ] {
        let r = admin_raw(&server, "/__admin/seed", &host, "").await;
        assert_eq!(r.status, 200, "{host}: {:?}", ok(&r));
    }
    // The server's own origin under each of its names, not only the one
    // the request was sent to; nothing else.
    let own = |origin: String| (origin, 200);
    let other = |origin: String| (origin, 403);
    for (origin, status) in [
        own(format!("http://127.0.0.1:{port}")),
        own(format!("HTTP://LOCALHOST:{port}")),
        own(format!("http://[::1]:{port}")),
        other(format!("http://localhost:{}", port.wrapping_add(1))),
        other(format!("https://localhost:{port}")),
        other("null".to_string()),
        other(format!("http://localhost.evil.example:{port}")),
    ] {
        let extra = format!("Origin: {origin}\r\n");
        let host = format!("localhost:{port}");
        let r = admin_raw(&server, "/__admin/seed", &host, &extra).await;
        assert_eq!(r.status, status, "{origin}: {:?}", ok(&r));
    }
}

#[tokio::test]
async fn an_absolute_form_target_is_checked_as_the_host() {
    let server = admin().await;
    let port = server.address().port();
    let own = format!("localhost:{port}");
    let evil = admin_raw(&server, "http://evil.example/__admin/seed", &own, "").await;
    assert_eq!(evil.status, 403, "{}", evil.text());
    assert!(evil.text().contains("evil.example"), "{}", evil.text());
    let fine = admin_raw(
        &server,
        &format!("http://127.0.0.1:{port}/__admin/seed"),
        "evil.example",
        "",
    )
    .await;
    assert_eq!(fine.status, 200, "{}", fine.text());
}

#[tokio::test]
async fn the_admin_api_beyond_loopback_needs_a_token_unless_insecure() {
    let open = MockChatServer::builder()
        .seed(1)
        .bind(([0, 0, 0, 0], 0).into())
        .admin_api(true);
    let refused = open.clone().try_start().await;
    assert!(
        matches!(
            refused,
            Err(mock_chat_server::StartError::AdminUnprotected { .. })
        ),
        "{:?}",
        refused.err()
    );
    let with_token = open
        .clone()
        .admin_token("t")
        .try_start()
        .await
        .expect("starts");
    // Beyond loopback the token is the guard: any Host is accepted with it.
    let r = admin_raw(
        &with_token,
        "/__admin/seed",
        "192.0.2.7:80",
        "Authorization: Bearer t\r\n",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let insecure = open.admin_insecure(true).try_start().await.expect("starts");
    let r = admin_raw(&insecure, "/__admin/seed", "evil.example", "").await;
    assert_eq!(r.status, 403, "still no DNS rebinding without a token");
    // Loopback needs neither.
    assert!(MockChatServer::builder()
        .admin_api(true)
        .try_start()
        .await
        .is_ok());
}

#[tokio::test]
async fn a_preset_name_replaces_the_plan() {
    let server = admin().await;
    for body in [r#""hostile""#, r#"{"preset":"hostile"}"#] {
        server.set_faults(FaultPlan::none()).expect("a valid plan");
        let r = request(&server, "PUT", "/__admin/faults", &[], body.as_bytes()).await;
        assert_eq!(r.status, 200, "{body}: {}", r.text());
        let now: FaultPlan = get(&server, "/__admin/faults").await.json();
        assert_eq!(now, FaultPlan::hostile(), "{body}");
    }
    let r = request(&server, "PUT", "/__admin/faults", &[], br#""calmish""#).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("calmish"), "{}", r.text());
    let now: FaultPlan = get(&server, "/__admin/faults").await.json();
    assert_eq!(now, FaultPlan::hostile(), "a refused body changes nothing");
}

#[tokio::test]
async fn userinfo_in_an_absolute_form_target_is_not_the_host() {
    let server = admin().await;
    let port = server.address().port();
    let target = format!("http://localhost:{port}@evil.example/__admin/seed");
    let r = admin_raw(&server, &target, &format!("localhost:{port}"), "").await;
    assert_eq!(r.status, 403, "{}", r.text());
}

#[tokio::test]
async fn another_loopback_address_is_a_name_of_its_own() {
    let Ok(server) = MockChatServer::builder()
        .bind(([127, 0, 0, 2], 0).into())
        .admin_api(true)
        .try_start()
        .await
    else {
        eprintln!("skipped: 127.0.0.2 cannot be bound here");
        return;
    };
    let host = server.address().to_string();
    let r = admin_raw(&server, "/__admin/seed", &host, "").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test]
async fn beyond_loopback_with_a_token_the_origin_is_still_checked() {
    let server = MockChatServer::builder()
        .bind(([0, 0, 0, 0], 0).into())
        .admin_api(true)
        .admin_token("t")
        .start()
        .await;
    let port = server.address().port();
    let host = format!("laptop.local:{port}");
    let token = "Authorization: Bearer t\r\n";
    // The page's own origin, under a name only the network knows.
    let same = format!("{token}Origin: http://{host}\r\n");
    assert_eq!(
        admin_raw(&server, "/__admin/seed", &host, &same)
            .await
            .status,
        200
    );
    let foreign = format!("{token}Origin: http://evil.example\r\n");
    assert_eq!(
        admin_raw(&server, "/__admin/seed", &host, &foreign)
            .await
            .status,
        403
    );
    assert_eq!(
        admin_raw(&server, "/__admin/seed", &host, "").await.status,
        401
    );
}

#[tokio::test]
async fn a_token_in_the_page_url_becomes_a_strict_cookie() {
    let server = MockChatServer::builder()
        .admin_api(true)
        .admin_token("s3cret")
        .start()
        .await;
    let r = get(&server, "/__admin/?token=s3cret").await;
    assert_eq!(r.status, 303, "{}", r.text());
    assert_eq!(r.header("location"), Some("/__admin/"));
    assert_eq!(
        r.header("set-cookie"),
        Some("mock_chat_admin=s3cret; HttpOnly; SameSite=Strict; Path=/__admin")
    );
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let cookie = [("Cookie", "other=1; mock_chat_admin=s3cret")];
    for path in ["/__admin/", "/__admin/seed", "/__admin/assets/app.js"] {
        let r = request(&server, "GET", path, &cookie, b"").await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let wrong = [("Cookie", "mock_chat_admin=s3cre")];
    assert_eq!(
        request(&server, "GET", "/__admin/seed", &wrong, b"")
            .await
            .status,
        401
    );
    assert_eq!(get(&server, "/__admin/?token=nope").await.status, 401);
    // Only the page's URL takes the token.
    assert_eq!(get(&server, "/__admin/seed?token=s3cret").await.status, 401);
}

#[tokio::test]
async fn the_page_has_a_strict_content_security_policy_and_no_referrer() {
    let server = admin().await;
    let page = get(&server, "/__admin/").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(
        page.header("content-security-policy"),
        Some(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
        )
    );
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert!(!page.text().contains("<script>"), "no inline script");
    for (asset, kind) in [
        ("app.js", "text/javascript; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ] {
        let r = get(&server, &format!("/__admin/assets/{asset}")).await;
        assert_eq!((r.status, r.header("content-type")), (200, Some(kind)));
        assert_eq!(r.header("cache-control"), Some("no-cache"));
    }
    assert_eq!(get(&server, "/__admin/assets/nope.js").await.status, 404);
    let bare = get(&server, "/__admin").await;
    assert_eq!(
        (bare.status, bare.header("location")),
        (303, Some("/__admin/"))
    );
    let evil = [("Origin", "http://evil.example")];
    for path in ["/__admin/", "/__admin/seed"] {
        let r = request(&server, "GET", path, &evil, b"").await;
        assert_eq!(r.status, 403);
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
}

#[tokio::test]
async fn a_get_never_changes_state() {
    let server = admin().await;
    let chats = server.chats().len();
    let plan = server.faults();
    for path in [
        "/__admin/reset",
        "/__admin/chats",
        "/__admin/holds/get_chats",
        "/__admin/streams/end",
        "/__admin/streams/cut",
    ] {
        let r = get(&server, path).await;
        assert_eq!(r.status, 405, "{path}");
        assert!(r.header("allow").is_some_and(|a| a != "GET"), "{path}");
    }
    assert_eq!(server.chats().len(), chats);
    assert_eq!(server.faults(), plan);
    let holds: Vec<serde_json::Value> = get(&server, "/__admin/holds").await.json();
    assert!(holds.is_empty());
    // A request nobody holds goes straight through.
    assert_eq!(get(&server, "/chats").await.status, 200);
}

#[tokio::test]
async fn a_body_that_is_not_json_is_refused() {
    let server = admin().await;
    let chats = server.chats().len();
    for kind in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let headers = [("Content-Type", kind)];
        let r = request(
            &server,
            "POST",
            "/__admin/chats",
            &headers,
            br#"{"name":"X"}"#,
        )
        .await;
        assert_eq!(r.status, 415, "{kind}: {}", r.text());
        let r = request(&server, "POST", "/__admin/reset", &headers, b"").await;
        assert_eq!(r.status, 415, "{kind}");
    }
    assert_eq!(server.chats().len(), chats, "nothing changed");
    let json = [("Content-Type", "application/json; charset=utf-8")];
    let r = request(&server, "POST", "/__admin/chats", &json, br#"{"name":"X"}"#).await;
    assert_eq!(r.status, 200, "{}", r.text());
}
