//! Whole-node simulation: four validators, each running the real chain (runtime, transaction
//! pool, RocksDB in a temporary directory) under the real consensus and p2p stack, on
//! commonware's deterministic runtime, under one fault per scenario. A seed fixes everything
//! (the runtime's scheduling and clock, the faults, the load), so a failing seed replays
//! exactly.
//!
//! # A run
//!
//! - Validators //Alice, //Bob, //Charlie and //Dave (indices 0–3) of a chain with epochs of
//!   [`EPOCH_LENGTH`] blocks and a block time of [`BLOCK_TIME`]; each reports equivocation it
//!   sees with its own account. They start at random moments within 0.7 s: started at one
//!   instant, their p2p dialers tick in step (virtual time has no jitter) and two nodes that
//!   dial each other collide on every tick, a connection no real network would lose.
//! - Each validator is dialed at a stable address where a [`proxy`] forwards to its current
//!   run (the deterministic runtime never frees a port, so a restarted validator listens
//!   anew, as a restarted process binds its port anew).
//! - A client submits signed transfers from //Eve and //Ferdie throughout, each to a random
//!   running validator, at the sender's next finalized nonce (so a transfer lost with a
//!   crashed pool is simply sent again).
//! - For [`FAULT_PHASE`] of virtual time the scenario's fault acts; then every fault is lifted
//!   (crashed validators restart, partitions heal, links turn clean) and the run goes on until
//!   every validator that follows the protocol has finalized [`HEAL_PROGRESS`] blocks past the
//!   highest height any reached before the heal, and at least [`MIN_HEIGHT`] in all (so every
//!   run crosses at least two epoch changes).
//!
//! # Assertions after every run
//!
//! - *Agreement*: no two validators running the chain finalized different blocks at any
//!   height.
//! - *State*: at every finalized height they share, their state trees give the same balances
//!   and nonces of the senders, and each validator's flat state equals its tree at its own
//!   finalized head (its RocksDB is consistent).
//! - *Liveness*: the chain finalizes again within [`HEAL_BOUND`] of virtual time after the
//!   heal.
//! - *Progress*: transfers were finalized.
//! - Per scenario: see [`Fault`].
//!
//! # Scenarios, named after their fault
//!
//! - `crash_restart`: validators are killed (their tasks dropped, unflushed memory lost) and
//!   restarted on their RocksDB and consensus journal, one at a time, at random.
//! - `partition_heal`: the validators are split into two random groups that hear nothing from
//!   each other, healed and split again.
//! - `lossy_links`: every message is lost with probability 1/5 and otherwise delayed up to
//!   400 ms.
//! - `equivocating_validator`: //Dave signs two conflicting votes for every vote it hears
//!   (commonware's `conflicter`) in epoch 0; it must be reported, slashed and dropped from the
//!   committee of a later epoch.
//! - `withholding_validator`: //Dave runs but nothing it sends arrives.
//! - `invalid_blocks`: //Dave proposes blocks with a forged state root; none is ever
//!   finalized.
//!
//! # Seeds
//!
//! Each scenario runs `AGORA_SIM_SEEDS` seeds (default [`CI_SEEDS`]) from
//! `AGORA_SIM_FIRST_SEED` (default 0); `AGORA_SIM_SCENARIO` runs only the scenario of that
//! name. `scripts/sim.sh --seeds N` runs them in a release build. A failure names its scenario
//! and seed.

use super::links::{Delivery, Links};
use super::{launch, Chain as _, Config, Consensus, Timeouts};
use crate::chain::{self, millis_since_epoch, Chain, Host};
use crate::metrics::Metrics;
use crate::storage::Database;
use agora_primitives::storage::StateRead;
use agora_primitives::{AccountId, Hash};
use agora_runtime::block::Block;
use agora_runtime::executive::immortal_extra;
use agora_runtime::extrinsic::Extrinsic;
use agora_runtime::genesis::{dev_account, dev_consensus_seed, ChainSpec, ValidatorSpec};
use agora_runtime::RuntimeCall;
use commonware_runtime::{deterministic, Clock as _, Runner as _, Spawner as _, Supervisor as _};
use futures::future::BoxFuture;
use parity_scale_codec::{Compact, Decode as _, Encode as _};
use sp_core::Pair as _;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Blocks per epoch.
const EPOCH_LENGTH: u64 = 8;
/// The chain's block time.
const BLOCK_TIME: Duration = Duration::from_millis(100);
/// How long the fault acts.
const FAULT_PHASE: Duration = Duration::from_secs(8);
/// Blocks every protocol-following validator finalizes after the heal.
const HEAL_PROGRESS: u64 = 6;
/// Finalized height every run reaches: two epoch changes and then some.
const MIN_HEIGHT: u64 = 2 * EPOCH_LENGTH + 4;
/// Virtual time within which the chain must finalize again after the heal.
const HEAL_BOUND: Duration = Duration::from_secs(60);
/// Seeds per scenario in the test suite.
const CI_SEEDS: u64 = 40;
/// The committee never grows past the four validators (sizes the p2p mailboxes).
const MAX_COMMITTEE: u32 = 4;
/// Validators.
const NAMES: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];
/// The byzantine validator of the byzantine scenarios.
const BYZANTINE: usize = 3;
/// Accounts the client sends transfers from.
const SENDERS: [&str; 2] = ["Eve", "Ferdie"];
/// How often the client submits.
const CLIENT_INTERVAL: Duration = Duration::from_millis(150);

