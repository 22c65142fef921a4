//! The `simplex` application: [`Application`] implements the engine's `Automaton` (propose,
//! verify), `Relay` (send proposed blocks to peers) and owns the block channel; [`Reporter`]
//! forwards finalizations to the follower (`sync.rs`), which hands them to the [`Chain`] in
//! order.
//!
//! See the [parent module](super) for the protocol these implement.

use super::{
    guard::SigningRecord, to_digest, to_hash, BlockSource, Chain, Digest, PublicKey, Rt, Scheme,
};
use agora_primitives::Hash;
use commonware_actor::Feedback;
use commonware_consensus::{
    simplex::{
        types::{Activity, Context, Finalization},
        Plan,
    },
    Automaton, CertifiableAutomaton, Relay,
};
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::Handle;
use commonware_utils::channel::{mpsc, oneshot, watch};
use std::{sync::Arc, time::Duration};
use tracing::{debug, warn};

/// Block-channel tag: the body is a block's bytes.
pub(super) const TAG_BLOCK: u8 = 0;
/// Block-channel tag: the body is the 32-byte hash of a wanted block.
pub(super) const TAG_REQUEST: u8 = 1;

/// The consensus application: proposes and verifies through the [`Chain`] and moves block
/// bytes between validators.
pub(super) struct Application<E, C, S> {
    context: Arc<E>,
    chain: C,
    genesis: Hash,
    sender: S,
    /// Bumped every time a block arrives from a peer; waiters re-check the chain.
    arrivals: Arc<watch::Sender<u64>>,
    max_message: u32,
    request_interval: Duration,
    /// The double-sign guard's record, noted before every answer that leads to a vote.
    record: Option<Arc<SigningRecord>>,
}

impl<E, C: Clone, S: Clone> Clone for Application<E, C, S> {
    fn clone(&self) -> Self {
        Application {
            context: Arc::clone(&self.context),
            chain: self.chain.clone(),
            genesis: self.genesis,
            sender: self.sender.clone(),
            arrivals: Arc::clone(&self.arrivals),
            max_message: self.max_message,
            request_interval: self.request_interval,
            record: self.record.clone(),
        }
    }
}

/// Finalizations reported by the engine, in report order.
pub(super) type Finalizations = mpsc::UnboundedReceiver<Finalization<Scheme, Digest>>;

/// Reports of conflicting votes (evidence of equivocation), in report order.
pub(super) type Conflicts = mpsc::UnboundedReceiver<Activity<Scheme, Digest>>;

