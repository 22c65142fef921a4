//! Chain specs and the genesis block.
//!
//! A chain spec is a JSON document (written by `agora-node build-spec`) naming the chain, its
//! genesis state (timestamp, balances) and its consensus committee. Two nodes with the same
//! spec compute the same genesis hash; everything a signature covers includes that hash.
//!
//! ```json
//! { "name": "Agora Development", "id": "agora_dev",
//!   "genesis": { "timestamp": 0, "balances": [["5Grwva…", 1000000000000000000]],
//!                "epoch_length": 600 },
//!   "validators": [{ "account": "5Grwva…", "consensus_key": "0x88dc…",
//!                    "beacon_key": "0x5e2f…", "bond": 10000000000000000, "address": "" }] }
//! ```
//!
//! `lifetimes` (optional, for test chains) replaces the blob registry's lifetimes in blocks,
//! `{ "blob_ttl": 100, "model_retention": 2000 }` (either may be left out: 14,400 and
//! 2,592,000, the runtime's `BLOB_TTL` and `MODEL_RETENTION`); a spec without it writes the
//! same genesis state, and hash, as before it existed (`pallet_jobs::GenesisConfig`).
//!
//! `validators` is the committee of epoch 0; it is written into pallet-staking's state (so the
//! genesis hash covers it), each member with a non-zero `bond` also a candidate for the later
//! epochs' elections (see `pallet_staking::validators`). `epoch_length` (blocks) and a
//! validator's `bond` and `address` may be left out: 600 blocks, [`GENESIS_VALIDATOR_BOND`],
//! no address.

use crate::block::{events_root, extrinsics_root, Block, Header};
use crate::{Balances, Jobs, Staking, System};
use agora_primitives::smt::{self, MemoryNodeStore};
use agora_primitives::storage::{Changes, Ext};
use agora_primitives::{AccountId, Balance, Hash, Moment, AGR};
use pallet_staking::beacon::BeaconSigner;
use parity_scale_codec::Compact;
use serde::{Deserialize, Serialize};
use sp_core::{ed25519, sr25519, Pair};
use std::collections::BTreeMap;

/// The names of Substrate's well-known development accounts.
pub const DEV_ACCOUNTS: [&str; 6] = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];

/// Free balance of each development account at genesis: one million AGR.
pub const DEV_ENDOWMENT: Balance = 1_000_000 * AGR;

/// The validator bond of a genesis validator whose spec does not give one: 10,000 AGR.
pub const GENESIS_VALIDATOR_BOND: Balance = 10_000 * AGR;

/// Blocks per epoch of a spec that does not give it: ten minutes of one-second blocks.
pub const DEFAULT_EPOCH_LENGTH: u64 = 600;

fn default_validator_bond() -> Balance {
    GENESIS_VALIDATOR_BOND
}

fn default_epoch_length() -> u64 {
    DEFAULT_EPOCH_LENGTH
}

fn default_blob_ttl() -> u64 {
    <crate::Runtime as pallet_jobs::Config>::BLOB_TTL
}

fn default_model_retention() -> u64 {
    <crate::Runtime as pallet_jobs::Config>::MODEL_RETENTION
}

/// The blob registry's lifetimes of a test chain, in blocks (`pallet_jobs::BlobLifetimes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifetimesSpec {
    /// Blocks an unreferenced blob lives (at least 1).
    #[serde(default = "default_blob_ttl")]
    pub blob_ttl: u64,
    /// Blocks a settled job's model is kept for its buyer (at least 1).
    #[serde(default = "default_model_retention")]
    pub model_retention: u64,
}

impl LifetimesSpec {
    /// The runtime's own: `BLOB_TTL` and `MODEL_RETENTION`.
    pub fn runtime() -> LifetimesSpec {
        LifetimesSpec {
            blob_ttl: default_blob_ttl(),
            model_retention: default_model_retention(),
        }
    }
}

/// The verification windows of a test chain, in blocks
/// (`pallet_verification::VerificationWindows`); each field left out keeps the runtime's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsSpec {
    /// Blocks the worker has for each reveal (at least 1).
    #[serde(default = "default_reveal_blocks")]
    pub reveal: u64,
    /// Blocks verifiers have to re-execute and attest (at least 1).
    #[serde(default = "default_attest_blocks")]
    pub attest: u64,
    /// Blocks each dispute move is due in (at least 1).
    #[serde(default = "default_move_blocks")]
    pub dispute_move: u64,
    /// Blocks a draw may wait for verifiers' stake to come free.
    #[serde(default = "default_sample_wait_blocks")]
    pub sample_wait: u64,
}

