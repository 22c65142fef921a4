//! Pallet tests: the spot-check protocol end to end on the ledger, each fault by name; every
//! step ends with the invariant checkers of every pallet involved.

use super::*;
use agora_primitives::trace::{InclusionProof, TraceTree};
use agora_primitives::AGR;
use pallet_jobs::{Commitment, Decision, JobStatus};
use pallet_market::{BidTerms, Energy, Fuel, JobSpec, Region, FUEL_PER_MFUEL};
use pallet_support::mock::apply;

pallet_support::mock_runtime!(Test: verification {
    const MAX_BLOB_BYTES_PER_ACCOUNT: u64 = 8 << 20;
    const BLOB_TTL: BlockNumber = 100;
    const MAX_DUE_PER_BLOCK: u32 = 8;
    const CHALLENGE_BLOCKS: BlockNumber = 2;
    const JOB_RETENTION: BlockNumber = 50;
});
type Verification = Pallet<Test>;
type Jobs = pallet_jobs::Pallet<Test>;
type TestBalances = pallet_balances::Pallet<Test>;
type TestMarket = pallet_market::Pallet<Test>;
type TestStaking = pallet_staking::Pallet<Test>;

/// What a verifier earns for checking `segments` of a job cleared at 0.25 AGR per Mfuel whose
/// segments use 1 Mfuel each: each segment's fuel, one average segment more for the first and
/// the last of `total`, plus 10 % (`pallet_market::assurance`).
fn fees(segments: &[u64], total: u64) -> Balance {
    segments
        .iter()
        .map(|s| {
            let mfuel: Balance = if *s == 0 || *s + 1 == total { 2 } else { 1 };
            mfuel * AGR / 4 * 11 / 10
        })
        .sum()
}
const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);
const CHARLIE: AccountId = AccountId([3; 32]);
const DAVE: AccountId = AccountId([4; 32]);
const MFUEL: Fuel = FUEL_PER_MFUEL;
const OUTPUT: Hash = Hash([0x0B; 32]);
const SALT: [u8; 32] = [9; 32];

/// The worker's honest trace: four segments of 1 Mfuel, state `i + 1` after segment `i`.
fn trace() -> TraceTree {
    trace_of(4)
}

/// The first `segments` leaves of the honest trace.
fn trace_of(segments: u64) -> TraceTree {
    TraceTree::new((0..segments).map(leaf).collect()).unwrap()
}

/// Leaf `i` of the honest trace.
fn leaf(i: u64) -> TraceLeaf {
    TraceLeaf {
        index: i,
        state_hash: Hash([u8::try_from(i).unwrap() + 1; 32]),
        fuel: (i + 1) * MFUEL,
    }
}

/// A job matched at block 2 (Alice buys, Bob works), committed at block 3; the verifiers are
/// those given (registered with 5 AGR bonded each).
fn committed(verifiers: &[AccountId]) -> State {
    committed_as(verifiers, trace(), leaf(3))
}

/// As [`committed`], with the trace `tree` (of 10 steps a segment) committed by Bob; `last` is
/// its last leaf, which names the final state and the bill.
fn committed_as(verifiers: &[AccountId], tree: TraceTree, last: TraceLeaf) -> State {
    committed_claiming(verifiers, tree, last, None)
}

/// As [`committed_as`], naming `heaviest` as the heaviest segment and its fuel (by default,
/// the one the leaves show).
fn committed_claiming(
    verifiers: &[AccountId],
    tree: TraceTree,
    last: TraceLeaf,
    heaviest: Option<(u64, Fuel)>,
) -> State {
    committed_at_assurance(verifiers, tree, last, heaviest, (0, 0))
}

/// As [`committed_claiming`], bid at the assurance level `assurance_permille` with
/// `assurance_verifiers` per sampled segment (0: the default of either).
fn committed_at_assurance(
    verifiers: &[AccountId],
    tree: TraceTree,
    last: TraceLeaf,
    heaviest: Option<(u64, Fuel)>,
    (assurance_permille, assurance_verifiers): (u32, u32),
) -> State {
    let mut bonds = vec![(BOB, 20 * AGR)];
    bonds.extend(verifiers.iter().map(|v| (*v, 5 * AGR)));
    let mut state = genesis(
        &[
            (ALICE, 100 * AGR),
            (BOB, 50 * AGR),
            (CHARLIE, 10 * AGR),
            (DAVE, 10 * AGR),
        ],
        &bonds,
    );
    // A trace that ends in a refusal stopped one segment short of the job (at least).
    let spec = job_spec(tree.len() + u64::from(last.is_refusal()));
    step(&mut state, 1, |ext| {
        for v in verifiers {
            Verification::register_verifier(ext, v).unwrap();
        }
        Jobs::register_blob_of_known_size(ext, &ALICE, spec.module, 100).unwrap();
        Jobs::register_blob_of_known_size(ext, &ALICE, spec.dataset, 100).unwrap();
        Jobs::register_blob_of_known_size(ext, &BOB, OUTPUT, 100).unwrap();
        for i in 0..tree.len() {
            Jobs::register_blob_of_known_size(ext, &BOB, leaf(i).state_hash, 100).unwrap();
        }
        // A forged last leaf's state: a commitment names only registered states.
        if !last.is_refusal() && (0..tree.len()).all(|i| leaf(i).state_hash != last.state_hash) {
            Jobs::register_blob_of_known_size(ext, &BOB, last.state_hash, 100).unwrap();
        }
        TestMarket::post_offer(
            ext,
            &BOB,
            AGR / 4,
            100 * MFUEL,
            Region::new("eu").unwrap(),
            Energy::Grid,
            tests::dispute::COLLATERAL,
            1_000,
        )
        .unwrap();
        let terms = bid_terms((assurance_permille, assurance_verifiers));
        TestMarket::place_bid(ext, &ALICE, spec, terms).unwrap();
    });
    end_block(&mut state, 2);
    let commitment = commitment_of(&tree, last, heaviest);
    let final_proof = tree.prove(last.index).unwrap();
    step(&mut state, 3, |ext| {
        Jobs::commit_result(ext, &BOB, 0, commitment, &final_proof)
    })
    .0
    .unwrap();
    state
}

/// The job every test's bid asks for: `segments` segments of 10 steps.
fn job_spec(segments: u64) -> JobSpec {
    JobSpec {
        module: Hash([0xAA; 32]),
        dataset: Hash([0xDA; 32]),
        params: Vec::new(),
        steps: 10 * segments,
        segment_steps: 10,
        seed: 1,
    }
}

