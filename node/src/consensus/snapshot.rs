//! State sync: a node that starts empty takes the state of a recent finalized block from a
//! peer instead of executing every block since genesis.
//!
//! # Why
//!
//! Replaying the chain costs time linear in its length: a new validator or full node joining a
//! chain of 100,000 blocks would spend many minutes re-executing history it does not need.
//! The state at a finalized block is all it needs to follow the chain from there, and the
//! state tree is content-addressed, so every piece of it can be checked as it arrives.
//!
//! # Protocol
//!
//! Four more messages on [`channel::SYNC`](super::channel::SYNC), after the run messages of
//! [`super::sync`]; integers are little-endian, parts are length-prefixed (`frames`):
//!
//! | tag | body | meaning |
//! |-----|------|---------|
//! | `2` | `u64` epoch `k` | "offer me a snapshot; I know the committee of epoch `k`" |
//! | `3` | parts: block, certificate, then up to [`MAX_EPOCH_ENDS`] × (header, certificate, committee, proof); or empty | an *offer*, or "nothing to offer" |
//! | `4` | up to [`MAX_NODES_PER_REQUEST`] × 32-byte hashes | "send me these state tree nodes" |
//! | `5` | parts: encoded nodes, in the order asked, stopping at the first the peer lacks | *nodes* |
//!
//! An offer names the newest finalized block the peer holds with a certificate of its own
//! ([`Chain::snapshot_offer`]) and, for each epoch from `k` up to the block's, the last block
//! of that epoch: its header, its finalization certificate and a state proof of the committee
//! it elected for the next epoch ([`Chain::epoch_end`]).
//!
//! # Trust
//!
//! The node starts knowing one committee: epoch 0's, from its genesis state; or, started
//! with `--checkpoint` (the last block of an epoch `e`, from a source the operator trusts),
//! none, but that block's hash ([`Chain::checkpoint`]). Nothing a peer sends is believed until
//! it follows from that:
//! 1. each epoch end is checked in order: its certificate must verify under the committee of
//!    its epoch and name the header's hash, its height must be its epoch's last, and the proof
//!    must show the next committee under that header's state root
//!    ([`Chain::open_epoch_end`]); this teaches the committee of the next epoch. From a
//!    checkpoint, the ends start at `e`'s, which is taken without a certificate if its header
//!    hashes to the checkpoint, and nothing below it is asked for or believed: a long-range
//!    fork (an old committee signing a second history, see `chain/checkpoint.rs`) that splits
//!    below the checkpoint has no end the node would check. From genesis, such a fork's ends
//!    below the checkpoint look genuine, and once learnt (an offer that stops short of the
//!    checkpoint) every offer of the real chain fails against them;
//! 2. the offered block's certificate must verify under the committee of the block's epoch
//!    and name the block's hash, whose header commits to its extrinsics
//!    ([`Chain::open_snapshot_block`]) and to its state root;
//! 3. every state tree node is asked for by hash, starting at that root, and must hash to it
//!    (a node's hash is computed from its content, `agora_primitives::smt`): a peer cannot
//!    send a node other than the one asked for. Children of internal nodes are asked for
//!    next; leaves carry the state's keys and values.
//!
//! When no hash is left to ask for, the state is exactly the one the certified header commits
//! to, and [`Chain::install_snapshot`] makes the block the finalized head in one write, keeping
//! the checked epoch ends so that this node can serve them to the next joiner (it holds
//! neither those blocks nor their states). A peer
//! that sends anything else is ignored and another is asked; the worst a peer can do is offer
//! an old (but genuine) block, which costs the node the replay from there.
//!
//! # When
//!
//! Only a node whose chain is at genesis syncs this way, and only if the best offer it hears
//! within one [`Timeouts::block_request`](super::Timeouts::block_request) after its first
//! answer is at least [`MIN_GAP`] blocks ahead — or, with a checkpoint, any offer (it is
//! above the checkpoint: its epoch's committee follows from the checkpoint's end), since a
//! replay could not tell the real chain from a long-range fork below the checkpoint. While
//! offers still teach epoch ends, it keeps asking. If the answers are all shorter or "nothing
//! to offer" (a network just started), or nobody answers in [`MAX_ASKS`] rounds, it replays
//! blocks as [`super::sync`] describes — except with a checkpoint: then it keeps the ends it
//! checked and asks again. While it decides and downloads, it asks for no runs.
//!
//! Each peer is asked from the first epoch whose end this node lacks, and asked again only
//! from a later one ([`StateSync::ask`]): whoever teaches ends is asked on at once, a peer
//! whose answer repeats ends another taught first is asked on from there, and a peer that
//! lacks the ends this node needs is not asked the same question again.
//!
//! # Bounds
//!
//! Offers carry at most [`MAX_EPOCH_ENDS`] epoch ends (a node far behind in epochs asks again
//! from where the last offer left it); a nodes request at most [`MAX_NODES_PER_REQUEST`]
//! hashes; a downloaded state at most [`MAX_STATE_BYTES`]; every answer fits the channel's
//! message limit.
//!
//! A download keeps its peer only while the peer keeps pace: an interval counts as progress
//! if its answers completed a request, or brought [`MIN_NODES_PER_INTERVAL`] nodes or
//! [`MIN_BYTES_PER_INTERVAL`] bytes. An honest answer either completes its request or is cut
//! by the message limit (megabytes); a peer that trickles a node per interval is replaced by
//! the next, and a download that stalls more than twice the peers (plus two) intervals in a
//! row is given up ([`Pacing`]; progress clears the count, so tricklers met in turn cannot
//! add up to it).
//! Before this bound, one node per interval counted as progress and kept the peer for good:
//! a state of a million nodes took a million intervals.

