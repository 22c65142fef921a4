//! # Jobs pallet
//!
//! A matched bid becomes a **job**: the market hands it over with the buyer's escrow still
//! reserved and the provider's collateral committed. This pallet runs the job's life on the
//! ledger and moves the money at its end. It also keeps the **blob registry**: the content
//! addresses (blake3) of modules, datasets, checkpoints and trained models that jobs refer to,
//! with the deposit that pays for keeping them and the references that keep them alive.
//!
//! ## Lifecycle
//!
//! ```text
//!            commit_result (worker, by commit_by)          verification passes
//! Assigned ───────────────────────────────────▶ Committed ────────────────────▶ Verified
//!   │  ╲ cancel_job (buyer) + CANCEL_NOTICE_BLOCKS (at most to commit_by) without a    │
//!   │   ╲ commitment: worker paid for the run time held, rest refunded ─▶ Cancelled  │ CHALLENGE_BLOCKS
//!   │ declare_unrunnable, then prove_unrunnable (worker; the referee sees init or   │
//!   │   segment 0 refused, over its fuel, or machine-dependent): buyer pays the      │
//!   │   cancel fee ─▶ Unrunnable                                                      │
//!   │ commit_by passes: collateral slashed, escrow refunded or bid requeued         ▼
//!   ╰──────────────────────────────────────────────▶ TimedOut                   Settled
//!                     Committed ── fuel-only mismatch ──▶ Disputed (escrow refunded, nobody slashed)
//!                     Committed ── worker loses a dispute ──▶ DisputeLost (collateral slashed,
//!                                                             escrow refunded or bid requeued)
//!                     Committed ── worker fails to reveal ──▶ TimedOut
//!                     Verified ── challenge (any staked account) ──▶ Challenged
//!                     Challenged ── challenger loses ──▶ Verified (window ≥ CHALLENGE_BLOCKS more)
//!                     Challenged ── worker loses ──▶ DisputeLost
//! ```
//!
//! **Cancellation** takes notice: `cancel_job` schedules the end [`Config::CANCEL_NOTICE_BLOCKS`]
//! later (at the latest at the commit deadline), and a result committed within the notice voids
//! it (the job runs on and settles in full). A worker registers and uploads its model before
//! its commitment lands, so a buyer who could cancel at once could fetch the model and pay only
//! the cancel fee for it. The worker is paid for the share of the granted run time that had
//! passed when the cancellation took effect, at the job's most (clearing price × `max_fuel`),
//! and never less than [`Config::CANCEL_FEE_PERCENT`] of it: a worker that spreads the job over
//! the run time is never out of pocket for a cancellation (`Pallet::end_fee`).
//!
//! **Settlement** pays the worker `⌈clearing price × committed fuel / 10⁶⌉` and each verifier
//! whose attestation matched a fee for the fuel it re-executed at the clearing price plus a
//! margin (`pallet_market::assurance`), all from the escrow; the rest of the
//! escrow returns to the buyer, the collateral is released, the offer's capacity freed, and
//! the buyer's completed-job count rises (newcomer status fades). The receipt stays on the job.
//!
//! A worker that loses a dispute pays, out of its collateral and before the challenger's
//! reward (at most the challenger's bond) and the burn, the fees of every check whose verifier
//! revealed a leaf: they did the work its cheat made worthless.
//!
//! Finished jobs are kept [`Config::JOB_RETENTION`] blocks for `job status`/`job result`, then
//! pruned; their story stays in the events.
//!
//! **The model outlives settlement.** At settlement the buyer takes over the registration of
//! the model blob: the worker's deposit is returned and the same deposit reserved from the
//! buyer (out of the escrow just refunded), and the model and the job's record are kept
//! [`Config::MODEL_RETENTION`] blocks (30 days at 1 s blocks) instead of expiring with the
//! registry's `BLOB_TTL` once the job no longer refers to it. The buyer may release it sooner
//! (`release_model`, what `agora job result --release` sends after fetching it), which returns
//! the deposit. A buyer who cannot pay the deposit keeps the registry's ordinary lifetime
//! (`blobs.rs`, `keep_model`).
//!
//! ## Blobs
//!
//! The blob registry (deposits, quotas, references, expiry) is specified and implemented in
//! `blobs.rs`; its items keep their paths here ([`Blobs`], [`BlobInfo`], …).
//!
//! ## Invariants (checked by [`Pallet::try_state`] after every test)
//!
//! 1. A live job's escrow is within its buyer's reserved balance, and its collateral within the
//!    worker's committed stake.
//! 2. `BlobBytesOf` equals the sizes of each owner's blobs; every blob is scheduled to expire.
//! 3. Every due list is within its bound.
//! 4. What is kept for a receipt (`MachineDependentFindings`, `DismissedChallenges`,
//!    `ForfeitedRuns`, which also a job that ended unsettled keeps) is a job's, within bounds.
//!
//! Layout follows FRAME: config → events → errors → storage → genesis → hooks → calls.
//! The records are in `types.rs`.

