//! State sync end to end: a node started empty next to a long chain takes a snapshot of its
//! state instead of replaying it.

use crate::support::{multi_thread_runtime, reserve_port, run_ok, Node, ReservedPort};
use agora_node::chain::{consensus_namespace, Chain, ChainConfig};
use agora_node::consensus::{
    sign_finalization, BlockSource, Chain as _, CheckedEpochEnd, SnapshotInstall,
};
use agora_node::metrics::Metrics;
use agora_node::storage::Database;
use agora_primitives::smt::Node as TreeNode;
use agora_primitives::Hash;
use agora_rpc_api::ChainApiClient;
use agora_runtime::genesis::{dev_account, dev_consensus_seed, ChainSpec};
use pallet_staking::validators::epoch_of;
use parity_scale_codec::DecodeAll;
use sp_core::Pair as _;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Blocks of the chain the new node joins: 20,000 in the suite (a debug build makes ~230
/// blocks a second here); `AGORA_SYNC_TEST_BLOCKS` sets another length (`scripts/bench.sh
/// sync` runs 100,000 in a release build).
fn chain_length() -> u64 {
    std::env::var("AGORA_SYNC_TEST_BLOCKS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(20_000)
}

/// Blocks per epoch of that chain: short, so that the joiner checks the committee of more
/// epochs than one offer carries (`snapshot::MAX_EPOCH_ENDS`) and asks again.
const EPOCH_LENGTH: u64 = 200;

/// `agora-node build-spec --dev --validators 1` (one validator, //Alice; epochs of `epoch`
/// blocks) written to `dir/spec.json`.
fn one_validator_spec(dir: &Path, epoch: u64) -> (ChainSpec, PathBuf) {
    let output = run_ok(Command::new(env!("CARGO_BIN_EXE_agora-node")).args([
        "build-spec",
        "--dev",
        "--validators",
        "1",
        "--epoch-length",
        &epoch.to_string(),
    ]));
    let text = std::str::from_utf8(&output.stdout).unwrap();
    let spec = ChainSpec::from_json(text).unwrap();
    let path = dir.join("spec.json");
    std::fs::write(&path, text).unwrap();
    (spec, path)
}

/// The chain of `spec` in the database a node on `base_path` opens, proposing as //Alice.
fn open_as_alice(spec: &ChainSpec, base_path: &Path) -> Chain {
    let db_path = base_path.join("chains").join(&spec.id).join("db");
    std::fs::create_dir_all(&db_path).unwrap();
    let chain = Chain::open(
        Arc::new(Database::open(&db_path).unwrap()),
        ChainConfig {
            spec: spec.clone(),
            block_time: Duration::from_millis(1),
            referee: None,
            metrics: Metrics::new(),
        },
    )
    .unwrap();
    chain.set_proposer(
        pallet_staking::beacon::BeaconSigner::from_consensus_seed(&dev_consensus_seed("Alice")),
        dev_account("Alice"),
    );
    chain
}

/// Builds `blocks` finalized blocks of `spec` into the database a node on `base_path` opens,
/// each proposed by //Alice through the chain's own block building and finalized with a
/// certificate //Alice signs (a committee of one is its own quorum), without consensus.
fn build_finalized_chain(spec: &ChainSpec, base_path: &Path, blocks: u64) {
    let chain = open_as_alice(spec, base_path);
    let seed = dev_consensus_seed("Alice");
    let key = sp_core::ed25519::Pair::from_seed(&seed).public().0;
    let namespace = consensus_namespace(&spec.id, &chain.genesis_hash());
    let length = spec.genesis.epoch_length;
    let runtime = multi_thread_runtime();
    let mut parent = chain.genesis_hash();
    for number in 1..=blocks {
        let epoch = epoch_of(number, length);
        let block = runtime
            .block_on(chain.propose(parent, epoch, number))
            .unwrap_or_else(|| panic!("block #{number} was not built"));
        let certificate =
            sign_finalization(&namespace, &[key], &[seed], (epoch, number), block).unwrap();
        runtime.block_on(chain.finalized(block, certificate));
        parent = block;
    }
    assert_eq!(chain.finalized_height(), blocks);
    // The validator restarting on this database signed every one of these rounds: its
    // double-sign guard must know, or it refuses to start.
    let record = agora_node::consensus::guard::SigningRecord::open(
        &base_path
            .join("chains")
            .join(&spec.id)
            .join("consensus_signed_through"),
    )
    .unwrap();
    record.note((epoch_of(blocks, length), blocks)).unwrap();
}

/// A validator (//Alice) and a full node joining it (node key //Full), each knowing the other
/// as a peer, on ports held for them.
struct ValidatorAndJoiner {
    spec_path: PathBuf,
    peers: [String; 2],
    ports: [u16; 2],
    _held: [ReservedPort; 2],
}

impl ValidatorAndJoiner {
    fn new(spec: &ChainSpec, spec_path: &Path) -> Self {
        let held = [reserve_port(), reserve_port()];
        let ports = held.each_ref().map(|port| port.port());
        let alice = spec.validators[0].consensus_key;
        let full = sp_core::ed25519::Pair::from_string("//Full", None).unwrap();
        let peers = [
            format!("{alice}@127.0.0.1:{}", ports[0]),
            format!("0x{}@127.0.0.1:{}", hex::encode(full.public().0), ports[1]),
        ];
        ValidatorAndJoiner {
            spec_path: spec_path.to_owned(),
            peers,
            ports,
            _held: held,
        }
    }

    fn start(&self, path: &Path, key: [&str; 2], port: u16, extra: &[&str]) -> Node {
        let port = port.to_string();
        let mut args = vec!["--chain", self.spec_path.to_str().unwrap(), key[0], key[1]];
        args.extend(["--port", &port]);
        args.extend(extra);
        for peer in &self.peers {
            args.extend(["--peer", peer.as_str()]);
        }
        Node::start_with(path, &args)
    }

    /// The validator, on the chain in `path`.
    fn validator(&self, path: &Path) -> Node {
        self.start(path, ["--validator-key", "//Alice"], self.ports[0], &[])
    }

    /// The joiner, a full node on `path`, with `extra` arguments.
    fn joiner(&self, path: &Path, extra: &[&str]) -> Node {
        self.start(path, ["--node-key", "//Full"], self.ports[1], extra)
    }
}

/// A node started empty beside a validator whose chain is long reaches its tip through state
/// sync: it installs a snapshot (checked against the committee of every epoch since genesis)
/// instead of executing the chain, and then executes the blocks after it, which only works
/// if the state it took is the one the chain's state roots commit to.
#[test]
fn an_empty_node_reaches_the_tip_of_a_long_chain_through_state_sync() {
    let blocks = chain_length();
    let dir = tempfile::tempdir().unwrap();
    let (spec, spec_path) = one_validator_spec(dir.path(), EPOCH_LENGTH);
    let server_path = dir.path().join("validator");
    let started = Instant::now();
    build_finalized_chain(&spec, &server_path, blocks);
    let built_in = started.elapsed();

    let pair = ValidatorAndJoiner::new(&spec, &spec_path);
    let validator = pair.validator(&server_path);
    validator.wait_finalized(blocks + 1);

    let started = Instant::now();
    let joiner = pair.joiner(&dir.path().join("joiner"), &[]);
    joiner.wait_for(
        Duration::from_secs(120),
        "the joiner at the chain's length",
        || (joiner.finalized_number() >= blocks).then_some(()),
    );
    let synced_in = started.elapsed();
    let log = joiner.drain_log().join("\n");
    assert!(
        log.contains("state snapshot installed"),
        "the joiner did not sync through a snapshot; log:\n{log}"
    );
    let bytes = log
        .lines()
        .find(|line| line.contains("state sync complete"))
        .and_then(|line| line.split("bytes=").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|bytes| bytes.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no byte count in the joiner's log:\n{log}"));
    // It follows on from the snapshot by executing blocks: its state is the chain's.
    assert_follows(&validator, &joiner);
    // It holds no history below the snapshot.
    let early = joiner.call(|c| c.block_hash(Some(10)));
    assert_eq!(early, None, "the joiner holds block #10 it never fetched");
    // The baseline, in benchmarks only (`AGORA_SYNC_TEST_REPLAY=1`): an empty node that
    // replays every block (`--sync full`) to the same height, with the joiner's key and port.
    drop(joiner);
    let replay = std::env::var_os("AGORA_SYNC_TEST_REPLAY").map(|_| {
        let started = Instant::now();
        let replayer = pair.joiner(&dir.path().join("replayer"), &["--sync", "full"]);
        replayer.wait_for(
            Duration::from_secs(3_600),
            "the replayer at the tip",
            || (replayer.finalized_number() >= blocks).then_some(()),
        );
        format!(",\"full_replay_s\":{:.1}", started.elapsed().as_secs_f64())
    });
    println!(
        "\n{{\"benchmark\":\"sync/empty-node\",\"blocks\":{blocks},\"epoch_length\":{EPOCH_LENGTH},\"build_s\":{:.1},\"start_to_tip_s\":{:.2},\"bytes\":{bytes}{}}}",
        built_in.as_secs_f64(),
        synced_in.as_secs_f64(),
        replay.unwrap_or_default()
    );
}

/// A node started with `--checkpoint` takes its first state from a snapshot above it, even
/// on a chain far shorter than a snapshot is otherwise worth (`snapshot::MIN_GAP`): replaying
/// from genesis could not tell the real chain from a long-range fork below the checkpoint.
/// Its trust starts at the checkpoint: it holds the checkpoint's end, nothing below it, and
/// follows the chain on from the snapshot.
#[test]
fn a_node_with_a_checkpoint_syncs_its_state_from_it_even_on_a_short_chain() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, spec_path) = one_validator_spec(dir.path(), 10);
    let server_path = dir.path().join("validator");
    build_finalized_chain(&spec, &server_path, 45);
    let checkpoint = open_as_alice(&spec, &server_path)
        .block_hash(20)
        .unwrap()
        .expect("block #20");
    let pair = ValidatorAndJoiner::new(&spec, &spec_path);
    let validator = pair.validator(&server_path);
    validator.wait_finalized(46);
    let joiner = pair.joiner(
        &dir.path().join("joiner"),
        &["--checkpoint", &format!("20:{checkpoint}")],
    );
    joiner.wait_for(
        Duration::from_secs(60),
        "the joiner past the checkpoint",
        || (joiner.finalized_number() >= 45).then_some(()),
    );
    let log = joiner.drain_log().join("\n");
    assert!(
        log.contains("state sync from the checkpoint") && log.contains("state snapshot installed"),
        "the joiner did not take a snapshot from the checkpoint; log:\n{log}"
    );
    assert_eq!(joiner.call(|c| c.block_hash(Some(20))), Some(checkpoint));
    assert_eq!(
        joiner.call(|c| c.block_hash(Some(10))),
        None,
        "the end of epoch 0, below the checkpoint"
    );
    assert_follows(&validator, &joiner);
}

/// `joiner` finalizes the next blocks as `validator` does: it executes them on the state it
/// took, so that state is the chain's.
fn assert_follows(validator: &Node, joiner: &Node) {
    let target = joiner.finalized_number() + 3;
    joiner.wait_finalized(target);
    let hashes = [validator, joiner].map(|node| node.call(|c| c.block_hash(Some(target))));
    assert_eq!(
        hashes[0], hashes[1],
        "the nodes disagree on block #{target}"
    );
}

/// Everything a joiner would fetch from `chain` for a snapshot of its offer, as the joiner
/// checks it (the consensus half is `consensus::snapshot`'s, tested there).
fn snapshot_of(chain: &Chain) -> SnapshotInstall {
    let (block, certificate) = chain.snapshot_offer().expect("an offer");
    let head = chain
        .open_snapshot_block(&block)
        .expect("a well-formed block");
    let epoch_ends = (0..head.epoch)
        .map(|epoch| {
            let end = chain.epoch_end(epoch).expect("every epoch's end");
            let (hash, number, _) = chain.open_epoch_end(epoch, &end).expect("it checks");
            CheckedEpochEnd {
                epoch,
                number,
                hash,
                end,
            }
        })
        .collect();
    let (mut nodes, mut state, mut wanted) = (Vec::new(), BTreeMap::new(), vec![head.state_root]);
    while let Some(hash) = wanted.pop() {
        let bytes = chain
            .state_nodes(&[hash], usize::MAX)
            .pop()
            .expect("a node");
        match TreeNode::decode_all(&mut bytes.as_slice()).unwrap() {
            TreeNode::Internal { left, right } => {
                wanted.extend([left, right].into_iter().filter(|h| *h != Hash::ZERO));
            }
            TreeNode::Leaf { key, value } => {
                state.insert(key, value);
            }
        }
        nodes.push((hash, bytes));
    }
    SnapshotInstall {
        block,
        certificate,
        epoch_ends,
        nodes,
        state,
    }
}

/// A node that joined by a snapshot holds neither the blocks nor the states of the epochs'
/// ends below it, yet must serve them to the next joiner (or, once every node has joined so,
/// nobody could join by snapshot again): it keeps the ends it checked and serves them as they
/// came. And the state it installed is the chain's: it builds and finalizes the next block
/// (execution checks the state root). A second snapshot is refused.
#[test]
fn a_node_that_joined_by_snapshot_serves_the_epoch_ends_to_the_next_joiner() {
    let dir = tempfile::tempdir().unwrap();
    let (spec, _) = one_validator_spec(dir.path(), 10);
    build_finalized_chain(&spec, &dir.path().join("a"), 45);
    let a = open_as_alice(&spec, &dir.path().join("a"));
    let b = open_as_alice(&spec, &dir.path().join("b"));
    let runtime = multi_thread_runtime();
    assert!(runtime.block_on(b.install_snapshot(snapshot_of(&a))));
    assert_eq!(b.finalized_head(), a.finalized_head());
    assert_eq!(b.snapshot_offer(), a.snapshot_offer());
    for epoch in 0..4 {
        assert_eq!(
            b.epoch_end(epoch),
            a.epoch_end(epoch),
            "the end of epoch {epoch}"
        );
    }
    assert_eq!(
        b.block_hash(30).unwrap(),
        a.block_hash(30).unwrap(),
        "the end of epoch 2 is indexed"
    );
    assert_eq!(b.block_hash(29).unwrap(), None);
    let (head, _) = b.finalized_head();
    let next = runtime
        .block_on(b.propose(head, 4, 46))
        .expect("a block on the snapshot");
    runtime.block_on(b.finalized(next, Vec::new()));
    assert_eq!(b.finalized_height(), 46);
    assert!(!runtime.block_on(b.install_snapshot(snapshot_of(&a))));
    assert_eq!(
        b.finalized_height(),
        46,
        "a second snapshot changed nothing"
    );
}

/// `--checkpoint` against a long-range fork: the genesis committee (whose stake may be long
/// gone) signs a second history of the same chain. A node holding a checkpoint of the first
/// history refuses the second's epoch end at the checkpoint's height (and so every snapshot
/// offer above it), its block in a sync run, and its snapshot whole; it takes the first's. A
/// node that already followed the second history refuses to start with the checkpoint, and
/// says why; a checkpoint that is not an epoch's last block is refused.
#[test]
fn a_checkpoint_refuses_every_history_that_contradicts_it() {
    use agora_node::chain::{ChainError, Checkpoint};
    let dir = tempfile::tempdir().unwrap();
    let (spec, spec_path) = one_validator_spec(dir.path(), 10);
    let (honest_base, forged_base) = (dir.path().join("honest"), dir.path().join("forged"));
    build_finalized_chain(&spec, &honest_base, 45);
    build_finalized_chain(&spec, &forged_base, 45);
    let honest = open_as_alice(&spec, &honest_base);
    let forged = open_as_alice(&spec, &forged_base);
    let hash_at = |chain: &Chain| chain.block_hash(20).unwrap().expect("block #20");
    assert_ne!(
        hash_at(&honest),
        hash_at(&forged),
        "two histories (their times differ)"
    );
    let checkpoint = Checkpoint {
        number: 20,
        hash: hash_at(&honest),
    };

    let joiner = open_as_alice(&spec, &dir.path().join("joiner"));
    let not_an_end = Checkpoint {
        number: 15,
        ..checkpoint
    };
    assert!(matches!(
        joiner.set_checkpoint(not_an_end),
        Err(ChainError::CheckpointNotAnEpochEnd {
            number: 15,
            length: 10
        })
    ));
    joiner.set_checkpoint(checkpoint).unwrap();
    let (honest_end, forged_end) = (honest.epoch_end(1).unwrap(), forged.epoch_end(1).unwrap());
    assert!(
        joiner.open_epoch_end(1, &forged_end).is_none(),
        "the forged end of epoch 1"
    );
    assert!(joiner.open_epoch_end(1, &honest_end).is_some());
    assert!(
        joiner.block_links(&forged_end.header).is_none(),
        "a run's forged block #20"
    );
    assert!(joiner.block_links(&honest_end.header).is_some());
    let forged_20 = forged.block_bytes(hash_at(&forged)).unwrap();
    assert!(
        joiner.open_snapshot_block(&forged_20).is_none(),
        "a forged snapshot block"
    );
    assert!(joiner
        .receive_block(forged_20, BlockSource::Certified)
        .is_none());
    let honest_20 = honest.block_bytes(hash_at(&honest)).unwrap();
    assert!(joiner.open_snapshot_block(&honest_20).is_some());
    let runtime = multi_thread_runtime();
    assert!(!runtime.block_on(joiner.install_snapshot(snapshot_of(&forged))));
    assert_eq!(
        joiner.finalized_height(),
        0,
        "nothing of the forged history installed"
    );
    // A snapshot below the checkpoint shows nothing of its way to it: refused, even one of
    // the real chain (here a history of 25 blocks against a checkpoint at 40).
    let short_base = dir.path().join("short");
    build_finalized_chain(&spec, &short_base, 25);
    let short = open_as_alice(&spec, &short_base);
    let (short_head, _) = short.snapshot_offer().unwrap();
    let later = open_as_alice(&spec, &dir.path().join("later"));
    let at_40 = honest.block_hash(40).unwrap().unwrap();
    later
        .set_checkpoint(Checkpoint {
            number: 40,
            hash: at_40,
        })
        .unwrap();
    assert!(
        later.open_snapshot_block(&short_head).is_none(),
        "a snapshot below it"
    );
    assert!(!runtime.block_on(later.install_snapshot(snapshot_of(&short))));
    assert!(runtime.block_on(later.install_snapshot(snapshot_of(&honest))));
    assert!(runtime.block_on(joiner.install_snapshot(snapshot_of(&honest))));
    assert_eq!(joiner.finalized_head(), honest.finalized_head());
    // A block of the node's own at the checkpoint's height, proposed but not finalized when
    // it stopped, comes back at a restart as a trusted held block: setting the checkpoint
    // forgets it, in memory and on disk; and the node does not propose one again.
    let own_base = dir.path().join("own");
    build_finalized_chain(&spec, &own_base, 19);
    let own = open_as_alice(&spec, &own_base);
    let (head, _) = own.finalized_head();
    let proposed = runtime
        .block_on(own.propose(head, 1, 20))
        .expect("block #20");
    drop(own);
    let own = open_as_alice(&spec, &own_base);
    assert!(own.has_block(proposed), "reloaded after a restart");
    own.set_checkpoint(checkpoint).unwrap();
    assert!(
        !own.has_block(proposed),
        "a held block contradicting the checkpoint"
    );
    drop(own);
    let own = open_as_alice(&spec, &own_base);
    assert!(!own.has_block(proposed), "forgotten on disk too");
    own.set_checkpoint(checkpoint).unwrap();
    assert_eq!(
        runtime.block_on(own.propose(head, 1, 21)),
        None,
        "proposed again"
    );
    drop(own);
    let db_path = own_base.join("chains").join(&spec.id).join("db");
    let held = Database::open(&db_path).unwrap().unfinalized().unwrap();
    assert!(
        held.is_empty(),
        "the refused proposal was kept on disk for a restart"
    );
    drop((honest, forged, joiner, short, later));

    // The node that followed the forged history, restarted with the checkpoint; and a
    // checkpoint that does not parse. Both stop at once, saying why.
    let refused = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_agora-node"))
            .args(["--chain", spec_path.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "agora-node {args:?} started");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refused(&[
        "--validator-key",
        "//Alice",
        "--no-prometheus",
        "--rpc-port",
        "0",
        "--base-path",
        forged_base.to_str().unwrap(),
        "--checkpoint",
        &format!("20:{}", checkpoint.hash),
    ]);
    let contradicted = format!("--checkpoint names {}: another history", checkpoint.hash);
    assert!(stderr.contains(&contradicted), "{stderr}");
    let stderr = refused(&["--checkpoint", "20:0x12"]);
    assert!(stderr.contains("\"20:0x12\""), "{stderr}");
}
