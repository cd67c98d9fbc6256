//! The accept loop: HTTP/1.1 only (as the reference, no HTTP/2 without TLS),
//! header names in Go's canonical case, request heads within deadlines (one
//! coarse timer per connection), and a bounded number of connections that
//! never locks a new client out. It hands each request to the
//! [HTTP layer](Http) and stops when the server shuts down.
//!
//! # At the connection cap
//! At most `max_connections` connections are open. A new one that finds
//! them all taken is still served: the server closes the connection that
//! matters least to make room, as a keep-alive pool does ([`Rank`]):
//!
//! 1. an idle one, the longest idle first: silent since it connected, or
//!    kept alive after its last answer;
//! 2. else one that has sent only part of a request head, the longest idle
//!    first;
//! 3. else a stream (SSE), the oldest first: it ends cleanly, as at the end
//!    of its lifetime, and its client reconnects with `Last-Event-ID`. So
//!    streams are bounded by the cap too, and at the cap a new client ends
//!    the oldest one rather than wait.
//!
//! A connection with a request in progress (an answer being produced or
//! sent, a held request included) is never cut: if every connection has
//! one, the new connection waits until one of them ends or falls idle.
//! An evicted connection that took a request just before it was told to go
//! answers it first, then closes.
//!
//! # Deadlines
//! A new connection must send its first request head within
//! `first_header_timeout` (10 s; never more than `header_timeout`); later,
//! a connection with no answer in progress and no new request for a whole
//! `header_timeout` (30 s) is closed, between one and two periods after it
//! fell idle. One timer per connection checks both.

mod connections;

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use warp::http::header::{CONTENT_TYPE, EXPECT, HOST};
use warp::http::{Method, Request, Version};
use warp::reply::Response;

pub(crate) use self::connections::Connections;
#[cfg(doc)]
use self::connections::Rank;
use self::connections::{ConnState, InProgress, Slot, EVICTION_GRACE};
use crate::app::Lifecycle;
use crate::http::response::{
    bad_request_closing, expectation_failed, malformed_host, missing_host,
};
use crate::http::{has_token, Http};

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// The deadline of a new connection's first request head.
    pub(crate) first_header_timeout: Duration,
    /// The idle period after which a connection waiting for a head is cut.
    pub(crate) header_timeout: Duration,
}

/// Serves `http` on `listener` until `lifecycle` says shutting down, then
/// closes the port.
pub(crate) async fn serve(
    listener: TcpListener,
    http: Arc<Http>,
    connections: Arc<Connections>,
    limits: Limits,
    lifecycle: watch::Receiver<Lifecycle>,
) {
    accept_until_stopped(&listener, http, connections, limits, lifecycle).await;
    stop_listening(listener);
}

/// Closes the port now. Dropping the socket is not enough: a child process
/// forked meanwhile (by another test of the same binary, say) holds a copy
/// of it until it execs, and the port accepts connections until then.
/// `shutdown(2)` stops the listening socket itself, whoever holds it (on
/// Linux; where it refuses, the drop does what it can).
fn stop_listening(listener: TcpListener) {
    #[cfg(unix)]
    if let Ok(listener) = listener.into_std() {
        let socket = std::net::TcpStream::from(std::os::fd::OwnedFd::from(listener));
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
    #[cfg(not(unix))]
    drop(listener);
}

/// Accepts connections and spawns their tasks until `lifecycle` says
/// shutting down.
async fn accept_until_stopped(
    listener: &TcpListener,
    http: Arc<Http>,
    connections: Arc<Connections>,
    limits: Limits,
    lifecycle: watch::Receiver<Lifecycle>,
) {
    loop {
        let mut stop = lifecycle.clone();
        let stopping = async move {
            let _ = stop.wait_for(|l| *l == Lifecycle::ShuttingDown).await;
        };
        tokio::pin!(stopping);
        let accepted = tokio::select! {
            biased;
            _ = &mut stopping => return,
            accepted = accept(listener, &connections) => accepted,
        };
        let Some(stream) = accepted else {
            continue;
        };
        let slot = tokio::select! {
            biased;
            _ = &mut stopping => return,
            slot = connections.admit() => slot,
        };
        let Some(slot) = slot else {
            return;
        };
        let _ = stream.set_nodelay(true);
        let conn = connection(stream, slot, Arc::clone(&http), limits, lifecycle.clone());
        tokio::spawn(conn);
    }
}

/// Serves one connection until it ends, the server stops, it has waited
/// for a request head too long, or it has been evicted.
async fn connection(
    stream: TcpStream,
    slot: Slot,
    http: Arc<Http>,
    limits: Limits,
    mut stop: watch::Receiver<Lifecycle>,
) {
    let state = Arc::clone(slot.state());
    let svc_state = Arc::clone(&state);
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let http = Arc::clone(&http);
        let in_progress = InProgress::new(&svc_state);
        async move {
            let res = match go_refusal(&req) {
                Some(refused) => refused,
                None => http.answer(req).await,
            };
            let in_progress = if is_stream(&res) {
                in_progress.into_stream()
            } else {
                in_progress
            };
            Ok::<_, Infallible>(res.map(|body| Tracked { body, in_progress }))
        }
    });
    let io = Watched {
        io: stream,
        state: Arc::clone(&state),
    };
    let conn = http1::Builder::new()
        .title_case_headers(true)
        // Heads get their `Date` where Go writes it (see `http::response`);
        // Go's refusals have none.
        .auto_date_header(false)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let mut timer = Timer::new(limits, &state);
    loop {
        tokio::select! {
            _ = &mut conn => return,
            _ = stop.wait_for(|l| *l == Lifecycle::ShuttingDown) => return,
            _ = state.evicted(), if !timer.evicted => {
                // Closes at once if idle, after the answer in progress
                // otherwise; a stream's body ends (see `Tracked`).
                conn.as_mut().graceful_shutdown();
                timer.evict();
            }
            _ = tokio::time::sleep(timer.period) => {
                if timer.expired(&state) {
                    return;
                }
            }
        }
    }
}

