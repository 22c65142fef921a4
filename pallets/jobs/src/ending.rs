//! How a job ends: the buyer's cancellation, the verification pallet's report of its audit or dispute, an open
//! challenge holding settlement back, a failed job's slash and requeue, a missed deadline,
//! and settlement (see the lifecycle in the crate documentation).

use crate::{
    AuditOutcome, Balances, Config, Decision, Declarations, Dismissal, DismissedChallenges, Error,
    Event, ForfeitedRuns, Forfeiture, Job, JobId, JobStatus, Jobs, MachineDependence,
    MachineDependentFindings, Market, PaidCheck, Pallet, Receipt, Refutation, Staking, System,
    MAX_FINDINGS,
};
use agora_primitives::dispatch::DispatchResult;
use agora_primitives::storage::{Ext, StateIter};
use agora_primitives::{AccountId, Balance, BlockNumber};
use pallet_balances::BalanceStatus;
use pallet_market::fuel_cost;
use pallet_market::Matched;
use pallet_support::ensure;
use std::collections::BTreeMap;

/// How an assigned job ends by its buyer's doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BuyersEnd {
    /// The buyer's cancellation took effect.
    Cancelled,
    /// The worker showed the buyer's inputs cannot run, having burned `declaration_fee` to
    /// declare it.
    Unrunnable {
        /// What the proved declaration burned ([`crate::Declaration::fee`]).
        declaration_fee: Balance,
    },
}

/// Most forfeitures kept for one job's receipt: at least any audit's checks (256 sampled
/// segments × at most 4 verifiers each, the runtime's bounds), so every run has its entry.
pub const MAX_FORFEITURES: usize = 1024;

impl<T: Config> Pallet<T> {
    /// The buyer asks to cancel an assigned job: it ends `CANCEL_NOTICE_BLOCKS` later (at the
    /// latest at its commit deadline) with the worker paid for the run time it held
    /// (`end_fee`), unless the worker commits its result first.
    pub fn cancel_job(ext: &mut Ext<'_>, who: &AccountId, id: JobId) -> DispatchResult {
        let mut job = Jobs::get(ext, &id).ok_or(Self::error(Error::UnknownJob))?;
        ensure!(job.buyer == *who, Self::error(Error::NotJobBuyer));
        ensure!(
            job.status == JobStatus::Assigned && job.cancel_at.is_none(),
            Self::error(Error::CannotCancel)
        );
        let now = System::<T>::block_number(ext);
        // Past the deadline a job is the worker's fault and times out (it lives on only while
        // an unrunnable declaration waits for its proof): a cancellation then took effect at
        // once and paid the worker the whole run time, its collateral released.
        ensure!(now <= job.commit_by, Self::error(Error::DeadlinePassed));
        // Not while the worker's unrunnable declaration waits for its proof: the notice (10
        // blocks) always ends before a proof opens (46 at least), so a buyer whose inputs
        // cannot run could cancel on seeing the declaration and leave the worker its burned fee
        // (up to 91 AGR) for a held share of ~nothing. A false declaration holds the buyer's
        // cancellation back a window at most, at the fee's price to the worker.
        ensure!(
            Declarations::get(ext, &id).is_none_or(|pending| now > pending.decide_by),
            Self::error(Error::DeclarationPending)
        );
        let notice_ends = now.saturating_add(T::CANCEL_NOTICE_BLOCKS);
        // The job is due at its commit deadline already, where a pending cancellation ends it;
        // a notice that would run past the deadline ends there, with the whole run time paid
        // for (`end_fee`). Before that, a full due list spills to a later block: the notice
        // only grows.
        let effective_at = if notice_ends < job.commit_by {
            Self::schedule_job(ext, notice_ends, id).min(job.commit_by)
        } else {
            job.commit_by
        };
        job.cancel_at = Some(effective_at);
        Jobs::insert(ext, &id, &job);
        Self::deposit_event(
            ext,
            Event::JobCancelRequested {
                job: id,
                effective_at,
            },
        );
        Ok(())
    }

