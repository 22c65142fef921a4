//! `agora job new NAME --template mlp|cnn|lm [--dir DIR] [--sdk DIR]`: scaffold a job crate of
//! one's own, outside the Agora repository.
//!
//! The crate is a Cargo workspace of one package, `DIR/NAME`:
//! - `Cargo.toml` — the package (a `cdylib` for wasm32 and an `rlib` for native tests) and a
//!   workspace root carrying the pins and the release profile of Agora's own `jobs/` workspace
//!   (burn 0.22.1 with `ndarray` + `autodiff`, one codegen unit, LTO, `panic = "abort"`), and
//!   the SDK as a path dependency;
//! - `Cargo.lock` — Agora's `jobs/Cargo.lock`, so the new job resolves to the exact versions the
//!   shipped jobs are built and tested with (the first build prunes what it does not use);
//! - `src/lib.rs` — the source of the shipped job the template names (`jobs/mlp`, `jobs/cnn`,
//!   `jobs/charlm`), compiled into this binary: a template that is tested with every build of
//!   Agora, not a sketch that may have rotted.
//!
//! The SDK is found at `--sdk`, else `$AGORA_JOB_SDK`, else in the Agora source tree this
//! binary was built from. `agora job build` stages the crate and the SDK together, so where
//! either lives never reaches the module's bytes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::CliError;
use crate::commands::io_error;

/// The shipped job each template copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    /// A multi-layer perceptron for a CSV table (`jobs/mlp`).
    Mlp,
    /// A convolutional network for images given as CSV rows (`jobs/cnn`).
    Cnn,
    /// A decoder-only transformer language model over a UTF-8 text (`jobs/charlm`).
    Lm,
}

impl Template {
    /// The name `--template` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mlp => "mlp",
            Self::Cnn => "cnn",
            Self::Lm => "lm",
        }
    }

    /// The shipped job's source and its directory name under `jobs/`.
    fn source(self) -> (&'static str, &'static str) {
        match self {
            Self::Mlp => (include_str!("../../../jobs/mlp/src/lib.rs"), "mlp"),
            Self::Cnn => (include_str!("../../../jobs/cnn/src/lib.rs"), "cnn"),
            Self::Lm => (include_str!("../../../jobs/charlm/src/lib.rs"), "charlm"),
        }
    }
}

/// `agora job new` arguments.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The job's name: its crate name and, built, `dist/NAME.wasm`. Lowercase letters, digits,
    /// `-` and `_`, starting with a letter.
    pub name: String,
    /// The shipped job to start from.
    #[arg(long, value_enum)]
    pub template: Template,
    /// Where to create the `NAME` directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// The job SDK's source directory (`jobs/sdk` of an Agora checkout). Default:
    /// `$AGORA_JOB_SDK`, else the source tree this `agora` was built from.
    #[arg(long, value_name = "DIR")]
    pub sdk: Option<PathBuf>,
}

/// What `agora job new` made.
#[derive(Debug, Serialize)]
pub struct NewReport {
    /// The crate's directory.
    pub dir: PathBuf,
    /// The template it started from.
    pub template: Template,
    /// The SDK it depends on.
    pub sdk: PathBuf,
    /// The files written, relative to `dir`.
    pub files: Vec<&'static str>,
}

impl NewReport {
    /// Human-readable report.
    pub fn text(&self) -> String {
        format!(
            "created {} from the {} template (SDK {})\nnext: agora job build {}\n      agora job run-local --module {}/dist/{}.wasm --data …\n",
            self.dir.display(),
            self.template.name(),
            self.sdk.display(),
            self.dir.display(),
            self.dir.display(),
            self.dir.file_name().unwrap_or_default().to_string_lossy(),
        )
    }
}

/// Longest job name accepted.
const MAX_NAME: usize = 64;

/// Check a job name: it becomes a crate name and a file name.
pub fn check_name(name: &str) -> Result<(), CliError> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !starts_with_letter || !rest_ok || name.len() > MAX_NAME {
        return Err(CliError::InvalidArgument(format!(
            "job name '{name}' must start with a lowercase letter and hold only lowercase \
             letters, digits, '-' and '_' (at most {MAX_NAME})"
        )));
    }
    Ok(())
}

/// The SDK directory: the flag, the environment, or the source tree of this build.
fn find_sdk(flag: Option<&Path>) -> Result<PathBuf, CliError> {
    let (candidate, from) = match (flag, std::env::var_os("AGORA_JOB_SDK")) {
        (Some(path), _) => (path.to_path_buf(), "--sdk"),
        (None, Some(path)) => (PathBuf::from(path), "$AGORA_JOB_SDK"),
        (None, None) => (
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../jobs/sdk"),
            "the source tree this agora was built from",
        ),
    };
    let manifest = candidate.join("Cargo.toml");
    let is_sdk = std::fs::read_to_string(&manifest)
        .is_ok_and(|text| text.contains("name = \"agora-job-sdk\""));
    if !is_sdk {
        return Err(CliError::InvalidArgument(format!(
            "{} (from {from}) is not the job SDK's source directory (no agora-job-sdk \
             Cargo.toml); pass --sdk DIR, the jobs/sdk directory of an Agora checkout",
            candidate.display()
        )));
    }
    candidate
        .canonicalize()
        .map_err(|e| io_error("resolve", &candidate, e))
}

