//! Blobs across the network: a node that lacks a registered blob fetches it from its peers,
//! in chunks, and checks it against its hash before anyone sees it.
//!
//! # Protocol
//!
//! Messages travel on [`channel::BLOBS`](super::channel::BLOBS); integers are little-endian.
//!
//! | tag | body | meaning |
//! |-----|------|---------|
//! | `0` | hash (32), `u64` offset, `u32` length | "send me these bytes of this blob" (length ≤ [`CHUNK`]) |
//! | `1` | hash (32), `u64` offset, bytes | the bytes of the blob from `offset` |
//! | `2` | hash (32) | "I do not hold this blob" |
//!
//! A request is answered from the [`BlobSource`] with at most [`CHUNK`] bytes, or with tag
//! `2`. Malformed messages are dropped.
//!
//! # Fetching
//!
//! [`BlobFetcher::fetch`]`(hash, size)` asks one peer at a time, keeping up to [`WINDOW`]
//! chunk requests in flight. Chunks (and tag `2`) are heard only from the peer asked, only
//! at the offsets asked for and only at the length the registered `size` implies, so no peer
//! can make a fetch hold more than `size` bytes, and no other peer can slip a forged chunk
//! into it (until 2026-12-05 any peer could, and with one forged chunk per peer made the
//! fetch fail though honest peers held the blob). When the peer answers tag `2` or makes no
//! progress for [`STALL`] (a peer asked before in this fetch: `STALL` × ([`WINDOW`] + 1), as
//! it first answers the requests left with it), the fetch moves to the next peer and resumes
//! from the bytes it already holds; after every peer but known forgers was tried without
//! progress it fails with [`FetchError::Unavailable`]. Progress is the contiguous prefix
//! growing.
//!
//! A peer that keeps progressing, but slowly, is judged by its rate: every [`RATE_WINDOW`]
//! (and when it stalls) the prefix it added is measured, and one below [`MIN_PEER_RATE`] is
//! passed over for the next peer not yet tried in this fetch, the held prefix kept; once
//! every peer was tried, for the fastest one measured if it kept the floor or was twice as
//! fast. So a peer dripping chunks just inside the stall holds a fetch for a window while
//! untried peers remain, not to its deadline (before, a 64 MiB state took some eight minutes
//! from a dripper first in rotation while an honest holder waited behind it), and where
//! every holder is slow (all fetching from one uploader) the fetch goes on at their pace.
//!
//! The complete blob must hash to `hash`. If it does not, some peer forged a chunk, and the
//! fetch starts over from nothing: with the fastest peer measured if it kept
//! [`MIN_PEER_RATE`], else an untried one, else the fastest. A transfer whose prefix grew
//! from one peer alone names that peer a forger, and it is not asked again. Judging by rate
//! makes the fastest peer the one a fetch returns to, so a fast forger would draw every
//! restart to itself; but a fast peer is never moved from, so its next transfer is its own
//! and names it. After more mismatches than peers, or with every peer a forger, the fetch
//! fails ([`FetchError::Mismatch`]).
//!
//! Whatever its peers do, a fetch fails
//! ([`FetchError::TooSlow`]) [`FETCH_GRACE`] plus its size at [`MIN_FETCH_RATE`] after it
//! started: before this deadline, a peer dripping a chunk just inside [`STALL`] held a 64 MiB
//! fetch some eight minutes, then failed its hash, and each byzantine peer met in the
//! rotation could do the same. A failed fetch is the caller's to retry (the referee's warmer
//! retries modules on the next finalized blocks). A
//! fetch nobody waits for any more is dropped. At most [`MAX_FETCHES`] blobs are fetched at
//! once; concurrent fetches of one blob share the transfer (ahead of need, the second is
//! answered [`FetchError::AlreadyFetching`] instead, see "Who gets a slot").
//!
//! Serving is bounded by the channel's per-peer rate quota (chunks per second per peer). A
//! request the quota refuses is not counted as asked; it goes out at the next check, so a
//! large blob is fetched at the quota's pace.
//! Progress lives in memory: a fetch interrupted by a restart starts over.
//!
//! # Who gets a slot
//!
//! Each fetch has a [`FetchClass`]. A fetch something on this node waits on (a block to
//! import, the referee's module) takes any free slot. One ahead of need (a pooled call's blob)
//! starts only while fewer than [`MAX_AHEAD`] fetches run, and one for an RPC client only while
//! fewer than [`MAX_CLIENT`] client fetches run: so at most `MAX_AHEAD + MAX_CLIENT` slots are
//! ever taken by fetches anyone can ask for for free, and at least
//! `MAX_FETCHES − MAX_AHEAD − MAX_CLIENT` stay for fetches a block waits on. Before, RPC
//! fetches took any slot, and eight clients asking for slowly served blobs made this node's
//! block imports fail [`FetchError::Busy`]. A fetch something waits on joining one of another
//! class makes it a waited-on fetch.
//!
//! A fetch ahead of need that finds no slot free waits in a queue of at most [`MAX_QUEUED`]
//! blobs, and starts when a slot frees; a full queue refuses it ([`FetchError::Busy`]). The
//! queue is kept per requester (the signer of the pooled call naming the blob), at most
//! [`MAX_QUEUED_PER_REQUESTER`] each, and a freed slot goes to the requesters in turn, each
//! one's oldest first: with one queue, first come first started, a spammer's blobs queued
//! ahead of an honest call's kept it waiting past its patience. A blob already queued that
//! another requester asks for takes a place in that requester's queue too (at most
//! [`MAX_QUEUE_PLACES`] in all) and starts at whichever turn comes first: charged to its
//! first requester alone, a spammer naming an honest call's blob first pulled it into the
//! spammer's own full queue. A queue place held for [`QUEUE_PATIENCE`] (counted from the
//! last requester to take a place) is refused too: a place
//! is not tied to the call that asked for it, and without the patience eight fee-less calls
//! naming 32 blobs each, served by a dripping peer, kept every place taken for hours after
//! the calls left the pool. Before, it was refused at once, and a pooled call naming more
//! blobs than there are slots (a `RevealStarts` naming dozens of start states) had the rest
//! fetched only when the call reached the node again, its re-relays ever further apart,
//! past its window. Ahead of need, a blob already being fetched or queued is not asked for
//! again ([`FetchError::AlreadyFetching`]): the running fetch stores it for everyone. An RPC
//! client joins a running fetch only while it has fewer than [`MAX_WAITERS`] waiters; before,
//! every pooled call or client naming a blob being fetched added a waiter, each handed its
//! own copy (up to 64 MiB), without bound. Every caller of one fetch is now handed the same
//! bytes (one shared allocation).