use super::{committee, decode_finalization, to_hash, Chain, EpochEnd, PublicKey, Scheme};
use super::{CheckedEpochEnd, SnapshotBlock, SnapshotInstall};
use agora_primitives::smt::Node;
use agora_primitives::Hash;
use commonware_parallel::Sequential;
use parity_scale_codec::DecodeAll;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Tag of an offer request: the body is the first epoch whose end the asker wants.
pub(super) const TAG_OFFER_REQUEST: u8 = 2;
/// Tag of an offer.
pub(super) const TAG_OFFER: u8 = 3;
/// Tag of a request for state tree nodes.
pub(super) const TAG_NODES_REQUEST: u8 = 4;
/// Tag of state tree nodes.
pub(super) const TAG_NODES: u8 = 5;

/// Most epoch ends in one offer.
pub const MAX_EPOCH_ENDS: usize = 64;
/// Most hashes in one nodes request.
pub const MAX_NODES_PER_REQUEST: usize = 4_096;
/// How far ahead of this node an offer must be to be taken, in blocks: below it replaying is
/// about as fast as downloading the state.
pub const MIN_GAP: u64 = 1_024;
/// Rounds of asking without any answer before replaying instead (peers may still be
/// connecting).
pub const MAX_ASKS: u32 = 20;
/// Most bytes of state one download holds in memory before it is written.
pub const MAX_STATE_BYTES: usize = 1 << 30;
/// State tree nodes that make an interval of a download progress, unless its answers gave
/// every node asked for or [`MIN_BYTES_PER_INTERVAL`] bytes (see [Bounds](self#bounds)).
pub const MIN_NODES_PER_INTERVAL: usize = 1_024;
/// Bytes of state tree nodes that make an interval of a download progress.
pub const MIN_BYTES_PER_INTERVAL: usize = 1 << 20;

/// An offer request from epoch `epoch`.
pub(super) fn encode_offer_request(epoch: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(9);
    message.push(TAG_OFFER_REQUEST);
    message.extend_from_slice(&epoch.to_le_bytes());
    message
}

/// Answers an offer request with what `chain` can offer, within `max_message` bytes (an empty
/// offer if nothing); `None` if the request is malformed.
pub(super) fn answer_offer_request<C: Chain>(
    chain: &C,
    body: &[u8],
    max_message: usize,
) -> Option<Vec<u8>> {
    let from = <[u8; 8]>::try_from(body).map(u64::from_le_bytes).ok()?;
    let nothing = || Some(vec![TAG_OFFER]);
    let Some((block, certificate)) = chain.snapshot_offer() else {
        return nothing();
    };
    let Some(offered) = chain.open_snapshot_block(&block) else {
        return nothing();
    };
    let mut message = vec![TAG_OFFER];
    super::frames::encode(&mut message, [block.as_slice(), certificate.as_slice()])?;
    // Bounded by `MAX_EPOCH_ENDS`.
    for epoch in (from..offered.epoch).take(MAX_EPOCH_ENDS) {
        let Some(end) = chain.epoch_end(epoch) else {
            break;
        };
        let size = [&end.header, &end.certificate, &end.committee, &end.proof]
            .iter()
            .fold(message.len(), |size, part| {
                size.saturating_add(4).saturating_add(part.len())
            });
        if size > max_message {
            break;
        }
        let parts = [&end.header, &end.certificate, &end.committee, &end.proof];
        super::frames::encode(&mut message, parts.map(Vec::as_slice))?;
    }
    (message.len() <= max_message).then_some(message)
}

