//! Catching up with the finalized chain: the sync protocol, and the follower task that owns
//! every hand-over of a finalized block to the [`Chain`].
//!
//! # Why
//!
//! `simplex` only orders recent views: a validator that was offline for longer than
//! [`RETENTION_VIEWS`](super::RETENTION_VIEWS), or that missed an unfinalized ancestor of a
//! finalized block, hears of a finalization whose ancestry it does not hold and cannot fetch
//! through consensus. A full node runs no engine at all. Both learn the finalized chain from
//! peers, by height, through this protocol.
//!
//! # Protocol
//!
//! Messages travel on [`channel::SYNC`](super::channel::SYNC). Every message is one tag byte
//! and a body; integers are little-endian.
//!
//! | tag | body | meaning |
//! |-----|------|---------|
//! | `0` | `u64` height `h` | "send me the finalized chain from height `h`" |
//! | `1` | `u32` length, certificate, then up to [`MAX_RUN_BLOCKS`] × (`u32` length, block bytes) | a *run* |
//! | `2`–`5` | | state sync: offers and state tree nodes ([`super::snapshot`]) |
//!
//! A run answers a request for height `h` with the finalized blocks at heights `h..=e`, oldest
//! first, and the finalization certificate of the block at `e`
//! ([`Chain::finalized_run`]). A peer with nothing above `h - 1` does not answer. Unknown
//! tags, wrong lengths and runs with more than [`MAX_RUN_BLOCKS`] blocks are dropped.
//!
//! # Trust
//!
//! Nothing in a run is trusted until it is checked against the committee:
//! 1. the certificate must be a valid finalization for this committee, namespace and epoch
//!    ([`super::verify_certificate`]); it names the certified block `c`;
//! 2. `c` must be among the run's blocks, each block up to `c` must name the one before it
//!    as its parent, and the first must name a block of this node's finalized chain (at most
//!    its finalized height: [`Chain::connects`] of a block not merely held); hash links from a
//!    certified block prove every block of the route;
//! 3. `c` must be of the certificate's epoch (a former committee cannot finalize a later
//!    epoch's blocks), and so must every block of the route (a committee cannot finalize,
//!    through ancestry, blocks of the epoch before it).
//!
//! Only then are the route's blocks stored, as [`BlockSource::Certified`] (bytes only, never
//! executed on faith; blocks after `c` never are), `c` claimed ([`Chain::claim`]: its route
//! is kept until taken) and handed to [`Chain::finalized`], which executes the route and
//! checks every state root as it commits. A run refused by a check stores nothing. One
//! refused while it is stored (a body that does not decode or does not match its header's
//! extrinsics root, or no room) leaves the blocks stored before it: blocks of the finalized
//! chain, hash-linked to a certified block, which the next run finalizes. So a peer sending
//! a forged run cannot carry junk into the chain's held blocks and gains nothing: the run is
//! dropped and the next request goes to another peer.
//!
//! # The follower
//!
//! One task delivers finalized blocks to the chain, whether the engine reported them or a
//! run proved them, so the chain never finalizes from two tasks at once. It keeps:
//! * the newest finalization the engine reported and the chain has not yet taken (a *target*;
//!   a newer one replaces it, since finalizing a block finalizes its ancestors);
//! * a round-robin cursor over the peers it asks.
//!
//! Every [`Timeouts::block_request`](super::Timeouts::block_request) it asks one peer for the
//! chain above its finalized height if a target is waiting for its ancestry, if it has no
//! engine (a full node), or if nothing was finalized during the last interval.
//! A node at genesis first tries state sync ([`super::snapshot`]) and asks for no runs until it
//! has installed a snapshot or given up on one. After a run
//! that advanced the chain it asks the same peer for the next run at once, so a node far
//! behind streams the chain at the speed it can execute it.

