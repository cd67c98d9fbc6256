//! Exploring seeds and shrinking failures.
//!
//! [`Explore`] runs a client scenario against a fresh server per seed. Each
//! failing run's chaos decisions are replayed as an explicit
//! [`FaultScript`](crate::chaos::FaultScript), and decisions are removed (delta debugging: halves,
//! then smaller pieces, then single decisions) while the scenario still
//! fails the same way, until a minimal script remains: usually the one or
//! two faults that break the client.
//!
//! ```no_run
//! use mock_chat_server::explore::Explore;
//! use mock_chat_server::{FaultPlan, MockChatServer};
//!
//! async fn my_scenario(server: &MockChatServer) -> Result<(), String> {
//!     // drive your client against server.uri(), check what it stored
//!     Ok(())
//! }
//!
//! # async fn f() {
//! let report = Explore::new(|server: MockChatServer| async move { my_scenario(&server).await })
//!     .builder(MockChatServer::builder().faults(FaultPlan::hostile()).time_scale(0.001))
//!     .seeds(0..200)
//!     .concurrency(4)
//!     .run()
//!     .await;
//! report.assert_passed(); // panics with the minimal reproduction
//! # }
//! ```
//!
//! Scenarios race bots and reconnects against real sockets, so a candidate
//! script may fail only sometimes. The shrinker re-runs each candidate
//! [`confirmations`](Explore::confirmations) times (default 2) and keeps a
//! removal only if every re-run fails the same way; the minimal script it
//! reports is one that failed every time it was tried. Two failures are
//! "the same" when their error texts match after numbers and ids are masked.
//! When the scenario itself is deterministic, the same failing seed always
//! shrinks to the same script.
//!
//! [`ExploreReport::groups`] has one [`FailureGroup`] per distinct failure:
//! its seeds, the seed that was shrunk and how shrinking ended
//! ([`Shrunk`]: a minimal script, not replayable, or the budget spent).
//!
//! Setting `MOCK_CHAT_SEED` runs only that seed; setting `MOCK_CHAT_SCRIPT`
//! runs only that script: the two rerun lines the report prints. Either set
//! but unusable stops the exploration with one error
//! ([`ExploreReport::refusal`]). `MOCK_CHAT_SHARD=K/N` (or
//! [`Explore::shard`]) runs every N-th seed from the K-th, for CI matrices.
//!
//! The same engine explores any program's own test command:
//! `mock-chat-server explore -- COMMAND` (the `cli` feature; see
//! `mock-chat-server explore --help`).

#[cfg(feature = "cli")]
pub(crate) mod command;
pub(crate) mod defaults;
pub(crate) mod engine;
mod report;
mod scenario;
pub(crate) mod seeds;

#[cfg(feature = "cli")]
pub(crate) use report::seed_list;
pub use report::{ExploreReport, Failure, FailureGroup, Shrunk};
pub use scenario::Explore;
pub use seeds::SHARD_ENV;
