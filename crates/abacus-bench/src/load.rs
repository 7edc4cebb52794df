//! The workloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use abacus_core::metering::event::ValidEvent;
use abacus_core::metering::properties::{PropValue, Properties};
use abacus_core::time::{Micros, format_micros, now_micros};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Db, DbOptions, events, ingest, orgs, tail};
use anyhow::{Context, bail, ensure};
use hdrhistogram::Histogram;
use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::server::{KEY, Server};

const HOUR: Micros = 3_600_000_000;
const DAY: Micros = 24 * HOUR;
const BATCH: u64 = 100;

pub(crate) fn client(connections: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .timeout(Duration::from_secs(120))
        .build()?)
}

pub(crate) async fn post(
    http: &reqwest::Client,
    url: String,
    body: String,
) -> anyhow::Result<Value> {
    let r = http
        .post(url)
        .bearer_auth(KEY)
        .header("Alguna-Version", "2026-04-01")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await?;
    let status = r.status();
    let v: Value = r.json().await?;
    ensure!(status.is_success(), "HTTP {status}: {v}");
    Ok(v)
}

/// Customers `cust-0..n` and two metrics over `api_call` events: a sum of `tokens` and a count.
async fn setup(
    http: &reqwest::Client,
    base: &str,
    customers: usize,
) -> anyhow::Result<(String, String)> {
    let created = futures::future::join_all((0..customers).map(|i| {
        post(http, format!("{base}/customers"), json!({"name": format!("Customer {i}"), "currency": "USD", "aliases": [format!("cust-{i}")]}).to_string())
    }))
    .await;
    for c in created {
        c?;
    }
    let sum = post(http, format!("{base}/metrics"), json!({"name": "Tokens", "event_name": "api_call", "aggregation": {"method": "sum", "field": "tokens"}}).to_string()).await?;
    let count = post(
        http,
        format!("{base}/metrics"),
        json!({"name": "Calls", "event_name": "api_call", "aggregation": {"method": "count"}})
            .to_string(),
    )
    .await?;
    Ok((
        sum["id"].as_str().unwrap().to_string(),
        count["id"].as_str().unwrap().to_string(),
    ))
}

/// Event `n` of a run: which customer, when, how many tokens. Deterministic, so the expected
/// totals are known.
fn event(n: u64, customers: usize, now: Micros, spread: Micros) -> (usize, Micros, u64) {
    let h = n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (
        (h % customers as u64) as usize,
        now - ((h >> 16) as i64).rem_euclid(spread),
        h % 1000,
    )
}

/// An `api_call` event with a `tokens` count, as every benchmark sends them.
pub fn api_call(unique_id: String, account: String, ts: Micros, tokens: u64) -> ValidEvent {
    let mut properties = Properties::new();
    properties.insert("tokens".into(), PropValue::Num(tokens.to_string()));
    ValidEvent::new(unique_id, account, "api_call".into(), ts, properties)
}

/// Stores `events` through the store's ingest path in one transaction, as the server's writer
/// does, without HTTP.
pub async fn store(
    db: &Db,
    org: &str,
    events: &[ValidEvent],
    received: Micros,
) -> anyhow::Result<()> {
    let refs: Vec<&ValidEvent> = events.iter().collect();
    let mut tx = db.begin().await?;
    ingest::ingest(&mut tx, org, &refs, received).await?;
    tx.commit().await?;
    Ok(())
}

fn batch_body(run: &str, b: u64, customers: usize, now: Micros, spread: Micros) -> String {
    let mut s = String::with_capacity(16_000);
    s.push_str("{\"events\":[");
    for i in 0..BATCH {
        let n = b * BATCH + i;
        let (c, ts, tokens) = event(n, customers, now, spread);
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            "{{\"unique_id\":\"{run}-{n}\",\"account\":\"cust-{c}\",\"event_name\":\"api_call\",\"timestamp\":\"{}\",\"properties\":{{\"tokens\":{tokens},\"region\":\"eu-west-1\"}}}}",
            format_micros(ts)
        ));
    }
    s.push_str("]}");
    s
}