/// The fault of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    CrashRestart,
    PartitionHeal,
    LossyLinks,
    EquivocatingValidator,
    WithholdingValidator,
    InvalidBlocks,
}

impl Fault {
    fn name(self) -> &'static str {
        match self {
            Fault::CrashRestart => "crash_restart",
            Fault::PartitionHeal => "partition_heal",
            Fault::LossyLinks => "lossy_links",
            Fault::EquivocatingValidator => "equivocating_validator",
            Fault::WithholdingValidator => "withholding_validator",
            Fault::InvalidBlocks => "invalid_blocks",
        }
    }

    /// Whether //Dave deviates from the protocol.
    fn byzantine(self) -> bool {
        matches!(
            self,
            Fault::EquivocatingValidator | Fault::WithholdingValidator | Fault::InvalidBlocks
        )
    }
}

/// SplitMix64: the simulation's own draws (faults, load), seeded from the run's seed.
#[derive(Debug)]
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..bound` (`bound` > 0; the modulo bias is irrelevant here).
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from + 1))
    }
}

/// The chain's host on the deterministic runtime: its virtual clock and timers; blocking work
/// runs in place (the runtime is single-threaded, and in place is deterministic).
struct SimHost {
    context: deterministic::Context,
}

impl Host for SimHost {
    fn now_ms(&self) -> u64 {
        millis_since_epoch(self.context.current())
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'_, ()> {
        Box::pin(self.context.sleep(duration))
    }

    fn run_blocking(&self, work: Box<dyn FnOnce() + Send>) -> BoxFuture<'_, ()> {
        work();
        Box::pin(std::future::ready(()))
    }
}

/// The links of a run: a partition, loss and delay, and a silenced validator.
#[derive(Debug)]
struct SimLinks {
    state: Mutex<LinkState>,
}

#[derive(Debug)]
struct LinkState {
    draws: Draws,
    /// Group of each validator key while partitioned.
    groups: Option<BTreeMap<[u8; 32], u8>>,
    /// Chance of loss, in percent.
    loss_percent: u64,
    /// Longest delay.
    max_delay_ms: u64,
    /// A validator nothing is heard from.
    silenced: Option<[u8; 32]>,
}

impl SimLinks {
    fn new(seed: u64) -> Self {
        SimLinks {
            state: Mutex::new(LinkState {
                draws: Draws(seed ^ 0x6c69_6e6b),
                groups: None,
                loss_percent: 0,
                max_delay_ms: 0,
                silenced: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinkState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lifts every fault.
    fn heal(&self) {
        let mut state = self.lock();
        state.groups = None;
        state.loss_percent = 0;
        state.max_delay_ms = 0;
        state.silenced = None;
    }
}

impl Links for SimLinks {
    fn deliver(&self, from: &[u8; 32], to: &[u8; 32]) -> Delivery {
        let mut state = self.lock();
        if state.silenced.as_ref() == Some(from) {
            return Delivery::Never;
        }
        if let Some(groups) = &state.groups {
            if groups.get(from) != groups.get(to) {
                return Delivery::Never;
            }
        }
        if state.loss_percent > 0 && state.draws.below(100) < state.loss_percent {
            return Delivery::Never;
        }
        if state.max_delay_ms > 0 {
            let longest = state.max_delay_ms;
            let delay = state.draws.millis(0, longest);
            return Delivery::After(delay);
        }
        Delivery::Now
    }
}

/// A validator that proposes blocks with a forged state root (`invalid_blocks`); otherwise
/// the real chain.
#[derive(Clone)]
struct Forger {
    chain: Chain,
    /// Its forged blocks, by hash, to serve to peers.
    forged: Arc<Mutex<HashMap<Hash, Vec<u8>>>>,
}

impl super::Chain for Forger {
    fn genesis(&self) -> Hash {
        self.chain.genesis()
    }

    async fn propose(&self, parent: Hash, epoch: u64, view: u64) -> Option<Hash> {
        let built = self.chain.propose(parent, epoch, view).await?;
        if built == parent {
            return Some(built);
        }
        let mut block = Block::decode(&mut &self.chain.block_bytes(built)?[..]).ok()?;
        block.header.state_root = Hash::of(b"a state root no execution gives");
        let hash = block.hash();
        let mut forged = self.forged.lock().unwrap_or_else(|e| e.into_inner());
        forged.insert(hash, block.encode());
        Some(hash)
    }

    async fn verify(&self, parent: Hash, block: Hash, epoch: u64) -> bool {
        self.chain.verify(parent, block, epoch).await
    }

    async fn finalized(&self, block: Hash, certificate: Vec<u8>) {
        let forged = self
            .forged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&block);
        assert!(!forged, "a forged block {block} was finalized");
        self.chain.finalized(block, certificate).await;
    }

    fn block_bytes(&self, block: Hash) -> Option<Vec<u8>> {
        let forged = self.forged.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bytes) = forged.get(&block) {
            return Some(bytes.clone());
        }
        drop(forged);
        self.chain.block_bytes(block)
    }

    fn receive_block(&self, bytes: Vec<u8>) -> Option<Hash> {
        self.chain.receive_block(bytes)
    }

    fn has_block(&self, block: Hash) -> bool {
        let forged = self.forged.lock().unwrap_or_else(|e| e.into_inner());
        forged.contains_key(&block) || self.chain.has_block(block)
    }

    fn finalized_height(&self) -> u64 {
        self.chain.finalized_height()
    }

    fn finalized_run(
        &self,
        from: u64,
        max_blocks: usize,
        max_bytes: usize,
    ) -> Option<(Vec<Vec<u8>>, Vec<u8>)> {
        self.chain.finalized_run(from, max_blocks, max_bytes)
    }

    fn connects(&self, block: Hash) -> bool {
        self.chain.connects(block)
    }

    fn relay_queue(&self) -> Option<tokio::sync::broadcast::Receiver<Vec<u8>>> {
        super::Chain::relay_queue(&self.chain)
    }

    fn receive_transactions(&self, batch: Vec<Vec<u8>>) {
        self.chain.receive_transactions(batch);
    }

    fn epoch(&self) -> super::EpochStart {
        self.chain.epoch()
    }

    fn committee(&self, epoch: u64) -> Option<Vec<super::Member>> {
        self.chain.committee(epoch)
    }

    fn block_epoch(&self, block: Hash) -> Option<u64> {
        self.chain.block_epoch(block)
    }

    fn equivocation(&self, evidence: pallet_staking::equivocation::Equivocation) {
        self.chain.equivocation(evidence);
    }

    fn last_finalized(&self) -> Option<Vec<u8>> {
        self.chain.last_finalized()
    }
}

/// The state tree at one root of one database.
struct At<'a> {
    db: &'a Database,
    root: Hash,
}

impl StateRead for At<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.db
            .state_at(self.root, key)
            .expect("the state tree of a finalized block is complete")
    }
}

/// The simulated network's address of validator `index`: its stable address (`incarnation`
/// 0, where a [`proxy`] listens, and where every peer dials it), or where its
/// `incarnation`-th run listens (from 1). The deterministic runtime never frees a bound port,
/// so every run of a validator listens anew behind its stable address, as a restarted node
/// binds its port anew.
fn address(index: usize, incarnation: u16) -> SocketAddr {
    let index = u16::try_from(index).expect("four validators");
    SocketAddr::new(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        5000 + 100 * incarnation + index,
    )
}

/// The keys of a dev name.
struct DevKeys {
    /// Its dev account (`//Name`, sr25519): a validator's account and author.
    account: AccountId,
    /// Signs its transfers and reports: ed25519, whose signatures are deterministic (sr25519
    /// signs with fresh randomness, and a replayed seed must produce the same blocks).
    signer: sp_core::ed25519::Pair,
    /// The account of `signer`, funded at genesis.
    signer_account: AccountId,
    consensus_seed: [u8; 32],
    consensus_public: [u8; 32],
}

