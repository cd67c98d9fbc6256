//! Where a decision comes from when no fault is forced: drawn from the
//! plan (a pure function of the seed and a position), or read from the
//! script being replayed. The engine picks the source once per decision.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use super::fault::drawn;
use super::{FaultPlan, FaultScript, Route, RouteFaults};
use crate::chaos::Fault;
use crate::seeded::{rng_at, stable_hash, Purpose};

/// The source of one decision.
#[derive(Debug)]
pub(crate) enum Source<'a> {
    /// Drawn from the plan, under the seed.
    Plan { seed: u64, plan: Arc<FaultPlan> },
    /// Read from the script (every decision it does not list is calm).
    Script(&'a FaultScript),
}

/// A request's fate, unscaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Fate {
    pub(crate) before: Duration,
    pub(crate) after: Duration,
    pub(crate) fault: Option<Fault>,
}

/// When a stream is cut or ended (after how many delivered events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct StreamFate {
    pub(crate) cut_after: Option<u64>,
    pub(crate) end_after: Option<u64>,
}

impl Source<'_> {
    /// The fate of request `k` on the JSON route `route`.
    pub(crate) fn request(&self, route: Route, k: u64) -> Fate {
        match self {
            Source::Script(script) => script.request(route, k).map_or(Fate::default(), |r| Fate {
                before: Duration::from_millis(r.latency_before_ms),
                after: Duration::from_millis(r.latency_after_ms),
                fault: r.fault,
            }),
            Source::Plan { seed, plan } => {
                let faults = plan.route(route);
                if faults.is_calm() {
                    return Fate::default();
                }
                let mut rng = rng_at(*seed, route.spec().draws, 0, k);
                let before = faults.latency_before.draw(&mut rng);
                let fault = pick(faults, rng.gen());
                Fate {
                    before,
                    after: faults.latency_after.draw(&mut rng),
                    fault,
                }
            }
        }
    }

    /// The fate of SSE connection `k`.
    pub(crate) fn stream(&self, k: u64) -> StreamFate {
        match self {
            Source::Script(script) => {
                script
                    .stream(k)
                    .map_or(StreamFate::default(), |s| StreamFate {
                        cut_after: s.cut_after,
                        end_after: s.end_after,
                    })
            }
            Source::Plan { seed, plan } => {
                let mut rng = rng_at(*seed, Route::STREAM.spec().draws, 0, k);
                let cut_after = geometric(&mut rng, plan.events.stream_disconnect);
                StreamFate {
                    cut_after,
                    end_after: geometric(&mut rng, plan.events.stream_end),
                }
            }
        }
    }

    /// How many times the message with this idempotency key is delivered.
    pub(crate) fn copies(&self, key: &[u8]) -> u32 {
        let (seed, weights) = match self {
            Source::Script(script) => return script.copies_of(key).unwrap_or(1),
            Source::Plan { seed, plan } => (*seed, &plan.events.copies),
        };
        if weights.len() <= 1 {
            return 1;
        }
        let u: f64 = rng_at(seed, Purpose::Duplicates as u64, 0, stable_hash(key)).gen();
        let mut acc = 0.0;
        let mut count = weights.len();
        for (i, p) in weights.iter().enumerate() {
            acc += p;
            if u < acc {
                count = i + 1;
                break;
            }
        }
        u32::try_from(count).unwrap_or(1)
    }
}

/// The exclusive fault a uniform draw `u` in [0, 1) lands on.
fn pick(faults: &RouteFaults, u: f64) -> Option<Fault> {
    let mut acc = 0.0;
    for (_, d) in drawn() {
        acc += (d.probability)(faults);
        if u < acc {
            return Some((d.fault)(faults));
        }
    }
    None
}

/// The number of events delivered up to and including the one a per-event
/// probability `p` hits (geometric, by inversion: one draw whatever `p`).
pub(crate) fn geometric(rng: &mut impl Rng, p: f64) -> Option<u64> {
    let u = 1.0 - rng.gen::<f64>(); // in (0, 1]
    if p <= 0.0 {
        return None;
    }
    if p >= 1.0 {
        return Some(1);
    }
    Some(((u.ln() / (-p).ln_1p()).floor() as u64).saturating_add(1))
}
