//! The simulated jobs and what running them gives: the stand-in for the engine.
//!
//! A job is identified by its seed `σ` (every bid carries a fresh one). The state after `t`
//! training steps is the blob `[TAG, σ LE (8 bytes), t LE (8 bytes)]`, named by its blake3
//! hash like every blob (the chain asks for a proof of its size at registration); the
//! simulation keeps each blob's bytes it made ([`bytes_of`]), so that the referee can tell which
//! state a hash is, and a forged state (any other blob) is one the "module" cannot decode. Fuel
//! figures are the example MLP's (`docs/benchmarks.md`): [`SEGMENT_MFUEL`] per segment of
//! [`STEPS_PER_SEGMENT`] steps.

use agora_primitives::referee::{
    Referee, RefereeError, RefereeRequest, RefereeTask, RefereeVerdict,
};
use agora_primitives::trace::TraceLeaf;
use agora_primitives::Hash;
use pallet_market::FUEL_PER_MFUEL;
use pallet_verification::FinalResult;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// Training steps per segment of every simulated job.
pub const STEPS_PER_SEGMENT: u64 = 3;
/// Fuel of one segment: the example MLP's, ~103 Mfuel for 3 steps (80 segments, 8,276 Mfuel
/// with `init`, `export` and `eval`, in `docs/benchmarks.md`).
pub const SEGMENT_MFUEL: u64 = 103;
/// Fuel of one segment, in fuel units.
pub const SEGMENT_FUEL: u64 = SEGMENT_MFUEL * FUEL_PER_MFUEL;
/// `export` and `eval` of a final state together (the last segment's verifier runs both).
pub const EXPORT_EVAL_FUEL: u64 = 194 * FUEL_PER_MFUEL;
/// `init` (run by the verifier of segment 0).
pub const INIT_FUEL: u64 = 86 * FUEL_PER_MFUEL;

const TAG: u8 = 0x5A;

thread_local! {
    /// The bytes of every blob this thread's simulation made, by hash. Cleared per seed
    /// ([`forget_blobs`]); a seed's run holds a few hundred thousand small states.
    static BLOBS: RefCell<BTreeMap<Hash, Vec<u8>>> = const { RefCell::new(BTreeMap::new()) };
}

/// The blob `parts` concatenated: its hash, its bytes kept for [`bytes_of`].
pub fn blob(parts: &[&[u8]]) -> Hash {
    let bytes = parts.concat();
    let hash = Hash::of(&bytes);
    BLOBS.with(|blobs| blobs.borrow_mut().insert(hash, bytes));
    hash
}

/// The bytes of a blob the simulation made.
pub fn bytes_of(hash: &Hash) -> Option<Vec<u8>> {
    BLOBS.with(|blobs| blobs.borrow().get(hash).cloned())
}

/// Drops the blobs of the last seed.
pub fn forget_blobs() {
    BLOBS.with(|blobs| blobs.borrow_mut().clear());
}

/// The true state of job `seed` after `steps` steps.
pub fn state(seed: u64, steps: u64) -> Hash {
    blob(&[&[TAG], &seed.to_le_bytes(), &steps.to_le_bytes()])
}

/// Which state `hash` is, if it is a true state: `(seed, steps)`.
pub fn decode(hash: &Hash) -> Option<(u64, u64)> {
    let bytes = bytes_of(hash)?;
    let [TAG, rest @ ..] = bytes.as_slice() else {
        return None;
    };
    let (seed, steps) = rest.split_at_checked(8)?;
    Some((
        u64::from_le_bytes(seed.try_into().ok()?),
        u64::from_le_bytes(steps.try_into().ok()?),
    ))
}

/// A state no run reaches: what a forger commits instead of computing.
pub fn forged(seed: u64, segment: u64) -> Hash {
    blob(&[
        b"agora/sim/forged",
        &seed.to_le_bytes(),
        &segment.to_le_bytes(),
    ])
}

/// The honest leaf of segment `index` of job `seed`.
pub fn leaf(seed: u64, index: u64) -> TraceLeaf {
    TraceLeaf {
        index,
        state_hash: state(seed, (index + 1) * STEPS_PER_SEGMENT),
        fuel: (index + 1) * SEGMENT_FUEL,
    }
}

