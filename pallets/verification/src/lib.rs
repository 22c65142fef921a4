//! # Verification pallet
//!
//! Spot checks of committed results. A worker commits one Merkle root over its trace (one leaf
//! per segment: index, state hash, cumulative fuel; the last leaf is proved at commit, so it
//! fixes the bill). This pallet picks, from a block hash the worker could not know when it
//! committed, a few segments (always the last) and verifiers for each run of consecutive
//! sampled segments; the verifiers re-execute the run from its revealed start state and must
//! arrive at the worker's leaves. `docs/verification.md` is the full specification, with the
//! attacks it answers and the ones still open.
//!
//! ## Protocol (one [`Audit`] per job)
//!
//! ```text
//! commit (block c) ─▶ AwaitingSample ─(start of block c+d: beacon of c+d)─▶ AwaitingStarts
//!   AwaitingStarts       worker: reveal_starts — for the first segment s > 0 of each run, leaf
//!                        s−1 with its proof (its state hash is s's start, its fuel the fuel
//!                        before s; the state blob must be registered so verifiers can fetch
//!                        it); s = 0 starts from init; later segments of a run: nothing
//!   AwaitingAttestations verifier: attest(h), h = attestation_hash(job, check, verifier, leaf,
//!                        result, salt) — a commitment to the leaf (and, for the last segment,
//!                        the model and metrics) it computed, hiding them
//!   AwaitingLeaves       worker: reveal_leaves — leaf s with its proof, for every check
//!   AwaitingReveals      verifier: reveal_attestation(leaf, result, salt) — opened and compared;
//!                        for the last segment `result` is (blake3(export), blake3(eval)) of the
//!                        verifier's final state, compared with the committed model and metrics
//! ```
//!
//! Each phase has a deadline (`REVEAL_BLOCKS` for the worker's phases, `ATTEST_BLOCKS` for the
//! verifiers' commitment, which covers re-execution). The commit–reveal order means a verifier
//! commits before anyone's leaf is public: it cannot copy the worker or another verifier, and
//! because no start inside a run is revealed, no revealed start is a leaf anyone attests.
//!
//! ## Outcomes
//!
//! - **Match**: the verifier's leaf equals the worker's. The verifier earns a fee for its
//!   segment's fuel at settlement (`pallet_market::assurance`), or out of the worker's
//!   collateral if the worker loses a dispute.
//! - **Mismatch**: they differ. The verifier's bond stays committed and the mismatch is
//!   **disputed** (bisection to one step and the referee, see `dispute.rs`; over fuel alone,
//!   the referee re-runs the segment); the loser is slashed.
//! - **Refuted**: the verifier lost the dispute over its mismatch; its bond is slashed.
//! - **Missed**: the verifier did not attest or reveal in time; its run bond is forfeited,
//!   slashed when the run is settled ([`bonds`]).
//! - **Wrong**: the revealed leaf and salt do not open the verifier's commitment; forfeited
//!   the same way.
//! - A worker that misses a reveal deadline is at fault: the job times out (collateral
//!   slashed, see pallet-jobs).
//!
//! A drawn verifier commits one bond per run (`bonds.rs`). With no verifier to draw (none
//! registered but the worker and buyer, or none with the run bond in stake any audit will
//! release), the job passes with zero checks and the receipt says so; busy verifiers make
//! the draw wait (`sampling.rs`).
//!
//! ## Sampling
//!
//! The last segment, the segment the worker's commitment names as its heaviest (its revealed
//! leaves must show the fuel claimed for it, and no sampled segment more: the bill is capped
//! at segments × that fuel), and `⌈N × SAMPLE_PERMILLE / 1000⌉` others, drawn from
//! `seed = blake3(SAMPLE_TAG ‖ beacon ‖ job id LE)` with the beacon of the draw's block (made
//! at its start, before any extrinsic); verifiers per run. See [`sampling`].
//!
//! ## Invariants (checked by [`Pallet::try_state`] after every test)
//!
//! 1. Every audit belongs to a job in `Committed` state, or is an open challenge's dispute of
//!    a job `Challenged` by that challenger; it is scheduled at its deadline.
//! 2. Every check whose bond is still held (no outcome, or a mismatch not yet settled by a
//!    dispute) and every open challenge's bond is covered by the committed stake; a decided
//!    check holds none; a drawn check's dispute puts at stake exactly what its check holds;
//!    `CheckBonds` is, per verifier, the sum of the bonds its checks hold.
//! 3. The verifier list has no repeats and is within its bound.
//! 4. An audit has a dispute exactly in phase `Disputed`; a step bisection has
//!    `lo < hi ≤ steps`, a leaf bisection `first ≤ hi < segments` (`first < hi` once leaf `hi`
//!    is revealed: one segment left is a step bisection or a segment re-run), a segment re-run
//!    starts at the leaf before its own (or at init for segment 0) within the trace.
//! 5. Each registered blob's reference count is the number of open bids and unfinished jobs
//!    naming it as module or dataset, unfinished commitments naming it as a result blob, and
//!    audits' revealed starts naming it as a state: what still needs its bytes keeps them.

