//! The simulated parties and what each does every block, reading the chain as the daemons do.
//!
//! - The **buyer** places [`BIDS_PER_BLOCK`] bids for jobs of [`JOB_SEGMENTS`] segments every
//!   block until the horizon's drain (so that every job has ended when profits are counted).
//! - A **worker** keeps one offer open and, for every job assigned to it, runs it for
//!   [`run_blocks`] blocks (the job's compute spread evenly over them) and commits a trace,
//!   reveals the sampled starts and leaves, and in a dispute bisects and has the referee run —
//!   if honest. A cheating worker commits its cheat and, once disputed, makes no move (it
//!   cannot win one; the rules make it lose at the deadline). Told that the buyer cancels, a
//!   worker finishes if its commitment can land within the notice (that voids the
//!   cancellation) and stops at once otherwise, having spent the share of the compute it ran.
//! - The **griefing buyer** places [`GRIEF_BIDS_PER_BLOCK`] bids a block for the largest jobs,
//!   at the offers' price and the job's exact fuel (the smallest max payment, so the smallest
//!   cancellation fee), and cancels every job it gets at a random block early enough that the
//!   worker cannot finish within the notice: it pays to make workers run for nothing.
//! - A **verifier** is registered; for every check drawn for it, it re-executes (honest) or
//!   makes up a leaf (lazy), attests, reveals, and answers the bisection moves of its disputes
//!   (honest) or does not (lazy).
//!
//! Compute is not on chain: each party's compute cost is counted as fuel × [`COST_PER_MFUEL`].

use std::collections::BTreeMap;

use agora_primitives::trace::{TraceLeaf, TraceTree};
use agora_primitives::AGR;
use agora_primitives::{Balance, Hash};
use agora_runtime::{Jobs, RuntimeCall, Verification};
use pallet_jobs::{Commitment, JobId, JobStatus};
use pallet_market::{BidTerms, Energy, JobSpec, Region, FUEL_PER_MFUEL};
use pallet_verification::{sampling, Audit, Claim, FinalResult, Phase, Turn};
use parity_scale_codec::Compact;

use crate::chain::{Party, SimChain};
use crate::truth;

/// The sizes of simulated jobs, in segments of the example MLP (the buyer picks one at random
/// for each bid): long enough training runs that checking costs their buyer under 3 % of the
/// compute at the runtime's sampling rate. Detection by sampling depends on it.
pub const JOB_SEGMENTS: [u64; 2] = [256, 512];
/// The most segments a job has.
const MAX_SEGMENTS: u64 = 512;
/// Bids the buyer places every block: enough jobs per seed that a cheat caught on one job in
/// a hundred is caught several times a seed (so that a seed's profit, not only the mean over
/// seeds, says whether it pays).
pub const BIDS_PER_BLOCK: u64 = 3;
/// The offers' price: 0.001 AGR per Mfuel, the dev chain's example.
pub const PRICE: Balance = AGR / 1_000;
/// What a party's compute costs it: three quarters of the offer price (electricity and
/// hardware), so that the provider's margin is the runtime's `PROVIDER_MARGIN_PERCENT` (25 %),
/// the largest the collateral is sized for: the worst case the parameters claim to cover. An
/// assumption of the model, documented in `docs/economics.md`.
pub const COST_PER_MFUEL: Balance = PRICE * 3 / 4;
/// Stake every verifier bonds: a run bond (1 AGR a segment, at most 10 AGR) for each of the
/// runs it may hold at once. With too little, verifiers run out of uncommitted stake at busy
/// times: draws wait, and past `SAMPLE_WAIT_BLOCKS` runs may get fewer verifiers than asked
/// (`docs/economics.md`, verifier exhaustion).
const VERIFIER_BOND: Balance = 5_000 * AGR;
/// Jobs of the largest size an offer takes at once.
const JOBS_IN_FLIGHT: u64 = 16;
/// Stake every worker bonds: room for its jobs' collateral at once (a 256-segment job commits
/// ~2,200 AGR at the bid's max price and fuel).
const WORKER_BOND: Balance = 200_000 * AGR;
/// Segments a worker runs a block: the largest job takes 16 blocks of the bids' 20.
const SEGMENTS_PER_BLOCK: u64 = 32;
/// The run time every bid grants (`run_blocks`).
const BID_RUN_BLOCKS: u32 = 20;
/// Bids the griefing buyer places every block.
pub const GRIEF_BIDS_PER_BLOCK: u64 = 1;

