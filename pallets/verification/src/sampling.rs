//! Sampling: which segments of a committed trace are checked, and by whom.
//!
//! `seed = blake3("agora/sample/v2" ‖ beacon ‖ job id LE)`, `beacon` the random beacon of the
//! block that draws (`pallet_system::Beacon`, see `pallet_staking::beacon`): its proposer's
//! VRF output, which no timestamp, transaction or order it picks can move. The sample is the **last
//! segment** (it fixes the bill and the final state), the worker's named **heaviest segment**
//! (it caps the bill), and `pallet_market::assurance::Params::uniform_samples` others: the
//! first of `blake3(seed ‖ "segment" ‖ counter LE) mod (segments − 1)` not already drawn, for
//! counter = 0, 1, …; it is kept in ascending order. The sample falls into **runs** of
//! consecutive segments; each run is checked by the same verifiers, as many as the bid asked
//! for each segment (`BidTerms::assurance_verifiers`, else `VERIFIERS_PER_SEGMENT`),
//! drawn from the eligible list (registered with `VERIFIER_MIN_STAKE` still bonded, neither the
//! worker nor the buyer, with the run's bond uncommitted: `crate::bonds`)
//! **in proportion to uncommitted stake**, without replacement: the first 16 bytes of
//! `blake3(seed ‖ "verifier" ‖ counter LE)`, as a little-endian number mod the eligible stake
//! not yet drawn for the run, pick the account whose share of the cumulative stake holds it
//! ([`weighted_index`]); the counter runs on over the job's runs. Splitting
//! stake across sybil accounts therefore buys no more draws than keeping it in one (exploit 1 of
//! issue 11). The segments come from the first attempt's seed, so a draw that waits for stake
//! keeps them; each attempt draws verifiers from its own block's seed. Only a run's first
//! segment has its
//! start revealed ([`start_leaf`]); its verifiers compute the starts of the others, so no
//! revealed start is a leaf that anyone attests. All deterministic: every node draws the same
//! sample, and nobody knew it when the worker committed.

use crate::{Audit, Check, Config, Event, Pallet, Phase, SAMPLE_TAG};
use agora_primitives::storage::{Ext, StateRead};
use agora_primitives::Balance;
use agora_primitives::{AccountId, BlockNumber, Hash};
use pallet_jobs::{Job, JobId};

type Staking<T> = pallet_staking::Pallet<T>;

/// How many times `SAMPLE_WAIT_BLOCKS` a draw waits at most for verifiers' check bonds to come
/// free (an hour at the runtime's 60 one-second blocks). Past it the job goes on with the
/// checks it can have: waiting longer would lock its escrow and collateral for as long as
/// someone keeps every able verifier busy, and keeping them busy that long costs the fees of
/// every check they make meanwhile.
pub const SAMPLE_WAIT_ROUNDS: u64 = 60;

fn hash_index(seed: &Hash, label: &[u8], counter: u64, modulus: u64) -> u64 {
    let digest = Hash::of_parts(&[seed.as_bytes(), label, &counter.to_le_bytes()]);
    let mut word = [0u8; 8];
    word.copy_from_slice(&digest.0[..8]);
    u64::from_le_bytes(word).checked_rem(modulus).unwrap_or(0)
}

/// An index into `weights`, drawn with probability proportional to its weight from
/// `blake3(seed ‖ label ‖ counter LE)` (its first 16 bytes, little-endian, mod the total; the
/// bias is below total ÷ 2¹²⁸). `None` if every weight is zero.
pub fn weighted_index(
    seed: &Hash,
    label: &[u8],
    counter: u64,
    weights: &[Balance],
) -> Option<usize> {
    let total = weights.iter().fold(0u128, |sum, w| sum.saturating_add(*w));
    let digest = Hash::of_parts(&[seed.as_bytes(), label, &counter.to_le_bytes()]);
    let mut word = [0u8; 16];
    word.copy_from_slice(&digest.0[..16]);
    let mut point = u128::from_le_bytes(word).checked_rem(total)?;
    for (index, weight) in weights.iter().enumerate() {
        if point < *weight {
            return Some(index);
        }
        point = point.saturating_sub(*weight);
    }
    None
}

