//! Webhook delivery: the worker inside `abacus serve` that claims due messages from the database,
//! signs and POSTs them, and records each attempt. The design is in `docs/webhooks.md`.

pub mod guard;
pub mod sign;

use std::sync::Arc;
use std::time::{Duration, Instant};

use abacus_core::time::{Micros, now_micros};
use abacus_store::Db;
use abacus_store::webhooks::{self, AfterFailure, AttemptOutcome, Claimed};
use rand::RngExt;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::ServeConfig;

/// Delays before each attempt of the Standard Webhooks schedule: immediately, 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 10 h. After the eighth attempt fails the message is failed.
pub const SCHEDULE_SECS: [u64; 8] = [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];
/// An endpoint whose deliveries have all failed for this long is disabled.
pub const DISABLE_AFTER_SECS: u64 = 5 * 86_400;
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;
/// Bytes of a response body read (the rest is dropped with the connection).
pub const MAX_RESPONSE_READ: usize = 64 * 1024;
/// Bytes of a response body kept in the attempt log.
pub const RESPONSE_EXCERPT: usize = 1024;
/// How long a claim outlives the request timeout before another worker may take the message over.
const LEASE_MARGIN_SECS: u64 = 30;

/// The delivery settings, from the server configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub allow_private: bool,
    pub timeout: Duration,
    /// Divides every schedule delay, `Retry-After` and the lease margin (tests).
    pub time_divisor: u32,
    pub disable_after: Duration,
    pub poll: Duration,
    pub concurrency: usize,
}

impl Settings {
    pub fn from_config(c: &ServeConfig) -> Self {
        Settings {
            allow_private: c.webhooks_allow_private,
            timeout: Duration::from_secs(c.webhooks_timeout_secs.max(1)),
            time_divisor: c.webhooks_time_divisor.max(1),
            disable_after: Duration::from_secs(c.webhooks_disable_after_secs),
            poll: Duration::from_millis(c.webhooks_poll_ms.max(10)),
            concurrency: c.webhooks_concurrency.max(1),
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        d / self.time_divisor
    }

    /// How long a claimed endpoint stays leased.
    pub fn lease(&self) -> Duration {
        self.timeout
            + self
                .scaled(Duration::from_secs(LEASE_MARGIN_SECS))
                .max(Duration::from_secs(1))
    }

    /// When the attempt at `step` (0-based) of the schedule is due after a failure at `now`, or
    /// `None` when the schedule is exhausted. The delay gets ±10 % jitter, and is lengthened to
    /// the receiver's `Retry-After` (at most a day).
    pub fn next_attempt(
        &self,
        step: usize,
        retry_after: Option<Duration>,
        now: Micros,
    ) -> Option<Micros> {
        let base = Duration::from_secs(*SCHEDULE_SECS.get(step)?);
        let jitter = rand::rng().random_range(0.9..1.1);
        let mut delay = base.mul_f64(jitter);
        if let Some(ra) = retry_after {
            delay = delay.max(ra.min(Duration::from_secs(MAX_RETRY_AFTER_SECS)));
        }
        let delay = self.scaled(delay);
        Some(now + delay.as_micros() as Micros)
    }
}

/// The HTTP client of deliveries: no redirects, no proxy, the guarded resolver, the timeout.
pub fn client(settings: &Settings) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
        .dns_resolver(Arc::new(guard::GuardedResolver {
            allow_private: settings.allow_private,
        }))
        .user_agent(concat!("Abacus-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the webhook HTTP client builds")
}

/// The result of one attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub outcome: AttemptOutcome,
    pub retry_after: Option<Duration>,
}

