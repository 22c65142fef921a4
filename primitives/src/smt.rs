//! The sparse Merkle tree that authenticates the state.
//!
//! A binary tree over 256-bit paths, `path = blake3(key)`, read most significant bit first:
//! bit `d` of the path chooses the child at depth `d` (`0` = left, `1` = right). Leaves are
//! compressed: a leaf sits at the shallowest depth where its path prefix is unique among the keys
//! of the tree, so a tree of `n` random keys is about `log2(n) + 1` levels deep, not 256. The shape
//! of the tree, and so its root, is a function of the set of `(key, value)` pairs alone: inserting
//! in any order, in any batches, with any deletions in between, gives the same root.
//!
//! # Nodes
//!
//! Nodes are content-addressed: a node is stored under its hash and never changes. Their encoding
//! is the SCALE encoding of [`Node`]:
//!
//! | node | encoding | hash |
//! |---|---|---|
//! | empty subtree | (not stored) | [`Hash::ZERO`] |
//! | `Leaf { key, value }` | `0x00 ‖ compact(len key) ‖ key ‖ compact(len value) ‖ value` | `blake3(0x00 ‖ blake3(key) ‖ blake3(value))` |
//! | `Internal { left, right }` | `0x01 ‖ left ‖ right` (65 bytes) | `blake3(0x01 ‖ left ‖ right)` |
//!
//! The first byte separates the domains, so a leaf can never be read as an internal node or the
//! other way round. A leaf stores its full key and value so that the state at any historical root
//! can be read by walking the tree. An internal node never has two empty children, nor one empty
//! child and a leaf (the leaf would sit one level up); an internal node with one empty child and
//! one internal child is normal (two keys sharing a long prefix).
//!
//! Every node read from a [`NodeStore`] is checked against the hash it was asked for, so a
//! corrupt store is reported as [`SmtError::CorruptNode`], never silently followed.
//!
//! # Proofs
//!
//! [`prove`] walks the path of a key and returns a [`Proof`]: the non-empty sibling hashes from
//! the root down, a bitmap saying which siblings are non-empty, and how the path ends
//! ([`Terminal`]): in an empty subtree, at the key's own leaf, or at the leaf of another key
//! (given by its key hash and value hash, which proves non-inclusion without revealing the other
//! key or value). [`verify`] checks a claimed value (`Some`) or a claimed absence (`None`) against
//! a root.

use crate::Hash;
use parity_scale_codec::{Decode, DecodeAll, Encode};
use std::collections::BTreeMap;

/// Domain separation byte of leaves: first byte of a leaf's encoding and of its hash preimage.
pub const LEAF_TAG: u8 = 0x00;
/// Domain separation byte of internal nodes: first byte of their encoding and hash preimage.
pub const INTERNAL_TAG: u8 = 0x01;
/// Bits in a path; the deepest possible leaf sits at this depth.
pub const MAX_DEPTH: usize = 256;

/// Errors of the tree; each names the hash, key or value it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmtError {
    /// A node the tree refers to is not in the store.
    #[error("state tree node {hash} is missing from the store")]
    MissingNode {
        /// Hash of the missing node.
        hash: Hash,
    },
    /// The bytes stored under a hash are not a valid node, or not the node with that hash.
    #[error("state tree node {hash} is corrupt: {reason}")]
    CorruptNode {
        /// Hash the node was requested under.
        hash: Hash,
        /// What is wrong with it.
        reason: String,
    },
    /// The node store itself failed (I/O, database error).
    #[error("state tree node store failed: {reason}")]
    Store {
        /// The backend's description of the failure.
        reason: String,
    },
    /// Two different keys have the same path (a blake3 collision), or the tree is deeper than
    /// 256 levels, which only a corrupt store can produce.
    #[error("state tree path of key {key} goes deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// `0x`-hex of the key whose path was being followed.
        key: String,
    },
    /// A proof is structurally invalid (before any hashing).
    #[error("malformed state proof: {reason}")]
    MalformedProof {
        /// What is wrong with it.
        reason: String,
    },
    /// A proof's terminal does not fit the claim being verified.
    #[error("state proof for key {key} does not prove the claim: {reason}")]
    TerminalMismatch {
        /// `0x`-hex of the key.
        key: String,
        /// Claim and proof side by side.
        reason: String,
    },
    /// The proof hashes to a different root: the claimed value, a sibling or the root is wrong.
    #[error("state proof for key {key} computes root {computed}, expected {expected}")]
    RootMismatch {
        /// `0x`-hex of the key.
        key: String,
        /// Root the proof and the claim hash to.
        computed: Hash,
        /// Root the proof was checked against.
        expected: Hash,
    },
}

/// A node of the tree, as stored (see the module documentation for the encoding and hashes).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
#[allow(clippy::cast_possible_truncation)] // in the derived code
pub enum Node {
    /// A key and its value.
    #[codec(index = 0)]
    Leaf {
        /// The full key (its path is `blake3(key)`).
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
    },
    /// A node with two subtrees, either of which may be empty ([`Hash::ZERO`]).
    #[codec(index = 1)]
    Internal {
        /// Hash of the subtree whose paths have a 0 at this depth.
        left: Hash,
        /// Hash of the subtree whose paths have a 1 at this depth.
        right: Hash,
    },
}

