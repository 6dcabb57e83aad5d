//! Trace and span identifiers and trace flags, as W3C Trace Context defines them.

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, Hasher};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex into `out`, which must be twice as long.
#[inline]
pub(crate) fn encode_hex(bytes: &[u8], out: &mut [u8]) {
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[(b >> 4) as usize];
        out[2 * i + 1] = HEX[(b & 0x0f) as usize];
    }
}

/// Decodes lowercase hex only: W3C Trace Context forbids upper case in `traceparent`.
#[inline]
pub(crate) fn decode_hex_lower<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    // Table lookups with one validity check at the end: no branch per character, which
    // keeps `traceparent` parsing in the tens of nanoseconds.
    let mut invalid = 0u8;
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        invalid |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    (invalid & INVALID_NIBBLE == 0).then_some(out)
}

/// Marks a byte that is not a lowercase hex digit in [`NIBBLE`].
const INVALID_NIBBLE: u8 = 0xf0;

/// The value of each lowercase hex digit; [`INVALID_NIBBLE`] for every other byte.
static NIBBLE: [u8; 256] = {
    let mut table = [INVALID_NIBBLE; 256];
    let mut i = 0;
    while i < 16 {
        table[HEX[i] as usize] = i as u8;
        i += 1;
    }
    table
};

thread_local! {
    // xorshift64* state per thread: ids need to be unique, not cryptographic, and a
    // thread-local generator costs a few nanoseconds with no lock or atomic.
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish() | 1
}

#[inline]
pub(crate) fn next_random_u64() -> u64 {
    RNG.with(|s| {
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    })
}

/// A 16-byte trace id. The all-zero value is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// The invalid (all-zero) trace id.
    pub const INVALID: TraceId = TraceId([0; 16]);

    /// A new random, valid trace id. All 16 bytes are random, so the W3C Level 2 `random`
    /// trace flag may be set on traces this process starts.
    #[inline]
    pub fn random() -> Self {
        loop {
            let hi = next_random_u64();
            let lo = next_random_u64();
            let id = TraceId::from_u128((u128::from(hi) << 64) | u128::from(lo));
            if id.is_valid() {
                return id;
            }
        }
    }

    /// From a big-endian `u128`.
    #[inline]
    pub const fn from_u128(v: u128) -> Self {
        TraceId(v.to_be_bytes())
    }

    /// As a big-endian `u128`.
    #[inline]
    pub const fn to_u128(self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// The raw bytes, as carried in OTLP.
    #[inline]
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }

    /// Whether this id is not all zeros.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 16]
    }

    /// Parses 32 lowercase hex characters; anything else (upper case included) is `None`.
    #[inline]
    pub fn from_hex(hex: &str) -> Option<Self> {
        decode_hex_lower::<16>(hex.as_bytes()).map(TraceId)
    }

    /// Writes the 32 lowercase hex characters without allocating.
    #[inline]
    pub fn to_hex(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        encode_hex(&self.0, &mut out);
        out
    }
}

/// An 8-byte span id. The all-zero value is invalid.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub [u8; 8]);

impl SpanId {
    /// The invalid (all-zero) span id.
    pub const INVALID: SpanId = SpanId([0; 8]);

    /// A new random, valid span id.
    #[inline]
    pub fn random() -> Self {
        loop {
            let v = next_random_u64();
            if v != 0 {
                return SpanId(v.to_be_bytes());
            }
        }
    }

    /// From a big-endian `u64`.
    #[inline]
    pub const fn from_u64(v: u64) -> Self {
        SpanId(v.to_be_bytes())
    }

    /// As a big-endian `u64`.
    #[inline]
    pub const fn to_u64(self) -> u64 {
        u64::from_be_bytes(self.0)
    }

    /// The raw bytes, as carried in OTLP.
    #[inline]
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0
    }

    /// Whether this id is not all zeros.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.0 != [0; 8]
    }

    /// Parses 16 lowercase hex characters; anything else is `None`.
    #[inline]
    pub fn from_hex(hex: &str) -> Option<Self> {
        decode_hex_lower::<8>(hex.as_bytes()).map(SpanId)
    }

    /// Writes the 16 lowercase hex characters without allocating.
    #[inline]
    pub fn to_hex(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        encode_hex(&self.0, &mut out);
        out
    }
}

macro_rules! hex_fmt {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let hex = self.to_hex();
                // Hex digits are ASCII, so this never fails.
                f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({self})", stringify!($t))
            }
        }
        impl fmt::LowerHex for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }
    };
}
hex_fmt!(TraceId);
hex_fmt!(SpanId);

/// The `trace-flags` byte of `traceparent`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TraceFlags(pub u8);

impl TraceFlags {
    /// The `sampled` flag (bit 0).
    pub const SAMPLED: TraceFlags = TraceFlags(0x01);
    /// The W3C Trace Context Level 2 `random` flag (bit 1): the trace id's right-most
    /// 7 bytes are random.
    pub const RANDOM: TraceFlags = TraceFlags(0x02);

    /// Whether the `sampled` bit is set.
    #[inline]
    pub const fn is_sampled(self) -> bool {
        self.0 & 0x01 != 0
    }

    /// Whether the Level 2 `random` bit is set.
    #[inline]
    pub const fn is_random(self) -> bool {
        self.0 & 0x02 != 0
    }

    /// These flags with the `sampled` bit set or cleared.
    #[inline]
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            TraceFlags(self.0 | 0x01)
        } else {
            TraceFlags(self.0 & !0x01)
        }
    }

    /// The raw byte.
    #[inline]
    pub const fn to_u8(self) -> u8 {
        self.0
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceFlags({:02x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_upper_case() {
        let id = TraceId::from_u128(0x0af7651916cd43dd8448eb211c80319c);
        assert_eq!(id.to_string(), "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c"),
            Some(id)
        );
        assert_eq!(TraceId::from_hex("0AF7651916CD43DD8448EB211C80319C"), None);
        assert_eq!(
            SpanId::from_hex("b7ad6b7169203331").map(|s| s.to_u64()),
            Some(0xb7ad6b7169203331)
        );
        assert_eq!(SpanId::from_hex("b7ad6b716920333"), None);
    }

    #[test]
    fn random_ids_are_valid_and_distinct() {
        let a = TraceId::random();
        let b = TraceId::random();
        assert!(a.is_valid() && b.is_valid());
        assert_ne!(a, b);
        assert!(SpanId::random().is_valid());
    }

    #[test]
    fn flags() {
        let f = TraceFlags(0x03);
        assert!(f.is_sampled() && f.is_random());
        assert_eq!(f.with_sampled(false), TraceFlags::RANDOM);
    }
}
