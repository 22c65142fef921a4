//! # agora-verifier
//!
//! The verifier's daemon (`agora verifier run` starts it with a [`VerifierConfig`]) and the
//! challenger (`agora challenge`): spot checks, the disputes their mismatches open, and open
//! challenges (`challenge.rs`; the daemon's `--watch-all` mode is `watch.rs`).
//!
//! It bonds stake and joins the verifier list, then watches the running spot checks
//! (`Verification::Audits`). For each check drawn for its account:
//!
//! - **attest**: once the worker has revealed the starts, take the run of consecutive sampled
//!   segments the check belongs to (the same verifiers check a whole run; only its first
//!   segment has a start revealed), fetch the module, dataset and that start state (segment 0
//!   starts from the job's `init`, computed here), re-execute the whole run with the engine,
//!   carrying the cumulative fuel from the start leaf, and commit to each leaf it produced:
//!   `attestation_hash(job, check, me, leaf, result, salt)` with a fresh random salt per check,
//!   where `result` is, for the job's last segment only, the blake3 of `export` and of `eval`
//!   of the final state it computed (the model and metrics the worker must have committed).
//!   Leaves, results and salts are written to disk *before* any commitment is sent, so a
//!   restart can still open them.
//! - **reveal**: once the worker has revealed its leaves, open the commitment.
//!
//! Nothing the worker says is trusted: the start state is checked against the hash the ledger
//! holds, and the verifier's leaf is its own re-execution.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use agora_client::blobs::fetch_blob;
use agora_client::chain::State;
use agora_client::daemon::{ensure_bonded, DaemonConfig, HeadWatch};
use agora_client::files::{read_json, write_atomic};
use agora_client::keys::Signer;
use agora_client::rpc::Rpc;
use agora_client::tx;
use agora_engine::{reexecute_run_keeping, Executor, JobInputs, RunSpec, Settings};
use agora_primitives::trace::TraceLeaf;
use agora_primitives::{AccountId, Balance, Hash};
use pallet_jobs::JobId;
use pallet_verification::{attestation_hash, sampling, Audit, FinalResult, Phase};
use rand::RngCore;
use serde::{Deserialize, Serialize};

mod challenge;
mod dispute;
mod error;
#[cfg(feature = "faults")]
pub mod faults;
mod watch;

pub use challenge::{challenge_job, ChallengeOutcome, Challenger, Replay};
pub use error::Error;

/// The verifier daemon's configuration.
#[derive(Debug, Clone)]
pub struct VerifierConfig {
    /// Account, node, state directory, module cache, polling.
    pub daemon: DaemonConfig,
    /// Stake to keep bonded (the registration minimum plus a bond per check).
    pub bond: Balance,
    /// Also watch every job (`--watch-all`): replay each committed job from its start and
    /// challenge any verified result the replay shows wrong.
    pub watch_all: bool,
    /// Jobs cheaper than this (clearing price per Mfuel) are not watched.
    pub watch_min_price: Balance,
    /// Ways to cheat, for tests (`--fault`).
    #[cfg(feature = "faults")]
    pub faults: Vec<faults::Fault>,
}

/// How a verifier's execution differs from this machine's own, standing in for another
/// machine in tests (faults `arm-nans`, `small-stack`); the default, nothing, is every real
/// verifier's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Machine {
    /// NaN canonicalization on: aarch64's NaN bits on an x86-64 machine.
    nan_canonicalization: bool,
    /// Three quarters of the native stack: a machine whose frames are larger.
    small_stack: bool,
}

impl Machine {
    fn apply(self, settings: &mut Settings) {
        settings.nan_canonicalization |= self.nan_canonicalization;
        if self.small_stack {
            settings.limits.max_wasm_stack = settings.limits.max_wasm_stack / 4 * 3;
        }
    }
}

/// A computed attestation, kept until it is revealed.
#[derive(Debug, Serialize, Deserialize)]
struct Attestation {
    leaf: (u64, Hash, u64),
    /// For the last segment: blake3 of the model and of the metrics computed from the final state.
    result: Option<(Hash, Hash)>,
    salt: [u8; 32],
}

impl Attestation {
    fn result(&self) -> Option<FinalResult> {
        self.result
            .map(|(output, metrics)| FinalResult { output, metrics })
    }

