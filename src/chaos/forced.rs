//! Faults a test forced: per-route queues and the copies queue, drawn
//! before (and instead of) the plan or the script.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{Fault, Route, ROUTES};
use crate::sync::lock;

/// How many forced faults may wait per route (and forced copy counts).
pub(crate) const MAX_FORCED: usize = 10_000;

/// The queues, under one lock.
#[derive(Debug, Default)]
struct Queues {
    /// Per route, by [`Route::position`].
    routes: [VecDeque<Fault>; ROUTES],
    /// Copy counts for the next published messages.
    copies: VecDeque<u32>,
}

/// The forced faults of one server.
#[derive(Debug, Default)]
pub(crate) struct Forced {
    queues: Mutex<Queues>,
    /// How many faults wait on all routes (written under the lock): a
    /// request pops without the lock while there are none.
    waiting: AtomicUsize,
}

impl Forced {
    /// Queues `fault` for the next request on `route`; `false` if the queue
    /// is full.
    pub(crate) fn push(&self, route: Route, fault: Fault) -> bool {
        let mut queues = lock(&self.queues);
        let queue = &mut queues.routes[route.position()];
        if queue.len() >= MAX_FORCED {
            return false;
        }
        queue.push_back(fault);
        self.count(&queues);
        true
    }

    /// Queues a copy count for the next published message; `false` if the
    /// queue is full.
    pub(crate) fn push_copies(&self, copies: u32) -> bool {
        let mut queues = lock(&self.queues);
        if queues.copies.len() >= MAX_FORCED {
            return false;
        }
        queues.copies.push_back(copies);
        true
    }

    /// The next forced fault on `route`, if any.
    pub(crate) fn pop(&self, route: Route) -> Option<Fault> {
        if self.waiting.load(Ordering::Acquire) == 0 {
            return None;
        }
        let mut queues = lock(&self.queues);
        let fault = queues.routes[route.position()].pop_front();
        self.count(&queues);
        fault
    }

    /// The next forced copy count, if any.
    pub(crate) fn pop_copies(&self) -> Option<u32> {
        lock(&self.queues).copies.pop_front()
    }

    pub(crate) fn clear(&self) {
        let mut queues = lock(&self.queues);
        *queues = Queues::default();
        self.count(&queues);
    }

    fn count(&self, queues: &Queues) {
        let waiting = queues.routes.iter().map(VecDeque::len).sum();
        self.waiting.store(waiting, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_per_route_fifo_bounded_and_cleared() {
        let forced = Forced::default();
        assert!(forced.push(Route::GetChats, Fault::Unavailable));
        assert!(forced.push(Route::GetChats, Fault::TruncatedBody));
        assert_eq!(forced.pop(Route::PostMessage), None);
        assert_eq!(forced.pop(Route::GetChats), Some(Fault::Unavailable));
        assert!(forced.push_copies(3));
        forced.clear();
        assert_eq!(forced.pop(Route::GetChats), None);
        assert_eq!(forced.pop_copies(), None);
        for _ in 0..MAX_FORCED {
            assert!(forced.push(Route::Events, Fault::StreamEnd));
        }
        assert!(!forced.push(Route::Events, Fault::StreamEnd));
        assert!(forced.push(Route::GetMessages, Fault::Unavailable));
    }
}
