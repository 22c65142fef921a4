//! Pallet tests for every lifecycle path; every step ends with the invariant checkers of
//! balances, staking, market and jobs, and a token-conservation check.

use super::*;
use agora_primitives::trace::TraceTree;
use agora_primitives::AGR;
use pallet_market::{BidTerms, Energy, Region, FUEL_PER_MFUEL};

pallet_support::mock_runtime!(Test: jobs<Verification = RecordBegin>);
type Jobs = Pallet<Test>;
type TestBalances = pallet_balances::Pallet<Test>;
type TestStaking = pallet_staking::Pallet<Test>;
type TestMarket = pallet_market::Pallet<Test>;

/// Charlie's fee for checking the last segment of [`trace`]: its 1.5 Mfuel plus one average
/// segment (1.5 Mfuel, for `export` and `eval`) at the clearing price of 0.25 AGR, plus 10 %.
const FEE: Balance = 3 * AGR / 4 * 11 / 10;

/// Stand-in for the verification pallet: records which jobs it was asked to check.
struct RecordBegin;
pallet_support::storage! { "TestVerification"; Begun: map JobId => Hash; }
impl JobVerification for RecordBegin {
    fn begin(ext: &mut Ext<'_>, job: JobId, record: &Job) {
        let root = record.commitment.as_ref().unwrap().trace_root;
        Begun::insert(ext, &job, &root);
    }
}

const ALICE: AccountId = AccountId([1; 32]);
const BOB: AccountId = AccountId([2; 32]);
const CHARLIE: AccountId = AccountId([3; 32]);
const MFUEL: Fuel = FUEL_PER_MFUEL;
const MODULE: Hash = Hash([0xAA; 32]);
const DATASET: Hash = Hash([0xDA; 32]);
const OUTPUT: Hash = Hash([0x0B; 32]);

fn spec() -> JobSpec {
    JobSpec {
        module: MODULE,
        dataset: DATASET,
        params: b"{}".to_vec(),
        steps: 40,
        segment_steps: 10,
        seed: 1,
    }
}

fn terms(requeue: bool) -> BidTerms {
    BidTerms {
        max_price: AGR,
        max_fuel: 10 * MFUEL,
        run_blocks: 5,
        deadline: 40,
        region: None,
        renewable_only: false,
        requeue,
        assurance_permille: 0,
        assurance_verifiers: 0,
    }
}

/// Bob's trace: 4 segments of 1.5 Mfuel, so the last leaf's cumulative fuel is the 6 Mfuel billed.
/// The leaves of the worker's trace: 4 segments of 1.5 Mfuel each.
fn trace_leaves() -> Vec<TraceLeaf> {
    (0..4u64)
        .map(|index| TraceLeaf {
            index,
            state_hash: Hash::of(&index.to_le_bytes()),
            fuel: (index + 1) * 3 * MFUEL / 2,
        })
        .collect()
}

fn trace() -> TraceTree {
    TraceTree::new(trace_leaves()).unwrap()
}

fn commitment() -> Commitment {
    Commitment {
        trace_root: trace().root(),
        segments: 4,
        final_state: Hash::of(&3u64.to_le_bytes()),
        total_fuel: 6 * MFUEL,
        heaviest_segment: 3,
        heaviest_fuel: 3 * MFUEL / 2,
        output: OUTPUT,
        metrics: br#"{"acc":0.9}"#.to_vec(),
    }
}

/// The inclusion proof of the last leaf of [`trace`].
fn final_proof() -> InclusionProof {
    trace().prove(3).unwrap()
}

/// Alice (buyer, 100 AGR) has a job matched at block 2 to Bob (worker, 20 AGR bonded, offer at
/// 0.25 AGR/Mfuel with 2 AGR collateral); Charlie (verifier) has 10 AGR.
fn matched_job(requeue: bool) -> State {
    matched_job_with(terms(requeue), None)
}

/// [`matched_job`] with the bid's `terms`, on a chain whose genesis sets the blob `lifetimes`.
fn matched_job_with(terms: BidTerms, lifetimes: Option<BlobLifetimes>) -> State {
    let mut state = genesis(
        &[(ALICE, 100 * AGR), (BOB, 50 * AGR), (CHARLIE, 10 * AGR)],
        &[(BOB, 20 * AGR), (CHARLIE, 5 * AGR)],
    );
    pallet_support::mock::apply(&mut state, |ext| {
        Jobs::build_genesis(ext, &GenesisConfig { lifetimes });
    });
    step(&mut state, 1, |ext| {
        Jobs::register_blob_of_known_size(ext, &ALICE, MODULE, 3_000).unwrap();
        Jobs::register_blob_of_known_size(ext, &ALICE, DATASET, 2_000).unwrap();
        Jobs::register_blob_of_known_size(ext, &BOB, OUTPUT, 1_000).unwrap();
        Jobs::register_blob_of_known_size(ext, &BOB, commitment().final_state, 1_000).unwrap();
        TestMarket::post_offer(
            ext,
            &BOB,
            AGR / 4,
            100 * MFUEL,
            Region::new("eu").unwrap(),
            Energy::Renewable,
            2 * AGR,
            1_000,
        )
        .unwrap();
        TestMarket::place_bid(ext, &ALICE, spec(), terms.clone()).unwrap();
    });
    let events = end_block(&mut state, 2);
    assert_eq!(
        events,
        vec![Event::JobAssigned {
            job: 0,
            worker: BOB,
            commit_by: (2 + u64::from(terms.run_blocks)).min(terms.deadline)
        }]
    );
    state
}

/// 10 Mfuel at 1 AGR, and three checks (the last segment of four, one other, and the worker's
/// heaviest) for at most twice the bid's average segment, 2 × 2.5 Mfuel, at 1 AGR plus 10 %.
fn escrow() -> Balance {
    10 * AGR + 3 * (5 * AGR * 11 / 10)
}

/// Bob commits the result of job 0 (the standard [`commitment`]) in block `number`.
fn commit(state: &mut State, number: BlockNumber) -> (DispatchResult, Vec<Event>) {
    step(state, number, |ext| {
        Jobs::commit_result(ext, &BOB, 0, commitment(), &final_proof())
    })
}

/// `who` registers a blob in block 3 (a stand-in hash: the size proof has tests of its own).
fn register(
    state: &mut State,
    who: &AccountId,
    hash: Hash,
    size: u64,
) -> (DispatchResult, Vec<Event>) {
    step(state, 3, |ext| {
        Jobs::register_blob_of_known_size(ext, who, hash, size)
    })
}

/// The job's collateral, above the offer's 2 AGR: its max pay, 10 AGR, times
/// `(25 % × 4 + 75 %) × 3 / 4 − 1` (`pallet_market::assurance`).
const COLLATERAL: Balance = 10 * AGR * 5 / 16;

/// Bob missed a deadline of job 0: the job's collateral is slashed.
fn timed_out(requeued: bool) -> Event {
    Event::JobTimedOut {
        job: 0,
        worker: BOB,
        slashed: COLLATERAL,
        requeued,
    }
}

#[test]
fn a_verified_job_settles_and_pays_everyone_from_the_escrow() {
    let mut state = matched_job(false);
    let alice_before = TestBalances::account(&state, &ALICE);
    let bob_free = TestBalances::free_balance(&state, &BOB);
    let charlie_free = TestBalances::free_balance(&state, &CHARLIE);
    let (result, events) = commit(&mut state, 5);
    result.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        Begun::get(&state, &0),
        Some(trace().root()),
        "verification was started"
    );
    assert_eq!(Jobs::blob(&state, &OUTPUT).unwrap().refs, 1);

    let (_, events) = step(&mut state, 8, |ext| {
        Jobs::audited(
            ext,
            0,
            AuditOutcome::Passed {
                paid: vec![PaidCheck {
                    verifier: CHARLIE,
                    segment: 3,
                    fuel: 3 * MFUEL / 2,
                }],
                missed: 1,
                refuted: Vec::new(),
            },
        )
    });
    assert_eq!(
        events,
        vec![Event::JobVerified {
            job: 0,
            checks_passed: 1,
            settle_at: 11
        }]
    );
    assert!(
        end_block(&mut state, 10).is_empty(),
        "the challenge window is still open"
    );
    let events = end_block(&mut state, 11);
    let receipt = Receipt {
        fuel: 6 * MFUEL,
        price: AGR / 4,
        paid_worker: 3 * AGR / 2,
        paid_verifiers: FEE,
        refund: escrow() - 3 * AGR / 2 - FEE,
        checks_passed: 1,
        checks_missed: 1,
        settled_at: 11,
        refuted: Vec::new(),
        machine_dependent: Vec::new(),
        dismissed: Vec::new(),
        forfeited: Vec::new(),
    };
    let deposit = Jobs::blob_deposit(1_000);
    assert_eq!(
        events,
        vec![
            Event::JobSettled {
                job: 0,
                receipt: receipt.clone()
            },
            Event::ModelKept {
                job: 0,
                hash: OUTPUT,
                until: 11 + MODEL_RETENTION,
                deposit
            }
        ]
    );
    assert_eq!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::Settled { receipt }
    );
    // The money: worker and verifier paid, the rest back with the buyer, nothing created;
    // the model's deposit moved from Bob to Alice.
    assert_eq!(
        TestBalances::free_balance(&state, &BOB),
        bob_free + 3 * AGR / 2 + deposit
    );
    assert_eq!(
        TestBalances::free_balance(&state, &CHARLIE),
        charlie_free + FEE
    );
    let alice = TestBalances::account(&state, &ALICE);
    assert_eq!(alice.total(), alice_before.total() - 3 * AGR / 2 - FEE);
    assert_eq!(alice.reserved, alice_before.reserved - escrow() + deposit);
    assert_eq!(TestStaking::ledger(&state, &BOB).committed, 0);
    assert_eq!(TestMarket::offer(&state, 0).unwrap().in_flight, 0);
    assert_eq!(pallet_market::CompletedJobs::get(&state, &ALICE), Some(1));
    assert_eq!(Jobs::blob(&state, &MODULE).unwrap().refs, 0);
    // The record stays as long as the model: `job result` reads the model's hash from it.
    end_block(&mut state, 11 + <Test as Config>::JOB_RETENTION);
    assert!(Jobs::job(&state, 0).is_some());
}

