//! Changes: upgrades, downgrades, items added and removed, bundles, plan switches, every
//! effective timing, drafts and source versions; and each preview equal to what the change then
//! writes.

use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::catalog_support::unit_price;
use crate::harness::TestApp;
use crate::subscription_support::{Catalog, days_from_today, id, item_keys, monthly, seat_price};

on_both_backends!(
    upgrade_downgrade_add_and_remove,
    every_effective_timing,
    plan_switch_bundles_drafts_and_sources,
    previews_equal_what_changes_write,
);

async fn setup(backend: Backend) -> Option<(TestApp, Catalog)> {
    let app = TestApp::spawn(backend).await?;
    let c = app.catalog().await;
    Some((app, c))
}

/// Applies a change, asserting 201.
async fn change(app: &TestApp, sub: &str, body: Value) -> Value {
    let r = app
        .post_v2(&format!("/subscriptions/{sub}/changes"), &body)
        .await;
    assert_eq!(r.status, 201, "change {body}: {}", r.text);
    r.body
}

async fn current(app: &TestApp, sub: &str) -> Value {
    app.ok(&format!("/subscriptions/{sub}/versions/current"))
        .await
}

fn refs(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r["product_id"]
                .as_str()
                .or(r["bundle_id"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

async fn upgrade_downgrade_add_and_remove(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let s = app.active(&c, &days_from_today(-20), "99.00").await;
    let sid = id(&s);
    let first = s["current_version_id"].as_str().unwrap().to_string();

    // Upgrade, immediately: a new price for the seats.
    let up = change(
        &app,
        &sid,
        json!({"update": [{"product_id": c.seats, "new_price": monthly("199.00")}], "description": "Upgrade"}),
    )
    .await;
    assert_eq!(up["is_new_version"], true);
    assert_eq!(up["version_status"], "published");
    assert_eq!(up["source_version_id"], first.as_str());
    assert_eq!(refs(&up["changes_applied"]["updated"]), [c.seats.as_str()]);
    assert_eq!(up["changes_applied"]["added"], json!([]));
    assert_eq!(up["end_date"], Value::Null);
    let now = current(&app, &sid).await;
    assert_eq!(now["id"], up["version_id"]);
    assert_eq!(now["description"], "Upgrade");
    assert_eq!(seat_price(&now, &c.seats), "199.00");
    assert_eq!(
        app.ok(&format!("/subscriptions/{sid}/versions/{first}"))
            .await["end_date"],
        now["start_date"]
    );

    // Downgrade by adjustment (only the changed field is sent), from the next billing period.
    let down = change(
        &app,
        &sid,
        json!({"update": [{"product_id": c.seats, "adjust": {"fixed_pricing_model": {"price_per_unit": "49.00"}}}],
               "effective": "next_billing_period"}),
    )
    .await;
    let v = &down["version"];
    assert_eq!(seat_price(v, &c.seats), "49.00");
    assert_eq!(
        v["items"][0]["price"]["fixed_pricing_model"]["units"], 1,
        "the rest of the price is kept"
    );
    let dates = app.ok(&format!("/subscriptions/{sid}/billing-dates")).await;
    assert_eq!(
        down["effective_at"],
        format!(
            "{}T00:00:00.000000Z",
            dates["next_billing_date"].as_str().unwrap()
        )
    );
    let sub = app.ok(&format!("/subscriptions/{sid}")).await;
    assert_eq!(sub["current_version_id"], up["version_id"]);
    assert_eq!(sub["pending_changes"][0]["version_id"], down["version_id"]);

    // Add and remove items; the metered price rate changes by adjustment.
    let r = change(
        &app,
        &sid,
        json!({"add": [{"product_id": c.sso, "new_price": monthly("15.00")}, {"bundle_id": c.bundle}],
               "remove": [{"product_id": c.seats}],
               "update": [{"product_id": c.api, "adjust": {"unit_pricing_model": {"price_per_unit": "0.008"}}}]}),
    )
    .await;
    assert_eq!(
        refs(&r["changes_applied"]["added"]),
        [c.sso.clone(), c.bundle.clone()]
    );
    assert_eq!(refs(&r["changes_applied"]["removed"]), [c.seats.as_str()]);
    assert_eq!(refs(&r["changes_applied"]["updated"]), [c.api.as_str()]);
    let now = current(&app, &sid).await;
    assert_eq!(
        item_keys(&now),
        [c.api.clone(), c.sso.clone(), c.bundle.clone()]
    );
    assert_eq!(
        now["items"][0]["price"]["unit_pricing_model"]["price_per_unit"],
        "0.008"
    );
    // The pending downgrade was computed from the version it was made against: it still takes
    // over at its date (changes default to the version in effect as their source).
    let versions = app.ok(&format!("/subscriptions/{sid}/versions")).await;
    assert_eq!(versions["data"].as_array().unwrap().len(), 4);
}

async fn every_effective_timing(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    // A fixed 12-month renewing contract that started 40 days ago.
    let s = app
        .subscription(json!({"customer_id": c.customer,
            "contract": {"period_type": "fixed", "duration_months": 12, "start_date": days_from_today(-40)},
            "renewal": {"auto_renew": true},
            "items": [{"product_id": c.seats, "price": monthly("99.00")}], "auto_activate": true}))
        .await;
    let sid = id(&s);
    let dates = app.ok(&format!("/subscriptions/{sid}/billing-dates")).await;
    let add = |amount: &str| json!([{"product_id": c.sso, "new_price": monthly(amount)}]);
    let cases = [
        ("immediate", None),
        (
            "next_billing_period",
            Some(format!(
                "{}T00:00:00.000000Z",
                dates["next_billing_date"].as_str().unwrap()
            )),
        ),
        (
            "end_of_term",
            Some(format!(
                "{}T00:00:00.000000Z",
                dates["contract_end_date"].as_str().unwrap()
            )),
        ),
        (
            "next_term_renewal",
            Some(format!(
                "{}T00:00:00.000000Z",
                dates["next_renewal_date"].as_str().unwrap()
            )),
        ),
    ];
    for (k, (effective, want)) in cases.into_iter().enumerate() {
        let r = change(
            &app,
            &sid,
            json!({"update": [{"product_id": c.seats, "new_price": monthly(&format!("{}.00", 100 + k))}],
                   "effective": effective}),
        )
        .await;
        match want {
            Some(w) => assert_eq!(r["effective_at"], w.as_str(), "{effective}"),
            None => assert!(r["effective_at"].as_str().is_some()),
        }
        assert_eq!(r["version_status"], "published");
    }
    // A date (local midnight) and an RFC 3339 instant.
    let date = days_from_today(3);
    let r = change(&app, &sid, json!({"add": add("1.00"), "effective": date})).await;
    assert_eq!(r["effective_at"], format!("{date}T00:00:00.000000Z"));
    let instant = format!("{}T14:30:00Z", days_from_today(5));
    let r = change(
        &app,
        &sid,
        json!({"update": [{"product_id": c.seats, "new_price": monthly("7.00")}], "effective": instant}),
    )
    .await;
    assert_eq!(
        r["effective_at"],
        format!("{}T14:30:00.000000Z", days_from_today(5))
    );
    // A date in the past (but after the contract start) takes effect retroactively.
    let past = days_from_today(-2);
    let r = change(
        &app,
        &sid,
        json!({"update": [{"product_id": c.seats, "new_price": monthly("8.00")}], "effective": past}),
    )
    .await;
    assert_eq!(r["effective_at"], format!("{past}T00:00:00.000000Z"));
    // The timeline: the immediate change is in effect now; the others are pending, in order.
    let sub = app.ok(&format!("/subscriptions/{sid}")).await;
    let pending: Vec<&str> = sub["pending_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["effective_at"].as_str().unwrap())
        .collect();
    let mut sorted = pending.clone();
    sorted.sort();
    assert_eq!(pending, sorted);
    assert_eq!(pending.len(), 5);
}

async fn plan_switch_bundles_drafts_and_sources(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let s = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan,
                             "contract": {"start_date": days_from_today(-30)}, "auto_activate": true}))
        .await;
    let sid = id(&s);
    assert_eq!(s["plan_id"], c.plan.as_str());
    // Switch plans: the new plan's items and entitlements, with a delta on top.
    let r = change(
        &app,
        &sid,
        json!({"plan_id": c.plan_scale,
               "add": [{"bundle_id": c.bundle.replacen("bnd_", "bun_", 1),
                        "items": [{"product_id": c.support, "new_price": monthly("45.00")}]}]}),
    )
    .await;
    let v = &r["version"];
    assert_eq!(v["plan_id"], c.plan_scale.as_str());
    assert_eq!(
        item_keys(v),
        [c.seats.clone(), c.api.clone(), c.bundle.clone()]
    );
    assert_eq!(seat_price(v, &c.seats), "499.00");
    assert_eq!(
        refs(&r["changes_applied"]["updated"]),
        [c.seats.clone(), c.api.clone()]
    );
    assert_eq!(refs(&r["changes_applied"]["added"]), [c.bundle.as_str()]);
    let keys: Vec<&str> = v["entitlements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["sso", "seats"]);
    let sub = app.ok(&format!("/subscriptions/{sid}")).await;
    assert_eq!(sub["plan_id"], c.plan_scale.as_str());
    // Bundle operations: a child repriced, one added, one removed.
    let r = change(
        &app,
        &sid,
        json!({"update": [{"bundle_id": c.bundle,
                           "items": [{"product_id": c.support, "adjust": {"fixed_pricing_model": {"price_per_unit": "55.00"}}}],
                           "add_items": [{"product_id": c.sso, "new_price": monthly("25.00")}]}]}),
    )
    .await;
    let bundle = &r["version"]["items"][2];
    assert_eq!(bundle["items"].as_array().unwrap().len(), 2);
    assert_eq!(
        bundle["items"][0]["price"]["fixed_pricing_model"]["price_per_unit"],
        "55.00"
    );
    let r = change(
        &app,
        &sid,
        json!({"remove": [{"bundle_id": c.bundle, "product_id": c.sso}]}),
    )
    .await;
    assert_eq!(
        r["version"]["items"][2]["items"].as_array().unwrap().len(),
        1
    );
    // A staged change: a draft, published later.
    let staged = change(
        &app,
        &sid,
        json!({"remove": [{"bundle_id": c.bundle}], "draft": true, "effective": days_from_today(7),
               "description": "Drop add-ons"}),
    )
    .await;
    assert_eq!(staged["version_status"], "draft");
    assert_eq!(staged["end_date"], Value::Null);
    let sub = app.ok(&format!("/subscriptions/{sid}")).await;
    assert_eq!(
        sub["pending_changes"][0],
        json!({"status": "draft", "version_id": staged["version_id"], "description": "Drop add-ons",
               "effective_at": format!("{}T00:00:00.000000Z", days_from_today(7))})
    );
    let r = app
        .post_v2(
            &format!(
                "/subscriptions/{sid}/versions/{}/publish",
                staged["version_id"].as_str().unwrap()
            ),
            &json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["start_date"], staged["effective_at"]);
    // An explicit source version: the change starts from the plan's first version.
    let first = s["current_version_id"].as_str().unwrap();
    let r = change(
        &app,
        &sid,
        json!({"source_version_id": first,
               "update": [{"product_id": c.api, "new_price": unit_price(&c.calls, "0.02")}]}),
    )
    .await;
    assert_eq!(r["source_version_id"], first);
    assert_eq!(item_keys(&r["version"]), [c.seats.clone(), c.api.clone()]);
    assert_eq!(seat_price(&r["version"], &c.seats), "99.00");
    assert_eq!(r["version"]["plan_id"], c.plan.as_str());
}

/// Each preview, then the change with the same body: the same items, entitlements, plan,
/// changes applied and (for timings other than `immediate`) the same start; and the preview wrote
/// nothing.
async fn previews_equal_what_changes_write(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let s = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan,
                             "contract": {"start_date": days_from_today(-50)}, "auto_activate": true}))
        .await;
    let sid = id(&s);
    let bodies = [
        json!({"update": [{"product_id": c.seats, "new_price": monthly("199.00")}]}),
        json!({"update": [{"product_id": c.seats, "adjust": {"fixed_pricing_model": {"price_per_unit": "59.00"}}}],
               "effective": "next_billing_period"}),
        json!({"add": [{"bundle_id": c.bundle}], "remove": [{"product_id": c.api}], "effective": "end_of_term"}),
        json!({"plan_id": c.plan_scale, "effective": days_from_today(9)}),
        json!({"add": [{"product_id": c.sso, "new_price": monthly("12.00")}], "draft": true,
               "effective": format!("{}T09:15:00Z", days_from_today(4))}),
    ];
    for body in bodies {
        let before = app.ok(&format!("/subscriptions/{sid}/versions")).await;
        let r = app
            .post_v2(&format!("/subscriptions/{sid}/changes/preview"), &body)
            .await;
        assert_eq!(r.status, 200, "preview {body}: {}", r.text);
        let preview = r.body;
        assert_eq!(
            app.ok(&format!("/subscriptions/{sid}/versions")).await,
            before,
            "a preview writes nothing"
        );
        let applied = change(&app, &sid, body.clone()).await;
        assert_eq!(
            preview["changes_applied"], applied["changes_applied"],
            "{body}"
        );
        assert_eq!(preview["source_version_id"], applied["source_version_id"]);
        for key in ["items", "entitlements", "plan_id", "status", "description"] {
            let mut got = applied["version"][key].clone();
            let mut want = preview["version"][key].clone();
            if key == "entitlements" {
                for e in got.as_array_mut().unwrap() {
                    e["version_id"] = Value::Null;
                }
                for e in want.as_array_mut().unwrap() {
                    e["version_id"] = Value::Null;
                }
            }
            assert_eq!(got, want, "{key} of {body}");
        }
        if body.get("effective").is_some() {
            assert_eq!(preview["effective_at"], applied["effective_at"], "{body}");
            assert_eq!(
                preview["version"]["start_date"],
                applied["version"]["start_date"]
            );
        }
    }
}
