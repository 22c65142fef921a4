//! The waiting set: extrinsics ahead of their signer's next nonce, parked until the gap fills
//! (the pool's module doc, "Waiting for a gap to fill"), and its fair sharing among signers.

use super::{Origin, PoolError, TxPool, Waiting, MAX_EVICTIONS};
use agora_primitives::storage::StateRead;
use agora_primitives::{AccountId, Hash, Nonce};
use agora_runtime::executive::ValidTransaction;
use agora_runtime::extrinsic::Extrinsic;
use std::collections::BTreeMap;

impl TxPool {
    /// Keeps an extrinsic whose nonce is ahead of its signer's next one until the gap fills
    /// (module doc), within [`PoolLimits::max_waiting`] and [`PoolLimits::max_waiting_bytes`].
    pub(super) fn park(
        &mut self,
        hash: Hash,
        xt: Extrinsic,
        len: usize,
        valid: ValidTransaction,
        origin: Origin,
    ) -> Result<(), PoolError> {
        for (holder, nonce) in self.waiting_room(&valid.signer, len)? {
            if let Some(evicted) = self.unpark(&holder, nonce) {
                self.dropped.push(evicted.hash);
            }
        }
        self.waiting_bytes = self.waiting_bytes.saturating_add(len);
        self.waiting_hashes.insert(hash);
        let held = self
            .waiting_held
            .get(&valid.signer)
            .copied()
            .unwrap_or_default();
        self.set_held(
            valid.signer,
            (held.0.saturating_add(1), held.1.saturating_add(len)),
        );
        let waiting = Waiting {
            hash,
            xt,
            len,
            since: self.prunes,
            valid,
            origin,
        };
        self.waiting
            .entry(waiting.valid.signer)
            .or_default()
            .insert(waiting.valid.nonce, waiting);
        Ok(())
    }

    /// Room in the waiting set for one more extrinsic of `len` bytes from `signer`: the waiting
    /// extrinsics (signer, nonce) to evict for it, none if it fits. The set is shared fairly
    /// (module doc): while a bound is exceeded, the signer holding the most of that bound
    /// (extrinsics, or bytes), if it holds strictly more than `signer` would with this one,
    /// gives up its highest nonce, the one furthest from entering. Nothing is evicted unless
    /// all the room is found within [`MAX_EVICTIONS`]. Runs under the chain's lock, and a
    /// refused extrinsic can be sent again at once, so a refusal costs a look at the largest
    /// holder and each eviction a few index steps, never a pass over the waiting set.
    fn waiting_room(
        &self,
        signer: &AccountId,
        len: usize,
    ) -> Result<Vec<(AccountId, Nonce)>, PoolError> {
        const COUNT: &str = "too many extrinsics waiting for a gap to fill";
        const BYTES: &str = "too many bytes waiting for a gap to fill";
        let (max_count, max_bytes) = (self.limits.max_waiting, self.limits.max_waiting_bytes);
        let (mut count, mut bytes) = (self.waiting_len(), self.waiting_bytes);
        let fits = |count: usize, bytes: usize| {
            count < max_count && bytes.saturating_add(len) <= max_bytes
        };
        let mut evict = Vec::new();
        let held = self.waiting_held.get(signer).copied().unwrap_or_default();
        let mine = (held.0.saturating_add(1), held.1.saturating_add(len));
        // Holders the plan took from: what they would hold, and how many nonces it took.
        let mut planned: BTreeMap<AccountId, ((usize, usize), usize)> = BTreeMap::new();
        for _ in 0..MAX_EVICTIONS {
            if fits(count, bytes) {
                return Ok(evict);
            }
            let by_count = count >= max_count;
            // Ordered by the exceeded bound, then the other; ties to the greater account id.
            let key = |held: (usize, usize), who: AccountId| {
                if by_count {
                    (held.0, held.1, who)
                } else {
                    (held.1, held.0, who)
                }
            };
            let index = if by_count {
                &self.holders_by_count
            } else {
                &self.holders_by_bytes
            };
            // The largest holder the plan has not touched (skipping at most the planned ones
            // and `signer`), and the largest it has.
            let untouched = index
                .iter()
                .rev()
                .find(|(_, _, who)| who != signer && !planned.contains_key(who))
                .map(|&(x, y, who)| {
                    let held = if by_count { (x, y) } else { (y, x) };
                    (key(held, who), held)
                });
            let touched = planned
                .iter()
                .filter(|(_, (held, _))| held.0 > 0)
                .map(|(who, (held, _))| (key(*held, *who), *held))
                .max();
            let Some(((_, _, holder), held)) = untouched.into_iter().chain(touched).max() else {
                break;
            };
            let larger = if by_count {
                held.0 > mine.0
            } else {
                held.1 > mine.1
            };
            if !larger {
                break;
            }
            let taken = planned.get(&holder).map_or(0, |(_, taken)| *taken);
            let Some((nonce, waiting)) = self
                .waiting
                .get(&holder)
                .and_then(|nonces| nonces.iter().rev().nth(taken))
            else {
                break;
            };
            let left = (held.0.saturating_sub(1), held.1.saturating_sub(waiting.len));
            planned.insert(holder, (left, taken.saturating_add(1)));
            count = count.saturating_sub(1);
            bytes = bytes.saturating_sub(waiting.len);
            evict.push((holder, *nonce));
        }
        if fits(count, bytes) {
            return Ok(evict);
        }
        Err(PoolError::Full(if count >= max_count {
            COUNT
        } else {
            BYTES
        }))
    }

