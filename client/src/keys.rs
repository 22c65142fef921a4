//! Account keys: SURIs, key generation, SS58 addresses and the [`Signer`] used for extrinsics.
//!
//! Everything is derived by sp-core exactly as Substrate does it, so a SURI gives the same key
//! here as in `subkey`, polkadot.js or any other Substrate tool:
//!
//! - `//Alice`, `//Alice//stash`, `/soft/1`: a derivation path applied to the public Substrate
//!   development phrase;
//! - `<12..24-word BIP-39 phrase>[//hard][/soft][///password]`;
//! - `0x<64 hex digits>[//hard][/soft]`: a raw 32-byte secret seed ("mini secret key").
//!
//! Two schemes are supported: sr25519 (the default) and ed25519. ed25519 only supports hard
//! (`//`) junctions. Addresses are SS58 with the generic Substrate prefix 42.
//!
//! Error messages name the offending value but never echo secrets: a mnemonic is shown as
//! `<N-word phrase>`, a long hex seed as `0x<N hex digits>` and a password as `///***`;
//! derivation paths such as `//Alice` are shown as written.

use serde::{Deserialize, Serialize};
use std::fmt;

use agora_primitives::secret::{self, redact_suri, split_suri, KeyFileError};
use std::str::FromStr;

use sp_core::crypto::{AccountId32, Ss58AddressFormat, Ss58Codec};
use sp_core::{ed25519, sr25519, Pair};

/// The SS58 address format of Agora: the generic Substrate prefix.
pub const SS58_PREFIX: u16 = 42;

/// A signature scheme of account keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Schnorrkel/Ristretto x25519; the default, as in Substrate.
    #[default]
    Sr25519,
    /// Ed25519 (hard derivation only).
    Ed25519,
}

impl Scheme {
    /// The scheme's lower-case name, as used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Sr25519 => "sr25519",
            Scheme::Ed25519 => "ed25519",
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scheme {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sr25519" => Ok(Scheme::Sr25519),
            "ed25519" => Ok(Scheme::Ed25519),
            _ => Err(KeyError::UnknownScheme(s.to_owned())),
        }
    }
}

/// Length of a generated BIP-39 mnemonic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MnemonicWords {
    /// 12 words, 128 bits of entropy (the Substrate default).
    #[default]
    Twelve,
    /// 24 words, 256 bits of entropy.
    TwentyFour,
}

impl MnemonicWords {
    /// The number of words.
    pub fn count(self) -> usize {
        match self {
            MnemonicWords::Twelve => 12,
            MnemonicWords::TwentyFour => 24,
        }
    }
}

impl TryFrom<usize> for MnemonicWords {
    type Error = KeyError;

    fn try_from(n: usize) -> Result<Self, Self::Error> {
        match n {
            12 => Ok(MnemonicWords::Twelve),
            24 => Ok(MnemonicWords::TwentyFour),
            _ => Err(KeyError::WordCount(n)),
        }
    }
}

/// Errors of key handling. Each renders as one sentence naming the offending value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// A SURI could not be turned into a key pair.
    #[error("'{shown}' is not a valid SURI: {reason}")]
    InvalidSuri {
        /// The SURI as given, with secret parts redacted.
        shown: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An address argument is neither an SS58 address, a hex public key nor a SURI.
    #[error(
        "'{shown}' is not a valid SS58 address, 0x-prefixed 32-byte public key or SURI: {reason}"
    )]
    InvalidAddress {
        /// The value as given, with secret parts redacted.
        shown: String,
        /// Why it was rejected.
        reason: String,
    },
    /// An unknown signature scheme name.
    #[error("'{0}' is not a known key scheme: expected sr25519 or ed25519")]
    UnknownScheme(String),
    /// An unsupported mnemonic length was requested.
    #[error("'{0}' is not a supported mnemonic length: expected 12 or 24 words")]
    WordCount(usize),
    /// The system random number generator failed while generating a mnemonic.
    #[error("could not generate a {words}-word mnemonic: {reason}")]
    Generation {
        /// Requested number of words.
        words: usize,
        /// The generator's error.
        reason: String,
    },
    /// A key file could not be used; the message names the file and what to do.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// A key pair able to sign extrinsics.
