//! Pools, connections and transactions over the two backends.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};

use crate::error::{StoreError, StoreResult};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Rows per multi-row statement on the hot paths (a few hundred parameters, well under SQLite's
/// limit; large enough that statement overhead is small).
pub const STATEMENT_ROWS: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Connections for readers (and, on PostgreSQL, writers too).
    pub max_connections: u32,
}

impl Default for DbOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
        }
    }
}

/// The database. On SQLite there is one writer connection (SQLite serialises writers anyway;
/// queueing them in the pool is fairer and cheaper than busy-waiting on the file lock) and a pool
/// of readers, which WAL mode lets run beside the writer.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite { read: SqlitePool, write: SqlitePool },
    Postgres(PgPool),
}

impl Db {
    /// Connects to `url` (`sqlite://path`, `sqlite:path`, `postgres://...`). A SQLite file and
    /// its directory are created when missing.
    pub async fn connect(url: &str, opts: &DbOptions) -> StoreResult<Db> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad SQLite URL '{url}': {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(sqlite_synchronous()?)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("temp_store", "memory")
                .pragma("wal_autocheckpoint", "10000");
            let file = options.get_filename();
            if file.as_os_str().is_empty() || file == Path::new(":memory:") {
                return Err(StoreError::Config(
                    "an in-memory SQLite database cannot be shared by the server's connections; name a file"
                        .into(),
                ));
            }
            if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!(
                        "cannot create the directory {}: {e}",
                        dir.display()
                    ))
                })?;
            }
            // Page caches: the writer's holds the pages ingestion appends to and the rollups;
            // readers touch few. 16 MiB ingests 2 million events as fast as 40 or 64 MiB did once
            // the per-customer index moved out of the commit path (migration 0010), and keeps the
            // server further under 200 MB (README, Performance). A reader's cache is 2 MiB: there
            // are up to 16 of them, and at 8 MiB each the readers of a busy server held 190 MiB
            // between them; the OS page cache holds the file either way. 24 cached statements:
            // multi-row inserts of every batch size are distinct statements.
            let cache = |mib: u32| format!("-{}", mib * 1024);
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                // A file connection cannot go stale; a ping before every transaction was a
                // round trip through the connection's thread on the ingestion hot path.
                .test_before_acquire(false)
                .after_connect(|conn, _| {
                    Box::pin(async move { crate::sqlite_decimal::register(conn).await })
                })
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(
                    options
                        .clone()
                        .pragma("cache_size", cache(16))
                        .statement_cache_capacity(24),
                )
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options.read_only(true).pragma("cache_size", cache(2)))
                .await?;
            Ok(Db::Sqlite { read, write })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?;
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections.max(2))
                .after_connect(|_, _| {
                    Box::pin(async {
                        crate::tcp_nodelay::apply();
                        Ok(())
                    })
                })
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL '{url}': use sqlite://PATH or postgres://..."
            )))
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite { .. } => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations. Safe to run from several processes at once on PostgreSQL
    /// (sqlx takes an advisory lock).
    pub async fn migrate(&self) -> StoreResult<()> {
        match self {
            Db::Sqlite { write, .. } => SQLITE_MIGRATIONS.run(write).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        let mut tx = self.begin().await?;
        crate::usage::build_daily(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A connection for reads.
    pub async fn read(&self) -> StoreResult<PooledConn> {
        Ok(match self {
            Db::Sqlite { read, .. } => PooledConn::Sqlite(read.acquire().await?),
            Db::Postgres(pool) => PooledConn::Postgres(pool.acquire().await?),
        })
    }

    /// A write transaction. On SQLite it starts with `BEGIN IMMEDIATE` so it holds the write lock
    /// from the start and can never fail later on a lock upgrade.
    pub async fn begin(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite { write, .. } => Tx::Sqlite(write.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// A read-only transaction: every query in it sees one snapshot.
    pub async fn read_tx(&self) -> StoreResult<Tx> {
        Ok(match self {
            Db::Sqlite { read, .. } => Tx::Sqlite(read.begin().await?),
            Db::Postgres(pool) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Db::Postgres(pool) => pool.close().await,
        }
    }
}

/// `ABACUS_SQLITE_SYNCHRONOUS`: `full` (the default) makes every commit durable against power
/// loss; `normal` only against a crash of Abacus itself (WAL mode), for more write throughput.
fn sqlite_synchronous() -> StoreResult<SqliteSynchronous> {
    match std::env::var("ABACUS_SQLITE_SYNCHRONOUS").as_deref() {
        Err(_) | Ok("") | Ok("full") => Ok(SqliteSynchronous::Full),
        Ok("normal") => Ok(SqliteSynchronous::Normal),
        Ok(other) => Err(StoreError::Config(format!(
            "ABACUS_SQLITE_SYNCHRONOUS must be full or normal, not '{other}'"
        ))),
    }
}

/// A borrowed connection of either backend: what repository code runs its queries on.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

/// Anything repository functions can run on: a pooled read connection or a transaction.
pub trait Connection: Send {
    fn conn(&mut self) -> Conn<'_>;
}

pub enum PooledConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Connection for PooledConn {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Sqlite(c) => Conn::Sqlite(&mut *c),
            PooledConn::Postgres(c) => Conn::Postgres(&mut *c),
        }
    }
}

pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    pub async fn commit(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> StoreResult<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

impl Connection for Tx {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(&mut *t),
            Tx::Postgres(t) => Conn::Postgres(&mut *t),
        }
    }
}

/// A SQLite connection already matched out of a [`Conn`], for code that runs on SQLite only and
/// calls repository functions along the way.
impl Connection for &mut SqliteConnection {
    fn conn(&mut self) -> Conn<'_> {
        Conn::Sqlite(self)
    }
}

/// Runs `$body` with `$e` bound to the backend's connection (`&mut SqliteConnection` or
/// `&mut PgConnection`). The body is compiled once per backend, so each arm is type-checked
/// against its own driver. Use it for SQL text that both dialects accept.
#[macro_export]
macro_rules! on {
    ($c:expr, $e:ident => $body:expr) => {
        match $crate::db::Connection::conn($c) {
            $crate::db::Conn::Sqlite($e) => $body,
            $crate::db::Conn::Postgres($e) => $body,
        }
    };
}
