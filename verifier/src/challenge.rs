//! Open challenges from the challenger's side (the game is specified in
//! `pallet_verification`'s `challenge.rs` and `dispute.rs`).
//!
//! A challenger does not take the worker's word for anything: it **replays** the whole job
//! from `init` with the engine (every segment, then `export` and `eval` of its final state)
//! and compares the result with the commitment. A different final state is challenged at the
//! last leaf (public since the commit); equal states but a different model or metrics, at the
//! output; equal states and results but a different bill, the fuel of the last leaf.
//!
//! In the dispute it **answers** each leaf the worker reveals with whether its own leaf there
//! has the same state (in a fuel challenge: the same state and cumulative fuel), and each
//! midpoint state inside the disputed segment with whether its own state after that many steps
//! is the same — recomputed from the state its replay kept before that segment, so that a move
//! costs at most one segment's re-execution. It does not call the referee: a referee call nobody
//! makes counts against the worker.

use std::path::{Path, PathBuf};

use agora_client::chain::State;
use agora_client::keys::Signer;
use agora_client::rpc::Rpc;
use agora_client::tx;
use agora_primitives::trace::TraceLeaf;
use agora_primitives::{AccountId, Balance, Hash};
use pallet_jobs::{Commitment, Job, JobId, JobStatus};
use pallet_verification::{Audit, ChallengeTarget, Claim, Turn};

use crate::{checkpoint_path, fetch_inputs, Error, Machine, Rerun};

/// A job re-executed from its start by the challenger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// Its own trace leaves, one per segment.
    pub leaves: Vec<TraceLeaf>,
    /// blake3 of `export` of its final state.
    pub output: Hash,
    /// blake3 of `eval` of its final state.
    pub metrics: Hash,
}

impl Replay {
    /// What of `commitment` this replay shows wrong, if anything: the last leaf's state, else
    /// the model and metrics, else the billed fuel (the last leaf's cumulative fuel). When
    /// either ends in a refusal, the commitment's last leaf against this replay's leaf there,
    /// challenged as fuel: its bisection compares whole leaves and ends at the referee
    /// re-running the first segment they differ in, which decides a refusal.
    pub fn disputes(&self, commitment: &Commitment) -> Option<ChallengeTarget> {
        let replay_refused = self.leaves.iter().any(TraceLeaf::is_refusal);
        if commitment.ends_in_refusal() || replay_refused {
            let index = commitment.segments.checked_sub(1)?;
            let committed = TraceLeaf {
                index,
                state_hash: commitment.final_state,
                fuel: commitment.total_fuel,
            };
            let mine = self.leaves.get(usize::try_from(index).ok()?);
            return (mine != Some(&committed)).then_some(ChallengeTarget::Fuel(index));
        }
        let last = self.leaves.last()?;
        if last.state_hash != commitment.final_state {
            Some(ChallengeTarget::Leaf(last.index))
        } else if self.output != commitment.output || self.metrics != Hash::of(&commitment.metrics)
        {
            Some(ChallengeTarget::Output)
        } else if last.fuel != commitment.total_fuel {
            Some(ChallengeTarget::Fuel(last.index))
        } else {
            None
        }
    }
}

/// Whether a challenger whose own leaf is `mine` agrees with the worker's `posted` leaf in a
/// leaf bisection: a bisection over fuel (`fuel`) is about the whole leaf; one over states only
/// its state (the step bisection that follows settles states alone).
pub(crate) fn agrees_with_leaf(mine: &TraceLeaf, posted: &TraceLeaf, fuel: bool) -> bool {
    if fuel {
        mine == posted
    } else {
        mine.state_hash == posted.state_hash
    }
}

/// How a challenger re-executes jobs: where fetched blobs and replayed states are kept, the
/// module cache, and the engine settings. Owned, so that a replay can run in a task of its own.
#[derive(Clone, Debug)]
pub(crate) struct Replayer {
    /// Where fetched blobs are kept (`<dir>/blobs`) and replays keep their states
    /// (`<dir>/replays/<job>`).
    dir: PathBuf,
    module_cache: Option<PathBuf>,
    /// How to execute as another machine would (test faults); nothing by default.
    machine: Machine,
}

