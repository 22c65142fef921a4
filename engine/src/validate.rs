//! Module validation before compilation.
//!
//! A job module is checked, in this order, before wasmtime compiles a single function:
//!
//! 1. size: non-empty and at most [`Limits::max_module_bytes`](crate::Limits);
//! 2. validity under the job feature set ([`job_features`]); if that fails, a second pass with
//!    every feature enabled decides the error: [`Error::InvalidModule`] if the module is not
//!    valid WebAssembly at all, [`Error::ForbiddenFeature`] if it is valid but uses threads and
//!    atomics, shared memory, relaxed SIMD (whose results vary by CPU), multiple memories,
//!    64-bit memory, GC, exceptions or stack switching;
//! 3. no imports at all ([`Error::ForbiddenImport`]): Job ABI v1 gives a job no host functions,
//!    so a job has no clock, no randomness, no I/O;
//! 4. every ABI export present with its exact signature ([`Error::MissingExport`],
//!    [`Error::WrongExport`]);
//! 5. declared initial memory and table sizes within the limits.
//!
//! The job feature set keeps what `rustc` emits for `wasm32-unknown-unknown` with `+simd128`
//! (SIMD, bulk memory, sign extension, saturating conversions, multi-value, reference types,
//! mutable globals) — all deterministic apart from NaN bit patterns, which
//! `docs/nan-determinism.md` deals with.

use wasmparser::{
    CompositeInnerType, ExternalKind, FuncType, Parser, Payload, ValType, Validator, WasmFeatures,
};

use crate::{Error, Limits};

/// The exports Job ABI v1 requires: name, parameter types, result types.
pub const ABI_FUNCTIONS: &[(&str, &[ValType], &[ValType])] = {
    use ValType::{I32, I64};
    &[
        ("agora_abi_version", &[], &[I32]),
        ("agora_alloc", &[I32], &[I32]),
        ("agora_output_ptr", &[], &[I32]),
        ("agora_output_len", &[], &[I32]),
        ("agora_plan", &[I32, I32, I32, I32], &[I32]),
        ("agora_init", &[I32, I32, I32, I32, I64], &[I32]),
        (
            "agora_segment",
            &[I32, I32, I32, I32, I32, I32, I32],
            &[I32],
        ),
        ("agora_eval", &[I32, I32, I32, I32, I32, I32], &[I32]),
        ("agora_export", &[I32, I32, I32, I32, I32, I32], &[I32]),
    ]
};

/// Bytes in a WebAssembly page.
pub const PAGE: u64 = 65_536;

/// The WebAssembly features a job module may use.
pub fn job_features() -> WasmFeatures {
    WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SATURATING_FLOAT_TO_INT
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
        | WasmFeatures::REFERENCE_TYPES
        | WasmFeatures::SIMD
        | WasmFeatures::FLOATS
        | WasmFeatures::EXTENDED_CONST
}

