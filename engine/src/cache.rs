//! The compiled-module cache on disk.
//!
//! # Specification
//!
//! An entry is the file `<cache_dir>/<key>.cwasm`, where `key` is the lowercase hex of
//! `blake3("agora/module-cache/v2" ‖ module hash ‖ engine fingerprint ‖ validation digest)`.
//! The fingerprint hashes wasmtime's own compatibility hash (its version, every compiler
//! setting, the target CPU features): a serialized module is only valid for exactly that, so
//! nothing else may share a key. The validation digest ([`validation_digest`]) hashes the
//! version of the validation rules, the limits, whether the NaN probe's rule applied and the
//! job ABI version the executor requires: a hit skips validation and the ABI check, so only an
//! entry checked under exactly these may be found. The file holds wasmtime's serialized
//! module, then its blake3 checksum (32 bytes). A reader checks the checksum reading the file
//! through a small buffer, then has wasmtime map the same open file: the code is used from the
//! page cache where it lies (wasmtime's serialized form keeps it page-aligned from the file's
//! start, which is why the checksum comes last), not read into a buffer and copied into
//! executable memory — two copies of a ~10 MB module and a page fault for each of their pages,
//! a quarter of a short job's CPU time (`docs/benchmarks.md`). Mapped, the file must never be
//! written in place while a process uses it (its code would change under it; a truncation is a
//! SIGBUS): this module only ever replaces an entry by a rename and removes it by an unlink, and
//! a job's initial memory is copied out of it at load (`force_memory_init_memfd`), not mapped
//! from it at every instantiation. Where mapping fails (a `noexec` mount) the checked bytes
//! are read instead. The entry is written to a temporary name
//! no other write uses (the process id and a per-process counter) and renamed, so a reader sees
//! a whole entry or none. An entry whose checksum does not match, or that wasmtime refuses, is
//! a miss: the module is compiled again and the entry replaced.
//!
//! The directory is bounded: after writing an entry, [`prune`] deletes the oldest entries (by
//! modification time, then name) until the entries left take at most
//! [`crate::Settings::cache_max_bytes`], never the entry just written. A hit does not refresh
//! its entry (the executor reads no clock), so eviction is first-in first-out: a module still
//! in use when its entry goes is compiled once more and comes back as the newest. Only files
//! named like an entry (64 hex digits, `.cwasm`) are counted or deleted, at most
//! [`CACHE_SCAN_ENTRIES`] of them per pass. The cache is best effort: a pass that cannot read or
//! delete something leaves it and the load still succeeds, an entry that cannot be written
//! leaves the load successful too (the caller hears why, `JobModule::cache_write_failure`),
//! and another process deleting an entry this one is reading is a miss, not an error.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use agora_primitives::Hash;
use wasmtime::{Engine, Module};

use crate::Error;

/// Most directory entries one pruning pass looks at: the pass is bounded even in a directory
/// someone filled with other files.
pub(crate) const CACHE_SCAN_ENTRIES: usize = 100_000;

/// Where the entry of module `hash` compiled by an engine with `fingerprint` under limits with
/// `limits_digest` lives in `dir`.
pub(crate) fn entry_path(
    dir: &Path,
    hash: &Hash,
    fingerprint: &Hash,
    limits_digest: &Hash,
) -> PathBuf {
    let key = Hash::of_parts(&[
        b"agora/module-cache/v2",
        &hash.0,
        &fingerprint.0,
        &limits_digest.0,
    ]);
    let hex = key.to_hex();
    dir.join(format!("{}.cwasm", hex.trim_start_matches("0x")))
}

/// The version of the validation rules, in the key: v2 added
/// [`crate::validate::validate_probeable`] (entries written before it were not checked for it).
const VALIDATION_RULES: &[u8] = b"agora/validation/v2";

