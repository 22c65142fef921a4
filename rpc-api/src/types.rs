//! Request and response types as they travel: each serializes to exactly the JSON the node has
//! always sent. Objects list their fields in the order they appear on the wire (alphabetical
//! where the node used to build them with `serde_json::json!`), so the bytes stay the same.

use agora_primitives::{decode_hex, encode_hex, AccountId, Balance, BlockNumber, Hash, HexError};
use agora_primitives::{Moment, Nonce};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `0x`-prefixed hex text of some bytes, kept as text: byte strings in parameters and answers
/// (storage keys and values, extrinsics, proofs, blobs).
///
/// Deserializing accepts any string and [`Hex::decode`] checks it, so the node decides what a
/// malformed parameter means (1002 for an extrinsic, -32602 naming the key for a storage key)
/// and a 64 MiB blob is decoded on a blocking thread, not while parsing the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Hex(String);

impl Hex {
    /// `bytes` as `0x`-prefixed lowercase hex.
    pub fn encode(bytes: &[u8]) -> Hex {
        Hex(encode_hex(bytes))
    }

    /// The bytes; the `0x` prefix is optional. The error repeats the whole text, so do not
    /// show it for very long inputs.
    pub fn decode(&self) -> Result<Vec<u8>, HexError> {
        decode_hex(&self.0)
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The text as sent.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<String> for Hex {
    /// Takes `text` as it is, unchecked (see [`Hex::decode`]).
    fn from(text: String) -> Hex {
        Hex(text)
    }
}

impl From<&[u8]> for Hex {
    fn from(bytes: &[u8]) -> Hex {
        Hex::encode(bytes)
    }
}

impl From<&Vec<u8>> for Hex {
    fn from(bytes: &Vec<u8>) -> Hex {
        Hex::encode(bytes)
    }
}

impl fmt::Display for Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `system_health`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether the node is catching up (never, today: consensus drives it block by block).
    #[serde(rename = "isSyncing")]
    pub is_syncing: bool,
    /// Validators other than this node.
    pub peers: u64,
    /// Whether the chain has more than one validator.
    #[serde(rename = "shouldHavePeers")]
    pub should_have_peers: bool,
}

/// Who proposed a block and its contribution to the random beacon (`pallet_staking::beacon`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    /// The VRF pre-output (the block's beacon is `blake3(tag ‖ parent's beacon ‖ this)`); for a
    /// proposer on the ECVRF rule (spec version 15), Γ of its proof, and the beacon takes
    /// `blake3("agora/beacon/ecvrf/v1" ‖ β)` in its place (`pallet_staking::beacon`).
    #[serde(rename = "preOutput")]
    pub pre_output: Hash,
    /// The VRF proof, 64 bytes, as `0x` hex.
    #[serde(with = "hex_64")]
    pub proof: [u8; 64],
    /// The proposer's consensus key.
    pub proposer: Hash,
}

/// serde of `[u8; 64]` as `0x` hex (serde derives arrays up to 32 bytes only).
mod hex_64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        bytes: &[u8; 64],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&agora_primitives::encode_hex(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<[u8; 64], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = agora_primitives::decode_hex(&text).map_err(serde::de::Error::custom)?;
        <[u8; 64]>::try_from(bytes.as_slice())
            .map_err(|_| serde::de::Error::custom(format!("{} bytes, not 64", bytes.len())))
    }
}

/// A header with its hash (`chain_getHeader`, `chain_getBlock`, the head subscriptions).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Account credited with the block's fees.
    pub author: AccountId,
    /// Who proposed the block, and its beacon VRF.
    pub beacon: Beacon,
    /// The header's fields Substrate has no place for, as Substrate's digest: one
    /// `PreRuntime` item of engine `agra` ([`agora_runtime::block`]). With `parentHash`,
    /// `number`, `stateRoot` and `extrinsicsRoot` it makes the Substrate header a Substrate
    /// client hashes to [`Header::hash`].
    pub digest: Digest,
    /// blake3 of the encoded event records (see [`crate::EncodedEvents::hash`]).
    #[serde(rename = "eventsRoot")]
    pub events_root: Hash,
    /// blake3 of the encoded extrinsics.
    #[serde(rename = "extrinsicsRoot")]
    pub extrinsics_root: Hash,
    /// The block's hash ([`agora_runtime::block::Header::hash`]).
    pub hash: Hash,
    /// Height; genesis is 0.
    pub number: BlockNumber,
    /// Hash of the parent; zero for genesis.
    #[serde(rename = "parentHash")]
    pub parent_hash: Hash,
    /// State root after the block.
    #[serde(rename = "stateRoot")]
    pub state_root: Hash,
    /// Milliseconds since the Unix epoch, chosen by the proposer.
    pub timestamp: Moment,
}

