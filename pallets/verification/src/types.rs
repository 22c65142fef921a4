//! The records of a spot check: where an audit is, the checks it drew and how each ended.

use agora_primitives::trace::TraceLeaf;
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};

/// Where an audit is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize, TypeInfo)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The sample is drawn at the start of block `c + d` (`sample_delay`) for a commitment in
    /// block `c`.
    #[codec(index = 0)]
    AwaitingSample,
    /// The worker must reveal the sampled segments' start states.
    #[codec(index = 1)]
    AwaitingStarts,
    /// Verifiers re-execute and commit to their leaves.
    #[codec(index = 2)]
    AwaitingAttestations,
    /// The worker must reveal its sampled leaves.
    #[codec(index = 3)]
    AwaitingLeaves,
    /// Verifiers open their commitments.
    #[codec(index = 4)]
    AwaitingReveals,
    /// A mismatch is being settled by bisection and the referee ([`Audit::dispute`]).
    #[codec(index = 5)]
    Disputed,
}

/// The result of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize, TypeInfo)]
#[serde(rename_all = "snake_case")]
pub enum CheckOutcome {
    /// The verifier's leaf equals the worker's.
    #[codec(index = 0)]
    Match,
    /// It differs: the job is disputed.
    #[codec(index = 1)]
    Mismatch,
    /// No attestation or reveal in time: the run bond forfeited (slashed when the run is
    /// settled, `bonds.rs`).
    #[codec(index = 2)]
    Missed,
    /// The reveal does not open the commitment: forfeited as a miss is.
    #[codec(index = 3)]
    Wrong,
    /// Its mismatch was disputed and the verifier lost (the referee agreed with the worker, or
    /// the verifier missed a move): bond slashed, part of it paid to the worker.
    #[codec(index = 4)]
    Refuted,
    /// Its mismatch was disputed and the referee found the disputed piece machine-dependent
    /// (the buyer's module): set aside, bond passed on (released at the run's end unless the
    /// run is forfeited), fee earned.
    #[codec(index = 5)]
    MachineDependent,
}

/// What the verifier of the last segment computes from its own final state and reveals with
/// its leaf; compared with the worker's commitment (`output`, `blake3(metrics)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct FinalResult {
    /// blake3 of `export(final state)`: the model's blob hash.
    pub output: Hash,
    /// blake3 of `eval(final state)`: the hash of the metrics' bytes.
    pub metrics: Hash,
}

/// One sampled segment and the verifier checking it.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Check {
    /// The segment.
    pub segment: u64,
    /// Who re-executes it.
    pub verifier: AccountId,
    /// Its start once revealed: leaf `segment − 1` (its state hash names the start state, its
    /// cumulative fuel the fuel before the segment). `None` for segment 0, which starts from
    /// init, and for a segment whose predecessor is sampled too, which its verifier computes.
    pub start: Option<TraceLeaf>,
    /// The verifier's commitment.
    pub attestation: Option<Hash>,
    /// The worker's leaf, once revealed.
    pub worker_leaf: Option<TraceLeaf>,
    /// The verifier's leaf, once revealed.
    pub verifier_leaf: Option<TraceLeaf>,
    /// For the last segment: the model and metrics the verifier computed, once revealed.
    pub verifier_result: Option<FinalResult>,
    /// The result, once known.
    pub outcome: Option<CheckOutcome>,
    /// The part of its verifier's run bond this check holds while undecided or mismatched
    /// (`bonds.rs`: the run bond moves between the run's checks as they are decided).
    pub bond: Balance,
}

