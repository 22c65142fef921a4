//! Whole-node simulation: four validators (five in `joining_validator`), each running the
//! real chain (runtime, transaction pool, RocksDB in a temporary directory) under the real
//! consensus and p2p stack, on commonware's deterministic runtime, under one fault per
//! scenario. A seed fixes everything (the runtime's scheduling and clock, the faults, the
//! load), so a failing seed replays exactly.
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
//! - `joining_validator`: no fault; a fifth validator, in no genesis committee and in no
//!   other validator's configuration, runs from the start and registers with a bond (its
//!   address only on chain); it must be elected, sit in the last committee and author
//!   finalized blocks.
//! - `crashes_partitions_and_invalid_blocks_on_lossy_links`: crashes, partitions, loss and
//!   forged blocks in one run (no equivocation, no withholding) — every message lost with
//!   probability 1/10 and delayed up to 200 ms, //Dave proposing forged blocks, and episodes
//!   drawn in turn between a crash and restart of any validator and a random partition.
//!   //Dave still votes for honest blocks, so a crash of an honest validator leaves a quorum
//!   only if //Dave's votes arrive; safety is asserted throughout, liveness after the heal.
//!
//! # Seeds
//!
//! Each scenario runs `AGORA_SIM_SEEDS` seeds (default [`CI_SEEDS`], half as many for
//! `joining_validator` and the scenario with every fault) from
//! `AGORA_SIM_FIRST_SEED` (default 0); `AGORA_SIM_SCENARIO` runs only the scenario of that
//! name. `scripts/sim.sh --seeds N` runs them in a release build. A failure names its scenario
//! and seed.

mod check;
mod faults;
mod nodes;

use check::*;
use faults::*;
use nodes::*;

use super::links::{Delivery, Links};
use super::{
    launch, BlockLinks, BlockSource, Chain as _, Config, Consensus, FinalizedRun, RunLimits,
    Timeouts,
};
use crate::chain::{self, millis_since_epoch, Chain, ChainConfig, Host};
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
use pallet_staking::beacon::BeaconSigner;
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
/// The committee never grows past the four validators (sizes the p2p mailboxes); five in
/// `joining_validator`.
const MAX_COMMITTEE: u32 = 4;
/// Validators.
const NAMES: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];
/// The validator that joins in `joining_validator` (index 4): in no genesis committee and in
/// no other validator's configuration.
const JOINER: &str = "Joiner";
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
    /// Every kind at once: crashes and partitions by turns, on lossy links, with //Dave
    /// proposing invalid blocks.
    AllAtOnce,
    /// No fault: a fifth validator registers with stake during the run and joins.
    JoiningValidator,
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
            Fault::AllAtOnce => "crashes_partitions_and_invalid_blocks_on_lossy_links",
            Fault::JoiningValidator => "joining_validator",
        }
    }

    /// The finalized height every protocol-following validator reaches: [`MIN_HEIGHT`], and
    /// two epochs more in `joining_validator`, whose joiner sits from the second or third.
    fn min_height(self) -> u64 {
        if self == Fault::JoiningValidator {
            MIN_HEIGHT + 2 * EPOCH_LENGTH
        } else {
            MIN_HEIGHT
        }
    }

    /// Seeds CI runs: half as many for the two costliest scenarios (a fifth node and two more
    /// epochs; every fault at once), which cover what the others do, to hold CI's time.
    fn ci_seeds(self) -> u64 {
        if matches!(self, Fault::JoiningValidator | Fault::AllAtOnce) {
            CI_SEEDS / 2
        } else {
            CI_SEEDS
        }
    }

    /// The validators of a run: the four of the genesis committee, and the joiner.
    fn validators(self) -> usize {
        if self == Fault::JoiningValidator {
            NAMES.len() + 1
        } else {
            NAMES.len()
        }
    }

    /// Whether //Dave proposes blocks with a forged state root.
    fn forges(self) -> bool {
        matches!(self, Fault::InvalidBlocks | Fault::AllAtOnce)
    }

    /// Whether //Dave deviates from the protocol.
    fn byzantine(self) -> bool {
        matches!(
            self,
            Fault::EquivocatingValidator
                | Fault::WithholdingValidator
                | Fault::InvalidBlocks
                | Fault::AllAtOnce
        )
    }
}

