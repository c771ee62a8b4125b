//! Host time (microseconds since the Unix epoch) as the text the host's date fields take.

/// `2026-12-02T16:05:09Z`.
pub fn rfc3339(micros: u64) -> String {
    let secs = micros / 1_000_000;
    let (y, m, d) = civil(secs / 86_400);
    let t = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", t / 3600, t % 3600 / 60, t % 60)
}

/// `2026-12-02`.
pub fn date(micros: u64) -> String {
    rfc3339(micros)[..10].to_string()
}

/// Year, month, day of a day count since 1970-01-01 (the proleptic Gregorian calendar).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_227_509_000_000), "2026-12-02T16:05:09Z");
        assert_eq!(date(1_796_227_509_000_000), "2026-12-02");
    }
}
