//! Committing a finalized block: consensus finalized `target`, so `target` and every
//! unfinalized ancestor are final (a finalization certificate finalizes the whole chain below
//! it; consensus does not deliver one per block).
//!
//! In order:
//! 1. **Route**: the unfinalized blocks from the finalized head up to `target`, oldest first.
//!    A `target` already committed is a replay after a restart (consensus redelivers what its
//!    journal holds) and changes nothing.
//! 2. **Execute**: any of them not yet executed here (received, but never verified because
//!    consensus moved on) is verified and executed now, oldest first, each on its parent.
//! 3. **Commit**: each block, its events and its state changes and new state-tree nodes in
//!    one atomic, synced RocksDB write, oldest first. Only `target` carries the certificate;
//!    its ancestors are final because it is. A crash between two writes leaves a finalized
//!    prefix of the route, and the replay after restart commits the rest.
//! 4. **Advance**: the route leaves the unfinalized blocks and the finalized head moves to
//!    `target`, announcing [`ChainEvent::Finalized`] per block.
//! 5. **Forget forks**: unfinalized blocks at or below the new finalized height cannot be
//!    finalized any more; they are dropped in memory and on disk. If the best block was one
//!    of them, the finalized head becomes the best block.
//! 6. **Prune the pool**: extrinsics whose nonce the committed state has passed are removed;
//!    those the route included were announced with their block, the others are reported
//!    [`ChainEvent::Dropped`] (another extrinsic with the same nonce won). Extrinsics
//!    submitted here and still pooled some prunes after their relay are relayed again.

use super::import::HeldRoute;
use super::{Chain, ChainError, ChainEvent, Executed, State, StoredBlock};
use crate::metrics::set_count;
use crate::storage::FinalizedBlock;
use agora_primitives::{AccountId, Hash};
use agora_runtime::block::Block;
use parity_scale_codec::Encode;
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

/// A block of the route, executed: its hash, the block and what executing it produced.
type Final = (Hash, Arc<Block>, Arc<Executed>);

impl Chain {
    /// Commits `target` and its unfinalized ancestors (steps 1 to 6 of the module doc).
    pub(super) async fn finalize(
        &self,
        target: Hash,
        certificate: Vec<u8>,
    ) -> Result<(), ChainError> {
        let Some(route) = self.route_to(target)? else {
            return Ok(()); // Already finalized: a replay after restart.
        };
        self.execute_ancestry(target, super::import::Patience::Commit)
            .await?; // Step 2.
        let blocks = self.executed_route(&route)?;
        self.commit(blocks.clone(), certificate).await?;

        let mut state = self.lock();
        self.advance_finalized(&mut state, &blocks);
        self.forget_forks(&mut state)?;
        self.prune_pool(&mut state, &blocks);
        let metrics = &self.inner.metrics;
        set_count(&metrics.finalized_height, state.finalized.number());
        set_count(&metrics.txpool_size, state.pool.len());
        Ok(())
    }

    /// Step 1: the unfinalized blocks from the finalized head (exclusive) to `target`
    /// (inclusive), oldest first; `None` if `target` is already finalized.
    fn route_to(&self, target: Hash) -> Result<Option<Vec<Hash>>, ChainError> {
        let state = self.lock();
        if target == state.finalized_hash || self.inner.db.block(&target)?.is_some() {
            return Ok(None);
        }
        let route = HeldRoute::walk(&state, target);
        if !route.reaches_finalized {
            return Err(ChainError::UnknownBlock(route.end));
        }
        // Checked before anything of it executes.
        for hash in &route.blocks {
            if let Some(pending) = state.pending.get(hash) {
                self.contradiction(pending.block.header.number(), *hash)?;
            }
        }
        let mut blocks = route.blocks;
        blocks.reverse();
        Ok(Some(blocks))
    }

    /// The blocks of `route` with what executing them produced.
    fn executed_route(&self, route: &[Hash]) -> Result<Vec<Final>, ChainError> {
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
            .collect()
    }

    /// Step 3: writes `blocks` to RocksDB, oldest first, one atomic write each; the last one
    /// with `certificate`.
    async fn commit(&self, blocks: Vec<Final>, certificate: Vec<u8>) -> Result<(), ChainError> {
        let db = self.inner.db.clone();
        self.blocking(move || {
            let last = blocks.len().saturating_sub(1);
            for (index, (hash, block, executed)) in blocks.iter().enumerate() {
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
        .await?
    }

    /// Step 4: moves the finalized head along the committed `blocks`, announcing each.
    fn advance_finalized(&self, state: &mut State, blocks: &[Final]) {
        for (hash, block, _) in blocks {
            state.pending.remove(hash);
            state.finalized_hash = *hash;
            state.finalized = block.header.clone();
            let extrinsics = block.extrinsics.iter().map(|xt| xt.hash()).collect();
            let _ = self.inner.events.send(ChainEvent::Finalized {
                header: block.header.clone(),
                extrinsics,
            });
        }
    }

    /// Step 5: forgets the unfinalized blocks at or below the finalized height, in memory and
    /// on disk: they are on abandoned forks.
    fn forget_forks(&self, state: &mut State) -> Result<(), ChainError> {
        let finalized_number = state.finalized.number();
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
        Ok(())
    }

    /// Step 6: removes the pooled extrinsics whose nonce went stale with the committed
    /// `blocks`, reporting as dropped those the blocks did not include.
    fn prune_pool(&self, state: &mut State, blocks: &[Final]) {
        // Included extrinsics now have stale nonces too; their watchers saw `Finalized`.
        let included: HashSet<Hash> = blocks
            .iter()
            .flat_map(|(_, block, _)| block.extrinsics.iter().map(|xt| xt.hash()))
            .collect();
        let mut dropped: Vec<Hash> = state
            .pool
            .prune_stale(&self.finalized_view())
            .into_iter()
            .filter(|hash| !included.contains(hash))
            .collect();
        let signers: BTreeSet<AccountId> = blocks
            .iter()
            .flat_map(|(_, block, _)| block.extrinsics.iter().map(|xt| xt.signer))
            .collect();
        // Not against the finalized state instead: funds an unfinalized block brings would not
        // count, and extrinsics already in the best chain would be judged again.
        if let Some(best) = Self::view_at(state, &self.inner.db, state.best) {
            dropped.extend(state.pool.reject_unpayable(&best, signers));
        }
        if !dropped.is_empty() {
            let _ = self.inner.events.send(ChainEvent::Dropped(dropped));
        }
        // Still pooled some prunes after this node relayed them: the relay may have been lost,
        // and on a full node nothing else brings them to a leader (txpool, "Relaying again").
        for bytes in state.pool.take_relay_due(
            super::RELAY_AGAIN_PER_FINALIZATION,
            super::RELAY_AGAIN_BYTES,
        ) {
            // No subscriber (no network yet, or a tool's chain) is not an error.
            let _ = self.inner.submitted.send(bytes);
        }
    }
}
