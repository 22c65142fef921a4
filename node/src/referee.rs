//! The node's referee: executes a disputed step for the runtime, with `agora-engine`, from the
//! bytes in this node's blob store (the contract is `agora_primitives::referee`).
//!
//! - Inputs come from the blob store by hash; the store checks every blob against its hash
//!   when reading, so a verdict is always about the bytes the ledger names. A blob the node
//!   does not hold (or holds corrupt) is [`RefereeError::Unavailable`]: the runtime then
//!   decides nothing on this node.
//! - Every engine call gets the request's `fuel_limit`; running out is
//!   [`RefereeVerdict::OutOfFuel`]. The executor is the worker's and the verifiers': its
//!   limits are the chain's bounds on a call (`agora_runtime::verification::CALL_BOUNDS`),
//!   so what a call may produce is bounded as for them, and no call gets more fuel than a
//!   segment may use (every request the runtime makes is within it). The module is loaded —
//!   validated, compiled and its `agora_abi_version` called — under those limits too, so the
//!   referee accepts exactly the modules a worker's engine loads. (Before 2026-12-07 the
//!   version call ran under the request's fuel: a module whose version export spent more than
//!   `REFEREE_FUEL` loaded for the worker but was out of fuel for the referee of a step. Only
//!   for such a module does a node from before then decide otherwise: validators upgrade
//!   together.)
//! - `init`, when a whole segment is re-run from it, gets the chain's bound on a call
//!   whatever the request's fuel (`init_fuel`): every worker's engine gives it that, and does
//!   not bill it, so the re-run is the worker's run. (Before 2026-12-07 it got the segment's
//!   fuel, and an `init` heavier than the bid's `max_fuel` was out of fuel where the worker had
//!   run it.) A single step's `init` gets the request's fuel: one too heavy for it goes on as
//!   its segment's re-run (`pallet_verification`, `StepTooHeavy`).
//! - `export` and `eval` are judged as the worker commits them (`agora_engine::JobResult`):
//!   either refused by the module is its result (no model, empty metrics), not a refusal of the
//!   piece. The runtime gives them the chain's bound on a call, the worker's own, so one out of
//!   fuel there is the module's refusal too; out of a smaller limit is
//!   [`RefereeVerdict::OutOfFuel`] (`output_verdict`).
//! - **Machine-dependent first.** Before the verdict, the piece is run once more, as the
//!   NaN-probed module (`agora_engine::nan_probe`), with `PROBED_FUEL_FACTOR` times the fuel
//!   and half the native stack. If a call of it produced a NaN, or overflowed that halved
//!   stack, the verdict is [`RefereeVerdict::MachineDependent`]: two honest machines could
//!   disagree on the piece (NaN bits differ between architectures; frame sizes do too, so a
//!   stack used beyond half its limit here may overflow elsewhere). Every machine computes the
//!   same answer to both questions: the first NaN and everything before it are exactly
//!   specified, and the probed module's frames are at least the original's. Otherwise the
//!   probed run covered the original's whole run (its fuel is enough: see the factor) without
//!   a NaN and within half the stack, so the original's outcome is every machine's.
//! - Whatever the module does wrong (invalid or refused module, trap, job error, memory or
//!   stack limit, a state it cannot decode) is [`RefereeVerdict::Refused`]: deterministic
//!   outcomes of the same bytes on every node. A failure of this node itself (wasmtime
//!   cannot compile a module that validated or cannot be configured, the host cannot back
//!   memory the limits allow, the module cache cannot be written: every error
//!   `agora_engine::Error::is_refusal` leaves out) is not a verdict: it is reported as
//!   [`RefereeError::Failed`], and the node decides nothing.
//! - Two executors are kept for the node's life, plain and probing, whatever the requests'
//!   fuel limits: a limit is a per-call argument, not a setting, so compiled modules stay in
//!   their memory caches and, with a cache directory, on disk, once each. (Before, an
//!   executor was made per fuel limit, with its own engine and cache key; a fuel dispute's
//!   limit is the segment's own — `MAX_SEGMENT_FUEL`, or what the bid's `max_fuel` leaves
//!   after the segment's start — so nearly every such dispute compiled the module twice more,
//!   plain and probed: 2.9 s of a 13 ms re-run in `scripts/bench.sh dispute`, a fresh cache
//!   entry on disk per distinct limit, and, for a request not decided ahead, seconds inside
//!   block production.)
//! - One run at a time: a block that needs the referee may be built again while a first build
//!   is still compiling the module (consensus moved on to a new view); the second waits and
//!   then finds the module compiled, instead of compiling it again beside the first — and,
//!   when the first ran the same request, its verdict: the warmer's run and a builder's run of
//!   the same request that started meanwhile are one run, not two back to back (before, the
//!   block waited for both: the verdict was looked for only before waiting).
//! - Compiled ahead: compiling a module takes seconds (`docs/benchmarks.md`), several blocks'
//!   worth, and is not in the referee call's weight. So [`run_warmer`] compiles the module of
//!   every job assigned in a finalized block, in the background, long before any dispute over
//!   it can reach the referee (a dispute needs a commitment and at least one move first).
//! - Decided ahead: once a finalized block leaves a dispute at the referee's turn, the warmer
//!   runs the request the `referee` call will make (`pallet_verification`'s
//!   `referee_request`) in the background and keeps the verdict (at most [`MAX_VERDICTS`],
//!   keyed by the request's hash) — and, when that verdict is machine-dependent, the verdict
//!   of the job's first segment from `init` too, which the call then also asks for
//!   (`establishing_request`). A block that then carries the call finds it decided instead
//!   of executing inside block production — which matters for a fuel dispute's whole-segment
//!   re-run, up to `MAX_SEGMENT_FUEL`. A request whose blobs this node does not all hold yet
//!   (a pre-state the worker registers after the move) is looked at again on every finalized
//!   block while the dispute stays at the referee's turn, its blobs fetched from peers
//!   meanwhile (`warmer.rs`). A kept verdict is exactly what a run would return: the
//!   verdict is a function of the request and the bytes its hashes name (the contract), and
//!   only decided runs are kept (never `Unavailable` or `Failed`).
//!   An unrunnable declaration (`pallet_jobs`, since spec version 19) is decided ahead the
//!   same way from the finalized block that carries it: its proof re-runs `init` and segment 0.

