//! The HTTP face: one warp filter that routes by hand (so every answer,
//! including 404 and 405, is our JSON error and never a warp default),
//! acts out chaos decisions, and maps errors to the wire format.

mod admin;
mod api;
mod sse;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use warp::http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;
use warp::Filter;

use crate::app::App;
use crate::chaos::{Fault, Route};
use crate::model::{ErrorBody, ErrorDetail, RecordedRequest};

/// Largest accepted request body.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest accepted message text, in characters.
pub(crate) const MAX_TEXT_CHARS: usize = 10_000;
/// Longest accepted idempotency key, in characters.
pub(crate) const MAX_KEY_CHARS: usize = 255;
/// How much of a body the request log keeps.
const RECORDED_BODY_BYTES: usize = 4 * 1024;
/// How much of a method, path, query or key the journal and the request log
/// keep: hyper accepts ~400 KB of them per request, and those logs hold
/// thousands of entries.
const RECORDED_TEXT_BYTES: usize = 1024;

/// `s`, cut to at most [`RECORDED_TEXT_BYTES`] (on a char boundary, marked
/// with a trailing `…`).
pub(crate) fn clip(s: &str) -> String {
    if s.len() <= RECORDED_TEXT_BYTES {
        return s.to_string();
    }
    let mut end = RECORDED_TEXT_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// An error answer: status, stable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The wire body: `{"error": {"code": …, "message": …}}`.
    fn body(self) -> Bytes {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }

    pub(crate) fn into_response(self) -> Response {
        let status = self.status;
        json_response(status, self.body())
    }
}

/// A JSON answer.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response {
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// A JSON array made of already-serialized elements.
pub(crate) fn json_array<'a>(items: impl ExactSizeIterator<Item = &'a Bytes>) -> Bytes {
    let mut items = items.peekable();
    let mut out = BytesMut::with_capacity(2 + items.len() * 200);
    out.extend_from_slice(b"[");
    while let Some(item) = items.next() {
        out.extend_from_slice(item);
        if items.peek().is_some() {
            out.extend_from_slice(b",");
        }
    }
    out.extend_from_slice(b"]");
    out.freeze()
}

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct InjectedDrop;

/// An answer that makes hyper close the connection before writing anything:
/// the body fails on its first poll, before the head is flushed.
fn dropped_connection() -> Response {
    let body = futures::stream::once(async { Err::<Bytes, _>(InjectedDrop) });
    let mut res = warp::reply::Reply::into_response(warp::reply::stream(body));
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The first half of `body` under a matching `Content-Length`, then the
/// connection closes: a complete HTTP answer whose JSON is cut in half.
fn truncated(status: StatusCode, body: &Bytes) -> Response {
    let half = body.slice(..body.len() / 2);
    let mut res = json_response(status, half.clone());
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(half.len()));
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// What a JSON route handler produced, before chaos acts on it.
pub(crate) struct Handled {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    pub(crate) replayed: bool,
    pub(crate) committed: bool,
    pub(crate) message_id: Option<u64>,
    pub(crate) event_ids: Vec<u64>,
    /// Holds a POST's idempotency key in flight until the answer is sent.
    pub(crate) reservation: Option<crate::store::Reservation>,
}

impl Handled {
    pub(crate) fn ok(body: Bytes) -> Self {
        Handled {
            status: StatusCode::OK,
            body,
            replayed: false,
            committed: false,
            message_id: None,
            event_ids: Vec::new(),
            reservation: None,
        }
    }

    pub(crate) fn error(e: ApiError) -> Self {
        Handled {
            status: e.status,
            body: e.body(),
            ..Handled::ok(Bytes::new())
        }
    }

    fn into_response(self) -> Response {
        let replayed = self.replayed;
        let mut res = json_response(self.status, self.body);
        if replayed {
            res.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
        }
        res
    }
}

/// A request, as the handlers see it.
pub(crate) struct Request {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    pub(crate) headers: HeaderMap,
    /// The body, or `Err(())` if it was over [`MAX_BODY_BYTES`].
    pub(crate) body: Result<Bytes, ()>,
}

impl Request {
    pub(crate) fn header_str(&self, name: &str) -> Option<Result<&str, ()>> {
        self.headers.get(name).map(|v| v.to_str().map_err(|_| ()))
    }

    /// `key=value` pairs of the query, undecoded.
    pub(crate) fn query_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query
            .as_deref()
            .unwrap_or("")
            .split('&')
            .filter(|s| !s.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
    }

    pub(crate) fn query_param(&self, name: &str) -> Option<&str> {
        self.query_pairs().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// For the journal and logs: clipped to [`RECORDED_TEXT_BYTES`].
    pub(crate) fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => clip(&format!("{}?{q}", self.path)),
            None => clip(&self.path),
        }
    }
}

