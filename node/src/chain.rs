//! The node's view of the chain: finalized blocks in RocksDB, unfinalized blocks in memory,
//! the transaction pool, and the block production and import that consensus drives.
//!
//! # States of a block
//!
//! ```text
//!   received (bytes only) --verify--> executed --finalized--> committed to RocksDB
//!   proposed (built here) ------------^
//! ```
//!
//! An *executed* block carries its state changes, its events and the state-tree nodes it
//! created, all in memory. Executing a child of an unfinalized block reads through the
//! parent's chain of changes down to the finalized state in RocksDB ([`View`]). When consensus
//! finalizes a block, it and every unfinalized ancestor are committed in order, each in one
//! atomic, synced RocksDB write; blocks on other forks are dropped.
//!
//! # Concurrency
//!
//! One mutex guards the in-memory state. Execution (signatures, dispatch, state root) runs on
//! the blocking thread pool *without* the lock, against a [`View`] holding `Arc`s to the layers
//! it needs, so RPC calls are not held up by a large block.
//!
//! # Bounds
//!
//! At most [`MAX_UNFINALIZED`] unfinalized blocks are kept; at most [`MAX_BLOCK_TXS`]
//! extrinsics are considered for one proposal; the pool is bounded (see `txpool`).

use crate::consensus;
use crate::metrics::Metrics;
use crate::storage::{Database, FinalizedBlock, StorageError};
use crate::txpool::{PoolError, PoolLimits, TxPool};
use agora_primitives::smt::{self, NodeStore, SmtError};
use agora_primitives::storage::{Changes, RawEvent, StateIter, StateRead};
use agora_primitives::{AccountId, Hash, Nonce};
use agora_runtime::block::{Block, Header};
use agora_runtime::executive::{execute_block, BlockBuilder, BlockError, TransactionError};
use agora_runtime::genesis::ChainSpec;
use parity_scale_codec::{Decode, Encode};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::{Bound, ControlFlow};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

/// Most unfinalized blocks kept in memory.
pub const MAX_UNFINALIZED: usize = 1_024;
/// Most pooled extrinsics tried for one proposal.
pub const MAX_BLOCK_TXS: usize = 30_000;
/// How far ahead of our clock a block's timestamp may be.
pub const MAX_FUTURE_DRIFT_MS: u64 = 5_000;
/// Largest encoded block accepted from a peer.
pub const MAX_BLOCK_BYTES: usize = agora_runtime::limits::MAX_BLOCK_LEN + 64 * 1024;

/// Errors of the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// RocksDB failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The state tree is missing a node or is corrupt.
    #[error("state tree: {0}")]
    Tree(#[from] SmtError),
    /// The runtime rejected a block.
    #[error("block {hash} is invalid: {error}")]
    InvalidBlock {
        /// The block.
        hash: Hash,
        /// Why.
        error: BlockError,
    },
    /// The state root in a header is not what execution gives.
    #[error("block {hash} claims state root {claimed} but execution gives {computed}")]
    StateRoot {
        /// The block.
        hash: Hash,
        /// In its header.
        claimed: Hash,
        /// Computed.
        computed: Hash,
    },
    /// A block that is neither finalized nor among the unfinalized ones.
    #[error("block {0} is unknown")]
    UnknownBlock(Hash),
    /// A timestamp too far ahead.
    #[error("block {hash} has timestamp {timestamp} ms, more than {MAX_FUTURE_DRIFT_MS} ms ahead of this node's clock ({now} ms)")]
    FromTheFuture {
        /// The block.
        hash: Hash,
        /// Its timestamp.
        timestamp: u64,
        /// Our clock.
        now: u64,
    },
    /// A stored value did not decode.
    #[error("stored block {0} does not decode")]
    CorruptBlock(Hash),
    /// A blocking task panicked or was cancelled.
    #[error("execution task failed: {0}")]
    Task(String),
    /// The chain spec is unusable.
    #[error("the database holds genesis {stored} but the chain spec gives genesis {spec}; use purge-chain or another base path")]
    GenesisMismatch {
        /// In the database.
        stored: Hash,
        /// From the spec.
        spec: Hash,
    },
}

/// A block with what executing it produced.
pub struct Executed {
    /// State writes of the block.
    pub changes: Changes,
    /// Its events.
    pub events: Vec<RawEvent>,
    nodes: Vec<(Hash, Vec<u8>)>,
    node_index: HashMap<Hash, usize>,
}

impl Executed {
    fn new(changes: Changes, events: Vec<RawEvent>, nodes: Vec<(Hash, Vec<u8>)>) -> Self {
        let node_index = nodes
            .iter()
            .enumerate()
            .map(|(index, (hash, _))| (*hash, index))
            .collect();
        Executed {
            changes,
            events,
            nodes,
            node_index,
        }
    }
}

/// What is stored per block in RocksDB: the block and its events.
#[derive(Encode, Decode)]
pub struct StoredBlock {
    /// The block.
    pub block: Block,
    /// Events of executing it.
    pub events: Vec<RawEvent>,
}

