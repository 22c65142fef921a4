//! The guest half of Job ABI v1 (specified in `docs/job-abi.md`): input buffers, the output
//! buffer and the status convention. [`export_job!`](crate::export_job) generates the exports.
//!
//! The host allocates each input with `agora_alloc(len)`, writes the bytes at the returned
//! address and passes `(ptr, len)` to a call. A call returns 0 with its result in the output
//! buffer, or 1 with a UTF-8 error message there; `agora_output_ptr`/`agora_output_len` locate
//! it. Inputs are matched against the buffers handed out, so a wrong pointer or length is an
//! error, never a read of arbitrary memory.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;

/// ABI version reported by `agora_abi_version`.
pub const ABI_VERSION: i32 = 1;

/// Most input buffers outstanding at once (a call takes at most three).
const MAX_INPUTS: usize = 8;

/// Interior mutability for the module's globals. wasm32 without the threads proposal has one
/// thread, and the executor refuses modules that use threads, so there is no concurrent access.
struct Global<T>(RefCell<T>);
// SAFETY: single-threaded target (see above); never shared across threads.
unsafe impl<T> Sync for Global<T> {}

static INPUTS: Global<Vec<Vec<u8>>> = Global(RefCell::new(Vec::new()));
static OUTPUT: Global<Vec<u8>> = Global(RefCell::new(Vec::new()));

/// `agora_alloc`: a zeroed buffer of `len` bytes for the host to fill; 0 if `len` is negative or
/// too many buffers are outstanding.
pub fn alloc(len: i32) -> i32 {
    let Ok(len) = usize::try_from(len) else {
        return 0;
    };
    let mut inputs = INPUTS.0.borrow_mut();
    if inputs.len() >= MAX_INPUTS {
        return 0;
    }
    let buffer = alloc::vec![0u8; len.max(1)];
    let ptr = buffer.as_ptr() as usize as i32;
    inputs.push(buffer);
    ptr
}

/// Take ownership of the input buffer the host filled at `(ptr, len)`.
pub fn take(ptr: i32, len: i32, what: &str) -> Result<Vec<u8>, String> {
    let Ok(want) = usize::try_from(len) else {
        return Err(format!("{what}: negative length {len}"));
    };
    let mut inputs = INPUTS.0.borrow_mut();
    let index = inputs
        .iter()
        .position(|b| b.as_ptr() as usize as i32 == ptr && b.len() >= want)
        .ok_or_else(|| format!("{what}: ({ptr}, {len}) is not a buffer from agora_alloc"))?;
    let mut buffer = inputs.swap_remove(index);
    buffer.truncate(want);
    Ok(buffer)
}

/// Store a call's result and return its status.
pub fn finish(result: Result<Vec<u8>, String>) -> i32 {
    let mut output = OUTPUT.0.borrow_mut();
    match result {
        Ok(bytes) => {
            *output = bytes;
            0
        }
        Err(message) => {
            *output = message.into_bytes();
            1
        }
    }
}

/// `agora_output_ptr`.
pub fn output_ptr() -> i32 {
    OUTPUT.0.borrow().as_ptr() as usize as i32
}

/// `agora_output_len`.
pub fn output_len() -> i32 {
    OUTPUT.0.borrow().len() as i32
}

/// Run an operation on `(params, dataset)` taken from the host's buffers; returns the status.
pub fn call_with_inputs(
    params: (i32, i32),
    dataset: (i32, i32),
    operation: impl FnOnce(&[u8], &[u8]) -> Result<Vec<u8>, String>,
) -> i32 {
    finish((|| {
        let p = take(params.0, params.1, "params")?;
        let d = take(dataset.0, dataset.1, "dataset")?;
        operation(&p, &d)
    })())
}

/// Run an operation on `(params, dataset, state)` taken from the host's buffers.
pub fn call_with_state(
    params: (i32, i32),
    dataset: (i32, i32),
    state: (i32, i32),
    operation: impl FnOnce(&[u8], &[u8], &[u8]) -> Result<Vec<u8>, String>,
) -> i32 {
    call_with_inputs(params, dataset, |p, d| {
        let s = take(state.0, state.1, "state")?;
        operation(p, d, &s)
    })
}

