//! What the referee of a dispute runs, and from which block a `referee` call may make it run.
//!
//! Nodes run the referee ahead of the block that calls it (`node/src/referee.rs`), so the
//! request is a pure function of the dispute's state: [`Pallet::referee_request`] is the one
//! the call will make, and [`Pallet::referee_opens_at`] the first block that accepts it.

use crate::{Claim, Config, Dispute, Error, Jobs, Pallet, System, Turn};
use agora_primitives::dispatch::DispatchError;
use agora_primitives::referee::{RefereeRequest, RefereeTask, RefereeVerdict};
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::BlockNumber;
use pallet_jobs::JobId;

impl<T: Config> Pallet<T> {
    /// The job's first segment from `init` (within the segment bound): what the referee runs
    /// to learn whether the buyer's module is machine-dependent from the job's own inputs —
    /// the request an unrunnable declaration's proof makes, so one verdict serves both.
    pub fn establishing_request(record: &pallet_jobs::Job) -> RefereeRequest {
        Jobs::<T>::unrunnable_request(record)
    }

    /// What the referee must run to decide the dispute of `job`, once it is the referee's
    /// turn; `None` before. Nodes use it to run the referee ahead of the block that calls it
    /// (`node/src/referee.rs`): the request, hence the verdict, is the one the call will make.
    pub fn referee_request(state: &impl StateRead, job: JobId) -> Option<RefereeRequest> {
        let dispute = Self::audit(state, job)?.dispute?;
        if dispute.turn != Turn::Referee {
            return None;
        }
        let record = Jobs::<T>::job(state, job)?;
        let commitment = record.commitment.clone()?;
        Self::request_for(&record, &commitment, &dispute.claim)
    }

    /// The first block in which a `referee` call on the dispute of `job` is accepted, once it
    /// is the referee's turn; `None` before. Callers wait for it (the worker's daemon does).
    /// It reads only the entries [`Self::referee_opens_at_keys`] names, so a client can fetch
    /// those and run it on them.
    pub fn referee_opens_at(state: &impl StateRead, job: JobId) -> Option<BlockNumber> {
        Self::audit(state, job)?.dispute?.referee_opens_at
    }

    /// The storage keys [`Self::referee_opens_at`] reads for `job`: its audit, whose dispute
    /// holds the opening from the turn's start (set exactly at the referee's turn: `try_state`).
    pub fn referee_opens_at_keys(job: JobId) -> [Vec<u8>; 1] {
        [crate::Audits::key(&job)]
    }

    /// The first block that accepts the `referee` call of `dispute`, fixed as the turn began
    /// (`Pallet::moved`, [`Dispute::referee_opens_at`]); never, if it is not the referee's turn.
    pub(crate) fn opens_at(dispute: &Dispute) -> BlockNumber {
        dispute.referee_opens_at.unwrap_or(BlockNumber::MAX)
    }

    /// The referee request that decides `claim` on job `record`; `None` for a leaf bisection,
    /// which never reaches the referee.
    pub(crate) fn request_for(
        record: &pallet_jobs::Job,
        commitment: &pallet_jobs::Commitment,
        claim: &Claim,
    ) -> Option<RefereeRequest> {
        let (task, fuel_limit) = match claim {
            Claim::Steps(bisection) => (
                RefereeTask::Step {
                    pre_state: bisection.lo_state,
                },
                T::REFEREE_FUEL,
            ),
            // The bound every engine gives `export` and `eval` (the segment bound): the
            // worker's own calls ran under it, so the referee's outcome is the worker's, a call
            // out of it included (the module's refusal, as the worker commits it). Under
            // `REFEREE_FUEL`, as before 2026-12-07, an output whose `export` or `eval` needed
            // more (the language model's `eval` takes ~6,200 Mfuel) could not be decided: a
            // worker could commit any model and metrics for such a job and keep its pay.
            Claim::Output => (
                RefereeTask::Output {
                    state: commitment.final_state,
                },
                <T as pallet_market::Config>::MAX_SEGMENT_FUEL,
            ),
            // The segment's bound, or what the bid's `max_fuel` leaves after its start if that
            // is less: the fuel the worker's engine gave it (`RunSpec::segment_fuel`) — and no
            // more than the worker's leaf bills it, unless the leaf is a refusal. Within that
            // the verdict is the one the bound gives: a segment that runs in the billed fuel
            // runs the same under any larger limit (fuel is an exact count), and one that needs
            // more was billed wrong either way (out of fuel here, a different fuel there). The
            // limit sizes the call's lead and its place in the re-run queue (spec version 21):
            // sized by the bound, every fuel dispute over the example's ~100 Mfuel segments
            // took 46 blocks of everyone's queue, and a network's disputes queued past their
            // jobs' horizon (`agora-sim`'s short run left 58 jobs unfinished a seed).
            Claim::Segment(segment) => (
                RefereeTask::Segment {
                    start: segment.start.map(|leaf| leaf.state_hash),
                    steps: segment.steps,
                },
                <T as pallet_market::Config>::MAX_SEGMENT_FUEL
                    .min(
                        record
                            .terms
                            .max_fuel
                            .saturating_sub(segment.start.map_or(0, |leaf| leaf.fuel)),
                    )
                    .min(segment.claimed_fuel().unwrap_or(u64::MAX)),
            ),
            Claim::Leaves(_) => return None,
        };
        Some(record.spec.referee_request(task, fuel_limit))
    }

