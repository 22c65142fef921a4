//! # The Agora runtime
//!
//! A pure state-transition function: given the state after a parent block and a block, it
//! returns the state changes and events of that block, or says precisely why the block is
//! invalid. It reads no clock, no randomness and no hash-map order; the timestamp comes from the
//! header, and everything it writes is kept in ordered maps.
//!
//! The runtime composes the pallets (index = first byte of every call and event):
//!
//! | index | pallet | what it holds |
//! |---|---|---|
//! | 0 | `System` ([`pallet_system`]) | nonces, block number, timestamp, recent block hashes |
//! | 1 | `Balances` ([`pallet_balances`]) | free/reserved balances, total issuance |
//! | 2 | `Staking` ([`pallet_staking`]) | bonded stake, unbonding, committed collateral |
//! | 3 | `Market` ([`pallet_market`]) | offers, bids, escrow, the per-block call auction |
//! | 4 | `Jobs` ([`pallet_jobs`]) | job lifecycle, settlement, the blob registry |
//! | 5 | `Verification` ([`pallet_verification`]) | verifiers, samples, attestations |
//!
//! At the end of every block the hooks run in this order: Market (expiries, then the auction,
//! whose matches become jobs), Jobs (missed deadlines, settlements, pruning, blob expiry),
//! Verification (samples drawn, phase deadlines).
//!
//! Modules:
//! - [`extrinsic`]: the signed extrinsic format and signature checks (single and batch).
//! - [`block`]: headers and blocks.
//! - [`executive`]: transaction validation, block building and block execution; fees.
//! - [`genesis`]: chain specs and the genesis block.
//! - [`metadata`]: the runtime metadata (Substrate's V14) clients such as polkadot.js read.

pub mod block;
pub mod executive;
pub mod extrinsic;
pub mod genesis;
pub mod metadata;

use agora_primitives::dispatch::{DispatchError, PalletError, Weight};
use agora_primitives::storage::RawEvent;
use agora_primitives::{Balance, BlockNumber, AGR};
use parity_scale_codec::{Decode, Encode};

