//! The test pages: plain HTML and JS under `pages/`, built into the crate.
//!
//! Every page reads its parameters from its query string (`base`: the chat
//! server's URL; `credentials=include` for the credentialed variant;
//! timings in milliseconds), shows what it does in a visible list, and ends
//! by setting `window.__result` (see [`crate::browser`]).
//!
//! - `/scenario.html`: a resilient chat client. Lists the chats, POSTs a
//!   message to the first one with an `Idempotency-Key` (retrying 503, 504,
//!   network errors and timeouts with the same key and a backoff; an empty
//!   200 means an earlier attempt was stored), follows
//!   `EventSource(base + "/events?stream=messages")` (deduplicating by
//!   message id, reopening when the browser gives up) until its own message
//!   and the bot's answer in that chat arrived.
//! - `/blocked.html`: a `fetch`-based stream reader. Opens the stream once
//!   plainly (allowed), then with a `Last-Event-ID` request header, which
//!   the real server's CORS options do not allow: the browser must block
//!   it (`fetch` rejects with a `TypeError`).
//! - `/resume.html`: an `EventSource` left to the browser. When the server
//!   ends the stream, the browser reconnects with `Last-Event-ID` by itself
//!   (no preflight: the real server's CORS does not block it); the page
//!   reports the last id before the end and the first id after it.

use crate::site::Page;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

/// The shared part of the pages: parameters, log, result, resilient fetch.
pub const CLIENT_JS: Page = Page {
    path: "/client.js",
    content_type: JS,
    body: include_str!("../pages/client.js"),
};

/// The scenario page.
pub const SCENARIO_HTML: Page = Page {
    path: "/scenario.html",
    content_type: HTML,
    body: include_str!("../pages/scenario.html"),
};

/// The scenario page's script.
pub const SCENARIO_JS: Page = Page {
    path: "/scenario.js",
    content_type: JS,
    body: include_str!("../pages/scenario.js"),
};

/// The blocked-header page.
pub const BLOCKED_HTML: Page = Page {
    path: "/blocked.html",
    content_type: HTML,
    body: include_str!("../pages/blocked.html"),
};

/// The blocked-header page's script.
pub const BLOCKED_JS: Page = Page {
    path: "/blocked.js",
    content_type: JS,
    body: include_str!("../pages/blocked.js"),
};

/// The resumed-stream page.
pub const RESUME_HTML: Page = Page {
    path: "/resume.html",
    content_type: HTML,
    body: include_str!("../pages/resume.html"),
};

/// The resumed-stream page's script.
pub const RESUME_JS: Page = Page {
    path: "/resume.js",
    content_type: JS,
    body: include_str!("../pages/resume.js"),
};

/// Every page, for [`crate::site::Site::start`].
pub const ALL: &[Page] = &[
    CLIENT_JS,
    SCENARIO_HTML,
    SCENARIO_JS,
    BLOCKED_HTML,
    BLOCKED_JS,
    RESUME_HTML,
    RESUME_JS,
];
