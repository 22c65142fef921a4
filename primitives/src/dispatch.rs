//! Dispatch outcomes shared by every pallet.

use parity_scale_codec::{Decode, Encode};

/// Compute cost of executing something, in nanoseconds on the reference machine.
///
/// Weights are constants fixed per call (measured by benchmarks), never measured at run time:
/// fees and block limits must be the same on every node.
pub type Weight = u64;

/// Why a dispatched call failed: the pallet's index in the runtime and the index of the
/// variant in that pallet's `Error` enum. The runtime turns it back into words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, serde::Serialize)]
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
