//! The subscription and version lifecycles: every allowed transition, and every forbidden one a
//! 409 with a message saying why.

use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::subscription_support::{Catalog, conflict, days_from_today, id, monthly};

on_both_backends!(
    subscription_transitions,
    cancellation_transitions,
    version_transitions,
    forbidden_transitions_are_conflicts,
    concurrent_writes_are_serialised,
);

async fn setup(backend: Backend) -> Option<(TestApp, Catalog)> {
    let app = TestApp::spawn(backend).await?;
    let c = app.catalog().await;
    Some((app, c))
}

async fn post(app: &TestApp, path: &str, body: Value) -> Value {
    let r = app.post_v2(path, &body).await;
    assert!(
        r.status == 200 || r.status == 201,
        "POST {path}: {}",
        r.text
    );
    r.body
}

async fn subscription_transitions(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    // draft → active; the first version is published at the contract start.
    let s = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan,
                             "contract": {"start_date": days_from_today(-10)}}))
        .await;
    assert_eq!(s["status"], "draft");
    let path = format!("/subscriptions/{}", id(&s));
    let a = post(&app, &format!("{path}/activate"), json!({})).await;
    assert_eq!(a["status"], "active");
    let vid = s["pending_changes"][0]["version_id"].clone();
    assert_eq!(a["current_version_id"], vid);
    assert_eq!(a["pending_changes"], json!([]));
    let v = app.ok(&format!("{path}/versions/current")).await;
    assert_eq!(v["status"], "published");
    assert_eq!(
        v["start_date"],
        format!("{}T00:00:00.000000Z", days_from_today(-10))
    );
    // active → active: activation is idempotent and changes nothing.
    let again = post(&app, &format!("{path}/activate"), json!({})).await;
    assert_eq!(again, a);
    // A draft without a start date starts on the day of activation.
    let s = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan}))
        .await;
    let a = post(
        &app,
        &format!("/subscriptions/{}/activate", id(&s)),
        json!({}),
    )
    .await;
    assert_eq!(
        a["contract"]["start_date"],
        format!("{}T00:00:00Z", days_from_today(0))
    );
    assert_eq!(
        a["contract"]["end_date"],
        format!(
            "{}T00:00:00Z",
            abacus_core::calendar::add_months(crate::subscription_support::today(), 12).unwrap()
        )
    );
    // A draft whose drafts carry dates keeps them; several drafts are all published.
    let s = app
        .subscription(json!({"customer_id": c.customer,
                             "contract": {"start_date": days_from_today(-30)},
                             "items": [{"product_id": c.seats, "price": monthly("10.00")}]}))
        .await;
    let path = format!("/subscriptions/{}", id(&s));
    let later = post(
        &app,
        &format!("{path}/versions"),
        json!({"items": [{"product_id": c.seats, "price": monthly("20.00")}],
               "effective_at": days_from_today(-5), "description": "raise"}),
    )
    .await;
    assert_eq!(later["status"], "draft");
    let a = post(&app, &format!("{path}/activate"), json!({})).await;
    assert_eq!(a["current_version_id"], later["id"]);
    let versions = app.ok(&format!("{path}/versions")).await;
    let statuses: Vec<&str> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["published", "published"]);
    assert_eq!(
        versions["data"][0]["end_date"],
        versions["data"][1]["start_date"]
    );
    // draft → deleted.
    let d = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan}))
        .await;
    let r = app.delete_v2(&format!("/subscriptions/{}", id(&d))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"id": id(&d), "deleted": true}));
    assert_eq!(
        app.get_v2(&format!("/subscriptions/{}", id(&d)))
            .await
            .status,
        404
    );
}

