//! `GET /__admin/live`: the live feed, an SSE stream (`warp::sse`) of what
//! happens in the server, for the dashboard and any other tool.
//!
//! # Format (version 1)
//!
//! - `retry: 1000`, then one `event: snapshot` whose data is a JSON object:
//!   `version`, `viewer` (this connection's id: a hold made with it is
//!   released when the connection ends), `seed`, `seed_string`, `plan`
//!   (`words`, `replaying`, `plan`; replaying, `faults` and `file`),
//!   `time_scale`, `uptime_ms`, `rerun`
//!   (the command that serves the same session), `chats` (each `chat` with
//!   its `messages`, each `message` with the `copies` delivered on the
//!   stream), `streams` (`open`), `holds`, `requests` (the most recent,
//!   as in `request` changes) and `diagnostics`.
//! - Then `event: changes` frames, at most ten a second, each
//!   `{"version": 1, "changes": [...]}`; every change has a `type`:
//!   `request`, `delivery`, `stream_opened`, `stream_closed`,
//!   `diagnostic`, `reset`, `plan`, `forced`, `hold`, `chat`. Tools ignore
//!   types they do not know.
//! - Comment lines (`:`) keep an idle connection alive.
//!
//! A viewer that does not read fast enough is cut: its stream ends and it
//! reconnects to a fresh snapshot. `src/docs/admin.md` lists every field.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};
use warp::sse::Event;

use super::Ctx;
use crate::app::{App, Lifecycle};
use crate::events::{Read, Start};
use crate::feed::{request_json, Taken, ViewerGuard, VERSION};
use crate::http::response::text_error;
use crate::model::MessageId;

/// At least this long between two `changes` frames (ten a second).
const FRAME_GAP: Duration = Duration::from_millis(100);
/// A comment after this long without a frame: a viewer that left is
/// noticed (and its holds released) within about this long.
const KEEP_ALIVE: Duration = Duration::from_secs(1);
/// The snapshot's most recent requests.
const SNAPSHOT_REQUESTS: usize = 500;
/// The snapshot's most recent messages per chat.
const SNAPSHOT_MESSAGES: usize = 500;

/// Opens a viewer's stream, or 503 when too many are open.
pub(crate) fn open(ctx: &Arc<Ctx>) -> Response {
    let Some(guard) = ctx.app.feed().watch() else {
        return text_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "admin API: too many live viewers",
        );
    };
    // Registered before the snapshot is read: nothing falls between.
    let snapshot = snapshot(ctx, guard.viewer.id).to_string();
    let mut lifecycle = ctx.app.lifecycle();
    lifecycle.mark_unchanged();
    let state = Live {
        ctx: Arc::clone(ctx),
        guard,
        snapshot: Some(snapshot),
        last: None,
        lifecycle,
    };
    let events = futures::stream::unfold(state, next);
    let events = warp::sse::keep_alive().interval(KEEP_ALIVE).stream(events);
    warp::sse::reply(events).into_response()
}

/// One viewer's stream.
struct Live {
    ctx: Arc<Ctx>,
    guard: ViewerGuard,
    snapshot: Option<String>,
    /// When the last `changes` frame went.
    last: Option<Instant>,
    lifecycle: watch::Receiver<Lifecycle>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.ctx
            .holds
            .release_viewer(&self.ctx, self.guard.viewer.id);
    }
}

