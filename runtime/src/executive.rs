//! Transaction validation, block building and block execution.
//!
//! # Applying one extrinsic
//!
//! 1. *Checks*, reading only: era (birth block known, not expired), nonce equals the signer's
//!    next nonce, free balance covers the fee, the block has room for its weight and length.
//!    A failed check means the extrinsic is not includable: the builder skips it, and a block
//!    containing it is invalid.
//! 2. *Payment*, kept whatever the call does: the nonce is used and the fee is paid to the
//!    block author.
//! 3. *Dispatch* inside a transactional layer: if the call fails, everything it wrote and every
//!    event it deposited is discarded, and `ExtrinsicFailed` records why.
//!
//! # Executing a block
//!
//! Header checks (extrinsics root, limits), `on_initialize` (number, timestamp, parent hash),
//! the beacon proof (the proposer sits in the epoch's committee and its VRF verifies:
//! `pallet_staking::beacon`), the start-of-block hooks (the verifier draws due in the block,
//! which no extrinsic of it can move), signature verification of all extrinsics at once
//! (batched, in parallel), then each extrinsic as above, the end-of-block hooks, and the
//! events root. The state root is checked by the caller, which
//! owns the Merkle tree: the runtime returns the changes it made.

use crate::block::{events_root, extrinsics_root, Block, Header};
use crate::extrinsic::{
    signing_message, verify_batch, Era, Extrinsic, ExtrinsicError, MAX_MORTAL_PERIOD,
};
use crate::fees::{EXTRINSIC_BASE_WEIGHT, FEE_PER_BYTE, FEE_PER_WEIGHT};
use crate::limits::{MAX_BLOCK_LEN, MAX_BLOCK_WEIGHT};
use crate::{Balances, Jobs, Market, RuntimeCall, Staking, System, Verification};
use agora_primitives::dispatch::{DispatchResult, Weight};
use agora_primitives::referee::{Referee, RefereeError};
use agora_primitives::storage::{Changes, Ext, Phase, RawEvent, StateRead};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash, Moment, Nonce};
use pallet_staking::beacon::{BeaconError, BeaconProof, BeaconSigner};
use pallet_system::{BlockContext, ContextError};
use parity_scale_codec::{Compact, Encode};
use std::sync::Arc;

/// Why an extrinsic cannot be included in the next block.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// Bad bytes or signature.
    #[error(transparent)]
    Extrinsic(#[from] ExtrinsicError),
    /// The nonce was already used.
    #[error("nonce {nonce} of {signer} is stale: the next nonce is {expected}")]
    StaleNonce {
        /// Signer.
        signer: AccountId,
        /// Nonce in the extrinsic.
        nonce: Nonce,
        /// Next nonce of the signer.
        expected: Nonce,
    },
    /// The nonce is ahead of the signer's next one.
    #[error("nonce {nonce} of {signer} is in the future: the next nonce is {expected}")]
    FutureNonce {
        /// Signer.
        signer: AccountId,
        /// Nonce in the extrinsic.
        nonce: Nonce,
        /// Next nonce of the signer.
        expected: Nonce,
    },
    /// The signer's nonce counter is exhausted.
    #[error("{signer} has used every nonce")]
    NonceExhausted {
        /// Signer.
        signer: AccountId,
    },
    /// The fee is more than the signer's free balance.
    #[error("{signer} cannot pay the fee of {fee} plancks: free balance is {free} plancks")]
    CannotPayFee {
        /// Signer.
        signer: AccountId,
        /// Fee including tip.
        fee: Balance,
        /// Free balance.
        free: Balance,
    },
    /// A mortal extrinsic whose birth block, seen from the block it would be included in, is
    /// that block itself: its hash cannot have been signed. (An extrinsic past its era names
    /// a later birth block than the one signed, and fails its signature check instead.)
    #[error("extrinsic born at block {birth} with period {period} is not valid in block {block}")]
    OutsideEra {
        /// Birth block.
        birth: BlockNumber,
        /// Period.
        period: u64,
        /// Block it would be included in.
        block: BlockNumber,
    },
    /// A mortality period over the limit.
    #[error("mortality period {0} is over the limit of {MAX_MORTAL_PERIOD} blocks")]
    PeriodTooLong(u64),
    /// The birth block is unknown on this chain.
    #[error("birth block {0} is not among the recent blocks of this chain")]
    UnknownBirthBlock(BlockNumber),
    /// The extrinsic does not fit in the block's remaining weight or length.
    #[error("extrinsic does not fit in the block: weight {weight} and {len} bytes with {weight_left} weight and {len_left} bytes left")]
    ExhaustsBlock {
        /// Its weight.
        weight: Weight,
        /// Its length.
        len: usize,
        /// Weight left in the block.
        weight_left: Weight,
        /// Length left in the block.
        len_left: usize,
    },
    /// The call needs the referee, which cannot decide on this node (a blob is missing, or no
    /// referee is attached). Such a call is left out of blocks this node builds, and a block
    /// containing it cannot be imported until the node can decide it.
    #[error("the referee cannot decide this call on this node: {0}")]
    RefereeUndecided(RefereeError),
}

