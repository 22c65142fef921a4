//! `agora-fuzz`: runs the fuzz targets for a while and reports what they did.
//!
//! ```text
//! agora-fuzz [--minutes N] [--target NAME]… [--seed S] [--corpus DIR] [--write-seeds] [--list]
//! ```
//!
//! The time is shared equally among the targets. Every input that crashes a target is written
//! to the corpus (`crash-….bin`, replayed first by every later run and by CI) and the exit
//! status is 1. `--write-seeds` writes each target's seed inputs to the corpus and exits.

use agora_fuzz::targets::{target, Target, TARGETS};
use agora_fuzz::{corpus_of, default_corpus, keep_crash, run, Budget};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Args {
    minutes: f64,
    targets: Vec<Target>,
    seed: u64,
    corpus: PathBuf,
    write_seeds: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        minutes: 1.0,
        targets: Vec::new(),
        seed: 1,
        corpus: default_corpus(),
        write_seeds: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--minutes" => {
                let text = value("--minutes")?;
                args.minutes = text
                    .parse()
                    .ok()
                    .filter(|m: &f64| m.is_finite() && *m > 0.0)
                    .ok_or(format!("--minutes {text}: not a positive number"))?;
            }
            "--target" => {
                let name = value("--target")?;
                args.targets.push(target(&name).ok_or(format!(
                    "--target {name}: no such target (--list names them)"
                ))?);
            }
            "--seed" => {
                let text = value("--seed")?;
                args.seed = text
                    .parse()
                    .map_err(|_| format!("--seed {text}: not a number"))?;
            }
            "--corpus" => args.corpus = PathBuf::from(value("--corpus")?),
            "--write-seeds" => args.write_seeds = true,
            "--list" => {
                for t in TARGETS {
                    println!("{:<14} {}", t.name, t.what);
                }
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.targets.is_empty() {
        args.targets = TARGETS.to_vec();
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(error) => {
            eprintln!("Error: {error}");
            return ExitCode::from(2);
        }
    };
    if args.write_seeds {
        for t in &args.targets {
            let dir = args.corpus.join(t.name);
            for (i, seed) in agora_fuzz::seeds::seeds(t.name).iter().enumerate() {
                let written = std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(dir.join(format!("seed-{i:02}.bin")), seed));
                if let Err(error) = written {
                    eprintln!("Error: cannot write {}: {error}", dir.display());
                    return ExitCode::FAILURE;
                }
            }
        }
        return ExitCode::SUCCESS;
    }
    let share = Duration::from_secs_f64(args.minutes * 60.0 / args.targets.len() as f64);
    println!(
        "{} targets, {:.1} s each, seed {}",
        args.targets.len(),
        share.as_secs_f64(),
        args.seed
    );
    let (mut cases, mut crashes) = (0u64, 0usize);
    for t in &args.targets {
        let corpus = match corpus_of(&args.corpus, t) {
            Ok(corpus) => corpus,
            Err(error) => {
                eprintln!("Error: cannot read the corpus of {}: {error}", t.name);
                return ExitCode::FAILURE;
            }
        };
        let report = run(t, &corpus, args.seed, Budget::Until(Instant::now() + share));
        println!(
            "{:<14} {:>10} cases {:>9} decoded {:>3} crashes",
            t.name,
            report.cases,
            report.decoded,
            report.crashes.len()
        );
        for crash in &report.crashes {
            match keep_crash(&args.corpus, t, crash) {
                Ok(path) => println!("  crash kept in {}: {}", path.display(), crash.message),
                Err(error) => println!("  crash (not kept: {error}): {}", crash.message),
            }
        }
        cases += report.cases;
        crashes += report.crashes.len();
    }
    println!("total: {cases} cases, {crashes} crashes");
    if crashes == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
