//! The route table: every path and method the API has, in one place. 404,
//! 405 and `Allow` are derived from it, as chi derives them.

use warp::http::Method;

use crate::chaos::{JsonRoute, Route};

/// A path shape of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    /// `/chats`
    Chats,
    /// `/chats/{chat_id}/messages`
    ChatMessages,
    /// `/events` (answers every method, as the reference's `r.Handle`)
    Events,
}

/// One row of the table: a pattern, a method (`None`: any) and the route.
struct Row {
    pattern: Pattern,
    method: Option<Method>,
    route: Route,
}

/// The API, as the reference's chi router declares it.
const TABLE: [Row; 4] = [
    Row {
        pattern: Pattern::Chats,
        method: Some(Method::GET),
        route: Route::GetChats,
    },
    Row {
        pattern: Pattern::ChatMessages,
        method: Some(Method::GET),
        route: Route::GetMessages,
    },
    Row {
        pattern: Pattern::ChatMessages,
        method: Some(Method::POST),
        route: Route::PostMessage,
    },
    Row {
        pattern: Pattern::Events,
        method: None,
        route: Route::Events,
    },
];

/// The methods chi knows; any other gets 405 without `Allow`, on any path.
const KNOWN_METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
];

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    /// A JSON route, with the raw `{chat_id}` segment when it has one.
    Json(JsonRoute, &'a str),
    /// The SSE stream.
    Events,
    /// `/__admin/…` (only when the admin API is on).
    Admin,
    /// No route has this path: 404.
    NotFound,
    /// The path exists, not with this method: 405 with these `Allow` values.
    MethodNotAllowed(Vec<&'static str>),
}

/// The pattern `path` matches, with its `{chat_id}` segment.
fn pattern(path: &str) -> Option<(Pattern, &str)> {
    let rest = path.strip_prefix('/')?;
    let mut parts = rest.split('/');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some("chats"), None, _, _) => Some((Pattern::Chats, "")),
        // chi matches an empty `{chat_id}` too (`/chats//messages`).
        (Some("chats"), Some(id), Some("messages"), None) => Some((Pattern::ChatMessages, id)),
        (Some("events"), None, _, _) => Some((Pattern::Events, "")),
        _ => None,
    }
}

/// Routes a request by method and (decoded) path.
pub(crate) fn classify<'a>(method: &Method, path: &'a str, admin: bool) -> Target<'a> {
    if admin && (path == "/__admin" || path.starts_with("/__admin/")) {
        return Target::Admin;
    }
    if !KNOWN_METHODS.contains(method) {
        return Target::MethodNotAllowed(Vec::new());
    }
    let Some((pattern, id)) = pattern(path) else {
        return Target::NotFound;
    };
    let rows = TABLE.iter().filter(|r| r.pattern == pattern);
    let mut allowed = Vec::new();
    for row in rows {
        match &row.method {
            Some(m) if m != method => allowed.push(m.as_str()),
            _ => {
                return match row.route.json() {
                    Some(json) => Target::Json(json, id),
                    None => Target::Events,
                }
            }
        }
    }
    Target::MethodNotAllowed(allowed)
}

/// The route a request is for, whatever its method (for records).
pub(crate) fn route_of(method: &Method, path: &str) -> Option<Route> {
    match classify(method, path, false) {
        Target::Json(r, _) => Some(r.route()),
        Target::Events => Some(Route::Events),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_routes_as_chi_does() {
        let id = "0b8a3c62-5a8e-4d0f-9d6e-2f1c3b4a5d6e";
        let path = format!("/chats/{id}/messages");
        assert_eq!(
            classify(&Method::GET, "/chats", false),
            Target::Json(JsonRoute::GetChats, "")
        );
        assert_eq!(
            classify(&Method::POST, &path, false),
            Target::Json(JsonRoute::PostMessage, id)
        );
        assert_eq!(
            classify(&Method::POST, "/chats", false),
            Target::MethodNotAllowed(vec!["GET"])
        );
        assert_eq!(
            classify(&Method::HEAD, &path, false),
            Target::MethodNotAllowed(vec!["GET", "POST"])
        );
        assert_eq!(classify(&Method::DELETE, "/events", false), Target::Events);
        let foo = Method::from_bytes(b"FOO").unwrap();
        assert_eq!(
            classify(&foo, "/nowhere", false),
            Target::MethodNotAllowed(vec![])
        );
        assert_eq!(classify(&Method::GET, "/chats/", false), Target::NotFound);
        assert_eq!(
            classify(&Method::GET, "/__admin/seed", false),
            Target::NotFound
        );
        assert_eq!(classify(&Method::GET, "/__admin/seed", true), Target::Admin);
        assert_eq!(route_of(&Method::PUT, "/chats"), None);
    }
}
