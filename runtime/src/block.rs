//! Block and header types.
//!
//! ```text
//! Header = parent_hash ‖ Compact<number> ‖ timestamp: u64 ‖ author: [u8;32]
//!        ‖ beacon: (proposer: [u8;32] ‖ pre_output: [u8;32] ‖ proof: [u8;64])
//!        ‖ extrinsics_root ‖ state_root ‖ events_root
//! Block  = Header ‖ Vec<Extrinsic>
//! hash(block) = blake2_256(parent_hash ‖ Compact<number> ‖ state_root ‖ extrinsics_root
//!                          ‖ digest)
//! digest = Vec<DigestItem> = [PreRuntime(*b"agra", SCALE(timestamp ‖ author ‖ beacon
//!                                                        ‖ events_root))]
//! ```
//!
//! The hash is Substrate's header hash: the header re-arranged as a Substrate header whose
//! digest carries the fields Substrate has no place for, in one pre-runtime digest item of
//! engine `agra`. The RPC serves headers in that shape (`digest.logs`), so a Substrate client
//! (polkadot.js) that hashes a header it was given gets the node's block hash, which it needs
//! to sign mortal extrinsics and to find its own extrinsic in a block. Every header field is
//! covered by the hash, exactly once.
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

/// The engine id of the digest item carrying Agora's header fields.
pub const DIGEST_ENGINE: [u8; 4] = *b"agra";
/// `DigestItem::PreRuntime`'s index in Substrate's digest item enum.
const PRE_RUNTIME: u8 = 6;

impl Header {
    /// The block hash: blake2_256 of [`Header::substrate_encoding`].
    pub fn hash(&self) -> Hash {
        Hash::blake2_256(&self.substrate_encoding())
    }

    /// The header as a Substrate header: `parent_hash ‖ Compact<number> ‖ state_root ‖
    /// extrinsics_root ‖ digest`.
    pub fn substrate_encoding(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.parent_hash.encode_to(&mut out);
        self.number.encode_to(&mut out);
        self.state_root.encode_to(&mut out);
        self.extrinsics_root.encode_to(&mut out);
        vec![self.digest_item()].encode_to(&mut out);
        out
    }

    /// The one digest item, SCALE-encoded as Substrate's `DigestItem::PreRuntime(engine,
    /// data)`: `0x06 ‖ b"agra" ‖ Compact(len) ‖ SCALE(timestamp, author, beacon,
    /// events_root)`.
    pub fn digest_item(&self) -> DigestItem {
        let data = (self.timestamp, self.author, &self.beacon, self.events_root).encode();
        let mut item = Vec::with_capacity(data.len() + 8);
        item.push(PRE_RUNTIME);
        item.extend_from_slice(&DIGEST_ENGINE);
        data.encode_to(&mut item);
        DigestItem(item)
    }

    /// The block number.
    pub fn number(&self) -> BlockNumber {
        self.number.0
    }
}

/// One encoded digest item (it encodes as its bytes, with no length prefix of its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestItem(pub Vec<u8>);

impl Encode for DigestItem {
    fn size_hint(&self) -> usize {
        self.0.len()
    }
    fn encode_to<T: parity_scale_codec::Output + ?Sized>(&self, output: &mut T) {
        output.write(&self.0);
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
