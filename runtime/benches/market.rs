//! Market benchmark (`scripts/bench.sh market`): the cost of the per-block call auction,
//! `Market::on_finalize`, with a full order book of 10 000 open bids (1 000 buyers) and 1 000
//! offers (100 providers). Target: ≤ 20 % of the block time (1 000 ms by default → ≤ 200 ms).
//!
//! The book is built through the pallets' own calls (`Balances::mint`, `Staking::bond`,
//! `Market::post_offer`, `Jobs::register_blob_of_known_size` (stand-in hashes, no bytes),
//! `Market::place_bid`) on the dev genesis, kept in an in-memory `BTreeMap` state. About 6 % of the bids cross some ask; the others sit below every
//! ask, outside every region offered, or behind a renewable preference, so most of the book
//! stays open block after block, which is the steady state the bound is about. More bids cross
//! than one block may match (`MAX_MATCHES_PER_BLOCK` = 256), so each measured block makes its
//! full 256 matches (each a job handed to the jobs pallet).
//!
//! Figures (JSON lines on stdout), each the median of `RUNS` runs, with min and max:
//! - `market/clear`: the pure auction, `pallet_market::clearing::clear`, on the book in memory;
//! - `market/read`: what `on_finalize` reads and decodes to build that book (every open offer
//!   and bid, each buyer's newcomer status, each provider's stake);
//! - `market/block1`: the whole `Market::on_finalize` of the first block that sees the book,
//!   which writes an unmatched reason into every open bid;
//! - `market/block2`: the next block, on the state after block 1: reasons are unchanged and only
//!   the matches are written — the steady-state cost;
//! - `market/writes-block{1,2}`: block − read − clear within each round, i.e. writing matches,
//!   jobs, events and reasons (derived);
//! - `market/block{1,2}-rocksdb`: the same on_finalize over the state in a RocksDB flat column
//!   configured like the node's (lz4, bloom filter), to add the price of a real point read;
//! - `market/state-root`: the sparse-Merkle state-root update for each block's writes (not part
//!   of on_finalize, but a cost the node pays for them at the end of the block; its nodes are in
//!   memory here, in RocksDB on a node), and `market/block{1,2}-rocksdb+root`, the sum per round;
//! - `market/target`: the worst block against the 200 ms budget.
//!
//! Every run starts from a fresh `Ext` over the same backend, so every run does the same work;
//! the figures are measured in alternating rounds (this VM drifts by tens of percent).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::arithmetic_side_effects
)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use agora_primitives::smt::{self, MemoryNodeStore};
use agora_primitives::storage::{apply_changes, Changes, Ext, Phase, StateRead};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash, AGR};
use agora_runtime::genesis::{dev_account, ChainSpec};
use agora_runtime::{Balances, Jobs, Market, Runtime, Staking};
use pallet_market::clearing::{self, BookBid, BookOffer};
use pallet_market::{BidTerms, Energy, JobSpec, Region, FUEL_PER_MFUEL};

const PROVIDERS: u64 = 100;
const OFFERS_PER_PROVIDER: u64 = 10;
const BUYERS: u64 = 1_000;
const BIDS_PER_BUYER: u64 = 10;
/// Runs per figure (medians over these).
const RUNS: usize = 21;
/// The default block time, in ms.
const BLOCK_MS: f64 = 1_000.0;
/// The budget: 20 % of a block.
const TARGET_SHARE: f64 = 0.20;
/// Share of the bids that cross some ask, in per mille.
const CROSSING_PER_MILLE: u64 = 60;
/// Share of buyers that are newcomers (fewer than `NEWCOMER_JOBS` settled jobs), in percent.
const NEWCOMER_PERCENT: u64 = 20;
/// One "price unit": 0.001 AGR per Mfuel. Asks are 100–299 units; crossing bids 150–399;
/// the others 20–99 (below every ask).
const UNIT: Balance = AGR / 1_000;
const MFUEL: u64 = FUEL_PER_MFUEL;
/// Regions with offers; bids may also ask for `af-north`, where nobody offers.
const REGIONS: [&str; 4] = ["eu-west", "us-east", "ap-south", "sa-east"];
const SETUP_BLOCK: BlockNumber = 1;
const FAR: BlockNumber = 1_000_000;

/// splitmix64: a fixed, seedable stream, so every run builds the same book.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn account(kind: &str, index: u64) -> AccountId {
    AccountId(Hash::of_parts(&[kind.as_bytes(), &index.to_le_bytes()]).0)
}

