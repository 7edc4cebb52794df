//! The repository side of the once-only subscription events (`subscription.started`,
//! `subscription.canceled`): the service start, the conditional claims, what the sweep finds due
//! and, on PostgreSQL, that sweeps holding rows skip each other. On SQLite and on PostgreSQL.

use abacus_core::catalog::{
    BillingFrequency, FeeType, PaymentTerms, PlanItemInput, ProductSpec, Refs, RevenueAllocation,
};
use abacus_core::customer::CustomerInput;
use abacus_core::subscription::{
    Cancellation, ContractInput, CustomerRef, NewContext, Status, Subscription, SubscriptionInput,
};
use abacus_core::validation::Naming;
use abacus_store::subscriptions::{self, DueEvents, OnceEvent};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Db, customers, on_both_backends, orgs, products};
use serde_json::json;

on_both_backends!(
    once_events_are_claimed_once,
    a_service_that_ends_as_it_starts_never_starts,
    sweeps_skip_rows_another_sweep_holds,
);

struct Fixture {
    _t: TestDb,
    db: Db,
    org: String,
    customer: CustomerRef,
    seats: String,
}

async fn setup(backend: Backend) -> Option<Fixture> {
    let t = TestDb::fresh(backend).await?;
    let db = t.migrated().await;
    let org = orgs::Organization {
        id: orgs::new_id(),
        name: "Acme".into(),
        time_zone: "UTC".into(),
        created_at: 1,
    };
    let mut tx = db.begin().await.unwrap();
    orgs::insert(&mut tx, &org).await.unwrap();
    let input = CustomerInput {
        name: "Globex".into(),
        currency: "USD".into(),
        ..Default::default()
    };
    let c = customers::insert(
        &mut tx,
        &org.id,
        &input.validate(Naming::Snake, &[]).unwrap(),
        1,
    )
    .await
    .unwrap();
    let seats = products::insert(
        &mut tx,
        &org.id,
        &ProductSpec {
            name: "Seats".into(),
            description: String::new(),
            fee_type: FeeType::Fixed,
            payment_terms: PaymentTerms::Advance,
            billing_frequency: BillingFrequency::Recurring,
            revenue_allocation_method: RevenueAllocation::StraightLine,
            sku: None,
            tax_code: None,
            unit_label_singular: None,
            unit_label_plural: None,
            metric_ids: vec![],
            tag_ids: vec![],
        },
        1,
    )
    .await
    .unwrap()
    .id;
    tx.commit().await.unwrap();
    Some(Fixture {
        _t: t,
        db,
        org: org.id,
        customer: CustomerRef {
            id: c.id,
            name: c.name,
            currency: c.currency,
        },
        seats,
    })
}

/// A draft subscription with a seat price, created at `at`.
async fn draft(f: &Fixture, at: i64) -> Subscription {
    let mut c = f.db.read().await.unwrap();
    let refs = Refs {
        products: products::by_ids(&mut c, &f.org, std::slice::from_ref(&f.seats))
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.id, p.spec))
            .collect(),
        ..Default::default()
    };
    drop(c);
    let new = SubscriptionInput {
        customer_id: f.customer.id.clone(),
        items: Some(vec![PlanItemInput {
            product_id: Some(f.seats.clone()),
            price: Some(
                serde_json::from_value(json!({
                    "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
                    "billing_frequency": "recurring", "billing_interval": "monthly",
                    "fixed_pricing_model": {"price_per_unit": "99.00", "units": 1}
                }))
                .unwrap(),
            ),
            ..Default::default()
        }]),
        contract: Some(ContractInput {
            start_date: Some("2026-07-01".into()),
            ..Default::default()
        }),
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
    .unwrap();
    let mut tx = f.db.begin().await.unwrap();
    let (s, _) = subscriptions::insert(&mut tx, &f.org, &new, at)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    s
}

/// Activates `s` with its service from `start` to `end`.
async fn activate(f: &Fixture, s: &Subscription, start: i64, end: Option<i64>) -> Subscription {
    let mut s = s.clone();
    s.status = Status::Active;
    s.activated_at = Some(20);
    s.time_zone = Some("UTC".into());
    s.ends_at = end;
    let mut tx = f.db.begin().await.unwrap();
    let s = subscriptions::update(&mut tx, &f.org, &s, 20)
        .await
        .unwrap()
        .unwrap();
    subscriptions::set_starts_at(&mut tx, &f.org, &s.id, start)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    s
}

async fn due(f: &Fixture, now: i64) -> (bool, Vec<DueEvents>) {
    let mut c = f.db.read().await.unwrap();
    let any = subscriptions::any_events_due(&mut c, now).await.unwrap();
    drop(c);
    let mut tx = f.db.begin().await.unwrap();
    let list = subscriptions::due_events(&mut tx, now, 100).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        any,
        !list.is_empty(),
        "any_events_due agrees with due_events"
    );
    (any, list)
}