///
/// `Debug` shows the scheme and the address only, never secret material.
// An ed25519 pair is ~480 bytes against sr25519's ~256; a signer is made once per process, so
// the plain variants are kept for easy matching rather than boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Clone)]
pub enum Signer {
    /// An sr25519 key pair.
    Sr25519(sr25519::Pair),
    /// An ed25519 key pair.
    Ed25519(ed25519::Pair),
}

impl Signer {
    /// Derives the key pair of `suri` under `scheme`.
    pub fn from_suri(suri: &str, scheme: Scheme) -> Result<Self, KeyError> {
        inspect_suri(suri, scheme).map(|k| k.signer)
    }

    /// The signature scheme of this key.
    pub fn scheme(&self) -> Scheme {
        match self {
            Signer::Sr25519(_) => Scheme::Sr25519,
            Signer::Ed25519(_) => Scheme::Ed25519,
        }
    }

    /// The 32-byte public key, which is also the account id.
    pub fn public(&self) -> [u8; 32] {
        match self {
            Signer::Sr25519(pair) => pair.public().0,
            Signer::Ed25519(pair) => pair.public().0,
        }
    }

    /// The account id of this key.
    pub fn account_id(&self) -> AccountId32 {
        AccountId32::new(self.public())
    }

    /// The SS58 address of this key (prefix 42).
    pub fn ss58_address(&self) -> String {
        ss58_address(&self.public())
    }

    /// Signs `message`. sr25519 signatures are randomised, ed25519 ones deterministic.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        match self {
            Signer::Sr25519(pair) => pair.sign(message).0,
            Signer::Ed25519(pair) => pair.sign(message).0,
        }
    }

    /// The account id of this key as the runtime types it.
    pub fn agora_account(&self) -> agora_primitives::AccountId {
        agora_primitives::AccountId(self.public())
    }
}

/// Signs extrinsics with whichever pair the wallet holds.
impl agora_runtime::extrinsic::ExtrinsicSigner for Signer {
    fn signer_account(&self) -> agora_primitives::AccountId {
        self.agora_account()
    }
    fn sign_payload(&self, message: &[u8]) -> agora_runtime::extrinsic::MultiSignature {
        match self {
            Signer::Sr25519(pair) => pair.sign_payload(message),
            Signer::Ed25519(pair) => pair.sign_payload(message),
        }
    }
}

/// Converts an sp-core account id (as [`parse_address`] returns) to the runtime's.
pub fn to_agora_account(account: &AccountId32) -> agora_primitives::AccountId {
    agora_primitives::AccountId(*<AccountId32 as AsRef<[u8; 32]>>::as_ref(account))
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({}, {})", self.scheme(), self.ss58_address())
    }
}

/// Checks `signature` of `message` by the `scheme` key `public`.
pub fn verify(scheme: Scheme, public: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    match scheme {
        Scheme::Sr25519 => sr25519::Pair::verify(
            &sr25519::Signature::from_raw(*signature),
            message,
            &sr25519::Public::from_raw(*public),
        ),
        Scheme::Ed25519 => ed25519::Pair::verify(
            &ed25519::Signature::from_raw(*signature),
            message,
            &ed25519::Public::from_raw(*public),
        ),
    }
}

/// A key pair derived from a SURI, with its secret seed when one exists.
#[derive(Debug, Clone)]
pub struct InspectedKey {
    /// The key pair.
    pub signer: Signer,
    /// The 32-byte secret seed the pair can be rebuilt from. `None` when the key is the result
    /// of a soft derivation (sr25519 only), which has no seed.
    pub secret_seed: Option<[u8; 32]>,
}

