//! A job's records: the worker's commitment, the receipt of its settlement, how its
//! verification ended, where it is in its life, and the job itself.

use crate::JobId;
use agora_primitives::storage::Ext;
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_market::{BidTerms, Fuel, JobSpec, OfferId};
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::{Deserialize, Serialize};

/// What a worker commits to when it finishes: the trace root and everything billed.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Commitment {
    /// Merkle root of the trace leaves (one per segment).
    pub trace_root: Hash,
    /// Number of segments: the job's, or fewer for a trace that [ends in a
    /// refusal](Commitment::ends_in_refusal) (at least 2: a refused segment 0 is proved with
    /// `declare_unrunnable` instead).
    pub segments: u64,
    /// Hash of the state after the last segment: the last leaf's state hash (zero when the
    /// trace ends in a refusal).
    pub final_state: Hash,
    /// Fuel the whole run used; what the worker is paid for. It is the last leaf's cumulative
    /// fuel, proved at commit (the worker's word alone is not enough).
    pub total_fuel: Fuel,
    /// The segment that used the most fuel ([`agora_primitives::trace::heaviest_segment`]):
    /// it is always checked and its revealed leaves must show [`Commitment::heaviest_fuel`],
    /// and the bill may not exceed `segments × heaviest_fuel`. So fuel added to a segment no
    /// check happens to see cannot be billed (`docs/economics.md`, hidden overbilling).
    pub heaviest_segment: u64,
    /// That segment's fuel.
    pub heaviest_fuel: Fuel,
    /// Blob hash of the trained model (burn's format); zero when the trace ends in a refusal
    /// or the module refused `export` on the final state (a trap, a model larger than a blob
    /// may be): see [`Commitment::has_model`].
    pub output: Hash,
    /// The job's evaluation metrics (its JSON), at most `MAX_METRICS_LEN` bytes; empty when
    /// the module refused `eval` (a trap, metrics longer than that).
    #[serde(serialize_with = "serialize_text")]
    pub metrics: Vec<u8>,
}

impl Commitment {
    /// Whether the trace ends in a refusal: the module refused segment `segments − 1` (its leaf
    /// is [`agora_primitives::trace::TraceLeaf::refusal`]), so there is no final state, no
    /// model and no metrics, and `total_fuel` bills the segments before it.
    pub fn ends_in_refusal(&self) -> bool {
        self.final_state == Hash::ZERO
    }

    /// Whether the job has a model: its trace runs to the end and the module exported one.
    /// A module that refuses `export` leaves none, and its run is billed all the same: the
    /// refusal is the buyer's module's, which every machine meets alike, so it cannot leave an
    /// honest worker unable to commit (a verifier or the referee checks it as any result).
    pub fn has_model(&self) -> bool {
        self.output != Hash::ZERO
    }

    /// The blobs the job holds while it can be challenged: the final state (the output
    /// dispute's referee exports it) and the model, if any; none for a trace that ends in a
    /// refusal.
    pub fn result_blobs(&self) -> impl Iterator<Item = Hash> {
        let refused = self.ends_in_refusal();
        let model = (!refused && self.has_model()).then_some(self.output);
        (!refused)
            .then_some(self.final_state)
            .into_iter()
            .chain(model)
    }
}

fn serialize_text<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// A spot check whose attestation matched the worker's trace: its verifier earns a fee for the
/// fuel it re-executed (see `pallet_market::assurance`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct PaidCheck {
    /// The verifier.
    pub verifier: AccountId,
    /// The segment it re-executed.
    pub segment: u64,
    /// The segment's fuel, from the worker's leaves the check confirmed.
    pub fuel: Fuel,
}

/// How a dispute was decided, for the receipt and the job's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize, TypeInfo)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Decision {
    /// The referee executed one training step of the disputed segment: from the state after
    /// `step` steps of it to the state after `step + 1`.
    #[codec(index = 0)]
    RefereeStep {
        /// Steps of the segment before the executed one.
        step: u32,
    },
    /// The referee ran `export` and `eval` of the committed final state.
    #[codec(index = 1)]
    RefereeOutput,
    /// The referee re-ran the whole disputed segment (a dispute over its fuel).
    #[codec(index = 2)]
    RefereeSegment,
    /// The loser missed a move (for the worker: a bisection move, a leaf reveal, or having the
    /// referee run by the deadline).
    #[codec(index = 3)]
    MissedMove,
}

