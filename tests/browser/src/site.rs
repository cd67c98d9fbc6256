//! A tiny static HTTP server: the origin the test pages are loaded from.
//!
//! It binds `127.0.0.1:0` and its URLs name the host `localhost`, so the
//! pages' origin (`http://localhost:<port>`) differs from a chat server's
//! (`http://127.0.0.1:<port>`) in host and in port: every request a page
//! makes to the server is cross-origin.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::Error;

/// One file the site serves.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    /// Its path, from `/` (`/scenario.html`).
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its content.
    pub body: &'static str,
}

/// A running site; stops on drop.
#[derive(Debug)]
pub struct Site {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Site {
    /// Serves `pages` (query strings ignored; anything else is a 404).
    pub async fn start(pages: &'static [Page]) -> Result<Site, Error> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(accept(listener, pages));
        Ok(Site { addr, task })
    }

    /// The site's origin, `http://localhost:<port>`.
    pub fn origin(&self) -> String {
        format!("http://localhost:{}", self.addr.port())
    }

    /// The URL of `path_and_query` on this site.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.origin())
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections until aborted, one task each.
async fn accept(listener: TcpListener, pages: &'static [Page]) {
    while let Ok((stream, _)) = listener.accept().await {
        let service =
            service_fn(move |req| async move { Ok::<_, Infallible>(answer(&req, pages)) });
        tokio::spawn(async move {
            // A browser closing a connection early is not the test's concern.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The page at the request's path, or a 404.
fn answer<B>(req: &Request<B>, pages: &[Page]) -> Response<Full<Bytes>> {
    let found = pages.iter().find(|p| p.path == req.uri().path());
    let (status, content_type, body) = match found {
        Some(page) => (StatusCode::OK, page.content_type, page.body),
        None => (StatusCode::NOT_FOUND, "text/plain", "not found\n"),
    };
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        res.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    res.headers_mut().insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static("no-store"),
    );
    res
}
