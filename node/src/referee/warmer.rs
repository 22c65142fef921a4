//! The referee's warmer: work done on finalized blocks so that no block builder or importer
//! does it inline (see the parent module's doc, *Compiled ahead* and *Decided ahead*).
//!
//! - **Modules.** The module of every job a finalized block assigns is fetched from peers if
//!   this node lacks it and compiled, once a run. A failed fetch is tried again on each of the
//!   next [`MAX_FETCH_RETRIES`] finalized blocks.
//! - **Disputes.** A dispute a finalized block moved to the referee's turn is decided ahead
//!   once this node holds every blob its request reads; a blob missing is fetched from peers
//!   as a fetch something waits on (`FetchClass::Needed`), and while any is missing the
//!   dispute is looked at again on every finalized block, for as long as it stays at the
//!   referee's turn (its request is read afresh each time, from the finalized state) and at
//!   most [`MAX_DISPUTE_ROUNDS`] blocks. The pre-state of a step, and the start of a segment
//!   re-run, are often registered only *after* the move that made the turn the referee's:
//!   the worker registers and uploads them then (`agora-worker`'s `dispute.rs`), and before
//!   the retry a node that looked once, at the move, never decided ahead; a whole-segment
//!   re-run (up to `MAX_SEGMENT_FUEL`, seconds) then ran inline in the block carrying the
//!   call, which the call's opening lead exists to prevent; and on a node the worker is not
//!   connected to, the pre-state was left to fetches ahead of need, which anyone can crowd.

use super::{EngineReferee, Referee};
use crate::chain::{Chain, ChainEvent};
use crate::consensus::BlobFetcher;
use agora_primitives::referee::{RefereeRequest, RefereeTask, RefereeVerdict};
use agora_primitives::Hash;
use pallet_jobs::JobId;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use tokio::sync::broadcast::error::RecvError;

/// Finalized blocks on which the warmer tries again to fetch a module whose fetch failed.
const MAX_FETCH_RETRIES: u32 = 16;

/// Finalized blocks on which the warmer looks at a dispute whose blobs it does not all hold.
/// A dispute stays at the referee's turn one move window (`MOVE_BLOCKS`, 60 blocks); this
/// bound only keeps a runtime with longer windows from making the loop unbounded.
const MAX_DISPUTE_ROUNDS: u32 = 64;

/// Most disputes waiting for their blobs at once: disputes at the referee's turn at once, with
/// room to spare (as many as verdicts are kept).
const MAX_WAITING_DISPUTES: usize = super::MAX_VERDICTS;

/// Compiles, in the background, the module of every job assigned in a finalized block, and
/// decides ahead the disputes at the referee's turn (see the module doc), first fetching from
/// peers (with `fetch`) any blob they need that this node does not hold, so that every
/// validator can referee. Runs until the chain's event channel closes.
pub async fn run_warmer(chain: Chain, referee: Arc<EngineReferee>, fetch: Option<BlobFetcher>) {
    let mut events = chain.subscribe();
    let mut modules = WarmedModules::default();
    let mut disputes = WaitingDisputes::default();
    loop {
        let header = match events.recv().await {
            Ok(ChainEvent::Finalized { header, .. }) => header,
            Ok(_) | Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let (assigned, moved) = assigned_and_moved(&chain, &header.hash());
        // Bounded by the distinct modules of assigned jobs, each compiled once a run, and by
        // the retries.
        for module in modules.due(assigned) {
            let fetched = fetch_missing(&chain, &referee, fetch.as_ref(), &[module]).await;
            if fetched.failed {
                modules.fetch_failed(module);
                continue;
            }
            modules.done(module);
            let referee = referee.clone();
            let _ = tokio::task::spawn_blocking(move || referee.prepare(&module)).await;
        }
        let source = ChainDisputes {
            chain: &chain,
            referee: &referee,
            fetch: fetch.as_ref(),
        };
        warm_disputes(&mut disputes, moved, &source, &referee).await;
    }
}

/// What the warmer needs of the chain and the blob network to decide disputes ahead.
trait DisputeSource {
    /// The request the `referee` call on `job`'s dispute will make, with the job's establishing
    /// request, as the finalized state has them; `None` unless it is the referee's turn.
    fn requests(&self, job: JobId) -> Option<(RefereeRequest, RefereeRequest)>;

    /// Makes `blobs` local where they are registered and peers serve them.
    async fn make_local(&self, blobs: &[Hash]) -> Fetched;
}

/// One finalized block's work on disputes, in which the disputes of `moved` moved: each of
/// those and of the ones waiting is decided ahead if this node holds (or can fetch) every blob
/// its request reads, else it waits for the next block (see the module doc). Bounded by
/// [`MAX_WAITING_DISPUTES`] plus the disputes that moved; each run is bounded by its fuel.
async fn warm_disputes<R: Referee + 'static>(
    disputes: &mut WaitingDisputes,
    moved: BTreeSet<JobId>,
    source: &impl DisputeSource,
    referee: &Arc<R>,
) {
    for job in disputes.due(moved) {
        let Some((request, establishing)) = source.requests(job) else {
            // No longer at the referee's turn: decided, or timed out.
            disputes.settled(job);
            continue;
        };
        if !source.make_local(&request_blobs(&request)).await.all_local {
            disputes.not_ready(job);
            continue;
        }
        disputes.settled(job);
        // A request decided already returns its kept verdict at once.
        decide_ahead(referee, request, establishing).await;
    }
}

