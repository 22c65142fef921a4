//! RocksDB persistence of the node: finalized blocks, their certificates and the state.
//!
//! One database, one column family per kind of record:
//!
//! | column family | key | value |
//! |---|---|---|
//! | `state_nodes` | node hash (32 bytes) | encoded state tree node ([`agora_primitives::smt`]) |
//! | `state_flat` | state key | value at the finalized head (fast reads during execution) |
//! | `blocks` | block hash (32 bytes) | encoded block, opaque here |
//! | `block_hashes` | block number (8 bytes, big-endian, so they sort by height) | block hash |
//! | `certificates` | block hash | finality certificate, opaque here (empty for genesis) |
//! | `meta` | `finalized_head` | finalized head: number (8 bytes BE) ‖ hash (32 bytes) |
//! | `meta` | `epoch_end` ‖ epoch (8 bytes BE) | an epoch's end a state snapshot brought (below) |
//!
//! A finalized block is written by [`Database::commit_finalized`] as one atomic `WriteBatch`
//! synced to the write-ahead log before it returns, so after a crash the database holds either
//! all of a block (block, number index, certificate, state changes, tree nodes, new head) or none
//! of it, and the flat state always equals the tree state at the head's state root.
//!
//! Tree nodes are never deleted: every historical state root stays readable and provable
//! ([`Database::state_at`], [`Database::prove_at`]). Pruning is a later concern.
//!
//! A node that joined by state sync starts its history at a snapshot
//! ([`Database::install_snapshot`]): it holds genesis, the snapshot block and the blocks after
//! it, the hashes (only) of the epochs' last blocks in between, and the state tree of the
//! snapshot's root, but no blocks, certificates or older states below the snapshot.

use agora_primitives::smt::{self, NodeStore, Proof, SmtError};
use agora_primitives::Hash;
use rocksdb::{
    BlockBasedOptions, ColumnFamily, ColumnFamilyDescriptor, DBCompressionType, DBWithThreadMode,
    Options, ReadOptions, SingleThreaded, WriteBatch, WriteOptions,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const CF_STATE_NODES: &str = "state_nodes";
const CF_STATE_FLAT: &str = "state_flat";
const CF_BLOCKS: &str = "blocks";
const CF_BLOCK_HASHES: &str = "block_hashes";
const CF_CERTIFICATES: &str = "certificates";
const CF_META: &str = "meta";
/// Blocks proposed or verified here but not yet finalized (hash → encoded block). Written,
/// synced, before this node votes for the block: consensus may journal a finalization of it
/// before the chain commits it, and after a crash in between the body must still be here.
const CF_UNFINALIZED: &str = "unfinalized";
const COLUMN_FAMILIES: [&str; 7] = [
    CF_STATE_NODES,
    CF_STATE_FLAT,
    CF_BLOCKS,
    CF_BLOCK_HASHES,
    CF_CERTIFICATES,
    CF_META,
    CF_UNFINALIZED,
];

const META_FINALIZED_HEAD: &[u8] = b"finalized_head";

/// The `meta` key of the end of `epoch` a snapshot brought: `"epoch_end" ‖ epoch` (8 bytes BE).
fn epoch_end_key(epoch: u64) -> Vec<u8> {
    [&b"epoch_end"[..], &epoch.to_be_bytes()].concat()
}

/// Errors of the database; each names the values involved.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// RocksDB refused to open the directory.
    #[error("cannot open the database at {}: {source}", path.display())]
    Open {
        /// The database directory.
        path: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A RocksDB read or write failed.
    #[error("database {operation} failed: {source}")]
    Rocks {
        /// What was being done.
        operation: String,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A column family that `open` creates is missing.
    #[error("database column family {name} is missing")]
    MissingColumnFamily {
        /// Its name.
        name: &'static str,
    },
    /// The database is empty and the block is not genesis.
    #[error(
        "cannot commit block #{number} ({hash}): the database is empty, the first block must be #0"
    )]
    NotGenesis {
        /// Number of the rejected block.
        number: u64,
        /// Hash of the rejected block.
        hash: Hash,
    },
    /// The block does not directly follow the finalized head.
    #[error(
        "cannot commit block #{number} ({hash}) on finalized head #{head} ({head_hash}): \
         finalized blocks are committed one height at a time"
    )]
    OutOfOrder {
        /// Number of the rejected block.
        number: u64,
        /// Hash of the rejected block.
        hash: Hash,
        /// Number of the finalized head.
        head: u64,
        /// Hash of the finalized head.
        head_hash: Hash,
    },
    /// A record has the wrong shape.
    #[error("corrupt {what} in the database: {reason}")]
    Corrupt {
        /// Which record.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The state tree failed (missing or corrupt node).
    #[error(transparent)]
    Smt(#[from] SmtError),
    /// A snapshot can only replace the state of a database that holds nothing but genesis.
    #[error(
        "cannot install the snapshot of block #{number} ({hash}): the database has finalized \
         up to #{head}, and a snapshot replaces only a database at genesis"
    )]
    NotAtGenesis {
        /// The snapshot's block number.
        number: u64,
        /// The snapshot's block hash.
        hash: Hash,
        /// The database's finalized height.
        head: u64,
    },
}

