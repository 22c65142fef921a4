//! The referee's warmer: work done on finalized blocks so that no block builder or importer
//! does it inline (see the parent module's doc, *Compiled ahead* and *Decided ahead*).
//!
//! - **Modules.** The module of every job a finalized block assigns is fetched from peers if
//!   this node lacks it and compiled, once a run. A failed fetch is tried again on each of the
//!   next [`MAX_FETCH_RETRIES`] finalized blocks.
//! - **Disputes.** A dispute a finalized block moved to the referee's turn is decided ahead
//!   once this node holds every blob its request reads; a blob missing is fetched from peers
//!   in the background as a fetch something waits on (`FetchClass::Needed`, at most
//!   [`MAX_WARMER_FETCHES`] at once), and while any is missing the dispute is looked at again
//!   on every finalized block, for as long as it stays at the referee's turn (its request is
//!   read afresh each time, from the finalized state) and at most [`MAX_DISPUTE_ROUNDS`]
//!   blocks; at most [`MAX_WAITING_DISPUTES`] disputes wait (one that moves past that is
//!   looked at once).
//!
//!   An unrunnable declaration (`pallet_jobs` `declare_unrunnable`) is decided ahead the same
//!   way, as if it were a dispute at the referee's turn: its request (`init` and segment 0,
//!   up to `MAX_SEGMENT_FUEL`) is what the worker's `prove_unrunnable` makes the referee run,
//!   and that call opens only after the lead of the re-run, as a dispute's `referee` call does.
//!
//!   Why look again: the pre-state of a step, and the start of a segment re-run, are often
//!   registered only *after* the move that made the turn the referee's: the worker registers
//!   and uploads them then (`agora-worker`'s `dispute.rs`). A node that looked once, at the
//!   move, never decided ahead: a whole-segment re-run (up to `MAX_SEGMENT_FUEL`, seconds)
//!   then ran inline in the block carrying the call, which the call's opening lead exists to
//!   prevent; and on a node the worker is not connected to, the pre-state was left to fetches
//!   ahead of need, which anyone can crowd.
//! - The two halves run as two tasks, and the disputes' half never awaits a fetch: a worker
//!   that drips its own pre-state must not hold up other disputes or any module's compilation
//!   (a first version awaited each fetch in one loop; a review found a dripped 64 MiB state
//!   held it ~10 minutes a round, past the event channel's capacity).

use super::{EngineReferee, Referee};
use crate::chain::{Chain, ChainEvent};
use crate::consensus::BlobFetcher;
use agora_primitives::referee::{RefereeRequest, RefereeTask, RefereeVerdict};
use agora_primitives::BlockNumber;
use agora_primitives::Hash;
use pallet_jobs::JobId;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, PoisonError};
use tokio::sync::broadcast::error::RecvError;

/// Finalized blocks on which the warmer tries again to fetch a module whose fetch failed.
const MAX_FETCH_RETRIES: u32 = 16;

/// Finalized blocks on which the warmer looks at a dispute whose blobs it does not all hold.
/// The chain ends the wait: a dispute leaves the referee's turn at its deadline, which since
/// spec version 21 is a fifth of a move after its call opens behind the re-run queue (103
/// blocks for an output at the bound with the queue empty; more behind a deep queue), so a
/// blob that comes late in a long turn is still worth deciding. This bound, over an hour of
/// blocks, only keeps the loop finite should a dispute never leave the turn. (It was 64, one
/// move window and a little, which a turn now outlasts.)
const MAX_DISPUTE_ROUNDS: u32 = 4_096;

/// Most disputes waiting for their blobs at once: disputes at the referee's turn at once, with
/// room to spare (each is looked at again on every finalized block, so not as many as verdicts
/// are kept).
const MAX_WAITING_DISPUTES: usize = 64;

/// Compiles, in the background, the module of every job assigned in a finalized block, and
/// decides ahead the disputes at the referee's turn (see the module doc), fetching from peers
/// (with `fetch`) the blobs they need that this node does not hold, so that every validator
/// can referee. Runs until the chain's event channel closes.
pub async fn run_warmer(chain: Chain, referee: Arc<EngineReferee>, fetch: Option<BlobFetcher>) {
    // Two loops, a task each: a module's compilation (seconds) or its fetch never holds up a
    // dispute's decision, nor a dispute's run a module's compilation.
    let modules = tokio::spawn(warm_modules(chain.clone(), referee.clone(), fetch.clone()));
    let fetches = Arc::new(FetchesInFlight::default());
    let mut blocks = FinalizedBlocks::new(&chain);
    let mut disputes = WaitingDisputes::default();
    while let Some(finalized) = blocks.next().await {
        let moved = finalized
            .iter()
            .flat_map(|hash| moved_disputes(&chain, hash))
            .collect();
        let source = ChainDisputes {
            chain: &chain,
            referee: &referee,
            fetch: fetch.as_ref(),
            fetches: &fetches,
        };
        warm_disputes(&mut disputes, moved, &source, &referee).await;
    }
    modules.abort();
}

