//! Relaying submitted transactions: every node passes the extrinsics submitted to it (over
//! RPC) to every peer it is connected to, so that whichever validator leads the next view has
//! them, and so that a transaction sent to a full node reaches the committee.
//!
//! # Protocol
//!
//! Messages travel on [`channel::TRANSACTIONS`](super::channel::TRANSACTIONS). A message is a
//! batch: one or more `u32` little-endian lengths, each followed by that many bytes of one
//! encoded extrinsic, at most [`MAX_BATCH`] of them. A malformed batch is dropped whole.
//!
//! Only extrinsics submitted locally are sent ([`Chain::relay_queue`]); relayed ones are pooled
//! ([`Chain::receive_transactions`], in batches: signatures are verified in parallel) and not sent on, so a transaction crosses one hop and
//! nothing loops. A full node dials every committee member, and validators are all connected
//! to each other, so one hop reaches the committee. The pool checks every extrinsic as if it
//! had been submitted locally (signature, nonce, fees). That check is work this node does for
//! the peer, so each peer has a budget of it: [`RELAYED_PER_PEER_PER_SEC`] extrinsics a
//! second after a burst of [`RELAY_BURST`] ([`Budgets`]); what a peer sends past it is dropped
//! unverified (the origin node relays its submissions again while they stay pooled, below).
//! Before, the channel's message quota was the only bound: 256 messages of 1,024 extrinsics a
//! second, a quarter of a million signature checks a second from one peer, more than the
//! node's cores can do.
//!
//! Sending drains what is queued (up to [`MAX_BATCH`] extrinsics or the message limit) into
//! one message, so a burst of submissions costs few messages; an extrinsic that does not fit
//! is the first of the next message. Received batches are polled first, and after each one
//! a message of this node's own submissions goes out, so a peer keeping the receiving side
//! busy cannot hold them back. If the queue overflows (`RELAY_QUEUE` in the chain) the oldest
//! submissions are not relayed then; they remain in this node's own pool.
//!
//! A relay can be lost (the queue overflowing, a peer restarting or unable to pool it, a lossy
//! link), and a full node never leads, so the chain queues its own submissions again while
//! they stay pooled: a few finalizations after they became ready, then at doubling
//! intervals, five times at most (`crate::txpool`, "Relaying again"). They come out of the
//! same queue.

use super::{Chain, PublicKey, Rt};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::Handle;
use std::collections::BTreeMap;
use std::time::SystemTime;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::{debug, warn};

/// Most extrinsics in one message.
pub const MAX_BATCH: usize = 1_024;
/// Extrinsics a peer may have this node verify each second, once its burst is spent: above
/// what blocks can hold (the pool would only queue more), far below what one peer's message
/// quota could carry.
pub const RELAYED_PER_PEER_PER_SEC: u64 = 4_096;
/// Extrinsics a peer may send at once before its rate applies: two full batches.
pub const RELAY_BURST: u64 = 2 * MAX_BATCH as u64;
/// Peers whose budgets are kept at once; only configured peers connect, far fewer.
const MAX_TRACKED_PEERS: usize = 1_024;

/// Each peer's budget of extrinsics to verify: a token bucket of [`RELAY_BURST`] refilled at
/// [`RELAYED_PER_PEER_PER_SEC`]. Keyed in order (no hash-map order: the deterministic runtime
/// must replay a seed), bounded by [`MAX_TRACKED_PEERS`].
pub(super) struct Budgets<K> {
    peers: BTreeMap<K, Budget>,
}

struct Budget {
    left: u64,
    at: SystemTime,
}

impl<K: Ord + Clone> Budgets<K> {
    pub(super) fn new() -> Self {
        Budgets {
            peers: BTreeMap::new(),
        }
    }

    /// How many of the `wanted` extrinsics `peer` sent at `now` this node verifies; the rest
    /// are dropped.
    pub(super) fn admit(&mut self, peer: &K, now: SystemTime, wanted: usize) -> usize {
        if !self.peers.contains_key(peer) && self.peers.len() >= MAX_TRACKED_PEERS {
            // Forget the peers whose bucket has refilled: they owe nothing.
            self.peers.retain(|_, budget| {
                refill(budget, now);
                budget.left < RELAY_BURST
            });
            if self.peers.len() >= MAX_TRACKED_PEERS {
                return 0;
            }
        }
        let budget = self.peers.entry(peer.clone()).or_insert(Budget {
            left: RELAY_BURST,
            at: now,
        });
        refill(budget, now);
        let taken = budget.left.min(u64::try_from(wanted).unwrap_or(u64::MAX));
        budget.left -= taken;
        usize::try_from(taken).unwrap_or(usize::MAX)
    }
}