/// The crate's `Cargo.toml`. The pins and the release profile must stay those of
/// `jobs/Cargo.toml` (a unit test compares them).
fn manifest(name: &str, sdk: &Path) -> String {
    format!(
        r#"# Made by `agora job new`. Build with `agora job build`, which stages this crate and the SDK
# together and builds them with Agora's pinned settings (docs/write-a-job.md).
[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lints]
workspace = true

[lib]
crate-type = ["cdylib", "rlib"]

[dependencies]
agora-job-sdk.workspace = true
burn.workspace = true
serde.workspace = true
serde_json.workspace = true
libm.workspace = true

[workspace]
resolver = "2"

[workspace.package]
version = "0.1.0"
edition = "2021"
rust-version = "1.95"
license = "Apache-2.0"
publish = false

[workspace.dependencies]
agora-job-sdk = {{ path = "{sdk}" }}
burn = {{ version = "=0.22.1", default-features = false, features = ["ndarray", "autodiff"] }}
serde = {{ version = "1", default-features = false, features = ["derive", "alloc"] }}
serde_json = {{ version = "1", default-features = false, features = ["alloc"] }}
libm = "0.2"

[workspace.lints.rust]
missing_docs = "warn"
unused_must_use = "deny"

[profile.release]
opt-level = 3
lto = true
codegen-units = 1
panic = "abort"
debug = false
incremental = false

[profile.dev]
panic = "abort"
"#,
        sdk = sdk.display()
    )
}

/// The template's source with its heading and build line made the new job's.
fn source(template: Template, name: &str) -> String {
    let (text, shipped) = template.source();
    let heading = format!("//! # agora-job-{shipped}\n");
    let built = format!("Built to `jobs/dist/{shipped}.wasm` by `scripts/build-jobs.sh`.");
    text.replacen(
        &heading,
        &format!("//! # {name}\n//!\n//! Made with `agora job new --template {}` from Agora's `jobs/{shipped}`.\n", template.name()),
        1,
    )
    .replacen(&built, &format!("Built to `dist/{name}.wasm` by `agora job build`."), 1)
}

/// Create the crate.
pub fn run(args: &NewArgs) -> Result<NewReport, CliError> {
    check_name(&args.name)?;
    let sdk = find_sdk(args.sdk.as_deref())?;
    let dir = args.dir.join(&args.name);
    if dir.exists() {
        return Err(CliError::InvalidArgument(format!(
            "{} already exists; choose another name or --dir",
            dir.display()
        )));
    }
    let files: [(&'static str, String); 4] = [
        ("Cargo.toml", manifest(&args.name, &sdk)),
        (
            "Cargo.lock",
            include_str!("../../../jobs/Cargo.lock").to_string(),
        ),
        ("src/lib.rs", source(args.template, &args.name)),
        (".gitignore", "/target\n".to_string()),
    ];
    std::fs::create_dir_all(dir.join("src")).map_err(|e| io_error("create", &dir, e))?;
    for (path, text) in &files {
        let path = dir.join(path);
        std::fs::write(&path, text).map_err(|e| io_error("write", &path, e))?;
    }
    Ok(NewReport {
        dir,
        template: args.template,
        sdk,
        files: files.iter().map(|(path, _)| *path).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_cannot_be_crates_are_refused() {
        for bad in ["", "1x", "X", "a b", "a/b", "é", &"a".repeat(65)] {
            let error = check_name(bad).unwrap_err().to_string();
            assert!(error.contains(&format!("'{bad}'")), "{error}");
        }
        for good in ["x", "my-job", "lm_2"] {
            check_name(good).unwrap();
        }
    }

    #[test]
    fn the_manifest_keeps_the_pins_and_release_profile_of_the_jobs_workspace() {
        let jobs = include_str!("../../../jobs/Cargo.toml");
        let ours = manifest("x", Path::new("/sdk"));
        for prefix in ["burn = ", "serde = ", "serde_json = ", "libm = "] {
            let line = |text: &str| {
                text.lines()
                    .find(|l| l.starts_with(prefix))
                    .map(str::to_owned)
                    .unwrap_or_else(|| panic!("no {prefix} line"))
            };
            assert_eq!(line(&ours), line(jobs), "{prefix}");
        }
        let profile = |text: &str| {
            let start = text.find("[profile.release]").unwrap();
            text[start..].split("\n\n").next().unwrap().to_owned()
        };
        assert_eq!(profile(&ours), profile(jobs));
    }

    #[test]
    fn every_template_becomes_the_new_job_s_own() {
        for template in [Template::Mlp, Template::Cnn, Template::Lm] {
            let text = source(template, "x");
            assert!(text.starts_with("//! # x\n"), "{template:?}");
            assert!(
                text.contains("`dist/x.wasm` by `agora job build`"),
                "{template:?}"
            );
            assert!(!text.contains("scripts/build-jobs.sh"), "{template:?}");
        }
    }
}
