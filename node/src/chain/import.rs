//! Importing a peer's block: receiving its bytes, then verifying and executing it as a child
//! of the parent consensus names.
//!
//! # Receiving
//!
//! A block received from a peer is decoded (at most [`MAX_BLOCK_BYTES`], no trailing bytes),
//! its body checked against its header's extrinsics root, and held unexecuted. A block
//! already held, or at or below the finalized height, is acknowledged without being kept.
//!
//! **Who vouches for a held block.** A block received from peers ([`BlockSource::Peer`])
//! is held on their word alone: the chain records which peers sent it. A block is *trusted*
//! — this node's own word — once it is built here, reloaded from disk, verified, found on the
//! route of a block consensus names as a parent or finalizes ([`Chain::execute_ancestry`]),
//! or stored from a sync run that passed every check ([`BlockSource::Certified`]). When
//! [`MAX_UNFINALIZED`] blocks are held, a new one makes room by forgetting an untrusted block
//! that is not being verified: the peer listed on the most blocks loses its oldest one that
//! no other peer also sent (see `make_room`), so a flooder only ever pushes out its own
//! blocks while it sends more than anyone. Trusted blocks are never forgotten; if they fill
//! every slot, the new block is refused. A block that fails verification stays untrusted.
//!
//! **Why.** Held blocks used to be refused past the bound and forgotten only once
//! finalization passed their height: a peer that sent 1,024 blocks far above the tip (or
//! siblings of the next block ahead of the leader's) shut out every later block until a
//! restart (`adversarial::exploit_junk_far_above_the_tip_cannot_shut_out_the_leaders_blocks`).
//! Forgetting a peer's block costs nothing durable: it is only in memory, and consensus asks
//! again for a block it waits for. A proposal's parent is claimed (trusted with its route)
//! as soon as consensus names it, before the proposal itself is awaited.
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
//!    may be accepted later, never the converse). Checked only of the block consensus asks
//!    this node to vote on: the blocks below a block consensus names as a parent or
//!    finalizes were judged by the 2f + 1 validators that notarized them, and a node whose
//!    clock is behind theirs must still commit them. (It used to check them all: a block a
//!    leader stamped 4.9 s ahead, finalized by the others, made a follower whose clock was
//!    behind fail to commit it and stop.)
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
//!
//! # Blobs a block needs
//!
//! Some calls need the bytes of a registered blob on the node that executes them, not only its
//! registration (a bid's module and dataset, a committed model and final state, revealed start
//! states, a dispute's pre-state: `Ext::require_available` and the referee). A node that lacks
//! one cannot decide the call; a builder leaves it out, so a leader includes it only if it
//! holds the bytes. Blobs are uploaded to one node, so before, every other validator refused
//! such a block: one bid placed through a validator's node failed every view it led, a bid
//! per validator failed them all (nothing finalized, so nothing was pruned: the chain
//! stalled), and a node that lacked the bytes of a block the others finalized stopped. Now a
//! block that fails for want of a blob has the blob fetched from peers (the leader holds it)
//! through [`Chain::set_blob_fetch`] and is executed again, for at most
//! [`MAX_BLOCK_FETCHES`] blobs, each looked up in the registry of the block's parent state
//! (not the best block's, which may be on another branch). A vote waits at most
//! [`VOTE_FETCH_BUDGET_MS`] for all of them, the block's unexecuted ancestors' included
//! (consensus will not wait for a large one; the fetches go on, and the block is accepted
//! when its leader proposes it again); committing finalized blocks keeps trying, the pauses
//! doubling, for up to [`COMMIT_FETCH_PATIENCE`] without a blob arriving (a fetch fails at
//! once while every fetch slot is taken, or before any peer holds the bytes), and only then
//! gives up; the node finalizes nothing meanwhile (for as long as blobs keep arriving, at
//! most [`MAX_BLOCK_FETCHES`] a block). A blob no peer
//! serves still makes the block invalid here: the verdict never depends on bytes this node
//! does not have.

use super::{BlobFetch, Chain, ChainError, Executed, Pending, State, View};
use super::{MAX_BLOCK_BYTES, MAX_FUTURE_DRIFT_MS, MAX_UNFINALIZED};
use crate::consensus::{BlockSource, FetchClass};
use agora_primitives::referee::Referee;
use agora_primitives::smt;
use agora_primitives::Hash;
use agora_runtime::block::{extrinsics_root, Block, Header};
use agora_runtime::executive::{execute_block, BlockError};
use parity_scale_codec::{Decode, Encode};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

