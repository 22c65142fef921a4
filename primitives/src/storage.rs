//! The state interface pallets are written against.
//!
//! # Model
//!
//! State is a map from byte keys to byte values. A block executes against [`Ext`], which layers
//! uncommitted changes over a read-only [`StateRead`] backend (the node's RocksDB, or a
//! `BTreeMap` in tests):
//!
//! ```text
//!   transaction layers (innermost last)   <- writes of the call being dispatched
//!   block changes                          <- writes of everything already applied in this block
//!   backend                                <- state after the parent block
//! ```
//!
//! Reads fall through the layers top-down. [`Ext::transactional`] runs a closure in a new layer
//! and keeps its writes (and the events it deposited) only if it returns `Ok`: a failed call
//! leaves nothing half-written.
//!
//! # Keys
//!
//! Typed items derive their keys exactly as FRAME does, so any Substrate tool that reads the
//! runtime metadata (polkadot.js, subxt) computes the same keys (`docs/polkadot-js.md`):
//!
//! ```text
//!   value: twox128(pallet) ‖ twox128(item)
//!   map:   twox128(pallet) ‖ twox128(item) ‖ blake2_128(SCALE(k)) ‖ SCALE(k)   (Blake2_128Concat)
//! ```
//!
//! The hashed prefix spreads keys uniformly over the state tree; the trailing plain key lets a
//! map be iterated and its keys recovered. The prefix hash need not resist collisions: item
//! names are chosen by the runtime, not by users. The map hasher must, since map keys (account
//! ids, hashes) are chosen by users; blake2_128 of the key, followed by the key itself, leaves
//! nothing for an attacker to collide. Everything that authenticates state (the sparse Merkle
//! tree, block and trace hashes) stays blake3.
//!
//! # Determinism
//!
//! Changes are kept in `BTreeMap`s, so the order in which the node sees them (and hashes them
//! into the state root) depends only on the keys, never on hash-map iteration order.
//!
//! # Backend failures
//!
//! [`StateRead::get`] is infallible. A backend that cannot read its disk cannot execute a block
//! deterministically at all; the node treats that as fatal and restarts from its last
//! finalized block, rather than threading an I/O error through every pallet.

use crate::referee::{Referee, RefereeError, RefereeRequest, RefereeVerdict};
use crate::Hash;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// A set of writes: `Some(value)` sets a key, `None` deletes it.
pub type Changes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Read-only access to a state.
pub trait StateRead {
    /// The value at `key`, if any.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
}

impl<T: StateRead + ?Sized> StateRead for &T {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        (**self).get(key)
    }
}

impl StateRead for BTreeMap<Vec<u8>, Vec<u8>> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        BTreeMap::get(self, key).cloned()
    }
}

/// A state whose keys can be walked in order; used by invariant checkers and state dumps.
pub trait StateIter: StateRead {
    /// Calls `f` for every `(key, value)` whose key starts with `prefix`, in key order.
    fn for_each_prefixed(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8], &[u8]));
}

impl StateIter for BTreeMap<Vec<u8>, Vec<u8>> {
    fn for_each_prefixed(&self, prefix: &[u8], f: &mut dyn FnMut(&[u8], &[u8])) {
        for (key, value) in self.range(prefix.to_vec()..) {
            if !key.starts_with(prefix) {
                break;
            }
            f(key, value);
        }
    }
}

/// Applies `changes` to an in-memory state.
pub fn apply_changes(state: &mut BTreeMap<Vec<u8>, Vec<u8>>, changes: &Changes) {
    for (key, change) in changes {
        match change {
            Some(value) => {
                state.insert(key.clone(), value.clone());
            }
            None => {
                state.remove(key);
            }
        }
    }
}

/// Where in a block an event was deposited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum Phase {
    /// While applying the extrinsic at this index.
    #[codec(index = 0)]
    ApplyExtrinsic(u32),
    /// In `on_finalize` hooks.
    #[codec(index = 1)]
    Finalization,
    /// In `on_initialize` hooks.
    #[codec(index = 2)]
    Initialization,
}

/// An event as deposited: its phase and the SCALE encoding of the runtime's event enum, i.e.
/// the pallet index byte followed by the pallet's own event.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct RawEvent {
    /// When it happened.
    pub phase: Phase,
    /// Pallet index followed by the encoded pallet event.
    pub event: Vec<u8>,
}

/// Upper bound on nested transactional layers; dispatch nests at most a handful deep.
pub const MAX_TRANSACTION_DEPTH: usize = 16;