impl From<&agora_runtime::block::Header> for Header {
    fn from(header: &agora_runtime::block::Header) -> Header {
        Header {
            author: header.author,
            beacon: Beacon {
                proposer: header.beacon.proposer,
                pre_output: Hash(header.beacon.pre_output),
                proof: header.beacon.proof,
            },
            events_root: header.events_root,
            extrinsics_root: header.extrinsics_root,
            digest: Digest {
                logs: vec![Hex::encode(&header.digest_item().0)],
            },
            hash: header.hash(),
            number: header.number(),
            parent_hash: header.parent_hash,
            state_root: header.state_root,
            timestamp: header.timestamp,
        }
    }
}

impl Header {
    /// The runtime's header. Its [`hash`](agora_runtime::block::Header::hash) equals
    /// [`Header::hash`] unless the node sent an inconsistent answer: compare them to check.
    pub fn to_runtime(&self) -> agora_runtime::block::Header {
        agora_runtime::block::Header {
            parent_hash: self.parent_hash,
            number: self.number.into(),
            timestamp: self.timestamp,
            author: self.author,
            beacon: agora_runtime::block::BeaconProof {
                proposer: self.beacon.proposer,
                pre_output: self.beacon.pre_output.0,
                proof: self.beacon.proof,
            },
            extrinsics_root: self.extrinsics_root,
            state_root: self.state_root,
            events_root: self.events_root,
        }
    }
}

/// `state_getRuntimeVersion`: Substrate's `RuntimeVersion`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeVersion {
    /// The runtime's name, [`agora_runtime::SPEC_NAME`].
    pub spec_name: String,
    /// The node's name.
    pub impl_name: String,
    /// Always 0.
    pub authoring_version: u32,
    /// [`agora_runtime::SPEC_VERSION`]: part of every signing payload.
    pub spec_version: u32,
    /// Always 0.
    pub impl_version: u32,
    /// Runtime APIs callable with `state_call`: none (clients fall back to the RPC methods).
    pub apis: Vec<(Hex, u32)>,
    /// [`agora_runtime::metadata::TRANSACTION_VERSION`]: part of every signing payload.
    pub transaction_version: u32,
    /// 1: values are stored whole under their keys.
    pub state_version: u8,
}

impl RuntimeVersion {
    /// The version of the runtime this crate is built with.
    pub fn current() -> RuntimeVersion {
        RuntimeVersion {
            spec_name: agora_runtime::SPEC_NAME.to_owned(),
            impl_name: "agora-node".to_owned(),
            authoring_version: 0,
            spec_version: agora_runtime::SPEC_VERSION,
            impl_version: 0,
            apis: Vec::new(),
            transaction_version: agora_runtime::metadata::TRANSACTION_VERSION,
            state_version: 1,
        }
    }
}

/// `payment_queryInfo`: Substrate's `RuntimeDispatchInfo`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchInfo {
    /// The extrinsic's weight (base plus call), in nanoseconds of reference compute: one number,
    /// as the `payment_queryInfo` polkadot.js decodes (`RuntimeDispatchInfoV1`) has it.
    pub weight: u64,
    /// Always `"normal"`: Agora has one dispatch class.
    pub class: String,
    /// The fee in plancks, tip excluded, as a decimal string (it may exceed 2⁵³).
    #[serde(with = "decimal")]
    pub partial_fee: Balance,
}

/// A `u128` as a JSON string of decimal digits.
mod decimal {
    use serde::{Deserialize, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(value: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<u128, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// `system_properties`: what wallets show amounts and addresses with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemProperties {
    /// The SS58 address prefix: 42.
    pub ss58_format: u16,
    /// Decimals of the token: 12 (1 AGR = 10¹² plancks).
    pub token_decimals: u32,
    /// The token's symbol: `AGR`.
    pub token_symbol: String,
}

impl SystemProperties {
    /// Agora's.
    pub fn current() -> SystemProperties {
        SystemProperties {
            ss58_format: agora_runtime::metadata::SS58_PREFIX,
            token_decimals: agora_primitives::TOKEN_DECIMALS,
            token_symbol: agora_runtime::metadata::TOKEN_SYMBOL.to_owned(),
        }
    }
}

/// A header's digest: SCALE-encoded digest items.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// The items.
    pub logs: Vec<Hex>,
}

/// A block: its header and its SCALE-encoded extrinsics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// The encoded extrinsics, in order.
    pub extrinsics: Vec<Hex>,
    /// The header.
    pub header: Header,
}