/// Version of the state-transition rules; part of every signing payload, so an extrinsic
/// signed for one version cannot be replayed under another.
///
/// - 1: the first ledger.
/// - 2: Substrate's formats, so polkadot.js works unmodified (`docs/polkadot-js.md`): FRAME
///   storage keys, extrinsic format 4 with its signing payload, blake2_256 block and extrinsic
///   hashes, FRAME's event phase indices, `Balances::transfer_keep_alive`.
/// - 3: a bid names its verifiers per sampled segment (`BidTerms::assurance_verifiers`, a new
///   field of `Market::place_bid`'s encoding).
/// - 4: a `referee` call over a whole segment is accepted only once every node has had time
///   to decide it ahead (`Verification::referee_opens_at`, error `RefereeNotOpen`).
/// - 5: a verifier's reveal of another segment's leaf is `Wrong`; a run of sampled segments
///   longer than `RUN_SEGMENTS` gets an attestation window per `RUN_SEGMENTS` segments (a new
///   constant in the metadata); a commitment keeps its final state registered until the job
///   ends; an open challenge the referee cannot decide repays the referee call out of its bond;
///   the newcomer pool counts only capacity some bid could buy; every bid escrows at least
///   `MIN_BID_ESCROW` (a new constant), which an unrunnable job pays its worker at least; a
///   leaving validator's bond stays committed while any kept committee holds it, and an
///   equivocation slashes the candidacy's bond and any still leaving together.
/// - 6: a bid is placed only by a node that holds its module and dataset (errors
///   `ModuleUnavailable`, `DatasetUnavailable`; without them the call is undecided there, as a
///   commitment of results nobody uploaded is).
/// - 7: a worker's start-state reveal references the states it names until the audit ends (a
///   state registered long before its reveal expired mid-audit), and a commitment's final
///   state must be registered (error `UnknownFinalState`; holding its bytes was enough). A
///   chain started under 6 with audits open cannot switch: start a new chain.
/// - 8: an open challenge the referee cannot decide is kept for the job's receipt
///   (`Receipt::dismissed`, storage `Jobs::DismissedChallenges`): receipts and the jobs that
///   hold them encode differently, so a chain started under 7 cannot switch.
/// - 9: a bid whose assurance level would sample more than `MAX_SAMPLED_SEGMENTS` (256) of its
///   segments is refused (error `SampleTooLarge`), bounding an audit's attestation phase. Bids
///   placed before are not checked again: a chain upgraded in place with such bids open keeps
///   them as they were.
/// - 10: a drawn verifier bonds one run bond per run, at most `VERIFIER_MIN_STAKE`, held whole
///   until the run is settled (a fault forfeits the run, a lost dispute refutes the run's other
///   mismatches); a draw short of verifiers waits on while stake bonded to other checks will
///   come free, with the seed of its first attempt; due audits are handled oldest job first.
///   Checks and audits encode differently (`Check::bond`, `Audit::seed`, storage
///   `Verification::CheckBonds`): a chain started under 9 with audits open cannot switch.
/// - 11: a drawn check's dispute starts from the worker's leaf before its segment only if the
///   verifier's check of that leaf matched; otherwise it is a leaf bisection from the last leaf
///   the verifier vouched for (a lower matched check, or the run's revealed start). A forfeited
///   run bond stays committed until the run is settled, as the stake of its disputes, and is
///   slashed then. Encodings are unchanged; audits open across the switch settle by the new
///   rules.
/// - 12: the verifier draws due in a block are made at its start (`on_initialize`, after the
///   beacon is noted, before any extrinsic) from the parent's state, not at its end: no
///   transaction the proposer includes can move a pick. Encodings are unchanged; a draw is due
///   in one block either way, so none is lost or made twice across the switch.
/// - 13: a settled job's receipt names every verifier that forfeited its run bond by a missed
///   or wrong check (one that lost a dispute is under `refuted`, as before), with the run's
///   missed and wrong segments and the bond burned
///   (`Receipt::forfeited`, storage `Jobs::ForfeitedRuns`): receipts and the jobs that hold
///   them encode differently, so a chain started under 12 cannot switch.
/// - 14: a job that ends without a receipt after its checks (its worker lost a dispute or
///   failed its audit, a fuel-only mismatch) keeps its forfeitures (`Jobs::ForfeitedRuns`)
///   with its record until the record is pruned, instead of dropping them: who was slashed
///   how much is on record whichever way the job ended (a requeued bid's job leaves no record,
///   and drops them). Encodings are unchanged; state after such an ending differs.
/// - 15: a candidacy may name its consensus key as its beacon key; that validator's block
///   beacons are then an ECVRF (RFC 9381, `pallet_staking::ecvrf`) under its consensus key, in
///   the header's existing fields (`pallet_staking::beacon`). `agora validator register
///   --consensus-key HEX` thus works through any node, with no second key. Encodings are
///   unchanged; a registration 14 refused is accepted.
/// - 16: `Staking::register_validator` and `set_validator_key` carry a `key_proof`, the
///   consensus key's signature of the registering account (proof of possession,
///   `pallet_staking::validators`): before, anyone who learned a key could register it ahead
///   of its holder. Both calls encode differently, so a chain started under 15 cannot switch
///   (its register and set-key transactions would not decode, and its candidacies carry no
///   proof).
/// - 17: the referee of an output dispute gives `export` and `eval` the chain's bound on a call
///   (`MAX_SEGMENT_FUEL`, the worker's own) instead of `REFEREE_FUEL`, and the call opens after
///   the lead such a re-run needs: an output whose calls needed more than `REFEREE_FUEL` (the
///   language model's `eval`) could not be decided, so its worker could commit any model. A
///   step the referee cannot run within `REFEREE_FUEL` no longer ends the dispute undecided: it
///   goes on as the re-run of the step's whole segment (`Bisection::rerun`, outcome
///   `StepTooHeavy`, a new variant). Every lead stops at four fifths of the move's window. A
///   dispute's bisection encodes differently (stored in its audit), so a chain started under
///   16 with a dispute under way cannot switch.
/// - 18: `declare_unrunnable` no longer counts a first step over `PROOF_FUEL` (gone) as proof:
///   since 17 a dispute at such a step is decided by its segment's re-run, so the job can be
///   sold and judged, and the rule let a worker collect the cancellation fee for a job it
///   could run. Encodings are unchanged; such a declaration is refused (`JobRuns`).
/// - 19: an unrunnable job is shown in two calls: `declare_unrunnable` records a declaration
///   (`Jobs::Declarations`, event `UnrunnableDeclared`) that every node's warmer decides ahead,
///   and `prove_unrunnable` (a new call, index 5) has the referee decide it once the lead of
///   segment 0's re-run has passed. Before, the declaration re-ran segment 0 inline in its
///   block: up to `MAX_SEGMENT_FUEL`, ~30 s on the slowest node, for a call weighing a second.
///   `MIN_BID_ESCROW` covers both calls' fees. Proofs open in the order of their declarations,
///   each the whole re-run's lead after the previous one (`Jobs::ProofQueue`), and a re-run of
///   segment 0 — a proof's or a dispute's — counts `init`'s bound in its lead. `cancel_job` is
///   refused after the commit deadline. A chain started under 18 cannot switch with a job
///   assigned (its worker's declaration would now need a proof it does not send).
/// - 20: a declaration burns a fee of `DECLARATION_FEE_PER_LEAD_BLOCK` (a second's weight,
///   1 AGR) per block of its proof's lead, paid back out of the escrow when the proof ends the
///   job (`Declaration::fee`, `UnrunnableDeclared::fee`, error `CannotPayDeclaration`). A
///   declaration re-runs up to 91 blocks of every node's warmer and pushes every later proof
///   back as long; for ~1 AGR, an attacker declaring on its own jobs held honest declared jobs
///   assigned for as long as it paid. `MIN_BID_ESCROW` also covers the largest fee (~93 AGR in
///   all). A cancellation is refused while a declaration's window is open (`DeclarationPending`)
///   and a declaration while a cancellation is pending (`CancelPending`). Every referee call of
///   a dispute is repaid by the loser, not only the deciding one (`Dispute::earlier_calls`;
///   the first call of an escalation past a heavy step was its caller's loss). A declaration,
///   its event and a dispute encode differently, so a chain started under 19 cannot switch
///   with a declaration pending or a dispute under way, nor with bids escrowing less than the
///   new floor (an honest worker's fee would not be repaid in full).
/// - 21: a dispute's `referee` call over a whole segment or an output takes its place in the
///   chain's one re-run queue, the proofs' (`Jobs::RerunQueue`, renamed from `ProofQueue`):
///   it opens after every re-run queued before it and its own lead
///   (`Dispute::referee_opens_at`), and the turn's deadline leaves the call at least a fifth
///   of a move after that. A segment's re-run gets no more fuel than the worker's leaf bills
///   it (unless the leaf is a refusal): the same verdict, and the lead of the fuel claimed,
///   not of the bound. Before, it opened its own lead into the turn (cut to four fifths of the
///   window), whatever else every node's warmer had to decide: behind a declaration's proof or
///   another dispute's re-run it opened undecided and ran inline in the block that carried it.
///   A request a call had first decided within the hour takes no place in the queue (it waits
///   its own lead; `Jobs::DecidedReruns`): every node that was up keeps its verdict. Nodes decide ready
///   re-runs in the order their calls open.
///   A dispute encodes differently and the queue's key moved, so a chain started under 20
///   cannot switch with a dispute under way or a declaration pending.
pub const SPEC_VERSION: u32 = 21;
/// The runtime's name, as `state_getRuntimeVersion` reports it.
pub const SPEC_NAME: &str = "agora";

