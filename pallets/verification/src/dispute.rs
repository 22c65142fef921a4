//! Disputes: a check's mismatch settled by bisection and the on-chain referee.
//!
//! When every check of an audit is decided and some mismatched, the lowest mismatching segment
//! is disputed between the worker and that check's verifier (the challenger, whose check bond
//! stays committed):
//!
//! ```text
//! state mismatch ─▶ Steps: lo = 0 (agreed start of the segment), hi = K (the worker's leaf)
//!   Worker     bisect(h)     h = the worker's state after mid = lo + (hi − lo)/2 steps
//!   Challenger answer(agree) agree: lo = mid, lo_state = h; disagree: hi = mid, hi_state = h
//!   … until hi = lo + 1 ─▶ Referee: anyone calls referee(); every validator runs the one step
//!     from lo_state (or init, then the step, for the job's first step) with bounded fuel
//!     and compares the result with hi_state
//! model/metrics mismatch (equal leaves) ─▶ Output: straight to Referee, which runs export and
//!   eval of the committed final state and compares them with the committed model and metrics
//! fuel mismatch (equal states and results) ─▶ Segment: straight to Referee, which re-runs the
//!   whole segment from its agreed start (fuel is measured per call, not per step, so it cannot
//!   be bisected) and compares the state and the start's fuel plus the call's with the leaf
//! either leaf a refusal (`TraceLeaf::refusal`: the module refused the segment) ─▶ Segment, as
//!   for fuel: a refusal is a property of the one call; the referee's `Refused` or `OutOfFuel`
//!   reproduces a refusal leaf whose fuel is the start's, and nothing else
//! ```
//!
//! **The agreed start.** A check's segment starts from its run's revealed start (the first
//! check of a run) or from the worker's leaf of the segment before, which the same verifier
//! re-executed too. That leaf is agreed only if the verifier's check of it *matched*. If that
//! check was missed, revealed wrong or set aside, a worker could have forged the leaf and
//! computed the disputed segment honestly from it, and would win a bisection that starts
//! there. Such a dispute opens instead as a leaf bisection (`challenge.rs`) from the last
//! leaf the verifier vouched for (its highest matched check of the run below the segment,
//! else the run's revealed start, or `init`) to the check's leaf, then goes on over one
//! segment as above:
//!
//! ```text
//! state/fuel/refusal mismatch, the check before not a match ─▶ Leaves: lo = the last vouched
//!   leaf, hi = the check's segment (the worker's leaf known); fuel compared too for a fuel or
//!   refusal mismatch; the challenger's first answer is due after the attestation window of
//!   a run from the run's first segment to hi (on top of the move's) … ─▶ Steps or Segment
//! ```
//!
//! Each move is due `MOVE_BLOCKS` after the previous one. **Who loses:** the worker if the
//! referee's result differs from its claim, if the module refuses the step, if it misses a
//! bisection move, or if nobody has the referee run by the deadline (the bytes the referee
//! needs are the worker's to keep available, and an honest worker runs the referee itself);
//! the challenger if the referee agrees with the worker or it misses an answer. A losing worker
//! has its collateral slashed, `DISPUTE_REWARD_PERCENT` of it paid to the challenger (see
//! `pallet_jobs`); a losing challenger has its check bond slashed the same way in the worker's
//! favour, and the audit moves on to the next mismatch, or passes. A step the referee cannot
//! fit in its fuel is decided by re-running its whole segment, as the worker ran it
//! (`StepTooHeavy`, since spec version 17; before, a plain mismatch, nobody slashed). A segment
//! is re-run with the segment fuel bound (`MAX_SEGMENT_FUEL`, or what the bid's `max_fuel`
//! leaves after the segment's start if that is less), which every segment of an honest run fits
//! in (every engine stops a call there): a segment that does not fit is the worker's
//! fault, as a sampled leaf over the bound is — unless the worker's leaf is that segment's
//! refusal leaf, which ends its trace there (the buyer's module, not the worker).
//!
//! **Machine-dependent pieces.** The referee also says when a piece's result may depend on the
//! machine (a NaN produced, a stack near its limit). That is the buyer's module's doing —
//! the dispute is *set aside*, nobody loses — only when the piece starts from states nobody
//! but the job's own inputs vouch for (`established`). A drawn check starts from the
//! worker's revealed leaf, which a forger may have filled with infinities to make any step
//! produce a NaN; so there the verdict is `Unestablished` and:
//!
//! ```text
//! Reopened from the start ─▶ Leaves: lo = the job's start, hi = the check's segment (the
//!   worker's leaf known), as an open challenge's (`challenge.rs`); whole leaves if the
//!   dispute was over a segment; the challenger's first answer is due after a replay of the
//!   job up to hi (an attestation window a segment on top of the move's) … ─▶ Steps or
//!   Segment, or (a dispute over the model and metrics narrowed to the last leaf with every
//!   state agreed) Output again ─▶ Referee: now every state it starts from is one the
//!   challenger agreed with on its way from `init`: a machine-dependent verdict is the buyer's
//!   module's (set aside, every referee call repaid out of the escrow; the replay is not paid:
//!   nothing shows it was made), any other decides as usual
//! ```
//!
//! An honest challenger agrees only with states its own run from `init` reaches, so a forger
//! meets the referee at its first forged step, from a true state, and loses; an honest worker
//! posts only true states, so a challenger cannot steer it anywhere but to a step the module
//! itself makes machine-dependent. A drawn verifier that agrees with a forger's states could as
//! well have attested a match: the reopening gives collusion nothing the draw did not.
//!
//! **Why the honest side wins.** An honest worker posts true states, so `hi_state` stays true
//! whatever the challenger answers (disagreeing keeps a true midpoint as `hi_state`, agreeing
//! moves `lo` up to a true state): the referee reproduces it. An honest challenger agrees only
//! with true states, so `lo_state` stays true and `hi_state` false: the referee's step from a
//! true state gives the true state, which differs. Rounds: ⌈log2 K⌉ midpoints and answers, then
//! one referee call. The property test `any_dishonest_play_loses_to_an_honest_side` checks this.