impl Replayer {
    /// The inputs of job `job`, fetched through `rpc` (from `start` if given).
    async fn inputs(
        &self,
        rpc: &Rpc,
        job: &Job,
        start: Option<TraceLeaf>,
    ) -> Result<crate::Inputs, Error> {
        let cache = self.module_cache.clone();
        let mut inputs = fetch_inputs(rpc, &self.dir, cache, job, start).await?;
        self.machine.apply(&mut inputs.settings);
        Ok(inputs)
    }

    /// Re-executes job `id` from `init` to its model and metrics, fetching through `rpc`; a
    /// set `stop` ends it before its next segment (`agora_engine::Error::Stopped`).
    pub(crate) async fn replay(
        &self,
        rpc: &Rpc,
        id: JobId,
        job: &Job,
        stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<Replay, Error> {
        let inputs = self.inputs(rpc, job, None).await?;
        let segments = inputs.spec.segments();
        let rerun = Rerun {
            inputs,
            start_fuel: 0,
            first: 0,
            last: segments.saturating_sub(1),
            ends_trace: true,
            keep_states: Some(self.replay_dir(id)),
            stop,
        };
        tracing::info!(job = id, segments, "replaying the whole job");
        let (leaves, result) = tokio::task::spawn_blocking(move || rerun.execute())
            .await
            .map_err(|e| Error::InvalidJob(format!("the replay of job #{id} panicked: {e}")))??;
        let (output, metrics) = result.ok_or_else(|| {
            Error::InvalidJob(format!("the replay of job #{id} computed no model"))
        })?;
        Ok(Replay {
            leaves,
            output,
            metrics,
        })
    }

    /// Where the replay of job `id` keeps its states, one per segment boundary.
    fn replay_dir(&self, id: JobId) -> PathBuf {
        self.dir.join("replays").join(id.to_string())
    }

    /// Drops what the replay of job `id` kept on disk.
    pub(crate) fn forget(&self, id: JobId) {
        let dir = self.replay_dir(id);
        if let Err(error) = std::fs::remove_dir_all(&dir) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(job = id, "could not remove {}: {error}", dir.display());
            }
        }
    }
}

/// One account challenging jobs and playing their disputes through one node.
pub struct Challenger<'a> {
    rpc: &'a Rpc,
    signer: &'a Signer,
    me: AccountId,
    replayer: Replayer,
}

impl<'a> Challenger<'a> {
    /// A challenger signing with `signer`, keeping blobs under `dir`.
    pub fn new(
        rpc: &'a Rpc,
        signer: &'a Signer,
        dir: &Path,
        module_cache: Option<PathBuf>,
    ) -> Self {
        Challenger {
            rpc,
            signer,
            me: signer.agora_account(),
            replayer: Replayer {
                dir: dir.to_path_buf(),
                module_cache,
                machine: Machine::default(),
            },
        }
    }

    /// This challenger, executing as `machine` (a test fault's stand-in for another machine).
    pub(crate) fn with_machine(mut self, machine: Machine) -> Self {
        self.replayer.machine = machine;
        self
    }

    /// How this challenger re-executes jobs.
    pub(crate) fn replayer(&self) -> &Replayer {
        &self.replayer
    }

    /// Re-executes job `id` from `init` to its model and metrics.
    pub async fn replay(&self, id: JobId, job: &Job) -> Result<Replay, Error> {
        self.replayer.replay(self.rpc, id, job, None).await
    }

    /// Drops what the replay of job `id` kept on disk (its dispute is over, or it is no longer
    /// challengeable).
    pub fn forget(&self, id: JobId) {
        self.replayer.forget(id);
    }

