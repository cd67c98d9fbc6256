//! Byte-exact emulation of the Go reference server's encoding and parsing
//! (`encoding/json`, `time`, `google/uuid`, `strconv`). Knows nothing of HTTP.

mod atoi;
mod decode;
mod encode;
mod json;
mod quote;
mod time;
mod uuid;

pub(crate) use atoi::atoi;
pub(crate) use decode::decode_message;
pub(crate) use encode::{chat_json, message_json};
pub(crate) use json::{go_lossy, push_json_string};
pub(crate) use time::format_rfc3339_nano;
pub(crate) use uuid::parse_uuid;
