//! The executor: wasmtime configured so that a job module computes the same bytes and burns
//! the same fuel on every machine.
//!
//! ## Determinism settings
//!
//! - Threads, shared memory and atomics: off (and refused by validation). Relaxed SIMD: off
//!   (its results may differ by CPU); `relaxed_simd_deterministic` is set as well in case a
//!   later change lets it through. Multi-memory, memory64, GC, exceptions: off.
//! - No imports: a job has no clock, no randomness and no I/O; its only inputs are the bytes
//!   passed through the ABI.
//! - Every ABI call runs in a **fresh instance** with a fresh store. Nothing survives from one
//!   call to the next except what the call returns, so a segment is a pure function of
//!   `(module, params, dataset, state, steps)` and a verifier re-executing one segment alone
//!   runs exactly the code path the worker ran.
//! - NaN canonicalization: off by default, a [`Settings`] field for differential testing. The
//!   reasoning (jobs trap on the first non-finite loss or state value, so no NaN bits reach a
//!   hash) is in `docs/nan-determinism.md`, with the tests that back it.
//! - Cranelift optimization level and the CPU features it may use change the machine code but
//!   not the results: both are [`Settings`] fields so tests can vary them (the stand-in for
//!   different hardware).
//!
//! ## Metering and limits
//!
//! Fuel is on: every call gets at most [`Limits::max_fuel_per_call`] units and reports what it
//! used. Fuel is counted by wasmtime per WebAssembly operator and is deterministic for a given
//! module, so workers, verifiers and the chain agree on it; it is the billing unit. Memory,
//! table size and instance count are bounded by a resource limiter that turns any growth past
//! the limit into [`Error::MemoryLimit`] / [`Error::TableLimit`]; the WebAssembly stack is
//! bounded by `max_wasm_stack` ([`Error::StackOverflow`]). Inputs and outputs are bounded too.
//!
//! ## Compiled-module cache
//!
//! [`Executor::load`] looks for the compiled module in memory, then on disk (`cache_dir`, see
//! `engine/src/cache.rs`: keys, checksums, the size bound), and only then validates and compiles
//! it. A module enters either cache only after it passed validation and the ABI version check
//! under these limits, so a hit skips both.

use std::collections::{BTreeMap, VecDeque};
use std::hash::{Hash as _, Hasher};
use std::sync::Mutex;

use agora_primitives::Hash;
use wasmtime::{Config, Engine, Instance, Memory, Module, ResourceLimiter, Store, Trap, TypedFunc};

use crate::cache;
use crate::validate;
use crate::Error;

/// Job ABI version this executor runs.
pub const ABI_VERSION: i32 = 1;

pub use crate::settings::{CpuFeatures, Limits, OptLevel, Settings, DEFAULT_CACHE_MAX_BYTES};

/// Where [`Executor::load`] found the compiled module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled now.
    Compiled,
    /// Already compiled by this executor.
    MemoryCache,
    /// Deserialized from the disk cache.
    DiskCache,
}

/// A validated, compiled job module.
#[derive(Clone)]
pub struct JobModule {
    hash: Hash,
    size: usize,
    origin: Origin,
    module: Module,
    cache_write_failure: Option<String>,
}

impl JobModule {
    /// blake3 of the module bytes: the module's identity everywhere in Agora.
    pub fn hash(&self) -> Hash {
        self.hash
    }
    /// Module size, bytes.
    pub fn size(&self) -> usize {
        self.size
    }
    /// Where the compiled code came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }
    /// Why the module compiled now was not written to the disk cache; it loaded all the same.
    pub fn cache_write_failure(&self) -> Option<&str> {
        self.cache_write_failure.as_deref()
    }
}

/// What one ABI call returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The call's result bytes.
    pub bytes: Vec<u8>,
    /// Fuel the call used (instantiation and input allocation included).
    pub fuel: u64,
    /// Linear memory at the end of the call, bytes — the call's peak, since WebAssembly
    /// memory never shrinks.
    pub memory_bytes: u64,
}