/// Sends one attempt of a message: the stored body, signed with every current secret.
pub async fn attempt(
    http: &reqwest::Client,
    settings: &Settings,
    url: &str,
    msg_id: &str,
    secrets: &[String],
    body: &str,
) -> Attempt {
    let started_at = now_micros();
    let clock = Instant::now();
    let failed = |error: String| Attempt {
        outcome: AttemptOutcome {
            started_at,
            success: false,
            status_code: None,
            latency_ms: clock.elapsed().as_millis() as i64,
            response_body: None,
            error: Some(error),
        },
        retry_after: None,
    };
    if let Err(e) = guard::check_url(url, settings.allow_private) {
        return failed(format!("the endpoint URL {e}"));
    }
    let timestamp = started_at / 1_000_000;
    let signature = sign::signature_header(secrets, msg_id, timestamp, body.as_bytes());
    let request = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", msg_id)
        .header("webhook-timestamp", timestamp)
        .header("webhook-signature", &signature)
        .header("svix-id", msg_id)
        .header("svix-timestamp", timestamp)
        .header("svix-signature", &signature)
        .body(body.to_string());
    let exchange = async {
        let mut response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut read = Vec::new();
        while read.len() < MAX_RESPONSE_READ {
            match response.chunk().await? {
                Some(chunk) => read.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok::<_, reqwest::Error>((status, retry_after, read))
    };
    // The client's timeout covers the whole exchange; this one is a second fence.
    let result =
        match tokio::time::timeout(settings.timeout + Duration::from_secs(1), exchange).await {
            Ok(r) => r,
            Err(_) => {
                return failed(format!(
                    "no response within {} s",
                    settings.timeout.as_secs()
                ));
            }
        };
    match result {
        Ok((status, retry_after, read)) => Attempt {
            outcome: AttemptOutcome {
                started_at,
                success: status.is_success(),
                status_code: Some(status.as_u16() as i32),
                latency_ms: clock.elapsed().as_millis() as i64,
                response_body: Some(excerpt(&read)),
                error: (!status.is_success()).then(|| {
                    if status.is_redirection() {
                        format!("HTTP {status}: redirects are not followed")
                    } else {
                        format!("HTTP {status}")
                    }
                }),
            },
            retry_after,
        },
        Err(e) => failed(describe(&e)),
    }
}

/// The start of a response body as text (at most [`RESPONSE_EXCERPT`] bytes, cut at a character).
fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(RESPONSE_EXCERPT * 2)]);
    let mut end = text.len().min(RESPONSE_EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// An error with its causes (reqwest's own message hides the interesting part).
fn describe(e: &reqwest::Error) -> String {
    let mut out = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "connection failed".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// `Retry-After` as seconds or an HTTP date.
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = jiff::fmt::rfc2822::parse(v)
        .ok()
        .map(|z| z.timestamp().as_microsecond())
        .or_else(|| {
            jiff::fmt::rfc2822::DateTimeParser::new()
                .parse_timestamp(v)
                .ok()
                .map(|t| t.as_microsecond())
        })?;
    let delta = at - now_micros();
    Some(Duration::from_micros(delta.max(0) as u64))
}

/// The running delivery worker.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Starts delivering. `wake` lets this process's handlers start a round at once.
    pub fn start(db: Db, settings: Settings, wake: Arc<Notify>) -> Worker {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(db, Arc::new(settings), wake, stopped));
        Worker { stop, task }
    }

    /// Stops claiming, lets deliveries in flight finish (each within its timeout), and returns.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(
    db: Db,
    settings: Arc<Settings>,
    wake: Arc<Notify>,
    mut stopped: watch::Receiver<bool>,
) {
    let http = client(&settings);
    let slots = Arc::new(Semaphore::new(settings.concurrency));
    let done = Arc::new(Notify::new());
    let mut inflight = JoinSet::new();
    loop {
        while inflight.try_join_next().is_some() {}
        if *stopped.borrow() {
            break;
        }
        let free = slots.available_permits();
        let mut claimed = Vec::new();
        if free > 0 {
            match claim(&db, &settings, free).await {
                Ok(c) => claimed = c,
                Err(e) => tracing::warn!(error = %e, "claiming webhook deliveries failed"),
            }
        }
        let busy = !claimed.is_empty();
        for c in claimed {
            let permit = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (db, settings, http, done) =
                (db.clone(), settings.clone(), http.clone(), done.clone());
            inflight.spawn(async move {
                deliver(&db, &settings, &http, c).await;
                drop(permit);
                done.notify_one();
            });
        }
        if busy {
            // More may be due already (the next message of a busy endpoint, a full batch).
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.poll) => {}
            _ = wake.notified() => {}
            _ = done.notified() => {}
            _ = stopped.changed() => {}
        }
    }
    // Deliveries in flight end within their timeout; their results are recorded.
    while inflight.join_next().await.is_some() {}
}

