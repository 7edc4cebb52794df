//! Bad invoice, credit-note, payment and refund input: one case per rule, each a 422 (400 for
//! query parameters) naming the field at fault, never a 500, and nothing written; another
//! organization's objects are 404.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, V2};
use crate::invoice_support::{line, taxed_customer};

on_both_backends!(
    every_bad_invoice_request_names_its_field,
    another_organizations_invoices_are_not_found,
);

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Option<Value>,
    status: u16,
    field: &'static str,
    v1: bool,
}

fn post(name: &'static str, path: &str, body: Value, field: &'static str) -> Case {
    Case {
        name,
        method: Method::POST,
        path: path.into(),
        body: Some(body),
        status: 422,
        field,
        v1: false,
    }
}

fn query(name: &'static str, path: &str, field: &'static str) -> Case {
    Case {
        name,
        method: Method::GET,
        path: path.into(),
        body: None,
        status: 400,
        field,
        v1: false,
    }
}

impl Case {
    fn method(mut self, m: Method) -> Case {
        self.method = m;
        self
    }

    fn v1(mut self) -> Case {
        self.v1 = true;
        self
    }
}

fn with(body: &Value, key: &str, value: Value) -> Value {
    let mut b = body.clone();
    b[key] = value;
    b
}

async fn every_bad_invoice_request_names_its_field(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let other_cust = taxed_customer(&app, "Zeta").await;
    let draft = app
        .draft_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let d = draft["id"].as_str().unwrap().to_string();
    let d_line = draft["line_items"][0]["id"].as_str().unwrap().to_string();
    let issued = app
        .issued_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let i = issued["id"].as_str().unwrap().to_string();
    let i_line = issued["line_items"][0]["id"].as_str().unwrap().to_string();
    let paid = app
        .issued_invoice(&cust, json!([line("Plan", "1", "10")]))
        .await;
    let p = paid["id"].as_str().unwrap().to_string();
    app.ok_v2(200, &format!("/invoices/{p}/mark-as-paid"), json!({}))
        .await;
    let payment = app.get_v2(&format!("/payments?invoice_id={p}")).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cn = app
        .ok_v2(201, &format!("/invoices/{i}/credit-notes"), json!({}))
        .await;
    let cn = cn["id"].as_str().unwrap().to_string();

    let ok = json!({"customer_id": cust, "line_items": [line("Plan", "1", "100")]});
    let ln = |l: Value| with(&ok, "line_items", json!([l]));
    let future = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(48)).to_string();
    let cn_ok = json!({"customer_id": cust, "line_items": [{"description": "Goodwill", "quantity": "1", "unit_price": "5"}]});
    let cases = vec![
        // Creating an invoice.
        post(
            "customer missing",
            "/invoices",
            json!({"line_items": []}),
            "customer_id",
        ),
        post(
            "unknown customer",
            "/invoices",
            with(&ok, "customer_id", json!("nobody")),
            "customer_id",
        ),
        post(
            "customer as a number",
            "/invoices",
            with(&ok, "customer_id", json!(7)),
            "customer_id",
        ),
        post(
            "not a currency",
            "/invoices",
            with(&ok, "currency", json!("XYZ")),
            "currency",
        ),
        post(
            "not the customer's currency",
            "/invoices",
            with(&ok, "currency", json!("EUR")),
            "currency",
        ),
        post(
            "paid needs a tax calculation",
            "/invoices",
            with(&ok, "status", json!("paid")),
            "status",
        ),
        post(
            "unknown status",
            "/invoices",
            with(&ok, "status", json!("sent")),
            "status",
        ),
        post(
            "payment terms",
            "/invoices",
            with(&ok, "payment_terms", json!("net_400")),
            "payment_terms",
        ),
        post(
            "issue date malformed",
            "/invoices",
            with(&ok, "issue_date", json!("yesterday")),
            "issue_date",
        ),
        post(
            "issue date in the future",
            "/invoices",
            with(&ok, "issue_date", json!(future)),
            "issue_date",
        ),
        post(
            "period start alone",
            "/invoices",
            with(&ok, "billing_period_start", json!("2024-01-01T00:00:00Z")),
            "billing_period_end",
        ),
        post(
            "period backwards",
            "/invoices",
            with(
                &with(&ok, "billing_period_start", json!("2024-02-01T00:00:00Z")),
                "billing_period_end",
                json!("2024-01-01T00:00:00Z"),
            ),
            "billing_period_end",
        ),
        post(
            "purchase order too long",
            "/invoices",
            with(&ok, "purchase_order_number", json!("x".repeat(300))),
            "purchase_order_number",
        ),
        post(
            "tax calculation",
            "/invoices",
            with(&ok, "tax_calculation_id", json!("txc_1")),
            "tax_calculation_id",
        ),
        post(
            "merchant",
            "/invoices",
            with(&ok, "merchant_id", json!("mer_1")),
            "merchant_id",
        ),
        post(
            "lines not a list",
            "/invoices",
            with(&ok, "line_items", json!({"a": 1})),
            "line_items",
        ),
        post(
            "negative quantity",
            "/invoices",
            ln(line("Plan", "-1", "1")),
            "line_items[0].quantity",
        ),
        post(
            "quantity not a decimal",
            "/invoices",
            ln(line("Plan", "abc", "1")),
            "line_items[0].quantity",
        ),
        post(
            "unit price missing",
            "/invoices",
            ln(json!({"description": "Plan", "quantity": "1"})),
            "line_items[0].unit_price",
        ),
        post(
            "unit price as a number",
            "/invoices",
            ln(json!({"description": "Plan", "quantity": "1", "unit_price": 1.5})),
            "line_items[0].unit_price",
        ),
        post(
            "line without description or product",
            "/invoices",
            ln(json!({"quantity": "1", "unit_price": "1"})),
            "line_items[0].description",
        ),
        post(
            "unknown product",
            "/invoices",
            ln(json!({"product_id": "prod_nope", "quantity": "1", "unit_price": "1"})),
            "line_items[0].product_id",
        ),
        post(
            "line description too long",
            "/invoices",
            ln(line(&"x".repeat(2_001), "1", "1")),
            "line_items[0].description",
        ),
        post(
            "line period malformed",
            "/invoices",
            ln(
                json!({"description": "x", "quantity": "1", "unit_price": "1", "billing_period_start": "soon", "billing_period_end": "2024-01-01T00:00:00Z"}),
            ),
            "line_items[0].billing_period_start",
        ),
        // Drafts and their lines.
        post(
            "added line without description",
            &format!("/invoices/{d}/line-items"),
            json!({"quantity": "1", "unit_price": "1"}),
            "description",
        ),
        post(
            "added line quantity",
            &format!("/invoices/{d}/line-items"),
            json!({"description": "x", "quantity": "x", "unit_price": "1"}),
            "quantity",
        ),
        post(
            "draft description not text",
            &format!("/invoices/{d}"),
            json!({"description": 123}),
            "description",
        )
        .method(Method::PATCH),
        post(
            "line description empty",
            &format!("/invoices/{d}/line-items/{d_line}"),
            json!({"description": "  "}),
            "description",
        )
        .method(Method::PATCH),
        // Payments recorded by hand.
        post(
            "nothing paid",
            &format!("/invoices/{i}/mark-as-paid"),
            json!({"amount_paid": "0"}),
            "amount_paid",
        ),
        post(
            "paid more than due",
            &format!("/invoices/{i}/mark-as-paid"),
            json!({"amount_paid": "120.01"}),
            "amount_paid",
        ),
        post(
            "sub-cent payment",
            &format!("/invoices/{i}/mark-as-paid"),
            json!({"amount_paid": "1.005"}),
            "amount_paid",
        ),
        post(
            "unknown payment source",
            &format!("/invoices/{i}/mark-as-paid"),
            json!({"external_payment_source": "crypto"}),
            "external_payment_source",
        ),
        post(
            "paid in the future",
            &format!("/invoices/{i}/mark-as-paid"),
            json!({"paid_date": future}),
            "paid_date",
        ),
        post(
            "v1 negative payment",
            &format!("/invoices/{i}/mark-as-paid"),
            json!({"amountPaid": "-1"}),
            "amountPaid",
        )
        .method(Method::PUT)
        .v1(),
        // Voiding.
        post(
            "voided in the future",
            &format!("/invoices/{i}/void"),
            json!({"void_date": future}),
            "void_date",
        ),
        post(
            "voided before issue",
            &format!("/invoices/{i}/void"),
            json!({"void_date": "2001-01-01T00:00:00Z"}),
            "void_date",
        ),
        // Credit notes.
        post(
            "credit note for nobody",
            "/credit-notes",
            json!({"line_items": cn_ok["line_items"]}),
            "customer_id",
        ),
        post(
            "credit note without lines",
            "/credit-notes",
            json!({"customer_id": cust}),
            "line_items",
        ),
        post(
            "credit of nothing",
            "/credit-notes",
            json!({"customer_id": cust, "line_items": [{"description": "x", "quantity": "0", "unit_price": "1"}]}),
            "line_items[0].quantity",
        ),
        post(
            "free credit without a price",
            "/credit-notes",
            json!({"customer_id": cust, "line_items": [{"description": "x", "quantity": "1"}]}),
            "line_items[0].unit_price",
        ),
        post(
            "invoice line without the invoice",
            "/credit-notes",
            json!({"customer_id": cust, "line_items": [{"invoice_line_item_id": i_line, "quantity": "1"}]}),
            "line_items[0].invoice_line_item_id",
        ),
        post(
            "a line of another invoice",
            "/credit-notes",
            json!({"invoice_id": i, "line_items": [{"invoice_line_item_id": d_line, "quantity": "1"}]}),
            "line_items[0].invoice_line_item_id",
        ),
        post(
            "unknown invoice",
            "/credit-notes",
            json!({"invoice_id": "nope0000", "line_items": cn_ok["line_items"]}),
            "invoice_id",
        ),
        post(
            "someone else's invoice",
            "/credit-notes",
            json!({"invoice_id": i, "customer_id": other_cust, "line_items": [{"invoice_line_item_id": i_line, "quantity": "1"}]}),
            "customer_id",
        ),
        post(
            "refund without apply",
            "/credit-notes",
            json!({"invoice_id": p, "line_items": cn_ok["line_items"], "refund": {}}),
            "refund",
        ),
        post(
            "refund elsewhere",
            "/credit-notes",
            json!({"invoice_id": p, "line_items": cn_ok["line_items"], "apply": true, "refund": {"destination": "card"}}),
            "refund.destination",
        ),
        post(
            "credit more than the line",
            &format!("/invoices/{p}/credit-notes"),
            json!({"line_items": [{"invoice_line_item_id": paid["line_items"][0]["id"], "quantity": "1.5"}]}),
            "line_items[0].quantity",
        ),
        post(
            "refund to a wallet",
            &format!("/credit-notes/{cn}/apply"),
            json!({"do_refund": true, "refund_destination": "wallet"}),
            "refund_destination",
        ),
        post(
            "a wallet",
            &format!("/credit-notes/{cn}/apply"),
            json!({"do_refund": false, "wallet_id": "wlt_1"}),
            "wallet_id",
        ),
        post(
            "do_refund not a boolean",
            &format!("/credit-notes/{cn}/apply"),
            json!({"do_refund": "yes"}),
            "do_refund",
        ),
        // Refunds.
        post(
            "unknown payment",
            "/refunds",
            json!({"payment_id": "pay_nope", "amount": "1"}),
            "payment_id",
        ),
        post(
            "negative refund",
            "/refunds",
            json!({"payment_id": payment, "amount": "-5"}),
            "amount",
        ),
        post(
            "refund amount missing",
            "/refunds",
            json!({"payment_id": payment}),
            "amount",
        ),
        post(
            "sub-cent refund",
            "/refunds",
            json!({"payment_id": payment, "amount": "0.001"}),
            "amount",
        ),
        post(
            "refund reason too long",
            "/refunds",
            json!({"payment_id": payment, "amount": "1", "reason": "x".repeat(1_001)}),
            "reason",
        ),
        // Query parameters.
        query("unknown status", "/invoices?status=bogus", "status"),
        query(
            "bad date bound",
            "/invoices?issue_date_gte=last-week",
            "issue_date_gte",
        ),
        query("bad sort", "/invoices?sort=total:asc", "sort"),
        query("bad limit", "/invoices?limit=0", "limit"),
        query(
            "credit notes need a customer",
            "/credit-notes",
            "customer_id",
        ),
        query("unknown refund status", "/refunds?status=done", "status"),
        query(
            "v1 filter field",
            "/invoices?filters=%5B%7B%22field%22%3A%22total%22%2C%22value%22%3A%221%22%7D%5D",
            "filters",
        )
        .v1(),
    ];
    assert!(cases.len() >= 20);
    let before = app.get_v2("/invoices?limit=100").await.body["data"]
        .as_array()
        .unwrap()
        .len();
    let notes_before = app
        .get_v2(&format!("/credit-notes?customer_id={cust}"))
        .await
        .body["data"]
        .as_array()
        .unwrap()
        .len();
    for c in &cases {
        let mut rb = app.req(c.method.clone(), &c.path);
        if !c.v1 {
            rb = rb.header(V2.0, V2.1);
        }
        if let Some(b) = &c.body {
            rb = rb.json(b);
        }
        let r = app.send(rb).await;
        assert_eq!(r.status, c.status, "{}: {}", c.name, r.text);
        r.problem(c.status);
        assert_eq!(
            r.error_fields().first().map(String::as_str),
            Some(c.field),
            "{}: {}",
            c.name,
            r.text
        );
    }
    // Nothing was written.
    let after = app.get_v2("/invoices?limit=100").await;
    assert_eq!(after.body["data"].as_array().unwrap().len(), before);
    let notes = app
        .get_v2(&format!("/credit-notes?customer_id={cust}"))
        .await;
    assert_eq!(notes.body["data"].as_array().unwrap().len(), notes_before);
    let r = app.get_v2(&format!("/invoices/{i}")).await;
    assert_eq!(
        (&r.body["status"], &r.body["amount_paid"]),
        (&json!("issued"), &json!("0.00"))
    );
    let r = app.get_v2(&format!("/invoices/{d}")).await;
    assert_eq!(r.body["line_items"].as_array().unwrap().len(), 1);
    let r = app.get_v2(&format!("/payments/{payment}")).await;
    assert_eq!(r.body["amount_refunded"], "0.00");
    let r = app.get_v2(&format!("/credit-notes/{cn}")).await;
    assert_eq!(r.body["status"], "draft");
}

