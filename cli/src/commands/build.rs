//! `agora job build [DIR] [--package P]… [--check]`: build job crates into Wasm modules,
//! reproducibly — the same bytes from the same source on any machine with the pinned toolchain.
//! `scripts/build-jobs.sh` builds Agora's own jobs with this command.
//!
//! How (docs/job-abi.md, "Reproducible builds"):
//! 1. **Stage.** The crate or workspace in `DIR` (its `Cargo.toml`, `Cargo.lock` and every
//!    directory but `target`, `dist` and hidden ones) is copied to a fixed staging directory
//!    (`$AGORA_JOBS_STAGE_DIR`, default `~/.cache/agora/jobs-src`), under a lock. A crate made by
//!    `agora job new` depends on the SDK by an absolute path; the SDK is staged beside it as
//!    `sdk/` and the staged manifest points there. The remapped source path and the linker path
//!    are part of every compiled unit's fingerprint, so building from one fixed place is what
//!    lets every job share one compiled burn (`$AGORA_JOBS_TARGET_DIR`, default
//!    `~/.cache/agora/jobs-target`) instead of recompiling it (~10 minutes) per checkout.
//! 2. **Build** `cargo build --release --target wasm32-unknown-unknown` (`--locked` with
//!    `--check`) with `+simd128`, every source path remapped (`/agora/jobs`, `/cargo`,
//!    `/target`), `CONST_RANDOM_SEED` fixed for crates that bake compile-time randomness into
//!    their code, `RUSTFLAGS` cleared, and a linker wrapper (`scripts/wasm-link.sh`, compiled
//!    into this binary) that keeps only the ABI's `agora_*` exports so wasm-bindgen's glue and
//!    its imports are collected away (Job ABI v1 imports nothing).
//! 3. **Deliver** `DIR/dist/NAME.wasm` (`NAME` is the package name without an `agora-job-`
//!    prefix). With `--check` the job's own crates and the SDK are recompiled (dependencies stay
//!    cached) and the result must equal the existing `dist/NAME.wasm` byte for byte.

use std::path::{Path, PathBuf};
use std::process::Command;

use agora_primitives::Hash;
use serde::Serialize;

use crate::cli::CliError;
use crate::commands::io_error;

/// The linker wrapper, staged beside the sources.
const LINKER: &str = include_str!("../../../scripts/wasm-link.sh");
/// Fixed for crates that derive constants from it at compile time.
const CONST_RANDOM_SEED: &str = "agora-jobs-v1";
const TARGET: &str = "wasm32-unknown-unknown";

/// `agora job build` arguments.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The job crate (or a workspace of job crates).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// The packages to build (repeatable). Default: the crate in `DIR`.
    #[arg(long = "package", short = 'p', value_name = "NAME")]
    pub packages: Vec<String>,
    /// Rebuild from source and fail unless the bytes equal `DIR/dist/NAME.wasm`.
    #[arg(long)]
    pub check: bool,
}

/// One built module.
#[derive(Debug, Serialize)]
pub struct BuiltModule {
    /// The package.
    pub package: String,
    /// Where the module is (`DIR/dist/NAME.wasm`).
    pub path: PathBuf,
    /// Its size, bytes.
    pub bytes: usize,
    /// blake3 of the bytes: the module hash the chain and `run-local` show.
    pub module_hash: Hash,
    /// With `--check`: the rebuilt bytes equal the existing file.
    pub reproduced: Option<bool>,
}

/// What `agora job build` did.
#[derive(Debug, Serialize)]
pub struct BuildReport {
    /// The modules, in the order asked.
    pub modules: Vec<BuiltModule>,
}

impl BuildReport {
    /// Human-readable report.
    pub fn text(&self) -> String {
        self.modules
            .iter()
            .map(|m| {
                let verdict = match m.reproduced {
                    None => String::new(),
                    Some(true) => " — reproduces the checked-in module".into(),
                    Some(false) => " — DIFFERS from the checked-in module".into(),
                };
                format!(
                    "{}: {} ({} bytes, module hash {}){verdict}\n",
                    m.package,
                    m.path.display(),
                    m.bytes,
                    m.module_hash
                )
            })
            .collect()
    }
}

