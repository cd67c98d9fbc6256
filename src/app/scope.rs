//! One request on its way through the server: [`App::begin`] records it
//! and hands back a [`RequestScope`], which holds everything the request
//! owns (its record, its chaos decision and journal entry, its busy count,
//! its diagnostics) until [`RequestScope::end`] writes down how it was
//! answered. The HTTP layer asks the scope, never the parts behind it.

use std::sync::Arc;
use std::time::Duration;

use super::App;
use crate::activity::{BusyGuard, Work};
use crate::chaos::engine::{Decision, RequestLine, StreamDecision};
use crate::chaos::{Fault, Route};
use crate::diagnostics::InFlight;
use crate::feed::Change;
use crate::model::MessageId;
use crate::records::RecordedRequest;
use crate::store::{PostInput, PostOutcome};

/// A request, from its record to its answer.
#[derive(Debug)]
pub(crate) struct RequestScope {
    app: Arc<App>,
    route: Option<Route>,
    /// Its record's number.
    seq: u64,
    /// Its chaos decision's journal entry, once decided.
    journal_seq: Option<u64>,
    /// The fault its decision applies (none for a stream: its cut or end
    /// comes later).
    fault: Option<Fault>,
    /// Counts it as busy, on a JSON route; handed to a body still being
    /// written when the scope ends.
    busy: Option<BusyGuard>,
    /// A POST in flight, for the diagnostics.
    in_flight: Option<InFlight>,
    /// A POST's key, told to the diagnostics when it is answered.
    post_key: Option<Vec<u8>>,
    /// The message a POST stored, and its event ids.
    commit: Option<(MessageId, Vec<u64>)>,
}

impl App {
    /// Records a request (its time read here) and opens its scope, on the
    /// record's route (`None` for a 404, a 405 or a preflight).
    pub(crate) fn begin(self: &Arc<Self>, record: RecordedRequest) -> RequestScope {
        let route = record.route;
        let (received_at, since_start) = self.ticker.reading();
        let seq = self.records.push(RecordedRequest {
            received_at,
            since_start,
            ..record
        });
        RequestScope {
            app: Arc::clone(self),
            route,
            seq,
            journal_seq: None,
            fault: None,
            busy: None,
            in_flight: None,
            post_key: None,
            commit: None,
        }
    }
}

impl RequestScope {
    /// The server.
    pub(crate) fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Its record's number.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The fault its decision applies, if any.
    pub(crate) fn fault(&self) -> Option<Fault> {
        self.fault
    }

    /// A CORS preflight refused for `what`.
    pub(crate) fn preflight_refused(&self, what: &str) {
        let now = self.app.ticker.now();
        self.app.diagnostics.preflight_refused(what, now, self.seq);
    }

    /// Counts the request as busy (a JSON route, from its start).
    pub(crate) fn start_work(&mut self) {
        self.busy = Some(self.app.activity.start(Work::Request));
    }

    /// The busy count, for a body still being written after the scope
    /// ends (it counts until dropped).
    pub(crate) fn take_busy(&mut self) -> Option<BusyGuard> {
        self.busy.take()
    }

    /// Waits while a test holds the request's route.
    pub(crate) async fn pass_hold(&self) {
        if let Some(route) = self.route {
            self.app.activity.pass(route).await;
        }
    }

    /// A POST with this key (its raw bytes) starts: the diagnostics
    /// follow it until [`answered`](Self::answered).
    pub(crate) fn post_started(&mut self, key: Option<&[u8]>) {
        let now = self.app.ticker.now();
        self.in_flight = self.app.diagnostics.post_started(key, now, self.seq);
        self.post_key = key.map(<[u8]>::to_vec);
    }

    /// The request was answered (a POST's diagnostics stop following it).
    pub(crate) fn answered(&mut self) {
        if let Some(key) = self.post_key.take() {
            self.app.diagnostics.post_answered(&key);
        }
        self.in_flight = None;
    }

    /// The fate of this request on its JSON route, journaled.
    pub(crate) fn decide(&mut self, route: Route, line: RequestLine<'_>) -> Decision {
        let d = self.app.chaos.decide(route, line);
        self.journal_seq = Some(d.seq);
        self.fault = d.fault;
        d
    }

    /// The fate of this SSE connection, journaled; `resumed`: it came with
    /// a `Last-Event-ID`.
    pub(crate) fn decide_stream(&mut self, resumed: bool, line: RequestLine<'_>) -> StreamDecision {
        let now = self.app.ticker.now();
        self.app.diagnostics.stream_opened(resumed, now, self.seq);
        let d = self.app.chaos.decide_stream(line);
        self.journal_seq = Some(d.seq);
        d
    }

    /// The body as its record shows it, once read.
    pub(crate) fn record_body(&self, body: String) {
        self.app.records.update(self.seq, |r| r.body = body);
    }

    /// `POST /chats/{id}/messages`, through [`App::post`].
    pub(crate) fn post(&mut self, input: PostInput<'_>) -> PostOutcome {
        let (outcome, event_ids) = self.app.post(input, self.seq);
        if let PostOutcome::Stored(c) = &outcome {
            self.commit = Some((c.message.id, event_ids));
        }
        outcome
    }

    /// The status a fault answered instead of the handler, in the journal.
    pub(crate) fn journal_refused(&self, status: Option<u16>) {
        if let Some(seq) = self.journal_seq {
            self.app.chaos.update(seq, |e| e.status = status);
        }
    }

    /// The handler's status and what it stored, in the journal (whatever a
    /// fault then does to the answer).
    pub(crate) fn journal_handled(&self, status: u16) {
        let Some(seq) = self.journal_seq else {
            return;
        };
        let (message_id, event_ids) = match &self.commit {
            Some((id, event_ids)) => (Some(*id), event_ids.clone()),
            None => (None, Vec::new()),
        };
        self.app.chaos.update(seq, |e| {
            e.status = Some(status);
            e.committed = message_id.is_some();
            e.message_id = message_id;
            e.event_ids = event_ids;
        });
    }

    /// Sleeps for `d`, or less if the server shuts down meanwhile.
    pub(crate) async fn sleep(&self, d: Duration) {
        self.app.sleep(d).await;
    }

    /// Writes down how the request was answered in its record: `status`
    /// sent (`None`: the connection was dropped), its fault and journal
    /// entry.
    pub(crate) fn end(self, status: Option<u16>) {
        let (fault, journal_seq) = (self.fault, self.journal_seq);
        // A POST answered 200 without storing: the empty 200 of a known key.
        let empty =
            self.route == Some(Route::PostMessage) && status == Some(200) && self.commit.is_none();
        self.app.records.update(self.seq, |r| {
            r.status = status;
            r.fault = fault;
            r.journal_seq = journal_seq;
            let now = || self.app.ticker.reading().1;
            self.app.feed.emit(|| Change::Request(r, now(), empty));
        });
    }
}
