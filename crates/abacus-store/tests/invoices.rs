//! The invoice repositories (invoices and lines, numbers, PDFs, overdue sweeps, period keys),
//! payments, refunds, the credit ledger and credit notes, on SQLite and PostgreSQL.

use std::str::FromStr;

use abacus_core::currency::Currency;
use abacus_core::customer::CustomerInput;
use abacus_core::invoicing::InvoiceStatus;
use abacus_core::validation::Naming;
use abacus_store::credit_notes::{self, Applied, NewCreditNote, Status};
use abacus_store::invoices::{self, Issued, ListFilter, NewInvoice, NewLine, SortField};
use abacus_store::payments::{
    self, CreditRefs, Method, NewPayment, NewRefund, RefundFilter, RefundSort,
};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Db, StoreError, customers, on_both_backends, orgs};
use rust_decimal::Decimal;

on_both_backends!(
    invoices_insert_get_lock_and_tenancy,
    a_period_is_invoiced_once,
    a_period_is_invoiced_once_under_concurrency,
    lines_are_added_changed_and_removed_with_totals,
    numbers_are_gap_free_and_rollbacks_give_them_back,
    numbers_are_gap_free_under_concurrency,
    issue_pay_void_and_pdf,
    overdue_sweep_changes_each_invoice_once,
    invoice_lists_filter_and_sort,
    payments_refunds_and_the_credit_ledger,
    credit_notes_store_apply_and_void,
    customers_with_invoices_or_credit_notes_are_kept,
);

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

const DAY: i64 = 86_400_000_000;

struct Fixture {
    _t: TestDb,
    db: Db,
    org: String,
    other: String,
    customer: String,
    customer2: String,
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
    let mut cust = Vec::new();
    for name in ["Gojo", "Zeta"] {
        let state = CustomerInput {
            name: name.into(),
            currency: "USD".into(),
            ..Default::default()
        }
        .validate(Naming::Snake, &[])
        .unwrap();
        cust.push(
            customers::insert(&mut tx, &ids[0], &state, 1)
                .await
                .unwrap()
                .id,
        );
    }
    tx.commit().await.unwrap();
    Some(Fixture {
        _t: t,
        db,
        org: ids[0].clone(),
        other: ids[1].clone(),
        customer: cust[0].clone(),
        customer2: cust[1].clone(),
    })
}

fn line(desc: &str, qty: &str, price: &str) -> NewLine {
    NewLine::manual(
        desc.into(),
        None,
        d(qty),
        d(price),
        Some(d("0.2")),
        None,
        usd(),
    )
    .unwrap()
}

fn draft(customer: &str, lines: Vec<NewLine>) -> NewInvoice {
    NewInvoice {
        customer_id: customer.into(),
        subscription_id: None,
        boundary: None,
        currency: usd(),
        description: "Consulting".into(),
        purchase_order_number: Some("PO-1".into()),
        payment_terms: "net_30".into(),
        invoicing_date: Some(100),
        issue_date: None,
        billing_period: Some((0, 31 * DAY)),
        lines,
        schedule: None,
    }
}

async fn insert(db: &Db, org: &str, new: &NewInvoice, now: i64) -> invoices::Invoice {
    let mut tx = db.begin().await.unwrap();
    let inv = invoices::insert(&mut tx, org, new, now)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    inv
}

async fn issue(db: &Db, org: &str, id: &str, at: i64) -> i64 {
    let mut tx = db.begin().await.unwrap();
    let n = invoices::next_number(&mut tx, org, "invoice")
        .await
        .unwrap();
    assert!(
        invoices::mark_issued(
            &mut tx,
            org,
            id,
            &Issued {
                number: n,
                external_reference: format!("INV-{n:06}"),
                issue_date: at,
                due_date: at + 30 * DAY,
                status: InvoiceStatus::Issued,
                paid_date: None,
                amount_paid: d("0.00"),
            },
            at,
        )
        .await
        .unwrap()
    );
    tx.commit().await.unwrap();
    n
}