/// `wanted` distinct segments of `total` (all of them if fewer), ascending: the last segment
/// and `wanted − 1` drawn from the others — plus `heaviest`, the worker's named heaviest
/// segment, when it is another one (one segment more).
pub fn draw_segments(seed: &Hash, total: u64, wanted: u64, heaviest: Option<u64>) -> Vec<u64> {
    let Some(last) = total.checked_sub(1) else {
        return Vec::new();
    };
    if wanted == 0 {
        return Vec::new();
    }
    let mut segments: Vec<u64> = vec![last];
    let mut wanted = wanted;
    if let Some(heaviest) = heaviest.filter(|h| *h < last) {
        segments.push(heaviest);
        wanted = wanted.saturating_add(1);
    }
    let wanted = wanted.min(total);
    // Rejection sampling of distinct indices below `last`, bounded; a sequential fill
    // finishes it in the (astronomically unlikely) case the bound is hit.
    let mut counter = 0u64;
    while u64::try_from(segments.len()).unwrap_or(u64::MAX) < wanted
        && counter < wanted.saturating_mul(64)
    {
        let index = hash_index(seed, b"segment", counter, last);
        if !segments.contains(&index) {
            segments.push(index);
        }
        counter = counter.saturating_add(1);
    }
    let mut fill = 0u64;
    while u64::try_from(segments.len()).unwrap_or(u64::MAX) < wanted && fill < last {
        if !segments.contains(&fill) {
            segments.push(fill);
        }
        fill = fill.saturating_add(1);
    }
    segments.sort_unstable();
    segments
}

/// The runs of consecutive segments of an ascending sample, as `(first, last)`.
pub fn runs(sample: &[u64]) -> Vec<(u64, u64)> {
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for &segment in sample {
        match runs.last_mut() {
            Some((_, last)) if last.checked_add(1) == Some(segment) => *last = segment,
            _ => runs.push((segment, segment)),
        }
    }
    runs
}

/// The segments in a run `(first, last)`.
pub fn run_length((first, last): (u64, u64)) -> u64 {
    last.saturating_sub(first).saturating_add(1)
}

/// The leaf the worker reveals as the start of a check of `segment`: `segment − 1`, unless
/// `segment` is 0 (it starts from `init`) or its predecessor is sampled too (the run's
/// verifiers compute that start themselves; revealing it would publish the predecessor's
/// answer before its verifiers commit).
pub fn start_leaf(sample: &[u64], segment: u64) -> Option<u64> {
    let previous = segment.checked_sub(1)?;
    (!sample.contains(&previous)).then_some(previous)
}

impl<T: Config> Pallet<T> {
    /// Blocks between a commitment and its draw: `f + 1` for the most faulty validators
    /// `f = ⌊(n − 1)/3⌋` the current committee of `n` tolerates. The beacon of block `c + d`
    /// needs the VRF of every leader of `c + 1 … c + d`, so only `f + 1` colluding leaders in a
    /// row could know the sample while the commitment of block `c` is still open
    /// (`docs/beacon.md`); one validator: 1 block, as before the beacon.
    pub fn sample_delay(state: &impl StateRead) -> BlockNumber {
        let epoch = Staking::<T>::current_epoch(state);
        let members = Staking::<T>::committee(state, epoch).map_or(1, |c| c.len());
        let faults = members.saturating_sub(1).checked_div(3).unwrap_or(0);
        BlockNumber::try_from(faults.saturating_add(1)).unwrap_or(BlockNumber::MAX)
    }

