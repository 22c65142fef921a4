//! Signed extrinsics, in Substrate's format (extrinsic version 4), so that any client that
//! reads the runtime metadata (polkadot.js, subxt) builds and signs them unmodified.
//!
//! # Wire format (SCALE)
//!
//! ```text
//! Extrinsic = Compact<u32>(length of the rest)
//!           ‖ 0x84                             (signed bit 0x80 | format version 4)
//!           ‖ signer: [u8; 32]                 (the address: an AccountId32)
//!           ‖ signature: MultiSignature        (0x00 ‖ ed25519[64] | 0x01 ‖ sr25519[64])
//!           ‖ era: Era                         (1 byte immortal, 2 bytes mortal)
//!           ‖ nonce: Compact<u32> ‖ tip: Compact<u128>
//!           ‖ call: RuntimeCall                (pallet index ‖ call index ‖ arguments)
//! ```
//!
//! A block's extrinsics are a `Vec` of these, so a block body is what Substrate tools expect.
//! Unsigned extrinsics (version byte `0x04`) do not exist here: every extrinsic pays a fee.
//!
//! # What is signed
//!
//! The signing payload is, in the order of the signed extensions the metadata lists
//! (`CheckSpecVersion`, `CheckTxVersion`, `CheckGenesis`, `CheckMortality`, `CheckNonce`,
//! `ChargeTransactionPayment`):
//!
//! ```text
//! call ‖ era ‖ Compact(nonce) ‖ Compact(tip) ‖ spec_version: u32 ‖ transaction_version: u32
//!      ‖ genesis_hash ‖ birth_hash
//! ```
//!
//! hashed with blake2_256 first if it is longer than 256 bytes. `birth_hash` is the genesis
//! hash for an immortal extrinsic, else the hash of the era's birth block. Including the
//! genesis hash makes a signature worthless on any other chain, the birth block's hash on any
//! fork without that block, and the versions under any other rules. sr25519 signs under the
//! `substrate` signing context, as sp-core does.
//!
//! # Bounds
//!
//! An encoded extrinsic is at most [`MAX_EXTRINSIC_LEN`] bytes; decoding refuses a longer
//! length prefix before reading the body, refuses trailing bytes, unsigned or unknown versions,
//! and signature schemes other than ed25519 and sr25519.

use crate::metadata::TRANSACTION_VERSION;
use crate::{RuntimeCall, SPEC_VERSION};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash, Nonce};
use parity_scale_codec::{Compact, Decode, Encode, Input, Output};
use scale_info::build::{Fields, Variants};
use scale_info::{Path, Type, TypeInfo};
use sp_core::{ed25519, sr25519, Pair as _};
use std::sync::OnceLock;

/// Extrinsic format version: Substrate's version 4.
pub const EXTRINSIC_FORMAT_VERSION: u8 = 4;
/// The first byte of the body of every extrinsic: signed, version 4.
pub const SIGNED_VERSION_BYTE: u8 = 0x80 | EXTRINSIC_FORMAT_VERSION;
/// Largest encoded extrinsic accepted, in bytes (length prefix included).
pub const MAX_EXTRINSIC_LEN: usize = 16 * 1024;
/// Longest mortality period, in blocks; must not exceed the block hashes kept by the system
/// pallet, or a birth block's hash could no longer be checked.
pub const MAX_MORTAL_PERIOD: u64 = 256;
/// Payloads longer than this are signed as their blake2_256 hash (Substrate's rule).
const MAX_UNHASHED_PAYLOAD: usize = 256;

/// A signature by one of the two supported schemes, with Substrate's `MultiSignature` variant
/// indices (ecdsa, index 2, is not accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum MultiSignature {
    /// Ed25519.
    #[codec(index = 0)]
    Ed25519([u8; 64]),
    /// Schnorrkel/Ristretto (sp-core `sr25519`), the default.
    #[codec(index = 1)]
    Sr25519([u8; 64]),
}

impl MultiSignature {
    /// The scheme's name.
    pub fn scheme(&self) -> &'static str {
        match self {
            MultiSignature::Sr25519(_) => "sr25519",
            MultiSignature::Ed25519(_) => "ed25519",
        }
    }
}

