//! # Staking pallet (collateral)
//!
//! Providers and verifiers put tokens at stake before the market trusts them with work. Stake
//! is **bonded**: moved from the account's free balance into its reserved balance, where it can
//! be slashed. Part of the bonded stake can be **committed** by another pallet (the market
//! commits an offer's collateral for every job it assigns; verification commits a verifier's
//! bond for every attestation it owes). Committed stake is what a fault costs.
//!
//! ```text
//!            bond                unbond                 withdraw_unbonded
//!   free ───────────▶ active ───────────▶ unlocking ────────────────────▶ free
//!                      │  ▲                (UNBONDING_DELAY blocks)
//!            commit    ▼  │ release
//!                    committed ──── slash_committed ───▶ destroyed (total issuance falls)
//! ```
//!
//! Unbonding takes [`Config::UNBONDING_DELAY`] blocks so that a participant who misbehaves
//! cannot withdraw before the fault is judged: stake leaving the active pool still sits in the
//! reserved balance until the delay has passed. Only uncommitted active stake can be unbonded.
//!
//! ## Validators
//!
//! The consensus committee of every epoch is elected here (see [`validators`]): an account
//! registers as a validator candidate with a consensus key, a p2p address and a **validator
//! bond** (bonded and committed in one step, so it can be slashed and cannot be unbonded while
//! it backs a seat). Epoch `e` is the blocks `e·L + 1 ..= (e+1)·L` for the genesis epoch length
//! `L`; at block `e·L + ⌊L/2⌋` (the *election block*) the top [`Config::MAX_VALIDATORS`]
//! candidates by bond (ties to the lower account) become the committee of epoch `e + 1`. Half
//! an epoch separates the election from the switch so that every node has the new committee
//! finalized, and new members have synced, before they must sign.
//!
//! ## Invariants (checked by [`Pallet::try_state`] after every test)
//!
//! 1. `committed ≤ active` for every ledger.
//! 2. A ledger's total (`active + Σ unlocking`) is at most the account's reserved balance.
//! 3. At most [`Config::MAX_UNLOCKING_CHUNKS`] unlocking chunks, each non-zero.
//! 4. No empty ledger is stored; `TotalBonded` equals the sum of ledger totals.
//!
//! Layout follows FRAME: config → events → errors → storage → genesis → hooks → calls.

use agora_primitives::dispatch::{DispatchResult, Weight};
use agora_primitives::storage::{Ext, StateIter, StateRead};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_balances::BalanceStatus;
use scale_info::TypeInfo;
use serde::Serialize;

/// Where a dispute loser's slashed stake went.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slashed {
    /// Repaid to whoever paid to have the dispute decided.
    pub repaid: Balance,
    /// Burned.
    pub burned: Balance,
    /// Paid to the winner.
    pub rewarded: Balance,
}
use pallet_support::{ensure, to_usize, BoundedVec};
use parity_scale_codec::{Compact, Decode, Encode};

// ---------------------------------------------------------------------------------------------
// Config

/// Runtime parameters of the pallet.
pub trait Config: pallet_balances::Config {
    /// Index of this pallet in the runtime.
    const STAKING_PALLET_INDEX: u8;
    /// Blocks between `unbond` and the moment the tokens can be withdrawn.
    const UNBONDING_DELAY: BlockNumber;
    /// Most unlocking chunks an account may have waiting at once.
    const MAX_UNLOCKING_CHUNKS: u32;
    /// Smallest non-zero active stake an account may hold.
    const MIN_BOND: Balance;
    /// Most validators in one epoch's committee: the top-N candidates by bond.
    const MAX_VALIDATORS: u32;
    /// Most validator candidates registered at once (bounds the election's work).
    const MAX_CANDIDATES: u32;
    /// Smallest validator bond.
    const MIN_VALIDATOR_BOND: Balance;
    /// Share of the validator bond an equivocation costs, in percent.
    const EQUIVOCATION_SLASH_PERCENT: u8;
    /// Share of that penalty paid to the reporter, in percent (the rest is burned).
    const EQUIVOCATION_REWARD_PERCENT: u8;
}

