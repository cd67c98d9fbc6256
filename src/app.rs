//! The state of one server and the operations that span several concerns:
//! committing a message (store → events → bot), injecting, resetting.
//!
//! Both the HTTP layer and the handle call into this; it knows nothing of HTTP.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use crate::bot::{self, BotBehavior};
use crate::chaos::{Chaos, Delay, EntryKind};
use crate::events::EventHub;
use crate::model::{Author, ChatFixture, RecordedRequest, Replay};
use crate::seeded::{lock, uuid_at, Stream};
use crate::store::{Committed, Reservation, Store, StoredMessage};

/// Settings the HTTP layer reads.
#[derive(Debug, Clone)]
pub(crate) struct HttpConfig {
    pub(crate) replay: Option<Replay>,
    pub(crate) keep_alive: Duration,
    pub(crate) sse_retry: Option<Duration>,
    pub(crate) admin: bool,
    pub(crate) request_log_capacity: usize,
}

/// Why a reset or shutdown happened, as seen by long-lived tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Epoch {
    Running(u64),
    ShuttingDown,
}

/// One server's state.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) store: Arc<Store>,
    pub(crate) events: EventHub,
    pub(crate) chaos: Chaos,
    pub(crate) http: HttpConfig,
    bot: BotBehavior,
    bot_delay: Delay,
    fixtures: Vec<ChatFixture>,
    epoch: watch::Sender<Epoch>,
    requests: Mutex<VecDeque<RecordedRequest>>,
    request_seq: AtomicU64,
    injected: AtomicU64,
    runtime: tokio::runtime::Handle,
}

/// Everything needed to build an [`App`].
#[derive(Debug)]
pub(crate) struct AppParts {
    pub(crate) store: Arc<Store>,
    pub(crate) events: EventHub,
    pub(crate) chaos: Chaos,
    pub(crate) http: HttpConfig,
    pub(crate) bot: BotBehavior,
    pub(crate) bot_delay: Delay,
    pub(crate) fixtures: Vec<ChatFixture>,
    pub(crate) runtime: tokio::runtime::Handle,
}

impl App {
    pub(crate) fn new(parts: AppParts) -> Arc<Self> {
        let (epoch, _) = watch::channel(Epoch::Running(0));
        Arc::new(App {
            store: parts.store,
            events: parts.events,
            chaos: parts.chaos,
            http: parts.http,
            bot: parts.bot,
            bot_delay: parts.bot_delay,
            fixtures: parts.fixtures,
            epoch,
            requests: Mutex::new(VecDeque::new()),
            request_seq: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            runtime: parts.runtime,
        })
    }

    /// A receiver that changes on every reset and on shutdown.
    pub(crate) fn epoch(&self) -> watch::Receiver<Epoch> {
        self.epoch.subscribe()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.epoch.borrow() == Epoch::ShuttingDown
    }

    /// Tells every long-lived task (SSE streams, bot answers, injected
    /// delays) to stop. Never blocks.
    pub(crate) fn begin_shutdown(&self) {
        self.epoch.send_replace(Epoch::ShuttingDown);
    }

    /// Sleeps for `d`, or less if the server shuts down meanwhile.
    pub(crate) async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        let mut rx = self.epoch();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = rx.wait_for(|e| *e == Epoch::ShuttingDown) => {}
        }
    }

    /// The effective replay for new subscribers: the builder's explicit
    /// choice, else the plan's, else live only.
    pub(crate) fn replay(&self) -> Replay {
        self.http
            .replay
            .or(self.chaos.plan().events.replay)
            .unwrap_or(Replay::None)
    }

    /// Stores a reserved user message, publishes it (with chaos copies) and
    /// schedules the bot's answer.
    pub(crate) fn commit_user_message(
        self: &Arc<Self>,
        reservation: &mut Reservation,
    ) -> (Arc<StoredMessage>, Vec<u64>) {
        let mut event_ids = Vec::new();
        let committed = self.store.commit(reservation, |msg| {
            let (copies, _) = self.chaos.copies_for(&msg.message.idempotency_key);
            event_ids = self.events.publish(msg, copies);
        });
        self.schedule_bot(&committed);
        (committed.message, event_ids)
    }

    fn schedule_bot(self: &Arc<Self>, committed: &Committed) {
        let Some(n) = committed.user_ordinal else {
            return;
        };
        if self.bot.is_silent() {
            return;
        }
        let draw = bot::draw(self.chaos.seed(), n, &self.bot_delay);
        let delay = self.chaos.scale(draw.delay);
        let generation = committed.generation;
        let user_message = committed.message.message.clone();
        let weak: Weak<App> = Arc::downgrade(self);
        let mut epoch = self.epoch();
        self.runtime.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = epoch.changed() => return,
            }
            let Some(app) = weak.upgrade() else { return };
            let Some(chat) = app.store.chat(user_message.chat_id) else {
                return;
            };
            let Some(text) = app.bot.answer(&chat, &user_message, draw.line) else {
                return;
            };
            app.publish_other(
                EntryKind::BotAnswer,
                user_message.chat_id,
                Author::Bot,
                text,
                draw.key,
                Some(generation),
            );
        });
    }

    /// Stores and publishes a message that is not a client POST.
    fn publish_other(
        &self,
        kind: EntryKind,
        chat_id: u64,
        author: Author,
        text: String,
        key: String,
        generation: Option<u64>,
    ) -> Option<Arc<StoredMessage>> {
        let mut published = (1, false, Vec::new());
        let committed = self
            .store
            .insert(chat_id, author, text, key, generation, |msg| {
                let (copies, forced) = self.chaos.copies_for(&msg.message.idempotency_key);
                published = (copies, forced, self.events.publish(msg, copies));
            })?;
        let m = &committed.message.message;
        let (copies, forced, ids) = published;
        self.chaos
            .journal_publish(kind, &m.idempotency_key, m.id, copies, forced, ids);
        Some(committed.message)
    }

    /// Stores a message as if `author` had sent it, and publishes it. No bot
    /// answer follows. `None` if the chat does not exist.
    pub(crate) fn inject(
        &self,
        chat_id: u64,
        author: Author,
        text: String,
    ) -> Option<Arc<StoredMessage>> {
        self.store.chat(chat_id)?;
        let n = self.injected.fetch_add(1, Ordering::SeqCst);
        let key = uuid_at(self.chaos.seed(), Stream::Inject, n).to_string();
        self.publish_other(EntryKind::Injected, chat_id, author, text, key, None)
    }

    /// Fixtures back, keys, counters, journal, request log and pending bot
    /// answers cleared, SSE subscribers disconnected.
    pub(crate) fn reset(&self) {
        self.store.reset(&self.fixtures);
        self.events.reset();
        self.chaos.reset();
        self.injected.store(0, Ordering::SeqCst);
        self.request_seq.store(0, Ordering::SeqCst);
        lock(&self.requests).clear();
        self.epoch.send_modify(|e| {
            if let Epoch::Running(n) = e {
                *n += 1;
            }
        });
    }

    /// Records a received request (bounded).
    pub(crate) fn record_request(&self, mut req: RecordedRequest) {
        let cap = self.http.request_log_capacity;
        if cap == 0 {
            return;
        }
        req.seq = self.request_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let mut log = lock(&self.requests);
        if log.len() >= cap {
            log.pop_front();
        }
        log.push_back(req);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).iter().cloned().collect()
    }
}