mod blobs;
mod ending;
mod invariants;
mod reruns;
mod types;
mod unrunnable;

use ending::BuyersEnd;

pub use blobs::{
    BlobBytesOf, BlobBytesOfPrefix, BlobInfo, BlobLifetimes, Blobs, BlobsDue, BlobsDuePrefix,
    BlobsPrefix, GenesisConfig, Lifetimes, LifetimesPrefix,
};
pub use ending::MAX_FORFEITURES;
/// Due lists moved to `pallet-support`; kept at this path for the pallets that schedule with it.
pub use pallet_support::due::schedule;
pub use reruns::{DECIDED_RERUN_BLOCKS, MAX_DECIDED_RERUNS};
pub use types::{
    AuditOutcome, Commitment, Decision, Declaration, Dismissal, Forfeiture, Job, JobStatus,
    JobVerification, MachineDependence, PaidCheck, Receipt, Refutation, Undecided,
};

use agora_primitives::dispatch::{DispatchResult, Weight};
use agora_primitives::size_proof::SizeProof;
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::trace::{verify_inclusion, InclusionProof, TraceLeaf};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_market::{Fuel, JobSpec, MarketHooks, Matched};
use pallet_support::ensure;
use parity_scale_codec::{Decode, Encode};

/// A job's id: the id of the bid it was made from.
pub type JobId = u64;

// ---------------------------------------------------------------------------------------------
// Config

/// Runtime parameters of the pallet.
pub trait Config: pallet_market::Config {
    /// Index of this pallet in the runtime.
    const JOBS_PALLET_INDEX: u8;
    /// Largest blob.
    const MAX_BLOB_SIZE: u64;
    /// Most bytes of blobs one account may have registered.
    const MAX_BLOB_BYTES_PER_ACCOUNT: u64;
    /// Deposit per blob.
    const BLOB_DEPOSIT_BASE: Balance;
    /// Deposit per started KiB of blob.
    const BLOB_DEPOSIT_PER_KIB: Balance;
    /// Blocks a blob is kept without references, unless the genesis sets another
    /// ([`Pallet::lifetimes`]).
    const BLOB_TTL: BlockNumber;
    /// Most entries due in one block (longer lists spill to the next block).
    const MAX_DUE_PER_BLOCK: u32;
    /// Longest metrics in a commitment.
    const MAX_METRICS_LEN: u32;
    /// Blocks between verification and settlement.
    const CHALLENGE_BLOCKS: BlockNumber;
    /// Least share of the max payment a buyer pays the worker to cancel an assigned job, in
    /// percent (a later cancellation pays the share of the run time it held); also what the
    /// buyer pays when the worker proves its inputs unrunnable.
    const CANCEL_FEE_PERCENT: u8;
    /// Blocks between a buyer's `cancel_job` and the cancellation taking effect; a result
    /// committed meanwhile voids it. At least the blocks a worker needs between uploading its
    /// model and its commitment being included.
    const CANCEL_NOTICE_BLOCKS: BlockNumber;
    /// Blocks a finished job is kept.
    const JOB_RETENTION: BlockNumber;
    /// Blocks a settled job's model (and the job's record) is kept for its buyer, whose
    /// deposit then pays for it, unless the buyer releases it sooner (`release_model`); unless
    /// the genesis sets another ([`Pallet::lifetimes`]).
    const MODEL_RETENTION: BlockNumber;
    /// Share of a dispute loser's slashed stake paid to the winner, in percent; the rest is
    /// burned. Below 100 so that a worker cannot recover its collateral by challenging itself
    /// from a second account.
    const DISPUTE_REWARD_PERCENT: u8;
    /// Blocks an unrunnable declaration's proof (`prove_unrunnable`) is accepted in, from the
    /// block it opens (`unrunnable.rs`).
    const PROOF_BLOCKS: BlockNumber;
    /// Fuel of a re-run (an unrunnable job's segment 0, a disputed segment, an output) that
    /// the slowest node the parameters are sized for decides ahead per block (its plain and
    /// NaN-probed re-runs together). A call that makes the referee re-run more than a block's
    /// worth — `prove_unrunnable`, a `referee` call of `pallet_verification` over a whole
    /// segment or an output — is accepted only once every node has had that long since the
    /// re-run became due, so no block carries a re-run that its builder or importer has not
    /// decided ahead.
    const REFEREE_LEAD_FUEL_PER_BLOCK: u64;
    /// What an unrunnable declaration burns per block of its proof's lead (`unrunnable.rs`):
    /// each lead block is a block of every node's referee warmer, so the fee grows with the
    /// re-run it buys, and a burst of declarations pays for every block it pushes later proofs
    /// back. An honest worker gets it back from the buyer's escrow when its proof ends the job.
    const DECLARATION_FEE_PER_LEAD_BLOCK: Balance;
    /// The verification pallet.
    type Verification: JobVerification;
}

