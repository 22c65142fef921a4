//! Runtime metadata in Substrate's format (V14), and the two storage items a Substrate client
//! expects that Agora keeps elsewhere.
//!
//! # What the metadata describes
//!
//! Every pallet at its index with its calls, events, errors, storage entries (their hashers,
//! key and value types) and constants, the extrinsic format with its signed extensions, and a
//! registry of every type those mention, generated from the runtime's own types by
//! `scale-info`. A client that reads it (polkadot.js, subxt) can then encode calls, decode
//! events and compute storage keys without any Agora-specific code (`docs/polkadot-js.md`).
//!
//! Type paths are what clients name types by, so a few are chosen to be the ones Substrate
//! tools know: [`AccountId`](agora_primitives::AccountId) is described as
//! `sp_core::crypto::AccountId32` and [`Hash`](agora_primitives::Hash) as
//! `primitive_types::H256` (in `agora_primitives`), the extrinsic as
//! `sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic` and the event record as
//! `frame_system::EventRecord` (here).
//!
//! # Items served beside the state
//!
//! Two entries of the `System` pallet exist in the metadata only; the node answers reads of
//! their keys from other data, so the state and its root do not change for them:
//!
//! - `System.Account` (`Blake2_128Concat` of the account): FRAME's `AccountInfo` composed of
//!   the account's nonce (`System.AccountNonce`) and balances (`Balances.Account`), with
//!   `frozen` and `flags` zero. Clients read an account's nonce and balance there.
//! - `System.Events`: the block's event records, which Agora keeps beside the block (committed
//!   to by the header's `events_root`) rather than in state.
//!
//! Neither has a read proof: `state_getReadProof` proves the two entries they are composed of.

use crate::extrinsic::MultiSignature;
use crate::{Runtime, RuntimeCall, RuntimeEvent};
use agora_primitives::storage::{
    blake2_128, Phase, RawEvent, StateRead, StorageInstance, StorageMap, StorageValue,
};
use agora_primitives::{AccountId, Balance, Hash, Nonce};
use frame_metadata::v14::{
    ExtrinsicMetadata, PalletCallMetadata, PalletConstantMetadata, PalletErrorMetadata,
    PalletEventMetadata, PalletMetadata, PalletStorageMetadata, RuntimeMetadataV14,
    SignedExtensionMetadata, StorageEntryMetadata, StorageEntryModifier, StorageEntryType,
    StorageHasher,
};
use frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed, META_RESERVED};
use parity_scale_codec::{Compact, Decode, Encode};
use scale_info::build::Fields;
use scale_info::{meta_type, MetaType, Path, Type, TypeInfo, TypeParameter};
use std::sync::OnceLock;

/// Version of the extrinsic format and of the signed extensions; part of every signing
/// payload (`CheckTxVersion`).
pub const TRANSACTION_VERSION: u32 = 1;
/// The SS58 address prefix of Agora accounts: 42, Substrate's generic prefix.
pub const SS58_PREFIX: u16 = 42;
/// The token's symbol.
pub const TOKEN_SYMBOL: &str = "AGR";

/// The SCALE-encoded metadata (`RuntimeMetadataPrefixed`: the magic `meta`, the version byte
/// 14, then the V14 structure), as `state_getMetadata` serves it. Built once per process.
pub fn encoded() -> &'static [u8] {
    static ENCODED: OnceLock<Vec<u8>> = OnceLock::new();
    ENCODED.get_or_init(|| metadata().encode())
}

/// The runtime's metadata; built once per process, by [`encoded`].
fn metadata() -> RuntimeMetadataPrefixed {
    let mut pallets = account_pallets();
    pallets.extend(market_pallets());
    let extrinsic = ExtrinsicMetadata {
        ty: meta_type::<UncheckedExtrinsic>(),
        version: crate::extrinsic::EXTRINSIC_FORMAT_VERSION,
        signed_extensions: signed_extensions(),
    };
    RuntimeMetadataPrefixed(
        META_RESERVED,
        RuntimeMetadata::V14(RuntimeMetadataV14::new(
            pallets,
            extrinsic,
            meta_type::<Runtime>(),
        )),
    )
}

