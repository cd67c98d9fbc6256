//! The harness itself: the static site, and that a browser dropped without
//! being closed leaves no process behind.

use std::time::{Duration, Instant};

use mock_chat_server_browser::driver::Chrome;
use mock_chat_server_browser::pages;
use mock_chat_server_browser::site::Site;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw HTTP/1.1 GET of `path` on `site`: the whole answer.
async fn get(site: &Site, path: &str) -> String {
    let port = site
        .origin()
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let mut stream = TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .expect("connects");
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.expect("sends");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("reads");
    answer
}

#[tokio::test]
async fn the_site_serves_its_pages_with_their_types_and_404s_the_rest() {
    let site = Site::start(pages::ALL).await.expect("starts");
    assert!(site.origin().starts_with("http://localhost:"));

    let page = get(&site, "/scenario.html?base=http://127.0.0.1:1").await;
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.contains("content-type: text/html; charset=utf-8\r\n"),
        "{page}"
    );
    assert!(page.ends_with(pages::SCENARIO_HTML.body), "{page}");

    let script = get(&site, "/client.js").await;
    assert!(script.contains("content-type: text/javascript; charset=utf-8\r\n"));

    let missing = get(&site, "/nothing.html").await;
    assert!(
        missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
        "{missing}"
    );
}

/// The processes of group `pgid` that are alive (zombies excluded).
fn live_processes_in_group(pgid: u32) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // "pid (comm) state ppid pgrp …"; comm may hold spaces.
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_dropped_without_closing_leaves_no_process_behind() {
    let Some(chrome) = Chrome::find_or_skip() else {
        return;
    };
    let browser = chrome.launch().await.expect("starts");
    let pgid = browser.driver().process_group().expect("the driver runs");
    let started = live_processes_in_group(pgid);
    assert!(
        started >= 2,
        "chromedriver and chromium run in group {pgid}: {started}"
    );

    drop(browser);

    let deadline = Instant::now() + Duration::from_secs(10);
    while live_processes_in_group(pgid) > 0 {
        assert!(
            Instant::now() < deadline,
            "group {pgid} still runs after the drop"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