// ---------------------------------------------------------------------------------------------
// Events

/// Events of the jobs pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize, scale_info::TypeInfo)]
pub enum Event {
    /// A matched bid became a job.
    #[codec(index = 0)]
    JobAssigned {
        /// The job.
        job: JobId,
        /// The worker.
        worker: AccountId,
        /// Last block to commit.
        commit_by: BlockNumber,
    },
    /// The worker committed a result.
    #[codec(index = 1)]
    ResultCommitted {
        /// The job.
        job: JobId,
        /// Trace root.
        trace_root: Hash,
        /// Fuel used.
        total_fuel: Fuel,
        /// The model's blob.
        output: Hash,
    },
    /// Spot checks passed; the challenge window runs.
    #[codec(index = 2)]
    JobVerified {
        /// The job.
        job: JobId,
        /// Matching checks.
        checks_passed: u32,
        /// Block of settlement.
        settle_at: BlockNumber,
    },
    /// The job settled.
    #[codec(index = 3)]
    JobSettled {
        /// The job.
        job: JobId,
        /// The money.
        receipt: Receipt,
    },
    /// A spot check mismatched; the buyer was refunded.
    #[codec(index = 4)]
    JobDisputed {
        /// The job.
        job: JobId,
        /// The mismatching segment.
        segment: u64,
        /// Refunded.
        refund: Balance,
    },
    /// The worker missed a deadline.
    #[codec(index = 5)]
    JobTimedOut {
        /// The job.
        job: JobId,
        /// The worker.
        worker: AccountId,
        /// Collateral destroyed.
        slashed: Balance,
        /// Whether the bid was requeued.
        requeued: bool,
    },
    /// The buyer asked to cancel an assigned job: it ends at `effective_at` (at the latest the
    /// commit deadline) unless the worker commits its result first.
    #[codec(index = 11)]
    JobCancelRequested {
        /// The job.
        job: JobId,
        /// The block at whose end it is cancelled.
        effective_at: BlockNumber,
    },
    /// The buyer cancelled an assigned job.
    #[codec(index = 6)]
    JobCancelled {
        /// The job.
        job: JobId,
        /// Paid to the worker.
        fee: Balance,
        /// Refunded.
        refund: Balance,
    },
    /// A blob was registered.
    #[codec(index = 7)]
    BlobRegistered {
        /// Its hash.
        hash: Hash,
        /// Who registered it.
        owner: AccountId,
        /// Its size.
        size: u64,
        /// Deposit reserved.
        deposit: Balance,
    },
    /// A blob was dropped; its deposit returned.
    #[codec(index = 8)]
    BlobExpired {
        /// Its hash.
        hash: Hash,
    },
    /// The worker lost a dispute: its collateral was slashed (part paid to the challenger,
    /// the rest burned) and the buyer refunded, or the bid requeued.
    #[codec(index = 9)]
    JobDisputeLost {
        /// The job.
        job: JobId,
        /// The worker.
        worker: AccountId,
        /// Who proved it wrong.
        challenger: AccountId,
        /// Collateral burned.
        burned: Balance,
        /// Collateral paid to the challenger.
        rewarded: Balance,
        /// Whether the bid was requeued.
        requeued: bool,
    },
    /// The worker proved the job unrunnable with the buyer's inputs (the referee saw `init` or
    /// segment 0 refused, over its fuel, or machine-dependent): the buyer paid the
    /// cancellation fee.
    #[codec(index = 10)]
    JobUnrunnable {
        /// The job.
        job: JobId,
        /// Paid to the worker.
        fee: Balance,
        /// Refunded.
        refund: Balance,
    },
    /// The worker declared that the buyer's inputs cannot run: the referee's re-run of `init`
    /// and segment 0 is decided ahead by every node, and the worker's `prove_unrunnable` is
    /// accepted from `opens_at` to `decide_by`.
    #[codec(index = 14)]
    UnrunnableDeclared {
        /// The job.
        job: JobId,
        /// The first block that accepts the proof.
        opens_at: BlockNumber,
        /// The last block that accepts it.
        decide_by: BlockNumber,
        /// What the worker burned for it: its proof's lead in blocks at
        /// `DECLARATION_FEE_PER_LEAD_BLOCK`.
        fee: Balance,
    },
    /// At settlement the buyer took over the registration of the job's model: its deposit
    /// moved from the worker to the buyer, and the model is kept until `until`.
    #[codec(index = 12)]
    ModelKept {
        /// The job.
        job: JobId,
        /// The model's blob.
        hash: Hash,
        /// The block at whose end it is dropped (unless released sooner).
        until: BlockNumber,
        /// Reserved from the buyer until then.
        deposit: Balance,
    },
    /// The buyer released its model: it is dropped at the end of the next block and its
    /// deposit returned.
    #[codec(index = 13)]
    ModelReleased {
        /// The job.
        job: JobId,
        /// The model's blob.
        hash: Hash,
    },
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Errors of the jobs pallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, scale_info::TypeInfo)]
pub enum Error {
    /// No job with this id.
    #[error("no job with this id")]
    UnknownJob,
    /// The signer is not the job's worker.
    #[error("the signer is not the worker of this job")]
    NotJobWorker,
    /// The signer is not the job's buyer.
    #[error("the signer is not the buyer of this job")]
    NotJobBuyer,
    /// The job already has a committed result.
    #[error("the job's result is already committed")]
    AlreadyCommitted,
    /// The job is not waiting for a result.
    #[error("the job is not waiting for a result")]
    NotAssigned,
    /// The commit deadline has passed.
    #[error("the job's commit deadline has passed")]
    DeadlinePassed,
    /// The commitment's segment count differs from the job's.
    #[error("the commitment's segment count differs from the job's")]
    WrongSegmentCount,
    /// The committed fuel is zero or above the bid's max fuel.
    #[error("the committed fuel is zero or above the bid's max fuel")]
    FuelOutOfRange,
    /// The output blob is not registered.
    #[error("the output is not a registered blob; register and upload it first")]
    UnknownOutput,
    /// The metrics are longer than the limit.
    #[error("the metrics are longer than the limit")]
    MetricsTooLong,
    /// A blob of size zero or above the limit.
    #[error("the blob size is zero or above the per-blob limit")]
    BadBlobSize,
    /// The account's blob quota would be exceeded.
    #[error("the account's blob quota would be exceeded")]
    BlobQuotaExceeded,
    /// The blob is already registered.
    #[error("the blob is already registered")]
    BlobAlreadyRegistered,
    /// The free balance cannot cover the blob deposit.
    #[error("the free balance cannot cover the blob deposit")]
    CannotPayDeposit,
    /// The job can only be cancelled before its result is committed.
    #[error(
        "the job can no longer be cancelled: its result is committed, it has ended, or a \
         cancellation is already pending"
    )]
    CannotCancel,
    /// The last leaf `(segments − 1, final_state, total_fuel)` is not in the committed trace:
    /// the billed fuel or the final state is not the trace's.
    #[error(
        "the committed final state and total fuel are not the last leaf of the committed trace"
    )]
    FinalLeafNotInTrace,
    /// This node does not hold the bytes of the committed model or final state.
    #[error("the committed model or final state is not uploaded to this node; upload both before committing")]
    ResultUnavailable,
    /// A challenge outside the challenge window: the job is not verified and unsettled.
    #[error("the job cannot be challenged: only a verified job can be, until it settles")]
    NotChallengeable,
    /// The worker challenged its own job.
    #[error("the worker cannot challenge its own job")]
    OwnJob,
    /// This node's referee could not run the job's segment 0 (a blob it needs is missing).
    #[error("the referee cannot run the job's segment 0 on this node: a blob it needs is missing")]
    RefereeUndecided,
    /// The job's `init` and segment 0 ran within their fuel: it is runnable.
    #[error("the job's init and segment 0 run within their fuel: it is runnable; commit a result")]
    JobRuns,
    /// A commitment whose trace ends in a refusal (zero final state) names a model or
    /// metrics, which a refused run cannot have.
    #[error("a trace that ends in a refusal has no model and no metrics: commit a zero output and empty metrics")]
    RefusalWithOutput,
    /// The commitment's heaviest segment is not in its trace, or the bill is more than the
    /// segment count times the heaviest segment's fuel.
    #[error(
        "the heaviest segment must be one of the trace's, and the bill at most segments × its fuel"
    )]
    BillAboveHeaviest,
    /// The size proof does not show that the blob has the size given.
    #[error("the size proof does not show that the blob has the size given")]
    SizeNotProven,
    /// The job has no model kept for its buyer (not settled, no model, already released or
    /// dropped).
    #[error("the job has no model kept for its buyer: not settled, no model, or already released")]
    NoModelKept,
    /// The committed final state is not a registered blob.
    #[error("the committed final state is not a registered blob; register and upload it first")]
    UnknownFinalState,
    /// The job's worker has declared it unrunnable already.
    #[error(
        "the job is already declared unrunnable; prove it (prove_unrunnable) once the proof opens"
    )]
    AlreadyDeclared,
    /// No unrunnable declaration is pending on the job.
    #[error("the job is not declared unrunnable; declare it first (declare_unrunnable)")]
    NotDeclared,
    /// The declaration's proof does not open yet: nodes are still deciding its re-run ahead.
    #[error("the proof of the job's unrunnable declaration does not open yet; see the declaration's opens_at")]
    ProofNotOpen,
    /// The worker's free balance does not cover the declaration's fee.
    #[error("the worker's free balance does not cover the unrunnable declaration's fee (1 AGR per block of its proof's lead on the runtime, at most MAX_DECLARATION_FEE)")]
    CannotPayDeclaration,
    /// The buyer has asked to cancel the job: the cancellation ends it, paying the worker for
    /// the time it held the job, and a declaration would burn its fee for nothing.
    #[error("the buyer's cancellation of the job is pending: it ends the job and pays the worker for the time held; no declaration is taken")]
    CancelPending,
    /// The worker has declared the job unrunnable and its proof's window has not passed.
    #[error("the worker declared the job unrunnable and its proof's window has not passed; cancel after the declaration's decide_by, if the job has not ended")]
    DeclarationPending,
}