/// The keys of `name` (one of [`NAMES`] or [`SENDERS`]), derived once: deriving `//Name`
/// runs PBKDF2, far too slow to repeat on every use.
fn keys(name: &str) -> &'static DevKeys {
    static KEYS: OnceLock<BTreeMap<&'static str, DevKeys>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        NAMES
            .iter()
            .chain(SENDERS.iter())
            .map(|name| {
                let signer = sp_core::ed25519::Pair::from_seed(
                    blake3::hash(format!("agora-sim/{name}").as_bytes()).as_bytes(),
                );
                let consensus_seed = dev_consensus_seed(name);
                let keys = DevKeys {
                    account: dev_account(name),
                    signer_account: AccountId(signer.public().0),
                    signer,
                    consensus_seed,
                    consensus_public: sp_core::ed25519::Pair::from_seed(&consensus_seed)
                        .public()
                        .0,
                };
                (*name, keys)
            })
            .collect()
    });
    &all[name]
}

fn consensus_public(name: &str) -> [u8; 32] {
    keys(name).consensus_public
}

fn account(name: &str) -> AccountId {
    keys(name).account
}

/// The account `name` signs transfers and reports with.
fn signer_account(name: &str) -> AccountId {
    keys(name).signer_account
}

fn spec() -> ChainSpec {
    static DEVELOPMENT: OnceLock<ChainSpec> = OnceLock::new();
    let mut spec = DEVELOPMENT.get_or_init(ChainSpec::development).clone();
    spec.name = "Agora Simulation".to_owned();
    spec.id = "agora_sim".to_owned();
    spec.genesis.epoch_length = EPOCH_LENGTH;
    spec.genesis.balances.extend(
        NAMES
            .iter()
            .chain(SENDERS.iter())
            .map(|name| (signer_account(name), agora_runtime::genesis::DEV_ENDOWMENT)),
    );
    spec.validators = NAMES
        .iter()
        .map(|name| ValidatorSpec {
            account: account(name),
            consensus_key: Hash(consensus_public(name)),
            bond: agora_runtime::genesis::GENESIS_VALIDATOR_BOND,
            // Left to each node's configuration (the stable addresses of `address`).
            address: String::new(),
        })
        .collect();
    spec
}

