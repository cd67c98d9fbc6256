//! What a server is busy with: JSON requests in flight, bot answers
//! pending, requests held at a gate. The waits of the handle watch it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::chaos::Route;
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
    busy: watch::Sender<Busy>,
    /// Bumped by `answer_bots_now`: pending bot answers go at once.
    hurry: watch::Sender<u64>,
    gates: Mutex<HashMap<Route, Arc<Gate>>>,
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
        let work = self.work;
        self.activity.count(|b| match work {
            Work::Request => b.requests -= 1,
            Work::Bot => b.bots -= 1,
        });
    }
}

impl Activity {
    pub(crate) fn new() -> Self {
        Activity {
            busy: watch::channel(Busy::default()).0,
            hurry: watch::channel(0).0,
            gates: Mutex::new(HashMap::new()),
            closed: AtomicUsize::new(0),
        }
    }

    /// Counts `work` until the guard drops.
    /// Changes the counts; wakes `settle` only if something waits on it.
    fn count(&self, change: impl FnOnce(&mut Busy)) {
        // Asked under the value's lock: a wait that subscribes concurrently
        // either is counted here or reads the new value.
        self.busy.send_if_modified(|b| {
            change(b);
            self.busy.receiver_count() > 0
        });
    }

    pub(crate) fn start(self: &Arc<Self>, work: Work) -> BusyGuard {
        self.count(|b| match work {
            Work::Request => b.requests += 1,
            Work::Bot => b.bots += 1,
        });
        BusyGuard {
            activity: Arc::clone(self),
            work,
        }
    }

    pub(crate) fn busy(&self) -> watch::Receiver<Busy> {
        self.busy.subscribe()
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
        if let Some(old) = gates.insert(route, Arc::clone(&gate)) {
            old.open();
        }
        self.closed.store(gates.len(), Ordering::Release);
        gate
    }

    /// Opens `gate` and forgets it, if it is still the route's.
    pub(crate) fn open_gate(&self, route: Route, gate: &Arc<Gate>) {
        gate.open();
        let mut gates = lock(&self.gates);
        if gates.get(&route).is_some_and(|g| Arc::ptr_eq(g, gate)) {
            gates.remove(&route);
        }
        self.closed.store(gates.len(), Ordering::Release);
    }

    /// Waits while a gate on `route` is closed.
    pub(crate) async fn pass(&self, route: Route) {
        if self.closed.load(Ordering::Acquire) == 0 {
            return;
        }
        let Some(gate) = lock(&self.gates).get(&route).cloned() else {
            return;
        };
        let mut open = gate.open.subscribe();
        let _waiting = Waiting::new(&gate.waiting);
        let _ = open.wait_for(|o| *o).await;
    }

    /// Opens every gate (reset, shutdown).
    pub(crate) fn open_all(&self) {
        let mut gates = lock(&self.gates);
        for (_, gate) in gates.drain() {
            gate.open();
        }
        self.closed.store(0, Ordering::Release);
    }
}
