//! # Balances pallet
//!
//! Holds the AGR token: every account's **free** balance (spendable) and **reserved** balance
//! (locked by another pallet: offer collateral, bid escrow, verifier bonds), and the total
//! issuance.
//!
//! ## Invariants (checked by [`Pallet::try_state`] after every test)
//!
//! 1. `TotalIssuance == Σ (free + reserved)` over all accounts.
//! 2. No account is stored with `free + reserved == 0`: emptied accounts are removed from state.
//! 3. Total issuance changes only through [`Pallet::mint`], [`Pallet::burn`] and
//!    [`Pallet::slash_reserved`], each of which deposits an event (`Minted`, `Burned`,
//!    `Slashed`). Transfers, fees, reserves and repatriations move tokens, never create them.
//!
//! ## Existential deposit
//!
//! An account comes into existence only by receiving at least [`Config::EXISTENTIAL_DEPOSIT`];
//! smaller transfers to an empty account are refused (they would fill the state with dust).
//! A `transfer` may not leave the sender with a non-zero total below the existential deposit
//! either: emptying an account is done with `transfer_all`. Fees are exempt (a fee may leave a
//! small remainder), so that an account can always pay for the transaction that empties it.
//!
//! ## Interface for other pallets
//!
//! [`Pallet::reserve`], [`Pallet::unreserve`], [`Pallet::repatriate_reserved`],
//! [`Pallet::slash_reserved`], [`Pallet::transfer`], [`Pallet::mint`], [`Pallet::burn`]; each
//! is all-or-nothing unless its documentation says it is best-effort.
//!
//! Layout follows FRAME: config → events → errors → storage → genesis → hooks → calls.

use agora_primitives::dispatch::{DispatchError, DispatchResult, Weight};
use agora_primitives::storage::{Ext, StateIter, StateRead};
use agora_primitives::{AccountId, Balance};
use parity_scale_codec::{Compact, Decode, Encode};
use scale_info::TypeInfo;
use serde::Serialize;

// ---------------------------------------------------------------------------------------------
// Config

/// Runtime parameters of the pallet.
pub trait Config: pallet_system::Config {
    /// Index of this pallet in the runtime.
    const BALANCES_PALLET_INDEX: u8;
    /// Smallest balance a new account may be created with, in plancks.
    const EXISTENTIAL_DEPOSIT: Balance;
}

// ---------------------------------------------------------------------------------------------
// Events

/// Where repatriated funds land.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum BalanceStatus {
    /// In the recipient's free balance.
    #[codec(index = 0)]
    Free,
    /// In the recipient's reserved balance.
    #[codec(index = 1)]
    Reserved,
}