/// The spot checks of one job.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Audit {
    /// Trace root committed by the worker.
    pub root: Hash,
    /// Segments in the trace.
    pub segments: u64,
    /// Current phase.
    pub phase: Phase,
    /// Last block of the current phase (the sample is drawn at the start of this block).
    pub deadline: BlockNumber,
    /// The checks, once drawn.
    pub checks: Vec<Check>,
    /// The dispute under way, in phase [`Phase::Disputed`].
    pub dispute: Option<Dispute>,
    /// Mismatches already refuted in a dispute, for the receipt.
    pub refuted: Vec<pallet_jobs::Refutation>,
    /// The sample's seed, fixed at the first draw (`sampling.rs`): a draw that waits for
    /// verifiers' stake keeps its segments (its verifiers are drawn anew each attempt).
    pub seed: Option<Hash>,
}

/// Whose move a dispute waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
#[serde(rename_all = "snake_case")]
pub enum Turn {
    /// The worker posts its state hash at the midpoint.
    #[codec(index = 0)]
    Worker,
    /// The challenger agrees or disagrees with the worker's midpoint.
    #[codec(index = 1)]
    Challenger,
    /// Anyone asks the referee to execute the one disputed step (the export and eval, or the
    /// segment whose fuel is disputed).
    #[codec(index = 2)]
    Referee,
}

/// What an open challenge disputes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeTarget {
    /// The state hash of trace leaf `I` (the state after segment `I`): the challenger's
    /// re-execution from the job's start disagrees with it.
    #[codec(index = 0)]
    Leaf(u64),
    /// The committed model and metrics are not `export` and `eval` of the committed final
    /// state.
    #[codec(index = 1)]
    Output,
    /// Trace leaf `I` as a whole — its cumulative fuel included: the challenger's
    /// re-execution agrees with the states but not with the fuel billed up to `I`. Bisection
    /// then finds the first leaf that differs in state or fuel, and the referee re-runs that
    /// whole segment ([`Claim::Segment`]).
    #[codec(index = 2)]
    Fuel(u64),
}

/// Bisection over the segments of a trace: the challenger agrees with leaf `lo` (or, `None`,
/// with the job's initial state) and disagrees with leaf `hi`. Each round the worker reveals
/// leaf `mid` with its Merkle proof, the challenger agrees (`lo = mid`) or disagrees
/// (`hi = mid`); once `hi` is the segment right after `lo`, the dispute narrows to the steps of
/// segment `hi` ([`Bisection`]). The worker's first move reveals leaf `hi` itself unless it is
/// the last, which the commitment already proved.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct LeafBisection {
    /// The agreed leaf; `None` for the job's initial state.
    pub lo: Option<TraceLeaf>,
    /// The disputed leaf's index.
    pub hi: u64,
    /// The worker's leaf `hi`, once revealed.
    pub hi_leaf: Option<TraceLeaf>,
    /// The worker's leaf at the midpoint, once revealed and until the challenger answers.
    pub midpoint: Option<TraceLeaf>,
    /// Whether the challenger disputes fuel ([`ChallengeTarget::Fuel`]): it then agrees only
    /// with leaves equal to its own in state and fuel, and the narrowed segment is re-run whole
    /// ([`Claim::Segment`]) instead of bisected step by step, which checks only states.
    pub fuel: bool,
    /// Whether this is a dispute over the model and metrics reopened from the job's start
    /// (`dispute.rs`, "Machine-dependent pieces"): narrowed to the last leaf without the
    /// challenger disagreeing with any state, it goes back to the referee's `export` and `eval`
    /// of the final state, now a state the challenger reached from `init`; a disagreement below
    /// the last leaf makes it a state dispute there, as usual.
    pub output: bool,
}

impl LeafBisection {
    /// The first segment after the agreed leaf: the disputed range is `first..=hi`.
    pub fn first(&self) -> u64 {
        self.lo.map_or(0, |leaf| leaf.index.saturating_add(1))
    }

    /// The leaf the worker reveals next: `hi` until revealed, then the midpoint of the range.
    pub fn wanted(&self) -> u64 {
        if self.hi_leaf.is_none() {
            return self.hi;
        }
        let first = self.first();
        first.saturating_add(self.hi.saturating_sub(first) / 2)
    }
}