/// The runtime: implements every pallet's `Config`.
#[derive(scale_info::TypeInfo)]
pub struct Runtime;

/// Pallet index of System.
pub const SYSTEM_INDEX: u8 = 0;
/// Pallet index of Balances.
pub const BALANCES_INDEX: u8 = 1;
/// Pallet index of Staking.
pub const STAKING_INDEX: u8 = 2;
/// Pallet index of Market.
pub const MARKET_INDEX: u8 = 3;
/// Pallet index of Jobs.
pub const JOBS_INDEX: u8 = 4;
/// Pallet index of Verification.
pub const VERIFICATION_INDEX: u8 = 5;

impl pallet_system::Config for Runtime {
    const SYSTEM_PALLET_INDEX: u8 = SYSTEM_INDEX;
    const BLOCK_HASH_COUNT: BlockNumber = 256;
    const MAX_REMARK_LEN: u32 = 4096;
}

impl pallet_balances::Config for Runtime {
    const BALANCES_PALLET_INDEX: u8 = BALANCES_INDEX;
    const EXISTENTIAL_DEPOSIT: Balance = EXISTENTIAL_DEPOSIT;
}

impl pallet_staking::Config for Runtime {
    const STAKING_PALLET_INDEX: u8 = STAKING_INDEX;
    /// Long enough for every job and spot check the stake backs to end before it can leave.
    const UNBONDING_DELAY: BlockNumber = 600;
    const MAX_UNLOCKING_CHUNKS: u32 = 16;
    const MIN_BOND: Balance = AGR;
    /// Seats of a committee; consensus messages grow with it (a certificate holds 2f+1
    /// signatures).
    const MAX_VALIDATORS: u32 = 100;
    const MAX_CANDIDATES: u32 = 1_000;
    const MIN_VALIDATOR_BOND: Balance = 1_000 * AGR;
    /// Half the bond: signing two conflicting votes is never an accident of an honest node
    /// (its journal prevents it), and the loss must outweigh any gain from a fork attempt.
    const EQUIVOCATION_SLASH_PERCENT: u8 = 50;
    /// Enough to pay anyone to watch and report.
    const EQUIVOCATION_REWARD_PERCENT: u8 = 10;
}

