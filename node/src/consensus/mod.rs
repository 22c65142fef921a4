//! Byzantine agreement on the order of Agora blocks, on commonware `simplex`.
//!
//! This module is the only place in the project that names commonware types. Everything else
//! sees a [`Chain`] trait to implement, a [`Config`], a [`Runtime`] to run in and a
//! [`Consensus`] handle. An upgrade of commonware touches only this directory.
//!
//! # Overview
//!
//! A committee of validators, each identified by an ed25519 key, runs one instance of
//! commonware's `simplex` engine per epoch (see [Epochs](#epochs)). For every view `v` a leader,
//! chosen round-robin over the committee sorted by public key, asks its [`Chain`] to build a
//! block on the parent consensus names ([`Chain::propose`]), relays the block's bytes to the
//! other validators and votes for its 32-byte blake3 hash. The other validators wait until
//! they hold both the block and its parent, ask their [`Chain`] to validate it
//! ([`Chain::verify`]) and vote. A quorum of `2f+1` votes (of `n = 3f+1`) notarizes the block,
//! a second quorum finalizes it, and each validator then hands the block and the encoded
//! finalization certificate to [`Chain::finalized`].
//!
//! The payload that consensus orders is the block hash ([`struct@Hash`]); consensus never sees
//! block contents. The `simplex` genesis payload is [`Chain::genesis`], so the first block
//! (view 1) extends the genesis block.
//!
//! # Guarantees and obligations
//!
//! * Safety: with at most `f` faulty validators, no two validators ever see different blocks
//!   finalized at the same height. A finalization of block `b` at view `v` finalizes `b` and,
//!   implicitly, all of its ancestors. Consensus does **not** deliver a finalization for every
//!   block: a block notarized at view `v` may be finalized only through a descendant's
//!   finalization at a later view. [`Chain::finalized`] must therefore treat every not yet
//!   finalized ancestor of `block` as finalized too.
//! * Finalizations are delivered to [`Chain::finalized`] one at a time, in increasing view
//!   order; a finalization at or below a view already delivered in this process is skipped
//!   (its block is an ancestor of a block already delivered). After a restart, finalizations
//!   still in the consensus journal are delivered again (see [Restart](#restart)), so
//!   [`Chain::finalized`] must be idempotent and must accept a block it already finalized or a
//!   block below its finalized tip.
//! * [`Chain::finalized`] is called only once the block is locally known
//!   ([`Chain::has_block`]); if it is not, it is requested from peers (see
//!   [Block exchange](#block-exchange)) until it arrives.
//! * [`Chain::verify`] is called only once both the parent and the block are locally known.
//!   It must be deterministic across honest validators and return `false` only when the block
//!   is permanently invalid as a child of `parent`. A `false` makes this validator vote to skip
//!   the view.
//! * [`Chain::propose`] is called only once the parent is locally known. It may wait (for the
//!   block time) but must finish well within [`Timeouts::leader`], or the view is skipped.
//!   Returning `None` declines to propose in this view, which also skips it.
//!
//! # Block exchange
//!
//! Blocks travel on their own p2p channel ([`channel::BLOCKS`]), separate from votes. Every
//! message is one tag byte followed by a body:
//!
//! | tag | body | meaning |
//! |-----|------|---------|
//! | `0` | block bytes ([`Chain::block_bytes`]) | a block; the receiver calls [`Chain::receive_block`] |
//! | `1` | 32-byte block hash | "send me this block"; answered with tag `0` if known, else ignored |
//!
//! A leader sends its proposal to every validator before voting for it. A validator that
//! needs a block it does not have (to verify a proposal, to verify a child of a block it
//! missed, or to hand a finalized block to the chain) waits [`Timeouts::block_request`] for
//! the relay and then asks all peers, repeating every [`Timeouts::block_request`] until the
//! block arrives or consensus abandons the request. Messages with an unknown tag, a wrong
//! length or undecodable block bytes are dropped.
//!
//! This is enough for validators that are online or briefly offline. A node that is further
//! behind (offline for longer than the journal's retention, missing an unfinalized ancestor
//! of a finalized block, or a full node, which runs no engine) learns the finalized chain by
//! height from its peers through the [`sync`] protocol; the [`sync`] follower is the one task
//! that hands finalized blocks to the [`Chain`], from the engine or from sync.
//!
//! # Network
//!
//! Nodes talk over commonware's authenticated `lookup` p2p: every peer's address is
//! configured up front, and connections are encrypted and authenticated with the nodes'
//! ed25519 keys. The committee ([`Config::validators`]) are *primary* peers: every node dials
//! them. Other peers ([`Config::peers`], full nodes) are *secondary* on a validator (it
//! accepts their connections but does not dial them) and primary on a full node. Nobody else
//! may connect. Seven channels: votes ([`channel::VOTES`]), certificates
//! ([`channel::CERTIFICATES`]), certificate backfill ([`channel::RESOLVER`]), blocks
//! ([`channel::BLOCKS`]), finalized-chain sync ([`channel::SYNC`]), submitted transactions
//! ([`channel::TRANSACTIONS`], see [`relay`]) and blob chunks ([`channel::BLOBS`], see
//! [`blobs`]: every node serves the blobs it holds and fetches registered ones it lacks). A
//! full node registers all seven and drains the first three (a peer sending on an unregistered channel is disconnected). With a single
//! validator (`--dev`) the quorum is 1, nothing is ever sent, and the node still listens on
//! [`Config::listen`].
//!
//! All signatures (votes, certificates, p2p handshakes) are bound to [`Config::namespace`],
//! which should include the chain's genesis hash so signatures cannot be replayed across
//! chains: votes sign under `namespace ++ b"/consensus"`, p2p handshakes under
//! `namespace ++ b"/p2p"`.
//!
//! # Certificates
//!
//! The certificate passed to [`Chain::finalized`] is a commonware-encoded `simplex`
//! finalization for the ed25519 scheme: the proposal (epoch, view, parent view, block hash)
//! followed by a quorum of ed25519 signatures with signer indices into the committee sorted
//! by public key. [`verify_certificate`] checks one against a committee and returns the block
//! and view it finalizes.
//!
//! # Runtime
//!
//! Consensus runs on commonware's tokio runtime ([`Runtime`]), which is a plain multi-threaded
//! tokio runtime: the root future and every task run inside it, so `tokio::spawn`,
//! `tokio::time`, `tokio::net`, jsonrpsee servers, and `spawn_blocking` for RocksDB all work
//! from inside [`Runtime::run`]. The node's `main` therefore runs everything inside it:
//!
//! ```ignore
//! fn main() -> anyhow::Result<()> {
//!     let cli = Cli::parse();
//!     let runtime = consensus::RuntimeConfig::new(cli.base_path.join("consensus"));
//!     consensus::Runtime::run(runtime, |rt| async move {
//!         let chain = chain::Chain::open(&cli.base_path)?;  // RocksDB, implements consensus::Chain
//!         let rpc = rpc::start(chain.clone(), cli.rpc_port).await?; // tokio::spawn inside is fine
//!         let config = consensus::Config::new(listen, seed, validators, namespace);
//!         let consensus = consensus::start(&rt, config, chain, blob_store)?;
//!         tokio::select! {
//!             result = consensus.join() => result?,
//!             _ = tokio::signal::ctrl_c() => {}
//!         }
//!         Ok(())
//!     })
//! }
//! ```
//!
//! When the future passed to [`Runtime::run`] returns, every task started by consensus is
//! aborted. Panics in consensus tasks are not caught: they take the process down.
//!
//! # Restart
//!
//! `simplex` keeps a journal (partition `consensus_e<epoch>` under [`RuntimeConfig::storage_dir`]) of
//! its own votes and of the certificates it has seen. It syncs its own votes before sending
//! them, so a validator killed with SIGKILL and restarted on the same directory never signs
//! conflicting votes. On restart:
//!
//! * the engine starts from the highest of the journal's finalizations and the finalization
//!   returned by [`Chain::last_finalized`] (the "floor"), so a chain that is ahead of the
//!   journal (or a lost journal) does not make consensus re-propose finalized heights;
//! * the floor finalization is reported again, and so are journaled finalizations above it
//!   (with no floor from the chain: every finalization still in the journal, i.e. within the
//!   last [`RETENTION_VIEWS`] views), so [`Chain::finalized`] sees blocks it has already
//!   finalized; it must ignore them;
//! * votes and proposals in flight may be requested again ([`Chain::verify`] or
//!   [`Chain::propose`] for a view already handled before the crash).
//!
//! If the chain lost blocks that consensus already finalized (it persisted less than it
//! acknowledged), consensus cannot give them back: [`Chain::finalized`] must persist durably
//! before returning.
//!
//! # Epochs
//!
//! The committee changes at epoch boundaries, as the chain decides ([`Chain::epoch`],
//! [`Chain::committee`]; see [`epochs`] for the orchestration). Every epoch runs its own
//! `simplex` instance: its own committee, journal partition (`consensus_e<epoch>`) and
//! subchannel of the three consensus channels. Certificates name their epoch and are checked
//! against that epoch's committee, and a certificate of epoch `e` only finalizes a block
//! whose height lies in epoch `e` ([`BlockLinks::epoch`]), so a former committee cannot
//! finalize later blocks. The last block of an epoch is finalized inside its own epoch: once
//! it is the parent, the leader proposes it again (a *re-proposal*) instead of a child, and
//! the next epoch's engine takes it as its genesis. A chain without epochs (the default
//! [`Chain`] methods) has the single epoch 0 with [`Config::validators`] as its committee.
//!
//! # Testing
//!
//! The tests run several validators, with the real p2p stack, on commonware's deterministic
//! runtime (simulated time and sockets, seeded randomness), plus one test on the tokio
//! runtime with real sockets and disk.

