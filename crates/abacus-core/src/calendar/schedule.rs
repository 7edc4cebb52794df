//! A billing schedule: the endless grid of cycles `anchor + k × interval` in a time zone.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::CalendarError;
use super::dates::{add_days, add_months, days_between, months_floor};
use super::interval::{Interval, Step};
use super::period::{Cycle, Period};
use super::proration::ChangeSplit;
use super::zone::{local_date, start_of_day};
use crate::time::Micros;

/// Cycle `k` runs from `anchor + k × interval` to `anchor + (k + 1) × interval`, each boundary
/// computed from the anchor (never by chaining), at local midnight in `tz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingSchedule {
    anchor: Date,
    interval: Interval,
    tz: TimeZone,
}

impl BillingSchedule {
    pub fn new(anchor: Date, interval: Interval, tz: TimeZone) -> Self {
        Self {
            anchor,
            interval,
            tz,
        }
    }

    pub fn anchor(&self) -> Date {
        self.anchor
    }

    pub fn interval(&self) -> Interval {
        self.interval
    }

    pub fn time_zone(&self) -> &TimeZone {
        &self.tz
    }

    /// The date on which cycle `k` starts.
    pub fn boundary(&self, k: i64) -> Result<Date, CalendarError> {
        match self.interval.step() {
            Step::Days(n) => add_days(self.anchor, scaled(k, n)?),
            Step::Months(n) => add_months(self.anchor, scaled(k, n)?),
        }
    }

    /// Cycle `k` (0 starts on the anchor; negative cycles precede it).
    pub fn nth(&self, k: i64) -> Result<Cycle, CalendarError> {
        let start_date = self.boundary(k)?;
        let end_date = self.boundary(k.checked_add(1).ok_or(CalendarError::OutOfRange)?)?;
        Ok(Cycle {
            index: k,
            period: Period {
                start: start_of_day(start_date, &self.tz)?,
                end: start_of_day(end_date, &self.tz)?,
                start_date,
                end_date,
            },
        })
    }

    /// The cycle whose dates include `date`.
    pub fn cycle_on(&self, date: Date) -> Result<Cycle, CalendarError> {
        // Both floors are exact: boundaries grow strictly with k, so the largest k whose
        // boundary is <= date is the floor of the whole-unit distance divided by the count.
        let k = match self.interval.step() {
            Step::Days(n) => days_between(self.anchor, date).div_euclid(n),
            Step::Months(n) => months_floor(self.anchor, date)?.div_euclid(n),
        };
        self.nth(k)
    }

    /// The cycle containing `instant`.
    pub fn cycle_at(&self, instant: Micros) -> Result<Cycle, CalendarError> {
        let mut cycle = self.cycle_on(local_date(instant, &self.tz)?)?;
        // Where clocks fall back across midnight, an instant just after a boundary can still read
        // as the previous date; where a whole day is skipped, a cycle can be empty. Step to the
        // cycle that really holds the instant.
        for _ in 0..4 {
            if instant < cycle.period.start {
                cycle = self.nth(cycle.index - 1)?;
            } else if instant >= cycle.period.end {
                cycle = self.nth(cycle.index + 1)?;
            } else {
                return Ok(cycle);
            }
        }
        Err(CalendarError::OutOfRange)
    }

    /// Whether a cycle starts on `date` (an on-cycle change date).
    pub fn is_boundary(&self, date: Date) -> Result<bool, CalendarError> {
        Ok(self.cycle_on(date)?.period.start_date == date)
    }

    /// The cycles overlapping `[from, to)`, in order. Cycles that hold no instant (a day skipped by
    /// the time zone) are left out.
    pub fn cycles(&self, from: Micros, to: Micros) -> Cycles<'_> {
        Cycles {
            schedule: self,
            next: Next::At(from),
            to,
        }
    }

    /// An immediate change at `at`, split in the cycle containing it.
    pub fn split_at(&self, at: Micros) -> Result<ChangeSplit, CalendarError> {
        let cycle = self.cycle_at(at)?;
        Ok(ChangeSplit::new(
            cycle.period,
            &cycle.period,
            local_date(at, &self.tz)?,
        ))
    }
}

