//! Signed extrinsics.
//!
//! # Wire format (SCALE)
//!
//! ```text
//! Extrinsic = version: u8 (= 1)
//!           ‖ signer: [u8; 32]
//!           ‖ signature: MultiSignature      (0x00 ‖ sr25519[64] | 0x01 ‖ ed25519[64])
//!           ‖ extra: SignedExtra             (era ‖ Compact<nonce> ‖ Compact<tip>)
//!           ‖ call: RuntimeCall              (pallet index ‖ call index ‖ arguments)
//! ```
//!
//! # What is signed
//!
//! The signer signs `blake3("agora/extrinsic/v1" ‖ SCALE(call, extra, spec_version,
//! genesis_hash, era_hash))`, where `era_hash` is the genesis hash for an immortal extrinsic and
//! the hash of the birth block for a mortal one. Including the genesis hash means a signature is
//! worthless on any other chain; including the birth block's hash means a mortal extrinsic is
//! worthless on any fork that does not contain that block.
//!
//! # Bounds
//!
//! An encoded extrinsic is at most [`MAX_EXTRINSIC_LEN`] bytes; decoding refuses longer input
//! before looking at it, refuses trailing bytes, and refuses unknown versions.

use crate::{RuntimeCall, SPEC_VERSION};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash, Nonce};
use parity_scale_codec::{Compact, Decode, Encode};
use sp_core::{ed25519, sr25519, Pair as _};

/// The only extrinsic format version this runtime accepts.
pub const EXTRINSIC_VERSION: u8 = 1;
/// Largest encoded extrinsic accepted, in bytes.
pub const MAX_EXTRINSIC_LEN: usize = 16 * 1024;
/// Longest mortality period, in blocks; must not exceed the block hashes kept by the system
/// pallet, or a birth block's hash could no longer be checked.
pub const MAX_MORTAL_PERIOD: u32 = 256;
/// Domain separator of signing payloads.
const SIGNING_DOMAIN: &[u8] = b"agora/extrinsic/v1";

/// A signature by one of the two supported schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MultiSignature {
    /// Schnorrkel/Ristretto (sp-core `sr25519`), the default.
    #[codec(index = 0)]
    Sr25519([u8; 64]),
    /// Ed25519.
    #[codec(index = 1)]
    Ed25519([u8; 64]),
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

/// For how long an extrinsic is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Era {
    /// Valid forever (until its nonce is used).
    #[codec(index = 0)]
    Immortal,
    /// Valid in blocks `birth + 1 ..= birth + period`, and only on chains containing block
    /// `birth`.
    #[codec(index = 1)]
    Mortal {
        /// A recent block number whose hash the signer knows.
        birth: BlockNumber,
        /// Number of blocks after `birth` the extrinsic stays valid, at most
        /// [`MAX_MORTAL_PERIOD`].
        period: u32,
    },
}

/// Signed fields beside the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct SignedExtra {
    /// Validity period.
    pub era: Era,
    /// The signer's nonce; must equal the number of extrinsics it has had applied.
    pub nonce: Compact<Nonce>,
    /// Extra fee offered to the block author, in plancks; raises priority in the pool.
    pub tip: Compact<Balance>,
}

/// A signed extrinsic.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Extrinsic {
    /// Format version, [`EXTRINSIC_VERSION`].
    pub version: u8,
    /// The signing account.
    pub signer: AccountId,
    /// Signature over the signing payload.
    pub signature: MultiSignature,
    /// Era, nonce, tip.
    pub extra: SignedExtra,
    /// What to do.
    pub call: RuntimeCall,
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
    /// Unknown format version.
    #[error("extrinsic version {0} is not supported (expected {EXTRINSIC_VERSION})")]
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

/// The fields a signer commits to.
#[derive(Encode)]
struct SigningPayload<'a> {
    call: &'a RuntimeCall,
    extra: &'a SignedExtra,
    spec_version: u32,
    genesis_hash: &'a Hash,
    era_hash: &'a Hash,
}

/// The 32-byte message a signer signs.
pub fn signing_message(
    call: &RuntimeCall,
    extra: &SignedExtra,
    genesis_hash: &Hash,
    era_hash: &Hash,
) -> [u8; 32] {
    let payload = SigningPayload {
        call,
        extra,
        spec_version: SPEC_VERSION,
        genesis_hash,
        era_hash,
    };
    *Hash::of_parts(&[SIGNING_DOMAIN, &payload.encode()]).as_bytes()
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
    /// else the hash of the birth block.
    pub fn sign(
        signer: &(impl ExtrinsicSigner + ?Sized),
        call: RuntimeCall,
        extra: SignedExtra,
        genesis_hash: &Hash,
        era_hash: &Hash,
    ) -> Extrinsic {
        let message = signing_message(&call, &extra, genesis_hash, era_hash);
        Extrinsic {
            version: EXTRINSIC_VERSION,
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
        match bytes.first() {
            None => return Err(ExtrinsicError::Malformed("empty input".to_owned())),
            Some(&version) if version != EXTRINSIC_VERSION => {
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

    /// blake3 of the encoding: the extrinsic's identity in the pool and in RPC answers.
    pub fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }

    /// Verifies the signature against `message` (see [`signing_message`]).
    pub fn verify_signature(&self, message: &[u8; 32]) -> Result<(), ExtrinsicError> {
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
/// sr25519 signatures are checked with schnorrkel's batch verification (one multiscalar
/// multiplication for the whole batch), split across threads; ed25519 ones individually. The
/// answer is the same as checking one by one: batching changes the cost, never the verdict,
/// because a failed batch is re-checked one by one to find the culprit.
pub fn verify_batch(items: &[(&Extrinsic, [u8; 32])]) -> Result<(), (usize, ExtrinsicError)> {
    match verify_each(items)
        .into_iter()
        .enumerate()
        .find_map(|(index, verdict)| verdict.err().map(|error| (index, error)))
    {
        Some(failure) => Err(failure),
        None => Ok(()),
    }
}

/// Verifies many signatures at once and gives each its own verdict, in order: sr25519 in
/// batches of 256 across threads, a failed batch re-checked one by one (so one bad signature
/// costs its batch a second pass, never another's verdict).
pub fn verify_each(items: &[(&Extrinsic, [u8; 32])]) -> Vec<Result<(), ExtrinsicError>> {
    use rayon::prelude::*;
    const CHUNK: usize = 256;
    items
        .par_chunks(CHUNK)
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

/// Batch-verifies the sr25519 signatures of `chunk` and individually its ed25519 ones.
fn batch_ok(chunk: &[(&Extrinsic, [u8; 32])]) -> bool {
    let mut transcripts = Vec::with_capacity(chunk.len());
    let mut signatures = Vec::with_capacity(chunk.len());
    let mut publics = Vec::with_capacity(chunk.len());
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
            MultiSignature::Ed25519(_) => {
                if xt.verify_signature(message).is_err() {
                    return false;
                }
            }
        }
    }
    // `deterministic = true`: the batch's random coefficients are derived from the transcripts
    // instead of the OS RNG, because runtime code reads no randomness.
    transcripts.is_empty()
        || schnorrkel::verify_batch(transcripts, &signatures, &publics, true).is_ok()
}
