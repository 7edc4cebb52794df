//! The billing scheduler through the API: a backdated subscription catches up on every period
//! in order, once; schedulers racing over one database bill each period once; the grace period
//! keeps a period's draft open to late usage; issuing a period's draft recomputes it; the
//! upcoming invoice.

use abacus_core::time::parse_rfc3339;
use abacus_server::services::billing::{self, Settings, run_once};
use abacus_store::billing_runs;
use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::catalog_support::unit_price;
use crate::harness::TestApp;
use crate::metering_support::ev;
use crate::subscription_support::{Catalog, id, monthly};

on_both_backends!(
    backdated_subscription_catches_up_in_order_once,
    racing_schedulers_bill_each_period_once,
    grace_period_keeps_the_draft_open_to_late_usage,
    issuing_a_period_draft_recomputes_it,
    upcoming_invoice_is_the_current_period_so_far,
    changes_and_cancellations_reschedule_billing,
    credit_grants_are_drawn_once_per_invoice,
    racing_schedulers_finalize_drafts_and_bill_new_periods,
);

fn at(s: &str) -> i64 {
    parse_rfc3339(s).unwrap()
}

fn no_grace() -> Settings {
    Settings::default()
}

/// A subscription of the catalog's customer from `start`: seats at 100.00 a month in advance
/// and API calls at 0.01 each in arrears; invoices issued automatically unless `billing` says
/// otherwise.
async fn subscribe(app: &TestApp, c: &Catalog, start: &str, billing: Value) -> String {
    let mut body = json!({
        "customer_id": c.customer,
        "contract": {"start_date": start, "period_type": "monthly_rolling"},
        "items": [{"product_id": c.seats, "price": monthly("100.00")},
                  {"product_id": c.api, "price": unit_price(&c.calls, "0.01")}],
        "auto_activate": true,
    });
    body["billing"] = if billing.is_null() {
        json!({"auto_issue_invoices": true})
    } else {
        billing
    };
    id(&app.subscription(body).await)
}

async fn calls(app: &TestApp, prefix: &str, n: usize, ts: &str) {
    let events: Vec<Value> = (0..n)
        .map(|i| ev(&format!("{prefix}-{i}"), "globex", "api", ts, json!({})))
        .collect();
    for chunk in events.chunks(100) {
        let r = app.ingest(json!(chunk)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.body["failed"].as_array().unwrap().is_empty(),
            "{}",
            r.text
        );
    }
}

/// The subscription's invoices (full documents), oldest invoicing date first.
async fn invoices_of(app: &TestApp, sub: &str) -> Vec<Value> {
    let list = app
        .ok(&format!("/invoices?subscription_id={sub}&limit=100"))
        .await;
    let mut out = Vec::new();
    for i in list["data"].as_array().unwrap() {
        out.push(
            app.ok(&format!("/invoices/{}", i["id"].as_str().unwrap()))
                .await,
        );
    }
    out.sort_by_key(|i| at(i["invoicing_date"].as_str().unwrap()));
    out
}

