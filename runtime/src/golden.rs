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
block 1 state root 0xc6732a1dcac148534a06be7469f77ec53d29a6d5f8a791d53a31b42b4bc8ad02 hash 0xb7cccf806cd6b062bd6dafd851fca2b6be6a1b8187acfa9a4a5f0b015d326e2a
block 2 state root 0x7362539af081b29f56a5e3718c55b37da11a8b166b8d15fd9f037ca70c6234c2 hash 0xd4821afcd09823ecc336633c470d6283c931c382d37a7d96cf63daedf060ac11
block 3 state root 0xd9761d408567e255305f662fc4b692f29cf68d54eaf437f92095d87018f7e0ab hash 0xf1031272805cf67feec629ea2a134ff249c92deaf9ef8a272012e7440bcb2e2f
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
system.remark 0000086869 0xb2d10e0aff79b27b7c6620c72e8928a1a2ee564777b6efcf7a6756055b1c167f
balances.transfer_keep_alive 01000909090909090909090909090909090909090909090909090909090909090909070010a5d4e8 0x75d44ccc4211f1e372ff54ef56d20990865a40321d99ee7bf0e862e02c3034e6
balances.transfer_all 01010909090909090909090909090909090909090909090909090909090909090909 0x1c87148082199c49e69b794c0858ce26cc51e3b72bd768ca58a48322ea4b03dd
staking.bond 02000f0080c6a47e8d03 0x5edd5d04924ac9e2b9f3960faa8e2546e63fdf43c3b79f89e27d4c6f6aede9ea
staking.unbond 0201070010a5d4e8 0x875c9d04c826271ce923029de2a13ae33045ffa247da06ccb12119b2d4167a6b
staking.withdraw_unbonded 0202 0xc49885956058e13ac174a5e09a826393dada629c77f3949090d6a743454e632f
staking.register_validator 0203010101010101010101010101010101010101010101010101010101010101010102020202020202020202020202020202020202020202020202020202020202023c3132372e302e302e313a33303333330f0080c6a47e8d03 0x386911a0b2762f09d8fe24a1f81fc658ce4bcc129a6691b39a9ab4db7a135cf6
staking.set_validator_key 02040101010101010101010101010101010101010101010101010101010101010101020202020202020202020202020202020202020202020202020202020202020200 0x4a5388933816869806a6e8cfe2513648e77c69ab6ac0c5f273f0133cc168bb87
staking.unregister_validator 0205 0x7ab0f344368ab437fbed058fe8a2f5ce1237887328fa4c45f0939076e74245af
staking.report_equivocation 0206010101010101010101010101010101010101010101010101010101010101010102000000000000000b00000000000000010a00000000000000141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414010a00000000000000151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515 0xac2c25a8a7efbbe0351abe7080284731760a4e61971e838cd20fc24b9c51f300
market.post_offer 030002286bee070010a5d4e81c65752d77657374000b00a0724e1809821a0600 0x5eebdc8ebd660e1c93027504edaaf86c3e5bfa4b3910e945f9f34b76bbeb0980
market.cancel_offer 03011c 0xbc08a17535227f455b9d131718581a109b56a8e4bb3fb4ac2fbf1d9868a92a36
market.place_bid 030201010101010101010101010101010101010101010101010101010101010101010202020202020202020202020202020202020202020202020202020202020202307b2265706f636873223a337dcc010000000000000a000000000000002a000000000000000094357700000000000000000000000000286bee00000000580200001027000000000000011c65752d7765737401001400000002000000 0x67f523f4294372246ff6bbdec39316f5be2badb0227f8043a361c8e4dda41bad
market.cancel_bid 030320 0x380cd6df3173690a2c5265b1718a0465cffb71dee22c7485a7151fda7866f8a3
jobs.register_blob 0400030303030303030303030303030303030303030303030303030303030303030303000000000000000c616263040505050505050505050505050505050505050505050505050505050505050505 0xc0d30b1f6416e3f5ed65df3556066cd195c6196ca4ba991e0f01b64e7c78fd60
jobs.commit_result 0401080000000000000001010101010101010101010101010101010101010101010101010101010101010400000000000000020202020202020202020202020202020202020202020202020202020202020240548900000000000100000000000000c0c62d00000000000303030303030303030303030303030303030303030303030303030303030303407b226163637572616379223a302e397d03000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x8e42e4b46f232fc5a0588d965e8096df3332e548c12c640683167126f9d19326
jobs.cancel_job 04020800000000000000 0x5e8f3efbc9329e9d80b0e8823716e3fb220fdde62a60400d165db26849fba89d
jobs.declare_unrunnable 04030800000000000000 0x0d700bf0f8df19a6b1da0843635f88b50e2957f5e132ad7e631384927f944fb7
jobs.release_model 04040800000000000000 0x9f338b28a5a675e939397bd37edb41eb783ade2eceabc18900b49b39fd810fbe
verification.register_verifier 0500 0xd104929ab8a3a2ef7e5f53c110a9539fd386886695c1bba17a5ef9823eb62b85
verification.deregister_verifier 0501 0xcf03aad55e7365daec0ce7c88c31dd899df4d410fc8a55de9b15532ab14bebed
verification.reveal_starts 0502080000000000000008000103000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x9fe45b442eb826a577f607eae68ccd9e435641dabf575728d672a2dd643ebcb2
verification.attest 05030800000000000000010000000404040404040404040404040404040404040404040404040404040404040404 0x73d1eee3b83fbd361d05f6a3c3064fdd938202a30f39bd625f95ef44cfbd6a70
verification.reveal_leaves 050408000000000000000403000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x30a3a453a0fe405114f033ba6fb9aaf18c5f43808c30e38eaadfdae39e61266e
verification.reveal_attestation 050508000000000000000100000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000001030303030303030303030303030303030303030303030303030303030303030305050505050505050505050505050505050505050505050505050505050505050606060606060606060606060606060606060606060606060606060606060606 0x16b18d5a61a8ca0ffbe6a06efcbc620e076b02659f5f8fbc94367dc17e0d1452
verification.bisect 050608000000000000000404040404040404040404040404040404040404040404040404040404040404 0x6f661dc219b4dd0c7b87002d563f33c96d2c4ca1435fadca02f71648377614d5
verification.answer 0507080000000000000001 0xbfb548b8b7b1d6f6bd5fb49f62ef5a350aab2e48ccecb74c0ebb4b791073fe08
verification.referee 05080800000000000000 0xa488043fcaac8e074a89a7ab29ca21c305aed2f7abaa6e05884abf5e6ebb9111
verification.challenge 05090800000000000000020200000000000000 0x020e6d41c5ec4fec24a9ea948eeb8118c6374fb4b7915afa381f6c5c99285b60
verification.reveal_leaf 050a080000000000000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x02d9c3dd8c9da1680388f0e70876cda439989cf689f9833d52ad0121c785894c
";
