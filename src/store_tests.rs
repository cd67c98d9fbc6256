//! The store's unit tests: sharing and byte budgets.

use super::*;
use crate::clock::Clock;
use crate::events::{DuplicateIds, EventHub, Read, Start};

fn new_store(key_bytes: usize, message_bytes: Option<usize>) -> Store {
    let config = StoreConfig {
        seed: 1,
        id_style: IdStyle::Uuid,
        key_capacity: 100_000,
        key_bytes,
        message_bytes,
    };
    let ticker = Arc::new(Ticker::new(Clock::System, 1.0));
    Store::new(config, ticker, &ChatFixture::defaults())
}

fn post(store: &Store, chat: &ChatId, key: &str, text: &str) -> PostOutcome {
    let body = format!("{{\"text\":\"{text}\"}}");
    let input = PostInput {
        raw_chat: &chat.to_string(),
        key: Some(key.as_bytes()),
        body: PostBody::Read(body.as_bytes()),
    };
    store.post(input, |_| {})
}

#[test]
fn history_event_log_and_answer_share_one_rendering() {
    let store = new_store(usize::MAX, None);
    let hub = EventHub::new(100, 100, DuplicateIds::New);
    let chat = store.chats()[0].id;
    let body = br#"{"text":"a <b> text"}"#;
    let input = PostInput {
        raw_chat: &chat.to_string(),
        key: Some(b"k1"),
        body: PostBody::Read(body),
    };
    let PostOutcome::Stored(c) = store.post(input, |m| {
        hub.publish(m, 2);
    }) else {
        panic!("stored");
    };
    let held = store.held(&chat).pop().expect("held");
    let Read::Deliveries(d) = hub.read(&mut hub.cursor(Start::All), 10) else {
        panic!("deliveries");
    };
    assert!(Arc::ptr_eq(&held, &c.message));
    assert!(d.iter().all(|d| Arc::ptr_eq(&d.message, &held)));
    // The JSON, the POST body and the SSE data are one buffer.
    let data = held.sse_data();
    assert_eq!(held.json().as_ptr(), data[b"data: ".len()..].as_ptr());
    assert_eq!(held.body().as_ptr(), held.json().as_ptr());
    assert_eq!(&held.body()[held.json().len()..], b"\n");
    let history = store.history_body(&chat.to_string()).expect("history");
    assert!(history.ends_with(&[&held.json()[..], b"]\n"].concat()));
    // Read back as sent, text and key included.
    let m = held.message();
    assert_eq!(
        (m.text.as_str(), m.idempotency_key.as_str()),
        ("a <b> text", "k1")
    );
    // It costs its wire size plus a small constant.
    assert_eq!(held.cost(), held.json().len() + 8 + StoredMessage::OVERHEAD);
    const { assert!(StoredMessage::OVERHEAD < 256) };
}

#[test]
fn large_keys_stay_under_the_key_budget_oldest_forgotten() {
    let budget = 1024 * 1024;
    let store = new_store(budget, None);
    let chat = store.chats()[0].id;
    let key = |i: usize| format!("{i:03}{}", "k".repeat(200_000));
    for i in 0..10 {
        assert!(matches!(
            post(&store, &chat, &key(i), "x"),
            PostOutcome::Stored(_)
        ));
        let (_, bytes) = store.key_bytes();
        assert!(bytes <= budget, "{bytes} bytes of keys after {i}");
    }
    let (held, _) = store.key_bytes();
    assert_eq!(held, 2, "two keys of 200 KB fit in 1 MiB (each held twice)");
    // The newest is still known; the oldest is new again.
    assert!(matches!(
        post(&store, &chat, &key(9), "x"),
        PostOutcome::KnownKey { same: true }
    ));
    assert!(matches!(
        post(&store, &chat, &key(0), "x"),
        PostOutcome::Stored(_)
    ));
    // A key larger than the whole budget is still remembered (the newest).
    let tiny = new_store(10, None);
    let chat = tiny.chats()[0].id;
    assert!(matches!(
        post(&tiny, &chat, &key(1), "x"),
        PostOutcome::Stored(_)
    ));
    assert!(matches!(
        post(&tiny, &chat, &key(1), "x"),
        PostOutcome::KnownKey { .. }
    ));
}

#[test]
fn the_message_cap_forgets_only_beyond_each_chats_newest_100() {
    let capped = new_store(usize::MAX, Some(64 * 1024));
    let free = new_store(usize::MAX, None);
    let chats = capped.chats();
    let (busy, quiet) = (chats[0].id, chats[1].id);
    for s in [&capped, &free] {
        for i in 0..1_000 {
            post(s, &busy, &format!("b{i}"), &format!("busy {i}"));
        }
        for i in 0..50 {
            post(s, &quiet, &format!("q{i}"), &format!("quiet {i}"));
        }
    }
    let held = capped.held(&busy);
    assert!(held.len() >= 100 && held.len() < 1_000, "{}", held.len());
    assert_eq!(
        held.last().map(|m| m.message().text),
        Some("busy 999".into())
    );
    // The quiet chat keeps everything (its fixture and 50 posts).
    assert_eq!(capped.held(&quiet).len(), 51);
    let bytes: usize = chats
        .iter()
        .flat_map(|c| capped.held(&c.id))
        .map(|m| m.cost())
        .sum();
    assert!(bytes <= 64 * 1024, "{bytes}");
    // History answers are what an uncapped store answers (ids are seeded;
    // only the timestamps differ between the two stores).
    for chat in [busy, quiet] {
        let ids = |s: &Store| -> Vec<(String, String)> {
            let body = s.history_body(&chat.to_string()).expect("history");
            let v: Vec<Message> = serde_json::from_slice(&body).expect("JSON");
            v.into_iter().map(|m| (m.id.to_string(), m.text)).collect()
        };
        assert_eq!(ids(&capped), ids(&free));
    }
}
