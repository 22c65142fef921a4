//! A job as people read it: `agora_job`, `agora_jobs`, `agora job status` and the dashboard's
//! job pages. Amounts are decimal AGR strings.

use agora_primitives::{format_agr, AccountId, Balance, BlockNumber};
use pallet_jobs::{Job, JobStatus, Receipt};
use pallet_market::{format_mfuel, Bid, BidEnd, BidTerms, ClosedBid, JobSpec};
use serde::{Deserialize, Serialize};

/// The stage of a job, for progress and reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// In the order book.
    Queued,
    /// Matched; the worker is running it.
    Running,
    /// Result committed; spot checks under way.
    Committed,
    /// Checks passed; challenge window.
    Verified,
    /// Paid out.
    Settled,
    /// Ended without settlement (disputed, timed out, cancelled).
    Ended,
    /// Not on chain (never existed, or pruned after its retention).
    Unknown,
}

/// What `job status` (and `job submit` when it ends) prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobReport {
    /// The job id (= bid id).
    pub job: u64,
    /// The stage.
    pub stage: Stage,
    /// The chain's status record, as JSON (absent while queued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<serde_json::Value>,
    /// Why the bid is still open (while queued).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<String>,
    /// The buyer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer: Option<AccountId>,
    /// The worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<AccountId>,
    /// Clearing price, AGR per Mfuel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Escrow, AGR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escrow: Option<String>,
    /// Blocks the bid waited for its match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited: Option<BlockNumber>,
    /// Spot-check phase, while one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_phase: Option<pallet_verification::Phase>,
    /// The spot check while it runs: whose move it is, until which block, and each check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditReport>,
    /// How the job is checked and what its worker has at stake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assurance: Option<AssuranceReport>,
    /// The receipt, once settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptReport>,
    /// The block at whose end a cancellation the buyer asked for takes effect, unless the
    /// worker commits its result first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_at: Option<BlockNumber>,
    /// The worker's declaration that the buyer's inputs cannot run, while it waits for its
    /// proof: the first and last block that accept the proof (since spec version 19) and the
    /// fee it burned (since 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared_unrunnable: Option<DeclarationReport>,
    /// Why a settled job has no model: its trace ends in a refused segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub no_model: Option<String>,
    /// A settled job's model while the registry keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<ModelReport>,
    /// How a bid that never matched left the book (cancelled, expired), when, and the refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_ended: Option<String>,
    /// Verifiers that forfeited their run bond on a job that ended without a receipt (its
    /// worker lost a dispute, a fuel-only mismatch, …; since spec version 14): who, which
    /// segments, AGR burned. A settled job's are on its receipt.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forfeited: Vec<ForfeitureReport>,
}

/// A settled job's model as the blob registry keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// Its blob's hash (what `job result` fetches).
    pub hash: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// The block at whose end the registry drops it (`MODEL_RETENTION` after settlement, or
    /// the block after the buyer released it).
    pub kept_until: BlockNumber,
    /// Whether the buyer holds its registration (and pays its deposit); if not, the buyer
    /// could not pay the deposit at settlement and the worker's registration keeps it only for
    /// the registry's ordinary lifetime.
    pub held_by_buyer: bool,
}

/// A pending unrunnable declaration as `job status` shows it (`pallet_jobs::Declaration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclarationReport {
    /// The first block that accepts the proof.
    pub opens_at: BlockNumber,
    /// The last block that accepts it.
    pub decide_by: BlockNumber,
    /// What the worker burned to declare, AGR; repaid out of the escrow if the proof ends the
    /// job.
    pub fee: String,
}

impl From<&pallet_jobs::Declaration> for DeclarationReport {
    fn from(declaration: &pallet_jobs::Declaration) -> Self {
        DeclarationReport {
            opens_at: declaration.opens_at,
            decide_by: declaration.decide_by,
            fee: format_agr(declaration.fee),
        }
    }
}

