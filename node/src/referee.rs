//! The node's referee: executes a disputed step for the runtime, with `agora-engine`, from the
//! bytes in this node's blob store (the contract is `agora_primitives::referee`).
//!
//! - Inputs come from the blob store by hash; the store checks every blob against its hash
//!   when reading, so a verdict is always about the bytes the ledger names. A blob the node
//!   does not hold (or holds corrupt) is [`RefereeError::Unavailable`]: the runtime then
//!   decides nothing on this node.
//! - Every engine call gets the request's `fuel_limit` (the engine's per-call limit); running
//!   out is [`RefereeVerdict::OutOfFuel`].
//! - Whatever the module does wrong (invalid or refused module, trap, job error, memory or
//!   stack limit, a state it cannot decode) is [`RefereeVerdict::Refused`]: deterministic
//!   outcomes of the same bytes on every node. A failure of this node's engine itself
//!   (wasmtime cannot compile a module that validated, or cannot be configured) is not a
//!   verdict: it is reported as [`RefereeError::Failed`], and the node decides nothing.
//! - One executor per fuel limit is kept for the node's life (the limits are runtime
//!   constants: `REFEREE_FUEL` for a step, the export and eval, `MAX_SEGMENT_FUEL` for a whole
//!   segment in a fuel dispute), so compiled modules stay in their memory caches and, with a
//!   cache directory, on disk.
//! - One run at a time: a block that needs the referee may be built again while a first build
//!   is still compiling the module (consensus moved on to a new view); the second waits and
//!   then finds the module compiled, instead of compiling it again beside the first.
//! - Compiled ahead: compiling a module takes seconds (`docs/benchmarks.md`), several blocks'
//!   worth, and is not in the referee call's weight. So [`run_warmer`] compiles the module of
//!   every job assigned in a finalized block, in the background, long before any dispute over
//!   it can reach the referee (a dispute needs a commitment and at least one move first).

use crate::blobs::BlobStore;
use crate::chain::{Chain, ChainEvent};
use agora_engine::{Error as EngineError, Executor, Settings};
use agora_primitives::referee::{
    Referee, RefereeError, RefereeRequest, RefereeTask, RefereeVerdict,
};
use agora_primitives::Hash;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast::error::RecvError;

/// The referee of a validating node.
pub struct EngineReferee {
    blobs: Arc<BlobStore>,
    cache_dir: Option<PathBuf>,
    /// The executor of each fuel limit seen (at most [`MAX_EXECUTORS`]); held for a whole run
    /// (see the module doc).
    executors: Mutex<BTreeMap<u64, Arc<Executor>>>,
}

/// Most executors kept: the runtime uses two fuel limits; a third (a runtime upgrade) replaces
/// the lowest.
const MAX_EXECUTORS: usize = 3;

/// What went wrong inside one run: a verdict, or why there is none.
enum Stop {
    Verdict(RefereeVerdict),
    Undecided(RefereeError),
}

