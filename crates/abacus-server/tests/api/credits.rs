//! Monetary credit grants on subscriptions: granting, the balance as of any instant (before a
//! grant, after an expiry), the grants with what remains, refused inputs naming their field,
//! tenancy, idempotent grants, `account.credits.granted` once per grant, and what the invoice
//! scheduler calls: draws that lower the balance (and `account.credits.balance_depleted` once when
//! it reaches zero), releases and voided invoices that give the credit back.

use std::time::Duration;

use abacus_core::billing::CreditDraw;
use abacus_core::time::{format_micros, now_micros};
use abacus_server::services::credits as service;
use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::harness::{Resp, TestApp, V2, is_micros_timestamp};
use crate::invoice_support::line;
use crate::subscription_support::{Catalog, days_from_today, id};
use crate::webhook_support::{Receiver, endpoint, fast, org_of};

on_both_backends!(
    grants_and_balances,
    bad_grants_name_their_field,
    grants_are_idempotent_and_sent_once,
    draws_lower_the_balance_and_releases_restore_it,
);

const DAY: i64 = 86_400_000_000;

async fn setup(backend: Backend) -> Option<(TestApp, Catalog, String)> {
    let app = TestApp::spawn_with(backend, fast(10_000)).await?;
    let c = app.catalog().await;
    let sub = id(&app.active(&c, &days_from_today(-3), "99.00").await);
    Some((app, c, sub))
}

async fn grant(app: &TestApp, sub: &str, body: Value) -> Resp {
    app.post_v2(&format!("/subscriptions/{sub}/credits/grant"), &body)
        .await
}