/// System, Balances and Staking.
fn account_pallets() -> Vec<PalletMetadata> {
    vec![
        pallet(
            "System",
            crate::SYSTEM_INDEX,
            meta_type::<pallet_system::Call>(),
            meta_type::<pallet_system::Event>(),
            meta_type::<pallet_system::Error>(),
            system_storage(),
            system_constants(),
        ),
        pallet(
            "Balances",
            crate::BALANCES_INDEX,
            meta_type::<pallet_balances::Call>(),
            meta_type::<pallet_balances::Event>(),
            meta_type::<pallet_balances::Error>(),
            storage![pallet_balances::Account, pallet_balances::TotalIssuance],
            constants!(pallet_balances: EXISTENTIAL_DEPOSIT: Balance),
        ),
        pallet(
            "Staking",
            crate::STAKING_INDEX,
            meta_type::<pallet_staking::Call>(),
            meta_type::<pallet_staking::Event>(),
            meta_type::<pallet_staking::Error>(),
            storage![
                pallet_staking::Ledger,
                pallet_staking::TotalBonded,
                pallet_staking::EpochLength,
                pallet_staking::CurrentEpoch,
                pallet_staking::Committees,
                pallet_staking::Candidates,
                pallet_staking::CandidateList,
                pallet_staking::Leaving,
                pallet_staking::ChainId,
                pallet_staking::ConsensusNamespace,
                pallet_staking::Offences,
            ],
            constants!(pallet_staking:
                UNBONDING_DELAY: u64, MAX_UNLOCKING_CHUNKS: u32, MIN_BOND: Balance,
                MAX_VALIDATORS: u32, MAX_CANDIDATES: u32, MIN_VALIDATOR_BOND: Balance,
                EQUIVOCATION_SLASH_PERCENT: u8, EQUIVOCATION_REWARD_PERCENT: u8),
        ),
    ]
}

