//! Helpers for the subscription tests: a catalog to subscribe to, prices, and calls.

use jiff::civil::Date;
use reqwest::Method;
use serde_json::{Value, json};

use crate::catalog_support::unit_price;
use crate::harness::{Resp, TestApp, V2};

/// What the subscription tests subscribe to: a customer (USD), a metric, products, a bundle of
/// two add-ons, and plans in USD and EUR.
#[allow(dead_code)]
#[derive(Clone)]
pub struct Catalog {
    pub customer: String,
    pub calls: String,
    /// Metered, on `calls`.
    pub api: String,
    /// Fixed, in advance.
    pub seats: String,
    pub support: String,
    pub sso: String,
    /// `support` at 50.00 and `sso` at 20.00 (USD).
    pub bundle: String,
    /// "Growth": seats at 99.00/month and api at 0.01, fixed 12 months renewing, 14-day trial,
    /// an `sso` entitlement.
    pub plan: String,
    /// "Scale": seats at 499.00 and api at 0.005, an `sso` and a `seats` entitlement.
    pub plan_scale: String,
    pub plan_eur: String,
}

/// A recurring fixed price of `amount` a month, billed in advance.
pub fn monthly(amount: &str) -> Value {
    json!({"type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
           "billing_frequency": "recurring", "billing_interval": "monthly",
           "fixed_pricing_model": {"price_per_unit": amount, "units": 1}})
}

/// The local (UTC) date today, and dates around it.
pub fn today() -> Date {
    jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date()
}

pub fn days_from_today(n: i64) -> String {
    today()
        .checked_add(jiff::Span::new().days(n))
        .unwrap()
        .to_string()
}

impl TestApp {
    pub async fn put_v2(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::PUT, path).header(V2.0, V2.1).json(body))
            .await
    }

    pub async fn delete_v2(&self, path: &str) -> Resp {
        self.send(self.req(Method::DELETE, path).header(V2.0, V2.1))
            .await
    }

    pub async fn catalog(&self) -> Catalog {
        let customer = self.customer("Globex", &["globex"]).await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let calls = self.calls_metric("Calls").await;
        let api = self.metered_product("API", &calls).await;
        let seats = self.fixed_product("Seats").await;
        let support = self.fixed_product("Support").await;
        let sso = self.fixed_product("SSO").await;
        let bundle = self
            .created(
                "/bundles",
                json!({"name": "Add-ons", "currency": "USD", "prices": [
                    {"product_id": support, "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
                     "billing_frequency": "recurring", "billing_interval": "monthly",
                     "fixed_pricing_model": {"price_per_unit": "50.00", "units": 1}},
                    {"product_id": sso, "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
                     "billing_frequency": "recurring", "billing_interval": "monthly",
                     "fixed_pricing_model": {"price_per_unit": "20.00", "units": 1}}]}),
            )
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let plan = |name: &str, currency: &str, seat: &str, rate: &str, ents: Value| {
            json!({"name": name, "currency": currency, "contract_period_type": "fixed", "contract_duration": 12,
                   "auto_renew": true, "trial_period_days": 14, "payment_terms": "net_15",
                   "entitlements": ents,
                   "items": [{"product_id": seats, "price": monthly(seat)},
                             {"product_id": api, "price": unit_price(&calls, rate)}]})
        };
        let sso_ent =
            json!({"entitlement_key": "sso", "mode": "static", "type": "boolean", "value": "true"});
        let seats_ent =
            json!({"entitlement_key": "seats", "mode": "static", "type": "number", "value": "50"});
        let id = |v: Value| v["id"].as_str().unwrap().to_string();
        let growth = id(self
            .created(
                "/plans",
                plan("Growth", "USD", "99.00", "0.01", json!([sso_ent.clone()])),
            )
            .await);
        let scale = id(self
            .created(
                "/plans",
                plan(
                    "Scale",
                    "USD",
                    "499.00",
                    "0.005",
                    json!([sso_ent, seats_ent]),
                ),
            )
            .await);
        let eur = id(self
            .created("/plans", plan("Euro", "EUR", "90.00", "0.01", json!([])))
            .await);
        Catalog {
            customer,
            calls,
            api,
            seats,
            support,
            sso,
            bundle,
            plan: growth,
            plan_scale: scale,
            plan_eur: eur,
        }
    }

    /// `POST /subscriptions` (v2), asserting 201.
    pub async fn subscription(&self, body: Value) -> Value {
        let r = self.post_v2("/subscriptions", &body).await;
        assert_eq!(r.status, 201, "create subscription: {}", r.text);
        r.body
    }

    /// An active subscription of the catalog's customer with a seat price of `amount` a month
    /// and the metered API price, on a monthly-rolling contract from `start`.
    pub async fn active(&self, c: &Catalog, start: &str, amount: &str) -> Value {
        self.subscription(json!({
            "customer_id": c.customer,
            "contract": {"start_date": start},
            "items": [{"product_id": c.seats, "price": monthly(amount)},
                      {"product_id": c.api, "price": unit_price(&c.calls, "0.01")}],
            "auto_activate": true,
        }))
        .await
    }

    /// A v2 GET asserting 200.
    pub async fn ok(&self, path: &str) -> Value {
        let r = self.get_v2(path).await;
        assert_eq!(r.status, 200, "GET {path}: {}", r.text);
        r.body
    }
}

pub fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The keys (product or bundle ids) of a version's items, in order.
pub fn item_keys(version: &Value) -> Vec<String> {
    version["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            i["product_id"]
                .as_str()
                .or(i["bundle_id"].as_str())
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The unit amount of the fixed price of `product` in a version.
pub fn seat_price(version: &Value, product: &str) -> String {
    version["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["product_id"] == product)
        .map(|i| {
            i["price"]["fixed_pricing_model"]["price_per_unit"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .unwrap_or_default()
}

/// Asserts a 409 whose detail contains `text`.
#[track_caller]
pub fn conflict(r: &Resp, text: &str) {
    let p = r.problem(409);
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains(text), "detail {detail:?} lacks {text:?}");
}
