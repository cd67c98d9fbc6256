//! [`MockChatServerBuilder`]: every option, its default, and starting.

mod budgets;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use super::defaults;
use super::error::StartError;
use super::handle::{MockChatServer, ServerTask};
use super::resolve;
use super::transport::{self, Connections, Limits};
use crate::app::{App, AppParts};
use crate::bot::{self, BotBehavior};
use crate::chaos::engine::Chaos;
use crate::chaos::{Delay, FaultPlan, FaultScript};
use crate::clock::{Clock, Ticker};
use crate::events::{DuplicateIds, EventHub, Replay};
use crate::fixtures::ChatFixture;
use crate::http::{AdminConfig, Http, HttpConfig};
use crate::model::IdStyle;
use crate::records::Records;
use crate::store::{Store, StoreConfig};
use budgets::MemoryBudgets;

// The handle's entry points live here, so that the handle needs nothing
// of the builder.
impl MockChatServer {
    /// A builder with every default: calm, the reference's wire.
    #[doc = include_str!("../docs/handle/builder.md")]
    pub fn builder() -> MockChatServerBuilder {
        MockChatServerBuilder::default()
    }

    /// Starts a server with the defaults (see [`builder`](Self::builder)).
    #[doc = include_str!("../docs/handle/start.md")]
    pub async fn start() -> MockChatServer {
        Self::builder().start().await
    }
}

/// Configures and starts a [`MockChatServer`]. Get one from
/// [`MockChatServer::builder`]; every setter states its default.
#[doc = include_str!("../docs/builder/overview.md")]
#[derive(Debug, Clone)]
pub struct MockChatServerBuilder {
    seed: Option<u64>,
    faults: FaultPlan,
    time_scale: f64,
    chats: Vec<ChatFixture>,
    bot: BotBehavior,
    bot_delay: Delay,
    replay: Replay,
    duplicate_ids: DuplicateIds,
    id_style: IdStyle,
    clock: Clock,
    keep_alive: Option<Duration>,
    sse_retry: Option<Duration>,
    stream_lifetime: Option<Duration>,
    bind: SocketAddr,
    admin: bool,
    admin_token: Option<String>,
    admin_insecure: bool,
    key_capacity: usize,
    event_log_capacity: usize,
    subscriber_lag: usize,
    journal_capacity: usize,
    request_log_capacity: usize,
    max_body: usize,
    max_connections: usize,
    first_header_timeout: Duration,
    header_timeout: Duration,
    deny_misuse: bool,
    script: Option<FaultScript>,
    /// The file the script was read from, for the dashboard's header.
    script_file: Option<String>,
    /// The byte budgets (options in [`budgets`]).
    pub(super) memory: MemoryBudgets,
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
            replay: Replay::All,
            duplicate_ids: DuplicateIds::New,
            id_style: IdStyle::Uuid,
            clock: Clock::Tokio,
            keep_alive: None,
            sse_retry: None,
            stream_lifetime: Some(Duration::from_secs(30)),
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: false,
            admin_token: None,
            admin_insecure: false,
            key_capacity: 100_000,
            event_log_capacity: 100_000,
            subscriber_lag: 1024,
            journal_capacity: 10_000,
            request_log_capacity: 1_000,
            max_body: 1024 * 1024,
            max_connections: defaults::MAX_CONNECTIONS,
            first_header_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(30),
            deny_misuse: false,
            script: None,
            script_file: None,
            memory: MemoryBudgets::default(),
        }
    }
}

impl MockChatServerBuilder {
    /// The seed of every random choice. Without it, `MOCK_CHAT_SEED` is
    /// used if set, else a random seed (always readable with
    /// [`MockChatServer::seed`], and printed when a test panics).
    #[doc = include_str!("../docs/builder/seed.md")]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The fault plan (default [`FaultPlan::none`]).
    #[doc = include_str!("../docs/builder/faults.md")]
    pub fn faults(mut self, plan: FaultPlan) -> Self {
        self.faults = plan;
        self
    }

    /// Multiplies every injected delay, timeout, the bot's delay, the stream
    /// lifetime and the SSE `retry:` hint (default 1). `0.01` turns the 5 s
    /// timeout into 50 ms and the 30 s stream lifetime into 300 ms.
    #[doc = include_str!("../docs/builder/time_scale.md")]
    pub fn time_scale(mut self, factor: f64) -> Self {
        self.time_scale = factor;
        self
    }

