//! Catalog rules: one test per rule family, each naming the field at fault.

use super::*;
use crate::pricing::{DiscountInput, SpendingThresholdInput, UnitPricingModelInput};
use crate::validation::Naming;

fn refs() -> Refs {
    let mut r = Refs::default();
    r.metrics.insert("mtr_calls".into());
    r.metrics.insert("mtr_gb".into());
    r.tags.insert(
        "tag_all".into(),
        tag::ENTITY_TYPES.iter().map(|s| s.to_string()).collect(),
    );
    r.tags
        .insert("tag_customers".into(), vec!["customer".into()]);
    let metered = ProductInput {
        name: "API".into(),
        fee_type: "metered".into(),
        payment_terms: "arrears".into(),
        metric_ids: vec!["mtr_calls".into()],
        ..Default::default()
    };
    let fixed = ProductInput {
        name: "Platform".into(),
        fee_type: "fixed".into(),
        payment_terms: "advance".into(),
        billing_frequency: Some("recurring".into()),
        ..Default::default()
    };
    let m = metered.validate(Naming::Snake, &r).unwrap();
    let f = fixed.validate(Naming::Snake, &r).unwrap();
    r.products.insert("prod_api".into(), m);
    r.products.insert("prod_platform".into(), f);
    r
}

fn unit_price(metric: &str) -> PriceInput {
    PriceInput {
        kind: "unit".into(),
        fee_type: "metered".into(),
        billing_direction: "arrears".into(),
        metric_ids: Some(vec![metric.into()]),
        unit_pricing_model: Some(UnitPricingModelInput {
            price_per_unit: "0.01".parse().unwrap(),
        }),
        ..Default::default()
    }
}

fn fixed_price() -> PriceInput {
    serde_json::from_value(serde_json::json!({
        "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
        "billing_frequency": "recurring",
        "fixed_pricing_model": {"price_per_unit": "99.00", "units": 1}
    }))
    .unwrap()
}

fn fields(r: Result<impl std::fmt::Debug, Vec<FieldError>>) -> Vec<String> {
    r.unwrap_err().into_iter().map(|e| e.field).collect()
}

#[test]
fn products_follow_their_fee_type() {
    let r = refs();
    let spec = &r.products["prod_api"];
    assert_eq!(spec.billing_frequency, BillingFrequency::Recurring);
    assert_eq!(
        spec.revenue_allocation_method,
        RevenueAllocation::UsageBased
    );
    assert_eq!(
        r.products["prod_platform"].revenue_allocation_method,
        RevenueAllocation::StraightLine
    );
    assert_eq!(spec.description, "");

    let metered = |f: &dyn Fn(&mut ProductInput)| {
        let mut p = ProductInput {
            name: "X".into(),
            fee_type: "metered".into(),
            payment_terms: "arrears".into(),
            metric_ids: vec!["mtr_calls".into()],
            ..Default::default()
        };
        f(&mut p);
        p.validate(Naming::Snake, &r)
    };
    assert_eq!(
        fields(metered(&|p| p.payment_terms = "advance".into())),
        ["payment_terms"]
    );
    assert_eq!(fields(metered(&|p| p.metric_ids.clear())), ["metric_ids"]);
    assert_eq!(
        fields(metered(&|p| p.metric_ids.push("mtr_nope".into()))),
        ["metric_ids[1]"]
    );
    assert_eq!(
        fields(metered(&|p| p.metric_ids.push("mtr_calls".into()))),
        ["metric_ids[1]"]
    );
    assert_eq!(
        fields(metered(&|p| p.billing_frequency = Some("one-off".into()))),
        ["billing_frequency"]
    );
    assert_eq!(
        fields(metered(&|p| p.fee_type = "usage".into())),
        ["fee_type"]
    );
    assert_eq!(
        fields(metered(&|p| p.tag_ids = vec!["tag_nope".into()])),
        ["tag_ids[0]"]
    );
    assert_eq!(
        fields(metered(&|p| p.tag_ids = vec!["tag_customers".into()])),
        ["tag_ids[0]"]
    );
    assert_eq!(fields(metered(&|p| p.name = " ".into())), ["name"]);
    assert_eq!(fields(metered(&|p| p.sku = Some(String::new()))), ["sku"]);
    assert!(metered(&|p| p.tag_ids = vec!["tag_all".into()]).is_ok());

    let fixed = |f: &dyn Fn(&mut ProductInput)| {
        let mut p = ProductInput {
            name: "X".into(),
            fee_type: "fixed".into(),
            payment_terms: "advance".into(),
            billing_frequency: Some("one-off".into()),
            ..Default::default()
        };
        f(&mut p);
        p.validate(Naming::Camel, &r)
    };
    assert!(fixed(&|_| {}).is_ok());
    assert_eq!(
        fields(fixed(&|p| p.billing_frequency = None)),
        ["billingFrequency"]
    );
    assert_eq!(
        fields(fixed(&|p| p.metric_ids = vec!["mtr_calls".into()])),
        ["metricIds"]
    );
    assert_eq!(
        fields(fixed(
            &|p| p.revenue_allocation_method = Some("magic".into())
        )),
        ["revenueAllocationMethod"]
    );
}

