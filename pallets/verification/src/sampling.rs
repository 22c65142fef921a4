//! Sampling: which segments of a committed trace are checked, and by whom.
//!
//! `seed = blake3("agora/sample/v1" ‖ parent hash ‖ job id LE)`. Segment `k` of the sample is
//! the first of `blake3(seed ‖ "segment" ‖ counter LE) mod segments` not already drawn;
//! verifiers likewise from the eligible list (registered, neither the worker nor the buyer,
//! with a check bond of uncommitted stake), in registration order. All deterministic: every
//! node draws the same sample, and nobody knew it when the worker committed.

use crate::{Audit, Audits, Check, Config, Event, Pallet, Phase, SAMPLE_TAG};
use agora_primitives::storage::Ext;
use agora_primitives::{AccountId, BlockNumber, Hash};
use pallet_jobs::{AuditOutcome, Job, JobId};

type Staking<T> = pallet_staking::Pallet<T>;
type Jobs<T> = pallet_jobs::Pallet<T>;

fn hash_index(seed: &Hash, label: &[u8], counter: u64, modulus: u64) -> u64 {
    let digest = Hash::of_parts(&[seed.as_bytes(), label, &counter.to_le_bytes()]);
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest.0[..8]);
    u64::from_le_bytes(word).checked_rem(modulus).unwrap_or(0)
}

impl<T: Config> Pallet<T> {
    /// Draws the checks of `job_id` (at the end of the block after its commitment) and moves
    /// its audit on; with no eligible verifier the job passes unchecked.
    pub(crate) fn draw(
        ext: &mut Ext<'_>,
        job_id: JobId,
        audit: &mut Audit,
        job: &Job,
        now: BlockNumber,
    ) {
        let parent = pallet_system::ParentHash::get(ext).unwrap_or(Hash::ZERO);
        let seed = Hash::of_parts(&[SAMPLE_TAG, parent.as_bytes(), &job_id.to_le_bytes()]);
        let segments = Self::draw_segments(&seed, audit.segments);
        let checks = Self::draw_verifiers(ext, &seed, segments, job);
        if checks.is_empty() {
            Self::deposit_event(ext, Event::NoVerifiers { job: job_id });
            Audits::remove(ext, &job_id);
            Jobs::<T>::audited(
                ext,
                job_id,
                AuditOutcome::Passed {
                    paid: Vec::new(),
                    missed: 0,
                },
            );
            return;
        }
        Self::deposit_event(
            ext,
            Event::Sampled {
                job: job_id,
                checks: checks.iter().map(|c| (c.segment, c.verifier)).collect(),
            },
        );
        audit.checks = checks;
        Self::put_audit(
            ext,
            job_id,
            audit,
            Phase::AwaitingStarts,
            now.saturating_add(T::REVEAL_BLOCKS),
        );
    }

    /// `SAMPLE_SEGMENTS` distinct segments of `total` (all of them if fewer).
    fn draw_segments(seed: &Hash, total: u64) -> Vec<u64> {
        let wanted = u64::from(T::SAMPLE_SEGMENTS).min(total);
        let mut segments: Vec<u64> = Vec::new();
        // Rejection sampling of distinct indices, bounded; a sequential fill finishes it in the
        // (astronomically unlikely) case the bound is hit.
        let mut counter = 0u64;
        while u64::try_from(segments.len()).unwrap_or(u64::MAX) < wanted
            && counter < wanted.saturating_mul(64)
        {
            let index = hash_index(seed, b"segment", counter, total);
            if !segments.contains(&index) {
                segments.push(index);
            }
            counter = counter.saturating_add(1);
        }
        let mut fill = 0u64;
        while u64::try_from(segments.len()).unwrap_or(u64::MAX) < wanted && fill < total {
            if !segments.contains(&fill) {
                segments.push(fill);
            }
            fill = fill.saturating_add(1);
        }
        segments
    }

    /// `VERIFIERS_PER_SEGMENT` distinct eligible verifiers for each segment, each committing a
    /// check bond (a verifier drawn for several checks needs a bond for each).
    fn draw_verifiers(ext: &mut Ext<'_>, seed: &Hash, segments: Vec<u64>, job: &Job) -> Vec<Check> {
        let eligible: Vec<AccountId> = Self::verifiers(ext)
            .into_iter()
            .filter(|v| *v != job.worker && *v != job.buyer)
            .filter(|v| Staking::<T>::available(ext, v) >= T::CHECK_BOND)
            .collect();
        let count = u64::try_from(eligible.len()).unwrap_or(0);
        let per_segment = u64::from(T::VERIFIERS_PER_SEGMENT).min(count);
        let mut checks = Vec::new();
        let mut draw_counter = 0u64;
        for segment in segments {
            let mut chosen: Vec<AccountId> = Vec::new();
            let mut tries = 0u64;
            while u64::try_from(chosen.len()).unwrap_or(u64::MAX) < per_segment
                && tries < per_segment.saturating_mul(64)
            {
                let index = hash_index(seed, b"verifier", draw_counter, count);
                draw_counter = draw_counter.saturating_add(1);
                tries = tries.saturating_add(1);
                let Some(verifier) = eligible.get(usize::try_from(index).unwrap_or(usize::MAX))
                else {
                    continue;
                };
                if chosen.contains(verifier) {
                    continue;
                }
                // A verifier drawn for several checks needs a bond for each.
                if Staking::<T>::commit(ext, verifier, T::CHECK_BOND).is_ok() {
                    chosen.push(*verifier);
                }
            }
            checks.extend(chosen.into_iter().map(|verifier| Check {
                segment,
                verifier,
                start: None,
                attestation: None,
                worker_leaf: None,
                verifier_leaf: None,
                outcome: None,
            }));
        }
        checks
    }
}