use crate::blobs::BlobStore;
use agora_engine::executor::{Probed, ProbedCall};
use agora_engine::nan_probe::{instrument, PROBED_FUEL_FACTOR};
use agora_engine::{Error as EngineError, Executor, JobModule, JobResult, Output, Settings};
use agora_primitives::referee::{
    Referee, RefereeError, RefereeRequest, RefereeTask, RefereeVerdict,
};
use agora_primitives::Hash;
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

mod warmer;
pub use warmer::run_warmer;

/// The referee of a validating node.
pub struct EngineReferee {
    blobs: Arc<BlobStore>,
    cache_dir: Option<PathBuf>,
    /// The plain and the probing executor, made on first use (see the module doc).
    executors: Mutex<BTreeMap<Probing, Arc<Executor>>>,
    /// Verdicts decided ahead, by the hash of their request's encoding.
    verdicts: Mutex<Verdicts>,
    /// Held for a whole run, from the look for a kept verdict to keeping the new one (see
    /// the module doc, *One run at a time*).
    running: Mutex<()>,
}

/// Most verdicts kept, ~100 bytes each (~6.5 MiB in all). A verdict must outlive every other
/// one decided between its own and the call that needs it: with 64, as until 2026-12-07, 65
/// unrunnable declarations (a re-run each, decided as its block is finalized) evicted the
/// first before its proof opened — the proofs queue on chain, up to hours ahead — and the
/// proof re-ran inline (found in review of spec version 19). Each verdict costs whoever made
/// it a declaration's fee or a dispute's bond, so evicting one now costs ~65,000 of them.
pub const MAX_VERDICTS: usize = 1 << 16;