    /// Draws the checks of `job_id` (at the start of block `c + d` for a commitment in block
    /// `c`, [`Self::sample_delay`]) and moves its audit on. The segments come from the first
    /// attempt's seed, so a draw that waits keeps them; the verifiers from the seed of the
    /// attempt's own block (a seed known in advance would let an account tune its stake to be
    /// drawn). While registered verifiers are too busy (their stake committed to other checks)
    /// to fill the sample, the draw waits a block at a time: for at most `SAMPLE_WAIT_BLOCKS`
    /// for a full sample, and past that for as long as waiting for the check bonds held
    /// elsewhere to come free would give a verifier to a run that has none
    /// ([`Self::should_wait`]), up to [`SAMPLE_WAIT_ROUNDS`] times `SAMPLE_WAIT_BLOCKS`. It goes
    /// on with fewer checks (or passes with none, `NoVerifiers`, on the receipt as zero checks)
    /// only when waiting would not help or has lasted that long.
    pub(crate) fn draw(
        ext: &mut Ext<'_>,
        job_id: JobId,
        audit: &mut Audit,
        job: &Job,
        now: BlockNumber,
    ) {
        let beacon = pallet_system::Pallet::<T>::beacon(ext);
        let fresh = Hash::of_parts(&[SAMPLE_TAG, beacon.as_bytes(), &job_id.to_le_bytes()]);
        let seed = *audit.seed.get_or_insert(fresh);
        // The buyer's assurance level and verifiers per segment, as its bid chose them.
        let assurance = pallet_market::Pallet::<T>::assurance_params_for(&job.terms);
        let wanted = assurance.sampled_segments(audit.segments);
        let per_segment = assurance.verifiers_per_segment;
        let heaviest = job.commitment.as_ref().map(|c| c.heaviest_segment);
        let segments = draw_segments(&seed, audit.segments, wanted, heaviest);
        // Re-checked at every draw: only accounts still staked stay listed.
        let registered: Vec<AccountId> = Self::staked_verifiers(ext)
            .into_iter()
            .filter(|v| *v != job.worker && *v != job.buyer)
            .collect();
        let wanted = Self::wanted_checks(registered.len(), segments.len(), per_segment);
        // Each verifier's stake is read once a draw.
        let free: Vec<Balance> = registered
            .iter()
            .map(|v| Staking::<T>::available(ext, v))
            .collect();
        let pool = (&registered[..], &free[..]);
        // Drawn without a write: bonded below only if the job goes on now.
        let checks = Self::draw_verifiers(&fresh, &segments, pool, per_segment);
        if checks.len() < wanted {
            if Self::should_wait(ext, (job, now), &segments, &checks, pool) {
                Self::deposit_event(
                    ext,
                    Event::SampleDeferred {
                        job: job_id,
                        drawn: u32::try_from(checks.len()).unwrap_or(u32::MAX),
                        wanted: u32::try_from(wanted).unwrap_or(u32::MAX),
                    },
                );
                let next = now.saturating_add(1);
                Self::put_audit(ext, job_id, audit, Phase::AwaitingSample, next);
                return;
            }
        }
        let checks = Self::bond_checks(ext, checks);
        if checks.is_empty() {
            Self::deposit_event(ext, Event::NoVerifiers { job: job_id });
            // No checks: passed, with nobody to pay.
            Self::finish(ext, job_id, audit);
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
        let due = now.saturating_add(Self::windows(ext).reveal);
        Self::put_audit(ext, job_id, audit, Phase::AwaitingStarts, due);
    }

    /// Whether a draw of `job` at `now` that found `checks` for `segments` (short of the full
    /// sample) waits: within `SAMPLE_WAIT_BLOCKS` of its first attempt always; past that, for
    /// at most `SAMPLE_WAIT_ROUNDS` times as long, while some run has no verifier and another
    /// attempt could give it one: a fill of the runs (largest bond first, each to the first
    /// verifier of the `pool` — account and free stake — with that much left), each verifier's
    /// check bonds counted as free, covers more runs than the draw did. Either those bonds
    /// will come free, or the stake is there and the draw's random picks packed it worse than
    /// the fill; the next attempt draws anew from its own block's beacon. Stake committed as
    /// collateral or a validator's seat does not count: no audit releases it.
    pub(crate) fn should_wait(
        ext: &Ext<'_>,
        (job, now): (&Job, BlockNumber),
        segments: &[u64],
        checks: &[Check],
        (registered, free): (&[AccountId], &[Balance]),
    ) -> bool {
        // A draw is made only for a committed job; anything else has nothing to wait for.
        let pallet_jobs::JobStatus::Committed { at: committed_at } = job.status else {
            return false;
        };
        let waited = now.saturating_sub(committed_at.saturating_add(Self::sample_delay(ext)));
        let wait = Self::windows(ext).sample_wait;
        if waited < wait {
            return true;
        }
        if waited >= wait.saturating_mul(SAMPLE_WAIT_ROUNDS) {
            return false;
        }
        let runs = runs(segments);
        let covered = runs
            .iter()
            .filter(|(first, _)| checks.iter().any(|c| c.segment == *first))
            .count();
        if covered == runs.len() {
            return false;
        }
        let mut bonds: Vec<Balance> = runs
            .iter()
            .map(|run| Self::run_bond(run_length(*run)))
            .collect();
        bonds.sort_unstable_by(|a, b| b.cmp(a));
        let later: Vec<Balance> = registered
            .iter()
            .zip(free)
            .map(|(v, free)| free.saturating_add(Self::check_bonds(ext, v)))
            .collect();
        fill(&bonds, later) > covered
    }

    /// The checks a sample of `segments` segments needs: `per_segment` for each, or as many as
    /// there are `registered` verifiers (staked, neither the job's worker nor its buyer, busy
    /// or not) if fewer.
    fn wanted_checks(registered: usize, segments: usize, per_segment: u32) -> usize {
        let per_segment = usize::try_from(per_segment).unwrap_or(usize::MAX);
        segments.saturating_mul(per_segment.min(registered))
    }

    /// Commits each drawn verifier's bonds (the sum of its `checks`' bonds: one run bond per
    /// run it was drawn for) and returns the checks. The draw kept every pick within the free
    /// stake it read this block, so every commit succeeds; a verifier whose commit would fail
    /// (a broken invariant) loses its checks rather than holding them unbonded.
    fn bond_checks(ext: &mut Ext<'_>, checks: Vec<Check>) -> Vec<Check> {
        let mut owed: Vec<(AccountId, Balance)> = Vec::new();
        for check in &checks {
            match owed.iter_mut().find(|(v, _)| *v == check.verifier) {
                Some((_, sum)) => *sum = sum.saturating_add(check.bond),
                None => owed.push((check.verifier, check.bond)),
            }
        }
        let mut unbonded: Vec<AccountId> = Vec::new();
        for (verifier, sum) in owed {
            let committed = Self::commit_check_bond(ext, &verifier, sum);
            debug_assert!(committed.is_ok(), "the draw stayed within free stake");
            if committed.is_err() {
                unbonded.push(verifier);
            }
        }
        checks
            .into_iter()
            .filter(|c| !unbonded.contains(&c.verifier))
            .collect()
    }

    /// Up to `per_segment` distinct verifiers for each run of the sample, drawn from the
    /// `pool` (the registered verifiers and their free stake) among those with the run's bond
    /// ([`Self::run_bond`]) free; it writes nothing ([`Self::bond_checks`] commits the bonds). In rounds: every run its first verifier
    /// before any run its second, so that stake short of the full sample covers runs before it
    /// doubles them; within a round the runs with the largest bond pick first, so that a short
    /// run does not take the one verifier able to bond a long one. Each pick is weighted by free
    /// stake among the accounts able to bond the run and not drawn for it yet, so a run gets
    /// `min(per_segment, able)` verifiers. Checks are in ascending segment order.
    fn draw_verifiers(
        seed: &Hash,
        sample: &[u64],
        (registered, free): (&[AccountId], &[Balance]),
        per_segment: u32,
    ) -> Vec<Check> {
        let per_run = usize::try_from(per_segment)
            .unwrap_or(usize::MAX)
            .min(registered.len());
        let runs = runs(sample);
        let bonds: Vec<Balance> = runs
            .iter()
            .map(|run| Self::run_bond(run_length(*run)))
            .collect();
        // Largest bond first, then in segment order (a stable sort).
        let mut order: Vec<usize> = (0..runs.len()).collect();
        order.sort_by(|a, b| bonds.get(*b).cmp(&bonds.get(*a)));
        let mut free = free.to_vec();
        let mut chosen: Vec<Vec<AccountId>> = vec![Vec::new(); runs.len()];
        let mut draw_counter = 0u64;
        // Bounded: `per_run` (≤ the verifiers) rounds of one pick per run.
        for round in 0..per_run {
            for &run in &order {
                let (Some(picked), Some(&bond)) = (chosen.get_mut(run), bonds.get(run)) else {
                    continue;
                };
                if picked.len() != round {
                    continue; // nobody could bond it in an earlier round: nobody can now
                }
                let weights: Vec<Balance> = registered
                    .iter()
                    .zip(&free)
                    .map(|(v, free)| {
                        if *free >= bond && !picked.contains(v) {
                            *free
                        } else {
                            0
                        }
                    })
                    .collect();
                let Some(index) = weighted_index(seed, b"verifier", draw_counter, &weights) else {
                    continue;
                };
                draw_counter = draw_counter.saturating_add(1);
                let (Some(left), Some(verifier)) = (free.get_mut(index), registered.get(index))
                else {
                    continue;
                };
                *left = left.saturating_sub(bond);
                picked.push(*verifier);
            }
        }
        let mut checks = Vec::new();
        for ((first, last), picked) in runs.iter().zip(&chosen) {
            let length = run_length((*first, *last));
            for segment in *first..=*last {
                let position = segment.saturating_sub(*first);
                checks.extend(picked.iter().map(|verifier| Check {
                    segment,
                    verifier: *verifier,
                    start: None,
                    attestation: None,
                    worker_leaf: None,
                    verifier_leaf: None,
                    verifier_result: None,
                    outcome: None,
                    bond: Self::check_bond_at(position, length),
                }));
            }
        }
        checks
    }
}

/// How many of the run `bonds` (largest first) a first-fit fill covers from `budgets`: each
/// run taken by the first budget with its bond left.
fn fill(bonds: &[Balance], mut budgets: Vec<Balance>) -> usize {
    bonds
        .iter()
        .filter(
            |bond| match budgets.iter_mut().find(|left| **left >= **bond) {
                Some(left) => {
                    *left = left.saturating_sub(**bond);
                    true
                }
                None => false,
            },
        )
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the seed, the trace length and the sample size: the sample has
        /// `min(wanted, total)` distinct segments in ascending order, always the last one, and
        /// no start the worker reveals (`start_leaf`) is a sampled segment, i.e. a leaf some
        /// verifier attests. This is exploit 5 of issue 10 (adjacent samples leaked the answer).
        #[test]
        fn no_revealed_start_is_an_attested_leaf(
            seed in any::<[u8; 32]>(),
            total in 1u64..200,
            wanted in 0u64..12,
        ) {
            let sample = draw_segments(&Hash(seed), total, wanted, None);
            prop_assert_eq!(sample.len() as u64, wanted.min(total));
            prop_assert!(sample.windows(2).all(|w| w[0] < w[1]), "{:?}", sample);
            if wanted > 0 {
                prop_assert_eq!(sample.last().copied(), Some(total - 1));
            }
            for &segment in &sample {
                if let Some(start) = start_leaf(&sample, segment) {
                    prop_assert!(!sample.contains(&start), "{:?} reveals {}", sample, start);
                    prop_assert_eq!(start + 1, segment);
                }
            }
            // Runs cover the sample exactly, each a stretch of consecutive segments, and only
            // a run's first segment may have a start revealed.
            let covered: Vec<u64> = runs(&sample).into_iter().flat_map(|(a, b)| a..=b).collect();
            prop_assert_eq!(&covered, &sample);
            for (first, last) in runs(&sample) {
                for segment in first.saturating_add(1)..=last {
                    prop_assert_eq!(start_leaf(&sample, segment), None);
                }
            }
        }
    }

