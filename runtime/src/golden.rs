//! Golden values: the consensus bits pinned as literals.
//!
//! Every other test compares two runs in one process, so a change that moves every run the
//! same way — a codec upgrade, a reordered field, a new storage item written at genesis, a
//! changed signing payload — would pass them all, and split a network whose nodes run the old
//! and the new code. These tests fail on any such change.
//!
//! **What changing a value here means.** A new dev genesis hash or state root is a new chain:
//! nodes of the old and new code cannot follow each other from genesis, and a running network
//! needs a planned upgrade (`docs/operator.md`, upgrades). A new call encoding means old
//! clients' transactions no longer decode, or decode as something else: bump
//! `SPEC_VERSION`/`TRANSACTION_VERSION` and say so in the release notes. Update a value only
//! on purpose, with the commit saying why; the assertion prints the new table to paste.

use crate::extrinsic::Extrinsic;
use crate::genesis::{ChainSpec, DEV_ENDOWMENT};
use crate::tests::Chain;
use crate::{RuntimeCall, AGR};
use agora_primitives::size_proof::SizeProof;
use agora_primitives::trace::{InclusionProof, TraceLeaf};
use agora_primitives::{AccountId, Hash};
use pallet_market::{BidTerms, Energy, JobSpec, Region};
use pallet_staking::equivocation::{Equivocation, SignedVote, Vote};
use parity_scale_codec::{Compact, Encode};
use scale_info::TypeInfo;
use sp_core::{ed25519, Pair};

use crate::executive::immortal_extra;
use crate::extrinsic::ExtrinsicSigner;

/// An ed25519 key (its signatures are deterministic, RFC 8032, unlike sr25519's).
fn ed(name: &str) -> ed25519::Pair {
    ed25519::Pair::from_string(&format!("//{name}"), None).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Compares `actual` with the pinned `expected` line by line, printing the whole new table.
fn assert_golden(actual: &str, expected: &str) {
    assert!(
        actual.trim() == expected.trim(),
        "golden values changed (see the module docs for what that means); the new table:\n{actual}"
    );
}

#[test]
fn the_dev_genesis_hash_is_pinned() {
    let genesis = ChainSpec::development().genesis();
    let actual = format!(
        "genesis hash {}\nstate root {}\n",
        genesis.block.hash().to_hex(),
        genesis.block.header.state_root.to_hex()
    );
    assert_golden(&actual, GENESIS);
}

const GENESIS: &str = "
genesis hash 0x02e319c55d9a50e15a9ae8eb160ab4589db4a816d174ccacddee8724eb7a6616
state root 0x30298889a53a2ba841eb811fed85eb417939c32a6eebb774a1385df57f484231
";

/// Three blocks on a dev chain whose ed25519 accounts are funded (so that every byte of every
/// block, signatures included, is the same on every run): transfers, a remark, a bond, a
/// refused call. Pins each block's state root and hash.
#[test]
fn the_state_roots_after_a_fixed_block_sequence_are_pinned() {
    let (alice, bob) = (ed("Alice"), ed("Bob"));
    let mut spec = ChainSpec::development();
    spec.genesis
        .balances
        .push((alice.signer_account(), DEV_ENDOWMENT));
    let mut chain = Chain::with_spec(&spec);
    let sign = |chain: &Chain, call: RuntimeCall, nonce: u32| {
        Extrinsic::sign(
            &alice,
            call,
            immortal_extra(nonce, 0),
            &chain.genesis_hash,
            &chain.genesis_hash,
        )
    };
    let transfer = |value| {
        RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: bob.signer_account(),
            value: Compact(value),
        })
    };
    let blocks = [
        vec![
            transfer(10 * AGR),
            RuntimeCall::System(pallet_system::Call::Remark {
                remark: b"golden".to_vec(),
            }),
        ],
        vec![RuntimeCall::Staking(pallet_staking::Call::Bond {
            amount: Compact(2_000 * AGR),
        })],
        // Refused by the runtime (no stake to unbond beyond the bond): the fee is still paid.
        vec![
            RuntimeCall::Staking(pallet_staking::Call::Unbond {
                amount: Compact(1_000_000 * AGR),
            }),
            transfer(AGR),
        ],
    ];
    let mut nonce = 0;
    let mut actual = String::new();
    for calls in blocks {
        let xts = calls
            .into_iter()
            .map(|call| {
                nonce += 1;
                sign(&chain, call, nonce - 1)
            })
            .collect();
        let block = chain.build(xts);
        chain.import(&block).unwrap();
        actual += &format!(
            "block {} state root {} hash {}\n",
            block.header.number.0,
            block.header.state_root.to_hex(),
            block.hash().to_hex()
        );
    }
    assert_golden(&actual, BLOCKS);
}