/// Market, Jobs and Verification.
fn market_pallets() -> Vec<PalletMetadata> {
    vec![
        pallet(
            "Market",
            crate::MARKET_INDEX,
            meta_type::<pallet_market::Call>(),
            meta_type::<pallet_market::Event>(),
            meta_type::<pallet_market::Error>(),
            storage![
                pallet_market::RentBurned,
                pallet_market::Offers,
                pallet_market::OpenOffers,
                pallet_market::OffersOf,
                pallet_market::NextOfferId,
                pallet_market::Bids,
                pallet_market::BidSpecs,
                pallet_market::OpenBids,
                pallet_market::BidsOf,
                pallet_market::NextBidId,
                pallet_market::CompletedJobs,
                pallet_market::Clearings,
                pallet_market::RecentMatches,
                pallet_market::ClosedBids,
                pallet_market::ClosedBidsDue,
            ],
            constants!(pallet_market:
                MAX_OPEN_BIDS: u32, MAX_OPEN_OFFERS: u32, MAX_BIDS_PER_ACCOUNT: u32,
                MAX_OFFERS_PER_PROVIDER: u32, MAX_MATCHES_PER_BLOCK: u32,
                NEWCOMER_SHARE_PERCENT: u8, NEWCOMER_JOBS: u32, MAX_PARAMS_LEN: u32,
                MAX_JOB_FUEL: u64, MAX_SEGMENTS: u64, MAX_SEGMENT_FUEL: u64,
                MIN_RUN_BLOCKS: u32, MIN_COLLATERAL: Balance, MIN_BID_ESCROW: Balance, SAMPLE_PERMILLE: u32,
                VERIFIERS_PER_SEGMENT: u32, MAX_VERIFIERS_PER_SEGMENT: u32,
                MAX_SAMPLED_SEGMENTS: u64, VERIFIER_MARGIN_PERCENT: u32,
                PROVIDER_MARGIN_PERCENT: u32, ORDER_RENT_PER_BLOCK: Balance,
                OFFER_BOND: Balance, UNSERVED_BID_BLOCKS: u64, CLEARING_HISTORY: u32,
                RECENT_MATCHES: u32, CLOSED_BID_RETENTION: u64),
        ),
        pallet(
            "Jobs",
            crate::JOBS_INDEX,
            meta_type::<pallet_jobs::Call>(),
            meta_type::<pallet_jobs::Event>(),
            meta_type::<pallet_jobs::Error>(),
            storage![
                pallet_jobs::Jobs,
                pallet_jobs::JobsDue,
                pallet_jobs::MachineDependentFindings,
                pallet_jobs::DismissedChallenges,
                pallet_jobs::ForfeitedRuns,
                pallet_jobs::Declarations,
                pallet_jobs::RerunQueue,
                pallet_jobs::DecidedReruns,
                pallet_jobs::Blobs,
                pallet_jobs::BlobBytesOf,
                pallet_jobs::BlobsDue,
                pallet_jobs::Lifetimes,
            ],
            constants!(pallet_jobs:
                MAX_BLOB_SIZE: u64, MAX_BLOB_BYTES_PER_ACCOUNT: u64, BLOB_DEPOSIT_BASE: Balance,
                BLOB_DEPOSIT_PER_KIB: Balance, BLOB_TTL: u64, MAX_DUE_PER_BLOCK: u32,
                MAX_METRICS_LEN: u32, CHALLENGE_BLOCKS: u64, CANCEL_FEE_PERCENT: u8,
                CANCEL_NOTICE_BLOCKS: u64, JOB_RETENTION: u64,
                MODEL_RETENTION: u64, DISPUTE_REWARD_PERCENT: u8, PROOF_BLOCKS: u64,
                REFEREE_LEAD_FUEL_PER_BLOCK: u64, DECLARATION_FEE_PER_LEAD_BLOCK: Balance),
        ),
        pallet(
            "Verification",
            crate::VERIFICATION_INDEX,
            meta_type::<pallet_verification::Call>(),
            meta_type::<pallet_verification::Event>(),
            meta_type::<pallet_verification::Error>(),
            storage![
                pallet_verification::Verifiers,
                pallet_verification::Audits,
                pallet_verification::AuditsDue,
                pallet_verification::CheckBonds,
                pallet_verification::Windows,
            ],
            constants!(pallet_verification:
                MAX_VERIFIERS: u32, VERIFIER_MIN_STAKE: Balance, CHECK_BOND: Balance,
                REVEAL_BLOCKS: u64, ATTEST_BLOCKS: u64, RUN_SEGMENTS: u64, MOVE_BLOCKS: u64,
                SAMPLE_WAIT_BLOCKS: u64, REFEREE_FUEL: u64,
                REFEREE_CALL_FEE: Balance, CHALLENGE_BOND: Balance),
        ),
    ]
}