async fn cancellation_transitions(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    // active → canceled, immediately.
    let s = app.active(&c, &days_from_today(-20), "99.00").await;
    let path = format!("/subscriptions/{}", id(&s));
    let x = post(
        &app,
        &format!("{path}/cancel"),
        json!({"reason": "no_longer_required", "reason_description": "Closed the team"}),
    )
    .await;
    assert_eq!(x["status"], "canceled");
    assert_eq!(x["cancellation"]["status"], "canceled");
    assert_eq!(x["cancellation"]["reason"], "no_longer_required");
    assert_eq!(x["ended_at"], x["cancellation"]["effective_at"]);
    assert_eq!(x["current_version_id"], Value::Null);
    let d = app.ok(&format!("{path}/billing-dates")).await;
    assert_eq!(d["current_cycle"], Value::Null);
    assert_eq!(d["next_billing_date"], Value::Null);

    // active → cancellation scheduled (a date) → reverted → scheduled again (end of the
    // billing period) → replaced by an immediate cancellation.
    let s = app.active(&c, "2024-01-15", "99.00").await;
    let path = format!("/subscriptions/{}", id(&s));
    let date = days_from_today(10);
    let x = post(
        &app,
        &format!("{path}/cancel"),
        json!({"reason": "pricing", "effective": date}),
    )
    .await;
    assert_eq!(x["status"], "active");
    assert_eq!(x["cancellation"]["status"], "scheduled");
    assert_eq!(
        x["cancellation"]["effective_at"],
        format!("{date}T00:00:00.000000Z")
    );
    assert_eq!(x["ended_at"], Value::Null);
    let d = app.ok(&format!("{path}/billing-dates")).await;
    assert_eq!(d["contract_end_date"], date.as_str());
    assert_eq!(d["next_renewal_date"], Value::Null);
    let r = post(&app, &format!("{path}/cancel/revert"), json!({})).await;
    assert_eq!(r["status"], "active");
    assert_eq!(r["cancellation"], Value::Null);
    let x = post(
        &app,
        &format!("{path}/cancel"),
        json!({"reason": "support", "effective": "next_billing_period"}),
    )
    .await;
    let d = app.ok(&format!("{path}/billing-dates")).await;
    assert_eq!(
        x["cancellation"]["effective_at"],
        format!(
            "{}T00:00:00.000000Z",
            d["current_cycle"]["end_date"].as_str().unwrap()
        )
    );
    let x = post(
        &app,
        &format!("{path}/cancel"),
        json!({"reason": "support"}),
    )
    .await;
    assert_eq!(x["status"], "canceled");

    // A fixed contract canceled at the end of its term; a scheduled cancellation takes effect
    // when its time comes.
    let s = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan,
                             "contract": {"start_date": days_from_today(-3)}, "auto_activate": true}))
        .await;
    let path = format!("/subscriptions/{}", id(&s));
    let x = post(
        &app,
        &format!("{path}/cancel"),
        json!({"reason": "moving_provider", "effective": "end_of_term"}),
    )
    .await;
    let end = abacus_core::calendar::add_months(
        crate::subscription_support::today()
            .checked_sub(jiff::Span::new().days(3))
            .unwrap(),
        12,
    )
    .unwrap();
    assert_eq!(
        x["cancellation"]["effective_at"],
        format!("{end}T00:00:00.000000Z")
    );
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(1500);
    let s = app.active(&c, &days_from_today(-2), "5.00").await;
    let path = format!("/subscriptions/{}", id(&s));
    let x = post(
        &app,
        &format!("{path}/cancel"),
        json!({"reason": "other", "effective": soon.to_string()}),
    )
    .await;
    assert_eq!(x["status"], "active");
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    let x = app.ok(&path).await;
    assert_eq!(x["status"], "canceled");
    assert_eq!(x["cancellation"]["status"], "canceled");
    assert!(x["ended_at"].as_str().is_some());
    let r = app
        .post_v2(&format!("{path}/cancel/revert"), &json!({}))
        .await;
    conflict(&r, "already taken effect");
}