/// Blocks a worker takes to run a job of `segments` segments.
pub fn run_blocks(segments: u64) -> u64 {
    segments.div_ceil(SEGMENTS_PER_BLOCK).max(1)
}

/// How a worker plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerPlay {
    /// Runs every segment and commits the true trace.
    Honest,
    /// Skips one segment (never the last, which is always checked): claims its start state as
    /// its end and carries on from there, so that every later segment is a true transition
    /// and only a check of the skipped one shows it; bills every segment.
    ForgeOne,
    /// Skips one segment as `ForgeOne`, with a colluding verifier
    /// ([`VerifierPlay::Colluding`]) that attests the skipped segment as committed whenever it
    /// is drawn for it: only an honest verifier's check of that segment shows it.
    ForgeOneColluding,
    /// Computes nothing and commits made-up states for every segment.
    ForgeAll,
    /// Runs honestly and bills `percent` % more fuel on every leaf.
    Overbill {
        /// How much more.
        percent: u64,
    },
    /// Runs honestly and bills `percent` % more, added to the fuel of the segment before the
    /// last (and so to every later cumulative leaf): only a check of that segment sees it.
    OverbillHidden {
        /// How much more.
        percent: u64,
    },
}

/// How a verifier plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifierPlay {
    /// Re-executes what it is drawn for and answers truthfully.
    Honest,
    /// Attests a made-up leaf without computing and makes no dispute move.
    Lazy,
    /// Attests what its partner workers ([`WorkerPlay::ForgeOneColluding`]) committed, without
    /// computing, on their jobs; honest on everyone else's.
    Colluding,
}

/// A worker and what it has done.
pub struct Worker {
    /// Its key and account.
    pub party: Party,
    /// How it plays.
    pub play: WorkerPlay,
    /// Its jobs and the trace it committed for each.
    pub jobs: BTreeMap<JobId, Trace>,
    /// Every job it took, and the compute it spent on it (all of it once committed; the share
    /// it ran of a job it stopped on a cancellation).
    pub taken: BTreeMap<JobId, Balance>,
    /// The jobs it is running: when it started and the segment a one-segment forger skips.
    running: BTreeMap<JobId, Run>,
    /// Its off-chain compute cost.
    pub compute: Balance,
}

/// A job a worker is running and has not committed.
struct Run {
    started: u64,
    skipped: u64,
    /// Stopped on a cancellation it could not beat.
    stopped: bool,
}

/// A worker's trace of one job.
pub struct Trace {
    seed: u64,
    leaves: Vec<TraceLeaf>,
    tree: TraceTree,
}

/// A verifier and what it has done.
pub struct Verifier {
    /// Its key and account.
    pub party: Party,
    /// How it plays.
    pub play: VerifierPlay,
    /// What it attested, by job and check: the leaf, the result and the salt it must reveal.
    attested: BTreeMap<(JobId, u32), (TraceLeaf, Option<FinalResult>, [u8; 32])>,
    /// Checks it attested.
    pub checks: u64,
    /// Its off-chain compute cost.
    pub compute: Balance,
    /// The compute it did not spend on its partners' checks (a colluder copies their leaves):
    /// what colluding saves the coalition on the verifier's side.
    pub saved: Balance,
    /// The stake it bonds.
    bond: Balance,
}

impl Worker {
    /// The worker `//agora-sim/<name>` playing `play`.
    pub fn new(name: &str, play: WorkerPlay) -> Worker {
        Worker {
            party: Party::new(name),
            play,
            jobs: BTreeMap::new(),
            taken: BTreeMap::new(),
            running: BTreeMap::new(),
            compute: 0,
        }
    }

