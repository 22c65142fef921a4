//! The referee: how the runtime asks the node to execute one disputed piece of a job.
//!
//! A dispute narrows to one training step whose pre-state both sides agree on (or to the
//! `export`/`eval` of an agreed final state). Every validator then executes that piece, as part
//! of block execution, and the runtime compares the result with the worker's claim. The runtime
//! holds no execution engine: it reaches one through the [`Referee`] trait, which the node
//! implements with `agora-engine` and hands to the block's externalities
//! ([`crate::storage::Ext::set_referee`]). The runtime thereby stays free of wasmtime.
//!
//! ## Contract
//!
//! - **Deterministic.** The verdict is a function of the request and the bytes its hashes name:
//!   every honest node returns the same verdict, or [`RefereeError::Unavailable`].
//! - **Bounded.** Every engine call runs with at most `fuel_limit` fuel; a call that needs more
//!   is a [`RefereeVerdict::OutOfFuel`], not an error — except an `export` or `eval` given the
//!   chain's own bound on a call (every worker's), which is then the module's refusal, as the
//!   worker commits it (no model, empty metrics).
//! - **Machine-independent.** A piece whose outcome could differ between two honest machines
//!   (a NaN produced, a stack near its limit) is [`RefereeVerdict::MachineDependent`], whatever
//!   this node's own run gave: the node detects it by a test every machine computes alike, so
//!   the verdict never depends on the referee's architecture.
//! - **Unavailable is not a verdict.** A node that does not hold a blob the request names cannot
//!   decide, and must not pretend to: the call that asked is left out of a block being built, and
//!   a block to import that contains it is refused (the node must fetch the bytes first). So an
//!   outcome on the ledger never depends on which node happened to hold which bytes.
//! - **Availability.** [`Referee::holds`] says whether the node holds a blob's bytes (checked
//!   against the hash when they were uploaded). The runtime asks it before it records a claim
//!   that others will need the bytes for — a revealed start state, a committed model and final
//!   state ([`crate::storage::Ext::require_available`]): registering a hash is not having the
//!   bytes. A node that does not hold them leaves the call out (it is undecided, as above), so
//!   a worker that withholds the bytes cannot get the claim onto the ledger and misses its
//!   deadline instead.

use crate::Hash;
use parity_scale_codec::{Decode, Encode};

/// What to execute.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum RefereeTask {
    /// One training step (`agora_segment` with one step) from the state `pre_state` names, or
    /// from the state `init` produces when it is `None` (the first step of a job).
    #[codec(index = 0)]
    Step {
        /// blake3 of the pre-state bytes (a blob), or `None` for the initial state.
        pre_state: Option<Hash>,
    },
    /// `export` and `eval` of the state `state` names (the job's final state).
    #[codec(index = 1)]
    Output {
        /// blake3 of the state bytes (a blob).
        state: Hash,
    },
    /// One whole segment of `steps` steps (`agora_segment` once, as the worker ran it) from the
    /// state `start` names, or from `init`'s state when it is `None`: a dispute over fuel, which
    /// is measured per call and so cannot be split into steps (see `docs/verification.md`).
    #[codec(index = 2)]
    Segment {
        /// blake3 of the segment's start state (a blob), or `None` for the initial state.
        start: Option<Hash>,
        /// Steps in the segment.
        steps: u32,
    },
}

/// One piece of a job to execute, with everything a node needs to find its inputs.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct RefereeRequest {
    /// blake3 of the job module (a blob).
    pub module: Hash,
    /// blake3 of the dataset (a blob).
    pub dataset: Hash,
    /// The job's params JSON (on the ledger, inline).
    pub params: Vec<u8>,
    /// The job seed (for `init`).
    pub seed: u64,
    /// What to run.
    pub task: RefereeTask,
    /// Most fuel any one engine call may use.
    pub fuel_limit: u64,
}

impl RefereeRequest {
    /// The request's identity: the blake3 hash of its SCALE encoding. Nodes keep verdicts under
    /// it, and the chain lists the re-runs it had decided by it (`pallet_jobs`' `reruns.rs`).
    pub fn hash(&self) -> Hash {
        Hash::of(&self.encode())
    }

    /// The most fuel the referee's re-run of this request spends in all (one pass; the NaN
    /// probe's is priced in `REFEREE_LEAD_FUEL_PER_BLOCK`), with `init_bound` the fuel every
    /// engine gives `init` (the chain's bound on a call): a segment re-run from `init` runs
    /// `init` within `init_bound` (or its own limit if that is more), then the segment; a step
    /// from `init` runs `init` and the step within its own limit each; a segment from a state
    /// runs the segment; an output, `export` and `eval` within its limit each. What the opening
    /// lead of the call that needs it is sized by ([`referee_lead`]); sized by the segment
    /// alone, as before 2026-12-07, a module whose `init` spent ~7,500 Mfuel made a segment 0
    /// of 1 Mfuel open its proof after one block, and every node ran the re-run inline.
    pub fn rerun_fuel(&self, init_bound: u64) -> u64 {
        let limit = self.fuel_limit;
        match self.task {
            RefereeTask::Segment { start: None, .. } => init_bound.max(limit).saturating_add(limit),
            RefereeTask::Step { pre_state: None } | RefereeTask::Output { .. } => {
                limit.saturating_mul(2)
            }
            RefereeTask::Segment { start: Some(_), .. }
            | RefereeTask::Step { pre_state: Some(_) } => limit,
        }
    }
}

