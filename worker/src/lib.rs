//! # agora-worker
//!
//! The provider's daemon (`agora worker run` starts it with a [`WorkerConfig`]).
//!
//! It keeps an offer open (re-posting it when it expires, never after its provider cancels it;
//! an open offer it did not post is adopted, replaced or refused by `--existing-offer`), bonds
//! the stake the offer's collateral needs, and for every job assigned to its account:
//!
//! 1. fetches the module and dataset from the node (checked against their hashes);
//! 2. runs the job with the engine on a background thread (one run at a time; the loop keeps
//!    answering other jobs' reveals meanwhile), keeping every checkpoint (the state before each
//!    segment) on disk, and writes the run's trace last — a run is only "done" once its trace
//!    is on disk;
//! 3. registers and uploads the trained model and the final state (the chain takes the
//!    commitment only from a node that holds both), then commits the trace root, segment count,
//!    fuel and metrics; a module that refuses `export` or `eval` (a trap, or a model or metrics
//!    over the chain's bounds) has no model or empty metrics committed, and the run is billed;
//! 4. answers the spot check: reveals the sampled segments' start states (registering and
//!    uploading those checkpoints) and then the sampled leaves, each with its Merkle proof;
//! 5. when the module refuses `init` or segment 0 (the buyer's dataset or params, a trap, a
//!    segment over its fuel), does not run it again but has the referee check them
//!    (`declare_unrunnable`, then `prove_unrunnable` once every node has decided the re-run
//!    ahead): the buyer then pays the cancellation fee, the collateral is kept;
//!    when it refuses a later segment `s` (a trap, a divergence, more fuel than a segment may
//!    use or than the bid's `max_fuel` leaves for it), commits the trace up to it, ending in `s`'s refusal leaf, with no model: the
//!    segments before `s` are billed, and the audit checks the refusal like any last segment;
//! 6. defends a disputed result: posts its state at each bisection midpoint and has the
//!    referee run the final step (`dispute.rs`);
//! 7. when the buyer cancels a job, stops its run at the next segment boundary unless, at the
//!    run's pace so far, the commitment would land before the cancellation takes effect
//!    (which voids it), and does not start a job whose cancellation is pending: the chain pays
//!    for the run time the job held either way (`pallet_jobs::Pallet::end_fee`).
//!
//! **Restarts.** The ledger is the source of truth: on start the daemon re-reads its jobs'
//! status on chain and carries on from there; a job whose trace is on disk is never run again,
//! and a step already on chain is not submitted twice (the daemon waits for each transaction's
//! finality before it looks at the job again). The state directory keeps, in a subdirectory
//! per chain (`chains/<genesis>-<block 1>`: `DaemonConfig::chain_dir`), the next block to scan
//! for assignments, the offer it keeps open, and each job's files; a finished job's files are
//! deleted.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use agora_client::blobs::{ensure_blob, ensure_blobs, fetch_blob};
use agora_client::chain::State;
use agora_client::daemon::{ensure_bonded, DaemonConfig, HeadWatch};
use agora_client::files::{read_json, write_atomic};
use agora_client::keys::Signer;
use agora_client::offers::{
    cancel_offer, describe_offer, offer_differences, post_offer, OfferPlan,
};
use agora_client::rpc::{Rpc, RuntimeEvent};
use agora_client::tx;
use agora_engine::{run, Executor, JobInputs, JobResult, OwnedJob, RunSpec, Settings};
use agora_primitives::trace::{TraceLeaf, TraceTree};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_jobs::{Commitment, Job, JobId, JobStatus};
use pallet_verification::Phase;
use serde::{Deserialize, Serialize};

mod dispute;
mod error;
#[cfg(feature = "faults")]
pub mod faults;
mod refusal;

pub use error::Error;

/// What the daemon does when the provider already has an open offer it did not post itself
/// (`--existing-offer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExistingOffer {
    /// Work under it as it stands, saying which of the daemon's offer flags differ from it.
    #[default]
    Adopt,
    /// Cancel it and post an offer with the daemon's flags.
    Replace,
    /// Stop with an error naming it.
    Refuse,
}

