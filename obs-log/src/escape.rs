//! JSON string escaping straight into a byte buffer, so that no message, value or key can
//! end a line, close a string early or forge another record.
//!
//! Beyond what RFC 8259 §7 requires (`"`, `\` and U+0000..U+001F), DEL and the JavaScript
//! line terminators U+2028/U+2029 are escaped too: some log viewers split lines on them.

use std::fmt;

use obs_trace::{FORMAT_PANICKED, catch_format_panic};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Bytes that end a run of literal bytes: those that must be escaped, and 0xE2, the lead
/// byte of U+2028/U+2029 (checked in full when met).
#[inline]
fn is_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f || b == 0xe2
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any of the eight bytes packed in `word` is special ([`is_special`]), tested all
/// at once with the bit tricks of "Bit Twiddling Hacks" (`haszero`, `hasless`): exact for
/// "any", which is all that is asked.
#[inline]
fn has_special(word: u64) -> bool {
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS != 0;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS != 0;
    below_space
        || has_zero(word ^ (ONES * u64::from(b'"')))
        || has_zero(word ^ (ONES * u64::from(b'\\')))
        || has_zero(word ^ (ONES * 0x7f))
        || has_zero(word ^ (ONES * 0xe2))
}

/// Appends the escaped contents of `s` (without surrounding quotes).
pub(crate) fn escape_into(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip eight ordinary bytes at a time: most text has nothing to escape.
        if let Some(chunk) = bytes.get(i..i + 8)
            && let Ok(chunk) = <[u8; 8]>::try_from(chunk)
            && !has_special(u64::from_le_bytes(chunk))
        {
            i += 8;
            continue;
        }
        let b = bytes[i];
        if !is_special(b) {
            i += 1;
            continue;
        }
        if b == 0xe2 {
            // U+2028 is E2 80 A8, U+2029 is E2 80 A9; any other E2 sequence is literal.
            if bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)) {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(if bytes[i + 2] == 0xa8 {
                    b"\\u2028"
                } else {
                    b"\\u2029"
                });
                i += 3;
                start = i;
            } else {
                i += 1;
            }
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0x0f) as usize],
            ]),
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Appends `s` as a quoted JSON string.
#[inline]
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// Appends `bytes` as a quoted JSON string, each invalid UTF-8 sequence replaced by U+FFFD
/// (as `String::from_utf8_lossy` does, without allocating).
pub(crate) fn write_lossy(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        escape_into(out, chunk.valid());
        if !chunk.invalid().is_empty() {
            escape_into(out, char::REPLACEMENT_CHARACTER.encode_utf8(&mut [0; 4]));
        }
    }
    out.push(b'"');
}

/// A `fmt::Write` that escapes what it is given, so `Debug` and `Display` output goes into
/// the line without an intermediate `String`.
pub(crate) struct EscapingWriter<'a>(pub(crate) &'a mut Vec<u8>);

impl fmt::Write for EscapingWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        escape_into(self.0, s);
        Ok(())
    }
}

/// Appends `args` (a value's `Debug` or `Display` output) as a quoted JSON string, or
/// [`FORMAT_PANICKED`] if formatting panics.
fn write_formatted(out: &mut Vec<u8>, args: fmt::Arguments<'_>) {
    out.push(b'"');
    let start = out.len();
    // Formatting into a Vec cannot fail; an impl that returns an error anyway leaves what it
    // wrote so far, which is still a well-formed string once closed. One that panics leaves
    // half a value: cut back.
    if catch_format_panic(|| fmt::write(&mut EscapingWriter(out), args)).is_none() {
        out.truncate(start);
        escape_into(out, FORMAT_PANICKED);
    }
    out.push(b'"');
}

/// Appends `value`'s `Debug` output as a quoted JSON string.
pub(crate) fn write_debug(out: &mut Vec<u8>, value: &dyn fmt::Debug) {
    write_formatted(out, format_args!("{value:?}"));
}

/// Appends `value`'s `Display` output as a quoted JSON string.
pub(crate) fn write_display(out: &mut Vec<u8>, value: &dyn fmt::Display) {
    write_formatted(out, format_args!("{value}"));
}

/// A `fmt::Write` into a byte buffer, for numbers (whose output needs no escaping).
struct RawWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for RawWriter<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Writes `byte` as two lowercase hex digits.
#[inline]
pub(crate) fn write_hex_byte(out: &mut [u8; 2], byte: u8) {
    out[0] = HEX[(byte >> 4) as usize];
    out[1] = HEX[(byte & 0x0f) as usize];
}

