//! Acting out a chaos decision on a JSON route, as the reference's chaos
//! middleware does: a delay, then a 503 or a 504 or the handler, then
//! another delay (whatever the handler answered); plus this crate's drops
//! and truncations.

use std::sync::Arc;
use std::time::Duration;

use warp::http::StatusCode;
use warp::reply::Response;

use super::api::{self, Answer};
use super::request::{Body, Pending, Request};
use super::response::{
    dropped_connection, empty_ok, go_early_bytes, json_ok, json_ok_chunked, text_error, truncated,
    CHUNKING_THRESHOLD,
};
use crate::activity::{BusyGuard, Work};
use crate::app::App;
use crate::chaos::engine::RequestLine;
use crate::chaos::{Fault, JsonRoute};
use crate::records::clip;
use crate::wire;

/// A JSON route's response and what happened on the way.
pub(crate) struct Outcome {
    pub(crate) response: Response,
    pub(crate) fault: Option<Fault>,
    /// The status sent, `None` for a dropped connection.
    pub(crate) status: Option<u16>,
    pub(crate) journal_seq: u64,
    /// A body the client was to send after `100 Continue` was never asked
    /// for, or one refused for its size.
    pub(crate) body_left_unread: bool,
}

/// One JSON request, as the chaos around its handler sees it.
struct Call<'a> {
    req: &'a Request,
    route: JsonRoute,
    raw_id: &'a str,
    /// The request's record.
    request_seq: u64,
    /// The key as shown (for the journal).
    key: Option<&'a str>,
}

/// Runs a JSON route under its chaos decision. `request_seq` is the
/// request's record; `pending`, a POST body left unread for a client that
/// waits for `100 Continue`.
pub(crate) async fn run(
    app: &Arc<App>,
    req: &Request,
    route: JsonRoute,
    raw_id: &str,
    request_seq: u64,
    pending: Option<Pending>,
) -> Outcome {
    let busy = app.activity().start(Work::Request);
    // A test's hold: accepted, then waiting before any fault or commit.
    app.activity().pass(route.route()).await;
    // Diagnostics follow the key's bytes; the journal shows it.
    let key = api::post_key(req);
    let shown = key.map(|k| clip(&wire::go_lossy(k)));
    let in_flight = match route {
        JsonRoute::PostMessage => {
            app.diagnostics()
                .post_started(key, app.ticker().now(), request_seq)
        }
        _ => None,
    };
    let call = Call {
        req,
        route,
        raw_id,
        request_seq,
        key: shown.as_deref(),
    };
    let out = decide_and_answer(app, &call, pending, busy).await;
    if let Some(in_flight) = in_flight {
        in_flight.answered(out.fault);
    }
    out
}

async fn decide_and_answer(
    app: &Arc<App>,
    call: &Call<'_>,
    mut pending: Option<Pending>,
    busy: BusyGuard,
) -> Outcome {
    let req = call.req;
    let d = app.chaos().decide(
        call.route,
        RequestLine {
            method: req.method.as_str(),
            path: req.path_and_query(),
            key: call.key,
        },
    );
    let done = |(response, status): (Response, Option<u16>), unread: bool| Outcome {
        response,
        fault: d.fault,
        status,
        journal_seq: d.seq,
        body_left_unread: unread,
    };
    app.sleep(d.latency_before).await;
    if let Some(refused) = before_handler(app, d.fault).await {
        // What the client got instead of the handler's answer.
        app.chaos().update(d.seq, |e| e.status = refused.1);
        return done(refused, pending.is_some());
    }
    let read;
    let body = match pending.take() {
        Some(body) if app.post_reads_body(api::post_key(req)) => {
            read = body.read(&req.headers).await;
            app.records()
                .update(call.request_seq, |r| r.body = read.recorded());
            &read
        }
        unread => {
            pending = unread;
            &req.body
        }
    };
    // A body refused for its size is left (partly) unread too.
    let too_large = matches!(body, Body::TooLarge);
    let handled = api::handle(app, req, body, call.route, call.raw_id, call.request_seq);
    // The journal holds the handler's status, whatever a fault then does.
    app.chaos().update(d.seq, |e| {
        e.status = Some(handled.answer.status().as_u16());
        e.committed = handled.message_id.is_some();
        e.message_id = handled.message_id;
        e.event_ids = handled.event_ids.clone();
    });
    let answer = after_handler(app, d.fault, d.latency_after, handled.answer, busy).await;
    done(answer, pending.is_some() || too_large)
}

/// The faults that answer instead of the handler (the reference's 503 and
/// 504, and a drop before commit).
async fn before_handler(app: &App, fault: Option<Fault>) -> Option<(Response, Option<u16>)> {
    match fault {
        Some(Fault::Unavailable) => Some((
            text_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Some(503),
        )),
        Some(Fault::Timeout { after }) => {
            app.sleep(after).await;
            Some((
                text_error(StatusCode::GATEWAY_TIMEOUT, "timeout"),
                Some(504),
            ))
        }
        Some(Fault::DropBeforeCommit) => Some((dropped_connection(), None)),
        _ => None,
    }
}

/// The handler's answer after the second delay, as Go frames it (a large
/// body goes out before the delay), or a fault acting on it.
async fn after_handler(
    app: &Arc<App>,
    fault: Option<Fault>,
    after: Duration,
    answer: Answer,
    busy: BusyGuard,
) -> (Response, Option<u16>) {
    let status = answer.status();
    match (fault, answer) {
        (Some(Fault::DropAfterCommit), _) => {
            app.sleep(after).await;
            (dropped_connection(), None)
        }
        (Some(Fault::TruncatedBody), answer) => {
            app.sleep(after).await;
            (truncated(status, &answer.body()), Some(status.as_u16()))
        }
        (_, Answer::Json(body)) if body.len() > CHUNKING_THRESHOLD => {
            // Chunked, as Go sends it; what Go's connection buffer holds
            // back goes out after the delay.
            let early = go_early_bytes(body.len());
            if early == 0 {
                app.sleep(after).await;
            }
            let app = Arc::clone(app);
            let response = json_ok_chunked(body, early, async move {
                if early > 0 {
                    app.sleep(after).await;
                }
                drop(busy);
            });
            (response, Some(200))
        }
        (_, answer) => {
            app.sleep(after).await;
            let response = match answer {
                Answer::Json(body) => json_ok(body),
                Answer::Empty => empty_ok(),
                Answer::Error(status, message) => text_error(status, &message),
            };
            (response, Some(status.as_u16()))
        }
    }
}