    /// Bonds stake and posts an offer that outlives the horizon.
    pub fn start(&self, chain: &mut SimChain, horizon: u64) {
        let bond = RuntimeCall::Staking(pallet_staking::Call::Bond {
            amount: Compact(WORKER_BOND),
        });
        chain.submit(&self.party, bond);
        let offer = RuntimeCall::Market(pallet_market::Call::PostOffer {
            price: Compact(PRICE),
            // Bids cap fuel at twice the job's (room for an overbill).
            capacity: Compact(JOBS_IN_FLIGHT * 2 * MAX_SEGMENTS * truth::SEGMENT_FUEL),
            region: Region::new("eu").expect("a valid region"),
            energy: Energy::Grid,
            collateral: Compact(AGR),
            expires_at: Compact(horizon.saturating_add(1_000)),
        });
        chain.submit(&self.party, offer);
    }

    /// How many of a job's `segments` segments this worker runs.
    fn segments_run(&self, segments: u64) -> u64 {
        match self.play {
            WorkerPlay::Honest
            | WorkerPlay::Overbill { .. }
            | WorkerPlay::OverbillHidden { .. } => segments,
            WorkerPlay::ForgeOne | WorkerPlay::ForgeOneColluding => segments - 1,
            WorkerPlay::ForgeAll => 0,
        }
    }

    /// The trace this worker commits for job `seed` of `segments` segments (`forged`: the one
    /// a one-segment forger skips).
    fn trace(&self, seed: u64, segments: u64, forged: u64) -> Vec<TraceLeaf> {
        let mut leaves: Vec<TraceLeaf> = (0..segments).map(|i| truth::leaf(seed, i)).collect();
        let total = segments * truth::SEGMENT_FUEL;
        match self.play {
            WorkerPlay::Honest => {}
            WorkerPlay::ForgeOne | WorkerPlay::ForgeOneColluding => {
                for leaf in leaves.iter_mut().filter(|l| l.index >= forged) {
                    leaf.state_hash = truth::state(seed, leaf.index * truth::STEPS_PER_SEGMENT);
                }
            }
            WorkerPlay::ForgeAll => {
                for leaf in &mut leaves {
                    leaf.state_hash = truth::forged(seed, leaf.index);
                }
            }
            WorkerPlay::Overbill { percent } => {
                for leaf in &mut leaves {
                    leaf.fuel = leaf.fuel.saturating_mul(100 + percent) / 100;
                }
            }
            WorkerPlay::OverbillHidden { percent } => {
                let extra = total.saturating_mul(percent) / 100;
                for leaf in leaves.iter_mut().filter(|l| l.index + 2 >= segments) {
                    leaf.fuel = leaf.fuel.saturating_add(extra);
                }
            }
        }
        leaves
    }

    /// This worker's moves for job `id` given the chain's state.
    pub fn act(&mut self, chain: &mut SimChain, id: JobId, random: u64) {
        let Some(job) = Jobs::job(chain.state(), id) else {
            return;
        };
        if job.worker != self.party.account || job.status.is_final() {
            return;
        }
        if matches!(job.status, JobStatus::Assigned) && job.commitment.is_none() {
            self.run(chain, id, &job, random);
            return;
        }
        let Some(audit) = Verification::audit(chain.state(), id) else {
            return;
        };
        let Some(trace) = self.jobs.get(&id) else {
            return;
        };
        // A cheat defends a dispute it can win (a lazy verifier's false mismatch over a part of
        // its trace that is true); an honest worker defends every one.
        let defends = audit
            .dispute
            .as_ref()
            .is_some_and(|d| self.play == WorkerPlay::Honest || trace.defensible(d));
        let call = match audit.phase {
            Phase::AwaitingStarts => Some(self.reveal_starts(chain, &audit, trace, id)),
            Phase::AwaitingLeaves => {
                let leaves = audit
                    .checks
                    .iter()
                    .map(|c| (trace.leaf(c.segment), trace.prove(c.segment)))
                    .collect();
                Some(pallet_verification::Call::RevealLeaves { job: id, leaves })
            }
            Phase::Disputed if defends => {
                audit
                    .dispute
                    .as_ref()
                    .and_then(|d| match (d.turn, &d.claim) {
                        (Turn::Worker, Claim::Steps(b)) => {
                            Some(pallet_verification::Call::Bisect {
                                job: id,
                                state: truth::state(
                                    trace.seed,
                                    trace.start_steps(d.segment) + u64::from(b.mid()),
                                ),
                            })
                        }
                        // A leaf bisection (a drawn check's dispute from its run's start).
                        (Turn::Worker, Claim::Leaves(l)) => {
                            Some(pallet_verification::Call::RevealLeaf {
                                job: id,
                                leaf: trace.leaf(l.wanted()),
                                proof: trace.prove(l.wanted()),
                            })
                        }
                        // Submitted now, it executes in the next block.
                        (Turn::Referee, _)
                            if Verification::referee_opens_at(chain.state(), id).is_some_and(
                                |opens| {
                                    agora_runtime::System::block_number(chain.state()) + 1 >= opens
                                },
                            ) =>
                        {
                            Some(pallet_verification::Call::Referee { job: id })
                        }
                        _ => None,
                    })
            }
            _ => None,
        };
        if let Some(call) = call {
            chain.submit(&self.party, RuntimeCall::Verification(call));
        }
    }