/// Borrowed twin of [`Node`] with the same encoding, to encode without copying.
#[derive(Encode)]
#[allow(clippy::cast_possible_truncation)] // in the derived code
enum NodeRef<'a> {
    #[codec(index = 0)]
    Leaf { key: &'a [u8], value: &'a [u8] },
}

impl Node {
    /// The node's hash.
    pub fn hash(&self) -> Hash {
        match self {
            Node::Leaf { key, value } => leaf_hash(&Hash::of(key), &Hash::of(value)),
            Node::Internal { left, right } => internal_hash(left, right),
        }
    }
}

/// The path of a key: `blake3(key)`. It is also the key hash inside a leaf's hash.
pub fn path_of(key: &[u8]) -> Hash {
    Hash::of(key)
}

/// Hash of a leaf from its key hash (= path) and value hash.
pub fn leaf_hash(key_hash: &Hash, value_hash: &Hash) -> Hash {
    Hash::of_parts(&[&[LEAF_TAG], &key_hash.0, &value_hash.0])
}

/// Hash of an internal node from its children's hashes.
pub fn internal_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[&[INTERNAL_TAG], &left.0, &right.0])
}

/// Bit `depth` (most significant first) of a 256-bit path; `depth` must be below 256.
fn bit(path: &[u8; 32], depth: usize) -> bool {
    let byte = path.get(depth / 8).copied().unwrap_or(0);
    byte & (0x80u8 >> (depth % 8)) != 0
}

fn key_hex(key: &[u8]) -> String {
    crate::encode_hex(key)
}

/// Read access to encoded nodes by hash.
pub trait NodeStore {
    /// The encoded node stored under `hash`, or `None` if there is none.
    fn node(&self, hash: &Hash) -> Result<Option<Vec<u8>>, SmtError>;
}

impl<T: NodeStore + ?Sized> NodeStore for &T {
    fn node(&self, hash: &Hash) -> Result<Option<Vec<u8>>, SmtError> {
        (**self).node(hash)
    }
}

/// An in-memory [`NodeStore`], for tests and for runtime tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryNodeStore {
    nodes: BTreeMap<Hash, Vec<u8>>,
}

impl MemoryNodeStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores encoded nodes, e.g. the `new_nodes` of an [`Update`].
    pub fn insert_nodes(&mut self, nodes: impl IntoIterator<Item = (Hash, Vec<u8>)>) {
        self.nodes.extend(nodes);
    }

    /// Number of stored nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no node is stored.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

impl NodeStore for MemoryNodeStore {
    fn node(&self, hash: &Hash) -> Result<Option<Vec<u8>>, SmtError> {
        Ok(self.nodes.get(hash).cloned())
    }
}

/// A node loaded from a store and checked against its hash.
enum Loaded {
    Leaf {
        key: Vec<u8>,
        value: Vec<u8>,
        path: Hash,
    },
    Internal {
        left: Hash,
        right: Hash,
    },
}

/// Loads the node `hash` (not [`Hash::ZERO`]), decodes it and checks that it hashes to `hash`.
fn load(store: &impl NodeStore, hash: &Hash) -> Result<Loaded, SmtError> {
    let bytes = store
        .node(hash)?
        .ok_or(SmtError::MissingNode { hash: *hash })?;
    let node = Node::decode_all(&mut bytes.as_slice()).map_err(|error| SmtError::CorruptNode {
        hash: *hash,
        reason: format!("cannot decode {} bytes: {error}", bytes.len()),
    })?;
    let (actual, loaded) = match node {
        Node::Leaf { key, value } => {
            let path = path_of(&key);
            let actual = leaf_hash(&path, &Hash::of(&value));
            (actual, Loaded::Leaf { key, value, path })
        }
        Node::Internal { left, right } => (
            internal_hash(&left, &right),
            Loaded::Internal { left, right },
        ),
    };
    if actual != *hash {
        return Err(SmtError::CorruptNode {
            hash: *hash,
            reason: format!("stored bytes hash to {actual}"),
        });
    }
    Ok(loaded)
}

/// The result of [`update`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Update {
    /// Root of the tree after the changes.
    pub root: Hash,
    /// Encoded nodes the new tree needs, by hash, to be written to the store. No node appears
    /// twice; a node may already be in the store (when a change rewrites a value it already had),
    /// and writing it again is harmless. Nodes of the old tree are never removed: every old root
    /// stays readable for as long as the store keeps its nodes.
    pub new_nodes: Vec<(Hash, Vec<u8>)>,
}

/// One change, with its path.
struct Item<'a> {
    path: Hash,
    key: &'a [u8],
    value: Option<&'a [u8]>,
}

/// A leaf of the old tree carried down while rebuilding a subtree.
#[derive(Clone, Copy)]
struct KeptLeaf {
    path: Hash,
    hash: Hash,
}

