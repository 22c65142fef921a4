//! A job whose module refused to run here: the marker that has the daemon show it unrunnable
//! (`pallet_jobs` `declare_unrunnable`, then `prove_unrunnable`: the referee re-runs `init`
//! and segment 0, and the job ends as the buyer's fault if the module refuses there too) rather
//! than run it again.
//!
//! Until spec version 18 the daemon also probed every job before running it — `init` and the
//! first step under the referee's fuel for one step (`PROOF_FUEL`) — and declared it
//! unrunnable if either ran out, since a dispute at a step heavier than that ended undecided
//! and a buyer drawn as its own job's verifier could get the job run for free. Since spec
//! version 17 such a dispute goes on as the re-run of the step's whole segment
//! (`pallet_verification`, `StepTooHeavy`), which always decides: a heavy step is the buyer's
//! to pay for, not a reason to refuse the job.

use crate::{Error, Worker};
use agora_client::chain::State;
use agora_client::files::write_atomic;
use agora_primitives::dispatch::PalletError;
use pallet_jobs::{Error as JobsError, Job, JobId};
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

/// After the chain refused the job's unrunnable proof (segment 0 ran for the referee) or its
/// declaration: the refusal marker goes, so the job is run again. A refusal the run meets
/// again is left to time out (the `declared` marker stays: the daemon does not pay for a
/// second try at a proof the referee refused).
pub(crate) fn run_anyway(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(REFUSED));
}

/// What became of one of the two calls that show a job unrunnable (the declaration, the
/// proof), as far as the daemon knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Included in a block: a declaration waits for its proof; a proof ended the job.
    Included,
    /// Refused by the chain: a proof for `JobRuns` (segment 0 ran for the referee), a
    /// declaration for any reason but `AlreadyDeclared` (the deadline passed, the job ended):
    /// the job in the directory is run after all ([`run_anyway`]).
    Refused,
    /// Not sent, or its fate is unknown (the node, the pool, a timeout, a node that has not
    /// decided the referee's re-run and leaves the proof out): tried again at the next look.
    Unknown,
}

/// Whether `failed` is a call the chain refused with the jobs pallet's `error`.
fn refused_for(failed: &agora_client::tx::TxError, error: JobsError) -> bool {
    matches!(
        failed,
        agora_client::tx::TxError::Failed { error: refused, .. }
            if *refused == error.into_dispatch(agora_runtime::JOBS_INDEX)
    )
}

/// The two calls that show a job unrunnable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Showing {
    /// `declare_unrunnable`.
    Declaration,
    /// `prove_unrunnable`.
    Proof,
}

impl Showing {
    fn noun(self) -> &'static str {
        match self {
            Showing::Declaration => "declaration",
            Showing::Proof => "proof",
        }
    }
}

/// What became of job `id`'s unrunnable `call` from what sending it
/// returned (`sent`); a refusal runs the job in `dir` again ([`run_anyway`]). Before (found in
/// review, 2026-12-07), any error ran the job and the declaration was never sent again: a
/// dropped connection left a job that cannot run to time out, the collateral slashed.
pub(crate) fn outcome(
    dir: &Path,
    id: JobId,
    call: Showing,
    sent: Result<agora_client::tx::Sent, Error>,
) -> Outcome {
    let what = call.noun();
    match sent {
        Ok(_) => {
            match call {
                Showing::Declaration => tracing::info!(
                    job = id,
                    "declared unrunnable: the buyer's inputs; proving it once the proof opens"
                ),
                Showing::Proof => tracing::info!(job = id, "proved unrunnable: the buyer's inputs"),
            }
            Outcome::Included
        }
        // A declaration sent twice (the first one's fate was unknown, and it landed after all):
        // the second is refused for the first, which stands.
        Err(Error::Client(agora_client::Error::Tx(failed)))
            if call == Showing::Declaration && refused_for(&failed, JobsError::AlreadyDeclared) =>
        {
            tracing::info!(job = id, "declared unrunnable already: {failed}");
            Outcome::Included
        }
        // A declaration the worker's free balance does not pay for (its fee grows with the
        // re-run, `MAX_DECLARATION_FEE` at most; the balance fell between the daemon's check
        // and the block): tried again at the next look, once the balance pays it
        // ([`Worker::can_pay_declaration`]). Running the job instead would meet the same
        // refusal and time out.
        Err(Error::Client(agora_client::Error::Tx(failed)))
            if call == Showing::Declaration
                && refused_for(&failed, JobsError::CannotPayDeclaration) =>
        {
            tracing::warn!(
                job = id,
                "the unrunnable declaration was refused: {failed}; top up the worker's free balance; trying again"
            );
            Outcome::Unknown
        }
        // A proof refused for anything but the job running (it landed after its window, its
        // declaration is gone): the chain is read again at the next look, which declares anew
        // while the commit deadline allows. Before, any refusal ran the job and marked it done,
        // and the declaration was never made again.
        Err(Error::Client(agora_client::Error::Tx(failed)))
            if call == Showing::Proof && !refused_for(&failed, JobsError::JobRuns) =>
        {
            tracing::warn!(
                job = id,
                "the unrunnable proof was refused: {failed}; looking again"
            );
            Outcome::Unknown
        }
        Err(Error::Client(agora_client::Error::Tx(failed)))
            if matches!(*failed, agora_client::tx::TxError::Failed { .. }) =>
        {
            tracing::warn!(
                job = id,
                "the unrunnable {what} was refused: {failed}; running the job"
            );
            run_anyway(dir);
            Outcome::Refused
        }
        Err(error) => {
            tracing::warn!(
                job = id,
                "the unrunnable {what} was not sent: {error}; trying again"
            );
            Outcome::Unknown
        }
    }
}

