//! Validator candidacy and the election of each epoch's consensus committee.
//!
//! # Epochs
//!
//! With an epoch length `L` (genesis, at least 2), epoch `e` is the blocks
//! `e·L + 1 ..= (e+1)·L`; the genesis block belongs to epoch 0 ([`epoch_of`]). Consensus signs
//! the blocks of epoch `e` with the committee [`Committees`]`(e)`.
//!
//! ```text
//!   epoch e:   e·L+1 ……… e·L+⌊L/2⌋ ……… (e+1)·L │ epoch e+1: (e+1)·L+1 ………
//!                        │ election of e+1      │ CurrentEpoch := e+1, Committees(e-1) dropped,
//!                        │ (top-N by bond)      │ bonds of departed validators released
//! ```
//!
//! Both steps run in the staking hook at the end of the block ([`Pallet::on_finalize`]), after
//! every extrinsic of the block: a candidacy registered or withdrawn in the election block
//! counts. The election reads only state, so every node elects the same committee; it never
//! leaves a committee empty (with no candidates, the sitting committee serves again).
//!
//! # Candidates
//!
//! **Proof of possession (since spec version 16).** A `register_validator` or
//! `set_validator_key` call carries a *key proof*: the consensus key's ed25519 signature of
//! [`KEY_OWNER_TAG`] ‖ the registering account ([`key_ownership_message`]). Only the key's
//! holder can make it, and it names the account, so a key is registered only by the account
//! its holder chose. Without it (before spec version 16), whoever learned a key before its
//! holder registered it — a joining node shows its key to every peer it dials — could register
//! it first: the holder was refused (`ConsensusKeyInUse`) and its node, running the key, voted
//! in the front-runner's seat. The proof names no chain: it states who may register the key,
//! which holds on every chain. Genesis validators are the spec's and carry none. A
//! `set_validator_key` that keeps the candidate's key (moving its address) needs none either:
//! the key is bound to the account already. Nothing else a consensus key signs can pass for a
//! proof: votes start with a length byte and `"agora/"`, the beacon binding is 59 bytes and
//! the proof 60, and the ECVRF shares ed25519's nonce only for 32-byte messages.
//!
//! `register_validator` bonds the validator bond from the free balance and commits it in one
//! step: committed stake cannot be unbonded and is what slashing takes. A candidate's consensus
//! key must be a valid ed25519 point of large order (a small-order key is one whose signatures
//! anyone can forge) and unique among candidates and sitting validators (two seats with one key
//! would let one signer count twice). `set_validator_key` replaces the key and address for the
//! next election: the rotation takes effect in the epoch after the next election, and the old
//! key keeps signing until then. `unregister_validator` withdraws the candidacy at once; the
//! bond stays committed ([`Leaving`]) until the account sits in no elected committee, so a
//! validator cannot take its stake out from under evidence of what it signed.

use super::*;
use agora_primitives::dispatch::Weight;

/// Longest p2p address a candidate may register, in bytes.
pub const MAX_ADDRESS_LEN: usize = 64;

/// The epoch block `number` belongs to, for epoch length `length` (genesis: epoch 0).
pub fn epoch_of(number: BlockNumber, length: BlockNumber) -> u64 {
    number.saturating_sub(1).checked_div(length).unwrap_or(0)
}

/// The last block of `epoch`, for epoch length `length`.
pub fn last_block_of(epoch: u64, length: BlockNumber) -> BlockNumber {
    epoch.saturating_add(1).saturating_mul(length)
}

/// Domain tag of a key proof (see the [module docs](self)): the consensus key signs it
/// followed by the account that may register the key.
pub const KEY_OWNER_TAG: &[u8] = b"agora/validator-key-owner/v1";

/// The bytes a consensus key signs to let `account` register it: [`KEY_OWNER_TAG`] ‖ account.
/// Longer than 32 bytes, so never the raw 32-byte message whose ed25519 nonce the ECVRF
/// shares (`crate::ecvrf`).
pub fn key_ownership_message(account: &AccountId) -> Vec<u8> {
    [KEY_OWNER_TAG, &account.0[..]].concat()
}

/// Whether `proof` is `consensus_key`'s signature of [`key_ownership_message`]`(account)`.
pub fn verify_key_ownership(consensus_key: &Hash, account: &AccountId, proof: &[u8; 64]) -> bool {
    use sp_core::Pair as _;
    sp_core::ed25519::Pair::verify(
        &sp_core::ed25519::Signature::from_raw(*proof),
        key_ownership_message(account),
        &sp_core::ed25519::Public::from_raw(consensus_key.0),
    )
}