fn describe(ty: &FuncType) -> String {
    let list = |types: &[ValType]| {
        types
            .iter()
            .map(|t| format!("{t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "a function ({}) -> ({})",
        list(ty.params()),
        list(ty.results())
    )
}

/// Step 1 alone: non-empty and within the size limit.
pub fn check_size(wasm: &[u8], limits: &Limits) -> Result<(), Error> {
    if wasm.is_empty() {
        return Err(Error::EmptyModule);
    }
    if wasm.len() > limits.max_module_bytes {
        return Err(Error::ModuleTooLarge {
            size: wasm.len(),
            limit: limits.max_module_bytes,
        });
    }
    Ok(())
}

/// Validate `wasm` as a job module under `limits`.
pub fn validate(wasm: &[u8], limits: &Limits) -> Result<(), Error> {
    check_size(wasm, limits)?;
    check_features(wasm)?;
    let shape = Shape::read(wasm, limits)?;
    shape.check_memory(limits)?;
    shape.check_abi_functions()
}

/// That the referee can NaN-probe `wasm` (`docs/nan-determinism.md`): its probed form
/// ([`crate::nan_probe::instrument`], three scratch locals a function and a probe after every
/// float operation) must itself be a valid job module under `limits`. A module at the edge of
/// a limit (locals a function, a body's size, the module's size) could validate while its
/// probed form does not; every referee run of it would then fail to load the probed form, and
/// that failure, read as the module refusing the run, would decide each dispute against the
/// job's worker. Refused here, such a module is the buyer's (`declare_unrunnable`).
pub fn validate_probeable(wasm: &[u8], limits: &Limits) -> Result<(), Error> {
    let unprobeable = |reason: String| Error::InvalidModule {
        reason: format!("the NaN probe cannot rewrite it into a valid module: {reason}"),
    };
    let probed = crate::nan_probe::instrument(wasm).map_err(|e| unprobeable(e.to_string()))?;
    validate(&probed, limits).map_err(|e| unprobeable(e.to_string()))
}

/// The job feature set first (the common case validates once); on failure, a permissive pass
/// tells an invalid module from a valid one that uses a forbidden feature.
fn check_features(wasm: &[u8]) -> Result<(), Error> {
    if let Err(restricted) = Validator::new_with_features(job_features()).validate_all(wasm) {
        Validator::new_with_features(WasmFeatures::all())
            .validate_all(wasm)
            .map_err(|e| Error::InvalidModule {
                reason: e.to_string(),
            })?;
        return Err(Error::ForbiddenFeature {
            reason: restricted.to_string(),
        });
    }
    Ok(())
}

fn invalid(e: wasmparser::BinaryReaderError) -> Error {
    Error::InvalidModule {
        reason: e.to_string(),
    }
}

/// What validation needs of a valid module: its types, functions, memories and exports.
#[derive(Default)]
struct Shape {
    types: Vec<Option<FuncType>>,
    func_types: Vec<u32>,
    memories: Vec<wasmparser::MemoryType>,
    exports: Vec<(String, ExternalKind, u32)>,
}

impl Shape {
    /// Walks the (valid) module once; refuses any import and any table over the limit.
    fn read(wasm: &[u8], limits: &Limits) -> Result<Shape, Error> {
        let mut shape = Shape::default();
        for payload in Parser::new(0).parse_all(wasm) {
            match payload.map_err(invalid)? {
                Payload::TypeSection(reader) => {
                    for group in reader {
                        for sub in group.map_err(invalid)?.into_types() {
                            shape.types.push(match &sub.composite_type.inner {
                                CompositeInnerType::Func(f) => Some(f.clone()),
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(reader) => {
                    if let Some(import) = reader.into_imports().next() {
                        let import = import.map_err(invalid)?;
                        return Err(Error::ForbiddenImport {
                            module: import.module.to_string(),
                            name: import.name.to_string(),
                        });
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        shape.func_types.push(ty.map_err(invalid)?);
                    }
                }
                Payload::MemorySection(reader) => {
                    for memory in reader {
                        shape.memories.push(memory.map_err(invalid)?);
                    }
                }
                Payload::TableSection(reader) => {
                    for table in reader {
                        let table = table.map_err(invalid)?;
                        if table.ty.initial > limits.max_table_elements {
                            return Err(Error::TableLimit {
                                call: "validate",
                                requested: table.ty.initial,
                                limit: limits.max_table_elements,
                            });
                        }
                    }
                }
                Payload::ExportSection(reader) => {
                    for export in reader {
                        let export = export.map_err(invalid)?;
                        shape
                            .exports
                            .push((export.name.to_string(), export.kind, export.index));
                    }
                }
                _ => {}
            }
        }
        Ok(shape)
    }

    fn export(&self, name: &str) -> Option<&(String, ExternalKind, u32)> {
        self.exports.iter().find(|(n, _, _)| n == name)
    }

    /// The module exports its memory, whose initial size is within the limit.
    fn check_memory(&self, limits: &Limits) -> Result<(), Error> {
        match self.export("memory") {
            None => Err(Error::MissingExport { name: "memory" }),
            Some((_, ExternalKind::Memory, index)) => {
                if let Some(memory) = self.memories.get(*index as usize) {
                    let bytes = memory.initial.saturating_mul(PAGE);
                    if bytes > limits.max_memory_bytes {
                        return Err(Error::MemoryLimit {
                            call: "validate",
                            requested: bytes,
                            limit: limits.max_memory_bytes,
                        });
                    }
                }
                Ok(())
            }
            Some((_, kind, _)) => Err(Error::WrongExport {
                name: "memory",
                expected: "a memory".into(),
                found: format!("a {kind:?}").to_lowercase(),
            }),
        }
    }

    /// Every function of the ABI is exported with exactly its signature.
    fn check_abi_functions(&self) -> Result<(), Error> {
        for (name, params, results) in ABI_FUNCTIONS {
            let expected = FuncType::new(params.iter().copied(), results.iter().copied());
            let found = match self.export(name) {
                None => return Err(Error::MissingExport { name }),
                Some((_, ExternalKind::Func, index)) => {
                    // Imports are refused, so function index = defined-function index.
                    let ty = self
                        .func_types
                        .get(*index as usize)
                        .and_then(|t| self.types.get(*t as usize))
                        .and_then(Option::as_ref);
                    match ty {
                        Some(ty) if *ty == expected => continue,
                        Some(ty) => describe(ty),
                        None => "a function of a non-function type".into(),
                    }
                }
                Some((_, kind, _)) => format!("a {kind:?}").to_lowercase(),
            };
            return Err(Error::WrongExport {
                name,
                expected: describe(&expected),
                found,
            });
        }
        Ok(())
    }
}
