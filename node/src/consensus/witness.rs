//! Votes witnessed as they arrive, before the engine sees them, so that an equivocation is
//! reported whatever order its two votes come in.
//!
//! # Why
//!
//! `simplex`'s batcher reports conflicting votes only when it holds the first of the pair as a
//! vote of its own round: a notarize for a proposal other than the one the round already holds
//! (the leader's) is answered `Conflicting`, its sender blocked, and nothing reported — and the
//! sender's vote for the leader's proposal, which would complete the pair, then never arrives.
//! An equivocator whose "other" vote reached every honest node first escaped the slash
//! (`docs/simulation.md`, the `equivocating_validator` evidence finding).
//!
//! # Specification
//!
//! [`Witness`] wraps the votes channel's receiver, beneath the epoch multiplexer, and passes
//! every message on unchanged, in order. Of each message that parses as a subchannel prefix and
//! a `simplex` vote, it keeps the first notarize, the first finalize and the first nullify per
//! round (epoch, view) and **sender** (the p2p key the message came from, which on this chain is
//! the sender's consensus key: votes travel from their signer, never forwarded). A second vote
//! from the same sender in the same round that conflicts with a kept one — a notarize or a
//! finalize for another proposal, a finalize beside a nullify — is sent on the evidence channel
//! as `ConflictingNotarize`, `ConflictingFinalize` or `NullifyFinalize`, once per kind and
//! sender and round. Signatures are not checked here: the evidence task checks both before
//! anything reaches the chain, so a peer sending garbage costs two signature checks and
//! nothing more; and since entries are keyed by sender, no peer can take another's place with
//! a forged first vote.
//!
//! Bounds: [`MAX_ROUNDS`] rounds are kept (the oldest, by epoch and view, dropped first) and
//! [`MAX_SENDERS_PER_ROUND`] senders a round; the witness holds at most three votes per entry.

use super::{Digest, PublicKey, Scheme};
use commonware_codec::Read as _;
use commonware_consensus::simplex::types::{
    Activity, ConflictingFinalize, ConflictingNotarize, Finalize, Notarize, Nullify,
    NullifyFinalize, Proposal, Vote,
};
use commonware_consensus::Epochable as _;
use commonware_consensus::Viewable as _;
use commonware_p2p::{Message, Receiver};
use commonware_utils::channel::mpsc;
use std::collections::BTreeMap;
use std::num::NonZeroUsize;

/// Rounds whose votes are kept: comfortably more than the views an engine retains votes for
/// while a round is undecided.
pub(super) const MAX_ROUNDS: usize = 512;
/// Senders kept a round: every peer a node can be connected to.
pub(super) const MAX_SENDERS_PER_ROUND: usize = 256;

/// (epoch, view).
type Round = (u64, u64);

/// The first vote of each kind one sender cast in one round, and what was reported of it.
#[derive(Default)]
struct Kept {
    notarize: Option<Notarize<Scheme, Digest>>,
    finalize: Option<Finalize<Scheme, Digest>>,
    nullify: Option<Nullify<Scheme>>,
    /// Reported already, each at most once: conflicting notarizes, conflicting finalizes, a
    /// nullify beside a finalize.
    reported_notarizes: bool,
    reported_finalizes: bool,
    reported_nullify_finalize: bool,
}

/// Keeps `vote` in `first` if that is empty; otherwise, if `vote` is for another proposal than
/// the kept one and the pair was not reported yet, the pair (kept first) — reported now.
fn first_or_conflict<V: Clone>(
    first: &mut Option<V>,
    reported: &mut bool,
    vote: V,
    proposal: impl Fn(&V) -> &Proposal<Digest>,
) -> Option<(V, V)> {
    match first {
        None => {
            *first = Some(vote);
            None
        }
        Some(kept) if proposal(kept) != proposal(&vote) && !*reported => {
            *reported = true;
            Some((kept.clone(), vote))
        }
        Some(_) => None,
    }
}

/// What a node has witnessed of the votes channel; see the [module documentation](self).
#[derive(Default)]
pub(super) struct Votes {
    rounds: BTreeMap<Round, BTreeMap<[u8; 32], Kept>>,
}

