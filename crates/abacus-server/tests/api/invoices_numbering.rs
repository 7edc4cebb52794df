//! Gap-free invoice numbers under concurrent issuing, and the period invoices the scheduler will
//! store: one per (subscription, boundary), whoever asks and however often.

use abacus_core::billing::{self, Biller, InvoiceContext, InvoiceLineKind, fixtures};
use abacus_core::time::now_micros;
use abacus_server::services::invoices::{
    self as invoices, PeriodInvoice, PeriodOutcome, create_for_period,
};
use abacus_store::invoices::DraftSchedule;
use abacus_store::{Backend, on_both_backends};
use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::harness::{TestApp, V2};
use crate::invoice_support::{line, pdf_text, taxed_customer};

on_both_backends!(
    twenty_concurrent_issues_take_numbers_1_to_20,
    a_period_is_invoiced_once_through_the_service,
    racing_period_invoices_store_one,
);

async fn twenty_concurrent_issues_take_numbers_1_to_20(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let mut drafts = Vec::new();
    for i in 0..14 {
        let inv = app
            .draft_invoice(&cust, json!([line("Plan", "1", &format!("{}", i + 1))]))
            .await;
        drafts.push(inv["id"].as_str().unwrap().to_string());
    }
    // 14 drafts issued and 6 invoices created issued, all at once; 5 more requests that fail
    // (issuing an issued invoice) race with them.
    let issues = drafts.iter().map(|id| {
        app.send(
            app.req(Method::POST, &format!("/invoices/{id}/issue"))
                .header(V2.0, V2.1),
        )
    });
    let creates = (0..6).map(|i| {
        app.send(
            app.req(Method::POST, "/invoices").header(V2.0, V2.1).json(&json!({
                "customer_id": cust, "status": "issued", "line_items": [line("Setup", "1", &format!("{}", i + 100))]
            })),
        )
    });
    let reissues = drafts[..5].iter().map(|id| {
        app.send(
            app.req(Method::POST, &format!("/invoices/{id}/issue"))
                .header(V2.0, V2.1),
        )
    });
    let (a, b, c) = tokio::join!(join_all(issues), join_all(creates), join_all(reissues));
    let all: Vec<_> = a.iter().chain(&b).chain(&c).collect();
    let ok: Vec<_> = all
        .iter()
        .filter(|r| r.status == 200 || r.status == 201)
        .collect();
    // Each draft was issued once: of its two racing issues, one won and the other is 409.
    assert_eq!(ok.len(), 20);
    for r in all.iter().filter(|r| r.status != 200 && r.status != 201) {
        r.problem(409);
    }
    let mut numbers: Vec<String> = ok
        .iter()
        .map(|r| r.body["external_reference"].as_str().unwrap().to_string())
        .collect();
    numbers.sort();
    let want: Vec<String> = (1..=20).map(|n| format!("INV-{n:06}")).collect();
    assert_eq!(numbers, want, "no gap, no repeat");
    let listed = app.get_v2("/invoices?limit=100&status=issued").await;
    let mut listed: Vec<String> = listed.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["external_reference"].as_str().unwrap().to_string())
        .collect();
    listed.sort();
    assert_eq!(listed, want);
    // Each one's frozen PDF carries its own number.
    for id in &drafts[..3] {
        let inv = app.get_v2(&format!("/invoices/{id}")).await;
        let (pdf, _) = app.pdf(id).await;
        let text = pdf_text(&pdf);
        assert!(
            text.contains(inv.body["external_reference"].as_str().unwrap()),
            "{text}"
        );
    }
}

/// The billing function's invoice of the `credits_in_expiry_order` scenario: $100 + 20 % tax,
/// paid 120.00 by four credit grants.
fn billed() -> (billing::Invoice, fixtures::Scenario) {
    let all = fixtures::all();
    let s = all
        .into_iter()
        .find(|s| s.name == "credits_in_expiry_order")
        .expect("the scenario exists");
    let boundary = s.invoices[0].boundary;
    let biller = Biller::new(&s.subscription).unwrap();
    let requests = biller.usage_requests(boundary).unwrap();
    let usage = fixtures::usage(&s.events, &requests);
    let cx = InvoiceContext {
        tax_rate: s.tax_rate,
        credits: s.credits.clone(),
        credits_as_of: None,
    };
    (biller.bill(boundary, &usage, &cx).unwrap(), s)
}

async fn org_of(app: &TestApp) -> String {
    let mut c = app.state.db.read().await.unwrap();
    abacus_store::orgs::list(&mut c).await.unwrap()[0]
        .id
        .clone()
}

