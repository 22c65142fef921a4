//! The chain and one account as people read them: `agora_chain`, `agora_account` and the
//! dashboard's chain and account pages.

use agora_primitives::{AccountId, BlockNumber, Hash, Moment, Nonce};
use serde::{Deserialize, Serialize};

use super::{BidRow, JobReport, OfferRow};

/// Most blocks `agora_chain` lists.
pub const RECENT_BLOCKS: usize = 64;

/// The chain as one node sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The chain's id (as `system_chain`).
    pub chain: String,
    /// Number of the best block.
    pub best: BlockNumber,
    /// Its hash.
    pub best_hash: Hash,
    /// Number of the last finalized block.
    pub finalized: BlockNumber,
    /// Its hash.
    pub finalized_hash: Hash,
    /// The epoch the next block belongs to.
    pub epoch: u64,
    /// The committee of that epoch.
    pub validators: Vec<ValidatorRow>,
    /// Extrinsics waiting in this node's pool.
    pub pool: usize,
    /// The most recent blocks of the best chain (at most [`RECENT_BLOCKS`]), newest first.
    pub blocks: Vec<BlockRow>,
}

/// One validator of a committee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorRow {
    /// Its account.
    pub account: AccountId,
    /// Its ed25519 consensus key.
    pub consensus_key: Hash,
    /// Its p2p address (empty if peers learn it otherwise).
    pub address: String,
    /// Its active bond, AGR.
    pub stake: String,
}

/// One block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRow {
    /// Height.
    pub number: BlockNumber,
    /// Hash.
    pub hash: Hash,
    /// The proposer's timestamp, milliseconds since the Unix epoch.
    pub timestamp: Moment,
    /// Credited with its fees.
    pub author: AccountId,
    /// Extrinsics in it.
    pub extrinsics: u32,
    /// Whether it is finalized.
    pub finalized: bool,
    /// Milliseconds from its timestamp to when this node saw it (or a descendant) finalized;
    /// `None` if not finalized yet or finalized before this node started watching. A node-local
    /// observation: it includes the clock difference between the proposer and this node.
    pub finality_ms: Option<u64>,
}

/// One account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountReport {
    /// The account.
    pub address: AccountId,
    /// Block of the state shown.
    pub block: BlockNumber,
    /// Free balance, AGR.
    pub free: String,
    /// Reserved balance (stake, escrow, deposits), AGR.
    pub reserved: String,
    /// Next nonce on chain.
    pub nonce: Nonce,
    /// Bonded stake not unbonding, AGR.
    pub stake_active: String,
    /// Of it, committed as collateral to work, AGR.
    pub stake_committed: String,
    /// Stake unbonding, AGR.
    pub stake_unbonding: String,
    /// Whether it is a validator candidate.
    pub validator: bool,
    /// Whether it is a registered verifier.
    pub verifier: bool,
    /// Its open offers.
    pub offers: Vec<OfferRow>,
    /// Its open bids.
    pub bids: Vec<BidRow>,
    /// Jobs it buys or works on (live, or ended within their retention), newest first.
    pub jobs: Vec<JobReport>,
}