fn region(name: &str) -> Region {
    Region::new(name).unwrap()
}

type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Runs `f` on a fresh `Ext` over `state` and applies its writes.
fn apply(state: &mut State, f: impl FnOnce(&mut Ext<'_>)) {
    let changes = {
        let mut ext = Ext::new(state);
        // A bid needs its inputs held: the node here holds every blob (the bench's stand-in
        // hashes have no bytes) and is asked for no referee run.
        ext.set_referee(Some(std::sync::Arc::new(
            pallet_support::mock::NoEngine::default(),
        )));
        f(&mut ext);
        ext.into_changes().0
    };
    apply_changes(state, &changes);
}

fn set_block_number(state: &mut State, number: BlockNumber) {
    apply(state, |ext| pallet_system::Number::put(ext, &number));
}

/// The dev genesis with 1 000 offers and 10 000 open bids, at block `SETUP_BLOCK`.
fn build_book() -> State {
    let mut state = State::new();
    apply_changes(&mut state, &ChainSpec::development().genesis().changes);
    set_block_number(&mut state, SETUP_BLOCK);
    let mut rng = Rng(7);

    // Blobs: a handful of modules and datasets, registered by Alice.
    let alice = dev_account("Alice");
    let modules: Vec<Hash> = (0..4u8).map(|i| Hash::of(&[b'm', i])).collect();
    let datasets: Vec<Hash> = (0..4u8).map(|i| Hash::of(&[b'd', i])).collect();
    apply(&mut state, |ext| {
        for (i, hash) in modules.iter().chain(&datasets).enumerate() {
            Jobs::register_blob_of_known_size(ext, &alice, *hash, 1_000_000 + i as u64 * 100_000)
                .unwrap();
        }
    });

    // Providers: funded, bonded, 10 offers each in their region at varied asks.
    apply(&mut state, |ext| {
        for p in 0..PROVIDERS {
            let provider = account("provider", p);
            Balances::mint(ext, &provider, 20_000 * AGR).unwrap();
            Staking::bond(ext, &provider, 10_000 * AGR).unwrap();
            for _ in 0..OFFERS_PER_PROVIDER {
                let energy = if rng.below(10) < 4 {
                    Energy::Renewable
                } else {
                    Energy::Grid
                };
                Market::post_offer(
                    ext,
                    &provider,
                    UNIT * Balance::from(100 + rng.below(200)),
                    (2_000 + rng.below(8_000)) * MFUEL,
                    region(REGIONS[(p % 4) as usize]),
                    energy,
                    AGR * Balance::from(1 + rng.below(5)),
                    FAR,
                )
                .unwrap();
            }
        }
    });

    // Buyers: funded; most have settled jobs before (not newcomers).
    apply(&mut state, |ext| {
        for b in 0..BUYERS {
            let buyer = account("buyer", b);
            Balances::mint(ext, &buyer, 10_000 * AGR).unwrap();
            if b % 100 >= NEWCOMER_PERCENT {
                pallet_market::CompletedJobs::insert(ext, &buyer, &3);
            }
        }
    });

    // Bids, interleaved across buyers the way they would arrive; one Ext per 1 000 bids.
    let total = BUYERS * BIDS_PER_BUYER;
    for chunk in 0..total / 1_000 {
        apply(&mut state, |ext| {
            for n in chunk * 1_000..(chunk + 1) * 1_000 {
                let buyer = account("buyer", n % BUYERS);
                let crossing = rng.below(1_000) < CROSSING_PER_MILLE;
                let max_price = if crossing {
                    UNIT * Balance::from(150 + rng.below(250))
                } else {
                    UNIT * Balance::from(20 + rng.below(80))
                };
                let region = match rng.below(10) {
                    0..=4 => None,
                    5 => Some(region("af-north")),
                    r => Some(region(REGIONS[(r - 6) as usize])),
                };
                let spec = JobSpec {
                    module: modules[rng.below(4) as usize],
                    dataset: datasets[rng.below(4) as usize],
                    params: br#"{"hidden":[128,64],"batch_size":64,"learning_rate":0.01}"#.to_vec(),
                    steps: 460,
                    segment_steps: 20,
                    seed: n,
                };
                let terms = BidTerms {
                    max_price,
                    max_fuel: (10 + rng.below(190)) * MFUEL,
                    run_blocks: 30,
                    deadline: FAR,
                    region,
                    renewable_only: rng.below(5) == 0,
                    requeue: false,
                    assurance_permille: 0,
                    assurance_verifiers: 0,
                };
                Market::place_bid(ext, &buyer, spec, terms).unwrap();
            }
        });
    }
    assert_eq!(Market::open_bids(&state).len() as u64, total);
    assert_eq!(
        Market::open_offers(&state).len() as u64,
        PROVIDERS * OFFERS_PER_PROVIDER
    );
    state
}

/// What `Market::on_finalize` reads before the auction, done the same way: the book as the
/// auction sees it.
fn read_book(
    state: &dyn StateRead,
) -> (Vec<BookBid>, Vec<BookOffer>, BTreeMap<AccountId, Balance>) {
    let ext = Ext::new(state);
    let mut stake = BTreeMap::new();
    let offers: Vec<BookOffer> = Market::open_offers(&ext)
        .into_iter()
        .filter_map(|id| Market::offer(&ext, id).map(|offer| (id, offer)))
        .map(|(id, offer)| {
            stake
                .entry(offer.provider)
                .or_insert_with(|| Staking::available(&ext, &offer.provider));
            BookOffer {
                id,
                provider: offer.provider,
                price: offer.price,
                free: offer.capacity.saturating_sub(offer.in_flight),
                capacity: offer.capacity,
                region: offer.region,
                energy: offer.energy,
                collateral: offer.collateral,
            }
        })
        .collect();
    let bids: Vec<BookBid> = Market::open_bids(&ext)
        .into_iter()
        .filter_map(|id| Market::bid(&ext, id).map(|bid| (id, bid)))
        .map(|(id, bid)| BookBid {
            id,
            buyer: bid.buyer,
            max_price: bid.terms.max_price,
            max_fuel: bid.terms.max_fuel,
            region: bid.terms.region,
            renewable_only: bid.terms.renewable_only,
            newcomer: Market::is_newcomer(&ext, &bid.buyer),
            collateral: bid.collateral,
        })
        .collect();
    (bids, offers, stake)
}

fn clearing_params() -> clearing::Params {
    clearing::Params {
        newcomer_share_percent: <Runtime as pallet_market::Config>::NEWCOMER_SHARE_PERCENT,
        max_matches: <Runtime as pallet_market::Config>::MAX_MATCHES_PER_BLOCK as usize,
    }
}

/// One `Market::on_finalize` on a fresh `Ext` over `backend`: its time and its writes.
fn finalize(backend: &dyn StateRead) -> (Duration, Changes) {
    let mut ext = Ext::new(backend);
    ext.set_phase(Phase::Finalization);
    let started = Instant::now();
    Market::on_finalize(&mut ext);
    let elapsed = started.elapsed();
    (elapsed, ext.into_changes().0)
}

/// A backend that counts the reads reaching it.
struct Counting<'a> {
    inner: &'a State,
    reads: Cell<u64>,
    bytes: Cell<u64>,
}