impl pallet_market::Config for Runtime {
    const MARKET_PALLET_INDEX: u8 = MARKET_INDEX;
    /// The clearing reads every open order each block; the bound keeps it within budget
    /// (measured by `scripts/bench.sh market`).
    const MAX_OPEN_BIDS: u32 = 16_384;
    const MAX_OPEN_OFFERS: u32 = 2_048;
    const MAX_BIDS_PER_ACCOUNT: u32 = 256;
    const MAX_OFFERS_PER_PROVIDER: u32 = 16;
    const MAX_MATCHES_PER_BLOCK: u32 = 256;
    /// A fifth of each block's free capacity goes first to accounts with fewer than
    /// `NEWCOMER_JOBS` settled jobs.
    const NEWCOMER_SHARE_PERCENT: u8 = 20;
    const NEWCOMER_JOBS: u32 = 3;
    const MAX_PARAMS_LEN: u32 = 4_096;
    /// 10⁹ Mfuel: hours of training on the example MLP.
    const MAX_JOB_FUEL: pallet_market::Fuel = 1_000_000_000_000_000;
    const MAX_SEGMENTS: u64 = verification::MAX_SEGMENTS;
    const MAX_SEGMENT_FUEL: pallet_market::Fuel = verification::MAX_SEGMENT_FUEL;
    const MIN_RUN_BLOCKS: u32 = 5;
    const MIN_COLLATERAL: Balance = AGR;
    /// What a worker spends to show a job unrunnable, at most: the weight parts of the
    /// `declare_unrunnable` and `prove_unrunnable` calls' fees (~2 AGR; their length parts,
    /// ~0.01 AGR each, are the worker's) and the largest declaration fee (91 AGR), which an
    /// unrunnable job pays its worker back out of the escrow.
    const MIN_BID_ESCROW: Balance = fees::FEE_PER_WEIGHT
        * (pallet_jobs::weights::DECLARE_UNRUNNABLE
            + pallet_jobs::weights::PROVE_UNRUNNABLE
            + 2 * fees::EXTRINSIC_BASE_WEIGHT) as Balance
        + verification::MAX_DECLARATION_FEE;
    const SAMPLE_PERMILLE: u32 = verification::SAMPLE_PERMILLE;
    const VERIFIERS_PER_SEGMENT: u32 = verification::VERIFIERS_PER_SEGMENT;
    const MAX_VERIFIERS_PER_SEGMENT: u32 = verification::MAX_VERIFIERS_PER_SEGMENT;
    const MAX_SAMPLED_SEGMENTS: u64 = verification::MAX_SAMPLED_SEGMENTS;
    const VERIFIER_MARGIN_PERCENT: u32 = verification::VERIFIER_MARGIN_PERCENT;
    const PROVIDER_MARGIN_PERCENT: u32 = verification::PROVIDER_MARGIN_PERCENT;
    /// 1 µAGR a block: holding every one of the 16,384 bid slots burns 59 AGR an hour, the
    /// 2,048 offer slots 7.4 AGR an hour beside 20,480 AGR of bonds; a bid that waits a
    /// minute pays 0.00006 AGR (docs/market.md, Rent).
    const ORDER_RENT_PER_BLOCK: Balance = AGR / 1_000_000;
    /// Pays the rent of 10⁷ blocks (~116 days at 1 s): the longest an offer may run.
    const OFFER_BOND: Balance = 10 * AGR;
    /// An hour at 1 s blocks.
    const UNSERVED_BID_BLOCKS: BlockNumber = 3_600;
    const CLEARING_HISTORY: u32 = 256;
    const RECENT_MATCHES: u32 = 1_024;
    /// As long as a finished job's record: `job status` of a bid that never matched says what
    /// became of it for as long as it would for one that did.
    const CLOSED_BID_RETENTION: BlockNumber = 100_800;
    type Hooks = Jobs;
}

impl pallet_jobs::Config for Runtime {
    const JOBS_PALLET_INDEX: u8 = JOBS_INDEX;
    const MAX_BLOB_SIZE: u64 = 64 << 20;
    const MAX_BLOB_BYTES_PER_ACCOUNT: u64 = 4 << 30;
    const BLOB_DEPOSIT_BASE: Balance = AGR / 100;
    /// 0.1 AGR per MiB kept.
    const BLOB_DEPOSIT_PER_KIB: Balance = AGR / 10_000;
    /// Four hours at one-second blocks for an upload to be used.
    const BLOB_TTL: BlockNumber = 14_400;
    const MAX_DUE_PER_BLOCK: u32 = 512;
    const MAX_METRICS_LEN: u32 = 4_096;
    /// Long enough for a watcher to re-execute the longest segment a job may have and get its
    /// challenge into a block: the attestation window, which is sized for that.
    const CHALLENGE_BLOCKS: BlockNumber = verification::ATTEST_BLOCKS;
    const CANCEL_FEE_PERCENT: u8 = 10;
    /// A worker's model is registered and uploaded a block or two before its commitment lands
    /// (docs/economics.md, the cancel race): ten blocks cover that with room for a busy pool.
    const CANCEL_NOTICE_BLOCKS: BlockNumber = 10;
    const DISPUTE_REWARD_PERCENT: u8 = 50;
    const JOB_RETENTION: BlockNumber = 100_800;
    /// Thirty days at one-second blocks for a buyer to fetch the model it paid for.
    const MODEL_RETENTION: BlockNumber = 30 * 24 * 3_600;
    /// A dispute move's window: a worker's daemon sends its proof as it opens, one call
    /// weighing a second fits a block, and crowding a proof out of its window takes filling
    /// sixty blocks with such calls (~120 AGR of fees).
    const PROOF_BLOCKS: BlockNumber = verification::MOVE_BLOCKS;
    const REFEREE_LEAD_FUEL_PER_BLOCK: u64 = verification::REFEREE_LEAD_FUEL_PER_BLOCK;
    const DECLARATION_FEE_PER_LEAD_BLOCK: Balance = verification::DECLARATION_FEE_PER_LEAD_BLOCK;
    type Verification = Verification;
}

