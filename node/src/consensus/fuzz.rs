//! The p2p decoders under the fuzz runner's mutator (`agora-fuzz`): the message framing, the
//! sync, relay and blob channels' messages, the double-sign guard's record and finalization
//! certificates. Each takes bytes from any peer; none may panic, and framing that decodes
//! must encode back to the same bytes. `AGORA_FUZZ_CASES` sets the mutants per decoder
//! (default 20,000, the CI run).

use agora_fuzz::mutate::{mutate, Rng};
use agora_primitives::Hash;

fn cases() -> u64 {
    std::env::var("AGORA_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(20_000)
}

/// Runs `decode` on `seeds` and on mutants of them.
fn fuzz(seeds: &[Vec<u8>], seed: u64, decode: impl Fn(&[u8])) {
    for input in seeds {
        decode(input);
    }
    let mut rng = Rng::new(seed);
    for _ in 0..cases() {
        let base = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        decode(&mutate(&mut rng, base, other));
    }
}

#[test]
fn framing_and_the_channel_messages_survive_hostile_bytes() {
    let run = super::sync::encode_run(&[7; 90], &[vec![1; 40], vec![2; 3]]).unwrap();
    let relay = super::relay::encode(&[vec![1; 30], vec![2; 5]]);
    let seeds = vec![
        run.clone(),
        relay,
        super::blobs::get_message(Hash([3; 32]), 1024, 4096),
        vec![0; 16],
    ];
    fuzz(&seeds, 1, |bytes| {
        if let Some(parts) = super::frames::decode(bytes, 64) {
            let mut again = Vec::new();
            super::frames::encode(&mut again, parts.iter().map(Vec::as_slice)).unwrap();
            assert_eq!(again, bytes, "framing with two encodings");
        }
        if let Some((_, body)) = bytes.split_first() {
            let _ = super::sync::decode_run(body);
            let _ = super::relay::decode(body);
        }
        let _ = super::blobs::decode(bytes);
        let _ = super::guard::decode(bytes);
    });
}

#[test]
fn certificates_survive_hostile_bytes_and_no_mutant_verifies() {
    let members: Vec<([u8; 32], [u8; 32])> = (1u8..=4)
        .map(|i| {
            let seed = [i; 32];
            let pair: sp_core::ed25519::Pair = sp_core::Pair::from_seed(&seed);
            (sp_core::Pair::public(&pair).0, seed)
        })
        .collect();
    let keys: Vec<[u8; 32]> = members.iter().map(|(key, _)| *key).collect();
    let seeds: Vec<[u8; 32]> = members.iter().map(|(_, seed)| *seed).collect();
    let block = Hash([9; 32]);
    let certificate = super::sign_finalization(b"fuzz", &keys, &seeds[..3], (0, 5), block).unwrap();
    assert_eq!(
        super::verify_certificate(b"fuzz", &keys, &certificate),
        Some((block, 5))
    );
    fuzz(std::slice::from_ref(&certificate), 2, |bytes| {
        if let Some(verified) = super::verify_certificate(b"fuzz", &keys, bytes) {
            // A mutant that still verifies carries the quorum's signatures, which sign one
            // statement: it can name no other block or view.
            assert_eq!(
                verified,
                (block, 5),
                "a mutant verified for another statement"
            );
        }
    });
}