/// One validator's slot in a run.
struct Validator {
    index: usize,
    dir: PathBuf,
    chain: Option<Chain>,
    consensus: Option<Consensus>,
    /// Runs started so far (the current one's, while running).
    incarnation: u16,
    /// The incarnation its proxy forwards to.
    listening: Arc<AtomicU16>,
}

/// What a run shares.
struct Run {
    fault: Fault,
    spec: ChainSpec,
    links: Arc<SimLinks>,
}

impl Run {
    /// Opens validator `v`'s chain on its directory and starts its consensus, listening at
    /// the address of its next incarnation (see [`address`]).
    async fn start(&self, context: &deterministic::Context, v: &mut Validator) {
        v.incarnation += 1;
        v.listening.store(v.incarnation, Ordering::SeqCst);
        let name = NAMES[v.index];
        let db_dir = v.dir.join("db");
        // A killed validator's tasks may hold its database a moment longer.
        let mut attempts = 0u32;
        let db = loop {
            match Database::open(&db_dir) {
                Ok(db) => break Arc::new(db),
                Err(error) => {
                    attempts += 1;
                    assert!(
                        attempts < 100,
                        "cannot reopen {}: {error}",
                        db_dir.display()
                    );
                    context.sleep(Duration::from_millis(10)).await;
                }
            }
        };
        let host = Arc::new(SimHost {
            context: context.child("host").with_attribute("index", v.index),
        });
        let chain = Chain::open_on(
            host,
            db,
            self.spec.clone(),
            account(name),
            BLOCK_TIME,
            None,
            Metrics::new(),
        )
        .expect("the chain opens");
        chain.set_reporter(keys(name).signer);
        let validators: Vec<([u8; 32], SocketAddr)> = NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| (consensus_public(name), address(i, 0)))
            .collect();
        let namespace = chain::consensus_namespace(&self.spec.id, &chain.genesis_hash());
        let mut config = Config::new(
            address(v.index, v.incarnation),
            keys(name).consensus_seed,
            validators,
            namespace,
        );
        config.timeouts = Timeouts::for_block_time(BLOCK_TIME);
        config.max_block_size = u32::try_from(chain::MAX_BLOCK_BYTES).unwrap_or(u32::MAX);
        config.signing_record = Some(v.dir.join("consensus_signed_through"));
        config.links = Some(self.links.clone() as Arc<dyn Links>);
        config.max_committee = MAX_COMMITTEE;
        let node = context
            .child("validator")
            .with_attribute("index", v.index)
            .with_attribute("incarnation", v.incarnation);
        let partition = format!("v{}", v.index);
        let consensus = if self.fault == Fault::InvalidBlocks && v.index == BYZANTINE {
            let forger = Forger {
                chain: chain.clone(),
                forged: Arc::default(),
            };
            launch(node, config, forger, (), &partition)
        } else {
            launch(node, config, chain.clone(), (), &partition)
        };
        v.consensus = Some(consensus.expect("a valid configuration"));
        v.chain = Some(chain);
    }

    /// Kills validator `v`: its tasks are aborted and its memory dropped; its directory stays.
    fn kill(v: &mut Validator) {
        if let Some(consensus) = v.consensus.take() {
            consensus.abort();
        }
        v.chain = None;
    }
}

