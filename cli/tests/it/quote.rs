//! `agora job quote` against the run it quotes: the training fuel measured on the first segments
//! and extrapolated lands within 10 % of what the whole run's segments use (the bill), and the suggested `--max-fuel`
//! covers the run. Without a node the quote still answers, saying why the market is missing.

use serde_json::Value;

/// The example MLP for several epochs: ~90 steps, of which the quote measures 30.
const JOB: [&str; 6] = [
    "--module",
    concat!(env!("CARGO_MANIFEST_DIR"), "/../jobs/dist/mlp.wasm"),
    "--data",
    concat!(env!("CARGO_MANIFEST_DIR"), "/../datasets/digits.csv"),
    "--params",
    r#"{"hidden":[32],"epochs":4,"batch_size":64}"#,
];

fn mfuel(value: &Value) -> f64 {
    value.as_str().unwrap().parse().unwrap()
}

#[test]
fn a_quote_lands_within_ten_percent_of_the_run_and_its_suggestion_covers_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let segments = ["--segment", "10", "--seed", "3"];
    // No node listens on port 1: the quote is local only.
    let offline = ["--rpc", "http://127.0.0.1:1", "--output", "json"];
    let quote = crate::stdout_json(&crate::agora(
        &[&offline[..], &["job", "quote"], &JOB, &segments].concat(),
    ));
    let run = crate::stdout_json(&crate::agora(
        &[
            &[
                "--output",
                "json",
                "job",
                "run-local",
                "--out",
                out.to_str().unwrap(),
            ][..],
            &JOB,
            &segments,
        ]
        .concat(),
    ));
    // What the worker bills, and the budget `--max-fuel` sets: the segments' fuel (Mfuel).
    let actual = mfuel(&run["fuel"]["training"]);
    let estimate = mfuel(&quote["fuel"]["estimate"]);
    let error = (estimate - actual).abs() / actual;
    eprintln!(
        "quote {estimate} Mfuel, run {actual} Mfuel, error {:.2} %",
        error * 100.0
    );
    assert!(error <= 0.10, "quote {quote}\nrun {run}");
    assert!(mfuel(&quote["suggested_max_fuel"]) >= actual, "{quote}");
    assert_eq!(quote["fuel"]["steps"], run["steps"]);
    assert!(
        quote["fuel"]["sampled_steps"].as_u64().unwrap() < run["steps"].as_u64().unwrap() / 2,
        "the quote measured most of the job: {quote}"
    );
    assert!(quote["market"].is_null());
    assert!(
        quote["market_unavailable"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:1"),
        "{quote}"
    );
}
