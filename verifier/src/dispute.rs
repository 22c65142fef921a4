//! The verifier's side of a dispute it opened (its check mismatched; the game is specified in
//! `pallet_verification`'s `dispute.rs`).
//!
//! At each midpoint the worker posts, the verifier recomputes its own state after `mid` steps
//! of the disputed segment — from the start of the run it re-executed, as for its attestation —
//! and agrees exactly when the hashes are equal (a run the module refuses, as from a start
//! state it cannot decode, agrees with nothing). It does not call the referee: a referee call
//! nobody makes counts against the worker, so an honest challenger wins either way, and an
//! honest worker calls it itself.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::challenge::{self, Challenger, Replay, Replayer};
use crate::{Attestation, Error, Verifier};
use agora_client::chain::State;
use agora_client::files::read_json;
use agora_client::rpc::Rpc;
use agora_client::tx;
use agora_primitives::trace::TraceLeaf;
use agora_primitives::Hash;
use pallet_jobs::Job;
use pallet_jobs::JobId;
use pallet_verification::{Audit, Claim, Turn};

impl Verifier {
    /// Answers the worker's midpoint, if the dispute of `audit` waits for this verifier.
    pub(crate) async fn answer_dispute(
        &self,
        state: &State<'_>,
        id: JobId,
        audit: &Audit,
    ) -> Result<(), Error> {
        let Some(dispute) = &audit.dispute else {
            return Ok(());
        };
        if dispute.from_start() && dispute.check.is_some() && dispute.challenger == self.me {
            return self.answer_from_start(state, id, audit).await;
        }
        // Open challenges (no check) are played by the watcher (`watch.rs`).
        let ours = dispute.challenger == self.me && dispute.check.is_some();
        if let (Turn::Challenger, Claim::Leaves(leaves)) = (dispute.turn, &dispute.claim) {
            return match leaves.midpoint.filter(|_| ours) {
                Some(posted) => {
                    self.answer_run_leaf(state, id, audit, (posted, leaves.hi), leaves.fuel)
                        .await
                }
                None => Ok(()),
            };
        }
        let (Turn::Challenger, Claim::Steps(bisection)) = (dispute.turn, &dispute.claim) else {
            return Ok(());
        };
        let Some(posted) = bisection.midpoint.filter(|_| ours) else {
            return Ok(());
        };
        // A lazy verifier computed nothing to answer with.
        #[cfg(feature = "faults")]
        if self.config.faults.contains(&crate::faults::Fault::Lazy) {
            return Ok(());
        }
        let (segment, mid) = (dispute.segment, bisection.mid());
        let run = self.run_containing(id, audit, segment)?;
        let inputs = self.inputs(state, id, run.start).await?;
        let first = run.first;
        let (owned, start) = inputs.into_owned();
        let mine =
            tokio::task::spawn_blocking(move || owned.state_within(first, start, segment, mid))
                .await
                .map_err(|e| Error::InvalidJob(format!("job #{id}: a dispute step panicked: {e}")))?
                .map(|state| Hash::of(&state))
                .map_err(Error::from);
        // A state the module refuses to reach (it refused the start, or runs out of fuel) is
        // no state at all: disagree, so the bisection ends at the refused step, which the
        // referee runs and finds refused.
        let agree = match mine {
            Ok(mine) => mine == posted,
            Err(Error::Engine(error)) if error.is_refusal() => false,
            Err(error) => return Err(error),
        };
        self.send_answer(id, agree).await?;
        tracing::info!(job = id, segment, step = mid, agree, "midpoint answered");
        Ok(())
    }

    /// Answers the leaf `posted` the worker revealed in a dispute opened from the start of
    /// this verifier's run (its check of the segment before the disputed one did not match, so
    /// the pallet does not take the worker's leaf there as agreed): agrees exactly when its own
    /// leaf there is the same ([`challenge::agrees_with_leaf`]). Its own leaf is the one its
    /// attestation holds, from its re-execution of the run; if it has none (it lost its
    /// attestations, say), the run is re-executed now from its start to the disputed leaf
    /// `hi` — every later midpoint lies below it — within the window the pallet gives the
    /// first answer for that. (Inline in the daemon's tick: a run's re-execution, as an
    /// attestation's; the reopened dispute's replay of a whole job runs in a task of its own.)
    async fn answer_run_leaf(
        &self,
        state: &State<'_>,
        id: JobId,
        audit: &Audit,
        (posted, hi): (TraceLeaf, u64),
        fuel: bool,
    ) -> Result<(), Error> {
        // A lazy verifier computed nothing to answer with.
        #[cfg(feature = "faults")]
        if self.config.faults.contains(&crate::faults::Fault::Lazy) {
            return Ok(());
        }
        let run = self.run_containing(id, audit, posted.index)?;
        let (check, _) = run.mine.get(&posted.index).copied().ok_or_else(|| {
            Error::InvalidJob(format!("job #{id}: leaf {} is not ours", posted.index))
        })?;
        if read_json::<Attestation>(&self.attestation_path(id, check))?.is_none() {
            self.reexecute_run_of(state, id, audit, (check, hi)).await?;
        }
        let mine = self.stored_attestation(id, check)?.leaf();
        let agree = challenge::agrees_with_leaf(&mine, &posted, fuel);
        self.send_answer(id, agree).await?;
        tracing::info!(job = id, leaf = posted.index, agree, "run leaf answered");
        Ok(())
    }