/// A connection's deadlines, checked by one timer per connection rather
/// than one per request: a connection that has had no answer in progress
/// and no new request for a whole period is waiting for a head too long.
/// The first period is the first head's; after an eviction, the period is
/// the grace to go.
struct Timer {
    period: Duration,
    header_timeout: Duration,
    seen: u64,
    evicted: bool,
}

impl Timer {
    fn new(limits: Limits, state: &ConnState) -> Self {
        Timer {
            period: limits.first_header_timeout.min(limits.header_timeout),
            header_timeout: limits.header_timeout,
            seen: state.seen(),
            evicted: false,
        }
    }

    fn evict(&mut self) {
        self.evicted = true;
        self.period = EVICTION_GRACE;
    }

    /// At the end of a period: whether the connection must close (it
    /// waited a whole period, or was evicted and has no request left to
    /// answer).
    fn expired(&mut self, state: &ConnState) -> bool {
        let seen = state.seen();
        let waited = !state.is_busy() && seen == self.seen;
        if waited || (self.evicted && (!state.is_busy() || state.is_streaming())) {
            return true;
        }
        self.seen = seen;
        self.period = self.header_timeout;
        false
    }
}

/// Whether an answer is an open-ended stream (SSE).
fn is_stream(res: &Response) -> bool {
    res.headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// An answer's body that keeps its request in progress, and ends a
/// stream cleanly when its connection is evicted.
struct Tracked<B> {
    body: B,
    in_progress: InProgress,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        if self.in_progress.must_end(cx) {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection's socket, telling its state when bytes come in (a
/// request head has begun).
struct Watched {
    io: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.state.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// Waits for a connection. Out of file descriptors, it evicts as the cap
/// does (a client is waiting), then backs off a little rather than spin.
async fn accept(listener: &TcpListener, connections: &Connections) -> Option<TcpStream> {
    match listener.accept().await {
        Ok((stream, _)) => Some(stream),
        Err(e) => {
            tracing::warn!("accept failed: {e}");
            if out_of_files(&e) {
                connections.evict_one();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
}

/// `EMFILE` or `ENFILE` (the same numbers on Linux, the BSDs and macOS).
fn out_of_files(e: &io::Error) -> bool {
    cfg!(unix) && matches!(e.raw_os_error(), Some(23 | 24))
}

/// What Go's server answers itself, before any handler, to a request
/// hyper has read: a missing `Host` (HTTP/1.1, CONNECT excepted), two
/// `Host` headers, a `Host` with a byte no host name has, an `Expect` other
/// than `100-continue`. In Go's order of checks.
fn go_refusal(req: &Request<Incoming>) -> Option<Response> {
    let mut hosts = req.headers().get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (_, Some(_)) => return Some(bad_request_closing()),
        (None, None) if req.version() == Version::HTTP_11 && req.method() != Method::CONNECT => {
            return Some(missing_host())
        }
        (Some(host), None) if !host.as_bytes().iter().all(|&b| valid_host_byte(b)) => {
            return Some(malformed_host())
        }
        _ => {}
    }
    let expect = req.headers().get(EXPECT).map(|v| v.as_bytes());
    match expect {
        Some(value) if !value.trim_ascii().is_empty() && !has_token(value, b"100-continue") => {
            Some(expectation_failed(req.method() == Method::HEAD))
        }
        _ => None,
    }
}

/// Go's `httpguts.ValidHostHeader`, one byte at a time.
fn valid_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_checked_as_go_does() {
        for host in ["localhost:3000", "[::1]:80", "a_b.example", "x%25y", ""] {
            assert!(host.bytes().all(valid_host_byte), "{host}");
        }
        for host in ["a b", "a/b", "é", "a\tb", "a@b"] {
            assert!(!host.bytes().all(valid_host_byte), "{host}");
        }
    }
}