async fn another_organizations_invoices_are_not_found(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let cust = taxed_customer(&app, "Gojo").await;
    let inv = app
        .issued_invoice(&cust, json!([line("Plan", "1", "100")]))
        .await;
    let id = inv["id"].as_str().unwrap().to_string();
    let line_id = inv["line_items"][0]["id"].as_str().unwrap().to_string();
    app.ok_v2(
        200,
        &format!("/invoices/{id}/mark-as-paid"),
        json!({"amount_paid": "10"}),
    )
    .await;
    let payment = app.get_v2(&format!("/payments?invoice_id={id}")).await.body["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let refund = app
        .ok_v2(
            201,
            "/refunds",
            json!({"payment_id": payment, "amount": "1"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cn = app
        .ok_v2(
            201,
            &format!("/invoices/{id}/credit-notes"),
            json!({"line_items": [{"invoice_line_item_id": line_id, "quantity": "0.1"}]}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();

    let other = app.new_tenant().await;
    let as_other = |method: Method, path: String, body: Option<Value>| {
        let mut rb = app
            .http
            .request(method, app.url(&path))
            .bearer_auth(&other)
            .header(V2.0, V2.1);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        rb
    };
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/invoices/{id}"), None),
        (Method::GET, format!("/invoices/{id}/pdf"), None),
        (
            Method::PATCH,
            format!("/invoices/{id}"),
            Some(json!({"description": "x"})),
        ),
        (
            Method::POST,
            format!("/invoices/{id}/issue"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/invoices/{id}/line-items"),
            Some(line("x", "1", "1")),
        ),
        (
            Method::DELETE,
            format!("/invoices/{id}/line-items/{line_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/invoices/{id}/mark-as-paid"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/invoices/{id}/void"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/invoices/{id}/credit-notes"),
            Some(json!({})),
        ),
        (Method::GET, format!("/credit-notes/{cn}"), None),
        (
            Method::POST,
            format!("/credit-notes/{cn}/apply"),
            Some(json!({})),
        ),
        (Method::GET, format!("/payments/{payment}"), None),
        (Method::GET, format!("/refunds/{refund}"), None),
        (
            Method::GET,
            format!("/customers/{cust}/credit-balance"),
            None,
        ),
    ];
    for (method, path, body) in cases {
        let r = app.send(as_other(method.clone(), path.clone(), body)).await;
        assert_eq!(r.status, 404, "{method} {path}: {}", r.text);
        r.problem(404);
    }
    // Lists show nothing of the first organization, even when asked by its ids.
    for path in [
        "/invoices".to_string(),
        format!("/invoices?customer_id={cust}"),
        format!("/payments?invoice_id={id}"),
        format!("/refunds?payment_id={payment}"),
        format!("/credit-notes?customer_id={cust}"),
    ] {
        let r = app.send(as_other(Method::GET, path.clone(), None)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        assert_eq!(r.body["data"], json!([]), "{path}");
    }
    // A refund of the first organization's payment is refused as unknown.
    let r = app
        .send(as_other(
            Method::POST,
            "/refunds".into(),
            Some(json!({"payment_id": payment, "amount": "1"})),
        ))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["payment_id"]);
    // And nothing changed for the owner.
    let r = app.get_v2(&format!("/invoices/{id}")).await;
    assert_eq!(r.body["amount_paid"], "10.00");
    assert_eq!(r.body["line_items"].as_array().unwrap().len(), 1);
}