/// One pallet's entry.
fn pallet(
    name: &'static str,
    index: u8,
    calls: MetaType,
    event: MetaType,
    error: MetaType,
    entries: Vec<(&'static str, StorageEntryMetadata)>,
    constants: Vec<PalletConstantMetadata>,
) -> PalletMetadata {
    for (prefix, entry) in &entries {
        // A client computes an item's key from the pallet it is listed under.
        assert_eq!(
            *prefix, name,
            "storage item {} listed under the wrong pallet",
            entry.name
        );
    }
    let entries = entries.into_iter().map(|(_, entry)| entry).collect();
    PalletMetadata {
        name,
        storage: Some(PalletStorageMetadata {
            prefix: name,
            entries,
        }),
        calls: Some(PalletCallMetadata { ty: calls }),
        event: Some(PalletEventMetadata { ty: event }),
        constants,
        error: Some(PalletErrorMetadata { ty: error }),
        index,
    }
}

/// A typed storage item as metadata describes it. Every item is read as `Option` (the node
/// answers `null` for a key with no value), which the metadata says with the `Optional`
/// modifier and the default `None` (`0x00`).
trait DescribedEntry {
    /// The pallet the item's key prefix names.
    const PALLET: &'static str;
    /// The entry.
    fn entry() -> StorageEntryMetadata;
}

impl<I: StorageInstance, V: TypeInfo + 'static> DescribedEntry for StorageValue<I, V> {
    const PALLET: &'static str = I::PALLET;
    fn entry() -> StorageEntryMetadata {
        StorageEntryMetadata {
            name: I::ITEM,
            modifier: StorageEntryModifier::Optional,
            ty: StorageEntryType::Plain(meta_type::<V>()),
            default: vec![0],
            docs: vec![],
        }
    }
}

impl<I: StorageInstance, K: TypeInfo + 'static, V: TypeInfo + 'static> DescribedEntry
    for StorageMap<I, K, V>
{
    const PALLET: &'static str = I::PALLET;
    fn entry() -> StorageEntryMetadata {
        StorageEntryMetadata {
            name: I::ITEM,
            modifier: StorageEntryModifier::Optional,
            ty: StorageEntryType::Map {
                hashers: vec![StorageHasher::Blake2_128Concat],
                key: meta_type::<K>(),
                value: meta_type::<V>(),
            },
            default: vec![0],
            docs: vec![],
        }
    }
}

/// The entries of typed storage items, each with the pallet its key prefix names ([`pallet`]
/// checks it is the one whose metadata lists it).
macro_rules! storage {
    ($($item:ty),+ $(,)?) => {
        vec![$((<$item as DescribedEntry>::PALLET, <$item as DescribedEntry>::entry())),+]
    };
}
use storage;

/// The constants of a pallet's `Config` as this runtime sets them, named in PascalCase as
/// FRAME names them (`MAX_OPEN_BIDS` → `MaxOpenBids`).
macro_rules! constants {
    ($pallet:ident: $($name:ident: $ty:ty),+ $(,)?) => {
        vec![$(constant(
            stringify!($name),
            meta_type::<$ty>(),
            <$ty>::from(<Runtime as $pallet::Config>::$name).encode(),
        )),+]
    };
}
use constants;

/// One constant; `name` is the Rust constant's name.
fn constant(name: &'static str, ty: MetaType, value: Vec<u8>) -> PalletConstantMetadata {
    PalletConstantMetadata {
        name: pascal_case(name),
        ty,
        value,
        docs: vec![],
    }
}

/// `MAX_OPEN_BIDS` → `MaxOpenBids`. Metadata names are `&'static str`, so the name is leaked:
/// a few dozen bytes per constant, once per process ([`metadata`] runs once, in [`encoded`]).
fn pascal_case(name: &str) -> &'static str {
    let pascal: String = name
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_string() + &chars.as_str().to_lowercase(),
                None => String::new(),
            }
        })
        .collect();
    Box::leak(pascal.into_boxed_str())
}

/// System's storage: its own items, then the two served beside the state (module docs).
fn system_storage() -> Vec<(&'static str, StorageEntryMetadata)> {
    let mut entries = storage![
        pallet_system::AccountNonce,
        pallet_system::Number,
        pallet_system::Now,
        pallet_system::ParentHash,
        pallet_system::BlockHash,
        pallet_system::Beacon,
    ];
    entries.push((
        SystemAccountPrefix::PALLET,
        StorageEntryMetadata {
            name: SystemAccountPrefix::ITEM,
            modifier: StorageEntryModifier::Default,
            ty: StorageEntryType::Map {
                hashers: vec![StorageHasher::Blake2_128Concat],
                key: meta_type::<AccountId>(),
                value: meta_type::<AccountInfo>(),
            },
            default: AccountInfo::default().encode(),
            docs: vec![" The account's nonce and balances (composed by the node; no read proof)."],
        },
    ));
    entries.push((
        SystemEventsPrefix::PALLET,
        StorageEntryMetadata {
            name: SystemEventsPrefix::ITEM,
            modifier: StorageEntryModifier::Default,
            ty: StorageEntryType::Plain(meta_type::<Vec<EventRecord>>()),
            default: vec![0],
            docs: vec![" The block's events (kept beside the block; no read proof)."],
        },
    ));
    entries
}

