//! One `simplex` engine per epoch, each with the committee the chain elected for it.
//!
//! # Specification
//!
//! The [`Chain`] says which epoch the next finalized block belongs to and which block opens
//! it ([`Chain::epoch`]), and which committee signs each epoch ([`Chain::committee`]; without
//! one, epoch 0's committee is [`Config::validators`]). The orchestrator polls
//! [`Chain::epoch`] every [`Timeouts::block_request`]; when the epoch changes it:
//!
//! 1. tracks the new committee as the p2p peer set of that epoch (id = 2 · epoch): members
//!    are primary peers, dialed at the address the chain records, else at the address
//!    [`Config`] gives for the key; other configured peers are secondary, accepted but not
//!    dialed — except on a node that sits in no committee of the set (a full node, or a
//!    validator not yet elected), which dials them to follow the chain. The network keeps
//!    the two newest sets, so members of the previous epoch that are still catching up stay
//!    connected;
//! 2. stops the previous epoch's engine;
//! 3. if one of this node's keys is in the committee, starts an engine for the epoch: its
//!    votes, certificates and backfill travel on subchannel `epoch` of the three consensus
//!    channels (commonware's `mux`; messages for an epoch this node does not run are
//!    dropped), its journal lives in partition `<partition>_e<epoch>`, and it starts from
//!    the chain's last finalization if that is of this epoch (a restart), else from the block
//!    that opens the epoch as its genesis;
//! 4. once the chain knows the committee elected for the next epoch ([`Chain::committee`]
//!    of `epoch + 1`, from the election block in the middle of the epoch on) and it has
//!    members outside this epoch's, tracks the epoch's peer set again (id = 2 · epoch + 1)
//!    with those newcomers added as primary peers, dialed at the address the chain records
//!    for them, and the previous committee's leavers as secondary (this set pushes the
//!    previous epoch's out of the window). A newcomer is reached — and so follows the chain
//!    and catches up — from its election on, not only from the first block it must sign;
//!    without this, a validator no peer lists in `--peer` heard nothing until its epoch
//!    began and missed its first views catching up.
//!
//! Every set holds at most [`super::network::max_peers_per_set`] keys, this node's counted
//! (commonware panics on a larger one): keys are taken in order of need — members,
//! newcomers, configured peers, leavers — and the rest left out with a warning. Members
//! always fit (the bound is at least `max_committee` + 1); a newcomer left out is reached
//! from its own epoch; a configured peer left out of the second set stays in the first
//! (tracked beside it) if it fit there; a leaver left out is no longer accepted.
//!
//! The engine of epoch `e` never finalizes past the last block of `e`: at that height the
//! chain re-proposes the last block instead of building a child ([`Chain::propose`]), so the
//! last block of every epoch is finalized by a certificate of its own epoch, and the engine of
//! `e + 1` extends it. A node that is not in the committee follows the chain through
//! [`super::sync`].

use super::{
    certify::Certifier, committee, consensus_namespace, decode_key, glue, to_digest, App, Chain,
    Config, Error, PublicKey, Rt, Scheme, RETENTION_VIEWS,
};
use commonware_consensus::{
    simplex::{self, elector::RoundRobin, ForwardPolicy, SkipBudget, SkipPolicy},
    types::{Epoch, ViewDelta},
};
use commonware_cryptography::{ed25519 as ed, Sha256, Signer as _};
use commonware_p2p::{authenticated::lookup, utils::mux::MuxHandle, Address, AddressableManager};
use commonware_parallel::Sequential;
use commonware_runtime::{buffer::paged::CacheRef, Handle};
use commonware_utils::{ordered::Map, NZUsize, NonZeroDuration, NZU16};
use std::{collections::BTreeMap, net::SocketAddr, time::Duration};
use tracing::{info, warn};

type Mux<E> = MuxHandle<lookup::Sender<PublicKey, E>>;