use super::snapshot::{self, Download, Pacing, Phase, StateSync, Verdict};
use super::{
    certify::Certifier, glue::Application, to_hash, BlockSource, Chain, Digest, PublicKey, Rt,
    RunLimits, Scheme,
};
use commonware_codec::Encode as _;
use commonware_consensus::simplex::types::Finalization;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::Handle;
use commonware_utils::channel::mpsc;
use std::time::Duration;
use tracing::{debug, warn};

/// Tag of a request: the body is the first wanted height.
const TAG_REQUEST: u8 = 0;
/// Tag of a run: certificate and blocks.
const TAG_RUN: u8 = 1;
/// Most blocks in one run, so that a run is executed and committed in bounded time.
pub const MAX_RUN_BLOCKS: usize = 256;
/// Runs waiting for the follower; more are dropped (the follower asks again).
pub(super) const RUN_QUEUE: usize = 4;

/// A request for the finalized chain from `height`.
fn encode_request(height: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(9);
    message.push(TAG_REQUEST);
    message.extend_from_slice(&height.to_le_bytes());
    message
}

/// A run: `certificate` then `blocks`, each length-prefixed.
pub(super) fn encode_run(certificate: &[u8], blocks: &[Vec<u8>]) -> Option<Vec<u8>> {
    let size = blocks
        .iter()
        .fold(5usize.saturating_add(certificate.len()), |size, block| {
            size.saturating_add(4).saturating_add(block.len())
        });
    let mut message = Vec::with_capacity(size);
    message.push(TAG_RUN);
    let parts = std::iter::once(certificate).chain(blocks.iter().map(Vec::as_slice));
    super::frames::encode(&mut message, parts)?;
    Some(message)
}

/// Splits a run's body into its certificate and blocks; `None` if it is malformed or longer
/// than [`MAX_RUN_BLOCKS`].
pub(super) fn decode_run(body: &[u8]) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut parts = super::frames::decode(body, MAX_RUN_BLOCKS.saturating_add(1))?;
    if parts.len() < 2 {
        return None; // A certificate and at least one block.
    }
    let certificate = parts.remove(0);
    Some((certificate, parts))
}

/// The largest run body a request is answered with: the message limit less the tag, the
/// certificate's length prefix and room for the certificate itself.
fn run_budget(max_message: u32, certificate_room: usize) -> usize {
    usize::try_from(max_message)
        .unwrap_or(usize::MAX)
        .saturating_sub(5)
        .saturating_sub(certificate_room)
}

/// Serves the sync channel: answers requests from `chain` and passes runs to the follower.
pub(super) fn serve<E, C, S, R>(
    context: E,
    chain: C,
    mut sender: S,
    mut receiver: R,
    runs: mpsc::Sender<(PublicKey, Vec<u8>)>,
    max_message: u32,
    certificate_room: usize,
) -> Handle<()>
where
    E: Rt,
    C: Chain,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let max_bytes = usize::try_from(max_message).unwrap_or(usize::MAX);
    context.spawn(move |_| async move {
        while let Ok((peer, message)) = receiver.recv().await {
            match message.as_ref().split_first() {
                Some((&TAG_REQUEST, body)) => {
                    let Ok(height) = <[u8; 8]>::try_from(body).map(u64::from_le_bytes) else {
                        debug!(?peer, "dropping malformed sync request");
                        continue;
                    };
                    let budget = run_budget(max_message, certificate_room);
                    let limits = RunLimits {
                        max_blocks: MAX_RUN_BLOCKS,
                        max_bytes: budget,
                    };
                    let Some((blocks, certificate)) = chain.finalized_run(height, limits) else {
                        continue; // Nothing at or above `height` yet.
                    };
                    match encode_run(&certificate, &blocks) {
                        Some(run) if run.len() <= budget.saturating_add(certificate_room) => {
                            debug!(?peer, height, blocks = blocks.len(), "serving a run");
                            let _ = sender.send(Recipients::One(peer), run, false);
                        }
                        _ => warn!(height, "a finalized run does not fit in a message"),
                    }
                }
                Some((&snapshot::TAG_OFFER_REQUEST, body)) => {
                    if let Some(offer) = snapshot::answer_offer_request(&chain, body, max_bytes) {
                        debug!(?peer, bytes = offer.len(), "serving a snapshot offer");
                        let _ = sender.send(Recipients::One(peer), offer, false);
                    }
                }
                Some((&snapshot::TAG_NODES_REQUEST, body)) => {
                    match snapshot::answer_nodes_request(&chain, body, max_bytes) {
                        Some(nodes) => {
                            let _ = sender.send(Recipients::One(peer), nodes, false);
                        }
                        None => debug!(?peer, "dropping a malformed nodes request"),
                    }
                }
                Some((&(TAG_RUN | snapshot::TAG_OFFER | snapshot::TAG_NODES), _)) => {
                    // A full queue drops the answer; the follower asks again.
                    let _ = runs.try_send((peer, message.as_ref().to_vec()));
                }
                _ => debug!(?peer, "dropping sync message with an unknown tag"),
            }
        }
        debug!("sync channel closed");
    })
}

