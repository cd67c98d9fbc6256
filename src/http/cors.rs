//! CORS, for browser clients served from another origin (`--cors`, off by
//! default: the reference sends no CORS headers). Preflights are answered
//! here, before any record, chaos or hold; every public answer allows any
//! origin. Never on `/__admin/`.

use warp::http::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE,
};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::request::Request;
use super::router::Target;

/// The headers a browser client sends that are not CORS-safelisted.
const ALLOWED_HEADERS: &str = "Content-Type, Idempotency-Key, Last-Event-ID";

/// The answer to a preflight for a public route, if `req` is one.
pub(crate) fn preflight(req: &Request, target: &Target<'_>) -> Option<Response> {
    if req.method != Method::OPTIONS || !req.headers.contains_key("access-control-request-method") {
        return None;
    }
    let methods = match target {
        Target::MethodNotAllowed(allowed) if !allowed.is_empty() => allowed.join(", "),
        Target::Events => "GET".to_string(),
        _ => return None,
    };
    let mut res = Response::new(bytes::Bytes::new().into());
    *res.status_mut() = StatusCode::NO_CONTENT;
    let h = res.headers_mut();
    h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    if let Ok(v) = HeaderValue::from_str(&methods) {
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    h.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    Some(res)
}

/// Lets any origin read a public answer.
pub(crate) fn allow_origin(res: &mut Response) {
    res.headers_mut()
        .insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
}