pub mod blobs;
mod certify;
mod epochs;
#[cfg(test)]
mod equivocator;
mod evidence;
mod frames;
#[cfg(test)]
mod fuzz;
mod glue;
pub mod guard;
pub mod links;
pub mod relay;
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]
mod simulation;
pub mod snapshot;
pub mod sync;
#[cfg(test)]
#[allow(clippy::arithmetic_side_effects, clippy::cast_possible_truncation)]
mod tests;
mod witness;

use agora_primitives::Hash;
pub use blobs::{BlobFetcher, BlobSource, FetchError};
use commonware_codec::{Copying, Decode as _, DecodeExt as _};
use commonware_consensus::simplex::{self, scheme::ed25519, types::Finalization};
use commonware_cryptography::{blake3, certificate::Verifier as _, ed25519 as ed, Signer as _};
use commonware_p2p::{
    authenticated::lookup,
    utils::mux::{MuxHandle, Muxer},
    Address,
};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Metrics, Network as RNetwork, Quota, Resolver, Runner as _, Spawner, Storage,
    Supervisor as _,
};
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::channel::oneshot;
use commonware_utils::{ordered::Map, NZUsize, NZU32};
use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

/// What consensus needs from the chain. Implemented by the node's chain module.
///
/// All methods may be called concurrently from several tasks. See the
/// [module documentation](self) for when each is called and what it must guarantee.
pub trait Chain: Clone + Send + Sync + 'static {
    /// Hash of the genesis block (the payload of simplex's genesis, view 0).
    fn genesis(&self) -> Hash;

    /// Builds a new block extending `parent` for view `view` of epoch `epoch`, stores it (so
    /// that [`Chain::block_bytes`] returns it) and returns its hash, or `None` if it cannot.
    /// If `parent` is the last block of `epoch`, returns `parent` itself (a *re-proposal*, see
    /// [Epochs](self#epochs)).
    ///
    /// Called only once `parent` is locally known. May wait (for the block time since the
    /// parent) but must finish well within [`Timeouts::leader`].
    fn propose(
        &self,
        parent: Hash,
        epoch: u64,
        view: u64,
    ) -> impl Future<Output = Option<Hash>> + Send;

    /// Validates block `block` as a child of `parent` in epoch `epoch`, proposed by `leader`
    /// (the view's leader's consensus key, which the block must name as its proposer: the
    /// beacon is the leader's VRF and no other member's): a block whose height lies in
    /// `epoch`, or `block == parent` when `parent` is the last block of `epoch` (a
    /// re-proposal). Both are locally known when called. Returns `false` only if the block is
    /// permanently invalid there.
    fn verify(
        &self,
        parent: Hash,
        block: Hash,
        epoch: u64,
        leader: [u8; 32],
    ) -> impl Future<Output = bool> + Send;

    /// Block `block` (and all of its ancestors) is finalized, proven by `certificate` (an
    /// encoded commonware finalization, see [`verify_certificate`]). Must persist durably
    /// before returning. Must be idempotent, and must accept blocks at or below the finalized
    /// tip (they are reported again after a restart).
    fn finalized(&self, block: Hash, certificate: Vec<u8>) -> impl Future<Output = ()> + Send;

    /// Encoded bytes of a locally known block (built by [`Chain::propose`] or received by
    /// [`Chain::receive_block`]), to send to peers.
    fn block_bytes(&self, block: Hash) -> Option<Vec<u8>>;

    /// Bytes of a block received from `source`; stores the block and returns its hash if it
    /// decodes. After `Some(h)`, [`Chain::has_block`]`(h)` must be true. Must not execute the
    /// block (that happens in [`Chain::verify`]); should bound how many unfinalized blocks it
    /// keeps, and should make room by forgetting what the heaviest sender sent rather than
    /// refuse: a peer that fills the bound must not shut out the blocks of the others.
    fn receive_block(&self, bytes: Vec<u8>, source: BlockSource) -> Option<Hash>;

    /// An encoded block's hash, parent and epoch, read without storing it; `None` if it does
    /// not decode. A sync run is checked with them before any of its blocks is stored.
    fn block_links(&self, bytes: &[u8]) -> Option<BlockLinks>;

    /// Whether `block` is locally known. Defaults to `block_bytes(block).is_some()`; override
    /// to avoid copying the block.
    fn has_block(&self, block: Hash) -> bool {
        self.block_bytes(block).is_some()
    }

    /// Height of the finalized head (0 for genesis).
    fn finalized_height(&self) -> u64;

    /// The finalized blocks at heights `from..=e`, oldest first, with the finalization
    /// certificate of the block at `e`, for a peer catching up (see [`sync`]). `e` is the
    /// highest height such that the run is within `limits`, does not pass the last block of `from`'s epoch (a peer
    /// verifies the certificate with the committee it knows from the state before `from`),
    /// and the block at `e` was finalized by a certificate of its own (not only through a
    /// descendant's). `None` if there is no such run (nothing finalized at `from` yet, or
    /// `from` is 0).
    fn finalized_run(&self, from: u64, limits: RunLimits) -> Option<FinalizedRun>;

    /// Whether [`Chain::finalized`]`(block, …)` can take `block` now: it is already
    /// finalized, or its ancestry leads through locally known blocks to the finalized head.
    /// A read, asked of blocks nothing vouches for yet (the parent a sync run starts from).
    fn connects(&self, block: Hash) -> bool;

    /// [`Chain::connects`] for a block a certificate vouches for: a finalized block, asked
    /// just before [`Chain::finalized`]`(block, …)`, or the notarized parent consensus names
    /// for a proposal, asked before [`Chain::propose`] or [`Chain::verify`] on it. If `true`,
    /// the chain must keep `block` and its route from then on (a chain that forgets peers'
    /// blocks to make room must not forget these, or `finalized` would find its route broken
    /// and a proposal its parent gone). Defaults to `connects`.
    fn claim(&self, block: Hash) -> bool {
        self.connects(block)
    }

    /// Extrinsics submitted to this node from now on, to pass to every peer (see [`relay`]);
    /// `None` if it has nothing to relay.
    fn relay_queue(&self) -> Option<tokio::sync::broadcast::Receiver<Vec<u8>>> {
        None
    }

    /// A batch of extrinsics a peer relayed, in its order: pool those that are valid, without
    /// relaying them again. May verify (and so block) for a while: it runs on the relay's task.
    fn receive_transactions(&self, batch: Vec<Vec<u8>>) {
        let _ = batch;
    }

    /// The epoch of the next block to finalize and the block that opens it. Polled every
    /// [`Timeouts::block_request`]; consensus switches engines when it changes. Defaults to
    /// epoch 0, opened by genesis, forever.
    fn epoch(&self) -> EpochStart {
        EpochStart {
            epoch: 0,
            opened_by: self.genesis(),
        }
    }

    /// The committee of `epoch` as the finalized state records it, or `None` if the state
    /// does not know it (not elected yet, or long dropped). The default, `None`, makes epoch
    /// 0's committee [`Config::validators`].
    fn committee(&self, epoch: u64) -> Option<Vec<Member>> {
        let _ = epoch;
        None
    }

    /// A validator signed two conflicting votes: `evidence` (checked: both signatures verify
    /// and the votes conflict, see `pallet_staking::equivocation`) is for the chain to judge,
    /// e.g. by submitting it. Called at most once per offender and epoch in this process.
    fn equivocation(&self, evidence: pallet_staking::equivocation::Equivocation) {
        let _ = evidence;
    }

    /// The certificate most recently passed to [`Chain::finalized`] and persisted, or `None`
    /// if nothing but genesis is finalized. Used as the engine's starting floor on restart, so
    /// that consensus resumes at or above the chain's finalized tip even if its own journal
    /// is behind or lost. Returning `None` is always safe while the journal is intact.
    fn last_finalized(&self) -> Option<Vec<u8>> {
        None
    }

    /// The block a peer starting empty may take this node's state at (see [`snapshot`]): the
    /// newest finalized block with a certificate of its own, encoded, and that certificate.
    /// `None` (the default) serves no snapshots.
    fn snapshot_offer(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        None
    }

    /// The last block of finalized epoch `epoch` with the committee it elected for the next
    /// epoch, proven against its state root; `None` (the default) if unknown here.
    fn epoch_end(&self, epoch: u64) -> Option<EpochEnd> {
        let _ = epoch;
        None
    }

    /// The encoded state tree nodes stored under `hashes`, in order, stopping at the first
    /// unknown one or before `max_bytes` would be passed. The default knows none.
    fn state_nodes(&self, hashes: &[Hash], max_bytes: usize) -> Vec<Vec<u8>> {
        let _ = (hashes, max_bytes);
        Vec::new()
    }

    /// Checks `end` as the last block of `epoch`: decodes its header, checks its height is
    /// that epoch's last, and the committee proof against its state root. Returns the block's
    /// hash and height and the keys of the committee of `epoch + 1`, or `None`.
    fn open_epoch_end(&self, epoch: u64, end: &EpochEnd) -> Option<(Hash, u64, Vec<[u8; 32]>)> {
        let _ = (epoch, end);
        None
    }

    /// Decodes an offered snapshot block and checks it is well formed (its extrinsics are
    /// those its header commits to); `None` if not.
    fn open_snapshot_block(&self, bytes: &[u8]) -> Option<SnapshotBlock> {
        let _ = bytes;
        None
    }

    /// Installs a checked snapshot as the finalized head (see [`snapshot`]); `false` if the
    /// chain is no longer at genesis or cannot write it.
    fn install_snapshot(&self, snapshot: SnapshotInstall) -> impl Future<Output = bool> + Send {
        let _ = snapshot;
        std::future::ready(false)
    }
}

