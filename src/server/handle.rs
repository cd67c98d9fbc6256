//! [`MockChatServer`]: the running server's handle.

use std::fmt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use tokio::sync::oneshot;

use super::builder::MockChatServerBuilder;
use super::report;
use crate::app::App;
use crate::chaos::{Fault, FaultPlan, JournalEntry, PlanError, Route};
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
    pub(crate) fn new(
        app: Arc<App>,
        addr: SocketAddr,
        seed_source: SeedSource,
        stopped: Stopped,
    ) -> Self {
        MockChatServer {
            app,
            addr,
            seed_source,
            stopped,
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
        self.app.chaos().seed()
    }

    /// Every chat, in creation order (the wire's `GET /chats` shuffles).
    pub fn chats(&self) -> Vec<Chat> {
        self.app.chats()
    }

    /// Every message of a chat, oldest first (empty if there is no such
    /// chat). The wire returns the last 100 of these.
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
        self.app.chaos().set_plan(plan);
        Ok(())
    }

    /// The fault plan in force.
    pub fn faults(&self) -> FaultPlan {
        (*self.app.chaos().plan()).clone()
    }

    /// Fixtures back (with new ids); idempotency keys, counters, event log,
    /// journal, request records and pending bot answers cleared; open SSE
    /// streams end; same port.
    pub fn reset(&self) {
        self.app.reset();
    }

    /// The fault journal (the most recent entries, bounded).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.app.chaos().journal()
    }

    /// Every request received (the most recent, bounded), admin calls
    /// excepted.
    pub fn received_requests(&self) -> Vec<RecordedRequest> {
        self.app.records().all()
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
                                .map(|d| d.message.message.clone())
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
            &self.app.chaos().journal_tail(report::ENTRIES),
        )
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
