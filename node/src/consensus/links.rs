//! Links between nodes as a node receives from them: every message a peer sends passes through
//! [`Links`] before any service sees it, which may deliver it, deliver it late or lose it.
//!
//! A production node has no [`Links`] and every message is delivered as it arrives. The
//! whole-node simulation gives every node one that partitions the network, loses and delays
//! messages by a seeded random draw, and silences a withholding validator: faults a real
//! network shows, injected where they cost nothing when absent.
//!
//! A late message holds back the messages behind it on the same channel, whoever sent them
//! (one filter wraps a node's whole channel, all senders together), so delays queue one after
//! another; messages are never reordered within a channel.

use super::Rt;
use commonware_cryptography::ed25519::PublicKey;
use commonware_p2p::{Message, Receiver};
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What happens to one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered as it arrives.
    Now,
    /// Delivered after this long.
    After(Duration),
    /// Lost.
    Never,
}

/// Decides the fate of each message `to` receives `from` another node (both ed25519 p2p
/// keys). Called in the order messages arrive, so a seeded implementation replays exactly.
pub trait Links: std::fmt::Debug + Send + Sync + 'static {
    /// The fate of the next message `to` receives `from`.
    fn deliver(&self, from: &[u8; 32], to: &[u8; 32]) -> Delivery;
}

/// A p2p receiver whose messages pass through [`Links`] first.
pub(super) struct Filtered<R, E> {
    inner: R,
    filter: Option<(Arc<dyn Links>, [u8; 32], E)>,
    /// A late message and when it is due. Kept here, not in the `recv` future, because a
    /// consumer's `select!` drops that future whenever another branch wins (a timer, say):
    /// held in the future, a late message was lost with it, so delays longer than a
    /// consumer's timer acted as losses.
    late: Option<(SystemTime, Message<PublicKey>)>,
}

impl<R: std::fmt::Debug, E> std::fmt::Debug for Filtered<R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filtered")
            .field("inner", &self.inner)
            .field("links", &self.filter.as_ref().map(|(links, _, _)| links))
            .finish()
    }
}

impl<R, E> Filtered<R, E> {
    /// `inner`'s messages for the node with key `me`, through `links` (none: all delivered).
    pub(super) fn new(inner: R, links: Option<Arc<dyn Links>>, me: [u8; 32], context: E) -> Self {
        Filtered {
            inner,
            filter: links.map(|links| (links, me, context)),
            late: None,
        }
    }
}

impl<R, E> Receiver for Filtered<R, E>
where
    R: Receiver<PublicKey = PublicKey>,
    E: Rt,
{
    type Error = R::Error;
    type PublicKey = PublicKey;

    /// Cancel-safe: a message taken from the inner receiver is either returned or kept in
    /// `late` until it is due.
    async fn recv(&mut self) -> Result<Message<PublicKey>, Self::Error> {
        loop {
            if let Some((due, _)) = &self.late {
                if let Some((_, _, context)) = &self.filter {
                    context.sleep_until(*due).await;
                }
                if let Some((_, message)) = self.late.take() {
                    return Ok(message);
                }
            }
            let (from, message) = self.inner.recv().await?;
            let Some((links, me, context)) = &self.filter else {
                return Ok((from, message));
            };
            let Ok(sender) = <[u8; 32]>::try_from(from.as_ref()) else {
                return Ok((from, message));
            };
            match links.deliver(&sender, me) {
                Delivery::Now => return Ok((from, message)),
                Delivery::After(delay) => {
                    let now = context.current();
                    let due = now.checked_add(delay).unwrap_or(now);
                    self.late = Some((due, (from, message)));
                }
                Delivery::Never => continue,
            }
        }
    }

    fn capacity(&self) -> NonZeroUsize {
        self.inner.capacity()
    }
}