/// What the engine produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum RefereeVerdict {
    /// The step ran; blake3 of the state after it.
    #[codec(index = 0)]
    Stepped {
        /// blake3 of the post-state bytes.
        post_state: Hash,
    },
    /// `export` and `eval` ran; blake3 of each output.
    #[codec(index = 1)]
    Exported {
        /// blake3 of the exported model.
        output: Hash,
        /// blake3 of the metrics bytes.
        metrics: Hash,
    },
    /// The module refused: it trapped, returned an error, or could not decode the state or
    /// the inputs.
    #[codec(index = 2)]
    Refused,
    /// A call needed more than `fuel_limit` fuel.
    #[codec(index = 3)]
    OutOfFuel,
    /// The segment ran: blake3 of the state after it, and the fuel its `agora_segment` call
    /// used (`init`'s not included: it is not billed).
    #[codec(index = 4)]
    Segmented {
        /// blake3 of the state after the segment.
        post_state: Hash,
        /// Fuel of the segment call.
        fuel: u64,
    },
    /// The piece's outcome may depend on the machine that runs it: one of its calls produced
    /// a NaN (whose bits differ between architectures), or its stack use is within the margin
    /// where architectures' frame sizes decide whether it overflows. Two honest machines may
    /// disagree on it, so nobody can be shown wrong: the buyer's module is at fault
    /// (`docs/nan-determinism.md`, "A buyer's machine-dependent module in a dispute").
    #[codec(index = 5)]
    MachineDependent,
}

/// Why a node could not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RefereeError {
    /// The node does not hold this blob.
    #[error("the referee needs blob {blob}, which this node does not hold")]
    Unavailable {
        /// The missing blob.
        blob: Hash,
    },
    /// The block is executed without a referee (a tool, not a validator).
    #[error("no referee is attached to this block's execution")]
    Detached,
    /// This node's engine failed (not the module: the engine could not be configured, or could
    /// not compile a module that validated); the node's log says why.
    #[error("this node's engine failed to run the referee; see the node's log")]
    Failed,
}

/// The node side of the referee: runs a [`RefereeRequest`] through the job engine.
pub trait Referee: Send + Sync {
    /// Executes `request`; see the [module contract](self).
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError>;

    /// Whether this node holds the bytes of `blob` (verified against the hash on upload).
    fn holds(&self, blob: &Hash) -> bool;
}

/// What one engine call of a job may use and produce: the same for the worker, every verifier
/// and the referee, so that a call the module cannot complete within them is refused on every
/// honest machine alike (the engine applies them with `Limits::within`). Each bound is the
/// chain's: a state and a model are blobs, which cannot be larger than a blob may be, and
/// metrics are kept in the commitment. A job whose calls produced more would leave its worker
/// holding a result it cannot commit — a buyer's module turned against an honest worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallBounds {
    /// Fuel for one call (one segment, one `export`, one `eval`).
    pub fuel: u64,
    /// Largest state `init` or a segment may return, bytes.
    pub state_bytes: u64,
    /// Largest model `export` may return, bytes.
    pub model_bytes: u64,
    /// Largest metrics `eval` may return, bytes.
    pub metrics_bytes: u64,
}

/// Blocks before a call that re-runs `fuel` in all opens: what the slowest node needs to
/// decide it ahead at `fuel_per_block` (1 fuel a block if that is 0).
///
/// Used by every call that re-runs more than a block's worth: a dispute's `referee` call
/// (`pallet_verification`, from the referee's turn) and the proof of an unrunnable job
/// (`pallet_jobs`, from its declaration), each counted from where the chain's re-run queue
/// leaves off (`pallet_jobs::Pallet::queue_rerun`). Until spec version 21 a dispute's lead
/// was capped at four fifths of its move's window, so an output's two calls at the bound
/// opened before the slowest node could have decided them; the move's deadline now moves out
/// instead.
///
/// A `const fn`, so that a runtime can size a constant by it (the largest declaration fee that
/// `MIN_BID_ESCROW` covers).
pub const fn referee_lead(fuel: u64, fuel_per_block: u64) -> crate::BlockNumber {
    let per_block = if fuel_per_block == 0 {
        1
    } else {
        fuel_per_block
    };
    fuel.div_ceil(per_block)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(task: RefereeTask, fuel_limit: u64) -> RefereeRequest {
        RefereeRequest {
            module: Hash([1; 32]),
            dataset: Hash([2; 32]),
            params: Vec::new(),
            seed: 3,
            task,
            fuel_limit,
        }
    }

    /// A re-run from `init` counts `init`'s bound: a segment 0 of 1 fuel behind an `init` of
    /// the chain's bound on a call takes that bound to re-run, not 1 (2026-12-07: its proof
    /// opened after one block and every node re-ran it inline).
    #[test]
    fn a_rerun_from_init_counts_inits_bound() {
        let bound = 7_500;
        let zero = request(
            RefereeTask::Segment {
                start: None,
                steps: 4,
            },
            1,
        );
        assert_eq!(zero.rerun_fuel(bound), bound + 1);
        let later = request(
            RefereeTask::Segment {
                start: Some(Hash([4; 32])),
                steps: 4,
            },
            1,
        );
        assert_eq!(later.rerun_fuel(bound), 1);
        let output = request(
            RefereeTask::Output {
                state: Hash([5; 32]),
            },
            bound,
        );
        assert_eq!(output.rerun_fuel(bound), 2 * bound, "export and eval");
        let first_step = request(RefereeTask::Step { pre_state: None }, 10);
        assert_eq!(first_step.rerun_fuel(bound), 20, "init and the step");
        // At 1 fuel a block the lead is the fuel.
        assert_eq!(referee_lead(zero.rerun_fuel(bound), 1), bound + 1);
        assert_eq!(referee_lead(later.rerun_fuel(bound), 1), 1);
        assert_eq!(referee_lead(2 * bound + 1, 2), bound + 1, "rounded up");
        assert_eq!(
            referee_lead(7, 0),
            7,
            "a zero speed counts as 1 fuel a block"
        );
    }
}
