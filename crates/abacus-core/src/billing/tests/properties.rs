//! Properties over generated subscriptions: invariants of every invoice, determinism, fixed days
//! billed exactly once across any split of a period, credit order, and no panic on any input.

use jiff::civil::Date;
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::check_invariants;
use crate::billing::fixtures::{self, *};
use crate::billing::*;
use crate::calendar::{
    CalendarTerms, Contract, Interval, IntervalUnit, Renewal, Term, parse_time_zone, start_of_day,
};
use crate::catalog::{BillingFrequency, FeeType};
use crate::currency::Currency;
use crate::money;
use crate::pricing::{BillingDirection, Discount, Price, PriceInput, PriceModel};
use crate::time::Micros;

const HOUR: Micros = 3_600_000_000;
const DAY: Micros = 24 * HOUR;

const ZONES: &[&str] = &[
    "UTC",
    "America/New_York",
    "Europe/Berlin",
    "Asia/Tokyo",
    "America/Santiago",
    "Australia/Lord_Howe",
];

fn interval(i: usize) -> Interval {
    match i {
        0 => Interval::MONTHLY,
        1 => Interval::QUARTERLY,
        2 => Interval::YEARLY,
        3 => Interval::SEMI_ANNUAL,
        4 => Interval::new(2, IntervalUnit::Week).unwrap(),
        _ => Interval::new(10, IntervalUnit::Day).unwrap(),
    }
}

fn amount() -> impl Strategy<Value = Decimal> {
    (0i64..2_000_000, 0u32..4).prop_map(|(n, s)| Decimal::new(n, s))
}

/// One item of a generated version: a template and its numbers.
#[derive(Debug, Clone)]
struct ItemGen {
    template: usize,
    price: Decimal,
    units: i64,
    interval: Option<usize>,
    trial: i64,
    flag: bool,
}

fn item_gen() -> impl Strategy<Value = ItemGen> {
    (
        0usize..7,
        amount(),
        1i64..6,
        prop::option::weighted(0.2, 0usize..4),
        prop_oneof![4 => Just(0i64), 1 => 0i64..20],
        any::<bool>(),
    )
        .prop_map(|(template, price, units, interval, trial, flag)| ItemGen {
            template,
            price,
            units,
            interval,
            trial,
            flag,
        })
}

fn price_of(g: &ItemGen) -> PriceInput {
    let p = g.price.to_string();
    let tiers = || {
        vec![
            tier(0, Some(100), &p, Some("1.50")),
            tier(101, None, "0.01", Some("2.00")),
        ]
    };
    let mut input = match g.template {
        0 => seats(g.units, &p, "advance"),
        1 => seats(g.units, &p, "arrears"),
        2 => one_off(&p, g.flag),
        3 => unit("m_a", &p),
        4 => graduated("m_b", tiers()),
        5 => package("m_a", 10, &p),
        _ => with_minimum("25.00", tiered("m_b", tiers())),
    };
    if let Some(i) = g.interval {
        input.billing_interval = Some(["monthly", "quarterly", "yearly", "semi_annual"][i].into());
        input.minimum_spend = None;
    }
    if g.trial > 0 {
        input.trial_period_days = Some(g.trial);
    }
    input
}

/// A generated subscription and its invoice context.
#[derive(Debug, Clone)]
struct SubGen {
    start_days: i64,
    zone: usize,
    interval: usize,
    currency: usize,
    trial: i64,
    first_billing: Option<i64>,
    term: Option<(i64, bool)>,
    cancel_hours: Option<i64>,
    /// (start offset in hours, items by key index).
    versions: Vec<(i64, Vec<(usize, ItemGen)>)>,
    discount: Option<(bool, Decimal, Option<u32>)>,
    minimum: Option<Decimal>,
    maximum: Option<Decimal>,
    escalation: Option<(Decimal, Option<u32>, bool)>,
    tax: i64,
    credits: Vec<(Decimal, Option<i64>, i64)>,
}

