//! `agora-node`: the Agora ledger node.
//!
//! ```text
//! agora-node --dev [--tmp | --base-path DIR] [--rpc-port N] [--port N] [--block-time-ms N]
//! agora-node --chain spec.json --validator-key-file PATH --peer KEY@ADDR … --base-path DIR
//! agora-node --chain spec.json [--node-key SURI] --peer KEY@ADDR … --base-path DIR   (full node)
//! agora-node build-spec [--dev | --chain PATH] [--blob-ttl BLOCKS] [--model-retention BLOCKS]
//!                       [--reveal-blocks BLOCKS] [--attest-blocks BLOCKS] [--move-blocks BLOCKS]
//!                       [--sample-wait-blocks BLOCKS]
//! agora-node purge-chain [--dev | --chain PATH] [--base-path DIR] -y
//! agora-node key generate | key inspect SURI | key rotate [--dev | --chain PATH] [--base-path DIR]
//! ```
//!
//! Data lives under `<base-path>/chains/<chain id>/`: `db/` (RocksDB: blocks, state, state
//! tree), `consensus/` (the consensus journal) and `blobs/` (uploaded blobs, see
//! `agora_node::blobs`). The default base path is `$XDG_DATA_HOME/agora-node` (or
//! `~/.local/share/agora-node`).
//!
//! # Validators and full nodes
//!
//! The committee of epoch 0 is the chain spec's `validators`; later epochs' committees are
//! elected by pallet-staking from bonded candidates. A node started with `--validator-key-file`
//! (or `--validator-key SURI`, visible in `ps`; or `--dev`, as //Alice) votes with that key in every epoch whose committee holds it, and
//! follows the chain in the others. A node started without one is a *full node*: it follows the committee's finalized chain over p2p (the consensus
//! module's sync protocol), checks every block's certificate and state root, and serves RPC;
//! its p2p identity is `--node-key`, or a key generated once and kept in
//! `<chain dir>/node_key`. Every node needs a `--peer` address for every committee member;
//! validators need one for each full node that connects to them as well (the network only
//! accepts peers it knows).
//!
//! A validator's keys besides the configured one wait in `<chain dir>/keystore/`
//! (`agora-node key rotate`); the node runs whichever the committee lists and restarts itself
//! (same arguments, same process) when that changes: see `agora_node::keystore`.

use agora_node::referee::EngineReferee;
use agora_node::{blobs, chain, consensus, keystore, metrics, rpc, storage};