/// A rebuilt (or untouched) subtree. The kind matters when the other side of its parent becomes
/// empty: a lone leaf moves up, a lone internal node does not.
#[derive(Clone, Copy)]
enum Sub {
    Empty,
    Leaf(Hash),
    Internal(Hash),
    /// Untouched subtree whose kind has not been needed yet.
    Untouched(Hash),
}

impl Sub {
    fn hash(self) -> Hash {
        match self {
            Sub::Empty => Hash::ZERO,
            Sub::Leaf(hash) | Sub::Internal(hash) | Sub::Untouched(hash) => hash,
        }
    }
}

struct Updater<'s, S> {
    store: &'s S,
    new_nodes: Vec<(Hash, Vec<u8>)>,
}

impl<S: NodeStore> Updater<'_, S> {
    /// Applies `items` (sorted by path, all sharing the first `depth` bits of path) to the
    /// subtree `hash` at `depth`.
    fn update(&mut self, hash: Hash, depth: usize, items: &[Item<'_>]) -> Result<Sub, SmtError> {
        if items.is_empty() {
            return Ok(untouched(hash));
        }
        if hash == Hash::ZERO {
            return self.build(depth, items, None);
        }
        match load(self.store, &hash)? {
            Loaded::Leaf { key, path, .. } => {
                let kept = match items.binary_search_by(|item| item.path.cmp(&path)) {
                    Ok(index) => {
                        // Overwritten or deleted by the batch; same path must mean same key.
                        let item = items.get(index).ok_or_else(|| too_deep(&key))?;
                        if item.key != key.as_slice() {
                            return Err(too_deep(item.key));
                        }
                        None
                    }
                    Err(_) => Some(KeptLeaf { path, hash }),
                };
                self.build(depth, items, kept)
            }
            Loaded::Internal { left, right } => {
                if depth >= MAX_DEPTH {
                    return Err(too_deep(items.first().map_or(&[][..], |item| item.key)));
                }
                let (left_items, right_items) = split(items, depth);
                let left = self.update(left, depth.saturating_add(1), left_items)?;
                let right = self.update(right, depth.saturating_add(1), right_items)?;
                self.combine(left, right)
            }
        }
    }

    /// Builds the subtree at `depth` holding the inserts of `items` plus `kept` (a leaf of the
    /// old tree not touched by `items`); deletions in `items` are of keys not in this subtree.
    fn build(
        &mut self,
        depth: usize,
        items: &[Item<'_>],
        kept: Option<KeptLeaf>,
    ) -> Result<Sub, SmtError> {
        let inserts = items.iter().filter(|item| item.value.is_some()).count();
        match (inserts, kept) {
            (0, None) => return Ok(Sub::Empty),
            (0, Some(kept)) => return Ok(Sub::Leaf(kept.hash)),
            (1, None) => {
                if let Some((item, value)) = items
                    .iter()
                    .find_map(|item| item.value.map(|value| (item, value)))
                {
                    return Ok(Sub::Leaf(self.leaf(item.path, item.key, value)));
                }
            }
            _ => {}
        }
        if depth >= MAX_DEPTH {
            return Err(too_deep(items.first().map_or(&[][..], |item| item.key)));
        }
        let (left_items, right_items) = split(items, depth);
        let (left_kept, right_kept) = match kept {
            Some(leaf) if bit(&leaf.path.0, depth) => (None, Some(leaf)),
            other => (other, None),
        };
        let next = depth.saturating_add(1);
        let left = self.build(next, left_items, left_kept)?;
        let right = self.build(next, right_items, right_kept)?;
        self.combine(left, right)
    }

    /// The subtree made of `left` and `right`, collapsing a lone leaf upwards.
    fn combine(&mut self, left: Sub, right: Sub) -> Result<Sub, SmtError> {
        let left = self.resolve_if_alone(left, right)?;
        let right = self.resolve_if_alone(right, left)?;
        Ok(match (left, right) {
            (Sub::Empty, Sub::Empty) => Sub::Empty,
            (Sub::Empty, Sub::Leaf(hash)) | (Sub::Leaf(hash), Sub::Empty) => Sub::Leaf(hash),
            (left, right) => {
                let mut encoded = Vec::with_capacity(65);
                encoded.push(INTERNAL_TAG);
                encoded.extend_from_slice(&left.hash().0);
                encoded.extend_from_slice(&right.hash().0);
                // The encoding of an internal node is its hash preimage.
                let hash = Hash::of(&encoded);
                self.new_nodes.push((hash, encoded));
                Sub::Internal(hash)
            }
        })
    }

    /// Finds out the kind of an untouched subtree when its sibling is empty.
    fn resolve_if_alone(&self, sub: Sub, sibling: Sub) -> Result<Sub, SmtError> {
        match (sub, sibling) {
            (Sub::Untouched(hash), Sub::Empty) => Ok(match load(self.store, &hash)? {
                Loaded::Leaf { .. } => Sub::Leaf(hash),
                Loaded::Internal { .. } => Sub::Internal(hash),
            }),
            _ => Ok(sub),
        }
    }

    fn leaf(&mut self, path: Hash, key: &[u8], value: &[u8]) -> Hash {
        let hash = leaf_hash(&path, &Hash::of(value));
        self.new_nodes
            .push((hash, NodeRef::Leaf { key, value }.encode()));
        hash
    }
}

fn untouched(hash: Hash) -> Sub {
    if hash == Hash::ZERO {
        Sub::Empty
    } else {
        Sub::Untouched(hash)
    }
}

fn too_deep(key: &[u8]) -> SmtError {
    SmtError::TooDeep { key: key_hex(key) }
}

/// Splits items sorted by path (and sharing the first `depth` bits) by bit `depth`.
fn split<'i, 'a>(items: &'i [Item<'a>], depth: usize) -> (&'i [Item<'a>], &'i [Item<'a>]) {
    let mid = items.partition_point(|item| !bit(&item.path.0, depth));
    items.split_at(mid)
}