/// A nodes request for `hashes`.
fn encode_nodes_request(hashes: &[Hash]) -> Vec<u8> {
    let mut message = Vec::with_capacity(hashes.len().saturating_mul(32).saturating_add(1));
    message.push(TAG_NODES_REQUEST);
    for hash in hashes {
        message.extend_from_slice(&hash.0);
    }
    message
}

/// Answers a nodes request from `chain`, within `max_message` bytes; `None` if malformed.
pub(super) fn answer_nodes_request<C: Chain>(
    chain: &C,
    body: &[u8],
    max_message: usize,
) -> Option<Vec<u8>> {
    if !body.len().is_multiple_of(32) || body.len() / 32 > MAX_NODES_PER_REQUEST {
        return None;
    }
    let hashes: Vec<Hash> = body
        .chunks_exact(32)
        .filter_map(|chunk| chunk.try_into().ok().map(Hash))
        .collect();
    let nodes = chain.state_nodes(&hashes, max_message.saturating_sub(1));
    let mut message = vec![TAG_NODES];
    super::frames::encode(&mut message, nodes.iter().map(Vec::as_slice))?;
    Some(message)
}

/// Why an offer or a nodes answer was not taken.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(super) enum Rejected {
    #[error("malformed")]
    Malformed,
    #[error("the end of epoch {0} does not check out")]
    EpochEnd(u64),
    #[error("the offered block does not decode or its certificate does not verify")]
    Block,
    #[error("node {0} does not hash to what was asked")]
    Node(Hash),
    #[error("the state passes {MAX_STATE_BYTES} bytes")]
    TooLarge,
    #[error("no request is waiting for nodes")]
    Unasked,
}

/// A checked offer: the block, its certificate and what the chain read of it.
#[derive(Clone, Debug)]
pub(super) struct Offer {
    pub(super) block: Vec<u8>,
    pub(super) certificate: Vec<u8>,
    pub(super) head: SnapshotBlock,
}

/// The committees learnt from epoch ends so far, starting with epoch 0's (or, from a
/// checkpoint, with the one the checkpoint's end elected).
pub(super) struct Committees {
    /// Consensus namespace certificates are checked in.
    namespace: Vec<u8>,
    /// `epoch → committee keys`, contiguous from 0 (from a checkpoint: empty, then from the
    /// epoch after the checkpoint's).
    keys: BTreeMap<u64, Vec<[u8; 32]>>,
    /// The epoch ends checked so far.
    ends: Vec<CheckedEpochEnd>,
    /// Their headers, to pass over the ends an offer repeats.
    known_headers: BTreeSet<Vec<u8>>,
    /// The operator's checkpoint, `(epoch, hash)` of the last block of `epoch`, when the
    /// committees start from it instead of from genesis: the end of `epoch` is taken if its
    /// header hashes to `hash`, with no certificate (see [Trust](self#trust)).
    checkpoint: Option<(u64, Hash)>,
}

impl Committees {
    /// Knowing only `genesis`, the committee of epoch 0.
    pub(super) fn new(namespace: Vec<u8>, genesis: Vec<[u8; 32]>) -> Self {
        Committees {
            namespace,
            keys: BTreeMap::from([(0, genesis)]),
            ends: Vec::new(),
            known_headers: BTreeSet::new(),
            checkpoint: None,
        }
    }

    /// Knowing no committee, but the hash of the last block of `epoch` (the operator's
    /// checkpoint): the first end learnt must be that block's.
    pub(super) fn from_checkpoint(namespace: Vec<u8>, epoch: u64, hash: Hash) -> Self {
        Committees {
            namespace,
            keys: BTreeMap::new(),
            ends: Vec::new(),
            known_headers: BTreeSet::new(),
            checkpoint: Some((epoch, hash)),
        }
    }

    /// The epoch ends checked so far.
    pub(super) fn epoch_ends(&self) -> Vec<CheckedEpochEnd> {
        self.ends.clone()
    }

    /// Whether these committees start from a checkpoint rather than from genesis.
    pub(super) fn from_a_checkpoint(&self) -> bool {
        self.checkpoint.is_some()
    }

    /// The first epoch whose end is not checked yet.
    pub(super) fn next_epoch(&self) -> u64 {
        match self.keys.last_key_value() {
            Some((epoch, _)) => *epoch,
            None => self.checkpoint.map_or(0, |(epoch, _)| epoch),
        }
    }