/// Execution externalities: state overlay, events, the current phase, and the host's referee.
pub struct Ext<'a> {
    backend: &'a dyn StateRead,
    block_changes: Changes,
    layers: Vec<Layer>,
    events: Vec<RawEvent>,
    phase: Phase,
    referee: Option<Arc<dyn Referee>>,
    /// Why the referee could not decide, the first time in this block it could not: such a
    /// block cannot be decided on this node (see [`crate::referee`]).
    undecided: Option<RefereeError>,
}

struct Layer {
    changes: Changes,
    events_len: usize,
}

impl<'a> Ext<'a> {
    /// Fresh externalities over `backend`, in the initialization phase.
    pub fn new(backend: &'a dyn StateRead) -> Self {
        Ext {
            backend,
            block_changes: Changes::new(),
            layers: Vec::new(),
            events: Vec::new(),
            phase: Phase::Initialization,
            referee: None,
            undecided: None,
        }
    }

    /// Attaches `referee`: calls that need a disputed step executed reach the node's engine
    /// through it.
    pub fn set_referee(&mut self, referee: Option<Arc<dyn Referee>>) {
        self.referee = referee;
    }

    /// Executes `request` through the attached referee. When it cannot decide, the reason is
    /// also remembered ([`Ext::take_undecided`]): the executive then keeps the call out of the
    /// block it builds, or refuses the block it imports, whatever the pallet did with the error.
    pub fn referee(&mut self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
        let result = match &self.referee {
            Some(referee) => referee.run(request),
            None => Err(RefereeError::Detached),
        };
        if let Err(error) = result {
            self.undecided.get_or_insert(error);
        }
        result
    }

    /// Requires that this node holds the bytes of `blob` (see the referee's availability
    /// contract, `agora_primitives::referee`). When it does not, or no referee is attached, the
    /// call is undecided here, exactly as a referee run that cannot decide
    /// ([`Ext::take_undecided`]), and the error says which blob is missing.
    pub fn require_available(&mut self, blob: Hash) -> Result<(), RefereeError> {
        let result = match &self.referee {
            Some(referee) if referee.holds(&blob) => Ok(()),
            Some(_) => Err(RefereeError::Unavailable { blob }),
            None => Err(RefereeError::Detached),
        };
        if let Err(error) = result {
            self.undecided.get_or_insert(error);
        }
        result
    }

    /// Why the referee could not decide since the last call, if it could not (cleared here).
    pub fn take_undecided(&mut self) -> Option<RefereeError> {
        self.undecided.take()
    }

    /// The value at `key` as seen by the code running now.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        for layer in self.layers.iter().rev() {
            if let Some(change) = layer.changes.get(key) {
                return change.clone();
            }
        }
        match self.block_changes.get(key) {
            Some(change) => change.clone(),
            None => self.backend.get(key),
        }
    }

    /// Sets `key` to `value`.
    pub fn set(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.top_changes().insert(key, Some(value));
    }

    /// Deletes `key`.
    pub fn remove(&mut self, key: Vec<u8>) {
        self.top_changes().insert(key, None);
    }

    fn top_changes(&mut self) -> &mut Changes {
        match self.layers.last_mut() {
            Some(layer) => &mut layer.changes,
            None => &mut self.block_changes,
        }
    }

    /// Records an already-encoded runtime event in the current phase.
    pub fn deposit_raw_event(&mut self, event: Vec<u8>) {
        self.events.push(RawEvent {
            phase: self.phase,
            event,
        });
    }

    /// Records `event` of the pallet at `pallet_index`.
    pub fn deposit_event<E: Encode>(&mut self, pallet_index: u8, event: &E) {
        let mut encoded = Vec::with_capacity(1 + event.size_hint());
        encoded.push(pallet_index);
        event.encode_to(&mut encoded);
        self.deposit_raw_event(encoded);
    }

    /// Sets the phase recorded with subsequent events.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Events deposited so far.
    pub fn events(&self) -> &[RawEvent] {
        &self.events
    }

    /// Runs `f` in a new layer; its writes and events are kept only if it returns `Ok`.
    pub fn transactional<R, E>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<R, E>,
    ) -> Result<R, E> {
        assert!(
            self.layers.len() < MAX_TRANSACTION_DEPTH,
            "transactional layers nested deeper than {MAX_TRANSACTION_DEPTH}"
        );
        self.layers.push(Layer {
            changes: Changes::new(),
            events_len: self.events.len(),
        });
        let result = f(self);
        let layer = self
            .layers
            .pop()
            .expect("the layer pushed above is still there");
        match result {
            Ok(value) => {
                let parent = self.top_changes();
                parent.extend(layer.changes);
                Ok(value)
            }
            Err(error) => {
                self.events.truncate(layer.events_len);
                Err(error)
            }
        }
    }

    /// Consumes the externalities, returning the block's writes and events.
    pub fn into_changes(self) -> (Changes, Vec<RawEvent>) {
        assert!(
            self.layers.is_empty(),
            "a transactional layer was left open at the end of the block"
        );
        (self.block_changes, self.events)
    }

    /// The block's writes so far (outside any open transactional layer).
    pub fn block_changes(&self) -> &Changes {
        &self.block_changes
    }
}

