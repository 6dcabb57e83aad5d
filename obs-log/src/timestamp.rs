//! RFC 3339 timestamps in UTC with nanoseconds, written without a date-time library.

use std::time::{SystemTime, UNIX_EPOCH};

/// Converts days since 1970-01-01 to a proleptic Gregorian `(year, month, day)`.
///
/// Howard Hinnant's `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>):
/// eras of 400 years, each exactly 146 097 days, with March as the first month so the leap
/// day falls at the end of the year.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn push_digits(out: &mut Vec<u8>, value: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut v = value;
    for d in digits[..width].iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&digits[..width]);
}

/// Appends `time` as `"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"` (quoted). Times before 1970 are
/// written as the epoch: a system clock that far off is not worth a special format.
pub(crate) fn write_rfc3339(out: &mut Vec<u8>, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    out.push(b'"');
    // Four digits cover years up to 9999, the range RFC 3339 allows.
    push_digits(out, year.clamp(0, 9999) as u64, 4);
    out.push(b'-');
    push_digits(out, u64::from(month), 2);
    out.push(b'-');
    push_digits(out, u64::from(day), 2);
    out.push(b'T');
    push_digits(out, rem / 3_600, 2);
    out.push(b':');
    push_digits(out, rem / 60 % 60, 2);
    out.push(b':');
    push_digits(out, rem % 60, 2);
    out.push(b'.');
    push_digits(out, u64::from(since.subsec_nanos()), 9);
    out.extend_from_slice(b"Z\"");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn format(secs: u64, nanos: u32) -> String {
        let mut out = Vec::new();
        write_rfc3339(&mut out, UNIX_EPOCH + Duration::new(secs, nanos));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn known_instants() {
        assert_eq!(format(0, 0), "\"1970-01-01T00:00:00.000000000Z\"");
        assert_eq!(format(951_782_400, 7), "\"2000-02-29T00:00:00.000000007Z\"");
        assert_eq!(
            format(1_764_077_135, 123_456_789),
            "\"2025-11-25T13:25:35.123456789Z\""
        );
        assert_eq!(
            format(4_107_542_399, 999_999_999),
            "\"2100-02-28T23:59:59.999999999Z\""
        );
        assert_eq!(
            format(4_107_542_400, 0),
            "\"2100-03-01T00:00:00.000000000Z\""
        );
    }

    #[test]
    fn civil_from_days_agrees_with_a_day_by_day_walk() {
        // Walk 1970-01-01 .. 2400-12-31 one day at a time with plain month lengths.
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        for days in 0..157_000 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
            let len = match m {
                2 if leap => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