/// The key proof `consensus` makes for `account`: what `agora validator register` sends.
pub fn prove_key_ownership(consensus: &sp_core::ed25519::Pair, account: &AccountId) -> [u8; 64] {
    use sp_core::Pair as _;
    consensus.sign(&key_ownership_message(account)).0
}

/// Whether `key` is an ed25519 public key of large order (see the [module docs](self)).
pub fn is_valid_consensus_key(key: &Hash) -> bool {
    curve25519_dalek::edwards::CompressedEdwardsY(key.0)
        .decompress()
        .is_some_and(|point| !point.is_small_order())
}

/// Whether `beacon_key` may be registered beside `consensus_key`: the consensus key itself
/// (the beacon is then an ECVRF under it, `crate::beacon`), or a valid sr25519 public key.
pub fn is_valid_beacon_key_for(beacon_key: &Hash, consensus_key: &Hash) -> bool {
    beacon_key == consensus_key || is_valid_beacon_key(beacon_key)
}

/// Whether `key` is a valid sr25519 public key: a canonical ristretto255 encoding.
pub fn is_valid_beacon_key(key: &Hash) -> bool {
    curve25519_dalek::ristretto::CompressedRistretto(key.0)
        .decompress()
        .is_some()
}

/// Whether `address` is empty or a UTF-8 `IP:port` of at most [`MAX_ADDRESS_LEN`] bytes.
pub fn is_valid_address(address: &[u8]) -> bool {
    address.is_empty()
        || (address.len() <= MAX_ADDRESS_LEN
            && std::str::from_utf8(address)
                .is_ok_and(|text| text.parse::<std::net::SocketAddr>().is_ok()))
}

/// Adds `bond` to `who`'s entry in the leaving bonds (one entry per account).
pub(crate) fn add_leaving(leaving: &mut Vec<(AccountId, Balance)>, who: &AccountId, bond: Balance) {
    match leaving.iter_mut().find(|(account, _)| account == who) {
        Some((_, left)) => *left = left.saturating_add(bond),
        None => leaving.push((*who, bond)),
    }
}

impl<T: Config> Pallet<T> {
    /// Blocks per epoch, or `None` if the chain has one epoch forever.
    pub fn epoch_length(state: &impl StateRead) -> Option<BlockNumber> {
        EpochLength::get(state).filter(|length| *length >= 2)
    }

    /// The epoch the next block belongs to.
    pub fn current_epoch(state: &impl StateRead) -> u64 {
        CurrentEpoch::get(state).unwrap_or(0)
    }

    /// The committee of `epoch`, if it is still (or already) in state: the previous, the
    /// current and, after the election block, the next epoch's.
    pub fn committee(state: &impl StateRead, epoch: u64) -> Option<Vec<Validator>> {
        Committees::get(state, &epoch)
    }

    /// `who`'s candidacy, if any.
    pub fn candidate(state: &impl StateRead, who: &AccountId) -> Option<Candidate> {
        Candidates::get(state, who)
    }

    pub(crate) fn build_validators_genesis(
        ext: &mut Ext<'_>,
        validators: &[(Validator, Balance)],
        epoch_length: BlockNumber,
    ) {
        if epoch_length != 0 {
            assert!(epoch_length >= 2, "an epoch must last at least 2 blocks");
            EpochLength::put(ext, &epoch_length);
        }
        if validators.is_empty() {
            return;
        }
        assert!(
            validators.len() <= to_usize(T::MAX_VALIDATORS),
            "the genesis committee is larger than MAX_VALIDATORS"
        );
        for (validator, bond) in validators {
            let Validator {
                account,
                consensus_key,
                beacon_key,
                address,
            } = validator;
            if *bond != 0 {
                let keys = (*consensus_key, *beacon_key);
                if let Err(error) = Self::register_validator(ext, account, keys, address, *bond) {
                    panic!("genesis validator {account:?} cannot register: {error:?}");
                }
            } else {
                assert!(
                    is_valid_consensus_key(consensus_key)
                        && is_valid_beacon_key_for(beacon_key, consensus_key)
                        && is_valid_address(address),
                    "genesis validator {account:?} has an invalid key or address"
                );
            }
        }
        let committee: Vec<Validator> = validators.iter().map(|(v, _)| v.clone()).collect();
        Committees::insert(ext, &0, &committee);
    }