    /// Whether `end`, the end of `epoch` whose header hashes to `hash`, is vouched for: by a
    /// certificate of `epoch`'s committee, or, for the checkpoint's epoch when no committee is
    /// known, by being the checkpoint.
    fn vouched(
        &self,
        rng: &mut impl rand_core_010::CryptoRng,
        epoch: u64,
        hash: Hash,
        end: &EpochEnd,
    ) -> bool {
        if self.keys.contains_key(&epoch) {
            self.certified(rng, epoch, &end.certificate) == Some(hash)
        } else {
            self.checkpoint == Some((epoch, hash))
        }
    }

    /// The block a certificate verifies for under the committee of `epoch`, or `None`.
    fn certified(
        &self,
        rng: &mut impl rand_core_010::CryptoRng,
        epoch: u64,
        certificate: &[u8],
    ) -> Option<Hash> {
        let scheme = Scheme::verifier(&self.namespace, committee(self.keys.get(&epoch)?).ok()?);
        let finalization = decode_finalization(&scheme, certificate).ok()?;
        if finalization.proposal.round.epoch().get() != epoch
            || !finalization.verify(rng, &scheme, &Sequential)
        {
            return None;
        }
        Some(to_hash(finalization.proposal.payload))
    }

    /// Checks an offer's body (steps 1 and 2 of [Trust](self#trust)): learns every epoch end
    /// it carries, and returns the offer if its block's epoch is then known (`None`: ask again
    /// from [`Committees::next_epoch`]).
    ///
    /// An offer's ends start at the epoch its peer was asked from, which may be before the
    /// first one this node still lacks (another offer may have taught some since it was
    /// asked): ends this node has already checked, byte for byte
    /// the same header, are passed over, and the first other one must be the end of
    /// [`Committees::next_epoch`]. Checked instead as if the offer began there, every offer
    /// after the first one that carried ends was refused, so the first such offer won however
    /// old its block.
    ///
    /// An offer is taken whole or not at all: the ends learnt from one refused for any reason
    /// are forgotten again. Kept, the genuine-looking ends before a forged one (a long-range
    /// fork, caught by `--checkpoint` at the end it contradicts) would make every offer of
    /// the real chain fail against them.
    pub(super) fn check_offer<C: Chain>(
        &mut self,
        rng: &mut impl rand_core_010::CryptoRng,
        chain: &C,
        body: &[u8],
    ) -> Result<Option<Offer>, Rejected> {
        let (epoch, ends) = (self.next_epoch(), self.ends.len());
        let checked = self.check_whole_offer(rng, chain, body);
        if checked.is_err() {
            let _ = self.keys.split_off(&epoch.saturating_add(1));
            for end in self.ends.drain(ends..) {
                self.known_headers.remove(&end.end.header);
            }
        }
        checked
    }

    /// [`Committees::check_offer`] before the rollback of a refused offer.
    fn check_whole_offer<C: Chain>(
        &mut self,
        rng: &mut impl rand_core_010::CryptoRng,
        chain: &C,
        body: &[u8],
    ) -> Result<Option<Offer>, Rejected> {
        let parts = super::frames::decode(body, MAX_EPOCH_ENDS.saturating_mul(4).saturating_add(2))
            .ok_or(Rejected::Malformed)?;
        let (offer, ends) = parts.split_at_checked(2).ok_or(Rejected::Malformed)?;
        let [block, certificate] = offer else {
            return Err(Rejected::Malformed);
        };
        for end in ends.chunks(4) {
            let [header, certificate, committee, proof] = end else {
                return Err(Rejected::Malformed);
            };
            if self.known_headers.contains(header) {
                continue;
            }
            let end = EpochEnd {
                header: header.clone(),
                certificate: certificate.clone(),
                committee: committee.clone(),
                proof: proof.clone(),
            };
            let epoch = self.next_epoch();
            let (hash, number, next) = chain
                .open_epoch_end(epoch, &end)
                .ok_or(Rejected::EpochEnd(epoch))?;
            if !self.vouched(rng, epoch, hash, &end) {
                return Err(Rejected::EpochEnd(epoch));
            }
            self.keys.insert(epoch.saturating_add(1), next);
            self.known_headers.insert(end.header.clone());
            self.ends.push(CheckedEpochEnd {
                epoch,
                number,
                hash,
                end,
            });
        }
        let head = chain.open_snapshot_block(block).ok_or(Rejected::Block)?;
        if !self.keys.contains_key(&head.epoch) {
            return Ok(None);
        }
        if self.certified(rng, head.epoch, certificate) != Some(head.hash) {
            return Err(Rejected::Block);
        }
        Ok(Some(Offer {
            block: block.clone(),
            certificate: certificate.clone(),
            head,
        }))
    }
}

