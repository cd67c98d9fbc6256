//! The live feed's fan-out: what happens in a server (requests answered,
//! messages delivered, streams opened and closed, diagnostics, resets, plan
//! changes), queued as JSON for each connected viewer.
//!
//! It knows nothing of HTTP: the admin module serves the queues as an SSE
//! stream (`GET /__admin/live`, format documented there and in
//! `src/docs/admin.md`).
//!
//! Publishing costs one atomic load while nobody watches: the change is
//! built by a closure only when a viewer is connected. A viewer's queue is
//! bounded in changes and bytes; a viewer that falls behind is cut (its
//! queue freed, its stream ends) and the server never waits for it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use crate::chaos::{Fault, FaultPlan, Route};
use crate::diagnostics::Diagnostic;
use crate::model::{Chat, Message};
use crate::records::RecordedRequest;
use crate::sync::lock;

/// The feed's format version, in every frame.
pub(crate) const VERSION: u32 = 1;
/// At most this many changes wait for one viewer.
pub(crate) const QUEUE_ITEMS: usize = 4096;
/// At most this many bytes of changes wait for one viewer.
pub(crate) const QUEUE_BYTES: usize = 512 << 10;
/// At most this many viewers at a time.
pub(crate) const MAX_VIEWERS: usize = 16;

/// One thing that happened, as the feed tells it.
#[derive(Debug)]
pub(crate) enum Change<'a> {
    /// A request was answered (or dropped): the server's time since start
    /// when it finished, and whether it was the empty 200 of a known key.
    Request(&'a RecordedRequest, std::time::Duration, bool),
    /// A message was published `event_ids.len()` times.
    Delivery(Message, &'a [u64]),
    /// A stream opened.
    StreamOpened {
        request_seq: u64,
        resumed: bool,
    },
    /// A stream closed: `by` is `server`, `cut` or `client`.
    StreamClosed {
        request_seq: u64,
        by: &'static str,
    },
    Diagnostic(&'a Diagnostic),
    Reset,
    Plan(&'a FaultPlan),
    Forced(Route, Fault, usize),
    Hold {
        id: u64,
        route: Route,
        viewer: Option<u64>,
        released: bool,
    },
    Chat(&'a Chat),
}

/// A request as the feed shows it (also the snapshot's rows, whose time
/// in the server is unknown: `now` is `None`).
pub(crate) fn request_json(r: &RecordedRequest, now: Option<std::time::Duration>) -> Value {
    let ms = now.map(|now| {
        let ms = now.saturating_sub(r.since_start).as_secs_f64() * 1000.0;
        (ms * 1000.0).round() / 1000.0
    });
    json!({
        "seq": r.seq,
        "route": r.route,
        "method": r.method,
        "path": r.path,
        "query": r.query,
        "status": r.status,
        "fault": r.fault,
        "key": r.headers.idempotency_key,
        "ms": ms,
        "since_start_ms": r.since_start.as_millis() as u64,
        "journal_seq": r.journal_seq,
    })
}

impl Change<'_> {
    fn to_json(&self, open_streams: usize) -> Value {
        let mut v = match self {
            Change::Request(r, now, empty) => {
                let mut v = request_json(r, Some(*now));
                v["empty"] = Value::Bool(*empty);
                v
            }
            Change::Delivery(m, ids) => json!({
                "chat_id": m.chat_id, "message": m, "copies": ids.len(), "event_ids": ids,
            }),
            Change::StreamOpened {
                request_seq,
                resumed,
            } => json!({"request_seq": request_seq, "resumed": resumed, "open": open_streams}),
            Change::StreamClosed { request_seq, by } => {
                json!({"request_seq": request_seq, "by": by, "open": open_streams})
            }
            Change::Diagnostic(d) => serde_json::to_value(d).unwrap_or(Value::Null),
            Change::Reset => json!({}),
            Change::Plan(p) => json!({"words": p.summary(), "plan": p}),
            Change::Forced(route, fault, count) => {
                json!({"route": route, "fault": fault, "count": count})
            }
            Change::Hold {
                id,
                route,
                viewer,
                released,
            } => json!({"id": id, "route": route, "viewer": viewer, "released": released}),
            Change::Chat(c) => json!({ "chat": c }),
        };
        if let Value::Object(map) = &mut v {
            map.insert("type".into(), Value::from(self.kind()));
        }
        v
    }

    fn kind(&self) -> &'static str {
        match self {
            Change::Request(..) => "request",
            Change::Delivery(..) => "delivery",
            Change::StreamOpened { .. } => "stream_opened",
            Change::StreamClosed { .. } => "stream_closed",
            Change::Diagnostic(_) => "diagnostic",
            Change::Reset => "reset",
            Change::Plan(_) => "plan",
            Change::Forced(..) => "forced",
            Change::Hold { .. } => "hold",
            Change::Chat(_) => "chat",
        }
    }
}

/// What the admin API asks of the open streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StreamOrder {
    /// Bumped by each order.
    pub(crate) seq: u64,
    /// Cut (a transport error) rather than end cleanly.
    pub(crate) cut: bool,
}

/// The changes waiting for one viewer.
#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<Arc<str>>,
    bytes: usize,
    cut: bool,
}

