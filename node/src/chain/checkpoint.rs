//! A checkpoint: a block the operator knows to be on the chain (`--checkpoint NUMBER:HASH`,
//! from a source it trusts), held against every history peers offer.
//!
//! # Why
//!
//! A node that joins trusts the genesis committee and every committee the chain elected after
//! it, each on the word of the one before. The validators of an old committee may have left
//! with their bonds: nothing they sign any more can be slashed, and a quorum of them could
//! sign a second history from their epoch on (a *long-range* fork). A node that joins by
//! replay or by snapshot cannot tell the two histories apart from signatures alone. The usual
//! answer (Cosmos's trust period, Ethereum's weak subjectivity checkpoint) is a recent block
//! the joiner takes from outside the network.
//!
//! # Rules
//!
//! The checkpoint names the last block of an epoch, so a snapshot offer above it necessarily
//! carries that block's header among its epoch ends (`consensus::snapshot`). A block or header
//! of height `NUMBER` whose hash is not `HASH` is no block of this chain: an epoch end that
//! contradicts it is refused (its offer with it), so are a snapshot block, a received block, a
//! block of a sync run and a snapshot to install, and finalizing one fails. At start, a chain
//! already finalized past the checkpoint must hold it (else the node refuses to start: it
//! followed another history). Nothing is checked below a snapshot's epoch ends: a snapshot
//! node holds no other block there.
//!
//! A node that starts empty with a checkpoint goes further: its state sync trusts the
//! checkpoint instead of the genesis committee ([`Chain::checkpoint_end`], see
//! `consensus::snapshot`), so nothing below it is believed at all.

use super::{Chain, ChainError};
use agora_primitives::Hash;
use pallet_staking::validators::{epoch_of, last_block_of};

/// A block the operator knows to be on the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Its height: the last block of an epoch.
    pub number: u64,
    /// Its hash.
    pub hash: Hash,
}

impl std::str::FromStr for Checkpoint {
    type Err = String;

    /// `NUMBER:HASH`, the hash in hex with or without `0x`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let expected =
            || format!("expected NUMBER:HASH (a block height and its 0x hash), got {text:?}");
        let (number, hash) = text.split_once(':').ok_or_else(expected)?;
        let number = number.trim().parse::<u64>().map_err(|_| expected())?;
        let hash = Hash::from_hex(hash.trim()).map_err(|_| expected())?;
        Ok(Checkpoint { number, hash })
    }
}

impl Chain {
    /// Holds every history against `checkpoint` from now on (once; later calls are ignored).
    /// Refused if it is not the last block of an epoch, or if this chain, finalized past it,
    /// holds another block at its height.
    pub fn set_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), ChainError> {
        if self.inner.checkpoint.get().is_some() {
            return Ok(());
        }
        let length = self.epoch_length().unwrap_or(0);
        let last_of_its_epoch = |length| last_block_of(epoch_of(checkpoint.number, length), length);
        if length == 0 || checkpoint.number == 0 || checkpoint.number != last_of_its_epoch(length) {
            return Err(ChainError::CheckpointNotAnEpochEnd {
                number: checkpoint.number,
                length,
            });
        }
        if checkpoint.number <= self.finalized_head().1.number() {
            // Fails closed: a finalized height with no block known there (it cannot be, for an
            // epoch's last block, even below a snapshot) is not taken as agreement.
            let found = self
                .block_hash(checkpoint.number)?
                .ok_or(ChainError::CheckpointUnknown(checkpoint.number))?;
            if found != checkpoint.hash {
                return Err(ChainError::CheckpointContradicted {
                    number: checkpoint.number,
                    expected: checkpoint.hash,
                    found,
                });
            }
        }
        let _ = self.inner.checkpoint.set(checkpoint);
        self.forget_contradicting(checkpoint)
    }

    /// The epoch whose last block the checkpoint is, and its hash, if one is set.
    pub(super) fn checkpoint_end(&self) -> Option<(u64, Hash)> {
        let checkpoint = self.inner.checkpoint.get()?;
        let length = self.epoch_length()?;
        Some((epoch_of(checkpoint.number, length), checkpoint.hash))
    }

    /// Forgets held blocks that contradict `checkpoint`, in memory and on disk: blocks reloaded
    /// at start were held before the checkpoint was known (a proposal of this node's own that
    /// consensus had not finalized, say). Their descendants no longer reach the finalized head
    /// and go with the next finalization's forks.
    fn forget_contradicting(&self, checkpoint: Checkpoint) -> Result<(), ChainError> {
        let contradicting: Vec<Hash> = {
            let mut state = self.lock();
            let found: Vec<Hash> = state
                .pending
                .iter()
                .filter(|(hash, pending)| {
                    pending.block.header.number() == checkpoint.number && **hash != checkpoint.hash
                })
                .map(|(hash, _)| *hash)
                .collect();
            for hash in &found {
                state.pending.remove(hash);
            }
            if !found.is_empty() {
                // The best block may have been one of them or above one (as `forget_forks`).
                state.best = state.finalized_hash;
            }
            found
        };
        if !contradicting.is_empty() {
            tracing::warn!(
                blocks = contradicting.len(),
                "forgot held blocks that contradict --checkpoint"
            );
            self.inner.db.forget_unfinalized(&contradicting)?;
        }
        Ok(())
    }

    /// The error of a snapshot of height `number` below the checkpoint: nothing in it shows
    /// that its history leads to the checkpoint, and once installed a node could not leave it.
    pub(super) fn below_checkpoint(&self, number: u64) -> Result<(), ChainError> {
        match self.inner.checkpoint.get() {
            Some(checkpoint) if number < checkpoint.number => {
                Err(ChainError::SnapshotBelowCheckpoint {
                    number,
                    checkpoint: checkpoint.number,
                })
            }
            _ => Ok(()),
        }
    }

    /// The error of a block `hash` at height `number` that contradicts the checkpoint, if it
    /// does (logged at debug level only: a peer can send such blocks as fast as it likes).
    pub(super) fn contradiction(&self, number: u64, hash: Hash) -> Result<(), ChainError> {
        match self.inner.checkpoint.get() {
            Some(checkpoint) if checkpoint.number == number && checkpoint.hash != hash => {
                tracing::debug!(
                    number,
                    %hash,
                    checkpoint = %checkpoint.hash,
                    "refusing a block that contradicts --checkpoint: a peer serves another history"
                );
                Err(ChainError::CheckpointContradicted {
                    number,
                    expected: checkpoint.hash,
                    found: hash,
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_parse_with_or_without_0x_and_bad_ones_name_the_value() {
        let hash = "ab".repeat(32);
        let parsed: Checkpoint = format!("600:0x{hash}").parse().unwrap();
        assert_eq!(parsed.number, 600);
        assert_eq!(parsed.hash, Hash([0xab; 32]));
        assert_eq!(format!("600:{hash}").parse::<Checkpoint>(), Ok(parsed));
        for bad in [
            "600",
            "x:0xab",
            "600:0xabc",
            &format!("600:0x{}", "ab".repeat(31)),
        ] {
            let error = bad.parse::<Checkpoint>().unwrap_err();
            assert!(error.contains(&format!("{bad:?}")), "{error}");
        }
    }
}
