//! The watcher (`agora verifier run --watch-all`): an honest third party that needs no luck in
//! the draw. It replays every committed job it did not work itself (at or above a minimum
//! price) from its start, once, and during the job's challenge window challenges whatever the
//! replay shows wrong (see `challenge.rs`), then plays the dispute to its end. A job it has
//! challenged once is not challenged again (if it lost, its replay was wrong and would be
//! again).
//!
//! Replays run one at a time, inside the daemon's tick; a job is forgotten when it ends.

use std::collections::BTreeSet;

use agora_client::chain::State;
use pallet_jobs::JobStatus;
use pallet_verification::ChallengeTarget;

use crate::challenge::Replay;
use crate::{Error, Verifier};

/// A job the watcher replayed.
pub(crate) struct Watched {
    replay: Replay,
    /// Whether this account has challenged it (once per job).
    challenged: bool,
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
                match challenger.replay(id, job).await {
                    Ok(replay) => {
                        let found = replay.disputes(commitment);
                        tracing::info!(job = id, wrong = ?found, "replayed");
                        watched.insert(
                            id,
                            Watched {
                                replay,
                                challenged: false,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::warn!(job = id, "replay failed: {error}");
                        continue;
                    }
                }
            }
            let Some(entry) = watched.get_mut(&id) else {
                continue;
            };
            match &job.status {
                JobStatus::Verified { .. } if !entry.challenged => {
                    let last = ChallengeTarget::Leaf(commitment.segments.saturating_sub(1));
                    let target = entry
                        .replay
                        .disputes(commitment)
                        .or_else(|| self.challenges_falsely().then_some(last));
                    if let Some(target) = target {
                        match challenger.challenge(id, target).await {
                            Ok(()) => entry.challenged = true,
                            Err(error) => tracing::warn!(job = id, "challenge failed: {error}"),
                        }
                    }
                }
                JobStatus::Challenged {
                    challenger: who, ..
                } if *who == self.me => {
                    let played = match state.audit(id).await {
                        Ok(Some(audit)) => challenger.play(id, job, &audit, &entry.replay).await,
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
        watched.retain(|id, _| {
            let keep = live.contains(id);
            if !keep {
                challenger.forget(*id);
            }
            keep
        });
        Ok(())
    }
}