fn line_amounts(inv: &Value) -> Vec<(String, String)> {
    inv["line_items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap_or("").to_string(),
                l["total_price"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn backdated_subscription_catches_up_in_order_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    calls(&app, "jan", 250, "2025-01-15T12:00:00Z").await;
    calls(&app, "feb", 40, "2025-02-03T08:00:00Z").await;
    let sub = subscribe(&app, &c, "2025-01-01", Value::Null).await;

    let now = at("2025-03-01T00:00:01Z");
    let first = run_once(&app.state.db, now, &no_grace()).await.unwrap();
    assert_eq!(first.created, 3, "{first:?}");
    let again = run_once(&app.state.db, now, &no_grace()).await.unwrap();
    assert_eq!(
        again.created, 0,
        "a second round finds every period invoiced"
    );

    let inv = invoices_of(&app, &sub).await;
    let dates: Vec<&str> = inv
        .iter()
        .map(|i| i["invoicing_date"].as_str().unwrap())
        .collect();
    assert_eq!(
        dates,
        [
            "2025-01-01T00:00:00.000000Z",
            "2025-02-01T00:00:00.000000Z",
            "2025-03-01T00:00:00.000000Z"
        ]
    );
    // Jan 1: January's seats in advance. Feb 1: February's seats + January's 250 calls × 0.01.
    // Mar 1: March's seats + February's 40 calls.
    assert_eq!(
        line_amounts(&inv[0]),
        [("fixed_advance".into(), "100.00".into())]
    );
    assert_eq!(inv[1]["total"], "102.50");
    assert_eq!(inv[2]["total"], "100.40");
    assert!(line_amounts(&inv[1]).contains(&("usage".into(), "2.50".into())));
    // Issued at once (auto_issue_invoices, no grace), numbered in the order of their periods.
    let refs: Vec<&str> = inv
        .iter()
        .map(|i| i["external_reference"].as_str().unwrap())
        .collect();
    assert_eq!(refs, ["INV-000001", "INV-000002", "INV-000003"]);
    for i in &inv {
        assert_eq!(i["subscription_id"], sub.as_str());
    }

    // The next boundary is April 1; nothing is due before it.
    let mut c2 = app.state.db.read().await.unwrap();
    let (billed, bill_at, error) = billing_runs::progress(&mut c2, &tenant_org(&app).await, &sub)
        .await
        .unwrap()
        .unwrap();
    drop(c2);
    assert_eq!(billed, Some(at("2025-03-01T00:00:00Z")));
    assert_eq!(bill_at, Some(at("2025-04-01T00:00:00Z")));
    assert_eq!(error, None);
    let later = run_once(&app.state.db, at("2025-03-31T23:59:59Z"), &no_grace())
        .await
        .unwrap();
    assert_eq!(later.created, 0);
    let april = run_once(&app.state.db, at("2025-04-01T00:00:00Z"), &no_grace())
        .await
        .unwrap();
    assert_eq!(april.created, 1);
}

/// The organization the bootstrap key belongs to.
async fn tenant_org(app: &TestApp) -> String {
    app.ok("/organization").await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The catalog's customer and two more: racing tests give their subscriptions to these in turn,
/// so batches hold subscriptions of several customers in different orders.
async fn three_customers(app: &TestApp, c: &Catalog) -> Vec<String> {
    let mut customers = vec![c.customer.clone()];
    for name in ["Initech", "Umbrella"] {
        customers.push(id(&app.customer(name, &[]).await));
    }
    customers
}

/// Four schedulers racing at `now`, each running rounds until one does nothing (as the loop in
/// `abacus serve` would); then, as later rounds of `abacus serve` would, rounds take what a
/// scheduler left when it found every due row locked by the others (on PostgreSQL). What all the
/// rounds did, summed.
async fn race(app: &TestApp, now: i64, settings: Settings) -> billing::Report {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let db = app.state.db.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = billing::Report::default();
            loop {
                let r = run_once(&db, now, &settings).await.unwrap();
                if r == billing::Report::default() {
                    return done;
                }
                done += r;
            }
        }));
    }
    let mut done = billing::Report::default();
    for t in tasks {
        done += t.await.unwrap();
    }
    loop {
        let r = run_once(&app.state.db, now, &settings).await.unwrap();
        if r == billing::Report::default() {
            return done;
        }
        done += r;
    }
}

