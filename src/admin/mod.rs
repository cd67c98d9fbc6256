//! `/__admin/…`: the crate's own surface, off unless enabled: the JSON API
//! for tests not written in Rust, the dashboard page and its assets, and
//! the live feed. It has no Go bytes to match, so it is served through
//! warp's filters ([`routes`]); the reference's routes stay on the
//! byte-exact path of [`crate::http`], which hands `/__admin…` requests
//! here ([`Admin::answer`]).
//!
//! It never draws faults and is never recorded. It sends no CORS headers
//! and refuses (403) cross-site requests and DNS rebinding; with a token it
//! requires `Authorization: Bearer <token>` or the page's cookie
//! ([`guard`]). Every answer carries `Referrer-Policy: no-referrer`;
//! errors are plain text.
//!
//! - [`guard`]: Host, Origin, token and cookie, content type;
//! - [`routes`]: the filters, one per path;
//! - [`api`]: the JSON endpoints' handlers;
//! - [`catalogue`]: the route and fault tables as JSON, for the page;
//! - [`holds`]: holds made over HTTP, released with their viewer;
//! - [`page`]: the page, its assets and the token exchange;
//! - [`live`]: `GET /__admin/live`, the live feed (format version
//!   [`crate::feed::VERSION`]; its frames are documented there and in
//!   `src/docs/admin.md`).

mod api;
mod catalogue;
mod guard;
mod holds;
mod live;
mod page;
mod routes;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use tower_service::Service;
use warp::filters::BoxedFilter;
use warp::http::header::{HeaderValue, CACHE_CONTROL, DATE};
use warp::http::{HeaderMap, Method, StatusCode, Uri};
use warp::reply::Response;

use crate::app::App;
use crate::http::response::{date, not_found, text_error};

/// How the admin API is guarded.
#[derive(Debug, Clone)]
pub(crate) struct AdminConfig {
    /// The address the server is bound to.
    pub(crate) bound: SocketAddr,
    /// A bearer token every admin request must carry.
    pub(crate) token: Option<String>,
    /// The host names (lower case, IPv6 in brackets) under which the server
    /// is its own: see [`own_names`].
    pub(crate) names: Vec<String>,
}

impl AdminConfig {
    /// The guard of a server bound to `bound`.
    pub(crate) fn new(bound: SocketAddr, token: Option<String>) -> Self {
        AdminConfig {
            bound,
            token,
            names: own_names(bound.ip(), lan_ip()),
        }
    }
}

/// The names a server bound to `ip` is reached by, as its banner prints
/// them: the loopback names, the Android emulator's `10.0.2.2`, the bound
/// address itself, and, bound to every interface, this machine's address
/// on the local network.
pub(crate) fn own_names(ip: IpAddr, lan: Option<IpAddr>) -> Vec<String> {
    let mut names: Vec<String> = ["localhost", "127.0.0.1", "[::1]"].map(String::from).into();
    let literal = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    // The Android emulator's name for the host's loopback, which the
    // banner prints beside `localhost` (an address: no DNS to rebind).
    if ip.is_unspecified() || ip == IpAddr::from([127, 0, 0, 1]) {
        names.push("10.0.2.2".to_string());
    }
    let own = if ip.is_unspecified() { lan } else { Some(ip) };
    if let Some(name) = own.map(literal) {
        // Another loopback address (127.0.0.2) is a name of its own.
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// This machine's address on the local network, if it has one: the source
/// address of a route to a documentation address (a UDP `connect` sends no
/// packet).
pub(crate) fn lan_ip() -> Option<IpAddr> {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    socket.connect("192.0.2.1:9").ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// An admin error: a status and a plain-text message.
#[derive(Debug)]
pub(crate) struct Refused(pub(crate) StatusCode, pub(crate) String);

impl Refused {
    fn into_response(self) -> Response {
        text_error(self.0, &self.1)
    }
}

/// A 400 with this message.
fn bad(message: impl Into<String>) -> Refused {
    Refused(StatusCode::BAD_REQUEST, message.into())
}

/// What every handler may use.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) app: Arc<App>,
    pub(crate) holds: holds::Holds,
}

/// An admin request as the HTTP layer read it.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) method: Method,
    /// The decoded path.
    pub(crate) path: String,
    pub(crate) query: Option<String>,
    /// An absolute-form target's authority.
    pub(crate) authority: Option<String>,
    pub(crate) headers: HeaderMap,
    /// The body, or `None` when it was over the server's limit.
    pub(crate) body: Option<Bytes>,
}

/// The body of an admin request, handed to the filters as an extension
/// (the HTTP layer has read it, within the server's limit).
#[derive(Debug, Clone)]
pub(crate) struct RawBody(pub(crate) Option<Bytes>);

/// The admin surface of one server: its filters, built once.
#[derive(Clone)]
pub(crate) struct Admin {
    config: Arc<AdminConfig>,
    filter: BoxedFilter<(Response,)>,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// The admin surface of `app`, guarded by `config`.
    pub(crate) fn new(app: &Arc<App>, config: AdminConfig) -> Self {
        let config = Arc::new(config);
        Admin {
            filter: routes::all(Arc::clone(app)),
            config,
        }
    }

    /// Answers an admin request: the guard, then the filters.
    pub(crate) async fn answer(&self, req: Incoming) -> Response {
        // Only the page's own URL may carry the token, once.
        let offered = (req.method == Method::GET && req.path == page::PAGE)
            .then(|| page::offered_token(req.query.as_deref()))
            .flatten();
        let checked = guard::check(
            &self.config,
            req.authority.as_deref(),
            &req.headers,
            offered,
        )
        .and_then(|()| guard::json_body(&req.headers));
        let mut res = match checked {
            Err(refused) => refused.into_response(),
            Ok(()) => self.route(req).await,
        };
        let h = res.headers_mut();
        h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
        if !h.contains_key(CACHE_CONTROL) {
            h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        if !h.contains_key(DATE) {
            h.insert(DATE, date());
        }
        res
    }

    async fn route(&self, req: Incoming) -> Response {
        let target = match &req.query {
            Some(q) => format!("{}?{q}", req.path),
            None => req.path.clone(),
        };
        // A decoded path that is no longer a valid target names no admin
        // endpoint.
        let Ok(uri) = target.parse::<Uri>() else {
            return not_found();
        };
        let mut http = warp::http::Request::new(String::new());
        *http.method_mut() = req.method;
        *http.uri_mut() = uri;
        *http.headers_mut() = req.headers;
        http.extensions_mut().insert(RawBody(req.body));
        let mut service = warp::service(self.filter.clone());
        match service.call(http).await {
            Ok(res) => res,
            Err(never) => match never {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_its_own_under_the_names_its_banner_prints() {
        let lan: IpAddr = [192, 0, 2, 2].into();
        let loopback = ["localhost", "127.0.0.1", "[::1]", "10.0.2.2"];
        assert_eq!(own_names([127, 0, 0, 1].into(), Some(lan)), loopback);
        assert_eq!(
            own_names([0, 0, 0, 0].into(), Some(lan)),
            ["localhost", "127.0.0.1", "[::1]", "10.0.2.2", "192.0.2.2"]
        );
        assert_eq!(own_names([0, 0, 0, 0].into(), None), loopback);
        assert_eq!(
            own_names([127, 0, 0, 2].into(), None),
            ["localhost", "127.0.0.1", "[::1]", "127.0.0.2"]
        );
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(own_names(v6, None)[3], "[2001:db8::1]");
    }
}