// ---------------------------------------------------------------------------------------------
// Events

/// Events of the staking pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum Event {
    /// Free balance was bonded as stake.
    #[codec(index = 0)]
    Bonded {
        /// Whose stake.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// Active stake started unbonding; withdrawable from block `until`.
    #[codec(index = 1)]
    Unbonding {
        /// Whose stake.
        who: AccountId,
        /// How much.
        amount: Balance,
        /// First block at which it can be withdrawn.
        until: BlockNumber,
    },
    /// Unbonded stake returned to the free balance.
    #[codec(index = 2)]
    Withdrawn {
        /// Whose stake.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// Stake was committed as collateral for a piece of work.
    #[codec(index = 3)]
    Committed {
        /// Whose stake.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// Committed stake was released back to the active pool.
    #[codec(index = 4)]
    Released {
        /// Whose stake.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// Committed stake was destroyed as a penalty (the balances pallet records the burn too).
    #[codec(index = 5)]
    Slashed {
        /// Whose stake.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// Committed stake was spent on a charge its owner agreed to (an offer's rent), not a
    /// penalty (the balances pallet records the burn too).
    #[codec(index = 6)]
    Spent {
        /// Whose stake.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// An account became a validator candidate, its bond committed.
    #[codec(index = 7)]
    ValidatorRegistered {
        /// The candidate.
        who: AccountId,
        /// Its ed25519 consensus key.
        consensus_key: Hash,
        /// Its validator bond.
        bond: Balance,
    },
    /// A candidate changed its consensus key or address; used from the next election on.
    #[codec(index = 8)]
    ValidatorKeySet {
        /// The candidate.
        who: AccountId,
        /// Its new consensus key.
        consensus_key: Hash,
    },
    /// A candidate withdrew; its bond is released once it sits in no committee.
    #[codec(index = 9)]
    ValidatorUnregistered {
        /// The former candidate.
        who: AccountId,
    },
    /// The committee of `epoch` was elected.
    #[codec(index = 10)]
    CommitteeElected {
        /// The epoch it will sign.
        epoch: u64,
        /// How many validators it has.
        size: u32,
    },
    /// Epoch `epoch` begins with the next block.
    #[codec(index = 11)]
    EpochStarted {
        /// The epoch.
        epoch: u64,
    },
    /// A former validator's bond was released back to its active stake.
    #[codec(index = 12)]
    ValidatorBondReleased {
        /// The former validator.
        who: AccountId,
        /// Its bond.
        amount: Balance,
    },
    /// A validator signed two conflicting votes; its bond was slashed and its candidacy
    /// withdrawn.
    #[codec(index = 13)]
    Equivocated {
        /// The validator's account.
        who: AccountId,
        /// The round's epoch.
        epoch: u64,
        /// The round's view.
        view: u64,
        /// How much of its bond was taken.
        slashed: Balance,
        /// Who reported it.
        reporter: AccountId,
        /// The reporter's share of `slashed`.
        rewarded: Balance,
    },
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Errors of the staking pallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, TypeInfo)]
pub enum Error {
    /// The amount is zero.
    #[error("the amount is zero")]
    ZeroAmount,
    /// The free balance cannot cover the bond.
    #[error("the free balance is lower than the amount to bond")]
    InsufficientBalance,
    /// The bond would leave less active stake than the minimum bond.
    #[error("the active stake would be below the minimum bond")]
    BelowMinimumBond,
    /// The uncommitted active stake is lower than the amount.
    #[error("the uncommitted active stake is lower than the amount")]
    InsufficientStake,
    /// Too many unlocking chunks are waiting; withdraw some first.
    #[error("too many unbonding requests are waiting; withdraw matured ones first")]
    TooManyUnlockingChunks,
    /// No unlocking chunk has matured.
    #[error("no unbonded stake has finished its unbonding delay yet")]
    NothingToWithdraw,
    /// A stake total would overflow.
    #[error("the stake would overflow")]
    Overflow,
    /// The account is already a validator candidate.
    #[error("the account is already a validator candidate")]
    AlreadyCandidate,
    /// The account is not a validator candidate.
    #[error("the account is not a validator candidate")]
    NotCandidate,
    /// The consensus key is not a usable ed25519 public key (not a curve point, or of small
    /// order, for which anyone can forge signatures).
    #[error("the consensus key is not a valid ed25519 public key")]
    InvalidConsensusKey,
    /// Another candidate or a sitting validator uses this consensus key.
    #[error("the consensus key is already used by another validator")]
    ConsensusKeyInUse,
    /// The p2p address is not `IP:port` (at most 64 bytes), nor empty.
    #[error("the validator address is not IP:port")]
    InvalidAddress,
    /// [`Config::MAX_CANDIDATES`] candidates are registered already.
    #[error("the validator candidate list is full")]
    TooManyCandidates,
    /// The validator bond is below [`Config::MIN_VALIDATOR_BOND`].
    #[error("the validator bond is below the minimum")]
    BelowMinimumValidatorBond,
    /// The two votes of the evidence do not conflict.
    #[error("the two votes do not conflict")]
    NotAnEquivocation,
    /// The evidence's epoch committee is no longer (or not yet) in state.
    #[error("the evidence is for an epoch whose committee is not in state")]
    EvidenceTooOld,
    /// The evidence's key is not in its epoch's committee.
    #[error("the offender key is not in the committee of the evidence's epoch")]
    NotInCommittee,
    /// This key's offence in this epoch was already punished.
    #[error("this offence was already reported")]
    AlreadyReported,
    /// A signature of the evidence does not verify under the offender's key.
    #[error("a signature of the evidence does not verify")]
    BadEvidenceSignature,
    /// The beacon key is neither the consensus key nor a valid sr25519 (ristretto255) public
    /// key.
    #[error("the beacon key is neither the consensus key nor a valid sr25519 public key")]
    InvalidBeaconKey,
    /// The key proof is not the consensus key's signature of the registering account (see
    /// [`validators::key_ownership_message`]).
    #[error("the key proof is not the consensus key's signature of the registering account")]
    BadKeyProof,
}

agora_primitives::impl_pallet_error!(Error {
    ZeroAmount,
    InsufficientBalance,
    BelowMinimumBond,
    InsufficientStake,
    TooManyUnlockingChunks,
    NothingToWithdraw,
    Overflow,
    AlreadyCandidate,
    NotCandidate,
    InvalidConsensusKey,
    ConsensusKeyInUse,
    InvalidAddress,
    TooManyCandidates,
    BelowMinimumValidatorBond,
    NotAnEquivocation,
    EvidenceTooOld,
    NotInCommittee,
    AlreadyReported,
    BadEvidenceSignature,
    InvalidBeaconKey,
    BadKeyProof,
});

// ---------------------------------------------------------------------------------------------
// Storage

/// Stake on its way out: withdrawable from block `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct UnlockChunk {
    /// Amount.
    pub amount: Balance,
    /// First block at which it can be withdrawn.
    pub until: BlockNumber,
}

/// The stake of one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct StakeLedger {
    /// Bonded stake that is not unbonding.
    pub active: Balance,
    /// The part of `active` committed as collateral by other pallets.
    pub committed: Balance,
    /// Stake unbonding, oldest first.
    pub unlocking: Vec<UnlockChunk>,
}

impl StakeLedger {
    /// Active stake not committed to any work: what can back new work or be unbonded.
    pub fn available(&self) -> Balance {
        self.active.saturating_sub(self.committed)
    }

    /// Everything this ledger holds in the reserved balance.
    pub fn total(&self) -> Balance {
        self.unlocking
            .iter()
            .fold(self.active, |sum, chunk| sum.saturating_add(chunk.amount))
    }

    fn is_empty(&self) -> bool {
        self.active == 0 && self.unlocking.is_empty()
    }
}

/// A member of an epoch's committee.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Validator {
    /// Its account (bond, rewards, slashing).
    pub account: AccountId,
    /// ed25519 public key it signs consensus messages with; also its p2p identity.
    pub consensus_key: Hash,
    /// sr25519 public key of its block VRF (see [`beacon`]).
    pub beacon_key: Hash,
    /// Its p2p address, `IP:port`, or empty if peers learn it otherwise.
    pub address: Vec<u8>,
}

/// A validator candidate.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct Candidate {
    /// The consensus key it will sign with if elected.
    pub consensus_key: Hash,
    /// The beacon key its blocks' VRF proofs will verify under.
    pub beacon_key: Hash,
    /// Its p2p address, `IP:port`, or empty.
    pub address: Vec<u8>,
    /// Its validator bond (committed stake); the election ranks by it.
    pub bond: Balance,
}