async fn invoices_insert_get_lock_and_tenancy(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let inv = insert(
        &f.db,
        &f.org,
        &draft(
            &f.customer,
            vec![line("Setup", "1", "10.03"), line("Hours", "3", "33.333")],
        ),
        50,
    )
    .await;
    assert_eq!(inv.id.len(), 8);
    assert_eq!(inv.status, InvoiceStatus::Draft);
    assert_eq!(inv.lines.len(), 2);
    assert_eq!(inv.lines[0].amount, d("10.03"));
    assert_eq!(inv.lines[0].tax, d("2.01"));
    assert_eq!(inv.lines[1].amount, d("100.00"));
    assert_eq!(inv.lines[1].tax, d("20.00"));
    assert_eq!(inv.subtotal.to_string(), "110.03");
    assert_eq!(inv.tax.to_string(), "22.01");
    assert_eq!(inv.total.to_string(), "132.04");
    assert_eq!(inv.credits_applied.to_string(), "0.00");
    assert_eq!(inv.amount_remaining().unwrap().to_string(), "132.04");
    assert_eq!(
        (inv.billing_period_start, inv.billing_period_end),
        (Some(0), Some(31 * DAY))
    );
    assert_eq!(inv.purchase_order_number.as_deref(), Some("PO-1"));
    assert_eq!(inv.created_at, 50);

    let mut c = f.db.read().await.unwrap();
    assert_eq!(
        invoices::get(&mut c, &f.org, &inv.id)
            .await
            .unwrap()
            .unwrap(),
        inv
    );
    assert!(
        invoices::get(&mut c, &f.other, &inv.id)
            .await
            .unwrap()
            .is_none()
    );
    drop(c);
    let mut tx = f.db.begin().await.unwrap();
    assert_eq!(
        invoices::lock(&mut tx, &f.org, &inv.id)
            .await
            .unwrap()
            .unwrap(),
        inv
    );
    assert!(
        invoices::lock(&mut tx, &f.other, &inv.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        invoices::lock_customer(&mut tx, &f.org, &f.customer)
            .await
            .unwrap()
    );
    assert!(
        !invoices::lock_customer(&mut tx, &f.other, &f.customer)
            .await
            .unwrap()
    );
    assert!(
        invoices::update_details(&mut tx, &f.org, &inv.id, "New memo", None, 60)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = f.db.read().await.unwrap();
    let got = invoices::get(&mut c, &f.org, &inv.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            got.description.as_str(),
            got.purchase_order_number,
            got.updated_at
        ),
        ("New memo", None, 60)
    );
}

fn period_invoice(customer: &str, sub: &str, boundary: i64) -> NewInvoice {
    let mut credit = line("Credit applied", "1", "-5");
    credit.kind = invoices::CREDIT_APPLIED.into();
    credit.tax = d("0.00");
    credit.tax_rate = None;
    let mut fee = line("Pro plan", "1", "99");
    fee.kind = "fixed_advance".into();
    fee.item_key = Some("prod_x".into());
    fee.version_id = Some("subv_1".into());
    fee.proration = Some((15, 31));
    fee.period = Some((boundary, boundary + 31 * DAY));
    NewInvoice {
        subscription_id: Some(sub.into()),
        boundary: Some(boundary),
        ..draft(customer, vec![fee, credit])
    }
}

async fn a_period_is_invoiced_once(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let first = insert(
        &f.db,
        &f.org,
        &period_invoice(&f.customer, "sub_a", 1_000),
        10,
    )
    .await;
    assert_eq!(first.subtotal, d("99.00"));
    assert_eq!(first.credits_applied, d("5.00"));
    assert_eq!(
        first.total,
        d("118.80"),
        "credits are not part of the total"
    );
    assert_eq!(first.amount_remaining().unwrap(), d("113.80"));
    let fee = &first.lines[0];
    assert_eq!(
        (fee.kind.as_str(), fee.proration, fee.item_key.as_deref()),
        ("fixed_advance", Some((15, 31)), Some("prod_x"))
    );
    assert_eq!(fee.period_start, Some(1_000));

    let mut tx = f.db.begin().await.unwrap();
    let again = invoices::insert(
        &mut tx,
        &f.org,
        &period_invoice(&f.customer, "sub_a", 1_000),
        20,
    )
    .await
    .unwrap();
    assert!(
        again.is_none(),
        "the same (subscription, boundary) is not invoiced twice"
    );
    let found = invoices::find_for_period(&mut tx, &f.org, "sub_a", 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert!(
        invoices::find_for_period(&mut tx, &f.org, "sub_a", 2_000)
            .await
            .unwrap()
            .is_none()
    );
    // Another boundary, or another subscription, is another invoice.
    assert!(
        invoices::insert(
            &mut tx,
            &f.org,
            &period_invoice(&f.customer, "sub_a", 2_000),
            20
        )
        .await
        .unwrap()
        .is_some()
    );
    assert!(
        invoices::insert(
            &mut tx,
            &f.org,
            &period_invoice(&f.customer, "sub_b", 1_000),
            20
        )
        .await
        .unwrap()
        .is_some()
    );
    tx.commit().await.unwrap();
    let mut c = f.db.read().await.unwrap();
    let (all, total) = invoices::list(
        &mut c,
        &f.org,
        &ListFilter::default(),
        (SortField::CreatedAt, false),
        50,
        0,
    )
    .await
    .unwrap();
    assert_eq!((all.len(), total), (3, 3));
}

async fn a_period_is_invoiced_once_under_concurrency(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (db, org, customer) = (f.db.clone(), f.org.clone(), f.customer.clone());
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let r = invoices::insert(
                &mut tx,
                &org,
                &period_invoice(&customer, "sub_race", 7_000),
                i,
            )
            .await;
            tx.commit().await.unwrap();
            r.unwrap().is_some()
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += usize::from(t.await.unwrap());
    }
    assert_eq!(
        created, 1,
        "exactly one of the racing inserts stores the period's invoice"
    );
    let mut c = f.db.read().await.unwrap();
    let (all, total) = invoices::list(
        &mut c,
        &f.org,
        &ListFilter {
            subscription_id: Some("sub_race".into()),
            ..Default::default()
        },
        (SortField::CreatedAt, false),
        50,
        0,
    )
    .await
    .unwrap();
    assert_eq!((all.len(), total), (1, 1));
    assert_eq!(
        invoices::get(&mut c, &f.org, &all[0].id)
            .await
            .unwrap()
            .unwrap()
            .lines
            .len(),
        2
    );
}

async fn lines_are_added_changed_and_removed_with_totals(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let inv = insert(
        &f.db,
        &f.org,
        &draft(&f.customer, vec![line("A", "1", "10")]),
        1,
    )
    .await;
    let mut tx = f.db.begin().await.unwrap();
    let added = invoices::add_line(&mut tx, &f.org, &inv.id, &line("B", "2", "2.50"), usd(), 5)
        .await
        .unwrap();
    assert!(
        invoices::update_line_description(&mut tx, &f.org, &inv.id, &added, "B, renamed", 6)
            .await
            .unwrap()
    );
    assert!(
        !invoices::update_line_description(&mut tx, &f.org, &inv.id, "nope1234", "x", 6)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = f.db.read().await.unwrap();
    let got = invoices::get(&mut c, &f.org, &inv.id)
        .await
        .unwrap()
        .unwrap();
    drop(c);
    assert_eq!(
        got.lines
            .iter()
            .map(|l| l.description.as_str())
            .collect::<Vec<_>>(),
        ["A", "B, renamed"]
    );
    assert_eq!(got.lines[1].position, 1);
    assert_eq!(
        (got.subtotal, got.tax, got.total),
        (d("15.00"), d("3.00"), d("18.00"))
    );
    assert_eq!(got.updated_at, 6);

    let mut tx = f.db.begin().await.unwrap();
    assert!(
        invoices::delete_line(&mut tx, &f.org, &inv.id, &inv.lines[0].id, usd(), 7)
            .await
            .unwrap()
    );
    assert!(
        !invoices::delete_line(&mut tx, &f.org, &inv.id, &inv.lines[0].id, usd(), 7)
            .await
            .unwrap()
    );
    assert!(
        !invoices::delete_line(&mut tx, &f.other, &inv.id, &added, usd(), 7)
            .await
            .unwrap()
    );
    let t = invoices::refresh_totals(&mut tx, &f.org, &inv.id, usd(), 8)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        (t.subtotal, t.tax, t.total),
        (d("5.00"), d("1.00"), d("6.00"))
    );
    let mut c = f.db.read().await.unwrap();
    let got = invoices::get(&mut c, &f.org, &inv.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.lines.len(), got.total), (1, d("6.00")));
}

