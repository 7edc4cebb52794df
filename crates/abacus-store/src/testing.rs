//! Fresh, throw-away databases for tests.
//!
//! SQLite: a file in a new temporary directory. PostgreSQL: a new database on the server named by
//! `ABACUS_TEST_POSTGRES_URL`, dropped when the [`TestDb`] is dropped. Without that variable the
//! PostgreSQL half of a test is skipped, unless `ABACUS_REQUIRE_POSTGRES=1` (set by CI) makes the
//! absence an error.

use std::path::PathBuf;

use crate::db::{Backend, Db, DbOptions};

pub const POSTGRES_URL_VAR: &str = "ABACUS_TEST_POSTGRES_URL";

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDb {
    /// A new empty database of `backend`, or `None` when PostgreSQL is not configured.
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("abacus-test-{tag}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}", dir.join("abacus.db").display());
                Some(TestDb {
                    backend,
                    url,
                    cleanup: Cleanup::Dir(dir),
                })
            }
            Backend::Postgres => {
                let admin_url = match std::env::var(POSTGRES_URL_VAR) {
                    Ok(u) if !u.is_empty() => u,
                    _ => {
                        if std::env::var("ABACUS_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                            panic!("ABACUS_REQUIRE_POSTGRES=1 but {POSTGRES_URL_VAR} is not set");
                        }
                        eprintln!("skipped on PostgreSQL: {POSTGRES_URL_VAR} is not set");
                        return None;
                    }
                };
                let name = format!("abacus_t_{tag}");
                let admin = Db::connect(&admin_url, &DbOptions { max_connections: 2 })
                    .await
                    .expect("admin connection");
                if let Db::Postgres(pool) = &admin {
                    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .execute(pool)
                        .await
                        .expect("create test database");
                }
                admin.close().await;
                let url = with_database(&admin_url, &name);
                Some(TestDb {
                    backend,
                    url,
                    cleanup: Cleanup::Postgres { admin_url, name },
                })
            }
        }
    }

    /// Connects to the database (without migrating it).
    pub async fn connect(&self) -> Db {
        Db::connect(&self.url, &DbOptions { max_connections: 4 })
            .await
            .expect("connect to test database")
    }

    /// Connects and applies the migrations.
    pub async fn migrated(&self) -> Db {
        let db = self.connect().await;
        db.migrate().await.expect("migrate test database");
        db
    }
}

/// How many rows `table` holds, read straight from the database: a test can count while the
/// servers using it are stopped.
pub async fn count_rows(db: &Db, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match db {
        Db::Sqlite { read, .. } => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(read)
                .await
        }
        Db::Postgres(pool) => {
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
        }
    }
    .expect("count rows")
}

/// `postgres://u@h:5432/db?x=y` with its database replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop may run inside a runtime, which cannot block on another; use a thread.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(async {
                        if let Ok(Db::Postgres(pool)) =
                            Db::connect(&admin_url, &DbOptions { max_connections: 2 }).await
                        {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            )))
                            .execute(&pool)
                            .await;
                            pool.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

/// Declares each named `async fn name(backend: Backend)` as two tests, `name::sqlite` and
/// `name::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database_name() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres", "t1"),
            "postgres://u@h:5432/t1"
        );
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "t1"),
            "postgres://u@h/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "t1"), "postgres://h/t1");
    }
}