mod bonds;
mod calls;
mod challenge;
mod checks;
mod dispute;
mod invariants;
pub mod referee;
pub mod sampling;
mod types;
mod windows;

pub use calls::{weights, Call};
pub use dispute::RefereeOutcome;
pub use types::{
    Audit, Bisection, ChallengeTarget, Check, CheckOutcome, Claim, Dispute, FinalResult,
    LeafBisection, Phase, SegmentClaim, Turn, MAX_EARLIER_CALLS,
};
pub use windows::{GenesisConfig, VerificationWindows, Windows, WindowsPrefix};

use agora_primitives::dispatch::{DispatchResult, Weight};
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::trace::TraceLeaf;
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_jobs::{AuditOutcome, Job, JobId, JobVerification, PaidCheck};
use pallet_market::Fuel;
use pallet_support::due::schedule;
use pallet_support::{ensure, BoundedVec};
use parity_scale_codec::{Decode, Encode};

/// Domain tag of the sample seed (v2: from the block's random beacon, not its parent hash).
pub const SAMPLE_TAG: &[u8] = b"agora/sample/v2";
/// Domain tag of an attestation commitment.
pub const ATTEST_TAG: &[u8] = b"agora/attest/v1";

/// The commitment a verifier publishes for check `check` of `job`:
/// `blake3("agora/attest/v1" ‖ job LE ‖ check LE ‖ verifier ‖ SCALE(leaf) ‖ SCALE(result) ‖
/// salt)`, where `result` is `Some` exactly for a check of the last segment.
pub fn attestation_hash(
    job: JobId,
    check: u32,
    verifier: &AccountId,
    leaf: &TraceLeaf,
    result: &Option<FinalResult>,
    salt: &[u8; 32],
) -> Hash {
    Hash::of_parts(&[
        ATTEST_TAG,
        &job.to_le_bytes(),
        &check.to_le_bytes(),
        &verifier.0,
        &leaf.encode(),
        &result.encode(),
        salt,
    ])
}

// ---------------------------------------------------------------------------------------------
// Config

/// Runtime parameters of the pallet.
pub trait Config: pallet_jobs::Config {
    /// Index of this pallet in the runtime.
    const VERIFICATION_PALLET_INDEX: u8;
    /// Most registered verifiers.
    const MAX_VERIFIERS: u32;
    /// Uncommitted stake needed to register as a verifier.
    const VERIFIER_MIN_STAKE: Balance;
    /// Stake committed per check, slashed when the check is missed or wrong.
    const CHECK_BOND: Balance;
    /// Blocks the worker has for each reveal.
    const REVEAL_BLOCKS: BlockNumber;
    /// Blocks verifiers have to re-execute and attest a run of up to `RUN_SEGMENTS` sampled
    /// segments.
    const ATTEST_BLOCKS: BlockNumber;
    /// Consecutive sampled segments one verifier re-executes one after another within
    /// `ATTEST_BLOCKS` (what the per-segment fuel bound is sized for). A run of the sample
    /// that is longer gets one attestation window per `RUN_SEGMENTS` of its segments
    /// ([`Pallet::attest_window`]): only its first start is revealed, so its verifier cannot
    /// re-execute its segments side by side.
    const RUN_SEGMENTS: u64;
    /// Blocks each dispute move is due in (a midpoint, an answer, the referee call).
    const MOVE_BLOCKS: BlockNumber;
    /// Blocks a draw may wait for registered verifiers' stake to come free (their check bonds
    /// committed to other jobs' checks) before the job is checked by whoever is free.
    const SAMPLE_WAIT_BLOCKS: BlockNumber;
    /// Most fuel the referee gives one engine call of a step (`init`, the step); `export` and
    /// `eval` get the segment bound since spec version 17, the worker's own.
    const REFEREE_FUEL: u64;
    /// What a `referee` call costs its caller in fees (its weight's part); repaid out of the
    /// loser's slash, so that deciding a dispute costs the side that was right nothing.
    const REFEREE_CALL_FEE: Balance;
    /// Stake an open challenge commits; slashed in the worker's favour if the challenger loses
    /// (so it must exceed what answering costs the worker: its moves' fees and the referee's).
    const CHALLENGE_BOND: Balance;
}

