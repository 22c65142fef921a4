//! An assigned job whose buyer's inputs cannot run, shown by its worker in two calls.
//!
//! - **`declare_unrunnable`** (the worker, by the commit deadline) records a [`Declaration`].
//!   It names the referee's request, a pure function of the job
//!   ([`Pallet::unrunnable_request`]): `init` and the whole of segment 0 as one call, from the
//!   job's own inputs, within `MAX_SEGMENT_FUEL` (or the bid's `max_fuel` if less), as the
//!   worker's engine ran them. Every node's warmer decides it ahead, off the block path, once a
//!   finalized block carries the declaration (`node/src/referee/warmer.rs`).
//! - **`prove_unrunnable`** (the worker, from [`Declaration::opens_at`] to
//!   [`Declaration::decide_by`]) asks the referee for that verdict. If the module refuses
//!   anything there (a dataset or params it cannot use, a trap at any step of segment 0), is
//!   machine-dependent there (issue 17), or segment 0 needs more than that bound (steps heavier
//!   than the bid's fuel promised), the job ends `Unrunnable`: the buyer pays the cancellation
//!   fee, the rest of the escrow is refunded and the collateral released. If it runs, the proof
//!   is refused (`JobRuns`; its fee is the worker's loss) and the job carries on. A failure in
//!   a later segment cannot be proved this way (its start state would need a trace the chain
//!   can check; see `docs/verification.md`): the worker must commit, or time out.
//!
//! **Why two calls.** Until spec version 19 the declaration ran the referee inline, in the block
//! that carried it. Segment 0's re-run weighs up to twice `MAX_SEGMENT_FUEL` (`init` within the
//! chain's bound on a call, then the segment), ~90 s on the slowest node the parameters are
//! sized for, against the call's one-second weight: a worker (a buyer's sybil, with a module
//! whose `init` or segment 0 is heavy) could make every block builder and importer stall that
//! long, once per job it held, for a fee of ~1 AGR — far past a view's timeout.
//!
//! **The proof queue.** A proof opens only after the lead the slowest node needs to decide
//! its re-run ahead, the whole re-run's fuel at `REFEREE_LEAD_FUEL_PER_BLOCK` (`proof_lead`,
//! [`agora_primitives::referee::RefereeRequest::rerun_fuel`]) — and after every earlier
//! queued re-run's call has opened ([`Pallet::queue_rerun`]: the proofs' and, since spec
//! version 21, the disputes'; a request a call had decided lately is not queued, and its fee
//! is burned all the same): every node decides them one after another, in the order the
//! chain took them, so a burst of declarations (a buyer's sybils holding many jobs) pushes back
//! every later call instead of making the later ones open undecided and run inline (what a
//! burst costs: `docs/verification.md`, *The proof queue's depth*). The proof is then accepted for
//! `PROOF_BLOCKS`. A declaration whose window passed unused may be made again (a proof
//! crowded out of its window before the commit deadline need not cost the worker its
//! collateral; after it, it does: a declaration is accepted only by the deadline).
//!
//! **The declaration's fee.** Each lead block is a block of every node's warmer and a block
//! every later proof waits, so a declaration burns `DECLARATION_FEE_PER_LEAD_BLOCK` for each
//! ([`Declaration::fee`]; a second's weight, 1 AGR, on the runtime: at most 91 AGR). Before
//! spec version 20 it cost the call's fee alone (~1 AGR for up to 91 blocks): declaring on its
//! own jobs, which it then ran and committed, an attacker held every honest declared job
//! `Assigned` behind it for ~2 AGR per 91 blocks. The fee is burned, not held: a deposit
//! returned with a successful proof would cost nothing to an attacker whose modules genuinely
//! refuse after a heavy `init` (a buyer's sybil worker) — and those re-runs are work every node
//! does. An honest worker is paid it back out of the escrow when its proof ends the job: the
//! buyer's inputs made the re-run necessary, and every bid escrows the largest fee
//! (`MIN_BID_ESCROW`). A fee for a lapsed declaration is not repaid (its 60-block window
//! opened for the worker's proof alone; a proof that misses it — the worker offline, a
//! leader leaving its call out — costs the worker the fee again if it declares anew), nor for
//! one whose job then runs. A buyer cannot dodge the fee by cancelling on seeing the
//! declaration: `cancel_job` waits for the window to pass, and a declaration is not taken
//! while a cancellation is pending (that ends the job and pays the worker for its time).
//!
//! **Deadlines.** A declaration is accepted up to the job's commit deadline, and its window
//! may end after it: the job is then timed out not at the deadline but at `decide_by`, so that
//! a worker that declared in time can prove. It still cannot commit after the deadline — a
//! false declaration buys no time for a result — and a proof not made by `decide_by` ends the
//! job as the missed deadline would have (collateral slashed, escrow refunded, or the bid
//! requeued if its deadline still allows: a false declaration at the commit deadline may
//! leave too little, and costs its worker the collateral). Nor can the buyer cancel after the
//! deadline (`cancel_job`): it would pay the whole run time for a job that was late.
//!
//! Until spec version 18 a first step over `PROOF_FUEL` (the referee's fuel for one step)
//! proved a job unrunnable too, since a dispute at such a step could not be decided. Since 17
//! such a dispute goes on as the re-run of the step's segment (`pallet_verification`,
//! `StepTooHeavy`), so a heavy step is decidable, and the rule let a worker collect the
//! cancellation fee for a job it could run and be judged on.

