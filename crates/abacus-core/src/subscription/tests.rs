//! Subscription rules: creation (raw, plan, overrides), updates, versions on a timeline, changes,
//! and when things take effect. Each failure names its field.

use jiff::civil::{Date, date};
use jiff::tz::TimeZone;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::change::{self, Delta, diff, merge_patch};
use super::*;
use crate::calendar::{Contract, Interval, Renewal, SubscriptionCalendar, Term, start_of_day};
use crate::catalog::plan::EntitlementInput;
use crate::catalog::{
    BundleSpec, Plan, PlanInput, PlanItemInput, ProductInput, ProductPrice, Refs,
};
use crate::customer::Patch;
use crate::pricing::PriceInput;
use crate::time::{Micros, parse_rfc3339};
use crate::validation::{FieldError, Naming};

fn us(s: &str) -> Micros {
    parse_rfc3339(s).unwrap()
}

fn refs() -> Refs {
    let mut r = Refs::default();
    r.metrics.insert("mtr_calls".into());
    r.tags.insert("tag_sub".into(), vec!["subscription".into()]);
    r.tags.insert("tag_plan".into(), vec!["plan".into()]);
    let metered = ProductInput {
        name: "API".into(),
        fee_type: "metered".into(),
        payment_terms: "arrears".into(),
        metric_ids: vec!["mtr_calls".into()],
        ..Default::default()
    };
    let fixed = |name: &str| ProductInput {
        name: name.into(),
        fee_type: "fixed".into(),
        payment_terms: "advance".into(),
        billing_frequency: Some("recurring".into()),
        ..Default::default()
    };
    r.products.insert(
        "prod_api".into(),
        metered.validate(Naming::Snake, &r).unwrap(),
    );
    for id in ["prod_seats", "prod_support", "prod_sso"] {
        r.products
            .insert(id.into(), fixed(id).validate(Naming::Snake, &r).unwrap());
    }
    r.bundles.insert(
        "bnd_addons".into(),
        BundleSpec {
            name: "Add-ons".into(),
            description: None,
            currency: Some("USD".into()),
            prices: vec![
                ProductPrice {
                    product_id: "prod_support".into(),
                    price: fixed_price("50.00"),
                },
                ProductPrice {
                    product_id: "prod_sso".into(),
                    price: fixed_price("20.00"),
                },
            ],
        },
    );
    r.bundles.insert(
        "bnd_eur".into(),
        BundleSpec {
            name: "Euro add-ons".into(),
            description: None,
            currency: Some("EUR".into()),
            prices: vec![ProductPrice {
                product_id: "prod_sso".into(),
                price: fixed_price("20.00"),
            }],
        },
    );
    r
}

fn unit_price(rate: &str) -> PriceInput {
    serde_json::from_value(json!({
        "type": "unit", "fee_type": "metered", "billing_direction": "arrears",
        "metric_ids": ["mtr_calls"], "unit_pricing_model": {"price_per_unit": rate}
    }))
    .unwrap()
}

fn fixed_price(amount: &str) -> PriceInput {
    serde_json::from_value(json!({
        "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
        "billing_frequency": "recurring", "billing_interval": "monthly",
        "fixed_pricing_model": {"price_per_unit": amount, "units": 1}
    }))
    .unwrap()
}

fn product_item(product: &str, price: PriceInput) -> PlanItemInput {
    PlanItemInput {
        product_id: Some(product.into()),
        price: Some(price),
        ..Default::default()
    }
}

fn fields<T: std::fmt::Debug>(r: Result<T, Vec<FieldError>>) -> Vec<String> {
    r.unwrap_err().into_iter().map(|e| e.field).collect()
}

fn customer() -> CustomerRef {
    CustomerRef {
        id: "CUST0001".into(),
        name: "Acme".into(),
        currency: "USD".into(),
    }
}

fn plan(r: &Refs, currency: &str) -> Plan {
    let input = PlanInput {
        name: "Growth".into(),
        currency: currency.into(),
        terms: crate::catalog::PlanTerms {
            contract_period_type: Some("fixed".into()),
            contract_duration: Some(12),
            auto_renew: Some(true),
            trial_period_days: Some(14),
            payment_terms: Some("net_15".into()),
            entitlements: vec![EntitlementInput {
                entitlement_key: "sso".into(),
                mode: "static".into(),
                kind: "boolean".into(),
                value: Some("true".into()),
                ..Default::default()
            }],
            ..Default::default()
        },
        items: vec![
            product_item("prod_seats", fixed_price("99.00")),
            product_item("prod_api", unit_price("0.01")),
        ],
        ..Default::default()
    };
    Plan {
        id: "pln_growth".into(),
        spec: input.validate(Naming::Snake, r).unwrap(),
        created_at: 0,
        updated_at: 0,
        archived_at: None,
    }
}

fn validate(
    input: &SubscriptionInput,
    r: &Refs,
    plan: Option<&Plan>,
) -> Result<NewSubscription, Vec<FieldError>> {
    let c = customer();
    input.validate(
        Naming::Snake,
        &NewContext {
            customer: Some(&c),
            plan,
            refs: r,
            default_payment_terms: "net_30",
        },
    )
}

