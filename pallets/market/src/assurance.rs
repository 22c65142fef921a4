//! How a job is checked, what checking costs its buyer, and what its worker puts at stake.
//!
//! # Specification
//!
//! For a job of `N` segments whose bid offers at most `p̂` per Mfuel for at most `F̂` fuel
//! (`Ŵ = fuel_cost(p̂, F̂)`, the most the worker can be paid), with the runtime's parameters
//! ([`Params`]):
//!
//! - **Sample.** `u = min(N − 1, ⌈N · sample_permille / 1000⌉)` (at least 1) segments drawn uniformly
//!   from the first `N − 1`, plus the last segment always: `s = u + 1` sampled segments (all of
//!   them when `N ≤ 2`); plus the segment the worker names as its heaviest when that is not the
//!   last (it bounds the bill, see the jobs pallet's `Commitment`), so at most
//!   `min(N, s + 1)` segments, each re-executed by `verifiers_per_segment` verifiers: `checks`.
//! - **Fee.** A matching check is paid for the fuel it re-executed, at the job's clearing price
//!   `p`, plus `verifier_margin_percent`: `fee = ⌈fuel_cost(p, f) · (100 + margin) / 100⌉`, with
//!   `f` the segment's fuel (from the worker's trace, which the check just confirmed) plus, for
//!   segment 0 (`init`) and the last segment (`export` and `eval`), one average segment of the
//!   job (`total fuel / segments`), and at most `2 · ⌈F̂ / N⌉`. The chain cannot measure `init`,
//!   `export` and `eval`; one average segment covers them for any job whose segments are at
//!   least as heavy as those calls (the example MLP's `export` and `eval` take about six
//!   training steps, `docs/economics.md`).
//! - **Verification escrow.** `checks · ⌈fuel_cost(p̂, 2 · ⌈F̂ / N⌉) · (100 + margin) / 100⌉`, on
//!   top of `Ŵ`: the most the fees can come to. What the checks do not use is refunded.
//! - **Collateral.** A worker that skips a segment (and carries on from a state of its own
//!   choosing, so that only a check of that very segment shows it) is caught with probability
//!   `P₁ = u / (N − 1)`; when it is not, it is paid `W` for `N − 1` segments of work. With
//!   providers' compute cost at least `(1 − R) · W` for the whole job (`R` =
//!   `provider_margin_percent`, the largest margin the parameters are sized for), skipping
//!   one segment earns at most `W · (R + (1 − R) / N)` when unchecked, and a caught worker loses
//!   `W` (it is not paid) and its collateral `C`. Skipping loses money in expectation when
//!   `P₁ · (W + C) ≥ W · (R + (1 − R) / N)`:
//!
//!   ```text
//!   C = max(0, Ŵ · ((R·N + 1 − R) · (N − 1) / (N · u) − 1))
//!   ```
//!
//!   Skipping `k > 1` segments is caught with a probability concave in `k` that meets the
//!   (linear) break-even line at `k = 1` and `k = N − 1`, so the same `C` covers every `k`; a
//!   job whose every segment is sampled needs none. The job's collateral is the larger of
//!   this and the offer's own (which also covers missed deadlines).
//!
//! Every figure rounds up (in the protocol's favour) and is `None` on overflow.

use crate::{fuel_cost, BidTerms, Config, Fuel, JobSpec, Pallet};
use agora_primitives::Balance;

/// The runtime's parameters of checking and collateral.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Uniformly sampled segments per thousand segments of a job (at least one is drawn).
    pub sample_permille: u32,
    /// Verifiers drawn for each sampled segment.
    pub verifiers_per_segment: u32,
    /// What a check's fee adds to the re-execution's price, in percent.
    pub verifier_margin_percent: u32,
    /// The largest provider margin (price over compute cost, in percent of the price) the
    /// collateral is sized for.
    pub provider_margin_percent: u32,
}

