//! The dashboard's backend: the live feed (`/__admin/live`), holds, stream
//! orders, the script and catalogue, and the page's security.

use mock_chat_server::chaos::FaultScript;
use mock_chat_server::config::BotBehavior;
use mock_chat_server::{FaultPlan, MockChatServer, Route};
use serde_json::Value;

use crate::common::*;

async fn admin() -> MockChatServer {
    MockChatServer::builder()
        .seed(7)
        .admin_api(true)
        // Hostile timeouts in milliseconds, not seconds.
        .time_scale(0.001)
        .start()
        .await
}

/// A feed frame: its event name and JSON data.
#[derive(Debug)]
struct Feed {
    event: String,
    data: Value,
}

fn feed_frame(f: &Frame) -> Option<Feed> {
    let line = |name: &str| f.raw.lines().find_map(|l| l.strip_prefix(name));
    let data = line("data:")?;
    Some(Feed {
        event: line("event:").unwrap_or("message").trim().to_string(),
        data: serde_json::from_str(data.trim()).expect("JSON data"),
    })
}

/// The next feed frame that is not a keep-alive comment.
async fn next_feed(sse: &mut Sse) -> Feed {
    loop {
        let frame = sse.next().await.expect("the feed goes on");
        if let Some(f) = feed_frame(&frame) {
            return f;
        }
    }
}

/// Changes until one matches `wanted`; returns every change seen.
async fn changes_until(sse: &mut Sse, wanted: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let f = next_feed(sse).await;
        assert_eq!(f.event, "changes", "{:?}", f.data);
        assert_eq!(f.data["version"], 1);
        let batch = f.data["changes"].as_array().expect("changes").clone();
        let found = batch.iter().any(&wanted);
        seen.extend(batch);
        if found {
            return seen;
        }
    }
}

async fn live(server: &MockChatServer) -> (Sse, Value) {
    let mut sse = Sse::open_path(server, "/__admin/live", &[]).await;
    assert_eq!(sse.head.status, 200);
    assert_eq!(sse.head.header("content-type"), Some("text/event-stream"));
    let first = next_feed(&mut sse).await;
    assert_eq!(first.event, "snapshot");
    (sse, first.data)
}

