//! The HTTP face of a server: [`Http`] reads a request, routes it by the
//! [route table](router), acts out chaos on the JSON routes ([`faults`]),
//! and answers exactly as the reference's Go stack does.
//!
//! - [`router`]: the route table; 404, 405 and `Allow`;
//! - [`request`]: reading a request and its bounded body;
//! - [`response`]: the reference's answers, built in one place;
//! - [`faults`]: a chaos decision, acted out;
//! - [`log`]: a request's record and its log line;
//! - [`api`]: the JSON routes' handlers;
//! - [`sse`]: the event stream;
//! - [`cors`]: the reference's CORS (go-chi/cors), on every public answer.

mod api;
mod cors;
mod faults;
mod log;
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

use self::log::End;
use crate::app::{App, RequestScope};
use crate::events::Replay;
use request::{Body, Request};
use router::Target;

pub(crate) use crate::admin::AdminConfig;
pub(crate) use request::has_token;

/// How much of an `OPTIONS *` body Go reads before it closes the
/// connection.
const OPTIONS_BODY_LIMIT: usize = 4 << 10;

#[cfg(feature = "cli")]
pub(crate) use self::log::REQUEST_LOG_TARGET;

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
        let target = router::classify(&req.method, &req.path, config.admin.is_some());
        let waits = req.awaits_continue();
        let (read_body, pending) =
            read_body_for(&target, &req.headers, waits, body, config.max_body).await;
        let read = read_body.is_some();
        if let Some(read_body) = read_body {
            req.body = read_body;
        } else if pending.is_some() {
            req.body = Body::Unread;
        }
        // A route that never reads leaves an awaited body unread (the POST
        // handler reports its own).
        let never_read = pending.is_none() && !read && waits;
        let (mut served, end) = match (&target, &self.admin) {
            // The test talking to its double: not recorded, never faulted.
            (Target::Admin, Some(admin)) => admin_served(admin.answer(admin_request(&req)).await),
            _ => serve(&self.app, config, &req, target, pending).await,
        };
        log::request_line(&req, end, started);
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

/// Routed once; only the routes that read a body (and the admin API) wait
/// for it. A client waiting for `100 Continue` gets it when the handler
/// reads, after the first chaos delay and the key checks, as in Go: its
/// body is left pending. The body read, or the one left pending.
async fn read_body_for(
    target: &Target<'_>,
    headers: &HeaderMap,
    awaits_continue: bool,
    body: Incoming,
    limit: usize,
) -> (Option<Body>, Option<request::Pending>) {
    let (reads, can_wait) = match target {
        Target::Route(route, _) => (route.spec().reads_body, true),
        Target::Admin => (true, false),
        _ => (false, false),
    };
    if reads && can_wait && awaits_continue {
        (None, Some(request::Pending::new(body, limit)))
    } else if reads {
        (Some(request::read_body(headers, body, limit).await), None)
    } else {
        (None, None)
    }
}

/// What a request was answered: the one result of every handler.
pub(crate) struct Served {
    pub(crate) response: Response,
    /// The status sent, `None` for a dropped connection.
    pub(crate) status: Option<u16>,
    /// The request's body was left (partly) unread.
    pub(crate) body_left_unread: bool,
}

impl From<Response> for Served {
    fn from(response: Response) -> Self {
        let status = Some(response.status().as_u16());
        Served {
            response,
            status,
            body_left_unread: false,
        }
    }
}

/// Answers `req`; how it ended, for its log line.
async fn serve(
    app: &Arc<App>,
    config: &HttpConfig,
    req: &Request,
    target: Target<'_>,
    pending: Option<request::Pending>,
) -> (Served, End) {
    let preflight = cors::preflight(&req.method, &req.headers);
    // A preflight is recorded with no route: no route answers it.
    let route = match preflight {
        Some(_) => None,
        None => target.route(),
    };
    let mut scope = app.begin(log::record_of(req, route));
    let served = match preflight {
        // Answered by the CORS layer before any route: never held,
        // delayed or faulted, and not counted in any route's sequence.
        Some(preflight) => {
            if let Some(refused) = preflight.refused {
                scope.preflight_refused(&refused.to_string());
            }
            Served::from(preflight.response)
        }
        None => {
            let mut served = route_answer(&mut scope, config, req, target, pending).await;
            cors::actual(&req.method, &req.headers, &mut served.response);
            served
        }
    };
    let end = End {
        status: served.status,
        fault: scope.fault(),
    };
    scope.end(served.status);
    (served, end)
}

/// What the route table sends `req` to answers (the router's own 404 and
/// 405, the stream, a JSON route under its chaos).
async fn route_answer(
    scope: &mut RequestScope,
    config: &HttpConfig,
    req: &Request,
    target: Target<'_>,
    pending: Option<request::Pending>,
) -> Served {
    match target {
        Target::NotFound | Target::Admin => response::not_found().into(),
        Target::MethodNotAllowed(mut allowed) => {
            if allowed.len() == 2 && scope.app().allow_order_flips() {
                allowed.swap(0, 1);
            }
            response::method_not_allowed(&allowed, req.method == Method::HEAD).into()
        }
        Target::Route(route, _) if !route.is_json() => {
            scope.pass_hold().await;
            sse::open(scope, config, req)
        }
        Target::Route(route, id) => faults::run(scope, req, route, id, pending).await,
    }
}

/// An admin answer, and how it ended for its log line.
fn admin_served(response: Response) -> (Served, End) {
    let served = Served::from(response);
    let end = End {
        status: served.status,
        fault: None,
    };
    (served, end)
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
