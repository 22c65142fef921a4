//! The node's chain: finalized blocks in RocksDB, unfinalized blocks in memory, the
//! transaction pool, and the block production, import and finalization that consensus drives.
//!
//! # States of a block
//!
//! ```text
//!   received (bytes only) --verify--> executed --finalized--> committed to RocksDB
//!   proposed (built here) ------------^
//! ```
//!
//! - *Received*: a peer's block, decoded and held in memory (at most [`MAX_UNFINALIZED`]
//!   unfinalized blocks, of at most [`MAX_BLOCK_BYTES`] each); not yet executed
//!   (`import.rs`, which says which received blocks make room for others). Blocks reloaded
//!   from disk after a restart start here too, and are executed before anything is built on
//!   or verified against them.
//! - *Executed*: the block's state changes, events and new state-tree nodes are in memory
//!   ([`Executed`]), and its bytes are on disk among the unfinalized blocks, so that a restart
//!   can still commit it if consensus finalizes it. A block this node proposes
//!   (`build.rs`) is executed as it is built; a received one when consensus asks
//!   to verify it, or when it is finalized without having been verified here.
//! - *Committed*: consensus finalized it or a descendant. It and every unfinalized ancestor
//!   are written, oldest first, each in one atomic, synced RocksDB write; unfinalized blocks
//!   at or below the new finalized height are on abandoned forks and are dropped
//!   (`finalize.rs`).
//!
//! Executing a child of an unfinalized block reads through the parent's chain of changes down
//! to the finalized state in RocksDB ([`View`], `view.rs`).
//!
//! The *best* block is the highest executed block descending from the finalized head; RPC
//! reads default to it and [`ChainEvent::NewHead`] announces it.
//!
//! # Files
//!
//! - `mod.rs`: the types, opening (genesis, reloading unfinalized blocks) and reads;
//! - `view.rs`: [`View`], the state as of an unfinalized block;
//! - `build.rs`: building a proposal from the pool;
//! - `import.rs`: receiving a peer's block, and verifying and executing it;
//! - `finalize.rs`: committing a finalized block and its ancestors;
//! - `snapshot.rs`: serving and installing state snapshots (state sync);
//! - `adapter.rs`: the [`crate::consensus::Chain`] implementation over the above;
//! - `host.rs`: [`Host`], the clock, timers and blocking pool the chain runs on.
//!
//! # Concurrency
//!
//! One mutex guards the in-memory state. Execution (signatures, dispatch, state root) and
//! RocksDB writes run on the blocking thread pool *without* the lock, against a [`View`]
//! holding `Arc`s to the layers it needs, so RPC calls are not held up by a large block. Every
//! update under the lock leaves the state consistent at each step, so a poisoned lock is
//! carried on with.
//!
//! # Determinism
//!
//! Whether a block is valid depends only on the block and its parent's state, with one
//! exception taken from the node's clock (read through the chain's [`Host`], which the
//! whole-node simulation replaces with a virtual one): a block more than
//! [`MAX_FUTURE_DRIFT_MS`] ahead of it is refused (a refusal that passes with time, never an
//! acceptance that could be undone).
//! The clock also picks the timestamp of this node's proposals. Nothing else that decides a
//! block's content or validity reads a clock, randomness or hash-map order; the clock times
//! execution for metrics, and abandoned forks are deleted in hash-map order, neither of which
//! reaches the ledger.
//!
//! # Bounds
//!
//! At most [`MAX_UNFINALIZED`] unfinalized blocks are kept; at most [`MAX_BLOCK_TXS`]
//! extrinsics are considered for one proposal; the pool is bounded (see `txpool`).

mod adapter;
mod build;
mod checkpoint;
mod epochs;
mod finalize;
mod host;
mod import;
mod snapshot;
mod view;

pub use checkpoint::Checkpoint;
pub use host::{millis_since_epoch, Host, TokioHost};
pub use view::{Executed, KeyVisitor, View};