/// A state snapshot to install ([`Database::install_snapshot`]), checked by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot<'a> {
    /// The snapshot block, stored as given, with its number, hash and finality certificate.
    pub block: FinalizedBlock<'a>,
    /// Every `(key, value)` of the state at the block's state root.
    pub state: &'a BTreeMap<Vec<u8>, Vec<u8>>,
    /// The epochs' ends below the snapshot, known without their blocks or states: `(epoch,
    /// height, hash, the encoded end as served)`; their heights are indexed and the ends kept
    /// ([`Database::epoch_end`]).
    pub epoch_ends: &'a [(u64, u64, Hash, Vec<u8>)],
}

/// A finalized block and everything that is persisted with it.
#[derive(Debug, Clone, Copy)]
pub struct FinalizedBlock<'a> {
    /// Height; 0 for genesis.
    pub number: u64,
    /// Block hash.
    pub hash: Hash,
    /// Encoded block, stored as given.
    pub encoded: &'a [u8],
    /// Finality certificate, stored as given (empty for genesis).
    pub certificate: &'a [u8],
    /// The block's state changes (`None` deletes), applied to the flat state.
    pub state_changes: &'a BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The state tree nodes the block created ([`smt::Update::new_nodes`]).
    pub new_nodes: &'a [(Hash, Vec<u8>)],
}

/// The node's database. `Send + Sync`; share it through an `Arc`.
pub struct Database {
    // SingleThreaded names the column-family handle mode only (handles are created at open and
    // never dropped); the database itself is safe to use from many threads.
    db: DBWithThreadMode<SingleThreaded>,
    /// Serialises commits so that the head check and the write are one step.
    commit_lock: Mutex<()>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.db.path())
            .finish()
    }
}

fn rocks(operation: impl Into<String>) -> impl FnOnce(rocksdb::Error) -> StorageError {
    let operation = operation.into();
    move |source| StorageError::Rocks { operation, source }
}

fn column_family_options(name: &str) -> Options {
    let mut options = Options::default();
    options.set_compression_type(DBCompressionType::Lz4);
    if matches!(name, CF_STATE_NODES | CF_STATE_FLAT) {
        // Point lookups by key dominate: a bloom filter saves most disk reads for absent keys.
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        options.set_block_based_table_factory(&table);
    }
    options
}

