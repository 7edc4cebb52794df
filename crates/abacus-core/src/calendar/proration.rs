//! Day-based proration of fixed fees. The rules and worked examples are in `docs/billing.md`.
//!
//! A proration is an exact ratio of whole local days, `days / period_days`, where `period_days`
//! is the length of the full billing cycle. Amounts are multiplied by `days` before dividing by
//! `period_days`, at full `Decimal` precision; rounding to the currency's minor units happens
//! once, later, on the invoice line (money code), never here.

use jiff::civil::Date;
use rust_decimal::Decimal;

use super::CalendarError;
use super::dates::days_between;
use super::period::Period;

/// `days` out of `period_days` (`0 <= days <= period_days`, `period_days >= 1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Proration {
    days: i64,
    period_days: i64,
}

impl Proration {
    /// Nothing of the period (a trial, or a change on the period's first day).
    pub const NONE: Proration = Proration {
        days: 0,
        period_days: 1,
    };
    /// The whole period.
    pub const FULL: Proration = Proration {
        days: 1,
        period_days: 1,
    };

    /// The part of `cycle` that the days `[from, to)` cover, clamped to the cycle.
    pub fn within(cycle: &Period, from: Date, to: Date) -> Proration {
        let period_days = cycle.days();
        if period_days < 1 {
            return Proration::NONE;
        }
        let from = from.max(cycle.start_date);
        let to = to.min(cycle.end_date);
        Proration {
            days: days_between(from, to).max(0),
            period_days,
        }
    }

    pub fn days(self) -> i64 {
        self.days
    }

    pub fn period_days(self) -> i64 {
        self.period_days
    }

    pub fn is_zero(self) -> bool {
        self.days == 0
    }

    pub fn is_full(self) -> bool {
        self.days == self.period_days
    }

    /// `days / period_days` as a decimal: exact when it terminates (15/30 = 0.5), otherwise
    /// correct to 28 significant digits. For money use [`Proration::apply`], which divides last.
    pub fn fraction(self) -> Decimal {
        Decimal::from(self.days)
            .checked_div(Decimal::from(self.period_days))
            .unwrap_or(Decimal::ZERO)
    }

    /// `amount × days / period_days`, unrounded. The multiplication is exact; the single division
    /// keeps 28 significant digits, far below any currency's minor unit.
    pub fn apply(self, amount: Decimal) -> Result<Decimal, CalendarError> {
        amount
            .checked_mul(Decimal::from(self.days))
            .and_then(|scaled| scaled.checked_div(Decimal::from(self.period_days)))
            .ok_or(CalendarError::Overflow)
    }
}

/// An immediate change (plan change, quantity change or cancellation) at an instant, seen from the
/// billing period it falls in. The day of the change belongs to the new state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeSplit {
    /// The billing period the change falls in (as served: stubs and truncations included).
    pub period: Period,
    /// The local date from which the new state is charged (the change's local date).
    pub effective_date: Date,
    /// Fee days of the old state: `[period.start_date, effective_date)`. Charged (or kept) at the
    /// old price.
    pub before: Proration,
    /// Fee days of the new state: `[effective_date, period.end_date)`. An advance fee already
    /// billed for the whole period is credited this much; the new price is charged this much.
    pub after: Proration,
}

impl ChangeSplit {
    /// Splits `period` (which lies in `cycle`) at `effective_date`, clamped into the period.
    pub(crate) fn new(period: Period, cycle: &Period, effective_date: Date) -> ChangeSplit {
        let effective_date = effective_date
            .max(period.start_date)
            .min(period.end_date.max(period.start_date));
        ChangeSplit {
            period,
            effective_date,
            before: Proration::within(cycle, period.start_date, effective_date),
            after: Proration::within(cycle, effective_date, period.end_date),
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use jiff::tz::TimeZone;
    use rust_decimal::dec;

    use super::*;
    use crate::calendar::zone::start_of_day;

    fn month(y: i16, m: i8) -> Period {
        let start_date = date(y, m, 1);
        let end_date = start_date.last_of_month().tomorrow().unwrap();
        Period {
            start: start_of_day(start_date, &TimeZone::UTC).unwrap(),
            end: start_of_day(end_date, &TimeZone::UTC).unwrap(),
            start_date,
            end_date,
        }
    }

    #[test]
    fn start_on_the_17th_of_january() {
        let p = Proration::within(&month(2024, 1), date(2024, 1, 17), date(2024, 2, 1));
        assert_eq!((p.days(), p.period_days()), (15, 31));
        let amount = p.apply(dec!(99)).unwrap();
        assert_eq!(amount.round_dp(2), dec!(47.90));
        assert_eq!(amount, dec!(1485) / dec!(31));
    }

    #[test]
    fn clamps_to_the_cycle() {
        let jan = month(2024, 1);
        let p = Proration::within(&jan, date(2023, 12, 1), date(2024, 3, 1));
        assert!(p.is_full());
        assert_eq!(p.fraction(), Decimal::ONE);
        let p = Proration::within(&jan, date(2024, 2, 1), date(2024, 3, 1));
        assert!(p.is_zero());
        let p = Proration::within(&jan, date(2024, 1, 20), date(2024, 1, 10));
        assert!(p.is_zero());
    }

    #[test]
    fn fraction_is_exact_when_it_terminates() {
        let p = Proration {
            days: 15,
            period_days: 30,
        };
        assert_eq!(p.fraction(), dec!(0.5));
        assert_eq!(p.apply(dec!(99)).unwrap(), dec!(49.5));
    }

    #[test]
    fn overflow_is_an_error() {
        let p = Proration {
            days: 30,
            period_days: 31,
        };
        assert_eq!(p.apply(Decimal::MAX), Err(CalendarError::Overflow));
        assert_eq!(Proration::NONE.apply(Decimal::MAX), Ok(Decimal::ZERO));
    }

    #[test]
    fn upgrade_mid_february_in_a_leap_year() {
        let feb = month(2024, 2);
        let split = ChangeSplit::new(feb, &feb, date(2024, 2, 15));
        assert_eq!(split.before.days() + split.after.days(), 29);
        assert_eq!(split.before.days(), 14);
        // Old $99 plan: credit 15 unused days; new $199 plan: charge 15 days.
        let credit = split.after.apply(dec!(99)).unwrap();
        let charge = split.after.apply(dec!(199)).unwrap();
        assert_eq!(credit.round_dp(2), dec!(51.21));
        assert_eq!(charge.round_dp(2), dec!(102.93));
    }
}