    /// `challenger` challenges job `id`'s result (called by the verification pallet, which
    /// holds the challenger's bond and runs the dispute): allowed while the job is `Verified`
    /// and has not settled (up to and including its settlement block, whose end settles it);
    /// settlement waits until [`Pallet::audited`] reports the dispute's end.
    pub fn challenge(ext: &mut Ext<'_>, id: JobId, challenger: &AccountId) -> DispatchResult {
        let mut job = Jobs::get(ext, &id).ok_or(Self::error(Error::UnknownJob))?;
        ensure!(job.worker != *challenger, Self::error(Error::OwnJob));
        let JobStatus::Verified {
            paid,
            missed,
            refuted,
            settle_at,
        } = job.status
        else {
            return Err(Self::error(Error::NotChallengeable));
        };
        job.status = JobStatus::Challenged {
            paid,
            missed,
            refuted,
            settle_at,
            challenger: *challenger,
        };
        Jobs::insert(ext, &id, &job);
        Ok(())
    }

    /// Verification finished (called by the verification pallet): the sampled checks' audit
    /// of a `Committed` job, or the dispute over a `Challenged` one.
    pub fn audited(ext: &mut Ext<'_>, id: JobId, outcome: AuditOutcome) {
        let Some(mut job) = Jobs::get(ext, &id) else {
            return;
        };
        let now = System::<T>::block_number(ext);
        // A challenger that lost leaves the job as verified before, plus its refutation; the
        // window reopens for others (a lost challenge must not use up everyone's window).
        let (before, earliest) = match job.status.clone() {
            JobStatus::Committed { .. } => (None, 0),
            JobStatus::Challenged {
                paid,
                missed,
                refuted,
                settle_at,
                ..
            } => (Some((paid, missed, refuted)), settle_at),
            _ => return,
        };
        match outcome {
            AuditOutcome::Passed {
                mut paid,
                mut missed,
                mut refuted,
            } => {
                if let Some((paid_before, missed_before, mut refuted_before)) = before {
                    paid.splice(0..0, paid_before);
                    missed = missed.saturating_add(missed_before);
                    refuted_before.append(&mut refuted);
                    refuted = refuted_before;
                }
                let settle_at = now.saturating_add(T::CHALLENGE_BLOCKS).max(earliest);
                let checks_passed = u32::try_from(paid.len()).unwrap_or(u32::MAX);
                job.status = JobStatus::Verified {
                    paid,
                    missed,
                    refuted,
                    settle_at,
                };
                Jobs::insert(ext, &id, &job);
                Self::schedule_job(ext, settle_at, id);
                Self::deposit_event(
                    ext,
                    Event::JobVerified {
                        job: id,
                        checks_passed,
                        settle_at,
                    },
                );
            }
            AuditOutcome::Mismatch { segment } => {
                Self::refund(ext, &job, job.escrow);
                Staking::<T>::release(ext, &job.worker, job.collateral);
                Self::end_job_common(ext, &job);
                job.status = JobStatus::Disputed {
                    segment,
                    refund: job.escrow,
                    at: now,
                };
                Self::finish(ext, id, &job, now);
                Self::deposit_event(
                    ext,
                    Event::JobDisputed {
                        job: id,
                        segment,
                        refund: job.escrow,
                    },
                );
            }
            AuditOutcome::WorkerFault => Self::time_out(ext, id, job, now),
            AuditOutcome::WorkerLost {
                segment,
                challenger,
                repay,
                open,
                decided,
                bond,
                checks,
            } => Self::lose_dispute(
                ext,
                id,
                job,
                now,
                (segment, challenger, repay, open, decided),
                (bond, checks),
            ),
        }
    }