/// Alice's bid terms, at the assurance level `assurance_permille` with `assurance_verifiers`
/// per sampled segment (0: the default of either).
fn bid_terms((assurance_permille, assurance_verifiers): (u32, u32)) -> BidTerms {
    BidTerms {
        max_price: AGR,
        max_fuel: 10 * MFUEL,
        run_blocks: 5,
        deadline: 40,
        region: None,
        renewable_only: false,
        requeue: false,
        assurance_permille,
        assurance_verifiers,
    }
}

/// Bob's commitment to the trace `tree` ending in `last`, naming `heaviest` as its heaviest
/// segment and its fuel (by default the one an honest worker names, from the leaves before the
/// last, the honest ones, and `last`).
fn commitment_of(tree: &TraceTree, last: TraceLeaf, heaviest: Option<(u64, Fuel)>) -> Commitment {
    let mut leaves: Vec<TraceLeaf> = (0..tree.len() - 1).map(leaf).collect();
    leaves.push(last);
    let (heaviest_segment, heaviest_fuel) =
        heaviest.unwrap_or_else(|| agora_primitives::trace::heaviest_segment(&leaves));
    Commitment {
        trace_root: tree.root(),
        segments: tree.len(),
        final_state: last.state_hash,
        total_fuel: last.fuel,
        heaviest_segment,
        heaviest_fuel,
        output: if last.is_refusal() {
            Hash::ZERO
        } else {
            OUTPUT
        },
        metrics: Vec::new(),
    }
}

/// Job 1, on a state of [`committed`]: Alice bids again for the same job in block `at`, it is
/// matched to Bob's offer at the end of that block, and Bob commits the honest trace in block
/// `at + 1`; its draw is due at the start of block `at + 2`.
fn commit_second_job(state: &mut State, at: BlockNumber) {
    step(state, at, |ext| {
        TestMarket::place_bid(ext, &ALICE, job_spec(4), bid_terms((0, 0)))
    })
    .0
    .unwrap();
    end_block(state, at);
    let tree = trace();
    let proof = tree.prove(3).unwrap();
    step(state, at + 1, |ext| {
        Jobs::commit_result(ext, &BOB, 1, commitment_of(&tree, leaf(3), None), &proof)
    })
    .0
    .unwrap();
}

/// The start of block `number` (its `on_initialize` hooks: the draws due in it); their events.
fn begin(state: &mut State, number: BlockNumber) -> Vec<Event> {
    step(state, number, |_| ()).1
}

/// Draws the sample at block 4; returns the sampled segments in check order.
fn sampled(state: &mut State) -> Vec<u64> {
    let events = end_block(state, 4);
    assert!(
        matches!(events.as_slice(), [Event::Sampled { job: 0, .. }]),
        "{events:?}"
    );
    let audit = Verification::audit(state, 0).unwrap();
    assert_eq!(audit.phase, Phase::AwaitingStarts);
    audit.checks.iter().map(|c| c.segment).collect()
}

/// The starts the worker reveals for the checks of `segments` from its trace `tree`.
fn starts_from(
    tree: &TraceTree,
    worker_leaf: impl Fn(u64) -> TraceLeaf,
    segments: &[u64],
) -> Vec<Option<(TraceLeaf, InclusionProof)>> {
    segments
        .iter()
        .map(|s| {
            sampling::start_leaf(segments, *s)
                .map(|start| (worker_leaf(start), tree.prove(start).unwrap()))
        })
        .collect()
}

/// The honest starts of the checks of `segments` in the honest trace of job 0.
fn starts(state: &State, segments: &[u64]) -> Vec<Option<(TraceLeaf, InclusionProof)>> {
    starts_from(&honest_trace(state), leaf, segments)
}

/// The leaves the worker reveals for the checks of `segments` from its trace `tree`.
fn leaves_from(
    tree: &TraceTree,
    worker_leaf: impl Fn(u64) -> TraceLeaf,
    segments: &[u64],
) -> Vec<(TraceLeaf, InclusionProof)> {
    segments
        .iter()
        .map(|s| (worker_leaf(*s), tree.prove(*s).unwrap()))
        .collect()
}

/// The honest trace of job 0, as long as the audit says.
fn honest_trace(state: &State) -> TraceTree {
    trace_of(Verification::audit(state, 0).unwrap().segments)
}

/// Bob (the worker) reveals the honest starts of the checks of `segments` in block 5.
fn reveal_starts(state: &mut State, segments: &[u64]) {
    let starts = starts(state, segments);
    step(state, 5, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, starts)
    })
    .0
    .unwrap();
}

/// Bob reveals the honest leaves of the checks of `segments` in block 7.
fn reveal_leaves(state: &mut State, segments: &[u64]) {
    let leaves = leaves_from(&honest_trace(state), leaf, segments);
    step(state, 7, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    })
    .0
    .unwrap();
}

/// What an honest verifier of `segment` reveals besides its leaf: for the job's last segment,
/// the model and metrics of the commitment (the honest worker's); nothing for other segments.
fn result(state: &impl StateRead, segment: u64) -> Option<FinalResult> {
    let commitment = Jobs::job(state, 0).unwrap().commitment.unwrap();
    Verification::committed_result(state, 0).filter(|_| segment == commitment.segments - 1)
}

/// The job of `committed(&[CHARLIE])`, sampled (block 4), its starts revealed (block 5) and
/// both checks attested honestly by Charlie (block 6). Returns the state and the sampled
/// segments.
fn attested() -> (State, Vec<u64>) {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    for i in 0..2u32 {
        let segment = segments[i as usize];
        let hash = attestation_hash(
            0,
            i,
            &CHARLIE,
            &leaf(segment),
            &result(&state, segment),
            &SALT,
        );
        step(&mut state, 6, |ext| {
            Verification::attest(ext, &CHARLIE, 0, i, hash)
        })
        .0
        .unwrap();
    }
    (state, segments)
}

/// Runs the protocol with each check attested by its verifier as `computed(segment)` says.
fn run_checks(state: &mut State, segments: &[u64], computed: impl Fn(u64) -> TraceLeaf) {
    reveal_starts(state, segments);
    let results: Vec<Option<FinalResult>> = segments.iter().map(|s| result(state, *s)).collect();
    let tree = honest_trace(state);
    checked(state, segments, (&tree, leaf), |s| {
        let at = segments.iter().position(|x| *x == s).unwrap();
        (computed(s), results[at])
    });
}

