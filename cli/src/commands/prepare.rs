//! `agora job prepare`: everything `job submit` does before the bid, for buyers who place the
//! bid with other software (a polkadot.js app, a wallet; `docs/polkadot-js.md`).
//!
//! It reads the module and dataset, works out the job's steps from the module's own plan
//! (validating the module on the way), registers both as blobs (registration carries a proof of
//! the blob's size computed from blake3's internal tree, which JavaScript libraries do not
//! offer) and uploads them, then prints the two arguments of `market.placeBid` — the job spec
//! and the bid terms — as JSON that polkadot.js takes as they are. No bid is placed; the blobs
//! expire (their deposits returned) if no bid uses them within the chain's blob lifetime.
//!
//! Amounts that may exceed 2⁵³ (`max_price`, `max_fuel`) are decimal strings, so JavaScript's
//! `JSON.parse` keeps them exact.

use agora_client::amount::{format_agr, parse_agr};
use agora_client::blobs::ensure_blob;
use agora_client::chain::State;
use agora_client::files;
use agora_client::keys::Signer;
use agora_client::offers::{parse_mfuel, parse_region};
use agora_client::rpc::Rpc;
use agora_engine::Executor;
use agora_primitives::{Balance, BlockNumber, Hash};
use clap::Args;
use pallet_market::{format_mfuel, BidTerms, JobSpec};
use serde::Serialize;

use crate::args::{JobArgs, KeyArgs};
use crate::cli::CliError;
use crate::commands::{quote, run_local, segment};

/// Blocks a worker gets from the match to commit, unless `--run-blocks` says otherwise.
pub const DEFAULT_RUN_BLOCKS: u32 = 600;
/// Blocks from now to the deadline, unless `--deadline-in` says otherwise.
pub const DEFAULT_DEADLINE_IN: u64 = 3_600;

/// The job and the bid's terms: the arguments `job prepare` and `job submit` share.
#[derive(Debug, Args)]
pub struct BidArgs {
    /// The buyer.
    #[command(flatten)]
    pub buyer: KeyArgs,
    /// The job: module, dataset, params, steps, segment length, seed.
    #[command(flatten)]
    pub job: JobArgs,
    /// Most AGR per Mfuel you pay.
    #[arg(long, value_name = "AGR")]
    pub max_price: String,
    /// Most Mfuel the job may use. Default: `agora job quote`'s estimate plus 10 % (at least
    /// its high end), measured on the job's first segments before anything is uploaded.
    #[arg(long, value_name = "MFUEL")]
    pub max_fuel: Option<String>,
    /// Blocks the worker gets from the match to commit its result.
    #[arg(long, value_name = "BLOCKS", default_value_t = DEFAULT_RUN_BLOCKS)]
    pub run_blocks: u32,
    /// Blocks from now until the result must be committed.
    #[arg(long, value_name = "BLOCKS", default_value_t = DEFAULT_DEADLINE_IN)]
    pub deadline_in: u64,
    /// Only offers in this region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Only renewable offers.
    #[arg(long)]
    pub renewable_only: bool,
    /// Go back into the queue if a worker misses its deadline.
    #[arg(long)]
    pub requeue: bool,
    /// Assurance level: segments drawn for checking per thousand (besides the last and the
    /// worker's heaviest), 1-1000; more checks cost more escrow and need less worker
    /// collateral. The whole sample may be at most the chain's MAX_SAMPLED_SEGMENTS (256)
    /// segments: checking every segment needs a job of at most that many. Default: the chain's.
    #[arg(long, value_name = "PERMILLE", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub assurance: Option<u32>,
    /// Verifiers who re-execute each sampled segment, at most the chain's
    /// MAX_VERIFIERS_PER_SEGMENT; one honest one among them catches a forgery, so more guard
    /// against a lazy or colluding verifier. Each costs another check's fee in escrow.
    /// Default: the chain's.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub verifiers: Option<u32>,
}

/// A job ready to bid for: its blobs registered and uploaded.
pub struct Prepared {
    /// Who registered the blobs (and will bid, for `job submit`).
    pub signer: Signer,
    /// The job.
    pub spec: JobSpec,
    /// The terms.
    pub terms: BidTerms,
    /// The finalized block the deadline counts from.
    pub now: BlockNumber,
}

