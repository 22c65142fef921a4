//! The worker's side of a dispute (the game is specified in `pallet_verification`'s
//! `dispute.rs`): an honest worker always wins it, by telling the truth and making sure the
//! referee runs.
//!
//! - **Its move** (`Turn::Worker`): in a leaf bisection (an open challenge, a dispute reopened
//!   from the job's start, or a drawn check's from the last leaf its verifier vouched for), reveal the trace
//!   leaf asked for with its proof, from the run's trace on disk; in a step bisection, post the
//!   hash of its state after `mid` steps of the disputed segment, recomputed from the segment's
//!   checkpoint (the state before it, kept on disk since the run).
//! - **The referee's turn**: register and upload the agreed pre-state at once (its own state
//!   after `lo` steps; for a dispute over the model, the final state; over a segment's fuel,
//!   the state before the segment), so that every node's warmer decides the call ahead, then
//!   call the referee once the call opens. A referee call nobody makes counts against the
//!   worker, so the worker makes it, also when making the pre-state available failed (a node
//!   without it leaves the call out of its blocks; a call never made loses for certain).

use crate::{Error, Worker};
use agora_client::blobs::ensure_blob;
use agora_client::chain::State;
use agora_primitives::trace::{TraceLeaf, TraceTree};
use agora_primitives::Hash;
use pallet_jobs::{Job, JobId};
use pallet_verification::{Audit, Claim, Turn};

/// Most pre-states a worker remembers.
const MAX_PRE_STATES_REMEMBERED: usize = 1_024;

/// The referee pre-states a worker was asked for, by job and state.
pub(crate) type PreStates = std::collections::BTreeMap<(JobId, Hash), PreState>;

/// What a worker knows of a referee pre-state one of its jobs' disputes asked for (by job: a
/// state hash another job shares may be that job's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PreState {
    /// It registered and uploaded it.
    Ensured,
    /// Its own state there hashes otherwise: the referee will run from bytes it lacks.
    NotOurs,
}

impl Worker {
    /// Makes the worker's move in the dispute of `audit`, if one is due.
    pub(crate) async fn play_dispute(
        &self,
        id: JobId,
        job: &Job,
        audit: &Audit,
        (leaves, tree): (&[TraceLeaf], &TraceTree),
    ) -> Result<(), Error> {
        let Some(dispute) = &audit.dispute else {
            return Ok(());
        };
        let segment = dispute.segment;
        match (dispute.turn, &dispute.claim) {
            (Turn::Worker, Claim::Leaves(bisection)) => {
                let index = bisection.wanted();
                let leaf = leaves
                    .get(usize::try_from(index).unwrap_or(usize::MAX))
                    .copied()
                    .ok_or_else(|| Error::InvalidJob(format!("job #{id} has no leaf {index}")))?;
                let proof = tree.prove(index)?;
                let call = agora_runtime::RuntimeCall::Verification(
                    pallet_verification::Call::RevealLeaf {
                        job: id,
                        leaf,
                        proof,
                    },
                );
                self.send(call, "leaf reveal").await?;
                tracing::info!(job = id, leaf = index, "challenged leaf revealed");
            }
            (Turn::Worker, Claim::Steps(bisection)) => {
                let mid = bisection.mid();
                let state = Hash::of(&self.state_within(id, job, segment, mid).await?);
                let call =
                    agora_runtime::RuntimeCall::Verification(pallet_verification::Call::Bisect {
                        job: id,
                        state,
                    });
                self.send(call, "bisection move").await?;
                tracing::info!(job = id, segment, step = mid, %state, "midpoint posted");
            }
            (Turn::Referee, claim) => {
                // The pre-state first, as soon as the turn is the referee's, not when the call
                // opens: every node's warmer decides the call ahead once it holds the bytes,
                // and a segment's call opens only after the blocks the slowest node needs for
                // that. Registered at the opening, the bytes reached the nodes with the call,
                // whose builder then re-ran the whole segment inline. Made once per pre-state;
                // each tick after that, two reads check it is still registered and held.
                match self.ensure_pre_state(id, job, audit, segment, claim).await {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    // The call goes out all the same once it opens: a node that lacks the
                    // pre-state leaves the call out of its blocks (it is not refused), and a
                    // call nobody makes loses the dispute for certain. Tried again next tick.
                    Err(error) => {
                        tracing::warn!(job = id, "referee pre-state not made available: {error}")
                    }
                }
                // A call over a whole segment or an output opens only once every node has
                // decided it ahead;
                // one sent now is in the next block at the earliest.
                let best = State::best(&self.rpc);
                let (opens, now) = (best.referee_opens_at(id).await?, best.block_number().await?);
                if opens.is_some_and(|opens| now.saturating_add(1) < opens) {
                    tracing::debug!(
                        job = id,
                        ?opens,
                        now,
                        "waiting for the referee call to open"
                    );
                    return Ok(());
                }
                let call =
                    agora_runtime::RuntimeCall::Verification(pallet_verification::Call::Referee {
                        job: id,
                    });
                self.send(call, "referee call").await?;
                tracing::info!(job = id, segment, "referee called");
            }
            _ => {}
        }
        Ok(())
    }