agora_primitives::impl_pallet_error!(Error {
    UnknownJob,
    NotJobWorker,
    NotJobBuyer,
    AlreadyCommitted,
    NotAssigned,
    DeadlinePassed,
    WrongSegmentCount,
    FuelOutOfRange,
    UnknownOutput,
    MetricsTooLong,
    BadBlobSize,
    BlobQuotaExceeded,
    BlobAlreadyRegistered,
    CannotPayDeposit,
    CannotCancel,
    FinalLeafNotInTrace,
    ResultUnavailable,
    NotChallengeable,
    OwnJob,
    RefereeUndecided,
    JobRuns,
    RefusalWithOutput,
    BillAboveHeaviest,
    SizeNotProven,
    NoModelKept,
    UnknownFinalState,
    AlreadyDeclared,
    NotDeclared,
    ProofNotOpen,
    CannotPayDeclaration,
    CancelPending,
    DeclarationPending,
});

// ---------------------------------------------------------------------------------------------
// Storage (the blob registry's items are in `blobs.rs`)

pallet_support::storage! {
    "Jobs";
    /// `JobId → Job`: live jobs and finished ones within their retention.
    pub Jobs: map JobId => Job;
    /// Jobs with something due at a block (commit deadline, settlement, pruning).
    pub JobsDue: map BlockNumber => Vec<JobId>;
    /// `JobId → findings`: disputes of a live job that the referee set aside as machine-dependent,
    /// for its receipt (at most [`MAX_FINDINGS`]; removed when the job ends).
    pub MachineDependentFindings: map JobId => Vec<MachineDependence>;
    /// `JobId → dismissals`: open challenges of a live job that the referee could not decide,
    /// for its receipt (at most [`MAX_FINDINGS`]; removed when the job ends).
    pub DismissedChallenges: map JobId => Vec<Dismissal>;
    /// `JobId → forfeitures`: run bonds slashed for missed or wrong checks (≤ [`MAX_FORFEITURES`]):
    /// into the receipt at settlement, else kept with the job's record (not a requeued one's).
    pub ForfeitedRuns: map JobId => Vec<Forfeiture>;
    /// `JobId → declaration`: an assigned job its worker declared unrunnable, waiting for the
    /// proof (`unrunnable.rs`); removed when the job leaves `Assigned`.
    pub Declarations: map JobId => Declaration;
    /// The block the latest queued re-run's call opens at — an unrunnable declaration's proof,
    /// or a dispute's `referee` call over a whole segment or an output: the next one opens the
    /// lead of its own re-run after it (or after its own block, if later), so that the chain
    /// never asks every node to decide re-runs faster than the slowest can
    /// ([`Pallet::queue_rerun`], `reruns.rs`). Named `ProofQueue` and holding proofs only
    /// before spec version 21.
    pub RerunQueue: value BlockNumber;
    /// The last [`MAX_DECIDED_RERUNS`] re-runs a call had decided, oldest first: the request's
    /// hash ([`agora_primitives::referee::RefereeRequest::hash`]) and the block. Every node
    /// that was up keeps their verdicts, so a call asking one again within
    /// `DECIDED_RERUN_BLOCKS` is not queued (`reruns.rs`).
    pub DecidedReruns: value Vec<(Hash, BlockNumber)>;
}

