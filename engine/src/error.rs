//! The one error type of the engine crate. Every variant names the values involved.

use agora_primitives::trace::TraceError;
use agora_primitives::Hash;

/// Errors of the engine crate; each names the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    // ---- Trace commitment ----------------------------------------------------------------
    /// Building a trace tree, proving a leaf or verifying an inclusion proof failed (see
    /// [`crate::trace`]).
    #[error(transparent)]
    Trace(#[from] TraceError),

    // ---- Module validation -------------------------------------------------------------
    /// The module file is empty.
    #[error("the module is empty (0 bytes); expected a WebAssembly binary")]
    EmptyModule,
    /// The module exceeds the size limit.
    #[error("the module is {size} bytes; the limit is {limit} bytes")]
    ModuleTooLarge {
        /// Module size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The bytes are not a valid WebAssembly module.
    #[error("the module is not valid WebAssembly: {reason}")]
    InvalidModule {
        /// The validator's reason.
        reason: String,
    },
    /// The module uses a WebAssembly feature that is not deterministic (threads, atomics,
    /// shared memory, relaxed SIMD) or not allowed for jobs.
    #[error("the module uses a feature jobs may not use: {reason}")]
    ForbiddenFeature {
        /// What the validator refused.
        reason: String,
    },
    /// Job ABI v1 modules import nothing.
    #[error(
        "the module imports `{module}`.`{name}`; job modules may not import anything (Job ABI v1)"
    )]
    ForbiddenImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// A required ABI export is absent.
    #[error("the module does not export `{name}`, which Job ABI v1 requires")]
    MissingExport {
        /// Export name.
        name: &'static str,
    },
    /// An ABI export has the wrong kind or signature.
    #[error("the module exports `{name}` as {found}; Job ABI v1 requires {expected}")]
    WrongExport {
        /// Export name.
        name: &'static str,
        /// What the ABI requires.
        expected: String,
        /// What the module has.
        found: String,
    },
    /// The module reports an ABI version this executor does not run.
    #[error(
        "the module implements Job ABI version {found}; this executor runs version {supported}"
    )]
    UnsupportedAbi {
        /// Version the module reports.
        found: i32,
        /// Version this executor runs.
        supported: i32,
    },
    /// wasmtime refused the module or the configuration.
    #[error("compiling the module failed: {reason}")]
    Compile {
        /// wasmtime's reason.
        reason: String,
    },
    /// The engine configuration is not usable on this host.
    #[error("the executor configuration is not usable on this host: {reason}")]
    Engine {
        /// wasmtime's reason.
        reason: String,
    },

    // ---- Execution -----------------------------------------------------------------------
    /// The call used up its fuel.
    #[error("`{call}` ran out of fuel after {limit} units (the per-call limit)")]
    OutOfFuel {
        /// ABI call.
        call: &'static str,
        /// Fuel the call was given.
        limit: u64,
    },
    /// The call tried to grow memory past the limit.
    #[error("`{call}` asked for {requested} bytes of linear memory; the limit is {limit} bytes")]
    MemoryLimit {
        /// ABI call (or `instantiate`).
        call: &'static str,
        /// Memory size requested, bytes.
        requested: u64,
        /// The limit, bytes.
        limit: u64,
    },
    /// The host could not give the call memory it may grow to (the operating system refused
    /// the allocation below the limit): about this machine, not the job, so never a refusal.
    /// Before, wasmtime's default returned -1 to `memory.grow`, which the module could keep in
    /// its state: a host short of memory then computed other bytes than one with enough.
    #[error("`{call}`: this host could not provide memory the module may grow to: {reason}")]
    HostMemory {
        /// ABI call (or `instantiate`).
        call: &'static str,
        /// What the host said.
        reason: String,
    },
    /// The call tried to grow a table past the limit.
    #[error("`{call}` asked for a table of {requested} elements; the limit is {limit}")]
    TableLimit {
        /// ABI call (or `instantiate`).
        call: &'static str,
        /// Elements requested.
        requested: u64,
        /// The limit.
        limit: u64,
    },
    /// The call exhausted the WebAssembly stack (deep or unbounded recursion).
    #[error("`{call}` exhausted the WebAssembly stack (recursion too deep)")]
    StackOverflow {
        /// ABI call.
        call: &'static str,
    },
    /// The call trapped.
    #[error("`{call}` trapped: {trap}")]
    Trap {
        /// ABI call.
        call: &'static str,
        /// The trap.
        trap: String,
    },
    /// The job reported an error (bad params or dataset, a diverged training run, …).
    #[error("the job refused `{call}`: {message}")]
    Job {
        /// ABI call.
        call: &'static str,
        /// The job's message.
        message: String,
    },
    /// The module broke the ABI's calling convention.
    #[error("`{call}` broke Job ABI v1: {reason}")]
    AbiViolation {
        /// ABI call.
        call: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// An input exceeds its limit.
    #[error("the {what} is {size} bytes; the limit is {limit} bytes")]
    InputTooLarge {
        /// Which input.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A call's output (state, metrics, model) exceeds its limit.
    #[error("`{call}` returned {size} bytes; the limit is {limit} bytes")]
    OutputTooLarge {
        /// ABI call.
        call: &'static str,
        /// Output size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A run was asked for zero steps or zero-length segments.
    #[error("a run needs at least one step and segments of at least one step (steps {steps}, segment {segment_steps})")]
    EmptyRun {
        /// Steps asked for.
        steps: u64,
        /// Segment length asked for.
        segment_steps: u32,
    },
    /// A job's segment length (a `u64` on chain) does not fit the engine's `u32`.
    #[error("segment length {segment_steps} is too large")]
    SegmentTooLong {
        /// Segment length asked for.
        segment_steps: u64,
    },
    /// The cumulative fuel of a trace passed `u64::MAX` at a segment (no real run gets there;
    /// a start leaf claiming such fuel is refused rather than wrapped).
    #[error("the cumulative fuel overflows at segment {index}")]
    FuelOverflow {
        /// The segment at which the total overflowed.
        index: u64,
    },
    /// The compiled-module cache could not be used.
    #[error("module cache {path}: {reason}")]
    Cache {
        /// Cache file or directory.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The caller stopped the run between two segments (its state callback asked to, e.g.
    /// because the job was cancelled): nothing about the job, and not a refusal.
    #[error("the run was stopped after segment {segments} by its caller")]
    Stopped {
        /// Segments completed when it stopped.
        segments: u64,
    },

    // ---- Re-execution ----------------------------------------------------------------------
    /// A revealed start state does not hash to the state committed by the previous leaf.
    #[error("the revealed start state of segment {index} hashes to {found}, but the trace committed {expected}")]
    StartStateMismatch {
        /// Segment index.
        index: u64,
        /// State hash committed in leaf `index - 1` (or computed by `init` for segment 0).
        expected: Hash,
        /// Hash of the revealed bytes.
        found: Hash,
    },
    /// The leaf presented as the previous one is not leaf `index - 1`.
    #[error("segment {index} needs leaf {expected} as its start, not leaf {found}")]
    WrongStartLeaf {
        /// Segment index.
        index: u64,
        /// `index - 1`.
        expected: u64,
        /// The index of the leaf presented.
        found: u64,
    },
}

impl Error {
    /// Whether the job itself is at fault — its module, its inputs, a state it was given, or
    /// more fuel than the limit — so that every machine running the same bytes gets the same
    /// error; rather than this machine or its caller (compilation, the engine, the module
    /// cache, a trace or start the caller built wrongly). The referee, the worker's
    /// unrunnable declaration and the verifier's markers all rest on this split.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            Error::Compile { .. }
                | Error::Engine { .. }
                | Error::HostMemory { .. }
                | Error::Cache { .. }
                | Error::Stopped { .. }
                | Error::Trace(_)
                | Error::StartStateMismatch { .. }
                | Error::WrongStartLeaf { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A worker declares the job unrunnable (the buyer's fault) on a refusal: a run its own
    /// daemon stopped must never read as one.
    #[test]
    fn a_run_stopped_by_its_caller_is_not_a_refusal() {
        assert!(!Error::Stopped { segments: 3 }.is_refusal());
        assert!(Error::MissingExport { name: "agora_init" }.is_refusal());
    }
}