impl Live {
    /// Waits for `until`, or the server's shutdown (`false`).
    async fn wait(&mut self, until: impl std::future::Future<Output = ()>) -> bool {
        let lifecycle = &mut self.lifecycle;
        let shutdown = async {
            loop {
                if *lifecycle.borrow_and_update() == Lifecycle::ShuttingDown {
                    return;
                }
                if lifecycle.changed().await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            _ = shutdown => false,
            _ = until => true,
        }
    }
}

async fn next(mut st: Live) -> Option<(Result<Event, Infallible>, Live)> {
    if let Some(snapshot) = st.snapshot.take() {
        let event = Event::default()
            .retry(Duration::from_secs(1))
            .event("snapshot")
            .data(snapshot);
        return Some((Ok(event), st));
    }
    loop {
        if let Some(last) = st.last {
            if !st.wait(tokio::time::sleep_until(last + FRAME_GAP)).await {
                return None;
            }
        }
        let changes = match st.guard.viewer.take() {
            Taken::Cut => return None,
            Taken::Changes(c) if c.is_empty() => {
                let viewer = Arc::clone(&st.guard.viewer);
                if !st.wait(viewer.changed()).await {
                    return None;
                }
                continue;
            }
            Taken::Changes(c) => c,
        };
        st.last = Some(Instant::now());
        let mut data = format!("{{\"version\":{VERSION},\"changes\":[");
        for (i, change) in changes.iter().enumerate() {
            if i > 0 {
                data.push(',');
            }
            data.push_str(change);
        }
        data.push_str("]}");
        return Some((Ok(Event::default().event("changes").data(data)), st));
    }
}

/// How many times each message still in the event log was delivered.
fn copies(app: &App) -> HashMap<MessageId, u32> {
    let mut log = app.subscribe(Start::All);
    let mut copies = HashMap::new();
    while let Read::Deliveries(batch) = log.read() {
        for d in batch {
            *copies.entry(d.message.id).or_insert(0) += 1;
        }
    }
    copies
}

/// The first frame: the state of the server now.
fn snapshot(ctx: &Ctx, viewer: u64) -> Value {
    let app = &ctx.app;
    let seed = app.seed();
    let plan = app.plan();
    let (uptime, time_scale) = app.uptime_and_scale();
    let copies = copies(app);
    let chats: Vec<Value> = app
        .chats()
        .into_iter()
        .map(|chat| {
            let messages = app.messages(&chat.id).unwrap_or_default();
            let skip = messages.len().saturating_sub(SNAPSHOT_MESSAGES);
            let messages: Vec<Value> = messages[skip..]
                .iter()
                .map(|m| json!({"message": m, "copies": copies.get(&m.id).copied().unwrap_or(0)}))
                .collect();
            json!({"chat": chat, "messages": messages})
        })
        .collect();
    let records = app.requests();
    let skip = records.len().saturating_sub(SNAPSHOT_REQUESTS);
    let requests: Vec<Value> = records[skip..]
        .iter()
        .map(|r| request_json(r, None))
        .collect();
    json!({
        "version": VERSION,
        "viewer": viewer,
        "seed": seed,
        "seed_string": seed.to_string(),
        "plan": plan_json(app, &plan),
        "time_scale": time_scale,
        "uptime_ms": uptime.as_millis() as u64,
        "rerun": rerun(seed, &plan, time_scale, app.replaying().map(|_| app.script_file())),
        "chats": chats,
        "streams": {"open": app.feed().open_streams()},
        "holds": ctx.holds.list(),
        "requests": requests,
        "diagnostics": app.diagnosed(),
    })
}

/// The plan in words, or the script being replayed.
fn plan_json(app: &App, plan: &crate::chaos::FaultPlan) -> Value {
    match app.replaying() {
        Some(n) => json!({
            "words": format!(
                "replaying {}: {n} {}, everything else calm",
                app.script_file().unwrap_or("a script"),
                if n == 1 { "fault" } else { "faults" }
            ),
            "file": app.script_file(),
            "replaying": true,
            "faults": n,
            "plan": plan,
        }),
        None => json!({"words": plan.summary(), "replaying": false, "plan": plan}),
    }
}

/// The command that serves this session again.
/// `script`: replaying one, from this file if it came from one.
fn rerun(
    seed: u64,
    plan: &crate::chaos::FaultPlan,
    time_scale: f64,
    script: Option<Option<&str>>,
) -> String {
    use crate::chaos::FaultPlan;
    let chaos = [
        ("none", FaultPlan::none()),
        ("reference", FaultPlan::reference()),
        ("hostile", FaultPlan::hostile()),
    ]
    .into_iter()
    .find(|(_, p)| p == plan)
    .map_or("plan.json (GET /__admin/faults)", |(name, _)| name);
    let mut out = match script {
        Some(Some(file)) => format!("mock-chat-server --admin --seed {seed} --script {file}"),
        // The session's decisions so far: `GET /__admin/script?download`.
        Some(None) => {
            format!("mock-chat-server --admin --seed {seed} --script script-seed-{seed}.json")
        }
        None => format!("mock-chat-server --admin --seed {seed} --chaos {chaos}"),
    };
    if time_scale != 1.0 {
        out.push_str(&format!(" --time-scale {time_scale}"));
    }
    out
}