/// Issue 17: a dispute the referee set aside (the buyer's module is machine-dependent there)
/// is on the receipt, and whoever had the referee run is repaid its fee out of the escrow:
/// the worker and the verifier lose no money to the buyer's module. A job that ends otherwise
/// drops its findings (and its dismissed challenges).
#[test]
fn a_set_aside_dispute_is_on_the_receipt_and_its_referee_call_is_paid_by_the_escrow() {
    let mut state = matched_job(false);
    let alice_before = TestBalances::account(&state, &ALICE);
    let bob_free = TestBalances::free_balance(&state, &BOB);
    commit(&mut state, 5).0.unwrap();
    let finding = MachineDependence {
        segment: 2,
        challenger: CHARLIE,
        open: false,
        decided: Decision::RefereeStep { step: 0 },
        repay: vec![(BOB, AGR / 10)],
        replayed: 2 * MFUEL,
    };
    let charlie_free = TestBalances::free_balance(&state, &CHARLIE);
    step(&mut state, 7, |ext| {
        Jobs::note_machine_dependent(ext, 0, finding.clone());
        Jobs::audited(
            ext,
            0,
            AuditOutcome::Passed {
                paid: Vec::new(),
                missed: 0,
                refuted: Vec::new(),
            },
        );
    });
    assert!(MachineDependentFindings::get(&state, &0).is_some());
    end_block(&mut state, 10);
    let JobStatus::Settled { receipt } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not settled");
    };
    assert_eq!(receipt.machine_dependent, vec![finding]);
    let deposit = Jobs::blob_deposit(1_000);
    assert_eq!(
        TestBalances::free_balance(&state, &BOB),
        bob_free + receipt.paid_worker + AGR / 10 + deposit,
        "paid for its fuel and repaid the referee call"
    );
    // Charlie's replay is on the receipt, and not paid: nothing shows he made it.
    assert_eq!(TestBalances::free_balance(&state, &CHARLIE), charlie_free);
    let alice = TestBalances::account(&state, &ALICE);
    assert_eq!(
        alice.total(),
        alice_before.total() - receipt.paid_worker - AGR / 10
    );
    assert_eq!(receipt.refund, escrow() - receipt.paid_worker - AGR / 10);
    assert_eq!(MachineDependentFindings::get(&state, &0), None);

    // A job that times out instead keeps nothing for a receipt it will not have.
    let mut state = matched_job(false);
    step(&mut state, 3, |ext| {
        Jobs::note_machine_dependent(
            ext,
            0,
            MachineDependence {
                segment: 0,
                challenger: CHARLIE,
                open: true,
                decided: Decision::RefereeSegment,
                repay: vec![(CHARLIE, 1)],
                replayed: 0,
            },
        );
        Jobs::note_dismissed(
            ext,
            0,
            Dismissal {
                segment: 1,
                challenger: CHARLIE,
                decided: Decision::RefereeOutput,
                reason: Undecided::OutOfFuel,
                repaid: Vec::new(),
                burned: 0,
            },
        );
    });
    assert!(DismissedChallenges::get(&state, &0).is_some());
    for block in 4..=40 {
        end_block(&mut state, block);
    }
    assert!(matches!(
        Jobs::job(&state, 0).map(|j| j.status),
        Some(JobStatus::TimedOut { .. }) | None
    ));
    assert_eq!(MachineDependentFindings::get(&state, &0), None);
    assert_eq!(DismissedChallenges::get(&state, &0), None);
}

/// Invariant 4: a dismissal kept for a job that has ended (or never was) is caught.
#[test]
fn invariant_checker_catches_findings_that_outlive_their_job() {
    let mut state = matched_job(false);
    let dismissal = Dismissal {
        segment: 0,
        challenger: CHARLIE,
        decided: Decision::RefereeOutput,
        reason: Undecided::Unestablished,
        repaid: Vec::new(),
        burned: 0,
    };
    pallet_support::mock::apply(&mut state, |ext| {
        DismissedChallenges::insert(ext, &7, &vec![dismissal.clone()])
    });
    let broken = Jobs::try_state(&state).unwrap_err();
    assert!(broken.contains("job 7 has ended"), "{broken}");
    let mut state = matched_job(false);
    pallet_support::mock::apply(&mut state, |ext| {
        DismissedChallenges::insert(ext, &0, &vec![dismissal; MAX_FINDINGS + 1])
    });
    let broken = Jobs::try_state(&state).unwrap_err();
    assert!(broken.contains("keeps 9 dismissed challenges"), "{broken}");
}

/// A declaration outliving its job's `Assigned` (a job committed or ended without dropping it)
/// would make a later job under the same id — a requeued bid's — provable from block one.
#[test]
fn invariant_checker_catches_a_declaration_on_a_job_not_assigned() {
    let declaration = Declaration {
        opens_at: 4,
        decide_by: 7,
        fee: 0,
    };
    let mut state = matched_job(false);
    pallet_support::mock::apply(&mut state, |ext| {
        Declarations::insert(ext, &9, &declaration)
    });
    let broken = Jobs::try_state(&state).unwrap_err();
    assert!(
        broken.contains("job 9's unrunnable declaration"),
        "{broken}"
    );
    let mut state = matched_job(false);
    commit(&mut state, 3).0.unwrap();
    pallet_support::mock::apply(&mut state, |ext| {
        Declarations::insert(ext, &0, &declaration)
    });
    assert!(Jobs::try_state(&state).is_err());
}

/// Forfeitures a step of the verification pallet settles together are noted in one call: the
/// list is read and written once, entries of one run add up (within the call and with what
/// is kept), and the bound holds. Noted one at a time, a deadline 1,024 runs missed together
/// rewrote the growing list 1,024 times in one block.
#[test]
fn forfeitures_settled_together_are_noted_at_once_and_runs_add_up() {
    let mut state = matched_job(false);
    let run = |verifier, missed: &[u64], burned| Forfeiture {
        verifier,
        missed: missed.to_vec(),
        wrong: Vec::new(),
        burned,
    };
    pallet_support::mock::apply(&mut state, |ext| {
        Jobs::note_forfeited(ext, 0, None);
        Jobs::note_forfeited(ext, 0, Some(run(ALICE, &[1], 5)));
        Jobs::note_forfeited(
            ext,
            0,
            [
                run(CHARLIE, &[2], 1),
                run(ALICE, &[1], 2),
                run(ALICE, &[3], 4),
                run(CHARLIE, &[2], 1),
            ],
        );
    });
    assert_eq!(
        ForfeitedRuns::get(&state, &0).unwrap(),
        [
            run(ALICE, &[1], 7),
            run(CHARLIE, &[2], 2),
            run(ALICE, &[3], 4)
        ]
    );
    check_all(&state);
    let many = (0..MAX_FORFEITURES as u64 + 5).map(|segment| run(BOB, &[segment], 1));
    pallet_support::mock::apply(&mut state, |ext| Jobs::note_forfeited(ext, 0, many));
    assert_eq!(
        ForfeitedRuns::get(&state, &0).unwrap().len(),
        MAX_FORFEITURES
    );
    check_all(&state);
}

const MODEL_RETENTION: BlockNumber = <Test as Config>::MODEL_RETENTION;

/// [`a_verified_job_settles_and_pays_everyone_from_the_escrow`]'s job, settled at block 11.
fn settled_job() -> State {
    settled_job_under(None)
}

/// [`settled_job`] on a chain whose genesis sets the blob `lifetimes`.
fn settled_job_under(lifetimes: Option<BlobLifetimes>) -> State {
    let mut state = matched_job_with(terms(false), lifetimes);
    commit(&mut state, 5).0.unwrap();
    step(&mut state, 8, |ext| {
        Jobs::audited(
            ext,
            0,
            AuditOutcome::Passed {
                paid: Vec::new(),
                missed: 0,
                refuted: Vec::new(),
            },
        )
    });
    end_block(&mut state, 11);
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::Settled { .. }
    ));
    state
}

/// Item 1 of issue 15: at settlement the model lost its last reference and expired with the
/// registry's `BLOB_TTL` (the runtime's 14,400 blocks, four hours), after which `job result`
/// failed while `job status` still showed the job. Now the buyer holds the registration and
/// the model and its record outlive the registry's lifetime, for `MODEL_RETENTION`; then both
/// go and the buyer's deposit comes back.
#[test]
fn a_settled_jobs_model_outlives_the_blob_lifetime_until_the_model_retention_ends() {
    let mut state = settled_job();
    let deposit = Jobs::blob_deposit(1_000);
    let info = Jobs::blob(&state, &OUTPUT).unwrap();
    assert_eq!((info.owner, info.refs), (ALICE, 0));
    assert_eq!(info.expires_at, 11 + MODEL_RETENTION);
    assert!(MODEL_RETENTION > <Test as Config>::BLOB_TTL);
    // Past the registry's lifetime from the registration (block 1) and from the settlement.
    for block in 12..=11 + <Test as Config>::BLOB_TTL + 1 {
        end_block(&mut state, block);
    }
    assert!(Jobs::blob(&state, &OUTPUT).is_some(), "still kept");
    assert!(Jobs::job(&state, 0).is_some(), "and its record");
    assert_eq!(
        Jobs::blob(&state, &MODULE),
        None,
        "the module went with the lifetime"
    );
    let alice_reserved = TestBalances::account(&state, &ALICE).reserved;
    let events = end_block(&mut state, 11 + MODEL_RETENTION);
    assert_eq!(events, vec![Event::BlobExpired { hash: OUTPUT }]);
    assert_eq!(Jobs::blob(&state, &OUTPUT), None);
    assert_eq!(Jobs::job(&state, 0), None, "pruned with its model");
    assert_eq!(
        TestBalances::account(&state, &ALICE).reserved,
        alice_reserved - deposit,
        "the buyer's deposit returned"
    );
    assert_eq!(BlobBytesOf::get(&state, &ALICE), None);
}