mod queue;
mod wire;

use super::{PublicKey, Rt};
use agora_primitives::Hash;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::Handle;
use commonware_utils::channel::{mpsc, oneshot};
use queue::AheadQueue;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::debug;
use wire::missing_message;
pub(super) use wire::{data_message, decode, get_message, Message};

/// Largest chunk asked for or served.
pub const CHUNK: u32 = 256 * 1024;
/// Chunk requests in flight per fetch.
pub const WINDOW: usize = 4;
/// Blobs fetched at once.
pub const MAX_FETCHES: usize = 8;
/// RPC clients' fetches ([`FetchClass::Client`]) running at once.
pub const MAX_CLIENT: usize = 2;
/// Fetches ahead of need waiting for a slot.
pub const MAX_QUEUED: usize = 256;
/// Fetches ahead of need waiting for a slot for one requester (the most one call asks for,
/// `MAX_PREFETCH_PER_CALL`).
pub const MAX_QUEUED_PER_REQUESTER: usize = 32;
/// Queue places of all requesters together (a blob several requesters asked for holds a
/// place in each one's queue).
pub const MAX_QUEUE_PLACES: usize = 4 * MAX_QUEUED;
/// An RPC client joins a running fetch only while it has fewer callers than this (each
/// hashes the blob again as it stores it); callers something on this node waits on join
/// anyway.
pub const MAX_WAITERS: usize = 16;
/// A fetch ahead of need waits in the queue at most this long, then is refused
/// ([`FetchError::Busy`]); its call's next arrival, or a block needing the blob, asks again.
pub const QUEUE_PATIENCE: Duration = Duration::from_secs(30);
/// Fetches ahead of need ([`BlobFetcher::fetch_ahead`]) start only while fewer than this many
/// fetches run, so that at least `MAX_FETCHES − MAX_AHEAD` slots stay for fetches something
/// waits on: anyone can make a node fetch ahead (a call naming registered blobs costs no fee
/// until a block includes it), and a peer serving slowly holds a slot to its deadline.
pub const MAX_AHEAD: usize = MAX_FETCHES / 2;
/// A peer that has not delivered a chunk for this long is given up on for the fetch.
pub const STALL: Duration = Duration::from_secs(2);
/// A fetch's peer is judged by the prefix it added in each window this long.
pub const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Bytes a second below which a fetch's peer is passed over for another (four chunks a
/// second: a 64 MiB blob in about a minute, the time a verifier has to attest).
pub const MIN_PEER_RATE: u64 = 4 * CHUNK as u64;
/// How often fetches are checked for a stall.
const STALL_CHECK: Duration = Duration::from_millis(500);
/// Every fetch may take this long, plus its size at [`MIN_FETCH_RATE`], before it fails
/// ([`FetchError::TooSlow`]).
pub const FETCH_GRACE: Duration = Duration::from_secs(60);
/// Bytes a second a fetch must average, past [`FETCH_GRACE`]: half a chunk a second, so a
/// 64 MiB blob has about nine and a half minutes in all. Generous on purpose: when a job is
/// assigned, every validator fetches its module at once, at first from its uploader alone
/// (99 validators sharing 100 Mbit/s of upload take some 530 s for 64 MiB).
pub const MIN_FETCH_RATE: u64 = CHUNK as u64 / 2;

