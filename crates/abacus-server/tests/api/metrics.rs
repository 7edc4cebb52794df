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
    for method in [
        "count",
        "count_unique",
        "sum",
        "min",
        "max",
        "average",
        "latest",
    ] {
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

fn recompute(method: &str, events: &[&(String, i64, i64, Option<String>, &str)]) -> Decimal {
    let numeric: Vec<(i64, i64, Decimal)> = events
        .iter()
        .filter_map(|e| {
            e.3.as_ref()
                .map(|v| (e.1, e.2, Decimal::from_str(v).unwrap()))
        })
        .collect();
    match method {
        "count" => Decimal::from(events.len()),
        "count_unique" => Decimal::from(
            events
                .iter()
                .filter_map(|e| e.3.clone())
                .collect::<BTreeSet<_>>()
                .len(),
        ),
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
            q(&format!("metric_id={sum}&{f}&{t}&window=day&group_by=r")),
            400,
            "group_by",
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