use crate::metrics::{set_count, Metrics};
use crate::storage::{Database, FinalizedBlock, StorageError};
use crate::txpool::{Origin, PoolError, PoolLimits, TxPool};
use agora_primitives::referee::Referee;
use agora_primitives::smt::SmtError;
use agora_primitives::storage::RawEvent;
use agora_primitives::{AccountId, Hash, Nonce};
use agora_runtime::block::{Block, Header};
use agora_runtime::executive::{BlockError, TransactionError};
use agora_runtime::extrinsic::ExtrinsicSigner;
use agora_runtime::genesis::ChainSpec;
use pallet_staking::beacon::BeaconSigner;
use parity_scale_codec::{Decode, Encode};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
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
        /// Why (boxed: it is large, and every other error is small).
        error: Box<BlockError>,
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
    /// A child of `parent` (block #`number`) would not be a block of epoch `epoch`.
    #[error("a child of block #{number} ({parent}) is not of epoch {epoch}")]
    WrongEpoch {
        /// The parent.
        parent: Hash,
        /// Its number.
        number: u64,
        /// The epoch consensus asked for.
        epoch: u64,
    },
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
    /// Asked to build a block without a validator key to sign its beacon with.
    #[error("this node has no validator key: it cannot propose blocks")]
    NotAValidator,
    /// A block at the checkpoint's height is another block than the checkpoint's.
    #[error("block #{number} is {found}, but --checkpoint names {expected}: another history")]
    CheckpointContradicted {
        /// The checkpoint's height.
        number: u64,
        /// The checkpoint's hash.
        expected: Hash,
        /// The block found there.
        found: Hash,
    },
    /// This node finalized past the checkpoint's height but knows no block there.
    #[error("this node finalized past --checkpoint #{0} but holds no block there; purge the chain to check it")]
    CheckpointUnknown(u64),
    /// A snapshot below the checkpoint (nothing shows its history leads to it).
    #[error("a snapshot of block #{number} is below --checkpoint #{checkpoint}")]
    SnapshotBelowCheckpoint {
        /// The snapshot's height.
        number: u64,
        /// The checkpoint's.
        checkpoint: u64,
    },
    /// A checkpoint must be the last block of an epoch (so that snapshot offers carry it).
    #[error("--checkpoint #{number} is not the last block of an epoch (epochs of {length} blocks; 0: the chain has one epoch)")]
    CheckpointNotAnEpochEnd {
        /// The height given.
        number: u64,
        /// The chain's epoch length.
        length: u64,
    },
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
    /// Its encoding, as received or built (served to peers without re-encoding).
    encoded: Arc<Vec<u8>>,
    /// `None` until the block is executed (see the module doc's states of a block).
    executed: Option<Arc<Executed>>,
    /// Whether this node vouches for it: built here, reloaded from disk, verified, on the
    /// route of a block consensus certified or notarized, or part of a checked sync run. A
    /// block nobody but peers vouch for may be forgotten to make room (`import.rs`); a
    /// trusted one never is.
    trusted: bool,
    /// The peers that sent it, while it is not trusted; at most one entry per peer.
    offered_by: Vec<[u8; 32]>,
    /// When it was first held, in arrivals counted by [`State::arrivals`]: a peer's oldest
    /// block is forgotten first.
    arrival: u64,
    /// Verifications of it under way: it is not forgotten while consensus verifies it.
    verifying: u32,
}

impl Pending {
    /// A block this node vouches for: built, reloaded or certified.
    fn trusted(block: Arc<Block>, encoded: Arc<Vec<u8>>, executed: Option<Arc<Executed>>) -> Self {
        Pending {
            block,
            encoded,
            executed,
            trusted: true,
            offered_by: Vec::new(),
            arrival: 0,
            verifying: 0,
        }
    }
}

