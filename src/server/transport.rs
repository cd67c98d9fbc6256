//! The accept loop: HTTP/1.1 only (as the reference, no HTTP/2 without TLS),
//! header names in Go's canonical case, at most `max_connections` open
//! (further ones wait in the accept queue), request headers within
//! `header_timeout` (one coarse timer per connection). It hands each request
//! to the [HTTP layer](Http) and stops when the server shuts down.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use warp::http::header::{EXPECT, HOST};
use warp::http::{Method, Request, Version};
use warp::reply::Response;

use crate::app::Lifecycle;
use crate::http::response::{
    bad_request_closing, expectation_failed, malformed_host, missing_host,
};
use crate::http::{has_token, Http};

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
}

/// Serves `http` on `listener` until `lifecycle` says shutting down.
pub(crate) async fn serve(
    listener: TcpListener,
    http: Arc<Http>,
    limits: Limits,
    mut lifecycle: watch::Receiver<Lifecycle>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        let stopping = async {
            let _ = lifecycle.wait_for(|l| *l == Lifecycle::ShuttingDown).await;
        };
        let accepted = tokio::select! {
            biased;
            _ = stopping => return,
            accepted = accept(&listener, &slots) => accepted,
        };
        let Some((stream, permit)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let conn = connection(stream, Arc::clone(&http), limits, lifecycle.clone());
        tokio::spawn(async move {
            conn.await;
            drop(permit);
        });
    }
}

/// Serves one connection until it ends, the server stops, or it has
/// waited for request headers too long.
async fn connection(
    stream: TcpStream,
    http: Arc<Http>,
    limits: Limits,
    mut stop: watch::Receiver<Lifecycle>,
) {
    let state = Arc::new(ConnState::default());
    let svc_state = Arc::clone(&state);
    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
        let http = Arc::clone(&http);
        let busy = Busy::new(&svc_state);
        async move {
            let res = match go_refusal(&req) {
                Some(refused) => refused,
                None => http.answer(req).await,
            };
            Ok::<_, Infallible>(res.map(|body| Tracked { body, _busy: busy }))
        }
    });
    let conn = http1::Builder::new()
        .title_case_headers(true)
        // Heads get their `Date` where Go writes it (see `http::response`);
        // Go's refusals have none.
        .auto_date_header(false)
        .serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    // The header timeout, checked by one timer per connection rather than
    // one per request: a connection that has had no answer in progress and
    // no new request for a whole period is waiting for headers too long
    // (cut between one and two periods after it fell idle).
    let mut seen = state.seen.load(Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = &mut conn => return,
            _ = stop.wait_for(|l| *l == Lifecycle::ShuttingDown) => return,
            _ = tokio::time::sleep(limits.header_timeout) => {
                let now_seen = state.seen.load(Ordering::Relaxed);
                if state.busy.load(Ordering::Relaxed) == 0 && now_seen == seen {
                    return;
                }
                seen = now_seen;
            }
        }
    }
}

/// What a connection is doing, for its header timeout.
#[derive(Debug, Default)]
struct ConnState {
    /// Requests whose answer is still being produced or sent.
    busy: AtomicUsize,
    /// Requests and answers seen, to tell activity between checks.
    seen: AtomicU64,
}

/// Counts a request as busy until its answer's body is dropped (sent, or
/// abandoned).
struct Busy(Arc<ConnState>);

impl Busy {
    fn new(state: &Arc<ConnState>) -> Self {
        state.busy.fetch_add(1, Ordering::Relaxed);
        state.seen.fetch_add(1, Ordering::Relaxed);
        Busy(Arc::clone(state))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::Relaxed);
        self.0.seen.fetch_add(1, Ordering::Relaxed);
    }
}

/// An answer's body that keeps its request counted as busy.
struct Tracked<B> {
    body: B,
    _busy: Busy,
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// Waits for a free slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    let permit = Arc::clone(slots).acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, _)) => Some((stream, permit)),
        Err(e) => {
            // Out of file descriptors and the like: back off a little
            // rather than spin.
            tracing::warn!("accept failed: {e}");
            tokio::time::sleep(Duration::from_millis(10)).await;
            None
        }
    }
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
