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

use super::report;
use super::resolve::SeedSource;
use super::wait::{self, WaitTimeout};
use crate::activity::HeldRoute;
use crate::app::App;
use crate::chaos::{Fault, FaultPlan, FaultScript, JournalEntry, PlanError, Route};
use crate::diagnostics::Diagnostic;
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

/// Where the server runs, for [`shutdown`](MockChatServer::shutdown) to
/// wait for its end (`None` once taken).
#[derive(Debug)]
pub(crate) enum ServerTask {
    /// A task on the runtime of the test that started it.
    Spawned(Option<tokio::task::JoinHandle<()>>),
    /// A thread of its own ([`start_blocking`](crate::MockChatServerBuilder::start_blocking)),
    /// which says when it has stopped.
    OwnThread(Option<oneshot::Receiver<()>>),
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
    task: ServerTask,
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
        task: ServerTask,
        deny_misuse: bool,
        connections: watch::Receiver<usize>,
    ) -> Self {
        MockChatServer {
            app,
            addr,
            seed_source,
            task,
            wait_timeout_ms: AtomicU64::new(DEFAULT_WAIT.as_millis() as u64),
            deny_misuse,
            report_on_panic: std::sync::atomic::AtomicBool::new(true),
            connections,
        }
    }

    pub(crate) fn take_task(&mut self) -> Option<tokio::task::JoinHandle<()>> {
        match &mut self.task {
            ServerTask::Spawned(t) => t.take(),
            ServerTask::OwnThread(_) => None,
        }
    }

    pub(crate) fn set_task(&mut self, task: ServerTask) {
        self.task = task;
    }

    /// `http://127.0.0.1:<port>`
    #[doc = include_str!("../docs/handle/uri.md")]
    pub fn uri(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    #[doc = include_str!("../docs/handle/address.md")]
    pub fn address(&self) -> SocketAddr {
        self.addr
    }

    /// The full URL of `path` (`"/chats"` → `http://127.0.0.1:<port>/chats`).
    #[doc = include_str!("../docs/handle/url.md")]
    pub fn url(&self, path: &str) -> String {
        if path.starts_with('/') {
            format!("http://{}{path}", self.addr)
        } else {
            format!("http://{}/{path}", self.addr)
        }
    }

    /// The seed of every random choice of this server.
    #[doc = include_str!("../docs/handle/seed.md")]
    pub fn seed(&self) -> u64 {
        self.app.seed()
    }

    /// Every chat, in creation order (the wire's `GET /chats` shuffles).
    #[doc = include_str!("../docs/handle/chats.md")]
    pub fn chats(&self) -> Vec<Chat> {
        self.app.chats()
    }

    /// Every message of a chat, oldest first (empty if there is no such
    /// chat). The wire returns the last 100 of these. With
    /// [`max_message_bytes`](crate::MockChatServerBuilder::max_message_bytes),
    /// the ones still held.
    #[doc = include_str!("../docs/handle/messages.md")]
    pub fn messages(&self, chat: &ChatId) -> Vec<Message> {
        self.app.messages(chat).unwrap_or_default()
    }

    /// Creates a chat with no messages (it lasts until the next reset). The
    /// real server cannot do this: use it for layouts the fixtures lack.
    #[doc = include_str!("../docs/handle/add_chat.md")]
    pub fn add_chat(&self, name: impl Into<String>) -> Chat {
        self.app.add_chat(name.into())
    }

    /// Stores a message as if `author` had sent it and publishes it on SSE
    /// (with chaos copies, if the plan has them). No bot answer follows.
    #[doc = include_str!("../docs/handle/inject_message.md")]
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
    /// # Panics
    /// If the fault cannot happen on that route (a stream fault on a JSON
    /// route, or the reverse), or 10,000 faults already wait there.
    #[doc = include_str!("../docs/handle/force.md")]
    pub fn force(&self, route: Route, fault: Fault) {
        if let Err(e) = self.app.force(route, fault, 1) {
            panic!("cannot force {fault} on {route}: {e}");
        }
    }

    /// The next published message is delivered `copies` times on SSE.
    ///
    /// # Panics
    /// If `copies` is not from 1 to 100.
    #[doc = include_str!("../docs/handle/force_duplicates.md")]
    pub fn force_duplicates(&self, copies: u32) {
        self.force(Route::Events, Fault::DuplicateEvent { copies });
    }

    /// Replaces the fault plan from now on.
    #[doc = include_str!("../docs/handle/set_faults.md")]
    pub fn set_faults(&self, plan: FaultPlan) -> Result<(), PlanError> {
        plan.validate()?;
        self.app.set_plan(plan);
        Ok(())
    }

    /// The fault plan in force.
    #[doc = include_str!("../docs/handle/faults.md")]
    pub fn faults(&self) -> FaultPlan {
        (*self.app.plan()).clone()
    }

    /// Fixtures back (with new ids); idempotency keys, counters, event log,
    /// journal, request records and pending bot answers cleared; open SSE
    /// streams end; same port.
    #[doc = include_str!("../docs/handle/reset.md")]
    pub fn reset(&self) {
        self.app.reset();
    }

    /// The fault journal (the most recent entries, bounded).
    #[doc = include_str!("../docs/handle/journal.md")]
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.app.journal()
    }

    /// The chaos decisions of the run so far (since start or reset), as an
    /// explicit script that [`script`](crate::MockChatServerBuilder::script)
    /// replays exactly.
    #[doc = include_str!("../docs/handle/fault_script.md")]
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
    #[doc = include_str!("../docs/handle/received_requests.md")]
    pub fn received_requests(&self) -> Vec<RecordedRequest> {
        self.app.requests()
    }

    /// The requests received on one route.
    #[doc = include_str!("../docs/handle/requests.md")]
    pub fn requests(&self, route: Route) -> Vec<RecordedRequest> {
        let mut all = self.received_requests();
        all.retain(|r| r.route == Some(route));
        all
    }

    /// An in-process stream of messages as they are published (user, bot
    /// and injected; each message once, whatever SSE copies chaos adds).
    /// It ends on reset, on shutdown, or if it falls more than the
    /// subscriber lag behind.
    #[doc = include_str!("../docs/handle/subscribe.md")]
    pub fn subscribe(&self) -> MessageStream {
        MessageStream {
            inner: self.app.live_messages(),
        }
    }

    /// Number of SSE connections open right now.
    #[doc = include_str!("../docs/handle/subscriber_count.md")]
    pub fn subscriber_count(&self) -> usize {
        self.app.subscriber_count()
    }

    /// Sets the time limit of every wait from now on (default 5 s of real
    /// time, whatever tokio's clock does).
    #[doc = include_str!("../docs/handle/wait_timeout.md")]
    pub fn wait_timeout(&self, limit: Duration) {
        let ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        self.wait_timeout_ms.store(ms, Ordering::Relaxed);
    }

    fn wait_limit(&self) -> Duration {
        Duration::from_millis(self.wait_timeout_ms.load(Ordering::Relaxed))
    }

    /// Waits until the chat holds at least `n` messages; returns them all.
    #[doc = include_str!("../docs/handle/wait_for_messages.md")]
    pub async fn wait_for_messages(
        &self,
        chat: &ChatId,
        n: usize,
    ) -> Result<Vec<Message>, WaitTimeout> {
        let awaited = format!("for {n} messages in chat {chat}");
        wait::until(self.wait_limit(), awaited, self.app.event_changes(), || {
            wait::at_least(self.messages(chat), n, "messages")
        })
        .await
    }

    /// Waits until the chat holds a message `matches` accepts; returns the
    /// first such message.
    #[doc = include_str!("../docs/handle/wait_for_message.md")]
    pub async fn wait_for_message(
        &self,
        chat: &ChatId,
        matches: impl Fn(&Message) -> bool,
    ) -> Result<Message, WaitTimeout> {
        let awaited = format!("for a matching message in chat {chat}");
        wait::until(self.wait_limit(), awaited, self.app.event_changes(), || {
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
    #[doc = include_str!("../docs/handle/wait_for_requests.md")]
    pub async fn wait_for_requests(
        &self,
        route: Route,
        n: usize,
    ) -> Result<Vec<RecordedRequest>, WaitTimeout> {
        let awaited = format!("for {n} requests on {route}");
        wait::until(
            self.wait_limit(),
            awaited,
            self.app.request_changes(),
            || wait::at_least(self.requests(route), n, "requests"),
        )
        .await
    }

    /// Waits until at least `n` SSE connections are open (in-process
    /// [`subscribe`](Self::subscribe) streams do not count).
    #[doc = include_str!("../docs/handle/wait_for_subscribers.md")]
    pub async fn wait_for_subscribers(&self, n: usize) -> Result<(), WaitTimeout> {
        let awaited = format!("for {n} SSE subscribers");
        wait::until(self.wait_limit(), awaited, self.app.event_changes(), || {
            wait::open_at_least(self.subscriber_count(), n)
        })
        .await
    }

    /// How many client connections are open now (those waiting in the
    /// accept queue do not count).
    #[doc = include_str!("../docs/handle/open_connections.md")]
    pub fn open_connections(&self) -> usize {
        *self.connections.borrow()
    }

    /// Waits until at least `n` client connections are open.
    #[doc = include_str!("../docs/handle/wait_for_connections.md")]
    pub async fn wait_for_connections(&self, n: usize) -> Result<(), WaitTimeout> {
        let awaited = format!("for {n} open connections");
        wait::until(self.wait_limit(), awaited, self.connections.clone(), || {
            wait::open_at_least(self.open_connections(), n)
        })
        .await
    }

    /// Waits until no JSON request is in flight and no bot answer is
    /// pending (open SSE streams do not count). A POST whose client waits
    /// for `100 Continue` is in flight until its body has come.
    #[doc = include_str!("../docs/handle/settle.md")]
    pub async fn settle(&self) -> Result<(), WaitTimeout> {
        let changes = self.app.busy_changes();
        wait::until(
            self.wait_limit(),
            "for the server to settle",
            changes,
            || {
                let b = self.app.busy();
                if b.requests == 0 && b.bots == 0 {
                    Ok(())
                } else {
                    Err(format!(
                        "{} requests in flight, {} bot answers pending",
                        b.requests, b.bots
                    ))
                }
            },
        )
        .await
    }

    /// Sends every pending bot answer now instead of after its delay.
    #[doc = include_str!("../docs/handle/answer_bots_now.md")]
    pub fn answer_bots_now(&self) {
        self.app.answer_bots_now();
    }

    /// Holds the requests of `route`: they are accepted, then wait (before
    /// any fault or commit) until the gate is released or dropped. For
    /// testing a "sending…" state or an optimistic update.
    #[doc = include_str!("../docs/handle/hold.md")]
    pub fn hold(&self, route: Route) -> Hold {
        Hold {
            held: self.app.hold(route),
        }
    }

    /// What the client did that the real server would punish silently
    /// (a key reused for another message, a reconnect without
    /// `Last-Event-ID`, …). A correct client produces none.
    #[doc = include_str!("../docs/handle/diagnostics.md")]
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        self.app.diagnosed()
    }

    /// Stops the server and waits until its port is closed and every
    /// connection (SSE streams included) has ended.
    #[doc = include_str!("../docs/handle/shutdown.md")]
    pub async fn shutdown(mut self) {
        self.app.begin_shutdown();
        match &mut self.task {
            ServerTask::Spawned(task) => {
                if let Some(task) = task.take() {
                    let _ = task.await;
                }
            }
            ServerTask::OwnThread(rx) => {
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
    #[doc = include_str!("../docs/handle/reproduction_report.md")]
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
    held: HeldRoute,
}

impl Hold {
    /// How many requests wait at the gate now.
    #[doc = include_str!("../docs/handle/hold_waiting.md")]
    pub fn waiting(&self) -> usize {
        self.held.waiting()
    }

    /// Lets the held requests (and later ones) go on.
    #[doc = include_str!("../docs/handle/hold_release.md")]
    pub fn release(self) {}
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