/// Delivers finalized blocks to the chain, from the engine and from runs (see the
/// [module documentation](self)).
pub(super) struct Follower<E, C, S, Q> {
    pub(super) context: E,
    pub(super) chain: C,
    /// Block exchange, to ask peers for a target block by hash.
    pub(super) blocks: Application<E, C, S>,
    /// Sender on the sync channel.
    pub(super) sender: Q,
    /// Verifies certificates of runs against the committee of their epoch.
    pub(super) certifier: Certifier<C>,
    /// The double-sign guard: the signing record and this validator's key (see
    /// [`super::guard`]).
    pub(super) guard: Option<(std::sync::Arc<super::guard::SigningRecord>, [u8; 32])>,
    /// Peers to ask, in rotation (everyone but this node).
    pub(super) peers: Vec<PublicKey>,
    pub(super) interval: Duration,
    /// Whether a node at genesis may take a peer's state instead of replaying (see
    /// [`super::snapshot`]).
    pub(super) state_sync: bool,
}

impl<E, C, S, Q> Follower<E, C, S, Q>
where
    E: Rt,
    C: Chain,
    S: Sender<PublicKey = PublicKey>,
    Q: Sender<PublicKey = PublicKey>,
{
    /// Runs until the engine's report stream closes (never, for a full node: `engine` is
    /// `None`).
    pub(super) fn spawn(
        self,
        engine: Option<super::glue::Finalizations>,
        runs: mpsc::Receiver<(PublicKey, Vec<u8>)>,
    ) -> Handle<()> {
        let context = self.context.child("follower");
        context.spawn(move |_| self.run(engine, runs))
    }

    async fn run(
        mut self,
        mut engine: Option<super::glue::Finalizations>,
        mut runs: mpsc::Receiver<(PublicKey, Vec<u8>)>,
    ) {
        let follows_only = engine.is_none();
        // Finalizations are ordered by (epoch, view): views start again in every epoch.
        let mut delivered_view = (0u64, 0u64);
        let mut target: Option<Finalization<Scheme, Digest>> = None;
        let mut arrivals = self.blocks.subscribe_arrivals();
        let mut cursor = 0usize;
        let mut progressed = false;
        let mut deadline = self.deadline();
        let mut syncing = self.start_state_sync();
        if let (Some(sync), Some((epoch, hash))) = (&syncing, self.chain.checkpoint()) {
            debug_assert!(sync.committees.from_a_checkpoint());
            tracing::info!(epoch, %hash, "state sync from the checkpoint");
        }
        loop {
            if syncing.is_some() && self.chain.finalized_height() > 0 {
                debug!("state sync given up: the chain moved on from genesis");
                syncing = None;
            }
            if let Some(finalization) = target.take() {
                let block = to_hash(finalization.proposal.payload);
                let view = round_of(&finalization);
                if view <= delivered_view {
                    // A run already finalized it (or a descendant).
                } else if self.chain.has_block(block) && self.chain.claim(block) {
                    self.chain
                        .finalized(block, finalization.encode().to_vec())
                        .await;
                    debug!(%block, ?view, "finalized");
                    delivered_view = view;
                    progressed = true;
                } else {
                    target = Some(finalization);
                }
            }
            tokio::select! {
                // Polled in order, never at random: the deterministic runtime must replay a seed.
                biased;
                reported = next_report(&mut engine) => match reported {
                    Some(finalization) => {
                        self.watch_for_another_signer(&finalization);
                        let view = round_of(&finalization);
                        let newer = target.as_ref().is_none_or(|t| view > round_of(t));
                        if view > delivered_view && newer {
                            target = Some(finalization);
                        }
                    }
                    None => {
                        debug!("reporter closed");
                        return;
                    }
                },
                received = runs.recv() => {
                    let Some((peer, message)) = received else { return };
                    match message.split_first() {
                        Some((&TAG_RUN, body)) if syncing.is_none() => {
                            if let Some(view) = self.apply_run(&peer, body).await {
                                delivered_view = delivered_view.max(view);
                                progressed = true;
                                self.request(peer); // More may follow: stream on from this peer.
                            }
                        }
                        Some((&snapshot::TAG_OFFER, body)) => {
                            self.take_offer(&mut syncing, peer, body);
                        }
                        Some((&snapshot::TAG_NODES, body))
                            if self.take_nodes(&mut syncing, &peer, body).await =>
                        {
                            self.request(peer); // The blocks after the snapshot.
                        }
                        _ => {}
                    }
                }
                changed = arrivals.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
                () = self.context.sleep_until(deadline) => {
                    if let Some(waiting) = &target {
                        let block = to_hash(waiting.proposal.payload);
                        if !self.chain.has_block(block) {
                            self.blocks.request_block(block);
                        }
                    }
                    self.step_state_sync(&mut syncing);
                    let wanted =
                        (target.is_some() || follows_only || !progressed) && syncing.is_none();
                    let next = cursor.checked_rem(self.peers.len()).and_then(|i| self.peers.get(i));
                    if let (true, Some(peer)) = (wanted, next.cloned()) {
                        cursor = cursor.wrapping_add(1);
                        self.request(peer);
                    }
                    progressed = false;
                    deadline = self.deadline();
                }
            }
        }
    }

    fn deadline(&self) -> std::time::SystemTime {
        let now = self.context.current();
        now.checked_add(self.interval).unwrap_or(now)
    }

    /// Trips the double-sign guard if `finalization` carries this validator's signature in a
    /// round newer than its signing record.
    fn watch_for_another_signer(&self, finalization: &Finalization<Scheme, Digest>) {
        let Some((record, key)) = &self.guard else {
            return;
        };
        let round = round_of(finalization);
        if record.proves_another_signer(round)
            && self.certifier.signed_by(finalization, round.0, key)
            && record.signed_elsewhere(round)
        {
            tracing::error!(
                epoch = round.0,
                view = round.1,
                "a certificate carries this validator's signature for a round it never voted in: another node signs with its key"
            );
        }
    }

    /// A state sync if this node is at genesis and may take one; its first offer request
    /// goes out at once.
    fn start_state_sync(&mut self) -> Option<StateSync> {
        if !self.state_sync || self.chain.finalized_height() > 0 || self.peers.is_empty() {
            return None;
        }
        let namespace = self.certifier.namespace.clone();
        let committees = match self.chain.checkpoint() {
            Some((epoch, hash)) => snapshot::Committees::from_checkpoint(namespace, epoch, hash),
            None => {
                let genesis = self.certifier.committee_of(0).ok()?;
                let keys = genesis.iter().map(|member| member.key).collect();
                snapshot::Committees::new(namespace, keys)
            }
        };
        let mut sync = StateSync::asking(committees);
        self.ask_for_offers(&mut sync);
        Some(sync)
    }

    /// Asks every peer for an offer from [`snapshot::Committees::next_epoch`] (at the start
    /// and once an interval: a request may have been lost, or a peer not yet connected).
    fn ask_for_offers(&mut self, sync: &mut StateSync) {
        for peer in &self.peers {
            sync.ask(peer);
        }
        let request = snapshot::encode_offer_request(sync.committees.next_epoch());
        let _ = self
            .sender
            .send(Recipients::Some(self.peers.clone()), request, false);
    }

    /// Asks `peer` for the state tree nodes `download` waits for.
    fn ask_for_nodes(&mut self, peer: &PublicKey, download: &mut Download) {
        let request = download.request();
        let _ = self
            .sender
            .send(Recipients::One(peer.clone()), request, false);
    }

    /// Takes an offer while asking: keeps the highest checked one, or asks its peer for the
    /// epoch ends still missing (if it was not asked from there already).
    fn take_offer(&mut self, syncing: &mut Option<StateSync>, peer: PublicKey, body: &[u8]) {
        let Some(sync) = syncing else {
            return;
        };
        let Phase::Asking { best, heard, .. } = &mut sync.phase else {
            return;
        };
        if body.is_empty() {
            debug!(?peer, "nothing to offer");
            *heard = true;
            return;
        }
        let checked = sync
            .committees
            .check_offer(&mut self.context, &self.chain, body);
        if checked.is_ok() {
            sync.received = sync.received.saturating_add(body.len());
        }
        match checked {
            Ok(Some(offer)) => {
                let higher = best
                    .as_ref()
                    .is_none_or(|(_, known)| offer.head.number > known.head.number);
                debug!(?peer, number = offer.head.number, "snapshot offered");
                *heard = true;
                if higher {
                    *best = Some((peer, offer));
                }
            }
            Ok(None) if sync.ask(&peer) => {
                let request = snapshot::encode_offer_request(sync.committees.next_epoch());
                let _ = self.sender.send(Recipients::One(peer), request, false);
            }
            Ok(None) => debug!(?peer, "an offer without the epoch ends this node needs"),
            Err(reason) => debug!(?peer, %reason, "dropping a snapshot offer"),
        }
    }

    /// Takes state tree nodes while downloading; installs the snapshot once complete.
    /// Returns whether it was installed.
    async fn take_nodes(
        &mut self,
        syncing: &mut Option<StateSync>,
        peer: &PublicKey,
        body: &[u8],
    ) -> bool {
        let Some(StateSync {
            phase:
                Phase::Downloading {
                    peer: from,
                    download,
                    ..
                },
            received,
            ..
        }) = syncing
        else {
            return false;
        };
        if from != peer {
            return false;
        }
        match download.accept(body) {
            Ok(0) => return false, // The peer lacks them: the next interval asks another.
            Ok(_) => *received = received.saturating_add(body.len()),
            Err(reason) => {
                debug!(?peer, %reason, "dropping state nodes");
                return false;
            }
        }
        if !download.is_complete() {
            self.ask_for_nodes(peer, download);
            return false;
        }
        let Some(StateSync {
            committees,
            phase: Phase::Downloading {
                offer, download, ..
            },
            received: bytes,
            ..
        }) = syncing.take()
        else {
            return false;
        };
        let (number, nodes) = (offer.head.number, download.received());
        let epoch_ends = committees.epoch_ends();
        if self
            .chain
            .install_snapshot(download.finish(offer, epoch_ends))
            .await
        {
            tracing::info!(number, nodes, bytes, "state sync complete");
            return true;
        }
        warn!(number, "state sync failed at the install");
        if committees.from_a_checkpoint() {
            let mut sync = StateSync::asking(committees);
            self.ask_for_offers(&mut sync);
            *syncing = Some(sync);
        }
        false
    }

    /// State sync cannot go on as it stands: without a checkpoint, the node replays blocks
    /// instead; with one, it asks for offers again, keeping the epoch ends it checked, since
    /// a replay from genesis could not tell the chain from a long-range fork below the
    /// checkpoint (see [When](super::snapshot#when)).
    fn give_up_state_sync(&mut self, syncing: &mut Option<StateSync>) {
        match syncing.take() {
            Some(sync) if sync.committees.from_a_checkpoint() => {
                debug!("state sync starts over: a checkpoint allows no replay from genesis");
                let mut sync = StateSync {
                    phase: Phase::asking(sync.committees.next_epoch()),
                    ..sync
                };
                self.ask_for_offers(&mut sync);
                *syncing = Some(sync);
            }
            _ => debug!("replaying blocks instead of a snapshot"),
        }
    }

    /// One interval of state sync: decides on the offers heard, or moves a stalled download
    /// to the next peer; gives up as [When](super::snapshot#when) says.
    fn step_state_sync(&mut self, syncing: &mut Option<StateSync>) {
        let Some(sync) = syncing else {
            return;
        };
        let height = self.chain.finalized_height();
        let from_a_checkpoint = sync.committees.from_a_checkpoint();
        let next_epoch = sync.committees.next_epoch();
        match &mut sync.phase {
            Phase::Asking {
                asks,
                best,
                heard,
                learnt_through,
            } => {
                let learning = next_epoch > *learnt_through;
                *learnt_through = next_epoch;
                match best.take() {
                    Some((peer, offer))
                        if from_a_checkpoint
                            || offer.head.number >= height.saturating_add(snapshot::MIN_GAP) =>
                    {
                        let mut download = Download::new(offer.head.state_root);
                        tracing::info!(number = offer.head.number, root = %offer.head.state_root, "state sync: downloading the state");
                        self.ask_for_nodes(&peer, &mut download);
                        sync.phase = Phase::Downloading {
                            peer,
                            offer,
                            download,
                            pacing: Pacing::new(),
                        };
                    }
                    // Offers still teach epoch ends: a better offer may come, ask on (a short
                    // offer heard meanwhile is kept).
                    kept if learning => {
                        *best = kept;
                        *asks = 1;
                        self.ask_for_offers(sync);
                    }
                    Some((_, offer)) => {
                        debug!(number = offer.head.number, "no snapshot far enough ahead");
                        self.give_up_state_sync(syncing);
                    }
                    None if *heard => {
                        debug!("peers have nothing to offer");
                        self.give_up_state_sync(syncing);
                    }
                    None if *asks >= snapshot::MAX_ASKS => {
                        debug!("no answer to snapshot requests");
                        self.give_up_state_sync(syncing);
                    }
                    None => {
                        *asks = asks.saturating_add(1);
                        self.ask_for_offers(sync);
                    }
                }
            }
            Phase::Downloading {
                peer,
                download,
                pacing,
                ..
            } => match pacing.judge(download, self.peers.len()) {
                Verdict::Keep => {}
                Verdict::GiveUp => {
                    warn!("state sync stalled");
                    self.give_up_state_sync(syncing);
                }
                Verdict::NextPeer => {
                    let index = self.peers.iter().position(|p| p == peer).unwrap_or(0);
                    let next = index.saturating_add(1).checked_rem(self.peers.len());
                    if let Some(next) = next.and_then(|i| self.peers.get(i)) {
                        *peer = next.clone();
                    }
                    self.ask_for_nodes(peer, download);
                }
            },
        }
    }

    /// Asks `peer` for the finalized chain above ours.
    fn request(&mut self, peer: PublicKey) {
        let height = self.chain.finalized_height().saturating_add(1);
        debug!(?peer, height, "requesting the finalized chain");
        let _ = self
            .sender
            .send(Recipients::One(peer), encode_request(height), false);
    }

    /// Checks and applies a run; returns the epoch and view of the certified block if the
    /// chain finalized it and its finalized height rose. A genuine run that advances nothing
    /// (blocks this node already has) is no progress: counted as progress, a peer that
    /// answered every request with the same old run was asked again at once, every time,
    /// and a node that had nothing else to learn from it kept asking it.
    async fn apply_run(&mut self, peer: &PublicKey, body: &[u8]) -> Option<(u64, u64)> {
        match check_run(&self.certifier, &mut self.context, &self.chain, body) {
            Ok((certified, view, certificate, finalization)) => {
                self.watch_for_another_signer(&finalization);
                let before = self.chain.finalized_height();
                self.chain.finalized(certified, certificate).await;
                if self.chain.finalized_height() <= before {
                    debug!(?peer, %certified, "dropping a run that advances nothing");
                    return None;
                }
                debug!(%certified, ?view, "finalized through sync");
                Some(view)
            }
            Err(reason) => {
                debug!(?peer, %reason, "dropping a run");
                None
            }
        }
    }
}

