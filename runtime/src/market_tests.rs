//! The market end to end inside the runtime: every step is a signed extrinsic in a built and
//! imported block, and after every block the full invariant and token-conservation check runs
//! (`crate::try_state`, called by `Chain::import`).

#![allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]

use crate::tests::{dev_accounts, Chain};
use crate::{Jobs, Market, RuntimeCall, RuntimeEvent, Staking, Verification, AGR};
use agora_primitives::trace::{TraceLeaf, TraceTree};
use agora_primitives::{Balance, Hash};
use pallet_jobs::{Commitment, JobStatus};
use pallet_market::{BidTerms, Energy, JobSpec, Region, FUEL_PER_MFUEL};
use parity_scale_codec::Compact;
use std::collections::BTreeMap;

const MFUEL: u64 = FUEL_PER_MFUEL;

#[derive(Clone)]
struct MarketChain {
    chain: Chain,
    nonces: BTreeMap<&'static str, u32>,
}

impl MarketChain {
    fn new() -> Self {
        MarketChain {
            chain: Chain::new(),
            nonces: BTreeMap::new(),
        }
    }

    /// One block with these calls, in order; returns its events.
    fn block(&mut self, calls: Vec<(&'static str, RuntimeCall)>) -> Vec<RuntimeEvent> {
        let xts = calls
            .into_iter()
            .map(|(who, call)| {
                let nonce = self.nonces.entry(who).or_default();
                let xt = self.chain.sign(who, call, *nonce);
                *nonce += 1;
                xt
            })
            .collect();
        let block = self.chain.build(xts);
        let events = self.chain.import(&block).unwrap();
        for event in &events {
            if let RuntimeEvent::System(pallet_system::Event::ExtrinsicFailed { error, .. }) = event
            {
                panic!("a call failed: {}", crate::describe_dispatch_error(*error));
            }
        }
        events
    }
}

/// The registration of `bytes` as a blob, with its size proof.
fn register(bytes: &[u8]) -> RuntimeCall {
    RuntimeCall::Jobs(pallet_jobs::Call::register_blob_of(bytes))
}

fn leaf(i: u64) -> TraceLeaf {
    TraceLeaf {
        index: i,
        state_hash: Hash::of(&i.to_le_bytes()),
        // Cumulative: four segments of 20 Mfuel.
        fuel: (i + 1) * 20 * MFUEL,
    }
}

fn trace() -> TraceTree {
    TraceTree::new((0..4).map(leaf).collect()).unwrap()
}

/// What the spot-check flow leaves for the rest of a test.
struct Checked {
    m: MarketChain,
    escrow: Balance,
    /// The sampled segments, in check order.
    segments: Vec<u64>,
    /// Events of the block with Charlie's reveals.
    events: Vec<RuntimeEvent>,
}

/// The job these tests bid for: 40 steps of `module` on `dataset`, 4 segments.
pub(crate) fn job_spec(module: Hash, dataset: Hash) -> JobSpec {
    JobSpec {
        module,
        dataset,
        params: b"{}".to_vec(),
        steps: 40,
        segment_steps: 10,
        seed: 3,
    }
}

/// The bid these tests place: up to 100 Mfuel at 0.2 AGR, renewable energy only.
pub(crate) fn bid_terms() -> BidTerms {
    BidTerms {
        max_price: AGR / 5,
        max_fuel: 100 * MFUEL,
        run_blocks: 10,
        deadline: 100,
        region: None,
        renewable_only: true,
        requeue: false,
        assurance_permille: 0,
        assurance_verifiers: 0,
    }
}

/// Block 1 of [`spot_checked`]: Bob offers, Charlie verifies, Alice's bid is matched (job 0).
/// Returns the chain and the escrow of the bid.
fn matched() -> (MarketChain, Balance) {
    let mut m = MarketChain::new();
    let [_, bob] = dev_accounts(["Alice", "Bob"]);
    let module = Hash::of(b"module");
    let dataset = Hash::of(b"dataset");
    let (spec, terms) = (job_spec(module, dataset), bid_terms());
    // 100 Mfuel at 0.2 AGR, and three checks (the last of four segments, one other and the
    // worker's heaviest) for at most twice the bid's average segment, 50 Mfuel, at 0.2 AGR
    // plus 10 % — below the floor every bid escrows since spec version 20 (~93 AGR: what a
    // worker spends at most to show the job unrunnable), so the floor.
    let escrow = (20 * AGR + 3 * (10 * AGR * 11 / 10))
        .max(<crate::Runtime as pallet_market::Config>::MIN_BID_ESCROW);
    assert!(escrow > 53 * AGR);
    assert_eq!(crate::Market::escrow_for(&spec, &terms), Some(escrow));

    // Block 1: a provider, a verifier and a buyer; the bid clears in the block it was placed.
    let events = m.block(vec![
        (
            "Bob",
            RuntimeCall::Staking(pallet_staking::Call::Bond {
                amount: Compact(100 * AGR),
            }),
        ),
        (
            "Bob",
            RuntimeCall::Market(pallet_market::Call::PostOffer {
                price: Compact(AGR / 10),
                capacity: Compact(1_000 * MFUEL),
                region: Region::new("eu-west").unwrap(),
                energy: Energy::Renewable,
                collateral: Compact(5 * AGR),
                expires_at: Compact(1_000),
            }),
        ),
        (
            "Charlie",
            RuntimeCall::Staking(pallet_staking::Call::Bond {
                amount: Compact(20 * AGR),
            }),
        ),
        (
            "Charlie",
            RuntimeCall::Verification(pallet_verification::Call::RegisterVerifier),
        ),
        ("Alice", register(b"module")),
        ("Alice", register(b"dataset")),
        (
            "Alice",
            RuntimeCall::Market(pallet_market::Call::PlaceBid { spec, terms }),
        ),
    ]);
    assert!(
        events.contains(&RuntimeEvent::Market(pallet_market::Event::BidMatched {
            bid: 0,
            offer: 0,
            provider: bob,
            price: AGR / 10,
            waited: 0,
        }))
    );
    assert!(matches!(
        Jobs::job(&m.chain.state, 0).unwrap().status,
        JobStatus::Assigned
    ));
    assert_eq!(Market::clearings(&m.chain.state)[0].price, AGR / 10);
    (m, escrow)
}

/// The model the worker of job 0 commits.
fn output() -> Hash {
    Hash::of(b"model")
}

/// Bob's calls that commit job 0's result: [`trace`], its model and checkpoints registered.
fn commit_calls(tree: &TraceTree) -> Vec<(&'static str, RuntimeCall)> {
    let mut calls = vec![("Bob", register(b"model"))];
    for i in 0..4u64 {
        calls.push(("Bob", register(&i.to_le_bytes())));
    }
    calls.push((
        "Bob",
        RuntimeCall::Jobs(pallet_jobs::Call::CommitResult {
            job: 0,
            commitment: Commitment {
                trace_root: tree.root(),
                segments: 4,
                final_state: leaf(3).state_hash,
                total_fuel: 80 * MFUEL,
                heaviest_segment: 3,
                heaviest_fuel: 20 * MFUEL,
                output: output(),
                metrics: br#"{"accuracy":0.97}"#.to_vec(),
            },
            final_proof: tree.prove(3).unwrap(),
        }),
    ));
    calls
}

/// Alice buys, Bob works (an honest four-segment trace), Charlie verifies and re-executes each
/// sampled segment to `computed(segment)`; every step is a block. Ends with Charlie's reveals.
fn spot_checked(computed: impl Fn(u64) -> TraceLeaf) -> Checked {
    let (mut m, escrow) = matched();
    let [charlie] = dev_accounts(["Charlie"]);
    let output = output();

    // Block 2: the worker commits (after registering its model and checkpoints).
    let tree = trace();
    m.block(commit_calls(&tree));

    // Block 3: the sample is drawn from block 3's beacon.
    let events = m.block(vec![]);
    assert!(events.iter().any(|e| matches!(
        e,
        RuntimeEvent::Verification(pallet_verification::Event::Sampled { job: 0, .. })
    )));
    let audit = Verification::audit(&m.chain.state, 0).unwrap();
    let segments: Vec<u64> = audit.checks.iter().map(|c| c.segment).collect();
    assert_eq!(segments.len(), 2);
    assert!(audit.checks.iter().all(|c| c.verifier == charlie));

    // Block 4: starts; block 5: attestations; block 6: leaves; block 7: reveals.
    let starts = segments
        .iter()
        .map(|s| {
            pallet_verification::sampling::start_leaf(&segments, *s)
                .map(|start| (leaf(start), tree.prove(start).unwrap()))
        })
        .collect();
    m.block(vec![(
        "Bob",
        RuntimeCall::Verification(pallet_verification::Call::RevealStarts { job: 0, starts }),
    )]);
    let salt = [5u8; 32];
    // The last segment's verifier also computed the committed model and metrics.
    let result = |segment: u64| {
        (segment == 3).then(|| pallet_verification::FinalResult {
            output,
            metrics: Hash::of(br#"{"accuracy":0.97}"#),
        })
    };
    let attest = (0..2u32)
        .map(|i| {
            let commitment = pallet_verification::attestation_hash(
                0,
                i,
                &charlie,
                &computed(segments[i as usize]),
                &result(segments[i as usize]),
                &salt,
            );
            (
                "Charlie",
                RuntimeCall::Verification(pallet_verification::Call::Attest {
                    job: 0,
                    check: i,
                    commitment,
                }),
            )
        })
        .collect();
    m.block(attest);
    let leaves = segments
        .iter()
        .map(|s| (leaf(*s), tree.prove(*s).unwrap()))
        .collect();
    m.block(vec![(
        "Bob",
        RuntimeCall::Verification(pallet_verification::Call::RevealLeaves { job: 0, leaves }),
    )]);
    let reveal = (0..2u32)
        .map(|i| {
            (
                "Charlie",
                RuntimeCall::Verification(pallet_verification::Call::RevealAttestation {
                    job: 0,
                    check: i,
                    leaf: computed(segments[i as usize]),
                    result: result(segments[i as usize]),
                    salt,
                }),
            )
        })
        .collect();
    let events = m.block(reveal);
    Checked {
        m,
        escrow,
        segments,
        events,
    }
}

#[test]
fn a_job_goes_from_bid_to_settlement_through_blocks() {
    let Checked {
        mut m,
        escrow,
        events,
        segments,
        ..
    } = spot_checked(leaf);
    let [alice, bob, charlie] = dev_accounts(["Alice", "Bob", "Charlie"]);
    assert!(events.iter().any(|e| matches!(
        e,
        RuntimeEvent::Jobs(pallet_jobs::Event::JobVerified {
            job: 0,
            checks_passed: 2,
            ..
        })
    )));

    // The challenge window, then settlement at its end.
    let bob_before = crate::Balances::free_balance(&m.chain.state, &bob);
    let alice_before = crate::Balances::account(&m.chain.state, &alice);
    let window = <crate::Runtime as pallet_jobs::Config>::CHALLENGE_BLOCKS;
    for _ in 1..window {
        m.block(vec![]);
    }
    let events = m.block(vec![]);
    let receipt = events
        .iter()
        .find_map(|e| match e {
            RuntimeEvent::Jobs(pallet_jobs::Event::JobSettled { job: 0, receipt }) => {
                Some(receipt.clone())
            }
            _ => None,
        })
        .expect("settled after the challenge window");
    let paid: Balance = 8 * AGR; // 80 Mfuel × 0.1 AGR
    assert_eq!(receipt.paid_worker, paid);
    // Each check earns its segment's 20 Mfuel, plus one average segment for the first and
    // the last, at the clearing price of 0.1 AGR plus 10 %.
    let fee = |segment: &u64| -> Balance {
        let mfuel: Balance = if *segment == 0 || *segment == 3 {
            40
        } else {
            20
        };
        mfuel * AGR / 10 * 11 / 10
    };
    assert_eq!(
        receipt.paid_verifiers,
        segments.iter().map(fee).sum::<Balance>()
    );
    assert_eq!(receipt.refund, escrow - paid - receipt.paid_verifiers);
    // Alice took over the model's registration: its deposit is reserved from her refund and
    // Bob's returned.
    let deposit = crate::Jobs::blob_deposit(b"model".len() as u64);
    assert_eq!(
        crate::Balances::free_balance(&m.chain.state, &bob),
        bob_before + paid + deposit
    );
    let model = crate::Jobs::blob(&m.chain.state, &output()).expect("the model is kept");
    assert_eq!(model.owner, alice);
    assert_eq!(
        model.expires_at,
        receipt.settled_at + <crate::Runtime as pallet_jobs::Config>::MODEL_RETENTION,
        "thirty days, not the registry's four hours"
    );
    let alice_after = crate::Balances::account(&m.chain.state, &alice);
    assert_eq!(
        alice_after.free,
        alice_before.free + receipt.refund - deposit
    );
    assert_eq!(
        alice_after.reserved,
        alice_before.reserved - escrow + deposit
    );
    // The collateral is released; Bob's offer is still open and keeps its bond committed.
    assert_eq!(
        Staking::ledger(&m.chain.state, &bob).committed,
        <crate::Runtime as pallet_market::Config>::OFFER_BOND
    );
    assert_eq!(Staking::ledger(&m.chain.state, &charlie).committed, 0);
}

/// A stand-in for the node's engine that finds every claim of the worker right.
struct AgreeingReferee(Hash);

impl agora_primitives::referee::Referee for AgreeingReferee {
    fn run(
        &self,
        _: &agora_primitives::referee::RefereeRequest,
    ) -> Result<agora_primitives::referee::RefereeVerdict, agora_primitives::referee::RefereeError>
    {
        Ok(agora_primitives::referee::RefereeVerdict::Stepped { post_state: self.0 })
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// Charlie's false leaf is disputed through blocks down to one step. A node without a referee
/// can neither put the referee call in a block nor import a block that has it (the call, its
/// fee and nonce are simply not there); with one, the call decides the dispute for Bob.
#[test]
fn a_disputed_step_is_decided_only_by_a_node_that_can_referee_it() {
    let Checked {
        mut m,
        segments,
        events,
        ..
    } = spot_checked(|s| match s {
        // The last segment (always sampled) right, the other one wrong.
        3 => leaf(s),
        _ => TraceLeaf {
            state_hash: Hash::of(b"not the state"),
            ..leaf(s)
        },
    });
    let disputed = segments[0];
    assert_ne!(disputed, 3);
    assert!(events.iter().any(|e| matches!(
        e,
        RuntimeEvent::Verification(pallet_verification::Event::DisputeOpened { segment, .. })
            if *segment == disputed
    )));
    // Bob posts a state at every midpoint; Charlie disagrees each time: 10 → 5 → 2 → 1.
    for _ in 0..3 {
        m.block(vec![(
            "Bob",
            RuntimeCall::Verification(pallet_verification::Call::Bisect {
                job: 0,
                state: Hash::of(b"a midpoint"),
            }),
        )]);
        m.block(vec![(
            "Charlie",
            RuntimeCall::Verification(pallet_verification::Call::Answer {
                job: 0,
                agree: false,
            }),
        )]);
    }
    let audit = Verification::audit(&m.chain.state, 0).unwrap();
    assert_eq!(
        audit.dispute.as_ref().map(|d| d.turn),
        Some(pallet_verification::Turn::Referee)
    );
    let referee_call = |m: &mut MarketChain| {
        let nonce = *m.nonces.entry("Alice").or_default();
        m.chain.sign(
            "Alice",
            RuntimeCall::Verification(pallet_verification::Call::Referee { job: 0 }),
            nonce,
        )
    };
    // No referee on this node: the call is not includable.
    let xt = referee_call(&mut m);
    assert_eq!(
        m.chain.try_build(vec![xt]).unwrap_err(),
        crate::executive::TransactionError::RefereeUndecided(
            agora_primitives::referee::RefereeError::Detached
        )
    );
    // A node with one builds the block; a node without cannot import it.
    m.chain.referee = Some(std::sync::Arc::new(AgreeingReferee(Hash::of(
        b"a midpoint",
    ))));
    let xt = referee_call(&mut m);
    let block = m.chain.build(vec![xt]);
    let with = m.chain.referee.take();
    assert!(matches!(
        m.chain.import(&block),
        Err(crate::executive::BlockError::InvalidExtrinsic {
            error: crate::executive::TransactionError::RefereeUndecided(_),
            ..
        })
    ));
    m.chain.referee = with;
    let alice = dev_accounts(["Alice"])[0];
    let alice_before = crate::Balances::free_balance(&m.chain.state, &alice);
    let events = m.chain.import(&block).unwrap();
    // Whoever has the referee run is repaid its fee out of the loser's slash (here all of
    // Charlie's 1 AGR bond, just under the fee): deciding a dispute costs the caller only the
    // fee's length part and the fee's excess over the bond, under 0.01 AGR.
    let alice_after = crate::Balances::free_balance(&m.chain.state, &alice);
    assert!(
        alice_before - alice_after < AGR / 100,
        "the referee's caller paid {} net",
        alice_before - alice_after
    );
    assert!(events.contains(&RuntimeEvent::Verification(
        pallet_verification::Event::Refereed {
            job: 0,
            outcome: pallet_verification::RefereeOutcome::WorkerRight,
        }
    )));
    assert!(matches!(
        Jobs::job(&m.chain.state, 0).unwrap().status,
        JobStatus::Verified { .. }
    ));
}

/// Job 0's checks as drawn: each segment with its verifier.
fn sample_of(m: &MarketChain) -> Vec<(u64, agora_primitives::AccountId)> {
    let audit = Verification::audit(&m.chain.state, 0).unwrap();
    audit
        .checks
        .iter()
        .map(|check| (check.segment, check.verifier))
        .collect()
}

/// Exploit 8 of issue 11: the sample was seeded by the hash of the block that holds the
/// commitment, and that block's proposer picks its timestamp (seconds of slack), which
/// transactions go in and in what order: thousands of samples to choose one from. The seed is
/// now the drawing block's random beacon, a VRF of its proposer over the parent's beacon
/// (`pallet_staking::beacon`). Eight versions of block 2 — other timestamps, a transaction in
/// front of the commitment, one behind it — all give the same sample in block 3.
#[test]
fn exploit_a_proposers_choice_of_timestamp_or_order_cannot_move_the_sample() {
    let (m, _) = matched();
    let tree = trace();
    let [dave] = dev_accounts(["Dave"]);
    let transfer = |value| {
        RuntimeCall::Balances(pallet_balances::Call::TransferKeepAlive {
            dest: dave,
            value: Compact(value),
        })
    };
    let mut block_hashes = std::collections::BTreeSet::new();
    let mut samples = std::collections::BTreeSet::new();
    for variant in 0..8u64 {
        let mut m = m.clone();
        m.chain.time += variant * 7;
        let mut calls = commit_calls(&tree);
        if variant % 2 == 1 {
            calls.insert(0, ("Alice", transfer(AGR)));
        }
        if variant % 4 >= 2 {
            calls.push(("Charlie", transfer(2 * AGR)));
        }
        m.block(calls);
        block_hashes.insert(m.chain.head.hash());
        m.block(vec![]);
        samples.insert(sample_of(&m));
    }
    assert_eq!(
        block_hashes.len(),
        8,
        "the proposer's choices changed block 2"
    );
    assert_eq!(samples.len(), 1, "the sample moved with them: {samples:?}");
}

/// Found in review of spec version 11: the verifier draw was made at the end of its block,
/// weighing each verifier by its free stake then, and the block's proposer knows the block's
/// beacon while it chooses the block's transactions, so one of them that moves any candidate's
/// stake (a bond, an unbond) re-rolled the picks. The executive now draws at the start of the
/// block, after the beacon is noted and before any extrinsic (`executive::on_initialize`):
/// nine versions of the drawing block, empty or with Dave or Charlie moving stake, give one
/// sample.
#[test]
fn exploit_a_proposers_transactions_in_the_drawing_block_cannot_move_the_pick() {
    let (mut m, _) = matched();
    let tree = trace();
    // Block 2: Dave registers as a second verifier beside Charlie; Bob commits.
    let mut calls = vec![
        (
            "Dave",
            RuntimeCall::Staking(pallet_staking::Call::Bond {
                amount: Compact(20 * AGR),
            }),
        ),
        (
            "Dave",
            RuntimeCall::Verification(pallet_verification::Call::RegisterVerifier),
        ),
    ];
    calls.extend(commit_calls(&tree));
    m.block(calls);
    let mut samples = std::collections::BTreeSet::new();
    for variant in 0..9u128 {
        let mut m = m.clone();
        // Block 3, the drawing block: empty, or a bond or an unbond of 1–4 AGR.
        let calls = match variant {
            0 => vec![],
            1..=4 => vec![(
                "Dave",
                RuntimeCall::Staking(pallet_staking::Call::Bond {
                    amount: Compact(variant * AGR),
                }),
            )],
            _ => vec![(
                "Charlie",
                RuntimeCall::Staking(pallet_staking::Call::Unbond {
                    amount: Compact((variant - 4) * AGR),
                }),
            )],
        };
        let events = m.block(calls);
        assert!(
            events.iter().any(|e| matches!(
                e,
                RuntimeEvent::Verification(pallet_verification::Event::Sampled { job: 0, .. })
            )),
            "variant {variant}: no draw in block 3"
        );
        samples.insert(sample_of(&m));
    }
    assert_eq!(
        samples.len(),
        1,
        "the block's transactions moved the pick: {samples:?}"
    );
}