    /// Records that `signer` now has `held` (extrinsics, bytes) waiting, in the holder indexes.
    fn set_held(&mut self, signer: AccountId, held: (usize, usize)) {
        if let Some(old) = self.waiting_held.remove(&signer) {
            self.holders_by_count.remove(&(old.0, old.1, signer));
            self.holders_by_bytes.remove(&(old.1, old.0, signer));
        }
        if held.0 > 0 {
            self.waiting_held.insert(signer, held);
            self.holders_by_count.insert((held.0, held.1, signer));
            self.holders_by_bytes.insert((held.1, held.0, signer));
        }
    }

    /// Takes `signer`'s waiting extrinsic with `nonce` out of the waiting set.
    pub(super) fn unpark(&mut self, signer: &AccountId, nonce: Nonce) -> Option<Waiting> {
        let nonces = self.waiting.get_mut(signer)?;
        let waiting = nonces.remove(&nonce)?;
        if nonces.is_empty() {
            self.waiting.remove(signer);
        }
        self.waiting_hashes.remove(&waiting.hash);
        self.waiting_bytes = self.waiting_bytes.saturating_sub(waiting.len);
        let held = self.waiting_held.get(signer).copied().unwrap_or_default();
        self.set_held(
            *signer,
            (held.0.saturating_sub(1), held.1.saturating_sub(waiting.len)),
        );
        Some(waiting)
    }

    /// Moves `signer`'s waiting extrinsics whose gap has filled into the ready set, in nonce
    /// order, each through rules 5 and 6 (one that fails them is dropped, and is returned).
    /// `account_nonce` is the signer's nonce in `state`. Bounded by [`PoolLimits::max_ahead`]
    /// steps.
    pub(super) fn promote(
        &mut self,
        state: &impl StateRead,
        signer: &AccountId,
        account_nonce: Nonce,
    ) -> Vec<Hash> {
        let mut dropped = Vec::new();
        for _ in 0..=self.limits.max_ahead {
            let next = self.next_nonce(signer, account_nonce);
            let Some(waiting) = self.unpark(signer, next) else {
                break;
            };
            let Waiting {
                hash,
                xt,
                len,
                mut valid,
                origin,
                ..
            } = waiting;
            valid.account_nonce = account_nonce;
            let admitted = self
                .check_fees(state, &valid)
                .and_then(|()| self.check_room(signer, len));
            // Due at the next prune: its relay at submission may have met peers that could not
            // park it.
            let relay_due = (origin == Origin::Local).then_some(self.prunes);
            match admitted {
                Ok(()) => self.insert(hash, xt, len, &valid, relay_due),
                Err(_) => {
                    dropped.push(hash);
                    break;
                }
            }
        }
        dropped
    }
}
