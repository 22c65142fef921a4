//! The verification pallet's invariants, checked over a whole state after every test (see the
//! crate documentation for the list).

use crate::{Audits, AuditsDue, CheckBonds, Claim, Config, JobId, Jobs, Pallet, Phase, Staking};
use agora_primitives::storage::StateIter;
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_jobs::JobStatus;
use pallet_support::to_usize;
use std::collections::BTreeMap;

impl<T: Config> Pallet<T> {
    /// Every referee call that did not end dispute `d` of job `job` is owed its fee, a
    /// reopening among them, and there are at most `MAX_EARLIER_CALLS`.
    fn check_earlier_calls(job: JobId, d: &crate::Dispute) -> Result<(), String> {
        let reopener_listed = d
            .reopened_by
            .is_none_or(|who| d.earlier_calls.contains(&who));
        if d.earlier_calls.len() > crate::MAX_EARLIER_CALLS || !reopener_listed {
            return Err(format!(
                "dispute of job {job} lists {} earlier referee calls (reopened by {:?})",
                d.earlier_calls.len(),
                d.reopened_by
            ));
        }
        Ok(())
    }

    /// Dispute `d` of job `job` names when its `referee` call opens exactly while it is the
    /// referee's turn, and the opening leaves the call at least a block before the turn's
    /// `deadline`.
    fn check_referee_opening(
        job: JobId,
        d: &crate::Dispute,
        deadline: BlockNumber,
    ) -> Result<(), String> {
        let at_the_referee = d.turn == crate::Turn::Referee;
        let ok = match d.referee_opens_at {
            Some(opens_at) => at_the_referee && opens_at < deadline,
            None => !at_the_referee,
        };
        if !ok {
            return Err(format!(
                "dispute of job {job} at {:?}'s turn opens its referee call at {:?}, deadline {deadline}",
                d.turn, d.referee_opens_at
            ));
        }
        Ok(())
    }

