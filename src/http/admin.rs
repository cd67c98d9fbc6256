//! `/__admin/…`: control over HTTP for clients not written in Rust.
//! Off unless enabled; admin requests never draw faults.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use super::api::{body_bytes, check_content_type, check_text, resolve_chat};
use super::{json_response, method_not_allowed, not_found, ApiError, Request};
use crate::app::App;
use crate::chaos::{Fault, FaultPlan, Route};
use crate::model::Author;

/// Most faults one `POST /__admin/faults` may queue.
const MAX_FORCED: u32 = 1000;

fn ok_json(v: &impl serde::Serialize) -> Response {
    json_response(
        StatusCode::OK,
        Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
    )
}

fn invalid_body(why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_body", format!("invalid admin request body: {why}"))
}

fn body_json<T: for<'de> Deserialize<'de>>(req: &Request) -> Result<T, ApiError> {
    // Like the public API: a `Content-Type` other than JSON is 415 (so a
    // `curl -d` without `-H 'Content-Type: application/json'` is told why).
    check_content_type(req)?;
    let body = body_bytes(req)?;
    serde_json::from_slice(body).map_err(invalid_body)
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
    count: u32,
}

fn one() -> u32 {
    1
}

/// A fault given as `"unavailable"` or as `{"kind": "timeout", "after_ms": 50}`.
/// `after_ms` defaults to 5000 and `copies` (of `duplicate_event`) to 2.
fn parse_fault(v: Value) -> Result<Fault, ApiError> {
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
    let invalid = |why: String| {
        ApiError::bad_request(
            "invalid_fault",
            format!(
                "invalid fault ({why}); expected one of unavailable, timeout, drop_before_commit, \
                 drop_after_commit, truncated_body, duplicate_event, stream_disconnect, resume_overlap"
            ),
        )
    };
    let fault: Fault = serde_json::from_value(v.clone()).map_err(|e| invalid(e.to_string()))?;
    // serde ignores extra keys next to a unit variant's tag: refuse them here.
    if let (Some(given), Ok(Value::Object(known))) = (v.as_object(), serde_json::to_value(fault)) {
        if let Some(extra) = given.keys().find(|k| !known.contains_key(*k)) {
            return Err(invalid(format!("unknown field `{extra}`")));
        }
    }
    Ok(fault)
}

pub(crate) async fn handle(app: &Arc<App>, req: &Request) -> Response {
    match route(app, req) {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

fn route(app: &Arc<App>, req: &Request) -> Result<Response, ApiError> {
    let rest = req.path.strip_prefix("/__admin").unwrap_or("");
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let m = &req.method;
    Ok(match segments.as_slice() {
        ["reset"] => match *m {
            Method::POST => {
                app.reset();
                ok_json(&json!({"reset": true}))
            }
            _ => method_not_allowed("POST"),
        },
        ["chats"] => match *m {
            Method::POST => {
                let NewChat { name } = body_json(req)?;
                if name.trim().is_empty() || name.chars().count() > 200 {
                    return Err(ApiError::bad_request(
                        "invalid_name",
                        "name must be 1 to 200 characters and not only whitespace",
                    ));
                }
                let chat = app.store.add_chat(name);
                ok_json(&json!({"id": app.store.wire_chat_id(chat.id), "name": chat.name}))
            }
            _ => method_not_allowed("POST"),
        },
        ["chats", id, "messages"] => match *m {
            Method::POST => {
                let chat_id = resolve_chat(app, id)?;
                let Inject { author, text } = body_json(req)?;
                check_text(&text)?;
                let msg = app.inject(chat_id, author, text).ok_or_else(|| {
                    ApiError::new(StatusCode::NOT_FOUND, "chat_not_found", "no such chat")
                })?;
                json_response(StatusCode::OK, msg.json.clone())
            }
            _ => method_not_allowed("POST"),
        },
        ["faults"] => match *m {
            Method::POST => {
                let Force {
                    route,
                    fault,
                    count,
                } = body_json(req)?;
                let fault = parse_fault(fault)?;
                if count == 0 || count > MAX_FORCED {
                    return Err(ApiError::bad_request(
                        "invalid_count",
                        format!("count must be from 1 to {MAX_FORCED}"),
                    ));
                }
                match fault {
                    Fault::DuplicateEvent { copies } => {
                        if copies == 0 || copies > 100 {
                            return Err(ApiError::bad_request(
                                "invalid_fault",
                                "duplicate_event copies must be from 1 to 100",
                            ));
                        }
                        for _ in 0..count {
                            app.chaos.force_duplicates(copies);
                        }
                    }
                    f if f.applies_to(route) => {
                        for _ in 0..count {
                            app.chaos.force(route, f);
                        }
                    }
                    f => {
                        return Err(ApiError::bad_request(
                            "invalid_fault",
                            format!("fault {} does not apply to route {route}", f.name()),
                        ))
                    }
                }
                ok_json(&json!({"route": route, "fault": fault, "queued": count}))
            }
            Method::PUT => {
                let value: Value = body_json(req)?;
                let plan = FaultPlan::from_value(value)
                    .map_err(|e| ApiError::bad_request("invalid_plan", e.to_string()))?;
                app.chaos.set_plan(plan.clone());
                ok_json(&plan)
            }
            Method::GET => ok_json(&*app.chaos.plan()),
            _ => method_not_allowed("GET, POST, PUT"),
        },
        ["journal"] => match *m {
            Method::GET => ok_json(&app.chaos.journal()),
            _ => method_not_allowed("GET"),
        },
        ["requests"] => match *m {
            Method::GET => ok_json(&app.requests()),
            _ => method_not_allowed("GET"),
        },
        ["seed"] => match *m {
            Method::GET => {
                let seed = app.chaos.seed();
                ok_json(&json!({"seed": seed, "seed_string": seed.to_string()}))
            }
            _ => method_not_allowed("GET"),
        },
        _ => not_found(&req.path),
    })
}
