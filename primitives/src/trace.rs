//! The execution-trace commitment: a Merkle tree over one leaf per segment.
//!
//! After every segment the executor hashes the full job state. A worker commits to the whole
//! run with a single 32-byte root; later it reveals sampled leaves together with an
//! [`InclusionProof`] each, and anyone holding the root and the segment count checks them with
//! [`verify_inclusion`]. This module is the specification of that commitment; every hash is
//! blake3 (via [`Hash::of_parts`]) and every integer is encoded as 8 bytes little-endian.
//!
//! ## Leaf
//!
//! Segment `i` (counting from 0) is described by a [`TraceLeaf`]: its index, the hash of the
//! state after the segment, and the **cumulative** fuel of segments `0..=i` (the fuel of `init`
//! is not counted). Its leaf hash is
//!
//! ```text
//! leaf_i = blake3( "agora/trace/leaf/v2"   19 bytes, ASCII
//!                ‖ index                   8 bytes, u64 little-endian
//!                ‖ state_hash              32 bytes
//!                ‖ fuel )                  8 bytes, u64 little-endian
//! ```
//!
//! (67 bytes hashed). The index is inside the leaf, so a leaf cannot be presented at another
//! position. The fuel is cumulative so that the last leaf alone fixes what the whole run is
//! billed, and re-executing any one segment from leaf `i − 1` checks the running total up to
//! leaf `i` (v1 leaves carried each segment's own fuel, which bound nothing to the bill).
//!
//! ## Tree
//!
//! Level 0 is `leaf_0 … leaf_{n-1}`. Each next level pairs neighbours from the left:
//!
//! ```text
//! node = blake3( "agora/trace/node/v1"     19 bytes, ASCII
//!              ‖ left                      32 bytes
//!              ‖ right )                   32 bytes
//! ```
//!
//! (83 bytes hashed). If a level has an odd number of nodes, its last node has no partner and
//! is **promoted unchanged** to the next level. Levels shrink as `m → ⌈m/2⌉` until one node,
//! the tree root, is left; for `n = 1` the tree root is `leaf_0` itself.
//!
//! Promotion is safe here: the leaf and node tags differ, so a leaf can never be read as an
//! internal node or the other way round (no second-preimage by reinterpretation), and the
//! segment count is bound into the final root (below), which fixes the shape of the tree and
//! therefore which nodes were promoted. Unlike duplicating the odd node (Bitcoin's rule, which
//! let two different leaf lists share one root), promotion never makes two lists of leaves
//! collide.
//!
//! ## Root
//!
//! ```text
//! root = blake3( "agora/trace/root/v1"     19 bytes, ASCII
//!              ‖ n                         8 bytes, u64 little-endian: the segment count
//!              ‖ tree_root )               32 bytes
//! ```
//!
//! (59 bytes hashed). A proof therefore cannot be replayed against a trace with a different
//! segment count. The three tags have the same length and differ in their bytes, so the three
//! kinds of preimage are distinct.
//!
//! ## Bounds
//!
//! A trace has between 1 and [`MAX_SEGMENTS`] = 2^20 segments: a job runs at least one
//! segment, so an empty trace is an error ([`TraceError::EmptyTrace`]) rather than a special
//! root. The tree is then at most 20 levels deep, so a proof has at most
//! [`MAX_PROOF_SIBLINGS`] = 20 siblings; decoding a longer proof fails before allocating.
//!
//! ## Proof
//!
//! An [`InclusionProof`] carries the leaf index and the siblings from the bottom up. The path is
//! a function of `(index, n)` alone: at a level of `m` nodes, position `p` has a sibling at
//! `p xor 1` if that is `< m`, and is promoted otherwise; the parent is at `p / 2`. A sibling at
//! an odd `p xor 1` is the right input of the node, otherwise the left. The verifier recomputes
//! the expected number of siblings and rejects a proof with any other number.
//!
//! SCALE encoding of a proof: `index` as u64 little-endian, then the siblings as a SCALE vector
//! (compact length, then 32 bytes each).

use crate::Hash;
use parity_scale_codec::{Compact, Decode, Encode, Input};
use scale_info::TypeInfo;
use serde::Serialize;

