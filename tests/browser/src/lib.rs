//! Real-browser tests of mock-chat-server, and the harness they use.
//!
//! The tests (in `tests/`) load pages of this crate's own HTML and JS into
//! headless Chromium, driven over WebDriver by `chromedriver`, from an origin
//! other than the chat server's, so every request the page makes is a
//! cross-origin one that the browser checks against the server's CORS
//! headers, as it would for a web app talking to the real server. The
//! dashboard's tests load the server's own page, `/__admin/`, and steer it.
//!
//! # Layout
//! - [`driver`]: finds Chromium and ChromeDriver, runs `chromedriver` on a
//!   free port and kills it (and the browser it started) on drop.
//! - [`browser`]: a WebDriver session: load a page, wait for the result it
//!   publishes, take a screenshot, close.
//! - [`site`]: a tiny static HTTP server, the pages' origin.
//! - [`pages`]: the pages themselves (`pages/*.html`, `pages/*.js`).
//! - [`dashboard`]: the server's own admin dashboard (`/__admin/`) in a
//!   browser, for `tests/dashboard.rs`.
//! - [`http`]: a small client for the tests' own requests.
//!
//! # A test, in outline
//! ```no_run
//! # async fn outline() -> Result<(), mock_chat_server_browser::Error> {
//! use mock_chat_server_browser::{driver::Chrome, pages, site::Site};
//! use std::time::Duration;
//!
//! // Arrange: the browser (or skip when it is not installed) and the pages.
//! let Some(chrome) = Chrome::find_or_skip() else { return Ok(()) };
//! let browser = chrome.launch().await?;
//! let site = Site::start(pages::ALL).await?;
//!
//! // Act: load a page, wait for what it publishes in `window.__result`.
//! browser.open(&site.url("/blocked.html?base=http://127.0.0.1:3900")).await?;
//! let result = browser.wait_for_result(Duration::from_secs(20)).await?;
//!
//! // Assert on the result, keep a screenshot, close the session.
//! assert_eq!(result["ok"], true);
//! browser.screenshot("target/browser-screenshots/blocked.png").await?;
//! browser.close().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod browser;
pub mod dashboard;
pub mod driver;
pub mod http;
pub mod pages;
pub mod site;

/// Any harness error: starting a process, a WebDriver command, I/O.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
