//! Holds made over HTTP (`POST /__admin/holds/{route}`): the gates of
//! [`MockChatServer::hold`](crate::MockChatServer::hold), named by an id.
//! A hold made for a feed viewer is released when that viewer leaves, and
//! every hold on reset, so a closed tab never leaves the server stuck.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::{json, Value};

use super::Ctx;
use crate::activity::HeldRoute;
use crate::chaos::Route;
use crate::feed::Change;
use crate::sync::lock;

/// At most this many holds at a time (one per route is what matters; a
/// new hold on a route replaces its previous one).
const MAX_HOLDS: usize = 64;

#[derive(Debug)]
struct Held {
    route: Route,
    /// Released when dropped.
    held: HeldRoute,
    viewer: Option<u64>,
}

/// The holds of one server's admin API.
#[derive(Debug, Default)]
pub(crate) struct Holds {
    inner: Mutex<(u64, BTreeMap<u64, Held>)>,
}

impl Holds {
    /// Closes a gate on `route` (replacing and releasing the route's
    /// previous one); returns its id.
    pub(crate) fn create(&self, ctx: &Ctx, route: Route, viewer: Option<u64>) -> u64 {
        let held = ctx.app.hold(route);
        let mut inner = lock(&self.inner);
        inner.0 += 1;
        let id = inner.0;
        // The route's earlier gate was opened by `close_gate`.
        inner.1.retain(|_, h| h.route != route);
        while inner.1.len() >= MAX_HOLDS {
            inner.1.pop_first();
        }
        inner.1.insert(
            id,
            Held {
                route,
                held,
                viewer,
            },
        );
        drop(inner);
        ctx.app.feed().emit(|| Change::Hold {
            id,
            route,
            viewer,
            released: false,
        });
        id
    }

    /// Releases hold `id`; `false` if there is none.
    pub(crate) fn release(&self, ctx: &Ctx, id: u64) -> bool {
        let held = lock(&self.inner).1.remove(&id);
        match held {
            Some(held) => {
                open(ctx, id, held);
                true
            }
            None => false,
        }
    }

    /// Releases the holds made for `viewer` (its feed disconnected).
    pub(crate) fn release_viewer(&self, ctx: &Ctx, viewer: u64) {
        let mut inner = lock(&self.inner);
        let ids: Vec<u64> = inner
            .1
            .iter()
            .filter(|(_, h)| h.viewer == Some(viewer))
            .map(|(id, _)| *id)
            .collect();
        let gone: Vec<(u64, Held)> = ids
            .into_iter()
            .filter_map(|id| inner.1.remove(&id).map(|h| (id, h)))
            .collect();
        drop(inner);
        for (id, held) in gone {
            open(ctx, id, held);
        }
    }

    /// Forgets every hold (a reset opens their gates).
    pub(crate) fn clear(&self, ctx: &Ctx) {
        let all = std::mem::take(&mut lock(&self.inner).1);
        for (id, held) in all {
            open(ctx, id, held);
        }
    }

    /// The holds in force, oldest first (a reset by the handle opened
    /// some: they are gone).
    pub(crate) fn list(&self) -> Vec<Value> {
        let mut inner = lock(&self.inner);
        inner.1.retain(|_, h| !h.held.is_released());
        inner
            .1
            .iter()
            .map(|(id, h)| {
                json!({"id": id, "route": h.route, "waiting": h.held.waiting(), "viewer": h.viewer})
            })
            .collect()
    }
}

/// Releases `held` (its gate opens as it drops), and says so.
fn open(ctx: &Ctx, id: u64, held: Held) {
    let (route, viewer) = (held.route, held.viewer);
    drop(held);
    ctx.app.feed().emit(|| Change::Hold {
        id,
        route,
        viewer,
        released: true,
    });
}