/// The kept verdicts: a map for the look-up, their keys oldest first for the eviction.
#[derive(Default)]
struct Verdicts {
    by_key: BTreeMap<Hash, RefereeVerdict>,
    oldest_first: VecDeque<Hash>,
}

impl Verdicts {
    /// Keeps `verdict` under `key` (once), the oldest going beyond [`MAX_VERDICTS`].
    fn keep(&mut self, key: Hash, verdict: RefereeVerdict) {
        if self.by_key.insert(key, verdict).is_some() {
            return;
        }
        self.oldest_first.push_back(key);
        if self.oldest_first.len() > MAX_VERDICTS {
            if let Some(oldest) = self.oldest_first.pop_front() {
                self.by_key.remove(&oldest);
            }
        }
    }
}

/// What the native stack of a probing run is divided by (see the module doc): architectures'
/// frame sizes for the same function differ by less than this factor.
pub const PROBED_STACK_DIVISOR: usize = 2;

/// Whether an executor runs the original module or its NaN-probed form (with the probing
/// limits of the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Probing {
    Plain,
    Probed,
}

/// How a probed call ended when it returned nothing ([`EngineReferee::machine_dependent`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Halt {
    /// It produced a NaN or used over half the stack.
    MachineDependent,
    /// The module refused it, as it refuses the plain call: nothing depends on the machine.
    Refused,
    /// This machine failed it (not the module): the probe decided nothing.
    Failed,
}

/// What went wrong inside one run: a verdict, or why there is none.
enum Stop {
    Verdict(RefereeVerdict),
    Undecided(RefereeError),
}

impl From<EngineError> for Stop {
    fn from(error: EngineError) -> Self {
        // Only what every machine running the same bytes meets is a verdict
        // (`EngineError::is_refusal`); anything about this machine (compilation, the engine,
        // its memory, the module cache) decides nothing. Before, every error but `Compile`
        // and `Engine` read as the module refusing the run, so a module cache this node could
        // not write decided a dispute, on this validator only.
        match error {
            EngineError::OutOfFuel { .. } => Stop::Verdict(RefereeVerdict::OutOfFuel),
            refusal if refusal.is_refusal() => {
                tracing::info!(error = %refusal, "the referee's run was refused by the module");
                Stop::Verdict(RefereeVerdict::Refused)
            }
            failure => {
                tracing::error!(error = %failure, "the referee's engine failed; deciding nothing");
                Stop::Undecided(RefereeError::Failed)
            }
        }
    }
}

impl EngineReferee {
    /// A referee reading inputs from `blobs`, caching compiled modules in `cache_dir`.
    pub fn new(blobs: Arc<BlobStore>, cache_dir: Option<PathBuf>) -> Self {
        EngineReferee {
            blobs,
            cache_dir,
            executors: Mutex::new(BTreeMap::new()),
            verdicts: Mutex::new(Verdicts::default()),
            running: Mutex::new(()),
        }
    }

    /// The `probing` executor, made on first use. Its limits do not depend on any request:
    /// each call is given its request's fuel.
    fn executor(
        executors: &mut BTreeMap<Probing, Arc<Executor>>,
        cache_dir: Option<PathBuf>,
        probing: Probing,
    ) -> Result<Arc<Executor>, Stop> {
        if let Some(executor) = executors.get(&probing) {
            return Ok(executor.clone());
        }
        // The worker's and the verifiers' settings.
        let mut settings =
            Settings::within_bounds(cache_dir, &agora_runtime::verification::CALL_BOUNDS);
        if probing == Probing::Probed {
            settings.nan_probed = true;
            settings.limits.max_fuel_per_call = settings
                .limits
                .max_fuel_per_call
                .saturating_mul(PROBED_FUEL_FACTOR);
            settings.limits.max_wasm_stack /= PROBED_STACK_DIVISOR;
        }
        let executor = Arc::new(Executor::new(settings)?);
        executors.insert(probing, executor.clone());
        Ok(executor)
    }