/// What a sync run's checks read of a block before it is stored ([`Chain::block_links`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockLinks {
    /// Its hash (its header's).
    pub hash: Hash,
    /// Its parent's hash.
    pub parent: Hash,
    /// Its height.
    pub number: u64,
    /// The epoch its height lies in.
    pub epoch: u64,
}

/// Where a block handed to [`Chain::receive_block`] comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockSource {
    /// Sent by the peer with this p2p key (its consensus key), unasked or in answer to a
    /// request: nothing vouches for it until consensus verifies it.
    Peer([u8; 32]),
    /// Part of a sync run that passed every check ([`sync`]): its hash links lead from a
    /// block this node holds to the block a valid finality certificate of that block's epoch
    /// names, so it is a block of the finalized chain.
    Certified,
}

/// The last block of an epoch and the committee it elected for the next one, as a peer
/// serves it for state sync (see [`snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq, parity_scale_codec::Encode, parity_scale_codec::Decode)]
pub struct EpochEnd {
    /// The encoded header of the epoch's last block.
    pub header: Vec<u8>,
    /// Its finalization certificate (of that epoch's committee).
    pub certificate: Vec<u8>,
    /// The encoded committee of the next epoch, as the state holds it.
    pub committee: Vec<u8>,
    /// The encoded state proof of that committee under the header's state root.
    pub proof: Vec<u8>,
}

/// An epoch end a joiner checked ([`snapshot`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedEpochEnd {
    /// The epoch it ends.
    pub epoch: u64,
    /// Its last block's height.
    pub number: u64,
    /// Its last block's hash.
    pub hash: Hash,
    /// The end as served.
    pub end: EpochEnd,
}

/// What consensus learns of an offered snapshot block from the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotBlock {
    /// Its hash (what a certificate of it names).
    pub hash: Hash,
    /// Its height.
    pub number: u64,
    /// The epoch its height lies in.
    pub epoch: u64,
    /// The root of the state to fetch.
    pub state_root: Hash,
}

/// A snapshot checked by [`snapshot`], for [`Chain::install_snapshot`].
#[derive(Clone, Debug, Default)]
pub struct SnapshotInstall {
    /// The encoded snapshot block.
    pub block: Vec<u8>,
    /// Its finalization certificate.
    pub certificate: Vec<u8>,
    /// The epochs' ends below it, as checked: kept so that this node can serve them to the
    /// next joiner (it holds neither their blocks nor their states).
    pub epoch_ends: Vec<CheckedEpochEnd>,
    /// Every node of the state tree under the block's state root, by hash.
    pub nodes: Vec<(Hash, Vec<u8>)>,
    /// Every `(key, value)` of that state.
    pub state: std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
}

