//! The open connections of one server, what each is doing, and who makes
//! room at the cap (the policy is in the [transport's docs](super)).
//!
//! Each connection keeps its own counters, written without a lock on the
//! request path; the registry's lock is taken when a connection opens or
//! closes, and to scan for a victim when the server is full.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::Duration;

use futures::task::AtomicWaker;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};

use crate::sync::lock;

/// How long an evicted connection has to go (a stream to send its last
/// chunk, a victim that just took a request to answer it) before the
/// accept loop makes room elsewhere.
pub(crate) const EVICTION_GRACE: Duration = Duration::from_secs(1);

/// The open connections of one server.
#[derive(Debug)]
pub(crate) struct Connections {
    slots: Arc<Semaphore>,
    open: Mutex<Open>,
    count: watch::Sender<usize>,
    idle: Arc<IdleSignal>,
}

/// The registry proper.
#[derive(Debug, Default)]
struct Open {
    next_id: u64,
    by_id: HashMap<u64, Arc<ConnState>>,
}

/// What connections share: a logical clock to order "idle since", and the
/// accept loop's wish to hear when a connection falls idle.
#[derive(Debug, Default)]
struct IdleSignal {
    clock: AtomicU64,
    waiting: AtomicBool,
    fell_idle: Notify,
}

impl IdleSignal {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// A connection's place among the open ones: it frees its slot when
/// dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    id: u64,
    state: Arc<ConnState>,
    owner: Arc<Connections>,
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// What the connection is doing.
    pub(crate) fn state(&self) -> &Arc<ConnState> {
        &self.state
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.owner.open).by_id.remove(&self.id);
        self.owner.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Connections {
    /// Room for `max` connections at once (at least one).
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Connections {
            slots: Arc::new(Semaphore::new(max.max(1))),
            open: Mutex::new(Open::default()),
            count: watch::channel(0).0,
            idle: Arc::default(),
        })
    }

    /// How many connections are open, and its changes.
    pub(crate) fn count(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    /// A slot for a connection that has just been accepted: a free one, or
    /// one made free by evicting the connection that matters least (see
    /// [`Rank`]); while every connection has a request in progress, waits
    /// until one ends or falls idle. `None` if the slots are gone.
    pub(crate) async fn admit(self: &Arc<Self>) -> Option<Slot> {
        loop {
            if let Ok(permit) = Arc::clone(&self.slots).try_acquire_owned() {
                return Some(self.register(permit));
            }
            // Asked before the scan: a connection that falls idle after it
            // sees the flag and wakes this wait.
            self.idle.waiting.store(true, Ordering::SeqCst);
            let evicted = self.evict_one();
            let freed = Arc::clone(&self.slots).acquire_owned();
            let permit = if evicted {
                // The victim usually goes at once; if it took a request in
                // the meantime (it answers it first) or is a stream slow to
                // end, another makes room after the grace.
                tokio::time::timeout(EVICTION_GRACE, freed).await.ok()
            } else {
                tokio::select! {
                    permit = freed => Some(permit),
                    _ = self.idle.fell_idle.notified() => None,
                }
            };
            if let Some(permit) = permit {
                self.idle.waiting.store(false, Ordering::SeqCst);
                return permit.ok().map(|p| self.register(p));
            }
        }
    }

    fn register(self: &Arc<Self>, permit: OwnedSemaphorePermit) -> Slot {
        let state = Arc::new(ConnState::new(Arc::clone(&self.idle)));
        let id = {
            let mut open = lock(&self.open);
            open.next_id += 1;
            let id = open.next_id;
            open.by_id.insert(id, Arc::clone(&state));
            id
        };
        self.count.send_modify(|n| *n += 1);
        Slot {
            id,
            state,
            owner: Arc::clone(self),
            _permit: permit,
        }
    }

    /// Tells the connection that matters least to go, if any may; says
    /// whether one was told.
    pub(crate) fn evict_one(&self) -> bool {
        let open = lock(&self.open);
        let victim = open
            .by_id
            .values()
            .filter_map(|c| Some((c.rank()?, c)))
            .min_by_key(|(rank, _)| *rank);
        match victim {
            Some((_, conn)) => {
                conn.evict();
                true
            }
            None => false,
        }
    }
}

/// Which connection goes first when the server is full, least valuable
/// first: idle ones (silent since they connected, or kept alive after an
/// answer), then ones that have sent part of a request head, then streams;
/// within each, the longest idle or the oldest stream. A connection with
/// a request in progress has no rank: it is never evicted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Rank {
    /// No byte of a request pending, idle since this tick.
    Idle(u64),
    /// Part of a request head read, idle since this tick.
    MidHead(u64),
    /// An answer stream open since this tick.
    Streaming(u64),
}

/// What one connection is doing.
#[derive(Debug)]
pub(crate) struct ConnState {
    /// Requests whose answer is still being produced or sent.
    busy: AtomicUsize,
    /// Requests and answers seen, to tell activity between timer checks.
    seen: AtomicU64,
    /// The tick it connected or last fell idle.
    idle_since: AtomicU64,
    /// Bytes were read while idle: a request head has begun.
    head_begun: AtomicBool,
    /// The tick its open stream began; 0: none.
    stream_since: AtomicU64,
    /// Told to go.
    evicted: AtomicBool,
    eviction: Notify,
    /// The open stream's body, woken to end on eviction.
    stream_waker: AtomicWaker,
    idle: Arc<IdleSignal>,
}

