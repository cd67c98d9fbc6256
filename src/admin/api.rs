//! The JSON endpoints' handlers: each takes what its filter extracted and
//! answers JSON, or a plain-text error.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use warp::http::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use warp::http::StatusCode;
use warp::reply::Response;

use super::Ctx;
use super::{bad, RawBody, Refused};
use crate::chaos::{Fault, FaultPlan, PlanError, Route};
use crate::model::{Author, ChatId};

/// A JSON answer.
pub(crate) fn ok_json(v: &impl serde::Serialize) -> Response {
    let mut res = Response::new(Bytes::from(serde_json::to_vec(v).unwrap_or_default()).into());
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// A JSON answer offered as a file to save, when the query says
/// `download`.
fn maybe_download(res: Response, query: &str, name: String) -> Response {
    let wanted = query
        .split('&')
        .any(|p| p == "download" || p.starts_with("download="));
    let mut res = res;
    if wanted {
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
            res.headers_mut().insert(CONTENT_DISPOSITION, v);
        }
    }
    res
}

/// The body's bytes, or 413 when it was over the server's limit.
fn bytes(body: &RawBody) -> Result<&[u8], Refused> {
    body.0.as_deref().ok_or_else(|| {
        Refused(
            StatusCode::PAYLOAD_TOO_LARGE,
            "http: request body too large".into(),
        )
    })
}