// ---------------------------------------------------------------------------------------------
// Events

/// Events of the verification pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize, scale_info::TypeInfo)]
pub enum Event {
    /// An account became a verifier.
    #[codec(index = 0)]
    VerifierRegistered {
        /// The verifier.
        who: AccountId,
    },
    /// A verifier left the list (its pending checks continue).
    #[codec(index = 1)]
    VerifierDeregistered {
        /// The verifier.
        who: AccountId,
    },
    /// A job's sample was drawn.
    #[codec(index = 2)]
    Sampled {
        /// The job.
        job: JobId,
        /// `(segment, verifier)` per check.
        checks: Vec<(u64, AccountId)>,
    },
    /// No eligible verifier, even after waiting: the job passes unchecked.
    #[codec(index = 3)]
    NoVerifiers {
        /// The job.
        job: JobId,
    },
    /// The worker revealed the start states.
    #[codec(index = 4)]
    StartsRevealed {
        /// The job.
        job: JobId,
    },
    /// A verifier committed to its result.
    #[codec(index = 5)]
    Attested {
        /// The job.
        job: JobId,
        /// The check.
        check: u32,
    },
    /// The worker revealed its sampled leaves.
    #[codec(index = 6)]
    LeavesRevealed {
        /// The job.
        job: JobId,
    },
    /// A check was decided.
    #[codec(index = 7)]
    CheckDecided {
        /// The job.
        job: JobId,
        /// The check.
        check: u32,
        /// Its verifier.
        verifier: AccountId,
        /// The result.
        outcome: CheckOutcome,
    },
    /// A sampled segment's revealed leaf claims more fuel than one segment may use (or less
    /// than its start): the worker is at fault and the job times out.
    #[codec(index = 8)]
    SegmentOverFuelBound {
        /// The job.
        job: JobId,
        /// The segment.
        segment: u64,
        /// The fuel its leaf claims for it (`u64::MAX` when the cumulative fuel went down).
        fuel: u64,
    },
    /// A check's mismatch is disputed between the worker and the check's verifier.
    #[codec(index = 9)]
    DisputeOpened {
        /// The job.
        job: JobId,
        /// The check.
        check: Option<u32>,
        /// Its verifier.
        challenger: AccountId,
        /// The disputed segment.
        segment: u64,
        /// Steps in the segment to bisect; 0 for a dispute over the model and metrics.
        steps: u32,
    },
    /// The worker posted its state after `step` steps of the disputed segment.
    #[codec(index = 10)]
    Bisected {
        /// The job.
        job: JobId,
        /// Steps into the segment.
        step: u32,
        /// The worker's state hash there.
        state: Hash,
    },
    /// The challenger answered; the disputed steps are now `lo..hi`.
    #[codec(index = 11)]
    Answered {
        /// The job.
        job: JobId,
        /// Whether it agreed with the midpoint.
        agree: bool,
        /// Agreed steps of the segment (in a leaf bisection: the agreed leaf's index, 0 for
        /// the job's start).
        lo: u64,
        /// Disputed steps (in a leaf bisection: the disputed leaf's index).
        hi: u64,
    },
    /// The referee executed the disputed piece.
    #[codec(index = 12)]
    Refereed {
        /// The job.
        job: JobId,
        /// What it found.
        outcome: RefereeOutcome,
    },
    /// A side lost the dispute: by the referee's result, or by missing a move.
    #[codec(index = 13)]
    DisputeLost {
        /// The job.
        job: JobId,
        /// The disputed check; `None` for an open challenge.
        check: Option<u32>,
        /// Who lost (the worker or the challenger).
        loser: AccountId,
        /// Whether it lost by missing a move.
        missed_move: bool,
    },
    /// Someone challenged a verified result; settlement waits for the dispute.
    #[codec(index = 14)]
    Challenged {
        /// The job.
        job: JobId,
        /// Who challenged.
        challenger: AccountId,
        /// What it disputes.
        target: ChallengeTarget,
        /// Stake it committed.
        bond: Balance,
    },
    /// The worker revealed a trace leaf for an open challenge's bisection.
    #[codec(index = 15)]
    LeafRevealed {
        /// The job.
        job: JobId,
        /// The leaf.
        leaf: TraceLeaf,
    },
    /// Registered verifiers had too little stake free for every check of the job's sample
    /// (their bonds are committed to other checks): the draw waits a block and tries again,
    /// for at most `SAMPLE_WAIT_BLOCKS` for a full sample, and past that while a run has no
    /// verifier that stake coming free would give it (`sampling.rs`).
    #[codec(index = 17)]
    SampleDeferred {
        /// The job.
        job: JobId,
        /// Checks that could have been drawn now.
        drawn: u32,
        /// Checks the sample needs.
        wanted: u32,
    },
    /// The referee found a drawn check's disputed piece machine-dependent from a state only
    /// the worker vouched for: the dispute goes on as a leaf bisection from the job's start,
    /// the challenger answering from its own replay (`dispute.rs`, "Reopened from the start").
    #[codec(index = 18)]
    DisputeReopened {
        /// The job.
        job: JobId,
        /// The check whose dispute it is.
        check: Option<u32>,
        /// The leaf disputed from the start: the check's segment.
        segment: u64,
    },
    /// The segment the worker named as its heaviest used other fuel than the commitment says,
    /// by the leaves it revealed: the worker is at fault and the job times out.
    #[codec(index = 16)]
    HeaviestFuelMisclaimed {
        /// The job.
        job: JobId,
        /// The segment.
        segment: u64,
        /// The fuel the commitment claims for it.
        claimed: Fuel,
        /// The fuel its revealed leaves show.
        revealed: Fuel,
    },
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Errors of the verification pallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, scale_info::TypeInfo)]
pub enum Error {
    /// Not enough uncommitted stake to register.
    #[error("the uncommitted stake is below the verifier minimum; bond more first")]
    InsufficientStake,
    /// Already registered.
    #[error("the account is already a verifier")]
    AlreadyVerifier,
    /// Not registered.
    #[error("the account is not a verifier")]
    NotVerifier,
    /// The verifier list is full.
    #[error("the verifier list is full")]
    TooManyVerifiers,
    /// No audit for this job.
    #[error("no spot check is running for this job")]
    UnknownAudit,
    /// The call does not fit the audit's phase.
    #[error("the spot check is not in the phase this call belongs to")]
    WrongPhase,
    /// The signer is not the job's worker.
    #[error("the signer is not the worker of this job")]
    NotJobWorker,
    /// The signer is not the check's verifier.
    #[error("the signer is not the verifier of this check")]
    NotCheckVerifier,
    /// No check with this index.
    #[error("no check with this index")]
    UnknownCheck,
    /// One reveal per check is needed.
    #[error("the number of reveals differs from the number of checks")]
    WrongRevealCount,
    /// A start where none is due (segment 0, or a predecessor sampled too), a missing one, or
    /// the wrong leaf.
    #[error("a start reveal is for the wrong leaf (segment s needs leaf s-1, unless s is 0 or s-1 is sampled too: then none)")]
    WrongStartLeaf,
    /// A leaf for another segment than the check's.
    #[error("a revealed leaf is for another segment than its check")]
    WrongLeaf,
    /// A Merkle proof does not lead to the committed root.
    #[error("a Merkle proof does not lead to the committed trace root")]
    BadProof,
    /// A start state blob is not registered.
    #[error("a start state is not a registered blob; register and upload it first")]
    StartStateNotRegistered,
    /// A start state's bytes are not on this node (registered is not uploaded).
    #[error("a start state is registered but its bytes are not on this node; upload them first")]
    StartStateUnavailable,
    /// The verifier already attested this check.
    #[error("this check is already attested")]
    AlreadyAttested,
    /// The verifier has not attested this check (or has already revealed).
    #[error("this check has no attestation waiting to be revealed")]
    NothingToReveal,
    /// The dispute waits for another move, or another party.
    #[error("the dispute is not waiting for this move")]
    NotYourMove,
    /// The signer is not the dispute's challenger.
    #[error("the signer is not the challenger of this dispute")]
    NotChallenger,
    /// This node's referee could not execute the step (it lacks a blob the step needs).
    #[error("the referee cannot execute the disputed step on this node: a blob it needs is missing; upload it first")]
    RefereeUndecided,
    /// The job is already being audited or disputed.
    #[error("the job is already being checked or disputed; wait for the dispute to end")]
    AlreadyChallenged,
    /// A challenged leaf past the trace's last.
    #[error("the challenged leaf is past the trace's last leaf")]
    LeafOutOfRange,
    /// The challenger's uncommitted stake is below the challenge bond.
    #[error("the uncommitted stake is below the challenge bond; bond more first")]
    ChallengeBondUnavailable,
    /// An output challenge of a trace that ends in a refusal, which has no model.
    #[error("the trace ends in a refusal and has no model: challenge its last leaf instead")]
    NoOutputToChallenge,
    /// A `referee` call over a whole segment or an output before every node has had time to
    /// decide it ahead ([`Pallet::referee_opens_at`]).
    #[error("the referee's re-run of the disputed segment or output is not open yet: call it from the block `Verification::referee_opens_at` names")]
    RefereeNotOpen,
}

