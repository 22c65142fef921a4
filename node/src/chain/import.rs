//! Importing a peer's block: receiving its bytes, then verifying and executing it as a child
//! of the parent consensus names.
//!
//! # Receiving
//!
//! A block received from a peer is decoded (at most [`MAX_BLOCK_BYTES`], no trailing bytes),
//! its body checked against its header's extrinsics root, and held unexecuted. A block
//! already held, or at or below the finalized height, is acknowledged without being kept;
//! past [`MAX_UNFINALIZED`] held blocks, new ones are refused.
//!
//! **Why the body is checked on receipt.** A block is held under its hash, the hash of its
//! header, which covers the body only through the extrinsics root. Held unchecked, a copy of
//! the leader's header with another body (an extrinsic dropped, replayed or altered), sent by
//! a byzantine peer ahead of the leader's own, took the honest block's place: it failed
//! verification, and the true block, arriving next under the same hash, was acknowledged as
//! already held and never verified, so this node could not vote for the view's proposal
//! (`adversarial::every_tampered_block_is_refused_and_the_honest_one_then_finalizes`).
//!
//! # Verifying
//!
//! A block is valid as a child of `parent` when
//! 1. its header names `parent`;
//! 2. its timestamp is at most [`MAX_FUTURE_DRIFT_MS`] ahead of this node's clock (the one
//!    check that depends on more than the block and its parent's state: a block refused now
//!    may be accepted later, never the converse);
//! 3. the runtime executes it on the parent's state without error ([`execute_block`]);
//! 4. the state root in its header is the one its changes give.
//!
//! A verified block is stored among the unfinalized blocks (so a restart can commit it if
//! consensus finalizes it), marked executed, and becomes the best block if it is the highest.
//! Verifying an executed block only checks that its parent is `parent`.
//!
//! A parent that is held but unexecuted (reloaded from disk after a restart, or received and
//! never verified because consensus moved on) is executed first, with its unexecuted
//! ancestors, oldest first ([`Chain::execute_ancestry`]): consensus may resume after a
//! restart at a view whose parent only the unfinalized store still has.

use super::{Chain, ChainError, Executed, Pending, View};
use super::{MAX_BLOCK_BYTES, MAX_FUTURE_DRIFT_MS, MAX_UNFINALIZED};
use agora_primitives::referee::Referee;
use agora_primitives::smt;
use agora_primitives::Hash;
use agora_runtime::block::{extrinsics_root, Block, Header};
use agora_runtime::executive::{execute_block, BlockError};
use parity_scale_codec::{Decode, Encode};
use std::sync::Arc;
use std::time::Instant;