use crate::{
    Audit, Bisection, Check, CheckOutcome, Claim, Config, Dispute, Error, Event, Jobs, Pallet,
    Phase, SegmentClaim, Staking, System, Turn,
};
use agora_primitives::dispatch::{DispatchError, DispatchResult};
use agora_primitives::referee::RefereeVerdict;
use agora_primitives::storage::Ext;
use agora_primitives::trace::TraceLeaf;
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_jobs::{AuditOutcome, Decision, JobId, Undecided};
use pallet_market::Fuel;
use pallet_support::ensure;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::Serialize;

/// What the referee found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
#[serde(rename_all = "snake_case")]
pub enum RefereeOutcome {
    /// Its result is the worker's claim.
    #[codec(index = 0)]
    WorkerRight,
    /// Its result differs, or the module refused.
    #[codec(index = 1)]
    WorkerWrong,
    /// The piece needs more than the referee's fuel: nobody can be shown wrong. (A step no
    /// longer ends here since spec version 17: it is [`RefereeOutcome::StepTooHeavy`].)
    #[codec(index = 2)]
    OutOfFuel,
    /// The piece's outcome may depend on the machine (a NaN produced, a stack near its
    /// limit), and so does the job's first segment from its own inputs: the buyer's module is
    /// at fault, nobody else can be shown wrong.
    #[codec(index = 3)]
    MachineDependent,
    /// The piece's outcome may depend on the machine, but it starts from a state that no
    /// honest run is shown to reach and the job's first segment is not machine-dependent: it
    /// may be the worker's forgery as well as the buyer's module. Nobody can be shown wrong.
    #[codec(index = 4)]
    Unestablished,
    /// The step needs more than the referee's fuel for one call: the dispute goes on as the
    /// re-run of its whole segment, as the worker ran it ([`Bisection::rerun`]), which the
    /// referee decides next.
    #[codec(index = 5)]
    StepTooHeavy,
}

/// Where a drawn check's dispute over a segment's state, fuel or refusal starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DisputeStart {
    /// The leaf before the segment, which the verifier is on record agreeing with (`None`:
    /// `init`, for segment 0): the run's revealed start it re-executed from, or the worker's
    /// leaf of the segment before, which the verifier's check of it matched.
    Agreed(Option<TraceLeaf>),
    /// The verifier's check of the segment before did not match (it missed it, revealed
    /// wrong, or the piece was set aside): nothing shows it agrees with the worker's leaf
    /// there, which a forger may have made up and computed the disputed segment from. The
    /// dispute starts as a leaf bisection from the last leaf the verifier is on record
    /// agreeing with: the highest of its run's checks below the segment that matched, else
    /// the run's revealed start (`None`: `init`).
    LastVouched(Option<TraceLeaf>),
}

