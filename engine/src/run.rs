//! Running a whole job into a trace, and re-executing one segment of it.
//!
//! A run of `steps` steps in segments of `K` steps is `init` followed by `⌈steps / K⌉`
//! segments (the last one may be shorter). After segment `i` the executor hashes the full state
//! (`state_hash = blake3(state bytes)`, the same hash that names the state as a content-addressed
//! blob) and records the leaf `(i, state_hash, fuel used by the segment)`; the trace root over
//! the leaves is the worker's commitment (see [`crate::trace`]). `init`'s fuel is reported
//! separately: its output, the start state of segment 0, is recomputed by anyone who checks
//! segment 0, so it needs no leaf.
//!
//! To check segment `i`, a verifier needs its start state. For `i > 0` the worker reveals the
//! state bytes with leaf `i − 1` and its inclusion proof; the bytes must hash to that leaf's
//! `state_hash` ([`Error::StartStateMismatch`] otherwise). For `i = 0` the verifier runs `init`
//! itself. It then re-executes the segment in a fresh instance and compares its leaf with the
//! claimed leaf `i` (itself proven against the root): equal is [`Verdict::Valid`], different is
//! [`Verdict::Mismatch`] — evidence for a dispute, not an error.

use agora_primitives::Hash;

use crate::executor::{Executor, JobModule, Settings};
use crate::trace::{
    verify_inclusion, InclusionProof, TraceError, TraceLeaf, TraceTree, MAX_SEGMENTS,
};
use crate::Error;

/// The bytes a job runs on.
#[derive(Clone, Copy, Debug)]
pub struct JobInputs<'a> {
    /// Params JSON.
    pub params: &'a [u8],
    /// Dataset CSV.
    pub dataset: &'a [u8],
}

/// How a job is cut into segments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunSpec {
    /// The job seed.
    pub seed: u64,
    /// Total training steps.
    pub steps: u64,
    /// Steps per segment (`K`).
    pub segment_steps: u32,
    /// Most cumulative training fuel the trace may reach: the bid's `max_fuel`, or
    /// [`RunSpec::UNBOUNDED`] for a run nobody pays for (`run-local`, tests). A segment gets
    /// at most what is left of it ([`RunSpec::segment_fuel`]), so a job that needs more runs
    /// out of fuel in the segment where the budget ends, on every machine alike, and its
    /// trace ends there in a refusal leaf (the worker is paid for the segments before).
    pub max_fuel: u64,
}

impl RunSpec {
    /// No fuel budget beyond the per-call limit.
    pub const UNBOUNDED: u64 = u64::MAX;

    /// The spec of a job as the ledger records it, where a segment length is a `u64`, with
    /// its bid's `max_fuel`.
    pub fn from_ledger(
        seed: u64,
        steps: u64,
        segment_steps: u64,
        max_fuel: u64,
    ) -> Result<RunSpec, Error> {
        let segment_steps =
            u32::try_from(segment_steps).map_err(|_| Error::SegmentTooLong { segment_steps })?;
        Ok(RunSpec {
            seed,
            steps,
            segment_steps,
            max_fuel,
        })
    }

    /// The most fuel a segment that starts at cumulative fuel `fuel_before` may use: what is
    /// left of `max_fuel`, or no bound of its own when [`RunSpec::UNBOUNDED`] (the executor's
    /// per-call limit bounds it either way).
    pub fn segment_fuel(&self, fuel_before: u64) -> u64 {
        match self.max_fuel {
            RunSpec::UNBOUNDED => u64::MAX,
            budget => budget.saturating_sub(fuel_before),
        }
    }

    /// Check the spec: at least one step, non-empty segments, at most
    /// [`MAX_SEGMENTS`] segments.
    pub fn check(&self) -> Result<(), Error> {
        if self.steps == 0 || self.segment_steps == 0 {
            return Err(Error::EmptyRun {
                steps: self.steps,
                segment_steps: self.segment_steps,
            });
        }
        let count = self.segments();
        if count > MAX_SEGMENTS {
            return Err(Error::Trace(TraceError::TooManySegments {
                count,
                max: MAX_SEGMENTS,
            }));
        }
        Ok(())
    }

    /// Number of segments, `⌈steps / K⌉`.
    pub fn segments(&self) -> u64 {
        self.steps.div_ceil(u64::from(self.segment_steps.max(1)))
    }

    /// Steps in segment `index` (the last may be shorter).
    pub fn steps_in(&self, index: u64) -> u32 {
        let k = u64::from(self.segment_steps);
        let done = index.saturating_mul(k);
        // At most `k`, which came from a u32.
        u32::try_from(self.steps.saturating_sub(done).min(k)).unwrap_or(u32::MAX)
    }
}

