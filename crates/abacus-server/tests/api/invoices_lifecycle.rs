//! Invoice and credit-note lifecycles through the API: every allowed transition, and each
//! forbidden one a 409 with a message; partial payments; credit notes reducing what is owed,
//! becoming customer credit, or refunded (never more than was paid); the PDF frozen at issue; the
//! v1 surface.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, is_short_id};
use crate::invoice_support::{line, pdf_text, taxed_customer};

on_both_backends!(
    drafts_change_until_issued_then_never,
    partial_payments_then_paid_and_what_paid_forbids,
    void_and_what_it_forbids,
    overdue_is_read_from_the_due_date,
    credit_notes_reduce_what_is_owed_and_apply_once,
    credit_notes_on_paid_invoices_refund_or_become_credit,
    customer_credit_pays_the_next_invoice,
    direct_refunds_are_capped,
    the_pdf_is_frozen_at_issue,
    v1_lists_gets_and_marks_as_paid,
    lists_filter_and_customers_with_invoices_stay,
    writes_replay_with_their_idempotency_key,
);

#[track_caller]
fn conflict(r: &crate::harness::Resp, says: &str) {
    r.problem(409);
    let detail = r.body["detail"].as_str().unwrap();
    assert!(detail.contains(says), "{says:?} in {detail:?}");
}

