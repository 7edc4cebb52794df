//! A real server on a random port over a fresh database, and a small HTTP client for it.

use abacus_server::{App, AppState, ServeConfig};
use abacus_store::testing::TestDb;
use abacus_store::{Backend, DbOptions, orgs};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const V2: (&str, &str) = ("Alguna-Version", "2026-04-01");

pub struct TestApp {
    pub base: String,
    /// The key of the organization created at bootstrap.
    pub key: String,
    pub state: AppState,
    pub http: reqwest::Client,
    /// The database the server runs on, for tools that open it themselves.
    pub db_url: String,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    _db: TestDb,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document with this status, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{}",
            self.text
        );
        assert!(self.body["title"].is_string(), "{}", self.text);
        &self.body
    }

    /// The fields named by a problem document's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    /// Starts a server over a fresh database; `None` when the backend is not available.
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// [`TestApp::spawn`] with the configuration adjusted by `configure`.
    pub async fn spawn_with(
        backend: Backend,
        configure: impl FnOnce(&mut ServeConfig),
    ) -> Option<TestApp> {
        if std::env::var_os("RUST_LOG").is_some() {
            abacus_server::telemetry::init();
        }
        let db = TestDb::fresh(backend).await?;
        let key = abacus_server::auth::generate_key();
        let mut config = ServeConfig {
            bootstrap_api_key: Some(key.clone()),
            // The billing scheduler's first round is an hour after the start: tests bill by
            // calling `services::billing::run_once` at the instants they choose (or configure a
            // poll).
            billing_poll_ms: 3_600_000,
            // Likewise the overdue sweep (wall clock): at its default minute it could record
            // invoices of a test's simulated past as overdue, and touch their `updated_at`,
            // while a test longer than a minute compares them.
            invoices_overdue_poll_ms: 3_600_000,
            ..ServeConfig::default()
        };
        configure(&mut config);
        let app = App::build(&db.url, &DbOptions { max_connections: 4 }, config)
            .await
            .expect("server starts");
        let base = format!("http://{}", app.addr);
        let state = app.state.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .expect("server runs");
        });
        Some(TestApp {
            base,
            key,
            state,
            http: reqwest::Client::new(),
            db_url: db.url.clone(),
            shutdown: Some(tx),
            server: Some(server),
            _db: db,
        })
    }

    /// A new organization and a key for it.
    pub async fn new_tenant(&self) -> String {
        let org = orgs::Organization {
            id: orgs::new_id(),
            name: "Tenant".into(),
            time_zone: "UTC".into(),
            created_at: abacus_core::time::now_micros(),
        };
        let mut tx = self.state.db.begin().await.unwrap();
        orgs::insert(&mut tx, &org).await.unwrap();
        let (_, key) = abacus_server::auth::create_key(&mut tx, &org.id, "test", None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        key
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with this app's key.
    pub fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(&self.key)
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let r = rb.send().await.expect("request sent");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            text,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(self.req(Method::GET, path)).await
    }

    pub async fn get_v2(&self, path: &str) -> Resp {
        self.send(self.req(Method::GET, path).header(V2.0, V2.1))
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::POST, path).json(body)).await
    }

    pub async fn post_v2(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::POST, path).header(V2.0, V2.1).json(body))
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::PATCH, path).json(body)).await
    }

    pub async fn patch_v2(&self, path: &str, body: &Value) -> Resp {
        self.send(self.req(Method::PATCH, path).header(V2.0, V2.1).json(body))
            .await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send(self.req(Method::DELETE, path)).await
    }

    /// Creates a minimal v2 customer and returns its JSON.
    pub async fn customer(&self, name: &str, aliases: &[&str]) -> Value {
        let r = self
            .post_v2(
                "/customers",
                &serde_json::json!({"name": name, "currency": "USD", "aliases": aliases}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        r.body
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A JSON fixture from `tests/fixtures`.
pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub fn is_short_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 8 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// RFC 3339 in UTC with exactly six fractional digits.
pub fn is_micros_timestamp(v: &Value) -> bool {
    let Some(s) = v.as_str() else { return false };
    let b = s.as_bytes();
    b.len() == 27
        && b[26] == b'Z'
        && b[19] == b'.'
        && b[20..26].iter().all(u8::is_ascii_digit)
        && s.parse::<jiff::Timestamp>().is_ok()
}