impl StateRead for Ext<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        Ext::get(self, key)
    }
}

/// xxHash64 of `data` with seeds 0 and 1, concatenated little-endian: FRAME's `Twox128`,
/// used for the pallet and item parts of a key.
pub fn twox_128(data: &[u8]) -> [u8; 16] {
    sp_crypto_hashing::twox_128(data)
}

/// blake2b with a 16-byte output: FRAME's `Blake2_128` (the hash of a `Blake2_128Concat` map
/// key).
pub fn blake2_128(data: &[u8]) -> [u8; 16] {
    sp_crypto_hashing::blake2_128(data)
}

/// Names a storage item: the pallet it belongs to and its own name.
pub trait StorageInstance {
    /// Pallet name, e.g. `"Balances"`.
    const PALLET: &'static str;
    /// Item name, e.g. `"Account"`.
    const ITEM: &'static str;

    /// `twox128(PALLET) ‖ twox128(ITEM)` ([`hashed_prefix`]). An implementation may
    /// cache it (`pallet_support::storage_instance!` does); it must return the same bytes.
    fn prefix() -> [u8; 32] {
        hashed_prefix(Self::PALLET, Self::ITEM)
    }
}

/// `twox128(pallet) ‖ twox128(item)`: the key prefix of a storage item.
pub fn hashed_prefix(pallet: &str, item: &str) -> [u8; 32] {
    let mut prefix = [0u8; 32];
    prefix[..16].copy_from_slice(&twox_128(pallet.as_bytes()));
    prefix[16..].copy_from_slice(&twox_128(item.as_bytes()));
    prefix
}

fn decode_stored<V: Decode>(key: &[u8], bytes: &[u8], item: &str) -> V {
    // The runtime wrote these bytes itself; failing to decode them means the state is corrupt
    // or the runtime has a bug, and no block built on such a state can be trusted.
    V::decode(&mut &bytes[..]).unwrap_or_else(|error| {
        panic!(
            "corrupt state: {item} at key 0x{} does not decode: {error}",
            hex::encode(key)
        )
    })
}

/// A single typed value.
pub struct StorageValue<I, V>(PhantomData<(I, V)>);

impl<I: StorageInstance, V: Encode + Decode> StorageValue<I, V> {
    /// The raw storage key.
    pub fn key() -> Vec<u8> {
        I::prefix().to_vec()
    }

    /// The stored value, if any.
    pub fn get(state: &impl StateRead) -> Option<V> {
        let key = Self::key();
        state
            .get(&key)
            .map(|bytes| decode_stored(&key, &bytes, I::ITEM))
    }

    /// Stores `value`.
    pub fn put(ext: &mut Ext<'_>, value: &V) {
        ext.set(Self::key(), value.encode());
    }

    /// Removes the value.
    pub fn kill(ext: &mut Ext<'_>) {
        ext.remove(Self::key());
    }
}

/// A typed map with keys in the `Blake2_128Concat` form (`blake2_128 ‖ plain`).
pub struct StorageMap<I, K, V>(PhantomData<(I, K, V)>);

impl<I: StorageInstance, K: Encode, V: Encode + Decode> StorageMap<I, K, V> {
    /// The raw storage key of `k`.
    pub fn key(k: &K) -> Vec<u8> {
        let encoded = k.encode();
        let mut key = Vec::with_capacity(32 + 16 + encoded.len());
        key.extend_from_slice(&I::prefix());
        key.extend_from_slice(&blake2_128(&encoded));
        key.extend_from_slice(&encoded);
        key
    }

    /// The value at `k`, if any.
    pub fn get(state: &impl StateRead, k: &K) -> Option<V> {
        let key = Self::key(k);
        state
            .get(&key)
            .map(|bytes| decode_stored(&key, &bytes, I::ITEM))
    }

    /// Stores `value` at `k`.
    pub fn insert(ext: &mut Ext<'_>, k: &K, value: &V) {
        ext.set(Self::key(k), value.encode());
    }