/// Which handler a request goes to.
enum Target<'a> {
    Json(Route, Option<&'a str>),
    Events,
    Admin,
    NotFound,
    MethodNotAllowed(&'static str),
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut res = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this path only accepts {allow}"),
    )
    .into_response();
    res.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    res
}

fn not_found(path: &str) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no such path: {path}"),
    )
    .into_response()
}

fn classify<'a>(app: &App, method: &Method, path: &'a str) -> Target<'a> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    // The first four segments are all routing looks at: no allocation.
    let mut parts = trimmed.split('/');
    let segments: [Option<&str>; 4] = std::array::from_fn(|_| parts.next());
    match segments {
        [Some("chats"), None, ..] => match *method {
            Method::GET => Target::Json(Route::GetChats, None),
            _ => Target::MethodNotAllowed("GET"),
        },
        [Some("chats"), Some(id), Some("messages"), None] => match *method {
            Method::GET => Target::Json(Route::GetMessages, Some(id)),
            Method::POST => Target::Json(Route::PostMessage, Some(id)),
            _ => Target::MethodNotAllowed("GET, POST"),
        },
        [Some("events"), None, ..] => match *method {
            Method::GET => Target::Events,
            _ => Target::MethodNotAllowed("GET"),
        },
        [Some("__admin"), ..] if app.http.admin => Target::Admin,
        _ => Target::NotFound,
    }
}