    fn leaf(&self) -> TraceLeaf {
        TraceLeaf {
            index: self.leaf.0,
            state_hash: self.leaf.1,
            fuel: self.leaf.2,
        }
    }
}

/// The leaves a verifier attests for segments `first..=last` when re-executing them ran past
/// the per-segment fuel bound: a zero state hash and `u64::MAX` fuel, which no trace within
/// the bound can hold.
fn over_bound_markers(first: u64, last: u64) -> Vec<TraceLeaf> {
    (first..=last)
        .map(|index| TraceLeaf {
            index,
            state_hash: Hash::ZERO,
            fuel: u64::MAX,
        })
        .collect()
}

/// The model and metrics a verifier attests when it could not compute them within the bound.
fn over_bound_result(ends_trace: bool) -> Option<(Hash, Hash)> {
    ends_trace.then_some((Hash::ZERO, Hash::ZERO))
}

/// A run of this verifier's consecutive sampled segments.
struct Run {
    first: u64,
    last: u64,
    /// The revealed start of `first` (`None` for segment 0).
    start: Option<TraceLeaf>,
    /// This verifier's checks by segment: index and revealed start.
    mine: BTreeMap<u64, (u32, Option<TraceLeaf>)>,
}

/// What the engine needs to re-execute part of a job, fetched and checked.
struct Inputs {
    settings: Settings,
    wasm: Vec<u8>,
    dataset: Vec<u8>,
    params: Vec<u8>,
    spec: RunSpec,
    /// The state before the run (`None`: computed with `init`).
    start_state: Option<Vec<u8>>,
}

impl Inputs {
    /// The job's bytes and plan, for re-running part of it on a blocking thread, and the start
    /// state (moved, not copied: a module and dataset are megabytes).
    fn into_owned(self) -> (agora_engine::OwnedJob, Option<Vec<u8>>) {
        let job = agora_engine::OwnedJob {
            settings: self.settings,
            wasm: self.wasm,
            params: self.params,
            dataset: self.dataset,
            spec: self.spec,
        };
        (job, self.start_state)
    }
}

/// A run of consecutive segments for a verifier to re-execute, with everything the engine needs.
struct Rerun {
    /// The job's inputs and the state before segment `first` (`None`: segment 0, computed
    /// with `init`).
    inputs: Inputs,
    /// The cumulative fuel before segment `first`.
    start_fuel: u64,
    first: u64,
    last: u64,
    /// Whether `last` is the job's last segment: then `export` and `eval` are checked too.
    ends_trace: bool,
    /// Where to keep the state after each segment of the run as `<k>.state` (the state before
    /// segment `k`), for a challenger's later bisection moves; `None`: kept nowhere.
    keep_states: Option<PathBuf>,
    /// Set by whoever no longer needs the run (a watcher whose job ended): it stops before the
    /// next segment, keeping nothing more ([`agora_engine::Error::Stopped`]). `None`: runs to
    /// its end.
    stop: Option<Arc<AtomicBool>>,
}

impl Rerun {
    /// The run's leaves and, when it ends the trace, the hashes of the model and metrics of the
    /// final state. A segment the module refuses (a trap, a start state it cannot decode, a
    /// call past the per-segment fuel bound) has its [`TraceLeaf::refusal`], which a trace
    /// that ends there commits too, and zero model and metrics; the segments after it, and a
    /// run whose `init` is refused, have markers no trace can match (an honest worker could
    /// not have committed such a run: a mismatch, whose dispute ends at the referee re-running
    /// the segment and being refused too). A refused `export` or `eval` is no model or empty
    /// metrics ([`agora_engine::JobResult`]), as an honest worker commits them.
    fn execute(self) -> Result<(Vec<TraceLeaf>, Option<(Hash, Hash)>), Error> {
        let (first, last, ends_trace) = (self.first, self.last, self.ends_trace);
        match self.compute() {
            Err(error) if error.is_refusal() => {
                tracing::warn!(
                    first,
                    last,
                    "re-execution refused: {error}; attesting markers"
                );
                Ok((
                    over_bound_markers(first, last),
                    over_bound_result(ends_trace),
                ))
            }
            other => Ok(other?),
        }
    }