/// What the chain's mutex guards.
struct State {
    /// Header of the finalized head.
    finalized: Header,
    finalized_hash: Hash,
    /// Every unfinalized block, on any fork, by hash.
    pending: HashMap<Hash, Pending>,
    /// Highest executed block descending from the finalized one.
    best: Hash,
    pool: TxPool,
    /// Blocks received from peers so far, to order them by arrival.
    arrivals: u64,
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

/// What a chain is opened with besides its database.
pub struct ChainConfig {
    /// The spec genesis is built from (its id names the chain for RPC and consensus).
    pub spec: ChainSpec,
    /// The least time between a parent (its timestamp, or this node's clock if that is earlier)
    /// and a proposal on it.
    pub block_time: Duration,
    /// Executes disputed steps for the runtime; `None` on a node that cannot (a tool's chain):
    /// blocks that need it are then neither built nor imported.
    pub referee: Option<Arc<dyn Referee>>,
    /// Where the chain's figures are counted.
    pub metrics: Metrics,
}

struct Inner {
    db: Arc<Database>,
    /// The spec genesis was built from (its id names the chain for RPC and consensus).
    spec: ChainSpec,
    genesis_hash: Hash,
    /// The least time between a parent (its timestamp, or this node's clock if that is earlier)
    /// and a proposal on it.
    block_time: Duration,
    /// Executes disputed steps for the runtime; `None` on a node that cannot (a tool's chain):
    /// blocks that need it are then neither built nor imported.
    referee: Option<Arc<dyn Referee>>,
    state: Mutex<State>,
    events: broadcast::Sender<ChainEvent>,
    /// Extrinsics submitted to this node (not those relayed by peers), for consensus to pass
    /// to the other nodes: a validator includes only what reached its own pool.
    submitted: broadcast::Sender<Vec<u8>>,
    metrics: Metrics,
    /// The account that signs reports of equivocation this node sees (`--report-key`).
    reporter: std::sync::OnceLock<Box<dyn ExtrinsicSigner + Send + Sync>>,
    /// Signs the beacon proof of the blocks this node proposes: a validator's only.
    /// The validator key blocks are proposed with, and the account credited as their author.
    proposer: std::sync::OnceLock<(BeaconSigner, AccountId)>,
    /// The clock, timers and blocking pool ([`Host`]).
    host: Arc<dyn Host>,
    /// The block every history is held against (`--checkpoint`), if any.
    checkpoint: std::sync::OnceLock<Checkpoint>,
    /// Fetches from peers a blob a block to import needs ([`Chain::set_blob_fetch`]).
    blob_fetch: std::sync::OnceLock<BlobFetch>,
}

/// Makes a blob registered in the given state local: fetched from peers, checked against its
/// hash and stored; resolves to whether this node holds it now. The class says whether a block
/// waits on it (`Needed`) or it is ahead of need (a pooled call's: it yields fetch slots to
/// fetches something waits on). It must keep fetching if the future is dropped (a vote's wait
/// gives up before a large fetch ends; the next import finds it held).
pub type BlobFetch = Arc<
    dyn Fn(View, Hash, crate::consensus::FetchClass) -> futures::future::BoxFuture<'static, bool>
        + Send
        + Sync,
>;

/// Most blobs fetched ahead for one pooled call each time it reaches this node
/// (`Chain::prefetch_blobs`; a `RevealStarts` may name hundreds). Those beyond the fetch
/// slots ahead of need wait in the blob exchange's queue, kept per signer: as many as one
/// signer may queue ([`MAX_QUEUED_PER_REQUESTER`](crate::consensus::blobs::MAX_QUEUED_PER_REQUESTER)).
pub const MAX_PREFETCH_PER_CALL: usize = 32;

/// Most of a call's required blobs looked at (a look is a file lookup) each time it reaches
/// this node.
pub const MAX_PREFETCH_LOOKS_PER_CALL: usize = 64;

/// Extrinsics submitted here and not yet relayed that may wait for the relay; more are
/// relayed late or not at all (they stay in this node's pool either way).
pub const RELAY_QUEUE: usize = 16_384;

/// Most extrinsics submitted here that one finalization hands to the relay again because they
/// are still pooled (`TxPool::take_relay_due`): one relay message's worth.
pub const RELAY_AGAIN_PER_FINALIZATION: usize = crate::consensus::relay::MAX_BATCH;

/// Most bytes of them (encoded under the chain's lock).
pub const RELAY_AGAIN_BYTES: usize = 1 << 20;

/// The chain. Cheap to clone.
#[derive(Clone)]
pub struct Chain {
    inner: Arc<Inner>,
}

/// The domain every consensus signature of this chain is bound to: `"agora/" ‖ chain id ‖
/// genesis hash`, so votes and certificates of one chain mean nothing on another.
/// The runtime rebuilds the same bytes to check equivocation evidence.
pub fn consensus_namespace(chain_id: &str, genesis_hash: &Hash) -> Vec<u8> {
    pallet_staking::equivocation::consensus_namespace(chain_id.as_bytes(), genesis_hash)
}

/// A batch's validation gave fewer verdicts than it had extrinsics: a bug, refused rather
/// than admitted unchecked.
fn no_verdict() -> PoolError {
    PoolError::Invalid(TransactionError::Extrinsic(
        agora_runtime::extrinsic::ExtrinsicError::Malformed("no verdict".to_owned()),
    ))
}

impl Chain {
    /// Opens the chain in `db`, writing genesis from `config.spec` if the database is empty.
    /// Runs on tokio ([`TokioHost`]).
    pub fn open(db: Arc<Database>, config: ChainConfig) -> Result<Chain, ChainError> {
        Self::open_on(Arc::new(TokioHost), db, config)
    }