/// Most findings of each kind (machine-dependence, dismissed challenges) kept for one job's
/// receipt.
pub const MAX_FINDINGS: usize = 8;

// ---------------------------------------------------------------------------------------------
// Genesis: the blob registry's lifetimes ([`GenesisConfig`], in `blobs.rs`)

// ---------------------------------------------------------------------------------------------
// Pallet

pallet_support::pallet!(
    /// The jobs pallet.
    JOBS_PALLET_INDEX
);

type Balances<T> = pallet_balances::Pallet<T>;
type Staking<T> = pallet_staking::Pallet<T>;
type Market<T> = pallet_market::Pallet<T>;
type System<T> = pallet_system::Pallet<T>;

impl<T: Config> Pallet<T> {
    /// Puts `job` on the due list of block `at`, or of a later one if that list is full;
    /// returns the block.
    fn schedule_job(ext: &mut Ext<'_>, at: BlockNumber, job: JobId) -> BlockNumber {
        schedule::<JobsDuePrefix, JobId>(ext, at, job, T::MAX_DUE_PER_BLOCK)
    }

    // --- reads -------------------------------------------------------------------------------

    /// A job (live, or finished within its retention).
    pub fn job(state: &impl StateRead, id: JobId) -> Option<Job> {
        Jobs::get(state, &id)
    }

