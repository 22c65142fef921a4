//! The watcher (`agora verifier run --watch-all`): an honest third party that needs no luck in
//! the draw. It replays every committed job it did not work itself (at or above a minimum
//! price) from its start, once, and during the job's challenge window challenges whatever the
//! replay shows wrong (see `challenge.rs`), then plays the dispute to its end. A job it has
//! challenged once is not challenged again (if it lost, its replay was wrong and would be
//! again).
//!
//! Replays run one at a time, each in a task of its own (as a reopened dispute's does): a
//! replay from `init` of a long job takes as long as the job's run, and inside the daemon's
//! tick it held up this verifier's own drawn checks past their attestation window, for which it
//! was slashed as missed (found in review, 2026-12-04). A job is forgotten when it ends; a
//! replay still running then is told to stop (it ends before its next segment) and is
//! forgotten once it has, counting toward the one at a time until then.

use std::collections::BTreeSet;

use agora_client::chain::State;
use pallet_jobs::JobStatus;
use pallet_verification::ChallengeTarget;

use crate::challenge::Replay;
use crate::dispute::{forget_ended, ReplayTask};
use crate::{Error, Verifier};

/// A job the watcher replays.
pub(crate) enum Watched {
    /// Replaying in a task of its own ([`Verifier::spawn_replay`]).
    Replaying(ReplayTask),
    /// Replayed: what the watcher challenges and answers from.
    Replayed {
        replay: Replay,
        /// Whether this account has challenged it (once per job).
        challenged: bool,
    },
}

impl Watched {
    fn is_replaying(&self) -> bool {
        matches!(self, Watched::Replaying(task) if !task.is_finished())
    }

    /// Its replay, while that may still run.
    fn running(&self) -> Option<&ReplayTask> {
        match self {
            Watched::Replaying(task) => Some(task),
            Watched::Replayed { .. } => None,
        }
    }
}

impl Verifier {
    /// Whether this daemon watches every job: `--watch-all`, or the `false-challenge` fault
    /// (which needs replays to play its disputes).
    pub(crate) fn watching(&self) -> bool {
        self.config.watch_all || self.challenges_falsely()
    }

    /// Whether the `false-challenge` fault is on.
    fn challenges_falsely(&self) -> bool {
        #[cfg(feature = "faults")]
        return self
            .config
            .faults
            .contains(&crate::faults::Fault::FalseChallenge);
        #[cfg(not(feature = "faults"))]
        false
    }

    /// One look at every job: replay the new ones, challenge the wrong ones, play disputes.
    pub(crate) async fn watch(&self, state: &State<'_>) -> Result<(), Error> {
        let jobs = state.jobs().await?;
        let mut watched = self.watched.lock().await;
        let challenger = self.challenger();
        let mut live = BTreeSet::new();
        for (id, job) in &jobs {
            let (id, job) = (*id, job);
            let watchable = matches!(
                job.status,
                JobStatus::Committed { .. }
                    | JobStatus::Verified { .. }
                    | JobStatus::Challenged { .. }
            );
            if !watchable || job.worker == self.me || job.price < self.config.watch_min_price {
                continue;
            }
            let Some(commitment) = &job.commitment else {
                continue;
            };
            live.insert(id);
            if !watched.contains_key(&id) {
                // One replay at a time: each may use a core for as long as the job ran.
                if watched.values().any(Watched::is_replaying) {
                    continue;
                }
                let task = self.spawn_replay(challenger.replayer().clone(), id, job.clone());
                watched.insert(id, Watched::Replaying(task));
                continue;
            }
            if let Some(Watched::Replaying(task)) = watched.get(&id) {
                if !task.is_finished() {
                    continue;
                }
                let Some(Watched::Replaying(task)) = watched.remove(&id) else {
                    continue;
                };
                // A failed replay is dropped with its entry: a later look starts another.
                match task.finished().await {
                    Ok(replay) => {
                        let found = replay.disputes(commitment);
                        tracing::info!(job = id, wrong = ?found, "replayed");
                        let challenged = false;
                        watched.insert(id, Watched::Replayed { replay, challenged });
                    }
                    Err(error) => tracing::warn!(job = id, "replay failed: {error}"),
                }
            }
            let Some(Watched::Replayed { replay, challenged }) = watched.get_mut(&id) else {
                continue;
            };
            match &job.status {
                JobStatus::Verified { .. } if !*challenged => {
                    let last = ChallengeTarget::Leaf(commitment.segments.saturating_sub(1));
                    let target = replay
                        .disputes(commitment)
                        .or_else(|| self.challenges_falsely().then_some(last));
                    if let Some(target) = target {
                        match challenger.challenge(id, target).await {
                            Ok(()) => *challenged = true,
                            Err(error) => tracing::warn!(job = id, "challenge failed: {error}"),
                        }
                    }
                }
                JobStatus::Challenged {
                    challenger: who, ..
                } if *who == self.me => {
                    let played = match state.audit(id).await {
                        Ok(Some(audit)) => challenger.play(id, job, &audit, replay).await,
                        Ok(None) => Ok(()),
                        Err(error) => Err(error.into()),
                    };
                    if let Err(error) = played {
                        tracing::warn!(job = id, "{error}");
                    }
                }
                _ => {}
            }
        }
        forget_ended(&mut watched, &live, &challenger, Watched::running);
        Ok(())
    }
}