    /// [`Rerun::execute`] without the bound's markers: every engine error as it is.
    fn compute(self) -> Result<(Vec<TraceLeaf>, Option<(Hash, Hash)>), agora_engine::Error> {
        let inputs = self.inputs;
        let executor = Executor::new(inputs.settings)?;
        let module = executor.load(&inputs.wasm)?;
        let (params, dataset) = (&inputs.params, &inputs.dataset);
        let start_state = match inputs.start_state {
            Some(bytes) => bytes,
            // Segment 0 starts from the job's own initial state, under the same bound.
            None => {
                executor
                    .init(&module, params, dataset, inputs.spec.seed)?
                    .bytes
            }
        };
        let (keep, stop) = (self.keep_states, self.stop);
        let ran = reexecute_run_keeping(
            &executor,
            &module,
            JobInputs { params, dataset },
            inputs.spec,
            (self.first, self.last - self.first + 1),
            (&start_state, self.start_fuel),
            |k, bytes| {
                if stop
                    .as_ref()
                    .is_some_and(|stop| stop.load(Ordering::Acquire))
                {
                    return Err(agora_engine::Error::Stopped { segments: k });
                }
                if let Some(dir) = &keep {
                    // An optimisation only: without it a move re-runs from `init`.
                    if let Err(error) = write_atomic(&checkpoint_path(dir, k), bytes) {
                        tracing::warn!(k, "could not keep a replayed state: {error}");
                    }
                }
                Ok(())
            },
        )?;
        let mut leaves = ran.leaves;
        if let Some(refusal) = ran.refused {
            // The refused segment's leaf is its refusal marker, which a trace that ends there
            // committed too; no segment after it ran.
            tracing::warn!(
                segment = refusal.segment,
                "re-execution refused: {}",
                refusal.error
            );
            if refusal.segment < self.last {
                leaves.extend(over_bound_markers(
                    refusal.segment.saturating_add(1),
                    self.last,
                ));
            }
            return Ok((leaves, over_bound_result(self.ends_trace)));
        }
        let end_state = ran.end_state;
        let result = if self.ends_trace {
            // A refused `export` or `eval` is no model or empty metrics, as the worker commits.
            let result = executor.job_result(&module, params, dataset, &end_state)?;
            Some((result.output(), Hash::of(&result.metrics)))
        } else {
            None
        };
        Ok((leaves, result))
    }
}

/// Where [`Rerun::keep_states`] keeps the state before segment `k`.
fn checkpoint_path(dir: &std::path::Path, k: u64) -> PathBuf {
    dir.join(format!("{k}.state"))
}

/// Everything the engine needs to re-execute `job` from `start` (a trace leaf whose state the
/// node holds; `None`: from `init`), fetched from the node into `dir/blobs` and checked by hash.
async fn fetch_inputs(
    rpc: &Rpc,
    dir: &std::path::Path,
    module_cache: Option<PathBuf>,
    job: &pallet_jobs::Job,
    start: Option<TraceLeaf>,
) -> Result<Inputs, Error> {
    let blobs = dir.join("blobs");
    let wasm = fetch_blob(rpc, &blobs, job.spec.module).await?;
    let dataset = fetch_blob(rpc, &blobs, job.spec.dataset).await?;
    let start_state = match start {
        Some(leaf) => Some(fetch_blob(rpc, &blobs, leaf.state_hash).await?),
        None => None,
    };
    let spec = RunSpec::from_ledger(
        job.spec.seed,
        job.spec.steps,
        job.spec.segment_steps,
        job.terms.max_fuel,
    )?;
    // Every call within the chain's bounds, as the worker's engine ran it.
    let settings = Settings::within_bounds(module_cache, &agora_runtime::verification::CALL_BOUNDS);
    Ok(Inputs {
        settings,
        wasm,
        dataset,
        params: job.spec.params.clone(),
        spec,
        start_state,
    })
}

