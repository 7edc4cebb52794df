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
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".into(),
            bootstrap_api_key: None,
            max_body_bytes: 1_048_576,
        }
    }
}
