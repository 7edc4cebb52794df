//! Rules and errors of the billing function, one at a time.

use rust_decimal::Decimal;
use rust_decimal::dec;

use super::check_invariants;
use crate::billing::fixtures::{self, *};
use crate::billing::*;
use crate::calendar::{CalendarError, Interval};
use crate::pricing::{Discount, PricingError};
use crate::time::{Micros, format_micros};

fn scenario_named(name: &str) -> fixtures::Scenario {
    fixtures::all()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no scenario {name}"))
}

fn cx() -> InvoiceContext {
    InvoiceContext::default()
}

/// Bills `boundary` with usage answered from `events`.
fn bill_at(sub: &Subscription, events: &[Event], boundary: &str) -> Invoice {
    let b = Biller::new(sub).unwrap();
    let requests = b.usage_requests(at(boundary)).unwrap();
    let inv = b
        .bill(at(boundary), &fixtures::usage(events, &requests), &cx())
        .unwrap();
    check_invariants(&inv).unwrap();
    inv
}

fn amounts(inv: &Invoice) -> Vec<(InvoiceLineKind, String)> {
    inv.lines
        .iter()
        .map(|l| (l.kind, l.amount.to_string()))
        .collect()
}

fn all_boundaries(sub: &Subscription, to: &str) -> Vec<String> {
    let b = Biller::new(sub).unwrap();
    b.boundaries(Micros::MIN, at(to))
        .unwrap()
        .into_iter()
        .map(format_micros)
        .collect()
}

#[test]
fn a_change_is_a_boundary_of_its_own() {
    let s = scenario_named("upgrade_mid_period");
    assert_eq!(
        all_boundaries(&s.subscription, "2024-06-01T00:00:00Z"),
        [
            "2024-04-01T00:00:00.000000Z",
            "2024-04-16T10:00:00.000000Z",
            "2024-05-01T00:00:00.000000Z"
        ]
    );
}

#[test]
fn nothing_after_the_end_of_service() {
    let s = scenario_named("end_of_term_cancellation");
    assert_eq!(
        all_boundaries(&s.subscription, "2025-01-01T00:00:00Z"),
        [
            "2024-01-01T00:00:00.000000Z",
            "2024-02-01T00:00:00.000000Z",
            "2024-03-01T00:00:00.000000Z"
        ]
    );
    let b = Biller::new(&s.subscription).unwrap();
    assert_eq!(b.next_boundary(at("2024-03-01T00:00:00Z")).unwrap(), None);
    assert_eq!(
        b.upcoming_boundary(at("2024-03-05T00:00:00Z")).unwrap(),
        None
    );
    assert_eq!(
        b.bill(at("2024-04-01T00:00:00Z"), &Usage::new(), &cx()),
        Err(BillingError::NotABoundary(at("2024-04-01T00:00:00Z")))
    );
    assert_eq!(
        b.usage_requests(at("2024-02-15T00:00:00Z")),
        Err(BillingError::NotABoundary(at("2024-02-15T00:00:00Z")))
    );
}

#[test]
fn a_cancellation_at_the_start_leaves_one_empty_boundary() {
    let s = scenario("c", "", "2024-01-01")
        .cancel_at("2023-12-01T00:00:00Z")
        .items(vec![("pro", "Pro", fee("99.00", "advance"))]);
    let b = Biller::new(&s.subscription).unwrap();
    let start = at("2024-01-01T00:00:00Z");
    assert_eq!(b.service_end(), Some(start));
    assert_eq!(b.boundaries(Micros::MIN, Micros::MAX).unwrap(), [start]);
    assert_eq!(b.next_boundary(start - 1).unwrap(), Some(start));
    assert_eq!(b.next_boundary(start).unwrap(), None);
    assert!(bill_at(&s.subscription, &[], "2024-01-01T00:00:00Z").is_empty());
}