/// How one job is checked and what stands behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Assurance {
    /// Segments sampled: the last, plus [`Assurance::uniform`] drawn from the others (the
    /// worker's named heaviest segment may add one).
    pub sampled: u64,
    /// Of those, drawn uniformly from the segments before the last.
    pub uniform: u64,
    /// Most checks (one per verifier per drawn segment, the heaviest included).
    pub checks: u64,
    /// Most fuel one check is paid for: `2 · ⌈F̂ / N⌉`.
    pub max_check_fuel: Fuel,
    /// Escrowed with the bid for the verifiers' fees, at the bid's max price.
    pub verification_escrow: Balance,
    /// All the bid reserves: the most the worker can be paid, `Ŵ`, and the verification escrow
    /// (a bid reserves at least `Config::MIN_BID_ESCROW`, [`Pallet::assurance`]).
    pub escrow: Balance,
    /// Stake the worker must commit for the job.
    pub collateral: Balance,
}

impl Params {
    /// Segments of an `N`-segment job drawn uniformly besides the last one.
    pub fn uniform_samples(&self, segments: u64) -> u64 {
        let wanted = segments
            .saturating_mul(u64::from(self.sample_permille))
            .div_ceil(1_000);
        wanted.max(1).min(segments.saturating_sub(1))
    }

    /// Segments of an `N`-segment job that are re-executed.
    pub fn sampled_segments(&self, segments: u64) -> u64 {
        if segments == 0 {
            return 0;
        }
        self.uniform_samples(segments).saturating_add(1)
    }

    /// Segments of an `N`-segment job a check may re-execute: the sampled ones and the worker's
    /// named heaviest, which is one more unless it is the last or every segment is sampled.
    pub fn drawn_segments(&self, segments: u64) -> u64 {
        self.sampled_segments(segments)
            .saturating_add(1)
            .min(segments)
    }

    /// The fee for a check that re-executed `fuel` at `price` per Mfuel.
    pub fn check_fee(&self, price: Balance, fuel: Fuel) -> Option<Balance> {
        let with_margin = fuel_cost(price, fuel)?
            .checked_mul(u128::from(self.verifier_margin_percent.checked_add(100)?))?;
        Some(with_margin.div_ceil(100))
    }

    /// The fuel a matching check of `segment` is paid for: the segment's own, plus one average
    /// segment of the job for the first (`init`) and the last (`export` and `eval`), capped at
    /// `max_check_fuel`.
    pub fn paid_check_fuel(
        segment: u64,
        segment_fuel: Fuel,
        (segments, total_fuel): (u64, Fuel),
        max_check_fuel: Fuel,
    ) -> Fuel {
        let average = total_fuel.checked_div(segments.max(1)).unwrap_or(0);
        let last = segments.saturating_sub(1);
        let extra = if segment == 0 || segment == last {
            average
        } else {
            0
        };
        segment_fuel.saturating_add(extra).min(max_check_fuel)
    }

    /// The assurance of a job of `segments` segments bid at `max_price` for `max_fuel`.
    pub fn assurance(
        &self,
        max_price: Balance,
        max_fuel: Fuel,
        segments: u64,
    ) -> Option<Assurance> {
        let segments = segments.max(1);
        let sampled = self.sampled_segments(segments);
        let uniform = sampled.saturating_sub(1);
        let drawn = self.drawn_segments(segments);
        let checks = drawn.checked_mul(u64::from(self.verifiers_per_segment))?;
        let max_check_fuel = max_fuel.div_ceil(segments).checked_mul(2)?;
        let verification_escrow = self
            .check_fee(max_price, max_check_fuel)?
            .checked_mul(u128::from(checks))?;
        let max_pay = fuel_cost(max_price, max_fuel)?;
        let escrow = max_pay.checked_add(verification_escrow)?;
        let collateral = if sampled >= segments {
            0
        } else {
            self.forgery_collateral(max_pay, segments, uniform)?
        };
        Some(Assurance {
            sampled,
            uniform,
            checks,
            max_check_fuel,
            verification_escrow,
            escrow,
            collateral,
        })
    }

