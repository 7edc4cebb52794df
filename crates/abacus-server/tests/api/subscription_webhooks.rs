//! Every subscription event fires exactly once for its state change, from the transaction of the
//! change: `subscription.version.updated` (a version created, replaced, published, or made by a
//! change), `subscription.updated` (a PATCH that changes something), `subscription.activated`,
//! `subscription.started` (at activation when the contract has started), and
//! `subscription.cancelation_scheduled`, `subscription.cancelation_reverted` and
//! `subscription.canceled` (an immediate cancellation). Replays, no-op writes, previews, reads
//! and refused requests send nothing. The time-based events are `subscription_sweep.rs`.

use std::time::Duration;

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Resp, TestApp, V2};
use crate::subscription_support::{Catalog, days_from_today, id, monthly};
use crate::webhook_support::{Receiver, endpoint, fast, org_of};

on_both_backends!(each_request_sends_its_event_once);

/// A server delivering webhooks fast, whose subscription sweep runs every 20 ms (so it has every
/// chance to send something twice).
pub async fn app(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, |c| {
        fast(10_000)(c);
        c.subscriptions_sweep_poll_ms = 20;
    })
    .await
}

/// `(type, data.id, data.status)` of an event body.
pub type Key = (String, String, String);

pub fn key(body: &Value) -> Key {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (
        s(&body["type"]),
        s(&body["data"]["id"]),
        s(&body["data"]["status"]),
    )
}

pub fn k(t: &str, id: &str, status: &str) -> Key {
    (t.to_string(), id.to_string(), status.to_string())
}

pub fn sorted(mut keys: Vec<Key>) -> Vec<Key> {
    keys.sort();
    keys
}

/// The bodies the outbox recorded for `endpoint`, oldest first (the exact bytes it sends).
pub async fn outbox(app: &TestApp, endpoint: &str) -> Vec<String> {
    let org = org_of(app).await;
    let mut c = app.state.db.read().await.unwrap();
    let (messages, _) =
        abacus_store::webhooks::list_messages(&mut c, &org, endpoint, None, 100_000, 0)
            .await
            .unwrap();
    messages.into_iter().rev().map(|m| m.payload).collect()
}

async fn send(app: &TestApp, method: Method, path: &str, body: Value, key: Option<&str>) -> Resp {
    let mut rb = app.req(method, path).header(V2.0, V2.1).json(&body);
    if let Some(k) = key {
        rb = rb.header("Idempotency-Key", k);
    }
    app.send(rb).await
}

/// A write that must succeed.
async fn ok(app: &TestApp, method: Method, path: &str, body: Value, key: Option<&str>) -> Value {
    let r = send(app, method.clone(), path, body, key).await;
    assert!(
        r.status == 200 || r.status == 201,
        "{method} {path}: {}",
        r.text
    );
    r.body
}

/// What [`flow`] did: every event it must have caused, and the bodies to check.
pub struct Flow {
    pub expected: Vec<Key>,
    pub customer: String,
    /// The subscription taken through its whole life.
    pub sub: String,
}