async fn racing_schedulers_bill_each_period_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    // Three customers with four subscriptions each, created in turn: batches hold subscriptions
    // of several customers in different orders, which deadlocks schedulers that lock customers
    // as they reach them.
    let customers = three_customers(&app, &c).await;
    let mut subs = Vec::new();
    for i in 0..12 {
        let of = Catalog {
            customer: customers[i % 3].clone(),
            ..c.clone()
        };
        subs.push(subscribe(&app, &of, "2024-01-01", Value::Null).await);
    }
    // 2024-01-01 .. 2025-01-01: 13 boundaries each, claimed 3 subscriptions at a time by four
    // schedulers at once (each with its claim loops side by side on PostgreSQL), each catching up
    // at most 5 boundaries per transaction.
    let now = at("2025-01-01T00:00:00Z");
    let settings = Settings {
        batch: 3,
        max_boundaries: 5,
        ..Settings::default()
    };
    let created = race(&app, now, settings).await.created;
    assert_eq!(created, 12 * 13, "every period invoiced once in all");
    for s in &subs {
        let inv = invoices_of(&app, s).await;
        assert_eq!(inv.len(), 13, "subscription {s}");
        let mut dates: Vec<&str> = inv
            .iter()
            .map(|i| i["invoicing_date"].as_str().unwrap())
            .collect();
        dates.dedup();
        assert_eq!(dates.len(), 13);
        assert_eq!(dates[0], "2024-01-01T00:00:00.000000Z");
        assert_eq!(dates[12], "2025-01-01T00:00:00.000000Z");
    }
    // Numbers are gap-free across the racing schedulers.
    let mut numbers: Vec<String> = Vec::new();
    for offset in [0, 100] {
        let page = app
            .ok(&format!("/invoices?limit=100&offset={offset}"))
            .await;
        numbers.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["external_reference"].as_str().unwrap().to_string()),
        );
    }
    numbers.sort();
    let expected: Vec<String> = (1..=156).map(|n| format!("INV-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

async fn grace_period_keeps_the_draft_open_to_late_usage(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    calls(&app, "a", 100, "2025-01-20T00:00:00Z").await;
    let sub = subscribe(&app, &c, "2025-01-01", Value::Null).await;
    let grace = Settings {
        grace: 3_600_000_000,
        refresh_every: 60_000_000,
        ..Settings::default()
    };
    // Jan 1 is long past its grace at Feb 1 00:00:01; Feb 1's invoice is a draft for an hour.
    run_once(&app.state.db, at("2025-02-01T00:00:01Z"), &grace)
        .await
        .unwrap();
    let inv = invoices_of(&app, &sub).await;
    assert_eq!(inv.len(), 2);
    assert_ne!(inv[0]["status"], "draft");
    assert_eq!(inv[1]["status"], "draft");
    assert_eq!(inv[1]["total"], "101.00", "February's seats and 100 calls");

    // Late usage for January, inside the grace period: the next refresh adds it to the draft.
    calls(&app, "late", 50, "2025-01-31T23:00:00Z").await;
    let r = run_once(&app.state.db, at("2025-02-01T00:00:30Z"), &grace)
        .await
        .unwrap();
    assert_eq!(r.refreshed, 0, "refreshed at most once a minute");
    let r = run_once(&app.state.db, at("2025-02-01T00:01:05Z"), &grace)
        .await
        .unwrap();
    assert_eq!(r.refreshed, 1);
    let draft = app
        .ok(&format!("/invoices/{}", inv[1]["id"].as_str().unwrap()))
        .await;
    assert_eq!(draft["status"], "draft");
    assert_eq!(draft["total"], "101.50");

    // More late usage, then the grace period ends: a last recomputation, then the issue.
    calls(&app, "later", 25, "2025-01-31T23:30:00Z").await;
    let r = run_once(&app.state.db, at("2025-02-01T01:00:00Z"), &grace)
        .await
        .unwrap();
    assert_eq!(r.finalized, 1);
    let issued = app
        .ok(&format!("/invoices/{}", inv[1]["id"].as_str().unwrap()))
        .await;
    // Issued on Feb 1 2025 with net-30 terms: overdue by now.
    assert_eq!(issued["status"], "overdue");
    assert!(issued["issue_date"].is_string());
    assert_eq!(issued["total"], "101.75");
    assert_eq!(issued["external_reference"], "INV-000002");

    // Usage after the issue does not change the issued invoice (corrections are credit notes).
    calls(&app, "too-late", 10, "2025-01-31T23:45:00Z").await;
    let r = run_once(&app.state.db, at("2025-02-01T02:00:00Z"), &grace)
        .await
        .unwrap();
    assert_eq!((r.created, r.refreshed, r.finalized), (0, 0, 0));
    let still = app
        .ok(&format!("/invoices/{}", inv[1]["id"].as_str().unwrap()))
        .await;
    assert_eq!(still["total"], "101.75");
    assert_eq!(still["line_items"], issued["line_items"]);
}

async fn issuing_a_period_draft_recomputes_it(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    let sub = subscribe(
        &app,
        &c,
        "2025-01-01",
        json!({"auto_issue_invoices": false, "payment_terms": "net_30"}),
    )
    .await;
    run_once(&app.state.db, at("2025-02-01T00:00:00Z"), &no_grace())
        .await
        .unwrap();
    let inv = invoices_of(&app, &sub).await;
    assert_eq!(inv.len(), 2);
    assert!(inv.iter().all(|i| i["status"] == "draft"), "{inv:?}");
    assert_eq!(inv[1]["total"], "100.00");
    let feb = inv[1]["id"].as_str().unwrap().to_string();

    // A line added by hand survives the recomputation; January's late calls are added.
    let r = app
        .post_v2(
            &format!("/invoices/{feb}/line-items"),
            &json!({"description": "Onboarding", "quantity": "1", "unit_price": "30.00"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    calls(&app, "late", 300, "2025-01-10T00:00:00Z").await;
    let r = app
        .post_v2(&format!("/invoices/{feb}/issue"), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "issued");
    assert_eq!(
        r.body["total"], "133.00",
        "100.00 seats + 3.00 calls + 30.00 by hand"
    );
    let kinds: Vec<String> = line_amounts(&r.body).into_iter().map(|l| l.0).collect();
    assert_eq!(kinds, ["usage", "fixed_advance", "manual"]);
}

async fn upcoming_invoice_is_the_current_period_so_far(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    let today = crate::subscription_support::today();
    let first = today.first_of_month().to_string();
    let sub = subscribe(&app, &c, &first, Value::Null).await;
    let up = app
        .ok(&format!("/subscriptions/{sub}/upcoming-invoice"))
        .await;
    assert_eq!(up["status"], "upcoming");
    assert_eq!(up["id"], format!("upcoming_{sub}"));
    let next = today
        .first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .unwrap();
    assert_eq!(
        up["invoicing_date"],
        format!("{next}T00:00:00.000000Z"),
        "the end of the current period"
    );
    // Next month's seats in advance, this month's usage so far (none).
    assert_eq!(up["total"], "100.00");

    let now = jiff::Timestamp::now().to_string();
    calls(&app, "now", 20, &now).await;
    let up = app
        .ok(&format!("/subscriptions/{sub}/upcoming-invoice"))
        .await;
    assert_eq!(up["total"], "100.20");
    // Nothing is stored.
    let list = app.ok(&format!("/invoices?subscription_id={sub}")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);

    let draft = app
        .subscription(json!({"customer_id": c.customer,
                             "items": [{"product_id": c.seats, "price": monthly("1.00")}]}))
        .await;
    app.get_v2(&format!("/subscriptions/{}/upcoming-invoice", id(&draft)))
        .await
        .problem(409);
    app.get_v2("/subscriptions/nope1234/upcoming-invoice")
        .await
        .problem(404);
    let other = app.new_tenant().await;
    let r = app
        .send(
            app.http
                .get(app.url(&format!("/subscriptions/{sub}/upcoming-invoice")))
                .bearer_auth(other)
                .header("Alguna-Version", "2026-04-01"),
        )
        .await;
    r.problem(404);
}

async fn changes_and_cancellations_reschedule_billing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    let today = crate::subscription_support::today();
    let first = today.first_of_month().to_string();
    let sub = subscribe(&app, &c, &first, Value::Null).await;
    let now = abacus_core::time::now_micros();
    let r = run_once(&app.state.db, now, &no_grace()).await.unwrap();
    assert_eq!(r.created, 1, "this month's advance fee");
    let org = tenant_org(&app).await;
    let mut conn = app.state.db.read().await.unwrap();
    let (_, bill_at, _) = billing_runs::progress(&mut conn, &org, &sub)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    assert!(bill_at.unwrap() > now, "next boundary ahead");

    // An immediate cancellation is a boundary now: the unused days of the month are credited.
    let r = app
        .post_v2(
            &format!("/subscriptions/{sub}/cancel"),
            &json!({"reason": "other", "effective": "immediate"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let mut conn = app.state.db.read().await.unwrap();
    let (_, bill_at, _) = billing_runs::progress(&mut conn, &org, &sub)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    assert_eq!(bill_at, None, "a write makes the scheduler look again");
    let r = run_once(&app.state.db, abacus_core::time::now_micros(), &no_grace())
        .await
        .unwrap();
    assert_eq!(r.created, 1, "{r:?}");
    let inv = invoices_of(&app, &sub).await;
    assert_eq!(inv.len(), 2);
    let kinds: Vec<String> = line_amounts(&inv[1]).into_iter().map(|l| l.0).collect();
    assert!(kinds.contains(&"proration_credit".to_string()), "{kinds:?}");
    let mut conn = app.state.db.read().await.unwrap();
    let (_, bill_at, _) = billing_runs::progress(&mut conn, &org, &sub)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bill_at, Some(billing_runs::NOTHING_LEFT));
}

async fn credit_grants_are_drawn_once_per_invoice(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    // From the first of last month: last month's invoice and this month's. Grants count from
    // when they are made, so this test bills at the real time.
    let this_month = crate::subscription_support::today().first_of_month();
    let last_month = this_month.checked_sub(jiff::Span::new().months(1)).unwrap();
    let sub = subscribe(&app, &c, &last_month.to_string(), Value::Null).await;
    let r = app
        .post_v2(
            &format!("/subscriptions/{sub}/credits/grant"),
            &json!({"amount": "150.00", "reason": "Migration credit"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let now = abacus_core::time::now_micros();
    let this_month_at = at(&format!("{this_month}T00:00:00Z"));
    // This month's invoice stays a draft: its grace runs until tomorrow.
    let grace = Settings {
        grace: now - this_month_at + 86_400_000_000,
        refresh_every: 1,
        ..Settings::default()
    };
    run_once(&app.state.db, now, &grace).await.unwrap();
    let inv = invoices_of(&app, &sub).await;
    assert_eq!(inv.len(), 2);
    // Last month: 100.00 owed, all of it paid from the grant. This month (a draft): the 50.00
    // left.
    assert_eq!(inv[0]["credits_applied"], "100.00");
    assert_eq!(inv[0]["amount_remaining"], "0.00");
    assert_eq!(inv[1]["status"], "draft");
    assert_eq!(inv[1]["credits_applied"], "50.00");
    assert!(line_amounts(&inv[1]).contains(&("credit_applied".into(), "-50.00".into())));
    let balance = app
        .ok(&format!("/subscriptions/{sub}/credits/balance"))
        .await;
    assert_eq!(balance["balance"], "0.00");

    // Recomputing the draft (late usage) draws the same credit again, not on top.
    let late = format!("{}T12:00:00Z", this_month.yesterday().unwrap());
    calls(&app, "late", 10, &late).await;
    let r = run_once(&app.state.db, abacus_core::time::now_micros(), &grace)
        .await
        .unwrap();
    assert_eq!(r.refreshed, 1);
    let draft = app
        .ok(&format!("/invoices/{}", inv[1]["id"].as_str().unwrap()))
        .await;
    assert_eq!(draft["total"], "100.10");
    assert_eq!(draft["credits_applied"], "50.00");
    assert_eq!(draft["amount_remaining"], "50.10");
    let balance = app
        .ok(&format!("/subscriptions/{sub}/credits/balance"))
        .await;
    assert_eq!(balance["balance"], "0.00");
    // Last month's invoice, settled by the grant, is paid.
    assert_eq!(inv[0]["status"], "paid");
}

/// Schedulers racing over rounds that both finalize drafts (recomputed, their credit drawn again,
/// issued) and bill new periods (issued, credit drawn) of the same subscriptions, customers and
/// counter: every invoice once, credit drawn once, numbers gap-free, and no round fails (on
/// PostgreSQL, a lock taken in another order by each would deadlock one of them).
async fn racing_schedulers_finalize_drafts_and_bill_new_periods(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    let customers = three_customers(&app, &c).await;
    let month = |n: i64| {
        let d = crate::subscription_support::today().first_of_month();
        let d = d.checked_add(jiff::Span::new().months(n)).unwrap();
        at(&format!("{d}T00:00:00Z"))
    };
    let this_month = crate::subscription_support::today().first_of_month();
    let mut subs = Vec::new();
    for i in 0..12 {
        let of = Catalog {
            customer: customers[i % 3].clone(),
            ..c.clone()
        };
        let sub = subscribe(&app, &of, &this_month.to_string(), Value::Null).await;
        let r = app
            .post_v2(
                &format!("/subscriptions/{sub}/credits/grant"),
                &json!({"amount": "150.00", "reason": "Launch credit"}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        subs.push(sub);
    }
    let settings = Settings {
        grace: 3_600_000_000,
        batch: 3,
        ..Settings::default()
    };
    // Half an hour into next month: this month's invoice is issued, next month's is a draft.
    let first = run_once(&app.state.db, month(1) + 1_800_000_000, &settings)
        .await
        .unwrap();
    assert_eq!(first.created, 24);
    // Two hours into the month after: the drafts' grace has ended and a new period is due.
    let now = month(2) + 7_200_000_000;
    let done = race(&app, now, settings).await;
    assert_eq!((done.created, done.finalized), (12, 12));
    for s in &subs {
        let inv = invoices_of(&app, s).await;
        let seen: Vec<(&str, &str, &str)> = inv
            .iter()
            .map(|i| {
                (
                    i["status"].as_str().unwrap(),
                    i["credits_applied"].as_str().unwrap(),
                    i["amount_remaining"].as_str().unwrap(),
                )
            })
            .collect();
        // 150.00 of credit: 100.00 to this month, the 50.00 left to next month, none after.
        assert_eq!(
            seen,
            [
                ("paid", "100.00", "0.00"),
                ("issued", "50.00", "50.00"),
                ("issued", "0.00", "100.00")
            ],
            "subscription {s}"
        );
    }
    let page = app.ok("/invoices?limit=100").await;
    let mut numbers: Vec<String> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["external_reference"].as_str().unwrap().to_string())
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=36).map(|n| format!("INV-{n:06}")).collect();
    assert_eq!(numbers, expected);
}
