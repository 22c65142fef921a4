//! Checking finalization certificates against the committee of their epoch.
//!
//! A certificate names its epoch in its proposal; the committee of that epoch comes from the
//! chain ([`Chain::committee`]) or, for epoch 0 on a chain that records none, from
//! [`Config::validators`](super::Config::validators). A certificate of an epoch whose
//! committee this node does not know (yet) is not accepted.

use super::{committee, consensus_namespace, Chain, Digest, Error, Member, PublicKey, Scheme};
use commonware_codec::{Copying, Read as _};
use commonware_consensus::simplex::types::{Finalization, Proposal};
use commonware_parallel::Sequential;
use commonware_utils::ordered::Set;
use std::net::SocketAddr;

/// Verifies certificates for a chain (cheap to clone).
#[derive(Clone)]
pub(super) struct Certifier<C> {
    pub(super) chain: C,
    /// `namespace ++ "/consensus"`.
    pub(super) namespace: Vec<u8>,
    /// Epoch 0's committee when the chain records none.
    pub(super) configured: Vec<([u8; 32], SocketAddr)>,
}

impl<C: Chain> Certifier<C> {
    pub(super) fn new(chain: C, namespace: &[u8], configured: Vec<([u8; 32], SocketAddr)>) -> Self {
        Certifier {
            chain,
            namespace: consensus_namespace(namespace),
            configured,
        }
    }

    /// The committee of `epoch`; [`Error::NoValidators`] if it is not known.
    pub(super) fn committee_of(&self, epoch: u64) -> Result<Vec<Member>, Error> {
        if let Some(members) = self.chain.committee(epoch) {
            if members.is_empty() {
                return Err(Error::NoValidators);
            }
            return Ok(members);
        }
        if epoch == 0 && !self.configured.is_empty() {
            return Ok(self
                .configured
                .iter()
                .map(|(key, address)| Member {
                    key: *key,
                    address: Some(*address),
                })
                .collect());
        }
        Err(Error::NoValidators)
    }

    /// The committee of `epoch` as consensus orders it (signer indices point into it).
    pub(super) fn committee_set(&self, epoch: u64) -> Option<Set<PublicKey>> {
        let keys: Vec<[u8; 32]> = self
            .committee_of(epoch)
            .ok()?
            .iter()
            .map(|m| m.key)
            .collect();
        committee(&keys).ok()
    }

    /// A verifying scheme for the committee of `epoch`.
    pub(super) fn verifier(&self, epoch: u64) -> Option<Scheme> {
        Some(Scheme::verifier(
            &self.namespace,
            self.committee_set(epoch)?,
        ))
    }

    /// Decodes `bytes` as a finalization and checks its signatures against the committee of
    /// its epoch; returns it with the epoch, or `None`.
    pub(super) fn decode_verified(
        &self,
        rng: &mut impl rand_core_010::CryptoRng,
        bytes: &[u8],
    ) -> Option<(Finalization<Scheme, Digest>, u64)> {
        let proposal = Proposal::<Digest>::read_cfg(&mut Copying(bytes), &()).ok()?;
        let epoch = proposal.round.epoch().get();
        let scheme = self.verifier(epoch)?;
        let finalization = super::decode_finalization(&scheme, bytes).ok()?;
        if !finalization.verify(rng, &scheme, &Sequential) {
            return None;
        }
        Some((finalization, epoch))
    }
}

impl<C: Chain> Certifier<C> {
    /// Whether `key` signed `finalization` (of `epoch`), by its committee's indices.
    pub(super) fn signed_by(
        &self,
        finalization: &Finalization<Scheme, Digest>,
        epoch: u64,
        key: &[u8; 32],
    ) -> bool {
        let Some(set) = self.committee_set(epoch) else {
            return false;
        };
        let Some(position) = set.iter().position(|member| member.as_ref() == key) else {
            return false;
        };
        finalization
            .certificate
            .signers
            .iter()
            .any(|signer| usize::try_from(signer.get()).is_ok_and(|index| index == position))
    }
}