impl ExistingOffer {
    /// The values `--existing-offer` takes.
    pub const NAMES: [&'static str; 3] = ["adopt", "replace", "refuse"];

    /// The policy named `name` (one of [`Self::NAMES`]).
    pub fn named(name: &str) -> Option<ExistingOffer> {
        match name {
            "adopt" => Some(ExistingOffer::Adopt),
            "replace" => Some(ExistingOffer::Replace),
            "refuse" => Some(ExistingOffer::Refuse),
            _ => None,
        }
    }
}

/// The worker daemon's configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Account, node, state directory, module cache, polling.
    pub daemon: DaemonConfig,
    /// The offer kept open (re-posted when it expires; never after its provider cancels it).
    pub offer: OfferPlan,
    /// What to do with an open offer the daemon finds on start.
    pub existing_offer: ExistingOffer,
    /// Stake to keep bonded (enough collateral for several jobs at once).
    pub bond: Balance,
    /// Ways to cheat, for tests (`--fault`).
    #[cfg(feature = "faults")]
    pub faults: Vec<faults::Fault>,
}

/// The run of a job's spec as the engine wants it.
fn run_spec(job: &Job) -> Result<RunSpec, Error> {
    let spec = &job.spec;
    Ok(RunSpec::from_ledger(
        spec.seed,
        spec.steps,
        spec.segment_steps,
        job.terms.max_fuel,
    )?)
}

/// Progress kept across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    /// Next block to scan for assignments.
    next_block: BlockNumber,
    /// Jobs being worked on.
    jobs: BTreeSet<JobId>,
    /// The offer the daemon keeps open (posted or adopted).
    #[serde(default)]
    offer: Option<u64>,
    /// Set when the provider cancelled that offer: the daemon does not post another (an offer
    /// the provider posts itself is adopted, which clears it).
    #[serde(default)]
    offer_cancelled: bool,
}

/// A finished run on disk (`run.json`), written after every checkpoint and output.
#[derive(Debug, Serialize, Deserialize)]
struct RunRecord {
    leaves: Vec<(u64, Hash, u64)>,
    root: Hash,
    output: Hash,
    /// `eval`'s output exactly as the module returned it: what verifiers and the referee hash.
    /// (Kept as text once, which turned a module's non-UTF-8 metrics into other bytes, and an
    /// honest worker into the loser of the output dispute.)
    #[serde(deserialize_with = "metrics_on_disk")]
    metrics: Vec<u8>,
}

/// The metrics of a `run.json`: bytes, or the text a worker of an earlier version wrote.
fn metrics_on_disk<'de, D: serde::Deserializer<'de>>(from: D) -> Result<Vec<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Metrics {
        Bytes(Vec<u8>),
        Text(String),
    }
    Ok(match Metrics::deserialize(from)? {
        Metrics::Bytes(bytes) => bytes,
        Metrics::Text(text) => text.into_bytes(),
    })
}

impl RunRecord {
    fn leaves(&self) -> Vec<TraceLeaf> {
        self.leaves
            .iter()
            .map(|(index, state_hash, fuel)| TraceLeaf {
                index: *index,
                state_hash: *state_hash,
                fuel: *fuel,
            })
            .collect()
    }
}

struct Worker {
    rpc: Rpc,
    signer: Signer,
    me: AccountId,
    config: WorkerConfig,
    dir: PathBuf,
    progress: Progress,
    /// The run in progress, if any: runs go one at a time on a blocking thread, so the daemon
    /// keeps answering other jobs' reveals (whose deadlines are a few blocks) meanwhile.
    running: Option<Running>,
    /// Whether the node's finalized chain keeps up with the clock.
    head: HeadWatch,
    /// The referee pre-states this worker was asked for (`dispute.rs`).
    pre_states: std::sync::Mutex<dispute::PreStates>,
}

/// Blocks a finished run needs to get its commitment finalized: the model's and final state's
/// registration and upload, then the commitment itself.
const COMMIT_BLOCKS: BlockNumber = 3;

/// A run in progress on a blocking thread.
struct Running {
    id: JobId,
    handle: tokio::task::JoinHandle<Result<RunRecord, Error>>,
    /// Set to stop the run at its next segment boundary.
    stop: Arc<AtomicBool>,
    /// Segments completed so far.
    done: Arc<AtomicU64>,
    /// Segments of the whole run.
    segments: u64,
    /// The finalized block when it started.
    started_at: BlockNumber,
}

