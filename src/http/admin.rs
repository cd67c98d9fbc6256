//! `/__admin/…`: control over HTTP for tests not written in Rust. Off unless
//! enabled; never draws faults; answers JSON, and plain-text errors.
//!
//! It refuses (403) cross-site requests (an `Origin` that is not the
//! server's own) and DNS rebinding (a `Host` that is neither the bound
//! address nor a loopback name), and with a token requires
//! `Authorization: Bearer <token>`.

use std::net::SocketAddr;
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

fn is_loopback_name(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// Refuses cross-site and rebinding shapes, and checks the token.
fn guard(config: &AdminConfig, req: &Request) -> Result<(), Refused> {
    let forbidden = |why: &str| Err(Refused(StatusCode::FORBIDDEN, format!("admin API: {why}")));
    let host = req.header("host").unwrap_or("");
    let bound = config.bound.to_string();
    let open_bind = !config.bound.ip().is_loopback();
    let host_ok = host == bound || is_loopback_name(host) || (open_bind && config.token.is_some());
    if !host_ok {
        return forbidden(&format!(
            "Host {host:?} is neither {bound} nor a loopback name"
        ));
    }
    if let Some(origin) = req.header("origin") {
        if origin != format!("http://{host}") {
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
            let plan = FaultPlan::from_json(&text).map_err(|e| bad(e.to_string()))?;
            app.chaos().set_plan(plan.clone());
            ok_json(&plan)
        }
        (["faults"], &Method::GET) => ok_json(&*app.chaos().plan()),
        (["journal"], &Method::GET) => ok_json(&app.chaos().journal()),
        (["requests"], &Method::GET) => ok_json(&app.records().all()),
        (["diagnostics"], &Method::GET) => ok_json(&app.diagnostics().all()),
        (["seed"], &Method::GET) => {
            let seed = app.chaos().seed();
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