/// For how long an extrinsic is valid: Substrate's era.
///
/// A mortal era of `period` blocks (a power of two, 4 to 65,536) and `phase` (< `period`)
/// covers, seen from a block numbered `n`, the blocks `birth(n) .. birth(n) + period`, where
/// `birth(n)` is the last block at or before `n` whose number is `phase` modulo `period`. The
/// signer commits to the hash of the birth block, so it must be a block the signer has seen:
/// [`Era::mortal`] makes the era whose birth is the given block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// Valid forever (until its nonce is used). Signs the genesis hash.
    Immortal,
    /// Valid for `period` blocks from its birth.
    Mortal {
        /// Length of the validity window, a power of two in 4..=65,536.
        period: u64,
        /// Position of the birth block in the period.
        phase: u64,
    },
}

impl Era {
    /// The mortal era born at block `current`, lasting about `period` blocks (rounded up to a
    /// power of two within 4..=65,536; the phase is quantized for periods above 4,096, as in
    /// Substrate).
    pub fn mortal(period: u64, current: BlockNumber) -> Era {
        let period = period
            .checked_next_power_of_two()
            .unwrap_or(1 << 16)
            .clamp(4, 1 << 16);
        let quantize = (period >> 12).max(1);
        let phase = current % period / quantize * quantize;
        Era::Mortal { period, phase }
    }

    /// The birth block of this era as seen from block `current` (0 for an immortal era).
    pub fn birth(&self, current: BlockNumber) -> BlockNumber {
        match *self {
            Era::Immortal => 0,
            Era::Mortal { period, phase } => (current.max(phase) - phase) / period * period + phase,
        }
    }

    /// The first block this era no longer covers, seen from block `current`.
    pub fn death(&self, current: BlockNumber) -> BlockNumber {
        match *self {
            Era::Immortal => BlockNumber::MAX,
            Era::Mortal { period, .. } => self.birth(current).saturating_add(period),
        }
    }
}

impl Encode for Era {
    fn encode_to<T: Output + ?Sized>(&self, output: &mut T) {
        match *self {
            Era::Immortal => output.push_byte(0),
            Era::Mortal { period, phase } => {
                let quantize = (period >> 12).max(1);
                let low = u64::from(period.trailing_zeros().saturating_sub(1).clamp(1, 15));
                let encoded = low | (phase / quantize) << 4;
                u16::try_from(encoded).unwrap_or(u16::MAX).encode_to(output);
            }
        }
    }
}

impl Decode for Era {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let first = input.read_byte()?;
        if first == 0 {
            return Ok(Era::Immortal);
        }
        let encoded = u64::from(first) | u64::from(input.read_byte()?) << 8;
        let period = 2u64 << (encoded % 16);
        let quantize = (period >> 12).max(1);
        let phase = (encoded >> 4) * quantize;
        if period >= 4 && phase < period {
            Ok(Era::Mortal { period, phase })
        } else {
            Err("invalid era: phase not below period".into())
        }
    }
}

impl parity_scale_codec::EncodeLike for Era {}

/// Described to metadata readers as Substrate's `sp_runtime::generic::era::Era`, so clients use
/// their own era codec: `Immortal` (one byte, 0) or `MortalN` (two bytes, the first being `N`).
impl TypeInfo for Era {
    type Identity = Self;
    fn type_info() -> Type {
        static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
        let names = NAMES.get_or_init(|| {
            (1..=255u8)
                .map(|n| &*Box::leak(format!("Mortal{n}").into_boxed_str()))
                .collect()
        });
        let mut variants = Variants::new().variant("Immortal", |v| v.index(0));
        for (n, name) in (1..=255u8).zip(names.iter().copied()) {
            variants = variants.variant(name, |v| {
                v.index(n).fields(Fields::unnamed().field(|f| f.ty::<u8>()))
            });
        }
        Type::builder()
            .path(Path::new("Era", "sp_runtime::generic::era"))
            .variant(variants)
    }
}