impl Running {
    /// Whether, at its pace so far, the run ends and its commitment lands before block
    /// `deadline` (a pending cancellation's): only then is running on worth more than
    /// stopping (`Pallet::end_fee` pays for the time held either way).
    fn finishes_before(&self, now: BlockNumber, deadline: BlockNumber) -> bool {
        let done = self.done.load(Ordering::Relaxed);
        finishes_before(
            done,
            self.segments,
            now.saturating_sub(self.started_at),
            now,
            deadline,
        )
    }
}

/// Whether a run that has done `done` of `segments` segments in `elapsed` blocks, keeping that
/// pace, ends and has its commitment land ([`COMMIT_BLOCKS`]) before block `deadline`.
fn finishes_before(
    done: u64,
    segments: u64,
    elapsed: BlockNumber,
    now: BlockNumber,
    deadline: BlockNumber,
) -> bool {
    let left = segments.saturating_sub(done);
    // No segment done yet: assume the first takes all the time so far and more.
    let needed = elapsed
        .max(1)
        .saturating_mul(left.max(1))
        .div_ceil(done.max(1))
        .saturating_add(COMMIT_BLOCKS);
    left == 0 || now.saturating_add(needed) < deadline
}

/// What a job needs next from the daemon's loop.
enum Step {
    /// Nothing (waiting for the chain, or done for this tick).
    Wait,
    /// The job is over for this worker: forget it.
    Forget,
    /// The job needs its run.
    Run(Box<Job>),
}

/// Runs the worker daemon until the process is stopped.
pub async fn run_worker(config: WorkerConfig) -> Result<(), Error> {
    let signer = config.daemon.signer.clone();
    let me = config.daemon.account();
    let rpc = Rpc::connect(&config.daemon.rpc_url).await?;
    let dir = config.daemon.chain_dir(&rpc).await?;
    let progress: Progress = read_json(&dir.join("progress.json"))?.unwrap_or_default();
    let mut worker = Worker {
        rpc,
        signer,
        me,
        config,
        dir,
        progress,
        running: None,
        head: HeadWatch::default(),
        pre_states: Default::default(),
    };
    tracing::info!(account = %worker.me, dir = %worker.dir.display(), "worker starting");
    worker.ensure_stake().await?;
    loop {
        match worker.tick().await {
            Ok(()) => {}
            // `--existing-offer refuse`: the operator asked the daemon to stop.
            Err(error @ Error::ExistingOffer { .. }) => return Err(error),
            // The daemon keeps running: a node restart, a refused transaction or a bad job
            // must not stop the other jobs.
            Err(error) => tracing::warn!("{error}"),
        }
        tokio::time::sleep(worker.config.daemon.poll).await;
    }
}

impl Worker {
    /// Sends `call` signed by the daemon's key and waits for its finalized success; `what`
    /// names it in errors.
    async fn send(
        &self,
        call: agora_runtime::RuntimeCall,
        what: &'static str,
    ) -> Result<tx::Sent, Error> {
        Ok(tx::send(&self.rpc, &self.signer, call, what, tx::DEFAULT_TIMEOUT).await?)
    }

    fn save(&self) -> Result<(), Error> {
        let path = self.dir.join("progress.json");
        Ok(write_atomic(
            &path,
            &serde_json::to_vec_pretty(&self.progress)?,
        )?)
    }

    /// Registers `bytes` as a blob without uploading them (the `withhold-state` fault).
    #[cfg(feature = "faults")]
    async fn register_only(&self, bytes: &[u8]) -> Result<(), Error> {
        let hash = Hash::of(bytes);
        if State::best(&self.rpc).blob(&hash).await?.is_some() {
            return Ok(());
        }
        let call = agora_client::blobs::register_call(bytes);
        self.send(call, "withheld checkpoint registration").await?;
        tracing::warn!(%hash, "fault: registered a checkpoint without uploading it");
        Ok(())
    }

    /// What the engine needs to run `job`: the module and dataset (fetched once, checked by
    /// hash), its spec and params, and the engine's settings.
    async fn inputs(&self, job: &Job) -> Result<OwnedJob, Error> {
        let blobs = self.dir.join("blobs");
        Ok(OwnedJob {
            wasm: fetch_blob(&self.rpc, &blobs, job.spec.module).await?,
            dataset: fetch_blob(&self.rpc, &blobs, job.spec.dataset).await?,
            spec: run_spec(job)?,
            params: job.spec.params.clone(),
            settings: self.engine_settings(),
        })
    }