/// Why a run was dropped.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum RunRejected {
    #[error("malformed")]
    Malformed,
    #[error("the certificate does not verify for the committee of its epoch")]
    Certificate,
    #[error("the certified block {0} is not of the certificate's epoch")]
    WrongEpoch(agora_primitives::Hash),
    #[error("a block is unacceptable to the chain")]
    Block,
    #[error("the certified block {0} is not in the run or does not reach our finalized head")]
    Disconnected(agora_primitives::Hash),
    #[error("the run's block {0} is not the child of the block before it, or of this node's finalized chain")]
    Unlinked(agora_primitives::Hash),
    #[error("the run's block {0} is of another epoch than the certified block")]
    CrossesEpoch(agora_primitives::Hash),
}

/// A run that passed the checks: the certified block, its (epoch, view), the certificate and
/// the certificate decoded.
pub(super) type CheckedRun = (
    agora_primitives::Hash,
    (u64, u64),
    Vec<u8>,
    Finalization<Scheme, Digest>,
);

/// Steps 1 to 3 of [Trust](self#trust): checks `body` (a run without its tag) against the
/// committee of the certificate's epoch and then stores its route in `chain`. Returns
/// the certified block, its (epoch, view) and the certificate, ready for [`Chain::finalized`].
pub(super) fn check_run<C: Chain>(
    certifier: &Certifier<C>,
    rng: &mut impl rand_core_010::CryptoRng,
    chain: &C,
    body: &[u8],
) -> Result<CheckedRun, RunRejected> {
    let (certificate, blocks) = decode_run(body).ok_or(RunRejected::Malformed)?;
    let (finalization, epoch) = certifier
        .decode_verified(rng, &certificate)
        .ok_or(RunRejected::Certificate)?;
    let certified = to_hash(finalization.proposal.payload);
    let route = linked_route(chain, blocks, certified, epoch)?;
    // Every check passed: the route is the finalized chain's, and only now is it stored.
    for block in route {
        chain
            .receive_block(block, BlockSource::Certified)
            .ok_or(RunRejected::Block)?;
    }
    if !chain.has_block(certified) || !chain.claim(certified) {
        return Err(RunRejected::Disconnected(certified));
    }
    Ok((
        certified,
        round_of(&finalization),
        certificate,
        finalization,
    ))
}

