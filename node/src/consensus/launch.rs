//! Starting a node: its services (network, block exchange, sync, follower, relay, blob
//! fetcher), the evidence task, and the epoch orchestrator that runs the engines.

use commonware_codec::{Copying, DecodeExt as _};
use commonware_cryptography::{ed25519 as ed, Signer as _};
use commonware_p2p::{authenticated::lookup, utils::mux::MuxHandle};
use commonware_utils::channel::oneshot;
use std::sync::Arc;

use super::network::{
    certificate_room, max_message_size, max_peers_per_set, mux, start_network, Channels, Peers,
};
use super::{
    blobs, certify, epochs, evidence, glue, guard, relay, sync, witness, BlobFetcher, BlobSource,
    Chain, Config, Consensus, Error, PublicKey, Rt,
};

/// The application half of a node: the block exchange, the sync server and the follower.
pub(super) type App<E, C> = glue::Application<E, C, lookup::Sender<PublicKey, E>>;

/// What every node's services are started with: its signer and public key and its peers.
pub(super) struct Node {
    pub(super) signer: ed::PrivateKey,
    pub(super) me: PublicKey,
    pub(super) peers: Peers,
}

impl Node {
    /// Validates `config`. `primary_all`: see [`Peers::from_config`].
    pub(super) fn from_config(config: &Config, primary_all: bool) -> Result<Self, Error> {
        config.timeouts.validate()?;
        let signer = ed::PrivateKey::decode(Copying(&config.signer_seed[..]))
            .map_err(|_| Error::InvalidValidatorKey("<signer seed>".to_owned()))?;
        let me = signer.public_key();
        let peers = Peers::from_config(config, &me, primary_all)?;
        Ok(Node { signer, me, peers })
    }

    pub(super) fn public_key(&self) -> Result<[u8; 32], Error> {
        self.me
            .as_ref()
            .try_into()
            .map_err(|_| Error::InvalidValidatorKey(hex::encode(self.me.as_ref())))
    }
}

/// The running services every node has, and what the engines need of them.
pub(super) struct Services<E: Rt, C: Chain> {
    /// The engines' automaton and relay.
    pub(super) application: App<E, C>,
    /// The engines' reporter; its finalizations feed the follower.
    pub(super) reporter: glue::Reporter,
    /// Conflicting votes the engines reported.
    pub(super) conflicts: glue::Conflicts,
    /// Block exchange, sync server, follower, transaction relay, the muxers and the network.
    pub(super) handles: Vec<commonware_runtime::Handle<()>>,
    /// The consensus channels, split by epoch.
    pub(super) votes: MuxHandle<lookup::Sender<PublicKey, E>>,
    pub(super) certificates: MuxHandle<lookup::Sender<PublicKey, E>>,
    pub(super) resolver: MuxHandle<lookup::Sender<PublicKey, E>>,
    pub(super) oracle: lookup::Oracle<PublicKey>,
}