/// The running validators that follow the protocol.
fn honest(fault: Fault) -> Vec<usize> {
    (0..fault.validators())
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
    let mut sim = Sim::start(context, fault, seed, base).await;
    sim.fault_phase().await;
    sim.heal().await;
    sim.finish()
}

/// A run in progress.
struct Sim {
    context: deterministic::Context,
    fault: Fault,
    seed: u64,
    draws: Draws,
    genesis: Hash,
    shared: Run,
    validators: Vec<Validator>,
    proxies: Vec<commonware_runtime::Handle<()>>,
    byzantine: Vec<commonware_runtime::Handle<()>>,
}

impl Sim {
    /// Starts the proxies and the validators (at random moments) and sets the scenario's
    /// standing faults.
    async fn start(context: deterministic::Context, fault: Fault, seed: u64, base: &Path) -> Sim {
        let spec = spec_for(fault);
        let genesis = spec.genesis().block.hash();
        let validators: Vec<Validator> = (0..fault.validators())
            .map(|index| Validator {
                index,
                dir: base.join(name_of(index)),
                chain: None,
                consensus: None,
                incarnation: 0,
                listening: Arc::new(AtomicU16::new(0)),
            })
            .collect();
        let proxies = validators
            .iter()
            .map(|v| proxy(&context, v.index, v.listening.clone()))
            .collect();
        let mut sim = Sim {
            context,
            fault,
            seed,
            draws: Draws(seed),
            genesis,
            shared: Run {
                fault,
                spec,
                links: Arc::new(SimLinks::new(seed)),
            },
            validators,
            proxies,
            byzantine: Vec::new(),
        };
        for i in 0..fault.validators() {
            // Nodes never start at one instant. Started together, every node's p2p dialer
            // ticks in step (the virtual clock has no jitter), so two nodes that dial each
            // other collide on every tick and never connect.
            let delay = sim.draws.millis(0, 700);
            sim.context.sleep(delay).await;
            if fault == Fault::EquivocatingValidator && i == BYZANTINE {
                sim.validators[i].listening.store(1, Ordering::SeqCst);
                sim.byzantine = start_equivocator(&sim.context, &sim.shared.spec, genesis);
                continue;
            }
            sim.shared.start(&sim.context, &mut sim.validators[i]).await;
        }
        let mut links = sim.shared.links.lock();
        match fault {
            Fault::LossyLinks => {
                links.loss_percent = 20;
                links.max_delay_ms = 400;
            }
            Fault::AllAtOnce => {
                links.loss_percent = 10;
                links.max_delay_ms = 200;
            }
            Fault::WithholdingValidator => {
                links.silenced = Some(consensus_public(NAMES[BYZANTINE]));
            }
            _ => {}
        }
        drop(links);
        sim
    }

    /// One client tick: waits [`CLIENT_INTERVAL`] and submits the load (and, in
    /// `joining_validator`, the joiner's registration until it is included).
    async fn tick(&mut self) {
        self.context.sleep(CLIENT_INTERVAL).await;
        submit_load(&self.validators, &mut self.draws, self.genesis);
        if self.fault == Fault::JoiningValidator {
            submit_registration(&self.validators, self.genesis);
        }
    }

    /// [`FAULT_PHASE`] under the scenario's episodic faults (crashes, partitions).
    async fn fault_phase(&mut self) {
        let started = self.context.current();
        let mut next_fault = started + self.draws.millis(500, 2_000);
        let mut episode: Option<(std::time::SystemTime, Pending)> = None;
        while self.context.current() < started + FAULT_PHASE {
            self.tick().await;
            let now = self.context.current();
            if let Some((end, what)) = episode {
                if now >= end {
                    self.end_episode(what).await;
                    episode = None;
                    next_fault = now + self.draws.millis(300, 1_500);
                }
                continue;
            }
            if now < next_fault {
                continue;
            }
            let kind = match self.fault {
                // Crashes and partitions by turns, drawn per episode.
                Fault::AllAtOnce if self.draws.below(2) == 0 => Fault::CrashRestart,
                Fault::AllAtOnce => Fault::PartitionHeal,
                fault => fault,
            };
            match kind {
                Fault::CrashRestart => {
                    let i = usize::try_from(self.draws.below(NAMES.len() as u64)).unwrap_or(0);
                    Run::kill(&mut self.validators[i]);
                    episode = Some((now + self.draws.millis(200, 3_000), Pending::Restart(i)));
                }
                Fault::PartitionHeal => {
                    // A random split into two non-empty groups.
                    let mask = 1 + self.draws.below((1 << NAMES.len()) - 2);
                    let groups = NAMES
                        .iter()
                        .enumerate()
                        .map(|(i, name)| (consensus_public(name), u8::from(mask >> i & 1 == 1)))
                        .collect();
                    self.shared.links.lock().groups = Some(groups);
                    episode = Some((now + self.draws.millis(500, 4_000), Pending::Heal));
                }
                _ => next_fault = started + FAULT_PHASE,
            }
        }
        if let Some((_, what)) = episode {
            self.end_episode(what).await;
        }
    }

