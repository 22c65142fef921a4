//! The pallet's invariants, checked over a whole state after every test.

use crate::{Balances, Config, DecidedReruns, Declarations, JobStatus, Jobs, Pallet, Staking};
use agora_primitives::storage::StateIter;
use agora_primitives::{AccountId, Balance};
use std::collections::BTreeMap;

impl<T: Config> Pallet<T> {
    /// Checks the pallet's invariants over a whole state. Run after every test.
    pub fn try_state(state: &impl StateIter) -> Result<(), String> {
        let mut escrow_of: BTreeMap<AccountId, Balance> = BTreeMap::new();
        let mut collateral_of: BTreeMap<AccountId, Balance> = BTreeMap::new();
        for (id, job) in Jobs::iter(state) {
            if job.status.is_final() {
                continue;
            }
            let escrow = escrow_of.entry(job.buyer).or_default();
            *escrow = escrow.saturating_add(job.escrow);
            let collateral = collateral_of.entry(job.worker).or_default();
            *collateral = collateral.saturating_add(job.collateral);
            if job.commit_by > job.terms.deadline {
                return Err(format!("job {id} may commit after its bid's deadline"));
            }
        }
        for (buyer, escrow) in &escrow_of {
            let reserved = Balances::<T>::reserved_balance(state, buyer);
            if reserved < *escrow {
                return Err(format!(
                    "{buyer} has {escrow} in job escrow but {reserved} reserved"
                ));
            }
        }
        for (worker, collateral) in &collateral_of {
            let committed = Staking::<T>::ledger(state, worker).committed;
            if committed < *collateral {
                return Err(format!(
                    "{worker} has {collateral} of job collateral but {committed} committed"
                ));
            }
        }
        for (id, declaration) in Declarations::iter(state) {
            let assigned =
                Jobs::get(state, &id).is_some_and(|job| job.status == JobStatus::Assigned);
            if !assigned || declaration.opens_at > declaration.decide_by {
                return Err(format!(
                    "job {id}'s unrunnable declaration {declaration:?} is on a job not assigned, or \
                     opens after it closes"
                ));
            }
        }
        Self::check_decided_reruns(state)?;
        Self::check_findings(state)?;
        Self::check_blobs(state)
    }

    /// The decided re-runs are within their bound, each listed once, oldest first.
    fn check_decided_reruns(state: &impl StateIter) -> Result<(), String> {
        let decided = DecidedReruns::get(state).unwrap_or_default();
        let hashes: std::collections::BTreeSet<_> = decided.iter().map(|(hash, _)| hash).collect();
        let oldest_first = decided.windows(2).all(|pair| pair[0].1 <= pair[1].1);
        if decided.len() > crate::MAX_DECIDED_RERUNS
            || hashes.len() != decided.len()
            || !oldest_first
        {
            return Err(format!(
                "the decided re-runs ({} listed) are over their bound, repeated or out of order",
                decided.len()
            ));
        }
        Ok(())
    }
}
