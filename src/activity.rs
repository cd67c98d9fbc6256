//! What a server is busy with: JSON requests in flight, bot answers
//! pending, requests held at a gate. The waits of the handle watch it.

use std::sync::atomic::{fence, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::chaos::{Route, ROUTES};
use crate::sync::lock;

/// Counts of things in progress.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Busy {
    pub(crate) requests: usize,
    pub(crate) bots: usize,
}

/// Which count a guard holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    Request,
    Bot,
}

/// A gate that holds the requests of one route until opened.
#[derive(Debug)]
pub(crate) struct Gate {
    open: watch::Sender<bool>,
    waiting: AtomicUsize,
}

impl Gate {
    pub(crate) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    pub(crate) fn open(&self) {
        self.open.send_replace(true);
    }

    pub(crate) fn is_open(&self) -> bool {
        *self.open.borrow()
    }
}

/// Counts a request waiting at a gate, also when its client gives up.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The activity of one server.
#[derive(Debug)]
pub(crate) struct Activity {
    requests: AtomicUsize,
    bots: AtomicUsize,
    /// Bumped when a count changes while someone waits on it.
    changes: watch::Sender<u64>,
    /// Bumped by `answer_bots_now`: pending bot answers go at once.
    hurry: watch::Sender<u64>,
    /// Per route (by its position in the route table), its closed gate.
    gates: Mutex<[Option<Arc<Gate>>; ROUTES]>,
    /// How many gates are closed (written under `gates`' lock): a request
    /// passes without the lock while there are none.
    closed: AtomicUsize,
}

/// Holds one unit of [`Busy`] until dropped.
#[derive(Debug)]
pub(crate) struct BusyGuard {
    activity: Arc<Activity>,
    work: Work,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.activity
            .counter(self.work)
            .fetch_sub(1, Ordering::SeqCst);
        self.activity.changed();
    }
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            requests: AtomicUsize::new(0),
            bots: AtomicUsize::new(0),
            changes: watch::channel(0).0,
            hurry: watch::channel(0).0,
            gates: Mutex::new(Default::default()),
            closed: AtomicUsize::new(0),
        }
    }

    fn counter(&self, work: Work) -> &AtomicUsize {
        match work {
            Work::Request => &self.requests,
            Work::Bot => &self.bots,
        }
    }

    /// Wakes the waits on the counts, if any: counts change twice per
    /// request, waits are rare. A count changes before its waiters are
    /// asked for and a wait subscribes before it reads the counts, each
    /// with a fence between: either the wait is counted here or it reads
    /// the new count.
    fn changed(&self) {
        fence(Ordering::SeqCst);
        if self.changes.receiver_count() > 0 {
            self.changes.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    /// Counts `work` until the guard drops.
    pub(crate) fn start(self: &Arc<Self>, work: Work) -> BusyGuard {
        self.counter(work).fetch_add(1, Ordering::SeqCst);
        self.changed();
        BusyGuard {
            activity: Arc::clone(self),
            work,
        }
    }

    /// Changes of the counts, for a wait (subscribe, then read [`busy`](Self::busy)).
    pub(crate) fn busy_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The counts now.
    pub(crate) fn busy(&self) -> Busy {
        fence(Ordering::SeqCst);
        Busy {
            requests: self.requests.load(Ordering::SeqCst),
            bots: self.bots.load(Ordering::SeqCst),
        }
    }

    pub(crate) fn hurry(&self) -> watch::Receiver<u64> {
        self.hurry.subscribe()
    }

    /// Releases every pending bot answer now.
    pub(crate) fn hurry_bots(&self) {
        self.hurry.send_modify(|n| *n += 1);
    }

    /// Closes a gate on `route` (replacing an earlier one, which opens).
    pub(crate) fn close_gate(&self, route: Route) -> Arc<Gate> {
        let gate = Arc::new(Gate {
            open: watch::channel(false).0,
            waiting: AtomicUsize::new(0),
        });
        let mut gates = lock(&self.gates);
        if let Some(old) = gates[route.position()].replace(Arc::clone(&gate)) {
            old.open();
        }
        self.closed.store(closed(&*gates), Ordering::Release);
        gate
    }

    /// Opens `gate` and forgets it, if it is still the route's.
    pub(crate) fn open_gate(&self, route: Route, gate: &Arc<Gate>) {
        gate.open();
        let mut gates = lock(&self.gates);
        let slot = &mut gates[route.position()];
        if slot.as_ref().is_some_and(|g| Arc::ptr_eq(g, gate)) {
            *slot = None;
        }
        self.closed.store(closed(&*gates), Ordering::Release);
    }

    /// Waits while a gate on `route` is closed.
    pub(crate) async fn pass(&self, route: Route) {
        if self.closed.load(Ordering::Acquire) == 0 {
            return;
        }
        let Some(gate) = lock(&self.gates)[route.position()].clone() else {
            return;
        };
        let mut open = gate.open.subscribe();
        let _waiting = Waiting::new(&gate.waiting);
        let _ = open.wait_for(|o| *o).await;
    }

    /// Opens every gate (reset, shutdown).
    pub(crate) fn open_all(&self) {
        let mut gates = lock(&self.gates);
        for gate in gates.iter_mut().filter_map(Option::take) {
            gate.open();
        }
        self.closed.store(0, Ordering::Release);
    }
}

/// How many gates are closed.
fn closed(gates: &[Option<Arc<Gate>>]) -> usize {
    gates.iter().flatten().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_follow_guards_and_wake_only_waits() {
        let activity = Arc::new(Activity::new());
        let request = activity.start(Work::Request);
        let bot = activity.start(Work::Bot);
        assert_eq!(
            activity.busy(),
            Busy {
                requests: 1,
                bots: 1
            }
        );
        // Nobody waited: the counts changed without a notification.
        let mut changes = activity.busy_changes();
        assert_eq!(*changes.borrow(), 0);
        drop(request);
        assert!(changes.has_changed().unwrap(), "a wait is woken");
        changes.mark_unchanged();
        drop(bot);
        changes.changed().await.unwrap();
        assert_eq!(activity.busy(), Busy::default());
    }
}
