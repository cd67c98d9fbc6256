//! CORS in a real browser: the pages of `pages/` run in headless Chromium
//! from another origin against the mock (the reference's chaos, time
//! compressed 50 times) or, with `MOCK_CHAT_REFERENCE_URL` set, against the
//! real server. Each test skips (passes, saying why) when Chromium or
//! ChromeDriver is not installed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mock_chat_server::diagnostics::DiagnosticKind;
use mock_chat_server::records::RecordedRequest;
use mock_chat_server::{Author, Fault, FaultPlan, MockChatServer, Route};
use mock_chat_server_browser::driver::Chrome;
use mock_chat_server_browser::pages;
use mock_chat_server_browser::site::Site;
use serde_json::Value;

/// Names the real server to run against instead of the mock.
const REFERENCE_ENV: &str = "MOCK_CHAT_REFERENCE_URL";
/// The mock's time compression: bot answers in 60-100 ms, 504 after 100 ms.
const TIME_SCALE: f64 = 0.02;

/// Taken by a scenario that runs against the real server.
static REFERENCE_TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The chat server a test runs against.
enum Server {
    Mock(MockChatServer),
    Reference(String),
}

impl Server {
    /// The real server when [`REFERENCE_ENV`] is set, else a mock with the
    /// reference's chaos and default options otherwise.
    async fn start() -> Server {
        match std::env::var(REFERENCE_ENV) {
            Ok(url) if !url.is_empty() => Server::Reference(url.trim_end_matches('/').into()),
            _ => Server::Mock(
                MockChatServer::builder()
                    .seed(19)
                    .faults(FaultPlan::reference())
                    .time_scale(TIME_SCALE)
                    .start()
                    .await,
            ),
        }
    }

    fn base(&self) -> String {
        match self {
            Server::Mock(mock) => mock.uri(),
            Server::Reference(url) => url.clone(),
        }
    }

    /// The pages' timings, as query parameters, and how long a page may
    /// take: the real server's bot answers in 3-5 s, its 504 after 5 s and
    /// its delays reach 1.5 s; the mock's, 50 times sooner.
    fn timings(&self) -> (&'static str, Duration) {
        match self {
            Server::Mock(_) => (
                "attempt_timeout_ms=2000&backoff_ms=20&answer_after_ms=55",
                Duration::from_secs(20),
            ),
            Server::Reference(_) => (
                "attempt_timeout_ms=10000&backoff_ms=250&answer_after_ms=2950",
                Duration::from_secs(40),
            ),
        }
    }

    /// A fresh idempotency key: the real server remembers keys forever.
    fn key(&self, test: &str) -> String {
        match self {
            Server::Mock(_) => format!("browser-{test}"),
            Server::Reference(_) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                format!("browser-{test}-{}", now.as_nanos())
            }
        }
    }
}

/// Loads `path?query` from a second origin, waits for its result, keeps a
/// screenshot as `target/browser-screenshots/{test}.png`. Returns the
/// result and the pages' origin.
async fn load(
    chrome: &Chrome,
    test: &str,
    path_and_query: &str,
    limit: Duration,
) -> (Value, String) {
    let site = Site::start(pages::ALL)
        .await
        .expect("the pages' server starts");
    let browser = chrome
        .launch()
        .await
        .expect("chromedriver and chromium start");
    browser
        .open(&site.url(path_and_query))
        .await
        .expect("the page loads");
    let result = browser.wait_for_result(limit).await;
    let shot = screenshot_dir().join(format!("{test}.png"));
    if let Err(e) = browser.screenshot(&shot).await {
        eprintln!("no screenshot at {}: {e}", shot.display());
    }
    browser.close().await;
    (result.expect("the page publishes a result"), site.origin())
}

/// `target/browser-screenshots` (next to cargo's `target/tmp`).
fn screenshot_dir() -> std::path::PathBuf {
    let tmp = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("browser-screenshots")
}

/// The scenario page, with or without credentials, and what the mock saw;
/// on the mock, `first_post` is forced on the page's first POST.
async fn scenario(test: &str, credentials: bool, first_post: Option<Fault>) {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let server = Server::start().await;
    // Two scenarios at once on one real server may write to the same chat,
    // and a bot answer names no message: one at a time there.
    let _turn = match server {
        Server::Reference(_) => Some(REFERENCE_TURN.lock().await),
        Server::Mock(_) => None,
    };
    let forced = match (&server, first_post) {
        (Server::Mock(mock), Some(fault)) => {
            mock.force(Route::PostMessage, fault);
            true
        }
        _ => false,
    };
    let key = server.key(test);
    let (timings, limit) = server.timings();
    let creds = if credentials {
        "&credentials=include"
    } else {
        ""
    };
    let query = format!(
        "/scenario.html?base={}&key={key}&{timings}{creds}",
        server.base()
    );
    let (result, origin) = load(&chrome, test, &query, limit).await;
    assert_eq!(result["ok"], true, "the scenario page failed: {result:#}");
    assert_eq!(result["key"], key.as_str());
    eprintln!("{test}: {result}");
    if forced {
        // The first attempt was stored unanswered: the page learnt it from
        // its key's empty 200 and found its message on the stream by key.
        assert_eq!(result["post_answer_empty"], true, "{result:#}");
    }
    if let Server::Mock(mock) = &server {
        mock_saw_one_conversation(mock, &result, &key, &origin);
    }
}

