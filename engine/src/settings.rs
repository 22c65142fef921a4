//! The executor's configuration: the hard limits on what a job may use, and the compiler
//! settings that change the machine code wasmtime generates but never the results
//! (re-exported from [`crate::executor`], where the determinism argument is).

use std::path::PathBuf;

/// Hard limits on what a job may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest module accepted, bytes.
    pub max_module_bytes: usize,
    /// Largest linear memory, bytes.
    pub max_memory_bytes: u64,
    /// Largest table, elements.
    pub max_table_elements: u64,
    /// Fuel for one ABI call (one segment, one eval, …).
    pub max_fuel_per_call: u64,
    /// Largest params or dataset input, bytes.
    pub max_input_bytes: usize,
    /// Largest job state, bytes.
    pub max_state_bytes: u64,
    /// Largest other output (plan, exported model), bytes.
    pub max_output_bytes: u64,
    /// Largest metrics (`eval`'s output), bytes.
    pub max_metrics_bytes: u64,
    /// WebAssembly stack, bytes of native stack wasmtime lets a call use.
    pub max_wasm_stack: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_module_bytes: 32 << 20,
            max_memory_bytes: 2 << 30,
            max_table_elements: 65_536,
            max_fuel_per_call: 5_000_000_000_000,
            max_input_bytes: 256 << 20,
            max_state_bytes: 256 << 20,
            max_output_bytes: 256 << 20,
            max_metrics_bytes: 256 << 20,
            max_wasm_stack: 1 << 20,
        }
    }
}

impl Limits {
    /// These limits, tightened to the chain's `bounds` for a job's calls: what the worker, every
    /// verifier and the referee run with, so that all of them refuse the same calls.
    #[must_use]
    pub fn within(self, bounds: &agora_primitives::referee::CallBounds) -> Self {
        Self {
            max_fuel_per_call: self.max_fuel_per_call.min(bounds.fuel),
            max_state_bytes: self.max_state_bytes.min(bounds.state_bytes),
            max_output_bytes: self.max_output_bytes.min(bounds.model_bytes),
            max_metrics_bytes: self.max_metrics_bytes.min(bounds.metrics_bytes),
            ..self
        }
    }
}

/// Cranelift optimization level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLevel {
    /// No optimizations.
    None,
    /// Optimize for speed (the default).
    Speed,
    /// Optimize for speed and size.
    SpeedAndSize,
}

/// The CPU features Cranelift may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CpuFeatures {
    /// Everything the host has (the default).
    Host,
    /// The host's features minus these Cranelift ISA flags (e.g. `has_avx2`).
    Without(Vec<&'static str>),
}

impl CpuFeatures {
    /// x86-64 without AVX, AVX-512, FMA and BMI: roughly an x86-64-v2 CPU.
    pub fn x86_64_v2() -> Self {
        Self::Without(vec![
            "has_avx",
            "has_avx2",
            "has_fma",
            "has_bmi1",
            "has_bmi2",
            "has_lzcnt",
            "has_avx512f",
            "has_avx512vl",
            "has_avx512dq",
            "has_avx512bitalg",
            "has_avx512vbmi",
            "has_avx_vnni",
            "has_avx512vnni",
        ])
    }

    /// x86-64 baseline: SSE2 only (x86-64-v1). Float rounding instructions then become calls
    /// into the host (exact operations, so results do not change).
    pub fn x86_64_baseline() -> Self {
        let Self::Without(mut flags) = Self::x86_64_v2() else {
            unreachable!()
        };
        flags.extend([
            "has_sse3",
            "has_ssse3",
            "has_sse41",
            "has_sse42",
            "has_popcnt",
            "has_cmpxchg16b",
        ]);
        Self::Without(flags)
    }
}

/// How the executor is configured. Every field but `limits` and `cache_dir` changes the machine
/// code wasmtime generates, never the results a valid job computes.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Cranelift optimization level.
    pub opt_level: OptLevel,
    /// CPU features Cranelift may use.
    pub cpu: CpuFeatures,
    /// Canonicalize NaNs after every float operation (see `docs/nan-determinism.md`).
    pub nan_canonicalization: bool,
    /// Resource limits.
    pub limits: Limits,
    /// Directory for compiled modules; `None` keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Most bytes of compiled modules `cache_dir` keeps: past it, the oldest entries are
    /// deleted after each new one is written ([`DEFAULT_CACHE_MAX_BYTES`] by default).
    pub cache_max_bytes: u64,
    /// The modules this executor loads are NaN-probed forms (the referee's probing executor):
    /// their validation does not ask that the probe can rewrite them again, as every other
    /// executor's does ([`crate::validate::validate_probeable`]).
    pub nan_probed: bool,
}

/// What the compiled-module cache keeps by default: 2 GiB, about 200 compiled modules of the
/// size of the shipped jobs (~10 MB each compiled, from 3–4 MB of Wasm).
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 2 << 30;

impl Default for Settings {
    fn default() -> Self {
        Self {
            opt_level: OptLevel::Speed,
            cpu: CpuFeatures::Host,
            nan_canonicalization: false,
            limits: Limits::default(),
            cache_dir: None,
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            nan_probed: false,
        }
    }
}

impl Settings {
    /// The default settings with compiled modules cached in `cache_dir` (`None`: in memory
    /// only), as the daemons and the CLI run jobs.
    pub fn with_cache_dir(cache_dir: Option<PathBuf>) -> Self {
        Settings {
            cache_dir,
            ..Settings::default()
        }
    }

    /// [`Settings::with_cache_dir`] with the limits tightened to the chain's `bounds` on a
    /// job's calls ([`Limits::within`]): the one way the worker, every verifier and the
    /// referee make their settings, so that all of them refuse the same calls and share a
    /// module cache entry on one machine.
    pub fn within_bounds(
        cache_dir: Option<PathBuf>,
        bounds: &agora_primitives::referee::CallBounds,
    ) -> Self {
        let mut settings = Settings::with_cache_dir(cache_dir);
        settings.limits = settings.limits.within(bounds);
        settings
    }
}
