//! The `agora` command-line reference, `docs/cli.md`: rendered from the clap definitions by
//! `agora_test_support::reference`, checked here (a stale file fails the test; regenerate it with
//! `AGORA_WRITE_CLI_REFERENCE=1 cargo test -p agora-cli --features faults --lib reference`).

use clap::CommandFactory;

#[test]
fn the_checked_in_reference_is_current_and_lists_every_flag() {
    let command = crate::cli::Cli::command();
    agora_test_support::reference::check_reference(
        &command,
        concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cli.md"),
        "AGORA_WRITE_CLI_REFERENCE=1 cargo test -p agora-cli --features faults --lib reference",
    );
    let rendered = agora_test_support::reference::markdown(&command, "");
    assert!(rendered.contains("`agora job submit`") && rendered.contains("--max-price"));
}
