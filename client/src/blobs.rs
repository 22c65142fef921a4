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
    match ensure_blobs(rpc, signer, 1, |_| Ok::<_, Error>(bytes), what).await?[..] {
        [hash] => Ok(hash),
        ref hashes => Err(Error::Unexpected(format!(
            "one {what} gave {} hashes",
            hashes.len()
        ))),
    }
}

/// [`ensure_blob`] for `count` blobs, the `i`th read by `load(i)` (twice: once to register,
/// once to upload, so that they are never all in memory at once). The registrations missing are
/// signed with consecutive nonces and submitted together, then awaited together: `n` blobs wait
/// for one finality, not `n` (a worker revealing 24 start states one finalized registration at
/// a time missed its 20-block reveal window). A blob given twice is registered once. Returns
/// the hashes in order.
pub async fn ensure_blobs<B: AsRef<[u8]>, E: From<Error>>(
    rpc: &Rpc,
    signer: &Signer,
    count: usize,
    load: impl Fn(usize) -> Result<B, E>,
    what: &'static str,
) -> Result<Vec<Hash>, E> {
    let who = signer.agora_account();
    let state = State::best(rpc);
    let mut hashes = Vec::with_capacity(count);
    let mut calls = Vec::new();
    for i in 0..count {
        let bytes = load(i)?;
        let hash = Hash::of(bytes.as_ref());
        let new = !hashes.contains(&hash);
        hashes.push(hash);
        if new && state.blob(&hash).await.map_err(Error::from)?.is_none() {
            calls.push(register_call(bytes.as_ref()));
        }
    }
    if !calls.is_empty() {
        let mut context = tx::ChainContext::fetch(rpc, &who)
            .await
            .map_err(Error::from)?;
        let mut pending = Vec::with_capacity(calls.len());
        for call in calls {
            let signed = tx::sign(signer, call, &context, 0);
            let submitted = tx::submit(rpc, &signed, &context)
                .await
                .map_err(Error::from)?;
            pending.push((submitted, signed));
            context.nonce = context.nonce.saturating_add(1);
        }
        for (submitted, signed) in pending {
            tx::settle(rpc, submitted, &signed, &who, what, tx::DEFAULT_TIMEOUT)
                .await
                .map_err(Error::from)?;
        }
    }
    for (i, hash) in hashes.iter().enumerate() {
        if hashes[..i].contains(hash) || rpc.blob_has(*hash).await.map_err(Error::from)?.stored {
            continue;
        }
        let stored = rpc.blob_put(load(i)?.as_ref()).await.map_err(Error::from)?;
        if stored != *hash {
            return Err(Error::Unexpected(format!(
                "the node stored the {what} as {stored}, but its bytes hash to {hash}"
            ))
            .into());
        }
    }
    Ok(hashes)
}

/// The call that registers `bytes` as a blob: their hash, size, and the proof of that size
/// (`agora_primitives::size_proof`).
pub fn register_call(bytes: &[u8]) -> agora_runtime::RuntimeCall {
    agora_runtime::RuntimeCall::Jobs(pallet_jobs::Call::register_blob_of(bytes))
}

/// Most bytes of fetched blobs a cache directory of [`fetch_blob`] keeps: past it, the least
/// recently used go (a later fetch brings any of them back from the node). 4 GiB: 64 blobs at
/// the 64 MiB bound, a few jobs' modules, datasets and start states.
pub const BLOB_CACHE_MAX_BYTES: u64 = 4 << 30;

/// Most directory entries one pruning pass looks at: bounded even in a directory someone
/// filled with other files.
const BLOB_CACHE_SCAN_ENTRIES: usize = 10_000;

/// Fetches blob `hash` through the local cache directory `dir` (checked against its hash
/// either way: a corrupt cached copy is fetched again). The directory keeps at most
/// [`BLOB_CACHE_MAX_BYTES`] of blobs, least recently used first out; before, a daemon's
/// directory only grew (a watcher fetches the inputs of every job).
pub async fn fetch_blob(rpc: &Rpc, dir: &Path, hash: Hash) -> Result<Vec<u8>, Error> {
    let path = dir.join(hash.to_hex());
    if let Ok(bytes) = std::fs::read(&path) {
        if Hash::of(&bytes) == hash {
            // Used now: the last to be pruned. Best effort, as the pruning is.
            let _ = std::fs::File::options()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_modified(std::time::SystemTime::now()));
            return Ok(bytes);
        }
    }
    let bytes = rpc.blob_get(hash).await?;
    write_atomic(&path, &bytes)?;
    prune_cache(dir, BLOB_CACHE_MAX_BYTES, &path);
    Ok(bytes)
}

/// Deletes the least recently used blobs of cache directory `dir` (by modification time, then
/// name) until those left take at most `max_bytes`; `kept` (the blob just fetched) is never
/// deleted, and only files named like a blob (its hash in hex) are counted or deleted. Best
/// effort: what cannot be read or deleted is left.
fn prune_cache(dir: &Path, max_bytes: u64, kept: &Path) {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let mut blobs: Vec<(std::time::SystemTime, std::path::PathBuf, u64)> = listing
        .take(BLOB_CACHE_SCAN_ENTRIES)
        .flatten()
        .filter(|entry| {
            let name = entry.file_name();
            name.to_str()
                .is_some_and(|name| Hash::from_hex(name).is_ok())
        })
        .filter_map(|entry| {
            let metadata = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some((metadata.modified().ok()?, entry.path(), metadata.len()))
        })
        .collect();
    let mut total: u64 = blobs.iter().map(|(_, _, size)| *size).sum();
    blobs.sort();
    for (_, path, size) in blobs {
        if total <= max_bytes {
            break;
        }
        if path != kept && std::fs::remove_file(&path).is_ok() {
            total = total.saturating_sub(size);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The cache keeps within its bound by dropping the least recently used blobs, never the one
    /// just fetched, and leaves files that are not blobs alone.
    #[test]
    fn the_blob_cache_drops_the_least_recently_used_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let blob = |n: u8, age: u64| {
            let path = dir.path().join(Hash([n; 32]).to_hex());
            std::fs::write(&path, [n; 10]).unwrap();
            let modified = std::time::UNIX_EPOCH + std::time::Duration::from_secs(age);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(modified)
                .unwrap();
            path
        };
        let oldest = blob(1, 1_000);
        let middle = blob(2, 2_000);
        // Fetched long ago but the one just written: kept whatever its time.
        let kept = blob(3, 500);
        std::fs::write(dir.path().join("notes.txt"), [0; 100]).unwrap();
        prune_cache(dir.path(), 20, &kept);
        assert!(!oldest.exists(), "the least recently used goes");
        assert!(middle.exists() && kept.exists());
        assert!(
            dir.path().join("notes.txt").exists(),
            "not a blob: left alone"
        );
        // Within the bound: nothing goes.
        prune_cache(dir.path(), 20, &kept);
        assert!(middle.exists() && kept.exists());
    }
}
