//! The transaction pool.
//!
//! # Admission
//!
//! An extrinsic enters the pool only if all of these hold, checked in this order so the cheap
//! checks run first:
//!
//! 1. its encoding is at most `MAX_EXTRINSIC_LEN` bytes, decodes exactly, has a known version;
//! 2. it is not already in the pool;
//! 3. the runtime's `validate_transaction` accepts it against the finalized state: signature, era,
//!    nonce not stale, fee payable;
//! 4. its nonce is exactly the signer's next one *counting the signer's extrinsics already in
//!    the pool*, or it waits (below);
//! 5. the signer's free balance covers the fees of all its pooled extrinsics plus this one;
//! 6. the pool has room: at most [`PoolLimits::max_count`] extrinsics, [`PoolLimits::max_bytes`]
//!    bytes, and [`PoolLimits::max_per_signer`] per signer.
//!
//! # Waiting for a gap to fill
//!
//! A wallet that sends several extrinsics at once cannot make them arrive in nonce order, and
//! a relay can reorder them too. An extrinsic whose nonce is ahead of the signer's next one by
//! at most [`PoolLimits::max_ahead`] therefore waits, outside the ready set, instead of being
//! refused; further ahead it is refused as a gap. When the gap fills (the missing extrinsic
//! is admitted, or a block includes it) the waiting ones enter in nonce order, each passing
//! rules 5 and 6 then; one that fails them is dropped. Waiting extrinsics are bounded apart
//! from ready ones: at most [`PoolLimits::max_waiting`] of them and
//! [`PoolLimits::max_waiting_bytes`], and each is dropped after [`WAIT_PRUNES`] prunes
//! (finalized blocks) without its gap filling. Their budget is their own so that they cannot
//! crowd out ready extrinsics: an account that parks extrinsics it never completes pays no fee
//! for them. For the same reason the budget is shared fairly among signers: when it is full,
//! an extrinsic still parks if some signer holds strictly more of the exceeded bound
//! (extrinsics, or bytes) than the newcomer's signer would with it; the largest holder then
//! loses its highest nonce (reported dropped), until there is room. Without it, four accounts
//! resending 64 parked extrinsics of 16 KiB as each expired kept the budget full for good and
//! every other signer's out-of-order extrinsic was refused as a gap; now shutting out a
//! signer's first parked extrinsic of L bytes takes about min([`PoolLimits::max_waiting`],
//! [`PoolLimits::max_waiting_bytes`] ÷ L) funded accounts.
//!
//! # Order
//!
//! Ready extrinsics are handed to the block builder in arrival order, which per signer is
//! nonce order (rule 4). Arrival order is explicit (a counter), never hash-map order.
//!
//! # Relaying again
//!
//! A node relays the extrinsics submitted to it once, at submission, to every peer
//! ([`relay`](crate::consensus::relay)); a node that builds no blocks (a full node) depends on that
//! relay reaching a validator. A relay can be lost (a peer restarting, a peer whose waiting
//! budget was full, a lossy link), and a client resending the extrinsic is told it is already
//! pooled. So the pool remembers which ready extrinsics are [`Origin::Local`] and hands them
//! out to be relayed again ([`TxPool::take_relay_due`]) while they stay pooled: first
//! [`RELAY_AGAIN_FIRST`] prunes after they became ready, then at doubling intervals, the
//! last after an interval of [`RELAY_AGAIN_LAST`] prunes (with the defaults at 4, 12, 28, 60
//! and 124 prunes), at most a given number and size per prune. A prune is one finalization,
//! which may commit several blocks. A local extrinsic that was waiting for a gap is due at
//! the first prune after it becomes ready: its relay at submission may have met peers that
//! could not park it. Extrinsics relayed by peers are never relayed again here; their own
//! node does that. The cost is bounded per extrinsic, not only per prune: a local extrinsic
//! that no block takes and that peers no longer hold (one only a referee this node lacks can
//! decide, dropped by every builder) costs each peer a signature check per relay, five
//! times at most; one whose era ended is pruned (below).
//!
//! # Pruning
//!
//! After each finalized block, extrinsics whose nonce is now stale are removed; they were
//! included, or replaced by another extrinsic with the same nonce. So are those whose mortal
//! era no longer covers the next block, and those ready for [`READY_PRUNES`] prunes without
//! a finalized block including them, each with its signer's later nonces. The lifetime is for
//! nodes that build no blocks: a builder drops what it cannot include (below), but a full
//! node cannot tell an extrinsic no builder will take (a referee call no node can decide)
//! from one still on its way, and kept for good such extrinsics filled its pool and every
//! later submission to it was refused; the client's resubmission of an expired one is
//! admitted afresh.
//!
//! Rule 5 is checked again after each finalization for the signers of the finalized blocks,
//! against the best state ([`TxPool::reject_unpayable`]): the first extrinsic of a signer
//! whose fee (with its earlier ones') the signer can no longer pay is dropped with every
//! later nonce, on every node, validator or not. An extrinsic the block builder finds no longer
//! valid (its fee cannot be paid any more, say, after an earlier one of its signer emptied the
//! account) is dropped the same way ([`TxPool::reject`]): they cannot be included before a new extrinsic takes
//! the dropped nonce, and kept ready they would make that new one a nonce gap and hold the
//! pool's room for good (ready extrinsics never expire).

use agora_primitives::storage::StateRead;
use agora_primitives::{AccountId, Balance, BlockNumber, Hash, Nonce};
#[cfg(doc)]
use agora_runtime::executive::validate_transactions;
use agora_runtime::executive::{validate_transaction, TransactionError, ValidTransaction};
use agora_runtime::extrinsic::{Extrinsic, ExtrinsicError};
use parity_scale_codec::Encode as _;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

mod waiting;

/// Bounds of the pool.
#[derive(Clone, Copy, Debug)]
pub struct PoolLimits {
    /// Most ready extrinsics held.
    pub max_count: usize,
    /// Most encoded bytes of ready extrinsics held.
    pub max_bytes: usize,
    /// Most ready extrinsics of one signer held.
    pub max_per_signer: usize,
    /// Most extrinsics waiting for a gap to fill, all signers together.
    pub max_waiting: usize,
    /// Most encoded bytes of waiting extrinsics held.
    pub max_waiting_bytes: usize,
    /// How far ahead of a signer's next nonce an extrinsic may wait.
    pub max_ahead: Nonce,
}

impl Default for PoolLimits {
    fn default() -> Self {
        PoolLimits {
            max_count: 65_536,
            max_bytes: 64 * 1024 * 1024,
            max_per_signer: 1_024,
            max_waiting: 4_096,
            max_waiting_bytes: 4 * 1024 * 1024,
            max_ahead: 64,
        }
    }
}

/// Prunes (one per finalized block) a waiting extrinsic survives without its gap filling.
pub const WAIT_PRUNES: u64 = 64;

/// Most waiting extrinsics one park evicts to make room for itself (module doc): a newcomer of
/// 16 KiB finds its room in the waiting extrinsics of 512 bytes or more.
pub const MAX_EVICTIONS: usize = 32;