async fn granted(app: &TestApp, sub: &str, body: Value) -> Value {
    let r = grant(app, sub, body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn balance_at(app: &TestApp, sub: &str, as_of: Option<&str>) -> Value {
    let path = match as_of {
        Some(t) => format!(
            "/subscriptions/{sub}/credits/balance?as_of={}",
            t.replace('+', "%2B")
        ),
        None => format!("/subscriptions/{sub}/credits/balance"),
    };
    let r = app.get_v2(&path).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

async fn balance(app: &TestApp, sub: &str) -> String {
    balance_at(app, sub, None).await["balance"]
        .as_str()
        .unwrap()
        .to_string()
}

fn ts(v: &Value) -> i64 {
    abacus_core::time::parse_rfc3339(v.as_str().unwrap()).unwrap()
}

async fn grants_and_balances(backend: Backend) {
    let Some((app, c, sub)) = setup(backend).await else {
        return;
    };
    let before = now_micros();
    let g1 = granted(
        &app,
        &sub,
        json!({"amount": "100.00", "reason": "Welcome credit"}),
    )
    .await;
    let keys: Vec<&String> = g1.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "id",
            "amount",
            "created_at",
            "customer_id",
            "expires_at",
            "grant_type",
            "reason",
            "subscription_id"
        ]
    );
    let gid = g1["id"].as_str().unwrap();
    assert!(gid.starts_with("cgr_") && gid.len() == 26, "{gid}");
    assert_eq!(g1["amount"], "100.00");
    assert_eq!(g1["customer_id"], c.customer.as_str());
    assert_eq!(g1["subscription_id"], sub.as_str());
    assert_eq!(g1["grant_type"], "api");
    assert_eq!(g1["reason"], "Welcome credit");
    assert_eq!(g1["expires_at"], Value::Null);
    assert!(is_micros_timestamp(&g1["created_at"]), "{g1}");
    let created = ts(&g1["created_at"]);
    assert!(created >= before);

    // An amount without cents is stored in the currency's minor units; an expiry with an offset
    // is answered in UTC.
    let expires = now_micros() + 10 * DAY;
    let expires_utc = format_micros(expires);
    // The same instant written at +02:00.
    let expires_offset = format_micros(expires + 7_200_000_000).replace('Z', "+02:00");
    let g2 = granted(
        &app,
        &sub,
        json!({"amount": "25.5", "reason": "Outage", "credit_type": "monetary",
               "expires_at": expires_offset}),
    )
    .await;
    assert_eq!(g2["amount"], "25.50");
    assert_eq!(g2["expires_at"], expires_utc.as_str());

    let b = balance_at(&app, &sub, None).await;
    assert_eq!(
        b,
        json!({"as_of": b["as_of"], "balance": "125.50", "credit_type": "monetary",
               "currency": "USD", "subscription_id": sub})
    );
    assert!(is_micros_timestamp(&b["as_of"]));
    assert!(ts(&b["as_of"]) >= ts(&g2["created_at"]));

    // Before any grant: nothing. Between the grants: the first.
    let at = |us: i64| format_micros(us);
    assert_eq!(
        balance_at(&app, &sub, Some(&at(created - 1))).await["balance"],
        "0.00"
    );
    let b = balance_at(&app, &sub, Some("2001-02-03T04:05:06+02:00")).await;
    assert_eq!(b["balance"], "0.00");
    assert_eq!(b["as_of"], "2001-02-03T02:05:06.000000Z");
    assert_eq!(
        balance_at(&app, &sub, Some(&at(ts(&g2["created_at"]) - 1))).await["balance"],
        "100.00"
    );
    // Up to the expiry the second grant counts; at and after it, no more.
    assert_eq!(
        balance_at(&app, &sub, Some(&at(expires - 1))).await["balance"],
        "125.50"
    );
    assert_eq!(
        balance_at(&app, &sub, Some(&expires_utc)).await["balance"],
        "100.00"
    );
    assert_eq!(
        balance_at(&app, &sub, Some(&at(expires + 30 * DAY))).await["balance"],
        "100.00"
    );
    let r = app
        .get_v2(&format!(
            "/subscriptions/{sub}/credits/balance?as_of=yesterday"
        ))
        .await;
    r.problem(400);
    assert_eq!(r.error_fields(), ["as_of"]);

    // The grants, oldest first, with what remains.
    let list = app
        .ok(&format!("/subscriptions/{sub}/credits/grants"))
        .await;
    let data = list["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[0]["id"], g1["id"]);
    assert_eq!(data[0]["remaining"], "100.00");
    assert_eq!(data[1]["remaining"], "25.50");
    assert_eq!(data[1]["expired"], false);
    assert_eq!(data[1]["currency"], "USD");
    let page = app
        .ok(&format!(
            "/subscriptions/{sub}/credits/grants?limit=1&offset=1"
        ))
        .await;
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["data"][0]["id"], g2["id"]);
    assert_eq!(page["pagination"]["total_pages"], 2);

    // v1 speaks camelCase.
    let r = app
        .post(
            &format!("/subscriptions/{sub}/credits/grant"),
            &json!({"amount": "1.00", "reason": "v1", "expiresAt": at(expires)}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["grantType"], "api");
    assert_eq!(r.body["expiresAt"], expires_utc.as_str());
    assert_eq!(balance(&app, &sub).await, "126.50");

    // A draft may receive credit; a canceled subscription may not.
    let draft = id(&app
        .subscription(
            json!({"customer_id": c.customer, "items": [{"product_id": c.seats,
                              "price": crate::subscription_support::monthly("10.00")}]}),
        )
        .await);
    granted(&app, &draft, json!({"amount": "5", "reason": "Early bird"})).await;
    assert_eq!(balance(&app, &draft).await, "5.00");
    let r = app
        .post_v2(
            &format!("/subscriptions/{sub}/cancel"),
            &json!({"reason": "no_longer_required"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = grant(&app, &sub, json!({"amount": "5", "reason": "Too late"})).await;
    crate::subscription_support::conflict(&r, "canceled");
    // Its balance is still readable.
    assert_eq!(balance(&app, &sub).await, "126.50");

    // Deleting the draft deletes its grants with it.
    let r = app.delete_v2(&format!("/subscriptions/{draft}")).await;
    assert_eq!(r.status, 200, "{}", r.text);
    app.get_v2(&format!("/subscriptions/{draft}/credits/balance"))
        .await
        .problem(404);
}

async fn bad_grants_name_their_field(backend: Backend) {
    let Some((app, _c, sub)) = setup(backend).await else {
        return;
    };
    let future = format_micros(now_micros() + DAY);
    let past = format_micros(now_micros() - DAY);
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"amount": "-5.00", "reason": "x"}),
            "amount",
            "greater than 0",
        ),
        (
            json!({"amount": "0", "reason": "x"}),
            "amount",
            "greater than 0",
        ),
        (
            json!({"amount": "0.00", "reason": "x"}),
            "amount",
            "greater than 0",
        ),
        (
            json!({"amount": "1.001", "reason": "x"}),
            "amount",
            "decimal places",
        ),
        (
            json!({"amount": "ten", "reason": "x"}),
            "amount",
            "not a decimal",
        ),
        (
            json!({"amount": "1e3", "reason": "x"}),
            "amount",
            "not a decimal",
        ),
        (
            json!({"amount": " 5", "reason": "x"}),
            "amount",
            "not a decimal",
        ),
        (
            json!({"amount": "1000000000000000", "reason": "x"}),
            "amount",
            "less than",
        ),
        (
            json!({"amount": 100, "reason": "x"}),
            "amount",
            "invalid type",
        ),
        (json!({"reason": "x"}), "amount", "required"),
        (json!({"amount": "5"}), "reason", "required"),
        (
            json!({"amount": "5", "reason": 7}),
            "reason",
            "invalid type",
        ),
        (
            json!({"amount": "5", "reason": "  "}),
            "reason",
            "must not be empty",
        ),
        (
            json!({"amount": "5", "reason": "r".repeat(1001)}),
            "reason",
            "at most 1000",
        ),
        (
            json!({"amount": "5", "reason": "x", "expires_at": "next week"}),
            "expires_at",
            "RFC 3339",
        ),
        (
            json!({"amount": "5", "reason": "x", "expires_at": "2030-01-01"}),
            "expires_at",
            "RFC 3339",
        ),
        (
            json!({"amount": "5", "reason": "x", "expires_at": past}),
            "expires_at",
            "in the future",
        ),
        (
            json!({"amount": "5", "reason": "x", "expires_at": 1_700_000_000}),
            "expires_at",
            "invalid type",
        ),
        (
            json!({"amount": "5", "reason": "x", "credit_type": "units"}),
            "credit_type",
            "only monetary credits are supported",
        ),
        (
            json!({"amount": "5", "reason": "x", "credit_type": "points"}),
            "credit_type",
            "not monetary",
        ),
        (json!("grant"), "body", "invalid type"),
    ];
    for (body, field, text) in &cases {
        let r = grant(&app, &sub, body.clone()).await;
        let p = r.problem(422);
        assert_eq!(r.error_fields(), [*field], "{body}: {}", r.text);
        assert!(
            p["detail"].as_str().unwrap().contains(text),
            "{body}: {:?} lacks {text:?}",
            p["detail"]
        );
    }
    // Every fault at once.
    let r = grant(
        &app,
        &sub,
        json!({"amount": "0.001", "reason": "", "expires_at": past, "credit_type": "units"}),
    )
    .await;
    r.problem(422);
    assert_eq!(
        r.error_fields(),
        ["amount", "credit_type", "expires_at", "reason"]
    );
    // Malformed JSON is 400.
    let r = app
        .send(
            app.req(Method::POST, &format!("/subscriptions/{sub}/credits/grant"))
                .header(V2.0, V2.1)
                .header("content-type", "application/json")
                .body("{\"amount\": "),
        )
        .await;
    r.problem(400);

    // Unknown subscriptions and another organization's are not found, before the body is read.
    let good = json!({"amount": "5", "reason": "x", "expires_at": future});
    let r = grant(&app, "nope1234", good.clone()).await;
    assert!(
        r.problem(404)["detail"]
            .as_str()
            .unwrap()
            .contains("nope1234")
    );
    let other = app.new_tenant().await;
    for (method, path, body) in [
        (
            Method::POST,
            format!("/subscriptions/{sub}/credits/grant"),
            Some(good.clone()),
        ),
        (
            Method::GET,
            format!("/subscriptions/{sub}/credits/balance"),
            None,
        ),
        (
            Method::GET,
            format!("/subscriptions/{sub}/credits/grants"),
            None,
        ),
    ] {
        let mut rb = app
            .http
            .request(method, app.url(&path))
            .bearer_auth(&other)
            .header(V2.0, V2.1);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        app.send(rb).await.problem(404);
    }
    app.get_v2("/subscriptions/nope1234/credits/balance")
        .await
        .problem(404);

    // Nothing was granted.
    assert_eq!(balance(&app, &sub).await, "0.00");
    let list = app
        .ok(&format!("/subscriptions/{sub}/credits/grants"))
        .await;
    assert_eq!(list["data"], json!([]));
}

async fn grants_are_idempotent_and_sent_once(backend: Backend) {
    let Some((app, c, sub)) = setup(backend).await else {
        return;
    };
    let rx = Receiver::ok().await;
    endpoint(
        &app,
        &rx.url,
        Some(&[
            "account.credits.granted",
            "account.credits.balance_depleted",
        ]),
    )
    .await;
    let path = format!("/subscriptions/{sub}/credits/grant");
    let send = || {
        app.send(
            app.req(Method::POST, &path)
                .header(V2.0, V2.1)
                .header("Idempotency-Key", "grant-welcome-1")
                .json(&json!({"amount": "30.00", "reason": "Welcome credit"})),
        )
    };
    let first = send().await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send().await;
    assert_eq!(again.status, 201, "{}", again.text);
    assert_eq!(again.body, first.body);
    // The same key with another body is refused.
    let r = app
        .send(
            app.req(Method::POST, &path)
                .header(V2.0, V2.1)
                .header("Idempotency-Key", "grant-welcome-1")
                .json(&json!({"amount": "31.00", "reason": "Welcome credit"})),
        )
        .await;
    assert!(r.status == 409 || r.status == 422, "{}", r.text);
    assert_eq!(balance(&app, &sub).await, "30.00");
    let list = app
        .ok(&format!("/subscriptions/{sub}/credits/grants"))
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    // A refused grant sends nothing.
    grant(&app, &sub, json!({"amount": "-1", "reason": "x"}))
        .await
        .problem(422);

    let got = rx.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let got = if rx.captured().len() > got.len() {
        rx.captured()
    } else {
        got
    };
    assert_eq!(got.len(), 1, "{:?}", got);
    let body = got[0].json();
    assert_eq!(body["type"], "account.credits.granted");
    assert_eq!(
        body["data"],
        json!({"accountId": c.customer, "grantId": first.body["id"], "amount": "30.00",
               "type": "monetary", "reason": "Welcome credit"})
    );
}

fn draws(grant: &str, amount: &str) -> Vec<CreditDraw> {
    vec![CreditDraw {
        grant_id: grant.into(),
        amount: amount.parse::<Decimal>().unwrap(),
    }]
}

async fn draft_invoice(app: &TestApp, customer: &str) -> String {
    app.draft_invoice(customer, json!([line("Pro plan", "1", "100")]))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn draws_lower_the_balance_and_releases_restore_it(backend: Backend) {
    let Some((app, c, sub)) = setup(backend).await else {
        return;
    };
    let rx = Receiver::ok().await;
    endpoint(&app, &rx.url, Some(&["account.credits.balance_depleted"])).await;
    let org = org_of(&app).await;
    let g = granted(&app, &sub, json!({"amount": "30.00", "reason": "Welcome"})).await;
    let g = g["id"].as_str().unwrap().to_string();
    let (i1, i2, i3) = (
        draft_invoice(&app, &c.customer).await,
        draft_invoice(&app, &c.customer).await,
        draft_invoice(&app, &c.customer).await,
    );
    let draw = |invoice: String, d: Vec<CreditDraw>| {
        let (app, org, customer, sub) = (&app, &org, &c.customer, &sub);
        async move {
            let mut tx = app.state.db.begin().await.unwrap();
            let out = service::draw(&mut tx, org, customer, sub, &invoice, &d, now_micros()).await;
            if out.is_ok() {
                tx.commit().await.unwrap();
            }
            out
        }
    };
    let release = |invoice: String| {
        let (app, org) = (&app, &org);
        async move {
            let mut tx = app.state.db.begin().await.unwrap();
            service::release(&mut tx, org, &invoice).await.unwrap();
            tx.commit().await.unwrap();
        }
    };

    // What the scheduler reads, then draws.
    let usable = {
        let mut conn = app.state.db.read().await.unwrap();
        abacus_store::credits::usable_grants(&mut conn, &org, &sub, now_micros())
            .await
            .unwrap()
    };
    assert_eq!(usable.len(), 1);
    assert_eq!(usable[0].remaining.to_string(), "30.00");

    draw(i1.clone(), draws(&g, "10.00")).await.unwrap();
    assert_eq!(balance(&app, &sub).await, "20.00");
    // The same draws again do nothing; others for the same invoice, or more than is left, are
    // refused.
    draw(i1.clone(), draws(&g, "10.00")).await.unwrap();
    assert_eq!(balance(&app, &sub).await, "20.00");
    let e = draw(i1.clone(), draws(&g, "5.00")).await.unwrap_err();
    assert_eq!(e.status.as_u16(), 409, "{}", e.detail);
    let e = draw(i2.clone(), draws(&g, "20.01")).await.unwrap_err();
    assert_eq!(e.status.as_u16(), 409, "{}", e.detail);
    let e = draw(i2.clone(), draws("cgr_unknown", "1.00"))
        .await
        .unwrap_err();
    assert_eq!(e.status.as_u16(), 409, "{}", e.detail);

    // The draw that empties the balance sends balance_depleted; a replay of it does not.
    draw(i2.clone(), draws(&g, "20.00")).await.unwrap();
    draw(i2.clone(), draws(&g, "20.00")).await.unwrap();
    assert_eq!(balance(&app, &sub).await, "0.00");
    let list = app
        .ok(&format!("/subscriptions/{sub}/credits/grants"))
        .await;
    assert_eq!(list["data"][0]["remaining"], "0.00");

    // Released: the credit is back.
    release(i2.clone()).await;
    assert_eq!(balance(&app, &sub).await, "20.00");
    release(i2.clone()).await;
    assert_eq!(balance(&app, &sub).await, "20.00");

    // A voided invoice gives its credit back too.
    draw(i3.clone(), draws(&g, "5.00")).await.unwrap();
    assert_eq!(balance(&app, &sub).await, "15.00");
    let r = app
        .post_v2(&format!("/invoices/{i3}/issue"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .post_v2(&format!("/invoices/{i3}/void"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "void");
    assert_eq!(balance(&app, &sub).await, "20.00");

    let got = rx.wait_for(1, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let got = if rx.captured().len() > got.len() {
        rx.captured()
    } else {
        got
    };
    assert_eq!(got.len(), 1, "{got:?}");
    let body = got[0].json();
    assert_eq!(body["type"], "account.credits.balance_depleted");
    assert_eq!(
        body["data"],
        json!({"accountId": c.customer, "amount": "0.00", "type": "monetary"})
    );
}
