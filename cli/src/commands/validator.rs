//! `agora validator register|set-key|unregister|status`: stand for election to the consensus
//! committee with a bond, rotate the consensus key, withdraw, and see where an account stands.
//!
//! The committee of epoch e+1 is elected at the middle block of epoch e from the candidates'
//! bonds (see `pallet_staking::validators`); registering makes an account a candidate, not a
//! validator, and a new key signs only from the epoch after the next election.

use agora_client::amount::{format_agr, parse_agr};
use agora_client::chain::State;
use agora_client::rpc::Rpc;
use agora_primitives::{AccountId, BlockNumber, Hash};
use clap::{Args, Subcommand};
use parity_scale_codec::Compact;
use serde::Serialize;

use crate::args::KeyArgs;
use crate::cli::CliError;

/// `agora validator …`
#[derive(Debug, Subcommand)]
pub enum ValidatorCommand {
    /// Stand for election: bond and commit a validator bond for a consensus key.
    Register(RegisterArgs),
    /// Change the consensus key (and address) used from the next election on.
    SetKey(SetKeyArgs),
    /// Withdraw the candidacy; the bond is released once the account sits in no committee.
    Unregister(KeyArgs),
    /// The account's candidacy and the committees of the current and next epoch.
    Status {
        /// SS58 address or 0x-prefixed public key of the account.
        #[arg(value_name = "ADDRESS")]
        who: String,
    },
}

/// `agora validator register …`
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The candidate's account.
    #[command(flatten)]
    pub account: KeyArgs,
    /// Validator bond in AGR.
    #[arg(long, value_name = "AGR")]
    pub bond: String,
    /// The node's keys and address.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `agora validator set-key …`
#[derive(Debug, Args)]
pub struct SetKeyArgs {
    /// The candidate's account.
    #[command(flatten)]
    pub account: KeyArgs,
    /// The node's new keys and address.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// A validator node's public keys and p2p address, as `register` and `set-key` take them.
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The node's ed25519 consensus public key, 0x-prefixed hex (`agora-node key inspect`).
    #[arg(long, value_name = "HEX")]
    pub consensus_key: String,
    /// The node's sr25519 beacon public key, 0x-prefixed hex (`agora-node key inspect` prints
    /// it beside the consensus key: both come from the same secret). Without it, the node
    /// `--rpc` names is asked for its validator keys (`author_validatorKeys`), and its beacon
    /// key is used if its consensus key is `--consensus-key` and that key's signature vouches
    /// for it; if that node runs another key or none, the consensus key is registered as the
    /// beacon key too: the node's beacon is then an ECVRF under its consensus key (since spec
    /// version 15), and no second key is needed.
    #[arg(long, value_name = "HEX")]
    pub beacon_key: Option<String>,
    /// The RPC URL of the node that runs `--consensus-key`, asked for its beacon key instead
    /// of `--rpc`'s: a joining validator's node is not connected before its election, so it
    /// registers through a connected node (`--rpc`) with its own node named here.
    #[arg(long, value_name = "URL", conflicts_with = "beacon_key")]
    pub keys_from: Option<String>,
    /// A file holding the consensus key's SURI (mode 0600: the node's `--validator-key-file`,
    /// or its keystore file after `agora-node key rotate`), to sign the key proof with: the
    /// consensus key's signature of the registering account, which the chain requires since
    /// spec version 16 (a proof of possession: no one else can register the key). Without it
    /// or `--key-proof`, the proof is signed with the account's own SURI if its ed25519 key is
    /// `--consensus-key` (dev keys: `--key //Eve` for a node run with `--validator-key //Eve`).
    #[arg(long, value_name = "PATH", conflicts_with = "key_proof")]
    pub consensus_key_file: Option<std::path::PathBuf>,
    /// The key proof made elsewhere, 0x-prefixed hex of 64 bytes: `agora-node key inspect
    /// SURI --owner ADDRESS` prints it on the machine that holds the consensus key, which then
    /// never leaves it.
    #[arg(long, value_name = "HEX")]
    pub key_proof: Option<String>,
    /// The node's p2p address, `IP:port`, for the other validators to dial; `""` for none
    /// (peers then need it in their `--peer` lists). `set-key` without it keeps the
    /// candidate's current address; `register` without it registers none.
    #[arg(long, value_name = "IP:PORT")]
    pub address: Option<String>,
}