    /// Runs assigned job `id`: commits once its run time is up, or stops on a cancellation
    /// its commitment cannot beat, counting the compute it spent either way.
    fn run(&mut self, chain: &mut SimChain, id: JobId, job: &pallet_jobs::Job, random: u64) {
        let now = agora_runtime::System::block_number(chain.state());
        let segments = job.spec.segments();
        let run = self.running.entry(id).or_insert_with(|| Run {
            started: now,
            // The skipped segment: any but the last (the last is always checked).
            skipped: random % segments.saturating_sub(1).max(1),
            stopped: false,
        });
        if run.stopped {
            return;
        }
        let (started, skipped) = (run.started, run.skipped);
        let blocks = run_blocks(segments);
        let done_at = started + blocks;
        // The trace (hundreds of state blobs) is built once, when committing; a running job
        // is looked at every block.
        let mfuel = self.segments_run(segments) * truth::SEGMENT_MFUEL
            + (truth::INIT_FUEL + truth::EXPORT_EVAL_FUEL) / FUEL_PER_MFUEL;
        let cost = Balance::from(mfuel) * COST_PER_MFUEL;
        // Acting after block `now`, its commitment lands in the block after `done_at` at the
        // earliest; past the cancellation's block it would be refused.
        if job.cancel_at.is_some_and(|at| done_at.max(now) + 1 > at) {
            let ran = now.saturating_sub(started).min(blocks);
            let spent = cost * Balance::from(ran) / Balance::from(blocks);
            self.compute += spent;
            self.taken.insert(id, spent);
            if let Some(run) = self.running.get_mut(&id) {
                run.stopped = true;
            }
            return;
        }
        if now < done_at {
            return;
        }
        self.compute += cost;
        self.taken.insert(id, cost);
        self.running.remove(&id);
        let leaves = self.trace(job.spec.seed, segments, skipped);
        self.commit(chain, id, job.spec.seed, leaves);
    }

    /// Registers the model and final state and commits `leaves` for job `id`.
    fn commit(&mut self, chain: &mut SimChain, id: JobId, seed: u64, leaves: Vec<TraceLeaf>) {
        let tree = TraceTree::new(leaves.clone()).expect("a non-empty trace");
        let last = *leaves.last().expect("a non-empty trace");
        // The model of the state the trace ends in (a made-up one has none: the forger names
        // the true model, which its trace cannot produce).
        let output = truth::model(
            seed,
            truth::steps_of(seed, &last.state_hash)
                .unwrap_or(leaves.len() as u64 * truth::STEPS_PER_SEGMENT),
        );
        for hash in [output, last.state_hash] {
            register(chain, &self.party, hash);
        }
        let (heaviest_segment, heaviest_fuel) = agora_primitives::trace::heaviest_segment(&leaves);
        let commitment = Commitment {
            trace_root: tree.root(),
            segments: u64::try_from(leaves.len()).expect("a trace length fits"),
            final_state: last.state_hash,
            total_fuel: last.fuel,
            heaviest_segment,
            heaviest_fuel,
            output,
            metrics: truth::METRICS.to_vec(),
        };
        let final_proof = tree
            .prove(last.index)
            .expect("the last leaf is in the tree");
        chain.submit(
            &self.party,
            RuntimeCall::Jobs(pallet_jobs::Call::CommitResult {
                job: id,
                commitment,
                final_proof,
            }),
        );
        self.jobs.insert(id, Trace { seed, leaves, tree });
    }

