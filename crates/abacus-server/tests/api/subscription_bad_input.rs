//! Bad subscription input: one case per rule, each a 422 naming the field at fault (never a
//! 500), and nothing written.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::catalog_support::unit_price;
use crate::harness::{TestApp, V2};
use crate::subscription_support::{days_from_today, id, monthly};

on_both_backends!(every_bad_subscription_request_names_its_field);

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Value,
    field: String,
    /// Text the matching error's message must contain.
    message: &'static str,
}

fn case(name: &'static str, path: &str, body: Value, field: &str, message: &'static str) -> Case {
    Case {
        name,
        method: Method::POST,
        path: path.into(),
        body,
        field: field.into(),
        message,
    }
}

impl Case {
    fn method(mut self, m: Method) -> Case {
        self.method = m;
        self
    }
}

/// `body` with `key` set to `value`.
fn with(body: &Value, key: &str, value: Value) -> Value {
    let mut b = body.clone();
    b[key] = value;
    b
}

async fn every_bad_subscription_request_names_its_field(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let c = app.catalog().await;
    let euro_bundle = app
        .created(
            "/bundles",
            json!({"name": "EUR", "currency": "EUR", "prices": [
                {"product_id": c.sso, "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
                 "billing_frequency": "recurring", "fixed_pricing_model": {"price_per_unit": "1.00", "units": 1}}]}),
        )
        .await;
    let other_metric = app.calls_metric("Other").await;
    let plan_tag = app.tag("Plans only", &["plan"]).await;
    let s = app
        .subscription(json!({"customer_id": c.customer, "plan_id": c.plan,
                             "contract": {"start_date": days_from_today(-10)}, "auto_activate": true}))
        .await;
    let sub = format!("/subscriptions/{}", id(&s));

    let base = json!({"customer_id": c.customer, "items": [{"product_id": c.seats, "price": monthly("9.00")}]});
    let item = |price: Value| {
        with(
            &base,
            "items",
            json!([{"product_id": c.api, "price": price}]),
        )
    };
    let mut advance = unit_price(&c.calls, "0.01");
    advance["billing_direction"] = json!("advance");
    let mut bad_interval = monthly("1.00");
    bad_interval["billing_interval_count"] = json!(2);
    let ent = |value: &str| json!([{"entitlement_key": "k", "mode": "static", "type": "number", "value": value}]);
    let create = "/subscriptions";
    let changes = format!("{sub}/changes");
    let preview = format!("{sub}/changes/preview");
    let versions = format!("{sub}/versions");
    let add_sso = json!([{"product_id": c.sso, "new_price": monthly("1.00")}]);

    let cases = vec![
        // Creation: references.
        case("no customer", create, json!({"items": base["items"]}), "customer_id", "required"),
        case("unknown customer", create, with(&base, "customer_id", json!("nobody")), "customer_id", "unknown customer"),
        case("unknown plan", create, with(&base, "plan_id", json!("pln_nope")), "plan_id", "unknown plan"),
        case("plan in another currency", create, with(&base, "plan_id", json!(c.plan_eur)), "plan_id", "EUR"),
        case("currency not the customer's", create, with(&base, "currency", json!("EUR")), "currency", "customer's currency"),
        case("not a currency", create, with(&base, "currency", json!("XYZ")), "currency", ""),
        case("unknown product", create, with(&base, "items", json!([{"product_id": "prod_nope", "price": monthly("1.00")}])), "items[0].product_id", "unknown product"),
        case("metric not the product's", create, item(unit_price(&other_metric, "0.01")), "items[0].price.metric_ids[0]", "not one of product"),
        case("metered item in advance", create, item(advance), "items[0].price.billing_direction", "arrears"),
        case("price of another fee type", create, item(monthly("1.00")), "items[0].price.fee_type", "metered"),
        case("bundle in another currency", create, with(&base, "items", json!([{"bundle_id": id(&euro_bundle)}])), "items[0].bundle_id", "EUR"),
        case("unknown bundle", create, with(&base, "items", json!([{"bundle_id": "bnd_nope"}])), "items[0].bundle_id", "unknown bundle"),
        case("product twice", create, with(&base, "items", json!([{"product_id": c.seats, "price": monthly("1.00")}, {"product_id": c.seats, "price": monthly("2.00")}])), "items[1].product_id", "already an item"),
        case("negative price", create, with(&base, "items", json!([{"product_id": c.seats, "price": monthly("-1.00")}])), "items[0].price.fixed_pricing_model.price_per_unit", ""),
        case("conflicting interval", create, with(&base, "items", json!([{"product_id": c.seats, "price": bad_interval}])), "items[0].price.billing_interval", "disagrees"),
        // Creation: terms.
        case("unknown period type", create, with(&base, "contract", json!({"period_type": "weekly"})), "contract.period_type", "not one of"),
        case("fixed without months", create, with(&base, "contract", json!({"period_type": "fixed"})), "contract.duration_months", "required"),
        case("bad start date", create, with(&base, "contract", json!({"start_date": "2026-02-30"})), "contract.start_date", "not a date"),
        case("first billing before the start", create, with(&with(&base, "contract", json!({"start_date": "2026-07-01"})), "billing", json!({"first_billing_date": "2026-06-30"})), "billing.first_billing_date", "before the contract start"),
        case("payment terms", create, with(&base, "billing", json!({"payment_terms": "net_1000"})), "billing.payment_terms", "net_N"),
        case("collection method", create, with(&base, "billing", json!({"payment_collection_method": "cheque"})), "billing.payment_collection_method", "not one of"),
        case("renewal period type", create, with(&base, "renewal", json!({"auto_renew": true, "period_type": "yearly"})), "renewal.period_type", "not one of"),
        case("trial too long", create, with(&base, "trial_period_days", json!(5000)), "trial_period_days", "3650"),
        case("fixed discount on a subscription", create, with(&base, "discount", json!({"amount": "5", "type": "fixed", "duration_type": "monthly_rolling"})), "discount.type", "percentage"),
        case("minimum above maximum", create, with(&with(&base, "minimum_spend", json!({"amount": "10", "period": "monthly"})), "maximum_spend", json!({"amount": "5", "period": "monthly"})), "maximum_spend.amount", ""),
        case("tag for plans only", create, with(&base, "tags", json!([plan_tag])), "tags[0]", "does not apply"),
        case("metadata not an object", create, with(&base, "metadata", json!(["a"])), "metadata", ""),
        case("wrong type", create, with(&base, "auto_activate", json!("yes")), "auto_activate", ""),
        // Cancellation.
        case("cancel without a reason", &format!("{sub}/cancel"), json!({}), "reason", "required"),
        case("cancel with an unknown reason", &format!("{sub}/cancel"), json!({"reason": "bored"}), "reason", "not one of"),
        case("cancel in the past", &format!("{sub}/cancel"), json!({"reason": "other", "effective": days_from_today(-1)}), "effective", "in the past"),
        case("cancel at nonsense", &format!("{sub}/cancel"), json!({"reason": "other", "effective": "soonish"}), "effective", "not one of"),
        // Changes.
        case("change before the contract start", &changes, json!({"add": add_sso, "effective": days_from_today(-30)}), "effective", "before the contract start"),
        case("change at nonsense", &changes, json!({"add": add_sso, "effective": "tomorrow"}), "effective", "not one of"),
        case("change adds an unknown product", &changes, json!({"add": [{"product_id": "prod_nope", "new_price": monthly("1.00")}]}), "add[0].product_id", "unknown product"),
        case("change adds an item already there", &changes, json!({"add": [{"product_id": c.seats, "new_price": monthly("1.00")}]}), "add[0].product_id", "already an item"),
        case("change removes what is not there", &changes, json!({"remove": [{"product_id": c.sso}]}), "remove[0].product_id", "not an item"),
        case("change adjusts to an invalid price", &changes, json!({"update": [{"product_id": c.seats, "adjust": {"fixed_pricing_model": {"price_per_unit": "-5"}}}]}), "update[0].adjust.fixed_pricing_model.price_per_unit", ""),
        case("change updates without a price", &changes, json!({"update": [{"product_id": c.seats}]}), "update[0].new_price", "required"),
        case("change to a metered price in advance", &changes, json!({"update": [{"product_id": c.api, "adjust": {"billing_direction": "advance"}}]}), "update[0].adjust.billing_direction", "arrears"),
        case("change to an unknown plan", &changes, json!({"plan_id": "pln_nope"}), "plan_id", "unknown plan"),
        case("change to a plan in another currency", &changes, json!({"plan_id": c.plan_eur}), "plan_id", "EUR"),
        case("change from an unknown version", &changes, json!({"add": add_sso, "source_version_id": "subv_nope"}), "source_version_id", "not a version"),
        case("empty change", &changes, json!({}), "add", "nothing to change"),
        case("change removing everything", &changes, json!({"remove": [{"product_id": c.seats}, {"product_id": c.api}]}), "remove", "without items"),
        case("preview checks the same", &preview, json!({"add": [{"product_id": c.sso}]}), "add[0].new_price", "required"),
        // Versions.
        case("version with an unknown product", &versions, json!({"items": [{"product_id": "prod_nope", "price": monthly("1.00")}]}), "items[0].product_id", "unknown product"),
        case("version before the contract start", &versions, json!({"items": base["items"], "effective_at": "2000-01-01"}), "effective_at", "before the contract start"),
        case("version entitlement not a number", &versions, json!({"items": base["items"], "entitlements": ent("lots")}), "entitlements[0].value", "not a number"),
        case("version without items", &versions, json!({}), "items", "required"),
        case("version with a price missing fields", &versions, json!({"items": [{"product_id": c.seats, "price": {"type": "fixed"}}]}), "items[0].price.fee_type", "required"),
        // Updates.
        case("update items", &sub, json!({"items": []}), "items", "never changes items").method(Method::PATCH),
        case("update renewal type", &sub, json!({"renewal": {"period_type": "weekly"}}), "renewal.period_type", "not one of").method(Method::PATCH),
        case("update trial negative", &sub, json!({"trial_period_days": -1}), "trial_period_days", "").method(Method::PATCH),
        case("update discount type", &sub, json!({"discount": {"amount": "5", "type": "fixed", "duration_type": "monthly_rolling"}}), "discount.type", "percentage").method(Method::PATCH),
        case("update tags unknown", &sub, json!({"tags": ["tag_nope"]}), "tags[0]", "unknown tag").method(Method::PATCH),
        // Organization.
        case("unknown time zone", "/organization", json!({"time_zone": "Europe/Atlantis"}), "time_zone", "IANA").method(Method::PATCH),
        case("default payment terms", "/organization", json!({"default_payment_terms": "net_-1"}), "default_payment_terms", "net_N").method(Method::PATCH),
    ];
    assert!(cases.len() >= 25, "{} cases", cases.len());

    let before = app.ok(&format!("{sub}/versions")).await;
    let count = app.ok("/subscriptions").await["data"]
        .as_array()
        .unwrap()
        .len();
    for c in &cases {
        let r = app
            .send(
                app.req(c.method.clone(), &c.path)
                    .header(V2.0, V2.1)
                    .json(&c.body),
            )
            .await;
        assert_eq!(r.status, 422, "{}: {}", c.name, r.text);
        r.problem(422);
        let fields = r.error_fields();
        let hit = r.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["field"] == c.field.as_str());
        let Some(hit) = hit else {
            panic!(
                "{}: expected field {} in {fields:?}: {}",
                c.name, c.field, r.text
            );
        };
        let message = hit["message"].as_str().unwrap();
        assert!(
            message.contains(c.message),
            "{}: message {message:?} lacks {:?}",
            c.name,
            c.message
        );
    }
    // Nothing was written.
    assert_eq!(app.ok(&format!("{sub}/versions")).await, before);
    assert_eq!(
        app.ok("/subscriptions").await["data"]
            .as_array()
            .unwrap()
            .len(),
        count
    );
    assert_eq!(app.ok(&sub).await["status"], "active");
}
