//! Acting out a chaos decision on a JSON route, as the reference's chaos
//! middleware does: a delay, then a 503 or a 504 or the handler, then
//! another delay (whatever the handler answered); plus this crate's drops
//! and truncations.

use std::sync::Arc;

use warp::http::StatusCode;
use warp::reply::Response;

use super::api::{self, Answer};
use super::request::Request;
use super::response::{
    dropped_connection, empty_ok, json_ok, json_ok_chunked, text_error, truncated,
    CHUNKING_THRESHOLD,
};
use crate::activity::{BusyGuard, Work};
use crate::app::App;
use crate::chaos::engine::RequestLine;
use crate::chaos::{Fault, JsonRoute};

/// A JSON route's response and what happened on the way.
pub(crate) struct Outcome {
    pub(crate) response: Response,
    pub(crate) fault: Option<Fault>,
    /// The status sent, `None` for a dropped connection.
    pub(crate) status: Option<u16>,
    pub(crate) journal_seq: u64,
}

/// Runs a JSON route under its chaos decision. `request_seq` is the
/// request's record.
pub(crate) async fn run(
    app: &Arc<App>,
    req: &Request,
    route: JsonRoute,
    raw_id: &str,
    request_seq: u64,
) -> Outcome {
    let busy = app.activity().start(Work::Request);
    // A test's hold: accepted, then waiting before any fault or commit.
    app.activity().pass(route.route()).await;
    let key = req.header_lossy("idempotency-key");
    let in_flight = match route {
        JsonRoute::PostMessage => {
            app.diagnostics()
                .post_started(key.as_deref(), app.ticker().now(), request_seq)
        }
        _ => None,
    };
    let answered = |_: &Outcome| {
        if let Some(k) = &key {
            if route == JsonRoute::PostMessage {
                app.diagnostics().post_answered(k);
            }
        }
    };
    let out = decide_and_answer(app, req, route, raw_id, request_seq, key.as_deref(), busy).await;
    answered(&out);
    drop(in_flight);
    out
}

async fn decide_and_answer(
    app: &Arc<App>,
    req: &Request,
    route: JsonRoute,
    raw_id: &str,
    request_seq: u64,
    key: Option<&str>,
    busy: BusyGuard,
) -> Outcome {
    let d = app.chaos().decide(
        route,
        RequestLine {
            method: req.method.as_str(),
            path: &req.path_and_query(),
            key,
        },
    );
    let seq = d.seq;
    let done = |response: Response, status: Option<u16>| {
        app.chaos().update(seq, |e| e.status = e.status.or(status));
        Outcome {
            response,
            fault: d.fault,
            status,
            journal_seq: seq,
        }
    };
    app.sleep(d.latency_before).await;
    match d.fault {
        Some(Fault::Unavailable) => {
            return done(
                text_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
                Some(503),
            )
        }
        Some(Fault::Timeout { after }) => {
            app.sleep(after).await;
            return done(
                text_error(StatusCode::GATEWAY_TIMEOUT, "timeout"),
                Some(504),
            );
        }
        Some(Fault::DropBeforeCommit) => return done(dropped_connection(), None),
        _ => {}
    }
    let handled = api::handle(app, req, route, raw_id, request_seq);
    let status = handled.answer.status();
    app.chaos().update(seq, |e| {
        e.status = Some(status.as_u16());
        e.committed = handled.message_id.is_some();
        e.message_id = handled.message_id;
        e.event_ids = handled.event_ids.clone();
    });
    let after = d.latency_after;
    match (d.fault, handled.answer) {
        (Some(Fault::DropAfterCommit), _) => {
            app.sleep(after).await;
            done(dropped_connection(), None)
        }
        (Some(Fault::TruncatedBody), answer) => {
            app.sleep(after).await;
            done(truncated(status, &answer.body()), Some(status.as_u16()))
        }
        (_, Answer::Json(body)) if body.len() > CHUNKING_THRESHOLD => {
            let app = Arc::clone(app);
            let response = json_ok_chunked(body, async move {
                app.sleep(after).await;
                drop(busy);
            });
            done(response, Some(200))
        }
        (_, answer) => {
            app.sleep(after).await;
            let response = match answer {
                Answer::Json(body) => json_ok(body),
                Answer::Empty => empty_ok(),
                Answer::Error(status, message) => text_error(status, &message),
            };
            done(response, Some(status.as_u16()))
        }
    }
}