/// Listens at validator `index`'s stable address and forwards every connection, byte for
/// byte, to the incarnation `listening` names (a connection while it is down is closed).
fn proxy(
    context: &deterministic::Context,
    index: usize,
    listening: Arc<AtomicU16>,
) -> commonware_runtime::Handle<()> {
    use commonware_runtime::{Listener as _, Network as _};
    context.child("proxy").spawn(move |context| async move {
        let mut listener = context
            .bind(address(index, 0))
            .await
            .expect("the stable address is free");
        while let Ok((_, client_sink, client_stream)) = listener.accept().await {
            let target = address(index, listening.load(Ordering::SeqCst));
            context
                .child("connection")
                .spawn(move |context| async move {
                    let Ok((node_sink, node_stream)) = context.dial(target).await else {
                        return; // Down: the peer sees the connection close and dials again.
                    };
                    let up = context
                        .child("up")
                        .spawn(move |_| pump(client_stream, node_sink));
                    let down = context
                        .child("down")
                        .spawn(move |_| pump(node_stream, client_sink));
                    // Either direction closing closes the connection.
                    let _ = commonware_runtime::Handle::select(vec![up, down]).await;
                });
        }
    })
}

/// Copies `from` to `to` until either closes.
async fn pump(mut from: impl commonware_runtime::Stream, mut to: impl commonware_runtime::Sink) {
    loop {
        let buffered = from.peek(1 << 16).len();
        let Ok(bytes) = from.recv(buffered.max(1)).await else {
            return;
        };
        if to.send(bytes).await.is_err() {
            return;
        }
    }
}

/// The equivocating //Dave: commonware's conflicter on epoch 0's votes, and no chain.
fn start_equivocator(
    context: &deterministic::Context,
    spec: &ChainSpec,
    genesis: Hash,
) -> Vec<commonware_runtime::Handle<()>> {
    use super::{max_message_size, mux, start_network, Channels, Node, Scheme};
    use commonware_consensus::simplex::mocks::conflicter;
    use commonware_p2p::AddressableManager as _;
    let validators: Vec<([u8; 32], SocketAddr)> = NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| (consensus_public(name), address(i, 0)))
        .collect();
    let namespace = chain::consensus_namespace(&spec.id, &genesis);
    let mut config = Config::new(
        address(BYZANTINE, 1),
        keys(NAMES[BYZANTINE]).consensus_seed,
        validators,
        namespace.clone(),
    );
    config.max_committee = MAX_COMMITTEE;
    let node = Node::from_config(&config, false).expect("valid configuration");
    let scheme = Scheme::signer(
        &super::consensus_namespace(&namespace),
        node.peers.committee.clone(),
        node.signer.clone(),
    )
    .expect("a member");
    let byzantine = context.child("byzantine");
    let max_message = max_message_size(&config, config.max_committee);
    let (network, channels, mut oracle) =
        start_network(&byzantine, &config, node.signer, &node.peers, max_message);
    let Channels {
        votes,
        certificates,
        resolver,
        blocks,
        sync,
        transactions,
        blobs,
    } = channels;
    // The channels it has no use for stay open and are drained, as an honest node's are: a
    // closed one would disconnect its peers.
    let drains = [certificates, resolver, blocks, sync, transactions, blobs].map(
        |(sender, mut receiver)| {
            byzantine.child("drain").spawn(move |_| async move {
                let _sender = sender;
                while commonware_p2p::Receiver::recv(&mut receiver).await.is_ok() {}
            })
        },
    );
    let conflicter_context = byzantine.child("conflicter");
    let (mut votes, muxer) = mux(&byzantine, votes);
    let task = byzantine.child("run").spawn(move |_| async move {
        let _ = oracle.track(
            0,
            commonware_p2p::AddressableTrackedPeers::new(
                node.peers.primary.clone(),
                node.peers.secondary.clone(),
            ),
        );
        let votes = votes.register(0).await.expect("a fresh subchannel");
        let conflicter =
            conflicter::Conflicter::<_, Scheme, commonware_cryptography::blake3::Blake3>::new(
                conflicter_context,
                conflicter::Config { scheme },
            )
            .start(votes);
        let _ = conflicter.await;
    });
    let mut handles = vec![network, muxer, task];
    handles.extend(drains);
    handles
}

/// What a run leaves to check once the runtime has stopped.
struct Outcome {
    /// Per validator running the chain: its finalized block hashes by height (from 1).
    finalized: Vec<Vec<Hash>>,
    /// Per validator running the chain: whether it follows the protocol.
    follows: Vec<bool>,
    /// Per validator running the chain and per height: the senders' (nonce, free balance).
    senders: Vec<Vec<Vec<(u32, u128)>>>,
    /// Heights before and after the heal, and the virtual time it took.
    healed: (u64, u64, Duration),
    /// Committees (consensus keys) of the epochs the finalized chain reached.
    committees: Vec<Vec<[u8; 32]>>,
    /// //Dave's active bond at the end.
    byzantine_bond: u128,
}

/// The senders' (nonce, free balance) at `root` of `db`.
fn sender_state(db: &Database, root: Hash) -> Vec<(u32, u128)> {
    let at = At { db, root };
    SENDERS
        .iter()
        .map(|name| {
            let who = signer_account(name);
            (
                agora_runtime::System::account_nonce(&at, &who),
                agora_runtime::Balances::free_balance(&at, &who),
            )
        })
        .collect()
}