/// Appends an integer as a JSON number.
pub(crate) fn write_int(out: &mut Vec<u8>, value: impl fmt::Display) {
    let _ = fmt::write(&mut RawWriter(out), format_args!("{value}"));
}

/// Appends a float as a JSON number that reads back as a float: `2.0`, not `2`, and
/// `1e300`, not 301 digits (readers that infer a field's type from its first value, such
/// as Elasticsearch's dynamic mapping or Python's `json`, would take those for integers,
/// and the long one overflows a 64-bit integer field). NaN and the infinities, which JSON
/// cannot represent, become the strings `"NaN"`, `"Infinity"` and `"-Infinity"`.
pub(crate) fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        let start = out.len();
        // Rust's shortest round-trip representation, in exponent form (`1e300`, `5e-324`:
        // valid JSON) where the plain one would run long.
        let magnitude = value.abs();
        let _ = if magnitude == 0.0 || (1e-5..1e16).contains(&magnitude) {
            fmt::write(&mut RawWriter(out), format_args!("{value}"))
        } else {
            fmt::write(&mut RawWriter(out), format_args!("{value:e}"))
        };
        if !out[start..].iter().any(|&b| b == b'.' || b == b'e') {
            out.extend_from_slice(b".0");
        }
    } else if value.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if value > 0.0 {
        out.extend_from_slice(b"\"Infinity\"");
    } else {
        out.extend_from_slice(b"\"-Infinity\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_what_could_break_a_line_or_a_string() {
        assert_eq!(quoted("plain"), r#""plain""#);
        assert_eq!(quoted("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(quoted("l1\nl2\r\t"), r#""l1\nl2\r\t""#);
        assert_eq!(quoted("\u{0}\u{1f}\u{7f}"), r#""\u0000\u001f\u007f""#);
        assert_eq!(quoted("x\u{2028}y\u{2029}z"), r#""x\u2028y\u2029z""#);
        // Other characters with an E2 lead byte stay literal.
        assert_eq!(quoted("→ €"), "\"→ €\"");
    }

    #[test]
    fn the_word_test_agrees_with_the_byte_test() {
        // Bytes at and around every boundary of the test, plus ordinary ones.
        const EDGES: [u8; 16] = [
            0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0xe1,
            0xe2, 0xff,
        ];
        // Every byte value at every position among ordinary bytes, exhaustively.
        for position in 0..8 {
            for value in 0..=255u8 {
                let mut bytes = [b'a'; 8];
                bytes[position] = value;
                let word = u64::from_le_bytes(bytes);
                assert_eq!(has_special(word), is_special(value), "{word:#018x}");
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let word = if round % 2 == 0 {
                x
            } else {
                // Each byte one of the edges, picked by four random bits; mostly one edge
                // among ordinary letters, so a single special byte must be found.
                let mut bytes = [b'a'; 8];
                for (i, b) in bytes.iter_mut().enumerate() {
                    if (x >> (32 + i)) & 7 == 0 || i == (x as usize >> 60) & 7 {
                        *b = EDGES[(x >> (4 * i)) as usize & 15];
                    }
                }
                u64::from_le_bytes(bytes)
            };
            let by_byte = word.to_le_bytes().iter().any(|&b| is_special(b));
            assert_eq!(has_special(word), by_byte, "{word:#018x}");
        }
    }

    #[test]
    fn invalid_utf8_becomes_the_replacement_character() {
        let mut out = Vec::new();
        write_lossy(&mut out, b"ok\xff\xfe\"");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"ok\u{fffd}\u{fffd}\\\"\""
        );
    }

    #[test]
    fn floats_stay_numbers_and_non_finite_ones_become_strings() {
        let mut out = Vec::new();
        for v in [
            1.5,
            -0.25,
            1e300,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            write_f64(&mut out, v);
            out.push(b' ');
        }
        let text = String::from_utf8(out).unwrap();
        let parts: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(parts[0], "1.5");
        assert_eq!(parts[1], "-0.25");
        assert_eq!(parts[2], "1e300");
        assert_eq!(&parts[3..], ["\"NaN\"", "\"Infinity\"", "\"-Infinity\""]);
    }

    #[test]
    fn whole_tiny_and_huge_floats_keep_a_fraction_or_an_exponent() {
        for (v, json) in [
            (2.0, "2.0"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (123456.0, "123456.0"),
            (0.00001, "0.00001"),
            (0.000001, "1e-6"),
            (1e16, "1e16"),
            (-1.5e17, "-1.5e17"),
            (f64::MAX, "1.7976931348623157e308"),
            (5e-324, "5e-324"),
        ] {
            let mut out = Vec::new();
            write_f64(&mut out, v);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text, json);
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{json}"
            );
        }
    }
}
