//! What a Substrate client needs beyond the ledger's own methods: the runtime version and
//! metadata, storage subscriptions, fee estimates, and the two `System` items the metadata lists that are not
//! kept in state (`System.Account` and `System.Events`, see [`agora_runtime::metadata`]).
//!
//! Storage subscriptions are bounded: each watches at most
//! [`MAX_KEYS_PER_CALL`](agora_rpc_api::MAX_KEYS_PER_CALL) keys, reads them once per new best
//! block, and sends only the keys whose value changed; a subscriber that falls behind skips
//! to the newest block rather than queueing every one.

use super::limits::WatchBudget;
use super::{block_at, header_at, message, parse_key, Rpc};
use crate::chain::{Chain, ChainEvent};
use agora_primitives::storage::StateRead;
use agora_primitives::Hash;
use agora_rpc_api::{
    DispatchInfo, Error, ErrorCode, Hex, PaymentApiServer, RuntimeVersion, StateWatchApiServer,
    StorageChangeSet, MAX_KEYS_PER_CALL,
};
use agora_runtime::extrinsic::Extrinsic;
use agora_runtime::{executive, metadata};
use jsonrpsee::core::{async_trait, SubscriptionResult};
use jsonrpsee::{Extensions, PendingSubscriptionSink};
use std::collections::BTreeMap;
use tokio::sync::broadcast::error::RecvError;

/// The value of `key` after block `at` (default: best) if `key` is one of the items served
/// beside the state; `None` if it is an ordinary key.
pub(super) fn virtual_read(
    chain: &Chain,
    key: &[u8],
    at: Option<Hash>,
) -> Option<Result<Option<Vec<u8>>, Error>> {
    if key == metadata::system_events_key().as_slice() {
        return Some(
            block_at(chain, at).map(|stored| Some(metadata::encode_system_events(&stored.events))),
        );
    }
    let who = metadata::system_account_of(key)?;
    Some(state_at(chain, at).map(|state| {
        metadata::system_account(&state, &who).map(|info| parity_scale_codec::Encode::encode(&info))
    }))
}

/// The version after block `at` (checked to exist).
pub(super) fn runtime_version(chain: &Chain, at: Option<Hash>) -> Result<RuntimeVersion, Error> {
    header_at(chain, at)?;
    Ok(RuntimeVersion::current())
}

/// The metadata after block `at` (checked to exist).
pub(super) fn runtime_metadata(chain: &Chain, at: Option<Hash>) -> Result<Hex, Error> {
    header_at(chain, at)?;
    Ok(Hex::encode(metadata::encoded()))
}

impl PaymentApiServer for Rpc {
    fn query_info(&self, extrinsic: Hex, hash: Option<Hash>) -> Result<DispatchInfo, Error> {
        header_at(&self.chain, hash)?;
        let bytes = super::bad_extrinsic(&extrinsic)?;
        let xt = Extrinsic::decode_bounded(&bytes)
            .map_err(|e| Error::new(ErrorCode::BadExtrinsic, e.to_string()))?;
        let fee = executive::extrinsic_fee(&xt, bytes.len());
        Ok(DispatchInfo {
            weight: executive::extrinsic_weight(&xt.call),
            class: "normal".to_owned(),
            partial_fee: fee.saturating_sub(xt.tip()),
        })
    }
}

/// Reads every key of `keys` after block `at`.
fn read_all(
    chain: &Chain,
    keys: &[Vec<u8>],
    at: Hash,
) -> Result<BTreeMap<Vec<u8>, Option<Vec<u8>>>, Error> {
    keys.iter()
        .map(|key| Ok((key.clone(), super::read_storage(chain, key, Some(at))?)))
        .collect()
}

/// The change set of `values` whose keys satisfy `include`, in the order the keys were asked.
fn change_set(
    at: Hash,
    keys: &[Vec<u8>],
    values: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    include: impl Fn(&[u8]) -> bool,
) -> StorageChangeSet {
    let changes = keys
        .iter()
        .filter(|key| include(key))
        .map(|key| {
            let value = values.get(key).cloned().flatten();
            (Hex::encode(key), value.map(|v| Hex::encode(&v)))
        })
        .collect();
    StorageChangeSet { block: at, changes }
}