impl StateRead for Counting<'_> {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.reads.set(self.reads.get() + 1);
        let value = StateRead::get(self.inner, key);
        let len = value.as_ref().map_or(0, Vec::len);
        self.bytes.set(self.bytes.get() + len as u64);
        value
    }
}

/// The state in a RocksDB column set up like the node's flat state (`node/src/storage.rs`:
/// lz4, bloom filter, index and filter blocks in the block cache), flushed to an SST file, read
/// with `get_pinned` as `Database::latest_state` does.
struct Rocks {
    db: rocksdb::DB,
    _dir: tempfile::TempDir,
}

impl Rocks {
    fn new(state: &State) -> Rocks {
        let dir = tempfile::tempdir().unwrap();
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        options.set_block_based_table_factory(&table);
        let db = rocksdb::DB::open(&options, dir.path()).unwrap();
        let mut batch = rocksdb::WriteBatch::default();
        for (key, value) in state {
            batch.put(key, value);
        }
        db.write(batch).unwrap();
        db.flush().unwrap();
        Rocks { db, _dir: dir }
    }
}

impl StateRead for Rocks {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.db.get_pinned(key).unwrap().map(|value| value.to_vec())
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Figure {
    name: &'static str,
    what: &'static str,
    runs: Vec<f64>,
}

impl Figure {
    fn new(name: &'static str, what: &'static str) -> Figure {
        Figure {
            name,
            what,
            runs: Vec::new(),
        }
    }

