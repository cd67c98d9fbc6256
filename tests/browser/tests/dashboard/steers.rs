//! What the page steers, each through an admin API call: a forced fault,
//! duplicates, a preset, a plan edited as JSON, the script's download,
//! holds, the open streams, reset; and the token exchanged for a cookie.

use std::path::{Path, PathBuf};

use mock_chat_server::{Fault, FaultPlan, Route};
use mock_chat_server_browser::dashboard::Dashboard;
use mock_chat_server_browser::driver::Chrome;
use mock_chat_server_browser::http;
use serde_json::Value;

use crate::support::{admin_json, eventually, last_seq, open, server, toast, TURN, WAIT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_503_on_the_next_get_chats_makes_the_next_get_a_503_and_its_row_says_so() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;

    page.browser()
        .click("button[aria-label='503 on the next GET /chats']")
        .await
        .expect("the button is there");
    toast(&page, "503 on the next GET /chats").await;
    let forced = http::get(&server.url("/chats")).await.expect("answers");
    let seq = last_seq(&server, "/chats");
    let after = http::get(&server.url("/chats")).await.expect("answers");

    assert_eq!(forced.status, 503, "{}", forced.body);
    assert_eq!(after.status, 200, "forced once");
    let row = page.row(seq, WAIT).await.expect("the row appears");
    assert_eq!(row["status"], "503");
    assert_eq!(row["fault"], "unavailable");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_to_hostile_shows_in_get_admin_faults_and_in_the_header() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let hostile = serde_json::to_value(FaultPlan::hostile()).expect("a plan is JSON");
    assert_ne!(admin_json(&server, "faults").await, hostile);

    page.browser()
        .click("button[data-preset='hostile']")
        .await
        .expect("the preset button is there");

    eventually("GET /__admin/faults is the hostile plan", || async {
        (admin_json(&server, "faults").await == hostile).then_some(())
    })
    .await;
    assert_eq!(server.faults(), FaultPlan::hostile());
    page.browser()
        .wait_until(
            "the header names the hostile plan and its button is pressed",
            "return document.getElementById('fact-plan').textContent.startsWith('hostile')
               && document.querySelector('[data-preset=hostile]').getAttribute('aria-pressed') === 'true';",
            WAIT,
        )
        .await
        .expect("the feed's plan change is shown");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_plan_edited_as_json_shows_its_field_and_changes_nothing() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let before = admin_json(&server, "faults").await;

    page.browser()
        .click("#plan-editor summary")
        .await
        .expect("opens the editor");
    page.browser()
        .eval(
            "document.getElementById('plan-json').value =
               JSON.stringify({get_chats: {unavailable: 1.5}}, null, 2);",
        )
        .await
        .expect("edits the plan");
    page.browser()
        .click("#plan-apply")
        .await
        .expect("applies it");
    let error = page
        .browser()
        .wait_until(
            "the plan's error",
            "const li = document.querySelector('#plan-errors li');
             return li && li.textContent;",
            WAIT,
        )
        .await
        .expect("the error is shown");

    let error = error.as_str().unwrap_or_default();
    assert!(error.starts_with("get_chats.unavailable: "), "{error}");
    assert!(error.contains("1.5"), "{error}");
    assert_eq!(
        admin_json(&server, "faults").await,
        before,
        "nothing changed"
    );
    page.close().await;
}