impl Worker {
    /// Shows that job `id`'s inputs cannot run (its module refused the run here) in the chain's
    /// two calls (`pallet_jobs`, `unrunnable.rs`): the declaration, by the commit deadline,
    /// then the proof, once it opens (every node has decided the referee's re-run ahead by
    /// then). Once: if the referee finds `init` and segment 0 runnable, the job is run after
    /// all ([`run_anyway`]); a refusal that came later cannot be proved, and the job
    /// will time out. Each call not known to have landed is tried again at the next look.
    pub(crate) async fn show_unrunnable(&self, id: JobId, job: &Job) -> Result<(), Error> {
        let dir = self.job_dir(id);
        let done = dir.join("declared");
        if done.exists() {
            return Ok(());
        }
        // The best block's state: a declaration just included is there, so it is not sent
        // twice (a second one is refused, and a refusal runs the job).
        let best = State::best(&self.rpc);
        let (declaration, now) = (best.declaration(id).await?, best.block_number().await?);
        // One whose proof window passed unsent may be made again (the chain allows it once the
        // window is over; a call sent now lands in the next block at the earliest).
        let pending = declaration.filter(|declaration| now < declaration.decide_by);
        let outcome = match pending {
            // The buyer's cancellation ends the job and pays for the time held; the chain takes
            // no declaration then (`CancelPending`), whose fee would burn for nothing.
            None if job.cancel_at.is_some() => {
                tracing::info!(
                    job = id,
                    cancel_at = job.cancel_at,
                    "the buyer's cancellation ends the job: not declaring it unrunnable"
                );
                return Ok(());
            }
            None if now < job.commit_by => {
                if !self.can_pay_declaration(id, job).await? {
                    return Ok(());
                }
                if let Some(lapsed) = declaration {
                    tracing::warn!(
                        job = id,
                        ?lapsed,
                        now,
                        "the proof's window passed unsent: declaring again"
                    );
                }
                let call = agora_runtime::RuntimeCall::Jobs(pallet_jobs::Call::DeclareUnrunnable {
                    job: id,
                });
                let sent = self.send(call, "unrunnable declaration").await;
                match outcome(&dir, id, Showing::Declaration, sent) {
                    // The proof comes next, once it opens.
                    Outcome::Included => return Ok(()),
                    other => other,
                }
            }
            None => return Ok(()),
            Some(declaration) => {
                if now.saturating_add(1) < declaration.opens_at {
                    tracing::debug!(job = id, ?declaration, now, "waiting for the proof to open");
                    return Ok(());
                }
                let call = agora_runtime::RuntimeCall::Jobs(pallet_jobs::Call::ProveUnrunnable {
                    job: id,
                });
                let sent = self.send(call, "unrunnable proof").await;
                outcome(&dir, id, Showing::Proof, sent)
            }
        };
        if outcome != Outcome::Unknown {
            if let Err(error) = write_atomic(&done, b"") {
                tracing::warn!(job = id, "{error}");
            }
        }
        Ok(())
    }

