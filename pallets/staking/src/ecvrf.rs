//! # ECVRF-EDWARDS25519-SHA512-TAI
//!
//! The verifiable random function of RFC 9381 (§5, suite string `0x03`) whose key pair is an
//! ed25519 key pair (RFC 8032): a validator's consensus key is its VRF key too, so a
//! candidacy needs no second, beacon key (`docs/beacon.md`, *One key instead of two*).
//! Checked against the RFC's examples 16–18 (Appendix B, the TAI suite); the beacon of a
//! validator registered with its consensus key as its beacon key is this VRF
//! ([`crate::beacon`], since spec version 15).
//!
//! ## The rule
//!
//! With `SK` a 32-byte ed25519 seed, `h = SHA-512(SK)`, `x` the clamped integer of `h[..32]`
//! (RFC 8032 §5.1.5), `Y = x·B` and `PK` its 32-byte encoding (the ed25519 public key), and
//! every hash SHA-512:
//!
//! ```text
//! encode(PK, α)  = cofactor · decode(Hash(0x03 ‖ 0x01 ‖ PK ‖ α ‖ ctr ‖ 0x00)[..32])
//!                  for the first ctr = 0, 1, … (one byte) whose 32 bytes decode to a point
//! prove(SK, α):    H = encode(PK, α); Γ = x·H; k = Hash(h[32..] ‖ H) mod ℓ
//!                  c = Hash(0x03 ‖ 0x02 ‖ PK ‖ H ‖ Γ ‖ k·B ‖ k·H ‖ 0x00)[..16]
//!                  s = k + c·x mod ℓ;  π = Γ ‖ c ‖ s   (32 + 16 + 32 = 80 bytes)
//! verify(PK, α, π): Y decodes canonically and is not of small order; Γ decodes canonically;
//!                  s < ℓ; H = encode(PK, α); U = s·B − c·Y; V = s·H − c·Γ;
//!                  valid iff c = Hash(0x03 ‖ 0x02 ‖ PK ‖ H ‖ Γ ‖ U ‖ V ‖ 0x00)[..16]
//! output(π)      = β = Hash(0x03 ‖ 0x03 ‖ cofactor·Γ ‖ 0x00)   (64 bytes)
//! ```
//!
//! Points are encoded as RFC 8032 does; integers little-endian.
//!
//! ## Why it can carry a beacon
//!
//! For a public key of large order (what `verify` requires, and what
//! [`crate::validators::is_valid_consensus_key`] already requires of every consensus key) the
//! RFC's ECVRF has *full uniqueness*: for one key and one input, every proof that verifies
//! gives the same output β, so the holder of the key has no choice of output — the property
//! the beacon's bias analysis rests on (`docs/beacon.md`). Proofs are deterministic too (the
//! nonce is a hash of the secret and the input), and this module refuses the encodings the
//! RFC leaves open (a non-canonical Γ or `s`), so nobody without the key can re-encode a
//! proof (Γ's bytes are in the challenge). The key's holder can make other valid proofs
//! (another nonce; Γ plus a torsion point when 8 divides `c`): only β is unique, and β is
//! what the beacon takes.
//!
//! **One secret, two uses.** The nonce `Hash(h[32..] ‖ H)` is the one ed25519 signing uses for
//! the 32-byte message `H` (RFC 8032): a consensus key that signed an attacker's raw 32-byte
//! message equal to a future `H` under plain ed25519 would give its secret away. Nothing signs
//! such a message with it — every consensus signature is over a namespaced message longer than
//! 32 bytes, the beacon-key binding over 59 bytes and the key proof of a registration
//! (`crate::validators::key_ownership_message`) over 60 — and nothing may.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use sha2::{Digest, Sha512};

/// The suite's identifier in every hash (RFC 9381 §5.5).
pub const SUITE: u8 = 0x03;
/// Bytes of a proof: Γ, then `c` (16 bytes), then `s`.
pub const PROOF_LEN: usize = 80;
/// Bytes of an output β.
pub const OUTPUT_LEN: usize = 64;
/// Bytes of the challenge `c`.
const CHALLENGE_LEN: usize = 16;

