//! `agora key generate [--scheme sr25519|ed25519] [--words 12|24]` and `agora key inspect
//! SURI`: account keys, no node needed. JSON field names are stable.

use agora_client::keys::{self, MnemonicWords, Scheme, Signer};
use clap::Subcommand;
use serde::Serialize;

use crate::args::{scheme_parser, words_parser};
use crate::cli::CliError;

/// `agora key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a key from a fresh random BIP-39 mnemonic and print its secret phrase.
    Generate {
        /// Signature scheme.
        #[arg(long, value_parser = scheme_parser(), default_value = "sr25519")]
        scheme: Scheme,
        /// Number of mnemonic words.
        #[arg(long, value_parser = words_parser(), default_value = "12")]
        words: MnemonicWords,
        /// Write the secret phrase to this new file (mode 0600) for `--key-file`, instead of
        /// printing it.
        #[arg(long, value_name = "PATH")]
        out: Option<std::path::PathBuf>,
    },
    /// Show the public key and address of a SURI (//Alice, a mnemonic[//path][///password], 0x seed).
    Inspect {
        /// Secret URI of the key.
        #[arg(value_name = "SURI")]
        suri: String,
        /// Signature scheme.
        #[arg(long, value_parser = scheme_parser(), default_value = "sr25519")]
        scheme: Scheme,
    },
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
    /// Where `key generate --out` wrote the secret phrase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<std::path::PathBuf>,
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
            key_file: None,
        }
    }

    /// Human-readable rendering.
    pub fn text(&self) -> String {
        let mut out = String::new();
        if let Some(phrase) = &self.secret_phrase {
            out.push_str(&format!("Secret phrase:     {phrase}\n"));
        }
        if let Some(seed) = &self.secret_seed {
            out.push_str(&format!("Secret seed:       {seed}\n"));
        }
        if let Some(path) = &self.key_file {
            out.push_str(&format!(
                "Secret phrase in:  {} (mode 0600)\n",
                path.display()
            ));
        }
        out.push_str(&format!("Public key (hex):  {}\n", self.public_key));
        out.push_str(&format!("Account ID:        {}\n", self.account_id));
        out.push_str(&format!("SS58 address:      {}\n", self.ss58_address));
        out.push_str(&format!("Scheme:            {}\n", self.scheme));
        out
    }
}

/// Runs a key command.
pub fn key(command: &KeyCommand) -> Result<KeyReport, CliError> {
    Ok(match command {
        KeyCommand::Generate { scheme, words, out } => {
            let key = keys::generate(*scheme, *words)?;
            if let Some(path) = out {
                keys::write_key_file(path, &key.phrase)?;
                KeyReport {
                    key_file: Some(path.clone()),
                    ..KeyReport::public(&key.signer)
                }
            } else {
                KeyReport {
                    secret_phrase: Some(key.phrase.clone()),
                    secret_seed: Some(format!("0x{}", hex::encode(key.secret_seed))),
                    ..KeyReport::public(&key.signer)
                }
            }
        }
        KeyCommand::Inspect { suri, scheme } => {
            KeyReport::public(&Signer::from_suri(suri, *scheme)?)
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