    /// Registers and uploads the pre-state the referee of `audit`'s dispute (over `segment`,
    /// at the referee's turn over `claim`) runs from: its own state after `lo` steps; for a
    /// dispute over the model, the final state; over a segment's fuel, the state before the
    /// segment. Returns `false` if the referee's turn never comes for `claim` (a leaf
    /// bisection).
    async fn ensure_pre_state(
        &self,
        id: JobId,
        job: &Job,
        audit: &Audit,
        segment: u64,
        claim: &Claim,
    ) -> Result<bool, Error> {
        let hash = match claim {
            Claim::Steps(bisection) => bisection.lo_state,
            // The committed final state, which the referee exports and evaluates.
            Claim::Output => Some(
                job.commitment
                    .as_ref()
                    .map_or(Hash::ZERO, |c| c.final_state),
            ),
            Claim::Segment(claim) => claim.start.map(|start| start.state_hash),
            // The referee's turn never comes in a leaf bisection.
            Claim::Leaves(_) => return Ok(false),
        };
        let Some(hash) = hash else { return Ok(true) };
        // Each tick until the call opens would otherwise read (for a step, recompute) and hash
        // the state again. Two reads of the node say whether the pre-state is still registered
        // and held (a registration ends after the blob lifetime; a node may lose its store),
        // and only then is it made again.
        let known = self.lock_pre_states().get(&(id, hash)).copied();
        match known {
            Some(PreState::NotOurs) => return Ok(true),
            Some(PreState::Ensured) if self.still_available(hash).await? => return Ok(true),
            _ => {}
        }
        let bytes = match claim {
            Claim::Steps(bisection) => self.state_within(id, job, segment, bisection.lo).await?,
            Claim::Output => self.checkpoint(id, audit.segments)?,
            _ => self.checkpoint(id, segment)?,
        };
        let ours = Hash::of(&bytes) == hash;
        if ours {
            ensure_blob(&self.rpc, &self.signer, &bytes, "referee pre-state").await?;
        } else {
            // Not ours: the referee will run from bytes we do not have.
            tracing::warn!(job = id, %hash, "the agreed pre-state is not this worker's");
        }
        let mut remembered = self.lock_pre_states();
        // Bounded: forgetting them all costs each one more read of its state, no more.
        if remembered.len() >= MAX_PRE_STATES_REMEMBERED {
            remembered.clear();
        }
        let state = if ours {
            PreState::Ensured
        } else {
            PreState::NotOurs
        };
        remembered.insert((id, hash), state);
        Ok(true)
    }

    /// Whether blob `hash` is registered on chain (best block) and held by the node.
    async fn still_available(&self, hash: Hash) -> Result<bool, Error> {
        let registered = State::best(&self.rpc).blob(&hash).await?.is_some();
        Ok(registered && self.rpc.blob_has(hash).await?.stored)
    }

    fn lock_pre_states(&self) -> std::sync::MutexGuard<'_, PreStates> {
        self.pre_states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This worker's state after `steps` steps of `segment`, from the segment's checkpoint.
    async fn state_within(
        &self,
        id: JobId,
        job: &Job,
        segment: u64,
        steps: u32,
    ) -> Result<Vec<u8>, Error> {
        let start = self.checkpoint(id, segment)?;
        if steps == 0 {
            return Ok(start);
        }
        let owned = self.inputs(job).await?;
        let computed = tokio::task::spawn_blocking(move || {
            owned.state_within(segment, Some(start), segment, steps)
        })
        .await
        .map_err(|e| Error::InvalidJob(format!("job #{id}: a dispute step panicked: {e}")))??;
        Ok(computed)
    }
}