impl<E, C, S> Application<E, C, S>
where
    E: Rt,
    C: Chain,
    S: Sender<PublicKey = PublicKey>,
{
    /// Creates the application, the reporter to give the engine, the stream of
    /// finalizations to pass to the follower (`sync.rs`) and the stream of conflicting votes
    /// (`evidence.rs`).
    pub(super) fn new(
        context: Arc<E>,
        chain: C,
        sender: S,
        max_message: u32,
        request_interval: Duration,
        record: Option<Arc<SigningRecord>>,
    ) -> (Self, Reporter, Finalizations, Conflicts) {
        let (finalized, finalizations) = mpsc::unbounded_channel();
        let (conflicting, conflicts) = mpsc::unbounded_channel();
        let application = Application {
            context,
            genesis: chain.genesis(),
            chain,
            sender,
            arrivals: Arc::new(watch::Sender::new(0)),
            max_message,
            request_interval,
            record,
        };
        let reporter = Reporter {
            finalized,
            conflicting,
        };
        (application, reporter, finalizations, conflicts)
    }

    /// Notes `round` in the signing record before an answer that leads to a vote in it;
    /// `false` (and no answer may be given) if it cannot be made durable.
    fn note(&self, epoch: u64, view: u64) -> bool {
        match &self.record {
            None => true,
            Some(record) => match record.note((epoch, view)) {
                Ok(()) => true,
                Err(error) => {
                    tracing::error!(%error, epoch, view, "cannot write the signing record; not voting");
                    false
                }
            },
        }
    }

    /// Sends `block`'s bytes to `recipients`, if we have the block and it fits in a message.
    fn send_block(&mut self, block: Hash, recipients: Recipients<PublicKey>) {
        let Some(bytes) = self.chain.block_bytes(block) else {
            debug!(%block, "asked to send a block we do not have");
            return;
        };
        let mut message = Vec::with_capacity(bytes.len().saturating_add(1));
        message.push(TAG_BLOCK);
        message.extend_from_slice(&bytes);
        if u32::try_from(message.len()).map_or(true, |len| len > self.max_message) {
            warn!(%block, size = bytes.len(), "block exceeds the maximum block size; not sent");
            return;
        }
        let _ = Sender::send(&mut self.sender, recipients, message, false);
    }

    /// A receiver that sees a change every time a block arrives from a peer.
    pub(super) fn subscribe_arrivals(&self) -> watch::Receiver<u64> {
        self.arrivals.subscribe()
    }

    /// Asks every peer for `block`.
    pub(super) fn request_block(&mut self, block: Hash) {
        debug!(%block, "requesting block from peers");
        let mut message = Vec::with_capacity(33);
        message.push(TAG_REQUEST);
        message.extend_from_slice(&block.0);
        let _ = Sender::send(&mut self.sender, Recipients::All, message, false);
    }

    /// One `request_interval` from now.
    fn request_deadline(&self) -> std::time::SystemTime {
        let now = self.context.current();
        now.checked_add(self.request_interval).unwrap_or(now)
    }

    /// Returns once the chain knows `block`, asking peers for it every `request_interval`
    /// (the first time after one interval, to give the relay a chance). Never returns if no
    /// peer ever supplies it; callers race it against cancellation.
    async fn wait_for(&mut self, block: Hash) {
        if block == self.genesis {
            return;
        }
        let mut arrivals = self.arrivals.subscribe();
        let mut deadline = self.request_deadline();
        loop {
            if self.chain.has_block(block) {
                return;
            }
            tokio::select! {
                biased;
                changed = arrivals.changed() => {
                    if changed.is_err() {
                        // Unreachable while `self` holds the sender; wait for cancellation.
                        std::future::pending::<()>().await;
                    }
                }
                () = self.context.sleep_until(deadline) => {
                    self.request_block(block);
                    deadline = self.request_deadline();
                }
            }
        }
    }

    /// Serves the block channel: stores blocks peers send and answers their requests.
    pub(super) fn serve_blocks<R>(&self, context: E, mut receiver: R) -> Handle<()>
    where
        R: Receiver<PublicKey = PublicKey>,
    {
        let mut this = self.clone();
        context.spawn(move |_| async move {
            while let Ok((peer, message)) = receiver.recv().await {
                match message.as_ref().split_first() {
                    Some((&TAG_BLOCK, body)) => {
                        match this.chain.receive_block(body.to_vec(), sender_of(&peer)) {
                            Some(block) => {
                                debug!(%block, ?peer, "received block");
                                this.arrivals
                                    .send_modify(|count| *count = count.wrapping_add(1));
                            }
                            None => debug!(?peer, "dropping undecodable block"),
                        }
                    }
                    Some((&TAG_REQUEST, body)) => {
                        let Ok(hash) = <[u8; 32]>::try_from(body) else {
                            debug!(?peer, "dropping malformed block request");
                            continue;
                        };
                        let block = Hash(hash);
                        if this.chain.has_block(block) {
                            this.send_block(block, Recipients::One(peer));
                        }
                    }
                    _ => debug!(?peer, "dropping block-channel message with an unknown tag"),
                }
            }
            debug!("block channel closed");
        })
    }
}

impl<E, C, S> Automaton for Application<E, C, S>
where
    E: Rt,
    C: Chain,
    S: Sender<PublicKey = PublicKey>,
{
    type Context = Context<Digest, PublicKey>;
    type Digest = Digest;

    async fn propose(&mut self, context: Self::Context) -> oneshot::Receiver<Digest> {
        let (mut response, receiver) = oneshot::channel();
        let mut this = self.clone();
        let parent = to_hash(context.parent.1);
        let view = context.round.view().get();
        let epoch = context.round.epoch().get();
        self.context.child("propose").spawn(move |_| async move {
            let build = async {
                this.wait_for(parent).await;
                // Notarized: kept from now on, not forgotten while the block time passes.
                this.chain.claim(parent);
                this.chain.propose(parent, epoch, view).await
            };
            let Some(built) = unless_abandoned(&mut response, build).await else {
                return;
            };
            match built {
                Some(block) if this.note(epoch, view) => {
                    debug!(%block, %parent, view, "proposing");
                    let _ = response.send(to_digest(block));
                }
                Some(_) => {}
                // Dropping the response declines to propose in this view.
                None => warn!(%parent, view, "the chain could not build a block"),
            }
        });
        receiver
    }

    async fn verify(&mut self, context: Self::Context, payload: Digest) -> oneshot::Receiver<bool> {
        let (mut response, receiver) = oneshot::channel();
        let mut this = self.clone();
        let parent = to_hash(context.parent.1);
        let block = to_hash(payload);
        let view = context.round.view().get();
        let epoch = context.round.epoch().get();
        // A key of another length cannot be a committee member's: no block names it.
        let leader = <[u8; 32]>::try_from(context.leader.as_ref()).unwrap_or_default();
        self.context.child("verify").spawn(move |_| async move {
            let check = async {
                this.wait_for(parent).await;
                // Notarized: kept from now on, not forgotten while the proposal arrives (its
                // only sender flooding would otherwise fail this view's verification).
                this.chain.claim(parent);
                this.wait_for(block).await;
                this.chain.verify(parent, block, epoch, leader).await
            };
            let Some(valid) = unless_abandoned(&mut response, check).await else {
                return;
            };
            if !valid {
                warn!(%block, %parent, view, "rejected invalid proposal");
            } else if !this.note(epoch, view) {
                return; // No durable record: no verdict, no vote.
            }
            let _ = response.send(valid);
        });
        receiver
    }
}

