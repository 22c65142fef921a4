//! `agora worker run`: the provider's daemon.
//!
//! It keeps an offer open (re-posting it when it expires or is cancelled), bonds the stake the
//! offer's collateral needs, and for every job assigned to its account:
//!
//! 1. fetches the module and dataset from the node (checked against their hashes);
//! 2. runs the job with the engine on a background thread (one run at a time; the loop keeps
//!    answering other jobs' reveals meanwhile), keeping every checkpoint (the state before each
//!    segment) on disk, and writes the run's trace last — a run is only "done" once its trace
//!    is on disk;
//! 3. registers and uploads the trained model, then commits the trace root, segment count, fuel
//!    and metrics;
//! 4. answers the spot check: reveals the sampled segments' start states (registering and
//!    uploading those checkpoints) and then the sampled leaves, each with its Merkle proof.
//!
//! **Restarts.** The ledger is the source of truth: on start the daemon re-reads its jobs'
//! status on chain and carries on from there; a job whose trace is on disk is never run again,
//! and a step already on chain is not submitted twice (the daemon waits for each transaction's
//! finality before it looks at the job again). The state directory keeps the next block to scan
//! for assignments and each job's files; a finished job's files are deleted.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agora_primitives::trace::{TraceLeaf, TraceTree};
use agora_primitives::{AccountId, BlockNumber, Hash};
use agora_verifier::{run, Executor, JobInputs, RunSpec, Settings};
use clap::Args;
use pallet_jobs::{Commitment, Job, JobId, JobStatus};
use pallet_verification::Phase;
use parity_scale_codec::Compact;
use serde::{Deserialize, Serialize};

use crate::chain::State;
use crate::cli::CliError;
use crate::keys::{Scheme, Signer};
use crate::market::{post_offer, EnergyArg, OfferArgs, TX_TIMEOUT};
use crate::rpc::{Event, Rpc};
use crate::tx;

/// What both daemons take.
#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// SURI of the daemon's account.
    #[arg(long, value_name = "SURI")]
    pub key: String,
    /// Signature scheme of the key.
    #[arg(long, value_enum, default_value = "sr25519")]
    pub scheme: Scheme,
    /// Where the daemon keeps its work across restarts (default:
    /// ~/.local/share/agora/<worker|verifier>-<address>).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Directory of the compiled-module cache.
    #[arg(long, value_name = "DIR", env = "AGORA_MODULE_CACHE")]
    pub cache_dir: Option<PathBuf>,
    /// Milliseconds between looks at the chain.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    pub poll_ms: u64,
}

impl DaemonArgs {
    /// The signer, its account and the state directory.
    pub(crate) fn open(&self, kind: &str) -> Result<(Signer, AccountId, PathBuf), CliError> {
        let signer = Signer::from_suri(&self.key, self.scheme)?;
        let me = signer.agora_account();
        let dir = self
            .state_dir
            .clone()
            .unwrap_or_else(|| default_state_dir(kind, &me));
        Ok((signer, me, dir))
    }

    /// Engine settings with the module cache.
    pub(crate) fn settings(&self) -> Settings {
        Settings {
            cache_dir: self
                .cache_dir
                .clone()
                .or_else(crate::job::default_cache_dir),
            ..Settings::default()
        }
    }
}

/// `agora worker run …`
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Account, state directory, module cache, polling.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// Ask in AGR per Mfuel.
    #[arg(long, value_name = "AGR", default_value = "0.001")]
    pub price: String,
    /// Most Mfuel of jobs in flight at once.
    #[arg(long, value_name = "MFUEL", default_value = "1000000")]
    pub capacity: String,
    /// Region of this machine.
    #[arg(long, value_name = "REGION", default_value = "local")]
    pub region: String,
    /// Energy source.
    #[arg(long, value_enum, default_value = "renewable")]
    pub energy: EnergyArg,
    /// Stake committed per job, AGR.
    #[arg(long, value_name = "AGR", default_value = "10")]
    pub collateral: String,
    /// Blocks each posted offer lives.
    #[arg(long, value_name = "BLOCKS", default_value_t = 100_000)]
    pub offer_blocks: u64,
    /// Stake to keep bonded, AGR (enough collateral for several jobs at once).
    #[arg(long, value_name = "AGR", default_value = "100")]
    pub bond: String,
}

