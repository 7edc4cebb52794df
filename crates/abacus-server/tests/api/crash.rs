//! Crash safety: SIGKILL the server in the middle of concurrent ingestion, restart it, resend
//! every batch that was not acknowledged, and every acknowledged event is counted exactly once.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abacus_store::testing::TestDb;
use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};

use crate::cli::serve_with_key;
use crate::metering_support::ev;

on_both_backends!(killed_mid_ingestion_loses_nothing_and_counts_once);

const KEY: &str = "ak_crash.0123456789abcdefABCDEF";
const BATCHES: usize = 400;

fn batch(b: usize) -> Value {
    let events: Vec<Value> = (0..50)
        .map(|i| {
            ev(
                &format!("k{b}-{i}"),
                "acme",
                "call",
                "2026-11-02T10:00:00Z",
                json!({}),
            )
        })
        .collect();
    json!({ "events": events })
}

async fn count(http: &reqwest::Client, base: &str, metric: &str) -> u64 {
    let url = format!(
        "{base}/customers/acme/usage?metric_id={metric}&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z"
    );
    let v: Value = http
        .get(url)
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["value"].as_str().unwrap().parse().unwrap()
}

async fn killed_mid_ingestion_loses_nothing_and_counts_once(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        return;
    };
    let http = reqwest::Client::new();
    let (child, base, _) = serve_with_key(&db.url, Some(KEY)).await;
    let post = |path: &str, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(KEY)
            .header("Alguna-Version", "2026-04-01")
            .json(&body)
            .send()
    };
    assert_eq!(
        post(
            "/customers",
            json!({"name": "Acme", "currency": "USD", "aliases": ["acme"]})
        )
        .await
        .unwrap()
        .status(),
        201
    );
    let r = post(
        "/metrics",
        json!({"name": "Calls", "event_name": "call", "aggregation": {"method": "count"}}),
    )
    .await
    .unwrap();
    let metric = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    // 8 clients send batches until the server dies; a batch counts as acknowledged only when its
    // 200 answer arrived.
    let acked: Arc<Mutex<BTreeSet<usize>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (http, base, acked, next) =
                (http.clone(), base.clone(), acked.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let b = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if b >= BATCHES {
                        return;
                    }
                    let sent = http
                        .post(format!("{base}/events"))
                        .bearer_auth(KEY)
                        .header("Alguna-Version", "2026-04-01")
                        .json(&batch(b))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 200 => {
                            let v: Value = match r.json().await {
                                Ok(v) => v,
                                Err(_) => return,
                            };
                            assert_eq!(v["ingested"].as_array().unwrap().len(), 50);
                            acked.lock().unwrap().insert(b);
                        }
                        _ => return,
                    }
                }
            })
        })
        .collect();
    // Let some batches land, then kill -9.
    while acked.lock().unwrap().len() < 40 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    for c in clients {
        c.await.unwrap();
    }
    drop(child);
    let acknowledged = acked.lock().unwrap().clone();
    assert!(acknowledged.len() < BATCHES, "the kill landed mid-run");

    // Restart on the same database: every acknowledged event is there, each once.
    let (child, base, _) = serve_with_key(&db.url, Some(KEY)).await;
    let after_restart = count(&http, &base, &metric).await;
    assert!(
        after_restart >= acknowledged.len() as u64 * 50,
        "acknowledged events survive: {after_restart}"
    );
    assert_eq!(after_restart % 50, 0, "batches commit whole");

    // Resend everything not acknowledged (some of it may have committed unacknowledged).
    for b in (0..BATCHES).filter(|b| !acknowledged.contains(b)) {
        let r = http
            .post(format!("{base}/events"))
            .bearer_auth(KEY)
            .header("Alguna-Version", "2026-04-01")
            .json(&batch(b))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // And a few acknowledged ones again, for good measure.
    for b in acknowledged.iter().take(5) {
        http.post(format!("{base}/events"))
            .bearer_auth(KEY)
            .header("Alguna-Version", "2026-04-01")
            .json(&batch(*b))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        count(&http, &base, &metric).await,
        BATCHES as u64 * 50,
        "every event counted exactly once"
    );
    crate::cli::stop(child).await;
}
