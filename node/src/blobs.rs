//! The blob store: the bytes of job modules, datasets, checkpoints and trained models, kept as
//! files named by their blake3 hash, and the collector that deletes them once the chain no
//! longer knows them.
//!
//! # Layout
//!
//! ```text
//!   <base-path>/blobs/
//!     ab/ab12…ef        one file per blob: its bytes, named by the 64 hex digits of its hash,
//!                       under a directory named by the first two (at most 256 entries at the
//!                       top, so no directory grows past what a file system lists quickly)
//!     tmp/              files being written; renamed into place once complete and synced
//! ```
//!
//! A blob is written to `tmp/`, synced, then renamed over its final name and the directory
//! synced: after a crash a blob file is either absent or complete. What a crash leaves in
//! `tmp/` is deleted once it is older than [`TEMP_MAX_AGE`].
//!
//! Content addressing makes every read checkable: [`BlobStore::get`] hashes what it read and a
//! mismatch (a flipped bit on disk, a truncated copy) deletes the file rather than serve it.
//!
//! # Admission and collection
//!
//! The store itself accepts any bytes whose hash matches; the RPC (`blob_put`) admits only
//! blobs registered in `pallet_jobs::Blobs`. The registry drops a blob that no open bid or live
//! job refers to once its time to live has passed; [`run_collector`] then deletes the file.

use crate::chain::{Chain, ChainEvent, View};
use crate::consensus::FetchClass;
use crate::metrics::{set_count, Metrics};
use agora_primitives::Hash;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::broadcast::error::RecvError;

/// Largest blob, as the runtime registers them (64 MiB).
pub const MAX_BLOB_SIZE: u64 = <agora_runtime::Runtime as pallet_jobs::Config>::MAX_BLOB_SIZE;
/// Least time between two collection passes: one runs after a finalized block, but a chain
/// finalizing every second need not list the store every second.
pub const COLLECT_INTERVAL: Duration = Duration::from_secs(10);
/// Most blob files checked against the registry in one pass; the next pass carries on where it
/// stopped, so a large store is covered over several passes without one long stall.
pub const COLLECT_BATCH: usize = 10_000;
/// Age after which a file in `tmp/` not being written by this process is a crash's leftover.
pub const TEMP_MAX_AGE: Duration = Duration::from_secs(60);

const TEMP_DIR: &str = "tmp";
/// Hex digits of a hash: a blob file's name.
const NAME_LEN: usize = 64;

/// Errors of the blob store; each names the blob or file involved.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The bytes do not hash to the hash they were offered under.
    #[error("blob bytes hash to {actual}, not to the claimed {claimed}")]
    HashMismatch {
        /// The hash the caller gave.
        claimed: Hash,
        /// The hash of the bytes.
        actual: Hash,
    },
    /// Larger than any blob the chain registers.
    #[error("blob {hash} is {size} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// The blob.
        hash: Hash,
        /// Its size.
        size: u64,
        /// [`MAX_BLOB_SIZE`].
        max: u64,
    },
    /// The stored file did not hash to its name; it has been deleted.
    #[error("stored copy of blob {0} was corrupt and has been removed")]
    Corrupt(Hash),
    /// A file system operation failed.
    #[error("blob store: cannot {operation} {}: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The collector could not read the registry.
    #[error("blob collector: cannot read the registry for blob {hash}: {reason}")]
    Registry {
        /// The blob being checked.
        hash: Hash,
        /// Why.
        reason: String,
    },
}

fn io(operation: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> BlobError {
    let path = path.to_owned();
    move |source| BlobError::Io {
        operation,
        path,
        source,
    }
}

/// Number and total size of the stored blobs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Blob files.
    pub count: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// What one collection pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CollectPass {
    /// Blob files checked against the registry.
    pub checked: usize,
    /// Blob files deleted because the registry no longer has them.
    pub removed: usize,
    /// Leftover temporary files deleted.
    pub temp_removed: usize,
    /// Where the next pass starts (`None`: from the beginning, this pass reached the end).
    pub next: Option<Hash>,
}