agora_primitives::impl_pallet_error!(Error {
    InsufficientStake,
    AlreadyVerifier,
    NotVerifier,
    TooManyVerifiers,
    UnknownAudit,
    WrongPhase,
    NotJobWorker,
    NotCheckVerifier,
    UnknownCheck,
    WrongRevealCount,
    WrongStartLeaf,
    WrongLeaf,
    BadProof,
    StartStateNotRegistered,
    StartStateUnavailable,
    AlreadyAttested,
    NothingToReveal,
    NotYourMove,
    NotChallenger,
    RefereeUndecided,
    AlreadyChallenged,
    LeafOutOfRange,
    ChallengeBondUnavailable,
    NoOutputToChallenge,
    RefereeNotOpen,
});

// ---------------------------------------------------------------------------------------------
// Storage

pallet_support::storage! {
    "Verification";
    /// Registered verifiers, in registration order (bounded by `MAX_VERIFIERS`).
    pub Verifiers: value Vec<AccountId>;
    /// `JobId → Audit`: running spot checks.
    pub Audits: map JobId => Audit;
    /// Audits whose phase ends at a block.
    pub AuditsDue: map BlockNumber => Vec<JobId>;
    /// `AccountId → Balance`: the check bonds a verifier has committed (see [`bonds`]).
    pub CheckBonds: map AccountId => Balance;
}