impl<T: Config> Pallet<T> {
    /// Every check is decided: dispute the lowest undisputed mismatch, or report the audit.
    pub(crate) fn conclude(ext: &mut Ext<'_>, job: JobId, mut audit: Audit) {
        let next = audit
            .checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.outcome == Some(CheckOutcome::Mismatch))
            .min_by_key(|(_, c)| c.segment)
            .map(|(index, _)| index);
        let Some(index) = next else {
            Self::finish(ext, job, &audit);
            return;
        };
        // The whole run bond is at stake in the dispute (`bonds.rs`).
        Self::gather_run_bond(&mut audit.checks, index);
        let Some(dispute) = Self::open(ext, job, &audit, index) else {
            // Leaves and results that do not differ after all, or a check without its start:
            // sampling and the reveals rule both out; end without a dispute rather than stall.
            let segment = audit.checks.get(index).map_or(0, |c| c.segment);
            Self::end_audit(ext, job, &audit, AuditOutcome::Mismatch { segment });
            return;
        };
        Self::deposit_event(
            ext,
            Event::DisputeOpened {
                job,
                check: dispute.check,
                challenger: dispute.challenger,
                segment: dispute.segment,
                steps: match &dispute.claim {
                    Claim::Steps(bisection) => bisection.steps,
                    Claim::Segment(segment) => segment.steps,
                    Claim::Output | Claim::Leaves(_) => 0,
                },
            },
        );
        Self::moved(ext, job, audit, dispute);
    }

    /// The dispute over check `index`'s mismatch: over the whole segment if either side's leaf
    /// is a refusal (whether the module refuses the segment is one re-run, not a step), else
    /// over the state if the leaves' states differ, else over the model and metrics if they
    /// differ, else over the fuel. A segment or state dispute starts from the leaf before the
    /// segment when the verifier is on record agreeing with it, else as a leaf bisection from
    /// the last leaf it vouched for ([`DisputeStart`]). `None` if nothing differs or the segment's start is
    /// unknown.
    fn open(ext: &Ext<'_>, job: JobId, audit: &Audit, index: usize) -> Option<Dispute> {
        let check = audit.checks.get(index)?;
        let (worker, verifier) = (check.worker_leaf?, check.verifier_leaf?);
        let record = Jobs::<T>::job(ext, job)?;
        let steps = u32::try_from(record.spec.steps_in(check.segment)).ok()?;
        // A re-run of the whole segment (a refusal, or fuel) or a bisection of its steps.
        let over = |rerun: bool| -> Option<Claim> {
            Some(match (Self::dispute_start(audit, index)?, rerun) {
                (DisputeStart::Agreed(start), true) => Claim::Segment(SegmentClaim {
                    steps,
                    start,
                    leaf: worker,
                }),
                (DisputeStart::Agreed(start), false) => Claim::Steps(Bisection {
                    steps,
                    lo: 0,
                    lo_state: start.map(|leaf| leaf.state_hash),
                    hi: steps,
                    hi_state: worker.state_hash,
                    midpoint: None,
                    rerun: SegmentClaim {
                        steps,
                        start,
                        leaf: worker,
                    },
                }),
                (DisputeStart::LastVouched(lo), fuel) => Claim::Leaves(crate::LeafBisection {
                    lo,
                    hi: check.segment,
                    hi_leaf: Some(worker),
                    midpoint: None,
                    fuel,
                    output: false,
                }),
            })
        };
        let claim = if worker.is_refusal() || verifier.is_refusal() {
            over(true)?
        } else if worker.state_hash != verifier.state_hash {
            over(false)?
        } else if check.verifier_result.is_some()
            && check.verifier_result != Self::committed_result(ext, job)
        {
            Claim::Output
        } else if worker.fuel != verifier.fuel {
            over(true)?
        } else {
            return None;
        };
        let mut dispute = Dispute {
            check: Some(u32::try_from(index).ok()?),
            challenger: check.verifier,
            bond: check.bond,
            segment: check.segment,
            claim,
            turn: Turn::Worker,
            round: 0,
            reopened_by: None,
            earlier_calls: Vec::new(),
            referee_opens_at: None,
        };
        Self::narrow(&record, &mut dispute);
        Some(dispute)
    }

    /// Where the dispute over check `index` starts ([`DisputeStart`]). The outer `None` when
    /// the run's start is not revealed, which the reveals rule out.
    pub(crate) fn dispute_start(audit: &Audit, index: usize) -> Option<DisputeStart> {
        let check = audit.checks.get(index)?;
        let Some(previous) = check.segment.checked_sub(1) else {
            return Some(DisputeStart::Agreed(None));
        };
        // The first check of a run: the verifier re-executed from its revealed start.
        if let Some(start) = check.start {
            return Some(DisputeStart::Agreed(Some(start)));
        }
        let mates: Vec<&Check> = Self::run_mates(&audit.checks, index)
            .into_iter()
            .filter_map(|i| audit.checks.get(i))
            .collect();
        let vouched = mates
            .iter()
            .filter(|c| c.segment < check.segment && c.outcome == Some(CheckOutcome::Match))
            .max_by_key(|c| c.segment);
        if let Some(vouched) = vouched {
            let leaf = Some(vouched.worker_leaf?);
            return Some(if vouched.segment == previous {
                DisputeStart::Agreed(leaf)
            } else {
                DisputeStart::LastVouched(leaf)
            });
        }
        let first = mates.iter().min_by_key(|c| c.segment)?;
        match first.segment {
            0 => Some(DisputeStart::LastVouched(None)),
            _ => Some(DisputeStart::LastVouched(Some(first.start?))),
        }
    }

    /// The audit of `job` with its dispute, for a move due from `turn`.
    pub(crate) fn load_dispute(
        ext: &Ext<'_>,
        job: JobId,
        turn: Turn,
    ) -> Result<(Audit, Dispute), DispatchError> {
        let audit = Self::load(ext, job, Phase::Disputed)?;
        let dispute = audit
            .dispute
            .clone()
            .ok_or(Self::error(Error::WrongPhase))?;
        ensure!(dispute.turn == turn, Self::error(Error::NotYourMove));
        Ok((audit, dispute))
    }

    /// Stores the dispute after a move (or as it opens) and starts the next move's deadline.
    /// At the referee's turn the call's opening is fixed here: a whole segment's or an
    /// output's re-run is queued behind every re-run queued before it, unless decided lately
    /// ([`Dispute::referee_opens_at`], `queue_referee`), and the deadline leaves the call a
    /// fifth of a move's window (at least a block) after it opens, if the window would end
    /// sooner — so that the call opens once the slowest node can have decided it, and no side
    /// loses a move to the queue. Why a fifth: a call that must land in the window's last block is one a single
    /// proposer can keep out, and the worker would lose a referee call nobody made.
    pub(crate) fn moved(ext: &mut Ext<'_>, job: JobId, mut audit: Audit, mut dispute: Dispute) {
        let window = Self::move_window(ext, &audit, &dispute);
        let now = System::<T>::block_number(ext);
        let mut deadline = now.saturating_add(window);
        dispute.referee_opens_at = None;
        if dispute.turn == Turn::Referee {
            let opens_at = Self::queue_referee(ext, job, &dispute);
            let dispute_move = Self::windows(ext).dispute_move;
            let kept_for_the_call = (dispute_move / 5).max(1);
            deadline = deadline.max(opens_at.saturating_add(kept_for_the_call));
            dispute.referee_opens_at = Some(opens_at);
        }
        audit.dispute = Some(dispute);
        Self::put_audit(ext, job, &mut audit, Phase::Disputed, deadline);
    }

    /// Blocks the next move of `dispute` is due in: `dispute_move`, except for the
    /// challenger's first answer in a drawn check's leaf bisection, which comes after its
    /// re-execution of the disputed leaves: reopened from the job's start, an attestation
    /// window for each segment up to the disputed one on top; opened from the last leaf the
    /// verifier vouched for, the attestation window a run from the run's first segment to the
    /// disputed one had (the verifier re-executed them for its attestations already; one
    /// that lost them re-executes from the run's start, the state it holds). An open
    /// challenger replayed the job before it challenged.
    fn move_window(ext: &Ext<'_>, audit: &Audit, dispute: &Dispute) -> BlockNumber {
        let windows = Self::windows(ext);
        match &dispute.claim {
            Claim::Leaves(leaves)
                if dispute.check.is_some()
                    && !dispute.from_start()
                    && dispute.round == 0
                    && dispute.turn == Turn::Challenger =>
            {
                let first = Self::run_mates(&audit.checks, Self::check_index(dispute))
                    .into_iter()
                    .filter_map(|i| audit.checks.get(i).map(|c| c.segment))
                    .min()
                    .unwrap_or_else(|| leaves.first());
                let length = leaves.hi.saturating_add(1).saturating_sub(first);
                windows
                    .dispute_move
                    .saturating_add(Self::run_attest_window(ext, length))
            }
            Claim::Leaves(leaves)
                if dispute.from_start()
                    && dispute.round == 0
                    && dispute.turn == Turn::Challenger =>
            {
                let segments =
                    BlockNumber::try_from(leaves.hi.saturating_add(1)).unwrap_or(BlockNumber::MAX);
                windows
                    .dispute_move
                    .saturating_add(windows.attest.saturating_mul(segments))
            }
            _ => windows.dispute_move,
        }
    }

    /// The worker posts its state after the midpoint of the disputed steps.
    pub fn bisect(ext: &mut Ext<'_>, who: &AccountId, job: JobId, state: Hash) -> DispatchResult {
        let (audit, mut dispute) = Self::load_dispute(ext, job, Turn::Worker)?;
        let worker = Jobs::<T>::job(ext, job).map(|j| j.worker);
        ensure!(worker == Some(*who), Self::error(Error::NotJobWorker));
        let Claim::Steps(bisection) = &mut dispute.claim else {
            return Err(Self::error(Error::NotYourMove));
        };
        bisection.midpoint = Some(state);
        let step = bisection.mid();
        dispute.turn = Turn::Challenger;
        Self::moved(ext, job, audit, dispute);
        Self::deposit_event(ext, Event::Bisected { job, step, state });
        Ok(())
    }

    /// The challenger agrees or disagrees with the worker's midpoint.
    pub fn answer(ext: &mut Ext<'_>, who: &AccountId, job: JobId, agree: bool) -> DispatchResult {
        let (audit, mut dispute) = Self::load_dispute(ext, job, Turn::Challenger)?;
        ensure!(
            dispute.challenger == *who,
            Self::error(Error::NotChallenger)
        );
        let (lo, hi) = match &mut dispute.claim {
            Claim::Steps(bisection) => {
                let mid = bisection.mid();
                let posted = bisection
                    .midpoint
                    .take()
                    .ok_or(Self::error(Error::NotYourMove))?;
                if agree {
                    bisection.lo = mid;
                    bisection.lo_state = Some(posted);
                } else {
                    bisection.hi = mid;
                    bisection.hi_state = posted;
                }
                (u64::from(bisection.lo), u64::from(bisection.hi))
            }
            Claim::Leaves(leaves) => {
                Self::answer_leaf(leaves, agree).map_err(Self::error)?;
                (leaves.lo.map_or(0, |l| l.index), leaves.hi)
            }
            Claim::Output | Claim::Segment(_) => return Err(Self::error(Error::NotYourMove)),
        };
        let record = Jobs::<T>::job(ext, job).ok_or(Self::error(Error::UnknownAudit))?;
        Self::narrow(&record, &mut dispute);
        dispute.round = dispute.round.saturating_add(1);
        Self::moved(ext, job, audit, dispute);
        Self::deposit_event(ext, Event::Answered { job, agree, lo, hi });
        Ok(())
    }

    /// Anyone has the referee execute the disputed step (or the export and eval) and the
    /// dispute decided. Refused, changing nothing, when this node cannot decide (it lacks a
    /// blob the step needs): the executive then keeps the call out of the block.
    pub fn referee(ext: &mut Ext<'_>, who: &AccountId, job: JobId) -> DispatchResult {
        let (audit, dispute) = Self::load_dispute(ext, job, Turn::Referee)?;
        let record = Jobs::<T>::job(ext, job).ok_or(Self::error(Error::UnknownAudit))?;
        let commitment = record
            .commitment
            .clone()
            .ok_or(Self::error(Error::UnknownAudit))?;
        let request = Self::request_for(&record, &commitment, &dispute.claim)
            .ok_or(Self::error(Error::NotYourMove))?;
        // Before the engine runs: an early call must not make this block run the re-run.
        ensure!(
            System::<T>::block_number(ext) >= Self::opens_at(&dispute),
            Self::error(Error::RefereeNotOpen)
        );
        let verdict = ext
            .referee(&request)
            .map_err(|_| Self::error(Error::RefereeUndecided))?;
        if dispute.claim.is_queued_rerun() {
            // Asked again, it takes no place in the re-run queue (`pallet_jobs`' `reruns.rs`).
            Jobs::<T>::note_rerun_decided(ext, &request);
        }
        let outcome = match (&dispute.claim, verdict) {
            // Two honest machines may disagree on this piece; the buyer's module is at fault
            // only if it is machine-dependent from the job's own inputs (see `established`).
            (_, RefereeVerdict::MachineDependent) => {
                if dispute.from_start() || Self::established(ext, &record, &request)? {
                    RefereeOutcome::MachineDependent
                } else {
                    RefereeOutcome::Unestablished
                }
            }
            (Claim::Segment(segment), RefereeVerdict::Segmented { post_state, fuel })
                if segment.is_reproduced_by(post_state, fuel) =>
            {
                RefereeOutcome::WorkerRight
            }
            // A trace that ends in a refusal: the referee is refused too.
            (Claim::Segment(segment), RefereeVerdict::Refused | RefereeVerdict::OutOfFuel)
                if segment.is_reproduced_by_refusal() =>
            {
                RefereeOutcome::WorkerRight
            }
            // Every call of an honest run fits the segment bound, or ends its trace in a
            // refusal (see the module doc).
            (Claim::Segment(_), RefereeVerdict::OutOfFuel) => RefereeOutcome::WorkerWrong,
            // Before spec version 17 this ended undecided — a plain mismatch for a drawn check:
            // the buyer refunded, the worker unpaid, nobody slashed. A buyer whose module's
            // steps need more than the referee's fuel could then have the job run for free by
            // being drawn as its verifier.
            (Claim::Steps(_), RefereeVerdict::OutOfFuel) => RefereeOutcome::StepTooHeavy,
            (_, RefereeVerdict::OutOfFuel) => RefereeOutcome::OutOfFuel,
            (Claim::Steps(bisection), RefereeVerdict::Stepped { post_state })
                if post_state == bisection.hi_state =>
            {
                RefereeOutcome::WorkerRight
            }
            (Claim::Output, RefereeVerdict::Exported { output, metrics })
                if output == commitment.output && metrics == Hash::of(&commitment.metrics) =>
            {
                RefereeOutcome::WorkerRight
            }
            // A different result, a refusal (the worker claimed the piece ran), or a verdict
            // of the other kind (which an honest node never returns).
            _ => RefereeOutcome::WorkerWrong,
        };
        Self::deposit_event(ext, Event::Refereed { job, outcome });
        let decided = Self::referee_decision(&dispute.claim);
        match outcome {
            RefereeOutcome::WorkerRight => {
                Self::challenger_loses(ext, job, audit, &dispute, (Some(*who), decided))
            }
            RefereeOutcome::WorkerWrong => {
                Self::worker_loses(ext, job, &audit, &dispute, (Some(*who), decided))
            }
            RefereeOutcome::Unestablished if Self::reopenable(&dispute) => {
                Self::reopen_from_start(ext, (job, &record), audit, dispute, *who);
            }
            RefereeOutcome::OutOfFuel => {
                Self::end_undecided(ext, job, audit, &dispute, (*who, Undecided::OutOfFuel))
            }
            RefereeOutcome::Unestablished => {
                Self::end_undecided(ext, job, audit, &dispute, (*who, Undecided::Unestablished))
            }
            RefereeOutcome::MachineDependent => {
                Self::set_aside(ext, job, audit, &dispute, (*who, decided))
            }
            RefereeOutcome::StepTooHeavy => {
                let mut dispute = dispute;
                if let Claim::Steps(bisection) = &dispute.claim {
                    dispute.claim = Claim::Segment(bisection.rerun.clone());
                }
                // Its caller paid for a call that decided nothing yet: repaid with the next.
                Self::note_earlier_call(&mut dispute, *who);
                // The referee's turn again, with a move's window from now: the re-run's call
                // is queued (`moved`).
                Self::narrow(&record, &mut dispute);
                Self::moved(ext, job, audit, dispute);
            }
        }
        Ok(())
    }

    /// The piece the referee runs for `claim`, as the receipt names it.
    fn referee_decision(claim: &Claim) -> Decision {
        match claim {
            Claim::Steps(bisection) => Decision::RefereeStep { step: bisection.lo },
            Claim::Segment(_) => Decision::RefereeSegment,
            Claim::Output | Claim::Leaves(_) => Decision::RefereeOutput,
        }
    }

    /// Whether an unestablished verdict on `dispute` reopens it from the job's start: a drawn
    /// check's dispute, not reopened before. An open challenge is a bisection from the start
    /// already, and dismissing it costs the worker nothing.
    fn reopenable(dispute: &Dispute) -> bool {
        dispute.check.is_some() && !dispute.from_start()
    }

    /// Reopens the dispute of a drawn check from the job's start (see the module doc,
    /// "Machine-dependent pieces"): a leaf bisection between `init` and the worker's leaf of
    /// the check's segment, the challenger answering from its own replay; whole leaves when
    /// the dispute was over a segment's refusal or fuel, as in a fuel challenge; back to the
    /// model and metrics, if it was over them, once every state up to the last is agreed.
    fn reopen_from_start(
        ext: &mut Ext<'_>,
        (job, record): (JobId, &pallet_jobs::Job),
        audit: Audit,
        mut dispute: Dispute,
        caller: AccountId,
    ) {
        let check = audit.checks.get(Self::check_index(&dispute));
        // Whole leaves when the check's leaves differ in fuel or a refusal, as `open` decides —
        // not whenever the claim is a segment's re-run: a state dispute escalated to one
        // (`StepTooHeavy`) is bisected by steps again from the start (found in review: reopened
        // in fuel mode, it re-ran whole segments only, whose machine-dependence anywhere in a
        // forged segment set the forgery aside).
        let over_fuel = check.is_some_and(|c| match (c.worker_leaf, c.verifier_leaf) {
            (Some(worker), Some(verifier)) => {
                worker.is_refusal()
                    || verifier.is_refusal()
                    || worker.state_hash == verifier.state_hash
            }
            _ => matches!(dispute.claim, Claim::Segment(_)),
        });
        let Some((segment, worker_leaf)) = check.and_then(|c| Some((c.segment, c.worker_leaf?)))
        else {
            // Every disputed check has the worker's leaf (`open` needs it).
            Self::end_undecided(
                ext,
                job,
                audit,
                &dispute,
                (caller, Undecided::Unestablished),
            );
            return;
        };
        dispute.claim = Claim::Leaves(crate::LeafBisection {
            lo: None,
            hi: segment,
            hi_leaf: Some(worker_leaf),
            midpoint: None,
            fuel: over_fuel && !matches!(dispute.claim, Claim::Output),
            output: matches!(dispute.claim, Claim::Output),
        });
        dispute.segment = segment;
        dispute.reopened_by = Some(caller);
        Self::note_earlier_call(&mut dispute, caller);
        dispute.round = 0;
        Self::narrow(record, &mut dispute);
        Self::deposit_event(
            ext,
            Event::DisputeReopened {
                job,
                check: dispute.check,
                segment,
            },
        );
        Self::moved(ext, job, audit, dispute);
    }

    /// The move due at this deadline was not made: the side that owed it loses. A referee call
    /// nobody made counts against the worker, whose bytes it needs.
    pub(crate) fn dispute_timed_out(ext: &mut Ext<'_>, job: JobId, audit: Audit) {
        let Some(dispute) = audit.dispute.clone() else {
            return;
        };
        match dispute.turn {
            Turn::Worker | Turn::Referee => {
                Self::worker_loses(ext, job, &audit, &dispute, (None, Decision::MissedMove))
            }
            Turn::Challenger => {
                Self::challenger_loses(ext, job, audit, &dispute, (None, Decision::MissedMove))
            }
        }
    }

    /// Records that `caller` had the referee run a verdict that did not end `dispute`
    /// ([`Dispute::earlier_calls`]).
    fn note_earlier_call(dispute: &mut Dispute, caller: AccountId) {
        // An escalation happens once per bisection by steps, and a reopening once: the
        // dispute's own rules bound this list, which nothing outside them can grow.
        assert!(
            dispute.earlier_calls.len() < crate::MAX_EARLIER_CALLS,
            "verification invariant broken: a dispute's referee calls outgrew their bound"
        );
        dispute.earlier_calls.push(caller);
    }

    /// Who is repaid a referee call's fee out of the loser's slash, in the order of the calls:
    /// whoever called the referee in `dispute` — its earlier calls and the deciding one
    /// (`caller`; `None` when the dispute ended by a missed move) — unless the loser called it
    /// itself.
    fn repay_to(
        dispute: &Dispute,
        caller: Option<AccountId>,
        loser: &AccountId,
    ) -> Vec<(AccountId, Balance)> {
        dispute
            .earlier_calls
            .iter()
            .copied()
            .chain(caller)
            .filter(|c| c != loser)
            .map(|c| (c, T::REFEREE_CALL_FEE))
            .collect()
    }

    /// The worker lost: every held check bond is released, and the jobs pallet slashes the
    /// collateral (repaying each referee call's caller first, then in the challenger's favour) and
    /// refunds (or requeues) the buyer. `caller` had the referee run (`None`: a missed move).
    fn worker_loses(
        ext: &mut Ext<'_>,
        job: JobId,
        audit: &Audit,
        dispute: &Dispute,
        (caller, decided): (Option<AccountId>, Decision),
    ) {
        let worker = Self::worker_of(ext, job, dispute);
        Self::lost(ext, job, dispute, worker, caller.is_none());
        if dispute.check.is_none() {
            // An open challenge's bond; a check's is released with the audit's.
            Staking::<T>::release(ext, &dispute.challenger, dispute.bond);
        }
        let outcome = AuditOutcome::WorkerLost {
            segment: dispute.segment,
            challenger: dispute.challenger,
            repay: Self::repay_to(dispute, caller, &worker),
            open: dispute.check.is_none(),
            decided,
            bond: dispute.bond,
            checks: Self::revealed_checks(audit),
        };
        Self::end_audit(ext, job, audit, outcome);
    }

    /// The challenger lost: its check is refuted and its bond slashed — each referee call's caller
    /// repaid first, the rest in the worker's favour; the audit moves on to the next mismatch,
    /// or passes. `caller` had the referee run (`None`: a missed move).
    fn challenger_loses(
        ext: &mut Ext<'_>,
        job: JobId,
        mut audit: Audit,
        dispute: &Dispute,
        (caller, decided): (Option<AccountId>, Decision),
    ) {
        let worker = Self::worker_of(ext, job, dispute);
        let challenger = dispute.challenger;
        Self::lost(ext, job, dispute, challenger, caller.is_none());
        let slashed = Staking::<T>::slash_with_repayment(
            ext,
            &challenger,
            dispute.bond,
            &Self::repay_to(dispute, caller, &challenger),
            &worker,
            (
                <T as pallet_jobs::Config>::DISPUTE_REWARD_PERCENT,
                Balance::MAX,
            ),
        );
        audit.refuted.push(pallet_jobs::Refutation {
            verifier: challenger,
            segment: dispute.segment,
            open: dispute.check.is_none(),
            decided,
            repaid: slashed.repaid,
            burned: slashed.burned,
            rewarded: slashed.rewarded,
        });
        let index = Self::check_index(dispute);
        if let Some(check) = audit.checks.get_mut(index) {
            check.outcome = Some(CheckOutcome::Refuted);
            check.bond = 0;
            Self::forget_check_bond(ext, &challenger, dispute.bond);
            // Its other mismatches in the run start from the state shown wrong (`bonds.rs`).
            Self::refute_run_mismatches(ext, job, &mut audit.checks, index);
        }
        audit.dispute = None;
        Self::conclude(ext, job, audit);
    }

    /// The worker of the disputed job (the job exists while its audit does).
    fn worker_of(ext: &Ext<'_>, job: JobId, dispute: &Dispute) -> AccountId {
        Jobs::<T>::job(ext, job).map_or(dispute.challenger, |j| j.worker)
    }

    /// `loser` lost the dispute, by the referee or (`missed_move`) by a deadline.
    fn lost(ext: &mut Ext<'_>, job: JobId, dispute: &Dispute, loser: AccountId, missed_move: bool) {
        let check = dispute.check;
        Self::deposit_event(
            ext,
            Event::DisputeLost {
                job,
                check,
                loser,
                missed_move,
            },
        );
    }

    /// The referee found the disputed piece machine-dependent (`docs/nan-determinism.md`): two
    /// honest machines may disagree on it, so neither side loses. The dispute is set aside as
    /// if the mismatch had not been raised: a drawn check's bond is released and its verifier
    /// still earns its fee (it did the work), an open challenger's bond is released, and
    /// `caller` is repaid the referee call's fee out of the escrow at settlement; the finding
    /// goes on the receipt, and the audit moves on to the next mismatch, or passes (an
    /// open challenge's job is verified again, its window reopened for others).
    ///
    /// Only for a finding [`Self::established`]: the buyer's module is shown machine-dependent
    /// from the job's own inputs, so the worker may have been honest whatever its states hold.
    fn set_aside(
        ext: &mut Ext<'_>,
        job: JobId,
        mut audit: Audit,
        dispute: &Dispute,
        (caller, decided): (AccountId, Decision),
    ) {
        Jobs::<T>::note_machine_dependent(
            ext,
            job,
            pallet_jobs::MachineDependence {
                segment: dispute.segment,
                challenger: dispute.challenger,
                open: dispute.check.is_none(),
                decided,
                repay: dispute
                    .earlier_calls
                    .iter()
                    .copied()
                    .chain([caller])
                    .map(|who| (who, T::REFEREE_CALL_FEE))
                    .collect(),
                replayed: Self::replayed_fuel(&audit, dispute),
            },
        );
        let index = Self::check_index(dispute);
        match audit.checks.get_mut(index) {
            Some(check) => {
                check.outcome = Some(CheckOutcome::MachineDependent);
                let forfeited = Self::pass_bond_on(ext, &mut audit.checks, index);
                Jobs::<T>::note_forfeited(ext, job, forfeited);
            }
            None => {
                Staking::<T>::release(ext, &dispute.challenger, dispute.bond);
            }
        }
        audit.dispute = None;
        Self::conclude(ext, job, audit);
    }

    /// The index in its audit of the check whose mismatch `dispute` is; `usize::MAX` (no check)
    /// for an open challenge.
    fn check_index(dispute: &Dispute) -> usize {
        dispute
            .check
            .map_or(usize::MAX, |c| usize::try_from(c).unwrap_or(usize::MAX))
    }

    /// The fuel the challenger of a dispute reopened from the start re-executed to answer it:
    /// the worker's cumulative fuel at the check's leaf (0 for any other dispute).
    fn replayed_fuel(audit: &Audit, dispute: &Dispute) -> Fuel {
        match audit
            .checks
            .get(Self::check_index(dispute))
            .and_then(|c| c.worker_leaf)
        {
            Some(leaf) if dispute.from_start() => leaf.fuel,
            _ => 0,
        }
    }

    /// The referee could not decide (`reason`): nobody can be shown wrong. A check's mismatch
    /// ends the audit as a plain mismatch (held bonds released, escrow refunded, nobody
    /// slashed); an open challenge is dismissed (the job verified as before, the dismissal kept
    /// for the receipt): the challenger proved nothing against a verified result, so it pays for
    /// the referee calls it caused — `caller`'s and any earlier one's — out of its bond
    /// ([`Self::repay_to`]) and the rest is released. Otherwise the same undecidable challenge could be raised again and again for
    /// the price of its fee, each round costing the worker a referee call and moving its
    /// settlement.
    fn end_undecided(
        ext: &mut Ext<'_>,
        job: JobId,
        mut audit: Audit,
        dispute: &Dispute,
        (caller, reason): (AccountId, Undecided),
    ) {
        if dispute.check.is_some() {
            let segment = dispute.segment;
            Self::end_audit(ext, job, &audit, AuditOutcome::Mismatch { segment });
        } else {
            let challenger = dispute.challenger;
            // Every call the challenge caused, an escalation's included, in the order made.
            let (mut owed, mut repaid, mut burned): (Balance, Vec<_>, Balance) = (0, Vec::new(), 0);
            for (to, fee) in Self::repay_to(dispute, Some(caller), &challenger) {
                let due = fee.min(dispute.bond.saturating_sub(owed));
                if due == 0 {
                    break;
                }
                // All of it to the caller; burned only if the caller cannot receive it.
                let (lost, paid) = Staking::<T>::slash_committed_rewarding(
                    ext,
                    &challenger,
                    due,
                    &to,
                    (100, Balance::MAX),
                );
                owed = owed.saturating_add(due);
                burned = burned.saturating_add(lost);
                repaid.push((to, paid));
            }
            Staking::<T>::release(ext, &challenger, dispute.bond.saturating_sub(owed));
            let dismissal = pallet_jobs::Dismissal {
                segment: dispute.segment,
                challenger,
                decided: Self::referee_decision(&dispute.claim),
                reason,
                repaid,
                burned,
            };
            Jobs::<T>::note_dismissed(ext, job, dismissal);
            audit.dispute = None;
            Self::conclude(ext, job, audit);
        }
    }
}