/// Content-addressed blob files under one directory. `Send + Sync`; share it through an `Arc`.
pub struct BlobStore {
    dir: PathBuf,
    max_size: u64,
    /// Kept in step with the files by `put` and `remove`, which change them under this lock
    /// (a file damaged behind the store's back skews the byte total until the next open).
    totals: Mutex<Totals>,
    /// Temporary files being written now: the collector leaves them alone however old.
    writing: Mutex<HashSet<PathBuf>>,
    next_temp: AtomicU64,
    metrics: Option<Metrics>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore").field("dir", &self.dir).finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves its data consistent at each step.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The hash a blob file's name stands for: 64 lowercase hex digits, nothing else.
fn parse_name(name: &str) -> Option<Hash> {
    if name.len() != NAME_LEN || !name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    Hash::from_hex(name).ok()
}

/// Syncs a directory, so that a rename or creation in it survives a crash.
fn sync_dir(path: &Path) -> Result<(), BlobError> {
    File::open(path)
        .and_then(|dir| dir.sync_all())
        .map_err(io("sync directory", path))
}

/// Removes a temporary file (if still there) when a write ends, however it ends.
struct TempGuard<'a> {
    store: &'a BlobStore,
    path: PathBuf,
}

impl Drop for TempGuard<'_> {
    fn drop(&mut self) {
        // After a successful rename the file is gone and this is a no-op.
        let _ = std::fs::remove_file(&self.path);
        lock(&self.store.writing).remove(&self.path);
    }
}

impl BlobStore {
    /// Opens (creating if needed) the store in `dir`, counting what it holds.
    pub fn open(dir: &Path) -> Result<BlobStore, BlobError> {
        Self::open_with(dir, MAX_BLOB_SIZE, None)
    }

    /// Opens the store, reporting its size in `metrics`.
    pub fn open_with_metrics(dir: &Path, metrics: Metrics) -> Result<BlobStore, BlobError> {
        Self::open_with(dir, MAX_BLOB_SIZE, Some(metrics))
    }

    fn open_with(
        dir: &Path,
        max_size: u64,
        metrics: Option<Metrics>,
    ) -> Result<BlobStore, BlobError> {
        let temp = dir.join(TEMP_DIR);
        std::fs::create_dir_all(&temp).map_err(io("create", &temp))?;
        let store = BlobStore {
            dir: dir.to_owned(),
            max_size,
            totals: Mutex::new(Totals::default()),
            writing: Mutex::new(HashSet::new()),
            next_temp: AtomicU64::new(0),
            metrics,
        };
        let mut totals = Totals::default();
        for shard in store.shards()? {
            for (_, path) in store.shard_files(&shard)? {
                let size = std::fs::metadata(&path)
                    .map_err(io("read the size of", &path))?
                    .len();
                totals.count = totals.count.saturating_add(1);
                totals.bytes = totals.bytes.saturating_add(size);
            }
        }
        *lock(&store.totals) = totals;
        store.publish(totals);
        Ok(store)
    }

    /// The directory of the store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number and size of the stored blobs.
    pub fn totals(&self) -> Totals {
        *lock(&self.totals)
    }

    fn publish(&self, totals: Totals) {
        if let Some(metrics) = &self.metrics {
            set_count(&metrics.blobs_stored, totals.count);
            set_count(&metrics.blob_bytes, totals.bytes);
        }
    }

    /// Where the blob `hash` lives: `<dir>/<first two hex digits>/<64 hex digits>`.
    pub fn path(&self, hash: &Hash) -> PathBuf {
        let name = hex::encode(hash.0);
        let shard = name.get(..2).unwrap_or("00").to_owned();
        self.dir.join(shard).join(name)
    }

    /// Whether the blob's file is here (its content is checked only when read).
    pub fn has(&self, hash: &Hash) -> bool {
        self.path(hash).is_file()
    }