/// Prunes a ready extrinsic survives without a finalized block including it (module doc,
/// "Pruning").
pub const READY_PRUNES: u64 = 256;

/// Prunes after a local extrinsic became ready before it is relayed again if still pooled.
pub const RELAY_AGAIN_FIRST: u64 = 4;

/// The longest interval, in prunes, between two relays of a local extrinsic still pooled.
pub const RELAY_AGAIN_LAST: u64 = 64;

/// Where a pooled extrinsic came from: it decides whether this node relays it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Submitted to this node: relayed by it, and again while it stays pooled (module doc).
    Local,
    /// Relayed by a peer, which relays it again if need be.
    Peer,
}

/// When a local ready extrinsic is relayed again.
#[derive(Clone, Copy, Debug)]
struct RelayAgain {
    /// The prune count at which it is due.
    due: u64,
    /// Prunes from then to the relay after.
    interval: u64,
}

/// Why the pool refused an extrinsic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The runtime refused it.
    #[error(transparent)]
    Invalid(#[from] TransactionError),
    /// Already pooled.
    #[error("extrinsic {0} is already in the pool")]
    AlreadyImported(Hash),
    /// Its nonce leaves a gap after the signer's pooled extrinsics longer than the pool waits
    /// for.
    #[error("nonce {nonce} of {signer} leaves a gap: the next nonce, counting pooled extrinsics, is {expected}, and the pool waits for at most {ahead} ahead")]
    NonceGap {
        /// Signer.
        signer: AccountId,
        /// Nonce given.
        nonce: Nonce,
        /// Nonce expected.
        expected: Nonce,
        /// How far ahead an extrinsic may wait ([`PoolLimits::max_ahead`]).
        ahead: Nonce,
    },
    /// Its nonce repeats one already pooled.
    #[error("nonce {nonce} of {signer} is already used by an extrinsic in the pool")]
    NonceInPool {
        /// Signer.
        signer: AccountId,
        /// Nonce given.
        nonce: Nonce,
    },
    /// The signer cannot pay for everything it has pooled plus this.
    #[error("{signer} cannot pay fees of {needed} plancks for its pooled extrinsics: free balance is {free} plancks")]
    CannotPayPooledFees {
        /// Signer.
        signer: AccountId,
        /// Fees of all its pooled extrinsics and this one.
        needed: Balance,
        /// Its free balance.
        free: Balance,
    },
    /// The pool is full.
    #[error("the transaction pool is full ({0})")]
    Full(&'static str),
}

/// A pooled extrinsic.
#[derive(Clone, Debug)]
pub struct PooledTx {
    /// blake3 of its encoding.
    pub hash: Hash,
    /// The extrinsic.
    pub xt: Extrinsic,
    /// Its encoded length.
    pub len: usize,
    /// The fee it pays, tip included.
    pub fee: Balance,
    /// The era hash its signature was verified with on admission
    /// ([`ValidTransaction::era_hash`]).
    pub era_hash: Hash,
    /// The first block its era no longer covers ([`ValidTransaction::death`]).
    pub death: BlockNumber,
    /// The prune count when it became ready.
    pub since: u64,
}

/// An extrinsic waiting for its signer's gap to fill.
#[derive(Clone, Debug)]
struct Waiting {
    hash: Hash,
    xt: Extrinsic,
    len: usize,
    /// Its signer, nonce, fee and weight, as validated on arrival.
    valid: ValidTransaction,
    /// The prune count when it arrived.
    since: u64,
    origin: Origin,
}

/// The pool. Not thread-safe by itself; the chain keeps it behind its lock.
#[derive(Default)]
pub struct TxPool {
    limits: PoolLimits,
    /// Arrival number → extrinsic; iteration gives arrival order.
    by_arrival: BTreeMap<u64, PooledTx>,
    /// Hash → arrival number.
    by_hash: HashMap<Hash, u64>,
    /// Signer → (nonce → arrival number).
    by_signer: BTreeMap<AccountId, BTreeMap<Nonce, u64>>,
    /// Signer → the fees of its ready extrinsics, summed: rule 5 reads it on every admission
    /// (summing the signer's extrinsics there made admission quadratic in a signer's count:
    /// over 6 % of a loaded node's samples, under the chain's lock, at 1,024 a signer).
    fees_by_signer: BTreeMap<AccountId, Balance>,
    /// Signer → (nonce → extrinsic waiting for the gap before it to fill).
    waiting: BTreeMap<AccountId, BTreeMap<Nonce, Waiting>>,
    /// Hashes of the waiting extrinsics.
    waiting_hashes: HashSet<Hash>,
    next_arrival: u64,
    /// Encoded bytes of the ready extrinsics.
    bytes: usize,
    /// Encoded bytes of the waiting extrinsics.
    waiting_bytes: usize,
    /// Prunes so far: the pool's clock for [`WAIT_PRUNES`].
    prunes: u64,
    /// Waiting extrinsics dropped when an admission filled their gap, until
    /// [`TxPool::take_dropped`] reports them.
    dropped: Vec<Hash>,
    /// Arrival number → when a ready [`Origin::Local`] extrinsic is relayed again.
    relay_again: BTreeMap<u64, RelayAgain>,
    /// (Due prune, arrival number) of every entry of `relay_again`, soonest first.
    relay_due: BTreeSet<(u64, u64)>,
    /// (Death, arrival number) of every ready extrinsic with a mortal era, soonest first.
    by_death: BTreeSet<(BlockNumber, u64)>,
    /// Signer → (extrinsics, bytes) it has waiting.
    waiting_held: BTreeMap<AccountId, (usize, usize)>,
    /// (extrinsics, bytes, signer) of every waiting signer: the largest holder by count last.
    holders_by_count: BTreeSet<(usize, usize, AccountId)>,
    /// (bytes, extrinsics, signer) of every waiting signer: the largest by bytes last.
    holders_by_bytes: BTreeSet<(usize, usize, AccountId)>,
}

impl TxPool {
    /// An empty pool with `limits`.
    pub fn new(limits: PoolLimits) -> Self {
        TxPool {
            limits,
            ..TxPool::default()
        }
    }

    /// Number of ready extrinsics.
    pub fn len(&self) -> usize {
        self.by_arrival.len()
    }

    /// Number of extrinsics waiting for a gap to fill.
    pub fn waiting_len(&self) -> usize {
        self.waiting_hashes.len()
    }

    /// Whether `hash` is pooled, ready or waiting.
    pub fn contains(&self, hash: &Hash) -> bool {
        self.by_hash.contains_key(hash) || self.waiting_hashes.contains(hash)
    }

    /// The next nonce of `signer` counting its pooled extrinsics, given its nonce in the state.
    pub fn next_nonce(&self, signer: &AccountId, state_nonce: Nonce) -> Nonce {
        match self
            .by_signer
            .get(signer)
            .and_then(|nonces| nonces.keys().next_back())
        {
            Some(last) if *last >= state_nonce => last.saturating_add(1),
            _ => state_nonce,
        }
    }

    /// Validates `bytes` against `state`, the post-state of block `state_block`, and pools it
    /// as submitted here ([`Origin::Local`]; rules 1 to 6 of the module doc, in order).
    pub fn submit(
        &mut self,
        state: &impl StateRead,
        genesis_hash: &Hash,
        state_block: Hash,
        bytes: &[u8],
    ) -> Result<Hash, PoolError> {
        let xt = Extrinsic::decode_bounded(bytes).map_err(TransactionError::from)?;
        let hash = agora_runtime::extrinsic::hash_of(bytes);
        if self.contains(&hash) {
            return Err(PoolError::AlreadyImported(hash));
        }
        let valid = validate_transaction(state, genesis_hash, state_block, &xt, bytes.len())?;
        self.admit(state, hash, xt, bytes.len(), valid, Origin::Local)
    }

    /// Admits extrinsic `xt` (encoded in `len` bytes, hashing to `hash`) whose runtime checks
    /// (rule 3, signature included) passed against `state`, as [`validate_transactions`] does
    /// for a batch outside the pool's lock: rules 2 and 4 to 6. `origin` decides whether it
    /// is relayed again (module doc).
    pub fn admit(
        &mut self,
        state: &impl StateRead,
        hash: Hash,
        xt: Extrinsic,
        len: usize,
        valid: ValidTransaction,
        origin: Origin,
    ) -> Result<Hash, PoolError> {
        if self.contains(&hash) {
            return Err(PoolError::AlreadyImported(hash));
        }
        let expected = self.check_nonce(&valid)?;
        if valid.nonce != expected {
            self.park(hash, xt, len, valid, origin)?;
            return Ok(hash);
        }
        self.check_fees(state, &valid)?;
        self.check_room(&valid.signer, len)?;
        // Relayed at submission: again only if it is still pooled a few prunes on.
        let relay_due = self.prunes.saturating_add(RELAY_AGAIN_FIRST);
        self.insert(
            hash,
            xt,
            len,
            &valid,
            (origin == Origin::Local).then_some(relay_due),
        );
        let dropped = self.promote(state, &valid.signer, valid.account_nonce);
        self.dropped.extend(dropped);
        Ok(hash)
    }

    /// The waiting extrinsics that admissions dropped since the last call (their gap filled,
    /// but they failed rules 5 or 6 then), for the chain to report as dropped. At most
    /// [`PoolLimits::max_waiting`] accumulate between calls.
    pub fn take_dropped(&mut self) -> Vec<Hash> {
        std::mem::take(&mut self.dropped)
    }

    /// Rule 4 of the module doc: the nonce is not taken in the pool (ready or waiting) and is
    /// at most [`PoolLimits::max_ahead`] past the signer's next one, counting its pooled
    /// extrinsics. Returns that next nonce.
    fn check_nonce(&self, valid: &ValidTransaction) -> Result<Nonce, PoolError> {
        let taken = self
            .by_signer
            .get(&valid.signer)
            .is_some_and(|nonces| nonces.contains_key(&valid.nonce))
            || self
                .waiting
                .get(&valid.signer)
                .is_some_and(|nonces| nonces.contains_key(&valid.nonce));
        if taken {
            return Err(PoolError::NonceInPool {
                signer: valid.signer,
                nonce: valid.nonce,
            });
        }
        let expected = self.next_nonce(&valid.signer, valid.account_nonce);
        // `validate_transaction` refused stale nonces, so `nonce < expected` is a nonce a
        // pooled extrinsic holds, caught above; anything else below `expected` is refused too.
        if valid.nonce < expected || valid.nonce.saturating_sub(expected) > self.limits.max_ahead {
            return Err(PoolError::NonceGap {
                signer: valid.signer,
                nonce: valid.nonce,
                expected,
                ahead: self.limits.max_ahead,
            });
        }
        Ok(expected)
    }

    /// Rule 5: the signer's free balance in `state` covers the fees of all its pooled extrinsics and
    /// this one.
    fn check_fees(
        &self,
        state: &impl StateRead,
        valid: &ValidTransaction,
    ) -> Result<(), PoolError> {
        let pooled_fees = self.fees_by_signer.get(&valid.signer).copied().unwrap_or(0);
        let needed = pooled_fees.saturating_add(valid.fee);
        let free = agora_runtime::Balances::free_balance(state, &valid.signer);
        if needed > free {
            return Err(PoolError::CannotPayPooledFees {
                signer: valid.signer,
                needed,
                free,
            });
        }
        Ok(())
    }

    /// Rule 6: the pool's bounds leave room for one more extrinsic of `len` bytes from `signer`.
    fn check_room(&self, signer: &AccountId, len: usize) -> Result<(), PoolError> {
        if self.len() >= self.limits.max_count {
            return Err(PoolError::Full("too many extrinsics"));
        }
        if self.bytes.saturating_add(len) > self.limits.max_bytes {
            return Err(PoolError::Full("too many bytes"));
        }
        if self.by_signer.get(signer).map_or(0, BTreeMap::len) >= self.limits.max_per_signer {
            return Err(PoolError::Full("too many extrinsics from this signer"));
        }
        Ok(())
    }

    /// Pools an admitted extrinsic as the newest arrival, to be relayed again at prune
    /// `relay_due` if it is local.
    fn insert(
        &mut self,
        hash: Hash,
        xt: Extrinsic,
        len: usize,
        valid: &ValidTransaction,
        relay_due: Option<u64>,
    ) {
        let arrival = self.next_arrival;
        self.next_arrival = self.next_arrival.saturating_add(1);
        if let Some(due) = relay_due {
            let interval = RELAY_AGAIN_FIRST;
            self.relay_again
                .insert(arrival, RelayAgain { due, interval });
            self.relay_due.insert((due, arrival));
        }
        self.by_signer
            .entry(valid.signer)
            .or_default()
            .insert(valid.nonce, arrival);
        let fees = self.fees_by_signer.entry(valid.signer).or_default();
        *fees = fees.saturating_add(valid.fee);
        self.by_hash.insert(hash, arrival);
        self.bytes = self.bytes.saturating_add(len);
        if valid.death != BlockNumber::MAX {
            self.by_death.insert((valid.death, arrival));
        }
        self.by_arrival.insert(
            arrival,
            PooledTx {
                hash,
                xt,
                len,
                fee: valid.fee,
                era_hash: valid.era_hash,
                death: valid.death,
                since: self.prunes,
            },
        );
    }

    /// Pooled extrinsics in arrival order, at most `limit`.
    pub fn ready(&self, limit: usize) -> Vec<PooledTx> {
        self.by_arrival.values().take(limit).cloned().collect()
    }

    /// The encodings of local ready extrinsics due to be relayed again (module doc), soonest
    /// due first, at most `limit` of them and, but for the first, `max_bytes`; each is
    /// scheduled again at double its last interval, and after the relay that closed an
    /// interval of [`RELAY_AGAIN_LAST`] prunes never again. Bounded by `limit` and the pool's
    /// ready extrinsics.
    pub fn take_relay_due(&mut self, limit: usize, max_bytes: usize) -> Vec<Vec<u8>> {
        let mut due = Vec::new();
        let mut bytes_taken = 0usize;
        while due.len() < limit {
            let Some(&(at, arrival)) = self.relay_due.first() else {
                break;
            };
            if at > self.prunes {
                break;
            }
            let len = self.by_arrival.get(&arrival).map_or(0, |tx| tx.len);
            if !due.is_empty() && bytes_taken.saturating_add(len) > max_bytes {
                break;
            }
            bytes_taken = bytes_taken.saturating_add(len);
            self.relay_due.remove(&(at, arrival));
            let (Some(tx), Some(again)) = (
                self.by_arrival.get(&arrival),
                self.relay_again.get_mut(&arrival),
            ) else {
                debug_assert!(false, "relay_due names arrival {arrival}, not pooled");
                self.relay_again.remove(&arrival);
                continue;
            };
            // Blocks carry extrinsics decoded and hash their encoding again, so a pooled
            // extrinsic's encoding is its bytes; one that is not could never be matched with
            // its inclusion, and is not relayed again.
            let bytes = tx.xt.encode();
            if agora_runtime::extrinsic::hash_of(&bytes) != tx.hash {
                self.relay_again.remove(&arrival);
                continue;
            }
            if again.interval >= RELAY_AGAIN_LAST {
                // The last: a local extrinsic no block took in all that time (one only a
                // referee this node lacks can decide, say) is not sent to every peer for ever.
                self.relay_again.remove(&arrival);
            } else {
                again.interval = again.interval.saturating_mul(2).min(RELAY_AGAIN_LAST);
                again.due = self.prunes.saturating_add(again.interval);
                self.relay_due.insert((again.due, arrival));
            }
            due.push(bytes);
        }
        due
    }

    /// Removes one extrinsic.
    pub fn remove(&mut self, hash: &Hash) -> Option<PooledTx> {
        let arrival = self.by_hash.remove(hash)?;
        let tx = self.by_arrival.remove(&arrival)?;
        if let Some(again) = self.relay_again.remove(&arrival) {
            self.relay_due.remove(&(again.due, arrival));
        }
        self.by_death.remove(&(tx.death, arrival));
        if let Some(nonces) = self.by_signer.get_mut(&tx.xt.signer) {
            nonces.remove(&tx.xt.nonce());
            if nonces.is_empty() {
                self.by_signer.remove(&tx.xt.signer);
                self.fees_by_signer.remove(&tx.xt.signer);
            } else if let Some(fees) = self.fees_by_signer.get_mut(&tx.xt.signer) {
                *fees = fees.saturating_sub(tx.fee);
            }
        }
        self.bytes = self.bytes.saturating_sub(tx.len);
        Some(tx)
    }

    /// Drops `hash`, an extrinsic a block builder found invalid (its fee cannot be paid any
    /// more, say), and every later nonce of its signer, ready or waiting: none of them can be
    /// included before a new extrinsic takes the dropped nonce, and while they stayed pooled
    /// that new one was refused as a nonce gap, so they held the pool's room for good.
    /// Returns the hashes removed, `hash` first; empty if `hash` is not pooled. Bounded by the
    /// signer's pooled extrinsics.
    pub fn reject(&mut self, hash: &Hash) -> Vec<Hash> {
        let Some(tx) = self.remove(hash) else {
            return Vec::new();
        };
        let (signer, nonce) = (tx.xt.signer, tx.xt.nonce());
        let mut removed = vec![tx.hash];
        let later: Vec<Hash> = self.by_signer.get(&signer).map_or_else(Vec::new, |nonces| {
            nonces
                .range(nonce..)
                .filter_map(|(_, arrival)| self.by_arrival.get(arrival).map(|tx| tx.hash))
                .collect()
        });
        for hash in later {
            self.remove(&hash);
            removed.push(hash);
        }
        let waiting: Vec<Nonce> = self
            .waiting
            .get(&signer)
            .map(|nonces| nonces.range(nonce..).map(|(n, _)| *n).collect())
            .unwrap_or_default();
        for later in waiting {
            if let Some(waiting) = self.unpark(&signer, later) {
                removed.push(waiting.hash);
            }
        }
        removed
    }

    /// Drops every extrinsic whose nonce is below its signer's nonce in `state` (the finalized
    /// state), and every one whose era no longer covers the next block or that has been ready
    /// for [`READY_PRUNES`] prunes, with its signer's later nonces (they became gaps). Returns
    /// the hashes removed.
    ///
    /// Then the waiting extrinsics: those whose nonce went stale, whose era ended, or that
    /// waited [`WAIT_PRUNES`] prunes, are dropped (and returned too); those whose gap the
    /// blocks filled enter the ready set.
    pub fn prune_stale(&mut self, state: &impl StateRead) -> Vec<Hash> {
        self.prunes = self.prunes.saturating_add(1);
        let mut stale = Vec::new();
        for (signer, nonces) in &self.by_signer {
            let state_nonce = agora_runtime::System::account_nonce(state, signer);
            for (_, arrival) in nonces.range(..state_nonce) {
                if let Some(tx) = self.by_arrival.get(arrival) {
                    stale.push(tx.hash);
                }
            }
        }
        for hash in &stale {
            self.remove(hash);
        }
        // Past their era: no block can include them any more (kept, they were relayed again,
        // and held their signer's later nonces as gaps).
        let next_block = agora_runtime::System::block_number(state).saturating_add(1);
        let dead: Vec<Hash> = self
            .by_death
            .iter()
            .take_while(|(death, _)| *death <= next_block)
            .filter_map(|(_, arrival)| self.by_arrival.get(arrival).map(|tx| tx.hash))
            .collect();
        for hash in dead {
            stale.extend(self.reject(&hash));
        }
        // Ready too long: arrival order is age order, so the old ones lead.
        let expired: Vec<Hash> = self
            .by_arrival
            .values()
            .take_while(|tx| self.prunes.saturating_sub(tx.since) > READY_PRUNES)
            .map(|tx| tx.hash)
            .collect();
        for hash in expired {
            stale.extend(self.reject(&hash));
        }
        let signers: Vec<AccountId> = self.waiting.keys().copied().collect();
        for signer in signers {
            let state_nonce = agora_runtime::System::account_nonce(state, &signer);
            let expired: Vec<Nonce> = self.waiting.get(&signer).map_or_else(Vec::new, |nonces| {
                nonces
                    .iter()
                    .filter(|(nonce, waiting)| {
                        **nonce < state_nonce
                            || waiting.valid.death <= next_block
                            || self.prunes.saturating_sub(waiting.since) > WAIT_PRUNES
                    })
                    .map(|(nonce, _)| *nonce)
                    .collect()
            });
            for nonce in expired {
                if let Some(waiting) = self.unpark(&signer, nonce) {
                    stale.push(waiting.hash);
                }
            }
            stale.extend(self.promote(state, &signer, state_nonce));
        }
        stale
    }
}

impl TxPool {
    /// Rule 5 again, for `signers` against `best` (the best block's state): the first of a
    /// signer's ready extrinsics not yet in the best chain (nonce order) whose fee, with
    /// those of its earlier ones, its free balance no longer covers is rejected with every
    /// later nonce ([`TxPool::reject`]). Returns the hashes removed. Bounded by the signers'
    /// pooled extrinsics.
    ///
    /// Admission checked fees against the balance then; an earlier extrinsic of the signer
    /// may since have spent it. A validator's block builder finds such extrinsics and rejects
    /// them, but a full node builds no blocks: without this, extrinsics that can never pay,
    /// parked behind a transfer of the whole balance, stayed ready on it for good (ready
    /// extrinsics never expire), and a few accounts filled its pool's bytes so that every
    /// later submission to it was refused. The node passes the signers of the blocks it just
    /// finalized: only a signer's own extrinsics spend its balance (a slash aside), so the
    /// check costs reads in proportion to the blocks, not to the pool. The best state, not the
    /// finalized one, so that funds an unfinalized block brings count.
    pub fn reject_unpayable(
        &mut self,
        best: &impl StateRead,
        signers: impl IntoIterator<Item = AccountId>,
    ) -> Vec<Hash> {
        let mut unpayable = Vec::new();
        for signer in signers {
            let Some(nonces) = self.by_signer.get(&signer) else {
                continue;
            };
            let included_through = agora_runtime::System::account_nonce(best, &signer);
            let free = agora_runtime::Balances::free_balance(best, &signer);
            let mut needed: Balance = 0;
            for arrival in nonces.range(included_through..).map(|(_, arrival)| arrival) {
                let Some(tx) = self.by_arrival.get(arrival) else {
                    continue;
                };
                needed = needed.saturating_add(tx.fee);
                if needed > free {
                    unpayable.push(tx.hash);
                    break;
                }
            }
        }
        unpayable
            .iter()
            .flat_map(|hash| self.reject(hash))
            .collect()
    }
}

impl From<ExtrinsicError> for PoolError {
    fn from(error: ExtrinsicError) -> Self {
        PoolError::Invalid(TransactionError::Extrinsic(error))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use agora_primitives::storage::apply_changes;
    use agora_primitives::AGR;
    use agora_runtime::executive::immortal_extra;
    use agora_runtime::genesis::{dev_account, ChainSpec};
    use agora_runtime::RuntimeCall;
    use parity_scale_codec::{Compact, Encode};
    use sp_core::{sr25519, Pair};

    fn setup() -> (BTreeMap<Vec<u8>, Vec<u8>>, Hash) {
        let genesis = ChainSpec::development().genesis();
        let mut state = BTreeMap::new();
        apply_changes(&mut state, &genesis.changes);
        (state, genesis.block.hash())
    }

    fn signed(genesis: &Hash, who: &str, nonce: Nonce) -> Vec<u8> {
        let signer = sr25519::Pair::from_string(&format!("//{who}"), None).unwrap();
        let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: dev_account("Bob"),
            value: Compact(AGR),
        });
        Extrinsic::sign(&signer, call, immortal_extra(nonce, 0), genesis, genesis).encode()
    }

    /// The nonces of the ready extrinsics, in the order the block builder gets them.
    fn ready_nonces(pool: &TxPool) -> Vec<Nonce> {
        pool.ready(10).iter().map(|tx| tx.xt.nonce()).collect()
    }

    #[test]
    fn admits_in_nonce_order_and_refuses_gaps_and_duplicates() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let first = signed(&genesis, "Alice", 0);
        pool.submit(&state, &genesis, genesis, &first).unwrap();
        assert!(matches!(
            pool.submit(&state, &genesis, genesis, &first),
            Err(PoolError::AlreadyImported(_))
        ));
        // Further ahead than the pool waits for: a gap.
        let far = signed(&genesis, "Alice", 66);
        assert!(matches!(
            pool.submit(&state, &genesis, genesis, &far),
            Err(PoolError::NonceGap {
                nonce: 66,
                expected: 1,
                ahead: 64,
                ..
            })
        ));
        // Within it: waits, not ready, until nonce 1 fills the gap.
        let ahead = signed(&genesis, "Alice", 2);
        pool.submit(&state, &genesis, genesis, &ahead).unwrap();
        assert_eq!((pool.len(), pool.waiting_len()), (1, 1));
        assert_eq!(pool.next_nonce(&dev_account("Alice"), 0), 1);
        assert!(matches!(
            pool.submit(&state, &genesis, genesis, &ahead),
            Err(PoolError::AlreadyImported(_))
        ));
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 1))
            .unwrap();
        assert_eq!(
            ready_nonces(&pool),
            vec![0, 1, 2],
            "nonce 2 entered after nonce 1"
        );
        assert_eq!(pool.waiting_len(), 0);
        assert_eq!(pool.next_nonce(&dev_account("Alice"), 0), 3);
    }

    #[test]
    fn waiting_extrinsics_enter_in_nonce_order_whatever_their_arrival() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        for nonce in [3, 1, 2] {
            pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", nonce))
                .unwrap();
        }
        assert_eq!((pool.len(), pool.waiting_len()), (0, 3));
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 0))
            .unwrap();
        assert_eq!(ready_nonces(&pool), vec![0, 1, 2, 3]);
        assert_eq!(pool.waiting_len(), 0);
    }

    #[test]
    fn a_gap_filled_by_a_block_lets_the_waiting_extrinsic_in() {
        let (mut state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let waiting = signed(&genesis, "Alice", 1);
        pool.submit(&state, &genesis, genesis, &waiting).unwrap();
        // Another node's block used Alice's nonce 0.
        let key = pallet_system::AccountNonce::key(&dev_account("Alice"));
        state.insert(key, pallet_system::AccountInfo { nonce: 1 }.encode());
        assert_eq!(
            pool.prune_stale(&state),
            Vec::<Hash>::new(),
            "nothing dropped"
        );
        assert_eq!(ready_nonces(&pool), vec![1]);
        assert_eq!(pool.waiting_len(), 0);
        pool.assert_consistent();
    }

    #[test]
    fn a_gap_that_never_fills_holds_its_extrinsic_for_a_bounded_time() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let waiting = signed(&genesis, "Alice", 1);
        pool.submit(&state, &genesis, genesis, &waiting).unwrap();
        assert!(pool.waiting_bytes > 0, "waiting bytes are counted");
        assert_eq!(pool.bytes, 0, "and not against the ready extrinsics' bound");
        for _ in 0..WAIT_PRUNES {
            assert!(pool.prune_stale(&state).is_empty());
        }
        assert_eq!(
            pool.waiting_len(),
            1,
            "still waiting after {WAIT_PRUNES} prunes"
        );
        let dropped = pool.prune_stale(&state);
        assert_eq!(dropped, vec![agora_runtime::extrinsic::hash_of(&waiting)]);
        assert_eq!((pool.waiting_len(), pool.waiting_bytes), (0, 0));
    }

    #[test]
    fn waiting_is_bounded_and_a_waiting_extrinsic_that_cannot_pay_is_dropped() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits {
            max_waiting: 2,
            ..PoolLimits::default()
        });
        for nonce in [1, 2] {
            pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", nonce))
                .unwrap();
        }
        assert_eq!(
            pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 3)),
            Err(PoolError::Full(
                "too many extrinsics waiting for a gap to fill"
            ))
        );
        // The waiting budget is its own: a ready extrinsic still enters.
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Bob", 0))
            .unwrap();
        let one = signed(&genesis, "Alice", 1).len();
        let mut pool = TxPool::new(PoolLimits {
            max_waiting_bytes: one,
            ..PoolLimits::default()
        });
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 1))
            .unwrap();
        assert_eq!(
            pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 2)),
            Err(PoolError::Full("too many bytes waiting for a gap to fill"))
        );
        // Room for one ready extrinsic of Alice's: nonce 1 enters, nonce 2 is dropped.
        let mut pool = TxPool::new(PoolLimits {
            max_per_signer: 2,
            ..PoolLimits::default()
        });
        // sr25519 signatures are randomized: keep the bytes whose hash is asserted.
        let two = signed(&genesis, "Alice", 2);
        pool.submit(&state, &genesis, genesis, &two).unwrap();
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 1))
            .unwrap();
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 0))
            .unwrap();
        assert_eq!(ready_nonces(&pool), vec![0, 1]);
        assert_eq!((pool.waiting_len(), pool.len()), (0, 2));
        let two = agora_runtime::extrinsic::hash_of(&two);
        assert_eq!(pool.take_dropped(), vec![two], "reported once");
        assert!(pool.take_dropped().is_empty());
        pool.assert_consistent();
    }

    #[test]
    fn bounds_are_enforced() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits {
            max_count: 2,
            max_bytes: 1 << 20,
            max_per_signer: 1,
            ..PoolLimits::default()
        });
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 0))
            .unwrap();
        assert_eq!(
            pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 1)),
            Err(PoolError::Full("too many extrinsics from this signer"))
        );
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Bob", 0))
            .unwrap();
        assert_eq!(
            pool.submit(&state, &genesis, genesis, &signed(&genesis, "Charlie", 0)),
            Err(PoolError::Full("too many extrinsics"))
        );
        assert_eq!(pool.len(), 2);
    }

    #[test]
    fn malformed_and_forged_bytes_are_refused_with_the_reason() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let error = pool
            .submit(&state, &genesis, genesis, &[1, 2, 3])
            .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("extrinsic bytes do not decode"),
            "{error}"
        );
        let mut forged = signed(&genesis, "Alice", 0);
        let last = forged.len() - 1;
        forged[last] ^= 1; // the amount's last byte
        let error = pool.submit(&state, &genesis, genesis, &forged).unwrap_err();
        assert!(
            error.to_string().starts_with("bad sr25519 signature"),
            "{error}"
        );
        assert_eq!(pool.len(), 0);
    }

    /// A rejected extrinsic goes with its signer's later nonces, ready and waiting; the
    /// signer's earlier ones and other signers' stay, and a fresh extrinsic at the rejected
    /// nonce is admitted (it was refused as a nonce gap while the later ones stayed).
    #[test]
    fn a_rejected_extrinsic_takes_its_signers_later_nonces_and_frees_its_nonce() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let hashes: Vec<Hash> = [0, 1, 2, 3, 5]
            .iter()
            .map(|nonce| {
                pool.submit(
                    &state,
                    &genesis,
                    genesis,
                    &signed(&genesis, "Alice", *nonce),
                )
                .unwrap()
            })
            .collect();
        let bobs = pool
            .submit(&state, &genesis, genesis, &signed(&genesis, "Bob", 0))
            .unwrap();
        assert_eq!((pool.len(), pool.waiting_len()), (5, 1));
        let removed = pool.reject(&hashes[1]);
        assert_eq!(removed, vec![hashes[1], hashes[2], hashes[3], hashes[4]]);
        assert_eq!((pool.len(), pool.waiting_len()), (2, 0));
        assert!(pool.contains(&hashes[0]) && pool.contains(&bobs));
        assert!(pool.reject(&hashes[1]).is_empty(), "gone already");
        // Another nonce-1 extrinsic (a tip makes it differ) takes the freed place.
        let signer = sr25519::Pair::from_string("//Alice", None).unwrap();
        let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: dev_account("Bob"),
            value: Compact(AGR),
        });
        let again = Extrinsic::sign(&signer, call, immortal_extra(1, 1), &genesis, &genesis);
        pool.submit(&state, &genesis, genesis, &again.encode())
            .unwrap();
        assert_eq!(ready_nonces(&pool), vec![0, 0, 1]);
        pool.assert_consistent();
    }

    /// Exploit: extrinsics admitted while their signer could pay, parked behind one that spends
    /// the whole balance, stayed ready on a node that builds no blocks (a full node) for good:
    /// only a block builder rejected them. A few accounts, their funds reused, filled such a
    /// node's pool and every later submission to it was refused.
    #[test]
    fn exploit_extrinsics_that_can_no_longer_pay_do_not_fill_a_full_nodes_pool_for_good() {
        let (mut state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let alices: Vec<Hash> = (0..4)
            .map(|nonce| {
                pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", nonce))
                    .unwrap()
            })
            .collect();
        let bobs = pool
            .submit(&state, &genesis, genesis, &signed(&genesis, "Bob", 0))
            .unwrap();
        // A block included Alice's nonce 0, which spent all but what pays one more fee.
        let alice = dev_account("Alice");
        let one_fee = pool.ready(10)[1].fee;
        state.insert(
            pallet_system::AccountNonce::key(&alice),
            pallet_system::AccountInfo { nonce: 1 }.encode(),
        );
        state.insert(
            pallet_balances::Account::key(&alice),
            pallet_balances::AccountData {
                free: one_fee,
                reserved: 0,
            }
            .encode(),
        );
        assert_eq!(
            pool.prune_stale(&state),
            vec![alices[0]],
            "nonce 0 included"
        );
        // Funds an unfinalized block brings count: the best state can pay for all three.
        let mut best = state.clone();
        best.insert(
            pallet_balances::Account::key(&alice),
            pallet_balances::AccountData {
                free: 3 * one_fee,
                reserved: 0,
            }
            .encode(),
        );
        assert!(pool.reject_unpayable(&best, [alice]).is_empty());
        assert_eq!(
            pool.reject_unpayable(&state, [alice, dev_account("Bob")]),
            vec![alices[2], alices[3]],
            "nonces 2 and 3 can no longer pay"
        );
        assert!(pool.contains(&alices[1]) && pool.contains(&bobs));
        assert_eq!(ready_nonces(&pool), vec![1, 0]);
        pool.assert_consistent();
    }

    impl TxPool {
        /// The pool's indexes agree with each other and with its byte counts.
        fn assert_consistent(&self) {
            assert_eq!(self.by_hash.len(), self.by_arrival.len());
            for (hash, arrival) in &self.by_hash {
                assert_eq!(self.by_arrival[arrival].hash, *hash);
            }
            let signed: usize = self.by_signer.values().map(BTreeMap::len).sum();
            assert_eq!(signed, self.by_arrival.len());
            let mut fees: BTreeMap<AccountId, Balance> = BTreeMap::new();
            for tx in self.by_arrival.values() {
                *fees.entry(tx.xt.signer).or_default() += tx.fee;
            }
            assert_eq!(fees, self.fees_by_signer, "the fees kept per signer");
            let bytes: usize = self.by_arrival.values().map(|tx| tx.len).sum();
            assert_eq!(bytes, self.bytes);
            let waiting: Vec<&Waiting> = self.waiting.values().flat_map(BTreeMap::values).collect();
            assert_eq!(waiting.len(), self.waiting_hashes.len());
            let waiting_bytes: usize = waiting.iter().map(|w| w.len).sum();
            assert_eq!(waiting_bytes, self.waiting_bytes);
            assert_eq!(self.waiting_held.len(), self.waiting.len());
            for (signer, nonces) in &self.waiting {
                let held = (nonces.len(), nonces.values().map(|w| w.len).sum::<usize>());
                assert_eq!(self.waiting_held[signer], held);
                assert!(self.holders_by_count.contains(&(held.0, held.1, *signer)));
                assert!(self.holders_by_bytes.contains(&(held.1, held.0, *signer)));
            }
            assert_eq!(self.holders_by_count.len(), self.waiting.len());
            assert_eq!(self.holders_by_bytes.len(), self.waiting.len());
            assert_eq!(self.relay_again.len(), self.relay_due.len());
            let mortal = self
                .by_arrival
                .values()
                .filter(|tx| tx.death != BlockNumber::MAX);
            assert_eq!(mortal.count(), self.by_death.len());
            for (death, arrival) in &self.by_death {
                assert_eq!(self.by_arrival[arrival].death, *death);
            }
            for (arrival, again) in &self.relay_again {
                assert!(
                    self.by_arrival.contains_key(arrival),
                    "relays a removed extrinsic"
                );
                assert!(self.relay_due.contains(&(again.due, *arrival)));
            }
        }
    }

    /// Admits `bytes` as relayed by a peer.
    fn admit_from_peer(
        pool: &mut TxPool,
        state: &BTreeMap<Vec<u8>, Vec<u8>>,
        genesis: Hash,
        bytes: &[u8],
    ) {
        let xt = Extrinsic::decode_bounded(bytes).unwrap();
        let valid = validate_transaction(state, &genesis, genesis, &xt, bytes.len()).unwrap();
        let hash = agora_runtime::extrinsic::hash_of(bytes);
        pool.admit(state, hash, xt, bytes.len(), valid, Origin::Peer)
            .unwrap();
    }

    /// A local extrinsic still pooled is handed to the relay again 4 prunes after it became
    /// ready, then at doubling intervals up to 64, five times in all; one relayed by a peer
    /// never; one that left the pool no more.
    #[test]
    fn local_extrinsics_still_pooled_are_relayed_again_at_doubling_intervals() {
        let (mut state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let local = signed(&genesis, "Alice", 0);
        pool.submit(&state, &genesis, genesis, &local).unwrap();
        admit_from_peer(&mut pool, &state, genesis, &signed(&genesis, "Bob", 0));
        let mut relayed_at = Vec::new();
        for prune in 1..=200 {
            assert!(pool.prune_stale(&state).is_empty());
            match pool.take_relay_due(10, usize::MAX).as_slice() {
                [] => {}
                [bytes] => {
                    assert_eq!(*bytes, local, "the local extrinsic's bytes");
                    relayed_at.push(prune);
                }
                more => panic!("{} relayed at prune {prune}", more.len()),
            }
            pool.assert_consistent();
        }
        assert_eq!(relayed_at, vec![4, 12, 28, 60, 124], "then never again");
        // Included: pruned, and never relayed again.
        state.insert(
            pallet_system::AccountNonce::key(&dev_account("Alice")),
            pallet_system::AccountInfo { nonce: 1 }.encode(),
        );
        assert_eq!(pool.prune_stale(&state).len(), 1);
        pool.assert_consistent();
        for _ in 0..RELAY_AGAIN_LAST {
            pool.prune_stale(&state);
            assert!(pool.take_relay_due(10, usize::MAX).is_empty());
        }
    }

    /// A local extrinsic that waited for its gap is due at the first prune after it became
    /// ready; at most `limit` go per call and the rest follow at the next.
    #[test]
    fn a_promoted_local_extrinsic_is_relayed_at_the_next_prune_within_the_limit() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let waiting: Vec<Vec<u8>> = (1..=3)
            .map(|nonce| signed(&genesis, "Alice", nonce))
            .collect();
        for bytes in &waiting {
            pool.submit(&state, &genesis, genesis, bytes).unwrap();
        }
        assert!(
            pool.take_relay_due(10, usize::MAX).is_empty(),
            "waiting extrinsics are not relayed again"
        );
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 0))
            .unwrap();
        assert_eq!(ready_nonces(&pool), vec![0, 1, 2, 3]);
        pool.assert_consistent();
        pool.prune_stale(&state);
        assert_eq!(
            pool.take_relay_due(2, usize::MAX),
            waiting[..2].to_vec(),
            "soonest first, two of three"
        );
        pool.prune_stale(&state);
        assert_eq!(pool.take_relay_due(2, usize::MAX), waiting[2..].to_vec());
        pool.assert_consistent();
    }

    /// How many extrinsics `who` has waiting.
    fn waiting_of(pool: &TxPool, who: &str) -> usize {
        pool.waiting.get(&dev_account(who)).map_or(0, BTreeMap::len)
    }

    /// Exploit: parked extrinsics pay nothing, and the waiting budget went to whoever came
    /// first. A few accounts re-parking theirs as they expired kept it full for good, and every
    /// other signer's out-of-order extrinsic was refused as a gap. Now the largest holder gives
    /// up its furthest nonce to a signer holding less, by count and by bytes, and no holder
    /// can take back more than a fair share.
    #[test]
    fn exploit_a_few_signers_cannot_keep_the_waiting_set_to_themselves() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits {
            max_waiting: 4,
            ..PoolLimits::default()
        });
        let alices: Vec<Vec<u8>> = (1..=4).map(|n| signed(&genesis, "Alice", n)).collect();
        for bytes in &alices {
            pool.submit(&state, &genesis, genesis, bytes).unwrap();
        }
        let park = |pool: &mut TxPool, who: &str, nonce: Nonce| {
            let result = pool.submit(&state, &genesis, genesis, &signed(&genesis, who, nonce));
            pool.assert_consistent();
            result
        };
        park(&mut pool, "Bob", 1).unwrap();
        let hash = agora_runtime::extrinsic::hash_of;
        assert_eq!(
            pool.take_dropped(),
            vec![hash(&alices[3])],
            "Alice's furthest nonce"
        );
        park(&mut pool, "Bob", 2).unwrap();
        assert_eq!(pool.take_dropped(), vec![hash(&alices[2])]);
        assert_eq!(
            (waiting_of(&pool, "Alice"), waiting_of(&pool, "Bob")),
            (2, 2)
        );
        // An even split holds against both.
        let full = Err(PoolError::Full(
            "too many extrinsics waiting for a gap to fill",
        ));
        assert_eq!(park(&mut pool, "Bob", 3), full);
        assert_eq!(park(&mut pool, "Alice", 3), full);
        assert!(
            pool.take_dropped().is_empty(),
            "a refused park evicts nothing"
        );
        // A third signer still gets in.
        park(&mut pool, "Charlie", 1).unwrap();
        assert_eq!(pool.take_dropped().len(), 1);
        assert_eq!(waiting_of(&pool, "Charlie"), 1);
        assert_eq!(waiting_of(&pool, "Alice") + waiting_of(&pool, "Bob"), 3);

        // By bytes: three of Alice's fill the budget, Bob's first takes her furthest place.
        let one = alices[0].len();
        let mut pool = TxPool::new(PoolLimits {
            max_waiting_bytes: 3 * one,
            ..PoolLimits::default()
        });
        for bytes in &alices[..3] {
            pool.submit(&state, &genesis, genesis, bytes).unwrap();
        }
        park(&mut pool, "Bob", 1).unwrap();
        assert_eq!(pool.take_dropped(), vec![hash(&alices[2])]);
        assert_eq!(
            (waiting_of(&pool, "Alice"), pool.waiting_bytes),
            (2, 3 * one)
        );
    }

    /// A transfer of `who`'s with `nonce`, mortal for the 4 blocks from genesis (blocks 1 to 3).
    fn signed_mortal(genesis: &Hash, who: &str, nonce: Nonce) -> Vec<u8> {
        use agora_runtime::extrinsic::{Era, SignedExtra};
        let signer = sr25519::Pair::from_string(&format!("//{who}"), None).unwrap();
        let call = RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: dev_account("Bob"),
            value: Compact(AGR),
        });
        let extra = SignedExtra {
            era: Era::mortal(4, 0),
            nonce: Compact(nonce),
            tip: Compact(0),
        };
        Extrinsic::sign(&signer, call, extra, genesis, genesis).encode()
    }

    /// Once the next block is past an extrinsic's era it can never be included: it is pruned,
    /// ready or waiting, with its signer's later nonces (gaps now). Kept, it was relayed again
    /// and held those nonces; an immortal extrinsic stays.
    #[test]
    fn extrinsics_past_their_era_are_pruned_with_their_signers_later_nonces() {
        let (mut state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let mut submit = |bytes: Vec<u8>| pool.submit(&state, &genesis, genesis, &bytes).unwrap();
        let alices = [
            submit(signed_mortal(&genesis, "Alice", 0)),
            submit(signed(&genesis, "Alice", 1)),
            submit(signed_mortal(&genesis, "Alice", 3)), // Waits for nonce 2.
        ];
        let bobs = submit(signed(&genesis, "Bob", 0));
        let charlies = submit(signed_mortal(&genesis, "Charlie", 1)); // Waits for nonce 0.
        assert_eq!((pool.len(), pool.waiting_len()), (3, 2));
        let number = pallet_system::Number::key();
        state.insert(number.clone(), 2u64.encode());
        assert!(
            pool.prune_stale(&state).is_empty(),
            "block 3 is in their era"
        );
        pool.assert_consistent();
        state.insert(number, 3u64.encode());
        let pruned: BTreeSet<Hash> = pool.prune_stale(&state).into_iter().collect();
        let expected: BTreeSet<Hash> = alices.into_iter().chain([charlies]).collect();
        assert_eq!(pruned, expected, "block 4 is past their era");
        assert_eq!((pool.len(), pool.waiting_len()), (1, 0));
        assert!(pool.contains(&bobs));
        pool.assert_consistent();
    }

    /// A ready extrinsic no finalized block takes (on a node that builds no blocks, one no
    /// builder will ever include) leaves after [`READY_PRUNES`] prunes, with its signer's later
    /// nonces; younger ones stay, and the same bytes are admitted afresh.
    #[test]
    fn a_ready_extrinsic_no_block_takes_expires_after_a_bounded_time() {
        let (state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        let first = signed(&genesis, "Alice", 0);
        let alices = [
            pool.submit(&state, &genesis, genesis, &first).unwrap(),
            pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 1))
                .unwrap(),
        ];
        for _ in 0..10 {
            assert!(pool.prune_stale(&state).is_empty());
        }
        let bobs = pool
            .submit(&state, &genesis, genesis, &signed(&genesis, "Bob", 0))
            .unwrap();
        for _ in 10..READY_PRUNES {
            assert!(pool.prune_stale(&state).is_empty());
        }
        assert_eq!(
            pool.prune_stale(&state),
            alices.to_vec(),
            "expired, with nonce 1"
        );
        assert!(pool.contains(&bobs), "ten prunes younger");
        pool.assert_consistent();
        pool.submit(&state, &genesis, genesis, &first).unwrap();
    }

    /// A park that would need more room than larger holders can give evicts nothing.
    #[test]
    fn a_park_that_cannot_find_all_its_room_evicts_nothing() {
        let (state, genesis) = setup();
        let one = signed(&genesis, "Alice", 1).len();
        let mut pool = TxPool::new(PoolLimits {
            max_waiting_bytes: 3 * one,
            ..PoolLimits::default()
        });
        for (who, nonce) in [("Alice", 1), ("Alice", 2), ("Bob", 1)] {
            pool.submit(&state, &genesis, genesis, &signed(&genesis, who, nonce))
                .unwrap();
        }
        // A byte longer (a mortal era takes two bytes): Alice's second gives too little room,
        // and then nobody holds more than Charlie would.
        let longer = signed_mortal(&genesis, "Charlie", 1);
        assert_eq!(longer.len(), one + 1);
        assert_eq!(
            pool.submit(&state, &genesis, genesis, &longer),
            Err(PoolError::Full("too many bytes waiting for a gap to fill"))
        );
        assert!(pool.take_dropped().is_empty());
        assert_eq!(
            (waiting_of(&pool, "Alice"), waiting_of(&pool, "Bob")),
            (2, 1)
        );
        pool.assert_consistent();
    }

    #[test]
    fn prune_removes_used_nonces() {
        let (mut state, genesis) = setup();
        let mut pool = TxPool::new(PoolLimits::default());
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 0))
            .unwrap();
        pool.submit(&state, &genesis, genesis, &signed(&genesis, "Alice", 1))
            .unwrap();
        // Pretend a block used Alice's nonce 0.
        let key = pallet_system::AccountNonce::key(&dev_account("Alice"));
        state.insert(key, pallet_system::AccountInfo { nonce: 1 }.encode());
        assert_eq!(pool.prune_stale(&state).len(), 1);
        assert_eq!(pool.ready(10)[0].xt.nonce(), 1);
        pool.assert_consistent();
    }
}