/// Where a node reads the blobs it serves.
pub trait BlobSource: Clone + Send + Sync + 'static {
    /// Up to `max_len` bytes of blob `hash` from `offset` (fewer only at the end of the
    /// blob), or `None` if this node does not hold it.
    fn read(&self, hash: Hash, offset: u64, max_len: u32) -> Option<Vec<u8>>;
}

/// A node that serves no blobs.
impl BlobSource for () {
    fn read(&self, _: Hash, _: u64, _: u32) -> Option<Vec<u8>> {
        None
    }
}

/// Why a fetch failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// Every peer was asked and none delivered the blob.
    #[error("no peer served blob {0}")]
    Unavailable(Hash),
    /// The bytes the peers served do not hash to the blob's hash.
    #[error("the bytes peers served for blob {hash} hash to {actual}")]
    Mismatch {
        /// The blob.
        hash: Hash,
        /// What the bytes hash to.
        actual: Hash,
    },
    /// Peers did not deliver the blob by its deadline ([`FETCH_GRACE`] plus its size at
    /// [`MIN_FETCH_RATE`]).
    #[error("peers did not deliver blob {0} in time")]
    TooSlow(Hash),
    /// No fetch slot (or queue place) is free for a fetch of this class (see the module
    /// documentation).
    #[error("no blob fetch slot is free on this node for this request; try again")]
    Busy,
    /// A fetch ahead of need of a blob already being fetched or queued: that fetch stores it.
    #[error("blob {0} is already being fetched")]
    AlreadyFetching(Hash),
    /// The network stopped.
    #[error("the blob exchange stopped")]
    Stopped,
}

/// Who asked for a fetch ahead of need: the account that signed the pooled call naming the
/// blob. Queued fetches take turns by requester (see the module documentation).
pub type Requester = [u8; 32];

/// Who a fetch is for, which decides whether it may start (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FetchClass {
    /// Something on this node waits on it: a block to import, the referee's module.
    Needed,
    /// Nothing waits on it yet (a pooled call's blob, for the call's signer): it yields
    /// slots to needed fetches and queues by requester.
    Ahead(Requester),
    /// An RPC client asked for it.
    Client,
}

/// A fetch's answer: the blob's bytes, one allocation shared by every caller of the fetch.
type Reply = oneshot::Sender<Result<Arc<[u8]>, FetchError>>;

/// A fetch request: the blob, its size, who it is for, and where to answer.
type Request = (Hash, u64, FetchClass, Reply);

/// Fetches blobs from peers; cheap to clone.
#[derive(Clone)]
pub struct BlobFetcher {
    requests: mpsc::Sender<Request>,
    peers: usize,
}

impl BlobFetcher {
    /// Whether there is any peer to ask (a lone `--dev` node has none).
    pub fn has_peers(&self) -> bool {
        self.peers > 0
    }

    /// Fetches blob `hash` of `size` bytes (as registered on chain) from peers for something
    /// that waits on it ([`FetchClass::Needed`]).
    pub async fn fetch(&self, hash: Hash, size: u64) -> Result<Arc<[u8]>, FetchError> {
        self.fetch_as(FetchClass::Needed, hash, size).await
    }

