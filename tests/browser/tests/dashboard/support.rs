//! What the dashboard tests share: the server, the page, waits.

use std::time::{Duration, Instant};

use mock_chat_server::MockChatServer;
use mock_chat_server_browser::dashboard::Dashboard;
use mock_chat_server_browser::driver::Chrome;
use mock_chat_server_browser::http;
use serde_json::Value;

/// One browser at a time: every test starts its own, on a small machine.
pub static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Bot answers in 150-250 ms, streams end after 1.5 s.
pub const TIME_SCALE: f64 = 0.05;
/// How long the page may take to show what the server already did.
pub const WAIT: Duration = Duration::from_secs(10);
/// How often a test looks at the server while it waits.
const POLL: Duration = Duration::from_millis(50);

/// A calm server with the admin API, seed 23.
pub async fn server() -> MockChatServer {
    MockChatServer::builder()
        .seed(23)
        .admin_api(true)
        .time_scale(TIME_SCALE)
        .start()
        .await
}

/// The dashboard of `server` in a fresh browser, its feed live.
pub async fn open(chrome: &Chrome, server: &MockChatServer) -> Dashboard {
    let browser = chrome
        .launch()
        .await
        .expect("chromedriver and chromium start");
    Dashboard::open(browser, &server.uri())
        .await
        .expect("the dashboard loads and its feed is live")
}

/// The seq of the newest recorded request to `path`.
pub fn last_seq(server: &MockChatServer, path: &str) -> u64 {
    server
        .received_requests()
        .iter()
        .rev()
        .find(|r| r.path == path)
        .map(|r| r.seq)
        .unwrap_or_else(|| panic!("a request to {path} was recorded"))
}

/// Polls `probe` until it returns `Some`, for at most [`WAIT`].
pub async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {WAIT:?}");
        tokio::time::sleep(POLL).await;
    }
}

/// `GET /__admin/{path}` as JSON.
pub async fn admin_json(server: &MockChatServer, path: &str) -> Value {
    let answer = http::get(&server.url(&format!("/__admin/{path}")))
        .await
        .expect("the admin API answers");
    assert_eq!(answer.status, 200, "GET /__admin/{path}: {}", answer.body);
    answer.json().expect("JSON")
}

/// Waits until the page's toast says `text` (an admin call it made
/// returned).
pub async fn toast(page: &Dashboard, text: &str) {
    let script = format!(
        "return document.getElementById('toast').textContent === {};",
        Value::from(text)
    );
    page.browser()
        .wait_until(&format!("the toast {text:?}"), &script, WAIT)
        .await
        .expect("the admin call returns");
}
