//! The state as of an unfinalized block: the block's and its unfinalized ancestors' changes,
//! held in memory, over the finalized state in RocksDB.
//!
//! # Layers
//!
//! Every executed unfinalized block is an [`Executed`] layer: its state writes (a deletion is
//! `None`), its events, and the state-tree nodes it created. A [`View`] of block `b` is the
//! layers of `b` and of its unfinalized ancestors, newest first, over the finalized state:
//!
//! - a point read ([`View::try_get`]) returns the newest layer's change of the key, else the
//!   finalized value;
//! - a prefix walk ([`View::try_for_each_prefixed`]) merges the layers and the flat table in
//!   key order, the newest change of a key winning and a deletion hiding older values;
//! - a state-tree node ([`NodeStore::node`]) is looked up in the layers' new nodes, then on
//!   disk, so the state root of a child can be computed before its parent is committed.
//!
//! A view holds `Arc`s to its layers, so it stays valid (and cheap to clone into a blocking
//! task) while the chain's lock is released. Only the finalized state is shared with writers:
//! should descendants of the view's block be committed while the view is held, reads of keys
//! they changed (and the view's layers did not) see their newer values.

use crate::storage::{Database, StorageError};
use agora_primitives::smt::{NodeStore, SmtError};
use agora_primitives::storage::{Changes, RawEvent, StateIter, StateRead};
use agora_primitives::Hash;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::ops::{Bound, ControlFlow};
use std::sync::Arc;

/// A block with what executing it produced.
pub struct Executed {
    /// State writes of the block.
    pub changes: Changes,
    /// Its events.
    pub events: Vec<RawEvent>,
    /// The state-tree nodes its state root added, in the order they are committed.
    pub(super) nodes: Vec<(Hash, Vec<u8>)>,
    /// Where each of `nodes` is, for lookups by hash.
    node_index: HashMap<Hash, usize>,
}

impl Executed {
    pub(super) fn new(
        changes: Changes,
        events: Vec<RawEvent>,
        nodes: Vec<(Hash, Vec<u8>)>,
    ) -> Self {
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

/// A state as of some block: unfinalized layers (newest first) over the finalized state.
#[derive(Clone)]
pub struct View {
    pub(super) db: Arc<Database>,
    pub(super) layers: Vec<Arc<Executed>>,
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use crate::storage::FinalizedBlock;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;

    type Model = BTreeMap<Vec<u8>, Vec<u8>>;
    /// `(key, value)` pairs in key order, as a walk yields them.
    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

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

    fn walk(view: &View, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Pairs {
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

    /// What [`walk`] must give: the model's pairs under `prefix` past `after`, at most `limit`.
    fn expected(model: &Model, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Pairs {
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

    fn pairs(list: &[(&str, &str)]) -> Pairs {
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
