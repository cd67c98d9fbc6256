//! The answers the reference's Go stack writes, built once here: plain-text
//! errors (`http.Error`), JSON 200s (sniffed by Go as `text/plain`), the
//! empty 200, 404, 405 and Go's own refusals.
//!
//! Heads are laid out as Go writes them: the handler's headers sorted by
//! name, then `Date`, `Content-Length` and a sniffed `Content-Type`; hyper
//! appends `Connection` and `Transfer-Encoding` after them, where Go puts
//! them too. The server turns hyper's own `Date` off, so a head has one
//! only if it is built here (Go's refusals have none).

use std::cell::RefCell;
use std::thread::LocalKey;
use std::time::SystemTime;

use bytes::Bytes;
use warp::http::header::{
    HeaderName, HeaderValue, ALLOW, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, DATE, VARY,
};
use warp::http::{HeaderMap, StatusCode};
use warp::reply::{Reply, Response};

/// `Content-Type` of every JSON answer and error: the reference writes its
/// status before its JSON header, so Go sniffs the body as text.
pub(crate) const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// Go's response buffer: a body larger than this is sent chunked.
pub(crate) const CHUNKING_THRESHOLD: usize = 2048;

const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
/// The `Vary` line go-chi/cors adds to every answer.
pub(crate) const VARY_ORIGIN: HeaderValue = HeaderValue::from_static("Origin");
const X_CONTENT_TYPE_OPTIONS: HeaderName = HeaderName::from_static("x-content-type-options");

thread_local! {
    /// The second last formatted on this thread and its `Date` value.
    static DATE_VALUE: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    /// The last `Content-Length` value made on this thread: answers of one
    /// route often have one length.
    static LENGTH_VALUE: RefCell<(u64, HeaderValue)> =
        const { RefCell::new((0, HeaderValue::from_static("0"))) };
}

/// The value `cell` holds for `key`, made by `make` when the key changed
/// (a clone costs no allocation).
fn cached(
    cell: &'static LocalKey<RefCell<(u64, HeaderValue)>>,
    key: u64,
    make: impl FnOnce() -> Option<HeaderValue>,
) -> HeaderValue {
    cell.with(|cell| {
        let mut cell = cell.borrow_mut();
        if cell.0 != key {
            if let Some(value) = make() {
                *cell = (key, value);
            }
        }
        cell.1.clone()
    })
}

/// `Date` as Go writes it (`Wed, 25 Nov 2026 10:28:46 GMT`), formatted once
/// a second.
pub(crate) fn date() -> HeaderValue {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    cached(&DATE_VALUE, secs, || {
        HeaderValue::from_str(&crate::clock::utc_second(secs, "%a, %d %b %Y %H:%M:%S GMT")).ok()
    })
}

/// `Content-Length: len`.
fn length(len: usize) -> HeaderValue {
    cached(&LENGTH_VALUE, len as u64, || Some(HeaderValue::from(len)))
}

/// `Date`, then `Content-Length` of a body of `len` bytes, as Go adds them
/// after the handler's headers.
fn date_and_length(h: &mut HeaderMap, len: usize) {
    h.insert(DATE, date());
    h.insert(CONTENT_LENGTH, length(len));
}

/// An answer with no body: `leading` headers, `Date`, and an explicit
/// `Content-Length: 0` where Go writes it, which is everywhere but in the
/// answer to `HEAD` (Go counts no body written). (hyper drops the header
/// of a body it knows to be empty, and writes its own after every other
/// header: a body that is not known empty keeps ours in place.)
pub(crate) fn empty(
    status: StatusCode,
    leading: &[(HeaderName, HeaderValue)],
    head: bool,
) -> Response {
    let mut res = if head {
        Response::new(Bytes::new().into())
    } else {
        let nothing = futures::stream::empty::<Result<Bytes, std::convert::Infallible>>();
        warp::reply::stream(nothing).into_response()
    };
    *res.status_mut() = status;
    let h = res.headers_mut();
    for (name, value) in leading {
        h.append(name, value.clone());
    }
    if head {
        h.insert(DATE, date());
    } else {
        date_and_length(h, 0);
    }
    res
}

/// An error as Go's `http.Error` writes it: plain text, `nosniff`, the
/// message and a newline.
pub(crate) fn text_error(status: StatusCode, message: &str) -> Response {
    text_error_after(&[], status, message)
}

