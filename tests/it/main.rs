//! The integration tests, in one binary: every module talks to a real
//! server over real HTTP (or raw TCP, to see the exact wire).

mod common;

mod admin;
mod api;
mod chaos;
mod connections;
mod cors;
mod differential;
mod explore;
mod heads;
mod keys;
mod lifecycle;
mod limits;
mod live;
mod readme;
mod serve;
mod sse;
mod toolkit;