/// Why a block is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// Its context (number, timestamp, parent) does not follow its parent.
    #[error(transparent)]
    Context(#[from] ContextError),
    /// Its beacon proof is not its epoch's committee member's VRF (`pallet_staking::beacon`).
    #[error(transparent)]
    Beacon(#[from] BeaconError),
    /// Extrinsics root mismatch.
    #[error("extrinsics root {got} does not match the extrinsics, which hash to {computed}")]
    ExtrinsicsRoot {
        /// In the header.
        got: Hash,
        /// Computed.
        computed: Hash,
    },
    /// Events root mismatch.
    #[error("events root {got} does not match the events of execution, which hash to {computed}")]
    EventsRoot {
        /// In the header.
        got: Hash,
        /// Computed.
        computed: Hash,
    },
    /// Too many bytes of extrinsics.
    #[error("block carries {len} bytes of extrinsics, over the limit of {MAX_BLOCK_LEN}")]
    TooLong {
        /// Bytes of extrinsics.
        len: usize,
    },
    /// An extrinsic that is not includable.
    #[error("extrinsic {index} is invalid: {error}")]
    InvalidExtrinsic {
        /// Its position.
        index: usize,
        /// Why.
        error: TransactionError,
    },
}

/// Total weight of an extrinsic: base plus call.
pub fn extrinsic_weight(call: &RuntimeCall) -> Weight {
    EXTRINSIC_BASE_WEIGHT.saturating_add(call.weight())
}

/// The fee of an extrinsic of `encoded_len` bytes, tip included.
pub fn extrinsic_fee(xt: &Extrinsic, encoded_len: usize) -> Balance {
    let weight = Balance::from(extrinsic_weight(&xt.call));
    let len = Balance::try_from(encoded_len).unwrap_or(Balance::MAX);
    weight
        .saturating_mul(FEE_PER_WEIGHT)
        .saturating_add(len.saturating_mul(FEE_PER_BYTE))
        .saturating_add(xt.tip())
}

/// What the pool learns from validating an extrinsic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidTransaction {
    /// Signer.
    pub signer: AccountId,
    /// Its nonce.
    pub nonce: Nonce,
    /// The signer's next nonce in the state validated against.
    pub account_nonce: Nonce,
    /// Fee it will pay.
    pub fee: Balance,
    /// Weight it will use.
    pub weight: Weight,
    /// The birth block's hash (the genesis hash for an immortal era) its signature was checked
    /// against: a block builder may skip the check only where the era gives the same hash
    /// ([`BlockBuilder::push_preverified`]).
    pub era_hash: Hash,
    /// The first block its era no longer covers (`BlockNumber::MAX` if immortal): from there
    /// on it can never be included.
    pub death: BlockNumber,
}