/// Applies a batch of changes to the tree `root`: `Some(value)` inserts or overwrites, `None`
/// deletes (deleting an absent key is a no-op). The changes are sorted by path and applied in one
/// walk, so every node on shared path prefixes is read and hashed once. The new root depends
/// only on the resulting set of `(key, value)` pairs.
pub fn update(
    store: &impl NodeStore,
    root: Hash,
    changes: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> Result<Update, SmtError> {
    let mut items: Vec<Item<'_>> = changes
        .iter()
        .map(|(key, value)| Item {
            path: path_of(key),
            key,
            value: value.as_deref(),
        })
        .collect();
    items.sort_unstable_by_key(|item| item.path);
    // Keys are unique, so equal paths would be a blake3 collision.
    if let Some([first, _]) = items
        .windows(2)
        .find(|pair| matches!(pair, [a, b] if a.path == b.path))
    {
        return Err(too_deep(first.key));
    }
    let mut updater = Updater {
        store,
        new_nodes: Vec::new(),
    };
    let root = updater.update(root, 0, &items)?.hash();
    Ok(Update {
        root,
        new_nodes: updater.new_nodes,
    })
}

/// The value of `key` in the tree `root`.
pub fn get(store: &impl NodeStore, root: Hash, key: &[u8]) -> Result<Option<Vec<u8>>, SmtError> {
    let path = path_of(key);
    let mut hash = root;
    let mut depth = 0usize;
    loop {
        if hash == Hash::ZERO {
            return Ok(None);
        }
        match load(store, &hash)? {
            Loaded::Leaf {
                key: leaf_key,
                value,
                ..
            } => {
                return Ok((leaf_key == key).then_some(value));
            }
            Loaded::Internal { left, right } => {
                if depth >= MAX_DEPTH {
                    return Err(too_deep(key));
                }
                hash = if bit(&path.0, depth) { right } else { left };
                depth = depth.saturating_add(1);
            }
        }
    }
}

/// How the path of a proven key ends.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
#[allow(clippy::cast_possible_truncation)] // in the derived code
pub enum Terminal {
    /// In an empty subtree: the key is absent.
    #[codec(index = 0)]
    Empty,
    /// At the key's own leaf: the key is present (the verifier supplies the value).
    #[codec(index = 1)]
    Key,
    /// At the leaf of another key sharing the path prefix: the key is absent.
    #[codec(index = 2)]
    Other {
        /// `blake3` of the other key (its path).
        key_hash: Hash,
        /// `blake3` of the other key's value.
        value_hash: Hash,
    },
}

/// A proof of the value, or of the absence, of one key under a root (SCALE-encoded over RPC).
///
/// Size: `2 + 1 + ceil(depth / 8) + 1 + 32 × non-empty siblings + 1 (+ 64 for [`Terminal::Other`])`
/// bytes; about 700 bytes for a tree of a million keys.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Proof {
    /// Depth at which the path ends (0 for a tree that is empty or a single leaf), at most 256.
    pub depth: u16,
    /// `ceil(depth / 8)` bytes; bit `i` (most significant first) says whether the sibling at
    /// depth `i + 1` (the child of the node at depth `i` not on the path) is non-empty. Bits past
    /// `depth` are zero.
    pub non_empty: Vec<u8>,
    /// The non-empty siblings, from the root down.
    pub siblings: Vec<Hash>,
    /// How the path ends.
    pub terminal: Terminal,
}

