//! Every invoice, payment and refund state change sends its webhook exactly once, from the
//! transaction of the change: `lineitem.deleted`, `invoice.issued`, `payment.created`,
//! `invoice.paid`, `refund.updated`, `payment.updated`, and `invoice.overdue` from the sweep in
//! `abacus serve`, which records each overdue invoice once however often it runs.

use std::collections::BTreeMap;
use std::time::Duration;

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, V2};
use crate::invoice_support::{line, taxed_customer};
use crate::webhook_support::{Captured, Receiver, endpoint, fast};

on_both_backends!(each_change_sends_its_webhook_once);

/// A server delivering webhooks fast, whose overdue sweep runs every 50 ms.
pub async fn app(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        fast(10_000)(c);
        c.invoices_overdue_poll_ms = 50;
    })
    .await
}

/// What [`flow`] did: the ids its events are about.
pub struct Flow {
    pub paid_invoice: String,
    pub overdue_invoice: String,
    pub deleted_line: String,
    pub payments: Vec<String>,
    pub refund: String,
}

/// The number of webhooks [`flow`] causes.
pub const EXPECTED: usize = 9;

/// Drives an invoice through its life, and another one past its due date.
pub async fn flow(app: &TestApp) -> Flow {
    let cust = taxed_customer(app, "Gojo").await;
    let draft = app
        .draft_invoice(
            &cust,
            json!([line("Plan", "1", "100"), line("Typo", "1", "1")]),
        )
        .await;
    let id = draft["id"].as_str().unwrap().to_string();
    let typo = draft["line_items"][1]["id"].as_str().unwrap().to_string();
    let r = app
        .send(
            app.req(Method::DELETE, &format!("/invoices/{id}/line-items/{typo}"))
                .header(V2.0, V2.1),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.ok_v2(200, &format!("/invoices/{id}/issue"), json!({}))
        .await;
    app.ok_v2(
        200,
        &format!("/invoices/{id}/mark-as-paid"),
        json!({"amount_paid": "20.00"}),
    )
    .await;
    app.ok_v2(200, &format!("/invoices/{id}/mark-as-paid"), json!({}))
        .await;
    let payments: Vec<String> =
        app.get_v2(&format!("/payments?invoice_id={id}")).await.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect();
    let refund = app
        .ok_v2(
            201,
            "/refunds",
            json!({"payment_id": payments[0], "amount": "5.00"}),
        )
        .await;
    let forty_days_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(40 * 24);
    let late = app
        .invoice(json!({"customer_id": cust, "status": "issued", "issue_date": forty_days_ago.to_string(),
                        "line_items": [line("Plan", "1", "50")]}))
        .await;
    Flow {
        paid_invoice: id,
        overdue_invoice: late["id"].as_str().unwrap().to_string(),
        deleted_line: typo,
        payments,
        refund: refund["id"].as_str().unwrap().to_string(),
    }
}

/// Runs [`flow`] against a receiver and returns every delivery, after giving the sweep many more
/// rounds to (wrongly) send something twice.
pub async fn captured_flow(app: &TestApp) -> (Flow, Vec<Captured>) {
    let rx = Receiver::ok().await;
    endpoint(app, &rx.url, None).await;
    let f = flow(app).await;
    rx.wait_for(EXPECTED, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    (f, rx.captured())
}

async fn each_change_sends_its_webhook_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (f, got) = captured_flow(&app).await;
    let bodies: Vec<Value> = got.iter().map(|c| c.json()).collect();
    let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
    for b in &bodies {
        let key = (
            b["type"].as_str().unwrap().to_string(),
            b["data"]["id"].as_str().unwrap().to_string(),
        );
        *seen.entry(key).or_default() += 1;
    }
    let want: BTreeMap<(String, String), usize> = [
        ("lineitem.deleted", f.deleted_line.as_str()),
        ("invoice.issued", f.paid_invoice.as_str()),
        ("payment.created", f.payments[0].as_str()),
        ("payment.created", f.payments[1].as_str()),
        ("invoice.paid", f.paid_invoice.as_str()),
        ("refund.updated", f.refund.as_str()),
        ("payment.updated", f.payments[0].as_str()),
        ("invoice.issued", f.overdue_invoice.as_str()),
        ("invoice.overdue", f.overdue_invoice.as_str()),
    ]
    .into_iter()
    .map(|(t, id)| ((t.to_string(), id.to_string()), 1))
    .collect();
    assert_eq!(seen, want, "each event exactly once: {bodies:#?}");
    assert_eq!(got.len(), EXPECTED);

    let find = |t: &str, id: &str| {
        bodies
            .iter()
            .find(|b| b["type"] == t && b["data"]["id"] == id)
            .unwrap()
            .clone()
    };
    let issued = find("invoice.issued", &f.paid_invoice);
    assert_eq!(issued["data"]["status"], "issued");
    assert_eq!(issued["data"]["total"], "120.00");
    assert_eq!(issued["data"]["currency"], "USD");
    assert!(issued["data"]["accountId"].is_string());
    let paid = find("invoice.paid", &f.paid_invoice);
    assert_eq!(paid["data"]["status"], "paid");
    let overdue = find("invoice.overdue", &f.overdue_invoice);
    assert_eq!(overdue["data"]["status"], "overdue");
    let line = find("lineitem.deleted", &f.deleted_line);
    assert_eq!(
        line["data"],
        json!({"id": f.deleted_line, "invoiceId": f.paid_invoice, "status": "deleted"})
    );
    let p0 = find("payment.created", &f.payments[0]);
    assert_eq!(
        (
            &p0["data"]["amount"],
            &p0["data"]["status"],
            &p0["data"]["invoiceId"]
        ),
        (&json!("20.00"), &json!("completed"), &json!(f.paid_invoice))
    );
    assert_eq!(
        p0["data"]["allocations"],
        json!([{"invoiceId": f.paid_invoice, "amount": "20.00"}])
    );
    let refund = find("refund.updated", &f.refund);
    assert_eq!(
        (
            &refund["data"]["amount"],
            &refund["data"]["status"],
            &refund["data"]["processorName"]
        ),
        (
            &json!("5.00"),
            &json!("succeeded"),
            &json!("offline_payment")
        )
    );
    let updated = find("payment.updated", &f.payments[0]);
    assert_eq!(updated["data"]["amount"], "20.00");

    // The overdue invoice reads as such, and the sweep recorded it.
    let r = app
        .get_v2(&format!("/invoices/{}", f.overdue_invoice))
        .await;
    assert_eq!(r.body["status"], "overdue");
}
