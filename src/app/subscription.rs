//! Reading the event log: an SSE connection's [`Subscription`] (its
//! cursor, the changes and lifecycle it waits on, and the diagnostics told
//! when the server ends it), and the handle's in-process stream and waits.

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use tokio::sync::watch;

use super::{App, Lifecycle};
use crate::diagnostics::Diagnostics;
use crate::events::{Cursor, EventHub, Read, Start, SubscriberGuard};
use crate::model::Message;

/// How many deliveries a reader takes from the log at a time.
const BATCH: usize = 64;

/// One subscriber of the event log.
#[derive(Debug)]
pub(crate) struct Subscription {
    hub: Arc<EventHub>,
    /// Counts it as a subscriber until dropped.
    _guard: SubscriberGuard,
    cursor: Cursor,
    /// Changes when an event is published (or the log is reset).
    pub(crate) changes: watch::Receiver<u64>,
    /// Changes on reset and shutdown.
    pub(crate) lifecycle: watch::Receiver<Lifecycle>,
    diagnostics: Arc<Diagnostics>,
}

impl App {
    /// A new subscriber of the event log, reading from `start`.
    pub(crate) fn subscribe(&self, start: Start) -> Subscription {
        let hub = Arc::clone(&self.events);
        let mut changes = hub.changes();
        changes.mark_unchanged();
        let mut lifecycle = self.lifecycle();
        lifecycle.mark_unchanged();
        Subscription {
            _guard: hub.subscriber(),
            cursor: hub.cursor(start),
            hub,
            changes,
            lifecycle,
            diagnostics: Arc::clone(&self.diagnostics),
        }
    }

    /// The messages published from now on, each once (whatever SSE copies
    /// chaos adds); the stream ends on reset, on shutdown, or if it falls
    /// too far behind. It does not count as a subscriber.
    pub(crate) fn live_messages(&self) -> BoxStream<'static, Message> {
        let hub = Arc::clone(&self.events);
        let mut changes = hub.changes();
        changes.mark_unchanged();
        let cursor = hub.cursor(Start::Live);
        let state = (hub, cursor, changes, Vec::<Message>::new());
        futures::stream::unfold(
            state,
            |(hub, mut cursor, mut changes, mut ready)| async move {
                loop {
                    if let Some(m) = ready.pop() {
                        return Some((m, (hub, cursor, changes, ready)));
                    }
                    match hub.read(&mut cursor, BATCH) {
                        Read::Deliveries(batch) => {
                            ready = batch
                                .into_iter()
                                .filter(|d| d.copy == 0)
                                .map(|d| d.message.message())
                                .rev()
                                .collect();
                        }
                        Read::Pending => changes.changed().await.ok()?,
                        Read::Reset | Read::Lagged => return None,
                    }
                }
            },
        )
        .boxed()
    }

    /// Open SSE connections.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.events.subscriber_count()
    }

    /// A receiver that changes on every publish, reset and change of the
    /// SSE subscribers.
    pub(crate) fn event_changes(&self) -> watch::Receiver<u64> {
        self.events.changes()
    }

    /// Multiplies a delay by the server's `time_scale`.
    pub(crate) fn scale(&self, d: Duration) -> Duration {
        self.ticker.scale(d)
    }
}

impl Subscription {
    /// The next deliveries from the cursor on (a batch at most).
    pub(crate) fn read(&mut self) -> Read {
        self.hub.read(&mut self.cursor, BATCH)
    }

    /// The server ends (or cuts) the stream after `delivered` events:
    /// clients will reconnect.
    pub(crate) fn ended_by_server(&self, delivered: u64) {
        self.diagnostics.stream_ended_by_server(delivered);
    }
}
