//! The three JSON routes' handlers. Chaos is acted out around them, in
//! [`faults`](super::faults); each handler only asks [`App`].

use std::sync::Arc;

use bytes::Bytes;
use warp::http::StatusCode;

use super::request::{Body, Request};
use crate::app::App;
use crate::chaos::Route;
use crate::model::MessageId;
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

/// A handler's answer and what it did.
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) answer: Answer,
    pub(crate) message_id: Option<MessageId>,
    pub(crate) event_ids: Vec<u64>,
}

impl From<Answer> for Handled {
    fn from(answer: Answer) -> Self {
        Handled {
            answer,
            message_id: None,
            event_ids: Vec::new(),
        }
    }
}

/// Runs the handler of a JSON route; `body` is the request's, as far as it
/// was read.
pub(crate) fn handle(
    app: &Arc<App>,
    req: &Request,
    body: &Body,
    route: Route,
    raw_id: &str,
    request_seq: u64,
) -> Handled {
    match route {
        Route::GetChats => Answer::Json(app.chats_body()).into(),
        Route::GetMessages => match app.history_body(raw_id) {
            Ok(body) => Answer::Json(body).into(),
            Err(e) => Answer::Error(StatusCode::BAD_REQUEST, e.to_string()).into(),
        },
        Route::PostMessage => post_message(app, req, body, raw_id, request_seq),
        // The stream is answered by `sse`, never here.
        Route::Events => Answer::Error(StatusCode::NOT_FOUND, "404 page not found".into()).into(),
    }
}

/// A POST's `Idempotency-Key`, as the handler reads it (the first one):
/// its raw bytes, UTF-8 or not, as Go's `Header.Get` returns them.
pub(crate) fn post_key(req: &Request) -> Option<&[u8]> {
    req.headers.get("idempotency-key").map(|v| v.as_bytes())
}

fn post_message(
    app: &Arc<App>,
    req: &Request,
    body: &Body,
    raw_id: &str,
    request_seq: u64,
) -> Handled {
    let body = match body {
        Body::Read(b) => PostBody::Read(b),
        Body::TooLarge => PostBody::TooLarge,
        Body::Unread => PostBody::Unread,
    };
    let input = PostInput {
        raw_chat: raw_id,
        key: post_key(req),
        body,
    };
    let (outcome, event_ids) = app.post_message(input, request_seq);
    let answer = match outcome {
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
        PostOutcome::Stored(c) => {
            return Handled {
                answer: Answer::Json(c.message.body()),
                message_id: Some(c.message.id),
                event_ids,
            };
        }
    };
    answer.into()
}
