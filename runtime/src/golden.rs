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
block 1 state root 0xc6732a1dcac148534a06be7469f77ec53d29a6d5f8a791d53a31b42b4bc8ad02 hash 0xe9bb7f9605605ebebbf5bad6b9d0a31caf6701c2f66deec8cd488340af76bf74
block 2 state root 0xd534f04fb707bd3c951fbc35931088e22a763313a5a9e6d68819abebb7ed12e9 hash 0x0daf2e235588353c815c9b8a208896e8d9437e3ed74d06fd9b823066739f62c4
block 3 state root 0xc9817b373a584a486c2b0bd41166842f67860a8888bd9116005ad9c950772cca hash 0x509cad582b5453272fe9e0f746acee233dda08d887b66bdefc0fa7883b90a5d0
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
system.remark 0000086869 0xd65dc9ea20a69ec3362d5cb1cd88578e4e791569ae34c69aa783a47c8216e10c
balances.transfer_keep_alive 01000909090909090909090909090909090909090909090909090909090909090909070010a5d4e8 0x5083202f2b46e461988348854a6a55a3a3c59483910f9b3852fa8cfa45c2790f
balances.transfer_all 01010909090909090909090909090909090909090909090909090909090909090909 0x67193294d5aa9096296cc56a8e3077942348cf2bd8c55dc76bf881570e0dfbaf
staking.bond 02000f0080c6a47e8d03 0x27ba110aa6b81308b075bf54dbd58101c8e95a2db8cc67b6a02818bee956b2b9
staking.unbond 0201070010a5d4e8 0xf13b97351577b2b8ecc44204a353e558bf8841e2e4035b4ea6df5f75a5a9a81f
staking.withdraw_unbonded 0202 0x8dab287a9fa88deee07ad5879d7a4eebbe6e7960a7ac57bc36aea092a23c1054
staking.register_validator 0203010101010101010101010101010101010101010101010101010101010101010102020202020202020202020202020202020202020202020202020202020202023c3132372e302e302e313a33303333330f0080c6a47e8d03 0x35824ef47d72db45c60f2fa917a22ec833652061891ffbd9bbba84c6b003ac05
staking.set_validator_key 02040101010101010101010101010101010101010101010101010101010101010101020202020202020202020202020202020202020202020202020202020202020200 0x9513d9f5278285823c93d5c7503a562ce177005ef15685fcb9e60d32eeb127ef
staking.unregister_validator 0205 0x05323bb7775a60499a6e643586dcf1c6919aa326c1f0c05f5df1d60ec4305735
staking.report_equivocation 0206010101010101010101010101010101010101010101010101010101010101010102000000000000000b00000000000000010a00000000000000141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414010a00000000000000151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515151515 0xdcfb18b2375a84ab5b563e81e21f40367fb8fbbb7b63118fb4b5acf910ed3c79
market.post_offer 030002286bee070010a5d4e81c65752d77657374000b00a0724e1809821a0600 0x3e2439dd293c3f799b02d0018721ef57b48046827263dd8fe126784ccbcfcdd5
market.cancel_offer 03011c 0x96de36ae2e143ef44277cfa9a3995f0487252860e333e42c8861a8c8898d06fb
market.place_bid 030201010101010101010101010101010101010101010101010101010101010101010202020202020202020202020202020202020202020202020202020202020202307b2265706f636873223a337dcc010000000000000a000000000000002a000000000000000094357700000000000000000000000000286bee00000000580200001027000000000000011c65752d7765737401001400000002000000 0x551db61ce386b89177babfcf272546eaad018114afe1222d3ab0bb31fdb408db
market.cancel_bid 030320 0x5b3a0afcab269f1d981b50f56ab2fa508af777c7c925b935d3179cbbf4f8f39a
jobs.register_blob 0400030303030303030303030303030303030303030303030303030303030303030303000000000000000c616263040505050505050505050505050505050505050505050505050505050505050505 0x14e276d93fdb966b2496eefa40d1f5d8b818aff270b646483f878bda301cbae0
jobs.commit_result 0401080000000000000001010101010101010101010101010101010101010101010101010101010101010400000000000000020202020202020202020202020202020202020202020202020202020202020240548900000000000100000000000000c0c62d00000000000303030303030303030303030303030303030303030303030303030303030303407b226163637572616379223a302e397d03000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0xe4a609b389ede8a75d4727d830f9a45dd47258d2fe906152ed684458d135652d
jobs.cancel_job 04020800000000000000 0x31bcd809c0b0c5a68d3616fd1969077bb2f4dd1442ca6beacc5152464920dfe4
jobs.declare_unrunnable 04030800000000000000 0xe9a7d4cc1dcd66a268385c5827409a3a15f17e95280b29e3470a19803d5e7631
jobs.release_model 04040800000000000000 0x1c3819e69f085b303b150b708f2953eeaeebdfdfdc1bf18de4269af4cb318094
verification.register_verifier 0500 0x3af171a330c5057abe9cf828938fc21282562f66179f724fe90fe455836035f1
verification.deregister_verifier 0501 0x3a7356bbdd1f579c57328ce46e8dc8a7272acb72bc602485b6f7acfc71f8a70e
verification.reveal_starts 0502080000000000000008000103000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x0bf4ed859966837896c13ee6936ed72826c7e03b477a9cb12e137a3bf410c109
verification.attest 05030800000000000000010000000404040404040404040404040404040404040404040404040404040404040404 0xd14acf7b9a63e26ff60049bfa5caa29e2fd96ce3ed4182573822d469bb6ba1bf
verification.reveal_leaves 050408000000000000000403000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0xdcd0e043abfc5644866d86c85b8afa5fbc67f6e4986a27bde300d6e517b620f6
verification.reveal_attestation 050508000000000000000100000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000001030303030303030303030303030303030303030303030303030303030303030305050505050505050505050505050505050505050505050505050505050505050606060606060606060606060606060606060606060606060606060606060606 0xdb5b2a20e8f96d9facebbd6c9ca0d998ee2b228d4aed0cdead37e3359476ab9f
verification.bisect 050608000000000000000404040404040404040404040404040404040404040404040404040404040404 0x83229a6810f544d45d756e9f32b6094f763451e8c49e60017e89685734f377bd
verification.answer 0507080000000000000001 0x96857c373c8db6965ef88a65d39415be73c79a8fc6c0f69cc0abd49fb27b4211
verification.referee 05080800000000000000 0x852dd07b9a2c9d5842a722bc9f2996f4036ea3bc086995ac350bcac6553009ae
verification.challenge 05090800000000000000020200000000000000 0xefbe4edc5b1ae1b185a2f73b95c7ff5f64432b6155486770c4d4420f2ae50404
verification.reveal_leaf 050a080000000000000003000000000000000404040404040404040404040404040404040404040404040404040404040404404b4c000000000003000000000000000806060606060606060606060606060606060606060606060606060606060606060707070707070707070707070707070707070707070707070707070707070707 0x8277082e685088034b33916618f101dd2f5318d482a9429eaf8b78e8add2e2fb
";