/// A member of an epoch's committee as the chain records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// ed25519 consensus key, also its p2p identity.
    pub key: [u8; 32],
    /// Its p2p address, if the chain records one (else [`Config`] must give it).
    pub address: Option<SocketAddr>,
}

/// Where the finalized chain stands in epochs (see [Epochs](self#epochs)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochStart {
    /// The epoch of the next block to finalize.
    pub epoch: u64,
    /// The last block of the previous epoch (genesis for epoch 0): the genesis of this
    /// epoch's engine, which the epoch's first block extends.
    pub opened_by: Hash,
}

/// p2p channel numbers. Must be the same on every validator.
pub mod channel {
    /// Individual votes (notarize, nullify, finalize).
    pub const VOTES: u64 = 0;
    /// Certificates (notarization, nullification, finalization).
    pub const CERTIFICATES: u64 = 1;
    /// Request/response backfill of missing certificates.
    pub const RESOLVER: u64 = 2;
    /// Block bytes and block requests (see [Block exchange](super#block-exchange)).
    pub const BLOCKS: u64 = 3;
    /// Requests for and runs of the finalized chain (see [`super::sync`]).
    pub const SYNC: u64 = 4;
    /// Batches of submitted transactions (see [`super::relay`]).
    pub const TRANSACTIONS: u64 = 5;
    /// Blob chunk requests and chunks (see [`super::blobs`]).
    pub const BLOBS: u64 = 6;
}

/// How many views below the finalized tip the engine keeps in memory and in its journal.
pub const RETENTION_VIEWS: u64 = 256;

/// Timeouts of the consensus engine. All must be non-zero; see [`Timeouts::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// How long to wait for the leader's proposal in a view before voting to skip it. Must
    /// exceed the chain's block time plus a network round trip.
    pub leader: Duration,
    /// How long to wait for a view to be notarized and certified before voting to skip it.
    /// Must exceed `leader`.
    pub certification: Duration,
    /// How often to re-broadcast a vote to skip a view while stuck in it.
    pub retry: Duration,
    /// How long to wait for a peer to answer a certificate request.
    pub fetch: Duration,
    /// A leader that has not voted for this long while a quorum has is skipped immediately.
    /// Must exceed `certification` and `retry`.
    pub skip_inactive_leader: Duration,
    /// How long to wait for a block from the relay before asking peers for it, and the
    /// interval between repeated requests.
    pub block_request: Duration,
}

impl Timeouts {
    /// Timeouts suited to a chain that produces one block every `block_time`.
    pub fn for_block_time(block_time: Duration) -> Self {
        let leader = block_time.saturating_add(Duration::from_secs(2));
        let certification = leader.saturating_add(Duration::from_secs(1));
        let retry = Duration::from_secs(10);
        Timeouts {
            leader,
            certification,
            retry,
            fetch: Duration::from_secs(2),
            skip_inactive_leader: certification
                .max(retry)
                .saturating_add(Duration::from_secs(5)),
            block_request: Duration::from_millis(500),
        }
    }

    /// Checks the ordering constraints the engine asserts on.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |what: &str| Err(Error::Timeouts(what.to_owned()));
        if self.leader.is_zero()
            || self.retry.is_zero()
            || self.fetch.is_zero()
            || self.block_request.is_zero()
        {
            return bad("leader, retry, fetch and block_request timeouts must be non-zero");
        }
        if self.certification <= self.leader {
            return bad("certification timeout must exceed the leader timeout");
        }
        if self.skip_inactive_leader <= self.certification
            || self.skip_inactive_leader <= self.retry
        {
            return bad("skip_inactive_leader must exceed the certification and retry timeouts");
        }
        Ok(())
    }
}

impl Default for Timeouts {
    /// [`Timeouts::for_block_time`] of one second.
    fn default() -> Self {
        Timeouts::for_block_time(Duration::from_secs(1))
    }
}

/// Configuration of one validator's consensus.
#[derive(Clone, Debug)]
pub struct Config {
    /// p2p listen address.
    pub listen: SocketAddr,
    /// ed25519 secret seed (RFC 8032) of this validator.
    pub signer_seed: [u8; 32],
    /// ed25519 public keys and p2p addresses of the committee, including this validator. Order
    /// does not matter (the committee is sorted by key); duplicates are an error.
    pub validators: Vec<([u8; 32], SocketAddr)>,
    /// ed25519 p2p keys and addresses of peers outside the committee (full nodes). They do
    /// not vote; a validator accepts their connections and answers their sync requests, a
    /// full node dials them too. Keys must not be in the committee.
    pub peers: Vec<([u8; 32], SocketAddr)>,
    /// Domain separator for all signatures, e.g. `b"agora-dev" ++ genesis hash`.
    pub namespace: Vec<u8>,
    /// Engine timeouts.
    pub timeouts: Timeouts,
    /// Largest encoded block, in bytes, this validator sends or accepts.
    pub max_block_size: u32,
    /// Whether peers may have private (e.g. 127.0.0.1, 10.x) addresses. Needed for local
    /// testnets; only committee members can connect either way.
    pub allow_private_ips: bool,
    /// Where a validator records the rounds it may vote in, for the double-sign guard (see
    /// [`guard`]); `None`: no guard. Keep it with the consensus journal.
    pub signing_record: Option<PathBuf>,
    /// Faults on the links from peers (see `links`); only the whole-node simulation sets them.
    pub links: Option<Arc<dyn links::Links>>,
    /// The largest committee this node is sized for: the p2p layer's peer bound, its mailboxes
    /// (one rate-quota burst per retained peer and channel, allocated up front) and the
    /// message size limits grow with it. The default, 128, is above the runtime's
    /// `MAX_VALIDATORS` (100); a test network of a known small committee sets less.
    pub max_committee: u32,
    /// Whether this node, started at genesis, may take a peer's state at a recent finalized
    /// block instead of replaying the chain (see [`snapshot`]).
    pub state_sync: bool,
}

impl Config {
    /// A configuration with default timeouts, a 4 MiB block limit and private IPs allowed.
    pub fn new(
        listen: SocketAddr,
        signer_seed: [u8; 32],
        validators: Vec<([u8; 32], SocketAddr)>,
        namespace: Vec<u8>,
    ) -> Self {
        Config {
            listen,
            signer_seed,
            validators,
            peers: Vec::new(),
            namespace,
            timeouts: Timeouts::default(),
            max_block_size: 4 * 1024 * 1024,
            allow_private_ips: true,
            signing_record: None,
            links: None,
            max_committee: MAX_COMMITTEE,
            state_sync: true,
        }
    }
}

