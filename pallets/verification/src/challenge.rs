//! Open challenges: anyone with stake disputes a verified result within its challenge window.
//!
//! Sampling checks a few segments; it cannot catch every forgery. So a job that passed its
//! checks is not settled at once: for `CHALLENGE_BLOCKS` (pallet-jobs) any account other than
//! the worker may commit `CHALLENGE_BOND` of its uncommitted stake and call
//! `challenge(job, target)`:
//!
//! ```text
//! Leaf(I) ─▶ Leaves: lo = the job's start, hi = I
//!   Worker     reveal_leaf(leaf, proof)  first leaf I (known already when I is the last leaf),
//!                                        then leaf mid = first + (hi − first)/2 of the range
//!                                        first..=hi (first = lo + 1); checked against the root
//!   Challenger answer(agree)             agree: lo = mid; disagree: hi = mid
//!   … until first = hi ─▶ Steps over segment hi, from lo's state to hi's (see `dispute.rs`)
//! Fuel(I) ─▶ Leaves as for Leaf(I), the challenger agreeing only with leaves equal to its own
//!   in state and fuel; one segment left ─▶ Segment: the referee re-runs it whole
//! Output  ─▶ the referee runs export and eval of the committed final state (see `dispute.rs`)
//! ```
//!
//! The job is `Challenged` meanwhile (settlement waits). The dispute is the one sampled checks
//! open, with the same moves, deadlines and referee; only the stake differs. **If the worker
//! loses** (wrong at the referee, or it misses a move — revealing a leaf included: the trace is
//! the worker's to keep available), its collateral is slashed in the challenger's favour, the
//! challenger's bond is released and the buyer refunded or the bid requeued. **If the challenger
//! loses**, its bond is slashed in the worker's favour and the job is `Verified` again with at
//! least `CHALLENGE_BLOCKS` of window left for anyone else. A step the referee cannot fit in its
//! fuel is decided by re-running its whole segment (since spec version 17; before, the
//! challenge was dismissed).
//!
//! **Which leaf.** The challenger claims that its own re-execution from the job's start
//! disagrees with leaf I's state; bisection then finds the first disagreeing segment within
//! `0..=I`. A challenger sure only that the final state is wrong challenges the last leaf,
//! which the commitment already proved. Rounds: ⌈log2(I + 1)⌉ leaf reveals and answers, then
//! ⌈log2(steps in a segment)⌉ midpoints and answers, then one referee call.

use crate::{
    Audit, Audits, ChallengeTarget, Claim, Config, Dispute, Error, Event, Jobs, LeafBisection,
    Pallet, Phase, Staking, Turn,
};
use agora_primitives::dispatch::DispatchResult;
use agora_primitives::storage::Ext;
use agora_primitives::trace::{verify_inclusion, InclusionProof, TraceLeaf};
use agora_primitives::AccountId;
use pallet_jobs::{Job, JobId};
use pallet_support::ensure;

impl<T: Config> Pallet<T> {
    /// `who` challenges `job`'s verified result at `target`, committing `CHALLENGE_BOND`.
    pub fn challenge(
        ext: &mut Ext<'_>,
        who: &AccountId,
        job: JobId,
        target: ChallengeTarget,
    ) -> DispatchResult {
        let record = Jobs::<T>::job(ext, job).ok_or(Self::error(Error::UnknownAudit))?;
        let commitment = record
            .commitment
            .clone()
            .ok_or(Self::error(Error::UnknownAudit))?;
        ensure!(
            Audits::get(ext, &job).is_none(),
            Self::error(Error::AlreadyChallenged)
        );
        let claim = match target {
            ChallengeTarget::Leaf(index) | ChallengeTarget::Fuel(index) => {
                ensure!(
                    index < commitment.segments,
                    Self::error(Error::LeafOutOfRange)
                );
                let last = commitment.segments.saturating_sub(1);
                let last_leaf = TraceLeaf {
                    index: last,
                    state_hash: commitment.final_state,
                    fuel: commitment.total_fuel,
                };
                Claim::Leaves(LeafBisection {
                    lo: None,
                    hi: index,
                    hi_leaf: (index == last).then_some(last_leaf),
                    midpoint: None,
                    fuel: matches!(target, ChallengeTarget::Fuel(_)),
                    output: false,
                })
            }
            ChallengeTarget::Output => {
                // A refused trace has no model: its last leaf is what to challenge.
                ensure!(
                    !commitment.ends_in_refusal(),
                    Self::error(Error::NoOutputToChallenge)
                );
                Claim::Output
            }
        };
        // Checked first, written last: every check precedes every write, so a refused
        // challenge leaves nothing behind even outside a transactional layer.
        ensure!(
            Staking::<T>::available(ext, who) >= T::CHALLENGE_BOND,
            Self::error(Error::ChallengeBondUnavailable)
        );
        Jobs::<T>::challenge(ext, job, who)?;
        Staking::<T>::commit(ext, who, T::CHALLENGE_BOND)?;
        let mut dispute = Dispute {
            check: None,
            challenger: *who,
            bond: T::CHALLENGE_BOND,
            segment: commitment.segments.saturating_sub(1),
            claim,
            turn: Turn::Worker,
            round: 0,
            reopened_by: None,
            earlier_calls: Vec::new(),
            referee_opens_at: None,
        };
        Self::narrow(&record, &mut dispute);
        let audit = Audit {
            root: commitment.trace_root,
            segments: commitment.segments,
            phase: Phase::Disputed,
            deadline: 0,
            checks: Vec::new(),
            dispute: None,
            refuted: Vec::new(),
            seed: None,
        };
        Self::moved(ext, job, audit, dispute);
        Self::deposit_event(
            ext,
            Event::Challenged {
                job,
                challenger: *who,
                target,
                bond: T::CHALLENGE_BOND,
            },
        );
        Ok(())
    }