/// Domain tag of a leaf hash.
pub const LEAF_TAG: &[u8] = b"agora/trace/leaf/v2";
/// Domain tag of an internal node hash.
pub const NODE_TAG: &[u8] = b"agora/trace/node/v1";
/// Domain tag of the root, which binds the segment count.
pub const ROOT_TAG: &[u8] = b"agora/trace/root/v1";

/// Most segments a trace may have: 2^20.
pub const MAX_SEGMENTS: u64 = 1 << 20;
/// Most siblings an inclusion proof may have: log2 of [`MAX_SEGMENTS`].
pub const MAX_PROOF_SIBLINGS: usize = 20;

/// Errors of building a trace tree, proving a leaf and verifying an inclusion proof; each names
/// the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// A trace has at least one segment.
    #[error("a trace has at least one segment; this one has none")]
    EmptyTrace,
    /// The trace has more segments than [`MAX_SEGMENTS`].
    #[error("a trace of {count} segments exceeds the limit of {max} segments")]
    TooManySegments {
        /// Segments in the trace.
        count: u64,
        /// [`MAX_SEGMENTS`].
        max: u64,
    },
    /// Leaves must be numbered 0, 1, 2, … in order.
    #[error("the leaf at position {position} has index {index}; leaves must be numbered 0, 1, 2, … in order")]
    MisnumberedLeaf {
        /// Position of the leaf in the list.
        position: u64,
        /// Index the leaf claims.
        index: u64,
    },
    /// A leaf index beyond the end of the trace.
    #[error("leaf {index} is out of range for a trace of {count} segments")]
    LeafOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// Segments in the trace.
        count: u64,
    },
    /// The proof was made for another leaf than the one presented.
    #[error("the proof is for leaf {proof_index} but leaf {leaf_index} was presented")]
    ProofForOtherLeaf {
        /// Index recorded in the proof.
        proof_index: u64,
        /// Index of the presented leaf.
        leaf_index: u64,
    },
    /// The proof has the wrong number of siblings for its position.
    #[error("the proof for leaf {index} of a trace of {count} segments has {actual} siblings; it needs {expected}")]
    ProofLength {
        /// Leaf index.
        index: u64,
        /// Segments in the trace.
        count: u64,
        /// Siblings the position needs.
        expected: usize,
        /// Siblings in the proof.
        actual: usize,
    },
    /// The proof does not lead to the committed root.
    #[error(
        "the proof for leaf {index} leads to root {computed}, not to the committed root {expected}"
    )]
    RootMismatch {
        /// Leaf index.
        index: u64,
        /// Root the verifier was given.
        expected: Hash,
        /// Root recomputed from the leaf and the proof.
        computed: Hash,
    },
}

/// One segment of an execution trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct TraceLeaf {
    /// Segment index, counting from 0.
    pub index: u64,
    /// Hash of the full job state after the segment.
    pub state_hash: Hash,
    /// Fuel of segments `0..=index` together: the previous leaf's plus this segment's.
    pub fuel: u64,
}

impl TraceLeaf {
    /// The leaf of segment `index` when the module refused to run it (a trap, a state it
    /// cannot decode, a call past the segment's fuel bound): the zero state hash, which no
    /// state hashes to, and the fuel before the segment, `fuel_before` (a refused segment is
    /// not billed). A trace may end in one, and only there: the job could not go on.
    pub fn refusal(index: u64, fuel_before: u64) -> TraceLeaf {
        TraceLeaf {
            index,
            state_hash: Hash::ZERO,
            fuel: fuel_before,
        }
    }

    /// Whether this is a [`TraceLeaf::refusal`].
    pub fn is_refusal(&self) -> bool {
        self.state_hash == Hash::ZERO
    }
}

/// The segment of a trace that used the most fuel, and that fuel: `(index, fuel)`, from the
/// leaves' cumulative fuel (a refusal's segment used none). Ties go to the later segment, so
/// that a trace of equal segments names its last, which is checked anyway. `(0, 0)` for no
/// leaves.
pub fn heaviest_segment(leaves: &[TraceLeaf]) -> (u64, u64) {
    let mut before = 0u64;
    let mut heaviest = (0, 0);
    for leaf in leaves {
        let fuel = leaf.fuel.saturating_sub(before);
        if fuel >= heaviest.1 {
            heaviest = (leaf.index, fuel);
        }
        before = leaf.fuel;
    }
    heaviest
}

