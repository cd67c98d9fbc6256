//! The admin dashboard (`/__admin/`) in a browser: open it, wait until its
//! live feed is connected and its fault catalogue loaded, read its rows.
//!
//! The page is loaded from the server itself (same origin, as a developer
//! opens it), in a window large enough for its three columns.

use std::time::Duration;

use serde_json::Value;

use crate::browser::Browser;
use crate::Error;

/// How long the page may take to load, connect and draw.
pub const LOAD: Duration = Duration::from_secs(15);
/// The window a screenshot shows.
pub const WINDOW: (u32, u32) = (1440, 1000);

/// Flags that make Chromium prefer a dark colour scheme (the page follows
/// `prefers-color-scheme`).
pub const DARK: &[&str] = &[
    "--force-dark-mode",
    "--blink-settings=preferredColorScheme=0",
];

/// A dashboard open in a browser.
pub struct Dashboard {
    browser: Browser,
}

impl Dashboard {
    /// Opens `base/__admin/` in `browser` and waits until the feed is live,
    /// its snapshot shown, and the force buttons (from the catalogue) drawn.
    pub async fn open(browser: Browser, base: &str) -> Result<Dashboard, Error> {
        Dashboard::open_url(browser, &format!("{base}/__admin/")).await
    }

    /// [`Dashboard::open`] at `url` (such as the page with `?token=…`).
    pub async fn open_url(browser: Browser, url: &str) -> Result<Dashboard, Error> {
        browser.client().set_window_size(WINDOW.0, WINDOW.1).await?;
        browser.open(url).await?;
        // The seed comes with the feed's snapshot: once shown, so is the rest.
        browser
            .wait_until(
                "the feed is live and its snapshot shown",
                "return document.getElementById('feed-state').dataset.state === 'live'
                   && document.getElementById('fact-seed').textContent !== '…';",
                LOAD,
            )
            .await?;
        browser
            .wait_until(
                "the fault buttons are drawn",
                "return document.querySelector('#force-table button[data-fault]') !== null;",
                LOAD,
            )
            .await?;
        Ok(Dashboard { browser })
    }

    /// The browser showing the page.
    pub fn browser(&self) -> &Browser {
        &self.browser
    }

    /// Waits until the row of request `seq` is drawn; returns its cells'
    /// texts by class (`seq`, `route`, `path`, `status`, `fault`, `key`).
    pub async fn row(&self, seq: u64, limit: Duration) -> Result<Value, Error> {
        let script = format!(
            "const row = document.getElementById('req-{seq}');
             if (!row) return null;
             const cells = {{}};
             for (const cell of row.children) cells[cell.className.split(' ')[0]] = cell.textContent;
             return cells;"
        );
        self.browser
            .wait_until(&format!("the row of request #{seq}"), &script, limit)
            .await
    }

    /// Chooses `value` in the filter `select_id` (`filter-route` or
    /// `filter-outcome`), as a user does.
    pub async fn filter(&self, select_id: &str, value: &str) -> Result<(), Error> {
        let script = format!(
            "const f = document.getElementById({});
             f.value = {};
             f.dispatchEvent(new Event('change'));",
            Value::from(select_id),
            Value::from(value)
        );
        self.browser.eval(&script).await?;
        Ok(())
    }

    /// Waits until the details pane has loaded; returns its `headers`,
    /// `body` and `journal` texts.
    pub async fn details(&self, limit: Duration) -> Result<Value, Error> {
        let script = "const j = document.getElementById('details-journal').textContent;
             return !document.getElementById('details').hidden && j !== 'loading…' && {
               title: document.getElementById('details-title').textContent,
               headers: document.getElementById('details-headers').textContent,
               body: document.getElementById('details-body').textContent,
               journal: j,
             };";
        self.browser
            .wait_until("the details are loaded", script, limit)
            .await
    }

    /// How many request rows are in the DOM (the table draws only the
    /// visible ones).
    pub async fn rows_in_dom(&self) -> Result<u64, Error> {
        let n = self
            .browser
            .eval("return document.querySelectorAll('.req-row').length;")
            .await?;
        Ok(n.as_u64().unwrap_or_default())
    }

    /// Ends the browser session.
    pub async fn close(self) {
        self.browser.close().await;
    }
}