/// Submits each sender's transfer at its next finalized nonce to a random running validator.
fn submit_load(validators: &[Validator], draws: &mut Draws, genesis: Hash) {
    let running: Vec<&Chain> = validators.iter().filter_map(|v| v.chain.as_ref()).collect();
    if running.is_empty() {
        return;
    }
    for name in SENDERS {
        let pair = &keys(name).signer;
        let who = signer_account(name);
        let chain = running[usize::try_from(draws.below(running.len() as u64)).unwrap_or(0)];
        let nonce = agora_runtime::System::account_nonce(&chain.finalized_view(), &who);
        // The same transfer for the same nonce, so resubmitting it anywhere is harmless.
        let call = RuntimeCall::Balances(pallet_balances::Call::Transfer {
            dest: account(NAMES[0]),
            value: Compact(1_000 + u128::from(nonce)),
        });
        let extrinsic = Extrinsic::sign(pair, call, immortal_extra(nonce, 0), &genesis, &genesis);
        // Already pooled or already included: fine, it is sent again until finalized.
        let _ = chain.submit(&extrinsic.encode());
    }
}

/// The running validators that follow the protocol.
fn honest(fault: Fault) -> Vec<usize> {
    (0..NAMES.len())
        .filter(|&i| !(fault.byzantine() && i == BYZANTINE))
        .collect()
}

fn min_height(validators: &[Validator], among: &[usize]) -> u64 {
    among
        .iter()
        .map(|&i| {
            validators[i]
                .chain
                .as_ref()
                .map_or(0, |chain| chain.finalized_height())
        })
        .min()
        .unwrap_or(0)
}

/// Runs `fault` with `seed` and returns what to check.
fn simulate(fault: Fault, seed: u64) -> Outcome {
    // RocksDB syncs every finalized block; on a memory file system that costs nothing.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm)
    } else {
        tempfile::tempdir()
    }
    .expect("a temporary directory");
    let config = deterministic::Config::new()
        .with_seed(seed)
        .with_timeout(Some(Duration::from_secs(3_600)));
    let base = dir.path().to_path_buf();
    deterministic::Runner::new(config)
        .start(|context| async move { run(context, fault, seed, &base).await })
}