impl Votes {
    /// Notes `vote` from `sender`; the evidence it completes, if any.
    pub(super) fn witness(
        &mut self,
        sender: [u8; 32],
        vote: Vote<Scheme, Digest>,
    ) -> Option<Activity<Scheme, Digest>> {
        let round = (vote.epoch().get(), vote.view().get());
        if !self.rounds.contains_key(&round) {
            if self.rounds.len() >= MAX_ROUNDS {
                let oldest = *self.rounds.keys().next()?;
                if oldest > round {
                    return None; // Older than everything kept: not worth a place.
                }
                self.rounds.remove(&oldest);
            }
            self.rounds.insert(round, BTreeMap::new());
        }
        let senders = self.rounds.get_mut(&round)?;
        if !senders.contains_key(&sender) && senders.len() >= MAX_SENDERS_PER_ROUND {
            return None;
        }
        let kept = senders.entry(sender).or_default();
        match vote {
            Vote::Notarize(notarize) => first_or_conflict(
                &mut kept.notarize,
                &mut kept.reported_notarizes,
                notarize,
                |v| &v.proposal,
            )
            .map(|(one, two)| Activity::ConflictingNotarize(ConflictingNotarize::new(one, two))),
            Vote::Finalize(finalize) => {
                if let Some(nullify) = &kept.nullify {
                    if !kept.reported_nullify_finalize {
                        kept.reported_nullify_finalize = true;
                        let evidence = NullifyFinalize::new(nullify.clone(), finalize);
                        return Some(Activity::NullifyFinalize(evidence));
                    }
                }
                first_or_conflict(
                    &mut kept.finalize,
                    &mut kept.reported_finalizes,
                    finalize,
                    |v| &v.proposal,
                )
                .map(|(one, two)| Activity::ConflictingFinalize(ConflictingFinalize::new(one, two)))
            }
            Vote::Nullify(nullify) => {
                let evidence = match &kept.finalize {
                    Some(finalize) if !kept.reported_nullify_finalize => {
                        kept.reported_nullify_finalize = true;
                        Some(Activity::NullifyFinalize(NullifyFinalize::new(
                            nullify.clone(),
                            finalize.clone(),
                        )))
                    }
                    _ => None,
                };
                kept.nullify.get_or_insert(nullify);
                evidence
            }
        }
    }
}

/// A votes-channel receiver that witnesses every vote before passing it on (see the
/// [module documentation](self)).
pub(super) struct Witness<R> {
    inner: R,
    votes: Votes,
    evidence: mpsc::UnboundedSender<Activity<Scheme, Digest>>,
}

impl<R: std::fmt::Debug> std::fmt::Debug for Witness<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("inner", &self.inner)
            .field("rounds", &self.votes.rounds.len())
            .finish()
    }
}

impl<R> Witness<R> {
    /// `inner`'s messages, witnessed; evidence goes to `evidence` (the evidence task's
    /// channel, which the engines' reports feed too).
    pub(super) fn new(inner: R, evidence: mpsc::UnboundedSender<Activity<Scheme, Digest>>) -> Self {
        Witness {
            inner,
            votes: Votes::default(),
            evidence,
        }
    }
}

