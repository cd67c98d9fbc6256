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

/// Go's response buffer: a body larger than this is sent chunked.
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

/// Go's connection write buffer: what a handler writes goes out when it
/// fills (or when the handler returns).
const GO_CONN_BUFFER: usize = 4096;
/// The head Go writes before a chunked 200 JSON answer (status line,
/// `Content-Type`, `Date`, `Transfer-Encoding`, blank line).
const GO_CHUNKED_HEAD: usize = 125;

/// How many bytes of a chunked body of `len` bytes Go sends before the
/// handler returns (before the chaos delay that follows it): the head, the
/// chunk header and the body go through a 4 KiB buffer, which is flushed
/// when full and bypassed by a write larger than itself. Checked against
/// the reference: a 3 KiB answer arrives whole at the end, 5 KiB arrives as
/// 4 KiB then the rest at the end, 10 KiB arrives at once but for the last
/// chunk.
pub(crate) fn go_early_bytes(len: usize) -> usize {
    let chunk_header = format!("{len:x}\r\n").len();
    let buffered = GO_CHUNKED_HEAD + chunk_header;
    if buffered + len <= GO_CONN_BUFFER {
        return 0;
    }
    let first = GO_CONN_BUFFER.saturating_sub(buffered);
    if len - first > GO_CONN_BUFFER {
        len
    } else {
        first
    }
}

/// A 200 with a large JSON body, chunked as Go sends it: the first `early`
/// bytes go out now, the rest and the end of the response once `then` (the
/// chaos delay that follows the handler) has passed.
pub(crate) fn json_ok_chunked(
    body: Bytes,
    early: usize,
    then: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Response {
    let early = early.min(body.len());
    let parts = (body.slice(..early), body.slice(early..));
    let stream = futures::stream::unfold(
        (Some(parts), Some(Box::pin(then))),
        |(parts, then)| async move {
            let (now, later) = parts?;
            if !now.is_empty() {
                return Some((
                    Ok::<_, std::convert::Infallible>(now),
                    (Some((Bytes::new(), later)), then),
                ));
            }
            if let Some(then) = then {
                then.await;
            }
            if later.is_empty() {
                return None;
            }
            Some((Ok(later), (None, None)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_holds_back_what_fits_its_connection_buffer() {
        // Measured on the reference: POST answers for texts of 3,000,
        // 5,000 and 10,000 characters.
        assert_eq!(go_early_bytes(3_251), 0);
        assert_eq!(go_early_bytes(5_251), GO_CONN_BUFFER - GO_CHUNKED_HEAD - 6);
        assert_eq!(go_early_bytes(10_251), 10_251);
    }
}
