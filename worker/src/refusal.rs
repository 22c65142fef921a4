//! A job whose module refused to run here: the marker that has the daemon declare it
//! unrunnable (`pallet_jobs` `declare_unrunnable`: the referee re-runs `init` and segment 0,
//! and the job ends as the buyer's fault if the module refuses there too) rather than run it
//! again.
//!
//! Until spec version 18 the daemon also probed every job before running it — `init` and the
//! first step under the referee's fuel for one step (`PROOF_FUEL`) — and declared it
//! unrunnable if either ran out, since a dispute at a step heavier than that ended undecided
//! and a buyer drawn as its own job's verifier could get the job run for free. Since spec
//! version 17 such a dispute goes on as the re-run of the step's whole segment
//! (`pallet_verification`, `StepTooHeavy`), which always decides: a heavy step is the buyer's
//! to pay for, not a reason to refuse the job.

use agora_client::files::write_atomic;
use pallet_jobs::JobId;
use std::path::Path;

use crate::Error;

/// In a job's directory: the module refused the run here (the engine's reason inside); the job
/// is declared unrunnable rather than run again ([`run_anyway`] removes it).
pub(crate) const REFUSED: &str = "refused";

/// Marks the job in `dir` refused by its module, with the engine's `reason`.
pub(crate) fn mark_refused(dir: &Path, reason: &str) {
    if let Err(error) = write_atomic(&dir.join(REFUSED), reason.as_bytes()) {
        tracing::warn!("{error}");
    }
}

/// After the chain refused the job's unrunnable declaration (segment 0 ran for the referee):
/// the refusal marker goes, so the job is run again. A refusal the run meets again is left to
/// time out (the declaration is sent once).
pub(crate) fn run_anyway(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(REFUSED));
}

/// Whether the daemon is done with job `id`'s unrunnable declaration once it tried to send it
/// (`sent`): yes if it was included, or refused by the chain (`JobRuns`: segment 0 ran for the
/// referee; the job in `dir` is then run after all, [`run_anyway`]); no if it was not sent or
/// its fate is unknown (the node, the pool, a timeout), so it is tried again at the next look.
/// Before (found in review, 2026-12-07), any error ran the job and the declaration was never
/// sent again: a dropped connection left a job that cannot run to time out, the collateral
/// slashed.
pub(crate) fn declaration_settled(
    dir: &Path,
    id: JobId,
    sent: Result<agora_client::tx::Sent, Error>,
) -> bool {
    match sent {
        Ok(_) => {
            tracing::info!(job = id, "declared unrunnable: the buyer's inputs");
            true
        }
        Err(Error::Client(agora_client::Error::Tx(failed)))
            if matches!(*failed, agora_client::tx::TxError::Failed { .. }) =>
        {
            tracing::warn!(
                job = id,
                "the declaration was refused: {failed}; running the job"
            );
            run_anyway(dir);
            true
        }
        Err(error) => {
            tracing::warn!(
                job = id,
                "the declaration was not sent: {error}; trying again"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_marked_until_the_chain_refuses_the_declaration() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!dir.path().join(REFUSED).exists());
        mark_refused(dir.path(), "`agora_init` trapped");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(REFUSED)).unwrap(),
            "`agora_init` trapped"
        );
        run_anyway(dir.path());
        assert!(!dir.path().join(REFUSED).exists());
    }

    /// A declaration that was not sent is tried again and the refusal marker stays; only the
    /// chain's refusal runs the job.
    #[test]
    fn a_declaration_not_sent_is_tried_again() {
        let dir = tempfile::tempdir().unwrap();
        mark_refused(dir.path(), "trapped");
        let unsent = agora_client::Error::Tx(Box::new(agora_client::tx::TxError::Dropped {
            hash: agora_primitives::Hash([1; 32]),
        }));
        assert!(!declaration_settled(
            dir.path(),
            7,
            Err(Error::Client(unsent))
        ));
        assert!(dir.path().join(REFUSED).exists(), "still to declare");
    }
}
