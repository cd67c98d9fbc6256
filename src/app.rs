//! The state of one server and the operations that span its parts: a POST
//! (store → events → bot), an injection, a reset, shutdown.
//!
//! The HTTP layer and the handle call into this and nothing below it; it
//! knows nothing of HTTP. A request goes through its [`RequestScope`]
//! ([`scope`]); an SSE connection reads through its [`Subscription`]
//! ([`subscription`]).

mod scope;
mod subscription;

pub(crate) use scope::RequestScope;
pub(crate) use subscription::Subscription;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

use crate::activity::{Activity, Busy, HeldRoute, Work};
use crate::bot::{self, BotBehavior};
use crate::chaos::engine::{Chaos, Published, MAX_FORCED};
use crate::chaos::{
    Delay, EntryKind, Fault, FaultPlan, FaultScript, JournalEntry, Route, MAX_COPIES,
};
use crate::clock::Ticker;
use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::events::EventHub;
use crate::feed::{Change, Feed};
use crate::fixtures::ChatFixture;
use crate::model::{Author, Chat, ChatId, Message};
use crate::records::{RecordedRequest, Records};
use crate::seeded::{rng_at, uuid_from, Purpose};
use crate::store::{
    Committed, IdSource, LookupError, NewMessage, PostInput, PostOutcome, Store, StoredMessage,
};

/// Whether the server runs (and in which epoch) or stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    Running { epoch: u64 },
    ShuttingDown,
}

/// One server's state.
#[derive(Debug)]
pub(crate) struct App {
    store: Store,
    events: Arc<EventHub>,
    chaos: Chaos,
    ticker: Arc<Ticker>,
    records: Records,
    bot: BotBehavior,
    bot_delay: Delay,
    fixtures: Vec<ChatFixture>,
    script_file: Option<String>,
    lifecycle: watch::Sender<Lifecycle>,
    injected: AtomicU64,
    activity: Arc<Activity>,
    diagnostics: Arc<Diagnostics>,
    feed: Arc<Feed>,
    runtime: tokio::runtime::Handle,
}

/// Everything needed to build an [`App`].
#[derive(Debug)]
pub(crate) struct AppParts {
    pub(crate) store: Store,
    pub(crate) events: Arc<EventHub>,
    pub(crate) chaos: Chaos,
    pub(crate) ticker: Arc<Ticker>,
    pub(crate) records: Records,
    pub(crate) bot: BotBehavior,
    pub(crate) bot_delay: Delay,
    pub(crate) fixtures: Vec<ChatFixture>,
    /// The file of the script being replayed, when it came from one.
    pub(crate) script_file: Option<String>,
    pub(crate) runtime: tokio::runtime::Handle,
}

impl App {
    pub(crate) fn new(parts: AppParts) -> Arc<Self> {
        let time_scale = parts.ticker.time_scale();
        let feed = Arc::new(Feed::default());
        Arc::new(App {
            store: parts.store,
            events: parts.events,
            chaos: parts.chaos,
            ticker: parts.ticker,
            records: parts.records,
            bot: parts.bot,
            bot_delay: parts.bot_delay,
            fixtures: parts.fixtures,
            script_file: parts.script_file,
            lifecycle: watch::channel(Lifecycle::Running { epoch: 0 }).0,
            injected: AtomicU64::new(0),
            activity: Arc::new(Activity::new()),
            diagnostics: Arc::new(Diagnostics::new(time_scale).with_observer({
                let feed = Arc::clone(&feed);
                Arc::new(move |d| feed.emit(|| Change::Diagnostic(d)))
            })),
            feed,
            runtime: parts.runtime,
        })
    }

    /// JSON requests in flight and bot answers pending, now.
    pub(crate) fn busy(&self) -> Busy {
        self.activity.busy()
    }

    /// A receiver that changes with [`busy`](Self::busy) (for a wait:
    /// take it first, then read the counts).
    pub(crate) fn busy_changes(&self) -> watch::Receiver<u64> {
        self.activity.busy_changes()
    }

    /// Sends every pending bot answer now instead of after its delay.
    pub(crate) fn answer_bots_now(&self) {
        self.activity.hurry_bots();
    }

    /// Holds the requests of `route` (accepted, then waiting before any
    /// fault or commit) until the guard drops.
    pub(crate) fn hold(&self, route: Route) -> HeldRoute {
        self.activity.hold(route)
    }

    /// The seed every draw comes from.
    pub(crate) fn seed(&self) -> u64 {
        self.chaos.seed()
    }

    /// The fault plan in force.
    pub(crate) fn plan(&self) -> Arc<FaultPlan> {
        self.chaos.plan()
    }

    /// Replaces the fault plan (for the requests that follow).
    pub(crate) fn set_plan(&self, plan: FaultPlan) {
        self.feed.emit(|| Change::Plan(&plan));
        self.chaos.set_plan(plan);
    }

