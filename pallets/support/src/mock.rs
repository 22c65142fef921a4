//! The test runtime every pallet's unit tests run on (feature `mock`).
//!
//! A test runtime is declared with [`mock_runtime!`](crate::mock_runtime) in the pallet's test
//! module, named by the pallet under test (the top of the chain system ← balances ← staking ←
//! market ← jobs ← verification):
//!
//! | invocation | pallets | stand-ins the test provides |
//! |---|---|---|
//! | `mock_runtime!(Test: system)` | system | — |
//! | `mock_runtime!(Test: balances)` | system, balances | — |
//! | `mock_runtime!(Test: staking)` | … staking | — |
//! | `mock_runtime!(Test: market<Hooks = H>)` | … market | `H: MarketHooks` (jobs pallet) |
//! | `mock_runtime!(Test: jobs<Verification = V>)` | … jobs | `V: JobVerification` |
//! | `mock_runtime!(Test: verification)` | all six | — |
//!
//! Each may end with `{ const NAME: type = value; … }` to change [`Params`] from their standard
//! values. Pallet indices are the runtime's (System 0 … Verification 5, see [`index`]).
//!
//! From `balances` up, the macro also defines in the invoking module (fixed to `Test`):
//!
//! - `type State`: a whole state in memory ([`State`]).
//! - `genesis(balances, bonds) -> State`: genesis balances (and, from `staking` up, bonds);
//!   the invariants are checked on it.
//! - `step(&mut state, n, |ext| …) -> (R, Vec<Event>)`: runs the closure in block `n` (see
//!   [`step`]) and returns the events of the pallet under test.
//! - `end_block(&mut state, n) -> Vec<Event>`: the `on_finalize` hooks of block `n`, in the
//!   runtime's order (staking, market, jobs, verification; those the runtime has).
//! - `check_all(&state)`: every invariant checker (`try_state`) of the runtime but System's
//!   (tests do not build the block-hash window); panics with the first broken invariant.
//! - `error(Error::X) -> DispatchError`: an error of the pallet under test as dispatch
//!   returns it.

use agora_primitives::storage::{apply_changes, Ext, RawEvent};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash, AGR};
use parity_scale_codec::Decode;
use std::collections::BTreeMap;

/// A whole state in memory.
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

/// Pallet indices of the test runtime: the same as the production runtime's.
pub mod index {
    /// System.
    pub const SYSTEM: u8 = 0;
    /// Balances.
    pub const BALANCES: u8 = 1;
    /// Staking.
    pub const STAKING: u8 = 2;
    /// Market.
    pub const MARKET: u8 = 3;
    /// Jobs.
    pub const JOBS: u8 = 4;
    /// Verification.
    pub const VERIFICATION: u8 = 5;
}

/// The parameters of the test runtime, with their standard values; a test runtime overrides
/// any of them in the braces of [`mock_runtime!`](crate::mock_runtime). Small bounds, so that
/// tests reach them in a few calls; one-digit delays, so that a test spans few blocks.
pub trait Params {
    /// `pallet_system::Config::BLOCK_HASH_COUNT`.
    const BLOCK_HASH_COUNT: BlockNumber = 16;
    /// `pallet_system::Config::MAX_REMARK_LEN`.
    const MAX_REMARK_LEN: u32 = 64;

    /// `pallet_balances::Config::EXISTENTIAL_DEPOSIT`.
    const EXISTENTIAL_DEPOSIT: Balance = AGR / 1000;

    /// `pallet_staking::Config::UNBONDING_DELAY`.
    const UNBONDING_DELAY: BlockNumber = 10;
    /// `pallet_staking::Config::MAX_UNLOCKING_CHUNKS`.
    const MAX_UNLOCKING_CHUNKS: u32 = 4;
    /// `pallet_staking::Config::MIN_BOND`.
    const MIN_BOND: Balance = AGR;
    /// `pallet_staking::Config::MAX_VALIDATORS`.
    const MAX_VALIDATORS: u32 = 3;
    /// `pallet_staking::Config::MAX_CANDIDATES`.
    const MAX_CANDIDATES: u32 = 5;
    /// `pallet_staking::Config::MIN_VALIDATOR_BOND`.
    const MIN_VALIDATOR_BOND: Balance = 10 * AGR;
    /// `pallet_staking::Config::EQUIVOCATION_SLASH_PERCENT`.
    const EQUIVOCATION_SLASH_PERCENT: u8 = 50;
    /// `pallet_staking::Config::EQUIVOCATION_REWARD_PERCENT`.
    const EQUIVOCATION_REWARD_PERCENT: u8 = 10;