/// The hash the signer committed to for `era`, looked up in `state` for a block numbered
/// `block`. Fails if the era does not cover that block.
///
/// `head` is the number and hash of the block whose post-state `state` is, when known to the
/// caller: the system pallet records a block's hash only when the next block starts, so the
/// pool (which validates against a block's post-state) must supply it for extrinsics born at
/// that very block.
fn era_hash(
    state: &impl StateRead,
    genesis_hash: &Hash,
    era: &Era,
    block: BlockNumber,
    head: Option<(BlockNumber, Hash)>,
) -> Result<Hash, TransactionError> {
    match *era {
        Era::Immortal => Ok(*genesis_hash),
        Era::Mortal { period, .. } => {
            if period > MAX_MORTAL_PERIOD {
                return Err(TransactionError::PeriodTooLong(period));
            }
            let birth = era.birth(block);
            if birth >= block {
                return Err(TransactionError::OutsideEra {
                    birth,
                    period,
                    block,
                });
            }
            if birth == 0 {
                return Ok(*genesis_hash);
            }
            match head {
                Some((number, hash)) if number == birth => Ok(hash),
                _ => System::block_hash(state, birth)
                    .ok_or(TransactionError::UnknownBirthBlock(birth)),
            }
        }
    }
}

/// Read-only checks of an extrinsic for a block numbered `block` over `state`. With
/// `exact_nonce` false (the pool), nonces ahead of the account's are accepted; the pool
/// orders them. Returns the era hash the signature must cover; computing the signing message
/// from it is left to callers that check the signature one by one (block execution already
/// did, in a batch).
fn check(
    state: &impl StateRead,
    xt: &Extrinsic,
    encoded_len: usize,
    genesis_hash: &Hash,
    block: BlockNumber,
    exact_nonce: bool,
    head: Option<(BlockNumber, Hash)>,
) -> Result<(ValidTransaction, Hash), TransactionError> {
    let hash = era_hash(state, genesis_hash, &xt.extra.era, block, head)?;
    let account_nonce = System::account_nonce(state, &xt.signer);
    let nonce = xt.nonce();
    if nonce < account_nonce {
        return Err(TransactionError::StaleNonce {
            signer: xt.signer,
            nonce,
            expected: account_nonce,
        });
    }
    if exact_nonce && nonce > account_nonce {
        return Err(TransactionError::FutureNonce {
            signer: xt.signer,
            nonce,
            expected: account_nonce,
        });
    }
    if nonce == Nonce::MAX {
        return Err(TransactionError::NonceExhausted { signer: xt.signer });
    }
    let fee = extrinsic_fee(xt, encoded_len);
    let free = Balances::free_balance(state, &xt.signer);
    if free < fee {
        return Err(TransactionError::CannotPayFee {
            signer: xt.signer,
            fee,
            free,
        });
    }
    let valid = ValidTransaction {
        signer: xt.signer,
        nonce,
        account_nonce,
        fee,
        weight: extrinsic_weight(&xt.call),
        era_hash: hash,
        death: xt.extra.era.death(block),
    };
    Ok((valid, hash))
}

/// Validates an extrinsic for the transaction pool against `state`, the post-state of the
/// block `state_block` (its hash): signature, era, nonce (not stale), fee. Future nonces are
/// accepted here; the pool decides how far ahead it lets a signer queue.
pub fn validate_transaction(
    state: &impl StateRead,
    genesis_hash: &Hash,
    state_block: Hash,
    xt: &Extrinsic,
    encoded_len: usize,
) -> Result<ValidTransaction, TransactionError> {
    let head = (System::block_number(&state), state_block);
    let (valid, message) = check_for_pool(state, genesis_hash, head, xt, encoded_len)?;
    xt.verify_signature(&message)?;
    Ok(valid)
}