use crate::ending::BuyersEnd;
use crate::{
    Balances, Config, Declaration, Declarations, Error, Event, Job, JobId, JobStatus, Jobs, Pallet,
    System,
};
use agora_primitives::dispatch::{DispatchError, DispatchResult};
use agora_primitives::referee::{referee_lead, RefereeRequest, RefereeTask, RefereeVerdict};
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::{AccountId, Balance, BlockNumber};
use pallet_support::ensure;

impl<T: Config> Pallet<T> {
    /// The referee request that decides whether job `job`'s inputs can run: `init` and the
    /// whole of segment 0 as one call, from the job's inputs, with the fuel the worker's engine
    /// gave them.
    pub fn unrunnable_request(job: &Job) -> RefereeRequest {
        let steps = u32::try_from(job.spec.steps_in(0)).unwrap_or(u32::MAX);
        job.spec.referee_request(
            RefereeTask::Segment { start: None, steps },
            <T as pallet_market::Config>::MAX_SEGMENT_FUEL.min(job.terms.max_fuel),
        )
    }

    /// The declaration pending on job `id`, if any.
    pub fn declaration(state: &impl StateRead, id: JobId) -> Option<Declaration> {
        Declarations::get(state, &id)
    }

    /// The request a proof of job `id`'s pending declaration will make; `None` when no
    /// declaration is pending. Nodes decide it ahead (`node/src/referee/warmer.rs`).
    pub fn declared_request(state: &impl StateRead, id: JobId) -> Option<RefereeRequest> {
        Declarations::get(state, &id)?;
        let job = Jobs::get(state, &id)?;
        (job.status == JobStatus::Assigned).then(|| Self::unrunnable_request(&job))
    }

    /// The worker of job `id` declares that the buyer's inputs cannot run (see the module doc).
    pub fn declare_unrunnable(ext: &mut Ext<'_>, who: &AccountId, id: JobId) -> DispatchResult {
        let job = Self::assigned_to(ext, who, id)?;
        let now = System::<T>::block_number(ext);
        ensure!(now <= job.commit_by, Self::error(Error::DeadlinePassed));
        // A pending cancellation ends the job first and pays the worker for its time: the fee
        // would be burned for nothing (a buyer's own sybil could otherwise pair a notice with a
        // declaration; see `cancel_job` for the other order).
        ensure!(job.cancel_at.is_none(), Self::error(Error::CancelPending));
        // One pending at a time; one whose proof window passed unused may be made again.
        ensure!(
            Declarations::get(ext, &id).is_none_or(|pending| now > pending.decide_by),
            Self::error(Error::AlreadyDeclared)
        );
        let lead = Self::proof_lead(&job);
        let fee = Self::declaration_fee(lead);
        // Burned before anything is written: a worker that cannot pay leaves no trace.
        Balances::<T>::burn(ext, who, fee).map_err(|_| Self::error(Error::CannotPayDeclaration))?;
        let opens_at = Self::queue_rerun(ext, &Self::unrunnable_request(&job));
        let mut decide_by = opens_at.saturating_add(T::PROOF_BLOCKS.max(1));
        if decide_by > job.commit_by {
            // The job is due at its deadline already; its timeout then waits for the window's
            // end (`awaits_proof`), where it is due again — a full due list spills later.
            decide_by = Self::schedule_job(ext, decide_by, id);
        }
        let declaration = Declaration {
            opens_at,
            decide_by,
            fee,
        };
        Declarations::insert(ext, &id, &declaration);
        Self::deposit_event(
            ext,
            Event::UnrunnableDeclared {
                job: id,
                opens_at,
                decide_by,
                fee,
            },
        );
        Ok(())
    }