impl Database {
    /// Opens (creating if needed) the database in the directory `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        let descriptors = COLUMN_FAMILIES
            .iter()
            .map(|name| ColumnFamilyDescriptor::new(*name, column_family_options(name)));
        let db =
            DBWithThreadMode::<SingleThreaded>::open_cf_descriptors(&options, path, descriptors)
                .map_err(|source| StorageError::Open {
                    path: path.to_owned(),
                    source,
                })?;
        Ok(Self {
            db,
            commit_lock: Mutex::new(()),
        })
    }

    fn cf(&self, name: &'static str) -> Result<&ColumnFamily, StorageError> {
        self.db
            .cf_handle(name)
            .ok_or(StorageError::MissingColumnFamily { name })
    }

    fn read(&self, name: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let value = self
            .db
            .get_pinned_cf(self.cf(name)?, key)
            .map_err(rocks(format!(
                "read of {} in {name}",
                agora_primitives::encode_hex(key)
            )))?;
        Ok(value.map(|value| value.to_vec()))
    }

    /// Writes `block` and its state as one atomic batch, synced to the write-ahead log before
    /// returning. `block.number` must be 0 on an empty database and `head + 1` otherwise; any
    /// other number is rejected without writing anything.
    pub fn commit_finalized(&self, block: FinalizedBlock<'_>) -> Result<(), StorageError> {
        let _guard = self
            .commit_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match self.finalized_head()? {
            None if block.number != 0 => {
                return Err(StorageError::NotGenesis {
                    number: block.number,
                    hash: block.hash,
                });
            }
            Some((head, head_hash)) if head.checked_add(1) != Some(block.number) => {
                return Err(StorageError::OutOfOrder {
                    number: block.number,
                    hash: block.hash,
                    head,
                    head_hash,
                });
            }
            _ => {}
        }
        let mut batch = WriteBatch::default();
        let nodes = self.cf(CF_STATE_NODES)?;
        for (hash, encoded) in block.new_nodes {
            batch.put_cf(nodes, hash.0, encoded);
        }
        let flat = self.cf(CF_STATE_FLAT)?;
        for (key, value) in block.state_changes {
            match value {
                Some(value) => batch.put_cf(flat, key, value),
                None => batch.delete_cf(flat, key),
            }
        }
        batch.put_cf(self.cf(CF_BLOCKS)?, block.hash.0, block.encoded);
        batch.put_cf(
            self.cf(CF_BLOCK_HASHES)?,
            block.number.to_be_bytes(),
            block.hash.0,
        );
        batch.put_cf(self.cf(CF_CERTIFICATES)?, block.hash.0, block.certificate);
        batch.delete_cf(self.cf(CF_UNFINALIZED)?, block.hash.0);
        self.write_head(batch, block, "commit")
    }

    /// Adds the finalized head `block` to `batch` and writes it, synced; `what` names the write
    /// in an error.
    fn write_head(
        &self,
        mut batch: WriteBatch,
        block: FinalizedBlock<'_>,
        what: &str,
    ) -> Result<(), StorageError> {
        let mut head = [0u8; 40];
        let (number, hash) = head.split_at_mut(8);
        number.copy_from_slice(&block.number.to_be_bytes());
        hash.copy_from_slice(&block.hash.0);
        batch.put_cf(self.cf(CF_META)?, META_FINALIZED_HEAD, head);
        let mut write_options = WriteOptions::default();
        write_options.set_sync(true);
        self.db
            .write_opt(batch, &write_options)
            .map_err(rocks(format!(
                "{what} of block #{} ({})",
                block.number, block.hash
            )))
    }

    /// Makes `snapshot` the finalized head of a database that holds only genesis, in one
    /// atomic, synced write: its block, certificate and number, the state tree nodes, and a
    /// flat state that is exactly the snapshot's (genesis keys it lacks are deleted). The caller
    /// has checked the certificate and that the nodes form the tree of the block's state root;
    /// `snapshot.block.state_changes` is ignored. Any other database is refused untouched.
    pub fn install_snapshot(&self, snapshot: Snapshot<'_>) -> Result<(), StorageError> {
        let _guard = self
            .commit_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let block = snapshot.block;
        match self.finalized_head()? {
            Some((0, _)) => {}
            head => {
                return Err(StorageError::NotAtGenesis {
                    number: block.number,
                    hash: block.hash,
                    head: head.map_or(0, |(number, _)| number),
                })
            }
        }
        let mut batch = WriteBatch::default();
        let nodes = self.cf(CF_STATE_NODES)?;
        for (hash, encoded) in block.new_nodes {
            batch.put_cf(nodes, hash.0, encoded);
        }
        let flat = self.cf(CF_STATE_FLAT)?;
        // Bounded by the genesis state, the only state this database holds.
        for item in self.db.iterator_cf(flat, rocksdb::IteratorMode::Start) {
            let (key, _) = item.map_err(rocks("iteration of the flat state"))?;
            if !snapshot.state.contains_key(key.as_ref()) {
                batch.delete_cf(flat, key);
            }
        }
        for (key, value) in snapshot.state {
            batch.put_cf(flat, key, value);
        }
        let hashes = self.cf(CF_BLOCK_HASHES)?;
        let meta = self.cf(CF_META)?;
        for (epoch, number, hash, end) in snapshot.epoch_ends {
            batch.put_cf(hashes, number.to_be_bytes(), hash.0);
            batch.put_cf(meta, epoch_end_key(*epoch), end);
        }
        batch.put_cf(self.cf(CF_BLOCKS)?, block.hash.0, block.encoded);
        batch.put_cf(hashes, block.number.to_be_bytes(), block.hash.0);
        batch.put_cf(self.cf(CF_CERTIFICATES)?, block.hash.0, block.certificate);
        self.write_head(batch, block, "install of the snapshot")
    }

    /// The end of `epoch` a snapshot brought ([`Snapshot::epoch_ends`]), encoded.
    pub fn epoch_end(&self, epoch: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(CF_META, &epoch_end_key(epoch))
    }

    /// Keeps the body of a block this node is about to vote for, synced, until it is finalized
    /// (or dropped by [`Database::forget_unfinalized`]).
    pub fn put_unfinalized(&self, hash: &Hash, encoded: &[u8]) -> Result<(), StorageError> {
        let mut write_options = WriteOptions::default();
        write_options.set_sync(true);
        self.db
            .put_cf_opt(self.cf(CF_UNFINALIZED)?, hash.0, encoded, &write_options)
            .map_err(rocks(format!("write of unfinalized block {hash}")))
    }

    /// Every kept unfinalized block body, in hash order.
    pub fn unfinalized(&self) -> Result<Vec<(Hash, Vec<u8>)>, StorageError> {
        self.db
            .iterator_cf(self.cf(CF_UNFINALIZED)?, rocksdb::IteratorMode::Start)
            .map(|item| {
                let (key, value) = item.map_err(rocks("iteration of unfinalized blocks"))?;
                let hash: [u8; 32] =
                    key.as_ref().try_into().map_err(|_| StorageError::Corrupt {
                        what: "unfinalized block key".into(),
                        reason: format!("{} bytes, expected 32", key.len()),
                    })?;
                Ok((Hash(hash), value.to_vec()))
            })
            .collect()
    }

    /// Drops kept unfinalized block bodies (blocks on abandoned forks).
    pub fn forget_unfinalized(&self, hashes: &[Hash]) -> Result<(), StorageError> {
        let mut batch = WriteBatch::default();
        let cf = self.cf(CF_UNFINALIZED)?;
        for hash in hashes {
            batch.delete_cf(cf, hash.0);
        }
        self.db
            .write(batch)
            .map_err(rocks("removal of unfinalized blocks"))
    }

    /// Number and hash of the last committed block, `None` before genesis.
    pub fn finalized_head(&self) -> Result<Option<(u64, Hash)>, StorageError> {
        let Some(bytes) = self.read(CF_META, META_FINALIZED_HEAD)? else {
            return Ok(None);
        };
        let corrupt = || StorageError::Corrupt {
            what: "finalized head".into(),
            reason: format!("{} bytes, expected 40", bytes.len()),
        };
        let (number, hash) = bytes.split_first_chunk::<8>().ok_or_else(corrupt)?;
        let hash: [u8; 32] = hash.try_into().map_err(|_| corrupt())?;
        Ok(Some((u64::from_be_bytes(*number), Hash(hash))))
    }

    /// The encoded block with this hash, if committed.
    pub fn block(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(CF_BLOCKS, &hash.0)
    }

    /// Hash of the committed block at height `number`.
    pub fn block_hash(&self, number: u64) -> Result<Option<Hash>, StorageError> {
        let Some(bytes) = self.read(CF_BLOCK_HASHES, &number.to_be_bytes())? else {
            return Ok(None);
        };
        let hash: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| StorageError::Corrupt {
                what: format!("hash of block #{number}"),
                reason: format!("{} bytes, expected 32", bytes.len()),
            })?;
        Ok(Some(Hash(hash)))
    }

    /// The finality certificate of the committed block with this hash (empty for genesis).
    pub fn certificate(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(CF_CERTIFICATES, &hash.0)
    }

    /// Value of `key` in the state of the finalized head (flat table, one read).
    pub fn latest_state(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.read(CF_STATE_FLAT, key)
    }

    /// Value of `key` in the state with root `root` (any committed root), read through the tree.
    pub fn state_at(&self, root: Hash, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(smt::get(self, root, key)?)
    }

    /// Proof of the value or absence of `key` in the state with root `root`.
    pub fn prove_at(&self, root: Hash, key: &[u8]) -> Result<Proof, StorageError> {
        Ok(smt::prove(self, root, key)?)
    }

    /// The `(key, value)` pairs of the flat state (the finalized head's state) whose key starts
    /// with `prefix`, in key order; with `after`, only keys strictly greater than it.
    ///
    /// The iterator reads a consistent snapshot of the flat state taken when it is created, so a
    /// block committed meanwhile is either wholly visible or not at all. RocksDB stops at the
    /// first key past the prefix (an upper bound on the read options), so a short page of a
    /// large table costs only the keys it returns.
    pub fn flat_prefixed<'a>(
        &'a self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<impl Iterator<Item = Result<FlatEntry, StorageError>> + 'a, StorageError> {
        let mut options = ReadOptions::default();
        if let Some(upper) = prefix_successor(prefix) {
            options.set_iterate_upper_bound(upper);
        }
        // Start at the later of the prefix and `after`; `after` itself is skipped below.
        // A start key below the prefix is no constraint: every prefixed key is above it.
        let after = after.filter(|after| *after >= prefix);
        let start: Vec<u8> = after.unwrap_or(prefix).to_vec();
        let skip = after.map(<[u8]>::to_vec);
        let prefix = prefix.to_vec();
        let iterator = self.db.iterator_cf_opt(
            self.cf(CF_STATE_FLAT)?,
            options,
            rocksdb::IteratorMode::From(&start, rocksdb::Direction::Forward),
        );
        Ok(iterator
            .map(|item| item.map_err(rocks("iteration of the flat state")))
            // The upper bound already stops the scan; this also covers a prefix of all 0xff
            // bytes, which has no successor.
            .take_while(move |item| match item {
                Ok((key, _)) => key.starts_with(&prefix),
                Err(_) => true,
            })
            .filter(move |item| match (item, &skip) {
                (Ok((key, _)), Some(skip)) => key.as_ref() != skip.as_slice(),
                _ => true,
            }))
    }

    /// Every `(key, value)` of the flat state, in key order.
    #[cfg(test)]
    fn latest_state_all(&self) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StorageError> {
        self.db
            .iterator_cf(self.cf(CF_STATE_FLAT)?, rocksdb::IteratorMode::Start)
            .map(|item| {
                item.map(|(key, value)| (key.to_vec(), value.to_vec()))
                    .map_err(rocks("iteration of the flat state"))
            })
            .collect()
    }
}