    /// Stores `bytes` as blob `hash`, refusing bytes that do not hash to it. Returns whether
    /// the blob was new; storing a blob already here (with the right size) writes nothing.
    pub fn put(&self, hash: &Hash, bytes: &[u8]) -> Result<bool, BlobError> {
        let size = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > self.max_size {
            return Err(BlobError::TooLarge {
                hash: *hash,
                size,
                max: self.max_size,
            });
        }
        let actual = Hash::of(bytes);
        if actual != *hash {
            return Err(BlobError::HashMismatch {
                claimed: *hash,
                actual,
            });
        }
        let path = self.path(hash);
        if std::fs::metadata(&path).is_ok_and(|meta| meta.is_file() && meta.len() == size) {
            return Ok(false);
        }
        let shard = path.parent().unwrap_or(&self.dir).to_owned();
        if !shard.is_dir() {
            std::fs::create_dir_all(&shard).map_err(io("create", &shard))?;
            sync_dir(&self.dir)?;
        }

        let serial = self.next_temp.fetch_add(1, Ordering::Relaxed);
        let temp = self.dir.join(TEMP_DIR).join(format!(
            "{}.{}.{serial}",
            hex::encode(hash.0),
            std::process::id()
        ));
        lock(&self.writing).insert(temp.clone());
        let _guard = TempGuard {
            store: self,
            path: temp.clone(),
        };
        let mut file = File::create(&temp).map_err(io("create", &temp))?;
        file.write_all(bytes).map_err(io("write", &temp))?;
        file.sync_all().map_err(io("sync", &temp))?;
        drop(file);

        // Under the lock, so the totals count the rename exactly once even when two callers
        // store the same blob at the same time.
        let mut totals = lock(&self.totals);
        let replaced = std::fs::metadata(&path).ok().map(|meta| meta.len());
        std::fs::rename(&temp, &path).map_err(io("rename into place", &path))?;
        sync_dir(&shard)?;
        match replaced {
            // A short or otherwise damaged copy, now overwritten.
            Some(old) => totals.bytes = totals.bytes.saturating_sub(old).saturating_add(size),
            None => {
                totals.count = totals.count.saturating_add(1);
                totals.bytes = totals.bytes.saturating_add(size);
            }
        }
        // Published under the lock, so concurrent changes cannot leave an older total showing.
        self.publish(*totals);
        drop(totals);
        Ok(replaced.is_none())
    }

