//! A webhook receiver for tests: an HTTP server on a random loopback port that records every
//! request and answers each as its plan says, and a server configured for fast deliveries.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use abacus_server::ServeConfig;
use abacus_store::Backend;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::harness::TestApp;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with `Retry-After: secs`.
    RetryAfter(u16, u64),
    /// A status with a body of this many bytes.
    Big(u16, usize),
    /// A redirect elsewhere.
    Redirect(String),
    /// Answers 200 after this long.
    Slow(Duration),
    /// Never answers.
    Hang,
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Captured {
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Captured {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

type Plan = Arc<dyn Fn(usize) -> Reply + Send + Sync>;

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    captured: Arc<Mutex<Vec<Captured>>>,
    plan: Arc<Mutex<Plan>>,
    /// Requests being answered right now, and the most at once.
    concurrency: Arc<Mutex<(usize, usize)>>,
}

impl Receiver {
    /// A receiver answering the n-th request (0-based) with `plan(n)`.
    pub async fn start(plan: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        let r = Receiver {
            url,
            captured: Arc::default(),
            plan: Arc::new(Mutex::new(Arc::new(plan))),
            concurrency: Arc::default(),
        };
        let state = r.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move { state.handle(headers, body).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        r
    }

    /// A receiver that always answers 200.
    pub async fn ok() -> Receiver {
        Self::start(|_| Reply::Status(200)).await
    }

    pub fn set_plan(&self, plan: impl Fn(usize) -> Reply + Send + Sync + 'static) {
        *self.plan.lock().unwrap() = Arc::new(plan);
    }

    async fn handle(&self, headers: HeaderMap, body: Bytes) -> Response {
        let n = {
            let mut c = self.captured.lock().unwrap();
            c.push(Captured {
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
                at: Instant::now(),
            });
            c.len() - 1
        };
        {
            let mut k = self.concurrency.lock().unwrap();
            k.0 += 1;
            k.1 = k.1.max(k.0);
        }
        let reply = (self.plan.lock().unwrap().clone())(n);
        let response = match reply {
            Reply::Status(s) => (StatusCode::from_u16(s).unwrap(), "ok").into_response(),
            Reply::RetryAfter(s, secs) => (
                StatusCode::from_u16(s).unwrap(),
                [("retry-after", secs.to_string())],
                "later",
            )
                .into_response(),
            Reply::Big(s, len) => {
                (StatusCode::from_u16(s).unwrap(), "x".repeat(len)).into_response()
            }
            Reply::Redirect(to) => (StatusCode::FOUND, [("location", to)], "moved").into_response(),
            Reply::Slow(d) => {
                tokio::time::sleep(d).await;
                (StatusCode::OK, "slow ok").into_response()
            }
            Reply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                StatusCode::OK.into_response()
            }
        };
        self.concurrency.lock().unwrap().0 -= 1;
        response
    }

    pub fn captured(&self) -> Vec<Captured> {
        self.captured.lock().unwrap().clone()
    }

    pub fn max_concurrency(&self) -> usize {
        self.concurrency.lock().unwrap().1
    }

    /// Waits until at least `n` requests arrived (panics after `within`), and returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Captured> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.captured();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} webhook requests within {within:?}, got {}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The settings of webhook tests: private addresses allowed, fast polling, a short timeout, and
/// every delay divided by `divisor` (10,000 runs the whole retry schedule in about ten seconds).
pub fn fast(divisor: u32) -> impl FnOnce(&mut ServeConfig) {
    move |c| {
        c.webhooks_allow_private = true;
        c.webhooks_poll_ms = 20;
        c.webhooks_timeout_secs = 2;
        c.webhooks_time_divisor = divisor;
    }
}

/// A server for webhook tests.
pub async fn app(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(backend, fast(10_000)).await
}

/// Creates an endpoint and returns its JSON (with the secret).
pub async fn endpoint(app: &TestApp, url: &str, types: Option<&[&str]>) -> Value {
    let mut body = json!({ "url": url, "description": "test receiver" });
    if let Some(t) = types {
        body["event_types"] = json!(t);
    }
    let r = app.post("/webhook-endpoints", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

/// Polls a message until its status is `status`.
pub async fn wait_status(
    app: &TestApp,
    endpoint: &str,
    msg: &str,
    status: &str,
    within: Duration,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let r = app
            .get(&format!("/webhook-endpoints/{endpoint}/messages/{msg}"))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        if r.body["status"] == status {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "message {msg} is not {status}: {}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Verifies a captured request against `secret` with the independent `standardwebhooks` crate.
pub fn verify(secret: &str, c: &Captured) -> Result<(), String> {
    let wh = standardwebhooks::Webhook::new(secret).map_err(|e| e.to_string())?;
    wh.verify(c.body.as_bytes(), &c.headers)
        .map_err(|e| e.to_string())
}

/// The organization of the app's key.
pub async fn org_of(app: &TestApp) -> String {
    let key_id = app.key.split_once('.').unwrap().0;
    let mut c = app.state.db.read().await.unwrap();
    abacus_store::api_keys::list(&mut c, None)
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.id == key_id)
        .unwrap()
        .org_id
}
