//! The public JSON routes' handlers (chaos is applied around them).

use std::sync::Arc;

use warp::http::StatusCode;

use super::{json_array, ApiError, Handled, Request, MAX_KEY_CHARS, MAX_TEXT_CHARS};
use crate::app::App;
use crate::model::IdStyle;
use crate::store::{Begin, LookupError};

/// Default and maximum page size of `GET /chats/{id}/messages`.
pub(crate) const HISTORY_LIMIT: usize = 100;

pub(crate) fn resolve_chat(app: &App, raw: &str) -> Result<u64, ApiError> {
    app.store.resolve_chat(raw).map_err(|e| match e {
        LookupError::Invalid => ApiError::bad_request(
            "invalid_chat_id",
            match app.store.id_style() {
                IdStyle::Number => format!("chat id must be a positive integer, got {raw:?}"),
                IdStyle::Uuid => format!("chat id must be a chat's UUID, got {raw:?}"),
            },
        ),
        LookupError::NotFound => ApiError::new(
            StatusCode::NOT_FOUND,
            "chat_not_found",
            format!("there is no chat with id {raw}"),
        ),
    })
}

fn invalid_query(message: String) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

/// `GET /chats/{id}/messages[?limit=N][&before=ID]`
pub(crate) fn get_messages(app: &App, req: &Request, raw_id: &str) -> Handled {
    match get_messages_inner(app, req, raw_id) {
        Ok(h) => h,
        Err(e) => Handled::error(e),
    }
}

fn get_messages_inner(app: &App, req: &Request, raw_id: &str) -> Result<Handled, ApiError> {
    let chat_id = resolve_chat(app, raw_id)?;
    let mut limit = HISTORY_LIMIT;
    let mut before = None;
    for (k, v) in req.query_pairs() {
        match k {
            "limit" => {
                limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=HISTORY_LIMIT).contains(n))
                    .ok_or_else(|| {
                        invalid_query(format!("limit must be an integer from 1 to 100, got {v:?}"))
                    })?;
            }
            "before" => {
                before = Some(app.store.parse_message_id(v).ok_or_else(|| {
                    invalid_query(format!("before must be a message id, got {v:?}"))
                })?);
            }
            _ => {}
        }
    }
    let page = app
        .store
        .history(chat_id, limit, before)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "chat_not_found", "no such chat"))?;
    Ok(Handled::ok(json_array(page.iter().map(|m| &m.json))))
}

/// Checks `Content-Type`: absent or JSON (`application/json`, `…+json`).
pub(crate) fn check_content_type(req: &Request) -> Result<(), ApiError> {
    let Some(value) = req.headers.get(warp::http::header::CONTENT_TYPE) else {
        return Ok(());
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "Content-Type must be application/json, got {:?}",
                String::from_utf8_lossy(value.as_bytes())
            ),
        ))
    }
}

/// The validated idempotency key.
fn idempotency_key(req: &Request) -> Result<&str, ApiError> {
    let missing = || {
        ApiError::bad_request(
            "missing_idempotency_key",
            "POST requests need a non-empty Idempotency-Key header",
        )
    };
    let key = match req.header_str("idempotency-key") {
        None => return Err(missing()),
        Some(Err(())) => {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be visible ASCII",
            ))
        }
        Some(Ok(k)) => k,
    };
    if key.trim().is_empty() {
        return Err(missing());
    }
    if key.chars().count() > MAX_KEY_CHARS {
        return Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be at most {MAX_KEY_CHARS} characters"),
        ));
    }
    Ok(key)
}

/// The validated `text` of the body.
fn message_text(req: &Request) -> Result<String, ApiError> {
    let body = body_bytes(req)?;
    let invalid = |why: &str| {
        ApiError::bad_request(
            "invalid_body",
            format!("the body must be a JSON object like {{\"text\": \"hello\"}}: {why}"),
        )
    };
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| invalid(&e.to_string()))?;
    let obj = value.as_object().ok_or_else(|| invalid("not an object"))?;
    let text = match obj.get("text") {
        None => return Err(invalid("\"text\" is missing")),
        Some(serde_json::Value::String(s)) => s,
        Some(_) => return Err(invalid("\"text\" is not a string")),
    };
    check_text(text)?;
    Ok(text.clone())
}

/// The request body, or 413 `body_too_large` if it was over the limit.
pub(crate) fn body_bytes(req: &Request) -> Result<&bytes::Bytes, ApiError> {
    req.body.as_ref().map_err(|()| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body must be at most {} bytes", super::MAX_BODY_BYTES),
        )
    })
}

/// A message text must not be blank nor over [`MAX_TEXT_CHARS`] characters.
pub(crate) fn check_text(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "empty_text",
            "text must not be empty or only whitespace",
        ));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "text_too_long",
            format!("text must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(())
}

/// `POST /chats/{id}/messages`
pub(crate) fn post_message(app: &Arc<App>, req: &Request, raw_id: &str) -> Handled {
    let validated = resolve_chat(app, raw_id).and_then(|chat_id| {
        let key = idempotency_key(req)?;
        check_content_type(req)?;
        let text = message_text(req)?;
        Ok((chat_id, key, text))
    });
    let (chat_id, key, text) = match validated {
        Ok(v) => v,
        Err(e) => return Handled::error(e),
    };
    match app.store.begin(key, chat_id, &text) {
        Begin::Fresh(mut reservation) => {
            let (msg, event_ids) = app.commit_user_message(&mut reservation);
            Handled {
                committed: true,
                message_id: Some(msg.message.id),
                event_ids,
                reservation: Some(reservation),
                ..Handled::ok(msg.json.clone())
            }
        }
        Begin::Replay(msg) => Handled {
            replayed: true,
            message_id: Some(msg.message.id),
            ..Handled::ok(msg.json.clone())
        },
        Begin::InUse => Handled::error(ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_key_in_use",
            "a request with this Idempotency-Key is still being processed; retry later",
        )),
        Begin::Reused => Handled::error(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different chat or text",
        )),
    }
}
