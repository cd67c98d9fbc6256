//! Chaos: what can go wrong, how often, what did.
//!
//! Every fate is a pure function of the seed and a position: a JSON
//! request's from `(seed, route, k)` with `k` that route's request count
//! since start or reset, a publish's copy count from `(seed, idempotency
//! key)`, an SSE connection's cut from `(seed, k)`. Nothing here knows HTTP:
//! the `http` module asks the [engine](engine) for a decision and acts it out.
//!
//! - [`route`]: the routes a fault can aim at;
//! - [`fault`]: the fault catalogue and delays;
//! - [`plan`]: per-route probabilities, presets and validation;
//! - [`journal`]: the bounded record of every decision;
//! - [`script`]: a run's decisions, explicit and replayable;
//! - [`engine`]: draws decisions, holds forced faults and the journal.

mod delay;
pub(crate) mod engine;
mod fault;
mod forced;
mod journal;
mod plan;
mod route;
mod script;
mod source;

pub use delay::Delay;
pub use fault::Fault;
pub(crate) use fault::MAX_COPIES;
pub use journal::{EntryKind, JournalEntry};
pub use plan::{FaultPlan, PlanError, RouteFaults, StreamFaults};
pub use route::Route;
pub(crate) use route::ROUTES;
pub(crate) use script::ScriptedDecision;
pub use script::{
    FaultScript, ScriptError, ScriptedCopies, ScriptedRequest, ScriptedStream, SCRIPT_ENV,
};
