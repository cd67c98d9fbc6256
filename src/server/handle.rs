//! [`MockChatServer`]: the running server's handle.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::{oneshot, watch};

use super::builder::MockChatServerBuilder;
use super::report;
use super::wait::{self, WaitTimeout};
use crate::activity::{Activity, Gate};
use crate::app::App;
use crate::chaos::{Fault, FaultPlan, FaultScript, JournalEntry, PlanError, Route};
use crate::diagnostics::Diagnostic;
use crate::events::{Read, Start};
use crate::model::{Author, Chat, ChatId, Message};
use crate::records::RecordedRequest;

/// Why a handle call could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandleError {
    /// No chat has this id.
    #[error("chat not found with ID {0}")]
    ChatNotFound(ChatId),
}

/// Where the seed came from (the report says how to rerun).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeedSource {
    Builder,
    Env,
    Script,
    Random,
}

/// What stops when the handle goes.
#[derive(Debug)]
pub(crate) enum Stopped {
    Task(Option<tokio::task::JoinHandle<()>>),
    Thread(Option<oneshot::Receiver<()>>),
}

/// A running mock chat server. Dropping it stops the server and frees the
/// port without blocking; [`shutdown`](Self::shutdown) does the same and
/// waits until it is done. If the test panics, the drop prints the seed,
/// the last fault decisions and the command that reruns the test.
///
/// ```
/// use mock_chat_server::{Author, MockChatServer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let server = MockChatServer::builder().seed(7).start().await;
/// assert!(server.uri().starts_with("http://127.0.0.1:"));
/// let john = &server.chats()[0];
/// assert_eq!(john.name, "John");
/// let msg = server.inject_message(&john.id, Author::Bot, "hello from the test").unwrap();
/// assert_eq!(server.messages(&john.id).last(), Some(&msg));
/// # }
/// ```
pub struct MockChatServer {
    app: Arc<App>,
    addr: SocketAddr,
    seed_source: SeedSource,
    stopped: Stopped,
    wait_timeout_ms: AtomicU64,
    deny_misuse: bool,
    report_on_panic: std::sync::atomic::AtomicBool,
    connections: watch::Receiver<usize>,
}

/// The default time limit of every wait (real time).
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

impl fmt::Debug for MockChatServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockChatServer")
            .field("addr", &self.addr)
            .field("seed", &self.seed())
            .finish_non_exhaustive()
    }
}

impl MockChatServer {
    pub(crate) fn new(
        app: Arc<App>,
        addr: SocketAddr,
        seed_source: SeedSource,
        stopped: Stopped,
        deny_misuse: bool,
        connections: watch::Receiver<usize>,
    ) -> Self {
        MockChatServer {
            app,
            addr,
            seed_source,
            stopped,
            wait_timeout_ms: AtomicU64::new(DEFAULT_WAIT.as_millis() as u64),
            deny_misuse,
            report_on_panic: std::sync::atomic::AtomicBool::new(true),
            connections,
        }
    }

    pub(crate) fn take_task(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        match &mut self.stopped {
            Stopped::Task(t) => t.take(),
            Stopped::Thread(_) => None,
        }
    }

    pub(crate) fn set_stopped(&mut self, stopped: Stopped) {
        self.stopped = stopped;
    }

