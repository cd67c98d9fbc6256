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

/// Header bytes as records and the journal show them: lossy UTF-8 as Go
/// shows it, [clipped](clip).
pub(crate) fn shown(bytes: &[u8]) -> String {
    clip(&crate::wire::go_lossy(bytes))
}

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
    /// The [journal](crate::chaos::JournalEntry) entry of its chaos decision, for
    /// JSON routes and streams.
    pub journal_seq: Option<u64>,
}

impl RecordedRequest {
    /// The bytes this record holds: the struct and its strings.
    fn cost(&self) -> usize {
        let h = &self.headers;
        let optional = [
            &self.query,
            &h.content_type,
            &h.idempotency_key,
            &h.last_event_id,
            &h.accept,
            &h.origin,
            &h.user_agent,
        ];
        std::mem::size_of::<RecordedRequest>()
            + self.method.len()
            + self.path.len()
            + self.body.len()
            + optional
                .iter()
                .map(|s| s.as_ref().map_or(0, String::len))
                .sum::<usize>()
    }
}

/// The held records, their next number and what they cost.
#[derive(Debug)]
struct Held {
    ring: Ring<RecordedRequest>,
    seq: u64,
    bytes: usize,
    byte_budget: usize,
}

impl Held {
    /// Forgets the oldest records past the byte budget (the newest stays);
    /// returns them, to be freed outside the lock.
    fn over_budget(&mut self) -> Vec<RecordedRequest> {
        let mut evicted = Vec::new();
        while self.bytes > self.byte_budget && self.ring.len() > 1 {
            let Some(old) = self.ring.pop_front() else {
                break;
            };
            self.bytes -= old.cost();
            evicted.push(old);
        }
        evicted
    }
}

/// The records of one server.
#[derive(Debug)]
pub(crate) struct Records {
    held: Mutex<Held>,
    changes: watch::Sender<u64>,
}

impl Records {
    /// Records holding at most `capacity` requests and `byte_budget` bytes
    /// of them ([`RecordedRequest`] and its strings), the oldest forgotten
    /// first.
    pub(crate) fn new(capacity: usize, byte_budget: usize) -> Self {
        Records {
            held: Mutex::new(Held {
                ring: Ring::new(capacity),
                seq: 0,
                bytes: 0,
                byte_budget,
            }),
            changes: watch::channel(0).0,
        }
    }

    /// Records a request; returns its sequence number.
    pub(crate) fn push(&self, mut req: RecordedRequest) -> u64 {
        let (seq, evicted) = {
            let mut held = lock(&self.held);
            held.seq += 1;
            req.seq = held.seq;
            held.bytes += req.cost();
            // The oldest, past the count (or the new one, at capacity 0).
            let dropped = held.ring.push(req);
            if let Some(d) = &dropped {
                held.bytes -= d.cost();
            }
            let mut evicted = held.over_budget();
            evicted.extend(dropped);
            (held.seq, evicted)
        };
        // Freed outside the lock.
        drop(evicted);
        self.changed();
        seq
    }

    /// Updates record `seq` in place, if still held.
    pub(crate) fn update(&self, seq: u64, f: impl FnOnce(&mut RecordedRequest)) {
        let evicted = {
            let mut held = lock(&self.held);
            let found = held.ring.iter_mut().rev().find(|r| r.seq == seq);
            let grown = found.map(|r| {
                let before = r.cost();
                f(r);
                (before, r.cost())
            });
            if let Some((before, after)) = grown {
                held.bytes = held.bytes - before + after;
            }
            held.over_budget()
        };
        drop(evicted);
        self.changed();
    }

    /// What the held records cost, in bytes.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        lock(&self.held).bytes
    }

    /// Wakes the waits, if any wait (a notification per request costs a
    /// lock and a wake-up list walk: not worth it for nobody).
    fn changed(&self) {
        if self.changes.receiver_count() > 0 {
            self.changes.send_modify(|v| *v += 1);
        }
    }

    pub(crate) fn all(&self) -> Vec<RecordedRequest> {
        lock(&self.held).ring.iter().cloned().collect()
    }

    /// A receiver that changes whenever a record is added or updated.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    pub(crate) fn clear(&self) {
        let mut held = lock(&self.held);
        held.ring.clear();
        held.seq = 0;
        held.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(body: usize, header: usize) -> RecordedRequest {
        RecordedRequest {
            seq: 0,
            route: None,
            method: "POST".into(),
            path: "/chats/x/messages".into(),
            query: None,
            headers: RecordedHeaders {
                idempotency_key: Some("k".repeat(header)),
                ..RecordedHeaders::default()
            },
            body: "b".repeat(body),
            status: None,
            fault: None,
            received_at: DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap(),
            since_start: Duration::ZERO,
            journal_seq: None,
        }
    }

    #[test]
    fn the_records_stay_under_their_byte_budget() {
        let budget = 64 * 1024;
        let records = Records::new(1_000, budget);
        for _ in 0..100 {
            records.push(record(RECORDED_BODY_BYTES, RECORDED_TEXT_BYTES));
            assert!(records.bytes() <= budget, "{}", records.bytes());
        }
        let held = records.all();
        assert!(held.len() < 100 && held.len() > 5, "{}", held.len());
        // The newest are kept, and the count matches what they cost.
        assert_eq!(held.last().map(|r| r.seq), Some(100));
        assert_eq!(
            records.bytes(),
            held.iter().map(|r| r.cost()).sum::<usize>()
        );
        // A record that grows in place is counted, and the oldest make room.
        let last = held.last().map_or(0, |r| r.seq);
        records.update(last, |r| r.body = "b".repeat(budget));
        assert_eq!(records.all().len(), 1, "only the newest is kept");
        assert_eq!(records.bytes(), records.all()[0].cost());
        records.clear();
        assert_eq!(records.bytes(), 0);
        // At capacity 0 nothing is held, nothing counted.
        let none = Records::new(0, budget);
        none.push(record(10, 10));
        assert_eq!((none.all().len(), none.bytes()), (0, 0));
    }
}
