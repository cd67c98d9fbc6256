//! What a request leaves behind: its record (what [`App::begin`] keeps of
//! it) and the one line logged for it.
//!
//! [`App::begin`]: crate::app::App::begin

use std::time::{Duration, Instant};

use warp::http::HeaderMap;

use super::request::{idempotency_key, Request};
use crate::chaos::{Fault, Route};
use crate::records::{clip, clipped, shown, RecordedHeaders, RecordedRequest};

/// The `tracing` target of the one line logged per request.
pub(crate) const REQUEST_LOG_TARGET: &str = "mock_chat_server::request";

/// The record of `req` on `route`, as it arrives (its times are read by
/// [`App::begin`](crate::app::App::begin)).
pub(crate) fn record_of(req: &Request, route: Option<Route>) -> RecordedRequest {
    RecordedRequest {
        seq: 0,
        route,
        method: clip(req.method.as_str()),
        path: clip(&req.path),
        query: req.query.as_deref().map(clip),
        headers: recorded_headers(&req.headers),
        body: req.body.recorded(),
        status: None,
        fault: None,
        received_at: Default::default(),
        since_start: Duration::ZERO,
        journal_seq: None,
    }
}

/// The headers a record keeps, found in one pass over the request's (a
/// lookup by name hashes the name; requests carry few headers). The first
/// of a repeated header is kept, as a lookup by name would.
fn recorded_headers(headers: &HeaderMap) -> RecordedHeaders {
    let mut out = RecordedHeaders {
        idempotency_key: idempotency_key(headers).map(shown),
        ..RecordedHeaders::default()
    };
    for (name, value) in headers {
        let slot = match name.as_str() {
            "content-type" => &mut out.content_type,
            "last-event-id" => &mut out.last_event_id,
            "accept" => &mut out.accept,
            "origin" => &mut out.origin,
            "user-agent" => &mut out.user_agent,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(shown(value.as_bytes()));
        }
    }
    out
}

/// One request line, `"GET /chats" 200 in 12µs fault=unavailable`,
/// written into `out` (no other allocation).
fn write_line(out: &mut String, req: &Request, end: End, elapsed: Duration) {
    use std::fmt::Write as _;
    let push_clipped = |out: &mut String, text: &str| {
        let (kept, cut) = clipped(text);
        out.push_str(kept);
        if cut {
            out.push('…');
        }
    };
    out.push('"');
    out.push_str(req.method.as_str());
    out.push(' ');
    push_clipped(out, &req.path);
    if let Some(q) = &req.query {
        out.push('?');
        push_clipped(out, q);
    }
    out.push_str("\" ");
    match end.status {
        Some(status) => {
            let _ = write!(out, "{status}");
        }
        None => out.push_str("dropped"),
    }
    let _ = write!(out, " in {}", Elapsed(elapsed));
    if let Some(fault) = end.fault {
        let _ = write!(out, " fault={fault}");
    }
}

/// A duration in whole units, three or four digits at most: `850ns`,
/// `167µs`, `1499ms`, `30s` (integers: float formatting was a fifth of the
/// cost of a request line).
struct Elapsed(Duration);

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = u64::try_from(self.0.as_nanos()).unwrap_or(u64::MAX);
        let (n, unit) = match ns {
            0..10_000 => (ns, "ns"),
            10_000..10_000_000 => (ns / 1_000, "µs"),
            10_000_000..10_000_000_000 => (ns / 1_000_000, "ms"),
            _ => (ns / 1_000_000_000, "s"),
        };
        write!(f, "{n}{unit}")
    }
}

/// How a request ended, for its line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct End {
    /// The status sent, `None` for a dropped connection.
    pub(crate) status: Option<u16>,
    /// The fault applied, if any.
    pub(crate) fault: Option<Fault>,
}

/// Logs the line of `req`, which ended so, `started` ago.
pub(crate) fn request_line(req: &Request, end: End, started: Instant) {
    thread_local! {
        /// Where request lines are written: one buffer per thread, reused.
        static LINE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    if !tracing::enabled!(target: REQUEST_LOG_TARGET, tracing::Level::INFO) {
        return;
    }
    LINE.with(|cell| {
        // A subscriber that logs a request of its own while formatting
        // this one finds the buffer taken: it gets a fresh one.
        let mut fresh = String::new();
        let mut taken = cell.try_borrow_mut();
        let line = match taken.as_deref_mut() {
            Ok(line) => line,
            Err(_) => &mut fresh,
        };
        line.clear();
        write_line(line, req, end, started.elapsed());
        tracing::info!(target: REQUEST_LOG_TARGET, "{}", line.as_str());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use warp::http::Method;

    use crate::http::request::Body;

    #[test]
    fn elapsed_times_read_in_whole_units() {
        for (d, shown) in [
            (Duration::from_nanos(850), "850ns"),
            (Duration::from_nanos(9_999), "9999ns"),
            (Duration::from_nanos(167_950), "167µs"),
            (Duration::from_micros(1_499_999), "1499ms"),
            (Duration::from_secs(30), "30s"),
            (Duration::MAX, "18446744073s"),
        ] {
            assert_eq!(Elapsed(d).to_string(), shown);
        }
    }

    #[test]
    fn request_lines_name_the_request_status_time_and_fault() {
        let req = |path: &str, query: Option<&str>| Request {
            method: Method::GET,
            version: warp::http::Version::HTTP_11,
            path: path.to_string(),
            query: query.map(str::to_string),
            authority: None,
            headers: HeaderMap::new(),
            body: Body::Read(Bytes::new()),
        };
        let served = |status, fault| End { status, fault };
        let mut line = String::new();
        let took = Duration::from_micros(12);
        write_line(
            &mut line,
            &req("/chats", Some("x=1")),
            served(Some(200), None),
            took,
        );
        assert_eq!(line, "\"GET /chats?x=1\" 200 in 12µs");
        line.clear();
        let long = format!("/{}", "a".repeat(2000));
        let dropped = served(None, Some(Fault::DropBeforeCommit));
        write_line(&mut line, &req(&long, None), dropped, took);
        let expected = format!(
            "\"GET /{}…\" dropped in 12µs fault={}",
            "a".repeat(1023),
            Fault::DropBeforeCommit
        );
        assert_eq!(line, expected);
    }

    #[test]
    fn records_keep_the_first_of_each_header_they_know() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("Content-Type", "application/json"),
            ("Idempotency-Key", "k1"),
            ("Idempotency-Key", "k2"),
            ("Last-Event-ID", ""),
            ("X-Other", "ignored"),
            ("User-Agent", "client/1 \u{e9}"),
        ] {
            headers.append(
                warp::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                warp::http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        let got = recorded_headers(&headers);
        assert_eq!(got.content_type.as_deref(), Some("application/json"));
        assert_eq!(got.idempotency_key.as_deref(), Some("k1"));
        assert_eq!(got.last_event_id.as_deref(), Some(""));
        assert_eq!(got.user_agent.as_deref(), Some("client/1 \u{e9}"));
        assert_eq!((got.accept, got.origin), (None, None));
    }
}
