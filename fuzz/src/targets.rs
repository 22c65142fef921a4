//! The fuzz targets: one per decoder that reads bytes from strangers.
//!
//! Each target takes arbitrary bytes and must never panic: it decodes them as the node, a
//! worker or a client would, and runs what follows a successful decode (hashing, signature
//! and proof checks). Where the format is canonical, a decoded value must encode back to
//! exactly the bytes it came from — two encodings of one value would give one extrinsic two
//! hashes, or one block two bodies (malleability). A violated property is a panic, which the
//! runner records as a crash.

use agora_primitives::size_proof::SizeProof;
use agora_primitives::smt;
use agora_primitives::storage::RawEvent;
use agora_primitives::trace::{verify_inclusion, InclusionProof, TraceLeaf};
use agora_primitives::Hash;
use agora_runtime::block::{extrinsics_root, Block, Header};
use agora_runtime::extrinsic::{signing_message, Extrinsic};
use agora_runtime::RuntimeCall;
use parity_scale_codec::{Decode, DecodeAll, Encode};

/// A fuzz target: its name (the corpus directory) and the function that takes one input.
#[derive(Clone, Copy)]
pub struct Target {
    /// Its name, also the directory of its corpus under `fuzz/corpus/`.
    pub name: &'static str,
    /// What it decodes, for the report.
    pub what: &'static str,
    /// Takes one input and says whether it decoded; panics on a violated property.
    pub run: fn(&[u8]) -> bool,
}

/// Every target, in the order the runner visits them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "extrinsic",
        what: "an extrinsic as the pool and RPC take it (length-prefixed, signed)",
        run: extrinsic,
    },
    Target {
        name: "block",
        what: "a block as a peer sends it",
        run: block,
    },
    Target {
        name: "header",
        what: "a header",
        run: header,
    },
    Target {
        name: "call",
        what: "a runtime call",
        run: call,
    },
    Target {
        name: "events",
        what: "a block's encoded events, as clients decode them",
        run: events,
    },
    Target {
        name: "state_value",
        what: "a storage value of every kind state sync and RPC readers decode (first byte picks the kind)",
        run: state_value,
    },
    Target {
        name: "smt_node",
        what: "a state-tree node, as state sync fetches them from peers",
        run: smt_node,
    },
    Target {
        name: "smt_proof",
        what: "a state proof checked against a root (root, key, proof)",
        run: smt_proof,
    },
    Target {
        name: "trace_proof",
        what: "a trace leaf and its inclusion proof checked against a root",
        run: trace_proof,
    },
    Target {
        name: "size_proof",
        what: "a blob's size proof checked against a hash and size",
        run: size_proof,
    },
    Target {
        name: "equivocation",
        what: "equivocation evidence",
        run: equivocation,
    },
    Target {
        name: "rpc_params",
        what: "JSON-RPC parameters (hex blobs and extrinsics, hashes, SS58 addresses)",
        run: rpc_params,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().copied().find(|t| t.name == name)
}

/// If `bytes` decode as exactly one `T`, it must encode back to `bytes`.
fn canonical<T: Decode + Encode>(bytes: &[u8]) -> Option<T> {
    let value = T::decode_all(&mut &bytes[..]).ok()?;
    assert!(
        value.encode() == bytes,
        "{} decodes from bytes it does not encode back to",
        std::any::type_name::<T>()
    );
    Some(value)
}

fn extrinsic(bytes: &[u8]) -> bool {
    let Ok(xt) = Extrinsic::decode_bounded(bytes) else {
        return false;
    };
    assert_eq!(xt.encode(), bytes, "an extrinsic with two encodings");
    let _ = xt.hash();
    let genesis = Hash([1; 32]);
    let message = signing_message(&xt.call, &xt.extra, &genesis, &genesis);
    let _ = xt.verify_signature(&message);
    let _ = xt.call.weight();
    true
}

fn block(bytes: &[u8]) -> bool {
    let Some(block) = canonical::<Block>(bytes) else {
        return false;
    };
    let _ = block.hash();
    let _ = extrinsics_root(&block.extrinsics);
    for xt in &block.extrinsics {
        let _ = xt.hash();
    }
    true
}

fn header(bytes: &[u8]) -> bool {
    canonical::<Header>(bytes)
        .map(|header| header.hash())
        .is_some()
}

fn call(bytes: &[u8]) -> bool {
    canonical::<RuntimeCall>(bytes)
        .map(|call| call.weight())
        .is_some()
}

fn events(bytes: &[u8]) -> bool {
    let Ok(raw) = Vec::<RawEvent>::decode_all(&mut &bytes[..]) else {
        return false;
    };
    agora_runtime::decode_events(&raw).is_ok()
}

