//! The SSE broadcast and its bounded replay log.
//!
//! Publishing never waits for subscribers: events go into a bounded log and a
//! `tokio::sync::broadcast` channel. A subscriber that falls more than the
//! channel's capacity behind is told it lagged and is disconnected; it can
//! resume from the log with `Last-Event-ID`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::model::DuplicateIds;
use crate::seeded::lock;
use crate::store::StoredMessage;

/// One SSE event: a message under an event id.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) id: u64,
    /// Which reset period published it: event ids restart at 1 on reset, so
    /// a stream opened before a reset must stop at the first event of the
    /// next period instead of delivering a reused id.
    pub(crate) era: u64,
    /// 0 for the first delivery of a message, 1.. for chaos copies.
    pub(crate) copy: u32,
    pub(crate) message: Arc<StoredMessage>,
    /// The SSE wire form of this event (`data:<json>\nid:<id>\n\n`, as
    /// warp's `sse::Event` renders it), built once and shared by every
    /// subscriber; empty if nobody was subscribed when it was published
    /// (see [`Event::frame`]).
    frame: Bytes,
}

impl Event {
    /// The SSE wire form of this event.
    pub(crate) fn frame(&self) -> Bytes {
        if self.frame.is_empty() {
            sse_frame(self.id, &self.message.json)
        } else {
            self.frame.clone()
        }
    }
}

/// The SSE frame of a message event (`data:<json>`, `id:<n>`, blank line),
/// rendered by warp's `sse::Event` once per event rather than once per
/// subscriber.
fn sse_frame(id: u64, json: &[u8]) -> Bytes {
    // Stored JSON is always UTF-8 and compact (one line).
    let data = String::from_utf8_lossy(json).into_owned();
    let event = warp::sse::Event::default().id(id.to_string()).data(data);
    Bytes::from(event.to_string())
}

#[derive(Debug)]
struct Log {
    next_id: u64,
    era: u64,
    events: VecDeque<Event>,
    capacity: usize,
}

/// Where a new subscription starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// Live events only.
    Live,
    /// Every event still in the log, then live ones.
    All,
    /// Events with id strictly greater than this (or `>=` with overlap).
    After { id: u64, overlap: bool },
}

/// A new subscription: the backlog to send first, then the live receiver.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// The reset period the subscription belongs to.
    pub(crate) era: u64,
    pub(crate) backlog: Vec<Event>,
    pub(crate) live: broadcast::Receiver<Event>,
}

/// The event hub of one server.
#[derive(Debug)]
pub(crate) struct EventHub {
    log: Mutex<Log>,
    /// Created on the first subscription: most servers never have one, and
    /// the channel's `queue` slots are the bulk of a start-up's cost.
    tx: OnceLock<broadcast::Sender<Event>>,
    queue: usize,
    duplicate_ids: DuplicateIds,
}

impl EventHub {
    pub(crate) fn new(log_capacity: usize, queue: usize, duplicate_ids: DuplicateIds) -> Self {
        EventHub {
            log: Mutex::new(Log {
                next_id: 1,
                era: 0,
                events: VecDeque::new(),
                capacity: log_capacity.max(1),
            }),
            tx: OnceLock::new(),
            queue: queue.max(1),
            duplicate_ids,
        }
    }

    fn sender(&self) -> &broadcast::Sender<Event> {
        self.tx.get_or_init(|| broadcast::channel(self.queue).0)
    }

    /// Publishes a message `copies` times; returns the event ids used.
    pub(crate) fn publish(&self, message: &Arc<StoredMessage>, copies: u32) -> Vec<u64> {
        let mut log = lock(&self.log);
        let mut ids = Vec::with_capacity(copies as usize);
        let first = log.next_id;
        let live = self.tx.get().filter(|tx| tx.receiver_count() > 0);
        for copy in 0..copies.max(1) {
            let id = match self.duplicate_ids {
                DuplicateIds::Same if copy > 0 => first,
                _ => {
                    let id = log.next_id;
                    log.next_id += 1;
                    id
                }
            };
            let event = Event {
                id,
                era: log.era,
                copy,
                message: Arc::clone(message),
                frame: match live {
                    Some(_) => sse_frame(id, &message.json),
                    None => Bytes::new(),
                },
            };
            if log.events.len() == log.capacity {
                log.events.pop_front();
            }
            log.events.push_back(event.clone());
            // No channel, or an error, only means nobody is listening.
            if let Some(tx) = live {
                let _ = tx.send(event);
            }
            ids.push(id);
        }
        ids
    }

    /// Subscribes; the backlog and the live receiver are taken under the log
    /// lock, so nothing is missed or doubled between them.
    pub(crate) fn subscribe(&self, start: Start) -> Subscription {
        let log = lock(&self.log);
        let live = self.sender().subscribe();
        let last_issued = log.next_id - 1;
        let backlog = match start {
            Start::Live => Vec::new(),
            Start::All => log.events.iter().cloned().collect(),
            // An id we never issued (from before a reset, or invented): the
            // client missed everything we hold, so give it all.
            Start::After { id, .. } if id > last_issued => log.events.iter().cloned().collect(),
            Start::After { id, overlap } => {
                let from = log.events.partition_point(|e| e.id < id);
                let from = match log.events.get(from) {
                    Some(e) if e.id == id && !overlap => {
                        // skip every event carrying that id
                        from + log.events.range(from..).take_while(|e| e.id == id).count()
                    }
                    _ => from,
                };
                log.events.range(from..).cloned().collect()
            }
        };
        Subscription {
            era: log.era,
            backlog,
            live,
        }
    }

