//! The three JSON routes' handlers. Chaos is acted out around them, in
//! [`faults`](super::faults); each handler only asks its request's scope
//! ([`RequestScope`]).

use bytes::Bytes;
use warp::http::StatusCode;

use super::request::{Body, Request};
use super::response::NOT_FOUND_TEXT;
use crate::app::RequestScope;
use crate::chaos::Route;
use crate::store::{PostBody, PostInput, PostOutcome};

/// What a handler answered, before chaos acts on it.
#[derive(Debug)]
pub(crate) enum Answer {
    /// 200 with a JSON body (its trailing newline included).
    Json(Bytes),
    /// 200 with no body (a known idempotency key).
    Empty,
    /// A plain-text error.
    Error(StatusCode, String),
}

impl Answer {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Answer::Json(_) | Answer::Empty => StatusCode::OK,
            Answer::Error(status, _) => *status,
        }
    }

    /// The body bytes this answer carries.
    pub(crate) fn body(&self) -> Bytes {
        match self {
            Answer::Json(b) => b.clone(),
            Answer::Empty => Bytes::new(),
            Answer::Error(_, m) => Bytes::from(format!("{m}\n")),
        }
    }
}

/// Runs the handler of a JSON route; `body` is the request's, as far as it
/// was read. What it stores, the scope keeps for the journal.
pub(crate) fn handle(
    scope: &mut RequestScope,
    req: &Request,
    body: &Body,
    route: Route,
    raw_id: &str,
) -> Answer {
    match route {
        Route::GetChats => Answer::Json(scope.app().chats_body()),
        Route::GetMessages => match scope.app().history_body(raw_id) {
            Ok(body) => Answer::Json(body),
            Err(e) => Answer::Error(StatusCode::BAD_REQUEST, e.to_string()),
        },
        Route::PostMessage => post(scope, req, body, raw_id),
        // The stream is answered by `sse`, never here.
        Route::Events => Answer::Error(StatusCode::NOT_FOUND, NOT_FOUND_TEXT.into()),
    }
}

fn post(scope: &mut RequestScope, req: &Request, body: &Body, raw_id: &str) -> Answer {
    let body = match body {
        Body::Read(b) => PostBody::Read(b),
        Body::TooLarge => PostBody::TooLarge,
        Body::Unread => PostBody::Unread,
    };
    let input = PostInput {
        raw_chat: raw_id,
        key: req.key(),
        body,
    };
    match scope.post(input) {
        PostOutcome::MissingKey => {
            Answer::Error(StatusCode::BAD_REQUEST, "missing idempotency key".into())
        }
        PostOutcome::KnownKey { .. } => Answer::Empty,
        PostOutcome::TooLarge => Answer::Error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "http: request body too large".into(),
        ),
        PostOutcome::BadBody(e) => Answer::Error(StatusCode::BAD_REQUEST, e),
        PostOutcome::BadChat(e) => Answer::Error(StatusCode::BAD_REQUEST, e.to_string()),
        PostOutcome::Stored(c) => Answer::Json(c.message.body()),
    }
}
