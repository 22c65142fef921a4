//! Runs, traces, re-execution and the module cache, on the small WAT counter job (fast; the
//! burn job's determinism is tested in `job_engine`).

use agora_engine::trace::{TraceError, TraceLeaf, TraceTree};
use agora_engine::{
    check_segment, reexecute, reexecute_run, reexecute_run_keeping, run, Commitment, Error,
    Executor, JobInputs, JobModule, Origin, Reveal, RunSpec, Settings, StartProof, Verdict,
};
use agora_primitives::Hash;

use crate::fixture::{counter, disk_cache_settings, start_fuel};

const INPUTS: JobInputs<'static> = JobInputs {
    params: b"{}",
    dataset: b"0123456789",
};
const SPEC: RunSpec = RunSpec {
    seed: 99,
    steps: 23,
    segment_steps: 5,
    max_fuel: RunSpec::UNBOUNDED,
};

struct Recorded {
    run: agora_engine::Run,
    states: Vec<Vec<u8>>,
}

fn record(executor: &Executor) -> Recorded {
    let job = executor.load(&counter()).expect("loads");
    let mut states = Vec::new();
    let run = run(executor, &job, INPUTS, SPEC, |i, s| {
        assert_eq!(i as usize, states.len());
        states.push(s.to_vec());
        Ok(())
    })
    .expect("runs");
    Recorded { run, states }
}

#[test]
fn a_run_has_one_leaf_per_segment_and_a_short_last_segment() {
    assert_eq!(SPEC.segments(), 5);
    assert_eq!(
        (0..5).map(|i| SPEC.steps_in(i)).collect::<Vec<_>>(),
        [5, 5, 5, 5, 3]
    );
    let executor = Executor::new(Settings::default()).expect("executor");
    let Recorded { run, states } = record(&executor);
    assert_eq!(run.leaves.len(), 5);
    assert_eq!(states.len(), 6);
    for (i, leaf) in run.leaves.iter().enumerate() {
        assert_eq!(leaf.index, i as u64);
        assert_eq!(leaf.state_hash, Hash::of(&states[i + 1]));
    }
    // Fuel grows with steps: the short last segment costs less than a full one.
    // Leaves carry cumulative fuel: the last, shorter segment adds less than a full one.
    let segment_fuel: Vec<u64> = (0..5u64)
        .map(|i| run.leaves[i as usize].fuel - start_fuel(&run, i))
        .collect();
    assert!(segment_fuel[4] < segment_fuel[0], "{:?}", run.leaves);
    assert_eq!(segment_fuel[0], segment_fuel[1]);
    assert_eq!(run.initial_state_hash, Hash::of(&states[0]));
    assert_eq!(run.final_state, states[5]);
    assert_eq!(run.training_fuel(), segment_fuel.iter().sum::<u64>());
    assert_eq!(run.training_fuel(), run.leaves[4].fuel);
}

#[test]
fn repeated_runs_give_the_same_root() {
    let executor = Executor::new(Settings::default()).expect("executor");
    let a = record(&executor).run;
    let b = record(&executor).run;
    assert_eq!(a.tree.root(), b.tree.root());
    // A different seed or dataset changes it.
    let job = executor.load(&counter()).expect("loads");
    let other = run(
        &executor,
        &job,
        INPUTS,
        RunSpec { seed: 100, ..SPEC },
        |_, _| Ok(()),
    )
    .expect("runs");
    assert_ne!(other.tree.root(), a.tree.root());
    let inputs = JobInputs {
        dataset: b"01234567890",
        ..INPUTS
    };
    let other = run(&executor, &job, inputs, SPEC, |_, _| Ok(())).expect("runs");
    assert_ne!(other.tree.root(), a.tree.root());
}

#[test]
fn every_segment_reexecuted_alone_reproduces_its_leaf() {
    let executor = Executor::new(Settings::default()).expect("executor");
    let Recorded { run, states } = record(&executor);
    let job = executor.load(&counter()).expect("loads");
    for index in 0..SPEC.segments() {
        let leaf = reexecute(
            &executor,
            &job,
            INPUTS,
            SPEC,
            index,
            &states[index as usize],
            start_fuel(&run, index),
        )
        .expect("re-executes");
        assert_eq!(leaf, run.leaves[index as usize]);
    }
    let err = reexecute(&executor, &job, INPUTS, SPEC, 5, &states[5], 0).expect_err("out of range");
    assert!(matches!(
        err,
        Error::Trace(TraceError::LeafOutOfRange { index: 5, count: 5 })
    ));
}