    /// Sends this verifier's answer to the midpoint of job `id`'s dispute.
    async fn send_answer(&self, id: JobId, agree: bool) -> Result<(), Error> {
        let call = agora_runtime::RuntimeCall::Verification(pallet_verification::Call::Answer {
            job: id,
            agree,
        });
        tx::send(
            &self.rpc,
            &self.signer,
            call,
            "dispute answer",
            tx::DEFAULT_TIMEOUT,
        )
        .await?;
        Ok(())
    }

    /// Plays this verifier's dispute reopened from the job's start as an open challenger
    /// plays (`challenge.rs`): from its own replay of the job from `init`, started as soon as
    /// the dispute is reopened — the worker's first move gives it time too, and the pallet
    /// allows the first answer an attestation window per replayed segment. The replay runs in
    /// a task of its own, over a connection of its own: a long one must not hold up this
    /// verifier's other checks, whose windows do not wait.
    async fn answer_from_start(
        &self,
        state: &State<'_>,
        id: JobId,
        audit: &Audit,
    ) -> Result<(), Error> {
        // A lazy verifier computed nothing to answer with.
        #[cfg(feature = "faults")]
        if self.config.faults.contains(&crate::faults::Fault::Lazy) {
            return Ok(());
        }
        let job = state.job(id).await?.ok_or_else(|| {
            Error::InvalidJob(format!("job #{id} of a running dispute is not on chain"))
        })?;
        let challenger = self.challenger();
        let mut replays = self.reopened.lock().await;
        let finished = match replays.get(&id) {
            None => {
                tracing::info!(
                    job = id,
                    "dispute reopened from the start: replaying the job"
                );
                let task = self.spawn_replay(challenger.replayer().clone(), id, job.clone());
                replays.insert(id, Reopened::Replaying(task));
                return Ok(());
            }
            Some(Reopened::Replaying(task)) => task.is_finished(),
            Some(Reopened::Replayed(_)) => true,
        };
        if !finished {
            return Ok(());
        }
        if let Some(Reopened::Replaying(task)) = replays.remove(&id) {
            // A failed replay is dropped with its entry: the next tick starts another.
            let replay = task.finished().await?;
            replays.insert(id, Reopened::Replayed(replay));
        }
        let Some(Reopened::Replayed(replay)) = replays.get(&id) else {
            return Ok(());
        };
        challenger.play(id, &job, audit, replay).await
    }

    /// Replays job `id` in a task of its own, over a connection of its own to the same node.
    pub(crate) fn spawn_replay(&self, replayer: Replayer, id: JobId, job: Job) -> ReplayTask {
        let url = self.rpc.url().to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let task = tokio::spawn(async move {
            let rpc = Rpc::connect(&url)
                .await
                .map_err(agora_client::Error::from)?;
            replayer.replay(&rpc, id, &job, Some(stopping)).await
        });
        ReplayTask { id, task, stop }
    }

    /// Drops the replays of reopened disputes that are over (no longer in `audits` as a
    /// dispute of this verifier's reopened from the start).
    pub(crate) async fn forget_reopened(&self, audits: &[(JobId, Audit)]) {
        let live: BTreeSet<JobId> = audits
            .iter()
            .filter(|(_, audit)| {
                audit
                    .dispute
                    .as_ref()
                    .is_some_and(|d| d.from_start() && d.challenger == self.me)
            })
            .map(|(id, _)| *id)
            .collect();
        let mut reopened = self.reopened.lock().await;
        forget_ended(&mut reopened, &live, &self.challenger(), Reopened::running);
    }
}

/// Drops the entries of `replays` whose job is not in `live`, with what their replays kept on
/// disk. A replay still `running` is told to stop and kept until it has: what it keeps is
/// removed after its last write, and it counts toward the one replay at a time while it runs.
pub(crate) fn forget_ended<V>(
    replays: &mut BTreeMap<JobId, V>,
    live: &BTreeSet<JobId>,
    challenger: &Challenger<'_>,
    running: impl Fn(&V) -> Option<&ReplayTask>,
) {
    replays.retain(|id, entry| {
        if live.contains(id) || running(entry).is_some_and(|task| !task.stopped()) {
            return true;
        }
        challenger.forget(*id);
        false
    });
}

/// A replay for a dispute of this verifier's reopened from the job's start.
pub(crate) enum Reopened {
    /// Running in a task of its own.
    Replaying(ReplayTask),
    /// Done: what the verifier answers from.
    Replayed(Replay),
}

impl Reopened {
    /// Its replay, while that may still run.
    fn running(&self) -> Option<&ReplayTask> {
        match self {
            Reopened::Replaying(task) => Some(task),
            Reopened::Replayed(_) => None,
        }
    }
}

/// A replay running in a task of its own ([`Verifier::spawn_replay`]), which its owner can
/// stop: its re-run ends before its next segment. (Aborting the task alone would not stop
/// it: the re-run executes on a blocking thread, which runs on to the job's end.)
pub(crate) struct ReplayTask {
    id: JobId,
    task: tokio::task::JoinHandle<Result<Replay, Error>>,
    stop: Arc<AtomicBool>,
}

impl ReplayTask {
    /// Whether the replay has ended (done, failed or stopped).
    pub(crate) fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Tells the replay to stop; whether it has ended.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.store(true, Ordering::Release);
        self.task.is_finished()
    }

    /// The replay's outcome, waiting for it to end.
    pub(crate) async fn finished(self) -> Result<Replay, Error> {
        let id = self.id;
        self.task
            .await
            .map_err(|e| Error::InvalidJob(format!("the replay of job #{id} panicked: {e}")))?
    }
}
