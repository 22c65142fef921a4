//! Proof of a blob's size from its blake3 hash alone.
//!
//! A blob is registered on chain by its blake3 hash and its size, before any node has its bytes.
//! A size the chain took on trust could be squatted: register a published module's hash with the
//! wrong size, and no node would ever accept its true bytes. The registration therefore carries
//! a [`SizeProof`]: the blob's last chunk and the chaining values of the subtrees to its left,
//! which hash to the blob's root only for the true size.
//!
//! ## The tree
//!
//! blake3 splits its input into 1 KiB chunks (`CHUNK_LEN`). An input of at most one chunk is
//! hashed as that chunk with the root flag. A longer input of `n` bytes is a parent node over a
//! left subtree of `left_subtree_len(n)` bytes (the largest power-of-two number of whole chunks
//! below `n`) and a right subtree of the rest; each chunk's hash depends on its index (its byte
//! offset / `CHUNK_LEN`), each parent's on whether it is the root. The shape of the tree, the
//! offset of the last chunk and which node is the root are all functions of `n`.
//!
//! ## The proof
//!
//! Walk from the root down its right edge: at each parent the left child is a complete subtree,
//! whose chaining value the proof carries (`left`, root first), and the walk goes right, until
//! at most one chunk is left: the last chunk, whose bytes the proof carries (`last_chunk`; for a
//! blob of one chunk, the whole blob). [`SizeProof::verify`] recomputes the walk from the
//! claimed size, hashes the last chunk at its offset, and folds the left chaining values back up
//! to a root, which must be the registered hash.
//!
//! A proof for a size other than the true one needs a root compression whose inputs differ from
//! the true tree's, i.e. a second preimage of blake3's compression function. A proof weighs at
//! most `CHUNK_LEN` bytes plus 32 bytes per level: 1.6 KiB for 64 MiB.

use crate::Hash;
use blake3::hazmat::{
    left_subtree_len, merge_subtrees_non_root, merge_subtrees_root, HasherExt, Mode,
};
use parity_scale_codec::{Decode, Encode};

/// Bytes in a blake3 chunk.
pub const CHUNK_LEN: u64 = blake3::CHUNK_LEN as u64;
/// Most left subtrees on the right edge of a blake3 tree: one per level, and a `u64` size has
/// at most 54 levels above 1 KiB chunks.
pub const MAX_LEVELS: usize = 54;
/// Largest size a proof can be checked for: 2^62 bytes (4 EiB). blake3's tree arithmetic
/// overflows near `u64::MAX` (`left_subtree_len` adds one to the length), which a claimed size
/// reached before this bound was checked (found by the `size_proof` fuzz target: a size of
/// `u64::MAX` panicked in debug builds). The runtime's own blob limit is far below it.
pub const MAX_PROVABLE_SIZE: u64 = 1 << 62;

/// Why a size proof does not prove the size claimed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SizeProofError {
    /// The proof's last chunk is not as long as the claimed size makes the last chunk.
    #[error("the proof's last chunk has {got} bytes; a blob of {size} bytes ends with {expected}")]
    LastChunkLength {
        /// The claimed size.
        size: u64,
        /// The last chunk's length for that size.
        expected: u64,
        /// The proof's.
        got: u64,
    },
    /// The proof has not one chaining value per level of the claimed size's tree.
    #[error("the proof has {got} subtree hashes; a blob of {size} bytes has {expected} levels")]
    Levels {
        /// The claimed size.
        size: u64,
        /// Levels of that size's tree.
        expected: u64,
        /// The proof's.
        got: u64,
    },
    /// The proof hashes to another root: the blob does not have the claimed size (or the proof
    /// is not of this blob).
    #[error("the proof does not hash to the blob's hash at a size of {size} bytes")]
    Mismatch {
        /// The claimed size.
        size: u64,
    },
    /// A blob has at least one byte.
    #[error("a blob of 0 bytes cannot be registered")]
    Empty,
    /// A size past [`MAX_PROVABLE_SIZE`].
    #[error("a size of {0} bytes is past the largest provable, 2^62")]
    TooLarge(u64),
}

