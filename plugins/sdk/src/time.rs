//! Dates and RFC 3339 times without a date library: the host's clock ([`crate::now`]) gives
//! microseconds since the Unix epoch, records keep date-times as text. Compare instants, not
//! strings: `10:00:00Z` and `10:00:00.5Z` sort the wrong way as text.

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Microseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`: microseconds kept, so a
/// withdrawal a moment after a consent is later, not the same second.
pub fn rfc3339(micros: u64) -> String {
    let secs = (micros / 1_000_000) as i64;
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z", s / 3600, s / 60 % 60, s % 60, micros % 1_000_000)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, whole seconds: what a person reads.
pub fn rfc3339_seconds(micros: u64) -> String {
    let mut s = rfc3339(micros);
    s.truncate(19);
    s.push('Z');
    s
}

/// `YYYY-MM-DD` of a moment (UTC).
pub fn date(micros: u64) -> String {
    rfc3339(micros)[..10].to_string()
}

/// Midnight UTC `days` after 1970-01-01, as RFC 3339.
pub fn midnight(days: i64) -> String {
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}T00:00:00Z")
}

/// An RFC 3339 date-time (`Z` or `±HH:MM`, any fraction) as microseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let part = b.get(from..from + len)?;
        part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)? as u32, num(8, 2)? as u32);
    let (hour, minute, second) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [31, if leap { 29 } else { 28 }, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if !(1..=12).contains(&month) || day == 0 || day > month_days[month as usize - 1] || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 6 {
                frac = frac * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            frac *= 10;
        }
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let o = (h * 60 + m) * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    Some(secs * 1_000_000 + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_and_read_back() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_767_225_600_000_001), "2026-01-01T00:00:00.000001Z");
        assert_eq!(rfc3339(1_709_210_096_500_000), "2024-02-29T12:34:56.500000Z", "a leap day");
        for m in [0u64, 951_782_400_123_456, 1_767_225_600_000_001, 4_102_444_799_999_999] {
            assert_eq!(parse_rfc3339(&rfc3339(m)), Some(m as i64));
        }
        assert_eq!(parse_rfc3339("2026-01-01T00:00:00Z"), Some(1_767_225_600_000_000));
        assert_eq!(parse_rfc3339("2026-01-01T01:00:00+01:00"), Some(1_767_225_600_000_000));
        assert_eq!(parse_rfc3339("2025-12-31T19:00:00.5-05:00"), Some(1_767_225_600_500_000));
        assert!(parse_rfc3339("2026-03-01T10:00:00.5Z") > parse_rfc3339("2026-03-01T10:00:00Z"), "instants, not text");
        assert_eq!(rfc3339_seconds(1_796_227_509_000_000), "2026-12-02T16:05:09Z");
        assert_eq!(date(951_782_400_000_000), "2000-02-29");
        assert_eq!(midnight(19_782), "2024-02-29T00:00:00Z");
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil(-1), (1969, 12, 31));
        for bad in ["", "2026-01-01", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+0100"] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