impl pallet_verification::Config for Runtime {
    const VERIFICATION_PALLET_INDEX: u8 = VERIFICATION_INDEX;
    const MAX_VERIFIERS: u32 = 256;
    const VERIFIER_MIN_STAKE: Balance = 10 * AGR;
    const CHECK_BOND: Balance = AGR;
    const REVEAL_BLOCKS: BlockNumber = 20;
    const ATTEST_BLOCKS: BlockNumber = verification::ATTEST_BLOCKS;
    const RUN_SEGMENTS: u64 = verification::RUN_SEGMENTS;
    const MOVE_BLOCKS: BlockNumber = verification::MOVE_BLOCKS;
    /// A minute: long enough for the checks of jobs committed just before to end and free
    /// their bonds, short enough not to hold an honest worker's pay back much.
    const SAMPLE_WAIT_BLOCKS: BlockNumber = verification::ATTEST_BLOCKS;
    const REFEREE_FUEL: u64 = verification::REFEREE_FUEL;
    /// The weight part of a `referee` call's fee (its length part, ~0.01 AGR, is the caller's).
    const REFEREE_CALL_FEE: Balance = fees::FEE_PER_WEIGHT
        * (pallet_verification::weights::REFEREE + fees::EXTRINSIC_BASE_WEIGHT) as Balance;
    /// Covers what a false challenge costs the honest worker — its moves' fees (~0.05 AGR each,
    /// at most ~30 of them) and the referee call (~1 AGR, repaid out of this bond first) — with
    /// room to spare; half of the rest goes to the worker, half is burned.
    const CHALLENGE_BOND: Balance = 5 * AGR;
}