async fn run(context: deterministic::Context, fault: Fault, seed: u64, base: &Path) -> Outcome {
    let mut draws = Draws(seed);
    let spec = spec();
    let genesis = spec.genesis().block.hash();
    let shared = Run {
        fault,
        spec: spec.clone(),
        links: Arc::new(SimLinks::new(seed)),
    };
    let mut validators: Vec<Validator> = (0..NAMES.len())
        .map(|index| Validator {
            index,
            dir: base.join(NAMES[index]),
            chain: None,
            consensus: None,
            incarnation: 0,
            listening: Arc::new(AtomicU16::new(0)),
        })
        .collect();
    let proxies: Vec<_> = validators
        .iter()
        .map(|v| proxy(&context, v.index, v.listening.clone()))
        .collect();
    let mut byzantine_tasks = Vec::new();
    for v in &mut validators {
        // Nodes never start at one instant. Started together, every node's p2p dialer ticks
        // in step (the virtual clock has no jitter), so two nodes that dial each other
        // collide on every tick and never connect.
        context.sleep(draws.millis(0, 700)).await;
        if fault == Fault::EquivocatingValidator && v.index == BYZANTINE {
            v.listening.store(1, Ordering::SeqCst);
            byzantine_tasks = start_equivocator(&context, &spec, genesis);
            continue;
        }
        shared.start(&context, v).await;
    }
    {
        let mut links = shared.links.lock();
        match fault {
            Fault::LossyLinks => {
                links.loss_percent = 20;
                links.max_delay_ms = 400;
            }
            Fault::WithholdingValidator => {
                links.silenced = Some(consensus_public(NAMES[BYZANTINE]));
            }
            _ => {}
        }
    }

    // The fault phase.
    let started = context.current();
    let tick = CLIENT_INTERVAL;
    let mut next_fault = context.current() + draws.millis(500, 2_000);
    let mut fault_ends = None;
    while context.current() < started + FAULT_PHASE {
        context.sleep(tick).await;
        submit_load(&validators, &mut draws, genesis);
        let now = context.current();
        if let Some((end, what)) = fault_ends {
            if now >= end {
                match what {
                    Pending::Restart(i) => restart(&shared, &context, &mut validators, i).await,
                    Pending::Heal => shared.links.lock().groups = None,
                }
                fault_ends = None;
                next_fault = now + draws.millis(300, 1_500);
            }
            continue;
        }
        if now < next_fault {
            continue;
        }
        match fault {
            Fault::CrashRestart => {
                let i = usize::try_from(draws.below(NAMES.len() as u64)).unwrap_or(0);
                Run::kill(&mut validators[i]);
                fault_ends = Some((now + draws.millis(200, 3_000), Pending::Restart(i)));
            }
            Fault::PartitionHeal => {
                // A random split into two non-empty groups.
                let mask = 1 + draws.below((1 << NAMES.len()) - 2);
                let groups = NAMES
                    .iter()
                    .enumerate()
                    .map(|(i, name)| (consensus_public(name), u8::from(mask >> i & 1 == 1)))
                    .collect();
                shared.links.lock().groups = Some(groups);
                fault_ends = Some((now + draws.millis(500, 4_000), Pending::Heal));
            }
            _ => next_fault = started + FAULT_PHASE,
        }
    }

    // The heal.
    if let Some((_, Pending::Restart(i))) = fault_ends {
        restart(&shared, &context, &mut validators, i).await;
    }
    shared.links.heal();
    let followers = honest(fault);
    let before = followers
        .iter()
        .filter_map(|&i| validators[i].chain.as_ref())
        .map(|chain| chain.finalized_height())
        .max()
        .unwrap_or(0);
    let target = (before + HEAL_PROGRESS).max(MIN_HEIGHT);
    let healed_at = context.current();
    while min_height(&validators, &followers) < target {
        let waited = context
            .current()
            .duration_since(healed_at)
            .unwrap_or_default();
        assert!(
            waited <= HEAL_BOUND,
            "{} seed {seed}: no finality {waited:?} after the heal (heights {:?}, target {target}, committee sizes by epoch {:?})",
            fault.name(),
            followers
                .iter()
                .map(|&i| validators[i].chain.as_ref().map(|c| c.finalized_height()))
                .collect::<Vec<_>>(),
            validators[followers[0]].chain.as_ref().map(|chain| (0..4)
                .map(|epoch| super::Chain::committee(chain, epoch).map(|c| c.len()))
                .collect::<Vec<_>>()),
        );
        context.sleep(tick).await;
        submit_load(&validators, &mut draws, genesis);
    }
    let heal_time = context
        .current()
        .duration_since(healed_at)
        .unwrap_or_default();

    // Collect, stop.
    let running: Vec<Chain> = validators.iter().filter_map(|v| v.chain.clone()).collect();
    let follows = validators
        .iter()
        .filter(|v| v.chain.is_some())
        .map(|v| followers.contains(&v.index))
        .collect();
    let mut finalized = Vec::new();
    let mut senders = Vec::new();
    for chain in &running {
        let db = chain.db();
        let height = chain.finalized_height();
        let mut hashes = Vec::new();
        let mut states = Vec::new();
        for number in 1..=height {
            let hash = chain
                .block_hash(number)
                .expect("readable")
                .expect("finalized");
            let root = chain.header(&hash).expect("stored").state_root;
            hashes.push(hash);
            states.push(sender_state(db, root));
        }
        // The flat state (what execution reads) is the tree at the head.
        let head_root = chain.finalized_head().1.state_root;
        let flat: Vec<(u32, u128)> = SENDERS
            .iter()
            .map(|name| {
                let who = signer_account(name);
                let view = chain.finalized_view();
                (
                    agora_runtime::System::account_nonce(&view, &who),
                    agora_runtime::Balances::free_balance(&view, &who),
                )
            })
            .collect();
        assert_eq!(
            flat,
            sender_state(db, head_root),
            "{} seed {seed}: flat state differs from the tree at the head",
            fault.name()
        );
        finalized.push(hashes);
        senders.push(states);
    }
    let reference = &running[0];
    let epochs = reference.finalized_height() / EPOCH_LENGTH + 1;
    let committees = (0..=epochs)
        .filter_map(|epoch| super::Chain::committee(reference, epoch))
        .map(|members| members.into_iter().map(|m| m.key).collect())
        .collect();
    let byzantine_bond =
        pallet_staking::Ledger::get(&reference.finalized_view(), &account(NAMES[BYZANTINE]))
            .map_or(0, |ledger| ledger.active);
    drop(running);
    for v in &mut validators {
        Run::kill(v);
    }
    for proxy in proxies {
        proxy.abort();
    }
    for task in byzantine_tasks {
        task.abort();
    }
    drop(shared);
    Outcome {
        finalized,
        follows,
        senders,
        healed: (before, target, heal_time),
        committees,
        byzantine_bond,
    }
}

/// Restarts the killed validator `i`.
async fn restart(
    shared: &Run,
    context: &deterministic::Context,
    validators: &mut [Validator],
    i: usize,
) {
    shared.start(context, &mut validators[i]).await;
}

/// What ends a fault episode.
#[derive(Clone, Copy)]
enum Pending {
    Restart(usize),
    Heal,
}