fn sub_gen() -> impl Strategy<Value = SubGen> {
    let versions = prop::collection::vec(
        (
            0i64..24 * 400,
            prop::collection::vec((0usize..4, item_gen()), 0..4),
        ),
        1..4,
    );
    (
        (
            0i64..900,
            0..ZONES.len(),
            0usize..6,
            0usize..3,
            prop_oneof![3 => Just(0i64), 1 => 1i64..40],
            prop::option::weighted(0.3, -10i64..40),
            prop::option::weighted(0.3, (1i64..18, any::<bool>())),
            prop::option::weighted(0.3, 0i64..24 * 500),
        ),
        versions,
        (
            prop::option::weighted(0.3, (any::<bool>(), 1i64..60, prop::option::of(1u32..8))),
            prop::option::weighted(0.2, amount()),
            prop::option::weighted(0.2, amount()),
            prop::option::weighted(0.2, (1i64..20, prop::option::of(1u32..13), any::<bool>())),
            0i64..31,
            prop::collection::vec((amount(), prop::option::of(0i64..24 * 400), -2i64..3), 0..4),
        ),
    )
        .prop_map(
            |(
                (start_days, zone, interval, currency, trial, first_billing, term, cancel_hours),
                versions,
                (discount, minimum, maximum, escalation, tax, credits),
            )| SubGen {
                start_days,
                zone,
                interval,
                currency,
                trial,
                first_billing,
                term,
                cancel_hours,
                versions,
                discount: discount.map(|(pct, a, m)| (pct, Decimal::from(a), m)),
                minimum,
                maximum,
                escalation: escalation.map(|(p, m, metered)| (Decimal::from(p), m, metered)),
                tax,
                credits,
            },
        )
}

struct Built {
    sub: Subscription,
    cx: InvoiceContext,
}

fn date_plus(d: Date, days: i64) -> Date {
    d.checked_add(jiff::Span::new().days(days)).unwrap()
}

fn build(g: &SubGen) -> Built {
    let tz = parse_time_zone(ZONES[g.zone]).unwrap();
    let start = date_plus(jiff::civil::date(2023, 1, 1), g.start_days);
    let contract = match g.term {
        None => Contract::evergreen(start),
        Some((months, auto_renew)) => Contract::new(
            start,
            Term::fixed(months).unwrap(),
            Renewal {
                auto_renew,
                term: None,
            },
        ),
    };
    let origin = start_of_day(start, &tz).unwrap();
    let mut versions: Vec<Version> = Vec::new();
    for (i, (offset, items)) in g.versions.iter().enumerate() {
        let from = if i == 0 {
            origin
        } else {
            origin + offset * HOUR
        };
        if versions.iter().any(|v| v.from == from) {
            continue;
        }
        let mut built: Vec<Item> = Vec::new();
        for (k, ig) in items {
            let key = ["a", "b", "c", "d"][*k];
            if built.iter().any(|i| i.key == key) {
                continue;
            }
            built.push(Item::from_price_input(key, key, key, &price_of(ig)).unwrap());
        }
        versions.push(Version {
            id: format!("v{i}"),
            from,
            to: None,
            items: built,
        });
    }
    let sub = Subscription {
        currency: Currency::parse(["USD", "JPY", "BHD"][g.currency]).unwrap(),
        calendar: CalendarTerms {
            contract,
            interval: interval(g.interval),
            time_zone: tz,
            trial_days: g.trial,
            first_billing_date: g.first_billing.map(|d| date_plus(start, d)),
        },
        canceled_at: g.cancel_hours.map(|h| origin + h * HOUR),
        versions,
        discount: g.discount.map(|(pct, a, months)| DiscountTerms {
            discount: if pct {
                Discount::Percentage(a)
            } else {
                Discount::Fixed(a)
            },
            months,
        }),
        minimum_spend: g.minimum,
        maximum_spend: g.maximum,
        escalation: g.escalation.map(|(p, m, metered)| Escalation {
            percentage: p,
            every: m.map_or(EscalationStep::Renewal, EscalationStep::Months),
            metered,
        }),
    };
    let cx = InvoiceContext {
        tax_rate: Decimal::new(g.tax, 2),
        credits: g
            .credits
            .iter()
            .enumerate()
            .map(|(i, (remaining, expires, priority))| CreditGrant {
                id: format!("cg{i}"),
                remaining: *remaining,
                expires_at: expires.map(|h| origin + h * HOUR),
                priority: *priority,
            })
            .collect(),
        credits_as_of: None,
    };
    Built { sub, cx }
}

