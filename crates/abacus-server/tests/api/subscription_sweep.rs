//! The subscription sweep: `subscription.started` when a contract reaches its start after the
//! activation, `subscription.canceled` when a service ends on its own (a scheduled cancellation, a
//! fixed term that does not renew), each exactly once however many sweeps run, on one server
//! (concurrent sweeps, as of days ahead) or on two servers sharing the database (in real time).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use abacus_core::time::{Micros, now_micros};
use abacus_server::services::subscription_sweep::{sweep, sweep_in_batches};
use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::harness::TestApp;
use crate::subscription_support::{Catalog, days_from_today, id, monthly};
use crate::subscription_webhooks::{Key, app, key, outbox};
use crate::webhook_support::{Receiver, endpoint};

on_both_backends!(
    the_sweep_sends_each_time_based_event_once,
    racing_sweeps_send_each_event_once,
    two_servers_end_each_subscription_once,
);

const DAY: Micros = 86_400_000_000;

/// An active subscription of `c`'s customer on a monthly-rolling contract from `start`.
async fn active(app: &TestApp, c: &Catalog, start: &str) -> String {
    id(&app.active(c, start, "10.00").await)
}

async fn cancel(app: &TestApp, sub: &str, effective: Option<&str>) -> Value {
    let mut body = json!({"reason": "pricing"});
    if let Some(e) = effective {
        body["effective"] = json!(e);
    }
    let r = app
        .post_v2(&format!("/subscriptions/{sub}/cancel"), &body)
        .await;
    assert_eq!(r.status, 200, "cancel {sub}: {}", r.text);
    r.body
}

/// The time-based events the outbox holds for the subscriptions of `subs`, as (type, id) counts.
fn time_based(bodies: &[Value]) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for b in bodies {
        let t = b["type"].as_str().unwrap();
        if t == "subscription.started" || t == "subscription.canceled" {
            *out.entry((t.to_string(), b["data"]["id"].as_str().unwrap().to_string()))
                .or_default() += 1;
        }
    }
    out
}

fn parse(bodies: &[String]) -> Vec<Value> {
    bodies
        .iter()
        .map(|b| serde_json::from_str(b).unwrap())
        .collect()
}

/// What [`sweep_flow`] did.
pub struct SweepFlow {
    /// The time-based events the sweep sent (type, subscription, status).
    pub expected: Vec<Key>,
    /// The outbox bodies of those events.
    pub bodies: Vec<String>,
}

