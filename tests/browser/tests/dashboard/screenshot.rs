//! A busy session, as the README shows it, light and dark: saved to
//! `target/browser-screenshots/`, and with `UPDATE_SCREENSHOTS=1` also to
//! `tests/browser/screenshots/` (the README's copies, committed), so a
//! plain test run leaves the source tree as it was.

use std::path::{Path, PathBuf};

use mock_chat_server::{Fault, MockChatServer, Route};
use mock_chat_server_browser::dashboard::{Dashboard, DARK};
use mock_chat_server_browser::driver::Chrome;
use mock_chat_server_browser::http;

use crate::support::{open, server, TURN, WAIT};

/// Traffic for the screenshot: POSTs with keys (one reused, one missing)
/// and duplicates while calm, then the reference preset clicked on the page
/// and GETs under its chaos with forced faults, and a stream.
async fn busy_session(server: &MockChatServer, page: &Dashboard) {
    let chats = server.chats();
    for (i, chat) in chats.iter().take(3).enumerate() {
        let url = server.url(&format!("/chats/{}/messages", chat.id));
        if i == 1 {
            server.force_duplicates(3);
        }
        let body = format!(r#"{{"text":"Hello from the app, message {i}"}}"#);
        let _ = http::post_json(&url, Some(&format!("key-{i}")), &body).await;
        let _ = http::get(&url).await;
    }
    let url = server.url(&format!("/chats/{}/messages", chats[0].id));
    let _ = http::post_json(&url, Some("key-0"), r#"{"text":"Hello again"}"#).await;
    let _ = http::post_json(&url, None, r#"{"text":"no key"}"#).await;
    page.browser()
        .click("button[data-preset='reference']")
        .await
        .expect("the preset button");
    page.browser()
        .wait_until(
            "the reference plan is in force",
            "return document.getElementById('fact-plan').textContent.startsWith('reference');",
            WAIT,
        )
        .await
        .expect("the plan changes");
    let events = server.url("/events?stream=messages");
    tokio::spawn(async move { http::get(&events).await });
    server.force(Route::GetChats, Fault::Unavailable);
    server.force(Route::GetChats, Fault::timeout());
    for _ in 0..30 {
        // Faults are what the table shows: any answer, or none, will do.
        let _ = http::get(&server.url("/chats")).await;
    }
}

/// Waits until `page` shows the session's newest request and its
/// diagnostics, opens the first diagnostic's request, saves a screenshot
/// as `{name}` in each of [`screenshot_dirs`].
async fn shoot(page: &Dashboard, server: &MockChatServer, name: &str) {
    let newest = server.received_requests().last().expect("requests").seq;
    page.row(newest, WAIT)
        .await
        .expect("the newest request is shown");
    page.browser()
        .wait_until(
            "the diagnostics are listed",
            "return document.querySelectorAll('#diagnostics li').length >= 2;",
            WAIT,
        )
        .await
        .expect("the reused key's diagnostic");
    page.browser()
        .click("#diagnostics li button")
        .await
        .expect("opens the request");
    page.details(WAIT).await.expect("the details load");
    for dir in screenshot_dirs() {
        let shot = dir.join(name);
        page.browser()
            .screenshot(&shot)
            .await
            .expect("a screenshot");
        assert!(std::fs::metadata(&shot).expect("saved").len() > 10_000);
    }
}

/// Where screenshots go: `target/browser-screenshots`, and the README's
/// folder when `UPDATE_SCREENSHOTS` is set.
fn screenshot_dirs() -> Vec<PathBuf> {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let mut dirs = vec![tmp.parent().unwrap_or(tmp).join("browser-screenshots")];
    if std::env::var_os("UPDATE_SCREENSHOTS").is_some() {
        dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots"));
    }
    dirs
}

/// The page's background colour.
async fn background(page: &Dashboard) -> String {
    let colour = page
        .browser()
        .eval("return getComputedStyle(document.body).backgroundColor;")
        .await
        .expect("the page runs scripts");
    colour.as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_session_as_the_readme_shows_it_light_and_dark() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let light = open(&chrome, &server).await;

    busy_session(&server, &light).await;
    shoot(&light, &server, "dashboard.png").await;
    let dark = chrome
        .launch_with_flags(DARK)
        .await
        .expect("chromedriver and chromium start");
    let dark = Dashboard::open(dark, &server.uri())
        .await
        .expect("the dashboard loads");
    shoot(&dark, &server, "dashboard-dark.png").await;

    assert_eq!(background(&light).await, "rgb(246, 247, 249)");
    assert_eq!(
        background(&dark).await,
        "rgb(15, 18, 22)",
        "prefers-color-scheme: dark"
    );
    light.close().await;
    dark.close().await;
}