    /// The chats (and their earlier messages) present at start and after
    /// every reset. Default: [`ChatFixture::defaults`], the reference's four.
    #[doc = include_str!("../docs/builder/chats.md")]
    pub fn chats(mut self, chats: Vec<ChatFixture>) -> Self {
        self.chats = chats;
        self
    }

    /// What the bots answer (default: a line from [`DEFAULT_LINES`](crate::config::DEFAULT_LINES)).
    #[doc = include_str!("../docs/builder/bot.md")]
    pub fn bot(mut self, bot: BotBehavior) -> Self {
        self.bot = bot;
        self
    }

    /// How long a bot takes to answer (default 3, 4 or 5 s, as the
    /// reference; scaled by `time_scale`).
    #[doc = include_str!("../docs/builder/bot_delay.md")]
    pub fn bot_delay(mut self, delay: Delay) -> Self {
        self.bot_delay = delay;
        self
    }

    /// What a new SSE subscriber without `Last-Event-ID` gets first
    /// (default [`Replay::All`], the whole log, as the reference).
    #[doc = include_str!("../docs/builder/replay.md")]
    pub fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }

    /// How chaos copies of an event are numbered (default
    /// [`DuplicateIds::New`], as the reference).
    #[doc = include_str!("../docs/builder/duplicate_ids.md")]
    pub fn duplicate_ids(mut self, ids: DuplicateIds) -> Self {
        self.duplicate_ids = ids;
        self
    }

    /// UUID strings (default, as the reference) or numbers on the wire.
    #[doc = include_str!("../docs/builder/id_style.md")]
    pub fn id_style(mut self, style: IdStyle) -> Self {
        self.id_style = style;
        self
    }

    /// Where `sent_at` comes from (default [`Clock::Tokio`]: follows a
    /// paused tokio clock).
    #[doc = include_str!("../docs/builder/clock.md")]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sends a `: keep-alive` comment on SSE streams idle this long
    /// (default: never, as the reference).
    #[doc = include_str!("../docs/builder/keep_alive.md")]
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.keep_alive = Some(every);
        self
    }

    /// Opens every SSE stream with a `retry:` field of this duration, scaled
    /// by `time_scale` (default: none, as the reference).
    #[doc = include_str!("../docs/builder/sse_retry.md")]
    pub fn sse_retry(mut self, retry: Duration) -> Self {
        self.sse_retry = Some(retry);
        self
    }

    /// How long an SSE response lasts before it ends cleanly (default 30 s,
    /// the reference's request timeout; scaled by `time_scale`). `None`:
    /// streams never end by time.
    #[doc = include_str!("../docs/builder/stream_lifetime.md")]
    pub fn stream_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.stream_lifetime = lifetime;
        self
    }

    /// The address to bind (default `127.0.0.1:0`: loopback, ephemeral port).
    #[doc = include_str!("../docs/builder/bind.md")]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Serves the `/__admin/` API (default off).
    #[doc = include_str!("../docs/builder/admin_api.md")]
    pub fn admin_api(mut self, enabled: bool) -> Self {
        self.admin = enabled;
        self
    }

    /// Does nothing: CORS is always on, as the reference sends it (every
    /// public answer carries go-chi/cors's headers, and preflights are
    /// answered). Kept so that older test suites still compile.
    #[deprecated(note = "CORS is always on, as the reference sends it: remove this call")]
    #[doc = include_str!("../docs/builder/cors.md")]
    pub fn cors(self, _enabled: bool) -> Self {
        self
    }

    /// Requires `Authorization: Bearer <token>` on every admin request
    /// (default: no token). Bound beyond loopback, the token is what guards
    /// the admin API: any client on the network can send any `Host`.
    #[doc = include_str!("../docs/builder/admin_token.md")]
    pub fn admin_token(mut self, token: impl Into<String>) -> Self {
        self.admin_token = Some(token.into());
        self
    }

    /// Lets the admin API start bound beyond loopback without a token
    /// (default off: [`try_start`](Self::try_start) refuses with
    /// [`StartError::AdminUnprotected`]). Anyone who can reach the address
    /// can then reset and drive the server.
    #[doc = include_str!("../docs/builder/admin_insecure.md")]
    pub fn admin_insecure(mut self, allowed: bool) -> Self {
        self.admin_insecure = allowed;
        self
    }

    /// How many idempotency keys are remembered (default 100,000; the oldest
    /// are forgotten first, never by time).
    #[doc = include_str!("../docs/builder/key_capacity.md")]
    pub fn key_capacity(mut self, keys: usize) -> Self {
        self.key_capacity = keys.max(1);
        self
    }

    /// How many deliveries the SSE event log holds (default 100,000).
    #[doc = include_str!("../docs/builder/event_log_capacity.md")]
    pub fn event_log_capacity(mut self, deliveries: usize) -> Self {
        self.event_log_capacity = deliveries.max(1);
        self
    }

    /// How many live deliveries an SSE subscriber may have unread before it
    /// is cut (default 1,024).
    #[doc = include_str!("../docs/builder/subscriber_lag.md")]
    pub fn subscriber_lag(mut self, deliveries: usize) -> Self {
        self.subscriber_lag = deliveries.max(1);
        self
    }

    /// How many entries the fault journal keeps (default 10,000).
    #[doc = include_str!("../docs/builder/journal_capacity.md")]
    pub fn journal_capacity(mut self, entries: usize) -> Self {
        self.journal_capacity = entries.max(1);
        self
    }

    /// How many requests [`MockChatServer::received_requests`] keeps
    /// (default 1,000; 0 keeps none).
    #[doc = include_str!("../docs/builder/request_log_capacity.md")]
    pub fn request_log_capacity(mut self, requests: usize) -> Self {
        self.request_log_capacity = requests;
        self
    }

    /// The largest request body accepted (default 1 MiB; larger gets 413).
    #[doc = include_str!("../docs/builder/max_body.md")]
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// How many connections may be open at once (default 4,096). A full
    /// server still takes new clients: it closes the connection idle the
    /// longest to admit one, else the oldest SSE stream (which ends
    /// cleanly); a connection with a request in progress is never cut, and
    /// only while every connection has one does a new client wait.
    #[doc = include_str!("../docs/builder/max_connections.md")]
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a new connection may take to send its first request head
    /// (default 10 s, and never longer than
    /// [`header_timeout`](Self::header_timeout)); it is closed if it has
    /// not by then. Not scaled by `time_scale`.
    #[doc = include_str!("../docs/builder/first_header_timeout.md")]
    pub fn first_header_timeout(mut self, timeout: Duration) -> Self {
        self.first_header_timeout = timeout;
        self
    }

    /// How long a connection may wait for request headers after its first
    /// request (default 30 s): a connection with no answer in progress and
    /// no new request for a whole period is closed, between one and two
    /// periods after it fell idle (slow headers and forgotten keep-alive
    /// connections alike). Not scaled by `time_scale`.
    #[doc = include_str!("../docs/builder/header_timeout.md")]
    pub fn header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Makes dropping the handle panic (outside a panic already under way)
    /// if the client did anything the real server punishes silently: the
    /// [`diagnostics`](MockChatServer::diagnostics), listed. Default off.
    #[doc = include_str!("../docs/builder/deny_client_misuse.md")]
    pub fn deny_client_misuse(mut self) -> Self {
        self.deny_misuse = true;
        self
    }

    /// Replays `script` instead of drawing from the plan: its decisions
    /// exactly, every other one calm (see [`FaultScript`]). Without it,
    /// `MOCK_CHAT_SCRIPT=path/to/script.json` does the same. The script's
    /// seed is used when neither the builder nor `MOCK_CHAT_SEED` gives one.
    #[doc = include_str!("../docs/builder/script.md")]
    pub fn script(mut self, script: FaultScript) -> Self {
        self.script = Some(script);
        self
    }

    /// The file the [`script`](Self::script) was read from, shown where the
    /// session says what it replays (the dashboard's header).
    #[cfg(feature = "cli")]
    pub(crate) fn script_file(mut self, file: String) -> Self {
        self.script_file = Some(file);
        self
    }

    /// The checks of [`try_start`](Self::try_start) that need no
    /// runtime, no address and no environment.
    pub(crate) fn check(&self) -> Result<(), StartError> {
        check_time_scale(self.time_scale)?;
        self.faults.validate()?;
        let beyond_loopback = !self.bind.ip().is_loopback();
        if self.admin && beyond_loopback && self.admin_token.is_none() && !self.admin_insecure {
            return Err(StartError::AdminUnprotected { addr: self.bind });
        }
        Ok(())
    }

    /// Starts the server on the current tokio runtime.
    ///
    /// # Panics
    /// If [`try_start`](Self::try_start) fails (no runtime, address in use,
    /// invalid plan or seed), with the reason.
    #[doc = include_str!("../docs/builder/start.md")]
    pub async fn start(self) -> MockChatServer {
        match self.try_start().await {
            Ok(server) => server,
            Err(e) => panic!("mock-chat-server failed to start: {e}"),
        }
    }

    /// Starts the server on the current tokio runtime, or says why not.
    #[doc = include_str!("../docs/builder/try_start.md")]
    pub async fn try_start(self) -> Result<MockChatServer, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        self.check()?;
        let resolved = resolve::resolve(self.seed, self.script.clone())?;
        let (seed, seed_source) = (resolved.seed, resolved.source);
        let bind_error = |source| StartError::Bind {
            addr: self.bind,
            source,
        };
        let listener = tokio::net::TcpListener::bind(self.bind)
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let deny_misuse = self.deny_misuse;
        let connections = Connections::new(self.max_connections);
        let script_file = self.script_file.clone().or(resolved.script_file);
        let replay = resolved.script.map(|script| (script, script_file));
        let (app, config, limits) = self.assemble(seed, replay, addr, runtime);
        let http = Arc::new(Http::new(Arc::clone(&app), config));
        let open = connections.count();
        let lifecycle = app.lifecycle();
        let task = tokio::spawn(transport::serve(
            listener,
            http,
            connections,
            limits,
            lifecycle,
        ));
        tracing::debug!(%addr, seed, "mock-chat-server started");
        Ok(MockChatServer::new(
            app,
            addr,
            seed_source,
            ServerTask::Spawned(Some(task)),
            deny_misuse,
            open,
        ))
    }

    /// Builds the server's parts from the options.
    fn assemble(
        self,
        seed: u64,
        replay: Option<(FaultScript, Option<String>)>,
        addr: SocketAddr,
        runtime: tokio::runtime::Handle,
    ) -> (Arc<App>, HttpConfig, Limits) {
        let (script, script_file) = match replay {
            Some((script, file)) => (Some(script), file),
            None => (None, None),
        };
        let ticker = Arc::new(Ticker::new(self.clock, self.time_scale));
        let store_config = StoreConfig {
            seed,
            id_style: self.id_style,
            key_capacity: self.key_capacity,
            key_bytes: self.memory.keys,
            message_bytes: self.memory.messages,
        };
        let app = App::new(AppParts {
            store: Store::new(store_config, Arc::clone(&ticker), &self.chats),
            events: Arc::new(
                EventHub::new(
                    self.event_log_capacity,
                    self.subscriber_lag,
                    self.duplicate_ids,
                )
                .with_byte_budget(self.memory.event_log),
            ),
            chaos: Chaos::new(
                seed,
                self.time_scale,
                self.faults,
                script,
                self.journal_capacity,
            ),
            script_file,
            ticker,
            records: Records::new(self.request_log_capacity, self.memory.request_log),
            bot: self.bot,
            bot_delay: self.bot_delay,
            fixtures: self.chats,
            runtime,
        });
        let config = HttpConfig {
            replay: self.replay,
            keep_alive: self.keep_alive,
            sse_retry: self.sse_retry,
            stream_lifetime: self.stream_lifetime,
            admin: self.admin.then(|| AdminConfig::new(addr, self.admin_token)),
            max_body: self.max_body,
        };
        let limits = Limits {
            first_header_timeout: self.first_header_timeout,
            header_timeout: self.header_timeout,
        };
        (app, config, limits)
    }

    /// Starts the server on its own runtime on a background thread, for
    /// synchronous tests.
    ///
    /// # Panics
    /// If [`try_start_blocking`](Self::try_start_blocking) fails.
    #[doc = include_str!("../docs/builder/start_blocking.md")]
    pub fn start_blocking(self) -> MockChatServer {
        match self.try_start_blocking() {
            Ok(server) => server,
            Err(e) => panic!("mock-chat-server failed to start: {e}"),
        }
    }

    /// Starts the server on its own runtime on a background thread, or says
    /// why not. The thread ends once the handle is dropped.
    #[doc = include_str!("../docs/builder/try_start_blocking.md")]
    pub fn try_start_blocking(self) -> Result<MockChatServer, StartError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stopped_tx, stopped_rx) = oneshot::channel();
        std::thread::Builder::new()
            .name("mock-chat-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match self.try_start().await {
                        Ok(mut server) => {
                            let task = server.take_task();
                            server.set_task(ServerTask::OwnThread(Some(stopped_rx)));
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
            .map_err(StartError::Runtime)?;
        ready_rx.recv().unwrap_or_else(|_| {
            Err(StartError::Runtime(std::io::Error::other(
                "server thread died",
            )))
        })
    }
}

/// A time scale is a finite number above 0.
pub(crate) fn check_time_scale(factor: f64) -> Result<(), StartError> {
    if factor.is_finite() && factor > 0.0 {
        Ok(())
    } else {
        Err(StartError::InvalidTimeScale(factor))
    }
}