const BLOCKS: &str = "
block 1 state root 0xc6732a1dcac148534a06be7469f77ec53d29a6d5f8a791d53a31b42b4bc8ad02 hash 0xdc280de6912e96805ec1d3756b17bf8031bd9edf48c5889260f171104950d54c
block 2 state root 0xcf8c9da01f10154c6ea9c2748bfe8884342a4967aae2f5cee52af4daa27140ee hash 0xe2efbc2266da59ae32a6e2c8a171a2d8db9eb79e66a66d5165a205f738bccca1
block 3 state root 0x74318ba80437c401a3e8beb5333da6e2eea808cee848ff4d22e854dfea413f7b hash 0xef2b89a088ad8fe3031898d0a4660e88b753a3518ae553f11239838bee28eb89
";

/// The call indices of a pallet's `Call` enum, from its type information.
fn call_indices<C: TypeInfo + 'static>() -> Vec<u8> {
    match C::type_info().type_def {
        scale_info::TypeDef::Variant(variants) => {
            variants.variants.iter().map(|v| v.index).collect()
        }
        other => panic!("a Call is an enum, not {other:?}"),
    }
}

fn h(byte: u8) -> Hash {
    Hash([byte; 32])
}

fn leaf() -> TraceLeaf {
    TraceLeaf {
        index: 3,
        state_hash: h(4),
        fuel: 5_000_000,
    }
}

fn proof() -> InclusionProof {
    InclusionProof {
        index: 3,
        siblings: vec![h(6), h(7)],
    }
}

/// One example of every call of the runtime, with arguments that use every field.
fn one_of_every_call() -> Vec<(&'static str, RuntimeCall)> {
    [
        system_and_balances_calls(),
        staking_calls(),
        market_calls(),
        jobs_calls(),
        verification_calls(),
    ]
    .concat()
}

fn system_and_balances_calls() -> Vec<(&'static str, RuntimeCall)> {
    use pallet_balances::Call as B;
    let account = AccountId([9; 32]);
    vec![
        (
            "system.remark",
            RuntimeCall::System(pallet_system::Call::Remark {
                remark: b"hi".to_vec(),
            }),
        ),
        (
            "balances.transfer_keep_alive",
            RuntimeCall::Balances(B::TransferKeepAlive {
                dest: account,
                value: Compact(AGR),
            }),
        ),
        (
            "balances.transfer_all",
            RuntimeCall::Balances(B::TransferAll { dest: account }),
        ),
    ]
}

fn staking_calls() -> Vec<(&'static str, RuntimeCall)> {
    use pallet_staking::Call as S;
    use RuntimeCall::Staking;
    let vote = |block: u8| SignedVote {
        vote: Vote::Finalize {
            parent_view: 10,
            block: h(block),
        },
        signature: [block; 64],
    };
    vec![
        (
            "staking.bond",
            Staking(S::Bond {
                amount: Compact(1_000 * AGR),
            }),
        ),
        (
            "staking.unbond",
            Staking(S::Unbond {
                amount: Compact(AGR),
            }),
        ),
        ("staking.withdraw_unbonded", Staking(S::WithdrawUnbonded)),
        (
            "staking.register_validator",
            Staking(S::RegisterValidator {
                consensus_key: h(1),
                beacon_key: h(2),
                address: b"127.0.0.1:30333".to_vec(),
                bond: Compact(1_000 * AGR),
                key_proof: [3; 64],
            }),
        ),
        (
            "staking.set_validator_key",
            Staking(S::SetValidatorKey {
                consensus_key: h(1),
                beacon_key: h(2),
                address: Vec::new(),
                key_proof: [3; 64],
            }),
        ),
        (
            "staking.unregister_validator",
            Staking(S::UnregisterValidator),
        ),
        (
            "staking.report_equivocation",
            Staking(S::ReportEquivocation {
                evidence: Box::new(Equivocation {
                    offender: h(1),
                    epoch: 2,
                    view: 11,
                    first: vote(20),
                    second: vote(21),
                }),
            }),
        ),
    ]
}