/// Job 0 passed verification with no verifier to pay and `missed` checks missed.
fn assert_verified_unpaid(state: &State, missed: u32) {
    match Jobs::job(state, 0).unwrap().status {
        JobStatus::Verified {
            paid,
            missed: actual,
            ..
        } => assert_eq!((paid.len(), actual), (0, missed)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn honest_checks_pass_and_the_verifier_is_paid() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    assert_eq!(segments.len(), 2);
    assert_ne!(segments[0], segments[1]);
    assert_eq!(
        TestStaking::ledger(&state, &CHARLIE).committed,
        2 * AGR,
        "one bond per check"
    );
    let charlie_free = TestBalances::free_balance(&state, &CHARLIE);
    run_checks(&mut state, &segments, leaf);
    assert!(Verification::audit(&state, 0).is_none());
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
    end_block(&mut state, 10);
    match Jobs::job(&state, 0).unwrap().status {
        JobStatus::Settled { receipt } => {
            assert_eq!(receipt.checks_passed, 2);
            assert_eq!(receipt.paid_verifiers, fees(&segments, 4));
        }
        other => panic!("not settled: {other:?}"),
    }
    assert_eq!(
        TestBalances::free_balance(&state, &CHARLIE),
        charlie_free + fees(&segments, 4)
    );
}

/// Two verifiers per segment (the bid's choice), both honest: all four checks match, every
/// bond is released, and each verifier is paid for both segments it checked, out of an escrow
/// that held a fee for each.
#[test]
fn with_two_verifiers_per_segment_each_honest_verifier_is_paid() {
    let mut state = committed_at_assurance(&[CHARLIE, DAVE], trace(), leaf(3), None, (0, 2));
    let segments = sampled(&mut state);
    let mut distinct = segments.clone();
    distinct.dedup();
    assert_eq!((segments.len(), distinct.len()), (4, 2));
    let before = [CHARLIE, DAVE].map(|v| TestBalances::free_balance(&state, &v));
    run_checks(&mut state, &segments, leaf);
    assert!(Verification::audit(&state, 0).is_none());
    end_block(&mut state, 10);
    match Jobs::job(&state, 0).unwrap().status {
        JobStatus::Settled { receipt } => {
            assert_eq!((receipt.checks_passed, receipt.checks_missed), (4, 0));
            assert_eq!(receipt.paid_verifiers, 2 * fees(&distinct, 4));
        }
        other => panic!("not settled: {other:?}"),
    }
    for (verifier, free) in [CHARLIE, DAVE].into_iter().zip(before) {
        assert_eq!(TestStaking::ledger(&state, &verifier).committed, 0);
        assert_eq!(
            TestBalances::free_balance(&state, &verifier),
            free + fees(&distinct, 4)
        );
    }
}

/// Verifier exhaustion (issue 11, found by the simulation): with every registered verifier's
/// stake committed to other checks, the draw found nobody eligible and the job passed with no
/// check at all — a cheat's best moment to commit. Now the draw waits, a block at a time, for
/// up to `SAMPLE_WAIT_BLOCKS`, and Charlie, free again, checks the job.
/// The draw takes the buyer's assurance level from its bid: at the default one of the three
/// segments before the last is drawn (with the last and the heaviest, the last here), at
/// 1000 ‰ every segment.
#[test]
fn the_sample_is_as_large_as_the_buyer_chose() {
    let verifiers = [CHARLIE, DAVE];
    let mut default = committed(&verifiers);
    assert_eq!(sampled(&mut default).len(), 2);
    let mut every = committed_at_assurance(&verifiers, trace(), leaf(3), None, (1_000, 0));
    let mut segments = sampled(&mut every);
    segments.sort_unstable();
    assert_eq!(segments, vec![0, 1, 2, 3]);
}

/// A buyer that asks for every segment (assurance 1000 ‰) makes one run of the whole job:
/// its verifier re-executes the segments one after another from the one start revealed, and
/// the attestation window is sized for `RUN_SEGMENTS` (2) of them. A run of 4 gets two
/// windows. Before, it got one: at the bound, every drawn verifier of such a job missed and was
/// slashed, whatever its speed, and the job passed unchecked — a buyer with a worker account
/// of its own could burn the stake of the verifiers the draw favours (the largest).
#[test]
fn a_run_longer_than_a_window_is_sized_for_gets_a_window_per_run_segments() {
    let mut state = committed_at_assurance(&[CHARLIE], trace(), leaf(3), None, (1_000, 0));
    let segments = sampled(&mut state);
    assert_eq!(segments, vec![0, 1, 2, 3], "one run of four");
    reveal_starts(&mut state, &segments);
    let audit = Verification::audit(&state, 0).unwrap();
    assert_eq!(audit.phase, Phase::AwaitingAttestations);
    assert_eq!(
        audit.deadline,
        5 + 2 * 5,
        "two attestation windows of 5 blocks"
    );
    // Past one window: still open, and the checks go on to match.
    end_block(&mut state, 10);
    let audit = Verification::audit(&state, 0).unwrap();
    assert_eq!(audit.phase, Phase::AwaitingAttestations);
    assert!(audit.checks.iter().all(|c| c.outcome.is_none()));
    for (i, c) in audit.checks.iter().enumerate() {
        let check = u32::try_from(i).unwrap();
        let hash = attestation_hash(
            0,
            check,
            &CHARLIE,
            &leaf(c.segment),
            &result(&state, c.segment),
            &SALT,
        );
        step(&mut state, 14, |ext| {
            Verification::attest(ext, &CHARLIE, 0, check, hash)
        })
        .0
        .unwrap();
    }
    assert_eq!(
        Verification::audit(&state, 0).unwrap().phase,
        Phase::AwaitingLeaves
    );
    assert_eq!(
        TestStaking::ledger(&state, &CHARLIE).active,
        5 * AGR,
        "nothing slashed"
    );
}

/// The default sample's runs are at most two segments: one window, as before.
#[test]
fn runs_of_at_most_run_segments_get_one_attestation_window() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    assert_eq!(Verification::audit(&state, 0).unwrap().deadline, 5 + 5);
}

/// The draw takes the verifiers per segment from the bid too: asked for two, every sampled
/// segment is checked by two different verifiers, each with a check bond committed; asked for
/// three with two registered, by both of them.
#[test]
fn each_sampled_segment_is_checked_by_as_many_verifiers_as_the_buyer_chose() {
    for asked in [2, 3] {
        let mut state =
            committed_at_assurance(&[CHARLIE, DAVE], trace(), leaf(3), None, (0, asked));
        let segments = sampled(&mut state);
        let audit = Verification::audit(&state, 0).unwrap();
        let mut distinct = segments.clone();
        distinct.dedup();
        assert_eq!(distinct.len(), 2, "the default sample: {segments:?}");
        for segment in &distinct {
            let mut checkers: Vec<AccountId> = audit
                .checks
                .iter()
                .filter(|c| c.segment == *segment)
                .map(|c| c.verifier)
                .collect();
            checkers.sort_unstable();
            assert_eq!(
                checkers,
                vec![CHARLIE, DAVE],
                "segment {segment}, {asked} asked"
            );
        }
        for verifier in [CHARLIE, DAVE] {
            assert_eq!(
                TestStaking::ledger(&state, &verifier).committed,
                2 * AGR,
                "a check bond for each of {verifier:?}'s checks"
            );
        }
    }
}

#[test]
fn exploit_busy_verifiers_defer_the_draw_instead_of_passing_the_job_unchecked() {
    let mut state = committed(&[CHARLIE]);
    let busy = TestStaking::available(&state, &CHARLIE);
    step(&mut state, 3, |ext| {
        TestStaking::commit(ext, &CHARLIE, busy)
    })
    .0
    .unwrap();
    let events = end_block(&mut state, 4);
    assert!(
        matches!(
            events.as_slice(),
            [Event::SampleDeferred {
                job: 0,
                drawn: 0,
                wanted: 2
            }]
        ),
        "{events:?}"
    );
    assert_eq!(
        Verification::audit(&state, 0).unwrap().phase,
        Phase::AwaitingSample
    );
    step(&mut state, 4, |ext| {
        TestStaking::release(ext, &CHARLIE, busy)
    });
    let events = end_block(&mut state, 5);
    assert!(
        matches!(events.as_slice(), [Event::Sampled { job: 0, .. }]),
        "{events:?}"
    );
    // Busy past the wait with stake no audit will release (committed here the way collateral
    // is), the job goes on with nobody: waiting would not help. Stake bonded to other checks
    // makes it wait on (`bonds::exploit_verifiers_bonded_to_other_checks_make_a_draw_wait_not_pass`).
    let mut state = committed(&[CHARLIE]);
    let busy = TestStaking::available(&state, &CHARLIE);
    step(&mut state, 3, |ext| {
        TestStaking::commit(ext, &CHARLIE, busy)
    })
    .0
    .unwrap();
    let wait = <Test as Config>::SAMPLE_WAIT_BLOCKS;
    for block in 4..4 + wait {
        end_block(&mut state, block);
    }
    let events = end_block(&mut state, 4 + wait);
    assert!(
        events.contains(&Event::NoVerifiers { job: 0 }),
        "{events:?}"
    );
}

/// Hidden overbilling (issue 11): fuel added to a segment that no check happened to draw was
/// billed. Now the bill may not exceed the segments times the fuel of the segment the worker
/// names as its heaviest, that segment is always drawn, and leaves that show other fuel for
/// it (or more for any drawn segment) are the worker's fault: here Bob claims 2 Mfuel for
/// segment 1, whose leaves show 1 Mfuel like every other, and times out.
#[test]
fn exploit_a_heaviest_segment_its_leaves_do_not_bear_out_is_the_workers_fault() {
    let mut state = committed_claiming(&[CHARLIE], trace(), leaf(3), Some((1, 2 * MFUEL)));
    let segments = sampled(&mut state);
    assert!(
        segments.contains(&1) && segments.contains(&3),
        "{segments:?}"
    );
    reveal_starts(&mut state, &segments);
    let audit = Verification::audit(&state, 0).unwrap();
    for (i, c) in audit.checks.iter().enumerate() {
        let check = u32::try_from(i).unwrap();
        let hash = attestation_hash(
            0,
            check,
            &c.verifier,
            &leaf(c.segment),
            &result(&state, c.segment),
            &SALT,
        );
        step(&mut state, 6, |ext| {
            Verification::attest(ext, &c.verifier, 0, check, hash)
        })
        .0
        .unwrap();
    }
    let leaves = leaves_from(&honest_trace(&state), leaf, &segments);
    let (result, events) = step(&mut state, 7, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    });
    result.unwrap();
    assert!(
        events.contains(&Event::HeaviestFuelMisclaimed {
            job: 0,
            segment: 1,
            claimed: 2 * MFUEL,
            revealed: MFUEL
        }),
        "{events:?}"
    );
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::TimedOut { slashed, .. } if slashed == tests::dispute::COLLATERAL
    ));
}