/// The pool's checks of `xt` but its signature, against `state`, the post-state of block
/// `head` (number, hash); returns what passed and the message the signature must sign.
fn check_for_pool(
    state: &impl StateRead,
    genesis_hash: &Hash,
    head: (BlockNumber, Hash),
    xt: &Extrinsic,
    encoded_len: usize,
) -> Result<(ValidTransaction, Vec<u8>), TransactionError> {
    if encoded_len > crate::extrinsic::MAX_EXTRINSIC_LEN {
        return Err(ExtrinsicError::TooLong { len: encoded_len }.into());
    }
    let next_block = head.0.saturating_add(1);
    let (valid, era_hash) = check(
        state,
        xt,
        encoded_len,
        genesis_hash,
        next_block,
        false,
        Some(head),
    )?;
    let message = signing_message(&xt.call, &xt.extra, genesis_hash, &era_hash);
    Ok((valid, message))
}

/// [`validate_transaction`] for many extrinsics at once, each against the same `state`: the
/// unsigned checks one by one, then every signature in batches on all cores
/// ([`crate::extrinsic::verify_each`]). The verdicts are those [`validate_transaction`] gives
/// each extrinsic alone, in the same order.
pub fn validate_transactions(
    state: &impl StateRead,
    genesis_hash: &Hash,
    state_block: Hash,
    batch: &[(&Extrinsic, usize)],
) -> Vec<Result<ValidTransaction, TransactionError>> {
    let head = (System::block_number(&state), state_block);
    let checked: Vec<Result<(ValidTransaction, Vec<u8>), TransactionError>> = batch
        .iter()
        .map(|(xt, encoded_len)| check_for_pool(state, genesis_hash, head, xt, *encoded_len))
        .collect();
    let to_verify: Vec<(&Extrinsic, Vec<u8>)> = batch
        .iter()
        .zip(&checked)
        .filter_map(|((xt, _), checked)| checked.as_ref().ok().map(|(_, m)| (*xt, m.clone())))
        .collect();
    let mut signatures = crate::extrinsic::verify_each(&to_verify).into_iter();
    checked
        .into_iter()
        .map(|checked| {
            let (valid, _) = checked?;
            match signatures.next() {
                Some(Ok(())) => Ok(valid),
                Some(Err(error)) => Err(error.into()),
                None => Err(ExtrinsicError::Malformed("no signature verdict".to_owned()).into()),
            }
        })
        .collect()
}

/// Applies one extrinsic whose signature has been verified. Returns its weight.
fn apply_checked(
    ext: &mut Ext<'_>,
    xt: &Extrinsic,
    valid: &ValidTransaction,
    author: &AccountId,
) -> Weight {
    System::inc_nonce(ext, &xt.signer);
    Balances::pay_fee(ext, &xt.signer, author, valid.fee, xt.tip())
        .expect("the fee was checked to be payable just before");
    let result: DispatchResult = ext.transactional(|ext| dispatch(ext, &xt.signer, &xt.call));
    let event = match result {
        Ok(()) => pallet_system::Event::ExtrinsicSuccess {
            weight: valid.weight,
        },
        // A failed call is an ordinary outcome, recorded in the block's events.
        Err(error) => pallet_system::Event::ExtrinsicFailed {
            error,
            weight: valid.weight,
        },
    };
    System::deposit_event(ext, event);
    valid.weight
}

/// Routes a call to its pallet.
fn dispatch(ext: &mut Ext<'_>, who: &AccountId, call: &RuntimeCall) -> DispatchResult {
    match call {
        RuntimeCall::System(call) => System::dispatch(ext, who, call),
        RuntimeCall::Balances(call) => Balances::dispatch(ext, who, call),
        RuntimeCall::Staking(call) => Staking::dispatch(ext, who, call),
        RuntimeCall::Market(call) => Market::dispatch(ext, who, call),
        RuntimeCall::Jobs(call) => Jobs::dispatch(ext, who, call),
        RuntimeCall::Verification(call) => Verification::dispatch(ext, who, call),
    }
}