/// [`NodeArgs`] parsed: consensus key, beacon key (if given), address.
type NodeKeys = (Hash, Option<Hash>, Vec<u8>);

impl NodeArgs {
    /// The keys and address, each checked, or an error naming the first bad one.
    fn parse(&self) -> Result<NodeKeys, CliError> {
        Ok((
            parse_key(&self.consensus_key)?,
            self.beacon_key
                .as_deref()
                .map(parse_beacon_key)
                .transpose()?,
            parse_address(self.address.as_deref().unwrap_or(""))?,
        ))
    }

    /// The keys and address, the beacon key asked of the node at `--keys-from` (else `rpc`)
    /// if not given: only a node running the validator key holds its sr25519 beacon key (the
    /// secret's other half). Without `--keys-from`, a `--rpc` node that runs another key or
    /// none makes the consensus key the beacon key (ECVRF on the consensus key): the command
    /// then works through any node with the consensus key alone.
    async fn resolve(&self, rpc: &Rpc) -> Result<(Hash, Hash, Vec<u8>), CliError> {
        let (consensus_key, beacon_key, address) = self.parse()?;
        if let Some(beacon_key) = beacon_key {
            return Ok((consensus_key, beacon_key, address));
        }
        let own;
        let rpc = match &self.keys_from {
            Some(url) => {
                own = Rpc::connect(url).await?;
                &own
            }
            None => rpc,
        };
        let beacon_key = match rpc.validator_keys().await? {
            Some(keys) if keys.consensus_key == consensus_key => {
                // The node could name any beacon key: only the consensus key's signature
                // shows that the key's holder owns it.
                let vouched = keys
                    .binding
                    .decode()
                    .ok()
                    .and_then(|bytes| <[u8; 64]>::try_from(bytes).ok())
                    .is_some_and(|signature| {
                        pallet_staking::beacon::verify_binding(
                            &consensus_key,
                            &keys.beacon_key,
                            &signature,
                        )
                    });
                if !vouched {
                    return Err(CliError::InvalidArgument(format!(
                        "the node at {} names beacon key {} for --consensus-key {consensus_key} \
                         without that key's signature vouching for it: give --beacon-key \
                         (`agora-node key inspect` prints it)",
                        rpc.url(),
                        keys.beacon_key
                    )));
                }
                keys.beacon_key
            }
            // No node that holds the key was named: the beacon is an ECVRF under the
            // consensus key, which every node verifies from the public key alone.
            _ if self.keys_from.is_none() => {
                // Said, since a mistyped key would otherwise bond behind a seat no node can
                // sign for without a word: before, this was refused.
                eprintln!(
                    "note: the node at {} does not run --consensus-key {consensus_key}: \
                     registering it as its own beacon key (an ECVRF beacon, docs/beacon.md); \
                     check that it is your node's key (`agora-node key inspect`)",
                    rpc.url()
                );
                consensus_key
            }
            held => {
                let holds = match held {
                    Some(keys) => format!("runs validator key {}", keys.consensus_key),
                    None => "runs no validator key".to_owned(),
                };
                return Err(CliError::InvalidArgument(format!(
                    "--keys-from {} {holds}, not --consensus-key {consensus_key}: name the \
                     node that runs the key, or leave --keys-from out to register the \
                     consensus key as the beacon key too",
                    rpc.url()
                )));
            }
        };
        Ok((consensus_key, beacon_key, address))
    }
}