async fn numbers_are_gap_free_and_rollbacks_give_them_back(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut tx = f.db.begin().await.unwrap();
    assert_eq!(
        invoices::next_number(&mut tx, &f.org, "invoice")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        invoices::next_number(&mut tx, &f.org, "invoice")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        invoices::next_number(&mut tx, &f.org, "credit_note")
            .await
            .unwrap(),
        1,
        "kinds count apart"
    );
    assert_eq!(
        invoices::next_number(&mut tx, &f.other, "invoice")
            .await
            .unwrap(),
        1,
        "organizations count apart"
    );
    tx.commit().await.unwrap();
    let mut tx = f.db.begin().await.unwrap();
    assert_eq!(
        invoices::next_number(&mut tx, &f.org, "invoice")
            .await
            .unwrap(),
        3
    );
    tx.rollback().await.unwrap();
    let mut tx = f.db.begin().await.unwrap();
    assert_eq!(
        invoices::next_number(&mut tx, &f.org, "invoice")
            .await
            .unwrap(),
        3,
        "a rolled-back number is given back"
    );
    tx.commit().await.unwrap();
}

async fn numbers_are_gap_free_under_concurrency(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (db, org) = (f.db.clone(), f.org.clone());
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let n = invoices::next_number(&mut tx, &org, "invoice")
                .await
                .unwrap();
            if i % 5 == 4 {
                // Some issuers fail after taking a number: it must be reused, not skipped.
                tx.rollback().await.unwrap();
                None
            } else {
                tx.commit().await.unwrap();
                Some(n)
            }
        }));
    }
    let mut got: Vec<i64> = Vec::new();
    for t in tasks {
        got.extend(t.await.unwrap());
    }
    got.sort();
    assert_eq!(got, (1..=16).collect::<Vec<_>>());
}

