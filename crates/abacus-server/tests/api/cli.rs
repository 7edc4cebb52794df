//! The `abacus` binary: `migrate`, `api-keys create|list|revoke`, and `serve` with its first-start
//! key, its bootstrap key and a graceful stop on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use abacus_store::testing::TestDb;
use abacus_store::{Backend, on_both_backends};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

on_both_backends!(
    migrate_and_manage_keys,
    serve_bootstraps_and_stops_gracefully,
    import_is_exactly_once
);

const BIN: &str = env!("CARGO_BIN_EXE_abacus");

async fn abacus(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("ABACUS_DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("abacus runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn find_key(text: &str) -> Option<String> {
    text.split_whitespace()
        .find(|w| w.starts_with("ak_") && w.contains('.'))
        .map(str::to_string)
}

async fn migrate_and_manage_keys(backend: Backend) {
    let Some(db) = TestDb::fresh(backend).await else {
        return;
    };
    let (ok, out) = abacus(&db.url, &["migrate"]).await;
    assert!(ok, "{out}");
    assert!(out.contains("up to date"), "{out}");

    let (ok, out) = abacus(&db.url, &["api-keys", "create"]).await;
    assert!(!ok, "no organization yet: {out}");
    assert!(out.contains("--new-org"), "{out}");

    let (ok, out) = abacus(
        &db.url,
        &["api-keys", "create", "--new-org", "Acme", "--name", "ci"],
    )
    .await;
    assert!(ok, "{out}");
    let key = find_key(&out).expect("the key is printed");
    let key_id = key.split_once('.').unwrap().0.to_string();

    let (ok, out) = abacus(&db.url, &["api-keys", "create", "--name", "second"]).await;
    assert!(ok, "the only organization is the default: {out}");

    let (ok, out) = abacus(&db.url, &["api-keys", "list"]).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(&key_id) && out.contains("never") && out.contains("active"),
        "{out}"
    );
    assert!(
        !out.contains(key.split_once('.').unwrap().1),
        "secrets are never listed: {out}"
    );

    let (ok, out) = abacus(&db.url, &["api-keys", "revoke", &key_id]).await;
    assert!(ok, "{out}");
    let (_, out) = abacus(&db.url, &["api-keys", "list"]).await;
    assert!(out.contains("revoked"), "{out}");
    let (ok, out) = abacus(&db.url, &["api-keys", "revoke", "ak_nonexistent"]).await;
    assert!(!ok, "{out}");
}

/// Starts `abacus serve` on a free port and returns the child, its address and what it printed
/// before listening.
pub async fn serve_with_key(url: &str, bootstrap: Option<&str>) -> (Child, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env("ABACUS_DATABASE_URL", url)
        .env("ABACUS_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .env_remove("ABACUS_BOOTSTRAP_API_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(key) = bootstrap {
        cmd.env("ABACUS_BOOTSTRAP_API_KEY", key);
    }
    let mut child = cmd.spawn().expect("abacus serve starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = String::new();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            printed.push_str(&line);
            printed.push('\n');
            if let Some(addr) = line.strip_prefix("Abacus is listening on ") {
                return addr.trim().to_string();
            }
        }
        panic!("abacus serve exited before listening: {printed}");
    })
    .await
    .expect("abacus serve listens within 30 s");
    (child, addr, printed)
}

pub async fn stop(mut child: Child) {
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("stops within 10 s")
        .unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");
}

