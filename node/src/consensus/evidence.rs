//! Turning the engine's reports of conflicting votes into evidence the chain can judge.
//!
//! `simplex` reports a validator that signed two conflicting votes in one round
//! (`ConflictingNotarize`, `ConflictingFinalize`, `NullifyFinalize`), and so does this node's
//! own witness of the votes channel (`witness.rs`), which catches the pairs `simplex` drops
//! unreported. This module converts a
//! report into [`Equivocation`] (the runtime's form: the offender's key, the round, both votes
//! and their ed25519 signatures, no commonware type), checks both signatures the way the
//! runtime will ([`Equivocation::verify`]), and hands it to [`Chain::equivocation`]. A report
//! whose signatures do not verify is dropped: submitting it would only cost its fee.

use super::{certify::Certifier, to_hash, Chain, Digest, Scheme};
use commonware_codec::{Copying, Encode as _, Read as _};
use commonware_consensus::simplex::types::{Activity, Finalize, Notarize, Nullify, Proposal};
use commonware_cryptography::certificate::Attestation;
use pallet_staking::equivocation::{Equivocation, SignedVote, Vote};

/// The evidence in `activity`, if it reports an equivocation by a member of its epoch's
/// committee (as `certifier` knows it).
pub(super) fn to_evidence<C: Chain>(
    certifier: &Certifier<C>,
    activity: &Activity<Scheme, Digest>,
) -> Option<Equivocation> {
    let bytes = match activity {
        Activity::ConflictingNotarize(evidence) => evidence.encode(),
        Activity::ConflictingFinalize(evidence) => evidence.encode(),
        Activity::NullifyFinalize(evidence) => evidence.encode(),
        _ => return None,
    };
    let mut buf = Copying(&bytes[..]);
    let (first, second) = match activity {
        Activity::ConflictingNotarize(_) => (
            notarize(&Notarize::read_cfg(&mut buf, &()).ok()?)?,
            notarize(&Notarize::read_cfg(&mut buf, &()).ok()?)?,
        ),
        Activity::ConflictingFinalize(_) => (
            finalize(&Finalize::read_cfg(&mut buf, &()).ok()?)?,
            finalize(&Finalize::read_cfg(&mut buf, &()).ok()?)?,
        ),
        _ => (
            nullify(&Nullify::read_cfg(&mut buf, &()).ok()?)?,
            finalize(&Finalize::read_cfg(&mut buf, &()).ok()?)?,
        ),
    };
    let ((epoch, view, signer), first) = first;
    let (second_round, second) = second;
    if (epoch, view, signer) != second_round {
        return None;
    }
    let set = certifier.committee_set(epoch)?;
    let offender = set.iter().nth(usize::try_from(signer).ok()?)?;
    let offender = agora_primitives::Hash(offender.as_ref().try_into().ok()?);
    Some(Equivocation {
        offender,
        epoch,
        view,
        first,
        second,
    })
}

/// (epoch, view, signer index) of a vote.
type Round = (u64, u64, u32);

fn signature(attestation: &Attestation<Scheme>) -> Option<[u8; 64]> {
    attestation.signature.get()?.as_ref().try_into().ok()
}

fn proposal_vote(proposal: &Proposal<Digest>, finalize: bool) -> Vote {
    let parent_view = proposal.parent.get();
    let block = to_hash(proposal.payload);
    if finalize {
        Vote::Finalize { parent_view, block }
    } else {
        Vote::Notarize { parent_view, block }
    }
}

/// `vote` in `round` with `attestation`'s signer and signature.
fn signed(
    round: commonware_consensus::types::Round,
    attestation: &Attestation<Scheme>,
    vote: Vote,
) -> Option<(Round, SignedVote)> {
    let signer = attestation.signer.get();
    Some((
        (round.epoch().get(), round.view().get(), signer),
        SignedVote {
            vote,
            signature: signature(attestation)?,
        },
    ))
}

fn notarize(vote: &Notarize<Scheme, Digest>) -> Option<(Round, SignedVote)> {
    let round = vote.proposal.round;
    signed(
        round,
        &vote.attestation,
        proposal_vote(&vote.proposal, false),
    )
}

fn finalize(vote: &Finalize<Scheme, Digest>) -> Option<(Round, SignedVote)> {
    let round = vote.proposal.round;
    signed(
        round,
        &vote.attestation,
        proposal_vote(&vote.proposal, true),
    )
}

fn nullify(vote: &Nullify<Scheme>) -> Option<(Round, SignedVote)> {
    signed(vote.round, &vote.attestation, Vote::Nullify)
}