/// The modules' half of [`run_warmer`]: each assigned job's module, fetched if this node lacks
/// it and compiled, once a run; a failed fetch tried again on the next finalized blocks.
async fn warm_modules(chain: Chain, referee: Arc<EngineReferee>, fetch: Option<BlobFetcher>) {
    let mut blocks = FinalizedBlocks::new(&chain);
    let mut modules = WarmedModules::default();
    while let Some(finalized) = blocks.next().await {
        let assigned = finalized
            .iter()
            .flat_map(|hash| assigned_modules(&chain, hash))
            .collect();
        // Bounded by the distinct modules of assigned jobs, each compiled once a run, and by
        // the retries.
        for module in modules.due(assigned) {
            if !fetch_missing(&chain, &referee, fetch.as_ref(), &[module]).await {
                modules.fetch_failed(module);
                continue;
            }
            modules.done(module);
            let referee = referee.clone();
            let _ = tokio::task::spawn_blocking(move || referee.prepare(&module)).await;
        }
    }
}

/// Most finalized blocks a warmer loop catches up on at once after falling behind; older ones
/// are passed over: a module of theirs is compiled when a later assignment names it or a block
/// needs it, and a dispute of theirs is decided ahead only if it moves again (one left at the
/// referee's turn there is run by the block that carries its call). The dispute loop falls
/// behind by as long as it decides: since spec version 21 the chain queues re-runs for a
/// warmer that takes them one after another, so a queue several re-runs deep (91 blocks each
/// at the bound) keeps it busy that long, and passing over the blocks that made later ones due
/// would leave those to be run inline. Over an hour of blocks; only reading each one's
/// events. (It was 256: three re-runs at the bound.)
const MAX_CATCH_UP: BlockNumber = 4_096;

/// The finalized blocks a warmer loop works on, each once and in order — those whose events
/// the chain's channel dropped while the loop was busy (`Lagged`) too, which were skipped
/// before: a dispute that moved in one was never decided ahead.
struct FinalizedBlocks<'a> {
    chain: &'a Chain,
    events: tokio::sync::broadcast::Receiver<ChainEvent>,
    cursor: Cursor,
}

impl<'a> FinalizedBlocks<'a> {
    fn new(chain: &'a Chain) -> Self {
        Self {
            chain,
            events: chain.subscribe(),
            cursor: Cursor::default(),
        }
    }

    /// The hashes of the blocks finalized since the last call, oldest first (at least one);
    /// `None` once the chain's event channel closes.
    async fn next(&mut self) -> Option<Vec<Hash>> {
        loop {
            let tip = match self.events.recv().await {
                Ok(ChainEvent::Finalized { header, .. }) => header.number.0,
                Ok(_) | Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            };
            let hashes: Vec<Hash> = self
                .cursor
                .advance(tip)
                .filter_map(|number| self.chain.block_hash(number).ok().flatten())
                .collect();
            if !hashes.is_empty() {
                return Some(hashes);
            }
        }
    }
}

/// The last finalized block number a warmer loop handled.
#[derive(Default)]
struct Cursor {
    handled: Option<BlockNumber>,
}

impl Cursor {
    /// The numbers of the blocks to handle now that block `tip` is finalized, oldest first: those
    /// after the last handled, at most [`MAX_CATCH_UP`]; only `tip` at the first call (a
    /// warmer starting on a running chain does not go through its history).
    fn advance(&mut self, tip: BlockNumber) -> std::ops::RangeInclusive<BlockNumber> {
        let oldest = tip.saturating_sub(MAX_CATCH_UP - 1);
        let first = self
            .handled
            .map_or(tip, |handled| handled.saturating_add(1).max(oldest));
        self.handled = Some(self.handled.map_or(tip, |handled| handled.max(tip)));
        first..=tip
    }
}

/// A referee call the warmer may decide ahead: what it will ask for, and when it opens.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Pending {
    /// The request the call will make.
    request: RefereeRequest,
    /// The job's first segment from `init`, which the call also asks for when `request`'s
    /// verdict is machine-dependent (the request itself for an unrunnable declaration).
    establishing: RefereeRequest,
    /// The first block that accepts the call.
    opens_at: BlockNumber,
}

/// What the warmer needs of the chain and the blob network to decide disputes ahead.
trait DisputeSource {
    /// The request the `referee` call on `job`'s dispute will make, with the job's establishing
    /// request and the first block that accepts the call, as the finalized state has them;
    /// `None` unless it is the referee's turn.
    fn requests(&self, job: JobId) -> Option<Pending>;