#[test]
fn next_and_upcoming_boundaries() {
    let s = scenario_named("upgrade_mid_period");
    let b = Biller::new(&s.subscription).unwrap();
    let next = |x: &str| b.next_boundary(at(x)).unwrap().map(format_micros);
    assert_eq!(
        next("2024-01-01T00:00:00Z").as_deref(),
        Some("2024-04-01T00:00:00.000000Z")
    );
    assert_eq!(
        next("2024-04-01T00:00:00Z").as_deref(),
        Some("2024-04-16T10:00:00.000000Z")
    );
    assert_eq!(
        next("2024-04-16T10:00:00Z").as_deref(),
        Some("2024-05-01T00:00:00.000000Z")
    );
    assert_eq!(
        next("2024-05-01T00:00:00Z").as_deref(),
        Some("2024-06-01T00:00:00.000000Z")
    );
    // The upcoming invoice is the one closing the current period, even with a change inside it.
    let upcoming = |x: &str| b.upcoming_boundary(at(x)).unwrap().map(format_micros);
    assert_eq!(
        upcoming("2024-03-01T00:00:00Z").as_deref(),
        Some("2024-04-01T00:00:00.000000Z")
    );
    assert_eq!(
        upcoming("2024-04-03T00:00:00Z").as_deref(),
        Some("2024-05-01T00:00:00.000000Z")
    );
    assert_eq!(
        upcoming("2024-04-20T00:00:00Z").as_deref(),
        Some("2024-05-01T00:00:00.000000Z")
    );
    assert!(b.is_boundary(at("2024-04-16T10:00:00Z")).unwrap());
    assert!(!b.is_boundary(at("2024-04-16T00:00:00Z")).unwrap());
}

#[test]
fn the_upcoming_invoice_shows_usage_so_far() {
    let s = scenario_named("upgrade_mid_period");
    let b = Biller::new(&s.subscription).unwrap();
    let now = at("2024-04-12T00:00:00Z");
    let boundary = b.upcoming_boundary(now).unwrap().unwrap();
    let requests = b.usage_requests(boundary).unwrap();
    // Metering answers with what it has: the events before `now`.
    let so_far: Vec<Event> = s.events.iter().filter(|e| e.at < now).cloned().collect();
    let inv = b
        .bill(boundary, &fixtures::usage(&so_far, &requests), &cx())
        .unwrap();
    assert_eq!(
        amounts(&inv),
        [
            (InvoiceLineKind::Usage, "10.00".into()),
            (InvoiceLineKind::Usage, "0.00".into()),
            (InvoiceLineKind::FixedAdvance, "199.00".into())
        ]
    );
}

