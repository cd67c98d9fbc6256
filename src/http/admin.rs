//! `/__admin/…`: control over HTTP for tests not written in Rust. Off unless
//! enabled; never draws faults; answers JSON, and plain-text errors.
//!
//! It sends no CORS headers and refuses (403) cross-site requests (an
//! `Origin` that is not the server's own) and DNS rebinding (a host that
//! is not one of the server's own names, see [`own_names`]); with a token
//! it requires `Authorization: Bearer <token>`, and beyond loopback the
//! token is what guards it (see [`guard`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use warp::http::header::{HeaderValue, CONTENT_TYPE};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::request::{Body, Request};
use super::response::{method_not_allowed, not_found, text_error};
use crate::app::App;
use crate::chaos::{Fault, FaultPlan, Route};
use crate::model::{Author, ChatId};

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
struct Refused(StatusCode, String);

fn bad(message: impl Into<String>) -> Refused {
    Refused(StatusCode::BAD_REQUEST, message.into())
}

fn ok_json(v: &impl serde::Serialize) -> Response {
    let mut res = Response::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()).into());
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn body_json<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, Refused> {
    let bytes: &[u8] = match &req.body {
        Body::Read(b) => b,
        // The admin API always reads its bodies.
        Body::Unread => &[],
        Body::TooLarge => {
            return Err(Refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "http: request body too large".into(),
            ))
        }
    };
    serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid body: {e}")))
}

/// `host` (a `Host` value or a target's authority) split into its name,
/// lower-cased, and its port.
fn split_host(host: &str) -> (String, Option<&str>) {
    let (name, port) = match host.rsplit_once(':') {
        // `[::1]` alone has colons but no port.
        Some((name, port)) if !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    (name.to_ascii_lowercase(), port)
}

/// Refuses cross-site and rebinding shapes, and checks the token.
///
/// - The host (an absolute-form target's authority, else `Host`) must be
///   one of the server's own names, compared case-insensitively; bound
///   beyond loopback with a token, any host is accepted (the token is the
///   guard there: a client on the network can send any `Host`).
/// - An `Origin`, when sent, must be the server's own: `http://` and one of
///   its names with its port, or the very host the request was sent to.
fn guard(config: &AdminConfig, req: &Request) -> Result<(), Refused> {
    let forbidden = |why: &str| Err(Refused(StatusCode::FORBIDDEN, format!("admin API: {why}")));
    let host = match &req.authority {
        // Go takes the host of `http://user@host/`, not the user.
        Some(authority) => authority.rsplit('@').next().unwrap_or(""),
        None => req.header("host").unwrap_or(""),
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
    if let Some(origin) = req.header("origin") {
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
    if let Some(token) = &config.token {
        let expected = format!("Bearer {token}");
        if req.header("authorization") != Some(expected.as_str()) {
            return Err(Refused(
                StatusCode::UNAUTHORIZED,
                "admin API: Authorization: Bearer <token> required".into(),
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewChat {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Inject {
    #[serde(default = "bot")]
    author: Author,
    text: String,
}

fn bot() -> Author {
    Author::Bot
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Force {
    route: Route,
    fault: Value,
    #[serde(default = "one")]
    count: usize,
}

fn one() -> usize {
    1
}

/// A fault given as `"unavailable"` or `{"kind": "timeout", "after_ms": 50}`;
/// `after_ms` defaults to 5000 and `copies` (of `duplicate_event`) to 2.
fn parse_fault(v: Value) -> Result<Fault, Refused> {
    let mut v = match v {
        Value::String(kind) => json!({ "kind": kind }),
        other => other,
    };
    if let Some(obj) = v.as_object_mut() {
        match obj.get("kind").and_then(Value::as_str) {
            Some("timeout") if !obj.contains_key("after_ms") => {
                obj.insert("after_ms".into(), json!(5000));
            }
            Some("duplicate_event") if !obj.contains_key("copies") => {
                obj.insert("copies".into(), json!(2));
            }
            _ => {}
        }
    }
    serde_json::from_value(v).map_err(|e| {
        bad(format!(
            "invalid fault ({e}); expected one of {}",
            Fault::NAMES
        ))
    })
}

fn force(app: &App, f: Force) -> Result<Response, Refused> {
    let fault = parse_fault(f.fault)?;
    app.force(f.route, fault, f.count).map_err(bad)?;
    Ok(ok_json(
        &json!({"route": f.route, "fault": fault, "queued": f.count}),
    ))
}

/// The plan a `PUT /__admin/faults` body names: a plan, or a preset by
/// name (`"hostile"` or `{"preset": "hostile"}`), as `serve --chaos` takes.
fn plan_of(text: &str) -> Result<FaultPlan, Refused> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Preset {
        preset: String,
    }
    let name = serde_json::from_str::<String>(text)
        .ok()
        .or_else(|| serde_json::from_str::<Preset>(text).ok().map(|p| p.preset));
    match name {
        Some(name) => FaultPlan::preset(&name).map_err(|e| bad(e.to_string())),
        None => FaultPlan::from_json(text).map_err(|e| bad(e.to_string())),
    }
}

/// Answers an admin request.
pub(crate) fn handle(app: &Arc<App>, config: &AdminConfig, req: &Request) -> Response {
    match route(app, config, req) {
        Ok(res) => res,
        Err(Refused(status, message)) => text_error(status, &message),
    }
}

fn route(app: &Arc<App>, config: &AdminConfig, req: &Request) -> Result<Response, Refused> {
    guard(config, req)?;
    let rest = req.path.strip_prefix("/__admin").unwrap_or("");
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let m = &req.method;
    Ok(match (segments.as_slice(), m) {
        (["reset"], &Method::POST) => {
            app.reset();
            ok_json(&json!({"reset": true}))
        }
        (["chats"], &Method::POST) => {
            let NewChat { name } = body_json(req)?;
            ok_json(&app.add_chat(name))
        }
        (["chats", id, "messages"], &Method::POST) => {
            let chat: ChatId = id.parse().map_err(|e| bad(format!("{e}")))?;
            let Inject { author, text } = body_json(req)?;
            let msg = app
                .inject(&chat, author, text)
                .ok_or_else(|| bad(format!("chat not found with ID {id}")))?;
            ok_json(&msg)
        }
        (["faults"], &Method::POST) => force(app, body_json(req)?)?,
        (["faults"], &Method::PUT) => {
            let text = match &req.body {
                Body::Read(b) => String::from_utf8_lossy(b).into_owned(),
                Body::TooLarge | Body::Unread => String::new(),
            };
            let plan = plan_of(&text)?;
            app.set_plan(plan.clone());
            ok_json(&plan)
        }
        (["faults"], &Method::GET) => ok_json(&*app.plan()),
        (["journal"], &Method::GET) => ok_json(&app.journal()),
        (["requests"], &Method::GET) => ok_json(&app.requests()),
        (["diagnostics"], &Method::GET) => ok_json(&app.diagnosed()),
        (["seed"], &Method::GET) => {
            let seed = app.seed();
            ok_json(&json!({"seed": seed, "seed_string": seed.to_string()}))
        }
        (["reset"], _) | (["chats"], _) | (["chats", _, "messages"], _) => {
            method_not_allowed(&["POST"], false)
        }
        (["faults"], _) => method_not_allowed(&["GET", "POST", "PUT"], false),
        (["journal"], _) | (["requests"], _) | (["seed"], _) | (["diagnostics"], _) => {
            method_not_allowed(&["GET"], false)
        }
        _ => not_found(),
    })
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
}