fn system_constants() -> Vec<PalletConstantMetadata> {
    let mut constants = constants!(pallet_system: BLOCK_HASH_COUNT: u64, MAX_REMARK_LEN: u32);
    constants.push(constant(
        "SS58_PREFIX",
        meta_type::<u16>(),
        SS58_PREFIX.encode(),
    ));
    constants
}

/// The signed extensions, in the order their values appear in an extrinsic and its signing
/// payload. Each identifier is one polkadot.js and subxt know, so they build and sign the
/// extrinsic from this list alone.
fn signed_extensions() -> Vec<SignedExtensionMetadata> {
    vec![
        extension::<CheckSpecVersion, u32>("CheckSpecVersion"),
        extension::<CheckTxVersion, u32>("CheckTxVersion"),
        extension::<CheckGenesis, Hash>("CheckGenesis"),
        extension::<CheckMortality, Hash>("CheckMortality"),
        extension::<CheckNonce, ()>("CheckNonce"),
        extension::<ChargeTransactionPayment, ()>("ChargeTransactionPayment"),
    ]
}

fn extension<Extra: TypeInfo + 'static, Additional: TypeInfo + 'static>(
    identifier: &'static str,
) -> SignedExtensionMetadata {
    SignedExtensionMetadata {
        identifier,
        ty: meta_type::<Extra>(),
        additional_signed: meta_type::<Additional>(),
    }
}

/// `CheckSpecVersion`: signs the runtime's spec version; nothing in the extrinsic.
#[derive(TypeInfo)]
pub struct CheckSpecVersion;
/// `CheckTxVersion`: signs [`TRANSACTION_VERSION`]; nothing in the extrinsic.
#[derive(TypeInfo)]
pub struct CheckTxVersion;
/// `CheckGenesis`: signs the genesis hash; nothing in the extrinsic.
#[derive(TypeInfo)]
pub struct CheckGenesis;
/// `CheckMortality`: the era in the extrinsic; signs the hash of its birth block.
#[derive(TypeInfo)]
pub struct CheckMortality(pub crate::extrinsic::Era);
/// `CheckNonce`: the signer's nonce in the extrinsic.
#[derive(TypeInfo)]
pub struct CheckNonce(#[codec(compact)] pub Nonce);
/// `ChargeTransactionPayment`: the tip in the extrinsic.
#[derive(TypeInfo)]
pub struct ChargeTransactionPayment(#[codec(compact)] pub Balance);

/// The extrinsic's signed extra: the extensions' values in order.
type SignedExtra = (
    CheckSpecVersion,
    CheckTxVersion,
    CheckGenesis,
    CheckMortality,
    CheckNonce,
    ChargeTransactionPayment,
);

/// The extrinsic type as metadata names it: Substrate's `UncheckedExtrinsic` with its four type
/// parameters (what clients read the address, call, signature and extra types from). Its
/// encoding is the length-prefixed bytes of [`crate::extrinsic::Extrinsic`].
pub struct UncheckedExtrinsic;

impl TypeInfo for UncheckedExtrinsic {
    type Identity = Self;
    fn type_info() -> Type {
        Type::builder()
            .path(Path::new(
                "UncheckedExtrinsic",
                "sp_runtime::generic::unchecked_extrinsic",
            ))
            .type_params(vec![
                TypeParameter::new("Address", Some(meta_type::<AccountId>())),
                TypeParameter::new("Call", Some(meta_type::<RuntimeCall>())),
                TypeParameter::new("Signature", Some(meta_type::<MultiSignature>())),
                TypeParameter::new("Extra", Some(meta_type::<SignedExtra>())),
            ])
            .composite(Fields::unnamed().field(|f| f.ty::<Vec<u8>>()))
    }
}

/// FRAME's `AccountInfo`, the value of `System.Account`: what clients read an account's nonce
/// and balances from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct AccountInfo {
    /// The account's nonce.
    pub nonce: Nonce,
    /// Always 0: Agora keeps no reference counts.
    pub consumers: u32,
    /// 1 while the account has a balance, else 0.
    pub providers: u32,
    /// Always 0.
    pub sufficients: u32,
    /// Its balances.
    pub data: AccountData,
}

/// FRAME's balances `AccountData`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub struct AccountData {
    /// Spendable balance.
    pub free: Balance,
    /// Held: stake, escrow and blob deposits.
    pub reserved: Balance,
    /// Always 0: Agora has no locks.
    pub frozen: Balance,
    /// Always 0.
    pub flags: u128,
}