/// `$variable` if set, else `~/.cache/agora/<default>`.
fn cache_dir(variable: &str, default: &str) -> Result<PathBuf, CliError> {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .or_else(|| agora_client::files::cache_dir(default))
        .ok_or_else(|| CliError::InvalidArgument(format!("neither ${variable} nor $HOME is set")))
}

/// Copy a directory tree (files and directories only; symlinks are refused).
fn copy_tree(from: &Path, to: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(to).map_err(|e| io_error("create", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io_error("read", from, e))? {
        let entry = entry.map_err(|e| io_error("read", from, e))?;
        let kind = entry
            .file_type()
            .map_err(|e| io_error("read", &entry.path(), e))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map_err(|e| io_error("copy", &entry.path(), e))?;
        } else {
            return Err(CliError::InvalidArgument(format!(
                "{} is neither a file nor a directory; a job's sources must be plain files",
                entry.path().display()
            )));
        }
    }
    Ok(())
}

/// The SDK path of a manifest's `agora-job-sdk = { path = "…" }` line.
fn sdk_path(manifest: &str) -> Option<&str> {
    manifest
        .lines()
        .find_map(|line| line.trim().strip_prefix("agora-job-sdk = { path = \""))
        .and_then(|rest| rest.split('"').next())
}

/// Stage `dir` into `stage` (emptied first); returns the package built when none was named.
fn stage_sources(dir: &Path, stage: &Path) -> Result<Option<String>, CliError> {
    let manifest_path = dir.join("Cargo.toml");
    let mut manifest =
        std::fs::read_to_string(&manifest_path).map_err(|e| io_error("read", &manifest_path, e))?;
    if stage.exists() {
        std::fs::remove_dir_all(stage).map_err(|e| io_error("empty", stage, e))?;
    }
    std::fs::create_dir_all(stage).map_err(|e| io_error("create", stage, e))?;
    for entry in std::fs::read_dir(dir).map_err(|e| io_error("read", dir, e))? {
        let entry = entry.map_err(|e| io_error("read", dir, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && !matches!(name.as_ref(), "target" | "dist") && !name.starts_with('.') {
            copy_tree(&entry.path(), &stage.join(name.as_ref()))?;
        } else if name == "Cargo.lock" {
            std::fs::copy(entry.path(), stage.join("Cargo.lock"))
                .map_err(|e| io_error("copy", &entry.path(), e))?;
        }
    }
    // A crate from `agora job new`: its SDK comes along and the staged manifest points at it.
    if let Some(sdk) = sdk_path(&manifest).filter(|p| Path::new(p).is_absolute()) {
        copy_tree(Path::new(sdk), &stage.join("sdk"))?;
        manifest = manifest.replacen(
            &format!("agora-job-sdk = {{ path = \"{sdk}\" }}"),
            "agora-job-sdk = { path = \"sdk\" }",
            1,
        );
    }
    std::fs::write(stage.join("Cargo.toml"), &manifest)
        .map_err(|e| io_error("write", &stage.join("Cargo.toml"), e))?;
    let linker = stage.join("wasm-link.sh");
    std::fs::write(&linker, LINKER).map_err(|e| io_error("write", &linker, e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&linker, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| io_error("make executable", &linker, e))?;
    }
    // A single crate (not a workspace of jobs) names its own package.
    let package = manifest
        .split("[package]")
        .nth(1)
        .and_then(|section| {
            section
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = \""))
        })
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned);
    Ok(package)
}

/// `cargo` in the staging directory with the pinned build environment.
fn cargo(stage: &Path, target_dir: &Path, args: &[&str]) -> Result<(), CliError> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
        .unwrap_or_default();
    let rustflags = format!(
        "-C target-feature=+simd128 --remap-path-prefix={}=/agora/jobs --remap-path-prefix={}=/cargo --remap-path-prefix={}=/target",
        stage.display(),
        cargo_home.display(),
        target_dir.display()
    );
    let status = Command::new("cargo")
        .args(args)
        .current_dir(stage)
        .env("CARGO_TARGET_DIR", target_dir)
        .env("CONST_RANDOM_SEED", CONST_RANDOM_SEED)
        .env(
            "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER",
            stage.join("wasm-link.sh"),
        )
        .env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS", rustflags)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .map_err(|e| CliError::InvalidArgument(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(CliError::InvalidJob(format!(
            "cargo {} failed ({status})",
            args.join(" ")
        )));
    }
    Ok(())
}