/// A verifier whose mismatch on a job was disputed and refuted (the referee sided with the
/// worker, or the verifier missed a move), or an account whose open challenge lost: its check
/// or challenge bond was slashed.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Refutation {
    /// The verifier, or the challenger.
    pub verifier: AccountId,
    /// The disputed segment.
    pub segment: u64,
    /// Whether it was an open challenge (else a drawn check's mismatch).
    pub open: bool,
    /// How the dispute was decided.
    pub decided: Decision,
    /// Bond repaid to whoever called the referee (its fee).
    pub repaid: Balance,
    /// Bond burned.
    pub burned: Balance,
    /// Bond paid to the worker.
    pub rewarded: Balance,
}

/// A worker's declaration that its job cannot run with the buyer's inputs, waiting for its
/// proof (`prove_unrunnable`, `unrunnable.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize, TypeInfo)]
pub struct Declaration {
    /// The first block that accepts the proof: by then every node has had the lead its
    /// slowest decides the referee's re-run ahead in.
    pub opens_at: BlockNumber,
    /// The last block that accepts it. A job past its commit deadline is timed out only after
    /// it.
    pub decide_by: BlockNumber,
    /// What the worker burned to make it (its proof's lead at
    /// `Config::DECLARATION_FEE_PER_LEAD_BLOCK`); paid back out of the escrow if the proof ends
    /// the job.
    pub fee: Balance,
}

/// A drawn verifier that forfeited its run bond on a job: a check of its run was missed (not
/// revealed or attested in time) or wrong (a reveal that did not open its commitment). What
/// the run bond still held when the run was settled was slashed, all burned.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Forfeiture {
    /// The verifier.
    pub verifier: AccountId,
    /// The segments of its run it missed.
    pub missed: Vec<u64>,
    /// The segments of its run whose reveal was wrong.
    pub wrong: Vec<u64>,
    /// Bond burned.
    pub burned: Balance,
}

/// The money of a settled job.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Receipt {
    /// Fuel billed (committed and spot-checked).
    pub fuel: Fuel,
    /// Clearing price per Mfuel.
    pub price: Balance,
    /// Paid to the worker.
    pub paid_worker: Balance,
    /// Paid to the verifiers, in total.
    pub paid_verifiers: Balance,
    /// Returned to the buyer.
    pub refund: Balance,
    /// Spot checks whose re-execution matched the worker's trace.
    pub checks_passed: u32,
    /// Spot checks whose verifier did not attest in time.
    pub checks_missed: u32,
    /// Block of settlement.
    pub settled_at: BlockNumber,
    /// Verifiers whose mismatch was refuted in a dispute, and what each lost.
    pub refuted: Vec<Refutation>,
    /// Disputes the referee set aside because the buyer's module is machine-dependent there:
    /// nobody was slashed for them, and the results of those pieces are not verified.
    pub machine_dependent: Vec<MachineDependence>,
    /// Open challenges the referee could not decide: nobody lost, and each challenger paid the
    /// referee call out of its bond.
    pub dismissed: Vec<Dismissal>,
    /// Verifiers that forfeited their run bond by a missed or wrong check, and what each lost
    /// (since spec version 13; a verifier whose mismatch was refuted is in `refuted`).
    pub forfeited: Vec<Forfeiture>,
}

/// An open challenge the referee could not decide: the disputed piece did not fit in the
/// referee's fuel, or its verdict was machine-dependent from a state only the worker vouches
/// for. Neither side is shown wrong, so nobody is slashed; the challenger pays whoever had the
/// referee run its call fee out of the challenge bond (else a challenger could make an honest
/// worker pay for referee calls again and again), the rest of the bond is released, and the
/// challenge window goes on.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Dismissal {
    /// The disputed segment.
    pub segment: u64,
    /// Who challenged.
    pub challenger: AccountId,
    /// Which piece the referee ran.
    pub decided: Decision,
    /// Why the referee could not decide.
    pub reason: Undecided,
    /// Whoever had the referee run, and what each received of its fee out of the challenge
    /// bond, in the order of the calls (none for a call the challenger made itself: nothing
    /// moves). More than one when the dispute was escalated past a heavy step (spec version 20).
    pub repaid: Vec<(AccountId, Balance)>,
    /// What the challenge bond lost but the caller could not receive (its account would have
    /// been created below the existential deposit), burned.
    pub burned: Balance,
}

/// Why the referee could not decide a dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, Deserialize, TypeInfo)]
#[serde(rename_all = "snake_case")]
pub enum Undecided {
    /// The disputed piece did not finish within the referee's fuel.
    #[codec(index = 0)]
    OutOfFuel,
    /// The piece was machine-dependent, from a state only the worker vouches for: not the
    /// buyer's module's doing beyond doubt (`docs/nan-determinism.md`).
    #[codec(index = 1)]
    Unestablished,
}

