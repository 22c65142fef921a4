//! # The random beacon
//!
//! Every block carries a [`BeaconProof`]: the consensus key of the validator that proposed it
//! and an sr25519 VRF output (a *pre-output*) with its proof, over the parent's beacon and the
//! block number, under the **beacon key** that validator registered with its candidacy
//! ([`crate::Validator::beacon_key`]). Executing the block checks that the proposer sits in the
//! committee of the block's epoch and that the proof verifies, then records
//!
//! ```text
//! beacon(0) = blake3("agora/beacon/v1/genesis" ‖ chain id)
//! beacon(n) = blake3("agora/beacon/v1" ‖ beacon(n − 1) ‖ pre_output(n))
//! pre_output(n) = VRF(beacon key of n's proposer; transcript "agora/beacon/v1",
//!                     parent = beacon(n − 1), number = n LE)
//! ```
//!
//! in `pallet_system::Beacon`, where every pallet reads it (the spot-check sample does).
//!
//! **On the consensus key (since spec version 15).** A validator whose registered beacon key
//! *is* its consensus key proves with ECVRF-EDWARDS25519-SHA512-TAI ([`crate::ecvrf`], RFC
//! 9381) under that ed25519 key instead, so that a candidacy needs only the consensus key
//! (`agora validator register --consensus-key HEX`, through any node; since spec version 16
//! with the key's signature of the account too, `crate::validators`):
//!
//! ```text
//! α(n)           = "agora/beacon/ecvrf/v1" ‖ beacon(n − 1) ‖ n LE
//! π(n)           = ECVRF_prove(consensus seed, α(n)) = Γ ‖ c ‖ s   (80 bytes)
//! header         : pre_output = Γ, proof = c ‖ s ‖ 16 zero bytes
//! pre_output(n) := blake3("agora/beacon/ecvrf/v1" ‖ ECVRF_proof_to_hash(π(n)))
//! ```
//!
//! and `beacon(n)` follows from that `pre_output(n)` by the rule above. β, not Γ, is what the
//! beacon takes: β is unique per key and input (the cofactor is cleared), Γ is not (a torsion
//! point added to it can be made to verify). Which rule a block follows is the proposer's
//! registration, which it cannot change within an epoch.
//!
//! ## What a proposer can and cannot do
//!
//! A VRF pre-output is **unique**: for one key and one input exactly one value verifies (many
//! proofs may prove it — ours are deterministic, see [`BeaconSigner::sign`] — the pre-output
//! cannot vary). So the proposer of block `n` cannot choose
//! `beacon(n)`: nothing it does choose — the timestamp, which transactions, their order, its
//! own transactions — enters it. Its one choice is to publish the block or not; if it does not,
//! the view times out and the next leader proposes block `n` with *its* pre-output. A validator
//! learns `beacon(n)` when it is the leader of `n` (before the block is certified) and everyone
//! else when the block is proposed. Consensus checks that a proposal's `proposer` is the view's
//! leader, so a validator cannot put a colluding member's output in its own block.
//!
//! The bias this leaves, and why a threshold beacon was not chosen, are derived in
//! `docs/beacon.md`.
//!
//! A valid beacon key is the validator's consensus key (the ECVRF rule below) or a canonical
//! ristretto255 point ([`crate::validators::is_valid_beacon_key_for`]); nodes derive the
//! sr25519 one from their consensus seed ([`BeaconSigner::from_consensus_seed`]), so one
//! secret backs both keys.

use super::*;
use schnorrkel::context::attach_rng;
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey};
use sp_core::crypto::VrfPublic;
use sp_core::sr25519::vrf::{VrfSignData, VrfSignature, VrfTranscript};
use sp_core::{ed25519, sr25519, Pair};

/// Domain of the beacon's VRF transcript and of its hash chain.
pub const BEACON_TAG: &[u8] = b"agora/beacon/v1";
/// Domain of the genesis beacon.
pub const GENESIS_BEACON_TAG: &[u8] = b"agora/beacon/v1/genesis";
/// Domain of the beacon key's derivation from a consensus seed.
pub const BEACON_KEY_TAG: &[u8] = b"agora/beacon-key/v1";

