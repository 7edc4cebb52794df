//! Property tests for the calendar: periods tile time, anchors never drift, DST and leap years
//! never change a day count, and the parts of a split period add up to the whole.

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, civil::date};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::time::Micros;

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    // Midnight is skipped when Santiago springs forward; Lord Howe shifts by 30 minutes.
    "America/Santiago",
    "Australia/Lord_Howe",
];

fn zone() -> impl Strategy<Value = TimeZone> {
    prop::sample::select(ZONES).prop_map(|name| parse_time_zone(name).unwrap())
}

fn dst_zone() -> impl Strategy<Value = TimeZone> {
    prop::sample::select(&["America/New_York", "Europe/Berlin"][..])
        .prop_map(|name| parse_time_zone(name).unwrap())
}

/// Any date from 1990 to 2060; a day past the month's end lands on its last day, so month ends
/// are drawn often.
fn any_date() -> impl Strategy<Value = Date> {
    (1990i16..2060, 1i8..=12, 1i8..=31).prop_map(|(y, m, d)| {
        let first = date(y, m, 1);
        date(y, m, d.min(first.days_in_month()))
    })
}

fn month_end_date() -> impl Strategy<Value = Date> {
    (1990i16..2060, 1i8..=12, 29i8..=31).prop_map(|(y, m, d)| {
        let first = date(y, m, 1);
        date(y, m, d.min(first.days_in_month()))
    })
}

fn interval() -> impl Strategy<Value = Interval> {
    prop_oneof![
        Just(Interval::MONTHLY),
        Just(Interval::QUARTERLY),
        Just(Interval::SEMI_ANNUAL),
        Just(Interval::YEARLY),
        (1i64..=45).prop_map(|n| Interval::new(n, IntervalUnit::Day).unwrap()),
        (1i64..=8).prop_map(|n| Interval::new(n, IntervalUnit::Week).unwrap()),
        (1i64..=18).prop_map(|n| Interval::new(n, IntervalUnit::Month).unwrap()),
        (1i64..=3).prop_map(|n| Interval::new(n, IntervalUnit::Year).unwrap()),
    ]
}

fn schedule() -> impl Strategy<Value = BillingSchedule> {
    (any_date(), interval(), zone()).prop_map(|(a, i, tz)| BillingSchedule::new(a, i, tz))
}

fn utc(y: i16) -> Micros {
    start_of_day(date(y, 1, 1), &TimeZone::UTC).unwrap()
}

/// An instant from 1985 to 2070.
fn instant() -> impl Strategy<Value = Micros> {
    utc(1985)..utc(2070)
}

fn local_time(t: Micros, tz: &TimeZone) -> Time {
    tz.to_datetime(Timestamp::from_microsecond(t).unwrap())
        .time()
}

fn offset_micros(t: Micros, tz: &TimeZone) -> i64 {
    let offset = tz.to_offset(Timestamp::from_microsecond(t).unwrap());
    i64::from(offset.seconds()) * 1_000_000
}

fn term() -> impl Strategy<Value = Term> {
    prop_oneof![
        Just(Term::MonthlyRolling),
        (1i64..=36).prop_map(|m| Term::fixed(m).unwrap()),
    ]
}

fn contract() -> impl Strategy<Value = Contract> {
    (any_date(), term(), any::<bool>(), prop::option::of(term())).prop_map(
        |(start, term, auto_renew, renewal_term)| {
            Contract::new(
                start,
                term,
                Renewal {
                    auto_renew,
                    term: renewal_term,
                },
            )
        },
    )
}

#[derive(Debug, Clone)]
struct Subscription {
    terms: CalendarTerms,
    /// An immediate cancellation, in microseconds after the service start.
    cancel_after_us: Option<i64>,
}

fn subscription() -> impl Strategy<Value = Subscription> {
    (
        contract(),
        interval(),
        zone(),
        prop_oneof![Just(0i64), 1i64..=60],
        prop::option::of(-40i64..=60),
        prop::option::of(0i64..(800 * 86_400_000_000)),
    )
        .prop_map(|(contract, interval, tz, trial_days, first, cancel)| {
            let first_billing_date = first.map(|d| {
                contract
                    .start
                    .checked_add(jiff::Span::new().days(d))
                    .unwrap()
            });
            Subscription {
                terms: CalendarTerms {
                    contract,
                    interval,
                    time_zone: tz,
                    trial_days,
                    first_billing_date,
                },
                cancel_after_us: cancel,
            }
        })
}