    /// The bytes of blob `hash`, checked against the hash; `None` if not stored. A copy that
    /// does not match is deleted (and reported as [`BlobError::Corrupt`]) so that the next
    /// upload can replace it.
    pub fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path(hash);
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(io("open", &path)(error)),
        };
        let size = file
            .metadata()
            .map_err(io("read the size of", &path))?
            .len();
        let mut bytes = Vec::new();
        if size <= self.max_size {
            bytes.reserve(usize::try_from(size).unwrap_or(0));
            // One byte past the limit is enough to know the file is too long.
            (&mut file)
                .take(self.max_size.saturating_add(1))
                .read_to_end(&mut bytes)
                .map_err(io("read", &path))?;
        }
        let length = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if size > self.max_size || length > self.max_size || Hash::of(&bytes) != *hash {
            drop(file);
            self.remove(hash)?;
            tracing::warn!(
                blob = %hash,
                path = %path.display(),
                size,
                "stored blob does not match its hash; removed it"
            );
            return Err(BlobError::Corrupt(*hash));
        }
        Ok(Some(bytes))
    }

    /// Up to `max_len` bytes of blob `hash` from `offset`, unchecked (the reader checks the
    /// whole blob against its hash); `None` if not stored or unreadable. Serves peers' chunk
    /// requests without reading and hashing the whole file each time.
    pub fn read_range(&self, hash: &Hash, offset: u64, max_len: u32) -> Option<Vec<u8>> {
        use std::io::{Seek, SeekFrom};
        let mut file = File::open(self.path(hash)).ok()?;
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut bytes = Vec::with_capacity(usize::try_from(max_len).unwrap_or(0));
        file.take(u64::from(max_len)).read_to_end(&mut bytes).ok()?;
        Some(bytes)
    }

    /// Deletes blob `hash`; whether it was there.
    pub fn remove(&self, hash: &Hash) -> Result<bool, BlobError> {
        let path = self.path(hash);
        let mut totals = lock(&self.totals);
        let size = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(io("read the size of", &path)(error)),
        };
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(error) => return Err(io("remove", &path)(error)),
        }
        totals.count = totals.count.saturating_sub(1);
        totals.bytes = totals.bytes.saturating_sub(size);
        // Published under the lock, so concurrent changes cannot leave an older total showing.
        self.publish(*totals);
        drop(totals);
        Ok(true)
    }

    /// The first `limit` stored blobs in hash order.
    pub fn list(&self, limit: usize) -> Result<Vec<Hash>, BlobError> {
        self.list_after(None, limit)
    }

    /// Up to `limit` stored blobs with a hash above `after`, in hash order: a listing that can
    /// be resumed. Each shard directory read is bounded by what it holds.
    pub fn list_after(&self, after: Option<Hash>, limit: usize) -> Result<Vec<Hash>, BlobError> {
        let first_shard = after.map(|hash| hex::encode(&hash.0[..1]));
        let mut out = Vec::new();
        for shard in self.shards()? {
            if first_shard
                .as_deref()
                .is_some_and(|first| shard.as_str() < first)
            {
                continue;
            }
            let mut hashes: Vec<Hash> = self
                .shard_files(&shard)?
                .into_iter()
                .map(|(hash, _)| hash)
                .filter(|hash| after.is_none_or(|after| *hash > after))
                .collect();
            hashes.sort_unstable();
            let room = limit.saturating_sub(out.len());
            out.extend(hashes.into_iter().take(room));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Names of the shard directories (two lowercase hex digits), sorted.
    fn shards(&self) -> Result<Vec<String>, BlobError> {
        let mut shards = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(io("list", &self.dir))? {
            let entry = entry.map_err(io("list", &self.dir))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let is_shard =
                name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if is_shard && entry.path().is_dir() {
                shards.push(name);
            }
        }
        shards.sort_unstable();
        Ok(shards)
    }

    /// The blob files of one shard: their hash and path. Files with other names (or in the
    /// wrong shard) are not blobs of this store and are left alone.
    fn shard_files(&self, shard: &str) -> Result<Vec<(Hash, PathBuf)>, BlobError> {
        let dir = self.dir.join(shard);
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(io("list", &dir))? {
            let entry = entry.map_err(io("list", &dir))?;
            let Some(hash) = entry.file_name().to_str().and_then(parse_name) else {
                continue;
            };
            if self.path(&hash) == entry.path() && entry.path().is_file() {
                files.push((hash, entry.path()));
            }
        }
        Ok(files)
    }

    /// Deletes files in `tmp/` older than `max_age` that this process is not writing, at most
    /// `limit` of them; how many were deleted.
    pub fn remove_stale_temp(&self, max_age: Duration, limit: usize) -> Result<usize, BlobError> {
        let dir = self.dir.join(TEMP_DIR);
        let now = SystemTime::now();
        let mut removed = 0usize;
        for entry in std::fs::read_dir(&dir).map_err(io("list", &dir))? {
            if removed >= limit {
                break;
            }
            let entry = entry.map_err(io("list", &dir))?;
            let path = entry.path();
            if lock(&self.writing).contains(&path) {
                continue;
            }
            let Ok(meta) = entry.metadata() else {
                continue; // Gone meanwhile.
            };
            let age = meta
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .unwrap_or(Duration::ZERO);
            if !meta.is_file() || age < max_age {
                continue;
            }
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    removed = removed.saturating_add(1);
                    tracing::info!(path = %path.display(), age_s = age.as_secs(), "removed leftover temporary blob file");
                }
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io("remove", &path)(error)),
            }
        }
        Ok(removed)
    }

    /// One bounded collection pass: checks up to `limit` blob files above `after` with
    /// `is_registered` and deletes those it says no to, then deletes stale temporary files.
    pub fn collect(
        &self,
        after: Option<Hash>,
        limit: usize,
        is_registered: &mut dyn FnMut(&Hash) -> Result<bool, String>,
    ) -> Result<CollectPass, BlobError> {
        let hashes = self.list_after(after, limit)?;
        let mut pass = CollectPass {
            checked: hashes.len(),
            // A short listing reached the end: the next pass starts over.
            next: if hashes.len() < limit {
                None
            } else {
                hashes.last().copied()
            },
            ..CollectPass::default()
        };
        for hash in &hashes {
            let registered = is_registered(hash).map_err(|reason| BlobError::Registry {
                hash: *hash,
                reason,
            })?;
            if !registered && self.remove(hash)? {
                pass.removed = pass.removed.saturating_add(1);
                tracing::info!(blob = %hash, "removed blob no longer registered on chain");
            }
        }
        pass.temp_removed = self.remove_stale_temp(TEMP_MAX_AGE, limit)?;
        Ok(pass)
    }
}