/// What a consensus key signs to vouch for its beacon key: `tag ‖ beacon key`
/// ([`BeaconSigner::binding`], [`verify_binding`]). Off chain only: a node shows it to the
/// CLI that registers the pair, so a node cannot hand out a beacon key its key does not own.
pub const BINDING_TAG: &[u8] = b"agora/beacon-key-binding/v1";

/// A block's beacon contribution: who proposed it and its VRF pre-output and proof.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct BeaconProof {
    /// The proposer's consensus key (ed25519 public key).
    pub proposer: Hash,
    /// The VRF pre-output (a compressed ristretto255 point).
    pub pre_output: [u8; 32],
    /// The VRF proof (challenge and response scalars).
    pub proof: [u8; 64],
}

impl BeaconProof {
    /// The genesis header's (genesis is not executed: nothing checks it).
    pub const GENESIS: BeaconProof = BeaconProof {
        proposer: Hash::ZERO,
        pre_output: [0; 32],
        proof: [0; 64],
    };
}

/// Why a block's beacon proof is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BeaconError {
    /// The proposer is not a member of the committee of the block's epoch.
    #[error("block {number}: proposer {proposer} is not in the committee of epoch {epoch}")]
    NotInCommittee {
        /// The block.
        number: BlockNumber,
        /// The key the header names.
        proposer: Hash,
        /// The block's epoch.
        epoch: u64,
    },
    /// The pre-output or proof does not verify under the proposer's beacon key.
    #[error("block {number}: the beacon proof does not verify under proposer {proposer}'s beacon key {beacon_key}")]
    BadProof {
        /// The block.
        number: BlockNumber,
        /// The proposer.
        proposer: Hash,
        /// Its registered beacon key.
        beacon_key: Hash,
    },
}

/// The VRF input of block `number` on a parent whose beacon is `parent`.
fn vrf_input(parent: &Hash, number: BlockNumber) -> VrfTranscript {
    let number = number.to_le_bytes();
    VrfTranscript::new(
        BEACON_TAG,
        &[(b"parent", parent.as_bytes()), (b"number", &number)],
    )
}

/// The transcript the proof is made over besides the input: sp-core's default, so that
/// `sr25519::Public::vrf_verify` checks our proofs.
const PROOF_TRANSCRIPT_LABEL: &[u8] = b"VRF";

/// `beacon(n)` from `beacon(n − 1)` and block `n`'s pre-output.
pub fn next_beacon(parent: &Hash, pre_output: &[u8; 32]) -> Hash {
    Hash::of_parts(&[BEACON_TAG, parent.as_bytes(), pre_output])
}

/// The beacon before block 1 of the chain `chain_id`.
pub fn genesis_beacon(chain_id: &[u8]) -> Hash {
    Hash::of_parts(&[GENESIS_BEACON_TAG, chain_id])
}

/// Domain of the ECVRF input and of the pre-output taken from its output (see the module doc).
pub const ECVRF_TAG: &[u8] = b"agora/beacon/ecvrf/v1";

/// The ECVRF input α of block `number` on a parent whose beacon is `parent`.
fn ecvrf_alpha(parent: &Hash, number: BlockNumber) -> Vec<u8> {
    [ECVRF_TAG, parent.as_bytes(), &number.to_le_bytes()].concat()
}

/// The pre-output `proof` contributes to the beacon if it is a valid VRF of the proposer
/// registered with `beacon_key` for block `number` on beacon `parent`: an sr25519 VRF under
/// `beacon_key`, or, when `beacon_key` is the proposer's consensus key, an ECVRF under it
/// (see the module doc).
pub fn contribution(
    beacon_key: &Hash,
    proof: &BeaconProof,
    parent: &Hash,
    number: BlockNumber,
) -> Option<[u8; 32]> {
    if *beacon_key != proof.proposer {
        return verify(beacon_key, proof, parent, number).then_some(proof.pre_output);
    }
    // Γ ‖ c ‖ s, and the rest of the header's field zero: one encoding per proof.
    let (c_and_s, padding) = proof.proof.split_at(48);
    if padding.iter().any(|byte| *byte != 0) {
        return None;
    }
    let mut pi = [0u8; crate::ecvrf::PROOF_LEN];
    pi[..32].copy_from_slice(&proof.pre_output);
    pi[32..].copy_from_slice(c_and_s);
    let output = crate::ecvrf::verify(&proof.proposer.0, &ecvrf_alpha(parent, number), &pi)?;
    Some(Hash::of_parts(&[ECVRF_TAG, &output]).0)
}

