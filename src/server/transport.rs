//! The accept loop: HTTP/1.1 only (as the reference, no HTTP/2 without TLS),
//! header names in Go's canonical case, at most `max_connections` open
//! (further ones wait in the accept queue), request headers within
//! `header_timeout`. It serves the HTTP layer's warp filter and stops when
//! the server shuts down.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tower_service::Service;
use warp::http::{Method, Request, Version};
use warp::reply::Response;
use warp::Filter;

use crate::app::Lifecycle;
use crate::http::response::missing_host;

/// Connection limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) header_timeout: Duration,
}

/// Serves `filter` on `listener` until `lifecycle` says shutting down.
pub(crate) async fn serve<F>(
    listener: TcpListener,
    filter: F,
    limits: Limits,
    mut lifecycle: watch::Receiver<Lifecycle>,
) where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let service = warp::service(filter);
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
        let service = service.clone();
        let mut stop = lifecycle.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut service = service.clone();
                async move {
                    if lacks_host(&req) {
                        return Ok::<_, Infallible>(missing_host());
                    }
                    service.call(req).await
                }
            });
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .title_case_headers(true)
                .serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.wait_for(|l| *l == Lifecycle::ShuttingDown) => {}
            }
            drop(permit);
        });
    }
}

/// Waits for a free slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
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

/// Go refuses an HTTP/1.1 request without `Host` (CONNECT excepted).
fn lacks_host(req: &Request<Incoming>) -> bool {
    req.version() == Version::HTTP_11
        && req.method() != Method::CONNECT
        && !req.headers().contains_key(warp::http::header::HOST)
}
