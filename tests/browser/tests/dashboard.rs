//! The admin dashboard (`/__admin/`) in real headless Chromium: it loads,
//! shows what the server does as it happens, and its controls steer the
//! server through the admin API. Each test skips (passes, saying why) when
//! Chromium or ChromeDriver is not installed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mock_chat_server::{Author, Fault, FaultPlan, MockChatServer, Route};
use mock_chat_server_browser::dashboard::Dashboard;
use mock_chat_server_browser::driver::Chrome;
use mock_chat_server_browser::http;
use serde_json::Value;

/// One browser at a time: every test starts its own, on a small machine.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Bot answers in 150-250 ms, streams end after 1.5 s.
const TIME_SCALE: f64 = 0.05;
/// How long the page may take to show what the server already did.
const WAIT: Duration = Duration::from_secs(10);
/// How often a test looks at the server while it waits.
const POLL: Duration = Duration::from_millis(50);

/// A calm server with the admin API, seed 23.
async fn server() -> MockChatServer {
    MockChatServer::builder()
        .seed(23)
        .admin_api(true)
        .time_scale(TIME_SCALE)
        .start()
        .await
}

/// The dashboard of `server` in a fresh browser, its feed live.
async fn open(chrome: &Chrome, server: &MockChatServer) -> Dashboard {
    let browser = chrome
        .launch()
        .await
        .expect("chromedriver and chromium start");
    Dashboard::open(browser, &server.uri())
        .await
        .expect("the dashboard loads and its feed is live")
}

/// The seq of the newest recorded request to `path`.
fn last_seq(server: &MockChatServer, path: &str) -> u64 {
    server
        .received_requests()
        .iter()
        .rev()
        .find(|r| r.path == path)
        .map(|r| r.seq)
        .unwrap_or_else(|| panic!("a request to {path} was recorded"))
}

/// Polls `probe` until it returns `Some`, for at most [`WAIT`].
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
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
async fn admin_json(server: &MockChatServer, path: &str) -> Value {
    let answer = http::get(&server.url(&format!("/__admin/{path}")))
        .await
        .expect("the admin API answers");
    assert_eq!(answer.status, 200, "GET /__admin/{path}: {}", answer.body);
    answer.json().expect("JSON")
}

