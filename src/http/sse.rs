//! `GET /events?stream=messages`: the SSE stream.
//!
//! Message events go out as the frame the event hub built once per event
//! (shared by every subscriber); the `retry:` and keep-alive frames are
//! rendered by warp's `sse::Event`, so the wire form is warp's throughout.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, Sleep};
use warp::http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
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

/// A comment frame after every `interval` without any other frame, as
/// warp's `sse::keep_alive()` does; the timer is re-armed lazily (when it
/// fires early) instead of being reset on every event.
struct KeepAlive {
    interval: Duration,
    timer: Pin<Box<Sleep>>,
    last_frame: Instant,
    frame: Bytes,
}

struct State {
    era: u64,
    retry: Option<Duration>,
    backlog: VecDeque<Event>,
    live: broadcast::Receiver<Event>,
    epoch: watch::Receiver<Epoch>,
    delivered: u64,
    disconnect_after: Option<u64>,
    done: bool,
    keep_alive: KeepAlive,
}

async fn next(mut st: State) -> Option<(Result<Bytes, Cut>, State)> {
    if st.done {
        return None;
    }
    if let Some(retry) = st.retry.take() {
        st.keep_alive.last_frame = Instant::now();
        let frame = Bytes::from(SseEvent::default().retry(retry).to_string());
        return Some((Ok(frame), st));
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
        None => loop {
            tokio::select! {
                biased;
                _ = st.epoch.changed() => return None,
                r = st.live.recv() => match r {
                    // From after a reset: this stream's period is over.
                    Ok(e) if e.era != st.era => return None,
                    Ok(e) => break e,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        st.done = true;
                        return Some((Err(Cut::Lagged), st));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = st.keep_alive.timer.as_mut() => {
                    let ka = &mut st.keep_alive;
                    let due = ka.last_frame + ka.interval;
                    let now = Instant::now();
                    if now < due {
                        ka.timer.as_mut().reset(due);
                        continue;
                    }
                    ka.last_frame = now;
                    ka.timer.as_mut().reset(now + ka.interval);
                    let frame = ka.frame.clone();
                    return Some((Ok(frame), st));
                }
            }
        },
    };
    st.delivered += 1;
    st.keep_alive.last_frame = Instant::now();
    Some((Ok(event.frame()), st))
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
    let now = Instant::now();
    let keep_alive = KeepAlive {
        interval: app.http.keep_alive,
        timer: Box::pin(tokio::time::sleep_until(now + app.http.keep_alive)),
        last_frame: now,
        frame: Bytes::from(SseEvent::default().comment(" keep-alive").to_string()),
    };
    let state = State {
        retry: app.http.sse_retry.map(|r| app.chaos.scale(r)),
        era: sub.era,
        backlog: sub.backlog.into(),
        live: sub.live,
        epoch,
        delivered: 0,
        disconnect_after: d.disconnect_after,
        done: app.is_shutting_down(),
        keep_alive,
    };
    let events = stream::unfold(state, next);
    let fault = if d.resume_overlap {
        Some(Fault::ResumeOverlap)
    } else {
        d.disconnect_after.map(|_| Fault::StreamDisconnect)
    };
    let mut res = warp::reply::stream(events).into_response();
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    (res, fault)
}
