//! Human descriptions of invoice lines: "Pro plan: 1 unit × 99 (fixed), Jan 17 – Jan 31, 2024
//! (15 of 31 days)".

use jiff::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;

use crate::calendar::Proration;
use crate::time::{Micros, format_micros};

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn month(d: Date) -> &'static str {
    usize::try_from(d.month() - 1)
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or("?")
}

/// `Jan 17, 2024`.
pub(crate) fn date(d: Date) -> String {
    format!("{} {}, {}", month(d), d.day(), d.year())
}

/// The days `[from, to)` as an inclusive range: `Jan 17 – Jan 31, 2024`, `Dec 15, 2024 – Jan 14,
/// 2025`, or one date for a single day (or none).
pub(crate) fn days(from: Date, to: Date) -> String {
    let last = to.yesterday().unwrap_or(to);
    if last <= from {
        return date(from);
    }
    if last.year() == from.year() {
        format!("{} {} – {}", month(from), from.day(), date(last))
    } else {
        format!("{} – {}", date(from), date(last))
    }
}

/// `, Jan 17 – Jan 31, 2024 (15 of 31 days)`, the share only when it is partial.
pub(crate) fn fee_days(from: Date, to: Date, p: Proration) -> String {
    if p.is_full() {
        format!(", {}", days(from, to))
    } else {
        format!(
            ", {} ({} of {} days)",
            days(from, to),
            p.days(),
            p.period_days()
        )
    }
}

/// The instants `[from, to)` in local time: as days when both are local midnights
/// (`Jan 1 – Jan 31, 2024`), otherwise with the time of day (`Feb 1, 2024 00:00 – Feb 10, 2024
/// 15:00`).
pub(crate) fn instants(from: Micros, to: Micros, tz: &TimeZone) -> String {
    let local = |x: Micros| {
        Timestamp::from_microsecond(x)
            .ok()
            .map(|ts| tz.to_datetime(ts))
    };
    match (local(from), local(to)) {
        (Some(a), Some(b)) if a.time() == Time::midnight() && b.time() == Time::midnight() => {
            days(a.date(), b.date())
        }
        (Some(a), Some(b)) => format!(
            "{} {:02}:{:02} – {} {:02}:{:02}",
            date(a.date()),
            a.hour(),
            a.minute(),
            date(b.date()),
            b.hour(),
            b.minute()
        ),
        _ => format!("{} – {}", format_micros(from), format_micros(to)),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date as d;

    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(date(d(2024, 1, 17)), "Jan 17, 2024");
        assert_eq!(days(d(2024, 1, 17), d(2024, 2, 1)), "Jan 17 – Jan 31, 2024");
        assert_eq!(
            days(d(2024, 12, 15), d(2025, 1, 15)),
            "Dec 15, 2024 – Jan 14, 2025"
        );
        assert_eq!(days(d(2024, 3, 10), d(2024, 3, 11)), "Mar 10, 2024");
    }

    #[test]
    fn instants_in_local_time() {
        let ny = crate::calendar::parse_time_zone("America/New_York").unwrap();
        let at = |s| crate::time::parse_rfc3339(s).unwrap();
        assert_eq!(
            instants(at("2024-03-01T05:00:00Z"), at("2024-04-01T04:00:00Z"), &ny),
            "Mar 1 – Mar 31, 2024"
        );
        assert_eq!(
            instants(at("2024-03-01T05:00:00Z"), at("2024-03-10T19:00:00Z"), &ny),
            "Mar 1, 2024 00:00 – Mar 10, 2024 15:00"
        );
    }
}