/// Hash of a leaf: `blake3("agora/trace/leaf/v2" ‖ index LE ‖ state_hash ‖ fuel LE)`.
pub fn leaf_hash(leaf: &TraceLeaf) -> Hash {
    Hash::of_parts(&[
        LEAF_TAG,
        &leaf.index.to_le_bytes(),
        leaf.state_hash.as_bytes(),
        &leaf.fuel.to_le_bytes(),
    ])
}

/// Hash of an internal node: `blake3("agora/trace/node/v1" ‖ left ‖ right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Hash::of_parts(&[NODE_TAG, left.as_bytes(), right.as_bytes()])
}

/// The committed root: `blake3("agora/trace/root/v1" ‖ count LE ‖ tree_root)`.
pub fn root_hash(count: u64, tree_root: &Hash) -> Hash {
    Hash::of_parts(&[ROOT_TAG, &count.to_le_bytes(), tree_root.as_bytes()])
}

/// Checks `1 ≤ count ≤ MAX_SEGMENTS`.
fn check_count(count: u64) -> Result<(), TraceError> {
    if count == 0 {
        return Err(TraceError::EmptyTrace);
    }
    if count > MAX_SEGMENTS {
        return Err(TraceError::TooManySegments {
            count,
            max: MAX_SEGMENTS,
        });
    }
    Ok(())
}

/// Number of siblings on the path of leaf `index` in a tree of `count` leaves.
fn path_len(index: u64, count: u64) -> usize {
    let mut position = index;
    let mut size = count;
    let mut siblings = 0usize;
    while size > 1 {
        if (position ^ 1) < size {
            siblings = siblings.saturating_add(1);
        }
        position /= 2;
        size = size.div_ceil(2);
    }
    siblings
}

/// The Merkle tree over the leaves of one trace.
#[derive(Debug, Clone)]
pub struct TraceTree {
    /// `levels[0]` are the leaf hashes, the last level is the single tree root.
    levels: Vec<Vec<Hash>>,
    /// The committed root (tree root bound to the segment count).
    root: Hash,
}

impl TraceTree {
    /// Builds the tree. The leaves must be numbered `0..n` in order, with `1 ≤ n ≤ 2^20`.
    pub fn new(leaves: Vec<TraceLeaf>) -> Result<Self, TraceError> {
        let count = u64::try_from(leaves.len()).unwrap_or(u64::MAX);
        check_count(count)?;
        let mut level = Vec::with_capacity(leaves.len());
        for (position, leaf) in (0u64..).zip(&leaves) {
            if leaf.index != position {
                return Err(TraceError::MisnumberedLeaf {
                    position,
                    index: leaf.index,
                });
            }
            level.push(leaf_hash(leaf));
        }
        let mut levels = Vec::new();
        while level.len() > 1 {
            let next = level
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    // Odd node out: promoted unchanged.
                    [single] => *single,
                    // `chunks(2)` yields one or two items; nothing else occurs.
                    _ => Hash::ZERO,
                })
                .collect();
            levels.push(std::mem::replace(&mut level, next));
        }
        let tree_root = level.first().copied().unwrap_or(Hash::ZERO);
        levels.push(level);
        Ok(TraceTree {
            levels,
            root: root_hash(count, &tree_root),
        })
    }

    /// The committed root: binds every leaf and the segment count.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// Number of leaves (segments); at least 1.
    pub fn len(&self) -> u64 {
        self.levels
            .first()
            .map_or(0, |leaves| u64::try_from(leaves.len()).unwrap_or(u64::MAX))
    }

    /// Always false: a trace has at least one segment.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The inclusion proof of leaf `index`.
    pub fn prove(&self, index: u64) -> Result<InclusionProof, TraceError> {
        let count = self.len();
        let out_of_range = TraceError::LeafOutOfRange { index, count };
        if index >= count {
            return Err(out_of_range);
        }
        let mut position = usize::try_from(index).map_err(|_| out_of_range)?;
        let mut siblings = Vec::with_capacity(MAX_PROOF_SIBLINGS);
        // Every level but the last (the single tree root) contributes at most one sibling.
        for level in self.levels.iter().take(self.levels.len().saturating_sub(1)) {
            if let Some(sibling) = level.get(position ^ 1) {
                siblings.push(*sibling);
            }
            position /= 2;
        }
        Ok(InclusionProof { index, siblings })
    }
}

