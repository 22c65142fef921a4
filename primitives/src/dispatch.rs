//! Dispatch outcomes shared by every pallet.

use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::Serialize;

/// Compute cost of executing something, in nanoseconds on the reference machine.
///
/// Weights are constants fixed per call (measured by benchmarks), never measured at run time:
/// fees and block limits must be the same on every node.
pub type Weight = u64;

/// Why a dispatched call failed: the pallet's index in the runtime and the index of the
/// variant in that pallet's `Error` enum. The runtime turns it back into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct DispatchError {
    /// Index of the pallet in the runtime.
    pub pallet: u8,
    /// Index of the error variant in the pallet's `Error` enum.
    pub error: u8,
}

/// The result of dispatching a call.
pub type DispatchResult = Result<(), DispatchError>;

/// Implemented by every pallet's `Error` enum (unit variants only, as in FRAME).
pub trait PalletError: Sized + Copy + std::fmt::Display {
    /// The variant's index in the enum; stable across releases.
    fn index(self) -> u8;
    /// The variant with this index, if any.
    fn from_index(index: u8) -> Option<Self>;
    /// The variant's name, e.g. `"InsufficientBalance"`.
    fn name(self) -> &'static str;

    /// This error as raised by the pallet at `pallet` in the runtime.
    fn into_dispatch(self, pallet: u8) -> DispatchError {
        DispatchError {
            pallet,
            error: self.index(),
        }
    }
}

/// Implements [`PalletError`] for a pallet's unit-variant `Error` enum. List every variant in
/// declaration order: a variant's index is its position, checked at compile time against the
/// enum's own discriminants, and a missing variant fails the build (the name match is
/// exhaustive).
///
/// ```
/// #[derive(Clone, Copy, Debug)]
/// enum Error { ZeroAmount, InsufficientBalance }
/// impl std::fmt::Display for Error {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
/// }
/// agora_primitives::impl_pallet_error!(Error { ZeroAmount, InsufficientBalance });
/// ```
///
/// The same enum with its variants listed out of order does not build (the doc test fails if
/// it does):
///
/// ```compile_fail
/// #[derive(Clone, Copy, Debug)]
/// enum Error { ZeroAmount, InsufficientBalance }
/// impl std::fmt::Display for Error {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
/// }
/// agora_primitives::impl_pallet_error!(Error { InsufficientBalance, ZeroAmount });
/// ```
///
/// Nor with one left out:
///
/// ```compile_fail
/// #[derive(Clone, Copy, Debug)]
/// enum Error { ZeroAmount, InsufficientBalance }
/// impl std::fmt::Display for Error {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { write!(f, "{self:?}") }
/// }
/// agora_primitives::impl_pallet_error!(Error { ZeroAmount });
/// ```
#[macro_export]
macro_rules! impl_pallet_error {
    ($error:ident { $($variant:ident),+ $(,)? }) => {
        const _: () = {
            let mut position = 0usize;
            $(
                assert!(
                    $error::$variant as usize == position,
                    "impl_pallet_error!: list the variants in declaration order"
                );
                position += 1;
            )+
            let _ = position;
        };
        impl $crate::dispatch::PalletError for $error {
            fn index(self) -> u8 {
                self as u8
            }
            fn from_index(index: u8) -> Option<Self> {
                const ALL: &[$error] = &[$($error::$variant),+];
                ALL.get(usize::from(index)).copied()
            }
            fn name(self) -> &'static str {
                match self {
                    $($error::$variant => stringify!($variant),)+
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
    enum Error {
        #[error("first")]
        First,
        #[error("second")]
        Second,
        #[error("third")]
        Third,
    }
    crate::impl_pallet_error!(Error {
        First,
        Second,
        Third,
    });

    #[test]
    fn pallet_errors_round_trip_through_their_index() {
        for (index, error) in [Error::First, Error::Second, Error::Third]
            .into_iter()
            .enumerate()
        {
            let index = u8::try_from(index).unwrap_or(u8::MAX);
            assert_eq!(error.index(), index);
            assert_eq!(Error::from_index(index), Some(error));
            assert_eq!(
                error.into_dispatch(7),
                DispatchError {
                    pallet: 7,
                    error: index
                }
            );
        }
        assert_eq!(Error::from_index(3), None);
        assert_eq!(Error::Second.name(), "Second");
    }
}
