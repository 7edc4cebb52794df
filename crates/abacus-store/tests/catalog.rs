//! Every catalog repository function (tags, products, bundles, plans), on SQLite and on
//! PostgreSQL.

use abacus_core::catalog::{
    BillingFrequency, BundleSpec, FeeType, PaymentTerms, PlanItem, PlanSpec, PlanTerms,
    ProductPrice, ProductSpec, RevenueAllocation, TagSpec,
};
use abacus_core::metering::metric::{Aggregation, AggregationMethod, MetricSpec};
use abacus_core::pricing::PriceInput;
use abacus_store::products::{Dependent, ListFilter, SortField};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Db, bundles, metrics, on_both_backends, orgs, plans, products, tags};

on_both_backends!(
    tag_lifecycle,
    product_lifecycle,
    product_lists_filter_sort_and_page,
    product_dependents,
    bundle_lifecycle,
    plan_lifecycle,
    deleting_a_tag_takes_it_off_products_and_plans,
    catalog_lock_is_reentrant_per_transaction,
);

async fn setup(backend: Backend) -> Option<(TestDb, Db, String)> {
    let t = TestDb::fresh(backend).await?;
    let db = t.migrated().await;
    let org = new_org(&db, "Acme").await;
    Some((t, db, org))
}

async fn new_org(db: &Db, name: &str) -> String {
    let org = orgs::Organization {
        id: orgs::new_id(),
        name: name.into(),
        time_zone: "UTC".into(),
        created_at: 1,
    };
    let mut tx = db.begin().await.unwrap();
    orgs::insert(&mut tx, &org).await.unwrap();
    tx.commit().await.unwrap();
    org.id
}

fn tag(name: &str, types: &[&str]) -> TagSpec {
    TagSpec {
        name: name.into(),
        color: "#112233".into(),
        entity_types: types.iter().map(|s| s.to_string()).collect(),
    }
}

fn metered(name: &str, metrics: &[&str]) -> ProductSpec {
    ProductSpec {
        name: name.into(),
        description: format!("{name} usage"),
        fee_type: FeeType::Metered,
        payment_terms: PaymentTerms::Arrears,
        billing_frequency: BillingFrequency::Recurring,
        revenue_allocation_method: RevenueAllocation::UsageBased,
        sku: Some(format!("SKU-{name}")),
        tax_code: None,
        unit_label_singular: Some("call".into()),
        unit_label_plural: Some("calls".into()),
        metric_ids: metrics.iter().map(|s| s.to_string()).collect(),
        tag_ids: vec![],
    }
}

fn fixed(name: &str) -> ProductSpec {
    ProductSpec {
        name: name.into(),
        description: String::new(),
        fee_type: FeeType::Fixed,
        payment_terms: PaymentTerms::Advance,
        billing_frequency: BillingFrequency::OneOff,
        revenue_allocation_method: RevenueAllocation::StraightLine,
        sku: None,
        tax_code: Some("saas".into()),
        unit_label_singular: None,
        unit_label_plural: None,
        metric_ids: vec![],
        tag_ids: vec![],
    }
}

fn unit_price(metric: &str, rate: &str) -> PriceInput {
    serde_json::from_value(serde_json::json!({
        "type": "unit", "fee_type": "metered", "billing_direction": "arrears",
        "metric_ids": [metric], "unit_pricing_model": {"price_per_unit": rate}
    }))
    .unwrap()
}

fn tiered_price(metric: &str) -> PriceInput {
    serde_json::from_value(serde_json::json!({
        "type": "tiered", "fee_type": "metered", "billing_direction": "arrears",
        "metric_ids": [metric],
        "tiered_pricing_model": {"tiers": [
            {"min_units": 0, "max_units": 1000, "price_per_unit": "0.10", "fixed_fee": "10.00"},
            {"min_units": 1001, "max_units": null, "price_per_unit": "0.08"}
        ]},
        "discount": {"amount": "10", "type": "percentage", "duration_type": "fixed", "duration_value": 3}
    }))
    .unwrap()
}

