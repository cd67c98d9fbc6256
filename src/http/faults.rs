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
use super::Served;
use crate::activity::BusyGuard;
use crate::app::{App, RequestScope};
use crate::chaos::engine::RequestLine;
use crate::chaos::{Fault, Route};
use crate::records::shown;

/// Runs a JSON route under its chaos decision; `pending`, a body left
/// unread for a client that waits for `100 Continue`.
pub(crate) async fn run(
    scope: &mut RequestScope,
    req: &Request,
    route: Route,
    raw_id: &str,
    pending: Option<Pending>,
) -> Served {
    scope.start_work();
    // A test's hold: accepted, then waiting before any fault or commit.
    scope.pass_hold().await;
    if route.spec().reads_body {
        // Diagnostics follow the key's bytes.
        scope.post_started(req.key());
    }
    let out = decide_and_answer(scope, req, route, raw_id, pending).await;
    scope.answered();
    out
}

async fn decide_and_answer(
    scope: &mut RequestScope,
    req: &Request,
    route: Route,
    raw_id: &str,
    mut pending: Option<Pending>,
) -> Served {
    // The journal shows the key.
    let key = req.key().map(shown);
    let d = scope.decide(
        route,
        RequestLine {
            method: req.method.as_str(),
            path: req.path_and_query(),
            key: key.as_deref(),
        },
    );
    let done = |(response, status): (Response, Option<u16>), unread: bool| Served {
        response,
        status,
        body_left_unread: unread,
    };
    scope.sleep(d.latency_before).await;
    if let Some(refused) = before_handler(scope.app(), d.fault).await {
        // What the client got instead of the handler's answer.
        scope.journal_refused(refused.1);
        drop(scope.take_busy());
        return done(refused, pending.is_some());
    }
    let read;
    let body = match pending.take() {
        Some(body) if scope.app().post_reads_body(req.key()) => {
            read = body.read(&req.headers).await;
            scope.record_body(read.recorded());
            &read
        }
        unread => {
            pending = unread;
            &req.body
        }
    };
    // A body refused for its size is left (partly) unread too.
    let too_large = matches!(body, Body::TooLarge);
    let answer = api::handle(scope, req, body, route, raw_id);
    // The journal holds the handler's status, whatever a fault then does.
    scope.journal_handled(answer.status().as_u16());
    let busy = scope.take_busy();
    let answer = after_handler(scope.app(), d.fault, d.latency_after, answer, busy).await;
    done(answer, pending.is_some() || too_large)
}

/// The faults that answer instead of the handler (the reference's 503 and
/// 504, and a drop before commit).
async fn before_handler(app: &App, fault: Option<Fault>) -> Option<(Response, Option<u16>)> {
    match fault {
        Some(Fault::Unavailable) => Some((
            text_error(StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Some(StatusCode::SERVICE_UNAVAILABLE.as_u16()),
        )),
        Some(Fault::Timeout { after }) => {
            app.sleep(after).await;
            Some((
                text_error(StatusCode::GATEWAY_TIMEOUT, "timeout"),
                Some(StatusCode::GATEWAY_TIMEOUT.as_u16()),
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
    busy: Option<BusyGuard>,
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