/// The download of one state, node by node from its root (step 3 of [Trust](self#trust)).
pub(super) struct Download {
    /// Hashes not asked for yet.
    wanted: VecDeque<Hash>,
    /// Hashes of the request in flight, in order.
    in_flight: Vec<Hash>,
    /// Every hash ever wanted (a tree has no node twice; this bounds a hostile one anyway).
    seen: BTreeSet<Hash>,
    nodes: Vec<(Hash, Vec<u8>)>,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    bytes: usize,
    /// What the answers of the current interval brought.
    pace: Pace,
}

/// What a download's answers brought in one interval (see [Bounds](self#bounds)).
#[derive(Clone, Copy, Debug, Default)]
struct Pace {
    nodes: usize,
    bytes: usize,
    /// An answer gave every node its request still waited for.
    whole: bool,
}

impl Download {
    /// A download of the state with root `root`.
    pub(super) fn new(root: Hash) -> Self {
        let wanted: VecDeque<Hash> = std::iter::once(root).filter(|r| *r != Hash::ZERO).collect();
        Download {
            seen: wanted.iter().copied().collect(),
            wanted,
            in_flight: Vec::new(),
            nodes: Vec::new(),
            state: BTreeMap::new(),
            bytes: 0,
            pace: Pace::default(),
        }
    }

    /// Whether the interval now ending was progress (see [Bounds](self#bounds)); starts the
    /// next.
    pub(super) fn kept_pace(&mut self) -> bool {
        let pace = std::mem::take(&mut self.pace);
        pace.whole || pace.nodes >= MIN_NODES_PER_INTERVAL || pace.bytes >= MIN_BYTES_PER_INTERVAL
    }

    /// Whether every node has arrived.
    pub(super) fn is_complete(&self) -> bool {
        self.wanted.is_empty() && self.in_flight.is_empty()
    }

    /// Nodes received so far.
    pub(super) fn received(&self) -> usize {
        self.nodes.len()
    }

    /// The next request: the hashes in flight (again, if unanswered), else the next wanted.
    pub(super) fn request(&mut self) -> Vec<u8> {
        if self.in_flight.is_empty() {
            let take = self.wanted.len().min(MAX_NODES_PER_REQUEST);
            self.in_flight = self.wanted.drain(..take).collect();
        }
        encode_nodes_request(&self.in_flight)
    }

    /// Takes a nodes answer: each node must hash to the hash asked for in its place. Returns
    /// how many were taken; the rest of the request stays in flight.
    pub(super) fn accept(&mut self, body: &[u8]) -> Result<usize, Rejected> {
        if self.in_flight.is_empty() {
            return Err(Rejected::Unasked);
        }
        let parts = super::frames::decode(body, self.in_flight.len()).ok_or(Rejected::Malformed)?;
        // Checked before anything is kept: an answer is taken whole or not at all.
        let mut checked = Vec::with_capacity(parts.len());
        for (hash, bytes) in self.in_flight.iter().zip(parts) {
            let node =
                Node::decode_all(&mut bytes.as_slice()).map_err(|_| Rejected::Node(*hash))?;
            if node.hash() != *hash {
                return Err(Rejected::Node(*hash));
            }
            checked.push((*hash, bytes, node));
        }
        let taken = checked.len();
        for (hash, bytes, node) in checked {
            self.bytes = self.bytes.saturating_add(bytes.len());
            self.pace.bytes = self.pace.bytes.saturating_add(bytes.len());
            if self.bytes > MAX_STATE_BYTES {
                return Err(Rejected::TooLarge);
            }
            match node {
                Node::Internal { left, right } => {
                    for child in [left, right] {
                        if child != Hash::ZERO && self.seen.insert(child) {
                            self.wanted.push_back(child);
                        }
                    }
                }
                Node::Leaf { key, value } => {
                    self.state.insert(key, value);
                }
            }
            self.nodes.push((hash, bytes));
        }
        self.in_flight.drain(..taken);
        self.pace.nodes = self.pace.nodes.saturating_add(taken);
        self.pace.whole |= taken > 0 && self.in_flight.is_empty();
        Ok(taken)
    }

    /// The snapshot to install, once complete.
    pub(super) fn finish(self, offer: Offer, epoch_ends: Vec<CheckedEpochEnd>) -> SnapshotInstall {
        SnapshotInstall {
            block: offer.block,
            certificate: offer.certificate,
            epoch_ends,
            nodes: self.nodes,
            state: self.state,
        }
    }
}