/// Derives the key of `suri` under `scheme`, keeping the secret seed when there is one.
pub fn inspect_suri(suri: &str, scheme: Scheme) -> Result<InspectedKey, KeyError> {
    let result = match scheme {
        Scheme::Sr25519 => sr25519::Pair::from_string_with_seed(suri, None)
            .map(|(pair, seed)| (Signer::Sr25519(pair), seed)),
        Scheme::Ed25519 => ed25519::Pair::from_string_with_seed(suri, None)
            .map(|(pair, seed)| (Signer::Ed25519(pair), seed)),
    };
    match result {
        Ok((signer, secret_seed)) => Ok(InspectedKey {
            signer,
            secret_seed,
        }),
        Err(err) => Err(KeyError::InvalidSuri {
            shown: redact_suri(suri),
            reason: suri_error_reason(suri, scheme, &err),
        }),
    }
}

/// A freshly generated key.
#[derive(Debug, Clone)]
pub struct GeneratedKey {
    /// The key pair.
    pub signer: Signer,
    /// The BIP-39 English mnemonic; `Signer::from_suri(phrase, scheme)` gives the key back.
    pub phrase: String,
    /// The 32-byte secret seed derived from the phrase (no password).
    pub secret_seed: [u8; 32],
}

/// Generates a key from a fresh random BIP-39 mnemonic of `words` words.
///
/// This is sp-core's `Pair::generate_with_phrase` (which only makes 12-word phrases) with a
/// choice of length: the phrase comes from the same `bip39` generator and the key from the
/// same `Pair::from_phrase`.
pub fn generate(scheme: Scheme, words: MnemonicWords) -> Result<GeneratedKey, KeyError> {
    let mnemonic = bip39::Mnemonic::generate(words.count()).map_err(|e| KeyError::Generation {
        words: words.count(),
        reason: e.to_string(),
    })?;
    let phrase = mnemonic.words().collect::<Vec<_>>().join(" ");
    let generated = match scheme {
        Scheme::Sr25519 => sr25519::Pair::from_phrase(&phrase, None)
            .map(|(pair, seed)| (Signer::Sr25519(pair), seed)),
        Scheme::Ed25519 => ed25519::Pair::from_phrase(&phrase, None)
            .map(|(pair, seed)| (Signer::Ed25519(pair), seed)),
    };
    let (signer, secret_seed) = generated.map_err(|e| KeyError::Generation {
        words: words.count(),
        reason: e.to_string(),
    })?;
    Ok(GeneratedKey {
        signer,
        phrase,
        secret_seed,
    })
}

/// The SS58 address (prefix 42) of a 32-byte public key or account id.
pub fn ss58_address(public: &[u8; 32]) -> String {
    AccountId32::new(*public).to_ss58check_with_version(Ss58AddressFormat::custom(SS58_PREFIX))
}

/// Parses an address argument: an SS58 address, a `0x`-prefixed 32-byte hex public key, or a
/// SURI whose `scheme` public key is taken.
///
/// SS58 addresses of any (non-reserved) network prefix are accepted: the prefix only changes
/// how the same 32-byte account id is rendered. A bare `0x` + 64 hex digits is read as a
/// public key, not as a secret seed; a seed SURI with a derivation path (`0x…//foo`) is a SURI.
pub fn parse_address(value: &str, scheme: Scheme) -> Result<AccountId32, KeyError> {
    let ss58_error = match AccountId32::from_ss58check_with_version(value) {
        Ok((account, _format)) => return Ok(account),
        Err(e) => e,
    };
    if let Some(digits) = value.strip_prefix("0x") {
        if digits.len() == 64 {
            return match hex::decode(digits) {
                Ok(bytes) => {
                    AccountId32::try_from(bytes.as_slice()).map_err(|()| KeyError::InvalidAddress {
                        shown: value.to_owned(),
                        reason: "a public key must be 32 bytes".to_owned(),
                    })
                }
                Err(e) => Err(KeyError::InvalidAddress {
                    shown: value.to_owned(),
                    reason: format!("the public key is not valid hex ({e})"),
                }),
            };
        }
    }
    match inspect_suri(value, scheme) {
        Ok(key) => Ok(key.signer.account_id()),
        Err(KeyError::InvalidSuri { shown, reason }) => {
            let looks_like_ss58 = !value.is_empty()
                && !value.starts_with("0x")
                && value.chars().all(|c| c.is_ascii_alphanumeric());
            let reason = if looks_like_ss58 {
                format!("as an SS58 address: {}", ss58_reason(&ss58_error))
            } else {
                format!("as a SURI: {reason}")
            };
            Err(KeyError::InvalidAddress { shown, reason })
        }
        Err(other) => Err(other),
    }
}