/// An unfinalized block.
struct Pending {
    block: Arc<Block>,
    encoded: Arc<Vec<u8>>,
    executed: Option<Arc<Executed>>,
}

/// A state as of some block: unfinalized layers (newest first) over the finalized state.
#[derive(Clone)]
pub struct View {
    db: Arc<Database>,
    layers: Vec<Arc<Executed>>,
}

impl StateRead for View {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        // A failing disk cannot execute blocks deterministically; see primitives::storage.
        self.try_get(key)
            .unwrap_or_else(|error| panic!("state read failed: {error}"))
    }
}

impl View {
    /// The value of `key` in this state, reporting a failing disk instead of panicking (for
    /// readers outside block execution: RPC, the blob collector).
    pub fn try_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        for layer in &self.layers {
            if let Some(change) = layer.changes.get(key) {
                return Ok(change.clone());
            }
        }
        self.db.latest_state(key)
    }

    /// Calls `f` for every `(key, value)` of this state whose key starts with `prefix` and is
    /// strictly greater than `after` (if given), in key order, until `f` breaks.
    ///
    /// The finalized state (the flat table in RocksDB) and the unfinalized layers, newest first,
    /// are merged lazily: for a key present in several sources the newest layer wins, and a
    /// deletion there hides the older values, so a short page costs only the keys it returns
    /// plus the deletions it skips.
    ///
    /// The layers are fixed when the view is taken; the flat table is read from a snapshot
    /// taken now. Should blocks descending from this view's block be finalized in between, the
    /// flat table is newer than the view (the same race as [`StateRead::get`] on a view).
    pub fn try_for_each_prefixed(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        f: &mut KeyVisitor<'_>,
    ) -> Result<(), StorageError> {
        let mut layers = LayerMerge::new(&self.layers, prefix, after);
        let mut flat = self.db.flat_prefixed(prefix, after)?.peekable();
        // Bounded: every step consumes at least one entry of a layer or of the flat table.
        loop {
            let flat_key = match flat.peek() {
                Some(Ok((key, _))) => Some(key.as_ref()),
                Some(Err(_)) => {
                    return match flat.next() {
                        Some(Err(error)) => Err(error),
                        _ => Ok(()),
                    }
                }
                None => None,
            };
            let layer_key = layers.peek_key();
            let flow = match (layer_key, flat_key) {
                (None, None) => return Ok(()),
                (Some(layer_key), flat_key) if flat_key.is_none_or(|flat| layer_key <= flat) => {
                    if flat_key == Some(layer_key) {
                        // The layer overrides the finalized value.
                        flat.next();
                    }
                    match layers.next() {
                        Some((key, Some(value))) => f(key, value),
                        // Deleted by an unfinalized block.
                        _ => ControlFlow::Continue(()),
                    }
                }
                _ => match flat.next() {
                    Some(Ok((key, value))) => f(&key, &value),
                    Some(Err(error)) => return Err(error),
                    None => return Ok(()),
                },
            };
            if flow.is_break() {
                return Ok(());
            }
        }
    }
}

/// What [`View::try_for_each_prefixed`] calls per `(key, value)`: `Break` stops the walk.
pub type KeyVisitor<'f> = dyn FnMut(&[u8], &[u8]) -> ControlFlow<()> + 'f;

/// The next change of one layer: key, layer index (0 = newest), the change.
type LayerHead<'a> = (&'a [u8], usize, &'a Option<Vec<u8>>);

/// The unfinalized layers' changes within a key range, merged into one stream in key order;
/// for a key changed in several layers, only the newest change.
struct LayerMerge<'a> {
    /// One range per layer, newest first (the index breaks ties in the heap).
    ranges: Vec<std::collections::btree_map::Range<'a, Vec<u8>, Option<Vec<u8>>>>,
    /// The next change of each layer that still has one: `(key, layer index, change)`.
    heads: BinaryHeap<Reverse<LayerHead<'a>>>,
    prefix: &'a [u8],
}

impl<'a> LayerMerge<'a> {
    fn new(layers: &'a [Arc<Executed>], prefix: &'a [u8], after: Option<&'a [u8]>) -> Self {
        let lower = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        let mut merge = LayerMerge {
            ranges: layers
                .iter()
                .map(|layer| layer.changes.range::<[u8], _>((lower, Bound::Unbounded)))
                .collect(),
            heads: BinaryHeap::with_capacity(layers.len()),
            prefix,
        };
        for index in 0..merge.ranges.len() {
            merge.advance(index);
        }
        merge
    }

    /// Pushes the next change of layer `index` within the prefix, if any.
    fn advance(&mut self, index: usize) {
        let Some(range) = self.ranges.get_mut(index) else {
            return;
        };
        if let Some((key, change)) = range.next() {
            if key.starts_with(self.prefix) {
                self.heads.push(Reverse((key.as_slice(), index, change)));
            }
        }
    }