/// [`text_error`] under handler headers whose names sort before
/// `Content-Type` (the stream's `Cache-Control` and `Connection`).
pub(crate) fn text_error_after(
    leading: &[(HeaderName, HeaderValue)],
    status: StatusCode,
    message: &str,
) -> Response {
    let body = Bytes::from(format!("{message}\n"));
    let len = body.len();
    let mut res = Response::new(body.into());
    *res.status_mut() = status;
    let h = res.headers_mut();
    for (name, value) in leading {
        h.insert(name, value.clone());
    }
    h.insert(CONTENT_TYPE, TEXT_PLAIN);
    h.insert(X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    date_and_length(h, len);
    res
}

/// A 200 whose body is JSON, sent whole with its `Content-Length`.
pub(crate) fn json_ok(body: Bytes) -> Response {
    let len = body.len();
    let mut res = Response::new(body.into());
    let h = res.headers_mut();
    // The CORS layer's `Vary` in its place, the only handler header: a
    // request without `Origin` needs nothing more (see `cors::actual`).
    h.insert(VARY, VARY_ORIGIN);
    date_and_length(h, len);
    h.insert(CONTENT_TYPE, TEXT_PLAIN);
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
    let h = res.headers_mut();
    h.insert(DATE, date());
    h.insert(CONTENT_TYPE, TEXT_PLAIN);
    res
}

/// The reference's answer to a key it already stored: 200, no body, no
/// `Content-Type`.
pub(crate) fn empty_ok() -> Response {
    empty(StatusCode::OK, &[], false)
}

/// Go's own answer to `OPTIONS *`, given before any handler (so without
/// CORS headers): 200, its handler's `Content-Length: 0`, then `Date`; a
/// body over the 4 KiB it reads closes the connection (`Connection: close`
/// among the handler's headers, sorted first).
pub(crate) fn options_asterisk(body_too_large: bool) -> Response {
    let length = (CONTENT_LENGTH, length(0));
    if body_too_large {
        let close = (CONNECTION, HeaderValue::from_static("close"));
        empty(StatusCode::OK, &[close, length], false)
    } else {
        empty(StatusCode::OK, &[length], false)
    }
}

/// The text of chi's 404.
pub(crate) const NOT_FOUND_TEXT: &str = "404 page not found";

/// chi's 404.
pub(crate) fn not_found() -> Response {
    text_error(StatusCode::NOT_FOUND, NOT_FOUND_TEXT)
}

/// chi's 405: empty body, one `Allow` line per allowed method; no
/// `Content-Length` in the answer to `HEAD` (Go counts no body written).
pub(crate) fn method_not_allowed(allowed: &[&'static str], head: bool) -> Response {
    let allow: Vec<_> = allowed
        .iter()
        .map(|m| (ALLOW, HeaderValue::from_static(m)))
        .collect();
    empty(StatusCode::METHOD_NOT_ALLOWED, &allow, head)
}

/// Go's answer to a request it refuses before any handler: the status
/// line carries the reason (`400 Bad Request: malformed Host header`),
/// plain text, no `Date`, the connection closed. Go sends the body
/// without a length, until the close; hyper gives it a `Content-Length`.
fn go_refusal(reason: &'static str, body: &'static str) -> Response {
    let mut res = Response::new(Bytes::from_static(body.as_bytes()).into());
    *res.status_mut() = StatusCode::BAD_REQUEST;
    if reason != "Bad Request" {
        res.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(reason.as_bytes()));
    }
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, TEXT_PLAIN);
    h.insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// Go's answer to an HTTP/1.1 request without `Host`.
pub(crate) fn missing_host() -> Response {
    go_refusal(
        "Bad Request: missing required Host header",
        "400 Bad Request: missing required Host header",
    )
}

/// Go's answer to a `Host` with a byte no host name has.
pub(crate) fn malformed_host() -> Response {
    go_refusal(
        "Bad Request: malformed Host header",
        "400 Bad Request: malformed Host header",
    )
}

/// Go's answer to a request it cannot read (an invalid `%` escape in the
/// target, two `Host` headers).
pub(crate) fn bad_request_closing() -> Response {
    go_refusal("Bad Request", "400 Bad Request")
}

/// Go's answer to an `Expect` other than `100-continue`: 417, empty, the
/// connection closed; no `Content-Length` for `HEAD` (nothing written).
pub(crate) fn expectation_failed(head: bool) -> Response {
    let close = [(CONNECTION, HeaderValue::from_static("close"))];
    empty(StatusCode::EXPECTATION_FAILED, &close, head)
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
    let mut res = json_ok(half);
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_dates_are_written_as_go_writes_them() {
        for len in [0, 19, 19, 246, 0, 1_048_576] {
            assert_eq!(length(len).to_str().unwrap(), len.to_string());
        }
        let date = date();
        let text = date.to_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc2822(text).is_ok() && text.ends_with(" GMT"),
            "{text}"
        );
    }

    #[test]
    fn go_holds_back_what_fits_its_connection_buffer() {
        // Measured on the reference: POST answers for texts of 3,000,
        // 5,000 and 10,000 characters.
        assert_eq!(go_early_bytes(3_251), 0);
        assert_eq!(go_early_bytes(5_251), GO_CONN_BUFFER - GO_CHUNKED_HEAD - 6);
        assert_eq!(go_early_bytes(10_251), 10_251);
    }
}
