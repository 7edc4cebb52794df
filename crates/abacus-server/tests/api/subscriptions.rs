//! Subscriptions: the creation patterns, reads and lists, updates, the v1 surface, billing
//! dates, entitlements, the organization's settings, and the guards subscriptions put on
//! customers and products.

use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::catalog_support::unit_price;
use crate::harness::{TestApp, is_short_id};
use crate::subscription_support::{
    Catalog, conflict, days_from_today, id, item_keys, monthly, seat_price,
};

on_both_backends!(
    creation_patterns,
    reads_lists_filters_and_pages,
    updates_change_terms_never_items,
    the_v1_surface_speaks_camel_case,
    billing_dates_come_from_the_calendar,
    billing_dates_in_a_time_zone_with_dst,
    entitlements_of_subscriptions_and_customers,
    organization_settings,
    subscriptions_guard_customers_and_products,
    another_tenants_subscriptions_are_not_found,
    creation_is_idempotent,
);

async fn setup(backend: Backend) -> Option<(TestApp, Catalog)> {
    let app = TestApp::spawn(backend).await?;
    let c = app.catalog().await;
    Some((app, c))
}

async fn creation_patterns(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    // 1. Raw pricing: the items are the whole set; the currency is the customer's.
    let raw = app
        .subscription(json!({
            "customer_id": c.customer,
            "name": "Globex API",
            "contract": {"period_type": "fixed", "duration_months": 12, "start_date": "2026-07-01"},
            "billing": {"first_billing_date": "2026-07-01", "payment_terms": "net_45", "auto_issue_invoices": true},
            "renewal": {"auto_renew": true, "duration_months": 12, "period_type": "fixed"},
            "metadata": {"crm_id": "0061", "nested": {"a": [1, 2]}},
            "items": [{"product_id": c.api, "price": unit_price(&c.calls, "0.02")}],
        }))
        .await;
    assert!(is_short_id(&raw["id"]), "{raw}");
    assert_eq!(raw["status"], "draft");
    assert_eq!(raw["currency"], "USD");
    assert_eq!(raw["name"], "Globex API");
    assert_eq!(raw["plan_id"], Value::Null);
    assert_eq!(
        raw["contract"],
        json!({"period_type": "fixed", "duration_months": 12,
               "start_date": "2026-07-01T00:00:00Z", "end_date": "2027-07-01T00:00:00Z"})
    );
    assert_eq!(
        raw["billing"],
        json!({"auto_issue_invoices": true, "auto_pay_invoices": false,
               "first_billing_date": "2026-07-01T00:00:00Z", "payment_collection_method": "manual",
               "payment_method_id": null, "payment_terms": "net_45"})
    );
    assert_eq!(
        raw["renewal"],
        json!({"auto_renew": true, "duration_months": 12, "period_type": "fixed"})
    );
    assert_eq!(raw["metadata"]["nested"], json!({"a": [1, 2]}));
    assert_eq!(raw["current_version_id"], Value::Null);
    let pending = raw["pending_changes"].as_array().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["status"], "draft");
    let vid = pending[0]["version_id"].as_str().unwrap();
    assert!(vid.starts_with("subv_") && vid.len() == 27, "{vid}");
    let v = app
        .ok(&format!("/subscriptions/{}/versions/{vid}", id(&raw)))
        .await;
    assert_eq!(item_keys(&v), [c.api.as_str()]);
    assert_eq!(v["items"][0]["price"]["currency"], "USD");
    assert_eq!(v["items"][0]["price"]["charge_on_contract_start"], false);
    assert_eq!(v["status"], "draft");

    // 2. From a plan: its items, terms and entitlements; the plan's name.
    let planned = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan}))
        .await;
    assert_eq!(planned["plan_id"], c.plan.as_str());
    assert_eq!(planned["name"], "Growth");
    assert_eq!(planned["contract"]["period_type"], "fixed");
    assert_eq!(planned["contract"]["duration_months"], 12);
    assert_eq!(planned["contract"]["start_date"], Value::Null);
    assert_eq!(planned["renewal"]["auto_renew"], true);
    assert_eq!(planned["trial_period_days"], 14);
    assert_eq!(planned["billing"]["payment_terms"], "net_15");
    let vid = planned["pending_changes"][0]["version_id"]
        .as_str()
        .unwrap();
    let v = app
        .ok(&format!("/subscriptions/{}/versions/{vid}", id(&planned)))
        .await;
    assert_eq!(item_keys(&v), [c.seats.clone(), c.api.clone()]);
    assert_eq!(v["plan_id"], c.plan.as_str());
    assert_eq!(v["entitlements"][0]["key"], "sso");

    // 3. A plan with overrides: the seat price replaced, a product appended; an alias names the
    //    customer.
    let overridden = app
        .subscription(json!({
            "customer_id": "globex",
            "plan_id": c.plan,
            "currency": "usd",
            "items": [{"product_id": c.seats, "price": monthly("79.00")},
                      {"product_id": c.sso, "price": monthly("10.00")}],
        }))
        .await;
    assert_eq!(overridden["customer_id"], c.customer.as_str());
    let vid = overridden["pending_changes"][0]["version_id"]
        .as_str()
        .unwrap();
    let v = app
        .ok(&format!(
            "/subscriptions/{}/versions/{vid}",
            id(&overridden)
        ))
        .await;
    assert_eq!(
        item_keys(&v),
        [c.seats.clone(), c.api.clone(), c.sso.clone()]
    );
    assert_eq!(seat_price(&v, &c.seats), "79.00");

    // 4. Bundles: the bundle's own prices, or children given in the request (`bun_` spelling).
    let bundled = app
        .subscription(json!({
            "customer_id": c.customer,
            "items": [{"bundle_id": c.bundle},
                      {"product_id": c.seats, "price": monthly("99.00")}],
            "auto_activate": true,
        }))
        .await;
    assert_eq!(bundled["status"], "active");
    let v = app
        .ok(&format!("/subscriptions/{}/versions/current", id(&bundled)))
        .await;
    assert_eq!(item_keys(&v), [c.bundle.clone(), c.seats.clone()]);
    assert_eq!(v["items"][0]["name"], "Add-ons");
    assert_eq!(v["items"][0]["items"].as_array().unwrap().len(), 2);
    let bun = c.bundle.replacen("bnd_", "bun_", 1);
    let custom = app
        .subscription(json!({
            "customer_id": c.customer,
            "plan_id": c.plan,
            "items": [{"bundle_id": bun, "items": [{"product_id": c.support, "price": monthly("40.00")}]}],
        }))
        .await;
    let vid = custom["pending_changes"][0]["version_id"].as_str().unwrap();
    let v = app
        .ok(&format!("/subscriptions/{}/versions/{vid}", id(&custom)))
        .await;
    assert_eq!(
        item_keys(&v),
        [c.seats.clone(), c.api.clone(), c.bundle.clone()]
    );
    assert_eq!(
        v["items"][2]["items"][0]["price"]["fixed_pricing_model"]["price_per_unit"],
        "40.00"
    );
    // One item addressed by bundle id or product id.
    let item = app
        .ok(&format!(
            "/subscriptions/{}/versions/{vid}/items/{bun}",
            id(&custom)
        ))
        .await;
    assert_eq!(item["bundle_id"], c.bundle.as_str());
    let item = app
        .ok(&format!(
            "/subscriptions/{}/versions/{vid}/items/{}",
            id(&custom),
            c.api
        ))
        .await;
    assert_eq!(item["price"]["type"], "unit");
    assert_eq!(
        app.get_v2(&format!(
            "/subscriptions/{}/versions/{vid}/items/{}",
            id(&custom),
            c.support
        ))
        .await
        .status,
        404
    );

    // A plan with auto_activate activates its subscriptions.
    let auto_plan = app
        .created(
            "/plans",
            json!({"name": "Auto", "currency": "USD", "auto_activate": true,
                   "items": [{"product_id": c.seats, "price": monthly("5.00")}]}),
        )
        .await;
    let auto = app
        .subscription(json!({"customer_id": c.customer, "plan_id": id(&auto_plan)}))
        .await;
    assert_eq!(auto["status"], "active");
    assert_eq!(
        auto["contract"]["start_date"],
        format!("{}T00:00:00Z", days_from_today(0))
    );
    assert_eq!(auto["contract"]["period_type"], "monthly_rolling");
}