fn report_latency(label: &str, h: &Histogram<u64>) {
    println!(
        "  {label}: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
        h.value_at_quantile(0.5) as f64 / 1000.0,
        h.value_at_quantile(0.9) as f64 / 1000.0,
        h.value_at_quantile(0.99) as f64 / 1000.0,
        h.max() as f64 / 1000.0,
        h.len()
    );
}

pub async fn ingest(
    backend: Backend,
    total: u64,
    connections: usize,
    customers: usize,
    spread_hours: i64,
    ceiling: bool,
) -> anyhow::Result<()> {
    let spread = spread_hours.max(1) * HOUR;
    println!(
        "== ingest over HTTP: {backend:?}, {total} events in batches of {BATCH}, {connections} connections, {customers} customers, timestamps over the last {spread_hours} h"
    );
    let server = Server::start(backend).await?;
    let http = client(connections)?;
    let (_sum, count_metric) = setup(&http, &server.base, customers).await?;
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let now = now_micros();
    let batches = total / BATCH;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (http, next, run, url) = (
                http.clone(),
                next.clone(),
                run.clone(),
                format!("{}/events", server.base),
            );
            tokio::spawn(async move {
                let mut h = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return Ok::<_, anyhow::Error>(h);
                    }
                    let body = batch_body(&run, b, customers, now, spread);
                    let t = Instant::now();
                    let v = post(&http, url.clone(), body).await?;
                    h.record(t.elapsed().as_micros() as u64).ok();
                    ensure!(
                        v["ingested"].as_array().map(Vec::len) == Some(BATCH as usize),
                        "batch {b}: {v}"
                    );
                }
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
    for t in tasks {
        hist.add(t.await??)?;
    }
    let elapsed = started.elapsed();
    let rss = server.peak_rss_mib();
    println!(
        "  {:.0} events/s sustained ({} events in {:.1} s)",
        (batches * BATCH) as f64 / elapsed.as_secs_f64(),
        batches * BATCH,
        elapsed.as_secs_f64()
    );
    report_latency("request latency (100 events)", &hist);
    println!("  server peak RSS: {rss:.0} MiB");

    // Exactly once: resend a slice of batches, then the per-customer counts must add up to the
    // number of distinct events.
    for b in 0..10.min(batches) {
        let v = post(
            &http,
            format!("{}/events", server.base),
            batch_body(&run, b, customers, now, spread),
        )
        .await?;
        ensure!(
            v["duplicates"].as_array().map(Vec::len) == Some(BATCH as usize),
            "resends are duplicates: {v}"
        );
    }
    let mut counted = 0u64;
    let (from, to) = (format_micros(now - spread - HOUR), format_micros(now + 1));
    for c in 0..customers {
        let url = format!(
            "{}/customers/cust-{c}/usage?metric_id={count_metric}&from={from}&to={to}",
            server.base
        );
        let v: Value = http.get(url).bearer_auth(KEY).send().await?.json().await?;
        counted += v["value"].as_str().context("usage value")?.parse::<u64>()?;
    }
    println!(
        "  exactly once: {counted} counted for {} distinct events sent (plus {} resent)",
        batches * BATCH,
        10.min(batches) * BATCH
    );
    ensure!(
        counted == batches * BATCH,
        "counted {counted} != {}",
        batches * BATCH
    );
    drop(server.stop().await);

    if ceiling {
        direct(backend, total, customers, spread).await?;
    }
    Ok(())
}