/// Refills `budget` at `now` with the whole tokens the time since `budget.at` earned, at most
/// the burst. `at` moves on by the time those tokens took, so the remainder counts towards the
/// next (found in review: moving it to `now` lost up to a token a call, half the rate for a
/// peer sending every millisecond); to `now` when the bucket is full, or when the clock went
/// back (counting on from the new time instead of waiting for the old one to come again).
fn refill(budget: &mut Budget, now: SystemTime) {
    let Ok(elapsed) = now.duration_since(budget.at) else {
        budget.at = now;
        return;
    };
    let rate = u128::from(RELAYED_PER_PEER_PER_SEC);
    let earned = elapsed.as_nanos().saturating_mul(rate) / 1_000_000_000;
    let earned = u64::try_from(earned).unwrap_or(u64::MAX);
    let left = budget.left.saturating_add(earned);
    if left >= RELAY_BURST {
        *budget = Budget {
            left: RELAY_BURST,
            at: now,
        };
    } else if earned > 0 {
        let took = u128::from(earned).saturating_mul(1_000_000_000) / rate;
        let took = std::time::Duration::from_nanos(u64::try_from(took).unwrap_or(u64::MAX));
        *budget = Budget {
            left,
            at: budget.at + took,
        };
    }
}

/// Encodes a batch of extrinsics.
pub(super) fn encode(batch: &[Vec<u8>]) -> Vec<u8> {
    let size = batch.iter().fold(0usize, |size, tx| {
        size.saturating_add(4).saturating_add(tx.len())
    });
    let mut message = Vec::with_capacity(size);
    // Extrinsics are far below 4 GiB (the pool refuses larger ones before they are queued).
    let _ = super::frames::encode(&mut message, batch.iter().map(Vec::as_slice));
    message
}

/// Splits a batch; `None` if it is malformed, empty or longer than [`MAX_BATCH`].
pub(super) fn decode(body: &[u8]) -> Option<Vec<Vec<u8>>> {
    super::frames::decode(body, MAX_BATCH).filter(|batch| !batch.is_empty())
}

/// Spawns the relay: sends batches of locally submitted extrinsics to every peer and pools
/// the ones peers send.
pub(super) fn spawn<E, C, S, R>(
    context: E,
    chain: C,
    mut sender: S,
    mut receiver: R,
    max_message: u32,
) -> Handle<()>
where
    E: Rt,
    C: Chain,
    S: Sender<PublicKey = PublicKey>,
    R: Receiver<PublicKey = PublicKey>,
{
    let max_bytes = usize::try_from(max_message).unwrap_or(usize::MAX);
    context.spawn(move |context| async move {
        let mut queue = chain.relay_queue();
        let mut budgets = Budgets::new();
        // An extrinsic that did not fit the last message: the first of the next.
        let mut carried: Option<Vec<u8>> = None;
        let mut send =
            |queue: &mut Option<Queue>, first: Vec<u8>, carried: &mut Option<Vec<u8>>| {
                let (batch, overflow) = drain(queue.as_mut(), first, max_bytes);
                if !batch.is_empty() {
                    let _ = sender.send(Recipients::All, encode(&batch), false);
                }
                *carried = overflow;
            };
        loop {
            tokio::select! {
                // Polled in order, never at random: the deterministic runtime must replay a seed.
                biased;
                received = receiver.recv() => {
                    let Ok((peer, message)) = received else { break };
                    match decode(message.as_ref()) {
                        Some(mut batch) => {
                            let verified = budgets.admit(&peer, context.current(), batch.len());
                            if verified < batch.len() {
                                let dropped = batch.len() - verified;
                                debug!(?peer, dropped, "a peer relayed past its budget");
                                batch.truncate(verified);
                            }
                            if !batch.is_empty() {
                                chain.receive_transactions(batch);
                            }
                        }
                        None => debug!(?peer, "dropping a malformed transaction batch"),
                    }
                    // Receiving is polled first, so a peer that keeps it busy would hold back
                    // this node's own submissions until their queue dropped them: one message
                    // of them goes out after every message received.
                    if let Some(first) = queued_submission(&mut queue, &mut carried) {
                        send(&mut queue, first, &mut carried);
                    }
                }
                first = next_submission(&mut queue, &mut carried) => {
                    let Some(first) = first else {
                        queue = None; // The chain stopped relaying; keep receiving.
                        continue;
                    };
                    send(&mut queue, first, &mut carried);
                }
            }
        }
        debug!("transaction channel closed");
    })
}

