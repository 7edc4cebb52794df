//! The answer to `GET /subscriptions/{id}/billing-dates` (the SDK's `BillingDatesResponse`),
//! computed from a subscription's calendar. All dates are local dates in the billing time zone;
//! every `end_date` is exclusive (it is the next cycle's `start_date`).

use jiff::civil::Date;

use super::CalendarError;
use super::contract::Term;
use super::subscription::{BillingPeriod, PeriodKind, SubscriptionCalendar};
use super::zone::local_date;
use crate::time::Micros;

/// `BillingCycleResponse`: `[start_date, end_date)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateRange {
    pub start_date: Date,
    pub end_date: Date,
}

impl From<&BillingPeriod> for DateRange {
    fn from(p: &BillingPeriod) -> Self {
        DateRange {
            start_date: p.period.start_date,
            end_date: p.period.end_date,
        }
    }
}

/// `BillingDatesResponse`, field for field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingDates {
    /// The billing period containing now (the trial while in it); `None` before the start and
    /// after the end.
    pub current_cycle: Option<DateRange>,
    /// When the next invoice for recurring charges falls: the end of the current period (the
    /// arrears invoice for it and the advance invoice for the next one), or the first billed day
    /// when the subscription has not started or is in its trial.
    pub next_billing_date: Option<Date>,
    /// Dates on which a change can take effect on-cycle: the starts of the next billing periods,
    /// at most the number asked for.
    pub valid_on_cycle_dates: Vec<Date>,
    /// The range in which a mid-cycle (prorated) change can take effect: the current period.
    pub valid_mid_cycle_range: Option<DateRange>,
    /// When the current term renews; `None` if it will not (no auto-renewal, or cancelled).
    pub next_renewal_date: Option<Date>,
    /// The end of the current fixed term, or the end of service if the subscription was
    /// cancelled before it; `None` for a rolling contract.
    pub contract_end_date: Option<Date>,
}

