//! The node's keystore: consensus keys waiting to take a seat, and the rule that picks the
//! one a validator runs.
//!
//! A validator rotates its consensus key in two steps, as Substrate's `author_rotateKeys` and
//! `session.setKeys` do: `agora-node key rotate` writes a new key into the keystore of the
//! node's chain directory (`<chain dir>/keystore/<public key hex>`, one SURI per file, mode
//! 0600, the rule of [`agora_primitives::secret::read_key_file`]), and the account registers
//! it on chain (`agora validator set-key`), which takes effect from the next election's epoch.
//!
//! **Which key runs.** The candidates are the keystore's keys, in the order of their public
//! keys, then the configured key (`--validator-key`, `--validator-key-file`, or `--dev`'s
//! //Alice). [`choose`] takes the first candidate in the committee of the epoch of the next
//! block to finalize; failing that, the first in the next epoch's committee, once the chain
//! knows it; failing both, none (a key in no committee: the node follows the chain). So the
//! old key keeps voting until the last block of its epoch is final, and the new one from the
//! first block of its own. A running key stays while the current committee lists it, and a
//! node whose keys sit in no committee keeps the one it runs ([`key_change`]): it never
//! restarts to change nothing. Only the chosen key's file is read.
//!
//! Two of a node's keys in one committee means someone else registered one of them: an old,
//! leaked key re-registered by whoever stole it, or a keystore copied from another node. A
//! running node keeps its key while it has a seat; a starting one prefers the keystore's
//! (rotation puts the new key there). Keys are matched, not accounts: a node whose own seat is
//! gone (it left, or lost an election) takes up a leaked key someone else registered and
//! collides with its holder. Retire a leaked key from `--validator-key-file` and the keystore.
//!
//! **Switching.** A validator's consensus key is also its p2p identity, and the network
//! cannot change its identity while it runs. When the chosen key changes (the node checks at
//! every finalized block), the node shuts down as it would on `SIGTERM` and executes itself
//! again with the same arguments and process id; on start it chooses the new key by the same
//! rule. The restart costs a validator's seat a few seconds at the first block of the epoch
//! (measured in the end-to-end test that drives it), which a committee of four absorbs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sp_core::{ed25519, Pair as _};

use crate::chain::{Chain, ChainEvent};

/// Most keys a keystore may hold: a rotation adds one, and an operator removes a key once it
/// has left every committee. More means keys were never cleaned up (or the directory is not a
/// keystore); the node refuses rather than read without bound.
pub const MAX_KEYS: usize = 64;

/// A keystore that cannot be read or written: the path, and why.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// The directory cannot be listed, created or written.
    #[error("keystore {path}: {error}")]
    Io {
        /// The keystore directory.
        path: PathBuf,
        /// What the system said.
        error: std::io::Error,
    },
    /// A key file is unsafe or unreadable.
    #[error(transparent)]
    KeyFile(#[from] agora_primitives::secret::KeyFileError),
    /// A key file's SURI is not a key.
    #[error("keystore file {path}: its SURI is not an ed25519 key: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// Why the SURI was refused.
        reason: String,
    },
    /// A key file holds another key than its name.
    #[error("keystore file {path} holds key 0x{holds}, not the key its name says")]
    Misnamed {
        /// The file.
        path: PathBuf,
        /// The public key it holds, in hex.
        holds: String,
    },
    /// A full node's p2p key file cannot be read or written.
    #[error("node key file {path}: {reason}")]
    NodeKey {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// More than [`MAX_KEYS`] files are named as keys.
    #[error("keystore {path} holds more than {MAX_KEYS} keys: remove the ones no committee lists")]
    TooMany {
        /// The keystore directory.
        path: PathBuf,
    },
}

/// The keystore directory of a chain directory.
pub fn dir(chain_dir: &Path) -> PathBuf {
    chain_dir.join("keystore")
}

/// A new consensus key written into the keystore at `dir` (created, mode 0700): its pair and
/// its secret phrase. The file is written under a temporary name, renamed and the directory
/// synced, so a reader never sees half a key and a crash does not lose a key once printed. A
/// keystore already holding [`MAX_KEYS`] keys is refused before anything is written.
pub fn generate(dir: &Path) -> Result<(ed25519::Pair, String), KeystoreError> {
    use std::os::unix::fs::DirBuilderExt as _;
    let io = |error| KeystoreError::Io {
        path: dir.to_path_buf(),
        error,
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io)?;
    if public_keys(dir)?.len() >= MAX_KEYS {
        return Err(KeystoreError::TooMany {
            path: dir.to_path_buf(),
        });
    }
    let (pair, phrase, _) = ed25519::Pair::generate_with_phrase(None);
    let name = hex::encode(pair.public().0);
    let temporary = dir.join(format!(".{name}.tmp"));
    // A temporary left by a crash is ours to replace: the key in it was never printed.
    let _ = std::fs::remove_file(&temporary);
    agora_primitives::secret::write_key_file(&temporary, &phrase)?;
    std::fs::rename(&temporary, dir.join(&name)).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io)?;
    Ok((pair, phrase))
}