/// Starts the network, the block exchange, the sync server, the follower (fed by the
/// engines' reports if `with_engine`, else syncing on its own) and the transaction relay.
#[allow(clippy::too_many_arguments)] // Each is a distinct part of the node; a struct would only rename them.
pub(super) fn start_services<E: Rt, C: Chain, B: BlobSource>(
    context: &E,
    config: &Config,
    chain: C,
    blob_source: B,
    node: Node,
    certifier: certify::Certifier<C>,
    with_engine: bool,
    guard: Option<(Arc<guard::SigningRecord>, [u8; 32])>,
) -> (Services<E, C>, BlobFetcher) {
    let max_message = max_message_size(config, config.max_committee);
    let (network, channels, oracle) =
        start_network(context, config, node.signer, &node.peers, max_message);
    let Channels {
        votes,
        certificates,
        resolver,
        blocks,
        sync,
        transactions,
        blobs,
    } = channels;
    let (application, reporter, finalizations, conflicts) = glue::Application::new(
        Arc::new(context.child("application")),
        chain.clone(),
        blocks.0,
        max_message,
        config.timeouts.block_request,
        guard.as_ref().map(|(record, _)| Arc::clone(record)),
    );
    // Every vote is witnessed before the engine sees it, so that an equivocation is reported
    // whatever order its votes arrive in (`witness`).
    let votes = (votes.0, witness::Witness::new(votes.1, reporter.evidence()));
    let (votes, votes_mux) = mux(context, votes);
    let (certificates, certificates_mux) = mux(context, certificates);
    let (resolver, resolver_mux) = mux(context, resolver);
    let (fetcher, blob_exchange) = blobs::spawn(
        context.child("blobs"),
        blob_source,
        blobs.0,
        blobs.1,
        node.peers.everyone_else.clone(),
    );
    let block_exchange = application.serve_blocks(context.child("blocks"), blocks.1);
    let relay = relay::spawn(
        context.child("relay"),
        chain.clone(),
        transactions.0,
        transactions.1,
        max_message,
    );
    let (sync_sender, sync_receiver) = sync;
    let (runs_in, runs_out) = commonware_utils::channel::mpsc::channel(sync::RUN_QUEUE);
    let server = sync::serve(
        context.child("sync"),
        chain.clone(),
        sync_sender.clone(),
        sync_receiver,
        runs_in,
        max_message,
        certificate_room(config.max_committee),
    );
    let follower = sync::Follower {
        context: context.child("follower"),
        chain,
        blocks: application.clone(),
        sender: sync_sender,
        certifier,
        guard,
        peers: node.peers.everyone_else,
        interval: config.timeouts.block_request,
        state_sync: config.state_sync,
    }
    .spawn(with_engine.then_some(finalizations), runs_out);
    let services = Services {
        application,
        reporter,
        conflicts,
        handles: vec![
            network,
            block_exchange,
            server,
            follower,
            relay,
            blob_exchange,
            votes_mux,
            certificates_mux,
            resolver_mux,
        ],
        votes,
        certificates,
        resolver,
        oracle,
    };
    (services, fetcher)
}

/// Validates `config` and spawns consensus on `context`. `partition` prefixes the journal's
/// storage partitions (tests run several validators in one runtime).
pub(super) fn launch<E: Rt, C: Chain, B: BlobSource>(
    context: E,
    config: Config,
    chain: C,
    blob_source: B,
    partition: &str,
) -> Result<Consensus, Error> {
    let node = Node::from_config(&config, false)?;
    let certifier =
        certify::Certifier::new(chain.clone(), &config.namespace, config.validators.clone());
    // With no committee from the chain, the configured one is the only one there will ever
    // be: a key outside it could never vote.
    let current = chain.epoch().epoch;
    if chain.committee(current).is_none() && node.peers.committee.position(&node.me).is_none() {
        return Err(Error::NotAValidator(hex::encode(node.me.as_ref())));
    }
    let record = match &config.signing_record {
        Some(path) => Some(Arc::new(guard::SigningRecord::open(path).map_err(
            |error| Error::SigningRecord {
                path: path.display().to_string(),
                reason: error.to_string(),
            },
        )?)),
        None => None,
    };
    if let Some(bytes) = chain.last_finalized() {
        let mut rng = context.child("floor");
        let Some((finalization, epoch)) = certifier.decode_verified(&mut rng, &bytes) else {
            return Err(Error::InvalidFloor(
                "it does not decode or its signatures do not verify".to_owned(),
            ));
        };
        // The double-sign guard at start: the chain shows this key signed a round the record
        // does not know (see `guard`).
        let round = (epoch, finalization.proposal.round.view().get());
        let me = node.public_key()?;
        if let Some(record) = &record {
            if record.proves_another_signer(round) && certifier.signed_by(&finalization, epoch, &me)
            {
                return Err(Error::DoubleSign {
                    epoch: round.0,
                    view: round.1,
                });
            }
        }
    }
    spawn_node(
        context,
        config,
        chain,
        blob_source,
        node,
        certifier,
        Some((partition.to_owned(), record)),
    )
}

