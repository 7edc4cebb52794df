//! Every subscription repository function (subscriptions, versions, items, the billing view),
//! the deletion guards subscriptions add, the customers' `has_active_subscriptions` filter and
//! the organization settings, on SQLite and on PostgreSQL.

use abacus_core::calendar::Interval;
use abacus_core::catalog::{
    BillingFrequency, FeeType, PaymentTerms, PlanItemInput, ProductPrice, ProductSpec, Refs,
    RevenueAllocation,
};
use abacus_core::customer::CustomerInput;
use abacus_core::metering::metric::{Aggregation, AggregationMethod, MetricSpec};
use abacus_core::pricing::PriceInput;
use abacus_core::subscription::{
    Cancellation, ContractInput, CustomerRef, Item, NewContext, NewSubscription, Status,
    SubscriptionInput, VersionSpec, VersionStatus,
};
use abacus_core::validation::Naming;
use abacus_store::subscriptions::{self, ListFilter, SortField};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Db, customers, metrics, on_both_backends, orgs, products, tags};
use jiff::civil::date;
use serde_json::json;

on_both_backends!(
    subscription_lifecycle,
    subscription_lists_filter_sort_and_page,
    version_lifecycle,
    billing_view_reads_spans_and_prices,
    subscriptions_guard_customers_and_products,
    customers_filter_on_active_subscriptions,
    organization_settings,
    subscription_lock_is_reentrant_per_transaction,
);

struct Fixture {
    _t: TestDb,
    db: Db,
    org: String,
    customer: CustomerRef,
    seats: String,
    api: String,
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

async fn customer(db: &Db, org: &str, name: &str) -> CustomerRef {
    let input = CustomerInput {
        name: name.into(),
        currency: "USD".into(),
        ..Default::default()
    };
    let mut tx = db.begin().await.unwrap();
    let c = customers::insert(
        &mut tx,
        org,
        &input.validate(Naming::Snake, &[]).unwrap(),
        1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    CustomerRef {
        id: c.id,
        name: c.name,
        currency: c.currency,
    }
}

fn product(name: &str, metric: Option<&str>) -> ProductSpec {
    ProductSpec {
        name: name.into(),
        description: String::new(),
        fee_type: if metric.is_some() {
            FeeType::Metered
        } else {
            FeeType::Fixed
        },
        payment_terms: if metric.is_some() {
            PaymentTerms::Arrears
        } else {
            PaymentTerms::Advance
        },
        billing_frequency: BillingFrequency::Recurring,
        revenue_allocation_method: RevenueAllocation::StraightLine,
        sku: None,
        tax_code: None,
        unit_label_singular: None,
        unit_label_plural: None,
        metric_ids: metric.into_iter().map(String::from).collect(),
        tag_ids: vec![],
    }
}

async fn setup(backend: Backend) -> Option<Fixture> {
    let t = TestDb::fresh(backend).await?;
    let db = t.migrated().await;
    let org = new_org(&db, "Acme").await;
    let customer = customer(&db, &org, "Globex").await;
    let mut tx = db.begin().await.unwrap();
    let metric = metrics::insert(
        &mut tx,
        &org,
        &MetricSpec {
            name: "Calls".into(),
            event_name: "api".into(),
            aggregation: Aggregation {
                method: AggregationMethod::Count,
                field: None,
            },
            description: None,
            filter_groups: vec![],
            tag_ids: vec![],
        },
        1,
    )
    .await
    .unwrap();
    let seats = products::insert(&mut tx, &org, &product("Seats", None), 1)
        .await
        .unwrap()
        .id;
    let api = products::insert(&mut tx, &org, &product("API", Some(&metric.id)), 1)
        .await
        .unwrap()
        .id;
    tx.commit().await.unwrap();
    Some(Fixture {
        _t: t,
        db,
        org,
        customer,
        seats,
        api,
    })
}

fn fixed_price(amount: &str) -> PriceInput {
    serde_json::from_value(json!({
        "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
        "billing_frequency": "recurring", "billing_interval": "monthly",
        "fixed_pricing_model": {"price_per_unit": amount, "units": 1}
    }))
    .unwrap()
}

fn product_item(product: &str, price: PriceInput) -> Item {
    Item::Product(ProductPrice {
        product_id: product.into(),
        price,
    })
}

/// A valid new subscription of `f.customer` with a seat price, starting on `start`.
async fn new_subscription(f: &Fixture, start: &str, tags: Vec<String>) -> NewSubscription {
    let mut c = f.db.read().await.unwrap();
    let refs = Refs {
        products: products::by_ids(&mut c, &f.org, std::slice::from_ref(&f.seats))
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.id, p.spec))
            .collect(),
        tags: tags::by_ids(&mut c, &f.org, &tags)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.spec.entity_types))
            .collect(),
        ..Default::default()
    };
    SubscriptionInput {
        customer_id: f.customer.id.clone(),
        items: Some(vec![PlanItemInput {
            product_id: Some(f.seats.clone()),
            price: Some(fixed_price("99.00")),
            ..Default::default()
        }]),
        contract: Some(ContractInput {
            start_date: Some(start.into()),
            ..Default::default()
        }),
        metadata: Some(json!({"crm": "42"}).as_object().unwrap().clone()),
        tags: Some(tags),
        ..Default::default()
    }
    .validate(
        Naming::Snake,
        &NewContext {
            customer: Some(&f.customer),
            plan: None,
            refs: &refs,
            default_payment_terms: "net_30",
        },
    )
    .unwrap()
}