/// Subscriptions that start and end in the coming days, swept as of later and later instants,
/// several sweeps at once each time.
pub async fn sweep_flow(app: &TestApp, c: &Catalog) -> SweepFlow {
    let rx = Receiver::ok().await;
    let ep = endpoint(
        app,
        &rx.url,
        Some(&["subscription.started", "subscription.canceled"]),
    )
    .await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let db = &app.state.db;
    let now = now_micros();

    // Starts in three days.
    let a = active(app, c, &days_from_today(3)).await;
    // Started five days ago (started at activation), its cancellation scheduled in ten days.
    let b = active(app, c, &days_from_today(-5)).await;
    cancel(app, &b, Some(&days_from_today(10))).await;
    // A one-month fixed term from twenty days ago that does not renew: ends on its own.
    let fixed = app
        .subscription(json!({
            "customer_id": c.customer,
            "contract": {"start_date": days_from_today(-20), "period_type": "fixed", "duration_months": 1},
            "items": [{"product_id": c.seats, "price": monthly("10.00")}],
            "auto_activate": true,
        }))
        .await;
    let fixed = id(&fixed);
    // Starts in three days, canceled as of that day: ends as it would start, so never starts.
    let d = active(app, c, &days_from_today(3)).await;
    cancel(app, &d, Some(&days_from_today(3))).await;
    // Starts in three days, canceled at once: canceled now (by the request), never starts.
    let e = active(app, c, &days_from_today(3)).await;
    cancel(app, &e, None).await;
    // A draft that would have started: nothing.
    app.subscription(
        json!({"customer_id": c.customer, "contract": {"start_date": days_from_today(-1)},
                            "items": [{"product_id": c.seats, "price": monthly("10.00")}]}),
    )
    .await;

    let events = |bodies: &[String]| time_based(&parse(bodies));
    let count = |m: &BTreeMap<(String, String), usize>, t: &str, s: &str| {
        m.get(&(t.to_string(), s.to_string())).copied().unwrap_or(0)
    };
    // Now: b and the fixed term started at activation, e was canceled by its request; nothing
    // is due.
    assert_eq!(sweep(db, now_micros()).await.unwrap(), 0);
    let m = events(&outbox(app, &ep).await);
    assert_eq!(m.len(), 3, "{m:?}");
    assert_eq!(count(&m, "subscription.started", &b), 1);
    assert_eq!(count(&m, "subscription.started", &fixed), 1);
    assert_eq!(count(&m, "subscription.canceled", &e), 1);

    // Four days on: a has started, d has ended (without starting). Four sweeps at once.
    let at = now + 4 * DAY;
    let sent: usize = futures::future::join_all((0..4).map(|_| sweep(db, at)))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    assert_eq!(sent, 2);
    // Forty days on: b's cancellation and the fixed term's end have passed.
    let at = now + 40 * DAY;
    let sent: usize = futures::future::join_all((0..4).map(|_| sweep_in_batches(db, at, 1)))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .sum();
    assert_eq!(sent, 2);
    // Much later, and again: nothing more.
    assert_eq!(sweep(db, now + 400 * DAY).await.unwrap(), 0);
    assert_eq!(sweep(db, now + 400 * DAY).await.unwrap(), 0);

    let bodies = outbox(app, &ep).await;
    let m = events(&bodies);
    let want: BTreeMap<(String, String), usize> = [
        ("subscription.started", &b),
        ("subscription.started", &fixed),
        ("subscription.started", &a),
        ("subscription.canceled", &e),
        ("subscription.canceled", &d),
        ("subscription.canceled", &b),
        ("subscription.canceled", &fixed),
    ]
    .into_iter()
    .map(|(t, s)| ((t.to_string(), s.clone()), 1))
    .collect();
    assert_eq!(m, want, "each time-based event exactly once");
    let parsed = parse(&bodies);
    // In the order the sweeps sent them: d's end (four days on) before b's (forty).
    let order: Vec<(String, String)> = parsed
        .iter()
        .map(|b| {
            (
                b["type"].as_str().unwrap().to_string(),
                b["data"]["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let pos = |t: &str, s: &str| order.iter().position(|x| x.0 == t && x.1 == s).unwrap();
    assert!(pos("subscription.canceled", &d) < pos("subscription.canceled", &b));

    // The bodies: a as it started, b as it ended at its cancellation date.
    let find = |t: &str, s: &str| {
        parsed
            .iter()
            .find(|b| b["type"] == t && b["data"]["id"] == s)
            .unwrap()
            .clone()
    };
    let started = find("subscription.started", &a);
    assert_eq!(started["data"]["status"], "active");
    assert_eq!(
        started["data"]["contractStartDate"],
        format!("{}T00:00:00.000000Z", days_from_today(3))
    );
    assert!(started["data"].get("endedAt").is_none());
    let ended = find("subscription.canceled", &b);
    assert_eq!(ended["data"]["status"], "canceled");
    assert_eq!(
        ended["data"]["endedAt"],
        format!("{}T00:00:00.000000Z", days_from_today(10))
    );
    let ended = find("subscription.canceled", &fixed);
    assert_eq!(ended["data"]["status"], "canceled");
    assert!(ended["data"]["contractEndDate"].is_string());

    // The sweep recorded the ends it sent: stored as canceled.
    for s in [&b, &d, &fixed] {
        let mut c = db.read().await.unwrap();
        let org = crate::webhook_support::org_of(app).await;
        let sub = abacus_store::subscriptions::get(&mut c, &org, s)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(sub.status.as_str(), "canceled", "{s}");
    }

    SweepFlow {
        expected: parsed.iter().map(key).collect(),
        bodies,
    }
}

async fn the_sweep_sends_each_time_based_event_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let c = app.catalog().await;
    let f = sweep_flow(&app, &c).await;
    assert_eq!(f.expected.len(), 7);
    assert_eq!(f.bodies.len(), 7);
}

/// Twelve subscriptions that start in two days and end in five, swept as of ten days on by six
/// sweeps at once, each claiming one subscription per transaction.
async fn racing_sweeps_send_each_event_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let c = app.catalog().await;
    let rx = Receiver::ok().await;
    let ep = endpoint(&app, &rx.url, None).await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let mut subs = Vec::new();
    for _ in 0..12 {
        let s = active(&app, &c, &days_from_today(2)).await;
        cancel(&app, &s, Some(&days_from_today(5))).await;
        subs.push(s);
    }
    let at = now_micros() + 10 * DAY;
    let db = app.state.db.clone();
    let runs: Vec<_> = (0..6)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { sweep_in_batches(&db, at, 1).await.unwrap() })
        })
        .collect();
    let mut sent = 0;
    for r in runs {
        sent += r.await.unwrap();
    }
    assert_eq!(sent, 24);
    assert_eq!(sweep(&db, at).await.unwrap(), 0);
    let m = time_based(&parse(&outbox(&app, &ep).await));
    let want: BTreeMap<(String, String), usize> = subs
        .iter()
        .flat_map(|s| {
            [
                (("subscription.started".to_string(), s.clone()), 1),
                (("subscription.canceled".to_string(), s.clone()), 1),
            ]
        })
        .collect();
    assert_eq!(m, want);
}

