//! The event log behind the SSE stream.
//!
//! Every delivery (each chaos copy is one) gets an id from 0 and its SSE
//! frame, built once, and goes into one bounded, shared log. A subscriber is
//! only a cursor into that log: replaying 100,000 events to a new subscriber
//! copies nothing, and a subscriber that stops reading costs a few words. A
//! `watch` channel wakes subscribers on every publish and on reset.
//! Publishing never waits for anyone.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::store::StoredMessage;

/// How chaos copies of an event are numbered on the SSE stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateIds {
    /// Each copy gets its own new event id, as the reference server does:
    /// clients must de-duplicate by message id (the default).
    #[default]
    New,
    /// Every copy repeats the first copy's event id.
    Same,
}

/// What a new SSE subscriber without `Last-Event-ID` receives first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replay {
    /// The whole event log, then live events: what the reference's SSE
    /// library does (the default).
    #[default]
    All,
    /// Live events only.
    None,
}

/// Frames whose `data:` part is up to this size are sent as one copied
/// chunk; larger ones as the `id:` line and the message's shared bytes,
/// uncopied.
const COPIED_FRAME: usize = 4 * 1024;

/// What one delivery costs in the log beyond its frame (the entry itself).
const DELIVERY_OVERHEAD: usize = std::mem::size_of::<Delivery>();

/// One delivery of a message on the stream: its id and the stored message
/// (copies share it; the frame is assembled when sent).
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) id: u64,
    /// 0 for a message's first delivery, 1.. for its chaos copies.
    pub(crate) copy: u32,
    pub(crate) message: Arc<StoredMessage>,
}

impl Delivery {
    /// The SSE frame, `id: N\ndata: {json}\n\n`, exactly as the reference
    /// writes it: one chunk when small, else the `id:` line and the
    /// message's shared `data:` bytes (a 1 MiB message replayed to many
    /// subscribers is never copied for them).
    pub(crate) fn frame(&self) -> (Bytes, Option<Bytes>) {
        use std::fmt::Write;
        let data = self.message.sse_data();
        let large = data.len() > COPIED_FRAME;
        // `id: ` and up to 20 digits and `\n`.
        let mut out = BytesMut::with_capacity(25 + if large { 0 } else { data.len() });
        // Writing into a `BytesMut` cannot fail.
        let _ = writeln!(out, "id: {}", self.id);
        if large {
            return (out.freeze(), Some(data.clone()));
        }
        out.extend_from_slice(data);
        (out.freeze(), None)
    }

    /// What it costs in the log's byte budget: the frame a replay sends
    /// (copies count each time, although they share their bytes).
    fn cost(&self) -> usize {
        self.message.sse_data().len() + DELIVERY_OVERHEAD
    }
}

#[derive(Debug)]
struct Log {
    /// Position (a monotonic index, never reused, across resets too) of
    /// `entries[0]`.
    first_pos: u64,
    entries: VecDeque<Delivery>,
    next_id: u64,
    epoch: u64,
    capacity: usize,
    /// What the entries cost ([`Delivery::cost`]) and the budget for it.
    bytes: usize,
    byte_budget: usize,
}

impl Log {
    fn head(&self) -> u64 {
        self.first_pos + self.entries.len() as u64
    }

    /// Drops the oldest deliveries past the count or the byte budget,
    /// keeping at least the newest.
    fn drop_oldest(&mut self) {
        while self.entries.len() > self.capacity
            || (self.bytes > self.byte_budget && self.entries.len() > 1)
        {
            let Some(old) = self.entries.pop_front() else {
                break;
            };
            self.bytes -= old.cost();
            self.first_pos += 1;
        }
    }
}

/// Where a subscriber starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Live events only.
    Live,
    /// Every delivery still held, then live ones.
    All,
    /// Deliveries with an id of at least this (the reference's inclusive
    /// resume), then live ones.
    From(i64),
}

