//! What the page shows: the session, requests as they happen (and only the
//! visible rows), diagnostics with their request, message texts as text.

use std::time::Duration;

use fantoccini::key::Key;
use mock_chat_server::{Author, Fault, Route};
use mock_chat_server_browser::driver::Chrome;
use mock_chat_server_browser::http;
use serde_json::Value;

use crate::support::{admin_json, last_seq, open, server, TURN, WAIT};

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
    let title = page.details(WAIT).await.expect("the details open")["title"].clone();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outcome_filter_keeps_the_503_and_its_row_opens_headers_body_and_journal() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let chat = server.chats()[0].id.to_string();
    let url = server.url(&format!("/chats/{chat}/messages"));
    server.force(Route::PostMessage, Fault::Unavailable);

    let refused = http::post_json(&url, Some("filtered"), r#"{"text":"refused once"}"#).await;
    let seq = last_seq(&server, &format!("/chats/{chat}/messages"));
    for _ in 0..3 {
        http::get(&server.url("/chats")).await.expect("answers");
    }
    page.row(last_seq(&server, "/chats"), WAIT)
        .await
        .expect("the rows are shown");
    page.filter("filter-outcome", "503").await.expect("filters");
    let rows = page
        .browser()
        .wait_until(
            "only the 503 is listed",
            "const rows = [...document.querySelectorAll('.req-row')].map((r) => r.id);
             return rows.length === 1 && rows;",
            WAIT,
        )
        .await
        .expect("one row");
    page.browser()
        .click(&format!("#req-{seq}"))
        .await
        .expect("opens the row");
    let details = page.details(WAIT).await.expect("the details load");

    assert_eq!(refused.expect("answers").status, 503);
    assert_eq!(rows[0], format!("req-{seq}"));
    let headers = details["headers"].as_str().unwrap_or_default();
    assert!(
        headers.contains("idempotency-key") && headers.contains("filtered"),
        "{headers}"
    );
    assert_eq!(details["body"], r#"{"text":"refused once"}"#);
    let journal = details["journal"].as_str().unwrap_or_default();
    assert!(
        journal.contains("\"unavailable\"") && journal.contains("\"forced\": true"),
        "{journal}"
    );
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diagnostic_whose_request_left_the_table_still_opens_it() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let chat = server.chats()[0].id.to_string();
    let url = server.url(&format!("/chats/{chat}/messages"));
    let keyless = http::post_json(&url, None, r#"{"text":"no key"}"#).await;
    let seq = last_seq(&server, &format!("/chats/{chat}/messages"));
    // More than the feed's snapshot holds (500), so the POST is not in it.
    for _ in 0..520 {
        http::get(&server.url("/chats")).await.expect("answers");
    }

    let page = open(&chrome, &server).await;
    page.browser()
        .click("#diagnostics li[data-kind=missing_idempotency_key] button")
        .await
        .expect("the diagnostic's link");
    let details = page.details(WAIT).await.expect("the details load");

    assert_eq!(keyless.expect("answers").status, 400);
    let title = details["title"].as_str().unwrap_or_default();
    assert!(
        title.starts_with(&format!("#{seq} · POST /chats/")),
        "{title}"
    );
    assert!(title.ends_with("(older than the table)"), "{title}");
    assert_eq!(details["body"], r#"{"text":"no key"}"#);
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rows_are_walked_with_the_keyboard_and_escape_closes_the_details() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    for _ in 0..3 {
        http::get(&server.url("/chats")).await.expect("answers");
    }
    let newest = last_seq(&server, "/chats");
    page.row(newest, WAIT).await.expect("the rows are shown");
    let rows = page
        .browser()
        .client()
        .find(fantoccini::Locator::Id("rows"))
        .await
        .expect("the table");

    rows.send_keys(&Key::Down.to_string()).await.expect("types");
    let first = page.details(WAIT).await.expect("the newest opens");
    rows.send_keys(&Key::Down.to_string()).await.expect("types");
    let second = page
        .browser()
        .wait_until(
            "the next row is selected",
            &format!(
                "return document.querySelector('.req-row.selected')?.id === 'req-{}';",
                newest - 1
            ),
            WAIT,
        )
        .await;
    rows.send_keys(&Key::Escape.to_string())
        .await
        .expect("types");
    let closed = page
        .browser()
        .wait_until(
            "the details close",
            "return document.getElementById('details').hidden;",
            WAIT,
        )
        .await;

    let title = first["title"].as_str().unwrap_or_default();
    assert!(title.starts_with(&format!("#{newest} ")), "{title}");
    second.expect("ArrowDown selects the next (older) row");
    closed.expect("Escape closes the details");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_answered_by_the_empty_200_of_its_key_is_shown_and_counted_as_such() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let server = server().await;
    let page = open(&chrome, &server).await;
    let chat = server.chats()[0].id.to_string();
    let url = server.url(&format!("/chats/{chat}/messages"));
    server.force(Route::PostMessage, Fault::DropAfterCommit);

    let dropped = http::post_json(&url, Some("stored-unanswered"), r#"{"text":"once"}"#).await;
    let first = last_seq(&server, &format!("/chats/{chat}/messages"));
    let retry = http::post_json(&url, Some("stored-unanswered"), r#"{"text":"once"}"#).await;
    let second = last_seq(&server, &format!("/chats/{chat}/messages"));

    assert!(dropped.is_err(), "the first attempt gets no answer");
    let retry = retry.expect("the retry is answered");
    assert_eq!((retry.status, retry.body.as_str()), (200, ""));
    let row = page.row(first, WAIT).await.expect("the dropped row");
    assert_eq!(row["status"], "dropped");
    let row = page.row(second, WAIT).await.expect("the retry's row");
    assert_eq!(row["status"], "200 empty");
    let counted = page
        .browser()
        .eval(
            "return [document.querySelector('#legend li[data-outcome=empty] .count').textContent,
                     document.querySelector('#legend li[data-outcome=dropped] .count').textContent];",
        )
        .await
        .expect("the legend");
    assert_eq!(counted, serde_json::json!(["1", "1"]), "the chart's counts");
    page.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_script_is_named_in_the_header() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let _turn = TURN.lock().await;
    let recorded = server().await;
    recorded.force(Route::GetChats, Fault::Unavailable);
    http::get(&recorded.url("/chats")).await.expect("answers");
    let replay = mock_chat_server::MockChatServer::builder()
        .seed(23)
        .admin_api(true)
        .script(recorded.fault_script())
        .start()
        .await;

    let page = open(&chrome, &replay).await;
    let header = page
        .browser()
        .eval(
            "return [document.getElementById('fact-plan').textContent,
                     document.getElementById('rerun-cmd').value];",
        )
        .await
        .expect("the page runs scripts");

    let plan = header[0].as_str().unwrap_or_default();
    assert!(plan.starts_with("replaying a script: 1 fault"), "{plan}");
    assert!(
        header[1].as_str().unwrap_or_default().contains("--script"),
        "{header}"
    );
    page.close().await;
}