/// The proof that a blob with a given blake3 hash has a given size (module docs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct SizeProof {
    /// The blob's last chunk: 1 to `CHUNK_LEN` bytes (the whole blob if it is one chunk).
    pub last_chunk: Vec<u8>,
    /// Chaining values of the complete left subtrees on the path from the root to the last
    /// chunk, the root's first.
    pub left: Vec<[u8; 32]>,
}

/// The right edge of the tree of a `size`-byte input (`size > 0`): the byte range of each left
/// subtree, root first, and the offset of the last chunk.
fn right_edge(size: u64) -> (Vec<(u64, u64)>, u64) {
    let mut subtrees = Vec::new();
    let mut start = 0u64;
    // Each level halves (at least) what is left, so the loop ends within MAX_LEVELS turns.
    while size - start > CHUNK_LEN {
        debug_assert!(
            subtrees.len() < MAX_LEVELS,
            "a u64 size has at most 54 levels"
        );
        let left = left_subtree_len(size - start);
        subtrees.push((start, left));
        start += left;
    }
    (subtrees, start)
}

impl SizeProof {
    /// The proof of `bytes`' size. Hashes the whole input once more (beside the blob's hash).
    pub fn of(bytes: &[u8]) -> SizeProof {
        let size = bytes.len() as u64;
        if size == 0 {
            return SizeProof::default();
        }
        let (subtrees, last) = right_edge(size);
        let slice = |start: u64, len: u64| &bytes[start as usize..(start + len) as usize];
        let left = subtrees
            .iter()
            .map(|&(start, len)| {
                blake3::Hasher::new()
                    .set_input_offset(start)
                    .update(slice(start, len))
                    .finalize_non_root()
            })
            .collect();
        SizeProof {
            last_chunk: slice(last, size - last).to_vec(),
            left,
        }
    }

