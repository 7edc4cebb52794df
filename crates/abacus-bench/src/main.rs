//! Benchmarks that print figures. They start a real `abacus` server (the release binary next to
//! this one) over a fresh database and drive it over HTTP.
//!
//! ```text
//! cargo build --release -p abacus-server -p abacus-bench
//! target/release/abacus-bench ingest --backend sqlite --events 2000000
//! ABACUS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1/postgres target/release/abacus-bench ingest --backend postgres
//! target/release/abacus-bench usage --backend sqlite --events 10000000
//! ```

mod load;
mod server;

use abacus_store::Backend;
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "abacus-bench",
    about = "Abacus benchmarks: throughput, latency and memory, printed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Sqlite,
    Postgres,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Sqlite => Backend::Sqlite,
            BackendArg::Postgres => Backend::Postgres,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Ingestion over HTTP: unique events in batches of 100 from many connections, then the same
    /// number of events stored straight through the store (the ceiling).
    Ingest {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 2_000_000)]
        events: u64,
        #[arg(long, default_value_t = 32)]
        connections: usize,
        #[arg(long, default_value_t = 1_000)]
        customers: usize,
        /// Also measure the direct store path.
        #[arg(long, default_value_t = true)]
        ceiling: bool,
    },
    /// Usage-query latency (one customer, one metric, one calendar month) over a database holding
    /// `events` events.
    Usage {
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BackendArg,
        #[arg(long, default_value_t = 10_000)]
        events: u64,
        #[arg(long, default_value_t = 1_000)]
        customers: usize,
        #[arg(long, default_value_t = 2_000)]
        queries: usize,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match cli.command {
            Command::Ingest {
                backend,
                events,
                connections,
                customers,
                ceiling,
            } => load::ingest(backend.into(), events, connections, customers, ceiling).await,
            Command::Usage {
                backend,
                events,
                customers,
                queries,
            } => load::usage(backend.into(), events, customers, queries).await,
        }
    })
}