    /// [`BlobFetcher::fetch`] for a blob nothing waits on yet (a pooled call's, signed by
    /// `requester`): queued until fewer than [`MAX_AHEAD`] fetches run and it is the
    /// requester's turn (see the module documentation).
    pub async fn fetch_ahead(
        &self,
        hash: Hash,
        size: u64,
        requester: Requester,
    ) -> Result<Arc<[u8]>, FetchError> {
        self.fetch_as(FetchClass::Ahead(requester), hash, size)
            .await
    }

    /// [`BlobFetcher::fetch`] for `class`; refused ([`FetchError::Busy`]) when the class has
    /// no slot free, except ahead of need, which queues (see the module documentation).
    pub async fn fetch_as(
        &self,
        class: FetchClass,
        hash: Hash,
        size: u64,
    ) -> Result<Arc<[u8]>, FetchError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send((hash, size, class, reply))
            .await
            .map_err(|_| FetchError::Stopped)?;
        answer.await.unwrap_or(Err(FetchError::Stopped))
    }
}

/// One blob being fetched.
struct Fetch {
    size: u64,
    /// The contiguous prefix received so far.
    bytes: Vec<u8>,
    /// Chunks received ahead of the prefix, by offset.
    ahead: BTreeMap<u64, Vec<u8>>,
    /// Offsets asked for and not yet received.
    outstanding: BTreeSet<u64>,
    /// The next offset to ask for.
    next: u64,
    /// Index (into the peer rotation, below its length) of the peer being asked.
    peer: usize,
    /// Peers given up on since the last progress.
    failures: usize,
    /// Complete transfers that did not hash to the blob.
    forgeries: usize,
    /// When the contiguous prefix last grew (or the fetch moved to its peer).
    last_progress: SystemTime,
    /// How long the current peer may make no progress before it is given up on:
    /// [`STALL`], or for a peer asked before in this fetch, time for it to first answer
    /// the requests left with it as well.
    stall_allowance: Duration,
    /// When the current peer's rate is next judged from: the start of its turn or its last
    /// judgement.
    judged_at: SystemTime,
    /// The prefix held at `judged_at`.
    judged_held: u64,
    /// Each peer's rate (bytes a second) over its last judged window or turn, 0 for one that
    /// said it lacks the blob; a peer not in here is untried.
    rates: BTreeMap<usize, u64>,
    /// Peers whose chunks grew the prefix of the transfer under way.
    contributors: BTreeSet<usize>,
    /// Peers whose transfer, theirs alone, did not hash to the blob: never asked again.
    forgers: BTreeSet<usize>,
    /// When the fetch fails whatever its peers do.
    deadline: SystemTime,
    waiters: Vec<Reply>,
    /// Who it is for: the class it started as, or `Needed` once a needed fetch joined it.
    class: FetchClass,
}

impl Fetch {
    fn held(&self) -> u64 {
        u64::try_from(self.bytes.len()).unwrap_or(u64::MAX)
    }

    /// The length a chunk at `offset` must have.
    fn chunk_len(&self, offset: u64) -> u64 {
        self.size.saturating_sub(offset).min(u64::from(CHUNK))
    }