/// Events of the balances pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub enum Event {
    /// An account was created with this free balance.
    #[codec(index = 0)]
    Endowed {
        /// The new account.
        account: AccountId,
        /// Its first free balance.
        free_balance: Balance,
    },
    /// An account was emptied and removed from state.
    #[codec(index = 1)]
    Reaped {
        /// The removed account.
        account: AccountId,
    },
    /// Free balance moved between accounts.
    #[codec(index = 2)]
    Transfer {
        /// Sender.
        from: AccountId,
        /// Recipient.
        to: AccountId,
        /// Amount moved.
        amount: Balance,
    },
    /// Free balance was reserved.
    #[codec(index = 3)]
    Reserved {
        /// Whose.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// Reserved balance was freed.
    #[codec(index = 4)]
    Unreserved {
        /// Whose.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// Reserved balance moved to another account.
    #[codec(index = 5)]
    ReserveRepatriated {
        /// From whose reserve.
        from: AccountId,
        /// To whom.
        to: AccountId,
        /// How much.
        amount: Balance,
        /// Free or reserved at the destination.
        destination_status: BalanceStatus,
    },
    /// Reserved balance was destroyed as a penalty; total issuance fell by `amount`.
    #[codec(index = 6)]
    Slashed {
        /// Whose.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// New tokens were created; total issuance rose by `amount`.
    #[codec(index = 7)]
    Minted {
        /// Recipient.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// Tokens were destroyed from a free balance, or from a reserved one as a charge (a rent),
    /// not a penalty; total issuance fell by `amount`.
    #[codec(index = 8)]
    Burned {
        /// Whose.
        who: AccountId,
        /// How much.
        amount: Balance,
    },
    /// A transaction fee was paid to the block author.
    #[codec(index = 9)]
    TransactionFeePaid {
        /// Who paid.
        who: AccountId,
        /// Fee including tip.
        fee: Balance,
        /// Tip part of the fee.
        tip: Balance,
        /// Who received it.
        author: AccountId,
    },
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Errors of the balances pallet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error, TypeInfo)]
pub enum Error {
    /// The free balance is lower than the amount.
    #[error("the free balance is lower than the amount")]
    InsufficientBalance,
    /// The amount would create an account with less than the existential deposit.
    #[error("the amount is below the existential deposit needed to create the recipient account")]
    ExistentialDeposit,
    /// The transfer would leave the sender with a non-zero balance below the existential deposit.
    #[error("the transfer would leave the sender with less than the existential deposit; use transfer-all to empty an account")]
    WouldLeaveDust,
    /// The reserved balance is lower than the amount.
    #[error("the reserved balance is lower than the amount")]
    InsufficientReserved,
    /// A balance or the total issuance would overflow.
    #[error("the balance would overflow")]
    Overflow,
    /// The amount is zero.
    #[error("the amount is zero")]
    ZeroAmount,
    /// The sender and the recipient are the same account.
    #[error("the sender and the recipient are the same account")]
    SelfTransfer,
}

agora_primitives::impl_pallet_error!(Error {
    InsufficientBalance,
    ExistentialDeposit,
    WouldLeaveDust,
    InsufficientReserved,
    Overflow,
    ZeroAmount,
    SelfTransfer,
});

// ---------------------------------------------------------------------------------------------
// Storage

/// Balances of one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct AccountData {
    /// Spendable balance.
    pub free: Balance,
    /// Balance locked by other pallets.
    pub reserved: Balance,
}

impl AccountData {
    /// `free + reserved`; cannot overflow because it is bounded by total issuance.
    pub fn total(&self) -> Balance {
        self.free.saturating_add(self.reserved)
    }
}

pallet_support::storage! {
    "Balances";
    /// `AccountId → AccountData`; absent means zero.
    pub Account: map AccountId => AccountData;
    /// Total tokens in existence.
    pub TotalIssuance: value Balance;
}

// ---------------------------------------------------------------------------------------------
// Genesis

/// Genesis configuration: initial free balances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenesisConfig {
    /// Accounts and their free balances; each must be at least the existential deposit.
    pub balances: Vec<(AccountId, Balance)>,
}

// ---------------------------------------------------------------------------------------------
// Pallet

pallet_support::pallet!(
    /// The balances pallet.
    BALANCES_PALLET_INDEX
);

impl<T: Config> Pallet<T> {
    /// Writes genesis balances.
    ///
    /// # Panics
    /// On a genesis balance below the existential deposit, a duplicate account, or an
    /// issuance overflow: a chain spec with those is refused before any block exists.
    pub fn build_genesis(ext: &mut Ext<'_>, config: &GenesisConfig) {
        let mut issuance: Balance = 0;
        for (who, amount) in &config.balances {
            assert!(
                *amount >= T::EXISTENTIAL_DEPOSIT,
                "genesis balance {amount} of {who:?} is below the existential deposit {}",
                T::EXISTENTIAL_DEPOSIT
            );
            assert!(
                Account::get(ext, who).is_none(),
                "genesis account {who:?} is listed twice"
            );
            Account::insert(
                ext,
                who,
                &AccountData {
                    free: *amount,
                    reserved: 0,
                },
            );
            issuance = issuance
                .checked_add(*amount)
                .expect("genesis total issuance overflows u128");
        }
        TotalIssuance::put(ext, &issuance);
    }

    /// Balances of `who` (zero if absent).
    pub fn account(state: &impl StateRead, who: &AccountId) -> AccountData {
        Account::get(state, who).unwrap_or_default()
    }