/// Steps 2 and 3 of [Trust](self#trust): the blocks of a run up to `certified`, once their
/// hash links are checked from `certified` back to this node's finalized chain and their
/// epochs against `epoch`, the certificate's. Blocks after `certified` are dropped (nothing
/// vouches for them). Stores nothing.
///
/// A committee signs only its own epoch's blocks: an old committee (whose stake may be gone)
/// cannot finalize the blocks of a later epoch.
///
/// A run is what [`Chain::finalized_run`] serves: blocks of one epoch from just above the
/// asker's finalized head. So every block must be of the certified block's epoch, and the
/// first one's parent must be finalized here, not merely held: otherwise a quorum of one
/// committee could finalize, through ancestry, blocks of the epoch before it that their own
/// committee never finalized (the serving side never sends such a run; the receiving side
/// did not check it until 2026-12-05).
fn linked_route<C: Chain>(
    chain: &C,
    mut blocks: Vec<Vec<u8>>,
    certified: agora_primitives::Hash,
    epoch: u64,
) -> Result<Vec<Vec<u8>>, RunRejected> {
    let links = blocks
        .iter()
        .map(|block| chain.block_links(block))
        .collect::<Option<Vec<_>>>()
        .ok_or(RunRejected::Malformed)?;
    let end = links
        .iter()
        .position(|links| links.hash == certified)
        .ok_or(RunRejected::Disconnected(certified))?;
    blocks.truncate(end + 1);
    if links[end].epoch != epoch {
        return Err(RunRejected::WrongEpoch(certified));
    }
    if let Some(other) = links[..end].iter().find(|links| links.epoch != epoch) {
        return Err(RunRejected::CrossesEpoch(other.hash));
    }
    // Each block's parent is the block before it (checked from the certified block down),
    // and the first one's is finalized here: held blocks all lie above the finalized height.
    let above_finalized = chain.finalized_height().saturating_add(1);
    for index in (0..=end).rev() {
        let linked = match index.checked_sub(1) {
            Some(previous) => links[previous].hash == links[index].parent,
            None => links[index].number <= above_finalized && chain.connects(links[index].parent),
        };
        if !linked {
            return Err(RunRejected::Unlinked(links[index].hash));
        }
    }
    Ok(blocks)
}