    /// The worker of job `id` has the referee decide its declaration (see the module doc).
    pub fn prove_unrunnable(ext: &mut Ext<'_>, who: &AccountId, id: JobId) -> DispatchResult {
        let job = Self::assigned_to(ext, who, id)?;
        let declaration = Declarations::get(ext, &id).ok_or(Self::error(Error::NotDeclared))?;
        let now = System::<T>::block_number(ext);
        ensure!(
            now >= declaration.opens_at,
            Self::error(Error::ProofNotOpen)
        );
        ensure!(
            now <= declaration.decide_by,
            Self::error(Error::DeadlinePassed)
        );
        // A machine-dependent run (a NaN produced, the stack near its limit) from `init` is the
        // buyer's module too: no result of it could be verified (`docs/nan-determinism.md`).
        let verdict = ext
            .referee(&Self::unrunnable_request(&job))
            .map_err(|_| Self::error(Error::RefereeUndecided))?;
        ensure!(
            matches!(
                verdict,
                RefereeVerdict::Refused
                    | RefereeVerdict::OutOfFuel
                    | RefereeVerdict::MachineDependent
            ),
            Self::error(Error::JobRuns)
        );
        let declaration_fee = declaration.fee;
        Self::end_by_buyer(ext, id, job, now, BuyersEnd::Unrunnable { declaration_fee });
        Ok(())
    }

    /// Job `id`, if it is assigned to `who`.
    fn assigned_to(ext: &Ext<'_>, who: &AccountId, id: JobId) -> Result<Job, DispatchError> {
        let job = Jobs::get(ext, &id).ok_or(Self::error(Error::UnknownJob))?;
        ensure!(job.worker == *who, Self::error(Error::NotJobWorker));
        ensure!(
            job.status == JobStatus::Assigned,
            Self::error(Error::NotAssigned)
        );
        Ok(job)
    }

    /// Blocks the slowest node needs to decide job `job`'s proof ahead: its re-run's fuel —
    /// `init` within the chain's bound on a call, then segment 0 — at
    /// `REFEREE_LEAD_FUEL_PER_BLOCK`; at least one. The proof's window starts where the lead
    /// ends.
    fn proof_lead(job: &Job) -> BlockNumber {
        Self::rerun_lead(&Self::unrunnable_request(job))
    }

    /// What a declaration on job `job` burns (its proof's lead at
    /// `DECLARATION_FEE_PER_LEAD_BLOCK`): what its worker's free balance must cover.
    pub fn declaration_fee_of(job: &Job) -> Balance {
        Self::declaration_fee(Self::proof_lead(job))
    }

    /// What a declaration whose proof's lead is `lead` blocks burns.
    pub fn declaration_fee(lead: BlockNumber) -> Balance {
        T::DECLARATION_FEE_PER_LEAD_BLOCK.saturating_mul(Balance::from(lead))
    }

    /// The largest fee a declaration can burn: its re-run at the chain's bound (`init` within
    /// `MAX_SEGMENT_FUEL`, then a segment 0 as heavy). Every bid escrows at least this beside
    /// the two calls' weight fees (`MIN_BID_ESCROW`), so that an honest worker's fee is paid back.
    pub fn max_declaration_fee() -> Balance {
        let bound = <T as pallet_market::Config>::MAX_SEGMENT_FUEL;
        let fuel = bound.saturating_mul(2);
        Self::declaration_fee(referee_lead(fuel, T::REFEREE_LEAD_FUEL_PER_BLOCK).max(1))
    }

    /// What a proved declaration pays its worker at least beside its fee: `MIN_BID_ESCROW`
    /// less the largest fee, the weight parts of the declaration's and the proof's call fees.
    pub fn unrunnable_calls_floor() -> Balance {
        <T as pallet_market::Config>::MIN_BID_ESCROW.saturating_sub(Self::max_declaration_fee())
    }

    /// Whether job `id`, past its commit deadline at `now`, waits for the proof of a pending
    /// declaration rather than timing out.
    pub(crate) fn awaits_proof(state: &impl StateRead, id: JobId, now: BlockNumber) -> bool {
        Declarations::get(state, &id).is_some_and(|declaration| now < declaration.decide_by)
    }

    /// Drops job `id`'s declaration: the job left `Assigned` (committed, or ended).
    pub(crate) fn drop_declaration(ext: &mut Ext<'_>, id: JobId) {
        Declarations::remove(ext, &id);
    }
}