    // --- lifecycle ---------------------------------------------------------------------------

    /// Takes over a matched bid (called through the market's hooks).
    pub fn assign(ext: &mut Ext<'_>, matched: Matched) {
        let now = System::<T>::block_number(ext);
        let commit_by = now
            .saturating_add(u64::from(matched.terms.run_blocks))
            .min(matched.terms.deadline);
        let job = Job {
            buyer: matched.buyer,
            worker: matched.provider,
            offer: matched.offer,
            spec: matched.spec,
            terms: matched.terms,
            price: matched.price,
            escrow: matched.escrow,
            collateral: matched.collateral,
            placed_at: matched.placed_at,
            matched_at: now,
            commit_by,
            commitment: None,
            cancel_at: None,
            status: JobStatus::Assigned,
        };
        Jobs::insert(ext, &matched.bid, &job);
        Self::schedule_job(ext, commit_by, matched.bid);
        Self::deposit_event(
            ext,
            Event::JobAssigned {
                job: matched.bid,
                worker: job.worker,
                commit_by,
            },
        );
    }

    /// The worker's result, with the inclusion proof of its last leaf
    /// `(segments − 1, final_state, total_fuel)`, which binds the bill to the trace.
    /// All-or-nothing.
    pub fn commit_result(
        ext: &mut Ext<'_>,
        who: &AccountId,
        id: JobId,
        commitment: Commitment,
        final_proof: &InclusionProof,
    ) -> DispatchResult {
        let now = System::<T>::block_number(ext);
        let mut job = Jobs::get(ext, &id).ok_or(Self::error(Error::UnknownJob))?;
        ensure!(job.worker == *who, Self::error(Error::NotJobWorker));
        match job.status {
            JobStatus::Assigned => {}
            JobStatus::Committed { .. }
            | JobStatus::Verified { .. }
            | JobStatus::Challenged { .. }
            | JobStatus::Settled { .. }
            | JobStatus::Disputed { .. }
            | JobStatus::DisputeLost { .. } => return Err(Self::error(Error::AlreadyCommitted)),
            JobStatus::TimedOut { .. }
            | JobStatus::Cancelled { .. }
            | JobStatus::Unrunnable { .. } => return Err(Self::error(Error::NotAssigned)),
        }
        ensure!(now <= job.commit_by, Self::error(Error::DeadlinePassed));
        let refused = commitment.ends_in_refusal();
        let segments_ok = if refused {
            (2..=job.spec.segments()).contains(&commitment.segments)
        } else {
            commitment.segments == job.spec.segments()
        };
        ensure!(segments_ok, Self::error(Error::WrongSegmentCount));
        ensure!(
            commitment.total_fuel != 0 && commitment.total_fuel <= job.terms.max_fuel,
            Self::error(Error::FuelOutOfRange)
        );
        ensure!(
            commitment.metrics.len() <= pallet_support::to_usize(T::MAX_METRICS_LEN),
            Self::error(Error::MetricsTooLong)
        );
        let covered = commitment
            .heaviest_fuel
            .checked_mul(commitment.segments)
            .is_none_or(|cap| cap >= commitment.total_fuel);
        ensure!(
            commitment.heaviest_segment < commitment.segments && covered,
            Self::error(Error::BillAboveHeaviest)
        );
        if refused {
            ensure!(
                commitment.output == Hash::ZERO && commitment.metrics.is_empty(),
                Self::error(Error::RefusalWithOutput)
            );
        } else if commitment.has_model() {
            ensure!(
                Blobs::get(ext, &commitment.output).is_some(),
                Self::error(Error::UnknownOutput)
            );
        }
        let last_leaf = TraceLeaf {
            index: commitment.segments.saturating_sub(1),
            state_hash: commitment.final_state,
            fuel: commitment.total_fuel,
        };
        ensure!(
            verify_inclusion(
                commitment.trace_root,
                commitment.segments,
                &last_leaf,
                final_proof
            )
            .is_ok(),
            Self::error(Error::FinalLeafNotInTrace)
        );
        // The model and the final state must be retrievable while the job can be challenged
        // (the output dispute's referee exports the final state): registered is not held. A
        // refused trace has neither; the refused segment's start is a sampled start like any.
        // A run whose module refused `export` has the final state and no model. Both are
        // referenced until the job ends ([`Self::release_result_blobs`]); all are checked
        // before any is.
        // Registered first (the model was above): the registry's references and lifetime are
        // what keep the bytes on every node, and a node may still hold an expired blob's bytes.
        for hash in commitment.result_blobs() {
            ensure!(
                Blobs::get(ext, &hash).is_some(),
                Self::error(Error::UnknownFinalState)
            );
        }
        for hash in commitment.result_blobs() {
            ext.require_available(hash)
                .map_err(|_| Self::error(Error::ResultUnavailable))?;
        }
        for hash in commitment.result_blobs() {
            Self::retain_blob(ext, &hash);
        }
        Self::deposit_event(
            ext,
            Event::ResultCommitted {
                job: id,
                trace_root: commitment.trace_root,
                total_fuel: commitment.total_fuel,
                output: commitment.output,
            },
        );
        job.commitment = Some(commitment);
        job.status = JobStatus::Committed { at: now };
        Jobs::insert(ext, &id, &job);
        // A worker that declared the job unrunnable and then ran it after all.
        Self::drop_declaration(ext, id);
        T::Verification::begin(ext, id, &job);
        Ok(())
    }