/// The committed final state is what an output challenge's referee exports and evaluates, so it
/// must outlive the job's challenges as the model does: the commitment holds a reference to it
/// until the job ends. Before, only the model was held, and a final state registered at
/// commitment expired `blob_ttl` later however long a dispute kept the job open (every node
/// then refused the referee call, and the honest worker lost on the timeout).
#[test]
fn the_final_state_is_kept_while_the_job_lives_and_released_when_it_ends() {
    let final_state = commitment().final_state;
    let lifetimes = BlobLifetimes {
        blob_ttl: 12,
        model_retention: 40,
    };
    let mut state = matched_job_with(terms(false), Some(lifetimes));
    commit(&mut state, 5).0.unwrap();
    assert_eq!(Jobs::blob(&state, &final_state).unwrap().refs, 1);
    // Registered at block 1: due at 14 (two fall due a block, after the module and dataset),
    // renewed while the job is open.
    end_block(&mut state, 14);
    assert!(
        Jobs::blob(&state, &final_state).is_some(),
        "kept past its TTL"
    );
    let (_, events) = step(&mut state, 16, |ext| {
        Jobs::audited(ext, 0, AuditOutcome::WorkerFault)
    });
    assert_eq!(events, vec![timed_out(false)]);
    assert_eq!(
        Jobs::blob(&state, &final_state).unwrap().refs,
        0,
        "released"
    );
}

/// A chain spec may set the registry's lifetimes (test chains do, to see in seconds what
/// takes hours on a real one): the genesis's `blob_ttl` and `model_retention` replace the
/// `Config`'s for every registration, renewal and settlement.
#[test]
fn the_genesis_lifetimes_replace_the_configs() {
    let lifetimes = BlobLifetimes {
        blob_ttl: 12,
        model_retention: 40,
    };
    assert_ne!(lifetimes.blob_ttl, <Test as Config>::BLOB_TTL);
    assert_ne!(lifetimes.model_retention, MODEL_RETENTION);
    let mut state = settled_job_under(Some(lifetimes));
    assert_eq!(Jobs::lifetimes(&state), lifetimes);
    assert_eq!(Jobs::blob(&state, &OUTPUT).unwrap().expires_at, 11 + 40);
    // Registered at block 1, the module and the dataset lose their last reference at the
    // settlement (block 11) and expire at 1 + 12, not at the Config's 1 + 20.
    assert_eq!(Jobs::blob(&state, &MODULE).unwrap().expires_at, 13);
    let events = end_block(&mut state, 12);
    assert!(events.is_empty(), "{events:?}");
    let events = end_block(&mut state, 13);
    assert_eq!(
        events,
        vec![
            Event::BlobExpired { hash: MODULE },
            Event::BlobExpired { hash: DATASET }
        ]
    );
    let events = end_block(&mut state, 11 + 40);
    assert_eq!(events, vec![Event::BlobExpired { hash: OUTPUT }]);
    assert_eq!(Jobs::job(&state, 0), None, "pruned with its model");
    // A chain that sets nothing keeps the Config's, and its genesis writes nothing.
    let plain = settled_job();
    assert_eq!(
        Jobs::lifetimes(&plain),
        BlobLifetimes {
            blob_ttl: <Test as Config>::BLOB_TTL,
            model_retention: MODEL_RETENTION,
        }
    );
    assert_eq!(Lifetimes::get(&plain), None);
}

/// The buyer who has fetched its model releases it: dropped at the end of the next block,
/// the deposit returned, the record pruned `JOB_RETENTION` after the job's end; nobody else
/// may release it, and it cannot be released twice.
#[test]
fn the_buyer_releases_its_model_early_and_gets_the_deposit_back() {
    let mut state = settled_job();
    let alice_reserved = TestBalances::account(&state, &ALICE).reserved;
    let (result, _) = step(&mut state, 12, |ext| Jobs::release_model(ext, &BOB, 0));
    assert_eq!(result, Err(error(Error::NotJobBuyer)));
    let (result, events) = step(&mut state, 12, |ext| Jobs::release_model(ext, &ALICE, 0));
    result.unwrap();
    assert_eq!(
        events,
        vec![Event::ModelReleased {
            job: 0,
            hash: OUTPUT
        }]
    );
    let (result, _) = step(&mut state, 12, |ext| Jobs::release_model(ext, &ALICE, 0));
    assert_eq!(result, Err(error(Error::NoModelKept)), "already released");
    assert_eq!(
        end_block(&mut state, 13),
        vec![Event::BlobExpired { hash: OUTPUT }]
    );
    assert_eq!(
        TestBalances::account(&state, &ALICE).reserved,
        alice_reserved - Jobs::blob_deposit(1_000)
    );
    end_block(&mut state, 11 + <Test as Config>::JOB_RETENTION);
    assert_eq!(
        Jobs::job(&state, 0),
        None,
        "pruned at the ordinary retention"
    );
    let (result, _) = step(&mut state, 20, |ext| Jobs::release_model(ext, &ALICE, 0));
    assert_eq!(result, Err(error(Error::UnknownJob)));
}

#[test]
fn a_missed_commit_deadline_slashes_the_collateral_and_refunds() {
    let mut state = matched_job(false);
    let issuance = TestBalances::total_issuance(&state);
    let alice_before = TestBalances::account(&state, &ALICE);
    assert!(end_block(&mut state, 6).is_empty());
    let events = end_block(&mut state, 7);
    assert_eq!(events, vec![timed_out(false)]);
    assert_eq!(TestBalances::total_issuance(&state), issuance - COLLATERAL);
    let alice = TestBalances::account(&state, &ALICE);
    assert_eq!(alice.free, alice_before.free + escrow());
    assert_eq!(
        TestStaking::ledger(&state, &BOB).active,
        20 * AGR - COLLATERAL
    );
    // Too late now.
    let (result, _) = commit(&mut state, 8);
    assert_eq!(result, Err(error(Error::NotAssigned)));
}

#[test]
fn a_missed_deadline_requeues_the_bid_when_asked() {
    let mut state = matched_job(true);
    let reserved = TestBalances::reserved_balance(&state, &ALICE);
    let events = end_block(&mut state, 7);
    // Requeued, then matched again in the same block's... next clearing.
    assert_eq!(events, vec![timed_out(true)]);
    assert_eq!(TestBalances::reserved_balance(&state, &ALICE), reserved);
    assert_eq!(TestMarket::open_bids(&state), vec![0]);
    assert_eq!(Jobs::job(&state, 0), None);
    let events = end_block(&mut state, 8);
    assert_eq!(
        events,
        vec![Event::JobAssigned {
            job: 0,
            worker: BOB,
            commit_by: 13
        }]
    );
}

/// Alice asks to cancel job 0 in block `at`; the events.
/// A requeue the market refuses — the bid could no longer meet its deadline after another
/// run — ends the job as if the buyer had not asked for one: the collateral slashed, the
/// escrow refunded, the job kept with `requeued: false`, and no bid in the book.
#[test]
fn a_requeue_the_market_refuses_refunds_the_escrow_instead() {
    // Matched at block 2, due at 7; another run of 5 blocks from block 8 ends past 12.
    let mut state = matched_job_with(
        BidTerms {
            deadline: 12,
            ..terms(true)
        },
        None,
    );
    let alice_before = TestBalances::account(&state, &ALICE);
    let events = end_block(&mut state, 7);
    assert_eq!(events, vec![timed_out(false)]);
    assert!(TestMarket::open_bids(&state).is_empty());
    assert!(matches!(
        Jobs::job(&state, 0).unwrap().status,
        JobStatus::TimedOut {
            requeued: false,
            ..
        }
    ));
    let alice = TestBalances::account(&state, &ALICE);
    assert_eq!(alice.free, alice_before.free + escrow());
    assert_eq!(
        TestStaking::ledger(&state, &BOB).active,
        20 * AGR - COLLATERAL
    );
    // Nothing is matched again: the bid is gone.
    assert!(end_block(&mut state, 8).is_empty());
}

fn request_cancel(state: &mut State, at: BlockNumber) -> Vec<Event> {
    let (result, events) = step(state, at, |ext| Jobs::cancel_job(ext, &ALICE, 0));
    result.unwrap();
    events
}

/// Block `at` ends job 0 cancelled with Bob (who held `bob_free` before) paid `fee` and the
/// rest of the escrow refunded.
fn assert_cancelled_at(state: &mut State, at: BlockNumber, fee: Balance, bob_free: Balance) {
    assert_eq!(
        end_block(state, at),
        vec![Event::JobCancelled {
            job: 0,
            fee,
            refund: escrow() - fee
        }]
    );
    assert_eq!(TestBalances::free_balance(state, &BOB), bob_free + fee);
    assert_eq!(TestStaking::ledger(state, &BOB).committed, 0);
}

#[test]
fn the_buyer_may_cancel_before_the_commitment_for_a_fee_after_the_notice() {
    let mut state = matched_job(false);
    let bob_free = TestBalances::free_balance(&state, &BOB);
    let (result, _) = step(&mut state, 3, |ext| Jobs::cancel_job(ext, &BOB, 0));
    assert_eq!(result, Err(error(Error::NotJobBuyer)));
    assert_eq!(
        request_cancel(&mut state, 3),
        vec![Event::JobCancelRequested {
            job: 0,
            effective_at: 5
        }]
    );
    // One request is enough; the job runs on through the notice.
    let (result, _) = step(&mut state, 4, |ext| Jobs::cancel_job(ext, &ALICE, 0));
    assert_eq!(result, Err(error(Error::CannotCancel)));
    assert!(end_block(&mut state, 4).is_empty());
    assert_eq!(Jobs::job(&state, 0).unwrap().status, JobStatus::Assigned);
    // Matched at 2 with commit_by 7, cancelled at the end of 5: three fifths of the run time
    // held, of the max payment (10 Mfuel × 0.25 AGR).
    assert_cancelled_at(&mut state, 5, 3 * (10 * AGR / 4) / 5, bob_free);
    // Exploit 4 of the incentives issue: a cancelled job used to leave the buyer a newcomer,
    // so match-and-cancel kept the newcomer pool's priority for ever; it counts now.
    assert_eq!(pallet_market::CompletedJobs::get(&state, &ALICE), Some(1));
    let (result, _) = step(&mut state, 6, |ext| Jobs::cancel_job(ext, &ALICE, 0));
    assert_eq!(result, Err(error(Error::CannotCancel)));
}

