//! The dashboard page and its assets, embedded in the binary, and the
//! exchange of a token given once in the page's URL for a cookie
//! (`EventSource` cannot send an `Authorization` header).

use bytes::Bytes;
use warp::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION, SET_COOKIE};
use warp::http::StatusCode;
use warp::reply::Response;

use super::guard::COOKIE;
use crate::http::response::not_found;

/// The page's Content-Security-Policy: no inline script or style, nothing
/// from elsewhere, never framed.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
    form-action 'self'";

/// The page's URL path.
pub(crate) const PAGE: &str = "/__admin/";

const INDEX: &str = include_str!("assets/index.html");

/// The assets under `/__admin/assets/`: name, content type, bytes.
const ASSETS: [(&str, &str, &[u8]); 3] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/style.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("assets/icon.svg"),
    ),
];

fn file(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut res = Response::new(Bytes::from_static(body).into());
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    res
}

/// A 303 to `location`.
pub(crate) fn see_other(location: &'static str) -> Response {
    let mut res = Response::new(Bytes::new().into());
    *res.status_mut() = StatusCode::SEE_OTHER;
    res.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(location));
    res
}

/// The token offered in a page URL's query (`/__admin/?token=…`).
pub(crate) fn offered_token(query: Option<&str>) -> Option<&str> {
    query?.split('&').find_map(|p| p.strip_prefix("token="))
}

/// `GET /__admin/`: the page; with `?token=…` (checked by the guard), the
/// cookie and a redirect to the URL without it.
pub(crate) fn index(query: &str) -> Response {
    if let Some(token) = offered_token(Some(query)) {
        let mut res = see_other(PAGE);
        let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/__admin");
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().insert(SET_COOKIE, v);
        }
        return res;
    }
    let mut res = file("text/html; charset=utf-8", INDEX.as_bytes());
    res.headers_mut()
        .insert("content-security-policy", HeaderValue::from_static(CSP));
    res.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("DENY"));
    res
}

/// `GET /__admin/assets/{name}`.
pub(crate) fn asset(name: &str) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, body)) => file(kind, body),
        None => not_found(),
    }
}
