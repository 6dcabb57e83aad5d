//! Lowercase hex for OTLP's byte-string ids, as W3C `traceparent` and JSON logs print them.

/// Encodes bytes as lowercase hex: `[0xab, 0x01]` becomes `"ab01"`.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Decodes hex (either case) into bytes; `None` for an odd length or a non-hex digit.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    fn digit(symbol: u8) -> Option<u8> {
        match symbol {
            b'0'..=b'9' => Some(symbol - b'0'),
            b'a'..=b'f' => Some(symbol - b'a' + 10),
            b'A'..=b'F' => Some(symbol - b'A' + 10),
            _ => None,
        }
    }
    let symbols = hex.as_bytes();
    if !symbols.len().is_multiple_of(2) {
        return None;
    }
    symbols
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_lowercase_and_round_trips() {
        let bytes = [0x00, 0x0f, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "000fabff");
        assert_eq!(from_hex("000FABff").as_deref(), Some(&bytes[..]));
        assert_eq!(to_hex(&[]), "");
        assert_eq!(from_hex("").as_deref(), Some(&[][..]));
    }

    #[test]
    fn rejects_odd_length_and_non_hex() {
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("+1"), None);
    }
}