    /// Challenges job `id` at `target`, committing the challenge bond.
    pub async fn challenge(&self, id: JobId, target: ChallengeTarget) -> Result<(), Error> {
        let call = agora_runtime::RuntimeCall::Verification(pallet_verification::Call::Challenge {
            job: id,
            target,
        });
        tx::send(
            self.rpc,
            self.signer,
            call,
            "challenge",
            tx::DEFAULT_TIMEOUT,
        )
        .await?;
        tracing::info!(job = id, ?target, "challenged");
        Ok(())
    }

    /// Answers the worker's last move in the dispute of `audit`, if it waits for this account.
    pub async fn play(
        &self,
        id: JobId,
        job: &Job,
        audit: &Audit,
        replay: &Replay,
    ) -> Result<(), Error> {
        let Some(dispute) = &audit.dispute else {
            return Ok(());
        };
        if dispute.challenger != self.me || dispute.turn != Turn::Challenger {
            return Ok(());
        }
        let agree = match &dispute.claim {
            Claim::Leaves(leaves) => {
                let Some(posted) = leaves.midpoint else {
                    return Ok(());
                };
                let mine = replay
                    .leaves
                    .get(usize::try_from(posted.index).unwrap_or(usize::MAX))
                    .ok_or_else(|| {
                        Error::InvalidJob(format!("job #{id} has no leaf {}", posted.index))
                    })?;
                agrees_with_leaf(mine, &posted, leaves.fuel)
            }
            Claim::Steps(bisection) => {
                let Some(posted) = bisection.midpoint else {
                    return Ok(());
                };
                // A state the module refuses to reach agrees with nothing (as in `dispute.rs`).
                match self
                    .state_within(id, job, replay, dispute.segment, bisection.mid())
                    .await
                {
                    Ok(mine) => Hash::of(&mine) == posted,
                    Err(Error::Engine(error)) if error.is_refusal() => false,
                    Err(error) => return Err(error),
                }
            }
            Claim::Output | Claim::Segment(_) => return Ok(()),
        };
        let call = agora_runtime::RuntimeCall::Verification(pallet_verification::Call::Answer {
            job: id,
            agree,
        });
        tx::send(
            self.rpc,
            self.signer,
            call,
            "dispute answer",
            tx::DEFAULT_TIMEOUT,
        )
        .await?;
        tracing::info!(job = id, round = dispute.round, agree, "challenge answered");
        Ok(())
    }

    /// This account's state after `steps` steps of `segment` of job `id`: from the state its
    /// replay kept before the segment (checked against its own leaf), so that a move costs at
    /// most one segment's re-execution, as `MOVE_BLOCKS` is sized for; from `init` if the
    /// replay kept none.
    async fn state_within(
        &self,
        id: JobId,
        job: &Job,
        replay: &Replay,
        segment: u64,
        steps: u32,
    ) -> Result<Vec<u8>, Error> {
        let inputs = self.replayer.inputs(self.rpc, job, None).await?;
        let (owned, _) = inputs.into_owned();
        let kept = segment
            .checked_sub(1)
            .and_then(|before| replay.leaves.get(usize::try_from(before).ok()?))
            .and_then(|leaf| {
                let dir = self.replayer.replay_dir(id);
                let bytes = std::fs::read(checkpoint_path(&dir, segment)).ok()?;
                (Hash::of(&bytes) == leaf.state_hash).then_some(bytes)
            });
        let from = if kept.is_some() { segment } else { 0 };
        Ok(
            tokio::task::spawn_blocking(move || owned.state_within(from, kept, segment, steps))
                .await
                .map_err(|e| Error::InvalidJob(format!("a dispute step panicked: {e}")))??,
        )
    }
}