/// Spot-check parameters shared by the market (escrow, collateral), jobs (fees) and
/// verification (the sample). How they follow from the cost of cheating is derived in
/// `docs/economics.md` and `pallet_market::assurance`.
pub mod verification {
    use super::*;
    /// Segments drawn uniformly per thousand of a job's segments, besides the last one (at
    /// least one): 1.5 %. A check of a 256-segment job then costs its buyer ~2 % of the compute
    /// (`docs/economics.md`); smaller jobs pay a larger share.
    pub const SAMPLE_PERMILLE: u32 = 15;
    /// Verifiers per sampled segment, unless the bid asks for more.
    pub const VERIFIERS_PER_SEGMENT: u32 = 1;
    /// The most verifiers a bid may ask for per sampled segment. Each is another check's fee
    /// in the buyer's escrow and another bond drawn from the verifiers' stake; past a few, a
    /// buyer is better served by sampling more segments (`assurance_permille`).
    pub const MAX_VERIFIERS_PER_SEGMENT: u32 = 4;
    /// A check's fee over the price of the fuel it re-executed: 10 %.
    pub const VERIFIER_MARGIN_PERCENT: u32 = 10;
    /// Worker collateral makes skipping work lose money for providers whose margin over their
    /// compute cost is up to 25 % of the price (an assumption: above it, skipping one segment
    /// of a large job can pay in absolute terms, though always less than honest work).
    pub const PROVIDER_MARGIN_PERCENT: u32 = 25;
    /// Segments one verifier re-executes as one run, which the segment bound is sized for: a
    /// sampled segment and the one before it. Longer runs of consecutive sampled segments are
    /// rare at the sampling rate above, and common when a bid asks for more; such a run gets
    /// one attestation window per `RUN_SEGMENTS` of its segments (`docs/verification.md`).
    pub const RUN_SEGMENTS: u64 = 2;
    /// Most segments one job may have.
    pub const MAX_SEGMENTS: u64 = 4_096;
    /// Most segments one job's sample may re-execute (the last, the uniform draws and the
    /// worker's heaviest). A job's attestation then takes at most 256 / `RUN_SEGMENTS` = 128
    /// windows (2 h 8 min at 1 s blocks), where a bid checking every segment of a 4,096-segment
    /// job took 2,048 (34 hours) while its worker's pay and collateral waited, however little
    /// fuel its segments used; and a verifier drawn for the longest run commits at most 256
    /// check bonds. 256 rather than the default sample of the largest job (64) so that such a
    /// job can still buy down its collateral: up to 62 ‰ there, about 3× its max pay instead of
    /// 15× at the default (`docs/economics.md`); every segment can be checked up to 256.
    pub const MAX_SAMPLED_SEGMENTS: u64 = 256;
    const _: () = assert!(
        (MAX_SEGMENTS * SAMPLE_PERMILLE as u64).div_ceil(1_000) + 2 <= MAX_SAMPLED_SEGMENTS,
        "the default sample of the largest job must be within the bound"
    );
    const _: () = assert!(
        MAX_SAMPLED_SEGMENTS * MAX_VERIFIERS_PER_SEGMENT as u64 <= MAX_SEGMENTS,
        "every check of the largest sample is a record in the job's audit, at most MAX_SEGMENTS"
    );
    const _: () = assert!(
        MAX_SAMPLED_SEGMENTS * MAX_VERIFIERS_PER_SEGMENT as u64
            <= pallet_jobs::MAX_FORFEITURES as u64,
        "every run of the largest sample can forfeit and be named on the receipt"
    );
    /// Blocks verifiers have to fetch, re-execute and attest (a minute at 1 s blocks).
    pub const ATTEST_BLOCKS: BlockNumber = 60;
    /// The slowest verifier the parameters are sized for: 500 Mfuel/s. The engine re-executes
    /// the example MLP at about 2,400 Mfuel/s on one core of the 2-core reference machine
    /// (992 Mfuel in 0.42 s, `docs/benchmarks.md`), so this leaves a factor of ~5 for slower
    /// machines, a busy core and module compilation. Lower would make every segment shorter
    /// (a job needs at least `max_fuel / MAX_SEGMENT_FUEL` segments); see
    /// `docs/verification.md`.
    pub const MIN_VERIFIER_FUEL_PER_SECOND: pallet_market::Fuel =
        500 * pallet_market::FUEL_PER_MFUEL;
    /// Most fuel one segment may use: half the attestation window (the other half is for
    /// fetching blobs and getting the attestation into a finalized block) at the minimum
    /// speed, shared by the `RUN_SEGMENTS` segments a verifier may have to re-execute as one
    /// run (the last segment's verifier also runs `export` and `eval`, each bounded by the same
    /// per-call limit): 60 s / 2 × 500 Mfuel/s / 2 = 7,500 Mfuel.
    pub const MAX_SEGMENT_FUEL: pallet_market::Fuel =
        ATTEST_BLOCKS / 2 * MIN_VERIFIER_FUEL_PER_SECOND / RUN_SEGMENTS;
    /// Blocks each dispute move is due in. A move needs at most one re-execution of part of a
    /// segment by the side that makes it (the worker may not have kept the state at the
    /// midpoint): the attestation window, which is sized for a whole segment.
    pub const MOVE_BLOCKS: BlockNumber = ATTEST_BLOCKS;
    /// What one engine call of a job may use and produce, for the worker and every verifier
    /// (the referee gives a step's calls `REFEREE_FUEL` instead, and `export` and `eval` this
    /// bound, since spec version 17): a segment's fuel, a state or a model
    /// no larger than a blob may be, metrics no longer than a commitment keeps. A call over
    /// them is refused on every machine, so a worker never holds a result it cannot commit.
    pub const CALL_BOUNDS: agora_primitives::referee::CallBounds =
        agora_primitives::referee::CallBounds {
            fuel: MAX_SEGMENT_FUEL,
            state_bytes: <Runtime as pallet_jobs::Config>::MAX_BLOB_SIZE,
            model_bytes: <Runtime as pallet_jobs::Config>::MAX_BLOB_SIZE,
            metrics_bytes: <Runtime as pallet_jobs::Config>::MAX_METRICS_LEN as u64,
        };
    /// Most fuel the referee gives one engine call of a step: 250 Mfuel, about 29 steps of the
    /// example MLP. Two such calls at the minimum speed take 1 s, the referee call's weight
    /// (half a block). A step that needs more is decided by re-running its whole segment, as
    /// the worker ran it (since spec version 17; before, it ended the job as a plain mismatch;
    /// see `docs/verification.md`). `export` and `eval` get `MAX_SEGMENT_FUEL` since 17.
    pub const REFEREE_FUEL: u64 = 250 * pallet_market::FUEL_PER_MFUEL;
    /// Fuel of a disputed segment the slowest node decides ahead per 1 s block: a third of
    /// `MIN_VERIFIER_FUEL_PER_SECOND`, since the referee runs the segment plain and NaN-probed
    /// (the probed run measured 1.10× the plain run's fuel on the example MLP,
    /// `docs/benchmarks.md`), with the rest for compiling the probed module and a busy core.
    /// A referee call over a segment at `MAX_SEGMENT_FUEL` then opens 46 blocks after the
    /// chain's re-run queue leaves off (91 for segment 0, whose re-run runs `init` within the
    /// bound first, and for an output's two calls at the bound), the move's deadline a fifth
    /// of its window after that if the window would end sooner (spec version 21).
    pub const REFEREE_LEAD_FUEL_PER_BLOCK: u64 = MIN_VERIFIER_FUEL_PER_SECOND / 3;
    /// What an unrunnable declaration burns per block of its proof's lead: one second of
    /// weight (1 AGR). A lead block is a second of the slowest node's referee warmer, spent by
    /// every node, so it is priced as a second of block weight is; and each block of lead
    /// pushes every later proof back a block (`pallet_jobs`, `unrunnable.rs`).
    pub const DECLARATION_FEE_PER_LEAD_BLOCK: Balance = fees::FEE_PER_WEIGHT * 1_000_000_000;
    /// The largest declaration fee: a re-run of `init` and segment 0 both at `MAX_SEGMENT_FUEL`,
    /// 91 lead blocks (91 AGR). `MIN_BID_ESCROW` covers it.
    pub const MAX_DECLARATION_FEE: Balance = DECLARATION_FEE_PER_LEAD_BLOCK
        * agora_primitives::referee::referee_lead(2 * MAX_SEGMENT_FUEL, REFEREE_LEAD_FUEL_PER_BLOCK)
            as Balance;
}