    fn peek_key(&self) -> Option<&'a [u8]> {
        self.heads.peek().map(|Reverse((key, _, _))| *key)
    }

    /// The smallest key and its newest change; older changes of the same key are skipped.
    fn next(&mut self) -> Option<(&'a [u8], Option<&'a [u8]>)> {
        let Reverse((key, index, change)) = self.heads.pop()?;
        self.advance(index);
        // Bounded by the number of layers: each holds a key at most once.
        while let Some(Reverse((older, older_index, _))) = self.heads.peek().copied() {
            if older != key {
                break;
            }
            self.heads.pop();
            self.advance(older_index);
        }
        Some((key, change.as_deref()))
    }
}

impl StateIter for View {
    fn for_each_prefixed(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8], &[u8])) {
        // A failing disk cannot be read deterministically; see `StateRead for View`.
        self.try_for_each_prefixed(prefix, None, &mut |key, value| {
            f(key, value);
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|error| panic!("state iteration failed: {error}"))
    }
}

impl NodeStore for View {
    fn node(&self, hash: &Hash) -> Result<Option<Vec<u8>>, SmtError> {
        for layer in &self.layers {
            if let Some(index) = layer.node_index.get(hash) {
                return Ok(layer.nodes.get(*index).map(|(_, node)| node.clone()));
            }
        }
        self.db.node(hash)
    }
}

struct State {
    finalized: Header,
    finalized_hash: Hash,
    pending: HashMap<Hash, Pending>,
    /// Highest executed block descending from the finalized one.
    best: Hash,
    pool: TxPool,
}

/// Notifications for RPC subscribers.
#[derive(Clone, Debug)]
pub enum ChainEvent {
    /// A block was executed (built or verified) and is the new best.
    NewHead(Header),
    /// A block was finalized; `extrinsics` are the hashes of its extrinsics.
    Finalized {
        /// Its header.
        header: Header,
        /// Hashes of its extrinsics.
        extrinsics: Vec<Hash>,
    },
    /// Extrinsics were dropped from the pool without being finalized.
    Dropped(Vec<Hash>),
}

struct Inner {
    db: Arc<Database>,
    spec: ChainSpec,
    genesis_hash: Hash,
    author: AccountId,
    block_time: Duration,
    state: Mutex<State>,
    events: broadcast::Sender<ChainEvent>,
    metrics: Metrics,
}

/// The chain. Cheap to clone.
#[derive(Clone)]
pub struct Chain {
    inner: Arc<Inner>,
}

/// The domain every consensus signature of this chain is bound to: `"agora/" ‖ chain id ‖
/// genesis hash`, so votes and certificates of one chain mean nothing on another.
pub fn consensus_namespace(chain_id: &str, genesis_hash: &Hash) -> Vec<u8> {
    let mut namespace = b"agora/".to_vec();
    namespace.extend_from_slice(chain_id.as_bytes());
    namespace.extend_from_slice(genesis_hash.as_bytes());
    namespace
}