/// A dispute the referee ended by finding the buyer's module *machine-dependent*: a disputed
/// piece produced a NaN (whose bits differ between architectures) or used its stack to near the
/// limit (`docs/nan-determinism.md`). Two honest machines may disagree on such a piece, so
/// neither side loses by it: the challenger's bond is released (a drawn check's verifier is
/// paid its fee, each referee call's caller its call fee), and verification goes on as if the
/// mismatch had not been raised — the worker is paid at settlement, out of the buyer's escrow,
/// unless another mismatch or challenge shows it wrong.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct MachineDependence {
    /// The disputed segment.
    pub segment: u64,
    /// Who disputed the worker's result.
    pub challenger: AccountId,
    /// Whether by an open challenge (else as a drawn check's verifier).
    pub open: bool,
    /// Which piece the referee ran.
    pub decided: Decision,
    /// Whoever had the referee run, and its fee, for each call (up to four: one that reopened
    /// the dispute from the start, an escalation past a heavy step before and after it, and
    /// the deciding one): repaid out of the escrow at settlement (the buyer's module
    /// made the calls necessary).
    pub repay: Vec<(AccountId, Balance)>,
    /// The fuel the challenger had to re-execute from the job's start when the dispute was
    /// reopened there (0 otherwise). Not paid: nothing shows that it did (a challenger that
    /// agrees with every leaf reaches the same verdict without replaying), and paying for it
    /// would pay a drawn verifier to fake a mismatch on any module that produces a NaN
    /// (`docs/nan-determinism.md`, "Reopened from the start").
    pub replayed: Fuel,
}

/// How verification of a committed job ended; reported by the verification pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum AuditOutcome {
    /// No mismatch left standing. The verifiers listed (one entry per matching check) earn a
    /// fee each.
    #[codec(index = 0)]
    Passed {
        /// Each matching check (its verifier earns a fee).
        paid: Vec<PaidCheck>,
        /// Checks with no attestation in time, wrong or refuted.
        missed: u32,
        /// Mismatches refuted in a dispute, and what each verifier lost.
        refuted: Vec<Refutation>,
    },
    /// A verifier's re-execution differs from the worker's trace.
    #[codec(index = 1)]
    Mismatch {
        /// The first mismatching segment.
        segment: u64,
    },
    /// The worker did not reveal what the checks needed in time.
    #[codec(index = 2)]
    WorkerFault,
    /// The worker lost a dispute (the referee found its claim wrong, or it missed a move).
    #[codec(index = 3)]
    WorkerLost {
        /// The disputed segment.
        segment: u64,
        /// Who proved it wrong; paid part of the slashed collateral.
        challenger: AccountId,
        /// Whom to repay, first, out of the collateral, and how much: each referee call's
        /// caller its fee, in the order of the calls (none when the worker made them, or no
        /// call was made: a missed move).
        repay: Vec<(AccountId, Balance)>,
        /// Whether the challenger challenged openly (else it was a drawn check's verifier).
        open: bool,
        /// How the dispute was decided.
        decided: Decision,
        /// The challenger's bond in the dispute: the most its reward may be, so that a
        /// challenger's stake and prize are alike whatever the worker's collateral (a large
        /// prize would pay lazy verifiers whose made-up leaves happen to hit cheats).
        bond: Balance,
        /// The checks whose verifiers revealed a leaf: they did the work the worker's cheat
        /// made worthless, and are paid their fees out of its collateral first.
        checks: Vec<PaidCheck>,
    },
}

