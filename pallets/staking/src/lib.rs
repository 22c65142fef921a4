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
//! Validator staking (the consensus committee) is a later addition to this pallet.
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
use agora_primitives::storage::{Ext, StateIter, StateRead, StorageMap, StorageValue};
use agora_primitives::{AccountId, Balance, BlockNumber};
use pallet_balances::BalanceStatus;

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
}

// ---------------------------------------------------------------------------------------------
// Events

/// Events of the staking pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
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
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Errors of the staking pallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
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
}

agora_primitives::impl_pallet_error!(Error {
    ZeroAmount,
    InsufficientBalance,
    BelowMinimumBond,
    InsufficientStake,
    TooManyUnlockingChunks,
    NothingToWithdraw,
    Overflow,
});

// ---------------------------------------------------------------------------------------------
// Storage

/// Stake on its way out: withdrawable from block `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
pub struct UnlockChunk {
    /// Amount.
    pub amount: Balance,
    /// First block at which it can be withdrawn.
    pub until: BlockNumber,
}

/// The stake of one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, serde::Serialize)]
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

pallet_support::storage_instance!(
    "Staking",
    pub LedgerPrefix = "Ledger",
    pub TotalBondedPrefix = "TotalBonded",
);

/// `AccountId → StakeLedger`; absent means no stake.
pub type Ledger = StorageMap<LedgerPrefix, AccountId, StakeLedger>;
/// Sum of all ledger totals (active + unlocking).
pub type TotalBonded = StorageValue<TotalBondedPrefix, Balance>;

// ---------------------------------------------------------------------------------------------
// Genesis

/// Genesis configuration: stake bonded from the genesis free balances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenesisConfig {
    /// Accounts and the amounts they bond at genesis.
    pub bonds: Vec<(AccountId, Balance)>,
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
    pub fn build_genesis(ext: &mut Ext<'_>, config: &GenesisConfig) {
        for (who, amount) in &config.bonds {
            if let Err(error) = Self::bond(ext, who, *amount) {
                panic!("genesis bond of {amount} plancks by {who:?} fails: {error:?}");
            }
        }
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

    /// Slashes up to `amount` of `loser`'s committed stake for losing a dispute: first up to
    /// `repay`'s amount to its account (whoever paid to have the dispute decided), then the
    /// rest as [`Pallet::slash_committed_rewarding`] does, `reward.0`% to `winner` but at most
    /// `reward.1`.
    pub fn slash_with_repayment(
        ext: &mut Ext<'_>,
        loser: &AccountId,
        amount: Balance,
        repay: Option<(AccountId, Balance)>,
        winner: &AccountId,
        reward: (u8, Balance),
    ) -> Slashed {
        let (burned_first, repaid) = match repay {
            Some((to, fee)) => Self::slash_committed_rewarding(
                ext,
                loser,
                fee.min(amount),
                &to,
                (100, Balance::MAX),
            ),
            None => (0, 0),
        };
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
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

/// Calls of the staking pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
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
}

impl Call {
    /// Weight of the call, fixed before dispatch.
    pub fn weight(&self) -> Weight {
        match self {
            Call::Bond { .. } => weights::BOND,
            Call::Unbond { .. } => weights::UNBOND,
            Call::WithdrawUnbonded => weights::WITHDRAW_UNBONDED,
        }
    }
}

/// Weights of the pallet's calls, in nanoseconds on the reference machine.
pub mod weights {
    use super::Weight;
    /// `bond`: ledger and account read/write, two events.
    pub const BOND: Weight = 15_000;
    /// `unbond`: ledger read/write.
    pub const UNBOND: Weight = 10_000;
    /// `withdraw_unbonded`: ledger and account read/write over a bounded chunk list.
    pub const WITHDRAW_UNBONDED: Weight = 20_000;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests;