fn build(s: &Subscription) -> SubscriptionCalendar {
    let cal = SubscriptionCalendar::new(s.terms.clone()).unwrap();
    match s.cancel_after_us {
        Some(after) => {
            let at = cal.service_start() + after;
            cal.canceled_at(at).unwrap()
        }
        None => cal,
    }
}

/// Three years of service, or all of it if it ends sooner.
fn horizon(cal: &SubscriptionCalendar) -> Micros {
    let three_years = cal.service_start() + 3 * 366 * 86_400_000_000;
    cal.service_end()
        .map_or(three_years, |end| end.min(three_years))
}

proptest! {
    // The calendar is cheap to evaluate, so search wider than proptest's default 256 cases.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn cycles_are_contiguous_and_never_overlap(s in schedule(), k in -60i64..200) {
        let a = s.nth(k).unwrap();
        let b = s.nth(k + 1).unwrap();
        prop_assert_eq!(a.period.end, b.period.start);
        prop_assert_eq!(a.period.end_date, b.period.start_date);
        prop_assert!(a.period.start < a.period.end);
        prop_assert!(a.period.start_date < a.period.end_date);
    }

    #[test]
    fn every_instant_is_in_exactly_one_cycle(s in schedule(), t in instant()) {
        let c = s.cycle_at(t).unwrap();
        prop_assert!(c.period.contains(t));
        prop_assert_eq!(c, s.nth(c.index).unwrap());
        prop_assert!(!s.nth(c.index - 1).unwrap().period.contains(t));
        prop_assert!(!s.nth(c.index + 1).unwrap().period.contains(t));
        let d = local_date(t, s.time_zone()).unwrap();
        prop_assert!(c.period.contains_date(d));
        prop_assert_eq!(s.cycle_on(d).unwrap().index, c.index);
    }

    #[test]
    fn iteration_tiles_a_range(s in schedule(), from in instant(), len in 0i64..(400 * 86_400_000_000)) {
        let to = from + len;
        let cycles: Vec<Cycle> = s.cycles(from, to).collect::<Result<_, _>>().unwrap();
        if len == 0 {
            prop_assert!(cycles.is_empty());
        } else {
            prop_assert!(cycles[0].period.contains(from));
            prop_assert!(cycles.last().unwrap().period.contains(to - 1));
            for w in cycles.windows(2) {
                prop_assert_eq!(w[0].period.end, w[1].period.start);
                prop_assert_eq!(w[0].index + 1, w[1].index);
            }
        }
    }

    #[test]
    fn month_end_anchors_bill_on_the_last_day_and_come_back(
        anchor in month_end_date(),
        months in prop::sample::select(&[1i64, 2, 3, 6, 12, 24][..]),
        tz in zone(),
        k in -30i64..120,
    ) {
        let s = BillingSchedule::new(anchor, Interval::new(months, IntervalUnit::Month).unwrap(), tz);
        let b = s.boundary(k).unwrap();
        prop_assert_eq!(b, add_months(anchor, k * months).unwrap());
        prop_assert_eq!(b.day(), anchor.day().min(b.days_in_month()));
    }

    #[test]
    fn coarser_month_grids_nest_in_finer_ones(anchor in any_date(), tz in zone(), k in -20i64..60) {
        let monthly = BillingSchedule::new(anchor, Interval::MONTHLY, tz.clone());
        for (interval, n) in [(Interval::QUARTERLY, 3), (Interval::SEMI_ANNUAL, 6), (Interval::YEARLY, 12)] {
            let coarse = BillingSchedule::new(anchor, interval, tz.clone());
            prop_assert_eq!(coarse.nth(k).unwrap().period.start, monthly.nth(k * n).unwrap().period.start);
        }
    }

    #[test]
    fn dst_changes_hours_not_days(s in (any_date(), interval(), dst_zone()).prop_map(|(a, i, tz)| BillingSchedule::new(a, i, tz)), k in -30i64..150) {
        let c = s.nth(k).unwrap().period;
        let tz = s.time_zone();
        prop_assert_eq!(local_time(c.start, tz), Time::midnight());
        prop_assert_eq!(local_date(c.start, tz).unwrap(), c.start_date);
        prop_assert_eq!(local_date(c.end - 1, tz).unwrap(), c.end_date.yesterday().unwrap());
        // The period lasts its days × 24 h, minus the clock change between its ends.
        let expected = c.days() * 86_400_000_000 - (offset_micros(c.end, tz) - offset_micros(c.start, tz));
        prop_assert_eq!(c.duration_micros(), expected);
    }

    #[test]
    fn february_has_29_days_exactly_in_leap_years(year in 1600i16..2500, tz in zone()) {
        let s = BillingSchedule::new(date(year, 2, 1), Interval::MONTHLY, tz);
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        prop_assert_eq!(s.nth(0).unwrap().period.days(), if leap { 29 } else { 28 });
        let y = BillingSchedule::new(date(year, 1, 1), Interval::YEARLY, TimeZone::UTC);
        prop_assert_eq!(y.nth(0).unwrap().period.days(), if leap { 366 } else { 365 });
    }

    #[test]
    fn a_split_cycle_adds_up_to_exactly_one(
        s in schedule(),
        t in instant(),
        amount in (0i64..10_000_000_000, 0u32..=4).prop_map(|(n, scale)| Decimal::new(n, scale)),
    ) {
        let split = s.split_at(t).unwrap();
        let cycle = s.cycle_at(t).unwrap().period;
        prop_assert_eq!(split.period, cycle);
        prop_assert_eq!(split.before.days() + split.after.days(), cycle.days());
        prop_assert_eq!(split.before.period_days(), cycle.days());
        prop_assert_eq!(split.after.period_days(), cycle.days());
        prop_assert!(!split.after.is_zero());
        let ones = split.before.fraction() + split.after.fraction() - Decimal::ONE;
        prop_assert!(ones.abs() <= Decimal::new(1, 26));
        let parts = split.before.apply(amount).unwrap() + split.after.apply(amount).unwrap();
        prop_assert!((parts - amount).abs() <= Decimal::new(1, 15));
    }

    #[test]
    fn any_number_of_cuts_add_up_to_the_cycle(s in schedule(), k in -10i64..100, cuts in prop::collection::vec(0i64..400, 0..6)) {
        let cycle = s.nth(k).unwrap().period;
        let mut points: Vec<Date> = cuts
            .iter()
            .map(|&c| cycle.start_date.checked_add(jiff::Span::new().days(c % cycle.days())).unwrap())
            .collect();
        points.push(cycle.start_date);
        points.push(cycle.end_date);
        points.sort();
        let days: i64 = points
            .windows(2)
            .map(|w| Proration::within(&cycle, w[0], w[1]).days())
            .sum();
        prop_assert_eq!(days, cycle.days());
    }

    #[test]
    fn subscription_periods_tile_the_served_time(sub in subscription(), probe in 0.0f64..1.0) {
        let cal = build(&sub);
        let end = horizon(&cal);
        let periods: Vec<BillingPeriod> = cal
            .periods(Micros::MIN, end)
            .collect::<Result<_, _>>()
            .unwrap();
        if end <= cal.service_start() {
            prop_assert!(periods.is_empty());
            return Ok(());
        }
        prop_assert_eq!(periods[0].period.start, cal.service_start());
        prop_assert_eq!(periods[0].period.start_date, sub.terms.contract.start);
        prop_assert!(periods.last().unwrap().period.end >= end);
        if cal.service_end() == Some(end) {
            prop_assert_eq!(periods.last().unwrap().period.end, end);
        }
        for w in periods.windows(2) {
            prop_assert_eq!(w[0].period.end, w[1].period.start);
            prop_assert_eq!(w[0].period.end_date, w[1].period.start_date);
            prop_assert_eq!(w[1].kind, PeriodKind::Regular);
        }
        for p in &periods {
            prop_assert!(p.period.start < p.period.end);
            prop_assert!(p.period.start_date <= p.period.end_date);
            match (&p.kind, &p.cycle) {
                (PeriodKind::Trial, None) => prop_assert!(sub.terms.trial_days > 0),
                (PeriodKind::Regular, Some(c)) => {
                    prop_assert!(c.period.start <= p.period.start && p.period.end <= c.period.end);
                    let pr = p.proration();
                    prop_assert!(pr.days() <= pr.period_days());
                    prop_assert_eq!(pr.days(), p.period.days());
                }
                _ => prop_assert!(false, "trial without cycle, regular with one"),
            }
        }
        // Fee days are billed once each, from the trial's end to the end of service.
        if let Some(end_date) = cal.service_end_date().filter(|_| cal.service_end() == Some(end)) {
            let billed: i64 = periods.iter().map(|p| p.proration().days()).sum();
            let from = cal.trial_end().min(end_date);
            prop_assert_eq!(billed, (end_date.duration_since(from).as_secs() / 86_400).max(0));
        }
        // Any instant served falls in exactly the iterated period that contains it.
        let span = end.saturating_sub(cal.service_start());
        let t = cal.service_start() + (span as f64 * probe) as i64;
        let t = t.min(end - 1);
        let found = cal.period_at(t).unwrap().unwrap();
        prop_assert!(found.period.contains(t));
        prop_assert_eq!(periods.iter().filter(|p| p.period.contains(t)).count(), 1);
        prop_assert!(periods.contains(&found));
    }

    #[test]
    fn billing_dates_agree_with_the_periods(sub in subscription(), offset in -100i64..900) {
        let cal = build(&sub);
        let now = cal.service_start() + offset * 86_400_000_000 + 43_200_000_000;
        let dates = cal.billing_dates(now, 4).unwrap();
        let current = cal.period_at(now).unwrap();
        prop_assert_eq!(dates.current_cycle.is_some(), current.is_some());
        prop_assert_eq!(dates.current_cycle, dates.valid_mid_cycle_range);
        prop_assert!(dates.valid_on_cycle_dates.len() <= 4);
        prop_assert!(dates.valid_on_cycle_dates.windows(2).all(|w| w[0] < w[1]));
        if let (Some(cycle), Some(first)) = (dates.current_cycle, dates.valid_on_cycle_dates.first()) {
            prop_assert_eq!(cycle.end_date, *first);
        }
        if let Some(next) = dates.next_billing_date {
            prop_assert!(next >= local_date(now, cal.time_zone()).unwrap());
        }
        if cal.is_canceled() || !sub.terms.contract.renews() {
            prop_assert_eq!(dates.next_renewal_date, None);
        }
    }

    #[test]
    fn nothing_panics_on_wild_input(
        anchor_days in any::<i32>(),
        count in any::<i64>(),
        unit in prop::sample::select(&[IntervalUnit::Day, IntervalUnit::Week, IntervalUnit::Month, IntervalUnit::Year][..]),
        k in any::<i64>(),
        t in any::<i64>(),
        name in ".{0,20}",
        months in any::<i64>(),
        trial in any::<i64>(),
    ) {
        let _ = parse_time_zone(&name);
        let _ = Interval::from_name(&name);
        let _ = Interval::from_fields(Some(&name), Some(count), Some(&name));
        let _ = Term::from_fields(&name, Some(months));
        let anchor = date(1970, 1, 1)
            .checked_add(jiff::Span::new().days(i64::from(anchor_days) % 7_000_000))
            .unwrap_or(Date::MAX);
        let interval = Interval::new(count, unit).unwrap_or(Interval::new(count.rem_euclid(i64::from(unit.max_count())) + 1, unit).unwrap());
        let s = BillingSchedule::new(anchor, interval, parse_time_zone("America/New_York").unwrap());
        let _ = s.nth(k);
        let _ = s.cycle_at(t);
        let _ = s.split_at(t);
        let _ = s.cycles(t, t.saturating_add(86_400_000_000 * 90)).take(100).count();
        let contract = Contract::new(anchor, Term::fixed(months).unwrap_or(Term::MonthlyRolling), Renewal { auto_renew: true, term: None });
        if let Ok(cal) = SubscriptionCalendar::new(CalendarTerms {
            contract,
            interval,
            time_zone: TimeZone::UTC,
            trial_days: trial,
            first_billing_date: Some(anchor),
        }) {
            let _ = cal.period_at(t);
            let _ = cal.split_at(t);
            let _ = cal.billing_dates(t, 3);
            let _ = cal.periods(t, t.saturating_add(86_400_000_000 * 90)).take(100).count();
            let _ = cal.canceled_at(t).map(|c| c.billing_dates(k, 2));
        }
    }
}
