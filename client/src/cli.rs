//! The `agora` command line.
//!
//! Global options: `--rpc URL` (default `ws://127.0.0.1:9944`, or `AGORA_RPC`) and
//! `--output text|json`. Errors are printed to stderr as one sentence naming the bad value,
//! with a non-zero exit status (1 for command errors, 2 for usage errors reported by clap).

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

use crate::keys::{self, KeyError, MnemonicWords, Scheme, Signer};

/// The default JSON-RPC endpoint of a local node.
pub const DEFAULT_RPC: &str = "ws://127.0.0.1:9944";

/// Agora command-line client.
#[derive(Debug, Parser)]
#[command(
    name = "agora",
    version,
    about = "Agora command-line client",
    propagate_version = true
)]
pub struct Cli {
    /// JSON-RPC endpoint of an Agora node (ws://, wss://, http:// or https://).
    #[arg(long, global = true, env = "AGORA_RPC", default_value = DEFAULT_RPC, value_name = "URL")]
    ///
    /// Checked by [`Cli::rpc_url`] only when a command talks to a node, so a stale
    /// `AGORA_RPC` does not break offline commands such as `key inspect`.
    pub rpc: String,
    /// Output format: human-readable text or machine-readable JSON.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The `--rpc` URL, checked: ws://, wss://, http:// or https:// and a non-empty host.
    pub fn rpc_url(&self) -> Result<&str, CliError> {
        check_rpc_url(&self.rpc).map_err(CliError::RpcUrl)?;
        Ok(&self.rpc)
    }
}

/// Output format of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object on stdout.
    Json,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate and inspect account keys (no node needed).
    #[command(subcommand)]
    Key(KeyCommand),
}

/// `agora key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a key from a fresh random BIP-39 mnemonic and print its secret phrase.
    Generate {
        /// Signature scheme.
        #[arg(long, value_enum, default_value = "sr25519")]
        scheme: Scheme,
        /// Number of mnemonic words.
        #[arg(long, value_enum, default_value = "12")]
        words: MnemonicWords,
    },
    /// Show the public key and address of a SURI (//Alice, a mnemonic[//path][///password], 0x seed).
    Inspect {
        /// Secret URI of the key.
        #[arg(value_name = "SURI")]
        suri: String,
        /// Signature scheme.
        #[arg(long, value_enum, default_value = "sr25519")]
        scheme: Scheme,
    },
}

/// A command failure; renders as one sentence.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A key could not be derived, parsed or generated.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The `--rpc` URL is malformed; the message names it.
    #[error("{0}")]
    RpcUrl(String),
    /// The result could not be written to stdout.
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The result could not be encoded as JSON.
    #[error("could not encode the output as JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// What `key generate` and `key inspect` print. JSON field names are stable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyReport {
    /// `sr25519` or `ed25519`.
    pub scheme: Scheme,
    /// 0x-prefixed hex public key.
    pub public_key: String,
    /// 0x-prefixed hex account id (the public key).
    pub account_id: String,
    /// SS58 address, prefix 42.
    pub ss58_address: String,
    /// The mnemonic (`key generate` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_phrase: Option<String>,
    /// 0x-prefixed hex secret seed (`key generate` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_seed: Option<String>,
}

