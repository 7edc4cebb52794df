//! Helpers for the catalog tests: metrics, tags and products to price, and price documents.

use serde_json::{Value, json};

use crate::harness::TestApp;

impl TestApp {
    /// A `count` metric over `api` events.
    pub async fn calls_metric(&self, name: &str) -> String {
        self.metric(json!({"name": name, "event_name": "api", "aggregation": {"method": "count"}}))
            .await
    }

    /// A tag for the given kinds of object (all when empty).
    pub async fn tag(&self, name: &str, types: &[&str]) -> String {
        let mut body = json!({"name": name});
        if !types.is_empty() {
            body["entity_types"] = json!(types);
        }
        let r = self.post_v2("/tags", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// A v2 create; asserts 201 and returns the body.
    pub async fn created(&self, path: &str, body: Value) -> Value {
        let r = self.post_v2(path, &body).await;
        assert_eq!(r.status, 201, "POST {path}: {}", r.text);
        r.body
    }

    pub async fn metered_product(&self, name: &str, metric: &str) -> String {
        let p = self
            .created(
                "/products",
                json!({"name": name, "fee_type": "metered", "payment_terms": "arrears", "metric_ids": [metric]}),
            )
            .await;
        p["id"].as_str().unwrap().to_string()
    }

    pub async fn fixed_product(&self, name: &str) -> String {
        let p = self
            .created(
                "/products",
                json!({"name": name, "fee_type": "fixed", "payment_terms": "advance", "billing_frequency": "recurring"}),
            )
            .await;
        p["id"].as_str().unwrap().to_string()
    }
}

/// A metered `unit` price.
pub fn unit_price(metric: &str, rate: &str) -> Value {
    json!({"type": "unit", "fee_type": "metered", "billing_direction": "arrears", "metric_ids": [metric],
           "unit_pricing_model": {"price_per_unit": rate}})
}

/// A recurring `fixed` price of `units × amount`.
pub fn fixed_price(amount: &str, units: i64) -> Value {
    json!({"type": "fixed", "fee_type": "fixed", "billing_direction": "advance", "billing_frequency": "recurring",
           "fixed_pricing_model": {"price_per_unit": amount, "units": units}})
}

/// A metered price of a tiered `kind` (`tiered`, `graduated_tiered`, ...) with these tiers.
pub fn tiered_price(kind: &str, metric: &str, tiers: Value) -> Value {
    let mut p = json!({"type": kind, "fee_type": "metered", "billing_direction": "arrears", "metric_ids": [metric]});
    p[format!("{kind}_pricing_model")] = json!({ "tiers": tiers });
    p
}

/// The ids in a list response's `data` (v2) or `products` (v1).
pub fn ids(list: &Value) -> Vec<String> {
    list.get("data")
        .or_else(|| list.get("products"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| x["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}
