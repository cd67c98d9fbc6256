//! The limit: bare warp 0.4 serving bodies of the same size as
//! `mock-chat-server` (`GET /chats`, a 100-message `GET
//! /chats/{id}/messages`, and a `POST` that parses its JSON body), on the
//! same default multi-thread runtime as `examples/serve`.
//!
//! ```text
//! cargo run --release -p mock-chat-server-perf --bin bare_warp -- 3001
//! ```

use std::net::SocketAddr;

use mock_chat_server_perf::{BareWarp, Bodies};

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(3001);
    let bodies = Bodies::like_mock_chat_server(100).await;
    let server = BareWarp::start(SocketAddr::from(([127, 0, 0, 1], port)), bodies).await;
    println!(
        "bare warp listening on http://{} (pid {})",
        server.address(),
        std::process::id()
    );
    let _ = tokio::signal::ctrl_c().await;
    drop(server);
}