/// Takes a subscription from draft to canceled through every request that sends an event, with
/// replays, no-ops, previews, reads and refused requests in between; and a few more
/// subscriptions around it.
pub async fn flow(app: &TestApp, c: &Catalog) -> Flow {
    let mut expected = Vec::new();
    let vu = "subscription.version.updated";

    // A draft: its first version is created (a draft). A replay creates nothing.
    let create = json!({"customer_id": c.customer, "plan_id": c.plan, "name": "Growth for Globex",
                        "contract": {"start_date": days_from_today(-10)}});
    let s = ok(
        app,
        Method::POST,
        "/subscriptions",
        create.clone(),
        Some("sub-create-1"),
    )
    .await;
    let again = ok(
        app,
        Method::POST,
        "/subscriptions",
        create,
        Some("sub-create-1"),
    )
    .await;
    assert_eq!(again["id"], s["id"]);
    let sid = id(&s);
    let path = format!("/subscriptions/{sid}");
    let v1 = s["pending_changes"][0]["version_id"]
        .as_str()
        .unwrap()
        .to_string();
    expected.push(k(vu, &v1, "draft"));

    // A PATCH that changes something sends subscription.updated; the same PATCH again does not.
    ok(app, Method::PATCH, &path, json!({"name": "Growth"}), None).await;
    expected.push(k("subscription.updated", &sid, "draft"));
    ok(app, Method::PATCH, &path, json!({"name": "Growth"}), None).await;

    // Activation: activated, its draft version published, and started (the contract began ten
    // days ago). Replayed, and activated again: nothing.
    let a = ok(
        app,
        Method::POST,
        &format!("{path}/activate"),
        json!({}),
        Some("sub-act-1"),
    )
    .await;
    assert_eq!(a["status"], "active");
    ok(
        app,
        Method::POST,
        &format!("{path}/activate"),
        json!({}),
        Some("sub-act-1"),
    )
    .await;
    ok(
        app,
        Method::POST,
        &format!("{path}/activate"),
        json!({}),
        None,
    )
    .await;
    expected.push(k("subscription.activated", &sid, "active"));
    expected.push(k(vu, &v1, "published"));
    expected.push(k("subscription.started", &sid, "active"));

    // Top-level attributes: metadata, billing flags, renewal. The same metadata again: nothing.
    ok(
        app,
        Method::PATCH,
        &path,
        json!({"metadata": {"team": "core"}}),
        None,
    )
    .await;
    ok(
        app,
        Method::PATCH,
        &path,
        json!({"metadata": {"team": "core"}}),
        None,
    )
    .await;
    ok(
        app,
        Method::PATCH,
        &path,
        json!({"billing": {"auto_issue_invoices": true}}),
        None,
    )
    .await;
    ok(
        app,
        Method::PATCH,
        &path,
        json!({"renewal": {"auto_renew": false}}),
        None,
    )
    .await;
    for _ in 0..3 {
        expected.push(k("subscription.updated", &sid, "active"));
    }
    // A PATCH refused (items belong to versions) sends nothing.
    let r = send(app, Method::PATCH, &path, json!({"items": []}), None).await;
    assert_eq!(r.status, 422, "{}", r.text);

    // Versions: created (draft), replaced, published; a draft created then deleted.
    let items = |amount: &str| {
        json!([{"product_id": c.seats, "price": monthly(amount)},
               {"product_id": c.api, "price": crate::catalog_support::unit_price(&c.calls, "0.01")}])
    };
    let v2 = ok(
        app,
        Method::POST,
        &format!("{path}/versions"),
        json!({"items": items("129.00")}),
        None,
    )
    .await;
    let v2 = id(&v2);
    ok(
        app,
        Method::PUT,
        &format!("{path}/versions/{v2}"),
        json!({"items": items("139.00")}),
        None,
    )
    .await;
    ok(
        app,
        Method::POST,
        &format!("{path}/versions/{v2}/publish"),
        json!({}),
        Some("sub-pub-1"),
    )
    .await;
    ok(
        app,
        Method::POST,
        &format!("{path}/versions/{v2}/publish"),
        json!({}),
        Some("sub-pub-1"),
    )
    .await;
    let r = send(
        app,
        Method::POST,
        &format!("{path}/versions/{v2}/publish"),
        json!({}),
        None,
    )
    .await;
    assert_eq!(r.status, 409, "publishing twice: {}", r.text);
    expected.push(k(vu, &v2, "draft"));
    expected.push(k(vu, &v2, "draft"));
    expected.push(k(vu, &v2, "published"));
    let gone = ok(
        app,
        Method::POST,
        &format!("{path}/versions"),
        json!({"items": items("1.00")}),
        None,
    )
    .await;
    expected.push(k(vu, &id(&gone), "draft"));
    ok(
        app,
        Method::DELETE,
        &format!("{path}/versions/{}", id(&gone)),
        json!({}),
        None,
    )
    .await;

    // Changes: a preview writes nothing; a change publishes a version; a staged one is a draft.
    let change = json!({"update": [{"product_id": c.seats, "new_price": monthly("149.00")}]});
    ok(
        app,
        Method::POST,
        &format!("{path}/changes/preview"),
        change.clone(),
        None,
    )
    .await;
    let ch = ok(
        app,
        Method::POST,
        &format!("{path}/changes"),
        change,
        Some("sub-chg-1"),
    )
    .await;
    let again = ok(
        app,
        Method::POST,
        &format!("{path}/changes"),
        json!({"update": [{"product_id": c.seats, "new_price": monthly("149.00")}]}),
        Some("sub-chg-1"),
    )
    .await;
    assert_eq!(again["version_id"], ch["version_id"]);
    expected.push(k(vu, ch["version_id"].as_str().unwrap(), "published"));
    let staged = ok(
        app,
        Method::POST,
        &format!("{path}/changes"),
        json!({"remove": [{"product_id": c.api}], "draft": true}),
        None,
    )
    .await;
    expected.push(k(vu, staged["version_id"].as_str().unwrap(), "draft"));

    // Reads send nothing.
    for p in [
        path.clone(),
        format!("{path}/versions"),
        format!("{path}/billing-dates"),
        format!("{path}/entitlements"),
    ] {
        app.ok(&p).await;
    }

    // A cancellation scheduled, moved (scheduled again), reverted; reverting again is refused.
    let cancel = |date: String| json!({"reason": "pricing", "effective": date});
    let x = ok(
        app,
        Method::POST,
        &format!("{path}/cancel"),
        cancel(days_from_today(10)),
        Some("sub-cancel-later"),
    )
    .await;
    assert_eq!(x["cancellation"]["status"], "scheduled");
    ok(
        app,
        Method::POST,
        &format!("{path}/cancel"),
        cancel(days_from_today(10)),
        Some("sub-cancel-later"),
    )
    .await;
    ok(
        app,
        Method::POST,
        &format!("{path}/cancel"),
        cancel(days_from_today(12)),
        None,
    )
    .await;
    expected.push(k("subscription.cancelation_scheduled", &sid, "active"));
    expected.push(k("subscription.cancelation_scheduled", &sid, "active"));
    ok(
        app,
        Method::POST,
        &format!("{path}/cancel/revert"),
        json!({}),
        None,
    )
    .await;
    expected.push(k("subscription.cancelation_reverted", &sid, "active"));
    let r = send(
        app,
        Method::POST,
        &format!("{path}/cancel/revert"),
        json!({}),
        None,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    // A cancellation with a bad reason is refused: nothing.
    let r = send(
        app,
        Method::POST,
        &format!("{path}/cancel"),
        json!({"reason": "bored"}),
        None,
    )
    .await;
    assert_eq!(r.status, 422, "{}", r.text);

    // Canceled at once; replayed; canceled again (409): one subscription.canceled.
    let x = ok(
        app,
        Method::POST,
        &format!("{path}/cancel"),
        json!({"reason": "no_longer_required"}),
        Some("sub-cancel-now"),
    )
    .await;
    assert_eq!(x["status"], "canceled");
    ok(
        app,
        Method::POST,
        &format!("{path}/cancel"),
        json!({"reason": "no_longer_required"}),
        Some("sub-cancel-now"),
    )
    .await;
    let r = send(
        app,
        Method::POST,
        &format!("{path}/cancel"),
        json!({"reason": "no_longer_required"}),
        None,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.text);
    expected.push(k("subscription.canceled", &sid, "canceled"));
    // A canceled subscription can still be renamed.
    ok(
        app,
        Method::PATCH,
        &path,
        json!({"name": "Growth (ended)"}),
        None,
    )
    .await;
    expected.push(k("subscription.updated", &sid, "canceled"));

    // Created active with a contract that starts in five days: activated and its version
    // published, but not started (the sweep sends that when the day comes).
    let later = app.active(c, &days_from_today(5), "10.00").await;
    expected.push(k("subscription.activated", &id(&later), "active"));
    expected.push(k(
        vu,
        later["current_version_id"]
            .as_str()
            .or(later["pending_changes"][0]["version_id"].as_str())
            .unwrap(),
        "published",
    ));
    // Created active from today: also started.
    let today = app.active(c, &days_from_today(0), "10.00").await;
    expected.push(k("subscription.activated", &id(&today), "active"));
    expected.push(k(
        vu,
        today["current_version_id"].as_str().unwrap(),
        "published",
    ));
    expected.push(k("subscription.started", &id(&today), "active"));
    // A draft created then deleted: its version's creation only.
    let d = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan}))
        .await;
    expected.push(k(
        vu,
        d["pending_changes"][0]["version_id"].as_str().unwrap(),
        "draft",
    ));
    ok(
        app,
        Method::DELETE,
        &format!("/subscriptions/{}", id(&d)),
        json!({}),
        None,
    )
    .await;

    Flow {
        expected,
        customer: c.customer.clone(),
        sub: sid,
    }
}

