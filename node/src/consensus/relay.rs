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
//! had been submitted locally (signature, nonce, fees); a peer relaying garbage costs itself
//! its rate quota and nothing else.
//!
//! Sending drains what is queued (up to [`MAX_BATCH`] extrinsics or the message limit) into
//! one message, so a burst of submissions costs few messages. If the queue overflows
//! (`RELAY_QUEUE` in the chain) the oldest submissions are not relayed; they remain in this
//! node's own pool and are included when it leads.

use super::{Chain, PublicKey, Rt};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::Handle;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::{debug, warn};

/// Most extrinsics in one message.
pub const MAX_BATCH: usize = 1_024;

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
    context.spawn(move |_| async move {
        let mut queue = chain.relay_queue();
        loop {
            tokio::select! {
                // Polled in order, never at random: the deterministic runtime must replay a seed.
                biased;
                received = receiver.recv() => {
                    let Ok((peer, message)) = received else { break };
                    let Some(batch) = decode(message.as_ref()) else {
                        debug!(?peer, "dropping a malformed transaction batch");
                        continue;
                    };
                    chain.receive_transactions(batch);
                }
                first = next_submission(&mut queue) => {
                    let Some(first) = first else {
                        queue = None; // The chain stopped relaying; keep receiving.
                        continue;
                    };
                    let batch = drain(queue.as_mut(), first, max_bytes);
                    if !batch.is_empty() {
                        let _ = sender.send(Recipients::All, encode(&batch), false);
                    }
                }
            }
        }
        debug!("transaction channel closed");
    })
}

/// The next submission, skipping over a lag; `None` once the queue is closed; never if
/// there is no queue.
async fn next_submission(
    queue: &mut Option<tokio::sync::broadcast::Receiver<Vec<u8>>>,
) -> Option<Vec<u8>> {
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

/// `first` and whatever else is queued, up to [`MAX_BATCH`] extrinsics and `max_bytes`.
fn drain(
    queue: Option<&mut tokio::sync::broadcast::Receiver<Vec<u8>>>,
    first: Vec<u8>,
    max_bytes: usize,
) -> Vec<Vec<u8>> {
    let mut size = first.len().saturating_add(4);
    let mut batch = Vec::new();
    if size <= max_bytes {
        batch.push(first);
    }
    let Some(queue) = queue else { return batch };
    while batch.len() < MAX_BATCH {
        match queue.try_recv() {
            Ok(tx) => {
                size = size.saturating_add(tx.len()).saturating_add(4);
                if size > max_bytes {
                    // Too big for this message; it is lost to the relay, not to the pool.
                    break;
                }
                batch.push(tx);
            }
            Err(TryRecvError::Lagged(_)) => continue,
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    batch
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
        let batch = drain(Some(&mut receiver), first, usize::MAX);
        assert_eq!(batch.len(), MAX_BATCH);
        let first = receiver.try_recv().expect("queued");
        // 14 bytes per extrinsic on the wire: three fit in 42.
        let batch = drain(Some(&mut receiver), first, 42);
        assert_eq!(batch.len(), 3);
    }
}
