//! The spot checks' calls: the worker's reveals and the verifiers' commit–reveal of their
//! leaves, in the order the crate documentation's protocol gives (one phase each).

use crate::{
    attestation_hash, sampling, Audit, Audits, Check, CheckOutcome, Config, Error, Event,
    FinalResult, Jobs, Pallet, Phase,
};
use agora_primitives::dispatch::{DispatchError, DispatchResult};
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::trace::{verify_inclusion, InclusionProof, TraceLeaf};
use agora_primitives::{AccountId, BlockNumber, Hash};
use pallet_jobs::JobId;
use pallet_support::ensure;

impl<T: Config> Pallet<T> {
    pub(crate) fn load(ext: &Ext<'_>, job: JobId, phase: Phase) -> Result<Audit, DispatchError> {
        let audit = Audits::get(ext, &job).ok_or(Self::error(Error::UnknownAudit))?;
        if audit.phase != phase {
            return Err(Self::error(Error::WrongPhase));
        }
        Ok(audit)
    }

    /// Check `check` of `audit` and its index, for an attestation or reveal by `who`: refused
    /// unless the check exists and `who` is its verifier.
    fn verifier_check<'a>(
        audit: &'a mut Audit,
        who: &AccountId,
        check: u32,
    ) -> Result<(usize, &'a mut Check), DispatchError> {
        let index = usize::try_from(check).unwrap_or(usize::MAX);
        let entry = audit
            .checks
            .get_mut(index)
            .ok_or(Self::error(Error::UnknownCheck))?;
        ensure!(entry.verifier == *who, Self::error(Error::NotCheckVerifier));
        Ok((index, entry))
    }

    /// The audit of `job` in `phase`, for a reveal by `who` of one item per check: refused
    /// unless `who` is the job's worker and `reveals` is the number of checks.
    fn load_for_worker(
        ext: &Ext<'_>,
        who: &AccountId,
        job: JobId,
        phase: Phase,
        reveals: usize,
    ) -> Result<Audit, DispatchError> {
        let audit = Self::load(ext, job, phase)?;
        let worker = Jobs::<T>::job(ext, job).map(|job| job.worker);
        ensure!(worker == Some(*who), Self::error(Error::NotJobWorker));
        ensure!(
            reveals == audit.checks.len(),
            Self::error(Error::WrongRevealCount)
        );
        Ok(audit)
    }

    /// The worker reveals each check's start: leaf `s − 1` and its proof where
    /// [`sampling::start_leaf`] asks for it, `None` otherwise (segment 0, or a segment whose
    /// predecessor is sampled). All-or-nothing.
    pub fn reveal_starts(
        ext: &mut Ext<'_>,
        who: &AccountId,
        job: JobId,
        starts: Vec<Option<(TraceLeaf, InclusionProof)>>,
    ) -> DispatchResult {
        let mut audit = Self::load_for_worker(ext, who, job, Phase::AwaitingStarts, starts.len())?;
        let sample: Vec<u64> = audit.checks.iter().map(|c| c.segment).collect();
        for (check, start) in audit.checks.iter_mut().zip(starts) {
            match (sampling::start_leaf(&sample, check.segment), start) {
                (None, None) => check.start = None,
                (Some(index), Some((leaf, proof))) if leaf.index == index => {
                    verify_inclusion(audit.root, audit.segments, &leaf, &proof)
                        .map_err(|_| Self::error(Error::BadProof))?;
                    if Jobs::<T>::blob(ext, &leaf.state_hash).is_none() {
                        return Err(Self::error(Error::StartStateNotRegistered));
                    }
                    // Exploit 1 of issue 10: verifiers fetch this state; registering its hash
                    // is not having the bytes (a node without them leaves the reveal out).
                    ext.require_available(leaf.state_hash)
                        .map_err(|_| Self::error(Error::StartStateUnavailable))?;
                    check.start = Some(leaf);
                }
                _ => return Err(Self::error(Error::WrongStartLeaf)),
            }
        }
        // Verifiers fetch these states for the whole attest window (and a dispute's referee
        // after it): referenced until the audit ends ([`Self::end_audit`]), else a state
        // registered about `blob_ttl` before the reveal expired mid-audit on every node.
        for state in Self::start_states(&audit) {
            Jobs::<T>::retain_blob(ext, &state);
        }
        let window = Self::attest_window(ext, &sample);
        Self::advance(ext, job, &mut audit, Phase::AwaitingAttestations, window);
        Self::deposit_event(ext, Event::StartsRevealed { job });
        Ok(())
    }

    /// Blocks the verifiers of `sample` (the checks' segments, ascending, a segment once per
    /// verifier) have to re-execute and attest: one attestation window per
    /// [`Config::RUN_SEGMENTS`] segments of the sample's longest run, at least one.
    pub fn attest_window(state: &impl StateRead, sample: &[u64]) -> BlockNumber {
        let mut segments = sample.to_vec();
        segments.dedup();
        let longest = sampling::runs(&segments)
            .iter()
            .map(|run| sampling::run_length(*run))
            .max()
            .unwrap_or(1);
        Self::run_attest_window(state, longest)
    }

    /// Blocks a verifier has to re-execute and attest a run of `length` segments: one
    /// attestation window per [`Config::RUN_SEGMENTS`] segments, at least one.
    pub(crate) fn run_attest_window(state: &impl StateRead, length: u64) -> BlockNumber {
        let windows = length.div_ceil(T::RUN_SEGMENTS.max(1)).max(1);
        Self::windows(state).attest.saturating_mul(windows)
    }

    /// A verifier commits to the leaf it computed for check `check`.
    pub fn attest(
        ext: &mut Ext<'_>,
        who: &AccountId,
        job: JobId,
        check: u32,
        commitment: Hash,
    ) -> DispatchResult {
        let mut audit = Self::load(ext, job, Phase::AwaitingAttestations)?;
        let (_, entry) = Self::verifier_check(&mut audit, who, check)?;
        ensure!(
            entry.attestation.is_none(),
            Self::error(Error::AlreadyAttested)
        );
        entry.attestation = Some(commitment);
        Self::deposit_event(ext, Event::Attested { job, check });
        if audit.checks.iter().all(|c| c.attestation.is_some()) {
            let window = Self::windows(ext).reveal;
            Self::advance(ext, job, &mut audit, Phase::AwaitingLeaves, window);
        } else {
            Audits::insert(ext, &job, &audit);
        }
        Ok(())
    }

    /// The worker reveals its leaf for every check, with proofs. All-or-nothing.
    pub fn reveal_leaves(
        ext: &mut Ext<'_>,
        who: &AccountId,
        job: JobId,
        leaves: Vec<(TraceLeaf, InclusionProof)>,
    ) -> DispatchResult {
        let mut audit = Self::load_for_worker(ext, who, job, Phase::AwaitingLeaves, leaves.len())?;
        for (check, (leaf, proof)) in audit.checks.iter_mut().zip(leaves) {
            if leaf.index != check.segment {
                return Err(Self::error(Error::WrongLeaf));
            }
            verify_inclusion(audit.root, audit.segments, &leaf, &proof)
                .map_err(|_| Self::error(Error::BadProof))?;
            check.worker_leaf = Some(leaf);
        }
        Self::deposit_event(ext, Event::LeavesRevealed { job });
        // A sampled segment over the per-segment fuel bound is the worker's fault: an honest
        // worker's engine stops such a segment, and verifiers were only ever asked to
        // re-execute segments within it (they attest an over-the-bound marker instead).
        if let Some((segment, fuel)) = Self::segment_over_bound(&audit) {
            Self::deposit_event(ext, Event::SegmentOverFuelBound { job, segment, fuel });
            Self::worker_fault(ext, job, &audit);
            return Ok(());
        }
        // The heaviest segment's fuel caps the bill (the jobs pallet refuses a bill above
        // `segments × heaviest_fuel`), so a claim its leaves do not bear out is the worker's
        // fault: it is how fuel added to an unchecked segment would be billed.
        if let Some((segment, claimed, revealed)) = Self::heaviest_misclaimed(ext, job, &audit) {
            Self::deposit_event(
                ext,
                Event::HeaviestFuelMisclaimed {
                    job,
                    segment,
                    claimed,
                    revealed,
                },
            );
            Self::worker_fault(ext, job, &audit);
            return Ok(());
        }
        let window = Self::windows(ext).reveal;
        Self::advance(ext, job, &mut audit, Phase::AwaitingReveals, window);
        Ok(())
    }

    /// The first sampled segment whose revealed leaf claims more fuel than
    /// `MAX_SEGMENT_FUEL` (or less cumulative fuel than its start), with the fuel it claims.
    /// A segment's start fuel is 0 for segment 0, the revealed start leaf's for the first
    /// segment of a run, and the worker's own revealed leaf of the segment before otherwise.
    fn segment_over_bound(audit: &Audit) -> Option<(u64, u64)> {
        audit.checks.iter().find_map(|check| {
            let fuel = Self::revealed_fuel(audit, check)?;
            (fuel > <T as pallet_market::Config>::MAX_SEGMENT_FUEL).then_some((check.segment, fuel))
        })
    }

    /// The fuel `check`'s segment used by the worker's revealed leaves: its leaf's cumulative
    /// fuel less its start's — 0 for segment 0, the revealed start leaf's for the first segment
    /// of a run, and the worker's own revealed leaf of the segment before otherwise; `u64::MAX`
    /// when the cumulative fuel went down; `None` while the leaves are not revealed.
    pub(crate) fn revealed_fuel(audit: &Audit, check: &Check) -> Option<u64> {
        let leaf = check.worker_leaf?;
        let start = match (check.segment.checked_sub(1), check.start) {
            (None, _) => 0,
            (Some(_), Some(start)) => start.fuel,
            (Some(previous), None) => {
                audit
                    .checks
                    .iter()
                    .find(|c| c.segment == previous)
                    .and_then(|c| c.worker_leaf)?
                    .fuel
            }
        };
        Some(leaf.fuel.checked_sub(start).unwrap_or(u64::MAX))
    }

    /// The checks whose verifiers revealed a leaf (a match or a mismatch), with their
    /// segment's fuel by the worker's leaves: what a worker that loses pays out of its
    /// collateral (the jobs pallet caps each at the job's check fuel bound).
    pub(crate) fn revealed_checks(audit: &Audit) -> Vec<pallet_jobs::PaidCheck> {
        audit
            .checks
            .iter()
            .filter(|c| {
                matches!(
                    c.outcome,
                    Some(
                        CheckOutcome::Match
                            | CheckOutcome::Mismatch
                            | CheckOutcome::MachineDependent
                    )
                )
            })
            .map(|c| Self::paid_check(audit, c))
            .collect()
    }

    /// `check` as a fee owed: its verifier, its segment and that segment's fuel by the worker's
    /// revealed leaves (0 if they are not revealed; a decided check's are).
    pub(crate) fn paid_check(audit: &Audit, check: &Check) -> pallet_jobs::PaidCheck {
        pallet_jobs::PaidCheck {
            verifier: check.verifier,
            segment: check.segment,
            fuel: Self::revealed_fuel(audit, check).unwrap_or(0),
        }
    }

    /// A sampled segment that gives the lie to the commitment's heaviest segment: the named
    /// one using other fuel than claimed, or any using more. `(segment, claimed, revealed)`.
    fn heaviest_misclaimed(ext: &Ext<'_>, job: JobId, audit: &Audit) -> Option<(u64, u64, u64)> {
        let commitment = Jobs::<T>::job(ext, job)?.commitment?;
        let claimed = commitment.heaviest_fuel;
        audit.checks.iter().find_map(|check| {
            let revealed = Self::revealed_fuel(audit, check)?;
            let named = check.segment == commitment.heaviest_segment;
            (revealed > claimed || (named && revealed != claimed)).then_some((
                check.segment,
                claimed,
                revealed,
            ))
        })
    }

    /// A verifier opens its commitment; the check is decided on the spot. The verifier of the
    /// last segment also reveals the model and metrics it computed from its final state, which
    /// must be the worker's committed ones for a match; any other verifier reveals none (either
    /// way round the reveal is `Wrong`: the protocol asks for it, the attestation hides it).
    /// The leaf must be the checked segment's: one under another index answers no question
    /// the check asked, and as a mismatch it would end the audit against an honest worker
    /// with nothing a dispute could decide (every other field the worker's).
    pub fn reveal_attestation(
        ext: &mut Ext<'_>,
        who: &AccountId,
        job: JobId,
        check: u32,
        leaf: TraceLeaf,
        result: Option<FinalResult>,
        salt: [u8; 32],
    ) -> DispatchResult {
        let mut audit = Self::load(ext, job, Phase::AwaitingReveals)?;
        let last = audit.segments.saturating_sub(1);
        let committed = Self::committed_result(ext, job);
        let (index, entry) = Self::verifier_check(&mut audit, who, check)?;
        let (Some(commitment), None) = (entry.attestation, entry.outcome) else {
            return Err(Self::error(Error::NothingToReveal));
        };
        let outcome = if attestation_hash(job, check, who, &leaf, &result, &salt) != commitment
            || leaf.index != entry.segment
            || result.is_some() != (entry.segment == last)
        {
            CheckOutcome::Wrong
        } else if entry.worker_leaf == Some(leaf) && (result.is_none() || result == committed) {
            CheckOutcome::Match
        } else {
            CheckOutcome::Mismatch
        };
        entry.verifier_result = result;
        entry.verifier_leaf = Some(leaf);
        let forfeited = Self::decide(ext, job, &mut audit.checks, index, outcome);
        Jobs::<T>::note_forfeited(ext, job, forfeited);
        if audit.checks.iter().all(|c| c.outcome.is_some()) {
            Self::conclude(ext, job, audit);
        } else {
            Audits::insert(ext, &job, &audit);
        }
        Ok(())
    }

    /// The model and metrics hash the worker of `job` committed; both zero for a trace that
    /// ends in a refusal (what a verifier whose re-run is refused too reveals).
    pub(crate) fn committed_result(state: &impl StateRead, job: JobId) -> Option<FinalResult> {
        Jobs::<T>::job(state, job)
            .and_then(|job| job.commitment)
            .map(|c| match c.ends_in_refusal() {
                true => FinalResult {
                    output: Hash::ZERO,
                    metrics: Hash::ZERO,
                },
                false => FinalResult {
                    output: c.output,
                    metrics: Hash::of(&c.metrics),
                },
            })
    }
}