/// The system pallet of this runtime.
pub type System = pallet_system::Pallet<Runtime>;
/// The balances pallet of this runtime.
pub type Balances = pallet_balances::Pallet<Runtime>;
/// The staking pallet of this runtime.
pub type Staking = pallet_staking::Pallet<Runtime>;
/// The market pallet of this runtime.
pub type Market = pallet_market::Pallet<Runtime>;
/// The jobs pallet of this runtime.
pub type Jobs = pallet_jobs::Pallet<Runtime>;
/// The verification pallet of this runtime.
pub type Verification = pallet_verification::Pallet<Runtime>;

/// Smallest balance an account can be created with: 0.001 AGR.
pub const EXISTENTIAL_DEPOSIT: Balance = AGR / 1_000;

/// Fee parameters. A fee is `weight × FEE_PER_WEIGHT + length × FEE_PER_BYTE + tip`.
pub mod fees {
    use super::*;
    /// Plancks charged per unit of weight (nanosecond of reference compute).
    pub const FEE_PER_WEIGHT: Balance = 1_000;
    /// Plancks charged per byte of encoded extrinsic (block space and bandwidth).
    pub const FEE_PER_BYTE: Balance = 100_000;
    /// Weight of what every extrinsic costs before its call: signature check, nonce, fee.
    pub const EXTRINSIC_BASE_WEIGHT: Weight = 60_000;
}