impl NodeArgs {
    /// The key proof for `account` (the registering account, whose SURI is `account_suri`):
    /// `--key-proof`, else signed with `--consensus-key-file`'s key, else with the account's
    /// SURI if its ed25519 key is `consensus_key`. Checked here, so that a wrong proof is
    /// refused naming the value, before a transaction pays a fee to be refused on chain.
    fn key_proof(
        &self,
        consensus_key: &Hash,
        account: &AccountId,
        account_suri: &str,
    ) -> Result<[u8; 64], CliError> {
        use agora_client::keys::{Scheme, Signer};
        use pallet_staking::validators::{key_ownership_message, verify_key_ownership};
        let proof = if let Some(text) = &self.key_proof {
            let hex = text.strip_prefix("0x").unwrap_or(text);
            let proof: [u8; 64] = hex::decode(hex)
                .ok()
                .and_then(|bytes| bytes.try_into().ok())
                .ok_or_else(|| {
                    CliError::InvalidArgument(format!(
                        "--key-proof '{text}' is not 64 bytes of hex (0x…)"
                    ))
                })?;
            if !verify_key_ownership(consensus_key, account, &proof) {
                return Err(CliError::InvalidArgument(format!(
                    "--key-proof '{text}' is not --consensus-key {consensus_key}'s signature of \
                     account {account} (make it with `agora-node key inspect SURI --owner \
                     {account}`)"
                )));
            }
            proof
        } else if let Some(path) = &self.consensus_key_file {
            let named = |error: &dyn std::fmt::Display| {
                CliError::InvalidArgument(format!(
                    "--consensus-key-file {}: {error}",
                    path.display()
                ))
            };
            let suri = agora_primitives::secret::read_key_file(path).map_err(|e| named(&e))?;
            let signer = Signer::from_suri(&suri, Scheme::Ed25519).map_err(|e| named(&e))?;
            if Hash(signer.public()) != *consensus_key {
                return Err(CliError::InvalidArgument(format!(
                    "--consensus-key-file {} holds key {}, not --consensus-key {consensus_key}",
                    path.display(),
                    Hash(signer.public())
                )));
            }
            signer.sign(&key_ownership_message(account))
        } else {
            // A SURI ed25519 cannot derive (a soft path) is simply not the consensus key.
            let signer = Signer::from_suri(account_suri, Scheme::Ed25519)
                .ok()
                .filter(|signer| Hash(signer.public()) == *consensus_key)
                .ok_or_else(|| {
                    CliError::InvalidArgument(format!(
                        "nothing shows that account {account} may register --consensus-key \
                         {consensus_key}: the chain requires the key's signature of the \
                         account (spec version 16). Give --consensus-key-file PATH (the node's \
                         key file) or --key-proof HEX (`agora-node key inspect SURI --owner \
                         {account}` on the node's machine)"
                    ))
                })?;
            signer.sign(&key_ownership_message(account))
        };
        Ok(proof)
    }
}

/// What `validator …` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ValidatorReport {
    /// The account.
    pub who: AccountId,
    /// Its consensus key as a candidate, if it is one.
    pub candidate_key: Option<Hash>,
    /// Its validator bond as a candidate, AGR.
    pub bond: Option<String>,
    /// Its p2p address as a candidate (empty: peers learn it from their `--peer` lists).
    pub address: Option<String>,
    /// The consensus key of its seat in the current committee, if it sits.
    pub current_key: Option<Hash>,
    /// The consensus key of its seat in the next epoch's committee, if elected.
    pub next_key: Option<Hash>,
    /// The epoch of the next block.
    pub epoch: u64,
    /// Whether it sits in the current epoch's committee.
    pub in_current_committee: bool,
    /// Whether it sits in the next epoch's committee (`None` before the election).
    pub in_next_committee: Option<bool>,
    /// Size of the current committee.
    pub committee_size: usize,
    /// Block the report reads.
    pub block_number: BlockNumber,
}