    /// Makes `who` a validator candidate with `keys` (consensus, beacon), `address` and `bond`
    /// (bonded and committed). All-or-nothing. The key proof is the call's to check
    /// ([`Pallet::dispatch`]; genesis validators carry none), so this is not public: no caller
    /// outside the pallet can register a key without one.
    pub(crate) fn register_validator(
        ext: &mut Ext<'_>,
        who: &AccountId,
        keys: (Hash, Hash),
        address: &[u8],
        bond: Balance,
    ) -> DispatchResult {
        let (consensus_key, beacon_key) = keys;
        ensure!(
            Candidates::get(ext, who).is_none(),
            Self::error(Error::AlreadyCandidate)
        );
        ensure!(
            bond >= T::MIN_VALIDATOR_BOND,
            Self::error(Error::BelowMinimumValidatorBond)
        );
        Self::check_key_and_address(ext, who, &consensus_key, address)?;
        ensure!(
            is_valid_beacon_key_for(&beacon_key, &consensus_key),
            Self::error(Error::InvalidBeaconKey)
        );
        let mut list = BoundedVec::with_bound(
            CandidateList::get(ext).unwrap_or_default(),
            T::MAX_CANDIDATES,
        );
        list.try_push(*who)
            .map_err(|_| Self::error(Error::TooManyCandidates))?;
        Self::bond(ext, who, bond)?;
        Self::commit(ext, who, bond)?;
        CandidateList::put(ext, &list.into_inner());
        Candidates::insert(
            ext,
            who,
            &Candidate {
                consensus_key,
                beacon_key,
                address: address.to_vec(),
                bond,
            },
        );
        Self::deposit_event(
            ext,
            Event::ValidatorRegistered {
                who: *who,
                consensus_key,
                bond,
            },
        );
        Ok(())
    }

    /// Replaces candidate `who`'s keys (consensus, beacon) and address for the next election.
    /// The key proof is the call's to check, as for [`Pallet::register_validator`].
    pub(crate) fn set_validator_key(
        ext: &mut Ext<'_>,
        who: &AccountId,
        keys: (Hash, Hash),
        address: &[u8],
    ) -> DispatchResult {
        let (consensus_key, beacon_key) = keys;
        let mut candidate = Candidates::get(ext, who).ok_or(Self::error(Error::NotCandidate))?;
        Self::check_key_and_address(ext, who, &consensus_key, address)?;
        ensure!(
            is_valid_beacon_key_for(&beacon_key, &consensus_key),
            Self::error(Error::InvalidBeaconKey)
        );
        candidate.consensus_key = consensus_key;
        candidate.beacon_key = beacon_key;
        candidate.address = address.to_vec();
        Candidates::insert(ext, who, &candidate);
        Self::deposit_event(
            ext,
            Event::ValidatorKeySet {
                who: *who,
                consensus_key,
            },
        );
        Ok(())
    }

    /// Withdraws `who`'s candidacy; its bond is released now if it sits in no elected
    /// committee, else when it no longer does.
    pub fn unregister_validator(ext: &mut Ext<'_>, who: &AccountId) -> DispatchResult {
        let candidate = Candidates::get(ext, who).ok_or(Self::error(Error::NotCandidate))?;
        Self::remove_candidate(ext, who);
        Self::deposit_event(ext, Event::ValidatorUnregistered { who: *who });
        if Self::sitting(ext).iter().any(|v| v.account == *who) {
            let mut leaving = Leaving::get(ext).unwrap_or_default();
            add_leaving(&mut leaving, who, candidate.bond);
            Leaving::put(ext, &leaving);
        } else {
            Self::release_validator_bond(ext, who, candidate.bond);
        }
        Ok(())
    }

    /// The members of every committee still kept: the previous epoch's (its evidence is still
    /// taken, `report_equivocation`), the current one's and, once elected, the next one's. A
    /// leaving validator's bond stays committed while it sits in any of them, so that every
    /// vote it can still be slashed for has a bond behind it.
    fn sitting(state: &impl StateRead) -> Vec<Validator> {
        let epoch = Self::current_epoch(state);
        [epoch.checked_sub(1), Some(epoch), epoch.checked_add(1)]
            .iter()
            .flatten()
            .filter_map(|e| Committees::get(state, e))
            .flatten()
            .collect()
    }