/// Exploit 2 of issue 11: the verifier fee was a flat 0.01 AGR whatever a check re-executed,
/// below the work, so rational verifiers stayed away or attested lazily. Now every matching
/// check earns at least the price of the fuel it re-executed at the job's clearing price, and
/// the first and last segments' checks (which also run `init`, or `export` and `eval`) more.
#[test]
fn exploit_a_check_earns_at_least_the_price_of_the_fuel_it_reexecuted() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    run_checks(&mut state, &segments, leaf);
    let JobStatus::Verified { paid, .. } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not verified");
    };
    let checked: Vec<(u64, Fuel)> = paid.iter().map(|c| (c.segment, c.fuel)).collect();
    assert_eq!(
        checked,
        segments.iter().map(|s| (*s, MFUEL)).collect::<Vec<_>>()
    );
    let price = Jobs::job(&state, 0).unwrap().price;
    end_block(&mut state, 10);
    let JobStatus::Settled { receipt } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not settled");
    };
    let work = pallet_market::fuel_cost(price, segments.len() as u64 * MFUEL).unwrap();
    assert!(
        receipt.paid_verifiers >= work * 11 / 10,
        "{} < {work}",
        receipt.paid_verifiers
    );
    assert_eq!(receipt.paid_verifiers, fees(&segments, 4));
}

#[test]
fn a_lazy_verifier_is_slashed_and_the_job_still_settles() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    // Nobody attests; the attestation window (5 blocks) ends at block 10.
    let events = end_block(&mut state, 10);
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| matches!(
        e,
        Event::CheckDecided {
            outcome: CheckOutcome::Missed,
            ..
        }
    )));
    assert_eq!(
        TestStaking::ledger(&state, &CHARLIE).active,
        3 * AGR,
        "two bonds slashed"
    );
    assert_verified_unpaid(&state, 2);
}

#[test]
fn a_reveal_that_does_not_open_the_commitment_is_slashed() {
    let (mut state, segments) = attested();
    reveal_leaves(&mut state, &segments);
    let (result, events) = step(&mut state, 8, |ext| {
        Verification::reveal_attestation(
            ext,
            &CHARLIE,
            0,
            0,
            leaf(segments[0]),
            result(&*ext, segments[0]),
            [0; 32],
        )
    });
    result.unwrap();
    assert!(matches!(
        events.as_slice(),
        [Event::CheckDecided {
            outcome: CheckOutcome::Wrong,
            ..
        }]
    ));
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).active, 4 * AGR);
}

#[test]
fn a_worker_that_never_reveals_its_starts_times_out() {
    let mut state = committed(&[CHARLIE]);
    sampled(&mut state);
    let issuance = TestBalances::total_issuance(&state);
    end_block(&mut state, 7);
    assert!(
        matches!(Jobs::job(&state, 0).unwrap().status, JobStatus::TimedOut { slashed, .. } if slashed == tests::dispute::COLLATERAL)
    );
    assert_eq!(
        TestBalances::total_issuance(&state),
        issuance - tests::dispute::COLLATERAL
    );
    assert_eq!(
        TestStaking::ledger(&state, &CHARLIE).committed,
        0,
        "the verifier's bonds are released"
    );
}