/// The queue of this node's own submissions ([`Chain::relay_queue`]).
type Queue = tokio::sync::broadcast::Receiver<Vec<u8>>;

/// The carried extrinsic, else the next queued one if any, without waiting.
fn queued_submission(queue: &mut Option<Queue>, carried: &mut Option<Vec<u8>>) -> Option<Vec<u8>> {
    carried.take().or_else(|| try_next(queue.as_mut()?))
}

/// The next queued submission if any, without waiting, skipping over a lag.
fn try_next(queue: &mut Queue) -> Option<Vec<u8>> {
    // Bounded: a lag is skipped at most once per missed run of submissions.
    loop {
        match queue.try_recv() {
            Ok(tx) => return Some(tx),
            Err(TryRecvError::Lagged(_)) => continue,
            Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
        }
    }
}

/// The carried extrinsic, else the next submission, skipping over a lag; `None` once the
/// queue is closed; never if there is no queue and nothing carried.
async fn next_submission(
    queue: &mut Option<Queue>,
    carried: &mut Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    if let Some(tx) = carried.take() {
        return Some(tx);
    }
    let Some(receiver) = queue else {
        return std::future::pending().await;
    };
    loop {
        match receiver.recv().await {
            Ok(tx) => return Some(tx),
            Err(RecvError::Lagged(missed)) => {
                warn!(
                    missed,
                    "the relay fell behind; some submissions are not relayed"
                );
            }
            Err(RecvError::Closed) => return None,
        }
    }
}

