//! The chain's epochs as consensus needs them: which epoch comes next, its committee from
//! pallet-staking's finalized state, and where in an epoch a block may go.
//!
//! Epoch `e` is blocks `e·L + 1 ..= (e+1)·L` for the genesis epoch length `L`
//! (`pallet_staking::validators`). Consensus runs one engine per epoch; the engine of `e`
//! extends the last block of `e − 1` and, at the last block of `e`, re-proposes it rather than
//! build past it (see `consensus::epochs`).

use super::{Chain, ChainError, View};
use crate::consensus::{EpochStart, Member};
use crate::keystore::Seat;
use agora_primitives::{AccountId, Hash};
use agora_runtime::Staking;
use pallet_staking::validators::{epoch_of, last_block_of};
use std::collections::BTreeSet;

/// Where consensus may put a block on a parent in an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Placement {
    /// A new child: its height lies in the epoch.
    Child,
    /// The parent again: it is the epoch's last block.
    Repropose,
}

impl Chain {
    /// Blocks per epoch (fixed at genesis), or `None` for a single epoch.
    pub(super) fn epoch_length(&self) -> Option<u64> {
        Staking::epoch_length(&self.finalized_view())
    }

    /// Where a block on `parent` goes in `epoch` (boxed: the error is rare and large).
    pub(super) fn place_child(
        &self,
        parent: Hash,
        epoch: u64,
    ) -> Result<Placement, Box<ChainError>> {
        let number = self.header(&parent)?.number();
        // Nothing is proposed on, voted for on, or re-proposed as a block this node would
        // refuse to commit (the re-proposal is of an epoch's last block: a checkpoint's height).
        self.contradiction(number, parent)?;
        let wrong = || {
            Box::new(ChainError::WrongEpoch {
                parent,
                number,
                epoch,
            })
        };
        match self.epoch_length() {
            None if epoch == 0 => Ok(Placement::Child),
            None => Err(wrong()),
            Some(length) if number == last_block_of(epoch, length) => Ok(Placement::Repropose),
            Some(length) if epoch_of(number.saturating_add(1), length) == epoch => {
                Ok(Placement::Child)
            }
            Some(_) => Err(wrong()),
        }
    }

    /// The epoch of the next block to finalize and the block that opens it.
    pub(super) fn epoch_start(&self) -> EpochStart {
        let height = self.lock().finalized.number();
        let Some(length) = self.epoch_length() else {
            return EpochStart {
                epoch: 0,
                opened_by: self.inner.genesis_hash,
            };
        };
        let epoch = height.checked_div(length).unwrap_or(0);
        let opening = epoch.saturating_mul(length);
        let opened_by = match self.block_hash(opening) {
            Ok(Some(hash)) => hash,
            // Unreachable: `opening` is at or below the finalized height.
            _ => self.inner.genesis_hash,
        };
        EpochStart { epoch, opened_by }
    }

    /// The committee of `epoch` in the finalized state, with the addresses validators
    /// registered (an unparsable or empty address is left to the node's `--peer` list).
    pub(super) fn committee_of(&self, epoch: u64) -> Option<Vec<Member>> {
        let validators = Staking::committee(&self.finalized_view(), epoch)?;
        Some(
            validators
                .into_iter()
                .map(|validator| Member {
                    key: validator.consensus_key.0,
                    address: std::str::from_utf8(&validator.address)
                        .ok()
                        .and_then(|text| text.parse().ok()),
                })
                .collect(),
        )
    }

    /// The seats (consensus key and account) of the committee of the next block to finalize
    /// and, once the finalized state has elected it, of the epoch after: what a validator with
    /// several keys chooses among (`keystore::choose`). Without a committee on record (a chain
    /// with no staking state yet), none.
    pub fn committee_seats_ahead(&self) -> (Vec<Seat>, Option<Vec<Seat>>) {
        let epoch = self.epoch_start().epoch;
        let view = self.finalized_view();
        let seats = |epoch: u64| {
            Staking::committee(&view, epoch).map(|validators| {
                validators
                    .into_iter()
                    .map(|validator| Seat {
                        key: validator.consensus_key.0,
                        account: validator.account,
                    })
                    .collect()
            })
        };
        (
            seats(epoch).unwrap_or_default(),
            epoch.checked_add(1).and_then(seats),
        )
    }

    /// The accounts whose candidacy names one of `keys` (a validator's keystore keys:
    /// `keystore::learn_account`). At most `MAX_CANDIDATES` candidacies are read.
    pub fn candidates_naming(&self, keys: &BTreeSet<[u8; 32]>) -> BTreeSet<AccountId> {
        let view = self.finalized_view();
        pallet_staking::CandidateList::get(&view)
            .unwrap_or_default()
            .into_iter()
            .filter(|account| {
                Staking::candidate(&view, account)
                    .is_some_and(|candidate| keys.contains(&candidate.consensus_key.0))
            })
            .collect()
    }

    /// The account whose seat `key` holds in the committee of the block built on `view` (its
    /// parent's state): the epoch the runtime checks the proposer against (`note_beacon`).
    pub(super) fn seat_account(view: &View, key: Hash) -> Option<AccountId> {
        Staking::committee(view, Staking::current_epoch(view))?
            .into_iter()
            .find(|validator| validator.consensus_key == key)
            .map(|validator| validator.account)
    }

    /// The epoch height `number` lies in.
    pub(super) fn epoch_of_number(&self, number: u64) -> u64 {
        match self.epoch_length() {
            Some(length) => epoch_of(number, length),
            None => 0,
        }
    }

    /// The last height a sync run starting at `from` may reach.
    pub(super) fn run_limit(&self, from: u64) -> u64 {
        match self.epoch_length() {
            Some(length) => last_block_of(epoch_of(from, length), length),
            None => u64::MAX,
        }
    }
}
