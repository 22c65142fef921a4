//! Weights of the pallet's calls, in nanoseconds on the reference machine.

use super::Weight;
/// `bond`: ledger and account read/write, two events.
pub const BOND: Weight = 15_000;
/// `unbond`: ledger read/write.
pub const UNBOND: Weight = 10_000;
/// `withdraw_unbonded`: ledger and account read/write over a bounded chunk list.
pub const WITHDRAW_UNBONDED: Weight = 20_000;
/// `register_validator`: the key proof's ed25519 verification, a bond, a commit, the
/// key-uniqueness scan over the candidates and the sitting committees (bounded by
/// `MAX_CANDIDATES` and `MAX_VALIDATORS`).
pub const REGISTER_VALIDATOR: Weight = 260_000;
/// `set_validator_key`: the same verification and scan.
pub const SET_VALIDATOR_KEY: Weight = 240_000;
/// `unregister_validator`: the candidate list rewritten, the committees read.
pub const UNREGISTER_VALIDATOR: Weight = 60_000;
/// `report_equivocation`: two ed25519 verifications, a committee read, a slash.
pub const REPORT_EQUIVOCATION: Weight = 250_000;
/// The election (once an epoch): every candidate read and sorted.
pub fn election(candidates: usize) -> Weight {
    let count = u64::try_from(candidates).unwrap_or(u64::MAX);
    50_000u64.saturating_add(count.saturating_mul(5_000))
}
