//! Views: the ledger's state summarized for people, as `agora_market`, `agora_job`,
//! `agora_jobs`, `agora_chain` and `agora_account` answer it and the `agora` command line and
//! the node's dashboard show it. Each view is built here from the runtime's own types, once,
//! so the command line, the dashboard and scripts cannot disagree on what a figure means.
//!
//! Amounts are decimal AGR strings (a JSON number could not hold a u128 of plancks exactly in
//! JavaScript); prices are AGR per Mfuel (10⁶ fuel units); fuel is in units; times are blocks.

mod chain;
mod job;
mod market;

pub use chain::{AccountReport, BlockRow, ChainReport, ValidatorRow, RECENT_BLOCKS};
pub use job::{
    describe_closed, no_model, stage_of, AssuranceReport, AuditReport, CheckReport, DisputeReport,
    JobReport, JobState, ModelReport, ReceiptReport, RefutationReport, Stage,
};
pub use market::{
    percentile, BidRow, ClearingRow, MarketReport, MarketState, OfferRow, QueueTimes,
};