#[test]
fn product_patches_keep_what_the_product_bills() {
    let r = refs();
    let current = &r.products["prod_api"];
    let patch = ProductPatch {
        name: Some("API calls".into()),
        sku: crate::customer::Patch::Value("API-1".into()),
        fee_type: Some("metered".into()),
        ..Default::default()
    };
    let input = patch.apply_to(current, Naming::Snake).unwrap();
    let spec = input.validate(Naming::Snake, &r).unwrap();
    assert_eq!(
        (spec.name.as_str(), spec.sku.as_deref()),
        ("API calls", Some("API-1"))
    );
    assert_eq!(spec.metric_ids, current.metric_ids);
    let patch = ProductPatch {
        fee_type: Some("fixed".into()),
        metric_ids: Some(vec![]),
        ..Default::default()
    };
    assert_eq!(
        fields(patch.apply_to(current, Naming::Snake)),
        ["fee_type", "metric_ids"]
    );
}

#[test]
fn tags_have_a_colour_and_kinds() {
    let t = TagInput {
        name: "Enterprise".into(),
        ..Default::default()
    }
    .validate(Naming::Snake)
    .unwrap();
    assert_eq!(t.color, tag::DEFAULT_COLOR);
    assert_eq!(t.entity_types.len(), 7);
    let bad = TagInput {
        name: "".into(),
        color: Some("red".into()),
        entity_types: Some(vec!["plan".into(), "planet".into(), "plan".into()]),
    };
    assert_eq!(
        fields(bad.validate(Naming::Snake)),
        ["name", "color", "entity_types[1]", "entity_types[2]"]
    );
}

#[test]
fn bundle_prices_fit_their_products() {
    let r = refs();
    let ok = BundleInput {
        name: "Starter".into(),
        description: None,
        currency: Some("usd".into()),
        prices: vec![
            ProductPriceInput {
                product_id: "prod_api".into(),
                price: unit_price("mtr_calls"),
            },
            ProductPriceInput {
                product_id: "prod_platform".into(),
                price: fixed_price(),
            },
        ],
    };
    let spec = ok.validate(Naming::Snake, &r).unwrap();
    assert_eq!(spec.currency.as_deref(), Some("USD"));
    assert_eq!(spec.prices.len(), 2);

    let mut bad = ok.clone();
    bad.prices[0].price.metric_ids = Some(vec!["mtr_gb".into()]);
    bad.prices[1].price = unit_price("mtr_calls");
    assert_eq!(
        fields(bad.validate(Naming::Snake, &r)),
        ["prices[0].metric_ids[0]", "prices[1].fee_type"]
    );
    let mut dup = ok.clone();
    dup.prices[1].product_id = "prod_api".into();
    assert_eq!(
        fields(dup.validate(Naming::Snake, &r)),
        ["prices[1].product_id"]
    );

    let mut bad = ok.clone();
    bad.prices[0].price.billing_direction = "advance".into();
    bad.prices[1].product_id = "prod_nope".into();
    bad.prices[1]
        .price
        .fixed_pricing_model
        .as_mut()
        .unwrap()
        .price_per_unit = "-1".parse().unwrap();
    assert_eq!(
        fields(bad.validate(Naming::Snake, &r)),
        [
            "prices[0].billing_direction",
            "prices[1].product_id",
            "prices[1].fixed_pricing_model.price_per_unit"
        ]
    );

    let mut bad = ok;
    bad.prices.clear();
    bad.currency = Some("XYZ".into());
    assert_eq!(
        fields(bad.validate(Naming::Snake, &r)),
        ["currency", "prices"]
    );
}

fn plan() -> PlanInput {
    PlanInput {
        name: "Pro".into(),
        description: Some("For teams".into()),
        currency: "USD".into(),
        terms: PlanTerms::default(),
        tags: vec!["tag_all".into()],
        items: vec![
            PlanItemInput {
                product_id: Some("prod_api".into()),
                price: Some(unit_price("mtr_calls")),
                ..Default::default()
            },
            PlanItemInput {
                product_id: Some("prod_platform".into()),
                price: Some(fixed_price()),
                ..Default::default()
            },
        ],
    }
}