    /// The peers after the current one in rotation order, forgers left out.
    fn others(&self, peers: usize) -> impl Iterator<Item = usize> + '_ {
        (1..peers)
            .filter_map(move |step| self.peer.checked_add(step)?.checked_rem(peers))
            .filter(|peer| !self.forgers.contains(peer))
    }

    /// The next peer in rotation not yet tried in this fetch.
    fn untried(&self, peers: usize) -> Option<usize> {
        self.others(peers)
            .find(|peer| !self.rates.contains_key(peer))
    }

    /// The peer to ask in place of a current one that is too slow: the next untried one;
    /// once every peer was tried, the fastest if it kept [`MIN_PEER_RATE`] or was at least
    /// twice as fast as the current one. (Not merely faster: each move abandons the chunks
    /// in flight, which the peer left still uploads, so slow holders of similar pace would
    /// pass a fetch back and forth every window, wasting the bandwidth they share.)
    fn faster_peer(&self, peers: usize) -> Option<usize> {
        if let Some(untried) = self.untried(peers) {
            return Some(untried);
        }
        let current = self.rates.get(&self.peer).copied().unwrap_or(0);
        self.others(peers)
            .filter_map(|peer| Some((*self.rates.get(&peer)?, peer)))
            .filter(|(rate, _)| {
                *rate > current && (*rate >= MIN_PEER_RATE || *rate >= current.saturating_mul(2))
            })
            .max()
            .map(|(_, peer)| peer)
    }

    /// The peer a transfer starts over with after a mismatch: the fastest measured one that
    /// is not a known forger if it kept [`MIN_PEER_RATE`], else an untried one, else the
    /// fastest measured, else the next.
    fn restart_peer(&self, peers: usize) -> Option<usize> {
        let fastest = (0..peers)
            .filter(|peer| !self.forgers.contains(peer))
            .filter_map(|peer| Some((*self.rates.get(&peer)?, peer)))
            .max();
        match fastest {
            Some((rate, peer)) if rate >= MIN_PEER_RATE => Some(peer),
            _ => self
                .untried(peers)
                .or(fastest.map(|(_, peer)| peer))
                .or_else(|| self.others(peers).next()),
        }
    }

    /// Records the current peer's rate since it was last judged, and starts its next window.
    fn judge(&mut self, now: SystemTime) -> u64 {
        let window = now.duration_since(self.judged_at).unwrap_or_default();
        let millis = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        let grown = self.held().saturating_sub(self.judged_held);
        let rate = grown.saturating_mul(1_000) / millis;
        self.rates.insert(self.peer, rate);
        self.judged_at = now;
        self.judged_held = self.held();
        rate
    }

    /// Asks `peer` from now on, from the held prefix: chunks in flight are forgotten.
    fn move_to(&mut self, peer: usize, now: SystemTime) {
        // A peer asked before first answers what was left with it (up to a window of
        // chunks, at its pace): without this allowance, returning to a slow peer soon after
        // leaving it looked like a stall.
        self.stall_allowance = if self.rates.contains_key(&peer) {
            STALL.saturating_mul(u32::try_from(WINDOW).unwrap_or(u32::MAX).saturating_add(1))
        } else {
            STALL
        };
        self.peer = peer;
        self.outstanding.clear();
        self.ahead.clear();
        self.next = self.held();
        self.last_progress = now;
        self.judged_at = now;
        self.judged_held = self.held();
    }
}

/// When a fetch of `size` bytes started at `start` fails whatever its peers do.
fn fetch_deadline(start: SystemTime, size: u64) -> SystemTime {
    let transfer = Duration::from_secs(size.div_ceil(MIN_FETCH_RATE));
    start
        .checked_add(FETCH_GRACE.saturating_add(transfer))
        .unwrap_or(start)
}

/// The fetcher task's state.
struct Exchange<E, S> {
    context: E,
    sender: S,
    peers: Vec<PublicKey>,
    /// Ordered: stall checks walk it, and the order of their sends must replay with a seed.
    fetches: BTreeMap<Hash, Fetch>,
    /// Rotates the first peer asked across fetches.
    rotation: usize,
    /// Fetches ahead of need waiting for a slot.
    queue: AheadQueue,
}

impl<E: Rt, S: Sender<PublicKey = PublicKey>> Exchange<E, S> {
    /// A caller asks for blob `hash` of `size` bytes as `class`: it joins the fetch of it
    /// that runs or is queued, or a new one starts or is queued, or it is refused (see the
    /// module documentation).
    fn start(&mut self, hash: Hash, size: u64, class: FetchClass, reply: Reply) {
        if let Some(fetch) = self.fetches.get_mut(&hash) {
            match class {
                FetchClass::Ahead(_) => {
                    let _ = reply.send(Err(FetchError::AlreadyFetching(hash)));
                }
                FetchClass::Client if fetch.waiters.len() >= MAX_WAITERS => {
                    let _ = reply.send(Err(FetchError::Busy));
                }
                FetchClass::Client => fetch.waiters.push(reply),
                FetchClass::Needed => {
                    fetch.waiters.push(reply);
                    fetch.class = FetchClass::Needed;
                }
            }
            return;
        }
        if let FetchClass::Ahead(requester) = class {
            if self.queue.contains(&hash) {
                let now = self.context.current();
                self.queue.add_place(hash, requester, now);
                let _ = reply.send(Err(FetchError::AlreadyFetching(hash)));
                return;
            }
        }
        if !self.has_room(class) {
            match class {
                FetchClass::Ahead(requester) => {
                    let now = self.context.current();
                    if let Err(reply) = self.queue.enqueue(hash, size, requester, reply, now) {
                        let _ = reply.send(Err(FetchError::Busy));
                    }
                }
                FetchClass::Needed | FetchClass::Client => {
                    let _ = reply.send(Err(FetchError::Busy));
                }
            }
            return;
        }
        // A fetch something waits on (or a client's) takes a queued one's callers along.
        let mut waiters = vec![reply];
        if let Some(queued) = self.queue.take(hash) {
            waiters.extend(queued.waiters);
        }
        self.launch(hash, size, class, waiters);
    }