    // --- hooks -------------------------------------------------------------------------------

    /// End of block: missed deadlines, settlements, pruning, blob expiry. Returns the weight.
    pub fn on_finalize(ext: &mut Ext<'_>) -> Weight {
        let now = System::<T>::block_number(ext);
        let due = JobsDue::get(ext, &now).unwrap_or_default();
        if !due.is_empty() {
            JobsDue::remove(ext, &now);
        }
        for id in &due {
            let Some(job) = Jobs::get(ext, id) else {
                continue;
            };
            match job.status.clone() {
                // A cancellation the buyer asked for ends the job at the latest at its commit
                // deadline: a worker that stopped on the notice is not timed out.
                JobStatus::Assigned
                    if job.cancel_at.is_some_and(|at| at.min(job.commit_by) <= now) =>
                {
                    Self::end_by_buyer(ext, *id, job, now, BuyersEnd::Cancelled)
                }
                // A declaration's window may outlast the deadline: the job is due again at its
                // end (`unrunnable.rs`).
                JobStatus::Assigned if job.commit_by <= now => {
                    if !Self::awaits_proof(ext, *id, now) {
                        Self::time_out(ext, *id, job, now);
                    }
                }
                JobStatus::Verified {
                    paid,
                    missed,
                    refuted,
                    settle_at,
                } if settle_at <= now => Self::settle(ext, *id, job, (paid, missed, refuted), now),
                // An ended job is kept `JOB_RETENTION` blocks from its end. Its record may
                // still be due at its commit deadline, from before it ended (a job can end
                // sooner: a worker fault, a lost dispute, a cancellation), which must not
                // prune it.
                status
                    if status
                        .ended_at()
                        .is_some_and(|at| at.saturating_add(T::JOB_RETENTION) <= now) =>
                {
                    Jobs::remove(ext, id);
                    ForfeitedRuns::remove(ext, id);
                }
                _ => {}
            }
        }
        let blobs = Self::expire_blobs(ext, now);
        weights::on_finalize(due.len(), blobs)
    }