#[test]
fn plan_items_are_products_or_bundles() {
    let mut r = refs();
    let spec = plan().validate(Naming::Snake, &r).unwrap();
    assert_eq!(spec.items.len(), 2);

    let bundle = BundleSpec {
        name: "Starter".into(),
        description: Some("d".into()),
        currency: Some("EUR".into()),
        prices: vec![ProductPrice {
            product_id: "prod_api".into(),
            price: unit_price("mtr_calls"),
        }],
    };
    r.bundles.insert("bnd_x".into(), bundle.clone());
    r.bundles.insert(
        "bnd_usd".into(),
        BundleSpec {
            currency: None,
            ..bundle
        },
    );
    let mut p = plan();
    p.items = vec![PlanItemInput {
        bundle_id: Some("bun_usd".into()),
        ..Default::default()
    }];
    let spec = p.validate(Naming::Snake, &r).unwrap();
    match &spec.items[0] {
        PlanItem::Bundle {
            bundle_id,
            name,
            items,
            ..
        } => {
            assert_eq!(
                (bundle_id.as_str(), name.as_str(), items.len()),
                ("bnd_usd", "Starter", 1)
            );
        }
        other => panic!("{other:?}"),
    }

    let mut p = plan();
    p.items.push(PlanItemInput {
        bundle_id: Some("bnd_x".into()),
        product_id: Some("prod_api".into()),
        ..Default::default()
    });
    p.items.push(PlanItemInput {
        product_id: Some("prod_api".into()),
        price: Some(unit_price("mtr_calls")),
        ..Default::default()
    });
    p.items.push(PlanItemInput::default());
    p.items.push(PlanItemInput {
        bundle_id: Some("bnd_usd".into()),
        items: Some(vec![ProductPriceInput {
            product_id: "prod_platform".into(),
            price: unit_price("mtr_calls"),
        }]),
        ..Default::default()
    });
    p.items.push(PlanItemInput {
        product_id: Some("prod_nope".into()),
        ..Default::default()
    });
    assert_eq!(
        fields(p.validate(Naming::Snake, &r)),
        [
            "items[2].product_id",
            "items[2].bundle_id",
            "items[3].product_id",
            "items[4]",
            "items[5].items[0].price.fee_type",
            "items[6].price",
            "items[6].product_id",
        ]
    );
}

#[test]
fn plan_terms() {
    let r = refs();
    let mut p = plan();
    p.currency = "ABC".into();
    p.tags = vec!["tag_customers".into()];
    p.terms = PlanTerms {
        contract_period_type: Some("fixed".into()),
        renewal_period_type: Some("monthly_rolling".into()),
        renewal_duration: Some(12),
        trial_period_days: Some(-1),
        payment_terms: Some("net_x".into()),
        discount: Some(DiscountInput {
            amount: "120".parse().unwrap(),
            kind: "percentage".into(),
            duration_type: "monthly_rolling".into(),
            ..Default::default()
        }),
        minimum_spend: Some(SpendingThresholdInput {
            amount: "10".parse().unwrap(),
            period: "monthly".into(),
            billing_direction: None,
        }),
        maximum_spend: Some(SpendingThresholdInput {
            amount: "5".parse().unwrap(),
            period: "weekly".into(),
            billing_direction: None,
        }),
        price_escalation: Some(plan::PriceEscalationInput {
            enabled: true,
            interval_months: 0,
            kind: "fixed".into(),
            ..Default::default()
        }),
        entitlements: vec![
            plan::EntitlementInput {
                entitlement_key: "sso".into(),
                mode: "static".into(),
                kind: "boolean".into(),
                value: Some("yes".into()),
                ..Default::default()
            },
            plan::EntitlementInput {
                entitlement_key: "sso".into(),
                mode: "grant_based".into(),
                kind: "number".into(),
                value: Some("10".into()),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    assert_eq!(
        fields(p.validate(Naming::Snake, &r)),
        [
            "currency",
            "contract_duration",
            "renewal_duration",
            "trial_period_days",
            "payment_terms",
            "discount.amount",
            "maximum_spend.period",
            "maximum_spend.amount",
            "price_escalation.type",
            "price_escalation.interval_months",
            "price_escalation.percentage",
            "entitlements[0].value",
            "entitlements[1].entitlement_key",
            "entitlements[1].type",
            "entitlements[1].timing",
            "tags[0]",
        ]
    );
    let mut p = plan();
    p.terms.payment_terms = Some("net_30".into());
    p.terms.contract_period_type = Some("fixed".into());
    p.terms.contract_duration = Some(12);
    p.terms.entitlements = vec![plan::EntitlementInput {
        entitlement_key: "credits".into(),
        mode: "grant_based".into(),
        kind: "credit_allocation".into(),
        allocation: Some(plan::EntitlementAllocationInput {
            amount: "100".parse().unwrap(),
            credit_type: "monetary".into(),
            rollover_enabled: true,
            rollover_max_periods: Some(3),
        }),
        timing: Some(plan::EntitlementTimingInput {
            interval: Some("monthly".into()),
            recurrence: "recurring".into(),
        }),
        ..Default::default()
    }];
    assert!(p.validate(Naming::Snake, &r).is_ok());
}
