//! Evidence that a validator signed two conflicting consensus votes, and its slashing.
//!
//! # What counts
//!
//! In one round (epoch, view) an honest validator signs at most one *notarize* vote, at most
//! one *finalize* vote, and never both a *nullify* (skip the view) and a *finalize*. Two
//! signatures by one consensus key that break this, for the same round, are [`Equivocation`]:
//!
//! | first | second | conflict when |
//! |---|---|---|
//! | notarize | notarize | the proposals (parent view, block) differ |
//! | finalize | finalize | the proposals differ |
//! | nullify | finalize | always (either order) |
//!
//! # What is signed
//!
//! The node signs votes with commonware `simplex` over the ed25519 scheme. This module
//! rebuilds the exact signed bytes so the runtime can check the signatures without the
//! consensus library (the node's tests sign votes with the library and check that these bytes
//! verify, so a change of format in an upgrade fails a test):
//!
//! ```text
//! signed  = varint(len(kind_ns)) ‖ kind_ns ‖ message
//! kind_ns = consensus_namespace(chain id, genesis) ‖ "/consensus" ‖ ("_NOTARIZE" | "_FINALIZE" | "_NULLIFY")
//! message = varint(epoch) ‖ varint(view) [‖ varint(parent view) ‖ block hash]   (nullify: no proposal)
//! ```
//!
//! with LEB128 varints. The namespace binds the evidence to this chain: a validator's votes on
//! another chain with the same key are not evidence here. The runtime learns it at block 1
//! ([`ConsensusNamespace`]), from the chain id in the genesis config and the genesis hash;
//! evidence executed in block 1 itself, before its end records the namespace, is checked
//! against the namespace being recorded (an equivocation in the first views is reported at
//! once and lands there).
//!
//! # Penalty
//!
//! A valid report slashes [`Config::EQUIVOCATION_SLASH_PERCENT`] of the offender's validator
//! bond (its candidacy's, else its leaving bond), pays
//! [`Config::EQUIVOCATION_REWARD_PERCENT`] of the slash to the reporter and burns the rest,
//! and withdraws the offender's candidacy (the rest of its bond then leaves as after
//! `unregister_validator`). One offence per key and epoch is punished; evidence is accepted
//! while the epoch's committee is in state (the previous, current and next epoch).

use super::*;
use scale_info::TypeInfo;
use serde::Serialize;

/// The bytes every consensus signature of a chain is bound to: `"agora/" ‖ chain id ‖
/// genesis hash`.
pub fn consensus_namespace(chain_id: &[u8], genesis: &Hash) -> Vec<u8> {
    let mut namespace = b"agora/".to_vec();
    namespace.extend_from_slice(chain_id);
    namespace.extend_from_slice(&genesis.0);
    namespace
}

/// What a vote says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum Vote {
    /// "This proposal is valid": notarize.
    #[codec(index = 0)]
    Notarize {
        /// View of the proposal's parent.
        parent_view: u64,
        /// The proposed block.
        block: Hash,
    },
    /// "This proposal is final": finalize.
    #[codec(index = 1)]
    Finalize {
        /// View of the proposal's parent.
        parent_view: u64,
        /// The proposed block.
        block: Hash,
    },
    /// "Skip this view": nullify.
    #[codec(index = 2)]
    Nullify,
}

/// One signed vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct SignedVote {
    /// The vote.
    pub vote: Vote,
    /// The ed25519 signature over its signed bytes (see the [module docs](self)).
    #[serde(with = "signature_hex")]
    pub signature: [u8; 64],
}

