//! The chaos engine of one server: the plan, the per-route counters, the
//! forced faults and the journal. Draws every decision; acts out none.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::Rng;

use super::journal::Journal;
use super::script::{ms, FaultScript, ScriptedCopies, ScriptedRequest, ScriptedStream};
use super::{EntryKind, Fault, FaultPlan, JournalEntry, JsonRoute, Route};
use crate::model::MessageId;
use crate::seeded::{rng_at, stable_hash, Stream};
use crate::sync::{lock, read, write};

/// How many forced faults may wait per route (and forced copy counts).
pub(crate) const MAX_FORCED: usize = 10_000;

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
    counters: [AtomicU64; 4],
    /// How many 405s with two `Allow` lines have drawn their order.
    allow_draws: AtomicU64,
    forced: Mutex<[VecDeque<Fault>; 4]>,
    /// How many forced faults wait, on all routes (written under `forced`'s
    /// lock): a request draws without the lock while there are none.
    forced_waiting: AtomicUsize,
    forced_copies: Mutex<VecDeque<u32>>,
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
            counters: Default::default(),
            allow_draws: AtomicU64::new(0),
            forced: Mutex::new(Default::default()),
            forced_waiting: AtomicUsize::new(0),
            forced_copies: Mutex::new(VecDeque::new()),
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

    /// Queues `fault` for the next request on `route`; `false` if the queue
    /// is full.
    pub(crate) fn force(&self, route: Route, fault: Fault) -> bool {
        let mut forced = lock(&self.forced);
        let queue = &mut forced[route.index()];
        if queue.len() >= MAX_FORCED {
            return false;
        }
        queue.push_back(fault);
        self.forced_waiting
            .store(forced.iter().map(VecDeque::len).sum(), Ordering::Release);
        true
    }

    /// Queues a copy count for the next published message.
    pub(crate) fn force_copies(&self, copies: u32) -> bool {
        let mut queue = lock(&self.forced_copies);
        if queue.len() >= MAX_FORCED {
            return false;
        }
        queue.push_back(copies.clamp(1, 100));
        true
    }

    /// Clears counters, forced faults and the journal.
    pub(crate) fn reset(&self) {
        for c in &self.counters {
            c.store(0, Ordering::SeqCst);
        }
        self.allow_draws.store(0, Ordering::SeqCst);
        {
            let mut forced = lock(&self.forced);
            *forced = Default::default();
            self.forced_waiting.store(0, Ordering::Release);
        }
        lock(&self.forced_copies).clear();
        lock(&self.journal).clear();
        *lock(&self.recorded) = FaultScript {
            seed: Some(self.seed),
            ..FaultScript::new()
        };
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
        self.counters[route.index()].fetch_add(1, Ordering::SeqCst)
    }

    fn pop_forced(&self, route: Route) -> Option<Fault> {
        if self.forced_waiting.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut forced = lock(&self.forced);
        let fault = forced[route.index()].pop_front();
        self.forced_waiting
            .store(forced.iter().map(VecDeque::len).sum(), Ordering::Release);
        fault
    }

    /// The unscaled delays and fault of request `k` on `route`: from the
    /// script when replaying one, else drawn from the plan.
    fn draw_request(&self, route: JsonRoute, k: u64) -> (Duration, Duration, Option<Fault>) {
        if let Some(script) = &self.script {
            return script
                .request(route, k)
                .map_or((Duration::ZERO, Duration::ZERO, None), |r| {
                    (
                        Duration::from_millis(r.latency_before_ms),
                        Duration::from_millis(r.latency_after_ms),
                        r.fault,
                    )
                });
        }
        let plan = self.plan();
        let faults = plan.route(route);
        if faults.is_calm() {
            return (Duration::ZERO, Duration::ZERO, None);
        }
        let stream = Stream::Route0 as u64 + route.route().index() as u64;
        let mut rng = rng_at(self.seed, stream, 0, k);
        let before = faults.latency_before.draw(&mut rng);
        let fault = pick(faults, rng.gen());
        (before, faults.latency_after.draw(&mut rng), fault)
    }

    /// Draws the fate of the next request on a JSON route and journals it.
    pub(crate) fn decide(&self, route: JsonRoute, line: RequestLine<'_>) -> Decision {
        let k = self.next_k(route.route());
        let (latency_before, latency_after, mut fault) = self.draw_request(route, k);
        let forced = self.pop_forced(route.route());
        if forced.is_some() {
            fault = forced;
        }
        if fault.is_some() || !latency_before.is_zero() || !latency_after.is_zero() {
            self.record(|s| {
                s.requests.push(ScriptedRequest {
                    route,
                    k,
                    fault,
                    latency_before_ms: ms(latency_before),
                    latency_after_ms: ms(latency_after),
                })
            });
        }
        let latency_before = self.scale(latency_before);
        let latency_after = self.scale(latency_after);
        if let Some(Fault::Timeout { after }) = fault {
            fault = Some(Fault::Timeout {
                after: self.scale(after),
            });
        }
        // The evicted entry is dropped at the end of the function, after the
        // lock (a temporary of this statement) is released.
        let (seq, _evicted) = lock(&self.journal).push(JournalEntry {
            k,
            method: line.method.to_string(),
            path: line.path,
            idempotency_key: line.key.map(str::to_string),
            fault,
            forced: forced.is_some(),
            latency_before_ms: ms(latency_before),
            latency_after_ms: ms(latency_after),
            ..JournalEntry::blank(EntryKind::Request, route.route())
        });
        Decision {
            seq,
            latency_before,
            latency_after,
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
        rng_at(self.seed, Stream::AllowOrder as u64, 0, k).gen_ratio(1, 8)
    }

    /// Draws the fate of the next SSE connection and journals it.
    pub(crate) fn decide_stream(&self, line: RequestLine<'_>) -> StreamDecision {
        let k = self.next_k(Route::Events);
        let (mut cut_after, mut end_after) = match &self.script {
            Some(script) => script
                .stream(k)
                .map_or((None, None), |s| (s.cut_after, s.end_after)),
            None => {
                let plan = self.plan();
                let mut rng = rng_at(self.seed, Stream::Events as u64, 0, k);
                let cut = geometric(&mut rng, plan.events.stream_disconnect);
                (cut, geometric(&mut rng, plan.events.stream_end))
            }
        };
        let forced = self.pop_forced(Route::Events);
        match forced {
            Some(Fault::StreamDisconnect) => (cut_after, end_after) = (Some(1), None),
            Some(Fault::StreamEnd) => (cut_after, end_after) = (None, Some(1)),
            _ => {}
        }
        // Whichever comes first is what happens.
        match (cut_after, end_after) {
            (Some(c), Some(e)) if e < c => cut_after = None,
            (Some(_), Some(_)) => end_after = None,
            _ => {}
        }
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
        // The evicted entry is dropped at the end of the function, after the
        // lock (a temporary of this statement) is released.
        let (seq, _evicted) = lock(&self.journal).push(JournalEntry {
            k,
            method: line.method.to_string(),
            path: line.path,
            fault,
            forced: forced.is_some(),
            status: Some(200),
            ..JournalEntry::blank(EntryKind::Stream, Route::Events)
        });
        StreamDecision {
            seq,
            cut_after,
            end_after,
        }
    }

    /// How many times the message with this idempotency key is delivered:
    /// a forced count if one is queued, else a pure function of
    /// `(seed, key)` under the plan's `copies`.
    pub(crate) fn copies_for(&self, key: &[u8]) -> Copies {
        let copies = self.draw_copies(key);
        if copies.count > 1 {
            self.record(|s| {
                s.copies.push(ScriptedCopies {
                    key: key.into(),
                    copies: copies.count,
                })
            });
        }
        copies
    }

    fn draw_copies(&self, key: &[u8]) -> Copies {
        if let Some(count) = lock(&self.forced_copies).pop_front() {
            return Copies {
                count,
                forced: true,
            };
        }
        if let Some(script) = &self.script {
            return Copies {
                count: script.copies_of(key).unwrap_or(1),
                forced: false,
            };
        }
        let plan = self.plan();
        let weights = &plan.events.copies;
        let count = if weights.len() <= 1 {
            1
        } else {
            let u: f64 = rng_at(self.seed, Stream::Duplicates as u64, 0, stable_hash(key)).gen();
            let mut acc = 0.0;
            let mut count = weights.len();
            for (i, p) in weights.iter().enumerate() {
                acc += p;
                if u < acc {
                    count = i + 1;
                    break;
                }
            }
            count
        };
        Copies {
            count: u32::try_from(count).unwrap_or(1),
            forced: false,
        }
    }

    /// Records a bot answer or an injected message being published.
    pub(crate) fn journal_publish(&self, p: Published) {
        let (_, _evicted) = lock(&self.journal).push(JournalEntry {
            idempotency_key: Some(p.key),
            fault: (p.copies.count > 1).then_some(Fault::DuplicateEvent {
                copies: p.copies.count,
            }),
            forced: p.copies.forced,
            committed: true,
            message_id: Some(p.message_id),
            event_ids: p.event_ids,
            ..JournalEntry::blank(p.kind, Route::Events)
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

/// The exclusive fault a uniform draw `u` in [0, 1) lands on.
fn pick(faults: &super::RouteFaults, u: f64) -> Option<Fault> {
    let kinds = [
        Fault::Unavailable,
        Fault::Timeout {
            after: Duration::from_millis(faults.timeout_after_ms),
        },
        Fault::DropBeforeCommit,
        Fault::DropAfterCommit,
        Fault::TruncatedBody,
    ];
    let mut acc = 0.0;
    for ((p, _), fault) in faults.probabilities().iter().zip(kinds) {
        acc += p;
        if u < acc {
            return Some(fault);
        }
    }
    None
}

/// The number of events delivered up to and including the one a per-event
/// probability `p` hits (geometric, by inversion: one draw whatever `p`).
fn geometric(rng: &mut impl Rng, p: f64) -> Option<u64> {
    let u = 1.0 - rng.gen::<f64>(); // in (0, 1]
    if p <= 0.0 {
        return None;
    }
    if p >= 1.0 {
        return Some(1);
    }
    Some(((u.ln() / (-p).ln_1p()).floor() as u64).saturating_add(1))
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
            let da = a.decide(JsonRoute::GetChats, line());
            b.decide(JsonRoute::PostMessage, line());
            let db = b.decide(JsonRoute::GetChats, line());
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
            match c.decide(JsonRoute::GetMessages, line()).fault {
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
            c.decide(JsonRoute::GetChats, line()).fault,
            Some(Fault::Unavailable)
        );
        assert_eq!(
            c.decide(JsonRoute::GetChats, line()).fault,
            Some(Fault::Timeout {
                after: Duration::from_millis(2500)
            })
        );
        assert_eq!(c.decide(JsonRoute::GetChats, line()).fault, None);
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
            let d = drawn.decide(JsonRoute::PostMessage, line());
            first.push((d.fault, d.latency_before, d.latency_after));
        }
        let c1 = drawn.copies_for(b"some-key");
        let script = drawn.recorded();
        assert!(!script.is_empty());
        let replay = Chaos::new(999, 1.0, FaultPlan::none(), Some(script), 100);
        for want in &first {
            let d = replay.decide(JsonRoute::PostMessage, line());
            assert_eq!(&(d.fault, d.latency_before, d.latency_after), want);
        }
        assert_eq!(replay.copies_for(b"some-key").count, c1.count);
        assert_eq!(
            replay.copies_for(b"other").count,
            1,
            "not in the script: calm"
        );
        assert_eq!(replay.decide(JsonRoute::GetChats, line()).fault, None);
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
        assert_eq!(geometric(&mut rng, 1.0), Some(1));
        assert_eq!(geometric(&mut rng, 0.0), None);
    }
}
