//! The chaos engine of one server: the plan, the per-route counters, the
//! forced faults ([`Forced`]), the recorded script and the journal. Each
//! decision is one sequence: the route's next `k`, the fate from the
//! [source](super::source) (plan or script, chosen in one place), a forced
//! fault over it, then recorded, scaled and journaled. It acts out none.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::Rng;

use super::forced::Forced;
use super::journal::Journal;
use super::script::{ms, FaultScript, ScriptedCopies, ScriptedRequest, ScriptedStream};
use super::source::{Fate, Source, StreamFate};
use super::{EntryKind, Fault, FaultPlan, JournalEntry, Route, MAX_COPIES, ROUTES};
use crate::model::MessageId;
use crate::seeded::{rng_at, Purpose};
use crate::sync::{lock, read, write};

pub(crate) use super::forced::MAX_FORCED;

/// The fate of one request on a JSON route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The journal sequence number of this request.
    pub(crate) seq: u64,
    /// Delay before handling (scaled by `time_scale`).
    pub(crate) latency_before: Duration,
    /// Delay after handling (scaled).
    pub(crate) latency_after: Duration,
    /// The fault, if any (a `Timeout`'s `after` is already scaled).
    pub(crate) fault: Option<Fault>,
}

/// The fate of one SSE connection: after how many delivered events it is
/// cut or ended (`None`: never, by chaos).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamDecision {
    pub(crate) seq: u64,
    pub(crate) cut_after: Option<u64>,
    pub(crate) end_after: Option<u64>,
}

/// How many times a message is delivered, and whether that was forced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Copies {
    pub(crate) count: u32,
    pub(crate) forced: bool,
}

/// What a request looked like, for the journal (the path and query,
/// clipped, moved into the entry).
#[derive(Debug, Clone)]
pub(crate) struct RequestLine<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: String,
    pub(crate) key: Option<&'a str>,
}

/// A published message, for the journal.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub(crate) kind: EntryKind,
    pub(crate) key: String,
    pub(crate) message_id: MessageId,
    pub(crate) copies: Copies,
    pub(crate) event_ids: Vec<u64>,
}

/// How many non-calm decisions a run's recorded script keeps.
const MAX_RECORDED: usize = 100_000;
/// How many bytes of idempotency keys its duplicate counts keep: past
/// them, as past [`MAX_RECORDED`], duplicates are no longer recorded.
const MAX_RECORDED_KEY_BYTES: usize = 16 * 1024 * 1024;

/// The chaos engine.
#[derive(Debug)]
pub(crate) struct Chaos {
    seed: u64,
    time_scale: f64,
    plan: RwLock<Arc<FaultPlan>>,
    /// Replaying a script: its decisions, every other one calm.
    script: Option<FaultScript>,
    /// The non-calm decisions made since start or reset.
    recorded: Mutex<FaultScript>,
    /// The bytes of the keys in `recorded`'s duplicate counts (and of those
    /// refused past [`MAX_RECORDED_KEY_BYTES`]).
    recorded_key_bytes: AtomicUsize,
    /// Per route (by [`Route::position`]): requests since start or reset.
    counters: [AtomicU64; ROUTES],
    /// How many 405s with two `Allow` lines have drawn their order.
    allow_draws: AtomicU64,
    forced: Forced,
    journal: Mutex<Journal>,
}

impl Chaos {
    pub(crate) fn new(
        seed: u64,
        time_scale: f64,
        plan: FaultPlan,
        script: Option<FaultScript>,
        journal_capacity: usize,
    ) -> Self {
        Chaos {
            seed,
            time_scale,
            plan: RwLock::new(Arc::new(plan)),
            script,
            recorded: Mutex::new(FaultScript {
                seed: Some(seed),
                ..FaultScript::new()
            }),
            recorded_key_bytes: AtomicUsize::new(0),
            counters: Default::default(),
            allow_draws: AtomicU64::new(0),
            forced: Forced::default(),
            journal: Mutex::new(Journal::new(journal_capacity)),
        }
    }

    pub(crate) fn seed(&self) -> u64 {
        self.seed
    }

    fn scale(&self, d: Duration) -> Duration {
        crate::clock::scale(d, self.time_scale)
    }

    pub(crate) fn plan(&self) -> Arc<FaultPlan> {
        Arc::clone(&read(&self.plan))
    }

    pub(crate) fn set_plan(&self, plan: FaultPlan) {
        *write(&self.plan) = Arc::new(plan);
    }

