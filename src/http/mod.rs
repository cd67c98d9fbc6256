//! The HTTP face of a server: [`Http`] reads a request, routes it by the
//! [route table](router), acts out chaos on the JSON routes ([`faults`]),
//! and answers exactly as the reference's Go stack does.
//!
//! - [`router`]: the route table; 404, 405 and `Allow`;
//! - [`request`]: reading a request and its bounded body;
//! - [`response`]: the reference's answers, built in one place;
//! - [`faults`]: a chaos decision, acted out;
//! - [`api`]: the JSON routes' handlers;
//! - [`sse`]: the event stream;
//! - [`cors`]: the reference's CORS (go-chi/cors), on every public answer.

mod api;
mod cors;
mod faults;
mod request;
pub(crate) mod response;
mod router;
mod sse;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::body::Incoming;
use warp::http::header::{HeaderValue, CONNECTION};
use warp::http::{HeaderMap, Method};
use warp::reply::Response;

use crate::app::App;
use crate::chaos::Fault;
use crate::events::Replay;
use crate::feed::Change;
use crate::records::{clip, clipped, RecordedHeaders, RecordedRequest};
use request::{Body, Request};
use router::Target;

pub(crate) use crate::admin::AdminConfig;
pub(crate) use request::has_token;

/// How much of an `OPTIONS *` body Go reads before it closes the
/// connection.
const OPTIONS_BODY_LIMIT: usize = 4 << 10;

/// The `tracing` target of the one line logged per request.
pub(crate) const REQUEST_LOG_TARGET: &str = "mock_chat_server::request";

/// What the HTTP layer needs to know beyond the [`App`].
#[derive(Debug, Clone)]
pub(crate) struct HttpConfig {
    pub(crate) replay: Replay,
    pub(crate) keep_alive: Option<Duration>,
    pub(crate) sse_retry: Option<Duration>,
    /// Unscaled; `None`: streams never end by time.
    pub(crate) stream_lifetime: Option<Duration>,
    pub(crate) admin: Option<AdminConfig>,
    pub(crate) max_body: usize,
}

/// The HTTP layer of one server: answers each request the
/// [transport](crate::server) has read. Requests are routed by the [route
/// table](router) rather than by warp filters: the reference's 404 and 405
/// come from the table, and a request costs no filter chain nor a copy of
/// its headers.
#[derive(Debug)]
pub(crate) struct Http {
    app: Arc<App>,
    config: HttpConfig,
    /// `/__admin/…`, served through warp's filters, when enabled.
    admin: Option<crate::admin::Admin>,
}

impl Http {
    pub(crate) fn new(app: Arc<App>, config: HttpConfig) -> Self {
        let admin = (config.admin.clone()).map(|c| crate::admin::Admin::new(&app, c));
        Http { app, config, admin }
    }

