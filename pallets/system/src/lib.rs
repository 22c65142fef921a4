//! # System pallet
//!
//! The bookkeeping every other pallet relies on:
//!
//! - **Accounts**: one [`AccountInfo`] per account that ever signed an extrinsic, holding its
//!   nonce. Nonces are never reset, even when an account's balance drops to zero, so a signed
//!   extrinsic can never be replayed.
//! - **Block context**: the current block number, its timestamp (written by the proposer into
//!   the header and checked here to increase strictly), the parent hash, and the hashes of the
//!   last [`Config::BLOCK_HASH_COUNT`] blocks (mortal extrinsics sign one of them).
//! - **Events**: deposited through [`Ext`](agora_primitives::storage::Ext) with the pallet
//!   index; the runtime collects them per block (they are committed to by the header's
//!   `events_root`, not kept in state).
//!
//! Layout follows FRAME: config → events → errors → storage → genesis → hooks → calls.

use agora_primitives::dispatch::{DispatchResult, PalletError, Weight};
use agora_primitives::storage::{Ext, StateIter, StateRead};
use agora_primitives::{AccountId, BlockNumber, Hash, Moment, Nonce};
use parity_scale_codec::{Decode, Encode};
use std::marker::PhantomData;

// ---------------------------------------------------------------------------------------------
// Config

/// Runtime parameters of the pallet.
pub trait Config {
    /// Index of this pallet in the runtime (first byte of its calls and events).
    const SYSTEM_PALLET_INDEX: u8;
    /// How many recent block hashes are kept for mortal extrinsics.
    const BLOCK_HASH_COUNT: BlockNumber;
    /// Largest remark accepted, in bytes.
    const MAX_REMARK_LEN: u32;
}

// ---------------------------------------------------------------------------------------------
// Events

/// Events of the system pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize, scale_info::TypeInfo)]
pub enum Event {
    /// An extrinsic was applied and its call succeeded.
    #[codec(index = 0)]
    ExtrinsicSuccess {
        /// Weight charged for it.
        weight: Weight,
    },
    /// An extrinsic was applied (fee paid, nonce used) but its call failed; nothing it wrote
    /// was kept.
    #[codec(index = 1)]
    ExtrinsicFailed {
        /// Pallet index and error index of the failure.
        error: agora_primitives::dispatch::DispatchError,
        /// Weight charged for it.
        weight: Weight,
    },
    /// A remark was made.
    #[codec(index = 2)]
    Remarked {
        /// Who made it.
        who: AccountId,
        /// blake3 of the remark bytes.
        hash: Hash,
    },
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Errors of the system pallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, scale_info::TypeInfo)]
pub enum Error {
    /// The remark is longer than `MAX_REMARK_LEN`.
    #[error("the remark is longer than the maximum remark length")]
    RemarkTooLong,
}

agora_primitives::impl_pallet_error!(Error { RemarkTooLong });

// ---------------------------------------------------------------------------------------------
// Storage

/// Per-account bookkeeping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct AccountInfo {
    /// Number of extrinsics this account has had applied; the next one must carry this nonce.
    pub nonce: Nonce,
}

pallet_support::storage! {
    "System";
    /// `AccountId → AccountInfo`.
    pub AccountNonce: map AccountId => AccountInfo;
    /// Number of the block being executed (or last executed).
    pub Number: value BlockNumber;
    /// Timestamp of the block being executed (or last executed), in milliseconds.
    pub Now: value Moment;
    /// Hash of the parent of the block being executed.
    pub ParentHash: value Hash;
    /// `BlockNumber → Hash` for the last `BLOCK_HASH_COUNT` blocks, genesis included while in range.
    pub BlockHash: map BlockNumber => Hash;
    /// The random beacon of the block being executed (or last executed). Written by
    /// `pallet_staking::beacon`, which checks the proposer's VRF proof; kept here, beside the other
    /// per-block values, so that every pallet can read it. Absent before the first write: zero.
    pub Beacon: value Hash;
}

// ---------------------------------------------------------------------------------------------
// Genesis