/// Runs the engine of each epoch in turn (see the [module documentation](self)).
pub(super) struct Orchestrator<E: Rt, C: Chain> {
    pub(super) context: E,
    pub(super) chain: C,
    pub(super) config: Config,
    /// This node's key; `None` for a full node, which never votes.
    pub(super) signer: Option<ed::PrivateKey>,
    pub(super) certifier: Certifier<C>,
    pub(super) votes: Mux<E>,
    pub(super) certificates: Mux<E>,
    pub(super) resolver: Mux<E>,
    pub(super) application: App<E, C>,
    pub(super) reporter: glue::Reporter,
    pub(super) oracle: lookup::Oracle<PublicKey>,
    pub(super) partition: String,
    /// The double-sign guard's record (see [`super::guard`]); `None`: no guard.
    pub(super) record: Option<std::sync::Arc<super::guard::SigningRecord>>,
    /// The most peers a tracked set may hold ([`super::network::max_peers_per_set`]).
    pub(super) max_peer_set: usize,
    /// This node's p2p key (its validator key, or a full node's `--node-key`): commonware
    /// counts it in every set whether listed or not.
    pub(super) me: [u8; 32],
}

impl<E: Rt, C: Chain> Orchestrator<E, C> {
    /// Runs until an engine cannot be started (a corrupt floor) or the double-sign guard
    /// trips; never returns otherwise.
    pub(super) async fn run(mut self) -> Error {
        let mut running: Option<(u64, Option<Handle<()>>)> = None;
        // The epoch whose elected committee was last added to the peer set (step 4).
        let mut announced: Option<u64> = None;
        // Give peers a chance to show a certificate another holder of this key signed before
        // this node signs anything (see `guard`).
        let has_peers = self.config.validators.len() > 1 || !self.config.peers.is_empty();
        if self.record.is_some() && self.signer.is_some() && has_peers {
            for _ in 0..super::guard::STARTUP_GRACE_INTERVALS {
                self.context.sleep(self.config.timeouts.block_request).await;
            }
        }
        loop {
            if let Some((epoch, view)) = self.record.as_ref().and_then(|r| r.tripped()) {
                if let Some((_, Some(engine))) = running.take() {
                    engine.abort();
                }
                return Error::DoubleSign { epoch, view };
            }
            let start = self.chain.epoch();
            if running.as_ref().map(|(epoch, _)| *epoch) != Some(start.epoch) {
                if let Some((_, Some(engine))) = running.take() {
                    engine.abort();
                }
                match self.enter(start).await {
                    Ok(engine) => running = Some((start.epoch, engine)),
                    Err(Error::NoValidators) => {
                        // The state does not know the committee yet; ask again next time.
                        warn!(epoch = start.epoch, "no committee known for the epoch yet");
                    }
                    Err(error) => return error,
                }
            }
            // Only once the epoch's own set is tracked (ids must increase: 2e, then 2e + 1).
            let next = start.epoch + 1;
            let entered = running.as_ref().map(|(epoch, _)| *epoch) == Some(start.epoch);
            if entered && announced != Some(next) {
                if let Ok(elected) = self.certifier.committee_of(next) {
                    if let Err(error) = self.announce(start.epoch, &elected) {
                        warn!(epoch = next, %error, "cannot add the elected committee's newcomers to the peer set");
                    }
                    announced = Some(next);
                }
            }
            self.context.sleep(self.config.timeouts.block_request).await;
        }
    }

    /// Addresses [`Config`] gives, by key.
    fn configured_addresses(&self) -> BTreeMap<[u8; 32], SocketAddr> {
        self.config
            .validators
            .iter()
            .chain(&self.config.peers)
            .map(|(key, address)| (*key, *address))
            .collect()
    }