/// The node's [`DisputeSource`]: the finalized state of `chain`, and fetches from peers into
/// the referee's blob store.
struct ChainDisputes<'a> {
    chain: &'a Chain,
    referee: &'a EngineReferee,
    fetch: Option<&'a BlobFetcher>,
}

impl DisputeSource for ChainDisputes<'_> {
    fn requests(&self, job: JobId) -> Option<(RefereeRequest, RefereeRequest)> {
        type Verification = pallet_verification::Pallet<agora_runtime::Runtime>;
        let view = self.chain.finalized_view();
        let request = Verification::referee_request(&view, job)?;
        let record = pallet_jobs::Pallet::<agora_runtime::Runtime>::job(&view, job)?;
        Some((request, Verification::establishing_request(&record)))
    }

    async fn make_local(&self, blobs: &[Hash]) -> Fetched {
        fetch_missing(self.chain, self.referee, self.fetch, blobs).await
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

/// What became of making a piece of work's blobs local.
struct Fetched {
    /// A fetch from peers failed (worth trying again: the blob is registered).
    failed: bool,
    /// This node holds every one of them now.
    all_local: bool,
}

/// Fetches from peers those of `blobs` this node does not hold (bounded by the blobs of one
/// job or one request), as fetches something waits on. A blob not registered (yet) is no
/// failure, but it is not local either; without a fetcher, only what this node holds is.
async fn fetch_missing(
    chain: &Chain,
    referee: &EngineReferee,
    fetch: Option<&BlobFetcher>,
    blobs: &[Hash],
) -> Fetched {
    let mut fetched = Fetched {
        failed: false,
        all_local: true,
    };
    for blob in blobs {
        let Some(fetcher) = fetch else {
            fetched.all_local &= referee.holds(blob);
            continue;
        };
        match crate::blobs::fetch_registered(
            chain,
            &referee.blobs,
            fetcher,
            *blob,
            crate::consensus::FetchClass::Needed,
        )
        .await
        {
            Ok(stored) => fetched.all_local &= stored,
            Err(error) => {
                tracing::warn!(%blob, %error, "cannot fetch a blob the referee may need");
                fetched.failed = true;
                fetched.all_local = false;
            }
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

/// The modules of the jobs assigned in block `hash`, and the jobs whose disputes moved in it.
fn assigned_and_moved(chain: &Chain, hash: &Hash) -> (Vec<Hash>, BTreeSet<JobId>) {
    let Ok(Some(block)) = chain.block(hash) else {
        return (Vec::new(), BTreeSet::new());
    };
    let Ok(records) = agora_runtime::decode_events(&block.events) else {
        return (Vec::new(), BTreeSet::new());
    };
    let view = chain.finalized_view();
    let mut modules = Vec::new();
    let mut moved = BTreeSet::new();
    for record in &records {
        use pallet_verification::Event as V;
        match &record.event {
            agora_runtime::RuntimeEvent::Jobs(pallet_jobs::Event::JobAssigned { job, .. }) => {
                if let Some(job) = pallet_jobs::Pallet::<agora_runtime::Runtime>::job(&view, *job) {
                    modules.push(job.spec.module);
                }
            }
            agora_runtime::RuntimeEvent::Verification(
                V::DisputeOpened { job, .. }
                | V::Bisected { job, .. }
                | V::Answered { job, .. }
                | V::Challenged { job, .. }
                | V::LeafRevealed { job, .. },
            ) => {
                moved.insert(*job);
            }
            _ => {}
        }
    }
    (modules, moved)
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
        fn requests(&self, job: JobId) -> Option<(RefereeRequest, RefereeRequest)> {
            let at_the_referee =
                job == DISPUTED && !self.ended.load(std::sync::atomic::Ordering::SeqCst);
            at_the_referee.then(|| (step_from(Hash([3; 32])), step_from(Hash([4; 32]))))
        }

        async fn make_local(&self, blobs: &[Hash]) -> Fetched {
            Fetched {
                failed: false,
                all_local: blobs.iter().all(|blob| self.holds(blob)),
            }
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
