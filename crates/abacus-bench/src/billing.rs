//! The billing run: many subscriptions closed by the scheduler at one instant.
//!
//! Set-up (not measured): an in-process server over a fresh database takes the catalog, the
//! customers and the subscriptions over HTTP; a month of usage goes through the store's ingest
//! path. Then `services::billing::run_once` closes every subscription at the run instant, and the
//! invoices are checked one by one against the totals the events make.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use abacus_core::metering::event::ValidEvent;
use abacus_core::time::{Micros, format_micros, now_micros};
use abacus_server::services::billing::{self, Settings};
use abacus_server::{App, ServeConfig};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, Conn, Connection, Db, DbOptions, orgs};
use anyhow::{Context, ensure};
use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::load::{api_call, client, post, store};
use crate::server::KEY;

/// The fixed fee, billed in advance every month.
const FEE: &str = "99.00";
/// The unit price of a call (count metric), in arrears.
const PER_CALL: &str = "0.05";

/// The tokens (sum metric) price, graduated, in arrears: the first 1,000 at 0.01, then 0.005.
fn tokens_price(metric: &str) -> Value {
    json!({"type": "graduated_tiered", "fee_type": "metered", "billing_direction": "arrears",
           "metric_ids": [metric],
           "graduated_tiered_pricing_model": {"tiers": [
               {"min_units": 0, "max_units": 1000, "price_per_unit": "0.01"},
               {"min_units": 1000, "max_units": null, "price_per_unit": "0.005"}]}})
}

fn tokens_amount(tokens: u64) -> Decimal {
    let t = Decimal::from(tokens);
    let first = t.min(Decimal::from(1000));
    first * Decimal::new(1, 2) + (t - first) * Decimal::new(5, 3)
}

/// Event `j` of subscription `i`: when in `[from, to)`, and how many tokens (a multiple of 10,
/// so every amount is whole cents).
fn event(i: usize, j: u64, per: u64, from: Micros, to: Micros) -> (Micros, u64) {
    let mut h = (i as u64 * per + j)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    (
        from + (h % (to - from) as u64) as i64,
        ((h >> 40) % 100) * 10,
    )
}

/// The first instant of the month of `ts` (UTC), and of the month before.
fn months(ts: Micros) -> anyhow::Result<(Micros, Micros)> {
    let t = jiff::Timestamp::from_microsecond(ts)?;
    let d = jiff::tz::TimeZone::UTC
        .to_datetime(t)
        .date()
        .first_of_month();
    let utc = |d: jiff::civil::Date| {
        jiff::tz::TimeZone::UTC
            .to_ambiguous_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
            .unambiguous()
    };
    let run = utc(d)?;
    let start = utc(d.checked_sub(jiff::Span::new().months(1))?)?;
    Ok((start.as_microsecond(), run.as_microsecond()))
}