    /// Removes `who` from the candidates (map and list); its bond is the caller's to move.
    pub(crate) fn remove_candidate(ext: &mut Ext<'_>, who: &AccountId) {
        Candidates::remove(ext, who);
        let mut list = CandidateList::get(ext).unwrap_or_default();
        list.retain(|account| account != who);
        CandidateList::put(ext, &list);
    }

    fn release_validator_bond(ext: &mut Ext<'_>, who: &AccountId, bond: Balance) {
        // Part of the bond may have been slashed meanwhile: release what is left.
        let not_committed = Self::release(ext, who, bond);
        let amount = bond.saturating_sub(not_committed);
        Self::deposit_event(ext, Event::ValidatorBondReleased { who: *who, amount });
    }

    /// Refuses a `key_proof` that is not `consensus_key`'s signature of `who` (the
    /// [module docs](self)): checked by the calls, before anything is written. A candidate
    /// that keeps its key (`set_validator_key` moving only its address) needs none: the key
    /// is bound to the account already, and its holder may not have the secret at hand.
    pub(crate) fn check_key_proof(
        state: &impl StateRead,
        who: &AccountId,
        consensus_key: &Hash,
        key_proof: &[u8; 64],
    ) -> DispatchResult {
        let kept = Candidates::get(state, who).is_some_and(|c| c.consensus_key == *consensus_key);
        ensure!(
            kept || verify_key_ownership(consensus_key, who, key_proof),
            Self::error(Error::BadKeyProof)
        );
        Ok(())
    }

    fn check_key_and_address(
        ext: &Ext<'_>,
        who: &AccountId,
        key: &Hash,
        address: &[u8],
    ) -> DispatchResult {
        ensure!(
            is_valid_consensus_key(key),
            Self::error(Error::InvalidConsensusKey)
        );
        ensure!(
            is_valid_address(address),
            Self::error(Error::InvalidAddress)
        );
        let list = CandidateList::get(ext).unwrap_or_default();
        let candidate_uses = list
            .iter()
            .filter(|account| *account != who)
            .any(|account| Candidates::get(ext, account).is_some_and(|c| c.consensus_key == *key));
        let sitting_uses = Self::sitting(ext)
            .iter()
            .any(|v| v.consensus_key == *key && v.account != *who);
        ensure!(
            !candidate_uses && !sitting_uses,
            Self::error(Error::ConsensusKeyInUse)
        );
        Ok(())
    }

    /// End-of-block hook: the election at the election block of an epoch, the switch to the
    /// next epoch at its last block (see the [module docs](self)).
    pub fn on_finalize(ext: &mut Ext<'_>) -> Weight {
        Self::note_namespace(ext);
        let Some(length) = Self::epoch_length(ext) else {
            return 1_000;
        };
        let number = pallet_system::Pallet::<T>::block_number(ext);
        if number == 0 {
            return 1_000;
        }
        let mut weight: Weight = 2_000;
        let epoch = epoch_of(number, length);
        // `length >= 2`: the election block lies strictly inside the epoch.
        let offset = number.checked_rem(length).unwrap_or(0);
        if offset == length.checked_div(2).unwrap_or(0) {
            weight = weight.saturating_add(Self::elect(ext, epoch.saturating_add(1)));
        }
        if offset == 0 {
            weight = weight.saturating_add(Self::start_epoch(ext, epoch.saturating_add(1)));
        }
        weight
    }

    /// Elects the committee of `epoch`: the top [`Config::MAX_VALIDATORS`] candidates by
    /// bond, ties to the lower account; the sitting committee again if there is no candidate.
    fn elect(ext: &mut Ext<'_>, epoch: u64) -> Weight {
        let list = CandidateList::get(ext).unwrap_or_default();
        let weight = weights::election(list.len());
        let mut ranked: Vec<(AccountId, Candidate)> = list
            .iter()
            .filter_map(|account| Candidates::get(ext, account).map(|c| (*account, c)))
            .collect();
        ranked.sort_by(|(a, x), (b, y)| y.bond.cmp(&x.bond).then(a.cmp(b)));
        ranked.truncate(to_usize(T::MAX_VALIDATORS));
        let committee: Vec<Validator> = if ranked.is_empty() {
            Committees::get(ext, &epoch.saturating_sub(1)).unwrap_or_default()
        } else {
            ranked
                .into_iter()
                .map(|(account, candidate)| Validator {
                    account,
                    consensus_key: candidate.consensus_key,
                    beacon_key: candidate.beacon_key,
                    address: candidate.address,
                })
                .collect()
        };
        let size = u32::try_from(committee.len()).unwrap_or(u32::MAX);
        Committees::insert(ext, &epoch, &committee);
        Self::deposit_event(ext, Event::CommitteeElected { epoch, size });
        weight
    }