/// A proof π = Γ ‖ c ‖ s.
pub type Proof = [u8; PROOF_LEN];
/// An output β.
pub type Output = [u8; OUTPUT_LEN];

/// The secret scalar `x` and the nonce key `h[32..]` of seed `seed` (RFC 8032 §5.1.5).
fn expand(seed: &[u8; 32]) -> (Scalar, [u8; 32]) {
    let hashed = Sha512::digest(seed);
    let mut lower = [0u8; 32];
    let mut upper = [0u8; 32];
    lower.copy_from_slice(&hashed[..32]);
    upper.copy_from_slice(&hashed[32..]);
    // `x` only multiplies points of order ℓ (B, and H after the cofactor), so reducing the
    // clamped integer mod ℓ changes no product.
    (Scalar::from_bytes_mod_order(clamp_integer(lower)), upper)
}

/// The ed25519 public key of `seed` (its VRF key).
pub fn public_key(seed: &[u8; 32]) -> [u8; 32] {
    EdwardsPoint::mul_base(&expand(seed).0).compress().0
}

/// `bytes` decoded as a point if they are its canonical encoding.
fn decode_canonical(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    let point = CompressedEdwardsY(*bytes).decompress()?;
    (point.compress().0 == *bytes).then_some(point)
}

/// RFC 9381 §5.4.1.1, try-and-increment: the point input `alpha` maps to under `public`.
/// `None` only if no counter value of 256 gives a point (probability 2⁻²⁵⁶).
fn encode_to_curve(public: &[u8; 32], alpha: &[u8]) -> Option<EdwardsPoint> {
    (0u8..=u8::MAX).find_map(|counter| {
        let hashed = Sha512::new()
            .chain_update([SUITE, 0x01])
            .chain_update(public)
            .chain_update(alpha)
            .chain_update([counter, 0x00])
            .finalize();
        let mut candidate = [0u8; 32];
        candidate.copy_from_slice(&hashed[..32]);
        CompressedEdwardsY(candidate)
            .decompress()
            .map(|point| point.mul_by_cofactor())
    })
}

/// RFC 9381 §5.4.3: the challenge over `points` (PK, H, Γ, U, V), truncated to 16 bytes.
fn challenge(points: [&[u8; 32]; 5]) -> [u8; CHALLENGE_LEN] {
    let mut hasher = Sha512::new().chain_update([SUITE, 0x02]);
    for point in points {
        hasher.update(point);
    }
    let hashed = hasher.chain_update([0x00]).finalize();
    let mut c = [0u8; CHALLENGE_LEN];
    c.copy_from_slice(&hashed[..CHALLENGE_LEN]);
    c
}

/// The challenge as a scalar (16 bytes, little-endian: below ℓ).
fn challenge_scalar(c: &[u8; CHALLENGE_LEN]) -> Scalar {
    let mut wide = [0u8; 32];
    wide[..CHALLENGE_LEN].copy_from_slice(c);
    Scalar::from_bytes_mod_order(wide)
}

/// RFC 9381 §5.2: the output of a proof whose Γ is `gamma`.
fn output_of(gamma: &EdwardsPoint) -> Output {
    let hashed = Sha512::new()
        .chain_update([SUITE, 0x03])
        .chain_update(gamma.mul_by_cofactor().compress().0)
        .chain_update([0x00])
        .finalize();
    let mut output = [0u8; OUTPUT_LEN];
    output.copy_from_slice(&hashed);
    output
}

