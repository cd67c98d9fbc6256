//! CORS exactly as the reference sends it: go-chi/cors v1.2.1 with the
//! options of its `main.go` (any origin, echoed; credentials; `Link`
//! exposed; preflights cached 300 s), in front of every route, the stream
//! and the router's own 404 and 405, outside the chaos.
//!
//! - A **preflight** (`OPTIONS` with a non-empty
//!   `Access-Control-Request-Method`) is answered 200 with an empty body on
//!   any path, before routing: three `Vary` lines, plus the grant when the
//!   origin, the method and every requested header are allowed.
//! - Any **other request** gets `Vary: Origin`, and with a non-empty
//!   `Origin` whose method the options allow, the echoed origin,
//!   credentials and the exposed headers.
//!
//! Never on `/__admin/` (the crate's own surface has its own rules).

use warp::http::header::{
    HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, DATE,
    ORIGIN, VARY,
};
use warp::http::{HeaderMap, Method, StatusCode};
use warp::reply::Response;

/// The reference's `AllowedMethods` (go-chi/cors also always allows
/// `OPTIONS`).
const ALLOWED_METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "OPTIONS"];

/// The reference's `AllowedHeaders`, canonicalised as go-chi/cors does
/// (`X-CSRF-Token` becomes `X-Csrf-Token`), with the `Origin` it appends.
const ALLOWED_HEADERS: [&str; 6] = [
    "Accept",
    "Authorization",
    "Content-Type",
    "X-Csrf-Token",
    "Idempotency-Key",
    "Origin",
];

const TRUE: HeaderValue = HeaderValue::from_static("true");
const EXPOSED: HeaderValue = HeaderValue::from_static("Link");
const MAX_AGE: HeaderValue = HeaderValue::from_static("300");
use super::response::VARY_ORIGIN;
const VARY_METHOD: HeaderValue = HeaderValue::from_static("Access-Control-Request-Method");
const VARY_HEADERS: HeaderValue = HeaderValue::from_static("Access-Control-Request-Headers");

/// Why a preflight was refused, for the client diagnostic: what was asked,
/// quoted (invalid UTF-8 as `\xNN`) and clipped to
/// [`REFUSAL_TEXT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The requested method is not one the options allow.
    Method(String),
    /// A requested header is not one the options allow (as parsed).
    Header(String),
}

/// How much of a refused method or header a diagnostic quotes.
const REFUSAL_TEXT_BYTES: usize = 128;

/// `raw`, quoted for a diagnostic and clipped.
fn shown(raw: &[u8]) -> String {
    let cut = raw.len() > REFUSAL_TEXT_BYTES;
    let mut out = crate::key::quoted(&raw[..raw.len().min(REFUSAL_TEXT_BYTES)]);
    if cut {
        out.push('…');
    }
    out
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Method(m) => write!(
                f,
                "method {m} is not allowed (allowed: GET, POST, PUT, DELETE, OPTIONS)"
            ),
            Refusal::Header(h) => write!(
                f,
                "request header {h} is not allowed (allowed: Accept, Authorization, \
                 Content-Type, X-CSRF-Token, Idempotency-Key): drop it"
            ),
        }
    }
}

/// The answer to a preflight.
pub(crate) struct Preflight {
    pub(crate) response: Response,
    /// Why the grant was withheld, when an origin asked and was refused.
    pub(crate) refused: Option<Refusal>,
}

/// Go's `Header.Get`: the first value, `None` when absent or empty.
fn first<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Option<&'h HeaderValue> {
    headers.get(name).filter(|v| !v.is_empty())
}

