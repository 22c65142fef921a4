//! What the referee of a dispute runs, and from which block a `referee` call may make it run.
//!
//! Nodes run the referee ahead of the block that calls it (`node/src/referee.rs`), so the
//! request is a pure function of the dispute's state: [`Pallet::referee_request`] is the one
//! the call will make, and [`Pallet::referee_opens_at`] the first block that accepts it.

use crate::{Audit, Claim, Config, Dispute, Jobs, Pallet, Turn};
use agora_primitives::referee::{referee_lead, RefereeRequest, RefereeTask};
use agora_primitives::storage::StateRead;
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
        Self::at_the_referee(state, job).map(|(_, _, request)| request)
    }

    /// The first block in which a `referee` call on the dispute of `job` is accepted, once it
    /// is the referee's turn; `None` before. Callers wait for it (the worker's daemon does).
    /// It reads only the entries [`Self::referee_opens_at_keys`] names, so a client can fetch
    /// those and run it on them.
    pub fn referee_opens_at(state: &impl StateRead, job: JobId) -> Option<BlockNumber> {
        let (audit, dispute, request) = Self::at_the_referee(state, job)?;
        Some(Self::opens_at(state, &audit, &dispute, &request))
    }

    /// The audit of `job`, its dispute and the request the `referee` call will make, if it is
    /// the referee's turn.
    fn at_the_referee(
        state: &impl StateRead,
        job: JobId,
    ) -> Option<(Audit, Dispute, RefereeRequest)> {
        let audit = Self::audit(state, job)?;
        let dispute = audit.dispute.clone()?;
        let record = Jobs::<T>::job(state, job)?;
        let commitment = record.commitment.clone()?;
        let request = (dispute.turn == Turn::Referee)
            .then(|| Self::request_for(&record, &commitment, &dispute.claim))
            .flatten()?;
        Some((audit, dispute, request))
    }

    /// The storage keys [`Self::referee_opens_at`] reads for `job`: its audit, the job and
    /// the verification windows.
    pub fn referee_opens_at_keys(job: JobId) -> [Vec<u8>; 3] {
        [
            crate::Audits::key(&job),
            pallet_jobs::Jobs::key(&job),
            crate::Windows::key(),
        ]
    }

    /// When the referee's turn in `dispute` begins to accept the call that makes `request`.
    /// A step fits the call's weight and is accepted at once. A whole segment (a fuel or
    /// refusal dispute, up to `MAX_SEGMENT_FUEL`) and an output (`export` and `eval`, each up to
    /// it) weigh more than a block: every node's warmer decides them ahead once a finalized
    /// block makes them due
    /// (`node/src/referee.rs`), and the call is accepted only after the blocks the slowest node
    /// needs for that ([`pallet_jobs::Config::REFEREE_LEAD_FUEL_PER_BLOCK`]), so that no block builder or
    /// importer runs it inline — or is made to by a caller who times its call. The lead leaves
    /// a fifth of the move's window (at least one block) for the call: an output's two calls at
    /// the bound would want more than the whole window, and a call that must land in the
    /// window's last block is one a single proposer can keep out, and the worker loses a
    /// referee call nobody made. Only a crafted module uses the bound in both calls (the
    /// shipped jobs' `export` and `eval` take at most ~6,200 Mfuel together); for it the
    /// slowest node may still be deciding when the call opens. The turn began a move's window
    /// before the deadline: every way into the referee's turn starts `dispute_move` blocks.
    pub(crate) fn opens_at(
        state: &impl StateRead,
        audit: &Audit,
        dispute: &Dispute,
        request: &RefereeRequest,
    ) -> BlockNumber {
        let window = Self::windows(state).dispute_move;
        // The whole re-run: an output's two calls; a segment's, `init` within the chain's bound
        // on a call first when it is segment 0. A step fits the call's weight.
        let rerun = match dispute.claim {
            Claim::Segment(_) | Claim::Output => Jobs::<T>::rerun_fuel(request),
            Claim::Steps(_) | Claim::Leaves(_) => 0,
        };
        let lead = referee_lead(rerun, T::REFEREE_LEAD_FUEL_PER_BLOCK, window);
        audit.deadline.saturating_sub(window).saturating_add(lead)
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
            // is less: the fuel the worker's engine gave it (`RunSpec::segment_fuel`).
            Claim::Segment(segment) => (
                RefereeTask::Segment {
                    start: segment.start.map(|leaf| leaf.state_hash),
                    steps: segment.steps,
                },
                <T as pallet_market::Config>::MAX_SEGMENT_FUEL.min(
                    record
                        .terms
                        .max_fuel
                        .saturating_sub(segment.start.map_or(0, |leaf| leaf.fuel)),
                ),
            ),
            Claim::Leaves(_) => return None,
        };
        Some(record.spec.referee_request(task, fuel_limit))
    }
}