const KEY: &str = "ak_subsweep.0123456789abcdefABCDEF";

/// A second `abacus serve` on the database of `app`, sweeping subscriptions every 20 ms.
async fn second_server(url: &str) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .arg("serve")
        .env("ABACUS_DATABASE_URL", url)
        .env("ABACUS_LISTEN", "127.0.0.1:0")
        .env("ABACUS_BOOTSTRAP_API_KEY", KEY)
        .env("ABACUS_WEBHOOKS_ALLOW_PRIVATE", "true")
        .env("ABACUS_WEBHOOKS_POLL_MS", "20")
        .env("ABACUS_SUBSCRIPTIONS_SWEEP_POLL_MS", "20")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("abacus serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.starts_with("Abacus is listening on ") {
                return;
            }
        }
        panic!("abacus serve exited before listening");
    })
    .await
    .expect("abacus serve listens within 30 s");
    child
}

/// Two servers on one database, both sweeping every 20 ms: scheduled cancellations a few
/// seconds ahead each end their subscription with one `subscription.canceled`.
async fn two_servers_end_each_subscription_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut other = second_server(&app.db_url).await;
    let c = app.catalog().await;
    let rx = Receiver::ok().await;
    let ep = endpoint(&app, &rx.url, Some(&["subscription.canceled"])).await;
    let ep = ep["id"].as_str().unwrap().to_string();
    let soon = jiff::Timestamp::now() + jiff::SignedDuration::from_millis(3_000);
    let mut subs = Vec::new();
    for _ in 0..8 {
        let s = active(&app, &c, &days_from_today(-3)).await;
        let x = cancel(&app, &s, Some(&soon.to_string())).await;
        assert_eq!(x["status"], "active");
        subs.push(s);
    }
    let got = rx.wait_for(subs.len(), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let got = if rx.captured().len() > got.len() {
        rx.captured()
    } else {
        got
    };
    let delivered: Vec<Value> = got.iter().map(|c| c.json()).collect();
    let mut ids: Vec<String> = delivered
        .iter()
        .map(|b| {
            assert_eq!(b["type"], "subscription.canceled");
            assert_eq!(b["data"]["status"], "canceled");
            b["data"]["id"].as_str().unwrap().to_string()
        })
        .collect();
    ids.sort();
    let mut want = subs.clone();
    want.sort();
    assert_eq!(ids, want, "one subscription.canceled per subscription");
    assert_eq!(outbox(&app, &ep).await.len(), subs.len());
    other.kill().await.unwrap();
}