impl SubscriptionCalendar {
    /// The billing dates as seen at `now`, listing at most `max_on_cycle_dates` on-cycle dates.
    pub fn billing_dates(
        &self,
        now: Micros,
        max_on_cycle_dates: usize,
    ) -> Result<BillingDates, CalendarError> {
        let today = local_date(now, self.time_zone())?;
        let current = self.period_at(now)?;
        let upcoming_from = match &current {
            Some(p) => Some(p.period.end),
            None if now < self.service_start() => Some(self.service_start()),
            None => None,
        };
        // Two periods suffice to find the first billed one (a trial comes first at most).
        let wanted = max_on_cycle_dates.max(2);
        let upcoming = match upcoming_from {
            Some(from) => self
                .periods(from, Micros::MAX)
                .take(wanted)
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };

        let next_billing_date = match &current {
            Some(p) if p.kind == PeriodKind::Regular => Some(p.period.end_date),
            _ => upcoming
                .iter()
                .find(|p| p.kind == PeriodKind::Regular)
                .map(|p| p.period.start_date),
        };

        let contract = self.contract();
        let term = contract.term_on(today.max(contract.start))?;
        let contractual_end = match term {
            Some(t) if matches!(t.kind, Term::Fixed { .. }) => Some(t.end),
            Some(_) => None,
            None => contract.end()?,
        };
        let (next_renewal_date, contract_end_date) = if self.is_canceled() {
            let end = self.service_end_date();
            let end = match (contractual_end, end) {
                (Some(c), Some(e)) => Some(c.min(e)),
                (c, e) => c.or(e),
            };
            (None, end)
        } else if contract.renews() {
            (term.map(|t| t.end), contractual_end)
        } else {
            (None, contractual_end)
        };

        Ok(BillingDates {
            current_cycle: current.as_ref().map(DateRange::from),
            next_billing_date,
            valid_on_cycle_dates: upcoming
                .iter()
                .take(max_on_cycle_dates)
                .map(|p| p.period.start_date)
                .collect(),
            valid_mid_cycle_range: current.as_ref().map(DateRange::from),
            next_renewal_date,
            contract_end_date,
        })
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use jiff::tz::TimeZone;

    use super::*;
    use crate::calendar::contract::{Contract, Renewal};
    use crate::calendar::interval::Interval;
    use crate::calendar::subscription::CalendarTerms;
    use crate::calendar::zone::parse_time_zone;
    use crate::time::parse_rfc3339;

    fn us(s: &str) -> Micros {
        parse_rfc3339(s).unwrap()
    }

    fn range(a: Date, b: Date) -> Option<DateRange> {
        Some(DateRange {
            start_date: a,
            end_date: b,
        })
    }

    fn calendar(contract: Contract, trial_days: i64, first: Option<Date>) -> SubscriptionCalendar {
        SubscriptionCalendar::new(CalendarTerms {
            contract,
            interval: Interval::MONTHLY,
            time_zone: TimeZone::UTC,
            trial_days,
            first_billing_date: first,
        })
        .unwrap()
    }

    fn twelve_months_renewing(start: Date) -> Contract {
        Contract::new(
            start,
            Term::Fixed { months: 12 },
            Renewal {
                auto_renew: true,
                term: None,
            },
        )
    }

    #[test]
    fn the_alguna_example() {
        let cal = calendar(twelve_months_renewing(date(2026, 7, 1)), 0, None);
        let got = cal.billing_dates(us("2026-07-10T12:00:00Z"), 1).unwrap();
        assert_eq!(
            got,
            BillingDates {
                current_cycle: range(date(2026, 7, 1), date(2026, 8, 1)),
                next_billing_date: Some(date(2026, 8, 1)),
                valid_on_cycle_dates: vec![date(2026, 8, 1)],
                valid_mid_cycle_range: range(date(2026, 7, 1), date(2026, 8, 1)),
                next_renewal_date: Some(date(2027, 7, 1)),
                contract_end_date: Some(date(2027, 7, 1)),
            }
        );
        let more = cal.billing_dates(us("2026-07-10T12:00:00Z"), 3).unwrap();
        assert_eq!(
            more.valid_on_cycle_dates,
            [date(2026, 8, 1), date(2026, 9, 1), date(2026, 10, 1)]
        );
        // In the second term the dates move on a year.
        let later = cal.billing_dates(us("2027-08-03T00:00:00Z"), 1).unwrap();
        assert_eq!(later.contract_end_date, Some(date(2028, 7, 1)));
        assert_eq!(later.next_renewal_date, Some(date(2028, 7, 1)));
    }

    #[test]
    fn trial_then_first_billing() {
        let cal = calendar(Contract::evergreen(date(2024, 1, 20)), 14, None);
        let got = cal.billing_dates(us("2024-01-25T00:00:00Z"), 2).unwrap();
        assert_eq!(
            got.current_cycle,
            range(date(2024, 1, 20), date(2024, 2, 3))
        );
        assert_eq!(got.next_billing_date, Some(date(2024, 2, 3)));
        assert_eq!(
            got.valid_on_cycle_dates,
            [date(2024, 2, 3), date(2024, 3, 3)]
        );
        assert_eq!(got.contract_end_date, None);
        assert_eq!(got.next_renewal_date, Some(date(2024, 2, 20)));
    }

    #[test]
    fn before_the_start_and_after_the_end() {
        let contract = Contract::new(
            date(2025, 1, 1),
            Term::Fixed { months: 3 },
            Renewal::default(),
        );
        let cal = calendar(contract, 0, None);
        let before = cal.billing_dates(us("2024-12-15T00:00:00Z"), 5).unwrap();
        assert_eq!(before.current_cycle, None);
        assert_eq!(before.next_billing_date, Some(date(2025, 1, 1)));
        assert_eq!(
            before.valid_on_cycle_dates,
            [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
        );
        assert_eq!(before.contract_end_date, Some(date(2025, 4, 1)));
        assert_eq!(before.next_renewal_date, None);
        let last = cal.billing_dates(us("2025-03-31T23:00:00Z"), 5).unwrap();
        assert_eq!(last.next_billing_date, Some(date(2025, 4, 1)));
        assert!(last.valid_on_cycle_dates.is_empty());
        let after = cal.billing_dates(us("2025-04-01T00:00:00Z"), 5).unwrap();
        assert_eq!(after.current_cycle, None);
        assert_eq!(after.next_billing_date, None);
        assert!(after.valid_on_cycle_dates.is_empty());
        assert_eq!(after.contract_end_date, Some(date(2025, 4, 1)));
    }

    #[test]
    fn cancelled_mid_cycle() {
        let ny = parse_time_zone("America/New_York").unwrap();
        let cal = SubscriptionCalendar::new(CalendarTerms {
            contract: twelve_months_renewing(date(2024, 1, 1)),
            interval: Interval::MONTHLY,
            time_zone: ny,
            trial_days: 0,
            first_billing_date: None,
        })
        .unwrap()
        .canceled_at(us("2024-03-10T19:00:00Z"))
        .unwrap();
        let got = cal.billing_dates(us("2024-03-05T12:00:00Z"), 3).unwrap();
        assert_eq!(
            got.current_cycle,
            range(date(2024, 3, 1), date(2024, 3, 10))
        );
        assert_eq!(got.next_billing_date, Some(date(2024, 3, 10)));
        assert!(got.valid_on_cycle_dates.is_empty());
        assert_eq!(got.next_renewal_date, None);
        assert_eq!(got.contract_end_date, Some(date(2024, 3, 10)));
    }

    #[test]
    fn stub_before_the_first_billing_date() {
        let cal = calendar(
            Contract::evergreen(date(2024, 1, 17)),
            0,
            Some(date(2024, 2, 1)),
        );
        let got = cal.billing_dates(us("2024-01-20T00:00:00Z"), 2).unwrap();
        assert_eq!(
            got.current_cycle,
            range(date(2024, 1, 17), date(2024, 2, 1))
        );
        assert_eq!(
            got.valid_on_cycle_dates,
            [date(2024, 2, 1), date(2024, 3, 1)]
        );
    }
}