async fn tag_lifecycle(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let other = new_org(&db, "Other").await;
    let mut tx = db.begin().await.unwrap();
    let zeta = tags::insert(&mut tx, &org, &tag("zeta", &["product"]), 10)
        .await
        .unwrap();
    let alpha = tags::insert(&mut tx, &org, &tag("Alpha", &["plan", "product"]), 20)
        .await
        .unwrap();
    let foreign = tags::insert(&mut tx, &other, &tag("zeta", &["plan"]), 30)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        zeta.id.starts_with("tag_") && zeta.id.len() == 26,
        "{}",
        zeta.id
    );
    assert_eq!(alpha.spec.entity_types, ["plan", "product"]);
    assert_eq!((alpha.created_at, alpha.updated_at), (20, 20));

    let mut c = db.read().await.unwrap();
    assert!(tags::name_taken(&mut c, &org, "ZETA").await.unwrap());
    assert!(!tags::name_taken(&mut c, &org, "beta").await.unwrap());
    assert_eq!(
        tags::get(&mut c, &org, &zeta.id).await.unwrap(),
        Some(zeta.clone())
    );
    assert_eq!(
        tags::get(&mut c, &org, &foreign.id).await.unwrap(),
        None,
        "tenancy"
    );
    let mut found = tags::by_ids(
        &mut c,
        &org,
        &[zeta.id.clone(), foreign.id.clone(), "tag_missing".into()],
    )
    .await
    .unwrap();
    found.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(found, vec![zeta.clone()]);
    assert!(tags::by_ids(&mut c, &org, &[]).await.unwrap().is_empty());
    let (page, total) = tags::list(&mut c, &org, 10, 0).await.unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        page.iter()
            .map(|t| t.spec.name.as_str())
            .collect::<Vec<_>>(),
        ["Alpha", "zeta"],
        "by name, case-insensitively"
    );
    let (page, _) = tags::list(&mut c, &org, 1, 1).await.unwrap();
    assert_eq!(page[0].id, zeta.id);
    drop(c);

    let mut tx = db.begin().await.unwrap();
    let dup = tags::insert(&mut tx, &org, &tag("ALPHA", &["plan"]), 40).await;
    assert!(
        matches!(dup, Err(abacus_store::StoreError::Unique(_))),
        "{dup:?}"
    );
    tx.rollback().await.unwrap();

    let mut tx = db.begin().await.unwrap();
    assert!(!tags::delete(&mut tx, &org, &foreign.id, 50).await.unwrap());
    assert!(tags::delete(&mut tx, &org, &zeta.id, 50).await.unwrap());
    assert!(!tags::delete(&mut tx, &org, &zeta.id, 50).await.unwrap());
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    assert_eq!(tags::list(&mut c, &org, 10, 0).await.unwrap().1, 1);
    assert_eq!(tags::list(&mut c, &other, 10, 0).await.unwrap().1, 1);
}

async fn add_metric(db: &Db, org: &str, name: &str) -> String {
    let spec = MetricSpec {
        name: name.into(),
        description: None,
        event_name: "api".into(),
        aggregation: Aggregation {
            method: AggregationMethod::Count,
            field: None,
        },
        filter_groups: vec![],
        tag_ids: vec![],
    };
    let mut tx = db.begin().await.unwrap();
    let m = metrics::insert(&mut tx, org, &spec, 1).await.unwrap();
    tx.commit().await.unwrap();
    m.id
}

