//! `/events?stream=messages`: the SSE stream, as the reference's r3labs/sse
//! writes it: `id: N` then `data: {json}` then a blank line per delivery,
//! the whole log first (or from `Last-Event-ID`, inclusive), then live
//! events, until the stream's lifetime (30 s) ends it cleanly.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::{Instant, Sleep};
use warp::http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, DATE};
use warp::http::{StatusCode, Version};
use warp::reply::Reply;

use super::request::Request;
use super::response::{date, text_error_after};
use super::{HttpConfig, Served};
use crate::app::{RequestScope, Subscription};
use crate::chaos::engine::{RequestLine, StreamDecision};
use crate::events::{Delivery, Read, Replay, Start};
use crate::feed::StreamWatch;
use crate::wire;

/// How many deliveries a stream takes from the log at a time.
const BATCH: usize = 64;

/// Why a stream was cut: the error that makes hyper abort the connection.
#[derive(Debug, thiserror::Error)]
enum Cut {
    #[error("stream cut by an injected fault")]
    Injected,
    #[error("subscriber fell too far behind and was disconnected")]
    Lagged,
    #[error("stream cut from the admin API")]
    Ordered,
}

/// The headers r3labs sets before anything else (kept on its errors), in
/// Go's order. Go drops the handler's `Connection: keep-alive` when the
/// connection closes after this answer (the client asked for it, or speaks
/// HTTP/1.0 without keep-alive); hyper then writes its own, as Go does.
fn stream_headers(req: &Request, streaming: bool) -> Vec<(HeaderName, HeaderValue)> {
    let mut headers = vec![(CACHE_CONTROL, HeaderValue::from_static("no-cache"))];
    // An HTTP/1.0 stream has no length: it ends with the connection,
    // whatever the client asked.
    let closes = req.closes_after() || (streaming && req.version == Version::HTTP_10);
    if !closes {
        headers.push((CONNECTION, HeaderValue::from_static("keep-alive")));
    }
    headers
}

/// Where the request wants its stream to start, or the reference's
/// refusal (status and message).
fn start_of(req: &Request, replay: Replay) -> Result<Start, (StatusCode, &'static str)> {
    match req.query_param("stream").as_deref() {
        None | Some("") => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "Please specify a stream!",
            ))
        }
        Some("messages") => {}
        Some(_) => return Err((StatusCode::INTERNAL_SERVER_ERROR, "Stream not found!")),
    }
    // Go's Header.Get: the first value; empty counts as absent.
    match req.headers.get("last-event-id").map(|v| v.as_bytes()) {
        None | Some(b"") => Ok(match replay {
            Replay::All => Start::All,
            Replay::None => Start::Live,
        }),
        Some(raw) => std::str::from_utf8(raw)
            .ok()
            .and_then(wire::atoi)
            .map(Start::From)
            .ok_or((StatusCode::BAD_REQUEST, "Last-Event-ID must be a number!")),
    }
}

/// Opens a stream, or answers the reference's 500/400.
pub(crate) fn open(scope: &mut RequestScope, config: &HttpConfig, req: &Request) -> Served {
    let start = match start_of(req, config.replay) {
        Ok(start) => start,
        Err((status, message)) => {
            return text_error_after(&stream_headers(req, false), status, message).into();
        }
    };
    let resumed = matches!(start, Start::From(_));
    let decision = scope.decide_stream(
        resumed,
        RequestLine {
            method: req.method.as_str(),
            path: req.path_and_query(),
            key: None,
        },
    );
    let watch = scope.app().feed().stream_opened(scope.seq(), resumed);
    let state = State::new(scope, config, start, decision, watch);
    let mut res = warp::reply::stream(futures::stream::unfold(state, next)).into_response();
    let h = res.headers_mut();
    for (name, value) in stream_headers(req, true) {
        h.insert(name, value);
    }
    h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    h.insert(DATE, date());
    res.into()
}

/// A comment frame after every `every` without another frame.
struct KeepAlive {
    every: Duration,
    timer: Pin<Box<Sleep>>,
}