/// Reads and checks the job, registers and uploads its blobs, and builds the bid.
pub async fn prepare(rpc: &Rpc, args: &BidArgs) -> Result<Prepared, CliError> {
    let signer = args.buyer.signer()?;
    let job = &args.job;
    let wasm = files::read(&job.module, "module")?;
    let dataset = files::read(&job.data, "dataset")?;
    let params = files::read_params(&job.params)?;
    let max_price = parse_agr(&args.max_price)?;
    if max_price == 0 {
        return Err(CliError::InvalidJob(format!(
            "--max-price {} must be more than 0",
            args.max_price
        )));
    }
    let region = args.region.as_deref().map(parse_region).transpose()?;
    // The module is validated and compiled here, so a bad module is refused before any
    // deposit is paid; the job's own plan says how many steps the params mean.
    let executor = Executor::new(job.settings())?;
    let module = executor.load(&wasm)?;
    let (steps, max_fuel, segment) = match &args.max_fuel {
        Some(text) => {
            let max_fuel = parse_mfuel(text)?;
            if max_fuel == 0 {
                return Err(CliError::InvalidJob(format!(
                    "--max-fuel {text} must be more than 0"
                )));
            }
            let steps = match job.steps {
                Some(steps) => steps,
                None => run_local::plan(&executor, &module, &params, &dataset, None)?.1,
            };
            let inputs = (&params[..], &dataset[..]);
            let segment =
                segment::segment_steps(&executor, &module, job, inputs, (steps, Some(max_fuel)));
            (steps, max_fuel, segment)
        }
        None => {
            let (estimate, segment) =
                quote::measure(&executor, &module, job, &params, &dataset, 3)?;
            let max_fuel = estimate.suggested_max_fuel();
            eprintln!(
                "No --max-fuel: the job's training is quoted at {} (range {} – {}); bidding \
                 --max-fuel {} (the quote + {}%, at least its high end)",
                format_mfuel(estimate.training),
                format_mfuel(estimate.low),
                format_mfuel(estimate.high),
                format_mfuel(max_fuel),
                quote::MARGIN_PERCENT
            );
            (estimate.steps, max_fuel, segment)
        }
    };
    let now = State::finalized(rpc).await?.block_number().await?;
    let spec = JobSpec {
        module: Hash::of(&wasm),
        dataset: Hash::of(&dataset),
        params,
        steps,
        segment_steps: u64::from(segment),
        seed: job.seed,
    };
    let terms = BidTerms {
        max_price,
        max_fuel,
        run_blocks: args.run_blocks,
        deadline: now.saturating_add(args.deadline_in),
        region,
        renewable_only: args.renewable_only,
        requeue: args.requeue,
        assurance_permille: args.assurance.unwrap_or(0),
        assurance_verifiers: args.verifiers.unwrap_or(0),
    };
    let blobs = [(spec.module, wasm.len()), (spec.dataset, dataset.len())];
    check_affordable(rpc, &signer, &spec, &terms, now, blobs).await?;
    eprintln!(
        "Uploading the module ({} bytes) and the dataset ({} bytes)…",
        wasm.len(),
        dataset.len()
    );
    let module = ensure_blob(rpc, &signer, &wasm, "module registration").await?;
    let dataset = ensure_blob(rpc, &signer, &dataset, "dataset registration").await?;
    assert!(
        module == spec.module && dataset == spec.dataset,
        "ensure_blob returns the hash of the bytes it registers"
    );
    Ok(Prepared {
        signer,
        spec,
        terms,
        now,
    })
}