/// Signed fields beside the call, in the order of the signed extensions that carry them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedExtra {
    /// Validity period (`CheckMortality`).
    pub era: Era,
    /// The signer's nonce; must equal the number of extrinsics it has had applied
    /// (`CheckNonce`).
    pub nonce: Compact<Nonce>,
    /// Extra fee offered to the block author, in plancks; raises priority in the pool
    /// (`ChargeTransactionPayment`).
    pub tip: Compact<Balance>,
}

/// A signed extrinsic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extrinsic {
    /// The signing account.
    pub signer: AccountId,
    /// Signature over the signing payload.
    pub signature: MultiSignature,
    /// Era, nonce, tip.
    pub extra: SignedExtra,
    /// What to do.
    pub call: RuntimeCall,
}

impl Extrinsic {
    /// The body: everything after the length prefix.
    fn encode_body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(128);
        body.push(SIGNED_VERSION_BYTE);
        self.signer.encode_to(&mut body);
        self.signature.encode_to(&mut body);
        self.extra.encode_to(&mut body);
        self.call.encode_to(&mut body);
        body
    }
}

impl Encode for Extrinsic {
    fn encode_to<T: Output + ?Sized>(&self, output: &mut T) {
        self.encode_body().encode_to(output);
    }
}

impl parity_scale_codec::EncodeLike for Extrinsic {}

impl Decode for Extrinsic {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let Compact(len) = Compact::<u32>::decode(input)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_EXTRINSIC_LEN {
            return Err("extrinsic longer than the limit".into());
        }
        let mut body = vec![0u8; len];
        input.read(&mut body)?;
        let mut rest = &body[..];
        let version = u8::decode(&mut rest)?;
        if version != SIGNED_VERSION_BYTE {
            return Err("not a signed extrinsic of format version 4".into());
        }
        let extrinsic = Extrinsic {
            signer: AccountId::decode(&mut rest)?,
            signature: MultiSignature::decode(&mut rest)?,
            extra: SignedExtra::decode(&mut rest)?,
            call: RuntimeCall::decode(&mut rest)?,
        };
        if !rest.is_empty() {
            return Err("extrinsic body has trailing bytes".into());
        }
        Ok(extrinsic)
    }
}

/// Why bytes are not an acceptable extrinsic.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtrinsicError {
    /// Longer than the limit.
    #[error("extrinsic is {len} bytes, over the limit of {MAX_EXTRINSIC_LEN}")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not valid SCALE for an extrinsic.
    #[error("extrinsic bytes do not decode: {0}")]
    Malformed(String),
    /// Valid up to a point, then more bytes.
    #[error("extrinsic has {0} trailing bytes after its end")]
    TrailingBytes(usize),
    /// Unsigned, or an unknown format version.
    #[error("extrinsic version byte 0x{0:02x} is not supported (expected 0x84: signed, format version 4)")]
    UnsupportedVersion(u8),
    /// The signature does not verify.
    #[error("bad {scheme} signature for signer {signer}")]
    BadSignature {
        /// Who claimed to sign.
        signer: AccountId,
        /// The scheme.
        scheme: &'static str,
    },
}

/// The hash of an encoded extrinsic: blake2_256 of its bytes, length prefix included. It is
/// the extrinsic's identity in the pool and in RPC answers, and Substrate clients compute the
/// same (polkadot.js finds its own extrinsic in a block by it).
pub fn hash_of(encoded: &[u8]) -> Hash {
    Hash::blake2_256(encoded)
}

/// The message a signer signs: the signing payload (module docs), or its blake2_256 hash if it
/// is longer than 256 bytes.
pub fn signing_message(
    call: &RuntimeCall,
    extra: &SignedExtra,
    genesis_hash: &Hash,
    birth_hash: &Hash,
) -> Vec<u8> {
    let mut payload = Vec::with_capacity(128);
    call.encode_to(&mut payload);
    extra.encode_to(&mut payload);
    SPEC_VERSION.encode_to(&mut payload);
    TRANSACTION_VERSION.encode_to(&mut payload);
    genesis_hash.encode_to(&mut payload);
    birth_hash.encode_to(&mut payload);
    if payload.len() > MAX_UNHASHED_PAYLOAD {
        Hash::blake2_256(&payload).0.to_vec()
    } else {
        payload
    }
}