    /// Starts queued fetches, the requesters in turn, while a fetch ahead of need may start.
    /// Bounded by [`MAX_QUEUE_PLACES`]: each round takes at least one place.
    fn start_queued(&mut self) {
        while self.ahead_may_start() {
            let Some((hash, requester, queued)) = self.queue.next() else {
                return;
            };
            let mut waiters = queued.waiters;
            waiters.retain(|waiter| !waiter.is_closed());
            if !waiters.is_empty() {
                self.launch(hash, queued.size, FetchClass::Ahead(requester), waiters);
            }
        }
    }

    /// Starts a fetch of `hash` for `waiters`.
    fn launch(&mut self, hash: Hash, size: u64, class: FetchClass, waiters: Vec<Reply>) {
        if self.peers.is_empty() {
            for waiter in waiters {
                let _ = waiter.send(Err(FetchError::Unavailable(hash)));
            }
            return;
        }
        let now = self.context.current();
        let fetch = Fetch {
            size,
            bytes: Vec::new(),
            ahead: BTreeMap::new(),
            outstanding: BTreeSet::new(),
            next: 0,
            peer: self.rotation % self.peers.len(),
            failures: 0,
            forgeries: 0,
            last_progress: now,
            stall_allowance: STALL,
            judged_at: now,
            judged_held: 0,
            rates: BTreeMap::new(),
            contributors: BTreeSet::new(),
            forgers: BTreeSet::new(),
            deadline: fetch_deadline(now, size),
            waiters,
            class,
        };
        self.rotation = self.rotation.wrapping_add(1);
        self.fetches.insert(hash, fetch);
        self.fill(hash);
        self.finish_if_done(hash);
    }

    /// Whether a fetch ahead of need, of whichever requester, may start now.
    fn ahead_may_start(&self) -> bool {
        self.fetches.len() < MAX_AHEAD
    }

    /// Whether a fetch of `class` may start now (see the module documentation).
    fn has_room(&self, class: FetchClass) -> bool {
        let running = self.fetches.len();
        match class {
            FetchClass::Needed => running < MAX_FETCHES,
            FetchClass::Ahead(_) => self.ahead_may_start(),
            FetchClass::Client => {
                let clients = self
                    .fetches
                    .values()
                    .filter(|fetch| fetch.class == FetchClass::Client)
                    .count();
                running < MAX_FETCHES && clients < MAX_CLIENT
            }
        }
    }

    /// Asks the fetch's current peer for chunks until [`WINDOW`] are in flight.
    fn fill(&mut self, hash: Hash) {
        let Some(fetch) = self.fetches.get_mut(&hash) else {
            return;
        };
        let Some(peer) = fetch
            .peer
            .checked_rem(self.peers.len())
            .and_then(|i| self.peers.get(i))
        else {
            return;
        };
        while fetch.outstanding.len() < WINDOW && fetch.next < fetch.size {
            let offset = fetch.next;
            let length = u32::try_from(fetch.chunk_len(offset)).unwrap_or(CHUNK);
            let message = get_message(hash, offset, length);
            let sent = self
                .sender
                .send(Recipients::One(peer.clone()), message, false);
            if sent.is_empty() {
                // Over the channel's quota to this peer (or it is not connected): asked again
                // at the next check. Marked outstanding, a request never sent held the fetch
                // until the stall gave the peer up.
                break;
            }
            fetch.outstanding.insert(offset);
            fetch.next = offset.saturating_add(u64::from(length));
        }
    }

    /// Whether the fetch of `hash` is asking `peer` now.
    fn asks(&self, hash: Hash, peer: &PublicKey) -> bool {
        let current = self.fetches.get(&hash).and_then(|fetch| {
            fetch
                .peer
                .checked_rem(self.peers.len())
                .and_then(|i| self.peers.get(i))
        });
        current == Some(peer)
    }