async fn claim(
    db: &Db,
    settings: &Settings,
    free: usize,
) -> abacus_store::StoreResult<Vec<Claimed>> {
    let now = now_micros();
    {
        let mut conn = db.read().await?;
        if !webhooks::has_due(&mut conn, now).await? {
            return Ok(Vec::new());
        }
    }
    let lease_until = now + settings.lease().as_micros() as Micros;
    let mut tx = db.begin().await?;
    let claimed = webhooks::claim_due(&mut tx, now, lease_until, free as i64).await?;
    tx.commit().await?;
    Ok(claimed)
}

async fn deliver(db: &Db, settings: &Settings, http: &reqwest::Client, c: Claimed) {
    let started = now_micros();
    let secrets = c.endpoint.signing_secrets(started);
    let result = attempt(
        http,
        settings,
        &c.endpoint.url,
        &c.message.id,
        &secrets,
        &c.message.payload,
    )
    .await;
    let now = now_micros();
    let after = AfterFailure {
        next_attempt_at: settings.next_attempt(
            c.message.step as usize + 1,
            result.retry_after,
            now,
        ),
        disable_if_failing_since: now - settings.disable_after.as_micros() as Micros,
    };
    // A failure to record leaves the lease to expire: the message is then attempted again.
    let recorded = async {
        let mut tx = db.begin().await?;
        let r = webhooks::record_attempt(&mut tx, &c, &result.outcome, after, now).await?;
        tx.commit().await?;
        Ok::<_, abacus_store::StoreError>(r)
    }
    .await;
    match recorded {
        Ok(Some(r)) => {
            tracing::info!(
                message_id = %c.message.id, endpoint_id = %c.endpoint.id,
                success = result.outcome.success, status = ?result.outcome.status_code,
                error = ?result.outcome.error, next = ?r.status, "webhook attempt"
            );
            if r.endpoint_disabled {
                tracing::warn!(endpoint_id = %c.endpoint.id, "webhook endpoint disabled after failing too long");
            }
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, message_id = %c.message.id, "recording a webhook attempt failed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(divisor: u32) -> Settings {
        Settings {
            allow_private: false,
            timeout: Duration::from_secs(15),
            time_divisor: divisor,
            disable_after: Duration::from_secs(DISABLE_AFTER_SECS),
            poll: Duration::from_millis(500),
            concurrency: 4,
        }
    }

    #[test]
    fn schedule_with_jitter_and_retry_after() {
        let s = settings(1);
        for (step, secs) in SCHEDULE_SECS.iter().enumerate() {
            let at = s.next_attempt(step, None, 0).unwrap();
            let expected = *secs as f64 * 1e6;
            assert!(
                (at as f64) >= expected * 0.9 - 1.0 && (at as f64) <= expected * 1.1 + 1.0,
                "{step}: {at}"
            );
        }
        assert_eq!(s.next_attempt(SCHEDULE_SECS.len(), None, 0), None);
        let at = s
            .next_attempt(1, Some(Duration::from_secs(120)), 0)
            .unwrap();
        assert_eq!(at, 120_000_000);
        let capped = s
            .next_attempt(1, Some(Duration::from_secs(10 * 86_400)), 0)
            .unwrap();
        assert_eq!(capped, 86_400_000_000);
        let fast = settings(1000).next_attempt(2, None, 0).unwrap();
        assert!((270_000..=330_000).contains(&fast), "{fast}");
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn the_https_client_builds_with_one_crypto_provider() {
        let _ = client(&settings(1));
    }

    #[test]
    fn excerpts_cut_at_characters() {
        let long = "é".repeat(2000);
        let e = excerpt(long.as_bytes());
        assert!(e.len() <= RESPONSE_EXCERPT && e.chars().all(|c| c == 'é'));
    }
}
