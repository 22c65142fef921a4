//! The double-sign guard: a validator does not vote while another node signs with its key.
//!
//! # Specification
//!
//! The [`SigningRecord`] is a file (`Config::signing_record`) holding the highest round
//! (epoch, view) this validator may have voted in. It is written, and synced, *before* the
//! validator answers the engine for a round: before a proposal is handed over
//! ([`Chain::propose`](super::Chain::propose)), before a verdict on a proposal (notarize
//! votes follow it) and before a certification (finalize votes follow it). So no vote of this
//! validator is ever newer than its record, and a restart on the same data finds a record at
//! least as new as every vote it cast.
//!
//! **At start** the chain's last finalization certificate is checked: if it carries this
//! validator's signature for a round newer than the record, the key signed something this
//! node's record (and so its journal) does not know — its consensus data was lost or is an
//! old copy, or another node holds the key — and consensus refuses to start
//! ([`Error::DoubleSign`](super::Error::DoubleSign)).
//!
//! A certificate that verifies and carries this validator's signature for a round newer than
//! the record was at start, and older than the lowest round this process answered for (not
//! the first: the engine may certify an older round after verifying a newer one), was therefore
//! signed by *another* node holding the key (a second machine, or this one restarted on an old
//! copy of its data or without it). The follower checks every certificate it gets; on such a
//! certificate the guard is *tripped*: the orchestrator stops this validator's engine and
//! consensus stops with [`Error::DoubleSign`](super::Error::DoubleSign). To give peers the
//! chance to show such a certificate before this node signs anything, the first engine of a
//! process starts only after [`STARTUP_GRACE_INTERVALS`] sync intervals. (Rounds from the first
//! one this process noted on may carry its own signatures, so certificates of those rounds
//! prove nothing here; two nodes voting in the same rounds are caught as equivocation.)
//!
//! Without a record (`Config::signing_record` is `None`, as in most protocol tests) there is
//! no guard.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Sync intervals the first engine of a process waits for peers to show a newer signature.
pub const STARTUP_GRACE_INTERVALS: u32 = 3;

/// A round: (epoch, view).
pub type Round = (u64, u64);

/// The highest round this validator may have voted in, on disk (see the
/// [module documentation](self)).
#[derive(Debug)]
pub struct SigningRecord {
    path: PathBuf,
    /// The record when this process opened it.
    start: Round,
    high: Mutex<Round>,
    /// The lowest round this process answered for (noted or not: see [`SigningRecord::note`]).
    lowest_answered: Mutex<Option<Round>>,
    tripped: Mutex<Option<Round>>,
}

impl SigningRecord {
    /// Opens (or starts, at round (0, 0)) the record at `path`.
    pub fn open(path: &Path) -> std::io::Result<SigningRecord> {
        let stored = match std::fs::read(path) {
            Ok(bytes) => decode(&bytes).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a signing record", path.display()),
                )
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => (0, 0),
            Err(error) => return Err(error),
        };
        let start = stored;
        Ok(SigningRecord {
            path: path.to_path_buf(),
            start,
            high: Mutex::new(start),
            lowest_answered: Mutex::new(None),
            tripped: Mutex::new(None),
        })
    }

    /// The highest round recorded.
    pub fn high(&self) -> Round {
        *self
            .high
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that this validator may vote in `round`; durable when it returns `Ok`.
    pub fn note(&self, round: Round) -> std::io::Result<()> {
        let mut high = self
            .high
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The lowest round this process answered for, whether or not it raises the record:
        // the engine may certify an older round after verifying a newer one.
        let mut lowest = self
            .lowest_answered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *lowest = Some(lowest.map_or(round, |lowest| lowest.min(round)));
        drop(lowest);
        if round <= *high {
            return Ok(());
        }
        // Write a new file and rename it over the old: the record is never torn.
        let temporary = self.path.with_extension("new");
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(&encode(round))?;
        file.sync_all()?;
        std::fs::rename(&temporary, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        *high = round;
        Ok(())
    }

    /// Whether a certificate of `round` carrying this validator's signature proves another
    /// signer: newer than the record at start, older than the lowest round this process
    /// answered for.
    pub fn proves_another_signer(&self, round: Round) -> bool {
        let first = *self
            .lowest_answered
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        round > self.start && first.is_none_or(|first| round < first)
    }

    /// A certificate of `round` carries this validator's signature: trips the guard if that
    /// proves another signer ([`SigningRecord::proves_another_signer`]). Returns whether it
    /// tripped.
    pub fn signed_elsewhere(&self, round: Round) -> bool {
        if !self.proves_another_signer(round) {
            return false;
        }
        let mut tripped = self
            .tripped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        tripped.get_or_insert(round);
        true
    }

    /// The round of the first certificate that tripped the guard, if any.
    pub fn tripped(&self) -> Option<Round> {
        *self
            .tripped
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn encode((epoch, view): Round) -> [u8; 16] {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&epoch.to_le_bytes());
    bytes[8..].copy_from_slice(&view.to_le_bytes());
    bytes
}

pub(super) fn decode(bytes: &[u8]) -> Option<Round> {
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    let epoch = u64::from_le_bytes(bytes[..8].try_into().ok()?);
    let view = u64::from_le_bytes(bytes[8..].try_into().ok()?);
    Some((epoch, view))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_record_survives_reopening_and_only_rises() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed_through");
        let record = SigningRecord::open(&path).unwrap();
        assert_eq!(record.high(), (0, 0));
        record.note((0, 5)).unwrap();
        record.note((0, 3)).unwrap();
        assert_eq!(record.high(), (0, 5));
        drop(record);
        assert_eq!(SigningRecord::open(&path).unwrap().high(), (0, 5));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(SigningRecord::open(&path).is_err());
    }

    #[test]
    fn only_a_signature_between_the_record_and_this_processs_first_vote_trips_the_guard() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed_through");
        SigningRecord::open(&path).unwrap().note((0, 9)).unwrap();
        let record = SigningRecord::open(&path).unwrap();
        record.note((0, 20)).unwrap();
        record.note((0, 25)).unwrap();
        // At or below the record at start: this node's own older signatures.
        assert!(!record.signed_elsewhere((0, 9)));
        // From this process's first vote on: possibly its own.
        assert!(!record.signed_elsewhere((0, 20)));
        assert!(!record.signed_elsewhere((0, 30)));
        assert_eq!(record.tripped(), None);
        // In between: signed while this process had not voted and its record knew nothing.
        assert!(record.signed_elsewhere((0, 12)));
        assert!(record.signed_elsewhere((0, 15)));
        assert_eq!(record.tripped(), Some((0, 12)), "the first proof is kept");
    }

    /// Found by the whole-node simulation (`crash_restart`, seeds 314 and 490): a restarted
    /// validator verified a proposal of view 9 first, then certified the older view 7 and
    /// signed its finalize vote; the certificate of view 7 then carried its own signature
    /// from a round below the first one it noted, and the guard stopped an honest node.
    #[test]
    fn a_round_answered_after_a_newer_one_is_this_processs_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signed_through");
        SigningRecord::open(&path).unwrap().note((0, 5)).unwrap();
        let record = SigningRecord::open(&path).unwrap();
        record.note((0, 9)).unwrap();
        record.note((0, 7)).unwrap();
        assert!(
            !record.signed_elsewhere((0, 7)),
            "it answered for view 7 itself"
        );
        assert!(
            record.signed_elsewhere((0, 6)),
            "view 6 it never answered for"
        );
        assert_eq!(record.high(), (0, 9), "the record only rises");
    }
}