/// A job's assurance level as `job status` and `job submit` show it (the runtime's rule,
/// `pallet_market::assurance`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssuranceReport {
    /// The assurance level: segments drawn uniformly per thousand.
    pub permille: u32,
    /// Verifiers drawn for each sampled segment.
    pub verifiers_per_segment: u32,
    /// Segments in the job.
    pub segments: u64,
    /// Segments re-executed by drawn verifiers: the last and `uniform` others (the worker's
    /// heaviest segment may add one).
    pub sampled: u64,
    /// Of those, drawn uniformly from the segments before the last.
    pub uniform: u64,
    /// Most checks the verification escrow pays for.
    pub max_checks: u64,
    /// The verification escrow at the bid's max price, AGR.
    pub verification_escrow: String,
    /// Stake the worker commits (once matched: the job's; before: the least the job needs).
    pub collateral: String,
}

impl AssuranceReport {
    /// The assurance of `spec` bid with `terms`, with `collateral` at stake (`None`: the least
    /// the job needs).
    pub fn of(spec: &JobSpec, terms: &BidTerms, collateral: Option<Balance>) -> Option<Self> {
        let a = agora_runtime::Market::assurance(spec, terms)?;
        let params = agora_runtime::Market::assurance_params_for(terms);
        Some(AssuranceReport {
            permille: params.sample_permille,
            verifiers_per_segment: params.verifiers_per_segment,
            segments: spec.segments(),
            sampled: a.sampled,
            uniform: a.uniform,
            max_checks: a.checks,
            verification_escrow: format_agr(a.verification_escrow),
            collateral: format_agr(collateral.unwrap_or(a.collateral)),
        })
    }

    /// What `job submit` says of the `escrow` its bid reserves. At the floor every bid
    /// escrows (`MIN_BID_ESCROW`, ~93 AGR on the runtime) it says why: a small bid's escrow is
    /// mostly the floor, which buyers took for the job's price (seen in session 56: the line
    /// gave only the checks' part).
    pub fn escrow_line(escrow: Balance) -> String {
        let floor = <agora_runtime::Runtime as pallet_market::Config>::MIN_BID_ESCROW;
        if escrow <= floor {
            format!(
                "Escrow: {} AGR reserved until the job ends, the least any bid reserves: it \
                 covers the largest fee an unrunnable declaration burns and both its calls' \
                 fees, paid to the worker only if it proves the job unrunnable; otherwise all \
                 the job does not use is refunded",
                format_agr(floor)
            )
        } else {
            format!(
                "Escrow: {} AGR reserved until the job ends (max price × max fuel and the \
                 checks' fees, at least {} AGR); what the job does not use is refunded",
                format_agr(escrow),
                format_agr(floor)
            )
        }
    }

    /// The checks in words (the collateral is the caller's to add: its meaning differs
    /// before and after the match).
    pub fn checks_line(&self) -> String {
        format!(
            "assurance {}‰: {} of {} segments re-executed (the last and {} drawn at random, plus \
             the worker's heaviest if another) by {} verifier{} each, up to {} checks for {} AGR \
             of escrow",
            self.permille,
            self.sampled,
            self.segments,
            self.uniform,
            self.verifiers_per_segment,
            if self.verifiers_per_segment == 1 {
                ""
            } else {
                "s"
            },
            self.max_checks,
            self.verification_escrow
        )
    }
}

/// A running spot check as `job status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditReport {
    /// Who must act before `deadline`: `worker` (reveal starts or leaves, or a dispute move),
    /// `verifiers` (attest or open), `challenger` (answer a dispute's midpoint), `referee`
    /// (anyone calls it; if nobody does, the worker loses), or `chain` (the sample is drawn at
    /// the end of the deadline block).
    pub waiting_on: String,
    /// Last block of the current phase.
    pub deadline: BlockNumber,
    /// One entry per check, in check order.
    pub checks: Vec<CheckReport>,
    /// The dispute, while one runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispute: Option<DisputeReport>,
}