// ---------------------------------------------------------------------------------------------
// Pallet

pallet_support::pallet!(
    /// The verification pallet.
    VERIFICATION_PALLET_INDEX
);

type Staking<T> = pallet_staking::Pallet<T>;
type Jobs<T> = pallet_jobs::Pallet<T>;
type System<T> = pallet_system::Pallet<T>;

impl<T: Config> Pallet<T> {
    /// The registered verifiers.
    pub fn verifiers(state: &impl StateRead) -> Vec<AccountId> {
        Verifiers::get(state).unwrap_or_default()
    }

    /// The running audit of a job.
    pub fn audit(state: &impl StateRead, job: JobId) -> Option<Audit> {
        Audits::get(state, &job)
    }

    fn put_audit(
        ext: &mut Ext<'_>,
        job: JobId,
        audit: &mut Audit,
        phase: Phase,
        deadline: BlockNumber,
    ) {
        audit.phase = phase;
        audit.deadline =
            schedule::<AuditsDuePrefix, JobId>(ext, deadline, job, T::MAX_DUE_PER_BLOCK);
        Audits::insert(ext, &job, audit);
    }

    /// Moves `audit` into `phase`, which ends `blocks` blocks after the current one.
    fn advance(
        ext: &mut Ext<'_>,
        job: JobId,
        audit: &mut Audit,
        phase: Phase,
        blocks: BlockNumber,
    ) {
        let now = System::<T>::block_number(ext);
        Self::put_audit(ext, job, audit, phase, now.saturating_add(blocks));
    }

    // --- verifiers ---------------------------------------------------------------------------