    /// The engine's settings for every run and re-run: the chain's bounds on a call
    /// (`CALL_BOUNDS`): no call may use more than a segment's fuel (a segment past it could not
    /// be re-executed by verifiers in time, and committing it would be this worker's fault),
    /// nor produce a state, model or metrics the chain cannot take.
    fn engine_settings(&self) -> Settings {
        Settings::within_bounds(
            self.config.daemon.module_cache_dir.clone(),
            &agora_runtime::verification::CALL_BOUNDS,
        )
    }

    /// Checkpoint `index` of job `id`'s run: the state before segment `index` (`0`: the
    /// initial state; the segment count: the final state).
    fn checkpoint(&self, id: JobId, index: u64) -> Result<Vec<u8>, Error> {
        let path = self.job_dir(id).join(format!("states/{index}.state"));
        Ok(std::fs::read(&path).map_err(|e| agora_client::Error::file("read", &path, e))?)
    }

    /// The bytes of the state the committed trace names at checkpoint `index`: the checkpoint
    /// itself, or, when an injected fault forged that leaf, the forged state.
    fn committed_state(&self, id: JobId, index: u64) -> Result<Vec<u8>, Error> {
        #[cfg(feature = "faults")]
        if let Ok(bytes) = std::fs::read(self.job_dir(id).join(format!("states/{index}.forged"))) {
            return Ok(bytes);
        }
        self.checkpoint(id, index)
    }

    fn job_dir(&self, id: JobId) -> PathBuf {
        self.dir.join("jobs").join(id.to_string())
    }

    async fn ensure_stake(&self) -> Result<(), Error> {
        if let Some(amount) = ensure_bonded(&self.rpc, &self.signer, self.config.bond).await? {
            tracing::info!(amount = %agora_client::amount::format_agr(amount), "stake bonded");
        }
        Ok(())
    }

    /// Keeps the provider's offer open: the tracked one while it is open; an open one the
    /// daemon did not post is adopted, replaced or refused (`--existing-offer`); with none
    /// open, a new one is posted, unless the provider cancelled the tracked one. Returns the
    /// offer to track from now on, if it changed.
    async fn ensure_offer(&self, state: &State<'_>) -> Result<Option<u64>, Error> {
        let mine: Vec<(u64, pallet_market::Offer)> = state
            .open_offers()
            .await?
            .into_iter()
            .filter(|(_, offer)| offer.provider == self.me)
            .collect();
        if let Some(tracked) = self.progress.offer {
            if mine.iter().any(|(id, _)| *id == tracked) {
                return Ok(None);
            }
        }
        if let Some((id, offer)) = mine.last() {
            match self.config.existing_offer {
                ExistingOffer::Adopt => {
                    let differs = offer_differences(offer, &self.config.offer);
                    tracing::info!(
                        offer = id,
                        "adopting open offer #{id} ({}){}",
                        describe_offer(offer),
                        match differs.is_empty() {
                            true => String::new(),
                            false => format!(
                                "; it differs from this daemon's flags ({}): --existing-offer \
                                 replace would post those instead",
                                differs.join(", ")
                            ),
                        }
                    );
                    return Ok(Some(*id));
                }
                ExistingOffer::Refuse => {
                    return Err(Error::ExistingOffer {
                        account: self.me,
                        offer: *id,
                        terms: describe_offer(offer),
                    })
                }
                ExistingOffer::Replace => {
                    for (id, _) in &mine {
                        cancel_offer(&self.rpc, &self.signer, *id).await?;
                        tracing::info!(offer = id, "cancelled open offer #{id} to replace it");
                    }
                }
            }
        } else if self.progress.offer_cancelled {
            // The provider's decision: not undone by the daemon (nor by its restart).
            return Ok(None);
        }
        let id = post_offer(&self.rpc, &self.signer, &self.config.offer).await?;
        tracing::info!(offer = id, "offer posted");
        Ok(Some(id))
    }