    /// The first block that accepts the `referee` call `dispute` is now at: this one for a
    /// step, which fits the call's weight; for a whole segment (a fuel or refusal dispute, up
    /// to `MAX_SEGMENT_FUEL`, `init` within the chain's bound first for segment 0) or an
    /// output (`export` and `eval`, each up to it), which weigh more than a block, the re-run
    /// queue's opening for it ([`pallet_jobs::Pallet::queue_rerun`]): every node's warmer
    /// decides those ahead once a finalized block makes them due (`node/src/referee.rs`), one
    /// at a time, and the call is accepted only after the blocks the slowest node needs for
    /// every re-run queued before it and for this one (for this one only if a call had the
    /// request decided lately: every node that was up holds its verdict)
    /// ([`pallet_jobs::Config::REFEREE_LEAD_FUEL_PER_BLOCK`]), so that no block builder or
    /// importer runs it inline — or is made to by a caller who times its call, or by a burst
    /// of declarations and disputes that came due together.
    pub(crate) fn queue_referee(ext: &mut Ext<'_>, job: JobId, dispute: &Dispute) -> BlockNumber {
        let now = System::<T>::block_number(ext);
        if !dispute.claim.is_queued_rerun() {
            return now;
        }
        let request = Jobs::<T>::job(ext, job).and_then(|record| {
            let commitment = record.commitment.clone()?;
            Self::request_for(&record, &commitment, &dispute.claim)
        });
        let Some(request) = request else {
            // A disputed job has its commitment; without one the call is refused anyway.
            return now;
        };
        Jobs::<T>::queue_rerun(ext, &request)
    }

    /// Whether a machine-dependent verdict on `request` is the buyer's module's doing, beyond
    /// doubt: the piece ran from the job's own inputs (`init`, then steps), or the job's first
    /// segment, from `init`, is machine-dependent too ([`Self::establishing_request`]).
    ///
    /// Why not any piece: a disputed piece may start from a state only the worker vouches for
    /// (a drawn check starts from the worker's revealed leaf; bisection moves only within the
    /// segment), and a forged state can make any module's step produce a NaN (a weight set to
    /// infinity, and `∞ − ∞`). Were every machine-dependent verdict set aside, a worker could
    /// forge every segment after its first forged one for free: only a check of that first one
    /// would catch it (`docs/nan-determinism.md`, "What a forger gains").
    pub(crate) fn established(
        ext: &mut Ext<'_>,
        record: &pallet_jobs::Job,
        request: &RefereeRequest,
    ) -> Result<bool, DispatchError> {
        if matches!(
            request.task,
            RefereeTask::Step { pre_state: None } | RefereeTask::Segment { start: None, .. }
        ) {
            return Ok(true);
        }
        let first = Self::establishing_request(record);
        let verdict = ext
            .referee(&first)
            .map_err(|_| Self::error(Error::RefereeUndecided))?;
        Ok(verdict == RefereeVerdict::MachineDependent)
    }
}