    /// Answers `req`, and logs one line for it.
    pub(crate) async fn answer(&self, req: hyper::Request<Incoming>) -> Response {
        let started = Instant::now();
        let (parts, body) = req.into_parts();
        if parts.method == Method::OPTIONS && parts.uri == "*" {
            // Go's server answers this itself, ahead of the router and its
            // logger, reading (and discarding) up to 4 KiB of body.
            let read = request::read_body(&HeaderMap::new(), body, OPTIONS_BODY_LIMIT).await;
            return response::options_asterisk(matches!(read, Body::TooLarge));
        }
        // A request target without a path (`CONNECT host:443`) routes as "/".
        let raw_path = match parts.uri.path() {
            "" => "/",
            path => path,
        };
        let Some(path) = request::routing_path(raw_path) else {
            // Go refuses an invalid escape before any handler.
            return response::bad_request_closing();
        };
        let mut req = Request {
            path,
            query: parts.uri.query().map(str::to_owned),
            authority: parts.uri.authority().map(|a| a.as_str().to_owned()),
            method: parts.method,
            version: parts.version,
            headers: parts.headers,
            body: Body::Read(Bytes::new()),
        };
        let config = &self.config;
        // Routed once; only the routes that read a body wait for it. A
        // client waiting for `100 Continue` gets it when the POST handler
        // reads, after the first chaos delay and the key checks, as in Go.
        let target = router::classify(&req.method, &req.path, config.admin.is_some());
        let mut pending = None;
        let mut read = false;
        match target {
            Target::Json(crate::chaos::JsonRoute::PostMessage, _) if req.awaits_continue() => {
                req.body = Body::Unread;
                pending = Some(request::Pending::new(body, config.max_body));
            }
            Target::Json(crate::chaos::JsonRoute::PostMessage, _) | Target::Admin => {
                req.body = request::read_body(&req.headers, body, config.max_body).await;
                read = true;
            }
            _ => {}
        }
        // A route that never reads leaves an awaited body unread (the POST
        // handler reports its own).
        let never_read = pending.is_none() && !read && req.awaits_continue();
        let mut served = match (&target, &self.admin) {
            // The test talking to its double: not recorded, never faulted.
            (Target::Admin, Some(admin)) => admin.answer(admin_request(&req)).await.into(),
            _ => serve(&self.app, config, &req, target, pending).await,
        };
        log_request(&req, &served, started);
        if never_read || served.body_left_unread {
            // Go does not reuse a connection whose announced body it never
            // asked for (or refused for its size): the next bytes may be
            // that body.
            served
                .response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
        served.response
    }
}

/// A response and what is known of it, for records and logs.
struct Served {
    response: Response,
    fault: Option<Fault>,
    status: Option<u16>,
    journal_seq: Option<u64>,
    /// The request's body was left (partly) unread.
    body_left_unread: bool,
}

impl From<Response> for Served {
    fn from(response: Response) -> Self {
        let status = Some(response.status().as_u16());
        Served {
            response,
            fault: None,
            status,
            journal_seq: None,
            body_left_unread: false,
        }
    }
}

async fn serve(
    app: &Arc<App>,
    config: &HttpConfig,
    req: &Request,
    target: Target<'_>,
    pending: Option<request::Pending>,
) -> Served {
    let preflight = cors::preflight(&req.method, &req.headers);
    // A preflight is recorded with no route: no route answers it.
    let route = match preflight {
        Some(_) => None,
        None => router::route_of(&req.method, &req.path),
    };
    let seq = record(app, req, route);
    let served = match preflight {
        // Answered by the CORS layer before any route: never held,
        // delayed or faulted, and not counted in any route's sequence.
        Some(preflight) => {
            if let Some(refused) = preflight.refused {
                app.diagnostics()
                    .preflight_refused(&refused.to_string(), app.ticker().now(), seq);
            }
            Served::from(preflight.response)
        }
        None => {
            let mut served = route_answer(app, config, req, target, pending, seq).await;
            cors::actual(&req.method, &req.headers, &mut served.response);
            served
        }
    };
    app.records().update(seq, |r| {
        r.status = served.status;
        r.fault = served.fault;
        r.journal_seq = served.journal_seq;
        app.feed()
            .emit(|| Change::Request(r, app.ticker().reading().1));
    });
    served
}

/// What the route table sends `req` to answers (the router's own 404 and
/// 405, the stream, a JSON route under its chaos).
async fn route_answer(
    app: &Arc<App>,
    config: &HttpConfig,
    req: &Request,
    target: Target<'_>,
    pending: Option<request::Pending>,
    seq: u64,
) -> Served {
    match target {
        Target::NotFound | Target::Admin => response::not_found().into(),
        Target::MethodNotAllowed(mut allowed) => {
            if allowed.len() == 2 && app.chaos().allow_order_flips() {
                allowed.swap(0, 1);
            }
            response::method_not_allowed(&allowed, req.method == Method::HEAD).into()
        }
        Target::Events => {
            app.activity().pass(crate::chaos::Route::Events).await;
            let opened = sse::open(app, config, req, seq);
            Served {
                journal_seq: opened.journal_seq,
                ..opened.response.into()
            }
        }
        Target::Json(route, id) => {
            let out = faults::run(app, req, route, id, seq, pending).await;
            Served {
                response: out.response,
                fault: out.fault,
                status: out.status,
                journal_seq: Some(out.journal_seq),
                body_left_unread: out.body_left_unread,
            }
        }
    }
}

/// An admin request, as the admin module takes it.
fn admin_request(req: &Request) -> crate::admin::Incoming {
    crate::admin::Incoming {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        authority: req.authority.clone(),
        headers: req.headers.clone(),
        body: match &req.body {
            Body::Read(b) => Some(b.clone()),
            Body::Unread => Some(Bytes::new()),
            Body::TooLarge => None,
        },
    }
}

fn record(app: &App, req: &Request, route: Option<crate::chaos::Route>) -> u64 {
    let body = req.body.recorded();
    let (received_at, since_start) = app.ticker().reading();
    app.records().push(RecordedRequest {
        seq: 0,
        route,
        method: clip(req.method.as_str()),
        path: clip(&req.path),
        query: req.query.as_deref().map(clip),
        headers: recorded_headers(&req.headers),
        body,
        status: None,
        fault: None,
        received_at,
        since_start,
        journal_seq: None,
    })
}

/// The headers a record keeps, found in one pass over the request's (a
/// lookup by name hashes the name; requests carry few headers). The first
/// of a repeated header is kept, as a lookup by name would.
fn recorded_headers(headers: &HeaderMap) -> RecordedHeaders {
    let mut out = RecordedHeaders::default();
    for (name, value) in headers {
        let slot = match name.as_str() {
            "content-type" => &mut out.content_type,
            "idempotency-key" => &mut out.idempotency_key,
            "last-event-id" => &mut out.last_event_id,
            "accept" => &mut out.accept,
            "origin" => &mut out.origin,
            "user-agent" => &mut out.user_agent,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(clip(&crate::wire::go_lossy(value.as_bytes())));
        }
    }
    out
}

/// One request line, `"GET /chats" 200 in 12µs fault=unavailable`,
/// written into `out` (no other allocation).
fn write_line(out: &mut String, req: &Request, served: &Served, elapsed: Duration) {
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
    match served.status {
        Some(status) => {
            let _ = write!(out, "{status}");
        }
        None => out.push_str("dropped"),
    }
    let _ = write!(out, " in {}", Elapsed(elapsed));
    if let Some(fault) = served.fault {
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

fn log_request(req: &Request, served: &Served, started: Instant) {
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
        write_line(line, req, served, started.elapsed());
        tracing::info!(target: REQUEST_LOG_TARGET, "{}", line.as_str());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let served = |status, fault| Served {
            response: Response::new(Bytes::new().into()),
            fault,
            status,
            journal_seq: None,
            body_left_unread: false,
        };
        let mut line = String::new();
        let took = Duration::from_micros(12);
        write_line(
            &mut line,
            &req("/chats", Some("x=1")),
            &served(Some(200), None),
            took,
        );
        assert_eq!(line, "\"GET /chats?x=1\" 200 in 12µs");
        line.clear();
        let long = format!("/{}", "a".repeat(2000));
        let dropped = served(None, Some(Fault::DropBeforeCommit));
        write_line(&mut line, &req(&long, None), &dropped, took);
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
