//! The billing time zone: where civil dates become instants and back.
//!
//! A billing day is a local calendar day. Its start is local midnight, or the first instant of the
//! day when midnight itself is skipped by a transition; a day is 23 or 25 hours long across a DST
//! change, and day counts never depend on that.

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use super::CalendarError;
use super::error::out_of_range;
use crate::time::Micros;

/// An IANA time zone by name (`America/New_York`, `Europe/Berlin`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<TimeZone, CalendarError> {
    TimeZone::get(name).map_err(|_| CalendarError::UnknownTimeZone(name.to_string()))
}

/// The local date on which `instant` falls.
pub fn local_date(instant: Micros, tz: &TimeZone) -> Result<Date, CalendarError> {
    let ts = Timestamp::from_microsecond(instant).map_err(out_of_range)?;
    Ok(tz.to_datetime(ts).date())
}

/// The first instant of `date` in `tz`.
pub fn start_of_day(date: Date, tz: &TimeZone) -> Result<Micros, CalendarError> {
    // "Compatible" disambiguation: a skipped midnight moves forward to the end of the gap, which is
    // the day's first instant; a repeated midnight takes its first occurrence.
    let ts = tz
        .to_ambiguous_timestamp(date.to_datetime(Time::midnight()))
        .compatible()
        .map_err(out_of_range)?;
    Ok(ts.as_microsecond())
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::time::parse_rfc3339;

    fn us(s: &str) -> Micros {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn unknown_zone_is_an_error() {
        assert_eq!(
            parse_time_zone("Mars/Olympus_Mons"),
            Err(CalendarError::UnknownTimeZone("Mars/Olympus_Mons".into()))
        );
        assert!(parse_time_zone("").is_err());
        assert!(parse_time_zone("America/New_York").is_ok());
    }

    #[test]
    fn local_midnight_in_new_york() {
        let ny = parse_time_zone("America/New_York").unwrap();
        assert_eq!(
            start_of_day(date(2024, 3, 10), &ny).unwrap(),
            us("2024-03-10T05:00:00Z")
        );
        assert_eq!(
            start_of_day(date(2024, 3, 11), &ny).unwrap(),
            us("2024-03-11T04:00:00Z")
        );
        assert_eq!(
            local_date(us("2024-03-11T03:59:59Z"), &ny).unwrap(),
            date(2024, 3, 10)
        );
    }

    #[test]
    fn skipped_midnight_starts_the_day_after_the_gap() {
        // Santiago springs forward at 00:00 local: 2024-09-08 starts at 01:00 -03.
        let scl = parse_time_zone("America/Santiago").unwrap();
        assert_eq!(
            start_of_day(date(2024, 9, 8), &scl).unwrap(),
            us("2024-09-08T04:00:00Z")
        );
    }

    #[test]
    fn instants_beyond_the_calendar_are_errors() {
        assert_eq!(
            local_date(i64::MAX, &TimeZone::UTC),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            local_date(i64::MIN, &TimeZone::UTC),
            Err(CalendarError::OutOfRange)
        );
    }
}
