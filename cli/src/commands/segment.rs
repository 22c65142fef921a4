//! The segment length a job gets when `--segment` is not given: the one that makes the job and
//! its spot checks cheapest together (`docs/verification.md`, "Verification cost").
//!
//! A job of `T` steps in segments of `K` pays every engine call a fixed fuel `P` (decoding the
//! dataset and the state, encoding the state) besides `s` per step: its training is
//! `(T/K)·P + T·s`. Its default spot check re-executes the last segment, the worker's heaviest
//! and `⌈a·T/K⌉` others (`a` = `SAMPLE_PERMILLE` / 1000), about `(2 + a·T/K)·(P + K·s)` more.
//! Their sum, `(1 + a)·(T/K)·P + 2·K·s` and terms free of `K`, is least at
//!
//! ```text
//! K* = √((1 + a)·T·P / (2·s))
//! ```
//!
//! rounded, then bounded: at most `T`; at least `⌈T / MAX_SEGMENTS⌉` (the chain's segment
//! count bound); and short enough that a segment's fuel with the bid's 10 % margin stays within
//! `MAX_SEGMENT_FUEL` (the chain refuses a bid whose max fuel exceeds the segments times it).
//!
//! `P` and `s` are measured, not guessed: one run of `init` then two segments, of `m` steps
//! and of 1 step (`m = min(8, T − 1)`), gives `P + m·s` and `P + s`. Fuel is an exact count of
//! Wasm operations, so every machine measures the same figures and chooses the same `K`: the
//! segment length is a function of the job (module, dataset, params, seed, steps), and
//! `job run-local`, `job quote` and `job submit` agree on it.

use agora_engine::{run_with_fuel, Executor, JobInputs, JobModule, RunSpec};
use pallet_market::{format_mfuel, Fuel};

use crate::args::JobArgs;
use crate::cli::CliError;
use crate::commands::quote::MARGIN_PERCENT;

/// Steps of the first probe segment (the second has one).
const PROBE_STEPS: u64 = 8;
/// The segment length of a job that cannot be measured here (its first steps fail).
const FALLBACK_STEPS: u64 = 100;

/// A call's fixed fuel and a step's, as measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallCost {
    /// Fuel of a call besides its steps (`P`).
    pub per_call: Fuel,
    /// Fuel of one step (`s`).
    pub per_step: Fuel,
}

/// The segment length of `job`, a job of `steps` steps: `--segment` if given, else the
/// cheapest one measured ([`measure`], [`cheapest`]), said on stderr, or 100 steps (at most the
/// job) if the job's first steps fail here; shortened if a bid of `max_fuel` needs more
/// segments ([`within_max_fuel`]).
pub fn segment_steps(
    executor: &Executor,
    module: &JobModule,
    job: &JobArgs,
    (params, dataset): (&[u8], &[u8]),
    (steps, max_fuel): (u64, Option<Fuel>),
) -> u32 {
    if let Some(segment) = job.segment {
        return segment;
    }
    let segment = chosen(executor, module, job, JobInputs { params, dataset }, steps);
    match max_fuel {
        Some(max_fuel) => within_max_fuel(segment, steps, max_fuel),
        None => segment,
    }
}

/// The length [`segment_steps`] chooses before any `max_fuel` shortens it.
fn chosen(
    executor: &Executor,
    module: &JobModule,
    job: &JobArgs,
    inputs: JobInputs<'_>,
    steps: u64,
) -> u32 {
    let cost = match measure(executor, module, inputs, job.seed, steps) {
        Ok(Some(cost)) => cost,
        Ok(None) => {
            eprintln!("No --segment: the job's {steps} steps make one segment");
            return u32::try_from(steps.max(1)).unwrap_or(u32::MAX);
        }
        // A buyer may bid a job its own machine cannot run (the chain decides who pays for
        // it: `docs/verification.md`, unrunnable inputs); it gets a fixed length and a warning.
        Err(e) => {
            let segment = u32::try_from(steps.clamp(1, FALLBACK_STEPS)).unwrap_or(1);
            eprintln!(
                "No --segment, and the job did not run here to measure one ({e}): segments of \
                 {segment} steps"
            );
            return segment;
        }
    };
    let segment = cheapest(steps, cost);
    eprintln!(
        "No --segment: segments of {segment} steps, which make the job and its spot checks \
         cheapest together (a call costs {} besides its steps, a step {}; docs/verification.md)",
        format_mfuel(cost.per_call),
        format_mfuel(cost.per_step)
    );
    segment
}

