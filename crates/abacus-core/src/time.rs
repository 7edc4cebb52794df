//! Instants as integer microseconds since the Unix epoch (how every timestamp is stored), and
//! their one wire format: RFC 3339 in UTC with exactly six fractional digits.

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;

/// Microseconds since 1970-01-01T00:00:00Z.
pub type Micros = i64;

/// The current instant in microseconds.
pub fn now_micros() -> Micros {
    Timestamp::now().as_microsecond()
}

/// `2023-09-05T21:54:54.609688Z`: UTC, exactly six fractional digits.
pub fn format_micros(us: Micros) -> String {
    let ts = Timestamp::from_microsecond(us).unwrap_or(Timestamp::UNIX_EPOCH);
    DateTimePrinter::new()
        .precision(Some(6))
        .timestamp_to_string(&ts)
}

/// Parses an RFC 3339 instant with an offset (`Z` or `+02:00`) into microseconds. Sub-microsecond
/// digits are truncated.
pub fn parse_rfc3339(s: &str) -> Result<Micros, String> {
    let ts: Timestamp = s
        .parse()
        .map_err(|e: jiff::Error| format!("not an RFC 3339 timestamp: {e}"))?;
    Ok(ts.as_microsecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_six_digits() {
        let us = parse_rfc3339("2023-09-05T21:54:54.609688Z").unwrap();
        assert_eq!(format_micros(us), "2023-09-05T21:54:54.609688Z");
        assert_eq!(format_micros(0), "1970-01-01T00:00:00.000000Z");
        let whole = parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
        assert_eq!(format_micros(whole), "2024-01-01T00:00:00.000000Z");
    }

    #[test]
    fn parses_offsets_to_utc() {
        let us = parse_rfc3339("2024-01-01T02:00:00+02:00").unwrap();
        assert_eq!(format_micros(us), "2024-01-01T00:00:00.000000Z");
        assert!(parse_rfc3339("2024-01-01").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