/// Proof that a leaf is at position `index` of a committed trace: the sibling hashes from the
/// leaf level up, skipping levels where the node on the path is promoted.
///
/// Decoding rejects proofs with more than [`MAX_PROOF_SIBLINGS`] siblings before allocating.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Serialize, TypeInfo)]
pub struct InclusionProof {
    /// Index of the proven leaf.
    pub index: u64,
    /// Sibling hashes, bottom-up.
    pub siblings: Vec<Hash>,
}

impl Decode for InclusionProof {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let index = u64::decode(input)?;
        let Compact(len) = Compact::<u32>::decode(input)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_PROOF_SIBLINGS {
            return Err("inclusion proof has more than 20 siblings".into());
        }
        let mut siblings = Vec::with_capacity(len);
        for _ in 0..len {
            siblings.push(Hash::decode(input)?);
        }
        Ok(InclusionProof { index, siblings })
    }
}

/// Checks that `leaf` is leaf `leaf.index` of the trace of `leaf_count` segments committed by
/// `root`.
pub fn verify_inclusion(
    root: Hash,
    leaf_count: u64,
    leaf: &TraceLeaf,
    proof: &InclusionProof,
) -> Result<(), TraceError> {
    check_count(leaf_count)?;
    let index = leaf.index;
    if proof.index != index {
        return Err(TraceError::ProofForOtherLeaf {
            proof_index: proof.index,
            leaf_index: index,
        });
    }
    if index >= leaf_count {
        return Err(TraceError::LeafOutOfRange {
            index,
            count: leaf_count,
        });
    }
    let expected = path_len(index, leaf_count);
    if proof.siblings.len() != expected {
        return Err(TraceError::ProofLength {
            index,
            count: leaf_count,
            expected,
            actual: proof.siblings.len(),
        });
    }
    let mut acc = leaf_hash(leaf);
    let mut siblings = proof.siblings.iter();
    let mut position = index;
    let mut size = leaf_count;
    while size > 1 {
        let partner = position ^ 1;
        if partner < size {
            // The length check above guarantees a sibling here; a missing one is a mismatch.
            let Some(sibling) = siblings.next() else {
                return Err(TraceError::ProofLength {
                    index,
                    count: leaf_count,
                    expected,
                    actual: proof.siblings.len(),
                });
            };
            acc = if partner % 2 == 1 {
                node_hash(&acc, sibling)
            } else {
                node_hash(sibling, &acc)
            };
        }
        position /= 2;
        size = size.div_ceil(2);
    }
    let computed = root_hash(leaf_count, &acc);
    if computed != root {
        return Err(TraceError::RootMismatch {
            index,
            expected: root,
            computed,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_heaviest_segment_is_the_largest_fuel_step_and_ties_go_later() {
        let cumulative = |fuels: &[u64]| -> Vec<TraceLeaf> {
            let mut total = 0;
            (0u64..)
                .zip(fuels)
                .map(|(index, fuel)| {
                    total += fuel;
                    TraceLeaf {
                        index,
                        state_hash: Hash::of(&index.to_le_bytes()),
                        fuel: total,
                    }
                })
                .collect()
        };
        assert_eq!(heaviest_segment(&cumulative(&[5, 9, 7, 9, 3])), (3, 9));
        assert_eq!(heaviest_segment(&cumulative(&[4, 4, 4])), (2, 4));
        let mut refused = cumulative(&[4, 6]);
        refused.push(TraceLeaf::refusal(2, 10));
        assert_eq!(heaviest_segment(&refused), (1, 6));
        assert_eq!(heaviest_segment(&[]), (0, 0));
    }

    fn leaves(states: &[(Hash, u64)]) -> Vec<TraceLeaf> {
        (0u64..)
            .zip(states)
            .map(|(index, &(state_hash, fuel))| TraceLeaf {
                index,
                state_hash,
                fuel,
            })
            .collect()
    }

    fn simple(n: u64) -> Vec<TraceLeaf> {
        (0..n)
            .map(|i| TraceLeaf {
                index: i,
                state_hash: Hash::of(&i.to_le_bytes()),
                fuel: 1000 + i,
            })
            .collect()
    }

    #[test]
    fn golden_root_of_three_leaves() {
        // Pins the format: any change to tags, byte order, the odd-node rule or the root
        // binding changes this value. Do not update it without versioning the tags.
        let tree = TraceTree::new(vec![
            TraceLeaf {
                index: 0,
                state_hash: Hash([0x11; 32]),
                fuel: 100,
            },
            TraceLeaf {
                index: 1,
                state_hash: Hash([0x22; 32]),
                fuel: 200,
            },
            TraceLeaf {
                index: 2,
                state_hash: Hash([0x33; 32]),
                fuel: 300,
            },
        ])
        .unwrap();
        assert_eq!(tree.root().to_hex(), GOLDEN_3);
    }

    /// Leaf tag v2 (cumulative fuel). Under v1 (per-segment fuel) this root was
    /// 0xcb82c806ce24f3f9e5a9dc76b6fc55289fd86075baccdbe191bb88209a95e180.
    const GOLDEN_3: &str = "0x6c0b3b156e408fc19e0e1ebf9b5c6e6fbea0bbda8e5dbfbe60b7e4e98b95889c";

    #[test]
    fn spec_by_hand_for_three_leaves() {
        assert_eq!(LEAF_TAG, b"agora/trace/leaf/v2");
        let ls = simple(3);
        let tree = TraceTree::new(ls.clone()).unwrap();
        let leaf = |i: usize| {
            let mut bytes = LEAF_TAG.to_vec();
            bytes.extend_from_slice(&ls[i].index.to_le_bytes());
            bytes.extend_from_slice(&ls[i].state_hash.0);
            bytes.extend_from_slice(&ls[i].fuel.to_le_bytes());
            assert_eq!(bytes.len(), 67);
            Hash::of(&bytes)
        };
        let node = |l: Hash, r: Hash| Hash::of(&[NODE_TAG, &l.0, &r.0].concat());
        // Leaf 2 is promoted at level 0.
        let tree_root = node(node(leaf(0), leaf(1)), leaf(2));
        let root = Hash::of(&[ROOT_TAG, &3u64.to_le_bytes(), &tree_root.0].concat());
        assert_eq!(tree.root(), root);
        assert_eq!(
            tree.prove(2).unwrap().siblings,
            vec![node(leaf(0), leaf(1))]
        );
        assert_eq!(tree.prove(0).unwrap().siblings, vec![leaf(1), leaf(2)]);
    }

    #[test]
    fn single_leaf_trace() {
        let ls = simple(1);
        let tree = TraceTree::new(ls.clone()).unwrap();
        assert_eq!(tree.len(), 1);
        assert!(!tree.is_empty());
        assert_eq!(tree.root(), root_hash(1, &leaf_hash(&ls[0])));
        let proof = tree.prove(0).unwrap();
        assert!(proof.siblings.is_empty());
        verify_inclusion(tree.root(), 1, &ls[0], &proof).unwrap();
    }

    #[test]
    fn empty_and_misnumbered_traces_are_rejected() {
        assert_eq!(TraceTree::new(vec![]).unwrap_err(), TraceError::EmptyTrace);
        let mut ls = simple(5);
        ls[3].index = 7;
        let err = TraceTree::new(ls).unwrap_err();
        assert_eq!(
            err,
            TraceError::MisnumberedLeaf {
                position: 3,
                index: 7
            }
        );
        assert_eq!(
            err.to_string(),
            "the leaf at position 3 has index 7; leaves must be numbered 0, 1, 2, … in order"
        );
    }

    #[test]
    fn out_of_range_leaf_is_named() {
        let tree = TraceTree::new(simple(5)).unwrap();
        let err = tree.prove(7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "leaf 7 is out of range for a trace of 5 segments"
        );
        let leaf = TraceLeaf {
            index: 7,
            state_hash: Hash::ZERO,
            fuel: 0,
        };
        let proof = InclusionProof {
            index: 7,
            siblings: vec![],
        };
        assert_eq!(
            verify_inclusion(tree.root(), 5, &leaf, &proof),
            Err(TraceError::LeafOutOfRange { index: 7, count: 5 })
        );
    }

    #[test]
    fn segment_count_bounds() {
        let leaf = simple(1)[0];
        let proof = InclusionProof {
            index: 0,
            siblings: vec![],
        };
        assert_eq!(
            verify_inclusion(Hash::ZERO, 0, &leaf, &proof),
            Err(TraceError::EmptyTrace)
        );
        let err = verify_inclusion(Hash::ZERO, MAX_SEGMENTS + 1, &leaf, &proof).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a trace of 1048577 segments exceeds the limit of 1048576 segments"
        );
        assert_eq!(path_len(0, MAX_SEGMENTS), MAX_PROOF_SIBLINGS);
        assert_eq!(path_len(MAX_SEGMENTS - 1, MAX_SEGMENTS), MAX_PROOF_SIBLINGS);
        assert_eq!(path_len(MAX_SEGMENTS - 2, MAX_SEGMENTS - 1), 19);
    }

    #[test]
    fn proof_scale_round_trip_and_hostile_lengths() {
        let tree = TraceTree::new(simple(13)).unwrap();
        let proof = tree.prove(6).unwrap();
        let bytes = proof.encode();
        assert_eq!(bytes.len(), 8 + 1 + 32 * proof.siblings.len());
        assert_eq!(InclusionProof::decode(&mut &bytes[..]).unwrap(), proof);

        // 21 siblings: rejected even when the bytes are present.
        let long = InclusionProof {
            index: 0,
            siblings: vec![Hash::ZERO; 21],
        }
        .encode();
        assert!(InclusionProof::decode(&mut &long[..]).is_err());
        // A length prefix of u32::MAX with no data behind it.
        let mut huge = 0u64.encode();
        huge.extend(Compact(u32::MAX).encode());
        assert!(InclusionProof::decode(&mut &huge[..]).is_err());
        // Truncated input.
        assert!(InclusionProof::decode(&mut &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn wrong_length_proof_is_named() {
        let ls = simple(5);
        let tree = TraceTree::new(ls.clone()).unwrap();
        let mut proof = tree.prove(1).unwrap();
        proof.siblings.push(Hash::ZERO);
        assert_eq!(
            verify_inclusion(tree.root(), 5, &ls[1], &proof)
                .unwrap_err()
                .to_string(),
            "the proof for leaf 1 of a trace of 5 segments has 4 siblings; it needs 3"
        );
    }

    #[test]
    fn leaf_and_proof_serialize_with_hex_hashes() {
        let leaf = TraceLeaf {
            index: 1,
            state_hash: Hash([0xab; 32]),
            fuel: 7,
        };
        let hex = format!("0x{}", "ab".repeat(32));
        assert_eq!(
            serde_json::to_value(leaf).unwrap(),
            serde_json::json!({ "index": 1, "state_hash": hex, "fuel": 7 })
        );
        let proof = InclusionProof {
            index: 1,
            siblings: vec![Hash([0xab; 32])],
        };
        assert_eq!(
            serde_json::to_value(&proof).unwrap(),
            serde_json::json!({ "index": 1, "siblings": [hex] })
        );
    }

    fn arb_trace() -> impl Strategy<Value = Vec<TraceLeaf>> {
        prop::collection::vec((any::<[u8; 32]>().prop_map(Hash), any::<u64>()), 1..=300)
            .prop_map(|states| leaves(&states))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn every_leaf_proves_and_verifies(ls in arb_trace()) {
            let n = ls.len() as u64;
            let tree = TraceTree::new(ls.clone()).unwrap();
            prop_assert_eq!(tree.len(), n);
            for leaf in &ls {
                let proof = tree.prove(leaf.index).unwrap();
                prop_assert!(proof.siblings.len() <= MAX_PROOF_SIBLINGS);
                prop_assert_eq!(proof.siblings.len(), path_len(leaf.index, n));
                let decoded = InclusionProof::decode(&mut &proof.encode()[..]).unwrap();
                prop_assert_eq!(verify_inclusion(tree.root(), n, leaf, &decoded), Ok(()));
            }
        }

        #[test]
        fn tampering_fails(ls in arb_trace(), pick in any::<prop::sample::Index>(),
                           other in any::<prop::sample::Index>(), byte in 0usize..32,
                           bit in 0u8..8) {
            let n = ls.len() as u64;
            let tree = TraceTree::new(ls.clone()).unwrap();
            let root = tree.root();
            let i = pick.index(ls.len());
            let leaf = ls[i];
            let proof = tree.prove(leaf.index).unwrap();

            let mut bad = leaf;
            bad.state_hash.0[byte] ^= 1 << bit;
            prop_assert!(verify_inclusion(root, n, &bad, &proof).is_err());

            let mut bad = leaf;
            bad.fuel ^= 1 << bit;
            prop_assert!(verify_inclusion(root, n, &bad, &proof).is_err());

            // Another index, with or without the proof's index following it.
            let mut bad = leaf;
            bad.index = (leaf.index + 1) % n.max(2);
            if bad.index != leaf.index {
                prop_assert!(verify_inclusion(root, n, &bad, &proof).is_err());
                let mut moved = proof.clone();
                moved.index = bad.index;
                prop_assert!(verify_inclusion(root, n, &bad, &moved).is_err());
            }

            if !proof.siblings.is_empty() {
                let mut bad = proof.clone();
                let s = byte % bad.siblings.len();
                bad.siblings[s].0[byte] ^= 1 << bit;
                prop_assert!(verify_inclusion(root, n, &leaf, &bad).is_err());
            }

            for wrong_count in [n + 1, n.saturating_sub(1), n * 2] {
                if wrong_count != n {
                    prop_assert!(verify_inclusion(root, wrong_count, &leaf, &proof).is_err());
                }
            }

            let mut wrong_root = root;
            wrong_root.0[byte] ^= 1 << bit;
            let wrong = matches!(
                verify_inclusion(wrong_root, n, &leaf, &proof),
                Err(TraceError::RootMismatch { .. })
            );
            prop_assert!(wrong, "a wrong root must give RootMismatch");

            let j = other.index(ls.len());
            if j != i {
                let foreign = tree.prove(ls[j].index).unwrap();
                prop_assert!(verify_inclusion(root, n, &leaf, &foreign).is_err());
                let mut relabelled = foreign;
                relabelled.index = leaf.index;
                prop_assert!(verify_inclusion(root, n, &leaf, &relabelled).is_err());
            }
        }

        #[test]
        fn root_is_deterministic_and_binds_every_leaf(ls in arb_trace(),
                                                      pick in any::<prop::sample::Index>(),
                                                      delta in 1u64..) {
            let root = TraceTree::new(ls.clone()).unwrap().root();
            prop_assert_eq!(TraceTree::new(ls.clone()).unwrap().root(), root);
            let i = pick.index(ls.len());
            let mut changed = ls.clone();
            changed[i].fuel = changed[i].fuel.wrapping_add(delta);
            prop_assert_ne!(TraceTree::new(changed).unwrap().root(), root);
            let mut changed = ls.clone();
            changed[i].state_hash.0[0] ^= 0x80;
            prop_assert_ne!(TraceTree::new(changed).unwrap().root(), root);
            // Dropping the last leaf changes the root too.
            if ls.len() > 1 {
                let shorter = ls[..ls.len() - 1].to_vec();
                prop_assert_ne!(TraceTree::new(shorter).unwrap().root(), root);
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..800)) {
            if let Ok(proof) = InclusionProof::decode(&mut &bytes[..]) {
                prop_assert!(proof.siblings.len() <= MAX_PROOF_SIBLINGS);
            }
        }
    }
}
