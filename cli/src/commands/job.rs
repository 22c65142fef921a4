//! `agora job submit|status|result|cancel`: buying training time.
//!
//! `job submit` reads the module and dataset, registers them on chain (a deposit per blob,
//! returned when no job needs them any more) unless they already are, uploads them to the node,
//! places the bid (reserving `max price × max fuel` plus the verification fee as escrow), and
//! by default follows the job through matched → running → committed → verified → settled,
//! printing each stage on stderr. `--no-wait` prints the job id as soon as the bid is in a
//! finalized block.
//!
//! `job result ID --out DIR` writes `model.bpk` (the trained model, a burnpack record that
//! `burn` loads natively), `metrics.json` and `receipt.json` (fuel, price, amounts paid and
//! refunded, checks performed).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agora_client::amount::format_agr;
use agora_client::chain::State;
use agora_client::files;
use agora_client::keys::Signer;
use agora_client::rpc::{Rpc, RuntimeEvent};
use agora_client::tx;
use agora_primitives::{BlockNumber, Hash};
pub use agora_rpc_api::views::{
    describe_closed, no_model, stage_of, AssuranceReport, AuditReport, CheckReport, DisputeReport,
    ForfeitureReport, JobReport, JobState, ReceiptReport, RefutationReport, Stage,
};
use clap::Args;
use pallet_jobs::JobStatus;
use parity_scale_codec::Compact;
use serde::Serialize;

use crate::cli::CliError;
use crate::commands::prepare::{prepare, BidArgs, Prepared};
use crate::commands::Text;

/// `agora job submit …`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The job and the bid's terms.
    #[command(flatten)]
    pub bid: BidArgs,
    /// Print the job id once the bid is placed, without following the job.
    #[arg(long)]
    pub no_wait: bool,
    /// Give up following the job after this many seconds (the job carries on).
    #[arg(long, value_name = "SECONDS", default_value_t = 3_600)]
    pub timeout: u64,
}

/// The money lines of a settled job's report: the totals, then each refuted check or challenge,
/// each dispute set aside as machine-dependent or dismissed, and each forfeited run bond.
fn receipt_text(r: &ReceiptReport, out: &mut String) {
    out.push_str(&format!(
        "  settled in block #{}: {} at {} AGR/Mfuel; paid {} AGR (worker {}, verifiers {}), refunded {} AGR; {} checks passed, {} missed\n",
        r.settled_at, pallet_market::format_mfuel(r.fuel), r.price, r.paid, r.paid_worker, r.paid_verifiers, r.refund, r.checks_passed, r.checks_missed
    ));
    for x in &r.refuted {
        let what = if x.open { "open challenge" } else { "check" };
        out.push_str(&format!(
            "    refuted: {}'s {what} of segment {} ({}) lost {} AGR burned, {} AGR to the worker\n",
            x.verifier,
            x.segment,
            decision_text(x.decided),
            x.burned,
            x.rewarded
        ));
    }
    for x in &r.machine_dependent {
        let what = if x.open { "open challenge" } else { "check" };
        out.push_str(&format!(
            "    set aside: {}'s {what} of segment {} ({}): the buyer's module is machine-dependent there (a NaN or a stack near its limit); nobody slashed{}\n",
            x.challenger,
            x.segment,
            decision_text(x.decided),
            match x.replayed {
                0 => String::new(),
                fuel => format!(
                    "; reopened from the job's start (the challenger replayed {})",
                    pallet_market::format_mfuel(fuel)
                ),
            },
        ));
    }
    for x in &r.dismissed {
        let why = match x.reason {
            pallet_jobs::Undecided::OutOfFuel => "the piece does not fit in the referee's fuel",
            pallet_jobs::Undecided::Unestablished => {
                "machine-dependent from a state only the worker vouches for"
            }
        };
        let repaid = if x.repaid.is_empty() {
            String::new()
        } else {
            let each: Vec<String> = x
                .repaid
                .iter()
                .map(|r| format!("{} AGR to {}", r.amount, r.to))
                .collect();
            format!(
                "; the challenger repaid {}, who called the referee",
                each.join(" and ")
            )
        };
        out.push_str(&format!(
            "    dismissed: {}'s open challenge of segment {} ({}): undecided, {why}; nobody slashed{repaid}\n",
            x.challenger,
            x.segment,
            decision_text(x.decided),
        ));
    }
    forfeitures_text(&r.forfeited, out);
}