impl Chain {
    /// Holds a block received from a peer; its hash, or `None` if refused.
    pub(super) fn receive(&self, bytes: Vec<u8>) -> Option<Hash> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return None;
        }
        let mut input = &bytes[..];
        let block = Block::decode(&mut input).ok()?;
        if !input.is_empty() || extrinsics_root(&block.extrinsics) != block.header.extrinsics_root {
            return None;
        }
        let hash = block.hash();
        let mut state = self.lock();
        if state.pending.contains_key(&hash) || block.header.number() <= state.finalized.number() {
            return Some(hash);
        }
        if state.pending.len() >= MAX_UNFINALIZED {
            return None;
        }
        state.pending.insert(
            hash,
            Pending {
                block: Arc::new(block),
                encoded: Arc::new(bytes),
                executed: None,
            },
        );
        Some(hash)
    }

    /// Verifies `block` as a child of `parent`, executing it (and `parent`'s unexecuted
    /// ancestry) if not yet executed.
    pub(super) async fn check(&self, parent: Hash, hash: Hash) -> Result<(), ChainError> {
        self.execute_ancestry(parent).await?;
        self.check_one(parent, hash).await
    }

    /// Executes the held, unexecuted blocks from the finalized head (exclusive) up to `hash`
    /// (inclusive), oldest first, so that each has its parent's state to execute on. Fails with
    /// [`ChainError::UnknownBlock`] if `hash` does not lead back to the finalized head through
    /// held blocks.
    pub(super) async fn execute_ancestry(&self, hash: Hash) -> Result<(), ChainError> {
        let unexecuted = {
            let state = self.lock();
            let mut unexecuted = Vec::new();
            let mut cursor = hash;
            // At most MAX_UNFINALIZED blocks are held, so a longer walk has met a cycle.
            for _ in 0..=MAX_UNFINALIZED {
                if cursor == state.finalized_hash {
                    break;
                }
                let pending = state
                    .pending
                    .get(&cursor)
                    .ok_or(ChainError::UnknownBlock(cursor))?;
                let parent = pending.block.header.parent_hash;
                if pending.executed.is_none() {
                    unexecuted.push((parent, cursor));
                }
                cursor = parent;
            }
            if cursor != state.finalized_hash {
                return Err(ChainError::UnknownBlock(hash));
            }
            unexecuted
        };
        for (parent, block) in unexecuted.into_iter().rev() {
            self.check_one(parent, block).await?;
        }
        Ok(())
    }

    /// [`Chain::check`] once `parent` is executed.
    async fn check_one(&self, parent: Hash, hash: Hash) -> Result<(), ChainError> {
        let Some((block, view, parent_header)) = self.unexecuted(parent, hash)? else {
            return Ok(());
        };
        check_context(parent, hash, &block.header, self.now_ms())?;
        let executed = self.execute(view, parent_header, block.clone()).await?;
        let db = self.inner.db.clone();
        let encoded = block.encode();
        self.blocking(move || db.put_unfinalized(&hash, &encoded))
            .await??;
        let mut state = self.lock();
        if let Some(pending) = state.pending.get_mut(&hash) {
            pending.executed = Some(Arc::new(executed));
        }
        self.set_best_if_higher(&mut state, hash, &block.header);
        Ok(())
    }

    /// What executing the held block `hash` on `parent` needs: the block, the parent's state
    /// and header. `None` if the block is already executed as a child of `parent`.
    fn unexecuted(
        &self,
        parent: Hash,
        hash: Hash,
    ) -> Result<Option<(Arc<Block>, View, Header)>, ChainError> {
        let state = self.lock();
        let pending = state
            .pending
            .get(&hash)
            .ok_or(ChainError::UnknownBlock(hash))?;
        if pending.executed.is_some() {
            return if pending.block.header.parent_hash == parent {
                Ok(None)
            } else {
                Err(ChainError::UnknownBlock(parent))
            };
        }
        let block = pending.block.clone();
        let view = Self::view_at(&state, &self.inner.db, parent)
            .ok_or(ChainError::UnknownBlock(parent))?;
        drop(state);
        Ok(Some((block, view, self.header(&parent)?)))
    }

    /// Executes `block` on `view` off the async threads, checking its state root.
    async fn execute(
        &self,
        view: View,
        parent: Header,
        block: Arc<Block>,
    ) -> Result<Executed, ChainError> {
        let genesis_hash = self.inner.genesis_hash;
        let referee = self.inner.referee.clone();
        let started = Instant::now();
        let result = self
            .blocking(move || execute_on(&view, referee, &genesis_hash, &parent, &block))
            .await?;
        self.inner
            .metrics
            .import_seconds
            .observe(started.elapsed().as_secs_f64());
        result
    }
}

/// Checks 1 and 2 of the module doc: `header` names `parent` and is not from the future.
fn check_context(parent: Hash, hash: Hash, header: &Header, now: u64) -> Result<(), ChainError> {
    if header.parent_hash != parent {
        return Err(ChainError::InvalidBlock {
            hash,
            error: Box::new(BlockError::Context(
                pallet_system::ContextError::WrongParent {
                    expected: parent,
                    got: header.parent_hash,
                },
            )),
        });
    }
    if header.timestamp > now.saturating_add(MAX_FUTURE_DRIFT_MS) {
        return Err(ChainError::FromTheFuture {
            hash,
            timestamp: header.timestamp,
            now,
        });
    }
    Ok(())
}

/// Checks 3 and 4 of the module doc: executes `block` on `view`, its parent's state, and
/// checks the state root its changes give. Runs on the blocking pool.
fn execute_on(
    view: &View,
    referee: Option<Arc<dyn Referee>>,
    genesis_hash: &Hash,
    parent: &Header,
    block: &Block,
) -> Result<Executed, ChainError> {
    let hash = block.hash();
    let executed = execute_block(view, referee, genesis_hash, block.header.parent_hash, block)
        .map_err(|error| ChainError::InvalidBlock {
            hash,
            error: Box::new(error),
        })?;
    let update = smt::update(view, parent.state_root, &executed.changes)?;
    if update.root != block.header.state_root {
        return Err(ChainError::StateRoot {
            hash,
            claimed: block.header.state_root,
            computed: update.root,
        });
    }
    Ok(Executed::new(
        executed.changes,
        executed.events,
        update.new_nodes,
    ))
}