/// Exploit 7 of the incentives issue (the cancel race): the worker registers and uploads its
/// model before its commitment lands, so a buyer watching the blob registry could fetch the
/// model and cancel in that gap, paying the cancel fee for it. The cancellation waits out a
/// notice instead, and a result committed within it voids the cancellation: the job settles in
/// full.
#[test]
fn exploit_a_buyer_cannot_cancel_between_the_model_upload_and_the_commitment() {
    let mut state = matched_job(false);
    let bob_free = TestBalances::free_balance(&state, &BOB);
    // Bob's model (OUTPUT) is registered and its bytes are out; Alice cancels at once.
    request_cancel(&mut state, 3);
    let (result, _) = commit(&mut state, 4);
    result.unwrap();
    assert!(
        end_block(&mut state, 5).is_empty(),
        "the cancellation lapsed"
    );
    let job = Jobs::job(&state, 0).unwrap();
    assert_eq!(job.status, JobStatus::Committed { at: 4 });
    assert_eq!(TestBalances::free_balance(&state, &BOB), bob_free);
    assert_eq!(TestStaking::ledger(&state, &BOB).committed, COLLATERAL);
}

/// Griefing buyers (found by the simulation, `docs/economics.md`): a cancellation used to pay
/// the worker a flat tenth of the max payment whenever it came, so a buyer could let a worker
/// run most of a job and cancel it, leaving the worker most of the job's compute out of
/// pocket for a tenth of the price. It pays the share of the granted run time held instead.
#[test]
fn exploit_a_late_cancellation_pays_the_worker_for_the_run_time_it_held() {
    let mut state = matched_job(false);
    let bob_free = TestBalances::free_balance(&state, &BOB);
    // Matched at 2, commit_by 7; asked at 4, the notice (2) ends at 6: four fifths held.
    request_cancel(&mut state, 4);
    assert!(end_block(&mut state, 5).is_empty());
    let max_payment = 10 * AGR / 4;
    assert_cancelled_at(&mut state, 6, 4 * max_payment / 5, bob_free);
}

/// A cancellation whose notice would run past the commit deadline ends at the deadline, with
/// the whole run time paid for; before, the deadline came first and timed the job out,
/// slashing a worker that had stopped on the buyer's word.
#[test]
fn a_cancellation_in_the_last_blocks_ends_at_the_deadline_without_a_slash() {
    let mut state = matched_job(false);
    let bob_free = TestBalances::free_balance(&state, &BOB);
    assert_eq!(
        request_cancel(&mut state, 6),
        vec![Event::JobCancelRequested {
            job: 0,
            effective_at: 7
        }]
    );
    assert_cancelled_at(&mut state, 7, 10 * AGR / 4, bob_free);
    assert_eq!(
        TestStaking::ledger(&state, &BOB).active,
        20 * AGR,
        "nothing slashed"
    );
}

/// A stand-in for the node's engine: its verdict on `init` and segment 0 as one call, asked
/// with the fuel `.1`. Asked for anything else — a single step, as before spec version 18 —
/// it panics.
struct Verdict(agora_primitives::referee::RefereeVerdict, u64);

impl agora_primitives::referee::Referee for Verdict {
    fn run(
        &self,
        request: &agora_primitives::referee::RefereeRequest,
    ) -> Result<agora_primitives::referee::RefereeVerdict, agora_primitives::referee::RefereeError>
    {
        use agora_primitives::referee::RefereeTask;
        assert_eq!(
            (request.module, request.dataset, request.seed),
            (spec().module, spec().dataset, spec().seed)
        );
        let steps = u32::try_from(spec().steps_in(0)).unwrap();
        match request.task {
            RefereeTask::Segment {
                start: None,
                steps: s,
            } if s == steps => {
                // The segment bound (100 Mfuel), cut to the bid's max_fuel: the fuel the
                // worker's engine gave segment 0.
                assert_eq!(request.fuel_limit, self.1);
                Ok(self.0)
            }
            ref other => panic!("not a proof of unrunnable inputs: {other:?}"),
        }
    }

    fn holds(&self, _: &Hash) -> bool {
        true
    }
}

/// Bob declares job 0 (a bid of 10 Mfuel) unrunnable in block 3, and proves it once the proof
/// opens, the referee's verdict on `init` and segment 0 being `segment_zero`; returns the
/// proof's result and events.
fn declare_unrunnable(
    state: &mut State,
    segment_zero: agora_primitives::referee::RefereeVerdict,
) -> (DispatchResult, Vec<Event>) {
    declare_unrunnable_within(state, segment_zero, 10_000_000)
}

/// [`declare_unrunnable`] for a job whose segment 0 gets `fuel`.
fn declare_unrunnable_within(
    state: &mut State,
    segment_zero: agora_primitives::referee::RefereeVerdict,
    fuel: u64,
) -> (DispatchResult, Vec<Event>) {
    let declaration = declare(state, 3);
    prove(state, declaration.opens_at, segment_zero, fuel)
}

/// Bob declares job 0 unrunnable in block `number`, on a node without an engine (the
/// declaration runs nothing), and it is recorded with its event; its fee, 2 lead blocks at
/// the mock's 0.01 AGR, is burned from Bob's free balance.
fn declare(state: &mut State, number: BlockNumber) -> Declaration {
    let (free, issuance) = (
        TestBalances::free_balance(state, &BOB),
        TestBalances::total_issuance(state),
    );
    let (result, events) = step(state, number, |ext| Jobs::declare_unrunnable(ext, &BOB, 0));
    result.unwrap();
    let declaration = Jobs::declaration(state, 0).unwrap();
    assert_eq!(
        events,
        vec![Event::UnrunnableDeclared {
            job: 0,
            opens_at: declaration.opens_at,
            decide_by: declaration.decide_by,
            fee: DECLARATION_FEE,
        }]
    );
    assert_eq!(declaration.fee, DECLARATION_FEE);
    assert_eq!(
        (
            TestBalances::free_balance(state, &BOB),
            TestBalances::total_issuance(state)
        ),
        (free - DECLARATION_FEE, issuance - DECLARATION_FEE),
        "burned"
    );
    declaration
}

/// What a declaration on job 0 burns in the mock: `init`'s bound (100 Mfuel) and segment 0's
/// (at most the bid's 10 Mfuel) decided at 100 Mfuel a block, 2 lead blocks at 0.01 AGR.
const DECLARATION_FEE: Balance = 2 * AGR / 100;

/// Bob proves job 0's declaration in block `number`, the referee's verdict on `init` and
/// segment 0 (asked with `fuel`) being `segment_zero`.
fn prove(
    state: &mut State,
    number: BlockNumber,
    segment_zero: agora_primitives::referee::RefereeVerdict,
    fuel: u64,
) -> (DispatchResult, Vec<Event>) {
    step(state, number, |ext| {
        ext.set_referee(Some(std::sync::Arc::new(Verdict(segment_zero, fuel))));
        Jobs::prove_unrunnable(ext, &BOB, 0)
    })
}

/// Item 6 of issue 10: inputs the module refuses anywhere in segment 0, a segment 0 over the
/// segment bound, or one machine-dependent from `init`, are the buyer's fault. The worker
/// proves it through the referee; the buyer pays the cancellation fee and the worker's
/// collateral is released, not slashed.
#[test]
fn inputs_the_module_refuses_end_the_job_with_the_buyer_paying_the_cancel_fee() {
    use agora_primitives::referee::RefereeVerdict;
    for verdicts in [
        RefereeVerdict::Refused,
        RefereeVerdict::OutOfFuel,
        RefereeVerdict::MachineDependent,
    ] {
        let mut state = matched_job(false);
        let bob_free = TestBalances::free_balance(&state, &BOB);
        let issuance = TestBalances::total_issuance(&state);
        let (result, events) = declare_unrunnable(&mut state, verdicts);
        result.unwrap();
        // 10% of the max payment, as a cancellation, and the declaration's fee back.
        let fee = AGR / 4 + DECLARATION_FEE;
        assert_eq!(
            events,
            vec![Event::JobUnrunnable {
                job: 0,
                fee,
                refund: escrow() - fee
            }]
        );
        assert_eq!(
            TestBalances::free_balance(&state, &BOB),
            bob_free + AGR / 4,
            "the declaration's fee repaid"
        );
        assert_eq!(
            TestStaking::ledger(&state, &BOB).committed,
            0,
            "not slashed"
        );
        // The fee stays burned: the buyer, whose inputs they were, paid for the re-run.
        assert_eq!(
            TestBalances::total_issuance(&state),
            issuance - DECLARATION_FEE
        );
        assert!(Jobs::job(&state, 0).unwrap().status.is_final());
    }
}

/// A bid for next to nothing (1 fuel) cannot run, and its worker must answer it: before, the
/// cancellation fee (10 % of ~nothing) was all the worker got for a `declare_unrunnable` whose
/// own fee is ~1 AGR on the runtime, and 256 such bids a block took every match slot at the
/// workers' expense. The bid escrows at least `MIN_BID_ESCROW`, and a job whose inputs cannot
/// run pays its worker at least that.
#[test]
fn an_unrunnable_dust_job_pays_its_worker_at_least_the_declarations_fee() {
    use agora_primitives::referee::RefereeVerdict;
    let floor = <Test as pallet_market::Config>::MIN_BID_ESCROW;
    let dust = BidTerms {
        max_fuel: 1,
        ..terms(false)
    };
    let mut state = matched_job_with(dust, None);
    let bob_free = TestBalances::free_balance(&state, &BOB);
    // Segment 0 gets the bid's 1 fuel.
    let (result, events) = declare_unrunnable_within(&mut state, RefereeVerdict::OutOfFuel, 1);
    result.unwrap();
    assert_eq!(
        events,
        vec![Event::JobUnrunnable {
            job: 0,
            fee: floor,
            refund: 0
        }]
    );
    // The floor is the calls' weight fees and the largest declaration fee; this declaration
    // burned the largest (a 1-fuel segment 0 still leads by `init`'s bound and a block).
    assert_eq!(Jobs::max_declaration_fee(), DECLARATION_FEE);
    assert_eq!(
        TestBalances::free_balance(&state, &BOB),
        bob_free + floor - DECLARATION_FEE
    );
}