async fn product_lifecycle(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let other = new_org(&db, "Other").await;
    let calls = add_metric(&db, &org, "calls").await;
    let old = add_metric(&db, &org, "old").await;
    let foreign_metric = add_metric(&db, &other, "calls").await;
    let mut tx = db.begin().await.unwrap();
    metrics::archive(&mut tx, &org, &old, 5).await.unwrap();
    let api = products::insert(&mut tx, &org, &metered("API", &[&calls]), 100)
        .await
        .unwrap();
    let setup_fee = products::insert(&mut tx, &org, &fixed("Setup"), 200)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        api.id.starts_with("prod_") && api.id.len() == 27,
        "{}",
        api.id
    );
    assert_eq!(api.spec, metered("API", &[&calls]));
    assert_eq!(setup_fee.spec, fixed("Setup"));

    let mut c = db.read().await.unwrap();
    let usable = products::usable_metrics(
        &mut c,
        &org,
        &[
            calls.clone(),
            old.clone(),
            foreign_metric.clone(),
            "mtr_x".into(),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        usable,
        vec![calls.clone()],
        "archived and foreign metrics are not usable"
    );
    assert!(
        products::usable_metrics(&mut c, &org, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        products::get(&mut c, &org, &api.id).await.unwrap(),
        Some(api.clone())
    );
    assert_eq!(
        products::get(&mut c, &other, &api.id).await.unwrap(),
        None,
        "tenancy"
    );
    let mut both = products::by_ids(
        &mut c,
        &org,
        &[api.id.clone(), setup_fee.id.clone(), "prod_x".into()],
    )
    .await
    .unwrap();
    both.sort_by_key(|p| p.created_at);
    assert_eq!(both, vec![api.clone(), setup_fee.clone()]);
    assert!(
        products::by_ids(&mut c, &other, std::slice::from_ref(&api.id))
            .await
            .unwrap()
            .is_empty()
    );
    drop(c);

    let mut renamed = api.spec.clone();
    renamed.name = "API calls".into();
    renamed.sku = None;
    renamed.tag_ids = vec!["tag_a".into()];
    let mut tx = db.begin().await.unwrap();
    let updated = products::update(&mut tx, &org, &api.id, &renamed, 300)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.spec, renamed);
    assert_eq!((updated.created_at, updated.updated_at), (100, 300));
    assert!(
        products::update(&mut tx, &other, &api.id, &renamed, 300)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !products::soft_delete(&mut tx, &other, &api.id, 400)
            .await
            .unwrap()
    );
    assert!(
        products::soft_delete(&mut tx, &org, &api.id, 400)
            .await
            .unwrap()
    );
    assert!(
        !products::soft_delete(&mut tx, &org, &api.id, 500)
            .await
            .unwrap()
    );
    assert!(
        products::update(&mut tx, &org, &api.id, &renamed, 600)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    assert!(
        products::get(&mut c, &org, &api.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        products::by_ids(&mut c, &org, std::slice::from_ref(&api.id))
            .await
            .unwrap()
            .is_empty()
    );
    let (rows, total) = products::list(
        &mut c,
        &org,
        &ListFilter::default(),
        (SortField::CreatedAt, false),
        10,
        0,
    )
    .await
    .unwrap();
    assert_eq!((rows, total), (vec![setup_fee], 1));
}

async fn product_lists_filter_sort_and_page(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    let mut a = metered("Bravo", &["mtr_a"]);
    a.tag_ids = vec!["tag_x".into()];
    let mut b = metered("alpha", &["mtr_b", "mtr_a_"]);
    b.tag_ids = vec!["tag_y".into(), "tag_x".into()];
    let c_spec = fixed("Charlie");
    let mut d = fixed("Delta");
    d.billing_frequency = BillingFrequency::Recurring;
    for (i, s) in [&a, &b, &c_spec, &d].into_iter().enumerate() {
        products::insert(&mut tx, &org, s, (i as i64 + 1) * 10)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    let names = |rows: Vec<abacus_core::catalog::Product>| {
        rows.into_iter().map(|p| p.spec.name).collect::<Vec<_>>()
    };
    let mut run = async |f: ListFilter, sort: (SortField, bool), limit: i64, offset: i64| {
        let (rows, total) = products::list(&mut c, &org, &f, sort, limit, offset)
            .await
            .unwrap();
        (names(rows), total)
    };
    let all = ListFilter::default();
    assert_eq!(
        run(all.clone(), (SortField::CreatedAt, false), 10, 0).await,
        (
            vec![
                "Bravo".into(),
                "alpha".into(),
                "Charlie".into(),
                "Delta".into()
            ],
            4
        )
    );
    assert_eq!(
        run(all.clone(), (SortField::CreatedAt, true), 2, 1).await,
        (vec!["Charlie".into(), "alpha".into()], 4)
    );
    assert_eq!(
        run(all.clone(), (SortField::Name, false), 10, 0).await.0,
        ["Bravo", "Charlie", "Delta", "alpha"]
    );
    assert_eq!(
        run(all.clone(), (SortField::FeeType, false), 10, 0).await.0,
        ["Charlie", "Delta", "Bravo", "alpha"]
    );
    assert_eq!(
        run(all.clone(), (SortField::PaymentTerms, true), 10, 0)
            .await
            .0,
        ["alpha", "Bravo", "Delta", "Charlie"]
    );
    assert_eq!(
        run(all.clone(), (SortField::MetricIds, false), 10, 0)
            .await
            .0,
        ["Bravo", "alpha", "Charlie", "Delta"],
        "by the first metric id; products without metrics last"
    );
    let f =
        |fee: &[&str], terms: &[&str], freq: &[&str], metrics: &[&str], tags: &[&str]| ListFilter {
            fee_types: fee.iter().map(|s| s.to_string()).collect(),
            payment_terms: terms.iter().map(|s| s.to_string()).collect(),
            billing_frequencies: freq.iter().map(|s| s.to_string()).collect(),
            metric_ids: metrics.iter().map(|s| s.to_string()).collect(),
            tag_ids: tags.iter().map(|s| s.to_string()).collect(),
        };
    let by = (SortField::CreatedAt, false);
    assert_eq!(
        run(f(&["fixed"], &[], &[], &[], &[]), by, 10, 0).await,
        (vec!["Charlie".into(), "Delta".into()], 2)
    );
    assert_eq!(
        run(
            f(&["fixed", "metered"], &["arrears"], &[], &[], &[]),
            by,
            10,
            0
        )
        .await
        .1,
        2
    );
    assert_eq!(
        run(f(&[], &[], &["one-off"], &[], &[]), by, 10, 0).await.0,
        ["Charlie"]
    );
    assert_eq!(
        run(f(&[], &[], &[], &["mtr_a"], &[]), by, 10, 0).await.0,
        ["Bravo"],
        "exact ids, not prefixes"
    );
    assert_eq!(
        run(f(&[], &[], &[], &["mtr_a", "mtr_b"], &[]), by, 10, 0)
            .await
            .0,
        ["Bravo", "alpha"]
    );
    assert_eq!(
        run(f(&[], &[], &[], &["mtr%"], &[]), by, 10, 0).await.1,
        0,
        "LIKE wildcards are escaped"
    );
    assert_eq!(
        run(f(&[], &[], &[], &[], &["tag_y"]), by, 10, 0).await.0,
        ["alpha"]
    );
    assert_eq!(
        run(f(&["metered"], &[], &[], &[], &["tag_x"]), by, 1, 1).await,
        (vec!["alpha".into()], 2)
    );
}

async fn product_dependents(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    let api = products::insert(&mut tx, &org, &metered("API", &["mtr_a"]), 1)
        .await
        .unwrap();
    let other = products::insert(&mut tx, &org, &fixed("Other"), 1)
        .await
        .unwrap();
    assert!(
        products::dependents(&mut tx, &org, &api.id)
            .await
            .unwrap()
            .is_empty()
    );
    let plan = plans::insert(&mut tx, &org, &plan_spec(&api.id, vec![]), 2)
        .await
        .unwrap();
    assert_eq!(
        products::dependents(&mut tx, &org, &api.id).await.unwrap(),
        ["plans"]
    );
    let bundle = bundles::insert(&mut tx, &org, &bundle_spec(&api.id), 3)
        .await
        .unwrap();
    assert_eq!(
        products::dependents(&mut tx, &org, &api.id).await.unwrap(),
        ["plans", "bundles"]
    );
    plans::archive(&mut tx, &org, &plan.id, 4).await.unwrap();
    assert_eq!(
        products::dependents(&mut tx, &org, &api.id).await.unwrap(),
        ["bundles"],
        "archived plans do not count"
    );
    let mut spec = bundle.spec();
    spec.prices = vec![];
    bundles::update(&mut tx, &org, &bundle.id, &spec, true, 5)
        .await
        .unwrap();
    assert!(
        products::dependents(&mut tx, &org, &api.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        products::dependents(&mut tx, &org, &other.id)
            .await
            .unwrap()
            .is_empty()
    );
    // The list is open: later tables (subscriptions) add themselves with their own condition.
    let custom = [Dependent {
        table: "plan_items",
        condition: "position >= 0",
        what: "any plan",
    }];
    assert_eq!(
        products::dependents_in(&mut tx, &custom, &org, &api.id)
            .await
            .unwrap(),
        ["any plan"]
    );
    let none = [Dependent {
        table: "plan_items",
        condition: "position < 0",
        what: "nothing",
    }];
    assert!(
        products::dependents_in(&mut tx, &none, &org, &api.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        products::dependents_in(&mut tx, &custom, "org_other", &api.id)
            .await
            .unwrap()
            .is_empty(),
        "tenancy"
    );
    tx.commit().await.unwrap();
}

fn bundle_spec(product: &str) -> BundleSpec {
    BundleSpec {
        name: "Starter".into(),
        description: Some("the basics".into()),
        currency: Some("EUR".into()),
        prices: vec![ProductPrice {
            product_id: product.into(),
            price: tiered_price("mtr_a"),
        }],
    }
}

async fn bundle_lifecycle(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let other = new_org(&db, "Other").await;
    let mut tx = db.begin().await.unwrap();
    let api = products::insert(&mut tx, &org, &metered("API", &["mtr_a"]), 1)
        .await
        .unwrap();
    let fee = products::insert(&mut tx, &org, &fixed("Fee"), 1)
        .await
        .unwrap();
    let b = bundles::insert(&mut tx, &org, &bundle_spec(&api.id), 10)
        .await
        .unwrap();
    let mut second = bundle_spec(&api.id);
    second.name = "Second".into();
    second.currency = None;
    second.description = None;
    let b2 = bundles::insert(&mut tx, &org, &second, 20).await.unwrap();
    tx.commit().await.unwrap();
    assert!(b.id.starts_with("bnd_") && b.id.len() == 26);
    assert_eq!(
        b.spec(),
        bundle_spec(&api.id),
        "prices read back as written"
    );
    assert_eq!(b.prices.len(), 1);
    assert!(b.prices[0].id.starts_with("pri_"));
    assert_eq!((b.prices[0].created_at, b.prices[0].updated_at), (10, 10));
    assert_eq!(b2.spec(), second);

    let mut c = db.read().await.unwrap();
    assert_eq!(
        bundles::get(&mut c, &org, &b.id).await.unwrap(),
        Some(b.clone())
    );
    assert_eq!(
        bundles::get(&mut c, &other, &b.id).await.unwrap(),
        None,
        "tenancy"
    );
    assert_eq!(
        bundles::by_ids(&mut c, &org, &[b2.id.clone(), "bnd_x".into()])
            .await
            .unwrap(),
        vec![b2.clone()]
    );
    assert!(bundles::by_ids(&mut c, &org, &[]).await.unwrap().is_empty());
    let (page, total) = bundles::list(&mut c, &org, 1, 1).await.unwrap();
    assert_eq!((page, total), (vec![b2.clone()], 2));
    assert_eq!(bundles::list(&mut c, &other, 10, 0).await.unwrap().1, 0);
    drop(c);

    // Renaming keeps the prices (and their ids); replacing them gives new ids.
    let mut tx = db.begin().await.unwrap();
    let mut spec = b.spec();
    spec.name = "Starter+".into();
    spec.currency = None;
    let renamed = bundles::update(&mut tx, &org, &b.id, &spec, false, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "Starter+");
    assert_eq!(renamed.currency, None);
    assert_eq!(renamed.prices, b.prices);
    assert_eq!((renamed.created_at, renamed.updated_at), (10, 30));
    spec.prices.push(ProductPrice {
        product_id: fee.id.clone(),
        price: serde_json::from_value(serde_json::json!({
            "type": "fixed", "fee_type": "fixed", "billing_direction": "advance", "billing_frequency": "one-off",
            "fixed_pricing_model": {"price_per_unit": "500.00", "units": 1}
        }))
        .unwrap(),
    });
    let replaced = bundles::update(&mut tx, &org, &b.id, &spec, true, 40)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(replaced.spec(), spec);
    assert_ne!(replaced.prices[0].id, b.prices[0].id);
    assert_eq!(replaced.prices[1].product_id, fee.id);
    assert!(
        bundles::update(&mut tx, &other, &b.id, &spec, true, 50)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
}

fn plan_spec(product: &str, tag_ids: Vec<String>) -> PlanSpec {
    PlanSpec {
        name: "Pro".into(),
        description: None,
        currency: "USD".into(),
        terms: PlanTerms {
            contract_period_type: Some("fixed".into()),
            contract_duration: Some(12),
            payment_terms: Some("net_30".into()),
            trial_period_days: Some(14),
            ..Default::default()
        },
        tag_ids,
        items: vec![PlanItem::Product(ProductPrice {
            product_id: product.into(),
            price: unit_price("mtr_a", "0.00025"),
        })],
    }
}

async fn plan_lifecycle(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let other = new_org(&db, "Other").await;
    let mut tx = db.begin().await.unwrap();
    let api = products::insert(&mut tx, &org, &metered("API", &["mtr_a"]), 1)
        .await
        .unwrap();
    let fee = products::insert(&mut tx, &org, &fixed("Fee"), 1)
        .await
        .unwrap();
    let mut spec = plan_spec(&api.id, vec!["tag_a".into()]);
    spec.description = Some("for teams".into());
    spec.terms.entitlements = vec![
        serde_json::from_value(serde_json::json!(
            {"entitlement_key": "sso", "mode": "static", "type": "boolean", "value": "true"}
        ))
        .unwrap(),
    ];
    spec.items.push(PlanItem::Bundle {
        bundle_id: "bnd_x".into(),
        name: "Starter".into(),
        description: Some("d".into()),
        items: vec![
            ProductPrice { product_id: api.id.clone(), price: tiered_price("mtr_a") },
            ProductPrice {
                product_id: fee.id.clone(),
                price: serde_json::from_value(serde_json::json!({
                    "type": "fixed", "fee_type": "fixed", "billing_direction": "advance", "billing_frequency": "recurring",
                    "fixed_pricing_model": {"price_per_unit": "10", "units": 3}
                }))
                .unwrap(),
            },
        ],
    });
    spec.items.push(PlanItem::Product(ProductPrice {
        product_id: fee.id.clone(),
        price: unit_price("mtr_a", "1"),
    }));
    let p = plans::insert(&mut tx, &org, &spec, 10).await.unwrap();
    let mut second = plan_spec(&api.id, vec![]);
    second.name = "Basic".into();
    let p2 = plans::insert(&mut tx, &org, &second, 20).await.unwrap();
    tx.commit().await.unwrap();
    assert!(p.id.starts_with("pln_") && p.id.len() == 26);
    assert_eq!(
        p.spec, spec,
        "items, bundles and terms read back as written"
    );
    assert_eq!((p.created_at, p.updated_at, p.archived_at), (10, 10, None));

    let mut c = db.read().await.unwrap();
    assert_eq!(
        plans::get(&mut c, &org, &p.id).await.unwrap(),
        Some(p.clone())
    );
    assert_eq!(
        plans::get(&mut c, &other, &p.id).await.unwrap(),
        None,
        "tenancy"
    );
    let names = |rows: Vec<abacus_core::catalog::Plan>| {
        rows.into_iter().map(|p| p.spec.name).collect::<Vec<_>>()
    };
    let all = plans::ListFilter::default();
    let (rows, total) = plans::list(
        &mut c,
        &org,
        &all,
        (plans::SortField::CreatedAt, false),
        10,
        0,
    )
    .await
    .unwrap();
    assert_eq!(
        (names(rows), total),
        (vec!["Pro".to_string(), "Basic".into()], 2)
    );
    let (rows, _) = plans::list(&mut c, &org, &all, (plans::SortField::Name, false), 1, 0)
        .await
        .unwrap();
    assert_eq!(names(rows), ["Basic"]);
    let tagged = plans::ListFilter {
        tag_ids: vec!["tag_a".into(), "tag_z".into()],
        include_archived: false,
    };
    let (rows, total) = plans::list(
        &mut c,
        &org,
        &tagged,
        (plans::SortField::UpdatedAt, true),
        10,
        0,
    )
    .await
    .unwrap();
    assert_eq!((names(rows), total), (vec!["Pro".to_string()], 1));
    assert_eq!(
        plans::list(&mut c, &other, &all, Default::default(), 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    drop(c);

    let mut tx = db.begin().await.unwrap();
    let mut changed = spec.clone();
    changed.items.truncate(1);
    changed.currency = "EUR".into();
    changed.terms = PlanTerms::default();
    let updated = plans::update(&mut tx, &org, &p.id, &changed, 30)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(updated.spec, changed);
    assert_eq!((updated.created_at, updated.updated_at), (10, 30));
    assert!(
        plans::update(&mut tx, &other, &p.id, &changed, 30)
            .await
            .unwrap()
            .is_none()
    );
    let archived = plans::archive(&mut tx, &org, &p2.id, 40)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(archived.archived_at, Some(40));
    let again = plans::archive(&mut tx, &org, &p2.id, 50)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.archived_at, Some(40), "the first archive time stays");
    assert!(
        plans::archive(&mut tx, &other, &p2.id, 60)
            .await
            .unwrap()
            .is_none()
    );
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    let (rows, total) = plans::list(&mut c, &org, &all, Default::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!((names(rows), total), (vec!["Pro".to_string()], 1));
    let with_archived = plans::ListFilter {
        include_archived: true,
        ..Default::default()
    };
    assert_eq!(
        plans::list(&mut c, &org, &with_archived, Default::default(), 10, 0)
            .await
            .unwrap()
            .1,
        2
    );
}

async fn deleting_a_tag_takes_it_off_products_and_plans(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    let keep = tags::insert(&mut tx, &org, &tag("keep", &["product", "plan"]), 1)
        .await
        .unwrap();
    let gone = tags::insert(&mut tx, &org, &tag("gone", &["product", "plan"]), 1)
        .await
        .unwrap();
    let mut spec = fixed("Tagged");
    spec.tag_ids = vec![gone.id.clone(), keep.id.clone()];
    let product = products::insert(&mut tx, &org, &spec, 1).await.unwrap();
    let untouched = products::insert(&mut tx, &org, &fixed("Plain"), 1)
        .await
        .unwrap();
    let plan = plans::insert(
        &mut tx,
        &org,
        &plan_spec(&product.id, vec![gone.id.clone()]),
        1,
    )
    .await
    .unwrap();
    assert!(tags::delete(&mut tx, &org, &gone.id, 99).await.unwrap());
    tx.commit().await.unwrap();
    let mut c = db.read().await.unwrap();
    let p = products::get(&mut c, &org, &product.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.spec.tag_ids, vec![keep.id.clone()]);
    assert_eq!(p.updated_at, 99);
    assert_eq!(
        products::get(&mut c, &org, &untouched.id)
            .await
            .unwrap()
            .unwrap()
            .updated_at,
        1
    );
    let pl = plans::get(&mut c, &org, &plan.id).await.unwrap().unwrap();
    assert!(pl.spec.tag_ids.is_empty());
    assert_eq!(pl.updated_at, 99);
}

async fn catalog_lock_is_reentrant_per_transaction(backend: Backend) {
    let Some((_t, db, org)) = setup(backend).await else {
        return;
    };
    let mut tx = db.begin().await.unwrap();
    products::lock_catalog(&mut tx, &org).await.unwrap();
    products::lock_catalog(&mut tx, &org).await.unwrap();
    tx.commit().await.unwrap();
    // Released at commit: another transaction takes it at once.
    let mut tx = db.begin().await.unwrap();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        products::lock_catalog(&mut tx, &org),
    )
    .await
    .expect("the lock was released")
    .unwrap();
    tx.rollback().await.unwrap();
}