/// Proves the value or the absence of `key` in the tree `root`.
pub fn prove(store: &impl NodeStore, root: Hash, key: &[u8]) -> Result<Proof, SmtError> {
    let path = path_of(key);
    let mut hash = root;
    let mut depth = 0usize;
    let mut non_empty = Vec::new();
    let mut siblings = Vec::new();
    let terminal = loop {
        if hash == Hash::ZERO {
            break Terminal::Empty;
        }
        match load(store, &hash)? {
            Loaded::Leaf {
                key: leaf_key,
                value,
                path: leaf_path,
            } => {
                break if leaf_key == key {
                    Terminal::Key
                } else {
                    Terminal::Other {
                        key_hash: leaf_path,
                        value_hash: Hash::of(&value),
                    }
                };
            }
            Loaded::Internal { left, right } => {
                if depth >= MAX_DEPTH {
                    return Err(too_deep(key));
                }
                let (next, sibling) = if bit(&path.0, depth) {
                    (right, left)
                } else {
                    (left, right)
                };
                if depth.is_multiple_of(8) {
                    non_empty.push(0u8);
                }
                if sibling != Hash::ZERO {
                    if let Some(byte) = non_empty.last_mut() {
                        *byte |= 0x80u8 >> (depth % 8);
                    }
                    siblings.push(sibling);
                }
                hash = next;
                depth = depth.saturating_add(1);
            }
        }
    };
    let depth = u16::try_from(depth).map_err(|_| too_deep(key))?;
    Ok(Proof {
        depth,
        non_empty,
        siblings,
        terminal,
    })
}

/// Checks that `proof` proves `key` has `value` (`Some`) or is absent (`None`) under `root`.
pub fn verify(root: Hash, key: &[u8], value: Option<&[u8]>, proof: &Proof) -> Result<(), SmtError> {
    let depth = usize::from(proof.depth);
    let malformed = |reason: String| Err(SmtError::MalformedProof { reason });
    if depth > MAX_DEPTH {
        return malformed(format!("depth {depth} exceeds {MAX_DEPTH}"));
    }
    if proof.non_empty.len() != depth.div_ceil(8) {
        return malformed(format!(
            "sibling bitmap has {} bytes, depth {depth} needs {}",
            proof.non_empty.len(),
            depth.div_ceil(8)
        ));
    }
    let set_bits = (0..depth)
        .filter(|&level| bit_of(&proof.non_empty, level))
        .count();
    let all_bits: u32 = proof.non_empty.iter().map(|byte| byte.count_ones()).sum();
    if usize::try_from(all_bits).ok() != Some(set_bits) {
        return malformed(format!("sibling bitmap has bits set past depth {depth}"));
    }
    if set_bits != proof.siblings.len() {
        return malformed(format!(
            "sibling bitmap names {set_bits} siblings, proof has {}",
            proof.siblings.len()
        ));
    }
    let path = path_of(key);
    let mismatch = |reason: String| {
        Err(SmtError::TerminalMismatch {
            key: key_hex(key),
            reason,
        })
    };
    let mut hash = match (&proof.terminal, value) {
        (Terminal::Key, Some(value)) => leaf_hash(&path, &Hash::of(value)),
        (Terminal::Empty, None) => Hash::ZERO,
        (
            Terminal::Other {
                key_hash,
                value_hash,
            },
            None,
        ) => {
            if *key_hash == path {
                return mismatch("absence claimed, but the proof's other leaf is the key's".into());
            }
            if (0..depth).any(|level| bit(&key_hash.0, level) != bit(&path.0, level)) {
                return mismatch(format!(
                    "the proof's other leaf {key_hash} is not on the key's path to depth {depth}"
                ));
            }
            leaf_hash(key_hash, value_hash)
        }
        (Terminal::Key, None) => {
            return mismatch("absence claimed, but the proof ends at the key's leaf".into());
        }
        (Terminal::Empty, Some(value)) => {
            return mismatch(format!(
                "value {} claimed, but the proof ends in an empty subtree",
                key_hex(value)
            ));
        }
        (Terminal::Other { key_hash, .. }, Some(value)) => {
            return mismatch(format!(
                "value {} claimed, but the proof ends at the leaf of another key {key_hash}",
                key_hex(value)
            ));
        }
    };
    let mut siblings = proof.siblings.iter().rev();
    for level in (0..depth).rev() {
        let sibling = if bit_of(&proof.non_empty, level) {
            *siblings.next().unwrap_or(&Hash::ZERO)
        } else {
            Hash::ZERO
        };
        hash = if bit(&path.0, level) {
            internal_hash(&sibling, &hash)
        } else {
            internal_hash(&hash, &sibling)
        };
    }
    if hash != root {
        return Err(SmtError::RootMismatch {
            key: key_hex(key),
            computed: hash,
            expected: root,
        });
    }
    Ok(())
}

/// Bit `index` (most significant first) of a bitmap; false past its end.
fn bit_of(bitmap: &[u8], index: usize) -> bool {
    bitmap
        .get(index / 8)
        .is_some_and(|byte| byte & (0x80u8 >> (index % 8)) != 0)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation
)]
mod tests {
    use super::*;
    use crate::storage::Changes;
    use proptest::prelude::*;

    fn apply(store: &mut MemoryNodeStore, root: Hash, changes: &Changes) -> Hash {
        let update = update(&*store, root, changes).unwrap();
        store.insert_nodes(update.new_nodes);
        update.root
    }