/// Where a node's state sync stands (see [When](self#when)).
pub(super) enum Phase {
    /// Asking peers for offers: `asks` rounds so far, the best offer heard, whether any peer
    /// answered (with an offer or with nothing to offer), and the first epoch whose end was
    /// unknown at the last interval's end (epoch ends learnt since are progress).
    Asking {
        asks: u32,
        best: Option<(PublicKey, Offer)>,
        heard: bool,
        learnt_through: u64,
    },
    /// Downloading the state of `offer` from `peer`, judged at each interval's end.
    Downloading {
        peer: PublicKey,
        offer: Offer,
        download: Download,
        pacing: Pacing,
    },
}

impl Phase {
    /// The first round of asking, knowing the ends before `next_epoch`.
    pub(super) fn asking(next_epoch: u64) -> Self {
        Phase::Asking {
            asks: 1,
            best: None,
            heard: false,
            learnt_through: next_epoch,
        }
    }
}

/// What to do with a download's peer at the end of an interval ([`Pacing::judge`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// It kept pace (or this was the first interval): keep asking it.
    Keep,
    /// It stalled: ask the next peer.
    NextPeer,
    /// Every peer stalled in turn, twice over: give this download up (replay blocks instead,
    /// or, with a checkpoint, ask for offers again).
    GiveUp,
}

/// How a download's peer is judged (see [Bounds](self#bounds)).
#[derive(Clone, Copy, Debug)]
pub(super) struct Pacing {
    /// The first interval is not judged: its request has only just gone out.
    first: bool,
    /// Intervals in a row without progress, over every peer asked.
    stalls: usize,
}

impl Pacing {
    /// A download just started.
    pub(super) fn new() -> Self {
        Pacing {
            first: true,
            stalls: 0,
        }
    }

    /// The verdict on the interval now ending, with `peers` peers to ask. Stalls count in a
    /// row: a peer that keeps pace clears them, so each trickling peer costs one interval per
    /// turn and cannot, over a long download, use up the budget that makes it give up.
    pub(super) fn judge(&mut self, download: &mut Download, peers: usize) -> Verdict {
        // Both read every time: the interval's pace is cleared even when it is not judged.
        let kept_pace = download.kept_pace();
        let first = std::mem::take(&mut self.first);
        if kept_pace || first {
            self.stalls = 0;
            return Verdict::Keep;
        }
        self.stalls = self.stalls.saturating_add(1);
        if self.stalls > peers.saturating_mul(2).saturating_add(2) {
            Verdict::GiveUp
        } else {
            Verdict::NextPeer
        }
    }
}

/// A node's state sync: the committees learnt, the phase, and the bytes of the offers and
/// nodes it took.
pub(super) struct StateSync {
    pub(super) committees: Committees,
    pub(super) phase: Phase,
    pub(super) received: usize,
    /// For each peer, the epoch it was last asked for an offer from. A peer is asked again
    /// only from a later epoch: one that lacks the ends this node needs (it joined from a
    /// later checkpoint) is not asked the same question as fast as it answers, and one whose
    /// answer repeats ends another peer taught first is asked on from there.
    pub(super) asked_from: BTreeMap<PublicKey, u64>,
}

impl StateSync {
    /// Asking peers for offers with what `committees` know.
    pub(super) fn asking(committees: Committees) -> Self {
        StateSync {
            phase: Phase::asking(committees.next_epoch()),
            committees,
            received: 0,
            asked_from: BTreeMap::new(),
        }
    }