/// The result of a full run.
#[derive(Clone, Debug)]
pub struct Run {
    /// Fuel `init` used.
    pub init_fuel: u64,
    /// Hash of the state `init` produced (segment 0's start state).
    pub initial_state_hash: Hash,
    /// One leaf per segment; each leaf's fuel is cumulative (segments `0..=index`).
    pub leaves: Vec<TraceLeaf>,
    /// The Merkle tree over the leaves.
    pub tree: TraceTree,
    /// The state after the last segment that ran: the final state, or, when `refused`, the
    /// refused segment's start (never exported or evaluated).
    pub final_state: Vec<u8>,
    /// The segment the module refused, if it refused one after segment 0: then `leaves` end
    /// with its [`TraceLeaf::refusal`] and the trace is shorter than `spec.segments()`.
    pub refused: Option<Refusal>,
}

/// A segment the module refused to run (a trap, a start state it cannot decode, more fuel than
/// the call's limit): what every machine running the same bytes meets, so the job cannot go
/// on. Its leaf is [`TraceLeaf::refusal`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The refused segment.
    pub segment: u64,
    /// The engine's error, a refusal ([`Error::is_refusal`]).
    pub error: Error,
}

/// The model and metrics a run's final state commits to: what `export` and `eval` return, a
/// call the module refuses (a trap, an output over the chain's bound, more fuel than a call may
/// use: [`Error::is_refusal`]) yielding no model and empty metrics. A refusal is the module's,
/// on every machine alike, so the worker commits it as such and is paid for the run: a buyer's
/// module that refuses its own results cannot leave an honest worker unable to commit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobResult {
    /// `export`'s bytes (a burnpack), `None` if the module refused it.
    pub model: Option<Vec<u8>>,
    /// `eval`'s bytes, empty if the module refused it.
    pub metrics: Vec<u8>,
}

impl JobResult {
    /// The result of the `export` and `eval` calls' outcomes; `Err` only for an error that is
    /// not the module's (this engine's own failure).
    pub fn of(
        export: Result<crate::Output, Error>,
        eval: Result<crate::Output, Error>,
    ) -> Result<Self, Error> {
        let refused_as_none = |outcome: Result<crate::Output, Error>| match outcome {
            Ok(output) => Ok(Some(output.bytes)),
            Err(error) if error.is_refusal() => Ok(None),
            Err(error) => Err(error),
        };
        Ok(JobResult {
            model: refused_as_none(export)?,
            metrics: refused_as_none(eval)?.unwrap_or_default(),
        })
    }

    /// The model's hash as a commitment names it: [`Hash::ZERO`] for no model (no blob hashes
    /// to zero).
    pub fn output(&self) -> Hash {
        self.model.as_deref().map_or(Hash::ZERO, Hash::of)
    }
}

/// Leaves of consecutive segments and how they ended: the state after the last, or a refusal
/// (then the leaves end with its [`TraceLeaf::refusal`] and the state is the refused segment's
/// start).
#[derive(Clone, Debug)]
pub struct Segments {
    /// One leaf per segment run, the last one a refusal marker if `refused`.
    pub leaves: Vec<TraceLeaf>,
    /// The state after the last segment that ran (or the start of the run if none did).
    pub end_state: Vec<u8>,
    /// The segment the module refused, if any; no segment after it was run.
    pub refused: Option<Refusal>,
}

impl Segments {
    /// The leaves and the end state of a run every segment of which ran; the refusal's error
    /// otherwise.
    pub fn finished(self) -> Result<(Vec<TraceLeaf>, Vec<u8>), Error> {
        match self.refused {
            Some(refusal) => Err(refusal.error),
            None => Ok((self.leaves, self.end_state)),
        }
    }
}

impl Run {
    /// Fuel of all segments: the last leaf's cumulative fuel, which is what a worker bills.
    pub fn training_fuel(&self) -> u64 {
        self.leaves.last().map_or(0, |leaf| leaf.fuel)
    }
}