/// The first complete file in `dir` (Chromium writes `*.crdownload`
/// first, then renames it).
fn downloaded(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| Some(e.ok()?.path()))
        .find(|p| p.extension().is_some_and(|x| x == "json"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_downloaded_script_equals_get_admin_script() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    server.force(Route::GetChats, Fault::Unavailable);
    for _ in 0..3 {
        http::get(&server.url("/chats")).await.expect("answers");
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("dashboard-downloads-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a download folder");
    let browser = chrome
        .launch_with_downloads(&dir)
        .await
        .expect("chromedriver and chromium start");
    let page = Dashboard::open(browser, &server.uri())
        .await
        .expect("the dashboard loads");

    page.browser()
        .click("#dl-script")
        .await
        .expect("the link is there");
    let file = eventually("the script is downloaded", || async { downloaded(&dir) }).await;
    let saved: Value = eventually("the download is complete JSON", || async {
        serde_json::from_slice(&std::fs::read(&file).ok()?).ok()
    })
    .await;

    assert_eq!(saved, admin_json(&server, "script").await);
    let name = file.file_name().unwrap_or_default().to_string_lossy();
    assert_eq!(name, "script-seed-23.json", "the server's file name");
    assert!(saved.to_string().contains("unavailable"), "{saved}");
    page.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The hold toggle of `POST /chats/{chat_id}/messages`, and the same
/// button once it holds (then labelled "Release").
const HOLD: &str = "#holds button[data-route=post_message]";
const HELD: &str = "#holds button[data-route=post_message][aria-pressed=true]";

/// Clicks the POST route's hold and waits until the page holds it.
async fn hold_posts(page: &Dashboard) {
    page.browser()
        .click(HOLD)
        .await
        .expect("the hold button is there");
    page.browser()
        .wait_until(
            "the hold is on",
            &format!("return document.querySelector('{HELD}') !== null;"),
            WAIT,
        )
        .await
        .expect("the page holds the route");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_keeps_a_post_pending_until_released() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let chat = server.chats()[0].id.to_string();
    let url = server.url(&format!("/chats/{chat}/messages"));

    hold_posts(&page).await;
    let post =
        tokio::spawn(
            async move { http::post_json(&url, Some("held"), r#"{"text":"wait"}"#).await },
        );
    page.browser()
        .wait_until(
            "one request waits",
            "const w = document.querySelector('.hold[data-route=post_message] .waiting');
             return w && w.textContent === '1 waiting';",
            WAIT,
        )
        .await
        .expect("the page shows the waiting POST");

    assert!(!post.is_finished(), "the POST is pending while held");
    page.browser()
        .click(HELD)
        .await
        .expect("the release button");
    let answer = tokio::time::timeout(WAIT, post).await.expect("released");
    assert_eq!(answer.expect("the task").expect("answers").status, 200);
    assert!(server
        .messages(&server.chats()[0].id)
        .iter()
        .any(|m| m.text == "wait"));
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_made_from_the_page_ends_when_the_page_is_left() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;

    hold_posts(&page).await;
    let holds = admin_json(&server, "holds").await;
    page.browser()
        .open("about:blank")
        .await
        .expect("leaves the page");

    assert_eq!(holds.as_array().map(Vec::len), Some(1), "{holds}");
    assert_eq!(holds[0]["route"], "post_message");
    eventually("leaving the page releases its hold", || async {
        admin_json(&server, "holds")
            .await
            .as_array()?
            .is_empty()
            .then_some(())
    })
    .await;
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_in_the_address_is_exchanged_for_a_cookie_the_page_never_sees() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = mock_chat_server::MockChatServer::builder()
        .seed(23)
        .admin_api(true)
        .admin_token("s3cret-token")
        .start()
        .await;
    let browser = chrome
        .launch()
        .await
        .expect("chromedriver and chromium start");

    let url = server.url("/__admin/?token=s3cret-token");
    let page = Dashboard::open_url(browser, &url)
        .await
        .expect("the page loads with the cookie and its feed is live");
    let seen = page
        .browser()
        .eval("return {href: location.href, cookie: document.cookie};")
        .await
        .expect("the page runs scripts");
    page.browser()
        .click("button[aria-label='503 on the next GET /chats']")
        .await
        .expect("the button is there");
    toast(&page, "503 on the next GET /chats").await;
    let without = http::get(&server.url("/__admin/faults")).await;

    assert_eq!(
        seen["href"],
        server.url("/__admin/"),
        "the token left the address"
    );
    assert!(
        !seen["cookie"].as_str().unwrap_or("").contains("s3cret"),
        "HttpOnly"
    );
    let forced = http::get(&server.url("/chats")).await.expect("answers");
    assert_eq!(
        forced.status, 503,
        "the page's call was authorised by the cookie"
    );
    assert_eq!(
        without.expect("answers").status,
        401,
        "the token is still required"
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_for_the_next_message_show_as_copies_sent() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let chat = server.chats()[1].id.to_string();
    let url = server.url(&format!("/chats/{chat}/messages"));

    page.browser()
        .eval("document.getElementById('dup-copies').value = '3';")
        .await
        .expect("sets the copies");
    page.browser()
        .click("#dup-apply")
        .await
        .expect("the button");
    toast(&page, "Next message delivered 3 times").await;
    let posted = http::post_json(&url, Some("thrice"), r#"{"text":"three copies"}"#).await;

    assert_eq!(posted.expect("answers").status, 200);
    page.browser()
        .wait_until(
            "the message with its copies",
            "return [...document.querySelectorAll('#chats .msg')].some((m) =>
               m.querySelector('.text').textContent === 'three copies'
               && m.querySelector('.copies').textContent === '3× sent');",
            WAIT,
        )
        .await
        .expect("the page shows 3 copies sent");
    page.close().await;
}

/// Opens a stream from the test, clicks `button` (`#streams-cut` or
/// `#streams-end`), and returns whether the stream's body read failed (a
/// cut) and the page's counter `counter` once it reads 1.
async fn stop_a_stream(chrome: &Chrome, button: &str, counter: &str) -> bool {
    let server = mock_chat_server::MockChatServer::builder()
        .seed(23)
        .admin_api(true)
        .stream_lifetime(None)
        .start()
        .await;
    let page = open(chrome, &server).await;
    let events = server.url("/events?stream=messages");
    let stream = tokio::spawn(async move { http::get(&events).await });
    server
        .wait_for_subscribers(1)
        .await
        .expect("the stream opens");
    page.browser()
        .wait_until(
            "one open stream",
            "return document.getElementById('streams-count').textContent === '1';",
            WAIT,
        )
        .await
        .expect("the page counts the stream");

    page.browser().click(button).await.expect("the button");
    let ended = tokio::time::timeout(WAIT, stream)
        .await
        .expect("the stream stops");
    let counted = format!(
        "return document.getElementById('{counter}').textContent === '1'
           && document.getElementById('streams-count').textContent === '0';"
    );
    page.browser()
        .wait_until("the page counts it", &counted, WAIT)
        .await
        .expect("the page shows how the stream stopped");
    page.close().await;
    ended.expect("the task").is_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutting_the_open_streams_cuts_the_tests_stream_and_counts_it() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;

    let failed = stop_a_stream(&chrome, "#streams-cut", "streams-cuts").await;

    assert!(failed, "cut: the body read fails");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ending_the_open_streams_ends_the_tests_stream_cleanly_and_counts_it() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;

    let failed = stop_a_stream(&chrome, "#streams-end", "streams-ends").await;

    assert!(!failed, "ended cleanly: the body read completes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_clears_the_tables_and_shows_the_fixtures_again() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let fixtures = server.chats().len();
    let added = http::post_json(
        &server.url("/__admin/chats"),
        None,
        r#"{"name":"Added before the reset"}"#,
    )
    .await;
    assert_eq!(added.expect("answers").status, 200);
    http::get(&server.url("/chats")).await.expect("answers");
    page.row(last_seq(&server, "/chats"), WAIT)
        .await
        .expect("the row is shown");
    let shown = format!(
        "return document.querySelectorAll('#chats .chat').length === {}",
        fixtures + 1
    );
    page.browser()
        .wait_until("the added chat is shown", &shown, WAIT)
        .await
        .expect("the chat change");

    page.browser().click("#reset").await.expect("the button");
    let cleared = format!(
        "return document.querySelectorAll('.req-row').length === 0
           && document.getElementById('feed-state').dataset.state === 'live'
           && document.querySelectorAll('#chats .chat').length === {fixtures};"
    );
    page.browser()
        .wait_until("the tables are cleared", &cleared, WAIT)
        .await
        .expect("the page shows the reset server");

    assert!(server
        .received_requests()
        .iter()
        .all(|r| r.path != "/chats"));
    assert_eq!(server.chats().len(), fixtures);
    page.close().await;
}
