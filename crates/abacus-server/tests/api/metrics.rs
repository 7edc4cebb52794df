//! `/metrics` on both surfaces, and usage queries checked against a recomputation from the raw
//! events the test sent.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use abacus_store::{Backend, on_both_backends};
use rand::{RngExt, SeedableRng};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::metering_support::ev;

on_both_backends!(
    metric_lifecycle_and_lists,
    metric_validation,
    metrics_created_later_count_earlier_events,
    usage_equals_a_recomputation,
    every_filter_operator_and_backfill_equal_a_recomputation,
    usage_windows_groups_and_edges,
    usage_query_errors,
);

async fn metric_lifecycle_and_lists(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let r = app
        .post_v2(
            "/metrics",
            &json!({"name": "EU tokens", "description": "tokens in the EU", "event_name": "llm",
                    "aggregation": {"method": "sum", "field": "tokens"},
                    "filter_groups": [{"operator": "and", "filters": [{"field": "region", "operator": "equal", "value": "eu"}]}],
                    "tag_ids": ["tag_ai"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("mtr_") && id.len() == 26, "{id}");
    assert_eq!(r.body["filter_groups"][0]["filters"][0]["value"], "eu");
    assert_eq!(
        r.body["aggregation"],
        json!({"method": "sum", "field": "tokens"})
    );

    let count = app
        .metric(json!({"name": "Calls", "event_name": "api", "aggregation": {"method": "count"}}))
        .await;
    let v1 = app
        .post("/metrics", &json!({"name": "Users", "eventName": "api", "aggregation": {"method": "count_unique", "field": "user"}}))
        .await;
    assert_eq!(v1.status, 201, "{}", v1.text);
    assert_eq!(v1.body["eventName"], "api");
    assert!(v1.body.get("event_name").is_none());

    let got = app.get_v2(&format!("/metrics/{id}")).await;
    assert_eq!(got.body["name"], "EU tokens");
    assert_eq!(
        got.body["diagnostics"],
        json!({"skipped_missing_field": 0, "skipped_non_numeric": 0})
    );
    assert_eq!(
        app.get_v2(&format!("/metrics/{count}")).await.body["aggregation"]["field"],
        ""
    );

    let names = |r: &crate::harness::Resp| {
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(&app.get_v2("/metrics").await),
        vec!["EU tokens", "Calls", "Users"]
    );
    assert_eq!(
        names(&app.get_v2("/metrics?event_name=api&sort=name:asc").await),
        vec!["Calls", "Users"]
    );
    assert_eq!(
        names(&app.get_v2("/metrics?aggregation_method=sum,count").await),
        vec!["EU tokens", "Calls"]
    );
    assert_eq!(
        names(&app.get_v2("/metrics?aggregation_field=user").await),
        vec!["Users"]
    );
    assert_eq!(
        names(&app.get_v2("/metrics?tag_ids=tag_ai").await),
        vec!["EU tokens"]
    );
    assert!(
        names(&app.get_v2("/metrics?tag_ids=tagXai").await).is_empty(),
        "LIKE wildcards are escaped"
    );
    let page = app.get_v2("/metrics?limit=2&offset=2").await;
    assert_eq!(names(&page), vec!["Users"]);
    assert_eq!(
        page.body["pagination"],
        json!({"per_page": 2, "total_pages": 2})
    );
    assert_eq!(app.get("/metrics?limit=2").await.body["pageCount"], 2);

    let r = app
        .patch_v2(
            &format!("/metrics/{id}"),
            &json!({"name": "Tokens (EU)", "description": null}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["name"], "Tokens (EU)");
    assert!(r.body.get("description").is_none());
    let r = app
        .post_v2(&format!("/metrics/{id}/archive"), &json!({}))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body["archived_at"].is_string());
    assert_eq!(names(&app.get_v2("/metrics").await), vec!["Calls", "Users"]);
    assert_eq!(
        names(&app.get_v2("/metrics?include_archived=true").await).len(),
        3
    );
    app.get_v2("/metrics/mtr_missing").await.problem(404);
    let other = app.new_tenant().await;
    let r = app
        .send(
            app.http
                .get(app.url(&format!("/metrics/{count}")))
                .bearer_auth(other),
        )
        .await;
    r.problem(404);
}

async fn metric_validation(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let base =
        json!({"name": "M", "event_name": "e", "aggregation": {"method": "sum", "field": "v"}});
    let with = |path: &[&str], v: Value| {
        let mut b = base.clone();
        let mut at = &mut b;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = v;
        b
    };
    let group = |op: &str, filters: Value| json!([{"operator": op, "filters": filters}]);
    let cases: Vec<(Value, &str)> = vec![
        (with(&["name"], json!("")), "name"),
        (with(&["event_name"], json!(" ")), "event_name"),
        (
            with(&["aggregation", "method"], json!("median")),
            "aggregation.method",
        ),
        (
            with(&["aggregation", "field"], Value::Null),
            "aggregation.field",
        ),
        (
            with(
                &["filter_groups"],
                group(
                    "xor",
                    json!([{"field": "a", "operator": "equal", "value": "b"}]),
                ),
            ),
            "filter_groups[0].operator",
        ),
        (
            with(&["filter_groups"], group("and", json!([]))),
            "filter_groups[0].filters",
        ),
        (
            with(
                &["filter_groups"],
                group(
                    "and",
                    json!([{"field": "a", "operator": "like", "value": "b"}]),
                ),
            ),
            "filter_groups[0].filters[0].operator",
        ),
        (
            with(
                &["filter_groups"],
                group(
                    "and",
                    json!([{"field": "a", "operator": "gt", "value": "ten"}]),
                ),
            ),
            "filter_groups[0].filters[0].value",
        ),
        (
            with(
                &["filter_groups"],
                group(
                    "and",
                    json!([{"field": "", "operator": "equal", "value": "b"}]),
                ),
            ),
            "filter_groups[0].filters[0].field",
        ),
        (
            with(
                &["filter_groups"],
                group(
                    "or",
                    json!([{"field": "a", "operator": "equal", "value": {"x": 1}}]),
                ),
            ),
            "filter_groups[0].filters[0].value",
        ),
        (with(&["tag_ids"], json!(["bad tag"])), "tag_ids[0]"),
        (json!({"name": "M", "event_name": "e"}), "aggregation"),
        (with(&["aggregation"], json!("sum")), "aggregation"),
    ];
    for (body, field) in cases {
        let r = app.post_v2("/metrics", &body).await;
        r.problem(422);
        assert_eq!(
            r.error_fields().first().map(String::as_str),
            Some(field),
            "{}",
            r.text
        );
    }
    // A numeric filter value may come as a JSON number.
    let r = app
        .post_v2(
            "/metrics",
            &with(
                &["filter_groups"],
                group(
                    "and",
                    json!([{"field": "a", "operator": "gte", "value": 10}]),
                ),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["filter_groups"][0]["filters"][0]["value"], "10");
    let r = app
        .post(
            "/metrics",
            &json!({"name": "M", "eventName": "e", "aggregation": {"method": "max"}}),
        )
        .await;
    r.problem(422);
    assert_eq!(r.error_fields(), vec!["aggregation.field"]);
    assert_eq!(
        app.get_v2("/metrics").await.body["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn metrics_created_later_count_earlier_events(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.customer("Acme", &["acme"]).await;
    let t = "2026-10-15T12:30:00Z";
    app.ingest(json!([
        ev(
            "b1",
            "acme",
            "llm",
            t,
            json!({"tokens": "0.0001", "region": "eu"})
        ),
        ev("b2", "acme", "llm", t, json!({"tokens": 2, "region": "us"})),
        ev(
            "b3",
            "acme",
            "llm",
            t,
            json!({"tokens": "lots", "region": "eu"})
        ),
        ev("b4", "acme", "llm", t, json!({"region": "eu"})),
        ev("b5", "acme", "other", t, json!({"tokens": 100})),
    ]))
    .await;
    let sum = app.metric(json!({"name": "T", "event_name": "llm", "aggregation": {"method": "sum", "field": "tokens"}})).await;
    let eu = app
        .metric(json!({"name": "EU", "event_name": "llm", "aggregation": {"method": "count"},
                       "filter_groups": [{"operator": "and", "filters": [{"field": "region", "operator": "equal", "value": "eu"}]}]}))
        .await;
    let (from, to) = ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
    assert_eq!(app.usage("acme", &sum, from, to).await, "2.0001");
    assert_eq!(app.usage("acme", &eu, from, to).await, "3");
    let d = app.get_v2(&format!("/metrics/{sum}")).await.body["diagnostics"].clone();
    assert_eq!(
        d,
        json!({"skipped_missing_field": 1, "skipped_non_numeric": 1})
    );
    // The create answer already tells what the backfill skipped.
    let created = app
        .post_v2(
            "/metrics",
            &json!({"name": "T2", "event_name": "llm", "aggregation": {"method": "sum", "field": "tokens"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["diagnostics"], d);
    // Later events keep counting.
    app.ingest(json!([ev(
        "b6",
        "acme",
        "llm",
        t,
        json!({"tokens": 1, "region": "eu"})
    )]))
    .await;
    assert_eq!(app.usage("acme", &sum, from, to).await, "3.0001");
    assert_eq!(app.usage("acme", &eu, from, to).await, "4");
}

/// Every aggregation method.
const METHODS: [&str; 7] = [
    "count",
    "count_unique",
    "sum",
    "min",
    "max",
    "average",
    "latest",
];

/// Usage equals a recomputation, written here from scratch, over random events: every
/// aggregation, a filter, decimals with many places, late events, random ranges.
async fn usage_equals_a_recomputation(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for c in ["c0", "c1"] {
        app.customer(c, &[c]).await;
    }
    let mut metrics: Vec<(String, &str, bool)> = Vec::new();
    for method in METHODS {
        for filtered in [false, true] {
            let mut body = json!({"name": format!("{method} {filtered}"), "event_name": "use", "aggregation": {"method": method, "field": "v"}});
            if filtered {
                body["filter_groups"] = json!([{"operator": "or", "filters": [{"field": "zone", "operator": "in", "value": "a,b"}]}]);
            }
            metrics.push((app.metric(body).await, method, filtered));
        }
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let start = abacus_core::time::parse_rfc3339("2026-09-28T00:00:00Z").unwrap();
    let hour = 3_600_000_000i64;
    let mut sent: Vec<(String, i64, i64, Option<String>, &str)> = Vec::new();
    for batch in 0..6 {
        let mut events = Vec::new();
        for i in 0..60 {
            let n = batch * 60 + i;
            let ts = start + rng.random_range(0..(40 * 24 * hour));
            let value = match rng.random_range(0..6) {
                0 => None,
                1 => Some(format!(
                    "{}.{:010}",
                    rng.random_range(-50..500),
                    rng.random_range(0..10_000_000_000i64)
                )),
                2 => Some(rng.random_range(0..4).to_string()),
                _ => Some(format!("{}.5", rng.random_range(0..100))),
            };
            let zone = ["a", "b", "c"][rng.random_range(0..3)];
            let customer = if rng.random_bool(0.5) { "c0" } else { "c1" };
            let mut props = json!({"zone": zone});
            if let Some(v) = &value {
                props["v"] = json!(v);
            }
            events.push(ev(
                &format!("r{n}"),
                customer,
                "use",
                &abacus_core::time::format_micros(ts),
                props,
            ));
            sent.push((customer.to_string(), ts, n, value, zone));
        }
        let r = app.ingest(Value::Array(events)).await;
        assert!(
            r.body["failed"].as_array().unwrap().is_empty(),
            "{}",
            r.text
        );
    }
    let ranges = [
        ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        ("2026-09-28T00:00:00Z", "2026-11-07T00:00:00Z"),
        ("2026-10-05T13:17:11.5Z", "2026-10-19T02:00:00.000001Z"),
        ("2026-10-10T10:00:00Z", "2026-10-10T11:00:00Z"),
    ];
    for (metric, method, filtered) in &metrics {
        for customer in ["c0", "c1"] {
            for (from, to) in ranges {
                let (f, t) = (
                    abacus_core::time::parse_rfc3339(from).unwrap(),
                    abacus_core::time::parse_rfc3339(to).unwrap(),
                );
                let events: Vec<&(String, i64, i64, Option<String>, &str)> = sent
                    .iter()
                    .filter(|e| e.0 == customer && e.1 >= f && e.1 < t && (!filtered || e.4 != "c"))
                    .collect();
                let expected = recompute(method, &events);
                let got = app.usage(customer, metric, from, to).await;
                assert_eq!(
                    Decimal::from_str(&got).unwrap(),
                    expected,
                    "{method} filtered={filtered} {customer} {from}..{to}"
                );
            }
        }
    }
}

/// A property as the test sent it: a JSON string or a JSON number (its text either way).
#[derive(Clone, Debug)]
enum Prop {
    Str(String),
    Num(String),
}

impl Prop {
    fn json(&self) -> Value {
        match self {
            Prop::Str(s) => json!(s),
            Prop::Num(s) => serde_json::from_str(s).unwrap(),
        }
    }

    fn text(&self) -> &str {
        match self {
            Prop::Str(s) | Prop::Num(s) => s,
        }
    }

    /// A JSON number, or a string of digits, signs and a point that reads as a decimal.
    fn decimal(&self) -> Option<Decimal> {
        let t = self.text();
        match self {
            Prop::Num(_) => Decimal::from_str(t).ok(),
            Prop::Str(_)
                if t.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
            {
                Decimal::from_str(t).ok()
            }
            Prop::Str(_) => None,
        }
    }
}

struct Sent {
    customer: &'static str,
    ts: i64,
    n: i64,
    props: BTreeMap<&'static str, Prop>,
}

/// One filter of the test, written from the API's description: a missing property matches
/// only `not_equal` and `not_contains`; `equal` and `in` compare as numbers when both sides are
/// numbers and as text otherwise; `contains` looks in the text; the numeric operators need two
/// numbers.
fn filter_matches(e: &Sent, field: &str, op: &str, value: &str) -> bool {
    let Some(p) = e.props.get(field) else {
        return matches!(op, "not_equal" | "not_contains");
    };
    let same = |wanted: &str| match (p.decimal(), Decimal::from_str(wanted.trim()).ok()) {
        (Some(a), Some(b)) => a == b,
        _ => p.text() == wanted,
    };
    match op {
        "equal" => same(value),
        "not_equal" => !same(value),
        "in" => value.split(',').map(str::trim).any(same),
        "contains" => p.text().contains(value),
        "not_contains" => !p.text().contains(value),
        _ => match (p.decimal(), Decimal::from_str(value).ok()) {
            (Some(a), Some(b)) => match op {
                "gt" => a > b,
                "gte" => a >= b,
                "lt" => a < b,
                _ => a <= b,
            },
            _ => false,
        },
    }
}

/// Every filter operator, `and` and `or` groups, two groups OR-ed, every aggregation, numbers
/// sent as JSON numbers and as strings, values that are not numbers, and half of the metrics
/// created after their events (backfill), against a recomputation, over random events.
async fn every_filter_operator_and_backfill_equal_a_recomputation(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    for c in ["c0", "c1"] {
        app.customer(c, &[c]).await;
    }
    // (group operator, [(field, operator, value)]) per group; no group: every event.
    type Groups = Vec<(
        &'static str,
        Vec<(&'static str, &'static str, &'static str)>,
    )>;
    let filters: Vec<Groups> = vec![
        vec![],
        vec![("and", vec![("zone", "equal", "a")])],
        vec![("and", vec![("zone", "not_equal", "c")])],
        vec![("or", vec![("tag", "contains", "x")])],
        vec![("or", vec![("tag", "not_contains", "x")])],
        vec![("or", vec![("w", "in", "1, 2.5,abc")])],
        vec![("and", vec![("w", "gt", "2")])],
        vec![("and", vec![("w", "gte", "2.5")])],
        vec![("and", vec![("w", "lt", "2")])],
        vec![("and", vec![("w", "lte", "2.5")])],
        vec![("and", vec![("zone", "equal", "b"), ("w", "gte", "1")])],
        vec![
            (
                "and",
                vec![("zone", "equal", "a"), ("tag", "contains", "y")],
            ),
            ("or", vec![("w", "lt", "1"), ("tag", "equal", "zz")]),
        ],
    ];
    let body = |i: usize, method: &str, groups: &Groups| {
        let groups: Vec<Value> = groups
            .iter()
            .map(|(op, fs)| {
                let fs: Vec<Value> = fs
                    .iter()
                    .map(|(f, o, v)| json!({"field": f, "operator": o, "value": v}))
                    .collect();
                json!({"operator": op, "filters": fs})
            })
            .collect();
        json!({"name": format!("m{i}"), "event_name": "use",
               "aggregation": {"method": method, "field": "v"}, "filter_groups": groups})
    };
    let combos: Vec<(usize, &str, &Groups)> = METHODS
        .iter()
        .flat_map(|m| filters.iter().map(move |f| (*m, f)))
        .enumerate()
        .map(|(i, (m, f))| (i, m, f))
        .collect();
    // Even combinations exist before the events, odd ones are created after them.
    let mut metrics: BTreeMap<usize, String> = BTreeMap::new();
    for (i, method, groups) in combos.iter().filter(|c| c.0 % 2 == 0) {
        metrics.insert(*i, app.metric(body(*i, method, groups)).await);
    }

    let mut rng = rand::rngs::StdRng::seed_from_u64(20261127);
    let start = abacus_core::time::parse_rfc3339("2026-09-28T00:00:00Z").unwrap();
    let hour = 3_600_000_000i64;
    let mut sent: Vec<Sent> = Vec::new();
    for batch in 0..5 {
        let mut events = Vec::new();
        for i in 0..60 {
            let n = batch * 60 + i;
            let mut props = BTreeMap::new();
            props.insert(
                "zone",
                Prop::Str(["a", "b", "c"][rng.random_range(0..3)].into()),
            );
            match rng.random_range(0..5) {
                0 => {}
                k => {
                    props.insert("tag", Prop::Str(["x", "xy", "y", "zz"][k - 1].into()));
                }
            }
            match rng.random_range(0..6) {
                0 => {}
                1 => {
                    props.insert("w", Prop::Num(rng.random_range(0..4).to_string()));
                }
                2 => {
                    props.insert("w", Prop::Str("2.50".into()));
                }
                3 => {
                    props.insert("w", Prop::Str("abc".into()));
                }
                _ => {
                    props.insert("w", Prop::Str(format!("{}.25", rng.random_range(0..4))));
                }
            }
            match rng.random_range(0..6) {
                0 => {}
                1 => {
                    props.insert("v", Prop::Str("n/a".into()));
                }
                2 => {
                    props.insert("v", Prop::Num(rng.random_range(-3..40).to_string()));
                }
                _ => {
                    props.insert(
                        "v",
                        Prop::Str(format!(
                            "{}.{:08}",
                            rng.random_range(0..50),
                            rng.random_range(1..100_000_000)
                        )),
                    );
                }
            }
            let e = Sent {
                customer: if rng.random_bool(0.5) { "c0" } else { "c1" },
                ts: start + rng.random_range(0..(40 * 24 * hour)),
                n,
                props,
            };
            let json_props: serde_json::Map<String, Value> = e
                .props
                .iter()
                .map(|(k, v)| (k.to_string(), v.json()))
                .collect();
            events.push(ev(
                &format!("f{n}"),
                e.customer,
                "use",
                &abacus_core::time::format_micros(e.ts),
                Value::Object(json_props),
            ));
            sent.push(e);
        }
        let r = app.ingest(Value::Array(events)).await;
        assert!(
            r.body["failed"].as_array().unwrap().is_empty(),
            "{}",
            r.text
        );
    }
    for (i, method, groups) in combos.iter().filter(|c| c.0 % 2 == 1) {
        metrics.insert(*i, app.metric(body(*i, method, groups)).await);
    }

    let ranges = [
        ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
        ("2026-09-28T00:00:00Z", "2026-11-07T00:00:00Z"),
        ("2026-10-05T13:17:11.5Z", "2026-10-19T02:00:00.000001Z"),
    ];
    for (i, method, groups) in &combos {
        let admitted = |e: &Sent| {
            groups.is_empty()
                || groups.iter().any(|(op, fs)| {
                    let mut each = fs.iter().map(|(f, o, v)| filter_matches(e, f, o, v));
                    if *op == "and" {
                        each.all(|m| m)
                    } else {
                        each.any(|m| m)
                    }
                })
        };
        for customer in ["c0", "c1"] {
            for (from, to) in ranges {
                let (f, t) = (
                    abacus_core::time::parse_rfc3339(from).unwrap(),
                    abacus_core::time::parse_rfc3339(to).unwrap(),
                );
                let events: Vec<&Sent> = sent
                    .iter()
                    .filter(|e| e.customer == customer && e.ts >= f && e.ts < t && admitted(e))
                    .collect();
                let expected = recompute_props(method, &events);
                let got = app.usage(customer, &metrics[i], from, to).await;
                assert_eq!(
                    Decimal::from_str(&got).unwrap(),
                    expected,
                    "m{i}: {method} {groups:?} {customer} {from}..{to}"
                );
            }
        }
    }
}

/// The aggregation of `events`' `v`: `count` counts every event, `count_unique` the distinct
/// texts, the numeric ones skip what is missing or not a number.
fn recompute_props(method: &str, events: &[&Sent]) -> Decimal {
    let numeric: Vec<(i64, i64, Decimal)> = events
        .iter()
        .filter_map(|e| Some((e.ts, e.n, e.props.get("v")?.decimal()?)))
        .collect();
    let distinct = events
        .iter()
        .filter_map(|e| Some(e.props.get("v")?.text().to_string()))
        .collect::<BTreeSet<_>>()
        .len();
    aggregate(method, events.len(), distinct, &numeric)
}

fn recompute(method: &str, events: &[&(String, i64, i64, Option<String>, &str)]) -> Decimal {
    let numeric: Vec<(i64, i64, Decimal)> = events
        .iter()
        .filter_map(|e| {
            e.3.as_ref()
                .map(|v| (e.1, e.2, Decimal::from_str(v).unwrap()))
        })
        .collect();
    let distinct = events
        .iter()
        .filter_map(|e| e.3.clone())
        .collect::<BTreeSet<_>>()
        .len();
    aggregate(method, events.len(), distinct, &numeric)
}

/// An aggregation from scratch: `count` events, `distinct` values, and the numeric values as
/// `(timestamp, send order, value)`.
fn aggregate(
    method: &str,
    count: usize,
    distinct: usize,
    numeric: &[(i64, i64, Decimal)],
) -> Decimal {
    match method {
        "count" => Decimal::from(count),
        "count_unique" => Decimal::from(distinct),
        "sum" => numeric.iter().map(|n| n.2).sum(),
        "min" => numeric.iter().map(|n| n.2).min().unwrap_or_default(),
        "max" => numeric.iter().map(|n| n.2).max().unwrap_or_default(),
        "latest" => numeric
            .iter()
            .max_by_key(|n| (n.0, n.1))
            .map(|n| n.2)
            .unwrap_or_default(),
        "average" if numeric.is_empty() => Decimal::ZERO,
        "average" => {
            let s: Decimal = numeric.iter().map(|n| n.2).sum();
            (s / Decimal::from(numeric.len()))
                .round_dp_with_strategy(12, rust_decimal::RoundingStrategy::MidpointNearestEven)
        }
        other => panic!("{other}"),
    }
}

async fn usage_windows_groups_and_edges(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.customer("Acme", &["acme"]).await;
    let sum = app
        .metric(
            json!({"name": "T", "event_name": "e", "aggregation": {"method": "sum", "field": "v"}}),
        )
        .await;
    app.ingest(json!([
        ev(
            "w1",
            "acme",
            "e",
            "2026-10-01T00:00:00Z",
            json!({"v": 1, "r": "eu"})
        ),
        ev(
            "w2",
            "acme",
            "e",
            "2026-10-01T23:59:59.999999Z",
            json!({"v": 2, "r": "us"})
        ),
        ev(
            "w3",
            "acme",
            "e",
            "2026-10-02T00:00:00Z",
            json!({"v": 4, "r": "eu"})
        ),
        ev("w4", "acme", "e", "2026-10-31T12:00:00Z", json!({"v": 8})),
        ev("w5", "acme", "e", "2026-11-01T00:00:00Z", json!({"v": 16})),
    ]))
    .await;
    // An event exactly at `to` is outside; one at `from` is inside.
    assert_eq!(
        app.usage("acme", &sum, "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z")
            .await,
        "15"
    );
    assert_eq!(
        app.usage(
            "acme",
            &sum,
            "2026-10-01T00:00:00.000001Z",
            "2026-10-02T00:00:00Z"
        )
        .await,
        "2"
    );
    let r = app.get_v2(&format!("/customers/acme/usage?metric_id={sum}&from=2026-10-01T00:00:00Z&to=2026-10-04T00:00:00Z&window=day")).await;
    let series: Vec<(String, String)> = r.body["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["from"].as_str().unwrap()[..10].to_string(),
                w["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        series,
        vec![
            ("2026-10-01".into(), "3".into()),
            ("2026-10-02".into(), "4".into()),
            ("2026-10-03".into(), "0".into())
        ]
    );
    assert_eq!(r.body["value"], "7");
    let r = app.get_v2(&format!("/customers/acme/usage?metric_id={sum}&from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z&group_by=r")).await;
    let groups: BTreeMap<String, String> = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap_or("(none)").to_string(),
                g["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        groups,
        BTreeMap::from([
            ("(none)".into(), "24".into()),
            ("eu".into(), "5".into()),
            ("us".into(), "2".into())
        ])
    );
    assert_eq!(r.body["value"], "31");
    // Grouped and windowed: each group has its own series, and the total series is theirs summed.
    let r = app.get_v2(&format!("/customers/acme/usage?metric_id={sum}&from=2026-10-01T00:00:00Z&to=2026-10-03T00:00:00Z&group_by=r&window=day")).await;
    let values = |series: &Value| -> Vec<String> {
        series
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["value"].as_str().unwrap().to_string())
            .collect()
    };
    let groups: BTreeMap<String, (String, Vec<String>)> = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_string(),
                (
                    g["value"].as_str().unwrap().to_string(),
                    values(&g["series"]),
                ),
            )
        })
        .collect();
    assert_eq!(
        groups,
        BTreeMap::from([
            ("eu".into(), ("5".into(), vec!["1".into(), "4".into()])),
            ("us".into(), ("2".into(), vec!["2".into(), "0".into()])),
        ])
    );
    assert_eq!(values(&r.body["series"]), ["3", "4"]);
    assert_eq!(r.body["series"][1]["from"], "2026-10-02T00:00:00.000000Z");
    assert_eq!(r.body["value"], "7");
    // Month windows in a time zone other than UTC come with the organization's time zone (UTC
    // here); the v1 spelling answers in camelCase.
    let v1 = app.get(&format!("/accounts/acme/usage?metricId={sum}&from=2026-10-01T00:00:00Z&to=2026-12-01T00:00:00Z&window=month")).await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert_eq!(v1.body["metricId"], sum.as_str());
    assert_eq!(v1.body["series"].as_array().unwrap().len(), 2);
    assert_eq!(v1.body["series"][1]["value"], "16");
}

async fn usage_query_errors(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    app.customer("Acme", &["acme"]).await;
    let sum = app
        .metric(
            json!({"name": "T", "event_name": "e", "aggregation": {"method": "sum", "field": "v"}}),
        )
        .await;
    let q = |rest: &str| format!("/customers/acme/usage?{rest}");
    let (f, t) = ("from=2026-10-01T00:00:00Z", "to=2026-11-01T00:00:00Z");
    let cases = [
        (q(&format!("{f}&{t}")), 400, "metric_id"),
        (q(&format!("metric_id={sum}&{t}")), 400, "from"),
        (q(&format!("metric_id={sum}&{f}")), 400, "to"),
        (
            q(&format!(
                "metric_id={sum}&from=2026-11-01T00:00:00Z&to=2026-10-01T00:00:00Z"
            )),
            400,
            "to",
        ),
        (
            q(&format!("metric_id={sum}&from=yesterday&{t}")),
            400,
            "from",
        ),
        (
            q(&format!("metric_id={sum}&{f}&{t}&window=week")),
            400,
            "window",
        ),
        (
            q(&format!(
                "metric_id={sum}&from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z&window=hour"
            )),
            400,
            "window",
        ),
    ];
    for (path, status, field) in cases {
        let r = app.get_v2(&path).await;
        r.problem(status);
        assert_eq!(
            r.error_fields().first().map(String::as_str),
            Some(field),
            "{path}: {}",
            r.text
        );
    }
    app.get_v2(&q(&format!("metric_id=mtr_nope&{f}&{t}")))
        .await
        .problem(404);
    app.get_v2(&format!("/customers/nobody/usage?metric_id={sum}&{f}&{t}"))
        .await
        .problem(404);
}
