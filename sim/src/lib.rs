//! # agora-sim: the economics of Agora, simulated on the real runtime
//!
//! A seeded, deterministic agent-based simulation. Each seed runs one population for a horizon
//! of blocks on [`chain::SimChain`] — the real runtime, every action a signed extrinsic, every
//! pallet rule, fee and hook as on a node — and measures, per strategy, the profit per job of
//! the parties playing it and how often the protocol caught them:
//!
//! | party | strategies |
//! |---|---|
//! | worker | `honest_worker` (two); `forging_worker_one_segment` (six: each skips one segment — any but the last — claiming its start state as its end and carrying on from there, so only a check of that segment shows it); `forging_worker_all_segments` (computes nothing, commits made-up states); `overbilling_worker_20pct` (bills 20 % more fuel on every leaf); `hidden_overbilling_worker_50pct` (bills 50 % more, added to the segment before the last) |
//! | worker + verifiers | `forging_worker_one_segment_colluding_20pct` (six workers forging one segment each, with two colluding verifier accounts holding a fifth of verifier stake between them that attest the partners' committed leaves without computing; honest on other jobs). Its profit per job is the workers' plus the compute the colluders saved on their partners' checks |
//! | verifier | `honest_verifier` (two); `lazy_verifier` (attests a made-up leaf, never computes, makes no dispute move) |
//! | buyer | `griefing_buyer` (bids for the largest jobs at the least max payment and cancels each a few blocks after the match, too late for its worker to finish within the notice; profit per job is what it paid, since it gets nothing) |
//! | worker, as griefed | `honest_worker_cancelled_jobs` (the honest workers' jobs that ended cancelled: what the cancellation paid minus the compute spent on the job before stopping) |
//!
//! A job is the example MLP's shape (`truth`): 256 or 512 segments of 3 steps, the engine's
//! measured fuel per segment, `init`, `export` and `eval`. The buyer places
//! [`actors::BIDS_PER_BLOCK`] bids a block until the horizon's last [`DRAIN_BLOCKS`], which are
//! left for every job to end, so that profit is counted on ended jobs only. Compute costs three
//! quarters of the offer price: the provider margin the runtime's collateral is sized for.
//!
//! **Profit** of a party over a seed is the change in what it holds (free plus reserved: stake,
//! bonds and escrow are reserved) minus its off-chain compute, fuel × `COST_PER_MFUEL`; per job
//! is that over the jobs (workers) or checks (verifiers) it took part in. A strategy's
//! `mean_profit` and `p95_profit` are over seeds (in AGR per job); `detected_rate` is the share
//! of its jobs (workers: the job ended with the worker slashed; a job cancelled before its
//! result is left out, there was nothing to rule on) or checks (verifiers: a check decided
//! missed or wrong, or a dispute lost) that the protocol ruled against.
//!
//! Not simulated yet (issue 11): open challenges and watchers, the market's manipulation
//! strategies (covered by named pallet tests), and parameter choices other than the
//! runtime's.

pub mod actors;
pub mod chain;
pub mod report;
pub mod rng;
pub mod truth;

use std::collections::BTreeMap;

use agora_primitives::AGR;
use agora_primitives::{AccountId, Balance};
use agora_runtime::Jobs;
use agora_runtime::RuntimeEvent;
use pallet_jobs::{JobId, JobStatus};
use pallet_verification::CheckOutcome;

use actors::{Verifier, VerifierPlay, Worker, WorkerPlay};
use chain::{Party, SimChain};
use report::{Report, SeedOutcome, StrategyRun};
use rng::Rng;

/// Blocks at the end of the horizon with no new bids.
/// Long enough for a job whose checks a lazy verifier holds several of: each of its false
/// mismatches is disputed in turn and ends at a missed move (`MOVE_BLOCKS`, 60).
pub const DRAIN_BLOCKS: u64 = 700;
/// What every simulated party starts with.
const ENDOWMENT: Balance = 2_000_000 * AGR;
/// The colluding verifiers' stake together: a fifth of all verifier stake (three others bond
/// 5,000 AGR each).
const COLLUDING_BOND: Balance = 3_750 * AGR;

