//! Building a proposal: when consensus makes this node the leader of a view, a block on the
//! parent it names, from the pool's ready extrinsics.
//!
//! The proposal's timestamp is this node's clock, but at least one millisecond past the
//! parent's, and the proposal waits until the parent is a block time (`--block-time-ms`) old so
//! that blocks come no faster than the block time whatever the consensus timeouts; old by its
//! stamp, or by this node's clock where the stamp is ahead of it ([`slot_due`]).
//!
//! Extrinsics are tried in the pool's order (at most [`MAX_BLOCK_TXS`]) until the block is
//! full. One that fails for a reason a later block may not share (a nonce already used on
//! this branch or not yet reached, no room left) stays pooled; one that fails otherwise (e.g.
//! the fee can no longer be paid) is dropped from the pool and reported
//! [`ChainEvent::Dropped`].
//!
//! The built block is executed as it is built, so it enters the chain *executed*, and its
//! bytes are stored among the unfinalized blocks before consensus votes for it (see
//! `Database::put_unfinalized`).

use super::MAX_BLOCK_TXS;
use super::{Chain, ChainError, ChainEvent, Executed, Pending, View};
use crate::txpool::PooledTx;
use agora_primitives::referee::{Referee, RefereeError};
use agora_primitives::smt;
use agora_primitives::{AccountId, Hash};
use agora_runtime::block::{Block, Header};
use agora_runtime::executive::{BlockBuilder, TransactionError};
use pallet_staking::beacon::BeaconSigner;
use parity_scale_codec::Encode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a proposal is built on.
struct Slot {
    genesis_hash: Hash,
    parent: Hash,
    parent_header: Header,
    timestamp: u64,
    author: AccountId,
    /// This validator: named in the header, signs the block's beacon proof.
    proposer: BeaconSigner,
    referee: Option<Arc<dyn Referee>>,
}

/// A built, executed and stored proposal.
struct Built {
    block: Block,
    encoded: Vec<u8>,
    executed: Executed,
    /// Pooled extrinsics that can no longer be included anywhere.
    rejected: Vec<Hash>,
    /// Blobs a left-out call needed and this node lacks, each with the call's signer.
    missing: Vec<(AccountId, Hash)>,
}

impl Chain {
    /// Builds a block on `parent`, waiting until the block time since the parent has passed.
    pub(super) async fn build(&self, parent: Hash) -> Result<Hash, ChainError> {
        let (proposer, author) = self
            .inner
            .proposer
            .get()
            .cloned()
            .ok_or(ChainError::NotAValidator)?;
        // A parent reloaded after a restart is held unexecuted until something builds on it.
        let patience = super::import::Patience::vote(self.now_ms());
        self.execute_ancestry(parent, patience).await?;
        let parent_header = self.header(&parent)?;
        let timestamp = self.wait_for_slot(&parent_header).await;
        let (view, candidates) = {
            let state = self.lock();
            let view = Self::view_at(&state, &self.inner.db, parent)
                .ok_or(ChainError::UnknownBlock(parent))?;
            (view, state.pool.ready(MAX_BLOCK_TXS))
        };
        // Fees go to the author: the account whose seat the key holds, whichever key that
        // account registered (a rotated or joined key has no genesis account).
        let author = Self::seat_account(&view, proposer.proposer()).unwrap_or(author);
        let slot = Slot {
            genesis_hash: self.inner.genesis_hash,
            parent,
            parent_header,
            timestamp,
            author,
            proposer,
            referee: self.inner.referee.clone(),
        };
        let started = Instant::now();
        let built = self
            .blocking(move || assemble(&view, slot, candidates))
            .await??;
        self.inner
            .metrics
            .import_seconds
            .observe(started.elapsed().as_secs_f64());
        // A block this node would refuse to commit is not proposed, nor kept for a restart
        // (`assemble` wrote it to disk, where a restart would reload it as trusted).
        let hash = built.block.hash();
        if let Err(error) = self.contradiction(built.block.header.number(), hash) {
            self.inner.db.forget_unfinalized(&[hash])?;
            return Err(error);
        }
        Ok(self.add_built(built))
    }

    /// Sleeps until the block time since the parent has passed ([`slot_due`]); returns the
    /// proposal's timestamp.
    async fn wait_for_slot(&self, parent_header: &Header) -> u64 {
        let block_time = u64::try_from(self.inner.block_time.as_millis()).unwrap_or(u64::MAX);
        let now = self.now_ms();
        let due = slot_due(parent_header.timestamp, now, block_time);
        if due > now {
            let wait = Duration::from_millis(due.saturating_sub(now));
            self.inner.host.sleep(wait).await;
        }
        // Time must increase even if this node's clock is behind the parent's author's.
        self.now_ms().max(parent_header.timestamp.saturating_add(1))
    }

    /// Adds a built block to the unfinalized ones, dropping the extrinsics it rejected from
    /// the pool; returns its hash.
    fn add_built(&self, built: Built) -> Hash {
        let Built {
            block,
            encoded,
            executed,
            rejected,
            missing,
        } = built;
        // So that this node holds them the next time it leads: the call comes back (its
        // submitter's node relays it again) and a call naming many blobs makes progress.
        self.prefetch_blobs(
            missing
                .into_iter()
                .map(|(signer, blob)| (signer, vec![blob])),
        );
        let hash = block.hash();
        let header = block.header.clone();
        let mut state = self.lock();
        // A rejected extrinsic takes its signer's later nonces with it (`TxPool::reject`).
        let dropped: Vec<Hash> = rejected
            .iter()
            .flat_map(|hash| state.pool.reject(hash))
            .collect();
        if !dropped.is_empty() {
            let _ = self.inner.events.send(ChainEvent::Dropped(dropped));
        }
        state.pending.insert(
            hash,
            Pending::trusted(Arc::new(block), Arc::new(encoded), Some(Arc::new(executed))),
        );
        self.set_best_if_higher(&mut state, hash, &header);
        hash
    }
}