    /// `pallet_market::Config::MAX_OPEN_BIDS`.
    const MAX_OPEN_BIDS: u32 = 8;
    /// `pallet_market::Config::MAX_OPEN_OFFERS`.
    const MAX_OPEN_OFFERS: u32 = 4;
    /// `pallet_market::Config::MAX_BIDS_PER_ACCOUNT`.
    const MAX_BIDS_PER_ACCOUNT: u32 = 4;
    /// `pallet_market::Config::MAX_OFFERS_PER_PROVIDER`.
    const MAX_OFFERS_PER_PROVIDER: u32 = 2;
    /// `pallet_market::Config::MAX_MATCHES_PER_BLOCK`.
    const MAX_MATCHES_PER_BLOCK: u32 = 16;
    /// `pallet_market::Config::NEWCOMER_SHARE_PERCENT`.
    const NEWCOMER_SHARE_PERCENT: u8 = 0;
    /// `pallet_market::Config::NEWCOMER_JOBS`.
    const NEWCOMER_JOBS: u32 = 2;
    /// `pallet_market::Config::MAX_PARAMS_LEN`.
    const MAX_PARAMS_LEN: u32 = 32;
    /// `pallet_market::Config::MAX_JOB_FUEL`: 1,000 Mfuel.
    const MAX_JOB_FUEL: u64 = 1_000 * 1_000_000;
    /// `pallet_market::Config::MAX_SEGMENTS`.
    const MAX_SEGMENTS: u64 = 64;
    /// `pallet_market::Config::MAX_SEGMENT_FUEL`: 100 Mfuel.
    const MAX_SEGMENT_FUEL: u64 = 100 * 1_000_000;
    /// `pallet_market::Config::MIN_RUN_BLOCKS`.
    const MIN_RUN_BLOCKS: u32 = 2;
    /// `pallet_market::Config::MIN_COLLATERAL`.
    const MIN_COLLATERAL: Balance = AGR;
    /// `pallet_market::Config::MIN_BID_ESCROW`: the mock's `REFEREE_CALL_FEE` scale.
    const MIN_BID_ESCROW: Balance = AGR / 10;
    /// `pallet_market::Config::SAMPLE_PERMILLE`: every job here is small, so one segment
    /// besides the last.
    const SAMPLE_PERMILLE: u32 = 10;
    /// `pallet_market::Config::VERIFIERS_PER_SEGMENT`.
    const VERIFIERS_PER_SEGMENT: u32 = 1;
    /// `pallet_market::Config::MAX_VERIFIERS_PER_SEGMENT`.
    const MAX_VERIFIERS_PER_SEGMENT: u32 = 3;
    /// `pallet_market::Config::MAX_SAMPLED_SEGMENTS`: a quarter of `MAX_SEGMENTS`, so that a
    /// bid checking every segment of a long job meets it.
    const MAX_SAMPLED_SEGMENTS: u64 = 16;
    /// `pallet_market::Config::VERIFIER_MARGIN_PERCENT`.
    const VERIFIER_MARGIN_PERCENT: u32 = 10;
    /// `pallet_market::Config::PROVIDER_MARGIN_PERCENT`.
    const PROVIDER_MARGIN_PERCENT: u32 = 25;
    /// `pallet_market::Config::ORDER_RENT_PER_BLOCK`: none as standard, so that other
    /// pallets' tests count balances without it; the market's rent tests set their own.
    const ORDER_RENT_PER_BLOCK: Balance = 0;
    /// `pallet_market::Config::OFFER_BOND`: none as standard (as the rent).
    const OFFER_BOND: Balance = 0;
    /// `pallet_market::Config::UNSERVED_BID_BLOCKS`.
    const UNSERVED_BID_BLOCKS: BlockNumber = 1_000;
    /// `pallet_market::Config::CLEARING_HISTORY`.
    const CLEARING_HISTORY: u32 = 3;
    /// `pallet_market::Config::RECENT_MATCHES`.
    const RECENT_MATCHES: u32 = 4;
    /// `pallet_market::Config::CLOSED_BID_RETENTION`.
    const CLOSED_BID_RETENTION: BlockNumber = 10;