    /// The probed form of `wasm`, loaded into the probing executor (see the module doc).
    /// `wasm` has validated already: a module the probe cannot rewrite is this node's failure.
    fn load_probed(executor: &Executor, wasm: &[u8]) -> Result<JobModule, Stop> {
        let probed = instrument(wasm).map_err(|error| {
            tracing::error!(%error, "the NaN probe cannot rewrite a valid module; deciding nothing");
            Stop::Undecided(RefereeError::Failed)
        })?;
        Ok(Self::load(executor, &probed)?)
    }

    /// `executor.load(wasm)`, reporting a compiled module the disk cache could not keep (the
    /// load succeeds: the module is remembered in memory and compiled again after a restart).
    fn load(executor: &Executor, wasm: &[u8]) -> Result<JobModule, EngineError> {
        let module = executor.load(wasm)?;
        if let Some(failure) = module.cache_write_failure() {
            tracing::warn!(module = %module.hash(), %failure, "the referee's module cache cannot keep a compiled module");
        }
        Ok(module)
    }

    /// Whether the outcome of `request` may depend on the machine (see the module doc): runs
    /// the piece as the probed module on `executor` (the probing one). A probed call this
    /// machine fails (`Error::is_refusal` false) decides nothing: before, it read as "not
    /// machine-dependent", and the plain run's outcome became a verdict the probe never checked.
    fn machine_dependent(
        executor: &Executor,
        probed: &JobModule,
        request: &RefereeRequest,
        dataset: &[u8],
        state: Option<&[u8]>,
    ) -> Result<bool, Stop> {
        let fuel = request.fuel_limit.saturating_mul(PROBED_FUEL_FACTOR);
        let probed = |call: ProbedCall<'_>, fuel: u64| -> Result<Output, Halt> {
            let Probed {
                result,
                nan_produced,
            } = executor.call_probed(probed, call, &request.params, dataset, fuel);
            match result {
                _ if nan_produced => Err(Halt::MachineDependent),
                Err(EngineError::StackOverflow { .. }) => Err(Halt::MachineDependent),
                // The same deterministic refusal as the original's: nothing depends on it.
                Err(error) if error.is_refusal() => Err(Halt::Refused),
                // This machine failed (its memory, its module cache): the probe saw nothing,
                // so it cannot say the piece is not machine-dependent either.
                Err(error) => {
                    tracing::error!(%error, "the referee's probed run failed; deciding nothing");
                    Err(Halt::Failed)
                }
                Ok(output) => Ok(output),
            }
        };
        let call = |call: ProbedCall<'_>| probed(call, fuel);
        let outcome = (|| match request.task {
            RefereeTask::Step { .. } | RefereeTask::Segment { .. } => {
                let init;
                let pre = match state {
                    Some(bytes) => bytes,
                    None => {
                        let call = ProbedCall::Init { seed: request.seed };
                        init = probed(call, init_fuel(request).saturating_mul(PROBED_FUEL_FACTOR))?
                            .bytes;
                        &init
                    }
                };
                let steps = match request.task {
                    RefereeTask::Segment { steps, .. } => steps,
                    _ => 1,
                };
                call(ProbedCall::Segment { state: pre, steps }).map(|_| ())
            }
            // Both calls, whatever the first's outcome: a refused `export` is a result
            // (no model), and `eval` is committed beside it.
            RefereeTask::Output { .. } => {
                let state = state.unwrap_or_default();
                let outcomes = [
                    call(ProbedCall::Export { state }),
                    call(ProbedCall::Eval { state }),
                ];
                // A NaN in either is the verdict, whatever the other did.
                for halt in [Halt::MachineDependent, Halt::Failed] {
                    if outcomes
                        .iter()
                        .any(|outcome| outcome.as_ref().err() == Some(&halt))
                    {
                        return Err(halt);
                    }
                }
                Ok(())
            }
        })();
        match outcome {
            Err(Halt::MachineDependent) => Ok(true),
            Err(Halt::Failed) => Err(Stop::Undecided(RefereeError::Failed)),
            Err(Halt::Refused) | Ok(()) => Ok(false),
        }
    }

    fn blob(&self, hash: &Hash) -> Result<Vec<u8>, Stop> {
        match self.blobs.get(hash) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) | Err(_) => Err(Stop::Undecided(RefereeError::Unavailable { blob: *hash })),
        }
    }

    fn execute(&self, request: &RefereeRequest) -> Result<RefereeVerdict, Stop> {
        let wasm = self.blob(&request.module)?;
        let dataset = self.blob(&request.dataset)?;
        let state = match request.task {
            RefereeTask::Step {
                pre_state: Some(hash),
            }
            | RefereeTask::Segment {
                start: Some(hash), ..
            }
            | RefereeTask::Output { state: hash } => Some(self.blob(&hash)?),
            RefereeTask::Step { pre_state: None } | RefereeTask::Segment { start: None, .. } => {
                None
            }
        };
        let mut executors = self
            .executors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let fuel = request.fuel_limit;
        let executor = Self::executor(&mut executors, self.cache_dir.clone(), Probing::Plain)?;
        let module = Self::load(&executor, &wasm)?;
        let probing = Self::executor(&mut executors, self.cache_dir.clone(), Probing::Probed)?;
        let probed = Self::load_probed(&probing, &wasm)?;
        if Self::machine_dependent(&probing, &probed, request, &dataset, state.as_deref())? {
            return Ok(RefereeVerdict::MachineDependent);
        }
        let params = &request.params;
        match request.task {
            RefereeTask::Step { .. } | RefereeTask::Segment { .. } => {
                let pre = match state {
                    Some(bytes) => bytes,
                    None => {
                        let init = init_fuel(request);
                        executor
                            .init_within(&module, params, &dataset, request.seed, init)?
                            .bytes
                    }
                };
                let (steps, whole_segment) = match request.task {
                    RefereeTask::Segment { steps, .. } => (steps, true),
                    _ => (1, false),
                };
                let post = executor.segment_within(&module, params, &dataset, &pre, steps, fuel)?;
                let post_state = Hash::of(&post.bytes);
                Ok(if whole_segment {
                    RefereeVerdict::Segmented {
                        post_state,
                        fuel: post.fuel,
                    }
                } else {
                    RefereeVerdict::Stepped { post_state }
                })
            }
            RefereeTask::Output { .. } => {
                let state = state.unwrap_or_default();
                let export = executor.export_within(&module, params, &dataset, &state, fuel);
                let eval = executor.eval_within(&module, params, &dataset, &state, fuel);
                output_verdict(export, eval, fuel)
            }
        }
    }
}