    fn sorted(&self) -> Vec<f64> {
        let mut runs = self.runs.clone();
        runs.sort_by(f64::total_cmp);
        runs
    }

    fn median(&self) -> f64 {
        let sorted = self.sorted();
        sorted[sorted.len() / 2]
    }

    fn emit(&self, extra: serde_json::Value) {
        let sorted = self.sorted();
        let median = self.median();
        let mut line = serde_json::json!({
            "benchmark": self.name,
            "what": self.what,
            "runs": sorted.len(),
            "median_ms": round(median),
            "min_ms": round(sorted[0]),
            "max_ms": round(sorted[sorted.len() - 1]),
            "percent_of_1000ms_block": round(median / BLOCK_MS * 100.0),
        });
        if let (Some(line), serde_json::Value::Object(extra)) = (line.as_object_mut(), extra) {
            line.extend(extra);
        }
        println!("{line}");
    }
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Keys written by a block, split into bid records (reasons) and everything else.
fn count_writes(changes: &Changes) -> (usize, usize) {
    let bids_prefix = pallet_market::Bids::key(&0)[..32].to_vec();
    let bids = changes
        .iter()
        .filter(|(key, value)| key.starts_with(&bids_prefix) && value.is_some())
        .count();
    (bids, changes.len() - bids)
}

fn matches_in(state: &State, changes: &Changes) -> usize {
    let mut after = state.clone();
    apply_changes(&mut after, changes);
    Market::open_bids(state).len() - Market::open_bids(&after).len()
}

/// Sparse-Merkle tree of `state` in memory, and its root.
fn tree_of(state: &State) -> (MemoryNodeStore, Hash) {
    let all: Changes = state
        .iter()
        .map(|(key, value)| (key.clone(), Some(value.clone())))
        .collect();
    let update = smt::update(&MemoryNodeStore::new(), Hash::ZERO, &all).unwrap();
    let mut store = MemoryNodeStore::new();
    store.insert_nodes(update.new_nodes);
    (store, update.root)
}

/// The two blocks the bench measures ("block1" and "block2" in its figures): the first clearing
/// of the book placed at setup, and the next block, the steady state. Nothing expires
/// (deadlines and expiries are far).
struct Blocks {
    state1: State,
    changes1: Changes,
    state2: State,
    changes2: Changes,
}

impl Blocks {
    fn after(mut state1: State) -> Blocks {
        set_block_number(&mut state1, SETUP_BLOCK + 1);
        let (_, changes1) = finalize(&state1);
        let mut state2 = state1.clone();
        apply_changes(&mut state2, &changes1);
        set_block_number(&mut state2, SETUP_BLOCK + 2);
        let (_, changes2) = finalize(&state2);
        Blocks {
            state1,
            changes1,
            state2,
            changes2,
        }
    }
}

/// How many reads (and bytes) one `on_finalize` on `state` asks of its backend.
fn backend_reads(state: &State) -> (u64, u64) {
    let backend = Counting {
        inner: state,
        reads: Cell::new(0),
        bytes: Cell::new(0),
    };
    finalize(&backend);
    (backend.reads.get(), backend.bytes.get())
}

/// How many unmatched bids each reason of the clearing `outcome` holds.
fn reasons_of(outcome: &clearing::Outcome) -> BTreeMap<&'static str, usize> {
    let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
    for reason in outcome.unmatched.values() {
        let name = match reason {
            pallet_market::Unmatched::NoOffers => "no_offers",
            pallet_market::Unmatched::NoneSuits { .. } => "none_suits",
            pallet_market::Unmatched::PriceBelowCheapest { .. } => "price_below_cheapest",
            pallet_market::Unmatched::TooLarge { .. } => "too_large",
            pallet_market::Unmatched::BelowClearingPrice { .. } => "below_clearing_price",
            pallet_market::Unmatched::OffersBusy => "offers_busy",
            pallet_market::Unmatched::OnePricePerBlock { .. } => "one_price_per_block",
            pallet_market::Unmatched::BlockFull => "block_full",
            pallet_market::Unmatched::CollateralShort { .. } => "collateral_short",
            pallet_market::Unmatched::OnlyOwnOffers => "only_own_offers",
        };
        *reasons.entry(name).or_default() += 1;
    }
    reasons
}

/// Prints what the book holds and what the two blocks do with it (not timed).
fn describe(blocks: &Blocks, setup_s: f64) {
    let (state1, changes1) = (&blocks.state1, &blocks.changes1);
    let (state2, changes2) = (&blocks.state2, &blocks.changes2);
    let (reads1, bytes1) = backend_reads(state1);
    let (reads2, bytes2) = backend_reads(state2);
    let (reason_writes1, other_writes1) = count_writes(changes1);
    let (reason_writes2, other_writes2) = count_writes(changes2);
    let (book_bids, book_offers, stake) = read_book(state1);
    let outcome = clearing::clear(&book_bids, &book_offers, &stake, clearing_params());
    println!(
        "{}",
        serde_json::json!({
            "benchmark": "market/book",
            "open_bids": book_bids.len(),
            "buyers": BUYERS,
            "newcomer_bids": book_bids.iter().filter(|bid| bid.newcomer).count(),
            "open_offers": book_offers.len(),
            "providers": stake.len(),
            "state_keys": state1.len(),
            "setup_s": round(setup_s),
            "block1_matches": matches_in(state1, changes1),
            "block1_clearing_price_units": outcome.price.map(|p| p / UNIT),
            "block1_reasons": reasons_of(&outcome),
            "block1_bid_records_written": reason_writes1,
            "block1_other_keys_written": other_writes1,
            "block1_backend_reads": reads1,
            "block1_backend_read_mb": round(bytes1 as f64 / 1e6),
            "block2_matches": matches_in(state2, changes2),
            "block2_bid_records_written": reason_writes2,
            "block2_other_keys_written": other_writes2,
            "block2_backend_reads": reads2,
            "block2_backend_read_mb": round(bytes2 as f64 / 1e6),
        })
    );
}

/// Every timed figure, one run of each per round.
struct Figures {
    clear: Figure,
    read: Figure,
    block1: Figure,
    block2: Figure,
    rocks_block1: Figure,
    rocks_block2: Figure,
    root_block1: Figure,
    root_block2: Figure,
    writes1: Figure,
    writes2: Figure,
    node1: Figure,
    node2: Figure,
}

impl Figures {
    fn new() -> Figures {
        Figures {
            clear: Figure::new(
                "market/clear",
                "pallet_market::clearing::clear on the book in memory",
            ),
            read: Figure::new(
                "market/read",
                "on_finalize's reads and decodes of the book (BTreeMap backend)",
            ),
            block1: Figure::new(
                "market/block1",
                "Market::on_finalize, first clearing of the book: reasons written into every open bid (BTreeMap backend)",
            ),
            block2: Figure::new(
                "market/block2",
                "Market::on_finalize, next block: reasons unchanged, only matches written (BTreeMap backend) — steady state",
            ),
            rocks_block1: Figure::new(
                "market/block1-rocksdb",
                "Market::on_finalize, first clearing, state in RocksDB (flushed, warm block cache)",
            ),
            rocks_block2: Figure::new(
                "market/block2-rocksdb",
                "Market::on_finalize, next block, state in RocksDB (flushed, warm block cache)",
            ),
            root_block1: Figure::new(
                "market/state-root-block1",
                "sparse-Merkle root update for block 1's market writes (in-memory nodes; outside on_finalize)",
            ),
            root_block2: Figure::new(
                "market/state-root-block2",
                "sparse-Merkle root update for block 2's market writes (in-memory nodes; outside on_finalize)",
            ),
            writes1: Figure::new(
                "market/writes-block1",
                "block1 − read − clear, per round: writing reasons, matches, jobs and events (derived)",
            ),
            writes2: Figure::new(
                "market/writes-block2",
                "block2 − read − clear, per round: writing matches, jobs and events (derived)",
            ),
            node1: Figure::new(
                "market/block1-rocksdb+root",
                "block1-rocksdb + state-root-block1, per round: what block 1's clearing costs a node",
            ),
            node2: Figure::new(
                "market/block2-rocksdb+root",
                "block2-rocksdb + state-root-block2, per round: what the steady-state clearing costs a node",
            ),
        }
    }

