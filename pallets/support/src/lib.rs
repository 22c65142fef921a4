//! # Pallet support
//!
//! What every pallet of the runtime is written with, defined once. It sits between
//! `agora-primitives` (the state interface) and the pallets, and knows none of them:
//!
//! - [`storage!`]: declares a pallet's storage items, each once: its name, which is also its
//!   key prefix, and its key and value types. A storage key starts with
//!   `twox128(pallet) ‖ twox128(item)` (see [`agora_primitives::storage`]), so the pallet's
//!   name and the item names given here *are* the state layout: renaming one moves the item.
//!   [`storage_instance!`] names an instance alone, for an item declared elsewhere.
//! - [`pallet!`]: declares `Pallet<T>` with its `error` and `deposit_event` helpers, bound to
//!   the pallet's index.
//! - [`ensure!`], [`to_usize`], [`put_or_remove`]: the dispatch idioms every pallet repeats —
//!   refuse with an error, compare a `u32` bound with a length, keep no zero counters in state.
//! - [`BoundedVec`]: a list that refuses an insert past its bound, where the bound is a runtime
//!   parameter (`Config::MAX_…`). It SCALE-encodes exactly like `Vec<T>`, so a pallet can use it
//!   on a list it stores as `Vec<T>` without changing a byte of state.
//! - [`due`]: per-block due lists ("what happens at block n") with a bound per block; a full
//!   block spills into the next.
//! - [`mock`] (feature `mock`, for pallets' `dev-dependencies`): the one test runtime
//!   configuration and the `step`/`end_block`/`check_all` helpers every pallet's tests use.
//!
//! ## The test runtime
//!
//! This crate sits *below* the pallets (they depend on it), so it cannot name their `Config`
//! traits. The test runtime is therefore a macro, [`mock_runtime!`], expanded in the pallet's
//! own test module. The pallets of the runtime form a chain (system ← balances ← staking ←
//! market ← jobs ← verification, each `Config` extending the previous one), so a test runtime
//! is named by its top pallet, which is the pallet under test (the invoking crate):
//!
//! ```ignore
//! // pallets/staking/src/tests.rs: system, balances and staking, with one parameter changed.
//! pallet_support::mock_runtime!(Test: staking { const MAX_UNLOCKING_CHUNKS: u32 = 2; });
//!
//! // pallets/market/src/tests.rs: a stand-in for the jobs pallet as the market's hooks.
//! pallet_support::mock_runtime!(Test: market<Hooks = TestHooks>);
//! ```
//!
//! The macro defines `struct Test`, implements every `Config` of the chain with the standard
//! test values of [`mock::Params`] (the braces override any of them, as trait items), and
//! defines in the invoking module the helpers fixed to that runtime: `genesis`, `step`,
//! `end_block`, `check_all` and `error` (see [`mock`]). The generic versions live in [`mock`]
//! and take the runtime as a type parameter, through [`mock::TestRuntime`].
//!
//! Layout of a pallet (FRAME's order, kept by every pallet): config → events → errors →
//! storage → genesis → hooks → calls.

mod bounded;
pub mod due;
#[cfg(feature = "mock")]
pub mod mock;

pub use bounded::{BoundExceeded, BoundedVec};

use agora_primitives::storage::{Ext, StateRead, StorageInstance, StorageMap};
use parity_scale_codec::{Decode, Encode};

#[doc(hidden)]
pub mod __private {
    //! What the macros of this crate name; not part of its interface.
    pub use agora_primitives::dispatch::{DispatchError, PalletError};
    pub use agora_primitives::storage::{Ext, StorageInstance};
    pub use agora_primitives::storage::{StorageMap, StorageValue};
    pub use agora_primitives::{AccountId, Balance, BlockNumber};
    pub use paste::paste;

    /// `twox128(PALLET) ‖ twox128(ITEM)` of `I`, as [`StorageInstance::prefix`] computes it
    /// by default.
    pub fn storage_prefix<I: StorageInstance>() -> [u8; 32] {
        agora_primitives::storage::hashed_prefix(I::PALLET, I::ITEM)
    }
}