/// `first` and whatever else is queued, up to [`MAX_BATCH`] extrinsics and `max_bytes`; and
/// the extrinsic taken off the queue that did not fit, for the next message (before, it was
/// lost to the relay: once per batch, a client sending large extrinsics made whichever
/// submission came next go unrelayed). An extrinsic too large for any message (the pool's
/// own bound keeps them far smaller) is not relayed.
fn drain(
    queue: Option<&mut Queue>,
    first: Vec<u8>,
    max_bytes: usize,
) -> (Vec<Vec<u8>>, Option<Vec<u8>>) {
    let mut size = first.len().saturating_add(4);
    let mut batch = Vec::new();
    if size <= max_bytes {
        batch.push(first);
    }
    let Some(queue) = queue else {
        return (batch, None);
    };
    while batch.len() < MAX_BATCH {
        let Some(tx) = try_next(queue) else { break };
        size = size.saturating_add(tx.len()).saturating_add(4);
        if size > max_bytes {
            return (batch, Some(tx));
        }
        batch.push(tx);
    }
    (batch, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_round_trip_and_malformed_batches_are_refused() {
        let batch = vec![b"first".to_vec(), Vec::new(), b"third".to_vec()];
        let message = encode(&batch);
        assert_eq!(decode(&message), Some(batch));
        assert_eq!(decode(&message[..message.len() - 1]), None, "truncated");
        assert_eq!(decode(&[]), None, "empty");
        let too_many = encode(&vec![b"x".to_vec(); MAX_BATCH + 1]);
        assert_eq!(decode(&too_many), None);
        let most = encode(&vec![b"x".to_vec(); MAX_BATCH]);
        assert_eq!(decode(&most).map(|b| b.len()), Some(MAX_BATCH));
    }

    #[test]
    fn draining_stops_at_the_batch_and_byte_limits() {
        let (sender, mut receiver) = tokio::sync::broadcast::channel(MAX_BATCH * 2);
        for i in 0..MAX_BATCH + 10 {
            sender
                .send(vec![u8::try_from(i % 256).unwrap(); 10])
                .unwrap();
        }
        let first = receiver.try_recv().expect("queued");
        let (batch, overflow) = drain(Some(&mut receiver), first, usize::MAX);
        assert_eq!((batch.len(), overflow), (MAX_BATCH, None));
        let first = receiver.try_recv().expect("queued");
        // 14 bytes per extrinsic on the wire: three fit in 42.
        let (batch, _) = drain(Some(&mut receiver), first, 42);
        assert_eq!(batch.len(), 3);
    }

    /// Found in review (docs/reliability.md): a configured peer could have this node verify
    /// up to 256 batches of 1,024 extrinsics a second — the channel's message quota — and the
    /// module said it cost the peer nothing but its quota. Now each peer gets a burst of two
    /// batches and then `RELAYED_PER_PEER_PER_SEC`; another peer's budget is its own.
    #[test]
    fn a_peer_has_this_node_verify_at_most_its_budget_of_relayed_extrinsics() {
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        let at = |millis: u64| start + std::time::Duration::from_millis(millis);
        let mut budgets = Budgets::new();
        // A flood: 256 full batches, 4 ms apart (the last at 1,020 ms).
        let verified: usize = (0..256u64)
            .map(|i| budgets.admit(&1u8, at(i * 4), MAX_BATCH))
            .sum();
        // The burst and 1.02 s of the rate.
        let most = RELAY_BURST + RELAYED_PER_PEER_PER_SEC * 1_020 / 1_000;
        assert!(verified as u64 <= most, "{verified} verified in a second");
        assert!(
            verified as u64 >= RELAY_BURST,
            "the burst is honoured: {verified}"
        );
        // Another peer is not held back by the first.
        assert_eq!(budgets.admit(&2u8, at(1_000), MAX_BATCH), MAX_BATCH);
        // The flooding peer gets its rate back as time passes, never more than the burst.
        let refilled = budgets.admit(&1u8, at(1_040), MAX_BATCH);
        assert!(
            (81..=82).contains(&refilled),
            "20 ms of its rate: {refilled}"
        );
        assert_eq!(
            budgets.admit(&1u8, at(60_000), 10 * MAX_BATCH),
            2 * MAX_BATCH
        );
        // A clock that goes back refills nothing, and the budget counts on from there.
        assert_eq!(budgets.admit(&1u8, at(0), 1), 0);
        assert_eq!(budgets.admit(&1u8, at(500), MAX_BATCH), MAX_BATCH);
    }

    /// Found in review of the budget: each refill moved the bucket's clock to now and dropped
    /// the fraction of a token earned, so a peer sending every millisecond got 4 of the 4.096
    /// tokens each millisecond earned. The remainder now carries over: a second of such
    /// messages gets the whole rate.
    #[test]
    fn a_peer_sending_every_millisecond_gets_its_whole_rate() {
        let start = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        let at = |millis: u64| start + std::time::Duration::from_millis(millis);
        let mut budgets = Budgets::new();
        assert_eq!(budgets.admit(&1u8, at(0), 10 * MAX_BATCH), 2 * MAX_BATCH);
        let verified: usize = (1..=1_000u64)
            .map(|millis| budgets.admit(&1u8, at(millis), MAX_BATCH))
            .sum();
        assert_eq!(verified as u64, RELAYED_PER_PEER_PER_SEC);
    }

    /// The extrinsic that did not fit a message is the first of the next, not lost.
    #[test]
    fn a_transaction_that_overflows_a_batch_is_relayed_in_the_next() {
        let (sender, receiver) = tokio::sync::broadcast::channel(16);
        for i in 0..5u8 {
            sender.send(vec![i; 10]).unwrap();
        }
        let (mut queue, mut carried) = (Some(receiver), None);
        let mut relayed = Vec::new();
        // Bounded: each round takes at least one extrinsic.
        while let Some(first) = queued_submission(&mut queue, &mut carried) {
            // 14 bytes per extrinsic on the wire: two fit in 30.
            let (batch, overflow) = drain(queue.as_mut(), first, 30);
            assert_eq!(batch.len(), if overflow.is_some() { 2 } else { 1 });
            relayed.extend(batch);
            carried = overflow;
        }
        assert_eq!(relayed, (0..5u8).map(|i| vec![i; 10]).collect::<Vec<_>>());
    }
}
