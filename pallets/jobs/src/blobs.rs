//! The blob registry: the content addresses (blake3) of modules, datasets, checkpoints and
//! trained models that jobs refer to, with the deposit that pays for keeping them and the
//! references that keep them alive.
//!
//! `register_blob(hash, size, proof)` checks `proof` (an
//! [`agora_primitives::size_proof::SizeProof`]: the blob's last chunk and the hashes of the
//! subtrees to its left) against the hash at that size, then reserves `BLOB_DEPOSIT_BASE + ⌈size / 1 KiB⌉ × BLOB_DEPOSIT_PER_KIB`
//! and counts `size` against the owner's quota ([`Config::MAX_BLOB_BYTES_PER_ACCOUNT`]). Nodes
//! accept the bytes of registered blobs only, and check them against the hash. A blob lives
//! `blob_ttl` blocks; at the end of its life it is renewed for another `blob_ttl` if
//! something still refers to it (`refs > 0`: an open bid or a live job naming it as module or
//! dataset, a live commitment naming it as model or final state, an audit whose revealed start
//! it is), else dropped, its deposit returned, and nodes delete the bytes. A reference is taken
//! only on a registered blob: calls that name a blob refuse an unregistered one.
//!
//! **A settled job's model** changes hands: its buyer takes over the registration (the
//! worker's deposit returned, the same deposit reserved from the buyer, the bytes counted
//! against the buyer's registered bytes) and it is kept until
//! `settlement + model_retention`, or the block after the buyer's `release_model`, whichever
//! comes first ([`Pallet::keep_model`]). The buyer's quota does not refuse it: the model was
//! paid for, and each one costs a settled job. If the buyer cannot reserve the deposit, the
//! worker's registration and its ordinary lifetime stay, and `job status` shows that expiry.
//!
//! **The two lifetimes** (`blob_ttl`, `model_retention`, both in blocks) are
//! [`Config::BLOB_TTL`] and [`Config::MODEL_RETENTION`] unless the chain's genesis sets others
//! ([`GenesisConfig`], the chain spec's `genesis.lifetimes`), which is what test chains do to
//! see a blob expire in seconds rather than hours. They are fixed for the life of the chain:
//! no call changes [`Lifetimes`], so every registration is judged by the rules it was made
//! under.
//!
//! **Why the size is proven.** Nodes accept a blob's bytes only if their length is the
//! registered size. A size taken on trust let anyone who knew a hash before its owner registered
//! it (a published module, a well-known dataset) register it with the wrong size: its true
//! bytes were then refused everywhere, and a cheap open bid referring to it kept the squat
//! alive (exploit 6 of the incentives issue). With the proof only the true size can be
//! registered, and a registration of the true size blocks nobody: anyone may upload the bytes
//! and refer to the blob; its registrant pays its deposit.

use crate::{Config, Error, Event, Job, Pallet};
use agora_primitives::dispatch::DispatchResult;
use agora_primitives::size_proof::SizeProof;
use agora_primitives::storage::{Ext, StateIter, StateRead};
use agora_primitives::{AccountId, Balance, BlockNumber, Hash};
use pallet_support::due::{schedule, unschedule};
use pallet_support::{ensure, put_or_remove};
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;
use serde::Serialize;
use std::collections::BTreeMap;

type Balances<T> = pallet_balances::Pallet<T>;
type System<T> = pallet_system::Pallet<T>;

/// A registered blob.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct BlobInfo {
    /// Who registered (and pays the deposit).
    pub owner: AccountId,
    /// Size in bytes.
    pub size: u64,
    /// Reserved from the owner.
    pub deposit: Balance,
    /// What still needs its bytes: open bids and live jobs naming it as module or dataset,
    /// live commitments naming it as model or final state, audits whose revealed start it is.
    pub refs: u32,
    /// Block at which it is dropped unless referred to.
    pub expires_at: BlockNumber,
}

pallet_support::storage! {
    "Jobs";
    /// `Hash → BlobInfo`: the blob registry.
    pub Blobs: map Hash => BlobInfo;
    /// Bytes of blobs registered per account.
    pub BlobBytesOf: map AccountId => u64;
    /// Blobs whose life ends at a block.
    pub BlobsDue: map BlockNumber => Vec<Hash>;
    /// The lifetimes the genesis set; absent on a chain that keeps the [`Config`]'s.
    pub Lifetimes: value BlobLifetimes;
}