    /// P(a worker forging `forged` segments is caught) by simulation: the share of `draws`
    /// seeds whose sample contains a forged segment.
    fn simulated_detection(total: u64, forged: &[u64], wanted: u64, draws: u32) -> f64 {
        let caught = (0..draws)
            .filter(|draw| {
                let seed = Hash::of_parts(&[b"detection", &draw.to_le_bytes()]);
                draw_segments(&seed, total, wanted, None)
                    .iter()
                    .any(|s| forged.contains(s))
            })
            .count();
        caught as f64 / f64::from(draws)
    }

    /// `docs/verification.md`: with the last segment always sampled and `m − 1` others drawn
    /// from the other `N − 1`, forging `k` segments other than the last is caught with
    /// probability `1 − C(N−1−k, m−1) / C(N−1, m−1)` (`k / (N − 1)` for m = 2), and forging the
    /// last one always. 20,000 seeded draws agree within 1.5 percentage points.
    #[test]
    fn detection_probability_matches_the_formula() {
        let formula = |n: u64, k: u64, m: u64| {
            // 1 − Π_{i<m−1} (n−1−k−i)/(n−1−i)
            1.0 - (0..m - 1)
                .map(|i| (n - 1 - k - i) as f64 / (n - 1 - i) as f64)
                .product::<f64>()
        };
        for (n, k, m) in [(100, 1, 2), (100, 10, 2), (100, 10, 4), (20, 3, 3)] {
            let forged: Vec<u64> = (0..k).map(|i| i * 7 % (n - 1)).collect();
            let simulated = simulated_detection(n, &forged, m, 20_000);
            let expected = formula(n, k, m);
            assert!(
                (simulated - expected).abs() < 0.015,
                "N={n} k={k} m={m}: simulated {simulated:.4}, formula {expected:.4}"
            );
        }
        assert_eq!(simulated_detection(100, &[99], 2, 1_000), 1.0);
    }

