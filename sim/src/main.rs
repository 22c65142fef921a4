//! `agora-sim economics --seeds N [--blocks B] [--first-seed S] [--verifiers V]
//! [--output json|text]`: see the crate doc; `--verifiers V` has every bid ask for V verifiers
//! per sampled segment (`BidTerms::assurance_verifiers`). `scripts/sim.sh economics …` runs it in a release build.

use std::process::ExitCode;

fn usage() -> &'static str {
    "usage: agora-sim economics --seeds N [--blocks B] [--first-seed S] [--verifiers V] [--output json|text]"
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok((config, json)) => {
            let report = agora_sim::economics(&config);
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(error) => {
                        eprintln!("error: cannot write the report: {error}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print!("{}", report.table());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}\n{}", usage());
            ExitCode::from(2)
        }
    }
}

/// The run's config and whether to print JSON.
fn parse(args: &[String]) -> Result<(agora_sim::Config, bool), String> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        Some("economics") => {}
        Some(other) => return Err(format!("unknown simulation {other:?}")),
        None => return Err("which simulation? (economics)".to_owned()),
    }
    let mut config = agora_sim::Config {
        seeds: 10,
        first_seed: 0,
        blocks: 2_000,
        verifiers_per_segment: 0,
    };
    let mut json = false;
    while let Some(flag) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .cloned()
        };
        let number = |name: &str, text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{name} {text:?}: not a whole number"))
        };
        match flag.as_str() {
            "--seeds" => config.seeds = number("--seeds", value("--seeds")?)?,
            "--blocks" => config.blocks = number("--blocks", value("--blocks")?)?,
            "--first-seed" => config.first_seed = number("--first-seed", value("--first-seed")?)?,
            "--verifiers" => {
                let text = value("--verifiers")?;
                config.verifiers_per_segment = number("--verifiers", text.clone())?
                    .try_into()
                    .map_err(|_| format!("--verifiers {text:?}: too large"))?;
            }
            "--output" => {
                json = match value("--output")?.as_str() {
                    "json" => true,
                    "text" => false,
                    other => return Err(format!("--output {other:?}: json or text")),
                }
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if config.seeds == 0 {
        return Err("--seeds 0: at least one seed".to_owned());
    }
    if config.blocks <= agora_sim::DRAIN_BLOCKS {
        return Err(format!(
            "--blocks {}: more than the {} blocks left for jobs to end",
            config.blocks,
            agora_sim::DRAIN_BLOCKS
        ));
    }
    Ok((config, json))
}