/// Progress kept across restarts.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Progress {
    /// Next block to scan for assignments.
    next_block: BlockNumber,
    /// Jobs being worked on.
    jobs: BTreeSet<JobId>,
}

/// A finished run on disk (`run.json`), written after every checkpoint and output.
#[derive(Debug, Serialize, Deserialize)]
struct RunRecord {
    leaves: Vec<(u64, Hash, u64)>,
    root: Hash,
    output: Hash,
    metrics: String,
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

fn file_error(path: &Path, e: impl std::fmt::Display) -> CliError {
    CliError::File(format!("{}: {e}", path.display()))
}

/// Writes `bytes` to `path` atomically (temporary file, then rename).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_error(dir, e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(|e| file_error(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))
}

/// Default state directory of a daemon for `who`.
pub(crate) fn default_state_dir(kind: &str, who: &AccountId) -> PathBuf {
    let base = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    base.join(".local/share/agora")
        .join(format!("{kind}-{who}"))
}

/// The run of a job's spec as the engine wants it.
pub(crate) fn run_spec(job: &Job) -> Result<RunSpec, CliError> {
    let segment_steps = u32::try_from(job.spec.segment_steps).map_err(|_| {
        CliError::InvalidJob(format!(
            "segment length {} is too large",
            job.spec.segment_steps
        ))
    })?;
    Ok(RunSpec {
        seed: job.spec.seed,
        steps: job.spec.steps,
        segment_steps,
    })
}

/// Fetches a blob through a local cache directory (checked against its hash either way).
pub(crate) async fn fetch_blob(rpc: &Rpc, dir: &Path, hash: Hash) -> Result<Vec<u8>, CliError> {
    let path = dir.join(hash.to_hex());
    if let Ok(bytes) = std::fs::read(&path) {
        if Hash::of(&bytes) == hash {
            return Ok(bytes);
        }
    }
    let bytes = rpc.blob_get(hash).await?;
    write_atomic(&path, &bytes)?;
    Ok(bytes)
}

struct Worker {
    rpc: Rpc,
    signer: Signer,
    me: AccountId,
    args: WorkerArgs,
    offer: OfferArgs,
    dir: PathBuf,
    progress: Progress,
    /// The run in progress, if any: runs go one at a time on a blocking thread, so the daemon
    /// keeps answering other jobs' reveals (whose deadlines are a few blocks) meanwhile.
    running: Option<(JobId, tokio::task::JoinHandle<Result<RunRecord, CliError>>)>,
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
pub async fn run_worker(url: &str, args: WorkerArgs) -> Result<(), CliError> {
    let (signer, me, dir) = args.daemon.open("worker")?;
    let offer = OfferArgs {
        key: args.daemon.key.clone(),
        price: args.price.clone(),
        capacity: args.capacity.clone(),
        region: args.region.clone(),
        energy: args.energy,
        collateral: args.collateral.clone(),
        expires_in: args.offer_blocks,
        scheme: args.daemon.scheme,
    };
    offer.plan()?;
    let progress: Progress = match std::fs::read(dir.join("progress.json")) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|e| file_error(&dir.join("progress.json"), e))?
        }
        Err(_) => Progress::default(),
    };
    let rpc = Rpc::connect(url).await?;
    let mut worker = Worker {
        rpc,
        signer,
        me,
        args,
        offer,
        dir,
        progress,
        running: None,
    };
    tracing::info!(account = %worker.me, dir = %worker.dir.display(), "worker starting");
    worker.ensure_stake().await?;
    loop {
        if let Err(error) = worker.tick().await {
            // The daemon keeps running: a node restart, a refused transaction or a bad job
            // must not stop the other jobs.
            tracing::warn!("{error}");
        }
        tokio::time::sleep(Duration::from_millis(worker.args.daemon.poll_ms)).await;
    }
}