/// Runs the verifier daemon until the process is stopped.
pub async fn run_verifier(config: VerifierConfig) -> Result<(), Error> {
    let signer = config.daemon.signer.clone();
    let me = config.daemon.account();
    let rpc = Rpc::connect(&config.daemon.rpc_url).await?;
    let dir = config.daemon.chain_dir(&rpc).await?;
    tracing::info!(account = %me, dir = %dir.display(), "verifier starting");
    if let Some(amount) = ensure_bonded(&rpc, &signer, config.bond).await? {
        tracing::info!(amount = %agora_client::amount::format_agr(amount), "stake bonded");
    }
    if !State::best(&rpc).verifiers().await?.contains(&me) {
        let call =
            agora_runtime::RuntimeCall::Verification(pallet_verification::Call::RegisterVerifier);
        tx::send(
            &rpc,
            &signer,
            call,
            "verifier registration",
            tx::DEFAULT_TIMEOUT,
        )
        .await?;
        tracing::info!("registered as a verifier");
    }
    let daemon = Verifier {
        rpc,
        signer,
        me,
        config,
        dir,
        watched: tokio::sync::Mutex::new(BTreeMap::new()),
        reopened: tokio::sync::Mutex::new(BTreeMap::new()),
        head: HeadWatch::default(),
    };
    loop {
        if let Err(error) = daemon.tick().await {
            tracing::warn!("{error}");
        }
        tokio::time::sleep(daemon.config.daemon.poll).await;
    }
}

struct Verifier {
    rpc: Rpc,
    signer: Signer,
    me: AccountId,
    config: VerifierConfig,
    dir: PathBuf,
    /// Jobs replayed by the watcher (`--watch-all`), until they end (locked by one tick at a
    /// time).
    watched: tokio::sync::Mutex<BTreeMap<JobId, watch::Watched>>,
    /// Replays for this verifier's disputes reopened from the job's start, until they end.
    reopened: tokio::sync::Mutex<BTreeMap<JobId, dispute::Reopened>>,
    /// Whether the node's finalized chain keeps up with the clock.
    head: HeadWatch,
}

impl Verifier {
    fn attestation_path(&self, job: JobId, check: u32) -> PathBuf {
        self.dir
            .join("attestations")
            .join(format!("{job}-{check}.json"))
    }

    /// The attestation of check `check` of job `id` on disk: written before its commitment was
    /// sent, so its absence is an error.
    fn stored_attestation(&self, id: JobId, check: u32) -> Result<Attestation, Error> {
        let path = self.attestation_path(id, check);
        read_json(&path)?.ok_or(Error::MissingAttestation {
            job: id,
            check,
            path,
        })
    }