/// Build the job crate(s) in `args.dir`.
pub fn run(args: &BuildArgs) -> Result<BuildReport, CliError> {
    let stage = cache_dir("AGORA_JOBS_STAGE_DIR", "jobs-src")?;
    let target_dir = cache_dir("AGORA_JOBS_TARGET_DIR", "jobs-target")?;
    if let Some(parent) = stage.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_error("create", parent, e))?;
    }
    // One build at a time uses the staging directory.
    let lock_path = stage.with_extension("lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| io_error("create", &lock_path, e))?;
    lock.lock().map_err(|e| io_error("lock", &lock_path, e))?;
    let own = stage_sources(&args.dir, &stage)?;
    let packages = match (&args.packages[..], own) {
        ([], Some(own)) => vec![own],
        ([], None) => {
            return Err(CliError::InvalidArgument(format!(
                "{} is a workspace: name the jobs to build with --package",
                args.dir.display()
            )))
        }
        (named, _) => named.to_vec(),
    };
    let dist = args.dir.join("dist");
    std::fs::create_dir_all(&dist).map_err(|e| io_error("create", &dist, e))?;
    let mut modules = Vec::with_capacity(packages.len());
    for package in &packages {
        modules.push(build_one(args, &stage, &target_dir, &dist, package)?);
    }
    let differ: Vec<String> = modules
        .iter()
        .filter(|m| m.reproduced == Some(false))
        .map(|m| m.path.display().to_string())
        .collect();
    if !differ.is_empty() {
        return Err(CliError::InvalidJob(format!(
            "built from source, {} differ{} from the checked-in bytes",
            differ.join(", "),
            if differ.len() == 1 { "s" } else { "" }
        )));
    }
    // A new crate's first build writes its lock file; keep it with the sources.
    if !args.check {
        let staged_lock = stage.join("Cargo.lock");
        std::fs::copy(&staged_lock, args.dir.join("Cargo.lock"))
            .map_err(|e| io_error("copy", &staged_lock, e))?;
    }
    Ok(BuildReport { modules })
}

fn build_one(
    args: &BuildArgs,
    stage: &Path,
    target_dir: &Path,
    dist: &Path,
    package: &str,
) -> Result<BuiltModule, CliError> {
    let artifact = target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", package.replace('-', "_")));
    if args.check {
        // Force the job's own crates to compile again (dependencies stay cached), and make sure
        // they did: comparing a stale artifact with itself would prove nothing.
        let clean = [
            "clean",
            "--release",
            "--target",
            TARGET,
            "-p",
            package,
            "-p",
            "agora-job-sdk",
        ];
        cargo(stage, target_dir, &clean)?;
        if artifact.exists() {
            return Err(CliError::InvalidJob(format!(
                "{} survived cargo clean",
                artifact.display()
            )));
        }
    }
    let mut build = vec!["build", "--release", "--target", TARGET, "-p", package];
    if args.check {
        build.push("--locked");
    }
    cargo(stage, target_dir, &build)?;
    let bytes = std::fs::read(&artifact).map_err(|e| io_error("read", &artifact, e))?;
    let name = package.strip_prefix("agora-job-").unwrap_or(package);
    let path = dist.join(format!("{name}.wasm"));
    let reproduced = if args.check {
        Some(std::fs::read(&path).is_ok_and(|existing| existing == bytes))
    } else {
        std::fs::write(&path, &bytes).map_err(|e| io_error("write", &path, e))?;
        None
    };
    Ok(BuiltModule {
        package: package.to_owned(),
        path,
        bytes: bytes.len(),
        module_hash: Hash::of(&bytes),
        reproduced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_path_is_read_from_the_manifest() {
        let manifest = "[workspace.dependencies]\nagora-job-sdk = { path = \"/home/a/agora/jobs/sdk\" }\nburn = \"1\"\n";
        assert_eq!(sdk_path(manifest), Some("/home/a/agora/jobs/sdk"));
        assert_eq!(sdk_path("agora-job-sdk = { path = \"sdk\" }"), Some("sdk"));
        assert_eq!(sdk_path("[package]\nname = \"x\"\n"), None);
    }
}
