//! `agora`: the Agora command-line client.

fn main() -> std::process::ExitCode {
    agora_cli::cli::main()
}