mod signature_hex {
    pub(super) fn serialize<S: serde::Serializer>(
        bytes: &[u8; 64],
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("0x{}", hex_encode(bytes)))
    }

    fn hex_encode(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Two conflicting votes of one validator in one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Equivocation {
    /// The offender's consensus key.
    pub offender: Hash,
    /// The round's epoch.
    pub epoch: u64,
    /// The round's view.
    pub view: u64,
    /// One vote.
    pub first: SignedVote,
    /// The conflicting vote.
    pub second: SignedVote,
}

/// Appends `value` as an unsigned LEB128 varint.
fn varint(out: &mut Vec<u8>, mut value: u64) {
    // Bounded: at most 10 bytes for a u64.
    loop {
        let byte = u8::try_from(value & 0x7f).unwrap_or_default();
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The bytes a validator signs for `vote` in round (`epoch`, `view`) of the chain whose
/// [`consensus_namespace`] is `namespace`.
pub fn signed_bytes(namespace: &[u8], epoch: u64, view: u64, vote: &Vote) -> Vec<u8> {
    let suffix: &[u8] = match vote {
        Vote::Notarize { .. } => b"_NOTARIZE",
        Vote::Finalize { .. } => b"_FINALIZE",
        Vote::Nullify => b"_NULLIFY",
    };
    let kind_namespace = [namespace, b"/consensus", suffix].concat();
    let mut out = Vec::with_capacity(kind_namespace.len().saturating_add(64));
    varint(
        &mut out,
        u64::try_from(kind_namespace.len()).unwrap_or(u64::MAX),
    );
    out.extend_from_slice(&kind_namespace);
    varint(&mut out, epoch);
    varint(&mut out, view);
    match vote {
        Vote::Notarize { parent_view, block } | Vote::Finalize { parent_view, block } => {
            varint(&mut out, *parent_view);
            out.extend_from_slice(&block.0);
        }
        Vote::Nullify => {}
    }
    out
}

/// Whether two votes of one round conflict (see the [module docs](self)).
pub fn conflict(first: &Vote, second: &Vote) -> bool {
    match (first, second) {
        (Vote::Notarize { .. }, Vote::Notarize { .. })
        | (Vote::Finalize { .. }, Vote::Finalize { .. }) => first != second,
        (Vote::Nullify, Vote::Finalize { .. }) | (Vote::Finalize { .. }, Vote::Nullify) => true,
        _ => false,
    }
}

impl Equivocation {
    /// Whether the two votes conflict and both signatures verify under the offender's key
    /// for the chain whose [`consensus_namespace`] is `namespace`.
    pub fn verify(&self, namespace: &[u8]) -> bool {
        let signed = |vote: &SignedVote| {
            verify(
                &self.offender,
                &signed_bytes(namespace, self.epoch, self.view, &vote.vote),
                &vote.signature,
            )
        };
        conflict(&self.first.vote, &self.second.vote) && signed(&self.first) && signed(&self.second)
    }
}

fn verify(key: &Hash, message: &[u8], signature: &[u8; 64]) -> bool {
    use sp_core::Pair as _;
    sp_core::ed25519::Pair::verify(
        &sp_core::ed25519::Signature::from_raw(*signature),
        message,
        &sp_core::ed25519::Public::from_raw(key.0),
    )
}

impl<T: Config> Pallet<T> {
    /// The chain's consensus namespace, known from block 1 on.
    pub fn consensus_namespace(state: &impl StateRead) -> Option<Vec<u8>> {
        ConsensusNamespace::get(state)
    }

    /// Records the consensus namespace at the end of block 1 (the genesis hash is block 1's
    /// parent).
    pub(crate) fn note_namespace(ext: &mut Ext<'_>) {
        if ConsensusNamespace::get(ext).is_some() {
            return;
        }
        if let Some(namespace) = Self::namespace_in_block_one(ext) {
            ConsensusNamespace::put(ext, &namespace);
        }
    }

    /// The namespace evidence is checked against: the recorded one, or during block 1 (before
    /// its end records it) the one being recorded. Without the second, a report of an
    /// equivocation in the chain's first views, which lands in block 1, would fail and, being
    /// reported once, go unpunished.
    fn namespace_now(ext: &Ext<'_>) -> Option<Vec<u8>> {
        ConsensusNamespace::get(ext).or_else(|| Self::namespace_in_block_one(ext))
    }

    /// `"agora/" ‖ chain id ‖ genesis hash` while executing block 1 (whose parent is genesis);
    /// `None` in any other block.
    fn namespace_in_block_one(ext: &Ext<'_>) -> Option<Vec<u8>> {
        if pallet_system::Pallet::<T>::block_number(ext) != 1 {
            return None;
        }
        let genesis = pallet_system::ParentHash::get(ext).unwrap_or_default();
        let chain_id = ChainId::get(ext).unwrap_or_default();
        Some(consensus_namespace(&chain_id, &genesis))
    }

    /// Checks `evidence` and slashes the offender; `reporter` is rewarded. All-or-nothing.
    pub fn report_equivocation(
        ext: &mut Ext<'_>,
        reporter: &AccountId,
        evidence: &Equivocation,
    ) -> DispatchResult {
        let Equivocation {
            offender,
            epoch,
            view,
            first,
            second,
        } = evidence;
        ensure!(
            conflict(&first.vote, &second.vote),
            Self::error(Error::NotAnEquivocation)
        );
        let committee = Committees::get(ext, epoch).ok_or(Self::error(Error::EvidenceTooOld))?;
        let account = committee
            .iter()
            .find(|v| v.consensus_key == *offender)
            .map(|v| v.account)
            .ok_or(Self::error(Error::NotInCommittee))?;
        let offences = Offences::get(ext).unwrap_or_default();
        ensure!(
            !offences.contains(&(*epoch, *offender)),
            Self::error(Error::AlreadyReported)
        );
        let namespace = Self::namespace_now(ext).ok_or(Self::error(Error::EvidenceTooOld))?;
        ensure!(
            evidence.verify(&namespace),
            Self::error(Error::BadEvidenceSignature)
        );

        let mut offences = BoundedVec::with_bound(offences, T::MAX_VALIDATORS.saturating_mul(3));
        offences
            .try_push((*epoch, *offender))
            .map_err(|_| Self::error(Error::AlreadyReported))?;

        // The offender's validator bond: its candidacy's and what is still leaving, together
        // (a validator that unregisters and stands again with a smaller bond is answerable
        // for both).
        let candidate = Candidates::get(ext, &account);
        let mut leaving = Leaving::get(ext).unwrap_or_default();
        let still_leaving = leaving
            .iter()
            .find(|(who, _)| *who == account)
            .map_or(0, |(_, bond)| *bond);
        let bond = candidate
            .as_ref()
            .map_or(0, |c| c.bond)
            .saturating_add(still_leaving);
        let penalty =
            bond.saturating_mul(Balance::from(T::EQUIVOCATION_SLASH_PERCENT.min(100))) / 100;
        let (burned, rewarded) = Self::slash_committed_rewarding(
            ext,
            &account,
            penalty,
            reporter,
            (T::EQUIVOCATION_REWARD_PERCENT, Balance::MAX),
        );
        let slashed = burned.saturating_add(rewarded);
        let rest = bond.saturating_sub(slashed);
        // The rest of the bond leaves as after `unregister_validator` (the offender sits in a
        // kept committee, so it leaves when no kept committee holds it).
        if candidate.is_some() {
            Self::remove_candidate(ext, &account);
        }
        match leaving.iter_mut().find(|(who, _)| *who == account) {
            Some((_, left)) => *left = rest,
            None => leaving.push((account, rest)),
        }
        leaving.retain(|(_, bond)| *bond != 0);
        Leaving::put(ext, &leaving);
        Offences::put(ext, &offences.into_inner());
        Self::deposit_event(
            ext,
            Event::Equivocated {
                who: account,
                epoch: *epoch,
                view: *view,
                slashed,
                reporter: *reporter,
                rewarded,
            },
        );
        Ok(())
    }

    /// Forgets offences of epochs whose committees are dropped (called at an epoch start).
    pub(crate) fn prune_offences(ext: &mut Ext<'_>, oldest_kept: u64) {
        let mut offences = Offences::get(ext).unwrap_or_default();
        let before = offences.len();
        offences.retain(|(epoch, _)| *epoch >= oldest_kept);
        if offences.len() != before {
            Offences::put(ext, &offences);
        }
    }
}
