//! An equivocating validator for tests: commonware's `conflicter`, on the validator's own key
//! and p2p identity, answers every vote it hears in epoch 0 with conflicting ones (a vote for
//! the same round and another payload). It runs no chain; its other channels stay open and are drained, as an
//! honest node's are (a closed one would disconnect its peers). The protocol tests
//! (`tests.rs`) and the whole-node simulation (`simulation/faults.rs`) both start it.

use super::launch::Node;
use super::network::{max_message_size, mux, start_network};
use super::{Config, Scheme};
use commonware_consensus::simplex::mocks::conflicter;
use commonware_p2p::AddressableManager as _;
use commonware_runtime::{deterministic, Handle, Spawner as _, Supervisor as _};

/// Starts the equivocator `config` describes (a committee member's key and address) under
/// `context`; its tasks, to keep or abort.
pub(super) fn start_equivocator(
    context: &deterministic::Context,
    config: &Config,
) -> Vec<Handle<()>> {
    let node = Node::from_config(config, false).expect("valid configuration");
    let scheme = Scheme::signer(
        &super::consensus_namespace(&config.namespace),
        node.peers.committee.clone(),
        node.signer.clone(),
    )
    .expect("a member");
    let byzantine = context.child("byzantine");
    let max_message = max_message_size(config, config.max_committee);
    let (network, channels, mut oracle) =
        start_network(&byzantine, config, node.signer, &node.peers, max_message);
    let (votes, rest) = channels.votes_and_the_rest();
    let drains = rest.map(|(sender, mut receiver)| {
        byzantine.child("drain").spawn(move |_| async move {
            let _sender = sender;
            while commonware_p2p::Receiver::recv(&mut receiver).await.is_ok() {}
        })
    });
    let conflicter_context = byzantine.child("conflicter");
    let (mut votes, muxer) = mux(&byzantine, votes);
    let task = byzantine.child("run").spawn(move |_| async move {
        let _ = oracle.track(
            0,
            commonware_p2p::AddressableTrackedPeers::new(
                node.peers.primary.clone(),
                node.peers.secondary.clone(),
            ),
        );
        let votes = votes.register(0).await.expect("a fresh subchannel");
        let conflicter =
            conflicter::Conflicter::<_, Scheme, commonware_cryptography::blake3::Blake3>::new(
                conflicter_context,
                conflicter::Config { scheme },
            )
            .start(votes);
        let _ = conflicter.await;
    });
    let mut handles = vec![network, muxer, task];
    handles.extend(drains);
    handles
}