    async fn tick(&self) -> Result<(), Error> {
        let state = State::finalized(&self.rpc).await?;
        self.head.check(&state).await;
        let audits = state.audits().await?;
        for (job, audit) in &audits {
            for (index, check) in audit.checks.iter().enumerate() {
                if check.verifier != self.me || check.outcome.is_some() {
                    continue;
                }
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                let result = match (audit.phase, check.attestation) {
                    (Phase::AwaitingAttestations, None) => {
                        self.attest(&state, *job, audit, index).await
                    }
                    (Phase::AwaitingReveals, Some(_)) => self.reveal(*job, index).await,
                    _ => Ok(()),
                };
                if let Err(error) = result {
                    tracing::warn!(job, check = index, "{error}");
                }
            }
        }
        for (job, audit) in &audits {
            if audit.phase == Phase::Disputed {
                if let Err(error) = self.answer_dispute(&state, *job, audit).await {
                    tracing::warn!(job, "{error}");
                }
            }
        }
        self.forget_reopened(&audits).await;
        if self.watching() {
            self.watch(&state).await?;
        }
        // Attestations of audits that ended are no longer needed.
        let live: std::collections::BTreeSet<JobId> = audits.iter().map(|(job, _)| *job).collect();
        if let Ok(entries) = std::fs::read_dir(self.dir.join("attestations")) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let job = name.split('-').next().and_then(|j| j.parse::<JobId>().ok());
                if job.is_some_and(|job| !live.contains(&job)) {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Commits to the leaf of check `check` of `audit`, re-executing its run first unless the
    /// attestation is already on disk.
    async fn attest(
        &self,
        state: &State<'_>,
        id: JobId,
        audit: &Audit,
        check: u32,
    ) -> Result<(), Error> {
        let attestation = match read_json(&self.attestation_path(id, check))? {
            Some(attestation) => attestation,
            #[cfg(feature = "faults")]
            None if self.config.faults.contains(&faults::Fault::Lazy) => {
                self.attest_lazily(id, audit, check)?
            }
            #[cfg(feature = "faults")]
            None if self.config.faults.contains(&faults::Fault::Copy) => {
                return self.attest_by_copying(id, audit, check).await;
            }
            None => {
                self.reexecute_run_of(state, id, audit, (check, u64::MAX))
                    .await?;
                self.stored_attestation(id, check)?
            }
        };
        #[cfg(feature = "faults")]
        if self
            .config
            .faults
            .contains(&faults::Fault::MissSegment(attestation.leaf.0))
        {
            tracing::warn!(job = id, check, "fault: attestation kept back");
            return Ok(());
        }
        let commitment = attestation_hash(
            id,
            check,
            &self.me,
            &attestation.leaf(),
            &attestation.result(),
            &attestation.salt,
        );
        self.send_attestation(id, check, commitment).await?;
        tracing::info!(job = id, check, segment = attestation.leaf.0, "attested");
        Ok(())
    }

    /// Sends the commitment `commitment` for check `check` of job `id`.
    async fn send_attestation(&self, id: JobId, check: u32, commitment: Hash) -> Result<(), Error> {
        let call = agora_runtime::RuntimeCall::Verification(pallet_verification::Call::Attest {
            job: id,
            check,
            commitment,
        });
        tx::send(
            &self.rpc,
            &self.signer,
            call,
            "attestation",
            tx::DEFAULT_TIMEOUT,
        )
        .await?;
        Ok(())
    }

    /// Re-executes the run of this verifier's consecutive checks that contains check `check`,
    /// from the run's revealed start (or `init`) to its end or segment `upto`, whichever comes
    /// first, and writes an attestation for each check re-executed to disk.
    async fn reexecute_run_of(
        &self,
        state: &State<'_>,
        id: JobId,
        audit: &Audit,
        (check, upto): (u32, u64),
    ) -> Result<(), Error> {
        let segment = audit
            .checks
            .get(usize::try_from(check).unwrap_or(usize::MAX))
            .map(|c| c.segment)
            .ok_or_else(|| Error::InvalidJob(format!("job #{id} has no check {check}")))?;
        let run = self.run_containing(id, audit, segment)?;
        let (first, last, mine) = (run.first, run.last.min(upto.max(segment)), run.mine);
        let inputs = self.inputs(state, id, run.start).await?;
        let start_fuel = run.start.map_or(0, |leaf| leaf.fuel);
        tracing::info!(job = id, first, last, "re-executing");
        // A run that ends the trace also checks the committed model and metrics.
        let ends_trace = last.saturating_add(1) == audit.segments;
        let rerun = Rerun {
            inputs,
            start_fuel,
            first,
            last,
            ends_trace,
            keep_states: None,
            stop: None,
        };
        let (leaves, result) = tokio::task::spawn_blocking(move || rerun.execute())
            .await
            .map_err(|e| Error::InvalidJob(format!("re-execution of job #{id} panicked: {e}")))??;
        for leaf in leaves {
            let Some((check, _)) = mine.get(&leaf.index) else {
                continue;
            };
            let path = self.attestation_path(id, *check);
            if read_json::<Attestation>(&path)?.is_some() {
                continue;
            }
            let mut salt = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut salt);
            let attestation = Attestation {
                leaf: (leaf.index, leaf.state_hash, leaf.fuel),
                result: result.filter(|_| leaf.index == last && ends_trace),
                salt,
            };
            // On disk before the commitment leaves: a restart must be able to open it.
            write_atomic(&path, &serde_json::to_vec(&attestation)?)?;
        }
        Ok(())
    }

    /// The run of this verifier's consecutive sampled segments that contains `segment` (the
    /// same runs the chain drew verifiers for), with its revealed start.
    fn run_containing(&self, id: JobId, audit: &Audit, segment: u64) -> Result<Run, Error> {
        // This verifier's checks by segment; a run is a stretch of consecutive segments.
        let mine: BTreeMap<u64, (u32, Option<TraceLeaf>)> = audit
            .checks
            .iter()
            .enumerate()
            .filter(|(_, c)| c.verifier == self.me)
            .map(|(i, c)| (c.segment, (u32::try_from(i).unwrap_or(u32::MAX), c.start)))
            .collect();
        let segments: Vec<u64> = mine.keys().copied().collect();
        let (first, last) = sampling::runs(&segments)
            .into_iter()
            .find(|(first, last)| (*first..=*last).contains(&segment))
            .ok_or_else(|| {
                Error::InvalidJob(format!("job #{id}: segment {segment} is not ours"))
            })?;
        let start = mine.get(&first).and_then(|(_, start)| *start);
        if first > 0 && start.is_none() {
            return Err(Error::InvalidJob(format!(
                "job #{id}: segment {first} starts a run but its start is not revealed"
            )));
        }
        Ok(Run {
            first,
            last,
            start,
            mine,
        })
    }

    /// Everything the engine needs to re-execute job `id` from `start` (the revealed start
    /// leaf of a run; `None`: from `init`), fetched from the node and checked by hash.
    async fn inputs(
        &self,
        state: &State<'_>,
        id: JobId,
        start: Option<TraceLeaf>,
    ) -> Result<Inputs, Error> {
        let job = state.job(id).await?.ok_or_else(|| {
            Error::InvalidJob(format!("job #{id} of a running audit is not on chain"))
        })?;
        let cache = self.config.daemon.module_cache_dir.clone();
        let mut inputs = fetch_inputs(&self.rpc, &self.dir, cache, &job, start).await?;
        self.machine().apply(&mut inputs.settings);
        Ok(inputs)
    }

    /// How this verifier's execution stands in for another machine's (the `arm-nans` and
    /// `small-stack` test faults); none without them.
    fn machine(&self) -> Machine {
        #[cfg(feature = "faults")]
        return Machine {
            nan_canonicalization: self.config.faults.contains(&faults::Fault::ArmNans),
            small_stack: self.config.faults.contains(&faults::Fault::SmallStack),
        };
        #[cfg(not(feature = "faults"))]
        Machine::default()
    }

    /// This verifier as a challenger: replaying jobs from their start and answering from the
    /// replay, executing as its checks do.
    fn challenger(&self) -> challenge::Challenger<'_> {
        challenge::Challenger::new(
            &self.rpc,
            &self.signer,
            &self.dir,
            self.config.daemon.module_cache_dir.clone(),
        )
        .with_machine(self.machine())
    }