#[test]
fn a_runnable_job_cannot_be_proved_unrunnable_and_nothing_changes() {
    use agora_primitives::referee::RefereeVerdict;
    let mut state = matched_job(false);
    let segmented = RefereeVerdict::Segmented {
        post_state: Hash([2; 32]),
        fuel: 5,
    };
    // Segment 0 runs: whatever its first step costs alone (the referee is not asked; before
    // spec version 18 a first step over the referee's fuel for one step was proof enough, and
    // a worker could collect the cancellation fee for a job it could run).
    let (result, events) = declare_unrunnable(&mut state, segmented);
    assert_eq!(result, Err(error(Error::JobRuns)));
    assert!(events.is_empty());
    assert_eq!(Jobs::job(&state, 0).unwrap().status, JobStatus::Assigned);
    // Not the worker; a node without an engine decides nothing (the proof opened at 5).
    let (result, _) = step(&mut state, 5, |ext| Jobs::prove_unrunnable(ext, &ALICE, 0));
    assert_eq!(result, Err(error(Error::NotJobWorker)));
    let (result, _) = step(&mut state, 5, |ext| Jobs::prove_unrunnable(ext, &BOB, 0));
    assert_eq!(result, Err(error(Error::RefereeUndecided)));
    // Once committed, it ran, and the declaration is gone with its `Assigned`.
    commit(&mut state, 6).0.unwrap();
    assert_eq!(Jobs::declaration(&state, 0), None);
    let (result, _) = prove(&mut state, 6, RefereeVerdict::Refused, 10_000_000);
    assert_eq!(result, Err(error(Error::NotAssigned)));
    let (result, _) = step(&mut state, 6, |ext| Jobs::declare_unrunnable(ext, &BOB, 0));
    assert_eq!(result, Err(error(Error::NotAssigned)));
}

/// Spec version 19: a declaration ran the referee's re-run of segment 0 (up to
/// `MAX_SEGMENT_FUEL`, ~30 s on the slowest node) inline in the block that carried it, so one
/// call stalled every block builder and importer. Now the declaration runs nothing (here on a
/// node with no engine at all) and the proof opens only after the lead every node needs to
/// decide the whole re-run ahead, `init` within the bound on a call included; a declaration
/// is made once.
#[test]
fn a_declaration_runs_nothing_and_its_proof_waits_for_the_lead() {
    use agora_primitives::referee::RefereeVerdict;
    let mut state = matched_job(false);
    let (result, _) = step(&mut state, 3, |ext| Jobs::prove_unrunnable(ext, &BOB, 0));
    assert_eq!(result, Err(error(Error::NotDeclared)));
    let (result, _) = step(&mut state, 3, |ext| {
        Jobs::declare_unrunnable(ext, &ALICE, 0)
    });
    assert_eq!(result, Err(error(Error::NotJobWorker)));
    let declaration = declare(&mut state, 3);
    // `init` within the bound (100 Mfuel), then segment 0 within the bid's 10 Mfuel; the mock
    // decides 100 Mfuel a block ahead: two blocks of lead (one, sized by the segment alone),
    // then `PROOF_BLOCKS` (4).
    assert_eq!(
        declaration,
        Declaration {
            opens_at: 5,
            decide_by: 9,
            fee: DECLARATION_FEE,
        }
    );
    assert_eq!(RerunQueue::get(&state), Some(5));
    for early in [3, 4] {
        let (result, _) = prove(&mut state, early, RefereeVerdict::Refused, 10_000_000);
        assert_eq!(result, Err(error(Error::ProofNotOpen)), "block {early}");
    }
    let (result, _) = step(&mut state, 4, |ext| Jobs::declare_unrunnable(ext, &BOB, 0));
    assert_eq!(result, Err(error(Error::AlreadyDeclared)));
    // The window closes: a proof after it is refused (the deadline, 7, times the job out).
    let (result, _) = prove(&mut state, 10, RefereeVerdict::Refused, 10_000_000);
    assert_eq!(result, Err(error(Error::DeadlinePassed)));
}

/// Found in review of spec version 19 (the proof queue's depth): a declaration pushes every
/// later proof back by its lead, and a worker could declare on a job it then ran and committed
/// for nothing but the call's fee (~1 AGR on the runtime, for up to 91 blocks of every node's
/// warmer and of delay to every honest proof behind it). Since spec version 20 it burns a fee
/// for every block of its lead, kept when the job is committed after all; a worker whose free
/// balance does not cover it is refused with nothing written.
#[test]
fn a_declaration_burns_a_fee_for_every_block_it_pushes_the_proof_queue_back() {
    use agora_primitives::referee::RefereeVerdict;
    let mut state = matched_job(false);
    // Bob's free balance one planck short of the fee: refused, nothing written.
    let short = TestBalances::free_balance(&state, &BOB) - (DECLARATION_FEE - 1);
    pallet_support::mock::apply(&mut state, |ext| {
        TestBalances::burn(ext, &BOB, short).unwrap()
    });
    let issuance = TestBalances::total_issuance(&state);
    let (result, events) = step(&mut state, 3, |ext| Jobs::declare_unrunnable(ext, &BOB, 0));
    assert_eq!(result, Err(error(Error::CannotPayDeclaration)));
    assert!(events.is_empty());
    assert_eq!(
        (Jobs::declaration(&state, 0), RerunQueue::get(&state)),
        (None, None)
    );
    assert_eq!(TestBalances::total_issuance(&state), issuance);
    // Topped up, Bob declares; the queue moves by the lead the fee paid for.
    pallet_support::mock::apply(&mut state, |ext| {
        TestBalances::mint(ext, &BOB, AGR).unwrap()
    });
    let declaration = declare(&mut state, 3);
    let pushed_back = declaration.opens_at - 3;
    assert_eq!(
        declaration.fee,
        Balance::from(pushed_back) * <Test as crate::Config>::DECLARATION_FEE_PER_LEAD_BLOCK
    );
    // The job runs after all: the declaration goes with its `Assigned`, its fee burned.
    commit(&mut state, 4).0.unwrap();
    assert_eq!(Jobs::declaration(&state, 0), None);
    let (result, _) = prove(&mut state, 5, RefereeVerdict::Refused, 10_000_000);
    assert_eq!(result, Err(error(Error::NotAssigned)));
}

/// Found in review of spec version 20: a cancellation's notice (2 blocks here, 10 on the
/// runtime) always ends before a proof opens (46 blocks at least on the runtime), so a buyer
/// whose inputs cannot run could cancel on seeing the declaration — paying the held share,
/// ~nothing for a small job — and leave its worker the burned fee. A pending declaration now
/// holds cancellations back until its window has passed, and a pending cancellation takes no
/// declaration (it ends the job and pays for the time held; the fee would burn for nothing).
#[test]
fn a_pending_declaration_holds_the_buyers_cancellation_back_until_its_window_passed() {
    use agora_primitives::referee::RefereeVerdict;
    let long = BidTerms {
        run_blocks: 30,
        ..terms(false)
    };
    let mut state = matched_job_with(long.clone(), None);
    let declaration = declare(&mut state, 3);
    for blocked in [4, declaration.decide_by] {
        let (result, _) = step(&mut state, blocked, |ext| Jobs::cancel_job(ext, &ALICE, 0));
        assert_eq!(
            result,
            Err(error(Error::DeclarationPending)),
            "block {blocked}"
        );
    }
    // The window passed unproved: the buyer may cancel, and then the worker may not declare.
    let after = declaration.decide_by + 1;
    let (result, _) = step(&mut state, after, |ext| Jobs::cancel_job(ext, &ALICE, 0));
    result.unwrap();
    let free = TestBalances::free_balance(&state, &BOB);
    let (result, _) = step(&mut state, after + 1, |ext| {
        Jobs::declare_unrunnable(ext, &BOB, 0)
    });
    assert_eq!(result, Err(error(Error::CancelPending)));
    assert_eq!(
        TestBalances::free_balance(&state, &BOB),
        free,
        "nothing burned"
    );
    // Proved in its window, the job ends unrunnable with the fee repaid, as if never cancelled.
    let mut state = matched_job_with(long, None);
    let declaration = declare(&mut state, 3);
    let (result, _) = step(&mut state, 4, |ext| Jobs::cancel_job(ext, &ALICE, 0));
    assert_eq!(result, Err(error(Error::DeclarationPending)));
    let (result, events) = prove(
        &mut state,
        declaration.opens_at,
        RefereeVerdict::Refused,
        10_000_000,
    );
    result.unwrap();
    assert!(
        matches!(events[..], [Event::JobUnrunnable { fee, .. }] if fee > DECLARATION_FEE),
        "{events:?}"
    );
}

