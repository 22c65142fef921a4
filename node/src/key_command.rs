//! `agora-node key …`: make, inspect and rotate a validator's consensus key, and print the
//! key proof that lets an account register it.

use clap::Subcommand;
use pallet_staking::beacon::BeaconSigner;
use sp_core::{ed25519, Pair};
use std::path::PathBuf;

use agora_node::keystore;
use agora_primitives::{AccountId, Hash};

use crate::{chain_dir, consensus_pair, default_base_path, load_spec, NodeError, SpecArgs};

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCommand {
    /// Generates a new consensus key and prints its secret phrase, its public key and the
    /// beacon key derived from the same secret.
    Generate,
    /// Prints the consensus public key of a SURI (`//Alice`, a mnemonic, or a 0x seed) and
    /// the beacon key derived from it (both go into `agora validator register`).
    Inspect {
        /// The secret URI (visible in `ps` and the shell's history: dev keys; else
        /// `--key-file`).
        #[arg(required_unless_present = "key_file", conflicts_with = "key_file")]
        suri: Option<String>,
        /// A file holding the SURI (mode 0600): the node's `--validator-key-file`, or a
        /// keystore file `key rotate` wrote.
        #[arg(long, value_name = "PATH")]
        key_file: Option<PathBuf>,
        /// Also print the key proof for this account (SS58 or 0x hex): the key's signature of
        /// it, which `agora validator register --key-proof` takes so that the secret never
        /// leaves this machine (the chain requires the proof since spec version 16).
        #[arg(long, value_name = "ADDRESS")]
        owner: Option<String>,
    },
    /// Generates a new consensus key into the keystore of the chain's directory
    /// (`<base-path>/chains/<chain id>/keystore/`) and prints its public key and beacon key,
    /// to register with `agora validator set-key`. A running validator on that base path
    /// switches to it by itself at the first block of the epoch whose committee lists it.
    Rotate {
        #[command(flatten)]
        spec: SpecArgs,
        /// Base path holding the chain's data (the node's `--base-path`).
        #[arg(long)]
        base_path: Option<PathBuf>,
    },
}

/// An account named by `--owner`: SS58, or 0x and 64 hex digits.
fn parse_owner(text: &str) -> Result<AccountId, NodeError> {
    AccountId::from_ss58_or_hex(text).map_err(|e| NodeError::BadOwner {
        text: text.to_owned(),
        reason: e.to_string(),
    })
}

pub(crate) fn key(command: KeyCommand) -> Result<(), NodeError> {
    match command {
        KeyCommand::Generate => {
            let (pair, phrase, _) = ed25519::Pair::generate_with_phrase(None);
            let beacon = BeaconSigner::from_consensus_seed(&pair.seed()).beacon_key();
            println!("Secret phrase: {phrase}");
            println!("Public key:    0x{}", hex::encode(pair.public().0));
            println!("Beacon key:    {beacon}");
        }
        KeyCommand::Inspect {
            suri,
            key_file,
            owner,
        } => {
            let owner = owner.as_deref().map(parse_owner).transpose()?;
            let suri = agora_primitives::secret::suri_from(suri.as_deref(), key_file.as_deref())?
                .unwrap_or_default();
            let pair = consensus_pair(&suri)?;
            let beacon = BeaconSigner::from_consensus_seed(&pair.seed()).beacon_key();
            println!("Public key: 0x{}", hex::encode(pair.public().0));
            println!("Beacon key: {beacon}");
            if let Some(owner) = owner {
                let proof = pallet_staking::validators::prove_key_ownership(&pair, &owner);
                println!("Key proof:  0x{} (for {owner})", hex::encode(proof));
            }
        }
        KeyCommand::Rotate { spec, base_path } => {
            let spec = load_spec(&spec)?;
            let chain = chain_dir(&base_path.unwrap_or_else(default_base_path), &spec);
            // A mistyped base path would put the key where no node looks.
            if !chain.join("db").is_dir() {
                return Err(NodeError::NoChainData(chain));
            }
            let dir = keystore::dir(&chain);
            let (pair, _) = keystore::generate(&dir)?;
            let public = Hash(pair.public().0);
            let beacon = BeaconSigner::from_consensus_seed(&pair.seed()).beacon_key();
            let file = dir.join(hex::encode(public.0));
            println!("Public key: {public}");
            println!("Beacon key: {beacon}");
            println!("Kept in:    {} (its only copy: back it up)", file.display());
            // The key file signs the key proof the chain requires (spec version 16).
            println!(
                "Register it: agora validator set-key --key <ACCOUNT SURI> --consensus-key {public} --beacon-key {beacon} --consensus-key-file {}",
                file.display()
            );
        }
    }
    Ok(())
}