/// Measures `P` and `s` of the job from `init` and two segments (of `m` and 1 steps); `None` for
/// a job of fewer than 3 steps, which is one segment whatever they are.
pub fn measure(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    seed: u64,
    steps: u64,
) -> Result<Option<CallCost>, CliError> {
    if steps < 3 {
        return Ok(None);
    }
    let long = PROBE_STEPS.min(steps.saturating_sub(1));
    let spec = RunSpec {
        seed,
        steps: long.saturating_add(1),
        segment_steps: u32::try_from(long).unwrap_or(u32::MAX),
        max_fuel: RunSpec::UNBOUNDED,
    };
    let run = run_with_fuel(executor, module, inputs, spec, |_, _, _| Ok(()))?;
    if let Some(refusal) = run.refused {
        return Err(refusal.error.into());
    }
    let (Some(first), Some(second)) = (run.leaves.first(), run.leaves.get(1)) else {
        return Err(CliError::InvalidJob(format!(
            "measuring the segment length: {} segments of {} steps ran {} leaves",
            spec.segments(),
            spec.steps,
            run.leaves.len()
        )));
    };
    // Leaves carry cumulative fuel: the first segment's is its leaf's, the second's the rest.
    let with_long = first.fuel;
    let with_one = second.fuel.saturating_sub(first.fuel);
    Ok(Some(call_cost(with_long, long, with_one)))
}

/// `P` and `s` from a call of `long` steps using `with_long` and one of a step using
/// `with_one`. Steps that do not cost the same (a partial batch, an epoch's first step) can
/// make the difference meaningless: when the long call's extra fuel per step is nothing, or
/// more than the whole short call, a step is taken as the long call's average and the fixed
/// cost as the whole short call (an overestimate, which errs towards longer segments and
/// fewer calls rather than a call per step).
fn call_cost(with_long: Fuel, long: u64, with_one: Fuel) -> CallCost {
    let extra = with_long
        .saturating_sub(with_one)
        .checked_div(long.saturating_sub(1));
    match extra {
        Some(per_step) if per_step > 0 && per_step < with_one => CallCost {
            per_call: with_one.saturating_sub(per_step),
            per_step,
        },
        _ => CallCost {
            per_call: with_one,
            per_step: with_long.checked_div(long).unwrap_or(with_long).max(1),
        },
    }
}

/// `K*` for a job of `steps` steps at `cost`, bounded as the module documentation says.
pub fn cheapest(steps: u64, cost: CallCost) -> u32 {
    let steps = steps.max(1);
    let permille = f64::from(agora_runtime::verification::SAMPLE_PERMILLE);
    let ideal = ((1.0 + permille / 1_000.0) * steps as f64 * cost.per_call as f64
        / (2.0 * cost.per_step.max(1) as f64))
        .sqrt()
        .round();
    // An `f64` in range converts exactly enough; NaN and negatives become 1.
    let ideal = if ideal.is_finite() && ideal >= 1.0 {
        ideal.min(steps as f64) as u64
    } else {
        1
    };
    // A segment's fuel with the bid's margin within the chain's per-segment bound.
    let budget =
        agora_runtime::verification::MAX_SEGMENT_FUEL.saturating_mul(100) / (100 + MARGIN_PERCENT);
    let by_fuel = budget
        .saturating_sub(cost.per_call)
        .checked_div(cost.per_step.max(1))
        .unwrap_or(1)
        .max(1);
    let by_count = steps.div_ceil(agora_runtime::verification::MAX_SEGMENTS);
    let segment = ideal.min(by_fuel).max(by_count).min(steps);
    u32::try_from(segment).unwrap_or(u32::MAX)
}