impl<R> Receiver for Witness<R>
where
    R: Receiver<PublicKey = PublicKey>,
{
    type Error = R::Error;
    type PublicKey = PublicKey;

    async fn recv(&mut self) -> Result<Message<PublicKey>, Self::Error> {
        let (from, message) = self.inner.recv().await?;
        if let Ok(sender) = <[u8; 32]>::try_from(from.as_ref()) {
            if let Ok((_, mut payload)) = commonware_p2p::utils::mux::parse(message.clone()) {
                if let Ok(vote) = Vote::<Scheme, Digest>::read_cfg(&mut payload, &()) {
                    if let Some(evidence) = self.votes.witness(sender, vote) {
                        tracing::warn!(sender = %hex::encode(sender), "conflicting votes witnessed");
                        let _ = self.evidence.send(evidence);
                    }
                }
            }
        }
        Ok((from, message))
    }

    fn capacity(&self) -> NonZeroUsize {
        self.inner.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_codec::{Copying, DecodeExt as _};
    use commonware_consensus::types::{Epoch, Round as Rnd, View};
    use commonware_cryptography::{blake3, ed25519 as ed, Signer as _};

    /// Validator `index` of a four-member committee, as a signing scheme.
    fn scheme(index: u8) -> Scheme {
        let key = |i: u8| ed::PrivateKey::decode(Copying(&[i + 1; 32][..])).expect("a seed");
        let keys: Vec<[u8; 32]> = (0..4u8)
            .map(|i| key(i).public_key().as_ref().try_into().expect("32 bytes"))
            .collect();
        let set = super::super::committee(&keys).expect("a committee");
        Scheme::signer(b"witness-test", set, key(index)).expect("a member")
    }

    fn round(view: u64) -> Rnd {
        Rnd::new(Epoch::new(0), View::new(view))
    }

    /// A proposal of block `[block; 32]` in `view`, on the view before.
    fn proposal(view: u64, block: u8) -> Proposal<Digest> {
        Proposal::new(
            round(view),
            View::new(view - 1),
            blake3::Digest([block; 32]),
        )
    }

    fn notarize(scheme: &Scheme, view: u64, block: u8) -> Vote<Scheme, Digest> {
        let signed = Notarize::sign(scheme, proposal(view, block));
        Vote::Notarize(signed.expect("a member signs"))
    }

    fn finalize(scheme: &Scheme, view: u64, block: u8) -> Vote<Scheme, Digest> {
        let signed = Finalize::sign(scheme, proposal(view, block));
        Vote::Finalize(signed.expect("a member signs"))
    }

    fn nullify(scheme: &Scheme, view: u64) -> Vote<Scheme, Digest> {
        Vote::Nullify(Nullify::sign::<Digest>(scheme, round(view)).expect("a member signs"))
    }

    const DAVE: [u8; 32] = [4; 32];
    const BOB: [u8; 32] = [2; 32];

    #[test]
    fn conflicting_notarizes_are_evidence_in_either_order_and_once() {
        let dave = scheme(3);
        for (first, second) in [(1, 2), (2, 1)] {
            let mut votes = Votes::default();
            assert!(votes.witness(DAVE, notarize(&dave, 7, first)).is_none());
            // The same vote again is no conflict.
            assert!(votes.witness(DAVE, notarize(&dave, 7, first)).is_none());
            let evidence = votes.witness(DAVE, notarize(&dave, 7, second));
            let (Vote::Notarize(one), Vote::Notarize(two)) =
                (notarize(&dave, 7, first), notarize(&dave, 7, second))
            else {
                unreachable!("notarizes")
            };
            let expected = Activity::ConflictingNotarize(ConflictingNotarize::new(one, two));
            assert_eq!(
                evidence,
                Some(expected),
                "the first kept, the second beside it"
            );
            // Reported once per round and sender.
            assert!(votes.witness(DAVE, notarize(&dave, 7, 3)).is_none());
            // Another round is another offence.
            assert!(votes.witness(DAVE, notarize(&dave, 8, 1)).is_none());
            assert!(votes.witness(DAVE, notarize(&dave, 8, 2)).is_some());
        }
    }

    #[test]
    fn conflicting_finalizes_and_a_nullify_beside_a_finalize_are_evidence() {
        let dave = scheme(3);
        let mut votes = Votes::default();
        assert!(votes.witness(DAVE, finalize(&dave, 7, 1)).is_none());
        assert!(matches!(
            votes.witness(DAVE, finalize(&dave, 7, 2)),
            Some(Activity::ConflictingFinalize(_))
        ));
        assert!(matches!(
            votes.witness(DAVE, nullify(&dave, 7)),
            Some(Activity::NullifyFinalize(_))
        ));
        // Nullify first, finalize after: the same offence.
        let mut votes = Votes::default();
        assert!(votes.witness(DAVE, nullify(&dave, 9)).is_none());
        assert!(matches!(
            votes.witness(DAVE, finalize(&dave, 9, 1)),
            Some(Activity::NullifyFinalize(_))
        ));
        // A notarize beside a nullify is allowed (a validator may notarize, then time out).
        assert!(votes.witness(DAVE, notarize(&dave, 9, 1)).is_none());
    }

    #[test]
    fn votes_from_different_senders_are_never_paired() {
        // Bob relays a vote of Dave's, or forges one in his name: it is kept as Bob's, so it
        // can neither pair with Dave's own votes nor take the place of Dave's first vote.
        let dave = scheme(3);
        let mut votes = Votes::default();
        assert!(votes.witness(BOB, notarize(&dave, 7, 9)).is_none());
        assert!(votes.witness(DAVE, notarize(&dave, 7, 1)).is_none());
        assert!(matches!(
            votes.witness(DAVE, notarize(&dave, 7, 2)),
            Some(Activity::ConflictingNotarize(_))
        ));
    }

    #[test]
    fn the_rounds_kept_are_bounded_and_the_oldest_go_first() {
        let dave = scheme(3);
        let mut votes = Votes::default();
        let views = u64::try_from(MAX_ROUNDS).expect("small") + 10;
        for view in 1..=views {
            assert!(votes.witness(DAVE, notarize(&dave, view, 1)).is_none());
        }
        assert_eq!(votes.rounds.len(), MAX_ROUNDS);
        // Views 1–10 were dropped: a conflicting vote there pairs with nothing (and takes no place).
        assert!(votes.witness(DAVE, notarize(&dave, 5, 2)).is_none());
        assert_eq!(votes.rounds.len(), MAX_ROUNDS);
        // The newest are kept.
        assert!(votes.witness(DAVE, notarize(&dave, views, 2)).is_some());
        // Senders per round are bounded too.
        let mut votes = Votes::default();
        for sender in 0..MAX_SENDERS_PER_ROUND {
            let key = [
                u8::try_from(sender % 256).expect("small"),
                u8::try_from(sender / 256).expect("small"),
            ];
            let mut id = [0u8; 32];
            id[..2].copy_from_slice(&key);
            assert!(votes.witness(id, notarize(&dave, 7, 1)).is_none());
        }
        assert!(votes.witness(DAVE, notarize(&dave, 7, 1)).is_none());
        assert!(
            votes.witness(DAVE, notarize(&dave, 7, 2)).is_none(),
            "no place for a new sender"
        );
    }
}