pallet_support::storage! {
    "Staking";
    /// `AccountId → StakeLedger`; absent means no stake.
    pub Ledger: map AccountId => StakeLedger;
    /// Sum of all ledger totals (active + unlocking).
    pub TotalBonded: value Balance;
    /// Blocks per epoch, fixed at genesis; absent: one epoch forever (the genesis committee).
    pub EpochLength: value BlockNumber;
    /// The epoch the next block belongs to (absent: 0).
    pub CurrentEpoch: value u64;
    /// `epoch → committee`, kept for the previous, current and (once elected) next epoch.
    pub Committees: map u64 => Vec<Validator>;
    /// `AccountId → Candidate`: who stands for election.
    pub Candidates: map AccountId => Candidate;
    /// Every candidate's account, in registration order; at most [`Config::MAX_CANDIDATES`].
    pub CandidateList: value Vec<AccountId>;
    /// Former candidates whose bond stays committed while they sit in a committee, with the bond.
    /// At most [`Config::MAX_CANDIDATES`].
    pub Leaving: value Vec<(AccountId, Balance)>;
    /// The chain id of the spec (part of the consensus namespace).
    pub ChainId: value Vec<u8>;
    /// The bytes every consensus signature is bound to, from block 1 on (see [`equivocation`]).
    pub ConsensusNamespace: value Vec<u8>;
    /// Punished offences, `(epoch, consensus key)`, of the epochs whose committees are kept; at
    /// most three committees' worth.
    pub Offences: value Vec<(u64, Hash)>;
}