/// A `(key, value)` pair of the flat state, as RocksDB hands it out.
pub type FlatEntry = (Box<[u8]>, Box<[u8]>);

/// The smallest byte string greater than every string starting with `prefix`: the prefix with
/// its last non-0xff byte incremented and the rest cut off. `None` if there is none (empty or
/// all 0xff), i.e. the prefixed keys run to the end of the key space.
fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|byte| *byte != 0xff)?;
    let mut upper = prefix.get(..=last)?.to_vec();
    let byte = upper.last_mut()?;
    *byte = byte.checked_add(1)?;
    Some(upper)
}

impl NodeStore for Database {
    fn node(&self, hash: &Hash) -> Result<Option<Vec<u8>>, SmtError> {
        self.read(CF_STATE_NODES, &hash.0)
            .map_err(|error| SmtError::Store {
                reason: error.to_string(),
            })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use agora_primitives::smt::MemoryNodeStore;
    use agora_primitives::storage::{apply_changes, Changes};
    use parity_scale_codec::{Decode, Encode};
    use std::io::BufRead;

    const _: fn() = || {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Database>();
    };

    /// A test block: its encoding carries its number and state root.
    fn encode_block(number: u64, root: Hash) -> Vec<u8> {
        (number, root).encode()
    }

    fn decode_block(bytes: &[u8]) -> (u64, Hash) {
        <(u64, Hash)>::decode(&mut &bytes[..]).unwrap()
    }

    fn block_hash_of(number: u64, root: Hash) -> Hash {
        Hash::of(&encode_block(number, root))
    }

    /// Executes `changes` on top of `root` and commits the result as block `number`.
    fn commit(
        db: &Database,
        number: u64,
        root: Hash,
        changes: &Changes,
    ) -> Result<Hash, StorageError> {
        let update = smt::update(db, root, changes)?;
        let encoded = encode_block(number, update.root);
        let certificate = if number == 0 {
            vec![]
        } else {
            format!("cert {number}").into_bytes()
        };
        db.commit_finalized(FinalizedBlock {
            number,
            hash: Hash::of(&encoded),
            encoded: &encoded,
            certificate: &certificate,
            state_changes: changes,
            new_nodes: &update.new_nodes,
        })?;
        Ok(update.root)
    }

    /// Deterministic changes of block `number`: 40 keys out of 500, every fifth one deleted.
    fn block_changes(number: u64) -> Changes {
        (0u64..40)
            .map(|i| {
                let key = ((number * 7 + i * 13) % 500).to_be_bytes().to_vec();
                let value = (!(number + i).is_multiple_of(5)).then(|| (number, i).encode());
                (key, value)
            })
            .collect()
    }

    /// Checks that the flat state equals the model and the tree state at `root`.
    fn check_state(db: &Database, root: Hash, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
        let flat = db.latest_state_all().unwrap();
        assert_eq!(&flat, model);
        for key in (0u64..500).map(|k| k.to_be_bytes().to_vec()) {
            let expected = model.get(&key).cloned();
            assert_eq!(db.latest_state(&key).unwrap(), expected);
            assert_eq!(db.state_at(root, &key).unwrap(), expected);
        }
    }

    #[test]
    fn prefix_successor_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_successor(b""), None);
        assert_eq!(prefix_successor(&[0xff, 0xff]), None);
        assert_eq!(prefix_successor(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_successor(&[1, 0xff, 0xff]), Some(vec![2]));
    }