/// Waits until the page's toast says `text` (an admin call it made
/// returned).
async fn toast(page: &Dashboard, text: &str) {
    let script = format!(
        "return document.getElementById('toast').textContent === {};",
        Value::from(text)
    );
    page.browser()
        .wait_until(&format!("the toast {text:?}"), &script, WAIT)
        .await
        .expect("the admin call returns");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_loads_with_the_seed_the_chats_and_a_force_button_per_route_and_fault() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;

    let shown = page
        .browser()
        .eval(
            "return {
               title: document.title,
               seed: document.getElementById('fact-seed').textContent,
               rerun: document.getElementById('rerun-cmd').value,
               chats: document.querySelectorAll('#chats .chat').length,
               buttons: document.querySelectorAll('#force-table button[data-fault]').length,
             };",
        )
        .await
        .expect("the page runs scripts");
    let catalogue = admin_json(&server, "catalogue").await;
    let pairs: usize = catalogue["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .map(|r| r["faults"].as_array().map_or(0, Vec::len))
        .sum();

    assert!(shown["title"]
        .as_str()
        .unwrap_or("")
        .contains("mock-chat-server"));
    assert_eq!(shown["seed"], "23");
    assert!(
        shown["rerun"].as_str().unwrap_or("").contains("23"),
        "{shown}"
    );
    assert_eq!(shown["chats"], server.chats().len());
    assert!(pairs > 0);
    assert_eq!(shown["buttons"], pairs, "one button per route and fault");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_made_by_the_test_appears_within_a_second_and_only_visible_rows_are_drawn() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;

    let answer = http::get(&server.url("/chats")).await.expect("answers");
    let seq = last_seq(&server, "/chats");
    let row = page.row(seq, Duration::from_secs(1)).await;

    assert_eq!(answer.status, 200);
    let row = row.expect("the request's row appears within 1 s");
    assert_eq!(row["status"], "200");
    assert_eq!(row["route"], "get chats");
    assert_eq!(row["path"], "GET /chats");

    for _ in 0..300 {
        http::get(&server.url("/chats")).await.expect("answers");
    }
    page.row(last_seq(&server, "/chats"), WAIT)
        .await
        .expect("the newest row is drawn");
    let drawn = page.rows_in_dom().await.expect("counts rows");
    assert!((1..80).contains(&drawn), "{drawn} rows in the DOM for 301");
    page.close().await;
}

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
async fn a_reused_key_shows_its_diagnostic_whose_link_opens_the_request() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let chat = server.chats()[0].id.to_string();
    let url = server.url(&format!("/chats/{chat}/messages"));

    let first = http::post_json(&url, Some("reused"), r#"{"text":"first"}"#).await;
    let second = http::post_json(&url, Some("reused"), r#"{"text":"second"}"#).await;

    assert_eq!(first.expect("answers").status, 200);
    assert_eq!(second.expect("answers").status, 200);
    let seq = server.diagnostics()[0].request_seq;
    let text = page
        .browser()
        .wait_until(
            "the diagnostic is listed",
            "const li = document.querySelector('#diagnostics li[data-kind=key_reused_for_different_message]');
             return li && li.textContent;",
            WAIT,
        )
        .await
        .expect("the diagnostic appears");
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains(&format!("request #{seq}")), "{text}");
    assert!(text.contains("Idempotency-Key"), "its rule: {text}");

    page.browser()
        .click("#diagnostics li[data-kind=key_reused_for_different_message] button")
        .await
        .expect("the link is a button");
    let title = page
        .browser()
        .wait_until(
            "the details of the request",
            "const d = document.getElementById('details');
             return !d.hidden && document.getElementById('details-title').textContent;",
            WAIT,
        )
        .await
        .expect("the details open");
    assert!(
        title
            .as_str()
            .unwrap_or("")
            .starts_with(&format!("#{seq} ")),
        "{title}"
    );
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
    assert!(saved.to_string().contains("unavailable"), "{saved}");
    page.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_keeps_a_post_pending_until_released_and_ends_with_the_page() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let chat = server.chats()[0].id.to_string();
    let url = server.url(&format!("/chats/{chat}/messages"));
    let hold = "button[data-route=post_message][aria-pressed=true]";

    page.browser()
        .click("#holds button[data-route=post_message]")
        .await
        .expect("the hold button is there");
    page.browser()
        .wait_until(
            "the hold is on",
            &format!("return document.querySelector('{hold}') !== null;"),
            WAIT,
        )
        .await
        .expect("the page holds the route");
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
        .click(hold)
        .await
        .expect("the release button");
    let answer = tokio::time::timeout(WAIT, post).await.expect("released");
    assert_eq!(answer.expect("the task").expect("answers").status, 200);

    page.browser()
        .click("#holds button[data-route=post_message]")
        .await
        .expect("hold again");
    eventually("the hold is listed", || async {
        (admin_json(&server, "holds").await.as_array()?.len() == 1).then_some(())
    })
    .await;
    page.browser()
        .open("about:blank")
        .await
        .expect("leaves the page");
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
async fn a_message_text_with_markup_is_shown_as_text() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let chat = server.chats()[0].clone();
    let text =
        r#"<script>window.__owned = 1</script><img src=x onerror="window.__owned = 2"><b>bold</b>"#;

    page.browser()
        .click("input[name=author][value=user]")
        .await
        .expect("the author radio");
    let input = page
        .browser()
        .client()
        .find(fantoccini::Locator::Id("inject-text"))
        .await
        .expect("the text field");
    input.send_keys(text).await.expect("types");
    page.browser()
        .click("#inject button[type=submit]")
        .await
        .expect("injects");

    let script = format!(
        "return [...document.querySelectorAll('#chats .msg .text')].some((n) => n.textContent === {});",
        Value::from(text)
    );
    page.browser()
        .wait_until("the message is listed as text", &script, WAIT)
        .await
        .expect("the message appears");
    let injected = page
        .browser()
        .eval(
            "return {owned: window.__owned ?? null,
                     elements: document.querySelectorAll('#chats script, #chats img, #chats b').length};",
        )
        .await
        .expect("the page runs scripts");
    assert_eq!(injected["owned"], Value::Null);
    assert_eq!(injected["elements"], 0);
    let stored = server.messages(&chat.id);
    let last = stored.last().expect("stored");
    assert_eq!((last.text.as_str(), last.author), (text, Author::User));
    page.close().await;
}

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_session_as_the_readme_shows_it() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;

    busy_session(&server, &page).await;
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
    page.browser()
        .wait_until(
            "the details are loaded",
            "return document.getElementById('details-journal').textContent !== 'loading…';",
            WAIT,
        )
        .await
        .expect("the details load");

    let shot = Path::new(env!("CARGO_MANIFEST_DIR")).join("screenshots/dashboard.png");
    page.browser()
        .screenshot(&shot)
        .await
        .expect("a screenshot");
    assert!(std::fs::metadata(&shot).expect("saved").len() > 10_000);
    page.close().await;
}
