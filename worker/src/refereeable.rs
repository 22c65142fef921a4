//! Whether a job's step is one the on-chain referee could run.
//!
//! A dispute ends at one training step that every validator executes with at most
//! `REFEREE_FUEL` per engine call (`docs/verification.md`, Disputes). A job whose `init` or
//! first step needs more could never be disputed: a false mismatch against it ends undecided,
//! the buyer's escrow refunded and the worker unpaid, so a buyer with a verifier account of
//! its own could have such a job run for free. The chain lets the worker prove it and end the
//! job as the buyer's fault (`pallet_jobs` `declare_unrunnable` runs the same two calls under
//! `PROOF_FUEL`, which is `REFEREE_FUEL`); the daemon checks before it runs a job.

use agora_engine::{Executor, JobModule};

use crate::Error;

/// Fuel the referee gives one engine call: the bound a job's `init` and first step must keep.
pub(crate) const PROOF_FUEL: u64 = agora_runtime::verification::REFEREE_FUEL;

/// Runs `init` and the first step of `module` as the chain's proof does: `Ok(())` if both fit
/// `PROOF_FUEL`, else the engine's `OutOfFuel` for the call that does not (a refusal: the
/// daemon declares the job unrunnable, as for any refusal of the buyer's inputs). Any other
/// refusal is returned as it is; the run would meet it too.
pub(crate) fn within_the_referee(
    executor: &Executor,
    module: &JobModule,
    (params, dataset): (&[u8], &[u8]),
    seed: u64,
) -> Result<(), Error> {
    let init = executor.init(module, params, dataset, seed)?;
    if init.fuel > PROOF_FUEL {
        return Err(agora_engine::Error::OutOfFuel {
            call: "agora_init",
            limit: PROOF_FUEL,
        }
        .into());
    }
    executor.segment_within(module, params, dataset, &init.bytes, 1, PROOF_FUEL)?;
    Ok(())
}