    async fn tick(&mut self) -> Result<(), Error> {
        self.reap_run().await;
        let head = self.rpc.finalized_head().await?;
        let state = State::at(&self.rpc, head);
        self.head.check(&state).await;
        let number = state.block_number().await?;
        // New assignments, from the events of blocks not yet scanned (bounded per tick).
        let last = number.min(self.progress.next_block.saturating_add(500));
        for n in self.progress.next_block..=last {
            let Some(hash) = self.rpc.block_hash(n).await? else {
                break;
            };
            for record in self.rpc.events(hash).await? {
                match record.event {
                    RuntimeEvent::Jobs(pallet_jobs::Event::JobAssigned { job, worker, .. })
                        if worker == self.me && self.progress.jobs.insert(job) =>
                    {
                        tracing::info!(job, block = n, "job assigned");
                    }
                    RuntimeEvent::Market(pallet_market::Event::OfferClosed {
                        offer,
                        reason: pallet_market::CloseReason::Cancelled,
                    }) if self.progress.offer == Some(offer) => {
                        self.progress.offer_cancelled = true;
                        tracing::info!(
                            offer,
                            block = n,
                            "the provider cancelled offer #{offer}: not posting another (post one \
                             with `agora offer post` and this daemon adopts it)"
                        );
                    }
                    _ => {}
                }
            }
            self.progress.next_block = n.saturating_add(1);
        }
        self.save()?;
        // Only once the scan has caught up: an offer gone from the book at the head may have
        // been cancelled in a block not scanned yet, and a cancel is never undone.
        if last == number {
            if let Some(id) = self.ensure_offer(&state).await? {
                self.progress.offer = Some(id);
                self.progress.offer_cancelled = false;
                self.save()?;
            }
        }
        let jobs: Vec<JobId> = self.progress.jobs.iter().copied().collect();
        let mut forget = Vec::new();
        let mut to_run = Vec::new();
        for id in jobs {
            match self.advance(&state, number, id).await {
                Ok(Step::Forget) => forget.push(id),
                Ok(Step::Run(job)) => to_run.push((id, job)),
                Ok(Step::Wait) => {}
                Err(error) => tracing::warn!(job = id, "{error}"),
            }
        }
        for id in forget {
            self.forget(id)?;
        }
        if self.running.is_none() {
            // The first that starts, oldest first: a job whose inputs cannot be fetched now
            // must not hold up the ones after it, each with a commit deadline of its own
            // (before, its error ended the tick, every tick, until all of them were slashed).
            for (id, job) in to_run {
                match self.start_run(id, &job, number).await {
                    Ok(running) => {
                        self.running = Some(running);
                        break;
                    }
                    Err(error) => tracing::warn!(job = id, "cannot start the run: {error}"),
                }
            }
        }
        Ok(())
    }

    /// Collects the run in progress if it has ended (its trace is then on disk, or it failed
    /// and will be started again).
    async fn reap_run(&mut self) {
        let finished = self
            .running
            .as_ref()
            .is_some_and(|run| run.handle.is_finished());
        if !finished {
            return;
        }
        if let Some(Running { id, handle, .. }) = self.running.take() {
            match handle.await {
                Ok(Ok(record)) => tracing::info!(job = id, root = %record.root, "run finished"),
                Ok(Err(Error::Engine(agora_engine::Error::Stopped { segments }))) => {
                    tracing::info!(job = id, segments, "run stopped");
                }
                Ok(Err(Error::Engine(error))) if error.is_refusal() => {
                    // The buyer's inputs, not this machine: prove it (`advance`) rather than
                    // run again.
                    tracing::warn!(job = id, "the module refused the job: {error}");
                    refusal::mark_refused(&self.job_dir(id), &error.to_string());
                }
                Ok(Err(error)) => tracing::warn!(job = id, "the run failed: {error}"),
                Err(error) => tracing::warn!(job = id, "the run panicked: {error}"),
            }
        }
    }