impl ValidatorReport {
    /// Human-readable rendering.
    pub fn text(&self) -> String {
        let candidacy = match (&self.candidate_key, &self.bond) {
            (Some(key), Some(bond)) => match self.address.as_deref() {
                Some(address) if !address.is_empty() => {
                    format!("candidate with key {key} at {address} and a bond of {bond} AGR")
                }
                _ => format!("candidate with key {key} and a bond of {bond} AGR"),
            },
            _ => "not a candidate".to_owned(),
        };
        let next = match self.in_next_committee {
            Some(true) => "elected for the next epoch",
            Some(false) => "not elected for the next epoch",
            None => "next epoch not elected yet",
        };
        format!(
            "{} after block #{}: {candidacy}; epoch {}: {} ({} validators); {next}\n",
            self.who,
            self.block_number,
            self.epoch,
            if self.in_current_committee {
                "in the committee"
            } else {
                "not in the committee"
            },
            self.committee_size,
        )
    }
}

/// A public key given as `--{flag}`: 32 bytes of hex that `valid` accepts as a `kind` key.
fn parse_public(
    flag: &str,
    kind: &str,
    valid: fn(&Hash) -> bool,
    text: &str,
) -> Result<Hash, CliError> {
    let hex = text.strip_prefix("0x").unwrap_or(text);
    let bytes: [u8; 32] = hex::decode(hex)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            CliError::InvalidArgument(format!("--{flag} '{text}' is not 32 bytes of hex (0x…)"))
        })?;
    let key = Hash(bytes);
    if !valid(&key) {
        return Err(CliError::InvalidArgument(format!(
            "--{flag} '{text}' is not a valid {kind} public key"
        )));
    }
    Ok(key)
}

fn parse_key(text: &str) -> Result<Hash, CliError> {
    let valid = pallet_staking::validators::is_valid_consensus_key;
    parse_public("consensus-key", "ed25519", valid, text)
}

fn parse_beacon_key(text: &str) -> Result<Hash, CliError> {
    let valid = pallet_staking::validators::is_valid_beacon_key;
    parse_public("beacon-key", "sr25519", valid, text)
}

fn parse_address(text: &str) -> Result<Vec<u8>, CliError> {
    if pallet_staking::validators::is_valid_address(text.as_bytes()) {
        Ok(text.as_bytes().to_vec())
    } else {
        Err(CliError::InvalidArgument(format!(
            "--address '{text}' is not IP:port"
        )))
    }
}

/// Checks the arguments of a command before any node is contacted.
pub fn check(command: &ValidatorCommand) -> Result<(), CliError> {
    match command {
        ValidatorCommand::Register(args) => {
            parse_agr(&args.bond)?;
            let (consensus_key, ..) = args.node.parse()?;
            proof_for(&args.node, &consensus_key, &args.account)?;
        }
        // The proof of a set-key is checked once the candidacy is read: keeping the key
        // needs none.
        ValidatorCommand::SetKey(args) => {
            args.node.parse()?;
        }
        ValidatorCommand::Unregister(_) | ValidatorCommand::Status { .. } => {}
    }
    Ok(())
}

/// Runs a validator command.
pub async fn validator(rpc: &Rpc, command: &ValidatorCommand) -> Result<ValidatorReport, CliError> {
    let (account, call, what) = match command {
        ValidatorCommand::Register(args) => {
            let (consensus_key, beacon_key, address) = args.node.resolve(rpc).await?;
            let key_proof = proof_for(&args.node, &consensus_key, &args.account)?;
            let bond = Compact(parse_agr(&args.bond)?);
            let call = pallet_staking::Call::RegisterValidator {
                consensus_key,
                beacon_key,
                address,
                bond,
                key_proof,
            };
            (&args.account, call, "validator registration")
        }
        ValidatorCommand::SetKey(args) => {
            let (consensus_key, beacon_key, mut address) = args.node.resolve(rpc).await?;
            let (suri, who) = suri_and_account(&args.account)?;
            let candidate = State::finalized(rpc)
                .await?
                .validator_candidate(&who)
                .await?;
            let key_proof = match args.node.key_proof(&consensus_key, &who, &suri) {
                Ok(proof) => proof,
                // The candidate keeps its key (it moves its address): the chain checks no
                // proof, so its holder need not have the secret at hand.
                Err(_)
                    if args.node.key_proof.is_none()
                        && args.node.consensus_key_file.is_none()
                        && candidate
                            .as_ref()
                            .is_some_and(|c| c.consensus_key == consensus_key) =>
                {
                    [0; 64]
                }
                Err(error) => return Err(error),
            };
            if args.node.address.is_none() {
                // A new key on the same node (a rotation) keeps the address the others dial:
                // an empty one would leave the new key unreachable to nodes that do not list
                // it in `--peer`.
                if let Some(candidate) = candidate {
                    address = candidate.address;
                }
            }
            let call = pallet_staking::Call::SetValidatorKey {
                consensus_key,
                beacon_key,
                address,
                key_proof,
            };
            (&args.account, call, "key change")
        }
        ValidatorCommand::Unregister(account) => (
            account,
            pallet_staking::Call::UnregisterValidator,
            "unregistration",
        ),
        ValidatorCommand::Status { who } => {
            let who = agora_client::keys::to_agora_account(&agora_client::keys::parse_address(
                who,
                agora_client::keys::Scheme::Sr25519,
            )?);
            let state = State::finalized(rpc).await?;
            return report(&state, who).await;
        }
    };
    let (who, sent) = super::stake::send(rpc, account, call, what).await?;
    report(&State::at(rpc, sent.inclusion.block_hash), who).await
}