impl KeyReport {
    /// The public part of a report on `signer`.
    pub fn public(signer: &Signer) -> Self {
        let public = format!("0x{}", hex::encode(signer.public()));
        KeyReport {
            scheme: signer.scheme(),
            account_id: public.clone(),
            public_key: public,
            ss58_address: signer.ss58_address(),
            secret_phrase: None,
            secret_seed: None,
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        if let Some(phrase) = &self.secret_phrase {
            out.push_str(&format!("Secret phrase:     {phrase}\n"));
        }
        if let Some(seed) = &self.secret_seed {
            out.push_str(&format!("Secret seed:       {seed}\n"));
        }
        out.push_str(&format!("Public key (hex):  {}\n", self.public_key));
        out.push_str(&format!("Account ID:        {}\n", self.account_id));
        out.push_str(&format!("SS58 address:      {}\n", self.ss58_address));
        out.push_str(&format!("Scheme:            {}\n", self.scheme));
        out
    }
}

/// Accepts a ws://, wss://, http:// or https:// URL with a non-empty host.
fn check_rpc_url(url: &str) -> Result<(), String> {
    let rest = ["ws://", "wss://", "http://", "https://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme))
        .ok_or_else(|| {
            format!("'{url}' is not a valid RPC URL: expected ws://, wss://, http:// or https://")
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(format!(
            "'{url}' is not a valid RPC URL: it has no valid host"
        ));
    }
    Ok(())
}

fn emit(output: OutputFormat, report: &KeyReport) -> Result<(), CliError> {
    let text = match output {
        OutputFormat::Text => report.text(),
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(report)?),
    };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Key(KeyCommand::Generate { scheme, words }) => {
            let key = keys::generate(scheme, words)?;
            let report = KeyReport {
                secret_phrase: Some(key.phrase.clone()),
                secret_seed: Some(format!("0x{}", hex::encode(key.secret_seed))),
                ..KeyReport::public(&key.signer)
            };
            emit(cli.output, &report)
        }
        Command::Key(KeyCommand::Inspect { suri, scheme }) => {
            let signer = Signer::from_suri(&suri, scheme)?;
            emit(cli.output, &KeyReport::public(&signer))
        }
    }
}

/// Parses the process arguments, runs the command, and reports any error on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_globals_anywhere() {
        let cli =
            Cli::try_parse_from(["agora", "key", "inspect", "//Bob", "--output", "json"]).unwrap();
        assert_eq!(cli.output, OutputFormat::Json);
        let cli = Cli::try_parse_from([
            "agora",
            "--rpc",
            "wss://node.example:443",
            "key",
            "generate",
            "--words",
            "24",
            "--scheme",
            "ed25519",
        ])
        .unwrap();
        assert_eq!(cli.rpc, "wss://node.example:443");
        match cli.command {
            Command::Key(KeyCommand::Generate { scheme, words }) => {
                assert_eq!(scheme, Scheme::Ed25519);
                assert_eq!(words, MnemonicWords::TwentyFour);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(Cli::try_parse_from(["agora", "key", "generate", "--words", "15"]).is_err());
        // The URL is checked only when a command needs the node.
        let cli =
            Cli::try_parse_from(["agora", "--rpc", "localhost:9944", "key", "generate"]).unwrap();
        let err = cli.rpc_url().unwrap_err().to_string();
        assert!(
            err.starts_with("'localhost:9944' is not a valid RPC URL"),
            "{err}"
        );
        let cli = Cli::try_parse_from(["agora", "key", "generate"]).unwrap();
        assert_eq!(cli.rpc_url().unwrap(), DEFAULT_RPC);
    }

    #[test]
    fn report_json_field_names() {
        let signer = Signer::from_suri("//Alice", Scheme::Sr25519).unwrap();
        let json = serde_json::to_value(KeyReport::public(&signer)).unwrap();
        assert_eq!(json["scheme"], "sr25519");
        assert_eq!(
            json["ss58_address"],
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
        assert_eq!(json["public_key"], json["account_id"]);
        assert!(json.get("secret_phrase").is_none() && json.get("secret_seed").is_none());
    }

    #[test]
    fn rpc_url_validation() {
        assert!(check_rpc_url(DEFAULT_RPC).is_ok());
        assert!(check_rpc_url("http://10.0.0.1:9944/rpc").is_ok());
        assert!(check_rpc_url("ws://").unwrap_err().contains("'ws://'"));
        assert!(check_rpc_url("ftp://x").unwrap_err().contains("'ftp://x'"));
    }
}