/// How long the registry keeps blobs, in blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, Serialize, TypeInfo)]
pub struct BlobLifetimes {
    /// Blocks a blob lives without references before it is dropped (`BLOB_TTL`).
    pub blob_ttl: BlockNumber,
    /// Blocks a settled job's model is kept for its buyer (`MODEL_RETENTION`).
    pub model_retention: BlockNumber,
}

/// Genesis configuration of the jobs pallet: the blob registry's lifetimes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenesisConfig {
    /// Lifetimes other than the [`Config`]'s, for test chains; `None` keeps the `Config`'s and
    /// writes nothing (so the genesis state, and hash, of a chain that does not set them is
    /// what it was before they could be set).
    pub lifetimes: Option<BlobLifetimes>,
}

impl<T: Config> Pallet<T> {
    /// Writes the genesis lifetimes, if any.
    ///
    /// # Panics
    /// If a lifetime is 0 blocks: the chain spec is wrong (its check refuses it first).
    pub fn build_genesis(ext: &mut Ext<'_>, config: &GenesisConfig) {
        if let Some(lifetimes) = &config.lifetimes {
            assert!(
                lifetimes.blob_ttl > 0 && lifetimes.model_retention > 0,
                "genesis blob lifetimes must be at least one block: {lifetimes:?}"
            );
            Lifetimes::put(ext, lifetimes);
        }
    }

    /// The lifetimes in force: the genesis's, else the [`Config`]'s.
    pub fn lifetimes(state: &impl StateRead) -> BlobLifetimes {
        Lifetimes::get(state).unwrap_or(BlobLifetimes {
            blob_ttl: T::BLOB_TTL,
            model_retention: T::MODEL_RETENTION,
        })
    }
}

impl<T: Config> Pallet<T> {
    /// A registered blob.
    pub fn blob(state: &impl StateRead, hash: &Hash) -> Option<BlobInfo> {
        Blobs::get(state, hash)
    }

    /// Deposit for a blob of `size` bytes.
    pub fn blob_deposit(size: u64) -> Balance {
        let kib = u128::from(size.div_ceil(1024));
        T::BLOB_DEPOSIT_BASE.saturating_add(kib.saturating_mul(T::BLOB_DEPOSIT_PER_KIB))
    }
    /// Registers a blob whose `proof` shows that the bytes hashing to `hash` are `size` long,
    /// reserving its deposit. All-or-nothing.
    pub fn register_blob(
        ext: &mut Ext<'_>,
        owner: &AccountId,
        hash: Hash,
        size: u64,
        proof: &SizeProof,
    ) -> DispatchResult {
        Self::register(ext, owner, hash, size, Some(proof))
    }

    /// [`Self::register_blob`] without the size proof, for tests and benchmarks of other
    /// pallets that refer to stand-in hashes with no bytes behind them. No call reaches it.
    pub fn register_blob_of_known_size(
        ext: &mut Ext<'_>,
        owner: &AccountId,
        hash: Hash,
        size: u64,
    ) -> DispatchResult {
        Self::register(ext, owner, hash, size, None)
    }

    /// Registers a blob, with its size checked against `proof` if one is given.
    fn register(
        ext: &mut Ext<'_>,
        owner: &AccountId,
        hash: Hash,
        size: u64,
        proof: Option<&SizeProof>,
    ) -> DispatchResult {
        ensure!(
            size != 0 && size <= T::MAX_BLOB_SIZE,
            Self::error(Error::BadBlobSize)
        );
        ensure!(
            proof.is_none_or(|proof| proof.verify(&hash, size).is_ok()),
            Self::error(Error::SizeNotProven)
        );
        ensure!(
            Blobs::get(ext, &hash).is_none(),
            Self::error(Error::BlobAlreadyRegistered)
        );
        let used = BlobBytesOf::get(ext, owner).unwrap_or(0);
        let total = used
            .checked_add(size)
            .filter(|total| *total <= T::MAX_BLOB_BYTES_PER_ACCOUNT)
            .ok_or(Self::error(Error::BlobQuotaExceeded))?;
        let deposit = Self::blob_deposit(size);
        Balances::<T>::reserve(ext, owner, deposit)
            .map_err(|_| Self::error(Error::CannotPayDeposit))?;
        let now = System::<T>::block_number(ext);
        let ttl = Self::lifetimes(ext).blob_ttl;
        let expires_at = schedule::<BlobsDuePrefix, Hash>(
            ext,
            now.saturating_add(ttl),
            hash,
            T::MAX_DUE_PER_BLOCK,
        );
        BlobBytesOf::insert(ext, owner, &total);
        Blobs::insert(
            ext,
            &hash,
            &BlobInfo {
                owner: *owner,
                size,
                deposit,
                refs: 0,
                expires_at,
            },
        );
        Self::deposit_event(
            ext,
            Event::BlobRegistered {
                hash,
                owner: *owner,
                size,
                deposit,
            },
        );
        Ok(())
    }