/// What a dispute is about.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
#[serde(rename_all = "snake_case")]
pub enum Claim {
    /// The state after the disputed segment: narrowed step by step (see [`Bisection`]).
    #[codec(index = 0)]
    Steps(Bisection),
    /// The model and metrics of an agreed final state: the referee runs `export` and `eval`.
    #[codec(index = 1)]
    Output,
    /// A trace leaf, in an open challenge: narrowed segment by segment (see
    /// [`LeafBisection`]), then step by step.
    #[codec(index = 2)]
    Leaves(LeafBisection),
    /// The fuel of one segment (with its state): the referee re-runs the whole segment.
    #[codec(index = 3)]
    Segment(SegmentClaim),
}

impl Claim {
    /// Whether the referee's call on this claim re-runs more than a block's worth (a whole
    /// segment, or `export` and `eval`): decided ahead by every node, its call takes a place
    /// in the chain's re-run queue (`pallet_jobs`' `reruns.rs`). A step fits the call's weight.
    pub fn is_queued_rerun(&self) -> bool {
        matches!(self, Claim::Segment(_) | Claim::Output)
    }
}

/// A dispute over a segment's fuel. Fuel is measured per engine call and is not additive over
/// steps (a call's fixed cost, decoding the inputs, dwarfs a step's), so it cannot be bisected
/// step by step as states are: the referee re-runs the segment as one `agora_segment` call,
/// as the worker ran it, bounded by the segment fuel bound every sold segment fits in, and
/// compares both the state after it and `start`'s fuel plus the call's fuel with `leaf`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct SegmentClaim {
    /// Steps in the segment.
    pub steps: u32,
    /// The agreed leaf before the segment (its state is the start, its fuel the fuel before);
    /// `None` for segment 0, which starts from `init` with no fuel billed.
    pub start: Option<TraceLeaf>,
    /// The worker's leaf after the segment.
    pub leaf: TraceLeaf,
}

impl SegmentClaim {
    /// Whether the referee's run, `fuel` to reach `post_state`, is the worker's leaf.
    pub fn is_reproduced_by(&self, post_state: Hash, fuel: u64) -> bool {
        post_state == self.leaf.state_hash
            && self.fuel_before().checked_add(fuel) == Some(self.leaf.fuel)
    }

    /// Whether the referee's refusal of the segment (the module refused it, or it needs more
    /// than the segment's fuel bound) is the worker's leaf: the segment's
    /// [`TraceLeaf::refusal`], which bills nothing for it.
    pub fn is_reproduced_by_refusal(&self) -> bool {
        self.leaf == TraceLeaf::refusal(self.leaf.index, self.fuel_before())
    }

    /// The fuel the worker's leaf bills the segment (its cumulative fuel less the start's);
    /// `None` for a refusal leaf, which bills nothing and says nothing of the fuel the module
    /// spent before it refused.
    pub fn claimed_fuel(&self) -> Option<u64> {
        (!self.is_reproduced_by_refusal())
            .then(|| self.leaf.fuel.saturating_sub(self.fuel_before()))
    }

    /// The cumulative fuel before the segment.
    fn fuel_before(&self) -> u64 {
        self.start.map_or(0, |leaf| leaf.fuel)
    }
}

