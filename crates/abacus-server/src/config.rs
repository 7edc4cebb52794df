//! Server configuration: flags, each with an `ABACUS_*` environment variable.

use clap::Args;

pub const DEFAULT_DATABASE_URL: &str = "sqlite://./abacus-data/abacus.db";

#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://PATH` (file and directory created when missing) or `postgres://...`.
    #[arg(long, env = "ABACUS_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
    /// Maximum database connections (readers on SQLite, all connections on PostgreSQL).
    #[arg(
        long,
        env = "ABACUS_DB_MAX_CONNECTIONS",
        default_value_t = 16,
        global = true
    )]
    pub db_max_connections: u32,
}

#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address the API listens on.
    #[arg(long, env = "ABACUS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// `<key_id>.<secret>` key created with the first organization when the database has none.
    /// Without it, the first start generates a key and prints it once.
    #[arg(long, env = "ABACUS_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "ABACUS_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,
    /// Let webhook endpoints use plain `http` and loopback, private and link-local addresses
    /// (development and tests only).
    #[arg(long, env = "ABACUS_WEBHOOKS_ALLOW_PRIVATE", default_value_t = false,
          action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub webhooks_allow_private: bool,
    /// Seconds a webhook receiver has to answer one delivery.
    #[arg(long, env = "ABACUS_WEBHOOKS_TIMEOUT_SECS", default_value_t = 15)]
    pub webhooks_timeout_secs: u64,
    /// Divides every webhook delay (retry schedule, Retry-After, leases, the 5-day disabling
    /// window): 1 in production; tests use large values so a whole schedule runs in seconds.
    #[arg(
        long,
        env = "ABACUS_WEBHOOKS_TIME_DIVISOR",
        default_value_t = 1,
        hide = true
    )]
    pub webhooks_time_divisor: u32,
    /// An endpoint whose deliveries have all failed for this many seconds is disabled (5 days).
    #[arg(
        long,
        env = "ABACUS_WEBHOOKS_DISABLE_AFTER_SECS",
        default_value_t = 432_000,
        hide = true
    )]
    pub webhooks_disable_after_secs: u64,
    /// How often the webhook worker looks for due deliveries, in milliseconds.
    #[arg(long, env = "ABACUS_WEBHOOKS_POLL_MS", default_value_t = 500)]
    pub webhooks_poll_ms: u64,
    /// Webhook deliveries in flight at once (each to a different endpoint).
    #[arg(long, env = "ABACUS_WEBHOOKS_CONCURRENCY", default_value_t = 16)]
    pub webhooks_concurrency: usize,
    /// How often the subscription sweep sends `subscription.started` and `subscription.canceled`
    /// for starts and ends that have passed, in milliseconds. Readers see the status at once.
    #[arg(
        long,
        env = "ABACUS_SUBSCRIPTIONS_SWEEP_POLL_MS",
        default_value_t = 10_000
    )]
    pub subscriptions_sweep_poll_ms: u64,
    /// How often issued invoices past their due date are recorded as overdue (and
    /// `invoice.overdue` sent), in milliseconds. Readers see them overdue at once regardless.
    #[arg(
        long,
        env = "ABACUS_INVOICES_OVERDUE_POLL_MS",
        default_value_t = 60_000
    )]
    pub invoices_overdue_poll_ms: u64,
    /// How often the billing scheduler looks for period boundaries that have passed, in
    /// milliseconds.
    #[arg(long, env = "ABACUS_BILLING_POLL_MS", default_value_t = 5_000)]
    pub billing_poll_ms: u64,
    /// Seconds a period's invoice stays a draft after its boundary, recomputed as late usage
    /// arrives, before it is finalized (and issued with `auto_issue_invoices`).
    #[arg(long, env = "ABACUS_BILLING_GRACE_SECS", default_value_t = 3_600)]
    pub billing_grace_secs: u64,
    /// How often a draft in its grace period is recomputed, in seconds.
    #[arg(long, env = "ABACUS_BILLING_DRAFT_REFRESH_SECS", default_value_t = 60)]
    pub billing_draft_refresh_secs: u64,
    /// Subscriptions the scheduler invoices per transaction.
    #[arg(long, env = "ABACUS_BILLING_BATCH", default_value_t = 100)]
    pub billing_batch: i64,
    /// Billing transactions running side by side in a round on PostgreSQL (SQLite: always one).
    #[arg(long, env = "ABACUS_BILLING_WORKERS", default_value_t = 4)]
    pub billing_workers: usize,
    /// SQLite: unsettled events at which the writer has a settling pass prepared beside it
    /// (`abacus_store::tail`). Longer means fewer, larger passes.
    #[arg(long, env = "ABACUS_SQLITE_SETTLE_EVENTS", default_value_t = abacus_store::tail::TAIL)]
    pub sqlite_settle_events: i64,
}

impl ServeConfig {
    /// The billing scheduler's settings.
    pub fn billing(&self) -> crate::services::billing::Settings {
        let secs = |s: u64| i64::try_from(s.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
        crate::services::billing::Settings {
            grace: secs(self.billing_grace_secs),
            refresh_every: secs(self.billing_draft_refresh_secs.max(1)),
            batch: self.billing_batch.max(1),
            workers: self.billing_workers.max(1),
            ..Default::default()
        }
    }
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            bootstrap_api_key: None,
            max_body_bytes: 1_048_576,
            webhooks_allow_private: false,
            webhooks_timeout_secs: 15,
            webhooks_time_divisor: 1,
            webhooks_disable_after_secs: 432_000,
            webhooks_poll_ms: 500,
            webhooks_concurrency: 16,
            subscriptions_sweep_poll_ms: 10_000,
            invoices_overdue_poll_ms: 60_000,
            billing_poll_ms: 5_000,
            billing_grace_secs: 3_600,
            billing_draft_refresh_secs: 60,
            billing_batch: 100,
            billing_workers: 4,
            sqlite_settle_events: abacus_store::tail::TAIL,
        }
    }
}