/// One connected viewer: its queue, and a wake-up for its stream.
#[derive(Debug)]
pub(crate) struct Viewer {
    pub(crate) id: u64,
    queue: Mutex<Queue>,
    wake: Notify,
}

/// What a viewer's stream takes from its queue.
#[derive(Debug)]
pub(crate) enum Taken {
    /// The changes, as JSON texts, oldest first (maybe none).
    Changes(Vec<Arc<str>>),
    /// The viewer fell behind and was cut.
    Cut,
}

impl Viewer {
    /// Waits until a change is queued for this viewer (or it is cut).
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }

    /// Everything queued, or that the viewer was cut.
    pub(crate) fn take(&self) -> Taken {
        let mut q = lock(&self.queue);
        if q.cut {
            return Taken::Cut;
        }
        q.bytes = 0;
        Taken::Changes(q.items.drain(..).collect())
    }

    fn push(&self, text: &Arc<str>) {
        let mut q = lock(&self.queue);
        if q.cut {
            return;
        }
        if q.items.len() >= QUEUE_ITEMS || q.bytes + text.len() > QUEUE_BYTES {
            // Fallen behind: cut, and free what it held.
            *q = Queue {
                cut: true,
                ..Queue::default()
            };
        } else {
            q.bytes += text.len();
            q.items.push_back(Arc::clone(text));
        }
        drop(q);
        self.wake.notify_one();
    }
}

/// The feed of one server.
#[derive(Debug)]
pub(crate) struct Feed {
    /// How many viewers are connected: the only cost of a change nobody
    /// watches.
    watching: AtomicUsize,
    viewers: Mutex<(u64, Vec<Arc<Viewer>>)>,
    streams: watch::Sender<StreamOrder>,
    open_streams: AtomicUsize,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            watching: AtomicUsize::new(0),
            viewers: Mutex::new((0, Vec::new())),
            streams: watch::channel(StreamOrder::default()).0,
            open_streams: AtomicUsize::new(0),
        }
    }
}

/// Unregisters a viewer when its stream is dropped.
#[derive(Debug)]
pub(crate) struct ViewerGuard {
    feed: Arc<Feed>,
    pub(crate) viewer: Arc<Viewer>,
}

impl Drop for ViewerGuard {
    fn drop(&mut self) {
        let mut viewers = lock(&self.feed.viewers);
        viewers.1.retain(|v| !Arc::ptr_eq(v, &self.viewer));
        self.feed.watching.store(viewers.1.len(), Ordering::Release);
    }
}

