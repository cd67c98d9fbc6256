//! The builder, the handle and the server's lifecycle.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::oneshot;
use tokio_stream::wrappers::BroadcastStream;

use crate::app::{App, AppParts, Epoch, HttpConfig};
use crate::bot::{self, BotBehavior};
use crate::chaos::{Chaos, Delay, Fault, FaultPlan, JournalEntry, PlanError, Route};
use crate::events::EventHub;
use crate::model::{
    Author, Chat, ChatFixture, DuplicateIds, IdStyle, Message, RecordedRequest, Replay,
};
use crate::store::{Clock, Store, StoreConfig};

/// The environment variable that supplies the seed when the builder has none.
pub const SEED_ENV: &str = "MOCK_CHAT_SEED";

/// How many journal entries the panic report prints.
const REPORT_ENTRIES: usize = 20;

/// Everything that can go wrong when starting or driving a server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// `MOCK_CHAT_SEED` is set but is not a `u64`.
    #[error("{SEED_ENV}={0:?} is not a valid seed (expected an unsigned 64-bit integer)")]
    InvalidSeed(String),
    /// The fault plan is invalid.
    #[error(transparent)]
    InvalidPlan(#[from] PlanError),
    /// `time_scale` is negative, zero, NaN or infinite.
    #[error("time_scale must be a finite number above 0, got {0}")]
    InvalidTimeScale(f64),
    /// `start()` was called outside a tokio runtime.
    #[error(
        "start() must be called inside a tokio runtime (use #[tokio::test], or start_blocking())"
    )]
    NoRuntime,
    /// The background runtime of `start_blocking()` could not be created.
    #[error("cannot create the background runtime: {0}")]
    Runtime(std::io::Error),
    /// No chat has this id.
    #[error("there is no chat with id {0}")]
    ChatNotFound(u64),
    /// A message text that the API would refuse (empty, or over 10,000 characters).
    #[error("invalid message text: {0}")]
    InvalidText(&'static str),
}

/// Configures and starts a [`MockChatServer`]. Get one from
/// [`MockChatServer::builder`].
#[derive(Debug, Clone)]
pub struct MockChatServerBuilder {
    seed: Option<u64>,
    faults: FaultPlan,
    time_scale: f64,
    chats: Vec<ChatFixture>,
    bot: BotBehavior,
    bot_delay: Delay,
    replay: Option<Replay>,
    duplicate_ids: DuplicateIds,
    id_style: IdStyle,
    clock: Clock,
    keep_alive: Duration,
    sse_retry: Option<Duration>,
    bind: SocketAddr,
    admin: bool,
    key_retention: Duration,
    key_capacity: usize,
    replay_log: usize,
    subscriber_queue: usize,
    journal_capacity: usize,
    request_log: usize,
}

impl Default for MockChatServerBuilder {
    fn default() -> Self {
        MockChatServerBuilder {
            seed: None,
            faults: FaultPlan::none(),
            time_scale: 1.0,
            chats: ChatFixture::defaults(),
            bot: BotBehavior::default(),
            bot_delay: bot::default_delay(),
            replay: None,
            duplicate_ids: DuplicateIds::New,
            id_style: IdStyle::Number,
            clock: Clock::Real,
            keep_alive: Duration::from_secs(15),
            sse_retry: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: false,
            key_retention: Duration::from_secs(24 * 60 * 60),
            key_capacity: 10_000,
            replay_log: 10_000,
            subscriber_queue: 1024,
            journal_capacity: 10_000,
            request_log: 1_000,
        }
    }
}

impl MockChatServerBuilder {
    /// The seed of every random choice. Without it, `MOCK_CHAT_SEED` is
    /// used if set, else a random seed (always readable with
    /// [`MockChatServer::seed`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The fault plan (default [`FaultPlan::none`]).
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// Multiplies every injected delay, timeout, the bot's delay and the SSE
    /// `retry:` hint. `0.01` turns the 5 s timeout into 50 ms.
    pub fn time_scale(mut self, factor: f64) -> Self {
        self.time_scale = factor;
        self
    }