fn default_reveal_blocks() -> u64 {
    <crate::Runtime as pallet_verification::Config>::REVEAL_BLOCKS
}

fn default_attest_blocks() -> u64 {
    <crate::Runtime as pallet_verification::Config>::ATTEST_BLOCKS
}

fn default_move_blocks() -> u64 {
    <crate::Runtime as pallet_verification::Config>::MOVE_BLOCKS
}

fn default_sample_wait_blocks() -> u64 {
    <crate::Runtime as pallet_verification::Config>::SAMPLE_WAIT_BLOCKS
}

impl WindowsSpec {
    /// The runtime's own: `REVEAL_BLOCKS`, `ATTEST_BLOCKS`, `MOVE_BLOCKS`,
    /// `SAMPLE_WAIT_BLOCKS`.
    pub fn runtime() -> WindowsSpec {
        WindowsSpec {
            reveal: default_reveal_blocks(),
            attest: default_attest_blocks(),
            dispute_move: default_move_blocks(),
            sample_wait: default_sample_wait_blocks(),
        }
    }
}

/// A member of the epoch-0 committee.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSpec {
    /// The validator's account (its bond, rewards, slashing).
    pub account: AccountId,
    /// ed25519 public key it signs consensus messages with.
    pub consensus_key: Hash,
    /// sr25519 public key its blocks' beacon VRF verifies under (`agora-node key inspect`
    /// prints it; `pallet_staking::beacon`).
    pub beacon_key: Hash,
    /// Validator bond, bonded and committed from the account's genesis balance; 0 sits in
    /// epoch 0 without standing for the next elections.
    #[serde(default = "default_validator_bond")]
    pub bond: Balance,
    /// p2p `IP:port`, or empty.
    #[serde(default)]
    pub address: String,
}

/// Genesis state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenesisSpec {
    /// Timestamp of block 0, in milliseconds; later blocks must be after it.
    pub timestamp: Moment,
    /// Initial free balances, in plancks.
    pub balances: Vec<(AccountId, Balance)>,
    /// Blocks per epoch: the committee may change every `epoch_length` blocks (at least 2).
    #[serde(default = "default_epoch_length")]
    pub epoch_length: u64,
    /// The blob registry's lifetimes, if not the runtime's (test chains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetimes: Option<LifetimesSpec>,
    /// The verification windows, if not the runtime's (test chains with short blocks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<WindowsSpec>,
}

/// A chain spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSpec {
    /// Human-readable name.
    pub name: String,
    /// Machine identifier (database directories are named after it).
    pub id: String,
    /// Genesis state.
    pub genesis: GenesisSpec,
    /// Consensus committee of epoch 0.
    pub validators: Vec<ValidatorSpec>,
}

