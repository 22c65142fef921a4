//! # The Agora runtime
//!
//! A pure state-transition function: given the state after a parent block and a block, it
//! returns the state changes and events of that block, or says precisely why the block is
//! invalid. It reads no clock, no randomness and no hash-map order; the timestamp comes from the
//! header, and everything it writes is kept in ordered maps.
//!
//! The runtime composes the pallets (index = first byte of every call and event):
//!
//! | index | pallet | what it holds |
//! |---|---|---|
//! | 0 | `System` ([`pallet_system`]) | nonces, block number, timestamp, recent block hashes |
//! | 1 | `Balances` ([`pallet_balances`]) | free/reserved balances, total issuance |
//!
//! Modules:
//! - [`extrinsic`]: the signed extrinsic format and signature checks (single and batch).
//! - [`block`]: headers and blocks.
//! - [`executive`]: transaction validation, block building and block execution; fees.
//! - [`genesis`]: chain specs and the genesis block.

pub mod block;
pub mod executive;
pub mod extrinsic;
pub mod genesis;

use agora_primitives::dispatch::{DispatchError, PalletError, Weight};
use agora_primitives::storage::RawEvent;
use agora_primitives::{Balance, BlockNumber, AGR};
use parity_scale_codec::{Decode, Encode};

/// Version of the state-transition rules; part of every signing payload, so an extrinsic
/// signed for one version cannot be replayed under another.
pub const SPEC_VERSION: u32 = 1;

/// The runtime: implements every pallet's `Config`.
pub struct Runtime;

/// Pallet index of System.
pub const SYSTEM_INDEX: u8 = 0;
/// Pallet index of Balances.
pub const BALANCES_INDEX: u8 = 1;

impl pallet_system::Config for Runtime {
    const SYSTEM_PALLET_INDEX: u8 = SYSTEM_INDEX;
    const BLOCK_HASH_COUNT: BlockNumber = 256;
    const MAX_REMARK_LEN: u32 = 4096;
}

impl pallet_balances::Config for Runtime {
    const BALANCES_PALLET_INDEX: u8 = BALANCES_INDEX;
    const EXISTENTIAL_DEPOSIT: Balance = EXISTENTIAL_DEPOSIT;
}

/// The system pallet of this runtime.
pub type System = pallet_system::Pallet<Runtime>;
/// The balances pallet of this runtime.
pub type Balances = pallet_balances::Pallet<Runtime>;

/// Smallest balance an account can be created with: 0.001 AGR.
pub const EXISTENTIAL_DEPOSIT: Balance = AGR / 1_000;

/// Fee parameters. A fee is `weight × FEE_PER_WEIGHT + length × FEE_PER_BYTE + tip`.
pub mod fees {
    use super::*;
    /// Plancks charged per unit of weight (nanosecond of reference compute).
    pub const FEE_PER_WEIGHT: Balance = 1_000;
    /// Plancks charged per byte of encoded extrinsic (block space and bandwidth).
    pub const FEE_PER_BYTE: Balance = 100_000;
    /// Weight of what every extrinsic costs before its call: signature check, nonce, fee.
    pub const EXTRINSIC_BASE_WEIGHT: Weight = 60_000;
}

/// Limits of one block.
pub mod limits {
    use super::*;
    /// Most weight a block may use: 2 s of reference compute.
    pub const MAX_BLOCK_WEIGHT: Weight = 2_000_000_000;
    /// Most bytes of extrinsics a block may carry.
    pub const MAX_BLOCK_LEN: usize = 5 * 1024 * 1024;
}

/// Every call of the runtime.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum RuntimeCall {
    /// A call of System.
    #[codec(index = 0)]
    System(pallet_system::Call),
    /// A call of Balances.
    #[codec(index = 1)]
    Balances(pallet_balances::Call),
}

impl RuntimeCall {
    /// Weight of the call itself (without the extrinsic base weight).
    pub fn weight(&self) -> Weight {
        match self {
            RuntimeCall::System(call) => call.weight(),
            RuntimeCall::Balances(call) => call.weight(),
        }
    }
}

/// Every event of the runtime. Its SCALE encoding is the pallet index followed by the pallet's
/// event, which is exactly what pallets deposit as [`RawEvent::event`].
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub enum RuntimeEvent {
    /// An event of System.
    #[codec(index = 0)]
    System(pallet_system::Event),
    /// An event of Balances.
    #[codec(index = 1)]
    Balances(pallet_balances::Event),
}

/// A decoded event with its phase.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EventRecord {
    /// When in the block it happened.
    pub phase: agora_primitives::storage::Phase,
    /// What happened.
    pub event: RuntimeEvent,
}

/// Decodes raw events as deposited by pallets.
pub fn decode_events(raw: &[RawEvent]) -> Result<Vec<EventRecord>, parity_scale_codec::Error> {
    raw.iter()
        .map(|record| {
            Ok(EventRecord {
                phase: record.phase,
                event: RuntimeEvent::decode(&mut &record.event[..])?,
            })
        })
        .collect()
}

/// A dispatch error in words: `"Balances::InsufficientBalance: the free balance is lower than
/// the amount"`.
pub fn describe_dispatch_error(error: DispatchError) -> String {
    fn describe<E: PalletError>(pallet: &str, index: u8) -> String {
        match E::from_index(index) {
            Some(error) => format!("{pallet}::{}: {error}", error.name()),
            None => format!("{pallet}: unknown error {index}"),
        }
    }
    match error.pallet {
        SYSTEM_INDEX => describe::<pallet_system::Error>("System", error.error),
        BALANCES_INDEX => describe::<pallet_balances::Error>("Balances", error.error),
        other => format!("unknown pallet {other}, error {}", error.error),
    }
}

#[cfg(test)]
mod tests;