    /// Registers `who` as a verifier.
    pub fn register_verifier(ext: &mut Ext<'_>, who: &AccountId) -> DispatchResult {
        let listed = Self::verifiers(ext);
        // A full list first sheds the accounts no longer staked (they hold no slot for free).
        let listed = if listed.len() >= pallet_support::to_usize(T::MAX_VERIFIERS) {
            Self::staked_verifiers(ext)
        } else {
            listed
        };
        let mut list = BoundedVec::with_bound(listed, T::MAX_VERIFIERS);
        ensure!(!list.contains(who), Self::error(Error::AlreadyVerifier));
        ensure!(
            Staking::<T>::available(ext, who) >= T::VERIFIER_MIN_STAKE,
            Self::error(Error::InsufficientStake)
        );
        list.try_push(*who)
            .map_err(|_| Self::error(Error::TooManyVerifiers))?;
        Verifiers::put(ext, list.as_vec());
        Self::deposit_event(ext, Event::VerifierRegistered { who: *who });
        Ok(())
    }

    /// The verifier list without the accounts whose bonded stake fell below
    /// `VERIFIER_MIN_STAKE` since they registered, which leave it here (exploit 1 of issue 11:
    /// a registration checked once let an account unbond and keep its slot, and 256 such
    /// accounts left no verifier eligible, so that every job passed unchecked).
    pub(crate) fn staked_verifiers(ext: &mut Ext<'_>) -> Vec<AccountId> {
        let listed = Self::verifiers(ext);
        let (staked, unstaked): (Vec<AccountId>, Vec<AccountId>) = listed
            .into_iter()
            .partition(|v| Staking::<T>::ledger(ext, v).active >= T::VERIFIER_MIN_STAKE);
        if !unstaked.is_empty() {
            Verifiers::put(ext, &staked);
            for who in unstaked {
                Self::deposit_event(ext, Event::VerifierDeregistered { who });
            }
        }
        staked
    }

    /// Removes `who` from the verifier list.
    pub fn deregister_verifier(ext: &mut Ext<'_>, who: &AccountId) -> DispatchResult {
        let mut list = Self::verifiers(ext);
        let before = list.len();
        list.retain(|other| other != who);
        if list.len() == before {
            return Err(Self::error(Error::NotVerifier));
        }
        Verifiers::put(ext, &list);
        Self::deposit_event(ext, Event::VerifierDeregistered { who: *who });
        Ok(())
    }

    // --- outcomes ----------------------------------------------------------------------------

    /// Decides check `index` of `checks` (see [`bonds`] for what happens to its run's bond):
    /// a match passes the bond on; so do a miss and a wrong reveal, which forfeit the run bond
    /// (slashed when the run is settled: the forfeiture is returned, for the caller to note).
    #[must_use = "a forfeiture must be noted for the receipt"]
    fn decide(
        ext: &mut Ext<'_>,
        job: JobId,
        checks: &mut [Check],
        index: usize,
        outcome: CheckOutcome,
    ) -> Option<pallet_jobs::Forfeiture> {
        let check = checks.get_mut(index)?;
        check.outcome = Some(outcome);
        let verifier = check.verifier;
        Self::check_decided(ext, job, index, verifier, outcome);
        match outcome {
            CheckOutcome::Match | CheckOutcome::Missed | CheckOutcome::Wrong => {
                Self::pass_bond_on(ext, checks, index)
            }
            // Held until the dispute over it ends (`dispute.rs`); refuted by a dispute only.
            CheckOutcome::Mismatch | CheckOutcome::Refuted | CheckOutcome::MachineDependent => None,
        }
    }

    /// The event of check `index` of `job`'s audit decided `outcome`.
    pub(crate) fn check_decided(
        ext: &mut Ext<'_>,
        job: JobId,
        index: usize,
        verifier: AccountId,
        outcome: CheckOutcome,
    ) {
        Self::deposit_event(
            ext,
            Event::CheckDecided {
                job,
                check: u32::try_from(index).unwrap_or(u32::MAX),
                verifier,
                outcome,
            },
        );
    }

