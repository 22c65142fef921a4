//! Ledger benchmark: block import of blocks full of signed transfers, against the raw sr25519
//! verification rate measured in the same run.
//!
//! Import is the path a validator follows for a peer's block: `receive_block` (decode),
//! `verify` (batch signature check, execution, state root) and `finalized` (one synced RocksDB
//! write batch). Blocks are produced beforehand by a second chain instance through the real
//! proposal path (transaction pool → block builder).
//!
//! Run with `scripts/bench.sh ledger` (release build). Prints one JSON object.

#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects, missing_docs)]

use agora_node::chain::{Chain, ChainConfig};
use agora_node::consensus::{BlockSource, Chain as _};
use agora_node::metrics::Metrics;
use agora_node::storage::Database;
use agora_primitives::{AccountId, Hash, AGR};
use agora_runtime::executive::immortal_extra;
use agora_runtime::extrinsic::Extrinsic;
use agora_runtime::genesis::{ChainSpec, GenesisSpec, ValidatorSpec};
use agora_runtime::RuntimeCall;
use parity_scale_codec::{Compact, Encode};
use rayon::prelude::*;
use sp_core::{sr25519, Pair};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SENDERS: usize = 2_000;
const TXS_PER_BLOCK: usize = 10_000;
const BLOCKS: usize = 5;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The bench's chain: `accounts` endowed, epoch 0's one validator (not endowed: it sits in
/// epoch 0 without a bond).
fn bench_spec(accounts: &[AccountId]) -> ChainSpec {
    let mut spec = ChainSpec::development();
    spec.id = "agora_bench".to_owned();
    spec.genesis = GenesisSpec {
        timestamp: 0,
        balances: accounts.iter().map(|a| (*a, 1_000_000 * AGR)).collect(),
        epoch_length: agora_runtime::genesis::DEFAULT_EPOCH_LENGTH,
        lifetimes: None,
        windows: None,
    };
    spec.validators[0].bond = 0;
    spec
}

/// Raw sr25519 verification rates, one signature a call: on all cores, and on one.
fn raw_verify_rates(pairs: &[sr25519::Pair]) -> (f64, f64) {
    let message = [7u8; 32];
    let signed: Vec<(sr25519::Signature, sr25519::Public)> = (0..20_000usize)
        .into_par_iter()
        .map(|i| {
            let pair = &pairs[i % pairs.len()];
            (pair.sign(&message), pair.public())
        })
        .collect();
    let start = Instant::now();
    let ok = signed
        .par_iter()
        .filter(|(s, p)| sr25519::Pair::verify(s, message, p))
        .count();
    let parallel = signed.len() as f64 / start.elapsed().as_secs_f64();
    assert_eq!(ok, signed.len());
    let start = Instant::now();
    let ok = signed[..5_000]
        .iter()
        .filter(|(s, p)| sr25519::Pair::verify(s, message, p))
        .count();
    let single = 5_000.0 / start.elapsed().as_secs_f64();
    assert_eq!(ok, 5_000);
    (parallel, single)
}

/// Opens a chain on its own RocksDB in `dir`.
fn open_chain(dir: &std::path::Path, spec: &ChainSpec) -> Chain {
    let db = Arc::new(Database::open(dir).unwrap());
    Chain::open(
        db,
        ChainConfig {
            spec: spec.clone(),
            block_time: Duration::from_millis(1),
            referee: None,
            metrics: Metrics::new(),
        },
    )
    .unwrap()
}

/// `blocks` blocks of `txs_per_block` transfers among `signers`, each proposed and finalized
/// by `producer` through its pool and block builder: (parent, hash, bytes) of each, oldest first.
fn produce(
    runtime: &tokio::runtime::Runtime,
    producer: &Chain,
    signers: &[sr25519::Pair],
    blocks: usize,
    txs_per_block: usize,
) -> Vec<(Hash, Hash, Vec<u8>)> {
    let senders = signers.len();
    let accounts: Vec<AccountId> = signers.iter().map(|p| AccountId(p.public().0)).collect();
    let genesis = producer.genesis_hash();
    let mut produced = Vec::new();
    let mut parent = genesis;
    let mut nonce = 0u32;
    for _ in 0..blocks {
        let per_sender = txs_per_block.div_ceil(senders);
        let xts: Vec<Vec<u8>> = (0..txs_per_block)
            .into_par_iter()
            .map(|i| {
                let from = i % senders;
                let round = (i / senders) as u32;
                let to = accounts[(from + 1 + i % 7) % senders];
                let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
                    dest: to,
                    value: Compact(AGR + i as u128),
                });
                Extrinsic::sign(
                    &signers[from],
                    call,
                    immortal_extra(nonce + round, 0),
                    &genesis,
                    &genesis,
                )
                .encode()
            })
            .collect();
        for xt in &xts {
            producer.submit(xt).unwrap();
        }
        let hash = runtime.block_on(producer.propose(parent, 0, 0)).unwrap();
        runtime.block_on(producer.finalized(hash, Vec::new()));
        let bytes = producer.block_bytes(hash).unwrap();
        let included = producer
            .block(&hash)
            .unwrap()
            .unwrap()
            .block
            .extrinsics
            .len();
        assert_eq!(
            included, txs_per_block,
            "the producer left transfers out of the block"
        );
        produced.push((parent, hash, bytes));
        parent = hash;
        nonce += per_sender as u32;
    }
    produced
}