pallet_support::storage_instance!(
    "System",
    pub SystemAccountPrefix = "Account",
    pub SystemEventsPrefix = "Events",
);

/// `System.Account` as a typed map: the node composes its values, so only its keys are used.
type SystemAccount = StorageMap<SystemAccountPrefix, AccountId, AccountInfo>;

/// The key of `System.Account` for `who`.
pub fn system_account_key(who: &AccountId) -> Vec<u8> {
    SystemAccount::key(who)
}

/// The key of `System.Events`.
pub fn system_events_key() -> Vec<u8> {
    SystemEventsPrefix::prefix().to_vec()
}

/// If `key` is `System.Account` of some account, that account.
pub fn system_account_of(key: &[u8]) -> Option<AccountId> {
    let rest = key.strip_prefix(&SystemAccountPrefix::prefix()[..])?;
    let (hash, id) = (rest.get(..16)?, rest.get(16..)?);
    let id: [u8; 32] = id.try_into().ok()?;
    (hash == blake2_128(&id)).then_some(AccountId(id))
}

/// `System.Account` of `who` in `state`: `None` for an account that has neither signed nor
/// holds a balance (FRAME's default then applies).
pub fn system_account(state: &impl StateRead, who: &AccountId) -> Option<AccountInfo> {
    let nonce = pallet_system::AccountNonce::get(state, who);
    let balances = pallet_balances::Account::get(state, who);
    if nonce.is_none() && balances.is_none() {
        return None;
    }
    let balances = balances.unwrap_or_default();
    Some(AccountInfo {
        nonce: nonce.unwrap_or_default().nonce,
        consumers: 0,
        providers: u32::from(balances.total() > 0),
        sufficients: 0,
        data: AccountData {
            free: balances.free,
            reserved: balances.reserved,
            frozen: 0,
            flags: 0,
        },
    })
}

/// FRAME's `EventRecord`: a phase, the event, and its topics (always none here).
pub struct EventRecord;

impl TypeInfo for EventRecord {
    type Identity = Self;
    fn type_info() -> Type {
        Type::builder()
            .path(Path::new("EventRecord", "frame_system"))
            .type_params(vec![
                TypeParameter::new("E", Some(meta_type::<RuntimeEvent>())),
                TypeParameter::new("T", Some(meta_type::<Hash>())),
            ])
            .composite(
                Fields::named()
                    .field(|f| f.ty::<Phase>().name("phase").type_name("Phase"))
                    .field(|f| f.ty::<RuntimeEvent>().name("event").type_name("E"))
                    .field(|f| f.ty::<Vec<Hash>>().name("topics").type_name("Vec<T>")),
            )
    }
}