#[test]
fn a_worker_that_never_reveals_its_leaves_times_out() {
    let (mut state, _) = attested();
    end_block(&mut state, 9);
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::TimedOut { .. }
    ));
    assert_eq!(TestStaking::ledger(&state, &CHARLIE).committed, 0);
}

#[test]
fn bad_reveals_and_attestations_are_refused_and_change_nothing() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    step(&mut state, 5, |_| ());
    let before = state.clone();
    let tree = trace();
    let mut wrong_leaf = starts(&state, &segments);
    // A start for the wrong segment (or a start for segment 0).
    wrong_leaf[0] = Some((leaf(3), tree.prove(3).unwrap()));
    if segments[0] == 0 {
        wrong_leaf[0] = Some((leaf(0), tree.prove(0).unwrap()));
    }
    let mut forged = starts(&state, &segments);
    let forged_index = forged.iter().position(Option::is_some).unwrap();
    if let Some((leaf, _)) = forged[forged_index].as_mut() {
        leaf.fuel += 1;
    }
    let cases: Vec<(AccountId, Vec<Option<(TraceLeaf, InclusionProof)>>, Error)> = vec![
        (CHARLIE, starts(&state, &segments), Error::NotJobWorker),
        (BOB, starts(&state, &segments[..1]), Error::WrongRevealCount),
        (BOB, wrong_leaf, Error::WrongStartLeaf),
        (BOB, forged, Error::BadProof),
    ];
    for (who, reveal, expected) in cases {
        let (result, events) = step(&mut state, 5, |ext| {
            Verification::reveal_starts(ext, &who, 0, reveal)
        });
        assert_eq!(result, Err(error(expected)));
        assert!(events.is_empty());
        assert_eq!(state, before, "{expected:?} changed state");
    }
    // Out of phase, and for an unknown job.
    let (result, _) = step(&mut state, 5, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves_from(&trace(), leaf, &segments))
    });
    assert_eq!(result, Err(error(Error::WrongPhase)));
    let (result, _) = step(&mut state, 5, |ext| {
        Verification::attest(ext, &CHARLIE, 7, 0, Hash::ZERO)
    });
    assert_eq!(result, Err(error(Error::UnknownAudit)));
    // Attestations from the wrong account, for an unknown check, and twice.
    reveal_starts(&mut state, &segments);
    let (result, _) = step(&mut state, 6, |ext| {
        Verification::attest(ext, &DAVE, 0, 0, Hash::ZERO)
    });
    assert_eq!(result, Err(error(Error::NotCheckVerifier)));
    let (result, _) = step(&mut state, 6, |ext| {
        Verification::attest(ext, &CHARLIE, 0, 5, Hash::ZERO)
    });
    assert_eq!(result, Err(error(Error::UnknownCheck)));
    step(&mut state, 6, |ext| {
        Verification::attest(ext, &CHARLIE, 0, 0, Hash::ZERO)
    })
    .0
    .unwrap();
    let (result, _) = step(&mut state, 6, |ext| {
        Verification::attest(ext, &CHARLIE, 0, 0, Hash::ZERO)
    });
    assert_eq!(result, Err(error(Error::AlreadyAttested)));
}

#[test]
fn a_start_state_must_be_a_registered_blob() {
    let mut state = committed(&[CHARLIE]);
    sampled(&mut state);
    // The honest trace's states are all registered; swap in a trace whose states are not
    // (as a worker that never uploaded its checkpoints would have).
    let unknown = TraceTree::new(
        (0..4u64)
            .map(|i| TraceLeaf {
                index: i,
                state_hash: Hash([0x70 + u8::try_from(i).unwrap(); 32]),
                fuel: 1,
            })
            .collect(),
    )
    .unwrap();
    let mut audit = Verification::audit(&state, 0).unwrap();
    audit.root = unknown.root();
    audit.checks.iter_mut().for_each(|c| c.segment = 2);
    step(&mut state, 5, |ext| Audits::insert(ext, &0, &audit));
    let starts = vec![
        Some((
            TraceLeaf {
                index: 1,
                state_hash: Hash([0x71; 32]),
                fuel: 1
            },
            unknown.prove(1).unwrap()
        ));
        2
    ];
    let (result, _) = step(&mut state, 5, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, starts)
    });
    assert_eq!(result, Err(error(Error::StartStateNotRegistered)));
}

/// Exploit 1 of issue 10: a worker that registers a sampled start state but never uploads its
/// bytes cannot reveal it — a node without the bytes leaves the reveal out (the call is
/// undecided there, as a referee run without its inputs) — and misses the deadline: the job
/// times out with the collateral slashed, and the verifier, who could not have fetched the
/// state, keeps its bond.
#[test]
fn exploit_withheld_start_state_is_never_revealed_and_the_worker_times_out() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    let starts = starts(&state, &segments);
    let withheld = starts
        .iter()
        .flatten()
        .map(|(leaf, _)| leaf.state_hash)
        .next()
        .expect("four segments: some sampled segment has a start to reveal");
    let (result, undecided) = step(&mut state, 5, |ext| {
        ext.set_referee(Some(std::sync::Arc::new(dispute::MockReferee {
            missing: Some(withheld),
            ..dispute::MockReferee::default()
        })));
        let result = Verification::reveal_starts(ext, &BOB, 0, starts.clone());
        (result, ext.take_undecided())
    })
    .0;
    assert_eq!(result, Err(error(Error::StartStateUnavailable)));
    assert_eq!(
        undecided,
        Some(agora_primitives::referee::RefereeError::Unavailable { blob: withheld })
    );
    let deadline = Verification::audit(&state, 0).unwrap().deadline;
    end_block(&mut state, deadline);
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::TimedOut { .. }
    ));
    let charlie = TestStaking::ledger(&state, &CHARLIE);
    assert_eq!(
        (charlie.committed, charlie.active),
        (0, 5 * AGR),
        "bond kept"
    );
}

#[test]
fn with_no_eligible_verifier_the_job_passes_unchecked() {
    let mut state = committed(&[]);
    let events = end_block(&mut state, 4);
    assert_eq!(events, vec![Event::NoVerifiers { job: 0 }]);
    assert_verified_unpaid(&state, 0);
}

#[test]
fn the_worker_and_buyer_never_verify_themselves() {
    let mut state = committed(&[BOB]);
    let events = end_block(&mut state, 4);
    assert_eq!(events, vec![Event::NoVerifiers { job: 0 }]);
}

