//! Civil-date arithmetic, free of time zones: every calendar rule is decided on dates first and
//! only then turned into instants (`super::zone`).

use jiff::Span;
use jiff::civil::Date;

use super::CalendarError;
use super::error::out_of_range;

/// `date` plus `months` calendar months, on the same day of the month or, when the target month
/// is shorter, on its last day: 2024-01-31 + 1 month = 2024-02-29, + 2 months = 2024-03-31.
///
/// Callers always add to the original anchor (`anchor + k·n months`) rather than chaining one
/// month at a time, so a 31st anchor never drifts to the 29th.
pub fn add_months(date: Date, months: i64) -> Result<Date, CalendarError> {
    let index = month_index(date)
        .checked_add(months)
        .ok_or(CalendarError::OutOfRange)?;
    let year = i16::try_from(index.div_euclid(12)).map_err(|_| CalendarError::OutOfRange)?;
    let month = i8::try_from(index.rem_euclid(12) + 1).map_err(|_| CalendarError::OutOfRange)?;
    let first = Date::new(year, month, 1).map_err(out_of_range)?;
    Date::new(year, month, date.day().min(first.days_in_month())).map_err(out_of_range)
}

/// The largest `m` with `add_months(anchor, m) <= date` (negative when `date` is before
/// `anchor`).
pub fn months_floor(anchor: Date, date: Date) -> Result<i64, CalendarError> {
    let m = month_index(date) - month_index(anchor);
    // add_months(anchor, m) lies in date's month; only its (clamped) day can overshoot.
    if add_months(anchor, m)? > date {
        Ok(m - 1)
    } else {
        Ok(m)
    }
}

pub fn add_days(date: Date, days: i64) -> Result<Date, CalendarError> {
    let span = Span::new().try_days(days).map_err(out_of_range)?;
    date.checked_add(span).map_err(out_of_range)
}

/// Whole days from `from` to `to` (negative when `to` is earlier). Civil days are always 24 hours,
/// so this is exact whatever the time zone does.
pub fn days_between(from: Date, to: Date) -> i64 {
    to.duration_since(from).as_secs() / 86_400
}

fn month_index(date: Date) -> i64 {
    i64::from(date.year()) * 12 + i64::from(date.month()) - 1
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn month_end_anchor_clamps_and_returns() {
        let anchor = date(2024, 1, 31);
        let got: Vec<Date> = (0..5).map(|k| add_months(anchor, k).unwrap()).collect();
        assert_eq!(
            got,
            [
                date(2024, 1, 31),
                date(2024, 2, 29),
                date(2024, 3, 31),
                date(2024, 4, 30),
                date(2024, 5, 31)
            ]
        );
        assert_eq!(add_months(date(2023, 1, 31), 1).unwrap(), date(2023, 2, 28));
        assert_eq!(
            add_months(date(2024, 3, 31), -1).unwrap(),
            date(2024, 2, 29)
        );
        assert_eq!(
            add_months(date(2024, 2, 29), 12).unwrap(),
            date(2025, 2, 28)
        );
        assert_eq!(
            add_months(date(2024, 2, 29), 48).unwrap(),
            date(2028, 2, 29)
        );
    }

    #[test]
    fn months_floor_inverts_add_months() {
        let anchor = date(2024, 1, 31);
        assert_eq!(months_floor(anchor, date(2024, 2, 28)).unwrap(), 0);
        assert_eq!(months_floor(anchor, date(2024, 2, 29)).unwrap(), 1);
        assert_eq!(months_floor(anchor, date(2024, 3, 30)).unwrap(), 1);
        assert_eq!(months_floor(anchor, date(2024, 3, 31)).unwrap(), 2);
        assert_eq!(months_floor(anchor, date(2024, 1, 30)).unwrap(), -1);
        assert_eq!(months_floor(anchor, date(2023, 12, 31)).unwrap(), -1);
    }

    #[test]
    fn out_of_range_is_an_error() {
        assert_eq!(
            add_months(date(9999, 12, 1), 1),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            add_months(date(2024, 1, 1), i64::MAX),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            add_days(date(9999, 12, 31), 1),
            Err(CalendarError::OutOfRange)
        );
        assert_eq!(
            add_days(date(2024, 1, 1), i64::MIN),
            Err(CalendarError::OutOfRange)
        );
    }

    #[test]
    fn days_between_counts_civil_days() {
        assert_eq!(days_between(date(2024, 2, 1), date(2024, 3, 1)), 29);
        assert_eq!(days_between(date(2023, 2, 1), date(2023, 3, 1)), 28);
        assert_eq!(days_between(date(2024, 3, 1), date(2024, 2, 1)), -29);
    }
}
