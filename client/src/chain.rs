//! Typed reads of the ledger's state over RPC.
//!
//! The node serves raw storage (`state_getStorage`, `state_queryStorageAt`); the keys are
//! computed here from the runtime's own storage definitions and the values decoded with the
//! runtime's own types, so client and chain cannot disagree on a layout. Reads are of the
//! node's best block unless a block hash is given.

use agora_primitives::storage::StorageInstance;
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_jobs::{BlobInfo, Job, JobId};
use pallet_market::{Bid, BidId, ClearingRecord, ClosedBid, JobSpec, MatchRecord, Offer, OfferId};
use pallet_staking::StakeLedger;
use pallet_verification::Audit;
use parity_scale_codec::Decode;
use std::collections::BTreeMap;

use crate::rpc::{Rpc, RpcError};

fn decode<T: Decode>(item: &str, bytes: &[u8]) -> Result<T, RpcError> {
    T::decode(&mut &bytes[..]).map_err(|e| RpcError::BadResponse {
        method: agora_rpc_api::method::STATE_GET_STORAGE,
        reason: format!("the value of {item} does not decode: {e}"),
    })
}

/// The `(id, entry)` pairs of the ids whose entry is present.
fn present<I, T>(ids: Vec<I>, entries: Vec<Option<T>>) -> impl Iterator<Item = (I, T)> {
    ids.into_iter()
        .zip(entries)
        .filter_map(|(id, entry)| entry.map(|entry| (id, entry)))
}

/// Reads the ledger's state through one node.
#[derive(Clone, Copy)]
pub struct State<'a> {
    rpc: &'a Rpc,
    at: Option<Hash>,
}

impl<'a> State<'a> {
    /// The state after the node's best block.
    pub fn best(rpc: &'a Rpc) -> Self {
        State { rpc, at: None }
    }

    /// The state after block `hash`.
    pub fn at(rpc: &'a Rpc, hash: Hash) -> Self {
        State {
            rpc,
            at: Some(hash),
        }
    }

    /// The state after the latest finalized block.
    pub async fn finalized(rpc: &'a Rpc) -> Result<Self, RpcError> {
        Ok(State::at(rpc, rpc.finalized_head().await?))
    }

    async fn value<T: Decode>(&self, item: &str, key: Vec<u8>) -> Result<Option<T>, RpcError> {
        match self.rpc.storage(&key, self.at).await? {
            Some(bytes) => Ok(Some(decode(item, &bytes)?)),
            None => Ok(None),
        }
    }

    async fn values<T: Decode>(
        &self,
        item: &str,
        keys: Vec<Vec<u8>>,
    ) -> Result<Vec<Option<T>>, RpcError> {
        self.rpc
            .storage_many(&keys, self.at)
            .await?
            .into_iter()
            .map(|value| value.map(|bytes| decode(item, &bytes)).transpose())
            .collect()
    }

    /// The block number of this state.
    pub async fn block_number(&self) -> Result<BlockNumber, RpcError> {
        Ok(self
            .value("System::Number", pallet_system::Number::key())
            .await?
            .unwrap_or(0))
    }

    /// The timestamp of this state's block, milliseconds since the Unix epoch, as its proposer
    /// stamped it.
    pub async fn timestamp(&self) -> Result<agora_primitives::Moment, RpcError> {
        Ok(self
            .value("System::Now", pallet_system::Now::key())
            .await?
            .unwrap_or(0))
    }

    /// A job (live, or finished within its retention).
    pub async fn job(&self, id: JobId) -> Result<Option<Job>, RpcError> {
        self.value("Jobs::Jobs", pallet_jobs::Jobs::key(&id)).await
    }

    /// The worker's unrunnable declaration pending on job `id`, if any: when its proof opens
    /// and until when it is accepted.
    pub async fn declaration(
        &self,
        id: JobId,
    ) -> Result<Option<pallet_jobs::Declaration>, RpcError> {
        self.value("Jobs::Declarations", pallet_jobs::Declarations::key(&id))
            .await
    }

    /// The running spot check of a job.
    pub async fn audit(&self, id: JobId) -> Result<Option<Audit>, RpcError> {
        self.value(
            "Verification::Audits",
            pallet_verification::Audits::key(&id),
        )
        .await
    }

    /// The first block in which a `referee` call on job `id`'s dispute is accepted; `None`
    /// unless it is the referee's turn. The runtime's own `Verification::referee_opens_at`,
    /// run on the entries it reads.
    pub async fn referee_opens_at(&self, id: JobId) -> Result<Option<BlockNumber>, RpcError> {
        let keys = agora_runtime::Verification::referee_opens_at_keys(id).to_vec();
        let values = self.rpc.storage_many(&keys, self.at).await?;
        let entries: BTreeMap<Vec<u8>, Vec<u8>> = keys
            .into_iter()
            .zip(values)
            .filter_map(|(key, value)| Some((key, value?)))
            .collect();
        Ok(agora_runtime::Verification::referee_opens_at(&entries, id))
    }

    /// Every running spot check (or open challenge's dispute).
    pub async fn audits(&self) -> Result<Vec<(JobId, Audit)>, RpcError> {
        let prefix = pallet_verification::AuditsPrefix::prefix();
        self.entries("Verification::Audits", &prefix).await
    }

    /// Every job on the ledger: live, or finished within its retention.
    pub async fn jobs(&self) -> Result<Vec<(JobId, Job)>, RpcError> {
        let prefix = pallet_jobs::JobsPrefix::prefix();
        self.entries("Jobs::Jobs", &prefix).await
    }