fn item_key(i: &Item) -> String {
    match i {
        Item::Product(p) => p.product_id.clone(),
        Item::Bundle { bundle_id, .. } => bundle_id.clone(),
    }
}

#[test]
fn raw_items_with_defaults() {
    let r = refs();
    let input = SubscriptionInput {
        customer_id: "CUST0001".into(),
        items: Some(vec![product_item("prod_api", unit_price("0.02"))]),
        contract: Some(ContractInput {
            start_date: Some("2026-07-01".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let s = validate(&input, &r, None).unwrap();
    assert_eq!(s.currency, "USD");
    assert_eq!(s.name, "Acme");
    assert_eq!(s.terms.contract.period_type, "monthly_rolling");
    assert_eq!(s.terms.contract.start_date, Some(date(2026, 7, 1)));
    assert!(!s.terms.renewal.auto_renew);
    assert_eq!(s.terms.billing.payment_terms, "net_30");
    assert_eq!(s.terms.billing.payment_collection_method, "manual");
    assert!(!s.auto_activate);
    assert_eq!(s.first_version.items.len(), 1);
    assert_eq!(s.first_version.status, VersionStatus::Draft);
}

#[test]
fn plan_with_overrides_replaces_matching_items_and_appends_others() {
    let r = refs();
    let p = plan(&r, "USD");
    let input = SubscriptionInput {
        customer_id: "CUST0001".into(),
        plan_id: Some("pln_growth".into()),
        items: Some(vec![
            product_item("prod_api", unit_price("0.005")),
            PlanItemInput {
                bundle_id: Some("bun_addons".into()),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    let s = validate(&input, &r, Some(&p)).unwrap();
    let keys: Vec<String> = s.first_version.items.iter().map(item_key).collect();
    assert_eq!(keys, ["prod_seats", "prod_api", "bnd_addons"]);
    match &s.first_version.items[1] {
        Item::Product(pp) => assert_eq!(pp.price, unit_price("0.005")),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.name, "Growth");
    assert_eq!(s.plan_id.as_deref(), Some("pln_growth"));
    assert_eq!(s.terms.contract.period_type, "fixed");
    assert_eq!(s.terms.contract.duration_months, Some(12));
    assert!(s.terms.renewal.auto_renew);
    assert_eq!(s.terms.trial_period_days, Some(14));
    assert_eq!(s.terms.billing.payment_terms, "net_15");
    assert_eq!(s.first_version.entitlements.len(), 1);
    assert_eq!(s.first_version.plan_id.as_deref(), Some("pln_growth"));
}

#[test]
fn creation_errors_name_their_fields() {
    let r = refs();
    let eur = plan(&r, "EUR");
    let base = SubscriptionInput {
        customer_id: "CUST0001".into(),
        ..Default::default()
    };
    // The plan's currency is not the customer's.
    let input = SubscriptionInput {
        plan_id: Some("pln_growth".into()),
        ..base.clone()
    };
    assert_eq!(fields(validate(&input, &r, Some(&eur))), ["plan_id"]);
    // An unknown plan.
    assert_eq!(fields(validate(&input, &r, None)), ["plan_id"]);
    // Another currency than the customer's.
    let input = SubscriptionInput {
        currency: Some("EUR".into()),
        ..base.clone()
    };
    assert_eq!(fields(validate(&input, &r, None)), ["currency"]);
    // A metered price billed in advance, an unknown product, a bundle in another currency.
    let mut advance = unit_price("0.01");
    advance.billing_direction = "advance".into();
    let input = SubscriptionInput {
        items: Some(vec![
            product_item("prod_api", advance),
            product_item("prod_nope", fixed_price("1.00")),
            PlanItemInput {
                bundle_id: Some("bnd_eur".into()),
                ..Default::default()
            },
        ]),
        ..base.clone()
    };
    assert_eq!(
        fields(validate(&input, &r, None)),
        [
            "items[0].price.billing_direction",
            "items[1].product_id",
            "items[2].bundle_id"
        ]
    );
    // Dates, terms and the discount.
    let input = SubscriptionInput {
        contract: Some(ContractInput {
            period_type: Some("fixed".into()),
            start_date: Some("2026-07-01".into()),
            ..Default::default()
        }),
        billing: Some(BillingInput {
            first_billing_date: Some("2026-06-01".into()),
            payment_terms: Some("net_999".into()),
            payment_collection_method: Some("cash".into()),
            ..Default::default()
        }),
        trial_period_days: Some(-1),
        discount: Some(
            serde_json::from_value(
                json!({"amount": "10", "type": "fixed", "duration_type": "monthly_rolling"}),
            )
            .unwrap(),
        ),
        tags: Some(vec!["tag_plan".into()]),
        ..base.clone()
    };
    let mut got = fields(validate(&input, &r, None));
    got.sort();
    assert_eq!(
        got,
        [
            "billing.first_billing_date",
            "billing.payment_collection_method",
            "billing.payment_terms",
            "contract.duration_months",
            "discount.type",
            "tags[0]",
            "trial_period_days",
        ]
    );
    let input = SubscriptionInput {
        contract: Some(ContractInput {
            start_date: Some("July 1st".into()),
            ..Default::default()
        }),
        ..base.clone()
    };
    assert_eq!(fields(validate(&input, &r, None)), ["contract.start_date"]);
    // v1 spells the same paths in camelCase.
    let c = customer();
    let errs = input
        .validate(
            Naming::Camel,
            &NewContext {
                customer: Some(&c),
                plan: None,
                refs: &r,
                default_payment_terms: "net_30",
            },
        )
        .unwrap_err();
    assert_eq!(errs[0].field, "contract.startDate");
    // An unknown customer.
    let errs = base
        .validate(
            Naming::Snake,
            &NewContext {
                customer: None,
                plan: None,
                refs: &r,
                default_payment_terms: "net_30",
            },
        )
        .unwrap_err();
    assert_eq!(errs[0].field, "customer_id");
}

#[test]
fn conflicting_price_intervals_are_refused() {
    let r = refs();
    let mut p = fixed_price("10.00");
    p.billing_interval_count = Some(2);
    let input = SubscriptionInput {
        customer_id: "CUST0001".into(),
        items: Some(vec![product_item("prod_seats", p)]),
        ..Default::default()
    };
    assert_eq!(
        fields(validate(&input, &r, None)),
        ["items[0].price.billing_interval"]
    );
}

#[test]
fn dates_accept_timestamps_as_their_date() {
    assert_eq!(parse_date("2026-07-01").unwrap(), date(2026, 7, 1));
    assert_eq!(
        parse_date("2026-07-01T00:00:00Z").unwrap(),
        date(2026, 7, 1)
    );
    assert!(parse_date("2026-02-30").is_err());
    assert!(parse_date("tomorrow").is_err());
}

fn subscription(terms: Terms, status: Status) -> Subscription {
    Subscription {
        id: "SUB00001".into(),
        customer_id: "CUST0001".into(),
        name: "S".into(),
        description: None,
        currency: "USD".into(),
        status,
        plan_id: None,
        terms,
        metadata: serde_json::Map::new(),
        tag_ids: vec![],
        time_zone: Some("UTC".into()),
        cancellation: None,
        ends_at: None,
        activated_at: None,
        created_at: 0,
        updated_at: 0,
    }
}

fn terms(start: Date) -> Terms {
    let r = refs();
    let input = SubscriptionInput {
        customer_id: "CUST0001".into(),
        contract: Some(ContractInput {
            start_date: Some(start.to_string()),
            ..Default::default()
        }),
        ..Default::default()
    };
    validate(&input, &r, None).unwrap().terms
}

#[test]
fn updates_follow_the_lifecycle() {
    let r = refs();
    let tz = TimeZone::UTC;
    let now = us("2026-07-10T12:00:00Z");
    let mut t = terms(date(2026, 7, 1));
    t.trial_period_days = Some(30);
    let active = subscription(t.clone(), Status::Active);
    // In the trial: it can be shortened to a day still ahead, not into the past.
    let patch = SubscriptionPatch {
        trial_period_days: Patch::Value(14),
        ..Default::default()
    };
    let s = patch
        .apply_to(&active, Naming::Snake, &r, &tz, now)
        .unwrap();
    assert_eq!(s.terms.trial_period_days, Some(14));
    let patch = SubscriptionPatch {
        trial_period_days: Patch::Value(5),
        ..Default::default()
    };
    assert_eq!(
        fields(patch.apply_to(&active, Naming::Snake, &r, &tz, now)),
        ["trial_period_days"]
    );
    // The contract and the first billing date are fixed once active.
    let patch = SubscriptionPatch {
        contract: Some(ContractInput {
            start_date: Some("2026-08-01".into()),
            ..Default::default()
        }),
        billing: Some(BillingInput {
            first_billing_date: Some("2026-08-01".into()),
            auto_issue_invoices: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        fields(patch.apply_to(&active, Naming::Snake, &r, &tz, now)),
        ["contract", "billing.first_billing_date"]
    );
    let draft = subscription(t, Status::Draft);
    let s = patch.apply_to(&draft, Naming::Snake, &r, &tz, now).unwrap();
    assert_eq!(s.terms.contract.start_date, Some(date(2026, 8, 1)));
    assert!(s.terms.billing.auto_issue_invoices);
    // Metadata merges; null deletes a key.
    let mut with_meta = draft.clone();
    with_meta.metadata = json!({"a": 1, "b": 2}).as_object().unwrap().clone();
    let patch = SubscriptionPatch {
        metadata: Some(json!({"b": null, "c": "x"}).as_object().unwrap().clone()),
        description: Patch::Value("Annual".into()),
        ..Default::default()
    };
    let s = patch
        .apply_to(&with_meta, Naming::Snake, &r, &tz, now)
        .unwrap();
    assert_eq!(Value::Object(s.metadata), json!({"a": 1, "c": "x"}));
    assert_eq!(s.description.as_deref(), Some("Annual"));
    assert!(!patch.changes_terms());
}

#[test]
fn switching_off_renewal_after_the_initial_term_is_refused() {
    let r = refs();
    let mut t = terms(date(2024, 1, 1));
    t.contract.period_type = "fixed".into();
    t.contract.duration_months = Some(12);
    t.renewal.auto_renew = true;
    let active = subscription(t, Status::Active);
    let patch = SubscriptionPatch {
        renewal: Some(RenewalInput {
            auto_renew: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let in_term = us("2024-06-01T00:00:00Z");
    let s = patch
        .apply_to(&active, Naming::Snake, &r, &TimeZone::UTC, in_term)
        .unwrap();
    assert!(!s.terms.renewal.auto_renew);
    let later = us("2025-06-01T00:00:00Z");
    assert_eq!(
        fields(patch.apply_to(&active, Naming::Snake, &r, &TimeZone::UTC, later)),
        ["renewal.auto_renew"]
    );
}

fn version(
    n: i64,
    status: VersionStatus,
    effective: Option<&str>,
    published: Option<i64>,
) -> Version {
    Version {
        id: format!("subv_{n}"),
        subscription_id: "SUB00001".into(),
        number: n,
        status,
        plan_id: None,
        description: None,
        effective_at: effective.map(us),
        items: vec![Item::Product(ProductPrice {
            product_id: "prod_seats".into(),
            price: fixed_price(&format!("{n}.00")),
        })],
        entitlements: vec![],
        published_at: published,
        created_at: n,
        updated_at: n,
    }
}

#[test]
fn the_timeline_orders_published_versions() {
    use VersionStatus::*;
    let vs = vec![
        version(1, Published, Some("2026-01-01T00:00:00Z"), Some(1)),
        version(2, Published, Some("2026-03-01T00:00:00Z"), Some(2)),
        version(3, Draft, Some("2026-02-01T00:00:00Z"), None),
        // Published later with an earlier date: it slots in before version 2.
        version(4, Published, Some("2026-02-15T00:00:00Z"), Some(4)),
        // Same date as version 2, published after it: supersedes it.
        version(5, Published, Some("2026-03-01T00:00:00Z"), Some(5)),
    ];
    let end = Some(us("2026-12-01T00:00:00Z"));
    let spans = timeline::timeline(&vs, end);
    let order: Vec<i64> = spans.iter().map(|s| vs[s.index].number).collect();
    assert_eq!(order, [1, 4, 2, 5]);
    assert_eq!(spans[0].end, Some(us("2026-02-15T00:00:00Z")));
    assert!(spans[2].is_empty());
    assert_eq!(spans[3].end, end);
    let at = |t: &str| current_at(&vs, end, us(t)).map(|i| vs[i].number);
    assert_eq!(at("2025-12-31T23:59:59Z"), None);
    assert_eq!(at("2026-01-01T00:00:00Z"), Some(1));
    assert_eq!(at("2026-02-20T00:00:00Z"), Some(4));
    assert_eq!(at("2026-03-01T00:00:00Z"), Some(5));
    assert_eq!(at("2026-12-01T00:00:00Z"), None);
    let p: Vec<i64> = pending(&vs, end, us("2026-02-20T00:00:00Z"))
        .into_iter()
        .map(|i| vs[i].number)
        .collect();
    assert_eq!(p, [3, 2, 5]);
    let spans = billing_spans(&vs, end).unwrap();
    assert_eq!(
        spans
            .iter()
            .map(|s| s.version_id.as_str())
            .collect::<Vec<_>>(),
        ["subv_1", "subv_4", "subv_5"]
    );
    assert_eq!(spans[0].items[0].interval, Some(Interval::MONTHLY));
    assert_eq!(spans[0].items[0].product_id, "prod_seats");
}

#[test]
fn the_cycle_is_the_finest_interval() {
    let mut yearly = fixed_price("1.00");
    yearly.billing_interval = Some("yearly".into());
    let mut weekly = fixed_price("1.00");
    weekly.billing_interval = None;
    weekly.billing_interval_unit = Some("week".into());
    weekly.billing_interval_count = Some(2);
    let mut once = fixed_price("1.00");
    once.billing_frequency = Some("one-off".into());
    once.billing_interval_unit = Some("day".into());
    assert_eq!(billing_interval([&yearly]), Interval::YEARLY);
    assert_eq!(
        billing_interval([&yearly, &weekly, &once]),
        Interval::new(2, crate::calendar::IntervalUnit::Week).unwrap()
    );
    assert_eq!(billing_interval([&unit_price("1")]), Interval::MONTHLY);
    assert_eq!(billing_interval(std::iter::empty()), Interval::MONTHLY);
}

fn calendar(start: Date, term: Term, auto_renew: bool, tz: &str) -> SubscriptionCalendar {
    SubscriptionCalendar::new(crate::calendar::CalendarTerms {
        contract: Contract::new(
            start,
            term,
            Renewal {
                auto_renew,
                term: None,
            },
        ),
        interval: Interval::MONTHLY,
        time_zone: crate::calendar::parse_time_zone(tz).unwrap(),
        trial_days: 0,
        first_billing_date: None,
    })
    .unwrap()
}

#[test]
fn effective_values_parse() {
    assert_eq!(Effective::parse("immediate"), Ok(Effective::Immediate));
    assert_eq!(
        Effective::parse("next_billing_period"),
        Ok(Effective::NextBillingPeriod)
    );
    assert_eq!(Effective::parse("end_of_term"), Ok(Effective::EndOfTerm));
    assert_eq!(
        Effective::parse("next_term_renewal"),
        Ok(Effective::EndOfTerm)
    );
    assert_eq!(
        Effective::parse("2027-01-01"),
        Ok(Effective::Date(date(2027, 1, 1)))
    );
    assert_eq!(
        Effective::parse("2027-01-01T14:30:00Z"),
        Ok(Effective::Instant(us("2027-01-01T14:30:00Z")))
    );
    assert!(Effective::parse("soon").is_err());
    assert!(Effective::parse("2027-13-01").is_err());
}

#[test]
fn when_versions_start() {
    let ny = "America/New_York";
    let cal = calendar(date(2024, 1, 31), Term::Fixed { months: 12 }, true, ny);
    let tz = cal.time_zone().clone();
    let midnight = |d: Date| start_of_day(d, &tz).unwrap();
    let now = us("2024-03-10T19:00:00Z");
    assert_eq!(version_start(Effective::Immediate, &cal, now), Ok(now));
    // Before the start, immediate means the start.
    assert_eq!(
        version_start(Effective::Immediate, &cal, us("2024-01-01T00:00:00Z")),
        Ok(midnight(date(2024, 1, 31)))
    );
    // Anchored on the 31st: the period of March 10 ends on March 31 (New York midnight, EDT).
    assert_eq!(
        version_start(Effective::NextBillingPeriod, &cal, now),
        Ok(midnight(date(2024, 3, 31)))
    );
    assert_eq!(midnight(date(2024, 3, 31)), us("2024-03-31T04:00:00Z"));
    assert_eq!(
        version_start(Effective::EndOfTerm, &cal, now),
        Ok(midnight(date(2025, 1, 31)))
    );
    assert_eq!(
        version_start(Effective::Date(date(2024, 5, 1)), &cal, now),
        Ok(midnight(date(2024, 5, 1)))
    );
    assert!(
        version_start(Effective::Date(date(2024, 1, 30)), &cal, now)
            .unwrap_err()
            .contains("before the contract start")
    );
    assert!(version_start(Effective::Instant(us("2024-01-30T00:00:00Z")), &cal, now).is_err());
    // A contract that ends: nothing can start at or after its end.
    let ending = calendar(date(2024, 1, 1), Term::Fixed { months: 3 }, false, "UTC");
    assert!(
        version_start(Effective::EndOfTerm, &ending, us("2024-02-01T00:00:00Z"))
            .unwrap_err()
            .contains("ends on 2024-04-01")
    );
    assert!(version_start(Effective::Date(date(2024, 4, 1)), &ending, 0).is_err());
    assert_eq!(
        version_start(Effective::Date(date(2024, 3, 31)), &ending, 0),
        Ok(us("2024-03-31T00:00:00Z"))
    );
}

#[test]
fn when_cancellations_take_effect() {
    let cal = calendar(date(2024, 1, 1), Term::Fixed { months: 12 }, false, "UTC");
    let now = us("2024-03-10T15:00:00Z");
    assert_eq!(cancellation_at(Effective::Immediate, &cal, now), Ok(now));
    assert_eq!(
        cancellation_at(Effective::EndOfTerm, &cal, now),
        Ok(us("2025-01-01T00:00:00Z"))
    );
    assert_eq!(
        cancellation_at(Effective::NextBillingPeriod, &cal, now),
        Ok(us("2024-04-01T00:00:00Z"))
    );
    // Today means now; the past and dates after the contract's own end are refused.
    assert_eq!(
        cancellation_at(Effective::Date(date(2024, 3, 10)), &cal, now),
        Ok(now)
    );
    assert!(
        cancellation_at(Effective::Date(date(2024, 3, 9)), &cal, now)
            .unwrap_err()
            .contains("in the past")
    );
    assert!(
        cancellation_at(Effective::Date(date(2025, 2, 1)), &cal, now)
            .unwrap_err()
            .contains("already ends on 2025-01-01")
    );
}

fn items() -> Vec<Item> {
    vec![
        Item::Product(ProductPrice {
            product_id: "prod_seats".into(),
            price: fixed_price("99.00"),
        }),
        Item::Product(ProductPrice {
            product_id: "prod_api".into(),
            price: unit_price("0.01"),
        }),
        Item::Bundle {
            bundle_id: "bnd_addons".into(),
            name: "Add-ons".into(),
            description: None,
            items: vec![ProductPrice {
                product_id: "prod_support".into(),
                price: fixed_price("50.00"),
            }],
        },
    ]
}

fn delta(v: Value) -> Delta {
    let get = |k: &str| v.get(k).cloned().unwrap_or(json!([]));
    Delta {
        add: serde_json::from_value(get("add")).unwrap(),
        remove: serde_json::from_value(get("remove")).unwrap(),
        update: serde_json::from_value(get("update")).unwrap(),
    }
}

fn apply(v: Value) -> Result<Vec<Item>, Vec<FieldError>> {
    change::apply(&items(), &delta(v), "USD", Naming::Snake, &refs())
}

#[test]
fn upgrades_downgrades_and_adjustments() {
    let before = items();
    // Upgrade: a new price replaces the seat price.
    let up = apply(
        json!({"update": [{"product_id": "prod_seats", "new_price": fixed_price("199.00")}]}),
    )
    .unwrap();
    assert_eq!(
        diff(&before, &up).updated,
        [ItemRef {
            product_id: Some("prod_seats".into()),
            bundle_id: None
        }]
    );
    // Downgrade by adjustment: only the unit price changes.
    let down = apply(json!({"update": [{"product_id": "prod_api",
        "adjust": {"unit_pricing_model": {"price_per_unit": "0.005"}}}]}))
    .unwrap();
    match &down[1] {
        Item::Product(p) => {
            let mut want = unit_price("0.005");
            want.metric_ids = Some(vec!["mtr_calls".into()]);
            assert_eq!(p.price, want);
        }
        other => panic!("{other:?}"),
    }
    // A bundle: a child repriced, one added, the diff shows the bundle updated.
    let b = apply(json!({"update": [{"bundle_id": "bun_addons",
        "items": [{"product_id": "prod_support", "new_price": fixed_price("60.00")}],
        "add_items": [{"product_id": "prod_sso", "new_price": fixed_price("20.00")}]}]}))
    .unwrap();
    match &b[2] {
        Item::Bundle { items, .. } => assert_eq!(items.len(), 2),
        other => panic!("{other:?}"),
    }
    assert_eq!(diff(&before, &b).updated.len(), 1);
}

#[test]
fn adding_and_removing_items() {
    let before = items();
    let after = apply(json!({
        "remove": [{"product_id": "prod_api"}, {"bundle_id": "bnd_addons"}],
        "add": [{"product_id": "prod_sso", "new_price": fixed_price("15.00")},
                {"bundle_id": "bnd_addons"}]
    }))
    .unwrap();
    let keys: Vec<String> = after.iter().map(item_key).collect();
    assert_eq!(keys, ["prod_seats", "prod_sso", "bnd_addons"]);
    // A bundle added without items copies the bundle's prices.
    match &after[2] {
        Item::Bundle { items, .. } => assert_eq!(items.len(), 2),
        other => panic!("{other:?}"),
    }
    let d = diff(&before, &after);
    assert_eq!(d.added.len(), 1);
    assert_eq!(d.removed.len(), 1);
    assert_eq!(d.updated.len(), 1);
    // A product taken out of a bundle.
    let after = change::apply(
        &apply(json!({"update": [{"bundle_id": "bnd_addons", "add_items": [{"product_id": "prod_sso", "new_price": fixed_price("20.00")}]}]})).unwrap(),
        &delta(json!({"remove": [{"bundle_id": "bnd_addons", "product_id": "prod_sso"}]})),
        "USD",
        Naming::Snake,
        &refs(),
    )
    .unwrap();
    assert_eq!(after, before);
}

#[test]
fn change_errors_name_their_fields() {
    let mut advance = unit_price("0.01");
    advance.billing_direction = "advance".into();
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({"remove": [{"product_id": "prod_sso"}]}),
            vec!["remove[0].product_id"],
        ),
        (json!({"remove": [{}]}), vec!["remove[0]"]),
        (
            json!({"add": [{"product_id": "prod_seats", "new_price": fixed_price("1.00")}]}),
            vec!["add[0].product_id"],
        ),
        (
            json!({"add": [{"product_id": "prod_nope", "new_price": fixed_price("1.00")}]}),
            vec!["add[0].product_id"],
        ),
        (
            json!({"add": [{"product_id": "prod_sso"}]}),
            vec!["add[0].new_price"],
        ),
        (
            json!({"add": [{"bundle_id": "bnd_eur"}]}),
            vec!["add[0].bundle_id"],
        ),
        (
            json!({"add": [{"bundle_id": "bnd_none"}]}),
            vec!["add[0].bundle_id"],
        ),
        (
            json!({"update": [{"product_id": "prod_api", "new_price": advance}]}),
            vec!["update[0].new_price.billing_direction"],
        ),
        (
            json!({"update": [{"product_id": "prod_api", "adjust": {"unit_pricing_model": {"price_per_unit": "-1"}}}]}),
            vec!["update[0].adjust.unit_pricing_model.price_per_unit"],
        ),
        (
            json!({"update": [{"product_id": "prod_api"}]}),
            vec!["update[0].new_price"],
        ),
        (
            json!({"update": [{"product_id": "prod_sso", "new_price": fixed_price("1.00")}]}),
            vec!["update[0].product_id"],
        ),
        (
            json!({"update": [{"bundle_id": "bnd_addons", "remove_items": [{"product_id": "prod_support"}]}]}),
            vec!["update[0].remove_items"],
        ),
        (
            json!({"update": [{"product_id": "prod_seats", "new_price": unit_price("1")}]}),
            vec!["update[0].new_price.fee_type"],
        ),
    ];
    for (v, want) in cases {
        let got = fields(apply(v.clone()));
        assert_eq!(got, want, "{v}");
    }
}

#[test]
fn merge_patch_follows_rfc_7386() {
    let mut doc = json!({"a": 1, "m": {"x": 1, "y": 2}, "l": [1, 2]});
    merge_patch(
        &mut doc,
        &json!({"a": null, "m": {"y": 3, "z": 4}, "l": [3], "n": "new"}),
    );
    assert_eq!(
        doc,
        json!({"m": {"x": 1, "y": 3, "z": 4}, "l": [3], "n": "new"})
    );
}

#[test]
fn cancellation_needs_a_known_reason() {
    assert_eq!(fields(check_cancel(None, None, Naming::Snake)), ["reason"]);
    assert_eq!(
        fields(check_cancel(Some("bored"), None, Naming::Snake)),
        ["reason"]
    );
    assert_eq!(
        check_cancel(Some("pricing"), Some("too dear"), Naming::Snake).unwrap(),
        ("pricing".to_string(), Some("too dear".to_string()))
    );
    assert_eq!(
        fields(check_cancel(Some("other"), Some(" "), Naming::Camel)),
        ["reasonDescription"]
    );
}

#[test]
fn versions_address_items_by_product_or_bundle() {
    let mut v = version(1, VersionStatus::Draft, None, None);
    v.items = items();
    assert!(matches!(v.item("prod_api"), Some(Item::Product(_))));
    assert!(matches!(v.item("bun_addons"), Some(Item::Bundle { .. })));
    assert!(v.item("prod_support").is_none());
    assert_eq!(v.prices().count(), 3);
    let ent = EntitlementInput {
        entitlement_key: "seats".into(),
        mode: "static".into(),
        kind: "number".into(),
        value: Some("ten".into()),
        ..Default::default()
    };
    let errs = check_version_content(
        &[product_item("prod_seats", fixed_price("1.00"))],
        Some(std::slice::from_ref(&ent)),
        "USD",
        Naming::Snake,
        &refs(),
    );
    assert_eq!(fields(errs), ["entitlements[0].value"]);
    let ent = EntitlementInput {
        value: Some("10".into()),
        ..ent
    };
    let (items, ents) = check_version_content(
        &[product_item("prod_seats", fixed_price("1.00"))],
        Some(std::slice::from_ref(&ent)),
        "USD",
        Naming::Snake,
        &refs(),
    )
    .unwrap();
    assert_eq!((items.len(), ents.map(|e| e.len())), (1, Some(1)));
}

#[test]
fn service_ends_at_the_earlier_of_contract_and_cancellation() {
    let mut t = terms(date(2024, 1, 1));
    t.contract.period_type = "fixed".into();
    t.contract.duration_months = Some(6);
    let ny = crate::calendar::parse_time_zone("America/New_York").unwrap();
    assert_eq!(
        service_end(&t, date(2024, 1, 1), &ny, None).unwrap(),
        Some(us("2024-07-01T04:00:00Z"))
    );
    let early = us("2024-03-01T00:00:00Z");
    assert_eq!(
        service_end(&t, date(2024, 1, 1), &ny, Some(early)).unwrap(),
        Some(early)
    );
    t.renewal.auto_renew = true;
    assert_eq!(service_end(&t, date(2024, 1, 1), &ny, None).unwrap(), None);
    let mut s = subscription(t, Status::Active);
    s.ends_at = Some(early);
    assert_eq!(s.status_at(early - 1), Status::Active);
    assert_eq!(s.status_at(early), Status::Canceled);
    assert_eq!(s.ended_at(early), Some(early));
}

proptest! {
    /// Whatever versions are published, their spans are contiguous and never overlap: each
    /// instant from the first start to the end of service is in exactly one span.
    #[test]
    fn spans_partition_time(
        effs in prop::collection::vec((0i64..50, prop::bool::ANY, 0i64..5), 1..12),
        end in prop::option::of(10i64..60),
        probes in prop::collection::vec(-5i64..70, 1..30),
    ) {
        let vs: Vec<Version> = effs
            .iter()
            .enumerate()
            .map(|(n, (e, published, p))| {
                let mut v = version(n as i64 + 1,
                    if *published { VersionStatus::Published } else { VersionStatus::Draft },
                    None, published.then_some(*p));
                v.effective_at = Some(*e);
                v
            })
            .collect();
        let spans = timeline::timeline(&vs, end);
        for w in spans.windows(2) {
            prop_assert_eq!(w[0].end, Some(w[1].start.min(end.unwrap_or(i64::MAX)).max(w[0].start)));
        }
        for t in probes {
            let hits = spans.iter().filter(|s| s.contains(t)).count();
            let first = spans.first().map(|s| s.start);
            let inside = first.is_some_and(|f| t >= f) && end.is_none_or(|e| t < e);
            prop_assert_eq!(hits, usize::from(inside), "t={} spans={:?}", t, spans);
            if let Some(i) = current_at(&vs, end, t) {
                prop_assert_eq!(vs[i].status, VersionStatus::Published);
            }
        }
    }
}

const POOL: [&str; 4] = ["prod_seats", "prod_support", "prod_sso", "prod_api"];

fn pool_item(k: usize, amount: u32) -> Item {
    let product = POOL[k];
    let price = if product == "prod_api" {
        unit_price(&format!("0.0{}", amount % 9 + 1))
    } else {
        fixed_price(&format!("{amount}.00"))
    };
    Item::Product(ProductPrice {
        product_id: product.into(),
        price,
    })
}

fn price_json(item: &Item) -> Value {
    match item {
        Item::Product(p) => serde_json::to_value(&p.price).unwrap(),
        Item::Bundle { .. } => Value::Null,
    }
}

proptest! {
    /// Removing some items and adding others gives the kept items in their order followed by the
    /// added ones, and `changes_applied` names exactly those removed and added.
    #[test]
    fn deltas_remove_and_add_exactly(
        present in prop::collection::btree_set(0usize..4, 0..4),
        remove_mask in prop::collection::vec(prop::bool::ANY, 4),
        add_amounts in prop::collection::vec(1u32..500, 4),
        add_mask in prop::collection::vec(prop::bool::ANY, 4),
    ) {
        let base: Vec<Item> = present.iter().map(|&k| pool_item(k, 10 + k as u32)).collect();
        let removed: Vec<usize> = present.iter().copied().filter(|&k| remove_mask[k]).collect();
        let kept: Vec<usize> = present.iter().copied().filter(|&k| !remove_mask[k]).collect();
        let added: Vec<usize> = (0..4).filter(|k| !kept.contains(k) && add_mask[*k]).collect();
        let d = json!({
            "remove": removed.iter().map(|&k| json!({"product_id": POOL[k]})).collect::<Vec<_>>(),
            "add": added.iter().map(|&k| json!({"product_id": POOL[k], "new_price": price_json(&pool_item(k, add_amounts[k]))})).collect::<Vec<_>>(),
        });
        let result = change::apply(&base, &delta(d), "USD", Naming::Snake, &refs()).unwrap();
        let keys: Vec<String> = result.iter().map(item_key).collect();
        let want: Vec<String> = kept.iter().chain(added.iter()).map(|&k| POOL[k].to_string()).collect();
        prop_assert_eq!(keys, want);
        let applied = diff(&base, &result);
        let names = |v: &[ItemRef]| v.iter().map(|r| r.product_id.clone().unwrap()).collect::<Vec<_>>();
        // A product removed and added back in the same change is an update (or nothing, when its
        // price is the same).
        let back: Vec<usize> = added.iter().copied().filter(|k| removed.contains(k)).collect();
        prop_assert_eq!(names(&applied.removed), removed.iter().filter(|k| !back.contains(k)).map(|&k| POOL[k].to_string()).collect::<Vec<_>>());
        prop_assert_eq!(names(&applied.added), added.iter().filter(|k| !back.contains(k)).map(|&k| POOL[k].to_string()).collect::<Vec<_>>());
        for r in &applied.updated {
            prop_assert!(back.iter().any(|&k| Some(POOL[k]) == r.product_id.as_deref()));
        }
        prop_assert!(diff(&result, &result) == ChangesApplied::default());
    }

    /// A plan's items with overrides: every override is in the result as given, every plan item
    /// not overridden is kept, and nothing is duplicated.
    #[test]
    fn overrides_merge_into_plan_items(
        plan_keys in prop::collection::btree_set(0usize..4, 0..4),
        override_keys in prop::collection::btree_set(0usize..4, 0..4),
        amount in 1u32..900,
    ) {
        let plan: Vec<Item> = plan_keys.iter().map(|&k| pool_item(k, 10)).collect();
        let overrides: Vec<Item> = override_keys.iter().map(|&k| pool_item(k, amount)).collect();
        let merged = merge_items(&plan, overrides.clone());
        let keys: std::collections::BTreeSet<usize> = plan_keys.union(&override_keys).copied().collect();
        prop_assert_eq!(merged.len(), keys.len());
        for o in &overrides {
            prop_assert!(merged.contains(o));
        }
        for (k, p) in plan_keys.iter().zip(&plan) {
            if !override_keys.contains(k) {
                prop_assert!(merged.contains(p));
            }
        }
        // Plan items keep their positions; additions follow.
        let first: Vec<String> = merged.iter().take(plan.len()).map(item_key).collect();
        prop_assert_eq!(first, plan.iter().map(item_key).collect::<Vec<_>>());
    }
}

#[test]
fn a_zero_day_trial_is_no_trial() {
    let r = refs();
    let active = subscription(terms(date(2026, 1, 1)), Status::Active);
    let patch = SubscriptionPatch {
        trial_period_days: Patch::Value(0),
        ..Default::default()
    };
    let s = patch
        .apply_to(
            &active,
            Naming::Snake,
            &r,
            &TimeZone::UTC,
            us("2026-06-01T00:00:00Z"),
        )
        .unwrap();
    assert_eq!(s.terms.trial_period_days, Some(0));
}