/// The audit of job 0 as the draw at the start of block 4 makes it when the block's beacon is
/// `[beacon; 32]`.
fn drawn_after(state: &State, beacon: u8) -> Audit {
    let mut state = state.clone();
    apply(&mut state, |ext| {
        pallet_system::Number::put(ext, &4);
        pallet_system::Beacon::put(ext, &Hash([beacon; 32]));
        Verification::on_initialize(ext);
    });
    Verification::audit(&state, 0).unwrap()
}

#[test]
fn the_sample_is_a_function_of_the_block_beacon() {
    let state = committed(&[CHARLIE, DAVE]);
    let draw = |beacon: u8| {
        drawn_after(&state, beacon)
            .checks
            .iter()
            .map(|c| (c.segment, c.verifier))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(3), draw(3));
    let samples: std::collections::BTreeSet<_> = (0..16u8).map(draw).collect();
    assert!(
        samples.len() > 1,
        "the sample never changes with the beacon"
    );
}

#[test]
fn verifier_registration_needs_stake_and_is_bounded() {
    let mut state = committed(&[CHARLIE]);
    let (result, _) = step(&mut state, 5, |ext| {
        Verification::register_verifier(ext, &CHARLIE)
    });
    assert_eq!(result, Err(error(Error::AlreadyVerifier)));
    let (result, _) = step(&mut state, 5, |ext| {
        Verification::register_verifier(ext, &DAVE)
    });
    assert_eq!(result, Err(error(Error::InsufficientStake)));
    let (result, _) = step(&mut state, 5, |ext| {
        Verification::deregister_verifier(ext, &DAVE)
    });
    assert_eq!(result, Err(error(Error::NotVerifier)));
    step(&mut state, 5, |ext| {
        Verification::deregister_verifier(ext, &CHARLIE)
    })
    .0
    .unwrap();
    assert!(Verification::verifiers(&state).is_empty());
}

/// Exploit 1 of issue 11: the registration minimum was checked once, so an account could
/// register, unbond to a check bond's worth and keep its slot — drawn as often as a staked
/// verifier for a fraction of the stake at risk (or, unbonded to zero, never eligible, and 256
/// such accounts left no verifier at all). Now every draw re-checks the stake and drops those
/// below the minimum from the list.
#[test]
fn exploit_a_verifier_that_unbonds_leaves_the_list_and_is_never_drawn() {
    let mut state = committed(&[CHARLIE, DAVE]);
    // Dave keeps 1 AGR bonded: a check bond, below the 2 AGR minimum.
    step(&mut state, 3, |ext| {
        TestStaking::unbond(ext, &DAVE, 4 * AGR)
    })
    .0
    .unwrap();
    let events = end_block(&mut state, 4);
    assert!(
        events.contains(&Event::VerifierDeregistered { who: DAVE }),
        "{events:?}"
    );
    assert_eq!(Verification::verifiers(&state), vec![CHARLIE]);
    let audit = Verification::audit(&state, 0).unwrap();
    assert!(!audit.checks.is_empty());
    assert!(
        audit.checks.iter().all(|c| c.verifier == CHARLIE),
        "{audit:?}"
    );
}

/// Exploit 1 of issue 11, the sybil half: the draw was uniform over accounts, so stake split
/// across many minimum-stake accounts bought draws in proportion to the accounts. Now it is
/// in proportion to uncommitted stake: Charlie with 9 AGR against Dave's 2 checks about 9/11 of
/// the time over many samples (half of them before).
#[test]
fn exploit_verifiers_are_drawn_by_stake_not_by_account() {
    let mut state = committed(&[CHARLIE, DAVE]);
    step(&mut state, 3, |ext| {
        TestStaking::bond(ext, &CHARLIE, 4 * AGR).unwrap();
        TestStaking::unbond(ext, &DAVE, 3 * AGR).unwrap();
    });
    let mut charlie = 0;
    let mut all = 0;
    for beacon in 0..64u8 {
        let audit = drawn_after(&state, beacon);
        all += audit.checks.len();
        charlie += audit
            .checks
            .iter()
            .filter(|c| c.verifier == CHARLIE)
            .count();
    }
    let share = charlie as f64 / all as f64;
    assert!(
        share > 0.7 && share < 0.95,
        "Charlie checked {charlie} of {all}"
    );
}

/// The other half: a list full of accounts that unbonded does not keep out a staked one.
#[test]
fn a_full_list_sheds_unstaked_accounts_for_a_staked_verifier() {
    let mut state = committed(&[CHARLIE, DAVE, ALICE]);
    step(&mut state, 3, |ext| {
        TestStaking::unbond(ext, &DAVE, 5 * AGR)
    })
    .0
    .unwrap();
    let (result, events) = step(&mut state, 3, |ext| {
        Verification::register_verifier(ext, &BOB)
    });
    result.unwrap();
    assert!(events.contains(&Event::VerifierDeregistered { who: DAVE }));
    assert_eq!(Verification::verifiers(&state), vec![CHARLIE, ALICE, BOB]);
}

/// Exploit 5 of issue 10: with segments s and s + 1 both sampled, the start reveal of s + 1 was
/// leaf s, i.e. the answer of the check on s, public before its verifier committed (certain
/// with two segments). Now a run of sampled segments has only its first start revealed.
#[test]
fn exploit_adjacent_samples_reveal_no_attested_leaf() {
    let mut state = committed_as(&[CHARLIE], trace_of(2), leaf(1));
    let segments = sampled(&mut state);
    assert_eq!(segments, [0, 1], "a two-segment trace is checked whole");
    step(&mut state, 5, |_| ());
    let before = state.clone();
    // The old reveal: segment 1 starts from leaf 0, which is segment 0's answer.
    let leaked = vec![None, Some((leaf(0), trace_of(2).prove(0).unwrap()))];
    let (result, events) = step(&mut state, 5, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, leaked)
    });
    assert_eq!(result, Err(error(Error::WrongStartLeaf)));
    assert!(events.is_empty());
    assert_eq!(state, before);
    // The honest protocol: no start is revealed, Charlie computes both segments from init.
    let charlie_free = TestBalances::free_balance(&state, &CHARLIE);
    run_checks(&mut state, &segments, leaf);
    end_block(&mut state, 10);
    match Jobs::job(&state, 0).unwrap().status {
        JobStatus::Settled { receipt } => assert_eq!(receipt.checks_passed, 2),
        other => panic!("not settled: {other:?}"),
    }
    assert_eq!(
        TestBalances::free_balance(&state, &CHARLIE),
        charlie_free + fees(&segments, 2)
    );
}