/// A request a call had decided lately takes no place in the re-run queue: every node that was
/// up keeps its verdict, and asking it again (an output re-challenged after the referee could
/// not decide it) would only push every later re-run back (found in review of spec version
/// 21). It still waits its own lead, for a node that restarted since. Listed for
/// `DECIDED_RERUN_BLOCKS` from its first decision (asking again does not renew it), at most
/// `MAX_DECIDED_RERUNS` of them, oldest out.
#[test]
fn a_rerun_decided_lately_is_not_queued_again() {
    let mut state = matched_job(false);
    let request = Jobs::unrunnable_request(&Jobs::job(&state, 0).unwrap());
    let lead = Jobs::rerun_lead(&request);
    assert_eq!(lead, 2);
    let at = |state: &mut State, block: BlockNumber, f: &dyn Fn(&mut Ext<'_>) -> BlockNumber| {
        step(state, block, |ext| Ok::<_, ()>(f(ext))).0.unwrap()
    };
    at(&mut state, 5, &|ext| {
        Jobs::note_rerun_decided(ext, &request);
        0
    });
    pallet_support::mock::apply(&mut state, |ext| RerunQueue::put(ext, &50));
    let opens = at(&mut state, 6, &|ext| Jobs::queue_rerun(ext, &request));
    assert_eq!(
        (opens, RerunQueue::get(&state)),
        (6 + lead, Some(50)),
        "not queued"
    );
    // Decided again, the listing keeps its first block: it is not kept alive by asking.
    at(&mut state, 100, &|ext| {
        Jobs::note_rerun_decided(ext, &request);
        0
    });
    assert_eq!(DecidedReruns::get(&state), Some(vec![(request.hash(), 5)]));
    let last = 5 + DECIDED_RERUN_BLOCKS;
    let opens = at(&mut state, last, &|ext| Jobs::queue_rerun(ext, &request));
    assert_eq!((opens, RerunQueue::get(&state)), (last + lead, Some(50)));
    // Past the listing's end it takes its place again.
    let opens = at(&mut state, last + 1, &|ext| {
        Jobs::queue_rerun(ext, &request)
    });
    assert_eq!(opens, last + 1 + lead);
    assert_eq!(RerunQueue::get(&state), Some(last + 1 + lead), "queued");
    // Bounded: the oldest listed request goes first.
    let other = |i: u64| agora_primitives::referee::RefereeRequest {
        seed: request.seed.wrapping_add(1 + i),
        ..request.clone()
    };
    at(&mut state, last + 2, &|ext| {
        Jobs::note_rerun_decided(ext, &request);
        for i in 0..MAX_DECIDED_RERUNS as u64 {
            Jobs::note_rerun_decided(ext, &other(i));
        }
        0
    });
    let listed = DecidedReruns::get(&state).unwrap();
    assert_eq!(listed.len(), MAX_DECIDED_RERUNS);
    assert_eq!(listed[0].0, other(0).hash());
    assert!(
        !Jobs::rerun_decided(&Ext::new(&state), &request),
        "forgotten"
    );
    Jobs::try_state(&state).unwrap();
    // The invariant checker catches a request listed twice.
    pallet_support::mock::apply(&mut state, |ext| {
        let mut listed = DecidedReruns::get(ext).unwrap();
        listed[1] = listed[0];
        DecidedReruns::put(ext, &listed);
    });
    let broken = Jobs::try_state(&state).unwrap_err();
    assert!(broken.contains("decided re-runs"), "{broken}");
}

/// Declarations queue: a proof opens the lead of its own re-run after the previous
/// declaration's proof opened, so every node decides them one after another and a burst of
/// them (a buyer's sybils holding many jobs) pushes back later proofs rather than having them
/// open undecided, re-run inline. A declaration whose window passed unused may be made again,
/// up to the commit deadline.
#[test]
fn declarations_queue_and_one_whose_window_passed_may_be_made_again() {
    // Commit deadline 32.
    let long = BidTerms {
        run_blocks: 30,
        ..terms(false)
    };
    let mut state = matched_job_with(long, None);
    // An earlier declaration (another job's) opens at 20.
    pallet_support::mock::apply(&mut state, |ext| RerunQueue::put(ext, &20));
    let first = declare(&mut state, 3);
    assert_eq!((first.opens_at, first.decide_by), (22, 26));
    assert_eq!(RerunQueue::get(&state), Some(22));
    let (result, _) = step(&mut state, 26, |ext| Jobs::declare_unrunnable(ext, &BOB, 0));
    assert_eq!(
        result,
        Err(error(Error::AlreadyDeclared)),
        "its window is open"
    );
    let again = declare(&mut state, 27);
    assert_eq!((again.opens_at, again.decide_by), (29, 33));
    // Made again, its window outlasts the deadline (32): the timeout waits for it, once, and
    // comes at its end unproved — no third declaration is taken after the deadline.
    assert!(end_block(&mut state, 32).is_empty());
    let (result, _) = step(&mut state, 33, |ext| Jobs::declare_unrunnable(ext, &BOB, 0));
    assert_eq!(result, Err(error(Error::DeadlinePassed)));
    assert_eq!(end_block(&mut state, 33), vec![timed_out(false)]);
}

/// A declaration made at the commit deadline (block 7) has its window run past it (to 13): the
/// job is not timed out at the deadline, so the worker can prove; it cannot commit after the
/// deadline all the same, nor can the buyer cancel (it would pay the whole run time for a late
/// job); and with no proof by the window's end the job times out then, its bid requeued and
/// the declaration gone with the job (a later job under the bid's id starts with none).
#[test]
fn a_declaration_at_the_deadline_holds_the_timeout_for_its_proof() {
    use agora_primitives::referee::RefereeVerdict;
    for proved in [true, false] {
        let mut state = matched_job(!proved);
        let declaration = declare(&mut state, 7);
        assert_eq!((declaration.opens_at, declaration.decide_by), (9, 13));
        assert!(end_block(&mut state, 7).is_empty(), "not timed out at 7");
        assert_eq!(Jobs::job(&state, 0).unwrap().status, JobStatus::Assigned);
        // No result after the deadline: a false declaration buys no time.
        assert_eq!(commit(&mut state, 8).0, Err(error(Error::DeadlinePassed)));
        let (result, _) = step(&mut state, 8, |ext| Jobs::cancel_job(ext, &ALICE, 0));
        assert_eq!(result, Err(error(Error::DeadlinePassed)));
        if proved {
            let (result, events) = prove(&mut state, 10, RefereeVerdict::Refused, 10_000_000);
            result.unwrap();
            assert!(matches!(events[..], [Event::JobUnrunnable { job: 0, .. }]));
            assert!(end_block(&mut state, 13).is_empty());
        } else {
            assert!(end_block(&mut state, 12).is_empty());
            assert_eq!(end_block(&mut state, 13), vec![timed_out(true)]);
            assert!(Jobs::job(&state, 0).is_none(), "requeued");
        }
        assert_eq!(Jobs::declaration(&state, 0), None);
    }
}

#[test]
fn a_committed_job_cannot_be_cancelled() {
    let mut state = matched_job(false);
    commit(&mut state, 3).0.unwrap();
    let (result, _) = step(&mut state, 4, |ext| Jobs::cancel_job(ext, &ALICE, 0));
    assert_eq!(result, Err(error(Error::CannotCancel)));
}

#[test]
fn a_mismatch_refunds_the_buyer_and_slashes_nobody() {
    let mut state = matched_job(false);
    let issuance = TestBalances::total_issuance(&state);
    let alice_free = TestBalances::free_balance(&state, &ALICE);
    commit(&mut state, 3).0.unwrap();
    let (_, events) = step(&mut state, 6, |ext| {
        Jobs::audited(ext, 0, AuditOutcome::Mismatch { segment: 2 })
    });
    assert_eq!(
        events,
        vec![Event::JobDisputed {
            job: 0,
            segment: 2,
            refund: escrow()
        }]
    );
    assert_eq!(
        TestBalances::free_balance(&state, &ALICE),
        alice_free + escrow()
    );
    assert_eq!(TestBalances::total_issuance(&state), issuance);
    assert_eq!(TestStaking::ledger(&state, &BOB).committed, 0);
    assert_eq!(TestStaking::ledger(&state, &BOB).active, 20 * AGR);
    // No settlement follows.
    assert!(end_block(&mut state, 12).is_empty());
}

#[test]
fn a_worker_that_fails_its_reveals_times_out() {
    let mut state = matched_job(false);
    commit(&mut state, 3).0.unwrap();
    let (_, events) = step(&mut state, 6, |ext| {
        Jobs::audited(ext, 0, AuditOutcome::WorkerFault)
    });
    assert_eq!(events, vec![timed_out(false)]);
    assert_eq!(Jobs::blob(&state, &OUTPUT).unwrap().refs, 0);
}

/// Exploit 2 of issue 10: the worker billed whatever it committed as `total_fuel`, up to the
/// bid's `max_fuel`, whatever its trace said. Now the bill must be the trace's last leaf.
#[test]
fn exploit_overbilled_fuel_is_refused() {
    let mut state = matched_job(false);
    step(&mut state, 3, |_| ());
    let before = state.clone();
    let overbilled = [
        // 7 Mfuel billed for a trace whose last leaf says 6 (within max_fuel = 10 Mfuel), with
        // a heaviest segment that would cover it.
        Commitment {
            total_fuel: 7 * MFUEL,
            heaviest_fuel: 2 * MFUEL,
            ..commitment()
        },
        // The whole max_fuel.
        Commitment {
            total_fuel: 10 * MFUEL,
            heaviest_fuel: 5 * MFUEL / 2,
            ..commitment()
        },
        // A final state that is not the last leaf's.
        Commitment {
            final_state: Hash([1; 32]),
            ..commitment()
        },
        // One segment fewer is refused before the proof: the count is the job's.
    ];
    assert_commits_refused(&mut state, &overbilled, Error::FinalLeafNotInTrace);
    assert_eq!(state, before);
    // The proof of another leaf does not stand in for the last one's.
    let (result, _) = step(&mut state, 3, |ext| {
        Jobs::commit_result(ext, &BOB, 0, commitment(), &trace().prove(2).unwrap())
    });
    assert_eq!(result, Err(error(Error::FinalLeafNotInTrace)));
    // The honest bill goes through.
    commit(&mut state, 3).0.unwrap();
    let job = Jobs::job(&state, 0).unwrap();
    assert_eq!(job.commitment.map(|c| c.total_fuel), Some(6 * MFUEL));
}