impl Chain {
    /// Holds a block received from `source`; its hash, or `None` if refused.
    pub(super) fn receive(&self, bytes: Vec<u8>, source: BlockSource) -> Option<Hash> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return None;
        }
        let mut input = &bytes[..];
        let block = Block::decode(&mut input).ok()?;
        if !input.is_empty() || extrinsics_root(&block.extrinsics) != block.header.extrinsics_root {
            return None;
        }
        let hash = block.hash();
        self.contradiction(block.header.number(), hash).ok()?;
        let mut state = self.lock();
        if block.header.number() <= state.finalized.number() {
            return Some(hash);
        }
        if source == BlockSource::Certified {
            // A trusted block's held ancestors are trusted, before room is made: else the
            // room for a run's block could be made by forgetting the block it hangs from.
            HeldRoute::walk(&state, block.header.parent_hash).trust(&mut state);
        }
        if let Some(pending) = state.pending.get_mut(&hash) {
            pending.vouch(source);
            return Some(hash);
        }
        if state.pending.len() >= MAX_UNFINALIZED && !make_room(&mut state) {
            return None;
        }
        state.arrivals = state.arrivals.wrapping_add(1);
        let pending = Pending::received(Arc::new(block), Arc::new(bytes), source, state.arrivals);
        state.pending.insert(hash, pending);
        Some(hash)
    }

    /// Verifies `block` as a child of `parent`, executing it (and `parent`'s unexecuted
    /// ancestry) if not yet executed. The block is kept from being forgotten while this runs
    /// (or until it is abandoned), and trusted from then on if it verifies; `parent`'s route
    /// is trusted (consensus names only a notarized parent).
    pub(super) async fn check(&self, parent: Hash, hash: Hash) -> Result<(), ChainError> {
        let _verifying = Verifying::start(self, hash)?;
        let number = self.header(&hash)?.number();
        // Not voted for: this node would refuse to commit it.
        self.contradiction(number, hash)?;
        let now = self.now_ms();
        let patience = Patience::vote(now);
        self.execute_ancestry(parent, patience).await?;
        self.check_one(parent, hash, Some(now), patience).await?;
        if let Some(pending) = self.lock().pending.get_mut(&hash) {
            pending.trust();
        }
        Ok(())
    }

    /// Executes the held, unexecuted blocks from the finalized head (exclusive) up to `hash`
    /// (inclusive), oldest first, so that each has its parent's state to execute on. Fails with
    /// [`ChainError::UnknownBlock`] if `hash` does not lead back to the finalized head through
    /// held blocks.
    ///
    /// `hash` is a block consensus vouches for (a notarized parent, a finalized block), so its
    /// route is trusted as it is found: none of it is forgotten while it executes. `patience`
    /// bounds the wait for blobs the blocks need (module doc, "Blobs a block needs").
    pub(super) async fn execute_ancestry(
        &self,
        hash: Hash,
        patience: Patience,
    ) -> Result<(), ChainError> {
        let unexecuted: Vec<(Hash, Hash)> = {
            let mut state = self.lock();
            let route = HeldRoute::walk(&state, hash);
            if !route.reaches_finalized {
                return Err(ChainError::UnknownBlock(route.end));
            }
            route.trust(&mut state);
            route
                .blocks
                .iter()
                .filter_map(|block| {
                    let pending = state.pending.get(block)?;
                    let parent = pending.block.header.parent_hash;
                    pending.executed.is_none().then_some((parent, *block))
                })
                .collect()
        };
        for (parent, block) in unexecuted.into_iter().rev() {
            // Below a block consensus vouches for: 2f + 1 validators judged its time.
            self.check_one(parent, block, None, patience).await?;
        }
        Ok(())
    }

    /// [`Chain::check`] once `parent` is executed.
    /// `now` is this node's clock for check 2, or `None` to skip it.
    async fn check_one(
        &self,
        parent: Hash,
        hash: Hash,
        now: Option<u64>,
        patience: Patience,
    ) -> Result<(), ChainError> {
        let Some((block, view, parent_header)) = self.unexecuted(parent, hash)? else {
            return Ok(());
        };
        check_context(parent, hash, &block.header, now)?;
        let executed = self
            .execute_fetching(view, parent_header, block.clone(), patience)
            .await?;
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

    /// [`Chain::execute`], fetching each blob the block needs and this node lacks, then
    /// executing it again (module doc, "Blobs a block needs"): at most [`MAX_BLOCK_FETCHES`]
    /// blobs, each looked up in the registry of the block's parent state, waited for as
    /// `patience` allows.
    async fn execute_fetching(
        &self,
        view: View,
        parent: Header,
        block: Arc<Block>,
        patience: Patience,
    ) -> Result<Executed, ChainError> {
        let mut fetched = Vec::new();
        loop {
            let result = self
                .execute(view.clone(), parent.clone(), block.clone())
                .await;
            let (Err(error), Some(fetch)) = (&result, self.inner.blob_fetch.get()) else {
                return result;
            };
            let Some(blob) = missing_blob(error) else {
                return result;
            };
            if fetched.contains(&blob) || fetched.len() >= MAX_BLOCK_FETCHES {
                return result;
            }
            fetched.push(blob);
            tracing::info!(%blob, block = %block.hash(), "fetching a blob the block needs");
            if !self.fetch_patiently(fetch, &view, blob, patience).await {
                return result;
            }
        }
    }

    /// Fetches `blob` with `fetch`, registered in `view`, as `patience` allows; whether it is
    /// held now.
    async fn fetch_patiently(
        &self,
        fetch: &BlobFetch,
        view: &View,
        blob: Hash,
        patience: Patience,
    ) -> bool {
        match patience {
            Patience::Until(deadline) => {
                // Started even with no time left: it goes on, and the next import finds it.
                let fetching = fetch(view.clone(), blob, FetchClass::Needed);
                let left = deadline.saturating_sub(self.now_ms());
                if left == 0 {
                    return false;
                }
                let wait = self.inner.host.sleep(Duration::from_millis(left));
                futures::pin_mut!(wait);
                match futures::future::select(fetching, wait).await {
                    futures::future::Either::Left((held, _)) => held,
                    futures::future::Either::Right(((), _)) => false,
                }
            }
            Patience::Commit => {
                // A fetch fails fast when every fetch slot is taken or no peer has the bytes
                // yet; the block is final, so keep trying, further apart, for a long while:
                // long without progress, counted afresh for each blob (each one that arrives
                // is progress, however long the route before it took to execute).
                let patience = u64::try_from(COMMIT_FETCH_PATIENCE.as_millis()).unwrap_or(u64::MAX);
                let deadline = self.now_ms().saturating_add(patience);
                let mut pause = COMMIT_FETCH_FIRST_PAUSE;
                loop {
                    if fetch(view.clone(), blob, FetchClass::Needed).await {
                        return true;
                    }
                    if self.now_ms() >= deadline {
                        return false;
                    }
                    tracing::warn!(%blob, ?pause, "a finalized block needs a blob no peer served yet");
                    self.inner.host.sleep(pause).await;
                    pause = pause.saturating_mul(2).min(COMMIT_FETCH_LAST_PAUSE);
                }
            }
        }
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

/// The blob whose absence kept `error`'s block from executing here, if that is why.
fn missing_blob(error: &ChainError) -> Option<Hash> {
    use agora_primitives::referee::RefereeError;
    use agora_runtime::executive::TransactionError;
    let ChainError::InvalidBlock { error, .. } = error else {
        return None;
    };
    match **error {
        BlockError::InvalidExtrinsic {
            error: TransactionError::RefereeUndecided(RefereeError::Unavailable { blob }),
            ..
        } => Some(blob),
        _ => None,
    }
}

/// Most distinct blobs fetched for one block to import (each costs one more execution).
pub(super) const MAX_BLOCK_FETCHES: usize = 16;

/// How long a vote (or a proposal) waits for all the blobs its blocks need, in milliseconds;
/// the fetches go on past it.
pub(super) const VOTE_FETCH_BUDGET_MS: u64 = 2_000;

/// How long committing a finalized block keeps trying to fetch a blob it needs before this
/// node gives up (and stops: it cannot follow the chain without the block).
pub(super) const COMMIT_FETCH_PATIENCE: Duration = Duration::from_secs(30 * 60);

/// The first pause between two fetches of a blob a finalized block needs; it doubles.
const COMMIT_FETCH_FIRST_PAUSE: Duration = Duration::from_secs(1);

/// The longest pause between two such fetches.
const COMMIT_FETCH_LAST_PAUSE: Duration = Duration::from_secs(30);

/// How long importing a block may wait for blobs it needs and this node lacks.
#[derive(Clone, Copy, Debug)]
pub(super) enum Patience {
    /// A vote or a proposal: until this time of this node's clock (ms); consensus waits long
    /// for neither, and one budget covers the block and its unexecuted ancestors.
    Until(u64),
    /// Committing finalized blocks: each blob retried for up to [`COMMIT_FETCH_PATIENCE`].
    Commit,
}

impl Patience {
    /// A vote's or proposal's patience, starting at `now` (ms).
    pub(super) fn vote(now: u64) -> Patience {
        Patience::Until(now.saturating_add(VOTE_FETCH_BUDGET_MS))
    }
}

/// Checks 1 and 2 of the module doc: `header` names `parent` and is not from the future
/// (when `now` is given).
fn check_context(
    parent: Hash,
    hash: Hash,
    header: &Header,
    now: Option<u64>,
) -> Result<(), ChainError> {
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
    let Some(now) = now else {
        return Ok(());
    };
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

impl Pending {
    /// A block just received from `source`, the `arrival`-th: trusted only from a checked
    /// sync run, else held on its sender's word.
    fn received(
        block: Arc<Block>,
        encoded: Arc<Vec<u8>>,
        source: BlockSource,
        arrival: u64,
    ) -> Self {
        let sender = match source {
            BlockSource::Peer(peer) => Some(peer),
            BlockSource::Certified => None,
        };
        Pending {
            block,
            encoded,
            executed: None,
            trusted: sender.is_none(),
            offered_by: sender.into_iter().collect(),
            arrival,
            verifying: 0,
        }
    }

    /// Records that `source` sent this held block again: a checked sync run makes it
    /// trusted; a peer joins those that sent it, unless it is trusted already.
    fn vouch(&mut self, source: BlockSource) {
        match source {
            BlockSource::Certified => self.trust(),
            BlockSource::Peer(peer) => {
                if !self.trusted && !self.offered_by.contains(&peer) {
                    self.offered_by.push(peer);
                }
            }
        }
    }

    /// This node vouches for it from now on: it is never forgotten to make room.
    fn trust(&mut self) {
        self.trusted = true;
        self.offered_by.clear();
    }

    /// Whether it may be forgotten to make room now.
    fn forgettable(&self) -> bool {
        !self.trusted && self.verifying == 0
    }
}

/// The held blocks from a block down to the finalized head: the one walk of the held chain,
/// for `finalize`'s route, [`Chain::execute_ancestry`], and the consensus adapter's `connects`
/// and `claim`. Bounded: at most [`MAX_UNFINALIZED`] blocks are held (and built ones past it
/// only by this node's own proposals), so a longer walk has met a cycle and stops.
pub(super) struct HeldRoute {
    /// The held blocks walked, newest (the block walked from) first.
    pub(super) blocks: Vec<Hash>,
    /// Where the walk stopped: the finalized head, or the first block not held.
    pub(super) end: Hash,
    /// Whether the walk reached the finalized head.
    pub(super) reaches_finalized: bool,
}

impl HeldRoute {
    /// Walks from `block` (the finalized head itself: an empty route that reaches it).
    pub(super) fn walk(state: &State, block: Hash) -> Self {
        let mut blocks = Vec::new();
        let mut cursor = block;
        for _ in 0..=MAX_UNFINALIZED {
            if cursor == state.finalized_hash {
                return HeldRoute {
                    blocks,
                    end: cursor,
                    reaches_finalized: true,
                };
            }
            let Some(pending) = state.pending.get(&cursor) else {
                break;
            };
            blocks.push(cursor);
            cursor = pending.block.header.parent_hash;
        }
        HeldRoute {
            blocks,
            end: cursor,
            reaches_finalized: false,
        }
    }

    /// Trusts every block walked: a trusted block's held ancestors are trusted (taken under
    /// the lock the walk was made under, so nothing was forgotten in between).
    pub(super) fn trust(&self, state: &mut State) {
        for hash in &self.blocks {
            if let Some(pending) = state.pending.get_mut(hash) {
                pending.trust();
            }
        }
    }
}

/// A verification of a held block under way ([`Chain::check`]): while one is, the block is
/// not forgotten to make room. Ends when dropped, also when consensus abandons the
/// verification midway (the view moved on).
struct Verifying<'a> {
    chain: &'a Chain,
    hash: Hash,
}

impl<'a> Verifying<'a> {
    fn start(chain: &'a Chain, hash: Hash) -> Result<Self, ChainError> {
        let mut state = chain.lock();
        let pending = state
            .pending
            .get_mut(&hash)
            .ok_or(ChainError::UnknownBlock(hash))?;
        pending.verifying = pending.verifying.saturating_add(1);
        Ok(Verifying { chain, hash })
    }
}

impl Drop for Verifying<'_> {
    fn drop(&mut self) {
        if let Some(pending) = self.chain.lock().pending.get_mut(&self.hash) {
            pending.verifying = pending.verifying.saturating_sub(1);
        }
    }
}

/// Frees one slot of the held blocks for a new one; `false` if no held block may be
/// forgotten (every one is trusted or being verified).
///
/// In order: the oldest forgettable block no peer lists any more (a peer was taken off it
/// while it was being verified); else the oldest forgettable block that only the peer listed
/// on the most blocks sent; if every block of that peer was also sent by another, that peer
/// is taken off them all (its word adds nothing to theirs) and the next heaviest is tried.
///
/// So a peer that floods (junk far above the tip, a thousand siblings of the next block)
/// only ever pushes out its own blocks while it sends more than any other peer, and the
/// blocks of the others stay held. Forgetting costs nothing durable: an untrusted block is
/// only in memory, and consensus asks again for a block it waits for. Deterministic: peers
/// are weighed in a `BTreeMap`, ties go to the greater key, and blocks are taken by arrival.
///
/// Cost: a few passes over the held blocks and their listings, whatever the number of peers
/// (`O(listings · log peers)`) — not a pass over every held block and its listings per peer
/// taken off, which colluding peers re-sending each other's blocks (so that none is listed by
/// one peer alone) made `O(peers² · held)` per received block, under the chain's lock.
fn make_room(state: &mut State) -> bool {
    let unlisted = state
        .pending
        .iter()
        .filter(|(_, pending)| pending.offered_by.is_empty() && pending.forgettable())
        .map(|(hash, pending)| (pending.arrival, *hash))
        .min();
    if let Some((_, hash)) = unlisted {
        state.pending.remove(&hash);
        return true;
    }
    // Every listed block once: its hash, its age, whether it may go, how many peers list it.
    let mut held: Vec<Listed> = Vec::new();
    let mut listed_on: BTreeMap<[u8; 32], Vec<usize>> = BTreeMap::new();
    for (hash, pending) in state
        .pending
        .iter()
        .filter(|(_, p)| !p.offered_by.is_empty())
    {
        // `vouch` lists a peer once: counting listers down per peer taken off relies on it.
        debug_assert!(
            (1..pending.offered_by.len())
                .all(|i| !pending.offered_by[..i].contains(&pending.offered_by[i])),
            "a peer listed twice on held block {hash}"
        );
        for peer in &pending.offered_by {
            listed_on.entry(*peer).or_default().push(held.len());
        }
        held.push(Listed {
            hash: *hash,
            arrival: pending.arrival,
            forgettable: pending.forgettable(),
            listers: pending.offered_by.len(),
        });
    }
    // Heaviest first (ties to the greater key). Taking a peer off its blocks changes no other
    // peer's count, so the order is fixed now; and it empties no forgettable block (one listed
    // by that peer alone would have been forgotten instead), so no unlisted block appears.
    let mut heaviest_first: Vec<([u8; 32], Vec<usize>)> = listed_on.into_iter().collect();
    heaviest_first.sort_by(|(a, a_held), (b, b_held)| (b_held.len(), b).cmp(&(a_held.len(), a)));
    // Bounded by the peers listed; all passes together visit each listing once.
    let mut taken_off: BTreeSet<[u8; 32]> = BTreeSet::new();
    let mut forgotten = None;
    for (peer, blocks) in heaviest_first {
        // The peer is still listed on each of its blocks: `listers == 1` means it alone.
        forgotten = blocks
            .iter()
            .map(|&at| &held[at])
            .filter(|listed| listed.forgettable && listed.listers == 1)
            .map(|listed| (listed.arrival, listed.hash))
            .min();
        if forgotten.is_some() {
            break;
        }
        for &at in &blocks {
            held[at].listers = held[at].listers.saturating_sub(1);
        }
        taken_off.insert(peer);
    }
    if !taken_off.is_empty() {
        for pending in state.pending.values_mut() {
            pending.offered_by.retain(|peer| !taken_off.contains(peer));
        }
    }
    match forgotten {
        Some((_, hash)) => state.pending.remove(&hash).is_some(),
        None => false,
    }
}

/// A held block that peers list, as [`make_room`] weighs it.
struct Listed {
    hash: Hash,
    arrival: u64,
    forgettable: bool,
    /// The peers listing it that have not been taken off it.
    listers: usize,
}