/// The bid's `max_fuel` bounds the trace: a budget that ends inside segment 2 gives segment 2
/// only what is left, so it runs out of fuel there and the trace ends in its refusal leaf,
/// billing segments 0 and 1; a verifier re-running segment 2 with the same spec is refused
/// the same way; a budget that ends inside segment 0 makes the run an error (the worker
/// declares it unrunnable); a budget of exactly the run's fuel changes nothing.
#[test]
fn a_fuel_budget_ends_the_trace_in_the_segment_where_it_runs_out() {
    let executor = Executor::new(Settings::default()).expect("executor");
    let Recorded { run: full, states } = record(&executor);
    let job = executor.load(&counter()).expect("loads");
    let within = |max_fuel| {
        let spec = RunSpec { max_fuel, ..SPEC };
        (spec, run(&executor, &job, INPUTS, spec, |_, _| Ok(())))
    };
    let (_, exact) = within(full.training_fuel());
    let exact = exact.expect("a budget of exactly the run's fuel runs it all");
    assert_eq!(exact.leaves, full.leaves);
    assert!(exact.refused.is_none());

    // One unit short of segment 2's end.
    let (spec, short) = within(full.leaves[2].fuel - 1);
    let short = short.expect("runs past segment 0");
    let refusal = short.refused.as_ref().expect("segment 2 runs out");
    assert_eq!(refusal.segment, 2);
    assert!(
        matches!(refusal.error, Error::OutOfFuel { .. }),
        "{:?}",
        refusal.error
    );
    assert_eq!(
        short.leaves,
        [
            full.leaves[0],
            full.leaves[1],
            TraceLeaf::refusal(2, full.leaves[1].fuel)
        ]
    );
    assert_eq!(
        short.training_fuel(),
        full.leaves[1].fuel,
        "segments 0 and 1 billed"
    );
    let verifier = reexecute_run_keeping(
        &executor,
        &job,
        INPUTS,
        spec,
        (2, 1),
        (&states[2], full.leaves[1].fuel),
        |_, _| Ok(()),
    )
    .expect("re-executes");
    assert_eq!(
        verifier.leaves,
        [TraceLeaf::refusal(2, full.leaves[1].fuel)]
    );
    // Without the budget the same segment runs: the budget, not the module, refused it.
    let unbounded = reexecute(
        &executor,
        &job,
        INPUTS,
        SPEC,
        2,
        &states[2],
        full.leaves[1].fuel,
    )
    .expect("re-executes");
    assert_eq!(unbounded, full.leaves[2]);

    let (_, first) = within(full.leaves[0].fuel - 1);
    let err = first.expect_err("segment 0 runs out");
    assert!(matches!(err, Error::OutOfFuel { .. }), "{err}");
}

#[test]
fn a_run_of_segments_reexecuted_from_its_first_start_reproduces_every_leaf() {
    let executor = Executor::new(Settings::default()).expect("executor");
    let Recorded { run, states } = record(&executor);
    let job = executor.load(&counter()).expect("loads");
    // Segments 2, 3 and 4 from the state after segment 1: the starts of 3 and 4 are computed.
    let (leaves, end_state) = reexecute_run(
        &executor,
        &job,
        INPUTS,
        SPEC,
        2,
        3,
        &states[2],
        start_fuel(&run, 2),
    )
    .expect("re-executes");
    assert_eq!(leaves, run.leaves[2..]);
    assert_eq!(
        end_state, run.final_state,
        "a run to the end gives the final state"
    );
    // A run past the end of the trace is refused, naming the last segment it asked for.
    let err = reexecute_run(&executor, &job, INPUTS, SPEC, 3, 3, &states[3], 0)
        .expect_err("out of range");
    assert!(
        matches!(
            err,
            Error::Trace(TraceError::LeafOutOfRange { index: 5, count: 5 })
        ),
        "{err}"
    );
}