    /// The worker reveals the trace leaf the leaf bisection asks for, with its Merkle proof.
    pub fn reveal_leaf(
        ext: &mut Ext<'_>,
        who: &AccountId,
        job: JobId,
        leaf: TraceLeaf,
        proof: &InclusionProof,
    ) -> DispatchResult {
        let (audit, mut dispute) = Self::load_dispute(ext, job, Turn::Worker)?;
        let record = Jobs::<T>::job(ext, job).ok_or(Self::error(Error::UnknownAudit))?;
        ensure!(record.worker == *who, Self::error(Error::NotJobWorker));
        let Claim::Leaves(leaves) = &mut dispute.claim else {
            return Err(Self::error(Error::NotYourMove));
        };
        ensure!(leaf.index == leaves.wanted(), Self::error(Error::WrongLeaf));
        verify_inclusion(audit.root, audit.segments, &leaf, proof)
            .map_err(|_| Self::error(Error::BadProof))?;
        if leaves.hi_leaf.is_none() {
            leaves.hi_leaf = Some(leaf);
        } else {
            leaves.midpoint = Some(leaf);
        }
        Self::narrow(&record, &mut dispute);
        Self::moved(ext, job, audit, dispute);
        Self::deposit_event(ext, Event::LeafRevealed { job, leaf });
        Ok(())
    }

    /// The challenger's answer to a revealed midpoint leaf.
    pub(crate) fn answer_leaf(leaves: &mut LeafBisection, agree: bool) -> Result<(), Error> {
        let posted = leaves.midpoint.take().ok_or(Error::NotYourMove)?;
        if agree {
            leaves.lo = Some(posted);
        } else {
            leaves.hi = posted.index;
            leaves.hi_leaf = Some(posted);
        }
        Ok(())
    }

    /// Sets whose move it is, and turns a leaf bisection narrowed to one segment into the
    /// bisection of that segment's steps (from the agreed leaf's state, or `init` for segment
    /// 0, to the worker's disputed leaf) — or, in a fuel challenge, into the re-run of the
    /// whole segment.
    pub(crate) fn narrow(record: &Job, dispute: &mut Dispute) {
        if let Claim::Leaves(leaves) = &dispute.claim {
            if let (Some(hi_leaf), true) = (leaves.hi_leaf, leaves.first() == leaves.hi) {
                let steps = u32::try_from(record.spec.steps_in(hi_leaf.index)).unwrap_or(u32::MAX);
                let last = record
                    .commitment
                    .as_ref()
                    .map(|c| c.segments.saturating_sub(1));
                dispute.segment = hi_leaf.index;
                // `hi` moves down only when the challenger disagrees: still the last leaf, every
                // state from `init` to the final one is agreed.
                dispute.claim = if leaves.output && Some(hi_leaf.index) == last {
                    Claim::Output
                // Fuel, or a refusal, is decided by re-running the whole segment.
                } else if leaves.fuel || hi_leaf.is_refusal() {
                    Claim::Segment(crate::SegmentClaim {
                        steps,
                        start: leaves.lo,
                        leaf: hi_leaf,
                    })
                } else {
                    Claim::Steps(crate::Bisection {
                        steps,
                        lo: 0,
                        lo_state: leaves.lo.map(|leaf| leaf.state_hash),
                        hi: steps,
                        hi_state: hi_leaf.state_hash,
                        midpoint: None,
                        rerun: crate::SegmentClaim {
                            steps,
                            start: leaves.lo,
                            leaf: hi_leaf,
                        },
                    })
                };
            }
        }
        dispute.turn = match &dispute.claim {
            Claim::Leaves(leaves) if leaves.midpoint.is_some() => Turn::Challenger,
            Claim::Leaves(_) => Turn::Worker,
            Claim::Steps(b) if b.hi.saturating_sub(b.lo) <= 1 => Turn::Referee,
            Claim::Steps(b) if b.midpoint.is_some() => Turn::Challenger,
            Claim::Steps(_) => Turn::Worker,
            Claim::Output | Claim::Segment(_) => Turn::Referee,
        };
    }
}