/// Something that can sign extrinsics: sp-core's sr25519 and ed25519 key pairs, or a wallet's
/// own key type (the client's) built on them.
pub trait ExtrinsicSigner {
    /// The account the key controls (its public key).
    fn signer_account(&self) -> AccountId;
    /// Signs a signing message (see [`signing_message`]).
    fn sign_payload(&self, message: &[u8]) -> MultiSignature;
}

impl ExtrinsicSigner for sr25519::Pair {
    fn signer_account(&self) -> AccountId {
        AccountId(self.public().0)
    }
    fn sign_payload(&self, message: &[u8]) -> MultiSignature {
        MultiSignature::Sr25519(self.sign(message).0)
    }
}

impl ExtrinsicSigner for ed25519::Pair {
    fn signer_account(&self) -> AccountId {
        AccountId(self.public().0)
    }
    fn sign_payload(&self, message: &[u8]) -> MultiSignature {
        MultiSignature::Ed25519(self.sign(message).0)
    }
}

impl Extrinsic {
    /// Builds and signs an extrinsic. `era_hash` is the genesis hash for [`Era::Immortal`],
    /// else the hash of the era's birth block.
    pub fn sign(
        signer: &(impl ExtrinsicSigner + ?Sized),
        call: RuntimeCall,
        extra: SignedExtra,
        genesis_hash: &Hash,
        era_hash: &Hash,
    ) -> Extrinsic {
        let message = signing_message(&call, &extra, genesis_hash, era_hash);
        Extrinsic {
            signer: signer.signer_account(),
            signature: signer.sign_payload(&message),
            extra,
            call,
        }
    }

    /// Decodes one extrinsic from exactly `bytes`, enforcing the size limit and version.
    pub fn decode_bounded(bytes: &[u8]) -> Result<Extrinsic, ExtrinsicError> {
        if bytes.len() > MAX_EXTRINSIC_LEN {
            return Err(ExtrinsicError::TooLong { len: bytes.len() });
        }
        // The version byte follows the length prefix; name it before decoding the rest, so
        // an old or unsigned extrinsic is refused as such rather than as garbage.
        let mut body = bytes;
        let body_len = Compact::<u32>::decode(&mut body)
            .map_err(|error| ExtrinsicError::Malformed(format!("length prefix: {error}")))?;
        let body_len = usize::try_from(body_len.0).unwrap_or(usize::MAX);
        if body_len > body.len() {
            return Err(ExtrinsicError::Malformed(format!(
                "the length prefix says {body_len} bytes, {} follow",
                body.len()
            )));
        }
        if body_len < body.len() {
            return Err(ExtrinsicError::TrailingBytes(body.len() - body_len));
        }
        match body.first() {
            None => return Err(ExtrinsicError::Malformed("empty extrinsic".to_owned())),
            Some(&version) if version != SIGNED_VERSION_BYTE => {
                return Err(ExtrinsicError::UnsupportedVersion(version))
            }
            Some(_) => {}
        }
        let mut input = bytes;
        let extrinsic = Extrinsic::decode(&mut input)
            .map_err(|error| ExtrinsicError::Malformed(error.to_string()))?;
        if !input.is_empty() {
            return Err(ExtrinsicError::TrailingBytes(input.len()));
        }
        Ok(extrinsic)
    }

    /// The nonce.
    pub fn nonce(&self) -> Nonce {
        self.extra.nonce.0
    }

    /// The tip.
    pub fn tip(&self) -> Balance {
        self.extra.tip.0
    }

    /// [`hash_of`] its encoding.
    pub fn hash(&self) -> Hash {
        hash_of(&self.encode())
    }