/// Whether `proof` is a valid sr25519 VRF of `beacon_key` for block `number` on beacon
/// `parent`.
pub fn verify(beacon_key: &Hash, proof: &BeaconProof, parent: &Hash, number: BlockNumber) -> bool {
    let mut bytes = [0u8; 96];
    bytes[..32].copy_from_slice(&proof.pre_output);
    bytes[32..].copy_from_slice(&proof.proof);
    // Decoding checks that the pre-output is a point and the proof's scalars are canonical.
    let Ok(signature) = VrfSignature::decode(&mut &bytes[..]) else {
        return false;
    };
    let input: VrfSignData = vrf_input(parent, number).into_sign_data();
    sr25519::Public::from_raw(beacon_key.0).vrf_verify(&input, &signature)
}

/// The randomness schnorrkel mixes into a proof's nonce, made deterministic: a blake3 stream
/// keyed by the signer's secret and the VRF input's pre-output. Block building must not read
/// the operating system's randomness (a replayed simulation must build the same bytes), and the
/// nonce stays secret and unique per input without it: merlin derives it from the transcript,
/// the key's secret nonce and these bytes.
struct NonceStream(blake3::OutputReader);

impl rand_core::RngCore for NonceStream {
    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.0.fill(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.0.fill(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.0.fill(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.0.fill(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for NonceStream {}

/// A validator's signing half of the beacon: its consensus key (named in the proofs) and the
/// sr25519 key derived from the same seed.
#[derive(Clone)]
pub struct BeaconSigner {
    proposer: Hash,
    /// The consensus seed: the ECVRF key when the registration names the consensus key as
    /// the beacon key.
    consensus_seed: [u8; 32],
    /// The sr25519 mini-secret; keys the proof nonces' stream.
    secret: [u8; 32],
    /// Expanded as sp-core expands a seed (`ExpansionMode::Ed25519`).
    keypair: Keypair,
    /// The consensus key's signature of [`BINDING_TAG`] ‖ the beacon key.
    binding: [u8; 64],
}

/// Whether `signature` is `consensus_key`'s signature of [`BINDING_TAG`] ‖ `beacon_key`: the
/// holder of the consensus key vouches that the beacon key is its own.
pub fn verify_binding(consensus_key: &Hash, beacon_key: &Hash, signature: &[u8; 64]) -> bool {
    let message = [BINDING_TAG, &beacon_key.0[..]].concat();
    ed25519::Pair::verify(
        &ed25519::Signature::from_raw(*signature),
        &message,
        &ed25519::Public::from_raw(consensus_key.0),
    )
}

impl BeaconSigner {
    /// The signer of the validator whose ed25519 consensus seed is `seed`: the beacon key is
    /// the sr25519 mini-secret `blake3("agora/beacon-key/v1" ‖ seed)`.
    pub fn from_consensus_seed(seed: &[u8; 32]) -> BeaconSigner {
        let consensus = ed25519::Pair::from_seed(seed);
        let proposer = Hash(consensus.public().0);
        let secret = Hash::of_parts(&[BEACON_KEY_TAG, seed]).0;
        let keypair = MiniSecretKey::from_bytes(&secret)
            .expect("a mini-secret is any 32 bytes")
            .expand_to_keypair(ExpansionMode::Ed25519);
        let binding = consensus
            .sign(&[BINDING_TAG, &keypair.public.to_bytes()[..]].concat())
            .0;
        BeaconSigner {
            proposer,
            consensus_seed: *seed,
            secret,
            keypair,
            binding,
        }
    }

    /// The consensus key's signature vouching for the beacon key (see [`verify_binding`]).
    pub fn binding(&self) -> [u8; 64] {
        self.binding
    }

    /// The consensus key the proofs name.
    pub fn proposer(&self) -> Hash {
        self.proposer
    }

    /// The beacon key to register (`agora validator register --beacon-key`).
    pub fn beacon_key(&self) -> Hash {
        Hash(self.keypair.public.to_bytes())
    }

    /// The proof for block `number` on a parent whose beacon is `parent`: what sp-core's
    /// `vrf_sign` makes, with the nonce's randomness from [`NonceStream`] (so the same input
    /// always gives the same bytes).
    pub fn sign(&self, parent: &Hash, number: BlockNumber) -> BeaconProof {
        let inout = self.keypair.vrf_create_hash(vrf_input(parent, number).0);
        let pre_output = inout.to_preout().to_bytes();
        let stream = blake3::Hasher::new_keyed(&self.secret)
            .update(&pre_output)
            .finalize_xof();
        let extra = attach_rng(
            merlin::Transcript::new(PROOF_TRANSCRIPT_LABEL),
            NonceStream(stream),
        );
        let (proof, _) = self.keypair.dleq_proove(extra, &inout, true);
        BeaconProof {
            proposer: self.proposer,
            pre_output,
            proof: proof.to_bytes(),
        }
    }

    /// The ECVRF proof under the consensus key for block `number` on a parent whose beacon
    /// is `parent` (see the module doc); deterministic.
    pub fn sign_with_consensus_key(&self, parent: &Hash, number: BlockNumber) -> BeaconProof {
        let pi = crate::ecvrf::prove(&self.consensus_seed, &ecvrf_alpha(parent, number))
            .unwrap_or([0; crate::ecvrf::PROOF_LEN]); // Unreachable: probability 2⁻²⁵⁶.
        let mut pre_output = [0u8; 32];
        let mut proof = [0u8; 64];
        pre_output.copy_from_slice(&pi[..32]);
        proof[..48].copy_from_slice(&pi[32..]);
        BeaconProof {
            proposer: self.proposer,
            pre_output,
            proof,
        }
    }

    /// The proof for the block that follows `state` (the parent's post-state), by the rule
    /// the proposer's registration in the block's committee names: ECVRF under the consensus
    /// key if its beacon key is the consensus key, else the sr25519 VRF.
    pub fn sign_next(&self, state: &impl StateRead) -> BeaconProof {
        let parent = pallet_system::Beacon::get(state).unwrap_or(Hash::ZERO);
        let number = pallet_system::Number::get(state)
            .unwrap_or(0)
            .saturating_add(1);
        let epoch = CurrentEpoch::get(state).unwrap_or(0);
        let on_consensus_key = Committees::get(state, &epoch)
            .unwrap_or_default()
            .iter()
            .any(|member| {
                member.consensus_key == self.proposer && member.beacon_key == self.proposer
            });
        if on_consensus_key {
            self.sign_with_consensus_key(&parent, number)
        } else {
            self.sign(&parent, number)
        }
    }
}

impl<T: Config> Pallet<T> {
    /// Checks block `number`'s beacon `proof` against the committee of the current epoch and
    /// records the block's beacon (see the [module docs](self)). Called by the executive after
    /// `System::on_initialize`, before any extrinsic; on error nothing is written.
    pub fn note_beacon(
        ext: &mut Ext<'_>,
        number: BlockNumber,
        proof: &BeaconProof,
    ) -> Result<Hash, BeaconError> {
        let epoch = Self::current_epoch(ext);
        let member = Self::committee(ext, epoch)
            .unwrap_or_default()
            .into_iter()
            .find(|validator| validator.consensus_key == proof.proposer)
            .ok_or(BeaconError::NotInCommittee {
                number,
                proposer: proof.proposer,
                epoch,
            })?;
        let parent = pallet_system::Pallet::<T>::beacon(ext);
        let Some(pre_output) = contribution(&member.beacon_key, proof, &parent, number) else {
            return Err(BeaconError::BadProof {
                number,
                proposer: proof.proposer,
                beacon_key: member.beacon_key,
            });
        };
        let beacon = next_beacon(&parent, &pre_output);
        pallet_system::Beacon::put(ext, &beacon);
        Ok(beacon)
    }
}