/// Genesis configuration: the genesis timestamp.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenesisConfig {
    /// Timestamp of block 0, in milliseconds.
    pub timestamp: Moment,
}

// ---------------------------------------------------------------------------------------------
// Pallet

/// The system pallet.
pub struct Pallet<T>(PhantomData<T>);

/// What `on_initialize` needs to know about the block being executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockContext {
    /// Number of the block.
    pub number: BlockNumber,
    /// Hash of its parent.
    pub parent_hash: Hash,
    /// Timestamp written by the proposer.
    pub timestamp: Moment,
}

/// Why a block's context is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The block number is not the parent's plus one.
    #[error("block number {got} does not follow the parent's number {parent}")]
    NumberNotSequential {
        /// Parent's number.
        parent: BlockNumber,
        /// Number in the header.
        got: BlockNumber,
    },
    /// The timestamp does not increase.
    #[error("block timestamp {got} ms is not after the parent's timestamp {parent} ms")]
    TimestampNotIncreasing {
        /// Parent's timestamp.
        parent: Moment,
        /// Timestamp in the header.
        got: Moment,
    },
    /// The parent hash is not the hash of the last block.
    #[error("parent hash {got} is not the hash of the last executed block {expected}")]
    WrongParent {
        /// Hash of the last executed block.
        expected: Hash,
        /// Parent hash in the header.
        got: Hash,
    },
}

impl<T: Config> Pallet<T> {
    /// Writes genesis state.
    pub fn build_genesis(ext: &mut Ext<'_>, config: &GenesisConfig) {
        Number::put(ext, &0);
        Now::put(ext, &config.timestamp);
        ParentHash::put(ext, &Hash::ZERO);
    }

    /// Starts a block: checks and records its context, remembers the parent's hash.
    ///
    /// `parent_hash_expected` is the hash of the block whose post-state `ext` reads; the node
    /// passes it because a block's own hash is not part of its state.
    pub fn on_initialize(
        ext: &mut Ext<'_>,
        context: &BlockContext,
        parent_hash_expected: Hash,
    ) -> Result<Weight, ContextError> {
        let parent_number = Number::get(ext).unwrap_or(0);
        if Some(context.number) != parent_number.checked_add(1) {
            return Err(ContextError::NumberNotSequential {
                parent: parent_number,
                got: context.number,
            });
        }
        let parent_time = Now::get(ext).unwrap_or(0);
        if context.timestamp <= parent_time {
            return Err(ContextError::TimestampNotIncreasing {
                parent: parent_time,
                got: context.timestamp,
            });
        }
        if context.parent_hash != parent_hash_expected {
            return Err(ContextError::WrongParent {
                expected: parent_hash_expected,
                got: context.parent_hash,
            });
        }
        Number::put(ext, &context.number);
        Now::put(ext, &context.timestamp);
        ParentHash::put(ext, &context.parent_hash);
        BlockHash::insert(ext, &parent_number, &context.parent_hash);
        // Keep exactly BLOCK_HASH_COUNT hashes: one in, one out, so the map stays bounded.
        if let Some(expired) = parent_number.checked_sub(T::BLOCK_HASH_COUNT) {
            BlockHash::remove(ext, &expired);
        }
        Ok(weights::ON_INITIALIZE)
    }

    /// The random beacon of the block being executed (see [`Beacon`]).
    pub fn beacon(state: &impl StateRead) -> Hash {
        Beacon::get(state).unwrap_or(Hash::ZERO)
    }

    /// The next nonce `who` must use.
    pub fn account_nonce(state: &impl StateRead, who: &AccountId) -> Nonce {
        AccountNonce::get(state, who).unwrap_or_default().nonce
    }

    /// Uses up the current nonce of `who`.
    pub fn inc_nonce(ext: &mut Ext<'_>, who: &AccountId) {
        let mut info = AccountNonce::get(ext, who).unwrap_or_default();
        // u32 nonces run out after 4 billion extrinsics from one account; refusing is better
        // than wrapping round to a nonce whose old extrinsics could then be replayed.
        info.nonce = info
            .nonce
            .checked_add(1)
            .expect("nonce overflow is refused at validation");
        AccountNonce::insert(ext, who, &info);
    }

