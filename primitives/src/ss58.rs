//! SS58 addresses, exactly as Substrate encodes them, so `//Alice` has the same address here as
//! in every Substrate tool.
//!
//! ```text
//!   address = base58( prefix ‖ account_id(32) ‖ blake2b_512("SS58PRE" ‖ prefix ‖ account_id)[0..2] )
//! ```
//!
//! Agora uses the generic Substrate prefix 42 (one byte). Decoding accepts only that prefix, so
//! an address meant for another network is refused rather than silently reinterpreted.

use crate::AccountId;
use blake2::{Blake2b512, Digest};

/// The address prefix of Agora (Substrate's generic one).
pub const PREFIX: u8 = 42;

/// Why a string is not an Agora address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ss58Error {
    /// Not base58.
    #[error("'{0}' is not base58")]
    NotBase58(String),
    /// Wrong decoded length for a one-byte prefix and a 32-byte account.
    #[error("'{0}' does not decode to a 32-byte account with a one-byte prefix")]
    BadLength(String),
    /// Checksum mismatch.
    #[error("'{0}' has a bad checksum")]
    BadChecksum(String),
    /// A prefix other than 42.
    #[error("'{address}' has network prefix {prefix}, expected {PREFIX}")]
    WrongPrefix {
        /// The address as given.
        address: String,
        /// Its prefix.
        prefix: u8,
    },
}

fn checksum(body: &[u8]) -> [u8; 2] {
    let mut hasher = Blake2b512::new();
    hasher.update(b"SS58PRE");
    hasher.update(body);
    let digest = hasher.finalize();
    [digest[0], digest[1]]
}

/// The SS58 address of `account`.
pub fn encode(account: &AccountId) -> String {
    let mut bytes = Vec::with_capacity(35);
    bytes.push(PREFIX);
    bytes.extend_from_slice(&account.0);
    let sum = checksum(&bytes);
    bytes.extend_from_slice(&sum);
    bs58::encode(bytes).into_string()
}

/// Parses an SS58 address with prefix 42.
pub fn decode(address: &str) -> Result<AccountId, Ss58Error> {
    let bytes = bs58::decode(address)
        .into_vec()
        .map_err(|_| Ss58Error::NotBase58(address.to_owned()))?;
    if bytes.len() != 35 {
        return Err(Ss58Error::BadLength(address.to_owned()));
    }
    if checksum(&bytes[..33]) != bytes[33..] {
        return Err(Ss58Error::BadChecksum(address.to_owned()));
    }
    if bytes[0] != PREFIX {
        return Err(Ss58Error::WrongPrefix {
            address: address.to_owned(),
            prefix: bytes[0],
        });
    }
    let mut account = [0u8; 32];
    account.copy_from_slice(&bytes[1..33]);
    Ok(AccountId(account))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // The public key of Substrate's `//Alice` (sr25519), as every Substrate tool knows it.
    const ALICE: &str = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";

    #[test]
    fn alice_has_her_well_known_address() {
        let account = AccountId(hex::decode(ALICE).unwrap().try_into().unwrap());
        assert_eq!(
            encode(&account),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
        assert_eq!(
            decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"),
            Ok(account)
        );
    }

    #[test]
    fn bad_addresses_are_named() {
        let tampered = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ";
        assert_eq!(
            decode(tampered),
            Err(Ss58Error::BadChecksum(tampered.to_owned()))
        );
        assert!(matches!(decode("0OIl"), Err(Ss58Error::NotBase58(_))));
        assert!(matches!(decode("5Grwva"), Err(Ss58Error::BadLength(_))));
        // Polkadot's prefix 0 address of Alice.
        let polkadot = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5";
        assert!(matches!(
            decode(polkadot),
            Err(Ss58Error::WrongPrefix { prefix: 0, .. })
        ));
    }
}
