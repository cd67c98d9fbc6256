//! The bounded record of the requests a server received, for tests to
//! inspect (`received_requests`, `requests(Route)`, `GET /__admin/requests`).

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::chaos::{Fault, Route};
use crate::sync::{lock, Ring};

/// How much of a body a record keeps.
pub(crate) const RECORDED_BODY_BYTES: usize = 4 * 1024;
/// How much of a method, path, query or header a record keeps.
const RECORDED_TEXT_BYTES: usize = 1024;

/// `s`, cut to at most 1 KiB (on a char boundary, marked with `…`): hyper
/// accepts ~400 KB of path and headers per request, and the records hold
/// thousands.
pub(crate) fn clip(s: &str) -> String {
    match clipped(s) {
        (whole, false) => whole.to_string(),
        (head, true) => format!("{head}…"),
    }
}

/// What [`clip`] keeps of `s`, without copying it, and whether it cut.
pub(crate) fn clipped(s: &str) -> (&str, bool) {
    if s.len() <= RECORDED_TEXT_BYTES {
        return (s, false);
    }
    let mut end = RECORDED_TEXT_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (&s[..end], true)
}

/// The request headers a client test usually asserts on (invalid UTF-8
/// shown as Go shows it, one U+FFFD per byte;
/// clipped to 1 KiB).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedHeaders {
    /// `Content-Type`
    pub content_type: Option<String>,
    /// `Idempotency-Key`
    pub idempotency_key: Option<String>,
    /// `Last-Event-ID`
    pub last_event_id: Option<String>,
    /// `Accept`
    pub accept: Option<String>,
    /// `Origin`
    pub origin: Option<String>,
    /// `User-Agent`
    pub user_agent: Option<String>,
}

/// A request the server received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedRequest {
    /// Sequence number, from 1 since start or reset.
    pub seq: u64,
    /// The route, or `None` for a path the API does not have (a 404 or 405).
    pub route: Option<Route>,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// Raw query string, if any.
    pub query: Option<String>,
    /// The headers tests care about.
    pub headers: RecordedHeaders,
    /// The body as text (lossy UTF-8, at most 4 KiB kept). Empty for a
    /// POST whose client waited for `100 Continue` (`Expect`, as curl sends
    /// for large bodies) and whose body was never asked for: refused by a
    /// fault, or a known key (the reference never reads those either).
    pub body: String,
    /// The status answered, or `None` while in flight or when the
    /// connection was dropped (by a fault, or by the client).
    pub status: Option<u16>,
    /// The fault applied, if any.
    pub fault: Option<Fault>,
    /// When it arrived (the server's clock, as `sent_at`).
    pub received_at: DateTime<FixedOffset>,
    /// When it arrived, as time since the server started (tokio's clock).
    pub since_start: Duration,
    /// The [journal](crate::JournalEntry) entry of its chaos decision, for
    /// JSON routes and streams.
    pub journal_seq: Option<u64>,
}

/// The records of one server.
#[derive(Debug)]
pub(crate) struct Records {
    ring: Mutex<(Ring<RecordedRequest>, u64)>,
    changes: watch::Sender<u64>,
}

impl Records {
    pub(crate) fn new(capacity: usize) -> Self {
        Records {
            ring: Mutex::new((Ring::new(capacity), 0)),
            changes: watch::channel(0).0,
        }
    }

    /// Records a request; returns its sequence number.
    pub(crate) fn push(&self, mut req: RecordedRequest) -> u64 {
        let (seq, evicted) = {
            let mut guard = lock(&self.ring);
            guard.1 += 1;
            req.seq = guard.1;
            (guard.1, guard.0.push(req))
        };
        // Freed outside the lock.
        drop(evicted);
        self.changed();
        seq
    }

    /// Updates record `seq` in place, if still held.
    pub(crate) fn update(&self, seq: u64, f: impl FnOnce(&mut RecordedRequest)) {
        {
            let mut guard = lock(&self.ring);
            let found = guard.0.iter_mut().rev().find(|r| r.seq == seq);
            if let Some(r) = found {
                f(r);
            }
        }
        self.changed();
    }

    /// Wakes the waits, if any wait (a notification per request costs a
    /// lock and a wake-up list walk: not worth it for nobody).
    fn changed(&self) {
        if self.changes.receiver_count() > 0 {
            self.changes.send_modify(|v| *v += 1);
        }
    }

    pub(crate) fn all(&self) -> Vec<RecordedRequest> {
        lock(&self.ring).0.iter().cloned().collect()
    }

    /// A receiver that changes whenever a record is added or updated.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn clear(&self) {
        let mut guard = lock(&self.ring);
        guard.0.clear();
        guard.1 = 0;
    }
}