    /// The chats (and their earlier messages) present at start and after
    /// every reset. Default: [`ChatFixture::defaults`].
    pub fn chats(mut self, chats: Vec<ChatFixture>) -> Self {
        self.chats = chats;
        self
    }

    /// What the bots answer (default: a line from [`bot::DEFAULT_LINES`](crate::bot::DEFAULT_LINES)).
    pub fn bot(mut self, bot: BotBehavior) -> Self {
        self.bot = bot;
        self
    }

    /// How long a bot takes to answer (default 3, 4 or 5 s; scaled by
    /// `time_scale`).
    pub fn bot_delay(mut self, delay: Delay) -> Self {
        self.bot_delay = delay;
        self
    }

    /// Which past events a new SSE subscriber gets. Overrides the plan's
    /// choice; default [`Replay::None`] unless the plan says otherwise.
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = Some(replay);
        self
    }

    /// How chaos copies of an event are numbered (default [`DuplicateIds::New`]).
    pub fn duplicate_ids(mut self, ids: DuplicateIds) -> Self {
        self.duplicate_ids = ids;
        self
    }

    /// Numeric ids (default) or UUID strings on the wire.
    pub fn id_style(mut self, style: IdStyle) -> Self {
        self.id_style = style;
        self
    }

    /// Where `sent_at` comes from (default: the system clock).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Interval of `: keep-alive` comments on idle SSE streams (default 15 s).
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = every;
        self
    }

    /// Opens every SSE stream with a `retry:` field of this duration
    /// (scaled by `time_scale`). Default: none.
    pub fn sse_retry(mut self, retry: Duration) -> Self {
        self.sse_retry = Some(retry);
        self
    }

    /// The address to bind (default `127.0.0.1:0`: loopback, ephemeral port).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Serves the `/__admin/` API (default off).
    pub fn admin_api(mut self, enabled: bool) -> Self {
        self.admin = enabled;
        self
    }

    /// How long idempotency keys are remembered (default 24 h).
    pub fn key_retention(mut self, retention: Duration) -> Self {
        self.key_retention = retention;
        self
    }

    /// How many idempotency keys are remembered at most (default 10,000;
    /// the oldest are forgotten first).
    pub fn key_capacity(mut self, keys: usize) -> Self {
        self.key_capacity = keys.max(1);
        self
    }

    /// How many events the SSE replay log holds (default 10,000).
    pub fn replay_log_capacity(mut self, events: usize) -> Self {
        self.replay_log = events.max(1);
        self
    }

    /// How far (in events) a subscriber may fall behind before it is
    /// disconnected (default 1,024).
    pub fn subscriber_queue(mut self, events: usize) -> Self {
        self.subscriber_queue = events.max(1);
        self
    }

    /// How many entries the fault journal keeps (default 10,000).
    pub fn journal_capacity(mut self, entries: usize) -> Self {
        self.journal_capacity = entries.max(1);
        self
    }

    /// How many requests [`MockChatServer::received_requests`] keeps
    /// (default 1,000; 0 keeps none).
    pub fn request_log_capacity(mut self, requests: usize) -> Self {
        self.request_log = requests;
        self
    }

    fn resolve_seed(&self) -> Result<(u64, SeedSource), Error> {
        if let Some(seed) = self.seed {
            return Ok((seed, SeedSource::Builder));
        }
        match std::env::var(SEED_ENV) {
            Ok(v) if !v.trim().is_empty() => v
                .trim()
                .parse()
                .map(|s| (s, SeedSource::Env))
                .map_err(|_| Error::InvalidSeed(v)),
            _ => Ok((rand::random(), SeedSource::Random)),
        }
    }

    /// Starts the server on the current tokio runtime.
    ///
    /// # Panics
    /// If [`try_start`](Self::try_start) fails (no runtime, address in use,
    /// invalid plan or seed), with the reason.
    pub async fn start(self) -> MockChatServer {
        match self.try_start().await {
            Ok(server) => server,
            Err(e) => panic!("mock-chat-server failed to start: {e}"),
        }
    }

    /// Starts the server on the current tokio runtime, or says why not.
    pub async fn try_start(self) -> Result<MockChatServer, Error> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err(Error::InvalidTimeScale(self.time_scale));
        }
        self.faults.validate()?;
        let (seed, seed_source) = self.resolve_seed()?;
        let listener = tokio::net::TcpListener::bind(self.bind)
            .await
            .map_err(|source| Error::Bind {
                addr: self.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            addr: self.bind,
            source,
        })?;
        let store = Store::new(
            StoreConfig {
                seed,
                id_style: self.id_style,
                key_retention: self.key_retention,
                key_capacity: self.key_capacity,
            },
            self.clock,
            &self.chats,
        );
        let app = App::new(AppParts {
            store,
            events: EventHub::new(self.replay_log, self.subscriber_queue, self.duplicate_ids),
            chaos: Chaos::new(seed, self.time_scale, self.faults, self.journal_capacity),
            http: HttpConfig {
                replay: self.replay,
                keep_alive: self.keep_alive,
                sse_retry: self.sse_retry,
                admin: self.admin,
                request_log_capacity: self.request_log,
            },
            bot: self.bot,
            bot_delay: self.bot_delay,
            fixtures: self.chats,
            runtime,
        });
        let mut epoch = app.epoch();
        let shutdown = async move {
            // Ends on shutdown, or if the app is gone.
            let _ = epoch.wait_for(|e| *e == Epoch::ShuttingDown).await;
        };
        let server = warp::serve(crate::http::routes(Arc::clone(&app)))
            .incoming(listener)
            .graceful(shutdown)
            .run();
        let task = tokio::spawn(server);
        tracing::debug!(%addr, seed, "mock-chat-server started");
        Ok(MockChatServer {
            app,
            addr,
            seed_source,
            stopped: Stopped::Task(Some(task)),
        })
    }

    /// Starts the server on its own runtime on a background thread, for
    /// synchronous tests.
    ///
    /// # Panics
    /// If [`try_start_blocking`](Self::try_start_blocking) fails.
    pub fn start_blocking(self) -> MockChatServer {
        match self.try_start_blocking() {
            Ok(server) => server,
            Err(e) => panic!("mock-chat-server failed to start: {e}"),
        }
    }

    /// Starts the server on its own runtime on a background thread, or says
    /// why not. The thread ends once the handle is dropped and the last
    /// connection has closed.
    pub fn try_start_blocking(self) -> Result<MockChatServer, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stopped_tx, stopped_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("mock-chat-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match self.try_start().await {
                        Ok(mut server) => {
                            let task = match &mut server.stopped {
                                Stopped::Task(t) => t.take(),
                                Stopped::Thread(_) => None,
                            };
                            server.stopped = Stopped::Thread(Some(stopped_rx));
                            if ready_tx.send(Ok(server)).is_err() {
                                return;
                            }
                            if let Some(task) = task {
                                let _ = task.await;
                            }
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
                drop(runtime);
                let _ = stopped_tx.send(());
            })
            .map_err(Error::Runtime)?;
        ready_rx
            .recv()
            .unwrap_or_else(|_| Err(Error::Runtime(std::io::Error::other("server thread died"))))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeedSource {
    Builder,
    Env,
    Random,
}

