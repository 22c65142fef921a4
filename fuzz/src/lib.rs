//! # agora-fuzz
//!
//! Fuzzing of every decoder that reads bytes from strangers (docs/reliability.md): the
//! [`targets`], a seeded [`mutate`]-based runner, and the corpus in `fuzz/corpus/<target>/`.
//!
//! Coverage-guided fuzzing (`cargo fuzz`, libFuzzer) needs a nightly toolchain these machines
//! cannot download; this runner is the stable substitute: it starts from valid encodings
//! ([`seeds`]) and the corpus, and mutates them with the byte-level edits that break decoders,
//! many thousands of cases a second. Every case is a function of the seed and its number, so
//! a crash is reproduced by its seed, and its input is written to the corpus as a regression
//! case that every later run (and CI) replays first.
//!
//! CI runs a short, fixed number of cases per target (`tests/it`); `scripts/fuzz.sh --minutes
//! N` runs long ones.

pub mod mutate;
pub mod seeds;
pub mod targets;

use mutate::{mutate, Rng};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Instant;
use targets::Target;

/// The corpus directory in the repository.
pub fn default_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus")
}

/// The seeds of `target` and every file in `corpus/<target>/` (sorted by name, so the order
/// is the same on every machine).
///
/// # Errors
/// If the directory exists but cannot be read.
pub fn corpus_of(corpus: &Path, target: &Target) -> std::io::Result<Vec<Vec<u8>>> {
    let mut inputs = seeds::seeds(target.name);
    let dir = corpus.join(target.name);
    if dir.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.sort();
        for file in files {
            inputs.push(std::fs::read(file)?);
        }
    }
    Ok(inputs)
}

/// An input that made a target panic.
#[derive(Clone, Debug)]
pub struct Crash {
    /// The input.
    pub input: Vec<u8>,
    /// The panic message.
    pub message: String,
}

/// What a run of one target did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Inputs run: the corpus, then the mutants.
    pub cases: u64,
    /// How many of them decoded.
    pub decoded: u64,
    /// Inputs that panicked (at most [`MAX_CRASHES`] kept).
    pub crashes: Vec<Crash>,
}

/// Crashes kept per run of a target; more are counted in `cases` only.
pub const MAX_CRASHES: usize = 16;

/// How long a run goes on.
#[derive(Clone, Copy, Debug)]
pub enum Budget {
    /// This many mutants after the corpus.
    Cases(u64),
    /// Mutants until this instant.
    Until(Instant),
}

thread_local! {
    /// Whether this thread is running a fuzz case, and the message of its last panic.
    static IN_CASE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs, once per process, a panic hook that records the message of a panic inside a fuzz
/// case (a fuzzer's expected panics would otherwise flood stderr) and hands every other panic
/// to the hook that was there before.
fn install_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = IN_CASE.with(|case| match case.borrow_mut().as_mut() {
                Some(message) => {
                    *message = info.to_string();
                    true
                }
                None => false,
            });
            if !recorded {
                previous(info);
            }
        }));
    });
}

/// Runs `target` on every input of `corpus`, then on mutants of them drawn from `seed` within
/// `budget`. Panics are caught and reported, not propagated.
pub fn run(target: &Target, corpus: &[Vec<u8>], seed: u64, budget: Budget) -> Report {
    install_hook();
    let mut report = Report::default();
    let once = |input: &[u8], report: &mut Report| {
        report.cases += 1;
        IN_CASE.with(|case| *case.borrow_mut() = Some(String::new()));
        let outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(input)));
        let message = IN_CASE
            .with(|case| case.borrow_mut().take())
            .unwrap_or_default();
        match outcome {
            Ok(true) => report.decoded += 1,
            Ok(false) => {}
            Err(_) => {
                if report.crashes.len() < MAX_CRASHES {
                    report.crashes.push(Crash {
                        input: input.to_vec(),
                        message,
                    });
                }
            }
        }
    };
    for input in corpus {
        once(input, &mut report);
    }
    let empty = Vec::new();
    let mut rng = Rng::new(seed);
    let mut done: u64 = 0;
    loop {
        let more = match budget {
            Budget::Cases(cases) => done < cases,
            // The clock is read every 256 cases: it costs more than a small case.
            Budget::Until(deadline) => done % 256 != 0 || Instant::now() < deadline,
        };
        if !more {
            break;
        }
        let base = corpus.get(rng.below(corpus.len())).unwrap_or(&empty);
        let other = corpus.get(rng.below(corpus.len())).unwrap_or(&empty);
        let input = mutate(&mut rng, base, other);
        once(&input, &mut report);
        done += 1;
    }
    report
}

/// Writes `crash`'s input to `corpus/<target>/crash-<blake3 prefix>.bin` (a regression case
/// every later run replays); returns the path.
///
/// # Errors
/// If the file cannot be written.
pub fn keep_crash(corpus: &Path, target: &Target, crash: &Crash) -> std::io::Result<PathBuf> {
    let dir = corpus.join(target.name);
    std::fs::create_dir_all(&dir)?;
    let hash = blake3::hash(&crash.input).to_hex();
    let path = dir.join(format!("crash-{}.bin", &hash.as_str()[..16]));
    std::fs::write(&path, &crash.input)?;
    Ok(path)
}