/// What to simulate.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// How many seeds: `first_seed .. first_seed + seeds`.
    pub seeds: u64,
    /// The first seed.
    pub first_seed: u64,
    /// Blocks per seed (including the drain).
    pub blocks: u64,
    /// Verifiers the buyer's bids ask for each sampled segment
    /// (`BidTerms::assurance_verifiers`; 0: the runtime's default).
    pub verifiers_per_segment: u32,
}

/// Runs every seed and aggregates the outcomes. Seeds are independent and run on all cores
/// (each thread takes every `threads`-th seed); the outcomes are put back in seed order, so
/// the report does not depend on the number of threads.
pub fn economics(config: &Config) -> Report {
    let seeds: Vec<u64> = (config.first_seed..config.first_seed + config.seeds).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, seeds.len().max(1));
    let mut outcomes: Vec<(u64, SeedOutcome)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<u64> = seeds.iter().copied().skip(t).step_by(threads).collect();
                scope.spawn(move || {
                    mine.into_iter()
                        .map(|seed| (seed, run_seed(seed, config)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a seed's run panicked"))
            .collect()
    });
    outcomes.sort_by_key(|(seed, _)| *seed);
    let outcomes: Vec<SeedOutcome> = outcomes.into_iter().map(|(_, o)| o).collect();
    Report::from_seeds(config, &outcomes)
}

/// The population of every seed.
fn population() -> (Vec<Worker>, Vec<Verifier>) {
    let workers = vec![
        Worker::new("worker/honest/0", WorkerPlay::Honest),
        Worker::new("worker/honest/1", WorkerPlay::Honest),
        Worker::new("worker/forge-one/0", WorkerPlay::ForgeOne),
        Worker::new("worker/forge-one/1", WorkerPlay::ForgeOne),
        Worker::new("worker/forge-one/2", WorkerPlay::ForgeOne),
        Worker::new("worker/forge-one/3", WorkerPlay::ForgeOne),
        Worker::new("worker/forge-one/4", WorkerPlay::ForgeOne),
        Worker::new("worker/forge-one/5", WorkerPlay::ForgeOne),
        Worker::new("worker/forge-colluding/0", WorkerPlay::ForgeOneColluding),
        Worker::new("worker/forge-colluding/1", WorkerPlay::ForgeOneColluding),
        Worker::new("worker/forge-colluding/2", WorkerPlay::ForgeOneColluding),
        Worker::new("worker/forge-colluding/3", WorkerPlay::ForgeOneColluding),
        Worker::new("worker/forge-colluding/4", WorkerPlay::ForgeOneColluding),
        Worker::new("worker/forge-colluding/5", WorkerPlay::ForgeOneColluding),
        Worker::new("worker/forge-all/0", WorkerPlay::ForgeAll),
        Worker::new("worker/overbill/0", WorkerPlay::Overbill { percent: 20 }),
        Worker::new(
            "worker/overbill-hidden/0",
            WorkerPlay::OverbillHidden { percent: 50 },
        ),
    ];
    let verifiers = vec![
        Verifier::new("verifier/honest/0", VerifierPlay::Honest),
        Verifier::new("verifier/honest/1", VerifierPlay::Honest),
        Verifier::new("verifier/lazy/0", VerifierPlay::Lazy),
        // The colluders' stake split over two accounts (sybils buy no extra draws: verifiers
        // are drawn by stake): together a fifth of all verifier stake at the start.
        Verifier::new("verifier/colluding/0", VerifierPlay::Colluding)
            .with_bond(COLLUDING_BOND / 2),
        Verifier::new("verifier/colluding/1", VerifierPlay::Colluding)
            .with_bond(COLLUDING_BOND / 2),
    ];
    (workers, verifiers)
}

/// The strategy a worker plays, by name.
fn worker_strategy(play: WorkerPlay) -> (&'static str, bool) {
    match play {
        WorkerPlay::Honest => ("honest_worker", true),
        WorkerPlay::ForgeOne => ("forging_worker_one_segment", false),
        WorkerPlay::ForgeOneColluding => ("forging_worker_one_segment_colluding_20pct", false),
        WorkerPlay::ForgeAll => ("forging_worker_all_segments", false),
        WorkerPlay::Overbill { .. } => ("overbilling_worker_20pct", false),
        WorkerPlay::OverbillHidden { .. } => ("hidden_overbilling_worker_50pct", false),
    }
}

/// One seed: the population plays for `blocks` blocks.
fn run_seed(seed: u64, config: &Config) -> SeedOutcome {
    let blocks = config.blocks;
    truth::forget_blobs();
    let mut rng = Rng::new(seed);
    let buyer = Party::new("buyer/0");
    let griefer = Party::new("buyer/griefing/0");
    let (mut workers, mut verifiers) = population();
    let mut parties: Vec<&Party> = vec![&buyer, &griefer];
    parties.extend(workers.iter().map(|w| &w.party));
    parties.extend(verifiers.iter().map(|v| &v.party));
    let mut chain = SimChain::new(&parties, ENDOWMENT);
    // The griefer's jobs run the module and dataset the buyer registered.
    actors::buyer_start(&mut chain, &buyer);
    for worker in &workers {
        worker.start(&mut chain, blocks);
    }
    for verifier in &verifiers {
        verifier.start(&mut chain);
    }
    chain.block(&mut rng);
    let start: BTreeMap<_, _> = workers
        .iter()
        .map(|w| &w.party)
        .chain(verifiers.iter().map(|v| &v.party))
        .chain([&buyer, &griefer])
        .map(|p| (p.account, chain.holdings(&p.account)))
        .collect();
    let mut jobs: Vec<JobId> = Vec::new();
    // The griefer's cancellations, by the block after which it sends them, and its jobs.
    let mut cancels: BTreeMap<u64, Vec<JobId>> = BTreeMap::new();
    let mut griefed: u64 = 0;
    // A cancellation sent within this many blocks of the match lands too late for the worker
    // of a largest job to commit within the notice (the worker commits in the block after its
    // run; the cancellation lands in the block after it is sent).
    let grief_window = actors::run_blocks(actors::JOB_SEGMENTS[1])
        .saturating_sub(<agora_runtime::Runtime as pallet_jobs::Config>::CANCEL_NOTICE_BLOCKS)
        .max(1);
    // Parties the protocol ruled against: a check decided missed or wrong, a dispute lost.
    let mut flagged: BTreeMap<AccountId, u64> = BTreeMap::new();
    let bidding_until = blocks.saturating_sub(DRAIN_BLOCKS);
    for number in 1..blocks {
        if number < bidding_until {
            for _ in 0..actors::BIDS_PER_BLOCK {
                let segments = actors::JOB_SEGMENTS[usize::from(rng.below(2) == 1)];
                let bid = actors::bid(rng.next(), segments, number, config.verifiers_per_segment);
                chain.submit(&buyer, bid);
            }
            for _ in 0..actors::GRIEF_BIDS_PER_BLOCK {
                chain.submit(&griefer, actors::griefing_bid(rng.next(), number));
            }
        }
        let events = chain.block(&mut rng);
        for event in events {
            match event {
                RuntimeEvent::Jobs(pallet_jobs::Event::JobAssigned { job, .. }) => {
                    if Jobs::job(chain.state(), job).is_some_and(|j| j.buyer == griefer.account) {
                        griefed += 1;
                        let at = number + rng.below(grief_window);
                        cancels.entry(at).or_default().push(job);
                    }
                    jobs.push(job);
                }
                RuntimeEvent::Verification(pallet_verification::Event::CheckDecided {
                    verifier,
                    outcome: CheckOutcome::Missed | CheckOutcome::Wrong | CheckOutcome::Refuted,
                    ..
                }) => *flagged.entry(verifier).or_default() += 1,
                RuntimeEvent::Verification(pallet_verification::Event::DisputeLost {
                    loser,
                    ..
                }) => *flagged.entry(loser).or_default() += 1,
                _ => {}
            }
        }
        for id in &jobs {
            let random = rng.next();
            for worker in &mut workers {
                worker.act(&mut chain, *id, random);
            }
            let salt = rng.next();
            // The job's trace, if its worker colludes (its verifiers copy it).
            let partner = workers
                .iter()
                .filter(|w| w.play == WorkerPlay::ForgeOneColluding)
                .find_map(|w| w.jobs.get(id));
            for verifier in &mut verifiers {
                verifier.act(&mut chain, *id, salt, partner);
            }
        }
        for job in cancels.remove(&number).unwrap_or_default() {
            let call = pallet_jobs::Call::CancelJob { job };
            chain.submit(&griefer, agora_runtime::RuntimeCall::Jobs(call));
        }
        jobs.retain(|id| Jobs::job(chain.state(), *id).is_some_and(|job| !job.status.is_final()));
    }
    let mut outcome = outcome(&chain, &start, (&workers, &verifiers, &buyer), &flagged);
    let run = outcome
        .strategies
        .entry("griefing_buyer")
        .or_insert_with(|| StrategyRun::new(false));
    run.profit += delta(&chain, &start, &griefer);
    run.units += griefed;
    // Its cancellations are within the rules: nothing to rule on.
    run.unruled += griefed;
    outcome
}

/// The change in what `party` holds since `start`.
fn delta(chain: &SimChain, start: &BTreeMap<AccountId, Balance>, party: &Party) -> i128 {
    let before = start.get(&party.account).copied().unwrap_or(0);
    i128::try_from(chain.holdings(&party.account)).unwrap_or(i128::MAX)
        - i128::try_from(before).unwrap_or(i128::MAX)
}

/// What each strategy made in this seed.
fn outcome(
    chain: &SimChain,
    start: &BTreeMap<AccountId, Balance>,
    (workers, verifiers, buyer): (&[Worker], &[Verifier], &Party),
    flagged: &BTreeMap<AccountId, u64>,
) -> SeedOutcome {
    let delta = |party: &Party| delta(chain, start, party);
    let mut runs: BTreeMap<&'static str, StrategyRun> = BTreeMap::new();
    let mut unfinished = 0;
    let mut receipts = (0u128, 0u128);
    for worker in workers {
        let (name, honest) = worker_strategy(worker.play);
        let run = runs.entry(name).or_insert_with(|| StrategyRun::new(honest));
        run.profit += delta(&worker.party) - i128::try_from(worker.compute).unwrap_or(0);
        let mut cancelled = StrategyRun::new(true);
        for (id, spent) in &worker.taken {
            let Some(job) = Jobs::job(chain.state(), *id) else {
                continue;
            };
            run.units += 1;
            match &job.status {
                JobStatus::DisputeLost { .. } | JobStatus::TimedOut { .. } => run.detected += 1,
                JobStatus::Settled { receipt } if job.buyer == buyer.account => {
                    receipts.0 += receipt.paid_verifiers;
                    receipts.1 += receipt.paid_worker;
                }
                JobStatus::Cancelled { fee, .. } => {
                    run.unruled += 1;
                    cancelled.units += 1;
                    cancelled.profit += i128::try_from(*fee).unwrap_or(i128::MAX)
                        - i128::try_from(*spent).unwrap_or(i128::MAX);
                }
                status if !status.is_final() => unfinished += 1,
                _ => {}
            }
        }
        if worker.play == WorkerPlay::Honest {
            let run = runs
                .entry("honest_worker_cancelled_jobs")
                .or_insert_with(|| StrategyRun::new(true));
            run.units += cancelled.units;
            run.profit += cancelled.profit;
        }
    }
    for verifier in verifiers {
        let (name, honest) = match verifier.play {
            VerifierPlay::Honest => ("honest_verifier", true),
            VerifierPlay::Lazy => ("lazy_verifier", false),
            // The coalition's row is its workers': what colluding saves the verifier side is
            // the compute of its partners' checks; its honest work on other jobs is not
            // collusion's gain and stays out of the table.
            VerifierPlay::Colluding => {
                let (name, _) = worker_strategy(WorkerPlay::ForgeOneColluding);
                let run = runs.entry(name).or_insert_with(|| StrategyRun::new(false));
                run.profit += i128::try_from(verifier.saved).unwrap_or(0);
                continue;
            }
        };
        let run = runs.entry(name).or_insert_with(|| StrategyRun::new(honest));
        run.profit += delta(&verifier.party) - i128::try_from(verifier.compute).unwrap_or(0);
        run.units += verifier.checks;
        run.detected += flagged.get(&verifier.party.account).copied().unwrap_or(0);
    }
    SeedOutcome {
        strategies: runs,
        buyer_profit: delta(buyer),
        verification_cost: receipts,
        unfinished_jobs: unfinished,
        failed_calls: chain.failed.clone(),
    }
}