/// `chain_getBlock`: a block and, once finalized, the consensus certificate proving it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedBlock {
    /// The block.
    pub block: Block,
    /// The finality certificate (commonware's encoding; `null` until the block is finalized,
    /// and for genesis).
    #[serde(rename = "finalityCertificate")]
    pub finality_certificate: Option<Hex>,
}

/// `state_getReadProof`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadProof {
    /// The block whose state root the proofs are against.
    pub at: Hash,
    /// One SCALE-encoded [`agora_primitives::smt::Proof`] per key, in the order asked.
    pub proof: Vec<Hex>,
}

/// One block's answer of `state_queryStorageAt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageChangeSet {
    /// The block read.
    pub block: Hash,
    /// Each key asked, in order, with its value (`null`: absent).
    pub changes: Vec<(Hex, Option<Hex>)>,
}

/// `agora_balance`: balances of one account, in plancks. Amounts may exceed `u64`; they are
/// written and read as exact JSON integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountBalance {
    /// The account.
    pub address: AccountId,
    /// Spendable balance.
    pub free: Balance,
    /// Reserved balance.
    pub reserved: Balance,
    /// Free plus reserved.
    pub total: Balance,
    /// Nonce of the account in state (not counting pooled extrinsics).
    pub nonce: Nonce,
}

/// `blob_has`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobPresence {
    /// Whether the node's best state registers the blob.
    pub registered: bool,
    /// The registered size, if registered.
    pub size: Option<u64>,
    /// Whether this node holds the bytes.
    pub stored: bool,
}

/// `author_validatorKeys`: the public keys of the node's `--validator-key`, the two that
/// `agora validator register` names (both derive from the one secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorKeys {
    /// The sr25519 key of the node's block VRF proofs (`pallet_staking::beacon`).
    #[serde(rename = "beaconKey")]
    pub beacon_key: Hash,
    /// The consensus key's signature of `"agora/beacon-key-binding/v1" ‖ beacon key`: the
    /// key's holder vouches for the beacon key (`pallet_staking::beacon::verify_binding`).
    /// Empty from a node older than the field, which the CLI then refuses to trust.
    #[serde(default)]
    pub binding: Hex,
    /// The ed25519 consensus key, also the node's p2p identity.
    #[serde(rename = "consensusKey")]
    pub consensus_key: Hash,
}

/// `rpc_methods`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpcMethods {
    /// Every method the node serves (subscribe and unsubscribe methods included), sorted.
    pub methods: Vec<String>,
}

/// A notification of `author_submitAndWatchExtrinsic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "StatusWire", into = "StatusWire")]
pub enum ExtrinsicStatus {
    /// In the pool (`"ready"`): ready for a block, or waiting for the extrinsics before its
    /// nonce (the pool waits for a gap of up to 64 nonces).
    Ready,
    /// In a finalized block (`{"finalized": hash, "number": n}`); the last notification.
    Finalized {
        /// The block's hash.
        block: Hash,
        /// The block's number.
        number: BlockNumber,
    },
    /// Removed from the pool without being finalized (`"dropped"`); the last notification.
    Dropped,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
enum StatusWire {
    Word(StatusWord),
    Finalized {
        finalized: Hash,
        number: BlockNumber,
    },
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum StatusWord {
    Ready,
    Dropped,
}

impl From<StatusWire> for ExtrinsicStatus {
    fn from(wire: StatusWire) -> ExtrinsicStatus {
        match wire {
            StatusWire::Word(StatusWord::Ready) => ExtrinsicStatus::Ready,
            StatusWire::Word(StatusWord::Dropped) => ExtrinsicStatus::Dropped,
            StatusWire::Finalized { finalized, number } => ExtrinsicStatus::Finalized {
                block: finalized,
                number,
            },
        }
    }
}

impl From<ExtrinsicStatus> for StatusWire {
    fn from(status: ExtrinsicStatus) -> StatusWire {
        match status {
            ExtrinsicStatus::Ready => StatusWire::Word(StatusWord::Ready),
            ExtrinsicStatus::Dropped => StatusWire::Word(StatusWord::Dropped),
            ExtrinsicStatus::Finalized { block, number } => StatusWire::Finalized {
                finalized: block,
                number,
            },
        }
    }
}