    /// Whether the worker's free balance pays job `id`'s declaration: its fee (burned; repaid
    /// out of the escrow if the proof ends the job) and both calls' weight fees. A declaration
    /// sent without it is refused (`CannotPayDeclaration`) after its call's fee was charged:
    /// sent at every look, that would drain the account the worker's other jobs need for
    /// their commitments and reveals. Not sent then, and looked at again.
    async fn can_pay_declaration(&self, id: JobId, job: &Job) -> Result<bool, Error> {
        let fee = agora_runtime::Jobs::declaration_fee_of(job);
        let calls = agora_runtime::Jobs::unrunnable_calls_floor();
        let needed = fee.saturating_add(calls);
        let free = self.rpc.balance(&self.signer.agora_account()).await?.free;
        if free >= needed {
            return Ok(true);
        }
        tracing::warn!(
            job = id,
            "the buyer's inputs cannot run, but the worker's free balance ({} AGR) does not pay the unrunnable declaration: {} AGR burned (repaid out of the escrow if its proof ends the job) and ~{} AGR of call fees; top it up before block #{}, or the job times out",
            agora_primitives::format_agr(free),
            agora_primitives::format_agr(fee),
            agora_primitives::format_agr(calls),
            job.commit_by
        );
        Ok(false)
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

    /// A declaration whose first send's fate was unknown is sent again; if the first landed
    /// after all, the second is refused `AlreadyDeclared`, and the first stands: before, that
    /// refusal ran the job again and marked the declaration done, and the proof was never
    /// sent (the job timed out, the worker slashed for the buyer's inputs). A proof refused
    /// for anything but `JobRuns` is looked at again; `JobRuns`, or a declaration refused
    /// otherwise, runs the job.
    #[test]
    fn a_declaration_refused_for_an_earlier_one_stands() {
        let dir = tempfile::tempdir().unwrap();
        mark_refused(dir.path(), "trapped");
        let refused = |error: JobsError| {
            Err(Error::Client(agora_client::Error::Tx(Box::new(
                agora_client::tx::TxError::Failed {
                    what: "unrunnable declaration",
                    hash: agora_primitives::Hash([1; 32]),
                    block_hash: agora_primitives::Hash([2; 32]),
                    block_number: 9,
                    error: error.into_dispatch(agora_runtime::JOBS_INDEX),
                    reason: error.to_string(),
                    fee: 1,
                },
            ))))
        };
        let twice = refused(JobsError::AlreadyDeclared);
        assert_eq!(
            outcome(dir.path(), 7, Showing::Declaration, twice),
            Outcome::Included
        );
        assert!(
            dir.path().join(REFUSED).exists(),
            "the proof is still to send"
        );
        // One the worker's balance does not pay for is tried again, not run.
        let unpaid = refused(JobsError::CannotPayDeclaration);
        assert_eq!(
            outcome(dir.path(), 7, Showing::Declaration, unpaid),
            Outcome::Unknown
        );
        assert!(dir.path().join(REFUSED).exists(), "still to declare");
        // A proof refused for anything but the job running is looked at again.
        let lapsed = refused(JobsError::DeadlinePassed);
        assert_eq!(
            outcome(dir.path(), 7, Showing::Proof, lapsed),
            Outcome::Unknown
        );
        assert!(dir.path().join(REFUSED).exists());
        let runs = refused(JobsError::JobRuns);
        assert_eq!(
            outcome(dir.path(), 7, Showing::Proof, runs),
            Outcome::Refused
        );
        assert!(!dir.path().join(REFUSED).exists(), "run again");
        mark_refused(dir.path(), "trapped");
        let late = refused(JobsError::DeadlinePassed);
        assert_eq!(
            outcome(dir.path(), 7, Showing::Declaration, late),
            Outcome::Refused
        );
        assert!(!dir.path().join(REFUSED).exists(), "run again");
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
        assert_eq!(
            outcome(dir.path(), 7, Showing::Proof, Err(Error::Client(unsent))),
            Outcome::Unknown
        );
        assert!(dir.path().join(REFUSED).exists(), "still to declare");
    }
}