    /// Makes `epoch` current: drops the committee two epochs back and releases the bonds of
    /// former candidates who sit in no committee still kept ([`Self::sitting`]).
    fn start_epoch(ext: &mut Ext<'_>, epoch: u64) -> Weight {
        let previous = epoch.saturating_sub(1);
        if Committees::get(ext, &epoch).is_none() {
            // Unreachable with an election block inside every epoch; kept so that the chain
            // can never be left without a committee.
            let sitting = Committees::get(ext, &previous).unwrap_or_default();
            Committees::insert(ext, &epoch, &sitting);
        }
        if let Some(old) = previous.checked_sub(1) {
            Committees::remove(ext, &old);
        }
        Self::prune_offences(ext, previous);
        CurrentEpoch::put(ext, &epoch);
        let sitting = Self::sitting(ext);
        let leaving = Leaving::get(ext).unwrap_or_default();
        let weight = 5_000u64.saturating_add(
            u64::try_from(leaving.len())
                .unwrap_or(u64::MAX)
                .saturating_mul(20_000),
        );
        let (stay, go): (Vec<_>, Vec<_>) = leaving
            .into_iter()
            .partition(|(who, _)| sitting.iter().any(|v| v.account == *who));
        for (who, bond) in go {
            Self::release_validator_bond(ext, &who, bond);
        }
        if stay.is_empty() {
            Leaving::kill(ext);
        } else {
            Leaving::put(ext, &stay);
        }
        Self::deposit_event(ext, Event::EpochStarted { epoch });
        weight
    }

    /// The validator invariants (part of [`Pallet::try_state`]):
    ///
    /// 5. The candidate list and the candidate map hold the same accounts, at most
    ///    [`Config::MAX_CANDIDATES`], without repeats.
    /// 6. Every account's validator bonds (candidacy plus leaving) are committed stake.
    /// 7. Every stored committee is non-empty, at most [`Config::MAX_VALIDATORS`], with
    ///    distinct valid consensus keys; the current epoch's committee is stored (once
    ///    epochs run).
    pub(crate) fn try_state_validators(state: &impl StateIter) -> Result<(), String> {
        let list = CandidateList::get(state).unwrap_or_default();
        let map = Candidates::iter(state);
        if list.len() > to_usize(T::MAX_CANDIDATES) {
            return Err(format!("{} candidates exceed the bound", list.len()));
        }
        let mut listed = list.clone();
        listed.sort();
        listed.dedup();
        let mut mapped: Vec<AccountId> = map.iter().map(|(who, _)| *who).collect();
        mapped.sort();
        if listed.len() != list.len() || listed != mapped {
            return Err("the candidate list and the candidate map disagree".to_owned());
        }
        let mut bonds: std::collections::BTreeMap<AccountId, Balance> = Default::default();
        for (who, candidate) in &map {
            let entry = bonds.entry(*who).or_default();
            *entry = entry.saturating_add(candidate.bond);
        }
        for (who, bond) in Leaving::get(state).unwrap_or_default() {
            let entry = bonds.entry(who).or_default();
            *entry = entry.saturating_add(bond);
        }
        for (who, bond) in bonds {
            let committed = Self::ledger(state, &who).committed;
            if bond > committed {
                return Err(format!(
                    "{who} has validator bonds of {bond} but only {committed} committed"
                ));
            }
        }
        for (epoch, committee) in Committees::iter(state) {
            if committee.is_empty() || committee.len() > to_usize(T::MAX_VALIDATORS) {
                return Err(format!(
                    "the committee of epoch {epoch} has {} members",
                    committee.len()
                ));
            }
            let mut keys: Vec<Hash> = committee.iter().map(|v| v.consensus_key).collect();
            keys.sort();
            keys.dedup();
            if keys.len() != committee.len() || !keys.iter().all(is_valid_consensus_key) {
                return Err(format!(
                    "the committee of epoch {epoch} has a repeated or invalid consensus key"
                ));
            }
        }
        if Self::epoch_length(state).is_some()
            && Committees::get(state, &Self::current_epoch(state)).is_none()
        {
            return Err("the current epoch has no committee".to_owned());
        }
        Ok(())
    }
}