fn market_calls() -> Vec<(&'static str, RuntimeCall)> {
    use pallet_market::Call as M;
    use RuntimeCall::Market;
    vec![
        (
            "market.post_offer",
            Market(M::PostOffer {
                price: Compact(AGR / 1_000),
                capacity: Compact(1_000_000_000_000),
                region: Region::new("eu-west").unwrap(),
                energy: Energy::Renewable,
                collateral: Compact(10 * AGR),
                expires_at: Compact(100_000),
            }),
        ),
        (
            "market.cancel_offer",
            Market(M::CancelOffer { offer: Compact(7) }),
        ),
        (
            "market.place_bid",
            Market(M::PlaceBid {
                spec: JobSpec {
                    module: h(1),
                    dataset: h(2),
                    params: br#"{"epochs":3}"#.to_vec(),
                    steps: 460,
                    segment_steps: 10,
                    seed: 42,
                },
                terms: BidTerms {
                    max_price: AGR / 500,
                    max_fuel: 4_000_000_000,
                    run_blocks: 600,
                    deadline: 10_000,
                    region: Region::new("eu-west"),
                    renewable_only: true,
                    requeue: false,
                    assurance_permille: 20,
                    assurance_verifiers: 2,
                },
            }),
        ),
        (
            "market.cancel_bid",
            Market(M::CancelBid { bid: Compact(8) }),
        ),
    ]
}

fn jobs_calls() -> Vec<(&'static str, RuntimeCall)> {
    use pallet_jobs::Call as J;
    use RuntimeCall::Jobs;
    vec![
        (
            "jobs.register_blob",
            Jobs(J::RegisterBlob {
                hash: h(3),
                size: 3,
                proof: SizeProof {
                    last_chunk: b"abc".to_vec(),
                    left: vec![[5; 32]],
                },
            }),
        ),
        (
            "jobs.commit_result",
            Jobs(J::CommitResult {
                job: 8,
                commitment: pallet_jobs::Commitment {
                    trace_root: h(1),
                    segments: 4,
                    final_state: h(2),
                    total_fuel: 9_000_000,
                    heaviest_segment: 1,
                    heaviest_fuel: 3_000_000,
                    output: h(3),
                    metrics: br#"{"accuracy":0.9}"#.to_vec(),
                },
                final_proof: proof(),
            }),
        ),
        ("jobs.cancel_job", Jobs(J::CancelJob { job: 8 })),
        (
            "jobs.declare_unrunnable",
            Jobs(J::DeclareUnrunnable { job: 8 }),
        ),
        ("jobs.release_model", Jobs(J::ReleaseModel { job: 8 })),
        ("jobs.prove_unrunnable", Jobs(J::ProveUnrunnable { job: 8 })),
    ]
}

fn verification_calls() -> Vec<(&'static str, RuntimeCall)> {
    use pallet_verification::Call as V;
    use RuntimeCall::Verification;
    let (leaf, proof) = (leaf(), proof());
    vec![
        (
            "verification.register_verifier",
            Verification(V::RegisterVerifier),
        ),
        (
            "verification.deregister_verifier",
            Verification(V::DeregisterVerifier),
        ),
        (
            "verification.reveal_starts",
            Verification(V::RevealStarts {
                job: 8,
                starts: vec![None, Some((leaf, proof.clone()))],
            }),
        ),
        (
            "verification.attest",
            Verification(V::Attest {
                job: 8,
                check: 1,
                commitment: h(4),
            }),
        ),
        (
            "verification.reveal_leaves",
            Verification(V::RevealLeaves {
                job: 8,
                leaves: vec![(leaf, proof.clone())],
            }),
        ),
        (
            "verification.reveal_attestation",
            Verification(V::RevealAttestation {
                job: 8,
                check: 1,
                leaf,
                result: Some(pallet_verification::FinalResult {
                    output: h(3),
                    metrics: h(5),
                }),
                salt: [6; 32],
            }),
        ),
        (
            "verification.bisect",
            Verification(V::Bisect {
                job: 8,
                state: h(4),
            }),
        ),
        (
            "verification.answer",
            Verification(V::Answer {
                job: 8,
                agree: true,
            }),
        ),
        ("verification.referee", Verification(V::Referee { job: 8 })),
        (
            "verification.challenge",
            Verification(V::Challenge {
                job: 8,
                target: pallet_verification::ChallengeTarget::Fuel(2),
            }),
        ),
        (
            "verification.reveal_leaf",
            Verification(V::RevealLeaf {
                job: 8,
                leaf,
                proof,
            }),
        ),
    ]
}