fn scaled(k: i64, n: i64) -> Result<i64, CalendarError> {
    k.checked_mul(n).ok_or(CalendarError::OutOfRange)
}

/// Iterator over [`BillingSchedule::cycles`]. It yields an error once (when a cycle falls outside
/// the calendar's range) and then stops.
#[derive(Debug, Clone)]
pub struct Cycles<'a> {
    schedule: &'a BillingSchedule,
    next: Next,
    to: Micros,
}

#[derive(Debug, Clone, Copy)]
enum Next {
    At(Micros),
    Index(i64),
    Done,
}

impl Iterator for Cycles<'_> {
    type Item = Result<Cycle, CalendarError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let cycle = match self.next {
                Next::Done => return None,
                Next::At(t) if t >= self.to => return None,
                Next::At(t) => self.schedule.cycle_at(t),
                Next::Index(k) => self.schedule.nth(k),
            };
            let cycle = match cycle {
                Ok(c) => c,
                Err(e) => {
                    self.next = Next::Done;
                    return Some(Err(e));
                }
            };
            if cycle.period.start >= self.to {
                self.next = Next::Done;
                return None;
            }
            self.next = Next::Index(cycle.index + 1);
            if cycle.period.start < cycle.period.end {
                return Some(Ok(cycle));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;
    use crate::calendar::interval::IntervalUnit;
    use crate::calendar::zone::parse_time_zone;
    use crate::time::parse_rfc3339;

    fn us(s: &str) -> Micros {
        parse_rfc3339(s).unwrap()
    }

    fn starts(s: &BillingSchedule, ks: std::ops::Range<i64>) -> Vec<Date> {
        ks.map(|k| s.boundary(k).unwrap()).collect()
    }

    #[test]
    fn thirty_first_anchor_returns_to_the_31st() {
        let s = BillingSchedule::new(date(2024, 1, 31), Interval::MONTHLY, TimeZone::UTC);
        assert_eq!(
            starts(&s, 0..6),
            [
                date(2024, 1, 31),
                date(2024, 2, 29),
                date(2024, 3, 31),
                date(2024, 4, 30),
                date(2024, 5, 31),
                date(2024, 6, 30)
            ]
        );
        assert_eq!(s.boundary(-2).unwrap(), date(2023, 11, 30));
        assert_eq!(s.boundary(13).unwrap(), date(2025, 2, 28));
        assert_eq!(s.nth(1).unwrap().period.days(), 31);
    }

    #[test]
    fn quarterly_semi_annual_yearly() {
        let q = BillingSchedule::new(date(2024, 11, 30), Interval::QUARTERLY, TimeZone::UTC);
        assert_eq!(
            starts(&q, 0..4),
            [
                date(2024, 11, 30),
                date(2025, 2, 28),
                date(2025, 5, 30),
                date(2025, 8, 30)
            ]
        );
        let h = BillingSchedule::new(date(2023, 8, 31), Interval::SEMI_ANNUAL, TimeZone::UTC);
        assert_eq!(
            starts(&h, 0..3),
            [date(2023, 8, 31), date(2024, 2, 29), date(2024, 8, 31)]
        );
        let y = BillingSchedule::new(date(2024, 2, 29), Interval::YEARLY, TimeZone::UTC);
        assert_eq!(
            starts(&y, 0..5),
            [
                date(2024, 2, 29),
                date(2025, 2, 28),
                date(2026, 2, 28),
                date(2027, 2, 28),
                date(2028, 2, 29)
            ]
        );
    }

    #[test]
    fn days_and_weeks() {
        let fortnight = Interval::new(2, IntervalUnit::Week).unwrap();
        let s = BillingSchedule::new(date(2024, 2, 26), fortnight, TimeZone::UTC);
        assert_eq!(
            starts(&s, -1..3),
            [
                date(2024, 2, 12),
                date(2024, 2, 26),
                date(2024, 3, 11),
                date(2024, 3, 25)
            ]
        );
        let ten_days = Interval::new(10, IntervalUnit::Day).unwrap();
        let s = BillingSchedule::new(date(2024, 2, 25), ten_days, TimeZone::UTC);
        assert_eq!(s.cycle_on(date(2024, 3, 5)).unwrap().index, 0);
        assert_eq!(s.cycle_on(date(2024, 3, 6)).unwrap().index, 1);
        assert_eq!(s.cycle_on(date(2024, 2, 24)).unwrap().index, -1);
    }

    #[test]
    fn new_york_months_across_dst() {
        let ny = parse_time_zone("America/New_York").unwrap();
        let s = BillingSchedule::new(date(2024, 1, 1), Interval::MONTHLY, ny);
        let march = s.nth(2).unwrap().period;
        assert_eq!(march.start, us("2024-03-01T05:00:00Z"));
        assert_eq!(march.end, us("2024-04-01T04:00:00Z"));
        assert_eq!(march.days(), 31);
        assert_eq!(march.duration_micros(), (31 * 24 - 1) * 3_600_000_000);
        let november = s.nth(10).unwrap().period;
        assert_eq!(november.start, us("2024-11-01T04:00:00Z"));
        assert_eq!(november.end, us("2024-12-01T05:00:00Z"));
        assert_eq!(november.duration_micros(), (30 * 24 + 1) * 3_600_000_000);
        // 23:30 on March 31 local is still March.
        assert_eq!(s.cycle_at(us("2024-04-01T03:30:00Z")).unwrap().index, 2);
        assert_eq!(s.cycle_at(us("2024-04-01T04:00:00Z")).unwrap().index, 3);
    }

    #[test]
    fn berlin_days_of_23_and_25_hours() {
        let berlin = parse_time_zone("Europe/Berlin").unwrap();
        let daily = Interval::new(1, IntervalUnit::Day).unwrap();
        let s = BillingSchedule::new(date(2024, 1, 1), daily, berlin);
        let spring = s.cycle_on(date(2024, 3, 31)).unwrap().period;
        assert_eq!(spring.start, us("2024-03-30T23:00:00Z"));
        assert_eq!(spring.duration_micros(), 23 * 3_600_000_000);
        let autumn = s.cycle_on(date(2024, 10, 27)).unwrap().period;
        assert_eq!(autumn.start, us("2024-10-26T22:00:00Z"));
        assert_eq!(autumn.duration_micros(), 25 * 3_600_000_000);
    }

    #[test]
    fn a_skipped_day_yields_no_empty_cycle() {
        // Samoa skipped 2011-12-30 entirely.
        let apia = parse_time_zone("Pacific/Apia").unwrap();
        let daily = Interval::new(1, IntervalUnit::Day).unwrap();
        let s = BillingSchedule::new(date(2011, 12, 1), daily, apia);
        let from = s.cycle_on(date(2011, 12, 28)).unwrap().period.start;
        let to = s.cycle_on(date(2012, 1, 2)).unwrap().period.start;
        let got: Vec<Date> = s
            .cycles(from, to)
            .map(|c| c.unwrap().period.start_date)
            .collect();
        assert_eq!(
            got,
            [
                date(2011, 12, 28),
                date(2011, 12, 29),
                date(2011, 12, 31),
                date(2012, 1, 1)
            ]
        );
        let t = s.cycle_on(date(2011, 12, 31)).unwrap().period.start;
        assert_eq!(s.cycle_at(t).unwrap().period.start_date, date(2011, 12, 31));
    }

    #[test]
    fn iteration_covers_the_range_in_order() {
        let s = BillingSchedule::new(date(2024, 1, 15), Interval::MONTHLY, TimeZone::UTC);
        let got: Vec<i64> = s
            .cycles(us("2024-03-20T12:00:00Z"), us("2024-06-15T00:00:00Z"))
            .map(|c| c.unwrap().index)
            .collect();
        assert_eq!(got, [2, 3, 4]);
        assert_eq!(s.cycles(10, 10).count(), 0);
        assert_eq!(s.cycles(20, 10).count(), 0);
    }

    #[test]
    fn edges_of_the_calendar_are_errors_not_panics() {
        let s = BillingSchedule::new(date(9999, 12, 1), Interval::YEARLY, TimeZone::UTC);
        assert_eq!(s.nth(0), Err(CalendarError::OutOfRange));
        assert_eq!(s.nth(i64::MAX), Err(CalendarError::OutOfRange));
        assert_eq!(s.nth(i64::MIN), Err(CalendarError::OutOfRange));
        assert_eq!(s.cycle_at(i64::MAX), Err(CalendarError::OutOfRange));
        let mut it = s.cycles(us("9999-12-15T00:00:00Z"), i64::MAX);
        assert_eq!(it.next(), Some(Err(CalendarError::OutOfRange)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn the_worked_examples_of_docs_billing_md() {
        use rust_decimal::dec;
        let monthly = BillingSchedule::new(date(2024, 1, 1), Interval::MONTHLY, TimeZone::UTC);
        // Alguna's upgrade: $99 -> $199 on day 16 of a 30-day cycle.
        let split = monthly.split_at(us("2024-04-16T09:00:00Z")).unwrap();
        assert_eq!((split.before.days(), split.after.days()), (15, 15));
        let credit = split.after.apply(dec!(99)).unwrap();
        let charge = split.after.apply(dec!(199)).unwrap();
        assert_eq!((credit, charge), (dec!(49.5), dec!(99.5)));
        assert_eq!(charge - credit, dec!(50));
        // February 10 start: 20 of 29 days in 2024, 19 of 28 in 2023.
        let feb24 = monthly.split_at(us("2024-02-10T00:00:00Z")).unwrap().after;
        assert_eq!(feb24.apply(dec!(99)).unwrap().round_dp(2), dec!(68.28));
        let feb23 = monthly.split_at(us("2023-02-10T00:00:00Z")).unwrap().after;
        assert_eq!((feb23.days(), feb23.period_days()), (19, 28));
        assert_eq!(feb23.apply(dec!(99)).unwrap().round_dp(2), dec!(67.18));
        // New York, cancelled at 15:00 EDT on March 10: credit 22 of 31 days.
        let ny = parse_time_zone("America/New_York").unwrap();
        let s = BillingSchedule::new(date(2024, 1, 1), Interval::MONTHLY, ny);
        let split = s.split_at(us("2024-03-10T19:00:00Z")).unwrap();
        let credit = split.after.apply(dec!(99)).unwrap().round_dp(2);
        assert_eq!(credit, dec!(70.26));
        assert_eq!(
            dec!(99) - credit,
            split.before.apply(dec!(99)).unwrap().round_dp(2)
        );
    }

    #[test]
    fn split_counts_the_change_day_for_the_new_state() {
        let ny = parse_time_zone("America/New_York").unwrap();
        let s = BillingSchedule::new(date(2024, 3, 1), Interval::MONTHLY, ny);
        // 15:00 on March 10 in New York, the day clocks spring forward.
        let split = s.split_at(us("2024-03-10T19:00:00Z")).unwrap();
        assert_eq!(split.effective_date, date(2024, 3, 10));
        assert_eq!((split.before.days(), split.after.days()), (9, 22));
        assert_eq!(split.after.period_days(), 31);
        // 23:30 local on March 31 is still a March change (03:30Z on April 1).
        let split = s.split_at(us("2024-04-01T03:30:00Z")).unwrap();
        assert_eq!((split.before.days(), split.after.days()), (30, 1));
    }
}