fn ss58_reason(err: &sp_core::crypto::PublicError) -> String {
    use sp_core::crypto::PublicError as E;
    match err {
        E::BadBase58 => "it contains characters that are not base-58".to_owned(),
        E::BadLength => "it has the wrong length for a 32-byte account".to_owned(),
        E::InvalidChecksum => "its checksum is wrong (a character is mistyped)".to_owned(),
        E::InvalidPrefix | E::UnknownSs58AddressFormat(_) | E::FormatNotAllowed => {
            "its network prefix is invalid or reserved".to_owned()
        }
        other => lowercase_first(&other.to_string()),
    }
}

fn lowercase_first(s: &str) -> String {
    let s = s.trim_end_matches('.');
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Explains, in one clause, why sp-core rejected `suri`.
fn suri_error_reason(
    suri: &str,
    scheme: Scheme,
    err: &sp_core::crypto::SecretStringError,
) -> String {
    use sp_core::crypto::SecretStringError as E;
    let (phrase, _path, _) = split_suri(suri);
    match err {
        E::InvalidFormat(_) => "it contains a character that is not allowed (a SURI is a BIP-39 \
             phrase or a 0x-prefixed hex seed, optionally followed by /soft or //hard junctions \
             and a ///password)"
            .to_owned(),
        E::InvalidSeed | E::InvalidSeedLength if phrase.starts_with("0x") => {
            hex_seed_reason(phrase)
        }
        E::InvalidPath => match scheme {
            Scheme::Ed25519 => {
                "ed25519 keys support only hard junctions (//), not soft ones (/)".to_owned()
            }
            Scheme::Sr25519 => "its derivation path is invalid".to_owned(),
        },
        E::InvalidPhrase | E::InvalidSeed | E::InvalidSeedLength | E::InvalidPassword => {
            if phrase.starts_with("0x") {
                hex_seed_reason(phrase)
            } else {
                phrase_reason(phrase)
            }
        }
    }
}

fn hex_seed_reason(phrase: &str) -> String {
    let digits = phrase.strip_prefix("0x").unwrap_or(phrase);
    match hex::decode(digits) {
        Err(_) => "the seed after 0x is not valid hex".to_owned(),
        Ok(bytes) if bytes.len() != 32 => format!(
            "a hex seed must be 32 bytes (64 hex digits), this one is {} bytes",
            bytes.len()
        ),
        Ok(_) => "the hex seed was rejected".to_owned(),
    }
}

fn phrase_reason(phrase: &str) -> String {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    if words.len() <= 1 {
        let hint = match words.first() {
            Some(word) if AccountId32::from_ss58check_with_version(word).is_ok() => {
                " (it is an SS58 address, which has no secret key)".to_owned()
            }
            Some(word) if word.chars().all(|c| c.is_ascii_alphabetic()) => {
                format!(" (did you mean //{word}?)")
            }
            _ => String::new(),
        };
        return format!(
            "expected a BIP-39 mnemonic, a 0x-prefixed 32-byte hex seed or a derivation path \
             such as //Alice{hint}"
        );
    }
    match bip39::Mnemonic::parse_in(bip39::Language::English, phrase) {
        Err(bip39::Error::BadWordCount(_) | bip39::Error::BadEntropyBitCount(_)) => {
            format!(
                "a BIP-39 phrase has 12, 15, 18, 21 or 24 words, this one has {}",
                words.len()
            )
        }
        Err(bip39::Error::UnknownWord(i)) => format!(
            "word {} of the phrase is not in the BIP-39 English word list",
            i.saturating_add(1)
        ),
        Err(bip39::Error::InvalidChecksum) => {
            "the phrase fails the BIP-39 checksum (a word is wrong or out of order)".to_owned()
        }
        Err(e) => format!("the phrase is not valid BIP-39 ({e})"),
        Ok(_) => "the phrase was rejected".to_owned(),
    }
}

/// Writes `suri` to a new key file, mode 0600 ([`secret::write_key_file`]).
pub fn write_key_file(path: &std::path::Path, suri: &str) -> Result<(), KeyError> {
    Ok(secret::write_key_file(path, suri)?)
}

impl From<KeyFileError> for KeyError {
    fn from(error: KeyFileError) -> Self {
        KeyError::KeyFile {
            path: error.path,
            reason: error.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ALICE_SR: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const BOB_SR: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";
    const ALICE_ED: &str = "5FA9nQDVg267DEd8m1ZypXLBnvN7SFxYwV7ndqSYGiN9TTpu";
    const DEV_PHRASE: &str =
        "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

    fn addr(suri: &str, scheme: Scheme) -> String {
        Signer::from_suri(suri, scheme).unwrap().ss58_address()
    }

    #[test]
    fn well_known_dev_accounts() {
        assert_eq!(addr("//Alice", Scheme::Sr25519), ALICE_SR);
        assert_eq!(addr("//Bob", Scheme::Sr25519), BOB_SR);
        assert_eq!(addr("//Alice", Scheme::Ed25519), ALICE_ED);
        assert_eq!(
            hex::encode(
                Signer::from_suri("//Alice", Scheme::Sr25519)
                    .unwrap()
                    .public()
            ),
            "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"
        );
        assert_eq!(
            hex::encode(
                Signer::from_suri("//Alice", Scheme::Ed25519)
                    .unwrap()
                    .public()
            ),
            "88dc3417d5058ec4b4503e0c12ea1a0a89be200fe98922423d4334014fa6b0ee"
        );
    }

    #[test]
    fn derivation_paths_and_phrases() {
        // //Alice//stash, the well-known stash account.
        assert_eq!(
            addr("//Alice//stash", Scheme::Sr25519),
            "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY"
        );
        // The explicit dev phrase equals the implicit one.
        assert_eq!(
            addr(&format!("{DEV_PHRASE}//Alice"), Scheme::Sr25519),
            ALICE_SR
        );
        // The bare dev phrase is the well-known DEV_ADDRESS.
        assert_eq!(
            addr(DEV_PHRASE, Scheme::Sr25519),
            "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"
        );
        // A password changes the key; soft junctions are supported for sr25519 only.
        assert_ne!(
            addr(&format!("{DEV_PHRASE}///secret"), Scheme::Sr25519),
            addr(DEV_PHRASE, Scheme::Sr25519)
        );
        assert_ne!(addr("//Alice/soft", Scheme::Sr25519), ALICE_SR);
        let err = Signer::from_suri("//Alice/soft", Scheme::Ed25519).unwrap_err();
        assert!(err.to_string().contains("only hard junctions"), "{err}");
    }

    #[test]
    fn hex_seed_round_trip() {
        let alice = inspect_suri("//Alice", Scheme::Sr25519).unwrap();
        let seed = alice.secret_seed.unwrap();
        assert_eq!(
            hex::encode(seed),
            "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a"
        );
        let again =
            Signer::from_suri(&format!("0x{}", hex::encode(seed)), Scheme::Sr25519).unwrap();
        assert_eq!(again.ss58_address(), ALICE_SR);
        // Soft derivation leaves no seed.
        assert!(inspect_suri("//Alice/soft", Scheme::Sr25519)
            .unwrap()
            .secret_seed
            .is_none());
    }

    #[test]
    fn generated_keys_round_trip() {
        for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
            for words in [MnemonicWords::Twelve, MnemonicWords::TwentyFour] {
                let key = generate(scheme, words).unwrap();
                assert_eq!(key.phrase.split(' ').count(), words.count());
                assert_eq!(key.signer.scheme(), scheme);
                let back = inspect_suri(&key.phrase, scheme).unwrap();
                assert_eq!(back.signer.public(), key.signer.public());
                assert_eq!(back.secret_seed, Some(key.secret_seed));
            }
        }
    }

    #[test]
    fn sign_and_verify() {
        for scheme in [Scheme::Sr25519, Scheme::Ed25519] {
            let signer = Signer::from_suri("//Alice", scheme).unwrap();
            let sig = signer.sign(b"payload");
            assert!(verify(scheme, &signer.public(), b"payload", &sig));
            assert!(!verify(scheme, &signer.public(), b"other", &sig));
            let bob = Signer::from_suri("//Bob", scheme).unwrap();
            assert!(!verify(scheme, &bob.public(), b"payload", &sig));
        }
    }

    #[test]
    fn addresses() {
        let alice = Signer::from_suri("//Alice", Scheme::Sr25519)
            .unwrap()
            .account_id();
        assert_eq!(parse_address(ALICE_SR, Scheme::Sr25519).unwrap(), alice);
        assert_eq!(parse_address("//Alice", Scheme::Sr25519).unwrap(), alice);
        let hex_key = format!("0x{}", hex::encode(alice.as_ref() as &[u8]));
        assert_eq!(parse_address(&hex_key, Scheme::Sr25519).unwrap(), alice);
        // The scheme only matters for SURIs.
        assert_eq!(parse_address(ALICE_SR, Scheme::Ed25519).unwrap(), alice);
        assert_eq!(
            ss58_address(&parse_address("//Alice", Scheme::Ed25519).unwrap().into()),
            ALICE_ED
        );
        // Polkadot (prefix 0) rendering of Alice is the same account.
        let polkadot = alice.to_ss58check_with_version(Ss58AddressFormat::custom(0));
        assert_eq!(parse_address(&polkadot, Scheme::Sr25519).unwrap(), alice);
    }

    #[test]
    fn address_errors_name_the_value() {
        let err = parse_address("5Gxyz", Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("'5Gxyz' is not a valid SS58 address"),
            "{err}"
        );
        // One mistyped character breaks the checksum.
        let typo = ALICE_SR.replacen("Grw", "Grx", 1);
        let err = parse_address(&typo, Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&typo) && err.contains("checksum"), "{err}");
        let err = parse_address("0xzz", Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'0xzz'"), "{err}");
        let bad_hex = format!("0x{}", "g".repeat(64));
        let err = parse_address(&bad_hex, Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid hex"), "{err}");
    }

    #[test]
    fn suri_errors_name_the_value_without_secrets() {
        let err = Signer::from_suri("Alice", Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("'Alice' is not a valid SURI:") && err.contains("//Alice?"),
            "{err}"
        );
        let err = Signer::from_suri("0x1234", Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'0x1234'") && err.contains("2 bytes"), "{err}");
        let err = Signer::from_suri("//Alice//", Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("'//Alice//' is not a valid SURI"), "{err}");

        // A mnemonic with one wrong word: named by position, not echoed.
        let typo = DEV_PHRASE.replace("lake", "lakes");
        let err = Signer::from_suri(&format!("{typo}//x///pw"), Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("'<12-word phrase>//x///***' is not a valid SURI"),
            "{err}"
        );
        assert!(err.contains("word 4"), "{err}");
        assert!(!err.contains("bottom") && !err.contains("pw"), "{err}");
        let swapped = DEV_PHRASE.replace("bottom drive", "drive bottom");
        let err = Signer::from_suri(&swapped, Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.contains("checksum"), "{err}");
        let err = Signer::from_suri("bottom drive obey", Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.contains("this one has 3"), "{err}");
        let long_seed = format!("0x{}", "1".repeat(63));
        let err = Signer::from_suri(&long_seed, Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("'0x<63 hex digits>'"), "{err}");
        let err = Signer::from_suri(ALICE_SR, Scheme::Sr25519)
            .unwrap_err()
            .to_string();
        assert!(err.contains("SS58 address"), "{err}");
    }

    #[test]
    fn scheme_names() {
        assert_eq!("ed25519".parse::<Scheme>().unwrap(), Scheme::Ed25519);
        assert_eq!(Scheme::default().to_string(), "sr25519");
        assert!("ecdsa"
            .parse::<Scheme>()
            .unwrap_err()
            .to_string()
            .contains("'ecdsa'"));
        assert_eq!(
            MnemonicWords::try_from(24).unwrap(),
            MnemonicWords::TwentyFour
        );
        assert!(MnemonicWords::try_from(15).is_err());
    }
}