/// The model and metrics `export` and `eval` give for the state of job `seed` after `steps`.
pub fn result(seed: u64, steps: u64) -> FinalResult {
    FinalResult {
        output: model(seed, steps),
        metrics: Hash::of(METRICS),
    }
}

/// The model blob of job `seed` after `steps` steps.
pub fn model(seed: u64, steps: u64) -> Hash {
    blob(&[
        b"agora/sim/model",
        &seed.to_le_bytes(),
        &steps.to_le_bytes(),
    ])
}

/// The steps a true state of job `seed` encodes, if `hash` is one.
pub fn steps_of(seed: u64, hash: &Hash) -> Option<u64> {
    decode(hash).filter(|(s, _)| *s == seed).map(|(_, t)| t)
}

/// The metrics every simulated job reports.
pub const METRICS: &[u8] = br#"{"holdout_accuracy":0.97}"#;

/// What re-executing segment `index` from `start` (the leaf before it; `None`: `init`) gives:
/// [`STEPS_PER_SEGMENT`] steps more than `start`'s state if that is a state of job `seed` (any
/// state the module can decode, whether or not it is where an honest run would be), else the
/// segment's refusal (the module cannot decode a made-up state).
pub fn rerun(seed: u64, index: u64, start: Option<TraceLeaf>) -> TraceLeaf {
    let (steps, fuel_before) = match start {
        None => (Some(0), 0),
        Some(leaf) => (steps_of(seed, &leaf.state_hash), leaf.fuel),
    };
    match steps {
        Some(t) => TraceLeaf {
            index,
            state_hash: state(seed, t + STEPS_PER_SEGMENT),
            fuel: fuel_before.saturating_add(SEGMENT_FUEL),
        },
        None => TraceLeaf::refusal(index, fuel_before),
    }
}

/// The referee every simulated node runs: executes the simulated job's steps, segments,
/// `export` and `eval` from the states [`state`] encodes, and holds every blob.
pub struct SimReferee;

impl Referee for SimReferee {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        let seed = request.seed;
        let from = |pre: Option<Hash>| match pre {
            None => Some(0),
            Some(hash) => decode(&hash).filter(|(s, _)| *s == seed).map(|(_, t)| t),
        };
        Ok(match request.task {
            RefereeTask::Step { pre_state } => match from(pre_state) {
                Some(t) => RefereeVerdict::Stepped {
                    post_state: state(seed, t + 1),
                },
                None => RefereeVerdict::Refused,
            },
            RefereeTask::Segment { start, steps } => match from(start) {
                Some(t) => RefereeVerdict::Segmented {
                    post_state: state(seed, t + u64::from(steps)),
                    fuel: u64::from(steps) * SEGMENT_FUEL / STEPS_PER_SEGMENT,
                },
                None => RefereeVerdict::Refused,
            },
            RefereeTask::Output { state: final_state } => match steps_of(seed, &final_state) {
                Some(t) => RefereeVerdict::Exported {
                    output: result(seed, t).output,
                    metrics: result(seed, t).metrics,
                },
                None => RefereeVerdict::Refused,
            },
        })
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn true_states_decode_and_forged_ones_do_not() {
        assert_eq!(decode(&state(7, 30)), Some((7, 30)));
        assert_eq!(decode(&forged(7, 3)), None);
        assert_eq!(decode(&Hash::ZERO), None);
        // Re-running from a forged start is refused; from a true one, the true leaf.
        let forged_start = TraceLeaf {
            state_hash: forged(7, 0),
            ..leaf(7, 0)
        };
        assert_eq!(
            rerun(7, 1, Some(forged_start)),
            TraceLeaf::refusal(1, leaf(7, 0).fuel)
        );
        assert_eq!(rerun(7, 1, Some(leaf(7, 0))), leaf(7, 1));
        assert_eq!(rerun(7, 0, None), leaf(7, 0));
        // From a state that decodes but is a segment behind, the segment goes on from there.
        let behind = TraceLeaf {
            state_hash: state(7, 0),
            ..leaf(7, 0)
        };
        assert_eq!(
            rerun(7, 1, Some(behind)).state_hash,
            state(7, STEPS_PER_SEGMENT)
        );
    }
}
