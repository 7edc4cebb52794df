//! Helpers for the metering tests: posting events, creating metrics, reading usage.

use serde_json::{Value, json};

use crate::harness::{Resp, TestApp};

impl TestApp {
    pub async fn ingest(&self, events: Value) -> Resp {
        self.post_v2("/events", &json!({ "events": events })).await
    }

    pub async fn metric(&self, body: Value) -> String {
        let r = self.post_v2("/metrics", &body).await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body["id"].as_str().unwrap().to_string()
    }

    /// The usage value (as a string) of `metric` for `customer` over `[from, to)`.
    pub async fn usage(&self, customer: &str, metric: &str, from: &str, to: &str) -> String {
        let r = self
            .get_v2(&format!(
                "/customers/{customer}/usage?metric_id={metric}&from={from}&to={to}"
            ))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["value"].as_str().unwrap().to_string()
    }
}

/// An event JSON object.
pub fn ev(id: &str, account: &str, name: &str, ts: &str, props: Value) -> Value {
    json!({"unique_id": id, "account": account, "event_name": name, "timestamp": ts, "properties": props})
}

pub fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}