    /// Where the decisions not forced come from: the one place that
    /// chooses between the script and the plan.
    fn source(&self) -> Source<'_> {
        match &self.script {
            Some(script) => Source::Script(script),
            None => Source::Plan {
                seed: self.seed,
                plan: self.plan(),
            },
        }
    }

    /// Queues `fault` for the next request on `route`; `false` if the queue
    /// is full.
    pub(crate) fn force(&self, route: Route, fault: Fault) -> bool {
        self.forced.push(route, fault)
    }

    /// Queues a copy count for the next published message.
    pub(crate) fn force_copies(&self, copies: u32) -> bool {
        self.forced.push_copies(copies.clamp(1, MAX_COPIES))
    }

    /// Clears counters, forced faults and the journal.
    pub(crate) fn reset(&self) {
        for c in &self.counters {
            c.store(0, Ordering::SeqCst);
        }
        self.allow_draws.store(0, Ordering::SeqCst);
        self.forced.clear();
        lock(&self.journal).clear();
        *lock(&self.recorded) = FaultScript {
            seed: Some(self.seed),
            ..FaultScript::new()
        };
        self.recorded_key_bytes.store(0, Ordering::SeqCst);
    }

    /// How many decisions the script being replayed holds, if one is.
    pub(crate) fn replaying(&self) -> Option<usize> {
        self.script.as_ref().map(FaultScript::len)
    }

    /// The non-calm decisions since start or reset, as a script.
    pub(crate) fn recorded(&self) -> FaultScript {
        lock(&self.recorded).clone()
    }

    fn record(&self, f: impl FnOnce(&mut FaultScript)) {
        let mut r = lock(&self.recorded);
        if r.len() < MAX_RECORDED {
            f(&mut r);
        }
    }

    fn next_k(&self, route: Route) -> u64 {
        self.counters[route.position()].fetch_add(1, Ordering::SeqCst)
    }

    /// Appends a journal entry; its sequence number.
    fn journal_push(&self, entry: JournalEntry) -> u64 {
        // The evicted entry is dropped at the end of the function, after the
        // lock (a temporary of this statement) is released.
        let (seq, _evicted) = lock(&self.journal).push(entry);
        seq
    }

    /// Decides the fate of the next request on a JSON route and journals
    /// it: a forced fault, else the source's; recorded, then scaled.
    pub(crate) fn decide(&self, route: Route, line: RequestLine<'_>) -> Decision {
        let k = self.next_k(route);
        let mut fate = self.source().request(route, k);
        let forced = self.forced.pop(route);
        if forced.is_some() {
            fate.fault = forced;
        }
        self.record_request(route, k, fate);
        let Fate {
            before,
            after,
            fault,
        } = self.scaled(fate);
        let seq = self.journal_push(JournalEntry {
            k,
            method: line.method.to_string(),
            path: line.path,
            idempotency_key: line.key.map(str::to_string),
            fault,
            forced: forced.is_some(),
            latency_before_ms: ms(before),
            latency_after_ms: ms(after),
            ..JournalEntry::blank(EntryKind::Request, route)
        });
        Decision {
            seq,
            latency_before: before,
            latency_after: after,
            fault,
        }
    }

    fn record_request(&self, route: Route, k: u64, fate: Fate) {
        if fate.fault.is_some() || !fate.before.is_zero() || !fate.after.is_zero() {
            self.record(|s| {
                s.requests.push(ScriptedRequest {
                    route,
                    k,
                    fault: fate.fault,
                    latency_before_ms: ms(fate.before),
                    latency_after_ms: ms(fate.after),
                })
            });
        }
    }

    /// A fate with its delays (and a timeout's silence) scaled.
    fn scaled(&self, fate: Fate) -> Fate {
        let fault = match fate.fault {
            Some(Fault::Timeout { after }) => Some(Fault::Timeout {
                after: self.scale(after),
            }),
            other => other,
        };
        Fate {
            before: self.scale(fate.before),
            after: self.scale(fate.after),
            fault,
        }
    }

    /// Whether the next 405 with two `Allow` lines lists them the other way
    /// round: chi keeps a route's methods in a Go map, whose iteration
    /// starts at a random one of a small map's 8 slots, so the reference
    /// lists POST first one time in eight. The k-th such 405 since start
    /// or reset draws from `(seed, k)`.
    pub(crate) fn allow_order_flips(&self) -> bool {
        let k = self.allow_draws.fetch_add(1, Ordering::SeqCst);
        rng_at(self.seed, Purpose::AllowOrder as u64, 0, k).gen_ratio(1, 8)
    }

    /// Decides the fate of the next SSE connection and journals it: a
    /// forced cut or end, else the source's; whichever comes first.
    pub(crate) fn decide_stream(&self, line: RequestLine<'_>) -> StreamDecision {
        let k = self.next_k(Route::STREAM);
        let mut fate = self.source().stream(k);
        let forced = self.forced.pop(Route::STREAM);
        match forced {
            Some(Fault::StreamDisconnect) => (fate.cut_after, fate.end_after) = (Some(1), None),
            Some(Fault::StreamEnd) => (fate.cut_after, fate.end_after) = (None, Some(1)),
            _ => {}
        }
        let StreamFate {
            cut_after,
            end_after,
        } = first_of(fate);
        if cut_after.is_some() || end_after.is_some() {
            self.record(|s| {
                s.streams.push(ScriptedStream {
                    k,
                    cut_after,
                    end_after,
                })
            });
        }
        let fault = forced.or(match (cut_after, end_after) {
            (Some(_), _) => Some(Fault::StreamDisconnect),
            (_, Some(_)) => Some(Fault::StreamEnd),
            _ => None,
        });
        let seq = self.journal_push(JournalEntry {
            k,
            method: line.method.to_string(),
            path: line.path,
            fault,
            forced: forced.is_some(),
            status: Some(200),
            ..JournalEntry::blank(EntryKind::Stream, Route::STREAM)
        });
        StreamDecision {
            seq,
            cut_after,
            end_after,
        }
    }

    /// How many times the message with this idempotency key is delivered:
    /// a forced count if one is queued, else the source's (a pure function
    /// of `(seed, key)` under the plan's `copies`).
    pub(crate) fn copies_for(&self, key: &[u8]) -> Copies {
        let copies = match self.forced.pop_copies() {
            Some(count) => Copies {
                count,
                forced: true,
            },
            None => Copies {
                count: self.source().copies(key),
                forced: false,
            },
        };
        let fits = || {
            let held = self
                .recorded_key_bytes
                .fetch_add(key.len(), Ordering::SeqCst);
            held + key.len() <= MAX_RECORDED_KEY_BYTES
        };
        if copies.count > 1 && fits() {
            self.record(|s| {
                s.copies.push(ScriptedCopies {
                    key: key.into(),
                    copies: copies.count,
                })
            });
        }
        copies
    }

    /// Records a bot answer or an injected message being published.
    pub(crate) fn journal_publish(&self, p: Published) {
        self.journal_push(JournalEntry {
            idempotency_key: Some(p.key),
            fault: (p.copies.count > 1).then_some(Fault::DuplicateEvent {
                copies: p.copies.count,
            }),
            forced: p.copies.forced,
            committed: true,
            message_id: Some(p.message_id),
            event_ids: p.event_ids,
            ..JournalEntry::blank(p.kind, Route::STREAM)
        });
    }

    /// Updates a journal entry in place (if it is still held).
    pub(crate) fn update(&self, seq: u64, f: impl FnOnce(&mut JournalEntry)) {
        if let Some(entry) = lock(&self.journal).get_mut(seq) {
            f(entry);
        }
    }

    pub(crate) fn journal(&self) -> Vec<JournalEntry> {
        lock(&self.journal).entries()
    }

    pub(crate) fn journal_tail(&self, n: usize) -> Vec<JournalEntry> {
        lock(&self.journal).tail(n)
    }
}