    async fn reveal(&self, id: JobId, check: u32) -> Result<(), Error> {
        let attestation = self.stored_attestation(id, check)?;
        let call = agora_runtime::RuntimeCall::Verification(
            pallet_verification::Call::RevealAttestation {
                job: id,
                check,
                leaf: attestation.leaf(),
                result: attestation.result(),
                salt: attestation.salt,
            },
        );
        tx::send(
            &self.rpc,
            &self.signer,
            call,
            "attestation reveal",
            tx::DEFAULT_TIMEOUT,
        )
        .await?;
        tracing::info!(job = id, check, "attestation revealed");
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn repo_file(path: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The example MLP on digits in two segments of 6 steps, from its initial state.
    fn rerun(settings: Settings) -> Rerun {
        let wasm = repo_file("jobs/dist/mlp.wasm");
        let dataset = repo_file("datasets/digits.csv");
        let params = br#"{"hidden":[32],"epochs":1,"batch_size":128}"#.to_vec();
        Rerun {
            inputs: Inputs {
                settings,
                wasm,
                dataset,
                params,
                spec: RunSpec::from_ledger(7, 12, 6, RunSpec::UNBOUNDED).unwrap(),
                start_state: None,
            },
            start_fuel: 0,
            first: 0,
            last: 1,
            ends_trace: true,
            keep_states: None,
            stop: None,
        }
    }

    /// A replay that keeps its states writes the state before each later segment, named by
    /// the leaf before it, and a bisection midpoint computed from a kept state alone equals
    /// the one computed from `init` (what a challenger without them would do).
    #[test]
    fn a_kept_replay_state_gives_the_midpoints_of_its_segment_alone() {
        let cache = tempfile::tempdir().unwrap();
        let kept = tempfile::tempdir().unwrap();
        let settings = Settings::with_cache_dir(Some(cache.path().to_path_buf()));
        let mut replay = rerun(settings.clone());
        replay.keep_states = Some(kept.path().to_path_buf());
        let (leaves, _) = replay.execute().unwrap();
        let before_1 = std::fs::read(checkpoint_path(kept.path(), 1)).unwrap();
        assert_eq!(Hash::of(&before_1), leaves[0].state_hash);
        let after_2 = std::fs::read(checkpoint_path(kept.path(), 2)).unwrap();
        assert_eq!(
            Hash::of(&after_2),
            leaves[1].state_hash,
            "the run's end too"
        );
        assert!(
            !checkpoint_path(kept.path(), 0).exists(),
            "init's is recomputed"
        );
        let (job, _) = rerun(settings).inputs.into_owned();
        assert_eq!(
            job.state_within(1, Some(before_1), 1, 3).unwrap(),
            job.state_within(0, None, 1, 3).unwrap()
        );
    }

    /// A replay stopped by its owner (a watcher whose job ended) ends before its next segment
    /// with `Stopped`, never read as the module's refusal, and keeps no state after that; before,
    /// an aborted watcher's replay ran on in its blocking thread, past the bound of one at a
    /// time, writing states into a directory already removed.
    #[test]
    fn a_stopped_replay_ends_before_its_next_segment_and_keeps_nothing_more() {
        let kept = tempfile::tempdir().unwrap();
        let mut replay = rerun(Settings::default());
        replay.keep_states = Some(kept.path().to_path_buf());
        replay.stop = Some(Arc::new(AtomicBool::new(true)));
        let error = replay.execute().unwrap_err();
        assert!(
            matches!(error, Error::Engine(agora_engine::Error::Stopped { .. })),
            "{error}"
        );
        assert_eq!(std::fs::read_dir(kept.path()).unwrap().count(), 0);
    }

    /// Exploit 7 of issue 10, the verifier's side: a run whose segments need more fuel than
    /// the bound gives markers (attested, so the verifier does not miss and is not slashed)
    /// rather than an error; within the bound it gives the real leaves and result.
    #[test]
    fn a_run_past_the_fuel_bound_attests_markers_instead_of_missing() {
        // One compiled-module cache for every executor below: two compilations (one per
        // limits), not five.
        let cache = tempfile::tempdir().unwrap();
        let settings = Settings::with_cache_dir(Some(cache.path().to_path_buf()));
        let (leaves, result) = rerun(settings.clone()).execute().unwrap();
        assert_eq!(leaves.len(), 2);
        assert!(leaves.iter().all(|l| l.state_hash != Hash::ZERO));
        assert!(leaves[1].fuel > leaves[0].fuel, "cumulative: {leaves:?}");
        assert!(matches!(result, Some((model, _)) if model != Hash::ZERO));

        // A bound of half the first segment's fuel, from `init` (which needs more than that
        // here: markers no trace can hold) and from the initial state given (segment 0's
        // refusal leaf, then markers): never an error.
        let mut tight = settings.clone();
        tight.limits.max_fuel_per_call = leaves[0].fuel / 2;
        let executor = Executor::new(settings.clone()).unwrap();
        let job = rerun(settings);
        let module = executor.load(&job.inputs.wasm).unwrap();
        let initial = executor
            .init(
                &module,
                &job.inputs.params,
                &job.inputs.dataset,
                job.inputs.spec.seed,
            )
            .unwrap();
        let refused_at_0 = [vec![TraceLeaf::refusal(0, 0)], over_bound_markers(1, 1)].concat();
        for (start_state, expected) in [
            (None, over_bound_markers(0, 1)),
            (Some(initial.bytes), refused_at_0),
        ] {
            let mut tight_rerun = rerun(tight.clone());
            tight_rerun.inputs.start_state = start_state;
            let (markers, result) = tight_rerun.execute().unwrap();
            assert_eq!(markers, expected);
            assert_eq!(result, Some((Hash::ZERO, Hash::ZERO)));
        }
    }

    /// The rest of exploit 1 of issue 10, the verifier's side: a revealed start state that
    /// hashes right but that the module cannot decode makes the re-execution refused; the
    /// verifier attests the segment's refusal leaf and markers after it (a mismatch with any
    /// leaf the worker claims there, whose dispute the referee settles by re-running the
    /// segment and being refused too) instead of failing and being slashed as missed.
    #[test]
    fn a_start_state_the_module_refuses_attests_markers_instead_of_missing() {
        let cache = tempfile::tempdir().unwrap();
        let settings = Settings::with_cache_dir(Some(cache.path().to_path_buf()));
        let mut garbled = rerun(settings);
        garbled.inputs.start_state = Some(b"not a state of this module".to_vec());
        let (markers, result) = garbled.execute().unwrap();
        assert_eq!(markers[0], TraceLeaf::refusal(0, 0));
        assert_eq!(markers[1..], over_bound_markers(1, 1));
        assert_eq!(result, Some((Hash::ZERO, Hash::ZERO)));
    }
}