/// What [`purge`] removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged {
    /// There was no chain directory.
    Nothing,
    /// The whole chain directory.
    All,
    /// Everything in it but its keystore.
    KeptKeystore,
}

/// Removes the chain directory `dir` (`purge-chain`) — all but its keystore, whose keys exist
/// nowhere else (`key rotate` prints no phrase). Links are removed, not followed. The error
/// names the path that could not be removed.
pub fn purge(dir: &Path) -> Result<Purged, (PathBuf, std::io::Error)> {
    let keystore = self::dir(dir);
    let failed = |path: &Path| {
        let path = path.to_path_buf();
        move |error| (path, error)
    };
    if !keystore.is_dir() {
        return match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(Purged::All),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Purged::Nothing),
            Err(error) => Err((dir.to_path_buf(), error)),
        };
    }
    for entry in std::fs::read_dir(dir).map_err(failed(dir))? {
        let path = entry.map_err(failed(dir))?.path();
        if path == keystore {
            continue;
        }
        let removed = match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
        removed.map_err(failed(&path))?;
    }
    Ok(Purged::KeptKeystore)
}

/// The public keys the keystore at `dir` names, in order (none if it does not exist): the
/// files named by 64 lowercase hex digits; others (temporaries, notes) are skipped. Only
/// names are read: cheap enough to look at every block.
pub fn public_keys(dir: &Path) -> Result<BTreeSet<[u8; 32]>, KeystoreError> {
    let io = |error| KeystoreError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(error) => return Err(io(error)),
    };
    let mut keys = BTreeSet::new();
    for entry in entries {
        let name = entry.map_err(io)?.file_name();
        let Some(public) = name.to_str().and_then(public_of_name) else {
            continue;
        };
        if keys.len() == MAX_KEYS {
            return Err(KeystoreError::TooMany {
                path: dir.to_path_buf(),
            });
        }
        keys.insert(public);
    }
    Ok(keys)
}

/// The seed of key `public` in the keystore at `dir`. A key file that is unsafe (see
/// [`agora_primitives::secret::read_key_file`]), unparsable, or holds another key than its
/// name is an error naming it.
pub fn load(dir: &Path, public: [u8; 32]) -> Result<[u8; 32], KeystoreError> {
    let path = dir.join(hex::encode(public));
    let suri = agora_primitives::secret::read_key_file(&path)?;
    let pair = ed25519::Pair::from_string(&suri, None).map_err(|error| KeystoreError::BadKey {
        path: path.clone(),
        reason: format!("{error:?}"),
    })?;
    if pair.public().0 != public {
        return Err(KeystoreError::Misnamed {
            path,
            holds: hex::encode(pair.public().0),
        });
    }
    Ok(pair.seed())
}

/// The public key a keystore file name spells: 64 lowercase hex digits.
fn public_of_name(name: &str) -> Option<[u8; 32]> {
    if name.len() != 64 || name.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    hex::decode(name).ok()?.try_into().ok()
}

/// A full node's p2p key seed from `path` (hex), generated and written (mode 0600) on first use.
pub fn node_key(path: &Path) -> Result<[u8; 32], KeystoreError> {
    let fail = |reason: String| KeystoreError::NodeKey {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read_to_string(path) {
        Ok(text) => agora_primitives::Hash::from_hex(text.trim())
            .map(|hash| hash.0)
            .map_err(|_| fail("not 32 hex-encoded bytes".to_owned())),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let (pair, _) = ed25519::Pair::generate();
            let seed = pair.seed();
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
            }
            // A new 0600 file, never one that exists, synced: the key files' one writer.
            agora_primitives::secret::write_key_file(path, &format!("0x{}", hex::encode(seed)))
                .map_err(|e| fail(e.reason))?;
            Ok(seed)
        }
        Err(error) => Err(fail(error.to_string())),
    }
}

/// Which of `candidates` (public keys, in order of preference) a validator runs: the first in
/// `current` (the committee of the next block to finalize), else the first in `next` (the
/// following epoch's, if known), else none.
pub fn choose(
    candidates: &[[u8; 32]],
    current: &[[u8; 32]],
    next: Option<&[[u8; 32]]>,
) -> Option<usize> {
    let sits = |committee: &[[u8; 32]]| {
        candidates
            .iter()
            .position(|candidate| committee.contains(candidate))
    };
    sits(current).or_else(|| next.and_then(sits))
}