/// A subscriber's position in the log.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cursor {
    pos: u64,
    /// The head when it subscribed: it may lag only behind live events.
    live_from: u64,
    pub(crate) epoch: u64,
}

/// What the next read of a cursor gave.
#[derive(Debug)]
pub(crate) enum Read {
    /// Deliveries, in order.
    Deliveries(Vec<Delivery>),
    /// Nothing new yet: wait on [`EventHub::changes`].
    Pending,
    /// The log was reset (or the server stops): the stream is over.
    Reset,
    /// The reader fell more than the lag limit behind, or out of the log.
    Lagged,
}

/// The event log of one server.
#[derive(Debug)]
pub(crate) struct EventHub {
    log: RwLock<Log>,
    changes: watch::Sender<u64>,
    duplicate_ids: DuplicateIds,
    lag_limit: u64,
    subscribers: AtomicUsize,
}

/// Counts an open SSE connection while it lives.
#[derive(Debug)]
pub(crate) struct SubscriberGuard(Arc<EventHub>);

impl Drop for SubscriberGuard {
    fn drop(&mut self) {
        self.0.subscribers.fetch_sub(1, Ordering::SeqCst);
        self.0.changes.send_modify(|v| *v += 1);
    }
}

impl EventHub {
    pub(crate) fn new(capacity: usize, lag_limit: usize, duplicate_ids: DuplicateIds) -> Self {
        EventHub {
            log: RwLock::new(Log {
                first_pos: 0,
                entries: VecDeque::new(),
                next_id: 0,
                epoch: 0,
                capacity: capacity.max(1),
                bytes: 0,
                byte_budget: usize::MAX,
            }),
            changes: watch::channel(0).0,
            duplicate_ids,
            lag_limit: lag_limit.max(1) as u64,
            subscribers: AtomicUsize::new(0),
        }
    }

    /// Bounds the log in bytes too ([`Delivery::cost`]): past the budget,
    /// the oldest deliveries are dropped (the newest is always kept).
    pub(crate) fn with_byte_budget(self, bytes: usize) -> Self {
        crate::sync::write(&self.log).byte_budget = bytes;
        self
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Log> {
        crate::sync::write(&self.log)
    }

    fn read_log(&self) -> std::sync::RwLockReadGuard<'_, Log> {
        crate::sync::read(&self.log)
    }

    /// Publishes a message `copies` times; returns the event ids used.
    pub(crate) fn publish(&self, message: &Arc<StoredMessage>, copies: u32) -> Vec<u64> {
        let mut ids = Vec::with_capacity(copies as usize);
        {
            let mut log = self.write();
            let first = log.next_id;
            for copy in 0..copies.max(1) {
                let id = match self.duplicate_ids {
                    DuplicateIds::Same if copy > 0 => first,
                    _ => {
                        log.next_id += 1;
                        log.next_id - 1
                    }
                };
                let delivery = Delivery {
                    id,
                    copy,
                    message: Arc::clone(message),
                };
                log.bytes += delivery.cost();
                log.entries.push_back(delivery);
                ids.push(id);
            }
            log.drop_oldest();
        }
        self.changes.send_modify(|v| *v += 1);
        ids
    }

    /// A cursor for a new subscriber.
    pub(crate) fn cursor(&self, start: Start) -> Cursor {
        let log = self.read_log();
        let head = log.head();
        let pos = match start {
            Start::Live => head,
            Start::All => log.first_pos,
            Start::From(n) if n <= 0 => log.first_pos,
            Start::From(n) => {
                let n = n as u64;
                log.first_pos + log.entries.partition_point(|d| d.id < n) as u64
            }
        };
        Cursor {
            pos,
            live_from: head,
            epoch: log.epoch,
        }
    }

