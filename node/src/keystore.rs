//! The node's keystore: consensus keys waiting to take a seat, and the rule that picks the
//! one a validator runs.
//!
//! A validator rotates its consensus key in two steps, as Substrate's `author_rotateKeys` and
//! `session.setKeys` do: `agora-node key rotate` writes a new key into the keystore of the
//! node's chain directory (`<chain dir>/keystore/<public key hex>`, one SURI per file, mode
//! 0600, the rule of [`agora_primitives::secret::read_key_file`]), and the account registers
//! it on chain (`agora validator set-key --consensus-key-file <that file>`: the file signs the
//! key proof the chain requires), which takes effect from the next election's epoch.
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
//! **Keys and accounts.** A node's key seated for another account than its own means someone
//! else registered it: an old, leaked key re-registered by whoever stole it, or a keystore
//! copied from another node. So the keystore remembers the account the validator sits for
//! ([`ACCOUNT_FILE`], SS58), learned from the chain once the keystore's own keys name exactly
//! one account (the candidacy or seat that names them: `key rotate` made them on this machine
//! and printed no phrase, and the operator registers them from his account with `set-key`) —
//! never from the configured key, which may be the leaked one. Once the account is known, only
//! its seats count in the choice, and a key that signs for another account's seat is not run
//! while the node has one that signs for none: a node running one (its own seat gone, the key
//! re-registered by someone else) switches, the configured key first if it is free, as a
//! start would choose. Before (2026-12-07), keys were matched, not accounts: a node whose seat
//! was gone took up a leaked key someone else had registered — voting in the thief's seat
//! beside the thief's node. While the account is not known (no keystore key registered yet,
//! or the keystore's keys registered by several accounts), any seat counts, as before. A node
//! with no key free of another account's seat keeps voting with the taken one and says so
//! (an error in its log): retire a leaked key from `--validator-key-file` and the keystore.
//! A validator that moves to another account deletes the file.
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