async fn read_body<S, B>(headers: &HeaderMap, body: S) -> Result<Bytes, ()>
where
    S: Stream<Item = Result<B, warp::Error>>,
    B: Buf,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(());
    }
    let mut out = BytesMut::new();
    futures::pin_mut!(body);
    while let Some(chunk) = body.next().await {
        // A broken body (client went away mid-body) is treated as empty:
        // what arrived is a fragment, and a fragment that happens to be
        // valid JSON must not be stored.
        let Ok(mut chunk) = chunk else {
            return Ok(Bytes::new());
        };
        if out.len() + chunk.remaining() > MAX_BODY_BYTES {
            return Err(());
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(out.freeze())
}

/// The warp filter serving the whole API.
pub(crate) fn routes(
    app: Arc<App>,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let raw_query = warp::query::raw()
        .map(Some)
        .or(warp::any().map(|| None))
        .unify();
    // warp's `path::full()` panics on a request target without a path
    // (`CONNECT host:443`, `GET example.com`), killing the connection with
    // no answer; `path::end()` takes those (and "/") first, as "/".
    let full_path = warp::path::end()
        .map(|| "/".to_string())
        .or(warp::path::full().map(|p: warp::path::FullPath| p.as_str().to_string()))
        .unify();
    warp::method()
        .and(full_path)
        .and(raw_query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method, path: String, query, headers: HeaderMap, body| {
                let app = Arc::clone(&app);
                async move {
                    let started = Instant::now();
                    let wants_body = method == Method::POST || method == Method::PUT;
                    let body = if wants_body {
                        read_body(&headers, body).await
                    } else {
                        Ok(Bytes::new())
                    };
                    let req = Request {
                        method,
                        path,
                        query,
                        headers,
                        body,
                    };
                    // Admin calls are the test talking to the double, not
                    // the client under test: they are not recorded.
                    if !req.path.starts_with("/__admin/") || !app.http.admin {
                        record(&app, &req);
                    }
                    let (res, fault) = dispatch(&app, &req).await;
                    log_request(&req, &res, fault, started);
                    res
                }
            },
        )
        .recover(|_rejection: warp::Rejection| async {
            // Only reachable if warp cannot read the request at all.
            Ok::<_, Infallible>(
                ApiError::bad_request("bad_request", "the request could not be read")
                    .into_response(),
            )
        })
        .unify()
}

fn record(app: &App, req: &Request) {
    let body = match &req.body {
        Ok(b) => String::from_utf8_lossy(&b[..b.len().min(RECORDED_BODY_BYTES)]).into_owned(),
        Err(()) => "<body too large>".to_string(),
    };
    app.record_request(RecordedRequest {
        seq: 0,
        method: clip(req.method.as_str()),
        path: clip(&req.path),
        query: req.query.as_deref().map(clip),
        idempotency_key: req
            .headers
            .get("idempotency-key")
            .map(|v| clip(&String::from_utf8_lossy(v.as_bytes()))),
        body,
    });
}

fn log_request(req: &Request, res: &Response, fault: Option<Fault>, started: Instant) {
    let elapsed = started.elapsed();
    match fault {
        Some(fault) => tracing::info!(
            target: "mock_chat_server::request",
            "{} {} -> {} in {:.1?} fault={}",
            req.method,
            req.path_and_query(),
            res.status().as_u16(),
            elapsed,
            fault
        ),
        None => tracing::info!(
            target: "mock_chat_server::request",
            "{} {} -> {} in {:.1?}",
            req.method,
            req.path_and_query(),
            res.status().as_u16(),
            elapsed
        ),
    }
}

async fn dispatch(app: &Arc<App>, req: &Request) -> (Response, Option<Fault>) {
    match classify(app, &req.method, &req.path) {
        Target::NotFound => (not_found(&req.path), None),
        Target::MethodNotAllowed(allow) => (method_not_allowed(allow), None),
        Target::Admin => (admin::handle(app, req).await, None),
        Target::Events => sse::handle(app, req),
        Target::Json(route, id) => with_chaos(app, req, route, id).await,
    }
}

/// Runs a JSON route under its chaos decision.
async fn with_chaos(
    app: &Arc<App>,
    req: &Request,
    route: Route,
    id: Option<&str>,
) -> (Response, Option<Fault>) {
    let key = req
        .headers
        .get("idempotency-key")
        .map(|v| clip(&String::from_utf8_lossy(v.as_bytes())));
    let d = app.chaos.decide(
        route,
        req.method.as_str(),
        &req.path_and_query(),
        key.as_deref(),
    );
    app.sleep(d.latency_before).await;
    match d.fault {
        Some(Fault::Unavailable) => {
            app.chaos.update(d.seq, |e| e.status = Some(503));
            let e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the server is temporarily unavailable (injected fault); retry later",
            );
            return (e.into_response(), d.fault);
        }
        Some(Fault::Timeout { after }) => {
            app.sleep(after).await;
            app.chaos.update(d.seq, |e| e.status = Some(504));
            let e = ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "timeout",
                "the server timed out handling the request (injected fault); retry later",
            );
            return (e.into_response(), d.fault);
        }
        Some(Fault::DropBeforeCommit) => return (dropped_connection(), d.fault),
        _ => {}
    }
    let mut handled = match route {
        Route::GetChats => Handled::ok(app.store.chats_json()),
        Route::GetMessages => api::get_messages(app, req, id.unwrap_or_default()),
        Route::PostMessage | Route::Events => api::post_message(app, req, id.unwrap_or_default()),
    };
    app.chaos.update(d.seq, |e| {
        e.status = Some(handled.status.as_u16());
        e.committed = handled.committed;
        e.replayed = handled.replayed;
        e.message_id = handled.message_id;
        e.event_ids = std::mem::take(&mut handled.event_ids);
    });
    app.sleep(d.latency_after).await;
    // The key stops being "in flight" now, just before the answer goes out.
    drop(handled.reservation.take());
    let res = match d.fault {
        Some(Fault::DropAfterCommit) => dropped_connection(),
        Some(Fault::TruncatedBody) => truncated(handled.status, &handled.body),
        _ => handled.into_response(),
    };
    (res, d.fault)
}