    /// A builder with every default: calm, the reference's wire.
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
        self.app.seed()
    }

    /// Every chat, in creation order (the wire's `GET /chats` shuffles).
    pub fn chats(&self) -> Vec<Chat> {
        self.app.chats()
    }

    /// Every message of a chat, oldest first (empty if there is no such
    /// chat). The wire returns the last 100 of these. With
    /// [`max_message_bytes`](MockChatServerBuilder::max_message_bytes),
    /// the ones still held.
    pub fn messages(&self, chat: &ChatId) -> Vec<Message> {
        self.app.messages(chat).unwrap_or_default()
    }

    /// Creates a chat with no messages (it lasts until the next reset). The
    /// real server cannot do this: use it for layouts the fixtures lack.
    pub fn add_chat(&self, name: impl Into<String>) -> Chat {
        self.app.add_chat(name.into())
    }

    /// Stores a message as if `author` had sent it and publishes it on SSE
    /// (with chaos copies, if the plan has them). No bot answer follows.
    pub fn inject_message(
        &self,
        chat: &ChatId,
        author: Author,
        text: impl Into<String>,
    ) -> Result<Message, HandleError> {
        self.app
            .inject(chat, author, text.into())
            .ok_or(HandleError::ChatNotFound(*chat))
    }

    /// Forces `fault` on the next request of `route` (queued, first in first
    /// out), instead of whatever the plan would draw. Stream faults go on
    /// [`Route::Events`]; [`Fault::DuplicateEvent`] applies to the next
    /// published message, whatever the route.
    ///
    /// ```
    /// use mock_chat_server::{Fault, MockChatServer, Route};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = MockChatServer::builder().seed(1).start().await;
    /// server.force(Route::PostMessage, Fault::DropAfterCommit);
    /// server.force(Route::Events, Fault::StreamEnd);
    /// # }
    /// ```
    ///
    /// # Panics
    /// If the fault cannot happen on that route (a stream fault on a JSON
    /// route, or the reverse), or 10,000 faults already wait there.
    pub fn force(&self, route: Route, fault: Fault) {
        if let Err(e) = self.app.force(route, fault, 1) {
            panic!("cannot force {fault} on {route}: {e}");
        }
    }

    /// The next published message is delivered `copies` times on SSE.
    ///
    /// # Panics
    /// If `copies` is not from 1 to 100.
    pub fn force_duplicates(&self, copies: u32) {
        self.force(Route::Events, Fault::DuplicateEvent { copies });
    }

    /// Replaces the fault plan from now on.
    pub fn set_faults(&self, plan: FaultPlan) -> Result<(), PlanError> {
        plan.validate()?;
        self.app.set_plan(plan);
        Ok(())
    }

    /// The fault plan in force.
    pub fn faults(&self) -> FaultPlan {
        (*self.app.plan()).clone()
    }

    /// Fixtures back (with new ids); idempotency keys, counters, event log,
    /// journal, request records and pending bot answers cleared; open SSE
    /// streams end; same port.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// The fault journal (the most recent entries, bounded).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.app.journal()
    }

    /// The chaos decisions of the run so far (since start or reset), as an
    /// explicit script that [`script`](MockChatServerBuilder::script)
    /// replays exactly.
    pub fn fault_script(&self) -> FaultScript {
        self.app.recorded_script()
    }

    pub(crate) fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// No report on a panic (the explorer reports for itself).
    pub(crate) fn quiet_report(&self) {
        self.report_on_panic.store(false, Ordering::Relaxed);
    }

    /// Every request received (the most recent, bounded), admin calls
    /// excepted.
    pub fn received_requests(&self) -> Vec<RecordedRequest> {
        self.app.requests()
    }

    /// The requests received on one route.
    pub fn requests(&self, route: Route) -> Vec<RecordedRequest> {
        let mut all = self.received_requests();
        all.retain(|r| r.route == Some(route));
        all
    }

    /// An in-process stream of messages as they are published (user, bot
    /// and injected; each message once, whatever SSE copies chaos adds).
    /// It ends on reset, on shutdown, or if it falls more than the
    /// subscriber lag behind.
    pub fn subscribe(&self) -> MessageStream {
        let hub = Arc::clone(self.app.events());
        let mut changes = hub.changes();
        changes.mark_unchanged();
        let cursor = hub.cursor(Start::Live);
        let state = (hub, cursor, changes, Vec::<Message>::new());
        let inner = futures::stream::unfold(
            state,
            |(hub, mut cursor, mut changes, mut ready)| async move {
                loop {
                    if let Some(m) = ready.pop() {
                        return Some((m, (hub, cursor, changes, ready)));
                    }
                    match hub.read(&mut cursor, 64) {
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
        );
        MessageStream {
            inner: inner.boxed(),
        }
    }

    /// Number of SSE connections open right now.
    pub fn subscriber_count(&self) -> usize {
        self.app.events().subscriber_count()
    }

    /// Sets the time limit of every wait from now on (default 5 s of real
    /// time, whatever tokio's clock does).
    pub fn wait_timeout(&self, limit: Duration) {
        let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        self.wait_timeout_ms.store(ms, Ordering::Relaxed);
    }

    fn limit(&self) -> Duration {
        Duration::from_millis(self.wait_timeout_ms.load(Ordering::Relaxed))
    }

    /// Waits until the chat holds at least `n` messages; returns them all.
    ///
    /// ```
    /// use mock_chat_server::{Author, MockChatServer};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let server = MockChatServer::builder().seed(1).start().await;
    /// let john = server.chats()[0].clone();
    /// server.inject_message(&john.id, Author::User, "hi").unwrap();
    /// let all = server.wait_for_messages(&john.id, 2).await.unwrap();
    /// assert_eq!(all[1].text, "hi");
    /// # }
    /// ```
    pub async fn wait_for_messages(
        &self,
        chat: &ChatId,
        n: usize,
    ) -> Result<Vec<Message>, WaitTimeout> {
        let awaited = format!("for {n} messages in chat {chat}");
        wait::until(self.limit(), awaited, self.app.events().changes(), || {
            wait::at_least(self.messages(chat), n, "messages")
        })
        .await
    }

    /// Waits until the chat holds a message `matches` accepts; returns the
    /// first such message.
    pub async fn wait_for_message(
        &self,
        chat: &ChatId,
        matches: impl Fn(&Message) -> bool,
    ) -> Result<Message, WaitTimeout> {
        let awaited = format!("for a matching message in chat {chat}");
        wait::until(self.limit(), awaited, self.app.events().changes(), || {
            let all = self.messages(chat);
            match all.iter().find(|m| matches(m)) {
                Some(m) => Ok(m.clone()),
                None => Err(format!("{} messages, none matching", all.len())),
            }
        })
        .await
    }

    /// Waits until `route` has received at least `n` requests (since start
    /// or reset); returns that route's records.
    pub async fn wait_for_requests(
        &self,
        route: Route,
        n: usize,
    ) -> Result<Vec<RecordedRequest>, WaitTimeout> {
        let awaited = format!("for {n} requests on {route}");
        wait::until(self.limit(), awaited, self.app.request_changes(), || {
            wait::at_least(self.requests(route), n, "requests")
        })
        .await
    }

    /// Waits until at least `n` SSE connections are open (in-process
    /// [`subscribe`](Self::subscribe) streams do not count).
    pub async fn wait_for_subscribers(&self, n: usize) -> Result<(), WaitTimeout> {
        let awaited = format!("for {n} SSE subscribers");
        wait::until(self.limit(), awaited, self.app.events().changes(), || {
            let open = self.subscriber_count();
            if open >= n {
                Ok(())
            } else {
                Err(format!("{open} open"))
            }
        })
        .await
    }

    /// How many client connections are open now (those waiting in the
    /// accept queue do not count).
    pub fn open_connections(&self) -> usize {
        *self.connections.borrow()
    }

    /// Waits until at least `n` client connections are open.
    pub async fn wait_for_connections(&self, n: usize) -> Result<(), WaitTimeout> {
        let awaited = format!("for {n} open connections");
        wait::until(self.limit(), awaited, self.connections.clone(), || {
            let open = self.open_connections();
            if open >= n {
                Ok(())
            } else {
                Err(format!("{open} open"))
            }
        })
        .await
    }

    /// Waits until no JSON request is in flight and no bot answer is
    /// pending (open SSE streams do not count). A POST whose client waits
    /// for `100 Continue` is in flight until its body has come.
    pub async fn settle(&self) -> Result<(), WaitTimeout> {
        let activity = self.app.activity();
        let changes = activity.busy_changes();
        wait::until(self.limit(), "for the server to settle", changes, || {
            let b = activity.busy();
            if b.requests == 0 && b.bots == 0 {
                Ok(())
            } else {
                Err(format!(
                    "{} requests in flight, {} bot answers pending",
                    b.requests, b.bots
                ))
            }
        })
        .await
    }

    /// Sends every pending bot answer now instead of after its delay.
    pub fn answer_bots_now(&self) {
        self.app.activity().hurry_bots();
    }

    /// Holds the requests of `route`: they are accepted, then wait (before
    /// any fault or commit) until the gate is released or dropped. For
    /// testing a "sending…" state or an optimistic update.
    ///
    /// ```no_run
    /// use mock_chat_server::{MockChatServer, Route};
    ///
    /// # async fn f(server: MockChatServer) {
    /// let gate = server.hold(Route::PostMessage);
    /// // … the client sends; the UI shows "sending…"
    /// server.wait_for_requests(Route::PostMessage, 1).await.unwrap();
    /// assert_eq!(gate.waiting(), 1);
    /// gate.release(); // the POST goes on
    /// # }
    /// ```
    pub fn hold(&self, route: Route) -> Hold {
        Hold {
            gate: self.app.activity().close_gate(route),
            activity: Arc::clone(self.app.activity()),
            route,
        }
    }

    /// What the client did that the real server would punish silently
    /// (a key reused for another message, a reconnect without
    /// `Last-Event-ID`, …). A correct client produces none.
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.app.diagnosed()
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
    /// seed. A handle prints it to stderr when dropped during a panic; call
    /// it to attach the same context to your own failure messages.
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
        report::render(
            self.seed(),
            self.seed_source,
            &self.app.journal_tail(report::ENTRIES),
            &self.diagnostics(),
        )
    }
}

impl Drop for MockChatServer {
    fn drop(&mut self) {
        if std::thread::panicking() && self.report_on_panic.load(Ordering::Relaxed) {
            eprint!(
                "\n--- mock-chat-server: the test panicked ---{}",
                self.reproduction_report()
            );
        }
        // Never blocks: the server task sees the signal, closes the listener
        // and ends its streams on its own.
        self.app.begin_shutdown();
        if self.deny_misuse && !std::thread::panicking() {
            let found = self.diagnostics();
            if !found.is_empty() {
                let list: Vec<String> = found.iter().map(|d| format!("  {d}")).collect();
                panic!(
                    "mock-chat-server: the client did what the real server punishes silently \
                     (deny_client_misuse):\n{}\n(seed {})",
                    list.join("\n"),
                    self.seed()
                );
            }
        }
    }
}

/// A gate holding the requests of one route; see
/// [`MockChatServer::hold`]. Dropping it releases them.
#[derive(Debug)]
pub struct Hold {
    gate: Arc<Gate>,
    activity: Arc<Activity>,
    route: Route,
}

impl Hold {
    /// How many requests wait at the gate now.
    pub fn waiting(&self) -> usize {
        self.gate.waiting()
    }

    /// Lets the held requests (and later ones) go on.
    pub fn release(self) {}
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.activity.open_gate(self.route, &self.gate);
    }
}

/// The stream returned by [`MockChatServer::subscribe`].
pub struct MessageStream {
    inner: BoxStream<'static, Message>,
}

impl fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageStream")
    }
}

impl Stream for MessageStream {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.inner.poll_next_unpin(cx)
    }
}