struct State {
    sub: Subscription,
    buffer: VecDeque<Delivery>,
    /// The rest of a frame sent in two chunks (see [`Delivery::frame`]).
    rest: Option<Bytes>,
    delivered: u64,
    decision: StreamDecision,
    ends_at: Option<Pin<Box<Sleep>>>,
    keep_alive: Option<KeepAlive>,
    retry: Option<Bytes>,
    done: bool,
    /// The live feed's view of this stream, and the admin API's orders.
    watch: StreamWatch,
}

/// What woke a waiting stream.
enum Wake {
    Changed,
    End,
    KeepAlive,
    Cut,
}

impl State {
    fn new(
        scope: &RequestScope,
        config: &HttpConfig,
        start: Start,
        decision: StreamDecision,
        watch: StreamWatch,
    ) -> Self {
        let app = scope.app();
        let sub = app.subscribe(start);
        let now = Instant::now();
        let scale = |d: Duration| app.scale(d);
        State {
            sub,
            buffer: VecDeque::new(),
            rest: None,
            delivered: 0,
            decision,
            ends_at: config
                .stream_lifetime
                .map(|d| Box::pin(tokio::time::sleep_until(now + scale(d)))),
            keep_alive: config.keep_alive.map(|every| KeepAlive {
                every,
                timer: Box::pin(tokio::time::sleep_until(now + every)),
            }),
            retry: config
                .sse_retry
                .map(|r| Bytes::from(format!("retry: {}\n\n", scale(r).as_millis()))),
            done: app.is_shutting_down(),
            watch,
        }
    }

    async fn wait(&mut self) -> Wake {
        let State {
            ends_at,
            keep_alive,
            sub,
            watch,
            ..
        } = self;
        let Subscription {
            lifecycle, changes, ..
        } = sub;
        let ends = async {
            match ends_at {
                Some(sleep) => sleep.as_mut().await,
                None => std::future::pending().await,
            }
        };
        let keep_alive = async {
            match keep_alive {
                Some(ka) => ka.timer.as_mut().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = lifecycle.changed() => Wake::End,
            _ = ends => Wake::End,
            r = changes.changed() => if r.is_ok() { Wake::Changed } else { Wake::End },
            _ = keep_alive => Wake::KeepAlive,
            cut = watch.ordered() => if cut { Wake::Cut } else { Wake::End },
        }
    }

    /// The server ends (or cuts) the stream: clients will reconnect.
    fn server_end(&mut self, cut: bool) {
        self.sub.ended_by_server(self.delivered);
        self.watch.ended(cut);
    }

    fn sent_frame(&mut self) {
        if let Some(ka) = &mut self.keep_alive {
            ka.timer.as_mut().reset(Instant::now() + ka.every);
        }
    }
}

async fn next(mut st: State) -> Option<(Result<Bytes, Cut>, State)> {
    if st.done {
        return None;
    }
    if let Some(chunk) = st.retry.take().or_else(|| st.rest.take()) {
        return Some((Ok(chunk), st));
    }
    loop {
        if st.decision.cut_after == Some(st.delivered) {
            st.done = true;
            st.server_end(true);
            // Pending once first, so hyper flushes the event it just took:
            // an error on this very poll would abort the connection with the
            // event unsent.
            tokio::task::yield_now().await;
            return Some((Err(Cut::Injected), st));
        }
        if st.decision.end_after == Some(st.delivered) {
            st.server_end(false);
            return None;
        }
        if let Some(d) = st.buffer.pop_front() {
            st.delivered += 1;
            st.sent_frame();
            let (head, rest) = d.frame();
            st.rest = rest;
            return Some((Ok(head), st));
        }
        match st.sub.read(BATCH) {
            Read::Deliveries(batch) => st.buffer.extend(batch),
            Read::Reset => {
                st.watch.ended(false);
                return None;
            }
            Read::Lagged => {
                st.done = true;
                st.server_end(true);
                return Some((Err(Cut::Lagged), st));
            }
            Read::Pending => match st.wait().await {
                Wake::Changed => {}
                Wake::End => {
                    st.server_end(false);
                    return None;
                }
                Wake::Cut => {
                    st.done = true;
                    st.server_end(true);
                    return Some((Err(Cut::Ordered), st));
                }
                Wake::KeepAlive => {
                    st.sent_frame();
                    return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), st));
                }
            },
        }
    }
}