    fn reveal_starts(
        &self,
        chain: &mut SimChain,
        audit: &Audit,
        trace: &Trace,
        id: JobId,
    ) -> pallet_verification::Call {
        let sample: Vec<u64> = audit.checks.iter().map(|c| c.segment).collect();
        let starts = audit
            .checks
            .iter()
            .map(|c| {
                sampling::start_leaf(&sample, c.segment).map(|previous| {
                    register(chain, &self.party, trace.leaf(previous).state_hash);
                    (trace.leaf(previous), trace.prove(previous))
                })
            })
            .collect();
        pallet_verification::Call::RevealStarts { job: id, starts }
    }
}

impl Trace {
    /// Whether the worker's claim in `dispute` is true, so that playing honestly wins it: the
    /// states of a step dispute's segment and its start, the whole leaf of a segment re-run, the
    /// final state of an output dispute.
    fn defensible(&self, dispute: &pallet_verification::Dispute) -> bool {
        let s = dispute.segment;
        match &dispute.claim {
            // The segment's end is its start's state plus one segment of steps.
            Claim::Steps(_) => {
                truth::steps_of(self.seed, &self.leaf(s).state_hash)
                    == Some(self.start_steps(s) + truth::STEPS_PER_SEGMENT)
                    && (s == 0
                        || truth::steps_of(self.seed, &self.leaf(s - 1).state_hash).is_some())
            }
            Claim::Segment(claim) => truth::rerun(self.seed, s, claim.start) == claim.leaf,
            Claim::Output => self
                .leaves
                .last()
                .is_some_and(|l| truth::steps_of(self.seed, &l.state_hash).is_some()),
            Claim::Leaves(_) => false,
        }
    }

    /// The steps of the state segment `s` starts from in this trace (made-up states count as
    /// where an honest run would be).
    fn start_steps(&self, s: u64) -> u64 {
        match s.checked_sub(1) {
            None => 0,
            Some(previous) => truth::steps_of(self.seed, &self.leaf(previous).state_hash)
                .unwrap_or(s * truth::STEPS_PER_SEGMENT),
        }
    }

    pub(crate) fn leaf(&self, index: u64) -> TraceLeaf {
        self.leaves[usize::try_from(index).expect("a segment index fits")]
    }

    fn prove(&self, index: u64) -> agora_primitives::trace::InclusionProof {
        self.tree
            .prove(index)
            .expect("a sampled leaf is in the tree")
    }
}

/// `who` registers blob `hash` (a state or a model the simulation made) unless it already is.
fn register(chain: &mut SimChain, who: &Party, hash: Hash) {
    if Jobs::blob(chain.state(), &hash).is_none() {
        let bytes = truth::bytes_of(&hash).expect("the simulation made every blob it registers");
        chain.submit(who, registration(&bytes));
    }
}

/// The registration of `bytes` as a blob, with its size proof.
fn registration(bytes: &[u8]) -> RuntimeCall {
    RuntimeCall::Jobs(pallet_jobs::Call::register_blob_of(bytes))
}

impl Verifier {
    /// The verifier `//agora-sim/<name>` playing `play`, bonding the standard stake.
    pub fn new(name: &str, play: VerifierPlay) -> Verifier {
        Verifier {
            party: Party::new(name),
            play,
            attested: BTreeMap::new(),
            checks: 0,
            compute: 0,
            saved: 0,
            bond: VERIFIER_BOND,
        }
    }

    /// The same, bonding `bond` (its share of verifier stake is its share of the draws).
    pub fn with_bond(self, bond: Balance) -> Verifier {
        Verifier { bond, ..self }
    }

    /// Bonds stake and registers as a verifier.
    pub fn start(&self, chain: &mut SimChain) {
        let bond = RuntimeCall::Staking(pallet_staking::Call::Bond {
            amount: Compact(self.bond),
        });
        chain.submit(&self.party, bond);
        let register = pallet_verification::Call::RegisterVerifier;
        chain.submit(&self.party, RuntimeCall::Verification(register));
    }