    /// The root of a fresh tree holding exactly `pairs`.
    fn insert_all<'a, K, V>(
        store: &mut MemoryNodeStore,
        pairs: impl IntoIterator<Item = &'a (K, V)>,
    ) -> Hash
    where
        K: AsRef<[u8]> + 'a,
        V: AsRef<[u8]> + 'a,
    {
        let changes: Changes = pairs
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_vec(), Some(v.as_ref().to_vec())))
            .collect();
        apply(store, Hash::ZERO, &changes)
    }

    /// The canonical root computed directly from a set, independently of `update`.
    fn model_root(pairs: &BTreeMap<Vec<u8>, Vec<u8>>) -> Hash {
        fn rec(depth: usize, items: &[(Hash, Hash)]) -> Hash {
            match items {
                [] => Hash::ZERO,
                [(path, value_hash)] => leaf_hash(path, value_hash),
                _ => {
                    let (left, right): (Vec<_>, Vec<_>) =
                        items.iter().partition(|(path, _)| !bit(&path.0, depth));
                    internal_hash(&rec(depth + 1, &left), &rec(depth + 1, &right))
                }
            }
        }
        let items: Vec<(Hash, Hash)> = pairs
            .iter()
            .map(|(k, v)| (path_of(k), Hash::of(v)))
            .collect();
        rec(0, &items)
    }

    #[test]
    fn empty_tree_has_zero_root_and_no_nodes() {
        let store = MemoryNodeStore::new();
        let update = update(&store, Hash::ZERO, &Changes::new()).unwrap();
        assert_eq!(
            update,
            Update {
                root: Hash::ZERO,
                new_nodes: vec![]
            }
        );
        assert_eq!(get(&store, Hash::ZERO, b"a").unwrap(), None);
        let proof = prove(&store, Hash::ZERO, b"a").unwrap();
        assert_eq!(proof.terminal, Terminal::Empty);
        verify(Hash::ZERO, b"a", None, &proof).unwrap();
    }

    #[test]
    fn single_leaf_is_the_root_and_encodings_are_as_documented() {
        let mut store = MemoryNodeStore::new();
        let root = insert_all(&mut store, &[("key", "value")]);
        let expected = Hash::of_parts(&[&[0u8], &Hash::of(b"key").0, &Hash::of(b"value").0]);
        assert_eq!(root, expected);
        let encoded = store.node(&root).unwrap().unwrap();
        assert_eq!(
            encoded,
            [&[0u8, 3 << 2][..], b"key", &[5 << 2], b"value"].concat()
        );
        assert_eq!(
            encoded,
            Node::Leaf {
                key: b"key".to_vec(),
                value: b"value".to_vec()
            }
            .encode()
        );
        let two = insert_all(&mut store, &[("key", "value"), ("other", "x")]);
        let encoded = store.node(&two).unwrap().unwrap();
        assert_eq!(encoded.len(), 65);
        assert_eq!(encoded[0], 1);
        assert_eq!(Hash::of(&encoded), two);
        assert_eq!(
            two,
            model_root(
                &[
                    (b"key".to_vec(), b"value".to_vec()),
                    (b"other".to_vec(), b"x".to_vec())
                ]
                .into()
            )
        );
    }

    #[test]
    fn leaf_and_internal_domains_are_separated() {
        let a = Hash::of(b"a");
        let b = Hash::of(b"b");
        assert_ne!(leaf_hash(&a, &b), internal_hash(&a, &b));
    }

    #[test]
    fn delete_collapses_lone_leaf_upwards() {
        let mut store = MemoryNodeStore::new();
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0u32..50)
            .map(|i| (i.to_le_bytes().to_vec(), vec![1]))
            .collect();
        let full = insert_all(&mut store, &pairs);
        let deletes: Changes = pairs
            .iter()
            .skip(1)
            .map(|(k, _)| (k.clone(), None))
            .collect();
        let one = apply(&mut store, full, &deletes);
        assert_eq!(
            one,
            leaf_hash(&path_of(&pairs[0].0), &Hash::of(&pairs[0].1))
        );
        let last: Changes = [(pairs[0].0.clone(), None)].into();
        assert_eq!(apply(&mut store, one, &last), Hash::ZERO);
    }

    #[test]
    fn deleting_absent_keys_and_rewriting_values_keep_the_root() {
        let mut store = MemoryNodeStore::new();
        let root = insert_all(&mut store, &[("a", "1"), ("b", "2"), ("c", "3")]);
        let changes: Changes =
            [(b"zz".to_vec(), None), (b"a".to_vec(), Some(b"1".to_vec()))].into();
        assert_eq!(apply(&mut store, root, &changes), root);
    }

    #[test]
    fn missing_and_corrupt_nodes_are_named() {
        let mut store = MemoryNodeStore::new();
        let root = insert_all(&mut store, &[("a", "1"), ("b", "2")]);
        let empty = MemoryNodeStore::new();
        assert_eq!(
            get(&empty, root, b"a"),
            Err(SmtError::MissingNode { hash: root })
        );
        let mut bad = MemoryNodeStore::new();
        bad.insert_nodes([(root, vec![1, 2, 3])]);
        let error = get(&bad, root, b"a").unwrap_err();
        assert!(
            matches!(error, SmtError::CorruptNode { hash, .. } if hash == root),
            "{error}"
        );
        assert!(error.to_string().contains(&root.to_hex()));
        // Well-formed node under the wrong hash.
        let mut swapped = MemoryNodeStore::new();
        swapped.insert_nodes([(
            root,
            Node::Internal {
                left: root,
                right: root,
            }
            .encode(),
        )]);
        let error = get(&swapped, root, b"a").unwrap_err();
        assert!(error.to_string().contains("hash to"), "{error}");
        // Trailing bytes are rejected too.
        let mut encoded = store.node(&root).unwrap().unwrap();
        encoded.push(0);
        let mut trailing = MemoryNodeStore::new();
        trailing.insert_nodes([(root, encoded)]);
        assert!(matches!(
            get(&trailing, root, b"a"),
            Err(SmtError::CorruptNode { .. })
        ));
    }

    #[test]
    fn hostile_node_bytes_never_panic() {
        let root = Hash::of(b"whatever");
        for bytes in [
            vec![],
            vec![0],
            vec![0, 0xff, 0xff, 0xff, 0xff],
            vec![0, 0b11, 0xff, 0xff, 0xff, 0xff],
            vec![1; 64],
            vec![2; 65],
            vec![0xff; 1000],
        ] {
            let mut store = MemoryNodeStore::new();
            store.insert_nodes([(root, bytes)]);
            assert!(matches!(
                get(&store, root, b"k"),
                Err(SmtError::CorruptNode { .. })
            ));
            assert!(prove(&store, root, b"k").is_err());
        }
    }

    #[test]
    fn proofs_fail_for_wrong_value_sibling_root_and_terminal() {
        let mut store = MemoryNodeStore::new();
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0u32..200)
            .map(|i| (i.to_be_bytes().to_vec(), i.to_le_bytes().to_vec()))
            .collect();
        let root = insert_all(&mut store, &pairs);
        let (key, value) = &pairs[7];
        let proof = prove(&store, root, key).unwrap();
        assert_eq!(proof.terminal, Terminal::Key);
        verify(root, key, Some(value), &proof).unwrap();
        assert!(matches!(
            verify(root, key, Some(b"wrong"), &proof),
            Err(SmtError::RootMismatch { .. })
        ));
        assert!(matches!(
            verify(root, key, None, &proof),
            Err(SmtError::TerminalMismatch { .. })
        ));
        assert!(matches!(
            verify(Hash::of(b"root"), key, Some(value), &proof),
            Err(SmtError::RootMismatch { .. })
        ));
        let mut tampered = proof.clone();
        tampered.siblings[0].0[0] ^= 1;
        assert!(matches!(
            verify(root, key, Some(value), &tampered),
            Err(SmtError::RootMismatch { .. })
        ));
        let mut short = proof.clone();
        short.siblings.pop();
        assert!(matches!(
            verify(root, key, Some(value), &short),
            Err(SmtError::MalformedProof { .. })
        ));
        let mut deep = proof.clone();
        deep.depth = 300;
        assert!(matches!(
            verify(root, key, Some(value), &deep),
            Err(SmtError::MalformedProof { .. })
        ));
        // Round trip through SCALE, and decoding garbage fails cleanly.
        let encoded = proof.encode();
        assert_eq!(Proof::decode_all(&mut encoded.as_slice()).unwrap(), proof);
        assert!(Proof::decode_all(&mut &encoded[..encoded.len() - 1]).is_err());
        // Absent key: the proof ends at another leaf or an empty subtree.
        let absent = b"absent".to_vec();
        let proof = prove(&store, root, &absent).unwrap();
        verify(root, &absent, None, &proof).unwrap();
        assert!(verify(root, &absent, Some(b"x"), &proof).is_err());
        if let Terminal::Other { value_hash, .. } = proof.terminal {
            let mut forged = proof.clone();
            forged.terminal = Terminal::Other {
                key_hash: path_of(&absent),
                value_hash,
            };
            assert!(matches!(
                verify(root, &absent, None, &forged),
                Err(SmtError::TerminalMismatch { .. })
            ));
        }
    }

    #[test]
    fn update_of_many_keys_matches_model_root() {
        let mut store = MemoryNodeStore::new();
        let model: BTreeMap<Vec<u8>, Vec<u8>> = (0u32..2000)
            .map(|i| (i.to_le_bytes().to_vec(), vec![i as u8; 3]))
            .collect();
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = model.clone().into_iter().collect();
        let root = insert_all(&mut store, &pairs);
        assert_eq!(root, model_root(&model));
    }

    fn small_key() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(0u8..4, 0..3)
    }

    fn change() -> impl Strategy<Value = (Vec<u8>, Option<Vec<u8>>)> {
        (
            small_key(),
            prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 0..4)),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Whatever the batching, the root is the canonical root of the final set, `get` agrees
        /// with the model and every key has a verifying proof.
        #[test]
        fn root_depends_only_on_the_final_set(
            ops in prop::collection::vec(change(), 0..60),
            chunk_sizes in prop::collection::vec(1usize..10, 1..20),
        ) {
            // Model: apply operations in order.
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
            for (key, value) in &ops {
                match value {
                    Some(value) => { model.insert(key.clone(), value.clone()); }
                    None => { model.remove(key); }
                }
            }
            let expected = model_root(&model);

            // One by one.
            let mut store = MemoryNodeStore::new();
            let mut root = Hash::ZERO;
            for (key, value) in &ops {
                root = apply(&mut store, root, &[(key.clone(), value.clone())].into());
            }
            prop_assert_eq!(root, expected);

            // In chunks (later ops in the same chunk win, as in the model).
            let mut chunked = Hash::ZERO;
            let mut rest = ops.as_slice();
            let mut sizes = chunk_sizes.iter().cycle();
            while !rest.is_empty() {
                let size = (*sizes.next().unwrap()).min(rest.len());
                let (chunk, tail) = rest.split_at(size);
                let batch: Changes = chunk.iter().cloned().collect();
                chunked = apply(&mut store, chunked, &batch);
                rest = tail;
            }
            prop_assert_eq!(chunked, expected);

            // All at once, from empty.
            let all: Changes = ops.iter().cloned().collect();
            prop_assert_eq!(apply(&mut store, Hash::ZERO, &all), expected);

            // Reads and proofs over the whole key space.
            for a in 0u8..4 { for b in 0u8..4 {
                for key in [vec![], vec![a], vec![a, b]] {
                    let value = model.get(&key);
                    let got = get(&store, root, &key).unwrap();
                    prop_assert_eq!(got.as_ref(), value);
                    let proof = prove(&store, root, &key).unwrap();
                    prop_assert_eq!(verify(root, &key, value.map(Vec::as_slice), &proof), Ok(()));
                    let wrong = value.map_or(Some(&b"absent?"[..]), |_| None);
                    prop_assert!(verify(root, &key, wrong, &proof).is_err());
                    if let Some(value) = value {
                        let mut other = value.clone();
                        other.push(0);
                        prop_assert!(verify(root, &key, Some(&other), &proof).is_err());
                    }
                    if !proof.siblings.is_empty() {
                        let mut tampered = proof.clone();
                        tampered.siblings[0].0[31] ^= 0x80;
                        prop_assert!(verify(root, &key, value.map(Vec::as_slice), &tampered).is_err());
                    }
                    if root != Hash::ZERO {
                        prop_assert!(verify(Hash::of(&root.0), &key, value.map(Vec::as_slice), &proof).is_err());
                    }
                }
            }}

            // Deleting everything leaves the empty tree.
            let delete_all: Changes = model.keys().map(|k| (k.clone(), None)).collect();
            prop_assert_eq!(apply(&mut store, root, &delete_all), Hash::ZERO);
        }

        /// Larger trees built in random batches from a random starting set: the root is the
        /// canonical root, and sampled keys read and prove correctly.
        #[test]
        fn batches_on_larger_trees_match_the_model(
            initial in prop::collection::btree_map(any::<u16>(), any::<u8>(), 0..400),
            batches in prop::collection::vec(
                prop::collection::btree_map(any::<u16>(), prop::option::of(any::<u8>()), 0..100),
                1..5,
            ),
        ) {
            let key = |k: u16| k.to_le_bytes().to_vec();
            let mut model: BTreeMap<Vec<u8>, Vec<u8>> =
                initial.iter().map(|(k, v)| (key(*k), vec![*v])).collect();
            let mut store = MemoryNodeStore::new();
            let start: Changes = model.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
            let mut root = apply(&mut store, Hash::ZERO, &start);
            prop_assert_eq!(root, model_root(&model));
            for batch in &batches {
                let changes: Changes =
                    batch.iter().map(|(k, v)| (key(*k), v.map(|v| vec![v]))).collect();
                for (k, v) in &changes {
                    match v {
                        Some(v) => { model.insert(k.clone(), v.clone()); }
                        None => { model.remove(k); }
                    }
                }
                root = apply(&mut store, root, &changes);
                prop_assert_eq!(root, model_root(&model));
            }
            for k in initial.keys().chain(batches.iter().flat_map(|b| b.keys())).take(50) {
                let k = key(*k);
                let value = model.get(&k).map(Vec::as_slice);
                let got = get(&store, root, &k).unwrap();
                prop_assert_eq!(got.as_deref(), value);
                let proof = prove(&store, root, &k).unwrap();
                prop_assert_eq!(verify(root, &k, value, &proof), Ok(()));
            }
        }

        /// Random bytes as a node or as a proof never panic.
        #[test]
        fn hostile_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
            let hash = Hash::of(b"x");
            let mut store = MemoryNodeStore::new();
            store.insert_nodes([(hash, bytes.clone())]);
            let _ = get(&store, hash, b"k");
            let _ = prove(&store, hash, b"k");
            let _ = update(&store, hash, &[(b"k".to_vec(), Some(vec![1]))].into());
            if let Ok(proof) = Proof::decode_all(&mut bytes.as_slice()) {
                let _ = verify(hash, b"k", None, &proof);
                let _ = verify(hash, b"k", Some(b"v"), &proof);
            }
        }
    }
}
