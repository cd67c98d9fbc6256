//! The standalone mock chat server; see `mock_chat_server::cli`.

fn main() -> std::process::ExitCode {
    mock_chat_server::cli::main()
}