/// Every call of every pallet has an example above, and its encoding — the call alone, and
/// signed by ed25519 //Alice with nonce 7 on the dev chain — is pinned: the call's bytes in
/// hex, the signed extrinsic's blake3.
#[test]
fn one_extrinsic_of_every_call_encodes_to_its_pinned_bytes() {
    let examples = one_of_every_call();
    let mut covered: Vec<(u8, u8)> = examples
        .iter()
        .map(|(_, call)| {
            let bytes = call.encode();
            (bytes[0], bytes[1])
        })
        .collect();
    covered.sort_unstable();
    let mut every = Vec::new();
    for (pallet, calls) in [
        (crate::SYSTEM_INDEX, call_indices::<pallet_system::Call>()),
        (
            crate::BALANCES_INDEX,
            call_indices::<pallet_balances::Call>(),
        ),
        (crate::STAKING_INDEX, call_indices::<pallet_staking::Call>()),
        (crate::MARKET_INDEX, call_indices::<pallet_market::Call>()),
        (crate::JOBS_INDEX, call_indices::<pallet_jobs::Call>()),
        (
            crate::VERIFICATION_INDEX,
            call_indices::<pallet_verification::Call>(),
        ),
    ] {
        every.extend(calls.into_iter().map(|call| (pallet, call)));
    }
    every.sort_unstable();
    assert_eq!(covered, every, "one example of every call, each once");

    let genesis = ChainSpec::development().genesis().block.hash();
    let alice = ed("Alice");
    let mut actual = String::new();
    for (name, call) in examples {
        let signed = Extrinsic::sign(
            &alice,
            call.clone(),
            immortal_extra(7, 0),
            &genesis,
            &genesis,
        );
        actual += &format!(
            "{name} {} {}\n",
            hex(&call.encode()),
            Hash::of(&signed.encode()).to_hex()
        );
    }
    assert_golden(&actual, CALLS);
}