    /// `pallet_jobs::Config::MAX_BLOB_SIZE`: 1 MiB.
    const MAX_BLOB_SIZE: u64 = 1 << 20;
    /// `pallet_jobs::Config::MAX_BLOB_BYTES_PER_ACCOUNT`: 3 MiB.
    const MAX_BLOB_BYTES_PER_ACCOUNT: u64 = 3 << 20;
    /// `pallet_jobs::Config::BLOB_DEPOSIT_BASE`.
    const BLOB_DEPOSIT_BASE: Balance = AGR / 100;
    /// `pallet_jobs::Config::BLOB_DEPOSIT_PER_KIB`.
    const BLOB_DEPOSIT_PER_KIB: Balance = AGR / 10_000;
    /// `pallet_jobs::Config::BLOB_TTL`.
    const BLOB_TTL: BlockNumber = 20;
    /// `pallet_jobs::Config::MAX_DUE_PER_BLOCK`.
    const MAX_DUE_PER_BLOCK: u32 = 2;
    /// `pallet_jobs::Config::MAX_METRICS_LEN`.
    const MAX_METRICS_LEN: u32 = 16;
    /// `pallet_jobs::Config::CHALLENGE_BLOCKS`.
    const CHALLENGE_BLOCKS: BlockNumber = 3;
    /// `pallet_jobs::Config::CANCEL_FEE_PERCENT`.
    const CANCEL_FEE_PERCENT: u8 = 10;
    /// `pallet_jobs::Config::CANCEL_NOTICE_BLOCKS`.
    const CANCEL_NOTICE_BLOCKS: BlockNumber = 2;
    /// `pallet_jobs::Config::JOB_RETENTION`.
    const JOB_RETENTION: BlockNumber = 5;
    /// `pallet_jobs::Config::MODEL_RETENTION`: longer than `BLOB_TTL`, as in the runtime.
    const MODEL_RETENTION: BlockNumber = 50;
    /// `pallet_jobs::Config::DISPUTE_REWARD_PERCENT`.
    const DISPUTE_REWARD_PERCENT: u8 = 50;
    /// `pallet_jobs::Config::PROOF_BLOCKS`.
    const PROOF_BLOCKS: BlockNumber = 4;

    /// `pallet_verification::Config::MAX_VERIFIERS`.
    const MAX_VERIFIERS: u32 = 3;
    /// `pallet_verification::Config::VERIFIER_MIN_STAKE`.
    const VERIFIER_MIN_STAKE: Balance = 2 * AGR;
    /// `pallet_verification::Config::CHECK_BOND`.
    const CHECK_BOND: Balance = AGR;
    /// `pallet_verification::Config::REVEAL_BLOCKS`.
    const REVEAL_BLOCKS: BlockNumber = 3;
    /// `pallet_verification::Config::ATTEST_BLOCKS`.
    const ATTEST_BLOCKS: BlockNumber = 5;
    /// `pallet_verification::Config::RUN_SEGMENTS`.
    const RUN_SEGMENTS: u64 = 2;
    /// `pallet_verification::Config::MOVE_BLOCKS`.
    const MOVE_BLOCKS: BlockNumber = 2;
    /// `pallet_verification::Config::SAMPLE_WAIT_BLOCKS`.
    const SAMPLE_WAIT_BLOCKS: BlockNumber = 3;
    /// `pallet_verification::Config::REFEREE_FUEL`.
    const REFEREE_FUEL: u64 = 1_000_000;
    /// `pallet_jobs::Config::REFEREE_LEAD_FUEL_PER_BLOCK`: `MAX_SEGMENT_FUEL`, so a
    /// whole-segment referee call is accepted one block after the re-run queue leaves off
    /// (two for an output's calls, or `init` and segment 0).
    const REFEREE_LEAD_FUEL_PER_BLOCK: u64 = 100 * 1_000_000;
    /// `pallet_jobs::Config::DECLARATION_FEE_PER_LEAD_BLOCK`: the largest declaration (2 lead
    /// blocks) burns a fifth of `MIN_BID_ESCROW`.
    const DECLARATION_FEE_PER_LEAD_BLOCK: Balance = AGR / 100;
    /// `pallet_verification::Config::REFEREE_CALL_FEE`.
    const REFEREE_CALL_FEE: Balance = AGR / 10;
    /// `pallet_verification::Config::CHALLENGE_BOND`.
    const CHALLENGE_BOND: Balance = 2 * AGR;
}