async fn serve_bootstraps_and_stops_gracefully(backend: Backend) {
    let http = reqwest::Client::new();
    // First start on an empty database: a key is generated and printed once.
    let Some(db) = TestDb::fresh(backend).await else {
        return;
    };
    let (child, addr, printed) = serve_with_key(&db.url, None).await;
    let key = find_key(&printed).expect("first start prints a key");
    let r = http
        .get(format!("{addr}/accounts"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let health = http.get(format!("{addr}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Revoking the key from the CLI takes effect on the running server.
    let (ok, out) = abacus(
        &db.url,
        &["api-keys", "revoke", key.split_once('.').unwrap().0],
    )
    .await;
    assert!(ok, "{out}");
    let r = http
        .get(format!("{addr}/accounts"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    stop(child).await;

    // A second start prints no key.
    let (child, _, printed) = serve_with_key(&db.url, None).await;
    assert_eq!(find_key(&printed), None, "{printed}");
    stop(child).await;

    // A fresh database with ABACUS_BOOTSTRAP_API_KEY uses that key and prints none.
    let Some(db) = TestDb::fresh(backend).await else {
        return;
    };
    let chosen = "ak_scripted.0123456789abcdefABCDEF";
    let (child, addr, printed) = serve_with_key(&db.url, Some(chosen)).await;
    assert_eq!(find_key(&printed), None, "{printed}");
    let r = http
        .get(format!("{addr}/accounts"))
        .bearer_auth(chosen)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Events acknowledged just before the stop are settled by it: the next start finds no tail.
    let events: Vec<_> = (0..50)
        .map(|i| serde_json::json!({"unique_id": format!("stop-{i}"), "account": "nobody-yet", "event_name": "call"}))
        .collect();
    let r = http
        .post(format!("{addr}/events"))
        .bearer_auth(chosen)
        .header("Alguna-Version", "2026-04-01")
        .json(&serde_json::json!({ "events": events }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    stop(child).await;
    let store = db.connect().await;
    let mut c = store.read().await.unwrap();
    assert_eq!(abacus_store::tail::pending(&mut c).await.unwrap(), 0);
    drop(c);
    store.close().await;
}

async fn import_is_exactly_once(backend: Backend) {
    use serde_json::json;
    let Some(app) = crate::harness::TestApp::spawn(backend).await else {
        return;
    };
    app.customer("Acme", &["acme"]).await;
    let calls = app.metric(json!({"name": "Calls", "event_name": "call", "aggregation": {"method": "sum", "field": "n"}})).await;
    let dir = std::env::temp_dir().join(format!("abacus-import-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut ndjson = String::new();
    for i in 0..2500 {
        let account = if i % 500 == 0 { "later" } else { "acme" };
        ndjson.push_str(&format!(
            "{{\"unique_id\":\"n{i}\",\"account\":\"{account}\",\"event_name\":\"call\",\"timestamp\":\"2026-11-02T10:00:00Z\",\"properties\":{{\"n\":\"0.5\"}}}}\n"
        ));
    }
    ndjson.push_str("{\"unique_id\":\"n0\",\"account\":\"acme\",\"event_name\":\"call\"}\n");
    ndjson.push_str("this is not json\n\n");
    ndjson.push_str("{\"uniqueId\":\"camel\",\"accountId\":\"acme\",\"eventName\":\"call\",\"timestamp\":\"2026-11-02T10:00:00Z\",\"properties\":{\"n\":1}}\n");
    let file = dir.join("events.ndjson");
    std::fs::write(&file, ndjson).unwrap();
    let args = ["events", "import", file.to_str().unwrap(), "--batch", "700"];
    let (ok, out) = abacus(&app.db_url, &args).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("2503 records, 2496 ingested, 1 duplicates, 5 unmatched"),
        "{out}"
    );
    assert!(out.contains("1 failed"), "{out}");
    let failures = std::fs::read_to_string(dir.join("events.ndjson.failures.ndjson")).unwrap();
    assert_eq!(failures.lines().count(), 6, "{failures}");
    assert!(
        failures.contains("malformed_line") && failures.contains("unknown_account"),
        "{failures}"
    );
    let (from, to) = ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z");
    assert_eq!(app.usage("acme", &calls, from, to).await, "1248.5");

    // Again: everything is a duplicate, nothing counts twice.
    let (ok, out) = abacus(&app.db_url, &args).await;
    assert!(ok, "{out}");
    assert!(out.contains("0 ingested, 2502 duplicates"), "{out}");
    assert_eq!(app.usage("acme", &calls, from, to).await, "1248.5");

    // CSV with a properties column; the unmatched events count once their customer appears.
    let csv = "unique_id,account,event_name,timestamp,properties\n\
               c1,acme,call,2026-11-03T00:00:00Z,\"{\"\"n\"\": 2}\"\n\
               c2,acme,call,2026-11-03T00:00:00Z,\n\
               c3,acme,call,2026-11-03T00:00:00Z,{broken\n";
    let csv_file = dir.join("events.csv");
    std::fs::write(&csv_file, csv).unwrap();
    let (ok, out) = abacus(
        &app.db_url,
        &["events", "import", csv_file.to_str().unwrap()],
    )
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("3 records, 2 ingested, 0 duplicates, 0 unmatched (kept until the account exists), 1 failed"), "{out}");
    app.customer("Later", &["later"]).await;
    assert_eq!(app.usage("later", &calls, from, to).await, "2.5");
    assert_eq!(app.usage("acme", &calls, from, to).await, "1250.5");
    let _ = std::fs::remove_dir_all(dir);
}