    /// The worker lost a dispute over `segment` to `challenger`.
    pub(crate) fn lose_dispute(
        ext: &mut Ext<'_>,
        id: JobId,
        mut job: Job,
        now: BlockNumber,
        (segment, challenger, repay, open, decided): (
            u64,
            AccountId,
            Vec<(AccountId, Balance)>,
            bool,
            Decision,
        ),
        (bond, mut checks): (Balance, Vec<PaidCheck>),
    ) {
        // The checks of a verified job that an open challenge overturned did their work too.
        if let JobStatus::Challenged { paid, .. } = &job.status {
            checks.extend(paid.iter().cloned());
        }
        let (paid_verifiers, left) = Self::pay_checks_from_collateral(ext, &job, &checks);
        let slashed = Staking::<T>::slash_with_repayment(
            ext,
            &job.worker,
            left,
            &repay,
            &challenger,
            (T::DISPUTE_REWARD_PERCENT, bond),
        );
        let (repaid, burned, rewarded) = (slashed.repaid, slashed.burned, slashed.rewarded);
        let requeued =
            Self::end_failed(ext, id, &mut job, now, |requeued| JobStatus::DisputeLost {
                segment,
                challenger,
                open,
                decided,
                repaid,
                burned,
                rewarded,
                paid_verifiers,
                requeued,
                at: now,
            });
        Self::deposit_event(
            ext,
            Event::JobDisputeLost {
                job: id,
                worker: job.worker,
                challenger,
                burned,
                rewarded,
                requeued,
            },
        );
    }

    /// The fee `check` of `job` earns (`pallet_market::assurance`): its segment's fuel (plus an
    /// average segment for the first and the last, within the job's bound) at the clearing
    /// price plus the verifier margin. `None` on overflow.
    fn check_fee(job: &Job, check: &PaidCheck) -> Option<Balance> {
        let max_check_fuel = Market::<T>::assurance(&job.spec, &job.terms)?.max_check_fuel;
        let trace = job
            .commitment
            .as_ref()
            .map_or((1, 0), |c| (c.segments, c.total_fuel));
        let fuel = pallet_market::assurance::Params::paid_check_fuel(
            check.segment,
            check.fuel,
            trace,
            max_check_fuel,
        );
        Market::<T>::assurance_params().check_fee(job.price, fuel)
    }

    /// Pays `checks` their fees (as at settlement, `pallet_market::assurance`) out of the
    /// worker's committed collateral for `job`, in order, while it lasts. Returns what the
    /// verifiers received and what is left of the collateral (a fee an account cannot receive
    /// is burned).
    fn pay_checks_from_collateral(
        ext: &mut Ext<'_>,
        job: &Job,
        checks: &[PaidCheck],
    ) -> (Balance, Balance) {
        let mut left = job.collateral;
        let mut paid: Balance = 0;
        for check in checks {
            let fee = Self::check_fee(job, check).unwrap_or(left).min(left);
            let (_, rewarded) = Staking::<T>::slash_committed_rewarding(
                ext,
                &job.worker,
                fee,
                &check.verifier,
                (100, Balance::MAX),
            );
            left = left.saturating_sub(fee);
            paid = paid.saturating_add(rewarded);
        }
        (paid, left)
    }

    /// What a job the worker failed shares, its collateral already slashed: capacity back to
    /// the offer, the output dropped, and the bid requeued if it asked for that and fits (the
    /// escrow and the module and dataset references go with it; the job record is removed, as
    /// a new match makes a new job under the same id), else the escrow refunded and the job
    /// kept with the status `status(false)`. Returns whether the bid was requeued.
    pub(crate) fn end_failed(
        ext: &mut Ext<'_>,
        id: JobId,
        job: &mut Job,
        now: BlockNumber,
        status: impl FnOnce(bool) -> JobStatus,
    ) -> bool {
        Market::<T>::release_capacity(ext, job.offer, job.terms.max_fuel);
        Self::release_result_blobs(ext, job);
        let matched = Matched {
            bid: id,
            buyer: job.buyer,
            spec: job.spec.clone(),
            terms: job.terms.clone(),
            escrow: job.escrow,
            placed_at: job.placed_at,
            offer: job.offer,
            provider: job.worker,
            price: job.price,
            collateral: job.collateral,
        };
        let requeued = job.terms.requeue && Market::<T>::requeue(ext, &matched);
        job.status = status(requeued);
        if requeued {
            // The id is the bid's, and the bid is back in the book: a later match reuses it,
            // so nothing of this job may stay under it.
            Self::drop_findings(ext, id);
            Jobs::remove(ext, &id);
        } else {
            Self::refund(ext, job, job.escrow);
            Self::release_blob(ext, &job.spec.module);
            Self::release_blob(ext, &job.spec.dataset);
            Self::finish(ext, id, job, now);
        }
        requeued
    }