fn now_ms() -> u64 {
    // The node, not the runtime, reads the clock: it picks timestamps for its proposals and
    // refuses blocks from the far future. The runtime only checks that time increases.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Chain {
    /// Opens the chain in `db`, writing genesis from `spec` if the database is empty.
    pub fn open(
        db: Arc<Database>,
        spec: ChainSpec,
        author: AccountId,
        block_time: Duration,
        metrics: Metrics,
    ) -> Result<Chain, ChainError> {
        let genesis = spec.genesis();
        let genesis_hash = genesis.block.hash();
        match db.block_hash(0)? {
            Some(stored) if stored != genesis_hash => {
                return Err(ChainError::GenesisMismatch {
                    stored,
                    spec: genesis_hash,
                })
            }
            Some(_) => {}
            None => {
                let stored = StoredBlock {
                    block: genesis.block.clone(),
                    events: Vec::new(),
                };
                db.commit_finalized(FinalizedBlock {
                    number: 0,
                    hash: genesis_hash,
                    encoded: &stored.encode(),
                    certificate: &[],
                    state_changes: &genesis.changes,
                    new_nodes: &genesis.nodes,
                })?;
            }
        }
        let (_, finalized_hash) = db.finalized_head()?.unwrap_or((0, genesis_hash));
        let finalized = Self::load_stored(&db, &finalized_hash)?.block.header;
        metrics
            .finalized_height
            .set(i64::try_from(finalized.number()).unwrap_or(i64::MAX));
        metrics
            .best_height
            .set(i64::try_from(finalized.number()).unwrap_or(i64::MAX));
        // Blocks this node proposed or voted for before it stopped: consensus may still
        // finalize them (it journals certificates before the chain commits them).
        let mut pending = HashMap::new();
        let mut stale = Vec::new();
        for (hash, bytes) in db.unfinalized()? {
            match Block::decode(&mut &bytes[..]) {
                Ok(block) if block.header.number() > finalized.number() && block.hash() == hash => {
                    let encoded = Arc::new(block.encode());
                    pending.insert(
                        hash,
                        Pending {
                            block: Arc::new(block),
                            encoded,
                            executed: None,
                        },
                    );
                }
                _ => stale.push(hash),
            }
        }
        db.forget_unfinalized(&stale)?;
        let (events, _) = broadcast::channel(1_024);
        let state = State {
            finalized,
            finalized_hash,
            pending,
            best: finalized_hash,
            pool: TxPool::new(PoolLimits::default()),
        };
        Ok(Chain {
            inner: Arc::new(Inner {
                db,
                spec,
                genesis_hash,
                author,
                block_time,
                state: Mutex::new(state),
                events,
                metrics,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was at some step of an update;
        // every update below is written to be consistent at each step, so we carry on.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn load_stored(db: &Database, hash: &Hash) -> Result<StoredBlock, ChainError> {
        let bytes = db.block(hash)?.ok_or(ChainError::UnknownBlock(*hash))?;
        StoredBlock::decode(&mut &bytes[..]).map_err(|_| ChainError::CorruptBlock(*hash))
    }

    /// The header of a committed block, decoded alone: a stored block's encoding starts with
    /// its header (`StoredBlock = Block ‖ events`, `Block = Header ‖ extrinsics`), so the
    /// extrinsics and events need not be decoded.
    fn load_header(db: &Database, hash: &Hash) -> Result<Header, ChainError> {
        let bytes = db.block(hash)?.ok_or(ChainError::UnknownBlock(*hash))?;
        Header::decode(&mut &bytes[..]).map_err(|_| ChainError::CorruptBlock(*hash))
    }

    /// The genesis hash.
    pub fn genesis_hash(&self) -> Hash {
        self.inner.genesis_hash
    }

    /// The chain spec.
    pub fn spec(&self) -> &ChainSpec {
        &self.inner.spec
    }

    /// The database.
    pub fn db(&self) -> &Arc<Database> {
        &self.inner.db
    }

    /// Subscribes to chain events.
    pub fn subscribe(&self) -> broadcast::Receiver<ChainEvent> {
        self.inner.events.subscribe()
    }

    /// Hash and header of the finalized head.
    pub fn finalized_head(&self) -> (Hash, Header) {
        let state = self.lock();
        (state.finalized_hash, state.finalized.clone())
    }

    /// Hash of the best block.
    pub fn best_hash(&self) -> Hash {
        self.lock().best
    }

    /// Number of pooled extrinsics.
    pub fn pool_len(&self) -> usize {
        self.lock().pool.len()
    }

    /// A block and its events, finalized or not. Unexecuted blocks have no events.
    pub fn block(&self, hash: &Hash) -> Result<Option<StoredBlock>, ChainError> {
        if let Some(pending) = self.lock().pending.get(hash) {
            let events = pending
                .executed
                .as_ref()
                .map(|e| e.events.clone())
                .unwrap_or_default();
            return Ok(Some(StoredBlock {
                block: (*pending.block).clone(),
                events,
            }));
        }
        match Self::load_stored(&self.inner.db, hash) {
            Ok(stored) => Ok(Some(stored)),
            Err(ChainError::UnknownBlock(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Hash of block `number` on the best chain.
    pub fn block_hash(&self, number: u64) -> Result<Option<Hash>, ChainError> {
        let state = self.lock();
        if number <= state.finalized.number() {
            drop(state);
            return Ok(self.inner.db.block_hash(number)?);
        }
        let mut cursor = state.best;
        // Bounded: each step moves one block down the unfinalized chain.
        for _ in 0..=MAX_UNFINALIZED {
            let Some(pending) = state.pending.get(&cursor) else {
                return Ok(None);
            };
            if pending.block.header.number() == number {
                return Ok(Some(cursor));
            }
            if pending.block.header.number() < number {
                return Ok(None);
            }
            cursor = pending.block.header.parent_hash;
        }
        Ok(None)
    }

    /// The state as of block `at`: the finalized head's state plus the unfinalized layers down
    /// to it. `None` if `at` is not on an executed unfinalized chain or the finalized head.
    fn view_at(state: &State, db: &Arc<Database>, at: Hash) -> Option<View> {
        let mut layers = Vec::new();
        let mut cursor = at;
        for _ in 0..=MAX_UNFINALIZED {
            if cursor == state.finalized_hash {
                return Some(View {
                    db: db.clone(),
                    layers,
                });
            }
            let pending = state.pending.get(&cursor)?;
            layers.push(pending.executed.clone()?);
            cursor = pending.block.header.parent_hash;
        }
        None
    }

    /// The state as of `at` (default: best), for RPC reads of unfinalized or the latest
    /// finalized state. Older finalized states are read through the tree by the caller.
    pub fn view(&self, at: Option<Hash>) -> Option<View> {
        let state = self.lock();
        let at = at.unwrap_or(state.best);
        Self::view_at(&state, &self.inner.db, at)
    }

    /// The state of the finalized head: the flat table alone, whatever happens to the
    /// unfinalized blocks (the blob collector reads the registry here).
    pub fn finalized_view(&self) -> View {
        View {
            db: self.inner.db.clone(),
            layers: Vec::new(),
        }
    }

    /// Header of a finalized or unfinalized block; [`ChainError::UnknownBlock`] if neither.
    pub fn header(&self, hash: &Hash) -> Result<Header, ChainError> {
        if let Some(pending) = self.lock().pending.get(hash) {
            return Ok(pending.block.header.clone());
        }
        Self::load_header(&self.inner.db, hash)
    }

    /// Validates and pools an extrinsic against the finalized state.
    pub fn submit(&self, bytes: &[u8]) -> Result<Hash, PoolError> {
        let view = View {
            db: self.inner.db.clone(),
            layers: Vec::new(),
        };
        let mut state = self.lock();
        let head = state.finalized_hash;
        let result = state
            .pool
            .submit(&view, &self.inner.genesis_hash, head, bytes);
        self.inner
            .metrics
            .txpool_size
            .set(i64::try_from(state.pool.len()).unwrap_or(i64::MAX));
        result
    }

    /// The next nonce of `who`, counting its pooled extrinsics.
    pub fn next_nonce(&self, who: &AccountId) -> Nonce {
        let view = View {
            db: self.inner.db.clone(),
            layers: Vec::new(),
        };
        let state_nonce = agora_runtime::System::account_nonce(&view, who);
        self.lock().pool.next_nonce(who, state_nonce)
    }

    fn set_best_if_higher(&self, state: &mut State, hash: Hash, header: &Header) {
        let best_number = state
            .pending
            .get(&state.best)
            .map_or(state.finalized.number(), |pending| {
                pending.block.header.number()
            });
        if header.number() > best_number {
            state.best = hash;
            self.inner
                .metrics
                .best_height
                .set(i64::try_from(header.number()).unwrap_or(i64::MAX));
            let _ = self.inner.events.send(ChainEvent::NewHead(header.clone()));
        }
    }

    /// Executes `block` on `view` off the async threads, checking its state root.
    async fn execute(
        &self,
        view: View,
        parent: Header,
        block: Arc<Block>,
    ) -> Result<Executed, ChainError> {
        let genesis_hash = self.inner.genesis_hash;
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            let hash = block.hash();
            let executed = execute_block(&view, &genesis_hash, block.header.parent_hash, &block)
                .map_err(|error| ChainError::InvalidBlock { hash, error })?;
            let update = smt::update(&view, parent.state_root, &executed.changes)?;
            if update.root != block.header.state_root {
                return Err(ChainError::StateRoot {
                    hash,
                    claimed: block.header.state_root,
                    computed: update.root,
                });
            }
            Ok(Executed::new(
                executed.changes,
                executed.events,
                update.new_nodes,
            ))
        })
        .await
        .map_err(|error| ChainError::Task(error.to_string()))?;
        self.inner
            .metrics
            .import_seconds
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Builds a block on `parent`, waiting until the block time since the parent has passed.
    async fn build(&self, parent: Hash) -> Result<Hash, ChainError> {
        let parent_header = self.header(&parent)?;
        let block_time = u64::try_from(self.inner.block_time.as_millis()).unwrap_or(u64::MAX);
        let due = parent_header.timestamp.saturating_add(block_time);
        let now = now_ms();
        if due > now {
            tokio::time::sleep(Duration::from_millis(due.saturating_sub(now))).await;
        }
        let timestamp = now_ms().max(parent_header.timestamp.saturating_add(1));
        let (view, candidates) = {
            let state = self.lock();
            let view = Self::view_at(&state, &self.inner.db, parent)
                .ok_or(ChainError::UnknownBlock(parent))?;
            (view, state.pool.ready(MAX_BLOCK_TXS))
        };
        let genesis_hash = self.inner.genesis_hash;
        let author = self.inner.author;
        let started = std::time::Instant::now();
        let (block, encoded, executed, rejected) = tokio::task::spawn_blocking(move || {
            let mut builder = BlockBuilder::new(&view, genesis_hash, parent, timestamp, author)
                .map_err(|error| ChainError::InvalidBlock {
                    hash: parent,
                    error,
                })?;
            let mut rejected = Vec::new();
            for tx in candidates {
                if builder.is_full() {
                    break;
                }
                match builder.push(tx.xt) {
                    Ok(()) => {}
                    // Already included on this branch, or waiting for an earlier nonce: keep.
                    Err(TransactionError::StaleNonce { .. })
                    | Err(TransactionError::FutureNonce { .. })
                    | Err(TransactionError::ExhaustsBlock { .. }) => {}
                    // No longer valid (e.g. the fee cannot be paid any more): drop.
                    Err(_) => rejected.push(tx.hash),
                }
            }
            let built = builder.finish();
            let update = smt::update(&view, parent_header.state_root, &built.changes)?;
            let (block, changes, events) = built.into_sealed(update.root);
            let executed = Executed::new(changes, events, update.new_nodes);
            // Kept on disk before consensus votes for it; see `Database::put_unfinalized`.
            let encoded = block.encode();
            view.db.put_unfinalized(&block.hash(), &encoded)?;
            Ok::<_, ChainError>((block, encoded, executed, rejected))
        })
        .await
        .map_err(|error| ChainError::Task(error.to_string()))??;

        self.inner
            .metrics
            .import_seconds
            .observe(started.elapsed().as_secs_f64());
        let hash = block.hash();
        let encoded = Arc::new(encoded);
        let header = block.header.clone();
        let mut state = self.lock();
        for dropped in &rejected {
            state.pool.remove(dropped);
        }
        if !rejected.is_empty() {
            let _ = self.inner.events.send(ChainEvent::Dropped(rejected));
        }
        state.pending.insert(
            hash,
            Pending {
                block: Arc::new(block),
                encoded,
                executed: Some(Arc::new(executed)),
            },
        );
        self.set_best_if_higher(&mut state, hash, &header);
        Ok(hash)
    }

    /// Verifies `block` as a child of `parent`, executing it if not yet executed.
    async fn check(&self, parent: Hash, hash: Hash) -> Result<(), ChainError> {
        let (block, view, parent_header) = {
            let state = self.lock();
            let pending = state
                .pending
                .get(&hash)
                .ok_or(ChainError::UnknownBlock(hash))?;
            if pending.executed.is_some() {
                return if pending.block.header.parent_hash == parent {
                    Ok(())
                } else {
                    Err(ChainError::UnknownBlock(parent))
                };
            }
            let block = pending.block.clone();
            let view = Self::view_at(&state, &self.inner.db, parent)
                .ok_or(ChainError::UnknownBlock(parent))?;
            drop(state);
            (block, view, self.header(&parent)?)
        };
        if block.header.parent_hash != parent {
            return Err(ChainError::InvalidBlock {
                hash,
                error: BlockError::Context(pallet_system::ContextError::WrongParent {
                    expected: parent,
                    got: block.header.parent_hash,
                }),
            });
        }
        let now = now_ms();
        if block.header.timestamp > now.saturating_add(MAX_FUTURE_DRIFT_MS) {
            return Err(ChainError::FromTheFuture {
                hash,
                timestamp: block.header.timestamp,
                now,
            });
        }
        let executed = self.execute(view, parent_header, block.clone()).await?;
        let db = self.inner.db.clone();
        let encoded = block.encode();
        tokio::task::spawn_blocking(move || db.put_unfinalized(&hash, &encoded))
            .await
            .map_err(|error| ChainError::Task(error.to_string()))??;
        let mut state = self.lock();
        if let Some(pending) = state.pending.get_mut(&hash) {
            pending.executed = Some(Arc::new(executed));
        }
        self.set_best_if_higher(&mut state, hash, &block.header);
        Ok(())
    }

    /// Commits `target` and its unfinalized ancestors.
    async fn finalize(&self, target: Hash, certificate: Vec<u8>) -> Result<(), ChainError> {
        // Ancestors may still need executing (e.g. received but never verified here); do that
        // first, oldest first, so that each has a view to execute on.
        let route = {
            let state = self.lock();
            if target == state.finalized_hash || self.inner.db.block(&target)?.is_some() {
                return Ok(()); // Already finalized: a replay after restart.
            }
            let mut route = Vec::new();
            let mut cursor = target;
            while cursor != state.finalized_hash {
                let pending = state
                    .pending
                    .get(&cursor)
                    .ok_or(ChainError::UnknownBlock(cursor))?;
                route.push(cursor);
                cursor = pending.block.header.parent_hash;
                if route.len() > MAX_UNFINALIZED {
                    return Err(ChainError::UnknownBlock(cursor));
                }
            }
            route.reverse();
            route
        };
        for hash in &route {
            let parent = self
                .lock()
                .pending
                .get(hash)
                .map(|p| p.block.header.parent_hash);
            if let Some(parent) = parent {
                self.check(parent, *hash).await?;
            }
        }

        let db = self.inner.db.clone();
        let to_commit: Vec<(Hash, Arc<Block>, Arc<Executed>)> = {
            let state = self.lock();
            route
                .iter()
                .map(|hash| {
                    let pending = state
                        .pending
                        .get(hash)
                        .ok_or(ChainError::UnknownBlock(*hash))?;
                    let executed = pending
                        .executed
                        .clone()
                        .ok_or(ChainError::UnknownBlock(*hash))?;
                    Ok((*hash, pending.block.clone(), executed))
                })
                .collect::<Result<_, ChainError>>()?
        };
        let commits = to_commit.clone();
        tokio::task::spawn_blocking(move || {
            let last = commits.len().saturating_sub(1);
            for (index, (hash, block, executed)) in commits.iter().enumerate() {
                let stored = StoredBlock {
                    block: (**block).clone(),
                    events: executed.events.clone(),
                };
                db.commit_finalized(FinalizedBlock {
                    number: block.header.number(),
                    hash: *hash,
                    encoded: &stored.encode(),
                    // The certificate proves the target; ancestors are final because it is.
                    certificate: if index == last { &certificate } else { &[] },
                    state_changes: &executed.changes,
                    new_nodes: &executed.nodes,
                })?;
            }
            Ok::<_, ChainError>(())
        })
        .await
        .map_err(|error| ChainError::Task(error.to_string()))??;

        let mut state = self.lock();
        for (hash, block, _) in &to_commit {
            state.pending.remove(hash);
            state.finalized_hash = *hash;
            state.finalized = block.header.clone();
            let extrinsics = block.extrinsics.iter().map(|xt| xt.hash()).collect();
            let _ = self.inner.events.send(ChainEvent::Finalized {
                header: block.header.clone(),
                extrinsics,
            });
        }
        let finalized_number = state.finalized.number();
        // Blocks at or below the finalized height that were not finalized are on abandoned
        // forks: forget them, in memory and on disk.
        let abandoned: Vec<Hash> = state
            .pending
            .iter()
            .filter(|(_, pending)| pending.block.header.number() <= finalized_number)
            .map(|(hash, _)| *hash)
            .collect();
        for hash in &abandoned {
            state.pending.remove(hash);
        }
        if !abandoned.is_empty() {
            self.inner.db.forget_unfinalized(&abandoned)?;
        }
        if !state.pending.contains_key(&state.best) {
            state.best = state.finalized_hash;
        }
        let view = View {
            db: self.inner.db.clone(),
            layers: Vec::new(),
        };
        // Included extrinsics now have stale nonces; their watchers saw `Finalized` above. Any
        // other extrinsic whose nonce went stale (another one with the same nonce won) is
        // reported dropped.
        let included: std::collections::HashSet<Hash> = to_commit
            .iter()
            .flat_map(|(_, block, _)| block.extrinsics.iter().map(|xt| xt.hash()))
            .collect();
        let dropped: Vec<Hash> = state
            .pool
            .prune_stale(&view)
            .into_iter()
            .filter(|hash| !included.contains(hash))
            .collect();
        if !dropped.is_empty() {
            let _ = self.inner.events.send(ChainEvent::Dropped(dropped));
        }
        let metrics = &self.inner.metrics;
        metrics
            .finalized_height
            .set(i64::try_from(finalized_number).unwrap_or(i64::MAX));
        metrics
            .txpool_size
            .set(i64::try_from(state.pool.len()).unwrap_or(i64::MAX));
        Ok(())
    }
}

impl consensus::Chain for Chain {
    fn genesis(&self) -> Hash {
        self.inner.genesis_hash
    }

    async fn propose(&self, parent: Hash, view: u64) -> Option<Hash> {
        match self.build(parent).await {
            Ok(hash) => {
                tracing::debug!(%hash, %parent, view, "proposed block");
                Some(hash)
            }
            Err(error) => {
                tracing::warn!(%parent, view, %error, "cannot propose");
                None
            }
        }
    }

    async fn verify(&self, parent: Hash, block: Hash) -> bool {
        match self.check(parent, block).await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%block, %parent, %error, "block rejected");
                false
            }
        }
    }

    async fn finalized(&self, block: Hash, certificate: Vec<u8>) {
        if let Err(error) = self.finalize(block, certificate).await {
            // Consensus has finalized a block we cannot commit: continuing would diverge from
            // the rest of the network, so stop and let the operator look.
            tracing::error!(%block, %error, "cannot commit a finalized block; stopping");
            std::process::exit(1);
        }
        let number = self.lock().finalized.number();
        tracing::info!(%block, number, "finalized");
    }

    fn block_bytes(&self, block: Hash) -> Option<Vec<u8>> {
        if let Some(pending) = self.lock().pending.get(&block) {
            return Some((*pending.encoded).clone());
        }
        Self::load_stored(&self.inner.db, &block)
            .ok()
            .map(|stored| stored.block.encode())
    }

    fn receive_block(&self, bytes: Vec<u8>) -> Option<Hash> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return None;
        }
        let mut input = &bytes[..];
        let block = Block::decode(&mut input).ok()?;
        if !input.is_empty() {
            return None;
        }
        let hash = block.hash();
        let mut state = self.lock();
        if state.pending.contains_key(&hash) || block.header.number() <= state.finalized.number() {
            return Some(hash);
        }
        if state.pending.len() >= MAX_UNFINALIZED {
            return None;
        }
        state.pending.insert(
            hash,
            Pending {
                block: Arc::new(block),
                encoded: Arc::new(bytes),
                executed: None,
            },
        );
        Some(hash)
    }

    fn has_block(&self, block: Hash) -> bool {
        self.lock().pending.contains_key(&block)
            || matches!(self.inner.db.block(&block), Ok(Some(_)))
    }

    fn last_finalized(&self) -> Option<Vec<u8>> {
        let hash = self.lock().finalized_hash;
        self.inner
            .db
            .certificate(&hash)
            .ok()
            .flatten()
            .filter(|cert| !cert.is_empty())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    type Model = BTreeMap<Vec<u8>, Vec<u8>>;

    /// A view with `flat` committed as the finalized state and `layers` (oldest first) above.
    fn view_with(dir: &std::path::Path, flat: &Changes, layers: &[Changes]) -> View {
        let db = Arc::new(Database::open(dir).unwrap());
        db.commit_finalized(FinalizedBlock {
            number: 0,
            hash: Hash::of(b"genesis"),
            encoded: b"genesis",
            certificate: &[],
            state_changes: flat,
            new_nodes: &[],
        })
        .unwrap();
        View {
            db,
            // Newest first, as `view_at` builds them.
            layers: layers
                .iter()
                .rev()
                .map(|changes| Arc::new(Executed::new(changes.clone(), Vec::new(), Vec::new())))
                .collect(),
        }
    }

    fn walk(
        view: &View,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        view.try_for_each_prefixed(prefix, after, &mut |key, value| {
            out.push((key.to_vec(), value.to_vec()));
            if out.len() >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        out
    }

    fn expected(
        model: &Model,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        model
            .iter()
            .filter(|(key, _)| {
                key.starts_with(prefix) && after.is_none_or(|after| key.as_slice() > after)
            })
            .take(limit)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    fn set(pairs: &[(&str, Option<&str>)]) -> Changes {
        pairs
            .iter()
            .map(|(key, value)| {
                (
                    key.as_bytes().to_vec(),
                    value.map(|v| v.as_bytes().to_vec()),
                )
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
        list.iter()
            .map(|(key, value)| (key.as_bytes().to_vec(), value.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn newer_layers_override_and_deletions_hide_older_values() {
        let dir = tempfile::tempdir().unwrap();
        let flat = set(&[
            ("pa", Some("db-a")),
            ("pb", Some("db-b")),
            ("pc", Some("db-c")),
            ("pd", Some("db-d")),
            ("q", Some("other prefix")),
        ]);
        let older = set(&[
            ("pb", Some("old-b")),
            ("pc", None),
            ("pe", Some("old-e")),
            ("pf", Some("old-f")),
        ]);
        let newer = set(&[
            // Set in the older layer, deleted in the newer one.
            ("pb", None),
            // Deleted in the older layer, set again in the newer one.
            ("pc", Some("new-c")),
            ("pf", None),
            ("pa0", Some("new-a0")),
            // Deleting a key that never existed changes nothing.
            ("pz", None),
        ]);
        let view = view_with(dir.path(), &flat, &[older, newer]);
        let all = pairs(&[
            ("pa", "db-a"),
            ("pa0", "new-a0"),
            ("pc", "new-c"),
            ("pd", "db-d"),
            ("pe", "old-e"),
        ]);
        assert_eq!(walk(&view, b"p", None, usize::MAX), all);
        assert_eq!(walk(&view, b"p", Some(b"pa0"), usize::MAX), all[2..]);
        assert_eq!(walk(&view, b"p", Some(b"pb"), 2), all[2..4]);
        assert_eq!(walk(&view, b"p", None, 1), all[..1]);
        assert_eq!(
            walk(&view, b"q", None, usize::MAX),
            pairs(&[("q", "other prefix")])
        );
        assert_eq!(walk(&view, b"", None, usize::MAX).len(), all.len() + 1);
        // Point reads agree with the walk.
        assert_eq!(view.get(b"pb"), None);
        assert_eq!(view.get(b"pc"), Some(b"new-c".to_vec()));
        // The `StateIter` face gives the same.
        let mut seen = Vec::new();
        view.for_each_prefixed(b"p", &mut |key, value| {
            seen.push((key.to_vec(), value.to_vec()))
        });
        assert_eq!(seen, all);
    }

    #[test]
    fn merge_matches_a_model_on_random_layers() {
        let mut rng = StdRng::seed_from_u64(7);
        let key = |rng: &mut StdRng| -> Vec<u8> {
            let len = rng.gen_range(1..=3);
            (0..len).map(|_| rng.gen_range(0u8..4) * 0x55).collect()
        };
        for round in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let mut model = Model::new();
            let flat: Changes = (0..rng.gen_range(0..30))
                .map(|_| (key(&mut rng), Some(vec![round, 0])))
                .collect();
            agora_primitives::storage::apply_changes(&mut model, &flat);
            let layers: Vec<Changes> = (0..rng.gen_range(0..5u8))
                .map(|layer| {
                    (0..rng.gen_range(0..20))
                        .map(|_| {
                            let value = rng.gen_bool(0.6).then(|| vec![round, layer + 1]);
                            (key(&mut rng), value)
                        })
                        .collect()
                })
                .collect();
            for changes in &layers {
                agora_primitives::storage::apply_changes(&mut model, changes);
            }
            let view = view_with(dir.path(), &flat, &layers);
            let prefixes: [&[u8]; 5] = [b"", &[0], &[0x55], &[0xaa, 0xff], &[0xff]];
            for prefix in prefixes {
                let mut afters: Vec<Option<Vec<u8>>> = vec![None];
                afters.extend((0..5).map(|_| Some(key(&mut rng))));
                for after in &afters {
                    for limit in [1, 3, usize::MAX] {
                        assert_eq!(
                            walk(&view, prefix, after.as_deref(), limit),
                            expected(&model, prefix, after.as_deref(), limit),
                            "round {round}, prefix {prefix:?}, after {after:?}, limit {limit}"
                        );
                    }
                }
            }
        }
    }
}