    /// Checks that the blob whose blake3 hash is `hash` has `size` bytes.
    pub fn verify(&self, hash: &Hash, size: u64) -> Result<(), SizeProofError> {
        if size == 0 {
            return Err(SizeProofError::Empty);
        }
        if size > MAX_PROVABLE_SIZE {
            return Err(SizeProofError::TooLarge(size));
        }
        let (subtrees, last) = right_edge(size);
        let expected = size - last;
        if self.last_chunk.len() as u64 != expected {
            return Err(SizeProofError::LastChunkLength {
                size,
                expected,
                got: self.last_chunk.len() as u64,
            });
        }
        if self.left.len() != subtrees.len() {
            return Err(SizeProofError::Levels {
                size,
                expected: subtrees.len() as u64,
                got: self.left.len() as u64,
            });
        }
        let root = match self.left.split_first() {
            // One chunk: it is the root.
            None => *blake3::hash(&self.last_chunk).as_bytes(),
            Some((top, below)) => {
                let mut right = blake3::Hasher::new()
                    .set_input_offset(last)
                    .update(&self.last_chunk)
                    .finalize_non_root();
                for left in below.iter().rev() {
                    right = merge_subtrees_non_root(left, &right, Mode::Hash);
                }
                *merge_subtrees_root(top, &right, Mode::Hash).as_bytes()
            }
        };
        if root == hash.0 {
            Ok(())
        } else {
            Err(SizeProofError::Mismatch { size })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `size_proof` fuzz target (its input is kept in `fuzz/corpus/size_proof`).
    #[test]
    fn a_size_past_the_provable_maximum_is_refused_not_a_panic() {
        let proof = SizeProof {
            last_chunk: vec![7],
            left: Vec::new(),
        };
        let hash = Hash::of(&[7]);
        for size in [u64::MAX, u64::MAX - 1, MAX_PROVABLE_SIZE + 1] {
            assert_eq!(
                proof.verify(&hash, size),
                Err(SizeProofError::TooLarge(size))
            );
        }
        assert!(matches!(
            proof.verify(&hash, MAX_PROVABLE_SIZE),
            Err(SizeProofError::LastChunkLength { .. })
        ));
        assert_eq!(proof.verify(&hash, 1), Ok(()));
    }
    use proptest::prelude::*;

    fn blob(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    /// Sizes around every boundary of the tree's shape: one chunk, powers of two, one byte
    /// either side.
    #[test]
    fn a_blob_proves_its_own_size_at_every_shape() {
        let k = CHUNK_LEN as usize;
        for len in [
            1,
            2,
            k - 1,
            k,
            k + 1,
            2 * k,
            2 * k + 1,
            3 * k,
            4 * k - 1,
            4 * k,
            4 * k + 1,
            17 * k + 5,
            64 * k,
            64 * k + 1,
        ] {
            let bytes = blob(len);
            let hash = Hash::of(&bytes);
            let proof = SizeProof::of(&bytes);
            assert_eq!(proof.verify(&hash, len as u64), Ok(()), "{len} bytes");
            assert!(
                proof.encode().len() <= k + 32 * 8 + 8,
                "{len} bytes: proof too large"
            );
        }
    }

    /// The squatter's move: the true hash with another size. Whatever proof it builds from the
    /// true bytes, another size has another shape and another root.
    #[test]
    fn no_proof_from_the_true_bytes_proves_another_size() {
        let k = CHUNK_LEN as usize;
        for len in [1, k, k + 1, 3 * k + 7, 8 * k] {
            let bytes = blob(len);
            let hash = Hash::of(&bytes);
            for claimed in [
                1,
                k as u64,
                k as u64 + 1,
                3 * k as u64 + 7,
                8 * k as u64,
                1 << 26,
            ] {
                if claimed == len as u64 {
                    continue;
                }
                // The true proof, and proofs of the bytes cut or padded to the claimed size.
                let mut resized = bytes.clone();
                resized.resize(claimed as usize, 0);
                for proof in [SizeProof::of(&bytes), SizeProof::of(&resized)] {
                    assert!(
                        proof.verify(&hash, claimed).is_err(),
                        "{len} bytes proved as {claimed}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_malformed_proof_names_what_is_wrong() {
        let bytes = blob(6_000);
        let hash = Hash::of(&bytes);
        let proof = SizeProof::of(&bytes);
        let short = SizeProof {
            last_chunk: proof.last_chunk[1..].to_vec(),
            ..proof.clone()
        };
        assert_eq!(
            short.verify(&hash, 6_000),
            Err(SizeProofError::LastChunkLength {
                size: 6_000,
                expected: 880,
                got: 879
            })
        );
        let shallow = SizeProof {
            left: proof.left[1..].to_vec(),
            ..proof.clone()
        };
        assert_eq!(
            shallow.verify(&hash, 6_000),
            Err(SizeProofError::Levels {
                size: 6_000,
                expected: 2,
                got: 1
            })
        );
        let mut tampered = proof.clone();
        tampered.left[1][0] ^= 1;
        assert_eq!(
            tampered.verify(&hash, 6_000),
            Err(SizeProofError::Mismatch { size: 6_000 })
        );
        assert_eq!(proof.verify(&hash, 0), Err(SizeProofError::Empty));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any blob proves its size, and only its size.
        #[test]
        fn any_blob_proves_exactly_its_size(len in 1usize..20_000, other in 1u64..40_000) {
            let bytes = blob(len);
            let hash = Hash::of(&bytes);
            let proof = SizeProof::of(&bytes);
            prop_assert_eq!(proof.verify(&hash, len as u64), Ok(()));
            prop_assume!(other != len as u64);
            prop_assert!(proof.verify(&hash, other).is_err());
        }
    }
}