/// The fuel `request`'s `init` call gets: for a whole segment's re-run, the chain's bound on
/// a call, which every worker's engine gives `init` whatever its segments get (`init` is not
/// billed), so that the re-run is the worker's run; for a single step, the request's own (a
/// step too heavy for it, `init` included, goes on as its segment's re-run: spec version 17).
/// Before 2026-12-07 a segment's `init` got the segment's fuel, and a module whose `init`
/// outweighed it was out of fuel where the worker had run it: the honest worker lost.
fn init_fuel(request: &RefereeRequest) -> u64 {
    match request.task {
        RefereeTask::Segment { .. } => agora_runtime::verification::CALL_BOUNDS
            .fuel
            .max(request.fuel_limit),
        RefereeTask::Step { .. } | RefereeTask::Output { .. } => request.fuel_limit,
    }
}

/// The verdict on an output from its `export` and `eval` outcomes, each call given `fuel`. At
/// the chain's bound on a call (what the runtime asks since 2026-12-07) the referee's calls
/// are the worker's, so a call out of fuel is the module's refusal, as the worker commits it
/// (no model, or empty metrics). Under a smaller limit a call out of fuel decides nothing: the
/// worker's bound is higher. Any other refusal is the module's result either way.
fn output_verdict(
    export: Result<Output, EngineError>,
    eval: Result<Output, EngineError>,
    fuel: u64,
) -> Result<RefereeVerdict, Stop> {
    let workers_bound = fuel >= agora_runtime::verification::CALL_BOUNDS.fuel;
    if !workers_bound
        && [&export, &eval]
            .iter()
            .any(|outcome| matches!(outcome, Err(EngineError::OutOfFuel { .. })))
    {
        return Ok(RefereeVerdict::OutOfFuel);
    }
    let result = JobResult::of(export, eval)?;
    Ok(RefereeVerdict::Exported {
        output: result.output(),
        metrics: Hash::of(&result.metrics),
    })
}

