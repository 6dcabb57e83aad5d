//! A small, fast, non-cryptographic hasher for label-set lookups: label values are
//! short strings chosen by the application, and a sequence of multiply-adds over 8-byte
//! words with a final avalanche is several times cheaper than SipHash for them. The table
//! bounds its size by the cardinality limit, so a flooding attacker gains nothing.

use std::hash::Hasher;

const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;

/// Multiply-add hasher with a murmur3 `fmix64` finish, so the low bits (used to pick a
/// slot) depend on every input bit.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct LabelHasher {
    state: u64,
}

impl LabelHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.state = (self.state ^ word).wrapping_mul(MULTIPLIER).rotate_left(23);
    }
}

impl Hasher for LabelHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// The hash of `value`.
#[inline]
pub(crate) fn hash_of<T: std::hash::Hash + ?Sized>(value: &T) -> u64 {
    let mut h = LabelHasher::default();
    value.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_similar_keys_over_low_bits() {
        let mut slots = std::collections::HashSet::new();
        for i in 0..256 {
            slots.insert(hash_of(&format!("route_{i}")) & 1023);
        }
        // 256 keys into 1024 slots: a decent hash collides on only a few.
        assert!(slots.len() > 200, "{}", slots.len());
        assert_ne!(hash_of("ab"), hash_of("ba"));
        assert_ne!(hash_of(&("a", "bc")), hash_of(&("ab", "c")));
    }
}