/// Hidden overbilling (issue 11): fuel added to a segment no check sees was billed. Now the
/// bill may not exceed the segment count times the heaviest segment's fuel, and that segment is
/// in the trace (the verification pallet checks it and its fuel).
#[test]
fn exploit_a_bill_above_segments_times_the_heaviest_segment_is_refused() {
    let mut state = matched_job(false);
    step(&mut state, 3, |_| ());
    let before = state.clone();
    let bad = [
        // 4 × 1.5 Mfuel = 6 Mfuel of cover for 6.5 Mfuel billed.
        Commitment {
            total_fuel: 13 * MFUEL / 2,
            ..commitment()
        },
        // A heaviest segment the trace does not have.
        Commitment {
            heaviest_segment: 4,
            ..commitment()
        },
    ];
    assert_commits_refused(&mut state, &bad, Error::BillAboveHeaviest);
    assert_eq!(state, before);
    commit(&mut state, 3).0.unwrap();
}

/// Bob commits each of `bad` (with the honest final proof) in block 3: each is refused with
/// `expected`, emits nothing and changes nothing.
fn assert_commits_refused(state: &mut State, bad: &[Commitment], expected: Error) {
    for commitment in bad {
        let before = state.clone();
        let (result, events) = step(state, 3, |ext| {
            Jobs::commit_result(ext, &BOB, 0, commitment.clone(), &final_proof())
        });
        assert_eq!(result, Err(error(expected)), "{commitment:?}");
        assert!(events.is_empty());
        assert_eq!(*state, before);
    }
}

/// The griefing of issue 10's "unrunnable" rule: a module that refuses a segment after the
/// first (a trap, a divergence) left the worker unable to commit, and its collateral was slashed
/// for the buyer's inputs. Now the worker commits the trace up to the refused segment, ending in
/// its refusal leaf, with no model, and is paid for the segments before it.
#[test]
fn a_trace_that_ends_in_a_refusal_commits_without_a_model_and_bills_what_ran() {
    let mut state = matched_job(false);
    step(&mut state, 3, |_| ());
    // Segments 0 and 1 ran (3 Mfuel in all); the module refused segment 2.
    let mut leaves = trace_leaves()[..2].to_vec();
    leaves.push(TraceLeaf::refusal(2, 3 * MFUEL));
    let refused_trace = TraceTree::new(leaves).unwrap();
    let refused = Commitment {
        trace_root: refused_trace.root(),
        segments: 3,
        final_state: Hash::ZERO,
        total_fuel: 3 * MFUEL,
        heaviest_segment: 1,
        heaviest_fuel: 3 * MFUEL / 2,
        output: Hash::ZERO,
        metrics: Vec::new(),
    };
    assert!(refused.ends_in_refusal() && !commitment().ends_in_refusal());
    let proof = refused_trace.prove(2).unwrap();
    let before = state.clone();
    let bad = [
        // A refused trace has no model and no metrics.
        (
            Commitment {
                output: OUTPUT,
                ..refused.clone()
            },
            Error::RefusalWithOutput,
        ),
        (
            Commitment {
                metrics: b"{}".to_vec(),
                ..refused.clone()
            },
            Error::RefusalWithOutput,
        ),
        // Segment 0 refused is declared unrunnable instead; more segments than the job's are
        // never right.
        (
            Commitment {
                segments: 1,
                ..refused.clone()
            },
            Error::WrongSegmentCount,
        ),
        (
            Commitment {
                segments: 5,
                ..refused.clone()
            },
            Error::WrongSegmentCount,
        ),
        // A trace that does not end in a refusal must have every segment of the job.
        (
            Commitment {
                segments: 3,
                ..commitment()
            },
            Error::WrongSegmentCount,
        ),
        // The refusal bills what its trace says: the fuel before the refused segment.
        (
            Commitment {
                total_fuel: 6 * MFUEL,
                heaviest_fuel: 2 * MFUEL,
                ..refused.clone()
            },
            Error::FinalLeafNotInTrace,
        ),
    ];
    for (commitment, expected) in bad {
        let (result, events) = step(&mut state, 3, |ext| {
            Jobs::commit_result(ext, &BOB, 0, commitment.clone(), &proof)
        });
        assert_eq!(result, Err(error(expected)), "{commitment:?}");
        assert!(events.is_empty());
        assert_eq!(state, before);
    }
    let (result, _) = step(&mut state, 3, |ext| {
        Jobs::commit_result(ext, &BOB, 0, refused.clone(), &proof)
    });
    result.unwrap();
    assert_eq!(Begun::get(&state, &0), Some(refused_trace.root()));
    step(&mut state, 5, |ext| {
        Jobs::audited(
            ext,
            0,
            AuditOutcome::Passed {
                paid: vec![PaidCheck {
                    verifier: CHARLIE,
                    segment: 1,
                    fuel: 3 * MFUEL / 2,
                }],
                missed: 0,
                refuted: Vec::new(),
            },
        )
    });
    end_block(&mut state, 8);
    let JobStatus::Settled { receipt } = Jobs::job(&state, 0).unwrap().status else {
        panic!("not settled: {:?}", Jobs::job(&state, 0));
    };
    // 3 Mfuel at 0.25 AGR/Mfuel; the collateral is released, not slashed.
    assert_eq!(
        (receipt.fuel, receipt.paid_worker),
        (3 * MFUEL, 3 * AGR / 4)
    );
    assert_eq!(TestStaking::ledger(&state, &BOB).committed, 0);
}

#[test]
fn bad_commitments_are_refused_and_change_nothing() {
    let mut state = matched_job(false);
    step(&mut state, 3, |_| ());
    let before = state.clone();
    let cases: Vec<(AccountId, JobId, Commitment, Error)> = vec![
        (BOB, 9, commitment(), Error::UnknownJob),
        (CHARLIE, 0, commitment(), Error::NotJobWorker),
        (
            BOB,
            0,
            Commitment {
                segments: 5,
                ..commitment()
            },
            Error::WrongSegmentCount,
        ),
        (
            BOB,
            0,
            Commitment {
                total_fuel: 0,
                ..commitment()
            },
            Error::FuelOutOfRange,
        ),
        (
            BOB,
            0,
            Commitment {
                total_fuel: 10 * MFUEL + 1,
                ..commitment()
            },
            Error::FuelOutOfRange,
        ),
        (
            BOB,
            0,
            Commitment {
                output: Hash([9; 32]),
                ..commitment()
            },
            Error::UnknownOutput,
        ),
        (
            BOB,
            0,
            Commitment {
                metrics: vec![b'x'; 17],
                ..commitment()
            },
            Error::MetricsTooLong,
        ),
    ];
    for (who, job, commitment, expected) in cases {
        let (result, events) = step(&mut state, 3, |ext| {
            Jobs::commit_result(ext, &who, job, commitment, &final_proof())
        });
        assert_eq!(result, Err(error(expected)));
        assert!(events.is_empty());
        assert_eq!(state, before, "{expected:?} changed state");
    }
    // After the deadline.
    step(&mut state, 8, |_| ());
    let (result, _) = commit(&mut state, 8);
    assert_eq!(result, Err(error(Error::DeadlinePassed)));
    // Twice.
    let mut state = matched_job(false);
    commit(&mut state, 3).0.unwrap();
    let (result, _) = commit(&mut state, 4);
    assert_eq!(result, Err(error(Error::AlreadyCommitted)));
}

/// Exploit 1 of issue 10 for the result: registering the model's or the final state's hash is
/// not having the bytes. A node that does not hold either leaves the commitment out (the call
/// is undecided there), so the worker cannot commit a result nobody can fetch or referee.
#[test]
fn exploit_a_result_whose_bytes_were_never_uploaded_cannot_be_committed() {
    for missing in [commitment().output, commitment().final_state] {
        let mut state = matched_job(false);
        let (result, undecided) = step(&mut state, 3, |ext| {
            let host = pallet_support::mock::NoEngine {
                lacks: Some(missing),
            };
            ext.set_referee(Some(std::sync::Arc::new(host)));
            let result = Jobs::commit_result(ext, &BOB, 0, commitment(), &final_proof());
            (result, ext.take_undecided())
        })
        .0;
        assert_eq!(result, Err(error(Error::ResultUnavailable)));
        assert_eq!(
            undecided,
            Some(agora_primitives::referee::RefereeError::Unavailable { blob: missing })
        );
        assert_eq!(Jobs::job(&state, 0).unwrap().status, JobStatus::Assigned);
    }
}

/// A node may still hold the bytes of a blob whose registration expired (its collector deletes
/// them later): holding is not registration. A commitment naming an unregistered final state
/// is refused; before, nothing referenced the state and every node deleted it while an output
/// challenge's referee still needed it (found by the blob-reference invariant).
#[test]
fn a_final_state_whose_registration_expired_cannot_be_committed() {
    let lifetimes = BlobLifetimes {
        blob_ttl: 2,
        model_retention: 40,
    };
    let mut state = matched_job_with(terms(false), Some(lifetimes));
    let final_state = commitment().final_state;
    // Due at block 3 with the module and dataset (which the job keeps), the output and the
    // final state spill into block 4 and expire unreferenced.
    end_block(&mut state, 3);
    end_block(&mut state, 4);
    assert_eq!(Jobs::blob(&state, &final_state), None);
    let no_model = Commitment {
        output: Hash::ZERO,
        metrics: Vec::new(),
        ..commitment()
    };
    step(&mut state, 5, |_| ());
    let before = state.clone();
    let (result, events) = step(&mut state, 5, |ext| {
        Jobs::commit_result(ext, &BOB, 0, no_model.clone(), &final_proof())
    });
    assert_eq!(result, Err(error(Error::UnknownFinalState)));
    assert!(events.is_empty());
    assert_eq!(state, before);
    // Registered again, it is committed and referenced.
    step(&mut state, 5, |ext| {
        Jobs::register_blob_of_known_size(ext, &BOB, final_state, 1_000)?;
        Jobs::commit_result(ext, &BOB, 0, no_model, &final_proof())
    })
    .0
    .unwrap();
    assert_eq!(Jobs::blob(&state, &final_state).unwrap().refs, 1);
}