use agora_primitives::AccountId;

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
    /// The remembered account file does not hold an SS58 address.
    #[error("keystore file {path} does not hold an SS58 account address: {reason} (delete it: the node learns its account again from its seat)")]
    BadAccount {
        /// The file.
        path: PathBuf,
        /// Why the text was refused.
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

/// The file in a keystore naming the account this validator sits for (SS58, one line).
pub const ACCOUNT_FILE: &str = "account";

/// The account the keystore at `dir` remembers this validator sitting for, if any.
pub fn account(dir: &Path) -> Result<Option<AccountId>, KeystoreError> {
    let path = dir.join(ACCOUNT_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            text.trim()
                .parse()
                .map(Some)
                .map_err(
                    |error: agora_primitives::ss58::Ss58Error| KeystoreError::BadAccount {
                        path,
                        reason: error.to_string(),
                    },
                )
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(KeystoreError::Io { path, error }),
    }
}

/// The account the keystore's keys belong to, learned and written to the keystore at `dir`
/// when it remembers none yet (`remembered`): the one account in `owners` (the accounts whose
/// candidacy or seat names a keystore key, [`known_account`]). Keystore keys only — `key
/// rotate` made them here and printed no phrase, and the operator registers them from his
/// account — never the configured key, which may be the leaked one a thief registered. No
/// owner, or several (a leaked old key left in the keystore and registered by someone else),
/// teaches nothing. The file is written under a temporary name, synced, renamed and the
/// directory synced. Returns the account now known.
pub fn learn_account(
    dir: &Path,
    remembered: Option<AccountId>,
    owners: &BTreeSet<AccountId>,
) -> Result<Option<AccountId>, KeystoreError> {
    use std::io::Write as _;
    if remembered.is_some() {
        return Ok(remembered);
    }
    let (Some(&owner), 1) = (owners.first(), owners.len()) else {
        return Ok(None);
    };
    let io = |error| KeystoreError::Io {
        path: dir.to_path_buf(),
        error,
    };
    let temporary = dir.join(format!(".{ACCOUNT_FILE}.tmp"));
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(format!("{owner}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(io)?;
    std::fs::rename(&temporary, dir.join(ACCOUNT_FILE)).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(io)?;
    tracing::info!(account = %owner, keystore = %dir.display(), "the keystore's keys are this account's: the keystore remembers it");
    Ok(Some(owner))
}

/// The account this validator sits for: `remembered` (the keystore's, [`account`]), else
/// learned now ([`learn_account`]) from the owners of the keystore's keys `stored` — the
/// candidacies naming them and their seats in `committees` (the caller's, so the committees
/// are read once per look). A keystore that cannot be written does not stop the node: the
/// account stays unknown (logged).
fn known_account(
    chain: &Chain,
    dir: &Path,
    remembered: Option<AccountId>,
    stored: &BTreeSet<[u8; 32]>,
    (current, next): (&[Seat], Option<&[Seat]>),
) -> Result<Option<AccountId>, KeystoreError> {
    if remembered.is_some() || stored.is_empty() {
        return Ok(remembered);
    }
    let mut owners = chain.candidates_naming(stored);
    owners.extend(
        current
            .iter()
            .chain(next.into_iter().flatten())
            .filter(|seat| stored.contains(&seat.key))
            .map(|seat| seat.account),
    );
    if owners.len() > 1 {
        tracing::warn!(?owners, keystore = %dir.display(), "the keystore's keys are registered by several accounts (a leaked key left in it?); any seat counts until one remains");
    }
    learn_account(dir, None, &owners).or_else(|error| {
        tracing::warn!(%error, "cannot remember the validator's account; any seat counts");
        Ok(None)
    })
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

/// A seat in a committee: the consensus key that signs for it and the account that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seat {
    /// The seat's consensus key.
    pub key: [u8; 32],
    /// The account whose candidacy won it.
    pub account: AccountId,
}

/// Whether `seat` is this validator's: held for `account`, or for anyone while the account is
/// not known yet.
fn ours(seat: &Seat, account: Option<&AccountId>) -> bool {
    account.is_none_or(|account| seat.account == *account)
}

/// Which of `candidates` (public keys, in order of preference) a validator of `account` runs:
/// the first with a seat of `account` in `current` (the committee of the next block to
/// finalize), else in `next` (the following epoch's, if known), else none. While the account
/// is not known, any seat counts.
pub fn choose(
    candidates: &[[u8; 32]],
    current: &[Seat],
    next: Option<&[Seat]>,
    account: Option<&AccountId>,
) -> Option<usize> {
    let sits = |committee: &[Seat]| {
        candidates.iter().position(|candidate| {
            committee
                .iter()
                .any(|seat| seat.key == *candidate && ours(seat, account))
        })
    };
    sits(current).or_else(|| next.and_then(sits))
}

/// Whether `key` signs for a seat of another account than `account` in `current` or `next`
/// (a leaked key someone else registered): a node must not vote with it. Never while the
/// account is not known.
fn taken(
    key: [u8; 32],
    current: &[Seat],
    next: Option<&[Seat]>,
    account: Option<&AccountId>,
) -> bool {
    current
        .iter()
        .chain(next.into_iter().flatten())
        .any(|seat| seat.key == key && !ours(seat, account))
}

/// The first of `configured`, then `candidates`, other than `running`, that signs for no
/// other account's seat. The configured key first: a node that steps out of a seat restarts
/// and chooses by [`starting_key`], which keeps the configured key unless it is taken, so
/// both must name the same key.
fn untaken(
    candidates: &[[u8; 32]],
    (current, next): (&[Seat], Option<&[Seat]>),
    account: Option<&AccountId>,
    configured: [u8; 32],
    running: [u8; 32],
) -> Option<[u8; 32]> {
    std::iter::once(configured)
        .chain(candidates.iter().copied())
        .find(|key| *key != running && !taken(*key, current, next, account))
}

/// The key a node configured with `configured` starts with, if not `configured`: [`choose`]'s
/// pick; with none, and `configured` signing for another account's seat, the first candidate
/// that signs for none (see the module doc, *Keys and accounts*).
pub fn starting_key(
    candidates: &[[u8; 32]],
    current: &[Seat],
    next: Option<&[Seat]>,
    account: Option<&AccountId>,
    configured: [u8; 32],
) -> Option<[u8; 32]> {
    let chosen = match choose(candidates, current, next, account) {
        Some(index) => candidates[index],
        None if taken(configured, current, next, account) => {
            untaken(candidates, (current, next), account, configured, configured)?
        }
        None => return None,
    };
    (chosen != configured).then_some(chosen)
}

/// The keystore key a validator configured with `configured` runs instead of it, with its
/// seed: [`starting_key`] on the chain's committees, the keystore's keys and the validator's
/// account ([`known_account`]).
pub fn running_key(
    configured: [u8; 32],
    keystore: &Path,
    chain: &Chain,
) -> Result<Option<([u8; 32], [u8; 32])>, KeystoreError> {
    let stored = public_keys(keystore)?;
    let (current, next) = chain.committee_seats_ahead();
    let next = next.as_deref();
    let account = known_account(
        chain,
        keystore,
        account(keystore)?,
        &stored,
        (&current, next),
    )?;
    let candidates = candidates(configured, stored);
    let seated = choose(&candidates, &current, next, account.as_ref()).is_some();
    let chosen = starting_key(&candidates, &current, next, account.as_ref(), configured);
    let running = chosen.unwrap_or(configured);
    if taken(running, &current, next, account.as_ref()) {
        tracing::error!(key = %hex::encode(running), "every key of this validator signs for another account's seat (a leaked key someone registered): it votes in that seat; retire the key");
    }
    match chosen {
        Some(chosen) => {
            if seated {
                tracing::info!(key = %hex::encode(chosen), keystore = %keystore.display(), "running the keystore's key, which the committee lists");
            } else {
                tracing::warn!(key = %hex::encode(chosen), keystore = %keystore.display(), "the configured key signs for another account's seat: running the keystore's key instead");
            }
            Ok(Some((chosen, load(keystore, chosen)?)))
        }
        None if !seated => {
            tracing::info!(key = %hex::encode(configured), "the validator key is in no committee; it votes once elected");
            Ok(None)
        }
        None => Ok(None),
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

/// The key a validator of `account` running `running` should run now, if another: none
/// while `current` (the committee of the next block) lists `running` for `account`; else
/// [`choose`]'s pick; with none, and `running` signing for another account's seat, the first
/// key that signs for none ([`untaken`]); else none (no seat: it keeps what it runs).
pub fn successor(
    candidates: &[[u8; 32]],
    (current, next): (&[Seat], Option<&[Seat]>),
    account: Option<&AccountId>,
    configured: [u8; 32],
    running: [u8; 32],
) -> Option<[u8; 32]> {
    if current
        .iter()
        .any(|seat| seat.key == running && ours(seat, account))
    {
        return None;
    }
    match choose(candidates, current, next, account) {
        Some(index) => Some(candidates[index]).filter(|chosen| *chosen != running),
        None if taken(running, current, next, account) => {
            untaken(candidates, (current, next), account, configured, running)
        }
        None => None,
    }
}

/// What a running validator does at a finalized block ([`successor_on_chain`]).
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// Keep the running key.
    Keep,
    /// Keep it, though it signs for another account's seat and no key of the node signs for
    /// none: logged, once.
    KeepTaken,
    /// Switch to this key.
    Switch([u8; 32]),
}

/// [`successor`] on the chain's committees, the keystore's keys and the validator's account
/// ([`known_account`]), the chosen key's file read (and so checked) before it is named.
fn successor_on_chain(
    chain: &Chain,
    keystore: &Path,
    configured: [u8; 32],
    running: [u8; 32],
) -> Result<Next, KeystoreError> {
    let (current, next) = chain.committee_seats_ahead();
    let sits = |account: Option<&AccountId>| {
        current
            .iter()
            .any(|seat| seat.key == running && ours(seat, account))
    };
    // The common case, a remembered account and its seat, without listing the keystore.
    let remembered = account(keystore)?;
    if remembered.is_some() && sits(remembered.as_ref()) {
        return Ok(Next::Keep);
    }
    let stored = public_keys(keystore)?;
    let seats = (current.as_slice(), next.as_deref());
    let account = known_account(chain, keystore, remembered, &stored, seats)?;
    let candidates = candidates(configured, stored);
    match successor(&candidates, seats, account.as_ref(), configured, running) {
        Some(chosen) => {
            if chosen != configured {
                load(keystore, chosen)?;
            }
            Ok(Next::Switch(chosen))
        }
        None if taken(running, seats.0, seats.1, account.as_ref()) => Ok(Next::KeepTaken),
        None => Ok(Next::Keep),
    }
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
    let mut reported_taken = false;
    loop {
        match successor_on_chain(&chain, &keystore, configured, running) {
            Ok(Next::Switch(next)) => return next,
            Ok(Next::Keep) => reported_taken = false,
            Ok(Next::KeepTaken) => {
                if !reported_taken {
                    tracing::error!(running = %hex::encode(running), "the running key signs for another account's seat (a leaked key someone registered) and no key of this validator signs for none: it votes in that seat; retire the key");
                    reported_taken = true;
                }
            }
            Err(error) => {
                let error = error.to_string();
                if reported.as_ref() != Some(&error) {
                    tracing::error!(%error, running = %hex::encode(running), "the keystore (a key the committee lists, or the remembered account) cannot be read; the node keeps its key");
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
mod tests;