async fn version_transitions(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let s = app.active(&c, &days_from_today(-20), "99.00").await;
    let path = format!("/subscriptions/{}", id(&s));
    // create (draft) → replace → publish: it becomes current.
    let d = post(
        &app,
        &format!("{path}/versions"),
        json!({"items": [{"product_id": c.seats, "price": monthly("129.00")}], "description": "v2"}),
    )
    .await;
    assert_eq!(
        (d["status"].as_str(), d["number"].as_i64()),
        (Some("draft"), Some(2))
    );
    let listed = app.ok(&path).await;
    assert_eq!(listed["pending_changes"][0]["version_id"], d["id"]);
    let r = app
        .put_v2(
            &format!("{path}/versions/{}", id(&d)),
            &json!({"items": [{"product_id": c.seats, "price": monthly("139.00")},
                              {"product_id": c.sso, "price": monthly("9.00")}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["description"], "v2", "left-out fields are kept");
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let p = post(
        &app,
        &format!("{path}/versions/{}/publish", id(&d)),
        json!({}),
    )
    .await;
    assert_eq!(p["status"], "published");
    assert!(p["published_at"].as_str().is_some());
    let now = app.ok(&path).await;
    assert_eq!(now["current_version_id"], d["id"]);
    let first = app
        .ok(&format!(
            "{path}/versions/{}",
            s["current_version_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(first["end_date"], p["start_date"]);
    // A draft with a future date, published: a pending change until then.
    let f = post(
        &app,
        &format!("{path}/versions"),
        json!({"items": [{"product_id": c.seats, "price": monthly("149.00")}],
               "effective_at": days_from_today(15)}),
    )
    .await;
    post(
        &app,
        &format!("{path}/versions/{}/publish", id(&f)),
        json!({}),
    )
    .await;
    let now = app.ok(&path).await;
    assert_eq!(now["current_version_id"], d["id"]);
    assert_eq!(
        now["pending_changes"],
        json!([{"status": "published", "version_id": id(&f), "description": null,
                "effective_at": format!("{}T00:00:00.000000Z", days_from_today(15))}])
    );
    // Published at creation (draft: false).
    let n = post(
        &app,
        &format!("{path}/versions"),
        json!({"draft": false, "effective_at": "next_billing_period",
               "items": [{"product_id": c.seats, "price": monthly("159.00")}]}),
    )
    .await;
    assert_eq!(n["status"], "published");
    // create → delete (a draft).
    let x = post(
        &app,
        &format!("{path}/versions"),
        json!({"items": [{"product_id": c.seats, "price": monthly("1.00")}]}),
    )
    .await;
    let r = app.delete_v2(&format!("{path}/versions/{}", id(&x))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        app.get_v2(&format!("{path}/versions/{}", id(&x)))
            .await
            .status,
        404
    );
    let numbers: Vec<i64> = app.ok(&format!("{path}/versions")).await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
}

async fn forbidden_transitions_are_conflicts(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let active = app.active(&c, &days_from_today(-20), "99.00").await;
    let a = format!("/subscriptions/{}", id(&active));
    let published = active["current_version_id"].as_str().unwrap().to_string();
    let draft = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan}))
        .await;
    let d = format!("/subscriptions/{}", id(&draft));
    let canceled = app.active(&c, &days_from_today(-20), "49.00").await;
    let x = format!("/subscriptions/{}", id(&canceled));
    post(&app, &format!("{x}/cancel"), json!({"reason": "pricing"})).await;
    let item = json!([{"product_id": c.seats, "price": monthly("1.00")}]);
    let change = json!({"add": [{"product_id": c.sso, "new_price": monthly("5.00")}]});

    // Subscriptions.
    conflict(
        &app.post_v2(&format!("{x}/activate"), &json!({})).await,
        "canceled and cannot be activated",
    );
    conflict(
        &app.delete_v2(&a).await,
        "only draft subscriptions can be deleted",
    );
    conflict(
        &app.delete_v2(&x).await,
        "only draft subscriptions can be deleted",
    );
    conflict(
        &app.post_v2(&format!("{d}/cancel"), &json!({"reason": "other"}))
            .await,
        "delete it instead",
    );
    conflict(
        &app.post_v2(&format!("{x}/cancel"), &json!({"reason": "other"}))
            .await,
        "already canceled",
    );
    conflict(
        &app.post_v2(&format!("{a}/cancel/revert"), &json!({})).await,
        "no cancellation is scheduled",
    );
    conflict(
        &app.patch_v2(&x, &json!({"trial_period_days": 3})).await,
        "canceled",
    );
    // Changes.
    conflict(
        &app.post_v2(&format!("{x}/changes"), &change).await,
        "canceled and can no longer change",
    );
    conflict(
        &app.post_v2(&format!("{x}/changes/preview"), &change).await,
        "canceled and can no longer change",
    );
    conflict(
        &app.post_v2(&format!("{d}/changes"), &change).await,
        "activate it first",
    );
    // Versions.
    conflict(
        &app.post_v2(&format!("{a}/versions/{published}/publish"), &json!({}))
            .await,
        "already published",
    );
    conflict(
        &app.put_v2(
            &format!("{a}/versions/{published}"),
            &json!({"items": item}),
        )
        .await,
        "published and immutable",
    );
    conflict(
        &app.delete_v2(&format!("{a}/versions/{published}")).await,
        "published",
    );
    conflict(
        &app.post_v2(&format!("{x}/versions"), &json!({"items": item}))
            .await,
        "canceled",
    );
    conflict(
        &app.post_v2(
            &format!("{d}/versions"),
            &json!({"items": item, "draft": false}),
        )
        .await,
        "is a draft",
    );
    let dv = draft["pending_changes"][0]["version_id"].as_str().unwrap();
    conflict(
        &app.post_v2(&format!("{d}/versions/{dv}/publish"), &json!({}))
            .await,
        "activate it",
    );
    // Activation needs a version with a price.
    let empty = app.subscription(json!({"customer_id": c.customer})).await;
    let e = format!("/subscriptions/{}", id(&empty));
    conflict(
        &app.post_v2(&format!("{e}/activate"), &json!({})).await,
        "at least one price",
    );
    let ev = empty["pending_changes"][0]["version_id"].as_str().unwrap();
    app.delete_v2(&format!("{e}/versions/{ev}")).await;
    conflict(
        &app.post_v2(&format!("{e}/activate"), &json!({})).await,
        "no version to activate",
    );
    // An empty draft version cannot be published either.
    let r = app
        .post_v2(&format!("{a}/versions"), &json!({"items": []}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    conflict(
        &app.post_v2(&format!("{a}/versions/{}/publish", id(&r.body)), &json!({}))
            .await,
        "at least one price",
    );
    // A contract that ended before activation.
    let old = app
        .subscription(json!({"customer_id": c.customer,
                             "contract": {"period_type": "fixed", "duration_months": 1, "start_date": "2020-01-01"},
                             "items": item}))
        .await;
    conflict(
        &app.post_v2(&format!("/subscriptions/{}/activate", id(&old)), &json!({}))
            .await,
        "already ended",
    );
}

/// Writes that check before they act run one at a time per organization: concurrent versions get
/// distinct consecutive numbers, concurrent activations activate once, and a customer is never
/// deleted while a subscription is created for it.
async fn concurrent_writes_are_serialised(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let s = app.active(&c, &days_from_today(-5), "99.00").await;
    let path = format!("/subscriptions/{}/versions", id(&s));
    let creates = (0..12).map(|i| {
        let body = json!({"items": [{"product_id": c.seats, "price": monthly(&format!("{}.00", 10 + i))}]});
        let path = path.clone();
        let app = &app;
        async move { app.post_v2(&path, &body).await }
    });
    let mut numbers: Vec<i64> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.body["number"].as_i64().unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, (2..=13).collect::<Vec<_>>());

    let d = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan}))
        .await;
    let activate = format!("/subscriptions/{}/activate", id(&d));
    let empty = json!({});
    let runs = (0..6).map(|_| app.post_v2(&activate, &empty));
    let done: Vec<Value> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.text);
            r.body
        })
        .collect();
    assert!(
        done.iter()
            .all(|b| b["activated_at"] == done[0]["activated_at"])
    );
    let versions = app.ok(&format!("/subscriptions/{}/versions", id(&d))).await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 1);

    for round in 0..4 {
        let who = app.customer(&format!("Racer {round}"), &[]).await;
        let cid = id(&who);
        let body = json!({"customer_id": cid, "items": [{"product_id": c.seats, "price": monthly("1.00")}]});
        let customer = format!("/customers/{cid}");
        let (created, deleted) = tokio::join!(
            app.post_v2("/subscriptions", &body),
            app.delete_v2(&customer),
        );
        match (created.status, deleted.status) {
            (201, 409) | (422, 200) => {}
            other => panic!(
                "round {round}: {other:?}: {} / {}",
                created.text, deleted.text
            ),
        }
    }
}
