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

#[test]
fn a_job_goes_from_bid_to_settlement_through_blocks() {
    let mut m = MarketChain::new();
    let [alice, bob, charlie] = dev_accounts(["Alice", "Bob", "Charlie"]);
    let module = Hash::of(b"module");
    let dataset = Hash::of(b"dataset");
    let output = Hash::of(b"model");
    let spec = JobSpec {
        module,
        dataset,
        params: b"{}".to_vec(),
        steps: 40,
        segment_steps: 10,
        seed: 3,
    };
    let terms = BidTerms {
        max_price: AGR / 5,
        max_fuel: 100 * MFUEL,
        run_blocks: 10,
        deadline: 100,
        region: None,
        renewable_only: true,
        requeue: false,
    };
    let escrow = 20 * AGR + 2 * crate::verification::VERIFIER_FEE;

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
        (
            "Alice",
            RuntimeCall::Jobs(pallet_jobs::Call::RegisterBlob {
                hash: module,
                size: 3_000_000,
            }),
        ),
        (
            "Alice",
            RuntimeCall::Jobs(pallet_jobs::Call::RegisterBlob {
                hash: dataset,
                size: 500_000,
            }),
        ),
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

    // Block 2: the worker commits (after registering its model and checkpoints).
    let tree = trace();
    let mut calls = vec![(
        "Bob",
        RuntimeCall::Jobs(pallet_jobs::Call::RegisterBlob {
            hash: output,
            size: 600_000,
        }),
    )];
    for i in 0..4 {
        calls.push((
            "Bob",
            RuntimeCall::Jobs(pallet_jobs::Call::RegisterBlob {
                hash: leaf(i).state_hash,
                size: 1_600_000,
            }),
        ));
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
                output,
                metrics: br#"{"accuracy":0.97}"#.to_vec(),
            },
            final_proof: tree.prove(3).unwrap(),
        }),
    ));
    m.block(calls);

    // Block 3: the sample is drawn from block 2's hash.
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
                &leaf(segments[i as usize]),
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
                    leaf: leaf(segments[i as usize]),
                    result: result(segments[i as usize]),
                    salt,
                }),
            )
        })
        .collect();
    let events = m.block(reveal);
    assert!(events.iter().any(|e| matches!(
        e,
        RuntimeEvent::Jobs(pallet_jobs::Event::JobVerified {
            job: 0,
            checks_passed: 2,
            ..
        })
    )));

    // The challenge window (3 blocks), then settlement.
    let bob_before = crate::Balances::free_balance(&m.chain.state, &bob);
    let alice_before = crate::Balances::account(&m.chain.state, &alice);
    m.block(vec![]);
    m.block(vec![]);
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
    assert_eq!(
        receipt.paid_verifiers,
        2 * crate::verification::VERIFIER_FEE
    );
    assert_eq!(receipt.refund, escrow - paid - receipt.paid_verifiers);
    assert_eq!(
        crate::Balances::free_balance(&m.chain.state, &bob),
        bob_before + paid
    );
    let alice_after = crate::Balances::account(&m.chain.state, &alice);
    assert_eq!(alice_after.free, alice_before.free + receipt.refund);
    assert_eq!(alice_after.reserved, alice_before.reserved - escrow);
    assert_eq!(Staking::ledger(&m.chain.state, &bob).committed, 0);
    assert_eq!(Staking::ledger(&m.chain.state, &charlie).committed, 0);
}
