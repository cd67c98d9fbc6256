//! Peer comparisons and load tools for `mock-chat-server` (not published).
//!
//! The "bare warp" server here is the limit the crate is measured against:
//! warp 0.4 serving fixed bodies of the same size as ours, spawned as a task
//! with `warp::serve(filter).incoming(listener).graceful(..)`, and stopped
//! by dropping its handle, exactly like `MockChatServer`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::oneshot;
use warp::http::header::{HeaderValue, CONTENT_TYPE};
use warp::reply::Response;
use warp::Filter;

/// The bodies a bare server answers with.
#[derive(Debug, Clone, Default)]
pub struct Bodies {
    /// `GET /chats`
    pub chats: Bytes,
    /// `GET /chats/{id}/messages`
    pub messages: Bytes,
}

impl Bodies {
    /// Bodies of the same size as a default `MockChatServer`'s: the
    /// `GET /chats` answer, and a history page of `page` messages.
    pub async fn like_mock_chat_server(page: usize) -> Bodies {
        let server = mock_chat_server::MockChatServer::builder()
            .seed(1)
            .start()
            .await;
        let first = server.chats()[0].id;
        for i in 0..page.saturating_sub(1) {
            server
                .inject_message(
                    &first,
                    mock_chat_server::Author::User,
                    format!("message {i}"),
                )
                .unwrap();
        }
        let chats = serde_json::to_vec(&server.chats()).unwrap();
        let messages = serde_json::to_vec(&server.messages(&first)).unwrap();
        Bodies {
            chats: chats.into(),
            messages: messages.into(),
        }
    }
}

fn json(body: Bytes) -> Response {
    let mut res = Response::new(body.into());
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// The bare warp filter: `GET /chats`, `GET /chats/{id}/messages` (fixed
/// bodies), `POST /chats/{id}/messages` (parses the JSON body and answers
/// a message of the usual shape, with a counter as id) and `GET /events`
/// (an SSE stream with keep-alive comments and no events).
pub fn bare_routes(
    bodies: Bodies,
) -> impl Filter<Extract = (Response,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let chats = bodies.chats.clone();
    let get_chats = warp::get()
        .and(warp::path!("chats"))
        .map(move || json(chats.clone()));
    let messages = bodies.messages.clone();
    let get_messages = warp::get()
        .and(warp::path!("chats" / String / "messages"))
        .map(move |_id| json(messages.clone()));
    let next_id = Arc::new(AtomicU64::new(1));
    let post = warp::post()
        .and(warp::path!("chats" / String / "messages"))
        .and(warp::body::json())
        .map(move |chat_id: String, body: serde_json::Value| {
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            let text = body.get("text").and_then(|t| t.as_str()).unwrap_or("");
            let msg = serde_json::json!({
                "id": id,
                "chat_id": chat_id,
                "author": "user",
                "text": text,
                "sent_at": "2026-01-01T00:00:00.000Z",
                "idempotency_key": "00000000-0000-4000-8000-000000000000",
            });
            json(serde_json::to_vec(&msg).unwrap().into())
        });
    // An SSE stream that never sends an event (keep-alive comments only),
    // to measure what an idle subscriber costs warp itself.
    let events = warp::get().and(warp::path!("events")).map(|| {
        let never =
            futures::stream::pending::<Result<warp::sse::Event, std::convert::Infallible>>();
        warp::reply::Reply::into_response(warp::sse::reply(warp::sse::keep_alive().stream(never)))
    });
    get_chats
        .or(get_messages)
        .unify()
        .or(post)
        .unify()
        .or(events)
        .unify()
}

/// A bare warp server spawned as a task; dropping the handle stops it.
#[derive(Debug)]
pub struct BareWarp {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl BareWarp {
    /// Binds `addr` and spawns the server on the current runtime.
    pub async fn start(addr: SocketAddr, bodies: Bodies) -> BareWarp {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = warp::serve(bare_routes(bodies))
            .incoming(listener)
            .graceful(async {
                let _ = stopped.await;
            })
            .run();
        tokio::spawn(server);
        BareWarp {
            addr,
            stop: Some(stop),
        }
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for BareWarp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The benches' minimal HTTP/1.1 client and `/proc` readers.
pub mod http1;

pub use http1::{fds, rss_kib, threads};