/// A call of a NaN-probed module ([`Executor::call_probed`]): the ABI export and the state it
/// reads (the params and dataset are passed to every call).
#[derive(Clone, Copy, Debug)]
pub enum ProbedCall<'a> {
    /// `agora_init`.
    Init {
        /// The job seed.
        seed: u64,
    },
    /// `agora_segment`.
    Segment {
        /// The state to start from.
        state: &'a [u8],
        /// Training steps.
        steps: u32,
    },
    /// `agora_eval`.
    Eval {
        /// The state to evaluate.
        state: &'a [u8],
    },
    /// `agora_export`.
    Export {
        /// The state to export.
        state: &'a [u8],
    },
}

/// What a NaN-probed call did.
#[derive(Debug)]
pub struct Probed {
    /// The call's outcome: the original module's, except for the fuel figure.
    pub result: Result<Output, Error>,
    /// Whether some float operation of the call output a NaN.
    pub nan_produced: bool,
}

/// Modules kept compiled in memory.
const MEMORY_CACHE_ENTRIES: usize = 16;
/// Longest job error message kept.
const MAX_MESSAGE_BYTES: usize = 4096;

/// Runs job modules. Cheap to share: calls take `&self`.
pub struct Executor {
    engine: Engine,
    settings: Settings,
    fingerprint: Hash,
    /// Digest of the validation rules, limits and ABI version: a cached module passed exactly
    /// these ([`cache::validation_digest`]).
    limits_digest: Hash,
    compiled: Mutex<(BTreeMap<Hash, Module>, VecDeque<Hash>)>,
}

/// Feeds `std::hash::Hash` output into blake3 (for wasmtime's compatibility hash).
struct Blake3Hasher(blake3::Hasher);

impl Hasher for Blake3Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    fn finish(&self) -> u64 {
        let hash = self.0.finalize();
        u64::from_le_bytes(hash.as_bytes()[..8].try_into().unwrap_or_default())
    }
}