/// A line for each verifier that forfeited its run bond: on a receipt, or on a job that ended
/// without one.
fn forfeitures_text(forfeited: &[ForfeitureReport], out: &mut String) {
    let segments = |what: &str, list: &[u64]| match list {
        [] => None,
        list => Some(format!(
            "{what} segment{} {}",
            if list.len() == 1 { "" } else { "s" },
            list.iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        )),
    };
    for x in forfeited {
        let faults: Vec<String> = [
            segments("missed", &x.missed),
            segments("revealed wrong", &x.wrong),
        ]
        .into_iter()
        .flatten()
        .collect();
        out.push_str(&format!(
            "    forfeited: {} {}: run bond, {} AGR burned\n",
            x.verifier,
            faults.join(" and "),
            x.burned
        ));
    }
}

/// How a dispute was decided, in words.
fn decision_text(decided: pallet_jobs::Decision) -> String {
    use pallet_jobs::Decision;
    match decided {
        Decision::RefereeStep { step } => {
            format!(
                "the referee ran step {} of the segment",
                u64::from(step) + 1
            )
        }
        Decision::RefereeOutput => "the referee ran export and eval".to_owned(),
        Decision::RefereeSegment => "the referee re-ran the segment".to_owned(),
        Decision::MissedMove => "a missed move".to_owned(),
    }
}

/// Reads the status of job `id`: the node's own view of it (`agora_job`, the report the
/// dashboard shows), built once from the job's bid, record, audit, model or closed bid.
pub async fn status(rpc: &Rpc, id: u64) -> Result<JobReport, CliError> {
    Ok(rpc.job_view(id, None).await?)
}

