//! `GET /events?stream=messages`: the SSE stream, framed by warp's SSE support.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::stream;
use tokio::sync::{broadcast, watch};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::sse::Event as SseEvent;
use warp::Reply;

use super::{ApiError, Request};
use crate::app::{App, Epoch};
use crate::chaos::Fault;
use crate::events::{Event, Start};
use crate::model::Replay;

/// Why a stream was cut: the error that makes hyper abort the connection.
#[derive(Debug, thiserror::Error)]
enum Cut {
    #[error("stream cut by an injected fault")]
    Injected,
    #[error("subscriber fell too far behind and was disconnected")]
    Lagged,
}

/// Parses `Last-Event-ID` (header first, then `last_event_id` query).
/// Empty counts as absent.
fn last_event_id(req: &Request) -> Result<Option<u64>, ApiError> {
    let raw = match req.header_str("last-event-id") {
        Some(Ok(v)) if !v.trim().is_empty() => Some(v.trim()),
        Some(Err(())) => {
            return Err(ApiError::bad_request(
                "invalid_last_event_id",
                "Last-Event-ID must be an event id (a non-negative integer)",
            ))
        }
        _ => req.query_param("last_event_id").filter(|v| !v.is_empty()),
    };
    match raw {
        None => Ok(None),
        Some(v) if v.bytes().all(|b| b.is_ascii_digit()) => v.parse().map(Some).map_err(|_| {
            ApiError::bad_request(
                "invalid_last_event_id",
                format!("Last-Event-ID {v:?} is out of range"),
            )
        }),
        Some(v) => Err(ApiError::bad_request(
            "invalid_last_event_id",
            format!("Last-Event-ID must be an event id (a non-negative integer), got {v:?}"),
        )),
    }
}

struct State {
    retry: Option<Duration>,
    backlog: VecDeque<Event>,
    live: broadcast::Receiver<Event>,
    epoch: watch::Receiver<Epoch>,
    delivered: u64,
    disconnect_after: Option<u64>,
    done: bool,
}

fn frame(e: &Event) -> SseEvent {
    SseEvent::default()
        .id(e.id.to_string())
        .data(String::from_utf8_lossy(&e.message.json).into_owned())
}

async fn next(mut st: State) -> Option<(Result<SseEvent, Cut>, State)> {
    if st.done {
        return None;
    }
    if let Some(retry) = st.retry.take() {
        return Some((Ok(SseEvent::default().retry(retry)), st));
    }
    if st.disconnect_after == Some(st.delivered) {
        st.done = true;
        // Pending once first, so hyper flushes the event it just buffered:
        // an error on this very poll would abort the connection with the
        // event still unsent, and the client would never see it.
        tokio::task::yield_now().await;
        return Some((Err(Cut::Injected), st));
    }
    let event = match st.backlog.pop_front() {
        Some(e) => e,
        None => {
            tokio::select! {
                biased;
                _ = st.epoch.changed() => return None,
                r = st.live.recv() => match r {
                    Ok(e) => e,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        st.done = true;
                        return Some((Err(Cut::Lagged), st));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    };
    st.delivered += 1;
    Some((Ok(frame(&event)), st))
}

pub(crate) fn handle(app: &Arc<App>, req: &Request) -> (Response, Option<Fault>) {
    // `?stream=` with no value names no stream: same as leaving it out.
    match req.query_param("stream").filter(|s| !s.is_empty()) {
        None => {
            let e = ApiError::bad_request(
                "missing_stream",
                "add ?stream=messages to subscribe to the message stream",
            );
            return (e.into_response(), None);
        }
        Some("messages") => {}
        Some(other) => {
            let e = ApiError::new(
                StatusCode::NOT_FOUND,
                "stream_not_found",
                format!("no stream named {other:?}; the only stream is \"messages\""),
            );
            return (e.into_response(), None);
        }
    }
    let last_id = match last_event_id(req) {
        Ok(v) => v,
        Err(e) => return (e.into_response(), None),
    };
    let d = app
        .chaos
        .decide_stream(&req.path_and_query(), last_id.is_some());
    let start = match (last_id, app.replay()) {
        (Some(id), _) => Start::After {
            id,
            overlap: d.resume_overlap,
        },
        (None, Replay::All) => Start::All,
        (None, Replay::None) => Start::Live,
    };
    // Subscribing after reading the epoch means a reset racing this request
    // ends the new stream rather than leaving it on stale state.
    let mut epoch = app.epoch();
    epoch.mark_unchanged();
    let sub = app.events.subscribe(start);
    let state = State {
        retry: app.http.sse_retry.map(|r| app.chaos.scale(r)),
        backlog: sub.backlog.into(),
        live: sub.live,
        epoch,
        delivered: 0,
        disconnect_after: d.disconnect_after,
        done: app.is_shutting_down(),
    };
    let events = stream::unfold(state, next);
    let keep_alive = warp::sse::keep_alive()
        .interval(app.http.keep_alive)
        .text(" keep-alive")
        .stream(events);
    let fault = if d.resume_overlap {
        Some(Fault::ResumeOverlap)
    } else {
        d.disconnect_after.map(|_| Fault::StreamDisconnect)
    };
    (warp::sse::reply(keep_alive).into_response(), fault)
}
