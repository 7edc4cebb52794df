//! Time windows: the UTC hours and days rollups are kept in, and the day/month windows of usage series in an
//! organization's time zone.

use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::time::Micros;

pub const HOUR: Micros = 3_600 * 1_000_000;

/// The start of the UTC hour holding `ts`.
pub fn hour_floor(ts: Micros) -> Micros {
    ts.div_euclid(HOUR) * HOUR
}

/// The first UTC hour boundary at or after `ts`.
pub fn hour_ceil(ts: Micros) -> Micros {
    let f = hour_floor(ts);
    if f == ts { f } else { f + HOUR }
}

pub const DAY: Micros = 24 * HOUR;

/// The start of the UTC day holding `ts`: daily rollups are kept in UTC days.
pub fn day_floor(ts: Micros) -> Micros {
    ts.div_euclid(DAY) * DAY
}

/// The first UTC day boundary at or after `ts`.
pub fn day_ceil(ts: Micros) -> Micros {
    let f = day_floor(ts);
    if f == ts { f } else { f + DAY }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    Hour,
    Day,
    Month,
}

impl WindowKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            "month" => Some(Self::Month),
            _ => None,
        }
    }
}

/// At most this many windows in one series.
pub const MAX_WINDOWS: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("'from' must be before 'to'")]
    EmptyRange,
    #[error(
        "the series would have more than {MAX_WINDOWS} windows; use a larger window or a shorter range"
    )]
    TooMany,
    #[error("the time range is outside the supported calendar")]
    OutOfRange,
}

/// Splits `[from, to)` into contiguous windows. Without a kind, the whole range is one window.
/// Windows start at the calendar boundaries of `tz` (local midnight, the first of the month, the
/// top of the local hour); the first and last are clipped to the range.
pub fn windows(
    from: Micros,
    to: Micros,
    kind: Option<WindowKind>,
    tz: &TimeZone,
) -> Result<Vec<(Micros, Micros)>, WindowError> {
    if from >= to {
        return Err(WindowError::EmptyRange);
    }
    let Some(kind) = kind else {
        return Ok(vec![(from, to)]);
    };
    let ts = |us: Micros| Timestamp::from_microsecond(us).map_err(|_| WindowError::OutOfRange);
    let local = ts(from)?.to_zoned_datetime(tz.clone());
    let mut start = match kind {
        WindowKind::Hour => local
            .with()
            .minute(0)
            .second(0)
            .subsec_nanosecond(0)
            .build()
            .map_err(|_| WindowError::OutOfRange)?,
        WindowKind::Day => local.start_of_day().map_err(|_| WindowError::OutOfRange)?,
        WindowKind::Month => local
            .first_of_month()
            .and_then(|d| d.start_of_day())
            .map_err(|_| WindowError::OutOfRange)?,
    };
    let mut out = Vec::new();
    let mut k: i64 = 1;
    let origin = start.clone();
    while start.timestamp().as_microsecond() < to {
        // Each boundary is origin + k units, never chained, so month ends do not drift.
        let next = match kind {
            WindowKind::Hour => origin.checked_add(k.hours()),
            WindowKind::Day => origin.checked_add(k.days()),
            WindowKind::Month => origin.checked_add(k.months()),
        }
        .map_err(|_| WindowError::OutOfRange)?;
        let (a, b) = (
            start.timestamp().as_microsecond().max(from),
            next.timestamp().as_microsecond().min(to),
        );
        if a < b {
            out.push((a, b));
        }
        if out.len() > MAX_WINDOWS {
            return Err(WindowError::TooMany);
        }
        start = next;
        k += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{format_micros, parse_rfc3339};

    fn t(s: &str) -> Micros {
        parse_rfc3339(s).unwrap()
    }

    fn show(w: &[(Micros, Micros)]) -> Vec<String> {
        w.iter()
            .map(|(a, b)| format!("{}..{}", &format_micros(*a)[..16], &format_micros(*b)[..16]))
            .collect()
    }

    #[test]
    fn hours() {
        assert_eq!(
            hour_floor(t("2024-01-01T10:59:59.999999Z")),
            t("2024-01-01T10:00:00Z")
        );
        assert_eq!(
            hour_ceil(t("2024-01-01T10:00:00Z")),
            t("2024-01-01T10:00:00Z")
        );
        assert_eq!(
            hour_ceil(t("2024-01-01T10:00:00.000001Z")),
            t("2024-01-01T11:00:00Z")
        );
        assert_eq!(hour_floor(-1), -HOUR);
    }

    #[test]
    fn day_windows_in_a_dst_zone() {
        let tz = TimeZone::get("America/New_York").unwrap();
        // 2024-03-10 has 23 hours in New York.
        let w = windows(
            t("2024-03-09T12:00:00Z"),
            t("2024-03-12T00:00:00Z"),
            Some(WindowKind::Day),
            &tz,
        )
        .unwrap();
        assert_eq!(
            show(&w),
            vec![
                "2024-03-09T12:00..2024-03-10T05:00",
                "2024-03-10T05:00..2024-03-11T04:00",
                "2024-03-11T04:00..2024-03-12T00:00",
            ]
        );
    }

    #[test]
    fn month_windows_and_limits() {
        let utc = TimeZone::UTC;
        let w = windows(
            t("2024-01-31T00:00:00Z"),
            t("2024-04-01T00:00:00Z"),
            Some(WindowKind::Month),
            &utc,
        )
        .unwrap();
        assert_eq!(
            show(&w),
            vec![
                "2024-01-31T00:00..2024-02-01T00:00",
                "2024-02-01T00:00..2024-03-01T00:00",
                "2024-03-01T00:00..2024-04-01T00:00"
            ]
        );
        assert_eq!(windows(5, 5, None, &utc), Err(WindowError::EmptyRange));
        assert_eq!(
            windows(0, 20 * 365 * 24 * HOUR, Some(WindowKind::Hour), &utc),
            Err(WindowError::TooMany)
        );
        assert_eq!(windows(1, 2, None, &utc).unwrap(), vec![(1, 2)]);
    }
}