fn body_json<T: for<'de> Deserialize<'de>>(body: &RawBody) -> Result<T, Refused> {
    serde_json::from_slice(bytes(body)?).map_err(|e| bad(format!("invalid body: {e}")))
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

pub(crate) fn reset(ctx: &Ctx) -> Result<Response, Refused> {
    ctx.holds.clear(ctx);
    ctx.app.reset();
    Ok(ok_json(&json!({"reset": true})))
}

pub(crate) fn add_chat(ctx: &Ctx, body: &RawBody) -> Result<Response, Refused> {
    let NewChat { name } = body_json(body)?;
    Ok(ok_json(&ctx.app.add_chat(name)))
}

pub(crate) fn inject(ctx: &Ctx, id: &str, body: &RawBody) -> Result<Response, Refused> {
    let chat: ChatId = id.parse().map_err(|e| bad(format!("{e}")))?;
    let Inject { author, text } = body_json(body)?;
    let msg = ctx
        .app
        .inject(&chat, author, text)
        .ok_or_else(|| bad(format!("chat not found with ID {id}")))?;
    Ok(ok_json(&msg))
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

pub(crate) fn force(ctx: &Ctx, body: &RawBody) -> Result<Response, Refused> {
    let f: Force = body_json(body)?;
    let fault = parse_fault(f.fault)?;
    ctx.app.force(f.route, fault, f.count).map_err(bad)?;
    Ok(ok_json(
        &json!({"route": f.route, "fault": fault, "queued": f.count}),
    ))
}

/// The plan a `PUT /__admin/faults` body names: a plan, or a preset by
/// name (`"hostile"` or `{"preset": "hostile"}`), as `serve --chaos` takes.
fn plan_of(text: &str) -> Result<FaultPlan, PlanError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Preset {
        preset: String,
    }
    let name = serde_json::from_str::<String>(text)
        .ok()
        .or_else(|| serde_json::from_str::<Preset>(text).ok().map(|p| p.preset));
    match name {
        Some(name) => FaultPlan::preset(&name),
        None => FaultPlan::from_json(text),
    }
}

/// A refused plan: plain text, or, for a client that accepts JSON, the
/// field and the reason apart (the page shows them beside the field).
fn plan_refused(e: &PlanError, wants_json: bool) -> Response {
    let (field, reason) = match e {
        PlanError::Invalid { field, reason } => (Some(field.as_str()), reason.clone()),
        other => (None, other.to_string()),
    };
    if !wants_json {
        return Refused(StatusCode::BAD_REQUEST, e.to_string()).into_response();
    }
    let mut res = ok_json(&json!({"error": e.to_string(), "field": field, "reason": reason}));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    res
}

pub(crate) fn put_plan(ctx: &Ctx, body: &RawBody, accept: Option<&str>) -> Response {
    let text = match bytes(body) {
        Ok(b) => String::from_utf8_lossy(b).into_owned(),
        Err(refused) => return refused.into_response(),
    };
    let wants_json = accept.is_some_and(|a| a.contains("application/json"));
    match plan_of(&text) {
        Err(e) => plan_refused(&e, wants_json),
        Ok(plan) => {
            ctx.app.set_plan(plan.clone());
            ok_json(&plan)
        }
    }
}

pub(crate) fn plan(ctx: &Ctx) -> Response {
    ok_json(&*ctx.app.plan())
}

pub(crate) fn journal(ctx: &Ctx, query: &str) -> Response {
    let name = format!("journal-seed-{}.json", ctx.app.seed());
    maybe_download(ok_json(&ctx.app.journal()), query, name)
}

pub(crate) fn script(ctx: &Ctx, query: &str) -> Response {
    let name = format!("script-seed-{}.json", ctx.app.seed());
    let script = ctx.app.recorded_script();
    let mut res = Response::new(Bytes::from(script.to_json()).into());
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    maybe_download(res, query, name)
}

pub(crate) fn requests(ctx: &Ctx) -> Response {
    ok_json(&ctx.app.requests())
}

/// One request, with its journal entry, by its record's number.
pub(crate) fn request(ctx: &Ctx, seq: &str) -> Result<Response, Refused> {
    let gone = || {
        Refused(
            StatusCode::NOT_FOUND,
            format!("no request {seq:?} recorded"),
        )
    };
    let seq: u64 = seq.parse().map_err(|_| gone())?;
    let found = ctx.app.requests().into_iter().find(|r| r.seq == seq);
    let request = found.ok_or_else(gone)?;
    let journal = request
        .journal_seq
        .and_then(|j| ctx.app.journal().into_iter().find(|e| e.seq == j));
    Ok(ok_json(&json!({"request": request, "journal": journal})))
}

pub(crate) fn diagnostics(ctx: &Ctx) -> Response {
    ok_json(&ctx.app.diagnosed())
}

pub(crate) fn seed(ctx: &Ctx) -> Response {
    let seed = ctx.app.seed();
    ok_json(&json!({"seed": seed, "seed_string": seed.to_string()}))
}

/// Ends (or cuts) the open streams.
pub(crate) fn streams(ctx: &Ctx, cut: bool) -> Response {
    ok_json(&json!({"streams": ctx.app.feed().order_streams(cut)}))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct NewHold {
    viewer: Option<u64>,
}

pub(crate) fn hold(ctx: &Ctx, route: &str, body: &RawBody) -> Result<Response, Refused> {
    let route: Route = serde_json::from_value(Value::from(route))
        .map_err(|_| Refused(StatusCode::NOT_FOUND, format!("no route named {route:?}")))?;
    let NewHold { viewer } = match bytes(body)? {
        [] => NewHold::default(),
        _ => body_json(body)?,
    };
    let id = ctx.holds.create(ctx, route, viewer);
    Ok(ok_json(
        &json!({"id": id, "route": route, "viewer": viewer}),
    ))
}

pub(crate) fn release(ctx: &Ctx, id: &str) -> Result<Response, Refused> {
    let known = id.parse().ok().is_some_and(|id| ctx.holds.release(ctx, id));
    if !known {
        return Err(Refused(
            StatusCode::NOT_FOUND,
            format!("no hold with id {id:?}"),
        ));
    }
    Ok(ok_json(&json!({"released": true})))
}

pub(crate) fn holds(ctx: &Ctx) -> Response {
    ok_json(&ctx.holds.list())
}