impl Worker {
    fn save(&self) -> Result<(), CliError> {
        write_atomic(
            &self.dir.join("progress.json"),
            &serde_json::to_vec_pretty(&self.progress)?,
        )
    }

    fn job_dir(&self, id: JobId) -> PathBuf {
        self.dir.join("jobs").join(id.to_string())
    }

    async fn ensure_stake(&self) -> Result<(), CliError> {
        let want = crate::amount::parse_agr(&self.args.bond)?;
        let ledger = State::best(&self.rpc).ledger(&self.me).await?;
        if ledger.active < want {
            let amount = want.saturating_sub(ledger.active);
            tracing::info!(amount = %crate::amount::format_agr(amount), "bonding stake");
            let call = agora_runtime::RuntimeCall::Staking(pallet_staking::Call::Bond {
                amount: Compact(amount),
            });
            tx::send(&self.rpc, &self.signer, call, "bond", TX_TIMEOUT).await?;
        }
        Ok(())
    }

    async fn ensure_offer(&self, state: &State<'_>) -> Result<(), CliError> {
        let open = state.open_offers().await?;
        if open.iter().any(|(_, offer)| offer.provider == self.me) {
            return Ok(());
        }
        let id = post_offer(&self.rpc, &self.signer, &self.offer.plan()?).await?;
        tracing::info!(offer = id, "offer posted");
        Ok(())
    }

    async fn tick(&mut self) -> Result<(), CliError> {
        self.reap_run().await;
        let head = self.rpc.finalized_head().await?;
        let state = State::at(&self.rpc, head);
        let number = state.block_number().await?;
        // New assignments, from the events of blocks not yet scanned (bounded per tick).
        let last = number.min(self.progress.next_block.saturating_add(500));
        for n in self.progress.next_block..=last {
            let Some(hash) = self.rpc.block_hash(n).await? else {
                break;
            };
            for record in self.rpc.events(hash).await? {
                if let Event::JobAssigned { job, worker } = record.event {
                    if worker == self.me && self.progress.jobs.insert(job) {
                        tracing::info!(job, block = n, "job assigned");
                    }
                }
            }
            self.progress.next_block = n.saturating_add(1);
        }
        self.save()?;
        self.ensure_offer(&state).await?;
        let jobs: Vec<JobId> = self.progress.jobs.iter().copied().collect();
        let mut forget = Vec::new();
        let mut to_run = None;
        for id in jobs {
            match self.advance(&state, number, id).await {
                Ok(Step::Forget) => forget.push(id),
                Ok(Step::Run(job)) => {
                    if to_run.is_none() {
                        to_run = Some((id, job));
                    }
                }
                Ok(Step::Wait) => {}
                Err(error) => tracing::warn!(job = id, "{error}"),
            }
        }
        for id in forget {
            self.forget(id)?;
        }
        if let (None, Some((id, job))) = (&self.running, to_run) {
            let handle = self.start_run(id, &job).await?;
            self.running = Some((id, handle));
        }
        Ok(())
    }

    /// Collects the run in progress if it has ended (its trace is then on disk, or it failed
    /// and will be started again).
    async fn reap_run(&mut self) {
        let finished = self
            .running
            .as_ref()
            .is_some_and(|(_, handle)| handle.is_finished());
        if !finished {
            return;
        }
        if let Some((id, handle)) = self.running.take() {
            match handle.await {
                Ok(Ok(record)) => tracing::info!(job = id, root = %record.root, "run finished"),
                Ok(Err(error)) => tracing::warn!(job = id, "the run failed: {error}"),
                Err(error) => tracing::warn!(job = id, "the run panicked: {error}"),
            }
        }
    }

