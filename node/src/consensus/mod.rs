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
mod chain;
mod epochs;
#[cfg(test)]
mod equivocator;
mod evidence;
mod frames;
#[cfg(test)]
mod fuzz;
mod glue;
pub mod guard;
mod launch;
pub mod links;
mod network;
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
pub use blobs::{BlobFetcher, BlobSource, FetchClass, FetchError};
pub use chain::{
    BlockLinks, BlockSource, Chain, CheckedEpochEnd, EpochEnd, EpochStart, FinalizedRun, Member,
    RunLimits, SnapshotBlock, SnapshotInstall,
};
use commonware_codec::{Copying, Decode as _, DecodeExt as _};
use commonware_consensus::simplex::{scheme::ed25519, types::Finalization};
use commonware_cryptography::{blake3, certificate::Verifier as _, ed25519 as ed};
use commonware_parallel::Sequential;
use commonware_runtime::{
    Clock, Metrics, Network as RNetwork, Resolver, Runner as _, Spawner, Storage, Supervisor as _,
};
use commonware_utils::channel::oneshot;
use launch::{launch, launch_full, App};
use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

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