/// Refuses a bid the buyer's free balance cannot pay before anything is uploaded or reserved:
/// the escrow, the rent deposit up to the deadline and the deposits of the blobs still to
/// register (`blobs`: each one's hash, already in `spec`, and size). The chain decides
/// (`Market::CannotPayEscrow`); this check only keeps a bid it would refuse from leaving blob
/// deposits reserved behind it. The rent is counted from the
/// finalized block, so it is at least what the chain reserves.
async fn check_affordable(
    rpc: &Rpc,
    signer: &Signer,
    spec: &JobSpec,
    terms: &BidTerms,
    now: BlockNumber,
    blobs: [(Hash, usize); 2],
) -> Result<(), CliError> {
    let overflow = || CliError::InvalidJob("the bid's escrow overflows a balance".into());
    let escrow = agora_runtime::Market::escrow_for(spec, terms).ok_or_else(overflow)?;
    let rent =
        agora_runtime::Market::rent(terms.deadline.saturating_sub(now)).ok_or_else(overflow)?;
    let state = State::best(rpc);
    let mut deposits: Balance = 0;
    for (hash, size) in blobs {
        if state.blob(&hash).await?.is_none() {
            deposits = deposits.saturating_add(agora_runtime::Jobs::blob_deposit(size as u64));
        }
    }
    let needed = escrow.saturating_add(rent).saturating_add(deposits);
    let buyer = signer.agora_account();
    let free = rpc.balance(&buyer).await?.free;
    if free < needed {
        return Err(CliError::InvalidJob(format!(
            "cannot pay the bid: it needs {} AGR free (escrow {}, rent deposit {}, blob deposits \
             {}) and {buyer} has {} AGR free; nothing was uploaded or reserved",
            format_agr(needed),
            format_agr(escrow),
            format_agr(rent),
            format_agr(deposits),
            format_agr(free)
        )));
    }
    Ok(())
}

/// `job prepare`'s answer: `market.placeBid(spec, terms)`'s arguments.
#[derive(Debug, Serialize)]
pub struct PreparedBid {
    /// The job spec (`JobSpec`).
    pub spec: SpecJson,
    /// The bid terms (`BidTerms`).
    pub terms: TermsJson,
}

/// [`JobSpec`] as JSON polkadot.js takes.
#[derive(Debug, Serialize)]
pub struct SpecJson {
    /// blake3 of the module (a registered, uploaded blob).
    pub module: Hash,
    /// blake3 of the dataset.
    pub dataset: Hash,
    /// The params, as text.
    pub params: String,
    /// Training steps in total.
    pub steps: u64,
    /// Steps per segment.
    pub segment_steps: u64,
    /// Seed.
    pub seed: u64,
}

/// [`BidTerms`] as JSON polkadot.js takes.
#[derive(Debug, Serialize)]
pub struct TermsJson {
    /// Plancks per Mfuel, decimal.
    pub max_price: String,
    /// Fuel, decimal.
    pub max_fuel: String,
    /// Blocks from match to commitment.
    pub run_blocks: u32,
    /// Last block for the commitment.
    pub deadline: BlockNumber,
    /// Region required, if any.
    pub region: Option<String>,
    /// Renewable offers only.
    pub renewable_only: bool,
    /// Requeue on a missed deadline.
    pub requeue: bool,
    /// Checks per thousand segments; 0 is the chain's default.
    pub assurance_permille: u32,
    /// Verifiers per sampled segment; 0 is the chain's default.
    pub assurance_verifiers: u32,
}

impl PreparedBid {
    /// The JSON form of a prepared job.
    pub fn of(prepared: &Prepared) -> PreparedBid {
        let (spec, terms) = (&prepared.spec, &prepared.terms);
        PreparedBid {
            spec: SpecJson {
                module: spec.module,
                dataset: spec.dataset,
                params: String::from_utf8_lossy(&spec.params).into_owned(),
                steps: spec.steps,
                segment_steps: spec.segment_steps,
                seed: spec.seed,
            },
            terms: TermsJson {
                max_price: terms.max_price.to_string(),
                max_fuel: terms.max_fuel.to_string(),
                run_blocks: terms.run_blocks,
                deadline: terms.deadline,
                region: terms.region.as_ref().map(ToString::to_string),
                renewable_only: terms.renewable_only,
                requeue: terms.requeue,
                assurance_permille: terms.assurance_permille,
                assurance_verifiers: terms.assurance_verifiers,
            },
        }
    }

    /// Text for a terminal.
    pub fn text(&self) -> String {
        let price: Balance = self.terms.max_price.parse().unwrap_or(0);
        format!(
            "module  {}\ndataset {}\nsteps   {} in segments of {}, seed {}\nterms   at most {} \
             AGR/Mfuel, deadline block #{}\nNo bid placed: pass `--output json`'s spec and \
             terms to market.placeBid (docs/polkadot-js.md).\n",
            self.spec.module,
            self.spec.dataset,
            self.spec.steps,
            self.spec.segment_steps,
            self.spec.seed,
            format_agr(price),
            self.terms.deadline
        )
    }
}

/// Runs `job prepare`.
pub async fn run(rpc: &Rpc, args: &BidArgs) -> Result<PreparedBid, CliError> {
    Ok(PreparedBid::of(&prepare(rpc, args).await?))
}