/// Where a job is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum JobStatus {
    /// Matched; the worker is running it.
    #[codec(index = 0)]
    Assigned,
    /// The result is committed; spot checks are under way.
    #[codec(index = 1)]
    Committed {
        /// Block of the commitment.
        at: BlockNumber,
    },
    /// Spot checks passed; settles at `settle_at` (the challenge window).
    #[codec(index = 2)]
    Verified {
        /// Each matching check (its verifier earns a fee).
        paid: Vec<PaidCheck>,
        /// Checks missed by their verifiers.
        missed: u32,
        /// Mismatches refuted in a dispute.
        refuted: Vec<Refutation>,
        /// Block of settlement.
        settle_at: BlockNumber,
    },
    /// Spot checks passed and, within the challenge window, someone challenged the result
    /// (`pallet-verification`'s open challenges): settlement waits for the dispute. If the
    /// challenger loses, the job is `Verified` again with what it had (and the refutation),
    /// settling no earlier than `CHALLENGE_BLOCKS` after the dispute ends.
    #[codec(index = 8)]
    Challenged {
        /// Each matching check (its verifier earns a fee).
        paid: Vec<PaidCheck>,
        /// Checks missed by their verifiers.
        missed: u32,
        /// Mismatches refuted in a dispute.
        refuted: Vec<Refutation>,
        /// The settlement block the challenge interrupted.
        settle_at: BlockNumber,
        /// Who challenged.
        challenger: AccountId,
    },
    /// Paid out.
    #[codec(index = 3)]
    Settled {
        /// The money.
        receipt: Receipt,
    },
    /// A spot check mismatched; the buyer was refunded, nobody was paid or slashed (resolution
    /// by bisection is not in this version).
    #[codec(index = 4)]
    Disputed {
        /// The first mismatching segment.
        segment: u64,
        /// Returned to the buyer.
        refund: Balance,
        /// Block it ended.
        at: BlockNumber,
    },
    /// The worker missed a deadline; its collateral was slashed.
    #[codec(index = 5)]
    TimedOut {
        /// Collateral destroyed.
        slashed: Balance,
        /// Whether the bid went back into the queue (else the escrow was refunded).
        requeued: bool,
        /// Block it ended.
        at: BlockNumber,
    },
    /// The buyer cancelled, and no result was committed within the notice.
    #[codec(index = 6)]
    Cancelled {
        /// Paid to the worker for its trouble.
        fee: Balance,
        /// Returned to the buyer.
        refund: Balance,
        /// Block it ended.
        at: BlockNumber,
    },
    /// The worker lost a dispute: its collateral was slashed, part paid to the challenger and
    /// the rest burned; the buyer was refunded (a requeued bid leaves no job record).
    #[codec(index = 7)]
    DisputeLost {
        /// The disputed segment.
        segment: u64,
        /// Who proved the worker wrong.
        challenger: AccountId,
        /// Whether by an open challenge (else as a drawn check's verifier).
        open: bool,
        /// How the dispute was decided.
        decided: Decision,
        /// Collateral repaid to whoever called the referee (its fee).
        repaid: Balance,
        /// Collateral burned.
        burned: Balance,
        /// Collateral paid to the challenger.
        rewarded: Balance,
        /// Collateral paid to the verifiers whose checks revealed a leaf, as their fees.
        paid_verifiers: Balance,
        /// Whether the bid went back into the queue (else the escrow was refunded).
        requeued: bool,
        /// Block it ended.
        at: BlockNumber,
    },
    /// The worker proved that the buyer's inputs cannot run (the referee saw `init` or the
    /// first step refused, or too heavy to referee): the buyer paid the cancellation fee.
    #[codec(index = 9)]
    Unrunnable {
        /// Paid to the worker.
        fee: Balance,
        /// Returned to the buyer.
        refund: Balance,
        /// Block it ended.
        at: BlockNumber,
    },
}

impl JobStatus {
    /// Whether the job has ended (its money has moved).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            JobStatus::Settled { .. }
                | JobStatus::Disputed { .. }
                | JobStatus::TimedOut { .. }
                | JobStatus::Cancelled { .. }
                | JobStatus::DisputeLost { .. }
                | JobStatus::Unrunnable { .. }
        )
    }

    /// The block the job ended in, if it has.
    pub fn ended_at(&self) -> Option<BlockNumber> {
        match self {
            JobStatus::Settled { receipt } => Some(receipt.settled_at),
            JobStatus::Disputed { at, .. }
            | JobStatus::TimedOut { at, .. }
            | JobStatus::Cancelled { at, .. }
            | JobStatus::DisputeLost { at, .. }
            | JobStatus::Unrunnable { at, .. } => Some(*at),
            _ => None,
        }
    }
}

/// A job.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Job {
    /// Who pays.
    pub buyer: AccountId,
    /// Who runs it.
    pub worker: AccountId,
    /// The offer it was matched to.
    pub offer: OfferId,
    /// What to run.
    pub spec: JobSpec,
    /// The bid's terms.
    pub terms: BidTerms,
    /// Clearing price per Mfuel.
    pub price: Balance,
    /// Reserved on the buyer.
    pub escrow: Balance,
    /// Committed from the worker's stake.
    pub collateral: Balance,
    /// Block the bid was placed.
    pub placed_at: BlockNumber,
    /// Block of the match.
    pub matched_at: BlockNumber,
    /// Last block in which the worker may commit.
    pub commit_by: BlockNumber,
    /// The worker's commitment, once made.
    pub commitment: Option<Commitment>,
    /// The block at whose end a cancellation the buyer asked for takes effect, unless the
    /// result is committed first (then it lapses).
    pub cancel_at: Option<BlockNumber>,
    /// Where it is.
    pub status: JobStatus,
}

/// What the jobs pallet needs from verification.
pub trait JobVerification {
    /// A worker committed a result: start spot-checking it.
    fn begin(ext: &mut Ext<'_>, job: JobId, record: &Job);
}
