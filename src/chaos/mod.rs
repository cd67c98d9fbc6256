//! Chaos: what can go wrong, how often, and what did.
//!
//! Every fate is a pure function of the seed and a position: a JSON
//! request's from `(seed, route, k)` with `k` that route's request count
//! since start or reset, a publish's copy count from `(seed, idempotency
//! key)`, an SSE connection's cut from `(seed, k)`. Nothing here knows HTTP.
//!
//! - what can go wrong: [`Fault`] (the catalogue) and [`Delay`];
//! - how often: [`FaultPlan`] with its presets, [`RouteFaults`] per route and
//!   [`StreamFaults`] for the stream, validated into [`PlanError`]s;
//! - what did: the [`JournalEntry`] list of every decision, and the
//!   [`FaultScript`] of a run's decisions, explicit and replayable
//!   ([`SCRIPT_ENV`] replays one, [`SEED_ENV`] fixes the seed).
//!
//! ```
//! use mock_chat_server::chaos::{FaultPlan, PlanError};
//!
//! assert_eq!(FaultPlan::preset("hostile"), Ok(FaultPlan::hostile()));
//! assert!(matches!(FaultPlan::preset("nasty"), Err(PlanError::UnknownPreset(_))));
//! ```

mod delay;
pub(crate) mod engine;
mod fault;
mod forced;
mod journal;
mod plan;
mod route;
mod script;
mod source;

pub use crate::key::IdempotencyKey;
pub use crate::server::SEED_ENV;
pub use delay::Delay;
pub use fault::Fault;
pub(crate) use fault::{FAULTS, MAX_COPIES};
pub use journal::{EntryKind, JournalEntry};
pub use plan::{FaultPlan, PlanError, RouteFaults, StreamFaults};
pub use route::Route;
pub(crate) use route::ROUTES;
pub(crate) use script::ScriptedDecision;
pub use script::{
    FaultScript, ScriptError, ScriptedCopies, ScriptedRequest, ScriptedStream, SCRIPT_ENV,
};
