//! The contract between consensus and the ledger: the [`Chain`] trait consensus drives, and the
//! values that cross it (block links, epoch ends, snapshot parts, committees, run limits).
//!
//! Nothing here names a commonware type: the node's chain module implements this trait without
//! knowing which consensus engine calls it (see the [module documentation](super)).

use agora_primitives::Hash;
use std::{future::Future, net::SocketAddr};

/// What consensus needs from the chain. Implemented by the node's chain module.
///
/// All methods may be called concurrently from several tasks. See the
/// [module documentation](super) for when each is called and what it must guarantee.
pub trait Chain: Clone + Send + Sync + 'static {
    /// Hash of the genesis block (the payload of simplex's genesis, view 0).
    fn genesis(&self) -> Hash;

    /// Builds a new block extending `parent` for view `view` of epoch `epoch`, stores it (so
    /// that [`Chain::block_bytes`] returns it) and returns its hash, or `None` if it cannot.
    /// If `parent` is the last block of `epoch`, returns `parent` itself (a *re-proposal*, see
    /// [Epochs](super#epochs)).
    ///
    /// Called only once `parent` is locally known. May wait (for the block time since the
    /// parent) but must finish well within [`Timeouts::leader`](super::Timeouts::leader).
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

    /// Block `block` (and all of its ancestors) is finalized, proven by `certificate` (an encoded
    /// commonware finalization, see [`verify_certificate`](super::verify_certificate)). Must
    /// persist durably before returning. Must be idempotent, and must accept blocks at or below the
    /// finalized tip (they are reported again after a restart).
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

    /// The finalized blocks at heights `from..=e`, oldest first, with the finalization certificate
    /// of the block at `e`, for a peer catching up (see [`sync`](super::sync)). `e` is the highest
    /// height such that the run is within `limits`, does not pass the last block of `from`'s epoch
    /// (a peer verifies the certificate with the committee it knows from the state before `from`),
    /// and the block at `e` was finalized by a certificate of its own (not only through a
    /// descendant's). `None` if there is no such run (nothing finalized at `from` yet, or `from` is
    /// 0).
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

    /// Extrinsics submitted to this node from now on, to pass to every peer (see
    /// [`relay`](super::relay)); `None` if it has nothing to relay.
    fn relay_queue(&self) -> Option<tokio::sync::broadcast::Receiver<Vec<u8>>> {
        None
    }

    /// A batch of extrinsics a peer relayed, in its order: pool those that are valid, without
    /// relaying them again. May verify (and so block) for a while: it runs on the relay's task.
    fn receive_transactions(&self, batch: Vec<Vec<u8>>) {
        let _ = batch;
    }

    /// The epoch of the next block to finalize and the block that opens it. Polled every
    /// [`Timeouts::block_request`](super::Timeouts::block_request); consensus switches engines when
    /// it changes. Defaults to epoch 0, opened by genesis, forever.
    fn epoch(&self) -> EpochStart {
        EpochStart {
            epoch: 0,
            opened_by: self.genesis(),
        }
    }

    /// The committee of `epoch` as the finalized state records it, or `None` if the state
    /// does not know it (not elected yet, or long dropped). The default, `None`, makes epoch
    /// 0's committee [`Config::validators`](super::Config::validators).
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

    /// The operator's checkpoint (`--checkpoint`), if any: the epoch whose last block it names,
    /// and that block's hash. State sync then starts from that block, taken on the operator's
    /// word, instead of from the genesis committee (see [`snapshot`](super::snapshot#trust)).
    /// `None` (the default): no checkpoint.
    fn checkpoint(&self) -> Option<(u64, Hash)> {
        None
    }

    /// The block a peer starting empty may take this node's state at (see
    /// [`snapshot`](super::snapshot)): the newest finalized block with a certificate of its own,
    /// encoded, and that certificate. `None` (the default) serves no snapshots.
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

    /// Installs a checked snapshot as the finalized head (see [`snapshot`](super::snapshot));
    /// `false` if the chain is no longer at genesis or cannot write it.
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
    /// Part of a sync run that passed every check ([`sync`](super::sync)): its hash links lead from
    /// a block this node holds to the block a valid finality certificate of that block's epoch
    /// names, so it is a block of the finalized chain.
    Certified,
}

/// The last block of an epoch and the committee it elected for the next one, as a peer
/// serves it for state sync (see [`snapshot`](super::snapshot)).
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

/// An epoch end a joiner checked ([`snapshot`](super::snapshot)).
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

/// A snapshot checked by [`snapshot`](super::snapshot), for [`Chain::install_snapshot`].
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
    /// Its p2p address, if the chain records one (else [`Config`](super::Config) must give it).
    pub address: Option<SocketAddr>,
}

/// Where the finalized chain stands in epochs (see [Epochs](super#epochs)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpochStart {
    /// The epoch of the next block to finalize.
    pub epoch: u64,
    /// The last block of the previous epoch (genesis for epoch 0): the genesis of this
    /// epoch's engine, which the epoch's first block extends.
    pub opened_by: Hash,
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
