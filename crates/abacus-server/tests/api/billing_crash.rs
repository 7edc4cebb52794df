//! Exactly-once billing across processes: two `abacus serve` processes bill the same backdated
//! subscriptions at once; one is killed (SIGKILL) in the middle of the run and restarted. Every
//! subscription ends with each of its periods invoiced exactly once, none skipped.

use std::time::{Duration, Instant};

use abacus_store::testing::{TestDb, count_rows};
use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

on_both_backends!(killed_mid_billing_run_bills_each_period_once);

const KEY: &str = "ak_billcrash.0123456789abcdefABCDEF";
const SUBSCRIPTIONS: usize = 40;

/// `abacus serve` with the billing scheduler polling every `poll_ms`, one subscription (its 35
/// or so periods) per transaction, so the run spans dozens of commits to kill it in the middle
/// of, and no grace period.
async fn serve(url: &str, poll_ms: u64) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .arg("serve")
        .env("ABACUS_DATABASE_URL", url)
        .env("ABACUS_LISTEN", "127.0.0.1:0")
        .env("ABACUS_BOOTSTRAP_API_KEY", KEY)
        .env("ABACUS_BILLING_POLL_MS", poll_ms.to_string())
        .env("ABACUS_BILLING_BATCH", "1")
        .env("ABACUS_BILLING_GRACE_SECS", "0")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("abacus serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(addr) = line.strip_prefix("Abacus is listening on ") {
                return addr.trim().to_string();
            }
        }
        panic!("abacus serve exited before listening");
    })
    .await
    .expect("abacus serve listens within 30 s");
    (child, addr)
}

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn post(&self, path: &str, body: Value) -> Value {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .header("Alguna-Version", "2026-04-01")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "POST {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .header("Alguna-Version", "2026-04-01")
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    /// How many invoices the organization has.
    async fn invoice_count(&self) -> i64 {
        self.get("/invoices?limit=1").await["pagination"]["total_pages"]
            .as_i64()
            .unwrap()
    }
}

/// Sends `kill -SIG` to the children.
fn signal(sig: &str, children: &[&Child]) {
    let mut kill = std::process::Command::new("kill");
    kill.arg(format!("-{sig}"));
    for c in children {
        kill.arg(c.id().expect("a running child").to_string());
    }
    assert!(kill.status().unwrap().success(), "kill -{sig}");
}

/// Month starts from 2024-01-01 through the current month's: the boundaries of a monthly
/// subscription started on 2024-01-01.
fn expected_boundaries() -> Vec<String> {
    let today = jiff::tz::TimeZone::UTC
        .to_datetime(jiff::Timestamp::now())
        .date();
    let mut out = Vec::new();
    let mut d = jiff::civil::date(2024, 1, 1);
    while d <= today {
        out.push(format!("{d}T00:00:00.000000Z"));
        d = d.checked_add(jiff::Span::new().months(1)).unwrap();
    }
    out
}

async fn killed_mid_billing_run_bills_each_period_once(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        return;
    };
    // Set up with the scheduler idle (its first round runs at start, before any subscription).
    let (setup, base) = serve(&db.url, 3_600_000).await;
    let client = Client {
        http: reqwest::Client::new(),
        base: base.clone(),
    };
    let customer = client
        .post("/customers", json!({"name": "Acme", "currency": "USD"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let product = client
        .post(
            "/products",
            json!({"name": "Seats", "fee_type": "fixed", "payment_terms": "advance",
                   "billing_frequency": "recurring"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut subs = Vec::new();
    for _ in 0..SUBSCRIPTIONS {
        let s = client
            .post(
                "/subscriptions",
                json!({"customer_id": customer, "auto_activate": true,
                       "contract": {"start_date": "2024-01-01", "period_type": "monthly_rolling"},
                       "billing": {"auto_issue_invoices": false},
                       "items": [{"product_id": product, "price": {
                           "type": "fixed", "fee_type": "fixed", "billing_direction": "advance",
                           "billing_frequency": "recurring", "billing_interval": "monthly",
                           "fixed_pricing_model": {"price_per_unit": "10.00", "units": 1}}}]}),
            )
            .await;
        subs.push(s["id"].as_str().unwrap().to_string());
    }
    crate::cli::stop(setup).await;
    let expected = expected_boundaries();
    let total = (SUBSCRIPTIONS * expected.len()) as i64;

    // Two servers bill at once; one is killed mid-run. They start together: started one after
    // the other, the first could bill the whole run alone while the second started on a loaded
    // machine. Then they run in slices of a few milliseconds and are stopped (SIGSTOP) to count,
    // so the count is the state at the kill: counting over HTTP while they ran let a slow answer
    // miss the whole run.
    let ((a, _), (mut b, _)) = tokio::join!(serve(&db.url, 10), serve(&db.url, 10));
    let probe = db.connect().await;
    let deadline = Instant::now() + Duration::from_secs(120);
    let before_kill = loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
        signal("STOP", &[&a, &b]);
        let n = count_rows(&probe, "invoices").await;
        if n >= total / 4 {
            break n;
        }
        assert!(Instant::now() < deadline, "billing made no progress");
        signal("CONT", &[&a, &b]);
    };
    assert!(
        before_kill < total,
        "the kill came before the run ended ({before_kill} of {total} periods billed)"
    );
    let _ = b.start_kill();
    let _ = b.wait().await;
    signal("CONT", &[&a]);
    let (b, b_addr) = serve(&db.url, 10).await;
    let client = Client {
        http: reqwest::Client::new(),
        base: b_addr.clone(),
    };
    loop {
        let n = client.invoice_count().await;
        assert!(n <= total, "{n} invoices for {total} periods");
        if n == total {
            break;
        }
        assert!(Instant::now() < deadline, "stuck at {n} of {total}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more rounds on both servers change nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(client.invoice_count().await, total);
    for s in &subs {
        let page = client
            .get(&format!("/invoices?subscription_id={s}&limit=100"))
            .await;
        // List items carry no invoicing date: read each invoice.
        let mut boundaries = Vec::new();
        for item in page["data"].as_array().unwrap() {
            let inv = client
                .get(&format!("/invoices/{}", item["id"].as_str().unwrap()))
                .await;
            assert_eq!(inv["total"], "10.00");
            boundaries.push(inv["invoicing_date"].as_str().unwrap().to_string());
        }
        boundaries.sort();
        assert_eq!(boundaries, expected, "subscription {s}");
    }
    probe.close().await;
    crate::cli::stop(a).await;
    crate::cli::stop(b).await;
}