mod key_command;
use agora_primitives::referee::Referee;
use agora_primitives::{AccountId, Hash};
use agora_runtime::genesis::{dev_consensus_seed, ChainSpec, LifetimesSpec, WindowsSpec};
use clap::{Args, Parser, Subcommand};
use key_command::KeyCommand;
use pallet_staking::beacon::BeaconSigner;
use sp_core::{ed25519, Pair};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The Agora ledger node.
#[derive(Parser, Debug)]
#[command(name = "agora-node", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Prints the chain spec as JSON.
    BuildSpec {
        #[command(flatten)]
        spec: SpecArgs,
        /// With `--dev`: a local testnet whose committee is the first N dev names
        /// (//Alice, //Bob, …), each validator's consensus key derived from its name.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..=6), requires = "dev")]
        validators: Option<u8>,
        /// Blocks per epoch: how often the committee may change (at least 2).
        #[arg(long, value_parser = clap::value_parser!(u64).range(2..))]
        epoch_length: Option<u64>,
        /// Blocks an unreferenced blob is kept (the runtime's default 14,400, four hours of
        /// one-second blocks): shorter for test chains that want to see blobs expire.
        #[arg(long, value_name = "BLOCKS", value_parser = clap::value_parser!(u64).range(1..))]
        blob_ttl: Option<u64>,
        /// Blocks a settled job's model is kept for its buyer (the runtime's default
        /// 2,592,000, thirty days of one-second blocks): shorter for test chains.
        #[arg(long, value_name = "BLOCKS", value_parser = clap::value_parser!(u64).range(1..))]
        model_retention: Option<u64>,
        /// Blocks a worker has for each reveal of a spot check (the runtime's default 20):
        /// longer for test chains whose short blocks would race a loaded machine.
        #[arg(long, value_name = "BLOCKS", value_parser = clap::value_parser!(u64).range(1..))]
        reveal_blocks: Option<u64>,
        /// Blocks verifiers have to re-execute and attest (the runtime's default 60).
        #[arg(long, value_name = "BLOCKS", value_parser = clap::value_parser!(u64).range(1..))]
        attest_blocks: Option<u64>,
        /// Blocks each dispute move is due in (the runtime's default 60).
        #[arg(long, value_name = "BLOCKS", value_parser = clap::value_parser!(u64).range(1..))]
        move_blocks: Option<u64>,
        /// Blocks a draw may wait for verifiers' stake to come free (the runtime's default 60).
        #[arg(long, value_name = "BLOCKS")]
        sample_wait_blocks: Option<u64>,
    },
    /// Deletes the chain's database and consensus journal.
    PurgeChain {
        #[command(flatten)]
        spec: SpecArgs,
        /// Base path holding the chain's data.
        #[arg(long)]
        base_path: Option<PathBuf>,
        /// Confirm the deletion: without it the command deletes nothing and names the
        /// directory it would delete (there is no prompt).
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Consensus (ed25519) key utilities.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Args, Debug, Clone)]
struct SpecArgs {
    /// Use the development chain: one validator (//Alice), dev accounts funded.
    #[arg(long)]
    dev: bool,
    /// A chain spec JSON file (see `build-spec`).
    #[arg(long, conflicts_with = "dev")]
    chain: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
struct RunArgs {
    #[command(flatten)]
    spec: SpecArgs,
    /// Keep data in a temporary directory deleted when the node exits.
    #[arg(long, conflicts_with = "base_path")]
    tmp: bool,
    /// Where to keep data.
    #[arg(long)]
    base_path: Option<PathBuf>,
    /// JSON-RPC port (HTTP and WebSocket) on 127.0.0.1; 0 picks a free one. Given twice, the
    /// last wins (a validator restarting itself to change keys appends the port it had).
    #[arg(long, default_value_t = 9944, overrides_with = "rpc_port")]
    rpc_port: u16,
    /// Listen on all interfaces for RPC instead of loopback only.
    #[arg(long)]
    rpc_external: bool,
    /// Do not serve the read-only web dashboard at `/` of the RPC port.
    #[arg(long)]
    no_dashboard: bool,
    /// p2p port.
    #[arg(long, default_value_t = 30333)]
    port: u16,
    /// Prometheus port on 127.0.0.1; 0 picks a free one (given twice, the last wins).
    #[arg(long, default_value_t = 9615, overrides_with = "prometheus_port")]
    prometheus_port: u16,
    /// Do not serve Prometheus metrics.
    #[arg(long)]
    no_prometheus: bool,
    /// Target time between blocks, in milliseconds.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    block_time_ms: u64,
    /// SURI of this validator's ed25519 consensus key; `--dev` defaults to //Alice. Without
    /// it (and without `--dev`) the node runs as a full node. Visible in `ps` and shell
    /// history: for anything but dev keys use --validator-key-file.
    #[arg(long, value_name = "SURI", conflicts_with = "validator_key_file")]
    validator_key: Option<String>,
    /// A file holding the validator's consensus key SURI, readable by its owner only (mode
    /// 0600).
    #[arg(long, value_name = "PATH")]
    validator_key_file: Option<PathBuf>,
    /// SURI of a full node's ed25519 p2p key; by default one is generated and kept in
    /// `<chain dir>/node_key`.
    #[arg(long, value_name = "SURI", conflicts_with_all = ["validator_key", "validator_key_file"])]
    node_key: Option<String>,
    /// SURI of an sr25519 account that signs and pays for reports of equivocation this node
    /// sees, and receives the reporter's share of the slash. Without it, equivocations are
    /// only logged.
    #[arg(long, value_name = "SURI", conflicts_with = "report_key_file")]
    report_key: Option<String>,
    /// A file holding the reporting account's SURI, readable by its owner only (mode 0600).
    #[arg(long, value_name = "PATH")]
    report_key_file: Option<PathBuf>,
    /// Address of a peer: `0x<ed25519 public key>@<ip:port>`; repeat for every committee
    /// member and every full node this node should talk to.
    #[arg(long = "peer", value_name = "KEY@ADDR")]
    peers: Vec<String>,
    /// How a node started empty catches up: `snapshot` takes the state of a recent finalized
    /// block from a peer (checked against the committees since genesis, or since
    /// `--checkpoint`) when the chain is at least 1,024 blocks long (with a checkpoint, any
    /// length), then follows block by block; `full` executes every block since genesis (and
    /// so keeps the whole history).
    #[arg(long, value_enum, default_value_t = SyncMode::Snapshot)]
    sync: SyncMode,
    /// A block this node must find on the chain, `NUMBER:HASH` (the last block of an epoch at
    /// or below the finalized head of a node you trust, its hash from that node's
    /// `chain_getBlockHash`): histories that contradict it are refused, and a node finalized
    /// past it on another block (or on none it holds) will not start. A node started empty
    /// takes its state from a snapshot above it and trusts nothing below it. The defence
    /// against long-range forks for nodes that join; needs a chain with epochs (see
    /// docs/operator.md).
    #[arg(long, value_name = "NUMBER:HASH")]
    checkpoint: Option<chain::Checkpoint>,
    /// Where the referee keeps the job modules it compiles (default `<base path>/referee-cache`).
    /// A worker or verifier of the same user on the same machine given the same directory
    /// (`agora … --cache-dir`) shares the entries compiled with its settings. Whoever can
    /// write it can run code in both processes; a module the node cannot write there is
    /// compiled again after each restart (a warning is logged).
    #[arg(long, value_name = "DIR")]
    module_cache_dir: Option<PathBuf>,
    /// Log filter, e.g. `info` or `agora_node=debug`.
    #[arg(long, default_value = "info", env = "RUST_LOG")]
    log: String,
}

/// How an empty node catches up (`--sync`).
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum SyncMode {
    /// State of a recent finalized block, then block by block.
    Snapshot,
    /// Every block since genesis.
    Full,
}

/// Errors of the node binary; each is printed as one sentence.
#[derive(Debug, thiserror::Error)]
enum NodeError {
    #[error("cannot read chain spec {path}: {error}")]
    ReadSpec {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("chain spec {path}: {error}")]
    Spec {
        path: PathBuf,
        error: agora_runtime::genesis::SpecError,
    },
    #[error("choose a chain with --dev or --chain PATH")]
    NoChain,
    /// `suri` is shown redacted: no phrase, long seed or password in a message or a log.
    #[error(
        "'{}' is not a valid key SURI: {reason}",
        agora_primitives::secret::redact_suri(suri)
    )]
    BadKey { suri: String, reason: String },
    #[error("--owner '{text}' is not an SS58 address or a 0x-prefixed 32-byte account: {reason}")]
    BadOwner { text: String, reason: String },
    #[error(transparent)]
    KeyFile(#[from] agora_primitives::secret::KeyFileError),
    #[error("no --peer address for validator 0x{0}")]
    NoValidatorAddress(String),
    #[error("'{0}' is not KEY@ADDR (0x + 64 hex digits, '@', ip:port)")]
    BadPeer(String),
    #[error("cannot create {path}: {error}")]
    CreateDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot remove {path}: {error}")]
    RemoveDir {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("refusing to purge {0} without -y")]
    PurgeNotConfirmed(PathBuf),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Blobs(#[from] blobs::BlobError),
    #[error(transparent)]
    Chain(#[from] chain::ChainError),
    #[error("cannot serve {what} on {addr}: {error}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Consensus(#[from] consensus::Error),
    #[error("cannot install the signal handler: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Keystore(#[from] keystore::KeystoreError),
    #[error("no chain data at {0}: give the --base-path (and --chain) of the node that is to use the key")]
    NoChainData(PathBuf),
    #[error("cannot restart to take consensus key {key}: {error}; start the node again by hand")]
    Restart { key: Hash, error: std::io::Error },
}

/// How a node's run ended.
enum Exit {
    /// Stopped (a signal, or consensus ended).
    Stopped,
    /// Its committee lists another of its keys: run again under it, on the same ports.
    Restart { key: Hash, ports: Vec<String> },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.run.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: logs redirected to files stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let result = match cli.command {
        Some(Command::BuildSpec {
            spec,
            validators,
            epoch_length,
            blob_ttl,
            model_retention,
            reveal_blocks,
            attest_blocks,
            move_blocks,
            sample_wait_blocks,
        }) => load_spec(&spec).map(|spec| {
            let mut spec = match validators {
                Some(count) => local_testnet(spec, usize::from(count)),
                None => spec,
            };
            if let Some(length) = epoch_length {
                spec.genesis.epoch_length = length;
            }
            if blob_ttl.is_some() || model_retention.is_some() {
                let mut lifetimes = spec
                    .genesis
                    .lifetimes
                    .unwrap_or_else(LifetimesSpec::runtime);
                lifetimes.blob_ttl = blob_ttl.unwrap_or(lifetimes.blob_ttl);
                lifetimes.model_retention = model_retention.unwrap_or(lifetimes.model_retention);
                spec.genesis.lifetimes = Some(lifetimes);
            }
            let windows = [
                reveal_blocks,
                attest_blocks,
                move_blocks,
                sample_wait_blocks,
            ];
            if windows.iter().any(Option::is_some) {
                let mut windows = spec.genesis.windows.unwrap_or_else(WindowsSpec::runtime);
                windows.reveal = reveal_blocks.unwrap_or(windows.reveal);
                windows.attest = attest_blocks.unwrap_or(windows.attest);
                windows.dispute_move = move_blocks.unwrap_or(windows.dispute_move);
                windows.sample_wait = sample_wait_blocks.unwrap_or(windows.sample_wait);
                spec.genesis.windows = Some(windows);
            }
            println!("{}", spec.to_json());
        }),
        Some(Command::PurgeChain {
            spec,
            base_path,
            yes,
        }) => purge(&spec, base_path, yes),
        Some(Command::Key(command)) => key_command::key(command),
        None => run(cli.run).and_then(|exit| match exit {
            Exit::Stopped => Ok(()),
            Exit::Restart { key, ports } => Err(restart(key, &ports)),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Replaces this process with a new run of the same binary and arguments (same process id, so
/// supervisors and scripts that track it keep tracking it); returns only if that fails.
/// The binary is `/proc/self/exe`, which names this process's image even after an upgrade
/// replaced the file (where `current_exe` would name a deleted path).
fn restart(key: Hash, ports: &[String]) -> NodeError {
    use std::os::unix::process::CommandExt as _;
    tracing::info!(%key, "restarting to vote with consensus key {key}");
    let mut arguments = std::env::args_os();
    let name = arguments.next().unwrap_or_else(|| "agora-node".into());
    let error = std::process::Command::new("/proc/self/exe")
        .arg0(name)
        .args(arguments)
        .args(ports)
        .exec();
    NodeError::Restart { key, error }
}

fn load_spec(args: &SpecArgs) -> Result<ChainSpec, NodeError> {
    match (&args.chain, args.dev) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|error| NodeError::ReadSpec {
                path: path.clone(),
                error,
            })?;
            ChainSpec::from_json(&text).map_err(|error| NodeError::Spec {
                path: path.clone(),
                error,
            })
        }
        (None, true) => Ok(ChainSpec::development()),
        (None, false) => Err(NodeError::NoChain),
    }
}

/// The dev spec with a committee of the first `count` dev names.
fn local_testnet(mut spec: ChainSpec, count: usize) -> ChainSpec {
    spec.name = "Agora Local Testnet".to_owned();
    spec.id = "agora_local".to_owned();
    spec.validators = agora_runtime::genesis::DEV_ACCOUNTS
        .iter()
        .take(count)
        .map(|name| agora_runtime::genesis::ValidatorSpec {
            account: agora_runtime::genesis::dev_account(name),
            consensus_key: Hash(
                ed25519::Pair::from_seed(&dev_consensus_seed(name))
                    .public()
                    .0,
            ),
            beacon_key: agora_runtime::genesis::dev_beacon_key(name),
            bond: agora_runtime::genesis::GENESIS_VALIDATOR_BOND,
            address: String::new(),
        })
        .collect();
    spec
}

fn default_base_path() -> PathBuf {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("agora-node")
}

fn chain_dir(base: &Path, spec: &ChainSpec) -> PathBuf {
    base.join("chains").join(&spec.id)
}

fn purge(spec: &SpecArgs, base_path: Option<PathBuf>, yes: bool) -> Result<(), NodeError> {
    let spec = load_spec(spec)?;
    let dir = chain_dir(&base_path.unwrap_or_else(default_base_path), &spec);
    if !yes {
        return Err(NodeError::PurgeNotConfirmed(dir));
    }
    match keystore::purge(&dir) {
        Ok(keystore::Purged::Nothing) => println!("Nothing to remove at {}", dir.display()),
        Ok(keystore::Purged::All) => println!("Removed {}", dir.display()),
        Ok(keystore::Purged::KeptKeystore) => println!(
            "Removed the chain's data at {} (kept its keystore, {})",
            dir.display(),
            keystore::dir(&dir).display()
        ),
        Err((path, error)) => return Err(NodeError::RemoveDir { path, error }),
    }
    Ok(())
}

fn consensus_pair(suri: &str) -> Result<ed25519::Pair, NodeError> {
    ed25519::Pair::from_string(suri, None).map_err(|error| NodeError::BadKey {
        suri: suri.to_owned(),
        reason: format!("{error:?}"),
    })
}

fn parse_peer(text: &str) -> Result<([u8; 32], SocketAddr), NodeError> {
    let bad = || NodeError::BadPeer(text.to_owned());
    let (key, addr) = text.split_once('@').ok_or_else(bad)?;
    let key = Hash::from_hex(key).map_err(|_| bad())?;
    let addr = addr.parse().map_err(|_| bad())?;
    Ok((key.0, addr))
}

/// Who this node is on the network: its ed25519 seed and public key, and, for a validator, the
/// account credited with its blocks.
struct Identity {
    seed: [u8; 32],
    public: Hash,
    /// `None` for a full node.
    author: Option<AccountId>,
}

/// The validator key configured (`--dev` defaults to Alice's; see `running_key` for the one run);
/// without one, a full node's key (`--node-key`, or the one kept under `dir`).
fn identity(args: &RunArgs, spec: &ChainSpec, dir: &Path) -> Result<Identity, NodeError> {
    let validator_key = agora_primitives::secret::suri_from(
        args.validator_key.as_deref(),
        args.validator_key_file.as_deref(),
    )?;
    let validator_seed = match (&validator_key, args.spec.dev) {
        (Some(suri), _) => Some(consensus_pair(suri)?.seed()),
        (None, true) => Some(dev_consensus_seed("Alice")),
        (None, false) => None,
    };
    let Some(seed) = validator_seed else {
        let seed = match &args.node_key {
            Some(suri) => consensus_pair(suri)?.seed(),
            None => keystore::node_key(&dir.join("node_key"))?,
        };
        let public = Hash(ed25519::Pair::from_seed(&seed).public().0);
        return Ok(Identity {
            seed,
            public,
            author: None,
        });
    };
    let public = Hash(ed25519::Pair::from_seed(&seed).public().0);
    Ok(Identity {
        seed,
        public,
        author: Some(author_of(spec, public)),
    })
}

/// The account a validator key's blocks credit when the committee on chain does not name one
/// (`Chain::build` asks it first): its genesis validator's, else the key's own bytes.
fn author_of(spec: &ChainSpec, public: Hash) -> AccountId {
    spec.validators
        .iter()
        .find(|validator| validator.consensus_key == public)
        .map_or(AccountId(public.0), |validator| validator.account)
}

/// The validator key to run: the configured one, or a keystore key the committee lists
/// instead (`keystore::running_key`).
fn running_key(
    configured: Identity,
    keystore: &Path,
    chain: &chain::Chain,
    spec: &ChainSpec,
) -> Result<Identity, NodeError> {
    let Some((public, seed)) = keystore::running_key(configured.public.0, keystore, chain)? else {
        return Ok(configured);
    };
    let public = Hash(public);
    Ok(Identity {
        seed,
        public,
        author: Some(author_of(spec, public)),
    })
}

/// With `--tmp`, a fresh directory deleted when the returned value is dropped.
fn tmp_base(tmp: bool) -> Result<Option<tempfile::TempDir>, NodeError> {
    if !tmp {
        return Ok(None);
    }
    tempfile::Builder::new()
        .prefix("agora-node-")
        .tempdir()
        .map(Some)
        .map_err(|error| NodeError::CreateDir {
            path: std::env::temp_dir(),
            error,
        })
}

/// What the node serves from: the chain over its database, the blob store, their metrics.
struct Stores {
    chain: chain::Chain,
    blobs: Arc<blobs::BlobStore>,
    /// The referee the chain runs disputed steps through; warmed in the background.
    referee: Arc<EngineReferee>,
    metrics: metrics::Metrics,
}

/// Opens the chain's database and blob store under `dir` (the chain's directory in `base`).
fn open_stores(
    base: &Path,
    dir: &Path,
    spec: &ChainSpec,
    block_time: Duration,
    module_cache: PathBuf,
) -> Result<Stores, NodeError> {
    let db_dir = dir.join("db");
    std::fs::create_dir_all(&db_dir).map_err(|error| NodeError::CreateDir {
        path: db_dir.clone(),
        error,
    })?;
    tracing::info!(chain = %spec.name, base_path = %base.display(), "starting agora-node");

    let db = Arc::new(storage::Database::open(&db_dir)?);
    let metrics = metrics::Metrics::new();
    // The blob store belongs to the chain (`purge-chain` removes it with the database). Before
    // it did, it lived at `<base>/blobs`, shared by every chain of the base path: adopt such a
    // store once (blobs are content-addressed, so another chain's are harmless, only space).
    let blob_dir = dir.join("blobs");
    let legacy = base.join("blobs");
    if legacy.is_dir() && !blob_dir.exists() {
        std::fs::rename(&legacy, &blob_dir).map_err(|error| NodeError::CreateDir {
            path: blob_dir.clone(),
            error,
        })?;
        tracing::info!(from = %legacy.display(), to = %blob_dir.display(), "moved the blob store under the chain's directory");
    }
    let blobs = Arc::new(blobs::BlobStore::open_with_metrics(
        &blob_dir,
        metrics.clone(),
    )?);
    let totals = blobs.totals();
    tracing::info!(dir = %blobs.dir().display(), blobs = totals.count, bytes = totals.bytes, "blob store open");
    // Disputed steps run on the blobs this node holds.
    let referee = Arc::new(EngineReferee::new(blobs.clone(), Some(module_cache)));
    let chain = chain::Chain::open(
        db,
        chain::ChainConfig {
            spec: spec.clone(),
            block_time,
            referee: Some(referee.clone() as Arc<dyn Referee>),
            metrics: metrics.clone(),
        },
    )?;
    let (finalized_hash, finalized) = chain.finalized_head();
    tracing::info!(genesis = %chain.genesis_hash(), finalized = finalized.number(), hash = %finalized_hash, "database open");
    Ok(Stores {
        chain,
        blobs,
        referee,
        metrics,
    })
}

fn run(args: RunArgs) -> Result<Exit, NodeError> {
    let spec = load_spec(&args.spec)?;
    // `--tmp` keeps the directory alive until `run` returns.
    let tmp = tmp_base(args.tmp)?;
    let base = match (&tmp, &args.base_path) {
        (Some(dir), _) => dir.path().to_path_buf(),
        (None, Some(path)) => path.clone(),
        (None, None) => default_base_path(),
    };
    let dir = chain_dir(&base, &spec);
    let configured = identity(&args, &spec, &dir)?;
    let configured_key = configured.public;
    let block_time = Duration::from_millis(args.block_time_ms);
    let modules = args
        .module_cache_dir
        .clone()
        .unwrap_or_else(|| base.join("referee-cache"));
    let stores = open_stores(&base, &dir, &spec, block_time, modules)?;
    let keystore = keystore::dir(&dir);
    // Taken before the key is chosen, so that a block finalized meanwhile is not missed.
    let events = stores.chain.subscribe();
    let identity = match configured.author {
        Some(_) => running_key(configured, &keystore, &stores.chain, &spec)?,
        None => configured,
    };
    let other_keys = match identity.author {
        Some(_) => keystore::other_keys(&keystore, configured_key.0, identity.public.0)?,
        None => Vec::new(),
    };
    // A `--tmp` node never switches keys: its keystore and chain die with the process.
    let switches_keys = identity.author.is_some() && tmp.is_none();
    let report_key = agora_primitives::secret::suri_from(
        args.report_key.as_deref(),
        args.report_key_file.as_deref(),
    )?;
    if let Some(suri) = &report_key {
        let pair =
            sp_core::sr25519::Pair::from_string(suri, None).map_err(|error| NodeError::BadKey {
                suri: suri.to_owned(),
                reason: format!("{error:?}"),
            })?;
        stores.chain.set_reporter(pair);
    }
    if let Some(author) = identity.author {
        stores
            .chain
            .set_proposer(BeaconSigner::from_consensus_seed(&identity.seed), author);
    }
    if let Some(checkpoint) = args.checkpoint {
        stores.chain.set_checkpoint(checkpoint)?;
        tracing::info!(number = checkpoint.number, hash = %checkpoint.hash, "checkpoint set");
    }

    let runtime_config = consensus::RuntimeConfig::new(dir.join("consensus"));
    let exit = consensus::Runtime::run(runtime_config, |runtime| async move {
        let config = consensus_config(
            &args,
            &dir,
            &spec,
            &identity,
            &other_keys,
            &stores.chain,
            block_time,
        )?;
        let (chain, blobs) = (stores.chain.clone(), stores.blobs.clone());
        // Blocks that need a blob only their leader holds are imported, not refused; set before
        // consensus starts, so that no block is committed without it.
        let import_fetcher = Arc::new(std::sync::OnceLock::new());
        chain.set_blob_fetch(blobs::fetch_for_import(
            stores.blobs.clone(),
            import_fetcher.clone(),
        ));
        let mut consensus = if identity.author.is_some() {
            let consensus = consensus::start(&runtime, config, chain, blobs)?;
            tracing::info!(validator = %identity.public, "consensus started");
            consensus
        } else {
            let consensus = consensus::follow(&runtime, config, chain, blobs)?;
            tracing::info!(node = %identity.public, "following the committee as a full node");
            consensus
        };
        let fetcher = consensus.blob_fetcher().await;
        if let Some(fetcher) = &fetcher {
            let _ = import_fetcher.set(fetcher.clone());
        }

        let (rpc_bound, rpc_handle) = serve_rpc(&args, &stores, fetcher.clone()).await?;
        let prometheus = serve_background(&args, &stores, fetcher).await?;
        // A restart keeps the ports this run was given, `0` or not.
        let mut ports = vec!["--rpc-port".to_owned(), rpc_bound.port().to_string()];
        if let Some(prometheus) = prometheus {
            ports.extend([
                "--prometheus-port".to_owned(),
                prometheus.port().to_string(),
            ]);
        }

        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .map_err(NodeError::Signal)?;
        let key_changed = keystore::key_change(
            stores.chain.clone(),
            events,
            keystore,
            configured_key.0,
            identity.public.0,
        );
        let result = tokio::select! {
            result = consensus.join() => result.map(|()| Exit::Stopped).map_err(NodeError::from),
            _ = tokio::signal::ctrl_c() => Ok(Exit::Stopped),
            _ = terminate.recv() => Ok(Exit::Stopped),
            key = key_changed, if switches_keys => Ok(Exit::Restart { key: Hash(key), ports }),
        };
        tracing::info!("shutting down");
        let _ = rpc_handle.stop();
        result
    });
    drop(tmp);
    exit
}

/// Serves JSON-RPC (and the dashboard, unless `--no-dashboard`) at the address it returns.
async fn serve_rpc(
    args: &RunArgs,
    stores: &Stores,
    fetcher: Option<consensus::BlobFetcher>,
) -> Result<(SocketAddr, jsonrpsee::server::ServerHandle), NodeError> {
    let rpc_ip = if args.rpc_external {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let rpc_addr = SocketAddr::new(rpc_ip, args.rpc_port);
    let (rpc_bound, rpc_handle) = rpc::start(
        stores.chain.clone(),
        stores.blobs.clone(),
        fetcher,
        rpc_addr,
        !args.no_dashboard,
    )
    .await
    .map_err(|error| NodeError::Bind {
        what: "JSON-RPC",
        addr: rpc_addr,
        error,
    })?;
    tracing::info!("JSON-RPC listening on {rpc_bound}");
    if !args.no_dashboard {
        tracing::info!("dashboard at http://{rpc_bound}/");
    }
    Ok((rpc_bound, rpc_handle))
}

/// Starts the blob collector, the referee's warmer and (unless `--no-prometheus`) the metrics
/// endpoint, whose address it returns.
async fn serve_background(
    args: &RunArgs,
    stores: &Stores,
    fetcher: Option<consensus::BlobFetcher>,
) -> Result<Option<SocketAddr>, NodeError> {
    tokio::spawn(blobs::run_collector(
        stores.chain.clone(),
        stores.blobs.clone(),
    ));
    tokio::spawn(agora_node::referee::run_warmer(
        stores.chain.clone(),
        stores.referee.clone(),
        fetcher,
    ));
    if !args.no_prometheus {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.prometheus_port);
        let listener = metrics::bind(addr).await.map_err(|error| NodeError::Bind {
            what: "Prometheus",
            addr,
            error,
        })?;
        let bound = listener.local_addr().unwrap_or(addr);
        tracing::info!("Prometheus metrics on http://{bound}/metrics");
        tokio::spawn(stores.metrics.clone().serve(listener));
        return Ok(Some(bound));
    }
    Ok(None)
}

/// The consensus configuration: the spec's committee at the addresses given by `--peer` (this
/// node's own at its listen address), the other `--peer`s as non-voting peers, signatures
/// bound to this chain, timeouts from the block time.
fn consensus_config(
    args: &RunArgs,
    dir: &Path,
    spec: &ChainSpec,
    identity: &Identity,
    other_keys: &[[u8; 32]],
    chain: &chain::Chain,
    block_time: Duration,
) -> Result<consensus::Config, NodeError> {
    let listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port);
    let mut peers = args
        .peers
        .iter()
        .map(|peer| parse_peer(peer))
        .collect::<Result<Vec<_>, _>>()?;
    // This node's keys are at its listen address unless `--peer` says otherwise: the one it
    // runs, and the others a genesis committee may still name (a validator that rotated).
    for key in std::iter::once(identity.public.0).chain(other_keys.iter().copied()) {
        if !peers.iter().any(|(peer, _)| *peer == key) {
            peers.push((key, listen));
        }
    }
    let mut validators = Vec::with_capacity(spec.validators.len());
    for validator in &spec.validators {
        let key = validator.consensus_key.0;
        let address = peers
            .iter()
            .find(|(peer, _)| *peer == key)
            .map(|(_, address)| *address)
            .ok_or_else(|| NodeError::NoValidatorAddress(hex::encode(key)))?;
        validators.push((key, address));
    }
    peers.retain(|(key, _)| !validators.iter().any(|(validator, _)| validator == key));
    let namespace = chain::consensus_namespace(&spec.id, &chain.genesis_hash());
    let mut config = consensus::Config::new(listen, identity.seed, validators, namespace);
    config.peers = peers;
    config.timeouts = consensus::Timeouts::for_block_time(block_time);
    config.max_block_size = u32::try_from(chain::MAX_BLOCK_BYTES).unwrap_or(u32::MAX);
    // Next to the consensus journal, so a copy or a loss of one is a copy or a loss of both.
    config.signing_record = Some(dir.join("consensus_signed_through"));
    config.state_sync = args.sync == SyncMode::Snapshot;
    Ok(config)
}

/// The `agora-node` command-line reference, `docs/node-cli.md`, rendered from these clap
/// definitions and checked like `agora`'s (`agora_test_support::reference`).
#[cfg(test)]
mod reference {
    use clap::CommandFactory;

    #[test]
    fn the_checked_in_reference_is_current_and_lists_every_flag() {
        agora_test_support::reference::check_reference(
            &super::Cli::command(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/node-cli.md"),
            "AGORA_WRITE_CLI_REFERENCE=1 cargo test -p agora-node --bin agora-node reference",
        );
    }
}