/// The start-of-block hooks, after the block's context and beacon are recorded and before any
/// extrinsic: verification draws the samples due in this block, from the parent's state and
/// this block's beacon, so that no transaction the proposer chooses can move a draw.
fn on_initialize(ext: &mut Ext<'_>) -> Weight {
    ext.set_phase(Phase::Initialization);
    Verification::on_initialize(ext)
}

/// The end-of-block hooks, in order: staking elects the next committee or starts an epoch
/// (at most once each per epoch), the market clears (its matches become jobs), jobs meet
/// their deadlines and settle, verification closes phases. Their weight is
/// bounded by the pallets' own bounds (candidates, open orders, due lists) and counted in the
/// block's.
fn on_finalize(ext: &mut Ext<'_>) -> Weight {
    ext.set_phase(Phase::Finalization);
    Staking::on_finalize(ext)
        .saturating_add(Market::on_finalize(ext))
        .saturating_add(Jobs::on_finalize(ext))
        .saturating_add(Verification::on_finalize(ext))
}

/// A block's outcome: what it changed and what happened.
#[derive(Debug)]
pub struct ExecutedBlock {
    /// State writes, to be applied on the parent's state.
    pub changes: Changes,
    /// Events in order.
    pub events: Vec<RawEvent>,
    /// Weight used.
    pub weight: Weight,
}

/// Executes `block` on `state` (the post-state of the block with hash `parent_hash`), with the
/// node's `referee` for calls that execute a disputed step.
pub fn execute_block(
    state: &dyn StateRead,
    referee: Option<Arc<dyn Referee>>,
    genesis_hash: &Hash,
    parent_hash: Hash,
    block: &Block,
) -> Result<ExecutedBlock, BlockError> {
    let header = &block.header;
    let computed = extrinsics_root(&block.extrinsics);
    if computed != header.extrinsics_root {
        return Err(BlockError::ExtrinsicsRoot {
            got: header.extrinsics_root,
            computed,
        });
    }
    let lens: Vec<usize> = block
        .extrinsics
        .iter()
        .map(|xt| xt.encoded_size())
        .collect();
    let total_len = lens
        .iter()
        .fold(0usize, |sum, len| sum.saturating_add(*len));
    if total_len > MAX_BLOCK_LEN {
        return Err(BlockError::TooLong { len: total_len });
    }

    let mut ext = Ext::new(state);
    ext.set_referee(referee);
    let context = BlockContext {
        number: header.number(),
        parent_hash: header.parent_hash,
        timestamp: header.timestamp,
    };
    let mut weight = System::on_initialize(&mut ext, &context, parent_hash)?;
    Staking::note_beacon(&mut ext, header.number(), &header.beacon)?;
    weight = weight.saturating_add(on_initialize(&mut ext));

    // Signatures first, all at once: era hashes only depend on blocks before this one.
    let mut messages = Vec::with_capacity(block.extrinsics.len());
    for (index, xt) in block.extrinsics.iter().enumerate() {
        let hash = era_hash(&ext, genesis_hash, &xt.extra.era, header.number(), None)
            .map_err(|error| BlockError::InvalidExtrinsic { index, error })?;
        messages.push((
            xt,
            signing_message(&xt.call, &xt.extra, genesis_hash, &hash),
        ));
    }
    verify_batch(&messages).map_err(|(index, error)| BlockError::InvalidExtrinsic {
        index,
        error: error.into(),
    })?;

    for (index, (xt, len)) in block.extrinsics.iter().zip(&lens).enumerate() {
        let invalid = |error| BlockError::InvalidExtrinsic { index, error };
        let (valid, _) =
            check(&ext, xt, *len, genesis_hash, header.number(), true, None).map_err(invalid)?;
        let weight_left = MAX_BLOCK_WEIGHT.saturating_sub(weight);
        if valid.weight > weight_left {
            return Err(invalid(TransactionError::ExhaustsBlock {
                weight: valid.weight,
                len: *len,
                weight_left,
                len_left: MAX_BLOCK_LEN.saturating_sub(total_len),
            }));
        }
        ext.set_phase(Phase::ApplyExtrinsic(
            u32::try_from(index).unwrap_or(u32::MAX),
        ));
        weight = weight.saturating_add(apply_checked(&mut ext, xt, &valid, &header.author));
        if let Some(error) = ext.take_undecided() {
            return Err(invalid(TransactionError::RefereeUndecided(error)));
        }
    }
    weight = weight.saturating_add(on_finalize(&mut ext));

    let (changes, events) = ext.into_changes();
    let computed = events_root(&events);
    if computed != header.events_root {
        return Err(BlockError::EventsRoot {
            got: header.events_root,
            computed,
        });
    }
    Ok(ExecutedBlock {
        changes,
        events,
        weight,
    })
}

