//! Shared primitive types of Agora.
//!
//! Everything here is used by more than one crate: the runtime and its pallets, the node, the
//! client and the verifier. The crate is deliberately free of I/O, clocks and randomness so that
//! any code built on it can stay deterministic.
//!
//! - [`Hash`]: a 32-byte digest: blake3 for everything the ledger authenticates, blake2b-256
//!   for block and extrinsic hashes (what Substrate tools compute).
//! - [`AccountId`]: a 32-byte public key (sr25519 or ed25519), rendered as SS58 by the runtime.
//! - [`storage`]: the key-value state interface pallets are written against, with typed items.
//! - [`smt`]: the sparse Merkle tree that authenticates the state (root in every header).
//! - [`trace`]: the execution-trace commitment (a Merkle tree over one leaf per job segment) and
//!   its inclusion proofs, checked by the verifier and by runtime pallets alike.
//! - [`referee`]: the host interface through which the runtime has the node execute one
//!   disputed step of a job.

pub mod dispatch;
pub mod referee;
pub mod secret;
pub mod size_proof;
pub mod smt;
pub mod ss58;
pub mod storage;
pub mod trace;

use parity_scale_codec::{Decode, Encode, MaxEncodedLen};
use std::fmt;

/// Balance of an account in plancks: 1 AGR = 10^12 plancks.
pub type Balance = u128;
/// Height of a block; genesis is 0.
pub type BlockNumber = u64;
/// Per-account transaction counter.
pub type Nonce = u32;
/// Milliseconds since the Unix epoch, as written into a block by its proposer.
pub type Moment = u64;

/// Number of decimals of the AGR token.
pub const TOKEN_DECIMALS: u32 = 12;
/// Plancks in one AGR.
pub const AGR: Balance = 1_000_000_000_000;

/// Formats plancks as the shortest exact decimal AGR amount (`1.5`, `0.000000000001`, `1000`).
pub fn format_agr(plancks: Balance) -> String {
    let whole = plancks.checked_div(AGR).unwrap_or(0);
    let frac = plancks.checked_rem(AGR).unwrap_or(0);
    if frac == 0 {
        return whole.to_string();
    }
    let width = usize::try_from(TOKEN_DECIMALS).unwrap_or(12);
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A 32-byte digest (blake3, or blake2b-256 for block and extrinsic hashes).
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode, MaxEncodedLen,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used as "no parent" and as the root of an empty tree.
    pub const ZERO: Hash = Hash([0u8; 32]);

    /// blake3 of `data`.
    pub fn of(data: &[u8]) -> Hash {
        Hash(*blake3::hash(data).as_bytes())
    }

    /// blake3 of the concatenation of `parts`, without allocating.
    pub fn of_parts(parts: &[&[u8]]) -> Hash {
        let mut hasher = blake3::Hasher::new();
        for part in parts {
            hasher.update(part);
        }
        Hash(*hasher.finalize().as_bytes())
    }

    /// blake2b-256 of `data`: the hash Substrate tools compute for blocks and extrinsics, used
    /// where Agora must agree with them (block and extrinsic hashes), never for state.
    pub fn blake2_256(data: &[u8]) -> Hash {
        Hash(sp_crypto_hashing::blake2_256(data))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// `0x`-prefixed lowercase hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Parses `0x`-prefixed (or bare) hex of exactly 32 bytes.
    pub fn from_hex(text: &str) -> Result<Hash, HexError> {
        let bytes = decode_hex(text)?;
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|bytes: Vec<u8>| HexError::Length {
                input: text.to_owned(),
                expected: 32,
                actual: bytes.len(),
            })?;
        Ok(Hash(array))
    }
}

/// Described to metadata readers as Substrate's `primitive_types::H256`, the name polkadot.js
/// maps to its 32-byte hash codec: the bytes are the same, only the hash function differs.
impl scale_info::TypeInfo for Hash {
    type Identity = Self;
    fn type_info() -> scale_info::Type {
        scale_info::Type::builder()
            .path(scale_info::Path::new("H256", "primitive_types"))
            .composite(scale_info::build::Fields::unnamed().field(|f| f.ty::<[u8; 32]>()))
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl serde::Serialize for Hash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> serde::Deserialize<'de> for Hash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        Hash::from_hex(&text).map_err(serde::de::Error::custom)
    }
}