/// Checks the assertions of the module doc on `outcome`.
fn check(fault: Fault, seed: u64, outcome: &Outcome) {
    let name = fault.name();
    let shortest = outcome
        .finalized
        .iter()
        .zip(&outcome.follows)
        .filter(|(_, follows)| **follows)
        .map(|(blocks, _)| blocks.len())
        .min()
        .unwrap_or(0);
    assert!(
        shortest as u64 >= MIN_HEIGHT.min(outcome.healed.1),
        "{name} seed {seed}: a validator finalized only {shortest} blocks"
    );
    let reference = outcome.finalized[0].iter().zip(&outcome.senders[0]);
    for (blocks, states) in outcome.finalized.iter().zip(&outcome.senders).skip(1) {
        // Zipping stops at the shorter chain: heights both have finalized.
        for (height, ((block, state), (reference_block, reference_state))) in
            blocks.iter().zip(states).zip(reference.clone()).enumerate()
        {
            assert_eq!(
                block,
                reference_block,
                "{name} seed {seed}: validators disagree at height {}",
                height + 1
            );
            assert_eq!(
                state,
                reference_state,
                "{name} seed {seed}: states differ at height {}",
                height + 1
            );
        }
    }
    let last = outcome.senders[0].last().expect("blocks were finalized");
    assert!(
        last.iter().all(|(nonce, _)| *nonce > 0),
        "{name} seed {seed}: no transfer of some sender was finalized: {last:?}"
    );
    if fault == Fault::EquivocatingValidator {
        let dave = consensus_public(NAMES[BYZANTINE]);
        assert_eq!(
            outcome.byzantine_bond,
            agora_runtime::genesis::GENESIS_VALIDATOR_BOND / 2,
            "{name} seed {seed}: the equivocator's bond was not slashed by half"
        );
        let last = outcome.committees.last().expect("committees");
        assert!(
            !last.contains(&dave),
            "{name} seed {seed}: the equivocator is still in the last committee"
        );
    }
}

/// Seeds to run: `AGORA_SIM_FIRST_SEED` and `AGORA_SIM_SEEDS` (see the module doc).
fn seeds() -> std::ops::Range<u64> {
    let read = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|value| {
                value
                    .parse()
                    .unwrap_or_else(|_| panic!("{name}={value} is not a number"))
            })
            .unwrap_or(default)
    };
    let first = read("AGORA_SIM_FIRST_SEED", 0);
    first..first.saturating_add(read("AGORA_SIM_SEEDS", CI_SEEDS))
}

fn scenario(fault: Fault) {
    if let Ok(only) = std::env::var("AGORA_SIM_SCENARIO") {
        if only != fault.name() {
            return;
        }
    }
    // `AGORA_SIM_LOG=debug` (a `tracing` filter) shows the nodes' logs of a replayed seed.
    if let Ok(filter) = std::env::var("AGORA_SIM_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
    // Every seed runs; the failing ones are listed at the end (each also panicked with its
    // reason above).
    let mut failed = Vec::new();
    let seeds = seeds();
    for seed in seeds.clone() {
        let run = std::panic::catch_unwind(|| check(fault, seed, &simulate(fault, seed)));
        if run.is_err() {
            failed.push(seed);
        }
    }
    println!(
        "{}: {} of {} seeds from {} passed",
        fault.name(),
        seeds.clone().count() - failed.len(),
        seeds.clone().count(),
        seeds.start
    );
    assert!(
        failed.is_empty(),
        "{}: seeds {failed:?} failed; replay one with AGORA_SIM_SCENARIO={} AGORA_SIM_FIRST_SEED=<seed> AGORA_SIM_SEEDS=1",
        fault.name(),
        fault.name()
    );
}

/// Everything in a run follows from its seed: the same seed twice finalizes the same blocks.
#[test]
fn a_seed_replays_exactly() {
    let seed = seeds().start;
    let first = simulate(Fault::CrashRestart, seed);
    let second = simulate(Fault::CrashRestart, seed);
    let heights = |outcome: &Outcome| outcome.finalized.iter().map(Vec::len).collect::<Vec<_>>();
    assert!(
        first.finalized == second.finalized && first.senders == second.senders,
        "seed {seed} replayed differently: finalized heights {:?}, then {:?}",
        heights(&first),
        heights(&second)
    );
}

#[test]
fn crash_restart() {
    scenario(Fault::CrashRestart);
}

#[test]
fn partition_heal() {
    scenario(Fault::PartitionHeal);
}

#[test]
fn lossy_links() {
    scenario(Fault::LossyLinks);
}

#[test]
fn equivocating_validator() {
    scenario(Fault::EquivocatingValidator);
}

#[test]
fn withholding_validator() {
    scenario(Fault::WithholdingValidator);
}

#[test]
fn invalid_blocks() {
    scenario(Fault::InvalidBlocks);
}