    /// Verifies the signature against `message` (see [`signing_message`]).
    pub fn verify_signature(&self, message: &[u8]) -> Result<(), ExtrinsicError> {
        let valid = match &self.signature {
            MultiSignature::Sr25519(signature) => sr25519::Pair::verify(
                &sr25519::Signature::from_raw(*signature),
                message,
                &sr25519::Public::from_raw(self.signer.0),
            ),
            MultiSignature::Ed25519(signature) => ed25519::Pair::verify(
                &ed25519::Signature::from_raw(*signature),
                message,
                &ed25519::Public::from_raw(self.signer.0),
            ),
        };
        if valid {
            Ok(())
        } else {
            Err(ExtrinsicError::BadSignature {
                signer: self.signer,
                scheme: self.signature.scheme(),
            })
        }
    }
}

/// Verifies many signatures at once; returns the index of the first bad one.
///
/// sr25519 signatures are checked with schnorrkel's batch verification and ed25519 ones with
/// ed25519-zebra's (one multiscalar multiplication per scheme for the whole batch), split
/// across threads. The answer is the same as checking one by one: batching changes the cost,
/// never the verdict, because a failed batch is re-checked one by one to find the culprit, and
/// each batch verifier accepts exactly the signatures its single check accepts (for ed25519
/// that holds because sp-core's single check is ed25519-zebra's, whose ZIP-215 rules make
/// batch and single verification agree; ed25519-dalek's batch would not).
pub fn verify_batch(items: &[(&Extrinsic, Vec<u8>)]) -> Result<(), (usize, ExtrinsicError)> {
    match verify_each(items)
        .into_iter()
        .enumerate()
        .find_map(|(index, verdict)| verdict.err().map(|error| (index, error)))
    {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// Verifies many signatures at once and gives each its own verdict, in order: chunks of at
/// most 256 across threads (fewer items than 256 per thread are split evenly, so a small batch
/// still uses every core), each chunk's sr25519 and ed25519 signatures in one batch per
/// scheme, a failed chunk re-checked one by one (so one bad signature costs its chunk a
/// second pass, never another's verdict). The chunking decides only the time, never a verdict.
pub fn verify_each(items: &[(&Extrinsic, Vec<u8>)]) -> Vec<Result<(), ExtrinsicError>> {
    use rayon::prelude::*;
    const MAX_CHUNK: usize = 256;
    let chunk = items
        .len()
        .div_ceil(rayon::current_num_threads().max(1))
        .clamp(1, MAX_CHUNK);
    items
        .par_chunks(chunk)
        .flat_map_iter(|chunk| {
            let verdicts: Vec<Result<(), ExtrinsicError>> = if batch_ok(chunk) {
                chunk.iter().map(|_| Ok(())).collect()
            } else {
                chunk
                    .iter()
                    .map(|(xt, message)| xt.verify_signature(message))
                    .collect()
            };
            verdicts
        })
        .collect()
}

/// Batch-verifies the sr25519 signatures of `chunk` in one batch and its ed25519 ones in
/// another.
fn batch_ok(chunk: &[(&Extrinsic, Vec<u8>)]) -> bool {
    let mut transcripts = Vec::with_capacity(chunk.len());
    let mut signatures = Vec::with_capacity(chunk.len());
    let mut publics = Vec::with_capacity(chunk.len());
    let mut ed25519_batch = ed25519_zebra::batch::Verifier::new();
    let mut ed25519_count = 0usize;
    for (xt, message) in chunk {
        match &xt.signature {
            MultiSignature::Sr25519(raw) => {
                let (Ok(signature), Ok(public)) = (
                    schnorrkel::Signature::from_bytes(raw),
                    schnorrkel::PublicKey::from_bytes(&xt.signer.0),
                ) else {
                    return false;
                };
                // sp-core signs sr25519 under the "substrate" signing context.
                transcripts.push(schnorrkel::signing_context(b"substrate").bytes(message));
                signatures.push(signature);
                publics.push(public);
            }
            MultiSignature::Ed25519(raw) => {
                let key = ed25519_zebra::VerificationKeyBytes::from(xt.signer.0);
                let signature = ed25519_zebra::Signature::from_bytes(raw);
                ed25519_batch.queue((key, signature, message));
                ed25519_count += 1;
            }
        }
    }
    // Like schnorrkel's below, the batch draws its coefficients from the OS; its verdict
    // does not depend on the draw but for a chance of 2^-128 (see there).
    if ed25519_count > 0 && ed25519_batch.verify(rand::rngs::OsRng).is_err() {
        return false;
    }
    // The last argument is `deduplicate_public_keys`, not determinism: `verify_batch` draws the
    // batch's random coefficients from the OS, and must. It passes exactly when every
    // signature is valid, but for a chance of 2^-128 per batch, so the verdict does not depend
    // on the draw, and a block's batch agrees with the pool's check of each signature alone.
    // `verify_batch_deterministic` would not do: its coefficients do not cover the signatures'
    // scalars, so two forged signatures that cancel out could pass one batch and fail another
    // (found in review, 2026-12-05; the comment here used to say the opposite).
    transcripts.is_empty()
        || schnorrkel::verify_batch(transcripts, &signatures, &publics, true).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Substrate's own vectors (`sp_runtime::generic::era` tests), which polkadot.js matches.
    #[test]
    fn eras_encode_as_substrate_encodes_them() {
        assert_eq!(Era::Immortal.encode(), [0]);
        let era = Era::mortal(64, 42);
        assert_eq!(
            era,
            Era::Mortal {
                period: 64,
                phase: 42
            }
        );
        assert_eq!(era.encode(), [5 + 42 % 16 * 16, 42 / 16]);
        assert_eq!(Era::decode(&mut &era.encode()[..]).unwrap(), era);
        // Long periods quantize the phase.
        let long = Era::mortal(32_768, 20_000);
        assert_eq!(
            long,
            Era::Mortal {
                period: 32_768,
                phase: 20_000 / 8 * 8
            }
        );
        assert_eq!(
            long.encode(),
            [(14 + 2500 % 16 * 16) as u8, (2500 / 16) as u8]
        );
        assert_eq!(Era::decode(&mut &long.encode()[..]).unwrap(), long);
        // Periods round up to a power of two within 4..=65,536.
        assert_eq!(
            Era::mortal(1, 0),
            Era::Mortal {
                period: 4,
                phase: 0
            }
        );
        assert_eq!(
            Era::mortal(55, 0),
            Era::Mortal {
                period: 64,
                phase: 0
            }
        );
        assert_eq!(
            Era::mortal(1 << 20, 0),
            Era::Mortal {
                period: 1 << 16,
                phase: 0
            }
        );
        // A phase at or over the period does not decode.
        assert!(Era::decode(&mut &[0x01u8, 0xff][..]).is_err());
    }

    #[test]
    fn birth_and_death_follow_the_block_number() {
        let era = Era::mortal(4, 6);
        assert_eq!(
            era,
            Era::Mortal {
                period: 4,
                phase: 2
            }
        );
        assert_eq!((era.birth(6), era.death(6)), (6, 10));
        assert_eq!((era.birth(9), era.death(9)), (6, 10));
        assert_eq!(era.birth(10), 10);
        assert_eq!(
            era.birth(1),
            2,
            "before its first birth block, as Substrate computes it"
        );
        assert_eq!(Era::Immortal.birth(1_000), 0);
    }

    #[test]
    fn long_payloads_are_signed_as_their_blake2_hash() {
        let call = RuntimeCall::System(pallet_system::Call::Remark {
            remark: vec![7; 300],
        });
        let extra = SignedExtra {
            era: Era::Immortal,
            nonce: Compact(0),
            tip: Compact(0),
        };
        let message = signing_message(&call, &extra, &Hash([1; 32]), &Hash([1; 32]));
        assert_eq!(message.len(), 32);
        let short = RuntimeCall::System(pallet_system::Call::Remark { remark: vec![7; 3] });
        let message = signing_message(&short, &extra, &Hash([1; 32]), &Hash([1; 32]));
        // call ‖ era ‖ nonce ‖ tip ‖ spec ‖ tx version ‖ genesis ‖ birth
        let mut expected = short.encode();
        expected.extend_from_slice(&[0, 0, 0]);
        expected.extend_from_slice(&SPEC_VERSION.to_le_bytes());
        expected.extend_from_slice(&TRANSACTION_VERSION.to_le_bytes());
        expected.extend_from_slice(&[1; 64]);
        assert_eq!(message, expected);
    }

    /// `n` remarks signed in turn by sr25519 and ed25519 keys, with their signing messages.
    fn signed_remarks(n: usize) -> Vec<(Extrinsic, Vec<u8>)> {
        let genesis = Hash([3; 32]);
        (0..n)
            .map(|i| {
                let call = RuntimeCall::System(pallet_system::Call::Remark {
                    remark: i.to_le_bytes().to_vec(),
                });
                let extra = SignedExtra {
                    era: Era::Immortal,
                    nonce: Compact(0),
                    tip: Compact(0),
                };
                let seed = format!("//Signer{i}");
                let xt = if i % 2 == 0 {
                    let pair = sr25519::Pair::from_string(&seed, None).unwrap();
                    Extrinsic::sign(&pair, call, extra, &genesis, &genesis)
                } else {
                    let pair = ed25519::Pair::from_string(&seed, None).unwrap();
                    Extrinsic::sign(&pair, call, extra, &genesis, &genesis)
                };
                let message = signing_message(&xt.call, &xt.extra, &genesis, &genesis);
                (xt, message)
            })
            .collect()
    }

    /// `items` as `verify_each`, `verify_batch` and `batch_ok` take them.
    fn refs(items: &[(Extrinsic, Vec<u8>)]) -> Vec<(&Extrinsic, Vec<u8>)> {
        items.iter().map(|(x, m)| (x, m.clone())).collect()
    }

    fn verdicts(items: &[(Extrinsic, Vec<u8>)]) -> Vec<Result<(), ExtrinsicError>> {
        verify_each(&refs(items))
    }

    fn singly(items: &[(Extrinsic, Vec<u8>)]) -> Vec<Result<(), ExtrinsicError>> {
        items
            .iter()
            .map(|(xt, message)| xt.verify_signature(message))
            .collect()
    }

    /// Batches of both schemes (300 items: two chunks) give each signature the verdict of its
    /// single check: all pass; a forged ed25519 signature in the second chunk, a forged
    /// sr25519 one in the first, and an ed25519 signer whose key is not a curve point are each
    /// refused, and nothing else is.
    #[test]
    fn batches_give_the_verdicts_of_single_checks_for_both_schemes() {
        let mut items = signed_remarks(300);
        assert!(verdicts(&items).iter().all(Result::is_ok));
        assert_eq!(verify_batch(&refs(&items)), Ok(()));
        let MultiSignature::Ed25519(raw) = &mut items[261].0.signature else {
            panic!("odd items are ed25519")
        };
        raw[0] ^= 1;
        let MultiSignature::Sr25519(raw) = &mut items[4].0.signature else {
            panic!("even items are sr25519")
        };
        raw[5] ^= 1;
        // No point on the curve has y = 2 (x² would have to be a non-residue).
        let mut bad_key = [0u8; 32];
        bad_key[0] = 2;
        items[99].0.signer = AccountId(bad_key);
        let got = verdicts(&items);
        assert_eq!(got, singly(&items));
        let refused: Vec<usize> = (0..got.len()).filter(|&i| got[i].is_err()).collect();
        assert_eq!(refused, [4, 99, 261]);
        assert_eq!(
            verify_batch(&refs(&items)).map_err(|(index, _)| index),
            Err(4)
        );
    }

    /// `batch_ok` itself, on chunks of ed25519 signatures only, says what the single checks say
    /// of the whole chunk: valid signatures pass the batch (so a batch that always failed
    /// would be caught), a forged one and an off-curve key fail it, and the edge cases of
    /// ZIP-215 — a torsion component in R, the identity as key and R with s = 0 — are judged
    /// as the single check judges them.
    #[test]
    fn the_ed25519_batch_alone_agrees_with_single_checks() {
        let ed25519_only = || -> Vec<(Extrinsic, Vec<u8>)> {
            signed_remarks(8)
                .into_iter()
                .filter(|(xt, _)| matches!(xt.signature, MultiSignature::Ed25519(_)))
                .collect()
        };
        let judge = |items: &[(Extrinsic, Vec<u8>)]| -> bool {
            let batch = batch_ok(&refs(items));
            let single = singly(items).iter().all(Result::is_ok);
            assert_eq!(batch, single, "batch and single checks disagree");
            batch
        };
        fn signature(items: &mut [(Extrinsic, Vec<u8>)], i: usize) -> &mut [u8; 64] {
            match &mut items[i].0.signature {
                MultiSignature::Ed25519(raw) => raw,
                MultiSignature::Sr25519(_) => panic!("ed25519 only"),
            }
        }
        assert!(judge(&ed25519_only()), "valid signatures pass the batch");
        let mut forged = ed25519_only();
        signature(&mut forged, 2)[40] ^= 1;
        assert!(!judge(&forged));
        let mut off_curve = ed25519_only();
        off_curve[1].0.signer = AccountId({
            let mut key = [0u8; 32];
            key[0] = 2;
            key
        });
        assert!(!judge(&off_curve));
        let mut torsion = ed25519_only();
        let pair = ed25519::Pair::from_string("//Signer1", None).unwrap();
        assert_eq!(torsion[0].0.signer, AccountId(pair.public().0));
        *signature(&mut torsion, 0) = cofactored_only(&pair, &torsion[0].1);
        assert!(
            singly(&torsion)[0].is_ok(),
            "sp-core's check (ZIP-215) accepts a cofactored-only signature"
        );
        assert!(judge(&torsion), "and so must the batch");
        // The identity as key, R the identity and s = 0: [8]sB = [8]R + [8]kA holds.
        let mut identity = ed25519_only();
        let mut point = [0u8; 32];
        point[0] = 1;
        identity[3].0.signer = AccountId(point);
        let raw = signature(&mut identity, 3);
        raw.fill(0);
        raw[0] = 1;
        judge(&identity);
    }

    /// `pair`'s signature of `message` with a point of order 8 added to R and the challenge
    /// taken over that R: it satisfies the cofactored equation [8]sB = [8]R + [8]kA (what
    /// ed25519-zebra checks, ZIP-215) and not the strict sB = R + kA.
    fn cofactored_only(pair: &ed25519::Pair, message: &[u8]) -> [u8; 64] {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};
        let wide = |parts: &[&[u8]]| -> Scalar {
            let mut hasher = Sha512::new();
            for part in parts {
                hasher.update(part);
            }
            let mut digest = [0u8; 64];
            digest.copy_from_slice(&hasher.finalize());
            Scalar::from_bytes_mod_order_wide(&digest)
        };
        let expanded = Sha512::digest(pair.seed());
        let mut secret: [u8; 32] = expanded[..32].try_into().unwrap();
        secret[0] &= 248;
        secret[31] &= 127;
        secret[31] |= 64;
        let a = Scalar::from_bytes_mod_order(secret);
        let public = pair.public().0;
        assert_eq!((ED25519_BASEPOINT_POINT * a).compress().0, public);
        let r = wide(&[&expanded[32..], message]);
        let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1]).compress();
        let k = wide(&[big_r.as_bytes(), &public, message]);
        let s = r + k * a;
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(big_r.as_bytes());
        signature[32..].copy_from_slice(s.as_bytes());
        signature
    }

    /// A signature valid only under the cofactored equation, among others in a mixed batch,
    /// gets the verdict of sp-core's single check (which accepts it): batch and single
    /// verification must never disagree.
    #[test]
    fn an_ed25519_signature_with_a_torsion_component_is_judged_alike_in_a_batch() {
        let mut items = signed_remarks(4);
        let pair = ed25519::Pair::from_string("//Signer1", None).unwrap();
        let cofactored = cofactored_only(&pair, &items[1].1);
        let MultiSignature::Ed25519(raw) = &mut items[1].0.signature else {
            panic!("odd items are ed25519")
        };
        *raw = cofactored;
        assert!(singly(&items).iter().all(Result::is_ok));
        // `verify_each` would re-check one by one if the batch failed: ask the batch itself.
        assert!(
            batch_ok(&refs(&items)),
            "the mixed chunk's batch accepts it"
        );
        assert_eq!(verdicts(&items), singly(&items));
    }
}
