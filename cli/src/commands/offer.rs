//! `agora offer post --key SURI --price AGR --capacity MFUEL --region R [--energy
//! renewable|grid] --collateral AGR [--expires-in BLOCKS]`, `agora offer list`,
//! `agora offer cancel --key SURI ID`.

use agora_client::offers::{post_offer, OfferTerms};
use agora_client::rpc::Rpc;
use agora_client::tx;
use clap::{Args, Subcommand};
use parity_scale_codec::Compact;
use serde::Serialize;

use crate::args::{KeyArgs, OfferSiteArgs};
use crate::cli::CliError;
use crate::commands::market::{OfferLine, OfferRow};

/// `agora offer …`
#[derive(Debug, Subcommand)]
pub enum OfferCommand {
    /// Post an offer of compute.
    Post(OfferArgs),
    /// List the open offers.
    List,
    /// Cancel an offer (jobs in flight run to the end).
    Cancel {
        /// The provider.
        #[command(flatten)]
        provider: KeyArgs,
        /// The offer's id.
        id: u64,
    },
}

/// `agora offer post …`
#[derive(Debug, Args, Clone)]
pub struct OfferArgs {
    /// The provider (needs uncommitted stake of at least the collateral).
    #[command(flatten)]
    pub provider: KeyArgs,
    /// Ask in AGR per Mfuel.
    #[arg(long, value_name = "AGR")]
    pub price: String,
    /// Most Mfuel of jobs in flight at once.
    #[arg(long, value_name = "MFUEL")]
    pub capacity: String,
    /// Region, energy source, collateral per job.
    #[command(flatten)]
    pub site: OfferSiteArgs,
    /// Blocks until the offer expires.
    #[arg(long, value_name = "BLOCKS", default_value_t = 100_000)]
    pub expires_in: u64,
}

impl OfferArgs {
    /// The offer's terms, unchecked.
    pub fn terms(&self) -> OfferTerms {
        self.site
            .terms(&self.price, &self.capacity, self.expires_in)
    }
}

/// What `offer post|cancel` prints.
#[derive(Debug, Clone, Serialize)]
pub struct OfferReport {
    /// The offer's id.
    pub offer: u64,
    /// "posted" or "cancelled".
    pub status: &'static str,
}

/// Runs an offer command.
pub async fn offer(rpc: &Rpc, command: &OfferCommand) -> Result<OfferOutput, CliError> {
    match command {
        OfferCommand::Post(args) => {
            let plan = args.terms().plan()?;
            let signer = args.provider.signer()?;
            let id = post_offer(rpc, &signer, &plan).await?;
            Ok(OfferOutput::Done(OfferReport {
                offer: id,
                status: "posted",
            }))
        }
        OfferCommand::Cancel { provider, id } => {
            let signer = provider.signer()?;
            let call = agora_runtime::RuntimeCall::Market(pallet_market::Call::CancelOffer {
                offer: Compact(*id),
            });
            tx::send(
                rpc,
                &signer,
                call,
                "offer cancellation",
                tx::DEFAULT_TIMEOUT,
            )
            .await?;
            Ok(OfferOutput::Done(OfferReport {
                offer: *id,
                status: "cancelled",
            }))
        }
        OfferCommand::List => Ok(OfferOutput::List(
            crate::commands::market::market(rpc).await?.offers,
        )),
    }
}

/// The output of an offer command.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum OfferOutput {
    /// A posted or cancelled offer.
    Done(OfferReport),
    /// The open offers.
    List(Vec<OfferRow>),
}

impl OfferOutput {
    /// Human-readable rendering.
    pub fn text(&self) -> String {
        match self {
            OfferOutput::Done(report) => format!("Offer #{} {}\n", report.offer, report.status),
            OfferOutput::List(rows) if rows.is_empty() => "No open offers.\n".to_owned(),
            OfferOutput::List(rows) => rows
                .iter()
                .map(|o| format!("{}\n", o.line(false)))
                .collect(),
        }
    }
}