    /// Whether what the call will ask for is kept already (decided ahead, or run by a block):
    /// `request`'s verdict and, when that is machine-dependent, `establishing`'s too.
    fn decided(&self, request: &RefereeRequest, establishing: &RefereeRequest) -> bool;

    /// Whether this node holds every one of `blobs`; those it lacks are fetched from peers in
    /// the background meanwhile (see [`FetchesInFlight`]), to be looked for again next block.
    fn local_or_fetching(&self, blobs: &[Hash]) -> bool;
}

/// One finalized block's work on disputes, in which the disputes of `moved` moved: each of
/// those and of the ones waiting is decided ahead if this node holds every blob its request
/// reads, else it waits for the next block while they are fetched (see the module doc).
/// Bounded by [`MAX_WAITING_DISPUTES`] plus the disputes that moved; each run is bounded by
/// its fuel, and no fetch is awaited here.
///
/// The ready ones are decided in the order their calls open. The chain opens re-runs longer
/// than a block one lead after another (`pallet_jobs::Pallet::queue_rerun`), sized for a
/// warmer that decides them in that order; one that took them by job number, as this did
/// before spec version 21, could spend the lead of an earlier call on a later one.
async fn warm_disputes<R: Referee + 'static>(
    disputes: &mut WaitingDisputes,
    moved: BTreeSet<JobId>,
    source: &impl DisputeSource,
    referee: &Arc<R>,
) {
    let mut ready = Vec::new();
    for job in disputes.due(moved) {
        let Some(pending) = source.requests(job) else {
            // No longer at the referee's turn: decided, or timed out.
            disputes.settled(job);
            continue;
        };
        if source.decided(&pending.request, &pending.establishing) {
            disputes.settled(job);
            continue;
        }
        if !source.local_or_fetching(&request_blobs(&pending.request)) {
            disputes.not_ready(job);
            continue;
        }
        disputes.settled(job);
        ready.push((job, pending));
    }
    ready.sort_by_key(|(job, pending)| (pending.opens_at, *job));
    for (job, pending) in ready {
        let Pending {
            request,
            establishing,
            opens_at,
        } = pending;
        tracing::info!(job, opens_at, task = ?request.task, "the warmer decides a referee request ahead");
        decide_ahead(referee, request, establishing).await;
    }
}

/// Most blobs the dispute warmer fetches at once. Its fetches are ones the node waits on
/// (`FetchClass::Needed`), which may take any free fetch slot, and a worker serving its own
/// pre-state can drip it (just above the exchange's rate floor, a 64 MiB state takes about a
/// minute): without a bound, a few such disputes would hold the slots blocks to import need.
const MAX_WARMER_FETCHES: usize = 2;

/// The blobs the dispute warmer is fetching, at most [`MAX_WARMER_FETCHES`].
#[derive(Default)]
struct FetchesInFlight {
    blobs: std::sync::Mutex<BTreeSet<Hash>>,
}

impl FetchesInFlight {
    /// Takes a place for a fetch of `blob`, given back when the returned guard drops (the
    /// fetch ended, or its task panicked): `None` if one runs already or none is free.
    fn start(self: &Arc<Self>, blob: Hash) -> Option<FetchPlace> {
        let mut blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        (blobs.len() < MAX_WARMER_FETCHES && blobs.insert(blob)).then(|| FetchPlace {
            fetches: self.clone(),
            blob,
        })
    }
}

/// A place in [`FetchesInFlight`], held by a running fetch.
struct FetchPlace {
    fetches: Arc<FetchesInFlight>,
    blob: Hash,
}

impl Drop for FetchPlace {
    fn drop(&mut self) {
        let mut blobs = self
            .fetches
            .blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        blobs.remove(&self.blob);
    }
}

/// The node's [`DisputeSource`]: the finalized state of `chain`, and fetches from peers into
/// the referee's blob store.
struct ChainDisputes<'a> {
    chain: &'a Chain,
    referee: &'a EngineReferee,
    fetch: Option<&'a BlobFetcher>,
    fetches: &'a Arc<FetchesInFlight>,
}