    /// Found by an audit of issue 10: `docs/verification.md` quoted detection figures for
    /// `m = 2` checks at N = 100, where the runtime's default sample has three (the last, the
    /// worker's heaviest and `u = ⌈1.5 % · N⌉ = 2` uniform draws). A forger names a segment it
    /// did not forge as its heaviest (it is always checked), so only the `u` uniform draws,
    /// from the `N − 2` segments that are neither the last nor the heaviest, can catch it:
    /// `P(k) = 1 − C(N − 2 − k, u) / C(N − 2, u)`; 20,000 seeded draws of the sample as the
    /// runtime sizes it agree within 1.5 points: 2.0 % for one forged segment of 100, 19.5 %
    /// for ten.
    #[test]
    fn detection_at_the_default_sample_matches_the_formula() {
        let params = pallet_market::assurance::Params {
            sample_permille: 15,
            verifiers_per_segment: 1,
            verifier_margin_percent: 10,
            provider_margin_percent: 25,
        };
        for (n, k) in [(100u64, 1u64), (100, 10), (300, 3)] {
            let u = params.uniform_samples(n);
            let heaviest = n - 2;
            let forged: Vec<u64> = (0..k).map(|i| i * 7 % (n - 2)).collect();
            assert!(!forged.contains(&heaviest));
            let caught = (0..20_000u32)
                .filter(|draw| {
                    let seed = Hash::of_parts(&[b"default", &draw.to_le_bytes()]);
                    let wanted = params.sampled_segments(n);
                    draw_segments(&seed, n, wanted, Some(heaviest))
                        .iter()
                        .any(|s| forged.contains(s))
                })
                .count() as f64
                / 20_000.0;
            let missed: f64 = (0..u)
                .map(|i| (n - 2 - k - i) as f64 / (n - 2 - i) as f64)
                .product();
            let expected = 1.0 - missed;
            assert!(
                (caught - expected).abs() < 0.015,
                "N={n} k={k} u={u}: simulated {caught:.4}, formula {expected:.4}"
            );
        }
        assert_eq!(params.uniform_samples(100), 2, "the premise of the figures");
    }