    /// Number of the block being executed.
    pub fn block_number(state: &impl StateRead) -> BlockNumber {
        Number::get(state).unwrap_or(0)
    }

    /// Timestamp of the block being executed.
    pub fn now(state: &impl StateRead) -> Moment {
        Now::get(state).unwrap_or(0)
    }

    /// Hash of block `number`, if it is among the recent ones kept.
    pub fn block_hash(state: &impl StateRead, number: BlockNumber) -> Option<Hash> {
        BlockHash::get(state, &number)
    }

    /// Checks the pallet's invariants over a whole state. Run after every test.
    ///
    /// 1. At most `BLOCK_HASH_COUNT` recent block hashes are kept, all of blocks before the
    ///    current one, and the most recent one is the parent's.
    /// 2. No account's nonce record is the default (records are only written by `inc_nonce`).
    pub fn try_state(state: &impl StateIter) -> Result<(), String> {
        let number = Self::block_number(state);
        let hashes = BlockHash::iter(state);
        let limit = usize::try_from(T::BLOCK_HASH_COUNT).unwrap_or(usize::MAX);
        if hashes.len() > limit {
            return Err(format!(
                "{} block hashes kept, more than {limit}",
                hashes.len()
            ));
        }
        if let Some((kept, _)) = hashes
            .iter()
            .find(|(kept, _)| *kept >= number && number > 0)
        {
            return Err(format!(
                "hash of block {kept} kept while executing block {number}"
            ));
        }
        if number > 0 {
            let parent = number.saturating_sub(1);
            if BlockHash::get(state, &parent) != ParentHash::get(state) {
                return Err(format!(
                    "the hash kept for block {parent} is not the parent hash"
                ));
            }
        }
        if let Some((who, _)) = AccountNonce::iter(state)
            .into_iter()
            .find(|(_, info)| info.nonce == 0)
        {
            return Err(format!("account {who} is stored with nonce 0"));
        }
        Ok(())
    }

    /// Deposits a system event.
    pub fn deposit_event(ext: &mut Ext<'_>, event: Event) {
        ext.deposit_event(T::SYSTEM_PALLET_INDEX, &event);
    }