/// The answer to `method` with `headers` if it is a preflight.
pub(crate) fn preflight(method: &Method, headers: &HeaderMap) -> Option<Preflight> {
    if *method != Method::OPTIONS {
        return None;
    }
    let requested = first(headers, &ACCESS_CONTROL_REQUEST_METHOD)?;
    let mut lines = vec![
        (VARY, VARY_ORIGIN),
        (VARY, VARY_METHOD),
        (VARY, VARY_HEADERS),
    ];
    let refused = first(headers, &ORIGIN).and_then(|origin| {
        let Some(method) = allowed_method(requested.as_bytes()) else {
            return Some(Refusal::Method(shown(requested.as_bytes())));
        };
        let asked = headers
            .get(ACCESS_CONTROL_REQUEST_HEADERS)
            .map(|v| parse_header_list(v.as_bytes()))
            .unwrap_or_default();
        // Compared in canonical case, as `areHeadersAllowed` compares them;
        // echoed as parsed.
        if let Some(bad) = asked
            .iter()
            .find(|h| !ALLOWED_HEADERS.contains(&canonical(h).as_str()))
        {
            return Some(Refusal::Header(shown(bad.as_bytes())));
        }
        lines.push((ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()));
        lines.push((
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(method),
        ));
        if !asked.is_empty() {
            // Only [A-Za-z0-9._-] survive the parse: always a valid value.
            if let Ok(v) = HeaderValue::from_str(&asked.join(", ")) {
                lines.push((ACCESS_CONTROL_ALLOW_HEADERS, v));
            }
        }
        lines.push((ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE));
        lines.push((ACCESS_CONTROL_MAX_AGE, MAX_AGE));
        None
    });
    let mut response = super::response::empty(StatusCode::OK, &[], false);
    merge(response.headers_mut(), lines);
    Some(Preflight { response, refused })
}

/// Adds the headers go-chi/cors gives an actual (non-preflight) request to
/// its answer.
pub(crate) fn actual(method: &Method, request: &HeaderMap, response: &mut Response) {
    let origin =
        first(request, &ORIGIN).filter(|_| allowed_method(method.as_str().as_bytes()).is_some());
    // An answer built with its `Vary` in place (the JSON 200s, the hot
    // path) needs no rebuilt head when there is nothing to grant.
    let has_vary = response.headers().contains_key(VARY);
    if origin.is_none() && has_vary {
        return;
    }
    let mut lines = Vec::with_capacity(4);
    if !has_vary {
        lines.push((VARY, VARY_ORIGIN));
    }
    if let Some(origin) = origin {
        lines.push((ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()));
        lines.push((ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED));
        lines.push((ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE));
    }
    merge(response.headers_mut(), lines);
}

/// The allowed method `raw` names once upper-cased as Go's
/// `strings.ToUpper` does, if any. Beyond ASCII only `ı` and `ſ` upper-case
/// to ASCII letters (`I`, `S`); any other character, or invalid UTF-8 (which
/// Go turns into U+FFFD), cannot match an allowed method.
fn allowed_method(raw: &[u8]) -> Option<&'static str> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut upper = String::with_capacity(text.len());
    for c in text.chars() {
        upper.push(match c {
            'ı' => 'I',
            'ſ' => 'S',
            c if c.is_ascii() => c.to_ascii_uppercase(),
            _ => return None,
        });
    }
    ALLOWED_METHODS.into_iter().find(|m| *m == upper)
}

/// go-chi/cors's `parseHeaderList`: split on spaces and commas, keep only
/// `[A-Za-z0-9._-]`, each name in canonical case (upper after a `-` and
/// at the start, lower elsewhere).
fn parse_header_list(list: &[u8]) -> Vec<String> {
    let mut headers = Vec::new();
    let mut name = String::new();
    let mut upper = true;
    for (i, &b) in list.iter().enumerate() {
        if b.is_ascii_alphabetic() {
            name.push(if upper {
                b.to_ascii_uppercase()
            } else {
                b.to_ascii_lowercase()
            } as char);
        } else if b == b'-' || b == b'_' || b == b'.' || b.is_ascii_digit() {
            name.push(b as char);
        }
        if b == b' ' || b == b',' || i == list.len() - 1 {
            if !name.is_empty() {
                headers.push(std::mem::take(&mut name));
                upper = true;
            }
        } else {
            upper = b == b'-';
        }
    }
    headers
}