/// Every check's verifier attests (block 6) what `computed(segment)` says, Bob reveals the
/// leaves of his trace `tree` as `worker(segment)` gives them (block 7), and the verifiers open
/// (block 8). Returns each check's segment and outcome.
fn checked(
    state: &mut State,
    segments: &[u64],
    (tree, worker): (&TraceTree, impl Fn(u64) -> TraceLeaf),
    computed: impl Fn(u64) -> (TraceLeaf, Option<FinalResult>),
) -> Vec<(u64, CheckOutcome)> {
    let audit = Verification::audit(state, 0).unwrap();
    assert_eq!(audit.checks.len(), segments.len());
    for (i, c) in audit.checks.iter().enumerate() {
        let check = u32::try_from(i).unwrap();
        let (leaf, result) = computed(c.segment);
        let hash = attestation_hash(0, check, &c.verifier, &leaf, &result, &SALT);
        step(state, 6, |ext| {
            Verification::attest(ext, &c.verifier, 0, check, hash)
        })
        .0
        .unwrap();
    }
    let leaves = leaves_from(tree, worker, segments);
    step(state, 7, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    })
    .0
    .unwrap();
    let mut outcomes = Vec::new();
    for (i, c) in audit.checks.iter().enumerate() {
        let check = u32::try_from(i).unwrap();
        let (leaf, result) = computed(c.segment);
        let (reveal, events) = step(state, 8, |ext| {
            Verification::reveal_attestation(ext, &c.verifier, 0, check, leaf, result, SALT)
        });
        reveal.unwrap();
        outcomes.extend(events.into_iter().filter_map(|e| match e {
            Event::CheckDecided { outcome, .. } => Some((c.segment, outcome)),
            _ => None,
        }));
    }
    outcomes
}

/// Exploit 2 of issue 10, the verifier's half: a worker whose trace claims more fuel at the
/// last leaf than the run used (and bills it, which the commit accepts because the bill is
/// that leaf's) is caught, because the last segment is always sampled and a verifier
/// recomputes its cumulative fuel from leaf n − 2; the mismatch is disputed over the fuel.
#[test]
fn exploit_inflated_last_leaf_fuel_is_a_fuel_dispute() {
    let inflated = |i: u64| TraceLeaf {
        fuel: leaf(i).fuel + if i == 3 { 3 * MFUEL } else { 0 },
        ..leaf(i)
    };
    let tree = TraceTree::new((0..4).map(inflated).collect()).unwrap();
    let mut state = committed_as(&[CHARLIE], tree.clone(), inflated(3));
    let segments = sampled(&mut state);
    assert!(segments.contains(&3), "the last segment is always sampled");
    let starts = starts_from(&tree, inflated, &segments);
    step(&mut state, 5, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, starts)
    })
    .0
    .unwrap();
    // Charlie re-executes honestly: its leaf 3 says 4 Mfuel.
    let honest = result(&state, 3);
    let outcomes = checked(&mut state, &segments, (&tree, inflated), |s| {
        (leaf(s), honest.filter(|_| s == 3))
    });
    assert!(
        outcomes.contains(&(3, CheckOutcome::Mismatch)),
        "{outcomes:?}"
    );
    // Equal states, different fuel: the referee re-runs segment 3 from leaf 2 (played to the
    // end by `dispute::an_overbilled_segment_loses_the_fuel_dispute_and_the_collateral`).
    let d = Verification::audit(&state, 0).unwrap().dispute.unwrap();
    assert_eq!((d.segment, d.turn), (3, Turn::Referee));
    assert_eq!(
        d.claim,
        Claim::Segment(crate::SegmentClaim {
            steps: 10,
            start: Some(leaf(2)),
            leaf: inflated(3),
        })
    );
}

/// Exploit 3 of issue 10: the model was not bound to the trace; a worker could commit an honest
/// trace with any registered blob as "the model" (and any metrics) and pass every check. Now the
/// verifier of the last segment computes `export` and `eval` of its own final state and a
/// different model or metrics is a mismatch, which opens a dispute the referee decides.
#[test]
fn exploit_model_not_from_the_trace_is_a_mismatch() {
    // What export/eval of the honest final state give (Bob committed OUTPUT and no metrics).
    let true_model = Hash([0x0C; 32]);
    for computed in [
        FinalResult {
            output: true_model,
            metrics: Hash::of(b""),
        },
        FinalResult {
            output: OUTPUT,
            metrics: Hash::of(br#"{"accuracy":0.99}"#),
        },
    ] {
        let mut state = committed(&[CHARLIE]);
        let segments = sampled(&mut state);
        assert_eq!(
            segments.last(),
            Some(&3),
            "the last segment is always sampled"
        );
        reveal_starts(&mut state, &segments);
        let outcomes = checked(&mut state, &segments, (&trace(), leaf), |s| {
            (leaf(s), (s == 3).then_some(computed))
        });
        assert!(
            outcomes.contains(&(3, CheckOutcome::Mismatch)),
            "{computed:?}: {outcomes:?}"
        );
        // Disputed over export/eval of the final state; `dispute::exploit_model_not_from_the_
        // trace_loses_the_output_dispute` plays it to the end.
        let audit = Verification::audit(&state, 0).unwrap();
        assert_eq!(audit.dispute.map(|d| d.claim), Some(Claim::Output));
    }
}

/// The verifier of the last segment must reveal the model and metrics it computed, and no other
/// verifier may: a reveal the other way round does not follow the protocol and is `Wrong`.
#[test]
fn a_last_segment_reveal_without_the_model_is_wrong() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    // Charlie attests every check with no result at all (a verifier that skipped export/eval).
    let outcomes = checked(&mut state, &segments, (&trace(), leaf), |s| (leaf(s), None));
    assert!(outcomes.contains(&(3, CheckOutcome::Wrong)), "{outcomes:?}");
    assert_eq!(
        outcomes
            .iter()
            .filter(|(_, o)| *o == CheckOutcome::Match)
            .count(),
        1,
        "{outcomes:?}"
    );
}

/// A drawn verifier that re-executes honestly but reveals its leaf under another segment's
/// index does not open a check of its segment: its reveal is `Wrong` and its bond slashed.
/// Before, the leaf counted as a mismatch that nothing could dispute (the states, fuel and
/// result were all the worker's), so the audit ended as a mismatch: the buyer refunded, the
/// honest worker unpaid, the verifier's bond released — a free cancellation for a buyer with a
/// verifier account.
#[test]
fn a_reveal_of_another_segments_leaf_is_wrong_not_a_free_mismatch() {
    let mut state = committed(&[CHARLIE]);
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    let misindexed = |s: u64| TraceLeaf {
        index: s + 1,
        ..leaf(s)
    };
    let results: Vec<Option<FinalResult>> = segments.iter().map(|s| result(&state, *s)).collect();
    let outcomes = checked(&mut state, &segments, (&trace(), leaf), |s| {
        let at = segments.iter().position(|x| *x == s).unwrap();
        (misindexed(s), results[at])
    });
    assert!(
        outcomes.iter().all(|(_, o)| *o == CheckOutcome::Wrong),
        "{outcomes:?}"
    );
    assert!(Verification::audit(&state, 0).is_none());
    assert!(
        matches!(
            Jobs::job(&state, 0).unwrap().status,
            JobStatus::Verified { .. }
        ),
        "the honest worker's job passes: {:?}",
        Jobs::job(&state, 0).unwrap().status
    );
    assert_eq!(
        TestStaking::ledger(&state, &CHARLIE).active,
        3 * AGR,
        "both bonds slashed"
    );
}

