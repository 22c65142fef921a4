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
//! [`agora_primitives::referee::RefereeRequest::rerun_fuel`]) — and after the proof of every
//! earlier declaration has opened ([`crate::ProofQueue`]): every node decides the declarations
//! one after another, in the order the chain took them, so a burst of declarations (a
//! buyer's sybils holding many jobs) pushes back every later proof instead of making the later
//! ones open undecided and run inline (what a burst costs the honest: see the open item in
//! `docs/verification.md`, *The proof queue's depth*). The proof is then accepted for
//! `PROOF_BLOCKS`. A declaration whose window passed unused may be made again (a proof
//! crowded out of its window before the commit deadline need not cost the worker its
//! collateral; after it, it does: a declaration is accepted only by the deadline).
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
    Config, Declaration, Declarations, Error, Event, Job, JobId, JobStatus, Jobs, Pallet,
    ProofQueue, System,
};
use agora_primitives::dispatch::{DispatchError, DispatchResult};
use agora_primitives::referee::{referee_lead, RefereeRequest, RefereeTask, RefereeVerdict};
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::{AccountId, BlockNumber};
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
        // One pending at a time; one whose proof window passed unused may be made again.
        ensure!(
            Declarations::get(ext, &id).is_none_or(|pending| now > pending.decide_by),
            Self::error(Error::AlreadyDeclared)
        );
        let opens_at = ProofQueue::get(ext)
            .unwrap_or(0)
            .max(now)
            .saturating_add(Self::proof_lead(&job));
        ProofQueue::put(ext, &opens_at);
        let mut decide_by = opens_at.saturating_add(T::PROOF_BLOCKS.max(1));
        if decide_by > job.commit_by {
            // The job is due at its deadline already; its timeout then waits for the window's
            // end (`awaits_proof`), where it is due again — a full due list spills later.
            decide_by = Self::schedule_job(ext, decide_by, id);
        }
        let declaration = Declaration {
            opens_at,
            decide_by,
        };
        Declarations::insert(ext, &id, &declaration);
        Self::deposit_event(
            ext,
            Event::UnrunnableDeclared {
                job: id,
                opens_at,
                decide_by,
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
        Self::end_by_buyer(ext, id, job, now, BuyersEnd::Unrunnable);
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

    /// The most fuel the referee's re-run of `request` spends in all on this chain
    /// ([`RefereeRequest::rerun_fuel`]), `init` getting the chain's bound on a call
    /// (`MAX_SEGMENT_FUEL`, every engine's `CALL_BOUNDS`): what the lead of a call that needs
    /// it is sized by, here and in `pallet_verification`.
    pub fn rerun_fuel(request: &RefereeRequest) -> u64 {
        request.rerun_fuel(<T as pallet_market::Config>::MAX_SEGMENT_FUEL)
    }

    /// Blocks the slowest node needs to decide job `job`'s proof ahead: its re-run's fuel —
    /// `init` within the chain's bound on a call, then segment 0 — at
    /// `REFEREE_LEAD_FUEL_PER_BLOCK`; at least one. Not capped by a window, as a dispute's is:
    /// the proof's window starts where the lead ends.
    fn proof_lead(job: &Job) -> BlockNumber {
        let fuel = Self::rerun_fuel(&Self::unrunnable_request(job));
        referee_lead(fuel, T::REFEREE_LEAD_FUEL_PER_BLOCK, BlockNumber::MAX).max(1)
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