/// Resets the process's peak resident memory to what it holds now (Linux `clear_refs`).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Resident memory of this process, now and at its peak, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub async fn billing(
    backend: Backend,
    subscriptions: usize,
    events_per_subscription: u64,
    profile_sql: bool,
    workers: usize,
    auto_issue: bool,
) -> anyhow::Result<()> {
    let per = events_per_subscription;
    let (start, run_at) = months(now_micros())?;
    println!(
        "== billing run: {backend:?} ({} claim loops), {subscriptions} subscriptions{} (fixed {FEE}/month in advance; calls at {PER_CALL} and graduated tokens in arrears), {per} events each, contract start {}, run at {}",
        match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => workers.max(1),
        },
        if auto_issue {
            " issuing their invoices (number, PDF, invoice.issued)"
        } else {
            ""
        },
        format_micros(start),
        format_micros(run_at)
    );
    let testdb = TestDb::fresh(backend)
        .await
        .context("PostgreSQL needs ABACUS_TEST_POSTGRES_URL")?;
    let setup = Instant::now();
    let subs = create_subscriptions(&testdb, subscriptions, start, auto_issue).await?;
    println!(
        "  set-up: catalog, {} customers and subscriptions over HTTP in {:.1} s",
        subs.len(),
        setup.elapsed().as_secs_f64()
    );

    let db = Db::connect(&testdb.url, &DbOptions::default()).await?;
    let org = orgs::list(&mut db.read().await?).await?[0].id.clone();
    let t = Instant::now();
    let total = subscriptions as u64 * per;
    let received = now_micros();
    let chunk = 10_000u64;
    let mut n = 0;
    while n < total {
        let batch: Vec<ValidEvent> = (n..(n + chunk).min(total))
            .map(|k| {
                let (i, j) = ((k / per) as usize, k % per);
                let (ts, tokens) = event(i, j, per, start, run_at);
                api_call(format!("b-{i}-{j}"), format!("cust-{i}"), ts, tokens)
            })
            .collect();
        store(&db, &org, &batch, received).await?;
        n += chunk;
    }
    analyze_filled_tables(&db).await?;
    println!(
        "  set-up: {total} events through the store's ingest path in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let settings = Settings {
        grace: 0,
        batch: 100,
        workers,
        ..Settings::default()
    };
    let profile = profile_sql.then(SqlProfile::install);
    let reset = reset_peak_rss();
    let (rss_before, _) = rss_mib();
    let t = Instant::now();
    let report = billing::run_once(&db, run_at, &settings)
        .await
        .map_err(|e| anyhow::anyhow!("run_once: {} {}", e.status, e.detail))?;
    let wall = t.elapsed().as_secs_f64();
    let (_, peak) = rss_mib();
    let profiled = profile.map(|p| p.take());
    println!("  subscriptions: {subscriptions}");
    println!(
        "  invoices created: {} (failed: {})",
        report.created, report.failed
    );
    println!("  wall time to close them all: {wall:.2} s");
    println!(
        "  {:.0} invoices/s, {:.0} subscriptions/s",
        report.created as f64 / wall,
        subscriptions as f64 / wall
    );
    if reset {
        println!(
            "  peak RSS during the run: {peak:.0} MiB (bench process, {rss_before:.0} MiB before it)"
        );
    } else {
        println!("  peak RSS of the bench process (set-up included): {peak:.0} MiB");
    }
    if let Some(p) = profiled {
        p.print(wall);
    }

    // Every subscription has exactly its two invoices, each with the expected total; a second
    // round at the same instant creates nothing.
    check(&db, &subs, per, start, run_at, auto_issue).await?;
    let again = billing::run_once(&db, run_at, &settings)
        .await
        .map_err(|e| anyhow::anyhow!("run_once: {} {}", e.status, e.detail))?;
    ensure!(
        again == billing::Report::default(),
        "a second round did something: {again:?}"
    );
    println!(
        "  checked: 2 invoices per subscription (boundaries {} and {}), every total as expected{}; a second run_once created nothing",
        format_micros(start),
        format_micros(run_at),
        if auto_issue {
            ", all issued, numbered 1..n without a gap"
        } else {
            ", all drafts"
        }
    );
    ensure!(
        report.created == 2 * subscriptions && report.failed == 0,
        "expected {} invoices",
        2 * subscriptions
    );
    db.close().await;
    drop(testdb);
    Ok(())
}

