//! Weights, in nanoseconds on the reference machine.

use super::Weight;
/// `register_blob`: the size proof (one chunk hashed, at most 54 parent nodes merged),
/// reserve, registry and due-list writes.
pub const REGISTER_BLOB: Weight = 50_000;
/// `commit_result`: job read/write, blob lookup, start of verification (sampling is later),
/// and the last leaf's inclusion proof (at most 20 siblings, 20,000 as in
/// pallet-verification's `PER_PROOF`).
pub const COMMIT_RESULT: Weight = 100_000;
/// `cancel_job`: two balance moves, market and blob updates.
pub const CANCEL_JOB: Weight = 80_000;
/// `declare_unrunnable`: a few reads and writes in the block, but it makes every node's warmer
/// re-run `init` and segment 0 (`init` within the bound on a call, then up to
/// `MAX_SEGMENT_FUEL`: up to ~90 s at the slowest speed) off the block path, so it is charged
/// a second's weight, as the proof is: one pending per job (another only once its proof's
/// window passed unused), each costing its worker a fee for the network's re-run.
pub const DECLARE_UNRUNNABLE: Weight = 1_000_000_000;
/// `prove_unrunnable`: the referee's verdict on `init` and segment 0, decided ahead by every
/// node since the declaration (`Declaration::opens_at`); a node that has not (it restarted,
/// it lacked a blob) runs it inline, bounded by `MAX_SEGMENT_FUEL` and not by this weight.
/// Until spec version 19 this re-run was the declaration itself, inline in its block: one
/// call made every block builder and importer spend up to ~30 s on it.
pub const PROVE_UNRUNNABLE: Weight = 1_000_000_000;
/// `release_model`: job and blob reads, two due-list moves.
pub const RELEASE_MODEL: Weight = 60_000;

/// End of block with `jobs` due jobs and `blobs` due blobs.
pub fn on_finalize(jobs: usize, blobs: usize) -> Weight {
    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    10_000u64
        .saturating_add(count(jobs).saturating_mul(150_000))
        .saturating_add(count(blobs).saturating_mul(30_000))
}