    /// What the buyer pays the worker for an assigned job that ends without a result by the
    /// buyer's doing: `CANCEL_FEE_PERCENT` of the most the job could have paid (its clearing
    /// price × `max_fuel`) or, for a cancellation that took effect at `held_until`, that most
    /// times the share of the granted run time (`matched_at .. commit_by`) that had passed,
    /// whichever is more; never more than the escrow.
    ///
    /// Why the run-time share: a worker that spreads the job over the run time the buyer asked
    /// for has spent at most that share of its compute when the cancellation takes effect, and
    /// its price covers its compute, so a cancellation never costs it money (a flat fee did:
    /// a buyer could cancel every job half-way and leave its worker ~28 % of the job's price
    /// out of pocket for a tenth of it; `docs/economics.md`, griefing buyers).
    pub(crate) fn end_fee(job: &Job, held_until: Option<BlockNumber>) -> Balance {
        let max_payment = fuel_cost(job.price, job.terms.max_fuel).unwrap_or(job.escrow);
        let least = max_payment
            .saturating_mul(u128::from(T::CANCEL_FEE_PERCENT.min(100)))
            .checked_div(100)
            .unwrap_or(0);
        let held = held_until.map_or(0, |at| {
            let window = job.commit_by.saturating_sub(job.matched_at);
            let elapsed = at.min(job.commit_by).saturating_sub(job.matched_at);
            // A job granted no run time at all was held for all of it.
            max_payment
                .saturating_mul(u128::from(elapsed))
                .checked_div(u128::from(window))
                .unwrap_or(max_payment)
        });
        least.max(held).min(job.escrow)
    }

    /// Ends an assigned job by the buyer's doing, `how`: the worker paid [`Self::end_fee`] out
    /// of the escrow, the rest refunded, the collateral released, the status and event
    /// saying which.
    pub(crate) fn end_by_buyer(
        ext: &mut Ext<'_>,
        id: JobId,
        mut job: Job,
        now: BlockNumber,
        how: BuyersEnd,
    ) {
        Self::drop_declaration(ext, id);
        let fee = match how {
            BuyersEnd::Cancelled => Self::end_fee(&job, Some(now)),
            // The worker paid a `declare_unrunnable` and a `prove_unrunnable` to show it, and
            // burned the declaration's fee: it is paid the cancellation fee, at least those
            // calls' weight parts, and the fee back. Every bid escrows both at their largest
            // (`MIN_BID_ESCROW`), so the escrow covers it.
            BuyersEnd::Unrunnable { declaration_fee } => Self::end_fee(&job, None)
                .max(Self::unrunnable_calls_floor())
                .saturating_add(declaration_fee)
                .min(job.escrow),
        };
        let fee = Self::pay_from_escrow(ext, &job, &job.worker, fee);
        let refund = job.escrow.saturating_sub(fee);
        Self::refund(ext, &job, refund);
        Staking::<T>::release(ext, &job.worker, job.collateral);
        Self::end_job_common(ext, &job);
        // The buyer's doing (a cancellation, inputs that cannot run) uses up newcomer status
        // like a settled job: else a newcomer could match, cancel and match again for ever,
        // keeping the newcomer pool's priority for a cancel fee paid to its own sybil.
        Market::<T>::note_completed(ext, &job.buyer);
        let (status, event) = match how {
            BuyersEnd::Cancelled => (
                JobStatus::Cancelled {
                    fee,
                    refund,
                    at: now,
                },
                Event::JobCancelled {
                    job: id,
                    fee,
                    refund,
                },
            ),
            BuyersEnd::Unrunnable { .. } => (
                JobStatus::Unrunnable {
                    fee,
                    refund,
                    at: now,
                },
                Event::JobUnrunnable {
                    job: id,
                    fee,
                    refund,
                },
            ),
        };
        job.status = status;
        Self::finish(ext, id, &job, now);
        Self::deposit_event(ext, event);
    }