async fn a_period_is_invoiced_once_through_the_service(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let org = org_of(&app).await;
    let cust = taxed_customer(&app, "Gojo").await;
    let (invoice, _) = billed();
    assert!(
        invoice
            .lines
            .iter()
            .any(|l| l.kind == InvoiceLineKind::CreditApplied)
    );
    let period = |finalize_at| PeriodInvoice {
        customer_id: &cust,
        subscription_id: "sub_test1",
        invoice: &invoice,
        description: "Pro plan".into(),
        payment_terms: "net_15".into(),
        schedule: DraftSchedule {
            finalize_at,
            refreshed_at: 5_000_000,
        },
    };
    let mut tx = app.state.db.begin().await.unwrap();
    let first = create_for_period(&mut tx, &org, period(None), now_micros())
        .await
        .unwrap();
    let PeriodOutcome::Created(first) = first else {
        panic!("the first call stores the invoice: {first:?}");
    };
    let stored = invoices::get(&mut tx, &org, &first).await.unwrap();
    invoices::issue_locked(&mut tx, &org, stored, now_micros())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = app.state.db.begin().await.unwrap();
    let again = create_for_period(&mut tx, &org, period(None), now_micros())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        again,
        PeriodOutcome::AlreadyInvoiced,
        "the same period is not invoiced twice"
    );

    // What the API shows: the billing function's lines, kinds and credits, issued at once.
    let r = app.get_v2(&format!("/invoices/{first}")).await;
    let inv = &r.body;
    assert_eq!(inv["subscription_id"], "sub_test1");
    assert_eq!(inv["status"], "paid", "credits cover it all: {}", r.text);
    assert_eq!(inv["external_reference"], "INV-000001");
    assert_eq!(inv["payment_terms"], "net_15");
    assert_eq!(
        (&inv["subtotal"], &inv["tax"], &inv["total"]),
        (&json!("100.00"), &json!("20.00"), &json!("120.00"))
    );
    assert_eq!(
        (
            &inv["credits_applied"],
            &inv["amount_paid"],
            &inv["amount_remaining"]
        ),
        (&json!("120.00"), &json!("120.00"), &json!("0.00"))
    );
    let kinds: Vec<&str> = inv["line_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "fixed_advance",
            "credit_applied",
            "credit_applied",
            "credit_applied",
            "credit_applied"
        ]
    );
    assert_eq!(
        inv["invoicing_date"],
        abacus_core::time::format_micros(invoice.boundary)
    );
    assert!(inv["billing_period_start"].is_string());
    let list = app.get_v2("/invoices?subscription_id=sub_test1").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);

    // Without auto-issue the period's invoice is a draft; another subscription, another key.
    let mut tx = app.state.db.begin().await.unwrap();
    let other = create_for_period(
        &mut tx,
        &org,
        PeriodInvoice {
            subscription_id: "sub_test2",
            ..period(Some(7_000_000))
        },
        now_micros(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let PeriodOutcome::Created(other) = other else {
        panic!("another subscription's period is its own: {other:?}");
    };
    let mut c = app.state.db.read().await.unwrap();
    let stored = abacus_store::invoices::get(&mut c, &org, &other)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, abacus_core::invoicing::InvoiceStatus::Draft);
    assert_eq!(stored.number, None);
    assert_eq!(stored.lines.len(), invoice.lines.len());
    // The draft starts its grace period as it is stored: the scheduler finds it due at its end.
    use abacus_store::billing_runs::any_drafts_due;
    assert!(!any_drafts_due(&mut c, 6_999_999, 0).await.unwrap());
    assert!(any_drafts_due(&mut c, 7_000_000, 0).await.unwrap());
}

async fn racing_period_invoices_store_one(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let org = org_of(&app).await;
    let cust = taxed_customer(&app, "Gojo").await;
    let (invoice, _) = billed();
    let tasks = (0..6).map(|_| {
        let (db, org, cust, invoice) = (
            app.state.db.clone(),
            org.clone(),
            cust.clone(),
            invoice.clone(),
        );
        tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            let out = create_for_period(
                &mut tx,
                &org,
                PeriodInvoice {
                    customer_id: &cust,
                    subscription_id: "sub_race",
                    invoice: &invoice,
                    description: String::new(),
                    payment_terms: "net_30".into(),
                    schedule: DraftSchedule {
                        finalize_at: None,
                        refreshed_at: 1,
                    },
                },
                now_micros(),
            )
            .await
            .unwrap();
            if let PeriodOutcome::Created(id) = &out {
                let stored = invoices::get(&mut tx, &org, id).await.unwrap();
                invoices::issue_locked(&mut tx, &org, stored, now_micros())
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
            out
        })
    });
    let outcomes: Vec<PeriodOutcome> = join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, PeriodOutcome::Created(_)))
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
    let list = app.get_v2("/invoices?subscription_id=sub_race").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["data"][0]["external_reference"], "INV-000001");
}
