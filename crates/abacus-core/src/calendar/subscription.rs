//! A subscription's billing calendar: its contract, trial, billing schedule and end, as one
//! sequence of billing periods.
//!
//! The subscription is served from the contract start (local midnight) until its end: the end of
//! a fixed contract that does not renew, or an immediate cancellation, whichever comes first; a
//! renewing contract runs on indefinitely. A trial of `trial_days` days comes first and bills
//! nothing. After it, periods are the schedule's cycles clipped to what is served, so the first
//! period can be a stub (a start off the cycle) and the last one truncated (a contract end or
//! cancellation off the cycle); both are prorated by day against their full cycle.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::CalendarError;
use super::contract::Contract;
use super::dates::add_days;
use super::interval::Interval;
use super::period::{Cycle, Period};
use super::proration::{ChangeSplit, Proration};
use super::schedule::BillingSchedule;
use super::zone::{local_date, start_of_day};
use crate::time::Micros;

/// What the calendar needs to know about a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarTerms {
    pub contract: Contract,
    /// The interval of the subscription's cycle. When prices have different intervals, give each
    /// its own calendar with the same anchor (see `docs/billing.md`).
    pub interval: Interval,
    pub time_zone: TimeZone,
    /// `trial_period_days`; 0 for none.
    pub trial_days: i64,
    /// `billing.first_billing_date`: the schedule's anchor when given.
    pub first_billing_date: Option<Date>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PeriodKind {
    /// Nothing is billed: no fixed fees and no usage.
    Trial,
    Regular,
}

/// One period of a subscription as it is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillingPeriod {
    pub kind: PeriodKind,
    pub period: Period,
    /// The full schedule cycle this period lies in (`None` for the trial). It differs from
    /// `period` for a stub or truncated period.
    pub cycle: Option<Cycle>,
}

impl BillingPeriod {
    /// The share of a fixed fee charged for this period: its days over its cycle's days, nothing
    /// for a trial.
    pub fn proration(&self) -> Proration {
        match &self.cycle {
            Some(cycle) if self.kind == PeriodKind::Regular => {
                Proration::within(&cycle.period, self.period.start_date, self.period.end_date)
            }
            _ => Proration::NONE,
        }
    }