const CALLS: &str = "
system.remark 0000086869 0x9ad220114404f3e32b271ed2d3341ea04e0ab528a01f9c29be7d657ad35ad340
balances.transfer_keep_alive 01000909090909090909090909090909090909090909090909090909090909090909070010a5d4e8 0x619e4141cd47419573d53b3bf5521ea7981f682411e8a10a951b469d32e099c0
balances.transfer_all 01010909090909090909090909090909090909090909090909090909090909090909 0x3d8e1bda9016279f9565c85147b4f3fb987ac3e94c89bb58529f387aaab4cb90
staking.bond 02000f0080c6a47e8d03 0x6e1d15a9ac244dd4e9a988ab91c6e44040bcbeaf2c09f686b768b710cd2ad6df
staking.unbond 0201070010a5d4e8 0x0bd4364ab2f61d1104547fb725620a4fb6f1d825dd93082b83ee6a41e72a6e82
staking.withdraw_unbonded 0202 0xe5ce6f7381801a28b329363781f2edf7d924277bbc4956d7df63cca76f8021b3
staking.register_validator 0203010101010101010101010101010101010101010101010101010101010101010102020202020202020202020202020202020202020202020202020202020202023c3132372e302e302e313a33303333330f0080c6a47e8d0303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303 0xe8053ba080ea272b707c36280a71301163c984f71e4ac67cd7ac2ece84d94ba7
staking.set_validator_key 0204010101010101010101010101010101010101010101010101010101010101010102020202020202020202020202020202020202020202020202020202020202020003030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303030303 0xab0e1dc09000a0f13a2d737ca5f42a238fd448033eea3d599cd5f219d6a4a6db
staking.unregister_validator 0205 0x3d78af57ac913c8ed3fedac77b8d7023081a8d0bd1c0a3559c459e5b0f8d8794
staking.report_equivocation 0206010101010101010101010101010101010101010101010101010101010101010102000000000000000b00000000000000010a00000000000000141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414010a00000000000000151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515 0x03122d45e52da30748f6ebd95bf9825220bf005e852f50da9727fad3af4233da
market.post_offer 030002286bee070010a5d4e81c65752d77657374000b00a0724e1809821a0600 0x5c8e262bc4c3f6cced8eb093cead5fe6fe43ec0675d87f6a58c393a1f3eb2e9a
market.cancel_offer 03011c 0xac96b4fabd8d42d1c7bf841b442cdf06a879172bd09537a2c806b022634e9a71
market.place_bid 030201010101010101010101010101010101010101010101010101010101010101010202020202020202020202020202020202020202020202020202020202020202307b2265706f636873223a337dcc010000000000000a000000000000002a000000000000000094357700000000000000000000000000286bee00000000580200001027000000000000011c65752d7765737401001400000002000000 0xd3947774124a616b8a4a9b419d33421e48905a61f3fc5175238bc624cd2f08a6
market.cancel_bid 030320 0x306e13a8464bb592883e47cda89e36af8d3563491a891a2d9635667f64261630
jobs.register_blob 0400030303030303030303030303030303030303030303030303030303030303030303000000000000000c616263040505050505050505050505050505050505050505050505050505050505050505 0x40f3c5cf5e95c5410aa4c55024ea4aa9721d79b62e33f2903af007d13406de22
jobs.commit_result 0401080000000000000001010101010101010101010101010101010101010101010101010101010101010400000000000000020202020202020202020202020202020202020202020202020202020202020240548900000000000100000000000000c0c62d00000000000303030303030303030303030303030303030303030303030303030303030303407b226163637572616379223a302e397d03000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0xf97af803a8a1c86abe1f94e1168e2d3af826d2d8a25ceef2a8675226473bf284
jobs.cancel_job 04020800000000000000 0x6ce1defe92e5bed40b0edd508c2f59f5d59e8f8da6539b37144dd11464c300a3
jobs.declare_unrunnable 04030800000000000000 0x6c4a445d33ff433ebe90bdce0e53dfbaa734418c785dafb9a511a6b3c36ff08a
jobs.release_model 04040800000000000000 0xf0a4bc166ff450d348f90f8df1cccef467ee5624b7d6e949223c4e8fdfa56cca
jobs.prove_unrunnable 04050800000000000000 0xae373e005b436fab9d12779de4cdad16ab236a67661db6a225f261dbd5393166
verification.register_verifier 0500 0xdd3443708ab0bd4eb84d14a29626f47776b963c0960779e8a19a2f16dddb773c
verification.deregister_verifier 0501 0x2de34a1e52fbc14e6462882c9cd6d843b003e4f2f62e9382c2ab3c4754c7bb8a
verification.reveal_starts 0502080000000000000008000103000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0xea8e48993854530dd5e0682118a7ce193fde7c01d47026a6a21ab93a38e80cfd
verification.attest 05030800000000000000010000000404040404040404040404040404040404040404040404040404040404040404 0x467ebfed0eaaa708a5804a97e43d6b5956d4aee37cf6ab75b0a022cb5545c556
verification.reveal_leaves 050408000000000000000403000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x1a756dd5306dfd7ec670abfe690f129cda91d72d7ddae3144a2a9ca5b512b36e
verification.reveal_attestation 050508000000000000000100000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000001030303030303030303030303030303030303030303030303030303030303030305050505050505050505050505050505050505050505050505050505050505050606060606060606060606060606060606060606060606060606060606060606 0x0c5962537972a9695ef4060c0db84f366ac44d14b1d44d82e45ee19688112820
verification.bisect 050608000000000000000404040404040404040404040404040404040404040404040404040404040404 0x1afd38678f1df87ee2806a7ab415a0c27b14311722aa23fdb1b25d0c89f47267
verification.answer 0507080000000000000001 0x6d9044823ad1108f8f8cafebe432bcc23d9f5f46646f35656ba6c3301ec218d1
verification.referee 05080800000000000000 0x6241b71dcb537306dc509e85aa6a5369c247e8284d41b1a1f49e81cf4e29ad01
verification.challenge 05090800000000000000020200000000000000 0x9f385fbdd5713ff972f83d8a2f509d4eaf4a0a732c5219b6c1d7f10bc8a119c5
verification.reveal_leaf 050a080000000000000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x56601ed9fa5cb2f61235ffa0122dda83a0e89f054a7f2b2ca076c8c625917d63
";
