//! The authenticated p2p network a node runs: its channels, who it dials and accepts, the
//! largest message it admits, and the per-epoch split of the consensus channels.

use commonware_consensus::simplex;
use commonware_cryptography::{ed25519 as ed, Signer as _};
use commonware_p2p::{
    authenticated::lookup,
    utils::mux::{MuxHandle, Muxer},
    Address,
};
use commonware_runtime::Quota;
use commonware_stream::{
    cups::{self, Cups},
    sake::{self, Sake},
};
use commonware_utils::{ordered::Map, NZUsize, NZU32};
use std::time::Duration;

use super::{
    channel, committee, decode_key, links, p2p_namespace, sync, Config, Digest, Error, PublicKey,
    Rt, Scheme,
};

/// The p2p channels every node registers, validator or not (a full node drains the ones it
/// has no use for: a peer sending on an unregistered channel is disconnected).
pub(super) struct Channels<E: Rt> {
    pub(super) votes: Channel<E>,
    pub(super) certificates: Channel<E>,
    pub(super) resolver: Channel<E>,
    pub(super) blocks: Channel<E>,
    pub(super) sync: Channel<E>,
    pub(super) transactions: Channel<E>,
    pub(super) blobs: Channel<E>,
}

impl<E: Rt> Channels<E> {
    /// The vote channel, and every other (for a party that only votes and drains the rest).
    #[cfg(test)]
    pub(super) fn votes_and_the_rest(self) -> (Channel<E>, [Channel<E>; 6]) {
        let rest = [
            self.certificates,
            self.resolver,
            self.blocks,
            self.sync,
            self.transactions,
            self.blobs,
        ];
        (self.votes, rest)
    }
}

/// Who a node talks to, from [`Config`]: the committee (dialed, voting) and the other peers
/// (accepted, non-voting), both with addresses; the rotation of peers the follower asks.
pub(super) struct Peers {
    pub(super) committee: commonware_utils::ordered::Set<PublicKey>,
    pub(super) primary: Map<PublicKey, Address>,
    pub(super) secondary: Map<PublicKey, Address>,
    pub(super) everyone_else: Vec<PublicKey>,
}

impl Peers {
    /// `primary_all`: dial every peer (a full node dials the committee and the other full
    /// nodes), or only the committee (a validator accepts the others' connections).
    pub(super) fn from_config(
        config: &Config,
        me: &PublicKey,
        primary_all: bool,
    ) -> Result<Self, Error> {
        let keys: Vec<[u8; 32]> = config.validators.iter().map(|(key, _)| *key).collect();
        let committee = committee(&keys)?;
        let mut primary = Vec::new();
        let mut secondary = Vec::new();
        let mut everyone_else = Vec::new();
        for (key, address) in &config.validators {
            let key = decode_key(key)?;
            if key != *me {
                everyone_else.push(key.clone());
            }
            primary.push((key, Address::from(*address)));
        }
        for (key, address) in &config.peers {
            let key = decode_key(key)?;
            if committee.position(&key).is_some() {
                return Err(Error::DuplicateValidator(hex::encode(key.as_ref())));
            }
            if key == *me {
                continue;
            }
            everyone_else.push(key.clone());
            let entry = (key, Address::from(*address));
            if primary_all {
                primary.push(entry);
            } else {
                secondary.push(entry);
            }
        }
        Ok(Peers {
            committee,
            primary: Map::from_iter_dedup(primary),
            secondary: Map::from_iter_dedup(secondary),
            everyone_else,
        })
    }

    pub(super) fn count(&self) -> usize {
        self.primary.len().saturating_add(self.secondary.len())
    }
}

/// The most keys one tracked set may hold, this node's counted — commonware sizes its
/// channels by it and panics on a larger set — : every configured peer and this node, or a
/// full committee and this node (a node outside the committee), whichever is more. The
/// orchestrator trims its sets to it (`epochs`).
pub(super) fn max_peers_per_set(config: &Config, peers: &Peers) -> usize {
    let committee = usize::try_from(config.max_committee).unwrap_or(usize::MAX);
    peers
        .count()
        .saturating_add(1)
        .max(committee.saturating_add(1))
}

/// The largest certificate a committee of `n` produces, plus room for its encoding.
pub(super) fn certificate_room(n: u32) -> usize {
    simplex::max_payload_size::<Scheme, Digest>(n)
}