    /// How many decisions the script being replayed holds, if one is.
    pub(crate) fn replaying(&self) -> Option<usize> {
        self.chaos.replaying()
    }

    /// The file the replayed script came from, when it came from one.
    pub(crate) fn script_file(&self) -> Option<&str> {
        self.script_file.as_deref()
    }

    /// The server's time since start, and its time scale (for the live
    /// feed's snapshot).
    pub(crate) fn uptime_and_scale(&self) -> (Duration, f64) {
        (self.ticker.reading().1, self.ticker.time_scale())
    }

    /// The chaos journal since start or reset.
    pub(crate) fn journal(&self) -> Vec<JournalEntry> {
        self.chaos.journal()
    }

    /// The non-calm decisions since start or reset, as a script.
    pub(crate) fn recorded_script(&self) -> FaultScript {
        self.chaos.recorded()
    }

    /// The last `n` journal entries.
    pub(crate) fn journal_tail(&self, n: usize) -> Vec<JournalEntry> {
        self.chaos.journal_tail(n)
    }

    /// The requests recorded since start or reset.
    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        self.records.all()
    }

    /// A receiver that changes whenever a request is recorded or updated.
    pub(crate) fn request_changes(&self) -> watch::Receiver<u64> {
        self.records.changes()
    }

    /// What the diagnostics found since start or reset.
    pub(crate) fn diagnosed(&self) -> Vec<Diagnostic> {
        self.diagnostics.all()
    }

    /// Whether the next 405 with two `Allow` lines lists them the other
    /// way round (as the reference does one time in eight).
    pub(crate) fn allow_order_flips(&self) -> bool {
        self.chaos.allow_order_flips()
    }

    /// The live feed: what happens, for the admin API's viewers.
    pub(crate) fn feed(&self) -> &Arc<Feed> {
        &self.feed
    }

    /// A receiver that changes on every reset and on shutdown.
    pub(crate) fn lifecycle(&self) -> watch::Receiver<Lifecycle> {
        self.lifecycle.subscribe()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.lifecycle.borrow() == Lifecycle::ShuttingDown
    }

    /// Tells every long-lived task (connections, streams, bot answers,
    /// injected delays) to stop. Never blocks.
    pub(crate) fn begin_shutdown(&self) {
        self.lifecycle.send_replace(Lifecycle::ShuttingDown);
        self.activity.open_all();
    }

    /// Sleeps for `d`, or less if the server shuts down meanwhile.
    pub(crate) async fn sleep(&self, d: Duration) {
        if d.is_zero() {
            return;
        }
        let mut rx = self.lifecycle();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = rx.wait_for(|l| *l == Lifecycle::ShuttingDown) => {}
        }
    }

    /// `GET /chats`.
    pub(crate) fn chats_body(&self) -> Bytes {
        self.store.chats_body()
    }

    /// `GET /chats/{id}/messages`.
    pub(crate) fn history_body(&self, raw_chat: &str) -> Result<Bytes, LookupError> {
        self.store.history_body(raw_chat)
    }

    pub(crate) fn chats(&self) -> Vec<Chat> {
        self.store.chats()
    }

    pub(crate) fn messages(&self, chat: &ChatId) -> Option<Vec<Message>> {
        self.store.messages(chat)
    }

    pub(crate) fn add_chat(&self, name: String) -> Chat {
        let chat = self.store.add_chat(name);
        self.feed.emit(|| Change::Chat(&chat));
        chat
    }

    /// Whether a POST with `key` gets as far as reading its body.
    pub(crate) fn post_reads_body(&self, key: Option<&[u8]>) -> bool {
        self.store.post_reads_body(key)
    }

    /// `POST /chats/{id}/messages`: checks and stores (serialised with every
    /// other POST), publishes with chaos copies, schedules the bot; reports
    /// a key reused for another message.
    pub(crate) fn post(
        self: &Arc<Self>,
        input: PostInput<'_>,
        request_seq: u64,
    ) -> (PostOutcome, Vec<u64>) {
        // The raw bytes: the copy count is drawn from them, not from the
        // key as shown (two keys may show alike).
        let key = input.key.unwrap_or_default();
        let mut event_ids = Vec::new();
        let outcome = self.store.post(input, |msg| {
            let copies = self.chaos.copies_for(key);
            event_ids = self.events.publish(msg, copies.count);
            self.feed
                .emit(|| Change::Delivery(msg.message(), &event_ids));
        });
        match &outcome {
            PostOutcome::Stored(committed) => {
                let m = committed.message.message();
                let (at, text) = (self.ticker.now(), m.text.as_str());
                self.diagnostics
                    .message_stored(key, (m.chat_id, text), at, request_seq);
                self.schedule_bot(committed);
            }
            PostOutcome::KnownKey { same: true } => self.diagnostics.known_key_answered(key),
            PostOutcome::KnownKey { same: false } => {
                self.diagnostics
                    .key_reused(key, self.ticker.now(), request_seq);
            }
            _ => {}
        }
        (outcome, event_ids)
    }

    fn schedule_bot(self: &Arc<Self>, committed: &Committed) {
        let Some(n) = committed.user_ordinal else {
            return;
        };
        if self.bot.is_silent() {
            return;
        }
        let draw = bot::draw(self.chaos.seed(), committed.epoch, n, &self.bot_delay);
        let delay = self.ticker.scale(draw.delay);
        let epoch = committed.epoch;
        // The stored message, shared: its text is read back when the bot
        // answers, not copied for the seconds it waits.
        let user_message = Arc::clone(&committed.message);
        let weak: Weak<App> = Arc::downgrade(self);
        let mut lifecycle = self.lifecycle();
        let mut hurry = self.activity.hurry();
        let pending = self.activity.start(Work::Bot);
        self.runtime.spawn(async move {
            let _pending = pending;
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = hurry.changed() => {}
                _ = lifecycle.changed() => return,
            }
            let Some(app) = weak.upgrade() else { return };
            let Some(chat) = app.store.chat(&user_message.chat_id) else {
                return;
            };
            let Some(text) = app.bot.answer(&chat, &user_message.message(), draw.line) else {
                return;
            };
            app.publish_other(
                EntryKind::BotAnswer,
                NewMessage {
                    chat: chat.id,
                    author: Author::Bot,
                    text,
                    source: IdSource::Bot(n),
                    key: draw.key,
                    epoch: Some(epoch),
                },
            );
        });
    }

    /// Stores and publishes a message that is not a client POST.
    fn publish_other(&self, kind: EntryKind, new: NewMessage) -> Option<Arc<StoredMessage>> {
        let mut published = None;
        let key = new.key.clone();
        let committed = self.store.insert(new, |msg| {
            let copies = self.chaos.copies_for(key.as_bytes());
            let ids = self.events.publish(msg, copies.count);
            self.feed.emit(|| Change::Delivery(msg.message(), &ids));
            published = Some((copies, ids));
        })?;
        if let Some((copies, event_ids)) = published {
            self.chaos.journal_publish(Published {
                kind,
                key,
                message_id: committed.message.id,
                copies,
                event_ids,
            });
        }
        Some(committed.message)
    }

    /// Stores a message as if `author` had sent it, and publishes it. No bot
    /// answer follows. `None` if the chat does not exist.
    pub(crate) fn inject(&self, chat: &ChatId, author: Author, text: String) -> Option<Message> {
        let n = self.injected.fetch_add(1, Ordering::SeqCst);
        let epoch = self.store.epoch();
        let key = uuid_from(&mut rng_at(
            self.chaos.seed(),
            Purpose::Inject as u64,
            epoch,
            n,
        ));
        self.publish_other(
            EntryKind::Injected,
            NewMessage {
                chat: *chat,
                author,
                text,
                source: IdSource::Injected(n),
                key: key.to_string(),
                epoch: None,
            },
        )
        .map(|m| m.message())
    }

    /// Queues `fault` for the next `count` requests on `route` (a
    /// `DuplicateEvent` for the next `count` published messages, whatever
    /// the route), or says why it cannot.
    pub(crate) fn force(&self, route: Route, fault: Fault, count: usize) -> Result<(), String> {
        if count == 0 || count > MAX_FORCED {
            return Err(format!("count must be from 1 to {MAX_FORCED}"));
        }
        match fault {
            Fault::DuplicateEvent { copies } if !(1..=MAX_COPIES).contains(&copies) => {
                return Err(format!(
                    "duplicate_event copies must be from 1 to {MAX_COPIES}"
                ))
            }
            Fault::DuplicateEvent { .. } => {}
            f if f.applies_to(route) => {}
            f => {
                return Err(format!(
                    "fault {} does not apply to route {route}",
                    f.name()
                ))
            }
        }
        for _ in 0..count {
            let queued = match fault {
                Fault::DuplicateEvent { copies } => self.chaos.force_copies(copies),
                f => self.chaos.force(route, f),
            };
            if !queued {
                return Err(format!("at most {MAX_FORCED} faults may wait per route"));
            }
        }
        self.feed.emit(|| Change::Forced(route, fault, count));
        Ok(())
    }

    /// Fixtures back; keys, counters, event log, journal, request records
    /// and pending bot answers cleared; open streams end.
    pub(crate) fn reset(&self) {
        self.store.reset(&self.fixtures);
        self.events.reset();
        self.chaos.reset();
        self.records.clear();
        self.diagnostics.clear();
        self.activity.open_all();
        self.injected.store(0, Ordering::SeqCst);
        self.feed.emit(|| Change::Reset);
        self.lifecycle.send_modify(|l| {
            if let Lifecycle::Running { epoch } = l {
                *epoch += 1;
            }
        });
    }
}