/// `segment` shortened, if need be, so that a bid of `max_fuel` over `steps` steps has enough
/// segments for the chain, `max_fuel ≤ segments × MAX_SEGMENT_FUEL`: kept if `⌈steps/segment⌉`
/// segments are enough, else the longest that makes `needed` of them, `⌊(steps − 1)/(needed −
/// 1)⌋`, at least 1.
pub fn within_max_fuel(segment: u32, steps: u64, max_fuel: Fuel) -> u32 {
    let needed = max_fuel
        .div_ceil(agora_runtime::verification::MAX_SEGMENT_FUEL)
        .max(1);
    let segments = steps.div_ceil(u64::from(segment.max(1)));
    if segments >= needed {
        return segment;
    }
    let longest = steps
        .saturating_sub(1)
        .checked_div(needed.saturating_sub(1))
        .unwrap_or(steps)
        .max(1);
    u32::try_from(longest.min(u64::from(segment))).unwrap_or(segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MFUEL: Fuel = pallet_market::FUEL_PER_MFUEL;

    /// The default digits job (`docs/verification.md`): 460 steps, a call 45 Mfuel besides its
    /// steps, a step 5.55 Mfuel — 43 steps by the formula without the uniform draws, 44 with
    /// them (`(1.015 × 460 × 45 / 11.1)^½` = 43.5).
    #[test]
    fn the_default_digits_job_gets_segments_of_about_44_steps() {
        let cost = CallCost {
            per_call: 45 * MFUEL,
            per_step: 5_550_000,
        };
        assert_eq!(cheapest(460, cost), 44);
        // More fixed cost per call, longer segments; dearer steps, shorter ones.
        let dear_calls = CallCost {
            per_call: 4 * cost.per_call,
            ..cost
        };
        assert_eq!(cheapest(460, dear_calls), 87);
        let dear_steps = CallCost {
            per_step: 4 * cost.per_step,
            ..cost
        };
        assert_eq!(cheapest(460, dear_steps), 22);
    }

    /// A step near the chain's per-segment fuel bound caps the segment (the character-level
    /// language model: ~2,100 Mfuel a step, so 3 steps within 7,500 Mfuel with the margin);
    /// a job longer than `MAX_SEGMENTS` segments of the ideal length gets longer ones; a
    /// segment is never longer than the job.
    #[test]
    fn the_chains_bounds_hold_whatever_the_formula_says() {
        let heavy = CallCost {
            per_call: 100 * MFUEL,
            per_step: 2_100 * MFUEL,
        };
        assert_eq!(cheapest(1_000, heavy), 3);
        let tiny_steps = CallCost {
            per_call: MFUEL,
            per_step: 1,
        };
        assert_eq!(cheapest(50, tiny_steps), 50);
        let cheap_calls = CallCost {
            per_call: 0,
            per_step: MFUEL,
        };
        assert_eq!(
            cheapest(1 << 20, cheap_calls),
            256,
            "2^20 steps in at most 4,096"
        );
        assert_eq!(cheapest(0, cheap_calls), 1);
        let over_fuel = CallCost {
            per_call: 8_000 * MFUEL,
            per_step: MFUEL,
        };
        assert_eq!(cheapest(100, over_fuel), 1, "no length fits: the shortest");
    }

    /// The measured figures: the difference of a long and a short call, unless it makes no
    /// sense.
    #[test]
    fn a_call_and_a_step_are_told_apart_and_nonsense_is_not_believed() {
        let measured = call_cost(50 + 8 * 5, 8, 50 + 5);
        assert_eq!((measured.per_call, measured.per_step), (50, 5));
        // The long call cheaper than the short one: the short call all fixed cost, a step
        // the long call's average.
        let odd = call_cost(40, 8, 55);
        assert_eq!((odd.per_call, odd.per_step), (55, 5));
        assert_eq!(cheapest(460, odd), 51, "(1.015 × 460 × 55 / 10)^½ = 50.7");
    }

    /// A bid's own `--max-fuel` may need more segments than the measured length gives.
    #[test]
    fn a_given_max_fuel_shortens_the_segments_it_needs_more_of() {
        let bound = agora_runtime::verification::MAX_SEGMENT_FUEL;
        assert_eq!(within_max_fuel(44, 460, 1_000 * MFUEL), 44);
        // 10 segments' worth of max fuel over 460 steps: at most 51 steps a segment
        // (⌈460/51⌉ = 10), 45 for 11 (⌈460/45⌉ = 11).
        assert_eq!(within_max_fuel(100, 460, 10 * bound), 51);
        assert_eq!(within_max_fuel(100, 460, 10 * bound + 1), 45);
        // A length that already makes enough segments is kept.
        assert_eq!(within_max_fuel(30, 100, 4 * bound), 30);
        assert_eq!(within_max_fuel(5, 3, 100 * bound), 1);
        for (segment, steps, max) in [(100, 460, 10 * bound + 1), (30, 100, 5 * bound)] {
            let kept = within_max_fuel(segment, steps, max);
            let segments = steps.div_ceil(u64::from(kept));
            assert!(
                segments * bound >= max,
                "{segment} {steps}: {kept} makes {segments}"
            );
        }
    }
}