/// When a proposal on a parent stamped `parent` may be built, by this node's clock (`now`):
/// a block time after the parent, counted from this node's clock where the parent's stamp is
/// ahead of it. A leader may stamp its block up to `MAX_FUTURE_DRIFT_MS` ahead; counted from
/// that stamp, the next honest leader waited out the drift as well, so a byzantine leader cost
/// every block after its own up to five seconds (found in review, 2026-12-05). Blocks still
/// come no faster than the block time by this node's clock.
fn slot_due(parent: u64, now: u64, block_time: u64) -> u64 {
    parent.min(now).saturating_add(block_time)
}

/// Whether an extrinsic the block builder could not include stays pooled for a later block:
/// it was already included on this branch, waits for an earlier nonce, or does not fit what
/// is left of this block. Anything else (the fee cannot be paid any more, say) is dropped,
/// with its signer's later nonces.
///
/// That includes a call this node's referee cannot decide, though the blob it needs may
/// only be on its way: kept, such a call is never charged and never expires, and one no
/// node can decide (a bid naming a registered blob nobody uploaded is refused only at the
/// referee's availability check) would hold its signer's later nonces and the builder's
/// window of candidates for good; thirty accounts of them would fill every block's window.
/// Dropping it costs an honest mover only this leader: the relay gave it to every
/// validator, and those that hold the blob include it when they lead.
fn stays_pooled(error: &TransactionError) -> bool {
    matches!(
        error,
        TransactionError::StaleNonce { .. }
            | TransactionError::FutureNonce { .. }
            | TransactionError::ExhaustsBlock { .. }
    )
}

/// Builds, seals and stores a block in `slot` on `view` (the parent's state) from
/// `candidates`. Runs on the blocking pool.
fn assemble(view: &View, slot: Slot, candidates: Vec<PooledTx>) -> Result<Built, ChainError> {
    let Slot {
        genesis_hash,
        parent,
        parent_header,
        timestamp,
        author,
        proposer,
        referee,
    } = slot;
    let builder = BlockBuilder::new(
        view,
        referee,
        genesis_hash,
        parent,
        timestamp,
        author,
        &proposer,
    );
    let mut builder = builder.map_err(|error| ChainError::InvalidBlock {
        hash: parent,
        error: Box::new(error),
    })?;
    let mut rejected = Vec::new();
    let mut missing = Vec::new();
    for tx in candidates {
        if builder.is_full() {
            break;
        }
        // Every pooled extrinsic's signature was verified on admission (`txpool`), with the
        // era hash it names; the builder verifies again where this block's differs.
        let signer = tx.xt.signer;
        match builder.push_preverified(tx.xt, &tx.era_hash) {
            Ok(()) => {}
            Err(error) if stays_pooled(&error) => {}
            Err(TransactionError::RefereeUndecided(RefereeError::Unavailable { blob })) => {
                rejected.push(tx.hash);
                if !missing.contains(&(signer, blob)) {
                    missing.push((signer, blob));
                }
            }
            Err(_) => rejected.push(tx.hash),
        }
    }
    let built = builder.finish();
    let update = smt::update(view, parent_header.state_root, &built.changes)?;
    let (block, changes, events) = built.into_sealed(update.root);
    let executed = Executed::new(changes, events, update.new_nodes);
    // Kept on disk before consensus votes for it; see `Database::put_unfinalized`.
    let encoded = block.encode();
    view.db.put_unfinalized(&block.hash(), &encoded)?;
    Ok(Built {
        block,
        encoded,
        executed,
        rejected,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parent stamped ahead of this node's clock costs one block time, not its lead too.
    #[test]
    fn a_parent_stamped_ahead_delays_the_next_proposal_by_one_block_time() {
        assert_eq!(
            slot_due(10_000, 10_300, 1_000),
            11_000,
            "a parent in the past"
        );
        assert_eq!(
            slot_due(15_000, 10_000, 1_000),
            11_000,
            "a parent 5 s ahead"
        );
    }

    /// Only nonce and block-size reasons keep an extrinsic pooled. A referee call this node
    /// cannot decide is dropped: kept, one no node can ever decide would hold pool room and
    /// the builder's candidates for good (found in review, 2026-12-05).
    #[test]
    fn only_nonce_and_room_keep_an_extrinsic_the_builder_left_out() {
        let undecided = RefereeError::Unavailable {
            blob: Hash::of(b"a module nobody uploaded"),
        };
        assert!(!stays_pooled(&TransactionError::RefereeUndecided(
            undecided
        )));
        let broke = TransactionError::CannotPayFee {
            signer: AccountId([1; 32]),
            fee: 2,
            free: 1,
        };
        assert!(!stays_pooled(&broke));
        let ahead = TransactionError::FutureNonce {
            signer: AccountId([1; 32]),
            nonce: 3,
            expected: 2,
        };
        assert!(stays_pooled(&ahead));
    }
}