async fn issue_pay_void_and_pdf(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let a = insert(
        &f.db,
        &f.org,
        &draft(&f.customer, vec![line("A", "1", "100")]),
        1,
    )
    .await;
    let b = insert(
        &f.db,
        &f.org,
        &draft(&f.customer, vec![line("B", "1", "50")]),
        2,
    )
    .await;
    assert_eq!(issue(&f.db, &f.org, &a.id, 10).await, 1);
    let mut tx = f.db.begin().await.unwrap();
    let again = Issued {
        number: 99,
        external_reference: "INV-000099".into(),
        issue_date: 11,
        due_date: 12,
        status: InvoiceStatus::Issued,
        paid_date: None,
        amount_paid: d("0"),
    };
    assert!(
        !invoices::mark_issued(&mut tx, &f.org, &a.id, &again, 11)
            .await
            .unwrap(),
        "only drafts are issued"
    );
    invoices::store_pdf(&mut tx, &f.org, &a.id, b"%PDF-1.7 test", "abc123", 10)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        invoices::store_pdf(&mut tx, &f.org, &a.id, b"%PDF-other", "def", 11)
            .await
            .is_err(),
        "a PDF is stored once"
    );
    tx.rollback().await.unwrap();

    let mut c = f.db.read().await.unwrap();
    let got = invoices::get(&mut c, &f.org, &a.id).await.unwrap().unwrap();
    assert_eq!(got.status, InvoiceStatus::Issued);
    assert_eq!(
        (got.number, got.external_reference.as_deref()),
        (Some(1), Some("INV-000001"))
    );
    assert_eq!(
        (got.issue_date, got.due_date),
        (Some(10), Some(10 + 30 * DAY))
    );
    assert_eq!(got.status_at(10 + 30 * DAY), InvoiceStatus::Overdue);
    assert_eq!(
        invoices::pdf(&mut c, &f.org, &a.id).await.unwrap(),
        Some((b"%PDF-1.7 test".to_vec(), "abc123".into()))
    );
    assert!(
        invoices::pdf(&mut c, &f.other, &a.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        invoices::pdf(&mut c, &f.org, &b.id)
            .await
            .unwrap()
            .is_none()
    );
    drop(c);

    let mut tx = f.db.begin().await.unwrap();
    assert!(
        invoices::record_paid(
            &mut tx,
            &f.org,
            &a.id,
            d("40.00"),
            InvoiceStatus::Issued,
            None,
            20
        )
        .await
        .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = f.db.read().await.unwrap();
    let got = invoices::get(&mut c, &f.org, &a.id).await.unwrap().unwrap();
    assert_eq!(
        (got.amount_paid, got.amount_remaining().unwrap()),
        (d("40.00"), d("80.00"))
    );
    drop(c);
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        invoices::record_paid(
            &mut tx,
            &f.org,
            &a.id,
            d("120.00"),
            InvoiceStatus::Paid,
            Some(30),
            30
        )
        .await
        .unwrap()
    );
    assert!(
        !invoices::mark_void(&mut tx, &f.org, &a.id, 31, 31)
            .await
            .unwrap(),
        "a paid invoice is not voided"
    );
    assert!(
        !invoices::mark_void(&mut tx, &f.org, &b.id, 31, 31)
            .await
            .unwrap(),
        "a draft is not voided"
    );
    tx.commit().await.unwrap();
    issue(&f.db, &f.org, &b.id, 40).await;
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        invoices::mark_void(&mut tx, &f.org, &b.id, 41, 42)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut c = f.db.read().await.unwrap();
    let a = invoices::get(&mut c, &f.org, &a.id).await.unwrap().unwrap();
    let b = invoices::get(&mut c, &f.org, &b.id).await.unwrap().unwrap();
    assert_eq!(
        (a.status, a.paid_date, a.amount_remaining().unwrap()),
        (InvoiceStatus::Paid, Some(30), d("0.00"))
    );
    assert_eq!(
        (b.status, b.void_date, b.number),
        (InvoiceStatus::Void, Some(41), Some(2))
    );
}

async fn overdue_sweep_changes_each_invoice_once(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..3 {
        let inv = insert(
            &f.db,
            &f.org,
            &draft(&f.customer, vec![line("A", "1", "1")]),
            i,
        )
        .await;
        issue(&f.db, &f.org, &inv.id, i * DAY).await;
        ids.push(inv.id);
    }
    let other = insert(
        &f.db,
        &f.other,
        &draft(&f.customer, vec![line("A", "1", "1")]),
        9,
    )
    .await;
    issue(&f.db, &f.other, &other.id, 0).await;
    let mut c = f.db.read().await.unwrap();
    assert!(!invoices::any_overdue(&mut c, 30 * DAY - 1).await.unwrap());
    assert!(invoices::any_overdue(&mut c, 30 * DAY).await.unwrap());
    drop(c);
    // Due: the first invoice (day 30) and the other organization's; the rest is not due yet.
    let mut tx = f.db.begin().await.unwrap();
    let hits = invoices::mark_overdue(&mut tx, 30 * DAY, 1).await.unwrap();
    assert_eq!(hits.len(), 1, "the limit holds");
    let more = invoices::mark_overdue(&mut tx, 30 * DAY, 10).await.unwrap();
    tx.commit().await.unwrap();
    let mut seen: Vec<(String, String)> = hits
        .iter()
        .chain(&more)
        .map(|(o, i)| (o.clone(), i.id.clone()))
        .collect();
    seen.sort();
    let mut want = vec![
        (f.org.clone(), ids[0].clone()),
        (f.other.clone(), other.id.clone()),
    ];
    want.sort();
    assert_eq!(seen, want);
    assert!(
        hits.iter()
            .chain(&more)
            .all(|(_, i)| i.status == InvoiceStatus::Overdue)
    );
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        invoices::mark_overdue(&mut tx, 30 * DAY, 10)
            .await
            .unwrap()
            .is_empty(),
        "never twice"
    );
    let later = invoices::mark_overdue(&mut tx, 40 * DAY, 10).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(later.len(), 2);
    // A paid invoice is never overdue.
    let paid = insert(
        &f.db,
        &f.org,
        &draft(&f.customer, vec![line("A", "1", "1")]),
        50,
    )
    .await;
    issue(&f.db, &f.org, &paid.id, 0).await;
    let mut tx = f.db.begin().await.unwrap();
    invoices::record_paid(
        &mut tx,
        &f.org,
        &paid.id,
        d("1.20"),
        InvoiceStatus::Paid,
        Some(1),
        1,
    )
    .await
    .unwrap();
    assert!(
        invoices::mark_overdue(&mut tx, 90 * DAY, 10)
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();
}