    /// This verifier's moves for job `id`; `partner` is the job's trace if its worker colludes
    /// (only a colluding verifier looks at it).
    pub fn act(
        &mut self,
        chain: &mut SimChain,
        id: JobId,
        salt_seed: u64,
        partner: Option<&Trace>,
    ) {
        let Some(audit) = Verification::audit(chain.state(), id) else {
            return;
        };
        let Some(job) = Jobs::job(chain.state(), id) else {
            return;
        };
        let seed = job.spec.seed;
        let me = self.party.account;
        let mut previous: Option<TraceLeaf> = None;
        for (index, check) in audit.checks.iter().enumerate() {
            let index = u32::try_from(index).expect("a few checks");
            // Another verifier's check of the same run sits between two of ours when a segment
            // has several verifiers: skip it, and chain only from our own leaf of the segment
            // just before (a run's start is revealed; its later segments start from our leaf).
            if check.verifier != me {
                continue;
            }
            match audit.phase {
                Phase::AwaitingAttestations if check.attestation.is_none() => {
                    let start = check
                        .start
                        .or(previous.filter(|leaf| leaf.index.saturating_add(1) == check.segment));
                    let last = check.segment + 1 == audit.segments;
                    let (leaf, result) = self.compute(seed, check.segment, start, last, partner);
                    previous = Some(leaf);
                    let salt = Hash::of_parts(&[&salt_seed.to_le_bytes(), &index.to_le_bytes()]).0;
                    let commitment = pallet_verification::attestation_hash(
                        id, index, &me, &leaf, &result, &salt,
                    );
                    self.attested.insert((id, index), (leaf, result, salt));
                    self.checks += 1;
                    let attest = pallet_verification::Call::Attest {
                        job: id,
                        check: index,
                        commitment,
                    };
                    chain.submit(&self.party, RuntimeCall::Verification(attest));
                }
                Phase::AwaitingReveals if check.outcome.is_none() => {
                    if let Some((leaf, result, salt)) = self.attested.get(&(id, index)) {
                        let reveal = pallet_verification::Call::RevealAttestation {
                            job: id,
                            check: index,
                            leaf: *leaf,
                            result: *result,
                            salt: *salt,
                        };
                        chain.submit(&self.party, RuntimeCall::Verification(reveal));
                    }
                }
                _ => previous = self.attested.get(&(id, index)).map(|(leaf, ..)| *leaf),
            }
        }
        let answers = matches!(self.play, VerifierPlay::Honest | VerifierPlay::Colluding);
        if let (Some(dispute), true) = (&audit.dispute, answers) {
            let agree = match (dispute.turn, &dispute.claim, dispute.challenger == me) {
                (Turn::Challenger, Claim::Steps(b), true) => b.midpoint.map(|posted| {
                    let step = dispute.segment * truth::STEPS_PER_SEGMENT + u64::from(b.mid());
                    posted == truth::state(seed, step)
                }),
                // A leaf bisection from its run's start: the honest leaf, whole if over fuel.
                (Turn::Challenger, Claim::Leaves(l), true) => l.midpoint.map(|posted| {
                    let mine = truth::leaf(seed, posted.index);
                    if l.fuel {
                        mine == posted
                    } else {
                        mine.state_hash == posted.state_hash
                    }
                }),
                _ => None,
            };
            if let Some(agree) = agree {
                let answer = pallet_verification::Call::Answer { job: id, agree };
                chain.submit(&self.party, RuntimeCall::Verification(answer));
            }
        }
    }

    /// The leaf (and, for the last segment, the result) this verifier attests for `segment`.
    fn compute(
        &mut self,
        seed: u64,
        segment: u64,
        start: Option<TraceLeaf>,
        last: bool,
        partner: Option<&Trace>,
    ) -> (TraceLeaf, Option<FinalResult>) {
        if let (VerifierPlay::Colluding, Some(trace)) = (self.play, partner) {
            // The partner's own leaf, and its result for the last segment: no compute.
            let leaf = trace.leaf(segment);
            let honest_cost = self.honest(seed, segment, start, last).2;
            self.saved += honest_cost;
            let result = last.then(|| final_result(seed, &leaf));
            return (leaf, result);
        }
        match self.play {
            VerifierPlay::Lazy => {
                let made_up = TraceLeaf {
                    index: segment,
                    state_hash: truth::blob(&[b"agora/sim/lazy"]),
                    fuel: 0,
                };
                let guess = audit_steps_guess(segment);
                (made_up, last.then_some(truth::result(seed, guess)))
            }
            VerifierPlay::Honest | VerifierPlay::Colluding => {
                let (leaf, result, cost) = self.honest(seed, segment, start, last);
                self.compute += cost;
                (leaf, result)
            }
        }
    }