    /// Takes a chunk the fetch's current peer sent.
    fn on_data(&mut self, hash: Hash, offset: u64, bytes: &[u8]) {
        let Some(fetch) = self.fetches.get_mut(&hash) else {
            return;
        };
        let expected = usize::try_from(fetch.chunk_len(offset)).unwrap_or(usize::MAX);
        if bytes.len() != expected || !fetch.outstanding.remove(&offset) {
            return; // Not asked for, or the wrong length: ignored.
        }
        fetch.ahead.insert(offset, bytes.to_vec());
        let before = fetch.held();
        while let Some(chunk) = fetch.ahead.remove(&fetch.held()) {
            fetch.bytes.extend_from_slice(&chunk);
        }
        // Progress is the prefix growing: a peer withholding one chunk while sending the
        // others makes none.
        if fetch.held() > before {
            fetch.failures = 0;
            fetch.last_progress = self.context.current();
            // Every chunk ahead of the prefix came from the current peer (a move drops them).
            fetch.contributors.insert(fetch.peer);
            // The allowance of a peer returned to lasts until it first delivers.
            fetch.stall_allowance = STALL;
        }
        self.fill(hash);
        self.finish_if_done(hash);
    }

    /// Gives up on the fetch's current peer, which said it `lacks` the blob or stalled:
    /// resume from the held prefix with the next one, or fail once every peer but known
    /// forgers was tried without progress.
    fn next_peer(&mut self, hash: Hash, lacks: bool) {
        let peers = self.peers.len();
        let now = self.context.current();
        let Some(fetch) = self.fetches.get_mut(&hash) else {
            return;
        };
        if lacks {
            fetch.rates.insert(fetch.peer, 0);
        } else {
            // What it achieved, stall included: a fast holder that paused must stay
            // preferable to a dripper.
            fetch.judge(now);
        }
        fetch.failures = fetch.failures.saturating_add(1);
        let next = fetch.others(peers).next();
        match next {
            Some(next) if fetch.failures < peers.saturating_sub(fetch.forgers.len()) => {
                fetch.move_to(next, now);
                self.fill(hash);
            }
            _ => {
                debug!(%hash, "no peer serves the blob");
                self.finish(hash, Err(FetchError::Unavailable(hash)));
            }
        }
    }

    /// Judges the rate of the fetch's current peer once it has been asked for [`RATE_WINDOW`]:
    /// one below [`MIN_PEER_RATE`] is passed over for an untried peer, or, once all were
    /// tried, for the fastest (see the module documentation).
    fn judge_rate(&mut self, hash: Hash) {
        let peers = self.peers.len();
        let now = self.context.current();
        let Some(fetch) = self.fetches.get_mut(&hash) else {
            return;
        };
        let Ok(window) = now.duration_since(fetch.judged_at) else {
            return;
        };
        if window < RATE_WINDOW {
            return;
        }
        let rate = fetch.judge(now);
        if rate >= MIN_PEER_RATE {
            return;
        }
        if let Some(faster) = fetch.faster_peer(peers) {
            debug!(%hash, rate, "a peer serves the blob too slowly; asking another");
            fetch.move_to(faster, now);
            self.fill(hash);
        }
    }

    fn finish_if_done(&mut self, hash: Hash) {
        let Some(fetch) = self.fetches.get(&hash) else {
            return;
        };
        if fetch.held() < fetch.size {
            return;
        }
        let actual = Hash::of(&fetch.bytes);
        if actual == hash {
            if let Some(fetch) = self.fetches.get_mut(&hash) {
                let bytes: Arc<[u8]> = std::mem::take(&mut fetch.bytes).into();
                self.finish(hash, Ok(bytes));
            }
            return;
        }
        // Some peer forged a chunk. A transfer from one peer alone names it, and it is not
        // asked again; one from several names nobody. The restart goes to the fastest peer,
        // and a fast one is not moved from, so a fast forger is named by its next transfer.
        // At most `peers + 1` transfers are made.
        let peers = self.peers.len();
        let now = self.context.current();
        let Some(fetch) = self.fetches.get_mut(&hash) else {
            return;
        };
        fetch.forgeries = fetch.forgeries.saturating_add(1);
        fetch.judge(now);
        if let [forger] = fetch.contributors.iter().copied().collect::<Vec<_>>()[..] {
            fetch.forgers.insert(forger);
        }
        let restart = fetch.restart_peer(peers);
        let Some(restart) = restart.filter(|_| fetch.forgeries <= peers) else {
            self.finish(hash, Err(FetchError::Mismatch { hash, actual }));
            return;
        };
        debug!(%hash, %actual, "fetched bytes do not match the blob; starting over");
        fetch.failures = 0;
        fetch.bytes.clear();
        fetch.contributors.clear();
        fetch.move_to(restart, now);
        self.fill(hash);
    }

