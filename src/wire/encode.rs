//! The JSON of a [`Message`] and a [`Chat`], as Go's `encoding/json` writes
//! the reference server's structs: keys in field order, no spaces, strings
//! HTML-escaped, `sent_at` in RFC 3339 with nanoseconds. No trailing newline
//! (HTTP bodies add one; SSE `data:` lines do not).

use crate::model::{Chat, Message};

use super::{format_rfc3339_nano, push_json_string};

/// An id as JSON: a quoted UUID or a bare number (its `Display` is the
/// wire text either way).
fn push_id(out: &mut Vec<u8>, id: impl std::fmt::Display, is_number: bool) {
    let text = id.to_string();
    if is_number {
        out.extend_from_slice(text.as_bytes());
    } else {
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    }
}

/// `{"id":…,"chat_id":…,"author":…,"text":…,"sent_at":…,"idempotency_key":…}`
pub(crate) fn message_json(m: &Message) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + m.text.len() + m.idempotency_key.len());
    out.extend_from_slice(b"{\"id\":");
    push_id(&mut out, m.id, m.id.as_number().is_some());
    out.extend_from_slice(b",\"chat_id\":");
    push_id(&mut out, m.chat_id, m.chat_id.as_number().is_some());
    out.extend_from_slice(b",\"author\":\"");
    out.extend_from_slice(m.author.as_str().as_bytes());
    out.extend_from_slice(b"\",\"text\":");
    push_json_string(&mut out, &m.text);
    out.extend_from_slice(b",\"sent_at\":\"");
    out.extend_from_slice(format_rfc3339_nano(&m.sent_at).as_bytes());
    out.extend_from_slice(b"\",\"idempotency_key\":");
    push_json_string(&mut out, &m.idempotency_key);
    out.push(b'}');
    out
}

/// `{"id":…,"name":…}`
pub(crate) fn chat_json(c: &Chat) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + c.name.len());
    out.extend_from_slice(b"{\"id\":");
    push_id(&mut out, c.id, c.id.as_number().is_some());
    out.extend_from_slice(b",\"name\":");
    push_json_string(&mut out, &c.name);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Author, ChatId, MessageId};

    #[test]
    fn message_json_is_go_shaped_and_reads_back() {
        let m = Message {
            id: MessageId::uuid(uuid::Uuid::from_u128(1)),
            chat_id: ChatId::uuid(uuid::Uuid::from_u128(2)),
            author: Author::Bot,
            text: "a<b> & \u{2028}é".into(),
            sent_at: chrono::DateTime::parse_from_rfc3339("2026-11-25T04:49:27.2Z").unwrap(),
            idempotency_key: "k".into(),
        };
        let json = String::from_utf8(message_json(&m)).unwrap();
        assert_eq!(
            json,
            r#"{"id":"00000000-0000-0000-0000-000000000001","chat_id":"00000000-0000-0000-0000-000000000002","author":"bot","text":"a\u003cb\u003e \u0026 \u2028é","sent_at":"2026-11-25T04:49:27.2Z","idempotency_key":"k"}"#
        );
        assert_eq!(serde_json::from_str::<Message>(&json).unwrap(), m);
        let c = Chat {
            id: ChatId::number(3),
            name: "Sarah".into(),
        };
        assert_eq!(chat_json(&c), br#"{"id":3,"name":"Sarah"}"#);
    }
}