    /// Up to `max` deliveries from `cursor` on (clones of shared frames).
    pub(crate) fn read(&self, cursor: &mut Cursor, max: usize) -> Read {
        let log = self.read_log();
        if log.epoch != cursor.epoch {
            return Read::Reset;
        }
        let head = log.head();
        if cursor.pos < log.first_pos || head - cursor.pos.max(cursor.live_from) > self.lag_limit {
            return Read::Lagged;
        }
        if cursor.pos == head {
            return Read::Pending;
        }
        let from = (cursor.pos - log.first_pos) as usize;
        let batch: Vec<Delivery> = log.entries.range(from..).take(max).cloned().collect();
        cursor.pos += batch.len() as u64;
        Read::Deliveries(batch)
    }

    /// A receiver that changes on every publish, reset and subscriber
    /// change.
    pub(crate) fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Clears the log and restarts event ids at 0; open cursors see
    /// [`Read::Reset`].
    pub(crate) fn reset(&self) {
        {
            let mut log = self.write();
            let head = log.head();
            log.entries.clear();
            log.bytes = 0;
            log.first_pos = head;
            log.next_id = 0;
            log.epoch += 1;
        }
        self.changes.send_modify(|v| *v += 1);
    }

    /// Counts an SSE connection until the guard drops.
    pub(crate) fn subscriber(self: &Arc<Self>) -> SubscriberGuard {
        self.subscribers.fetch_add(1, Ordering::SeqCst);
        self.changes.send_modify(|v| *v += 1);
        SubscriberGuard(Arc::clone(self))
    }

