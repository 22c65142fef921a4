//! Files the client reads and writes: inputs named on a command line, job parameters, the
//! daemons' state written atomically, and the default directories.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use agora_primitives::AccountId;

use crate::Error;

/// Reads the file at `path`, `what` naming it in the error ("module", "dataset").
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|e| Error::file(format!("read the {what}"), path, e))
}

/// Writes `bytes` to `path` (not atomically: for results a person asked for).
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|e| Error::file("write", path, e))
}

/// Creates the directory `path` and its parents.
pub fn create_dir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path).map_err(|e| Error::file("create", path, e))
}

/// Writes `bytes` to `path` atomically (a temporary file, then a rename), creating the
/// directory first: a daemon killed mid-write leaves either the old file or the new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        create_dir(dir)?;
    }
    let tmp = temporary_path(path);
    let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        // A name no other write uses is one nothing else would ever remove.
        let _ = std::fs::remove_file(&tmp);
        Error::file("write", path, e)
    })
}

/// A temporary name beside `path` that no other write uses: `path`'s name, the process id and
/// a number this process never hands out twice. Two tasks of one daemon writing the same file
/// (a watcher's replay and a drawn check fetching one module) shared `path.tmp`, and the
/// second rename failed.
fn temporary_path(path: &Path) -> PathBuf {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let write = WRITES.fetch_add(1, Ordering::Relaxed);
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(format!(".tmp{}-{write}", std::process::id()));
    path.with_file_name(name)
}

/// Reads a JSON file the program wrote itself (a daemon's state): `None` if it does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| Error::Corrupt {
                path: path.to_owned(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::file("read", path, e)),
    }
}

/// Reads job parameters given as JSON text or `@FILE`, and checks they are a JSON object.
/// Returns the text as given (its bytes are what the job receives and the chain records).
pub fn read_params(text: &str) -> Result<Vec<u8>, Error> {
    let text = match text.strip_prefix('@') {
        Some(path) => String::from_utf8(read(Path::new(path), "params file")?)
            .map_err(|_| Error::Invalid(format!("the params file {path} is not UTF-8")))?,
        None => text.to_owned(),
    };
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::Invalid(format!("--params is not valid JSON ({e}): {text}")))?;
    if !json.is_object() {
        return Err(Error::Invalid(format!(
            "--params must be a JSON object, got {text}"
        )));
    }
    Ok(text.into_bytes())
}

/// `~/.cache/agora/<name>`: Agora's caches (compiled modules, job builds); `None` without
/// `$HOME`.
pub fn cache_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/agora").join(name))
}

/// `~/.cache/agora/modules`, the default compiled-module cache of the job engine.
pub fn default_module_cache_dir() -> Option<PathBuf> {
    cache_dir("modules")
}

/// `~/.local/share/agora/<kind>-<address>`, the default state directory of a daemon of `kind`
/// ("worker", "verifier") for account `who`.
pub fn default_state_dir(kind: &str, who: &AccountId) -> PathBuf {
    let base = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    base.join(".local/share/agora")
        .join(format!("{kind}-{who}"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn params_must_be_a_json_object() {
        assert_eq!(read_params(r#"{"epochs":5}"#).unwrap(), br#"{"epochs":5}"#);
        let error = read_params("[1]").unwrap_err().to_string();
        assert_eq!(error, "--params must be a JSON object, got [1]");
        let error = read_params("{nope").unwrap_err().to_string();
        assert!(error.starts_with("--params is not valid JSON"), "{error}");
    }

    #[test]
    fn atomic_writes_replace_the_file_and_leave_no_temporary() {
        let dir = std::env::temp_dir().join(format!("agora-files-{}", std::process::id()));
        let path = dir.join("nested/state.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![OsString::from("state.json")],
            "no temporary is left"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Two writes of one file each have a temporary of their own, beside it.
    #[test]
    fn every_atomic_write_has_a_temporary_of_its_own() {
        let path = Path::new("/state/blobs/0xab");
        let (first, second) = (temporary_path(path), temporary_path(path));
        assert_ne!(first, second);
        assert_eq!(first.parent(), path.parent());
        assert!(first
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("0xab.tmp")));
    }

    #[test]
    fn missing_files_are_named() {
        let error = read(Path::new("/nonexistent/x.wasm"), "module").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("cannot read the module /nonexistent/x.wasm: "),
            "{error}"
        );
    }
}
