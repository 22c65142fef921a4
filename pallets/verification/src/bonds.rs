//! Check bonds: what a drawn verifier puts at stake, one bond per run.
//!
//! A verifier drawn for a run of `L` consecutive sampled segments commits the **run bond**
//! `CHECK_BOND × min(L, RUN_BOND_CHECKS)`, where `RUN_BOND_CHECKS = VERIFIER_MIN_STAKE /
//! CHECK_BOND` (at least 1): at most the stake every registered verifier holds, so that any of
//! them can bond any run once its stake is free. Before spec version 10 the bond was one
//! `CHECK_BOND` per segment of the run, and a run longer than every verifier's free stake (at
//! 1000 ‰ the whole job is one run) got no verifier at all and passed unchecked.
//!
//! The run bond is spread over the run's checks (`Check::bond`: one `CHECK_BOND` on each of the
//! last `min(L, RUN_BOND_CHECKS)` checks, none on the others) and held **whole** until the run
//! is settled:
//!
//! - a check decided **Missed** or **Wrong** forfeits the run bond: whatever the run holds
//!   when it is settled is slashed, whoever wins its disputes (a verifier that skips part of a
//!   run cannot keep the rest of its bond). The other checks keep their outcomes: one revealed
//!   later is still paid if it matches, and a mismatch is still disputed, so a verifier that
//!   misses one reveal does not erase the forgery it caught in another. Until then the bond
//!   stays committed, passed on as a match's is: it is the stake of the run's disputes, so a
//!   worker that wins one against a forfeited verifier is repaid and rewarded out of it as
//!   against any other (before spec version 11 it was slashed at the miss, and a verifier
//!   that missed a check on purpose could force a dispute with nothing at stake);
//! - a check decided **Match** (or set aside as machine-dependent) passes its bond on to a
//!   check of the run that still holds one, and only the run's last such check releases it
//!   (slashes it, if the run is forfeited);
//! - a **Mismatch** holds its bond; the dispute over it gathers the bonds of every check of
//!   the run still holding one onto it (`dispute.bond`), and a verifier that loses it has the
//!   whole run bond slashed and every other mismatch of the run **Refuted** with it: its later states were
//!   computed from the one the referee showed wrong (or it stopped answering), so they
//!   dispute nothing; and the lowest mismatch, the one that decided, is the one that matters
//!   for the buyer.
//!
//! A verifier can therefore lose at most one run bond per run and force at most one dispute
//! per run, whatever the run's length.
//!
//! [`CheckBonds`](crate::CheckBonds) keeps, per verifier, the check bonds it has committed
//! (open challenges' bonds are not check bonds): the draw uses it to tell stake that will come
//! free (bonded to other checks) from stake that will not (collateral, validator seats;
//! `sampling.rs`, `should_wait`).

use crate::{Check, CheckBonds, CheckOutcome, Config, Pallet};
use agora_primitives::dispatch::DispatchResult;
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::{AccountId, Balance};
use pallet_jobs::JobId;

type Staking<T> = pallet_staking::Pallet<T>;

impl<T: Config> Pallet<T> {
    /// Most check bonds one run takes: `VERIFIER_MIN_STAKE / CHECK_BOND`, at least 1.
    pub fn run_bond_checks() -> u64 {
        let checks = T::VERIFIER_MIN_STAKE
            .checked_div(T::CHECK_BOND)
            .unwrap_or(1)
            .max(1);
        u64::try_from(checks).unwrap_or(u64::MAX)
    }

    /// The bond a verifier commits for a run of `length` segments.
    pub fn run_bond(length: u64) -> Balance {
        let checks = length.min(Self::run_bond_checks());
        T::CHECK_BOND.saturating_mul(Balance::from(checks))
    }