    /// Moves `amount` of the job's escrow to `to`'s free balance; returns what it moved:
    /// `amount`, or nothing if `to` cannot receive it, which then stays in the escrow (and is
    /// refunded with the rest).
    ///
    /// An account can refuse: one holding nothing at all is not created for less than the
    /// existential deposit. A worker's collateral may be zero, and a verifier's bond leaves
    /// once its check matched, so either may have emptied its account by the time the job
    /// settles. This used to `expect` the payment: then every block builder and every
    /// importer panicked in the same `on_finalize`, and no block could be made at that height.
    #[must_use]
    pub(crate) fn pay_from_escrow(
        ext: &mut Ext<'_>,
        job: &Job,
        to: &AccountId,
        amount: Balance,
    ) -> Balance {
        if amount == 0 {
            return 0;
        }
        // The escrow is reserved (invariant 1), so only the payee's side can refuse.
        match Balances::<T>::repatriate_reserved(ext, &job.buyer, to, amount, BalanceStatus::Free) {
            Ok(()) => amount,
            Err(_) => 0,
        }
    }

    pub(crate) fn refund(ext: &mut Ext<'_>, job: &Job, amount: Balance) {
        let left = Balances::<T>::unreserve(ext, &job.buyer, amount);
        assert!(left == 0, "jobs invariant broken: escrow was not reserved");
    }

    /// What every ending shares: capacity back to the offer, blob references dropped.
    pub(crate) fn end_job_common(ext: &mut Ext<'_>, job: &Job) {
        Market::<T>::release_capacity(ext, job.offer, job.terms.max_fuel);
        Self::release_job_blobs(ext, job);
    }

    /// The verification pallet set a dispute over job `id` aside: the referee found the
    /// buyer's module machine-dependent there ([`MachineDependence`]); kept for the receipt.
    /// At most [`MAX_FINDINGS`] are kept (a job has a bounded number of checks, and each open
    /// challenge costs a bond; the receipt needs only to say that it happened, and where).
    pub fn note_machine_dependent(ext: &mut Ext<'_>, id: JobId, finding: MachineDependence) {
        let mut findings = MachineDependentFindings::get(ext, &id).unwrap_or_default();
        if findings.len() < MAX_FINDINGS {
            findings.push(finding);
            MachineDependentFindings::insert(ext, &id, &findings);
        }
    }

    /// The verification pallet dismissed an open challenge of job `id` that the referee could
    /// not decide ([`Dismissal`]); kept for the receipt, at most [`MAX_FINDINGS`] (each costs
    /// its challenger a bond and a referee call's fee).
    pub fn note_dismissed(ext: &mut Ext<'_>, id: JobId, dismissal: Dismissal) {
        let mut dismissed = DismissedChallenges::get(ext, &id).unwrap_or_default();
        if dismissed.len() < MAX_FINDINGS {
            dismissed.push(dismissal);
            DismissedChallenges::insert(ext, &id, &dismissed);
        }
    }