/// Go's `CanonicalHeaderKey` of a name `parse_header_list` kept (only
/// `[A-Za-z0-9._-]`, all valid in a header name): upper case at the start
/// and after each `-`, lower case elsewhere.
fn canonical(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// Puts `lines` among a head's handler headers (those before `Date`),
/// sorted by name as Go writes a handler's headers; the values of one name
/// keep their order, and what follows `Date` stays where it is.
fn merge(head: &mut HeaderMap, lines: Vec<(HeaderName, HeaderValue)>) {
    let old = std::mem::take(head);
    let mut handler: Vec<(HeaderName, HeaderValue)> = lines;
    let mut after = Vec::new();
    let mut past_date = false;
    let mut current: Option<HeaderName> = None;
    for (name, value) in old {
        // `HeaderMap`'s owned iterator names each key once, before its
        // first value.
        if let Some(name) = name {
            past_date |= name == DATE;
            current = Some(name);
        }
        let Some(name) = current.clone() else {
            continue;
        };
        if past_date {
            after.push((name, value));
        } else {
            handler.push((name, value));
        }
    }
    handler.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
    head.reserve(handler.len() + after.len());
    for (name, value) in handler.into_iter().chain(after) {
        head.append(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lists_are_parsed_as_go_chi_cors_parses_them() {
        let cases: [(&[u8], &[&str]); 8] = [
            (b"", &[]),
            (
                b"content-type, idempotency-key",
                &["Content-Type", "Idempotency-Key"],
            ),
            (
                b",, x-csrf-token  AUTHORIZATION",
                &["X-Csrf-Token", "Authorization"],
            ),
            // `;` is neither kept nor a separator.
            (b"accept;origin", &["Acceptorigin"]),
            (b"X_y.z", &["X_y.z"]),
            (b"a,-b", &["A", "-B"]),
            (b"last-event-id", &["Last-Event-Id"]),
            (b"x-\xe9t\xc3\xa9", &["X-t"]),
        ];
        for (raw, parsed) in cases {
            assert_eq!(parse_header_list(raw), parsed, "{raw:?}");
        }
    }

    #[test]
    fn parsed_names_are_compared_in_canonical_case() {
        // The parse keeps a lower-case letter after a byte it drops.
        assert_eq!(parse_header_list(b";accept"), ["accept"]);
        assert_eq!(canonical("accept"), "Accept");
        assert_eq!(canonical("idempotency-key"), "Idempotency-Key");
        assert_eq!(canonical("Content-type"), "Content-Type");
        assert_eq!(canonical("X_y.z"), "X_y.z");
    }

    #[test]
    fn refusals_are_quoted_and_clipped() {
        assert_eq!(shown(b"PATCH"), "\"PATCH\"");
        assert_eq!(shown(b"G\xe9T"), "\"G\\xe9T\"");
        let long = shown(&[b'a'; 3000]);
        assert!(long.len() < 140 && long.ends_with('…'), "{long}");
    }

    #[test]
    fn methods_are_upper_cased_as_go_upper_cases_them() {
        assert_eq!(allowed_method(b"post"), Some("POST"));
        assert_eq!(allowed_method(b"options"), Some("OPTIONS"));
        assert_eq!(allowed_method("po\u{17f}t".as_bytes()), Some("POST"));
        assert_eq!(allowed_method("opt\u{131}ons".as_bytes()), Some("OPTIONS"));
        for refused in [&b"PATCH"[..], b"HEAD", b"G\xc3\xa9T", b"GE\xff", b"get "] {
            assert_eq!(allowed_method(refused), None, "{refused:?}");
        }
    }

    #[test]
    fn merged_headers_sort_before_date_and_keep_what_follows() {
        let mut head = HeaderMap::new();
        head.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
        head.insert("content-type", HeaderValue::from_static("text/plain"));
        head.append("allow", HeaderValue::from_static("GET"));
        head.append("allow", HeaderValue::from_static("POST"));
        head.insert(DATE, HeaderValue::from_static("d"));
        head.insert("content-length", HeaderValue::from_static("0"));
        let lines = vec![
            (VARY, VARY_ORIGIN),
            (ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("o")),
        ];
        merge(&mut head, lines);
        let names: Vec<_> = head.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
        assert_eq!(
            names,
            [
                "access-control-allow-origin=\"o\"",
                "allow=\"GET\"",
                "allow=\"POST\"",
                "content-type=\"text/plain\"",
                "vary=\"Origin\"",
                "x-content-type-options=\"nosniff\"",
                "date=\"d\"",
                "content-length=\"0\"",
            ]
        );
    }
}
