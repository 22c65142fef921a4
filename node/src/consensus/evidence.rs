//! Turning the engine's reports of conflicting votes into evidence the chain can judge.
//!
//! `simplex` reports a validator that signed two conflicting votes in one round
//! (`ConflictingNotarize`, `ConflictingFinalize`, `NullifyFinalize`). This module converts a
//! report into [`Equivocation`] (the runtime's form: the offender's key, the round, both votes
//! and their ed25519 signatures, no commonware type), checks both signatures the way the
//! runtime will ([`Equivocation::verify`]), and hands it to [`Chain::equivocation`]. A report
//! whose signatures do not verify is dropped: submitting it would only cost its fee.

use super::{certify::Certifier, committee, to_hash, Chain, Digest, Scheme};
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
    let keys: Vec<[u8; 32]> = certifier
        .committee_of(epoch)
        .ok()?
        .iter()
        .map(|member| member.key)
        .collect();
    let set = committee(&keys).ok()?;
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

fn round_of(round: commonware_consensus::types::Round, signer: u32) -> Round {
    (round.epoch().get(), round.view().get(), signer)
}

fn notarize(vote: &Notarize<Scheme, Digest>) -> Option<(Round, SignedVote)> {
    Some((
        round_of(vote.proposal.round, vote.attestation.signer.get()),
        SignedVote {
            vote: proposal_vote(&vote.proposal, false),
            signature: signature(&vote.attestation)?,
        },
    ))
}

fn finalize(vote: &Finalize<Scheme, Digest>) -> Option<(Round, SignedVote)> {
    Some((
        round_of(vote.proposal.round, vote.attestation.signer.get()),
        SignedVote {
            vote: proposal_vote(&vote.proposal, true),
            signature: signature(&vote.attestation)?,
        },
    ))
}

fn nullify(vote: &Nullify<Scheme>) -> Option<(Round, SignedVote)> {
    Some((
        round_of(vote.round, vote.attestation.signer.get()),
        SignedVote {
            vote: Vote::Nullify,
            signature: signature(&vote.attestation)?,
        },
    ))
}