/// Issue 17: a module that refuses `export` and `eval` on its final state (a trap, a model or
/// metrics over the chain's bounds) leaves its worker no model and no metrics to commit. The
/// run is committed whole without them — the final state must still be held, for the referee
/// of an output dispute — and is billed in full at settlement like any (no model kept).
#[test]
fn a_whole_run_whose_module_refused_its_results_commits_without_a_model() {
    let no_results = Commitment {
        output: Hash::ZERO,
        metrics: Vec::new(),
        ..commitment()
    };
    assert!(!no_results.ends_in_refusal() && !no_results.has_model());
    // The final state is still the worker's to keep available.
    let mut state = matched_job(false);
    let (result, _) = step(&mut state, 3, |ext| {
        let host = pallet_support::mock::NoEngine {
            lacks: Some(commitment().final_state),
        };
        ext.set_referee(Some(std::sync::Arc::new(host)));
        Jobs::commit_result(ext, &BOB, 0, no_results.clone(), &final_proof())
    });
    assert_eq!(result, Err(error(Error::ResultUnavailable)));
    let (result, events) = step(&mut state, 3, |ext| {
        Jobs::commit_result(ext, &BOB, 0, no_results.clone(), &final_proof())
    });
    result.unwrap();
    assert!(events.contains(&Event::ResultCommitted {
        job: 0,
        trace_root: no_results.trace_root,
        total_fuel: no_results.total_fuel,
        output: Hash::ZERO,
    }));
    let job = Jobs::job(&state, 0).unwrap();
    assert_eq!(job.commitment, Some(no_results));
    assert!(matches!(job.status, JobStatus::Committed { at: 3 }));
    assert_eq!(
        crate::Blobs::get(&state, &Hash::ZERO),
        None,
        "no blob is retained for no model"
    );
}

#[test]
fn blobs_cost_a_deposit_and_respect_the_limits() {
    let mut state = matched_job(false);
    let free = TestBalances::free_balance(&state, &CHARLIE);
    let hash = Hash([0x42; 32]);
    let (result, events) = register(&mut state, &CHARLIE, hash, 1025);
    result.unwrap();
    let deposit = AGR / 100 + 2 * AGR / 10_000;
    assert_eq!(
        events,
        vec![Event::BlobRegistered {
            hash,
            owner: CHARLIE,
            size: 1025,
            deposit
        }]
    );
    assert_eq!(TestBalances::free_balance(&state, &CHARLIE), free - deposit);
    step(&mut state, 3, |_| ());
    let before = state.clone();
    for (size, hash, expected) in [
        (0, Hash([1; 32]), Error::BadBlobSize),
        ((1 << 20) + 1, Hash([1; 32]), Error::BadBlobSize),
        (10, hash, Error::BlobAlreadyRegistered),
    ] {
        let (result, _) = register(&mut state, &CHARLIE, hash, size);
        assert_eq!(result, Err(error(expected)));
    }
    assert_eq!(state, before);
    // The quota: three MiB per account.
    for n in 0..2u8 {
        register(&mut state, &CHARLIE, Hash([n; 32]), 1 << 20)
            .0
            .unwrap();
    }
    let (result, _) = register(&mut state, &CHARLIE, Hash([5; 32]), 1 << 20);
    assert_eq!(result, Err(error(Error::BlobQuotaExceeded)));
    // An account without the deposit.
    let poor = AccountId([9; 32]);
    let (result, _) = register(&mut state, &poor, Hash([6; 32]), 10);
    assert_eq!(result, Err(error(Error::CannotPayDeposit)));
}

/// Exploit 6 of the incentives issue (blob squatting): whoever learns a blob's hash before its
/// owner registers it (a published module, a well-known dataset) registered it with a wrong
/// size, and every node then refused the true bytes. The size is proven now: the squatter's
/// registration is refused, whatever proof it builds from the true bytes, and the owner's
/// goes through.
#[test]
fn exploit_a_squatter_cannot_register_a_known_hash_with_the_wrong_size() {
    let mut state = matched_job(false);
    let module: Vec<u8> = (0..5_000u32).map(|i| (i % 251) as u8).collect();
    let hash = Hash::of(&module);
    let proof = SizeProof::of(&module);
    let register = |state: &mut State, who: &AccountId, size: u64, proof: &SizeProof| {
        let call = Call::RegisterBlob {
            hash,
            size,
            proof: proof.clone(),
        };
        step(state, 3, |ext| Jobs::dispatch(ext, who, &call))
    };
    step(&mut state, 3, |_| ());
    let before = state.clone();
    for size in [1, 4_999, 5_001, 1 << 20] {
        let (result, _) = register(&mut state, &CHARLIE, size, &proof);
        assert_eq!(result, Err(error(Error::SizeNotProven)), "size {size}");
    }
    assert_eq!(state, before, "nothing registered, nothing reserved");
    let (result, events) = register(&mut state, &ALICE, 5_000, &proof);
    result.unwrap();
    assert!(matches!(
        events[..],
        [Event::BlobRegistered {
            size: 5_000,
            owner: ALICE,
            ..
        }]
    ));
}

#[test]
fn unreferenced_blobs_expire_and_referenced_ones_live_on() {
    let mut state = matched_job(false);
    // The job times out at block 7 and lets go of its blobs.
    end_block(&mut state, 7);
    // Registered at block 1 with a 20-block life; two may fall due per block, so the third
    // and fourth (the output and the final state) spilled into block 22.
    let events = end_block(&mut state, 21);
    assert_eq!(
        events,
        vec![
            Event::BlobExpired { hash: MODULE },
            Event::BlobExpired { hash: DATASET }
        ]
    );
    assert!(Jobs::blob(&state, &OUTPUT).is_some());
    let events = end_block(&mut state, 22);
    assert_eq!(
        events,
        vec![
            Event::BlobExpired { hash: OUTPUT },
            Event::BlobExpired {
                hash: commitment().final_state
            }
        ]
    );
    // Every deposit is back: Alice has nothing reserved any more.
    assert_eq!(TestBalances::reserved_balance(&state, &ALICE), 0);
    assert_eq!(BlobBytesOf::get(&state, &ALICE), None);
}

#[test]
fn referenced_blobs_are_renewed() {
    let mut state = matched_job(false);
    commit(&mut state, 3).0.unwrap();
    // The job is still under audit at block 21: every blob it uses is kept.
    end_block(&mut state, 21);
    let module = Jobs::blob(&state, &MODULE).unwrap();
    assert!(module.expires_at >= 41);
    assert!(Jobs::blob(&state, &OUTPUT).is_some());
}

#[test]
fn due_lists_spill_into_later_blocks() {
    let mut state = matched_job(false);
    let (blocks, _) = step(&mut state, 3, |ext| {
        (0..5)
            .map(|n| schedule::<JobsDuePrefix, JobId>(ext, 50, 100 + n, 2))
            .collect::<Vec<_>>()
    });
    assert_eq!(blocks, vec![50, 50, 51, 51, 52]);
}

#[test]
fn calls_round_trip_through_scale() {
    let calls = [
        Call::RegisterBlob {
            hash: MODULE,
            size: 9,
            proof: SizeProof::of(b"123456789"),
        },
        Call::CommitResult {
            job: 3,
            commitment: commitment(),
            final_proof: final_proof(),
        },
        Call::CancelJob { job: 3 },
        Call::DeclareUnrunnable { job: 3 },
        Call::ReleaseModel { job: 3 },
        Call::ProveUnrunnable { job: 3 },
    ];
    for call in calls {
        assert_eq!(Call::decode(&mut &call.encode()[..]).unwrap(), call);
        assert!(call.weight() > 0);
    }
}

/// A job that ended before its commit deadline (here a mismatch disputed at block 6, the
/// deadline being block 7) lost its record at that deadline, which was still due: the
/// end-of-block pruning took any ended job for one to prune, so receipts and statuses
/// vanished long before `JOB_RETENTION`. Now a record goes `JOB_RETENTION` blocks after its end.
#[test]
fn a_job_that_ends_before_its_commit_deadline_is_kept_for_the_retention() {
    let mut state = matched_job(false);
    commit(&mut state, 5).0.unwrap();
    step(&mut state, 6, |ext| {
        Jobs::audited(ext, 0, AuditOutcome::Mismatch { segment: 1 })
    });
    assert!(Jobs::job(&state, 0).unwrap().status.is_final());
    end_block(&mut state, 7);
    assert!(
        Jobs::job(&state, 0).is_some(),
        "kept past the old commit deadline"
    );
    let retention = <Test as Config>::JOB_RETENTION;
    end_block(&mut state, 6 + retention);
    assert_eq!(Jobs::job(&state, 0), None, "pruned after the retention");
}

/// Exploit: the escrow's payments `expect`ed their payee to accept them. An account holding
/// nothing is not created for less than the existential deposit, and a worker (its collateral
/// may be zero) or a verifier (its bond leaves once its check matched) can empty its account
/// before the job settles: a fee below the deposit owed to it then panicked every block
/// builder and every importer in the same `on_finalize`, so no block could be made at that
/// height. Now the payment moves nothing and the amount stays in the escrow, for the refund.
#[test]
fn exploit_a_payee_that_cannot_receive_its_fee_leaves_it_in_the_escrow() {
    let mut state = matched_job(false);
    let emptied = AccountId([9; 32]);
    let job = Jobs::job(&state, 0).unwrap();
    let alice_before = TestBalances::account(&state, &ALICE);
    let below_deposit = <Test as pallet_balances::Config>::EXISTENTIAL_DEPOSIT - 1;
    let (paid, _) = step(&mut state, 3, |ext| {
        Jobs::pay_from_escrow(ext, &job, &emptied, below_deposit)
    });
    assert_eq!(paid, 0, "nothing moved");
    assert_eq!(TestBalances::account(&state, &emptied).total(), 0);
    assert_eq!(
        TestBalances::account(&state, &ALICE),
        alice_before,
        "the escrow is whole"
    );
}