impl DisputeSource for ChainDisputes<'_> {
    fn requests(&self, job: JobId) -> Option<Pending> {
        type Verification = pallet_verification::Pallet<agora_runtime::Runtime>;
        type Jobs = pallet_jobs::Pallet<agora_runtime::Runtime>;
        let view = self.chain.finalized_view();
        // An unrunnable declaration's request is its own establishing one: a machine-dependent
        // verdict there ends the job, nothing more is run.
        if let Some(request) = Jobs::declared_request(&view, job) {
            let opens_at = Jobs::declaration(&view, job)?.opens_at;
            return Some(Pending {
                establishing: request.clone(),
                request,
                opens_at,
            });
        }
        let request = Verification::referee_request(&view, job)?;
        let record = Jobs::job(&view, job)?;
        Some(Pending {
            request,
            establishing: Verification::establishing_request(&record),
            opens_at: Verification::referee_opens_at(&view, job)?,
        })
    }

    fn decided(&self, request: &RefereeRequest, establishing: &RefereeRequest) -> bool {
        match self.referee.decided(request) {
            Some(RefereeVerdict::MachineDependent) => self.referee.decided(establishing).is_some(),
            Some(_) => true,
            None => false,
        }
    }

    fn local_or_fetching(&self, blobs: &[Hash]) -> bool {
        let mut all_local = true;
        for blob in blobs.iter().filter(|blob| !self.referee.holds(blob)) {
            all_local = false;
            let Some(fetcher) = self.fetch else { continue };
            let Some(place) = self.fetches.start(*blob) else {
                continue;
            };
            let (chain, store, fetcher) = (
                self.chain.clone(),
                self.referee.blobs.clone(),
                fetcher.clone(),
            );
            let blob = *blob;
            tokio::spawn(async move {
                let class = crate::consensus::FetchClass::Needed;
                let fetched =
                    crate::blobs::fetch_registered(&chain, &store, &fetcher, blob, class).await;
                if let Err(error) = fetched {
                    tracing::warn!(%blob, %error, "cannot fetch a blob a dispute's referee needs");
                }
                drop(place);
            });
        }
        all_local
    }
}

/// Runs `request` on the blocking pool so that its verdict is kept; a machine-dependent verdict
/// makes the call run the job's first segment as well (`pallet_verification`'s `established`),
/// so `establishing` is run then too.
async fn decide_ahead<R: Referee + 'static>(
    referee: &Arc<R>,
    request: RefereeRequest,
    establishing: RefereeRequest,
) {
    let runner = referee.clone();
    let verdict = tokio::task::spawn_blocking(move || runner.run(&request)).await;
    if matches!(verdict, Ok(Ok(RefereeVerdict::MachineDependent))) {
        let runner = referee.clone();
        let _ = tokio::task::spawn_blocking(move || runner.run(&establishing)).await;
    }
}

/// Every blob a referee request reads.
fn request_blobs(request: &RefereeRequest) -> Vec<Hash> {
    let state = match request.task {
        RefereeTask::Step { pre_state } => pre_state,
        RefereeTask::Output { state } => Some(state),
        RefereeTask::Segment { start, .. } => start,
    };
    [Some(request.module), Some(request.dataset), state]
        .into_iter()
        .flatten()
        .collect()
}

/// Fetches from peers those of `blobs` this node does not hold (bounded by the blobs of one
/// job), as fetches something waits on; a blob no peer serves is left to the referee to report
/// unavailable. Returns `false` if a fetch failed (a blob not registered, or no fetcher, is no
/// failure: there is nothing to retry).
async fn fetch_missing(
    chain: &Chain,
    referee: &EngineReferee,
    fetch: Option<&BlobFetcher>,
    blobs: &[Hash],
) -> bool {
    let Some(fetcher) = fetch else { return true };
    let mut fetched = true;
    for blob in blobs {
        if let Err(error) = crate::blobs::fetch_registered(
            chain,
            &referee.blobs,
            fetcher,
            *blob,
            crate::consensus::FetchClass::Needed,
        )
        .await
        {
            tracing::warn!(%blob, %error, "cannot fetch a blob the referee may need");
            fetched = false;
        }
    }
    fetched
}

/// The warmer's account of modules: those it is done with (prepared, or given up on) and those
/// whose fetch failed, tried again on each finalized block up to [`MAX_FETCH_RETRIES`] times
/// (a fetch can fail while every validator fetches the same new module from its uploader
/// alone, or past its deadline).
#[derive(Default)]
struct WarmedModules {
    done: HashSet<Hash>,
    /// Module → failed fetches so far.
    retrying: BTreeMap<Hash, u32>,
}

impl WarmedModules {
    /// The modules to work on at a finalized block that assigned jobs of `assigned`: those
    /// and the ones waiting for a retry, each once (several jobs of one module, or a module
    /// assigned again while it waits for a retry, would otherwise be fetched again after a
    /// failed fetch), less those done with.
    fn due(&self, assigned: Vec<Hash>) -> BTreeSet<Hash> {
        assigned
            .into_iter()
            .chain(self.retrying.keys().copied())
            .filter(|module| !self.done.contains(module))
            .collect()
    }