/// RFC 9381 §5.1: the proof of `alpha` under the key of `seed`. `None` only where
/// [`encode_to_curve`] finds no point (probability 2⁻²⁵⁶).
#[allow(clippy::arithmetic_side_effects)] // Scalar and point arithmetic: modular, never overflows.
pub fn prove(seed: &[u8; 32], alpha: &[u8]) -> Option<Proof> {
    let (x, nonce_key) = expand(seed);
    let public = EdwardsPoint::mul_base(&x).compress().0;
    let h = encode_to_curve(&public, alpha)?;
    let h_bytes = h.compress().0;
    let gamma = (h * x).compress().0;
    let nonce = Sha512::new()
        .chain_update(nonce_key)
        .chain_update(h_bytes)
        .finalize();
    let mut wide = [0u8; 64];
    wide.copy_from_slice(&nonce);
    let k = Scalar::from_bytes_mod_order_wide(&wide);
    let u = EdwardsPoint::mul_base(&k).compress().0;
    let v = (h * k).compress().0;
    let c = challenge([&public, &h_bytes, &gamma, &u, &v]);
    let s = k + challenge_scalar(&c) * x;
    let mut proof = [0u8; PROOF_LEN];
    proof[..32].copy_from_slice(&gamma);
    proof[32..48].copy_from_slice(&c);
    proof[48..].copy_from_slice(&s.to_bytes());
    Some(proof)
}

/// RFC 9381 §5.3: the output of `proof` if it proves `alpha` under `public`, else `None` —
/// also for a key that is not a canonical point of large order, and for a proof whose Γ or
/// `s` is not canonically encoded.
#[allow(clippy::arithmetic_side_effects)] // Scalar and point arithmetic: modular, never overflows.
pub fn verify(public: &[u8; 32], alpha: &[u8], proof: &Proof) -> Option<Output> {
    let y = decode_canonical(public).filter(|y| !y.is_small_order())?;
    let mut gamma_bytes = [0u8; 32];
    gamma_bytes.copy_from_slice(&proof[..32]);
    let gamma = decode_canonical(&gamma_bytes)?;
    let mut c = [0u8; CHALLENGE_LEN];
    c.copy_from_slice(&proof[32..48]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&proof[48..]);
    let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes))?;
    let h = encode_to_curve(public, alpha)?;
    let c_scalar = challenge_scalar(&c);
    // U = s·B − c·Y and V = s·H − c·Γ.
    let u = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-c_scalar), &y, &s);
    let v = h * s - gamma * c_scalar;
    let expected = challenge([
        public,
        &h.compress().0,
        &gamma_bytes,
        &u.compress().0,
        &v.compress().0,
    ]);
    (expected == c).then(|| output_of(&gamma))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::arithmetic_side_effects)]
mod tests {
    use super::*;
    use curve25519_dalek::traits::Identity;

