//! Seed inputs: valid encodings of what each target decodes, built from the dev chain, so that
//! mutations start inside the format rather than at random bytes. `agora-fuzz --write-seeds`
//! writes them to the corpus; the corpus in the repository is what it wrote, plus every input
//! that ever crashed a target (kept as a regression case).

use agora_primitives::size_proof::SizeProof;
use agora_primitives::smt::{self, MemoryNodeStore};
use agora_primitives::storage::apply_changes;
use agora_primitives::trace::{TraceLeaf, TraceTree};
use agora_primitives::Hash;
use agora_runtime::block::{extrinsics_root, Block};
use agora_runtime::executive::immortal_extra;
use agora_runtime::extrinsic::Extrinsic;
use agora_runtime::genesis::{dev_account, ChainSpec};
use agora_runtime::RuntimeCall;
use parity_scale_codec::{Compact, Encode};
use sp_core::Pair;
use std::collections::BTreeMap;

/// The seeds of target `name` (empty for an unknown name).
pub fn seeds(name: &str) -> Vec<Vec<u8>> {
    match name {
        "extrinsic" => extrinsics().iter().map(Encode::encode).collect(),
        "block" => vec![
            block().encode(),
            ChainSpec::development().genesis().block.encode(),
        ],
        "header" => vec![block().header.encode()],
        "call" => calls().iter().map(Encode::encode).collect(),
        "events" => events(),
        "state_value" => state_values(),
        "smt_node" => smt_seeds().0,
        "smt_proof" => smt_seeds().1,
        "trace_proof" => trace_proofs(),
        "size_proof" => size_proofs(),
        "equivocation" => vec![equivocation().encode()],
        "rpc_params" => rpc_params(),
        _ => Vec::new(),
    }
}

fn calls() -> Vec<RuntimeCall> {
    vec![
        RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: dev_account("Bob"),
            value: Compact(1_000_000),
        }),
        RuntimeCall::System(pallet_system::Call::Remark {
            remark: b"seed".to_vec(),
        }),
        RuntimeCall::Staking(pallet_staking::Call::Bond { amount: Compact(5) }),
        RuntimeCall::Jobs(pallet_jobs::Call::CancelJob { job: 3 }),
        // Spec version 19's call: a referee run behind a declaration.
        RuntimeCall::Jobs(pallet_jobs::Call::ProveUnrunnable { job: 3 }),
    ]
}

/// The calls above, signed by ed25519 //Alice (deterministic signatures).
fn extrinsics() -> Vec<Extrinsic> {
    let alice = sp_core::ed25519::Pair::from_string("//Alice", None)
        .unwrap_or_else(|_| sp_core::ed25519::Pair::from_seed(&[1; 32]));
    let genesis = ChainSpec::development().genesis().block.hash();
    calls()
        .into_iter()
        .zip(0u32..)
        .map(|(call, nonce)| {
            Extrinsic::sign(&alice, call, immortal_extra(nonce, 0), &genesis, &genesis)
        })
        .collect()
}

/// The events of a block of the extrinsics above on the dev genesis (their signer has no funds
/// there: each fails and pays no fee, which makes events too).
fn events() -> Vec<Vec<u8>> {
    let genesis = ChainSpec::development().genesis();
    let mut state = BTreeMap::new();
    apply_changes(&mut state, &genesis.changes);
    let proposer = pallet_staking::beacon::BeaconSigner::from_consensus_seed(
        &agora_runtime::genesis::dev_consensus_seed("Alice"),
    );
    let hash = genesis.block.hash();
    let Ok(mut builder) = agora_runtime::executive::BlockBuilder::new(
        &state,
        None,
        hash,
        hash,
        1_000,
        dev_account("Alice"),
        &proposer,
    ) else {
        return Vec::new();
    };
    for xt in extrinsics() {
        let _ = builder.push(xt);
    }
    vec![builder.finish().events.encode()]
}

fn equivocation() -> pallet_staking::equivocation::Equivocation {
    use pallet_staking::equivocation::{Equivocation, SignedVote, Vote};
    let vote = |block: u8| SignedVote {
        vote: Vote::Notarize {
            parent_view: 4,
            block: Hash([block; 32]),
        },
        signature: [block; 64],
    };
    Equivocation {
        offender: Hash([1; 32]),
        epoch: 0,
        view: 5,
        first: vote(2),
        second: vote(3),
    }
}