impl ConnState {
    fn new(idle: Arc<IdleSignal>) -> Self {
        ConnState {
            busy: AtomicUsize::new(0),
            seen: AtomicU64::new(0),
            idle_since: AtomicU64::new(idle.tick()),
            head_begun: AtomicBool::new(false),
            stream_since: AtomicU64::new(0),
            evicted: AtomicBool::new(false),
            eviction: Notify::new(),
            stream_waker: AtomicWaker::new(),
            idle,
        }
    }

    /// Whether a request is in progress (a stream counts).
    pub(crate) fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Relaxed) > 0
    }

    /// Requests and answers seen so far.
    pub(crate) fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    /// Whether its busy work is an open stream.
    pub(crate) fn is_streaming(&self) -> bool {
        self.stream_since.load(Ordering::Relaxed) != 0
    }

    /// Bytes came in: while idle, a request head has begun.
    pub(crate) fn bytes_read(&self) {
        if !self.is_busy() && !self.head_begun.load(Ordering::Relaxed) {
            self.head_begun.store(true, Ordering::Relaxed);
        }
    }

    fn request_started(&self) {
        self.busy.fetch_add(1, Ordering::SeqCst);
        self.seen.fetch_add(1, Ordering::Relaxed);
        self.head_begun.store(false, Ordering::Relaxed);
    }

    fn request_ended(&self, stream: bool) {
        if stream {
            self.stream_since.store(0, Ordering::Relaxed);
        }
        self.seen.fetch_add(1, Ordering::Relaxed);
        if self.busy.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle_since.store(self.idle.tick(), Ordering::Relaxed);
            if self.idle.waiting.load(Ordering::SeqCst) {
                self.idle.fell_idle.notify_one();
            }
        }
    }

    /// Where it stands for eviction; `None`: keep it.
    pub(crate) fn rank(&self) -> Option<Rank> {
        if self.evicted.load(Ordering::Relaxed) {
            return None;
        }
        if !self.is_busy() {
            let since = self.idle_since.load(Ordering::Relaxed);
            return Some(if self.head_begun.load(Ordering::Relaxed) {
                Rank::MidHead(since)
            } else {
                Rank::Idle(since)
            });
        }
        match self.stream_since.load(Ordering::Relaxed) {
            0 => None,
            since => Some(Rank::Streaming(since)),
        }
    }

    /// Tells the connection to go (and its stream, if any, to end).
    fn evict(&self) {
        self.evicted.store(true, Ordering::SeqCst);
        self.eviction.notify_one();
        self.stream_waker.wake();
    }

    /// Completes once the connection is told to go.
    pub(crate) async fn evicted(&self) {
        self.eviction.notified().await;
    }

    /// Whether the open stream must end now; else wakes `cx` when it must.
    fn stream_must_end(&self, cx: &Context<'_>) -> bool {
        if self.evicted.load(Ordering::SeqCst) {
            return true;
        }
        self.stream_waker.register(cx.waker());
        self.evicted.load(Ordering::SeqCst)
    }
}

/// Counts a request as in progress until dropped (its answer's body sent
/// or abandoned).
#[derive(Debug)]
pub(crate) struct InProgress {
    state: Arc<ConnState>,
    stream: bool,
}

impl InProgress {
    /// A request has started on the connection of `state`.
    pub(crate) fn new(state: &Arc<ConnState>) -> Self {
        state.request_started();
        InProgress {
            state: Arc::clone(state),
            stream: false,
        }
    }

    /// Its answer is a stream: it ranks as one, and ends on eviction.
    pub(crate) fn into_stream(mut self) -> Self {
        self.stream = true;
        let tick = self.state.idle.tick();
        self.state.stream_since.store(tick, Ordering::Relaxed);
        self
    }

    /// For a stream's body: whether it must end now (else `cx` is woken
    /// when it must). Always `false` for other answers.
    pub(crate) fn must_end(&self, cx: &Context<'_>) -> bool {
        self.stream && self.state.stream_must_end(cx)
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        self.state.request_ended(self.stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_goes_before_a_begun_head_before_a_stream() {
        let mut ranks = vec![
            Rank::Streaming(1),
            Rank::MidHead(2),
            Rank::Idle(9),
            Rank::Idle(3),
            Rank::MidHead(1),
        ];
        ranks.sort();
        assert_eq!(
            ranks,
            [
                Rank::Idle(3),
                Rank::Idle(9),
                Rank::MidHead(1),
                Rank::MidHead(2),
                Rank::Streaming(1)
            ]
        );
    }

    #[test]
    fn a_connection_ranks_by_what_it_is_doing() {
        let signal = Arc::new(IdleSignal::default());
        let conn = Arc::new(ConnState::new(Arc::clone(&signal)));
        assert_eq!(conn.rank(), Some(Rank::Idle(1)));
        conn.bytes_read();
        assert_eq!(conn.rank(), Some(Rank::MidHead(1)));
        let request = InProgress::new(&conn);
        assert_eq!(conn.rank(), None, "a request in progress is kept");
        let stream = request.into_stream();
        assert!(matches!(conn.rank(), Some(Rank::Streaming(_))));
        drop(stream);
        assert!(matches!(conn.rank(), Some(Rank::Idle(t)) if t > 1));
        conn.evict();
        assert_eq!(conn.rank(), None, "told once");
    }
}