/// Why a chain spec is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Not valid JSON for a chain spec.
    #[error("chain spec is not valid: {0}")]
    Json(String),
    /// A balance below the existential deposit.
    #[error("genesis balance {balance} of {account} is below the existential deposit {minimum}")]
    BelowExistentialDeposit {
        /// Account.
        account: AccountId,
        /// Its balance.
        balance: Balance,
        /// The minimum.
        minimum: Balance,
    },
    /// An account listed twice.
    #[error("genesis account {0} is listed twice")]
    DuplicateAccount(AccountId),
    /// Balances summing past `u128::MAX`.
    #[error("genesis balances overflow the total issuance")]
    IssuanceOverflow,
    /// No validators.
    #[error("chain spec has no validators")]
    NoValidators,
    /// A genesis validator the staking pallet would refuse.
    #[error("genesis validator {account} is invalid: {reason}")]
    InvalidValidator {
        /// Its account.
        account: AccountId,
        /// What is wrong.
        reason: String,
    },
    /// An epoch shorter than two blocks.
    #[error("epoch_length {0} is below 2 blocks")]
    EpochTooShort(u64),
    /// A blob lifetime of 0 blocks.
    #[error("lifetimes.{0} is 0 blocks; it must be at least 1")]
    ZeroLifetime(&'static str),
    /// A verification window of 0 blocks.
    #[error("windows.{0} is 0 blocks; it must be at least 1")]
    ZeroWindow(&'static str),
}

/// The sr25519 account of a development name, derived as Substrate derives `//Name`.
pub fn dev_account(name: &str) -> AccountId {
    let pair = sr25519::Pair::from_string(&format!("//{name}"), None)
        .expect("a hard derivation of a well-known name is a valid SURI");
    AccountId(pair.public().0)
}

/// The ed25519 consensus seed of a development name, derived from `//Name`.
pub fn dev_consensus_seed(name: &str) -> [u8; 32] {
    let pair = ed25519::Pair::from_string(&format!("//{name}"), None)
        .expect("a hard derivation of a well-known name is a valid SURI");
    pair.seed()
}

/// The beacon key of a development name: derived from its consensus seed.
pub fn dev_beacon_key(name: &str) -> Hash {
    BeaconSigner::from_consensus_seed(&dev_consensus_seed(name)).beacon_key()
}

impl ChainSpec {
    /// The development chain: Alice … Ferdie funded, Alice the only validator.
    pub fn development() -> ChainSpec {
        let alice_consensus = ed25519::Pair::from_seed(&dev_consensus_seed("Alice"));
        ChainSpec {
            name: "Agora Development".to_owned(),
            id: "agora_dev".to_owned(),
            genesis: GenesisSpec {
                timestamp: 0,
                balances: DEV_ACCOUNTS
                    .iter()
                    .map(|name| (dev_account(name), DEV_ENDOWMENT))
                    .collect(),
                epoch_length: DEFAULT_EPOCH_LENGTH,
                lifetimes: None,
                windows: None,
            },
            validators: vec![ValidatorSpec {
                account: dev_account("Alice"),
                consensus_key: Hash(alice_consensus.public().0),
                beacon_key: dev_beacon_key("Alice"),
                bond: GENESIS_VALIDATOR_BOND,
                address: String::new(),
            }],
        }
    }

    /// Parses and checks a JSON chain spec.
    pub fn from_json(text: &str) -> Result<ChainSpec, SpecError> {
        let spec: ChainSpec =
            serde_json::from_str(text).map_err(|error| SpecError::Json(error.to_string()))?;
        spec.check()?;
        Ok(spec)
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a chain spec always serializes")
    }

    /// Checks what building genesis would otherwise panic on.
    pub fn check(&self) -> Result<(), SpecError> {
        let mut seen = std::collections::BTreeSet::new();
        let mut total: Balance = 0;
        for (account, balance) in &self.genesis.balances {
            if *balance < crate::EXISTENTIAL_DEPOSIT {
                return Err(SpecError::BelowExistentialDeposit {
                    account: *account,
                    balance: *balance,
                    minimum: crate::EXISTENTIAL_DEPOSIT,
                });
            }
            if !seen.insert(*account) {
                return Err(SpecError::DuplicateAccount(*account));
            }
            total = total
                .checked_add(*balance)
                .ok_or(SpecError::IssuanceOverflow)?;
        }
        if self.validators.is_empty() {
            return Err(SpecError::NoValidators);
        }
        if self.genesis.epoch_length < 2 {
            return Err(SpecError::EpochTooShort(self.genesis.epoch_length));
        }
        if let Some(lifetimes) = &self.genesis.lifetimes {
            if lifetimes.blob_ttl == 0 {
                return Err(SpecError::ZeroLifetime("blob_ttl"));
            }
            if lifetimes.model_retention == 0 {
                return Err(SpecError::ZeroLifetime("model_retention"));
            }
        }
        if let Some(windows) = &self.genesis.windows {
            for (name, blocks) in [
                ("reveal", windows.reveal),
                ("attest", windows.attest),
                ("dispute_move", windows.dispute_move),
            ] {
                if blocks == 0 {
                    return Err(SpecError::ZeroWindow(name));
                }
            }
        }
        let max = usize::try_from(<crate::Runtime as pallet_staking::Config>::MAX_VALIDATORS)
            .unwrap_or(usize::MAX);
        let mut keys = std::collections::BTreeSet::new();
        for (index, validator) in self.validators.iter().enumerate() {
            let invalid = |reason: &str| SpecError::InvalidValidator {
                account: validator.account,
                reason: reason.to_owned(),
            };
            if index >= max {
                return Err(invalid(
                    "the committee has more than MAX_VALIDATORS members",
                ));
            }
            if !pallet_staking::validators::is_valid_consensus_key(&validator.consensus_key) {
                return Err(invalid(
                    "the consensus key is not a valid ed25519 public key",
                ));
            }
            if !pallet_staking::validators::is_valid_beacon_key_for(
                &validator.beacon_key,
                &validator.consensus_key,
            ) {
                return Err(invalid(
                    "the beacon key is neither the consensus key nor a valid sr25519 public key",
                ));
            }
            if !keys.insert(validator.consensus_key) {
                return Err(invalid("the consensus key is listed twice"));
            }
            if !pallet_staking::validators::is_valid_address(validator.address.as_bytes()) {
                return Err(invalid("the address is not IP:port"));
            }
            let funds = self
                .genesis
                .balances
                .iter()
                .find(|(account, _)| *account == validator.account)
                .map_or(0, |(_, balance)| *balance);
            let minimum = <crate::Runtime as pallet_staking::Config>::MIN_VALIDATOR_BOND;
            if validator.bond != 0
                && (validator.bond < minimum
                    || funds.saturating_sub(crate::EXISTENTIAL_DEPOSIT) < validator.bond)
            {
                return Err(invalid(
                    "the bond is below the minimum or above the genesis balance",
                ));
            }
        }
        Ok(())
    }

    /// The genesis state as a set of writes.
    pub fn genesis_changes(&self) -> Changes {
        let empty = BTreeMap::new();
        let mut ext = Ext::new(&empty);
        System::build_genesis(
            &mut ext,
            &pallet_system::GenesisConfig {
                timestamp: self.genesis.timestamp,
            },
        );
        Balances::build_genesis(
            &mut ext,
            &pallet_balances::GenesisConfig {
                balances: self.genesis.balances.clone(),
            },
        );
        Staking::build_genesis(
            &mut ext,
            &pallet_staking::GenesisConfig {
                bonds: Vec::new(),
                validators: self
                    .validators
                    .iter()
                    .map(|v| {
                        let validator = pallet_staking::Validator {
                            account: v.account,
                            consensus_key: v.consensus_key,
                            beacon_key: v.beacon_key,
                            address: v.address.clone().into_bytes(),
                        };
                        (validator, v.bond)
                    })
                    .collect(),
                epoch_length: self.genesis.epoch_length,
                chain_id: self.id.as_bytes().to_vec(),
            },
        );
        Jobs::build_genesis(
            &mut ext,
            &pallet_jobs::GenesisConfig {
                lifetimes: self
                    .genesis
                    .lifetimes
                    .map(|lifetimes| pallet_jobs::BlobLifetimes {
                        blob_ttl: lifetimes.blob_ttl,
                        model_retention: lifetimes.model_retention,
                    }),
            },
        );
        crate::Verification::build_genesis(
            &mut ext,
            &pallet_verification::GenesisConfig {
                windows: self.genesis.windows.map(|windows| {
                    pallet_verification::VerificationWindows {
                        reveal: windows.reveal,
                        attest: windows.attest,
                        dispute_move: windows.dispute_move,
                        sample_wait: windows.sample_wait,
                    }
                }),
            },
        );
        let (changes, _events) = ext.into_changes();
        changes
    }

    /// The genesis block, its state writes and the state-tree nodes they create.
    pub fn genesis(&self) -> Genesis {
        let changes = self.genesis_changes();
        let update = smt::update(&MemoryNodeStore::new(), Hash::ZERO, &changes)
            .expect("an empty in-memory tree has every node it needs");
        let header = Header {
            parent_hash: Hash::ZERO,
            number: Compact(0),
            timestamp: self.genesis.timestamp,
            author: AccountId::default(),
            beacon: pallet_staking::beacon::BeaconProof::GENESIS,
            extrinsics_root: extrinsics_root(&[]),
            state_root: update.root,
            events_root: events_root(&[]),
        };
        Genesis {
            block: Block {
                header,
                extrinsics: Vec::new(),
            },
            changes,
            nodes: update.new_nodes,
        }
    }
}

/// Everything needed to write block 0.
pub struct Genesis {
    /// The block.
    pub block: Block,
    /// Its state.
    pub changes: Changes,
    /// State-tree nodes of that state.
    pub nodes: Vec<(Hash, Vec<u8>)>,
}
