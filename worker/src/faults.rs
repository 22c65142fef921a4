//! Fault injection for tests (cargo feature `faults`; a build without it has none of this).
//!
//! `agora worker run … --fault KIND` makes this worker cheat in one way, so that end-to-end
//! tests can show that the cheat loses money. The kinds, as `docs/verification.md` documents
//! them:
//!
//! - `tamper-leaf=I` (or `tamper-leaf=last`): commits a wrong state at leaf `I`: the state
//!   before segment `I` instead of after it, as if the segment had been skipped (a real state
//!   the module can decode, whose bytes the worker can upload when asked: it is the forgery
//!   that data availability cannot stop);
//! - `withhold-state=I`: registers leaf `I`'s state when a check needs it but never uploads it;
//! - `overbill-fuel=P`: bills `P`% more fuel than the trace (every leaf's cumulative fuel);
//! - `overbill-last=P`: bills `P`% more fuel in the last leaf only (the others honest, so a
//!   fuel dispute narrows to the last segment, which starts from a state, not from `init`);
//! - `wrong-output`: commits another model than its final state exports;
//! - `skip-steps=N`: runs `N` fewer training steps than the job asks.
//!
//! The run's checkpoints on disk stay honest: a cheating worker defends its commitment in a
//! dispute with the states it really computed, and loses at the referee.

use agora_primitives::trace::TraceLeaf;
use agora_primitives::Hash;
use std::str::FromStr;

/// Which leaf a fault names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafIndex {
    /// Leaf `I`.
    At(u64),
    /// The last leaf (the final state).
    Last,
}

/// One way for the worker to cheat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Commit a wrong state hash at this leaf.
    TamperLeaf(LeafIndex),
    /// Never upload this leaf's state.
    WithholdState(u64),
    /// Bill this many percent more fuel than the trace.
    OverbillFuel(u64),
    /// Bill this many percent more fuel in the last leaf only.
    OverbillLast(u64),
    /// Commit another model.
    WrongOutput,
    /// Run this many fewer steps.
    SkipSteps(u64),
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (kind, value) = text.split_once('=').unwrap_or((text, ""));
        let number = |what: &str| {
            value
                .parse::<u64>()
                .map_err(|_| format!("--fault {text}: {what} '{value}' is not a whole number"))
        };
        match kind {
            "tamper-leaf" if value == "last" => Ok(Fault::TamperLeaf(LeafIndex::Last)),
            "tamper-leaf" => Ok(Fault::TamperLeaf(LeafIndex::At(number("the leaf")?))),
            "withhold-state" => Ok(Fault::WithholdState(number("the leaf")?)),
            "overbill-fuel" => Ok(Fault::OverbillFuel(number("the percentage")?)),
            "overbill-last" => Ok(Fault::OverbillLast(number("the percentage")?)),
            "wrong-output" if value.is_empty() => Ok(Fault::WrongOutput),
            "skip-steps" => Ok(Fault::SkipSteps(number("the step count")?)),
            _ => Err(format!(
                "--fault {text}: not a worker fault (tamper-leaf=I|last, withhold-state=I, \
                 overbill-fuel=P, overbill-last=P, wrong-output, skip-steps=N)"
            )),
        }
    }
}

/// The training steps the worker runs instead of `steps`.
pub(crate) fn steps(faults: &[Fault], steps: u64) -> u64 {
    faults.iter().fold(steps, |steps, fault| match fault {
        Fault::SkipSteps(n) => steps.saturating_sub(*n).max(1),
        _ => steps,
    })
}

