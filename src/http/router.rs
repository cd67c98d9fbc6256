//! Routing by the route table (each route's method and path pattern, see
//! [`Route`]): 404, 405 and `Allow` are derived from it, as chi derives
//! them.

use warp::http::Method;

use crate::chaos::Route;

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
    /// A route, with the raw `{chat_id}` segment when it has one.
    Route(Route, &'a str),
    /// `/__admin/…` (only when the admin API is on).
    Admin,
    /// No route has this path: 404.
    NotFound,
    /// The path exists, not with this method: 405 with these `Allow` values.
    MethodNotAllowed(Vec<&'static str>),
}

/// Whether `path` has the shape of `pattern`, and its `{…}` segment (chi
/// matches an empty one too: `/chats//messages`).
fn matches<'a>(pattern: &str, path: &'a str) -> Option<&'a str> {
    let (mut want, mut got) = (pattern.split('/'), path.split('/'));
    let mut param = "";
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(param),
            (Some(w), Some(g)) if w.starts_with('{') => param = g,
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
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
    let mut found = false;
    let mut allowed = Vec::new();
    for route in Route::ALL {
        let spec = route.spec();
        let Some(param) = matches(spec.path, path) else {
            continue;
        };
        found = true;
        match spec.method {
            Some(m) if m != method.as_str() => allowed.push(m),
            _ => return Target::Route(route, param),
        }
    }
    match found {
        true => Target::MethodNotAllowed(allowed),
        false => Target::NotFound,
    }
}

impl Target<'_> {
    /// The route the request is for (for records): `None` for the router's
    /// own 404 and 405, and for the admin API.
    pub(crate) fn route(&self) -> Option<Route> {
        match self {
            Target::Route(route, _) => Some(*route),
            _ => None,
        }
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
            Target::Route(Route::GetChats, "")
        );
        assert_eq!(
            classify(&Method::POST, &path, false),
            Target::Route(Route::PostMessage, id)
        );
        assert_eq!(
            classify(&Method::POST, "/chats", false),
            Target::MethodNotAllowed(vec!["GET"])
        );
        assert_eq!(
            classify(&Method::HEAD, &path, false),
            Target::MethodNotAllowed(vec!["GET", "POST"])
        );
        assert_eq!(
            classify(&Method::DELETE, "/events", false),
            Target::Route(Route::Events, "")
        );
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
        assert_eq!(classify(&Method::PUT, "/chats", false).route(), None);
        assert_eq!(classify(&Method::GET, "chats", false), Target::NotFound);
        assert_eq!(
            classify(&Method::GET, "/chats//messages", false),
            Target::Route(Route::GetMessages, "")
        );
    }
}