/// The key proof of `node`'s consensus key for the account `account` names.
fn proof_for(
    node: &NodeArgs,
    consensus_key: &Hash,
    account: &KeyArgs,
) -> Result<[u8; 64], CliError> {
    let (suri, who) = suri_and_account(account)?;
    node.key_proof(consensus_key, &who, &suri)
}

/// The SURI `account` names and its account, the SURI read once (from `--key-file`, a file
/// read).
fn suri_and_account(account: &KeyArgs) -> Result<(String, AccountId), CliError> {
    let suri = account.suri()?;
    let who = agora_client::keys::Signer::from_suri(&suri, account.scheme)?.agora_account();
    Ok((suri, who))
}

async fn report(state: &State<'_>, who: AccountId) -> Result<ValidatorReport, CliError> {
    let seat_key = |committee: &[pallet_staking::Validator]| {
        committee
            .iter()
            .find(|v| v.account == who)
            .map(|v| v.consensus_key)
    };
    let candidate = state.validator_candidate(&who).await?;
    let epoch = state.current_epoch().await?;
    let current = state.committee(epoch).await?.unwrap_or_default();
    let next = state.committee(epoch.saturating_add(1)).await?;
    Ok(ValidatorReport {
        who,
        candidate_key: candidate.as_ref().map(|c| c.consensus_key),
        bond: candidate.as_ref().map(|c| format_agr(c.bond)),
        address: candidate
            .as_ref()
            .map(|c| String::from_utf8_lossy(&c.address).into_owned()),
        epoch,
        in_current_committee: current.iter().any(|v| v.account == who),
        current_key: seat_key(&current),
        in_next_committee: next
            .as_ref()
            .map(|next| next.iter().any(|v| v.account == who)),
        next_key: next.as_deref().and_then(seat_key),
        committee_size: current.len(),
        block_number: state.block_number().await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node_args(key_proof: Option<String>, file: Option<std::path::PathBuf>) -> NodeArgs {
        NodeArgs {
            consensus_key: String::new(),
            beacon_key: None,
            keys_from: None,
            consensus_key_file: file,
            key_proof,
            address: None,
        }
    }

    fn ed25519(suri: &str) -> agora_client::keys::Signer {
        agora_client::keys::Signer::from_suri(suri, agora_client::keys::Scheme::Ed25519).unwrap()
    }

    fn prove(signer: &agora_client::keys::Signer, account: &AccountId) -> [u8; 64] {
        signer.sign(&pallet_staking::validators::key_ownership_message(account))
    }

    /// Every way the CLI makes the key proof verifies on chain's terms, and every way it cannot
    /// is refused naming the value (before a transaction pays a fee to be refused).
    #[test]
    fn the_key_proof_comes_from_the_key_and_names_the_account() {
        use pallet_staking::validators::verify_key_ownership;
        let eve = AccountId([5; 32]);
        let node_pair = ed25519("//EveNode");
        let node_key = Hash(node_pair.public());
        let refused = |result: Result<[u8; 64], CliError>| result.unwrap_err().to_string();

        // The account's SURI is the consensus key's (dev keys).
        let dev = Hash(ed25519("//Eve").public());
        let proof = node_args(None, None)
            .key_proof(&dev, &eve, "//Eve")
            .unwrap();
        assert!(verify_key_ownership(&dev, &eve, &proof));
        // It is not: nothing shows the account holds the key.
        assert!(
            refused(node_args(None, None).key_proof(&node_key, &eve, "//Eve")).contains(&format!(
                "nothing shows that account {eve} may register --consensus-key {node_key}"
            ))
        );
        // A soft derivation path is no ed25519 key: the same refusal, not a SURI error.
        assert!(
            refused(node_args(None, None).key_proof(&node_key, &eve, "//Eve/soft"))
                .contains("nothing shows")
        );

        // --key-proof made on the node's machine.
        let made = prove(&node_pair, &eve);
        let given = node_args(Some(format!("0x{}", hex::encode(made))), None);
        assert_eq!(given.key_proof(&node_key, &eve, "//Eve").unwrap(), made);
        // For another account, or not hex of 64 bytes.
        let other = format!("0x{}", hex::encode(prove(&node_pair, &AccountId([6; 32]))));
        assert!(refused(node_args(Some(other.clone()), None).key_proof(&node_key, &eve, "//Eve"))
            .contains(&format!("--key-proof '{other}' is not --consensus-key {node_key}'s signature of account {eve}")));
        assert!(
            refused(node_args(Some("0x12".into()), None).key_proof(&node_key, &eve, "//Eve"))
                .contains("--key-proof '0x12' is not 64 bytes of hex")
        );

        // --consensus-key-file: the node's key file signs.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("validator.key");
        agora_primitives::secret::write_key_file(&path, "//EveNode").unwrap();
        let from_file = node_args(None, Some(path.clone()));
        let proof = from_file.key_proof(&node_key, &eve, "//Eve").unwrap();
        assert!(verify_key_ownership(&node_key, &eve, &proof));
        // A file that is not there, or not a key, is refused naming the option and the path.
        let missing = dir.path().join("missing.key");
        assert!(refused(
            node_args(None, Some(missing.clone())).key_proof(&node_key, &eve, "//Eve")
        )
        .contains(&format!("--consensus-key-file {}:", missing.display())));
        // A file holding another key is refused, naming both.
        assert!(refused(from_file.key_proof(&dev, &eve, "//Eve"))
            .contains(&format!("holds key {node_key}, not --consensus-key {dev}")));
    }

    #[test]
    fn keys_are_checked_before_any_node_is_contacted_naming_the_value() {
        let seed = agora_runtime::genesis::dev_consensus_seed("Eve");
        let signer = pallet_staking::beacon::BeaconSigner::from_consensus_seed(&seed);
        let (consensus, beacon) = (
            signer.proposer().to_string(),
            signer.beacon_key().to_string(),
        );
        assert_eq!(parse_key(&consensus).unwrap(), signer.proposer());
        assert_eq!(parse_beacon_key(&beacon).unwrap(), signer.beacon_key());
        let refused = |result: Result<Hash, CliError>| result.unwrap_err().to_string();
        assert!(
            refused(parse_beacon_key("0x1234")).contains("--beacon-key '0x1234' is not 32 bytes")
        );
        let not_a_point = format!("0x{}", "ff".repeat(32));
        assert!(refused(parse_beacon_key(&not_a_point)).contains(&format!(
            "--beacon-key '{not_a_point}' is not a valid sr25519 public key"
        )));
        // The identity point: of small order, anyone could forge its signatures.
        let small_order = format!("0x01{}", "00".repeat(31));
        assert!(refused(parse_key(&small_order)).contains(&format!(
            "--consensus-key '{small_order}' is not a valid ed25519 public key"
        )));
    }
}