    /// The bond of the check at `position` (0-based) of a run of `length`: `CHECK_BOND` for the
    /// last `min(length, RUN_BOND_CHECKS)` checks, none for the others. Sums to
    /// [`Self::run_bond`].
    pub(crate) fn check_bond_at(position: u64, length: u64) -> Balance {
        let unbonded = length.saturating_sub(Self::run_bond_checks());
        if position >= unbonded {
            T::CHECK_BOND
        } else {
            0
        }
    }

    /// The check bonds `who` has committed.
    pub fn check_bonds(state: &impl StateRead, who: &AccountId) -> Balance {
        CheckBonds::get(state, who).unwrap_or(0)
    }

    fn set_check_bonds(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) {
        pallet_support::put_or_remove::<crate::CheckBondsPrefix, _, _>(ext, who, &amount);
    }

    /// Commits `amount` of `who`'s stake as check bonds.
    pub(crate) fn commit_check_bond(
        ext: &mut Ext<'_>,
        who: &AccountId,
        amount: Balance,
    ) -> DispatchResult {
        Staking::<T>::commit(ext, who, amount)?;
        let held = Self::check_bonds(ext, who).saturating_add(amount);
        Self::set_check_bonds(ext, who, held);
        Ok(())
    }

    /// Releases `amount` of `who`'s check bonds to its free stake.
    pub(crate) fn release_check_bond(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) {
        Staking::<T>::release(ext, who, amount);
        Self::forget_check_bond(ext, who, amount);
    }