/// Of a cut and an end, whichever comes first is what happens (a cut, on
/// a tie).
fn first_of(fate: StreamFate) -> StreamFate {
    match (fate.cut_after, fate.end_after) {
        (Some(c), Some(e)) if e < c => StreamFate {
            cut_after: None,
            ..fate
        },
        (Some(_), Some(_)) => StreamFate {
            end_after: None,
            ..fate
        },
        _ => fate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> RequestLine<'static> {
        RequestLine {
            method: "GET",
            path: "/chats".to_string(),
            key: None,
        }
    }

    #[test]
    fn decisions_depend_only_on_seed_route_and_k() {
        let a = Chaos::new(9, 1.0, FaultPlan::hostile(), None, 100);
        let b = Chaos::new(9, 1.0, FaultPlan::hostile(), None, 100);
        // Interleaving other routes on `b` must not change GetChats' draws.
        for _ in 0..50 {
            let da = a.decide(Route::GetChats, line());
            b.decide(Route::PostMessage, line());
            let db = b.decide(Route::GetChats, line());
            assert_eq!(
                (da.fault, da.latency_before, da.latency_after),
                (db.fault, db.latency_before, db.latency_after)
            );
        }
    }

    #[test]
    fn the_reference_rates_come_out() {
        let c = Chaos::new(1, 1.0, FaultPlan::reference(), None, 10);
        let (mut n503, mut n504, n) = (0, 0, 20_000);
        for _ in 0..n {
            match c.decide(Route::GetMessages, line()).fault {
                Some(Fault::Unavailable) => n503 += 1,
                Some(Fault::Timeout { .. }) => n504 += 1,
                None => {}
                other => panic!("{other:?}"),
            }
        }
        let (p503, p504) = (n503 as f64 / n as f64, n504 as f64 / n as f64);
        assert!((p503 - 0.05).abs() < 0.01, "{p503}");
        assert!((p504 - 0.0475).abs() < 0.01, "{p504}");
    }

    #[test]
    fn copies_follow_the_reference_distribution_and_the_key() {
        let c = Chaos::new(3, 1.0, FaultPlan::reference(), None, 10);
        let mut counts = [0u32; 4];
        for i in 0..9000 {
            let key = format!("key-{i}");
            let n = c.copies_for(key.as_bytes());
            assert_eq!(n, c.copies_for(key.as_bytes()));
            counts[n.count as usize] += 1;
        }
        let share = |i: usize| f64::from(counts[i]) / 9000.0;
        assert_eq!(counts[0], 0);
        assert!((share(1) - 1.0 / 3.0).abs() < 0.02);
        assert!((share(2) - 4.0 / 9.0).abs() < 0.02);
        assert!((share(3) - 2.0 / 9.0).abs() < 0.02);
    }

    #[test]
    fn forced_faults_are_fifo_once_and_bounded() {
        let c = Chaos::new(1, 0.5, FaultPlan::none(), None, 10);
        assert!(c.force(Route::GetChats, Fault::Unavailable));
        assert!(c.force(Route::GetChats, Fault::timeout()));
        assert_eq!(
            c.decide(Route::GetChats, line()).fault,
            Some(Fault::Unavailable)
        );
        assert_eq!(
            c.decide(Route::GetChats, line()).fault,
            Some(Fault::Timeout {
                after: Duration::from_millis(2500)
            })
        );
        assert_eq!(c.decide(Route::GetChats, line()).fault, None);
        for _ in 0..MAX_FORCED {
            assert!(c.force_copies(2));
        }
        assert!(!c.force_copies(2));
    }

    #[test]
    fn a_recorded_script_replays_the_same_decisions_and_nothing_else() {
        let drawn = Chaos::new(5, 1.0, FaultPlan::hostile(), None, 100);
        let mut first = Vec::new();
        for _ in 0..40 {
            let d = drawn.decide(Route::PostMessage, line());
            first.push((d.fault, d.latency_before, d.latency_after));
        }
        let c1 = drawn.copies_for(b"some-key");
        let script = drawn.recorded();
        assert!(!script.is_empty());
        let replay = Chaos::new(999, 1.0, FaultPlan::none(), Some(script), 100);
        for want in &first {
            let d = replay.decide(Route::PostMessage, line());
            assert_eq!(&(d.fault, d.latency_before, d.latency_after), want);
        }
        assert_eq!(replay.copies_for(b"some-key").count, c1.count);
        assert_eq!(
            replay.copies_for(b"other").count,
            1,
            "not in the script: calm"
        );
        assert_eq!(replay.decide(Route::GetChats, line()).fault, None);
    }

    #[test]
    fn stream_cuts_and_ends_come_first_come_served() {
        let c = Chaos::new(1, 1.0, FaultPlan::none(), None, 10);
        assert!(c.force(Route::Events, Fault::StreamEnd));
        let d = c.decide_stream(line());
        assert_eq!((d.cut_after, d.end_after), (None, Some(1)));
        let d = c.decide_stream(line());
        assert_eq!((d.cut_after, d.end_after), (None, None));
        let mut rng = rng_at(1, 1, 0, 1);
        assert_eq!(super::super::source::geometric(&mut rng, 1.0), Some(1));
        assert_eq!(super::super::source::geometric(&mut rng, 0.0), None);
    }
}
