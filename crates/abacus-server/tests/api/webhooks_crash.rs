//! At-least-once delivery across a crash: `abacus serve` is killed (SIGKILL) while a receiver
//! holds a delivery open; after a restart on the same database every message is delivered, the
//! interrupted one again with the same `webhook-id`.

use std::process::Stdio;
use std::time::Duration;

use abacus_store::testing::TestDb;
use abacus_store::{Backend, on_both_backends};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::webhook_support::{Receiver, Reply};

on_both_backends!(killed_mid_delivery_resumes_after_restart);

const KEY: &str = "ak_whcrash.0123456789abcdefABCDEF";

/// `abacus serve` with fast webhook settings: 2 s timeout, delays divided by 10 (so a claim's
/// lease ends 5 s after it was taken).
async fn serve(url: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_abacus"))
        .arg("serve")
        .env("ABACUS_DATABASE_URL", url)
        .env("ABACUS_LISTEN", "127.0.0.1:0")
        .env("ABACUS_BOOTSTRAP_API_KEY", KEY)
        .env("ABACUS_WEBHOOKS_ALLOW_PRIVATE", "true")
        .env("ABACUS_WEBHOOKS_POLL_MS", "20")
        .env("ABACUS_WEBHOOKS_TIMEOUT_SECS", "2")
        .env("ABACUS_WEBHOOKS_TIME_DIVISOR", "10")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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

async fn killed_mid_delivery_resumes_after_restart(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        return;
    };
    let http = reqwest::Client::new();
    // The first request is held open until the server dies; every later one succeeds.
    let rx = Receiver::start(|n| {
        if n == 0 {
            Reply::Hang
        } else {
            Reply::Status(200)
        }
    })
    .await;
    let (mut child, base) = serve(&db.url).await;
    let post = |path: String, body: Value| {
        http.post(format!("{base}{path}"))
            .bearer_auth(KEY)
            .json(&body)
            .send()
    };
    let r = post("/webhook-endpoints".into(), json!({"url": rx.url}))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let endpoint = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut sent = Vec::new();
    for _ in 0..3 {
        let r = post(format!("/webhook-endpoints/{endpoint}/test"), json!({}))
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        sent.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let first = rx.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        first[0].header("webhook-id"),
        sent[0],
        "the oldest goes first"
    );
    // Mid-delivery: the receiver holds the first request.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().await.expect("SIGKILL");
    assert_eq!(rx.captured().len(), 1, "nothing else went out");

    let (child, base) = serve(&db.url).await;
    let got = rx.wait_for(4, Duration::from_secs(30)).await;
    let ids: Vec<&str> = got.iter().map(|c| c.header("webhook-id")).collect();
    assert_eq!(
        ids[1], sent[0],
        "the interrupted message again, with its webhook-id"
    );
    for id in &sent {
        assert!(ids.contains(&id.as_str()), "{id} delivered");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let m: Value = http
                .get(format!("{base}/webhook-endpoints/{endpoint}/messages/{id}"))
                .bearer_auth(KEY)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if m["status"] == "succeeded" {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{m}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.captured().len(), 4, "one repeat, no more");
    crate::cli::stop(child).await;
}
