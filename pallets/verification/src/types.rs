//! The records of a spot check: where an audit is, the checks it drew and how each ended.

use agora_primitives::trace::TraceLeaf;
use agora_primitives::{AccountId, BlockNumber, Hash};
use parity_scale_codec::{Decode, Encode};

/// Where an audit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The sample is drawn at the end of the block after the commitment.
    #[codec(index = 0)]
    AwaitingSample,
    /// The worker must reveal the sampled segments' start states.
    #[codec(index = 1)]
    AwaitingStarts,
    /// Verifiers re-execute and commit to their leaves.
    #[codec(index = 2)]
    AwaitingAttestations,
    /// The worker must reveal its sampled leaves.
    #[codec(index = 3)]
    AwaitingLeaves,
    /// Verifiers open their commitments.
    #[codec(index = 4)]
    AwaitingReveals,
}

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The verifier's leaf equals the worker's.
    #[codec(index = 0)]
    Match,
    /// It differs: the job is disputed.
    #[codec(index = 1)]
    Mismatch,
    /// No attestation or reveal in time: bond slashed.
    #[codec(index = 2)]
    Missed,
    /// The reveal does not open the commitment: bond slashed.
    #[codec(index = 3)]
    Wrong,
}

/// What the verifier of the last segment computes from its own final state and reveals with
/// its leaf; compared with the worker's commitment (`output`, `blake3(metrics)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct FinalResult {
    /// blake3 of `export(final state)`: the model's blob hash.
    pub output: Hash,
    /// blake3 of `eval(final state)`: the hash of the metrics' bytes.
    pub metrics: Hash,
}

/// One sampled segment and the verifier checking it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Check {
    /// The segment.
    pub segment: u64,
    /// Who re-executes it.
    pub verifier: AccountId,
    /// Its start once revealed: leaf `segment − 1` (its state hash names the start state, its
    /// cumulative fuel the fuel before the segment). `None` for segment 0, which starts from
    /// init, and for a segment whose predecessor is sampled too, which its verifier computes.
    pub start: Option<TraceLeaf>,
    /// The verifier's commitment.
    pub attestation: Option<Hash>,
    /// The worker's leaf, once revealed.
    pub worker_leaf: Option<TraceLeaf>,
    /// The verifier's leaf, once revealed.
    pub verifier_leaf: Option<TraceLeaf>,
    /// For the last segment: the model and metrics the verifier computed, once revealed.
    pub verifier_result: Option<FinalResult>,
    /// The result, once known.
    pub outcome: Option<CheckOutcome>,
}

/// The spot checks of one job.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct Audit {
    /// Trace root committed by the worker.
    pub root: Hash,
    /// Segments in the trace.
    pub segments: u64,
    /// Current phase.
    pub phase: Phase,
    /// Last block of the current phase (the sample is drawn at the end of this block).
    pub deadline: BlockNumber,
    /// The checks, once drawn.
    pub checks: Vec<Check>,
}
