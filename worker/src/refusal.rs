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
use std::path::Path;

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
}