/// Declares the storage instances of a pallet: for each, a unit struct implementing
/// [`StorageInstance`] with the pallet's name and the item's name, its key prefix hashed once.
///
/// ```ignore
/// pallet_support::storage_instance!("Market", pub OffersPrefix = "Offers", pub BidsPrefix = "Bids");
/// // pub struct OffersPrefix;  impl StorageInstance for OffersPrefix { PALLET = "Market", ITEM = "Offers" }
/// ```
#[macro_export]
macro_rules! storage_instance {
    ($pallet:literal, $($vis:vis $name:ident = $item:expr),+ $(,)?) => {
        $(
            #[doc = concat!("Storage instance of `", $pallet, "::", $item, "`.")]
            $vis struct $name;
            impl $crate::__private::StorageInstance for $name {
                const PALLET: &'static str = $pallet;
                const ITEM: &'static str = $item;

                // Hashed once per process, not at every key (two twox128 calls each): every
                // storage access builds its key from it.
                fn prefix() -> [u8; 32] {
                    static PREFIX: ::std::sync::OnceLock<[u8; 32]> = ::std::sync::OnceLock::new();
                    *PREFIX.get_or_init($crate::__private::storage_prefix::<$name>)
                }
            }
        )+
    };
}

/// Declares a pallet's storage items: for each, the storage instance `<Name>Prefix` (as
/// [`storage_instance!`] makes it, the item's name being `Name`) and the type `Name`, a
/// [`StorageMap`] (`map Key => Value`) or a
/// [`StorageValue`](agora_primitives::storage::StorageValue) (`value Value`). The visibility
/// goes to both; doc comments (and any other attribute) to the type alone, so a `#[cfg]` here
/// would leave the instance in place.
///
/// ```ignore
/// pallet_support::storage! {
///     "Market";
///     /// `OfferId → Offer`.
///     pub Offers: map OfferId => Offer;
///     /// The next offer's id.
///     pub NextOfferId: value OfferId;
/// }
/// // pub struct OffersPrefix;  ITEM = "Offers"
/// // pub type Offers = StorageMap<OffersPrefix, OfferId, Offer>;
/// ```
#[macro_export]
macro_rules! storage {
    (@items $pallet:literal;) => {};
    (@items $pallet:literal;
        $(#[$attr:meta])* $vis:vis $name:ident: map $key:ty => $value:ty; $($rest:tt)*
    ) => {
        $crate::__private::paste! {
            $crate::storage_instance!($pallet, $vis [<$name Prefix>] = ::core::stringify!($name));
            $(#[$attr])*
            $vis type $name = $crate::__private::StorageMap<[<$name Prefix>], $key, $value>;
        }
        $crate::storage!(@items $pallet; $($rest)*);
    };
    (@items $pallet:literal;
        $(#[$attr:meta])* $vis:vis $name:ident: value $value:ty; $($rest:tt)*
    ) => {
        $crate::__private::paste! {
            $crate::storage_instance!($pallet, $vis [<$name Prefix>] = ::core::stringify!($name));
            $(#[$attr])*
            $vis type $name = $crate::__private::StorageValue<[<$name Prefix>], $value>;
        }
        $crate::storage!(@items $pallet; $($rest)*);
    };
    ($pallet:literal; $($items:tt)*) => {
        $crate::storage!(@items $pallet; $($items)*);
    };
}

/// Declares a pallet's `Pallet<T>` struct with the two helpers every call of the pallet uses,
/// both bound to its index in the runtime (the `Config` constant named here): `error` (an
/// `Error` of the pallet as dispatch returns it) and `deposit_event` (an `Event` of the pallet,
/// prefixed with that index). `Config`, `Error` and `Event` are the invoking module's.
///
/// ```ignore
/// pallet_support::pallet!(
///     /// The staking pallet.
///     STAKING_PALLET_INDEX
/// );
/// ```
#[macro_export]
macro_rules! pallet {
    ($(#[$attr:meta])* $index:ident) => {
        $(#[$attr])*
        pub struct Pallet<T>(::core::marker::PhantomData<T>);

        impl<T: Config> Pallet<T> {
            fn error(error: Error) -> $crate::__private::DispatchError {
                $crate::__private::PalletError::into_dispatch(error, T::$index)
            }

            fn deposit_event(ext: &mut $crate::__private::Ext<'_>, event: Event) {
                ext.deposit_event(T::$index, &event);
            }
        }
    };
}

/// Returns `Err(error)` from the enclosing function unless `condition` holds: the refusal every
/// call begins with, in the order the checks are written.
///
/// ```ignore
/// pallet_support::ensure!(price != 0, Self::error(Error::ZeroPrice));
/// ```
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $error:expr $(,)?) => {
        if !$condition {
            return Err($error);
        }
    };
}

/// A `u32` bound as a length. Lossless on every platform the node runs on (`usize` is at least
/// 32 bits there); saturates otherwise rather than wrapping to a small bound.
pub fn to_usize(bound: u32) -> usize {
    usize::try_from(bound).unwrap_or(usize::MAX)
}

/// Stores `value` at `key` of the map `I`, or removes the entry when `value` is the default
/// (a counter at zero): state keeps no records that say "nothing".
pub fn put_or_remove<I, K, V>(ext: &mut Ext<'_>, key: &K, value: &V)
where
    I: StorageInstance,
    K: Encode,
    V: Encode + Decode + Default + PartialEq,
{
    if *value == V::default() {
        StorageMap::<I, K, V>::remove(ext, key);
    } else {
        StorageMap::<I, K, V>::insert(ext, key, value);
    }
}

/// The value at `key` of the map `I`, or the default (zero, empty) when absent.
pub fn get_or_default<I, K, V>(state: &impl StateRead, key: &K) -> V
where
    I: StorageInstance,
    K: Encode,
    V: Encode + Decode + Default,
{
    StorageMap::<I, K, V>::get(state, key).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_primitives::storage::StorageValue;
    use std::collections::BTreeMap;

    storage_instance!("Test", CounterPrefix = "Counter", ValuePrefix = "Value");
    type Counter = StorageMap<CounterPrefix, u8, u32>;

    #[test]
    fn storage_instances_name_pallet_and_item() {
        assert_eq!(CounterPrefix::PALLET, "Test");
        assert_eq!(ValuePrefix::ITEM, "Value");
        assert_ne!(CounterPrefix::prefix(), ValuePrefix::prefix());
        assert_eq!(
            StorageValue::<ValuePrefix, u8>::key(),
            ValuePrefix::prefix().to_vec()
        );
        // The cached prefix is the hashed one, on the first call and after (the keys of every
        // stored value depend on it).
        for _ in 0..2 {
            assert_eq!(
                CounterPrefix::prefix(),
                agora_primitives::storage::hashed_prefix("Test", "Counter")
            );
        }
    }

    storage! {
        "Declared";
        /// A map.
        Listed: map (u8, u16) => Vec<u32>;
        pub(crate) Single: value u64;
    }

    #[test]
    fn storage_declares_each_item_once_by_its_name() {
        assert_eq!(
            (ListedPrefix::PALLET, ListedPrefix::ITEM),
            ("Declared", "Listed")
        );
        assert_eq!(
            (SinglePrefix::PALLET, SinglePrefix::ITEM),
            ("Declared", "Single")
        );
        let hashed = agora_primitives::storage::hashed_prefix("Declared", "Single");
        assert_eq!(Single::key(), hashed.to_vec());
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        Listed::insert(&mut ext, &(1, 2), &vec![3]);
        Single::put(&mut ext, &7);
        assert_eq!(Listed::get(&ext, &(1, 2)), Some(vec![3]));
        assert_eq!(Listed::get(&ext, &(2, 1)), None);
        assert_eq!(Single::get(&ext), Some(7));
    }

    #[test]
    fn zero_counters_leave_no_record() {
        let backend = BTreeMap::new();
        let mut ext = Ext::new(&backend);
        put_or_remove::<CounterPrefix, u8, u32>(&mut ext, &1, &3u32);
        assert_eq!(Counter::get(&ext, &1), Some(3));
        put_or_remove::<CounterPrefix, u8, u32>(&mut ext, &1, &0u32);
        assert_eq!(Counter::get(&ext, &1), None);
        assert_eq!(get_or_default::<CounterPrefix, u8, u32>(&ext, &1), 0);
    }

    fn checked(value: u32) -> Result<u32, &'static str> {
        ensure!(value != 0, "zero");
        ensure!(value < 10, "too large");
        Ok(value)
    }

    #[test]
    fn ensure_refuses_in_order() {
        assert_eq!(checked(0), Err("zero"));
        assert_eq!(checked(10), Err("too large"));
        assert_eq!(checked(3), Ok(3));
    }
}