/// The keystore key a validator configured with `configured` runs instead of it, with its
/// seed: the one [`choose`] picks among the keystore's keys and `configured` by the chain's
/// committees, if that is not `configured`.
pub fn running_key(
    configured: [u8; 32],
    keystore: &Path,
    chain: &Chain,
) -> Result<Option<([u8; 32], [u8; 32])>, KeystoreError> {
    let candidates = candidates(configured, public_keys(keystore)?);
    let (current, next) = chain.committee_keys_ahead();
    let chosen = choose(&candidates, &current, next.as_deref()).map(|index| candidates[index]);
    match chosen {
        Some(chosen) if chosen != configured => {
            tracing::info!(key = %hex::encode(chosen), keystore = %keystore.display(), "running the keystore's key, which the committee lists");
            Ok(Some((chosen, load(keystore, chosen)?)))
        }
        Some(_) => Ok(None),
        None => {
            tracing::info!(key = %hex::encode(configured), "the validator key is in no committee; it votes once elected");
            Ok(None)
        }
    }
}

/// A validator's keys other than `running`: `configured` and the keystore's (each is at the
/// node's own address unless `--peer` says otherwise).
pub fn other_keys(
    keystore: &Path,
    configured: [u8; 32],
    running: [u8; 32],
) -> Result<Vec<[u8; 32]>, KeystoreError> {
    Ok(std::iter::once(configured)
        .chain(public_keys(keystore)?)
        .filter(|key| *key != running)
        .collect())
}

/// The keys a validator chooses among: the keystore's, then the configured one.
fn candidates(configured: [u8; 32], stored: BTreeSet<[u8; 32]>) -> Vec<[u8; 32]> {
    stored
        .into_iter()
        .filter(|key| *key != configured)
        .chain(std::iter::once(configured))
        .collect()
}

/// The key a validator running `running` should run now, if another: none while `current`
/// (the committee of the next block) lists `running`, or while no committee lists any of
/// `candidates`; else [`choose`]'s pick.
pub fn successor(
    candidates: &[[u8; 32]],
    current: &[[u8; 32]],
    next: Option<&[[u8; 32]]>,
    running: [u8; 32],
) -> Option<[u8; 32]> {
    if current.contains(&running) {
        return None;
    }
    let chosen = candidates[choose(candidates, current, next)?];
    (chosen != running).then_some(chosen)
}

/// [`successor`] on the chain's committees and the keystore's keys, the chosen key's file
/// read (and so checked) before it is named.
fn successor_on_chain(
    chain: &Chain,
    keystore: &Path,
    configured: [u8; 32],
    running: [u8; 32],
) -> Result<Option<[u8; 32]>, KeystoreError> {
    let (current, next) = chain.committee_keys_ahead();
    if current.contains(&running) {
        return Ok(None);
    }
    let candidates = candidates(configured, public_keys(keystore)?);
    let chosen = successor(&candidates, &current, next.as_deref(), running);
    if let Some(chosen) = chosen.filter(|chosen| *chosen != configured) {
        load(keystore, chosen)?;
    }
    Ok(chosen)
}