async fn invoice_lists_filter_and_sort(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let a = insert(
        &f.db,
        &f.org,
        &draft(&f.customer, vec![line("A", "1", "1")]),
        1,
    )
    .await;
    let b = insert(
        &f.db,
        &f.org,
        &draft(&f.customer2, vec![line("B", "1", "1")]),
        2,
    )
    .await;
    let c_ = insert(&f.db, &f.org, &period_invoice(&f.customer, "sub_l", 5), 3).await;
    insert(
        &f.db,
        &f.other,
        &draft(&f.customer, vec![line("X", "1", "1")]),
        4,
    )
    .await;
    issue(&f.db, &f.org, &a.id, 10 * DAY).await;
    issue(&f.db, &f.org, &b.id, 20 * DAY).await;
    let now = 45 * DAY; // a is due on day 40 (overdue by now), b on day 50.
    let list = |filter: ListFilter, sort: (SortField, bool)| {
        let db = f.db.clone();
        let org = f.org.clone();
        async move {
            let mut c = db.read().await.unwrap();
            let (rows, total) = invoices::list(&mut c, &org, &filter, sort, 10, 0)
                .await
                .unwrap();
            assert_eq!(rows.len() as i64, total);
            assert!(
                rows.iter().all(|r| r.lines.is_empty()),
                "lists carry no lines"
            );
            rows.into_iter().map(|r| r.id).collect::<Vec<_>>()
        }
    };
    let base = || ListFilter {
        now,
        ..Default::default()
    };
    let created = (SortField::CreatedAt, false);
    assert_eq!(
        list(base(), created).await,
        [a.id.clone(), b.id.clone(), c_.id.clone()]
    );
    assert_eq!(
        list(base(), (SortField::CreatedAt, true)).await,
        [c_.id.clone(), b.id.clone(), a.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                statuses: vec![InvoiceStatus::Overdue],
                ..base()
            },
            created
        )
        .await,
        vec![a.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                statuses: vec![InvoiceStatus::Issued],
                ..base()
            },
            created
        )
        .await,
        vec![b.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                statuses: vec![InvoiceStatus::Draft, InvoiceStatus::Issued],
                ..base()
            },
            created
        )
        .await,
        [b.id.clone(), c_.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                customer_id: Some(f.customer2.clone()),
                ..base()
            },
            created
        )
        .await,
        vec![b.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                subscription_id: Some("sub_l".into()),
                ..base()
            },
            created
        )
        .await,
        vec![c_.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                external_reference: Some("INV-000002".into()),
                ..base()
            },
            created
        )
        .await,
        vec![b.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                issue_date: (Some(15 * DAY), None),
                ..base()
            },
            created
        )
        .await,
        vec![b.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                due_date: (None, Some(45 * DAY)),
                ..base()
            },
            created
        )
        .await,
        vec![a.id.clone()]
    );
    assert_eq!(
        list(
            ListFilter {
                invoicing_date: (Some(100), Some(100)),
                ..base()
            },
            created
        )
        .await,
        [a.id.clone(), b.id.clone(), c_.id.clone()]
    );
    assert!(
        list(
            ListFilter {
                paid_date: (Some(0), None),
                ..base()
            },
            created
        )
        .await
        .is_empty()
    );
    // Dates sort with the undated last either way; names sort by the customer.
    assert_eq!(
        list(base(), (SortField::IssueDate, true)).await,
        [b.id.clone(), a.id.clone(), c_.id.clone()]
    );
    assert_eq!(
        list(base(), (SortField::DueDate, false)).await,
        [a.id.clone(), b.id.clone(), c_.id.clone()]
    );
    assert_eq!(list(base(), (SortField::AccountName, true)).await[0], b.id);
    assert_eq!(
        list(base(), (SortField::Status, false)).await[0],
        c_.id,
        "draft < issued"
    );
    assert_eq!(
        list(base(), (SortField::InvoicingDate, false)).await.len(),
        3
    );
    assert!(list(base(), (SortField::PaidDate, false)).await.len() == 3);
    let mut c = f.db.read().await.unwrap();
    let (page, total) = invoices::list(&mut c, &f.org, &base(), created, 2, 2)
        .await
        .unwrap();
    assert_eq!((page.len(), total), (1, 3));
}