/// The mock stored the page's message once, answered it, and saw the
/// requests come from the page's origin with no client misuse.
fn mock_saw_one_conversation(mock: &MockChatServer, result: &Value, key: &str, origin: &str) {
    let chat = mock
        .chats()
        .into_iter()
        .find(|c| result["chat"] == c.id.to_string().as_str())
        .expect("the page wrote to a chat of the mock");
    let messages = mock.messages(&chat.id);
    let mine: Vec<_> = messages
        .iter()
        .filter(|m| m.idempotency_key == key)
        .collect();
    assert_eq!(mine.len(), 1, "stored once: {messages:#?}");
    assert_eq!(result["message"], mine[0].id.to_string().as_str());
    let answer = messages
        .iter()
        .find(|m| result["answer"] == m.id.to_string().as_str());
    assert_eq!(answer.map(|m| m.author), Some(Author::Bot));
    let posts = mock.requests(Route::PostMessage);
    assert!(!posts.is_empty());
    for post in &posts {
        assert_eq!(post.headers.origin.as_deref(), Some(origin));
        assert_eq!(post.headers.idempotency_key.as_deref(), Some(key));
    }
    assert_eq!(
        mock.diagnostics(),
        Vec::new(),
        "a correct client causes none"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_lists_posts_and_follows_the_stream_without_credentials() {
    scenario("scenario", false, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_does_the_same_with_credentials_included() {
    scenario("scenario-credentials", true, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_whose_first_post_was_stored_unanswered_retries_and_finds_its_message_by_key() {
    scenario(
        "scenario-stored-unanswered",
        false,
        Some(Fault::DropAfterCommit),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reader_sending_last_event_id_is_blocked_by_the_browser() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let server = Server::start().await;
    let (timings, limit) = server.timings();
    let query = format!("/blocked.html?base={}&{timings}", server.base());
    let (result, origin) = load(&chrome, "blocked", &query, limit).await;
    assert_eq!(result["ok"], true, "the blocked page failed: {result:#}");
    assert_eq!(result["control_status"], 200, "the plain stream is allowed");
    assert_eq!(
        result["blocked"], true,
        "the header must be refused: {result:#}"
    );
    assert_eq!(result["error_name"], "TypeError");
    if let Server::Mock(mock) = &server {
        mock_saw_only_the_preflight(mock, &origin);
    }
}

/// Every request to `/events` the mock received, preflights included
/// (`received_requests`, not `requests(route)`, which may or may not hold
/// preflights).
fn stream_requests(mock: &MockChatServer) -> Vec<RecordedRequest> {
    let mut all = mock.received_requests();
    all.retain(|r| r.path == "/events");
    all
}

/// The mock answered the header's preflight, said why a browser refuses
/// it, and never got the request that carried the header.
fn mock_saw_only_the_preflight(mock: &MockChatServer, origin: &str) {
    let streams = stream_requests(mock);
    let gets: Vec<_> = streams.iter().filter(|r| r.method == "GET").collect();
    assert_eq!(gets.len(), 1, "only the control was sent: {streams:#?}");
    assert_eq!(gets[0].headers.origin.as_deref(), Some(origin));
    assert_eq!(gets[0].headers.last_event_id, None);
    assert!(
        streams.iter().any(|r| r.method == "OPTIONS"),
        "{streams:#?}"
    );
    let refused: Vec<_> = mock
        .diagnostics()
        .into_iter()
        .filter(|d| d.kind == DiagnosticKind::PreflightRefused)
        .collect();
    assert_eq!(refused.len(), 1, "{refused:#?}");
    assert!(refused[0].message.contains("Last-Event-Id"), "{refused:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_source_the_server_ends_is_resumed_by_the_browser_from_its_last_id() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let server = Server::start().await;
    let (timings, _) = server.timings();
    // The real server ends a stream after 30 s; the browser waits 3 s.
    let limit = match &server {
        Server::Mock(mock) => {
            let chat = mock.chats()[0].id;
            mock.inject_message(&chat, Author::Bot, "an event to resume from")
                .expect("the chat exists");
            Duration::from_secs(20)
        }
        Server::Reference(_) => Duration::from_secs(50),
    };
    let query = format!("/resume.html?base={}&{timings}", server.base());
    let (result, origin) = load(&chrome, "resume", &query, limit).await;
    assert_eq!(result["ok"], true, "the resume page failed: {result:#}");
    // The replay after Last-Event-ID: N starts at N, inclusive.
    assert!(result["last_before"].is_string(), "{result:#}");
    assert_eq!(result["first_after"], result["last_before"], "{result:#}");
    if let Server::Mock(mock) = &server {
        let last = result["last_before"].as_str().unwrap_or_default();
        mock_saw_a_resume_without_preflight(mock, last, &origin);
    }
}

/// The browser reconnected once with the last id it saw, from the page's
/// origin, without a preflight and without client misuse.
fn mock_saw_a_resume_without_preflight(mock: &MockChatServer, last: &str, origin: &str) {
    let streams = stream_requests(mock);
    let methods: Vec<&str> = streams.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "GET"], "{streams:#?}");
    assert_eq!(streams[0].headers.last_event_id, None);
    assert_eq!(streams[1].headers.last_event_id.as_deref(), Some(last));
    assert!(streams
        .iter()
        .all(|r| r.headers.origin.as_deref() == Some(origin)));
    assert_eq!(
        mock.diagnostics(),
        Vec::new(),
        "a correct client causes none"
    );
}