/// Why consensus could not start, or why it stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configured public key is not a valid ed25519 point.
    #[error("invalid validator public key 0x{0}")]
    InvalidValidatorKey(String),
    /// The same key appears twice in the committee.
    #[error("duplicate validator public key 0x{0}")]
    DuplicateValidator(String),
    /// The committee is empty.
    #[error("the validator set is empty")]
    NoValidators,
    /// Our own key is not in the committee.
    #[error("this node's key 0x{0} is not in the validator set")]
    NotAValidator(String),
    /// A full node was given a key of the committee (it would never vote with it).
    #[error("the full node's key 0x{0} is a validator's; start it as a validator")]
    IsAValidator(String),
    /// The timeouts violate an ordering constraint.
    #[error("invalid consensus timeouts: {0}")]
    Timeouts(String),
    /// [`Chain::last_finalized`] returned bytes that are not a valid finalization for this
    /// committee and epoch.
    #[error("the chain's last finalization certificate is invalid for this committee: {0}")]
    InvalidFloor(String),
    /// The consensus task ended (it only does so if the engine or network stopped).
    #[error("consensus stopped: {0}")]
    Stopped(String),
    /// A certificate carries this validator's signature for a round newer than it may have
    /// voted in: another node signs with its key (see [`guard`]).
    #[error("another node signs with this validator's key: its signature is on a certificate of epoch {epoch}, view {view}, newer than this node's signing record; stop the other node (or restore this node's consensus directory) before starting again")]
    DoubleSign {
        /// The certificate's epoch.
        epoch: u64,
        /// The certificate's view.
        view: u64,
    },
    /// The signing record cannot be read or written.
    #[error("the signing record {path}: {reason}")]
    SigningRecord {
        /// Its path.
        path: String,
        /// What failed.
        reason: String,
    },
}

/// Configuration of the [`Runtime`].
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Root of commonware storage; the consensus journal lives in the `consensus_e0*`
    /// partitions under it. Use a directory under the node's base path.
    pub storage_dir: PathBuf,
    /// tokio worker threads.
    pub worker_threads: usize,
}

impl RuntimeConfig {
    /// Storage under `storage_dir`, one worker thread per CPU (at least two).
    pub fn new(storage_dir: PathBuf) -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        RuntimeConfig {
            storage_dir,
            worker_threads: cpus.max(2),
        }
    }
}

/// The async runtime consensus runs in: commonware's tokio runtime (a multi-threaded tokio
/// runtime; `tokio::spawn` and friends work inside it). Obtained only through
/// [`Runtime::run`].
pub struct Runtime {
    context: commonware_runtime::tokio::Context,
}

impl Runtime {
    /// Builds the runtime, runs `f` on it to completion and returns its output. Blocks the
    /// calling thread; call it once, from `main`. When `f`'s future returns, every task spawned
    /// through the runtime (including consensus) is aborted.
    pub fn run<F, Fut>(cfg: RuntimeConfig, f: F) -> Fut::Output
    where
        F: FnOnce(Runtime) -> Fut,
        Fut: Future,
    {
        let config = commonware_runtime::tokio::Config::new()
            .with_storage_directory(cfg.storage_dir)
            .with_worker_threads(cfg.worker_threads);
        commonware_runtime::tokio::Runner::new(config).start(|context| f(Runtime { context }))
    }
}

/// A running consensus instance.
#[must_use = "consensus stops only when the runtime stops or `abort` is called"]
pub struct Consensus {
    handle: commonware_runtime::Handle<()>,
    public_key: [u8; 32],
    /// The blob fetcher, once the network is up.
    fetcher: oneshot::Receiver<BlobFetcher>,
}

impl Consensus {
    /// This validator's ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The handle that fetches blobs from peers (see [`blobs`]); waits for the network to
    /// start. `None` if it stopped first.
    pub async fn blob_fetcher(&mut self) -> Option<BlobFetcher> {
        (&mut self.fetcher).await.ok()
    }

    /// Waits until consensus stops (it only does so if the engine or the network stopped, or
    /// [`Consensus::abort`] was called from a clone of the handle's task).
    pub async fn join(self) -> Result<(), Error> {
        match self.handle.await {
            Ok(()) => Err(Error::Stopped("the engine exited".to_owned())),
            Err(e) => Err(Error::Stopped(e.to_string())),
        }
    }

    /// Stops consensus and all of its tasks (network, engine, block exchange).
    pub fn abort(&self) {
        self.handle.abort();
    }
}

/// Starts consensus for this validator on `runtime`; it runs until the runtime stops or
/// [`Consensus::abort`]. Fails fast on a bad configuration.
/// `blob_source` is where it reads the blobs peers ask for.
pub fn start<C: Chain, B: BlobSource>(
    runtime: &Runtime,
    config: Config,
    chain: C,
    blob_source: B,
) -> Result<Consensus, Error> {
    launch(
        runtime.context.child("consensus"),
        config,
        chain,
        blob_source,
        "consensus",
    )
}

/// Starts a full node on `runtime`: no vote, no proposal; it follows the committee's
/// finalized chain through the [`sync`] protocol and serves blocks and runs to its peers.
/// `config.signer_seed` is its p2p identity and must not be a committee key.
pub fn follow<C: Chain, B: BlobSource>(
    runtime: &Runtime,
    config: Config,
    chain: C,
    blob_source: B,
) -> Result<Consensus, Error> {
    launch_full(
        runtime.context.child("follower"),
        config,
        chain,
        blob_source,
    )
}

/// Checks an encoded finalization `certificate` (as passed to [`Chain::finalized`]) against
/// the committee `validators` (ed25519 public keys, any order) of the certificate's epoch and
/// `namespace`. Returns the finalized block and its view, or `None` if the certificate does
/// not decode or lacks a valid quorum of signatures.
pub fn verify_certificate(
    namespace: &[u8],
    validators: &[[u8; 32]],
    certificate: &[u8],
) -> Option<(Hash, u64)> {
    let committee = committee(validators).ok()?;
    let scheme = ed25519::Scheme::verifier(&consensus_namespace(namespace), committee);
    let finalization = decode_finalization(&scheme, certificate).ok()?;
    // Batch verification draws random scalars that must be unpredictable to the prover.
    let mut rng = commonware_utils::sys_rng();
    if !finalization.verify(&mut rng, &scheme, &Sequential) {
        return None;
    }
    Some((
        to_hash(finalization.proposal.payload),
        finalization.proposal.round.view().get(),
    ))
}

/// A finalization certificate for `block` in round (`epoch`, `view`), signed by the members of
/// the committee `validators` whose ed25519 seeds are `signers`, in the chain's `namespace`.
/// For tools and tests that build a finalized chain without running consensus (a quorum of
/// signers makes a certificate [`verify_certificate`] accepts); `None` if a signer is not a
/// member or there is none.
pub fn sign_finalization(
    namespace: &[u8],
    validators: &[[u8; 32]],
    signers: &[[u8; 32]],
    (epoch, view): (u64, u64),
    block: Hash,
) -> Option<Vec<u8>> {
    use commonware_codec::Encode as _;
    use commonware_consensus::simplex::types::{Finalize, Proposal};
    use commonware_consensus::types::{Epoch, Round, View};
    let namespace = consensus_namespace(namespace);
    let set = committee(validators).ok()?;
    let round = Round::new(Epoch::new(epoch), View::new(view));
    let proposal = Proposal::new(round, View::new(view.saturating_sub(1)), to_digest(block));
    let votes = signers
        .iter()
        .map(|seed| {
            let key = ed::PrivateKey::decode(Copying(&seed[..])).ok()?;
            let scheme = Scheme::signer(&namespace, set.clone(), key)?;
            Finalize::sign(&scheme, proposal.clone())
        })
        .collect::<Option<Vec<_>>>()?;
    let verifier = Scheme::verifier(&namespace, set);
    let votes = commonware_utils::iter::NonEmpty::try_new(votes.into_iter())?;
    let finalization = Finalization::from_owned_finalizes(&verifier, votes, &Sequential).ok()?;
    Some(finalization.encode().to_vec())
}

// ---------------------------------------------------------------------------------------------
// Internals.