    /// `module` was fetched (or needed no fetch): it is prepared now, never again.
    fn done(&mut self, module: Hash) {
        self.retrying.remove(&module);
        self.done.insert(module);
    }

    /// A fetch of `module` failed: tried again at the next finalized block, unless that was
    /// the last attempt (then given up: the referee reports the module unavailable).
    fn fetch_failed(&mut self, module: Hash) {
        let attempts = self.retrying.entry(module).or_default();
        *attempts = attempts.saturating_add(1);
        if *attempts >= MAX_FETCH_RETRIES {
            self.done(module);
        }
    }
}

/// The warmer's account of disputes at the referee's turn that it has not decided ahead
/// because it did not hold every blob their requests read: looked at again on each finalized
/// block, up to [`MAX_DISPUTE_ROUNDS`] times, at most [`MAX_WAITING_DISPUTES`] at once.
#[derive(Default)]
struct WaitingDisputes {
    /// Job → finalized blocks on which its blobs were not all local.
    waiting: BTreeMap<JobId, u32>,
}

impl WaitingDisputes {
    /// The disputes to look at on a finalized block in which the disputes of `moved` moved:
    /// those, counted afresh (a move makes a new request), and the ones waiting, each once.
    /// A moved dispute past [`MAX_WAITING_DISPUTES`] is looked at this once.
    fn due(&mut self, moved: BTreeSet<JobId>) -> BTreeSet<JobId> {
        for job in &moved {
            if self.waiting.contains_key(job) || self.waiting.len() < MAX_WAITING_DISPUTES {
                self.waiting.insert(*job, 0);
            }
        }
        self.waiting.keys().copied().chain(moved).collect()
    }

    /// `job` is decided ahead, or no longer at the referee's turn: never looked at again
    /// unless it moves again.
    fn settled(&mut self, job: JobId) {
        self.waiting.remove(&job);
    }

    /// Some blob `job`'s request reads is not local yet: looked at again on the next
    /// finalized block, unless that was the last round.
    fn not_ready(&mut self, job: JobId) {
        let Some(rounds) = self.waiting.get_mut(&job) else {
            return;
        };
        *rounds = rounds.saturating_add(1);
        if *rounds >= MAX_DISPUTE_ROUNDS {
            tracing::info!(
                job,
                "referee request still lacks its blobs; no longer warmed"
            );
            self.waiting.remove(&job);
        }
    }
}

/// The events of finalized block `hash` (none if it cannot be read or decoded).
fn events_of(chain: &Chain, hash: &Hash) -> Vec<agora_runtime::EventRecord> {
    let Ok(Some(block)) = chain.block(hash) else {
        return Vec::new();
    };
    agora_runtime::decode_events(&block.events).unwrap_or_default()
}

/// The modules of the jobs assigned in finalized block `hash`.
fn assigned_modules(chain: &Chain, hash: &Hash) -> Vec<Hash> {
    let view = chain.finalized_view();
    events_of(chain, hash)
        .iter()
        .filter_map(|record| match &record.event {
            agora_runtime::RuntimeEvent::Jobs(pallet_jobs::Event::JobAssigned { job, .. }) => {
                pallet_jobs::Pallet::<agora_runtime::Runtime>::job(&view, *job)
            }
            _ => None,
        })
        .map(|job| job.spec.module)
        .collect()
}

/// The jobs whose disputes moved, or that were declared unrunnable, in finalized block `hash`.
fn moved_disputes(chain: &Chain, hash: &Hash) -> Vec<JobId> {
    moved_jobs(&events_of(chain, hash))
}