#[test]
fn a_start_leaf_with_inflated_fuel_gives_a_leaf_with_inflated_fuel() {
    // The cumulative fuel is carried from the start leaf: a worker that inflates the fuel of
    // leaf i − 1 must inflate leaf i too, or re-execution of segment i disagrees with it.
    let executor = Executor::new(Settings::default()).expect("executor");
    let Recorded { run, states } = record(&executor);
    let job = executor.load(&counter()).expect("loads");
    let honest = reexecute(
        &executor,
        &job,
        INPUTS,
        SPEC,
        3,
        &states[3],
        start_fuel(&run, 3),
    )
    .expect("re-executes");
    let inflated = reexecute(
        &executor,
        &job,
        INPUTS,
        SPEC,
        3,
        &states[3],
        start_fuel(&run, 3) + 1000,
    )
    .expect("re-executes");
    assert_eq!(honest, run.leaves[3]);
    assert_eq!(inflated.state_hash, honest.state_hash);
    assert_eq!(inflated.fuel, honest.fuel + 1000);
    // And a start fuel at the top of the range is refused rather than wrapped.
    let err =
        reexecute(&executor, &job, INPUTS, SPEC, 3, &states[3], u64::MAX).expect_err("overflows");
    assert!(matches!(err, Error::FuelOverflow { index: 3 }), "{err}");
}

fn reveal<'a>(recorded: &'a Recorded, index: u64) -> Reveal<'a> {
    let tree = &recorded.run.tree;
    let start = if index == 0 {
        StartProof::Initial
    } else {
        StartProof::Previous {
            leaf: recorded.run.leaves[index as usize - 1],
            proof: tree.prove(index - 1).expect("proof"),
        }
    };
    Reveal {
        index,
        start_state: &recorded.states[index as usize],
        start,
        leaf: recorded.run.leaves[index as usize],
        proof: tree.prove(index).expect("proof"),
    }
}

/// A recorded run on a default executor, the job loaded, and the honest commitment to the run.
struct Committed {
    executor: Executor,
    job: JobModule,
    recorded: Recorded,
    commitment: Commitment,
}

impl Committed {
    fn new() -> Self {
        let executor = Executor::new(Settings::default()).expect("executor");
        let recorded = record(&executor);
        let job = executor.load(&counter()).expect("loads");
        let commitment = Commitment {
            root: recorded.run.tree.root(),
            segments: 5,
        };
        Self {
            executor,
            job,
            recorded,
            commitment,
        }
    }

    /// Checks `reveal` against the honest commitment.
    fn check(&self, reveal: &Reveal<'_>) -> Result<Verdict, Error> {
        check_segment(
            &self.executor,
            &self.job,
            INPUTS,
            SPEC,
            self.commitment,
            reveal,
        )
    }
}

#[test]
fn honest_reveals_check_valid() {
    let committed = Committed::new();
    for index in 0..5 {
        let verdict = committed
            .check(&reveal(&committed.recorded, index))
            .expect("checks");
        assert_eq!(verdict, Verdict::Valid, "segment {index}");
    }
}

#[test]
fn tampered_start_state_is_detected() {
    let committed = Committed::new();
    let recorded = &committed.recorded;
    let mut tampered = recorded.states[3].clone();
    tampered[0] ^= 1;
    // Segment 3's start state is revealed; segment 0's is recomputed by the verifier, so
    // tampering shows there too.
    for index in [3, 0] {
        let mut r = reveal(recorded, index);
        r.start_state = &tampered;
        let err = committed.check(&r).expect_err("tampered");
        assert!(
            matches!(err, Error::StartStateMismatch { index: found, .. } if found == index),
            "{err}"
        );
    }
    // The wrong previous leaf is refused.
    let mut r = reveal(recorded, 3);
    r.start = StartProof::Previous {
        leaf: recorded.run.leaves[1],
        proof: recorded.run.tree.prove(1).expect("proof"),
    };
    let err = committed.check(&r).expect_err("wrong leaf");
    assert!(
        matches!(
            err,
            Error::WrongStartLeaf {
                index: 3,
                expected: 2,
                found: 1
            }
        ),
        "{err}"
    );
}