/// How a challenge ended, for `agora challenge`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeOutcome {
    /// The worker lost: its collateral was slashed, part of it paid to the challenger.
    Won {
        /// Paid to the challenger out of the collateral.
        rewarded: Balance,
        /// Repaid to whoever called the referee.
        repaid: Balance,
        /// Burned.
        burned: Balance,
    },
    /// The challenger lost its bond.
    Lost {
        /// Paid to the worker out of the bond.
        rewarded: Balance,
        /// Repaid to whoever called the referee.
        repaid: Balance,
        /// Burned.
        burned: Balance,
    },
    /// The referee could not decide; the bond was released.
    Dismissed,
}

/// Challenges job `id` at `target` and plays the dispute to its end, polling every `poll`.
/// Refuses (before any bond is at stake) a challenge that this account's own replay of the job
/// does not support: a last leaf or an output that the replay agrees with.
pub async fn challenge_job(
    challenger: &Challenger<'_>,
    id: JobId,
    target: ChallengeTarget,
    poll: std::time::Duration,
) -> Result<ChallengeOutcome, Error> {
    let job = State::best(challenger.rpc)
        .job(id)
        .await?
        .ok_or_else(|| Error::InvalidJob(format!("job #{id} is not on chain")))?;
    let commitment = job
        .commitment
        .clone()
        .ok_or_else(|| Error::InvalidJob(format!("job #{id} has no committed result yet")))?;
    let replay = challenger.replay(id, &job).await?;
    let last = commitment.segments.saturating_sub(1);
    let supported = match target {
        ChallengeTarget::Leaf(index) | ChallengeTarget::Fuel(index) if index == last => {
            replay.disputes(&commitment) == Some(target)
        }
        // A leaf the commitment does not show: only the dispute reveals it.
        ChallengeTarget::Leaf(_) | ChallengeTarget::Fuel(_) => true,
        ChallengeTarget::Output => replay.disputes(&commitment) == Some(ChallengeTarget::Output),
    };
    if !supported {
        return Err(Error::InvalidJob(format!(
            "job #{id}: this account's replay agrees with the committed {}; a challenge would lose its bond",
            match target {
                ChallengeTarget::Leaf(_) => "final state",
                ChallengeTarget::Fuel(_) => "final state and fuel",
                ChallengeTarget::Output => "model and metrics",
            }
        )));
    }
    challenger.challenge(id, target).await?;
    // Bounded by the dispute's own deadlines: each move is due within MOVE_BLOCKS (the
    // referee's turn a fifth of one after its call opens, behind the chain's re-run queue) and
    // rounds are logarithmic; the loop ends when the audit does.
    loop {
        tokio::time::sleep(poll).await;
        // One finalized block for both reads: read at the best block, the dispute could end
        // between them and a stale status be taken for its outcome.
        let state = State::finalized(challenger.rpc).await?;
        let job = state
            .job(id)
            .await?
            .ok_or_else(|| Error::InvalidJob(format!("job #{id} was pruned mid-dispute")))?;
        match state.audit(id).await? {
            Some(audit) => {
                if let Err(error) = challenger.play(id, &job, &audit, &replay).await {
                    tracing::warn!(job = id, "{error}");
                }
            }
            None => {
                if let Some(outcome) = outcome(challenger.me, &job) {
                    challenger.forget(id);
                    return Ok(outcome);
                }
            }
        }
    }
}

