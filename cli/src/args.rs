//! Argument types shared by several commands: the clap side of library types (the library
//! itself knows nothing of clap).

use std::path::PathBuf;

use agora_client::keys::{KeyError, MnemonicWords, Scheme, Signer};
use agora_client::offers::OfferTerms;
use agora_engine::Settings;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::ValueEnum;
use pallet_market::Energy;

/// `--scheme sr25519|ed25519`, parsed into the library's [`Scheme`].
pub fn scheme_parser() -> impl TypedValueParser<Value = Scheme> {
    PossibleValuesParser::new(["sr25519", "ed25519"]).try_map(|text| text.parse::<Scheme>())
}

/// `--words 12|24`, parsed into the library's [`MnemonicWords`].
pub fn words_parser() -> impl TypedValueParser<Value = MnemonicWords> {
    PossibleValuesParser::new(["12", "24"]).try_map(|text| {
        let count: usize = text
            .parse()
            .map_err(|_| format!("'{text}' is not a number"))?;
        MnemonicWords::try_from(count).map_err(|e| e.to_string())
    })
}

/// Energy source on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnergyArg {
    /// Renewable sources.
    Renewable,
    /// The grid mix.
    Grid,
}

impl From<EnergyArg> for Energy {
    fn from(arg: EnergyArg) -> Energy {
        match arg {
            EnergyArg::Renewable => Energy::Renewable,
            EnergyArg::Grid => Energy::Grid,
        }
    }
}

/// What a job is, as `job run-local` and `job submit` take it.
#[derive(Debug, Clone, clap::Args)]
pub struct JobArgs {
    /// The job module (`.wasm`), e.g. jobs/dist/mlp.wasm.
    #[arg(long, value_name = "PATH")]
    pub module: PathBuf,
    /// The dataset: CSV with a header row, numeric features and a last column `label`.
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Job params as a JSON object, or @FILE to read them from a file.
    #[arg(long, value_name = "JSON", default_value = "{}")]
    pub params: String,
    /// Training steps (default: what the params plan, epochs × batches per epoch).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: Option<u64>,
    /// Steps per segment (the unit of the trace, checkpoints and spot checks). Default: the
    /// length that makes the job and its spot checks cheapest together, measured from the job
    /// (the same on every machine; docs/verification.md).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u32).range(1..))]
    pub segment: Option<u32>,
    /// The job seed (split, shuffles, initial weights).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Directory of the compiled-module cache.
    #[arg(long, value_name = "DIR", env = "AGORA_MODULE_CACHE")]
    pub cache_dir: Option<PathBuf>,
}

impl JobArgs {
    /// Engine settings with this module cache (default `~/.cache/agora/modules`).
    pub fn settings(&self) -> Settings {
        Settings::with_cache_dir(
            self.cache_dir
                .clone()
                .or_else(agora_client::files::default_module_cache_dir),
        )
    }
}

/// The key that signs a command's transaction: `--key SURI` or `--key-file PATH`, and
/// `[--scheme sr25519|ed25519]`.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyArgs {
    /// SURI of the signing account (//Alice, a mnemonic[//path][///password], 0x seed). Visible
    /// in `ps` and shell history: for anything but dev keys use --key-file.
    #[arg(
        long,
        value_name = "SURI",
        required_unless_present = "key_file",
        conflicts_with = "key_file"
    )]
    pub key: Option<String>,
    /// A file holding the signing account's SURI, readable by its owner only (mode 0600; `agora
    /// key generate --out PATH` writes one).
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Signature scheme of the key.
    #[arg(long, value_parser = scheme_parser(), default_value = "sr25519")]
    pub scheme: Scheme,
}

impl KeyArgs {
    /// The signer the arguments name.
    pub fn signer(&self) -> Result<Signer, KeyError> {
        Signer::from_suri(&self.suri()?, self.scheme)
    }

    /// The SURI the arguments name (read from `--key-file` if that is given).
    pub fn suri(&self) -> Result<String, KeyError> {
        agora_primitives::secret::suri_from(self.key.as_deref(), self.key_file.as_deref())?
            // clap requires one of the two.
            .ok_or_else(|| KeyError::KeyFile {
                path: String::new(),
                reason: "neither --key nor --key-file was given".into(),
            })
    }
}

/// Where an offer's machines are and what it stakes per job, as `offer post` and
/// `worker run` take them.
#[derive(Debug, Clone, clap::Args)]
pub struct OfferSiteArgs {
    /// Region of the machines, e.g. eu-west.
    #[arg(long, value_name = "REGION", default_value = "local")]
    pub region: String,
    /// Energy source.
    #[arg(long, value_enum, default_value = "renewable")]
    pub energy: EnergyArg,
    /// Stake committed per job taken (slashed if the job's deadline is missed), in AGR.
    #[arg(long, value_name = "AGR", default_value = "10")]
    pub collateral: String,
}

impl OfferSiteArgs {
    /// The terms with this site, `price` and `capacity`, lasting `expires_in` blocks.
    pub fn terms(&self, price: &str, capacity: &str, expires_in: u64) -> OfferTerms {
        OfferTerms {
            price: price.to_owned(),
            capacity: capacity.to_owned(),
            region: self.region.clone(),
            energy: self.energy.into(),
            collateral: self.collateral.clone(),
            expires_in,
        }
    }
}