    #[test]
    fn flat_prefixed_walks_one_prefix_in_order_after_the_start_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let keys: [&[u8]; 8] = [
            b"a",
            b"ab",
            b"ab\x00",
            b"abc",
            b"ab\xff",
            b"ac",
            b"b",
            &[0xff, 0xff, 0x01],
        ];
        let changes: Changes = keys
            .iter()
            .map(|key| (key.to_vec(), Some(key.to_ascii_uppercase())))
            .collect();
        commit(&db, 0, Hash::ZERO, &changes).unwrap();
        let walk = |prefix: &[u8], after: Option<&[u8]>| -> Vec<Vec<u8>> {
            db.flat_prefixed(prefix, after)
                .unwrap()
                .map(|item| {
                    let (key, value) = item.unwrap();
                    assert_eq!(value.as_ref(), key.to_ascii_uppercase().as_slice());
                    key.to_vec()
                })
                .collect()
        };
        let owned = |keys: &[&[u8]]| keys.iter().map(|k| k.to_vec()).collect::<Vec<_>>();
        assert_eq!(
            walk(b"ab", None),
            owned(&[b"ab", b"ab\x00", b"abc", b"ab\xff"])
        );
        // Strictly after the start key, which need not exist.
        assert_eq!(
            walk(b"ab", Some(b"ab")),
            owned(&[b"ab\x00", b"abc", b"ab\xff"])
        );
        assert_eq!(walk(b"ab", Some(b"ab\x01")), owned(&[b"abc", b"ab\xff"]));
        // A start key before the prefix starts at the prefix; one past it gives nothing.
        assert_eq!(walk(b"ab", Some(b"a")), walk(b"ab", None));
        assert!(walk(b"ab", Some(b"ac")).is_empty());
        assert_eq!(walk(b"", None).len(), keys.len());
        assert_eq!(walk(&[0xff, 0xff], None), owned(&[&[0xff, 0xff, 0x01]]));
        assert!(walk(b"zz", None).is_empty());
    }

    #[test]
    fn unfinalized_bodies_survive_reopen_until_their_block_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let (one, two) = (Hash([1; 32]), Hash([2; 32]));
        {
            let db = Database::open(dir.path()).unwrap();
            db.put_unfinalized(&one, b"block one").unwrap();
            db.put_unfinalized(&two, b"block two").unwrap();
        }
        let db = Database::open(dir.path()).unwrap();
        assert_eq!(
            db.unfinalized().unwrap(),
            vec![(one, b"block one".to_vec()), (two, b"block two".to_vec())]
        );
        let changes = BTreeMap::new();
        db.commit_finalized(FinalizedBlock {
            number: 0,
            hash: one,
            encoded: b"block one",
            certificate: &[],
            state_changes: &changes,
            new_nodes: &[],
        })
        .unwrap();
        assert_eq!(
            db.unfinalized().unwrap(),
            vec![(two, b"block two".to_vec())]
        );
        db.forget_unfinalized(&[two]).unwrap();
        assert!(db.unfinalized().unwrap().is_empty());
    }

    #[test]
    fn commit_reopen_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let genesis: Changes = [
            (b"alice".to_vec(), Some(b"100".to_vec())),
            (b"bob".to_vec(), Some(b"5".to_vec())),
        ]
        .into();
        let one: Changes = [
            (b"alice".to_vec(), Some(b"90".to_vec())),
            (b"bob".to_vec(), None),
        ]
        .into();
        let (root0, root1) = {
            let db = Database::open(dir.path()).unwrap();
            assert_eq!(db.finalized_head().unwrap(), None);
            let root0 = commit(&db, 0, Hash::ZERO, &genesis).unwrap();
            let root1 = commit(&db, 1, root0, &one).unwrap();
            (root0, root1)
        };
        let db = Database::open(dir.path()).unwrap();
        let hash0 = block_hash_of(0, root0);
        let hash1 = block_hash_of(1, root1);
        assert_eq!(db.finalized_head().unwrap(), Some((1, hash1)));
        assert_eq!(db.block_hash(0).unwrap(), Some(hash0));
        assert_eq!(db.block_hash(1).unwrap(), Some(hash1));
        assert_eq!(db.block_hash(2).unwrap(), None);
        assert_eq!(
            decode_block(&db.block(&hash1).unwrap().unwrap()),
            (1, root1)
        );
        assert_eq!(db.block(&Hash::of(b"nope")).unwrap(), None);
        assert_eq!(db.certificate(&hash0).unwrap(), Some(vec![]));
        assert_eq!(db.certificate(&hash1).unwrap(), Some(b"cert 1".to_vec()));
        assert_eq!(db.latest_state(b"alice").unwrap(), Some(b"90".to_vec()));
        assert_eq!(db.latest_state(b"bob").unwrap(), None);
        // History stays readable and provable through the tree.
        assert_eq!(db.state_at(root0, b"bob").unwrap(), Some(b"5".to_vec()));
        assert_eq!(db.state_at(root1, b"bob").unwrap(), None);
        let proof = db.prove_at(root0, b"alice").unwrap();
        smt::verify(root0, b"alice", Some(b"100"), &proof).unwrap();
        let proof = db.prove_at(root1, b"bob").unwrap();
        smt::verify(root1, b"bob", None, &proof).unwrap();
        // A root that was never committed is reported, not silently empty.
        let missing = Hash::of(b"not a root");
        assert!(matches!(
            db.state_at(missing, b"alice"),
            Err(StorageError::Smt(SmtError::MissingNode { hash })) if hash == missing
        ));
    }

    #[test]
    fn a_snapshot_replaces_the_genesis_state_and_is_refused_past_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let genesis: Changes = [
            (b"alice".to_vec(), Some(b"100".to_vec())),
            (b"gone".to_vec(), Some(b"1".to_vec())),
        ]
        .into();
        let root0 = commit(&db, 0, Hash::ZERO, &genesis).unwrap();
        // The state at block 5000 of some chain: `gone` deleted, `carol` new.
        let state: BTreeMap<Vec<u8>, Vec<u8>> = [
            (b"alice".to_vec(), b"7".to_vec()),
            (b"carol".to_vec(), b"3".to_vec()),
        ]
        .into();
        let changes = state
            .iter()
            .map(|(key, value)| (key.clone(), Some(value.clone())))
            .collect();
        let tree = smt::update(&smt::MemoryNodeStore::new(), Hash::ZERO, &changes).unwrap();
        let hash = Hash::of(b"block 5000");
        let no_changes = BTreeMap::new();
        let known = [(23, 4_800, Hash::of(b"epoch end"), b"end 23".to_vec())];
        let snapshot = |number| Snapshot {
            block: FinalizedBlock {
                number,
                hash,
                encoded: b"block",
                certificate: b"certificate",
                state_changes: &no_changes,
                new_nodes: &tree.new_nodes,
            },
            state: &state,
            epoch_ends: &known,
        };
        db.install_snapshot(snapshot(5_000)).unwrap();
        assert_eq!(db.finalized_head().unwrap(), Some((5_000, hash)));
        assert_eq!(db.latest_state_all().unwrap(), state);
        assert_eq!(
            db.state_at(tree.root, b"carol").unwrap(),
            Some(b"3".to_vec())
        );
        assert_eq!(db.block_hash(4_800).unwrap(), Some(Hash::of(b"epoch end")));
        assert_eq!(db.epoch_end(23).unwrap(), Some(b"end 23".to_vec()));
        assert_eq!(db.epoch_end(22).unwrap(), None);
        assert_eq!(db.block_hash(4_801).unwrap(), None);
        assert_eq!(
            db.certificate(&hash).unwrap(),
            Some(b"certificate".to_vec())
        );
        // Genesis history stays readable.
        assert_eq!(db.state_at(root0, b"gone").unwrap(), Some(b"1".to_vec()));
        // A second snapshot would overwrite a chain: refused, nothing written.
        let error = db.install_snapshot(snapshot(9_000)).unwrap_err();
        assert!(
            matches!(
                error,
                StorageError::NotAtGenesis {
                    number: 9_000,
                    head: 5_000,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(db.finalized_head().unwrap(), Some((5_000, hash)));
    }

    #[test]
    fn wrong_number_commit_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let changes: Changes = [(b"k".to_vec(), Some(b"v".to_vec()))].into();
        let error = commit(&db, 1, Hash::ZERO, &changes).unwrap_err();
        assert!(
            matches!(error, StorageError::NotGenesis { number: 1, .. }),
            "{error}"
        );
        assert_eq!(db.finalized_head().unwrap(), None);
        let root0 = commit(&db, 0, Hash::ZERO, &BTreeMap::new()).unwrap();
        assert_eq!(root0, Hash::ZERO);
        let head = db.finalized_head().unwrap();
        for number in [0, 2, 7] {
            let update = smt::update(&db, root0, &changes).unwrap();
            let error = commit(&db, number, root0, &changes).unwrap_err();
            assert!(
                matches!(error, StorageError::OutOfOrder { number: n, head: 0, .. } if n == number),
                "{error}"
            );
            assert!(error.to_string().contains(&format!("#{number}")), "{error}");
            assert_eq!(db.finalized_head().unwrap(), head);
            assert_eq!(db.latest_state(b"k").unwrap(), None);
            assert_eq!(db.block(&block_hash_of(number, update.root)).unwrap(), None);
            assert_eq!(
                db.certificate(&block_hash_of(number, update.root)).unwrap(),
                None
            );
            for (hash, _) in &update.new_nodes {
                assert_eq!(db.node(hash).unwrap(), None);
            }
        }
        assert_eq!(db.block_hash(2).unwrap(), None);
        assert_eq!(db.block_hash(7).unwrap(), None);
        assert_eq!(db.block_hash(0).unwrap(), Some(block_hash_of(0, root0)));
        commit(&db, 1, root0, &changes).unwrap();
    }

    #[test]
    fn flat_state_equals_tree_state() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::open(dir.path()).unwrap();
        let mut model = BTreeMap::new();
        let mut root = Hash::ZERO;
        let mut roots = Vec::new();
        for number in 0u64..30 {
            let changes = block_changes(number);
            root = commit(&db, number, root, &changes).unwrap();
            apply_changes(&mut model, &changes);
            roots.push((root, model.clone()));
        }
        check_state(&db, root, &model);
        // The root matches the same changes applied in memory in one batch.
        let all: Changes = model
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect();
        assert_eq!(
            smt::update(&MemoryNodeStore::new(), Hash::ZERO, &all)
                .unwrap()
                .root,
            root
        );
        // Historical roots read their own state.
        for (root, model) in roots.iter().step_by(7) {
            for (key, value) in model {
                assert_eq!(db.state_at(*root, key).unwrap().as_ref(), Some(value));
            }
        }
    }

    const KILL_DIR_VAR: &str = "AGORA_STORAGE_KILL_TEST_DIR";

    /// The writer half of `killed_writer_leaves_whole_blocks`: commits blocks until killed.
    #[test]
    #[ignore = "run by killed_writer_leaves_whole_blocks in a child process"]
    fn kill_target_writer() {
        let Ok(dir) = std::env::var(KILL_DIR_VAR) else {
            return;
        };
        let db = Database::open(Path::new(&dir)).unwrap();
        let mut root = Hash::ZERO;
        for number in 0u64.. {
            root = commit(&db, number, root, &block_changes(number)).unwrap();
            println!("committed {number}");
        }
    }

    /// A writer killed with SIGKILL mid-stream leaves whole blocks: every committed height is
    /// complete, nothing past the head exists, and the flat state equals the tree state.
    #[test]
    fn killed_writer_leaves_whole_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let module = module_path!()
            .split_once("::")
            .map_or(module_path!(), |(_, rest)| rest);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                &format!("{module}::kill_target_writer"),
                "--exact",
                "--ignored",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env(KILL_DIR_VAR, dir.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut seen = None;
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.unwrap();
            if let Some(number) = line.strip_prefix("committed ") {
                let number: u64 = number.parse().unwrap();
                seen = Some(number);
                if number >= 25 {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let seen = seen.expect("the writer committed nothing");

        let db = Database::open(dir.path()).unwrap();
        let (head, head_hash) = db.finalized_head().unwrap().unwrap();
        assert!(
            head >= seen,
            "head #{head} is behind the acknowledged #{seen}"
        );
        let mut model = BTreeMap::new();
        let mut memory = MemoryNodeStore::new();
        let mut root = Hash::ZERO;
        for number in 0..=head {
            let changes = block_changes(number);
            apply_changes(&mut model, &changes);
            let update = smt::update(&memory, root, &changes).unwrap();
            memory.insert_nodes(update.new_nodes);
            root = update.root;
            let hash = db.block_hash(number).unwrap().unwrap();
            assert_eq!(
                decode_block(&db.block(&hash).unwrap().unwrap()),
                (number, root)
            );
            assert!(db.certificate(&hash).unwrap().is_some());
        }
        assert_eq!(head_hash, block_hash_of(head, root));
        assert_eq!(db.block_hash(head + 1).unwrap(), None);
        check_state(&db, root, &model);
        // And the database accepts the next block.
        commit(&db, head + 1, root, &block_changes(head + 1)).unwrap();
    }
}