/// Builds a block on a parent, one extrinsic at a time.
pub struct BlockBuilder<'a> {
    ext: Ext<'a>,
    genesis_hash: Hash,
    header: Header,
    extrinsics: Vec<Extrinsic>,
    weight: Weight,
    len: usize,
}

/// A built block before sealing: its state root is computed by the caller from `changes`.
pub struct BuiltBlock {
    /// Header with a zero state root.
    pub header: Header,
    /// Extrinsics included.
    pub extrinsics: Vec<Extrinsic>,
    /// State writes.
    pub changes: Changes,
    /// Events.
    pub events: Vec<RawEvent>,
    /// Weight used.
    pub weight: Weight,
}

impl BuiltBlock {
    /// The final block, with `state_root` filled in.
    pub fn seal(self, state_root: Hash) -> Block {
        self.into_sealed(state_root).0
    }

    /// The final block, with `state_root` filled in, and the block's state writes and events,
    /// handed over without copying them.
    pub fn into_sealed(self, state_root: Hash) -> (Block, Changes, Vec<RawEvent>) {
        let mut header = self.header;
        header.state_root = state_root;
        let block = Block {
            header,
            extrinsics: self.extrinsics,
        };
        (block, self.changes, self.events)
    }
}

impl<'a> BlockBuilder<'a> {
    /// Starts block `parent_number + 1` on `state`, the post-state of `parent_hash`, with the
    /// node's `referee` for calls that execute a disputed step, proposed by `proposer` (who
    /// signs the block's beacon proof).
    pub fn new(
        state: &'a dyn StateRead,
        referee: Option<Arc<dyn Referee>>,
        genesis_hash: Hash,
        parent_hash: Hash,
        timestamp: Moment,
        author: AccountId,
        proposer: &BeaconSigner,
    ) -> Result<Self, BlockError> {
        let beacon: BeaconProof = proposer.sign_next(&state);
        let number = System::block_number(&state).saturating_add(1);
        let mut ext = Ext::new(state);
        ext.set_referee(referee);
        let context = BlockContext {
            number,
            parent_hash,
            timestamp,
        };
        let weight = System::on_initialize(&mut ext, &context, parent_hash)?;
        Staking::note_beacon(&mut ext, number, &beacon)?;
        let weight = weight.saturating_add(on_initialize(&mut ext));
        let header = Header {
            parent_hash,
            number: Compact(number),
            timestamp,
            author,
            beacon,
            extrinsics_root: Hash::ZERO,
            state_root: Hash::ZERO,
            events_root: Hash::ZERO,
        };
        Ok(BlockBuilder {
            ext,
            genesis_hash,
            header,
            extrinsics: Vec::new(),
            weight,
            len: 0,
        })
    }

    /// Number of the block being built.
    pub fn number(&self) -> BlockNumber {
        self.header.number()
    }

