//! The standalone mock chat server, for clients not written in Rust:
//! mobile and web apps, simulators, emulators and phones. The same program
//! as the `mock-chat-server` binary (`cargo install mock-chat-server
//! --features cli`); see `mock_chat_server::cli` for its flags.
//!
//! ```text
//! cargo run --example serve                       # localhost:3000, reference chaos
//! cargo run --example serve -- --chaos none --admin
//! cargo run --example serve -- --help
//! ```

fn main() -> std::process::ExitCode {
    mock_chat_server::cli::main()
}