#[derive(Debug)]
enum Stopped {
    Task(Option<tokio::task::JoinHandle<()>>),
    Thread(Option<oneshot::Receiver<()>>),
}

/// A running mock chat server. Dropping it stops the server and frees the
/// port (without blocking); [`shutdown`](Self::shutdown) does the same and
/// waits until it is done.
///
/// ```
/// use mock_chat_server::{Author, MockChatServer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = MockChatServer::builder().seed(7).start().await;
/// assert!(server.uri().starts_with("http://127.0.0.1:"));
/// assert_eq!(server.chats().len(), 4);
/// let msg = server.inject_message(1, Author::Bot, "hello from the test").unwrap();
/// assert_eq!(server.messages(1).last(), Some(&msg));
/// # }
/// ```
pub struct MockChatServer {
    app: Arc<App>,
    addr: SocketAddr,
    seed_source: SeedSource,
    stopped: Stopped,
}

impl fmt::Debug for MockChatServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockChatServer")
            .field("addr", &self.addr)
            .field("seed", &self.seed())
            .finish_non_exhaustive()
    }
}

impl MockChatServer {
    /// A builder with the defaults: calm, loopback, ephemeral port, four chats.
    pub fn builder() -> MockChatServerBuilder {
        MockChatServerBuilder::default()
    }