/// Starts an in-process server on `testdb` (its own scheduler idle), creates the catalog, the
/// customers `cust-0..n` and one active subscription each from `start`, and stops it. Returns the
/// subscription ids, in customer order.
async fn create_subscriptions(
    testdb: &TestDb,
    n: usize,
    start: Micros,
    auto_issue: bool,
) -> anyhow::Result<Vec<String>> {
    let config = ServeConfig {
        bootstrap_api_key: Some(KEY.into()),
        ..ServeConfig::default()
    };
    let app = App::build(&testdb.url, &DbOptions::default(), config).await?;
    // The API alone, without the background workers of `App::run_until`: its billing scheduler
    // would bill the first subscriptions at the real time, before their usage is stored.
    let state = app.state.clone();
    drop(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = abacus_server::api::router(state.clone());
    let server = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    let http = client(16)?;
    let id = |v: Value| v["id"].as_str().map(str::to_string).context("an id");
    let tokens = id(post(&http, format!("{base}/metrics"), json!({"name": "Tokens", "event_name": "api_call", "aggregation": {"method": "sum", "field": "tokens"}}).to_string()).await?)?;
    let calls = id(post(
        &http,
        format!("{base}/metrics"),
        json!({"name": "Calls", "event_name": "api_call", "aggregation": {"method": "count"}})
            .to_string(),
    )
    .await?)?;
    let platform = id(post(&http, format!("{base}/products"), json!({"name": "Platform", "fee_type": "fixed", "payment_terms": "advance", "billing_frequency": "recurring"}).to_string()).await?)?;
    let tokens_product = id(post(&http, format!("{base}/products"), json!({"name": "Tokens", "fee_type": "metered", "payment_terms": "arrears", "metric_ids": [tokens]}).to_string()).await?)?;
    let calls_product = id(post(&http, format!("{base}/products"), json!({"name": "Calls", "fee_type": "metered", "payment_terms": "arrears", "metric_ids": [calls]}).to_string()).await?)?;
    let start_date = &format_micros(start)[..10];
    let items = json!([
        {"product_id": platform, "price": {"type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
            "billing_frequency": "recurring", "billing_interval": "monthly",
            "fixed_pricing_model": {"price_per_unit": FEE, "units": 1}}},
        {"product_id": calls_product, "price": {"type": "unit", "fee_type": "metered", "billing_direction": "arrears",
            "metric_ids": [calls], "unit_pricing_model": {"price_per_unit": PER_CALL}}},
        {"product_id": tokens_product, "price": tokens_price(&tokens)},
    ]);
    let create = |range: std::ops::Range<usize>| {
        let (http, base, items) = (&http, &base, &items);
        futures::stream::iter(range)
            .map(move |i| async move {
                let customer = id(post(http, format!("{base}/customers"), json!({"name": format!("Customer {i}"), "currency": "USD", "aliases": [format!("cust-{i}")]}).to_string()).await?)?;
                let sub = post(
                    http,
                    format!("{base}/subscriptions"),
                    json!({"customer_id": customer, "name": format!("Plan {i}"),
                           "contract": {"start_date": start_date},
                           "billing": {"auto_issue_invoices": auto_issue},
                           "items": items, "auto_activate": true})
                    .to_string(),
                )
                .await?;
                ensure!(sub["status"] == "active", "subscription {i}: {sub}");
                id(sub)
            })
            .buffered(16)
            .collect::<Vec<anyhow::Result<String>>>()
    };
    // The first few, then statistics as autovacuum would gather them, then the rest.
    let first = n.min(200);
    let mut subs = create(0..first).await;
    analyze_filled_tables(&state.db).await?;
    subs.extend(create(first..n).await);
    let _ = stop.send(());
    server.await??;
    state.db.close().await;
    subs.into_iter().collect()
}

/// On PostgreSQL, `ANALYZE` of the tables with 50 or more rows changed since their last
/// statistics: what autovacuum does within a minute (it is often off on test instances). Without
/// statistics, the generic plans of prepared statements can scan a whole organization's rows
/// through an `(org_id, ...)` index instead of using the primary key. Tables the set-up leaves
/// empty (invoices) are left alone, as autovacuum would.
async fn analyze_filled_tables(db: &Db) -> anyhow::Result<()> {
    let mut c = db.read().await?;
    let Conn::Postgres(e) = c.conn() else {
        return Ok(());
    };
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT relname::text FROM pg_stat_user_tables WHERE n_mod_since_analyze >= 50",
    )
    .fetch_all(&mut *e)
    .await?;
    for t in tables {
        sqlx::query(sqlx::AssertSqlSafe(format!("ANALYZE \"{t}\"")))
            .execute(&mut *e)
            .await?;
    }
    Ok(())
}