fn block() -> Block {
    let mut block = ChainSpec::development().genesis().block;
    block.extrinsics = extrinsics();
    block.header.extrinsics_root = extrinsics_root(&block.extrinsics);
    block.header.number = Compact(1);
    block
}

/// The dev genesis state's values, each behind the first `state_value` kind byte it decodes
/// as (values of no kind the target knows are left out).
fn state_values() -> Vec<Vec<u8>> {
    let genesis = ChainSpec::development().genesis();
    let mut state = BTreeMap::new();
    apply_changes(&mut state, &genesis.changes);
    state
        .values()
        .filter_map(|value| {
            (0u8..13)
                .map(|kind| [&[kind][..], value].concat())
                .find(|input| crate::targets::state_value(input))
        })
        .collect()
}

/// The nodes of a small state tree, and proofs of present and absent keys in it, laid out as
/// the `smt_proof` target reads them.
fn smt_seeds() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let changes: BTreeMap<Vec<u8>, Option<Vec<u8>>> =
        (0u8..8).map(|i| (vec![i; 3], Some(vec![i; 5]))).collect();
    let store = MemoryNodeStore::new();
    let Ok(update) = smt::update(&store, Hash::ZERO, &changes) else {
        return (Vec::new(), Vec::new());
    };
    let nodes: Vec<Vec<u8>> = update.new_nodes.iter().map(|(_, n)| n.clone()).collect();
    let mut store = MemoryNodeStore::new();
    store.insert_nodes(update.new_nodes);
    let proofs = [vec![2u8; 3], vec![9u8; 3]]
        .into_iter()
        .filter_map(|key| {
            let proof = smt::prove(&store, update.root, &key).ok()?;
            let value = smt::get(&store, update.root, &key).ok()?;
            let mut input = update.root.0.to_vec();
            input.push(u8::try_from(key.len()).ok()?);
            input.extend_from_slice(&key);
            input.push(u8::from(value.is_some()));
            let value = value.unwrap_or_default();
            input.push(u8::try_from(value.len()).ok()?);
            input.extend_from_slice(&value);
            input.extend(proof.encode());
            Some(input)
        })
        .collect();
    (nodes, proofs)
}

fn trace_proofs() -> Vec<Vec<u8>> {
    let leaves: Vec<TraceLeaf> = (0..5u64)
        .map(|index| TraceLeaf {
            index,
            state_hash: Hash([u8::try_from(index).unwrap_or(0); 32]),
            fuel: (index + 1) * 1_000,
        })
        .collect();
    let Ok(tree) = TraceTree::new(leaves.clone()) else {
        return Vec::new();
    };
    leaves
        .iter()
        .filter_map(|leaf| {
            let proof = tree.prove(leaf.index).ok()?;
            let mut input = tree.root().0.to_vec();
            input.extend_from_slice(&5u64.to_le_bytes());
            input.extend(leaf.encode());
            input.extend(proof.encode());
            Some(input)
        })
        .collect()
}

fn size_proofs() -> Vec<Vec<u8>> {
    [1usize, 1024, 1025, 5000]
        .into_iter()
        .map(|len| {
            let bytes = vec![7u8; len];
            let mut input = Hash::of(&bytes).0.to_vec();
            input.extend_from_slice(&(len as u64).to_le_bytes());
            input.extend(SizeProof::of(&bytes).encode());
            input
        })
        .collect()
}

fn rpc_params() -> Vec<Vec<u8>> {
    let xt = extrinsics().first().map(Encode::encode).unwrap_or_default();
    vec![
        serde_json::to_vec(&agora_rpc_api::Hex::encode(&xt)).unwrap_or_default(),
        br#"["0x00", "0x0101010101010101010101010101010101010101010101010101010101010101"]"#
            .to_vec(),
        br#"[["0x00","0x0102"], null]"#.to_vec(),
        agora_primitives::ss58::encode(&dev_account("Alice")).into_bytes(),
    ]
}