    /// Starts a server with the defaults (see [`builder`](Self::builder)).
    pub async fn start() -> MockChatServer {
        Self::builder().start().await
    }

    /// `http://127.0.0.1:<port>`
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The full URL of `path` (`"/chats"` → `http://127.0.0.1:<port>/chats`).
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("http://{}{path}", self.addr)
        } else {
            format!("http://{}/{path}", self.addr)
        }
    }

    /// The seed of every random choice of this server.
    pub fn seed(&self) -> u64 {
        self.app.chaos.seed()
    }

    /// All chats, by id.
    pub fn chats(&self) -> Vec<Chat> {
        self.app.store.chats()
    }

    /// Every message of a chat, oldest first (empty if there is no such chat).
    pub fn messages(&self, chat_id: u64) -> Vec<Message> {
        self.app
            .store
            .history(chat_id, usize::MAX, None)
            .unwrap_or_default()
            .iter()
            .map(|m| m.message.clone())
            .collect()
    }

    /// Creates a chat (it lasts until the next reset).
    pub fn add_chat(&self, name: impl Into<String>) -> Chat {
        self.app.store.add_chat(name.into())
    }

    /// Stores a message as if `author` had sent it and publishes it on SSE
    /// (with chaos duplicates, if the plan has them). No bot answer follows.
    pub fn inject_message(
        &self,
        chat_id: u64,
        author: Author,
        text: impl Into<String>,
    ) -> Result<Message, Error> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(Error::InvalidText("empty or only whitespace"));
        }
        if text.chars().count() > crate::http::MAX_TEXT_CHARS {
            return Err(Error::InvalidText("over 10,000 characters"));
        }
        self.app
            .inject(chat_id, author, text)
            .map(|m| m.message.clone())
            .ok_or(Error::ChatNotFound(chat_id))
    }

    /// Forces `fault` on the next request of `route` (queued, first in first
    /// out), instead of whatever the plan would draw.
    /// [`Fault::DuplicateEvent`] goes to [`force_duplicates`](Self::force_duplicates).
    ///
    /// # Panics
    /// If the fault cannot happen on that route (a stream fault on a JSON
    /// route, or the reverse).
    pub fn force(&self, route: Route, fault: Fault) {
        match fault {
            Fault::DuplicateEvent { copies } => self.force_duplicates(copies),
            f if f.applies_to(route) => self.app.chaos.force(route, f),
            f => panic!("fault {} cannot be forced on route {route}", f.name()),
        }
    }

    /// The next published message is delivered `copies` times on SSE.
    pub fn force_duplicates(&self, copies: u32) {
        self.app.chaos.force_duplicates(copies);
    }

    /// Replaces the fault plan from now on.
    pub fn set_faults(&self, plan: FaultPlan) -> Result<(), PlanError> {
        plan.validate()?;
        self.app.chaos.set_plan(plan);
        Ok(())
    }

    /// The fault plan in force.
    pub fn faults(&self) -> FaultPlan {
        (*self.app.chaos.plan()).clone()
    }

    /// Fixtures back; idempotency keys, counters, journal, request log and
    /// pending bot answers cleared; SSE subscribers disconnected; same port.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// The fault journal (the most recent entries, bounded).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.app.chaos.journal()
    }

    /// The requests received (the most recent, bounded).
    pub fn received_requests(&self) -> Vec<RecordedRequest> {
        self.app.requests()
    }

    /// An in-process stream of messages as they are stored (user, bot and
    /// injected; each message once, whatever SSE duplicates chaos adds).
    /// It ends if it falls more than the subscriber queue behind, or when
    /// the server stops.
    pub fn subscribe(&self) -> MessageStream {
        MessageStream {
            inner: BroadcastStream::new(self.app.events.receiver()),
        }
    }

    /// Number of SSE connections open right now (plus in-process subscribers).
    pub fn subscriber_count(&self) -> usize {
        self.app.events.subscriber_count()
    }

    /// Stops the server and waits until its port is closed and every
    /// connection (SSE streams included) has ended.
    pub async fn shutdown(mut self) {
        self.app.begin_shutdown();
        match &mut self.stopped {
            Stopped::Task(task) => {
                if let Some(task) = task.take() {
                    let _ = task.await;
                }
            }
            Stopped::Thread(rx) => {
                if let Some(rx) = rx.take() {
                    let _ = rx.await;
                }
            }
        }
    }

    /// The reproduction report: this server's seed, its last fault journal
    /// entries and the command that reruns the current test with the same
    /// seed. It is what a handle prints to stderr when it is dropped while
    /// its thread panics; call it to attach the same context to your own
    /// failure messages.
    ///
    /// ```
    /// use mock_chat_server::MockChatServer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = MockChatServer::builder().seed(42).start().await;
    /// let report = server.reproduction_report();
    /// assert!(report.contains("seed was 42"));
    /// assert!(report.contains("MOCK_CHAT_SEED=42 cargo test"));
    /// # }
    /// ```
    pub fn reproduction_report(&self) -> String {
        let seed = self.seed();
        let mut out = format!("\n--- mock-chat-server: this server's seed was {seed} ---\n");
        let tail = self.app.chaos.journal_tail(REPORT_ENTRIES);
        if tail.is_empty() {
            out.push_str("fault journal: empty\n");
        } else {
            out.push_str(&format!("last {} fault journal entries:\n", tail.len()));
            for entry in &tail {
                out.push_str(&format!("  {entry}\n"));
            }
        }
        // libtest names each test's thread after the test.
        let test = std::thread::current()
            .name()
            .filter(|n| !matches!(*n, "main" | "tokio-runtime-worker" | "mock-chat-server"))
            .map(|n| format!(" {n} -- --exact"))
            .unwrap_or_default();
        out.push_str(&format!(
            "reproduce with:\n  {SEED_ENV}={seed} cargo test{test}\n"
        ));
        if self.seed_source == SeedSource::Builder {
            out.push_str(&format!(
                "(the seed is fixed by the builder's .seed({seed}): a plain rerun reproduces too)\n"
            ));
        }
        out
    }
}

impl Drop for MockChatServer {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprint!(
                "\n--- mock-chat-server: the test panicked ---{}",
                self.reproduction_report()
            );
        }
        // Never blocks: the server task sees the signal, closes the listener
        // and ends its streams on its own.
        self.app.begin_shutdown();
    }
}

/// The stream returned by [`MockChatServer::subscribe`].
#[derive(Debug)]
pub struct MessageStream {
    inner: BroadcastStream<crate::events::Event>,
}

impl Stream for MessageStream {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(event))) if event.copy == 0 => {
                    return Poll::Ready(Some(event.message.message.clone()))
                }
                Poll::Ready(Some(Ok(_))) => continue,
                // Lagged: end rather than silently skip.
                Poll::Ready(Some(Err(_))) | Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