// ---------------------------------------------------------------------------------------------
// Genesis

/// Genesis configuration: stake bonded from the genesis free balances, and the first
/// committee.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenesisConfig {
    /// Accounts and the amounts they bond at genesis.
    pub bonds: Vec<(AccountId, Balance)>,
    /// The committee of epoch 0. A member with a non-zero bond is also a candidate (its bond
    /// committed) and so stands for the next elections; one with a zero bond only sits in
    /// epoch 0 (and in later epochs if no one is a candidate).
    pub validators: Vec<(Validator, Balance)>,
    /// Blocks per epoch (at least 2); 0 keeps the epoch-0 committee forever.
    pub epoch_length: BlockNumber,
    /// The spec's chain id: with the genesis hash, the consensus namespace.
    pub chain_id: Vec<u8>,
}

// ---------------------------------------------------------------------------------------------
// Pallet

pallet_support::pallet!(
    /// The staking pallet.
    STAKING_PALLET_INDEX
);

impl<T: Config> Pallet<T> {
    /// Writes genesis bonds (after the balances pallet's genesis).
    ///
    /// # Panics
    /// If a bond cannot be made (balance too low, below the minimum): the chain spec is wrong.
    /// # Panics
    /// If a genesis validator cannot register (see [`Pallet::register_validator`]) or the
    /// committee is empty.
    pub fn build_genesis(ext: &mut Ext<'_>, config: &GenesisConfig) {
        for (who, amount) in &config.bonds {
            if let Err(error) = Self::bond(ext, who, *amount) {
                panic!("genesis bond of {amount} plancks by {who:?} fails: {error:?}");
            }
        }
        Self::build_validators_genesis(ext, &config.validators, config.epoch_length);
        if !config.chain_id.is_empty() {
            ChainId::put(ext, &config.chain_id);
        }
        pallet_system::Beacon::put(ext, &beacon::genesis_beacon(&config.chain_id));
    }