    /// `max(0, Ŵ · ((R·N + 1 − R)(N − 1) / (N · u) − 1))`, with `R` in percent.
    fn forgery_collateral(&self, max_pay: Balance, segments: u64, uniform: u64) -> Option<Balance> {
        let margin = u128::from(self.provider_margin_percent.min(100));
        let n = u128::from(segments);
        let numerator = margin
            .checked_mul(n)?
            .checked_add(100 - margin)?
            .checked_mul(n.checked_sub(1)?)?;
        let denominator = n.checked_mul(u128::from(uniform))?.checked_mul(100)?;
        if denominator == 0 {
            return None;
        }
        let at_risk = max_pay.checked_mul(numerator)?.div_ceil(denominator);
        Some(at_risk.saturating_sub(max_pay))
    }
}

impl<T: Config> Pallet<T> {
    /// The runtime's checking and collateral parameters.
    pub fn assurance_params() -> Params {
        Params {
            sample_permille: T::SAMPLE_PERMILLE,
            verifiers_per_segment: T::VERIFIERS_PER_SEGMENT,
            verifier_margin_percent: T::VERIFIER_MARGIN_PERCENT,
            provider_margin_percent: T::PROVIDER_MARGIN_PERCENT,
        }
    }

    /// The parameters of a bid's assurance: the runtime's, with the buyer's own sample rate
    /// and verifiers per segment where it chose them (`BidTerms::assurance_permille` and
    /// `assurance_verifiers`, 0 for the default).
    pub fn assurance_params_for(terms: &BidTerms) -> Params {
        let defaults = Self::assurance_params();
        let chosen_or = |chosen: u32, default: u32| if chosen == 0 { default } else { chosen };
        Params {
            sample_permille: chosen_or(terms.assurance_permille, defaults.sample_permille)
                .min(1_000),
            verifiers_per_segment: chosen_or(
                terms.assurance_verifiers,
                defaults.verifiers_per_segment,
            )
            .min(T::MAX_VERIFIERS_PER_SEGMENT),
            ..defaults
        }
    }

    /// How a job of `spec` bid with `terms` is checked, what the checks escrow and what its
    /// worker must stake; `None` on overflow. The escrow is at least `MIN_BID_ESCROW`.
    pub fn assurance(spec: &JobSpec, terms: &BidTerms) -> Option<Assurance> {
        let mut assurance = Self::assurance_params_for(terms).assurance(
            terms.max_price,
            terms.max_fuel,
            spec.segments(),
        )?;
        assurance.escrow = assurance.escrow.max(T::MIN_BID_ESCROW);
        Some(assurance)
    }