/// A segment's step count from the ABI's `i32`.
pub fn steps(steps: i32) -> Result<u32, String> {
    u32::try_from(steps).map_err(|_| format!("steps must not be negative, got {steps}"))
}

/// The five operations of Job ABI v1 over bytes, one implementation per data kind: tables and
/// images ([`Tabular`](crate::job::Tabular)) and text ([`Text`](crate::text::Text)).
pub trait Operations {
    /// `agora_plan`.
    fn plan(params: &[u8], dataset: &[u8]) -> Result<Vec<u8>, String>;
    /// `agora_init`.
    fn init(params: &[u8], dataset: &[u8], seed: u64) -> Result<Vec<u8>, String>;
    /// `agora_segment`.
    fn segment(params: &[u8], dataset: &[u8], state: &[u8], steps: u32) -> Result<Vec<u8>, String>;
    /// `agora_eval`.
    fn eval(params: &[u8], dataset: &[u8], state: &[u8]) -> Result<Vec<u8>, String>;
    /// `agora_export`.
    fn export(params: &[u8], dataset: &[u8], state: &[u8]) -> Result<Vec<u8>, String>;
}

/// Generate the Job ABI v1 exports for a [`Job`](crate::Job) type (tables and images). Only on
/// wasm32: a native build of the same crate exports nothing and calls [`crate::job`]'s
/// functions directly.
#[macro_export]
macro_rules! export_job {
    ($job:ty) => {
        $crate::export_operations!($crate::job::Tabular<$job>);
    };
}

/// Generate the Job ABI v1 exports for a [`TextJob`](crate::text::TextJob) type.
#[macro_export]
macro_rules! export_text_job {
    ($job:ty) => {
        $crate::export_operations!($crate::text::Text<$job>);
    };
}

/// Generate the Job ABI v1 exports for an [`Operations`] implementation (wasm32 only).
#[macro_export]
macro_rules! export_operations {
    ($ops:ty) => {
        #[cfg(target_arch = "wasm32")]
        mod __agora_job_abi {
            use super::*;
            use $crate::abi::{self, Operations};

            #[no_mangle]
            pub extern "C" fn agora_abi_version() -> i32 {
                abi::ABI_VERSION
            }

            #[no_mangle]
            pub extern "C" fn agora_alloc(len: i32) -> i32 {
                abi::alloc(len)
            }

            #[no_mangle]
            pub extern "C" fn agora_output_ptr() -> i32 {
                abi::output_ptr()
            }

            #[no_mangle]
            pub extern "C" fn agora_output_len() -> i32 {
                abi::output_len()
            }

            #[no_mangle]
            pub extern "C" fn agora_plan(p: i32, pl: i32, d: i32, dl: i32) -> i32 {
                abi::call_with_inputs((p, pl), (d, dl), <$ops>::plan)
            }

            #[no_mangle]
            pub extern "C" fn agora_init(p: i32, pl: i32, d: i32, dl: i32, seed: i64) -> i32 {
                abi::call_with_inputs((p, pl), (d, dl), |p, d| <$ops>::init(p, d, seed as u64))
            }

            #[no_mangle]
            pub extern "C" fn agora_segment(
                p: i32,
                pl: i32,
                d: i32,
                dl: i32,
                s: i32,
                sl: i32,
                steps: i32,
            ) -> i32 {
                abi::call_with_state((p, pl), (d, dl), (s, sl), |p, d, s| {
                    <$ops>::segment(p, d, s, abi::steps(steps)?)
                })
            }

            #[no_mangle]
            pub extern "C" fn agora_eval(p: i32, pl: i32, d: i32, dl: i32, s: i32, sl: i32) -> i32 {
                abi::call_with_state((p, pl), (d, dl), (s, sl), <$ops>::eval)
            }

            #[no_mangle]
            pub extern "C" fn agora_export(
                p: i32,
                pl: i32,
                d: i32,
                dl: i32,
                s: i32,
                sl: i32,
            ) -> i32 {
                abi::call_with_state((p, pl), (d, dl), (s, sl), <$ops>::export)
            }
        }
    };
}