/// The value of `System.Events` for a block with these events: each record re-encoded as
/// FRAME's `EventRecord` (the phase, the event, no topics).
pub fn encode_system_events(events: &[RawEvent]) -> Vec<u8> {
    let mut out = Compact(u32::try_from(events.len()).unwrap_or(u32::MAX)).encode();
    for record in events {
        record.phase.encode_to(&mut out);
        out.extend_from_slice(&record.event);
        Compact(0u32).encode_to(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use frame_metadata::v14::RuntimeMetadataV14;
    use scale_info::TypeDef;

    fn v14() -> RuntimeMetadataV14 {
        let prefixed = RuntimeMetadataPrefixed::decode(&mut &encoded()[..]).unwrap();
        assert_eq!(prefixed.0, META_RESERVED);
        match prefixed.1 {
            RuntimeMetadata::V14(v14) => v14,
            _ => panic!("not V14"),
        }
    }

    fn path_of(v14: &RuntimeMetadataV14, id: u32) -> String {
        v14.types.resolve(id).unwrap().path.segments.join("::")
    }

    fn variants(v14: &RuntimeMetadataV14, id: u32) -> Vec<(String, u8)> {
        match &v14.types.resolve(id).unwrap().type_def {
            TypeDef::Variant(def) => def
                .variants
                .iter()
                .map(|v| (v.name.clone(), v.index))
                .collect(),
            other => panic!("not an enum: {other:?}"),
        }
    }

    #[test]
    fn every_pallet_is_described_at_its_index_with_its_calls_events_and_errors() {
        let v14 = v14();
        let pallets: Vec<(String, u8)> = v14
            .pallets
            .iter()
            .map(|p| (p.name.clone(), p.index))
            .collect();
        let expected = [
            "System",
            "Balances",
            "Staking",
            "Market",
            "Jobs",
            "Verification",
        ];
        assert_eq!(
            pallets,
            expected
                .iter()
                .enumerate()
                .map(|(i, n)| ((*n).to_owned(), u8::try_from(i).unwrap()))
                .collect::<Vec<_>>()
        );
        for pallet in &v14.pallets {
            let calls = variants(&v14, pallet.calls.as_ref().unwrap().ty.id);
            assert!(!calls.is_empty(), "{} has no calls", pallet.name);
            let events = variants(&v14, pallet.event.as_ref().unwrap().ty.id);
            assert!(!events.is_empty(), "{} has no events", pallet.name);
            let errors = variants(&v14, pallet.error.as_ref().unwrap().ty.id);
            // Error variant indices are what `DispatchError::error` carries.
            for (position, (_, index)) in errors.iter().enumerate() {
                assert_eq!(usize::from(*index), position, "{}", pallet.name);
            }
            assert!(!pallet.storage.as_ref().unwrap().entries.is_empty());
        }
        // polkadot.js names the call `balances.transferKeepAlive` from the variant.
        let balances = &v14.pallets[1];
        let calls = variants(&v14, balances.calls.as_ref().unwrap().ty.id);
        assert_eq!(calls[0], ("TransferKeepAlive".to_owned(), 0));
        let ed = balances
            .constants
            .iter()
            .find(|c| c.name == "ExistentialDeposit")
            .unwrap();
        assert_eq!(
            u128::decode(&mut &ed.value[..]).unwrap(),
            crate::EXISTENTIAL_DEPOSIT
        );
    }

    #[test]
    fn types_carry_the_paths_substrate_clients_recognize() {
        let v14 = v14();
        assert_eq!(
            path_of(&v14, v14.extrinsic.ty.id),
            "sp_runtime::generic::unchecked_extrinsic::UncheckedExtrinsic"
        );
        assert_eq!(v14.extrinsic.version, 4);
        let params = &v14.types.resolve(v14.extrinsic.ty.id).unwrap().type_params;
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["Address", "Call", "Signature", "Extra"]);
        let address = params[0].ty.unwrap().id;
        assert_eq!(path_of(&v14, address), "sp_core::crypto::AccountId32");
        let call = params[1].ty.unwrap().id;
        assert_eq!(path_of(&v14, call), "agora_runtime::RuntimeCall");
        // The signature enum uses Substrate's variant indices, which wallets prefix.
        let signature = params[2].ty.unwrap().id;
        assert_eq!(
            variants(&v14, signature),
            [("Ed25519".to_owned(), 0), ("Sr25519".to_owned(), 1)]
        );
        let identifiers: Vec<&str> = v14
            .extrinsic
            .signed_extensions
            .iter()
            .map(|e| e.identifier.as_str())
            .collect();
        assert_eq!(
            identifiers,
            [
                "CheckSpecVersion",
                "CheckTxVersion",
                "CheckGenesis",
                "CheckMortality",
                "CheckNonce",
                "ChargeTransactionPayment"
            ]
        );
        let system = &v14.pallets[0];
        let events = system
            .storage
            .as_ref()
            .unwrap()
            .entries
            .iter()
            .find(|e| e.name == "Events")
            .unwrap();
        let frame_metadata::v14::StorageEntryType::Plain(ty) = &events.ty else {
            panic!("System.Events is not a plain value");
        };
        let TypeDef::Sequence(seq) = &v14.types.resolve(ty.id).unwrap().type_def else {
            panic!("System.Events is not a Vec");
        };
        assert_eq!(
            path_of(&v14, seq.type_param.id),
            "frame_system::EventRecord"
        );
    }

    #[test]
    fn every_storage_entry_is_listed_once_and_keys_round_trip() {
        let v14 = v14();
        for pallet in &v14.pallets {
            let names: std::collections::BTreeSet<&str> = pallet
                .storage
                .as_ref()
                .unwrap()
                .entries
                .iter()
                .map(|e| e.name.as_str())
                .collect();
            assert_eq!(names.len(), pallet.storage.as_ref().unwrap().entries.len());
        }
        let alice = AccountId([7; 32]);
        assert_eq!(system_account_of(&system_account_key(&alice)), Some(alice));
        // A key with the right prefix but a hash that does not match its account is not one.
        let mut forged = system_account_key(&alice);
        forged[40] ^= 1;
        assert_eq!(system_account_of(&forged), None);
        assert_eq!(system_account_of(&system_events_key()), None);
    }

    #[test]
    fn system_account_composes_nonce_and_balances() {
        use std::collections::BTreeMap;
        let who = AccountId([3; 32]);
        let mut state: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        assert_eq!(system_account(&state, &who), None);
        state.insert(
            pallet_system::AccountNonce::key(&who),
            pallet_system::AccountInfo { nonce: 5 }.encode(),
        );
        state.insert(
            pallet_balances::Account::key(&who),
            pallet_balances::AccountData {
                free: 10,
                reserved: 4,
            }
            .encode(),
        );
        let info = system_account(&state, &who).unwrap();
        assert_eq!(info.nonce, 5);
        assert_eq!(info.providers, 1);
        assert_eq!(
            (info.data.free, info.data.reserved, info.data.frozen),
            (10, 4, 0)
        );
    }

    #[test]
    fn system_events_are_frame_event_records() {
        let raw = vec![
            RawEvent {
                phase: Phase::ApplyExtrinsic(2),
                event: vec![1, 9],
            },
            RawEvent {
                phase: Phase::Finalization,
                event: vec![3],
            },
        ];
        // Compact(2) ‖ ApplyExtrinsic(2) ‖ event ‖ no topics ‖ Finalization ‖ event ‖ no topics
        assert_eq!(
            encode_system_events(&raw),
            [8, 0, 2, 0, 0, 0, 1, 9, 0, 1, 3, 0]
        );
    }

    #[test]
    fn ss58_prefix_is_the_one_addresses_use() {
        assert_eq!(SS58_PREFIX, u16::from(agora_primitives::ss58::PREFIX));
        assert_eq!(pascal_case("MAX_OPEN_BIDS"), "MaxOpenBids");
    }
}