    /// Takes the next step of job `id`.
    async fn advance(
        &self,
        state: &State<'_>,
        now: BlockNumber,
        id: JobId,
    ) -> Result<Step, CliError> {
        let Some(job) = state.job(id).await? else {
            // Pruned, or requeued after a missed deadline (the bid is back in the book).
            return Ok(Step::Forget);
        };
        if job.worker != self.me {
            return Ok(Step::Forget);
        }
        match &job.status {
            JobStatus::Assigned if now <= job.commit_by => {
                let Some(record) = self.finished_run(id)? else {
                    let running = self.running.as_ref().is_some_and(|(r, _)| *r == id);
                    return Ok(if running {
                        Step::Wait
                    } else {
                        Step::Run(Box::new(job))
                    });
                };
                let model = std::fs::read(self.job_dir(id).join("model.bpk"))
                    .map_err(|e| file_error(&self.job_dir(id).join("model.bpk"), e))?;
                crate::buyer::ensure_blob(&self.rpc, &self.signer, &model, "model registration")
                    .await?;
                let commitment = Commitment {
                    trace_root: record.root,
                    segments: u64::try_from(record.leaves.len()).unwrap_or(u64::MAX),
                    total_fuel: record.leaves.iter().map(|(_, _, fuel)| fuel).sum(),
                    output: record.output,
                    metrics: record.metrics.into_bytes(),
                };
                let call = agora_runtime::RuntimeCall::Jobs(pallet_jobs::Call::CommitResult {
                    job: id,
                    commitment,
                });
                let sent = tx::send(
                    &self.rpc,
                    &self.signer,
                    call,
                    "result commitment",
                    TX_TIMEOUT,
                )
                .await?;
                tracing::info!(
                    job = id,
                    block = sent.inclusion.block_number,
                    "result committed"
                );
            }
            JobStatus::Committed { .. } => self.answer_audit(state, id).await?,
            status if status.is_final() => {
                tracing::info!(job = id, "job ended: {}", serde_json::to_string(status)?);
                return Ok(Step::Forget);
            }
            _ => {}
        }
        Ok(Step::Wait)
    }