/// A 32-byte account identifier: the public key of an sr25519 or ed25519 key pair.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Encode, Decode, MaxEncodedLen,
)]
pub struct AccountId(pub [u8; 32]);

/// Described to metadata readers as Substrate's `sp_core::crypto::AccountId32`, so
/// polkadot.js reads and writes it as an SS58 address.
impl scale_info::TypeInfo for AccountId {
    type Identity = Self;
    fn type_info() -> scale_info::Type {
        scale_info::Type::builder()
            .path(scale_info::Path::new("AccountId32", "sp_core::crypto"))
            .composite(scale_info::build::Fields::unnamed().field(|f| f.ty::<[u8; 32]>()))
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&ss58::encode(self))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&ss58::encode(self))
    }
}

impl std::str::FromStr for AccountId {
    type Err = ss58::Ss58Error;
    fn from_str(address: &str) -> Result<Self, Self::Err> {
        ss58::decode(address)
    }
}

/// Why text is not an account ([`AccountId::from_ss58_or_hex`]).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccountParseError {
    /// `0x`-prefixed, but not 32 bytes of hex.
    #[error(transparent)]
    Hex(#[from] HexError),
    /// Not an SS58 address.
    #[error(transparent)]
    Ss58(#[from] ss58::Ss58Error),
}

impl AccountId {
    /// An account as the node's RPC and command line take one: `0x` and 32 bytes of hex (the
    /// public key), else an SS58 address.
    pub fn from_ss58_or_hex(text: &str) -> Result<Self, AccountParseError> {
        if text.starts_with("0x") {
            return Ok(AccountId(Hash::from_hex(text)?.0));
        }
        Ok(text.parse()?)
    }
}

impl serde::Serialize for AccountId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&ss58::encode(self))
    }
}

impl<'de> serde::Deserialize<'de> for AccountId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as serde::Deserialize>::deserialize(deserializer)?;
        ss58::decode(&text).map_err(serde::de::Error::custom)
    }
}

/// Errors of hex parsing; each names the offending input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HexError {
    /// The text is not hexadecimal.
    #[error("'{input}' is not valid hex: {reason}")]
    Invalid {
        /// The text as given.
        input: String,
        /// What the hex decoder objected to.
        reason: String,
    },
    /// The text decodes to the wrong number of bytes.
    #[error("'{input}' is {actual} bytes long, expected {expected}")]
    Length {
        /// The text as given.
        input: String,
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        actual: usize,
    },
}

/// Decodes `0x`-prefixed or bare hex.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).map_err(|error| HexError::Invalid {
        input: text.to_owned(),
        reason: error.to_string(),
    })
}

/// Encodes bytes as `0x`-prefixed lowercase hex.
pub fn encode_hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_read_from_ss58_or_hex_and_a_bad_one_is_named() {
        let account = AccountId([7; 32]);
        let hex = format!("0x{}", "07".repeat(32));
        assert_eq!(AccountId::from_ss58_or_hex(&hex), Ok(account));
        assert_eq!(
            AccountId::from_ss58_or_hex(&ss58::encode(&account)),
            Ok(account)
        );
        assert!(matches!(
            AccountId::from_ss58_or_hex("0x1234"),
            Err(AccountParseError::Hex(HexError::Length { .. }))
        ));
        assert!(matches!(
            AccountId::from_ss58_or_hex("not an address"),
            Err(AccountParseError::Ss58(_))
        ));
    }

    #[test]
    fn hash_hex_round_trips_and_names_bad_input() {
        let hash = Hash::of(b"agora");
        assert_eq!(Hash::from_hex(&hash.to_hex()), Ok(hash));
        let error = Hash::from_hex("0x1234").unwrap_err();
        assert_eq!(error.to_string(), "'0x1234' is 2 bytes long, expected 32");
        assert!(Hash::from_hex("0xzz")
            .unwrap_err()
            .to_string()
            .contains("'0xzz'"));
    }

    #[test]
    fn of_parts_equals_hash_of_concatenation() {
        assert_eq!(Hash::of_parts(&[b"ab", b"cd"]), Hash::of(b"abcd"));
    }
}