    /// Draws follow stake: an account holding half the stake is drawn about half the time
    /// whether the other half sits in one account or is split across ten sybils; an account
    /// with no stake is never drawn; no stake at all draws nobody.
    #[test]
    fn verifiers_are_drawn_in_proportion_to_stake_and_sybils_gain_nothing() {
        let seed = Hash([7; 32]);
        let share_of_first = |weights: &[Balance]| {
            let hits = (0..20_000u64)
                .filter(|c| weighted_index(&seed, b"verifier", *c, weights) == Some(0))
                .count();
            hits as f64 / 20_000.0
        };
        let whole = share_of_first(&[100, 100]);
        let split = share_of_first(&[100, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10]);
        assert!((whole - 0.5).abs() < 0.02, "{whole}");
        assert!((split - 0.5).abs() < 0.02, "{split}");
        assert!((share_of_first(&[300, 100]) - 0.75).abs() < 0.02);
        assert!((0..1_000u64).all(|c| weighted_index(&seed, b"v", c, &[0, 5]) == Some(1)));
        assert_eq!(weighted_index(&seed, b"v", 0, &[0, 0]), None);
        assert_eq!(weighted_index(&seed, b"v", 0, &[]), None);
    }

    #[test]
    fn runs_group_consecutive_segments() {
        assert_eq!(runs(&[]), Vec::<(u64, u64)>::new());
        assert_eq!(runs(&[0, 1, 3, 5, 6, 7]), [(0, 1), (3, 3), (5, 7)]);
        assert_eq!(start_leaf(&[0, 1, 3], 0), None);
        assert_eq!(start_leaf(&[0, 1, 3], 1), None);
        assert_eq!(start_leaf(&[0, 1, 3], 3), Some(2));
    }

    #[test]
    fn a_two_segment_trace_is_checked_whole() {
        assert_eq!(draw_segments(&Hash([7; 32]), 2, 2, None), [0, 1]);
        assert_eq!(draw_segments(&Hash([7; 32]), 1, 2, None), [0]);
        assert_eq!(draw_segments(&Hash([7; 32]), 0, 2, None), Vec::<u64>::new());
        // The named heaviest segment is drawn besides the last and the uniform ones.
        for seed in 0..50u8 {
            let sample = draw_segments(&Hash([seed; 32]), 100, 2, Some(40));
            assert_eq!(sample.len(), 3, "{sample:?}");
            assert!(sample.contains(&40) && sample.contains(&99), "{sample:?}");
        }
        // Named as the last, it adds nothing.
        assert_eq!(draw_segments(&Hash([7; 32]), 100, 2, Some(99)).len(), 2);
    }
}
