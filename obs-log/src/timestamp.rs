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

/// Writes `value` as exactly `out.len()` decimal digits, zero-padded.
fn put_digits(out: &mut [u8], value: u64) {
    let mut v = value;
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// `"YYYY-MM-DDTHH:MM:SS.`: the part of a timestamp that changes once a second.
fn second_prefix(secs: u64) -> [u8; 21] {
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let mut out = *b"\"0000-00-00T00:00:00.";
    // Four digits cover years up to 9999, the range RFC 3339 allows.
    put_digits(&mut out[1..5], year.clamp(0, 9999) as u64);
    put_digits(&mut out[6..8], u64::from(month));
    put_digits(&mut out[9..11], u64::from(day));
    put_digits(&mut out[12..14], rem / 3_600);
    put_digits(&mut out[15..17], rem / 60 % 60);
    put_digits(&mut out[18..20], rem % 60);
    out
}

/// Writes timestamps as `"YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ"` (quoted), keeping the rendered
/// date and time of the last second it saw: within a second only the nanoseconds change.
#[derive(Debug, Default)]
pub(crate) struct TimestampWriter {
    cached: Option<(u64, [u8; 21])>,
}

impl TimestampWriter {
    pub(crate) const fn new() -> Self {
        TimestampWriter { cached: None }
    }

    /// Appends `time`. Times before 1970 are written as the epoch: a system clock that far
    /// off is not worth a special format.
    pub(crate) fn write(&mut self, out: &mut Vec<u8>, time: SystemTime) {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let prefix = match self.cached {
            Some((cached_secs, prefix)) if cached_secs == secs => prefix,
            _ => {
                let prefix = second_prefix(secs);
                self.cached = Some((secs, prefix));
                prefix
            }
        };
        let mut nanos = *b"000000000Z\"";
        put_digits(&mut nanos[..9], u64::from(since.subsec_nanos()));
        out.extend_from_slice(&prefix);
        out.extend_from_slice(&nanos);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn format(secs: u64, nanos: u32) -> String {
        let mut out = Vec::new();
        TimestampWriter::default().write(&mut out, UNIX_EPOCH + Duration::new(secs, nanos));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_cached_second_is_only_reused_within_that_second() {
        let mut writer = TimestampWriter::default();
        let mut out = Vec::new();
        for (secs, nanos) in [(59, 1), (59, 999_999_999), (60, 0), (59, 5)] {
            writer.write(&mut out, UNIX_EPOCH + Duration::new(secs, nanos));
            out.push(b' ');
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"1970-01-01T00:00:59.000000001Z\" \"1970-01-01T00:00:59.999999999Z\" \
             \"1970-01-01T00:01:00.000000000Z\" \"1970-01-01T00:00:59.000000005Z\" "
        );
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