    /// Whether `peer` should be asked for an offer from [`Committees::next_epoch`] (it was
    /// never asked from it or later); if so, notes that it is.
    pub(super) fn ask(&mut self, peer: &PublicKey) -> bool {
        let epoch = self.committees.next_epoch();
        let new = self.asked_from.get(peer).is_none_or(|asked| *asked < epoch);
        if new {
            self.asked_from.insert(peer.clone(), epoch);
        }
        new
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use agora_primitives::smt::{self, MemoryNodeStore, NodeStore as _};

    /// A state of `keys` keys and its tree.
    fn tree(keys: u32) -> (Hash, MemoryNodeStore, BTreeMap<Vec<u8>, Vec<u8>>) {
        let state: BTreeMap<Vec<u8>, Vec<u8>> = (0..keys)
            .map(|i| (format!("key {i}").into_bytes(), i.to_le_bytes().to_vec()))
            .collect();
        let changes = state
            .iter()
            .map(|(key, value)| (key.clone(), Some(value.clone())))
            .collect();
        let update = smt::update(&MemoryNodeStore::new(), Hash::ZERO, &changes).unwrap();
        let mut store = MemoryNodeStore::new();
        store.insert_nodes(update.new_nodes);
        (update.root, store, state)
    }

    /// The hashes a nodes request asks for.
    fn asked(request: &[u8]) -> Vec<Hash> {
        assert_eq!(request[0], TAG_NODES_REQUEST);
        request[1..]
            .chunks_exact(32)
            .map(|chunk| Hash(chunk.try_into().unwrap()))
            .collect()
    }

    /// An honest answer with the first `most` of the asked nodes.
    fn answer(store: &MemoryNodeStore, hashes: &[Hash], most: usize) -> Vec<u8> {
        let nodes: Vec<Vec<u8>> = hashes
            .iter()
            .take(most)
            .map(|hash| store.node(hash).unwrap().unwrap())
            .collect();
        let mut body = Vec::new();
        super::super::frames::encode(&mut body, nodes.iter().map(Vec::as_slice)).unwrap();
        body
    }

    /// A peer is asked for an offer from an epoch once: asked again only once this node has
    /// learnt ends past it (else a peer lacking the ends would be asked as fast as it answers).
    #[test]
    fn a_peer_is_asked_again_only_from_a_later_epoch() {
        use commonware_codec::{Copying, DecodeExt as _};
        use commonware_cryptography::{ed25519 as ed, Signer as _};
        let key = |byte: u8| {
            ed::PrivateKey::decode(Copying(&[byte; 32][..]))
                .unwrap()
                .public_key()
        };
        let (a, b) = (key(1), key(2));
        let mut sync = StateSync::asking(Committees::new(Vec::new(), Vec::new()));
        assert!(sync.ask(&a), "never asked");
        assert!(!sync.ask(&a), "asked from epoch 0 already");
        assert!(sync.ask(&b), "each peer on its own");
        sync.committees.keys.insert(1, Vec::new()); // An offer taught the end of epoch 0.
        assert!(sync.ask(&a) && sync.ask(&b), "asked on from epoch 1");
        assert!(!sync.ask(&a));
        let from_checkpoint = Committees::from_checkpoint(Vec::new(), 5, Hash::ZERO);
        let mut sync = StateSync::asking(from_checkpoint);
        assert_eq!(sync.committees.next_epoch(), 5);
        assert!(sync.ask(&a) && !sync.ask(&a));
    }

    #[test]
    fn a_download_from_the_root_yields_exactly_the_state_even_in_partial_answers() {
        let (root, store, state) = tree(300);
        let mut download = Download::new(root);
        let mut rounds = 0;
        while !download.is_complete() {
            rounds += 1;
            assert!(rounds < 100, "the download does not end");
            let hashes = asked(&download.request());
            // Half answers: what is missing is asked again.
            let most = hashes.len().div_ceil(2);
            assert_eq!(download.accept(&answer(&store, &hashes, most)), Ok(most));
        }
        assert_eq!(download.received(), store.len());
        let install = download.finish(
            Offer {
                block: Vec::new(),
                certificate: Vec::new(),
                head: SnapshotBlock {
                    hash: Hash::ZERO,
                    number: 0,
                    epoch: 0,
                    state_root: root,
                },
            },
            Vec::new(),
        );
        assert_eq!(install.state, state);
    }

    /// The slow-peer attack on state sync: a peer chosen for a download that answers every
    /// request with one node is not progress (`step_state_sync` then moves the download to the
    /// next peer), however many intervals it keeps it up; honest answers are, whether they
    /// complete their request or are cut by the message limit. Before the bound, any node
    /// taken counted, and the trickling peer kept the download for good.
    #[test]
    fn a_download_peer_sending_one_node_per_interval_does_not_keep_pace() {
        let (root, store, _) = tree(5_000);
        let mut download = Download::new(root);
        // The first levels of the tree are small requests, each answered whole: progress.
        let mut intervals = 0;
        while download.wanted.len() + download.in_flight.len() < MIN_NODES_PER_INTERVAL {
            let hashes = asked(&download.request());
            assert_eq!(
                download.accept(&answer(&store, &hashes, usize::MAX)),
                Ok(hashes.len())
            );
            assert!(download.kept_pace(), "a whole answer is progress");
            intervals += 1;
            assert!(intervals < 20, "the tree does not widen");
        }
        // A trickle: one node an answer, an answer an interval.
        for _ in 0..10 {
            let hashes = asked(&download.request());
            assert!(hashes.len() > 1);
            assert_eq!(download.accept(&answer(&store, &hashes, 1)), Ok(1));
            assert!(!download.kept_pace(), "one node an interval is a stall");
        }
        assert!(
            !download.kept_pace(),
            "an interval with no answer is a stall"
        );
        // An honest answer cut short (by the message limit) still brings its share.
        let hashes = asked(&download.request());
        let cut = hashes.len() - 1;
        assert!(cut >= MIN_NODES_PER_INTERVAL);
        assert_eq!(download.accept(&answer(&store, &hashes, cut)), Ok(cut));
        assert!(download.kept_pace(), "a large partial answer is progress");
    }

    /// What the driver does with those intervals (`step_state_sync` acts on the verdict): the
    /// first interval is not judged even when it was progress, so a trickle right after it is
    /// a stall (the grace was once kept for later by a short-circuit); stalls count in a row,
    /// so tricklers met in turn over a long download never add up to giving up, and a run of
    /// stalls past twice the peers does give up.
    #[test]
    fn a_trickling_peer_is_replaced_at_once_and_cannot_exhaust_the_stall_budget() {
        let (root, store, _) = tree(20_000);
        let peers = 2;
        let mut download = Download::new(root);
        let mut pacing = Pacing::new();
        let honest = |download: &mut Download| {
            let hashes = asked(&download.request());
            let whole = download.accept(&answer(&store, &hashes, usize::MAX));
            assert_eq!(whole, Ok(hashes.len()));
        };
        let trickle = |download: &mut Download| {
            let hashes = asked(&download.request());
            assert!(hashes.len() > 1, "a one-node request answered is whole");
            assert_eq!(download.accept(&answer(&store, &hashes, 1)), Ok(1));
        };
        // The tree's first levels, answered whole: the first interval, then progress.
        while download.wanted.len() + download.in_flight.len() < MAX_NODES_PER_REQUEST {
            honest(&mut download);
            assert_eq!(pacing.judge(&mut download, peers), Verdict::Keep);
        }
        trickle(&mut download);
        assert_eq!(pacing.judge(&mut download, peers), Verdict::NextPeer);
        // An honest peer, then a trickler, more times than the stall budget: never given up.
        for _ in 0..=(2 * peers + 2) {
            honest(&mut download);
            assert_eq!(pacing.judge(&mut download, peers), Verdict::Keep);
            trickle(&mut download);
            assert_eq!(pacing.judge(&mut download, peers), Verdict::NextPeer);
        }
        // After progress, nobody answering: the next peer each interval, then replay.
        honest(&mut download);
        assert_eq!(pacing.judge(&mut download, peers), Verdict::Keep);
        let verdicts: Vec<Verdict> = (0..=(2 * peers + 2))
            .map(|_| pacing.judge(&mut download, peers))
            .collect();
        assert!(verdicts[..2 * peers + 2]
            .iter()
            .all(|v| *v == Verdict::NextPeer));
        assert_eq!(verdicts[2 * peers + 2], Verdict::GiveUp);
    }

    #[test]
    fn a_node_that_is_not_the_one_asked_for_is_refused_and_nothing_is_kept() {
        let (root, store, _) = tree(50);
        let (_, other, _) = tree(51);
        let mut download = Download::new(root);
        let hashes = asked(&download.request());
        // The other tree's root node in place of this one's.
        let (other_root, _, _) = tree(51);
        let forged = answer(&other, &[other_root], 1);
        assert_eq!(download.accept(&forged), Err(Rejected::Node(hashes[0])));
        assert_eq!(download.received(), 0);
        // Undecodable bytes and trailing garbage are refused too.
        assert_eq!(download.accept(&[1, 2, 3]), Err(Rejected::Malformed));
        let mut long = answer(&store, &hashes, 1);
        long.extend_from_slice(&answer(&store, &hashes, 1));
        assert_eq!(download.accept(&long), Err(Rejected::Malformed));
        // The honest answer still goes through.
        assert_eq!(download.accept(&answer(&store, &hashes, 1)), Ok(1));
    }

    #[test]
    fn nodes_nobody_asked_for_are_refused() {
        let (root, store, _) = tree(5);
        let mut download = Download::new(root);
        assert_eq!(
            download.accept(&answer(&store, &[root], 1)),
            Err(Rejected::Unasked)
        );
        let empty = Download::new(Hash::ZERO);
        assert!(empty.is_complete(), "an empty state has nothing to fetch");
    }

    #[test]
    fn a_nodes_request_of_more_hashes_than_the_bound_is_not_answered() {
        let body = vec![0u8; 32 * (MAX_NODES_PER_REQUEST + 1)];
        let chain = super::super::tests::MockChain::new(0);
        assert_eq!(answer_nodes_request(&chain, &body, 1 << 20), None);
        assert_eq!(answer_nodes_request(&chain, &[0u8; 31], 1 << 20), None);
    }
}