async fn reads_lists_filters_and_pages(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let other = app.customer("Initech", &[]).await;
    let tag = app.tag("VIP", &["subscription"]).await;
    let draft = app
        .subscription(
            json!({"customer_id": c.customer, "plan_id": c.plan, "name": "B draft", "tags": [tag]}),
        )
        .await;
    let active = app.active(&c, "2025-01-15", "99.00").await;
    let canceled = app.active(&c, "2025-02-01", "49.00").await;
    let r = app
        .post_v2(
            &format!("/subscriptions/{}/cancel", id(&canceled)),
            &json!({"reason": "pricing"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let theirs = app
        .subscription(json!({"customer_id": id(&other), "plan_id": c.plan, "name": "A theirs"}))
        .await;

    let got = app.ok(&format!("/subscriptions/{}", id(&active))).await;
    assert_eq!(got["status"], "active");
    assert!(got["current_version_id"].as_str().is_some());
    assert_eq!(got["pending_changes"], json!([]));
    assert_eq!(got["time_zone"], "UTC");
    assert!(got["activated_at"].as_str().is_some());

    let ids =
        |list: &Value| -> Vec<String> { list["data"].as_array().unwrap().iter().map(id).collect() };
    let all = app.ok("/subscriptions").await;
    assert_eq!(
        ids(&all),
        [id(&draft), id(&active), id(&canceled), id(&theirs)]
    );
    assert_eq!(all["pagination"], json!({"per_page": 20, "total_pages": 1}));
    assert_eq!(
        ids(&app.ok("/subscriptions?status=active").await),
        [id(&active)]
    );
    assert_eq!(
        ids(&app.ok("/subscriptions?status=draft,canceled").await),
        [id(&draft), id(&canceled), id(&theirs)]
    );
    assert_eq!(
        ids(&app
            .ok(&format!("/subscriptions?customer_id={}", id(&other)))
            .await),
        [id(&theirs)]
    );
    assert_eq!(
        ids(&app
            .ok("/subscriptions?customer_id=globex&status=active")
            .await),
        [id(&active)]
    );
    assert_eq!(
        ids(&app.ok("/subscriptions?customer_id=nobody").await),
        Vec::<String>::new()
    );
    assert_eq!(
        ids(&app.ok(&format!("/subscriptions?tag_ids={tag}")).await),
        [id(&draft)]
    );
    assert_eq!(
        ids(&app.ok("/subscriptions?sort=name:asc").await)[..2],
        [id(&theirs), id(&draft)]
    );
    assert_eq!(
        ids(&app.ok("/subscriptions?sort=contract_start_date:desc").await)[..2],
        [id(&canceled), id(&active)]
    );
    let page = app.ok("/subscriptions?limit=3&offset=3").await;
    assert_eq!(ids(&page), [id(&theirs)]);
    assert_eq!(page["pagination"], json!({"per_page": 3, "total_pages": 2}));
    for bad in [
        "/subscriptions?status=paused",
        "/subscriptions?sort=price",
        "/subscriptions?limit=0",
    ] {
        assert_eq!(app.get_v2(bad).await.status, 400, "{bad}");
    }
    assert_eq!(app.get_v2("/subscriptions/nope1234").await.status, 404);
}

async fn updates_change_terms_never_items(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let tag = app.tag("Enterprise", &["subscription"]).await;
    let s = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan,
                             "metadata": {"keep": 1, "drop": 2}}))
        .await;
    let path = format!("/subscriptions/{}", id(&s));
    let r = app
        .patch_v2(
            &path,
            &json!({
                "name": "Renamed", "description": "Annual deal",
                "metadata": {"drop": null, "new": "x"},
                "trial_period_days": 30,
                "discount": {"amount": "10", "type": "percentage", "duration_type": "fixed",
                             "duration_value": 3, "duration_unit": "months"},
                "minimum_spend": {"amount": "100.00", "period": "monthly"},
                "maximum_spend": {"amount": "900.00", "period": "monthly"},
                "price_escalation": {"enabled": true, "interval_months": 12, "type": "percentage", "percentage": "5.00"},
                "renewal": {"auto_renew": false},
                "billing": {"auto_pay_invoices": true, "payment_collection_method": "autopay",
                            "payment_method_id": "pm_123", "first_billing_date": "2026-08-01"},
                "contract": {"start_date": "2026-07-15"},
                "tags": [tag],
            }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let u = &r.body;
    assert_eq!(u["name"], "Renamed");
    assert_eq!(u["description"], "Annual deal");
    assert_eq!(u["metadata"], json!({"keep": 1, "new": "x"}));
    assert_eq!(u["trial_period_days"], 30);
    assert_eq!(u["discount"]["amount"], "10");
    assert_eq!(u["minimum_spend"]["amount"], "100.00");
    assert_eq!(u["price_escalation"]["percentage"], "5.00");
    assert_eq!(u["renewal"]["auto_renew"], false);
    assert_eq!(u["billing"]["auto_pay_invoices"], true);
    assert_eq!(u["billing"]["payment_collection_method"], "autopay");
    assert_eq!(u["billing"]["first_billing_date"], "2026-08-01T00:00:00Z");
    assert_eq!(u["contract"]["start_date"], "2026-07-15T00:00:00Z");
    assert_eq!(u["tags"], json!([tag]));
    // null clears; the versions are untouched.
    let r = app
        .patch_v2(
            &path,
            &json!({"discount": null, "description": null, "trial_period_days": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["discount"], Value::Null);
    assert_eq!(r.body["description"], Value::Null);
    assert_eq!(r.body["trial_period_days"], Value::Null);
    assert_eq!(r.body["pending_changes"], s["pending_changes"]);
    // Items never change through an update.
    let r = app
        .patch_v2(
            &path,
            &json!({"items": [{"product_id": c.seats, "price": monthly("1.00")}]}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["items"]);
    // Once active: no contract change; a canceled subscription keeps its terms but can be renamed.
    let active = app.active(&c, &days_from_today(-40), "99.00").await;
    let path = format!("/subscriptions/{}", id(&active));
    let r = app
        .patch_v2(&path, &json!({"contract": {"start_date": "2020-01-01"}}))
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["contract"]);
    app.post_v2(&format!("{path}/cancel"), &json!({"reason": "other"}))
        .await;
    let r = app
        .patch_v2(&path, &json!({"billing": {"auto_issue_invoices": true}}))
        .await;
    conflict(&r, "canceled");
    let r = app
        .patch_v2(
            &path,
            &json!({"name": "Old deal", "metadata": {"archived": true}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Old deal");
}

async fn the_v1_surface_speaks_camel_case(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let r = app
        .post(
            "/subscriptions",
            &json!({
                "accountId": c.customer,
                "contract": {"periodType": "fixed", "durationMonths": 6, "startDate": days_from_today(-3)},
                "metadata": {"external_ref": "x-1"},
                "items": [{"productId": c.seats, "price": {"type": "fixed", "feeType": "fixed",
                    "billingDirection": "advance", "billingFrequency": "recurring", "billingInterval": "monthly",
                    "fixedPricingModel": {"pricePerUnit": "25.00", "units": 2}}}],
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let s = r.body;
    assert_eq!(s["customerId"], c.customer.as_str());
    assert_eq!(s["contract"]["durationMonths"], 6);
    assert_eq!(
        s["metadata"],
        json!({"external_ref": "x-1"}),
        "metadata keys are the caller's"
    );
    assert!(s.get("pendingChanges").is_some());
    let path = format!("/subscriptions/{}", id(&s));
    let r = app.post(&format!("{path}/activate"), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "active");
    assert!(r.body["currentVersionId"].as_str().is_some());
    // The same subscription on v2.
    let v2 = app.ok(&path).await;
    assert_eq!(v2["current_version_id"], r.body["currentVersionId"]);
    let v = app.ok(&format!("{path}/versions/current")).await;
    assert_eq!(
        v["items"][0]["price"]["fixed_pricing_model"],
        json!({"price_per_unit": "25.00", "units": 2, "total": "50.00"}),
        "the SDK's FixedPricingModelResponse carries the total"
    );
    // List and get.
    let list = app
        .get(&format!("/subscriptions?accountId={}", c.customer))
        .await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(list.body["pageCount"], 1);
    assert_eq!(list.body["data"][0]["id"], s["id"]);
    assert_eq!(list.body["data"][0]["customerId"], c.customer.as_str());
    assert_eq!(
        app.get(&path).await.body["activatedAt"],
        r.body["activatedAt"]
    );
    // Cancel, errors named in camelCase.
    let r = app
        .post(
            &format!("{path}/cancel"),
            &json!({"reasonDescription": "x"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["reason"]);
    let r = app
        .post(
            &format!("{path}/cancel"),
            &json!({"reason": "moving_provider", "effective": "end_of_term", "reasonDescription": "To a competitor"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["cancellation"]["status"], "scheduled");
    assert_eq!(
        r.body["cancellation"]["reasonDescription"],
        "To a competitor"
    );
    let r = app
        .post(
            "/subscriptions",
            &json!({"customerId": c.customer, "contract": {"startDate": "July"}}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["contract.startDate"]);
    let r = app
        .post(
            "/subscriptions",
            &json!({"customerId": c.customer, "trialPeriodDays": "ten"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["trialPeriodDays"]);
}

async fn billing_dates_come_from_the_calendar(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    // Alguna's example: contract 2026-07-01, 12 months, renewing, monthly.
    let s = app
        .subscription(json!({
            "customer_id": c.customer,
            "contract": {"period_type": "fixed", "duration_months": 12, "start_date": "2026-07-01"},
            "renewal": {"auto_renew": true},
            "items": [{"product_id": c.seats, "price": monthly("99.00")}],
            "auto_activate": true,
        }))
        .await;
    let path = format!("/subscriptions/{}/billing-dates", id(&s));
    let d = app.ok(&format!("{path}?as_of=2026-07-10T12:00:00Z")).await;
    assert_eq!(
        d["current_cycle"],
        json!({"start_date": "2026-07-01", "end_date": "2026-08-01"})
    );
    assert_eq!(d["next_billing_date"], "2026-08-01");
    assert_eq!(d["valid_on_cycle_dates"][0], "2026-08-01");
    assert_eq!(d["valid_on_cycle_dates"].as_array().unwrap().len(), 12);
    assert_eq!(d["valid_mid_cycle_range"], d["current_cycle"]);
    assert_eq!(d["next_renewal_date"], "2027-07-01");
    assert_eq!(d["contract_end_date"], "2027-07-01");
    // Anchored on the 31st: February is cut at its last day and March returns to the 31st.
    let s = app
        .subscription(json!({
            "customer_id": c.customer,
            "contract": {"start_date": "2024-01-31"},
            "items": [{"product_id": c.seats, "price": monthly("99.00")}],
            "auto_activate": true,
        }))
        .await;
    let path = format!("/subscriptions/{}/billing-dates", id(&s));
    let d = app.ok(&format!("{path}?as_of=2024-02-15T00:00:00Z")).await;
    assert_eq!(
        d["current_cycle"],
        json!({"start_date": "2024-01-31", "end_date": "2024-02-29"})
    );
    assert_eq!(
        d["valid_on_cycle_dates"].as_array().unwrap()[..3],
        [
            json!("2024-02-29"),
            json!("2024-03-31"),
            json!("2024-04-30")
        ]
    );
    assert_eq!(d["contract_end_date"], Value::Null);
    // A trial and a first billing date: the trial is the current cycle, the stub follows.
    let s = app
        .subscription(json!({
            "customer_id": c.customer,
            "contract": {"start_date": "2024-01-20"},
            "trial_period_days": 14,
            "billing": {"first_billing_date": "2024-02-01"},
            "items": [{"product_id": c.seats, "price": monthly("99.00")}],
            "auto_activate": true,
        }))
        .await;
    let d = app
        .ok(&format!(
            "/subscriptions/{}/billing-dates?as_of=2024-01-25T00:00:00Z",
            id(&s)
        ))
        .await;
    assert_eq!(
        d["current_cycle"],
        json!({"start_date": "2024-01-20", "end_date": "2024-02-03"})
    );
    assert_eq!(d["next_billing_date"], "2024-02-03");
    assert_eq!(
        d["valid_on_cycle_dates"].as_array().unwrap()[..2],
        [json!("2024-02-03"), json!("2024-03-01")]
    );
    // The cycle is the finest price interval: a quarterly-only subscription bills quarterly.
    let mut quarterly = monthly("300.00");
    quarterly["billing_interval"] = json!("quarterly");
    let s = app
        .subscription(json!({
            "customer_id": c.customer,
            "contract": {"start_date": "2024-01-01"},
            "items": [{"product_id": c.seats, "price": quarterly}],
            "auto_activate": true,
        }))
        .await;
    let d = app
        .ok(&format!(
            "/subscriptions/{}/billing-dates?as_of=2024-02-15T00:00:00Z",
            id(&s)
        ))
        .await;
    assert_eq!(
        d["current_cycle"],
        json!({"start_date": "2024-01-01", "end_date": "2024-04-01"})
    );
    assert_eq!(
        app.get_v2(&format!(
            "/subscriptions/{}/billing-dates?as_of=yesterday",
            id(&s)
        ))
        .await
        .status,
        400
    );
}

async fn billing_dates_in_a_time_zone_with_dst(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let r = app
        .patch_v2("/organization", &json!({"time_zone": "America/New_York"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = app
        .subscription(json!({
            "customer_id": c.customer,
            "contract": {"start_date": "2024-03-01"},
            "items": [{"product_id": c.seats, "price": monthly("99.00")}],
            "auto_activate": true,
        }))
        .await;
    assert_eq!(s["time_zone"], "America/New_York");
    let path = format!("/subscriptions/{}/billing-dates", id(&s));
    // 2024-04-01T03:30Z is still March 31 in New York (EDT, UTC−4).
    let d = app.ok(&format!("{path}?as_of=2024-04-01T03:30:00Z")).await;
    assert_eq!(
        d["current_cycle"],
        json!({"start_date": "2024-03-01", "end_date": "2024-04-01"})
    );
    let d = app.ok(&format!("{path}?as_of=2024-04-01T04:00:00Z")).await;
    assert_eq!(d["current_cycle"]["start_date"], "2024-04-01");
    // The first version starts at New York midnight (EST, UTC−5, before the switch).
    let v = app
        .ok(&format!("/subscriptions/{}/versions/current", id(&s)))
        .await;
    assert_eq!(v["start_date"], "2024-03-01T05:00:00.000000Z");
    // Changing the organization's zone leaves this subscription's periods where they are.
    app.patch_v2("/organization", &json!({"time_zone": "Europe/Berlin"}))
        .await;
    let again = app.ok(&format!("/subscriptions/{}", id(&s))).await;
    assert_eq!(again["time_zone"], "America/New_York");
    let d = app.ok(&format!("{path}?as_of=2024-04-01T03:30:00Z")).await;
    assert_eq!(d["current_cycle"]["end_date"], "2024-04-01");
    // A draft follows the organization's zone until it is activated.
    let draft = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan}))
        .await;
    assert_eq!(draft["time_zone"], "Europe/Berlin");
}

async fn entitlements_of_subscriptions_and_customers(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let s = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan,
                             "contract": {"start_date": days_from_today(-5)}, "auto_activate": true}))
        .await;
    let path = format!("/subscriptions/{}", id(&s));
    let list = app.ok(&format!("{path}/entitlements")).await;
    let current = s["current_version_id"].clone();
    assert_eq!(
        list["data"],
        json!([{"key": "sso", "mode": "static", "type": "boolean", "value": "true",
                "allocation": null, "timing": null, "subscription_id": id(&s), "version_id": current}])
    );
    let one = app.ok(&format!("{path}/entitlements/sso")).await;
    assert_eq!(one["value"], "true");
    assert_eq!(
        app.get_v2(&format!("{path}/entitlements/api_calls"))
            .await
            .status,
        404
    );
    // A version with its own entitlements replaces them from its start.
    let r = app
        .post_v2(
            &format!("{path}/versions"),
            &json!({"draft": false,
                    "items": [{"product_id": c.seats, "price": monthly("99.00")}],
                    "entitlements": [
                        {"entitlement_key": "seats", "mode": "static", "type": "number", "value": "25"},
                        {"entitlement_key": "tier", "mode": "static", "type": "string", "value": "gold"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let keys = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        keys(&app.ok(&format!("{path}/entitlements")).await),
        ["seats", "tier"]
    );
    // The customer's entitlements flatten its active subscriptions (drafts do not count).
    app.subscription(json!({"customer_id": c.customer, "plan_id": c.plan_scale}))
        .await;
    let other = app
        .subscription(
            json!({"customer_id": c.customer, "plan_id": c.plan_scale, "auto_activate": true}),
        )
        .await;
    let all = app.ok("/customers/globex/entitlements").await;
    assert_eq!(keys(&all), ["seats", "tier", "sso", "seats"]);
    assert_eq!(all["data"][2]["subscription_id"], id(&other).as_str());
    assert_eq!(
        app.get_v2("/customers/nobody/entitlements").await.status,
        404
    );
    // Canceled: nothing in effect.
    app.post_v2(&format!("{path}/cancel"), &json!({"reason": "features"}))
        .await;
    assert_eq!(
        app.ok(&format!("{path}/entitlements")).await["data"],
        json!([])
    );
    assert_eq!(
        keys(&app.ok("/customers/globex/entitlements").await),
        ["sso", "seats"]
    );
    // has_active_subscriptions is real.
    let lone = app.customer("Lone", &[]).await;
    let names = |v: &Value| -> Vec<String> {
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&app.ok("/customers?has_active_subscriptions=true").await),
        ["Globex"]
    );
    assert_eq!(
        names(&app.ok("/customers?has_active_subscriptions=false").await),
        [lone["name"].as_str().unwrap()]
    );
}

async fn organization_settings(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let org = app.ok("/organization").await;
    assert_eq!(org["time_zone"], "UTC");
    assert_eq!(org["default_payment_terms"], "net_30");
    assert!(org["id"].as_str().unwrap().starts_with("org_"));
    let r = app
        .patch_v2(
            "/organization",
            &json!({"time_zone": "Europe/Berlin", "default_payment_terms": "due_on_receipt", "name": "Acme"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["time_zone"], "Europe/Berlin");
    assert_eq!(app.ok("/organization").await["name"], "Acme");
    // New subscriptions take the default payment terms.
    let s = app
        .subscription(json!({"customer_id": c.customer, "items": [{"product_id": c.seats, "price": monthly("1.00")}]}))
        .await;
    assert_eq!(s["billing"]["payment_terms"], "due_on_receipt");
    let r = app
        .patch_v2(
            "/organization",
            &json!({"time_zone": "Mars/Olympus", "default_payment_terms": "net_1000"}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["time_zone", "default_payment_terms"]);
    assert_eq!(app.ok("/organization").await["time_zone"], "Europe/Berlin");
}

async fn subscriptions_guard_customers_and_products(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let s = app.active(&c, &days_from_today(-1), "99.00").await;
    // A customer with subscriptions cannot be deleted or change its currency.
    let r = app.delete_v2(&format!("/customers/{}", c.customer)).await;
    conflict(&r, "subscriptions");
    let r = app
        .patch_v2(
            &format!("/customers/{}", c.customer),
            &json!({"currency": "EUR"}),
        )
        .await;
    conflict(&r, "subscriptions");
    let r = app.delete(&format!("/accounts/{}", c.customer)).await;
    conflict(&r, "subscriptions");
    // A product an active subscription uses cannot be deleted; once canceled it can.
    let r = app.delete_v2(&format!("/products/{}", c.seats)).await;
    conflict(&r, "subscriptions");
    app.post_v2(
        &format!("/subscriptions/{}/cancel", id(&s)),
        &json!({"reason": "no_longer_required"}),
    )
    .await;
    let r = app.delete_v2(&format!("/products/{}", c.seats)).await;
    conflict(&r, "plans");
    let unused = app.fixed_product("Unused").await;
    let d = app
        .subscription(json!({"customer_id": c.customer, "items": [{"product_id": unused, "price": monthly("1.00")}]}))
        .await;
    let r = app.delete_v2(&format!("/products/{unused}")).await;
    conflict(&r, "subscriptions");
    app.delete_v2(&format!("/subscriptions/{}", id(&d))).await;
    assert_eq!(
        app.delete_v2(&format!("/products/{unused}")).await.status,
        200
    );
    // A customer with only a deleted draft can go.
    let lone = app.customer("Lone", &[]).await;
    let d = app
        .subscription(json!({"customer_id": id(&lone), "items": [{"product_id": c.api, "price": unit_price(&c.calls, "1")}]}))
        .await;
    conflict(
        &app.delete_v2(&format!("/customers/{}", id(&lone))).await,
        "subscriptions",
    );
    assert_eq!(
        app.delete_v2(&format!("/subscriptions/{}", id(&d)))
            .await
            .status,
        200
    );
    assert_eq!(
        app.delete_v2(&format!("/customers/{}", id(&lone)))
            .await
            .status,
        200
    );
}

async fn another_tenants_subscriptions_are_not_found(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let s = app.active(&c, &days_from_today(-1), "99.00").await;
    let other = app.new_tenant().await;
    let path = format!("/subscriptions/{}", id(&s));
    let vid = s["current_version_id"].as_str().unwrap().to_string();
    let as_other = |method: reqwest::Method, p: String| {
        app.http
            .request(method, app.url(&p))
            .bearer_auth(&other)
            .header("Alguna-Version", "2026-04-01")
    };
    for p in [
        path.clone(),
        format!("{path}/versions"),
        format!("{path}/versions/current"),
        format!("{path}/versions/{vid}"),
        format!("{path}/billing-dates"),
        format!("{path}/entitlements"),
    ] {
        let r = app.send(as_other(reqwest::Method::GET, p.clone())).await;
        assert_eq!(r.status, 404, "{p}: {}", r.text);
    }
    for p in [
        format!("{path}/activate"),
        format!("{path}/cancel"),
        format!("{path}/changes"),
        format!("{path}/versions/{vid}/publish"),
    ] {
        let r = app
            .send(as_other(reqwest::Method::POST, p.clone()).json(&json!({"reason": "other", "add": [{"product_id": c.sso, "new_price": monthly("1.00")}]})))
            .await;
        assert_eq!(r.status, 404, "{p}: {}", r.text);
    }
    let list = app
        .send(as_other(reqwest::Method::GET, "/subscriptions".into()))
        .await;
    assert_eq!(list.body["data"], json!([]));
    // Another tenant's customer, plan and products are unknown (422), not found.
    let r = app
        .send(
            as_other(reqwest::Method::POST, "/subscriptions".into()).json(&json!({
            "customer_id": c.customer, "plan_id": c.plan})),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["customer_id", "plan_id"]);
}

async fn creation_is_idempotent(backend: Backend) {
    let Some((app, c)) = setup(backend).await else {
        return;
    };
    let body = json!({"customer_id": c.customer, "plan_id": c.plan});
    let send = || {
        app.send(
            app.req(reqwest::Method::POST, "/subscriptions")
                .header("Alguna-Version", "2026-04-01")
                .header("Idempotency-Key", "create-sub-1")
                .json(&body),
        )
    };
    let first = send().await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = send().await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_eq!(
        app.ok("/subscriptions").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
