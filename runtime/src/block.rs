//! Block and header types.
//!
//! ```text
//! Header = parent_hash ‖ Compact<number> ‖ timestamp: u64 ‖ author: [u8;32]
//!        ‖ beacon: (proposer: [u8;32] ‖ pre_output: [u8;32] ‖ proof: [u8;64])
//!        ‖ extrinsics_root ‖ state_root ‖ events_root
//! Block  = Header ‖ Vec<Extrinsic>
//! hash(block) = blake3(SCALE(Header))
//! ```
//!
//! - `beacon`: the proposer's consensus key and its VRF over the parent's beacon
//!   (`pallet_staking::beacon`); the block's random beacon is derived from it.
//! - `extrinsics_root`: blake3 of the SCALE encoding of the extrinsic list.
//! - `state_root`: root of the sparse Merkle tree over the whole state after the block.
//! - `events_root`: blake3 of the SCALE encoding of the block's event records. Events are not
//!   kept in state (that would rewrite a large value every block); the node stores them beside
//!   the block and the header commits to them.

use crate::extrinsic::Extrinsic;
use agora_primitives::storage::RawEvent;
use agora_primitives::{AccountId, BlockNumber, Hash, Moment};
pub use pallet_staking::beacon::BeaconProof;
use parity_scale_codec::{Compact, Decode, Encode};

/// A block header.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Header {
    /// Hash of the parent block; zero for genesis.
    pub parent_hash: Hash,
    /// Height; genesis is 0.
    pub number: Compact<BlockNumber>,
    /// Milliseconds since the Unix epoch, chosen by the proposer, strictly increasing.
    pub timestamp: Moment,
    /// Account credited with the block's fees.
    pub author: AccountId,
    /// Who proposed the block, and its contribution to the random beacon.
    pub beacon: BeaconProof,
    /// blake3 of the encoded extrinsics.
    pub extrinsics_root: Hash,
    /// State root after the block.
    pub state_root: Hash,
    /// blake3 of the encoded events.
    pub events_root: Hash,
}

impl Header {
    /// The block hash.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }

    /// The block number.
    pub fn number(&self) -> BlockNumber {
        self.number.0
    }
}

/// A block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Block {
    /// Its header.
    pub header: Header,
    /// Its extrinsics, in execution order.
    pub extrinsics: Vec<Extrinsic>,
}

impl Block {
    /// The block hash (the header's).
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }
}

/// blake3 of the encoded extrinsic list.
pub fn extrinsics_root(extrinsics: &[Extrinsic]) -> Hash {
    Hash::of(&extrinsics.encode())
}

/// blake3 of the encoded event list.
pub fn events_root(events: &[RawEvent]) -> Hash {
    Hash::of(&events.encode())
}