/// Run `module` on `inputs` as `spec` says. `on_state(i, bytes)` sees every state as it is
/// produced — `i = 0` the initial state, `i = k` the state after segment `k − 1` — so a worker
/// can store checkpoints (start states it may have to reveal).
///
/// A refusal in `init` or segment 0 is an error (nothing ran that a trace could bill; the
/// worker proves it with `declare_unrunnable`). A refusal of a later segment `s` ends the run
/// with a trace of `s + 1` leaves, the last one [`TraceLeaf::refusal`]: the worker commits it,
/// and is paid for segments `0..s`.
pub fn run(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    mut on_state: impl FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<Run, Error> {
    run_with_fuel(executor, module, inputs, spec, |index, state, _| {
        on_state(index, state)
    })
}

/// [`run`], with `on_state(i, bytes, fuel)` also seeing the cumulative training fuel up to
/// state `i` (0 for the initial state): what the trace would bill so far. A caller that caps
/// the fuel (`agora job run-local --max-fuel`) stops the run by returning an error, as
/// [`Error::Stopped`].
pub fn run_with_fuel(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    mut on_state: impl FnMut(u64, &[u8], u64) -> Result<(), Error>,
) -> Result<Run, Error> {
    spec.check()?;
    let init = executor.init(module, inputs.params, inputs.dataset, spec.seed)?;
    let initial_state_hash = Hash::of(&init.bytes);
    on_state(0, &init.bytes, 0)?;
    let ran = segments(
        executor,
        module,
        inputs,
        spec,
        0..spec.segments(),
        (init.bytes, 0),
        on_state,
    )?;
    if let Some(Refusal { segment: 0, error }) = ran.refused {
        return Err(error);
    }
    let tree = TraceTree::new(ran.leaves.clone())?;
    Ok(Run {
        init_fuel: init.fuel,
        initial_state_hash,
        leaves: ran.leaves,
        tree,
        final_state: ran.end_state,
        refused: ran.refused,
    })
}

/// `before + segment`: the cumulative fuel after segment `index`. A total past `u64::MAX` cannot
/// come from a real run (every segment is bounded by its fuel limit), so it is refused.
fn cumulative(before: u64, segment: u64, index: u64) -> Result<u64, Error> {
    before
        .checked_add(segment)
        .ok_or(Error::FuelOverflow { index })
}

/// Re-execute segment `index` alone from `start_state`, the state after segment `index − 1`
/// whose cumulative fuel was `start_fuel` (0 and the initial state for segment 0), returning
/// the leaf it produces.
pub fn reexecute(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    index: u64,
    start_state: &[u8],
    start_fuel: u64,
) -> Result<TraceLeaf, Error> {
    let (mut leaves, _) = reexecute_run(
        executor,
        module,
        inputs,
        spec,
        index,
        1,
        start_state,
        start_fuel,
    )?;
    leaves.pop().ok_or(Error::Trace(TraceError::EmptyTrace))
}

/// Re-execute `count` consecutive segments from segment `first`, starting from `start_state`
/// (the state after segment `first − 1`, whose cumulative fuel was `start_fuel`), returning
/// their leaves in order and the state after the last of them. A verifier checking a run of
/// sampled segments computes the start of every segment after the first itself, so no start
/// inside the run is ever revealed; a run that ends the trace gives the final state, from which
/// the verifier checks the model (`export`) and metrics (`eval`) too.
#[allow(clippy::too_many_arguments)]
pub fn reexecute_run(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    first: u64,
    count: u64,
    start_state: &[u8],
    start_fuel: u64,
) -> Result<(Vec<TraceLeaf>, Vec<u8>), Error> {
    reexecute_run_keeping(
        executor,
        module,
        inputs,
        spec,
        (first, count),
        (start_state, start_fuel),
        |_, _| Ok(()),
    )?
    .finished()
}

/// [`reexecute_run`] of the `count` segments from `first`, with `on_state(k, bytes)` seeing the
/// state after segment `k − 1` for every segment of the run after the first (and the state
/// after the run): a challenger keeps them, so that a later bisection inside any segment
/// re-runs that segment alone instead of the job from its start. A segment the module refuses
/// ends the run with its [`TraceLeaf::refusal`] instead of an error, so that a verifier can
/// attest what a trace that ends in a refusal committed.
pub fn reexecute_run_keeping(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    (first, count): (u64, u64),
    (start_state, start_fuel): (&[u8], u64),
    mut on_state: impl FnMut(u64, &[u8]) -> Result<(), Error>,
) -> Result<Segments, Error> {
    spec.check()?;
    let end = first.saturating_add(count);
    if count == 0 || end > spec.segments() {
        return Err(Error::Trace(TraceError::LeafOutOfRange {
            index: end.saturating_sub(1).max(first),
            count: spec.segments(),
        }));
    }
    segments(
        executor,
        module,
        inputs,
        spec,
        first..end,
        (start_state.to_vec(), start_fuel),
        |index, state, _| on_state(index, state),
    )
}

/// The state after `steps` steps of segment `segment`, computed from `start`: the state before
/// segment `from` (`None`: the job's initial state, computed with `init`; then `from` must be
/// 0). The sides of a dispute use it to post or check the state at a bisection midpoint,
/// which no trace records: whole segments `from..segment`, then `steps` steps of `segment`.
#[allow(clippy::too_many_arguments)]
pub fn state_within(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    from: u64,
    start: Option<Vec<u8>>,
    segment: u64,
    steps: u32,
) -> Result<Vec<u8>, Error> {
    spec.check()?;
    if from > segment || segment >= spec.segments() || steps > spec.steps_in(segment) {
        return Err(Error::Trace(TraceError::LeafOutOfRange {
            index: segment,
            count: spec.segments(),
        }));
    }
    let start = match start {
        Some(bytes) => bytes,
        None => {
            executor
                .init(module, inputs.params, inputs.dataset, spec.seed)?
                .bytes
        }
    };
    let (_, state) = segments(
        executor,
        module,
        inputs,
        spec,
        from..segment,
        (start, 0),
        |_, _, _| Ok(()),
    )?
    .finished()?;
    if steps == 0 {
        return Ok(state);
    }
    Ok(executor
        .segment(module, inputs.params, inputs.dataset, &state, steps)?
        .bytes)
}

/// A job's bytes, params and plan, owned: what a daemon moves onto a blocking thread to re-run
/// part of the job there with an executor of its own.
#[derive(Clone, Debug)]
pub struct OwnedJob {
    /// Engine settings (limits, module cache).
    pub settings: Settings,
    /// The module.
    pub wasm: Vec<u8>,
    /// The params JSON.
    pub params: Vec<u8>,
    /// The dataset.
    pub dataset: Vec<u8>,
    /// How the job is cut into segments.
    pub spec: RunSpec,
}

impl OwnedJob {
    /// [`state_within`] with a fresh executor over these bytes: the state after `steps` steps
    /// of `segment`, from `start` (the state before segment `from`; `None`: from `init`).
    pub fn state_within(
        &self,
        from: u64,
        start: Option<Vec<u8>>,
        segment: u64,
        steps: u32,
    ) -> Result<Vec<u8>, Error> {
        let executor = Executor::new(self.settings.clone())?;
        let module = executor.load(&self.wasm)?;
        let inputs = JobInputs {
            params: &self.params,
            dataset: &self.dataset,
        };
        state_within(
            &executor, &module, inputs, self.spec, from, start, segment, steps,
        )
    }
}

/// Runs the segments `range` from `start` (the state before the first of them and the
/// cumulative fuel so far), returning their leaves and the state after the last, or stopping
/// at the first segment the module refuses. `on_state(k, bytes, fuel)` sees the state after
/// segment `k − 1` and the cumulative fuel after it. `spec.check()` has bounded the range.
fn segments(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    range: std::ops::Range<u64>,
    start: (Vec<u8>, u64),
    mut on_state: impl FnMut(u64, &[u8], u64) -> Result<(), Error>,
) -> Result<Segments, Error> {
    let (mut state, mut fuel) = start;
    let count = range.end.saturating_sub(range.start);
    let mut leaves = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    for index in range {
        let out = match executor.segment_within(
            module,
            inputs.params,
            inputs.dataset,
            &state,
            spec.steps_in(index),
            spec.segment_fuel(fuel),
        ) {
            Ok(out) => out,
            Err(error) if error.is_refusal() => {
                leaves.push(TraceLeaf::refusal(index, fuel));
                let refused = Some(Refusal {
                    segment: index,
                    error,
                });
                return Ok(Segments {
                    leaves,
                    end_state: state,
                    refused,
                });
            }
            Err(error) => return Err(error),
        };
        fuel = cumulative(fuel, out.fuel, index)?;
        leaves.push(TraceLeaf {
            index,
            state_hash: Hash::of(&out.bytes),
            fuel,
        });
        on_state(index.saturating_add(1), &out.bytes, fuel)?;
        state = out.bytes;
    }
    Ok(Segments {
        leaves,
        end_state: state,
        refused: None,
    })
}

/// What a worker commits to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Commitment {
    /// Trace root.
    pub root: Hash,
    /// Segment count.
    pub segments: u64,
}