    /// Removes the value at `k`.
    pub fn remove(ext: &mut Ext<'_>, k: &K) {
        ext.remove(Self::key(k));
    }
}

impl<I: StorageInstance, K: Encode + Decode, V: Encode + Decode> StorageMap<I, K, V> {
    /// Every `(k, v)` of the map, in key order of the raw storage keys.
    pub fn iter(state: &impl StateIter) -> Vec<(K, V)> {
        let mut out = Vec::new();
        state.for_each_prefixed(&I::prefix(), &mut |key, value| {
            let plain = &key[48..];
            let k = decode_stored(key, plain, I::ITEM);
            let v = decode_stored(key, value, I::ITEM);
            out.push((k, v));
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Answer;
    impl StorageInstance for Answer {
        const PALLET: &'static str = "Test";
        const ITEM: &'static str = "Answer";
    }
    type AnswerValue = StorageValue<Answer, u32>;
    type AnswerMap = StorageMap<Answer, u8, u64>;

    #[test]
    fn failed_transaction_leaves_no_writes_and_no_events() {
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        AnswerValue::put(&mut ext, &1);
        let result: Result<(), &str> = ext.transactional(|ext| {
            AnswerValue::put(ext, &2);
            ext.deposit_event(7, &42u8);
            assert_eq!(AnswerValue::get(ext), Some(2));
            Err("refused")
        });
        assert_eq!(result, Err("refused"));
        assert_eq!(AnswerValue::get(&ext), Some(1));
        assert!(ext.events().is_empty());
    }

    #[test]
    fn nested_commit_then_outer_rollback_discards_both() {
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        let result: Result<(), ()> = ext.transactional(|ext| {
            ext.transactional(|ext| {
                AnswerMap::insert(ext, &1, &10);
                Ok::<(), ()>(())
            })?;
            assert_eq!(AnswerMap::get(ext, &1), Some(10));
            Err(())
        });
        assert!(result.is_err());
        assert_eq!(AnswerMap::get(&ext, &1), None);
        let (changes, events) = ext.into_changes();
        assert!(changes.is_empty());
        assert!(events.is_empty());
    }

    #[test]
    fn reads_fall_through_to_backend_and_deletes_shadow_it() {
        let mut backend = BTreeMap::new();
        backend.insert(AnswerValue::key(), 5u32.encode());
        let mut ext = Ext::new(&backend);
        assert_eq!(AnswerValue::get(&ext), Some(5));
        AnswerValue::kill(&mut ext);
        assert_eq!(AnswerValue::get(&ext), None);
        let (changes, _) = ext.into_changes();
        assert_eq!(changes.get(&AnswerValue::key()), Some(&None));
    }

    /// The vectors polkadot.js and FRAME agree on: `twox128("System")`, the prefix of
    /// `System.Account`, and `Blake2_128Concat` of an account id.
    #[test]
    fn keys_are_the_ones_frame_and_polkadot_js_compute() {
        assert_eq!(
            hex::encode(twox_128(b"System")),
            "26aa394eea5630e07c48ae0c9558cef7"
        );
        assert_eq!(
            hex::encode(hashed_prefix("System", "Account")),
            "26aa394eea5630e07c48ae0c9558cef7b99d880ec681799c0cf30e8886371da9"
        );
        assert_eq!(
            hex::encode(hashed_prefix("Balances", "TotalIssuance")),
            "c2261276cc9d1f8598ea4b6a74b15c2f57c875e4cff74148e4628f264b974c80"
        );
        // blake2_128 of //Alice's sr25519 public key, as in every Substrate dev chain's
        // `System.Account` key for Alice.
        let alice = hex::decode("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
            .unwrap_or_default();
        assert_eq!(
            hex::encode(blake2_128(&alice)),
            "de1e86a9a8c739864cf3cc5ec2bea59f"
        );
    }

    #[test]
    fn map_keys_embed_the_plain_key_after_its_hash() {
        let key = AnswerMap::key(&9);
        assert_eq!(key.len(), 32 + 16 + 1);
        assert_eq!(key[..32], Answer::prefix());
        assert_eq!(key[48], 9);
        assert_ne!(AnswerMap::key(&9), AnswerMap::key(&10));
    }

    #[test]
    fn events_carry_pallet_index_and_phase() {
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        ext.set_phase(Phase::ApplyExtrinsic(3));
        ext.deposit_event(2, &0xabu8);
        assert_eq!(
            ext.events(),
            &[RawEvent {
                phase: Phase::ApplyExtrinsic(3),
                event: vec![2, 0xab]
            }]
        );
    }
}