    /// Takes the next step of job `id`.
    async fn advance(&self, state: &State<'_>, now: BlockNumber, id: JobId) -> Result<Step, Error> {
        let Some(job) = state.job(id).await? else {
            // Pruned, or requeued after a missed deadline (the bid is back in the book).
            return Ok(Step::Forget);
        };
        if job.worker != self.me {
            return Ok(Step::Forget);
        }
        match &job.status {
            // Before the commit deadline and after it: a declaration's proof may land after it.
            JobStatus::Assigned if self.job_dir(id).join(refusal::REFUSED).exists() => {
                self.show_unrunnable(id, &job).await?;
            }
            JobStatus::Assigned if now <= job.commit_by => {
                let Some(record) = self.finished_run(id)? else {
                    let running = self.running.as_ref().filter(|run| run.id == id);
                    return Ok(match (running, job.cancel_at) {
                        (Some(run), Some(at)) => {
                            if !run.finishes_before(now, at)
                                && !run.stop.swap(true, Ordering::Relaxed)
                            {
                                tracing::info!(
                                    job = id,
                                    cancel_at = at,
                                    "the buyer cancelled the job and the run cannot commit before the cancellation takes effect: stopping it"
                                );
                            }
                            Step::Wait
                        }
                        (Some(_), None) => Step::Wait,
                        // A cancelled job is not started: the cancellation pays for the time
                        // the job was held whether or not it runs.
                        (None, Some(_)) => Step::Wait,
                        (None, None) => Step::Run(Box::new(job)),
                    });
                };
                // The bill is the last leaf's cumulative fuel, proved against the root.
                let leaves = record.leaves();
                let last = leaves.last().copied().ok_or_else(|| {
                    Error::InvalidJob(format!("the run of job #{id} on disk has no leaves"))
                })?;
                if !last.is_refusal() {
                    self.upload_result(id, &record).await?;
                }
                // The heaviest segment bounds the bill and is always checked.
                let (heaviest_segment, heaviest_fuel) =
                    agora_primitives::trace::heaviest_segment(&leaves);
                let final_proof = TraceTree::new(leaves)?.prove(last.index)?;
                let commitment = Commitment {
                    trace_root: record.root,
                    segments: u64::try_from(record.leaves.len()).unwrap_or(u64::MAX),
                    final_state: last.state_hash,
                    total_fuel: last.fuel,
                    heaviest_segment,
                    heaviest_fuel,
                    output: record.output,
                    metrics: record.metrics,
                };
                let call = agora_runtime::RuntimeCall::Jobs(pallet_jobs::Call::CommitResult {
                    job: id,
                    commitment,
                    final_proof,
                });
                let sent = self.send(call, "result commitment").await?;
                tracing::info!(
                    job = id,
                    block = sent.inclusion.block_number,
                    "result committed"
                );
            }
            // Spot checks, or an open challenge's dispute: either way the worker answers.
            JobStatus::Committed { .. } | JobStatus::Challenged { .. } => {
                self.answer_audit(state, id, &job).await?
            }
            status if status.is_final() => {
                tracing::info!(job = id, "job ended: {}", serde_json::to_string(status)?);
                return Ok(Step::Forget);
            }
            _ => {}
        }
        Ok(Step::Wait)
    }

    /// Uploads the model and the final state of job `id`'s run: the chain takes a commitment
    /// only from a node that holds both (an output dispute's referee exports the final state).
    async fn upload_result(&self, id: JobId, record: &RunRecord) -> Result<(), Error> {
        // No model: the module refused to export one, and the commitment says so.
        if record.output != Hash::ZERO {
            let model_path = self.job_dir(id).join("model.bpk");
            let model = std::fs::read(&model_path)
                .map_err(|e| agora_client::Error::file("read", &model_path, e))?;
            ensure_blob(&self.rpc, &self.signer, &model, "model registration").await?;
        }
        let segments = u64::try_from(record.leaves.len()).unwrap_or(u64::MAX);
        let final_state = self.committed_state(id, segments)?;
        ensure_blob(
            &self.rpc,
            &self.signer,
            &final_state,
            "final state registration",
        )
        .await?;
        Ok(())
    }