/// Usage that depends only on the request, so repeated calls agree.
fn answer(r: &UsageRequest) -> UsageValue {
    let seed = (r.from / HOUR + 7 * (r.to / HOUR) + r.metric_id.len() as i64).rem_euclid(5000);
    if r.group_by.is_empty() {
        UsageValue::Total(Decimal::new(seed, 1))
    } else {
        UsageValue::Grouped(Vec::new())
    }
}

fn usage_for(requests: &[UsageRequest]) -> Usage {
    Usage::answer(requests, |r| Ok::<_, ()>(answer(r))).unwrap()
}

/// The draws follow the order of expiry, then priority, then id, and only the last draw leaves
/// something in its grant.
fn check_credit_order(inv: &Invoice, cx: &InvoiceContext) -> Result<(), String> {
    let grant = |id: &str| cx.credits.iter().find(|g| g.id == id).unwrap();
    let order = |g: &CreditGrant| {
        (
            g.expires_at.is_none(),
            g.expires_at,
            g.priority,
            g.id.clone(),
        )
    };
    for pair in inv.credit_draws.windows(2) {
        let (a, b) = (grant(&pair[0].grant_id), grant(&pair[1].grant_id));
        if order(a) >= order(b) {
            return Err(format!("draws out of order: {} before {}", a.id, b.id));
        }
        let full = money::round_dp(a.remaining, inv.currency.minor_units());
        if pair[0].amount < full.min(a.remaining) - Decimal::new(1, inv.currency.minor_units()) {
            return Err(format!("{} was not used up before {}", a.id, b.id));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every invoice of every generated subscription over 400 days is computed, adds up, and is
    /// the same when computed again.
    #[test]
    fn every_invoice_adds_up_and_is_deterministic(g in sub_gen()) {
        let Built { sub, cx } = build(&g);
        let biller = Biller::new(&sub).unwrap();
        let from = biller.service_start();
        let boundaries = biller.boundaries(from, from + 400 * DAY).unwrap();
        prop_assert!(!boundaries.is_empty());
        for b in boundaries.into_iter().take(60) {
            let requests = biller.usage_requests(b).unwrap();
            let usage = usage_for(&requests);
            let inv = biller.bill(b, &usage, &cx);
            let inv = match inv {
                Ok(inv) => inv,
                Err(e) => return Err(TestCaseError::fail(format!("at {b}: {e}"))),
            };
            check_invariants(&inv).map_err(TestCaseError::fail)?;
            check_credit_order(&inv, &cx).map_err(TestCaseError::fail)?;
            let again = Biller::new(&sub).unwrap().bill(b, &usage, &cx).unwrap();
            prop_assert_eq!(&inv, &again);
            prop_assert_eq!(biller.next_boundary(b - 1).unwrap(), Some(b));
        }
    }
}

/// A fixed item whose definition changes at `cuts` inside one period.
#[derive(Debug, Clone)]
struct SplitGen {
    zone: usize,
    interval: usize,
    currency: usize,
    advance: bool,
    units: i64,
    /// The price of each definition (one more than the cuts).
    prices: Vec<Decimal>,
    /// Where the cuts fall, in millionths of the period.
    cuts: Vec<i64>,
    same_price: bool,
}

fn split_gen() -> impl Strategy<Value = SplitGen> {
    (
        0..ZONES.len(),
        0usize..6,
        0usize..3,
        any::<bool>(),
        1i64..10,
        prop::collection::vec(amount(), 4),
        prop::collection::vec(1i64..1_000_000, 1..4),
        any::<bool>(),
    )
        .prop_map(
            |(zone, interval, currency, advance, units, prices, mut cuts, same_price)| {
                cuts.sort_unstable();
                cuts.dedup();
                SplitGen {
                    zone,
                    interval,
                    currency,
                    advance,
                    units,
                    prices,
                    cuts,
                    same_price,
                }
            },
        )
}

fn fixed_item(price: Decimal, units: i64, advance: bool, variant: u32) -> Item {
    Item {
        key: "k".into(),
        product_id: "prod_k".into(),
        name: "K".into(),
        fee_type: FeeType::Fixed,
        direction: if advance {
            BillingDirection::Advance
        } else {
            BillingDirection::Arrears
        },
        frequency: BillingFrequency::Recurring,
        charge_on_contract_start: false,
        price: Price::from(PriceModel::Fixed {
            price_per_unit: price,
            units: Decimal::from(units),
        }),
        interval: None,
        metric_ids: Vec::new(),
        metric_aliases: Vec::new(),
        trial_days: 0,
        // No discount to time: only makes each definition distinct.
        discount_months: Some(1000 + variant),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Splitting a period at any change dates never bills a fee day twice or misses one: the
    /// item's lines for the period add up to exactly Σ round(price_i × days_i / period days)
    /// (advance: billed, minus credits by the subtraction rule, plus charges; arrears: one line
    /// per definition), their signed days add up to the period's, and with one price the parts
    /// are within one minor unit per split of the whole fee.
    #[test]
    fn fee_days_are_billed_exactly_once(g in split_gen()) {
        let tz = parse_time_zone(ZONES[g.zone]).unwrap();
        let currency = Currency::parse(["USD", "JPY", "BHD"][g.currency]).unwrap();
        let start = jiff::civil::date(2024, 1, 31);
        let origin = start_of_day(start, &tz).unwrap();
        let mut sub = Subscription {
            currency,
            calendar: CalendarTerms {
                contract: Contract::evergreen(start),
                interval: interval(g.interval),
                time_zone: tz.clone(),
                trial_days: 0,
                first_billing_date: None,
            },
            canceled_at: None,
            versions: Vec::new(),
            discount: None,
            minimum_spend: None,
            maximum_spend: None,
            escalation: None,
        };
        let biller = Biller::new(&sub).unwrap();
        // The second period: [s, e).
        let s = biller.next_boundary(origin).unwrap().unwrap();
        let e = biller.next_boundary(s).unwrap().unwrap();
        let price = |i: usize| if g.same_price { g.prices[0] } else { g.prices[i] };
        let mut cuts: Vec<Micros> = g.cuts.iter().map(|c| s + (e - s) / 1_000_000 * c).collect();
        cuts.retain(|&c| c > s && c < e);
        cuts.dedup();
        sub.versions.push(Version {
            id: "v0".into(),
            from: origin,
            to: None,
            items: vec![fixed_item(price(0), g.units, g.advance, 0)],
        });
        for (i, c) in cuts.iter().enumerate() {
            sub.versions.push(Version {
                id: format!("v{}", i + 1),
                from: *c,
                to: None,
                items: vec![fixed_item(price(i + 1), g.units, g.advance, i as u32 + 1)],
            });
        }
        let biller = Biller::new(&sub).unwrap();
        let local = |x: Micros| crate::calendar::local_date(x, &tz).unwrap();
        let (s_date, e_date) = (local(s), local(e));
        let period_days = (e_date - s_date).get_days() as i64;

        let mut sum = Decimal::ZERO;
        let mut days = 0i64;
        for b in biller.boundaries(s, e + 1).unwrap() {
            let inv = biller.bill(b, &Usage::new(), &InvoiceContext::default()).unwrap();
            for l in &inv.lines {
                let p = l.period.unwrap();
                if p.start_date < s_date || p.end_date > e_date {
                    continue; // another period's fee
                }
                sum += l.amount;
                let d = l.proration.map_or(period_days, |p| p.days());
                days += if l.kind == InvoiceLineKind::ProrationCredit { -d } else { d };
            }
        }
        prop_assert_eq!(days, period_days);

        let mut dates: Vec<Date> = vec![s_date];
        dates.extend(cuts.iter().map(|&c| local(c)));
        dates.push(e_date);
        let mut expected = Decimal::ZERO;
        for (i, w) in dates.windows(2).enumerate() {
            let d = (w[1] - w[0]).get_days() as i64;
            let full = price(i) * Decimal::from(g.units);
            expected += money::round(full * Decimal::from(d) / Decimal::from(period_days), currency);
        }
        prop_assert_eq!(sum, expected);
        if g.same_price {
            let whole = money::round(price(0) * Decimal::from(g.units), currency);
            let unit = Decimal::new(1, currency.minor_units());
            prop_assert!((sum - whole).abs() <= unit * Decimal::from(cuts.len() as i64));
        }
    }
}

/// A wild item: (model, x, y, metered, advance, n).
type WildItem = (usize, Decimal, Decimal, bool, bool, u32);

/// Anything at all: nothing panics (errors are fine).
#[derive(Debug, Clone)]
struct WildGen {
    start: (i16, i8, i8),
    interval: (i64, usize),
    trial: i64,
    first_billing: Option<(i16, i8, i8)>,
    cancel: Option<i64>,
    versions: Vec<(i64, Option<i64>, Vec<WildItem>)>,
    numbers: (Decimal, Decimal, Decimal, Decimal),
    usage: Decimal,
    probes: Vec<i64>,
}

fn wild_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        2 => (any::<i64>(), 0u32..29).prop_map(|(n, s)| Decimal::new(n, s)),
        1 => Just(Decimal::MAX),
        1 => Just(Decimal::MIN),
        1 => Just(Decimal::ZERO),
        6 => (-1_000_000i64..1_000_000, 0u32..5).prop_map(|(n, s)| Decimal::new(n, s)),
    ]
}

fn wild_gen() -> impl Strategy<Value = WildGen> {
    (
        (
            (-9999i16..=9999, 1i8..=12, 1i8..=31),
            (-5i64..100, 0usize..4),
            -5i64..5000,
            prop::option::of((-9999i16..=9999, 1i8..=12, 1i8..=31)),
            prop::option::of(any::<i64>()),
        ),
        prop::collection::vec(
            (
                any::<i64>(),
                prop::option::of(any::<i64>()),
                prop::collection::vec(
                    (
                        0usize..3,
                        wild_decimal(),
                        wild_decimal(),
                        any::<bool>(),
                        any::<bool>(),
                        any::<u32>(),
                    ),
                    0..3,
                ),
            ),
            0..4,
        ),
        (
            wild_decimal(),
            wild_decimal(),
            wild_decimal(),
            wild_decimal(),
        ),
        wild_decimal(),
        prop::collection::vec(any::<i64>(), 0..4),
    )
        .prop_map(
            |(
                (start, interval, trial, first_billing, cancel),
                versions,
                numbers,
                usage,
                probes,
            )| {
                WildGen {
                    start,
                    interval,
                    trial,
                    first_billing,
                    cancel,
                    versions,
                    numbers,
                    usage,
                    probes,
                }
            },
        )
}

fn wild_sub(g: &WildGen) -> Option<Subscription> {
    let date = |(y, m, d): (i16, i8, i8)| Date::new(y, m, d.min(28)).ok();
    let unit = [
        IntervalUnit::Day,
        IntervalUnit::Week,
        IntervalUnit::Month,
        IntervalUnit::Year,
    ][g.interval.1];
    let interval = Interval::new(g.interval.0, unit).ok()?;
    let (a, b, c, d) = g.numbers;
    let versions = g
        .versions
        .iter()
        .enumerate()
        .map(|(i, (from, to, items))| Version {
            id: format!("v{i}"),
            from: *from,
            to: *to,
            items: items
                .iter()
                .enumerate()
                .map(|(j, (kind, x, y, metered, advance, n))| Item {
                    key: format!("k{}", j % 2),
                    product_id: "p".into(),
                    name: "n".into(),
                    fee_type: if *metered {
                        FeeType::Metered
                    } else {
                        FeeType::Fixed
                    },
                    direction: if *advance {
                        BillingDirection::Advance
                    } else {
                        BillingDirection::Arrears
                    },
                    frequency: if *n % 5 == 0 {
                        BillingFrequency::OneOff
                    } else {
                        BillingFrequency::Recurring
                    },
                    charge_on_contract_start: n % 2 == 0,
                    price: Price {
                        model: match kind {
                            0 => PriceModel::Fixed {
                                price_per_unit: *x,
                                units: *y,
                            },
                            1 => PriceModel::Unit { price_per_unit: *x },
                            _ => PriceModel::Package {
                                package_size: *y,
                                price_per_package: *x,
                            },
                        },
                        discount: (n % 3 == 0).then_some(Discount::Percentage(*y)),
                        minimum_spend: (n % 7 == 0).then_some(*x),
                        maximum_spend: (n % 11 == 0).then_some(*y),
                    },
                    interval: (n % 13 == 0).then_some(Interval::YEARLY),
                    metric_ids: if n % 17 == 0 {
                        Vec::new()
                    } else {
                        vec!["m".into()]
                    },
                    metric_aliases: Vec::new(),
                    trial_days: *n % 100,
                    discount_months: (n % 4 == 0).then_some(*n),
                })
                .collect(),
        })
        .collect();
    Some(Subscription {
        currency: Currency::parse(if a.is_sign_negative() { "JPY" } else { "BHD" }).ok()?,
        calendar: CalendarTerms {
            contract: Contract::evergreen(date(g.start)?),
            interval,
            time_zone: parse_time_zone(ZONES[(g.trial.unsigned_abs() as usize) % ZONES.len()])
                .ok()?,
            trial_days: g.trial,
            first_billing_date: g.first_billing.and_then(date),
        },
        canceled_at: g.cancel,
        versions,
        discount: Some(DiscountTerms {
            discount: if b.is_sign_negative() {
                Discount::Fixed(b)
            } else {
                Discount::Percentage(b)
            },
            months: None,
        }),
        // Negative thresholds are refused up front; reach further with their magnitudes mostly.
        minimum_spend: (g.trial % 4 != 0).then(|| c.abs()).or(Some(c)),
        maximum_spend: (g.trial % 4 != 1).then(|| d.abs()).or(Some(d)),
        escalation: Some(Escalation {
            percentage: a,
            every: EscalationStep::Months(g.trial.unsigned_abs() as u32 % 3),
            metered: true,
        }),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Nothing panics, whatever the subscription, the instants, the amounts or the usage.
    #[test]
    fn nothing_panics_on_any_input(g in wild_gen()) {
        let Some(sub) = wild_sub(&g) else { return Ok(()) };
        let Ok(biller) = Biller::new(&sub) else { return Ok(()) };
        let cx = InvoiceContext {
            tax_rate: Decimal::new(g.interval.0.rem_euclid(101), 2),
            credits: vec![CreditGrant {
                id: "g".into(),
                remaining: g.usage.abs(),
                expires_at: g.cancel,
                priority: 0,
            }],
            credits_as_of: None,
        };
        let mut probes: Vec<Micros> = g.probes.clone();
        let mut at = Some(biller.service_start());
        for _ in 0..12 {
            let Some(x) = at else { break };
            probes.push(x);
            at = biller.next_boundary(x).ok().flatten();
        }
        for x in probes {
            let _ = biller.is_boundary(x);
            let _ = biller.upcoming_boundary(x);
            let _ = biller.next_boundary(x);
            if let Ok(requests) = biller.usage_requests(x) {
                let usage = Usage::answer(&requests, |r| {
                    Ok::<_, ()>(if r.group_by.is_empty() {
                        UsageValue::Total(g.usage)
                    } else {
                        UsageValue::Grouped(Vec::new())
                    })
                })
                .unwrap();
                let _ = biller.bill(x, &usage, &cx);
            }
        }
        let _ = biller.boundaries(biller.service_start(), biller.service_start().saturating_add(40 * DAY));
    }
}

#[test]
fn the_fixture_answers_group_by_dimensions() {
    let events = vec![
        Event {
            metric_id: "m".into(),
            at: 5,
            value: Decimal::ONE,
            dimensions: [("region".to_string(), "eu".to_string())].into(),
        },
        Event {
            metric_id: "m".into(),
            at: 6,
            value: Decimal::TWO,
            dimensions: [("region".to_string(), "eu".to_string())].into(),
        },
    ];
    let r = UsageRequest {
        metric_id: "m".into(),
        from: 0,
        to: 10,
        group_by: vec!["region".into()],
    };
    assert_eq!(
        fixtures::answer(&events, &r),
        UsageValue::Grouped(vec![(
            [("region".to_string(), "eu".to_string())].into(),
            Decimal::from(3)
        )])
    );
}