    /// The peer set of `epoch` (steps 1 and 4 of the [module documentation](self)): its
    /// committee `members` and the `newcomers` elected for the next epoch as primary peers
    /// (dialed, at the address the chain records, else the configured one); `leavers` of the
    /// previous committee as secondary (accepted, not dialed); other configured peers as
    /// secondary, or as primary if this node sits in no committee of the set (a full node, or
    /// a validator not yet elected, dials them to follow the chain). At most `max_peer_set`
    /// keys, this node's counted, in that order of need (see the module documentation).
    fn peer_set(
        &self,
        epoch: u64,
        members: &[super::Member],
        newcomers: &[super::Member],
        leavers: &[super::Member],
    ) -> Result<commonware_p2p::AddressableTrackedPeers<PublicKey>, Error> {
        let book = self.configured_addresses();
        let address_of =
            |member: &super::Member| member.address.or_else(|| book.get(&member.key).copied());
        let sits = |key: &[u8; 32]| members.iter().chain(newcomers).any(|m| m.key == *key);
        // A validator's signer is its p2p key, `me`.
        let follows = self.signer.is_none() || !sits(&self.me);
        // Each key once, the first address kept, and at most `max_peer_set` keys counting this
        // node (commonware counts it whether listed or not, and panics on a larger set), taken
        // in order of need: members, newcomers, configured peers, leavers.
        let mut seen = std::collections::BTreeSet::<[u8; 32]>::new();
        let mut room = self.max_peer_set.saturating_sub(1);
        let mut admit = |key: [u8; 32]| -> Option<bool> {
            if seen.contains(&key) {
                return Some(false);
            }
            if key != self.me {
                room = room.checked_sub(1)?;
            }
            seen.insert(key);
            Some(true)
        };
        let mut primary = Vec::new();
        let mut secondary = Vec::new();
        let mut left_out = 0usize;
        for member in members.iter().chain(newcomers) {
            let Some(address) = address_of(member) else {
                warn!(
                    key = %hex::encode(member.key),
                    epoch,
                    "no address known for a committee member; it cannot be dialed"
                );
                continue;
            };
            match admit(member.key) {
                Some(true) => primary.push((decode_key(&member.key)?, Address::from(address))),
                Some(false) => {}
                None => left_out += 1,
            }
        }
        let configured = book.iter().map(|(key, address)| (*key, *address, true));
        let leaving = leavers
            .iter()
            .filter_map(|member| Some((member.key, address_of(member)?, false)));
        for (key, address, is_configured) in configured.chain(leaving) {
            match admit(key) {
                Some(true) => {
                    let entry = (decode_key(&key)?, Address::from(address));
                    if follows && is_configured {
                        primary.push(entry);
                    } else {
                        secondary.push(entry);
                    }
                }
                Some(false) => {}
                None => left_out += 1,
            }
        }
        if left_out > 0 {
            warn!(
                epoch,
                left_out,
                limit = self.max_peer_set,
                "the epoch's peer set is full; the last newcomers, configured peers or leavers \
                 are left out"
            );
        }
        Ok(commonware_p2p::AddressableTrackedPeers::new(
            Map::from_iter_dedup(primary),
            Map::from_iter_dedup(secondary),
        ))
    }

    /// Step 4 of the [module documentation](self): the committee elected for `epoch + 1` is
    /// known; if it has members outside this epoch's, they join this epoch's peer set.
    fn announce(&mut self, epoch: u64, elected: &[super::Member]) -> Result<(), Error> {
        let members = self.certifier.committee_of(epoch)?;
        let outside = |committee: &[super::Member], m: &super::Member| {
            !committee.iter().any(|c| c.key == m.key)
        };
        let newcomers: Vec<super::Member> = elected
            .iter()
            .filter(|m| outside(&members, m))
            .cloned()
            .collect();
        if newcomers.is_empty() {
            return Ok(());
        }
        // The set of epoch - 1 leaves the window now: keep accepting its leavers.
        let previous = match epoch.checked_sub(1) {
            Some(before) => self.certifier.committee_of(before).unwrap_or_default(),
            None => Vec::new(),
        };
        let leavers: Vec<super::Member> = previous
            .iter()
            .filter(|m| outside(&members, m))
            .cloned()
            .collect();
        let peers = self.peer_set(epoch, &members, &newcomers, &leavers)?;
        info!(
            epoch = epoch + 1,
            joining = newcomers.len(),
            "the next committee is elected; its new members may connect"
        );
        let _ = self.oracle.track(2 * epoch + 1, peers);
        Ok(())
    }