async fn insert(
    f: &Fixture,
    new: &NewSubscription,
    now: i64,
) -> (
    abacus_core::subscription::Subscription,
    abacus_core::subscription::Version,
) {
    let mut tx = f.db.begin().await.unwrap();
    let out = subscriptions::insert(&mut tx, &f.org, new, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    out
}

/// Activates `s`: status, activation time, time zone; its drafts published at the start.
async fn activate(
    f: &Fixture,
    s: &abacus_core::subscription::Subscription,
    at: i64,
    effective: i64,
) {
    let mut tx = f.db.begin().await.unwrap();
    let mut s = s.clone();
    s.status = Status::Active;
    s.activated_at = Some(at);
    s.time_zone = Some("UTC".into());
    subscriptions::update(&mut tx, &f.org, &s, at)
        .await
        .unwrap()
        .unwrap();
    for v in subscriptions::versions(&mut tx, &f.org, &s.id)
        .await
        .unwrap()
    {
        if v.status == VersionStatus::Draft {
            subscriptions::publish_version(&mut tx, &f.org, &s.id, &v.id, effective, at)
                .await
                .unwrap()
                .unwrap();
        }
    }
    tx.commit().await.unwrap();
}

async fn subscription_lifecycle(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let new = new_subscription(&f, "2026-07-01", vec![]).await;
    let (s, v) = insert(&f, &new, 10).await;
    assert_eq!(s.id.len(), 8);
    assert!(s.id.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(s.status, Status::Draft);
    assert_eq!(s.customer_id, f.customer.id);
    assert_eq!(s.terms, new.terms);
    assert_eq!(s.metadata["crm"], json!("42"));
    assert_eq!((s.created_at, s.updated_at), (10, 10));
    assert!(v.id.starts_with("subv_") && v.id.len() == 27, "{}", v.id);
    assert_eq!((v.number, v.status), (1, VersionStatus::Draft));
    assert_eq!(v.items, new.first_version.items);

    // Every mutable column round-trips through update.
    let mut c = f.db.read().await.unwrap();
    let mut changed = subscriptions::get(&mut c, &f.org, &s.id)
        .await
        .unwrap()
        .unwrap();
    drop(c);
    changed.name = "Renamed".into();
    changed.description = Some("Annual deal".into());
    changed.status = Status::Active;
    changed.terms.trial_period_days = Some(7);
    changed.metadata.insert("k".into(), json!([1, 2]));
    changed.time_zone = Some("Europe/Berlin".into());
    changed.activated_at = Some(20);
    changed.cancellation = Some(Cancellation {
        requested_at: 30,
        effective_at: 40,
        reason: "pricing".into(),
        reason_description: Some("too dear".into()),
    });
    changed.ends_at = Some(40);
    let mut tx = f.db.begin().await.unwrap();
    let stored = subscriptions::update(&mut tx, &f.org, &changed, 50)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        stored,
        Subscription {
            updated_at: 50,
            ..changed.clone()
        }
    );

    // Another organization sees nothing.
    let other = new_org(&f.db, "Other").await;
    let mut c = f.db.read().await.unwrap();
    assert_eq!(
        subscriptions::get(&mut c, &other, &s.id).await.unwrap(),
        None
    );
    assert!(
        subscriptions::versions(&mut c, &other, &s.id)
            .await
            .unwrap()
            .is_empty()
    );
    drop(c);

    // settle_ended records what readers already see.
    let mut tx = f.db.begin().await.unwrap();
    assert_eq!(
        subscriptions::settle_ended(&mut tx, &f.org, 39)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        subscriptions::settle_ended(&mut tx, &f.org, 40)
            .await
            .unwrap(),
        1
    );
    let settled = subscriptions::get(&mut tx, &f.org, &s.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(settled.status, Status::Canceled);

    // delete removes the subscription, its versions and items.
    let (d, dv) = {
        let new = new_subscription(&f, "2026-07-01", vec![]).await;
        subscriptions::insert(&mut tx, &f.org, &new, 60)
            .await
            .unwrap()
    };
    assert!(subscriptions::delete(&mut tx, &f.org, &d.id).await.unwrap());
    assert!(!subscriptions::delete(&mut tx, &f.org, &d.id).await.unwrap());
    assert_eq!(
        subscriptions::version(&mut tx, &f.org, &d.id, &dv.id)
            .await
            .unwrap(),
        None
    );
    let left: i64 = abacus_store::on!(&mut tx, e => sqlx::query_scalar(
        "SELECT COUNT(*) FROM subscription_items WHERE version_id = $1")
        .bind(&dv.id).fetch_one(e).await)
    .unwrap();
    assert_eq!(left, 0);
    tx.commit().await.unwrap();
}

use abacus_core::subscription::Subscription;

async fn subscription_lists_filter_sort_and_page(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut tx = f.db.begin().await.unwrap();
    let tag = tags::insert(
        &mut tx,
        &f.org,
        &abacus_core::catalog::TagSpec {
            name: "vip".into(),
            color: "#112233".into(),
            entity_types: vec!["subscription".into()],
        },
        1,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let other_customer = customer(&f.db, &f.org, "Initech").await;

    let (draft, _) = insert(&f, &new_subscription(&f, "2026-03-01", vec![]).await, 100).await;
    let (active, _) = insert(
        &f,
        &new_subscription(&f, "2026-01-01", vec![tag.id.clone()]).await,
        200,
    )
    .await;
    activate(&f, &active, 210, 0).await;
    let (ending, _) = insert(&f, &new_subscription(&f, "2026-02-01", vec![]).await, 300).await;
    activate(&f, &ending, 310, 0).await;
    let mut ended = subscriptions::get(&mut f.db.read().await.unwrap(), &f.org, &ending.id)
        .await
        .unwrap()
        .unwrap();
    ended.ends_at = Some(1_000);
    let mut tx = f.db.begin().await.unwrap();
    subscriptions::update(&mut tx, &f.org, &ended, 320)
        .await
        .unwrap();
    // A subscription of another customer.
    let mut new = new_subscription(&f, "2025-12-01", vec![]).await;
    new.customer_id = other_customer.id.clone();
    let (foreign, _) = subscriptions::insert(&mut tx, &f.org, &new, 400)
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut c = f.db.read().await.unwrap();
    let ids = |v: &[Subscription]| v.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    let list = |filter: ListFilter, sort: (SortField, bool)| {
        let org = f.org.clone();
        let db = f.db.clone();
        async move {
            let mut c = db.read().await.unwrap();
            subscriptions::list(&mut c, &org, &filter, sort, 10, 0)
                .await
                .unwrap()
        }
    };
    let all = ListFilter {
        now: 500,
        ..Default::default()
    };
    let (page, total) = list(all.clone(), (SortField::CreatedAt, false)).await;
    assert_eq!(total, 4);
    assert_eq!(
        ids(&page),
        [
            draft.id.clone(),
            active.id.clone(),
            ending.id.clone(),
            foreign.id.clone()
        ]
    );
    // Status as seen at `now`: before ends_at the ending one is active, after it canceled.
    let at = |now: i64, statuses: Vec<Status>| ListFilter {
        statuses,
        now,
        ..Default::default()
    };
    assert_eq!(
        ids(&list(at(999, vec![Status::Active]), Default::default())
            .await
            .0),
        [active.id.clone(), ending.id.clone()]
    );
    assert_eq!(
        ids(&list(at(1_000, vec![Status::Active]), Default::default())
            .await
            .0),
        [active.id.as_str()]
    );
    assert_eq!(
        ids(&list(at(1_000, vec![Status::Canceled]), Default::default())
            .await
            .0),
        [ending.id.as_str()]
    );
    assert_eq!(
        ids(&list(
            at(1_000, vec![Status::Draft, Status::Canceled]),
            Default::default()
        )
        .await
        .0),
        [draft.id.clone(), ending.id.clone(), foreign.id.clone()]
    );
    let by_customer = ListFilter {
        customer_id: Some(other_customer.id.clone()),
        ..all.clone()
    };
    assert_eq!(
        ids(&list(by_customer, Default::default()).await.0),
        [foreign.id.as_str()]
    );
    let by_tag = ListFilter {
        tag_ids: vec![tag.id.clone()],
        ..all.clone()
    };
    assert_eq!(
        ids(&list(by_tag, Default::default()).await.0),
        [active.id.as_str()]
    );
    // Sorts: contract start, descending; activated_at puts drafts (no value) last.
    let (page, _) = list(all.clone(), (SortField::ContractStartDate, true)).await;
    assert_eq!(
        ids(&page),
        [
            draft.id.clone(),
            ending.id.clone(),
            active.id.clone(),
            foreign.id.clone()
        ]
    );
    let (page, _) = list(all.clone(), (SortField::ActivatedAt, true)).await;
    assert_eq!(
        ids(&page),
        [
            ending.id.clone(),
            active.id.clone(),
            foreign.id.clone(),
            draft.id.clone()
        ]
    );
    for field in [
        SortField::Name,
        SortField::Status,
        SortField::EndedAt,
        SortField::UpdatedAt,
        SortField::ContractEndDate,
    ] {
        let (page, _) = list(all.clone(), (field, false)).await;
        assert_eq!(page.len(), 4, "{field:?}");
    }
    // Paging.
    let (page, total) = subscriptions::list(&mut c, &f.org, &all, Default::default(), 2, 2)
        .await
        .unwrap();
    assert_eq!(
        (ids(&page), total),
        (vec![ending.id.clone(), foreign.id.clone()], 4)
    );
    // Active subscriptions of a customer; what billing walks.
    let mine = subscriptions::active_for_customer(&mut c, &f.org, &f.customer.id, 999)
        .await
        .unwrap();
    assert_eq!(ids(&mine), [active.id.clone(), ending.id.clone()]);
    assert_eq!(
        subscriptions::billable_ids(&mut c, &f.org).await.unwrap(),
        [active.id.clone(), ending.id.clone()]
    );
}

async fn version_lifecycle(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let (s, first) = insert(&f, &new_subscription(&f, "2026-07-01", vec![]).await, 10).await;
    let spec = |status: VersionStatus, amount: &str| {
        VersionSpec {
        status,
        plan_id: Some("pln_x".into()),
        description: Some(format!("price {amount}")),
        effective_at: Some(1_000),
        items: vec![
            product_item(&f.seats, fixed_price(amount)),
            Item::Bundle {
                bundle_id: "bnd_x".into(),
                name: "Extras".into(),
                description: Some("two".into()),
                items: vec![
                    ProductPrice {
                        product_id: f.seats.clone(),
                        price: fixed_price("1.00"),
                    },
                    ProductPrice {
                        product_id: f.seats.clone(),
                        price: fixed_price("2.00"),
                    },
                ],
            },
        ],
        entitlements: serde_json::from_value(json!([{"entitlement_key": "sso", "mode": "static", "type": "boolean", "value": "true"}])).unwrap(),
    }
    };
    let mut tx = f.db.begin().await.unwrap();
    let draft = subscriptions::insert_version(
        &mut tx,
        &f.org,
        &s.id,
        &spec(VersionStatus::Draft, "10.00"),
        20,
    )
    .await
    .unwrap();
    let published = subscriptions::insert_version(
        &mut tx,
        &f.org,
        &s.id,
        &spec(VersionStatus::Published, "20.00"),
        30,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!((draft.number, published.number), (2, 3));
    assert_eq!(draft.published_at, None);
    assert_eq!(published.published_at, Some(30));
    assert_eq!(
        draft.items,
        spec(VersionStatus::Draft, "10.00").items,
        "bundles keep their children"
    );
    assert_eq!(draft.entitlements.len(), 1);
    assert_eq!(draft.description.as_deref(), Some("price 10.00"));

    let mut c = f.db.read().await.unwrap();
    let all = subscriptions::versions(&mut c, &f.org, &s.id)
        .await
        .unwrap();
    assert_eq!(all.iter().map(|v| v.number).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(all[0], first);
    let by_sub = subscriptions::versions_of(&mut c, &f.org, std::slice::from_ref(&s.id))
        .await
        .unwrap();
    assert_eq!(by_sub[&s.id], all);
    assert_eq!(
        subscriptions::version(&mut c, &f.org, "nope", &draft.id)
            .await
            .unwrap(),
        None
    );
    drop(c);

    let mut tx = f.db.begin().await.unwrap();
    // Only drafts are replaced, published and deleted.
    let replaced = subscriptions::replace_version(
        &mut tx,
        &f.org,
        &s.id,
        &draft.id,
        &VersionSpec {
            effective_at: None,
            items: vec![product_item(&f.api, fixed_price("5.00"))],
            ..spec(VersionStatus::Draft, "3.00")
        },
        40,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(replaced.items.len(), 1);
    assert_eq!(
        (
            replaced.effective_at,
            replaced.updated_at,
            replaced.created_at
        ),
        (None, 40, 20)
    );
    assert_eq!(
        subscriptions::replace_version(
            &mut tx,
            &f.org,
            &s.id,
            &published.id,
            &spec(VersionStatus::Draft, "1.00"),
            40
        )
        .await
        .unwrap(),
        None
    );
    let p = subscriptions::publish_version(&mut tx, &f.org, &s.id, &draft.id, 5_000, 50)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (p.status, p.effective_at, p.published_at),
        (VersionStatus::Published, Some(5_000), Some(50))
    );
    assert_eq!(
        subscriptions::publish_version(&mut tx, &f.org, &s.id, &draft.id, 6_000, 60)
            .await
            .unwrap(),
        None
    );
    assert!(
        !subscriptions::delete_version(&mut tx, &f.org, &s.id, &published.id)
            .await
            .unwrap()
    );
    assert!(
        subscriptions::delete_version(&mut tx, &f.org, &s.id, &first.id)
            .await
            .unwrap()
    );
    assert!(
        !subscriptions::delete_version(&mut tx, &f.org, &s.id, &first.id)
            .await
            .unwrap()
    );
    // Numbers keep growing after a deletion.
    let next = subscriptions::insert_version(
        &mut tx,
        &f.org,
        &s.id,
        &spec(VersionStatus::Draft, "7.00"),
        70,
    )
    .await
    .unwrap();
    assert_eq!(next.number, 4);
    tx.commit().await.unwrap();
}

async fn billing_view_reads_spans_and_prices(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let (s, _) = insert(&f, &new_subscription(&f, "2026-01-01", vec![]).await, 10).await;
    let jan = abacus_core::time::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let mar = abacus_core::time::parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
    let mut c = f.db.read().await.unwrap();
    let draft_view = subscriptions::billing_view(&mut c, &f.org, &s.id)
        .await
        .unwrap()
        .unwrap();
    assert!(draft_view.spans.is_empty(), "drafts are not billed");
    drop(c);
    activate(&f, &s, 20, jan).await;
    let mut tx = f.db.begin().await.unwrap();
    let mut yearly = fixed_price("1000.00");
    yearly.billing_interval = Some("yearly".into());
    subscriptions::insert_version(
        &mut tx,
        &f.org,
        &s.id,
        &VersionSpec {
            status: VersionStatus::Published,
            plan_id: None,
            description: None,
            effective_at: Some(mar),
            items: vec![product_item(&f.seats, yearly)],
            entitlements: vec![],
        },
        30,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut c = f.db.read().await.unwrap();
    let view = subscriptions::billing_view(&mut c, &f.org, &s.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.versions.len(), 2);
    assert_eq!(view.spans.len(), 2);
    assert_eq!((view.spans[0].start, view.spans[0].end), (jan, Some(mar)));
    assert_eq!((view.spans[1].start, view.spans[1].end), (mar, None));
    let item = &view.spans[0].items[0];
    assert_eq!(item.product_id, f.seats);
    assert_eq!(item.interval, Some(Interval::MONTHLY));
    let charge = abacus_core::pricing::price(
        &item.parsed,
        abacus_core::currency::Currency::parse("USD").unwrap(),
        &abacus_core::pricing::PricingInput::NoUsage,
    )
    .unwrap();
    assert_eq!(charge.total.to_string(), "99.00");
    assert_eq!(view.billing_interval(jan), Interval::MONTHLY);
    assert_eq!(view.billing_interval(mar), Interval::YEARLY);
    let cal = view.calendar(Interval::MONTHLY).unwrap().unwrap();
    let period = cal.period_at(jan).unwrap().unwrap();
    assert_eq!(period.period.start_date, date(2026, 1, 1));
    assert_eq!(period.period.end_date, date(2026, 2, 1));
    assert_eq!(
        subscriptions::billing_view(&mut c, &f.org, "missing")
            .await
            .unwrap()
            .map(|v| v.spans.len()),
        None
    );
}

async fn subscriptions_guard_customers_and_products(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut c = f.db.read().await.unwrap();
    assert!(
        customers::dependents(&mut c, &f.org, &f.customer.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        products::dependents(&mut c, &f.org, &f.seats)
            .await
            .unwrap()
            .is_empty()
    );
    drop(c);
    let (s, _) = insert(&f, &new_subscription(&f, "2026-01-01", vec![]).await, 10).await;
    let mut c = f.db.read().await.unwrap();
    assert_eq!(
        customers::dependents(&mut c, &f.org, &f.customer.id)
            .await
            .unwrap(),
        ["subscriptions"]
    );
    assert_eq!(
        products::dependents(&mut c, &f.org, &f.seats)
            .await
            .unwrap(),
        ["subscriptions"]
    );
    assert!(
        products::dependents(&mut c, &f.org, &f.api)
            .await
            .unwrap()
            .is_empty()
    );
    drop(c);
    // A canceled subscription keeps its customer, not its products.
    let mut canceled = s.clone();
    canceled.status = Status::Canceled;
    let mut tx = f.db.begin().await.unwrap();
    subscriptions::update(&mut tx, &f.org, &canceled, 20)
        .await
        .unwrap();
    assert!(
        products::dependents(&mut tx, &f.org, &f.seats)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        customers::dependents(&mut tx, &f.org, &f.customer.id)
            .await
            .unwrap(),
        ["subscriptions"]
    );
    tx.rollback().await.unwrap();
}

async fn customers_filter_on_active_subscriptions(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let idle = customer(&f.db, &f.org, "Idle").await;
    let (s, _) = insert(&f, &new_subscription(&f, "2026-01-01", vec![]).await, 10).await;
    let names = |filter: Option<bool>, now: i64| {
        let org = f.org.clone();
        let db = f.db.clone();
        async move {
            let mut c = db.read().await.unwrap();
            let (page, total) = customers::list(
                &mut c,
                &org,
                &customers::ListFilter {
                    has_active_subscriptions: filter,
                    now,
                    ..Default::default()
                },
                Default::default(),
                10,
                0,
            )
            .await
            .unwrap();
            assert_eq!(page.len() as i64, total);
            let mut names: Vec<String> = page.into_iter().map(|c| c.name).collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        names(Some(true), 100).await,
        Vec::<String>::new(),
        "a draft is not active"
    );
    assert_eq!(names(Some(false), 100).await, ["Globex", "Idle"]);
    activate(&f, &s, 20, 0).await;
    let mut ending = subscriptions::get(&mut f.db.read().await.unwrap(), &f.org, &s.id)
        .await
        .unwrap()
        .unwrap();
    ending.ends_at = Some(1_000);
    let mut tx = f.db.begin().await.unwrap();
    subscriptions::update(&mut tx, &f.org, &ending, 30)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(names(Some(true), 999).await, ["Globex"]);
    assert_eq!(names(Some(false), 999).await, [idle.name.as_str()]);
    assert_eq!(names(Some(true), 1_000).await, Vec::<String>::new());
    assert_eq!(names(None, 1_000).await.len(), 2);
}

async fn organization_settings(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut tx = f.db.begin().await.unwrap();
    let mut s = orgs::settings(&mut tx, &f.org).await.unwrap().unwrap();
    assert_eq!(
        (
            s.name.as_str(),
            s.time_zone.as_str(),
            s.default_payment_terms.as_str()
        ),
        ("Acme", "UTC", "net_30")
    );
    s.name = "Acme GmbH".into();
    s.time_zone = "Europe/Berlin".into();
    s.default_payment_terms = "due_on_receipt".into();
    assert!(orgs::update_settings(&mut tx, &s).await.unwrap());
    assert_eq!(orgs::settings(&mut tx, &f.org).await.unwrap().unwrap(), s);
    assert_eq!(
        orgs::get(&mut tx, &f.org).await.unwrap().unwrap().time_zone,
        "Europe/Berlin"
    );
    assert_eq!(orgs::settings(&mut tx, "org_missing").await.unwrap(), None);
    let missing = orgs::Settings {
        id: "org_missing".into(),
        ..s
    };
    assert!(!orgs::update_settings(&mut tx, &missing).await.unwrap());
    tx.commit().await.unwrap();
}

async fn subscription_lock_is_reentrant_per_transaction(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut tx = f.db.begin().await.unwrap();
    subscriptions::lock(&mut tx, &f.org).await.unwrap();
    subscriptions::lock(&mut tx, &f.org).await.unwrap();
    products::lock_catalog(&mut tx, &f.org).await.unwrap();
    tx.commit().await.unwrap();
    // Released at commit: another transaction takes it.
    let mut tx = f.db.begin().await.unwrap();
    subscriptions::lock(&mut tx, &f.org).await.unwrap();
    tx.rollback().await.unwrap();
}
