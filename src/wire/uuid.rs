//! TEMPORARY
pub(crate) fn parse_uuid(s: &str) -> Result<::uuid::Uuid, String> {
    ::uuid::Uuid::parse_str(s).map_err(|_| format!("invalid UUID length: {}", s.len()))
}