/// A running dispute as `job status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DisputeReport {
    /// The disputed segment.
    pub segment: u64,
    /// Who challenged: a check's verifier, or anyone in the challenge window.
    pub challenger: AccountId,
    /// Whether it is an open challenge (no check of the sample opened it).
    pub open: bool,
    /// `leaves` (bisection over the trace's segments), `steps` (over one segment's steps),
    /// `fuel` (the referee re-runs one segment whole and compares its state and fuel: a fuel
    /// or refusal dispute, or, since spec version 17, a state dispute whose step was too heavy
    /// for the referee; the label is kept for the wire format) or `output` (the model and
    /// metrics).
    pub claim: String,
    /// Bisection rounds played.
    pub round: u32,
    /// Bisection only: the first disputed segment (`leaves`), or the agreed steps into the
    /// segment (`steps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<u64>,
    /// Bisection only: the disputed leaf (`leaves`), or the disputed steps into the segment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi: Option<u64>,
    /// At the referee's turn: the first block a `referee` call is accepted in (later than the
    /// turn's start for a whole segment's re-run or an output's, which every node decides ahead
    /// first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referee_opens: Option<BlockNumber>,
}

/// One check of a running spot check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The sampled segment.
    pub segment: u64,
    /// Its verifier.
    pub verifier: AccountId,
    /// Whether the verifier has committed to its result.
    pub attested: bool,
    /// The outcome, once decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<pallet_verification::CheckOutcome>,
}

impl From<&pallet_verification::Audit> for AuditReport {
    fn from(audit: &pallet_verification::Audit) -> Self {
        use pallet_verification::{Claim, Phase, Turn};
        AuditReport {
            waiting_on: match (audit.phase, audit.dispute.as_ref().map(|d| d.turn)) {
                (Phase::AwaitingSample, _) => "chain",
                (Phase::AwaitingStarts | Phase::AwaitingLeaves, _) => "worker",
                (Phase::AwaitingAttestations | Phase::AwaitingReveals, _) => "verifiers",
                (Phase::Disputed, Some(Turn::Worker)) => "worker",
                (Phase::Disputed, Some(Turn::Challenger)) => "challenger",
                (Phase::Disputed, _) => "referee",
            }
            .to_owned(),
            dispute: audit.dispute.as_ref().map(|d| {
                let (claim, bounds) = match &d.claim {
                    Claim::Steps(b) => ("steps", Some((u64::from(b.lo), u64::from(b.hi)))),
                    Claim::Leaves(l) => ("leaves", Some((l.first(), l.hi))),
                    Claim::Output => ("output", None),
                    Claim::Segment(_) => ("fuel", None),
                };
                DisputeReport {
                    segment: d.segment,
                    challenger: d.challenger,
                    open: d.check.is_none(),
                    claim: claim.to_owned(),
                    round: d.round,
                    lo: bounds.map(|(lo, _)| lo),
                    hi: bounds.map(|(_, hi)| hi),
                    referee_opens: None,
                }
            }),
            deadline: audit.deadline,
            checks: audit
                .checks
                .iter()
                .map(|c| CheckReport {
                    segment: c.segment,
                    verifier: c.verifier,
                    attested: c.attestation.is_some(),
                    outcome: c.outcome,
                })
                .collect(),
        }
    }
}

/// A receipt in AGR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiptReport {
    /// Fuel billed (in JSON: Mfuel).
    #[serde(with = "crate::views::mfuel")]
    pub fuel: u64,
    /// AGR per Mfuel.
    pub price: String,
    /// Paid to the worker.
    pub paid_worker: String,
    /// Paid to verifiers.
    pub paid_verifiers: String,
    /// Total paid.
    pub paid: String,
    /// Refunded.
    pub refund: String,
    /// Spot checks that matched.
    pub checks_passed: u32,
    /// Spot checks missed by their verifiers.
    pub checks_missed: u32,
    /// Block of settlement.
    pub settled_at: BlockNumber,
    /// Verifiers whose mismatch was refuted in a dispute: who, which segment, AGR burned and
    /// paid to the worker.
    pub refuted: Vec<RefutationReport>,
    /// Disputes set aside because the buyer's module is machine-dependent there (a NaN, or a
    /// stack near its limit, in the disputed piece): nobody was slashed, and those pieces'
    /// results are not verified.
    #[serde(default)]
    pub machine_dependent: Vec<MachineDependenceReport>,
    /// Open challenges the referee could not decide: nobody was slashed; each challenger
    /// repaid the referee call out of its bond.
    #[serde(default)]
    pub dismissed: Vec<DismissalReport>,
    /// Verifiers that forfeited their run bond by a missed or wrong check: who, which
    /// segments, AGR burned (since spec version 13).
    #[serde(default)]
    pub forfeited: Vec<ForfeitureReport>,
}