    async fn end_episode(&mut self, what: Pending) {
        match what {
            Pending::Restart(i) => {
                self.shared
                    .start(&self.context, &mut self.validators[i])
                    .await
            }
            Pending::Heal => self.shared.links.lock().groups = None,
        }
    }

    /// Lifts every fault and runs until every protocol-following validator has finalized
    /// [`HEAL_PROGRESS`] blocks past the highest height before, and [`MIN_HEIGHT`] in all.
    async fn heal(&mut self) {
        self.shared.links.heal();
        let followers = honest(self.fault);
        let before = followers
            .iter()
            .filter_map(|&i| self.validators[i].chain.as_ref())
            .map(|chain| chain.finalized_height())
            .max()
            .unwrap_or(0);
        let target = (before + HEAL_PROGRESS).max(self.fault.min_height());
        let healed_at = self.context.current();
        let waited = |sim: &Sim| {
            sim.context
                .current()
                .duration_since(healed_at)
                .unwrap_or_default()
        };
        while min_height(&self.validators, &followers) < target {
            assert!(
                waited(self) <= HEAL_BOUND,
                "{} seed {}: no finality {:?} after the heal (heights {:?}, target {target}, committee sizes by epoch {:?})",
                self.fault.name(),
                self.seed,
                waited(self),
                followers
                    .iter()
                    .map(|&i| self.validators[i].chain.as_ref().map(|c| c.finalized_height()))
                    .collect::<Vec<_>>(),
                self.validators[followers[0]].chain.as_ref().map(|chain| (0..4)
                    .map(|epoch| super::Chain::committee(chain, epoch).map(|c| c.len()))
                    .collect::<Vec<_>>()),
            );
            self.tick().await;
        }
    }

    /// Reads what [`check`] needs from every running validator, then stops everything.
    fn finish(mut self) -> Outcome {
        let followers = honest(self.fault);
        let running: Vec<(Chain, bool)> = self
            .validators
            .iter()
            .filter_map(|v| Some((v.chain.clone()?, followers.contains(&v.index))))
            .collect();
        let heard = self
            .shared
            .links
            .lock()
            .delivered
            .get(&consensus_public(NAMES[BYZANTINE]))
            .copied()
            .unwrap_or(0);
        let outcome = collect(self.fault, self.seed, &running, heard);
        drop(running);
        for v in &mut self.validators {
            Run::kill(v);
        }
        for task in self.proxies.iter().chain(&self.byzantine) {
            task.abort();
        }
        outcome
    }
}

/// What ends a fault episode.
#[derive(Clone, Copy)]
enum Pending {
    Restart(usize),
    Heal,
}

/// Seeds to run: `AGORA_SIM_FIRST_SEED` and `AGORA_SIM_SEEDS` (see the module doc), by
/// default [`CI_SEEDS`].
fn seeds() -> std::ops::Range<u64> {
    seeds_or(CI_SEEDS)
}

/// Seeds to run: `AGORA_SIM_FIRST_SEED` and `AGORA_SIM_SEEDS`, by default `ci_seeds`.
fn seeds_or(ci_seeds: u64) -> std::ops::Range<u64> {
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
    first..first.saturating_add(read("AGORA_SIM_SEEDS", ci_seeds))
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
    let seeds = seeds_or(fault.ci_seeds());
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
/// Run on the scenario with every kind of fault, so each kind's draws are covered.
#[test]
fn a_seed_replays_exactly() {
    let seed = seeds().start;
    let first = simulate(Fault::AllAtOnce, seed);
    let second = simulate(Fault::AllAtOnce, seed);
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

#[test]
fn crashes_partitions_and_invalid_blocks_on_lossy_links() {
    scenario(Fault::AllAtOnce);
}

#[test]
fn joining_validator() {
    scenario(Fault::JoiningValidator);
}