async fn claim(f: &Fixture, org: &str, id: &str, e: OnceEvent, now: i64) -> bool {
    let mut tx = f.db.begin().await.unwrap();
    let won = subscriptions::claim_event(&mut tx, org, id, e, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    won
}

fn hit(f: &Fixture, s: &Subscription, started: bool, canceled: bool) -> DueEvents {
    DueEvents {
        org_id: f.org.clone(),
        id: s.id.clone(),
        started,
        canceled,
    }
}

async fn once_events_are_claimed_once(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let d = draft(&f, 10).await;
    // A draft has no service: nothing is due, nothing can be claimed.
    assert_eq!(due(&f, i64::MAX / 2).await, (false, vec![]));
    assert!(!claim(&f, &f.org, &d.id, OnceEvent::Started, 1_000).await);
    assert!(!claim(&f, &f.org, &d.id, OnceEvent::Canceled, 1_000).await);

    let s = activate(&f, &d, 100, None).await;
    assert_eq!(due(&f, 99).await, (false, vec![]));
    assert_eq!(due(&f, 100).await, (true, vec![hit(&f, &s, true, false)]));
    // Not before the start; another organization's id is not found; a rolled-back claim is no
    // claim.
    assert!(!claim(&f, &f.org, &s.id, OnceEvent::Started, 99).await);
    assert!(!claim(&f, "other-org", &s.id, OnceEvent::Started, 100).await);
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        subscriptions::claim_event(&mut tx, &f.org, &s.id, OnceEvent::Started, 100)
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
    // Once.
    assert!(claim(&f, &f.org, &s.id, OnceEvent::Started, 100).await);
    assert!(!claim(&f, &f.org, &s.id, OnceEvent::Started, 100).await);
    assert!(!claim(&f, &f.org, &s.id, OnceEvent::Started, 5_000).await);
    assert_eq!(due(&f, 5_000).await, (false, vec![]));

    // A cancellation at 200: due from 200, claimed once, and the stored status follows.
    let mut s = subscriptions::get(&mut f.db.read().await.unwrap(), &f.org, &s.id)
        .await
        .unwrap()
        .unwrap();
    s.cancellation = Some(Cancellation {
        requested_at: 150,
        effective_at: 200,
        reason: "pricing".into(),
        reason_description: None,
    });
    s.ends_at = Some(200);
    let mut tx = f.db.begin().await.unwrap();
    subscriptions::update(&mut tx, &f.org, &s, 150)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(due(&f, 199).await, (false, vec![]));
    assert_eq!(due(&f, 200).await, (true, vec![hit(&f, &s, false, true)]));
    assert!(!claim(&f, &f.org, &s.id, OnceEvent::Canceled, 199).await);
    assert!(claim(&f, &f.org, &s.id, OnceEvent::Canceled, 200).await);
    assert!(!claim(&f, &f.org, &s.id, OnceEvent::Canceled, 300).await);
    assert_eq!(due(&f, i64::MAX / 2).await, (false, vec![]));
    let stored = subscriptions::get(&mut f.db.read().await.unwrap(), &f.org, &s.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, Status::Canceled);
    // The claim changes nothing else: not even updated_at.
    assert_eq!(
        stored,
        Subscription {
            status: Status::Canceled,
            updated_at: 150,
            ..s
        }
    );
}

async fn a_service_that_ends_as_it_starts_never_starts(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let early = activate(&f, &draft(&f, 10).await, 300, Some(300)).await;
    let before = activate(&f, &draft(&f, 11).await, 300, Some(250)).await;
    let (_, list) = due(&f, 1_000).await;
    assert_eq!(
        list,
        vec![hit(&f, &early, false, true), hit(&f, &before, false, true)]
    );
    assert!(!claim(&f, &f.org, &early.id, OnceEvent::Canceled, 299).await);
    for s in [&early, &before] {
        assert!(claim(&f, &f.org, &s.id, OnceEvent::Canceled, 1_000).await);
    }
    assert_eq!(due(&f, 1_000).await, (false, vec![]));
}

async fn sweeps_skip_rows_another_sweep_holds(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut subs = Vec::new();
    for at in 10..13 {
        subs.push(activate(&f, &draft(&f, at).await, 100, None).await);
    }
    if backend == Backend::Postgres {
        // Two sweeps at once take disjoint rows, oldest first, and never wait for each other.
        let mut one = f.db.begin().await.unwrap();
        let mut two = f.db.begin().await.unwrap();
        let a = subscriptions::due_events(&mut one, 100, 1).await.unwrap();
        let b = subscriptions::due_events(&mut two, 100, 5).await.unwrap();
        assert_eq!(a, vec![hit(&f, &subs[0], true, false)]);
        assert_eq!(
            b,
            vec![
                hit(&f, &subs[1], true, false),
                hit(&f, &subs[2], true, false)
            ]
        );
        // A third finds everything held.
        let mut three = f.db.begin().await.unwrap();
        assert_eq!(
            subscriptions::due_events(&mut three, 100, 5).await.unwrap(),
            vec![]
        );
        three.rollback().await.unwrap();
        for d in &a {
            assert!(
                subscriptions::claim_event(&mut one, &d.org_id, &d.id, OnceEvent::Started, 100)
                    .await
                    .unwrap()
            );
        }
        one.commit().await.unwrap();
        // The second gave up: its rows are due again, the first one's are not.
        two.rollback().await.unwrap();
        let (_, list) = due(&f, 100).await;
        assert_eq!(
            list,
            vec![
                hit(&f, &subs[1], true, false),
                hit(&f, &subs[2], true, false)
            ]
        );
    }
    // The first was claimed above on PostgreSQL.
    assert_eq!(
        claim(&f, &f.org, &subs[0].id, OnceEvent::Started, 100).await,
        backend == Backend::Sqlite
    );
    for s in &subs[1..] {
        assert!(claim(&f, &f.org, &s.id, OnceEvent::Started, 100).await);
    }
    assert_eq!(due(&f, 100).await, (false, vec![]));
}