impl Executor {
    /// An executor with `settings`.
    pub fn new(settings: Settings) -> Result<Self, Error> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .wasm_relaxed_simd(false)
            .relaxed_simd_deterministic(true)
            .wasm_simd(true)
            .wasm_multi_memory(false)
            .wasm_memory64(false)
            .cranelift_nan_canonicalization(settings.nan_canonicalization)
            .cranelift_opt_level(match settings.opt_level {
                OptLevel::None => wasmtime::OptLevel::None,
                OptLevel::Speed => wasmtime::OptLevel::Speed,
                OptLevel::SpeedAndSize => wasmtime::OptLevel::SpeedAndSize,
            })
            .max_wasm_stack(settings.limits.max_wasm_stack)
            // A module from the disk cache is mapped from its file (`cache.rs`); its initial
            // memory is copied into RAM at load rather than mapped from that file by every
            // instance, so nothing done to the file later reaches a job's memory.
            .force_memory_init_memfd(true)
            .parallel_compilation(true);
        if let CpuFeatures::Without(flags) = &settings.cpu {
            for flag in flags {
                // SAFETY: disabling an ISA feature only makes Cranelift emit older instructions;
                // wasmtime still checks that every *enabled* feature exists on the host.
                #[allow(unsafe_code)]
                unsafe {
                    config.cranelift_flag_set(flag, "false");
                }
            }
            #[cfg(target_arch = "x86_64")]
            // SAFETY: this host is built for hard floats (x86-64 always is), the case the
            // method documents as safe; needed once SSE4.1 is off and float rounding becomes a
            // call into the host.
            #[allow(unsafe_code)]
            unsafe {
                config.x86_float_abi_ok(true);
            }
        }
        let engine = Engine::new(&config).map_err(|e| Error::Engine {
            reason: format!("{e:#}"),
        })?;
        let mut hasher = Blake3Hasher(blake3::Hasher::new());
        hasher.write(b"agora/executor/v1");
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let fingerprint = Hash(*hasher.0.finalize().as_bytes());
        let limits_digest =
            cache::validation_digest(&settings.limits, settings.nan_probed, ABI_VERSION);
        Ok(Self {
            engine,
            settings,
            fingerprint,
            limits_digest,
            compiled: Mutex::new((BTreeMap::new(), VecDeque::new())),
        })
    }

    /// The settings this executor runs with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Hash of everything a compiled module depends on besides its bytes.
    pub fn fingerprint(&self) -> Hash {
        self.fingerprint
    }

    /// Validate and compile (or fetch from the caches) a job module.
    pub fn load(&self, wasm: &[u8]) -> Result<JobModule, Error> {
        // Size first: nothing else, not even hashing, for an oversized module.
        validate::check_size(wasm, &self.settings.limits)?;
        let hash = Hash::of(wasm);
        let job = |module, origin| JobModule {
            hash,
            size: wasm.len(),
            origin,
            module,
            cache_write_failure: None,
        };

        // A module is cached only after it passed validation and the ABI version check under
        // this executor's limits and engine (both are in the disk key), so a hit skips them.
        if let Some(module) = self.lock().0.get(&hash) {
            return Ok(job(module.clone(), Origin::MemoryCache));
        }
        let path = self
            .settings
            .cache_dir
            .as_ref()
            .map(|dir| cache::entry_path(dir, &hash, &self.fingerprint, &self.limits_digest));
        if let Some(module) = path.as_deref().and_then(|p| cache::read(&self.engine, p)) {
            self.remember(hash, &module);
            return Ok(job(module, Origin::DiskCache));
        }

        validate::validate(wasm, &self.settings.limits)?;
        if !self.settings.nan_probed {
            validate::validate_probeable(wasm, &self.settings.limits)?;
        }
        let module = Module::from_binary(&self.engine, wasm).map_err(|e| Error::Compile {
            reason: format!("{e:#}"),
        })?;
        let mut loaded = job(module, Origin::Compiled);
        let version = self.call_version(&loaded)?;
        if version != ABI_VERSION {
            return Err(Error::UnsupportedAbi {
                found: version,
                supported: ABI_VERSION,
            });
        }
        // Best effort: failing the load made a referee with an unwritable cache decide nothing.
        if let Some(path) = &path {
            match cache::write(path, &loaded.module) {
                Ok(()) => cache::prune(path, self.settings.cache_max_bytes),
                Err(error) => loaded.cache_write_failure = Some(error.to_string()),
            }
        }
        self.remember(hash, &loaded.module);
        Ok(loaded)
    }

    /// Keep a compiled module in the bounded memory cache (oldest entry evicted first).
    fn remember(&self, hash: Hash, module: &Module) {
        let mut guard = self.lock();
        let (map, order) = &mut *guard;
        if map.insert(hash, module.clone()).is_none() {
            order.push_back(hash);
            while order.len() > MEMORY_CACHE_ENTRIES {
                if let Some(old) = order.pop_front() {
                    map.remove(&old);
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (BTreeMap<Hash, Module>, VecDeque<Hash>)> {
        // A panic while holding the lock leaves a consistent map (inserts are single calls).
        self.compiled
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn call_version(&self, job: &JobModule) -> Result<i32, Error> {
        let fuel = self.settings.limits.max_fuel_per_call;
        let (mut store, instance) = self.instantiate(job, "agora_abi_version", fuel)?;
        let f: TypedFunc<(), i32> = typed(&instance, &mut store, "agora_abi_version")?;
        f.call(&mut store, ())
            .map_err(|e| classify(e, &store, "agora_abi_version", fuel))
    }

    fn instantiate(
        &self,
        job: &JobModule,
        call: &'static str,
        fuel: u64,
    ) -> Result<(Store<Guard>, Instance), Error> {
        let limits = &self.settings.limits;
        let mut store = Store::new(
            &self.engine,
            Guard {
                limits: limits.clone(),
                denied: None,
            },
        );
        store.limiter(|guard| guard);
        store.set_fuel(fuel).map_err(|e| Error::Engine {
            reason: format!("{e:#}"),
        })?;
        let instance = Instance::new(&mut store, &job.module, &[])
            .map_err(|e| classify(e, &store, call, fuel))?;
        Ok((store, instance))
    }

    /// `agora_plan`: the job's planned steps and shape, JSON.
    pub fn plan(&self, job: &JobModule, params: &[u8], dataset: &[u8]) -> Result<Output, Error> {
        let inputs = [("params", params), ("dataset", dataset)];
        self.call(job, Call::Plan, &inputs, PER_CALL_LIMIT)
    }

    /// `agora_init`: the state before the first step.
    pub fn init(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        seed: u64,
    ) -> Result<Output, Error> {
        self.init_within(job, params, dataset, seed, PER_CALL_LIMIT)
    }

    /// [`Self::init`] with at most `fuel` (and never more than the per-call limit), as the
    /// referee runs it: a worker checking that the referee could run a job's `init` must run
    /// it under the same limit, not measure it under a larger one (wasmtime checks fuel at
    /// function entries and loop headers, so a call measured over a limit may still finish
    /// within it).
    pub fn init_within(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        seed: u64,
        fuel: u64,
    ) -> Result<Output, Error> {
        let inputs = [("params", params), ("dataset", dataset)];
        self.call(job, Call::Init { seed }, &inputs, fuel)
    }

    /// `agora_segment`: `steps` training steps from `state`.
    pub fn segment(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        state: &[u8],
        steps: u32,
    ) -> Result<Output, Error> {
        self.segment_within(job, params, dataset, state, steps, PER_CALL_LIMIT)
    }

    /// [`Self::segment`] with at most `fuel` (and never more than the per-call limit): a
    /// segment of a job whose bid leaves less fuel than a segment may use runs out of fuel
    /// where the bid's `max_fuel` does ([`crate::RunSpec::segment_fuel`]).
    pub fn segment_within(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        state: &[u8],
        steps: u32,
        fuel: u64,
    ) -> Result<Output, Error> {
        let inputs = [("params", params), ("dataset", dataset), ("state", state)];
        self.call(job, Call::Segment { steps }, &inputs, fuel)
    }

    /// `agora_eval`: metrics of `state`, JSON.
    pub fn eval(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        state: &[u8],
    ) -> Result<Output, Error> {
        self.eval_within(job, params, dataset, state, PER_CALL_LIMIT)
    }

    /// [`Self::eval`] with at most `fuel` (and never more than the per-call limit), as the
    /// referee runs it on a disputed final state.
    pub fn eval_within(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        state: &[u8],
        fuel: u64,
    ) -> Result<Output, Error> {
        self.call_on_state(job, Call::Eval, params, dataset, state, fuel)
    }

    /// `agora_export`: the trained model (burnpack).
    pub fn export(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        state: &[u8],
    ) -> Result<Output, Error> {
        self.export_within(job, params, dataset, state, PER_CALL_LIMIT)
    }

    /// [`Self::export`] with at most `fuel` (and never more than the per-call limit), as the
    /// referee runs it on a disputed final state.
    pub fn export_within(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        state: &[u8],
        fuel: u64,
    ) -> Result<Output, Error> {
        self.call_on_state(job, Call::Export, params, dataset, state, fuel)
    }

    /// The model and metrics of `state` (a run's final state) as a commitment names them:
    /// `export` and `eval`, a refusal of either read as no result ([`crate::JobResult`]).
    pub fn job_result(
        &self,
        job: &JobModule,
        params: &[u8],
        dataset: &[u8],
        state: &[u8],
    ) -> Result<crate::JobResult, Error> {
        crate::JobResult::of(
            self.export(job, params, dataset, state),
            self.eval(job, params, dataset, state),
        )
    }

    /// A call on a state (segment, eval, export) with at most `fuel`: its inputs are the
    /// params, the dataset and the state, in that order.
    fn call_on_state(
        &self,
        job: &JobModule,
        call: Call,
        params: &[u8],
        dataset: &[u8],
        state: &[u8],
        fuel: u64,
    ) -> Result<Output, Error> {
        let inputs = [("params", params), ("dataset", dataset), ("state", state)];
        self.call(job, call, &inputs, fuel)
    }

    /// A call of a module made by [`crate::nan_probe::instrument`], with at most `fuel`: its
    /// outcome, and whether it produced a NaN — read after the call whether it returned or
    /// failed (`false` when no instance ran, or the module has no probe).
    pub fn call_probed(
        &self,
        probed: &JobModule,
        call: ProbedCall<'_>,
        params: &[u8],
        dataset: &[u8],
        fuel: u64,
    ) -> Probed {
        let (call, state) = match call {
            ProbedCall::Init { seed } => (Call::Init { seed }, None),
            ProbedCall::Segment { state, steps } => (Call::Segment { steps }, Some(state)),
            ProbedCall::Eval { state } => (Call::Eval, Some(state)),
            ProbedCall::Export { state } => (Call::Export, Some(state)),
        };
        let mut inputs = vec![("params", params), ("dataset", dataset)];
        inputs.extend(state.map(|state| ("state", state)));
        let mut produced = None;
        let result = self.call_observing(probed, call, &inputs, fuel, &mut produced);
        Probed {
            result,
            nan_produced: produced.is_some_and(|flag| flag != 0),
        }
    }

    /// One ABI call with at most `fuel` (and the per-call limit): `inputs` copied into the
    /// instance's memory, the export called, its output read back. A fresh instance per call,
    /// so no state survives between calls.
    fn call(
        &self,
        job: &JobModule,
        call: Call,
        inputs: &[(&'static str, &[u8])],
        fuel: u64,
    ) -> Result<Output, Error> {
        self.call_observing(job, call, inputs, fuel, &mut None)
    }

    /// [`Self::call`], and the NaN probe's global ([`crate::nan_probe`]) into `produced` once
    /// the export has run (returned or trapped), if the module has one.
    fn call_observing(
        &self,
        job: &JobModule,
        call: Call,
        inputs: &[(&'static str, &[u8])],
        fuel: u64,
        produced: &mut Option<i32>,
    ) -> Result<Output, Error> {
        let limits = &self.settings.limits;
        let fuel = fuel.min(limits.max_fuel_per_call);
        let name = call.name();
        check_input_sizes(limits, inputs)?;
        let (mut store, instance) = self.instantiate(job, name, fuel)?;
        let memory: Memory = instance
            .get_memory(&mut store, "memory")
            .ok_or(Error::MissingExport { name: "memory" })?;
        let args = write_inputs(&instance, &mut store, memory, name, inputs, fuel)?;
        let status = invoke(&instance, &mut store, call, &args, fuel);
        *produced = instance
            .get_global(&mut store, crate::nan_probe::NAN_PRODUCED_EXPORT)
            .and_then(|global| global.get(&mut store).i32());
        let status = status?;
        let (mut bytes, memory_bytes) =
            read_output(&instance, &mut store, memory, call, status, (limits, fuel))?;
        let used = fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        match status {
            0 => Ok(Output {
                bytes,
                fuel: used,
                memory_bytes,
            }),
            1 => {
                bytes.truncate(MAX_MESSAGE_BYTES);
                Err(Error::Job {
                    call: name,
                    message: String::from_utf8_lossy(&bytes).into_owned(),
                })
            }
            other => Err(Error::AbiViolation {
                call: name,
                reason: format!("returned status {other}; the ABI defines 0 and 1"),
            }),
        }
    }
}

/// A call's own fuel bound when it has none but the executor's per-call limit.
const PER_CALL_LIMIT: u64 = u64::MAX;

/// Refuses an input over its limit before anything is instantiated.
fn check_input_sizes(limits: &Limits, inputs: &[(&'static str, &[u8])]) -> Result<(), Error> {
    for (what, bytes) in inputs {
        let limit = if *what == "state" {
            usize::try_from(limits.max_state_bytes).unwrap_or(usize::MAX)
        } else {
            limits.max_input_bytes
        };
        if bytes.len() > limit.min(i32::MAX as usize) {
            return Err(Error::InputTooLarge {
                what,
                size: bytes.len(),
                limit,
            });
        }
    }
    Ok(())
}

/// Copies each input into a buffer the module allocates (`agora_alloc`), and returns the
/// `(pointer, length)` arguments of the call.
fn write_inputs(
    instance: &Instance,
    store: &mut Store<Guard>,
    memory: Memory,
    name: &'static str,
    inputs: &[(&'static str, &[u8])],
    fuel: u64,
) -> Result<Vec<i32>, Error> {
    let alloc: TypedFunc<i32, i32> = typed(instance, &mut *store, "agora_alloc")?;
    let mut args: Vec<i32> = Vec::with_capacity(inputs.len().saturating_mul(2));
    for (what, bytes) in inputs {
        // Checked against the limits by `check_input_sizes`, which are capped at i32::MAX.
        let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
        let ptr = alloc
            .call(&mut *store, len)
            .map_err(|e| classify(e, store, name, fuel))?;
        let start = ptr as u32 as usize;
        if ptr == 0
            || start
                .checked_add(bytes.len())
                .is_none_or(|end| end > memory.data_size(&*store))
        {
            return Err(Error::AbiViolation {
                call: name,
                reason: format!(
                    "agora_alloc({len}) for the {what} returned {ptr}, not a buffer inside memory"
                ),
            });
        }
        memory
            .write(&mut *store, start, bytes)
            .map_err(|e| Error::AbiViolation {
                call: name,
                reason: e.to_string(),
            })?;
        args.extend([ptr, len]);
    }
    Ok(args)
}

/// Calls the export of `call` with `args` (and its scalar argument); returns its status.
fn invoke(
    instance: &Instance,
    store: &mut Store<Guard>,
    call: Call,
    args: &[i32],
    fuel: u64,
) -> Result<i32, Error> {
    let name = call.name();
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    let status = match call {
        Call::Plan => typed::<(i32, i32, i32, i32), i32>(instance, &mut *store, name)?
            .call(&mut *store, (arg(0), arg(1), arg(2), arg(3))),
        Call::Init { seed } => {
            typed::<(i32, i32, i32, i32, i64), i32>(instance, &mut *store, name)?
                .call(&mut *store, (arg(0), arg(1), arg(2), arg(3), seed as i64))
        }
        Call::Segment { steps } => {
            let steps = i32::try_from(steps).map_err(|_| Error::AbiViolation {
                call: name,
                reason: format!("a segment of {steps} steps does not fit the ABI's i32"),
            })?;
            typed::<(i32, i32, i32, i32, i32, i32, i32), i32>(instance, &mut *store, name)?.call(
                &mut *store,
                (arg(0), arg(1), arg(2), arg(3), arg(4), arg(5), steps),
            )
        }
        Call::Eval | Call::Export => {
            typed::<(i32, i32, i32, i32, i32, i32), i32>(instance, &mut *store, name)?.call(
                &mut *store,
                (arg(0), arg(1), arg(2), arg(3), arg(4), arg(5)),
            )
        }
    };
    status.map_err(|e| classify(e, store, name, fuel))
}

/// Reads the call's output (`agora_output_ptr`, `agora_output_len`), bounded by the limit of
/// what the call returns; also returns the memory's size.
fn read_output(
    instance: &Instance,
    store: &mut Store<Guard>,
    memory: Memory,
    call: Call,
    status: i32,
    (limits, fuel): (&Limits, u64),
) -> Result<(Vec<u8>, u64), Error> {
    let name = call.name();
    let out_ptr: TypedFunc<(), i32> = typed(instance, &mut *store, "agora_output_ptr")?;
    let out_len: TypedFunc<(), i32> = typed(instance, &mut *store, "agora_output_len")?;
    let ptr = out_ptr
        .call(&mut *store, ())
        .map_err(|e| classify(e, store, name, fuel))? as u32 as u64;
    let len = out_len
        .call(&mut *store, ())
        .map_err(|e| classify(e, store, name, fuel))? as u32 as u64;
    let limit = match (call, status) {
        (_, 1) => (MAX_MESSAGE_BYTES as u64).saturating_mul(16),
        (Call::Init { .. } | Call::Segment { .. }, _) => limits.max_state_bytes,
        (Call::Eval, _) => limits.max_metrics_bytes,
        _ => limits.max_output_bytes,
    };
    if len > limit {
        return Err(Error::OutputTooLarge {
            call: name,
            size: len,
            limit,
        });
    }
    let size = memory.data_size(&*store) as u64;
    if ptr.checked_add(len).is_none_or(|end| end > size) {
        return Err(Error::AbiViolation {
            call: name,
            reason: format!("the output ({ptr}, {len}) lies outside the {size}-byte memory"),
        });
    }
    // `len` is at most a limit and lies inside the memory (checked above).
    let mut bytes = vec![0u8; usize::try_from(len).unwrap_or(0)];
    memory
        .read(
            &*store,
            usize::try_from(ptr).unwrap_or(usize::MAX),
            &mut bytes,
        )
        .map_err(|e| Error::AbiViolation {
            call: name,
            reason: e.to_string(),
        })?;
    Ok((bytes, size))
}

#[derive(Clone, Copy, Debug)]
enum Call {
    Plan,
    Init { seed: u64 },
    Segment { steps: u32 },
    Eval,
    Export,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Plan => "agora_plan",
            Call::Init { .. } => "agora_init",
            Call::Segment { .. } => "agora_segment",
            Call::Eval => "agora_eval",
            Call::Export => "agora_export",
        }
    }
}

fn typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    instance: &Instance,
    store: &mut Store<Guard>,
    name: &'static str,
) -> Result<TypedFunc<P, R>, Error> {
    instance
        .get_typed_func::<P, R>(store, name)
        .map_err(|e| Error::WrongExport {
            name,
            expected: "the Job ABI v1 signature".into(),
            found: format!("{e:#}"),
        })
}

/// The store's resource limiter: records what it refused so the error can say so.
struct Guard {
    limits: Limits,
    denied: Option<Denied>,
}

#[derive(Clone, Debug)]
enum Denied {
    Memory(u64),
    Table(u64),
    /// The host failed a growth the limits allow (its reason).
    Host(String),
}

impl Guard {
    /// Allows growth to `desired` up to `limit`; past it, records `denied(desired)` so the
    /// error can name it, and refuses with `message`.
    fn grow(
        &mut self,
        desired: usize,
        limit: u64,
        denied: fn(u64) -> Denied,
        message: &'static str,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > limit {
            self.denied = Some(denied(desired as u64));
            return Err(wasmtime::Error::msg(message));
        }
        Ok(true)
    }
}

impl ResourceLimiter for Guard {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Past the limit: `MemoryLimit`, as ever (a growth past 4 GiB is past every limit).
        self.grow(
            desired,
            self.limits.max_memory_bytes,
            Denied::Memory,
            "memory limit",
        )?;
        // Within it but past the module's own declared maximum: -1, as the spec says and on
        // every machine (wasmtime would answer the same through `memory_grow_failed`). Refused
        // here so that every failure wasmtime reports after this approves a growth is the
        // host's.
        Ok(maximum.is_none_or(|maximum| desired <= maximum))
    }

    /// A growth failed after `memory_growing` allowed it: within the limit and the module's
    /// declared maximum, so it is this host (the operating system refused the memory).
    /// wasmtime's default answers -1, a value the module could store, and then a machine short
    /// of memory computes other bytes than one with enough; the call fails instead, as the
    /// host's error, never a refusal. (wasmtime 48 calls this otherwise only for a memory of
    /// custom page sizes growing past what its type addresses; the job feature set has no
    /// custom page sizes.)
    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        let reason = format!("{error:#}");
        self.denied = Some(Denied::Host(reason.clone()));
        Err(wasmtime::Error::msg(reason))
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.grow(
            desired,
            self.limits.max_table_elements,
            Denied::Table,
            "table limit",
        )
    }

    fn instances(&self) -> usize {
        1
    }
    fn tables(&self) -> usize {
        1
    }
    fn memories(&self) -> usize {
        1
    }
}

/// Turn a wasmtime error into the crate's error for `call`.
fn classify(error: wasmtime::Error, store: &Store<Guard>, call: &'static str, fuel: u64) -> Error {
    let limits = &store.data().limits;
    match &store.data().denied {
        Some(Denied::Memory(requested)) => {
            return Error::MemoryLimit {
                call,
                requested: *requested,
                limit: limits.max_memory_bytes,
            }
        }
        Some(Denied::Table(requested)) => {
            return Error::TableLimit {
                call,
                requested: *requested,
                limit: limits.max_table_elements,
            }
        }
        Some(Denied::Host(reason)) => {
            return Error::HostMemory {
                call,
                reason: reason.clone(),
            }
        }
        None => {}
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Error::OutOfFuel { call, limit: fuel },
        Some(Trap::StackOverflow) => Error::StackOverflow { call },
        Some(Trap::UnreachableCodeReached) => Error::Trap {
            call,
            trap: "wasm `unreachable` executed (a panic or abort in the job)".into(),
        },
        Some(trap) => Error::Trap {
            call,
            trap: trap.to_string(),
        },
        None => Error::Trap {
            call,
            trap: format!("{error:#}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard {
            limits: Limits::default(),
            denied: None,
        }
    }

    /// A growth the limits allow but the host cannot back (the operating system refused the
    /// memory) fails the call as the host's error, never a refusal; wasmtime's default would
    /// answer -1 to `memory.grow`, a value the module could keep in its state.
    #[test]
    fn a_growth_the_host_cannot_back_fails_the_call_as_the_hosts_error() {
        let mut guard = guard();
        assert!(guard
            .memory_grow_failed(wasmtime::Error::msg("mmap failed: Cannot allocate memory"))
            .is_err());
        let store = Store::new(&Engine::default(), guard);
        let error = classify(
            wasmtime::Error::msg("memory.grow failed"),
            &store,
            "agora_segment",
            1,
        );
        assert!(
            matches!(&error, Error::HostMemory { call: "agora_segment", reason } if reason.contains("Cannot allocate")),
            "{error}"
        );
        assert!(!error.is_refusal());
    }

    /// Growth past the module's declared maximum is its own request: -1 (`Ok(false)`),
    /// recorded as nothing; past the limit it stays `MemoryLimit` whatever the maximum.
    #[test]
    fn growth_past_a_declared_maximum_is_minus_one_and_past_the_limit_a_memory_limit() {
        let mut guard = guard();
        assert!(!guard
            .memory_growing(65536, 3 * 65536, Some(2 * 65536))
            .unwrap());
        assert!(guard.denied.is_none());
        let past = usize::try_from(guard.limits.max_memory_bytes).unwrap() + 65536;
        assert!(guard.memory_growing(65536, past, Some(past / 2)).is_err());
        assert!(
            matches!(guard.denied, Some(Denied::Memory(requested)) if requested == past as u64)
        );
    }
}
