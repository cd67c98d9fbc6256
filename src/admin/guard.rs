//! Who may use the admin surface: the Host, Origin, token (bearer or
//! cookie) and content-type checks every admin request passes first.

use warp::http::{HeaderMap, StatusCode};

use super::{AdminConfig, Refused};

/// The cookie the page's token is exchanged for.
pub(crate) const COOKIE: &str = "mock_chat_admin";

/// `host` (a `Host` value or a target's authority) split into its name,
/// lower-cased, and its port.
pub(crate) fn split_host(host: &str) -> (String, Option<&str>) {
    let (name, port) = match host.rsplit_once(':') {
        // `[::1]` alone has colons but no port.
        Some((name, port)) if !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    (name.to_ascii_lowercase(), port)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    // UTF-8 as sent (not only visible ASCII): a foreign `Origin` in any
    // bytes is still an `Origin`, and is refused.
    headers
        .get(name)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

fn forbidden(why: &str) -> Result<(), Refused> {
    Err(Refused(StatusCode::FORBIDDEN, format!("admin API: {why}")))
}

/// Refuses cross-site and rebinding shapes, and checks the token.
///
/// - The host (an absolute-form target's authority, else `Host`) must be
///   one of the server's own names, compared case-insensitively; bound
///   beyond loopback with a token, any host is accepted (the token is the
///   guard there: a client on the network can send any `Host`).
/// - An `Origin`, when sent, must be the server's own: `http://` and one of
///   its names with its port, or the very host the request was sent to.
/// - With a token: `Authorization: Bearer <token>`, or the cookie the
///   page's token was exchanged for, or `offered` (the token in the page's
///   URL, which the page exchanges for the cookie).
pub(crate) fn check(
    config: &AdminConfig,
    authority: Option<&str>,
    headers: &HeaderMap,
    offered: Option<&str>,
) -> Result<(), Refused> {
    let host = match authority {
        // Go takes the host of `http://user@host/`, not the user.
        Some(authority) => authority.rsplit('@').next().unwrap_or(""),
        None => header(headers, "host").unwrap_or(""),
    };
    let own = |name: &str| config.names.iter().any(|n| n == name);
    let open_bind = !config.bound.ip().is_loopback();
    let (name, _) = split_host(host);
    let token_guards = open_bind && config.token.is_some();
    if !(own(&name) || token_guards) {
        return forbidden(&format!(
            "host {host:?} is not one of this server's names ({})",
            config.names.join(", ")
        ));
    }
    if let Some(origin) = header(headers, "origin") {
        let same_host = origin.eq_ignore_ascii_case(&format!("http://{host}"));
        let own_origin = origin
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("http://"))
            .map(|_| split_host(&origin[7..]))
            .is_some_and(|(name, port)| {
                own(&name) && port == Some(config.bound.port().to_string().as_str())
            });
        if !same_host && !own_origin {
            return forbidden(&format!("cross-origin request from {origin:?} refused"));
        }
    }
    match &config.token {
        Some(token)
            if !(bearer_is(headers, token)
                || cookie_is(headers, token)
                || offered.is_some_and(|o| same(o, token))) =>
        {
            Err(Refused(
                StatusCode::UNAUTHORIZED,
                "admin API: Authorization: Bearer <token> required".into(),
            ))
        }
        _ => Ok(()),
    }
}

fn bearer_is(headers: &HeaderMap, token: &str) -> bool {
    header(headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| same(given, token))
}

fn cookie_is(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .any(|(name, value)| name == COOKIE && same(value, token))
}

/// Compares a given token with the expected one in a time that does not
/// depend on where they differ.
pub(crate) fn same(given: &str, token: &str) -> bool {
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A body, when there is one, must be JSON: another declared type is
/// refused (415), even with an empty body, so a cross-site form can send
/// nothing. A request without `Content-Type` (curl, tests) is read.
pub(crate) fn json_body(headers: &HeaderMap) -> Result<(), Refused> {
    let Some(kind) = header(headers, "content-type") else {
        return Ok(());
    };
    let essence = kind.split(';').next().unwrap_or("").trim();
    let json = essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json");
    if json {
        return Ok(());
    }
    Err(Refused(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        format!("admin API: a body must be application/json, not {kind:?}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_split_into_a_lower_case_name_and_a_port() {
        assert_eq!(
            split_host("LOCALHOST:3000"),
            ("localhost".into(), Some("3000"))
        );
        assert_eq!(split_host("[::1]"), ("[::1]".into(), None));
        assert_eq!(split_host("[::1]:80"), ("[::1]".into(), Some("80")));
        assert_eq!(split_host("Example"), ("example".into(), None));
    }

    #[test]
    fn the_cookie_or_the_bearer_carries_the_token() {
        let mut h = HeaderMap::new();
        h.insert("cookie", "a=b; mock_chat_admin=s3cret".parse().unwrap());
        assert!(cookie_is(&h, "s3cret") && !cookie_is(&h, "s3cre"));
        h.insert("authorization", "Bearer t".parse().unwrap());
        assert!(bearer_is(&h, "t") && !bearer_is(&h, "tt"));
    }

    #[test]
    fn only_json_bodies_are_read() {
        let with = |kind: &str| {
            let mut h = HeaderMap::new();
            h.insert("content-type", kind.parse().unwrap());
            h
        };
        assert!(json_body(&with("application/json; charset=utf-8")).is_ok());
        assert!(json_body(&with("application/merge-patch+json")).is_ok());
        assert!(json_body(&HeaderMap::new()).is_ok());
        let refused = json_body(&with("text/plain")).unwrap_err();
        assert_eq!(refused.0, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
