//! Whether a job's step is one the on-chain referee could run.
//!
//! A dispute ends at one training step that every validator executes with at most
//! `REFEREE_FUEL` per engine call (`docs/verification.md`, Disputes). A job whose `init` or
//! first step needs more could never be disputed: a false mismatch against it ends undecided,
//! the buyer's escrow refunded and the worker unpaid, so a buyer with a verifier account of
//! its own could have such a job run for free. The chain lets the worker prove it and end the
//! job as the buyer's fault (`pallet_jobs` `declare_unrunnable` runs the same two calls under
//! `PROOF_FUEL`, which is `REFEREE_FUEL`); the daemon checks before it runs a job.

use agora_client::files::write_atomic;
use agora_engine::{Executor, JobModule};
use std::path::Path;

use crate::Error;

/// In a job's directory: the module refused the run here (the engine's reason inside); the job
/// is declared unrunnable rather than run again ([`run_anyway`] removes it).
pub(crate) const REFUSED: &str = "refused";

/// In a job's directory: the chain refused the job's unrunnable declaration, so the job is run
/// without the probe.
const DECLARATION_REFUSED: &str = "declaration-refused";

/// Fuel the referee gives one engine call: the bound a job's `init` and first step must keep.
pub(crate) const PROOF_FUEL: u64 = agora_runtime::verification::REFEREE_FUEL;

/// Runs `init` and the first step of `module` as the chain's proof does, each under
/// `PROOF_FUEL`: `Ok(())` if both run, else the engine's `OutOfFuel` for the call that ran
/// out (a refusal: the daemon declares the job unrunnable, as for any refusal of the buyer's
/// inputs). Any other refusal is returned as it is; the run would meet it too. The same limit
/// as the referee's, not a measurement under a larger one: wasmtime checks fuel at function
/// entries and loop headers, so a call measured over the limit may still finish under it, and
/// the chain would refuse the declaration (found in review).
///
/// It checks the first step only: a module whose later steps grow heavier passes, and a
/// dispute at such a step ends undecided (`docs/verification.md`, What comes next).
/// Nothing is run once the chain refused the job's declaration ([`probe_wanted`]).
pub(crate) fn check(
    dir: &Path,
    (executor, module): (&Executor, &JobModule),
    (params, dataset): (&[u8], &[u8]),
    seed: u64,
) -> Result<(), Error> {
    if !probe_wanted(dir) {
        return Ok(());
    }
    let init = executor.init_within(module, params, dataset, seed, PROOF_FUEL)?;
    executor.segment_within(module, params, dataset, &init.bytes, 1, PROOF_FUEL)?;
    Ok(())
}

/// Whether to probe the job in `dir` before running it: not once the chain refused its
/// declaration (the referee ran both calls, or the declaration could not be sent), since
/// probing again would refuse the job again and leave it to time out, its collateral slashed.
fn probe_wanted(dir: &Path) -> bool {
    !dir.join(DECLARATION_REFUSED).exists()
}

/// After the chain refused the declaration of the job in `dir`: its refusal marker goes, so
/// the job is run, without the probe. A refusal the run meets again is left to time out, as
/// before (the declaration is sent once).
pub(crate) fn run_anyway(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(REFUSED));
    if let Err(error) = write_atomic(&dir.join(DECLARATION_REFUSED), b"") {
        tracing::warn!("{error}");
    }
}
