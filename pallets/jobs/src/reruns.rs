//! The chain's re-run queue: when a call that re-runs more than a block's worth may come.
//!
//! Some calls make every node re-run a piece of a job that weighs more than a block: an
//! unrunnable declaration's proof (`init` and segment 0, `unrunnable.rs`) and, since spec
//! version 21, a dispute's `referee` call over a whole segment or an output
//! (`pallet_verification`). No block builder or importer can run those inline, so every
//! node's warmer decides them ahead, in the background, once a finalized block makes them due
//! (`node/src/referee/warmer.rs`), and the call is accepted only after the blocks the slowest
//! node needs — its **lead**, the re-run's fuel at `REFEREE_LEAD_FUEL_PER_BLOCK`
//! ([`Pallet::rerun_lead`]).
//!
//! - **One queue.** A warmer decides re-runs one at a time. So each queued call opens its lead
//!   after the previous one's opening, or after its own block if that is later
//!   ([`RerunQueue`], [`Pallet::queue_rerun`]), and the warmer decides what is due in the order
//!   the calls open. Before spec version 21 only proofs queued; a dispute's call opened its own
//!   lead after its turn began, as if the warmer had nothing else to do, and behind a
//!   declaration's re-run (up to 91 blocks' worth on the runtime) it opened undecided and ran
//!   inline in the block that carried it.
//! - **A request decided lately takes no place in the queue.** Every node keeps the verdicts
//!   it decided (the node's `MAX_VERDICTS`, 65,536, oldest out, in memory); the chain
//!   remembers the last [`MAX_DECIDED_RERUNS`] requests a call had decided, each for
//!   [`DECIDED_RERUN_BLOCKS`] from the first decision ([`DecidedReruns`],
//!   [`Pallet::note_rerun_decided`]). A call that would re-run one of them still opens its own
//!   lead after its block — a node that restarted since, its verdicts gone, decides it again
//!   in that time if its warmer is not busy with other re-runs (a restarted node has lost the
//!   verdicts of everything queued, and runs inline what it cannot decide in time, as a node
//!   catching up does) — but does not push the queue: on every node that was up it is decided
//!   already and takes none of the warmer's time. The verdict is a function of the request,
//!   so the same request asked again changes nothing but the queue: an attacker
//!   re-challenging an output the referee could not decide (nothing slashed, the job verified
//!   again at once) pushed every proof and every dispute's re-run back 91 blocks per round for
//!   its referee call's fee, ~1 AGR (found in review of spec version 21). The listing's time
//!   bound keeps it within what a node still holds: a verdict enters a node's cache when the
//!   warmer decides it, up to the queue's depth before the call lists it, and must outlast
//!   the listing's 3,601 blocks and the new call's lead — pushing 65,536 newer verdicts out
//!   of a node in that time takes more than 15 a second, each a dispute at the referee's turn
//!   or a declaration (a bond or a job each); and a listing is not renewed by asking again (a
//!   node's kept verdict is not either), so it cannot outlive the verdict by being kept alive.
//!
//! What a place in the queue costs its maker: a declaration burns 1 AGR per lead block
//! (`DECLARATION_FEE_PER_LEAD_BLOCK`); a dispute's place is paid by its loser's slash only
//! (`docs/verification.md`, *The warmer's throughput*, for what that leaves open).

use crate::{Config, DecidedReruns, Pallet, RerunQueue, System};
use agora_primitives::referee::{referee_lead, RefereeRequest};
use agora_primitives::storage::Ext;
use agora_primitives::{BlockNumber, Hash};

/// Most requests [`DecidedReruns`] remembers: a bound on the list's size (every `moved` into a
/// referee's turn reads it). That a node still keeps a listed verdict is the time bound's
/// doing, [`DECIDED_RERUN_BLOCKS`].
pub const MAX_DECIDED_RERUNS: usize = 256;