async fn check(
    db: &Db,
    subs: &[String],
    per: u64,
    start: Micros,
    run_at: Micros,
    issued: bool,
) -> anyhow::Result<()> {
    let mut c = db.read().await?;
    let sql = "SELECT subscription_id, boundary, CAST(total AS TEXT), status, number FROM invoices";
    type Row = (Option<String>, Option<Micros>, String, String, Option<i64>);
    let full: Vec<Row> = match c.conn() {
        Conn::Sqlite(e) => sqlx::query_as(sql).fetch_all(e).await?,
        Conn::Postgres(e) => sqlx::query_as(sql).fetch_all(e).await?,
    };
    drop(c);
    // Issued invoices are numbered 1, 2, 3... with no gap; drafts have no number yet.
    let mut numbers: Vec<i64> = full.iter().filter_map(|r| r.4).collect();
    numbers.sort_unstable();
    let want_status = if issued { "issued" } else { "draft" };
    ensure!(
        full.iter().all(|r| r.3 == want_status),
        "every invoice should be {want_status}"
    );
    let expected_numbers: Vec<i64> = if issued {
        (1..=full.len() as i64).collect()
    } else {
        Vec::new()
    };
    ensure!(numbers == expected_numbers, "invoice numbers are not 1..n");
    let rows: Vec<(Option<String>, Option<Micros>, String)> =
        full.into_iter().map(|r| (r.0, r.1, r.2)).collect();
    let mut found: HashMap<&str, Vec<(Micros, Decimal)>> = HashMap::new();
    for (sub, boundary, total) in &rows {
        let (Some(sub), Some(boundary)) = (sub, boundary) else {
            anyhow::bail!("an invoice without a subscription or boundary: {sub:?} {boundary:?}");
        };
        found
            .entry(sub.as_str())
            .or_default()
            .push((*boundary, total.parse()?));
    }
    ensure!(
        rows.len() == 2 * subs.len(),
        "{} invoices for {} subscriptions",
        rows.len(),
        subs.len()
    );
    let fee: Decimal = FEE.parse()?;
    let per_call: Decimal = PER_CALL.parse()?;
    for (i, sub) in subs.iter().enumerate() {
        let mut invoices = found.remove(sub.as_str()).unwrap_or_default();
        invoices.sort();
        let tokens: u64 = (0..per).map(|j| event(i, j, per, start, run_at).1).sum();
        let closing = fee + per_call * Decimal::from(per) + tokens_amount(tokens);
        let expected = vec![(start, fee), (run_at, closing)];
        ensure!(
            invoices == expected,
            "subscription {i} ({sub}): invoices {invoices:?}, expected {expected:?}"
        );
    }
    Ok(())
}

/// Time spent in each SQL statement, from sqlx's statement events.
#[derive(Clone, Default)]
struct SqlProfile(Arc<Mutex<HashMap<String, (u64, f64)>>>);

struct Visitor {
    summary: String,
    statement: String,
    secs: f64,
}

impl tracing::field::Visit for Visitor {
    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.secs = value;
        }
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_string(),
            "db.statement" => self.statement = value.to_string(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "summary" {
            self.summary = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for SqlProfile {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sqlx::query" {
            return;
        }
        let mut v = Visitor {
            summary: String::new(),
            statement: String::new(),
            secs: 0.0,
        };
        event.record(&mut v);
        let text = if v.statement.trim().is_empty() {
            v.summary
        } else {
            v.statement.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        let mut m = self.0.lock().unwrap();
        let e = m.entry(text).or_default();
        e.0 += 1;
        e.1 += v.secs;
    }
}

impl SqlProfile {
    fn install() -> SqlProfile {
        use tracing_subscriber::Layer;
        use tracing_subscriber::layer::SubscriberExt;
        let p = SqlProfile::default();
        let subscriber = tracing_subscriber::registry().with(
            p.clone().with_filter(
                tracing_subscriber::filter::Targets::new()
                    .with_target("sqlx::query", tracing::Level::TRACE),
            ),
        );
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        p
    }

    fn take(&self) -> SqlProfile {
        SqlProfile(Arc::new(Mutex::new(std::mem::take(
            &mut *self.0.lock().unwrap(),
        ))))
    }

    fn print(&self, wall: f64) {
        let m = self.0.lock().unwrap();
        let mut rows: Vec<_> = m.iter().collect();
        rows.sort_by(|a, b| b.1.1.total_cmp(&a.1.1));
        let (count, secs) = rows
            .iter()
            .fold((0, 0.0), |(c, s), (_, (n, t))| (c + n, s + t));
        println!(
            "  SQL: {count} statements, {secs:.2} s of {wall:.2} s wall ({:.0}%); by statement:",
            100.0 * secs / wall
        );
        for (sql, (n, t)) in rows.iter().take(40) {
            let short: String = sql.chars().take(150).collect();
            println!(
                "    {t:7.2} s {n:8} x {:6.1} us  {short}",
                1e6 * t / *n as f64
            );
        }
    }
}