impl Feed {
    /// Tells every viewer of `change`; builds it only if someone watches.
    pub(crate) fn emit<'a>(&self, change: impl FnOnce() -> Change<'a>) {
        if self.watching.load(Ordering::Acquire) == 0 {
            return;
        }
        let open = self.open_streams.load(Ordering::Relaxed);
        let text: Arc<str> = change().to_json(open).to_string().into();
        let viewers = lock(&self.viewers);
        for viewer in &viewers.1 {
            viewer.push(&text);
        }
    }

    /// A new viewer, or `None` when [`MAX_VIEWERS`] are connected.
    pub(crate) fn watch(self: &Arc<Self>) -> Option<ViewerGuard> {
        let mut viewers = lock(&self.viewers);
        if viewers.1.len() >= MAX_VIEWERS {
            return None;
        }
        viewers.0 += 1;
        let viewer = Arc::new(Viewer {
            id: viewers.0,
            queue: Mutex::new(Queue::default()),
            wake: Notify::new(),
        });
        viewers.1.push(Arc::clone(&viewer));
        self.watching.store(viewers.1.len(), Ordering::Release);
        Some(ViewerGuard {
            feed: Arc::clone(self),
            viewer,
        })
    }

    /// How many viewers are connected.
    #[cfg(test)]
    pub(crate) fn viewers(&self) -> usize {
        self.watching.load(Ordering::Acquire)
    }

    /// How many SSE streams are open now.
    pub(crate) fn open_streams(&self) -> usize {
        self.open_streams.load(Ordering::Relaxed)
    }

    /// A stream opened: watch it until dropped (see [`StreamWatch`]).
    pub(crate) fn stream_opened(self: &Arc<Self>, request_seq: u64, resumed: bool) -> StreamWatch {
        self.open_streams.fetch_add(1, Ordering::Relaxed);
        self.emit(|| Change::StreamOpened {
            request_seq,
            resumed,
        });
        let mut orders = self.streams.subscribe();
        orders.mark_unchanged();
        StreamWatch {
            feed: Arc::clone(self),
            request_seq,
            closed_by: "client",
            orders,
        }
    }

    /// Ends (or cuts) every open stream; returns how many were open.
    pub(crate) fn order_streams(&self, cut: bool) -> usize {
        self.streams.send_modify(|o| {
            o.seq += 1;
            o.cut = cut;
        });
        self.open_streams()
    }
}

/// One open SSE stream, as the feed follows it: tells the viewers when it
/// closes, and hands it the admin API's orders to end or cut.
#[derive(Debug)]
pub(crate) struct StreamWatch {
    feed: Arc<Feed>,
    request_seq: u64,
    closed_by: &'static str,
    orders: watch::Receiver<StreamOrder>,
}

impl StreamWatch {
    /// The server ended the stream (`cut`: with a transport error).
    pub(crate) fn ended(&mut self, cut: bool) {
        self.closed_by = if cut { "cut" } else { "server" };
    }

    /// Waits for an order to end the stream; `true` means cut it.
    pub(crate) async fn ordered(&mut self) -> bool {
        match self.orders.changed().await {
            Ok(()) => self.orders.borrow_and_update().cut,
            Err(_) => std::future::pending().await,
        }
    }
}

impl Drop for StreamWatch {
    fn drop(&mut self) {
        self.feed.open_streams.fetch_sub(1, Ordering::Relaxed);
        let (request_seq, by) = (self.request_seq, self.closed_by);
        self.feed.emit(|| Change::StreamClosed { request_seq, by });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_built_while_nobody_watches() {
        let feed = Arc::new(Feed::default());
        feed.emit(|| unreachable!("built with no viewer"));
        let guard = feed.watch().expect("a viewer");
        feed.emit(|| Change::Reset);
        match guard.viewer.take() {
            Taken::Changes(c) => assert_eq!(&*c[0], r#"{"type":"reset"}"#),
            Taken::Cut => panic!("not cut"),
        }
        drop(guard);
        assert_eq!(feed.viewers(), 0);
        feed.emit(|| unreachable!("built after the viewer left"));
    }

    #[test]
    fn a_viewer_that_falls_behind_is_cut_and_its_queue_freed() {
        let feed = Arc::new(Feed::default());
        let guard = feed.watch().expect("a viewer");
        for _ in 0..=QUEUE_ITEMS {
            feed.emit(|| Change::Reset);
        }
        assert!(matches!(guard.viewer.take(), Taken::Cut));
        assert_eq!(lock(&guard.viewer.queue).bytes, 0);
        assert!(lock(&guard.viewer.queue).items.is_empty());
    }

    #[test]
    fn viewers_are_bounded() {
        let feed = Arc::new(Feed::default());
        let guards: Vec<_> = (0..MAX_VIEWERS).filter_map(|_| feed.watch()).collect();
        assert_eq!(guards.len(), MAX_VIEWERS);
        assert!(feed.watch().is_none());
    }
}