/// Exploit 7 of issue 10: a segment too long to re-execute in the attestation window made every
/// drawn verifier miss (slashed) while the job passed. Now bids are bounded so that segments fit
/// (`pallet_market`'s `SegmentsTooLong`), engines stop a segment at `MAX_SEGMENT_FUEL`, and a
/// worker whose sampled leaf claims more is at fault at its leaf reveal; the verifiers keep
/// their bonds.
#[test]
fn exploit_segment_over_the_fuel_bound_is_the_workers_fault() {
    // Leaves 0..=2 claim 150 Mfuel (the mock's bound is 100 Mfuel per segment), the last leaf
    // bills 4 Mfuel: whichever segment is sampled besides the last, some sampled segment is
    // over the bound or has its cumulative fuel go down.
    let lying = |i: u64| TraceLeaf {
        fuel: if i < 3 { 150 * MFUEL } else { 4 * MFUEL },
        ..leaf(i)
    };
    let tree = TraceTree::new((0..4).map(lying).collect()).unwrap();
    let mut state = committed_as(&[CHARLIE], tree.clone(), lying(3));
    let segments = sampled(&mut state);
    let starts = starts_from(&tree, lying, &segments);
    step(&mut state, 5, |ext| {
        Verification::reveal_starts(ext, &BOB, 0, starts)
    })
    .0
    .unwrap();
    for (i, segment) in segments.iter().enumerate() {
        let check = u32::try_from(i).unwrap();
        let hash = attestation_hash(
            0,
            check,
            &CHARLIE,
            &leaf(*segment),
            &result(&state, *segment),
            &SALT,
        );
        step(&mut state, 6, |ext| {
            Verification::attest(ext, &CHARLIE, 0, check, hash)
        })
        .0
        .unwrap();
    }
    let charlie = TestStaking::ledger(&state, &CHARLIE);
    let bob_bonded = TestStaking::ledger(&state, &BOB).active;
    let leaves = leaves_from(&tree, lying, &segments);
    let (result, events) = step(&mut state, 7, |ext| {
        Verification::reveal_leaves(ext, &BOB, 0, leaves)
    });
    result.unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::SegmentOverFuelBound { job: 0, .. })),
        "{events:?}"
    );
    assert!(Verification::audit(&state, 0).is_none());
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::TimedOut { .. }
    ));
    // Charlie's bonds are released, not slashed; Bob's collateral is.
    let after = TestStaking::ledger(&state, &CHARLIE);
    assert_eq!((after.active, after.committed), (charlie.active, 0));
    assert!(TestStaking::ledger(&state, &BOB).active < bob_bonded);
}

/// The `copy` fault of issue 10: a verifier that attests what another verifier committed (it
/// cannot see any leaf before it commits, so the other's commitment hash is all it can copy)
/// cannot open it: the hash binds the check index and the verifier's account. It is `Wrong`
/// and slashed; the honest verifier is paid.
#[test]
fn a_copied_attestation_cannot_be_opened_and_is_slashed() {
    let mut state = committed(&[CHARLIE, DAVE]);
    let segments = sampled(&mut state);
    reveal_starts(&mut state, &segments);
    // The sample may draw one verifier for both checks (a run); hand check 1 to the other
    // verifier, bond and all, so that there is someone to copy from.
    let mut audit = Verification::audit(&state, 0).unwrap();
    let honest = audit.checks[0].verifier;
    let copier = if honest == CHARLIE { DAVE } else { CHARLIE };
    if audit.checks[1].verifier == honest {
        audit.checks[1].verifier = copier;
        step(&mut state, 5, |ext| {
            TestStaking::release(ext, &honest, AGR);
            TestStaking::commit(ext, &copier, AGR).unwrap();
            Audits::insert(ext, &0, &audit);
        });
    }
    let segment = audit.checks[0].segment;
    let honest_hash = attestation_hash(
        0,
        0,
        &honest,
        &leaf(segment),
        &result(&state, segment),
        &SALT,
    );
    for (check, who) in [(0u32, honest), (1, copier)] {
        step(&mut state, 6, |ext| {
            Verification::attest(ext, &who, 0, check, honest_hash)
        })
        .0
        .unwrap();
    }
    reveal_leaves(&mut state, &segments);
    let copier_bonded = TestStaking::ledger(&state, &copier).active;
    // The copier can only open with what it copied: the honest verifier's leaf and salt.
    let (result_copied, events) = step(&mut state, 8, |ext| {
        let result = result(&*ext, segment);
        Verification::reveal_attestation(ext, &copier, 0, 1, leaf(segment), result, SALT)
    });
    result_copied.unwrap();
    assert!(
        matches!(
            events.as_slice(),
            [Event::CheckDecided {
                outcome: CheckOutcome::Wrong,
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(
        TestStaking::ledger(&state, &copier).active,
        copier_bonded - AGR,
        "the copier's check bond is slashed"
    );
}

mod bonds;
mod challenge;
mod dispute;
mod refusal;
mod reopened;
mod reveals;
mod run_start;

/// The draw waits `f + 1` blocks for a committee tolerating `f` faults, so that the beacon it
/// reads needs the VRF of `f + 1` leaders after the commitment (`docs/beacon.md`).
#[test]
fn the_draw_waits_for_one_more_leader_than_the_committee_tolerates_faults() {
    let state = committed(&[CHARLIE]);
    assert_eq!(
        Verification::sample_delay(&state),
        1,
        "no committee in state"
    );
    for (members, delay) in [(1usize, 1u64), (3, 1), (4, 2), (7, 3), (100, 34)] {
        let mut state = state.clone();
        apply(&mut state, |ext| {
            let member = pallet_staking::Validator {
                account: CHARLIE,
                consensus_key: Hash::ZERO,
                beacon_key: Hash::ZERO,
                address: Vec::new(),
            };
            pallet_staking::Committees::insert(ext, &0, &vec![member; members]);
        });
        assert_eq!(
            Verification::sample_delay(&state),
            delay,
            "{members} members"
        );
    }
}
