//! State sync, the chain's half: serving a snapshot (the offered block, the epochs' last
//! blocks with the committees they elected, state tree nodes by hash) and installing one a
//! peer served. What is trusted and why is in [`crate::consensus::snapshot`].

use super::{Chain, ChainError, ChainEvent, StoredBlock};
use crate::consensus::{EpochEnd, SnapshotBlock, SnapshotInstall};
use crate::metrics::set_count;
use crate::storage::{FinalizedBlock, Snapshot};
use agora_primitives::smt::{self, Proof};
use agora_primitives::Hash;
use agora_runtime::block::{extrinsics_root, Block, Header};
use pallet_staking::validators::{epoch_of, last_block_of};
use pallet_staking::{Committees, Validator};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::BTreeMap;

/// How far below the finalized tip [`Chain::offer`] looks for a block with a certificate of
/// its own (the engine certifies most blocks itself; runs end at certified blocks).
const MAX_OFFER_SCAN: u64 = 1_024;

impl Chain {
    /// The newest finalized block (not genesis) with a certificate of its own, encoded, and
    /// its certificate.
    pub(super) fn offer(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let tip = self.lock().finalized.number();
        let db = &self.inner.db;
        // Bounded by `MAX_OFFER_SCAN`.
        for number in (tip.saturating_sub(MAX_OFFER_SCAN).max(1)..=tip).rev() {
            let hash = db.block_hash(number).ok()??;
            let certificate = db.certificate(&hash).ok()??;
            if certificate.is_empty() {
                continue;
            }
            let stored = Self::load_stored(db, &hash).ok()?;
            return Some((stored.block.encode(), certificate));
        }
        None
    }

    /// The last block of `epoch` (finalized here, with its certificate) and the committee of
    /// `epoch + 1` proven against its state root.
    pub(super) fn end_of_epoch(&self, epoch: u64) -> Option<EpochEnd> {
        self.proven_end_of_epoch(epoch).or_else(|| {
            // Below a snapshot this node joined by: the end as it was checked then.
            let bytes = self.inner.db.epoch_end(epoch).ok()??;
            EpochEnd::decode_all(&mut bytes.as_slice()).ok()
        })
    }

    /// [`Chain::end_of_epoch`] from the block and state this node holds.
    fn proven_end_of_epoch(&self, epoch: u64) -> Option<EpochEnd> {
        let length = self.epoch_length()?;
        let number = last_block_of(epoch, length);
        let db = &self.inner.db;
        let hash = db.block_hash(number).ok()??;
        let header = Self::load_header(db, &hash).ok()?;
        let certificate = db.certificate(&hash).ok()??;
        if certificate.is_empty() {
            return None;
        }
        let key = Committees::key(&epoch.saturating_add(1));
        let committee = db.state_at(header.state_root, &key).ok()??;
        let proof = db.prove_at(header.state_root, &key).ok()?;
        Some(EpochEnd {
            header: header.encode(),
            certificate,
            committee,
            proof: proof.encode(),
        })
    }

    /// Encoded state tree nodes by hash, in order, up to the first unknown one or `max_bytes`.
    pub(super) fn nodes_by_hash(&self, hashes: &[Hash], max_bytes: usize) -> Vec<Vec<u8>> {
        let mut nodes = Vec::new();
        let mut bytes = 0usize;
        for hash in hashes {
            let Ok(Some(node)) = smt::NodeStore::node(self.inner.db.as_ref(), hash) else {
                break;
            };
            bytes = bytes.saturating_add(node.len()).saturating_add(4);
            if bytes > max_bytes {
                break;
            }
            nodes.push(node);
        }
        nodes
    }

    /// Checks `end` as the last block of `epoch` and returns its hash and height and the
    /// consensus keys of the committee it elected for `epoch + 1`.
    pub(super) fn check_epoch_end(
        &self,
        epoch: u64,
        end: &EpochEnd,
    ) -> Option<(Hash, u64, Vec<[u8; 32]>)> {
        let length = self.epoch_length()?;
        let header = Header::decode_all(&mut end.header.as_slice()).ok()?;
        if header.number() != last_block_of(epoch, length) {
            return None;
        }
        self.contradiction(header.number(), header.hash()).ok()?;
        let proof = Proof::decode_all(&mut end.proof.as_slice()).ok()?;
        let key = Committees::key(&epoch.saturating_add(1));
        smt::verify(header.state_root, &key, Some(&end.committee), &proof).ok()?;
        let committee = Vec::<Validator>::decode_all(&mut end.committee.as_slice()).ok()?;
        let keys = committee.iter().map(|v| v.consensus_key.0).collect();
        Some((header.hash(), header.number(), keys))
    }

    /// Decodes an offered snapshot block and checks its extrinsics against its header.
    pub(super) fn check_snapshot_block(&self, bytes: &[u8]) -> Option<SnapshotBlock> {
        let block = Block::decode_all(&mut &bytes[..]).ok()?;
        if extrinsics_root(&block.extrinsics) != block.header.extrinsics_root {
            return None;
        }
        let number = block.header.number();
        self.contradiction(number, block.hash()).ok()?;
        self.below_checkpoint(number).ok()?;
        let epoch = self
            .epoch_length()
            .map_or(0, |length| epoch_of(number, length));
        Some(SnapshotBlock {
            hash: block.hash(),
            number,
            epoch,
            state_root: block.header.state_root,
        })
    }

    /// Makes a checked snapshot the finalized head: written in one step, then the in-memory
    /// head moves to it and it is announced as finalized.
    pub(super) async fn install(&self, snapshot: SnapshotInstall) -> Result<(), ChainError> {
        let block = Block::decode_all(&mut snapshot.block.as_slice())
            .map_err(|_| ChainError::CorruptBlock(Hash::of(&snapshot.block)))?;
        let hash = block.hash();
        let header = block.header.clone();
        let extrinsics = block.extrinsics.iter().map(|xt| xt.hash()).collect();
        let number = header.number();
        // Checked as the offer was; again here, where nothing else stands after it.
        self.contradiction(number, hash)?;
        self.below_checkpoint(number)?;
        for end in &snapshot.epoch_ends {
            self.contradiction(end.number, end.hash)?;
        }
        let stored = StoredBlock {
            block,
            // The events of the snapshot block are not part of the snapshot.
            events: Vec::new(),
        };
        let epoch_ends: Vec<(u64, u64, Hash, Vec<u8>)> = snapshot
            .epoch_ends
            .iter()
            .map(|end| (end.epoch, end.number, end.hash, end.end.encode()))
            .collect();
        let db = self.inner.db.clone();
        self.blocking(move || {
            let no_changes = BTreeMap::new();
            db.install_snapshot(Snapshot {
                block: FinalizedBlock {
                    number,
                    hash,
                    encoded: &stored.encode(),
                    certificate: &snapshot.certificate,
                    state_changes: &no_changes,
                    new_nodes: &snapshot.nodes,
                },
                state: &snapshot.state,
                epoch_ends: &epoch_ends,
            })
        })
        .await??;
        let mut state = self.lock();
        state.finalized = header.clone();
        state.finalized_hash = hash;
        // Held blocks of a chain at genesis cannot be on the snapshot's chain above it any
        // more than below it: the follower fetches what comes after the snapshot.
        state.pending.clear();
        state.best = hash;
        drop(state);
        set_count(&self.inner.metrics.finalized_height, number);
        set_count(&self.inner.metrics.best_height, number);
        let _ = self.inner.events.send(ChainEvent::NewHead(header.clone()));
        let _ = self
            .inner
            .events
            .send(ChainEvent::Finalized { header, extrinsics });
        Ok(())
    }
}