#[test]
fn tampered_leaf_is_detected() {
    let committed = Committed::new();
    let recorded = &committed.recorded;
    // Against the honest root, a changed leaf fails its inclusion proof.
    let mut r = reveal(recorded, 2);
    r.leaf.fuel += 1;
    let err = committed.check(&r).expect_err("tampered leaf");
    assert!(
        matches!(err, Error::Trace(TraceError::RootMismatch { index: 2, .. })),
        "{err}"
    );
    // A worker that committed a wrong leaf from the start passes the proof but not re-execution.
    let mut leaves = recorded.run.leaves.clone();
    leaves[2] = TraceLeaf {
        state_hash: Hash::of(b"made up"),
        ..leaves[2]
    };
    let cheating = TraceTree::new(leaves.clone()).expect("tree");
    let commitment = Commitment {
        root: cheating.root(),
        segments: 5,
    };
    let r = Reveal {
        index: 2,
        start_state: &recorded.states[2],
        start: StartProof::Previous {
            leaf: leaves[1],
            proof: cheating.prove(1).expect("proof"),
        },
        leaf: leaves[2],
        proof: cheating.prove(2).expect("proof"),
    };
    let Committed { executor, job, .. } = &committed;
    let verdict = check_segment(executor, job, INPUTS, SPEC, commitment, &r).expect("checks");
    assert_eq!(
        verdict,
        Verdict::Mismatch {
            claimed: leaves[2],
            computed: recorded.run.leaves[2]
        }
    );
}

#[test]
fn empty_runs_are_refused() {
    let executor = Executor::new(Settings::default()).expect("executor");
    let job = executor.load(&counter()).expect("loads");
    for spec in [
        RunSpec { steps: 0, ..SPEC },
        RunSpec {
            segment_steps: 0,
            ..SPEC
        },
    ] {
        let err = run(&executor, &job, INPUTS, spec, |_, _| Ok(())).expect_err("empty");
        assert!(matches!(err, Error::EmptyRun { .. }), "{err}");
    }
}

#[test]
fn module_cache_memory_then_disk_then_recompile_after_corruption() {
    let (dir, settings) = disk_cache_settings();
    let first = Executor::new(settings.clone()).expect("executor");
    let compiled = first.load(&counter()).expect("loads");
    assert_eq!(compiled.origin(), Origin::Compiled);
    assert_eq!(compiled.cache_write_failure(), None);
    assert_eq!(
        first.load(&counter()).expect("loads").origin(),
        Origin::MemoryCache
    );
    let fresh_root = record(&first).run.tree.root();

    let second = Executor::new(settings.clone()).expect("executor");
    assert_eq!(second.fingerprint(), first.fingerprint());
    assert_eq!(
        second.load(&counter()).expect("loads").origin(),
        Origin::DiskCache
    );
    assert_eq!(record(&second).run.tree.root(), fresh_root);

    // Corrupt every entry's serialized module (its checksum comes last and is left as it
    // was): the next executor recompiles instead of trusting it. The executors holding the
    // entry mapped go first: a cache file is never rewritten in place while in use.
    drop((first, second));
    for entry in std::fs::read_dir(dir.path()).expect("dir") {
        let path = entry.expect("entry").path();
        let mut bytes = std::fs::read(&path).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xff;
        std::fs::write(&path, bytes).expect("write");
    }
    let third = Executor::new(settings).expect("executor");
    assert_eq!(
        third.load(&counter()).expect("loads").origin(),
        Origin::Compiled
    );
    assert_eq!(record(&third).run.tree.root(), fresh_root);
}

/// A disk cache this process cannot write does not fail a load: the module compiled and passed
/// every check, so it runs (and is remembered in memory), and the load says why it was not
/// kept. Before, the failed write failed the load, and a node's referee decided nothing.
#[test]
fn a_cache_that_cannot_be_written_does_not_fail_the_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A file where the cache's parent directory should be: creating it fails, even for root.
    let blocked = dir.path().join("not-a-directory");
    std::fs::write(&blocked, b"").expect("file");
    let executor = Executor::new(Settings {
        cache_dir: Some(blocked.join("cache")),
        ..Settings::default()
    })
    .expect("executor");
    let loaded = executor
        .load(&counter())
        .expect("a cache that cannot be written is not a load failure");
    assert_eq!(loaded.origin(), Origin::Compiled);
    let failure = loaded
        .cache_write_failure()
        .expect("the failure is reported");
    assert!(failure.contains("not-a-directory"), "{failure}");
    assert_eq!(
        executor.load(&counter()).expect("loads").origin(),
        Origin::MemoryCache
    );
    let uncached = Executor::new(Settings::default()).expect("executor");
    assert_eq!(
        record(&executor).run.tree.root(),
        record(&uncached).run.tree.root()
    );
}

/// The counter with an unused global `n`: a module of its own (its own hash and cache entry)
/// that compiles to about the counter's size.
fn tagged_counter(n: u32) -> Vec<u8> {
    crate::fixture::module(&[], &format!("(global $tag{n} i32 (i32.const {n}))"))
}