impl Text for JobReport {
    fn text(&self) -> String {
        let mut out = format!("Job #{}: {:?}\n", self.job, self.stage);
        if self.stage == Stage::Unknown {
            out.push_str("  not on chain: never placed, or pruned after its retention\n");
            return out;
        }
        if let Some(reason) = &self.unmatched {
            out.push_str(&format!("  open bid: {reason}\n"));
        }
        if let Some(ended) = &self.bid_ended {
            out.push_str(&format!("  bid {ended}\n"));
            return out;
        }
        if let Some(worker) = &self.worker {
            out.push_str(&format!(
                "  worker {worker}, price {} AGR/Mfuel\n",
                self.price.as_deref().unwrap_or("?")
            ));
        }
        if let Some(waited) = self.waited {
            out.push_str(&format!("  queue time {waited} blocks\n"));
        }
        if let (Some(escrow), None) = (&self.escrow, &self.receipt) {
            out.push_str(&format!("  escrow {escrow} AGR reserved\n"));
        }
        if let Some(at) = self.cancel_at {
            out.push_str(&format!(
                "  cancelled at the end of block #{at} unless the worker commits its result first\n"
            ));
        }
        if let Some(declared) = &self.declared_unrunnable {
            out.push_str(&format!(
                "  declared unrunnable by the worker (burning {} AGR, repaid from the escrow if the proof ends the job): its proof (the referee's re-run of init and segment 0) is accepted from block #{} to #{}\n",
                declared.fee,
                declared.opens_at,
                declared.decide_by
            ));
        }
        if let Some(assurance) = &self.assurance {
            out.push_str(&format!(
                "  {}; worker collateral {} AGR\n",
                assurance.checks_line(),
                assurance.collateral
            ));
        }
        if let Some(phase) = self.audit_phase {
            out.push_str(&format!("  spot check: {phase:?}"));
            if let Some(audit) = &self.audit {
                out.push_str(&format!(
                    ", waiting on the {} until block #{}\n",
                    audit.waiting_on, audit.deadline
                ));
                for check in &audit.checks {
                    let state = match (check.outcome, check.attested) {
                        (Some(outcome), _) => format!("{outcome:?}"),
                        (None, true) => "attested".to_owned(),
                        (None, false) => "pending".to_owned(),
                    };
                    out.push_str(&format!(
                        "    segment {} by {}: {state}\n",
                        check.segment, check.verifier
                    ));
                }
                if let Some(d) = &audit.dispute {
                    let what = match (d.claim.as_str(), d.lo, d.hi) {
                        ("steps", Some(lo), Some(hi)) => {
                            format!("segment {}, steps {lo}..{hi} of it", d.segment)
                        }
                        ("leaves", Some(first), Some(hi)) => {
                            format!("segments {first}..={hi} of the trace")
                        }
                        ("fuel", _, _) => {
                            format!("segment {} re-run whole, its state and fuel", d.segment)
                        }
                        _ => "the model and metrics".to_owned(),
                    };
                    let kind = if d.open { "open challenge" } else { "dispute" };
                    out.push_str(&format!(
                        "    {kind} by {}: round {}, {what}\n",
                        d.challenger, d.round
                    ));
                    if let Some(opens) = d.referee_opens {
                        out.push_str(&format!(
                            "    the referee call opens at block #{opens} (every node decides the re-run first)\n"
                        ));
                    }
                }
            } else {
                out.push('\n');
            }
        }
        if let Some(r) = &self.receipt {
            receipt_text(r, &mut out);
            if let Some(reason) = &self.no_model {
                out.push_str(&format!("  no model: {reason}\n"));
            }
            match &self.model {
                Some(m) if m.held_by_buyer => out.push_str(&format!(
                    "  model {} ({} bytes) kept until block #{}: fetch it with `agora job result {}`\n",
                    m.hash, m.bytes, m.kept_until, self.job
                )),
                Some(m) => out.push_str(&format!(
                    "  model {} ({} bytes) kept only until block #{} (the buyer could not pay its deposit at settlement)\n",
                    m.hash, m.bytes, m.kept_until
                )),
                None => {}
            }
        } else if let Some(status) = &self.status {
            out.push_str(&format!("  status {status}\n"));
            forfeitures_text(&self.forfeited, &mut out);
        }
        out
    }
}

/// Runs `job submit`.
pub async fn submit(rpc: &Rpc, args: &SubmitArgs) -> Result<JobReport, CliError> {
    let Prepared {
        signer,
        spec,
        terms,
        ..
    } = prepare(rpc, &args.bid).await?;
    // The price of assurance, before anything is reserved.
    if let Some(assurance) = AssuranceReport::of(&spec, &terms, None) {
        eprintln!(
            "Bidding: {}; the worker must stake at least {} AGR",
            assurance.checks_line(),
            assurance.collateral
        );
    }
    if let Some(escrow) = agora_runtime::Market::escrow_for(&spec, &terms) {
        eprintln!("{}", AssuranceReport::escrow_line(escrow));
    }
    // The order book's rent: reserved up to the deadline, burned for the blocks the bid waits.
    if let Some(deposit) = agora_runtime::Market::rent(args.bid.deadline_in) {
        eprintln!(
            "Rent: {} AGR reserved for the {} blocks to the deadline; the blocks the bid waits \
             are burned, the rest refunded",
            format_agr(deposit),
            args.bid.deadline_in
        );
    }
    let call = agora_runtime::RuntimeCall::Market(pallet_market::Call::PlaceBid { spec, terms });
    let sent = tx::send(rpc, &signer, call, "bid", tx::DEFAULT_TIMEOUT).await?;
    let buyer = signer.agora_account();
    let id = sent
        .events
        .iter()
        .find_map(|record| match &record.event {
            RuntimeEvent::Market(pallet_market::Event::BidPlaced {
                bid, buyer: who, ..
            }) if *who == buyer => Some(*bid),
            _ => None,
        })
        .ok_or_else(|| {
            CliError::InvalidJob("the bid was included but no BidPlaced event names it".into())
        })?;
    eprintln!(
        "Bid placed: job #{id} (block #{})",
        sent.inclusion.block_number
    );
    if args.no_wait {
        return status(rpc, id).await;
    }
    follow(rpc, id, Duration::from_secs(args.timeout)).await
}