/// A verifier on a receipt that forfeited its run bond, in AGR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForfeitureReport {
    /// The verifier.
    pub verifier: AccountId,
    /// The segments of its run it missed.
    pub missed: Vec<u64>,
    /// The segments of its run whose reveal was wrong.
    pub wrong: Vec<u64>,
    /// Bond burned.
    pub burned: String,
}

/// An open challenge on a receipt that the referee could not decide, in AGR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DismissalReport {
    /// Who challenged.
    pub challenger: AccountId,
    /// The disputed segment.
    pub segment: u64,
    /// The piece the referee ran (as in [`RefutationReport::decided`]).
    pub decided: pallet_jobs::Decision,
    /// Why it could not decide: `out_of_fuel` or `unestablished`.
    pub reason: pallet_jobs::Undecided,
    /// Who had the referee run and what each was repaid of its fee out of the challenge bond,
    /// in the order of the calls (none for a call the challenger made itself; more than one
    /// when the dispute was escalated past a heavy step).
    pub repaid: Vec<RepaymentReport>,
    /// What the bond lost that the caller could not receive, burned (usually 0).
    pub burned: String,
}

/// A referee call's fee repaid to its caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepaymentReport {
    /// Who had the referee run.
    pub to: AccountId,
    /// What it was repaid, AGR.
    pub amount: String,
}

/// A dispute set aside on a receipt: the referee found the buyer's module machine-dependent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineDependenceReport {
    /// Who disputed (a drawn check's verifier, or an open challenger).
    pub challenger: AccountId,
    /// The disputed segment.
    pub segment: u64,
    /// Whether it was an open challenge.
    pub open: bool,
    /// The piece the referee ran (as in [`RefutationReport::decided`]).
    pub decided: pallet_jobs::Decision,
    /// Fuel the challenger had to re-execute from the job's start when the dispute was
    /// reopened there (not paid: nothing shows it did); 0 otherwise.
    #[serde(default)]
    pub replayed: u64,
}

/// A refuted mismatch or lost open challenge on a receipt, in AGR.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefutationReport {
    /// The verifier, or the challenger.
    pub verifier: AccountId,
    /// The disputed segment.
    pub segment: u64,
    /// Whether it was an open challenge (else a drawn check's mismatch).
    pub open: bool,
    /// How the dispute was decided: `{"by": "referee_step", "step": S}`, `referee_output`,
    /// `referee_segment` or `missed_move`.
    pub decided: pallet_jobs::Decision,
    /// Bond repaid to whoever called the referee.
    pub repaid: String,
    /// Bond burned.
    pub burned: String,
    /// Bond paid to the worker.
    pub rewarded: String,
}

impl From<&Receipt> for ReceiptReport {
    fn from(r: &Receipt) -> Self {
        ReceiptReport {
            fuel: r.fuel,
            price: format_agr(r.price),
            paid_worker: format_agr(r.paid_worker),
            paid_verifiers: format_agr(r.paid_verifiers),
            paid: format_agr(r.paid_worker.saturating_add(r.paid_verifiers)),
            refund: format_agr(r.refund),
            checks_passed: r.checks_passed,
            checks_missed: r.checks_missed,
            settled_at: r.settled_at,
            refuted: r
                .refuted
                .iter()
                .map(|x| RefutationReport {
                    verifier: x.verifier,
                    segment: x.segment,
                    open: x.open,
                    decided: x.decided,
                    repaid: format_agr(x.repaid),
                    burned: format_agr(x.burned),
                    rewarded: format_agr(x.rewarded),
                })
                .collect(),
            machine_dependent: r
                .machine_dependent
                .iter()
                .map(|x| MachineDependenceReport {
                    challenger: x.challenger,
                    segment: x.segment,
                    open: x.open,
                    decided: x.decided,
                    replayed: x.replayed,
                })
                .collect(),
            dismissed: r
                .dismissed
                .iter()
                .map(|x| DismissalReport {
                    challenger: x.challenger,
                    segment: x.segment,
                    decided: x.decided,
                    reason: x.reason,
                    repaid: x
                        .repaid
                        .iter()
                        .map(|&(to, amount)| RepaymentReport {
                            to,
                            amount: format_agr(amount),
                        })
                        .collect(),
                    burned: format_agr(x.burned),
                })
                .collect(),
            forfeited: r.forfeited.iter().map(ForfeitureReport::from).collect(),
        }
    }
}