#[test]
fn usage_is_requested_per_version_stretch() {
    let s = scenario_named("upgrade_mid_period");
    let requests = usage_requests(&s.subscription, at("2024-05-01T00:00:00Z")).unwrap();
    let ranges: Vec<(String, String, String)> = requests
        .iter()
        .map(|r| {
            (
                r.metric_id.clone(),
                format_micros(r.from),
                format_micros(r.to),
            )
        })
        .collect();
    assert_eq!(
        ranges,
        [
            (
                "m_api".to_string(),
                "2024-04-01T00:00:00.000000Z".to_string(),
                "2024-04-16T10:00:00.000000Z".to_string()
            ),
            (
                "m_api".to_string(),
                "2024-04-16T10:00:00.000000Z".to_string(),
                "2024-05-01T00:00:00.000000Z".to_string()
            )
        ]
    );
    // A change invoice needs no usage.
    assert!(
        usage_requests(&s.subscription, at("2024-04-16T10:00:00Z"))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn missing_or_misshapen_usage_is_an_error() {
    let s = scenario_named("unit_usage_and_platform_fee");
    let b = Biller::new(&s.subscription).unwrap();
    let boundary = at("2024-02-01T00:00:00Z");
    let requests = b.usage_requests(boundary).unwrap();
    assert_eq!(
        b.bill(boundary, &Usage::new(), &cx()),
        Err(BillingError::MissingUsage(requests[0].clone()))
    );
    let mut wrong = Usage::new();
    wrong.insert(requests[0].clone(), UsageValue::Grouped(Vec::new()));
    assert_eq!(
        b.bill(boundary, &wrong, &cx()),
        Err(BillingError::UsageShape(requests[0].clone()))
    );
    let mut negative = Usage::new();
    negative.insert(requests[0].clone(), UsageValue::Total(dec!(-1)));
    assert!(matches!(
        b.bill(boundary, &negative, &cx()),
        Err(BillingError::Pricing {
            error: PricingError::Negative { .. },
            ..
        })
    ));
}

#[test]
fn bad_versions_are_errors() {
    let base = scenario("v", "", "2024-01-01").items(vec![("pro", "Pro", fee("1", "advance"))]);
    let mut dup = base.clone().subscription;
    let item = dup.versions[0].items[0].clone();
    dup.versions[0].items.push(item);
    assert_eq!(
        Biller::new(&dup).err(),
        Some(BillingError::DuplicateItem {
            version: "v1".into(),
            key: "pro".into()
        })
    );
    let mut same = base.clone().subscription;
    let mut v2 = same.versions[0].clone();
    v2.id = "v2".into();
    same.versions.push(v2);
    assert!(matches!(
        Biller::new(&same),
        Err(BillingError::SameStart { .. })
    ));
    let mut empty = base.clone().subscription;
    empty.versions[0].to = Some(empty.versions[0].from);
    assert_eq!(
        Biller::new(&empty).err(),
        Some(BillingError::EmptyVersion {
            version: "v1".into()
        })
    );
    let mut bad_trial = base.clone().subscription;
    bad_trial.calendar.trial_days = -1;
    assert!(matches!(
        Biller::new(&bad_trial),
        Err(BillingError::Calendar(CalendarError::TrialDays { .. }))
    ));
    let mut negative_min = base.subscription;
    negative_min.minimum_spend = Some(dec!(-1));
    assert!(matches!(
        Biller::new(&negative_min),
        Err(BillingError::Negative { .. })
    ));
}

#[test]
fn bad_invoice_contexts_are_errors() {
    let s = scenario_named("fixed_fee_in_advance");
    let b = Biller::new(&s.subscription).unwrap();
    let x = at("2024-01-01T00:00:00Z");
    for rate in [dec!(-0.01), dec!(1.01)] {
        let c = InvoiceContext {
            tax_rate: rate,
            ..cx()
        };
        assert_eq!(
            b.bill(x, &Usage::new(), &c),
            Err(BillingError::TaxRate(rate))
        );
    }
    let c = InvoiceContext {
        credits: vec![CreditGrant {
            id: "cg".into(),
            remaining: dec!(-5),
            expires_at: None,
            priority: 0,
        }],
        ..cx()
    };
    assert_eq!(
        b.bill(x, &Usage::new(), &c),
        Err(BillingError::NegativeCredit("cg".into()))
    );
}

#[test]
fn a_volume_percentage_price_needs_its_transaction_metric() {
    let mut price = volume_percentage("m_volume", "m_payments", "2.9", "0.30", "0");
    price.metric_ids = Some(vec!["m_volume".into()]);
    let s = scenario("v", "", "2024-01-01").items(vec![("pay", "Payments", price)]);
    assert!(matches!(
        usage_requests(&s.subscription, at("2024-02-01T00:00:00Z")),
        Err(BillingError::UsageBinding { .. })
    ));
}

#[test]
fn billing_is_deterministic() {
    for s in fixtures::all() {
        for e in &s.invoices {
            let run = || {
                let b = Biller::new(&s.subscription).unwrap();
                let r = b.usage_requests(e.boundary).unwrap();
                let c = InvoiceContext {
                    tax_rate: s.tax_rate,
                    credits: s.credits.clone(),
                    credits_as_of: None,
                };
                (
                    r.clone(),
                    b.bill(e.boundary, &fixtures::usage(&s.events, &r), &c),
                )
            };
            assert_eq!(run(), run(), "{}", s.name);
        }
    }
}

#[test]
fn escalated_metered_rates_when_asked() {
    let s = scenario("e", "", "2024-01-01")
        .escalation(Escalation {
            percentage: dec!(10),
            every: EscalationStep::Months(1),
            metered: true,
        })
        .items(vec![("api", "API", unit("m_api", "0.10"))])
        .event("m_api", "2024-02-10T00:00:00Z", "1000");
    // February is one step in: 1,000 × 0.11 = 110.00.
    let inv = bill_at(&s.subscription, &s.events, "2024-03-01T00:00:00Z");
    assert_eq!(amounts(&inv), [(InvoiceLineKind::Usage, "110.00".into())]);
}

#[test]
fn a_cancellation_in_the_trial_bills_nothing() {
    let s = scenario("t", "", "2024-01-01")
        .trial(30)
        .cancel_at("2024-01-10T08:00:00Z")
        .items(vec![
            ("pro", "Pro", fee("99.00", "advance")),
            ("api", "API", unit("m_api", "0.10")),
        ])
        .event("m_api", "2024-01-05T00:00:00Z", "100");
    assert_eq!(
        all_boundaries(&s.subscription, "2025-01-01T00:00:00Z"),
        ["2024-01-01T00:00:00.000000Z", "2024-01-10T08:00:00.000000Z"]
    );
    for b in ["2024-01-01T00:00:00Z", "2024-01-10T08:00:00Z"] {
        assert!(bill_at(&s.subscription, &s.events, b).is_empty());
    }
}

#[test]
fn an_item_removed_mid_period_is_credited_and_one_added_is_charged() {
    let s = scenario("r", "", "2024-04-01")
        .items(vec![
            ("pro", "Pro", fee("30.00", "advance")),
            ("addon", "Add-on", fee("60.00", "advance")),
        ])
        .change(
            "v2",
            "2024-04-11T00:00:00Z",
            vec![
                ("pro", "Pro", fee("30.00", "advance")),
                ("extra", "Extra", fee("90.00", "advance")),
                ("setup", "Setup", one_off("5.00", true)),
            ],
        );
    // Add-on kept Apr 1–10: 60 × 10/30 = 20.00, credit −40.00. Extra Apr 11–30: 90 × 20/30 =
    // 60.00. The unchanged Pro plan has no line. Setup is charged when its version starts.
    let inv = bill_at(&s.subscription, &[], "2024-04-11T00:00:00Z");
    assert_eq!(
        amounts(&inv),
        [
            (InvoiceLineKind::ProrationCredit, "-40.00".into()),
            (InvoiceLineKind::ProrationCharge, "60.00".into()),
            (InvoiceLineKind::OneOff, "5.00".into())
        ]
    );
    assert_eq!(inv.total.to_string(), "25.00");
}

#[test]
fn two_changes_on_one_day_charge_the_day_to_the_last() {
    let s = scenario("d", "", "2024-04-01")
        .items(vec![("pro", "Pro", fee("30.00", "advance"))])
        .change(
            "v2",
            "2024-04-11T09:00:00Z",
            vec![("pro", "Pro", fee("60.00", "advance"))],
        )
        .change(
            "v3",
            "2024-04-11T17:00:00Z",
            vec![("pro", "Pro", fee("90.00", "advance"))],
        );
    // 09:00: credit 30 for Apr 11–30 (−20.00), charge 60 for them (40.00).
    let first = bill_at(&s.subscription, &[], "2024-04-11T09:00:00Z");
    assert_eq!(
        amounts(&first),
        [
            (InvoiceLineKind::ProrationCredit, "-20.00".into()),
            (InvoiceLineKind::ProrationCharge, "40.00".into())
        ]
    );
    // 17:00, same day: the 60 price keeps no day, all of its 40.00 comes back; 90 × 20/30.
    let second = bill_at(&s.subscription, &[], "2024-04-11T17:00:00Z");
    assert_eq!(
        amounts(&second),
        [
            (InvoiceLineKind::ProrationCredit, "-40.00".into()),
            (InvoiceLineKind::ProrationCharge, "60.00".into())
        ]
    );
}

#[test]
fn a_version_starting_after_the_contract_is_a_prorated_start() {
    let mut s = scenario("g", "", "2024-04-01").change(
        "v1",
        "2024-04-21T00:00:00Z",
        vec![("pro", "Pro", fee("30.00", "advance"))],
    );
    s.subscription.versions[0].to = None;
    assert!(bill_at(&s.subscription, &[], "2024-04-01T00:00:00Z").is_empty());
    // Apr 21–30: 30 × 10/30 = 10.00.
    let inv = bill_at(&s.subscription, &[], "2024-04-21T00:00:00Z");
    assert_eq!(
        amounts(&inv),
        [(InvoiceLineKind::ProrationCharge, "10.00".into())]
    );
}

#[test]
fn a_percentage_discount_discounts_a_refund_too() {
    let s = scenario("p", "", "2024-04-01")
        .discount(Discount::Percentage(dec!(10)), None)
        .items(vec![("pro", "Pro", fee("300.00", "advance"))])
        .change(
            "v2",
            "2024-04-16T00:00:00Z",
            vec![("pro", "Pro", fee("60.00", "advance"))],
        );
    // Credit: 150.00 − 300.00 = −150.00; charge 60 × 15/30 = 30.00; net −120.00, of which the
    // 10% discount gives back 12.00: −108.00 (= the discounted prices: −135.00 + 27.00).
    let inv = bill_at(&s.subscription, &[], "2024-04-16T00:00:00Z");
    assert_eq!(
        amounts(&inv),
        [
            (InvoiceLineKind::ProrationCredit, "-150.00".into()),
            (InvoiceLineKind::ProrationCharge, "30.00".into()),
            (InvoiceLineKind::Discount, "12.00".into())
        ]
    );
}

#[test]
fn a_backdated_subscription_catches_up_every_period() {
    let s = scenario("b", "", "2023-01-31").items(vec![("pro", "Pro", fee("10.00", "advance"))]);
    let b = Biller::new(&s.subscription).unwrap();
    let boundaries = b
        .boundaries(b.service_start(), at("2024-01-15T00:00:00Z"))
        .unwrap();
    assert_eq!(boundaries.len(), 12);
    let mut total = Decimal::ZERO;
    for x in boundaries {
        let inv = b.bill(x, &Usage::new(), &cx()).unwrap();
        total += inv.total;
    }
    assert_eq!(total, dec!(120.00));
}

#[test]
fn an_item_moved_to_another_interval_is_settled_on_both() {
    let s = scenario("i", "", "2024-01-01")
        .items(vec![("pro", "Pro", fee("31.00", "advance"))])
        .change(
            "v2",
            "2024-01-11T00:00:00Z",
            vec![("pro", "Pro", every("yearly", fee("366.00", "advance")))],
        );
    // Monthly: kept Jan 1–10 = 10.00, credit −21.00. Yearly (2024 has 366 days): Jan 11 –
    // Dec 31 is 356 days: 366 × 356/366 = 356.00.
    let inv = bill_at(&s.subscription, &[], "2024-01-11T00:00:00Z");
    assert_eq!(
        amounts(&inv),
        [
            (InvoiceLineKind::ProrationCredit, "-21.00".into()),
            (InvoiceLineKind::ProrationCharge, "356.00".into())
        ]
    );
    assert!(bill_at(&s.subscription, &[], "2024-02-01T00:00:00Z").is_empty());
}

#[test]
fn a_cancellation_leaves_only_a_closing_period() {
    let s = scenario_named("immediate_cancellation");
    let inv = bill_at(&s.subscription, &s.events, "2024-02-10T15:00:00Z");
    let closing = inv.closing.unwrap();
    assert_eq!(
        (format_micros(closing.start), format_micros(closing.end)),
        (
            "2024-02-01T00:00:00.000000Z".to_string(),
            "2024-02-10T15:00:00.000000Z".to_string()
        )
    );
    assert_eq!(inv.opening, None);
    assert_eq!(
        inv.lines[0].description,
        "API calls: 500 units × 0.10, Feb 1, 2024 00:00 – Feb 10, 2024 15:00"
    );
    assert_eq!(
        inv.lines[1].description,
        "Unused time on Pro plan: 1 unit × 99.00 (fixed), Feb 10 – Feb 29, 2024 (20 of 29 days)"
    );
    let p = inv.lines[1].proration.unwrap();
    assert_eq!((p.days(), p.period_days()), (20, 29));
}

#[test]
fn items_read_the_sdk_price() {
    let mut price = every("quarterly", with_trial(7, one_off("5.00", true)));
    price.discount = Some(crate::pricing::DiscountInput {
        amount: dec!(10),
        kind: "percentage".into(),
        duration_type: "fixed".into(),
        duration_unit: Some("months".into()),
        duration_value: Some(3),
    });
    let item = Item::from_price_input("k", "prod_k", "K", &price).unwrap();
    assert_eq!(item.interval, Some(Interval::QUARTERLY));
    assert_eq!(item.trial_days, 7);
    assert_eq!(item.discount_months, Some(3));
    assert!(item.charge_on_contract_start);
    assert_eq!(item.frequency, crate::catalog::BillingFrequency::OneOff);
    let e = expression(&[("c", "usage.a", "1")], &[("a", "m_a")]);
    let item = Item::from_price_input("e", "prod_e", "E", &e).unwrap();
    assert_eq!(item.metric_aliases, [("a".to_string(), "m_a".to_string())]);
    let mut bad = fee("1", "advance");
    bad.trial_period_days = Some(-1);
    assert!(Item::from_price_input("b", "p", "B", &bad).is_err());
    bad.trial_period_days = None;
    bad.billing_direction = "sideways".into();
    assert!(Item::from_price_input("b", "p", "B", &bad).is_err());
}

#[test]
fn escalation_reads_the_api() {
    let input = crate::catalog::plan::PriceEscalationInput {
        enabled: true,
        escalate_metered_unit_rates: Some(true),
        interval_months: 12,
        percentage: Some(dec!(5.00)),
        kind: "percentage".into(),
    };
    assert_eq!(
        Escalation::from_input(&input),
        Some(Escalation {
            percentage: dec!(5.00),
            every: EscalationStep::Months(12),
            metered: true
        })
    );
    let off = crate::catalog::plan::PriceEscalationInput {
        enabled: false,
        ..input
    };
    assert_eq!(Escalation::from_input(&off), None);
}

#[test]
fn the_minimum_counts_the_proration_of_a_change() {
    let s = scenario("m", "", "2024-04-01")
        .minimum_spend("200.00")
        .items(vec![("pro", "Pro", fee("99.00", "advance"))])
        .change(
            "v2",
            "2024-04-16T00:00:00Z",
            vec![("pro", "Pro", fee("199.00", "advance"))],
        );
    // April: 99.00 (Apr 1) + (−49.50 + 99.50) (Apr 16) = 149.00: true-up 51.00 on May 1.
    let inv = bill_at(&s.subscription, &[], "2024-05-01T00:00:00Z");
    assert_eq!(
        amounts(&inv),
        [
            (InvoiceLineKind::MinimumSpend, "51.00".into()),
            (InvoiceLineKind::FixedAdvance, "199.00".into())
        ]
    );
}

#[test]
fn the_cap_applies_after_the_discount_of_the_whole_period() {
    let s = scenario("c", "", "2024-01-01")
        .discount(Discount::Percentage(dec!(10)), None)
        .maximum_spend("100.00")
        .items(vec![
            ("pro", "Pro", fee("99.00", "advance")),
            ("api", "API", unit("m_api", "0.10")),
        ])
        .event("m_api", "2024-01-10T00:00:00Z", "500");
    // January: 99.00 − 9.90 (Jan 1) + 50.00 − 5.00 = 134.10: cap −34.10. February 99.00 − 9.90.
    let inv = bill_at(&s.subscription, &s.events, "2024-02-01T00:00:00Z");
    assert_eq!(
        amounts(&inv),
        [
            (InvoiceLineKind::Usage, "50.00".into()),
            (InvoiceLineKind::Discount, "-5.00".into()),
            (InvoiceLineKind::MaximumSpend, "-34.10".into()),
            (InvoiceLineKind::FixedAdvance, "99.00".into()),
            (InvoiceLineKind::Discount, "-9.90".into())
        ]
    );
    assert_eq!(inv.total.to_string(), "100.00");
}

#[test]
fn an_unrelated_change_does_not_split_usage() {
    let s = scenario("u", "", "2024-04-01")
        .items(vec![
            ("pro", "Pro", fee("99.00", "advance")),
            (
                "api",
                "API",
                tiered(
                    "m_api",
                    vec![tier(0, Some(100), "1", None), tier(101, None, "0.5", None)],
                ),
            ),
        ])
        .change(
            "v2",
            "2024-04-16T00:00:00Z",
            vec![
                ("pro", "Pro", fee("199.00", "advance")),
                (
                    "api",
                    "API",
                    tiered(
                        "m_api",
                        vec![tier(0, Some(100), "1", None), tier(101, None, "0.5", None)],
                    ),
                ),
            ],
        )
        .event("m_api", "2024-04-10T00:00:00Z", "100")
        .event("m_api", "2024-04-20T00:00:00Z", "100");
    let requests = usage_requests(&s.subscription, at("2024-05-01T00:00:00Z")).unwrap();
    assert_eq!(requests.len(), 1);
    // 200 units in one volume tier (0.5): 100.00, not 2 × 100 × 1.
    let inv = bill_at(&s.subscription, &s.events, "2024-05-01T00:00:00Z");
    assert_eq!(inv.lines[0].amount.to_string(), "100.00");
    assert_eq!(inv.lines[0].version_id.as_deref(), Some("v1"));
}

#[test]
fn a_fixed_discount_is_capped_at_the_period() {
    let s = scenario("f", "", "2024-01-01")
        .discount(Discount::Fixed(dec!(50)), None)
        .items(vec![("api", "API", unit("m_api", "0.10"))])
        .event("m_api", "2024-01-10T00:00:00Z", "300");
    // January's charges are 30.00: the discount takes 30.00, not 50.00.
    let inv = bill_at(&s.subscription, &s.events, "2024-02-01T00:00:00Z");
    assert_eq!(
        amounts(&inv),
        [
            (InvoiceLineKind::Usage, "30.00".into()),
            (InvoiceLineKind::Discount, "-30.00".into())
        ]
    );
    assert_eq!(inv.total.to_string(), "0.00");
}