/// What an entry was checked under before it was written, the key's validation digest: the
/// rules (their version, bumped when a rule is added), the `limits`, whether the NaN probe's
/// rule applied (`nan_probed`), and the ABI version the executor required (`abi_version`). A
/// hit skips validation and the ABI check, so an entry checked under anything else must not
/// be found — above all by another build of `agora` sharing the directory (a node's
/// `--module-cache-dir` given to a worker), or by this one after an upgrade.
pub(crate) fn validation_digest(
    limits: &crate::Limits,
    nan_probed: bool,
    abi_version: i32,
) -> Hash {
    Hash::of_parts(&[
        VALIDATION_RULES,
        format!("{limits:?}").as_bytes(),
        &[u8::from(nan_probed)],
        &abi_version.to_le_bytes(),
    ])
}

/// Bytes of the checksum at the end of an entry.
const CHECKSUM_BYTES: u64 = 32;

/// The entry at `path`, if present, intact and accepted by wasmtime.
pub(crate) fn read(engine: &Engine, path: &Path) -> Option<Module> {
    let mut file = std::fs::File::open(path).ok()?;
    let payload_bytes = file.metadata().ok()?.len().checked_sub(CHECKSUM_BYTES)?;
    let mut hasher = blake3::Hasher::new();
    let mut payload = Read::take(&mut file, payload_bytes);
    let hashed = hasher.update_reader(&mut payload).ok()?;
    let mut checksum = [0u8; CHECKSUM_BYTES as usize];
    file.read_exact(&mut checksum).ok()?;
    if hashed.finalize().as_bytes() != &checksum {
        return None;
    }
    // SAFETY: the file was written by `write` from `Module::serialize` of an engine with this
    // fingerprint (it is in the file name) and its checksum matches, so it is wasmtime's own
    // output for this configuration; wasmtime also checks its version and settings header
    // before use. The mapping is of the file just checked, by its open handle; entries are
    // only ever replaced by a rename and removed by an unlink, neither of which changes a file
    // that is open, so the bytes mapped stay the bytes checked. (Anyone who can write the cache
    // directory can run native code in this process, as they could by replacing the binary.)
    #[allow(unsafe_code)]
    let mapped = unsafe { Module::deserialize_open_file(engine, file) };
    match mapped {
        Ok(module) => Some(module),
        // A file system that cannot map it, or maps nothing executable (a `noexec` mount):
        // the checked bytes read into memory instead, as before mapping, so that such a cache
        // directory is slower rather than a miss on every load.
        Err(_) => {
            let bytes = std::fs::read(path).ok()?;
            let payload = bytes.get(..usize::try_from(payload_bytes).ok()?)?;
            let checksum_again = bytes.get(payload.len()..)?;
            if blake3::hash(payload).as_bytes() != checksum_again {
                return None;
            }
            // SAFETY: as above; these are the bytes just checked, owned by this call.
            #[allow(unsafe_code)]
            let module = unsafe { Module::deserialize(engine, payload) };
            module.ok()
        }
    }
}

/// Writes the entry of `module` at `path`, atomically (write, then rename).
pub(crate) fn write(path: &Path, module: &Module) -> Result<(), Error> {
    let cache_error = |e: &dyn std::fmt::Display| Error::Cache {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let payload = module.serialize().map_err(|e| cache_error(&e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| cache_error(&e))?;
    }
    let checksum = blake3::hash(&payload);
    let mut bytes = payload;
    bytes.extend_from_slice(checksum.as_bytes());
    // Write then rename: a reader sees the whole entry or none.
    let tmp = temporary_path(path);
    let written = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, path));
    if let Err(error) = written {
        // A name no other write uses is one nothing else would ever remove.
        let _ = std::fs::remove_file(&tmp);
        return Err(cache_error(&error));
    }
    Ok(())
}

/// A temporary name beside `path` that no other write uses: the process id and a number
/// this process never hands out twice. Two threads of one process writing the same entry
/// once shared a name, and the second rename failed the load although it had compiled.
fn temporary_path(path: &Path) -> PathBuf {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let write = WRITES.fetch_add(1, Ordering::Relaxed);
    path.with_extension(format!("tmp{}-{write}", std::process::id()))
}