    /// Runs every figure [`RUNS`] times in alternating rounds, after a warm-up.
    fn measure(&mut self, blocks: &Blocks) {
        let Blocks {
            state1,
            changes1,
            state2,
            changes2,
        } = blocks;
        let rocks1 = Rocks::new(state1);
        let rocks2 = Rocks::new(state2);
        let (store1, root1) = tree_of(state1);
        let (store2, root2) = tree_of(state2);
        let matches1 = matches_in(state1, changes1);
        finalize(&rocks1);
        finalize(&rocks2);
        for _ in 0..RUNS {
            let t = Instant::now();
            let (bids, offers, stake) = read_book(state1);
            let read_ms = ms(t.elapsed());
            let t = Instant::now();
            let outcome = clearing::clear(&bids, &offers, &stake, clearing_params());
            let clear_ms = ms(t.elapsed());
            assert_eq!(outcome.matches.len(), matches1);

            let (elapsed, changes) = finalize(state1);
            let block1_ms = ms(elapsed);
            assert!(
                changes == *changes1,
                "block 1 must do the same work every run"
            );
            let (elapsed, changes) = finalize(state2);
            let block2_ms = ms(elapsed);
            assert!(
                changes == *changes2,
                "block 2 must do the same work every run"
            );
            let rocks1_ms = ms(finalize(&rocks1).0);
            let rocks2_ms = ms(finalize(&rocks2).0);

            let t = Instant::now();
            smt::update(&store1, root1, changes1).unwrap();
            let root1_ms = ms(t.elapsed());
            let t = Instant::now();
            smt::update(&store2, root2, changes2).unwrap();
            let root2_ms = ms(t.elapsed());

            self.read.runs.push(read_ms);
            self.clear.runs.push(clear_ms);
            self.block1.runs.push(block1_ms);
            self.block2.runs.push(block2_ms);
            self.writes1.runs.push(block1_ms - read_ms - clear_ms);
            self.writes2.runs.push(block2_ms - read_ms - clear_ms);
            self.rocks_block1.runs.push(rocks1_ms);
            self.rocks_block2.runs.push(rocks2_ms);
            self.root_block1.runs.push(root1_ms);
            self.root_block2.runs.push(root2_ms);
            self.node1.runs.push(rocks1_ms + root1_ms);
            self.node2.runs.push(rocks2_ms + root2_ms);
        }
    }