    fn finish(&mut self, hash: Hash, result: Result<Arc<[u8]>, FetchError>) {
        if let Some(fetch) = self.fetches.remove(&hash) {
            for waiter in fetch.waiters {
                let _ = waiter.send(result.clone());
            }
        }
        self.start_queued();
    }

    /// Fails every fetch past its deadline, forgets those nobody waits for any more, refuses
    /// queued fetches past [`QUEUE_PATIENCE`] and forgets those nobody waits for, starts
    /// queued fetches where slots freed, and moves every fetch whose peer stalled on to the
    /// next peer.
    fn check_stalls(&mut self) {
        let now = self.context.current();
        let late: Vec<Hash> = self
            .fetches
            .iter()
            .filter(|(_, fetch)| now >= fetch.deadline)
            .map(|(hash, _)| *hash)
            .collect();
        for hash in late {
            debug!(%hash, "blob fetch past its deadline");
            self.finish(hash, Err(FetchError::TooSlow(hash)));
        }
        // A caller that gave up (an RPC client gone) frees its slot, or its queue place.
        self.fetches.retain(|_, fetch| {
            fetch.waiters.retain(|waiter| !waiter.is_closed());
            !fetch.waiters.is_empty()
        });
        self.queue.prune(now);
        self.start_queued();
        let stalled: Vec<Hash> = self
            .fetches
            .iter()
            .filter(|(_, fetch)| {
                now.duration_since(fetch.last_progress)
                    .is_ok_and(|idle| idle >= fetch.stall_allowance)
            })
            .map(|(hash, _)| *hash)
            .collect();
        for hash in stalled {
            self.next_peer(hash, false);
        }
        let running: Vec<Hash> = self.fetches.keys().copied().collect();
        for hash in running {
            self.judge_rate(hash);
        }
        // Requests the quota refused since the last check go out now. Bounded by MAX_FETCHES.
        let running: Vec<Hash> = self.fetches.keys().copied().collect();
        for hash in running {
            self.fill(hash);
        }
    }
}

/// Spawns the blob exchange: serves `source` to peers and runs the fetches of the returned
/// [`BlobFetcher`], asking `peers` in rotation.
pub(super) fn spawn<E, B, S, R>(
    context: E,
    source: B,
    mut sender: S,
    mut receiver: R,
    peers: Vec<PublicKey>,
) -> (BlobFetcher, Handle<()>)
where
    E: Rt,
    B: BlobSource,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let (requests, mut incoming) = mpsc::channel(MAX_FETCHES);
    let fetcher = BlobFetcher {
        requests,
        peers: peers.len(),
    };
    let handle = context.spawn(move |context| async move {
        let mut exchange = Exchange {
            context: context.child("fetches"),
            sender: sender.clone(),
            peers,
            fetches: BTreeMap::new(),
            rotation: 0,
            queue: AheadQueue::default(),
        };
        let next_check = |now: SystemTime| now.checked_add(STALL_CHECK).unwrap_or(now);
        let mut deadline = next_check(context.current());
        loop {
            tokio::select! {
                // Polled in order, never at random: the deterministic runtime must replay a seed.
                biased;
                received = receiver.recv() => {
                    let Ok((peer, message)) = received else { break };
                    match decode(message.as_ref()) {
                        Some(Message::Get { hash, offset, length }) => {
                            let answer = match source.read(hash, offset, length.min(CHUNK)) {
                                Some(bytes) => data_message(hash, offset, &bytes),
                                None => missing_message(hash),
                            };
                            let _ = sender.send(Recipients::One(peer), answer, false);
                        }
                        // Only the peer a fetch asks is heard on it: a chunk or a "missing"
                        // from any other is ignored.
                        Some(Message::Data { hash, offset, bytes }) => {
                            if exchange.asks(hash, &peer) {
                                exchange.on_data(hash, offset, bytes);
                            }
                        }
                        Some(Message::Missing(hash)) => {
                            if exchange.asks(hash, &peer) {
                                exchange.next_peer(hash, true);
                            }
                        }
                        None => debug!(?peer, "dropping a malformed blob message"),
                    }
                }
                request = incoming.recv() => {
                    let Some((hash, size, class, reply)) = request else { break };
                    exchange.start(hash, size, class, reply);
                }
                () = context.sleep_until(deadline) => {
                    exchange.check_stalls();
                    deadline = next_check(context.current());
                }
            }
        }
        debug!("blob channel closed");
    });
    (fetcher, handle)
}