    /// Decides as missed every undecided check of `audit` for which `missed` holds (its
    /// verifier did not act before the phase's deadline).
    fn miss(ext: &mut Ext<'_>, job: JobId, audit: &mut Audit, missed: impl Fn(&Check) -> bool) {
        let mut checks = std::mem::take(&mut audit.checks);
        let mut forfeited = Vec::new();
        for index in 0..checks.len() {
            if checks
                .get(index)
                .is_some_and(|c| c.outcome.is_none() && missed(c))
            {
                forfeited.extend(Self::decide(
                    ext,
                    job,
                    &mut checks,
                    index,
                    CheckOutcome::Missed,
                ));
            }
        }
        Jobs::<T>::note_forfeited(ext, job, forfeited);
        audit.checks = checks;
    }

    /// The start states `audit`'s revealed starts name, one per check that has one (a state
    /// two checks start from is named twice): the blob references the audit holds.
    pub fn start_states(audit: &Audit) -> impl Iterator<Item = Hash> + '_ {
        audit
            .checks
            .iter()
            .filter_map(|check| check.start.map(|leaf| leaf.state_hash))
    }

    /// Whether `check`'s bond is still committed: it is undecided, or mismatched and not yet
    /// settled by a dispute.
    pub(crate) fn holds_bond(check: &Check) -> bool {
        matches!(check.outcome, None | Some(CheckOutcome::Mismatch))
    }

    /// Ends `audit` with `outcome`: the bonds its checks still hold are released (the
    /// verifiers were not at fault: the worker failed, or nobody could be shown wrong) unless
    /// their run is forfeited (slashed), the audit is removed and the jobs pallet told.
    fn end_audit(ext: &mut Ext<'_>, job: JobId, audit: &Audit, outcome: AuditOutcome) {
        let mut forfeited = Vec::new();
        for (index, check) in audit.checks.iter().enumerate() {
            if Self::holds_bond(check) {
                forfeited.extend(Self::settle_run_bond(ext, &audit.checks, index, check.bond));
            }
        }
        Jobs::<T>::note_forfeited(ext, job, forfeited);
        for state in Self::start_states(audit) {
            Jobs::<T>::release_blob(ext, &state);
        }
        Audits::remove(ext, &job);
        Jobs::<T>::audited(ext, job, outcome);
    }

    fn worker_fault(ext: &mut Ext<'_>, job: JobId, audit: &Audit) {
        Self::end_audit(ext, job, audit, AuditOutcome::WorkerFault);
    }

    /// Every check decided and no mismatch left standing (so no bond is held): the job passed.
    /// Checks missed, wrong or refuted count as missed on the receipt.
    fn finish(ext: &mut Ext<'_>, job: JobId, audit: &Audit) {
        let paid: Vec<PaidCheck> = audit
            .checks
            .iter()
            .filter(|c| {
                matches!(
                    c.outcome,
                    Some(CheckOutcome::Match | CheckOutcome::MachineDependent)
                )
            })
            .map(|c| Self::paid_check(audit, c))
            .collect();
        let missed = audit.checks.len().saturating_sub(paid.len());
        let outcome = AuditOutcome::Passed {
            paid,
            missed: u32::try_from(missed).unwrap_or(u32::MAX),
            refuted: audit.refuted.clone(),
        };
        Self::end_audit(ext, job, audit, outcome);
    }

    // --- hooks -------------------------------------------------------------------------------

    /// Start of block, after the block's beacon is noted and before any extrinsic: the draws
    /// due in this block, oldest job first (a draw waiting for verifiers' stake takes what
    /// came free before the draws of jobs matched after it, `sampling.rs`).
    ///
    /// Why here and not at the end of the block: a draw weighs each verifier by its free
    /// stake, and the pick is a value modulo the total weight. Drawn after the block's
    /// extrinsics, the proposer — who knows the block's beacon while it builds — could re-roll
    /// every pick of the block by choosing which transactions to include (one planck unbonded,
    /// an offer's bond, a challenge, a bid clearing). Drawn here, every input is fixed by the
    /// parent's state and the beacon: the proposer's only choice is to propose or not
    /// (`docs/beacon.md`).
    pub fn on_initialize(ext: &mut Ext<'_>) -> Weight {
        let now = System::<T>::block_number(ext);
        let mut jobs = AuditsDue::get(ext, &now).unwrap_or_default();
        let due = jobs.len();
        jobs.sort_unstable();
        jobs.dedup();
        for job in jobs {
            // Only the audits awaiting their sample now; each read once (a draw writes only
            // its own audit).
            let Some(mut audit) = Audits::get(ext, &job)
                .filter(|a| a.phase == Phase::AwaitingSample && a.deadline == now)
            else {
                continue;
            };
            if let Some(record) = Jobs::<T>::job(ext, job) {
                Self::draw(ext, job, &mut audit, &record, now);
            }
        }
        weights::on_initialize(due)
    }

    /// End of block: end the phases whose deadline is this block (the draws due in it were
    /// made by [`Self::on_initialize`]).
    pub fn on_finalize(ext: &mut Ext<'_>) -> Weight {
        let now = System::<T>::block_number(ext);
        let due = AuditsDue::get(ext, &now).unwrap_or_default();
        if due.is_empty() {
            return weights::on_finalize(0);
        }
        AuditsDue::remove(ext, &now);
        for job in &due {
            let Some(mut audit) = Audits::get(ext, job) else {
                continue;
            };
            if audit.deadline != now {
                continue;
            }
            match audit.phase {
                // Not reached: an audit awaits its draw at least one block ahead
                // (`sample_delay` ≥ 1, a wait is one more block), and `on_initialize` moved
                // every draw due now on. Kept live rather than stuck: drawn next block.
                Phase::AwaitingSample => {
                    let next = now.saturating_add(1);
                    Self::put_audit(ext, *job, &mut audit, Phase::AwaitingSample, next);
                }
                Phase::AwaitingStarts | Phase::AwaitingLeaves => {
                    Self::worker_fault(ext, *job, &audit)
                }
                Phase::AwaitingAttestations => {
                    Self::miss(ext, *job, &mut audit, |check| check.attestation.is_none());
                    if audit.checks.iter().all(|c| c.outcome.is_some()) {
                        Self::conclude(ext, *job, audit);
                    } else {
                        let due = now.saturating_add(Self::windows(ext).reveal);
                        Self::put_audit(ext, *job, &mut audit, Phase::AwaitingLeaves, due);
                    }
                }
                Phase::AwaitingReveals => {
                    Self::miss(ext, *job, &mut audit, |check| check.outcome.is_none());
                    Self::conclude(ext, *job, audit);
                }
                Phase::Disputed => Self::dispute_timed_out(ext, *job, audit),
            }
        }
        weights::on_finalize(due.len())
    }

    /// Dispatches a call signed by `who`.
    pub fn dispatch(ext: &mut Ext<'_>, who: &AccountId, call: &Call) -> DispatchResult {
        match call {
            Call::RegisterVerifier => Self::register_verifier(ext, who),
            Call::DeregisterVerifier => Self::deregister_verifier(ext, who),
            Call::RevealStarts { job, starts } => {
                Self::reveal_starts(ext, who, *job, starts.clone())
            }
            Call::Attest {
                job,
                check,
                commitment,
            } => Self::attest(ext, who, *job, *check, *commitment),
            Call::RevealLeaves { job, leaves } => {
                Self::reveal_leaves(ext, who, *job, leaves.clone())
            }
            Call::RevealAttestation {
                job,
                check,
                leaf,
                result,
                salt,
            } => Self::reveal_attestation(ext, who, *job, *check, *leaf, *result, *salt),
            Call::Bisect { job, state } => Self::bisect(ext, who, *job, *state),
            Call::Answer { job, agree } => Self::answer(ext, who, *job, *agree),
            Call::Referee { job } => Self::referee(ext, who, *job),
            Call::Challenge { job, target } => Self::challenge(ext, who, *job, *target),
            Call::RevealLeaf { job, leaf, proof } => {
                Self::reveal_leaf(ext, who, *job, *leaf, proof)
            }
        }
    }
}

impl<T: Config> JobVerification for Pallet<T> {
    fn begin(ext: &mut Ext<'_>, job: JobId, record: &Job) {
        let Some(commitment) = &record.commitment else {
            return;
        };
        let now = System::<T>::block_number(ext);
        let mut audit = Audit {
            root: commitment.trace_root,
            segments: commitment.segments,
            phase: Phase::AwaitingSample,
            deadline: 0,
            checks: Vec::new(),
            dispute: None,
            refuted: Vec::new(),
            seed: None,
        };
        // Drawn from the beacon of a block no coalition within the fault bound can know
        // while the commitment is still open (see `sampling::sample_delay`).
        let draw_at = now.saturating_add(Self::sample_delay(ext));
        Self::put_audit(ext, job, &mut audit, Phase::AwaitingSample, draw_at);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests;