/// How a revealed start state is authenticated.
#[derive(Clone, Debug)]
pub enum StartProof {
    /// Segment 0: the verifier recomputes the initial state with `init`.
    Initial,
    /// Segment `i > 0`: leaf `i − 1` and its inclusion proof.
    Previous {
        /// Leaf `i − 1`.
        leaf: TraceLeaf,
        /// Its proof against the commitment.
        proof: InclusionProof,
    },
}

/// Outcome of checking one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Re-execution reproduced the claimed leaf.
    Valid,
    /// Re-execution produced a different leaf.
    Mismatch {
        /// The leaf the worker committed.
        claimed: TraceLeaf,
        /// The leaf re-execution produced.
        computed: TraceLeaf,
    },
}

/// A sampled segment as a worker reveals it.
#[derive(Clone, Debug)]
pub struct Reveal<'a> {
    /// Segment index.
    pub index: u64,
    /// The start state bytes.
    pub start_state: &'a [u8],
    /// Authentication of the start state.
    pub start: StartProof,
    /// The claimed leaf of the segment.
    pub leaf: TraceLeaf,
    /// Its proof.
    pub proof: InclusionProof,
}

/// Check a revealed segment against `commitment` by re-executing it.
pub fn check_segment(
    executor: &Executor,
    module: &JobModule,
    inputs: JobInputs<'_>,
    spec: RunSpec,
    commitment: Commitment,
    reveal: &Reveal<'_>,
) -> Result<Verdict, Error> {
    spec.check()?;
    let index = reveal.index;
    if commitment.segments != spec.segments() || index >= commitment.segments {
        return Err(Error::Trace(TraceError::LeafOutOfRange {
            index,
            count: commitment.segments.min(spec.segments()),
        }));
    }
    if reveal.leaf.index != index {
        return Err(Error::Trace(TraceError::ProofForOtherLeaf {
            proof_index: reveal.leaf.index,
            leaf_index: index,
        }));
    }
    verify_inclusion(
        commitment.root,
        commitment.segments,
        &reveal.leaf,
        &reveal.proof,
    )?;
    let (expected, start_fuel) = match &reveal.start {
        StartProof::Initial if index == 0 => (
            Hash::of(
                &executor
                    .init(module, inputs.params, inputs.dataset, spec.seed)?
                    .bytes,
            ),
            0,
        ),
        StartProof::Initial => {
            return Err(Error::WrongStartLeaf {
                index,
                expected: index.wrapping_sub(1),
                found: index,
            })
        }
        StartProof::Previous { leaf, proof } => {
            if index == 0 || leaf.index != index.wrapping_sub(1) {
                return Err(Error::WrongStartLeaf {
                    index,
                    expected: index.wrapping_sub(1),
                    found: leaf.index,
                });
            }
            verify_inclusion(commitment.root, commitment.segments, leaf, proof)?;
            (leaf.state_hash, leaf.fuel)
        }
    };
    let found = Hash::of(reveal.start_state);
    if found != expected {
        return Err(Error::StartStateMismatch {
            index,
            expected,
            found,
        });
    }
    let computed = reexecute(
        executor,
        module,
        inputs,
        spec,
        index,
        reveal.start_state,
        start_fuel,
    )?;
    if computed == reveal.leaf {
        Ok(Verdict::Valid)
    } else {
        Ok(Verdict::Mismatch {
            claimed: reveal.leaf,
            computed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(bytes: &[u8]) -> Result<crate::Output, Error> {
        Ok(crate::Output {
            bytes: bytes.to_vec(),
            fuel: 1,
            memory_bytes: 65_536,
        })
    }

    /// The worker commits what a verifier and the referee compute: a module's refusal of either
    /// call is a result (no model, empty metrics); the engine's own failure is not.
    #[test]
    fn a_refused_export_or_eval_is_a_result_and_an_engine_failure_is_not() {
        let out_of_fuel = || {
            Err(Error::OutOfFuel {
                call: "agora_export",
                limit: 10,
            })
        };
        let result = JobResult::of(out_of_fuel(), output(b"{}")).expect("a result");
        assert_eq!((result.model, result.metrics), (None, b"{}".to_vec()));
        let result = JobResult::of(output(b"model"), out_of_fuel()).expect("a result");
        assert_eq!(result.output(), Hash::of(b"model"));
        assert!(result.metrics.is_empty());
        let failed = Err(Error::Engine {
            reason: "no memory".into(),
        });
        assert!(JobResult::of(output(b"model"), failed).is_err());
    }

    /// No model commits as zero, which no blob hashes to; an empty model is a model.
    #[test]
    fn no_model_is_the_zero_hash_and_an_empty_one_is_not() {
        let none = JobResult {
            model: None,
            metrics: Vec::new(),
        };
        let empty = JobResult {
            model: Some(Vec::new()),
            ..none.clone()
        };
        assert_eq!(none.output(), Hash::ZERO);
        assert_eq!(empty.output(), Hash::of(b""));
        assert_ne!(empty.output(), Hash::ZERO);
    }
}
