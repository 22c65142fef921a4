//! A seeded mutator: every input it makes is a function of the seed and the case number, so a
//! crash found in a long run is found again by re-running with the seed it reports.
//!
//! Mutations are the ones that find decoder bugs: flipped bits, bytes set to the values codecs
//! treat specially (0, 0xff, 0x7f, 0x80, compact-length modes), inserted and deleted runs,
//! truncation, duplicated chunks, splices of two corpus entries, and fresh random bytes.

/// xorshift64*: small, fast, and the same on every machine.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed` (any value; 0 is mapped to a fixed non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        let n = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        usize::try_from(self.next_u64() % n).unwrap_or(0)
    }

    /// A byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64().to_le_bytes()[0]
    }
}

/// Bytes that decoders treat specially: zero, all ones, the sign bits, and the first bytes of
/// SCALE compact integers in each mode (one byte, two, four, big-integer).
const SPECIAL: [u8; 9] = [0x00, 0xff, 0x7f, 0x80, 0x01, 0xfc, 0xfd, 0xfe, 0x03];

/// Inputs longer than this are cut: decoders refuse long inputs by length first, and short
/// ones explore the structure faster.
pub const MAX_INPUT: usize = 64 * 1024;

/// One mutant of `base`, possibly spliced with `other`.
pub fn mutate(rng: &mut Rng, base: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        apply_one(rng, &mut out, other);
    }
    out.truncate(MAX_INPUT);
    out
}

fn apply_one(rng: &mut Rng, out: &mut Vec<u8>, other: &[u8]) {
    let len = out.len();
    match rng.below(9) {
        0 if len > 0 => {
            let at = rng.below(len);
            out[at] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let at = rng.below(len);
            out[at] = SPECIAL[rng.below(SPECIAL.len())];
        }
        2 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(16);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            out.splice(at..at, bytes);
        }
        3 if len > 0 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(32));
            out.drain(at..at + n);
        }
        4 if len > 0 => out.truncate(rng.below(len)),
        5 if len > 0 => {
            let from = rng.below(len);
            let n = 1 + rng.below((len - from).min(64));
            let chunk = out[from..from + n].to_vec();
            let at = rng.below(len + 1);
            out.splice(at..at, chunk);
        }
        6 if !other.is_empty() => {
            let cut = rng.below(len + 1);
            let from = rng.below(other.len());
            out.truncate(cut);
            out.extend_from_slice(&other[from..]);
        }
        7 if len >= 4 => {
            // A little-endian length or count set to an extreme.
            let at = rng.below(len - 3);
            let value: u32 = match rng.below(4) {
                0 => 0,
                1 => u32::MAX,
                2 => 1 << rng.below(32),
                _ => u32::try_from(rng.below(1 << 16)).unwrap_or(0),
            };
            out[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
        _ => {
            let n = rng.below(96);
            *out = (0..n).map(|_| rng.byte()).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_makes_the_same_mutants() {
        let base = b"a corpus entry of some length".to_vec();
        let make = |seed| {
            let mut rng = Rng::new(seed);
            (0..100)
                .map(|_| mutate(&mut rng, &base, b"other"))
                .collect::<Vec<_>>()
        };
        assert_eq!(make(7), make(7));
        assert_ne!(make(7), make(8));
        assert!(make(7).iter().any(|m| m != &base));
    }
}