    /// Open SSE connections.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.subscribers.load(Ordering::SeqCst)
    }

    /// Deliveries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.read_log().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Author, ChatId, Message, MessageId};

    fn msg_of(n: u64, text: String) -> Arc<StoredMessage> {
        Arc::new(StoredMessage::new(&Message {
            id: MessageId::number(n),
            chat_id: ChatId::number(1),
            author: Author::Bot,
            text,
            sent_at: chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap(),
            idempotency_key: format!("k{n}"),
        }))
    }

    fn msg(n: u64) -> Arc<StoredMessage> {
        msg_of(n, String::new())
    }

    /// A delivery's frame in one piece.
    fn whole(d: &Delivery) -> Vec<u8> {
        let (head, rest) = d.frame();
        [&head[..], rest.as_deref().unwrap_or_default()].concat()
    }

    fn ids(r: Read) -> Vec<u64> {
        match r {
            Read::Deliveries(d) => d.iter().map(|d| d.id).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_are_the_references_and_ids_start_at_zero() {
        let hub = EventHub::new(10, 10, DuplicateIds::New);
        assert_eq!(hub.publish(&msg(1), 2), vec![0, 1]);
        let big = msg_of(2, "x".repeat(COPIED_FRAME));
        hub.publish(&big, 1);
        let mut c = hub.cursor(Start::All);
        let Read::Deliveries(d) = hub.read(&mut c, 3) else {
            panic!("deliveries expected");
        };
        let json = r#"{"id":1,"chat_id":1,"author":"bot","text":"","sent_at":"2026-01-01T00:00:00Z","idempotency_key":"k1"}"#;
        assert_eq!(whole(&d[0]), format!("id: 0\ndata: {json}\n\n").as_bytes());
        assert_eq!(whole(&d[1]), format!("id: 1\ndata: {json}\n\n").as_bytes());
        assert!(d[0].frame().1.is_none(), "a small frame is one chunk");
        // A large frame's data is the stored message's bytes, not a copy.
        let (head, data) = d[2].frame();
        assert_eq!(&head[..], b"id: 2\n");
        assert_eq!(data.map(|b| b.as_ptr()), Some(big.sse_data().as_ptr()));
        assert!(whole(&d[2]).ends_with(b"\"idempotency_key\":\"k2\"}\n\n"));
    }

    #[test]
    fn resume_is_inclusive_and_replay_is_the_whole_log() {
        let hub = EventHub::new(100, 100, DuplicateIds::New);
        for i in 0..5 {
            hub.publish(&msg(i), 1);
        }
        assert_eq!(
            ids(hub.read(&mut hub.cursor(Start::All), 100)),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(
            ids(hub.read(&mut hub.cursor(Start::From(3)), 100)),
            vec![3, 4]
        );
        assert_eq!(
            ids(hub.read(&mut hub.cursor(Start::From(-7)), 100)),
            vec![0, 1, 2, 3, 4]
        );
        assert!(matches!(
            hub.read(&mut hub.cursor(Start::From(99)), 100),
            Read::Pending
        ));
        let mut live = hub.cursor(Start::Live);
        assert!(matches!(hub.read(&mut live, 100), Read::Pending));
        hub.publish(&msg(9), 1);
        assert_eq!(ids(hub.read(&mut live, 100)), vec![5]);
    }

    #[test]
    fn the_log_stays_under_its_byte_budget_and_resumes_at_the_oldest_held() {
        let big = |n| msg_of(n, "x".repeat(10_000));
        let cost = Delivery {
            id: 0,
            copy: 0,
            message: big(0),
        }
        .cost();
        let hub = EventHub::new(1_000, 1_000, DuplicateIds::New).with_byte_budget(3 * cost);
        let mut early = hub.cursor(Start::All);
        for n in 0..10 {
            hub.publish(&big(n), 2);
            assert!(hub.read_log().bytes <= 3 * cost);
        }
        assert_eq!(hub.len(), 3);
        // Resuming from a dropped id gets the oldest held; so does a replay.
        assert_eq!(
            ids(hub.read(&mut hub.cursor(Start::From(0)), 10)),
            vec![17, 18, 19]
        );
        assert_eq!(
            ids(hub.read(&mut hub.cursor(Start::All), 10)),
            vec![17, 18, 19]
        );
        // A reader left on a dropped delivery is cut.
        assert!(matches!(hub.read(&mut early, 10), Read::Lagged));
        // One delivery over the whole budget is still held (the newest).
        let tiny = EventHub::new(10, 10, DuplicateIds::New).with_byte_budget(1);
        tiny.publish(&big(1), 1);
        tiny.publish(&big(2), 1);
        assert_eq!(ids(tiny.read(&mut tiny.cursor(Start::All), 10)), vec![1]);
    }

    #[test]
    fn copies_can_share_an_id() {
        let hub = EventHub::new(10, 10, DuplicateIds::Same);
        assert_eq!(hub.publish(&msg(1), 3), vec![0, 0, 0]);
        assert_eq!(hub.publish(&msg(2), 1), vec![1]);
        assert_eq!(
            ids(hub.read(&mut hub.cursor(Start::From(0)), 10)),
            vec![0, 0, 0, 1]
        );
    }

    #[test]
    fn slow_readers_are_cut_but_replays_are_not_lag() {
        let hub = EventHub::new(1000, 4, DuplicateIds::New);
        for i in 0..100 {
            hub.publish(&msg(i), 1);
        }
        // A replay of 100 is fine: only live events count as lag.
        let mut replay = hub.cursor(Start::All);
        assert_eq!(ids(hub.read(&mut replay, 2)), vec![0, 1]);
        let mut slow = hub.cursor(Start::Live);
        for i in 0..5 {
            hub.publish(&msg(i), 1);
        }
        assert!(matches!(hub.read(&mut slow, 10), Read::Lagged));
        // Out of a small log: cut too.
        let small = EventHub::new(2, 100, DuplicateIds::New);
        let mut c = small.cursor(Start::All);
        small.publish(&msg(1), 3);
        assert!(matches!(small.read(&mut c, 10), Read::Lagged));
    }

    #[test]
    fn a_reset_restarts_ids_and_ends_cursors() {
        let hub = EventHub::new(10, 10, DuplicateIds::New);
        hub.publish(&msg(1), 2);
        let mut old = hub.cursor(Start::All);
        hub.reset();
        assert!(matches!(hub.read(&mut old, 10), Read::Reset));
        assert_eq!(hub.publish(&msg(2), 1), vec![0]);
        assert_eq!(hub.len(), 1);
    }
}