    /// [`Chain::open`] on `host`.
    pub fn open_on(
        host: Arc<dyn Host>,
        db: Arc<Database>,
        config: ChainConfig,
    ) -> Result<Chain, ChainError> {
        let ChainConfig {
            spec,
            block_time,
            referee,
            metrics,
        } = config;
        let genesis_hash = Self::init_genesis(&db, &spec)?;
        let (_, finalized_hash) = db.finalized_head()?.unwrap_or((0, genesis_hash));
        let finalized = Self::load_stored(&db, &finalized_hash)?.block.header;
        set_count(&metrics.finalized_height, finalized.number());
        set_count(&metrics.best_height, finalized.number());
        let pending = Self::reload_unfinalized(&db, finalized.number())?;
        let (events, _) = broadcast::channel(1_024);
        let (submitted, _) = broadcast::channel(RELAY_QUEUE);
        let state = State {
            finalized,
            finalized_hash,
            pending,
            best: finalized_hash,
            pool: TxPool::new(PoolLimits::default()),
            arrivals: 0,
        };
        Ok(Chain {
            inner: Arc::new(Inner {
                db,
                spec,
                genesis_hash,
                block_time,
                referee,
                state: Mutex::new(state),
                events,
                submitted,
                metrics,
                reporter: std::sync::OnceLock::new(),
                proposer: std::sync::OnceLock::new(),
                host,
                checkpoint: std::sync::OnceLock::new(),
                blob_fetch: std::sync::OnceLock::new(),
            }),
        })
    }

    /// Proposes blocks as the validator `signer` names (its consensus key, and the beacon key
    /// derived from the same seed), crediting `author`, from now on (once; later calls are
    /// ignored). A chain without one refuses to build ([`ChainError::NotAValidator`]).
    pub fn set_proposer(&self, signer: BeaconSigner, author: AccountId) {
        let _ = self.inner.proposer.set((signer, author));
    }

    /// The consensus key and the beacon key of this node's validator key (public halves) and
    /// the consensus key's signature vouching for the beacon key, if it proposes
    /// ([`Chain::set_proposer`]).
    pub fn validator_keys(&self) -> Option<(Hash, Hash, [u8; 64])> {
        let (signer, _) = self.inner.proposer.get()?;
        Some((signer.proposer(), signer.beacon_key(), signer.binding()))
    }