    /// Prints every figure, then the verdict on the target.
    fn emit(&self, blocks: &Blocks) {
        let target_ms = BLOCK_MS * TARGET_SHARE;
        let none = serde_json::json!({});
        let (bids, offers, _) = read_book(&blocks.state1);
        self.clear.emit(serde_json::json!({
            "bids": bids.len(),
            "offers": offers.len(),
        }));
        self.read.emit(none.clone());
        self.block1
            .emit(serde_json::json!({ "target_ms": target_ms }));
        self.block2
            .emit(serde_json::json!({ "target_ms": target_ms }));
        self.writes1.emit(none.clone());
        self.writes2.emit(none);
        self.rocks_block1
            .emit(serde_json::json!({ "target_ms": target_ms }));
        self.rocks_block2
            .emit(serde_json::json!({ "target_ms": target_ms }));
        self.root_block1
            .emit(serde_json::json!({ "keys": blocks.changes1.len() }));
        self.root_block2
            .emit(serde_json::json!({ "keys": blocks.changes2.len() }));
        self.node1
            .emit(serde_json::json!({ "target_ms": target_ms }));
        self.node2
            .emit(serde_json::json!({ "target_ms": target_ms }));

        let worst = [
            &self.block1,
            &self.block2,
            &self.rocks_block1,
            &self.rocks_block2,
        ]
        .iter()
        .map(|figure| figure.median())
        .fold(0.0, f64::max);
        println!(
            "{}",
            serde_json::json!({
                "benchmark": "market/target",
                "what": "worst median Market::on_finalize (either block, either backend) against 20% of a 1000 ms block",
                "worst_median_ms": round(worst),
                "target_ms": target_ms,
                "pass": worst <= target_ms,
                "steady_state_rocksdb_median_ms": round(self.rocks_block2.median()),
                "with_state_root_block1_median_ms": round(self.node1.median()),
                "with_state_root_block2_median_ms": round(self.node2.median()),
                "note": "the BTreeMap backend is faster than the node's RocksDB-backed view; the rocksdb figures add a real point read per key (data in the block cache); the state-root update is outside on_finalize and not in the target",
            })
        );
    }
}

fn main() {
    let started = Instant::now();
    let book = build_book();
    let setup_s = started.elapsed().as_secs_f64();
    let blocks = Blocks::after(book);
    describe(&blocks, setup_s);
    let mut figures = Figures::new();
    figures.measure(&blocks);
    figures.emit(&blocks);
}