    fn forget(&mut self, id: JobId) -> Result<(), Error> {
        self.progress.jobs.remove(&id);
        let dir = self.job_dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)
                .map_err(|e| agora_client::Error::file("remove", &dir, e))?;
        }
        self.save()
    }

    /// The job's finished run, if its trace is on disk.
    fn finished_run(&self, id: JobId) -> Result<Option<RunRecord>, Error> {
        Ok(read_json(&self.job_dir(id).join("run.json"))?)
    }

    /// Fetches the job's module and dataset and starts its run on a blocking thread.
    async fn start_run(&self, id: JobId, job: &Job, now: BlockNumber) -> Result<Running, Error> {
        let dir = self.job_dir(id);
        let OwnedJob {
            wasm,
            dataset,
            spec,
            params,
            settings,
        } = self.inputs(job).await?;
        #[cfg(feature = "faults")]
        let (spec, faults) = (
            RunSpec {
                steps: faults::steps(&self.config.faults, spec.steps),
                ..spec
            },
            self.config.faults.clone(),
        );
        tracing::info!(
            job = id,
            steps = spec.steps,
            segments = spec.segments(),
            "running"
        );
        let started = std::time::Instant::now();
        let (stop, done) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicU64::new(0)),
        );
        let (stop_flag, done_count) = (stop.clone(), done.clone());
        let segments = spec.segments();
        let handle = tokio::task::spawn_blocking(move || -> Result<RunRecord, Error> {
            let executor = Executor::new(settings)?;
            let module = executor.load(&wasm)?;
            let inputs = JobInputs {
                params: &params,
                dataset: &dataset,
            };
            let mut write_error = None;
            let result = run(&executor, &module, inputs, spec, |index, bytes| {
                // `index` segments are done (0: the state after `init`).
                done_count.store(index, Ordering::Relaxed);
                if stop_flag.load(Ordering::Relaxed) {
                    return Err(agora_engine::Error::Stopped { segments: index });
                }
                if let Err(e) = write_atomic(&dir.join(format!("states/{index}.state")), bytes) {
                    write_error = Some(e);
                }
                Ok(())
            })?;
            if let Some(e) = write_error {
                return Err(e.into());
            }
            // A refused segment ends the trace there, with no model: the job could not go
            // on, and the segments before it are billed. A refused `export` or `eval` is
            // committed as no model or no metrics: the run is billed whole.
            #[allow(unused_mut)] // written to only by injected faults
            let (mut model, metrics) = match &result.refused {
                Some(refusal) => {
                    tracing::warn!(
                        job = id,
                        segment = refusal.segment,
                        "the module refused a segment: {}; the trace ends there",
                        refusal.error
                    );
                    (None, Vec::new())
                }
                None => {
                    let JobResult { model, metrics } =
                        executor.job_result(&module, &params, &dataset, &result.final_state)?;
                    if model.is_none() {
                        tracing::warn!(job = id, "the module refused to export its model");
                    }
                    (model, metrics)
                }
            };
            #[allow(unused_mut)]
            let mut leaves = result.leaves;
            #[cfg(feature = "faults")]
            for (index, bytes) in faults::apply(&faults, &mut leaves, &mut model, |i| {
                std::fs::read(dir.join(format!("states/{i}.state"))).ok()
            }) {
                write_atomic(&dir.join(format!("states/{index}.forged")), &bytes)?;
            }
            let output = match &model {
                Some(model) => {
                    write_atomic(&dir.join("model.bpk"), model)?;
                    Hash::of(model)
                }
                None => Hash::ZERO,
            };
            let record = RunRecord {
                root: TraceTree::new(leaves.clone())?.root(),
                leaves: leaves
                    .iter()
                    .map(|l| (l.index, l.state_hash, l.fuel))
                    .collect(),
                output,
                metrics,
            };
            // Last: its presence means every checkpoint and the model are on disk.
            write_atomic(&dir.join("run.json"), &serde_json::to_vec_pretty(&record)?)?;
            tracing::info!(
                job = id,
                seconds = started.elapsed().as_secs_f64(),
                "run done"
            );
            Ok(record)
        });
        Ok(Running {
            id,
            handle,
            stop,
            done,
            segments,
            started_at: now,
        })
    }

    async fn answer_audit(&self, state: &State<'_>, id: JobId, job: &Job) -> Result<(), Error> {
        let Some(audit) = state.audit(id).await? else {
            return Ok(());
        };
        let dir = self.job_dir(id);
        let record_path = dir.join("run.json");
        let record: RunRecord = read_json(&record_path)?.ok_or_else(|| {
            Error::InvalidJob(format!(
                "job #{id} is being checked but its run ({}) is not on disk",
                record_path.display()
            ))
        })?;
        let leaves = record.leaves();
        let tree = TraceTree::new(leaves.clone())?;
        let leaf = |i: u64| {
            leaves
                .get(usize::try_from(i).unwrap_or(usize::MAX))
                .copied()
                .ok_or_else(|| Error::InvalidJob(format!("job #{id} has no leaf {i}")))
        };
        match audit.phase {
            Phase::AwaitingStarts => {
                let mut starts = Vec::with_capacity(audit.checks.len());
                let sample: Vec<u64> = audit.checks.iter().map(|c| c.segment).collect();
                // Checkpoints to register and upload, all at once below.
                let mut states = Vec::new();
                for check in &audit.checks {
                    // Segment 0 starts from init; a segment whose predecessor is sampled too
                    // is started by its verifiers from their own result.
                    let Some(previous) =
                        pallet_verification::sampling::start_leaf(&sample, check.segment)
                    else {
                        starts.push(None);
                        continue;
                    };
                    // The state after segment s − 1 is checkpoint s.
                    #[cfg(feature = "faults")]
                    if faults::withholds(&self.config.faults, previous) {
                        self.register_only(&self.committed_state(id, check.segment)?)
                            .await?;
                        starts.push(Some((leaf(previous)?, tree.prove(previous)?)));
                        continue;
                    }
                    states.push(check.segment);
                    starts.push(Some((leaf(previous)?, tree.prove(previous)?)));
                }
                let load = |i: usize| match states.get(i) {
                    Some(segment) => self.committed_state(id, *segment),
                    None => Err(Error::InvalidJob(format!(
                        "job #{id} has no state {i} to reveal"
                    ))),
                };
                ensure_blobs(
                    &self.rpc,
                    &self.signer,
                    states.len(),
                    load,
                    "checkpoint registration",
                )
                .await?;
                let call = agora_runtime::RuntimeCall::Verification(
                    pallet_verification::Call::RevealStarts { job: id, starts },
                );
                self.send(call, "start reveal").await?;
                tracing::info!(job = id, "start states revealed");
            }
            Phase::AwaitingLeaves => {
                let leaves = audit
                    .checks
                    .iter()
                    .map(|check| Ok((leaf(check.segment)?, tree.prove(check.segment)?)))
                    .collect::<Result<Vec<_>, Error>>()?;
                let call = agora_runtime::RuntimeCall::Verification(
                    pallet_verification::Call::RevealLeaves { job: id, leaves },
                );
                self.send(call, "leaf reveal").await?;
                tracing::info!(job = id, "leaves revealed");
            }
            Phase::Disputed => self.play_dispute(id, job, &audit, (&leaves, &tree)).await?,
            Phase::AwaitingSample | Phase::AwaitingAttestations | Phase::AwaitingReveals => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metrics are kept as the module's bytes, whatever they are, and a `run.json` an earlier
    /// worker wrote with text metrics still reads.
    #[test]
    fn a_run_record_keeps_metrics_that_are_not_text_byte_for_byte() {
        let record = RunRecord {
            leaves: vec![(0, Hash([1; 32]), 5)],
            root: Hash([2; 32]),
            output: Hash([3; 32]),
            metrics: vec![0xff, 0xfe, 0x00, 0x80],
        };
        let json = serde_json::to_vec(&record).unwrap();
        let read: RunRecord = serde_json::from_slice(&json).unwrap();
        assert_eq!(read.metrics, [0xff, 0xfe, 0x00, 0x80]);
        let earlier = serde_json::json!({
            "leaves": [],
            "root": Hash([2; 32]),
            "output": Hash([3; 32]),
            "metrics": "{\"accuracy\":0.9}",
        });
        let read: RunRecord = serde_json::from_value(earlier).unwrap();
        assert_eq!(read.metrics, br#"{"accuracy":0.9}"#);
    }

    #[test]
    fn a_run_is_kept_only_if_its_pace_lands_the_commitment_before_the_deadline() {
        // 10 of 40 segments in 5 blocks: 15 more blocks and 3 to commit.
        assert!(
            !finishes_before(10, 40, 5, 100, 118),
            "18 blocks needed, 18 left"
        );
        assert!(finishes_before(10, 40, 5, 100, 119));
        // Done: only the commitment is left, which the cancellation's notice covers.
        assert!(finishes_before(40, 40, 5, 100, 101));
        // Nothing done yet: no pace to go by, so the run counts as one block a segment at best.
        assert!(!finishes_before(0, 40, 0, 100, 110));
        assert!(finishes_before(0, 2, 0, 100, 110));
        // Far past every bound: no overflow, no run kept.
        assert!(!finishes_before(
            1,
            u64::MAX,
            u64::MAX,
            u64::MAX - 1,
            u64::MAX
        ));
    }
}