    /// Fetches with `fetch` the blobs a block to import needs and this node lacks, from now on
    /// (once; later calls are ignored): see `import`, "Blobs a block needs". Without it such
    /// a block is refused, as a node that cannot decide must.
    pub fn set_blob_fetch(&self, fetch: BlobFetch) {
        let _ = self.inner.blob_fetch.set(fetch);
    }

    /// Signs reports of equivocation with `key` from now on (once; later calls are ignored).
    pub fn set_reporter(&self, key: impl ExtrinsicSigner + Send + Sync + 'static) {
        let _ = self.inner.reporter.set(Box::new(key));
    }

    /// Writes the genesis block of `spec` and its state into an empty database, or checks that
    /// the genesis already stored is the spec's. Returns the genesis hash.
    fn init_genesis(db: &Database, spec: &ChainSpec) -> Result<Hash, ChainError> {
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
        Ok(genesis_hash)
    }

    /// The blocks this node proposed or voted for before it stopped, unexecuted: consensus may
    /// still finalize them (it journals certificates before the chain commits them). Entries
    /// at or below the finalized height, or that do not decode to the hash they are stored
    /// under, are forgotten.
    fn reload_unfinalized(
        db: &Database,
        finalized_number: u64,
    ) -> Result<HashMap<Hash, Pending>, ChainError> {
        let mut pending = HashMap::new();
        let mut stale = Vec::new();
        for (hash, bytes) in db.unfinalized()? {
            match Block::decode(&mut &bytes[..]) {
                Ok(block) if block.header.number() > finalized_number && block.hash() == hash => {
                    let encoded = Arc::new(block.encode());
                    pending.insert(hash, Pending::trusted(Arc::new(block), encoded, None));
                }
                _ => stale.push(hash),
            }
        }
        db.forget_unfinalized(&stale)?;
        Ok(pending)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the state as it was at some step of an update;
        // every update (in this module and its submodules) is written to be consistent at each
        // step, so we carry on.
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

    /// The node's metrics (shared with whoever serves them).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
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

    /// Validates and pools an extrinsic submitted to this node against the finalized state,
    /// and queues it for relay to the other nodes ([`Chain::relay_queue`]): a batch of one of
    /// [`Chain::submit_batch`]. The RPC server batches its clients' submissions instead
    /// (`rpc::admission`).
    pub fn submit(&self, bytes: &[u8]) -> Result<Hash, PoolError> {
        let mut verdicts = self.submit_batch(&[bytes.to_vec()], Origin::Local);
        verdicts.pop().unwrap_or_else(|| Err(no_verdict()))
    }

    /// Extrinsics submitted to this node from now on, for relay to peers.
    pub fn relay_queue(&self) -> broadcast::Receiver<Vec<u8>> {
        self.inner.submitted.subscribe()
    }

    /// Validates and pools a batch of extrinsics a peer relayed: [`Chain::submit_batch`] of
    /// [`Origin::Peer`]. They are not relayed again (the submitting node sends them to every
    /// peer itself).
    pub fn submit_relayed_batch(&self, batch: &[Vec<u8>]) -> Vec<Result<Hash, PoolError>> {
        self.submit_batch(batch, Origin::Peer)
    }

    /// Validates and pools a batch of extrinsics, in order, each with the verdict it would
    /// get alone: decoding and the runtime's checks run outside the chain's lock (a client
    /// resending an extrinsic with a bad signature never holds the lock that block production
    /// and import need), the signatures verified in batches on all cores. An extrinsic
    /// already pooled, or repeated in the batch, is answered as known without being validated
    /// again. Those of [`Origin::Local`] that are admitted are queued for relay to the other
    /// nodes ([`Chain::relay_queue`]), in order.
    pub fn submit_batch(&self, batch: &[Vec<u8>], origin: Origin) -> Vec<Result<Hash, PoolError>> {
        use agora_runtime::executive::validate_transactions;
        use agora_runtime::extrinsic::Extrinsic;
        let view = self.finalized_view();
        let hashes: Vec<Hash> = batch
            .iter()
            .map(|bytes| agora_runtime::extrinsic::hash_of(bytes))
            .collect();
        // Before any signature is checked, under one short lock: an extrinsic already pooled,
        // or repeated in the batch, is not validated again (a client's extrinsic sent to k
        // nodes reaches every validator k times). A repeat gets its first copy's verdict below.
        let (head, known, first_copy) = {
            let state = self.lock();
            let mut seen = std::collections::BTreeMap::new();
            let first_copy: Vec<Option<usize>> = hashes
                .iter()
                .enumerate()
                .map(|(at, hash)| match seen.entry(*hash) {
                    std::collections::btree_map::Entry::Occupied(first) => Some(*first.get()),
                    std::collections::btree_map::Entry::Vacant(slot) => {
                        slot.insert(at);
                        None
                    }
                })
                .collect();
            let known: Vec<bool> = hashes
                .iter()
                .zip(&first_copy)
                .map(|(hash, first)| first.is_some() || state.pool.contains(hash))
                .collect();
            (state.finalized_hash, known, first_copy)
        };
        let decoded: Vec<Result<Extrinsic, PoolError>> = batch
            .iter()
            .zip(&hashes)
            .zip(&known)
            .map(|((bytes, hash), known)| {
                if *known {
                    return Err(PoolError::AlreadyImported(*hash));
                }
                Extrinsic::decode_bounded(bytes)
                    .map_err(|error| PoolError::Invalid(TransactionError::from(error)))
            })
            .collect();
        let candidates: Vec<(&Extrinsic, usize)> = decoded
            .iter()
            .zip(batch)
            .filter_map(|(xt, bytes)| xt.as_ref().ok().map(|xt| (xt, bytes.len())))
            .collect();
        self.inner
            .metrics
            .txpool_validated
            .inc_by(u64::try_from(candidates.len()).unwrap_or(u64::MAX));
        let verdicts = validate_transactions(&view, &self.inner.genesis_hash, head, &candidates);
        let mut verdicts = verdicts.into_iter();
        // `None` for an extrinsic that did not decode (never admitted, so never prefetched).
        let required: Vec<Option<(AccountId, Vec<Hash>)>> = decoded
            .iter()
            .map(|xt| {
                let xt = xt.as_ref().ok()?;
                Some((xt.signer, xt.call.blobs_required()))
            })
            .collect();
        let mut state = self.lock();
        let mut results: Vec<Result<Hash, PoolError>> = decoded
            .into_iter()
            .zip(batch)
            .zip(hashes)
            .map(|((xt, bytes), hash)| {
                let xt = xt?;
                let valid = verdicts.next().ok_or_else(no_verdict)??;
                state
                    .pool
                    .admit(&view, hash, xt, bytes.len(), valid, origin)
            })
            .collect();
        set_count(&self.inner.metrics.txpool_size, state.pool.len());
        self.report_dropped(&mut state);
        drop(state);
        // A repeat is known if its first copy was admitted, and refused as it was if not (a
        // repeat of a refused extrinsic is not in the pool: "already imported" would be false).
        for (at, first) in first_copy.into_iter().enumerate() {
            if let Some(verdict) = first.and_then(|first| results.get(first).cloned()) {
                results[at] = verdict.and_then(|hash| Err(PoolError::AlreadyImported(hash)));
            }
        }
        if origin == Origin::Local {
            for (result, bytes) in results.iter().zip(batch) {
                if result.is_ok() {
                    // No subscriber (no network yet, or a tool's chain) is not an error.
                    let _ = self.inner.submitted.send(bytes.clone());
                }
            }
        }
        self.prefetch_blobs(
            results
                .iter()
                .zip(required)
                .filter_map(|(result, required)| required.filter(|_| result.is_ok())),
        );
        results
    }

    /// Starts fetching from peers the blobs that pooled calls need (`blobs_required`) and this
    /// node lacks, so that it holds them when it leads: a leader leaves out a call it cannot
    /// decide, so a bid placed through a full node, whose inputs only that node held, was left
    /// out by every leader (then relayed again and left out again). The fetches run on their
    /// own ([`Chain::set_blob_fetch`]), ahead of need: they yield fetch slots to fetches
    /// something waits on, since anyone can submit such calls for no fee, and wait in a
    /// bounded queue for a slot, kept per signer and started in turns. One that fails (queue
    /// full, not registered yet) is tried again when the call reaches this node again
    /// (relayed anew by its submitter's node) or a block needs the blob.
    /// `calls` holds each call's signer and required blobs; of each, the first
    /// [`MAX_PREFETCH_PER_CALL`] this node lacks are fetched (those it holds are skipped first,
    /// so a call naming many is fetched a few more each time it comes back).
    pub(super) fn prefetch_blobs(&self, calls: impl IntoIterator<Item = (AccountId, Vec<Hash>)>) {
        let (Some(fetch), Some(referee)) = (self.inner.blob_fetch.get(), &self.inner.referee)
        else {
            return;
        };
        // Each blob for every signer naming it: the exchange queues it in each one's turns,
        // so a signer naming another's blob first does not make it wait for the first's.
        let mut missing: std::collections::BTreeSet<(Hash, AccountId)> = Default::default();
        for (signer, blobs) in calls {
            let lacked = blobs
                .into_iter()
                .take(MAX_PREFETCH_LOOKS_PER_CALL)
                .filter(|blob| !referee.holds(blob))
                .take(MAX_PREFETCH_PER_CALL);
            missing.extend(lacked.map(|blob| (blob, signer)));
        }
        if missing.is_empty() {
            return;
        }
        let view = self.view(None).unwrap_or_else(|| self.finalized_view());
        for (blob, signer) in missing {
            tracing::debug!(%blob, "fetching a blob a pooled call needs");
            // Dropped: the fetch goes on by itself.
            let class = crate::consensus::FetchClass::Ahead(signer.0);
            drop(fetch(view.clone(), blob, class));
        }
    }

    /// Tells watchers about waiting extrinsics the pool dropped while admitting others.
    fn report_dropped(&self, state: &mut State) {
        let dropped = state.pool.take_dropped();
        if !dropped.is_empty() {
            let _ = self.inner.events.send(ChainEvent::Dropped(dropped));
        }
    }

    /// The next nonce of `who`, counting its pooled extrinsics.
    pub fn next_nonce(&self, who: &AccountId) -> Nonce {
        let view = self.finalized_view();
        let state_nonce = agora_runtime::System::account_nonce(&view, who);
        self.lock().pool.next_nonce(who, state_nonce)
    }

    /// Makes the executed block `hash` the best block if it is higher than the current best,
    /// announcing it. Ties keep the block executed first, so the best block does not flap
    /// between forks of equal height.
    fn set_best_if_higher(&self, state: &mut State, hash: Hash, header: &Header) {
        let best_number = state
            .pending
            .get(&state.best)
            .map_or(state.finalized.number(), |pending| {
                pending.block.header.number()
            });
        if header.number() > best_number {
            state.best = hash;
            set_count(&self.inner.metrics.best_height, header.number());
            let _ = self.inner.events.send(ChainEvent::NewHead(header.clone()));
        }
    }
}

impl Chain {
    /// Runs `work` on the host's blocking pool and returns what it returned.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ChainError> {
        let (sender, receiver) = futures::channel::oneshot::channel();
        self.inner
            .host
            .run_blocking(Box::new(move || {
                let _ = sender.send(work());
            }))
            .await;
        // No result: `work` panicked, or the runtime is shutting down and cancelled it.
        receiver
            .await
            .map_err(|_| ChainError::Task("it panicked or was cancelled".to_owned()))
    }

    /// Milliseconds since the Unix epoch by the host's clock. The node, not the runtime,
    /// reads the clock: it picks timestamps for its proposals and refuses blocks from the far
    /// future. The runtime only checks that time increases.
    fn now_ms(&self) -> u64 {
        self.inner.host.now_ms()
    }
}
