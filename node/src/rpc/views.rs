//! The node's side of [`ViewApiServer`]: the views of [`agora_rpc_api::views`] read from this
//! node's state, and [`FinalityWatch`], the node-local record of when blocks were seen final.
//!
//! Views list maps (jobs, audits) by prefix, which only the best state and the unfinalized
//! blocks' states allow (as `state_getKeysPaged`); a finalized block below the head answers
//! 4004. Every listing is bounded by [`MAX_VIEW_ENTRIES`].

use super::{block_at, header_at, iterable_view, parse_account, read_storage, read_value, Rpc};
use crate::chain::{Chain, ChainEvent};
use agora_primitives::storage::StorageInstance;
use agora_primitives::{format_agr, AccountId, BlockNumber, Hash};
use agora_rpc_api::views::{
    AccountReport, BidRow, BlockRow, ChainReport, JobReport, JobState, MarketReport, MarketState,
    OfferRow, ValidatorRow, RECENT_BLOCKS,
};
use agora_rpc_api::{Error, ViewApiServer};
use parity_scale_codec::Decode;
use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast::error::RecvError;

/// Most entries one view lists from a map: far above the jobs and audits a chain holds within
/// their retention; a view that would pass it answers an error rather than a partial list.
pub const MAX_VIEW_ENTRIES: usize = 100_000;

/// Finalizations remembered by [`FinalityWatch`]: enough to cover [`RECENT_BLOCKS`] even when
/// every block is finalized on its own.
const FINALITY_RECORDS: usize = RECENT_BLOCKS * 2;

/// When this node saw blocks finalized (wall clock, milliseconds since the Unix epoch), for the
/// finality latency `agora_chain` reports. Not consensus: a reading of this node's clock.
#[derive(Default)]
pub struct FinalityWatch {
    /// `(finalized height, seen at)`, oldest first, at most [`FINALITY_RECORDS`].
    seen: Mutex<VecDeque<(BlockNumber, u64)>>,
}