/// What a finished dispute came to for challenger `me`, from the job's status; `None` while
/// the status does not show the dispute's end yet (still `Challenged`).
fn outcome(me: AccountId, job: &Job) -> Option<ChallengeOutcome> {
    let refuted = match &job.status {
        JobStatus::DisputeLost {
            rewarded,
            repaid,
            burned,
            ..
        } => {
            return Some(ChallengeOutcome::Won {
                rewarded: *rewarded,
                repaid: *repaid,
                burned: *burned,
            })
        }
        JobStatus::Verified { refuted, .. } => refuted.as_slice(),
        JobStatus::Settled { receipt } => receipt.refuted.as_slice(),
        _ => return None,
    };
    Some(match refuted.iter().rev().find(|r| r.verifier == me) {
        Some(r) => ChallengeOutcome::Lost {
            rewarded: r.rewarded,
            repaid: r.repaid,
            burned: r.burned,
        },
        None => ChallengeOutcome::Dismissed,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn leaf(index: u64, state: u8, fuel: u64) -> TraceLeaf {
        TraceLeaf {
            index,
            state_hash: Hash([state; 32]),
            fuel,
        }
    }

    /// A state bisection agrees with a leaf of the same state whatever its fuel says; a fuel
    /// bisection only with the same leaf.
    #[test]
    fn a_fuel_bisection_agrees_only_with_the_whole_leaf() {
        let mine = leaf(3, 7, 40);
        assert!(agrees_with_leaf(&mine, &mine, true));
        assert!(agrees_with_leaf(&mine, &leaf(3, 7, 41), false));
        assert!(!agrees_with_leaf(&mine, &leaf(3, 7, 41), true));
        assert!(!agrees_with_leaf(&mine, &leaf(3, 8, 40), false));
        assert!(!agrees_with_leaf(&mine, &leaf(3, 8, 40), true));
    }

    fn replay() -> Replay {
        Replay {
            leaves: vec![leaf(0, 1, 10), leaf(1, 2, 20)],
            output: Hash([9; 32]),
            metrics: Hash::of(b"{}"),
        }
    }

    fn commitment(final_state: u8, total_fuel: u64, output: u8) -> Commitment {
        Commitment {
            trace_root: Hash::ZERO,
            segments: 2,
            final_state: Hash([final_state; 32]),
            total_fuel,
            heaviest_segment: 1,
            heaviest_fuel: total_fuel,
            output: Hash([output; 32]),
            metrics: b"{}".to_vec(),
        }
    }

    #[test]
    fn a_replay_challenges_the_final_state_first_then_the_output_then_the_fuel() {
        let replay = replay();
        assert_eq!(replay.disputes(&commitment(2, 20, 9)), None, "all agree");
        assert_eq!(
            replay.disputes(&commitment(7, 20, 8)),
            Some(ChallengeTarget::Leaf(1)),
            "a different final state is the last leaf's"
        );
        assert_eq!(
            replay.disputes(&commitment(2, 20, 8)),
            Some(ChallengeTarget::Output)
        );
        assert_eq!(
            replay.disputes(&commitment(2, 99, 9)),
            Some(ChallengeTarget::Fuel(1)),
            "a bill other than the replay's last cumulative fuel"
        );
        assert_eq!(
            replay.disputes(&commitment(7, 99, 8)),
            Some(ChallengeTarget::Leaf(1)),
            "the state first: its dispute is settled step by step"
        );
    }

    /// A trace that ends in a refusal, the commitment's or the replay's, is compared leaf to
    /// leaf at the commitment's last and challenged as fuel (whole leaves, then the segment
    /// re-run that decides a refusal), never at the output, which a refused trace lacks.
    #[test]
    fn a_refusal_on_either_side_is_challenged_at_the_commitments_last_leaf_as_fuel() {
        let refused = Commitment {
            segments: 2,
            final_state: Hash::ZERO,
            total_fuel: 10,
            output: Hash::ZERO,
            metrics: Vec::new(),
            ..commitment(0, 0, 0)
        };
        let refused_too = Replay {
            leaves: vec![
                leaf(0, 1, 10),
                TraceLeaf::refusal(1, 10),
                leaf(2, 0, u64::MAX),
            ],
            output: Hash::ZERO,
            metrics: Hash::ZERO,
        };
        assert_eq!(refused_too.disputes(&refused), None, "the same refusal");
        assert_eq!(
            replay().disputes(&refused),
            Some(ChallengeTarget::Fuel(1)),
            "segment 1 runs here: a false refusal"
        );
        assert_eq!(
            refused_too.disputes(&Commitment {
                segments: 3,
                ..commitment(3, 30, 9)
            }),
            Some(ChallengeTarget::Fuel(2)),
            "refused here: a trace that claims to go on"
        );
    }
}
