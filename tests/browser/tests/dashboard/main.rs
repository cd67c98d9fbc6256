//! The admin dashboard (`/__admin/`) in real headless Chromium: it loads,
//! shows what the server does as it happens, and its controls steer the
//! server through the admin API. Each test skips (passes, saying why) when
//! Chromium or ChromeDriver is not installed.
//!
//! - `shows`: what the page shows (requests, diagnostics, chats) and how;
//! - `steers`: its controls (forced faults, duplicates, presets, the plan as
//!   JSON, holds, streams cut or ended, reset, downloads) and the token;
//! - `screenshot`: a busy session, saved for the README.

mod screenshot;
mod shows;
mod steers;
mod support;
