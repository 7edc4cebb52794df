//! The credit grant repositories (grants, draws, what billing may use, balances, releases), on
//! SQLite and PostgreSQL.

use std::str::FromStr;

use abacus_core::billing::{CreditDraw, CreditGrant};
use abacus_core::currency::Currency;
use abacus_core::customer::CustomerInput;
use abacus_core::validation::Naming;
use abacus_store::credits::{self, NewGrant};
use abacus_store::invoices::{self, NewInvoice, NewLine};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Db, StoreError, customers, on, on_both_backends, orgs};
use rust_decimal::Decimal;
use sqlx::types::Json;

on_both_backends!(
    grants_are_stored_and_read_per_tenant,
    usable_grants_and_balances_follow_draws_and_expiry,
    draws_are_unique_per_invoice_and_grant_and_released_exactly,
    deleting_a_subscription_deletes_its_grants,
);

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

struct Fixture {
    _t: TestDb,
    db: Db,
    org: String,
    other: String,
    customer: String,
    sub: String,
    sub2: String,
}

async fn subscription(db: &Db, org: &str, customer: &str) -> String {
    let id = abacus_core::ids::short_id();
    let mut tx = db.begin().await.unwrap();
    on!(&mut tx, e => sqlx::query(
        "INSERT INTO subscriptions (id, org_id, customer_id, name, currency, status, terms, metadata, tag_ids,
                                    created_at, updated_at)
         VALUES ($1, $2, $3, 'Pro', 'USD', 'active', $4, $4, $5, 1, 1)")
        .bind(&id).bind(org).bind(customer).bind(Json(serde_json::json!({})))
        .bind(Json(serde_json::json!([])))
        .execute(e).await.map(|r| r.rows_affected()))
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn setup(backend: Backend) -> Option<Fixture> {
    let t = TestDb::fresh(backend).await?;
    let db = t.migrated().await;
    let mut tx = db.begin().await.unwrap();
    let mut ids = Vec::new();
    for name in ["Acme", "Other"] {
        let org = orgs::Organization {
            id: orgs::new_id(),
            name: name.into(),
            time_zone: "UTC".into(),
            created_at: 1,
        };
        orgs::insert(&mut tx, &org).await.unwrap();
        ids.push(org.id);
    }
    let state = CustomerInput {
        name: "Gojo".into(),
        currency: "USD".into(),
        ..Default::default()
    }
    .validate(Naming::Snake, &[])
    .unwrap();
    let customer = customers::insert(&mut tx, &ids[0], &state, 1)
        .await
        .unwrap()
        .id;
    tx.commit().await.unwrap();
    let sub = subscription(&db, &ids[0], &customer).await;
    let sub2 = subscription(&db, &ids[0], &customer).await;
    Some(Fixture {
        _t: t,
        db,
        org: ids.remove(0),
        other: ids.remove(0),
        customer,
        sub,
        sub2,
    })
}

fn new_grant(f: &Fixture, sub: &str, amount: &str, expires_at: Option<i64>) -> NewGrant {
    NewGrant {
        customer_id: f.customer.clone(),
        subscription_id: sub.into(),
        currency: "USD".into(),
        amount: d(amount),
        reason: Some("Welcome credit".into()),
        expires_at,
    }
}

async fn grant(f: &Fixture, sub: &str, amount: &str, expires_at: Option<i64>, now: i64) -> String {
    let mut tx = f.db.begin().await.unwrap();
    let g = credits::insert_grant(&mut tx, &f.org, &new_grant(f, sub, amount, expires_at), now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    g.id
}

async fn invoice(f: &Fixture) -> String {
    let line =
        NewLine::manual("Pro plan".into(), None, d("1"), d("100"), None, None, usd()).unwrap();
    let new = NewInvoice {
        customer_id: f.customer.clone(),
        subscription_id: None,
        boundary: None,
        currency: usd(),
        description: "Pro".into(),
        purchase_order_number: None,
        payment_terms: "net_30".into(),
        invoicing_date: None,
        issue_date: None,
        billing_period: None,
        lines: vec![line],
        schedule: None,
    };
    let mut tx = f.db.begin().await.unwrap();
    let inv = invoices::insert(&mut tx, &f.org, &new, 1)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    inv.id
}

fn draw(grant: &str, amount: &str) -> CreditDraw {
    CreditDraw {
        grant_id: grant.into(),
        amount: d(amount),
    }
}

async fn record(f: &Fixture, invoice: &str, draws: &[CreditDraw], now: i64) {
    let mut tx = f.db.begin().await.unwrap();
    credits::record_draws(&mut tx, &f.org, invoice, draws, now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

async fn balance(f: &Fixture, org: &str, sub: &str, as_of: i64) -> Decimal {
    let mut c = f.db.read().await.unwrap();
    credits::balance(&mut c, org, sub, as_of).await.unwrap()
}

async fn usable(f: &Fixture, sub: &str, as_of: i64) -> Vec<CreditGrant> {
    let mut c = f.db.read().await.unwrap();
    credits::usable_grants(&mut c, &f.org, sub, as_of)
        .await
        .unwrap()
}

async fn grants_are_stored_and_read_per_tenant(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let g1 = grant(&f, &f.sub, "100.00", None, 10).await;
    let g2 = grant(&f, &f.sub, "50.00", Some(1_000), 20).await;
    grant(&f, &f.sub2, "7.00", None, 5).await;
    assert!(g1.starts_with("cgr_") && g1.len() == 26, "{g1}");

    let mut c = f.db.read().await.unwrap();
    let got = credits::get_grant(&mut c, &f.org, &g2)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.amount, d("50.00"));
    assert_eq!(got.amount.to_string(), "50.00");
    assert_eq!(
        (got.credit_type.as_str(), got.grant_type.as_str()),
        ("monetary", "api")
    );
    assert_eq!(got.reason.as_deref(), Some("Welcome credit"));
    assert_eq!((got.expires_at, got.created_at), (Some(1_000), 20));
    assert_eq!(
        (got.customer_id.as_str(), got.subscription_id.as_str()),
        (f.customer.as_str(), f.sub.as_str())
    );
    assert!(got.expired_at(1_000) && !got.expired_at(999));

    // Another organization sees nothing.
    assert!(
        credits::get_grant(&mut c, &f.other, &g2)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        credits::grants_of_subscription(&mut c, &f.other, &f.sub)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        credits::usable_grants(&mut c, &f.other, &f.sub, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        credits::balance(&mut c, &f.other, &f.sub, 100)
            .await
            .unwrap(),
        Decimal::ZERO
    );

    // Oldest first, only the subscription's own.
    let ids: Vec<String> = credits::grants_of_subscription(&mut c, &f.org, &f.sub)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(ids, vec![g1, g2]);
}

async fn usable_grants_and_balances_follow_draws_and_expiry(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let g1 = grant(&f, &f.sub, "100.00", None, 10).await;
    let g2 = grant(&f, &f.sub, "50.00", Some(1_000), 20).await;
    let g3 = grant(&f, &f.sub, "0.30", None, 30).await;
    grant(&f, &f.sub2, "7.00", None, 5).await;

    // Grants count from their creation; the other subscription's never.
    assert_eq!(balance(&f, &f.org, &f.sub, 9).await, Decimal::ZERO);
    assert_eq!(balance(&f, &f.org, &f.sub, 10).await, d("100.00"));
    assert_eq!(balance(&f, &f.org, &f.sub, 20).await, d("150.00"));
    assert_eq!(balance(&f, &f.org, &f.sub, 30).await, d("150.30"));
    // An expired grant no longer counts (expires_at <= as_of is expired).
    assert_eq!(balance(&f, &f.org, &f.sub, 999).await, d("150.30"));
    assert_eq!(balance(&f, &f.org, &f.sub, 1_000).await, d("100.30"));
    assert_eq!(balance(&f, &f.org, &f.sub2, 1_000).await, d("7.00"));

    let as_of_15 = usable(&f, &f.sub, 15).await;
    assert_eq!(
        as_of_15,
        vec![CreditGrant {
            id: g1.clone(),
            remaining: d("100.00"),
            expires_at: None,
            priority: 0,
        }]
    );
    // Expired grants are handed over: the billing function leaves them out itself.
    let ids: Vec<String> = usable(&f, &f.sub, 2_000)
        .await
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(ids, vec![g1.clone(), g2.clone(), g3.clone()]);

    // Draws at 100: 30.00 of g1, all of g2, 0.10 then (another invoice, at 200) 0.20 of g3.
    let (i1, i2) = (invoice(&f).await, invoice(&f).await);
    record(
        &f,
        &i1,
        &[draw(&g1, "30.00"), draw(&g2, "50.00"), draw(&g3, "0.10")],
        100,
    )
    .await;
    record(&f, &i2, &[draw(&g3, "0.20")], 200).await;

    let left = usable(&f, &f.sub, 300).await;
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        (left[0].id.as_str(), left[0].remaining),
        (g1.as_str(), d("70.00"))
    );
    // What billing may use counts every draw, even those after as_of.
    assert_eq!(usable(&f, &f.sub, 50).await[0].remaining, d("70.00"));

    // The balance counts the draws made by as_of only: exact decimals, 0.30 − 0.10 − 0.20 = 0.
    assert_eq!(balance(&f, &f.org, &f.sub, 99).await, d("150.30"));
    assert_eq!(balance(&f, &f.org, &f.sub, 100).await, d("70.20"));
    assert_eq!(balance(&f, &f.org, &f.sub, 200).await, d("70.00"));
    assert_eq!(balance(&f, &f.org, &f.sub, 1_000).await, d("70.00"));

    let mut c = f.db.read().await.unwrap();
    let listed = credits::list_grants(&mut c, &f.org, &f.sub).await.unwrap();
    let summary: Vec<(String, Decimal, Decimal)> = listed
        .into_iter()
        .map(|g| (g.grant.id, g.drawn, g.remaining))
        .collect();
    assert_eq!(
        summary,
        vec![
            (g1, d("30.00"), d("70.00")),
            (g2, d("50.00"), d("0.00")),
            (g3, d("0.30"), d("0.00")),
        ]
    );
}

async fn draws_are_unique_per_invoice_and_grant_and_released_exactly(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let g1 = grant(&f, &f.sub, "100.00", None, 10).await;
    let g2 = grant(&f, &f.sub, "25.50", None, 10).await;
    let (i1, i2) = (invoice(&f).await, invoice(&f).await);
    record(&f, &i1, &[draw(&g1, "40.00"), draw(&g2, "25.50")], 100).await;
    record(&f, &i2, &[draw(&g1, "10.00")], 110).await;
    assert_eq!(balance(&f, &f.org, &f.sub, 200).await, d("50.00"));

    // A second draw of the same invoice on the same grant is refused by the unique key.
    let mut tx = f.db.begin().await.unwrap();
    let err = credits::record_draws(&mut tx, &f.org, &i1, &[draw(&g1, "1.00")], 120)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unique(_)), "{err:?}");
    drop(tx);

    let mut c = f.db.read().await.unwrap();
    let mine = credits::draws_of_invoice(&mut c, &f.org, &i1)
        .await
        .unwrap();
    assert_eq!(mine.len(), 2);
    assert!(
        credits::draws_of_invoice(&mut c, &f.other, &i1)
            .await
            .unwrap()
            .is_empty()
    );
    drop(c);

    // Another organization releases nothing.
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        credits::release_draws(&mut tx, &f.other, &i1)
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();
    assert_eq!(balance(&f, &f.org, &f.sub, 200).await, d("50.00"));

    // Releasing i1 gives back exactly what it drew; i2's draw stays.
    let mut tx = f.db.begin().await.unwrap();
    let released = credits::release_draws(&mut tx, &f.org, &i1).await.unwrap();
    tx.commit().await.unwrap();
    let mut amounts: Vec<Decimal> = released.iter().map(|r| r.amount).collect();
    amounts.sort();
    assert_eq!(amounts, vec![d("25.50"), d("40.00")]);
    assert_eq!(balance(&f, &f.org, &f.sub, 200).await, d("115.50"));
    // Grants made in the same microsecond come in id order, which is random: compare sorted.
    let mut remaining: Vec<Decimal> = usable(&f, &f.sub, 200)
        .await
        .into_iter()
        .map(|g| g.remaining)
        .collect();
    remaining.sort();
    assert_eq!(remaining, vec![d("25.50"), d("90.00")]);

    // Released twice: nothing more; and the invoice may draw again.
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        credits::release_draws(&mut tx, &f.org, &i1)
            .await
            .unwrap()
            .is_empty()
    );
    credits::record_draws(&mut tx, &f.org, &i1, &[draw(&g1, "5.00")], 300)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(balance(&f, &f.org, &f.sub, 300).await, d("110.50"));
}

async fn deleting_a_subscription_deletes_its_grants(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    grant(&f, &f.sub, "10.00", None, 10).await;
    grant(&f, &f.sub, "20.00", None, 10).await;
    let kept = grant(&f, &f.sub2, "7.00", None, 10).await;
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        abacus_store::subscriptions::delete(&mut tx, &f.org, &f.sub)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = f.db.read().await.unwrap();
    assert!(
        credits::grants_of_subscription(&mut c, &f.org, &f.sub)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        credits::get_grant(&mut c, &f.org, &kept)
            .await
            .unwrap()
            .is_some()
    );
}