    /// Every `(key, value)` of the map `item` under the 48-byte `prefix` (pallet and item
    /// hashes, then the key's blake2-128 hash), its key SCALE-encoded after the prefix.
    async fn entries<K: Decode, V: Decode>(
        &self,
        item: &str,
        prefix: &[u8],
    ) -> Result<Vec<(K, V)>, RpcError> {
        let mut out = Vec::new();
        let mut start: Option<Vec<u8>> = None;
        // Maps read this way are bounded by the jobs in flight and their retention;
        // 1,000 pages of 1,000 keys is far beyond that.
        for _ in 0..1000 {
            let keys = self
                .rpc
                .keys_paged(prefix, 1000, start.as_deref(), self.at)
                .await?;
            let Some(last) = keys.last().cloned() else {
                break;
            };
            let ids: Vec<K> = keys
                .iter()
                .map(|key| decode(item, key.get(48..).unwrap_or(&[])))
                .collect::<Result<_, _>>()?;
            let full_page = keys.len() == 1000;
            let values: Vec<Option<V>> = self.values(item, keys).await?;
            out.extend(present(ids, values));
            if !full_page {
                break;
            }
            start = Some(last);
        }
        Ok(out)
    }

    /// An open bid.
    pub async fn bid(&self, id: BidId) -> Result<Option<Bid>, RpcError> {
        self.value("Market::Bids", pallet_market::Bids::key(&id))
            .await
    }

    /// A bid that left the book unmatched, within `CLOSED_BID_RETENTION` blocks.
    pub async fn closed_bid(&self, id: BidId) -> Result<Option<ClosedBid>, RpcError> {
        self.value("Market::ClosedBids", pallet_market::ClosedBids::key(&id))
            .await
    }

    /// The job spec of an open bid.
    pub async fn bid_spec(&self, id: BidId) -> Result<Option<JobSpec>, RpcError> {
        self.value("Market::BidSpecs", pallet_market::BidSpecs::key(&id))
            .await
    }

    /// An offer.
    pub async fn offer(&self, id: OfferId) -> Result<Option<Offer>, RpcError> {
        self.value("Market::Offers", pallet_market::Offers::key(&id))
            .await
    }

    /// The entries of the map `item` (keyed by `key`) whose ids the list `list` (at
    /// `list_key`) holds, in list order; an id without an entry is skipped.
    async fn listed<I: Decode, T: Decode>(
        &self,
        (list, list_key): (&str, Vec<u8>),
        (item, key): (&str, fn(&I) -> Vec<u8>),
    ) -> Result<Vec<(I, T)>, RpcError> {
        let ids: Vec<I> = self.value(list, list_key).await?.unwrap_or_default();
        let keys = ids.iter().map(key).collect();
        let entries = self.values(item, keys).await?;
        Ok(present(ids, entries).collect())
    }

    /// Every open bid, in placement order.
    pub async fn open_bids(&self) -> Result<Vec<(BidId, Bid)>, RpcError> {
        self.listed(
            ("Market::OpenBids", pallet_market::OpenBids::key()),
            ("Market::Bids", pallet_market::Bids::key),
        )
        .await
    }

    /// Every open offer, in posting order.
    pub async fn open_offers(&self) -> Result<Vec<(OfferId, Offer)>, RpcError> {
        self.listed(
            ("Market::OpenOffers", pallet_market::OpenOffers::key()),
            ("Market::Offers", pallet_market::Offers::key),
        )
        .await
    }

    /// Clearing records, oldest first.
    pub async fn clearings(&self) -> Result<Vec<ClearingRecord>, RpcError> {
        Ok(self
            .value("Market::Clearings", pallet_market::Clearings::key())
            .await?
            .unwrap_or_default())
    }

    /// All rent the order book has burned.
    pub async fn rent_burned(&self) -> Result<Balance, RpcError> {
        Ok(self
            .value("Market::RentBurned", pallet_market::RentBurned::key())
            .await?
            .unwrap_or(0))
    }

    /// Recent matches, oldest first.
    pub async fn recent_matches(&self) -> Result<Vec<MatchRecord>, RpcError> {
        Ok(self
            .value("Market::RecentMatches", pallet_market::RecentMatches::key())
            .await?
            .unwrap_or_default())
    }

    /// A registered blob.
    pub async fn blob(&self, hash: &Hash) -> Result<Option<BlobInfo>, RpcError> {
        self.value("Jobs::Blobs", pallet_jobs::Blobs::key(hash))
            .await
    }

    /// The stake of `who`.
    pub async fn ledger(&self, who: &AccountId) -> Result<StakeLedger, RpcError> {
        Ok(self
            .value("Staking::Ledger", pallet_staking::Ledger::key(who))
            .await?
            .unwrap_or_default())
    }

    /// `who`'s validator candidacy, if any.
    pub async fn validator_candidate(
        &self,
        who: &AccountId,
    ) -> Result<Option<pallet_staking::Candidate>, RpcError> {
        self.value("Staking::Candidates", pallet_staking::Candidates::key(who))
            .await
    }

    /// The epoch the next block belongs to.
    pub async fn current_epoch(&self) -> Result<u64, RpcError> {
        Ok(self
            .value("Staking::CurrentEpoch", pallet_staking::CurrentEpoch::key())
            .await?
            .unwrap_or(0))
    }

    /// The consensus committee of `epoch`, if still or already in state.
    pub async fn committee(
        &self,
        epoch: u64,
    ) -> Result<Option<Vec<pallet_staking::Validator>>, RpcError> {
        self.value(
            "Staking::Committees",
            pallet_staking::Committees::key(&epoch),
        )
        .await
    }

    /// The registered verifiers.
    pub async fn verifiers(&self) -> Result<Vec<AccountId>, RpcError> {
        Ok(self
            .value(
                "Verification::Verifiers",
                pallet_verification::Verifiers::key(),
            )
            .await?
            .unwrap_or_default())
    }
}