    /// What a bid with these terms reserves: the most the worker can be paid and the most the
    /// verifiers' fees can come to.
    pub fn escrow_for(spec: &JobSpec, terms: &BidTerms) -> Option<Balance> {
        Some(Self::assurance(spec, terms)?.escrow)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use agora_primitives::AGR;

    const PARAMS: Params = Params {
        sample_permille: 10,
        verifiers_per_segment: 1,
        verifier_margin_percent: 10,
        provider_margin_percent: 25,
    };
    const MFUEL: Fuel = crate::FUEL_PER_MFUEL;

    #[test]
    fn small_jobs_sample_one_segment_besides_the_last_and_large_ones_one_percent() {
        let sampled: Vec<u64> = [1, 2, 3, 8, 100, 101, 256, 4096]
            .iter()
            .map(|n| PARAMS.sampled_segments(*n))
            .collect();
        assert_eq!(sampled, vec![1, 2, 2, 2, 2, 3, 4, 42]);
    }

    #[test]
    fn a_check_is_paid_its_segment_at_the_clearing_price_plus_the_margin() {
        // 100 Mfuel at 0.001 AGR per Mfuel is 0.1 AGR; plus 10 %.
        let fee = PARAMS.check_fee(AGR / 1_000, 100 * MFUEL).unwrap();
        assert_eq!(fee, AGR / 10 + AGR / 100);
        // The first and last segments carry one average segment more, within the cap.
        let job = (10, 1_000 * MFUEL);
        assert_eq!(
            Params::paid_check_fuel(4, 100 * MFUEL, job, 1_000 * MFUEL),
            100 * MFUEL
        );
        assert_eq!(
            Params::paid_check_fuel(9, 90 * MFUEL, job, 1_000 * MFUEL),
            190 * MFUEL
        );
        assert_eq!(
            Params::paid_check_fuel(0, 100 * MFUEL, job, 150 * MFUEL),
            150 * MFUEL
        );
    }

    #[test]
    fn the_escrow_covers_every_check_at_its_cap_and_the_max_price() {
        let a = PARAMS.assurance(AGR / 1_000, 1_000 * MFUEL, 10).unwrap();
        // The last, one other, and the worker's heaviest if it names another.
        assert_eq!((a.sampled, a.checks, a.max_check_fuel), (2, 3, 200 * MFUEL));
        assert_eq!(
            a.verification_escrow,
            3 * PARAMS.check_fee(AGR / 1_000, 200 * MFUEL).unwrap()
        );
        let whole = PARAMS.assurance(AGR / 1_000, 1_000 * MFUEL, 2).unwrap();
        assert_eq!((whole.sampled, whole.checks), (2, 2));
    }

    #[test]
    fn a_job_whose_every_segment_is_checked_needs_no_forgery_collateral() {
        let a = PARAMS.assurance(AGR / 1_000, 1_000 * MFUEL, 2).unwrap();
        assert_eq!((a.sampled, a.collateral), (2, 0));
    }

    /// The rule's reason to be: for every job size and every number of skipped segments, a
    /// worker whose margin is the parameters' bound expects to lose by skipping. Exact
    /// hypergeometric detection, integer-free arithmetic in f64 with a small tolerance.
    #[test]
    fn skipping_any_number_of_segments_loses_money_in_expectation_at_the_margin_bound() {
        let r = f64::from(PARAMS.provider_margin_percent) / 100.0;
        for n in [3u64, 5, 8, 64, 128, 256, 1000] {
            let a = PARAMS.assurance(AGR, 1_000_000 * MFUEL, n).unwrap();
            let w = fuel_cost(AGR, 1_000_000 * MFUEL).unwrap() as f64;
            let c = a.collateral as f64;
            let u = a.uniform;
            for k in 1..n {
                // Probability that none of the u uniform draws (from n − 1) hits the k skipped.
                let mut missed = 1.0;
                for i in 0..u {
                    missed *= (n - 1 - k).saturating_sub(i) as f64 / (n - 1 - i) as f64;
                }
                let caught = 1.0 - missed;
                // It computes n − k segments either way; paid w unless caught, then loses c.
                let cost = w * (1.0 - r) * (n - k) as f64 / n as f64;
                let expected = (1.0 - caught) * w - caught * c - cost;
                assert!(
                    expected <= w * 1e-9,
                    "n = {n}, k = {k}: expected {expected} with collateral {c}"
                );
            }
        }
    }

    #[test]
    fn collateral_grows_with_the_share_left_unchecked() {
        let c = |n| {
            PARAMS
                .assurance(AGR / 1_000, n * 100 * MFUEL, n)
                .unwrap()
                .collateral
        };
        // Ŵ = n × 0.1 AGR. n = 8, u = 1: Ŵ·((25·8 + 75)·7 / 800 − 1) = 0.8 · 1.40625.
        assert_eq!(c(8), 1_125 * AGR / 1_000);
        assert!(c(64) > 10 * c(8));
    }

    #[test]
    fn overflow_is_none_not_a_wrapped_figure() {
        assert_eq!(PARAMS.assurance(Balance::MAX, Fuel::MAX, 7), None);
    }
}