    /// Free balance of `who`.
    pub fn free_balance(state: &impl StateRead, who: &AccountId) -> Balance {
        Self::account(state, who).free
    }

    /// Reserved balance of `who`.
    pub fn reserved_balance(state: &impl StateRead, who: &AccountId) -> Balance {
        Self::account(state, who).reserved
    }

    /// Total issuance.
    pub fn total_issuance(state: &impl StateRead) -> Balance {
        TotalIssuance::get(state).unwrap_or(0)
    }

    /// Stores `data` for `who`, creating or reaping the account as needed.
    fn write_account(ext: &mut Ext<'_>, who: &AccountId, before: AccountData, data: AccountData) {
        if data.total() == 0 {
            Account::remove(ext, who);
            if before.total() != 0 {
                Self::deposit_event(ext, Event::Reaped { account: *who });
            }
        } else {
            Account::insert(ext, who, &data);
            if before.total() == 0 {
                Self::deposit_event(
                    ext,
                    Event::Endowed {
                        account: *who,
                        free_balance: data.free,
                    },
                );
            }
        }
    }

    /// Adds `amount` to the free or reserved balance of `to`, enforcing the existential
    /// deposit on account creation. Writes nothing on error.
    fn credit(
        ext: &mut Ext<'_>,
        to: &AccountId,
        amount: Balance,
        status: BalanceStatus,
    ) -> DispatchResult {
        let before = Self::account(ext, to);
        if before.total() == 0 && amount < T::EXISTENTIAL_DEPOSIT {
            return Err(Self::error(Error::ExistentialDeposit));
        }
        let mut data = before;
        let balance = match status {
            BalanceStatus::Free => &mut data.free,
            BalanceStatus::Reserved => &mut data.reserved,
        };
        *balance = balance
            .checked_add(amount)
            .ok_or(Self::error(Error::Overflow))?;
        Self::write_account(ext, to, before, data);
        Ok(())
    }

    /// The balances of `who` before and after taking `amount` from its free balance;
    /// `InsufficientBalance` if it has less. Writes nothing.
    fn debit_free(
        state: &impl StateRead,
        who: &AccountId,
        amount: Balance,
    ) -> Result<(AccountData, AccountData), DispatchError> {
        let before = Self::account(state, who);
        let free = before
            .free
            .checked_sub(amount)
            .ok_or(Self::error(Error::InsufficientBalance))?;
        Ok((before, AccountData { free, ..before }))
    }

    /// Lowers the total issuance by `amount` (tokens destroyed).
    fn reduce_issuance(ext: &mut Ext<'_>, amount: Balance) {
        let issuance = Self::total_issuance(ext).saturating_sub(amount);
        TotalIssuance::put(ext, &issuance);
    }

    /// Moves `amount` of free balance from `from` to `to`.
    ///
    /// With `keep_alive`, refuses to leave `from` with a non-zero total below the existential
    /// deposit. All-or-nothing.
    pub fn transfer(
        ext: &mut Ext<'_>,
        from: &AccountId,
        to: &AccountId,
        amount: Balance,
        keep_alive: bool,
    ) -> DispatchResult {
        if amount == 0 {
            return Err(Self::error(Error::ZeroAmount));
        }
        if from == to {
            return Err(Self::error(Error::SelfTransfer));
        }
        let (sender, remaining) = Self::debit_free(ext, from, amount)?;
        if keep_alive && remaining.total() != 0 && remaining.total() < T::EXISTENTIAL_DEPOSIT {
            return Err(Self::error(Error::WouldLeaveDust));
        }
        // Credit first: it is the step that can fail, and nothing has been written yet.
        Self::credit(ext, to, amount, BalanceStatus::Free)?;
        Self::write_account(ext, from, sender, remaining);
        Self::deposit_event(
            ext,
            Event::Transfer {
                from: *from,
                to: *to,
                amount,
            },
        );
        Ok(())
    }