/// Bisection over the training steps of one segment: the challenger agrees with the state
/// after `lo` steps of the segment and disagrees with the worker's state after `hi` steps.
/// Each round the worker posts its state after `mid = lo + (hi − lo) / 2` steps, the challenger
/// agrees (`lo = mid`) or disagrees (`hi = mid`); at `hi = lo + 1` the referee executes that one
/// step from the state at `lo` and compares its result with the worker's state at `hi`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Bisection {
    /// Steps in the segment.
    pub steps: u32,
    /// Steps of the segment before the agreed state.
    pub lo: u32,
    /// The agreed state after `lo` steps; `None` for the job's initial state (segment 0 at
    /// `lo = 0`), which the referee computes with `init`.
    pub lo_state: Option<Hash>,
    /// Steps of the segment before the disputed state.
    pub hi: u32,
    /// The worker's state after `hi` steps.
    pub hi_state: Hash,
    /// The worker's state at the midpoint, once posted and until the challenger answers.
    pub midpoint: Option<Hash>,
    /// The whole segment as the worker ran it (its agreed start leaf and the worker's leaf):
    /// what the referee re-runs instead when the one step the bisection narrowed to needs more
    /// than `REFEREE_FUEL` (since spec version 17). A single step called alone may cost what
    /// the worker's call of the whole segment did not — a module can spend more when called
    /// for one step, or from a mid-segment state — but the segment's call is the worker's own,
    /// bounded by the segment fuel bound, so its re-run always decides.
    pub rerun: SegmentClaim,
}

impl Bisection {
    /// The step count at which the worker posts its next state.
    pub fn mid(&self) -> u32 {
        self.lo + (self.hi - self.lo) / 2
    }
}

/// A dispute between the worker and a challenger: the verifier of a mismatching check, or
/// anyone who challenged the verified result within the challenge window.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Dispute {
    /// The check whose mismatch opened it; `None` for an open challenge.
    pub check: Option<u32>,
    /// The check's verifier, or the account that challenged.
    pub challenger: AccountId,
    /// The challenger's stake at risk: its run bond (`bonds.rs`: the bonds of every mismatch
    /// of the check's run, gathered), or the challenge bond (`CHALLENGE_BOND`) it committed to
    /// challenge.
    pub bond: Balance,
    /// The disputed segment.
    pub segment: u64,
    /// What is disputed.
    pub claim: Claim,
    /// Whose move it is; the move is due by the audit's deadline.
    pub turn: Turn,
    /// Bisection rounds played (each a midpoint and its answer).
    pub round: u32,
    /// Set when a drawn check's dispute is reopened from the job's start, to whoever had the
    /// referee run the verdict that reopened it: the referee found the piece machine-dependent,
    /// but from a state only the worker vouched for, so the dispute went on as a leaf bisection
    /// from `init` (`dispute.rs`, "Machine-dependent pieces"). Every state the referee starts
    /// from is then one the challenger agreed with on its way from `init`, and a
    /// machine-dependent verdict is the buyer's module's doing; that caller is repaid too.
    pub reopened_by: Option<AccountId>,
    /// Whoever had the referee run a verdict that did not end the dispute, each paying a
    /// referee call's fee: a step too heavy for the referee, sent on to its segment's re-run
    /// (`StepTooHeavy`), and the verdict that reopened a check's dispute from the start
    /// ([`Dispute::reopened_by`]). Repaid beside the deciding call's caller (spec version 20;
    /// before, only the deciding call was, and an honest caller of the first paid for the
    /// loser's claim). At most [`MAX_EARLIER_CALLS`]: one escalation before a reopening and one
    /// after, and the reopening.
    pub earlier_calls: Vec<AccountId>,
    /// While it is the referee's turn, the first block that accepts the `referee` call; `None`
    /// at any other turn. A step opens at once; a whole segment's or an output's re-run takes
    /// its place in the chain's re-run queue (`pallet_jobs::Pallet::queue_rerun`) and opens
    /// after every earlier queued re-run's lead and its own (its own only, unqueued, if a call
    /// had the same request decided lately), and the turn's deadline leaves
    /// the call at least a fifth of a move's window after that (spec version 21; before, the
    /// call opened its own lead into the turn, whatever else every node's warmer had to decide).
    pub referee_opens_at: Option<BlockNumber>,
}

/// Most referee calls a dispute can have before the one that decides it
/// ([`Dispute::earlier_calls`]).
pub const MAX_EARLIER_CALLS: usize = 3;

impl Dispute {
    /// Whether the dispute was reopened from the job's start ([`Dispute::reopened_by`]).
    pub fn from_start(&self) -> bool {
        self.reopened_by.is_some()
    }
}
