//! `POST /prices/preview`: the worked examples of `docs/pricing.md`, through the API.

use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::harness::TestApp;

on_both_backends!(previews_agree_with_the_pricing_guide);

fn metered(kind: &str, model: Value) -> Value {
    let mut p = json!({"type": kind, "fee_type": "metered", "billing_direction": "arrears", "metric_ids": ["mtr_x"]});
    p[format!("{kind}_pricing_model")] = model;
    p
}

fn tiers(spec: &[(i64, Option<i64>, &str, Option<&str>)], rate: &str) -> Value {
    Value::Array(
        spec.iter()
            .map(|(min, max, r, fee)| {
                let mut t = json!({"min_units": min, "max_units": max});
                t[rate] = json!(r);
                if let Some(f) = fee {
                    t["fixed_fee"] = json!(f);
                }
                t
            })
            .collect(),
    )
}

const FEE_TIERS: &[(i64, Option<i64>, &str, Option<&str>)] = &[
    (0, Some(1000), "0.10", Some("10.00")),
    (1001, Some(10000), "0.08", Some("20.00")),
    (10001, None, "0.05", Some("50.00")),
];

async fn previews_agree_with_the_pricing_guide(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let preview = |price: Value, currency: &str, usage: Value| {
        let mut body = json!({"price": price, "currency": currency});
        for (k, v) in usage.as_object().unwrap() {
            body[k] = v.clone();
        }
        let app = &app;
        async move {
            let r = app.post_v2("/prices/preview", &body).await;
            assert_eq!(r.status, 200, "{body}: {}", r.text);
            let sum: rust_decimal::Decimal = r.body["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    l["amount"]
                        .as_str()
                        .unwrap()
                        .parse::<rust_decimal::Decimal>()
                        .unwrap()
                })
                .sum();
            assert_eq!(
                sum.to_string(),
                r.body["total"].as_str().unwrap(),
                "the total is the sum of the lines"
            );
            r.body
        }
    };
    let total = |v: &Value| v["total"].as_str().unwrap().to_string();

    // unit: one rounding per line, to the currency's minor units.
    let unit = |rate: &str| metered("unit", json!({"price_per_unit": rate}));
    let r = preview(unit("0.00025"), "USD", json!({"quantity": "12345"})).await;
    assert_eq!(total(&r), "3.09");
    assert_eq!(r["lines"][0]["quantity"], "12345");
    assert_eq!(r["lines"][0]["unit_price"], "0.00025");
    assert_eq!(r["lines"][0]["kind"], "usage");
    assert_eq!(
        (r["currency"].as_str(), r["type"].as_str()),
        (Some("USD"), Some("unit"))
    );
    assert_eq!(
        total(&preview(unit("1.5"), "JPY", json!({"quantity": "3"})).await),
        "5"
    );
    assert_eq!(
        total(&preview(unit("1.2345"), "bhd", json!({"quantity": "1"})).await),
        "1.235"
    );

    // fixed: its own units, whatever the usage.
    let fixed = json!({"type": "fixed", "fee_type": "fixed", "billing_direction": "advance", "billing_frequency": "recurring",
                       "fixed_pricing_model": {"price_per_unit": "8.75", "units": 12}});
    assert_eq!(total(&preview(fixed, "USD", json!({})).await), "105.00");

    // tiered (volume), with the first tier's fee at zero usage and the boundary rule.
    let volume = metered(
        "tiered",
        json!({"tiers": tiers(FEE_TIERS, "price_per_unit")}),
    );
    for (q, expected) in [
        ("0", "10.00"),
        ("1000", "110.00"),
        ("1000.5", "100.04"),
        ("10001", "550.05"),
    ] {
        let r = preview(volume.clone(), "USD", json!({"quantity": q})).await;
        assert_eq!(total(&r), expected, "tiered at {q}");
    }
    let guide = metered(
        "tiered",
        json!({"tiers": tiers(&[(0, Some(100), "0.15", None), (101, Some(500), "0.10", None), (501, None, "0.05", None)], "price_per_unit")}),
    );
    assert_eq!(
        total(&preview(guide.clone(), "USD", json!({"quantity": "250"})).await),
        "25.00"
    );
    let mut fixed_fee_tiers = guide;
    fixed_fee_tiers["fee_type"] = json!("fixed");
    fixed_fee_tiers["billing_frequency"] = json!("recurring");
    fixed_fee_tiers
        .as_object_mut()
        .unwrap()
        .remove("metric_ids");
    fixed_fee_tiers["tiered_pricing_model"]["units"] = json!(250);
    assert_eq!(
        total(&preview(fixed_fee_tiers, "USD", json!({})).await),
        "25.00"
    );

    // graduated_tiered.
    let graduated = metered(
        "graduated_tiered",
        json!({"tiers": tiers(FEE_TIERS, "price_per_unit")}),
    );
    let r = preview(graduated.clone(), "USD", json!({"quantity": "10001"})).await;
    assert_eq!(total(&r), "900.05");
    assert_eq!(r["lines"].as_array().unwrap().len(), 6);
    assert_eq!(r["lines"][2]["quantity"], "9000");
    assert_eq!(r["lines"][2]["tier"], 1);
    assert_eq!(
        total(&preview(graduated, "USD", json!({"quantity": "1000.5"})).await),
        "130.04"
    );
    let half_open = metered(
        "graduated_tiered",
        json!({"tiers": tiers(&[(0, Some(100), "1.00", None), (100, Some(200), "0.50", None), (200, None, "0.25", None)], "unit_price")}),
    );
    assert_eq!(
        total(&preview(half_open, "USD", json!({"quantity": "250"})).await),
        "162.50"
    );

    // Percentage models read an amount.
    let tiered_pct = metered(
        "tiered_percentage",
        json!({"tiers": tiers(&[(0, Some(10000), "3.0", None), (10001, Some(50000), "2.5", Some("5.00")), (50001, None, "2.0", Some("10.00"))], "percentage")}),
    );
    assert_eq!(
        total(&preview(tiered_pct, "USD", json!({"amount": "10000.50"})).await),
        "255.01"
    );
    let graduated_pct = metered(
        "graduated_percentage",
        json!({"tiers": tiers(&[(0, Some(1000000), "0.5", None), (1000000, Some(5000000), "0.4", None), (5000000, None, "0.3", None)], "percentage")}),
    );
    assert_eq!(
        total(&preview(graduated_pct, "USD", json!({"quantity": "6000000"})).await),
        "24000.00"
    );
    let volume_pct = metered(
        "volume_percentage",
        json!({"percentage": "2.9", "price_per_unit": "0.30", "fixed_fee": "10.00"}),
    );
    let r = preview(
        volume_pct,
        "USD",
        json!({"amount": "1234.56", "transactions": "7"}),
    )
    .await;
    assert_eq!(total(&r), "47.90");
    assert_eq!(r["lines"][0]["amount"], "35.80");

    // prepaid_tiered: the block whatever the usage, overage continuing through the tiers.
    let prepaid = metered(
        "prepaid_tiered",
        json!({"prepaid_units": 10000, "tiers": tiers(&[(0, Some(10000), "0.01", None), (10001, Some(50000), "0.008", None), (50001, None, "0.005", None)], "price_per_unit")}),
    );
    for (q, expected) in [("0", "100.00"), ("12000", "116.00"), ("60000", "470.00")] {
        let r = preview(prepaid.clone(), "USD", json!({"quantity": q})).await;
        assert_eq!(total(&r), expected, "prepaid at {q}");
    }
    let mut bigger_block = prepaid.clone();
    bigger_block["prepaid_tiered_pricing_model"]["prepaid_units"] = json!(15000);
    let r = preview(bigger_block, "USD", json!({"quantity": "20000"})).await;
    assert_eq!(total(&r), "180.00", "a block of 15,000 spans two tiers");
    let r = preview(prepaid, "USD", json!({"quantity": "12000"})).await;
    let kinds: Vec<&str> = r["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["prepaid", "overage"]);

    // package (extension): partial packages round up.
    let package = metered(
        "package",
        json!({"package_size": 1000, "price_per_package": "10.00"}),
    );
    for (q, expected) in [
        ("2500", "30.00"),
        ("1000", "10.00"),
        ("1001", "20.00"),
        ("0", "0.00"),
    ] {
        assert_eq!(
            total(&preview(package.clone(), "USD", json!({"quantity": q})).await),
            expected,
            "package at {q}"
        );
    }

    // expression: one line per charge.
    let mut expression = metered(
        "expression",
        json!({"charges": [
            {"billing_direction": "arrears", "description": "API calls", "quantity_expression": "usage.api_calls", "unit_price_expression": "0.01"},
            {"billing_direction": "arrears", "description": "Storage over 100 GB", "quantity_expression": "max(0, usage.storage_gb - 100)", "unit_price_expression": "0.25"}
        ], "metric_bindings": [{"alias": "api_calls", "metric_id": "mtr_calls"}, {"alias": "storage_gb", "metric_id": "mtr_gb"}]}),
    );
    expression["metric_ids"] = json!(["mtr_calls", "mtr_gb"]);
    let r = preview(
        expression,
        "USD",
        json!({"metrics": {"usage.api_calls": "1234", "usage.storage_gb": "250.5"}}),
    )
    .await;
    assert_eq!(total(&r), "49.97");
    assert_eq!(r["lines"][1]["amount"], "37.63");
    assert_eq!(r["lines"][1]["charge"], 1);

    // matrix: rows reaching one cell are added up.
    let leaf = |key: &str, rate: &str| json!({"leaf": {"type": "unit", "cell_key": key, "unit_pricing_model": {"price_per_unit": rate}}});
    let matrix = metered(
        "matrix",
        json!({"dimensions": [{"key": "region", "label": "Region"}, {"key": "tier", "label": "Tier"}],
               "root": {"splits": [{"dimension_key": "region",
                   "branches": [
                       {"value": "us", "child": {"splits": [{"dimension_key": "tier", "branches": [
                           {"value": "standard", "child": leaf("us_standard", "0.10")},
                           {"value": "premium", "child": leaf("us_premium", "0.20")}]}]}},
                       {"value": "eu", "child": leaf("eu", "0.15")}],
                   "wildcard": leaf("rest", "0.30")}]}}),
    );
    let usage = json!({"usage": [
        {"dimensions": {"region": "us", "tier": "standard"}, "quantity": "100"},
        {"dimensions": {"region": "us", "tier": "premium"}, "quantity": "50"},
        {"dimensions": {"region": "eu", "tier": "premium"}, "quantity": "10"},
        {"dimensions": {"region": "eu", "tier": "standard"}, "quantity": "20"}]});
    let r = preview(matrix.clone(), "USD", usage).await;
    assert_eq!(total(&r), "24.50");
    assert_eq!(r["lines"][2]["cell"], "eu");
    assert_eq!(r["lines"][2]["quantity"], "30");
    let r = app
        .post_v2(
            "/prices/preview",
            &json!({"price": matrix, "currency": "USD", "usage": [{"dimensions": {"zone": "x"}, "quantity": "1"}]}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), ["usage"]);

    // Discount, then the minimum's true-up or the maximum's cap.
    let mut discounted = metered("unit", json!({"price_per_unit": "0.10"}));
    discounted["discount"] =
        json!({"amount": "10", "type": "percentage", "duration_type": "monthly_rolling"});
    discounted["minimum_spend"] = json!({"amount": "95.00", "period": "monthly"});
    let r = preview(discounted.clone(), "USD", json!({"quantity": "1000"})).await;
    assert_eq!(total(&r), "95.00");
    let kinds: Vec<&str> = r["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["usage", "discount", "minimum_spend"]);
    assert_eq!(r["lines"][2]["amount"], "5.00");
    discounted.as_object_mut().unwrap().remove("minimum_spend");
    discounted["maximum_spend"] = json!({"amount": "75.00", "period": "monthly"});
    let r = preview(discounted, "USD", json!({"quantity": "1000"})).await;
    assert_eq!(total(&r), "75.00");
    assert_eq!(r["lines"][2]["amount"], "-15.00");
}