    /// Live messages only (for the in-process `subscribe()`).
    pub(crate) fn receiver(&self) -> broadcast::Receiver<Event> {
        self.sender().subscribe()
    }

    /// Clears the log and restarts event ids at 1.
    pub(crate) fn reset(&self) {
        let mut log = lock(&self.log);
        log.events.clear();
        log.next_id = 1;
        log.era += 1;
    }

    /// Number of events held in the replay log.
    #[cfg(test)]
    pub(crate) fn log_len(&self) -> usize {
        lock(&self.log).events.len()
    }

    /// Number of live subscribers.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.tx.get().map_or(0, |tx| tx.receiver_count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Author, Message};
    use bytes::Bytes;

    fn msg(id: u64) -> Arc<StoredMessage> {
        Arc::new(StoredMessage {
            message: Message {
                id,
                chat_id: 1,
                author: Author::User,
                text: String::new(),
                sent_at: chrono::Utc::now(),
                idempotency_key: String::new(),
            },
            json: Bytes::new(),
        })
    }

    fn ids(events: &[Event]) -> Vec<u64> {
        events.iter().map(|e| e.id).collect()
    }

    #[test]
    fn resume_is_strictly_after_and_bounded() {
        let hub = EventHub::new(5, 16, DuplicateIds::New);
        for i in 1..=8 {
            hub.publish(&msg(i), 1);
        }
        assert_eq!(hub.log_len(), 5);
        let s = |start| ids(&hub.subscribe(start).backlog);
        assert_eq!(s(Start::Live), Vec::<u64>::new());
        assert_eq!(s(Start::All), vec![4, 5, 6, 7, 8]);
        assert_eq!(
            s(Start::After {
                id: 6,
                overlap: false
            }),
            vec![7, 8]
        );
        assert_eq!(
            s(Start::After {
                id: 6,
                overlap: true
            }),
            vec![6, 7, 8]
        );
        assert_eq!(
            s(Start::After {
                id: 1,
                overlap: false
            }),
            vec![4, 5, 6, 7, 8]
        );
        assert_eq!(
            s(Start::After {
                id: 8,
                overlap: false
            }),
            Vec::<u64>::new()
        );
        assert_eq!(
            s(Start::After {
                id: 99,
                overlap: false
            }),
            vec![4, 5, 6, 7, 8]
        );
    }

    #[test]
    fn copies_get_new_or_same_ids() {
        let hub = EventHub::new(100, 16, DuplicateIds::New);
        assert_eq!(hub.publish(&msg(1), 3), vec![1, 2, 3]);
        let hub = EventHub::new(100, 16, DuplicateIds::Same);
        assert_eq!(hub.publish(&msg(1), 3), vec![1, 1, 1]);
        assert_eq!(hub.publish(&msg(2), 1), vec![2]);
        assert_eq!(
            ids(&hub
                .subscribe(Start::After {
                    id: 1,
                    overlap: false
                })
                .backlog),
            vec![2]
        );
    }

    #[test]
    fn frames_are_warps_sse_events_built_once() {
        let mut m = msg(7);
        Arc::get_mut(&mut m).unwrap().json = Bytes::from_static(br#"{"id":7,"text":"a \"b\"\nc"}"#);
        let hub = EventHub::new(10, 16, DuplicateIds::New);
        hub.publish(&m, 1); // nobody listens: the frame is built on demand
        let mut sub = hub.subscribe(Start::All);
        hub.publish(&m, 2); // built once at publish
        let mut backlog = sub.backlog;
        backlog.push(sub.live.try_recv().unwrap());
        backlog.push(sub.live.try_recv().unwrap());
        assert!(backlog[0].frame.is_empty() && !backlog[1].frame.is_empty());
        for id in [0, 9, 10, 1234567890, u64::MAX] {
            let frame = sse_frame(id, b"{}");
            assert_eq!(frame, format!("data:{{}}\nid:{id}\n\n").as_bytes());
        }
        for e in backlog {
            let warp = warp::sse::Event::default()
                .id(e.id.to_string())
                .data(String::from_utf8_lossy(&e.message.json).into_owned())
                .to_string();
            assert_eq!(e.frame(), warp.as_bytes());
        }
    }

    #[test]
    fn a_reset_starts_a_new_era() {
        let hub = EventHub::new(100, 16, DuplicateIds::New);
        let mut old = hub.subscribe(Start::Live);
        hub.reset();
        let new = hub.subscribe(Start::Live);
        assert_eq!(hub.publish(&msg(1), 1), vec![1]);
        let e = old.live.try_recv().unwrap();
        assert_eq!(e.id, 1);
        assert_ne!(e.era, old.era, "an old stream can tell the reused id apart");
        assert_eq!(e.era, new.era);
    }

    #[tokio::test]
    async fn live_events_follow_the_backlog() {
        let hub = EventHub::new(100, 16, DuplicateIds::New);
        hub.publish(&msg(1), 1);
        let mut sub = hub.subscribe(Start::All);
        hub.publish(&msg(2), 1);
        assert_eq!(ids(&sub.backlog), vec![1]);
        assert_eq!(sub.live.recv().await.unwrap().id, 2);
    }
}