impl From<EngineError> for Stop {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::OutOfFuel { .. } => Stop::Verdict(RefereeVerdict::OutOfFuel),
            EngineError::Compile { reason } | EngineError::Engine { reason } => {
                tracing::error!(%reason, "the referee's engine failed; deciding nothing");
                Stop::Undecided(RefereeError::Failed)
            }
            other => {
                tracing::info!(error = %other, "the referee's run was refused by the module");
                Stop::Verdict(RefereeVerdict::Refused)
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
        }
    }

    fn executor(
        executors: &mut BTreeMap<u64, Arc<Executor>>,
        cache_dir: Option<PathBuf>,
        fuel_limit: u64,
    ) -> Result<Arc<Executor>, Stop> {
        if let Some(executor) = executors.get(&fuel_limit) {
            return Ok(executor.clone());
        }
        let mut settings = Settings::with_cache_dir(cache_dir);
        settings.limits.max_fuel_per_call = fuel_limit;
        let executor = Arc::new(Executor::new(settings)?);
        if executors.len() >= MAX_EXECUTORS {
            executors.pop_first();
        }
        executors.insert(fuel_limit, executor.clone());
        Ok(executor)
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
        let executor = Self::executor(&mut executors, self.cache_dir.clone(), request.fuel_limit)?;
        let module = executor.load(&wasm)?;
        let params = &request.params;
        match request.task {
            RefereeTask::Step { .. } | RefereeTask::Segment { .. } => {
                let pre = match state {
                    Some(bytes) => bytes,
                    None => {
                        executor
                            .init(&module, params, &dataset, request.seed)?
                            .bytes
                    }
                };
                let steps = match request.task {
                    RefereeTask::Segment { steps, .. } => steps,
                    _ => 1,
                };
                let post = executor.segment(&module, params, &dataset, &pre, steps)?;
                let post_state = Hash::of(&post.bytes);
                Ok(match request.task {
                    RefereeTask::Segment { .. } => RefereeVerdict::Segmented {
                        post_state,
                        fuel: post.fuel,
                    },
                    _ => RefereeVerdict::Stepped { post_state },
                })
            }
            RefereeTask::Output { .. } => {
                let state = state.unwrap_or_default();
                let model = executor.export(&module, params, &dataset, &state)?;
                let metrics = executor.eval(&module, params, &dataset, &state)?;
                Ok(RefereeVerdict::Exported {
                    output: Hash::of(&model.bytes),
                    metrics: Hash::of(&metrics.bytes),
                })
            }
        }
    }
}

impl EngineReferee {
    /// Compiles `module` (if this node holds it) into the executors of the runtime's referee
    /// fuel limits, so that a later referee run finds it compiled.
    pub fn prepare(&self, module: &Hash) {
        let started = std::time::Instant::now();
        let Ok(Some(wasm)) = self.blobs.get(module) else {
            return;
        };
        let mut executors = self
            .executors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let limits = [
            agora_runtime::verification::REFEREE_FUEL,
            agora_runtime::verification::MAX_SEGMENT_FUEL,
        ];
        let prepared = limits.iter().try_for_each(|fuel| {
            match Self::executor(&mut executors, self.cache_dir.clone(), *fuel) {
                Ok(executor) => executor.load(&wasm).map(|_| ()).map_err(|e| e.to_string()),
                Err(_) => Err("no executor".to_owned()),
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

/// Compiles, in the background, the module of every job assigned in a finalized block (see
/// the module doc). Runs until the chain's event channel closes.
pub async fn run_warmer(chain: Chain, referee: Arc<EngineReferee>) {
    let mut events = chain.subscribe();
    let mut prepared: HashSet<Hash> = HashSet::new();
    loop {
        let header = match events.recv().await {
            Ok(ChainEvent::Finalized { header, .. }) => header,
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let modules = assigned_modules(&chain, &header.hash());
        for module in modules {
            // Bounded by the distinct modules of assigned jobs, each compiled once a run.
            if !prepared.insert(module) {
                continue;
            }
            let referee = referee.clone();
            let _ = tokio::task::spawn_blocking(move || referee.prepare(&module)).await;
        }
    }
}

/// The modules of the jobs assigned in block `hash`.
fn assigned_modules(chain: &Chain, hash: &Hash) -> Vec<Hash> {
    let Ok(Some(block)) = chain.block(hash) else {
        return Vec::new();
    };
    let Ok(records) = agora_runtime::decode_events(&block.events) else {
        return Vec::new();
    };
    let view = chain.finalized_view();
    records
        .iter()
        .filter_map(|record| match &record.event {
            agora_runtime::RuntimeEvent::Jobs(pallet_jobs::Event::JobAssigned { job, .. }) => {
                pallet_jobs::Pallet::<agora_runtime::Runtime>::job(&view, *job)
            }
            _ => None,
        })
        .map(|job| job.spec.module)
        .collect()
}

impl Referee for EngineReferee {
    fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
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
        result
    }

    /// The blob store checked the bytes against the hash when they were uploaded.
    fn holds(&self, blob: &Hash) -> bool {
        self.blobs.has(blob)
    }
}
