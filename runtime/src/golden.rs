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
block 1 state root 0xc6732a1dcac148534a06be7469f77ec53d29a6d5f8a791d53a31b42b4bc8ad02 hash 0x8ca0be6dac7eafef6c6ac62656ff84a830f456445b1443c4bd53df989f534b4c
block 2 state root 0xe421c42e8be858bf7d2195b12f1c6dcede9810b2a9ef1fd005490482edce7c66 hash 0x8b66ef3c6056d09cc12d5fccb3922bb4fbb1b7d1ea7114a0ac7fe49f911b6479
block 3 state root 0x74b7a67630063f57b9c26f61c7ad58c8a1fcb68f5f1fa1d3448fe19634e8f91b hash 0x12815337bf8470a75ab3a4d9ce2a2cb9da015c590711fb43afbba035fb736fb2
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
system.remark 0000086869 0x20d3414dffd05ad29875d52dd945369c2cbe663490a65f5eef73d642bc3cb6f9
balances.transfer_keep_alive 01000909090909090909090909090909090909090909090909090909090909090909070010a5d4e8 0x149fd06fc487f01fb8110007f4b640456f88eef8c98f5aeadcb30c3f3e8b12e2
balances.transfer_all 01010909090909090909090909090909090909090909090909090909090909090909 0x577280d6c2b527794b5d5c10958ef6d746096a22c90c868ca3b57ba394a82265
staking.bond 02000f0080c6a47e8d03 0x6277135c3160252e550a2e9947c7bf2001e44d130d18c11b0d8cf53cc83bd3e1
staking.unbond 0201070010a5d4e8 0x00b013e67fb9bf9c8d2119a2c0d5eecab28288e3776208cdb8107bddca3b438d
staking.withdraw_unbonded 0202 0x3274109974dc9bd86d0db07d37390be735b15fb175e4ede98ddf955fa3578ca7
staking.register_validator 0203010101010101010101010101010101010101010101010101010101010101010102020202020202020202020202020202020202020202020202020202020202023c3132372e302e302e313a33303333330f0080c6a47e8d03 0x0b101154a0ffc80604ea481496110172883822a422e0602f385a8daccdfb08ed
staking.set_validator_key 02040101010101010101010101010101010101010101010101010101010101010101020202020202020202020202020202020202020202020202020202020202020200 0x53ba008f84c307d8665b0be7e3af196e337ca866be683559b097afb0913876bc
staking.unregister_validator 0205 0x77dffd01b4603b7e0badf67a303239a30bf3b25e2cc239b202e9c34537da985e
staking.report_equivocation 0206010101010101010101010101010101010101010101010101010101010101010102000000000000000b00000000000000010a00000000000000141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414010a00000000000000151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515 0x0efe2caa297967465e98b6f057f2caa02e177ef329f290d9f4e95d886062dec9
market.post_offer 030002286bee070010a5d4e81c65752d77657374000b00a0724e1809821a0600 0x33e4305190b118c65e9e58d9738a98b99bb84857497f636eaf706eb957d2b400
market.cancel_offer 03011c 0x27371f902c8064388b06caadff4e2ed222ae04eb9530a18a64c2b2283feaef32
market.place_bid 030201010101010101010101010101010101010101010101010101010101010101010202020202020202020202020202020202020202020202020202020202020202307b2265706f636873223a337dcc010000000000000a000000000000002a000000000000000094357700000000000000000000000000286bee00000000580200001027000000000000011c65752d7765737401001400000002000000 0x1c60b6854ccd13f0be8e838b9578b6407671be5b79882c362900f61591343ab2
market.cancel_bid 030320 0x54c8b06a3d6c4881a53ca7566d576facdc0ef6b23c3752f50bb141368f0a47da
jobs.register_blob 0400030303030303030303030303030303030303030303030303030303030303030303000000000000000c616263040505050505050505050505050505050505050505050505050505050505050505 0xfef6cd0cf57ae56ba872db2bd3cd9ec7320017a08c19b97b5e549a707011c532
jobs.commit_result 0401080000000000000001010101010101010101010101010101010101010101010101010101010101010400000000000000020202020202020202020202020202020202020202020202020202020202020240548900000000000100000000000000c0c62d00000000000303030303030303030303030303030303030303030303030303030303030303407b226163637572616379223a302e397d03000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x181ded358c8eb0abb9df9b2ad3a288c3b2b51cbc589f99119c76903b95358676
jobs.cancel_job 04020800000000000000 0xb16e49a46efca395a8d0badd404dbd7aa8d199b3b42a6d03258caa355552ae8e
jobs.declare_unrunnable 04030800000000000000 0xad19c657e604f5374a134bd0f55a57f2778c8ffcbdf1685cdb68060ec1efbb57
jobs.release_model 04040800000000000000 0xf9100ba104662f1eeed1ec318ad8cee9d08c54a67aed6f4d702817ba74fe4c43
verification.register_verifier 0500 0xb9b2293d8b12437cb334b02892ae5fe3f5ab20ebfef5978909f558ccce1f9c48
verification.deregister_verifier 0501 0x341eee7b28f519ca09f72a6b9bc88f74a15c9d269d63b644da062b260886c2ff
verification.reveal_starts 0502080000000000000008000103000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0xd72f6d8f14d790bb707999cb25eb2be1ff12923a5d80b62826b167ccdbf52b5d
verification.attest 05030800000000000000010000000404040404040404040404040404040404040404040404040404040404040404 0xaf927fed79d90a70226c78b37c0670d9ff0cff4c73180054de8497a020b81ca8
verification.reveal_leaves 050408000000000000000403000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x0d48440eadd9d443cb15230a704870b6ecd8297d72e1e38342ad788f8f7c8264
verification.reveal_attestation 050508000000000000000100000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000001030303030303030303030303030303030303030303030303030303030303030305050505050505050505050505050505050505050505050505050505050505050606060606060606060606060606060606060606060606060606060606060606 0x34c9dfda2feaf011a4a189313287a76a9dee9a11d72fe122d38e145ee831d44d
verification.bisect 050608000000000000000404040404040404040404040404040404040404040404040404040404040404 0xeb7d5c996d9fe8faef32e20ef4ae4e14c32b487dc56434d05696c1e7ae722a9b
verification.answer 0507080000000000000001 0xd846670e0b1336eb366ecbbb8a67a79e122439f08938167c2e4576cc09a94de3
verification.referee 05080800000000000000 0x6cdbadc5e249b2115db00e3e06b5db563cad1aafd34d07651de9f16d252f3a51
verification.challenge 05090800000000000000020200000000000000 0xd8bc49cefd02a106e64d31b4925dfac8eea97eca2ab456865584385230196b11
verification.reveal_leaf 050a080000000000000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x676188e5fac4d5fca56ff986d20c5ae561def9735748ef5c3fc987eaf2a6aa71
";