fn main() {
    let txs_per_block = env_usize("AGORA_BENCH_TXS", TXS_PER_BLOCK);
    let blocks = env_usize("AGORA_BENCH_BLOCKS", BLOCKS);
    let senders = SENDERS.min(txs_per_block).max(1);
    let pairs: Vec<sr25519::Pair> = (0..senders)
        .into_par_iter()
        .map(|i| sr25519::Pair::from_seed(&Hash::of(&(i as u64).to_le_bytes()).0))
        .collect();
    let accounts: Vec<AccountId> = pairs.iter().map(|p| AccountId(p.public().0)).collect();
    let spec = bench_spec(&accounts);
    let validator: ValidatorSpec = spec.validators[0].clone();
    let (raw_parallel, raw_single) = raw_verify_rates(&pairs);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let producer_dir = tempfile::tempdir().unwrap();
    let importer_dir = tempfile::tempdir().unwrap();
    let producer = open_chain(producer_dir.path(), &spec);
    let alice = agora_runtime::genesis::dev_consensus_seed("Alice");
    producer.set_proposer(
        pallet_staking::beacon::BeaconSigner::from_consensus_seed(&alice),
        validator.account,
    );
    let importer = open_chain(importer_dir.path(), &spec);
    let produced = produce(&runtime, &producer, &pairs, blocks, txs_per_block);

    // Import them, timed. Every view's leader is the one validator.
    let leader = validator.consensus_key.0;
    let start = Instant::now();
    for (parent, hash, bytes) in &produced {
        assert_eq!(
            importer.receive_block(bytes.clone(), BlockSource::Peer(leader)),
            Some(*hash)
        );
        assert!(
            runtime.block_on(importer.verify(*parent, *hash, 0, leader)),
            "import rejected block {hash}"
        );
        runtime.block_on(importer.finalized(*hash, Vec::new()));
    }
    let elapsed = start.elapsed().as_secs_f64();
    let total = (txs_per_block * blocks) as f64;
    let tps = total / elapsed;
    assert_eq!(importer.finalized_head().0, producer.finalized_head().0);

    let report = serde_json::json!({
        "benchmark": "ledger/block-import",
        "blocks": blocks,
        "transfers_per_block": txs_per_block,
        "import_seconds": elapsed,
        "import_tx_per_s": tps.round(),
        "raw_sr25519_verify_per_s_all_cores": raw_parallel.round(),
        "raw_sr25519_verify_per_s_one_core": raw_single.round(),
        "ratio_to_raw_all_cores": (tps / raw_parallel * 1000.0).round() / 1000.0,
        "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
    });
    println!("{report}");
}