/// Whether `hash` is in the blob registry of the finalized state or of the best state. The best
/// state counts too: a blob registered in a block not yet finalized may already be uploaded,
/// and must not be collected in the moment before its registration is final.
fn registered_in(finalized: &View, best: Option<&View>, hash: &Hash) -> Result<bool, String> {
    let key = pallet_jobs::Blobs::key(hash);
    for view in std::iter::once(finalized).chain(best) {
        if view
            .try_get(&key)
            .map_err(|error| error.to_string())?
            .is_some()
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Why a registered blob could not be made local (see [`fetch_registered`]).
#[derive(Debug, thiserror::Error)]
pub enum FetchFailure {
    /// The registry could not be read.
    #[error("cannot read the registration of blob {hash}: {reason}")]
    Registry {
        /// The blob.
        hash: Hash,
        /// Why.
        reason: String,
    },
    /// No peer delivered it.
    #[error(transparent)]
    Fetch(#[from] crate::consensus::FetchError),
    /// It could not be stored.
    #[error(transparent)]
    Store(#[from] BlobError),
}

/// Makes blob `hash` local if the chain registers it (in the best state) and this node does
/// not hold it: fetched from peers, checked against its hash and stored. Returns whether it
/// is stored now (`false`: not registered, so no peer may be asked for it).
pub async fn fetch_registered(
    chain: &Chain,
    store: &Arc<BlobStore>,
    fetcher: &crate::consensus::BlobFetcher,
    hash: Hash,
    class: FetchClass,
) -> Result<bool, FetchFailure> {
    let view = chain.view(None).unwrap_or_else(|| chain.finalized_view());
    fetch_registered_in(view, store, fetcher, hash, class).await
}

/// [`fetch_registered`] with the registry read in `view` (the state a block to import is
/// executed on, say), fetched as `class` (which decides whether a fetch slot is free for it).
///
/// The view is dropped before the fetch is awaited: it holds unfinalized blocks' state, and
/// a fetch ahead of need may wait [`QUEUE_PATIENCE`](crate::consensus::blobs::QUEUE_PATIENCE)
/// in the queue, up to [`MAX_QUEUED`](crate::consensus::blobs::MAX_QUEUED) of them.
pub async fn fetch_registered_in(
    view: View,
    store: &Arc<BlobStore>,
    fetcher: &crate::consensus::BlobFetcher,
    hash: Hash,
    class: FetchClass,
) -> Result<bool, FetchFailure> {
    if store.has(&hash) {
        return Ok(true);
    }
    let registry = |reason: String| FetchFailure::Registry { hash, reason };
    let Some(info) = view
        .try_get(&pallet_jobs::Blobs::key(&hash))
        .map_err(|error| registry(error.to_string()))?
    else {
        return Ok(false);
    };
    let info = <pallet_jobs::BlobInfo as parity_scale_codec::Decode>::decode(&mut &info[..])
        .map_err(|error| registry(error.to_string()))?;
    drop(view);
    let bytes = fetcher.fetch_as(class, hash, info.size).await?;
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.put(&hash, &bytes))
        .await
        .map_err(|error| registry(format!("the store task failed: {error}")))??;
    tracing::debug!(blob = %hash, size = info.size, "fetched a blob from peers");
    Ok(true)
}

/// The chain's fetch of blobs a block to import needs ([`Chain::set_blob_fetch`]):
/// [`fetch_registered_in`] the block's parent state, into `store`, through the fetcher once
/// `fetcher` holds it (the chain gets this before consensus starts, which makes the fetcher:
/// a block committed in between finds none and tries again later), on a task of its own so
/// that it goes on when the importer stops waiting. A failure is logged and reads as not held.
pub fn fetch_for_import(
    store: Arc<BlobStore>,
    fetcher: Arc<std::sync::OnceLock<crate::consensus::BlobFetcher>>,
) -> crate::chain::BlobFetch {
    Arc::new(move |view: View, hash: Hash, class: FetchClass| {
        let (store, fetcher) = (store.clone(), fetcher.clone());
        let task = tokio::spawn(async move {
            let Some(fetcher) = fetcher.get() else {
                return store.has(&hash);
            };
            match fetch_registered_in(view, &store, fetcher, hash, class).await {
                Ok(held) => held,
                // Anyone can trigger fetches ahead of need, and a refusal (no slot free) is
                // expected: not worth a warning.
                Err(error) if matches!(class, FetchClass::Ahead(_)) => {
                    tracing::debug!(blob = %hash, %error, "no blob fetched ahead of need");
                    false
                }
                Err(error) => {
                    tracing::warn!(blob = %hash, %error, "cannot fetch a blob a block needs");
                    false
                }
            }
        });
        Box::pin(async move { task.await.unwrap_or(false) })
    })
}

/// Deletes stored blobs the chain no longer registers, after finalized blocks, at most once per
/// [`COLLECT_INTERVAL`], [`COLLECT_BATCH`] files per pass. Runs until the chain's event channel
/// closes. It subscribes to the chain's events when called, not when first polled, so that a
/// finalization between the call and the task's start is not missed (a test once slept,
/// hoping the spawned task had subscribed).
pub fn run_collector(
    chain: Chain,
    store: Arc<BlobStore>,
) -> impl std::future::Future<Output = ()> + Send {
    let events = chain.subscribe();
    collect(chain, store, events)
}

async fn collect(
    chain: Chain,
    store: Arc<BlobStore>,
    mut events: tokio::sync::broadcast::Receiver<ChainEvent>,
) {
    let mut cursor: Option<Hash> = None;
    let mut last_pass: Option<Instant> = None;
    // A block was finalized since the last pass.
    let mut due = false;
    loop {
        let earliest = last_pass.map_or_else(Instant::now, |last| {
            last.checked_add(COLLECT_INTERVAL).unwrap_or(last)
        });
        tokio::select! {
            event = events.recv() => match event {
                Ok(ChainEvent::Finalized { .. }) | Err(RecvError::Lagged(_)) => due = true,
                Ok(_) => {}
                Err(RecvError::Closed) => return,
            },
            () = tokio::time::sleep_until(earliest.into()), if due => {}
        }
        if !due || Instant::now() < earliest {
            continue;
        }
        due = false;
        last_pass = Some(Instant::now());
        let (chain, store) = (chain.clone(), store.clone());
        let after = cursor;
        let pass = tokio::task::spawn_blocking(move || {
            let finalized = chain.finalized_view();
            let best = chain.view(None);
            store.collect(after, COLLECT_BATCH, &mut |hash| {
                registered_in(&finalized, best.as_ref(), hash)
            })
        })
        .await;
        match pass {
            Ok(Ok(pass)) => {
                cursor = pass.next;
                if pass.removed > 0 || pass.temp_removed > 0 {
                    tracing::info!(
                        checked = pass.checked,
                        removed = pass.removed,
                        temp_removed = pass.temp_removed,
                        "blob collection pass"
                    );
                }
            }
            Ok(Err(error)) => tracing::warn!(%error, "blob collection pass failed"),
            Err(error) => tracing::warn!(%error, "blob collection task failed"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;

    fn blob(n: u8, len: usize) -> (Hash, Vec<u8>) {
        let bytes: Vec<u8> = (0..=u8::MAX)
            .cycle()
            .take(len)
            .map(|i| i.wrapping_mul(n))
            .collect();
        (Hash::of(&bytes), bytes)
    }

    #[test]
    fn put_get_has_remove_round_trip_and_put_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let (hash, bytes) = blob(3, 1000);
        assert!(!store.has(&hash));
        assert_eq!(store.get(&hash).unwrap(), None);
        assert!(store.put(&hash, &bytes).unwrap());
        assert!(!store.put(&hash, &bytes).unwrap(), "second put is a no-op");
        assert!(store.has(&hash));
        assert_eq!(store.get(&hash).unwrap(), Some(bytes.clone()));
        assert_eq!(
            store.totals(),
            Totals {
                count: 1,
                bytes: 1000
            }
        );
        let hex = hex::encode(hash.0);
        assert_eq!(store.path(&hash), dir.path().join(&hex[..2]).join(&hex));
        assert_eq!(store.list(10).unwrap(), vec![hash]);
        assert!(store.remove(&hash).unwrap());
        assert!(!store.remove(&hash).unwrap());
        assert!(!store.has(&hash));
        assert_eq!(store.totals(), Totals::default());
        // Nothing left behind in tmp/.
        assert_eq!(
            std::fs::read_dir(dir.path().join(TEMP_DIR))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn bytes_that_do_not_match_the_hash_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let (hash, mut bytes) = blob(5, 100);
        bytes[7] ^= 1;
        let error = store.put(&hash, &bytes).unwrap_err();
        assert!(
            matches!(error, BlobError::HashMismatch { claimed, actual } if claimed == hash && actual == Hash::of(&bytes)),
            "{error}"
        );
        assert!(error.to_string().contains(&hash.to_hex()), "{error}");
        assert!(!store.has(&hash));
        assert_eq!(store.totals(), Totals::default());
    }

    #[test]
    fn oversized_blobs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open_with(dir.path(), 10, None).unwrap();
        let (hash, bytes) = blob(1, 11);
        let error = store.put(&hash, &bytes).unwrap_err();
        assert!(
            matches!(
                error,
                BlobError::TooLarge {
                    size: 11,
                    max: 10,
                    ..
                }
            ),
            "{error}"
        );
        // An oversized file on disk is treated as corrupt.
        std::fs::create_dir_all(store.path(&hash).parent().unwrap()).unwrap();
        std::fs::write(store.path(&hash), &bytes).unwrap();
        assert!(matches!(store.get(&hash), Err(BlobError::Corrupt(h)) if h == hash));
        assert!(!store.has(&hash));
    }

    #[test]
    fn a_corrupt_file_is_detected_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let metrics = Metrics::new();
        let store = BlobStore::open_with_metrics(dir.path(), metrics.clone()).unwrap();
        let (hash, bytes) = blob(7, 4096);
        store.put(&hash, &bytes).unwrap();
        assert!(metrics.render().contains("agora_blobs_stored 1"));
        // A flipped bit on disk.
        let mut damaged = bytes.clone();
        damaged[100] ^= 0x10;
        std::fs::write(store.path(&hash), &damaged).unwrap();
        let error = store.get(&hash).unwrap_err();
        assert!(
            matches!(error, BlobError::Corrupt(h) if h == hash),
            "{error}"
        );
        assert_eq!(
            error.to_string(),
            format!("stored copy of blob {hash} was corrupt and has been removed")
        );
        assert!(!store.has(&hash));
        assert_eq!(store.get(&hash).unwrap(), None);
        assert_eq!(store.totals(), Totals::default());
        assert!(metrics.render().contains("agora_blobs_stored 0"));
        // A truncated copy has the wrong size, so a new upload replaces it.
        assert!(store.put(&hash, &bytes).unwrap());
        std::fs::write(store.path(&hash), &bytes[..10]).unwrap();
        assert!(
            !store.put(&hash, &bytes).unwrap(),
            "the damaged copy was replaced"
        );
        // (The byte total cannot know the file shrank behind the store's back; the count is
        // exact.)
        assert_eq!(store.totals().count, 1);
        assert_eq!(store.get(&hash).unwrap(), Some(bytes));
    }

    #[test]
    fn blobs_survive_reopening_and_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let blobs: Vec<(Hash, Vec<u8>)> = (1..=5).map(|n| blob(n, 100 * usize::from(n))).collect();
        {
            let store = BlobStore::open(dir.path()).unwrap();
            for (hash, bytes) in &blobs {
                store.put(hash, bytes).unwrap();
            }
        }
        // Stray files are not blobs: ignored, never deleted.
        std::fs::write(dir.path().join("README"), b"not a blob").unwrap();
        std::fs::write(dir.path().join("ab").with_extension("x"), b"").unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert_eq!(
            store.totals(),
            Totals {
                count: 5,
                bytes: 1500
            }
        );
        for (hash, bytes) in &blobs {
            assert_eq!(store.get(hash).unwrap().as_ref(), Some(bytes));
        }
        let mut sorted: Vec<Hash> = blobs.iter().map(|(hash, _)| *hash).collect();
        sorted.sort();
        assert_eq!(store.list(10).unwrap(), sorted);
        // Resumable listing in hash order.
        assert_eq!(store.list(2).unwrap(), sorted[..2]);
        assert_eq!(store.list_after(Some(sorted[1]), 2).unwrap(), sorted[2..4]);
        assert_eq!(store.list_after(Some(sorted[4]), 2).unwrap(), vec![]);
        assert!(dir.path().join("README").exists());
    }

    #[test]
    fn collection_removes_unregistered_blobs_in_bounded_resumable_passes() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let blobs: Vec<(Hash, Vec<u8>)> = (1..=7).map(|n| blob(n, 64)).collect();
        for (hash, bytes) in &blobs {
            store.put(hash, bytes).unwrap();
        }
        let keep: HashSet<Hash> = blobs.iter().step_by(2).map(|(hash, _)| *hash).collect();
        let mut asked = 0;
        let mut registered = |hash: &Hash| {
            asked += 1;
            Ok(keep.contains(hash))
        };
        let first = store.collect(None, 4, &mut registered).unwrap();
        assert_eq!(first.checked, 4);
        assert!(first.next.is_some());
        let second = store.collect(first.next, 4, &mut registered).unwrap();
        assert_eq!(second.checked, 3);
        assert_eq!(second.next, None, "the end was reached");
        assert_eq!(asked, 7, "every blob was checked exactly once");
        assert_eq!(first.removed + second.removed, 3);
        for (hash, _) in &blobs {
            assert_eq!(store.has(hash), keep.contains(hash), "{hash}");
        }
        assert_eq!(store.totals().count, 4);
        // A registry that cannot be read stops the pass and deletes nothing.
        let error = store
            .collect(None, 10, &mut |_| Err("disk on fire".to_owned()))
            .unwrap_err();
        assert!(error.to_string().contains("disk on fire"), "{error}");
        assert_eq!(store.totals().count, 4);
    }

    #[test]
    fn stale_temporary_files_are_removed_but_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let temp = dir.path().join(TEMP_DIR);
        std::fs::write(temp.join("old"), b"crash leftover").unwrap();
        let old = SystemTime::now() - Duration::from_secs(120);
        File::options()
            .write(true)
            .open(temp.join("old"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::fs::write(temp.join("fresh"), b"being written").unwrap();
        assert_eq!(store.remove_stale_temp(TEMP_MAX_AGE, 100).unwrap(), 1);
        assert!(!temp.join("old").exists());
        assert!(temp.join("fresh").exists());
        // Even an old file is kept while this process is writing it.
        File::options()
            .write(true)
            .open(temp.join("fresh"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        lock(&store.writing).insert(temp.join("fresh"));
        assert_eq!(store.remove_stale_temp(TEMP_MAX_AGE, 100).unwrap(), 0);
        lock(&store.writing).clear();
        assert_eq!(store.remove_stale_temp(TEMP_MAX_AGE, 100).unwrap(), 1);
    }
}

/// Peers fetch the blobs this node stores (see `consensus::blobs`).
impl crate::consensus::BlobSource for Arc<BlobStore> {
    fn read(&self, hash: Hash, offset: u64, max_len: u32) -> Option<Vec<u8>> {
        self.read_range(&hash, offset, max_len)
    }
}