/// The jobs whose disputes moved, or that were declared unrunnable, by `events`. A referee
/// verdict counts: a step too heavy for the referee sends its dispute on to its segment's
/// re-run, at the referee's turn again with no other move between (before spec version 21's
/// review, that re-run was never decided ahead, and up to `MAX_SEGMENT_FUEL` ran inline in
/// the block carrying the call).
fn moved_jobs(events: &[agora_runtime::EventRecord]) -> Vec<JobId> {
    use pallet_verification::Event as V;
    events
        .iter()
        .filter_map(|record| match &record.event {
            // Not a dispute, but decided ahead the same way: its proof opens after a lead.
            agora_runtime::RuntimeEvent::Jobs(pallet_jobs::Event::UnrunnableDeclared {
                job,
                ..
            }) => Some(*job),
            agora_runtime::RuntimeEvent::Verification(
                V::DisputeOpened { job, .. }
                | V::Bisected { job, .. }
                | V::Answered { job, .. }
                | V::Challenged { job, .. }
                | V::LeafRevealed { job, .. }
                | V::Refereed { job, .. }
                | V::DisputeReopened { job, .. },
            ) => Some(*job),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_primitives::referee::RefereeError;

    /// A module whose fetch failed is tried again on each of the next finalized blocks, once a
    /// block however often it is assigned, until a fetch succeeds or the retries run out;
    /// done with, it is never worked on again.
    #[test]
    fn the_warmer_retries_a_failed_module_fetch_a_bounded_number_of_times() {
        let (slow, flaky, other) = (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]));
        let mut modules = WarmedModules::default();
        let first = modules.due(vec![slow, flaky, slow]);
        assert_eq!(first.into_iter().collect::<Vec<_>>(), vec![slow, flaky]);
        modules.fetch_failed(slow);
        modules.fetch_failed(flaky);
        // Next block: both again though nothing assigns them; `flaky` comes through now.
        let due: Vec<Hash> = modules.due(vec![other, slow]).into_iter().collect();
        assert_eq!(due, vec![slow, flaky, other]);
        modules.done(flaky);
        modules.done(other);
        modules.fetch_failed(slow);
        for attempt in 3..=MAX_FETCH_RETRIES {
            assert!(modules.due(Vec::new()).contains(&slow), "attempt {attempt}");
            modules.fetch_failed(slow);
        }
        assert!(
            modules.due(vec![slow, flaky, other]).is_empty(),
            "given up after {MAX_FETCH_RETRIES} attempts; the others are prepared"
        );
    }

    /// A dispute whose blobs are not all local yet (a pre-state its worker registers a block
    /// after the move) is looked at again on each finalized block, however often it moves,
    /// until it is settled or its rounds run out; a move counts its rounds afresh.
    #[test]
    fn a_dispute_waiting_for_its_blobs_is_looked_at_again_a_bounded_number_of_times() {
        let mut disputes = WaitingDisputes::default();
        let due = disputes.due(BTreeSet::from([7, 3]));
        assert_eq!(due.into_iter().collect::<Vec<_>>(), vec![3, 7]);
        disputes.not_ready(7);
        disputes.settled(3);
        // Next block: 7 again though nothing moved it; 3, settled, is not.
        assert_eq!(disputes.due(BTreeSet::new()), BTreeSet::from([7]));
        for round in 2..MAX_DISPUTE_ROUNDS {
            disputes.not_ready(7);
            assert!(disputes.due(BTreeSet::new()).contains(&7), "round {round}");
        }
        // A move counts afresh.
        assert_eq!(disputes.due(BTreeSet::from([7])), BTreeSet::from([7]));
        for round in 0..MAX_DISPUTE_ROUNDS - 1 {
            disputes.not_ready(7);
            assert!(disputes.due(BTreeSet::new()).contains(&7), "round {round}");
        }
        disputes.not_ready(7);
        assert!(
            disputes.due(BTreeSet::new()).is_empty(),
            "given up after {MAX_DISPUTE_ROUNDS} rounds"
        );
    }

    /// A test chain: one dispute at the referee's turn (until `ended`), over a step from
    /// `pre_state`; blobs are local once `held`. A test referee: records what it ran.
    #[derive(Default)]
    struct TestNode {
        held: std::sync::Mutex<BTreeSet<Hash>>,
        ended: std::sync::atomic::AtomicBool,
        ran: std::sync::Mutex<Vec<RefereeRequest>>,
        /// Further jobs at the referee's turn: the pre-state of each one's step and when its
        /// call opens.
        queued: BTreeMap<JobId, (Hash, BlockNumber)>,
    }

    const DISPUTED: JobId = 7;

    fn step_from(pre_state: Hash) -> RefereeRequest {
        RefereeRequest {
            module: Hash([1; 32]),
            dataset: Hash([2; 32]),
            params: Vec::new(),
            seed: 0,
            task: RefereeTask::Step {
                pre_state: Some(pre_state),
            },
            fuel_limit: 1,
        }
    }

    impl DisputeSource for TestNode {
        fn requests(&self, job: JobId) -> Option<Pending> {
            if let Some((pre_state, opens_at)) = self.queued.get(&job) {
                return Some(Pending {
                    request: step_from(*pre_state),
                    establishing: step_from(*pre_state),
                    opens_at: *opens_at,
                });
            }
            let at_the_referee =
                job == DISPUTED && !self.ended.load(std::sync::atomic::Ordering::SeqCst);
            at_the_referee.then(|| Pending {
                request: step_from(Hash([3; 32])),
                establishing: step_from(Hash([4; 32])),
                opens_at: 0,
            })
        }

        fn decided(&self, request: &RefereeRequest, _: &RefereeRequest) -> bool {
            self.ran.lock().unwrap().contains(request)
        }

        fn local_or_fetching(&self, blobs: &[Hash]) -> bool {
            blobs.iter().all(|blob| self.holds(blob))
        }
    }

    impl Referee for TestNode {
        fn run(&self, request: &RefereeRequest) -> Result<RefereeVerdict, RefereeError> {
            self.ran.lock().unwrap().push(request.clone());
            Ok(RefereeVerdict::Stepped {
                post_state: Hash::ZERO,
            })
        }

        fn holds(&self, blob: &Hash) -> bool {
            self.held.lock().unwrap().contains(blob)
        }
    }

    /// The finding this fixes: the warmer looked at a dispute once, in the block that moved it
    /// to the referee's turn, and its worker registers the pre-state only then; so a step's
    /// or a segment's verdict was never decided ahead (a segment re-run then ran inline in the
    /// block carrying the call). Now it looks again on each finalized block until it holds the
    /// blobs, and decides it then, once.
    #[tokio::test]
    async fn a_pre_state_uploaded_after_the_move_is_decided_ahead() {
        let node = Arc::new(TestNode::default());
        node.held
            .lock()
            .unwrap()
            .extend([Hash([1; 32]), Hash([2; 32])]);
        let mut disputes = WaitingDisputes::default();
        warm_disputes(&mut disputes, BTreeSet::from([DISPUTED]), &*node, &node).await;
        assert!(
            node.ran.lock().unwrap().is_empty(),
            "the pre-state is not here yet"
        );
        warm_disputes(&mut disputes, BTreeSet::new(), &*node, &node).await;
        assert!(node.ran.lock().unwrap().is_empty());
        // The worker uploads it; the next finalized block decides the step.
        node.held.lock().unwrap().insert(Hash([3; 32]));
        warm_disputes(&mut disputes, BTreeSet::new(), &*node, &node).await;
        assert_eq!(*node.ran.lock().unwrap(), vec![step_from(Hash([3; 32]))]);
        warm_disputes(&mut disputes, BTreeSet::new(), &*node, &node).await;
        assert_eq!(node.ran.lock().unwrap().len(), 1, "decided once");
        // Moved again with the same request (a block's importer ran it, say): not run again.
        warm_disputes(&mut disputes, BTreeSet::from([DISPUTED]), &*node, &node).await;
        assert_eq!(node.ran.lock().unwrap().len(), 1, "kept, not run again");
    }

    /// Calls due together are decided in the order they open, which is the order the chain
    /// queued their re-runs (`pallet_jobs::Pallet::queue_rerun`): job 9's call opens first,
    /// so it is decided first although job 8 is numbered lower. Taken by job number, as
    /// before, the warmer could spend the lead of job 9's call on job 8's re-run, and job 9's
    /// call open undecided.
    #[tokio::test]
    async fn calls_due_together_are_decided_in_the_order_they_open() {
        let node = Arc::new(TestNode {
            queued: BTreeMap::from([(8, (Hash([8; 32]), 30)), (9, (Hash([9; 32]), 12))]),
            ..TestNode::default()
        });
        node.held
            .lock()
            .unwrap()
            .extend([1, 2, 8, 9].map(|byte| Hash([byte; 32])));
        let mut disputes = WaitingDisputes::default();
        warm_disputes(&mut disputes, BTreeSet::from([8, 9]), &*node, &node).await;
        assert_eq!(
            *node.ran.lock().unwrap(),
            vec![step_from(Hash([9; 32])), step_from(Hash([8; 32]))]
        );
    }

    /// A referee verdict that sends a dispute on to its segment's re-run (a step too heavy for
    /// the referee) leaves it at the referee's turn with no other move: the warmer looks at
    /// every job a verdict was given on, as at every move (it did not, and the re-run ran
    /// inline in the block that carried its call).
    #[test]
    fn a_verdict_makes_the_warmer_look_at_its_dispute_again() {
        let record = |event| agora_runtime::EventRecord {
            phase: agora_primitives::storage::Phase::Initialization,
            event: agora_runtime::RuntimeEvent::Verification(event),
        };
        let events = [
            record(pallet_verification::Event::Refereed {
                job: 4,
                outcome: pallet_verification::RefereeOutcome::StepTooHeavy,
            }),
            record(pallet_verification::Event::DisputeReopened {
                job: 5,
                check: Some(0),
                segment: 1,
            }),
        ];
        assert_eq!(moved_jobs(&events), vec![4, 5]);
    }

    /// A dispute that leaves the referee's turn (decided by a call, timed out) before its
    /// blobs arrive is forgotten, not run.
    #[tokio::test]
    async fn a_dispute_that_leaves_the_referees_turn_is_forgotten() {
        let node = Arc::new(TestNode::default());
        let mut disputes = WaitingDisputes::default();
        warm_disputes(&mut disputes, BTreeSet::from([DISPUTED]), &*node, &node).await;
        node.ended.store(true, std::sync::atomic::Ordering::SeqCst);
        warm_disputes(&mut disputes, BTreeSet::new(), &*node, &node).await;
        assert!(disputes.waiting.is_empty());
        node.held
            .lock()
            .unwrap()
            .extend([Hash([1; 32]), Hash([2; 32]), Hash([3; 32])]);
        warm_disputes(&mut disputes, BTreeSet::new(), &*node, &node).await;
        assert!(node.ran.lock().unwrap().is_empty());
    }

    /// The dispute warmer fetches a blob once at a time and at most [`MAX_WARMER_FETCHES`]
    /// blobs at once; a place frees when its fetch ends.
    #[test]
    fn the_warmers_fetches_are_bounded() {
        let fetches = Arc::new(FetchesInFlight::default());
        let blobs: Vec<Hash> = (0..=MAX_WARMER_FETCHES as u8)
            .map(|i| Hash([i; 32]))
            .collect();
        let first = fetches.start(blobs[0]).expect("a free place");
        assert!(
            fetches.start(blobs[0]).is_none(),
            "one fetch of a blob at a time"
        );
        let _others: Vec<FetchPlace> = blobs[1..MAX_WARMER_FETCHES]
            .iter()
            .map(|blob| fetches.start(*blob).expect("a free place"))
            .collect();
        let last = blobs[MAX_WARMER_FETCHES];
        assert!(fetches.start(last).is_none(), "all places taken");
        // A fetch that ends, however (a panicking task drops its place too), frees its place.
        drop(first);
        assert!(fetches.start(last).is_some());
    }

    /// Each finalized block is handled once, in order, including those whose events were
    /// dropped; after a long lag, only the last [`MAX_CATCH_UP`].
    #[test]
    fn every_finalized_block_is_handled_once_in_order() {
        let mut cursor = Cursor::default();
        let numbers = |range: std::ops::RangeInclusive<BlockNumber>| range.collect::<Vec<_>>();
        assert_eq!(numbers(cursor.advance(10)), vec![10], "no history at start");
        assert_eq!(numbers(cursor.advance(11)), vec![11]);
        assert_eq!(
            numbers(cursor.advance(14)),
            vec![12, 13, 14],
            "a lag's blocks"
        );
        assert!(numbers(cursor.advance(14)).is_empty(), "once");
        assert!(numbers(cursor.advance(13)).is_empty(), "never backwards");
        let tip = 14 + 5 * MAX_CATCH_UP;
        let caught_up = numbers(cursor.advance(tip));
        assert_eq!(caught_up.len() as BlockNumber, MAX_CATCH_UP);
        assert_eq!(caught_up.last(), Some(&tip));
        // The catch-up outlasts a re-run queue of forty re-runs at the bound (spec version 21):
        // the dispute loop lags by as long as it decides.
        use agora_runtime::verification::{MAX_SEGMENT_FUEL, REFEREE_LEAD_FUEL_PER_BLOCK};
        let largest = agora_primitives::referee::referee_lead(
            2 * MAX_SEGMENT_FUEL,
            REFEREE_LEAD_FUEL_PER_BLOCK,
        );
        assert!(
            MAX_CATCH_UP > 40 * largest,
            "{MAX_CATCH_UP} ≤ 40 × {largest}"
        );
    }

    /// At most [`MAX_WAITING_DISPUTES`] wait; one more that moves is still looked at once.
    #[test]
    fn waiting_disputes_are_bounded() {
        let mut disputes = WaitingDisputes::default();
        let many: BTreeSet<JobId> = (0..MAX_WAITING_DISPUTES as JobId + 5).collect();
        assert_eq!(
            disputes.due(many.clone()),
            many,
            "every moved dispute is looked at"
        );
        for job in &many {
            disputes.not_ready(*job);
        }
        assert_eq!(disputes.due(BTreeSet::new()).len(), MAX_WAITING_DISPUTES);
    }

    /// A request reads its module, its dataset and the state it starts from, if any.
    #[test]
    fn a_request_reads_its_module_dataset_and_start() {
        let (module, dataset, state) = (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]));
        let request = |task| RefereeRequest {
            module,
            dataset,
            params: Vec::new(),
            seed: 0,
            task,
            fuel_limit: 1,
        };
        let step = request(RefereeTask::Step {
            pre_state: Some(state),
        });
        assert_eq!(request_blobs(&step), vec![module, dataset, state]);
        let from_init = request(RefereeTask::Segment {
            start: None,
            steps: 4,
        });
        assert_eq!(request_blobs(&from_init), vec![module, dataset]);
        let output = request(RefereeTask::Output { state });
        assert_eq!(request_blobs(&output), vec![module, dataset, state]);
    }
}