    fn forget(&mut self, id: JobId) -> Result<(), CliError> {
        self.progress.jobs.remove(&id);
        let dir = self.job_dir(id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| file_error(&dir, e))?;
        }
        self.save()
    }

    /// The job's finished run, if its trace is on disk.
    fn finished_run(&self, id: JobId) -> Result<Option<RunRecord>, CliError> {
        let record_path = self.job_dir(id).join("run.json");
        match std::fs::read(&record_path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).map_err(|e| file_error(&record_path, e))?,
            )),
            Err(_) => Ok(None),
        }
    }

    /// Fetches the job's module and dataset and starts its run on a blocking thread.
    async fn start_run(
        &self,
        id: JobId,
        job: &Job,
    ) -> Result<tokio::task::JoinHandle<Result<RunRecord, CliError>>, CliError> {
        let dir = self.job_dir(id);
        let blobs = self.dir.join("blobs");
        let wasm = fetch_blob(&self.rpc, &blobs, job.spec.module).await?;
        let dataset = fetch_blob(&self.rpc, &blobs, job.spec.dataset).await?;
        let spec = run_spec(job)?;
        let params = job.spec.params.clone();
        let settings = self.args.daemon.settings();
        tracing::info!(
            job = id,
            steps = spec.steps,
            segments = spec.segments(),
            "running"
        );
        let started = std::time::Instant::now();
        Ok(tokio::task::spawn_blocking(
            move || -> Result<RunRecord, CliError> {
                let executor = Executor::new(settings)?;
                let module = executor.load(&wasm)?;
                let inputs = JobInputs {
                    params: &params,
                    dataset: &dataset,
                };
                let mut write_error = None;
                let result = run(&executor, &module, inputs, spec, |index, bytes| {
                    if let Err(e) = write_atomic(&dir.join(format!("states/{index}.state")), bytes)
                    {
                        write_error = Some(e);
                    }
                    Ok(())
                })?;
                if let Some(e) = write_error {
                    return Err(e);
                }
                let eval = executor.eval(&module, &params, &dataset, &result.final_state)?;
                let export = executor.export(&module, &params, &dataset, &result.final_state)?;
                write_atomic(&dir.join("model.bpk"), &export.bytes)?;
                let record = RunRecord {
                    leaves: result
                        .leaves
                        .iter()
                        .map(|l| (l.index, l.state_hash, l.fuel))
                        .collect(),
                    root: result.tree.root(),
                    output: Hash::of(&export.bytes),
                    metrics: String::from_utf8_lossy(&eval.bytes).into_owned(),
                };
                // Last: its presence means every checkpoint and the model are on disk.
                write_atomic(&dir.join("run.json"), &serde_json::to_vec_pretty(&record)?)?;
                tracing::info!(
                    job = id,
                    seconds = started.elapsed().as_secs_f64(),
                    "run done"
                );
                Ok(record)
            },
        ))
    }

    async fn answer_audit(&self, state: &State<'_>, id: JobId) -> Result<(), CliError> {
        let Some(audit) = state.audit(id).await? else {
            return Ok(());
        };
        let dir = self.job_dir(id);
        let record_path = dir.join("run.json");
        let record: RunRecord = serde_json::from_slice(
            &std::fs::read(&record_path).map_err(|e| file_error(&record_path, e))?,
        )
        .map_err(|e| file_error(&record_path, e))?;
        let leaves = record.leaves();
        let tree = TraceTree::new(leaves.clone())?;
        let leaf = |i: u64| {
            leaves
                .get(usize::try_from(i).unwrap_or(usize::MAX))
                .copied()
                .ok_or_else(|| CliError::InvalidJob(format!("job #{id} has no leaf {i}")))
        };
        match audit.phase {
            Phase::AwaitingStarts => {
                let mut starts = Vec::with_capacity(audit.checks.len());
                for check in &audit.checks {
                    if check.segment == 0 {
                        starts.push(None);
                        continue;
                    }
                    // The state before segment s is checkpoint s (after segment s − 1).
                    let path = dir.join(format!("states/{}.state", check.segment));
                    let bytes = std::fs::read(&path).map_err(|e| file_error(&path, e))?;
                    crate::buyer::ensure_blob(
                        &self.rpc,
                        &self.signer,
                        &bytes,
                        "checkpoint registration",
                    )
                    .await?;
                    let previous = check.segment.saturating_sub(1);
                    starts.push(Some((leaf(previous)?, tree.prove(previous)?)));
                }
                let call = agora_runtime::RuntimeCall::Verification(
                    pallet_verification::Call::RevealStarts { job: id, starts },
                );
                tx::send(&self.rpc, &self.signer, call, "start reveal", TX_TIMEOUT).await?;
                tracing::info!(job = id, "start states revealed");
            }
            Phase::AwaitingLeaves => {
                let leaves = audit
                    .checks
                    .iter()
                    .map(|check| Ok((leaf(check.segment)?, tree.prove(check.segment)?)))
                    .collect::<Result<Vec<_>, CliError>>()?;
                let call = agora_runtime::RuntimeCall::Verification(
                    pallet_verification::Call::RevealLeaves { job: id, leaves },
                );
                tx::send(&self.rpc, &self.signer, call, "leaf reveal", TX_TIMEOUT).await?;
                tracing::info!(job = id, "leaves revealed");
            }
            Phase::AwaitingSample | Phase::AwaitingAttestations | Phase::AwaitingReveals => {}
        }
        Ok(())
    }
}