/// The names of the cache entries in `dir`, sorted.
fn cache_entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
        .filter(|name| name.ends_with(".cwasm"))
        .collect();
    names.sort();
    names
}

/// The entry `load` of `wasm` adds to `dir` (the one name in the listing after that was not
/// in `before`).
fn added_entry(before: &[String], dir: &std::path::Path) -> String {
    let added: Vec<String> = cache_entries(dir)
        .into_iter()
        .filter(|name| !before.contains(name))
        .collect();
    let [name] = added.as_slice() else {
        panic!("one new entry expected, found {added:?}");
    };
    name.clone()
}

/// Sets the modification time of `dir/name` to `seconds` after the epoch: the order eviction
/// follows, made explicit (file times are coarser than two quick compilations).
fn age(dir: &std::path::Path, name: &str, seconds: u64) {
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join(name))
        .expect("open entry");
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds))
        .expect("set mtime");
}

#[test]
fn module_cache_on_disk_keeps_within_its_bound_evicting_the_oldest_entry() {
    let (dir, settings) = disk_cache_settings();
    let dir = dir.path();
    // A file that is not an entry: neither counted nor ever deleted.
    std::fs::write(dir.join("notes.txt"), vec![0u8; 1 << 20]).expect("write");

    let first = Executor::new(settings.clone()).expect("executor");
    assert_eq!(
        first.load(&tagged_counter(0)).expect("loads").origin(),
        Origin::Compiled
    );
    let e0 = added_entry(&[], dir);
    let entry_size = std::fs::metadata(dir.join(&e0)).expect("entry").len();
    // Room for two entries and a half.
    let settings = Settings {
        cache_max_bytes: entry_size * 5 / 2,
        ..settings
    };
    let bounded = Executor::new(settings.clone()).expect("executor");
    let before = cache_entries(dir);
    assert_eq!(
        bounded.load(&tagged_counter(1)).expect("loads").origin(),
        Origin::Compiled
    );
    let e1 = added_entry(&before, dir);
    age(dir, &e0, 1_000);
    age(dir, &e1, 2_000);
    let before = cache_entries(dir);
    assert_eq!(
        bounded.load(&tagged_counter(2)).expect("loads").origin(),
        Origin::Compiled
    );
    let e2 = added_entry(&before, dir);
    let mut kept = vec![e1.clone(), e2.clone()];
    kept.sort();
    assert_eq!(
        cache_entries(dir),
        kept,
        "the oldest entry (variant 0) was evicted"
    );
    assert!(
        dir.join("notes.txt").exists(),
        "a foreign file is left alone"
    );

    // A fresh executor: variant 0 is compiled again and evicts the now oldest, variant 1;
    // variant 2 is still a disk hit.
    let fresh = Executor::new(settings).expect("executor");
    assert_eq!(
        fresh.load(&tagged_counter(2)).expect("loads").origin(),
        Origin::DiskCache
    );
    assert_eq!(
        fresh.load(&tagged_counter(0)).expect("loads").origin(),
        Origin::Compiled
    );
    let mut kept = vec![e0, e2];
    kept.sort();
    assert_eq!(cache_entries(dir), kept, "variant 1 was evicted");
}

#[test]
fn module_cache_keeps_the_entry_it_just_wrote_even_past_its_bound() {
    let (dir, settings) = disk_cache_settings();
    let settings = Settings {
        cache_max_bytes: 1,
        ..settings
    };
    let executor = Executor::new(settings.clone()).expect("executor");
    executor.load(&tagged_counter(0)).expect("loads");
    let e0 = added_entry(&[], dir.path());
    executor.load(&tagged_counter(1)).expect("loads");
    let e1 = added_entry(&[e0.clone()], dir.path());
    assert_eq!(
        cache_entries(dir.path()),
        vec![e1],
        "only the newest entry is left"
    );
    // And it is a hit for the next executor.
    let next = Executor::new(settings).expect("executor");
    assert_eq!(
        next.load(&tagged_counter(1)).expect("loads").origin(),
        Origin::DiskCache
    );
}

#[test]
fn cache_keys_differ_between_configurations() {
    let a = Executor::new(Settings::default()).expect("executor");
    let b = Executor::new(Settings {
        nan_canonicalization: true,
        ..Settings::default()
    })
    .expect("executor");
    let c = Executor::new(Settings {
        opt_level: agora_engine::OptLevel::None,
        ..Settings::default()
    })
    .expect("executor");
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert_ne!(a.fingerprint(), c.fingerprint());
}