impl From<&pallet_jobs::Forfeiture> for ForfeitureReport {
    fn from(x: &pallet_jobs::Forfeiture) -> Self {
        ForfeitureReport {
            verifier: x.verifier,
            missed: x.missed.clone(),
            wrong: x.wrong.clone(),
            burned: format_agr(x.burned),
        }
    }
}

/// The stage of `job`.
pub fn stage_of(job: &Job) -> Stage {
    match job.status {
        JobStatus::Assigned => Stage::Running,
        JobStatus::Committed { .. } => Stage::Committed,
        JobStatus::Verified { .. } | JobStatus::Challenged { .. } => Stage::Verified,
        JobStatus::Settled { .. } => Stage::Settled,
        JobStatus::Disputed { .. }
        | JobStatus::DisputeLost { .. }
        | JobStatus::TimedOut { .. }
        | JobStatus::Cancelled { .. }
        | JobStatus::Unrunnable { .. } => Stage::Ended,
    }
}

/// What the state holds about one job id, as read from storage.
#[derive(Default)]
pub struct JobState {
    /// The block the state is at (only an open bid's wait reads it).
    pub now: BlockNumber,
    /// The open bid, if the id is still in the order book, with its job spec.
    pub bid: Option<(Bid, Option<JobSpec>)>,
    /// The job record, once matched.
    pub job: Option<Job>,
    /// Its spot check or dispute, while one runs.
    pub audit: Option<pallet_verification::Audit>,
    /// The registry's record of a settled job's model (read for one job's view only).
    pub model: Option<pallet_jobs::BlobInfo>,
    /// How the bid left the book, if it did so unmatched (read for one job's view only).
    pub closed: Option<ClosedBid>,
    /// At the referee's turn of a dispute, the block its call opens
    /// (`Verification::referee_opens_at`; read for one job's view only).
    pub referee_opens: Option<BlockNumber>,
    /// The forfeitures a job that ended without a receipt keeps (`Jobs::ForfeitedRuns`;
    /// read for one job's view only).
    pub forfeited: Vec<pallet_jobs::Forfeiture>,
    /// The worker's unrunnable declaration pending on the job (`Jobs::Declarations`; read for
    /// one job's view only).
    pub declaration: Option<pallet_jobs::Declaration>,
}

impl JobReport {
    /// The report of job `id` from what the state holds about it.
    pub fn new(id: u64, state: &JobState) -> Self {
        let mut report = JobReport::unknown(id);
        if let Some((bid, spec)) = &state.bid {
            report.stage = Stage::Queued;
            report.buyer = Some(bid.buyer);
            report.unmatched = Some(bid.unmatched.as_ref().map_or_else(
                || "waiting for the next clearing".to_owned(),
                pallet_market::Unmatched::describe,
            ));
            report.escrow = Some(format_agr(bid.escrow));
            report.waited = Some(state.now.saturating_sub(bid.placed_at));
            if let Some(spec) = spec {
                report.assurance = AssuranceReport::of(spec, &bid.terms, Some(bid.collateral));
            }
            return report;
        }
        if let Some(closed) = &state.closed {
            report.stage = Stage::Ended;
            report.buyer = Some(closed.buyer);
            report.status = serde_json::to_value(closed).ok();
            report.bid_ended = Some(describe_closed(closed));
            return report;
        }
        let Some(job) = &state.job else {
            return report;
        };
        report.stage = stage_of(job);
        // A status is plain data (no maps with non-string keys): it always serializes.
        report.status = serde_json::to_value(&job.status).ok();
        report.buyer = Some(job.buyer);
        report.worker = Some(job.worker);
        report.price = Some(format_agr(job.price));
        report.escrow = Some(format_agr(job.escrow));
        report.waited = Some(job.matched_at.saturating_sub(job.placed_at));
        report.assurance = AssuranceReport::of(&job.spec, &job.terms, Some(job.collateral));
        report.cancel_at = job.cancel_at.filter(|_| job.status == JobStatus::Assigned);
        report.declared_unrunnable = state
            .declaration
            .filter(|_| job.status == JobStatus::Assigned)
            .map(|declaration| DeclarationReport::from(&declaration));
        if let JobStatus::Settled { receipt } = &job.status {
            report.receipt = Some(receipt.into());
            report.no_model = no_model(job);
            let output = job.commitment.as_ref().map(|c| c.output);
            report.model = output
                .zip(state.model.as_ref())
                .filter(|_| report.no_model.is_none())
                .map(|(hash, info)| ModelReport {
                    hash: hash.to_string(),
                    bytes: info.size,
                    kept_until: info.expires_at,
                    held_by_buyer: info.owner == job.buyer,
                });
        }
        if job.status.is_final() && !matches!(job.status, JobStatus::Settled { .. }) {
            report.forfeited = state.forfeited.iter().map(ForfeitureReport::from).collect();
        }
        if let Some(audit) = &state.audit {
            report.audit_phase = Some(audit.phase);
            let mut audit = AuditReport::from(audit);
            if let Some(dispute) = &mut audit.dispute {
                dispute.referee_opens = state.referee_opens;
            }
            report.audit = Some(audit);
        }
        report
    }

