//! A release `abacus serve` process over a fresh database, and its memory.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use abacus_store::Backend;
use abacus_store::testing::TestDb;
use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const KEY: &str = "ak_bench.0123456789abcdefghijABCDEFGHIJ";

pub struct Server {
    pub base: String,
    pub db: TestDb,
    child: Child,
}

fn binary() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me
        .parent()
        .context("the bench binary has a directory")?
        .join("abacus");
    if !path.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p abacus-server`",
            path.display()
        );
    }
    Ok(path)
}

impl Server {
    pub async fn start(backend: Backend) -> anyhow::Result<Server> {
        let db = TestDb::fresh(backend)
            .await
            .context("PostgreSQL needs ABACUS_TEST_POSTGRES_URL")?;
        Self::start_on(db).await
    }

    pub async fn start_on(db: TestDb) -> anyhow::Result<Server> {
        let mut child = Command::new(binary()?)
            .arg("serve")
            .env("ABACUS_DATABASE_URL", &db.url)
            .env("ABACUS_LISTEN", "127.0.0.1:0")
            .env("ABACUS_BOOTSTRAP_API_KEY", KEY)
            // ABACUS_BENCH_SERVER_LOG (a RUST_LOG filter) shows what the server does meanwhile.
            .env(
                "RUST_LOG",
                std::env::var("ABACUS_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let base = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix("Abacus is listening on ") {
                    return Ok(addr.trim().to_string());
                }
            }
            bail!("abacus serve exited before listening")
        })
        .await??;
        Ok(Server { base, db, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Peak resident memory of the server so far (VmHWM), in MiB.
    pub fn peak_rss_mib(&self) -> f64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    }

    pub async fn stop(mut self) -> TestDb {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.db
    }
}
