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

impl LabelHasher {
    /// Hashes one label value, its length folded into the last word so that value
    /// boundaries count without an extra terminator step: short values cost one step.
    #[inline]
    pub(crate) fn write_value(&mut self, value: &[u8]) {
        let n = value.len();
        let mut chunks = value.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        self.add(tail_word(chunks.remainder()) ^ ((n as u64) << 56));
    }
}

/// The last 0 to 7 bytes as one word, read with fixed-size loads (two overlapping 4-byte
/// reads, or three single bytes), as wyhash does: copying them into a buffer first would
/// call memcpy and stall the load that follows on store forwarding.
#[inline]
fn tail_word(rest: &[u8]) -> u64 {
    let n = rest.len();
    let half = |i: usize| {
        rest.get(i..i + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map_or(0, u32::from_le_bytes)
    };
    match n {
        0 => 0,
        1..=3 => {
            u64::from(rest[0]) | (u64::from(rest[n / 2]) << 8) | (u64::from(rest[n - 1]) << 16)
        }
        _ => u64::from(half(0)) | (u64::from(half(n - 4)) << 32),
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
        let n = rest.len();
        if n == 0 {
            return;
        }
        let tail = tail_word(rest);
        self.add(tail ^ ((n as u64) << 59));
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

/// String equality without a `memcmp` call for the short strings labels are: 8-byte (or
/// 4-byte) loads, the last one overlapping, which beats a library call at this size.
#[inline]
pub(crate) fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    // Fixed-size array reads compile to one load each.
    let word = |s: &[u8], i: usize| {
        s.get(i..i + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            .map(u64::from_ne_bytes)
    };
    let half = |s: &[u8], i: usize| {
        s.get(i..i + 4)
            .and_then(|w| <[u8; 4]>::try_from(w).ok())
            .map(u32::from_ne_bytes)
    };
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4),
        8..=64 => {
            // Whole words from the front, then the last (overlapping) word.
            (0..n - 8).step_by(8).all(|i| word(a, i) == word(b, i))
                && word(a, n - 8) == word(b, n - 8)
        }
        _ => a == b,
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

    #[test]
    fn label_values_keep_their_boundaries() {
        let hash = |values: &[&str]| {
            let mut h = LabelHasher::default();
            for v in values {
                h.write_value(v.as_bytes());
            }
            h.finish()
        };
        assert_ne!(hash(&["ab", ""]), hash(&["a", "b"]));
        assert_ne!(hash(&["abcdefgh", ""]), hash(&["", "abcdefgh"]));
        assert_eq!(hash(&["GET", "/users"]), hash(&["GET", "/users"]));
    }

    #[test]
    fn str_eq_matches_std_equality() {
        let words = [
            "",
            "a",
            "ab",
            "abc",
            "abd",
            "abcd",
            "abce",
            "abcdefg",
            "abcdefh",
            "abcdefgh",
            "abcdefgi",
            "/users/{id}",
            "/users/{ix}",
            "http_request_method",
            "http_request_methoe",
            "xttp_request_method",
        ];
        for a in words {
            for b in words {
                assert_eq!(str_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }
}