/// Blocks after its first decision that a request stays listed in [`DecidedReruns`], the last
/// one included (an hour of 1 s blocks): long
/// enough for the challenge that asks it again right after a dismissal, short enough that
/// every node that decided it still keeps the verdict (see the module doc).
pub const DECIDED_RERUN_BLOCKS: BlockNumber = 3_600;

/// Whether `decided` lists the request hashed `hash` from a decision at most
/// [`DECIDED_RERUN_BLOCKS`] before block `now`.
fn listed_at(decided: &[(Hash, BlockNumber)], hash: Hash, now: BlockNumber) -> bool {
    decided
        .iter()
        .any(|(listed, at)| *listed == hash && now <= at.saturating_add(DECIDED_RERUN_BLOCKS))
}

impl<T: Config> Pallet<T> {
    /// Queues a call that will have every node re-run `request`, and returns the first block
    /// that accepts it: [`Self::rerun_lead`] blocks after the latest queued call opens, or after
    /// this block if that is later ([`RerunQueue`]); its lead after this block, unqueued, if a
    /// call had the request decided lately ([`DecidedReruns`]).
    pub fn queue_rerun(ext: &mut Ext<'_>, request: &RefereeRequest) -> BlockNumber {
        let now = System::<T>::block_number(ext);
        let lead = Self::rerun_lead(request);
        if Self::rerun_decided(ext, request) {
            return now.saturating_add(lead);
        }
        let opens_at = RerunQueue::get(ext)
            .unwrap_or(0)
            .max(now)
            .saturating_add(lead);
        RerunQueue::put(ext, &opens_at);
        opens_at
    }

    /// Whether a call first had `request` decided at most [`DECIDED_RERUN_BLOCKS`] ago, so that
    /// every node that was up keeps its verdict.
    pub fn rerun_decided(ext: &Ext<'_>, request: &RefereeRequest) -> bool {
        let now = System::<T>::block_number(ext);
        let decided = DecidedReruns::get(ext).unwrap_or_default();
        listed_at(&decided, request.hash(), now)
    }

    /// Remembers that a call had `request` decided in this block, unless it is listed from an
    /// earlier decision still (not renewed: see the module doc); the oldest beyond
    /// [`MAX_DECIDED_RERUNS`] forgotten.
    pub fn note_rerun_decided(ext: &mut Ext<'_>, request: &RefereeRequest) {
        let (hash, now) = (request.hash(), System::<T>::block_number(ext));
        let mut decided = DecidedReruns::get(ext).unwrap_or_default();
        if listed_at(&decided, hash, now) {
            return;
        }
        // A listing of it that lapsed.
        decided.retain(|(listed, _)| *listed != hash);
        decided.push((hash, now));
        if decided.len() > MAX_DECIDED_RERUNS {
            decided.remove(0);
        }
        assert!(
            decided.len() <= MAX_DECIDED_RERUNS,
            "jobs invariant broken: the decided re-runs outgrew their bound"
        );
        DecidedReruns::put(ext, &decided);
    }

    /// Blocks the slowest node needs to decide `request` ahead: its re-run's fuel
    /// ([`Self::rerun_fuel`]) at `REFEREE_LEAD_FUEL_PER_BLOCK`; at least one.
    pub fn rerun_lead(request: &RefereeRequest) -> BlockNumber {
        referee_lead(Self::rerun_fuel(request), T::REFEREE_LEAD_FUEL_PER_BLOCK).max(1)
    }

    /// The most fuel the referee's re-run of `request` spends in all on this chain
    /// ([`RefereeRequest::rerun_fuel`]), `init` getting the chain's bound on a call
    /// (`MAX_SEGMENT_FUEL`, every engine's `CALL_BOUNDS`): what the lead of a call that needs
    /// it is sized by, here and in `pallet_verification`.
    pub fn rerun_fuel(request: &RefereeRequest) -> u64 {
        request.rerun_fuel(<T as pallet_market::Config>::MAX_SEGMENT_FUEL)
    }
}