async fn drafts_change_until_issued_then_never(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let inv = app
        .invoice(json!({
            "customer_id": cust, "description": "March work", "purchase_order_number": "PO-7",
            "billing_period_start": "2024-03-01T00:00:00Z", "billing_period_end": "2024-04-01T00:00:00Z",
            "line_items": [line("Consulting", "3", "33.333"), line("Setup", "1", "10.03")],
        }))
        .await;
    let id = inv["id"].as_str().unwrap();
    assert!(is_short_id(&inv["id"]));
    assert_eq!(inv["status"], "draft");
    assert_eq!(inv["external_reference"], Value::Null);
    assert_eq!(inv["billing_period"], "Mar 1, 2024 - Mar 31, 2024");
    assert_eq!(inv["line_items"][0]["total_price"], "100.00");
    assert_eq!(inv["line_items"][0]["tax_amount"], "20.00");
    assert_eq!(inv["line_items"][0]["tax_rate"], "0.20");
    assert_eq!(inv["line_items"][1]["tax_amount"], "2.01");
    assert_eq!(inv["line_items"][1]["amount_including_tax"], "12.04");
    assert_eq!(inv["line_items"][0]["is_editable"], true);
    assert!(is_short_id(&inv["line_items"][0]["id"]));
    assert_eq!(
        (&inv["subtotal"], &inv["tax"], &inv["total"]),
        (&json!("110.03"), &json!("22.01"), &json!("132.04"))
    );
    assert_eq!(
        (&inv["amount_paid"], &inv["amount_remaining"]),
        (&json!("0.00"), &json!("132.04"))
    );

    // A draft changes: details, lines added, renamed, removed.
    let r = app
        .patch_v2(
            &format!("/invoices/{id}"),
            &json!({"description": "March consulting", "purchase_order_number": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["description"], "March consulting");
    assert_eq!(r.body["purchase_order_number"], Value::Null);
    let r = app
        .post_v2(
            &format!("/invoices/{id}/line-items"),
            &line("Travel", "1", "250"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["line_items"].as_array().unwrap().len(), 3);
    assert_eq!(r.body["total"], "432.04");
    let travel = r.body["line_items"][2]["id"].as_str().unwrap().to_string();
    let r = app
        .patch_v2(
            &format!("/invoices/{id}/line-items/{travel}"),
            &json!({"description": "Travel (Berlin)"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["description"], "Travel (Berlin)");
    assert_eq!(r.body["id"], travel.as_str());
    let setup = inv["line_items"][1]["id"].as_str().unwrap();
    let r = app
        .send(app.req(
            Method::DELETE,
            &format!("/invoices/{id}/line-items/{setup}"),
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app.get_v2(&format!("/invoices/{id}")).await;
    assert_eq!(r.body["total"], "420.00");
    assert_eq!(r.body["line_items"].as_array().unwrap().len(), 2);

    // Issue.
    let issued = app
        .ok_v2(200, &format!("/invoices/{id}/issue"), json!({}))
        .await;
    assert_eq!(issued["status"], "issued");
    assert_eq!(issued["external_reference"], "INV-000001");
    assert_eq!(issued["line_items"][0]["is_editable"], false);
    let issue = issued["issue_date"].as_str().unwrap();
    let due = issued["due_date"].as_str().unwrap();
    let secs = (due.parse::<jiff::Timestamp>().unwrap()
        - issue.parse::<jiff::Timestamp>().unwrap())
    .as_secs();
    assert_eq!(secs, 30 * 86_400, "net_30 by default");
    assert_eq!(issued["payment_terms"], "net_30");

    // An issued invoice never changes.
    let r = app
        .patch_v2(&format!("/invoices/{id}"), &json!({"description": "x"}))
        .await;
    conflict(&r, "never changes");
    let r = app
        .post_v2(
            &format!("/invoices/{id}/line-items"),
            &line("More", "1", "1"),
        )
        .await;
    conflict(&r, "never changes");
    let r = app
        .patch_v2(
            &format!("/invoices/{id}/line-items/{travel}"),
            &json!({"description": "x"}),
        )
        .await;
    conflict(&r, "never changes");
    let r = app
        .send(app.req(
            Method::DELETE,
            &format!("/invoices/{id}/line-items/{travel}"),
        ))
        .await;
    conflict(&r, "never changes");
    let r = app
        .post_v2(&format!("/invoices/{id}/issue"), &json!({}))
        .await;
    conflict(&r, "only a draft can be issued");
    let r = app.get_v2(&format!("/invoices/{id}")).await;
    assert_eq!(r.body["total"], "420.00");
    assert_eq!(r.body["description"], "March consulting");
}

async fn partial_payments_then_paid_and_what_paid_forbids(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let draft = app
        .draft_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let d = draft["id"].as_str().unwrap();
    let r = app
        .post_v2(&format!("/invoices/{d}/mark-as-paid"), &json!({}))
        .await;
    conflict(&r, "is a draft; issue it");

    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let id = inv["id"].as_str().unwrap();
    assert_eq!(inv["total"], "120.00");
    let r = app
        .post_v2(
            &format!("/invoices/{id}/mark-as-paid"),
            &json!({"amount_paid": "50.00", "external_payment_source": "bank_transfer",
                    "external_payment_note": "first half", "paid_date": "2024-01-05T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["status"], "issued",
        "a partial payment keeps the status"
    );
    assert_eq!(r.body["amount_paid"], "50.00");
    assert_eq!(r.body["amount_remaining"], "70.00");
    assert_eq!(r.body["paid_date"], Value::Null);
    let payments = app.get_v2(&format!("/payments?invoice_id={id}")).await;
    assert_eq!(payments.body["data"].as_array().unwrap().len(), 1);
    let p = &payments.body["data"][0];
    assert!(p["id"].as_str().unwrap().starts_with("pay_"));
    assert_eq!(
        (&p["amount"], &p["status"], &p["method"], &p["source"]),
        (
            &json!("50.00"),
            &json!("completed"),
            &json!("manual"),
            &json!("bank_transfer")
        )
    );
    assert_eq!(p["paid_at"], "2024-01-05T00:00:00.000000Z");
    assert_eq!(p["allocations"][0]["invoice_id"], id);
    assert_eq!(p["customer_id"], cust.as_str());

    // The rest, by default.
    let r = app
        .post_v2(&format!("/invoices/{id}/mark-as-paid"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "paid");
    assert_eq!(r.body["amount_paid"], "120.00");
    assert_eq!(r.body["amount_remaining"], "0.00");
    assert!(r.body["paid_date"].is_string());
    let payments = app.get_v2(&format!("/payments?invoice_id={id}")).await;
    assert_eq!(payments.body["data"][0]["amount"], "70.00", "newest first");
    assert_eq!(payments.body["data"][0]["source"], "other");

    let r = app
        .post_v2(&format!("/invoices/{id}/mark-as-paid"), &json!({}))
        .await;
    conflict(&r, "already paid");
    let r = app
        .post_v2(&format!("/invoices/{id}/void"), &json!({}))
        .await;
    conflict(&r, "a paid invoice cannot be voided");
    let r = app
        .patch_v2(&format!("/invoices/{id}"), &json!({"description": "x"}))
        .await;
    conflict(&r, "never changes");
}

async fn void_and_what_it_forbids(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let draft = app
        .draft_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let r = app
        .post_v2(
            &format!("/invoices/{}/void", draft["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    conflict(&r, "only issued or overdue invoices can be voided");

    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let id = inv["id"].as_str().unwrap();
    let r = app
        .post_v2(&format!("/invoices/{id}/void"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "void");
    assert!(r.body["void_date"].is_string());
    assert_eq!(
        r.body["external_reference"], "INV-000001",
        "the number stays used"
    );
    let r = app
        .post_v2(&format!("/invoices/{id}/void"), &json!({}))
        .await;
    conflict(&r, "already void");
    let r = app
        .post_v2(&format!("/invoices/{id}/mark-as-paid"), &json!({}))
        .await;
    conflict(&r, "void invoice cannot be paid");
    let r = app
        .post_v2(&format!("/invoices/{id}/credit-notes"), &json!({}))
        .await;
    conflict(&r, "nothing to credit");

    // Partly paid: credit it instead.
    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let id = inv["id"].as_str().unwrap();
    assert_eq!(inv["external_reference"], "INV-000002");
    app.ok_v2(
        200,
        &format!("/invoices/{id}/mark-as-paid"),
        json!({"amount_paid": "1.00"}),
    )
    .await;
    let r = app
        .post_v2(&format!("/invoices/{id}/void"), &json!({}))
        .await;
    conflict(&r, "partly paid");
}

async fn overdue_is_read_from_the_due_date(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let forty_days_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(40 * 24);
    let inv = app
        .invoice(json!({"customer_id": cust, "status": "issued", "issue_date": forty_days_ago.to_string(),
                        "line_items": [line("Plan", "1", "100")]}))
        .await;
    let id = inv["id"].as_str().unwrap();
    assert_eq!(inv["status"], "overdue", "net_30 from 40 days ago");
    let due_soon = app
        .invoice(json!({"customer_id": cust, "status": "issued", "payment_terms": "net_60",
                        "issue_date": forty_days_ago.to_string(), "line_items": [line("Plan", "1", "1")]}))
        .await;
    assert_eq!(due_soon["status"], "issued");
    let r = app.get_v2("/invoices?status=overdue").await;
    assert_eq!(r.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["data"][0]["id"], id);
    let r = app.get_v2("/invoices?status=issued").await;
    assert_eq!(r.body["data"][0]["id"], due_soon["id"]);
    // Overdue invoices are paid, or voided, like issued ones.
    let r = app
        .post_v2(&format!("/invoices/{id}/mark-as-paid"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "paid");
    let r = app
        .post_v2(
            &format!("/invoices/{}/void", due_soon["id"].as_str().unwrap()),
            &json!({"void_date": jiff::Timestamp::now().to_string()}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn credit_notes_reduce_what_is_owed_and_apply_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let draft = app
        .draft_invoice(&cust, json!([line("Seats", "3", "33.33")]))
        .await;
    let r = app
        .post_v2(
            &format!("/invoices/{}/credit-notes", draft["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    conflict(&r, "is a draft");

    let inv = app
        .issued_invoice(
            &cust,
            json!([line("Seats", "3", "33.33"), line("Setup", "1", "10")]),
        )
        .await;
    let id = inv["id"].as_str().unwrap();
    let seats = inv["line_items"][0]["id"].as_str().unwrap();
    assert_eq!(inv["total"], "131.99");

    // One seat, at the issued price and tax.
    let cn = app
        .ok_v2(
            201,
            &format!("/invoices/{id}/credit-notes"),
            json!({"line_items": [{"invoice_line_item_id": seats, "quantity": "1"}]}),
        )
        .await;
    let cn_id = cn["id"].as_str().unwrap();
    assert!(cn_id.starts_with("cn_"));
    assert_eq!(cn["status"], "draft");
    assert_eq!(cn["external_reference"], "");
    assert_eq!(
        (&cn["subtotal"], &cn["tax"], &cn["total"]),
        (&json!("33.33"), &json!("6.67"), &json!("40.00"))
    );
    let l = &cn["line_items"][0];
    assert!(l["id"].as_str().unwrap().starts_with("cnli_"));
    assert_eq!(
        (&l["invoice_line_item_id"], &l["unit_price"], &l["tax_rate"]),
        (&json!(seats), &json!("33.33"), &json!("0.20"))
    );
    assert_eq!(cn["invoice_id"], id);
    assert_eq!(cn["customer_id"], cust.as_str());

    let applied = app
        .ok_v2(
            200,
            &format!("/credit-notes/{cn_id}/apply"),
            json!({"do_refund": false}),
        )
        .await;
    assert_eq!(applied["status"], "applied");
    assert_eq!(applied["external_reference"], "CN-000001");
    assert_eq!(applied["amount_to_invoice"], "40.00");
    assert!(applied["apply_date"].is_string());
    let r = app
        .post_v2(
            &format!("/credit-notes/{cn_id}/apply"),
            &json!({"do_refund": false}),
        )
        .await;
    conflict(&r, "applied already");
    let r = app
        .post_v2(&format!("/credit-notes/{cn_id}/void"), &json!({}))
        .await;
    conflict(&r, "cannot be voided");

    let r = app.get_v2(&format!("/invoices/{id}")).await;
    assert_eq!(r.body["status"], "issued");
    assert_eq!(
        r.body["total"], "131.99",
        "the issued invoice never changes"
    );
    assert_eq!(r.body["amount_paid"], "40.00");
    assert_eq!(r.body["amount_remaining"], "91.99");
    let p = app.get_v2(&format!("/payments?invoice_id={id}")).await;
    assert_eq!(p.body["data"][0]["method"], "credit_note");
    assert_eq!(p.body["data"][0]["credit_note_id"], cn_id);
    let r = app
        .post_v2(
            &format!("/invoices/{id}/credit-notes"),
            &json!({"apply": true, "refund": {"destination": "original_payment"}}),
        )
        .await;
    conflict(&r, "not paid");

    // The rest of the invoice: the two seats left and the setup fee.
    let rest = app
        .ok_v2(
            201,
            &format!("/invoices/{id}/credit-notes"),
            json!({"apply": true}),
        )
        .await;
    assert_eq!(rest["status"], "applied");
    assert_eq!(rest["total"], "91.99");
    assert_eq!(rest["line_items"][0]["quantity"], "2");
    assert_eq!(rest["line_items"][0]["total_price"], "66.66");
    assert_eq!(
        rest["line_items"][0]["tax_amount"], "13.33",
        "the last seats take the tax left"
    );
    assert_eq!(rest["external_reference"], "CN-000002");
    let r = app.get_v2(&format!("/invoices/{id}")).await;
    assert_eq!(r.body["status"], "paid");
    assert_eq!(r.body["amount_remaining"], "0.00");
    let r = app
        .post_v2(&format!("/invoices/{id}/credit-notes"), &json!({}))
        .await;
    conflict(&r, "credited in full");

    // A draft credit note can be voided; a void one cannot be applied.
    let other = app
        .issued_invoice(&cust, json!([line("Plan", "1", "10")]))
        .await;
    let cn = app
        .ok_v2(
            201,
            &format!("/invoices/{}/credit-notes", other["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    let cn_id = cn["id"].as_str().unwrap();
    let v = app
        .ok_v2(200, &format!("/credit-notes/{cn_id}/void"), json!({}))
        .await;
    assert_eq!(v["status"], "void");
    assert!(v["void_date"].is_string());
    let r = app
        .post_v2(&format!("/credit-notes/{cn_id}/apply"), &json!({}))
        .await;
    conflict(&r, "is void");
    let r = app
        .post_v2(&format!("/credit-notes/{cn_id}/void"), &json!({}))
        .await;
    conflict(&r, "void already");
    let list = app
        .get_v2(&format!("/credit-notes?customer_id={cust}"))
        .await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 3);
    assert_eq!(list.body["pagination"]["total_pages"], 1);
}

async fn credit_notes_on_paid_invoices_refund_or_become_credit(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let id = inv["id"].as_str().unwrap();
    app.ok_v2(
        200,
        &format!("/invoices/{id}/mark-as-paid"),
        json!({"amount_paid": "20.00"}),
    )
    .await;
    app.ok_v2(200, &format!("/invoices/{id}/mark-as-paid"), json!({}))
        .await;
    let plan = inv["line_items"][0]["id"].as_str().unwrap();

    // Refund half the plan: 50.00 + 10.00 tax, from the two payments, oldest first.
    let cn = app
        .ok_v2(
            201,
            "/credit-notes",
            json!({"invoice_id": id, "description": "Half the month",
                   "line_items": [{"invoice_line_item_id": plan, "quantity": "0.5"}],
                   "apply": true, "refund": {"destination": "original_payment"}}),
        )
        .await;
    assert_eq!(cn["status"], "applied");
    assert_eq!(cn["total"], "60.00");
    assert_eq!(cn["amount_refunded"], "60.00");
    assert!(cn["last_refund_id"].as_str().unwrap().starts_with("re_"));
    let refunds = app
        .get_v2(&format!("/refunds?customer_id={cust}&sort=amount:asc"))
        .await;
    let data = refunds.body["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(
        (&data[0]["amount"], &data[1]["amount"]),
        (&json!("20.00"), &json!("40.00"))
    );
    assert!(
        data.iter()
            .all(|r| r["status"] == "succeeded" && r["credit_note_id"] == cn["id"])
    );
    let payments = app.get_v2(&format!("/payments?invoice_id={id}")).await;
    let refunded: Vec<&Value> = payments.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["amount_refunded"])
        .collect();
    assert_eq!(refunded, [&json!("40.00"), &json!("20.00")]);

    // 60.00 is left to credit and to refund; more is refused.
    let r = app
        .post_v2(
            &format!("/invoices/{id}/credit-notes"),
            &json!({"line_items": [{"invoice_line_item_id": plan, "quantity": "0.6"}]}),
        )
        .await;
    assert_eq!(r.status, 422, "{}", r.text);
    assert_eq!(r.error_fields(), ["line_items[0].quantity"]);
    // Without a refund, a paid invoice's credit becomes customer credit.
    let cn = app
        .ok_v2(
            201,
            &format!("/invoices/{id}/credit-notes"),
            json!({"line_items": [{"invoice_line_item_id": plan, "quantity": "0.25"}]}),
        )
        .await;
    let applied = app
        .ok_v2(
            200,
            &format!("/credit-notes/{}/apply", cn["id"].as_str().unwrap()),
            json!({"do_refund": false}),
        )
        .await;
    assert_eq!(applied["amount_to_balance"], "30.00");
    let balance = app
        .get_v2(&format!("/customers/{cust}/credit-balance"))
        .await;
    assert_eq!(
        balance.body["balances"],
        json!([{"currency": "USD", "balance": "30.00"}])
    );
    // The last quarter, refunded: exactly what is left on the payments.
    let cn = app
        .ok_v2(201, &format!("/invoices/{id}/credit-notes"), json!({}))
        .await;
    assert_eq!(cn["total"], "30.00");
    let r = app
        .post_v2(
            &format!("/credit-notes/{}/apply", cn["id"].as_str().unwrap()),
            &json!({"do_refund": true, "refund_destination": "original_payment"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["amount_refunded"], "30.00");
    let r = app.get_v2(&format!("/invoices/{id}")).await;
    assert_eq!(
        r.body["status"], "paid",
        "refunds do not reopen the invoice"
    );
}

async fn customer_credit_pays_the_next_invoice(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let cn = app
        .ok_v2(
            201,
            "/credit-notes",
            json!({"customer_id": cust, "description": "Goodwill",
                   "line_items": [{"description": "Outage credit", "quantity": "1", "unit_price": "25"}]}),
        )
        .await;
    assert_eq!(
        cn["total"], "30.00",
        "free-form lines take the customer's tax rate"
    );
    assert_eq!(cn["invoice_id"], Value::Null);
    let r = app
        .post_v2(
            &format!("/credit-notes/{}/apply", cn["id"].as_str().unwrap()),
            &json!({"do_refund": true}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["do_refund"]);
    let applied = app
        .ok_v2(
            200,
            &format!("/credit-notes/{}/apply", cn["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(applied["amount_to_balance"], "30.00");

    // The next invoice draws it when issued; the one after that owes in full.
    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "20")]))
        .await;
    assert_eq!(inv["total"], "24.00");
    assert_eq!(inv["status"], "paid", "the credit covers it");
    assert_eq!(inv["amount_paid"], "24.00");
    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "20")]))
        .await;
    assert_eq!(inv["status"], "issued");
    assert_eq!(inv["amount_paid"], "6.00");
    assert_eq!(inv["amount_remaining"], "18.00");
    let p = app
        .get_v2(&format!(
            "/payments?invoice_id={}",
            inv["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(p.body["data"][0]["method"], "credit_balance");
    let balance = app
        .get_v2(&format!("/customers/{cust}/credit-balance"))
        .await;
    assert_eq!(balance.body["balances"][0]["balance"], "0.00");
    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "20")]))
        .await;
    assert_eq!(inv["amount_remaining"], "24.00");
    // A payment made with credit cannot be refunded.
    let r = app
        .post_v2(
            "/refunds",
            &json!({"payment_id": p.body["data"][0]["id"], "amount": "1.00"}),
        )
        .await;
    conflict(&r, "settled with credit");
}

async fn direct_refunds_are_capped(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let id = inv["id"].as_str().unwrap();
    app.ok_v2(200, &format!("/invoices/{id}/mark-as-paid"), json!({}))
        .await;
    let pay = app.get_v2(&format!("/payments?invoice_id={id}")).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refund = app
        .ok_v2(
            201,
            "/refunds",
            json!({"payment_id": pay, "amount": "100.00", "reason": "duplicate", "statement_descriptor": "ACME"}),
        )
        .await;
    assert!(refund["id"].as_str().unwrap().starts_with("re_"));
    assert_eq!(
        (
            &refund["status"],
            &refund["payment_id"],
            &refund["customer_id"]
        ),
        (&json!("succeeded"), &json!(pay), &json!(cust))
    );
    let r = app
        .post_v2("/refunds", &json!({"payment_id": pay, "amount": "20.01"}))
        .await;
    conflict(&r, "more than the 20.00 left to refund");
    app.ok_v2(201, "/refunds", json!({"payment_id": pay, "amount": "20"}))
        .await;
    let r = app
        .post_v2("/refunds", &json!({"payment_id": pay, "amount": "0.01"}))
        .await;
    conflict(&r, "more than the 0.00 left");
    let p = app.get_v2(&format!("/payments/{pay}")).await;
    assert_eq!(p.body["amount_refunded"], "120.00");
    let r = app
        .get_v2(&format!("/refunds/{}", refund["id"].as_str().unwrap()))
        .await;
    assert_eq!(r.body["reason"], "duplicate");
    let list = app
        .get_v2(&format!("/refunds?payment_id={pay}&status=succeeded"))
        .await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 2);
    let list = app.get_v2("/refunds?status=pending").await;
    assert_eq!(list.body["data"], json!([]));
    // A credit note of a fully refunded invoice cannot refund again.
    let r = app
        .post_v2(
            &format!("/invoices/{id}/credit-notes"),
            &json!({"apply": true, "refund": {}}),
        )
        .await;
    conflict(&r, "only 0.00 of the payments");
}

async fn the_pdf_is_frozen_at_issue(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo Café").await;
    let inv = app
        .invoice(json!({
            "customer_id": cust, "description": "Thank you for your business",
            "billing_period_start": "2024-01-01T00:00:00Z", "billing_period_end": "2024-02-01T00:00:00Z",
            "line_items": [line("Platform fee", "1", "1000"), line("API calls", "12345", "0.01")],
        }))
        .await;
    let id = inv["id"].as_str().unwrap();
    let (draft_pdf, _) = app.pdf(id).await;
    let text = pdf_text(&draft_pdf);
    assert!(text.contains("DRAFT INVOICE"), "{text}");

    let issued = app
        .ok_v2(200, &format!("/invoices/{id}/issue"), json!({}))
        .await;
    assert_eq!(issued["total"], "1348.14");
    let (pdf, headers) = app.pdf(id).await;
    let text = pdf_text(&pdf);
    for needle in [
        "INV-000001",
        "USD 1,348.14",
        "Amount due",
        "Gojo Café",
        "123 Main St",
        "New York, NY 10001",
        "Platform fee",
        "12,345",
        "123.45",
        "Jan 1, 2024 - Jan 31, 2024",
        "Default organization",
        "Thank you for your business",
    ] {
        assert!(text.contains(needle), "{needle:?} in the PDF text: {text}");
    }
    assert!(!text.contains("DRAFT"));
    let etag = headers.get("etag").unwrap().to_str().unwrap().to_string();
    assert_eq!(etag.len(), 66, "a quoted SHA-256: {etag}");

    // Paying it, crediting it, renaming the customer: the PDF stays the one issued.
    app.ok_v2(
        200,
        &format!("/invoices/{id}/mark-as-paid"),
        json!({"amount_paid": "48.14"}),
    )
    .await;
    app.patch_v2(
        &format!("/customers/{cust}"),
        &json!({"name": "Renamed Inc"}),
    )
    .await;
    let (again, headers) = app.pdf(id).await;
    assert_eq!(again, pdf, "byte for byte");
    assert_eq!(headers.get("etag").unwrap().to_str().unwrap(), etag);
}

async fn v1_lists_gets_and_marks_as_paid(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let inv = app
        .invoice(json!({
            "customer_id": cust, "status": "issued",
            "billing_period_start": "2024-01-01T00:00:00Z", "billing_period_end": "2024-02-01T00:00:00Z",
            "line_items": [line("Plan", "1", "100")],
        }))
        .await;
    let id = inv["id"].as_str().unwrap();
    let r = app.get("/invoices").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["pageCount"], 1);
    assert_eq!(r.body["limit"], 20);
    let item = &r.body["items"][0];
    assert_eq!(item["id"], id);
    assert_eq!(item["customerId"], cust.as_str());
    assert_eq!(
        item["billingPeriodEnd"], "2024-01-31T23:59:59.000000Z",
        "v1 ends on the last second"
    );
    assert_eq!(item["billingPeriod"], "Jan 1, 2024 - Jan 31, 2024");
    let r = app.get(&format!("/invoices/{id}")).await;
    assert_eq!(r.body["amountRemaining"], "120.00");
    assert_eq!(r.body["externalReference"], "INV-000001");
    assert_eq!(r.body["lineItems"][0]["totalPrice"], "100.00");
    assert!(r.body.get("line_items").is_none());
    let filters = r#"[{"field":"status","operator":"in","value":"issued,paid"}]"#;
    let r = app
        .get(&format!(
            "/invoices?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([("filters", filters), ("page", "1"), ("limit", "5")])
                .finish()
        ))
        .await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.text);
    let r = app
        .send(
            app.req(Method::PUT, &format!("/invoices/{id}/mark-as-paid"))
                .json(&json!({
            "amountPaid": "120.00", "paidDate": "2024-02-03T00:00:00Z",
            "externalPaymentSource": "cheque", "externalPaymentNote": "cheque 42"})),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "paid");
    assert_eq!(r.body["paidDate"], "2024-02-03T00:00:00.000000Z");
    let r = app
        .send(
            app.req(Method::PUT, &format!("/invoices/{id}/mark-as-paid"))
                .json(&json!({})),
        )
        .await;
    conflict(&r, "already paid");
    let r = app
        .send(
            app.req(Method::PUT, "/invoices/nope0000/mark-as-paid")
                .json(&json!({"amountPaid": "x"})),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["amountPaid"]);
}

async fn lists_filter_and_customers_with_invoices_stay(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let a = taxed_customer(&app, "Alpha").await;
    let b = app.customer("Beta", &["beta-co"]).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let i1 = app.issued_invoice(&a, json!([line("X", "1", "1")])).await;
    let i2 = app.draft_invoice(&b, json!([line("Y", "1", "2")])).await;
    let i3 = app.issued_invoice(&b, json!([line("Z", "1", "3")])).await;
    let ids = |r: &crate::harness::Resp| -> Vec<String> {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    let s = |v: &Value| v["id"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&app.get_v2("/invoices").await),
        [s(&i1), s(&i2), s(&i3)]
    );
    assert_eq!(
        ids(&app.get_v2("/invoices?sort=created_at:desc").await),
        [s(&i3), s(&i2), s(&i1)]
    );
    assert_eq!(
        ids(&app.get_v2("/invoices?customer_id=beta-co").await),
        [s(&i2), s(&i3)]
    );
    assert_eq!(
        ids(&app.get_v2("/invoices?customer_id=nobody").await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&app.get_v2("/invoices?status=draft").await), [s(&i2)]);
    assert_eq!(
        ids(&app.get_v2("/invoices?status=issued,draft").await).len(),
        3
    );
    assert_eq!(
        ids(&app.get_v2("/invoices?status=processing").await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&app.get_v2("/invoices?reference=INV-000002").await),
        [s(&i3)]
    );
    assert_eq!(
        ids(&app.get_v2("/invoices?external_reference=INV-000001").await),
        [s(&i1)]
    );
    assert_eq!(
        ids(&app.get_v2("/invoices?issue_date_gte=2000-01-01").await).len(),
        2
    );
    assert_eq!(
        ids(&app
            .get_v2("/invoices?issue_date_lte=2000-01-01T00:00:00Z")
            .await)
        .len(),
        0
    );
    assert_eq!(ids(&app.get_v2("/invoices?autopay=true").await).len(), 0);
    assert_eq!(
        ids(&app.get_v2("/invoices?sort=account_name:desc").await)[0],
        s(&i3)
    );
    assert_eq!(
        ids(&app.get_v2("/invoices?sort=account_name:asc").await)[0],
        s(&i1)
    );
    let page = app.get_v2("/invoices?limit=2&offset=2").await;
    assert_eq!(
        (ids(&page).len(), &page.body["pagination"]),
        (1, &json!({"per_page": 2, "total_pages": 2}))
    );
    let item = &app.get_v2("/invoices?status=issued").await.body["data"][0];
    assert!(
        item.get("line_items").is_none(),
        "list items are the SDK's InvoiceListItemResponse"
    );

    for c in [&a, &b] {
        let r = app.delete(&format!("/customers/{c}")).await;
        r.problem(409);
        assert!(r.body["detail"].as_str().unwrap().contains("invoices"));
        let r = app
            .patch_v2(&format!("/customers/{c}"), &json!({"currency": "EUR"}))
            .await;
        r.problem(409);
    }
    let c = app.customer("Gamma", &[]).await;
    let c = c["id"].as_str().unwrap();
    app.ok_v2(
        201,
        "/credit-notes",
        json!({"customer_id": c, "line_items": [{"description": "x", "quantity": "1", "unit_price": "1"}]}),
    )
    .await;
    let r = app.delete(&format!("/customers/{c}")).await;
    r.problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("credit notes"));
}

async fn writes_replay_with_their_idempotency_key(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let id = inv["id"].as_str().unwrap();
    let pay = || {
        app.req(Method::POST, &format!("/invoices/{id}/mark-as-paid"))
            .header(crate::harness::V2.0, crate::harness::V2.1)
            .header("Idempotency-Key", "pay-once-1")
            .json(&json!({"amount_paid": "10.00"}))
    };
    let first = app.send(pay()).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = app.send(pay()).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    let payments = app.get_v2(&format!("/payments?invoice_id={id}")).await;
    assert_eq!(
        payments.body["data"].as_array().unwrap().len(),
        1,
        "paid once"
    );
    let create = || {
        app.req(Method::POST, "/invoices")
            .header(crate::harness::V2.0, crate::harness::V2.1)
            .header("Idempotency-Key", "create-once-1")
            .json(&json!({"customer_id": cust, "status": "issued", "line_items": [line("X", "1", "1")]}))
    };
    let a = app.send(create()).await;
    let b = app.send(create()).await;
    assert_eq!((a.status, b.status), (201, 201));
    assert_eq!(a.body["id"], b.body["id"]);
    assert_eq!(a.body["external_reference"], "INV-000002");
    let r = app.get_v2("/invoices?limit=100").await;
    assert_eq!(
        r.body["data"].as_array().unwrap().len(),
        2,
        "created and numbered once"
    );
}