    /// Whether this period is shorter than its cycle (a stub, a truncation or a trial).
    pub fn is_partial(&self) -> bool {
        !self.proration().is_full()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct End {
    at: Micros,
    date: Date,
    canceled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionCalendar {
    contract: Contract,
    schedule: BillingSchedule,
    start: Micros,
    trial_end: Date,
    paid_start: Micros,
    end: Option<End>,
}

impl SubscriptionCalendar {
    /// The longest trial the calendar accepts (ten years).
    pub const MAX_TRIAL_DAYS: u32 = 3_660;

    pub fn new(terms: CalendarTerms) -> Result<Self, CalendarError> {
        let CalendarTerms {
            contract,
            interval,
            time_zone: tz,
            trial_days,
            first_billing_date,
        } = terms;
        if !(0..=i64::from(Self::MAX_TRIAL_DAYS)).contains(&trial_days) {
            return Err(CalendarError::TrialDays {
                days: trial_days,
                max: Self::MAX_TRIAL_DAYS,
            });
        }
        let trial_end = add_days(contract.start, trial_days)?;
        let end = match contract.end()? {
            Some(date) => Some(End {
                at: start_of_day(date, &tz)?,
                date,
                canceled: false,
            }),
            None => None,
        };
        let start = start_of_day(contract.start, &tz)?;
        let paid_start = start_of_day(trial_end, &tz)?;
        let anchor = first_billing_date.unwrap_or(trial_end);
        Ok(Self {
            contract,
            schedule: BillingSchedule::new(anchor, interval, tz),
            start,
            trial_end,
            paid_start,
            end,
        })
    }

    /// The same subscription cancelled with immediate effect at `at` (or at its contract end, if
    /// that comes first). Usage up to `at` is still billed; fixed fees stop at the start of the
    /// local day of `at`.
    pub fn canceled_at(mut self, at: Micros) -> Result<Self, CalendarError> {
        let at = at.max(self.start);
        if self.end.is_none_or(|end| at < end.at) {
            let date = local_date(at, self.time_zone())?.max(self.contract.start);
            self.end = Some(End {
                at,
                date,
                canceled: true,
            });
        }
        Ok(self)
    }

    pub fn contract(&self) -> &Contract {
        &self.contract
    }

    pub fn schedule(&self) -> &BillingSchedule {
        &self.schedule
    }

    pub fn time_zone(&self) -> &TimeZone {
        self.schedule.time_zone()
    }

    /// The first instant served (local midnight of the contract start).
    pub fn service_start(&self) -> Micros {
        self.start
    }

    /// The first instant no longer served, if the subscription ends.
    pub fn service_end(&self) -> Option<Micros> {
        self.end.map(|e| e.at)
    }

    /// The date fixed fees stop, if the subscription ends.
    pub fn service_end_date(&self) -> Option<Date> {
        self.end.map(|e| e.date)
    }

    /// Whether the subscription ends because it was cancelled (rather than by its contract).
    pub fn is_canceled(&self) -> bool {
        self.end.is_some_and(|end| end.canceled)
    }

    /// The first day billed after the trial (the contract start when there is none).
    pub fn trial_end(&self) -> Date {
        self.trial_end
    }

    /// The billing period containing `at`; `None` outside the served time.
    pub fn period_at(&self, at: Micros) -> Result<Option<BillingPeriod>, CalendarError> {
        if at < self.start || self.end.is_some_and(|end| at >= end.at) {
            return Ok(None);
        }
        let (end_at, end_date) = match self.end {
            Some(end) => (end.at, end.date),
            None => (Micros::MAX, Date::MAX),
        };
        if at < self.paid_start {
            let start_date = self.contract.start;
            return Ok(Some(BillingPeriod {
                kind: PeriodKind::Trial,
                period: Period {
                    start: self.start,
                    end: self.paid_start.min(end_at),
                    start_date,
                    end_date: self.trial_end.min(end_date).max(start_date),
                },
                cycle: None,
            }));
        }
        let cycle = self.schedule.cycle_at(at)?;
        let start_date = cycle.period.start_date.max(self.trial_end);
        Ok(Some(BillingPeriod {
            kind: PeriodKind::Regular,
            period: Period {
                start: cycle.period.start.max(self.paid_start),
                end: cycle.period.end.min(end_at),
                start_date,
                end_date: cycle.period.end_date.min(end_date).max(start_date),
            },
            cycle: Some(cycle),
        }))
    }

    /// The billing periods overlapping `[from, to)`, in order and without gaps.
    pub fn periods(&self, from: Micros, to: Micros) -> BillingPeriods<'_> {
        BillingPeriods {
            calendar: self,
            next: Some(from.max(self.start)),
            to,
        }
    }

    /// An immediate change at `at`, split in the billing period it falls in; `None` outside the
    /// served time. In a trial both sides are [`Proration::NONE`].
    pub fn split_at(&self, at: Micros) -> Result<Option<ChangeSplit>, CalendarError> {
        let Some(billing) = self.period_at(at)? else {
            return Ok(None);
        };
        let effective_date = local_date(at, self.time_zone())?;
        Ok(Some(match billing.cycle {
            Some(cycle) => ChangeSplit::new(billing.period, &cycle.period, effective_date),
            None => ChangeSplit {
                period: billing.period,
                effective_date,
                before: Proration::NONE,
                after: Proration::NONE,
            },
        }))
    }
}

/// Iterator over [`SubscriptionCalendar::periods`]. It yields an error once and then stops.
#[derive(Debug, Clone)]
pub struct BillingPeriods<'a> {
    calendar: &'a SubscriptionCalendar,
    next: Option<Micros>,
    to: Micros,
}

impl Iterator for BillingPeriods<'_> {
    type Item = Result<BillingPeriod, CalendarError>;

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.next.take().filter(|&at| at < self.to)?;
        match self.calendar.period_at(at) {
            Ok(Some(p)) => {
                self.next = Some(p.period.end);
                Some(Ok(p))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;
    use rust_decimal::dec;

    use super::*;
    use crate::calendar::contract::{Renewal, Term};
    use crate::calendar::zone::parse_time_zone;
    use crate::time::parse_rfc3339;

    fn us(s: &str) -> Micros {
        parse_rfc3339(s).unwrap()
    }

    fn terms(contract: Contract, interval: Interval) -> CalendarTerms {
        CalendarTerms {
            contract,
            interval,
            time_zone: TimeZone::UTC,
            trial_days: 0,
            first_billing_date: None,
        }
    }

    fn all(cal: &SubscriptionCalendar) -> Vec<BillingPeriod> {
        cal.periods(Micros::MIN, Micros::MAX)
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn dates(p: &BillingPeriod) -> (Date, Date) {
        (p.period.start_date, p.period.end_date)
    }

    #[test]
    fn contract_end_truncates_the_last_period() {
        let contract = Contract::new(
            date(2024, 1, 1),
            Term::Fixed { months: 18 },
            Renewal::default(),
        );
        let cal = SubscriptionCalendar::new(terms(contract, Interval::YEARLY)).unwrap();
        let periods = all(&cal);
        assert_eq!(periods.len(), 2);
        assert_eq!(dates(&periods[0]), (date(2024, 1, 1), date(2025, 1, 1)));
        assert!(periods[0].proration().is_full());
        assert_eq!(dates(&periods[1]), (date(2025, 1, 1), date(2025, 7, 1)));
        let p = periods[1].proration();
        assert_eq!((p.days(), p.period_days()), (181, 365));
        assert_eq!(cal.service_end(), Some(us("2025-07-01T00:00:00Z")));
        assert_eq!(cal.period_at(us("2025-07-01T00:00:00Z")).unwrap(), None);
    }

    #[test]
    fn first_billing_date_makes_a_stub() {
        let mut t = terms(Contract::evergreen(date(2024, 1, 17)), Interval::MONTHLY);
        t.first_billing_date = Some(date(2024, 2, 1));
        let cal = SubscriptionCalendar::new(t).unwrap();
        let first = cal.period_at(cal.service_start()).unwrap().unwrap();
        assert_eq!(first.kind, PeriodKind::Regular);
        assert_eq!(dates(&first), (date(2024, 1, 17), date(2024, 2, 1)));
        let p = first.proration();
        assert_eq!((p.days(), p.period_days()), (15, 31));
        assert_eq!(p.apply(dec!(99)).unwrap().round_dp(2), dec!(47.90));
        let second = cal.period_at(first.period.end).unwrap().unwrap();
        assert_eq!(dates(&second), (date(2024, 2, 1), date(2024, 3, 1)));
        assert!(second.proration().is_full());
    }

    #[test]
    fn trial_bills_nothing_and_anchors_the_cycle() {
        let mut t = terms(Contract::evergreen(date(2024, 1, 31)), Interval::MONTHLY);
        t.trial_days = 14;
        let cal = SubscriptionCalendar::new(t).unwrap();
        let periods: Vec<BillingPeriod> = cal
            .periods(Micros::MIN, us("2024-04-01T00:00:00Z"))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(periods[0].kind, PeriodKind::Trial);
        assert_eq!(dates(&periods[0]), (date(2024, 1, 31), date(2024, 2, 14)));
        assert_eq!(periods[0].proration(), Proration::NONE);
        assert_eq!(dates(&periods[1]), (date(2024, 2, 14), date(2024, 3, 14)));
        assert_eq!(dates(&periods[2]), (date(2024, 3, 14), date(2024, 4, 14)));
        assert_eq!(periods.len(), 3);
    }

    #[test]
    fn trial_with_a_first_billing_date_inside_it() {
        let mut t = terms(Contract::evergreen(date(2024, 1, 20)), Interval::MONTHLY);
        t.trial_days = 14;
        t.first_billing_date = Some(date(2024, 2, 1));
        let cal = SubscriptionCalendar::new(t).unwrap();
        let periods: Vec<BillingPeriod> = cal
            .periods(Micros::MIN, us("2024-03-01T00:00:00Z"))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(dates(&periods[0]), (date(2024, 1, 20), date(2024, 2, 3)));
        assert_eq!(dates(&periods[1]), (date(2024, 2, 3), date(2024, 3, 1)));
        let p = periods[1].proration();
        assert_eq!((p.days(), p.period_days()), (27, 29));
    }

    #[test]
    fn quarterly_start_mid_quarter() {
        let mut t = terms(Contract::evergreen(date(2024, 2, 15)), Interval::QUARTERLY);
        t.first_billing_date = Some(date(2024, 1, 1));
        let cal = SubscriptionCalendar::new(t).unwrap();
        let first = cal.period_at(cal.service_start()).unwrap().unwrap();
        assert_eq!(dates(&first), (date(2024, 2, 15), date(2024, 4, 1)));
        let p = first.proration();
        assert_eq!((p.days(), p.period_days()), (46, 91));
        assert_eq!(p.apply(dec!(300)).unwrap().round_dp(2), dec!(151.65));
    }

    #[test]
    fn immediate_cancellation_in_new_york() {
        let ny = parse_time_zone("America/New_York").unwrap();
        let mut t = terms(Contract::evergreen(date(2024, 1, 1)), Interval::MONTHLY);
        t.time_zone = ny;
        let cal = SubscriptionCalendar::new(t).unwrap();
        // 15:00 EDT on 2024-03-10, hours after clocks sprang forward.
        let at = us("2024-03-10T19:00:00Z");
        let split = cal.split_at(at).unwrap().unwrap();
        assert_eq!(split.effective_date, date(2024, 3, 10));
        assert_eq!((split.before.days(), split.after.days()), (9, 22));
        assert_eq!(
            split.after.apply(dec!(99)).unwrap().round_dp(2),
            dec!(70.26)
        );

        let cal = cal.canceled_at(at).unwrap();
        assert!(cal.is_canceled());
        let last = cal.period_at(at - 1).unwrap().unwrap();
        assert_eq!(last.period.end, at);
        assert_eq!(dates(&last), (date(2024, 3, 1), date(2024, 3, 10)));
        assert_eq!(last.proration(), split.before);
        assert_eq!(cal.period_at(at).unwrap(), None);
        assert_eq!(all(&cal).len(), 3);
    }

    #[test]
    fn cancellation_inside_the_trial() {
        let mut t = terms(Contract::evergreen(date(2024, 1, 1)), Interval::MONTHLY);
        t.trial_days = 30;
        let cal = SubscriptionCalendar::new(t)
            .unwrap()
            .canceled_at(us("2024-01-10T08:00:00Z"))
            .unwrap();
        let periods = all(&cal);
        assert_eq!(periods.len(), 1);
        assert_eq!(periods[0].kind, PeriodKind::Trial);
        assert_eq!(periods[0].period.end, us("2024-01-10T08:00:00Z"));
        assert_eq!(dates(&periods[0]), (date(2024, 1, 1), date(2024, 1, 10)));
    }

    #[test]
    fn cancelling_after_the_contract_end_changes_nothing() {
        let contract = Contract::new(
            date(2024, 1, 1),
            Term::Fixed { months: 2 },
            Renewal::default(),
        );
        let cal = SubscriptionCalendar::new(terms(contract, Interval::MONTHLY)).unwrap();
        let same = cal.clone().canceled_at(us("2024-06-01T00:00:00Z")).unwrap();
        assert_eq!(same, cal);
        assert!(!same.is_canceled());
        let before_start = cal.canceled_at(us("2023-06-01T00:00:00Z")).unwrap();
        assert!(all(&before_start).is_empty());
    }

    #[test]
    fn bad_trials_are_rejected() {
        let mut t = terms(Contract::evergreen(date(2024, 1, 1)), Interval::MONTHLY);
        t.trial_days = -1;
        assert!(matches!(
            SubscriptionCalendar::new(t.clone()),
            Err(CalendarError::TrialDays { days: -1, .. })
        ));
        t.trial_days = i64::MAX;
        assert!(SubscriptionCalendar::new(t).is_err());
    }
}