/// The same events through the store in batches of 10,000, no HTTP: the ingestion path's ceiling;
/// then bare inserts (no rollups), the database's.
async fn direct(
    backend: Backend,
    total: u64,
    customers: usize,
    spread: Micros,
) -> anyhow::Result<()> {
    let server = Server::start(backend).await?;
    let http = client(8)?;
    setup(&http, &server.base, customers).await?;
    let testdb = server.stop().await;
    let db = testdb.connect().await;
    let org = orgs::list(&mut db.read().await?).await?[0].id.clone();
    let now = now_micros();
    let run = "direct";
    let valid = |n: u64| {
        let (c, ts, tokens) = event(n, customers, now, spread);
        let mut e = api_call(format!("{run}-{n}"), format!("cust-{c}"), ts, tokens);
        e.properties
            .insert("region".into(), PropValue::Str("eu-west-1".into()));
        e
    };
    let chunk = 10_000u64;
    let started = Instant::now();
    let mut n = 0;
    while n < total {
        let batch: Vec<ValidEvent> = (n..(n + chunk).min(total)).map(valid).collect();
        store(&db, &org, &batch, now).await?;
        n += chunk;
    }
    let e = started.elapsed().as_secs_f64();
    println!(
        "  ceiling, store ingest path (dedup + attribution + rollups), batches of {chunk}: {:.0} events/s",
        total as f64 / e
    );

    let started = Instant::now();
    let mut n = 0;
    while n < total {
        let props = r#"{"region":"eu-west-1","tokens":1}"#;
        let ids: Vec<String> = (n..(n + chunk).min(total))
            .map(|i| format!("raw-{i}"))
            .collect();
        let rows: Vec<events::NewEvent<'_>> = ids
            .iter()
            .map(|id| events::NewEvent {
                unique_id: id,
                account: "cust-0",
                customer_id: None,
                event_name: "raw",
                ts: now,
                received_at: now,
                properties: props,
            })
            .collect();
        let mut tx = db.begin().await?;
        events::insert(&mut tx, &org, &rows).await?;
        tx.commit().await?;
        n += chunk;
    }
    let e = started.elapsed().as_secs_f64();
    println!(
        "  ceiling, bare deduplicating inserts, batches of {chunk}: {:.0} events/s",
        total as f64 / e
    );
    db.close().await;
    drop(testdb);
    Ok(())
}

pub async fn usage(
    backend: Backend,
    total: u64,
    customers: usize,
    queries: usize,
) -> anyhow::Result<()> {
    println!(
        "== usage query latency: {backend:?}, {total} events over 12 months, {customers} customers, {queries} queries"
    );
    let server = Server::start(backend).await?;
    let http = client(4)?;
    let (sum_metric, _) = setup(&http, &server.base, customers).await?;
    let db = Db::connect(&server.db.url, &DbOptions { max_connections: 2 }).await?;
    let org = orgs::list(&mut db.read().await?).await?[0].id.clone();
    let now = now_micros();
    let started = Instant::now();
    let chunk = 20_000u64;
    let mut n = 0;
    while n < total {
        let batch: Vec<ValidEvent> = (n..(n + chunk).min(total))
            .map(|n| {
                let (c, ts, tokens) = event(n, customers, now, 365 * DAY);
                api_call(format!("u-{n}"), format!("cust-{c}"), ts, tokens)
            })
            .collect();
        store(&db, &org, &batch, now).await?;
        n += chunk;
        if n % 1_000_000 == 0 {
            println!(
                "  loaded {n} events ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    // A server settles its tail within seconds of the last write (see `tail`); these events came
    // in behind its back, so settle them as it would have.
    let mut w = db.begin().await?;
    tail::settle(&mut w).await?;
    w.commit().await?;
    println!(
        "  loaded {total} events in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    db.close().await;

    // One calendar month: the last complete one.
    let month_start = |ts: Micros| {
        let s = format_micros(ts);
        format!("{}-01T00:00:00Z", &s[..7])
    };
    let to = month_start(now);
    let from =
        month_start(abacus_core::time::parse_rfc3339(&to).map_err(anyhow::Error::msg)? - DAY);
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for q in 0..(queries + 200) {
        let c = rng.random_range(0..customers);
        let url = format!(
            "{}/customers/cust-{c}/usage?metric_id={sum_metric}&from={from}&to={to}",
            server.base
        );
        let t = Instant::now();
        let r = http.get(url).bearer_auth(KEY).send().await?;
        if !r.status().is_success() {
            bail!("usage query failed: {}", r.text().await?);
        }
        let _ = r.bytes().await?;
        if q >= 200 {
            hist.record(t.elapsed().as_micros() as u64).ok();
        }
    }
    println!("  month {from} .. {to}");
    report_latency("usage query over HTTP", &hist);
    println!("  server peak RSS: {:.0} MiB", server.peak_rss_mib());
    let _db: TestDb = server.stop().await;
    Ok(())
}
