//! The rules of the diagnostics, on `Diagnostics` itself.

use super::*;

fn at() -> DateTime<FixedOffset> {
    chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap()
}

/// A POST with `key` answered as `fault` makes it.
fn answer(d: &Arc<Diagnostics>, key: &[u8], seq: u64, fault: Option<Fault>) {
    if let Some(f) = d.post_started(Some(key), at(), seq) {
        f.answered(fault);
    }
}

fn kinds(d: &Diagnostics) -> Vec<DiagnosticKind> {
    d.all().iter().map(|d| d.kind).collect()
}

#[tokio::test(start_paused = true)]
async fn concurrency_counts_only_open_attempts() {
    let d = Arc::new(Diagnostics::new(1.0));
    let first = d.post_started(Some(&b"k"[..]), at(), 1);
    drop(first); // abandoned: its connection closed
    let _second = d.post_started(Some(&b"k"[..]), at(), 2);
    assert!(kinds(&d).is_empty());
    let _third = d.post_started(Some(&b"k"[..]), at(), 3);
    assert_eq!(kinds(&d), [DiagnosticKind::ConcurrentSameKey]);
}

#[tokio::test(start_paused = true)]
async fn quick_retries_are_reported_once_backoff_is_not() {
    let d = Arc::new(Diagnostics::new(1.0));
    for i in 0..4 {
        answer(&d, b"k", i, None);
    }
    assert_eq!(kinds(&d), [DiagnosticKind::RetryWithoutBackoff]);
    let d = Arc::new(Diagnostics::new(1.0));
    for i in 0..6 {
        answer(&d, b"k", i, None);
        tokio::time::advance(Duration::from_millis(50)).await;
    }
    assert!(kinds(&d).is_empty());
    drop(d.post_started(None, at(), 9));
    assert_eq!(kinds(&d), [DiagnosticKind::MissingIdempotencyKey]);
}

#[tokio::test(start_paused = true)]
async fn reconnects_after_a_server_end_need_last_event_id() {
    let d = Diagnostics::new(1.0);
    d.stream_ended_by_server(3);
    d.stream_opened(true, at(), 1);
    d.stream_ended_by_server(3);
    d.stream_opened(false, at(), 2);
    assert_eq!(kinds(&d), [DiagnosticKind::ReconnectWithoutLastEventId]);
    d.stream_ended_by_server(0);
    d.stream_opened(false, at(), 3);
    assert_eq!(
        kinds(&d).len(),
        1,
        "nothing delivered, nothing replayed twice"
    );
    for i in 0..6 {
        d.stream_opened(true, at(), 10 + i);
    }
    assert_eq!(kinds(&d).last(), Some(&DiagnosticKind::ReconnectStorm));
}

/// A POST of `text` to chat 1 under `key`, stored, answered as `fault`
/// makes it (`None` in `fault`'s place: abandoned by the client).
fn post(d: &Arc<Diagnostics>, key: &[u8], text: &str, seq: u64, fault: Option<Option<Fault>>) {
    let guard = d.post_started(Some(key), at(), seq);
    d.message_stored(key, (ChatId::number(1), text), at(), seq);
    match (guard, fault) {
        (Some(g), Some(fault)) => g.answered(fault),
        (g, _) => drop(g),
    }
}

#[tokio::test(start_paused = true)]
async fn a_resend_under_a_new_key_after_a_lost_answer_is_reported() {
    for lost in [
        Some(Some(Fault::DropAfterCommit)),
        Some(Some(Fault::TruncatedBody)),
        None,
    ] {
        let d = Arc::new(Diagnostics::new(1.0));
        post(&d, b"a", "hi", 1, lost);
        post(&d, b"b", "hi", 2, Some(None));
        assert_eq!(kinds(&d), [DiagnosticKind::ResentUnderNewKey], "{lost:?}");
        let found = &d.all()[0];
        assert_eq!(found.request_seq, 2);
        assert!(found.message.contains("request #1"), "{}", found.message);
        assert!(found.message.contains("\"b\""), "{}", found.message);
    }
}

#[tokio::test(start_paused = true)]
async fn a_resend_after_the_empty_200_of_a_retry_is_reported() {
    let d = Arc::new(Diagnostics::new(0.01));
    post(&d, b"a", "hi", 1, Some(None));
    // The retry of `a` (the same message) gets the empty 200.
    let retry = d.post_started(Some(&b"a"[..]), at(), 2);
    d.known_key_answered(b"a");
    if let Some(g) = retry {
        g.answered(None);
    }
    assert!(kinds(&d).is_empty(), "a proper retry is no resend");
    // 30 s scaled by 0.01 is 0.3 s, but the window keeps 10 s: the
    // client's backoff is not scaled.
    tokio::time::advance(Duration::from_millis(9_900)).await;
    post(&d, b"b", "hi", 3, Some(None));
    assert_eq!(kinds(&d), [DiagnosticKind::ResentUnderNewKey]);
    tokio::time::advance(Duration::from_millis(500)).await;
    post(&d, b"c", "hi", 4, Some(None));
    assert_eq!(kinds(&d).len(), 1, "past the window");
    // Slowed down, the window grows: 60 s at time scale 2.
    let d = Arc::new(Diagnostics::new(2.0));
    post(&d, b"a", "hi", 1, Some(Some(Fault::DropAfterCommit)));
    tokio::time::advance(Duration::from_secs(59)).await;
    post(&d, b"b", "hi", 2, Some(None));
    assert_eq!(kinds(&d), [DiagnosticKind::ResentUnderNewKey]);
}

#[tokio::test(start_paused = true)]
async fn the_same_text_sent_twice_with_no_loss_is_no_resend() {
    let d = Arc::new(Diagnostics::new(1.0));
    post(&d, b"a", "hi", 1, Some(None));
    post(&d, b"b", "hi", 2, Some(None));
    // A proper retry: the same key after a dropped answer.
    post(&d, b"c", "yo", 3, Some(Some(Fault::DropAfterCommit)));
    let retry = d.post_started(Some(&b"c"[..]), at(), 4);
    d.known_key_answered(b"c");
    if let Some(g) = retry {
        g.answered(None);
    }
    assert!(kinds(&d).is_empty(), "{:?}", d.all());
}
