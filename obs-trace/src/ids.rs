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
#[inline(always)]
pub(crate) fn decode_hex_lower<const N: usize>(hex: &[u8]) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    // Eight characters at a time in one `u64` (ids are 16 and 32 characters), the rest by
    // table: no branch per character, which keeps `traceparent` parsing in the tens of
    // nanoseconds.
    // Inlined (a `traceparent` decodes three lengths): the loops unroll for each. Validity
    // is tested once, at the end, not per word.
    let mut sources = hex.chunks_exact(8);
    let mut targets = out.chunks_exact_mut(4);
    let mut invalid_words = 0u64;
    for (source, target) in (&mut sources).zip(&mut targets) {
        let chars = u64::from_le_bytes(source.try_into().ok()?);
        let (bytes, invalid) = decode_8_hex_lower(chars);
        invalid_words |= invalid;
        target.copy_from_slice(&bytes.to_le_bytes());
    }
    let mut invalid = 0u8;
    for (byte, pair) in targets
        .into_remainder()
        .iter_mut()
        .zip(sources.remainder().chunks_exact(2))
    {
        let (hi, lo) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        invalid |= hi | lo;
        *byte = (hi << 4) | (lo & 0x0f);
    }
    (invalid_words == 0 && invalid & INVALID_NIBBLE == 0).then_some(out)
}

/// Eight lowercase hex characters (first one in the lowest byte) as four bytes (first in
/// the lowest byte), and a word that is not zero if one of them is not `0-9a-f` (the bytes
/// are then meaningless): byte-wise range checks and arithmetic in one register ("SWAR").
#[inline(always)]
fn decode_8_hex_lower(chars: u64) -> (u32, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // For a byte below 0x80, adding 0x80 - k sets its high bit exactly when it is >= k,
    // and never carries into the next byte. Bytes from 0x80 up are invalid (`chars & HIGH`).
    let at_least = |k: u64| chars.wrapping_add(ONES * (0x80 - k)) & HIGH;
    let digit = at_least(0x30) & !at_least(0x3a);
    let letter = at_least(0x61) & !at_least(0x67);
    let invalid = (chars & HIGH) | ((digit | letter) ^ HIGH);
    // '0'..'9' are 0x30..0x39 and 'a'..'f' are 0x61..0x66: the low nibble, plus 9 for a
    // letter.
    let nibbles = (chars & (ONES * 0x0f)) + (letter >> 7) * 9;
    // Pairs of nibbles into bytes, each in the low half of a 16-bit lane...
    let lanes = ((nibbles & 0x000f_000f_000f_000f) << 4) | ((nibbles >> 8) & 0x000f_000f_000f_000f);
    // ...then the four lanes packed into the low 32 bits.
    let pairs = (lanes | (lanes >> 8)) & 0x0000_ffff_0000_ffff;
    ((pairs | (pairs >> 16)) as u32, invalid)
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

    /// B3's debug flag ("force trace"), received in a `b3` header's `d` or `X-B3-Flags: 1`.
    /// The W3C byte has no such bit, but the OpenTelemetry B3 requirements say it MUST be
    /// propagated with subsequent requests: obs keeps it in this bit, which the child spans
    /// inherit with the other flags, and clears it from everything else it writes
    /// (`traceparent`, exports, logs: see [`to_u8`](Self::to_u8)).
    pub(crate) const B3_DEBUG: TraceFlags = TraceFlags(0x80);

    /// Whether B3's debug flag came with the trace (see `B3_DEBUG`).
    #[inline]
    pub(crate) const fn is_b3_debug(self) -> bool {
        self.0 & Self::B3_DEBUG.0 != 0
    }

    /// The W3C `trace-flags` byte, as exported and logged: the raw byte without the bit in
    /// which obs carries B3's debug flag.
    #[inline]
    pub const fn to_u8(self) -> u8 {
        self.0 & !Self::B3_DEBUG.0
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

    /// The table decoding of one pair of characters: the reference for the SWAR path.
    fn by_table(pair: &[u8]) -> Option<u8> {
        let (hi, lo) = (NIBBLE[usize::from(pair[0])], NIBBLE[usize::from(pair[1])]);
        ((hi | lo) & INVALID_NIBBLE == 0).then_some((hi << 4) | lo)
    }

    #[test]
    fn eight_at_a_time_agrees_with_the_table_for_every_byte_in_every_position() {
        let base = *b"09af5c3e";
        for position in 0..8 {
            for byte in 0..=255u8 {
                let mut chars = base;
                chars[position] = byte;
                let expected: Option<Vec<u8>> = chars.chunks_exact(2).map(by_table).collect();
                let (bytes, invalid) = decode_8_hex_lower(u64::from_le_bytes(chars));
                let got = (invalid == 0).then(|| bytes.to_le_bytes().to_vec());
                assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(&chars));
            }
        }
    }

    /// One bad character anywhere, in any of the words decoded together, rejects the id.
    #[test]
    fn a_bad_character_in_any_position_rejects_the_whole_id() {
        let good = *b"0af7651916cd43dd8448eb211c80319c";
        for position in 0..good.len() {
            for bad in [b'g', b'A', b'-', 0x80, 0xff] {
                let mut hex = good;
                hex[position] = bad;
                assert_eq!(decode_hex_lower::<16>(&hex), None, "{position} {bad:#x}");
                let first_half = decode_hex_lower::<8>(&hex[..16]);
                assert_eq!(first_half.is_none(), position < 16, "{position} {bad:#x}");
            }
        }
        assert!(decode_hex_lower::<16>(&good).is_some());
    }

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