/// Runs `work` until it finishes or consensus drops the receiver of `response` (it no longer
/// needs the answer: the view moved on), whichever comes first; `None` in the second case,
/// with `work` abandoned so that a stale view does not keep waiting for blocks.
async fn unless_abandoned<T, O>(
    response: &mut oneshot::Sender<T>,
    work: impl std::future::Future<Output = O>,
) -> Option<O> {
    tokio::select! {
        biased;
        () = response.closed() => None,
        output = work => Some(output),
    }
}

/// Certification is immediate (a verified block is safe to finalize), once the round is in
/// the signing record: finalize votes follow certification.
impl<E, C, S> CertifiableAutomaton for Application<E, C, S>
where
    E: Rt,
    C: Chain,
    S: Sender<PublicKey = PublicKey>,
{
    async fn certify(
        &mut self,
        round: commonware_consensus::types::Round,
        _payload: Digest,
    ) -> oneshot::Receiver<bool> {
        let (response, receiver) = oneshot::channel();
        if self.record.is_none() {
            let _ = response.send(true);
            return receiver;
        }
        let this = self.clone();
        self.context.child("certify").spawn(move |_| async move {
            if this.note(round.epoch().get(), round.view().get()) {
                let _ = response.send(true);
            }
        });
        receiver
    }
}

impl<E, C, S> Relay for Application<E, C, S>
where
    E: Rt,
    C: Chain,
    S: Sender<PublicKey = PublicKey>,
{
    type Digest = Digest;
    type PublicKey = PublicKey;
    type Plan = Plan<PublicKey>;

    fn broadcast(&mut self, payload: Digest, plan: Plan<PublicKey>) -> Feedback {
        let recipients = match plan {
            Plan::Prepare { .. } | Plan::Propose { .. } => Recipients::All,
            Plan::Forward { recipients, .. } => recipients,
        };
        self.send_block(to_hash(payload), recipients);
        Feedback::Ok
    }
}

/// Receives the engine's activity; forwards finalizations to the follower and evidence of
/// equivocation to the evidence task.
#[derive(Clone)]
pub(super) struct Reporter {
    finalized: mpsc::UnboundedSender<Finalization<Scheme, Digest>>,
    conflicting: mpsc::UnboundedSender<Activity<Scheme, Digest>>,
}

impl Reporter {
    /// The channel to the evidence task, for evidence found outside the engines (`witness`).
    pub(super) fn evidence(&self) -> mpsc::UnboundedSender<Activity<Scheme, Digest>> {
        self.conflicting.clone()
    }
}

impl commonware_consensus::Reporter for Reporter {
    type Activity = Activity<Scheme, Digest>;

    fn report(&mut self, activity: Self::Activity) -> Feedback {
        match activity {
            Activity::Finalization(finalization) => {
                return match self.finalized.send(finalization) {
                    Ok(()) => Feedback::Ok,
                    Err(_) => Feedback::Closed,
                };
            }
            // Evidence may be reported before its signatures are verified: the evidence task
            // checks them before anything is submitted.
            Activity::ConflictingNotarize(_)
            | Activity::ConflictingFinalize(_)
            | Activity::NullifyFinalize(_) => {
                warn!(?activity, "conflicting votes reported");
                let _ = self.conflicting.send(activity);
            }
            _ => {}
        }
        Feedback::Ok
    }
}

/// A peer as the chain counts what it sent: its key (every p2p key here is 32 bytes; another
/// length, impossible, counts as one unknown sender).
fn sender_of(peer: &PublicKey) -> BlockSource {
    BlockSource::Peer(<[u8; 32]>::try_from(peer.as_ref()).unwrap_or_default())
}