/// The (epoch, view) of a finalization: the order in which finalizations supersede.
fn round_of(finalization: &Finalization<Scheme, Digest>) -> (u64, u64) {
    let round = finalization.proposal.round;
    (round.epoch().get(), round.view().get())
}

/// The engine's next finalization, or never if there is no engine.
async fn next_report(
    engine: &mut Option<super::glue::Finalizations>,
) -> Option<Finalization<Scheme, Digest>> {
    match engine {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Sizes the channel's messages must allow: the tag and length prefix of a run around one
/// certificate of at most `certificate_room` bytes and one block of at most `max_block` bytes.
pub(super) fn max_run_message(max_block: u32, certificate_room: usize) -> usize {
    usize::try_from(max_block)
        .unwrap_or(usize::MAX)
        .saturating_add(certificate_room)
        .saturating_add(9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_round_trip_and_malformed_runs_are_refused() {
        let blocks = vec![b"one".to_vec(), b"two".to_vec()];
        let run = encode_run(b"cert", &blocks).expect("small run");
        assert_eq!(run[0], TAG_RUN);
        assert_eq!(
            decode_run(&run[1..]),
            Some((b"cert".to_vec(), blocks.clone()))
        );
        // Truncated, certificate only, and too many blocks.
        assert_eq!(decode_run(&run[1..run.len() - 1]), None);
        let lonely = encode_run(b"cert", &[]).expect("small run");
        assert_eq!(decode_run(&lonely[1..]), None);
        let many = vec![b"x".to_vec(); MAX_RUN_BLOCKS + 1];
        let long = encode_run(b"cert", &many).expect("small run");
        assert_eq!(decode_run(&long[1..]), None);
        let most = vec![b"x".to_vec(); MAX_RUN_BLOCKS];
        let full = encode_run(b"cert", &most).expect("small run");
        assert_eq!(
            decode_run(&full[1..]).map(|(_, b)| b.len()),
            Some(MAX_RUN_BLOCKS)
        );
        assert_eq!(encode_request(7)[1..], 7u64.to_le_bytes());
    }
}