    /// The report of a job the chain knows nothing about (yet): every field empty.
    pub fn unknown(job: u64) -> Self {
        JobReport {
            job,
            stage: Stage::Unknown,
            status: None,
            unmatched: None,
            buyer: None,
            worker: None,
            price: None,
            escrow: None,
            waited: None,
            audit_phase: None,
            audit: None,
            assurance: None,
            receipt: None,
            cancel_at: None,
            declared_unrunnable: None,
            no_model: None,
            model: None,
            bid_ended: None,
            forfeited: Vec::new(),
        }
    }
}

/// What became of a bid that left the book unmatched, in words.
pub fn describe_closed(closed: &ClosedBid) -> String {
    let how = match closed.end {
        BidEnd::Cancelled => "cancelled by its buyer",
        BidEnd::Expired => "expired: no worker matched after it could commit by its deadline",
        BidEnd::Unserved => "expired: no open offer could serve it (region, energy, size or price) for UNSERVED_BID_BLOCKS clearings in a row",
    };
    format!(
        "never matched; {how}, in block #{}: escrow refunded {} AGR, rent burned {} AGR",
        closed.at,
        format_agr(closed.refund),
        format_agr(closed.rent)
    )
}

/// Why job `job` has no model, if its trace ends in a refusal: the segment, and whether the
/// bid's `max_fuel` may be what ran out (the engine gives a segment at most what the budget
/// leaves, `agora_engine::RunSpec::segment_fuel`; the ledger does not record which refusal
/// it was, the worker's log does); or, for a whole trace, that the module refused `export`.
pub fn no_model(job: &Job) -> Option<String> {
    let commitment = job.commitment.as_ref().filter(|c| !c.has_model())?;
    if !commitment.ends_in_refusal() {
        return Some(format!(
            "the module refused to export a model from its final state (a trap, a model over \
             the {} MiB a blob may be, or more than the {} a call may use); the whole run was \
             billed ({})",
            agora_runtime::verification::CALL_BOUNDS.model_bytes >> 20,
            format_mfuel(agora_runtime::verification::CALL_BOUNDS.fuel),
            format_mfuel(commitment.total_fuel)
        ));
    }
    let refused = commitment.segments.saturating_sub(1);
    let before = commitment.total_fuel;
    let left = job.terms.max_fuel.saturating_sub(before);
    let bound = agora_runtime::verification::MAX_SEGMENT_FUEL;
    let cause = if left < bound {
        format!(
            "more than the {} the bid's max_fuel of {} left for it",
            format_mfuel(left),
            format_mfuel(job.terms.max_fuel)
        )
    } else {
        format!("more than the {} a segment may use", format_mfuel(bound))
    };
    Some(format!(
        "the module refused segment {refused} (a trap, a divergence, or {cause}), so its trace \
         ends there: segments 0..{refused} were billed ({}) and \
         the rest of the escrow refunded",
        format_mfuel(before)
    ))
}