/// Validates `config` and spawns a full node on `context`: it joins the network with
/// `config.signer_seed` as its p2p identity (which must not be in the committee), keeps up
/// with the finalized chain through the sync protocol and serves blocks and runs to peers.
pub(super) fn launch_full<E: Rt, C: Chain, B: BlobSource>(
    context: E,
    config: Config,
    chain: C,
    blob_source: B,
) -> Result<Consensus, Error> {
    let node = Node::from_config(&config, true)?;
    if node.peers.committee.position(&node.me).is_some() {
        return Err(Error::IsAValidator(hex::encode(node.me.as_ref())));
    }
    let certifier =
        certify::Certifier::new(chain.clone(), &config.namespace, config.validators.clone());
    spawn_node(context, config, chain, blob_source, node, certifier, None)
}

/// What a validator runs engines with: its journal's partition prefix and its signing record.
pub(super) type Voting = (String, Option<Arc<guard::SigningRecord>>);

/// Most distinct offences the evidence task remembers (to hand each to the chain once).
pub(super) const MAX_REMEMBERED_OFFENCES: usize = 1024;

/// Turns the reports of conflicting votes — the engines' and the votes witness's — into
/// checked evidence for the chain (see `evidence.rs`).
pub(super) fn evidence_task<E: Rt, C: Chain>(
    context: &E,
    chain: C,
    certifier: certify::Certifier<C>,
    namespace: Vec<u8>,
    mut conflicts: glue::Conflicts,
) -> commonware_runtime::Handle<()> {
    context.child("evidence").spawn(move |_| async move {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(activity) = conflicts.recv().await {
            let Some(evidence) = evidence::to_evidence(&certifier, &activity) else {
                continue;
            };
            if !evidence.verify(&namespace) {
                tracing::warn!(offender = %evidence.offender, "reported conflicting votes do not verify; dropped");
                continue;
            }
            if seen.len() >= MAX_REMEMBERED_OFFENCES {
                seen.clear();
            }
            if seen.insert((evidence.epoch, evidence.offender)) {
                tracing::warn!(
                    offender = %evidence.offender,
                    epoch = evidence.epoch,
                    view = evidence.view,
                    "a validator equivocated"
                );
                chain.equivocation(evidence);
            }
        }
    })
}

/// Spawns the services and the epoch orchestrator; a validator (`partition` given) runs an
/// engine in every epoch whose committee holds its key.
pub(super) fn spawn_node<E: Rt, C: Chain, B: BlobSource>(
    context: E,
    config: Config,
    chain: C,
    blob_source: B,
    node: Node,
    certifier: certify::Certifier<C>,
    voting: Option<Voting>,
) -> Result<Consensus, Error> {
    let public_key = node.public_key()?;
    let signer = voting.as_ref().map(|_| node.signer.clone());
    let (partition, record) = voting.unzip();
    let record = record.flatten();
    let guard = record.clone().map(|record| (record, public_key));
    let (fetcher_in, fetcher_out) = oneshot::channel();
    let max_peer_set = max_peers_per_set(&config, &node.peers);
    let handle = context.spawn(move |context| async move {
        let (services, fetcher) = start_services(
            &context,
            &config,
            chain.clone(),
            blob_source,
            node,
            certifier.clone(),
            signer.is_some(),
            guard,
        );
        let _ = fetcher_in.send(fetcher);
        let judge = evidence_task(
            &context,
            chain.clone(),
            certifier.clone(),
            config.namespace.clone(),
            services.conflicts,
        );
        let orchestrator = epochs::Orchestrator {
            context: context.child("epochs"),
            chain,
            config,
            signer,
            certifier,
            votes: services.votes,
            certificates: services.certificates,
            resolver: services.resolver,
            application: services.application,
            reporter: services.reporter,
            oracle: services.oracle,
            partition: partition.unwrap_or_default(),
            record,
            max_peer_set,
            me: public_key,
        };
        let mut handles = services.handles;
        handles.push(judge);
        handles.push(context.child("epochs").spawn(move |_| async move {
            let error = orchestrator.run().await;
            tracing::error!(%error, "consensus stopped");
        }));
        // Run until any part stops; the supervision tree then aborts the rest.
        let stopped = commonware_runtime::Handle::select(handles).await;
        tracing::error!(?stopped, "consensus stopped");
    });
    Ok(Consensus {
        handle,
        public_key,
        fetcher: fetcher_out,
    })
}