    fn hex_bytes(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn array<const N: usize>(text: &str) -> [u8; N] {
        hex_bytes(text).try_into().unwrap()
    }

    /// RFC 9381 Appendix B, examples 16–18 (ECVRF-EDWARDS25519-SHA512-TAI): (SK, PK, α, π, β).
    const EXAMPLES: [(&str, &str, &str, &str, &str); 3] = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "8657106690b5526245a92b003bb079ccd1a92130477671f6fc01ad16f26f723f26f8a57ccaed74ee1b190bed1f479d9727d2d0f9b005a6e456a35d4fb0daab1268a1b0db10836d9826a528ca76567805",
            "90cf1df3b703cce59e2a35b925d411164068269d7b2d29f3301c03dd757876ff66b71dda49d2de59d03450451af026798e8f81cd2e333de5cdf4f3e140fdd8ae",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "f3141cd382dc42909d19ec5110469e4feae18300e94f304590abdced48aed5933bf0864a62558b3ed7f2fea45c92a465301b3bbf5e3e54ddf2d935be3b67926da3ef39226bbc355bdc9850112c8f4b02",
            "eb4440665d3891d668e7e0fcaf587f1b4bd7fbfe99d0eb2211ccec90496310eb5e33821bc613efb94db5e5b54c70a848a0bef4553a41befc57663b56373a5031",
        ),
        (
            "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "9bc0f79119cc5604bf02d23b4caede71393cedfbb191434dd016d30177ccbf8096bb474e53895c362d8628ee9f9ea3c0e52c7a5c691b6c18c9979866568add7a2d41b00b05081ed0f58ee5e31b3a970e",
            "645427e5d00c62a23fb703732fa5d892940935942101e456ecca7bb217c61c452118fec1219202a0edcf038bb6373241578be7217ba85a2687f7a0310b2df19f",
        ),
    ];

    #[test]
    fn the_rfcs_examples_are_proved_and_verified_byte_for_byte() {
        for (sk, pk, alpha, pi, beta) in EXAMPLES {
            let (seed, public) = (array::<32>(sk), array::<32>(pk));
            let (alpha, pi, beta) = (hex_bytes(alpha), array::<80>(pi), array::<64>(beta));
            assert_eq!(public_key(&seed), public, "{pk}");
            assert_eq!(prove(&seed, &alpha), Some(pi), "{pk}");
            assert_eq!(verify(&public, &alpha, &pi), Some(beta), "{pk}");
        }
        // Example 16's H (the RFC lists it): try-and-increment as specified.
        let h = encode_to_curve(&array(EXAMPLES[0].1), b"").unwrap();
        assert_eq!(
            h.compress().0,
            array::<32>("91bbed02a99461df1ad4c6564a5f5d829d0b90cfc7903e7a5797bd658abf3318")
        );
    }

    #[test]
    fn a_proof_verifies_for_its_key_and_input_only() {
        let (sk, pk, _, pi, _) = EXAMPLES[1];
        let (seed, public, pi) = (array::<32>(sk), array::<32>(pk), array::<80>(pi));
        assert!(verify(&public, b"r", &pi).is_some(), "0x72 is b\"r\"");
        assert_eq!(verify(&public, b"s", &pi), None, "another input");
        let other = array::<32>(EXAMPLES[2].1);
        assert_eq!(verify(&other, b"r", &pi), None, "another key");
        for byte in [0, 31, 32, 47, 48, 79] {
            let mut forged = pi;
            forged[byte] ^= 1;
            assert_eq!(verify(&public, b"r", &forged), None, "byte {byte} flipped");
        }
        // Deterministic: the same seed and input give the same bytes.
        assert_eq!(prove(&seed, b"r"), Some(pi));
    }

    #[test]
    fn small_order_keys_and_non_canonical_encodings_are_refused() {
        let (_, pk, _, pi, _) = EXAMPLES[1];
        let (public, pi) = (array::<32>(pk), array::<80>(pi));
        // The identity and a point of order 8: anyone could "prove" under them.
        let identity = EdwardsPoint::identity().compress().0;
        let torsion = curve25519_dalek::constants::EIGHT_TORSION[1].compress().0;
        for key in [identity, torsion] {
            assert_eq!(verify(&key, b"r", &pi), None);
        }
        // s + ℓ encodes the same scalar non-canonically: refused, so a proof is unique as
        // bytes as well as in its output.
        let ell = {
            let mut bytes = (-Scalar::ONE).to_bytes();
            bytes[0] += 1;
            bytes
        };
        let mut wide = pi;
        let mut carry = 0u16;
        for (i, byte) in wide[48..].iter_mut().enumerate() {
            let sum = u16::from(*byte) + u16::from(ell[i]) + carry;
            *byte = (sum & 0xff) as u8;
            carry = sum >> 8;
        }
        assert_eq!(carry, 0, "s + ℓ < 2²⁵⁴ fits");
        assert_eq!(verify(&public, b"r", &wide), None, "s + ℓ");
        // Γ's y with the sign bit of a point whose x is 0 (y = 1, the identity): not canonical.
        let mut gamma_sign = pi;
        gamma_sign[..32].copy_from_slice(&identity);
        gamma_sign[31] |= 0x80;
        assert_eq!(verify(&public, b"r", &gamma_sign), None);
    }

    #[test]
    fn every_key_proves_and_verifies_its_own_inputs() {
        for i in 0u8..32 {
            let seed = [i.wrapping_mul(37).wrapping_add(1); 32];
            let public = public_key(&seed);
            let alpha = [i; 3];
            let proof = prove(&seed, &alpha).unwrap();
            let output = verify(&public, &alpha, &proof).unwrap();
            assert_eq!(
                output,
                output_of(&decode_canonical(&array_of(&proof)).unwrap())
            );
            assert_eq!(verify(&public, &[i, i, i.wrapping_add(1)], &proof), None);
        }
    }

    fn array_of(proof: &Proof) -> [u8; 32] {
        proof[..32].try_into().unwrap()
    }
}