/// Runs [`flow`] against a receiver; returns it and the bodies delivered, after giving the sweep
/// and the delivery worker many more rounds to (wrongly) send something twice.
pub async fn captured_flow(app: &TestApp, c: &Catalog) -> (Flow, Vec<String>, Vec<String>) {
    let rx = Receiver::ok().await;
    let ep = endpoint(app, &rx.url, None).await;
    let f = flow(app, c).await;
    rx.wait_for(f.expected.len(), Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let delivered = rx.captured().into_iter().map(|c| c.body).collect();
    let recorded = outbox(app, ep["id"].as_str().unwrap()).await;
    (f, delivered, recorded)
}

async fn each_request_sends_its_event_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let c = app.catalog().await;
    let (f, delivered, recorded) = captured_flow(&app, &c).await;
    let bodies: Vec<Value> = delivered
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect();
    let got = sorted(bodies.iter().map(key).collect());
    assert_eq!(
        got,
        sorted(f.expected.clone()),
        "each event exactly once: {bodies:#?}"
    );
    // The outbox holds exactly what was delivered, byte for byte.
    let mut a = delivered.clone();
    let mut b = recorded.clone();
    a.sort();
    b.sort();
    assert_eq!(a, b);

    // The bodies carry what happened.
    let find = |t: &str| -> Vec<&Value> {
        bodies
            .iter()
            .filter(|b| b["type"] == t && b["data"]["id"] == f.sub.as_str())
            .collect()
    };
    let activated = find("subscription.activated")[0];
    let d = &activated["data"];
    assert_eq!(d["accountId"], f.customer.as_str());
    assert_eq!(d["currency"], "USD");
    assert_eq!(d["name"], "Growth");
    assert_eq!(
        d["contractStartDate"],
        format!("{}T00:00:00.000000Z", days_from_today(-10))
    );
    assert!(d["activatedAt"].is_string());
    assert!(d.get("endedAt").is_none(), "{d}");
    let scheduled = find("subscription.cancelation_scheduled");
    assert!(scheduled.iter().all(|b| b["data"]["status"] == "active"));
    let canceled = find("subscription.canceled")[0];
    assert!(canceled["data"]["endedAt"].is_string(), "{canceled}");
    let sub = app.ok(&format!("/subscriptions/{}", f.sub)).await;
    assert_eq!(canceled["data"]["endedAt"], sub["ended_at"]);
    let renamed = find("subscription.updated")
        .into_iter()
        .find(|b| b["data"]["status"] == "canceled")
        .unwrap();
    assert_eq!(renamed["data"]["name"], "Growth (ended)");
    for b in &bodies {
        assert_eq!(b["data"]["accountId"], f.customer.as_str(), "{b}");
        if b["type"] == "subscription.version.updated" {
            assert!(b["data"]["subscriptionId"].is_string(), "{b}");
        }
    }
}
