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
block 1 state root 0xc6732a1dcac148534a06be7469f77ec53d29a6d5f8a791d53a31b42b4bc8ad02 hash 0xb2fc1fd376466a29c6bcaec880274596fdeb6f98124ea8ffa5a227e175bb072c
block 2 state root 0x31b8b5023d9c7568e1454775ac58254b86ed73e7e2c8d3b02269aa7f317b8ab5 hash 0x5bdebd26abdaa763ec11e94185fe886d308d033db18686293a9bdeb169566b36
block 3 state root 0x02f026836e5c2a7b45fb95206ba5d35bd940d5462d6ef75ce2b9c5eb9675c9ec hash 0x7eabb5f45ca0ae8c19b6bda81d8271e66bd37cfba18f7315b7ea361160ca6cfb
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
            }),
        ),
        (
            "staking.set_validator_key",
            Staking(S::SetValidatorKey {
                consensus_key: h(1),
                beacon_key: h(2),
                address: Vec::new(),
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
system.remark 0000086869 0x7296a954b33dfb7b7e6bd02be7a2441ba101edfe39e30f7e54f25f50a758f66e
balances.transfer_keep_alive 01000909090909090909090909090909090909090909090909090909090909090909070010a5d4e8 0xd9437baaf3c7142d0d820a11bc3e11d2d7bac8523fd781d21453e0d18adfc7e2
balances.transfer_all 01010909090909090909090909090909090909090909090909090909090909090909 0x65c8f9d7cd7180d9112617e9d237cfda6911529851c608bc04c15c6571e2aed2
staking.bond 02000f0080c6a47e8d03 0xddbf7b2f9dc98bd32ad5df2030626b00d25a1bb24722a15ef99dd6879fd74c75
staking.unbond 0201070010a5d4e8 0xa7b20b1f372105d5d0bd47b55f14ac1c108f99068bd5b9eee29dc91f9de49c5e
staking.withdraw_unbonded 0202 0xb6c60e402e60859968da2daff29bdadbd38ea2358eceb68fbc0ec8ca7ac50474
staking.register_validator 0203010101010101010101010101010101010101010101010101010101010101010102020202020202020202020202020202020202020202020202020202020202023c3132372e302e302e313a33303333330f0080c6a47e8d03 0xd7f91224881d666cb07b2a81a5b1fc96c37d6056a928a99c4a3a125d1a912a00
staking.set_validator_key 02040101010101010101010101010101010101010101010101010101010101010101020202020202020202020202020202020202020202020202020202020202020200 0xb45c05df72179bd1312b9fd9aef10b57253473bbd723fc109d5374a61a7eaa30
staking.unregister_validator 0205 0x6008b1b1aed8ce82a4e20c1e3a5d209104d662ee78906b58198904149907d7a5
staking.report_equivocation 0206010101010101010101010101010101010101010101010101010101010101010102000000000000000b00000000000000010a00000000000000141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414010a00000000000000151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515 0x1fa0a5562b128925957919cc3a319e75590120f73b5b4bd2368dabd54df8bcfb
market.post_offer 030002286bee070010a5d4e81c65752d77657374000b00a0724e1809821a0600 0x87b00e01b2e5170c0af8cfe0b5f33fcf2acdd69ddd5d11206aa7b4a1d1288d98
market.cancel_offer 03011c 0xe3334a9b4f7dad4990aebc02f8290918206afae48ee12ce8531219f0e850ed11
market.place_bid 030201010101010101010101010101010101010101010101010101010101010101010202020202020202020202020202020202020202020202020202020202020202307b2265706f636873223a337dcc010000000000000a000000000000002a000000000000000094357700000000000000000000000000286bee00000000580200001027000000000000011c65752d7765737401001400000002000000 0x1d4b8a87d8898be110ffaf033baad9d261c38cad7366627a1221f13d16d6183d
market.cancel_bid 030320 0x791a5a3356b0b85bf0e1771f48e73b97bf488cd7679dadbd8af92db556ae5a42
jobs.register_blob 0400030303030303030303030303030303030303030303030303030303030303030303000000000000000c616263040505050505050505050505050505050505050505050505050505050505050505 0xf86f83d3640e7d8e7981d214ea475822751c6ee1d80e76f1c9ea4d03600cf53f
jobs.commit_result 0401080000000000000001010101010101010101010101010101010101010101010101010101010101010400000000000000020202020202020202020202020202020202020202020202020202020202020240548900000000000100000000000000c0c62d00000000000303030303030303030303030303030303030303030303030303030303030303407b226163637572616379223a302e397d03000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x977a1fbbca504403b6e893a97f32178c845130a5330fee2f122ae6937ad092f0
jobs.cancel_job 04020800000000000000 0xaa9dd984a08d212927ae3db1ca00165b2ef2e762aa9dbe37accf1d8097babdb5
jobs.declare_unrunnable 04030800000000000000 0x1909027c002f991c3e6c89ef173f3cf98ce7f51f3a7446b7c765f9e5f01bc397
jobs.release_model 04040800000000000000 0x17335f60342dc161edc86e55859185f68d096fd73584276189b1f2321d528ff1
verification.register_verifier 0500 0xf23d2d44f3215f3acf53e6e1bf340e54417dba5b91ea9a0a9eaa0fe94bd9e1f7
verification.deregister_verifier 0501 0x9dea689186069024e994362df95e4534768e82f510c1e4075769059d535f07f9
verification.reveal_starts 0502080000000000000008000103000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0xb5a7e085858199478f7d70f59629c414478d892eb7c0e077d398a5a08b4815ea
verification.attest 05030800000000000000010000000404040404040404040404040404040404040404040404040404040404040404 0x7fb0f60d55350d5606499771c6bdcbc18f9606a99b36e0caad170099a5344d67
verification.reveal_leaves 050408000000000000000403000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x7131bd0b832fe8f15c4df1f1c6ba39096c173e6a32fa8a294ccde3e4f8e90356
verification.reveal_attestation 050508000000000000000100000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000001030303030303030303030303030303030303030303030303030303030303030305050505050505050505050505050505050505050505050505050505050505050606060606060606060606060606060606060606060606060606060606060606 0x51b06c3ac3ce57f267d45b216cad9abbe3080c66a83d5c1fe6c7c8fae4cd3037
verification.bisect 050608000000000000000404040404040404040404040404040404040404040404040404040404040404 0xc8ae08adfad445241968216ed78fb3cc254a1a5acc232a62c0cb6da7f955970d
verification.answer 0507080000000000000001 0xd1227741f3e54cfa5e1197c338d7f8a9b130bc58d8ddccd04194df8bf97e7a28
verification.referee 05080800000000000000 0x23d9647402a239cd5ff821e0d8aacfdfce05e1dbdaea2ca729a0df5dde88d31a
verification.challenge 05090800000000000000020200000000000000 0x88da0eeb8835edd09b2a81e7c95a0393f1fb265ee177e191e526bbf8e879a1db
verification.reveal_leaf 050a080000000000000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x9c068cbdac57c5b5c2f4641f1adca99e34859f01759823dba5fbe75e8ee34464
";