    /// Adds a reference to a registered blob (no-op for unknown hashes).
    pub fn retain_blob(ext: &mut Ext<'_>, hash: &Hash) {
        if let Some(mut info) = Blobs::get(ext, hash) {
            info.refs = info.refs.saturating_add(1);
            Blobs::insert(ext, hash, &info);
        }
    }

    /// Drops a reference to a registered blob.
    pub fn release_blob(ext: &mut Ext<'_>, hash: &Hash) {
        if let Some(mut info) = Blobs::get(ext, hash) {
            info.refs = info.refs.saturating_sub(1);
            Blobs::insert(ext, hash, &info);
        }
    }

    pub(crate) fn release_job_blobs(ext: &mut Ext<'_>, job: &Job) {
        Self::release_blob(ext, &job.spec.module);
        Self::release_blob(ext, &job.spec.dataset);
        Self::release_result_blobs(ext, job);
    }

    /// Drops the references a commitment took ([`crate::Commitment::result_blobs`]).
    pub(crate) fn release_result_blobs(ext: &mut Ext<'_>, job: &Job) {
        for hash in job.commitment.iter().flat_map(|c| c.result_blobs()) {
            Self::release_blob(ext, &hash);
        }
    }

    /// At the settlement of job `id` in block `now`: its buyer takes over the registration of
    /// the model (see the module documentation) and it is kept `model_retention` blocks.
    /// Returns the block at whose end it expires; `None` for a job without a model, or whose
    /// buyer cannot reserve the deposit (the worker's registration then stays as it was).
    pub(crate) fn keep_model(
        ext: &mut Ext<'_>,
        id: crate::JobId,
        job: &Job,
        now: BlockNumber,
    ) -> Option<BlockNumber> {
        let hash = job
            .commitment
            .as_ref()
            .filter(|c| !c.ends_in_refusal())?
            .output;
        let mut info = Blobs::get(ext, &hash)?;
        // All-or-nothing: the buyer's reserve is the only step that can fail, so it goes first.
        Balances::<T>::reserve(ext, &job.buyer, info.deposit).ok()?;
        let left = Balances::<T>::unreserve(ext, &info.owner, info.deposit);
        assert!(
            left == 0,
            "jobs invariant broken: deposit of blob {hash} was not reserved"
        );
        let owner_bytes = BlobBytesOf::get(ext, &info.owner)
            .unwrap_or(0)
            .saturating_sub(info.size);
        put_or_remove::<BlobBytesOfPrefix, _, _>(ext, &info.owner, &owner_bytes);
        let buyer_bytes = BlobBytesOf::get(ext, &job.buyer)
            .unwrap_or(0)
            .saturating_add(info.size);
        BlobBytesOf::insert(ext, &job.buyer, &buyer_bytes);
        // Never sooner than the registry would have dropped it.
        let retention = Self::lifetimes(ext).model_retention;
        let keep_to = info.expires_at.max(now.saturating_add(retention));
        let until = Self::reschedule_blob(ext, &hash, &mut info, keep_to);
        info.owner = job.buyer;
        Blobs::insert(ext, &hash, &info);
        Self::deposit_event(
            ext,
            Event::ModelKept {
                job: id,
                hash,
                until,
                deposit: info.deposit,
            },
        );
        Some(until)
    }