#[tokio::test]
async fn the_feed_starts_with_a_snapshot_then_tells_of_each_request() {
    // Silent bots: an answer to "hello" would be the chat's last message in
    // the snapshot, or the first delivery the feed tells of after "again".
    let server = MockChatServer::builder()
        .seed(7)
        .admin_api(true)
        .bot(BotBehavior::Silent)
        .start()
        .await;
    let john = chat(&server, "John");
    send(&server, &john, "k-1", "hello").await;
    let (mut sse, snapshot) = live(&server).await;
    assert_eq!(snapshot["version"], 1);
    assert_eq!(snapshot["seed"], 7);
    assert!(snapshot["rerun"].as_str().unwrap().contains("--seed 7"));
    assert_eq!(snapshot["requests"].as_array().unwrap().len(), 1);
    let chats = snapshot["chats"].as_array().unwrap();
    let johns = chats.iter().find(|c| c["chat"]["name"] == "John").unwrap();
    let hello = johns["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(hello["message"]["text"], "hello");
    assert!(hello["copies"].as_u64().unwrap() >= 1);
    assert_eq!(get(&server, "/chats").await.status, 200);
    let seen = changes_until(&mut sse, |c| c["type"] == "request").await;
    let request = seen.iter().find(|c| c["type"] == "request").unwrap();
    assert_eq!(request["path"], "/chats");
    assert_eq!(request["route"], "get_chats");
    assert_eq!(request["status"], 200);
    assert!(request["ms"].as_f64().is_some());
    send(&server, &john, "k-2", "again").await;
    let seen = changes_until(&mut sse, |c| c["type"] == "delivery").await;
    let delivery = seen.iter().find(|c| c["type"] == "delivery").unwrap();
    assert_eq!(delivery["message"]["text"], "again");
    let posted = seen.iter().find(|c| c["type"] == "request").unwrap();
    assert_eq!(posted["key"], "k-2");
}

#[tokio::test]
async fn changes_are_batched_to_ten_frames_a_second() {
    let server = admin().await;
    let (mut sse, _) = live(&server).await;
    let started = std::time::Instant::now();
    for _ in 0..40 {
        assert_eq!(get(&server, "/chats").await.status, 200);
    }
    let (mut frames, mut requests) = (0, 0);
    while requests < 40 {
        let f = next_feed(&mut sse).await;
        frames += 1;
        let batch = f.data["changes"].as_array().unwrap();
        requests += batch.iter().filter(|c| c["type"] == "request").count();
    }
    let tenths = started.elapsed().as_millis() / 100;
    assert!(
        frames as u128 <= tenths + 1,
        "{frames} frames in {tenths} tenths of a second"
    );
}

/// A connection that asks for the feed and never reads, with a small
/// receive window.
async fn stalled_viewer(server: &MockChatServer) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(server.address()).await.unwrap();
    let req = "GET /__admin/live HTTP/1.1\r\nHost: localhost\r\n\r\n";
    stream.write_all(req.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_viewer_that_stops_reading_is_cut_and_the_server_keeps_answering() {
    use tokio::io::AsyncReadExt;
    let server = admin().await;
    let mut stalled = stalled_viewer(&server).await;
    let john = chat(&server, "John");
    let client = reqwest::Client::new();
    let url = server.url(&format!("/chats/{}/messages", john.id));
    let body = serde_json::json!({ "text": "x".repeat(50_000) }).to_string();
    // Enough changes (each delivery carries its 50 kB message) to fill the
    // viewer's queue (512 KiB) beyond what the socket buffers hold.
    for i in 0..200 {
        let r = client
            .post(&url)
            .header("Idempotency-Key", format!("big-{i}"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // Cut: once read, its stream ends (the last chunk) rather than going
    // on.
    let mut sink = Vec::new();
    let ended = tokio::time::timeout(PATIENCE, async {
        let mut chunk = [0u8; 65536];
        while !sink.ends_with(b"\r\n0\r\n\r\n") {
            match stalled.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => sink.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await;
    let tail = String::from_utf8_lossy(&sink[sink.len().saturating_sub(300)..]).into_owned();
    assert!(
        ended.is_ok(),
        "the stalled viewer's stream ended: {} bytes, {tail:?}",
        sink.len()
    );
    let text = String::from_utf8_lossy(&sink);
    assert!(text.contains("event:snapshot"), "{}", &text[..200]);
    assert!(sink.ends_with(b"\r\n0\r\n\r\n"), "a clean end");
    // A new viewer gets a fresh snapshot.
    let (_, snapshot) = live(&server).await;
    assert_eq!(snapshot["version"], 1);
}

async fn json_call(server: &MockChatServer, method: &str, path: &str, body: &str) -> Value {
    let r = request(server, method, path, &[], body.as_bytes()).await;
    assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
    r.json()
}

#[tokio::test]
async fn a_hold_keeps_a_post_pending_until_its_viewer_leaves() {
    let server = admin().await;
    let john = chat(&server, "John");
    let (sse, snapshot) = live(&server).await;
    let viewer = snapshot["viewer"].as_u64().unwrap();
    let body = format!(r#"{{"viewer":{viewer}}}"#);
    let held = json_call(&server, "POST", "/__admin/holds/post_message", &body).await;
    assert_eq!(held["route"], "post_message");
    let list = json_call(&server, "GET", "/__admin/holds", "").await;
    assert_eq!(list[0]["id"], held["id"]);
    let sent = {
        let url = server.url(&format!("/chats/{}/messages", john.id));
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .header("Idempotency-Key", "held-1")
                .body(r#"{"text":"held"}"#)
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    server
        .wait_for_requests(Route::PostMessage, 1)
        .await
        .unwrap();
    assert!(!sent.is_finished(), "held");
    drop(sse);
    let status = tokio::time::timeout(PATIENCE, sent).await;
    assert_eq!(status.unwrap().unwrap().unwrap(), 200, "released");
    assert_eq!(
        json_call(&server, "GET", "/__admin/holds", "").await,
        Value::Array(vec![])
    );
}

#[tokio::test]
async fn holds_are_released_on_reset_and_by_id() {
    let server = admin().await;
    let held = json_call(&server, "POST", "/__admin/holds/get_chats", "").await;
    let url = server.url("/chats");
    let sent = tokio::spawn(async move { reqwest::get(url).await.map(|r| r.status().as_u16()) });
    server.wait_for_requests(Route::GetChats, 1).await.unwrap();
    assert!(!sent.is_finished(), "held");
    json_call(&server, "POST", "/__admin/reset", "").await;
    let status = tokio::time::timeout(PATIENCE, sent).await;
    assert_eq!(status.unwrap().unwrap().unwrap(), 200, "released by reset");
    assert_eq!(
        json_call(&server, "GET", "/__admin/holds", "").await,
        Value::Array(vec![])
    );
    let id = held["id"].as_u64().unwrap();
    let gone = request(&server, "DELETE", &format!("/__admin/holds/{id}"), &[], b"").await;
    assert_eq!(gone.status, 404, "{}", gone.text());
    let again = json_call(&server, "POST", "/__admin/holds/get_chats", "").await;
    let path = format!("/__admin/holds/{}", again["id"]);
    assert_eq!(
        json_call(&server, "DELETE", &path, "").await["released"],
        true
    );
    let nowhere = request(&server, "POST", "/__admin/holds/nowhere", &[], b"").await;
    assert_eq!(nowhere.status, 404);
}

#[tokio::test]
async fn open_streams_end_or_are_cut_on_order() {
    let server = admin().await;
    for (order, end) in [("end", End::Clean), ("cut", End::Cut)] {
        let mut sse = Sse::open(&server, &[]).await;
        server.wait_for_subscribers(1).await.unwrap();
        let r = json_call(&server, "POST", &format!("/__admin/streams/{order}"), "").await;
        assert_eq!(r["streams"], 1);
        sse.drain().await;
        assert_eq!(sse.ended, Some(end), "{order}");
    }
}

#[tokio::test]
async fn the_script_endpoint_is_the_sessions_fault_script() {
    let server = admin().await;
    server.set_faults(FaultPlan::hostile()).unwrap();
    for _ in 0..20 {
        // Some are dropped: no answer to read.
        raw(server.address(), &request_bytes("GET", "/chats", &[], b"")).await;
    }
    let r = get(&server, "/__admin/script").await;
    assert_eq!(r.status, 200);
    let script = FaultScript::from_json(&r.text()).expect("a script");
    assert_eq!(script, server.fault_script());
    assert!(!script.is_empty());
    let download = get(&server, "/__admin/script?download").await;
    assert_eq!(
        download.header("content-disposition"),
        Some("attachment; filename=\"script-seed-7.json\"")
    );
    let journal = get(&server, "/__admin/journal?download").await;
    assert!(journal
        .header("content-disposition")
        .unwrap()
        .contains("journal-seed-7"));
}

#[tokio::test]
async fn the_catalogue_lists_routes_and_the_faults_that_apply() {
    let server = admin().await;
    let c: Value = get(&server, "/__admin/catalogue").await.json();
    let routes = c["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 4);
    assert_eq!(routes[0]["path"], "/chats");
    assert!(routes[3]["faults"]
        .as_array()
        .unwrap()
        .contains(&"stream_end".into()));
    let timeout = c["faults"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "timeout");
    assert_eq!(timeout.unwrap()["params"][0]["name"], "after_ms");
}

#[tokio::test]
async fn a_bad_plan_names_its_field_in_json_when_asked() {
    let server = admin().await;
    let before = server.faults();
    let bad = br#"{"get_chats":{"latency_before":{"uniform_ms":[500,1]}}}"#;
    let accept = [("Accept", "application/json")];
    let r = request(&server, "PUT", "/__admin/faults", &accept, bad).await;
    assert_eq!(r.status, 400);
    let e: Value = r.json();
    assert_eq!(e["field"], "get_chats.latency_before");
    assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert_eq!(server.faults(), before, "unchanged");
}

#[tokio::test]
async fn shutdown_ends_the_feed() {
    let server = admin().await;
    let (mut sse, _) = live(&server).await;
    tokio::time::timeout(PATIENCE, server.shutdown())
        .await
        .expect("shutdown does not wait for the viewer");
    while sse.next().await.is_some() {}
    assert!(sse.ended.is_some());
}

#[tokio::test]
async fn the_snapshot_says_when_a_script_is_replayed() {
    let recorder = admin().await;
    recorder.set_faults(FaultPlan::hostile()).unwrap();
    for _ in 0..10 {
        raw(
            recorder.address(),
            &request_bytes("GET", "/chats", &[], b""),
        )
        .await;
    }
    let script = recorder.fault_script();
    let server = MockChatServer::builder()
        .seed(7)
        .admin_api(true)
        .script(script.clone())
        .start()
        .await;
    let (_, snapshot) = live(&server).await;
    assert_eq!(snapshot["plan"]["replaying"], true);
    assert_eq!(snapshot["plan"]["faults"], script.len());
    assert!(snapshot["rerun"].as_str().unwrap().contains("--script"));
}

#[tokio::test]
async fn what_the_handle_changes_reaches_the_feed() {
    let server = admin().await;
    let john = chat(&server, "John");
    let (mut sse, _) = live(&server).await;
    server.set_faults(FaultPlan::hostile()).unwrap();
    let ann = server.add_chat("Ann");
    server.force(Route::GetChats, mock_chat_server::Fault::Unavailable);
    let seen = changes_until(&mut sse, |c| c["type"] == "forced").await;
    let kinds: Vec<&str> = seen.iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(kinds, ["plan", "chat", "forced"]);
    assert_eq!(
        seen[0]["plan"],
        serde_json::to_value(FaultPlan::hostile()).unwrap()
    );
    assert_eq!(seen[1]["chat"]["id"], ann.id.to_string());
    server.set_faults(FaultPlan::none()).unwrap();
    send(&server, &john, "twice", "once").await;
    let again = post(
        &server,
        &john.id.to_string(),
        Some("twice"),
        r#"{"text":"once"}"#,
    )
    .await;
    assert_eq!((again.status, again.body.len()), (200, 0), "the empty 200");
    let seen = changes_until(&mut sse, |c| c["empty"] == true).await;
    let posts: Vec<&Value> = seen
        .iter()
        .filter(|c| c["route"] == "post_message")
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        (&posts[0]["empty"], &posts[1]["empty"]),
        (&false.into(), &true.into())
    );
    let one: Value = get(&server, &format!("/__admin/requests/{}", posts[1]["seq"]))
        .await
        .json();
    assert_eq!(one["request"]["seq"], posts[1]["seq"]);
    assert_eq!(one["journal"]["seq"], posts[1]["journal_seq"]);
    assert_eq!(get(&server, "/__admin/requests/999999").await.status, 404);
}
