//! Content-addressed blobs (modules, datasets, checkpoints, models) on a node: registered on
//! chain (with a deposit) before the node accepts their bytes, checked against their blake3
//! hash on every read.

use std::path::Path;

use agora_primitives::Hash;

use crate::chain::State;
use crate::files::write_atomic;
use crate::keys::Signer;
use crate::rpc::Rpc;
use crate::{tx, Error};

/// Registers `bytes` on chain unless already registered, and uploads them unless the node has
/// them. Returns the hash. `what` names the blob in transactions and errors ("module").
pub async fn ensure_blob(
    rpc: &Rpc,
    signer: &Signer,
    bytes: &[u8],
    what: &'static str,
) -> Result<Hash, Error> {
    let hash = Hash::of(bytes);
    let state = State::best(rpc);
    if state.blob(&hash).await?.is_none() {
        tx::send(rpc, signer, register_call(bytes), what, tx::DEFAULT_TIMEOUT).await?;
    }
    if !rpc.blob_has(hash).await?.stored {
        let stored = rpc.blob_put(bytes).await?;
        if stored != hash {
            return Err(Error::Unexpected(format!(
                "the node stored the {what} as {stored}, but its bytes hash to {hash}"
            )));
        }
    }
    Ok(hash)
}

/// The call that registers `bytes` as a blob: their hash, size, and the proof of that size
/// (`agora_primitives::size_proof`).
pub fn register_call(bytes: &[u8]) -> agora_runtime::RuntimeCall {
    agora_runtime::RuntimeCall::Jobs(pallet_jobs::Call::register_blob_of(bytes))
}

/// Fetches blob `hash` through the local cache directory `dir` (checked against its hash
/// either way: a corrupt cached copy is fetched again).
pub async fn fetch_blob(rpc: &Rpc, dir: &Path, hash: Hash) -> Result<Vec<u8>, Error> {
    let path = dir.join(hash.to_hex());
    if let Ok(bytes) = std::fs::read(&path) {
        if Hash::of(&bytes) == hash {
            return Ok(bytes);
        }
    }
    let bytes = rpc.blob_get(hash).await?;
    write_atomic(&path, &bytes)?;
    Ok(bytes)
}