    /// Slashes `amount` of `who`'s check bonds (all burned); returns what was burned.
    pub(crate) fn slash_check_bond(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Balance {
        let burned = Staking::<T>::slash_committed(ext, who, amount);
        Self::forget_check_bond(ext, who, amount);
        burned
    }

    /// Takes `amount` off `who`'s check bonds after the staking pallet released or slashed it
    /// another way (a dispute's slash with repayment).
    pub(crate) fn forget_check_bond(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) {
        let held = Self::check_bonds(ext, who).saturating_sub(amount);
        Self::set_check_bonds(ext, who, held);
    }

    /// The indices of the checks of `index`'s verifier in `index`'s run (itself included): the
    /// checks that share its run bond. `checks` is an audit's, in ascending segment order (an
    /// invariant, `try_state`), so a segment is looked up by binary search and the run's checks
    /// are one slice: O(run length × log checks). Before (2026-12-07) each step of the walk
    /// scanned every check and the run's were filtered from all of them — called up to three
    /// times per check decided, a deadline that 1,024 checks of one 256-segment run missed
    /// cost ~10⁹ comparisons in one block's `on_finalize`.
    pub(crate) fn run_mates(checks: &[Check], index: usize) -> Vec<usize> {
        let Some(check) = checks.get(index) else {
            return Vec::new();
        };
        let from = |segment: u64| checks.partition_point(|c| c.segment < segment);
        let sampled = |segment: u64| {
            checks
                .get(from(segment))
                .is_some_and(|c| c.segment == segment)
        };
        // Bounded by the sample: each step moves to a sampled segment.
        let mut first = check.segment;
        while first.checked_sub(1).is_some_and(sampled) {
            first = first.saturating_sub(1);
        }
        let mut last = check.segment;
        while last.checked_add(1).is_some_and(sampled) {
            last = last.saturating_add(1);
        }
        let run = from(first)..checks.partition_point(|c| c.segment <= last);
        run.filter(|&i| checks.get(i).is_some_and(|c| c.verifier == check.verifier))
            .collect()
    }

    /// Whether the verifier of check `index` has forfeited its run bond: a check of the run
    /// was decided **Missed** or **Wrong**. What the run still holds is then slashed when the
    /// run is settled, whoever wins its disputes.
    pub(crate) fn run_forfeited(checks: &[Check], index: usize) -> bool {
        Self::run_mates(checks, index).into_iter().any(|mate| {
            checks.get(mate).is_some_and(|c| {
                matches!(c.outcome, Some(CheckOutcome::Missed | CheckOutcome::Wrong))
            })
        })
    }

    /// Check `index` is decided, and not by a dispute its verifier lost (a match, a miss, a
    /// wrong reveal, a piece set aside): its bond moves to the first check of its run that
    /// still holds one, or, if none does, the run is settled: its bond released, or slashed if
    /// the run is forfeited — the forfeiture returned, for the caller to note on the job
    /// (`pallet_jobs::Pallet::note_forfeited`, once for all it settles).
    #[must_use = "a forfeiture must be noted for the receipt"]
    pub(crate) fn pass_bond_on(
        ext: &mut Ext<'_>,
        checks: &mut [Check],
        index: usize,
    ) -> Option<pallet_jobs::Forfeiture> {
        let bond = checks.get_mut(index).map(|c| std::mem::take(&mut c.bond))?;
        let heir = Self::run_mates(checks, index)
            .into_iter()
            .find(|&i| i != index && checks.get(i).is_some_and(Self::holds_bond));
        match heir.and_then(|i| checks.get_mut(i)) {
            Some(heir) => {
                heir.bond = heir.bond.saturating_add(bond);
                None
            }
            None => Self::settle_run_bond(ext, checks, index, bond),
        }
    }

    /// Settles `bond`, the last of check `index`'s run bond that nothing contests: slashed if
    /// the run is forfeited (the forfeiture returned for `job`'s receipt, with the run's
    /// missed and wrong segments), else released.
    #[must_use = "a forfeiture must be noted for the receipt"]
    pub(crate) fn settle_run_bond(
        ext: &mut Ext<'_>,
        checks: &[Check],
        index: usize,
        bond: Balance,
    ) -> Option<pallet_jobs::Forfeiture> {
        let verifier = checks.get(index).map(|c| c.verifier)?;
        if !Self::run_forfeited(checks, index) {
            Self::release_check_bond(ext, &verifier, bond);
            return None;
        }
        let burned = Self::slash_check_bond(ext, &verifier, bond);
        let mates = Self::run_mates(checks, index);
        let segments = |outcome: CheckOutcome| -> Vec<u64> {
            mates
                .iter()
                .filter_map(|&mate| checks.get(mate))
                .filter(|c| c.outcome == Some(outcome))
                .map(|c| c.segment)
                .collect()
        };
        Some(pallet_jobs::Forfeiture {
            verifier,
            missed: segments(CheckOutcome::Missed),
            wrong: segments(CheckOutcome::Wrong),
            burned,
        })
    }

    /// Moves the bonds of every check of `index`'s run that still holds one onto `index`: the
    /// stake at risk in a dispute over it.
    pub(crate) fn gather_run_bond(checks: &mut [Check], index: usize) {
        let mut total: Balance = 0;
        for mate in Self::run_mates(checks, index) {
            if let Some(check) = checks
                .get_mut(mate)
                .filter(|c| mate != index && Self::holds_bond(c))
            {
                total = total.saturating_add(std::mem::take(&mut check.bond));
            }
        }
        if let Some(check) = checks.get_mut(index) {
            check.bond = check.bond.saturating_add(total);
        }
    }

    /// Decides `Refuted` (an event each) every other mismatch of `index`'s run, whose dispute
    /// its verifier has just lost: they were computed from the state or fuel the dispute
    /// showed wrong, or belong to a verifier that stopped answering, so they dispute nothing.
    pub(crate) fn refute_run_mismatches(
        ext: &mut Ext<'_>,
        job: JobId,
        checks: &mut [Check],
        index: usize,
    ) {
        for mate in Self::run_mates(checks, index) {
            let Some(check) = checks
                .get_mut(mate)
                .filter(|c| mate != index && c.outcome == Some(CheckOutcome::Mismatch))
            else {
                continue;
            };
            check.outcome = Some(CheckOutcome::Refuted);
            let (verifier, bond) = (check.verifier, std::mem::take(&mut check.bond));
            Self::slash_check_bond(ext, &verifier, bond);
            Self::check_decided(ext, job, mate, verifier, CheckOutcome::Refuted);
        }
    }
}
