//! Secrets given to the programs: SURIs in key files, and SURIs in error messages.
//!
//! A key given as a command-line argument is visible to every user of the machine (`ps`) and
//! kept in the shell's history, so every program that signs also takes a **key file**: one
//! SURI in a regular file readable and writable by its owner only, the rule Substrate's
//! keystore and OpenSSH apply ([`read_key_file`]). And no error message echoes a secret: a
//! mnemonic is shown as `<12-word phrase>`, a long hex seed by its length, a password as `***`
//! ([`redact_suri`]).

use std::path::Path;

/// A key file that cannot be used: the file, and why (with what to do).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key file {path}: {reason}")]
pub struct KeyFileError {
    /// The file.
    pub path: String,
    /// Why it cannot be used.
    pub reason: String,
}

/// Most bytes a key file may hold (a 24-word phrase with a derivation path is ~250).
const MAX_KEY_FILE: u64 = 4096;

/// The SURI stored in a key file: a regular file, at most [`MAX_KEY_FILE`] bytes, readable and
/// writable by its owner only (mode `0600` or stricter, the rule Substrate's keystore and
/// OpenSSH apply), holding one SURI (a mnemonic, a `0x` seed or a dev path) and optional
/// surrounding whitespace. A key in a file stays out of `ps` and the shell's history, where a
/// `--key SURI` argument is visible to every user of the machine.
pub fn read_key_file(path: &Path) -> Result<String, KeyFileError> {
    use std::os::unix::fs::PermissionsExt;
    let error = |reason: String| KeyFileError {
        path: path.display().to_string(),
        reason,
    };
    // `symlink_metadata`: a link is refused rather than followed to a file of other rules.
    let metadata = std::fs::symlink_metadata(path).map_err(|e| error(e.to_string()))?;
    if !metadata.is_file() {
        return Err(error("is not a regular file".into()));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(error(format!(
            "is readable or writable by other users (mode {mode:04o}); run chmod 600 {}",
            path.display()
        )));
    }
    if metadata.len() > MAX_KEY_FILE {
        return Err(error(format!(
            "holds {} bytes; a key file holds one SURI (at most {MAX_KEY_FILE} bytes)",
            metadata.len()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| error(e.to_string()))?;
    let suri = text.trim();
    if suri.is_empty() {
        return Err(error("is empty; it must hold one SURI".into()));
    }
    Ok(suri.to_owned())
}

/// The SURI a program was given: from `file` ([`read_key_file`]) if one was named, else the
/// `argument` as typed (a dev SURI), else none. Every `--key`/`--key-file`-style pair of
/// options resolves through this, so a file always wins the same way.
pub fn suri_from(
    argument: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<String>, KeyFileError> {
    match file {
        Some(path) => read_key_file(path).map(Some),
        None => Ok(argument.map(str::to_owned)),
    }
}

/// Write `suri` to a new key file readable and writable by its owner only; an existing file is
/// never overwritten.
pub fn write_key_file(path: &Path, suri: &str) -> Result<(), KeyFileError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |e: std::io::Error| KeyFileError {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(error)?;
    file.write_all(format!("{suri}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(error)
}

/// Splits a SURI into (phrase or seed, derivation path, has password), like sp-core's parser:
/// the phrase ends at the first '/', the password starts at the first "///".
pub fn split_suri(suri: &str) -> (&str, &str, bool) {
    let (phrase, rest) = suri.split_at(suri.find('/').unwrap_or(suri.len()));
    match rest.find("///") {
        Some(at) => (phrase, rest.get(..at).unwrap_or(rest), true),
        None => (phrase, rest, false),
    }
}

/// Hex seeds longer than this many digits are not echoed in error messages.
const MAX_SHOWN_HEX_DIGITS: usize = 16;

/// Renders `suri` for an error message without its secrets.
pub fn redact_suri(suri: &str) -> String {
    let (phrase, path, has_password) = split_suri(suri);
    let words = phrase.split_whitespace().count();
    let phrase_shown = if words > 1 {
        format!("<{words}-word phrase>")
    } else if let Some(digits) = phrase.strip_prefix("0x") {
        if digits.len() > MAX_SHOWN_HEX_DIGITS {
            format!("0x<{} hex digits>", digits.len())
        } else {
            phrase.to_owned()
        }
    } else {
        phrase.to_owned()
    };
    let password = if has_password { "///***" } else { "" };
    format!("{phrase_shown}{path}{password}")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_key_file_round_trips_and_loose_permissions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("worker.key");
        write_key_file(&path, "//Dave").unwrap();
        assert_eq!(read_key_file(&path).unwrap(), "//Dave");
        // Never overwritten.
        assert!(write_key_file(&path, "//Eve").is_err());
        assert_eq!(read_key_file(&path).unwrap(), "//Dave");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = read_key_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("mode 0644") && error.contains("chmod 600"),
            "{error}"
        );
        let missing = read_key_file(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("none"), "{missing}");
        let empty = dir.path().join("empty.key");
        write_key_file(&empty, "  ").unwrap();
        assert!(read_key_file(&empty)
            .unwrap_err()
            .to_string()
            .contains("is empty"));
        let link = dir.path().join("link.key");
        std::os::unix::fs::symlink(&empty, &link).unwrap();
        assert!(read_key_file(&link)
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
    }
}