/// Rewrites the trace and the model the worker will commit (`None`: the module refused to
/// export one, which no fault changes). `checkpoint(i)` is the run's
/// state before segment `i`; returns the forged states, by the checkpoint index whose place
/// each takes in the trace (leaf `i` is checkpoint `i + 1`).
pub(crate) fn apply(
    faults: &[Fault],
    leaves: &mut [TraceLeaf],
    model: &mut Option<Vec<u8>>,
    checkpoint: impl Fn(u64) -> Option<Vec<u8>>,
) -> Vec<(u64, Vec<u8>)> {
    let mut forged = Vec::new();
    for fault in faults {
        match *fault {
            Fault::TamperLeaf(at) => {
                let index = match at {
                    LeafIndex::At(i) => usize::try_from(i).unwrap_or(usize::MAX),
                    LeafIndex::Last => leaves.len().saturating_sub(1),
                };
                let Some(leaf) = leaves.get_mut(index) else {
                    continue;
                };
                // The state before the segment, committed as the state after it.
                if let Some(bytes) = checkpoint(leaf.index) {
                    leaf.state_hash = Hash::of(&bytes);
                    forged.push((leaf.index.saturating_add(1), bytes));
                }
            }
            Fault::OverbillFuel(percent) => leaves.iter_mut().for_each(|l| overbill(l, percent)),
            Fault::OverbillLast(percent) => leaves
                .last_mut()
                .into_iter()
                .for_each(|l| overbill(l, percent)),
            Fault::WrongOutput => {
                if let Some(model) = model {
                    model.extend_from_slice(b"not from the trace");
                }
            }
            Fault::WithholdState(_) | Fault::SkipSteps(_) => {}
        }
    }
    forged
}

/// Bills `percent` more fuel in `leaf`.
fn overbill(leaf: &mut TraceLeaf, percent: u64) {
    leaf.fuel = leaf
        .fuel
        .saturating_add(leaf.fuel.saturating_mul(percent) / 100);
}

/// Whether the state of leaf `index` is to be withheld.
pub(crate) fn withholds(faults: &[Fault], index: u64) -> bool {
    faults.contains(&Fault::WithholdState(index))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_kind_parses_and_nothing_else_does() {
        assert_eq!(
            "tamper-leaf=last".parse(),
            Ok(Fault::TamperLeaf(LeafIndex::Last))
        );
        assert_eq!(
            "tamper-leaf=2".parse(),
            Ok(Fault::TamperLeaf(LeafIndex::At(2)))
        );
        assert_eq!("withhold-state=1".parse(), Ok(Fault::WithholdState(1)));
        assert_eq!("overbill-fuel=50".parse(), Ok(Fault::OverbillFuel(50)));
        assert_eq!("overbill-last=50".parse(), Ok(Fault::OverbillLast(50)));
        assert_eq!("wrong-output".parse(), Ok(Fault::WrongOutput));
        assert_eq!("skip-steps=3".parse(), Ok(Fault::SkipSteps(3)));
        let error = "tamper-leaf=x".parse::<Fault>().unwrap_err();
        assert!(error.contains("'x' is not a whole number"), "{error}");
        assert!("lazy"
            .parse::<Fault>()
            .unwrap_err()
            .contains("not a worker fault"));
    }

    /// Leaf `index` of an honest trace: its own state, 10 fuel a segment.
    fn leaf(index: u64) -> TraceLeaf {
        TraceLeaf {
            index,
            state_hash: Hash::of(format!("after {index}").as_bytes()),
            fuel: 10 * (index + 1),
        }
    }

    #[test]
    fn a_tampered_leaf_commits_the_state_before_its_segment_and_keeps_its_bytes() {
        let mut leaves = vec![leaf(0), leaf(1)];
        let mut model = Some(b"model".to_vec());
        let checkpoint = |i: u64| Some(format!("before {i}").into_bytes());
        let last = [Fault::TamperLeaf(LeafIndex::Last)];
        let forged = apply(&last, &mut leaves, &mut model, checkpoint);
        assert_eq!(forged, vec![(2, b"before 1".to_vec())]);
        assert_eq!(leaves[1].state_hash, Hash::of(b"before 1"));
        assert_eq!(
            (leaves[0], leaves[1].fuel),
            (leaf(0), 20),
            "nothing else moves"
        );
        assert_eq!(model.as_deref(), Some(&b"model"[..]));
    }

    #[test]
    fn an_overbilled_last_leaf_leaves_the_others_honest() {
        let mut leaves = vec![leaf(0), leaf(1)];
        let forged = apply(&[Fault::OverbillLast(50)], &mut leaves, &mut None, |_| None);
        assert!(forged.is_empty());
        assert_eq!(
            leaves,
            vec![
                leaf(0),
                TraceLeaf {
                    fuel: 30,
                    ..leaf(1)
                }
            ]
        );
        let mut leaves = vec![leaf(0), leaf(1)];
        apply(&[Fault::OverbillFuel(50)], &mut leaves, &mut None, |_| None);
        assert_eq!((leaves[0].fuel, leaves[1].fuel), (15, 30));
    }
}
