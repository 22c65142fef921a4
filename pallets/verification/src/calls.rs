//! The calls of the verification pallet, their encoding (explicit indices) and weights.

use crate::{ChallengeTarget, FinalResult, JobId};
use agora_primitives::dispatch::Weight;
use agora_primitives::trace::{InclusionProof, TraceLeaf};
use agora_primitives::Hash;
use parity_scale_codec::{Decode, Encode};

/// Calls of the verification pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Joins the verifier list (needs `VERIFIER_MIN_STAKE` of uncommitted stake).
    #[codec(index = 0)]
    RegisterVerifier,
    /// Leaves the verifier list.
    #[codec(index = 1)]
    DeregisterVerifier,
    /// The worker reveals the sampled segments' starts.
    #[codec(index = 2)]
    RevealStarts {
        /// The job.
        job: JobId,
        /// Per check: leaf `s − 1` and its proof where `sampling::start_leaf` asks for it
        /// (the first segment `s > 0` of a run), `None` otherwise.
        starts: Vec<Option<(TraceLeaf, InclusionProof)>>,
    },
    /// A verifier commits to its computed leaf.
    #[codec(index = 3)]
    Attest {
        /// The job.
        job: JobId,
        /// The check index.
        check: u32,
        /// `attestation_hash(job, check, verifier, leaf, result, salt)`.
        commitment: Hash,
    },
    /// The worker reveals its sampled leaves.
    #[codec(index = 4)]
    RevealLeaves {
        /// The job.
        job: JobId,
        /// Per check: leaf `s` and its proof.
        leaves: Vec<(TraceLeaf, InclusionProof)>,
    },
    /// A verifier opens its commitment.
    #[codec(index = 5)]
    RevealAttestation {
        /// The job.
        job: JobId,
        /// The check index.
        check: u32,
        /// The leaf it computed.
        leaf: TraceLeaf,
        /// For the last segment, the model and metrics it computed; `None` otherwise.
        result: Option<FinalResult>,
        /// The salt of its commitment.
        salt: [u8; 32],
    },
    /// The worker posts its state after the midpoint of the disputed steps.
    #[codec(index = 6)]
    Bisect {
        /// The job.
        job: JobId,
        /// blake3 of its state after `mid` steps of the segment.
        state: Hash,
    },
    /// The challenger agrees or disagrees with the worker's midpoint.
    #[codec(index = 7)]
    Answer {
        /// The job.
        job: JobId,
        /// Whether its own state at the midpoint is the worker's.
        agree: bool,
    },
    /// Anyone has the referee execute the one disputed step and decide the dispute.
    #[codec(index = 8)]
    Referee {
        /// The job.
        job: JobId,
    },
    /// Anyone but the worker challenges a verified job's result within its challenge window,
    /// committing `CHALLENGE_BOND` of its stake.
    #[codec(index = 9)]
    Challenge {
        /// The job.
        job: JobId,
        /// The leaf whose state it disputes, or the model and metrics.
        target: ChallengeTarget,
    },
    /// The worker reveals the trace leaf an open challenge's bisection asks for.
    #[codec(index = 10)]
    RevealLeaf {
        /// The job.
        job: JobId,
        /// The leaf.
        leaf: TraceLeaf,
        /// Its proof against the committed root.
        proof: InclusionProof,
    },
}

impl Call {
    /// Weight of the call, fixed before dispatch.
    pub fn weight(&self) -> Weight {
        let per_proof =
            |n: usize| weights::PER_PROOF.saturating_mul(u64::try_from(n).unwrap_or(u64::MAX));
        match self {
            Call::RegisterVerifier | Call::DeregisterVerifier => weights::REGISTER,
            Call::RevealStarts { starts, .. } => {
                weights::REVEAL.saturating_add(per_proof(starts.len()))
            }
            Call::Attest { .. } => weights::ATTEST,
            Call::RevealLeaves { leaves, .. } => {
                weights::REVEAL.saturating_add(per_proof(leaves.len()))
            }
            Call::RevealAttestation { .. } => weights::ATTEST,
            Call::Bisect { .. } | Call::Answer { .. } | Call::Challenge { .. } => weights::MOVE,
            Call::RevealLeaf { .. } => weights::MOVE.saturating_add(weights::PER_PROOF),
            Call::Referee { .. } => weights::REFEREE,
        }
    }
}

/// Weights, in nanoseconds on the reference machine.
pub mod weights {
    use super::Weight;
    /// `register_verifier` / `deregister_verifier`: list read/write.
    pub const REGISTER: Weight = 30_000;
    /// Base of a reveal: audit read/write.
    pub const REVEAL: Weight = 40_000;
    /// Per Merkle proof checked (20 blake3 compressions at most).
    pub const PER_PROOF: Weight = 20_000;
    /// `attest` / `reveal_attestation`: audit read/write, a hash.
    pub const ATTEST: Weight = 40_000;
    /// `bisect` / `answer`: audit read/write.
    pub const MOVE: Weight = 40_000;
    /// `referee`: two engine calls of at most `REFEREE_FUEL` each (`init` and the step) at the
    /// slowest speed a validator may have; the runtime checks that its `REFEREE_FUEL` fits (a
    /// test in `agora-runtime`). A segment's re-run and an output's `export` and `eval` (at the
    /// per-call bound since spec version 17) weigh more: every node decides them ahead, and
    /// their call opens only after the lead that takes (`referee_opens_at`).
    pub const REFEREE: Weight = 1_000_000_000;

    /// Start of block with `audits` audits due (each read; those awaiting their sample drawn,
    /// which reads the verifier list and commits bonds: the same bound as a phase's end).
    pub fn on_initialize(audits: usize) -> Weight {
        on_finalize(audits)
    }

    /// End of block with `audits` audits due.
    pub fn on_finalize(audits: usize) -> Weight {
        5_000u64.saturating_add(
            u64::try_from(audits)
                .unwrap_or(u64::MAX)
                .saturating_mul(200_000),
        )
    }
}
