//! The answers the reference's Go stack writes, built once here: plain-text
//! errors (`http.Error`), JSON 200s (sniffed by Go as `text/plain`), the
//! empty 200, 404 and 405.

use bytes::Bytes;
use warp::http::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

/// `Content-Type` of every JSON answer and error: the reference writes its
/// status before its JSON header, so Go sniffs the body as text.
pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// Go's buffer before it switches a response to chunked encoding.
pub(crate) const CHUNKING_THRESHOLD: usize = 2048;

/// An error as Go's `http.Error` writes it: plain text, `nosniff`, the
/// message and a newline.
pub(crate) fn text_error(status: StatusCode, message: &str) -> Response {
    let mut res = Response::new(Bytes::from(format!("{message}\n")).into());
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, TEXT_PLAIN);
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// A 200 whose body is JSON, sent whole with its `Content-Length`.
pub(crate) fn json_ok(body: Bytes) -> Response {
    let mut res = Response::new(body.into());
    res.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    res
}

/// A 200 with a large JSON body, chunked as Go sends it: the body goes out at
/// once, and the response completes only after `then` (the chaos delay that
/// follows the handler) has passed.
pub(crate) fn json_ok_chunked(
    body: Bytes,
    then: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Response {
    let stream = futures::stream::unfold(
        (Some(body), Some(Box::pin(then))),
        |(body, then)| async move {
            if let Some(body) = body {
                return Some((Ok::<_, std::convert::Infallible>(body), (None, then)));
            }
            if let Some(then) = then {
                then.await;
            }
            None
        },
    );
    let mut res = warp::reply::stream(stream).into_response();
    res.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    res
}

/// The reference's answer to a key it already stored: 200, no body, no
/// `Content-Type`.
pub(crate) fn empty_ok() -> Response {
    Response::new(Bytes::new().into())
}

/// chi's 404.
pub(crate) fn not_found() -> Response {
    text_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// chi's 405: empty body, one `Allow` line per allowed method.
pub(crate) fn method_not_allowed(allowed: &[&'static str]) -> Response {
    let mut res = Response::new(Bytes::new().into());
    *res.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    for m in allowed {
        res.headers_mut().append(ALLOW, HeaderValue::from_static(m));
    }
    res
}

/// Go's answer to a request it cannot read: 400, plain text, the
/// connection closed.
fn closing_400(body: &'static [u8]) -> Response {
    let mut res = Response::new(Bytes::from_static(body).into());
    *res.status_mut() = StatusCode::BAD_REQUEST;
    res.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Go's answer to an HTTP/1.1 request without `Host`.
pub(crate) fn missing_host() -> Response {
    closing_400(b"400 Bad Request: missing required Host header")
}

/// Go's answer to a request target with an invalid `%` escape.
pub(crate) fn bad_request_closing() -> Response {
    closing_400(b"400 Bad Request")
}

#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
struct InjectedDrop;

/// An answer that makes hyper close the connection without a response: the
/// body fails on its first poll, before the head is flushed.
pub(crate) fn dropped_connection() -> Response {
    let body = futures::stream::once(async { Err::<Bytes, _>(InjectedDrop) });
    let mut res = warp::reply::stream(body).into_response();
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The first half of `body` under a matching `Content-Length`, then the
/// connection closes: a complete HTTP answer whose JSON is cut in half.
pub(crate) fn truncated(status: StatusCode, body: &Bytes) -> Response {
    let half = body.slice(..body.len() / 2);
    let len = half.len();
    let mut res = json_ok(half);
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}
