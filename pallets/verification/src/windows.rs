//! The verification windows — how many blocks each party has for its part of a spot check —
//! as the genesis set them.
//!
//! A production chain keeps the [`Config`]'s constants (`REVEAL_BLOCKS`, `ATTEST_BLOCKS`,
//! `MOVE_BLOCKS`, `SAMPLE_WAIT_BLOCKS`) and writes nothing, so its genesis state is what it
//! was before windows could be set. A test chain whose blocks are a few hundred milliseconds
//! may give the parties more blocks, so that a deadline measured in blocks does not race
//! wall-clock work on a loaded machine. No call changes [`Windows`]: every audit is judged by
//! the windows the chain started with.

use crate::{Config, Pallet};
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::BlockNumber;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::Serialize;

pallet_support::storage! {
    "Verification";
    /// The windows the genesis set; absent on a chain that keeps the [`Config`]'s.
    pub Windows: value VerificationWindows;
}

/// Blocks each party has for its part of a spot check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct VerificationWindows {
    /// Blocks the worker has for each reveal (`REVEAL_BLOCKS`).
    pub reveal: BlockNumber,
    /// Blocks verifiers have to re-execute and attest (`ATTEST_BLOCKS`).
    pub attest: BlockNumber,
    /// Blocks each dispute move is due in (`MOVE_BLOCKS`).
    pub dispute_move: BlockNumber,
    /// Blocks a draw may wait for verifiers' stake to come free (`SAMPLE_WAIT_BLOCKS`).
    pub sample_wait: BlockNumber,
}

/// Genesis configuration of the verification pallet: its windows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenesisConfig {
    /// Windows other than the [`Config`]'s, for test chains; `None` keeps the `Config`'s and
    /// writes nothing.
    pub windows: Option<VerificationWindows>,
}

impl<T: Config> Pallet<T> {
    /// Writes the genesis windows, if any.
    ///
    /// # Panics
    /// If a window is 0 blocks: the chain spec is wrong (its check refuses it first).
    pub fn build_genesis(ext: &mut Ext<'_>, config: &GenesisConfig) {
        if let Some(windows) = &config.windows {
            assert!(
                windows.reveal > 0 && windows.attest > 0 && windows.dispute_move > 0,
                "genesis verification windows must be at least one block: {windows:?}"
            );
            Windows::put(ext, windows);
        }
    }

    /// The windows in force: the genesis's, else the [`Config`]'s.
    pub fn windows(state: &impl StateRead) -> VerificationWindows {
        Windows::get(state).unwrap_or(VerificationWindows {
            reveal: T::REVEAL_BLOCKS,
            attest: T::ATTEST_BLOCKS,
            dispute_move: T::MOVE_BLOCKS,
            sample_wait: T::SAMPLE_WAIT_BLOCKS,
        })
    }
}