    /// The stake ledger of `who` (empty if none).
    pub fn ledger(state: &impl StateRead, who: &AccountId) -> StakeLedger {
        Ledger::get(state, who).unwrap_or_default()
    }

    /// Uncommitted active stake of `who`.
    pub fn available(state: &impl StateRead, who: &AccountId) -> Balance {
        Self::ledger(state, who).available()
    }

    /// Sum of all bonded stake.
    pub fn total_bonded(state: &impl StateRead) -> Balance {
        TotalBonded::get(state).unwrap_or(0)
    }

    fn write_ledger(ext: &mut Ext<'_>, who: &AccountId, ledger: &StakeLedger) {
        if ledger.is_empty() {
            Ledger::remove(ext, who);
        } else {
            Ledger::insert(ext, who, ledger);
        }
    }

    fn adjust_total(ext: &mut Ext<'_>, add: Balance, sub: Balance) {
        // Bounded by total issuance: stake is reserved balance.
        let total = Self::total_bonded(ext)
            .saturating_add(add)
            .saturating_sub(sub);
        TotalBonded::put(ext, &total);
    }

    /// Bonds `amount` of `who`'s free balance. All-or-nothing.
    pub fn bond(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> DispatchResult {
        if amount == 0 {
            return Err(Self::error(Error::ZeroAmount));
        }
        let mut ledger = Self::ledger(ext, who);
        ledger.active = ledger
            .active
            .checked_add(amount)
            .ok_or(Self::error(Error::Overflow))?;
        if ledger.active < T::MIN_BOND {
            return Err(Self::error(Error::BelowMinimumBond));
        }
        pallet_balances::Pallet::<T>::reserve(ext, who, amount)
            .map_err(|_| Self::error(Error::InsufficientBalance))?;
        Self::write_ledger(ext, who, &ledger);
        Self::adjust_total(ext, amount, 0);
        Self::deposit_event(ext, Event::Bonded { who: *who, amount });
        Ok(())
    }

    /// Starts unbonding `amount` of uncommitted active stake. All-or-nothing.
    pub fn unbond(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> DispatchResult {
        if amount == 0 {
            return Err(Self::error(Error::ZeroAmount));
        }
        let mut ledger = Self::ledger(ext, who);
        ensure!(
            ledger.available() >= amount,
            Self::error(Error::InsufficientStake)
        );
        let until =
            pallet_system::Pallet::<T>::block_number(ext).saturating_add(T::UNBONDING_DELAY);
        let mut unlocking = BoundedVec::with_bound(ledger.unlocking, T::MAX_UNLOCKING_CHUNKS);
        unlocking
            .try_push(UnlockChunk { amount, until })
            .map_err(|_| Self::error(Error::TooManyUnlockingChunks))?;
        ledger.unlocking = unlocking.into_inner();
        ledger.active = ledger.active.saturating_sub(amount);
        ensure!(
            ledger.active == 0 || ledger.active >= T::MIN_BOND,
            Self::error(Error::BelowMinimumBond)
        );
        Self::write_ledger(ext, who, &ledger);
        Self::deposit_event(
            ext,
            Event::Unbonding {
                who: *who,
                amount,
                until,
            },
        );
        Ok(())
    }

    /// Returns every matured unlocking chunk of `who` to its free balance.
    pub fn withdraw_unbonded(ext: &mut Ext<'_>, who: &AccountId) -> DispatchResult {
        let now = pallet_system::Pallet::<T>::block_number(ext);
        let mut ledger = Self::ledger(ext, who);
        let (matured, waiting): (Vec<UnlockChunk>, Vec<UnlockChunk>) = ledger
            .unlocking
            .iter()
            .partition(|chunk| chunk.until <= now);
        let amount = matured
            .iter()
            .fold(0, |sum: Balance, chunk| sum.saturating_add(chunk.amount));
        if amount == 0 {
            return Err(Self::error(Error::NothingToWithdraw));
        }
        ledger.unlocking = waiting;
        let left = pallet_balances::Pallet::<T>::unreserve(ext, who, amount);
        assert!(
            left == 0,
            "staking invariant broken: {who:?} had less reserved than its unlocking stake"
        );
        Self::write_ledger(ext, who, &ledger);
        Self::adjust_total(ext, 0, amount);
        Self::deposit_event(ext, Event::Withdrawn { who: *who, amount });
        Ok(())
    }

    /// Commits `amount` of `who`'s available stake as collateral. All-or-nothing.
    pub fn commit(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> DispatchResult {
        if amount == 0 {
            return Ok(());
        }
        let mut ledger = Self::ledger(ext, who);
        if ledger.available() < amount {
            return Err(Self::error(Error::InsufficientStake));
        }
        ledger.committed = ledger.committed.saturating_add(amount);
        Self::write_ledger(ext, who, &ledger);
        Self::deposit_event(ext, Event::Committed { who: *who, amount });
        Ok(())
    }

    /// Releases up to `amount` of `who`'s committed stake; returns the part that was not
    /// committed (zero when the books are right).
    pub fn release(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Balance {
        let mut ledger = Self::ledger(ext, who);
        let actual = amount.min(ledger.committed);
        if actual == 0 {
            return amount;
        }
        ledger.committed = ledger.committed.saturating_sub(actual);
        Self::write_ledger(ext, who, &ledger);
        Self::deposit_event(
            ext,
            Event::Released {
                who: *who,
                amount: actual,
            },
        );
        amount.saturating_sub(actual)
    }

    /// Burns up to `amount` of `who`'s committed stake for a charge it agreed to (an offer's
    /// rent): as [`Self::slash_committed`], with `Spent` and `Balances::Burned` events instead
    /// of the penalty's. Returns the amount burned.
    pub fn spend_committed(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Balance {
        let spent = Self::destroy_committed(
            ext,
            who,
            amount,
            pallet_balances::Pallet::<T>::burn_reserved,
        );
        if spent != 0 {
            Self::deposit_event(
                ext,
                Event::Spent {
                    who: *who,
                    amount: spent,
                },
            );
        }
        spent
    }

    /// Destroys up to `amount` of `who`'s committed stake as a penalty; returns the amount
    /// slashed. Total issuance falls by the same amount (a `Balances::Slashed` event).
    pub fn slash_committed(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Balance {
        let slashed = Self::destroy_committed(
            ext,
            who,
            amount,
            pallet_balances::Pallet::<T>::slash_reserved,
        );
        if slashed != 0 {
            Self::deposit_event(
                ext,
                Event::Slashed {
                    who: *who,
                    amount: slashed,
                },
            );
        }
        slashed
    }

    /// Takes up to `amount` of `who`'s committed stake out of its ledger and, by `destroy`, out
    /// of its reserved balance and the issuance. Returns the amount destroyed.
    fn destroy_committed(
        ext: &mut Ext<'_>,
        who: &AccountId,
        amount: Balance,
        destroy: fn(&mut Ext<'_>, &AccountId, Balance) -> Balance,
    ) -> Balance {
        let mut ledger = Self::ledger(ext, who);
        let wanted = amount.min(ledger.committed);
        if wanted == 0 {
            return 0;
        }
        let destroyed = destroy(ext, who, wanted);
        ledger.committed = ledger.committed.saturating_sub(destroyed);
        ledger.active = ledger.active.saturating_sub(destroyed);
        Self::write_ledger(ext, who, &ledger);
        Self::adjust_total(ext, 0, destroyed);
        destroyed
    }

    /// Slashes up to `amount` of `who`'s committed stake, paying `reward_percent`% of what is
    /// slashed, but at most `max_reward`, to `winner`'s free balance and burning the rest (the
    /// loser of a dispute pays the side that proved it wrong). Returns `(burned, rewarded)`. Total issuance falls by
    /// `burned` only. If `winner`'s account cannot receive the reward (it would be created
    /// below the existential deposit), the reward is burned too.
    pub fn slash_committed_rewarding(
        ext: &mut Ext<'_>,
        who: &AccountId,
        amount: Balance,
        winner: &AccountId,
        (reward_percent, max_reward): (u8, Balance),
    ) -> (Balance, Balance) {
        let committed = Self::ledger(ext, who).committed;
        let wanted = amount.min(committed);
        let reward =
            (wanted.saturating_mul(Balance::from(reward_percent.min(100))) / 100).min(max_reward);
        let rewarded = if who != winner
            && pallet_balances::Pallet::<T>::repatriate_reserved(
                ext,
                who,
                winner,
                reward,
                BalanceStatus::Free,
            )
            .is_ok()
        {
            reward
        } else {
            0
        };
        let mut ledger = Self::ledger(ext, who);
        ledger.committed = ledger.committed.saturating_sub(rewarded);
        ledger.active = ledger.active.saturating_sub(rewarded);
        Self::write_ledger(ext, who, &ledger);
        Self::adjust_total(ext, 0, rewarded);
        let burned = Self::slash_committed(ext, who, wanted.saturating_sub(rewarded));
        (burned, rewarded)
    }

    /// Slashes up to `amount` of `loser`'s committed stake for losing a dispute: first each of
    /// `repay`'s amounts to its account, in order (whoever paid to have the dispute decided),
    /// then the rest as [`Pallet::slash_committed_rewarding`] does, `reward.0`% to `winner` but
    /// at most `reward.1`.
    pub fn slash_with_repayment(
        ext: &mut Ext<'_>,
        loser: &AccountId,
        amount: Balance,
        repay: &[(AccountId, Balance)],
        winner: &AccountId,
        reward: (u8, Balance),
    ) -> Slashed {
        let (mut burned_first, mut repaid): (Balance, Balance) = (0, 0);
        for (to, fee) in repay {
            let left = amount.saturating_sub(burned_first.saturating_add(repaid));
            let (burned, paid) = Self::slash_committed_rewarding(
                ext,
                loser,
                (*fee).min(left),
                to,
                (100, Balance::MAX),
            );
            burned_first = burned_first.saturating_add(burned);
            repaid = repaid.saturating_add(paid);
        }
        let rest = amount.saturating_sub(burned_first.saturating_add(repaid));
        let (burned, rewarded) = Self::slash_committed_rewarding(ext, loser, rest, winner, reward);
        Slashed {
            repaid,
            burned: burned.saturating_add(burned_first),
            rewarded,
        }
    }

    /// Dispatches a call signed by `who`.
    pub fn dispatch(ext: &mut Ext<'_>, who: &AccountId, call: &Call) -> DispatchResult {
        match call {
            Call::Bond { amount } => Self::bond(ext, who, amount.0),
            Call::Unbond { amount } => Self::unbond(ext, who, amount.0),
            Call::WithdrawUnbonded => Self::withdraw_unbonded(ext, who),
            Call::RegisterValidator {
                consensus_key,
                beacon_key,
                address,
                bond,
                key_proof,
            } => {
                Self::check_key_proof(ext, who, consensus_key, key_proof)?;
                let keys = (*consensus_key, *beacon_key);
                Self::register_validator(ext, who, keys, address, bond.0)
            }
            Call::SetValidatorKey {
                consensus_key,
                beacon_key,
                address,
                key_proof,
            } => {
                Self::check_key_proof(ext, who, consensus_key, key_proof)?;
                Self::set_validator_key(ext, who, (*consensus_key, *beacon_key), address)
            }
            Call::UnregisterValidator => Self::unregister_validator(ext, who),
            Call::ReportEquivocation { evidence } => Self::report_equivocation(ext, who, evidence),
        }
    }

    /// Checks the pallet's invariants over a whole state. Run after every test.
    pub fn try_state(state: &impl StateIter) -> Result<(), String> {
        let max_chunks = to_usize(T::MAX_UNLOCKING_CHUNKS);
        let mut sum: Balance = 0;
        for (who, ledger) in Ledger::iter(state) {
            if ledger.is_empty() {
                return Err(format!("empty stake ledger stored for {who}"));
            }
            if ledger.committed > ledger.active {
                return Err(format!(
                    "{who} has {} committed but only {} active",
                    ledger.committed, ledger.active
                ));
            }
            if ledger.unlocking.len() > max_chunks || ledger.unlocking.iter().any(|c| c.amount == 0)
            {
                return Err(format!("{who} has malformed unlocking chunks"));
            }
            let reserved = pallet_balances::Pallet::<T>::reserved_balance(state, &who);
            if ledger.total() > reserved {
                return Err(format!(
                    "{who} has {} staked but only {reserved} reserved",
                    ledger.total()
                ));
            }
            sum = sum.saturating_add(ledger.total());
        }
        if sum != Self::total_bonded(state) {
            return Err(format!(
                "total bonded {} differs from the sum of ledgers {sum}",
                Self::total_bonded(state)
            ));
        }
        Self::try_state_validators(state)
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

/// Calls of the staking pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub enum Call {
    /// Bonds `amount` plancks of free balance as stake.
    #[codec(index = 0)]
    Bond {
        /// Amount in plancks.
        amount: Compact<Balance>,
    },
    /// Starts unbonding `amount` plancks of uncommitted stake.
    #[codec(index = 1)]
    Unbond {
        /// Amount in plancks.
        amount: Compact<Balance>,
    },
    /// Withdraws every unbonded chunk whose delay has passed.
    #[codec(index = 2)]
    WithdrawUnbonded,
    /// Stands for election as a validator: bonds `bond` plancks and commits them as the
    /// validator bond. `address` is the node's p2p `IP:port` (may be empty).
    #[codec(index = 3)]
    RegisterValidator {
        /// ed25519 public key the node will sign consensus messages with.
        consensus_key: Hash,
        /// sr25519 public key of the node's block VRF (`agora-node key inspect` prints both).
        beacon_key: Hash,
        /// p2p `IP:port`, UTF-8, or empty.
        address: Vec<u8>,
        /// Validator bond in plancks.
        bond: Compact<Balance>,
        /// The consensus key's signature of the caller's account (a proof of possession,
        /// [`validators::key_ownership_message`]).
        key_proof: [u8; 64],
    },
    /// Changes a candidate's consensus key and address, from the next election on (the
    /// committee already elected keeps the old key until its epoch ends).
    #[codec(index = 4)]
    SetValidatorKey {
        /// The new ed25519 consensus key.
        consensus_key: Hash,
        /// The new sr25519 beacon key.
        beacon_key: Hash,
        /// p2p `IP:port`, or empty.
        address: Vec<u8>,
        /// The new consensus key's signature of the caller's account; ignored (any bytes)
        /// when the key is the candidate's current one.
        key_proof: [u8; 64],
    },
    /// Withdraws the candidacy. The bond is released (and can then be unbonded) once the
    /// account sits in no elected committee.
    #[codec(index = 5)]
    UnregisterValidator,
    /// Reports a validator's two conflicting votes: its bond is slashed, the caller rewarded.
    #[codec(index = 6)]
    ReportEquivocation {
        /// The votes (boxed: they would triple the size of every call).
        evidence: Box<equivocation::Equivocation>,
    },
}

impl Call {
    /// Weight of the call, fixed before dispatch.
    pub fn weight(&self) -> Weight {
        match self {
            Call::Bond { .. } => weights::BOND,
            Call::Unbond { .. } => weights::UNBOND,
            Call::WithdrawUnbonded => weights::WITHDRAW_UNBONDED,
            Call::RegisterValidator { .. } => weights::REGISTER_VALIDATOR,
            Call::SetValidatorKey { .. } => weights::SET_VALIDATOR_KEY,
            Call::UnregisterValidator => weights::UNREGISTER_VALIDATOR,
            Call::ReportEquivocation { .. } => weights::REPORT_EQUIVOCATION,
        }
    }
}

pub mod weights;

pub mod beacon;
pub mod ecvrf;
pub mod equivocation;
pub mod validators;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests;
