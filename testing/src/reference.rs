//! Command-line references (`docs/cli.md`, `docs/node-cli.md`) generated from the clap
//! definitions so that they cannot drift: each binary's crate has a unit test that renders its
//! command tree with [`markdown`] and fails, through [`check_reference`], when the checked-in
//! file differs (`AGORA_WRITE_CLI_REFERENCE=1` on that test rewrites it).
//!
//! Every command and subcommand gets a section with its description and a table of its
//! arguments: positional arguments first, then flags, each with its value name, default,
//! environment variable, possible values and help. Global flags are listed once, at the top.
//! The fault-injection flags of test builds (`--fault KIND`, present only with the `faults`
//! feature) are left out, so the reference is the same whichever features built it.

use std::fmt::Write as _;

use clap::{Arg, Command};

/// Whether an argument is listed: not hidden, not clap's own `help`/`version`, not the test
/// builds' fault injection (`--fault`).
fn listed(arg: &Arg) -> bool {
    !arg.is_hide_set()
        && !matches!(arg.get_id().as_str(), "help" | "version")
        && arg.get_long() != Some("fault")
}

fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn argument_name(arg: &Arg) -> String {
    let value = arg
        .get_value_names()
        .map(|names| {
            names
                .iter()
                .map(|n| format!("<{n}>"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    if arg.is_positional() {
        return format!("`{}`", value_or_id(arg, &value));
    }
    let flag = match (arg.get_long(), arg.get_short()) {
        (Some(long), Some(short)) => format!("-{short}, --{long}"),
        (Some(long), None) => format!("--{long}"),
        (None, Some(short)) => format!("-{short}"),
        (None, None) => arg.get_id().to_string(),
    };
    let takes_value = arg.get_action().takes_values();
    let value = if takes_value {
        value_or_id(arg, &value)
    } else {
        value
    };
    if takes_value {
        format!("`{flag} {value}`")
    } else {
        format!("`{flag}`")
    }
}

fn value_or_id(arg: &Arg, value: &str) -> String {
    if value.is_empty() {
        format!("<{}>", arg.get_id().as_str().to_uppercase())
    } else {
        value.to_owned()
    }
}

fn details(arg: &Arg) -> String {
    let mut parts = Vec::new();
    let help = arg.get_long_help().or(arg.get_help());
    if let Some(help) = help {
        let mut help = cell(&help.to_string());
        // Every part is a sentence.
        if !help.ends_with(['.', '!', '?']) {
            help.push('.');
        }
        parts.push(help);
    }
    let possible: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| format!("`{}`", v.get_name()))
        .collect();
    if !possible.is_empty() && arg.get_action().takes_values() {
        parts.push(format!("One of {}.", possible.join(", ")));
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| format!("`{}`", v.to_string_lossy()))
        .collect();
    if !defaults.is_empty() {
        parts.push(format!("Default {}.", defaults.join(" ")));
    }
    if let Some(env) = arg.get_env() {
        parts.push(format!("Environment `{}`.", env.to_string_lossy()));
    }
    if arg.is_required_set() {
        parts.push("Required.".into());
    }
    parts.join(" ")
}

fn section(out: &mut String, path: &str, command: &Command, depth: usize) {
    let heading = "#".repeat((depth + 2).min(6));
    let _ = writeln!(out, "{heading} `{path}`\n");
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        let _ = writeln!(out, "{}\n", about.to_string().trim());
    }
    let args: Vec<&Arg> = command
        .get_arguments()
        .filter(|a| listed(a))
        .filter(|a| depth == 0 || !a.is_global_set())
        .collect();
    if !args.is_empty() {
        let _ = writeln!(out, "| argument | description |\n|---|---|");
        let (positional, flags): (Vec<&Arg>, Vec<&Arg>) =
            args.into_iter().partition(|a| a.is_positional());
        for arg in positional.into_iter().chain(flags) {
            let _ = writeln!(out, "| {} | {} |", argument_name(arg), details(arg));
        }
        out.push('\n');
    }
    let subcommands: Vec<&Command> = command
        .get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
        .collect();
    if !subcommands.is_empty() {
        let _ = writeln!(out, "Commands:\n");
        for sub in &subcommands {
            let about = sub
                .get_about()
                .map(|a| cell(&a.to_string()))
                .unwrap_or_default();
            let _ = writeln!(out, "- `{path} {}` — {about}", sub.get_name());
        }
        out.push('\n');
    }
    for sub in subcommands {
        section(out, &format!("{path} {}", sub.get_name()), sub, depth + 1);
    }
}

/// The reference for `command` (a clap command tree), as Markdown; `regenerate` is the command
/// that rewrites the checked-in file.
pub fn markdown(command: &Command, regenerate: &str) -> String {
    let name = command.get_name().to_owned();
    let mut out = format!(
        "# `{name}` command-line reference\n\n\
         Generated from the clap definitions (`testing/src/reference.rs` renders them); \
         `scripts/test.sh` fails when this file is stale. Regenerate with\n\
         `{regenerate}`.\n\
         Units: money in AGR, fuel in Mfuel, time in blocks (1 s each on the reference chain) \
         unless a flag says otherwise, in text and `--output json` alike (JSON amounts and fuel \
         are decimal strings). The fault-injection flags of test builds (`--fault KIND`, \
         `docs/verification.md`) are not listed.\n\n"
    );
    section(&mut out, &name, command, 0);
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Checks (or, with `AGORA_WRITE_CLI_REFERENCE` set, rewrites) the checked-in reference at
/// `path` against `command`, and that every long flag of every command is in it.
///
/// # Panics
/// When the file is stale or a flag is missing, naming `regenerate`; when the file cannot be
/// written.
pub fn check_reference(command: &Command, path: &str, regenerate: &str) {
    let rendered = markdown(command, regenerate);
    let mut flags = 0;
    every_flag_listed(command, command.get_name(), &rendered, &mut flags);
    // The walk saw the command tree, not an empty one (the check can fail).
    assert!(flags > 0, "no flags in {}", command.get_name());
    if std::env::var_os("AGORA_WRITE_CLI_REFERENCE").is_some() {
        std::fs::write(path, &rendered).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        return;
    }
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        checked_in == rendered,
        "{path} is stale (a flag or command changed): regenerate it with {regenerate}"
    );
}

/// Asserts that `rendered` has a section for `command` (at `path`) and each of its subcommands,
/// and every listed long flag; counts the flags in `seen`.
fn every_flag_listed(command: &Command, path: &str, rendered: &str, seen: &mut usize) {
    let heading = format!("`{path}`");
    assert!(rendered.contains(&heading), "{heading} missing");
    for arg in command.get_arguments() {
        if let Some(long) = arg.get_long().filter(|_| listed(arg)) {
            assert!(
                rendered.contains(&format!("--{long}")),
                "{path} --{long} missing"
            );
            *seen += 1;
        }
    }
    for sub in command.get_subcommands() {
        every_flag_listed(sub, &format!("{path} {}", sub.get_name()), rendered, seen);
    }
}