/// Starts the authenticated p2p network for `signer` with `peers` and registers the channels.
pub(super) fn start_network<E: Rt>(
    context: &E,
    config: &Config,
    signer: ed::PrivateKey,
    peers: &Peers,
    max_message: u32,
) -> (
    commonware_runtime::Handle<()>,
    Channels<E>,
    lookup::Oracle<PublicKey>,
) {
    let me: [u8; 32] = signer
        .public_key()
        .as_ref()
        .try_into()
        .expect("ed25519 public keys are 32 bytes");
    let handshake = Cups::<_, commonware_cryptography::ChaCha20Poly1305>::new(
        Sake {
            signer,
            synchrony_bound: Duration::from_secs(5),
            max_handshake_age: Duration::from_secs(10),
            version: sake::Version::V1,
        },
        cups::Version::V1,
    );
    let mut p2p = lookup::Config::recommended(
        handshake,
        &p2p_namespace(&config.namespace),
        config.listen,
        NZUsize!(max_peers_per_set(config, peers)),
        max_message,
        NZUsize!(1024),
    );
    p2p.allow_private_ips = config.allow_private_ips;
    p2p.peer_connection_cooldown = Duration::from_secs(1);
    // The dialer wakes at least every `dial_frequency` and at most every cooldown, and redials a
    // peer from a jittered moment 1–1.5 cooldowns after its last attempt. With the recommended
    // 1 s ticks against this 1 s cooldown, the dialer's clamp discarded the jitter: every node
    // redialed a missing peer on its own fixed 2 s beat, and two nodes whose beats lay within a
    // handshake of each other dialed each other at once, each refusing the other's connection
    // while its own dial held the reservation — for good (`docs/simulation.md`). Ticks ten
    // times finer than the cooldown let the jitter decide when each redial happens.
    p2p.dial_frequency = Duration::from_millis(100);
    p2p.allowed_handshake_rate_per_ip = Quota::per_second(NZU32!(16));
    p2p.allowed_handshake_rate_per_subnet = Quota::per_second(NZU32!(128));
    p2p.ping_frequency = Duration::from_secs(5);
    // The current and the previous epoch's peers (see `epochs`).
    p2p.tracked_peer_sets = NZUsize!(2);
    let (mut network, oracle) = lookup::Network::new(context.child("network"), p2p);
    let mut register = |channel, quota| {
        let (sender, receiver) = network.register(channel, quota);
        let receiver =
            links::Filtered::new(receiver, config.links.clone(), me, context.child("links"));
        (sender, receiver)
    };
    // Per-peer quotas, messages a second. A peer over its quota is throttled (its messages
    // wait), not dropped. They also size memory: commonware preallocates, for every channel,
    // one burst from each of `max_peers` peers, in the channel's mailbox and again in the
    // router's (~600 bytes a slot there), whether or not any peer is connected. At 1024 / 1024
    // / 256 / 256 / 64 / 1024 / 256 and 128 peers an idle `--dev` node held ~540 MB; these
    // hold ~100 MB and still leave each channel several times what it carries at the
    // fastest block time measured (50 ms: 20 views a second, ≤ 3 votes and ≤ 3 certificates
    // a view, one block), and the relay packs whatever queued behind a throttled send into
    // its next batch.
    let channels = Channels {
        votes: register(channel::VOTES, Quota::per_second(NZU32!(128))),
        certificates: register(channel::CERTIFICATES, Quota::per_second(NZU32!(128))),
        resolver: register(channel::RESOLVER, Quota::per_second(NZU32!(64))),
        blocks: register(channel::BLOCKS, Quota::per_second(NZU32!(64))),
        sync: register(channel::SYNC, Quota::per_second(NZU32!(16))),
        transactions: register(channel::TRANSACTIONS, Quota::per_second(NZU32!(256))),
        // Up to 64 chunks of 256 KiB a second per peer: 16 MiB/s.
        blobs: register(channel::BLOBS, Quota::per_second(NZU32!(64))),
    };
    (network.start(), channels, oracle)
}

/// The largest p2p message: a block (plus its tag), a consensus certificate (on an epoch's
/// subchannel), or a run of the sync protocol holding at least one block.
pub(super) fn max_message_size(config: &Config, n: u32) -> u32 {
    commonware_p2p::max_message_size(&[
        commonware_p2p::utils::mux::prefixed(simplex::max_payload_size::<Scheme, Digest>(n)),
        sync::max_run_message(config.max_block_size, certificate_room(n)),
    ])
}

/// One p2p channel: its sender, and its receiver behind the node's [`links::Links`].
pub(super) type Channel<E> = (
    lookup::Sender<PublicKey, E>,
    links::Filtered<lookup::Receiver<PublicKey>, E>,
);

/// Splits a consensus channel into per-epoch subchannels; the muxer runs in the returned task.
pub(super) fn mux<E: Rt, R: commonware_p2p::Receiver<PublicKey = PublicKey>>(
    context: &E,
    (sender, receiver): (lookup::Sender<PublicKey, E>, R),
) -> (
    MuxHandle<lookup::Sender<PublicKey, E>>,
    commonware_runtime::Handle<()>,
) {
    let (muxer, handle) = Muxer::new(context.child("mux"), sender, receiver);
    let task = context.child("mux").spawn(move |_| async move {
        let _ = muxer.run().await;
    });
    (handle, task)
}