impl EngineReferee {
    /// Compiles `module` (if this node holds it), plain and probed, so that a later referee
    /// run finds it compiled.
    pub fn prepare(&self, module: &Hash) {
        let started = std::time::Instant::now();
        let Ok(Some(wasm)) = self.blobs.get(module) else {
            return;
        };
        let mut executors = self
            .executors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let prepared = [Probing::Plain, Probing::Probed]
            .into_iter()
            .try_for_each(|probing| {
                let Ok(executor) = Self::executor(&mut executors, self.cache_dir.clone(), probing)
                else {
                    return Err("no executor".to_owned());
                };
                match probing {
                    Probing::Plain => Self::load(&executor, &wasm)
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Probing::Probed => Self::load_probed(&executor, &wasm)
                        .map(|_| ())
                        .map_err(|_| "not loaded in its probed form".to_owned()),
                }
            });
        match prepared {
            Ok(()) => tracing::info!(
                %module,
                ms = started.elapsed().as_secs_f64() * 1e3,
                "referee module prepared"
            ),
            Err(error) => tracing::info!(%module, %error, "referee module not prepared"),
        }
    }
}

impl EngineReferee {
    fn lock_verdicts(&self) -> std::sync::MutexGuard<'_, Verdicts> {
        self.verdicts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The verdict of `request` if it was decided ahead.
    pub fn decided(&self, request: &RefereeRequest) -> Option<RefereeVerdict> {
        self.kept(&Self::key(request))
    }

    /// What a verdict is kept under: the hash of its request's encoding.
    fn key(request: &RefereeRequest) -> Hash {
        request.hash()
    }

    fn kept(&self, key: &Hash) -> Option<RefereeVerdict> {
        self.lock_verdicts().by_key.get(key).copied()
    }

    fn keep(&self, key: Hash, verdict: RefereeVerdict) {
        self.lock_verdicts().keep(key, verdict);
    }
}

