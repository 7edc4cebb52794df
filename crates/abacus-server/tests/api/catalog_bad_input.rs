//! Bad catalog input: one case per rule, each a 422 (or the status given) naming the field at
//! fault, never a 500, and nothing written.

use abacus_store::{Backend, on_both_backends};
use reqwest::Method;
use serde_json::{Value, json};

use crate::catalog_support::{fixed_price, tiered_price, unit_price};
use crate::harness::{TestApp, V2};

on_both_backends!(every_bad_catalog_request_names_its_field);

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    body: Value,
    status: u16,
    field: String,
    /// Text the first error's message must contain.
    message: &'static str,
}

fn case(name: &'static str, path: &str, body: Value, field: &str) -> Case {
    Case {
        name,
        method: Method::POST,
        path: path.into(),
        body,
        status: 422,
        field: field.into(),
        message: "",
    }
}

impl Case {
    fn saying(mut self, message: &'static str) -> Case {
        self.message = message;
        self
    }

    fn with(mut self, method: Method, status: u16) -> Case {
        self.method = method;
        self.status = status;
        self
    }
}

/// `body` with `key` set to `value`.
fn with(body: &Value, key: &str, value: Value) -> Value {
    let mut b = body.clone();
    b[key] = value;
    b
}

async fn every_bad_catalog_request_names_its_field(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let calls = app.calls_metric("Calls").await;
    let gb = app.calls_metric("Storage").await;
    let archived = app.calls_metric("Old").await;
    app.post_v2(&format!("/metrics/{archived}/archive"), &json!({}))
        .await;
    let customers_only = app.tag("Customers only", &["customer"]).await;
    let api = app.metered_product("API", &calls).await;
    let seats = app.fixed_product("Seats").await;
    app.tag("Taken", &[]).await;

    let metered = json!({"name": "X", "fee_type": "metered", "payment_terms": "arrears", "metric_ids": [calls]});
    let fixed = json!({"name": "X", "fee_type": "fixed", "payment_terms": "advance", "billing_frequency": "one-off"});
    let plan = |price: Value| json!({"name": "P", "currency": "USD", "items": [{"product_id": api, "price": price}]});
    let unit = unit_price(&calls, "0.10");
    let tiers = |t: Value| plan(tiered_price("tiered", &calls, t));
    let expression = |q: &str| {
        plan(
            json!({"type": "expression", "fee_type": "metered", "billing_direction": "arrears",
                    "metric_ids": [calls], "metric_bindings": [{"alias": "calls", "metric_id": calls}],
                    "expression_pricing_model": {"charges": [{"billing_direction": "arrears",
                        "description": "Calls", "quantity_expression": q, "unit_price_expression": "0.01"}]}}),
        )
    };
    let mut bundle_price = unit.clone();
    bundle_price["product_id"] = json!(seats);
    let preview = |price: Value, extra: Value| {
        let mut b = json!({"price": price, "currency": "USD"});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };

    let cases = vec![
        // Products.
        case("metered billed in advance", "/products", with(&metered, "payment_terms", json!("advance")), "payment_terms")
            .saying("arrears"),
        case("unknown metric", "/products", with(&metered, "metric_ids", json!([calls, "mtr_nope"])), "metric_ids[1]")
            .saying("unknown metric"),
        case("archived metric", "/products", with(&metered, "metric_ids", json!([archived])), "metric_ids[0]"),
        case("metered without metrics", "/products", with(&metered, "metric_ids", json!([])), "metric_ids"),
        case("metrics on a fixed product", "/products", with(&fixed, "metric_ids", json!([calls])), "metric_ids"),
        case("fixed without billing frequency", "/products", with(&fixed, "billing_frequency", Value::Null), "billing_frequency"),
        case("metered one-off", "/products", with(&metered, "billing_frequency", json!("one-off")), "billing_frequency"),
        case("bad fee type", "/products", with(&metered, "fee_type", json!("usage")), "fee_type"),
        case("bad revenue allocation", "/products", with(&fixed, "revenue_allocation_method", json!("magic")), "revenue_allocation_method"),
        case("unknown tag on a product", "/products", with(&fixed, "tag_ids", json!(["tag_nope"])), "tag_ids[0]")
            .saying("unknown tag"),
        case("tag for another kind of object", "/products", with(&fixed, "tag_ids", json!([customers_only])), "tag_ids[0]")
            .saying("does not apply"),
        case("product name missing", "/products", json!({"fee_type": "fixed", "payment_terms": "advance"}), "name"),
        case("product name wrong type", "/products", with(&fixed, "name", json!(7)), "name"),
        case("changing what a product bills", &format!("/products/{api}"), json!({"fee_type": "fixed"}), "fee_type")
            .with(Method::PATCH, 422),
        // Plans: items against their products.
        case("fee type differs from the product's", "/plans",
             json!({"name": "P", "currency": "USD", "items": [{"product_id": seats, "price": unit}]}),
             "items[0].price.fee_type").saying("must be 'fixed'"),
        case("metric not the product's", "/plans", plan(unit_price(&gb, "1")), "items[0].price.metric_ids[0]"),
        case("metered price in advance", "/plans", plan(with(&unit, "billing_direction", json!("advance"))),
             "items[0].price.billing_direction"),
        case("unknown product", "/plans",
             json!({"name": "P", "currency": "USD", "items": [{"product_id": "prod_nope", "price": unit}]}),
             "items[0].product_id"),
        case("unknown bundle", "/plans", json!({"name": "P", "currency": "USD", "items": [{"bundle_id": "bnd_nope"}]}),
             "items[0].bundle_id"),
        case("item neither product nor bundle", "/plans", json!({"name": "P", "currency": "USD", "items": [{}]}), "items[0]"),
        case("product item without price", "/plans",
             json!({"name": "P", "currency": "USD", "items": [{"product_id": api}]}), "items[0].price"),
        case("same product twice", "/plans",
             json!({"name": "P", "currency": "USD", "items": [{"product_id": api, "price": unit}, {"product_id": api, "price": unit}]}),
             "items[1].product_id"),
        // Plans: the price model, at its path inside the item.
        case("tiers unsorted", "/plans",
             tiers(json!([{"min_units": 0, "max_units": 500}, {"min_units": 101, "max_units": 100}, {"min_units": 501, "max_units": null}])),
             "items[0].price.tiered_pricing_model.tiers[1].min_units"),
        case("tiers not contiguous", "/plans",
             tiers(json!([{"min_units": 0, "max_units": 100}, {"min_units": 150, "max_units": null}])),
             "items[0].price.tiered_pricing_model.tiers[1].min_units").saying("without gaps"),
        case("tiers not from zero", "/plans", tiers(json!([{"min_units": 1, "max_units": null}])),
             "items[0].price.tiered_pricing_model.tiers[0].min_units"),
        case("two open tiers", "/plans",
             tiers(json!([{"min_units": 0, "max_units": null}, {"min_units": 100, "max_units": null}])),
             "items[0].price.tiered_pricing_model.tiers[0].max_units").saying("only the last tier"),
        case("negative price", "/plans", plan(unit_price(&calls, "-0.01")), "items[0].price.unit_pricing_model.price_per_unit"),
        case("percentage above 100", "/plans",
             plan(json!({"type": "tiered_percentage", "fee_type": "metered", "billing_direction": "arrears", "metric_ids": [calls],
                         "tiered_percentage_pricing_model": {"tiers": [{"min_units": 0, "max_units": null, "percentage": "120"}]}})),
             "items[0].price.tiered_percentage_pricing_model.tiers[0].percentage"),
        case("model object missing for its type", "/plans",
             plan(json!({"type": "unit", "fee_type": "metered", "billing_direction": "arrears", "metric_ids": [calls]})),
             "items[0].price.unit_pricing_model").saying("is required"),
        case("metric_ids on a fixed price", "/plans",
             json!({"name": "P", "currency": "USD", "items": [{"product_id": seats, "price": with(&fixed_price("1", 1), "metric_ids", json!([calls]))}]}),
             "items[0].price.metric_ids"),
        case("bad expression", "/plans", expression("usage.calls *"),
             "items[0].price.expression_pricing_model.charges[0].quantity_expression").saying("at position 14"),
        case("expression reads an unbound name", "/plans", expression("usage.tokens"),
             "items[0].price.expression_pricing_model.charges[0].quantity_expression"),
        case("decimal sent as a number", "/plans", plan(json!({"type": "unit", "fee_type": "metered", "billing_direction": "arrears",
             "metric_ids": [calls], "unit_pricing_model": {"price_per_unit": 0.1}})),
             "items[0].price.unit_pricing_model.price_per_unit"),
        // Plans: terms.
        case("bad currency", "/plans", json!({"name": "P", "currency": "ABC"}), "currency"),
        case("unknown tag on a plan", "/plans", json!({"name": "P", "currency": "USD", "tags": ["tag_nope"]}), "tags[0]"),
        case("fixed contract without duration", "/plans",
             json!({"name": "P", "currency": "USD", "contract_period_type": "fixed"}), "contract_duration"),
        case("bad payment terms", "/plans", json!({"name": "P", "currency": "USD", "payment_terms": "net_thirty"}), "payment_terms"),
        case("plan discount above 100 %", "/plans",
             json!({"name": "P", "currency": "USD", "discount": {"amount": "150", "type": "percentage", "duration_type": "monthly_rolling"}}),
             "discount.amount"),
        case("minimum above maximum", "/plans",
             json!({"name": "P", "currency": "USD", "minimum_spend": {"amount": "100", "period": "monthly"},
                    "maximum_spend": {"amount": "50", "period": "monthly"}}), "maximum_spend.amount"),
        case("escalation above 100 %", "/plans",
             json!({"name": "P", "currency": "USD", "price_escalation": {"enabled": true, "interval_months": 12, "type": "percentage", "percentage": "101"}}),
             "price_escalation.percentage"),
        case("boolean entitlement not a boolean", "/plans",
             json!({"name": "P", "currency": "USD", "entitlements": [{"entitlement_key": "sso", "mode": "static", "type": "boolean", "value": "yes"}]}),
             "entitlements[0].value"),
        // Bundles.
        case("bundle price fee type", "/bundles", json!({"name": "B", "prices": [bundle_price]}), "prices[0].fee_type"),
        case("bundle without prices", "/bundles", json!({"name": "B", "prices": []}), "prices"),
        case("bundle price type error", "/bundles",
             json!({"name": "B", "prices": [{"product_id": api, "type": "unit", "fee_type": "metered", "billing_direction": "arrears",
                    "metric_ids": [calls], "unit_pricing_model": {"price_per_unit": ["1"]}}]}),
             "prices[0].unit_pricing_model.price_per_unit"),
        case("bundle price without product", "/bundles", json!({"name": "B", "prices": [unit]}), "prices[0].product_id"),
        // Tags.
        case("bad colour", "/tags", json!({"name": "T", "color": "red"}), "color"),
        case("bad entity type", "/tags", json!({"name": "T", "entity_types": ["planet"]}), "entity_types[0]"),
        case("tag name taken", "/tags", json!({"name": "taken"}), "name").with(Method::POST, 409),
        // Previews.
        case("preview currency", "/prices/preview", preview(unit.clone(), json!({"currency": "XTS", "quantity": "1"})), "currency"),
        case("preview without quantity", "/prices/preview", preview(unit.clone(), json!({})), "quantity"),
        case("preview negative quantity", "/prices/preview", preview(unit.clone(), json!({"quantity": "-1"})), "quantity"),
        case("preview of a bad price", "/prices/preview",
             preview(tiered_price("tiered", &calls, json!([{"min_units": 0, "max_units": 10}, {"min_units": 20, "max_units": null}])),
                     json!({"quantity": "1"})),
             "price.tiered_pricing_model.tiers[1].min_units"),
        case("preview missing a metric value", "/prices/preview",
             preview(expression("usage.calls")["items"][0]["price"].clone(), json!({"metrics": {}})),
             "price.expression_pricing_model.charges[0].quantity_expression"),
    ];
    assert!(cases.len() >= 25, "{}", cases.len());

    let before: Vec<Value> = {
        let mut v = Vec::new();
        for p in ["/products", "/plans", "/bundles", "/tags"] {
            v.push(app.get_v2(&format!("{p}?limit=100")).await.body);
        }
        v
    };
    for c in cases {
        let rb = app
            .req(c.method.clone(), &c.path)
            .header(V2.0, V2.1)
            .json(&c.body);
        let r = app.send(rb).await;
        assert_eq!(r.status, c.status, "{}: {}", c.name, r.text);
        r.problem(c.status);
        assert_eq!(
            r.error_fields().first().map(String::as_str),
            Some(c.field.as_str()),
            "{}: {}",
            c.name,
            r.text
        );
        let message = r.body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains(c.message), "{}: {message}", c.name);
    }
    for (i, p) in ["/products", "/plans", "/bundles", "/tags"]
        .iter()
        .enumerate()
    {
        assert_eq!(
            app.get_v2(&format!("{p}?limit=100")).await.body,
            before[i],
            "nothing was written to {p}"
        );
    }
}