async fn payments_refunds_and_the_credit_ledger(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let inv = insert(
        &f.db,
        &f.org,
        &draft(&f.customer, vec![line("A", "1", "100")]),
        1,
    )
    .await;
    let inv2 = insert(
        &f.db,
        &f.org,
        &draft(&f.customer2, vec![line("B", "1", "10")]),
        2,
    )
    .await;
    let mut tx = f.db.begin().await.unwrap();
    let pay = |invoice: &str, customer: &str, method: Method, amount: &str| NewPayment {
        customer_id: customer.into(),
        invoice_id: invoice.into(),
        credit_note_id: None,
        method,
        source: Some("bank_transfer".into()),
        note: Some("wire".into()),
        currency: "USD".into(),
        amount: d(amount),
        paid_at: 5,
    };
    let p1 = payments::insert_payment(
        &mut tx,
        &f.org,
        &pay(&inv.id, &f.customer, Method::Manual, "70.00"),
        10,
    )
    .await
    .unwrap();
    let p2 = payments::insert_payment(
        &mut tx,
        &f.org,
        &pay(&inv.id, &f.customer, Method::CreditBalance, "50.00"),
        11,
    )
    .await
    .unwrap();
    let p3 = payments::insert_payment(
        &mut tx,
        &f.org,
        &pay(&inv2.id, &f.customer2, Method::Manual, "12.00"),
        12,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(p1.id.starts_with("pay_") && p1.id.len() == 26);
    assert_eq!(
        (p1.status.as_str(), p1.amount_refunded, p1.refundable()),
        ("completed", d("0"), d("70.00"))
    );
    assert_eq!(p2.refundable(), d("0"), "credit is not refundable");
    assert_eq!(
        (p1.source.as_deref(), p1.note.as_deref(), p1.paid_at),
        (Some("bank_transfer"), Some("wire"), 5)
    );

    let mut c = f.db.read().await.unwrap();
    assert_eq!(
        payments::get_payment(&mut c, &f.org, &p1.id)
            .await
            .unwrap()
            .unwrap(),
        p1
    );
    assert!(
        payments::get_payment(&mut c, &f.other, &p1.id)
            .await
            .unwrap()
            .is_none()
    );
    let of = payments::payments_of_invoice(&mut c, &f.org, &inv.id)
        .await
        .unwrap();
    assert_eq!(
        of.iter().map(|p| p.id.clone()).collect::<Vec<_>>(),
        [p1.id.clone(), p2.id.clone()]
    );
    let (all, total) = payments::list_payments(&mut c, &f.org, None, None, 10, 0)
        .await
        .unwrap();
    assert_eq!(
        (all.iter().map(|p| p.id.clone()).collect::<Vec<_>>(), total),
        (vec![p3.id.clone(), p2.id.clone(), p1.id.clone()], 3)
    );
    let (by_customer, _) = payments::list_payments(&mut c, &f.org, Some(&f.customer2), None, 10, 0)
        .await
        .unwrap();
    assert_eq!(by_customer, vec![p3.clone()]);
    let (by_invoice, n) = payments::list_payments(&mut c, &f.org, None, Some(&inv.id), 1, 1)
        .await
        .unwrap();
    assert_eq!((by_invoice, n), (vec![p1.clone()], 2));
    assert_eq!(
        payments::list_payments(&mut c, &f.other, None, None, 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    drop(c);

    let mut tx = f.db.begin().await.unwrap();
    let locked = payments::lock_payment(&mut tx, &f.org, &p1.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(locked, p1);
    let refund = |payment: &str, customer: &str, amount: &str| NewRefund {
        customer_id: customer.into(),
        payment_id: payment.into(),
        invoice_id: Some(inv.id.clone()),
        credit_note_id: None,
        currency: "USD".into(),
        amount: d(amount),
        reason: Some("duplicate".into()),
        statement_descriptor: Some("ACME REFUND".into()),
    };
    let r1 = payments::insert_refund(&mut tx, &f.org, &refund(&p1.id, &f.customer, "20.00"), 20)
        .await
        .unwrap();
    let r2 = payments::insert_refund(&mut tx, &f.org, &refund(&p1.id, &f.customer, "5.00"), 21)
        .await
        .unwrap();
    let r3 = payments::insert_refund(&mut tx, &f.org, &refund(&p3.id, &f.customer2, "12.00"), 22)
        .await
        .unwrap();
    assert!(
        payments::set_refunded(&mut tx, &f.org, &p1.id, d("25.00"), 21)
            .await
            .unwrap()
    );
    assert!(
        !payments::set_refunded(&mut tx, &f.other, &p1.id, d("1"), 21)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert!(r1.id.starts_with("re_"));
    assert_eq!(
        (
            r1.status.as_str(),
            r1.reason.as_deref(),
            r1.statement_descriptor.as_deref()
        ),
        ("succeeded", Some("duplicate"), Some("ACME REFUND"))
    );
    let mut c = f.db.read().await.unwrap();
    assert_eq!(
        payments::get_payment(&mut c, &f.org, &p1.id)
            .await
            .unwrap()
            .unwrap()
            .refundable(),
        d("45.00")
    );
    assert_eq!(
        payments::get_refund(&mut c, &f.org, &r1.id)
            .await
            .unwrap()
            .unwrap(),
        r1
    );
    assert!(
        payments::get_refund(&mut c, &f.other, &r1.id)
            .await
            .unwrap()
            .is_none()
    );
    let ids = |v: Vec<payments::Refund>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
    let all = payments::list_refunds(&mut c, &f.org, &RefundFilter::default(), None, 10, 0)
        .await
        .unwrap();
    assert_eq!(
        (ids(all.0), all.1),
        (vec![r3.id.clone(), r2.id.clone(), r1.id.clone()], 3)
    );
    let by_amount = payments::list_refunds(
        &mut c,
        &f.org,
        &RefundFilter::default(),
        Some((RefundSort::Amount, false)),
        10,
        0,
    )
    .await
    .unwrap();
    assert_eq!(
        ids(by_amount.0),
        [r2.id.clone(), r3.id.clone(), r1.id.clone()],
        "5 < 12 < 20, numerically"
    );
    let filter = RefundFilter {
        payment_id: Some(p1.id.clone()),
        ..Default::default()
    };
    assert_eq!(
        payments::list_refunds(
            &mut c,
            &f.org,
            &filter,
            Some((RefundSort::CreatedAt, false)),
            10,
            0
        )
        .await
        .unwrap()
        .1,
        2
    );
    let filter = RefundFilter {
        customer_id: Some(f.customer2.clone()),
        currency: Some("USD".into()),
        statuses: vec!["succeeded".into()],
        ..Default::default()
    };
    assert_eq!(
        ids(payments::list_refunds(
            &mut c,
            &f.org,
            &filter,
            Some((RefundSort::Status, true)),
            10,
            0
        )
        .await
        .unwrap()
        .0),
        vec![r3.id.clone()]
    );
    let filter = RefundFilter {
        statuses: vec!["pending".into()],
        ..Default::default()
    };
    assert_eq!(
        payments::list_refunds(
            &mut c,
            &f.org,
            &filter,
            Some((RefundSort::Currency, true)),
            10,
            0
        )
        .await
        .unwrap()
        .1,
        0
    );
    drop(c);

    let mut tx = f.db.begin().await.unwrap();
    payments::add_credit(
        &mut tx,
        &f.org,
        &f.customer,
        "USD",
        d("30.00"),
        CreditRefs::default(),
        "Credit note CN-000001",
        30,
    )
    .await
    .unwrap();
    payments::add_credit(
        &mut tx,
        &f.org,
        &f.customer,
        "USD",
        d("-12.50"),
        CreditRefs {
            invoice_id: Some(&inv.id),
            payment_id: Some(&p2.id),
            ..Default::default()
        },
        "Applied",
        31,
    )
    .await
    .unwrap();
    payments::add_credit(
        &mut tx,
        &f.org,
        &f.customer,
        "EUR",
        d("7"),
        CreditRefs::default(),
        "Other currency",
        32,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut c = f.db.read().await.unwrap();
    assert_eq!(
        payments::credit_balance(&mut c, &f.org, &f.customer, "USD")
            .await
            .unwrap(),
        d("17.50")
    );
    assert_eq!(
        payments::credit_balance(&mut c, &f.org, &f.customer2, "USD")
            .await
            .unwrap(),
        d("0")
    );
    assert_eq!(
        payments::credit_balance(&mut c, &f.other, &f.customer, "USD")
            .await
            .unwrap(),
        d("0")
    );
    assert_eq!(
        payments::credit_balances(&mut c, &f.org, &f.customer)
            .await
            .unwrap(),
        vec![("EUR".to_string(), d("7")), ("USD".to_string(), d("17.50"))]
    );
    let ledger = payments::credit_ledger(&mut c, &f.org, &f.customer)
        .await
        .unwrap();
    assert_eq!(ledger.len(), 3);
    assert_eq!(
        (
            ledger[1].invoice_id.as_deref(),
            ledger[1].payment_id.as_deref()
        ),
        (Some(inv.id.as_str()), Some(p2.id.as_str()))
    );
}

async fn credit_notes_store_apply_and_void(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let inv = insert(
        &f.db,
        &f.org,
        &draft(
            &f.customer,
            vec![line("Seats", "3", "33.33"), line("Setup", "1", "10")],
        ),
        1,
    )
    .await;
    issue(&f.db, &f.org, &inv.id, 5).await;
    let cn_line =
        |l: &invoices::LineItem, q: &str, amount: &str, tax: &str| credit_notes::NewLine {
            invoice_line_item_id: Some(l.id.clone()),
            product_id: None,
            description: l.description.clone(),
            quantity: d(q),
            unit_price: l.unit_price,
            amount: d(amount),
            tax_rate: l.tax_rate,
            tax: d(tax),
            period: Some((0, 10)),
        };
    let new = |lines| NewCreditNote {
        customer_id: f.customer.clone(),
        invoice_id: Some(inv.id.clone()),
        currency: usd(),
        description: "Seat removed".into(),
        billing_period: None,
        lines,
    };
    let mut tx = f.db.begin().await.unwrap();
    let a = credit_notes::insert(
        &mut tx,
        &f.org,
        &new(vec![cn_line(&inv.lines[0], "1", "33.33", "6.67")]),
        10,
    )
    .await
    .unwrap();
    let b = credit_notes::insert(
        &mut tx,
        &f.org,
        &new(vec![
            cn_line(&inv.lines[0], "1", "33.33", "6.67"),
            cn_line(&inv.lines[1], "1", "10.00", "2.00"),
        ]),
        11,
    )
    .await
    .unwrap();
    let free = credit_notes::insert(
        &mut tx,
        &f.org,
        &NewCreditNote {
            invoice_id: None,
            lines: vec![credit_notes::NewLine {
                invoice_line_item_id: None,
                product_id: None,
                description: "Goodwill".into(),
                quantity: d("1"),
                unit_price: d("5"),
                amount: d("5.00"),
                tax_rate: None,
                tax: d("0.00"),
                period: None,
            }],
            ..new(vec![])
        },
        12,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(a.id.starts_with("cn_") && a.lines[0].id.starts_with("cnli_"));
    assert_eq!(
        (a.status, a.subtotal, a.tax, a.total),
        (Status::Draft, d("33.33"), d("6.67"), d("40.00"))
    );
    assert_eq!(b.total, d("52.00"));
    assert_eq!(
        (a.number, a.external_reference.clone(), a.amount_to_invoice),
        (None, None, None)
    );
    assert_eq!(
        (a.lines[0].period_start, a.lines[0].period_end),
        (Some(0), Some(10))
    );

    let mut c = f.db.read().await.unwrap();
    assert_eq!(
        credit_notes::get(&mut c, &f.org, &a.id)
            .await
            .unwrap()
            .unwrap(),
        a
    );
    assert!(
        credit_notes::get(&mut c, &f.other, &a.id)
            .await
            .unwrap()
            .is_none()
    );
    let by_line = credit_notes::credited_by_line(&mut c, &f.org, &inv.id, None)
        .await
        .unwrap();
    assert_eq!(by_line[&inv.lines[0].id], (d("2"), d("66.66"), d("13.34")));
    assert_eq!(by_line[&inv.lines[1].id], (d("1"), d("10.00"), d("2.00")));
    let without_b = credit_notes::credited_by_line(&mut c, &f.org, &inv.id, Some(&b.id))
        .await
        .unwrap();
    assert_eq!(without_b[&inv.lines[0].id].0, d("1"));
    assert!(!without_b.contains_key(&inv.lines[1].id));
    assert_eq!(
        credit_notes::applied_total(&mut c, &f.org, &inv.id)
            .await
            .unwrap(),
        d("0")
    );
    let (page, total) = credit_notes::list(&mut c, &f.org, &f.customer, 2, 0)
        .await
        .unwrap();
    assert_eq!(
        (page.iter().map(|n| n.id.clone()).collect::<Vec<_>>(), total),
        (vec![free.id.clone(), b.id.clone()], 3)
    );
    assert_eq!(page[1].lines.len(), 2, "lists carry the lines");
    assert_eq!(
        credit_notes::list(&mut c, &f.org, &f.customer2, 10, 0)
            .await
            .unwrap()
            .1,
        0
    );
    drop(c);

    let mut tx = f.db.begin().await.unwrap();
    let locked = credit_notes::lock(&mut tx, &f.org, &a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(locked, a);
    let applied = Applied {
        number: 1,
        external_reference: "CN-000001".into(),
        apply_date: 20,
        amount_to_invoice: d("40.00"),
        amount_to_balance: d("0.00"),
        amount_refunded: d("0.00"),
        last_refund: Some(("re_x".into(), 20)),
    };
    assert!(
        credit_notes::mark_applied(&mut tx, &f.org, &a.id, &applied, 20)
            .await
            .unwrap()
    );
    assert!(
        !credit_notes::mark_applied(&mut tx, &f.org, &a.id, &applied, 21)
            .await
            .unwrap(),
        "applied once"
    );
    assert!(
        credit_notes::mark_void(&mut tx, &f.org, &b.id, 22, 22)
            .await
            .unwrap()
    );
    assert!(
        !credit_notes::mark_void(&mut tx, &f.org, &a.id, 22, 22)
            .await
            .unwrap(),
        "an applied note is not voided"
    );
    tx.commit().await.unwrap();
    let mut c = f.db.read().await.unwrap();
    let a = credit_notes::get(&mut c, &f.org, &a.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            a.status,
            a.number,
            a.external_reference.as_deref(),
            a.apply_date
        ),
        (Status::Applied, Some(1), Some("CN-000001"), Some(20))
    );
    assert_eq!(
        (
            a.amount_to_invoice,
            a.last_refund_id.as_deref(),
            a.last_refund_date
        ),
        (Some(d("40.00")), Some("re_x"), Some(20))
    );
    let b = credit_notes::get(&mut c, &f.org, &b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((b.status, b.void_date), (Status::Void, Some(22)));
    assert_eq!(
        credit_notes::applied_total(&mut c, &f.org, &inv.id)
            .await
            .unwrap(),
        d("40.00")
    );
    let by_line = credit_notes::credited_by_line(&mut c, &f.org, &inv.id, None)
        .await
        .unwrap();
    assert_eq!(
        by_line[&inv.lines[0].id].0,
        d("1"),
        "void notes credit nothing"
    );
}

async fn customers_with_invoices_or_credit_notes_are_kept(backend: Backend) {
    let Some(f) = setup(backend).await else {
        return;
    };
    let mut tx = f.db.begin().await.unwrap();
    assert!(
        customers::dependents(&mut tx, &f.org, &f.customer)
            .await
            .unwrap()
            .is_empty()
    );
    tx.commit().await.unwrap();
    insert(&f.db, &f.org, &draft(&f.customer, vec![]), 1).await;
    let mut tx = f.db.begin().await.unwrap();
    credit_notes::insert(
        &mut tx,
        &f.org,
        &NewCreditNote {
            customer_id: f.customer2.clone(),
            invoice_id: None,
            currency: usd(),
            description: String::new(),
            billing_period: None,
            lines: vec![],
        },
        2,
    )
    .await
    .unwrap();
    assert_eq!(
        customers::dependents(&mut tx, &f.org, &f.customer)
            .await
            .unwrap(),
        ["invoices"]
    );
    assert_eq!(
        customers::dependents(&mut tx, &f.org, &f.customer2)
            .await
            .unwrap(),
        ["credit notes"]
    );
    tx.commit().await.unwrap();
    // The foreign keys hold too.
    let mut tx = f.db.begin().await.unwrap();
    let err = invoices::insert(&mut tx, &f.org, &draft("nobody00", vec![]), 3)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Sqlx(_)), "{err:?}");
    tx.rollback().await.unwrap();
}
