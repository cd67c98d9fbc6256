//! The SSE broadcast and its bounded replay log.
//!
//! Publishing never waits for subscribers: events go into a bounded log and a
//! `tokio::sync::broadcast` channel. A subscriber that falls more than the
//! channel's capacity behind is told it lagged and is disconnected; it can
//! resume from the log with `Last-Event-ID`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;

use crate::model::DuplicateIds;
use crate::seeded::lock;
use crate::store::StoredMessage;

/// One SSE event: a message under an event id.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub(crate) id: u64,
    /// 0 for the first delivery of a message, 1.. for chaos copies.
    pub(crate) copy: u32,
    pub(crate) message: Arc<StoredMessage>,
}

#[derive(Debug)]
struct Log {
    next_id: u64,
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
    pub(crate) backlog: Vec<Event>,
    pub(crate) live: broadcast::Receiver<Event>,
}

/// The event hub of one server.
#[derive(Debug)]
pub(crate) struct EventHub {
    log: Mutex<Log>,
    tx: broadcast::Sender<Event>,
    duplicate_ids: DuplicateIds,
}

impl EventHub {
    pub(crate) fn new(log_capacity: usize, queue: usize, duplicate_ids: DuplicateIds) -> Self {
        let (tx, _) = broadcast::channel(queue.max(1));
        EventHub {
            log: Mutex::new(Log {
                next_id: 1,
                events: VecDeque::new(),
                capacity: log_capacity.max(1),
            }),
            tx,
            duplicate_ids,
        }
    }

    /// Publishes a message `copies` times; returns the event ids used.
    pub(crate) fn publish(&self, message: &Arc<StoredMessage>, copies: u32) -> Vec<u64> {
        let mut log = lock(&self.log);
        let mut ids = Vec::with_capacity(copies as usize);
        let first = log.next_id;
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
                copy,
                message: Arc::clone(message),
            };
            if log.events.len() == log.capacity {
                log.events.pop_front();
            }
            log.events.push_back(event.clone());
            // An error only means nobody is listening.
            let _ = self.tx.send(event);
            ids.push(id);
        }
        ids
    }

    /// Subscribes; the backlog and the live receiver are taken under the log
    /// lock, so nothing is missed or doubled between them.
    pub(crate) fn subscribe(&self, start: Start) -> Subscription {
        let log = lock(&self.log);
        let live = self.tx.subscribe();
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
        Subscription { backlog, live }
    }

    /// Live messages only (for the in-process `subscribe()`).
    pub(crate) fn receiver(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Clears the log and restarts event ids at 1.
    pub(crate) fn reset(&self) {
        let mut log = lock(&self.log);
        log.events.clear();
        log.next_id = 1;
    }

    /// Number of events held in the replay log.
    #[cfg(test)]
    pub(crate) fn log_len(&self) -> usize {
        lock(&self.log).events.len()
    }

    /// Number of live subscribers.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.tx.receiver_count()
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