    /// The buyer of job `id` has fetched its model: it is dropped at the end of the next
    /// block (if nothing else refers to it) with the buyer's deposit returned, and the job's
    /// record is pruned when `JOB_RETENTION` from its end has passed.
    pub fn release_model(ext: &mut Ext<'_>, who: &AccountId, id: crate::JobId) -> DispatchResult {
        let job = crate::Jobs::get(ext, &id).ok_or(Self::error(Error::UnknownJob))?;
        ensure!(job.buyer == *who, Self::error(Error::NotJobBuyer));
        let now = System::<T>::block_number(ext);
        let next = now.saturating_add(1);
        let kept = match (&job.status, &job.commitment) {
            (crate::JobStatus::Settled { .. }, Some(c)) if !c.ends_in_refusal() => {
                Blobs::get(ext, &c.output)
                    .filter(|info| info.owner == job.buyer && info.expires_at > next)
                    .map(|info| (c.output, info))
            }
            _ => None,
        };
        let (hash, mut info) = kept.ok_or(Self::error(Error::NoModelKept))?;
        Self::reschedule_blob(ext, &hash, &mut info, next);
        Blobs::insert(ext, &hash, &info);
        let ended = job.status.ended_at().unwrap_or(now);
        Self::schedule_job(ext, ended.saturating_add(T::JOB_RETENTION).max(next), id);
        Self::deposit_event(ext, Event::ModelReleased { job: id, hash });
        Ok(())
    }

    /// Moves blob `hash`'s expiry to `at` (or the first later block with room): off its old
    /// due list, onto the new one. Returns, and records in `info`, where it landed.
    fn reschedule_blob(
        ext: &mut Ext<'_>,
        hash: &Hash,
        info: &mut BlobInfo,
        at: BlockNumber,
    ) -> BlockNumber {
        unschedule::<BlobsDuePrefix, Hash>(ext, info.expires_at, hash);
        info.expires_at = schedule::<BlobsDuePrefix, Hash>(ext, at, *hash, T::MAX_DUE_PER_BLOCK);
        info.expires_at
    }

    pub(crate) fn expire_blobs(ext: &mut Ext<'_>, now: BlockNumber) -> usize {
        let Some(due) = BlobsDue::get(ext, &now) else {
            return 0;
        };
        BlobsDue::remove(ext, &now);
        let ttl = Self::lifetimes(ext).blob_ttl;
        for hash in &due {
            let Some(mut info) = Blobs::get(ext, hash) else {
                continue;
            };
            if info.refs > 0 {
                info.expires_at = schedule::<BlobsDuePrefix, Hash>(
                    ext,
                    now.saturating_add(ttl),
                    *hash,
                    T::MAX_DUE_PER_BLOCK,
                );
                Blobs::insert(ext, hash, &info);
                continue;
            }
            Blobs::remove(ext, hash);
            let used = BlobBytesOf::get(ext, &info.owner)
                .unwrap_or(0)
                .saturating_sub(info.size);
            put_or_remove::<BlobBytesOfPrefix, _, _>(ext, &info.owner, &used);
            let left = Balances::<T>::unreserve(ext, &info.owner, info.deposit);
            assert!(
                left == 0,
                "jobs invariant broken: deposit of blob {hash} was not reserved"
            );
            Self::deposit_event(ext, Event::BlobExpired { hash: *hash });
        }
        due.len()
    }

    /// Invariant 2: `BlobBytesOf` equals the sizes of each owner's blobs; every blob is
    /// scheduled to expire at its `expires_at`.
    pub(crate) fn check_blobs(state: &impl StateIter) -> Result<(), String> {
        let mut bytes: BTreeMap<AccountId, u64> = BTreeMap::new();
        let scheduled: BTreeMap<Hash, BlockNumber> = BlobsDue::iter(state)
            .into_iter()
            .flat_map(|(block, hashes)| hashes.into_iter().map(move |hash| (hash, block)))
            .collect();
        for (hash, info) in Blobs::iter(state) {
            let used = bytes.entry(info.owner).or_default();
            *used = used.saturating_add(info.size);
            if scheduled.get(&hash) != Some(&info.expires_at) {
                return Err(format!(
                    "blob {hash} is not scheduled to expire at {}",
                    info.expires_at
                ));
            }
        }
        let counted: BTreeMap<AccountId, u64> = BlobBytesOf::iter(state).into_iter().collect();
        if counted != bytes {
            return Err(format!(
                "BlobBytesOf {counted:?} differs from the blobs {bytes:?}"
            ));
        }
        Ok(())
    }
}
