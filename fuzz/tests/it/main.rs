//! The short fuzz run of CI: every target replays its seeds and its corpus (every crash ever
//! found is kept there) and then 3,000 mutants of a fixed seed, with no crash. Long runs:
//! `scripts/fuzz.sh --minutes N`.

#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

use agora_fuzz::targets::TARGETS;
use agora_fuzz::{corpus_of, default_corpus, run, Budget};

const CASES: u64 = 3_000;

#[test]
fn every_target_survives_its_corpus_and_a_short_run() {
    let mut failures = Vec::new();
    for target in TARGETS {
        let corpus = corpus_of(&default_corpus(), target).unwrap();
        let report = run(target, &corpus, 20261202, Budget::Cases(CASES));
        assert_eq!(report.cases, corpus.len() as u64 + CASES);
        for crash in &report.crashes {
            failures.push(format!(
                "{}: {} (input {:02x?})",
                target.name, crash.message, crash.input
            ));
        }
    }
    assert!(failures.is_empty(), "crashes:\n{}", failures.join("\n"));
}

/// The seeds are valid encodings: each decodes (or the fuzzer would start outside the
/// format and explore little of it).
#[test]
fn every_seed_decodes() {
    for target in TARGETS {
        for (i, seed) in agora_fuzz::seeds::seeds(target.name).iter().enumerate() {
            assert!(
                (target.run)(seed),
                "seed {i} of {} does not decode",
                target.name
            );
        }
    }
}

/// The runner catches and reports a panic instead of dying with it, with the input and the
/// message, and a kept crash is replayed from the corpus.
#[test]
fn a_panicking_target_is_reported_and_its_input_kept() {
    let target = agora_fuzz::targets::Target {
        name: "panics_on_7",
        what: "a target that panics on inputs starting with 7",
        run: |bytes| {
            assert!(bytes.first() != Some(&7), "seven");
            true
        },
    };
    let report = run(&target, &[vec![1], vec![7, 7]], 1, Budget::Cases(0));
    assert_eq!(report.cases, 2);
    assert_eq!(report.crashes.len(), 1);
    assert_eq!(report.crashes[0].input, vec![7, 7]);
    assert!(report.crashes[0].message.contains("seven"));
    let dir = tempfile::tempdir().unwrap();
    agora_fuzz::keep_crash(dir.path(), &target, &report.crashes[0]).unwrap();
    let replayed = corpus_of(dir.path(), &target).unwrap();
    assert_eq!(replayed, vec![vec![7, 7]]);
}