const STAGES: [Stage; 5] = [
    Stage::Queued,
    Stage::Running,
    Stage::Committed,
    Stage::Verified,
    Stage::Settled,
];

fn progress_bar(stage: Stage) -> String {
    let reached = STAGES.iter().take_while(|s| **s <= stage).count();
    let names = ["matched", "running", "committed", "verified", "settled"];
    let bar: String = (0..STAGES.len())
        .map(|i| if i < reached { '■' } else { '□' })
        .collect();
    format!(
        "[{bar}] {}",
        names.get(reached.saturating_sub(1)).unwrap_or(&"queued")
    )
}

/// Where a verified job's challenge window stands, from its status record: when it settles
/// unless challenged, or who challenged it.
fn window(report: &JobReport) -> Option<String> {
    let status = report.status.as_ref()?;
    match status["status"].as_str()? {
        "verified" => Some(format!(
            "settles at block #{} unless challenged",
            status["settle_at"].as_u64()?
        )),
        "challenged" => Some(format!(
            "challenged by {}; settlement waits for the dispute",
            status["challenger"].as_str()?
        )),
        _ => None,
    }
}

/// Follows job `id` until it settles or ends, printing each new stage on stderr.
pub async fn follow(rpc: &Rpc, id: u64, timeout: Duration) -> Result<JobReport, CliError> {
    let started = Instant::now();
    let mut last: Option<(Stage, Option<String>)> = None;
    loop {
        let report = status(rpc, id).await?;
        let detail = report.unmatched.clone().or_else(|| window(&report));
        let seen = (report.stage, detail);
        if last.as_ref() != Some(&seen) {
            match (report.stage, &seen.1) {
                (Stage::Queued, detail) => {
                    eprintln!("[□□□□□] queued: {}", detail.as_deref().unwrap_or(""))
                }
                (Stage::Ended | Stage::Unknown, _) => {}
                (stage, Some(detail)) => eprintln!("{} ({detail})", progress_bar(stage)),
                (stage, None) => eprintln!("{}", progress_bar(stage)),
            }
            last = Some(seen);
        }
        match report.stage {
            Stage::Settled => return Ok(report),
            Stage::Ended => {
                let how = match &report.bid_ended {
                    Some(ended) => format!("its bid {ended}"),
                    None => report.status.map(|s| s.to_string()).unwrap_or_default(),
                };
                return Err(CliError::InvalidJob(format!(
                    "job #{id} ended without settlement: {how}"
                )));
            }
            Stage::Unknown => {
                return Err(CliError::InvalidJob(format!("job #{id} is not on chain")))
            }
            _ => {}
        }
        if started.elapsed() > timeout {
            return Err(CliError::InvalidJob(format!(
                "stopped following job #{id} after {} s; it carries on (agora job status {id})",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// What `job result` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ResultReport {
    /// The job.
    pub job: u64,
    /// Where the model was written.
    pub model: PathBuf,
    /// Its blob hash.
    pub output: Hash,
    /// The job's metrics.
    pub metrics: serde_json::Value,
    /// The receipt.
    pub receipt: ReceiptReport,
    /// The assurance the job was bought at: its level, the checks, the collateral that was at
    /// stake.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assurance: Option<AssuranceReport>,
    /// The block at whose end the registry drops the model (`agora job release` sooner).
    pub kept_until: BlockNumber,
    /// Blocks from the chain's head to then.
    pub blocks_left: BlockNumber,
    /// Set when the model is dropped within a day (86,400 one-second blocks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// Blocks before a model's end from which `job result` warns: a day at 1 s blocks.
pub const MODEL_WARNING_BLOCKS: BlockNumber = 86_400;

/// Runs `job result ID --out DIR`.
pub async fn result(rpc: &Rpc, id: u64, out: &Path) -> Result<ResultReport, CliError> {
    let state = State::best(rpc);
    let Some(job) = state.job(id).await? else {
        return Err(CliError::InvalidJob(match state.closed_bid(id).await? {
            Some(closed) => format!(
                "job #{id} has no result: its bid {}",
                describe_closed(&closed)
            ),
            None => {
                format!("job #{id} is not on chain (never placed, or pruned after its retention)")
            }
        }));
    };
    let JobStatus::Settled { receipt } = &job.status else {
        return Err(CliError::InvalidJob(format!(
            "job #{id} has not settled yet ({:?}); its result is released at settlement",
            stage_of(&job)
        )));
    };
    let commitment = job
        .commitment
        .as_ref()
        .ok_or_else(|| CliError::InvalidJob(format!("job #{id} has no commitment")))?;
    if let Some(reason) = no_model(&job) {
        return Err(CliError::InvalidJob(format!(
            "job #{id} has no model: {reason}"
        )));
    }
    let kept = state.blob(&commitment.output).await?.ok_or_else(|| {
        CliError::InvalidJob(format!(
            "job #{id}'s model {} is no longer kept: it was released, or its retention ended",
            commitment.output
        ))
    })?;
    let now = state.block_number().await?;
    let blocks_left = kept.expires_at.saturating_sub(now);
    let warning = (blocks_left < MODEL_WARNING_BLOCKS).then(|| {
        format!(
            "the registry drops this model at the end of block #{} ({blocks_left} blocks from \
             now): keep the copy written here",
            kept.expires_at
        )
    });
    let model = rpc.blob_get(commitment.output).await?;
    files::create_dir(out)?;
    let write = |name: &str, bytes: &[u8]| files::write(&out.join(name), bytes);
    let metrics: serde_json::Value =
        serde_json::from_slice(&commitment.metrics).unwrap_or(serde_json::Value::Null);
    let report = ResultReport {
        job: id,
        model: out.join("model.bpk"),
        output: commitment.output,
        metrics: metrics.clone(),
        receipt: receipt.into(),
        assurance: AssuranceReport::of(&job.spec, &job.terms, Some(job.collateral)),
        kept_until: kept.expires_at,
        blocks_left,
        warning,
    };
    write("model.bpk", &model)?;
    write("metrics.json", &serde_json::to_vec_pretty(&metrics)?)?;
    write("receipt.json", &serde_json::to_vec_pretty(&report)?)?;
    Ok(report)
}

impl ResultReport {
    /// Human-readable rendering.
    pub fn text(&self) -> String {
        let r = &self.receipt;
        let assurance = self.assurance.as_ref().map_or_else(String::new, |a| {
            format!(
                "Bought at {}; worker collateral {} AGR\n",
                a.checks_line(),
                a.collateral
            )
        });
        let kept = match &self.warning {
            Some(warning) => format!("Warning: {warning}\n"),
            None => format!(
                "The chain keeps the model until block #{} ({} blocks); `agora job release {}` frees it sooner and returns its deposit\n",
                self.kept_until, self.blocks_left, self.job
            ),
        };
        format!(
            "Job #{}: model written to {} ({})\nMetrics: {}\nReceipt: {} at {} AGR/Mfuel; paid {} AGR (worker {}, verifiers {}), refunded {} AGR; {} spot checks passed, {} missed\n{assurance}{kept}",
            self.job, self.model.display(), self.output, self.metrics, pallet_market::format_mfuel(r.fuel), r.price, r.paid, r.paid_worker, r.paid_verifiers, r.refund, r.checks_passed, r.checks_missed
        )
    }
}

/// Runs `job release`: the buyer's settled model is dropped at the end of the next block and
/// its deposit returned.
pub async fn release(rpc: &Rpc, signer: &Signer, id: u64) -> Result<JobReport, CliError> {
    let call = agora_runtime::RuntimeCall::Jobs(pallet_jobs::Call::ReleaseModel { job: id });
    tx::send(rpc, signer, call, "model release", tx::DEFAULT_TIMEOUT).await?;
    status(rpc, id).await
}

/// Runs `job cancel`: an open bid is cancelled (full refund); an assigned job is cancelled
/// once the notice runs out, its worker paid for the share of the run time it held (at least
/// the cancel fee), unless its worker commits first (then it runs on and is paid in full).
pub async fn cancel(rpc: &Rpc, signer: &Signer, id: u64) -> Result<JobReport, CliError> {
    let state = State::best(rpc);
    let call = if state.bid(id).await?.is_some() {
        agora_runtime::RuntimeCall::Market(pallet_market::Call::CancelBid { bid: Compact(id) })
    } else {
        agora_runtime::RuntimeCall::Jobs(pallet_jobs::Call::CancelJob { job: id })
    };
    tx::send(rpc, signer, call, "cancellation", tx::DEFAULT_TIMEOUT).await?;
    status(rpc, id).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_primitives::AccountId;
    use pallet_jobs::Receipt;
    use pallet_verification::{Audit, Check, CheckOutcome, Phase};

    /// How `job status` shows a committed job with `audit` running: text and JSON.
    fn shown(audit: &Audit) -> (String, serde_json::Value) {
        let report = JobReport {
            stage: Stage::Committed,
            audit_phase: Some(audit.phase),
            audit: Some(audit.into()),
            ..JobReport::unknown(5)
        };
        (report.text(), serde_json::to_value(&report).unwrap())
    }

    #[test]
    fn a_running_spot_check_says_whose_move_it_is_and_until_when() {
        let check = |segment: u64, attested: bool, outcome: Option<CheckOutcome>| Check {
            segment,
            verifier: AccountId([3; 32]),
            start: None,
            attestation: attested.then_some(agora_primitives::Hash([1; 32])),
            worker_leaf: None,
            verifier_leaf: None,
            verifier_result: None,
            outcome,
            bond: 0,
        };
        let audit = Audit {
            root: agora_primitives::Hash([7; 32]),
            segments: 4,
            phase: Phase::AwaitingReveals,
            deadline: 42,
            checks: vec![
                check(1, true, Some(CheckOutcome::Match)),
                check(3, true, None),
            ],
            dispute: None,
            refuted: Vec::new(),
            seed: None,
        };
        let (text, json) = shown(&audit);
        assert!(
            text.contains("spot check: AwaitingReveals, waiting on the verifiers until block #42"),
            "{text}"
        );
        assert!(
            text.contains("segment 1 by") && text.contains(": Match"),
            "{text}"
        );
        assert!(
            text.contains("segment 3 by") && text.contains(": attested"),
            "{text}"
        );
        assert_eq!(json["audit"]["waiting_on"], "verifiers");
        assert_eq!(json["audit"]["deadline"], 42);
        assert_eq!(json["audit"]["checks"][0]["outcome"], "match");
        assert_eq!(json["audit"]["checks"][1]["attested"], true);
        assert!(json["audit"].get("dispute").is_none());
    }

    #[test]
    fn a_fuel_dispute_at_the_referees_turn_says_when_the_call_opens() {
        let report = JobReport {
            stage: Stage::Committed,
            audit_phase: Some(Phase::Disputed),
            audit: Some(AuditReport {
                waiting_on: "referee".to_owned(),
                deadline: 160,
                checks: Vec::new(),
                dispute: Some(DisputeReport {
                    segment: 3,
                    challenger: AccountId([4; 32]),
                    open: false,
                    claim: "fuel".to_owned(),
                    round: 0,
                    lo: None,
                    hi: None,
                    referee_opens: Some(146),
                }),
            }),
            ..JobReport::unknown(5)
        };
        let text = report.text();
        assert!(
            text.contains("segment 3 re-run whole, its state and fuel")
                && text.contains("the referee call opens at block #146"),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["audit"]["dispute"]["referee_opens"], 146);
    }

    #[test]
    fn a_job_declared_unrunnable_says_when_its_proof_is_accepted() {
        let report = JobReport {
            stage: Stage::Running,
            declared_unrunnable: Some(agora_rpc_api::views::DeclarationReport::from(
                &pallet_jobs::Declaration {
                    opens_at: 58,
                    decide_by: 118,
                    fee: 47 * agora_primitives::AGR,
                },
            )),
            ..JobReport::unknown(5)
        };
        let text = report.text();
        assert!(
            text.contains("declared unrunnable by the worker")
                && text.contains("accepted from block #58 to #118")
                && text.contains("burning 47 AGR"),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["declared_unrunnable"]["opens_at"], 58);
        assert_eq!(json["declared_unrunnable"]["decide_by"], 118);
        assert_eq!(
            json["declared_unrunnable"]["fee"], "47",
            "AGR, as every amount"
        );
    }

    #[test]
    fn a_receipt_names_each_lost_set_aside_or_dismissed_challenge_and_forfeited_run() {
        let dave = AccountId([4; 32]);
        let receipt = Receipt {
            fuel: 100,
            price: 0,
            paid_worker: 0,
            paid_verifiers: 0,
            refund: 0,
            checks_passed: 1,
            checks_missed: 0,
            settled_at: 90,
            refuted: vec![pallet_jobs::Refutation {
                verifier: dave,
                segment: 1,
                open: true,
                decided: pallet_jobs::Decision::RefereeStep { step: 2 },
                repaid: 0,
                burned: 2 * agora_primitives::AGR,
                rewarded: 2 * agora_primitives::AGR,
            }],
            machine_dependent: vec![pallet_jobs::MachineDependence {
                segment: 2,
                challenger: dave,
                open: false,
                decided: pallet_jobs::Decision::RefereeStep { step: 0 },
                repay: vec![(dave, 0)],
                replayed: 2_500_000,
            }],
            dismissed: vec![pallet_jobs::Dismissal {
                segment: 4,
                challenger: dave,
                decided: pallet_jobs::Decision::RefereeOutput,
                reason: pallet_jobs::Undecided::OutOfFuel,
                repaid: vec![(AccountId([2; 32]), agora_primitives::AGR / 10)],
                burned: 0,
            }],
            forfeited: vec![
                pallet_jobs::Forfeiture {
                    verifier: dave,
                    missed: vec![5],
                    wrong: vec![6, 7],
                    burned: agora_primitives::AGR,
                },
                pallet_jobs::Forfeiture {
                    verifier: AccountId([2; 32]),
                    missed: vec![],
                    wrong: vec![3],
                    burned: agora_primitives::AGR / 2,
                },
            ],
        };
        let report = JobReport {
            stage: Stage::Settled,
            receipt: Some(ReceiptReport::from(&receipt)),
            ..JobReport::unknown(5)
        };
        let text = report.text();
        assert!(
            text.contains(&format!(
                "refuted: {dave}'s open challenge of segment 1 (the referee ran step 3 of the segment) lost 2 AGR burned"
            )),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert!(
            text.contains(&format!(
                "set aside: {dave}'s check of segment 2 (the referee ran step 1 of the segment): the buyer's module is machine-dependent there (a NaN or a stack near its limit); nobody slashed; reopened from the job's start (the challenger replayed 2.5 Mfuel)"
            )),
            "{text}"
        );
        let set_aside = &json["receipt"]["machine_dependent"][0];
        assert_eq!(
            (
                &set_aside["segment"],
                &set_aside["open"],
                &set_aside["replayed"]
            ),
            (&2.into(), &false.into(), &2_500_000.into())
        );
        assert!(
            text.contains(&format!(
                "dismissed: {dave}'s open challenge of segment 4 (the referee ran export and eval): undecided, the piece does not fit in the referee's fuel; nobody slashed; the challenger repaid 0.1 AGR to {}, who called the referee",
                AccountId([2; 32])
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "forfeited: {dave} missed segment 5 and revealed wrong segments 6, 7: run bond, 1 AGR burned"
            )) && text.contains(&format!(
                "forfeited: {} revealed wrong segment 3: run bond, 0.5 AGR burned",
                AccountId([2; 32])
            )),
            "{text}"
        );
        assert_eq!(
            json["receipt"]["forfeited"][0]["wrong"],
            serde_json::json!([6, 7])
        );
        assert_eq!(json["receipt"]["forfeited"][1]["burned"], "0.5");
        let dismissed = &json["receipt"]["dismissed"][0];
        assert_eq!(
            (
                &dismissed["reason"],
                &dismissed["repaid"][0]["amount"],
                &dismissed["decided"]["by"]
            ),
            (
                &"out_of_fuel".into(),
                &"0.1".into(),
                &"referee_output".into()
            )
        );
        let refuted = &json["receipt"]["refuted"][0];
        assert_eq!(refuted["open"], true);
        assert_eq!(refuted["decided"]["by"], "referee_step");
        assert_eq!(refuted["decided"]["step"], 2);
    }

    #[test]
    fn a_verified_job_shows_its_settlement_block_or_its_challenger() {
        let with = |status: JobStatus| JobReport {
            stage: Stage::Verified,
            status: Some(serde_json::to_value(status).unwrap()),
            ..JobReport::unknown(5)
        };
        let verified = JobStatus::Verified {
            paid: Vec::new(),
            missed: 0,
            refuted: Vec::new(),
            settle_at: 70,
        };
        assert_eq!(
            window(&with(verified)).as_deref(),
            Some("settles at block #70 unless challenged")
        );
        let dave = AccountId([4; 32]);
        let challenged = JobStatus::Challenged {
            paid: Vec::new(),
            missed: 0,
            refuted: Vec::new(),
            settle_at: 70,
            challenger: dave,
        };
        assert_eq!(
            window(&with(challenged)),
            Some(format!(
                "challenged by {dave}; settlement waits for the dispute"
            ))
        );
        assert_eq!(window(&with(JobStatus::Assigned)), None);
    }

    #[test]
    fn a_running_dispute_says_its_round_whose_move_and_the_steps_left() {
        use pallet_verification::{Bisection, Claim, Dispute, Turn};
        let audit = Audit {
            root: agora_primitives::Hash([7; 32]),
            segments: 4,
            phase: Phase::Disputed,
            deadline: 90,
            checks: Vec::new(),
            dispute: Some(Dispute {
                check: Some(1),
                challenger: AccountId([3; 32]),
                bond: 1,
                segment: 2,
                claim: Claim::Steps(Bisection {
                    steps: 10,
                    lo: 5,
                    lo_state: Some(agora_primitives::Hash([1; 32])),
                    hi: 10,
                    hi_state: agora_primitives::Hash([2; 32]),
                    midpoint: Some(agora_primitives::Hash([4; 32])),
                    rerun: pallet_verification::SegmentClaim {
                        steps: 10,
                        start: None,
                        leaf: agora_primitives::trace::TraceLeaf::refusal(2, 0),
                    },
                }),
                turn: Turn::Challenger,
                round: 1,
                reopened_by: None,
                earlier_calls: Vec::new(),
                referee_opens_at: None,
            }),
            refuted: Vec::new(),
            seed: None,
        };
        let (text, json) = shown(&audit);
        assert!(
            text.contains("spot check: Disputed, waiting on the challenger until block #90"),
            "{text}"
        );
        assert!(
            text.contains("dispute by") && text.contains("round 1, segment 2, steps 5..10 of it"),
            "{text}"
        );
        assert_eq!(json["audit"]["waiting_on"], "challenger");
        assert_eq!(json["audit"]["dispute"]["round"], 1);
        assert_eq!(json["audit"]["dispute"]["claim"], "steps");
        assert_eq!(json["audit"]["dispute"]["lo"], 5);
    }
}