    /// The verification pallet slashed verifiers' run bonds on job `id` for missed or wrong
    /// checks ([`Forfeiture`]); kept for the receipt. A run settled in parts (its bond held by
    /// more than one check when an audit ends without a receipt) adds to its entry.
    ///
    /// All the forfeitures one step of the verification pallet settles come in one call, and
    /// the list is read and written once for them: noted one at a time, a deadline that 1,024
    /// runs miss together rewrote the growing list 1,024 times in one block (quadratic, ~30 MB
    /// of encoding at the bound), with a linear search for each.
    pub fn note_forfeited(
        ext: &mut Ext<'_>,
        id: JobId,
        forfeitures: impl IntoIterator<Item = Forfeiture>,
    ) {
        let mut forfeitures = forfeitures.into_iter().peekable();
        if forfeitures.peek().is_none() {
            return;
        }
        let mut forfeited = ForfeitedRuns::get(ext, &id).unwrap_or_default();
        let run_of = |f: &Forfeiture| (f.verifier, f.missed.clone(), f.wrong.clone());
        // A run's first entry, as the search this replaces found it.
        let mut runs: BTreeMap<(AccountId, Vec<u64>, Vec<u64>), usize> = BTreeMap::new();
        for (index, f) in forfeited.iter().enumerate() {
            runs.entry(run_of(f)).or_insert(index);
        }
        for forfeiture in forfeitures {
            let run = run_of(&forfeiture);
            let full = forfeited.len() >= MAX_FORFEITURES;
            match runs.get(&run).and_then(|&index| forfeited.get_mut(index)) {
                Some(entry) => entry.burned = entry.burned.saturating_add(forfeiture.burned),
                // Not reached: a job has at most this many checks, and so runs.
                None if full => {}
                None => {
                    runs.insert(run, forfeited.len());
                    forfeited.push(forfeiture);
                }
            }
        }
        ForfeitedRuns::insert(ext, &id, &forfeited);
    }

    /// Forgets what was kept for the receipt of job `id` (settled into it, or the job ends
    /// without one).
    pub(crate) fn drop_findings(ext: &mut Ext<'_>, id: JobId) {
        Self::drop_settlement_findings(ext, id);
        ForfeitedRuns::remove(ext, &id);
    }

    /// Forgets what only a settlement uses (machine-dependence findings, whose callers the
    /// escrow repays; dismissed challenges): job `id` ends without a receipt, and keeps its
    /// forfeitures with its record (`JOB_RETENTION`) — who was slashed how much, on a job
    /// whose worker failed as on one that settled (before 2026-12-07 they were dropped, and
    /// only the events named them).
    fn drop_settlement_findings(ext: &mut Ext<'_>, id: JobId) {
        MachineDependentFindings::remove(ext, &id);
        DismissedChallenges::remove(ext, &id);
    }

    /// Invariant 4: what is kept for a receipt (machine-dependence findings, dismissed
    /// challenges, forfeitures) belongs to a live job and is within its bound
    /// ([`MAX_FINDINGS`], [`MAX_FORFEITURES`]); forfeitures stay with a job that ended
    /// without a receipt until its record is pruned (a settled job's are on its receipt), so
    /// nothing outlives its job.
    pub(crate) fn check_findings(state: &impl StateIter) -> Result<(), String> {
        // (job, how many, bound, what, whether a job that ended without a receipt keeps it)
        let kept = MachineDependentFindings::iter(state)
            .into_iter()
            .map(|(id, findings)| {
                let what = "machine-dependence findings";
                (id, findings.len(), MAX_FINDINGS, what, false)
            })
            .chain(
                DismissedChallenges::iter(state)
                    .into_iter()
                    .map(|(id, dismissed)| {
                        (
                            id,
                            dismissed.len(),
                            MAX_FINDINGS,
                            "dismissed challenges",
                            false,
                        )
                    }),
            )
            .chain(
                ForfeitedRuns::iter(state)
                    .into_iter()
                    .map(|(id, forfeited)| {
                        (id, forfeited.len(), MAX_FORFEITURES, "forfeitures", true)
                    }),
            );
        for (id, count, bound, what, kept_after_end) in kept {
            if count > bound {
                return Err(format!("job {id} keeps {count} {what}"));
            }
            let outlived = |job: Job| match job.status {
                JobStatus::Settled { .. } => true,
                status => status.is_final() && !kept_after_end,
            };
            if Jobs::get(state, &id).is_none_or(outlived) {
                return Err(format!("job {id} has ended but keeps its {what}"));
            }
        }
        Ok(())
    }