    /// Moves `amount` from free to reserved balance of `who`. All-or-nothing.
    pub fn reserve(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> DispatchResult {
        let (before, mut data) = Self::debit_free(ext, who, amount)?;
        data.reserved = before
            .reserved
            .checked_add(amount)
            .ok_or(Self::error(Error::Overflow))?;
        Self::write_account(ext, who, before, data);
        Self::deposit_event(ext, Event::Reserved { who: *who, amount });
        Ok(())
    }

    /// Moves up to `amount` from reserved back to free balance of `who`; best-effort.
    /// Returns the part that could not be unreserved.
    pub fn unreserve(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Balance {
        let before = Self::account(ext, who);
        let actual = amount.min(before.reserved);
        if actual == 0 {
            return amount;
        }
        // free + reserved is bounded by total issuance, so moving between them cannot overflow.
        let data = AccountData {
            free: before.free.saturating_add(actual),
            reserved: before.reserved.saturating_sub(actual),
        };
        Self::write_account(ext, who, before, data);
        Self::deposit_event(
            ext,
            Event::Unreserved {
                who: *who,
                amount: actual,
            },
        );
        amount.saturating_sub(actual)
    }

    /// Moves `amount` from the reserved balance of `from` to `to`, landing in its free or
    /// reserved balance. All-or-nothing: fails if `from` has less reserved than `amount`, or
    /// if the move would create `to` with less than the existential deposit.
    pub fn repatriate_reserved(
        ext: &mut Ext<'_>,
        from: &AccountId,
        to: &AccountId,
        amount: Balance,
        destination_status: BalanceStatus,
    ) -> DispatchResult {
        if amount == 0 {
            return Ok(());
        }
        let source = Self::account(ext, from);
        let reserved = source
            .reserved
            .checked_sub(amount)
            .ok_or(Self::error(Error::InsufficientReserved))?;
        if from == to {
            if destination_status == BalanceStatus::Free {
                Self::unreserve(ext, from, amount);
            }
            return Ok(());
        }
        Self::credit(ext, to, amount, destination_status)?;
        Self::write_account(ext, from, source, AccountData { reserved, ..source });
        Self::deposit_event(
            ext,
            Event::ReserveRepatriated {
                from: *from,
                to: *to,
                amount,
                destination_status,
            },
        );
        Ok(())
    }

    /// Destroys up to `amount` of the reserved balance of `who` as a penalty; best-effort.
    /// Returns the amount actually slashed; total issuance falls by that much.
    pub fn slash_reserved(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Balance {
        let actual = Self::destroy_reserved(ext, who, amount);
        if actual != 0 {
            Self::deposit_event(
                ext,
                Event::Slashed {
                    who: *who,
                    amount: actual,
                },
            );
        }
        actual
    }

    /// Destroys up to `amount` of the reserved balance of `who` as a charge it agreed to (a
    /// rent), not a penalty: a `Burned` event, not `Slashed`. Best-effort; returns the amount
    /// burned, by which total issuance falls.
    pub fn burn_reserved(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Balance {
        let actual = Self::destroy_reserved(ext, who, amount);
        if actual != 0 {
            Self::deposit_event(
                ext,
                Event::Burned {
                    who: *who,
                    amount: actual,
                },
            );
        }
        actual
    }

    /// Takes up to `amount` out of `who`'s reserved balance and out of the issuance.
    fn destroy_reserved(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> Balance {
        let before = Self::account(ext, who);
        let actual = amount.min(before.reserved);
        if actual == 0 {
            return 0;
        }
        let data = AccountData {
            reserved: before.reserved.saturating_sub(actual),
            ..before
        };
        Self::write_account(ext, who, before, data);
        Self::reduce_issuance(ext, actual);
        actual
    }

    /// Creates `amount` new tokens in the free balance of `who`. All-or-nothing.
    pub fn mint(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> DispatchResult {
        let issuance = Self::total_issuance(ext)
            .checked_add(amount)
            .ok_or(Self::error(Error::Overflow))?;
        Self::credit(ext, who, amount, BalanceStatus::Free)?;
        TotalIssuance::put(ext, &issuance);
        Self::deposit_event(ext, Event::Minted { who: *who, amount });
        Ok(())
    }

    /// Destroys `amount` from the free balance of `who`. All-or-nothing.
    pub fn burn(ext: &mut Ext<'_>, who: &AccountId, amount: Balance) -> DispatchResult {
        let (before, data) = Self::debit_free(ext, who, amount)?;
        Self::write_account(ext, who, before, data);
        Self::reduce_issuance(ext, amount);
        Self::deposit_event(ext, Event::Burned { who: *who, amount });
        Ok(())
    }

    /// Whether `who` can pay `fee` from its free balance.
    pub fn can_pay_fee(state: &impl StateRead, who: &AccountId, fee: Balance) -> bool {
        Self::free_balance(state, who) >= fee
    }

    /// Moves a transaction fee from `who` to the block `author`. The fee may leave `who` with
    /// less than the existential deposit, but the author's account is only credited if that
    /// creates no dust account; otherwise the fee is burned (with a `Burned` event).
    pub fn pay_fee(
        ext: &mut Ext<'_>,
        who: &AccountId,
        author: &AccountId,
        fee: Balance,
        tip: Balance,
    ) -> DispatchResult {
        if fee == 0 {
            return Ok(());
        }
        let (before, data) = Self::debit_free(ext, who, fee)?;
        // An author paying itself moves nothing.
        if who != author {
            Self::write_account(ext, who, before, data);
            if Self::credit(ext, author, fee, BalanceStatus::Free).is_err() {
                Self::reduce_issuance(ext, fee);
                Self::deposit_event(
                    ext,
                    Event::Burned {
                        who: *who,
                        amount: fee,
                    },
                );
                return Ok(());
            }
        }
        Self::deposit_event(
            ext,
            Event::TransactionFeePaid {
                who: *who,
                fee,
                tip,
                author: *author,
            },
        );
        Ok(())
    }

    /// Dispatches a call signed by `who`.
    pub fn dispatch(ext: &mut Ext<'_>, who: &AccountId, call: &Call) -> DispatchResult {
        match call {
            Call::TransferKeepAlive { dest, value } => {
                Self::transfer(ext, who, dest, value.0, true)
            }
            Call::TransferAll { dest } => {
                let free = Self::free_balance(ext, who);
                if free == 0 {
                    return Err(Self::error(Error::ZeroAmount));
                }
                Self::transfer(ext, who, dest, free, false)
            }
        }
    }

    /// Checks the pallet's invariants over a whole state. Run after every test.
    pub fn try_state(state: &impl StateIter) -> Result<(), String> {
        let mut sum: Balance = 0;
        for (who, data) in Account::iter(state) {
            if data.total() == 0 {
                return Err(format!("account {who:?} is stored with a zero balance"));
            }
            sum = sum
                .checked_add(data.total())
                .ok_or_else(|| "sum of balances overflows u128".to_owned())?;
        }
        let issuance = Self::total_issuance(state);
        if sum != issuance {
            return Err(format!(
                "total issuance {issuance} differs from the sum of free and reserved balances {sum}"
            ));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Calls

/// Calls of the balances pallet.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub enum Call {
    /// Moves `value` plancks of free balance to `dest`, keeping the sender alive.
    #[codec(index = 0)]
    TransferKeepAlive {
        /// Recipient.
        dest: AccountId,
        /// Amount in plancks.
        value: Compact<Balance>,
    },
    /// Moves the sender's whole free balance to `dest` (after the fee), possibly emptying it.
    #[codec(index = 1)]
    TransferAll {
        /// Recipient.
        dest: AccountId,
    },
}

impl Call {
    /// Weight of the call, fixed before dispatch.
    pub fn weight(&self) -> Weight {
        match self {
            Call::TransferKeepAlive { .. } => weights::TRANSFER,
            Call::TransferAll { .. } => weights::TRANSFER_ALL,
        }
    }
}

/// Weights of the pallet's calls, in nanoseconds on the reference machine.
pub mod weights {
    use super::Weight;
    /// `transfer`: two account reads and writes plus an event.
    pub const TRANSFER: Weight = 15_000;
    /// `transfer_all`: as `transfer`.
    pub const TRANSFER_ALL: Weight = 15_000;
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests;