/// Resolves to another of a validator's keys once the committee lists it instead of
/// `running` ([`successor`]), looked for now and at every finalized block `events` (taken
/// before the node chose `running`, so that no block finalized meanwhile is missed) brings.
/// A keystore whose chosen key cannot be read keeps the running key, with an error logged
/// once per distinct error: the operator must fix the file, and the node then switches at the
/// next finalized block.
pub async fn key_change(
    chain: Chain,
    mut events: tokio::sync::broadcast::Receiver<ChainEvent>,
    keystore: PathBuf,
    configured: [u8; 32],
    running: [u8; 32],
) -> [u8; 32] {
    use tokio::sync::broadcast::error::RecvError;
    let mut reported = None;
    loop {
        match successor_on_chain(&chain, &keystore, configured, running) {
            Ok(Some(next)) => return next,
            Ok(None) => {}
            Err(error) => {
                let error = error.to_string();
                if reported.as_ref() != Some(&error) {
                    tracing::error!(%error, running = %hex::encode(running), "the committee lists another key of this validator, which cannot be read; it keeps its key");
                    reported = Some(error);
                }
            }
        }
        loop {
            match events.recv().await {
                Ok(ChainEvent::Finalized { .. }) | Err(RecvError::Lagged(_)) => break,
                Ok(_) => {}
                Err(RecvError::Closed) => std::future::pending::<()>().await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_old_key_runs_until_its_epoch_ends_and_the_new_one_from_its_own() {
        let (configured, rotated, other) = ([1; 32], [2; 32], [9; 32]);
        let candidates = candidates(configured, BTreeSet::from([rotated]));
        assert_eq!(candidates, [rotated, configured], "the keystore's first");
        // Elected mid-epoch: the old key still sits in the current committee.
        assert_eq!(
            choose(&candidates, &[configured, other], Some(&[rotated, other])),
            Some(1)
        );
        // The epoch of the new key is the next block's: switch.
        assert_eq!(
            choose(&candidates, &[rotated, other], Some(&[rotated, other])),
            Some(0)
        );
        // A node restarted between the old key's last epoch and the new one's election.
        assert_eq!(choose(&candidates, &[other], Some(&[rotated])), Some(0));
        // In no committee at all (a joiner before its election, a leaver): none.
        assert_eq!(choose(&candidates, &[other], None), None);
        assert_eq!(choose(&candidates, &[other], Some(&[other])), None);
        // The current committee wins over the next.
        assert_eq!(
            choose(&candidates, &[configured], Some(&[rotated])),
            Some(1)
        );
        // A leaked configured key re-registered by someone else beside the rotated one: a
        // starting node takes the rotated key.
        assert_eq!(choose(&candidates, &[configured, rotated], None), Some(0));
    }

    #[test]
    fn a_running_key_stays_while_its_committee_lists_it_and_no_seat_changes_nothing() {
        let (configured, rotated, other) = ([1; 32], [2; 32], [9; 32]);
        let candidates = candidates(configured, BTreeSet::from([rotated]));
        // Elected for the next epoch: the running old key keeps its seat until then.
        assert_eq!(
            successor(&candidates, &[configured], Some(&[rotated]), configured),
            None
        );
        // Its epoch ended: the new key.
        assert_eq!(
            successor(&candidates, &[rotated], None, configured),
            Some(rotated)
        );
        // Running the configured key while someone else sits with the rotated one beside it:
        // the node keeps its seat rather than move into the other.
        assert_eq!(
            successor(&candidates, &[configured, rotated], None, configured),
            None
        );
        // In no committee (left, or not elected): it keeps what it runs, no restart.
        assert_eq!(successor(&candidates, &[other], None, rotated), None);
        assert_eq!(
            successor(&candidates, &[other], Some(&[other]), configured),
            None
        );
        // Out of the current committee but elected for the next under the other key.
        assert_eq!(
            successor(&candidates, &[other], Some(&[configured]), rotated),
            Some(configured)
        );
    }

    #[test]
    fn a_generated_key_is_read_back_and_strays_are_skipped_or_named() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let dir = dir(root.path());
        assert!(
            public_keys(&dir).unwrap().is_empty(),
            "no keystore, no keys"
        );
        let (pair, phrase) = generate(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert_eq!(
            public_keys(&dir).unwrap(),
            BTreeSet::from([pair.public().0])
        );
        assert_eq!(load(&dir, pair.public().0).unwrap(), pair.seed());
        assert_eq!(
            ed25519::Pair::from_string(&phrase, None).unwrap().public(),
            pair.public()
        );
        // Not a key's name: skipped.
        std::fs::write(dir.join("README"), "notes").unwrap();
        std::fs::write(dir.join(".abc.tmp"), "half").unwrap();
        assert_eq!(public_keys(&dir).unwrap().len(), 1);
        // A key under another key's name: named.
        let stray = dir.join(hex::encode([7u8; 32]));
        agora_primitives::secret::write_key_file(&stray, "//Bob").unwrap();
        let error = load(&dir, [7; 32]).unwrap_err().to_string();
        assert!(
            error.contains(&stray.display().to_string()) && error.contains("not the key"),
            "{error}"
        );
        std::fs::remove_file(&stray).unwrap();
        // A key others can read: refused, naming the file.
        let (other, _) = generate(&dir).unwrap();
        let path = dir.join(hex::encode(other.public().0));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = load(&dir, other.public().0).unwrap_err().to_string();
        assert!(
            error.contains(&path.display().to_string()) && error.contains("chmod 600"),
            "{error}"
        );
    }

    #[test]
    fn a_keystore_past_its_bound_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = dir(root.path());
        for _ in 0..MAX_KEYS {
            generate(&dir).unwrap();
        }
        let Err(error) = generate(&dir) else {
            panic!("a key past the bound was written")
        };
        assert!(matches!(error, KeystoreError::TooMany { .. }), "{error}");
        assert_eq!(
            public_keys(&dir).unwrap().len(),
            MAX_KEYS,
            "nothing written"
        );
        // Keys put there by hand past the bound: listing them is refused.
        std::fs::write(dir.join(hex::encode([5u8; 32])), "").unwrap();
        let error = public_keys(&dir).unwrap_err();
        assert!(matches!(error, KeystoreError::TooMany { .. }), "{error}");
    }
}