impl FinalityWatch {
    /// Starts recording `chain`'s finalizations on the current tokio runtime (none outside
    /// one: the views then report no latency).
    pub fn start(chain: &Chain) -> Arc<FinalityWatch> {
        let watch = Arc::new(FinalityWatch::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let mut events = chain.subscribe();
            let recorder = Arc::clone(&watch);
            runtime.spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(ChainEvent::Finalized { header, .. }) => {
                            recorder.record(header.number(), now_ms());
                        }
                        Ok(_) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
        watch
    }

    fn record(&self, number: BlockNumber, at: u64) {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.back().is_some_and(|(last, _)| *last >= number) {
            return;
        }
        if seen.len() >= FINALITY_RECORDS {
            seen.pop_front();
        }
        seen.push_back((number, at));
    }

    /// When block `number` was first seen final: the first recorded finalization at or above
    /// it, if that is not the oldest record (older blocks may have been final before it).
    fn seen_final(&self, number: BlockNumber) -> Option<u64> {
        let seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let index = seen.iter().position(|(n, _)| *n >= number)?;
        let (n, at) = seen.get(index)?;
        // The first record may stand for a run of blocks finalized before the watch started.
        (index > 0 || *n == number).then_some(*at)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `Verification::referee_opens_at` of job `id` after block `at`, run on the entries it reads.
fn referee_opens_at(
    chain: &Chain,
    id: u64,
    at: Option<Hash>,
) -> Result<Option<BlockNumber>, Error> {
    let mut entries = std::collections::BTreeMap::new();
    for key in agora_runtime::Verification::referee_opens_at_keys(id) {
        if let Some(value) = read_storage(chain, &key, at)? {
            entries.insert(key, value);
        }
    }
    Ok(agora_runtime::Verification::referee_opens_at(&entries, id))
}

/// The SCALE value at `key` after block `at`, if present.
fn read_opt<T: Decode>(chain: &Chain, key: &[u8], at: Option<Hash>) -> Result<Option<T>, Error> {
    read_storage(chain, key, at)?
        .map(|bytes| T::decode(&mut &bytes[..]).map_err(Error::storage))
        .transpose()
}

/// Every `(key, value)` of the map under the 48-byte `prefix` (pallet and item hashes, then
/// the key's blake2-128 hash, then the SCALE key) after block `at`.
fn entries<K: Decode, V: Decode>(
    chain: &Chain,
    prefix: &[u8],
    at: Option<Hash>,
) -> Result<Vec<(K, V)>, Error> {
    let view = iterable_view(chain, at)?;
    let mut out = Vec::new();
    let mut failure = None;
    view.try_for_each_prefixed(prefix, None, &mut |key, value| {
        if out.len() >= MAX_VIEW_ENTRIES {
            failure = Some(format!(
                "more than {MAX_VIEW_ENTRIES} entries under one map"
            ));
            return ControlFlow::Break(());
        }
        let decoded = K::decode(&mut key.get(48..).unwrap_or(&[]))
            .and_then(|k| V::decode(&mut &value[..]).map(|v| (k, v)));
        match decoded {
            Ok(entry) => {
                out.push(entry);
                ControlFlow::Continue(())
            }
            Err(e) => {
                failure = Some(format!("an entry does not decode: {e}"));
                ControlFlow::Break(())
            }
        }
    })
    .map_err(Error::storage)?;
    match failure {
        Some(reason) => Err(Error::storage(reason)),
        None => Ok(out),
    }
}

/// The entries of map `key_of` for the ids listed at `list_key`, in list order.
fn listed<I: Decode, T: Decode>(
    chain: &Chain,
    list_key: &[u8],
    key_of: fn(&I) -> Vec<u8>,
    at: Option<Hash>,
) -> Result<Vec<(I, T)>, Error> {
    let ids: Vec<I> = read_opt(chain, list_key, at)?.unwrap_or_default();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(entry) = read_opt(chain, &key_of(&id), at)? {
            out.push((id, entry));
        }
    }
    Ok(out)
}

impl Rpc {
    fn block_number_at(&self, at: Option<Hash>) -> Result<BlockNumber, Error> {
        Ok(header_at(&self.chain, at)?.number())
    }

    fn open_offers(&self, at: Option<Hash>) -> Result<Vec<(u64, pallet_market::Offer)>, Error> {
        let list = pallet_market::OpenOffers::key();
        listed(&self.chain, &list, pallet_market::Offers::key, at)
    }

    fn open_bids(&self, at: Option<Hash>) -> Result<Vec<(u64, pallet_market::Bid)>, Error> {
        let list = pallet_market::OpenBids::key();
        listed(&self.chain, &list, pallet_market::Bids::key, at)
    }

    fn market_state(&self, at: Option<Hash>) -> Result<MarketState, Error> {
        let chain = &self.chain;
        Ok(MarketState {
            block: self.block_number_at(at)?,
            offers: self.open_offers(at)?,
            bids: self.open_bids(at)?,
            clearings: read_opt(chain, &pallet_market::Clearings::key(), at)?.unwrap_or_default(),
            matches: read_opt(chain, &pallet_market::RecentMatches::key(), at)?.unwrap_or_default(),
        })
    }

    /// Every job and each of the open `bids` as a report at block `now`, newest (highest id)
    /// first.
    fn job_reports(
        &self,
        at: Option<Hash>,
        now: BlockNumber,
        bids: &[(u64, pallet_market::Bid)],
    ) -> Result<Vec<JobReport>, Error> {
        let chain = &self.chain;
        let jobs: Vec<(u64, pallet_jobs::Job)> =
            entries(chain, &pallet_jobs::JobsPrefix::prefix(), at)?;
        let audits: Vec<(u64, pallet_verification::Audit)> =
            entries(chain, &pallet_verification::AuditsPrefix::prefix(), at)?;
        let mut audits: std::collections::BTreeMap<u64, pallet_verification::Audit> =
            audits.into_iter().collect();
        let mut reports: Vec<JobReport> = jobs
            .into_iter()
            .map(|(id, job)| {
                let audit = audits.remove(&id);
                JobReport::new(
                    id,
                    &JobState {
                        now,
                        bid: None,
                        job: Some(job),
                        audit,
                        model: None,
                        closed: None,
                        referee_opens: None,
                        forfeited: Vec::new(),
                        declaration: None,
                    },
                )
            })
            .collect();
        for (id, bid) in bids {
            let spec = read_opt(chain, &pallet_market::BidSpecs::key(id), at)?;
            let state = JobState {
                now,
                bid: Some((bid.clone(), spec)),
                job: None,
                audit: None,
                model: None,
                closed: None,
                referee_opens: None,
                forfeited: Vec::new(),
                declaration: None,
            };
            reports.push(JobReport::new(*id, &state));
        }
        reports.sort_by_key(|r| std::cmp::Reverse(r.job));
        Ok(reports)
    }

    fn recent_blocks(&self, finalized: BlockNumber) -> Result<Vec<BlockRow>, Error> {
        let mut rows = Vec::with_capacity(RECENT_BLOCKS);
        let mut hash = self.chain.best_hash();
        for _ in 0..RECENT_BLOCKS {
            let stored = block_at(&self.chain, Some(hash))?;
            let header = &stored.block.header;
            let number = header.number();
            let final_ = number <= finalized;
            rows.push(BlockRow {
                number,
                hash,
                timestamp: header.timestamp,
                author: header.author,
                extrinsics: u32::try_from(stored.block.extrinsics.len()).unwrap_or(u32::MAX),
                finalized: final_,
                finality_ms: final_
                    .then(|| self.finality.seen_final(number))
                    .flatten()
                    .map(|seen| seen.saturating_sub(header.timestamp)),
            });
            if number == 0 {
                break;
            }
            hash = header.parent_hash;
        }
        Ok(rows)
    }
}

impl ViewApiServer for Rpc {
    fn chain_report(&self) -> Result<ChainReport, Error> {
        let chain = &self.chain;
        let best_hash = chain.best_hash();
        let best = self.block_number_at(Some(best_hash))?;
        let (finalized_hash, finalized_header) = chain.finalized_head();
        let finalized = finalized_header.number();
        let at = Some(best_hash);
        let epoch: u64 = read_value(chain, &pallet_staking::CurrentEpoch::key(), at)?;
        let committee: Vec<pallet_staking::Validator> =
            read_opt(chain, &pallet_staking::Committees::key(&epoch), at)?.unwrap_or_default();
        let mut validators = Vec::with_capacity(committee.len());
        for v in committee {
            let ledger: pallet_staking::StakeLedger =
                read_value(chain, &pallet_staking::Ledger::key(&v.account), at)?;
            validators.push(ValidatorRow {
                account: v.account,
                consensus_key: v.consensus_key,
                address: String::from_utf8_lossy(&v.address).into_owned(),
                stake: format_agr(ledger.active),
            });
        }
        Ok(ChainReport {
            chain: chain.spec().name.clone(),
            best,
            best_hash,
            finalized,
            finalized_hash,
            epoch,
            validators,
            pool: chain.pool_len(),
            blocks: self.recent_blocks(finalized)?,
        })
    }

    fn market(&self, hash: Option<Hash>) -> Result<MarketReport, Error> {
        Ok(MarketReport::new(&self.market_state(hash)?, usize::MAX))
    }

    fn job(&self, id: u64, hash: Option<Hash>) -> Result<JobReport, Error> {
        let chain = &self.chain;
        let now = self.block_number_at(hash)?;
        let bid: Option<pallet_market::Bid> =
            read_opt(chain, &pallet_market::Bids::key(&id), hash)?;
        let mut state = JobState {
            now,
            ..JobState::default()
        };
        if let Some(bid) = bid {
            let spec = read_opt(chain, &pallet_market::BidSpecs::key(&id), hash)?;
            state.bid = Some((bid, spec));
        } else {
            state.job = read_opt(chain, &pallet_jobs::Jobs::key(&id), hash)?;
            if state.job.is_some() {
                state.audit = read_opt(chain, &pallet_verification::Audits::key(&id), hash)?;
                state.referee_opens = referee_opens_at(chain, id, hash)?;
                state.forfeited = read_opt(chain, &pallet_jobs::ForfeitedRuns::key(&id), hash)?
                    .unwrap_or_default();
                state.declaration = read_opt(chain, &pallet_jobs::Declarations::key(&id), hash)?;
            }
            if let Some(output) = state.job.as_ref().and_then(settled_output) {
                state.model = read_opt(chain, &pallet_jobs::Blobs::key(&output), hash)?;
            }
            if state.job.is_none() {
                state.closed = read_opt(chain, &pallet_market::ClosedBids::key(&id), hash)?;
            }
        }
        Ok(JobReport::new(id, &state))
    }

    fn jobs(&self, hash: Option<Hash>) -> Result<Vec<JobReport>, Error> {
        let now = self.block_number_at(hash)?;
        self.job_reports(hash, now, &self.open_bids(hash)?)
    }

    fn account(&self, address: String, hash: Option<Hash>) -> Result<AccountReport, Error> {
        let who: AccountId = parse_account(&address)?;
        let chain = &self.chain;
        let data: pallet_balances::AccountData =
            read_value(chain, &pallet_balances::Account::key(&who), hash)?;
        let info: pallet_system::AccountInfo =
            read_value(chain, &pallet_system::AccountNonce::key(&who), hash)?;
        let ledger: pallet_staking::StakeLedger =
            read_value(chain, &pallet_staking::Ledger::key(&who), hash)?;
        let candidate: Option<pallet_staking::Candidate> =
            read_opt(chain, &pallet_staking::Candidates::key(&who), hash)?;
        let verifiers: Vec<AccountId> =
            read_opt(chain, &pallet_verification::Verifiers::key(), hash)?.unwrap_or_default();
        // The offers and bids are read once, for the account's rows and its queued jobs; the
        // market's clearings are not needed.
        let now = self.block_number_at(hash)?;
        let offers = self.open_offers(hash)?;
        let bids = self.open_bids(hash)?;
        let jobs = self.job_reports(hash, now, &bids)?;
        let unbonding = ledger.total().saturating_sub(ledger.active);
        Ok(AccountReport {
            address: who,
            block: now,
            free: format_agr(data.free),
            reserved: format_agr(data.reserved),
            nonce: info.nonce,
            stake_active: format_agr(ledger.active),
            stake_committed: format_agr(ledger.committed),
            stake_unbonding: format_agr(unbonding),
            validator: candidate.is_some(),
            verifier: verifiers.contains(&who),
            offers: offers
                .iter()
                .filter(|(_, o)| o.provider == who)
                .map(|(id, o)| OfferRow::new(*id, o))
                .collect(),
            bids: bids
                .iter()
                .filter(|(_, b)| b.buyer == who)
                .map(|(id, b)| BidRow::new(*id, b, now))
                .collect(),
            jobs: jobs
                .into_iter()
                .filter(|r| r.buyer == Some(who) || r.worker == Some(who))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finality_is_reported_only_for_blocks_seen_final() {
        let watch = FinalityWatch::default();
        watch.record(10, 1_000);
        watch.record(12, 3_000);
        // Block 10 and below were final before the watch started, except 10 itself.
        assert_eq!(watch.seen_final(9), None);
        assert_eq!(watch.seen_final(10), Some(1_000));
        // 11 was finalized together with 12.
        assert_eq!(watch.seen_final(11), Some(3_000));
        assert_eq!(watch.seen_final(12), Some(3_000));
        assert_eq!(watch.seen_final(13), None);
        // An older or repeated height is not recorded twice.
        watch.record(12, 9_000);
        assert_eq!(watch.seen_final(12), Some(3_000));
    }

    #[test]
    fn the_finality_record_is_bounded() {
        let watch = FinalityWatch::default();
        for n in 0..(FINALITY_RECORDS as u64 * 3) {
            watch.record(n, n);
        }
        let seen = watch
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        assert_eq!(seen.len(), FINALITY_RECORDS);
    }
}

/// The model hash of a settled job, whose registry record its view shows.
fn settled_output(job: &pallet_jobs::Job) -> Option<agora_primitives::Hash> {
    matches!(job.status, pallet_jobs::JobStatus::Settled { .. })
        .then(|| job.commitment.as_ref().map(|c| c.output))
        .flatten()
}