    /// Applies `xt` (signature verified here) if it is includable; otherwise leaves the block
    /// as it was and says why.
    pub fn push(&mut self, xt: Extrinsic) -> Result<(), TransactionError> {
        self.push_checked(xt, None)
    }

    /// [`BlockBuilder::push`] for an extrinsic whose signature was already verified with the
    /// era hash `verified_with` (the transaction pool verifies every extrinsic on admission,
    /// [`ValidTransaction::era_hash`]): the signed message depends only on the extrinsic, the
    /// genesis hash and that era hash, so where this block's era hash is the same the verdict
    /// is too, and verifying again would bound block production by one thread's signature
    /// checks (the other validators still verify every signature when they import the block).
    /// Where it differs — a mortal era moved on to another birth block while the extrinsic
    /// waited in the pool — the signature is verified here, and fails: skipped, it made a
    /// block every other validator refuses, built again by every leader holding the extrinsic.
    pub fn push_preverified(
        &mut self,
        xt: Extrinsic,
        verified_with: &Hash,
    ) -> Result<(), TransactionError> {
        self.push_checked(xt, Some(verified_with))
    }

    /// Applies `xt`, verifying its signature unless it was verified with the era hash this
    /// block gives it (`verified_with`).
    fn push_checked(
        &mut self,
        xt: Extrinsic,
        verified_with: Option<&Hash>,
    ) -> Result<(), TransactionError> {
        let len = xt.encoded_size();
        let (valid, era_hash) = check(
            &self.ext,
            &xt,
            len,
            &self.genesis_hash,
            self.number(),
            true,
            None,
        )?;
        let weight_left = MAX_BLOCK_WEIGHT.saturating_sub(self.weight);
        let len_left = MAX_BLOCK_LEN.saturating_sub(self.len);
        if valid.weight > weight_left || len > len_left {
            return Err(TransactionError::ExhaustsBlock {
                weight: valid.weight,
                len,
                weight_left,
                len_left,
            });
        }
        if verified_with != Some(&era_hash) {
            xt.verify_signature(&signing_message(
                &xt.call,
                &xt.extra,
                &self.genesis_hash,
                &era_hash,
            ))?;
        }
        let index = u32::try_from(self.extrinsics.len()).unwrap_or(u32::MAX);
        self.ext.set_phase(Phase::ApplyExtrinsic(index));
        let author = self.header.author;
        // A call this node's referee cannot decide stays out of the block, fee and nonce too.
        let used = self.ext.transactional(|ext| {
            let used = apply_checked(ext, &xt, &valid, &author);
            match ext.take_undecided() {
                Some(error) => Err(TransactionError::RefereeUndecided(error)),
                None => Ok(used),
            }
        })?;
        self.weight = self.weight.saturating_add(used);
        self.len = self.len.saturating_add(len);
        self.extrinsics.push(xt);
        Ok(())
    }

    /// Whether another extrinsic of base weight could still fit.
    pub fn is_full(&self) -> bool {
        MAX_BLOCK_WEIGHT.saturating_sub(self.weight) < EXTRINSIC_BASE_WEIGHT
    }

    /// Finishes the block.
    pub fn finish(mut self) -> BuiltBlock {
        self.weight = self.weight.saturating_add(on_finalize(&mut self.ext));
        let (changes, events) = self.ext.into_changes();
        let mut header = self.header;
        header.extrinsics_root = extrinsics_root(&self.extrinsics);
        header.events_root = events_root(&events);
        BuiltBlock {
            header,
            extrinsics: self.extrinsics,
            changes,
            events,
            weight: self.weight,
        }
    }
}

/// A convenience for clients: the `SignedExtra` of an immortal extrinsic.
pub fn immortal_extra(nonce: Nonce, tip: Balance) -> crate::extrinsic::SignedExtra {
    crate::extrinsic::SignedExtra {
        era: Era::Immortal,
        nonce: Compact(nonce),
        tip: Compact(tip),
    }
}