impl Referee for EngineReferee {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        let key = Self::key(request);
        let decided_ahead = |verdict: RefereeVerdict| {
            tracing::info!(task = ?request.task, ?verdict, "referee verdict decided ahead");
            Ok(verdict)
        };
        // Looked for before waiting for another run (which may be another request's, for
        // seconds) and again after (it may have been this one's).
        if let Some(verdict) = self.kept(&key) {
            return decided_ahead(verdict);
        }
        let running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(verdict) = self.kept(&key) {
            return decided_ahead(verdict);
        }
        // Timed for the operator's log only (`scripts/bench.sh dispute` reads it); the verdict
        // never depends on it.
        let started = std::time::Instant::now();
        let result = match self.execute(request) {
            Ok(verdict) | Err(Stop::Verdict(verdict)) => Ok(verdict),
            Err(Stop::Undecided(error)) => Err(error),
        };
        tracing::info!(
            task = ?request.task,
            ms = started.elapsed().as_secs_f64() * 1e3,
            result = ?result,
            "referee ran"
        );
        if let Ok(verdict) = result {
            self.keep(key, verdict);
        }
        drop(running);
        result
    }

    /// The blob store checked the bytes against the hash when they were uploaded.
    fn holds(&self, blob: &Hash) -> bool {
        self.blobs.has(blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A verdict outlives the next 65,535 kept (65 evicted it until 2026-12-07, and an
    /// unrunnable declaration's proof, queued on chain, re-ran inline); the oldest goes beyond
    /// that, and keeping one again neither duplicates nor refreshes it.
    #[test]
    fn verdicts_are_kept_until_sixty_five_thousand_others_are() {
        let key = |n: usize| Hash::of(&n.to_le_bytes());
        let verdict = RefereeVerdict::Refused;
        let mut verdicts = Verdicts::default();
        for n in 0..MAX_VERDICTS {
            verdicts.keep(key(n), verdict);
        }
        verdicts.keep(key(0), verdict);
        assert_eq!(verdicts.oldest_first.len(), MAX_VERDICTS);
        assert!(verdicts.by_key.contains_key(&key(0)));
        verdicts.keep(key(MAX_VERDICTS), verdict);
        assert!(!verdicts.by_key.contains_key(&key(0)), "the oldest went");
        assert!(verdicts.by_key.contains_key(&key(1)));
        assert_eq!(verdicts.by_key.len(), MAX_VERDICTS);
    }

    /// A referee's run decides only on what every machine running the same bytes meets; an
    /// error of this machine (its module cache, its memory, its engine, a stopped run) decides
    /// nothing. Before, a module cache the node could not write read as the module refusing
    /// the run: a verdict on this validator only.
    #[test]
    fn only_what_every_machine_meets_is_a_verdict() {
        for failure in [
            EngineError::Cache {
                path: "/cache/entry.cwasm".into(),
                reason: "No space left on device".into(),
            },
            EngineError::HostMemory {
                call: "agora_segment",
                reason: "Cannot allocate memory".into(),
            },
            EngineError::Engine {
                reason: "unsupported".into(),
            },
            EngineError::Stopped { segments: 1 },
        ] {
            let shown = failure.to_string();
            assert!(
                matches!(Stop::from(failure), Stop::Undecided(RefereeError::Failed)),
                "{shown}"
            );
        }
        assert!(matches!(
            Stop::from(EngineError::OutOfFuel {
                call: "agora_segment",
                limit: 1
            }),
            Stop::Verdict(RefereeVerdict::OutOfFuel)
        ));
        assert!(matches!(
            Stop::from(EngineError::MissingExport { name: "agora_init" }),
            Stop::Verdict(RefereeVerdict::Refused)
        ));
    }

    /// An output's `export` or `eval` out of fuel at the chain's bound on a call is the
    /// module's refusal, as the worker commits it: its engine stops every call there. Under a
    /// smaller limit it decides nothing (the worker's bound is higher).
    #[test]
    fn an_output_out_of_fuel_at_the_workers_bound_is_the_modules_result() {
        let bound = agora_runtime::verification::CALL_BOUNDS.fuel;
        let out_of_fuel = || {
            Err(EngineError::OutOfFuel {
                call: "agora_export",
                limit: bound,
            })
        };
        let metrics = || {
            Ok(Output {
                bytes: b"loss 1.0".to_vec(),
                fuel: 1,
                memory_bytes: 1,
            })
        };
        let verdict = |fuel| match output_verdict(out_of_fuel(), metrics(), fuel) {
            Ok(verdict) => verdict,
            Err(_) => panic!("no verdict"),
        };
        assert_eq!(
            verdict(bound),
            RefereeVerdict::Exported {
                output: Hash::ZERO,
                metrics: Hash::of(b"loss 1.0"),
            }
        );
        assert_eq!(verdict(bound - 1), RefereeVerdict::OutOfFuel);
        // Metrics out of fuel at the bound: empty, beside the model.
        let model = Output {
            bytes: b"model".to_vec(),
            fuel: 1,
            memory_bytes: 1,
        };
        let Ok(verdict) = output_verdict(Ok(model), out_of_fuel(), bound) else {
            panic!("no verdict")
        };
        assert_eq!(
            verdict,
            RefereeVerdict::Exported {
                output: Hash::of(b"model"),
                metrics: Hash::of(b""),
            }
        );
    }
}