/// Deletes the oldest entries beside `written` (by modification time, then name) until the
/// entries left take at most `max_bytes`; `written` itself is never deleted. Best effort: what
/// cannot be read or deleted is skipped (see the [module documentation](self)).
pub(crate) fn prune(written: &Path, max_bytes: u64) {
    let Some(dir) = written.parent() else {
        return;
    };
    let Ok(listing) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<(SystemTime, String, u64)> = Vec::new();
    for entry in listing.take(CACHE_SCAN_ENTRIES).flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !is_entry(&name) {
            continue;
        }
        let Ok(metadata) = entry.metadata() else {
            continue;
        };
        let Ok(modified) = metadata.modified() else {
            continue;
        };
        entries.push((modified, name, metadata.len()));
    }
    let mut total: u64 = entries.iter().map(|(_, _, size)| *size).sum();
    if total <= max_bytes {
        return;
    }
    entries.sort();
    let keep = written.file_name().and_then(|n| n.to_str()).unwrap_or("");
    for (_, name, size) in &entries {
        if total <= max_bytes {
            break;
        }
        if name == keep {
            continue;
        }
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => total = total.saturating_sub(*size),
            // Another process pruned it first: it no longer counts either.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                total = total.saturating_sub(*size);
            }
            Err(_) => {}
        }
    }
}

/// Whether `name` is an entry's file name: 64 lowercase hex digits and `.cwasm`.
fn is_entry(name: &str) -> bool {
    name.strip_suffix(".cwasm").is_some_and(|key| {
        key.len() == 64
            && key
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_of_the_entry_form_are_entries() {
        let key = "0123456789abcdef".repeat(4);
        assert!(is_entry(&format!("{key}.cwasm")));
        for name in [
            format!("{key}.tmp42"),
            format!("{}.cwasm", &key[1..]),
            format!("{}.cwasm", key.to_uppercase()),
            format!("{}g.cwasm", &key[1..]),
            "notes.txt".to_owned(),
            ".cwasm".to_owned(),
        ] {
            assert!(!is_entry(&name), "{name}");
        }
    }

    /// Two writes of one entry in one process (two threads compiling the same module) each
    /// have a temporary file of their own; they shared one, and the second rename failed.
    #[test]
    fn every_write_has_a_temporary_name_of_its_own() {
        let path = PathBuf::from(format!("/c/{}.cwasm", "ab".repeat(32)));
        let path = path.as_path();
        assert!(is_entry(
            path.file_name().and_then(|n| n.to_str()).unwrap_or("")
        ));
        let (first, second) = (temporary_path(path), temporary_path(path));
        assert_ne!(first, second);
        for tmp in [&first, &second] {
            assert_eq!(
                tmp.parent(),
                path.parent(),
                "beside the entry: the rename stays on one disk"
            );
            let name = tmp.file_name().and_then(|n| n.to_str()).unwrap_or("");
            assert!(!is_entry(name), "{name} is never counted as an entry");
        }
    }

    /// Each thing an entry was checked under is in its key. The ABI version was not: a build
    /// requiring another version would have run a module from a hit without checking it.
    #[test]
    fn the_validation_digest_names_the_limits_the_probe_rule_and_the_abi_version() {
        let limits = crate::Limits::default();
        let base = validation_digest(&limits, false, 1);
        let tighter = crate::Limits {
            max_memory_bytes: limits.max_memory_bytes / 2,
            ..limits.clone()
        };
        assert_ne!(validation_digest(&tighter, false, 1), base, "limits");
        assert_ne!(validation_digest(&limits, true, 1), base, "probe rule");
        assert_ne!(validation_digest(&limits, false, 2), base, "ABI version");
        assert_eq!(validation_digest(&limits, false, 1), base);
    }

    #[test]
    fn an_entry_name_is_the_hex_key() {
        let path = entry_path(
            Path::new("/c"),
            &Hash::of(b"m"),
            &Hash::of(b"f"),
            &Hash::of(b"l"),
        );
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(is_entry(name), "{name}");
        assert_ne!(
            path,
            entry_path(
                Path::new("/c"),
                &Hash::of(b"m"),
                &Hash::of(b"g"),
                &Hash::of(b"l")
            ),
            "the fingerprint is in the key"
        );
    }
}
