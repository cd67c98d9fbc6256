//! One WebDriver session in headless Chromium: load a page, wait for the
//! result it publishes, take a screenshot.
//!
//! A page publishes its outcome by setting `window.__result` to a JSON
//! object (the crate's pages set `{"ok": true, …}` or
//! `{"ok": false, "error": …}`); [`Browser::wait_for_result`] polls it.

use std::path::Path;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use crate::driver::Driver;
use crate::Error;

/// Flags headless Chromium needs as root in a container: no sandbox (it
/// cannot set one up there), `/tmp` instead of a small `/dev/shm`, no GPU.
pub const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1100,800",
];

/// How often [`Browser::wait_for_result`] looks at the page.
const POLL: Duration = Duration::from_millis(50);

/// A browser session and the driver that runs it. Dropping it kills both;
/// [`Browser::close`] ends the session politely first.
pub struct Browser {
    client: Client,
    // Dropped after `client`: kills chromedriver and the browser.
    driver: Driver,
}

impl Browser {
    /// Opens a session on `driver` with the browser at `chromium`.
    pub async fn connect(driver: Driver, chromium: &Path) -> Result<Browser, Error> {
        Browser::connect_with(driver, chromium, serde_json::Map::new()).await
    }

    /// [`Browser::connect`] with more `goog:chromeOptions` (such as
    /// `prefs`, for where downloads go).
    pub async fn connect_with(
        driver: Driver,
        chromium: &Path,
        extra: serde_json::Map<String, Value>,
    ) -> Result<Browser, Error> {
        let mut options = json!({
            "binary": chromium.display().to_string(),
            "args": CHROMIUM_FLAGS,
        });
        if let Some(map) = options.as_object_mut() {
            map.extend(extra);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url())
            .await?;
        Ok(Browser { client, driver })
    }

    /// The driver running this session.
    pub fn driver(&self) -> &Driver {
        &self.driver
    }

    /// The WebDriver client, for anything the harness does not wrap.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Loads `url` (returns once the page's `load` event fired).
    pub async fn open(&self, url: &str) -> Result<(), Error> {
        self.client.goto(url).await?;
        Ok(())
    }

    /// Runs `script` (a function body: `return …;`) in the page.
    pub async fn eval(&self, script: &str) -> Result<Value, Error> {
        Ok(self.client.execute(script, Vec::new()).await?)
    }

    /// Runs `script` (a function body) until it returns something other
    /// than `null`, `undefined` or `false`, and returns that; `Err` after
    /// `limit`, saying `what` was awaited and what the page shows.
    pub async fn wait_until(
        &self,
        what: &str,
        script: &str,
        limit: Duration,
    ) -> Result<Value, Error> {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.eval(script).await?;
            if !value.is_null() && value != Value::Bool(false) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                let page = self.eval("return document.body.innerText;").await?;
                let page = page.as_str().unwrap_or_default().to_string();
                return Err(format!("{what}: not after {limit:?}; the page shows:\n{page}").into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks the element `css` selects (WebDriver scrolls it into view).
    /// A page that redraws the element between the find and the click gets
    /// a few more tries.
    pub async fn click(&self, css: &str) -> Result<(), Error> {
        let mut tries = 5;
        loop {
            let element = self
                .client
                .find(fantoccini::Locator::Css(css))
                .await
                .map_err(|e| format!("no element {css}: {e}"))?;
            match element.click().await {
                Err(e) if tries > 0 && is_stale(&e) => tries -= 1,
                other => return Ok(other?),
            }
        }
    }

    /// Waits until the page sets `window.__result`, then returns it; `Err`
    /// after `limit`, with the page's title and visible log.
    pub async fn wait_for_result(&self, limit: Duration) -> Result<Value, Error> {
        let deadline = Instant::now() + limit;
        loop {
            let result = self.eval("return window.__result ?? null;").await?;
            if !result.is_null() {
                return Ok(result);
            }
            if Instant::now() >= deadline {
                let page = self
                    .eval("return document.title + '\\n' + document.body.innerText;")
                    .await?;
                let page = page.as_str().unwrap_or_default().to_string();
                return Err(format!("no result after {limit:?}; the page shows:\n{page}").into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Saves a PNG of the viewport to `path`, creating its folder.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let png = self.client.screenshot().await?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Ends the session (the browser quits), then stops the driver.
    pub async fn close(self) {
        // An error here leaves nothing behind: the drop kills both.
        let _ = self.client.clone().close().await;
    }
}

/// Whether `error` says the element was replaced since it was found.
fn is_stale(error: &fantoccini::error::CmdError) -> bool {
    matches!(
        error,
        fantoccini::error::CmdError::Standard(e)
            if e.error == fantoccini::error::ErrorStatus::StaleElementReference
    )
}