/// The digest simplex orders: our 32-byte blake3 block hash.
type Digest = blake3::Digest;
/// Validator identity.
type PublicKey = ed::PublicKey;
/// Signing scheme for votes and certificates.
type Scheme = ed25519::Scheme;
/// The default of [`Config::max_committee`] (the runtime's `MAX_VALIDATORS` is 100).
const MAX_COMMITTEE: u32 = 128;

fn to_digest(hash: Hash) -> Digest {
    blake3::Digest(hash.0)
}

fn to_hash(digest: Digest) -> Hash {
    Hash(digest.0)
}

fn consensus_namespace(namespace: &[u8]) -> Vec<u8> {
    [namespace, b"/consensus"].concat()
}

fn p2p_namespace(namespace: &[u8]) -> Vec<u8> {
    [namespace, b"/p2p"].concat()
}

/// Declares `$name` as a shorthand for the sum of `$bound`s: a trait with them as
/// supertraits, implemented for every type that has them (stable Rust has no trait aliases).
macro_rules! trait_alias {
    ($(#[$meta:meta])* $name:ident = $($bound:tt)+) => {
        $(#[$meta])*
        trait $name: $($bound)+ {}
        impl<T: $($bound)+> $name for T {}
    };
}

trait_alias! {
    /// Everything a runtime must provide to run consensus (commonware's tokio runtime in
    /// production, its deterministic runtime in tests).
    Rt = Spawner
        + Clock
        + Storage
        + Metrics
        + RNetwork
        + Resolver
        + rand_core_010::CryptoRng
        + Send
        + Sync
        + 'static
}

fn decode_key(key: &[u8; 32]) -> Result<PublicKey, Error> {
    PublicKey::decode(Copying(&key[..])).map_err(|_| Error::InvalidValidatorKey(hex::encode(key)))
}

fn committee(validators: &[[u8; 32]]) -> Result<commonware_utils::ordered::Set<PublicKey>, Error> {
    if validators.is_empty() {
        return Err(Error::NoValidators);
    }
    let keys = validators
        .iter()
        .map(decode_key)
        .collect::<Result<Vec<_>, _>>()?;
    let count = keys.len();
    let set = commonware_utils::ordered::Set::from_iter_dedup(keys);
    if set.len() != count {
        let mut sorted = validators.to_vec();
        sorted.sort();
        let dup = sorted
            .windows(2)
            .find(|w| w[0] == w[1])
            .map_or([0; 32], |w| w[0]);
        return Err(Error::DuplicateValidator(hex::encode(dup)));
    }
    Ok(set)
}

fn decode_finalization(
    scheme: &Scheme,
    bytes: &[u8],
) -> Result<Finalization<Scheme, Digest>, commonware_codec::Error> {
    Finalization::<Scheme, Digest>::decode_cfg(Copying(bytes), &scheme.certificate_codec_config())
}

/// How large a run of finalized blocks ([`Chain::finalized_run`]) may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    /// Most blocks.
    pub max_blocks: usize,
    /// Most bytes of blocks in all.
    pub max_bytes: usize,
}

/// A run of finalized blocks, oldest first, and the finalization certificate of its last.
pub type FinalizedRun = (Vec<Vec<u8>>, Vec<u8>);

/// The p2p channels every node registers, validator or not (a full node drains the ones it
/// has no use for: a peer sending on an unregistered channel is disconnected).
struct Channels<E: Rt> {
    votes: Channel<E>,
    certificates: Channel<E>,
    resolver: Channel<E>,
    blocks: Channel<E>,
    sync: Channel<E>,
    transactions: Channel<E>,
    blobs: Channel<E>,
}

impl<E: Rt> Channels<E> {
    /// The vote channel, and every other (for a party that only votes and drains the rest).
    #[cfg(test)]
    fn votes_and_the_rest(self) -> (Channel<E>, [Channel<E>; 6]) {
        let rest = [
            self.certificates,
            self.resolver,
            self.blocks,
            self.sync,
            self.transactions,
            self.blobs,
        ];
        (self.votes, rest)
    }
}

/// Who a node talks to, from [`Config`]: the committee (dialed, voting) and the other peers
/// (accepted, non-voting), both with addresses; the rotation of peers the follower asks.
struct Peers {
    committee: commonware_utils::ordered::Set<PublicKey>,
    primary: Map<PublicKey, Address>,
    secondary: Map<PublicKey, Address>,
    everyone_else: Vec<PublicKey>,
}

impl Peers {
    /// `primary_all`: dial every peer (a full node dials the committee and the other full
    /// nodes), or only the committee (a validator accepts the others' connections).
    fn from_config(config: &Config, me: &PublicKey, primary_all: bool) -> Result<Self, Error> {
        let keys: Vec<[u8; 32]> = config.validators.iter().map(|(key, _)| *key).collect();
        let committee = committee(&keys)?;
        let mut primary = Vec::new();
        let mut secondary = Vec::new();
        let mut everyone_else = Vec::new();
        for (key, address) in &config.validators {
            let key = decode_key(key)?;
            if key != *me {
                everyone_else.push(key.clone());
            }
            primary.push((key, Address::from(*address)));
        }
        for (key, address) in &config.peers {
            let key = decode_key(key)?;
            if committee.position(&key).is_some() {
                return Err(Error::DuplicateValidator(hex::encode(key.as_ref())));
            }
            if key == *me {
                continue;
            }
            everyone_else.push(key.clone());
            let entry = (key, Address::from(*address));
            if primary_all {
                primary.push(entry);
            } else {
                secondary.push(entry);
            }
        }
        Ok(Peers {
            committee,
            primary: Map::from_iter_dedup(primary),
            secondary: Map::from_iter_dedup(secondary),
            everyone_else,
        })
    }

    fn count(&self) -> usize {
        self.primary.len().saturating_add(self.secondary.len())
    }
}

/// The largest certificate a committee of `n` produces, plus room for its encoding.
fn certificate_room(n: u32) -> usize {
    simplex::max_payload_size::<Scheme, Digest>(n)
}

/// Starts the authenticated p2p network for `signer` with `peers` and registers the channels.
fn start_network<E: Rt>(
    context: &E,
    config: &Config,
    signer: ed::PrivateKey,
    peers: &Peers,
    max_message: u32,
) -> (
    commonware_runtime::Handle<()>,
    Channels<E>,
    lookup::Oracle<PublicKey>,
) {
    let me: [u8; 32] = signer
        .public_key()
        .as_ref()
        .try_into()
        .expect("ed25519 public keys are 32 bytes");
    let handshake = Cups::<_, commonware_cryptography::ChaCha20Poly1305>::new(
        Sake {
            signer,
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let mut p2p = lookup::Config::recommended(
        handshake,
        &p2p_namespace(&config.namespace),
        config.listen,
        NZUsize!(peers
            .count()
            .saturating_add(1)
            .max(usize::try_from(config.max_committee).unwrap_or(usize::MAX))),
        max_message,
        NZUsize!(1024),
    );
    p2p.allow_private_ips = config.allow_private_ips;
    p2p.peer_connection_cooldown = Duration::from_secs(1);
    // The dialer wakes at least every `dial_frequency` and at most every cooldown, and redials a
    // peer from a jittered moment 1–1.5 cooldowns after its last attempt. With the recommended
    // 1 s ticks against this 1 s cooldown, the dialer's clamp discarded the jitter: every node
    // redialed a missing peer on its own fixed 2 s beat, and two nodes whose beats lay within a
    // handshake of each other dialed each other at once, each refusing the other's connection
    // while its own dial held the reservation — for good (`docs/simulation.md`). Ticks ten
    // times finer than the cooldown let the jitter decide when each redial happens.
    p2p.dial_frequency = Duration::from_millis(100);
    p2p.allowed_handshake_rate_per_ip = Quota::per_second(NZU32!(16));
    p2p.allowed_handshake_rate_per_subnet = Quota::per_second(NZU32!(128));
    p2p.ping_frequency = Duration::from_secs(5);
    // The current and the previous epoch's peers (see `epochs`).
    p2p.tracked_peer_sets = NZUsize!(2);
    let (mut network, oracle) = lookup::Network::new(context.child("network"), p2p);
    let mut register = |channel, quota| {
        let (sender, receiver) = network.register(channel, quota);
        let receiver =
            links::Filtered::new(receiver, config.links.clone(), me, context.child("links"));
        (sender, receiver)
    };
    // Per-peer quotas, messages a second. A peer over its quota is throttled (its messages
    // wait), not dropped. They also size memory: commonware preallocates, for every channel,
    // one burst from each of `max_peers` peers, in the channel's mailbox and again in the
    // router's (~600 bytes a slot there), whether or not any peer is connected. At 1024 / 1024
    // / 256 / 256 / 64 / 1024 / 256 and 128 peers an idle `--dev` node held ~540 MB; these
    // hold ~100 MB and still leave each channel several times what it carries at the
    // fastest block time measured (50 ms: 20 views a second, ≤ 3 votes and ≤ 3 certificates
    // a view, one block), and the relay packs whatever queued behind a throttled send into
    // its next batch.
    let channels = Channels {
        votes: register(channel::VOTES, Quota::per_second(NZU32!(128))),
        certificates: register(channel::CERTIFICATES, Quota::per_second(NZU32!(128))),
        resolver: register(channel::RESOLVER, Quota::per_second(NZU32!(64))),
        blocks: register(channel::BLOCKS, Quota::per_second(NZU32!(64))),
        sync: register(channel::SYNC, Quota::per_second(NZU32!(16))),
        transactions: register(channel::TRANSACTIONS, Quota::per_second(NZU32!(256))),
        // Up to 64 chunks of 256 KiB a second per peer: 16 MiB/s.
        blobs: register(channel::BLOBS, Quota::per_second(NZU32!(64))),
    };
    (network.start(), channels, oracle)
}

/// The largest p2p message: a block (plus its tag), a consensus certificate (on an epoch's
/// subchannel), or a run of the sync protocol holding at least one block.
fn max_message_size(config: &Config, n: u32) -> u32 {
    commonware_p2p::max_message_size(&[
        commonware_p2p::utils::mux::prefixed(simplex::max_payload_size::<Scheme, Digest>(n)),
        sync::max_run_message(config.max_block_size, certificate_room(n)),
    ])
}

/// The application half of a node: the block exchange, the sync server and the follower.
type App<E, C> = glue::Application<E, C, lookup::Sender<PublicKey, E>>;

/// What every node's services are started with: its signer and public key and its peers.
struct Node {
    signer: ed::PrivateKey,
    me: PublicKey,
    peers: Peers,
}

impl Node {
    /// Validates `config`. `primary_all`: see [`Peers::from_config`].
    fn from_config(config: &Config, primary_all: bool) -> Result<Self, Error> {
        config.timeouts.validate()?;
        let signer = ed::PrivateKey::decode(Copying(&config.signer_seed[..]))
            .map_err(|_| Error::InvalidValidatorKey("<signer seed>".to_owned()))?;
        let me = signer.public_key();
        let peers = Peers::from_config(config, &me, primary_all)?;
        Ok(Node { signer, me, peers })
    }

    fn public_key(&self) -> Result<[u8; 32], Error> {
        self.me
            .as_ref()
            .try_into()
            .map_err(|_| Error::InvalidValidatorKey(hex::encode(self.me.as_ref())))
    }
}

/// The running services every node has, and what the engines need of them.
struct Services<E: Rt, C: Chain> {
    /// The engines' automaton and relay.
    application: App<E, C>,
    /// The engines' reporter; its finalizations feed the follower.
    reporter: glue::Reporter,
    /// Conflicting votes the engines reported.
    conflicts: glue::Conflicts,
    /// Block exchange, sync server, follower, transaction relay, the muxers and the network.
    handles: Vec<commonware_runtime::Handle<()>>,
    /// The consensus channels, split by epoch.
    votes: MuxHandle<lookup::Sender<PublicKey, E>>,
    certificates: MuxHandle<lookup::Sender<PublicKey, E>>,
    resolver: MuxHandle<lookup::Sender<PublicKey, E>>,
    oracle: lookup::Oracle<PublicKey>,
}

/// One p2p channel: its sender, and its receiver behind the node's [`links::Links`].
type Channel<E> = (
    lookup::Sender<PublicKey, E>,
    links::Filtered<lookup::Receiver<PublicKey>, E>,
);

/// Splits a consensus channel into per-epoch subchannels; the muxer runs in the returned task.
fn mux<E: Rt, R: commonware_p2p::Receiver<PublicKey = PublicKey>>(
    context: &E,
    (sender, receiver): (lookup::Sender<PublicKey, E>, R),
) -> (
    MuxHandle<lookup::Sender<PublicKey, E>>,
    commonware_runtime::Handle<()>,
) {
    let (muxer, handle) = Muxer::new(context.child("mux"), sender, receiver);
    let task = context.child("mux").spawn(move |_| async move {
        let _ = muxer.run().await;
    });
    (handle, task)
}

/// Starts the network, the block exchange, the sync server, the follower (fed by the
/// engines' reports if `with_engine`, else syncing on its own) and the transaction relay.
#[allow(clippy::too_many_arguments)] // Each is a distinct part of the node; a struct would only rename them.
fn start_services<E: Rt, C: Chain, B: BlobSource>(
    context: &E,
    config: &Config,
    chain: C,
    blob_source: B,
    node: Node,
    certifier: certify::Certifier<C>,
    with_engine: bool,
    guard: Option<(Arc<guard::SigningRecord>, [u8; 32])>,
) -> (Services<E, C>, BlobFetcher) {
    let max_message = max_message_size(config, config.max_committee);
    let (network, channels, oracle) =
        start_network(context, config, node.signer, &node.peers, max_message);
    let Channels {
        votes,
        certificates,
        resolver,
        blocks,
        sync,
        transactions,
        blobs,
    } = channels;
    let (application, reporter, finalizations, conflicts) = glue::Application::new(
        Arc::new(context.child("application")),
        chain.clone(),
        blocks.0,
        max_message,
        config.timeouts.block_request,
        guard.as_ref().map(|(record, _)| Arc::clone(record)),
    );
    // Every vote is witnessed before the engine sees it, so that an equivocation is reported
    // whatever order its votes arrive in (`witness`).
    let votes = (votes.0, witness::Witness::new(votes.1, reporter.evidence()));
    let (votes, votes_mux) = mux(context, votes);
    let (certificates, certificates_mux) = mux(context, certificates);
    let (resolver, resolver_mux) = mux(context, resolver);
    let (fetcher, blob_exchange) = blobs::spawn(
        context.child("blobs"),
        blob_source,
        blobs.0,
        blobs.1,
        node.peers.everyone_else.clone(),
    );
    let block_exchange = application.serve_blocks(context.child("blocks"), blocks.1);
    let relay = relay::spawn(
        context.child("relay"),
        chain.clone(),
        transactions.0,
        transactions.1,
        max_message,
    );
    let (sync_sender, sync_receiver) = sync;
    let (runs_in, runs_out) = commonware_utils::channel::mpsc::channel(sync::RUN_QUEUE);
    let server = sync::serve(
        context.child("sync"),
        chain.clone(),
        sync_sender.clone(),
        sync_receiver,
        runs_in,
        max_message,
        certificate_room(config.max_committee),
    );
    let follower = sync::Follower {
        context: context.child("follower"),
        chain,
        blocks: application.clone(),
        sender: sync_sender,
        certifier,
        guard,
        peers: node.peers.everyone_else,
        interval: config.timeouts.block_request,
        state_sync: config.state_sync,
    }
    .spawn(with_engine.then_some(finalizations), runs_out);
    let services = Services {
        application,
        reporter,
        conflicts,
        handles: vec![
            network,
            block_exchange,
            server,
            follower,
            relay,
            blob_exchange,
            votes_mux,
            certificates_mux,
            resolver_mux,
        ],
        votes,
        certificates,
        resolver,
        oracle,
    };
    (services, fetcher)
}

/// Validates `config` and spawns consensus on `context`. `partition` prefixes the journal's
/// storage partitions (tests run several validators in one runtime).
fn launch<E: Rt, C: Chain, B: BlobSource>(
    context: E,
    config: Config,
    chain: C,
    blob_source: B,
    partition: &str,
) -> Result<Consensus, Error> {
    let node = Node::from_config(&config, false)?;
    let certifier =
        certify::Certifier::new(chain.clone(), &config.namespace, config.validators.clone());
    // With no committee from the chain, the configured one is the only one there will ever
    // be: a key outside it could never vote.
    let current = chain.epoch().epoch;
    if chain.committee(current).is_none() && node.peers.committee.position(&node.me).is_none() {
        return Err(Error::NotAValidator(hex::encode(node.me.as_ref())));
    }
    let record = match &config.signing_record {
        Some(path) => Some(Arc::new(guard::SigningRecord::open(path).map_err(
            |error| Error::SigningRecord {
                path: path.display().to_string(),
                reason: error.to_string(),
            },
        )?)),
        None => None,
    };
    if let Some(bytes) = chain.last_finalized() {
        let mut rng = context.child("floor");
        let Some((finalization, epoch)) = certifier.decode_verified(&mut rng, &bytes) else {
            return Err(Error::InvalidFloor(
                "it does not decode or its signatures do not verify".to_owned(),
            ));
        };
        // The double-sign guard at start: the chain shows this key signed a round the record
        // does not know (see `guard`).
        let round = (epoch, finalization.proposal.round.view().get());
        let me = node.public_key()?;
        if let Some(record) = &record {
            if record.proves_another_signer(round) && certifier.signed_by(&finalization, epoch, &me)
            {
                return Err(Error::DoubleSign {
                    epoch: round.0,
                    view: round.1,
                });
            }
        }
    }
    spawn_node(
        context,
        config,
        chain,
        blob_source,
        node,
        certifier,
        Some((partition.to_owned(), record)),
    )
}

/// Validates `config` and spawns a full node on `context`: it joins the network with
/// `config.signer_seed` as its p2p identity (which must not be in the committee), keeps up
/// with the finalized chain through the sync protocol and serves blocks and runs to peers.
fn launch_full<E: Rt, C: Chain, B: BlobSource>(
    context: E,
    config: Config,
    chain: C,
    blob_source: B,
) -> Result<Consensus, Error> {
    let node = Node::from_config(&config, true)?;
    if node.peers.committee.position(&node.me).is_some() {
        return Err(Error::IsAValidator(hex::encode(node.me.as_ref())));
    }
    let certifier =
        certify::Certifier::new(chain.clone(), &config.namespace, config.validators.clone());
    spawn_node(context, config, chain, blob_source, node, certifier, None)
}

/// What a validator runs engines with: its journal's partition prefix and its signing record.
type Voting = (String, Option<Arc<guard::SigningRecord>>);

/// Most distinct offences the evidence task remembers (to hand each to the chain once).
const MAX_REMEMBERED_OFFENCES: usize = 1024;

/// Turns the reports of conflicting votes — the engines' and the votes witness's — into
/// checked evidence for the chain (see `evidence.rs`).
fn evidence_task<E: Rt, C: Chain>(
    context: &E,
    chain: C,
    certifier: certify::Certifier<C>,
    namespace: Vec<u8>,
    mut conflicts: glue::Conflicts,
) -> commonware_runtime::Handle<()> {
    context.child("evidence").spawn(move |_| async move {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(activity) = conflicts.recv().await {
            let Some(evidence) = evidence::to_evidence(&certifier, &activity) else {
                continue;
            };
            if !evidence.verify(&namespace) {
                tracing::warn!(offender = %evidence.offender, "reported conflicting votes do not verify; dropped");
                continue;
            }
            if seen.len() >= MAX_REMEMBERED_OFFENCES {
                seen.clear();
            }
            if seen.insert((evidence.epoch, evidence.offender)) {
                tracing::warn!(
                    offender = %evidence.offender,
                    epoch = evidence.epoch,
                    view = evidence.view,
                    "a validator equivocated"
                );
                chain.equivocation(evidence);
            }
        }
    })
}

/// Spawns the services and the epoch orchestrator; a validator (`partition` given) runs an
/// engine in every epoch whose committee holds its key.
fn spawn_node<E: Rt, C: Chain, B: BlobSource>(
    context: E,
    config: Config,
    chain: C,
    blob_source: B,
    node: Node,
    certifier: certify::Certifier<C>,
    voting: Option<Voting>,
) -> Result<Consensus, Error> {
    let public_key = node.public_key()?;
    let signer = voting.as_ref().map(|_| node.signer.clone());
    let (partition, record) = voting.unzip();
    let record = record.flatten();
    let guard = record.clone().map(|record| (record, public_key));
    let (fetcher_in, fetcher_out) = oneshot::channel();
    let handle = context.spawn(move |context| async move {
        let (services, fetcher) = start_services(
            &context,
            &config,
            chain.clone(),
            blob_source,
            node,
            certifier.clone(),
            signer.is_some(),
            guard,
        );
        let _ = fetcher_in.send(fetcher);
        let judge = evidence_task(
            &context,
            chain.clone(),
            certifier.clone(),
            config.namespace.clone(),
            services.conflicts,
        );
        let orchestrator = epochs::Orchestrator {
            context: context.child("epochs"),
            chain,
            config,
            signer,
            certifier,
            votes: services.votes,
            certificates: services.certificates,
            resolver: services.resolver,
            application: services.application,
            reporter: services.reporter,
            oracle: services.oracle,
            partition: partition.unwrap_or_default(),
            record,
        };
        let mut handles = services.handles;
        handles.push(judge);
        handles.push(context.child("epochs").spawn(move |_| async move {
            let error = orchestrator.run().await;
            tracing::error!(%error, "consensus stopped");
        }));
        // Run until any part stops; the supervision tree then aborts the rest.
        let stopped = commonware_runtime::Handle::select(handles).await;
        tracing::error!(?stopped, "consensus stopped");
    });
    Ok(Consensus {
        handle,
        public_key,
        fetcher: fetcher_out,
    })
}
