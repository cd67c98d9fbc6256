//! TEMPORARY
pub(crate) fn decode_message(body: &[u8]) -> Result<String, String> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("EOF".into());
    }
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    Ok(v.get("text")
        .and_then(|t| t.as_str())
        .unwrap_or("")
        .to_string())
}