    /// What re-executing `segment` from `start` gives, and what it costs.
    fn honest(
        &self,
        seed: u64,
        segment: u64,
        start: Option<TraceLeaf>,
        last: bool,
    ) -> (TraceLeaf, Option<FinalResult>, Balance) {
        let mut mfuel = truth::SEGMENT_MFUEL;
        if start.is_none() {
            mfuel += truth::INIT_FUEL / FUEL_PER_MFUEL;
        }
        let leaf = truth::rerun(seed, segment, start);
        let result = last.then(|| {
            mfuel += truth::EXPORT_EVAL_FUEL / FUEL_PER_MFUEL;
            final_result(seed, &leaf)
        });
        (leaf, result, Balance::from(mfuel) * COST_PER_MFUEL)
    }
}

/// The model and metrics of the state a leaf names (none for a state no run reaches).
fn final_result(seed: u64, leaf: &TraceLeaf) -> FinalResult {
    match truth::steps_of(seed, &leaf.state_hash) {
        Some(t) => truth::result(seed, t),
        None => FinalResult {
            output: Hash::ZERO,
            metrics: Hash::ZERO,
        },
    }
}

/// The steps an honest run has taken after `segment`: what a lazy verifier assumes.
fn audit_steps_guess(segment: u64) -> u64 {
    (segment + 1) * truth::STEPS_PER_SEGMENT
}

/// The buyer's bid for a job of `segments` segments with seed `seed`, asking `verifiers` per
/// sampled segment (0: the runtime's default).
pub fn bid(seed: u64, segments: u64, now: u64, verifiers: u32) -> RuntimeCall {
    let fuel = segments * truth::SEGMENT_FUEL;
    // Room for an overbill: the bid's cap is what a worker may bill at most.
    bid_with(seed, segments, now, (2 * PRICE, fuel * 2), verifiers)
}

/// The griefing buyer's bid: the largest job at the offers' price and the job's exact fuel,
/// the least the cancellation fee can be a share of.
pub fn griefing_bid(seed: u64, now: u64) -> RuntimeCall {
    bid_with(
        seed,
        MAX_SEGMENTS,
        now,
        (PRICE, MAX_SEGMENTS * truth::SEGMENT_FUEL),
        0,
    )
}

/// A bid for a job of `segments` segments at `(max_price, max_fuel)`, with `verifiers` per
/// sampled segment.
fn bid_with(
    seed: u64,
    segments: u64,
    now: u64,
    (max_price, max_fuel): (Balance, u64),
    verifiers: u32,
) -> RuntimeCall {
    RuntimeCall::Market(pallet_market::Call::PlaceBid {
        spec: JobSpec {
            module: module_blob(),
            dataset: dataset_blob(),
            params: Vec::new(),
            steps: segments * truth::STEPS_PER_SEGMENT,
            segment_steps: truth::STEPS_PER_SEGMENT,
            seed,
        },
        terms: BidTerms {
            max_price,
            max_fuel,
            run_blocks: BID_RUN_BLOCKS,
            deadline: now + 40,
            region: None,
            renewable_only: false,
            requeue: false,
            assurance_permille: 0,
            assurance_verifiers: verifiers,
        },
    })
}

/// The module every simulated job runs (registered once by the buyer).
const MODULE: &[u8] = b"agora/sim/module";
/// The dataset every simulated job trains on.
const DATASET: &[u8] = b"agora/sim/dataset";

/// The module's blob hash.
pub fn module_blob() -> Hash {
    Hash::of(MODULE)
}

/// The dataset's blob hash.
pub fn dataset_blob() -> Hash {
    Hash::of(DATASET)
}

/// The buyer registers the module and the dataset.
pub fn buyer_start(chain: &mut SimChain, buyer: &Party) {
    for bytes in [MODULE, DATASET] {
        chain.submit(buyer, registration(bytes));
    }
}