    /// Stores a finished job and schedules its pruning.
    pub(crate) fn finish(ext: &mut Ext<'_>, id: JobId, job: &Job, now: BlockNumber) {
        // A job that ends without settling drops what only settlement uses with its money;
        // its forfeitures stay with its record.
        Self::drop_settlement_findings(ext, id);
        Jobs::insert(ext, &id, job);
        Self::schedule_job(ext, now.saturating_add(T::JOB_RETENTION), id);
    }

    pub(crate) fn time_out(ext: &mut Ext<'_>, id: JobId, mut job: Job, now: BlockNumber) {
        Self::drop_declaration(ext, id);
        let slashed = Staking::<T>::slash_committed(ext, &job.worker, job.collateral);
        let requeued = Self::end_failed(ext, id, &mut job, now, |requeued| JobStatus::TimedOut {
            slashed,
            requeued,
            at: now,
        });
        Self::deposit_event(
            ext,
            Event::JobTimedOut {
                job: id,
                worker: job.worker,
                slashed,
                requeued,
            },
        );
    }

    pub(crate) fn settle(
        ext: &mut Ext<'_>,
        id: JobId,
        mut job: Job,
        (paid, missed, refuted): (Vec<PaidCheck>, u32, Vec<Refutation>),
        now: BlockNumber,
    ) {
        let fuel = job.commitment.as_ref().map_or(0, |c| c.total_fuel);
        let owed_worker = fuel_cost(job.price, fuel).unwrap_or(0).min(job.escrow);
        let paid_worker = Self::pay_from_escrow(ext, &job, &job.worker, owed_worker);
        let machine_dependent = MachineDependentFindings::get(ext, &id).unwrap_or_default();
        let dismissed = DismissedChallenges::get(ext, &id).unwrap_or_default();
        let forfeited = ForfeitedRuns::get(ext, &id).unwrap_or_default();
        Self::drop_findings(ext, id);
        let mut left = job.escrow.saturating_sub(paid_worker);
        for &(caller, fee) in machine_dependent.iter().flat_map(|f| &f.repay) {
            // The caller need not hold stake: an account that cannot receive the fee (reaped
            // since) leaves it in the refund.
            let fee = fee.min(left);
            let to = BalanceStatus::Free;
            if Balances::<T>::repatriate_reserved(ext, &job.buyer, &caller, fee, to).is_ok() {
                left = left.saturating_sub(fee);
            }
        }
        let mut paid_verifiers: Balance = 0;
        for check in &paid {
            let owed = Self::check_fee(&job, check).unwrap_or(left).min(left);
            let fee = Self::pay_from_escrow(ext, &job, &check.verifier, owed);
            left = left.saturating_sub(fee);
            paid_verifiers = paid_verifiers.saturating_add(fee);
        }
        Self::refund(ext, &job, left);
        Staking::<T>::release(ext, &job.worker, job.collateral);
        Self::end_job_common(ext, &job);
        Market::<T>::note_completed(ext, &job.buyer);
        let receipt = Receipt {
            fuel,
            price: job.price,
            paid_worker,
            paid_verifiers,
            refund: left,
            checks_passed: u32::try_from(paid.len()).unwrap_or(u32::MAX),
            checks_missed: missed,
            settled_at: now,
            refuted,
            machine_dependent,
            dismissed,
            forfeited,
        };
        job.status = JobStatus::Settled {
            receipt: receipt.clone(),
        };
        Jobs::insert(ext, &id, &job);
        Self::deposit_event(ext, Event::JobSettled { job: id, receipt });
        // The record goes with the model: `job result` reads the model's hash from it.
        let model_kept_until = Self::keep_model(ext, id, &job, now);
        let prune_at = now
            .saturating_add(T::JOB_RETENTION)
            .max(model_kept_until.unwrap_or(0));
        Self::schedule_job(ext, prune_at, id);
    }
}