    /// Steps 1 to 3 of the [module documentation](self) for the epoch `start` names. Returns
    /// the engine, if this node sits in the committee.
    async fn enter(&mut self, start: super::EpochStart) -> Result<Option<Handle<()>>, Error> {
        let members = self.certifier.committee_of(start.epoch)?;
        let keys: Vec<[u8; 32]> = members.iter().map(|m| m.key).collect();
        let set = committee(&keys)?;
        let peers = self.peer_set(start.epoch, &members, &[], &[])?;
        let _ = self.oracle.track(2 * start.epoch, peers);
        let Some(signer) = self.signer.clone() else {
            return Ok(None);
        };
        let namespace = consensus_namespace(&self.config.namespace);
        let Some(scheme) = Scheme::signer(&namespace, set, signer.clone()) else {
            info!(
                epoch = start.epoch,
                key = %hex::encode(signer.public_key().as_ref()),
                "not in this epoch's committee; following the chain"
            );
            return Ok(None);
        };
        let floor = match self.chain.last_finalized() {
            Some(bytes) => match self.certifier.decode_verified(&mut self.context, &bytes) {
                Some((finalization, epoch)) if epoch == start.epoch => {
                    simplex::Floor::Finalized(finalization)
                }
                Some(_) => simplex::Floor::Genesis(to_digest(start.opened_by)),
                None => {
                    return Err(Error::InvalidFloor(
                        "signatures do not verify for the committee of its epoch".to_owned(),
                    ))
                }
            },
            None => simplex::Floor::Genesis(to_digest(start.opened_by)),
        };
        let subchannel = start.epoch;
        let register = |error| Error::Stopped(format!("cannot open epoch {subchannel}: {error}"));
        let votes = self.votes.register(subchannel).await.map_err(register)?;
        let certificates = self
            .certificates
            .register(subchannel)
            .await
            .map_err(register)?;
        let resolver = self.resolver.register(subchannel).await.map_err(register)?;
        let timeouts = self.config.timeouts;
        let engine = simplex::Engine::new(
            self.context
                .child("engine")
                .with_attribute("epoch", start.epoch),
            simplex::Config {
                scheme,
                elector: RoundRobin::<Sha256>::default(),
                blocker: self.oracle.clone(),
                automaton: self.application.clone(),
                relay: self.application.clone(),
                reporter: self.reporter.clone(),
                track_historical_votes: false,
                strategy: Sequential,
                partition: format!("{}_e{}", self.partition, start.epoch),
                mailbox_size: NZUsize!(1024),
                epoch: Epoch::new(start.epoch),
                floor,
                replay_buffer: NZUsize!(1024 * 1024),
                write_buffer: NZUsize!(1024 * 1024),
                page_cache: CacheRef::new(NZU16!(4096), NZUsize!(1024)),
                leader_timeout: timeouts.leader,
                certification_timeout: timeouts.certification,
                timeout_retry: timeouts.retry,
                view_retention: ViewDelta::new(RETENTION_VIEWS),
                skip: SkipPolicy::Enabled {
                    timeout: timeouts.skip_inactive_leader,
                    budget: SkipBudget::Participants,
                },
                fetch_timeout: NonZeroDuration::new(timeouts.fetch)
                    .unwrap_or_else(|| NonZeroDuration::new_panic(Duration::from_secs(2))),
                fetch_retry_delay: Duration::from_millis(100),
                forward: ForwardPolicy::SilentLeader,
            },
        );
        info!(epoch = start.epoch, opened_by = %start.opened_by, "starting the epoch's engine");
        Ok(Some(engine.start(votes, certificates, resolver)))
    }
}