/// What the generic helpers need to know of a test runtime; implemented by
/// [`mock_runtime!`](crate::mock_runtime).
pub trait TestRuntime {
    /// The events [`step`] returns: those of the pallet under test.
    type Event: Decode;
    /// Index of the pallet under test.
    const PALLET: u8;
    /// Writes the context of block `number` (number and parent hash); whether the block
    /// begins here (the state was at another block).
    fn begin_block(ext: &mut Ext<'_>, number: BlockNumber) -> bool;
    /// Every `on_initialize` hook after the context, in the runtime's order.
    fn initialize(ext: &mut Ext<'_>);
    /// Genesis balances and bonds.
    fn build_genesis(
        ext: &mut Ext<'_>,
        balances: &[(AccountId, Balance)],
        bonds: &[(AccountId, Balance)],
    );
    /// Every `on_finalize` hook, in the runtime's order.
    fn finalize(ext: &mut Ext<'_>);
    /// Every invariant checker.
    fn try_state(state: &State) -> Result<(), String>;
}

/// The parent hash tests give block `number`: `[number − 1; 32]` (mod 256), so that a sample
/// drawn from it is known in advance.
pub fn parent_hash(number: BlockNumber) -> Hash {
    let parent = number.saturating_sub(1).to_le_bytes()[0];
    Hash([parent; 32])
}

/// Runs `f` on `state` and applies its writes, checking nothing: for setting up (or breaking,
/// in tests of the invariant checkers) a state by hand.
pub fn apply<R>(state: &mut State, f: impl FnOnce(&mut Ext<'_>) -> R) -> R {
    let backend = state.clone();
    let mut ext = Ext::new(&backend);
    let result = f(&mut ext);
    let (changes, _) = ext.into_changes();
    apply_changes(state, &changes);
    result
}

/// The state after genesis with these balances and bonds; its invariants are checked.
pub fn genesis<T: TestRuntime>(
    balances: &[(AccountId, Balance)],
    bonds: &[(AccountId, Balance)],
) -> State {
    let mut state = State::new();
    apply(&mut state, |ext| T::build_genesis(ext, balances, bonds));
    check_all::<T>(&state);
    state
}

/// Runs `f` in block `number` and returns its result with the events of the pallet under test.
///
/// The block's context (number, parent hash [`parent_hash`]) is written first, as the
/// executive's `on_initialize` would have left it, and — when the state was at another block
/// (so the first time a step runs in block `number`) — the pallets' `on_initialize` hooks
/// run, their events first in the result; `f`
/// then runs on a fresh [`Ext`] (so `ext.block_changes()` shows only its own writes), its
/// writes are applied, and every invariant is checked.
pub fn step<T: TestRuntime, R>(
    state: &mut State,
    number: BlockNumber,
    f: impl FnOnce(&mut Ext<'_>) -> R,
) -> (R, Vec<T::Event>) {
    let mut events = Vec::new();
    if apply(state, |ext| T::begin_block(ext, number)) {
        let ((), initialized) = run::<T, ()>(state, T::initialize);
        events = initialized;
    }
    let (result, mut raised) = run::<T, R>(state, f);
    events.append(&mut raised);
    (result, events)
}

/// Runs `f` on a fresh [`Ext`] with the default [`NoEngine`] referee, applies its writes,
/// checks every invariant, and returns its result and the events of the pallet under test.
fn run<T: TestRuntime, R>(
    state: &mut State,
    f: impl FnOnce(&mut Ext<'_>) -> R,
) -> (R, Vec<T::Event>) {
    let backend = state.clone();
    let mut ext = Ext::new(&backend);
    ext.set_referee(Some(std::sync::Arc::new(NoEngine::default())));
    let result = f(&mut ext);
    let (changes, raw) = ext.into_changes();
    apply_changes(state, &changes);
    check_all::<T>(state);
    (result, events(&raw, T::PALLET))
}

/// A node without an engine (every referee run is undecided, `Detached`) that holds the bytes
/// of every blob but `lacks`. [`step`] attaches the default one (availability checks pass);
/// tests of a missing blob attach one that lacks it, tests of a verdict a referee of their own.
#[derive(Default)]
pub struct NoEngine {
    /// The one blob whose bytes it does not hold.
    pub lacks: Option<agora_primitives::Hash>,
}

impl agora_primitives::referee::Referee for NoEngine {
    fn run(
        &self,
        _: &agora_primitives::referee::RefereeRequest,
    ) -> Result<agora_primitives::referee::RefereeVerdict, agora_primitives::referee::RefereeError>
    {
        Err(agora_primitives::referee::RefereeError::Detached)
    }

    fn holds(&self, blob: &agora_primitives::Hash) -> bool {
        self.lacks != Some(*blob)
    }
}

/// The end of block `number`: every `on_finalize` hook, in the runtime's order.
pub fn end_block<T: TestRuntime>(state: &mut State, number: BlockNumber) -> Vec<T::Event> {
    step::<T, ()>(state, number, T::finalize).1
}

/// Checks every invariant of the runtime; panics with the first that is broken.
pub fn check_all<T: TestRuntime>(state: &State) {
    if let Err(broken) = T::try_state(state) {
        panic!("invariant broken: {broken}");
    }
}

/// The events of the pallet at `pallet`, decoded.
pub fn events<E: Decode>(raw: &[RawEvent], pallet: u8) -> Vec<E> {
    raw.iter()
        .filter(|raw| raw.event.first() == Some(&pallet))
        .map(|raw| {
            E::decode(&mut raw.event.get(1..).unwrap_or_default())
                .expect("a pallet's event decodes as its Event")
        })
        .collect()
}

/// Declares the test runtime (see the [module documentation](crate::mock)).
// `crate` in the expansion is meant: it names the invoking crate, the pallet under test.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! mock_runtime {
    // --- entry points, one per top pallet ---------------------------------------------------
    ($T:ident: system $({ $($params:tt)* })?) => {
        $crate::mock_runtime!(@params $T { $($($params)*)? });
        $crate::mock_runtime!(@system $T crate);
    };
    ($T:ident: balances $({ $($params:tt)* })?) => {
        $crate::mock_runtime!(@params $T { $($($params)*)? });
        $crate::mock_runtime!(@system $T pallet_system);
        $crate::mock_runtime!(@balances $T crate);
        $crate::mock_runtime!(@runtime $T BALANCES, genesis [crate],
            initialize [], finalize [], check [crate]);
    };
    ($T:ident: staking $({ $($params:tt)* })?) => {
        $crate::mock_runtime!(@params $T { $($($params)*)? });
        $crate::mock_runtime!(@system $T pallet_system);
        $crate::mock_runtime!(@balances $T pallet_balances);
        $crate::mock_runtime!(@staking $T crate);
        $crate::mock_runtime!(@runtime $T STAKING, genesis [pallet_balances crate],
            initialize [], finalize [crate], check [pallet_balances crate]);
    };
    ($T:ident: market<Hooks = $hooks:ty> $({ $($params:tt)* })?) => {
        $crate::mock_runtime!(@params $T { $($($params)*)? });
        $crate::mock_runtime!(@system $T pallet_system);
        $crate::mock_runtime!(@balances $T pallet_balances);
        $crate::mock_runtime!(@staking $T pallet_staking);
        $crate::mock_runtime!(@market $T crate, $hooks);
        $crate::mock_runtime!(@runtime $T MARKET, genesis [pallet_balances pallet_staking],
            initialize [], finalize [pallet_staking crate],
            check [pallet_balances pallet_staking crate]);
    };
    ($T:ident: jobs<Verification = $verification:ty> $({ $($params:tt)* })?) => {
        $crate::mock_runtime!(@params $T { $($($params)*)? });
        $crate::mock_runtime!(@system $T pallet_system);
        $crate::mock_runtime!(@balances $T pallet_balances);
        $crate::mock_runtime!(@staking $T pallet_staking);
        $crate::mock_runtime!(@market $T pallet_market, crate::Pallet<$T>);
        $crate::mock_runtime!(@jobs $T crate, $verification);
        $crate::mock_runtime!(@runtime $T JOBS, genesis [pallet_balances pallet_staking],
            initialize [], finalize [pallet_staking pallet_market crate],
            check [pallet_balances pallet_staking pallet_market crate]);
    };
    ($T:ident: verification $({ $($params:tt)* })?) => {
        $crate::mock_runtime!(@params $T { $($($params)*)? });
        $crate::mock_runtime!(@system $T pallet_system);
        $crate::mock_runtime!(@balances $T pallet_balances);
        $crate::mock_runtime!(@staking $T pallet_staking);
        $crate::mock_runtime!(@market $T pallet_market, pallet_jobs::Pallet<$T>);
        $crate::mock_runtime!(@jobs $T pallet_jobs, crate::Pallet<$T>);
        $crate::mock_runtime!(@verification $T crate);
        $crate::mock_runtime!(@runtime $T VERIFICATION,
            genesis [pallet_balances pallet_staking],
            initialize [crate], finalize [pallet_staking pallet_market pallet_jobs crate],
            check [pallet_balances pallet_staking pallet_market pallet_jobs crate]);
    };

    // --- the runtime type and its parameters ------------------------------------------------
    (@params $T:ident { $($params:tt)* }) => {
        /// The test runtime.
        struct $T;
        impl $crate::mock::Params for $T {
            $($params)*
        }
    };

    // --- one `Config` impl per pallet ($p: the pallet's crate as seen from the test) -----------
    (@system $T:ident $p:tt) => {
        impl $p::Config for $T {
            const SYSTEM_PALLET_INDEX: u8 = $crate::mock::index::SYSTEM;
            const BLOCK_HASH_COUNT: $crate::__private::BlockNumber =
                <$T as $crate::mock::Params>::BLOCK_HASH_COUNT;
            const MAX_REMARK_LEN: u32 = <$T as $crate::mock::Params>::MAX_REMARK_LEN;
        }
    };
    (@balances $T:ident $p:tt) => {
        impl $p::Config for $T {
            const BALANCES_PALLET_INDEX: u8 = $crate::mock::index::BALANCES;
            const EXISTENTIAL_DEPOSIT: $crate::__private::Balance =
                <$T as $crate::mock::Params>::EXISTENTIAL_DEPOSIT;
        }
    };
    (@staking $T:ident $p:tt) => {
        impl $p::Config for $T {
            const STAKING_PALLET_INDEX: u8 = $crate::mock::index::STAKING;
            const UNBONDING_DELAY: $crate::__private::BlockNumber =
                <$T as $crate::mock::Params>::UNBONDING_DELAY;
            const MAX_UNLOCKING_CHUNKS: u32 = <$T as $crate::mock::Params>::MAX_UNLOCKING_CHUNKS;
            const MIN_BOND: $crate::__private::Balance = <$T as $crate::mock::Params>::MIN_BOND;
            const MAX_VALIDATORS: u32 = <$T as $crate::mock::Params>::MAX_VALIDATORS;
            const MAX_CANDIDATES: u32 = <$T as $crate::mock::Params>::MAX_CANDIDATES;
            const MIN_VALIDATOR_BOND: $crate::__private::Balance =
                <$T as $crate::mock::Params>::MIN_VALIDATOR_BOND;
            const EQUIVOCATION_SLASH_PERCENT: u8 =
                <$T as $crate::mock::Params>::EQUIVOCATION_SLASH_PERCENT;
            const EQUIVOCATION_REWARD_PERCENT: u8 =
                <$T as $crate::mock::Params>::EQUIVOCATION_REWARD_PERCENT;
        }
    };
    (@market $T:ident $p:tt, $hooks:ty) => {
        $crate::mock_runtime!(@consts $T $p [MARKET_PALLET_INDEX = MARKET] {
            MAX_OPEN_BIDS: u32, MAX_OPEN_OFFERS: u32, MAX_BIDS_PER_ACCOUNT: u32,
            MAX_OFFERS_PER_PROVIDER: u32, MAX_MATCHES_PER_BLOCK: u32, NEWCOMER_SHARE_PERCENT: u8,
            NEWCOMER_JOBS: u32, MAX_PARAMS_LEN: u32, MAX_JOB_FUEL: u64, MAX_SEGMENTS: u64,
            MAX_SEGMENT_FUEL: u64, MIN_RUN_BLOCKS: u32, MIN_COLLATERAL: $crate::__private::Balance,
            MIN_BID_ESCROW: $crate::__private::Balance,
            SAMPLE_PERMILLE: u32, VERIFIERS_PER_SEGMENT: u32, MAX_VERIFIERS_PER_SEGMENT: u32,
            MAX_SAMPLED_SEGMENTS: u64, VERIFIER_MARGIN_PERCENT: u32,
            PROVIDER_MARGIN_PERCENT: u32,
            ORDER_RENT_PER_BLOCK: $crate::__private::Balance,
            OFFER_BOND: $crate::__private::Balance,
            UNSERVED_BID_BLOCKS: $crate::__private::BlockNumber,
            CLEARING_HISTORY: u32, RECENT_MATCHES: u32,
            CLOSED_BID_RETENTION: $crate::__private::BlockNumber,
        } type Hooks = $hooks;);
    };
    (@jobs $T:ident $p:tt, $verification:ty) => {
        $crate::mock_runtime!(@consts $T $p [JOBS_PALLET_INDEX = JOBS] {
            MAX_BLOB_SIZE: u64, MAX_BLOB_BYTES_PER_ACCOUNT: u64,
            BLOB_DEPOSIT_BASE: $crate::__private::Balance,
            BLOB_DEPOSIT_PER_KIB: $crate::__private::Balance,
            BLOB_TTL: $crate::__private::BlockNumber, MAX_DUE_PER_BLOCK: u32,
            MAX_METRICS_LEN: u32, CHALLENGE_BLOCKS: $crate::__private::BlockNumber,
            CANCEL_FEE_PERCENT: u8,
            CANCEL_NOTICE_BLOCKS: $crate::__private::BlockNumber, JOB_RETENTION: $crate::__private::BlockNumber,
            MODEL_RETENTION: $crate::__private::BlockNumber,
            DISPUTE_REWARD_PERCENT: u8,
            PROOF_BLOCKS: $crate::__private::BlockNumber,
            REFEREE_LEAD_FUEL_PER_BLOCK: u64,
            DECLARATION_FEE_PER_LEAD_BLOCK: $crate::__private::Balance,
        } type Verification = $verification;);
    };
    (@verification $T:ident $p:tt) => {
        $crate::mock_runtime!(@consts $T $p [VERIFICATION_PALLET_INDEX = VERIFICATION] {
            MAX_VERIFIERS: u32, VERIFIER_MIN_STAKE: $crate::__private::Balance,
            CHECK_BOND: $crate::__private::Balance, REVEAL_BLOCKS: $crate::__private::BlockNumber,
            ATTEST_BLOCKS: $crate::__private::BlockNumber, RUN_SEGMENTS: u64,
            MOVE_BLOCKS: $crate::__private::BlockNumber,
            SAMPLE_WAIT_BLOCKS: $crate::__private::BlockNumber, REFEREE_FUEL: u64,
            REFEREE_CALL_FEE: $crate::__private::Balance,
            CHALLENGE_BOND: $crate::__private::Balance,
        });
    };
    (@consts $T:ident $p:tt [$index_name:ident = $index:ident]
        { $($name:ident: $ty:ty),+ $(,)? } $($items:tt)*) => {
        impl $p::Config for $T {
            const $index_name: u8 = $crate::mock::index::$index;
            $(const $name: $ty = <$T as $crate::mock::Params>::$name;)+
            $($items)*
        }
    };

    // --- the generic helpers' view of the runtime, and the helpers fixed to it ----------------
    (@runtime $T:ident $index:ident, genesis [$balances:tt $($staking:tt)?],
        initialize [$($initialize:tt)*], finalize [$($finalize:tt)*],
        check [$($check:tt)*]) => {
        impl $crate::mock::TestRuntime for $T {
            type Event = crate::Event;
            const PALLET: u8 = $crate::mock::index::$index;
            fn begin_block(
                ext: &mut $crate::__private::Ext<'_>,
                number: $crate::__private::BlockNumber,
            ) -> bool {
                let begins = pallet_system::Number::get(ext) != Some(number);
                pallet_system::Number::put(ext, &number);
                pallet_system::ParentHash::put(ext, &$crate::mock::parent_hash(number));
                // A beacon that changes every block, as the real one does.
                pallet_system::Beacon::put(ext, &$crate::mock::parent_hash(number));
                begins
            }
            fn build_genesis(
                ext: &mut $crate::__private::Ext<'_>,
                balances: &[($crate::__private::AccountId, $crate::__private::Balance)],
                bonds: &[($crate::__private::AccountId, $crate::__private::Balance)],
            ) {
                $balances::Pallet::<$T>::build_genesis(
                    ext,
                    &$balances::GenesisConfig { balances: balances.to_vec() },
                );
                $crate::mock_runtime!(@bonds $T ext, bonds $(, $staking)?);
            }
            fn initialize(ext: &mut $crate::__private::Ext<'_>) {
                $(let _ = $initialize::Pallet::<$T>::on_initialize(ext);)*
                let _ = ext;
            }
            fn finalize(ext: &mut $crate::__private::Ext<'_>) {
                $(let _ = $finalize::Pallet::<$T>::on_finalize(ext);)*
                let _ = ext;
            }
            fn try_state(state: &$crate::mock::State) -> Result<(), String> {
                $($check::Pallet::<$T>::try_state(state)?;)*
                Ok(())
            }
        }

        #[allow(dead_code)]
        type State = $crate::mock::State;

        /// Genesis with these balances (and bonds, from the staking runtime up).
        #[allow(dead_code)]
        fn genesis(
            balances: &[($crate::__private::AccountId, $crate::__private::Balance)],
            bonds: &[($crate::__private::AccountId, $crate::__private::Balance)],
        ) -> State {
            $crate::mock::genesis::<$T>(balances, bonds)
        }

        /// Runs `f` in block `number`; returns its result and the events of the pallet under
        /// test.
        #[allow(dead_code)]
        fn step<R>(
            state: &mut State,
            number: $crate::__private::BlockNumber,
            f: impl FnOnce(&mut $crate::__private::Ext<'_>) -> R,
        ) -> (R, Vec<crate::Event>) {
            $crate::mock::step::<$T, R>(state, number, f)
        }

        /// The end of block `number`: every `on_finalize`, in the runtime's order.
        #[allow(dead_code)]
        fn end_block(state: &mut State, number: $crate::__private::BlockNumber) -> Vec<crate::Event> {
            $crate::mock::end_block::<$T>(state, number)
        }

        /// Every invariant checker of the runtime.
        #[allow(dead_code)]
        fn check_all(state: &State) {
            $crate::mock::check_all::<$T>(state)
        }

        /// An error of the pallet under test, as dispatch returns it.
        #[allow(dead_code)]
        fn error(error: crate::Error) -> $crate::__private::DispatchError {
            $crate::__private::PalletError::into_dispatch(error, $crate::mock::index::$index)
        }
    };
    (@bonds $T:ident $ext:ident, $bonds:ident) => {
        assert!($bonds.is_empty(), "bonds need the staking pallet in the test runtime");
    };
    (@bonds $T:ident $ext:ident, $bonds:ident, $staking:tt) => {
        $staking::Pallet::<$T>::build_genesis(
            $ext,
            &$staking::GenesisConfig { bonds: $bonds.to_vec(), ..Default::default() },
        );
    };
}