pub(crate) fn state_value(bytes: &[u8]) -> bool {
    let Some((&kind, value)) = bytes.split_first() else {
        return false;
    };
    match kind % 13 {
        0 => canonical::<pallet_system::AccountInfo>(value).is_some(),
        1 => canonical::<pallet_staking::StakeLedger>(value).is_some(),
        2 => canonical::<pallet_staking::Validator>(value).is_some(),
        3 => canonical::<pallet_staking::Candidate>(value).is_some(),
        4 => canonical::<pallet_market::Offer>(value).is_some(),
        5 => canonical::<pallet_market::Bid>(value).is_some(),
        6 => canonical::<pallet_market::ClosedBid>(value).is_some(),
        7 => canonical::<pallet_jobs::Job>(value).is_some(),
        8 => canonical::<pallet_jobs::BlobInfo>(value).is_some(),
        9 => canonical::<pallet_verification::Audit>(value).is_some(),
        10 => canonical::<pallet_verification::Dispute>(value).is_some(),
        11 => canonical::<pallet_jobs::BlobLifetimes>(value).is_some(),
        _ => canonical::<Vec<pallet_staking::Validator>>(value).is_some(),
    }
}

fn smt_node(bytes: &[u8]) -> bool {
    canonical::<smt::Node>(bytes)
        .map(|node| node.hash())
        .is_some()
}

/// `root (32) ‖ key length (1) ‖ key ‖ has value (1) ‖ value length (1) ‖ value ‖ proof`.
fn smt_proof(bytes: &[u8]) -> bool {
    let mut input = bytes;
    let Some(root) = take(&mut input, 32).map(hash) else {
        return false;
    };
    let Some(key) = take_sized(&mut input) else {
        return false;
    };
    let Some(&has_value) = input.first() else {
        return false;
    };
    input = &input[1..];
    let Some(value) = take_sized(&mut input) else {
        return false;
    };
    let Some(proof) = canonical::<smt::Proof>(input) else {
        return false;
    };
    let value = (has_value & 1 == 1).then_some(value);
    let _ = smt::verify(root, key, value, &proof);
    true
}

/// `root (32) ‖ leaf count (8) ‖ leaf ‖ proof`.
fn trace_proof(bytes: &[u8]) -> bool {
    let mut input = bytes;
    let Some((root, count)) = hash_and_u64(&mut input) else {
        return false;
    };
    let Ok(leaf) = TraceLeaf::decode(&mut input) else {
        return false;
    };
    let Some(proof) = canonical::<InclusionProof>(input) else {
        return false;
    };
    let _ = verify_inclusion(root, count, &leaf, &proof);
    true
}

/// `hash (32) ‖ size (8) ‖ proof`.
fn size_proof(bytes: &[u8]) -> bool {
    let mut input = bytes;
    let Some((hash, size)) = hash_and_u64(&mut input) else {
        return false;
    };
    let Some(proof) = canonical::<SizeProof>(input) else {
        return false;
    };
    let _ = proof.verify(&hash, size);
    true
}

/// A 32-byte hash, then a little-endian `u64`.
fn hash_and_u64(input: &mut &[u8]) -> Option<(Hash, u64)> {
    let hash = take(input, 32).map(hash)?;
    let value = u64::from_le_bytes(take(input, 8)?.try_into().ok()?);
    Some((hash, value))
}

fn equivocation(bytes: &[u8]) -> bool {
    canonical::<pallet_staking::equivocation::Equivocation>(bytes).is_some()
}

fn rpc_params(bytes: &[u8]) -> bool {
    use agora_rpc_api::Hex;
    let mut decoded = false;
    if let Ok(text) = std::str::from_utf8(bytes) {
        decoded |= agora_primitives::ss58::decode(text).is_ok();
        decoded |= Hash::from_hex(text).is_ok();
    }
    if let Ok(hex) = serde_json::from_slice::<Hex>(bytes) {
        decoded = true;
        if let Ok(bytes) = hex.decode() {
            extrinsic(&bytes);
        }
    }
    decoded |= serde_json::from_slice::<(Hex, Option<Hash>)>(bytes).is_ok();
    decoded |= serde_json::from_slice::<(Vec<Hex>, Option<Hash>)>(bytes).is_ok();
    decoded |= serde_json::from_slice::<(String, Option<Hash>)>(bytes).is_ok();
    decoded |= serde_json::from_slice::<(u64, Option<Hash>)>(bytes).is_ok();
    decoded
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if input.len() < n {
        return None;
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Some(head)
}

/// A one-byte length, then that many bytes.
fn take_sized<'a>(input: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::from(*take(input, 1)?.first()?);
    take(input, len)
}

fn hash(bytes: &[u8]) -> Hash {
    let mut out = [0; 32];
    out.copy_from_slice(bytes);
    Hash(out)
}
