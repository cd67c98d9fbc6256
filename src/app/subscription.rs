//! An SSE connection's view of the server: its cursor into the event log,
//! the changes and lifecycle it waits on, and the diagnostics told when
//! the server ends it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{App, Lifecycle};
use crate::diagnostics::Diagnostics;
use crate::events::{Cursor, EventHub, Read, Start, SubscriberGuard};

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

    /// Multiplies a delay by the server's `time_scale`.
    pub(crate) fn scale(&self, d: Duration) -> Duration {
        self.ticker.scale(d)
    }
}

impl Subscription {
    /// Up to `max` deliveries from the cursor on.
    pub(crate) fn read(&mut self, max: usize) -> Read {
        self.hub.read(&mut self.cursor, max)
    }

    /// The server ends (or cuts) the stream after `delivered` events:
    /// clients will reconnect.
    pub(crate) fn ended_by_server(&self, delivered: u64) {
        self.diagnostics.stream_ended_by_server(delivered);
    }
}