#[async_trait]
impl StateWatchApiServer for Rpc {
    async fn subscribe_runtime_version(
        &self,
        pending: PendingSubscriptionSink,
    ) -> SubscriptionResult {
        let sink = pending.accept().await?;
        sink.send(message(&RuntimeVersion::current())?).await?;
        // One runtime per binary: the version never changes while the node runs. Hold the
        // subscription open until the client leaves.
        sink.closed().await;
        Ok(())
    }

    async fn subscribe_storage(
        &self,
        pending: PendingSubscriptionSink,
        ext: &Extensions,
        keys: Option<Vec<Hex>>,
    ) -> SubscriptionResult {
        // Held until the subscription ends: its keys count against its client's share.
        let watched = parse_watched(keys).and_then(|keys| {
            let watch = ext
                .get::<WatchBudget>()
                .map(|budget| budget.watch(keys.len()));
            Ok((keys, watch.transpose()?))
        });
        let (keys, _watch) = match watched {
            Ok(watched) => watched,
            Err(error) => {
                pending.reject(error).await;
                return Ok(());
            }
        };
        let mut events = self.chain.subscribe();
        let at = self.chain.best_hash();
        let mut values = match read_all(&self.chain, &keys, at) {
            Ok(values) => values,
            Err(error) => {
                pending.reject(error).await;
                return Ok(());
            }
        };
        let sink = pending.accept().await?;
        sink.send(message(&change_set(at, &keys, &values, |_| true))?)
            .await?;
        loop {
            // Ended by the client (unsubscribed or gone) now, not at the next change it would
            // be sent: until then it holds its keys of the client's share.
            let event = tokio::select! {
                event = events.recv() => event,
                () = sink.closed() => return Ok(()),
            };
            let head = match event {
                Ok(ChainEvent::NewHead(header)) => header.hash(),
                Ok(_) => continue,
                // Behind: the next head read covers every change missed.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return Ok(()),
            };
            let Ok(now) = read_all(&self.chain, &keys, head) else {
                // The block was pruned or reorganized away meanwhile: wait for the next.
                continue;
            };
            let changed = |key: &[u8]| values.get(key) != now.get(key);
            let set = change_set(head, &keys, &now, changed);
            values = now;
            if !set.changes.is_empty() {
                sink.send(message(&set)?).await?;
            }
        }
    }
}

/// The keys of a storage subscription: 1 to [`MAX_KEYS_PER_CALL`] of them, distinct order
/// kept.
fn parse_watched(keys: Option<Vec<Hex>>) -> Result<Vec<Vec<u8>>, Error> {
    let keys = keys.unwrap_or_default();
    if keys.is_empty() {
        return Err(Error::invalid_params(
            "state_subscribeStorage needs the keys to watch: watching every key is not offered",
        ));
    }
    if keys.len() > MAX_KEYS_PER_CALL {
        return Err(Error::invalid_params(format!(
            "{} keys to watch, at most {MAX_KEYS_PER_CALL} per subscription",
            keys.len()
        )));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut parsed = Vec::with_capacity(keys.len());
    for key in &keys {
        let key = parse_key("key", key)?;
        if seen.insert(key.clone()) {
            parsed.push(key);
        }
    }
    Ok(parsed)
}

/// The state after block `at` (default: best, pinned now), for composing `System.Account`.
fn state_at(chain: &Chain, at: Option<Hash>) -> Result<StateAt<'_>, Error> {
    let at = at.unwrap_or_else(|| chain.best_hash());
    header_at(chain, Some(at))?;
    Ok(StateAt { chain, at })
}

/// The state after one known block, read key by key.
struct StateAt<'a> {
    chain: &'a Chain,
    at: Hash,
}

impl StateRead for StateAt<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        // Native keys only: the composed items never read each other. The block is known
        // (checked by `state_at`); a read that fails now is a storage failure, which
        // `StateRead` treats as absent like every other reader of a lost disk (see
        // `agora_primitives::storage`).
        super::read_native(self.chain, key, Some(self.at))
            .ok()
            .flatten()
    }
}