    /// Dispatches a call signed by `who`.
    pub fn dispatch(ext: &mut Ext<'_>, who: &AccountId, call: &Call) -> DispatchResult {
        match call {
            Call::RegisterBlob { hash, size, proof } => {
                Self::register_blob(ext, who, *hash, *size, proof)
            }
            Call::CommitResult {
                job,
                commitment,
                final_proof,
            } => Self::commit_result(ext, who, *job, commitment.clone(), final_proof),
            Call::CancelJob { job } => Self::cancel_job(ext, who, *job),
            Call::DeclareUnrunnable { job } => Self::declare_unrunnable(ext, who, *job),
            Call::ProveUnrunnable { job } => Self::prove_unrunnable(ext, who, *job),
            Call::ReleaseModel { job } => Self::release_model(ext, who, *job),
        }
    }
}

/// The market's view of this pallet: blobs and job hand-over.
impl<T: Config> MarketHooks for Pallet<T> {
    fn blob_known(state: &Ext<'_>, hash: &Hash) -> bool {
        Blobs::get(state, hash).is_some()
    }
    fn on_bid_placed(ext: &mut Ext<'_>, spec: &JobSpec) {
        Self::retain_blob(ext, &spec.module);
        Self::retain_blob(ext, &spec.dataset);
    }
    fn on_bid_dropped(ext: &mut Ext<'_>, spec: &JobSpec) {
        Self::release_blob(ext, &spec.module);
        Self::release_blob(ext, &spec.dataset);
    }
    fn on_matched(ext: &mut Ext<'_>, matched: Matched) {
        Self::assign(ext, matched);
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

/// Calls of the jobs pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Registers a blob (reserving its deposit) so that nodes accept its bytes.
    #[codec(index = 0)]
    RegisterBlob {
        /// blake3 of the bytes.
        hash: Hash,
        /// Size in bytes.
        size: u64,
        /// That the bytes hashing to `hash` are `size` long (`blobs.rs`).
        proof: SizeProof,
    },
    /// The worker commits its result.
    #[codec(index = 1)]
    CommitResult {
        /// The job.
        job: JobId,
        /// The result.
        commitment: Commitment,
        /// Inclusion proof of the last leaf `(segments − 1, final_state, total_fuel)`.
        final_proof: InclusionProof,
    },
    /// The buyer cancels a job before its result is committed.
    #[codec(index = 2)]
    CancelJob {
        /// The job.
        job: JobId,
    },
    /// The worker declares that the buyer's inputs cannot run: every node decides ahead the
    /// referee's re-run of `init` and segment 0, as the worker ran them (`unrunnable.rs`).
    #[codec(index = 3)]
    DeclareUnrunnable {
        /// The job.
        job: JobId,
    },
    /// The buyer has fetched its model and releases it before `MODEL_RETENTION` ends: it is
    /// dropped at the end of the next block and the buyer's deposit returned.
    #[codec(index = 4)]
    ReleaseModel {
        /// The job.
        job: JobId,
    },
    /// The worker has the referee decide its unrunnable declaration, once the proof opens:
    /// the job ends `Unrunnable` if the module refuses `init` or segment 0, runs out of fuel or
    /// is machine-dependent there.
    #[codec(index = 5)]
    ProveUnrunnable {
        /// The job.
        job: JobId,
    },
}

impl Call {
    /// The registration of `bytes` as a blob: their hash, their size and its proof.
    pub fn register_blob_of(bytes: &[u8]) -> Call {
        Call::RegisterBlob {
            hash: Hash::of(bytes),
            size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
            proof: SizeProof::of(bytes),
        }
    }

    /// Weight of the call, fixed before dispatch.
    pub fn weight(&self) -> Weight {
        match self {
            Call::RegisterBlob { .. } => weights::REGISTER_BLOB,
            Call::CommitResult { .. } => weights::COMMIT_RESULT,
            Call::CancelJob { .. } => weights::CANCEL_JOB,
            Call::DeclareUnrunnable { .. } => weights::DECLARE_UNRUNNABLE,
            Call::ProveUnrunnable { .. } => weights::PROVE_UNRUNNABLE,
            Call::ReleaseModel { .. } => weights::RELEASE_MODEL,
        }
    }
}

pub mod weights;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests;