    /// Dispatches a call signed by `who`.
    pub fn dispatch(ext: &mut Ext<'_>, who: &AccountId, call: &Call) -> DispatchResult {
        match call {
            Call::Remark { remark } => {
                pallet_support::ensure!(
                    remark.len() <= pallet_support::to_usize(T::MAX_REMARK_LEN),
                    Error::RemarkTooLong.into_dispatch(T::SYSTEM_PALLET_INDEX)
                );
                Self::deposit_event(
                    ext,
                    Event::Remarked {
                        who: *who,
                        hash: Hash::of(remark),
                    },
                );
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

/// Calls of the system pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Records a remark: its hash goes into an event, its bytes only into the block.
    #[codec(index = 0)]
    Remark {
        /// The remark.
        remark: Vec<u8>,
    },
}

impl Call {
    /// Weight of the call, fixed before dispatch.
    pub fn weight(&self) -> Weight {
        match self {
            Call::Remark { remark } => weights::REMARK_BASE
                .saturating_add(weights::REMARK_PER_BYTE.saturating_mul(remark.len() as u64)),
        }
    }
}

/// Weights of the pallet's operations, in nanoseconds on the reference machine.
pub mod weights {
    use super::Weight;
    /// `on_initialize`: four writes.
    pub const ON_INITIALIZE: Weight = 20_000;
    /// `remark`, fixed part.
    pub const REMARK_BASE: Weight = 2_000;
    /// `remark`, per byte hashed.
    pub const REMARK_PER_BYTE: Weight = 2;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use agora_primitives::storage::apply_changes;
    use std::collections::BTreeMap;

    pallet_support::mock_runtime!(Test: system {
        const BLOCK_HASH_COUNT: BlockNumber = 3;
        const MAX_REMARK_LEN: u32 = 8;
    });
    type System = Pallet<Test>;

    fn genesis() -> BTreeMap<Vec<u8>, Vec<u8>> {
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        System::build_genesis(&mut ext, &GenesisConfig { timestamp: 1_000 });
        let (changes, _) = ext.into_changes();
        let mut state = BTreeMap::new();
        apply_changes(&mut state, &changes);
        state
    }

    fn context(number: BlockNumber, parent: u8, timestamp: Moment) -> BlockContext {
        BlockContext {
            number,
            parent_hash: Hash([parent; 32]),
            timestamp,
        }
    }

    #[test]
    fn block_hashes_are_kept_for_a_bounded_window() {
        let mut state = genesis();
        for number in 1..=6u64 {
            let mut ext = Ext::new(&state);
            let parent = u8::try_from(number).unwrap();
            System::on_initialize(
                &mut ext,
                &context(number, parent, 1_000 + number),
                Hash([parent; 32]),
            )
            .unwrap();
            let (changes, _) = ext.into_changes();
            apply_changes(&mut state, &changes);
        }
        // Block 6 recorded the hash of block 5; with a window of 3, blocks 3..=5 are kept.
        // Iteration follows hashed keys; sort to compare as a set.
        let mut kept: Vec<BlockNumber> = BlockHash::iter(&state)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        kept.sort_unstable();
        assert_eq!(kept, vec![3, 4, 5]);
        assert_eq!(System::block_hash(&state, 5), Some(Hash([6; 32])));
        assert_eq!(System::block_number(&state), 6);
        System::try_state(&state).unwrap();
    }

    #[test]
    fn invariant_checker_catches_an_unbounded_hash_window() {
        let mut state = genesis();
        System::try_state(&state).unwrap();
        let backend = state.clone();
        let mut ext = Ext::new(&backend);
        for number in 0..4u64 {
            BlockHash::insert(&mut ext, &number, &Hash::ZERO);
        }
        let (changes, _) = ext.into_changes();
        apply_changes(&mut state, &changes);
        assert_eq!(
            System::try_state(&state).unwrap_err(),
            "4 block hashes kept, more than 3"
        );
    }

    #[test]
    fn context_errors_name_the_values() {
        let state = genesis();
        let mut ext = Ext::new(&state);
        let error =
            System::on_initialize(&mut ext, &context(2, 1, 2_000), Hash([1; 32])).unwrap_err();
        assert_eq!(
            error,
            ContextError::NumberNotSequential { parent: 0, got: 2 }
        );
        let error =
            System::on_initialize(&mut ext, &context(1, 1, 1_000), Hash([1; 32])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "block timestamp 1000 ms is not after the parent's timestamp 1000 ms"
        );
        let error =
            System::on_initialize(&mut ext, &context(1, 1, 2_000), Hash([2; 32])).unwrap_err();
        assert!(matches!(error, ContextError::WrongParent { .. }));
        // Nothing was written by the refused attempts.
        assert!(ext.block_changes().is_empty());
        System::try_state(&state).unwrap();
    }

    #[test]
    fn nonces_increase_and_remarks_are_bounded() {
        let state = genesis();
        let mut ext = Ext::new(&state);
        let alice = AccountId([1; 32]);
        assert_eq!(System::account_nonce(&ext, &alice), 0);
        System::inc_nonce(&mut ext, &alice);
        System::inc_nonce(&mut ext, &alice);
        assert_eq!(System::account_nonce(&ext, &alice), 2);
        let long = Call::Remark { remark: vec![0; 9] };
        let error = System::dispatch(&mut ext, &alice, &long).unwrap_err();
        assert_eq!(Error::from_index(error.error), Some(Error::RemarkTooLong));
        System::dispatch(
            &mut ext,
            &alice,
            &Call::Remark {
                remark: b"hi".to_vec(),
            },
        )
        .unwrap();
        assert_eq!(ext.events().len(), 1);
        let (changes, _) = ext.into_changes();
        let mut after = state.clone();
        apply_changes(&mut after, &changes);
        System::try_state(&after).unwrap();
    }

    #[test]
    fn error_indices_round_trip() {
        for index in 0..=u8::MAX {
            if let Some(error) = Error::from_index(index) {
                assert_eq!(error.index(), index);
            }
        }
    }
}