    /// Checks the pallet's invariants over a whole state. Run after every test.
    pub fn try_state(state: &impl StateIter) -> Result<(), String> {
        let list = Self::verifiers(state);
        let unique: std::collections::BTreeSet<_> = list.iter().collect();
        if unique.len() != list.len() || list.len() > to_usize(T::MAX_VERIFIERS) {
            return Err("verifier list has repeats or is over its bound".to_owned());
        }
        // Stale entries (of phases that ended early) may remain; the current one must exist.
        let due: std::collections::BTreeSet<(JobId, BlockNumber)> = AuditsDue::iter(state)
            .into_iter()
            .flat_map(|(block, jobs)| jobs.into_iter().map(move |job| (job, block)))
            .collect();
        let mut bonds: BTreeMap<AccountId, Balance> = BTreeMap::new();
        let mut check_bonds: BTreeMap<AccountId, Balance> = BTreeMap::new();
        for (job, audit) in Audits::iter(state) {
            let open = audit.dispute.as_ref().filter(|d| d.check.is_none());
            match (Jobs::<T>::job(state, job).map(|j| j.status), open) {
                (Some(JobStatus::Committed { .. }), None) => {}
                (Some(JobStatus::Challenged { challenger, .. }), Some(d))
                    if challenger == d.challenger => {}
                (other, _) => return Err(format!("audit of job {job} whose status is {other:?}")),
            }
            if let Some(d) = open {
                let bond = bonds.entry(d.challenger).or_default();
                *bond = bond.saturating_add(d.bond);
            }
            if !due.contains(&(job, audit.deadline)) {
                return Err(format!(
                    "audit of job {job} is not scheduled at its deadline {}",
                    audit.deadline
                ));
            }
            if audit.dispute.is_some() != (audit.phase == Phase::Disputed) {
                return Err(format!(
                    "audit of job {job} has a dispute outside its phase"
                ));
            }
            if let Some(d) = &audit.dispute {
                Self::check_earlier_calls(job, d)?;
                Self::check_referee_opening(job, d, audit.deadline)?;
            }
            match audit.dispute.as_ref().map(|d| &d.claim) {
                Some(Claim::Steps(b)) if !(b.lo < b.hi && b.hi <= b.steps) => {
                    return Err(format!(
                        "dispute of job {job} bisects {}..{} of {}",
                        b.lo, b.hi, b.steps
                    ));
                }
                Some(Claim::Leaves(l))
                    if !(l.first() <= l.hi
                        && l.hi < audit.segments
                        && (l.hi_leaf.is_none() || l.first() < l.hi)) =>
                {
                    return Err(format!(
                        "dispute of job {job} bisects leaves {}..={} of {}",
                        l.first(),
                        l.hi,
                        audit.segments
                    ));
                }
                Some(Claim::Segment(c))
                    if c.start.map_or(0, |l| l.index.saturating_add(1)) != c.leaf.index
                        || c.leaf.index >= audit.segments =>
                {
                    return Err(format!(
                        "dispute of job {job} re-runs segment {} from {:?}",
                        c.leaf.index,
                        c.start.map(|l| l.index)
                    ));
                }
                _ => {}
            }
            if !audit.checks.is_sorted_by_key(|check| check.segment) {
                return Err(format!(
                    "audit of job {job} keeps its checks out of segment order"
                ));
            }
            for check in audit.checks.iter() {
                if !Self::holds_bond(check) && check.bond != 0 {
                    return Err(format!(
                        "check of segment {} of job {job} is decided but holds {}",
                        check.segment, check.bond
                    ));
                }
                let held = check_bonds.entry(check.verifier).or_default();
                *held = held.saturating_add(check.bond);
                let bond = bonds.entry(check.verifier).or_default();
                *bond = bond.saturating_add(check.bond);
            }
            if let Some(d) = audit.dispute.as_ref().filter(|d| d.check.is_some()) {
                let index = d.check.and_then(|c| usize::try_from(c).ok());
                let held = index.and_then(|i| audit.checks.get(i)).map(|c| c.bond);
                if held != Some(d.bond) {
                    return Err(format!(
                        "dispute of job {job} puts {} at stake but its check holds {held:?}",
                        d.bond
                    ));
                }
            }
        }
        let recorded: BTreeMap<AccountId, Balance> = CheckBonds::iter(state).into_iter().collect();
        check_bonds.retain(|_, held| *held != 0);
        if recorded != check_bonds {
            return Err(format!(
                "check bonds recorded {recorded:?} but audits hold {check_bonds:?}"
            ));
        }
        for (verifier, bond) in bonds {
            let committed = Staking::<T>::ledger(state, &verifier).committed;
            if committed < bond {
                return Err(format!(
                    "{verifier} holds {bond} in check and challenge bonds but {committed} committed"
                ));
            }
        }
        Self::check_blob_references(state)
    }

    /// Invariant 5: each registered blob's `refs` is the number of things that still need its
    /// bytes. A count below that lets the registry drop bytes a verifier or the referee still
    /// fetches; a count above it keeps a deposit reserved for ever. This pallet is the one that
    /// sees every holder: the market's open bids, the jobs pallet's jobs, and its own audits.
    fn check_blob_references(state: &impl StateIter) -> Result<(), String> {
        let mut expected: BTreeMap<Hash, u32> = BTreeMap::new();
        let mut refer = |hash: Hash| {
            let count = expected.entry(hash).or_default();
            *count = count.saturating_add(1);
        };
        for (_, spec) in pallet_market::BidSpecs::iter(state) {
            refer(spec.module);
            refer(spec.dataset);
        }
        for (_, job) in pallet_jobs::Jobs::iter(state) {
            if job.status.is_final() {
                continue;
            }
            refer(job.spec.module);
            refer(job.spec.dataset);
            for hash in job.commitment.iter().flat_map(|c| c.result_blobs()) {
                refer(hash);
            }
        }
        for (_, audit) in Audits::iter(state) {
            for hash in Self::start_states(&audit) {
                refer(hash);
            }
        }
        for (hash, blob) in pallet_jobs::Blobs::iter(state) {
            let needed = expected.get(&hash).copied().unwrap_or(0);
            if blob.refs != needed {
                return Err(format!(
                    "blob {hash} counts {} references but {needed} things refer to it",
                    blob.refs
                ));
            }
        }
        Ok(())
    }
}