impl RuntimeCall {
    /// The blobs whose bytes a node must hold to execute this call (`Ext::require_available`):
    /// a bid's module and dataset, a committed result's final state and model, revealed start
    /// states. A node that pools such a call fetches the ones it lacks, so that it holds them
    /// by the time it leads (a leader leaves out a call it cannot decide). Must name every
    /// blob the call's dispatch asks `Ext::require_available` for; naming more only costs a
    /// fetch. A referee call's blobs depend on the state (the disputed step's pre-state), not
    /// on the call: the node's referee warmer fetches those.
    pub fn blobs_required(&self) -> Vec<agora_primitives::Hash> {
        match self {
            RuntimeCall::Market(pallet_market::Call::PlaceBid { spec, .. }) => {
                vec![spec.module, spec.dataset]
            }
            RuntimeCall::Jobs(pallet_jobs::Call::CommitResult { commitment, .. }) => {
                commitment.result_blobs().collect()
            }
            RuntimeCall::Verification(pallet_verification::Call::RevealStarts {
                starts, ..
            }) => starts
                .iter()
                .flatten()
                .map(|(leaf, _)| leaf.state_hash)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Limits of one block.
pub mod limits {
    use super::*;
    /// Most weight a block may use: 2 s of reference compute.
    pub const MAX_BLOCK_WEIGHT: Weight = 2_000_000_000;
    /// Most bytes of extrinsics a block may carry.
    pub const MAX_BLOCK_LEN: usize = 5 * 1024 * 1024;
}

/// Declares, from one list of the pallets and their indices, the enums that carry a call or an
/// event of any pallet: [`RuntimeCall`] (with its weight) and [`RuntimeEvent`]. Each variant is
/// SCALE-encoded as the pallet's index followed by the pallet's call or event, so one list keeps
/// the two (and every client that decodes them) on the same indices.
macro_rules! runtime_enums {
    ($($index:tt => $name:ident($pallet:ident)),+ $(,)?) => {
        /// Every call of the runtime.
        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
        pub enum RuntimeCall {
            $(
                #[doc = concat!("A call of ", stringify!($name), ".")]
                #[codec(index = $index)]
                $name($pallet::Call),
            )+
        }

        impl RuntimeCall {
            /// Weight of the call itself (without the extrinsic base weight).
            pub fn weight(&self) -> Weight {
                match self {
                    $(RuntimeCall::$name(call) => call.weight(),)+
                }
            }
        }

        /// Every event of the runtime. Its SCALE encoding is the pallet index followed by the
        /// pallet's event, which is exactly what pallets deposit as [`RawEvent::event`].
        #[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize, scale_info::TypeInfo)]
        pub enum RuntimeEvent {
            $(
                #[doc = concat!("An event of ", stringify!($name), ".")]
                #[codec(index = $index)]
                $name($pallet::Event),
            )+
        }
    };
}

runtime_enums! {
    0 => System(pallet_system),
    1 => Balances(pallet_balances),
    2 => Staking(pallet_staking),
    3 => Market(pallet_market),
    4 => Jobs(pallet_jobs),
    5 => Verification(pallet_verification),
}

/// A decoded event with its phase.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EventRecord {
    /// When in the block it happened.
    pub phase: agora_primitives::storage::Phase,
    /// What happened.
    pub event: RuntimeEvent,
}

/// Decodes raw events as deposited by pallets.
pub fn decode_events(raw: &[RawEvent]) -> Result<Vec<EventRecord>, parity_scale_codec::Error> {
    raw.iter()
        .map(|record| {
            Ok(EventRecord {
                phase: record.phase,
                event: RuntimeEvent::decode(&mut &record.event[..])?,
            })
        })
        .collect()
}

/// A dispatch error in words: `"Balances::InsufficientBalance: the free balance is lower than
/// the amount"`.
pub fn describe_dispatch_error(error: DispatchError) -> String {
    fn describe<E: PalletError>(pallet: &str, index: u8) -> String {
        match E::from_index(index) {
            Some(error) => format!("{pallet}::{}: {error}", error.name()),
            None => format!("{pallet}: unknown error {index}"),
        }
    }
    match error.pallet {
        SYSTEM_INDEX => describe::<pallet_system::Error>("System", error.error),
        BALANCES_INDEX => describe::<pallet_balances::Error>("Balances", error.error),
        STAKING_INDEX => describe::<pallet_staking::Error>("Staking", error.error),
        MARKET_INDEX => describe::<pallet_market::Error>("Market", error.error),
        JOBS_INDEX => describe::<pallet_jobs::Error>("Jobs", error.error),
        VERIFICATION_INDEX => describe::<pallet_verification::Error>("Verification", error.error),
        other => format!("unknown pallet {other}, error {}", error.error),
    }
}

/// Checks every pallet's invariants over a whole state, and the accounting that ties them
/// together: each account's reserved balance is exactly its stake, plus the escrow of its open
/// bids and live jobs, plus the deposits of its blobs. With the balances pallet's own check
/// (total issuance = Σ free + reserved) this is the token-conservation check the tests run
/// after every block.
pub fn try_state(state: &impl agora_primitives::storage::StateIter) -> Result<(), String> {
    use std::collections::BTreeMap;
    System::try_state(state)?;
    Balances::try_state(state)?;
    Staking::try_state(state)?;
    Market::try_state(state)?;
    Jobs::try_state(state)?;
    Verification::try_state(state)?;
    let mut held: BTreeMap<agora_primitives::AccountId, Balance> = BTreeMap::new();
    let mut add = |who: agora_primitives::AccountId, amount: Balance| {
        let entry = held.entry(who).or_default();
        *entry = entry.saturating_add(amount);
    };
    for (who, ledger) in pallet_staking::Ledger::iter(state) {
        add(who, ledger.total());
    }
    for (_, bid) in pallet_market::Bids::iter(state) {
        add(bid.buyer, bid.escrow);
    }
    for (_, job) in pallet_jobs::Jobs::iter(state) {
        if !job.status.is_final() {
            add(job.buyer, job.escrow);
        }
    }
    for (_, blob) in pallet_jobs::Blobs::iter(state) {
        add(blob.owner, blob.deposit);
    }
    for (who, data) in pallet_balances::Account::iter(state) {
        let expected = held.remove(&who).unwrap_or(0);
        if data.reserved != expected {
            return Err(format!(
                "{who} has {} reserved but its stake, escrow and deposits add up to {expected}",
                data.reserved
            ));
        }
    }
    if let Some((who, amount)) = held.into_iter().find(|(_, amount)| *amount > 0) {
        return Err(format!(
            "{who} holds {amount} in stake, escrow or deposits but has no account"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod golden;
#[cfg(test)]
mod market_tests;
#[cfg(test)]
mod tests;
