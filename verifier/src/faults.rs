//! Fault injection for tests (cargo feature `faults`; a build without it has none of this).
//!
//! `agora verifier run … --fault KIND` makes this verifier cheat, so that end-to-end tests can
//! show that the cheat loses its bond:
//!
//! - `lazy`: attests a made-up leaf (and, for the last segment, a made-up model) without
//!   re-executing anything, and does not answer in the dispute its mismatch opens.
//! - `copy`: attests with another verifier's commitment to the same job instead of computing
//!   its own (waiting for one to appear); it cannot open it (the salt is the other's), so its
//!   reveal is `Wrong`.
//! - `false-challenge`: replays every job like `--watch-all` and challenges the last leaf of
//!   each one it did not work itself, whether or not its replay agrees; it then answers the
//!   dispute truthfully, and loses it whenever the worker was honest.
//! - `arm-nans`: not a cheat but a stand-in for an honest verifier on aarch64, for tests on an
//!   x86-64 machine: it re-executes with NaN canonicalization on, so every NaN a float
//!   operation produces has aarch64's bits (`0x7FC00000` for `0/0`, where x86-64 gives
//!   `0xFFC00000`; `docs/nan-determinism.md`). With an SDK job nothing changes; with a buyer's
//!   module that stores NaN bits its leaves differ from an x86-64 worker's, as a real aarch64
//!   verifier's would.
//! - `small-stack`: not a cheat either, a stand-in for an honest verifier whose native frames
//!   are larger than the worker's (another architecture or compiler): it re-executes with three
//!   quarters of the engine's native stack, so a buyer's module that recurses near the limit
//!   overflows here where the worker's run fits, as it could on such a machine.
//! - `miss-segment=S`: re-executes as an honest verifier does but never sends its attestation
//!   of segment `S`'s check, which is decided missed (its run bond forfeited); the rest of the
//!   run it attests, reveals and disputes honestly. A stand-in for a verifier whose one
//!   attestation did not land, to show that a mismatch after the missed check is disputed
//!   from the last leaf it vouched for.

use std::str::FromStr;

use agora_client::files::write_atomic;
use agora_primitives::Hash;
use pallet_jobs::JobId;
use pallet_verification::Audit;
use rand::RngCore;

use crate::{Attestation, Error, Verifier};

/// One way for the verifier to cheat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Attest without re-executing.
    Lazy,
    /// Attest with another verifier's commitment.
    Copy,
    /// Challenge honest commitments.
    FalseChallenge,
    /// Re-execute with aarch64's NaN bits (NaN canonicalization on).
    ArmNans,
    /// Re-execute with three quarters of the native stack.
    SmallStack,
    /// Never send the attestation of this segment's check.
    MissSegment(u64),
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Some(segment) = text.strip_prefix("miss-segment=") {
            return segment.parse().map(Fault::MissSegment).map_err(|_| {
                format!("--fault {text}: the segment '{segment}' is not a whole number")
            });
        }
        match text {
            "lazy" => Ok(Fault::Lazy),
            "copy" => Ok(Fault::Copy),
            "false-challenge" => Ok(Fault::FalseChallenge),
            "arm-nans" => Ok(Fault::ArmNans),
            "small-stack" => Ok(Fault::SmallStack),
            _ => Err(format!(
                "--fault {text}: not a verifier fault (lazy, copy, false-challenge, arm-nans, \
                 small-stack, miss-segment=S)"
            )),
        }
    }
}

impl Verifier {
    /// The `lazy` fault: a made-up attestation, written to disk like a real one.
    pub(crate) fn attest_lazily(
        &self,
        id: JobId,
        audit: &Audit,
        check: u32,
    ) -> Result<Attestation, Error> {
        let segment = audit
            .checks
            .get(usize::try_from(check).unwrap_or(usize::MAX))
            .map(|c| c.segment)
            .ok_or_else(|| Error::InvalidJob(format!("job #{id} has no check {check}")))?;
        let mut salt = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let made_up = Hash::of(b"lazy");
        let attestation = Attestation {
            leaf: (segment, made_up, 0),
            result: (segment.saturating_add(1) == audit.segments).then_some((made_up, made_up)),
            salt,
        };
        write_atomic(
            &self.attestation_path(id, check),
            &serde_json::to_vec(&attestation)?,
        )?;
        tracing::warn!(job = id, check, "fault: attested without re-executing");
        Ok(attestation)
    }

    /// The `copy` fault: attests check `check` with another verifier's commitment to the same
    /// job, once one is on chain (until then it waits, and misses if none comes), and keeps a
    /// made-up opening, which cannot open it.
    pub(crate) async fn attest_by_copying(
        &self,
        id: JobId,
        audit: &Audit,
        check: u32,
    ) -> Result<(), Error> {
        let Some(copied) = audit
            .checks
            .iter()
            .filter(|c| c.verifier != self.me)
            .find_map(|c| c.attestation)
        else {
            tracing::info!(job = id, check, "fault: no attestation to copy yet");
            return Ok(());
        };
        let segment = audit
            .checks
            .get(usize::try_from(check).unwrap_or(usize::MAX))
            .map(|c| c.segment)
            .ok_or_else(|| Error::InvalidJob(format!("job #{id} has no check {check}")))?;
        let made_up = Hash::of(b"copy");
        let opening = Attestation {
            leaf: (segment, made_up, 0),
            result: (segment.saturating_add(1) == audit.segments).then_some((made_up, made_up)),
            salt: [0; 32],
        };
        write_atomic(
            &self.attestation_path(id, check),
            &serde_json::to_vec(&opening)?,
        )?;
        self.send_attestation(id, check, copied).await?;
        tracing::warn!(
            job = id,
            check,
            "fault: attested with another verifier's commitment"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verifier_fault_parses_and_others_are_refused_by_name() {
        assert_eq!("lazy".parse(), Ok(Fault::Lazy));
        assert_eq!("copy".parse(), Ok(Fault::Copy));
        assert_eq!("false-challenge".parse(), Ok(Fault::FalseChallenge));
        assert_eq!("miss-segment=3".parse(), Ok(Fault::MissSegment(3)));
        assert!("miss-segment=x"
            .parse::<Fault>()
            .unwrap_err()
            .contains("'x' is not a whole number"));
        assert!("tamper-leaf=1"
            .parse::<Fault>()
            .unwrap_err()
            .contains("not a verifier fault"));
    }
}
